// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The allocator family: CPython's PyObject_{Malloc,Calloc,Realloc,Free} and
 * libc's {malloc,calloc,realloc,free}. One program serves every function of
 * a role; the BPF cookie carries the event kind, so the same code reads
 * malloc(size), calloc(n, size) and realloc(ptr, size) correctly.
 */
#include "pymac.bpf.h"

/* Arguments of an allocation call, kept from entry to return. */
struct alloc_args {
	__u64 size;
	__u64 old_addr;
};

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

SEC("uprobe")
int pm_alloc_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct alloc_key key = {.tid = (__u32)id, .kind = (__u32)bpf_get_attach_cookie(ctx)};
	struct alloc_args a = {};

	if (!pm_is_traced(id >> 32))
		return 0;
	switch (key.kind) {
	case PM_PY_MALLOC:
	case PM_MALLOC:
		a.size = PT_REGS_PARM1(ctx);
		break;
	case PM_PY_CALLOC:
	case PM_CALLOC:
		a.size = PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx);
		break;
	case PM_PY_REALLOC:
	case PM_REALLOC:
		a.old_addr = PT_REGS_PARM1(ctx);
		a.size = PT_REGS_PARM2(ctx);
		break;
	default:
		return 0;
	}
	bpf_map_update_elem(&alloc_pending, &key, &a, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int pm_alloc_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct alloc_key key = {.tid = (__u32)id, .kind = (__u32)bpf_get_attach_cookie(ctx)};
	struct pm_alloc_rec *r;
	struct alloc_args *a;

	a = bpf_map_lookup_elem(&alloc_pending, &key);
	if (!a)
		return 0; /* entry not traced, or evicted */
	r = pm_reserve(struct pm_alloc_rec, key.kind, id >> 32);
	if (r) {
		pm_fill_hdr(&r->h, key.kind, id);
		r->size = a->size;
		r->old_addr = a->old_addr;
		r->addr = PT_REGS_RC(ctx);
		bpf_ringbuf_submit(r, 0);
	}
	bpf_map_delete_elem(&alloc_pending, &key);
	return 0;
}

/* free(NULL) and PyObject_Free(NULL) release nothing and are not reported. */
SEC("uprobe")
int pm_free_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 kind = (__u32)bpf_get_attach_cookie(ctx);
	__u64 addr = PT_REGS_PARM1(ctx);
	struct pm_free_rec *r;

	if (!addr || !pm_is_traced(id >> 32))
		return 0;
	r = pm_reserve(struct pm_free_rec, kind, id >> 32);
	if (!r)
		return 0;
	pm_fill_hdr(&r->h, kind, id);
	r->addr = addr;
	bpf_ringbuf_submit(r, 0);
	return 0;
}
