// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Garbage collections, each reported as a gc_start and a gc_done. Three ways
 * in, best first (user space picks one per build: attach/probe_sources.c):
 *
 * - An entry and a return probe on the collector function (found by symbol,
 *   or in a stripped build by its debug message: attach/pycode.c) that read
 *   the GC state's generation_stats at both points. The generation whose
 *   `collections` grew is the one collected, and the growth of its
 *   `collected` and `uncollectable` is what gc.callbacks reports: exact on
 *   every build and version whose layout is known (regs.h: pm_gc_layout),
 *   with no need to know where a compiler clone takes its arguments, and a
 *   call that collects nothing (3.13's automatic collections return at once
 *   when no generation is due) shows as none. Both records are emitted at
 *   the return, the start stamped with the entry's time.
 * - The same probes without a layout: generation from the argument (the
 *   cookie says where), collected from the return value; 3.13's automatic
 *   collections (generation -1, chosen inside) are held back until a probe
 *   on invoke_gc_callback tells the generation.
 * - The python:gc__start/gc__done USDT markers.
 *
 * 3.13 enters the collector again from inside a collection (finalizers that
 * collect); only the outermost call is reported, told apart by its stack
 * pointer, so that a return probe missed for any reason cannot wedge a
 * thread's state.
 */
#include "pymac.bpf.h"
#include <bpf/usdt.bpf.h>

/* No collection runs this long (seconds at most on multi-GB heaps). */
#define GC_STALE_NS (600ull * 1000000000ull)

struct gc_pending {
	__u64 ts_ns;
	__u64 sp;      /* stack pointer at the outermost entry */
	__u64 gcstate; /* the GC state read (stats layouts only) */
	__s64 stats[9];
	__s32 generation;
	__u16 source;
	__u8 deferred; /* generation not known yet: gc_start not emitted */
	__u8 slot;     /* pm_gc_layouts slot; 0: the argument and return value */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct gc_pending);
} gc_pending SEC(".maps");

static __always_inline void gc_emit(__u32 kind, __u64 id, __s32 generation, __u32 source,
				    __s64 collected, __s64 uncollectable, __u64 start_ns, __u64 *ts)
{
	struct pm_gc_rec *r;

	r = pm_reserve(struct pm_gc_rec, kind, id >> 32);
	if (!r) {
		if (ts)
			*ts = bpf_ktime_get_ns();
		return;
	}
	pm_fill_hdr(&r->h, kind, id);
	r->generation = generation;
	r->source = source;
	r->collected = collected;
	r->uncollectable = uncollectable;
	r->duration_ns = 0;
	if (kind == PM_GC_DONE)
		r->duration_ns = r->h.ts_ns - start_ns;
	else if (start_ns)
		r->h.ts_ns = start_ns;
	if (ts)
		*ts = r->h.ts_ns;
	pm_submit_now(r);
}

static __always_inline int gc_start(__s32 generation, __u32 source)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gc_pending p = {};

	if (!pm_is_traced(id >> 32))
		return 0;
	p.generation = generation;
	p.source = source;
	if (generation < 0 && source == PM_GC_SRC_UPROBE) {
		p.deferred = 1;
		p.ts_ns = bpf_ktime_get_ns();
	} else {
		gc_emit(PM_GC_START, id, generation, source, -1, -1, 0, &p.ts_ns);
	}
	bpf_map_update_elem(&gc_pending, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int gc_done(__s64 collected, __u32 source)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gc_pending *p;

	p = bpf_map_lookup_elem(&gc_pending, &tid);
	if (!p || p->source != source || p->slot)
		return 0;
	/* deferred: returned before choosing a generation, no collection */
	if (!p->deferred)
		gc_emit(PM_GC_DONE, id, p->generation, source, collected, -1, p->ts_ns, NULL);
	bpf_map_delete_elem(&gc_pending, &tid);
	return 0;
}

SEC("usdt")
int BPF_USDT(pm_gc_usdt_start, int generation)
{
	return gc_start(generation, PM_GC_SRC_USDT);
}

SEC("usdt")
int BPF_USDT(pm_gc_usdt_done, long collected)
{
	return gc_done(collected, PM_GC_SRC_USDT);
}

/* The GC state of the process the probe fires in, 0 if it cannot be read
 * or fails the layout's self-check. */
static __always_inline __u64 gc_state(struct pt_regs *ctx, const struct pm_gc_layout *l, __s64 dist)
{
	__u64 rt = PT_REGS_IP(ctx) + dist, gs = rt, ptr = 0;

	if (l->interp_off) {
		if (bpf_probe_read_user(&gs, sizeof(gs), (void *)(rt + l->interp_off)) || !gs)
			return 0;
	}
	gs += l->gc_off;
	if (l->check_off && (bpf_probe_read_user(&ptr, sizeof(ptr), (void *)(gs + l->check_off)) ||
			     ptr != gs + l->check_to)) {
		__sync_fetch_and_add(&pm_gc_layout_misses, 1);
		return 0;
	}
	return gs;
}

SEC("uprobe")
int pm_gc_fn_enter(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), id, gs;
	__u32 slot = PM_GC_COOKIE_SLOT(cookie), spec = PM_GC_COOKIE_SPEC(cookie), tid;
	struct gc_pending *cur, p = {};
	const struct pm_gc_layout *l;

	if (!slot || slot >= PM_GC_SLOTS) {
		if (spec == PM_ARG_UNKNOWN)
			return 0;
		return gc_start((__s32)pm_arg_value(ctx, spec), PM_GC_SRC_UPROBE);
	}
	id = bpf_get_current_pid_tgid();
	if (!pm_is_traced(id >> 32))
		return 0;
	tid = (__u32)id;
	/* a call from inside a running collection is deeper in the stack; an
	 * entry older than any collection lasts was left by a lost return */
	cur = bpf_map_lookup_elem(&gc_pending, &tid);
	if (cur && cur->slot && PT_REGS_SP(ctx) < cur->sp &&
	    bpf_ktime_get_ns() - cur->ts_ns < GC_STALE_NS)
		return 0;
	l = &pm_gc_layouts[slot];
	gs = gc_state(ctx, l, PM_COOKIE_DIST(cookie));
	if (!gs || bpf_probe_read_user(p.stats, sizeof(p.stats), (void *)(gs + l->stats_off)))
		return 0;
	p.ts_ns = bpf_ktime_get_ns();
	p.sp = PT_REGS_SP(ctx);
	p.gcstate = gs;
	p.source = PM_GC_SRC_UPROBE;
	p.slot = slot;
	p.generation = -1;
	bpf_map_update_elem(&gc_pending, &tid, &p, BPF_ANY);
	return 0;
}

/* invoke_gc_callback(..., generation, ...): the cookie says where it is. */
SEC("uprobe")
int pm_gc_fn_generation(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gc_pending *p;

	p = bpf_map_lookup_elem(&gc_pending, &tid);
	if (!p || !p->deferred || p->slot)
		return 0;
	p->generation = (__s32)pm_arg_value(ctx, (__u32)bpf_get_attach_cookie(ctx));
	p->deferred = 0;
	gc_emit(PM_GC_START, id, p->generation, p->source, -1, -1, 0, &p->ts_ns);
	return 0;
}

/* The outermost return of a collector read through a layout: the growth of
 * generation_stats says which generation it collected, if any. */
static __always_inline int gc_stats_done(struct pt_regs *ctx, struct gc_pending *p, __u64 id)
{
	__s64 now[9];
	__s32 gen = -1;

	/* a nested call returns to a frame at or below the outermost entry's */
	if (PT_REGS_SP(ctx) <= p->sp)
		return 0;
	if (bpf_probe_read_user(now, sizeof(now),
				(void *)(p->gcstate + pm_gc_layouts[p->slot & 7].stats_off)))
		goto out;
	/* one generation per collection; the oldest grown wins should the
	 * state say more */
	for (int g = 0; g < 3; g++)
		if (now[3 * g] > p->stats[3 * g])
			gen = g;
	if (gen < 0)
		goto out;
	__s64 collected = now[3 * gen + 1] - p->stats[3 * gen + 1],
	      uncollectable = now[3 * gen + 2] - p->stats[3 * gen + 2];

	gc_emit(PM_GC_START, id, gen, PM_GC_SRC_UPROBE, -1, -1, p->ts_ns, NULL);
	gc_emit(PM_GC_DONE, id, gen, PM_GC_SRC_UPROBE, collected + uncollectable, uncollectable,
		p->ts_ns, NULL);
out:;
	__u32 tid = (__u32)id;

	bpf_map_delete_elem(&gc_pending, &tid);
	return 0;
}

SEC("uretprobe")
int pm_gc_fn_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gc_pending *p = bpf_map_lookup_elem(&gc_pending, &tid);

	if (p && p->slot)
		return gc_stats_done(ctx, p, id);
	return gc_done((__s64)PT_REGS_RC(ctx), PM_GC_SRC_UPROBE);
}
