// SPDX-License-Identifier: MIT
/* Timeline model tests, fed with records built in memory. The last test
 * prints the sink's throughput and the model's memory (figures, not
 * assertions). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "model/timeline.h"
#include "records.h"

#define MS 1000000ull
#define S  1000000000ull
#define T0 (1000 * S) /* traces start well after the clock's zero */

static struct timeline *tl;

static int setup(void **state)
{
	(void)state;
	tl = timeline__new(0, 0);
	return tl ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	timeline__free(tl);
	tl = NULL;
	return 0;
}

static void feed(const struct pm_record *r)
{
	assert_int_equal(timeline__sink(tl)->record(timeline__sink(tl), r), 0);
}

static void alloc(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t size, uint64_t addr,
		  uint64_t old)
{
	struct pm_record r = rec_event(pid, 1, ts, kind);

	r.ev.alloc.size = size;
	r.ev.alloc.addr = addr;
	r.ev.alloc.old_addr = old;
	feed(&r);
}

static void dofree(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t addr)
{
	struct pm_record r = rec_event(pid, 1, ts, kind);

	r.ev.free.addr = addr;
	feed(&r);
}

static void dealloc(uint32_t pid, uint64_t ts, const char *type)
{
	struct pm_record r = rec_event(pid, 1, ts, PM_PY_DEALLOC);
	char buf[64];

	/* the sink may keep no pointer into the record */
	snprintf(buf, sizeof(buf), "%s", type);
	r.ev.dealloc.type_name = buf;
	feed(&r);
	memset(buf, 'x', sizeof(buf) - 1);
}

static void gc(uint32_t pid, uint64_t ts, enum pm_kind kind, int gen, int64_t collected,
	       uint64_t dur)
{
	struct pm_record r = rec_event(pid, 1, ts, kind);

	r.ev.gc.generation = gen;
	r.ev.gc.source = PM_GC_SRC_UPROBE;
	r.ev.gc.collected = collected;
	r.ev.gc.duration_ns = dur;
	feed(&r);
}

static void proc_ev(uint32_t pid, uint64_t cgroup, uint64_t ts, enum pm_kind kind, const char *comm,
		    const char *path)
{
	struct pm_record r = rec_event(pid, cgroup, ts, kind);

	r.ev.proc.comm = comm;
	r.ev.proc.path = path;
	feed(&r);
}

static void process(uint32_t pid, uint64_t cgroup, uint64_t ts, const char *comm,
		    const char *python, const char *version)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_PROCESS;
	r.proc.ts_ns = ts;
	r.proc.cgroup_id = cgroup;
	r.proc.pid = pid;
	r.proc.comm = comm;
	r.proc.exe = "/usr/bin/exe";
	r.proc.python = python;
	r.proc.python_version = version;
	feed(&r);
}

static void container(uint64_t cgroup, uint64_t ts, enum pm_container_state st, const char *name,
		      const char *service, const char *image)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_CONTAINER;
	r.cont.ts_ns = ts;
	r.cont.cgroup_id = cgroup;
	r.cont.state = st;
	r.cont.runtime = "docker";
	r.cont.id = "0123456789abcdef";
	r.cont.name = name;
	r.cont.image = image;
	r.cont.project = "proj";
	r.cont.service = service;
	feed(&r);
}

static void source(uint32_t pid, const char *name, enum pm_source_status st)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_SOURCE;
	r.src.ts_ns = T0;
	r.src.pid = pid;
	r.src.source = name;
	r.src.status = st;
	r.src.detail = "some detail";
	feed(&r);
}

static void lost(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t count)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_LOST;
	r.lost.ts_ns = ts;
	r.lost.pid = pid;
	r.lost.kind = kind;
	r.lost.count = count;
	feed(&r);
}

/* The whole of lane's history as one slice. */
static struct tl_bucket total(size_t lane)
{
	struct tl_bucket b;

	assert_int_equal(timeline__series(tl, lane, 0, timeline__now_ns(tl) + 1, &b, 1), 1);
	return b;
}

static void test_lanes(void **state)
{
	const struct lg_lane *li;

	(void)state;
	container(100, T0, PM_CONTAINER_RUNNING, "proj_web_1", "web", "python:3.11-slim");
	container(200, T0, PM_CONTAINER_RUNNING, "lonely", "", "alpine");
	process(10, 100, T0 + 1, "python3", "/usr/local/bin/python3.11", "3.11");
	process(20, 555, T0 + 2, "worker", "", "");
	alloc(30, T0 + 3, PM_PY_MALLOC, 8, 0x1000, 0); /* cgroup 1: no container */
	{
		/* no PROCESS record: its events' cgroup says where it belongs */
		struct pm_record r = rec_event(31, 100, T0 + 4, PM_PY_MALLOC);

		r.ev.alloc.size = 16;
		r.ev.alloc.addr = 0x2000;
		feed(&r);
	}
	source(10, "pymalloc", PM_SRC_PARTIAL);
	source(10, "dealloc", PM_SRC_FULL);
	source(31, "dealloc", PM_SRC_PARTIAL);
	source(20, "libc", PM_SRC_PARTIAL);
	source(20, "libc", PM_SRC_FULL); /* a later record supersedes */

	assert_int_equal(timeline__lane_count(tl), 4);
	li = timeline__lane(tl, 0);
	assert_string_equal(li->name, "web");
	assert_string_equal(li->detail, "python:3.11-slim");
	assert_string_equal(li->interpreter, "python 3.11");
	assert_true((li->kind == LG_LANE_CONTAINER));
	assert_int_equal(li->cgroup_id, 100);
	assert_int_equal(li->npids, 2);
	assert_int_equal(li->pids[0], 10);
	assert_int_equal(li->pids[1], 31);
	assert_true(li->partial);
	assert_string_equal(li->partial_what, "pymalloc, dealloc");
	assert_false(li->ended);
	assert_int_equal(li->lv.py_net, 16);

	li = timeline__lane(tl, 1);
	assert_string_equal(li->name, "lonely");
	assert_int_equal(li->npids, 0);

	li = timeline__lane(tl, 2);
	assert_string_equal(li->name, "pid 20 worker");
	assert_string_equal(li->detail, "/usr/bin/exe");
	assert_string_equal(li->interpreter, "");
	assert_false((li->kind == LG_LANE_CONTAINER));
	assert_false(li->partial);

	li = timeline__lane(tl, 3);
	assert_string_equal(li->name, "pid 30");
	assert_int_equal(li->lv.py_net, 8);
	proc_ev(30, 1, T0 + 5, PM_EXIT, "sleepy", "");
	assert_string_equal(li->name, "pid 30 sleepy");
	assert_true(li->ended);
	assert_int_equal(li->lv.py_net, 0); /* what it held went with it */
	assert_null(timeline__lane(tl, 4));

	container(100, T0 + 6, PM_CONTAINER_STOPPED, "", "", "");
	li = timeline__lane(tl, 0);
	assert_true(li->ended);
	assert_string_equal(li->name, "web"); /* empty strings keep what was known */
	assert_int_equal(timeline__start_ns(tl), T0);
	assert_int_equal(timeline__now_ns(tl), T0 + 6);
}

/* A process seen before its container record: its lane becomes the container's. */
static void test_container_late(void **state)
{
	const struct lg_lane *li;

	(void)state;
	process(10, 100, T0, "python3", "/p", "3.12");
	process(11, 100, T0, "python3", "/p", "3.12");
	alloc(11, T0 + MS, PM_MALLOC, 100, 0x10, 0);
	container(100, T0 + 2 * MS, PM_CONTAINER_RUNNING, "c", "", "img");
	li = timeline__lane(tl, 0);
	assert_true((li->kind == LG_LANE_CONTAINER));
	assert_string_equal(li->name, "c");
	assert_string_equal(li->detail, "img");
	assert_int_equal(li->npids, 2);
	assert_int_equal(li->lv.libc_net, 100);
	assert_int_equal(timeline__lane(tl, 1)->lv.libc_net, 0);
	dofree(11, T0 + 3 * MS, PM_FREE, 0x10);
	assert_int_equal(li->lv.libc_net, 0);
	assert_int_equal(li->tot.unmatched_frees, 0);
}

static void test_free_sizing(void **state)
{
	const struct lg_lane *li;
	struct tl_bucket b;

	(void)state;
	alloc(1, T0, PM_PY_MALLOC, 100, 0xa0, 0);
	alloc(1, T0, PM_PY_CALLOC, 50, 0xb0, 0);
	alloc(1, T0, PM_MALLOC, 1000, 0xa0, 0); /* same address, other allocator */
	alloc(1, T0, PM_PY_REALLOC, 300, 0xc0, 0xa0);
	alloc(1, T0, PM_PY_REALLOC, 10, 0, 0xb0);   /* failed: the old block stays */
	alloc(1, T0, PM_REALLOC, 2000, 0xa0, 0xa0); /* in place */
	dofree(1, T0, PM_PY_FREE, 0xb0);
	dofree(1, T0, PM_PY_FREE, 0xdead); /* never seen */
	dofree(1, T0, PM_PY_FREE, 0);	   /* free(NULL) */
	alloc(1, T0, PM_MALLOC, 7, 0, 0);  /* failed */

	li = timeline__lane(tl, 0);
	b = total(0);
	assert_int_equal(b.py_allocs, 4);
	assert_int_equal(b.py_frees, 3);
	/* requested, successful or not (an inlined copy's has no address) */
	assert_int_equal(b.py_alloc_bytes, 100 + 50 + 300 + 10);
	assert_int_equal(b.py_free_bytes, 100 + 50);
	assert_int_equal(b.py_net, 300);
	assert_int_equal(b.libc_allocs, 3);
	assert_int_equal(b.libc_alloc_bytes, 1000 + 2000 + 7);
	assert_int_equal(b.libc_free_bytes, 1000);
	assert_int_equal(b.libc_net, 2000);
	assert_int_equal(li->lv.py_net, 300);
	assert_int_equal(li->lv.libc_net, 2000);
	assert_int_equal(li->tot.unmatched_frees, 1);

	/* realloc(p, 0) that returns NULL freed p */
	alloc(1, T0 + 1, PM_REALLOC, 0, 0, 0xa0);
	assert_int_equal(li->lv.libc_net, 0);
	/* a realloc of an unseen block is an unmatched free */
	alloc(1, T0 + 2, PM_PY_REALLOC, 8, 0xe0, 0xf0);
	assert_int_equal(li->tot.unmatched_frees, 2);
	assert_int_equal(li->lv.py_net, 308);
}

static void free_block(uint32_t pid, uint64_t ts, uint64_t addr, uint32_t block)
{
	struct pm_record r = rec_event(pid, 1, ts, PM_PY_FREE);

	r.ev.free.addr = addr;
	r.ev.free.block = block;
	feed(&r);
}

static void realloc_block(uint32_t pid, uint64_t ts, uint64_t size, uint64_t old, uint32_t block)
{
	struct pm_record r = rec_event(pid, 1, ts, PM_PY_REALLOC);

	r.ev.alloc.size = size;
	r.ev.alloc.old_addr = old;
	r.ev.alloc.old_block = block;
	feed(&r);
}

/* An LTO build: allocations at inlined copies have no address, frees are
 * sized from pool headers (pyblock.h). */
static void test_pool_sized_frees(void **state)
{
	const struct lg_lane *li;
	struct tl_bucket b;

	(void)state;
	alloc(2, T0, PM_PY_MALLOC, 100, 0, 0); /* 112-byte block, held until sized */
	alloc(2, T0, PM_PY_MALLOC, 600, 0, 0); /* malloc's: not held */
	li = timeline__lane(tl, 0);
	assert_int_equal(li->lv.py_net, 0);
	free_block(2, T0, 0x1000, 112); /* the first sized free */
	assert_int_equal(li->lv.py_net, 0);
	alloc(2, T0, PM_PY_MALLOC, 20, 0, 0); /* +32 */
	realloc_block(2, T0, 40, 0x2000, 32); /* grows out of its class: -32 +48 */
	assert_int_equal(li->lv.py_net, 48);
	realloc_block(2, T0, 30, 0x3000, 48); /* shrinks by more than a quarter: -48 +32 */
	realloc_block(2, T0, 30, 0x3000, 32); /* shrinks less: stays, -32 +32 */
	assert_int_equal(li->lv.py_net, 32);
	/* a block of a class none is held of: allocated before tracing, or
	 * where the allocation was not seen */
	free_block(2, T0, 0x7000, 64);
	assert_int_equal(li->lv.py_net, 32);
	free_block(2, T0, 0x4000, PM_BLOCK_RAW);	 /* malloc's, never seen */
	free_block(2, T0, 0x5000, PM_BLOCK_UNKNOWN);	 /* not sized */
	realloc_block(2, T0, 100, 0x6000, PM_BLOCK_RAW); /* stays malloc's */
	b = total(0);
	assert_int_equal(li->lv.py_net, 32);
	assert_int_equal(b.py_net, 32);
	assert_int_equal(b.py_allocs, 7);
	assert_int_equal(b.py_frees, 4);
	assert_int_equal(b.py_alloc_bytes, 100 + 600 + 20 + 40 + 30 + 30 + 100);
	assert_int_equal(b.py_free_bytes, 112 + 32 + 48 + 32);
	assert_int_equal(li->tot.unmatched_frees, 4);
}

static void test_net_series(void **state)
{
	struct tl_bucket out[10];

	(void)state;
	/* +1000 in bucket 0, nothing for 4 buckets, -400 in bucket 5, +10 in 9 */
	alloc(1, T0 + 1 * MS, PM_PY_MALLOC, 600, 0x10, 0);
	alloc(1, T0 + 2 * MS, PM_PY_MALLOC, 400, 0x20, 0);
	dofree(1, T0 + 55 * MS, PM_PY_FREE, 0x20);
	alloc(1, T0 + 95 * MS, PM_PY_MALLOC, 10, 0x30, 0);
	timeline__advance(tl, T0 + 200 * MS);

	assert_int_equal(timeline__series(tl, 0, T0, T0 + 100 * MS, out, 10), 10);
	assert_int_equal(out[0].py_allocs, 2);
	assert_int_equal(out[0].py_net, 1000);
	for (int i = 1; i < 5; i++) {
		assert_int_equal(out[i].py_allocs, 0);
		assert_int_equal(out[i].py_net, 1000);
	}
	assert_int_equal(out[5].py_frees, 1);
	assert_int_equal(out[5].py_free_bytes, 400);
	assert_int_equal(out[5].py_net, 600);
	assert_int_equal(out[8].py_net, 600);
	assert_int_equal(out[9].py_net, 610);

	/* wider slices add up; a window starting later carries the net in */
	assert_int_equal(timeline__series(tl, 0, T0 + 30 * MS, T0 + 130 * MS, out, 2), 2);
	assert_int_equal(out[0].py_frees, 1);
	assert_int_equal(out[0].py_net, 600);
	assert_int_equal(out[1].py_allocs, 1);
	assert_int_equal(out[1].py_net, 610);

	/* before the lane: zero; after now: no counts, the levels as at now */
	assert_int_equal(timeline__series(tl, 0, T0 - 100 * MS, T0 + 300 * MS, out, 4), 4);
	assert_int_equal(out[0].py_net, 0);
	assert_int_equal(out[0].py_allocs, 0);
	assert_int_equal(out[1].py_allocs, 3);
	assert_int_equal(out[1].py_net, 610);
	assert_int_equal(out[2].py_net, 610); /* idle up to now */
	assert_int_equal(out[3].py_net, 610); /* the bucket of now */
	assert_int_equal(timeline__series(tl, 0, T0 + 210 * MS, T0 + 300 * MS, out, 1), 1);
	assert_int_equal(out[0].py_net, 610);
	assert_int_equal(out[0].py_allocs, 0);

	/* an unaligned window: the bucket of "now" is in the last slice */
	assert_int_equal(timeline__series(tl, 0, T0 + 5 * MS, T0 + 96 * MS, out, 1), 1);
	assert_int_equal(out[0].py_allocs, 1);
	assert_int_equal(out[0].py_frees, 1);

	/* an event a little out of order changes the buckets since */
	alloc(1, T0 + 15 * MS, PM_PY_MALLOC, 5, 0x40, 0);
	assert_int_equal(timeline__series(tl, 0, T0, T0 + 100 * MS, out, 10), 10);
	assert_int_equal(out[0].py_net, 1000);
	assert_int_equal(out[1].py_allocs, 1);
	assert_int_equal(out[1].py_net, 1005);
	assert_int_equal(out[9].py_net, 615);

	assert_int_equal(timeline__series(tl, 7, T0, T0 + 1, out, 1), -EINVAL);
}

static void test_gc_markers(void **state)
{
	const struct lg_lane *li;
	struct tl_gc g[8];
	struct tl_bucket b[2];

	(void)state;
	gc(1, T0 + 100 * MS, PM_GC_START, 0, -1, 0);
	gc(1, T0 + 110 * MS, PM_GC_DONE, 0, 42, 10 * MS);
	gc(1, T0 + 300 * MS, PM_GC_START, 2, -1, 0);
	gc(1, T0 + 500 * MS, PM_GC_DONE, 2, 7, 200 * MS);
	/* done without start */
	gc(1, T0 + 700 * MS, PM_GC_DONE, 1, 3, 50 * MS);
	gc(1, T0 + 800 * MS, PM_GC_START, 0, -1, 0); /* still running */

	li = timeline__lane(tl, 0);
	assert_int_equal(li->tot.gc_gen[0], 1);
	assert_int_equal(li->tot.gc_gen[1], 1);
	assert_int_equal(li->tot.gc_gen[2], 1);

	assert_int_equal(timeline__gcs(tl, 0, T0, T0 + S, g, 8), 4);
	assert_int_equal(g[0].start_ns, T0 + 100 * MS);
	assert_int_equal(g[0].end_ns, T0 + 110 * MS);
	assert_int_equal(g[0].collected, 42);
	assert_int_equal(g[0].generation, 0);
	assert_int_equal(g[0].pid, 1);
	assert_int_equal(g[2].start_ns, T0 + 650 * MS);
	assert_int_equal(g[2].end_ns, T0 + 700 * MS);
	assert_int_equal(g[2].generation, 1);
	assert_int_equal(g[3].end_ns, 0);

	/* windows that cut collections still see them */
	assert_int_equal(timeline__gcs(tl, 0, T0 + 400 * MS, T0 + 660 * MS, g, 8), 2);
	assert_int_equal(g[0].generation, 2);
	assert_int_equal(g[1].generation, 1);
	assert_int_equal(timeline__gcs(tl, 0, T0 + 105 * MS, T0 + 106 * MS, g, 8), 1);
	assert_int_equal(timeline__gcs(tl, 0, T0 + 110 * MS, T0 + 300 * MS, g, 8), 0);
	assert_int_equal(timeline__gcs(tl, 0, T0 + 5 * S, T0 + 6 * S, g, 8), 1); /* running */
	/* at most max, the oldest */
	assert_int_equal(timeline__gcs(tl, 0, T0, T0 + S, g, 2), 2);
	assert_int_equal(g[0].start_ns, T0 + 100 * MS);
	assert_int_equal(g[1].start_ns, T0 + 300 * MS);

	/* gc_starts in the bucket of each start, the unseen one included */
	assert_int_equal(timeline__series(tl, 0, T0, T0 + 600 * MS, b, 2), 2);
	assert_int_equal(b[0].gc_starts, 1);
	assert_int_equal(b[1].gc_starts, 1);
	assert_int_equal(timeline__series(tl, 0, T0 + 600 * MS, T0 + 900 * MS, b, 1), 1);
	assert_int_equal(b[0].gc_starts, 2);

	/* the exit of the process ends its running collection */
	proc_ev(1, 1, T0 + 900 * MS, PM_EXIT, "x", "");
	assert_int_equal(timeline__gcs(tl, 0, T0 + 5 * S, T0 + 6 * S, g, 8), 0);

	/* many collections: the newest TL_GC_KEPT are kept */
	for (uint64_t i = 0; i < TL_GC_KEPT + 10; i++) {
		gc(2, T0 + S + i * MS, PM_GC_START, 0, -1, 0);
		gc(2, T0 + S + i * MS + 1000, PM_GC_DONE, 0, 1, 1000);
	}
	assert_int_equal(timeline__lane(tl, 1)->tot.gc_gen[0], TL_GC_KEPT + 10);
	assert_int_equal(timeline__gcs(tl, 1, 0, UINT64_MAX, g, 1), 1);
	assert_int_equal(g[0].start_ns, T0 + S + 10 * MS);
}

static void test_top_types(void **state)
{
	struct tl_type_count t[3];

	(void)state;
	for (int i = 0; i < 5; i++)
		dealloc(1, T0 + 100 * MS, "dict");
	for (int i = 0; i < 3; i++)
		dealloc(1, T0 + 200 * MS, "list");
	for (int i = 0; i < 10; i++)
		dealloc(1, T0 + 2 * S + 100 * MS, "list");
	dealloc(1, T0 + 2 * S + 200 * MS, "tuple");
	dealloc(1, T0 + 3 * S + 200 * MS, "");

	assert_int_equal(timeline__top_types(tl, 0, T0, T0 + S, t, 3), 2);
	assert_string_equal(t[0].name, "dict");
	assert_int_equal(t[0].count, 5);
	assert_string_equal(t[1].name, "list");
	assert_int_equal(t[1].count, 3);

	assert_int_equal(timeline__top_types(tl, 0, T0, T0 + 3 * S, t, 3), 3);
	assert_string_equal(t[0].name, "list");
	assert_int_equal(t[0].count, 13);
	assert_string_equal(t[1].name, "dict");
	assert_string_equal(t[2].name, "tuple");

	assert_int_equal(timeline__top_types(tl, 0, T0, T0 + 3 * S, t, 1), 1);
	assert_string_equal(t[0].name, "list");

	assert_int_equal(timeline__top_types(tl, 0, T0 + 3 * S, T0 + 4 * S, t, 3), 1);
	assert_string_equal(t[0].name, "");
	assert_int_equal(timeline__top_types(tl, 0, T0 + S, T0 + 2 * S, t, 3), 0);

	assert_int_equal(total(0).deallocs, 20);
}

static void test_lost(void **state)
{
	struct tl_bucket b[2];

	(void)state;
	alloc(5, T0, PM_PY_MALLOC, 1, 0x10, 0);
	lost(5, T0 + 10 * MS, PM_PY_MALLOC, 100);
	lost(5, T0 + 20 * MS, PM_PY_FREE, 30);
	lost(5, T0 + 510 * MS, PM_PY_MALLOC, 150); /* cumulative: 50 more */
	lost(5, T0 + 520 * MS, PM_PY_MALLOC, 150); /* nothing new */
	lost(0, T0 + 530 * MS, PM_PY_MALLOC, 7);
	lost(0, T0 + 540 * MS, PM_PY_MALLOC, 9);
	lost(6, T0 + 550 * MS, PM_FREE, 4); /* no lane yet */

	assert_int_equal(timeline__lane(tl, 0)->tot.lost, 180);
	assert_int_equal(timeline__lost_total(tl), 180 + 9 + 4);
	assert_int_equal(timeline__series(tl, 0, T0, T0 + S, b, 2), 2);
	assert_int_equal(b[0].lost, 130);
	assert_int_equal(b[1].lost, 50);

	/* pid 0's losses have a lane of their own; a pid seen first in a
	 * LOST record gets its lane then */
	assert_int_equal(timeline__lane(tl, 1)->kind, LG_LANE_UNKNOWN);
	assert_int_equal(timeline__lane(tl, 1)->tot.lost, 9);
	assert_string_equal(timeline__lane(tl, 2)->name, "pid 6");
	alloc(6, T0 + 600 * MS, PM_MALLOC, 1, 0x10, 0);
	assert_int_equal(timeline__lane(tl, 2)->tot.lost, 4);
	lost(6, T0 + 700 * MS, PM_FREE, 6);
	assert_int_equal(timeline__lane(tl, 2)->tot.lost, 6);
	assert_int_equal(timeline__lost_total(tl), 180 + 9 + 6);
}

static void test_history_wrap(void **state)
{
	struct timeline *t = timeline__new(10 * MS, S); /* 100 buckets */
	struct pm_sink *s;
	struct tl_bucket out[4];
	struct tl_gc g[4];
	struct tl_type_count tc[2];
	struct pm_record r;

	(void)state;
	assert_non_null(t);
	s = timeline__sink(t);
	/* one allocation every 10 ms for 3 s */
	for (uint64_t i = 0; i < 300; i++) {
		r = rec_event(1, 1, T0 + i * 10 * MS, PM_PY_MALLOC);
		r.ev.alloc.size = 1;
		r.ev.alloc.addr = 0x1000 + i * 16;
		assert_int_equal(s->record(s, &r), 0);
	}
	r = rec_event(1, 1, T0 + 5 * MS, PM_GC_DONE);
	r.ev.gc.duration_ns = MS;
	assert_int_equal(s->record(s, &r), 0);
	r = rec_event(1, 1, T0, PM_PY_DEALLOC);
	r.ev.dealloc.type_name = "old";
	assert_int_equal(s->record(s, &r), 0);
	r = rec_event(1, 1, T0 + 2990 * MS, PM_PY_DEALLOC);
	r.ev.dealloc.type_name = "new";
	assert_int_equal(s->record(s, &r), 0);

	/* now is T0 + 2.99 s: the last second is kept */
	assert_int_equal(timeline__series(t, 0, T0, T0 + 3 * S, out, 3), 3);
	assert_int_equal(out[0].py_allocs, 0);
	assert_int_equal(out[0].py_net, 0);
	assert_int_equal(out[1].py_allocs, 0);
	assert_int_equal(out[2].py_allocs, 100);
	assert_int_equal(out[2].py_alloc_bytes, 100);
	assert_int_equal(out[2].py_net, 300);
	assert_int_equal(timeline__series(t, 0, T0 + 2 * S, T0 + 3 * S, out, 4), 4);
	assert_int_equal(out[0].py_allocs, 25);
	assert_int_equal(out[0].py_net, 225);
	assert_int_equal(out[3].py_net, 300);
	/* the gc marker from T0 went with its time */
	assert_int_equal(timeline__gcs(t, 0, 0, UINT64_MAX, g, 4), 0);
	assert_int_equal(timeline__top_types(t, 0, 0, UINT64_MAX, tc, 2), 1);
	assert_string_equal(tc[0].name, "new");

	/* idle for long: the history is empty but the net carries on */
	timeline__advance(t, T0 + 100 * S);
	assert_int_equal(timeline__now_ns(t), T0 + 100 * S);
	assert_int_equal(timeline__series(t, 0, T0 + 99 * S, T0 + 100 * S + 10 * MS, out, 2), 2);
	assert_int_equal(out[0].py_allocs, 0);
	assert_int_equal(out[0].py_net, 300);
	assert_int_equal(out[1].py_net, 300);
	assert_int_equal(timeline__top_types(t, 0, 0, UINT64_MAX, tc, 2), 0);
	/* and an event after the idle time lands in a clean ring */
	r = rec_event(1, 1, T0 + 100 * S + 5 * MS, PM_PY_FREE);
	r.ev.free.addr = 0x1000;
	assert_int_equal(s->record(s, &r), 0);
	assert_int_equal(timeline__series(t, 0, T0 + 99 * S, T0 + 101 * S, out, 2), 2);
	assert_int_equal(out[0].py_frees, 0);
	assert_int_equal(out[0].py_net, 300);
	assert_int_equal(out[1].py_frees, 1);
	assert_int_equal(out[1].py_free_bytes, 1);
	assert_int_equal(out[1].py_net, 299);
	timeline__free(t);

	/* unlimited history keeps it all */
	t = timeline__new(10 * MS, UINT64_MAX);
	assert_non_null(t);
	s = timeline__sink(t);
	for (uint64_t i = 0; i < 300; i++) {
		r = rec_event(1, 1, T0 + i * 10 * MS, PM_PY_MALLOC);
		r.ev.alloc.size = 1;
		r.ev.alloc.addr = 0x1000 + i * 16;
		assert_int_equal(s->record(s, &r), 0);
	}
	timeline__advance(t, T0 + 100 * S);
	assert_int_equal(timeline__series(t, 0, T0, T0 + 3 * S, out, 3), 3);
	assert_int_equal(out[0].py_allocs, 100);
	assert_int_equal(out[0].py_net, 100);
	assert_int_equal(out[2].py_net, 300);
	timeline__free(t);
}

static void test_advance(void **state)
{
	struct tl_bucket out[3];

	(void)state;
	assert_int_equal(timeline__now_ns(tl), 0);
	assert_int_equal(timeline__start_ns(tl), 0);
	assert_int_equal(timeline__bucket_ns(tl), TL_BUCKET_NS);
	alloc(1, T0, PM_MALLOC, 64, 0x10, 0);
	timeline__advance(tl, T0 + 25 * MS);
	assert_int_equal(timeline__now_ns(tl), T0 + 25 * MS);
	timeline__advance(tl, T0); /* never back */
	assert_int_equal(timeline__now_ns(tl), T0 + 25 * MS);
	assert_int_equal(timeline__series(tl, 0, T0, T0 + 30 * MS, out, 3), 3);
	assert_int_equal(out[0].libc_allocs, 1);
	assert_int_equal(out[2].libc_net, 64);
	timeline__advance(tl, T0 + 35 * MS);
	assert_int_equal(timeline__series(tl, 0, T0 + 10 * MS, T0 + 40 * MS, out, 3), 3);
	assert_int_equal(out[2].libc_allocs, 0);
	assert_int_equal(out[2].libc_net, 64);
}

/* Timestamps near the clock's zero (bucket 0) work too. */
static void test_small_ts(void **state)
{
	struct tl_bucket out[2];

	(void)state;
	alloc(1, 1, PM_PY_MALLOC, 3, 0x10, 0);
	alloc(1, 15 * MS, PM_PY_MALLOC, 4, 0x20, 0);
	assert_int_equal(timeline__series(tl, 0, 0, 20 * MS, out, 2), 2);
	assert_int_equal(out[0].py_allocs, 1);
	assert_int_equal(out[0].py_net, 3);
	assert_int_equal(out[1].py_allocs, 1);
	assert_int_equal(out[1].py_net, 7);
}

/* Live blocks are remembered up to a bound per lane; frees of the others
 * are unmatched. */
static void test_live_bound(void **state)
{
	const uint64_t max = LG_LIVE_MAX;
	const struct lg_lane *li;
	struct pm_sink *s = timeline__sink(tl);
	struct pm_record r;

	(void)state;
	for (uint64_t i = 0; i < max + 5; i++) {
		r = rec_event(1, 1, T0 + i, PM_PY_MALLOC);
		r.ev.alloc.size = 2;
		r.ev.alloc.addr = 0x10000 + i * 16;
		assert_int_equal(s->record(s, &r), 0);
	}
	li = timeline__lane(tl, 0);
	assert_int_equal(li->lv.py_net, 2 * (max + 5));
	printf("timeline: memory %.1f MB with %" PRIu64 " live blocks\n",
	       timeline__memory(tl) / 1048576.0, max);
	for (uint64_t i = 0; i < max + 5; i++)
		dofree(1, T0 + max + 5 + i, PM_PY_FREE, 0x10000 + i * 16);
	assert_int_equal(li->tot.unmatched_frees, 5);
	assert_int_equal(li->lv.py_net, 10);
	assert_int_equal(total(0).py_free_bytes, 2 * max);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A synthetic feed: 4 processes in 2 containers, 20 M events over 100 s of
 * trace time, pymalloc churn over a working set of 64 k blocks per process,
 * libc churn, deallocations of 200 types, a collection every 10 ms. Prints
 * events/s, the model's memory, and the cost of a 200-slice series over
 * 10 minutes.
 */
static void vm(uint32_t pid, uint64_t ts, unsigned op, uint64_t addr, uint64_t len)
{
	struct pm_record r = rec_event(pid, 1, ts, PM_VM);

	r.ev.vm.op = op;
	r.ev.vm.addr = addr;
	r.ev.vm.len = len;
	feed(&r);
}

static void rss(uint32_t pid, uint64_t ts, uint64_t bytes)
{
	struct pm_record r = rec_event(pid, 1, ts, PM_RSS);

	r.ev.rss.rss = bytes;
	feed(&r);
}

/* Footprint levels: mappings and RSS per lane, dropped when a process ends. */
static void test_footprint_levels(void **state)
{
	struct tl_bucket b[4];
	const uint64_t MiB = 1 << 20;

	(void)state;
	vm(7, T0, PM_VM_MMAP, 0x100000, MiB);
	vm(7, T0 + 1 * MS, PM_VM_MMAP, 0x300000, MiB);
	rss(7, T0 + 2 * MS, 10 * MiB);
	vm(7, T0 + 15 * MS, PM_VM_MUNMAP, 0x100000, MiB);
	rss(7, T0 + 16 * MS, 8 * MiB);
	assert_int_equal(timeline__lane_count(tl), 1);
	assert_int_equal(lg_levels__footprint(&timeline__lane(tl, 0)->lv), MiB);
	assert_int_equal(timeline__lane(tl, 0)->lv.rss, 8 * MiB);
	assert_int_equal(timeline__series(tl, 0, T0, T0 + 40 * MS, b, 4), 4);
	assert_int_equal(b[0].fp_net, 2 * MiB);
	assert_int_equal(b[0].rss, 10 * MiB);
	assert_int_equal(b[1].fp_net, MiB);
	assert_int_equal(b[1].rss, 8 * MiB);
	/* carried forward while nothing happens */
	assert_int_equal(b[3].fp_net, MiB);

	/* the process ends: it holds nothing any more */
	struct pm_record x = rec_event(7, 1, T0 + 50 * MS, PM_EXIT);
	feed(&x);
	assert_int_equal(lg_levels__footprint(&timeline__lane(tl, 0)->lv), 0);
	assert_int_equal(timeline__lane(tl, 0)->lv.rss, 0);
	assert_int_equal(timeline__lane(tl, 0)->tot.events[PM_VM], 3);
	assert_int_equal(timeline__lane(tl, 0)->tot.events[PM_RSS], 2);
}

static void test_throughput(void **state)
{
	static const char *const types[] = {"dict",  "list",	 "tuple", "str",  "int",
					    "float", "function", "frame", "cell", "set"};
	const uint64_t n = 20000000, span = 100 * S, ws = 65536;
	struct pm_sink *s;
	struct pm_record r;
	char names[200][24];
	struct tl_bucket out[200];
	double t0, dt;
	uint64_t seed = 1;
	int iters = 0;

	(void)state;
	for (int i = 0; i < 200; i++)
		snprintf(names[i], sizeof(names[i]), "%s_%d", types[i % 10], i);
	container(100, T0, PM_CONTAINER_RUNNING, "a", "", "img");
	container(200, T0, PM_CONTAINER_RUNNING, "b", "", "img");
	for (uint32_t pid = 1; pid <= 4; pid++)
		process(pid, pid <= 2 ? 100 : 200, T0, "python3", "/p", "3.11");
	s = timeline__sink(tl);
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		uint32_t pid = 1 + (uint32_t)((i >> 6) & 3); /* runs of one pid */
		uint64_t ts = T0 + i * (span / n);
		unsigned k;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		k = (unsigned)(seed >> 60);
		r = rec_event(pid, pid <= 2 ? 100 : 200, ts, PM_PY_MALLOC);
		if (k < 5) {
			r.ev.alloc.size = 16 + (seed >> 40) % 512;
			r.ev.alloc.addr = 0x10000 + ((seed >> 20) % ws) * 16;
		} else if (k < 10) {
			r.ev.kind = PM_PY_FREE;
			r.ev.free.addr = 0x10000 + ((seed >> 20) % ws) * 16;
		} else if (k < 11) {
			r.ev.kind = (seed >> 30) & 1 ? PM_MALLOC : PM_FREE;
			r.ev.alloc.size = 4096;
			r.ev.alloc.addr = 0x7000000 + ((seed >> 20) % 4096) * 4096;
		} else if (k < 15) {
			r.ev.kind = PM_PY_DEALLOC;
			r.ev.dealloc.type_name = names[(seed >> 24) % 200];
		} else {
			r.ev.kind = (seed >> 30) & 1 ? PM_GC_START : PM_GC_DONE;
			r.ev.gc.generation = (seed >> 32) % 3;
			r.ev.gc.duration_ns = 1000;
		}
		assert_int_equal(s->record(s, &r), 0);
	}
	dt = now_s() - t0;
	printf("timeline: %.2f M events/s (%" PRIu64 " events in %.2f s), memory %.1f MB "
	       "(%zu lanes, 100 s of 10 ms buckets)\n",
	       n / dt / 1e6, n, dt, timeline__memory(tl) / 1048576.0, timeline__lane_count(tl));

	/* 10 minutes of history: the memory a full live session holds */
	timeline__advance(tl, T0 + 700 * S);
	{
		struct pm_record a = rec_event(1, 100, T0 + 700 * S, PM_PY_MALLOC);

		a.ev.alloc.size = 1;
		a.ev.alloc.addr = 0x42;
		feed(&a);
		a = rec_event(3, 200, T0 + 700 * S, PM_PY_MALLOC);
		a.ev.alloc.size = 1;
		a.ev.alloc.addr = 0x42;
		feed(&a);
	}
	printf("timeline: memory %.1f MB after 10 minutes (2 lanes, %.1f MB of buckets each)\n",
	       timeline__memory(tl) / 1048576.0,
	       (double)(TL_HISTORY_NS / TL_BUCKET_NS + 1) * 13 * 8 / 1048576.0);

	t0 = now_s();
	do {
		for (size_t lane = 0; lane < 2; lane++)
			assert_int_equal(
			    timeline__series(tl, lane, T0 + 100 * S, T0 + 700 * S, out, 200), 200);
		iters++;
		dt = now_s() - t0;
	} while (dt < 0.2);
	printf("timeline: series of 200 slices over 10 minutes: %.2f us per lane\n",
	       dt / (iters * 2) * 1e6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lanes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_late, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_sizing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_sized_frees, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_net_series, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gc_markers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_top_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
	    cmocka_unit_test(test_history_wrap),
	    cmocka_unit_test_setup_teardown(test_advance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_ts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_footprint_levels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
