// SPDX-License-Identifier: MIT
/* The modules of `pymac run` (cmd/run_modules.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/run_modules.h"

bool run_module__name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n <= 3 || n > RUN_MODULE_NAME_MAX || strcmp(name + n - 3, ".py") || name[0] == '-' ||
	    name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return false;
	return true;
}

/* Past blank lines, comments and a UTF-8 byte order mark. */
static size_t skip_preamble(const char *s, size_t len)
{
	size_t i = 0;

	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == '\f') {
			i++;
		} else if (s[i] == '#') {
			while (i < len && s[i] != '\n')
				i++;
		} else {
			break;
		}
	}
	return i;
}

int run_module__heading(const char *src, size_t len, char *out, size_t outlen)
{
	size_t i = skip_preamble(src, len), q, from, to;
	char quote;

	if (outlen)
		out[0] = '\0';
	/* r and u prefixes still make a docstring; b and f do not */
	if (i < len && strchr("rRuU", src[i]))
		i++;
	if (i >= len || (src[i] != '"' && src[i] != '\''))
		return -ENOENT;
	quote = src[i];
	q = i + 2 < len && src[i + 1] == quote && src[i + 2] == quote ? 3 : 1;
	from = i + q;
	/* the end: the closing quotes, past escaped characters */
	for (to = from; to < len; to++) {
		if (src[to] == '\\') {
			to++;
			continue;
		}
		if (q == 1 && src[to] == '\n')
			return -ENOENT;
		if (src[to] == quote &&
		    (q == 1 || (to + 2 < len && src[to + 1] == quote && src[to + 2] == quote)))
			break;
	}
	if (to >= len)
		return -ENOENT;
	/* its first line that is not blank, trimmed */
	while (from < to && isspace((unsigned char)src[from]))
		from++;
	for (i = from; i < to && src[i] != '\n' && src[i] != '\r'; i++)
		;
	while (i > from && isspace((unsigned char)src[i - 1]))
		i--;
	if (i == from)
		return -ENOENT;
	if (i - from >= outlen)
		i = from + outlen - 1;
	for (size_t k = from; k < i; k++)
		out[k - from] = (unsigned char)src[k] < 0x20 ? ' ' : src[k];
	out[i - from] = '\0';
	return 0;
}

void run_module__container_name(const char *module, const char *tag, char *out, size_t len)
{
	size_t n = strlen(module), used;

	if (n > 3 && !strcmp(module + n - 3, ".py"))
		n -= 3;
	used = snprintf(out, len, "pymac-run-");
	for (size_t i = 0; i < n && used + 1 < len && i < 64; i++) {
		char c = module[i];

		out[used++] = isalnum((unsigned char)c) || c == '_' ? c : '-';
	}
	snprintf(out + used, len - used, "-%s", tag);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int run_modules__list(const char *dir, char ***names, size_t *n)
{
	char **v = NULL, **nv;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "test_", 5) || !run_module__name_ok(de->d_name))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
		}
		if (!(v[cnt] = strdup(de->d_name)))
			goto nomem;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*names = v;
	*n = cnt;
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}
