/* SPDX-License-Identifier: MIT */
/*
 * Text that must fit a fixed buffer, shortened on purpose: never cut in
 * the middle of a word. A list that does not fit loses its last items and
 * says how many ("...(3 more)"); a sentence loses its last words ("...").
 */
#ifndef PYMAC_WORDS_H
#define PYMAC_WORDS_H

#include <stdarg.h>
#include <stddef.h>

/* The ellipsis the shortened text ends with (UTF-8). */
#define PM_ELLIPSIS "\xe2\x80\xa6"

/*
 * src into dst (len bytes, len > 0), whole when it fits. Otherwise cut
 * after the last whole item of a ", " or "; " list, or the last whole word,
 * that leaves room for the marker: "…(N more)" when list items were
 * dropped (N of them), else "…". Returns strlen(dst).
 */
size_t pm_shorten(char *dst, size_t len, const char *src);
/*
 * Append an item to the ", " list in buf (len bytes; "" is an empty list),
 * first before the first item: whole, or not at all and then counted in
 * the list's end marker "…(N more)". Items after the first that did not
 * fit are counted too, so the list never ends cut.
 */
void pm_list_add(char *buf, size_t len, const char *first, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* printf into dst, shortened as pm_shorten does. */
size_t pm_vfmt_words(char *dst, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
size_t pm_fmt_words(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* PYMAC_WORDS_H */
