// SPDX-License-Identifier: MIT
/*
 * cgroup v2: where the hierarchy is mounted, the id (directory inode) of a
 * cgroup path and the path of an id, whether a cgroup holds a process, and
 * the pids in it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/containers_impl.h"
#include "util/grow.h"

#define CGROUP_WALK_DEPTH 32
/* a cgroup's directory or a file in it, on the host */
#define CGROUP_FULL_MAX (PATH_MAX + CONTAINER_CGPATH_MAX + 16)

int cgroup2__mount_from_mountinfo(const char *text, size_t len, char *out, size_t outlen)
{
	size_t pos = 0;

	if (outlen)
		out[0] = '\0';
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = (nl ? (size_t)(nl - text) : len) - pos;
		const char *line = text + pos, *f[5], *sep = NULL, *p = line, *e = line + ll;
		size_t fl[5];
		int nf = 0;

		pos += ll + 1;
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		while (p < e && nf < 5) {
			while (p < e && *p == ' ')
				p++;
			f[nf] = p;
			while (p < e && *p != ' ')
				p++;
			fl[nf] = p - f[nf];
			if (fl[nf])
				nf++;
		}
		if (nf < 5)
			continue;
		for (const char *q = p; q + 3 <= e; q++) {
			if (!memcmp(q, " - ", 3)) {
				sep = q + 3;
				break;
			}
		}
		if (!sep || (size_t)(e - sep) < 8 || memcmp(sep, "cgroup2 ", 8))
			continue;
		/* Only a mount of the whole hierarchy maps cgroup paths one to one. */
		if (fl[3] != 1 || f[3][0] != '/')
			continue;
		{
			size_t o = 0;

			for (size_t i = 0; i < fl[4]; i++) {
				char c = f[4][i];

				/* mountinfo escapes space, tab, newline and backslash as \ooo */
				if (c == '\\' && i + 3 < fl[4] && f[4][i + 1] >= '0' &&
				    f[4][i + 1] <= '3' && f[4][i + 2] >= '0' &&
				    f[4][i + 2] <= '7' && f[4][i + 3] >= '0' &&
				    f[4][i + 3] <= '7') {
					c = (char)((f[4][i + 1] - '0') * 64 +
						   (f[4][i + 2] - '0') * 8 + (f[4][i + 3] - '0'));
					i += 3;
				}
				if (o + 1 >= outlen)
					return -ENAMETOOLONG;
				out[o++] = c;
			}
			out[o] = '\0';
		}
		if (out[0] != '/') {
			out[0] = '\0';
			continue;
		}
		return 0;
	}
	return -ENOENT;
}

static int cgroup2__mount(char *out, size_t outlen)
{
	static char mnt[PATH_MAX];
	char *text;
	size_t len;
	int err;

	if (!mnt[0]) {
		err = ct_read_file("/proc/self/mountinfo", 4u << 20, &text, &len);
		if (err)
			return err;
		err = cgroup2__mount_from_mountinfo(text, len, mnt, sizeof(mnt));
		free(text);
		if (err)
			return err;
	}
	if (strlen(mnt) >= outlen)
		return -ENAMETOOLONG;
	strcpy(out, mnt);
	return 0;
}

static bool cgpath__valid(const char *cgpath)
{
	const char *p = cgpath;

	if (!cgpath || cgpath[0] != '/' ||
	    strnlen(cgpath, CONTAINER_CGPATH_MAX) >= CONTAINER_CGPATH_MAX)
		return false;
	while (*p) {
		const char *c;

		while (*p == '/')
			p++;
		c = p;
		while (*p && *p != '/') {
			if ((unsigned char)*p < 0x20)
				return false;
			p++;
		}
		if ((p - c == 1 && c[0] == '.') || (p - c == 2 && c[0] == '.' && c[1] == '.'))
			return false;
	}
	return true;
}

/*
 * Where cgroup cgpath is on the host: its directory under the cgroup2
 * mount, or the file named file (if not NULL) in it. 0, -EINVAL (not a
 * valid cgroup path), or the mount's error.
 */
static int cgroup2__host_path(const char *cgpath, const char *file, char *out, size_t outlen)
{
	char mnt[PATH_MAX];
	int err;

	if (!cgpath__valid(cgpath))
		return -EINVAL;
	err = cgroup2__mount(mnt, sizeof(mnt));
	if (err)
		return err;
	snprintf(out, outlen, "%s%s%s%s", mnt, strcmp(cgpath, "/") ? cgpath : "", file ? "/" : "",
		 file ? file : "");
	return 0;
}

int cgroup2__id_of_path(const char *cgpath, uint64_t *id)
{
	char full[CGROUP_FULL_MAX];
	struct stat st;
	int err;

	*id = 0;
	err = cgroup2__host_path(cgpath, NULL, full, sizeof(full));
	if (err)
		return err;
	if (stat(full, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = st.st_ino;
	return 0;
}

/* Depth-first search by directory inode, which is what the kernel reports as the cgroup id. */
static int cgroup2__walk(int dfd, uint64_t id, int depth, char *out, size_t outlen, size_t used)
{
	DIR *d;
	struct dirent *de;
	int err = -ENOENT;

	if (depth > CGROUP_WALK_DEPTH) {
		close(dfd);
		return -ENOENT;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t n;
		int sub;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = strlen(de->d_name);
		if (used + 1 + n >= outlen) {
			err = -ENAMETOOLONG;
			continue;
		}
		out[used] = '/';
		memcpy(out + used + 1, de->d_name, n + 1);
		if (de->d_ino == id) {
			err = 0;
			break;
		}
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0)
			continue;
		if (!cgroup2__walk(sub, id, depth + 1, out, outlen, used + 1 + n)) {
			err = 0;
			break;
		}
	}
	if (err)
		out[used] = '\0';
	closedir(d);
	return err;
}

int cgroup2__path_of_id(uint64_t id, char *out, size_t outlen)
{
	char mnt[PATH_MAX];
	struct stat st;
	int err, fd;

	if (outlen < 2)
		return -ENAMETOOLONG;
	out[0] = '\0';
	err = cgroup2__mount(mnt, sizeof(mnt));
	if (err)
		return err;
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!fstat(fd, &st) && st.st_ino == id) {
		close(fd);
		strcpy(out, "/");
		return 0;
	}
	return cgroup2__walk(fd, id, 0, out, outlen, 0);
}

int cgroup2__populated(const char *cgpath)
{
	char full[CGROUP_FULL_MAX], *text, *p;
	size_t len;
	int err;

	err = cgroup2__host_path(cgpath, "cgroup.events", full, sizeof(full));
	if (err)
		return err;
	err = ct_read_file(full, 64 << 10, &text, &len);
	if (err)
		return err;
	/* "populated 1\nfrozen 0\n" */
	p = strstr(text, "populated ");
	err = p ? p[10] == '1' : -EPROTO;
	free(text);
	return err;
}

/* Append the pids of one cgroup directory and, below it, of its children. */
static int cgroup2__collect_pids(int dfd, int depth, pid_t **pids, size_t *n, size_t *cap)
{
	int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	char buf[4096], rest[16] = "";
	size_t rl = 0;
	ssize_t got;
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return -errno;
	/* one pid per line; a line may straddle two reads */
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] != '\n') {
				if (rl < sizeof(rest) - 1)
					rest[rl++] = buf[i];
				continue;
			}
			rest[rl] = '\0';
			rl = 0;
			long v = strtol(rest, NULL, 10);
			if (v <= 0)
				continue;
			if (*n == *cap) {
				pid_t *np = PM_GROW(*pids, cap, *n + 1, 64);

				if (!np) {
					close(fd);
					return -ENOMEM;
				}
				*pids = np;
			}
			(*pids)[(*n)++] = (pid_t)v;
		}
	}
	close(fd);
	if (depth >= 32)
		return 0;
	int dup = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dup < 0 || !(d = fdopendir(dup))) {
		if (dup >= 0)
			close(dup);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (sub < 0)
			continue;
		int err = cgroup2__collect_pids(sub, depth + 1, pids, n, cap);
		close(sub);
		if (err == -ENOMEM) {
			closedir(d);
			return err;
		}
	}
	closedir(d);
	return 0;
}

int cgroup2__pids(const char *cgpath, pid_t **pids, size_t *n)
{
	char full[CGROUP_FULL_MAX];
	size_t cap = 0;
	int err, dfd;

	*pids = NULL;
	*n = 0;
	err = cgroup2__host_path(cgpath, NULL, full, sizeof(full));
	if (err)
		return err;
	dfd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	err = cgroup2__collect_pids(dfd, 0, pids, n, &cap);
	close(dfd);
	if (err) {
		free(*pids);
		*pids = NULL;
		*n = 0;
	}
	return err;
}
