/* SPDX-License-Identifier: MIT */
/*
 * What every BPF family of pymac shares: the ring buffer, the target filter,
 * lost-event accounting and record headers. common.bpf.c holds the one
 * definition of each map and global; the other objects see them as extern
 * and `bpftool gen object` links them together.
 */
#ifndef PYMAC_BPF_H
#define PYMAC_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "regs.h"

#ifndef PM_MAP
#define PM_MAP extern
#endif

/* Sized by user space before load (--ringbuf-mb). */
PM_MAP struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Processes (tgids) being traced. Children of traced processes join at fork. */
PM_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} traced_pids SEC(".maps");

/* cgroup v2 ids being traced: every process inside is traced. */
PM_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} traced_cgroups SEC(".maps");

/* Events that found the ring buffer full, per process and kind. */
PM_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pm_lost_key);
	__type(value, __u64);
} lost_events SEC(".maps");

extern const volatile bool pm_filter_cgroups;
extern const volatile bool pm_follow_children;
/* Batch the consumer's wakeups: see pm_submit_batched. 0: wake every time. */
extern const volatile __u64 pm_wakeup_bytes;
/* Offsets into CPython objects, in case a build lays them out differently. */
extern const volatile __u32 pm_off_ob_type;
extern const volatile __u32 pm_off_tp_name;
/* Lost events per kind, also when lost_events itself is full. */
extern __u64 pm_lost_by_kind[PM_KIND_MAX];
/* pymalloc layouts of the builds whose frees are sized (regs.h); user space
 * fills a slot before it attaches the first site naming it. */
extern struct pm_pool_layout pm_pools[PM_POOL_SLOTS];
/* GC state layouts of the builds whose collector is read (regs.h), and how
 * often a layout's self-check failed (a build it does not fit). */
extern struct pm_gc_layout pm_gc_layouts[PM_GC_SLOTS];
extern __u64 pm_gc_layout_misses;
/*
 * The tracing window's switch, in .bss so that user space writes it
 * through the skeleton's mapping: 0 while the probes are being attached
 * and again from the moment tracing stops (--duration, a stop signal, the
 * targets' end). Every program asks pm_is_traced or pm_reserve first, and
 * both answer no while it is 0, so every family starts and stops at the
 * same instant, however long attaching or detaching the probes takes.
 */
extern volatile __u32 pm_window_open;

/* How deep below the root a traced cgroup may be. */
#define PM_CGROUP_LEVELS 8

static __always_inline bool pm_is_traced(__u32 tgid)
{
	if (!pm_window_open)
		return false;
	if (bpf_map_lookup_elem(&traced_pids, &tgid))
		return true;
	if (pm_filter_cgroups) {
		__u64 cg = bpf_get_current_cgroup_id();

		if (bpf_map_lookup_elem(&traced_cgroups, &cg))
			return true;
		/*
		 * A traced cgroup also covers the cgroups below it (a --cgroup
		 * slice, a container that makes its own sub-cgroups). Level 0
		 * is the root cgroup itself (--cgroup /).
		 */
		for (int level = 0; level <= PM_CGROUP_LEVELS; level++) {
			cg = bpf_get_current_ancestor_cgroup_id(level);
			if (!cg)
				break;
			if (bpf_map_lookup_elem(&traced_cgroups, &cg))
				return true;
		}
	}
	return false;
}

static __always_inline void pm_count_lost(__u32 tgid, __u32 kind)
{
	struct pm_lost_key key = {.pid = tgid, .kind = kind};
	__u64 one = 1, *cnt;

	/* the compiler may know kind's range from the caller and drop this
	 * check; the verifier does not, so keep it */
	barrier_var(kind);
	if (kind < PM_KIND_MAX)
		__sync_fetch_and_add(&pm_lost_by_kind[kind], 1);
	cnt = bpf_map_lookup_elem(&lost_events, &key);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
		return;
	}
	if (bpf_map_update_elem(&lost_events, &key, &one, BPF_NOEXIST)) {
		cnt = bpf_map_lookup_elem(&lost_events, &key);
		if (cnt)
			__sync_fetch_and_add(cnt, 1);
	}
}

static __always_inline void pm_fill_hdr(struct pm_hdr *h, __u32 kind, __u64 pid_tgid)
{
	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->kind = kind;
	h->block = PM_BLOCK_UNKNOWN;
}

/* Reserve a record of type T in the ring buffer, counting it as lost when
 * there is no room; none outside the window (a return probe whose entry
 * came before the switch went off). The size must be a constant for the
 * verifier. */
#define pm_reserve(T, kind, tgid)                                                                  \
	({                                                                                         \
		T *__r = NULL;                                                                     \
		if (pm_window_open) {                                                              \
			__r = bpf_ringbuf_reserve(&events, sizeof(T), 0);                          \
			if (!__r)                                                                  \
				pm_count_lost(tgid, kind);                                         \
		}                                                                                  \
		__r;                                                                               \
	})

/*
 * Submit a record of the hot kinds (allocations, frees, deallocations)
 * without waking the consumer, until pm_wakeup_bytes wait in the ring: a
 * wakeup costs the traced CPU an irq_work and the consumer a context switch,
 * which at one per record dominated the consumer's cost. The consumer reads
 * the rest when its poll times out (every 100 ms or less). Rare records
 * (exec, exit, collections, footprint) go through pm_submit_now.
 */
static __always_inline void pm_submit_batched(void *r)
{
	__u64 flags = 0;

	if (pm_wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= pm_wakeup_bytes
			    ? BPF_RB_FORCE_WAKEUP
			    : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(r, flags);
}

/*
 * Submit a rare record and wake the consumer whatever waits before it. The
 * kernel's default wakes only a consumer that has read everything before
 * the record, which batched hot records no longer guarantee: an exec
 * behind them waited for the consumer's poll timeout, and the session,
 * which attaches the new program's interpreter when it sees the exec,
 * missed the whole of a short program (test_live caught it).
 */
static __always_inline void pm_submit_now(void *r)
{
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
}

/*
 * Value of the register that PM_REG_* index `reg` names. The registers are
 * copied to the stack first: a switch over ctx fields compiles into a
 * variable offset from ctx, which the verifier rejects.
 */
static __always_inline __u64 pm_reg_value(struct pt_regs *ctx, __u32 reg)
{
	struct pt_regs r;

	if (bpf_probe_read_kernel(&r, sizeof(r), ctx))
		return 0;
	switch (reg) {
	case PM_REG_DI:
		return r.di;
	case PM_REG_SI:
		return r.si;
	case PM_REG_DX:
		return r.dx;
	case PM_REG_CX:
		return r.cx;
	case PM_REG_R8:
		return r.r8;
	case PM_REG_R9:
		return r.r9;
	case PM_REG_AX:
		return r.ax;
	case PM_REG_BX:
		return r.bx;
	case PM_REG_BP:
		return r.bp;
	case PM_REG_R10:
		return r.r10;
	case PM_REG_R11:
		return r.r11;
	case PM_REG_R12:
		return r.r12;
	case PM_REG_R13:
		return r.r13;
	case PM_REG_R14:
		return r.r14;
	case PM_REG_R15:
		return r.r15;
	case PM_REG_SP:
		return r.sp;
	}
	return 0;
}

/* Value of an argument spec (see PM_ARG_CONST in regs.h). */
static __always_inline __u64 pm_arg_value(struct pt_regs *ctx, __u32 spec)
{
	if (spec & PM_ARG_CONST)
		return spec & ~PM_ARG_CONST;
	return pm_reg_value(ctx, spec);
}

/*
 * Value of a location (PM_LOC in regs.h) at the probe. A memory slot that
 * cannot be read gives 0.
 */
static __always_inline __u64 pm_loc_value(struct pt_regs *ctx, __u32 loc)
{
	__u32 form = loc & 7, reg = (loc >> 3) & 15, reg2 = (loc >> 7) & 15;
	/* sign-extend the 17-bit offset from bits 11-27 */
	__s64 off = ((__s32)(loc << 4)) >> 15;
	__u64 v = 0;

	switch (form) {
	case PM_LOC_REG:
		return pm_reg_value(ctx, reg);
	case PM_LOC_REG_OFF:
		return pm_reg_value(ctx, reg) + off;
	case PM_LOC_MEM:
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(pm_reg_value(ctx, reg) + off)))
			return 0;
		return v;
	case PM_LOC_CONST:
		return (__u64)off;
	case PM_LOC_SUM:
		return pm_reg_value(ctx, reg) + pm_reg_value(ctx, reg2) + off;
	}
	return 0;
}

#endif /* PYMAC_BPF_H */
