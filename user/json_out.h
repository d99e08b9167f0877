/* SPDX-License-Identifier: MIT */
/* Writing JSON strings safely (escaping) for the JSON renderers. */
#ifndef PYMAC_JSON_OUT_H
#define PYMAC_JSON_OUT_H

#include <stdio.h>

/* Print s as a JSON string literal, quotes included. NULL prints "". Bytes
 * that are not valid UTF-8 are replaced by U+FFFD. */
void json_print_string(FILE *out, const char *s);

#endif /* PYMAC_JSON_OUT_H */
