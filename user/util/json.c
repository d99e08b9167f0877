// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <math.h>
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

void jsonw_script_safe(struct jsonw *w)
{
	w->script = true;
}

static void indent(struct jsonw *w)
{
	fputc('\n', w->out);
	for (unsigned i = 0; i < w->depth; i++)
		fputs("  ", w->out);
}

/* Before any value: the comma and the line break its place needs. */
static void before_value(struct jsonw *w)
{
	if (w->named) {
		w->named = false;
		return;
	}
	if (w->sep[w->depth])
		fputc(',', w->out);
	if (w->pretty && w->depth)
		indent(w);
	else if (w->sep[w->depth])
		fputc(' ', w->out);
	w->sep[w->depth] = true;
}

void jsonw_name(struct jsonw *w, const char *name)
{
	before_value(w);
	print_string(w->out, name, w->script);
	fputs(": ", w->out);
	w->named = true;
}

static void open_container(struct jsonw *w, char c)
{
	before_value(w);
	fputc(c, w->out);
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
	fputc(c, w->out);
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
	print_string(w->out, s, w->script);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	before_value(w);
	fprintf(w->out, "%" PRIu64, v);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	before_value(w);
	fprintf(w->out, "%" PRId64, v);
}

void jsonw_float(struct jsonw *w, const char *fmt, double v)
{
	before_value(w);
	if (!isfinite(v)) {
		fputs("null", w->out);
		return;
	}
	fprintf(w->out, fmt ? fmt : "%.6g", v);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	before_value(w);
	fputs(v ? "true" : "false", w->out);
}

void jsonw_null(struct jsonw *w)
{
	before_value(w);
	fputs("null", w->out);
}

int jsonw_finish(struct jsonw *w)
{
	if (w->pretty)
		fputc('\n', w->out);
	return w->overflow || ferror(w->out) ? -EIO : 0;
}
