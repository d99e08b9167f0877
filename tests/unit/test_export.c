// SPDX-License-Identifier: MIT
/*
 * The exports' streaming model (export_series) and the chrome and csv
 * exporters, fed with records built in memory. The exporters' output is
 * read back: JSON with json-c, CSV by splitting lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "export/export.h"
#include "model/export_series.h"
#include "records.h"

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull
#define T0 (1000 * S) /* traces start well after the clock's zero */

/* ---- records ---- */

static struct pm_record alloc_rec(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t size,
				  uint64_t addr, uint64_t old)
{
	struct pm_record r = rec_event(pid, 7, ts, kind);

	r.ev.alloc.size = size;
	r.ev.alloc.addr = addr;
	r.ev.alloc.old_addr = old;
	return r;
}

static struct pm_record free_rec(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t addr)
{
	struct pm_record r = rec_event(pid, 7, ts, kind);

	r.ev.free.addr = addr;
	return r;
}

static struct pm_record gc_rec(uint32_t pid, uint64_t ts, enum pm_kind kind, int gen,
			       int64_t collected, uint64_t dur)
{
	struct pm_record r = rec_event(pid, 7, ts, kind);

	r.ev.gc.generation = gen;
	r.ev.gc.collected = collected;
	r.ev.gc.duration_ns = dur;
	r.ev.gc.source = PM_GC_SRC_USDT;
	return r;
}

static struct pm_record proc_rec(uint32_t pid, uint64_t ts, enum pm_kind kind, const char *comm)
{
	struct pm_record r = rec_event(pid, 7, ts, kind);

	r.ev.proc.comm = comm;
	r.ev.proc.path = kind == PM_EXEC ? "/usr/bin/python3" : "";
	return r;
}

static struct pm_record cont_rec(uint64_t cgroup, uint64_t ts, enum pm_container_state st,
				 const char *name)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_CONTAINER;
	r.cont.ts_ns = ts;
	r.cont.cgroup_id = cgroup;
	r.cont.state = st;
	r.cont.runtime = "docker";
	r.cont.id = "0123456789ab";
	r.cont.name = name;
	r.cont.image = "img:1";
	r.cont.project = "";
	r.cont.service = "";
	return r;
}

static struct pm_record lost_rec(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t count)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_LOST;
	r.lost.ts_ns = ts;
	r.lost.pid = pid;
	r.lost.kind = kind;
	r.lost.count = count;
	return r;
}

static struct pm_record vm_rec(uint32_t pid, uint64_t ts, enum pm_vm_op op, uint64_t addr,
			       uint64_t len, uint64_t old_addr)
{
	struct pm_record r = rec_event(pid, 7, ts, PM_VM);

	r.ev.vm.op = op;
	r.ev.vm.addr = addr;
	r.ev.vm.len = len;
	r.ev.vm.old_addr = old_addr;
	r.ev.vm.prot = 3;
	r.ev.vm.flags = 0x22;
	return r;
}

static struct pm_record rss_rec(uint32_t pid, uint64_t ts, uint64_t rss, uint64_t anon)
{
	struct pm_record r = rec_event(pid, 7, ts, PM_RSS);

	r.ev.rss.rss = rss;
	r.ev.rss.anon = anon;
	return r;
}

static struct pm_record process_rec(uint32_t pid, uint64_t ts, const char *version)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_PROCESS;
	r.proc.ts_ns = ts;
	r.proc.cgroup_id = 7;
	r.proc.pid = pid;
	r.proc.comm = "python3";
	r.proc.exe = "/usr/bin/python3";
	r.proc.python = "/usr/bin/python3";
	r.proc.python_version = version;
	return r;
}

#define KiB 1024ull
#define MiB (1024ull * 1024)

/* ---- the model, through recording callbacks ---- */

#define MAXROWS 4096

struct row {
	size_t lane;
	uint64_t b;
	struct es_bucket d;
	struct lg_levels lv;
};

static struct got {
	struct row rows[MAXROWS];
	size_t nrows;
	struct es_gc gcs[16];
	size_t ngcs;
	size_t lanes, threads, procs, conts;
	char lane_name[8][ES_NAME_MAX];
} got;

static int got_lane(void *ctx, const struct es_lane *l)
{
	(void)ctx;
	if (l->index < 8)
		snprintf(got.lane_name[l->index], ES_NAME_MAX, "%s", l->name);
	got.lanes++;
	return 0;
}

static int got_thread(void *ctx, const struct es_lane *l, uint64_t ts, uint32_t pid, uint32_t tid,
		      const char *comm)
{
	(void)ctx, (void)l, (void)ts, (void)pid, (void)tid, (void)comm;
	got.threads++;
	return 0;
}

static int got_bucket(void *ctx, const struct es_lane *l, uint64_t b, const struct es_bucket *d,
		      const struct lg_levels *lv)
{
	(void)ctx;
	assert_true(got.nrows < MAXROWS);
	got.rows[got.nrows++] = (struct row){.lane = l->index, .b = b, .d = *d, .lv = *lv};
	return 0;
}

static int got_gc(void *ctx, const struct es_lane *l, const struct es_gc *g)
{
	(void)ctx, (void)l;
	assert_true(got.ngcs < 16);
	got.gcs[got.ngcs++] = *g;
	return 0;
}

static int got_proc(void *ctx, const struct es_lane *l, const struct es_proc_event *e)
{
	(void)ctx, (void)l, (void)e;
	got.procs++;
	return 0;
}

static int got_cont(void *ctx, const struct es_lane *l, uint64_t ts, enum pm_container_state st)
{
	(void)ctx, (void)l, (void)ts, (void)st;
	got.conts++;
	return 0;
}

static const struct es_ops got_ops = {
    .lane = got_lane,
    .thread = got_thread,
    .bucket = got_bucket,
    .gc = got_gc,
    .proc = got_proc,
    .container = got_cont,
};

static struct export_series *series(uint64_t res, bool dense)
{
	struct export_series *s;

	memset(&got, 0, sizeof(got));
	s = export_series__new(T0, res, dense, &got_ops, NULL);
	assert_non_null(s);
	return s;
}

static void feed(struct export_series *s, struct pm_record r)
{
	assert_int_equal(export_series__record(s, &r), 0);
}

static const struct row *row_at(size_t lane, uint64_t b)
{
	for (size_t i = 0; i < got.nrows; i++)
		if (got.rows[i].lane == lane && got.rows[i].b == b)
			return &got.rows[i];
	return NULL;
}

static void test_frees_matched_by_address(void **state)
{
	struct export_series *s = series(10 * MS, false);
	const struct row *r;

	(void)state;
	feed(s, alloc_rec(100, T0 + 1 * MS, PM_PY_MALLOC, 64, 0x1000, 0));
	feed(s, alloc_rec(100, T0 + 2 * MS, PM_PY_MALLOC, 32, 0x2000, 0));
	feed(s, alloc_rec(100, T0 + 3 * MS, PM_MALLOC, 1000, 0x9000, 0));
	/* a free of a block never seen: counted as a call, nothing else */
	feed(s, free_rec(100, T0 + 4 * MS, PM_PY_FREE, 0x5555));
	feed(s, free_rec(100, T0 + 12 * MS, PM_PY_FREE, 0x1000));
	/* realloc: the old block goes, the new one comes */
	feed(s, alloc_rec(100, T0 + 13 * MS, PM_REALLOC, 3000, 0xa000, 0x9000));
	assert_int_equal(export_series__finish(s), 0);

	r = row_at(0, 0);
	assert_non_null(r);
	assert_int_equal(r->d.py_allocs, 2);
	assert_int_equal(r->d.py_frees, 1);
	assert_int_equal(r->d.py_alloc_bytes, 96);
	assert_int_equal(r->d.py_free_bytes, 0);
	assert_int_equal(r->lv.py_net, 96);
	assert_int_equal(r->lv.py_live, 2);
	assert_int_equal(r->lv.libc_net, 1000);
	assert_int_equal(r->lv.libc_live, 1);

	r = row_at(0, 1);
	assert_non_null(r);
	assert_int_equal(r->d.py_frees, 1);
	assert_int_equal(r->d.py_free_bytes, 64);
	assert_int_equal(r->lv.py_net, 32);
	assert_int_equal(r->lv.py_live, 1);
	assert_int_equal(r->d.libc_allocs, 1);
	assert_int_equal(r->d.libc_frees, 0);
	assert_int_equal(r->d.libc_free_bytes, 1000);
	assert_int_equal(r->lv.libc_net, 3000);
	assert_int_equal(r->lv.libc_live, 1);
	assert_int_equal(export_series__live_blocks(s), 2);
	export_series__free(s);
}

static void test_exit_drops_what_the_process_held(void **state)
{
	struct export_series *s = series(10 * MS, false);
	const struct row *r;

	(void)state;
	feed(s, proc_rec(100, T0 + 1 * MS, PM_EXEC, "python3"));
	feed(s, alloc_rec(100, T0 + 2 * MS, PM_PY_MALLOC, 64, 0x1000, 0));
	feed(s, proc_rec(100, T0 + 15 * MS, PM_EXIT, "python3"));
	feed(s, free_rec(100, T0 + 16 * MS, PM_PY_FREE, 0x1000));
	assert_int_equal(export_series__finish(s), 0);
	assert_int_equal(got.procs, 2);
	r = row_at(0, 1);
	assert_non_null(r);
	assert_int_equal(r->lv.py_net, 0);
	assert_int_equal(r->lv.py_live, 0);
	/* the late free found nothing to free */
	assert_int_equal(r->d.py_free_bytes, 0);
	assert_int_equal(export_series__live_blocks(s), 0);
	assert_string_equal(got.lane_name[0], "pid 100 python3");
	export_series__free(s);
}

static void test_late_event_counts_in_its_own_bucket(void **state)
{
	struct export_series *s = series(1 * MS, false);
	const struct row *r;

	(void)state;
	feed(s, alloc_rec(100, T0 + 5 * MS, PM_PY_MALLOC, 10, 0x1000, 0));
	/* 2 ms late: within the reorder window */
	feed(s, alloc_rec(100, T0 + 3 * MS + 500 * US, PM_PY_MALLOC, 20, 0x2000, 0));
	assert_int_equal(export_series__finish(s), 0);
	assert_int_equal(got.nrows, 2);
	r = row_at(0, 3);
	assert_non_null(r);
	assert_int_equal(r->d.py_alloc_bytes, 20);
	assert_int_equal(r->lv.py_net, 20);
	r = row_at(0, 5);
	assert_non_null(r);
	assert_int_equal(r->lv.py_net, 30);
	export_series__free(s);
}

static void test_buckets_close_as_time_passes(void **state)
{
	struct export_series *s = series(1 * MS, false);
	size_t n;

	(void)state;
	for (uint64_t t = 0; t < 100; t++)
		feed(s, alloc_rec(100, T0 + t * MS, PM_PY_MALLOC, 1, 0x1000 + t * 16, 0));
	/* only the last ES_PENDING buckets may be open */
	n = got.nrows;
	assert_true(n >= 100 - ES_PENDING);
	for (size_t i = 1; i < n; i++)
		assert_true(got.rows[i].b > got.rows[i - 1].b);
	assert_true(export_series__settled_ns(s) <= 100 * MS - ES_REORDER_NS);
	/* very late: counts in the oldest open bucket, never in a closed one */
	feed(s, alloc_rec(100, T0 + 1 * MS, PM_PY_MALLOC, 5, 0x99999, 0));
	assert_int_equal(export_series__finish(s), 0);
	assert_int_equal(got.nrows, 100);
	assert_int_equal(got.rows[99].lv.py_net, 105);
	export_series__free(s);
}

static void test_dense_rows_for_every_bucket_of_a_live_lane(void **state)
{
	struct export_series *s = series(1 * S, true);
	struct pm_record r;

	(void)state;
	feed(s, cont_rec(7, T0 + 100 * MS, PM_CONTAINER_RUNNING, "web,1"));
	feed(s, alloc_rec(100, T0 + 200 * MS, PM_PY_MALLOC, 10, 0x1000, 0));
	feed(s, cont_rec(7, T0 + 3500 * MS, PM_CONTAINER_STOPPED, "web,1"));
	feed(s, alloc_rec(100, T0 + 3600 * MS, PM_PY_MALLOC, 10, 0x2000, 0));
	r = alloc_rec(200, T0 + 9200 * MS, PM_MALLOC, 10, 0x2000, 0);
	r.ev.cgroup_id = 1; /* outside the container */
	feed(s, r);
	assert_int_equal(export_series__finish(s), 0);
	assert_string_equal(got.lane_name[0], "web,1");
	assert_string_equal(got.lane_name[1], "pid 200");
	assert_int_equal(got.conts, 2);
	/* the container: seconds 0 to 3; the host process only second 9 */
	assert_int_equal(got.nrows, 5);
	for (uint64_t b = 0; b < 4; b++) {
		assert_non_null(row_at(0, b));
		assert_int_equal(got.rows[b].b, b);
	}
	assert_int_equal(row_at(0, 1)->d.py_allocs, 0);
	assert_int_equal(row_at(0, 1)->lv.py_net, 10);
	assert_int_equal(row_at(0, 3)->lv.py_net, 20);
	assert_non_null(row_at(1, 9));
	export_series__free(s);
}

static void test_collections(void **state)
{
	struct export_series *s = series(10 * MS, false);

	(void)state;
	feed(s, gc_rec(100, T0 + 1 * MS, PM_GC_START, 0, -1, 0));
	assert_int_equal(export_series__settled_ns(s), 0);
	feed(s, gc_rec(100, T0 + 3 * MS, PM_GC_DONE, 0, 12, 2 * MS));
	/* a done whose start was not seen started duration_ns before */
	feed(s, gc_rec(100, T0 + 50 * MS, PM_GC_DONE, 2, 5, 4 * MS));
	/* a collection that never finishes */
	feed(s, gc_rec(100, T0 + 60 * MS, PM_GC_START, 1, -1, 0));
	feed(s, proc_rec(100, T0 + 61 * MS, PM_EXIT, "python3"));
	assert_int_equal(export_series__finish(s), 0);
	assert_int_equal(got.ngcs, 3);
	assert_int_equal(got.gcs[0].start_ns, 1 * MS);
	assert_int_equal(got.gcs[0].end_ns, 3 * MS);
	assert_int_equal(got.gcs[0].generation, 0);
	assert_int_equal(got.gcs[0].collected, 12);
	assert_true(got.gcs[0].finished);
	assert_int_equal(got.gcs[1].start_ns, 46 * MS);
	assert_int_equal(got.gcs[1].generation, 2);
	assert_false(got.gcs[2].finished);
	assert_int_equal(got.gcs[2].end_ns, 61 * MS);
	assert_int_equal(row_at(0, 0)->d.gcs, 1);
	assert_int_equal(row_at(0, 0)->d.gc_gen[0], 1);
	assert_int_equal(row_at(0, 0)->d.gc_ns, 2 * MS);
	assert_int_equal(row_at(0, 5)->d.gc_gen[2], 1);
	assert_int_equal(row_at(0, 6)->d.gcs, 0);
	export_series__free(s);
}

static void test_lost_counts_grow(void **state)
{
	struct export_series *s = series(10 * MS, false);

	(void)state;
	feed(s, alloc_rec(100, T0 + 1 * MS, PM_PY_MALLOC, 1, 0x10, 0));
	feed(s, lost_rec(100, T0 + 2 * MS, PM_PY_MALLOC, 5));
	feed(s, lost_rec(100, T0 + 3 * MS, PM_PY_MALLOC, 8));
	feed(s, lost_rec(0, T0 + 4 * MS, PM_FREE, 2));
	assert_int_equal(export_series__finish(s), 0);
	assert_int_equal(row_at(0, 0)->d.lv.lost, 8);
	assert_int_equal(row_at(0, 0)->lv.lost, 8);
	assert_int_equal(row_at(1, 0)->d.lv.lost, 2);
	assert_string_equal(got.lane_name[1], "unidentified processes");
	export_series__free(s);
}

/* A process seen before its container record: its lane becomes the
 * container's (the ledger's rule, the timeline's too). */
static void test_process_moves_into_its_container(void **state)
{
	struct export_series *s = series(10 * MS, false);

	(void)state;
	feed(s, alloc_rec(100, T0 + 1 * MS, PM_PY_MALLOC, 40, 0x10, 0));
	feed(s, cont_rec(7, T0 + 2 * MS, PM_CONTAINER_RUNNING, "late"));
	feed(s, free_rec(100, T0 + 3 * MS, PM_PY_FREE, 0x10));
	assert_int_equal(export_series__finish(s), 0);
	assert_int_equal(row_at(0, 0)->lv.py_net, 0); /* allocated and freed there */
	assert_int_equal(row_at(0, 0)->d.py_free_bytes, 40);
	assert_string_equal(got.lane_name[0], "late");
	assert_null(row_at(1, 0));
	export_series__free(s);
}

static void test_dense_skips_to_a_lane_that_starts_later(void **state)
{
	struct export_series *s = series(1 * S, true);
	struct pm_record r;

	(void)state;
	r = alloc_rec(100, T0 + 100 * MS, PM_PY_MALLOC, 10, 0x1000, 0);
	r.ev.cgroup_id = 1;
	feed(s, r);
	/* the container is seen ahead of the events' clock */
	feed(s, cont_rec(7, T0 + 5 * S, PM_CONTAINER_RUNNING, "later"));
	r = proc_rec(100, T0 + 200 * MS, PM_EXIT, "python3");
	r.ev.cgroup_id = 1;
	feed(s, r);
	r = alloc_rec(300, T0 + 9 * S, PM_PY_MALLOC, 10, 0x1000, 0);
	r.ev.cgroup_id = 1;
	feed(s, r);
	assert_int_equal(export_series__finish(s), 0);
	assert_int_equal(got.nrows, 7);
	assert_non_null(row_at(0, 0));
	for (uint64_t b = 5; b < 10; b++)
		assert_non_null(row_at(1, b));
	assert_non_null(row_at(2, 9));
	export_series__free(s);
}

static void test_many_short_processes(void **state)
{
	struct export_series *s = series(1 * MS, true);

	(void)state;
	for (uint32_t i = 0; i < 2000; i++) {
		struct pm_record r = proc_rec(1000 + i, T0 + i * MS + 100 * US, PM_EXEC, "sh");

		r.ev.cgroup_id = 1;
		feed(s, r);
		r = alloc_rec(1000 + i, T0 + i * MS + 200 * US, PM_MALLOC, 8, 0x1000, 0);
		r.ev.cgroup_id = 1;
		feed(s, r);
		r = proc_rec(1000 + i, T0 + i * MS + 300 * US, PM_EXIT, "sh");
		r.ev.cgroup_id = 1;
		feed(s, r);
	}
	assert_int_equal(export_series__finish(s), 0);
	/* one row each: its only bucket */
	assert_int_equal(got.nrows, 2000);
	for (size_t i = 0; i < got.nrows; i++) {
		assert_int_equal(got.rows[i].b, i);
		assert_int_equal(got.rows[i].lane, i);
		assert_int_equal(got.rows[i].d.libc_allocs, 1);
		assert_int_equal(got.rows[i].lv.libc_net, 0);
	}
	export_series__free(s);
}

static void test_footprint_levels(void **state)
{
	struct export_series *s = series(10 * MS, false);
	const struct row *r;

	(void)state;
	feed(s, cont_rec(7, T0, PM_CONTAINER_RUNNING, "web"));
	feed(s, process_rec(100, T0, "3.11"));
	feed(s, process_rec(200, T0, "3.11"));
	/* bucket 0: pid 100 maps an arena (1 MiB on 3.11), 64 KiB of
	 * something else and grows its heap by 132 KiB; pid 200 maps 2 MiB */
	feed(s, vm_rec(100, T0 + 1 * MS, PM_VM_MMAP, 0x7f0000000000, MiB, 0));
	feed(s, vm_rec(100, T0 + 2 * MS, PM_VM_MMAP, 0x7f1000000000, 64 * KiB, 0));
	feed(s, vm_rec(100, T0 + 3 * MS, PM_VM_BRK, 0x5000000 + 132 * KiB, 0, 0x5000000));
	feed(s, vm_rec(200, T0 + 4 * MS, PM_VM_MMAP, 0x7f2000000000, 2 * MiB, 0));
	feed(s, rss_rec(100, T0 + 5 * MS, 10 * MiB, 8 * MiB));
	feed(s, rss_rec(200, T0 + 6 * MS, 5 * MiB, 3 * MiB));
	/* bucket 1: the arena goes back; a new sample replaces the old one */
	feed(s, vm_rec(100, T0 + 11 * MS, PM_VM_MUNMAP, 0x7f0000000000, MiB, 0));
	feed(s, rss_rec(100, T0 + 12 * MS, 12 * MiB, 9 * MiB));
	/* bucket 2: pid 200 exits, and what it had leaves the lane; a sample
	 * that comes after its exit changes nothing */
	feed(s, proc_rec(200, T0 + 21 * MS, PM_EXIT, "python3"));
	feed(s, rss_rec(200, T0 + 22 * MS, 7 * MiB, 7 * MiB));
	feed(s, vm_rec(200, T0 + 23 * MS, PM_VM_MMAP, 0x7f3000000000, MiB, 0));
	assert_int_equal(export_series__finish(s), 0);

	r = row_at(0, 0);
	assert_non_null(r);
	assert_true(r->lv.have_vm && r->lv.have_rss);
	assert_int_equal(r->d.vm_events, 4);
	assert_int_equal(r->d.rss_samples, 2);
	assert_int_equal(r->lv.fp_arena, MiB);
	assert_int_equal(r->lv.fp_mmap, 64 * KiB + 2 * MiB);
	assert_int_equal(r->lv.fp_heap, 132 * KiB);
	assert_int_equal(lg_levels__footprint(&r->lv), 3 * MiB + 196 * KiB);
	assert_int_equal(r->lv.rss, 15 * MiB);
	assert_int_equal(r->lv.rss_anon, 11 * MiB);

	r = row_at(0, 1);
	assert_non_null(r);
	assert_int_equal(r->lv.fp_arena, 0);
	assert_int_equal(r->lv.fp_mmap, 64 * KiB + 2 * MiB);
	assert_int_equal(r->lv.rss, 17 * MiB);
	assert_int_equal(r->lv.rss_anon, 12 * MiB);

	r = row_at(0, 2);
	assert_non_null(r);
	assert_int_equal(r->lv.fp_mmap, 64 * KiB);
	assert_int_equal(r->lv.fp_heap, 132 * KiB);
	assert_int_equal(r->lv.rss, 12 * MiB);
	assert_int_equal(r->lv.rss_anon, 9 * MiB);
	/* still counted as events, whatever the levels do */
	assert_int_equal(r->d.rss_samples, 1);
	assert_int_equal(r->d.vm_events, 1);
	assert_true(r->lv.have_vm);
	export_series__free(s);
}

static void test_footprint_exec_and_exit(void **state)
{
	struct export_series *s = series(10 * MS, false);
	const struct row *r;

	(void)state;
	feed(s, process_rec(100, T0, "3.9"));
	feed(s, alloc_rec(100, T0 + 1 * MS, PM_PY_MALLOC, 64, 0x10, 0));
	/* 256 KiB is an arena on 3.9, 1 MiB is not */
	feed(s, vm_rec(100, T0 + 2 * MS, PM_VM_MMAP, 0x7f0000000000, 256 * KiB, 0));
	feed(s, vm_rec(100, T0 + 3 * MS, PM_VM_MMAP, 0x7f1000000000, MiB, 0));
	feed(s, rss_rec(100, T0 + 4 * MS, 6 * MiB, 2 * MiB));
	/* an exec unmaps everything; the resident set is the next sample's */
	feed(s, proc_rec(100, T0 + 11 * MS, PM_EXEC, "other"));
	feed(s, vm_rec(100, T0 + 12 * MS, PM_VM_MMAP, 0x7f2000000000, 8 * KiB, 0));
	feed(s, proc_rec(100, T0 + 21 * MS, PM_EXIT, "other"));
	assert_int_equal(export_series__finish(s), 0);

	r = row_at(0, 0);
	assert_non_null(r);
	assert_int_equal(r->lv.fp_arena, 256 * KiB);
	assert_int_equal(r->lv.fp_mmap, MiB);
	assert_int_equal(r->lv.py_net, 64);
	r = row_at(0, 1);
	assert_non_null(r);
	assert_int_equal(r->lv.fp_arena, 0);
	assert_int_equal(r->lv.fp_mmap, 8 * KiB);
	assert_int_equal(r->lv.rss, 6 * MiB);
	assert_int_equal(r->lv.py_net, 0);
	r = row_at(0, 2);
	assert_non_null(r);
	assert_int_equal(lg_levels__footprint(&r->lv), 0);
	assert_int_equal(r->lv.rss, 0);
	assert_int_equal(r->lv.rss_anon, 0);
	/* it had footprint events once: 0 now is a level, not "unknown" */
	assert_true(r->lv.have_vm && r->lv.have_rss);
	export_series__free(s);
}

static void test_footprint_moves_with_its_process(void **state)
{
	struct export_series *s = series(10 * MS, false);
	const struct row *r;

	(void)state;
	feed(s, vm_rec(100, T0 + 1 * MS, PM_VM_MMAP, 0x7f0000000000, 64 * KiB, 0));
	feed(s, alloc_rec(300, T0 + 2 * MS, PM_MALLOC, 10, 0x10, 0));
	feed(s, rss_rec(300, T0 + 2 * MS, 4 * MiB, MiB));
	feed(s, cont_rec(7, T0 + 3 * MS, PM_CONTAINER_RUNNING, "late"));
	assert_int_equal(export_series__finish(s), 0);
	/* lanes: pid 100's, which became the container's, and pid 300's,
	 * which moved in with its malloc block and its RSS */
	r = row_at(0, 0);
	assert_non_null(r);
	assert_true(r->lv.have_vm && r->lv.have_rss);
	assert_int_equal(r->lv.fp_mmap, 64 * KiB);
	assert_int_equal(r->lv.rss, 4 * MiB);
	assert_int_equal(r->lv.libc_net, 10);
	assert_int_equal(r->d.vm_events, 1);
	r = row_at(1, 0);
	assert_non_null(r);
	assert_int_equal(r->lv.rss, 0);
	assert_int_equal(r->lv.libc_net, 0);
	assert_int_equal(r->d.rss_samples, 1);
	export_series__free(s);
}

/* ---- the exporters ---- */

static struct pm_trace_info info = {.version = 2, .start_ns = T0, .start_realtime_ns = 1};

static char *run_exporter(exporter_new_fn fn, uint64_t res, const struct pm_record *recs, size_t n)
{
	struct export_opts o = {.resolution_ns = res, .top = 10, .info = &info, .source = "t.pmt"};
	struct exporter *ex;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	ex = fn(out, &o);
	assert_non_null(ex);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ex->sink.record(&ex->sink, &recs[i]), 0);
	assert_int_equal(ex->sink.finish(&ex->sink), 0);
	ex->free(ex);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* A small trace with hostile strings and events out of order. */
static size_t sample_trace(struct pm_record *r)
{
	static const char evil[] = "ev\"il\\\n\x01\xff,x";
	size_t n = 0;

	r[n++] = cont_rec(7, T0 + 1 * MS, PM_CONTAINER_RUNNING, evil);
	r[n++] = proc_rec(100, T0 + 2 * MS, PM_EXEC, evil);
	r[n++] = alloc_rec(100, T0 + 5 * MS, PM_PY_MALLOC, 64, 0x10, 0);
	r[n++] = alloc_rec(100, T0 + 4 * MS, PM_PY_MALLOC, 16, 0x20, 0);
	r[n++] = gc_rec(100, T0 + 30 * MS, PM_GC_START, 1, -1, 0);
	r[n++] = free_rec(100, T0 + 31 * MS, PM_PY_FREE, 0x10);
	r[n++] = gc_rec(100, T0 + 45 * MS, PM_GC_DONE, 1, 3, 15 * MS);
	r[n++] = alloc_rec(100, T0 + 44 * MS, PM_MALLOC, 100, 0x30, 0);
	r[n++] = lost_rec(100, T0 + 50 * MS, PM_PY_FREE, 4);
	/* far out of order: still written in order */
	r[n++] = alloc_rec(100, T0 + 10 * MS, PM_PY_MALLOC, 1, 0x40, 0);
	r[n++] = proc_rec(100, T0 + 900 * MS, PM_EXIT, evil);
	r[n++] = cont_rec(7, T0 + 950 * MS, PM_CONTAINER_STOPPED, evil);
	return n;
}

static void test_chrome_is_sorted_json(void **state)
{
	struct pm_record recs[32];
	size_t n = sample_trace(recs);
	char *text = run_exporter(export_chrome__new, 10 * MS, recs, n);
	struct json_object *root = json_tokener_parse(text), *evs, *e, *v;
	double last = -1;
	int slices = 0, names = 0, counters = 0;

	(void)state;
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "traceEvents", &evs));
	assert_true(json_object_object_get_ex(root, "metadata", &v));
	for (size_t i = 0; i < json_object_array_length(evs); i++) {
		const char *ph;
		double ts;

		e = json_object_array_get_idx(evs, i);
		assert_true(json_object_object_get_ex(e, "ph", &v));
		ph = json_object_get_string(v);
		assert_non_null(strchr("MCXi", ph[0]));
		assert_true(json_object_object_get_ex(e, "ts", &v));
		ts = json_object_get_double(v);
		assert_true(ts >= last);
		last = ts;
		if (ph[0] == 'X') {
			slices++;
			assert_true(json_object_object_get_ex(e, "dur", &v));
			assert_true(json_object_get_double(v) == 15000.0);
			assert_true(ts == 30000.0);
		}
		if (ph[0] == 'C')
			counters++;
		if (ph[0] == 'M' && json_object_object_get_ex(e, "name", &v) &&
		    strcmp(json_object_get_string(v), "process_name") == 0) {
			names++;
			json_object_object_get_ex(e, "args", &v);
			json_object_object_get_ex(v, "name", &v);
			/* the bad byte became U+FFFD, the rest is intact */
			assert_string_equal(json_object_get_string(v),
					    "ev\"il\\\n\x01\xef\xbf\xbd,x (img:1)");
		}
	}
	assert_int_equal(slices, 1);
	assert_true(names >= 1);
	assert_true(counters >= 3);
	json_object_put(root);
	free(text);
}

static void test_chrome_counters_only_on_change(void **state)
{
	struct pm_record recs[64];
	size_t n = 0;
	char *text;
	struct json_object *root, *evs, *e, *v, *args;
	int net = 0;
	int64_t last_py = -1;

	(void)state;
	/* bucket 0: +64; bucket 1: +8 -8 (no change); bucket 2: -64 */
	recs[n++] = alloc_rec(100, T0 + 1 * MS, PM_PY_MALLOC, 64, 0x10, 0);
	recs[n++] = alloc_rec(100, T0 + 11 * MS, PM_PY_MALLOC, 8, 0x20, 0);
	recs[n++] = free_rec(100, T0 + 12 * MS, PM_PY_FREE, 0x20);
	recs[n++] = free_rec(100, T0 + 21 * MS, PM_PY_FREE, 0x10);
	text = run_exporter(export_chrome__new, 10 * MS, recs, n);
	root = json_tokener_parse(text);
	assert_non_null(root);
	json_object_object_get_ex(root, "traceEvents", &evs);
	for (size_t i = 0; i < json_object_array_length(evs); i++) {
		e = json_object_array_get_idx(evs, i);
		json_object_object_get_ex(e, "name", &v);
		if (strcmp(json_object_get_string(v), "net bytes") != 0)
			continue;
		json_object_object_get_ex(e, "args", &args);
		json_object_object_get_ex(args, "python", &v);
		assert_true(json_object_get_int64(v) != last_py);
		last_py = json_object_get_int64(v);
		net++;
	}
	/* 0 at the start, 64 after bucket 0, 0 after bucket 2 */
	assert_int_equal(net, 3);
	assert_int_equal(last_py, 0);
	json_object_put(root);
	free(text);
}

static void test_csv_rows_and_quoting(void **state)
{
	struct pm_record recs[32];
	size_t n = sample_trace(recs);
	char *text = run_exporter(export_csv__new, 1 * S, recs, n);
	char *line, *save = NULL;
	int lines = 0;

	(void)state;
	line = strtok_r(text, "\n", &save);
	assert_non_null(line);
	assert_true(strncmp(line, "time_s,container,py_alloc_count,", 32) == 0);
	/* the name holds a line break: the row spans two physical lines */
	line = strtok_r(NULL, "\n", &save);
	assert_non_null(line);
	assert_string_equal(line, "0,\"ev\"\"il\\");
	line = strtok_r(NULL, "\n", &save);
	assert_non_null(line);
	/* no footprint events: those columns are empty */
	assert_string_equal(line,
			    "\x01\xff,x\",3,1,81,64,0,0,1,0,100,0,0,0,0,1,0,1,0,3,0.015,4,,,");
	for (lines = 0; strtok_r(NULL, "\n", &save); lines++)
		;
	assert_int_equal(lines, 0);
	free(text);
}

static void test_csv_fractional_times(void **state)
{
	struct pm_record recs[4];
	size_t n = 0;
	char *text;

	(void)state;
	recs[n++] = alloc_rec(100, T0 + 2500 * US, PM_PY_MALLOC, 1, 0x10, 0);
	text = run_exporter(export_csv__new, 1250 * US, recs, n);
	assert_non_null(strstr(text, "\n0.0025,pid 100,1,"));
	free(text);
}

static size_t footprint_trace(struct pm_record *r)
{
	size_t n = 0;

	r[n++] = process_rec(100, T0, "3.12");
	r[n++] = alloc_rec(100, T0 + 1 * MS, PM_PY_MALLOC, 8, 0x10, 0);
	r[n++] = vm_rec(100, T0 + 15 * MS, PM_VM_MMAP, 0x7f0000000000, MiB, 0);
	r[n++] = vm_rec(100, T0 + 16 * MS, PM_VM_BRK, 0x5000000 + 8 * KiB, 0, 0x5000000);
	r[n++] = rss_rec(100, T0 + 17 * MS, 3 * MiB, 2 * MiB);
	r[n++] = vm_rec(100, T0 + 35 * MS, PM_VM_MUNMAP, 0x7f0000000000, MiB, 0);
	r[n++] = proc_rec(100, T0 + 45 * MS, PM_EXIT, "python3");
	return n;
}

static void test_chrome_footprint_counters(void **state)
{
	struct pm_record recs[16];
	size_t n = footprint_trace(recs);
	char *text = run_exporter(export_chrome__new, 10 * MS, recs, n);
	struct json_object *root = json_tokener_parse(text), *evs, *e, *v, *args;
	int64_t fp[8][4], rss[8][3];
	size_t nfp = 0, nrss = 0;

	(void)state;
	assert_non_null(root);
	json_object_object_get_ex(root, "traceEvents", &evs);
	for (size_t i = 0; i < json_object_array_length(evs); i++) {
		const char *name;

		e = json_object_array_get_idx(evs, i);
		json_object_object_get_ex(e, "name", &v);
		name = json_object_get_string(v);
		json_object_object_get_ex(e, "args", &args);
		json_object_object_get_ex(e, "ts", &v);
		if (strcmp(name, "footprint") == 0) {
			assert_true(nfp < 8);
			fp[nfp][0] = (int64_t)json_object_get_double(v);
			json_object_object_get_ex(args, "arenas", &v);
			fp[nfp][1] = json_object_get_int64(v);
			json_object_object_get_ex(args, "mmap", &v);
			fp[nfp][2] = json_object_get_int64(v);
			json_object_object_get_ex(args, "heap", &v);
			fp[nfp][3] = json_object_get_int64(v);
			nfp++;
		} else if (strcmp(name, "rss") == 0) {
			assert_true(nrss < 8);
			rss[nrss][0] = (int64_t)json_object_get_double(v);
			json_object_object_get_ex(args, "total", &v);
			rss[nrss][1] = json_object_get_int64(v);
			json_object_object_get_ex(args, "anon", &v);
			rss[nrss][2] = json_object_get_int64(v);
			nrss++;
		}
	}
	/* zero at the start of the first bucket with footprint events (10 ms,
	 * in microseconds), the level after it, after the munmap, after the exit */
	assert_int_equal(nfp, 4);
	assert_int_equal(fp[0][0], 10000);
	assert_true(fp[0][1] == 0 && fp[0][2] == 0 && fp[0][3] == 0);
	assert_int_equal(fp[1][0], 20000);
	assert_int_equal(fp[1][1], MiB);
	assert_int_equal(fp[1][2], 0);
	assert_int_equal(fp[1][3], 8 * KiB);
	assert_int_equal(fp[2][0], 40000);
	assert_int_equal(fp[2][1], 0);
	assert_int_equal(fp[2][3], 8 * KiB);
	assert_int_equal(fp[3][0], 50000);
	assert_int_equal(fp[3][3], 0);
	assert_int_equal(nrss, 3);
	assert_int_equal(rss[1][1], 3 * MiB);
	assert_int_equal(rss[1][2], 2 * MiB);
	assert_int_equal(rss[2][0], 50000);
	assert_int_equal(rss[2][1], 0);
	json_object_put(root);
	free(text);

	/* a trace without footprint events has no such tracks */
	n = sample_trace(recs);
	text = run_exporter(export_chrome__new, 10 * MS, recs, n);
	assert_null(strstr(text, "\"footprint\""));
	assert_null(strstr(text, "\"rss\""));
	free(text);
}

static void test_csv_footprint_columns(void **state)
{
	struct pm_record recs[16];
	size_t n = footprint_trace(recs);
	char *text = run_exporter(export_csv__new, 10 * MS, recs, n);

	(void)state;
	/* appended: the older columns keep their places */
	assert_non_null(strstr(text, ",gc_seconds,lost,footprint_bytes,arena_bytes,rss_bytes\n"));
	/* bucket 0 has no footprint events yet: empty, not 0 */
	assert_non_null(
	    strstr(text, "\n0,pid 100 python3,1,0,8,0,8,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,,,\n"));
	assert_non_null(strstr(text,
			       "\n0.01,pid 100 python3,0,0,0,0,8,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
			       "1056768,1048576,3145728\n"));
	assert_non_null(strstr(text,
			       "\n0.02,pid 100 python3,0,0,0,0,8,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
			       "1056768,1048576,3145728\n"));
	assert_non_null(strstr(text,
			       "\n0.03,pid 100 python3,0,0,0,0,8,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
			       "8192,0,3145728\n"));
	assert_non_null(strstr(text,
			       "\n0.04,pid 100 python3,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
			       "0,0,0\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frees_matched_by_address),
	    cmocka_unit_test(test_exit_drops_what_the_process_held),
	    cmocka_unit_test(test_late_event_counts_in_its_own_bucket),
	    cmocka_unit_test(test_buckets_close_as_time_passes),
	    cmocka_unit_test(test_dense_rows_for_every_bucket_of_a_live_lane),
	    cmocka_unit_test(test_collections),
	    cmocka_unit_test(test_lost_counts_grow),
	    cmocka_unit_test(test_process_moves_into_its_container),
	    cmocka_unit_test(test_dense_skips_to_a_lane_that_starts_later),
	    cmocka_unit_test(test_many_short_processes),
	    cmocka_unit_test(test_footprint_levels),
	    cmocka_unit_test(test_footprint_exec_and_exit),
	    cmocka_unit_test(test_footprint_moves_with_its_process),
	    cmocka_unit_test(test_chrome_is_sorted_json),
	    cmocka_unit_test(test_chrome_counters_only_on_change),
	    cmocka_unit_test(test_csv_rows_and_quoting),
	    cmocka_unit_test(test_csv_fractional_times),
	    cmocka_unit_test(test_chrome_footprint_counters),
	    cmocka_unit_test(test_csv_footprint_columns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
