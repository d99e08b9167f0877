// SPDX-License-Identifier: MIT
#include <ctype.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "attach/elf_inspect.h"
#include "util/fileio.h"
#include "attach/procmaps.h"
#include "attach/targets.h"

static const char *path_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

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

bool target_python_version_from_path(const char *path, char *out, size_t outlen)
{
	const char *b = path_basename(path), *p = b;

	while ((p = strstr(p, "python")) != NULL) {
		const char *q = p + 6;
		int major = 0, minor = 0, n = 0;

		if (sscanf(q, "%d.%d%n", &major, &minor, &n) == 2 && n > 0 && major >= 2 &&
		    major < 10) {
			/* "3.13t": the free-threaded build's ABI flag, as in
			 * libpython3.13t.so and python3.13t */
			snprintf(out, outlen, "%d.%d%s", major, minor, q[n] == 't' ? "t" : "");
			return true;
		}
		p = q;
	}
	return false;
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

bool target_is_python_object(const char *host_path)
{
	struct elf_file *ef = elf_file__open(host_path);
	struct elf_func f;
	bool yes;

	if (!ef)
		return false;
	yes = elf_file__find_func(ef, "PyObject_Malloc", &f) == 0;
	elf_file__close(ef);
	return yes;
}

static bool is_libc_name(const char *base)
{
	return strcmp(base, "libc.so.6") == 0 || strncmp(base, "libc-2.", 7) == 0 ||
	       strncmp(base, "libc.musl-", 10) == 0 || strncmp(base, "ld-musl-", 8) == 0;
}

static bool may_be_python_name(const char *base)
{
	return strncmp(base, "libpython", 9) == 0 || strncmp(base, "python", 6) == 0;
}

/* Find the cgroup v2 mount point once (cgroup2 may be at /sys/fs/cgroup or
 * at /sys/fs/cgroup/unified next to v1 controllers). */
static const char *cgroup2_root(void)
{
	static char root[PATH_MAX];
	static bool done;
	char line[4096];
	FILE *f;

	if (done)
		return root[0] ? root : NULL;
	done = true;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		/* ... mountpoint ... - fstype source opts */
		char mnt[PATH_MAX], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
			snprintf(root, sizeof(root), "%s", mnt);
			break;
		}
	}
	fclose(f);
	return root[0] ? root : NULL;
}

uint64_t target_cgroup_id(pid_t pid)
{
	char p[64], line[PATH_MAX + 32], dir[PATH_MAX * 2];
	const char *root = cgroup2_root();
	uint64_t id = 0;
	struct stat st;
	FILE *f;

	if (!root)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
	f = fopen(p, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			if (snprintf(dir, sizeof(dir), "%s%s", root, line + 3) < (int)sizeof(dir) &&
			    stat(dir, &st) == 0)
				id = st.st_ino;
			break;
		}
	}
	fclose(f);
	return id;
}

static void read_comm_ppid(pid_t pid, struct target_proc *tp)
{
	char p[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* pid (comm) state ppid ...; comm may hold spaces and parentheses */
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r || r < l)
		return;
	snprintf(tp->comm, sizeof(tp->comm), "%.*s", (int)(r - l - 1), l + 1);
	int ppid = 0;
	if (sscanf(r + 1, " %*c %d", &ppid) == 1)
		tp->ppid = ppid;
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

static void fill_binary(struct target_binary *b, pid_t pid, const char *path)
{
	fill_binary_want(b, pid, path, NULL);
}

/*
 * A binary a process maps. When the file at its path is no longer the one
 * mapped (a package upgrade renamed a new file over it, or deleted it), a
 * uprobe on the path would land on the new file, which the process never
 * runs: probe the mapped file itself through /proc/PID/map_files, which
 * names that inode whatever happened to the path (and whatever a container
 * did to its directories since).
 */
static void fill_mapped_binary(struct target_binary *b, pid_t pid, const struct maps_entry *m)
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
	fill_binary(b, pid, m->path);
}

int target_proc__inspect(pid_t pid, struct target_proc *tp)
{
	char exe[PATH_MAX];
	size_t exelen;
	struct maps_entry *m = NULL;
	size_t n = 0;
	char p[64];
	ssize_t len;
	int err;

	memset(tp, 0, sizeof(*tp));
	tp->pid = pid;
	err = procmaps__read(pid, &m, &n);
	if (err)
		return err;
	read_comm_ppid(pid, tp);
	snprintf(p, sizeof(p), "/proc/%d/exe", pid);
	len = readlink(p, tp->exe, sizeof(tp->exe) - 1);
	if (len > 0)
		tp->exe[len] = '\0';
	tp->cgroup_id = target_cgroup_id(pid);
	/* a replaced executable reads "/path (deleted)" here, "/path" in maps */
	snprintf(exe, sizeof(exe), "%s", tp->exe);
	exelen = strlen(exe);
	if (exelen > 10 && strcmp(exe + exelen - 10, " (deleted)") == 0)
		exe[exelen - 10] = '\0';

	for (size_t i = 0; i < n; i++) {
		const char *path = m[i].path, *base = path_basename(path);

		if (path[0] != '/' || m[i].perms[2] != 'x')
			continue;
		if (!tp->has_libc && is_libc_name(base)) {
			fill_mapped_binary(&tp->libc, pid, &m[i]);
			tp->has_libc = true;
		}
		if (!tp->has_python && (may_be_python_name(base) || strcmp(path, exe) == 0)) {
			struct target_binary b;

			fill_mapped_binary(&b, pid, &m[i]);
			if (target_is_python_object(b.host_path)) {
				tp->python = b;
				tp->has_python = true;
				if (!target_python_version_from_path(path, tp->python_version,
								     sizeof(tp->python_version)))
					target_python_version_from_path(tp->exe, tp->python_version,
									sizeof(tp->python_version));
			}
		}
	}
	free(m);
	return 0;
}

int target_find_in_path(const char *name, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/')) {
		if (access(name, X_OK))
			return -errno;
		snprintf(out, outlen, "%s", name);
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t dl = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(dl ? dl : 1), dl ? path : ".", name);
		if (access(buf, X_OK) == 0) {
			struct stat st;

			if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
				snprintf(out, outlen, "%s", buf);
				return 0;
			}
		}
		path += dl;
		if (*path == ':')
			path++;
	}
	return -ENOENT;
}

/* If `file` starts with "#!", put the interpreter it names in interp
 * (resolving "/usr/bin/env NAME" through PATH). 1 if it did, 0 if the file
 * is no script, -errno. */
static int script_interpreter(const char *file, char *interp, size_t len)
{
	char line[512], first[256] = "", second[256] = "";
	FILE *f = fopen(file, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	if (n < 2 || line[0] != '#' || line[1] != '!')
		return 0;
	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line + 2, " %255s %255s", first, second) < 1)
		return -ENOEXEC;
	if (strcmp(path_basename(first), "env") == 0 && second[0] && second[0] != '-')
		return target_find_in_path(second, interp, len) ? -ENOENT : 1;
	snprintf(interp, len, "%s", first);
	return 1;
}

/* Ask the dynamic loader which libraries exe loads, and note the Python
 * object and libc among them. */
static int loaded_objects(const char *exe, struct target_command *tc)
{
	int pipefd[2], status;
	char line[PATH_MAX + 128];
	pid_t pid;
	FILE *f;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pipefd[1], STDOUT_FILENO);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		setenv("LD_TRACE_LOADED_OBJECTS", "1", 1);
		execl(exe, exe, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	if (!f) {
		close(pipefd[0]);
		waitpid(pid, &status, 0);
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		/* "\tlibpython3.11.so.1.0 => /path/libpython3.11.so.1.0 (0x...)" */
		char *arrow = strstr(line, "=> "), path[PATH_MAX];

		if (!arrow || sscanf(arrow + 3, "%4095s", path) != 1 || path[0] != '/')
			continue;
		const char *base = path_basename(path);
		if (!tc->has_libc && is_libc_name(base)) {
			fill_binary(&tc->libc, 0, path);
			tc->has_libc = true;
		} else if (!tc->has_python && may_be_python_name(base) &&
			   target_is_python_object(path)) {
			fill_binary(&tc->python, 0, path);
			tc->has_python = true;
			target_python_version_from_path(path, tc->python_version,
							sizeof(tc->python_version));
		}
	}
	fclose(f);
	waitpid(pid, &status, 0);
	return 0;
}

int target_command__resolve(const char *argv0, struct target_command *tc, char *err, size_t errlen)
{
	char file[PATH_MAX], interp[PATH_MAX];
	struct elf_file *ef;
	int ret, depth;

	memset(tc, 0, sizeof(*tc));
	if (target_find_in_path(argv0, file, sizeof(file))) {
		snprintf(err, errlen, "%s: command not found", argv0);
		return -ENOENT;
	}
	for (depth = 0; depth < 4; depth++) {
		ret = script_interpreter(file, interp, sizeof(interp));
		if (ret < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", file, strerror(-ret));
			return ret;
		}
		if (ret == 0)
			break;
		snprintf(file, sizeof(file), "%s", interp);
	}
	if (!realpath(file, tc->exe))
		snprintf(tc->exe, sizeof(tc->exe), "%s", file);
	ef = elf_file__open(tc->exe);
	if (!ef) {
		snprintf(err, errlen, "%s: not an ELF executable", tc->exe);
		return -ENOEXEC;
	}
	struct elf_func f;
	if (elf_file__find_func(ef, "PyObject_Malloc", &f) == 0) {
		fill_binary(&tc->python, 0, tc->exe);
		tc->has_python = true;
		target_python_version_from_path(tc->exe, tc->python_version,
						sizeof(tc->python_version));
	}
	bool dynamic = elf_file__has_interp(ef);
	elf_file__close(ef);
	if (dynamic) {
		ret = loaded_objects(tc->exe, tc);
		if (ret) {
			snprintf(err, errlen, "%s: cannot list its libraries: %s", tc->exe,
				 strerror(-ret));
			return ret;
		}
	}
	if (tc->has_python && !tc->python_version[0])
		target_python_version_from_path(tc->exe, tc->python_version,
						sizeof(tc->python_version));
	return 0;
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

/* Value of an environment variable of a process, or NULL. */
static char *proc_getenv(pid_t pid, const char *name, char *buf, size_t len)
{
	char p[64], *env = NULL;
	size_t n, nl = strlen(name);

	snprintf(p, sizeof(p), "/proc/%d/environ", pid);
	if (pm_read_file(p, 0, 1u << 20, &env, &n))
		return NULL;
	for (size_t i = 0; i < n; i += strlen(env + i) + 1)
		if (strncmp(env + i, name, nl) == 0 && env[i + nl] == '=') {
			snprintf(buf, len, "%s", env + i + nl + 1);
			free(env);
			return buf;
		}
	free(env);
	return NULL;
}

/* Find a library by soname the way the loader would, inside pid's root. */
static bool find_lib_in_root(pid_t pid, const char *exe, const char *soname,
			     struct target_binary *b)
{
	static const char *const dirs[] = {
	    "$ORIGIN/../lib",
	    "/usr/local/lib",
	    "/lib/x86_64-linux-gnu",
	    "/usr/lib/x86_64-linux-gnu",
	    "/lib64",
	    "/usr/lib64",
	    "/lib",
	    "/usr/lib",
	};
	char origin[PATH_MAX], cand[PATH_MAX * 2], real[PATH_MAX];

	snprintf(origin, sizeof(origin), "%s", exe);
	*strrchr(origin, '/') = '\0';
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (strncmp(dirs[i], "$ORIGIN", 7) == 0)
			snprintf(cand, sizeof(cand), "%s%s/%s", origin, dirs[i] + 7, soname);
		else
			snprintf(cand, sizeof(cand), "%s/%s", dirs[i], soname);
		if (target_resolve_in_root(pid, cand, real, sizeof(real)))
			continue;
		if (fill_binary_want(b, pid, real, NULL) == 0)
			return true;
	}
	return false;
}

int target_root__find_python(pid_t pid, struct target_command *tc)
{
	static const char *const names[] = {"python3", "python"};
	char path[4096], real[PATH_MAX];
	const char *needed[64];
	struct target_binary exe;
	struct stat st;

	memset(tc, 0, sizeof(*tc));
	if (!proc_getenv(pid, "PATH", path, sizeof(path)))
		snprintf(path, sizeof(path),
			 "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (size_t k = 0; k < 2 && !tc->exe[0]; k++) {
		for (const char *d = path; *d && !tc->exe[0];) {
			size_t dl = strcspn(d, ":");
			char cand[PATH_MAX];

			if (dl && d[0] == '/' &&
			    snprintf(cand, sizeof(cand), "%.*s/%s", (int)dl, d, names[k]) <
				(int)sizeof(cand) &&
			    target_resolve_in_root(pid, cand, real, sizeof(real)) == 0 &&
			    fill_binary_want(&exe, pid, real, NULL) == 0 &&
			    stat(exe.host_path, &st) == 0 && (st.st_mode & 0111))
				snprintf(tc->exe, sizeof(tc->exe), "%s", real);
			d += dl;
			if (*d == ':')
				d++;
		}
	}
	if (!tc->exe[0])
		return -ENOENT;

	struct elf_file *ef = elf_file__open(exe.host_path);
	if (!ef)
		return -ENOEXEC;
	struct elf_func f;
	if (elf_file__find_func(ef, "PyObject_Malloc", &f) == 0) {
		tc->python = exe;
		tc->has_python = true;
	}
	int n = elf_file__needed(ef, needed, 64);
	for (int i = 0; i < n && i < 64; i++) {
		struct target_binary b;

		if (!tc->has_python && strncmp(needed[i], "libpython", 9) == 0 &&
		    find_lib_in_root(pid, tc->exe, needed[i], &b) &&
		    target_is_python_object(b.host_path)) {
			tc->python = b;
			tc->has_python = true;
		} else if (!tc->has_libc && is_libc_name(needed[i]) &&
			   find_lib_in_root(pid, tc->exe, needed[i], &b)) {
			tc->libc = b;
			tc->has_libc = true;
		}
	}
	elf_file__close(ef);
	if (tc->has_python && !target_python_version_from_path(tc->python.path, tc->python_version,
							       sizeof(tc->python_version)))
		target_python_version_from_path(tc->exe, tc->python_version,
						sizeof(tc->python_version));
	return tc->has_python ? 0 : -ENOEXEC;
}
