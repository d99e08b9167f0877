/* SPDX-License-Identifier: MIT */
/*
 * The one JSON writer of every JSON output (summaries, event listings, ps,
 * exports, errors in JSON mode), after bpftool's json_writer: a stack of
 * objects and arrays that places the commas, the names and, when pretty,
 * the newlines and indentation, so no renderer formats JSON by hand. And
 * the string escaping under it, which makes any bytes valid JSON.
 */
#ifndef PYMAC_JSON_H
#define PYMAC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define JSONW_DEPTH 32

struct jsonw {
	FILE *out; /* NULL: into buf (jsonw_init_mem) */
	char *buf; /* the memory target's text, NUL-terminated */
	size_t len, cap;
	bool nomem;
	bool pretty; /* newlines and two-space indents; else one line, no spaces */
	bool script; /* strings safe inside an HTML <script> element */
	unsigned depth;
	bool named;		   /* a name was written: its value comes next */
	bool sep[JSONW_DEPTH + 1]; /* the container at this depth holds a value already */
	bool overflow;		   /* nested deeper than JSONW_DEPTH: output is invalid */
};

/* Write to out (which the writer does not own). */
void jsonw_init(struct jsonw *w, FILE *out, bool pretty);
/* Write into memory: the text is jsonw_mem's until jsonw_mem_reset (a
 * new document in the same buffer) or jsonw_free. */
void jsonw_init_mem(struct jsonw *w, bool pretty);
const char *jsonw_mem(const struct jsonw *w, size_t *len);
void jsonw_mem_reset(struct jsonw *w);
/* After a top-level value: a newline, and the next value is a document of
 * its own (JSON Lines). */
void jsonw_end_line(struct jsonw *w);
void jsonw_free(struct jsonw *w);
/* Strings will be safe inside an HTML <script> element too: no '<' (so no
 * "</script" or "<!--"), no '>' or '&', no U+2028/2029. */
void jsonw_script_safe(struct jsonw *w);
/* After the outermost value: a newline when pretty. 0, -ENOMEM (memory
 * target), or -EIO when out had a write error or the nesting overflowed. */
int jsonw_finish(struct jsonw *w);

void jsonw_start_object(struct jsonw *w);
void jsonw_end_object(struct jsonw *w);
void jsonw_start_array(struct jsonw *w);
void jsonw_end_array(struct jsonw *w);
/* The name of the next value in an object. */
void jsonw_name(struct jsonw *w, const char *name);

void jsonw_string(struct jsonw *w, const char *s); /* NULL writes "" */
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_int(struct jsonw *w, int64_t v);
/* printf's %.6g (fmt NULL) or fmt; NaN and infinities are written as null. */
void jsonw_float(struct jsonw *w, const char *fmt, double v);
/* v / 10^decimals with exactly that many decimals ("12.000345"), no float
 * (at most 19 decimals) */
void jsonw_fixed(struct jsonw *w, uint64_t v, unsigned decimals);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Text that is JSON already (a value written by another jsonw), as is. */
void jsonw_raw(struct jsonw *w, const char *s, size_t n);

/* name and value in one */
static inline void jsonw_string_field(struct jsonw *w, const char *name, const char *s)
{
	jsonw_name(w, name);
	jsonw_string(w, s);
}
static inline void jsonw_uint_field(struct jsonw *w, const char *name, uint64_t v)
{
	jsonw_name(w, name);
	jsonw_uint(w, v);
}
static inline void jsonw_int_field(struct jsonw *w, const char *name, int64_t v)
{
	jsonw_name(w, name);
	jsonw_int(w, v);
}
static inline void jsonw_bool_field(struct jsonw *w, const char *name, bool v)
{
	jsonw_name(w, name);
	jsonw_bool(w, v);
}
static inline void jsonw_float_field(struct jsonw *w, const char *name, const char *fmt, double v)
{
	jsonw_name(w, name);
	jsonw_float(w, fmt, v);
}
static inline void jsonw_null_field(struct jsonw *w, const char *name)
{
	jsonw_name(w, name);
	jsonw_null(w);
}

/*
 * Numbers as the writer and the event lines (views/event_print.c) write
 * them, into dst without a NUL; they return the bytes written. v in decimal
 * (at most 20 bytes):
 */
static inline size_t pm_format_u64(char *dst, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(dst, tmp + i, sizeof(tmp) - i);
	return sizeof(tmp) - i;
}

/* v / 10^decimals with exactly that many decimals (at most 19), no float:
 * "12.000345" (at most 40 bytes). */
static inline size_t pm_format_fixed(char *dst, uint64_t v, unsigned decimals)
{
	uint64_t p = 1;
	size_t n;

	for (unsigned i = 0; i < decimals && i < 19; i++)
		p *= 10;
	n = pm_format_u64(dst, v / p);
	if (!decimals)
		return n;
	dst[n++] = '.';
	v %= p;
	for (int i = (int)decimals - 1; i >= 0; i--, v /= 10)
		dst[n + (size_t)i] = (char)('0' + v % 10);
	return n + decimals;
}

/* Print s as a JSON string literal, quotes included. NULL prints "". Bytes
 * that are not valid UTF-8 are replaced by U+FFFD. */
void json_print_string(FILE *out, const char *s);

/* Worst-case bytes json_format_string writes for a string of len bytes. */
#define JSON_STRING_MAX(len) (6 * (size_t)(len) + 2)
/* Like json_print_string, into dst, which must hold JSON_STRING_MAX(strlen(s))
 * bytes. No NUL is appended. Returns the bytes written. */
size_t json_format_string(char *dst, const char *s);
/* Length of the UTF-8 character at s (NUL-terminated), 0 when the bytes
 * there are no valid one (overlong, surrogate, past U+10FFFF, cut short). */
size_t pm_utf8_len(const unsigned char *s);
/* s for a terminal: control characters and bytes that are not valid UTF-8
 * become '?'. dst must hold strlen(s) bytes; no NUL is appended. Returns
 * the bytes written. */
size_t text_format_string(char *dst, const char *s);

#endif /* PYMAC_JSON_H */
