// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The allocator family: CPython's PyObject_{Malloc,Calloc,Realloc,Free} and
 * libc's {malloc,calloc,realloc,free}. One program serves every function of
 * a role; the BPF cookie carries the event kind and where the arguments
 * are (PM_COOKIE in regs.h), so the same code reads malloc(size),
 * calloc(n, size) and realloc(ptr, size) at a function's entry and at the
 * copies of it that the compiler inlined elsewhere.
 */
#include "pymac.bpf.h"

/* Arguments of an allocation call, kept from entry to return. */
struct alloc_args {
	__u64 size;
	__u64 old_addr;
	__u32 old_block; /* PM_BLOCK_* of old_addr, read before realloc frees it */
};

/* Where a process's pymalloc keeps `arenas`, for each pool layout slot:
 * found by its free sites (regs.h), used by its realloc sites. */
struct pool_key {
	__u32 tgid;
	__u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pool_key);
	__type(value, __u64);
} pool_vars SEC(".maps");

/*
 * The size of the pymalloc block at p, as pymalloc itself would find it
 * (address_in_range in Objects/obmalloc.c, 3.8-3.11): the header of the pool
 * that holds p names an arena by index; p is pymalloc's only if that index
 * is below maxarenas and that arena's range holds p. Then the pool's size
 * class gives the size; else the block is the raw allocator's. Anything
 * unreadable on pymalloc's side gives PM_BLOCK_UNKNOWN, never a guess.
 */
static __always_inline __u32 pool_block(struct pt_regs *ctx, __u64 cookie, __u64 p, bool free_site)
{
	__u32 slot = PM_COOKIE_POOL(cookie), hdr[2], maxarenas;
	struct pool_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .slot = slot};
	const struct pm_pool_layout *l;
	__u64 var, *cached, arenas, base;

	if (!slot || !p)
		return PM_BLOCK_UNKNOWN;
	l = &pm_pools[slot & (PM_POOL_SLOTS - 1)];
	if (!l->pool_bits || l->pool_bits > 24 || l->arena_bits > 30 || l->align_shift > 8)
		return PM_BLOCK_UNKNOWN;
	if (free_site) {
		/* sign-extend loc2's 28 bits */
		var = PT_REGS_IP(ctx) + (__u64)PM_COOKIE_DIST(cookie);
		cached = bpf_map_lookup_elem(&pool_vars, &key);
		if (!cached || *cached != var)
			bpf_map_update_elem(&pool_vars, &key, &var, BPF_ANY);
	} else {
		cached = bpf_map_lookup_elem(&pool_vars, &key);
		if (!cached)
			return PM_BLOCK_UNKNOWN;
		var = *cached;
	}
	if (bpf_probe_read_user(&arenas, sizeof(arenas), (void *)var) ||
	    bpf_probe_read_user(&maxarenas, sizeof(maxarenas), (void *)(var + l->maxarenas_off)) ||
	    !arenas)
		return PM_BLOCK_UNKNOWN;
	/* a header that cannot be read now (a page swapped out, or below a
	 * large malloc block's mapping) says nothing either way */
	if (bpf_probe_read_user(hdr, sizeof(hdr),
				(void *)((p & ~((1ull << l->pool_bits) - 1)) + l->arenaindex_off)))
		return PM_BLOCK_UNKNOWN;
	if (hdr[0] >= maxarenas)
		return PM_BLOCK_RAW;
	if (bpf_probe_read_user(&base, sizeof(base),
				(void *)(arenas + (__u64)hdr[0] * l->arena_obj_size)))
		return PM_BLOCK_UNKNOWN;
	if (!base || p - base >= (1ull << l->arena_bits))
		return PM_BLOCK_RAW;
	return (hdr[1] + 1) << l->align_shift;
}

/* Keyed by thread and kind: PyObject_Malloc may call malloc before it
 * returns, so a thread can have one pending call of each kind. */
struct alloc_key {
	__u32 tid;
	__u32 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct alloc_key);
	__type(value, struct alloc_args);
} alloc_pending SEC(".maps");

/* Size and old pointer of an allocation call, from where the cookie says
 * its arguments are (bpf/regs.h: PM_COOKIE). 0, or -1 for an unknown kind. */
static __always_inline int alloc_args_of(struct pt_regs *ctx, __u64 cookie, __u32 kind,
					 struct alloc_args *a)
{
	__u64 a1 = pm_loc_value(ctx, PM_COOKIE_LOC1(cookie));

	switch (kind) {
	case PM_PY_MALLOC:
	case PM_MALLOC:
		a->size = a1;
		return 0;
	case PM_PY_CALLOC:
	case PM_CALLOC:
		a->size = a1 * pm_loc_value(ctx, PM_COOKIE_LOC2(cookie));
		return 0;
	case PM_PY_REALLOC:
		a->old_block = pool_block(ctx, cookie, a1, false);
		/* fall through */
	case PM_REALLOC:
		a->old_addr = a1;
		a->size = pm_loc_value(ctx, PM_COOKIE_LOC2(cookie));
		return 0;
	}
	return -1;
}

SEC("uprobe")
int pm_alloc_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	struct alloc_key key = {.tid = (__u32)id, .kind = PM_COOKIE_KIND(cookie)};
	struct alloc_args a = {};

	if (!pm_is_traced(id >> 32))
		return 0;
	if (alloc_args_of(ctx, cookie, key.kind, &a))
		return 0;
	bpf_map_update_elem(&alloc_pending, &key, &a, BPF_ANY);
	return 0;
}

/*
 * An allocator inlined into its caller (an LTO build, located through
 * DWARF): there is no return to probe, so the record goes out at the
 * entry with what is known there. addr stays 0: the block's address is
 * not known at this point.
 */
static __always_inline int alloc_site(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	__u32 kind = PM_COOKIE_KIND(cookie);
	struct alloc_args a = {};
	struct pm_alloc_rec *r;

	if (!pm_is_traced(id >> 32) || alloc_args_of(ctx, cookie, kind, &a))
		return 0;
	r = pm_reserve(struct pm_alloc_rec, kind, id >> 32);
	if (!r)
		return 0;
	pm_fill_hdr(&r->h, kind, id);
	r->h.block = a.old_block;
	r->size = a.size;
	r->old_addr = a.old_addr;
	r->addr = 0;
	pm_submit_batched(r);
	return 0;
}

SEC("uprobe")
int pm_alloc_site(struct pt_regs *ctx)
{
	return alloc_site(ctx);
}

/* The same, loaded for a uprobe_multi link (one link holds every inlined
 * site of a binary: closing it unregisters them all at once, where one
 * link per site took a kernel synchronization each). */
SEC("uprobe")
int pm_alloc_site_m(struct pt_regs *ctx)
{
	return alloc_site(ctx);
}

SEC("uretprobe")
int pm_alloc_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct alloc_key key = {.tid = (__u32)id,
				.kind = PM_COOKIE_KIND(bpf_get_attach_cookie(ctx))};
	struct pm_alloc_rec *r;
	struct alloc_args *a;

	a = bpf_map_lookup_elem(&alloc_pending, &key);
	if (!a)
		return 0; /* entry not traced, or evicted */
	r = pm_reserve(struct pm_alloc_rec, key.kind, id >> 32);
	if (r) {
		pm_fill_hdr(&r->h, key.kind, id);
		r->h.block = a->old_block;
		r->size = a->size;
		r->old_addr = a->old_addr;
		r->addr = PT_REGS_RC(ctx);
		pm_submit_batched(r);
	}
	bpf_map_delete_elem(&alloc_pending, &key);
	return 0;
}

/* free(NULL) and PyObject_Free(NULL) release nothing and are not reported.
 * The same program serves the exported entry and inlined copies: the
 * cookie says where the pointer is. */
static __always_inline int free_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	__u32 kind = PM_COOKIE_KIND(cookie);
	__u64 addr = pm_loc_value(ctx, PM_COOKIE_LOC1(cookie));
	struct pm_free_rec *r;

	if (!addr || !pm_is_traced(id >> 32))
		return 0;
	r = pm_reserve(struct pm_free_rec, kind, id >> 32);
	if (!r)
		return 0;
	pm_fill_hdr(&r->h, kind, id);
	r->addr = addr;
	r->h.block = pool_block(ctx, cookie, addr, true);
	pm_submit_batched(r);
	return 0;
}

SEC("uprobe")
int pm_free_enter(struct pt_regs *ctx)
{
	return free_enter(ctx);
}

/* For a uprobe_multi link of inlined sites (see pm_alloc_site_m). */
SEC("uprobe")
int pm_free_m(struct pt_regs *ctx)
{
	return free_enter(ctx);
}

/*
 * Frees probed inside the function that PyObject_Free's table slot holds
 * (_PyObject_Free(ctx, p), at an instruction the kernel emulates) instead
 * of at PyObject_Free's single-stepped entry. Other ways into that function
 * are not PyObject_Free calls: PyMem_Free's table holds it too, and
 * realloc calls it when it moves a block. Each of those is probed as well
 * (pm_free_mark) and names, per thread, the pointer whose next free there
 * is not to be reported. The mark is consumed by that free: nothing runs
 * between the two on the thread but the wrapper's jump or the call.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);   /* thread id */
	__type(value, __u64); /* the pointer about to be freed */
} free_marks SEC(".maps");

SEC("uprobe")
int pm_free_mark(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	__u64 addr = pm_loc_value(ctx, PM_COOKIE_LOC1(cookie));
	__u32 tid = (__u32)id;

	if (pm_is_traced(id >> 32))
		bpf_map_update_elem(&free_marks, &tid, &addr, BPF_ANY);
	return 0;
}

SEC("uprobe")
int pm_free_target(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	__u64 addr = pm_loc_value(ctx, PM_COOKIE_LOC1(cookie)), *mark;
	__u32 tid = (__u32)id;

	mark = bpf_map_lookup_elem(&free_marks, &tid);
	if (mark) {
		bool marked = *mark == addr;

		bpf_map_delete_elem(&free_marks, &tid);
		if (marked)
			return 0;
	}
	return free_enter(ctx);
}
