// SPDX-License-Identifier: MIT
/* Text shortened on purpose (util/words.h): never cut inside a word. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "util/words.h"

/* Every word of out is a word of src, or a word of src cut at the marker
 * ("…"): out ends at a boundary of src. */
static void assert_whole_words(const char *out, const char *src)
{
	const char *e = strstr(out, PM_ELLIPSIS);
	size_t keep = e ? (size_t)(e - out) : strlen(out);

	assert_memory_equal(out, src, keep);
	if (e) {
		char next = src[keep];

		/* the text before the marker ends where src has a boundary */
		assert_true(next == ' ' || next == ',' || next == ';');
		assert_true(keep == 0 || out[keep - 1] != ' ');
		assert_true(keep == 0 || (out[keep - 1] != ',' && out[keep - 1] != ';'));
	}
}

static void test_fits_whole(void **state)
{
	char b[32];

	(void)state;
	assert_int_equal(pm_shorten(b, sizeof(b), "short enough"), 12);
	assert_string_equal(b, "short enough");
	assert_int_equal(pm_shorten(b, 13, "short enough"), 12);
	assert_string_equal(b, "short enough");
}

/* The case: a search list cut at 319 bytes, "(searched /usr/l". */
static void test_list_loses_items(void **state)
{
	const char *src = "no debug info found for /usr/bin/python3.11 (searched /usr/lib/debug, "
			  "/usr/local/lib/debug, /opt/debug, /srv/debug)";
	char b[100];
	size_t n;

	(void)state;
	n = pm_shorten(b, sizeof(b), src);
	assert_true(n < sizeof(b));
	assert_whole_words(b, src);
	/* the items after the last whole one are counted */
	assert_non_null(strstr(b, PM_ELLIPSIS "(3 more)"));
	assert_string_equal(
	    b, "no debug info found for /usr/bin/python3.11 (searched /usr/lib/debug" PM_ELLIPSIS
	       "(3 more)");
}

static void test_sentence_loses_words(void **state)
{
	const char *src = "the collector in /usr/bin/python3.11 reading the generation stats";
	char b[40];

	(void)state;
	pm_shorten(b, sizeof(b), src);
	assert_whole_words(b, src);
	assert_string_equal(b, "the collector in /usr/bin/python3.11" PM_ELLIPSIS);
}

/* Every length from tiny to whole: never a cut word, never past the buffer. */
static void test_every_length(void **state)
{
	const char *src =
	    "LTO build that inlines the allocator: 204 calls through its allocator "
	    "table, found in the machine code of /usr/bin/python3.11 (0 partial), 190 "
	    "emulated; no debug info found; frees not sized: no symbol of pymalloc's "
	    "arenas (block addresses unknown at inlined calls)";
	char b[512];

	(void)state;
	for (size_t len = 1; len <= strlen(src) + 1; len++) {
		memset(b, 'x', sizeof(b));
		assert_true(pm_shorten(b, len, src) < len);
		assert_int_equal(b[len], 'x');
		assert_whole_words(b, src);
	}
}

static void test_fmt_words(void **state)
{
	char b[24];

	(void)state;
	pm_fmt_words(b, sizeof(b), "%s at %d (%s)", "PyObject_Malloc", 12, "no symbol");
	assert_string_equal(b, "PyObject_Malloc at" PM_ELLIPSIS);
}

/* A list built item by item: whole items, then one count of the others. */
static void test_list_add(void **state)
{
	char b[64] = "";

	(void)state;
	pm_list_add(b, sizeof(b), "skipped ", "%s", "gc_collect_main");
	assert_string_equal(b, "skipped gc_collect_main");
	pm_list_add(b, sizeof(b), "skipped ", "%s", "collect.constprop.0");
	assert_string_equal(b, "skipped gc_collect_main, collect.constprop.0");
	pm_list_add(b, sizeof(b), "skipped ", "%s", "gc_collect_with_callback");
	assert_string_equal(b,
			    "skipped gc_collect_main, collect.constprop.0" PM_ELLIPSIS "(1 more)");
	pm_list_add(b, sizeof(b), "skipped ", "%s", "x");
	assert_string_equal(b,
			    "skipped gc_collect_main, collect.constprop.0" PM_ELLIPSIS "(2 more)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fits_whole),
	    cmocka_unit_test(test_list_loses_items),
	    cmocka_unit_test(test_sentence_loses_words),
	    cmocka_unit_test(test_every_length),
	    cmocka_unit_test(test_fmt_words),
	    cmocka_unit_test(test_list_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
