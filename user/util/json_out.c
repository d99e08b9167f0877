// SPDX-License-Identifier: MIT
#include <string.h>
#include "util/json_out.h"

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
static size_t json_escape_char(const unsigned char *s, char *dst, size_t *n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c = s[0];
	size_t len;

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
		p += json_escape_char(p, d, &n);
		d += n;
	}
	*d++ = '"';
	return (size_t)(d - dst);
}

void json_print_string(FILE *out, const char *s)
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
		p += json_escape_char(p, buf + used, &n);
		used += n;
	}
	buf[used++] = '"';
	fwrite(buf, 1, used, out);
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
