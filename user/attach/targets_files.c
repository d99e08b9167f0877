// SPDX-License-Identifier: MIT
/*
 * A target's files as pymac opens them: inside its process's root
 * (openat2), kept open and named /proc/self/fd/N, and through overlayfs the
 * image layer's own file, which the kernel probes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "attach/targets_impl.h"
#include "util/fileio.h"

/*
 * Files of another process are opened inside its root with openat2(2): the
 * kernel resolves every symlink and ".." relative to that root, so a
 * container cannot name a host file by an absolute symlink, and the answer
 * cannot change between a check and a later open by another path.
 */
static int openat2_how(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = resolve};
	static bool said;
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS && !said) {
		said = true;
		fprintf(stderr, "pymac: this kernel has no openat2(2) (Linux 5.6+): files inside "
				"other processes' roots (containers) cannot be opened safely, so "
				"they are not read\n");
	}
	return -errno;
}

static int root_fd(pid_t pid)
{
	char p[64];
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/root", pid);
	fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

int target_open_in_root(pid_t pid, const char *path, int flags)
{
	int root = root_fd(pid), fd;

	if (root < 0)
		return root;
	fd = openat2_how(root, path, flags, IN_ROOT);
	close(root);
	return fd;
}

/*
 * Binaries of other processes are kept open for pymac's lifetime and named
 * /proc/self/fd/N: the ELF reader and the kernel's uprobe (which takes a
 * path) then see exactly the file that was checked. One fd per file.
 */
#define PINNED_MAX 1024
static struct {
	uint64_t dev, ino;
	int fd;
} pinned[PINNED_MAX];
static size_t npinned;

/* Takes fd (closed on error). 0 or -errno. */
static int pin_binary(struct target_binary *b, int fd)
{
	struct stat st;
	size_t i;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) ? -errno : -EINVAL;

		close(fd);
		return e;
	}
	for (i = 0; i < npinned; i++)
		if (pinned[i].dev == st.st_dev && pinned[i].ino == st.st_ino)
			break;
	if (i < npinned) {
		close(fd);
		fd = pinned[i].fd;
	} else if (npinned == PINNED_MAX) {
		close(fd);
		return -EMFILE;
	} else {
		pinned[npinned].dev = st.st_dev;
		pinned[npinned].ino = st.st_ino;
		pinned[npinned++].fd = fd;
	}
	snprintf(b->host_path, sizeof(b->host_path), "/proc/self/fd/%d", fd);
	b->dev = st.st_dev;
	b->ino = st.st_ino;
	return 0;
}

/*
 * A container's file as its overlay shows it (the overlay's device, the
 * file's inode) → the pinned layer file it resolved to. Containers start
 * processes all the time, and resolving reads two mount tables (the
 * container's and pymac's, long with many containers): remembered, each
 * container's file costs that once. A file the container rewrites (copied
 * up) has another inode and is resolved anew.
 */
static struct {
	uint64_t dev, ino; /* as seen through the container's root */
	size_t pin;	   /* index in pinned[] */
} aliases[PINNED_MAX];
static size_t naliases;

static bool alias_find(struct target_binary *b, const struct stat *seen)
{
	for (size_t i = 0; i < naliases; i++) {
		if (aliases[i].dev != seen->st_dev || aliases[i].ino != seen->st_ino)
			continue;
		snprintf(b->host_path, sizeof(b->host_path), "/proc/self/fd/%d",
			 pinned[aliases[i].pin].fd);
		b->dev = pinned[aliases[i].pin].dev;
		b->ino = pinned[aliases[i].pin].ino;
		return true;
	}
	return false;
}

static void alias_add(const struct target_binary *b, const struct stat *seen)
{
	if ((b->dev == seen->st_dev && b->ino == seen->st_ino) || naliases == PINNED_MAX)
		return; /* the file itself is pinned: nothing to remember */
	for (size_t i = 0; i < npinned; i++) {
		if (pinned[i].dev == b->dev && pinned[i].ino == b->ino) {
			aliases[naliases].dev = seen->st_dev;
			aliases[naliases].ino = seen->st_ino;
			aliases[naliases++].pin = i;
			return;
		}
	}
}

int target_binary__stat(struct target_binary *b)
{
	struct stat st;

	if (stat(b->host_path, &st))
		return -errno;
	b->dev = st.st_dev;
	b->ino = st.st_ino;
	return 0;
}

/* Undo the octal escapes (\040 for space, ...) of /proc mountinfo fields, in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* Is mnt a path prefix of path at a component boundary? */
static bool mount_covers(const char *mnt, const char *path)
{
	size_t l = strlen(mnt);

	if (strcmp(mnt, "/") == 0)
		return true;
	return strncmp(mnt, path, l) == 0 && (path[l] == '/' || path[l] == '\0');
}

/*
 * Look for rel under one overlay layer directory. The canonical path of a
 * file overlayfs shows crosses no symlink in the layer that holds it, so a
 * symlink on the way (one a container planted in its writable layer to
 * point at a host file) is refused, and nothing resolves above the layer.
 * 1: found, the file overlayfs shows (same inode number), *fd is it;
 * 0: not in this layer; -1: the layer hides it (whiteout) or holds
 * something else, so stop looking.
 */
static int overlay_layer_open(const char *dir, const char *rel, uint64_t want_ino, int *fd)
{
	struct stat st;
	int dfd, f;

	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	f = openat2_how(dfd, rel[0] == '/' ? rel + 1 : rel, O_PATH,
			RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			    RESOLVE_NO_XDEV);
	close(dfd);
	if (f == -ENOENT || f == -ENOTDIR)
		return 0;
	if (f < 0)
		return -1;
	if (fstat(f, &st) || !S_ISREG(st.st_mode) || st.st_ino != want_ino) {
		close(f);
		return -1;
	}
	*fd = f;
	return 1;
}

struct mount_line {
	char devno[32], root[PATH_MAX], mnt[PATH_MAX], fstype[64], opts[8192];
};

/* Split a mountinfo line: id parent maj:min root mountpoint opts [optional...]
 * - fstype source superopts. */
static bool parse_mount_line(const char *line, struct mount_line *ml)
{
	const char *sep = strstr(line, " - ");

	if (!sep || sscanf(line, "%*s %*s %31s %4095s %4095s", ml->devno, ml->root, ml->mnt) != 3 ||
	    sscanf(sep + 3, "%63s %*s %8191s", ml->fstype, ml->opts) != 2)
		return false;
	unescape_octal(ml->root);
	unescape_octal(ml->mnt);
	return true;
}

/*
 * The overlay options of the superblock devno as the host mounted it: the
 * layer paths in a container's own mountinfo are strings the mounter chose
 * (a privileged container can mount an overlay naming any "lowerdir"), so
 * only pymac's mount namespace is asked which host directories they are.
 */
static bool host_overlay_opts(const char *devno, char *opts, size_t len)
{
	char *text = NULL, *line, *save = NULL;
	struct mount_line *ml = malloc(sizeof(*ml));
	bool found = false;
	size_t n;

	if (!ml || pm_read_file("/proc/self/mountinfo", 0, 4u << 20, &text, &n)) {
		free(ml);
		return false;
	}
	for (line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save))
		if (parse_mount_line(line, ml) && strcmp(ml->fstype, "overlay") == 0 &&
		    strcmp(ml->devno, devno) == 0) {
			snprintf(opts, len, "%s", ml->opts);
			found = true;
		}
	free(text);
	free(ml);
	return found;
}

/*
 * Through overlayfs (every Docker/containerd/podman image), the kernel
 * places a uprobe on the file of the layer that holds it, which every
 * container sharing that layer maps. fstat() through the container's root
 * gives the overlay mount's device, different in each container, so find
 * the layer's own file: the longest mount covering the path, and if it is an
 * overlay the host mounted, its upperdir, then its lowerdirs in order. The
 * layer file must report the inode number overlayfs shows; if none does
 * (layers on several filesystems), *fd stays the file in the container's
 * root. On success *fd is replaced by the layer file.
 */
static void resolve_overlay(struct target_binary *b, pid_t pid, int *fd)
{
	char p[64], *text = NULL, *line, *save = NULL;
	struct mount_line *ml = malloc(sizeof(*ml)), *best = malloc(sizeof(*best));
	size_t len, best_len = 0;
	bool have = false;

	snprintf(p, sizeof(p), "/proc/%d/mountinfo", pid);
	if (!ml || !best)
		goto out;
	if (pm_read_file(p, 0, 4u << 20, &text, &len) == 0) {
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!parse_mount_line(line, ml) || !mount_covers(ml->mnt, b->path) ||
			    strlen(ml->mnt) < best_len)
				continue;
			/* a later mount on the same point stacks over an earlier one */
			best_len = strlen(ml->mnt);
			*best = *ml;
			have = true;
		}
	}
	if (!have) {
		/*
		 * The process ended between the open and now (a short one, like
		 * mv or sleep). Its root is most likely the overlay the file
		 * was opened on: take that mount, found by the file's device in
		 * pymac's own mount table. Unresolved, the file would be pinned
		 * and probed once more per container (its overlay device differs
		 * from the layer's), and every hit counted twice.
		 */
		struct stat st;

		if (fstat(*fd, &st))
			goto out;
		memset(best, 0, sizeof(*best));
		snprintf(best->devno, sizeof(best->devno), "%u:%u", major(st.st_dev),
			 minor(st.st_dev));
		snprintf(best->root, sizeof(best->root), "/");
		snprintf(best->mnt, sizeof(best->mnt), "/");
		snprintf(best->fstype, sizeof(best->fstype), "overlay");
		have = true;
	}
	if (!have || strcmp(best->fstype, "overlay") ||
	    !host_overlay_opts(best->devno, best->opts, sizeof(best->opts)))
		goto out;

	char rel[PATH_MAX];
	const char *tail = b->path + (strcmp(best->mnt, "/") == 0 ? 0 : strlen(best->mnt));
	if (snprintf(rel, sizeof(rel), "%s%s", strcmp(best->root, "/") == 0 ? "" : best->root,
		     tail) >= (int)sizeof(rel))
		goto out;

	/* upperdir first, then lowerdir=a:b:c or repeated lowerdir+=a, in order */
	char(*dirs)[PATH_MAX] = malloc(16 * PATH_MAX);
	int ndirs = 0, upper = -1;
	char *opt, *osave = NULL;
	if (!dirs)
		goto out;
	for (opt = strtok_r(best->opts, ",", &osave); opt && ndirs < 16;
	     opt = strtok_r(NULL, ",", &osave)) {
		if (strncmp(opt, "upperdir=", 9) == 0 && upper < 0) {
			upper = ndirs;
			snprintf(dirs[ndirs++], PATH_MAX, "%s", opt + 9);
		} else if (strncmp(opt, "lowerdir+=", 10) == 0) {
			snprintf(dirs[ndirs++], PATH_MAX, "%s", opt + 10);
		} else if (strncmp(opt, "lowerdir=", 9) == 0) {
			char *d, *dsave = NULL;

			for (d = strtok_r(opt + 9, ":", &dsave); d && ndirs < 16;
			     d = strtok_r(NULL, ":", &dsave))
				snprintf(dirs[ndirs++], PATH_MAX, "%s", d);
		}
	}
	if (upper > 0) {
		/* search the upper layer first */
		char tmp[PATH_MAX];

		memcpy(tmp, dirs[upper], PATH_MAX);
		memmove(dirs[1], dirs[0], (size_t)upper * PATH_MAX);
		memcpy(dirs[0], tmp, PATH_MAX);
	}
	for (int i = 0; i < ndirs; i++) {
		int lfd = -1, r;

		unescape_octal(dirs[i]);
		r = overlay_layer_open(dirs[i], rel, b->ino, &lfd);
		if (r == 1) {
			close(*fd);
			*fd = lfd;
		}
		if (r)
			break;
	}
	free(dirs);
out:
	free(text);
	free(ml);
	free(best);
}

/*
 * The file at path inside pid's root (pid 0: the host's own path, which
 * pymac's user named). want: the dev/ino the file must have, or NULL.
 * 0 or -errno; on error host_path is "" and nothing can open it.
 */
static int fill_binary_want(struct target_binary *b, pid_t pid, const char *path,
			    const struct stat *want)
{
	struct stat st;
	int fd, err;

	snprintf(b->path, sizeof(b->path), "%s", path);
	b->host_path[0] = '\0';
	b->dev = b->ino = 0;
	b->root_pid = pid > 0 ? pid : 0;
	if (pid <= 0) {
		snprintf(b->host_path, sizeof(b->host_path), "%s", path);
		return target_binary__stat(b);
	}
	fd = target_open_in_root(pid, path, O_PATH);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (want && (st.st_dev != want->st_dev || st.st_ino != want->st_ino))) {
		err = S_ISREG(st.st_mode) ? -ESTALE : -EINVAL;
		close(fd);
		return err;
	}
	b->dev = st.st_dev;
	b->ino = st.st_ino;
	if (alias_find(b, &st)) {
		close(fd);
		return 0;
	}
	resolve_overlay(b, pid, &fd);
	err = pin_binary(b, fd);
	if (err)
		b->host_path[0] = '\0';
	else
		alias_add(b, &st);
	return err;
}

int tg_fill_binary(struct target_binary *b, pid_t pid, const char *path)
{
	return fill_binary_want(b, pid, path, NULL);
}

/*
 * A binary a process maps. When the file at its path is no longer the one
 * mapped (a package upgrade renamed a new file over it, or deleted it), a
 * uprobe on the path would land on the new file, which the process never
 * runs: probe the mapped file itself through /proc/PID/map_files, which
 * names that inode whatever happened to the path (and whatever a container
 * did to its directories since).
 */
void tg_fill_mapped_binary(struct target_binary *b, pid_t pid, const struct maps_entry *m)
{
	struct stat want = {.st_dev = makedev(m->dev_major, m->dev_minor), .st_ino = m->inode};
	char link[128];
	int fd;

	if (!m->deleted && fill_binary_want(b, pid, m->path, &want) == 0)
		return;
	memset(b, 0, sizeof(*b));
	b->root_pid = pid;
	snprintf(b->path, sizeof(b->path), "%.4080s%s", m->path,
		 m->deleted ? " (deleted)" : " (replaced)");
	snprintf(link, sizeof(link), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, m->start,
		 m->end);
	fd = open(link, O_PATH | O_CLOEXEC);
	if (fd >= 0 && pin_binary(b, fd) == 0)
		return;
	/* no map_files (it needs CAP_SYS_ADMIN): the file at the path, if it is there */
	tg_fill_binary(b, pid, m->path);
}

int target_resolve_in_root(pid_t pid, const char *path, char *out, size_t outlen)
{
	char rest[PATH_MAX * 2], done[PATH_MAX] = "", name[NAME_MAX + 1];
	char link[PATH_MAX];
	int links = 0, root, err = 0;
	size_t pos = 0;

	if (path[0] != '/' || snprintf(rest, sizeof(rest), "%s", path) >= (int)sizeof(rest))
		return -EINVAL;
	root = root_fd(pid);
	if (root < 0)
		return root;
	while (rest[pos]) {
		size_t n;
		struct stat st;
		int dfd;

		while (rest[pos] == '/')
			pos++;
		n = strcspn(rest + pos, "/");
		if (n == 0)
			break;
		if (n == 1 && rest[pos] == '.') {
			pos += n;
			continue;
		}
		if (n == 2 && rest[pos] == '.' && rest[pos + 1] == '.') {
			/* ".." never climbs above the process's root */
			char *slash = strrchr(done, '/');

			if (slash)
				*slash = '\0';
			pos += n;
			continue;
		}
		if (n > NAME_MAX) {
			err = -ENAMETOOLONG;
			break;
		}
		memcpy(name, rest + pos, n);
		name[n] = '\0';
		/*
		 * Every step is taken from the directory reached so far, opened
		 * inside the root: a directory the container swaps for a
		 * symlink meanwhile still cannot lead out of it.
		 */
		dfd = openat2_how(root, done[0] ? done : "/", O_PATH | O_DIRECTORY, IN_ROOT);
		if (dfd < 0) {
			err = dfd;
			break;
		}
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			err = -errno;
			close(dfd);
			break;
		}
		pos += n;
		if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlinkat(dfd, name, link, sizeof(link) - 1);
			char next[PATH_MAX * 2];

			close(dfd);
			if (l < 0) {
				err = -errno;
				break;
			}
			if (++links > 40) {
				err = -ELOOP;
				break;
			}
			link[l] = '\0';
			if (snprintf(next, sizeof(next), "%s/%s", link, rest + pos) >=
			    (int)sizeof(next)) {
				err = -ENAMETOOLONG;
				break;
			}
			memcpy(rest, next, sizeof(rest));
			pos = 0;
			if (link[0] == '/')
				done[0] = '\0';
			continue;
		}
		close(dfd);
		if (strlen(done) + 1 + n >= sizeof(done)) {
			err = -ENAMETOOLONG;
			break;
		}
		strcat(done, "/");
		strcat(done, name);
	}
	close(root);
	if (err)
		return err;
	if (snprintf(out, outlen, "%s", done[0] ? done : "/") >= (int)outlen)
		return -ENAMETOOLONG;
	return 0;
}
