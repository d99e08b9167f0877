// SPDX-License-Identifier: MIT
/* util/outfile.c: what pymac does with each kind of existing output path. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/outfile.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pymac-outfile-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *at(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void assert_text(const char *path, const char *want)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	assert_string_equal(buf, want);
}

/* No ".name.xxxxxxxx" left behind in dir. */
static void assert_no_temp(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q '^\\.[^.]'", dir);
	assert_int_not_equal(system(cmd), 0);
}

static void write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_replace_new_and_existing(void **state)
{
	struct pm_out o;
	char why[512];
	struct stat st;

	(void)state;
	assert_int_equal(pm_out_open(&o, at("a.csv"), PM_OUT_REPLACE, why, sizeof(why)), 0);
	write_str(o.fd, "one\n");
	/* not there until committed */
	assert_int_not_equal(access(at("a.csv"), F_OK), 0);
	assert_int_equal(pm_out_commit(&o, false, why, sizeof(why)), 0);
	assert_text(at("a.csv"), "one\n");
	assert_int_equal(stat(at("a.csv"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(pm_out_open(&o, at("a.csv"), PM_OUT_REPLACE, why, sizeof(why)), 0);
	write_str(o.fd, "two\n");
	assert_text(at("a.csv"), "one\n");
	assert_int_equal(pm_out_commit(&o, false, why, sizeof(why)), 0);
	assert_text(at("a.csv"), "two\n");

	/* a failed export leaves the old file whole and no partial one */
	assert_int_equal(pm_out_open(&o, at("a.csv"), PM_OUT_REPLACE, why, sizeof(why)), 0);
	write_str(o.fd, "partial");
	pm_out_abort(&o, false);
	assert_text(at("a.csv"), "two\n");
	assert_no_temp();
}

static void test_in_place_truncates(void **state)
{
	struct pm_out o;
	char why[512];

	(void)state;
	put(at("t.pmt"), "an old trace, longer than the new one\n");
	assert_int_equal(pm_out_open(&o, at("t.pmt"), PM_OUT_IN_PLACE, why, sizeof(why)), 0);
	write_str(o.fd, "new\n");
	/* written where it is: found under its name even if pymac dies now */
	assert_text(at("t.pmt"), "new\n");
	assert_int_equal(pm_out_commit(&o, false, why, sizeof(why)), 0);
	close(o.fd);
	assert_no_temp();
}

static void test_fifo_socket_device_refused(void **state)
{
	enum pm_out_mode modes[2] = {PM_OUT_REPLACE, PM_OUT_IN_PLACE};
	struct pm_out o;
	char why[512];
	struct stat st;

	(void)state;
	assert_int_equal(mkfifo(at("fifo"), 0600), 0);
	for (int m = 0; m < 2; m++) {
		/* refused at once: nothing opened the FIFO, so nothing blocked */
		assert_int_equal(pm_out_open(&o, at("fifo"), modes[m], why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "it is a FIFO"));
		assert_non_null(strstr(why, at("fifo")));
		assert_int_equal(pm_out_open(&o, "/dev/null", modes[m], why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "character device"));
	}
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(pm_out_open(&o, dir, PM_OUT_REPLACE, why, sizeof(why)), -EISDIR);
	assert_int_equal(pm_out_open(&o, at("sub/"), PM_OUT_REPLACE, why, sizeof(why)), -EISDIR);
	if (geteuid() == 0) {
		/* a device node made for the test stays a device */
		assert_int_equal(mknod(at("null"), S_IFCHR | 0600, makedev(1, 3)), 0);
		assert_int_equal(pm_out_open(&o, at("null"), PM_OUT_REPLACE, why, sizeof(why)),
				 -EINVAL);
		assert_int_equal(stat(at("null"), &st), 0);
		assert_true(S_ISCHR(st.st_mode));
	}
	assert_no_temp();
}

static void test_links(void **state)
{
	struct pm_out o;
	char why[512];

	(void)state;
	/* a link at the name is not followed */
	put(at("victim"), "keep me\n");
	assert_int_equal(symlink(at("victim"), at("link.pmt")), 0);
	assert_int_equal(pm_out_open(&o, at("link.pmt"), PM_OUT_IN_PLACE, why, sizeof(why)),
			 -ELOOP);
	assert_non_null(strstr(why, "symbolic link"));
	assert_int_equal(pm_out_open(&o, at("link.pmt"), PM_OUT_REPLACE, why, sizeof(why)), -ELOOP);
	assert_text(at("victim"), "keep me\n");

	/* one's own link on the way to the directory is followed */
	assert_int_equal(mkdir(at("real"), 0700), 0);
	assert_int_equal(symlink(at("real"), at("mine")), 0);
	assert_int_equal(pm_out_open(&o, at("mine/x.csv"), PM_OUT_REPLACE, why, sizeof(why)), 0);
	assert_int_equal(pm_out_commit(&o, false, why, sizeof(why)), 0);
	assert_int_equal(access(at("real/x.csv"), F_OK), 0);
	/* relative links too */
	assert_int_equal(symlink("real", at("rel")), 0);
	assert_int_equal(pm_out_open(&o, at("rel/y.csv"), PM_OUT_IN_PLACE, why, sizeof(why)), 0);
	close(o.fd);
	assert_int_equal(pm_out_commit(&o, true, why, sizeof(why)), 0);
	assert_int_equal(access(at("real/y.csv"), F_OK), 0);

	if (geteuid() != 0)
		return;
	/* another user's link to a directory, planted on the way, is not */
	assert_int_equal(mkdir(at("target"), 0700), 0);
	assert_int_equal(symlink(at("target"), at("planted")), 0);
	assert_int_equal(lchown(at("planted"), 65534, 65534), 0);
	assert_int_equal(
	    pm_out_open(&o, at("planted/victim.txt"), PM_OUT_IN_PLACE, why, sizeof(why)), -ELOOP);
	assert_non_null(strstr(why, "uid 65534"));
	assert_int_not_equal(access(at("target/victim.txt"), F_OK), 0);
	/* root's links are trusted: only root can have made them */
	assert_int_equal(lchown(at("planted"), 0, 0), 0);
	assert_int_equal(pm_out_open(&o, at("planted/ok.txt"), PM_OUT_IN_PLACE, why, sizeof(why)),
			 0);
	close(o.fd);
	assert_int_equal(pm_out_commit(&o, true, why, sizeof(why)), 0);
}

static void test_another_users_file(void **state)
{
	struct pm_out o;
	char why[512];

	(void)state;
	if (geteuid() != 0)
		skip();
	put(at("other.csv"), "someone else's\n");
	assert_int_equal(chown(at("other.csv"), 65534, 65534), 0);
	assert_int_equal(pm_out_open(&o, at("other.csv"), PM_OUT_REPLACE, why, sizeof(why)),
			 -EPERM);
	assert_non_null(strstr(why, "another user's file"));
	assert_int_equal(pm_out_open(&o, at("other.csv"), PM_OUT_IN_PLACE, why, sizeof(why)),
			 -EPERM);
	assert_text(at("other.csv"), "someone else's\n");
	/* the user sudo ran pymac for may replace their own */
	setenv("SUDO_UID", "65534", 1);
	assert_int_equal(pm_out_open(&o, at("other.csv"), PM_OUT_REPLACE, why, sizeof(why)), 0);
	pm_out_abort(&o, false);
	unsetenv("SUDO_UID");
	/* a missing directory says so */
	assert_int_equal(pm_out_open(&o, at("nodir/x"), PM_OUT_REPLACE, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "nodir"));
}

static void test_rotated_names(void **state)
{
	char *a = pm_out_rotated_name("/tmp/t.pmt", 1), *b = pm_out_rotated_name("trace", 12),
	     *c = pm_out_rotated_name(".pmt", 2);

	(void)state;
	assert_string_equal(a, "/tmp/t.1.pmt");
	assert_string_equal(b, "trace.12");
	/* nothing before the ending: it is no ending */
	assert_string_equal(c, ".pmt.2");
	free(a);
	free(b);
	free(c);
}

static void test_rotate_shifts_and_keeps(void **state)
{
	char why[512];

	(void)state;
	put(at("t.pmt"), "now");
	put(at("t.1.pmt"), "one");
	put(at("t.2.pmt"), "two");
	assert_int_equal(pm_out_rotate(at("t.pmt"), 2, why, sizeof(why)), 0);
	/* the oldest (two) is replaced: at most keep are kept */
	assert_text(at("t.1.pmt"), "now");
	assert_text(at("t.2.pmt"), "one");
	assert_int_equal(access(at("t.pmt"), F_OK), -1);
	assert_int_equal(access(at("t.3.pmt"), F_OK), -1);
	/* a gap is no error */
	put(at("t.pmt"), "new");
	assert_int_equal(unlink(at("t.1.pmt")), 0);
	assert_int_equal(pm_out_rotate(at("t.pmt"), 3, why, sizeof(why)), 0);
	assert_text(at("t.1.pmt"), "new");
	assert_text(at("t.3.pmt"), "one");
}

static void test_rotate_refuses_a_link(void **state)
{
	char why[512];

	(void)state;
	put(at("t.pmt"), "now");
	assert_int_equal(symlink("/etc/passwd", at("t.1.pmt")), 0);
	assert_int_equal(pm_out_rotate(at("t.pmt"), 2, why, sizeof(why)), -ELOOP);
	assert_non_null(strstr(why, "t.1.pmt"));
	assert_text(at("t.pmt"), "now");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_replace_new_and_existing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_place_truncates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_socket_device_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_links, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_another_users_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotated_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_shifts_and_keeps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_refuses_a_link, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
