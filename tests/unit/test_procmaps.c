// SPDX-License-Identifier: MIT
/* Unit tests for /proc/PID/maps parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "attach/procmaps.h"

static void test_normal_line(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(
	    procmaps__parse_line("7f2c1c000000-7f2c1c021000 r-xp 00001000 fd:01 1234567  "
				 "                 /usr/lib/x86_64-linux-gnu/libc.so.6\n",
				 &e),
	    0);
	assert_true(e.start == 0x7f2c1c000000ULL);
	assert_true(e.end == 0x7f2c1c021000ULL);
	assert_true(e.offset == 0x1000);
	assert_int_equal(e.dev_major, 0xfd);
	assert_int_equal(e.dev_minor, 1);
	assert_true(e.inode == 1234567);
	assert_string_equal(e.perms, "r-xp");
	assert_string_equal(e.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	assert_false(e.deleted);

	/* Without the trailing newline, and a 3-digit major (NVMe). */
	assert_int_equal(procmaps__parse_line("00400000-00401000 rw-s 00000000 103:02 42 /a", &e),
			 0);
	assert_true(e.start == 0x400000 && e.end == 0x401000);
	assert_int_equal(e.dev_major, 0x103);
	assert_int_equal(e.dev_minor, 2);
	assert_string_equal(e.perms, "rw-s");
	assert_string_equal(e.path, "/a");
}

static void test_anonymous_and_special(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(procmaps__parse_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0 \n", &e), 0);
	assert_string_equal(e.path, "");
	assert_true(e.inode == 0);
	assert_int_equal(procmaps__parse_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0", &e), 0);
	assert_string_equal(e.path, "");
	assert_int_equal(
	    procmaps__parse_line(
		"55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0          [heap]\n", &e),
	    0);
	assert_string_equal(e.path, "[heap]");
	assert_int_equal(
	    procmaps__parse_line("7ffc3c1f0000-7ffc3c211000 rw-p 00000000 00:00 0    [stack]", &e),
	    0);
	assert_string_equal(e.path, "[stack]");
	assert_int_equal(
	    procmaps__parse_line("7ffc3c3d2000-7ffc3c3d4000 r-xp 00000000 00:00 0   [vdso]", &e),
	    0);
	assert_string_equal(e.path, "[vdso]");
	assert_string_equal(e.perms, "r-xp");
	assert_int_equal(
	    procmaps__parse_line("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 "
				 "0                  [vsyscall]",
				 &e),
	    0);
	assert_true(e.start == 0xffffffffff600000ULL);
	assert_string_equal(e.path, "[vsyscall]");
}

static void test_spaces_and_deleted(void **state)
{
	struct maps_entry e;

	(void)state;
	assert_int_equal(procmaps__parse_line("1000-2000 r--p 00000000 08:01 77   /opt/my app/lib "
					      "x.so\n",
					      &e),
			 0);
	assert_string_equal(e.path, "/opt/my app/lib x.so");
	assert_false(e.deleted);

	assert_int_equal(
	    procmaps__parse_line("1000-2000 r-xp 00002000 08:01 77   /tmp/py (deleted)\n", &e), 0);
	assert_string_equal(e.path, "/tmp/py");
	assert_true(e.deleted);
	assert_true(e.offset == 0x2000);

	assert_int_equal(
	    procmaps__parse_line("1000-2000 rw-s 00000000 00:01 9   /memfd:jit (deleted)", &e), 0);
	assert_string_equal(e.path, "/memfd:jit");
	assert_true(e.deleted);

	/* The suffix alone is a (strange) name, not a deleted empty path. */
	assert_int_equal(procmaps__parse_line("1000-2000 rw-s 00000000 00:01 9  (deleted)", &e), 0);
	assert_string_equal(e.path, "(deleted)");
	assert_false(e.deleted);

	/* Trailing spaces belong to a file name. */
	assert_int_equal(procmaps__parse_line("1000-2000 rw-s 00000000 00:01 9  /x  ", &e), 0);
	assert_string_equal(e.path, "/x  ");
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "\n",
	    "garbage",
	    "1000-2000",
	    "1000 2000 r-xp 00000000 08:01 1 /x",
	    "1000-2000 r-xp",
	    "1000-2000 r-xp 00000000",
	    "1000-2000 r-xp 00000000 08:01",
	    "1000-2000 r-xp 00000000 0801 1 /x",
	    "1000-2000 rxxp 00000000 08:01 1 /x",
	    "1000-2000 r-x 00000000 08:01 1 /x",
	    "1000-2000 r-xq 00000000 08:01 1 /x",
	    "2000-1000 r-xp 00000000 08:01 1 /x", /* end before start */
	    "1000-2000 r-xp zz 08:01 1 /x",
	    "1000-2000 r-xp 00000000 08:01 x /x",
	    "1000-2000 r-xp 00000000 08:01 12ab /x",
	    "1000-2000 r-xp 00000000 08:01 1/x",
	    "11112222333344445-2000 r-xp 00000000 08:01 1 /x", /* 65 bits */
	    "1000-2000 r-xp 00000000 08:01 99999999999999999999 /x",
	    "1000-2000 r-xp 00000000 1000:01 1 /x", /* major beyond 12 bits */
	    "-2000 r-xp 00000000 08:01 1 /x",
	    " 1000-2000 r-xp 00000000 08:01 1 /x",
	};
	struct maps_entry e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (procmaps__parse_line(bad[i], &e) != -EINVAL)
			fail_msg("accepted malformed line %zu: '%s'", i, bad[i]);
	}
	assert_int_equal(procmaps__parse_line(NULL, &e), -EINVAL);
}

static void test_path_too_long(void **state)
{
	size_t prefix_len, total = 40 + PATH_MAX + 16;
	char *line = malloc(total);
	struct maps_entry e;

	(void)state;
	assert_non_null(line);
	prefix_len = (size_t)snprintf(line, total, "1000-2000 r--p 00000000 08:01 1 /");
	/* PATH_MAX - 1 characters fit with the terminator; one more does not. */
	memset(line + prefix_len, 'a', PATH_MAX - 2);
	line[prefix_len + PATH_MAX - 2] = '\0';
	assert_int_equal(procmaps__parse_line(line, &e), 0);
	assert_int_equal(strlen(e.path), PATH_MAX - 1);
	strcat(line, "b");
	assert_int_equal(procmaps__parse_line(line, &e), -EINVAL);
	/* ...unless the extra length is the " (deleted)" suffix. */
	line[strlen(line) - 1] = '\0';
	strcat(line, " (deleted)");
	assert_int_equal(procmaps__parse_line(line, &e), 0);
	assert_true(e.deleted);
	free(line);
}

static void test_parse_text(void **state)
{
	static const char text[] =
	    "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
	    "this line is broken\n"
	    "\n"
	    "00e03000-00e24000 rw-p 00000000 00:00 0           [heap]\n"
	    "7f2c1c000000-7f2c1c021000 r-xp 00001000 fd:01 1234567 /lib/libc.so.6 (deleted)\n"
	    "35b1a21000-35b1a22000 rw-p 00000000 00:00 0"; /* no final newline */
	struct maps_entry *v = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(procmaps__parse_text(text, strlen(text), &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].path, "/usr/bin/dbus-daemon");
	assert_string_equal(v[1].path, "[heap]");
	assert_string_equal(v[2].path, "/lib/libc.so.6");
	assert_true(v[2].deleted);
	assert_string_equal(v[3].path, "");
	assert_true(v[3].start == 0x35b1a21000ULL);
	free(v);

	/* A buffer cut in the middle of a line: the partial line is parsed
	 * as what it is, never read past len. */
	v = NULL;
	assert_int_equal(procmaps__parse_text(text, 30, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);

	v = NULL;
	assert_int_equal(procmaps__parse_text("", 0, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);

	/* Embedded NUL bytes make a line malformed, not truncated. */
	{
		static const char nul[] = "1000-2000 r--p 00000000 08:01 1 /a\0b\n"
					  "3000-4000 r--p 00000000 08:01 1 /c\n";
		v = NULL;
		assert_int_equal(procmaps__parse_text(nul, sizeof(nul) - 1, &v, &n), 0);
		assert_int_equal(n, 1);
		assert_string_equal(v[0].path, "/c");
		free(v);
	}
}

static void test_random_garbage(void **state)
{
	static const char alphabet[] = "0123456789abcdefABCDEF-: rwxps/\n[]()deleted\t\0";
	char buf[512];
	int iter;

	(void)state;
	srand(12345);
	for (iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % (int)sizeof(buf)), i;
		struct maps_entry *v = NULL;
		size_t n = 0;

		for (i = 0; i < len; i++)
			buf[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		assert_int_equal(procmaps__parse_text(buf, len, &v, &n), 0);
		for (i = 0; i < n; i++) {
			assert_true(v[i].start <= v[i].end);
			assert_true(strlen(v[i].path) < sizeof(v[i].path));
			assert_int_equal(strlen(v[i].perms), 4);
		}
		free(v);
	}
}

/* Addresses in this binary, libc, the stack and an anonymous mapping we
 * make ourselves must all be found in our own maps. */
static const struct maps_entry *find_addr(const struct maps_entry *v, size_t n, uintptr_t addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (addr >= v[i].start && addr < v[i].end)
			return &v[i];
	return NULL;
}

static void test_read_self(void **state)
{
	char exe[PATH_MAX];
	const struct maps_entry *m;
	struct maps_entry *v = NULL;
	struct stat st;
	size_t n = 0;
	ssize_t len;
	int local = 0;
	void *anon;

	(void)state;
	anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	assert_int_equal(procmaps__read(getpid(), &v, &n), 0);
	assert_true(n > 5);

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	m = find_addr(v, n, (uintptr_t)&test_read_self);
	assert_non_null(m);
	assert_string_equal(m->path, exe);
	assert_int_equal(m->perms[2], 'x');
	assert_int_equal(stat(exe, &st), 0);
	assert_true(m->inode == st.st_ino);

	/* a libc function ASan does not wrap (printf resolves into libasan) */
	m = find_addr(v, n, (uintptr_t)&getpid);
	assert_non_null(m);
	assert_non_null(strstr(m->path, "libc"));

	/* Usually [stack], but valgrind runs the program on its own
	 * anonymous stack. */
	m = find_addr(v, n, (uintptr_t)&local);
	assert_non_null(m);
	assert_int_equal(m->perms[1], 'w');
	assert_true(!strcmp(m->path, "[stack]") || m->path[0] == '\0');

	m = find_addr(v, n, (uintptr_t)anon);
	assert_non_null(m);
	assert_true(m->inode == 0);
	assert_int_equal(m->perms[0], 'r');
	assert_int_equal(m->perms[1], 'w');

	free(v);
	munmap(anon, 4096);
}

static void test_read_missing(void **state)
{
	struct maps_entry *v = NULL;
	size_t n = 0;

	(void)state;
	/* PIDs never reach this value (pid_max is at most 2^22). */
	assert_int_equal(procmaps__read(0x7ffffff0, &v, &n), -ENOENT);
	assert_int_equal(procmaps__read(0, &v, &n), -ENOENT);
	assert_int_equal(procmaps__read(-1, &v, &n), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normal_line),	       cmocka_unit_test(test_anonymous_and_special),
	    cmocka_unit_test(test_spaces_and_deleted), cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_path_too_long),      cmocka_unit_test(test_parse_text),
	    cmocka_unit_test(test_random_garbage),     cmocka_unit_test(test_read_self),
	    cmocka_unit_test(test_read_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
