// SPDX-License-Identifier: MIT
/* Unit tests of user/cmd/run_modules.c: module names, docstring headings,
 * container names, the module listing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/run_modules.h"

static const char *heading(const char *src)
{
	static char out[RUN_HEADING_MAX];

	if (run_module__heading(src, strlen(src), out, sizeof(out)))
		return NULL;
	return out;
}

static void test_headings(void **state)
{
	(void)state;
	assert_string_equal(heading("\"\"\"Baseline: the smallest.\n\nMore.\n\"\"\"\nprint(1)\n"),
			    "Baseline: the smallest.");
	/* comments, blank lines, a byte order mark and a coding line come first */
	assert_string_equal(heading("\xef\xbb\xbf#!/usr/bin/python3\n# -*- coding: utf-8 -*-\n\n"
				    "'''  Single quotes.  '''\n"),
			    "Single quotes.");
	assert_string_equal(heading("r\"\"\"\n   Raw, on the second line.\n\"\"\""),
			    "Raw, on the second line.");
	assert_string_equal(heading("'one line'\n"), "one line");
	assert_string_equal(heading("\"\"\"Escaped \\\"\"\" quotes.\"\"\""),
			    "Escaped \\\"\"\" quotes.");
	/* not docstrings */
	assert_null(heading("import sys\n\"\"\"Too late.\"\"\"\n"));
	assert_null(heading("b\"\"\"Bytes.\"\"\""));
	assert_null(heading("f'Formatted {x}'"));
	assert_null(heading("\"\"\"Never closed.\n"));
	assert_null(heading("'broken\nacross lines'"));
	assert_null(heading("\"\"\"   \n\n\"\"\""));
	assert_null(heading(""));
	assert_null(heading("# only a comment"));
}

static void test_heading_bounds(void **state)
{
	char src[600], out[16];

	(void)state;
	memset(src, 'x', sizeof(src));
	memcpy(src, "\"\"\"", 3);
	memcpy(src + sizeof(src) - 3, "\"\"\"", 3);
	assert_int_equal(run_module__heading(src, sizeof(src), out, sizeof(out)), 0);
	assert_string_equal(out, "xxxxxxxxxxxxxxx");
	/* control characters do not reach the terminal */
	assert_string_equal(heading("\"\"\"a\tb\x1b[2Jc\"\"\""), "a b [2Jc");
}

static void test_names(void **state)
{
	char name[128];

	(void)state;
	assert_true(run_module__name_ok("test_baseline.py"));
	assert_true(run_module__name_ok("test_multiply_gc.collect.py"));
	assert_false(run_module__name_ok("test_baseline"));
	assert_false(run_module__name_ok(".py"));
	assert_false(run_module__name_ok("../test_x.py"));
	assert_false(run_module__name_ok("dir/test_x.py"));
	assert_false(run_module__name_ok("-rf.py"));
	assert_false(run_module__name_ok(".hidden.py"));
	assert_false(run_module__name_ok("a b.py"));
	run_module__container_name("test_multiply_gc.collect.py", "ab12cd", name, sizeof(name));
	assert_string_equal(name, "pymac-run-test_multiply_gc-collect-ab12cd");
}

static void test_list(void **state)
{
	char dir[] = "/tmp/pymac-test-modules.XXXXXX", path[128], **names;
	const char *files[] = {"test_b.py", "test_a.py", "helper.py", "test_c.txt"};
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		f = fopen(path, "w");
		assert_non_null(f);
		fclose(f);
	}
	assert_int_equal(run_modules__list(dir, &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "test_a.py");
	assert_string_equal(names[1], "test_b.py");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	assert_int_equal(run_modules__list(dir, &names, &n), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_headings),
	    cmocka_unit_test(test_heading_bounds),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
