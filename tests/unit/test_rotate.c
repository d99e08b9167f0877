// SPDX-License-Identifier: MIT
/*
 * user/trace/rotate.c: each rotated file starts with the state its events
 * need (metadata, running containers, live processes, their sources), and
 * no more (exited processes, stopped containers); lost counts per file.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "trace/rotate.h"
#include "trace/trace.h"
#include "util/outfile.h"

static char tmpdir[64];
static char path[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_rotate.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(path, sizeof(path), "%s/r.pmt", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

/* What one file holds, told apart by record type. */
struct seen {
	int meta, conts, running, procs, srcs, events, lost_recs;
	uint64_t lost, end_events;
	uint32_t proc_pids[8];
	char comm[8][32];
	bool complete;
};

static void read_file(const char *p, struct seen *s)
{
	char err[256];
	struct trace_reader *r = trace_reader__open(p, err, sizeof(err));
	struct pm_record rec;

	assert_non_null(r);
	memset(s, 0, sizeof(*s));
	while (trace_reader__next(r, &rec) == 1) {
		switch (rec.type) {
		case PM_REC_META:
			s->meta++;
			break;
		case PM_REC_CONTAINER:
			s->conts++;
			s->running += rec.cont.state == PM_CONTAINER_RUNNING;
			break;
		case PM_REC_PROCESS:
			s->proc_pids[s->procs] = rec.proc.pid;
			snprintf(s->comm[s->procs++], sizeof(s->comm[0]), "%s", rec.proc.comm);
			break;
		case PM_REC_SOURCE:
			s->srcs++;
			break;
		case PM_REC_EVENT:
			s->events++;
			break;
		case PM_REC_LOST:
			s->lost_recs++;
			s->lost = rec.lost.count;
			break;
		case PM_REC_END:
			s->end_events = rec.end.events;
			break;
		}
	}
	s->complete = trace_reader__complete(r);
	trace_reader__close(r);
}

static void put(struct trace_rotor *r, const struct pm_record *rec)
{
	struct pm_sink *sink = trace_rotor__sink(r);

	assert_int_equal(sink->record(sink, rec), 0);
}

static void put_proc(struct trace_rotor *r, uint32_t pid, const char *comm)
{
	struct pm_record rec = {.type = PM_REC_PROCESS};

	rec.proc = (struct pm_process){.ts_ns = 10,
				       .cgroup_id = 7,
				       .pid = pid,
				       .comm = comm,
				       .exe = "/usr/bin/python3",
				       .python = "/usr/bin/python3",
				       .python_version = "3.11"};
	put(r, &rec);
	rec = (struct pm_record){.type = PM_REC_SOURCE};
	rec.src = (struct pm_source){.ts_ns = 10,
				     .pid = pid,
				     .source = "pymalloc",
				     .status = PM_SRC_FULL,
				     .detail = "PyObject_Malloc"};
	put(r, &rec);
}

static void put_event(struct trace_rotor *r, uint32_t pid, enum pm_kind kind, uint64_t ts)
{
	struct pm_record rec = {.type = PM_REC_EVENT};

	rec.ev =
	    (struct pm_event){.ts_ns = ts, .cgroup_id = 7, .pid = pid, .tid = pid, .kind = kind};
	if (kind == PM_PY_MALLOC)
		rec.ev.alloc.size = 32, rec.ev.alloc.addr = 0x1000 + ts * 64;
	if (pm_kind_is_proc(kind))
		rec.ev.proc.comm = "worker", rec.ev.proc.path = kind == PM_EXEC ? "/usr/bin/w" : "";
	put(r, &rec);
}

static void put_lost(struct trace_rotor *r, uint32_t pid, uint64_t count)
{
	struct pm_record rec = {.type = PM_REC_LOST};

	rec.lost = (struct pm_lost){.ts_ns = 50, .pid = pid, .kind = PM_PY_MALLOC, .count = count};
	put(r, &rec);
}

static void put_container(struct trace_rotor *r, uint64_t cg, enum pm_container_state st)
{
	struct pm_record rec = {.type = PM_REC_CONTAINER};

	rec.cont = (struct pm_container){.ts_ns = 5,
					 .cgroup_id = cg,
					 .state = st,
					 .runtime = "docker",
					 .id = "abc",
					 .name = "web",
					 .image = "img",
					 .project = "",
					 .service = ""};
	put(r, &rec);
}

static void rotate_now(struct trace_rotor *r, uint64_t now)
{
	char why[256];

	/* max age 0 flushes what is open; 1 byte is always reached */
	assert_int_equal(trace_rotor__maybe_flush(r, now, 0, why, sizeof(why)), 0);
}

static void test_each_file_has_its_state(void **state)
{
	struct pm_trace_info info = {.version = PM_TRACE_VERSION, .start_ns = 1};
	struct trace_rotor *r = trace_rotor__open(path, &info, 1, 5);
	struct pm_record meta = {.type = PM_REC_META, .meta = {"pymac_version", "x"}};
	struct pm_end end = {.ts_ns = 1000, .events = 999};
	struct seen s;
	char *p1 = pm_out_rotated_name(path, 1), *p2 = pm_out_rotated_name(path, 2);

	(void)state;
	assert_non_null(r);
	put(r, &meta);
	put_container(r, 7, PM_CONTAINER_RUNNING);
	put_container(r, 8, PM_CONTAINER_RUNNING);
	put_proc(r, 100, "python3");
	put_proc(r, 101, "python3");
	for (uint64_t t = 20; t < 30; t++)
		put_event(r, 100, PM_PY_MALLOC, t);
	put_lost(r, 100, 5);
	rotate_now(r, 100);
	/* second file: pid 100 execs, 101 exits, container 8 stops */
	put_event(r, 100, PM_EXEC, 110);
	put_event(r, 101, PM_EXIT, 111);
	put_container(r, 8, PM_CONTAINER_STOPPED);
	put_lost(r, 100, 7);
	rotate_now(r, 200);
	put_event(r, 100, PM_PY_MALLOC, 210);
	assert_int_equal(trace_rotor__rotations(r), 2);
	assert_int_equal(trace_rotor__close(r, &end), 0);

	/* the oldest: everything as it came */
	read_file(p2, &s);
	assert_true(s.complete);
	assert_int_equal(s.events, 10);
	assert_int_equal(s.end_events, 10);
	assert_int_equal(s.procs, 2);
	assert_int_equal(s.lost, 5);
	/* the second: the state again, then its own records */
	read_file(p1, &s);
	assert_true(s.complete);
	assert_int_equal(s.meta, 1);
	assert_int_equal(s.conts, 3); /* 7 and 8 running, 8's stop */
	assert_int_equal(s.procs, 2);
	assert_int_equal(s.srcs, 2);
	assert_int_equal(s.events, 2);
	assert_int_equal(s.end_events, 2);
	assert_int_equal(s.lost, 2); /* 7 - 5: only what was lost in it */
	/* the last: 101 has exited, 8 stopped; 100 under its exec's name */
	read_file(path, &s);
	assert_true(s.complete);
	assert_int_equal(s.meta, 1);
	assert_int_equal(s.conts, 1);
	assert_int_equal(s.running, 1);
	assert_int_equal(s.procs, 1);
	assert_int_equal(s.proc_pids[0], 100);
	assert_string_equal(s.comm[0], "worker");
	assert_int_equal(s.srcs, 1);
	assert_int_equal(s.lost_recs, 0);
	assert_int_equal(s.events, 1);
	assert_int_equal(s.end_events, 1);
	free(p1);
	free(p2);
}

static void test_without_a_size_it_never_rotates(void **state)
{
	struct pm_trace_info info = {.version = PM_TRACE_VERSION, .start_ns = 1};
	struct trace_rotor *r = trace_rotor__open(path, &info, 0, 5);
	struct pm_end end = {.ts_ns = 1000, .events = 3};
	struct seen s;
	char *p1 = pm_out_rotated_name(path, 1);

	(void)state;
	assert_non_null(r);
	put_proc(r, 100, "python3");
	for (uint64_t t = 20; t < 23; t++)
		put_event(r, 100, PM_PY_MALLOC, t);
	put_lost(r, 100, 4);
	rotate_now(r, 100);
	assert_int_equal(trace_rotor__rotations(r), 0);
	assert_int_equal(trace_rotor__close(r, &end), 0);
	read_file(path, &s);
	assert_true(s.complete);
	assert_int_equal(s.end_events, 3);
	assert_int_equal(s.lost, 4);
	assert_int_equal(access(p1, F_OK), -1);
	free(p1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_each_file_has_its_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_without_a_size_it_never_rotates, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
