// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <elfutils/debuginfod.h>

#include "attach/debuginfo.h"
#include "attach/elf_inspect.h"
#include "attach/targets.h"
#include "util/words.h"

#define DEBUG_DIRS_MAX	  16
#define DEFAULT_DEBUG_DIR "/usr/lib/debug"

static char *debug_dirs[DEBUG_DIRS_MAX];
static size_t ndebug_dirs;
static bool dirs_configured;

int debuginfo__add_dir(const char *dir)
{
	char *copy;

	if (!dir || dir[0] != '/' || strlen(dir) >= PATH_MAX / 2)
		return -EINVAL;
	if (ndebug_dirs == DEBUG_DIRS_MAX)
		return -E2BIG;
	copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	/* a trailing slash would double in the joined paths */
	for (size_t l = strlen(copy); l > 1 && copy[l - 1] == '/'; l--)
		copy[l - 1] = '\0';
	debug_dirs[ndebug_dirs++] = copy;
	dirs_configured = true;
	return 0;
}

/* The configured directories, else PYMAC_DEBUG_DIRS, else the default. */
static size_t dirs_get(const char **out)
{
	static char env_copy[4096];
	static const char *env_dirs[DEBUG_DIRS_MAX];
	static size_t nenv;
	static bool env_read;
	const char *env;

	if (dirs_configured) {
		for (size_t i = 0; i < ndebug_dirs; i++)
			out[i] = debug_dirs[i];
		return ndebug_dirs;
	}
	env = getenv("PYMAC_DEBUG_DIRS");
	if (!env) {
		out[0] = DEFAULT_DEBUG_DIR;
		return 1;
	}
	if (!env_read) {
		char *save = NULL, *tok;

		snprintf(env_copy, sizeof(env_copy), "%s", env);
		for (tok = strtok_r(env_copy, ":", &save); tok && nenv < DEBUG_DIRS_MAX;
		     tok = strtok_r(NULL, ":", &save))
			if (tok[0] == '/')
				env_dirs[nenv++] = tok;
		env_read = true;
	}
	for (size_t i = 0; i < nenv; i++)
		out[i] = env_dirs[i];
	return nenv;
}

int debuginfo__file_crc(int fd, unsigned int *crc)
{
	unsigned char buf[65536];
	uLong c = crc32(0L, Z_NULL, 0);
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c = crc32(c, buf, (uInt)n);
	}
	*crc = (unsigned int)c;
	return 0;
}

/* Open a regular file on the host (pid 0) or inside pid's root. fd or
 * -errno. O_NONBLOCK: a FIFO planted at the path must not hang us. */
static int open_at(pid_t pid, const char *path)
{
	int fd = pid > 0 ? target_open_in_root(pid, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
			 : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	return fd < 0 && pid <= 0 ? -errno : fd;
}

/* A candidate is the debug file of the binary when it holds DWARF and
 * the binary's build-id (if the binary has one). */
static bool candidate_ok(const struct elf_file *dbg, const char *want_id)
{
	char id[128];

	if (!elf_file__has_dwarf(dbg))
		return false;
	if (!want_id[0])
		return true;
	return elf_file__build_id(dbg, id, sizeof(id)) == 0 && strcmp(id, want_id) == 0;
}

/* The file open on fd, which is closed, if it is a candidate; else NULL. */
static struct elf_file *open_candidate(int fd, const char *want_id)
{
	struct elf_file *dbg;
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	dbg = elf_file__open(p);
	close(fd);
	if (dbg && !candidate_ok(dbg, want_id)) {
		elf_file__close(dbg);
		dbg = NULL;
	}
	return dbg;
}

static struct elf_file *try_build_id(pid_t pid, const char *dir, const char *id)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", dir, id, id + 2) >=
	    (int)sizeof(path))
		return NULL;
	fd = open_at(pid, path);
	if (fd < 0)
		return NULL;
	return open_candidate(fd, id);
}

static struct elf_file *try_debuglink(pid_t pid, const char *path, uint32_t crc, const char *id)
{
	unsigned int got;
	int fd = open_at(pid, path);

	if (fd < 0)
		return NULL;
	if (debuginfo__file_crc(fd, &got) || got != crc) {
		close(fd);
		return NULL;
	}
	return open_candidate(fd, id);
}

static struct elf_file *try_debuginfod(const char *id, char *path, size_t len)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	debuginfod_client *c;
	struct elf_file *dbg = NULL;
	char *got = NULL;
	int fd;

	if (!urls || !urls[0] || !id[0])
		return NULL;
	c = debuginfod_begin();
	if (!c)
		return NULL;
	/* length 0: the id is given as a hex string */
	fd = debuginfod_find_debuginfo(c, (const unsigned char *)id, 0, &got);
	if (fd >= 0) {
		dbg = open_candidate(fd, id);
		snprintf(path, len, "%s", got ? got : "?");
	}
	free(got);
	debuginfod_end(c);
	return dbg;
}

static void say(char *how, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *how, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!how || !len)
		return;
	va_start(ap, fmt);
	pm_vfmt_words(how, len, fmt, ap);
	va_end(ap);
}

struct elf_file *debuginfo__open(const struct debuginfo_query *q, char *how, size_t howlen)
{
	const char *dirs[DEBUG_DIRS_MAX];
	size_t ndirs = dirs_get(dirs);
	char id[128] = "", link[256], dir[PATH_MAX], path[PATH_MAX * 2];
	struct elf_file *dbg;
	uint32_t crc;
	bool has_link;

	if (!q || !q->bin || !q->path) {
		errno = EINVAL;
		return NULL;
	}
	if (elf_file__build_id(q->bin, id, sizeof(id)) || strlen(id) < 4)
		id[0] = '\0';
	if (id[0]) {
		for (size_t i = 0; i < ndirs; i++) {
			/* the target's own copy first, then the host's */
			if (q->root_pid > 0 && (dbg = try_build_id(q->root_pid, dirs[i], id))) {
				say(how, howlen, "build-id %.12s… in %s of the target's root", id,
				    dirs[i]);
				return dbg;
			}
			if ((dbg = try_build_id(0, dirs[i], id))) {
				say(how, howlen, "build-id %.12s… in %s", id, dirs[i]);
				return dbg;
			}
		}
	}
	has_link = elf_file__debuglink(q->bin, link, sizeof(link), &crc) == 0;
	/*
	 * A debuglink is found next to the binary, by the path the target
	 * sees, so only inside the target's root: when that root is unknown,
	 * the host's file at that path is not the target's and is not looked
	 * at (a build-id names its file wherever it is; a path does not).
	 */
	if (has_link && q->path[0] == '/' && q->root_pid >= 0) {
		const char *slash = strrchr(q->path, '/');
		size_t dl = (size_t)(slash - q->path);

		snprintf(dir, sizeof(dir), "%.*s", (int)dl, q->path);
		const char *fmts[] = {"%s/%s", "%s/.debug/%s"};
		for (size_t f = 0; f < 2; f++) {
			snprintf(path, sizeof(path), fmts[f], dir, link);
			if ((dbg = try_debuglink(q->root_pid, path, crc, id))) {
				say(how, howlen, "debuglink %s", path);
				return dbg;
			}
		}
		for (size_t i = 0; i < ndirs; i++) {
			snprintf(path, sizeof(path), "%s%s/%s", dirs[i], dir, link);
			if ((dbg = try_debuglink(q->root_pid, path, crc, id))) {
				say(how, howlen, "debuglink %s", path);
				return dbg;
			}
		}
	}
	if ((dbg = try_debuginfod(id, path, sizeof(path)))) {
		say(how, howlen, "debuginfod, cached at %s", path);
		return dbg;
	}
	say(how, howlen, "no debug info found for %s%s%s (%s%s%s%s)", q->path,
	    id[0] ? " build-id " : "", id, ndirs ? "searched " : "no debug directory",
	    ndirs ? dirs[0] : "", ndirs > 1 ? " and others" : "",
	    getenv("DEBUGINFOD_URLS") && getenv("DEBUGINFOD_URLS")[0] ? ", debuginfod" : "");
	errno = ENOENT;
	return NULL;
}
