// SPDX-License-Identifier: MIT
/*
 * What a process's events do to its books (ledger_impl.h): its live blocks
 * by address and the pymalloc blocks it holds without one, its footprint,
 * its running collection. Frees are sized by their allocation through the
 * process's tables of live blocks (util/hashmap.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/ledger_impl.h"

/* ---- blocks ---- */

/*
 * A block goes away: its size into the freed bytes of d. One with no
 * address seen allocated releases a block of h held without one
 * (pyblock.h: the free's block is its pool header's size), or else is an
 * unmatched free.
 */
void lg_block_free(struct ledger *lg, struct proc *p, bool py, uint64_t addr, uint32_t block,
		   struct lg_delta *d)
{
	struct u64map_ent *e = u64map__find(py ? &p->py : &p->libc, addr);
	uint64_t size;

	if (!e) {
		uint32_t b = py ? pm_held__free(&p->held, block) : 0;

		if (!b) {
			d->unmatched++;
			d->unmatched_py += py;
			return;
		}
		d->py_free_bytes += b;
		d->lv.py_net = lg_sub(d->lv.py_net, b);
		return;
	}
	size = e->val;
	u64map__del(py ? &p->py : &p->libc, e);
	lg->live_blocks--;
	if (py) {
		d->py_free_bytes += size;
		d->lv.py_net = lg_sub(d->lv.py_net, (int64_t)size);
		d->lv.py_live--;
	} else {
		d->libc_free_bytes += size;
		d->lv.libc_net = lg_sub(d->lv.libc_net, (int64_t)size);
		d->lv.libc_live--;
	}
}

static int block_alloc(struct ledger *lg, struct proc *p, bool py, uint64_t addr, uint64_t size,
		       struct lg_delta *d)
{
	struct u64map *t = py ? &p->py : &p->libc;
	struct u64map_ent *e = u64map__find(t, addr);
	const struct lg_levels *lv = &p->lane->pub.lv;
	int64_t grow = (int64_t)size;

	if (e) {
		/* its free was lost: the old block is gone all the same */
		grow = lg_sub(grow, (int64_t)e->val);
		e->val = size;
	} else if (lv->py_live + lv->libc_live + d->lv.py_live + d->lv.libc_live < LG_LIVE_MAX) {
		if (!u64map__put(t, addr, size))
			return -ENOMEM;
		lg->live_blocks++;
		if (py)
			d->lv.py_live++;
		else
			d->lv.libc_live++;
	}
	/* Beyond the bound the block is not remembered; its free will
	 * count as unmatched. */
	if (py)
		d->lv.py_net = lg_add(d->lv.py_net, grow);
	else
		d->lv.libc_net = lg_add(d->lv.libc_net, grow);
	return 0;
}

int lg_on_alloc(struct ledger *lg, struct proc *p, const struct pm_event *ev, struct lg_delta *d)
{
	bool py = pm_kind_is_python_alloc(ev->kind);
	bool re = ev->kind == PM_PY_REALLOC || ev->kind == PM_REALLOC;

	if (py) {
		d->py_alloc_bytes = ev->alloc.size;
		if (re)
			d->lv.py_net =
			    lg_add(d->lv.py_net, pm_held__note(&p->held, ev->alloc.old_block));
	} else {
		d->libc_alloc_bytes = ev->alloc.size;
	}
	/* An inlined copy (LTO): no address for the new block, which is held
	 * in pymalloc's sizes until a sized free. A realloc without one
	 * elsewhere (frees not sized) failed. */
	if (py && !ev->alloc.addr && (!re || p->held.sized)) {
		d->py_unaddressed++;
		if (re && ev->alloc.old_addr)
			lg_block_free(lg, p, true, ev->alloc.old_addr, ev->alloc.old_block, d);
		d->lv.py_net = lg_add(
		    d->lv.py_net,
		    pm_held__alloc(&p->held,
				   pm_pymalloc_realloc_block(re ? ev->alloc.old_addr : 0,
							     ev->alloc.old_block, ev->alloc.size)));
		return 0;
	}
	/* A failed realloc leaves the old block; realloc(p, 0) may free it
	 * and return NULL. */
	if (re && ev->alloc.old_addr && (ev->alloc.addr || !ev->alloc.size))
		lg_block_free(lg, p, py, ev->alloc.old_addr, ev->alloc.old_block, d);
	if (ev->alloc.addr)
		return block_alloc(lg, p, py, ev->alloc.addr, ev->alloc.size, d);
	return 0;
}

/* What a process holds leaves its lane (it exits or execs). */
void lg_drop_memory(struct ledger *lg, struct proc *p, struct lg_delta *d)
{
	d->lv.py_net = lg_sub(d->lv.py_net, p->py_net);
	d->lv.libc_net = lg_sub(d->lv.libc_net, p->libc_net);
	d->lv.py_live -= p->py.len;
	d->lv.libc_live -= p->libc.len;
	lg->live_blocks -= p->py.len + p->libc.len;
	/* its share goes to 0 with d, as any delta of its event adds to it */
	memset(&p->held, 0, sizeof(p->held));
	u64map__free(&p->py);
	u64map__free(&p->libc);
}

/* ---- footprint ---- */

/* A process's share of its lane's footprint levels. */
void lg_fp_share(const struct proc *p, int64_t v[FS_N])
{
	v[FS_ARENA] = (int64_t)p->fp.bytes[FP_ARENA];
	v[FS_MMAP] = (int64_t)p->fp.bytes[FP_MMAP];
	v[FS_HEAP] = (int64_t)p->fp.heap;
	v[FS_RSS] = p->fp.have_rss ? (int64_t)p->fp.rss : 0;
	v[FS_ANON] = p->fp.have_rss ? (int64_t)p->fp.rss_anon : 0;
}

static int64_t add_signed(int64_t a, int64_t v, int64_t sign)
{
	return sign < 0 ? lg_sub(a, v) : lg_add(a, v);
}

void lg_fp_add(struct lg_delta *d, const int64_t v[FS_N], int64_t sign)
{
	d->lv.fp_arena = add_signed(d->lv.fp_arena, v[FS_ARENA], sign);
	d->lv.fp_mmap = add_signed(d->lv.fp_mmap, v[FS_MMAP], sign);
	d->lv.fp_heap = add_signed(d->lv.fp_heap, v[FS_HEAP], sign);
	d->lv.rss = add_signed(d->lv.rss, v[FS_RSS], sign);
	d->lv.rss_anon = add_signed(d->lv.rss_anon, v[FS_ANON], sign);
}

/* A vm or rss event, or an exec (which unmaps everything). */
int lg_fp_apply(struct proc *p, const struct pm_event *ev, struct lg_delta *d)
{
	int64_t was[FS_N], now[FS_N];
	int err;

	/* a late sample of a process that exited would stay in the levels */
	if (p->pub.exited)
		return 0;
	lg_fp_share(p, was);
	err = footprint__apply(&p->fp, ev, p->pub.python_version[0] ? p->pub.python_version : NULL);
	lg_fp_share(p, now);
	lg_fp_add(d, was, -1);
	lg_fp_add(d, now, 1);
	return err;
}

/* An exited process's memory is gone: its share leaves the lane. */
void lg_fp_drop(struct proc *p, struct lg_delta *d)
{
	int64_t was[FS_N];

	lg_fp_share(p, was);
	lg_fp_add(d, was, -1);
	footprint__free(&p->fp);
}

/* ---- collections ---- */

/* ---- events inside collections ---- */

int lg_note_obj_event(struct proc *p, uint64_t ts)
{
	uint64_t n = p->obj_events++;

	/* a shell's or a sleep's events never fall inside a collection */
	if (!p->ticks && !p->pub.is_python && !p->gc_open && !p->gc.start_ns)
		return 0;
	if (!p->ticks && !(p->ticks = calloc(1, sizeof(*p->ticks))))
		return -ENOMEM;
	p->ticks->exact[n % LG_TICKS_EXACT] = ts;
	if (n % LG_TICK_FINE == 0)
		p->ticks->fine[n / LG_TICK_FINE % LG_TICKS] = ts;
	if (n % LG_TICK_COARSE == 0)
		p->ticks->coarse[n / LG_TICK_COARSE % LG_TICKS] = ts;
	return 0;
}

/*
 * In a ring of the times of every step-th event (written: how many were
 * written, the latest size of them kept), the first entry at or after ts
 * as an event number; *older: ts is before every entry kept (and some were
 * dropped), so the answer only bounds the count.
 */
static uint64_t first_since(const uint64_t *ring, size_t size, uint64_t written, uint64_t step,
			    uint64_t ts, bool *older)
{
	uint64_t lo = written > size ? written - size : 0, hi = written;

	*older = lo > 0 && ring[lo % size] >= ts;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (ring[mid % size] >= ts)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo * step;
}

uint64_t lg_obj_events_since(const struct proc *p, uint64_t ts)
{
	uint64_t n = p->obj_events, first;
	bool older;

	if (!p->ticks || !n)
		return 0;
	first = first_since(p->ticks->exact, LG_TICKS_EXACT, n, 1, ts, &older);
	if (older)
		first = first_since(p->ticks->fine, LG_TICKS, (n + LG_TICK_FINE - 1) / LG_TICK_FINE,
				    LG_TICK_FINE, ts, &older);
	if (older)
		first = first_since(p->ticks->coarse, LG_TICKS,
				    (n + LG_TICK_COARSE - 1) / LG_TICK_COARSE, LG_TICK_COARSE, ts,
				    &older);
	return first < n ? n - first : 0;
}

/* End p's running collection without a done (its process exited, exec'd
 * or moved, or a new one began first). */
int lg_gc_abandon(struct ledger *lg, struct proc *p, uint64_t ts)
{
	if (!p->gc_open)
		return 0;
	p->gc_open = false;
	p->gc.state = LG_GC_ABANDONED;
	p->gc.end_ns = ts > p->gc.start_ns ? ts : p->gc.start_ns;
	return lg_emit_gc(lg, p->lane, &p->gc);
}

int lg_on_gc(struct ledger *lg, struct proc *p, const struct pm_event *ev, struct lg_delta *d)
{
	struct lane *l = p->lane;
	int err;

	if (ev->kind == PM_GC_START) {
		err = lg_gc_abandon(lg, p, ev->ts_ns);
		if (err)
			return err;
		memset(&p->gc, 0, sizeof(p->gc));
		p->gc.seq = l->gc_seq++;
		p->gc.state = LG_GC_RUNNING;
		p->gc.start_ns = ev->ts_ns;
		p->gc.pid = p->pub.pid;
		p->gc.tid = ev->tid;
		p->gc.generation = ev->gc.generation;
		p->gc.collected = -1;
		p->gc.uncollectable = -1;
		p->gc.source = ev->gc.source;
		p->gc.start_seen = true;
		p->gc_open = true;
		d->gc_starts = 1;
		return lg_emit_gc(lg, l, &p->gc);
	}
	if (!p->gc_open) {
		/* its start was not seen: it started duration_ns before */
		struct lg_delta s = {.pid = p->pub.pid, .gc_starts = 1};

		memset(&p->gc, 0, sizeof(p->gc));
		p->gc.seq = l->gc_seq++;
		p->gc.start_ns =
		    ev->ts_ns > ev->gc.duration_ns ? ev->ts_ns - ev->gc.duration_ns : 0;
		p->gc.pid = p->pub.pid;
		p->gc.tid = ev->tid;
		p->gc.generation = -1;
		p->gc.collected = p->gc.uncollectable = -1;
		p->gc.source = ev->gc.source;
		s.ts_ns = p->gc.start_ns;
		err = lg_emit_delta(lg, l, &s);
		if (err)
			return err;
	}
	p->gc_open = false;
	p->gc.state = LG_GC_DONE;
	p->gc.end_ns = ev->ts_ns > p->gc.start_ns ? ev->ts_ns : p->gc.start_ns;
	p->gc.duration_ns = ev->gc.duration_ns;
	if (ev->gc.generation >= 0)
		p->gc.generation = ev->gc.generation;
	p->gc.collected = ev->gc.collected;
	p->gc.uncollectable = ev->gc.uncollectable;
	if (ev->gc.source)
		p->gc.source = ev->gc.source;
	d->gc_done = 1;
	p->gc.traced_inside = lg_obj_events_since(p, p->gc.start_ns);
	d->gc_inside = p->gc.traced_inside;
	d->gc_generation = p->gc.generation;
	d->gc_collected = p->gc.collected;
	d->gc_uncollectable = p->gc.uncollectable;
	d->gc_ns = p->gc.duration_ns ? p->gc.duration_ns : p->gc.end_ns - p->gc.start_ns;
	return lg_emit_gc(lg, l, &p->gc);
}
