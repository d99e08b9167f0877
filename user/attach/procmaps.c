// SPDX-License-Identifier: MIT
/*
 * /proc/PID/maps parsing.
 *
 * Line format (fs/proc/task_mmu.c):
 *   start-end perms offset major:minor inode<spaces>path
 * with hex start/end/offset/major/minor, decimal inode, the path padded to
 * a fixed column and empty for anonymous memory. Paths may hold spaces; the
 * kernel escapes a newline in a name as "\012" and appends " (deleted)" to
 * unlinked files. We keep the path as printed (no unescaping: a literal
 * backslash is not escaped, so "\012" is ambiguous anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fileio.h"
#include "attach/procmaps.h"
#include "util/grow.h"

/* A process has at most vm.max_map_count (65530 by default) mappings; this
 * bounds the read of a hostile or runaway maps file. */
#define MAPS_MAX_BYTES (256u << 20)

static const char deleted_suffix[] = " (deleted)";

struct cursor {
	const char *p, *end;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_hex(struct cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0, d;

	while (c->p < c->end && (d = hexval(*c->p)) >= 0) {
		if (v >> 60)
			return false; /* would overflow 64 bits */
		v = v << 4 | (uint64_t)d;
		c->p++;
		n++;
	}
	*out = v;
	return n > 0;
}

static bool parse_dec(struct cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		c->p++;
		n++;
	}
	*out = v;
	return n > 0;
}

static bool expect(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return false;
	c->p++;
	return true;
}

/* At least one separating space. */
static bool skip_spaces(struct cursor *c)
{
	const char *start = c->p;

	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	return c->p > start;
}

static bool parse_perms(struct cursor *c, char perms[5])
{
	static const char allowed[4][3] = {"r-", "w-", "x-", "ps"};
	int i;

	if (c->end - c->p < 4)
		return false;
	for (i = 0; i < 4; i++) {
		char ch = c->p[i];

		if (ch != allowed[i][0] && ch != allowed[i][1])
			return false;
		perms[i] = ch;
	}
	perms[4] = '\0';
	c->p += 4;
	return true;
}

static int parse_span(const char *line, size_t len, struct maps_entry *out)
{
	struct cursor c = {line, line + len};
	uint64_t major, minor;
	const char *path;
	size_t plen;

	/* A trailing newline (and a CR, for text that went through Windows
	 * tools in tests) is not part of the path. */
	while (c.end > c.p && (c.end[-1] == '\n' || c.end[-1] == '\r'))
		c.end--;
	memset(out, 0, sizeof(*out));
	if (!parse_hex(&c, &out->start) || !expect(&c, '-') || !parse_hex(&c, &out->end))
		return -EINVAL;
	if (out->end < out->start)
		return -EINVAL;
	if (!skip_spaces(&c) || !parse_perms(&c, out->perms))
		return -EINVAL;
	if (!skip_spaces(&c) || !parse_hex(&c, &out->offset))
		return -EINVAL;
	if (!skip_spaces(&c) || !parse_hex(&c, &major) || !expect(&c, ':') ||
	    !parse_hex(&c, &minor))
		return -EINVAL;
	if (major > 0xfff || minor > 0xfffff)
		return -EINVAL; /* beyond what a dev_t's major/minor can hold */
	out->dev_major = (unsigned)major;
	out->dev_minor = (unsigned)minor;
	if (!skip_spaces(&c) || !parse_dec(&c, &out->inode))
		return -EINVAL;
	if (c.p == c.end)
		return 0; /* anonymous */
	if (!skip_spaces(&c))
		return -EINVAL; /* garbage glued to the inode */

	path = c.p;
	plen = (size_t)(c.end - c.p);
	if (memchr(path, '\0', plen) || memchr(path, '\n', plen))
		return -EINVAL;
	if (plen > sizeof(deleted_suffix) - 1 &&
	    memcmp(path + plen - (sizeof(deleted_suffix) - 1), deleted_suffix,
		   sizeof(deleted_suffix) - 1) == 0) {
		plen -= sizeof(deleted_suffix) - 1;
		out->deleted = true;
	}
	if (plen >= sizeof(out->path))
		return -EINVAL;
	memcpy(out->path, path, plen);
	out->path[plen] = '\0';
	return 0;
}

int procmaps__parse_line(const char *line, struct maps_entry *out)
{
	if (!line || !out)
		return -EINVAL;
	return parse_span(line, strlen(line), out);
}

int procmaps__parse_text(const char *text, size_t len, struct maps_entry **out, size_t *n)
{
	struct maps_entry *v = NULL, e;
	size_t count = 0, cap = 0, pos = 0;

	if (!out || !n || (!text && len))
		return -EINVAL;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;

		if (parse_span(text + pos, line_len, &e) == 0) {
			if (count == cap) {
				struct maps_entry *nv = PM_GROW(v, &cap, count + 1, 64);

				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			v[count++] = e;
		}
		pos += line_len + (nl ? 1 : 0);
	}
	*out = v;
	*n = count;
	return 0;
}

int procmaps__read(pid_t pid, struct maps_entry **out, size_t *n)
{
	char path[64], *buf;
	size_t len;
	int err;

	if (!out || !n)
		return -EINVAL;
	if (pid <= 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	err = pm_read_file(path, 0, MAPS_MAX_BYTES, &buf, &len);
	if (err == -E2BIG)
		return -EFBIG;
	if (err)
		/* ESRCH: the process exited between open and read */
		return err == -ESRCH ? -ENOENT : err;
	err = procmaps__parse_text(buf, len, out, n);
	free(buf);
	return err;
}
