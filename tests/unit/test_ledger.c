// SPDX-License-Identifier: MIT
/* The accounting core (user/model/ledger.h): its rules, and that a store
 * adding up its deltas keeps the same books as the ledger's lanes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/ledger.h"
#include "records.h"

#define MS 1000000ull
#define S  1000000000ull
#define T0 (1000 * S)

/* ---- a store that adds up deltas, as every real store does ---- */

#define LANES 4096

static struct store {
	struct lg_totals tot[LANES];
	struct lg_levels lv[LANES];
	size_t nlanes;
	unsigned gcs_done, gcs_abandoned, gcs_running, joins, deallocs;
	struct lg_gc last_gc;
} st;

static int st_lane(void *ctx, const struct lg_lane *l)
{
	(void)ctx;
	assert_true(l->index < LANES);
	if (l->index >= st.nlanes)
		st.nlanes = l->index + 1;
	return 0;
}

static int st_join(void *ctx, const struct lg_lane *l, const struct lg_proc *p)
{
	(void)ctx, (void)l, (void)p;
	st.joins++;
	return 0;
}

static int st_delta(void *ctx, const struct lg_lane *l, const struct lg_delta *d)
{
	struct lg_totals *t = &st.tot[l->index];
	struct lg_levels *v = &st.lv[l->index];

	(void)ctx;
	if (d->kind)
		t->events[d->kind]++;
	t->py_allocs += d->py_allocs;
	t->py_frees += d->py_frees;
	t->libc_allocs += d->libc_allocs;
	t->libc_frees += d->libc_frees;
	t->deallocs += d->deallocs;
	t->py_alloc_bytes += d->py_alloc_bytes;
	t->py_free_bytes += d->py_free_bytes;
	t->libc_alloc_bytes += d->libc_alloc_bytes;
	t->libc_free_bytes += d->libc_free_bytes;
	t->lost += d->lv.lost;
	t->unmatched_frees += d->unmatched;
	t->gc_starts += d->gc_starts;
	t->gcs += d->gc_done;
	v->py_net += d->lv.py_net;
	v->libc_net += d->lv.libc_net;
	v->py_live += d->lv.py_live;
	v->libc_live += d->lv.libc_live;
	v->fp_arena += d->lv.fp_arena;
	v->fp_mmap += d->lv.fp_mmap;
	v->fp_heap += d->lv.fp_heap;
	v->rss += d->lv.rss;
	return 0;
}

static int st_gc(void *ctx, const struct lg_lane *l, const struct lg_gc *g)
{
	(void)ctx, (void)l;
	st.last_gc = *g;
	if (g->state == LG_GC_DONE)
		st.gcs_done++;
	else if (g->state == LG_GC_ABANDONED)
		st.gcs_abandoned++;
	else
		st.gcs_running++;
	return 0;
}

static int st_dealloc(void *ctx, const struct lg_lane *l, const struct lg_proc *p, uint64_t ts,
		      uint32_t id)
{
	(void)ctx, (void)l, (void)p, (void)ts, (void)id;
	st.deallocs++;
	return 0;
}

static const struct lg_ops st_ops = {
    .lane = st_lane,
    .join = st_join,
    .delta = st_delta,
    .gc = st_gc,
    .dealloc = st_dealloc,
};

static struct ledger *lg;

static int setup(void **state)
{
	(void)state;
	memset(&st, 0, sizeof(st));
	lg = ledger__new();
	assert_non_null(lg);
	assert_int_equal(ledger__subscribe(lg, &st_ops, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ledger__free(lg);
	return 0;
}

/* Every lane: the store's sums are the ledger's books. */
static void assert_books_agree(void)
{
	assert_int_equal(st.nlanes, ledger__lane_count(lg));
	for (size_t i = 0; i < st.nlanes; i++) {
		const struct lg_lane *l = ledger__lane(lg, i);

		assert_memory_equal(st.tot[i].events, l->tot.events, sizeof(l->tot.events));
		assert_int_equal(st.tot[i].py_allocs, l->tot.py_allocs);
		assert_int_equal(st.tot[i].py_frees, l->tot.py_frees);
		assert_int_equal(st.tot[i].libc_allocs, l->tot.libc_allocs);
		assert_int_equal(st.tot[i].libc_frees, l->tot.libc_frees);
		assert_int_equal(st.tot[i].py_alloc_bytes, l->tot.py_alloc_bytes);
		assert_int_equal(st.tot[i].py_free_bytes, l->tot.py_free_bytes);
		assert_int_equal(st.tot[i].libc_alloc_bytes, l->tot.libc_alloc_bytes);
		assert_int_equal(st.tot[i].libc_free_bytes, l->tot.libc_free_bytes);
		assert_int_equal(st.tot[i].lost, l->tot.lost);
		assert_int_equal(st.tot[i].unmatched_frees, l->tot.unmatched_frees);
		assert_int_equal(st.tot[i].gcs, l->tot.gcs);
		assert_int_equal(st.tot[i].gc_starts, l->tot.gc_starts);
		assert_int_equal(st.lv[i].py_net, l->lv.py_net);
		assert_int_equal(st.lv[i].libc_net, l->lv.libc_net);
		assert_int_equal(st.lv[i].py_live, l->lv.py_live);
		assert_int_equal(st.lv[i].libc_live, l->lv.libc_live);
		assert_int_equal(st.lv[i].fp_arena + st.lv[i].fp_mmap + st.lv[i].fp_heap,
				 lg_levels__footprint(&l->lv));
	}
}

/* ---- records ---- */

static void feed(const struct pm_record *r)
{
	assert_int_equal(ledger__record(lg, r), 0);
}

static void alloc(uint32_t pid, uint64_t ts, enum pm_kind k, uint64_t size, uint64_t addr,
		  uint64_t old)
{
	struct pm_record r = rec_event(pid, 1, ts, k);

	r.ev.alloc.size = size;
	r.ev.alloc.addr = addr;
	r.ev.alloc.old_addr = old;
	feed(&r);
}

static void dofree(uint32_t pid, uint64_t ts, enum pm_kind k, uint64_t addr, uint32_t block)
{
	struct pm_record r = rec_event(pid, 1, ts, k);

	r.ev.free.addr = addr;
	r.ev.free.block = block;
	feed(&r);
}

static void proc_ev(uint32_t pid, uint64_t cgroup, uint64_t ts, enum pm_kind k)
{
	struct pm_record r = rec_event(pid, cgroup, ts, k);

	r.ev.proc.comm = "python3";
	r.ev.proc.path = k == PM_EXEC ? "/usr/bin/python3" : "";
	feed(&r);
}

static void process(uint32_t pid, uint64_t cgroup, uint64_t ts)
{
	struct pm_record r = {.type = PM_REC_PROCESS};

	r.proc.ts_ns = ts;
	r.proc.pid = pid;
	r.proc.cgroup_id = cgroup;
	r.proc.comm = "python3";
	r.proc.exe = "/usr/bin/python3";
	r.proc.python = "/usr/bin/python3";
	r.proc.python_version = "3.11";
	feed(&r);
}

static void container(uint64_t cgroup, uint64_t ts, const char *name)
{
	struct pm_record r = {.type = PM_REC_CONTAINER};

	r.cont.ts_ns = ts;
	r.cont.cgroup_id = cgroup;
	r.cont.state = PM_CONTAINER_RUNNING;
	r.cont.runtime = "docker";
	r.cont.id = "";
	r.cont.name = name;
	r.cont.image = "img";
	r.cont.project = "";
	r.cont.service = "";
	feed(&r);
}

static void gc(uint32_t pid, uint64_t ts, enum pm_kind k, int32_t gen, int64_t collected,
	       uint64_t dur)
{
	struct pm_record r = rec_event(pid, 1, ts, k);

	r.ev.gc.generation = gen;
	r.ev.gc.source = PM_GC_SRC_USDT;
	r.ev.gc.collected = collected;
	r.ev.gc.duration_ns = dur;
	feed(&r);
}

static void lost(uint32_t pid, uint64_t ts, enum pm_kind k, uint64_t count)
{
	struct pm_record r = {.type = PM_REC_LOST};

	r.lost.ts_ns = ts;
	r.lost.pid = pid;
	r.lost.kind = k;
	r.lost.count = count;
	feed(&r);
}

/* ---- the rules ---- */

static void test_frees_sized_by_their_allocation(void **state)
{
	const struct lg_lane *l;

	(void)state;
	alloc(1, T0, PM_PY_MALLOC, 100, 0xa0, 0);
	alloc(1, T0, PM_MALLOC, 1000, 0xa0, 0);		     /* same address, other allocator */
	alloc(1, T0, PM_PY_REALLOC, 300, 0xc0, 0xa0);	     /* moves: the old block is freed */
	alloc(1, T0, PM_PY_REALLOC, 10, 0, 0xc0);	     /* fails: the old block stays */
	alloc(1, T0, PM_REALLOC, 0, 0, 0xa0);		     /* realloc(p, 0) frees it */
	dofree(1, T0, PM_PY_FREE, 0xdead, PM_BLOCK_UNKNOWN); /* never seen */
	l = ledger__lane(lg, 0);
	assert_int_equal(l->tot.py_allocs, 3);
	assert_int_equal(l->tot.py_alloc_bytes, 100 + 300 + 10); /* requested, failed or not */
	assert_int_equal(l->tot.py_free_bytes, 100);
	assert_int_equal(l->lv.py_net, 300);
	assert_int_equal(l->lv.py_live, 1);
	assert_int_equal(l->tot.libc_free_bytes, 1000);
	assert_int_equal(l->lv.libc_net, 0);
	assert_int_equal(l->tot.unmatched_frees, 1);
	assert_books_agree();
}

/* What a process holds leaves its lane at an exec and at its exit, and
 * what it allocates after an exec is its own again: nothing is left over. */
static void test_exec_then_exit_leaves_nothing(void **state)
{
	const struct lg_lane *l;

	(void)state;
	alloc(1, T0, PM_MALLOC, 578, 0x10, 0);
	alloc(1, T0, PM_PY_MALLOC, 64, 0x20, 0);
	proc_ev(1, 1, T0 + MS, PM_EXEC);
	l = ledger__lane(lg, 0);
	assert_int_equal(l->lv.libc_net, 0);
	assert_int_equal(l->lv.py_net, 0);
	alloc(1, T0 + 2 * MS, PM_MALLOC, 40, 0x30, 0);
	dofree(1, T0 + 3 * MS, PM_FREE, 0x10, 0); /* the old program's block: gone already */
	assert_int_equal(l->lv.libc_net, 40);
	proc_ev(1, 1, T0 + 4 * MS, PM_EXIT);
	assert_int_equal(l->lv.libc_net, 0);
	assert_int_equal(l->lv.py_net, 0);
	assert_int_equal(l->lv.libc_live, 0);
	assert_true(l->ended);
	assert_int_equal(l->tot.libc_free_bytes, 0); /* leaving is not freeing */
	assert_books_agree();
}

/* A process seen before its container's record gives its lane to the
 * container; another process of it moves in with what it holds. */
static void test_container_takes_the_first_lane(void **state)
{
	const struct lg_lane *l;

	(void)state;
	alloc(7, T0, PM_MALLOC, 100, 0x10, 0); /* cgroup 1 */
	alloc(8, T0, PM_MALLOC, 30, 0x10, 0);
	assert_int_equal(ledger__lane_count(lg), 2);
	container(1, T0 + MS, "web");
	assert_int_equal(ledger__lane_count(lg), 2);
	l = ledger__lane(lg, 0);
	assert_int_equal(l->kind, LG_LANE_CONTAINER);
	assert_string_equal(l->name, "web");
	assert_int_equal(l->lv.libc_net, 130);
	assert_int_equal(l->lv.libc_live, 2);
	assert_int_equal(ledger__lane(lg, 1)->lv.libc_net, 0);
	assert_true(ledger__lane(lg, 1)->ended);
	dofree(8, T0 + 2 * MS, PM_FREE, 0x10, 0);
	assert_int_equal(l->lv.libc_net, 100);
	assert_books_agree();
}

/* A PROCESS record that names another cgroup moves the process, and what
 * it holds goes with it. */
static void test_process_moves_with_its_blocks(void **state)
{
	(void)state;
	container(5, T0, "a");
	container(6, T0, "b");
	process(9, 5, T0 + MS);
	alloc(9, T0 + 2 * MS, PM_PY_MALLOC, 48, 0x100, 0);
	process(9, 6, T0 + 3 * MS);
	assert_int_equal(ledger__lane(lg, 0)->lv.py_net, 0);
	assert_int_equal(ledger__lane(lg, 1)->lv.py_net, 48);
	dofree(9, T0 + 4 * MS, PM_PY_FREE, 0x100, 0);
	assert_int_equal(ledger__lane(lg, 1)->lv.py_net, 0);
	assert_int_equal(ledger__lane(lg, 1)->tot.py_free_bytes, 48);
	/* the allocation counted where it happened */
	assert_int_equal(ledger__lane(lg, 0)->tot.py_alloc_bytes, 48);
	assert_books_agree();
}

/* LTO builds: allocations at inlined copies have no address; they are
 * held in pymalloc's sizes, and sized frees release them. */
static void test_held_blocks(void **state)
{
	const struct lg_lane *l;

	(void)state;
	alloc(3, T0, PM_PY_MALLOC, 20, 0, 0); /* 32-byte block */
	alloc(3, T0, PM_PY_MALLOC, 20, 0, 0);
	l = ledger__lane(lg, 0);
	assert_int_equal(l->lv.py_net, 0); /* not until frees are known to be sized */
	dofree(3, T0 + MS, PM_PY_FREE, 0x5000, 32);
	assert_int_equal(l->lv.py_net, 32);
	assert_int_equal(l->tot.py_free_bytes, 32);
	dofree(3, T0 + MS, PM_PY_FREE, 0x5010, 64); /* none of that class held */
	assert_int_equal(l->lv.py_net, 32);
	assert_int_equal(l->tot.unmatched_frees, 1);
	dofree(3, T0 + MS, PM_PY_FREE, 0x5020, PM_BLOCK_RAW);
	assert_int_equal(l->tot.unmatched_frees, 2);
	assert_books_agree();
}

static void test_collections(void **state)
{
	const struct lg_lane *l;

	(void)state;
	gc(4, T0, PM_GC_START, 2, -1, 0);
	gc(4, T0 + MS, PM_GC_DONE, 2, 17, MS);
	l = ledger__lane(lg, 0);
	assert_int_equal(l->tot.gcs, 1);
	assert_int_equal(l->tot.gc_gen[2], 1);
	assert_int_equal(l->tot.gc_collected, 17);
	assert_int_equal(l->tot.gc_ns, MS);
	/* a done whose start was not seen began duration_ns before */
	gc(4, T0 + 10 * MS, PM_GC_DONE, 0, 3, 2 * MS);
	assert_int_equal(st.last_gc.start_ns, T0 + 8 * MS);
	assert_false(st.last_gc.start_seen);
	assert_int_equal(l->tot.gc_starts, 2);
	/* a start while one runs: that one is abandoned */
	gc(4, T0 + 20 * MS, PM_GC_START, 0, -1, 0);
	gc(4, T0 + 21 * MS, PM_GC_START, 1, -1, 0);
	assert_int_equal(st.gcs_abandoned, 1);
	/* and so is one whose process exits */
	proc_ev(4, 1, T0 + 22 * MS, PM_EXIT);
	assert_int_equal(st.gcs_abandoned, 2);
	assert_int_equal(st.last_gc.end_ns, T0 + 22 * MS);
	assert_int_equal(l->tot.gcs, 2);
	assert_int_equal(l->tot.gc_starts, 4);
	assert_books_agree();
}

static void test_lost_counts_grow(void **state)
{
	(void)state;
	alloc(5, T0, PM_PY_MALLOC, 1, 0x10, 0);
	lost(5, T0 + MS, PM_PY_MALLOC, 100);
	lost(5, T0 + 2 * MS, PM_PY_MALLOC, 150); /* cumulative: 50 more */
	lost(5, T0 + 3 * MS, PM_PY_MALLOC, 150); /* nothing new */
	lost(0, T0 + 4 * MS, PM_FREE, 7);	 /* nobody's */
	assert_int_equal(ledger__lane(lg, 0)->tot.lost, 150);
	assert_int_equal(ledger__lane(lg, 1)->kind, LG_LANE_UNKNOWN);
	assert_int_equal(ledger__lane(lg, 1)->tot.lost, 7);
	assert_int_equal(ledger__lost_total(lg), 157);
	assert_books_agree();
}

/* Ended processes of a container are forgotten a while after, and their
 * lane keeps its books. */
static void test_ended_processes_forgotten(void **state)
{
	const struct lg_lane *l;
	size_t mem_1000 = 0;

	(void)state;
	container(2, T0, "c");
	/* a process every 10 ms: those that ended 10 s before the latest
	 * record are forgotten */
	for (uint32_t i = 0; i < 3000; i++) {
		struct pm_record r = rec_event(100 + i, 2, T0 + i * 10 * MS, PM_MALLOC);

		r.ev.alloc.size = 8;
		r.ev.alloc.addr = 0x1000;
		feed(&r);
		r = rec_event(100 + i, 2, T0 + i * 10 * MS, PM_FREE);
		r.ev.free.addr = 0x1000;
		feed(&r);
		proc_ev(100 + i, 2, T0 + i * 10 * MS + 1, PM_EXIT);
		if (i == 999)
			mem_1000 = ledger__memory(lg);
	}
	l = ledger__lane(lg, 0);
	assert_int_equal(ledger__lane_count(lg), 1);
	assert_int_equal(l->tot.libc_allocs, 3000);
	assert_int_equal(l->tot.libc_free_bytes, 3000 * 8);
	assert_int_equal(l->npids, 3000);
	/* kept, 3000 processes would take three times the memory of 1000 */
	assert_true(ledger__memory(lg) < 2 * mem_1000);
	assert_books_agree();
}

/* Many processes, lanes and moves, in a pseudo-random stream: every delta
 * a store saw adds up to the ledger's own books. */
static void test_random_stream_agrees(void **state)
{
	uint64_t x = 88172645463325252ull, ts = T0;

	(void)state;
	container(10, T0, "x");
	container(11, T0, "y");
	for (int i = 0; i < 200000; i++) {
		uint32_t pid, r;
		uint64_t cg, addr;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (uint32_t)x;
		pid = 1 + r % 13;
		cg = pid % 3 == 0 ? 10 : pid % 3 == 1 ? 11 : 12;
		addr = 0x1000 + ((r >> 8) % 64) * 16;
		ts += (r >> 20) % 3 ? 1000 : 0; /* equal times too */
		switch ((r >> 4) % 11) {
		case 0:
		case 1:
		case 2: {
			struct pm_record e =
			    rec_event(pid, cg, ts, (r >> 12) & 1 ? PM_PY_MALLOC : PM_MALLOC);

			e.ev.alloc.size = 1 + (r >> 14) % 600;
			e.ev.alloc.addr = (r >> 13) % 7 ? addr : 0;
			feed(&e);
			break;
		}
		case 3:
		case 4: {
			struct pm_record e =
			    rec_event(pid, cg, ts, (r >> 12) & 1 ? PM_PY_FREE : PM_FREE);

			e.ev.free.addr = addr;
			e.ev.free.block = e.ev.kind == PM_PY_FREE && (r >> 15) & 1 ? 32 : 0;
			feed(&e);
			break;
		}
		case 5: {
			struct pm_record e =
			    rec_event(pid, cg, ts, (r >> 12) & 1 ? PM_PY_REALLOC : PM_REALLOC);

			e.ev.alloc.size = (r >> 14) % 300;
			e.ev.alloc.addr = (r >> 13) % 5 ? addr + 16 : 0;
			e.ev.alloc.old_addr = addr;
			feed(&e);
			break;
		}
		case 6:
			gc(pid, ts, (r >> 12) & 1 ? PM_GC_START : PM_GC_DONE,
			   (int32_t)((r >> 13) % 3), (r >> 15) % 50, 700);
			break;
		case 7:
			if ((r >> 12) % 50 == 0)
				proc_ev(pid, cg, ts, (r >> 18) & 1 ? PM_EXEC : PM_EXIT);
			break;
		case 8:
			if ((r >> 12) % 200 == 0)
				process(pid, 10 + (r >> 14) % 3, ts);
			break;
		case 9:
			lost((r >> 12) % 4 ? pid : 0, ts, PM_PY_MALLOC, (r >> 14) % 1000);
			break;
		default: {
			struct pm_record e = rec_event(pid, cg, ts, PM_PY_DEALLOC);

			e.ev.dealloc.type_name = (r >> 12) & 1 ? "list" : "dict";
			feed(&e);
			break;
		}
		}
	}
	assert_int_equal(ledger__finish(lg), 0);
	assert_books_agree();
	assert_true(st.deallocs > 0 && st.gcs_done > 0 && st.joins > 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_frees_sized_by_their_allocation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_then_exit_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_takes_the_first_lane, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_process_moves_with_its_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_collections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_counts_grow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ended_processes_forgotten, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_stream_agrees, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
