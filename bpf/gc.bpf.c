// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Garbage collections. Two ways in, both producing gc_start/gc_done:
 * - the python:gc__start(int generation) / python:gc__done(Py_ssize_t n)
 *   USDT markers, where the interpreter was built with them;
 * - an entry probe and a return probe on the collector function
 *   (gc_collect_main, or collect in 3.8/3.9, and its compiler clones). The
 *   cookie of the entry probe names the register that holds `generation`,
 *   because a clone may take it elsewhere than the second argument; the
 *   return value is what the collector found unreachable.
 * Both measure the duration between the two points.
 *
 * Python 3.13's automatic collections enter the collector with generation
 * -1 ("choose"), and the collector picks one inside, or returns at once if
 * no generation is due. Such a start is held back until a probe on
 * invoke_gc_callback (called with the chosen generation, before the
 * collection) tells the generation; a collector that returns without that
 * call collected nothing and is not reported.
 */
#include "pymac.bpf.h"
#include <bpf/usdt.bpf.h>

struct gc_pending {
	__u64 ts_ns;
	__s32 generation;
	__u16 source;
	__u16 deferred; /* generation not known yet: gc_start not emitted */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct gc_pending);
} gc_pending SEC(".maps");

static __always_inline void gc_emit_start(__u64 id, __s32 generation, __u32 source, __u64 *ts)
{
	struct pm_gc_rec *r;

	r = pm_reserve(struct pm_gc_rec, PM_GC_START, id >> 32);
	if (r) {
		pm_fill_hdr(&r->h, PM_GC_START, id);
		r->generation = generation;
		r->source = source;
		r->collected = -1;
		r->duration_ns = 0;
		*ts = r->h.ts_ns;
		pm_submit_now(r);
	} else {
		*ts = bpf_ktime_get_ns();
	}
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
		gc_emit_start(id, generation, source, &p.ts_ns);
	}
	bpf_map_update_elem(&gc_pending, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int gc_done(__s64 collected, __u32 source)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gc_pending *p;
	struct pm_gc_rec *r;

	p = bpf_map_lookup_elem(&gc_pending, &tid);
	if (!p || p->source != source)
		return 0;
	if (p->deferred) {
		/* returned before choosing a generation: no collection */
		bpf_map_delete_elem(&gc_pending, &tid);
		return 0;
	}
	r = pm_reserve(struct pm_gc_rec, PM_GC_DONE, id >> 32);
	if (r) {
		pm_fill_hdr(&r->h, PM_GC_DONE, id);
		r->generation = p->generation;
		r->source = source;
		r->collected = collected;
		r->duration_ns = r->h.ts_ns - p->ts_ns;
		pm_submit_now(r);
	}
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

SEC("uprobe")
int pm_gc_fn_enter(struct pt_regs *ctx)
{
	__u32 spec = (__u32)bpf_get_attach_cookie(ctx);

	return gc_start((__s32)pm_arg_value(ctx, spec), PM_GC_SRC_UPROBE);
}

/* invoke_gc_callback(..., generation, ...): the cookie says where it is. */
SEC("uprobe")
int pm_gc_fn_generation(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gc_pending *p;

	p = bpf_map_lookup_elem(&gc_pending, &tid);
	if (!p || !p->deferred)
		return 0;
	p->generation = (__s32)pm_arg_value(ctx, (__u32)bpf_get_attach_cookie(ctx));
	p->deferred = 0;
	gc_emit_start(id, p->generation, p->source, &p->ts_ns);
	return 0;
}

SEC("uretprobe")
int pm_gc_fn_exit(struct pt_regs *ctx)
{
	return gc_done((__s64)PT_REGS_RC(ctx), PM_GC_SRC_UPROBE);
}
