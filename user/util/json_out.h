/* SPDX-License-Identifier: MIT */
/* Writing JSON strings safely (escaping) for the JSON renderers. */
#ifndef PYMAC_JSON_OUT_H
#define PYMAC_JSON_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Print s as a JSON string literal, quotes included. NULL prints "". Bytes
 * that are not valid UTF-8 are replaced by U+FFFD. */
void json_print_string(FILE *out, const char *s);

/* Worst-case bytes json_format_string writes for a string of len bytes. */
#define JSON_STRING_MAX(len) (6 * (size_t)(len) + 2)
/* Like json_print_string, into dst, which must hold JSON_STRING_MAX(strlen(s))
 * bytes. No NUL is appended. Returns the bytes written. */
size_t json_format_string(char *dst, const char *s);
/* s for a terminal: control characters and bytes that are not valid UTF-8
 * become '?'. dst must hold strlen(s) bytes; no NUL is appended. Returns
 * the bytes written. */
size_t text_format_string(char *dst, const char *s);

#endif /* PYMAC_JSON_OUT_H */
