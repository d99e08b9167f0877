// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"

static inline int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Length of the valid UTF-8 sequence of 2 to 4 bytes at s, 0 if the bytes
 * there are not one. Overlong forms, surrogates and values past U+10FFFF are
 * invalid, so what we copy through is always something a JSON parser accepts.
 * s is NUL-terminated and NUL is no continuation byte, so we never read past
 * its end.
 */
static size_t utf8_multibyte_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return is_cont(s[1]) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && is_cont(s[2]) ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && is_cont(s[2]) && is_cont(s[3]) ? 4 : 0;
	}
	return 0;
}

/* Escape one character of s into dst (at most 6 bytes). Returns the bytes of
 * s consumed and sets *n to the bytes written. */
static size_t json_escape_char(const unsigned char *s, char *dst, size_t *n, bool script)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c = s[0];
	size_t len;

	if (script && (c == '<' || c == '>' || c == '&')) {
		memcpy(dst, "\\u00", 4);
		dst[4] = hex[c >> 4];
		dst[5] = hex[c & 0xf];
		*n = 6;
		return 1;
	}
	/* U+2028 and U+2029, which older JavaScript took for line ends */
	if (script && c == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)) {
		memcpy(dst, s[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
		*n = 6;
		return 3;
	}
	if (c >= 0x20 && c < 0x80) {
		if (c == '"' || c == '\\') {
			dst[0] = '\\';
			dst[1] = (char)c;
			*n = 2;
		} else {
			dst[0] = (char)c;
			*n = 1;
		}
		return 1;
	}
	if (c < 0x20) {
		memcpy(dst, "\\u00", 4);
		dst[4] = hex[c >> 4];
		dst[5] = hex[c & 0xf];
		*n = 6;
		return 1;
	}
	len = utf8_multibyte_len(s);
	if (!len) {
		memcpy(dst, "\\ufffd", 6);
		*n = 6;
		return 1;
	}
	memcpy(dst, s, len);
	*n = len;
	return len;
}

size_t json_format_string(char *dst, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *d = dst;
	size_t n;

	*d++ = '"';
	while (*p) {
		p += json_escape_char(p, d, &n, false);
		d += n;
	}
	*d++ = '"';
	return (size_t)(d - dst);
}

static void print_string(FILE *out, const char *s, bool script)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char buf[512];
	size_t used = 0, n;

	/* Strings are usually short and clean: write them in one go. */
	buf[used++] = '"';
	while (*p) {
		if (used > sizeof(buf) - 8) {
			fwrite(buf, 1, used, out);
			used = 0;
		}
		p += json_escape_char(p, buf + used, &n, script);
		used += n;
	}
	buf[used++] = '"';
	fwrite(buf, 1, used, out);
}

void json_print_string(FILE *out, const char *s)
{
	print_string(out, s, false);
}

size_t pm_utf8_len(const unsigned char *s)
{
	return s[0] < 0x80 ? 1 : utf8_multibyte_len(s);
}

size_t text_format_string(char *dst, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *d = dst;
	size_t len;

	while (*p) {
		if (*p >= 0x20 && *p < 0x7f) {
			*d++ = (char)*p++;
			continue;
		}
		len = *p >= 0x80 ? utf8_multibyte_len(p) : 0;
		if (!len) {
			*d++ = '?';
			p++;
			continue;
		}
		memcpy(d, p, len);
		d += len;
		p += len;
	}
	return (size_t)(d - dst);
}

/* ---- the writer ---- */

void jsonw_init(struct jsonw *w, FILE *out, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->pretty = pretty;
}

void jsonw_init_mem(struct jsonw *w, bool pretty)
{
	jsonw_init(w, NULL, pretty);
}

void jsonw_script_safe(struct jsonw *w)
{
	w->script = true;
}

/* Room for n more bytes in the memory target. */
static bool reserve(struct jsonw *w, size_t n)
{
	size_t cap;
	char *v;

	if (w->len + n + 1 <= w->cap)
		return true;
	if (w->nomem)
		return false;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n + 1)
		cap *= 2;
	v = realloc(w->buf, cap);
	if (!v) {
		w->nomem = true;
		return false;
	}
	w->buf = v;
	w->cap = cap;
	return true;
}

static void put_slow(struct jsonw *w, const char *s, size_t n)
{
	if (w->out) {
		fwrite_unlocked(s, 1, n, w->out);
		return;
	}
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

/* Into memory with room to spare: the usual case, kept short. */
static inline void put(struct jsonw *w, const char *s, size_t n)
{
	if (!w->out && w->len + n < w->cap) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
		w->buf[w->len] = 0;
		return;
	}
	put_slow(w, s, n);
}

static inline void put_c(struct jsonw *w, char c)
{
	put(w, &c, 1);
}

#define put_lit(w, s) put(w, s, sizeof(s) - 1)

/* Bytes that go into a JSON string as they are (and, for a script, safe
 * inside an HTML <script> element). */
static inline bool plain(unsigned char c, bool script)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' &&
	       !(script && (c == '<' || c == '>' || c == '&'));
}

static void put_string(struct jsonw *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char buf[8];
	size_t n;

	put_c(w, '"');
	while (*p) {
		const unsigned char *run = p;

		while (plain(*p, w->script))
			p++;
		if (p > run)
			put(w, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		p += json_escape_char(p, buf, &n, w->script);
		put(w, buf, n);
	}
	put_c(w, '"');
}

static void put_u64(struct jsonw *w, uint64_t v)
{
	char tmp[20];

	put(w, tmp, pm_format_u64(tmp, v));
}

static void indent(struct jsonw *w)
{
	put_c(w, '\n');
	for (unsigned i = 0; i < w->depth; i++)
		put_lit(w, "  ");
}

/* Before any value: the comma and the line break its place needs. */
static void before_value(struct jsonw *w)
{
	if (w->named) {
		w->named = false;
		return;
	}
	if (w->sep[w->depth])
		put_c(w, ',');
	if (w->pretty && w->depth)
		indent(w);
	else if (w->sep[w->depth] && w->pretty)
		put_c(w, ' ');
	w->sep[w->depth] = true;
}

void jsonw_name(struct jsonw *w, const char *name)
{
	before_value(w);
	put_string(w, name);
	if (w->pretty)
		put_lit(w, ": ");
	else
		put_c(w, ':');
	w->named = true;
}

static void open_container(struct jsonw *w, char c)
{
	before_value(w);
	put_c(w, c);
	if (w->depth == JSONW_DEPTH) {
		w->overflow = true;
		return;
	}
	w->depth++;
	w->sep[w->depth] = false;
}

static void close_container(struct jsonw *w, char c)
{
	bool had = w->depth && w->sep[w->depth];

	if (w->depth)
		w->depth--;
	if (w->pretty && had)
		indent(w);
	put_c(w, c);
}

void jsonw_start_object(struct jsonw *w)
{
	open_container(w, '{');
}

void jsonw_end_object(struct jsonw *w)
{
	close_container(w, '}');
}

void jsonw_start_array(struct jsonw *w)
{
	open_container(w, '[');
}

void jsonw_end_array(struct jsonw *w)
{
	close_container(w, ']');
}

void jsonw_string(struct jsonw *w, const char *s)
{
	before_value(w);
	put_string(w, s);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	before_value(w);
	put_u64(w, v);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	before_value(w);
	if (v < 0) {
		put_c(w, '-');
		put_u64(w, -(uint64_t)v);
	} else {
		put_u64(w, (uint64_t)v);
	}
}

void jsonw_float(struct jsonw *w, const char *fmt, double v)
{
	char tmp[64];
	int n;

	before_value(w);
	if (!isfinite(v)) {
		put_lit(w, "null");
		return;
	}
	n = snprintf(tmp, sizeof(tmp), fmt ? fmt : "%.6g", v);
	put(w, tmp, n > 0 && (size_t)n < sizeof(tmp) ? (size_t)n : 0);
}

void jsonw_fixed(struct jsonw *w, uint64_t v, unsigned decimals)
{
	char tmp[40];

	before_value(w);
	put(w, tmp, pm_format_fixed(tmp, v, decimals < 19 ? decimals : 19));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	before_value(w);
	if (v)
		put_lit(w, "true");
	else
		put_lit(w, "false");
}

void jsonw_null(struct jsonw *w)
{
	before_value(w);
	put_lit(w, "null");
}

void jsonw_raw(struct jsonw *w, const char *s, size_t n)
{
	put(w, s, n);
}

const char *jsonw_mem(const struct jsonw *w, size_t *len)
{
	*len = w->len;
	return w->buf ? w->buf : "";
}

void jsonw_end_line(struct jsonw *w)
{
	put_c(w, '\n');
	w->sep[0] = false;
	w->named = false;
}

void jsonw_mem_reset(struct jsonw *w)
{
	w->len = 0;
	if (w->buf)
		w->buf[0] = 0;
	w->depth = 0;
	w->named = false;
	w->sep[0] = false;
}

void jsonw_free(struct jsonw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

int jsonw_finish(struct jsonw *w)
{
	if (w->pretty)
		put_c(w, '\n');
	if (w->overflow || w->nomem)
		return w->nomem ? -ENOMEM : -EIO;
	return w->out && ferror(w->out) ? -EIO : 0;
}
