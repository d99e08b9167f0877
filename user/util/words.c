// SPDX-License-Identifier: MIT
/* Shortening text at word and list boundaries (words.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/words.h"

static bool is_list_sep(const char *s)
{
	return (s[0] == ',' || s[0] == ';') && s[1] == ' ';
}

/* Items of a ", " / "; " list that start in s (s itself starts one). */
static unsigned count_items(const char *s)
{
	unsigned n = 1;

	for (; *s; s++)
		if (is_list_sep(s))
			n++;
	return n;
}

/* A place to cut s before limit bytes: the start of a separator (", ",
 * "; " or " "); list: only list separators. 0 when there is none. */
static size_t last_cut(const char *s, size_t limit, bool list)
{
	for (size_t i = limit; i > 0; i--) {
		if (list ? is_list_sep(s + i) : s[i] == ' ')
			return i;
	}
	return 0;
}

size_t pm_shorten(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src), cut, room;
	char mark[48];

	if (n < len) {
		memcpy(dst, src, n + 1);
		return n;
	}
	/* the marker's room: "…(N more)" with N of up to 10 digits */
	room = strlen(PM_ELLIPSIS "(4294967295 more)");
	if (len <= room + 1) {
		dst[0] = '\0';
		return 0;
	}
	cut = last_cut(src, len - 1 - room, true);
	if (cut) {
		/* the tail after the cut starts with its separator */
		snprintf(mark, sizeof(mark), PM_ELLIPSIS "(%u more)", count_items(src + cut + 2));
	} else {
		cut = last_cut(src, len - 1 - strlen(PM_ELLIPSIS), false);
		snprintf(mark, sizeof(mark), PM_ELLIPSIS);
	}
	/* no boundary at all: one long word, cut where it must be */
	if (!cut)
		cut = len - 1 - strlen(mark);
	while (cut && (src[cut - 1] == ',' || src[cut - 1] == ';' || src[cut - 1] == ' '))
		cut--;
	/* not inside a UTF-8 sequence */
	while (cut && ((unsigned char)src[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(dst, src, cut);
	snprintf(dst + cut, len - cut, "%s", mark);
	return strlen(dst);
}

/* The N of a list's end marker "…(N more)", and where it starts; 0: none. */
static unsigned list_more(const char *buf, size_t *at)
{
	const char *m = strstr(buf, PM_ELLIPSIS "(");
	unsigned n;
	char tail[8];

	for (const char *q = m; q; q = strstr(q + 1, PM_ELLIPSIS "("))
		m = q; /* the last one */
	if (!m || sscanf(m + strlen(PM_ELLIPSIS "("), "%u mor%1[e])%c", &n, tail, tail + 2) != 2)
		return 0;
	*at = (size_t)(m - buf);
	return n;
}

void pm_list_add(char *buf, size_t len, const char *first, const char *fmt, ...)
{
	size_t at = 0, used = strlen(buf), room = strlen(PM_ELLIPSIS "(99999 more)");
	unsigned more = list_more(buf, &at);
	char item[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = pm_vfmt_words(item, sizeof(item), fmt, ap);
	va_end(ap);
	if (!more && used + strlen(used ? ", " : first) + n + room < len) {
		snprintf(buf + used, len - used, "%s%s", used ? ", " : first, item);
		return;
	}
	if (!more)
		at = used;
	if (at + room < len)
		snprintf(buf + at, len - at, PM_ELLIPSIS "(%u more)", more + 1);
}

size_t pm_vfmt_words(char *dst, size_t len, const char *fmt, va_list ap)
{
	char buf[4096], *s = buf;
	va_list again;
	size_t n;
	int m;

	va_copy(again, ap);
	m = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (m < 0)
		buf[0] = '\0';
	/* longer than the stack's copy: whole from the heap (else the stack's
	 * copy, shortened again at a boundary before its end) */
	if (m >= (int)sizeof(buf) && vasprintf(&s, fmt, again) < 0)
		s = buf;
	va_end(again);
	n = pm_shorten(dst, len, s);
	if (s != buf)
		free(s);
	return n;
}

size_t pm_fmt_words(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = pm_vfmt_words(dst, len, fmt, ap);
	va_end(ap);
	return n;
}
