// SPDX-License-Identifier: MIT
/* Opening a file pymac writes, safely (see outfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "util/outfile.h"

#define LINK_HOPS_MAX 40 /* as the kernel's own limit */

uid_t pm_sudo_uid(void)
{
	const char *s = getenv("SUDO_UID");
	char *end;
	unsigned long v;

	if (!s || !*s || geteuid() != 0)
		return (uid_t)-1;
	errno = 0;
	v = strtoul(s, &end, 10);
	return errno || *end || v >= (uid_t)-1 ? (uid_t)-1 : (uid_t)v;
}

bool pm_sudo_owner(uid_t *uid, gid_t *gid)
{
	const char *s = getenv("SUDO_GID");
	char *end;
	unsigned long v;

	*uid = pm_sudo_uid();
	if (*uid == (uid_t)-1 || !s || !*s)
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= (gid_t)-1)
		return false;
	*gid = (gid_t)v;
	return true;
}

/* A file of the user's own: the euid's, or the user sudo ran pymac for. */
static bool users_own(uid_t uid)
{
	return uid == geteuid() || uid == pm_sudo_uid();
}

/* A link that may be followed on the way to the directory: root's (only
 * root can have made it) or the user's own. */
static bool trusted_link(uid_t uid)
{
	return uid == 0 || users_own(uid);
}

static const char *kind_name(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISLNK(m))
		return "a symbolic link";
	return "not a regular file";
}

/*
 * Walk dir one component at a time, never following a link that is not
 * trusted. A directory fd (O_PATH), or -errno with why.
 */
static int walk_dir(const char *path, const char *dir, char *why, size_t whylen)
{
	char *rest = malloc(2 * PATH_MAX), *target = malloc(PATH_MAX);
	int fd = -1, hops = 0, err = 0;
	size_t off = 0;

	if (!rest || !target) {
		err = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	snprintf(rest, 2 * PATH_MAX, "%s", dir);
	fd = open(rest[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	while (rest[off]) {
		size_t len = strcspn(rest + off, "/");
		char comp[NAME_MAX + 1];
		struct stat st;
		int nfd;

		if (len > NAME_MAX) {
			err = -ENAMETOOLONG;
			snprintf(why, whylen, "cannot write %s: %s", path, strerror(ENAMETOOLONG));
			goto out;
		}
		memcpy(comp, rest + off, len);
		comp[len] = 0;
		off += len + (rest[off + len] == '/');
		if (!len || strcmp(comp, ".") == 0)
			continue;
		if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW)) {
			err = -errno;
			snprintf(why, whylen, "cannot write %s: %s: %s", path, comp,
				 strerror(errno));
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n;

			if (!trusted_link(st.st_uid)) {
				err = -ELOOP;
				snprintf(
				    why, whylen,
				    "cannot write %s: %s on its way is a symbolic link of uid %u "
				    "(pymac follows only root's and your own; name the real "
				    "directory)",
				    path, comp, (unsigned)st.st_uid);
				goto out;
			}
			n = readlinkat(fd, comp, target, PATH_MAX - 1);
			if (n < 0 || ++hops > LINK_HOPS_MAX ||
			    (size_t)n + 1 + strlen(rest + off) + 1 > 2 * PATH_MAX) {
				err = n < 0 ? -errno : -ELOOP;
				snprintf(why, whylen, "cannot write %s: %s", path, strerror(-err));
				goto out;
			}
			target[n] = 0;
			/* the link's text takes its place in what is left */
			memmove(rest + n + 1, rest + off, strlen(rest + off) + 1);
			memcpy(rest, target, (size_t)n);
			rest[n] = '/';
			off = 0;
			if (target[0] == '/') {
				close(fd);
				fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (fd < 0) {
					err = -errno;
					snprintf(why, whylen, "cannot write %s: %s", path,
						 strerror(errno));
					goto out;
				}
			}
			continue;
		}
		/* a link swapped in since the stat fails here (ENOTDIR) */
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			err = -errno;
			snprintf(why, whylen, "cannot write %s: %s: %s", path, comp,
				 strerror(errno));
			goto out;
		}
		close(fd);
		fd = nfd;
	}
out:
	free(rest);
	free(target);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

/* The directory that holds path's last component, and that component. */
static int open_parent(const char *path, char **name, char *why, size_t whylen)
{
	const char *slash = strrchr(path, '/');
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_NO_SYMLINKS};
	char *dir;
	int fd;

	*name = strdup(slash ? slash + 1 : path);
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!*name || !dir) {
		free(*name);
		free(dir);
		*name = NULL;
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
		free(*name);
		free(dir);
		*name = NULL;
		snprintf(why, whylen, "cannot write %s: it is a directory", path);
		return -EISDIR;
	}
	fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
	/* a link on the way (ELOOP), or no openat2 (before 5.6, or filtered) */
	if (fd < 0)
		fd = walk_dir(path, dir, why, whylen);
	free(dir);
	if (fd < 0) {
		free(*name);
		*name = NULL;
	}
	return fd;
}

/* Whether st may be written as path: 0, or -errno with why. */
static int check_stat(const struct stat *st, const char *path, char *why, size_t whylen)
{
	if (S_ISLNK(st->st_mode)) {
		snprintf(why, whylen,
			 "cannot create %s: it is a symbolic link (pymac does not follow one "
			 "there; name the file itself)",
			 path);
		return -ELOOP;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen,
			 "cannot write %s: it is %s (pymac writes regular files only; \"-o -\" "
			 "writes to standard output)",
			 path, kind_name(st->st_mode));
		return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	if (!users_own(st->st_uid)) {
		snprintf(why, whylen,
			 "cannot create %s: it is another user's file (remove it or choose "
			 "another name)",
			 path);
		return -EPERM;
	}
	return 0;
}

/* What is at the name now: 0 (a regular file of the user's, or nothing:
 * *exists says which), or -errno with why. */
static int check_target(int dirfd, const char *name, const char *path, bool *exists, char *why,
			size_t whylen)
{
	struct stat st;

	*exists = false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	*exists = true;
	return check_stat(&st, path, why, whylen);
}

/* The file at the name, opened without blocking, checked once open. */
static int open_in_place(struct pm_out *o, const char *path, char *why, size_t whylen)
{
	struct stat st;
	bool exists;
	int err = check_target(o->dirfd, o->name, path, &exists, why, whylen);

	if (err)
		return err;
	o->fd = openat(o->dirfd, o->name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		       0600);
	if (o->fd < 0) {
		err = -errno;
		/* O_NOFOLLOW: a link was swapped in since the look */
		if (errno == ELOOP) {
			struct stat link = {.st_mode = S_IFLNK};

			return check_stat(&link, path, why, whylen);
		}
		snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
		return err;
	}
	/* what was opened, not what was looked at: it may have been swapped */
	if (fstat(o->fd, &st)) {
		err = -errno;
		snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
	} else if ((err = check_stat(&st, path, why, whylen))) {
		/* said by check_stat */
	} else if (ftruncate(o->fd, 0) || fchmod(o->fd, 0600) ||
		   fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) & ~O_NONBLOCK)) {
		err = -errno;
		snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
	}
	if (err) {
		close(o->fd);
		o->fd = -1;
	}
	return err;
}

/* A new file beside the target, under a name nobody else has. */
static int open_new(struct pm_out *o, const char *path, char *why, size_t whylen)
{
	bool exists;
	int err = check_target(o->dirfd, o->name, path, &exists, why, whylen);

	if (err)
		return err;
	o->tmp = malloc(strlen(o->name) + 16);
	if (!o->tmp) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (int tries = 0; tries < 100; tries++) {
		unsigned int r = 0;

		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (unsigned int)getpid() * 2654435761u + (unsigned int)tries;
		sprintf(o->tmp, ".%s.%08x", o->name, r);
		o->fd = openat(o->dirfd, o->tmp,
			       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (o->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	err = -errno;
	/* the new file is made beside the target: say so, since the target
	 * itself may exist and be writable (a file in /proc, say) */
	snprintf(
	    why, whylen,
	    "cannot create %s: a new file beside it, to be renamed over it, could not be made (%s)",
	    path, strerror(errno));
	free(o->tmp);
	o->tmp = NULL;
	return err;
}

static void out_free(struct pm_out *o)
{
	if (o->dirfd >= 0)
		close(o->dirfd);
	free(o->path);
	free(o->name);
	free(o->tmp);
	o->dirfd = -1;
	o->path = o->name = o->tmp = NULL;
}

int pm_out_open(struct pm_out *o, const char *path, enum pm_out_mode mode, char *why, size_t whylen)
{
	int err;

	memset(o, 0, sizeof(*o));
	o->fd = o->dirfd = -1;
	o->mode = mode;
	o->path = strdup(path);
	if (!o->path) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	o->dirfd = open_parent(path, &o->name, why, whylen);
	if (o->dirfd < 0) {
		err = o->dirfd;
		out_free(o);
		return err;
	}
	err = mode == PM_OUT_IN_PLACE ? open_in_place(o, path, why, whylen)
				      : open_new(o, path, why, whylen);
	if (err)
		out_free(o);
	return err;
}

int pm_out_commit(struct pm_out *o, bool fd_closed, char *why, size_t whylen)
{
	bool exists;
	int err = 0;

	if (o->mode == PM_OUT_IN_PLACE) {
		out_free(o);
		return 0;
	}
	if (!fd_closed && (fsync(o->fd) || close(o->fd))) {
		err = -errno;
		snprintf(why, whylen, "cannot write %s: %s", o->path, strerror(errno));
	}
	o->fd = -1;
	/* only over a regular file of the user's, or nothing */
	if (!err)
		err = check_target(o->dirfd, o->name, o->path, &exists, why, whylen);
	if (!err && renameat(o->dirfd, o->tmp, o->dirfd, o->name)) {
		err = -errno;
		snprintf(why, whylen, "cannot write %s: %s", o->path, strerror(errno));
	}
	if (err)
		unlinkat(o->dirfd, o->tmp, 0);
	out_free(o);
	return err;
}

char *pm_out_rotated_name(const char *path, unsigned n)
{
	size_t len = strlen(path);
	bool pmt = len > 4 && strcmp(path + len - 4, ".pmt") == 0;
	char *out = malloc(len + 16);

	if (out)
		sprintf(out, "%.*s.%u%s", (int)(pmt ? len - 4 : len), path, n, pmt ? ".pmt" : "");
	return out;
}

/* Rename rotated file n of name (0: name itself) to n + 1, if it exists. */
static int rotate_one(int dirfd, const char *name, const char *path, unsigned n, char *why,
		      size_t whylen)
{
	char *from = n ? pm_out_rotated_name(name, n) : strdup(name);
	char *to = pm_out_rotated_name(name, n + 1);
	char *from_path = n ? pm_out_rotated_name(path, n) : strdup(path);
	char *to_path = pm_out_rotated_name(path, n + 1);
	bool exists, to_exists;
	int err = -ENOMEM;

	if (!from || !to || !from_path || !to_path) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	err = check_target(dirfd, from, from_path, &exists, why, whylen);
	if (!err && exists)
		err = check_target(dirfd, to, to_path, &to_exists, why, whylen);
	if (!err && exists && renameat(dirfd, from, dirfd, to)) {
		err = -errno;
		snprintf(why, whylen, "cannot rename %s to %s: %s", from_path, to_path,
			 strerror(errno));
	}
out:
	free(from);
	free(to);
	free(from_path);
	free(to_path);
	return err;
}

int pm_out_rotate(const char *path, unsigned keep, char *why, size_t whylen)
{
	char *name;
	int dirfd = open_parent(path, &name, why, whylen), err = 0;

	if (dirfd < 0)
		return dirfd;
	for (unsigned n = keep; n-- > 0 && !err;)
		err = rotate_one(dirfd, name, path, n, why, whylen);
	free(name);
	close(dirfd);
	return err;
}

void pm_out_abort(struct pm_out *o, bool fd_closed)
{
	if (!fd_closed && o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp && o->dirfd >= 0)
		unlinkat(o->dirfd, o->tmp, 0);
	out_free(o);
}
