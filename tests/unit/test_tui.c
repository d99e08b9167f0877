// SPDX-License-Identifier: MIT
/*
 * The full-screen view (views/tui.c) on a real pseudo-terminal: ncurses
 * draws to the pty's slave, made stdin and stdout of the test, and a
 * thread drains the master as a terminal emulator would. What the view
 * drew is read back from ncurses' screen; keys are typed into the master.
 */
#include <errno.h>
#include <pthread.h>
#include <pty.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curses.h>
#include <cmocka.h>
#include "model/timeline.h"
#include "views/tui.h"
#include "records.h"

#define MS 1000000ull
#define S  1000000000ull
#define T0 (1000 * S)

static int master = -1, saved_in = -1, saved_out = -1;
static pthread_t drainer;
static struct timeline *tl;
static struct tui *t; /* closed by teardown when a test fails with it open */

static void *drain(void *arg)
{
	char buf[4096];

	(void)arg;
	while (read(master, buf, sizeof(buf)) > 0 || errno == EINTR)
		;
	return NULL;
}

static int setup(void **state)
{
	struct winsize ws = {.ws_row = 30, .ws_col = 120};
	int slave;

	(void)state;
	if (openpty(&master, &slave, NULL, NULL, &ws))
		return -1;
	setenv("TERM", "xterm-256color", 1);
	fflush(stdout);
	saved_in = dup(STDIN_FILENO);
	saved_out = dup(STDOUT_FILENO);
	if (saved_in < 0 || saved_out < 0 || dup2(slave, STDIN_FILENO) < 0 ||
	    dup2(slave, STDOUT_FILENO) < 0)
		return -1;
	close(slave);
	if (pthread_create(&drainer, NULL, drain, NULL))
		return -1;
	tl = timeline__new(0, 0);
	return tl ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tui__close(t);
	t = NULL;
	timeline__free(tl);
	fflush(stdout);
	dup2(saved_in, STDIN_FILENO);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_in);
	close(saved_out);
	close(master); /* the drainer's read ends */
	pthread_join(drainer, NULL);
	return 0;
}

static void feed(const struct pm_record *r)
{
	assert_int_equal(timeline__sink(tl)->record(timeline__sink(tl), r), 0);
}

static void workload(void)
{
	struct pm_record r = {.type = PM_REC_CONTAINER};

	r.cont.ts_ns = T0;
	r.cont.cgroup_id = 42;
	r.cont.state = PM_CONTAINER_RUNNING;
	r.cont.runtime = "docker";
	r.cont.id = "";
	r.cont.name = "webshop-api-1";
	r.cont.image = "python:3.12-slim";
	r.cont.project = "";
	r.cont.service = "";
	feed(&r);
	for (uint64_t i = 0; i < 100; i++) {
		r = rec_event(300, 42, T0 + i * 10 * MS, PM_PY_MALLOC);
		r.ev.alloc.size = 64;
		r.ev.alloc.addr = 0x10000 + i * 64;
		feed(&r);
	}
	r = rec_event(301, 0, T0 + 500 * MS, PM_MALLOC);
	r.ev.alloc.size = 1 << 20;
	r.ev.alloc.addr = 0x7f0000000000;
	feed(&r);
}

/* Is s anywhere on the screen ncurses last drew? */
static bool on_screen(const char *s)
{
	char line[512];

	for (int y = 0; y < LINES; y++) {
		int n = mvinnstr(y, 0, line,
				 (int)sizeof(line) - 1 < COLS ? (int)sizeof(line) - 1 : COLS);

		if (n > 0 && strstr(line, s))
			return true;
	}
	return false;
}

static void type(const char *keys)
{
	assert_int_equal(write(master, keys, strlen(keys)), (ssize_t)strlen(keys));
}

static void test_draws_lanes_and_status(void **state)
{
	struct tui_opts o = {.title = "pymac unit"};

	(void)state;
	workload();
	t = tui__open(&o);
	assert_non_null(t);
	tui__set_status(t, "3 events lost");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 0), TUI_NONE);
	assert_int_equal(LINES, 30);
	assert_int_equal(COLS, 120);
	assert_true(on_screen("pymac unit"));
	assert_true(on_screen("webshop-api-1"));
	assert_true(on_screen("pid 301"));
	assert_true(on_screen("3 events lost"));
	assert_false(on_screen("pause / resume"));
	/* one way of writing sizes in the whole view (issue 21: the label
	 * column cut "8.2KB" to "8.2K" while the graph's said "16KB") */
	assert_true(on_screen("6.2K"));
	assert_true(on_screen("libc 1.0M"));
	assert_false(on_screen("KB"));
	assert_false(on_screen("MB"));
	tui__close(t);
	t = NULL;
}

static void test_keys(void **state)
{
	struct tui_opts o = {.title = "pymac unit", .replay = true};
	uint64_t zoom;

	(void)state;
	workload();
	t = tui__open(&o);
	assert_non_null(t);
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 0), TUI_NONE);
	/* help opens on ?, lists the replay keys, and any key closes it */
	type("?");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 200), TUI_NONE);
	assert_true(on_screen("pause / resume"));
	assert_true(on_screen("start of the trace"));
	type("x");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 200), TUI_NONE);
	assert_false(on_screen("start of the trace"));
	/* zoom out, pause, then the keys the caller acts on */
	zoom = tui__window_ns(t);
	type("+");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 200), TUI_NONE);
	assert_true(tui__window_ns(t) != zoom);
	type(" ");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 200), TUI_NONE);
	assert_true(tui__paused(t));
	type("g");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 1000), TUI_SEEK_START);
	type("c");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 1000), TUI_HOLD_GC);
	type("q");
	assert_int_equal(tui__update(t, tl, T0 + 1 * S, 1000), TUI_QUIT);
	tui__close(t);
	t = NULL;
}

/* One view at a time; without a terminal, ENOTTY. */
static void test_open_refusals(void **state)
{
	struct tui *again;
	int in;

	(void)state;
	t = tui__open(NULL);
	assert_non_null(t);
	again = tui__open(NULL);
	assert_null(again);
	assert_int_equal(errno, EBUSY);
	tui__close(t);
	t = NULL;

	in = dup(STDIN_FILENO);
	assert_true(in >= 0);
	assert_int_equal(dup2(saved_out, STDIN_FILENO), STDIN_FILENO);
	if (isatty(STDIN_FILENO)) {
		/* the test's own stdout is a terminal: nothing to show here */
		dup2(in, STDIN_FILENO);
		close(in);
		return;
	}
	assert_null(tui__open(NULL));
	assert_int_equal(errno, ENOTTY);
	dup2(in, STDIN_FILENO);
	close(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_draws_lanes_and_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
