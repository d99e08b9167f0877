// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Footprint: how a traced process's anonymous memory grows and shrinks, seen
 * at the mmap, munmap, mremap and brk syscalls. pymalloc gets its arenas from
 * anonymous mmaps, and libc's malloc grows its main heap with brk and takes
 * large blocks from mmap, so these few calls draw the memory timeline without
 * a probe on any allocation: nothing traps, and an untraced process pays one
 * map lookup per such syscall.
 *
 * The per-syscall tracepoints fire only for these four syscalls (the raw
 * sys_enter/sys_exit ones would run for every syscall of every process). The
 * arguments are kept from entry to exit per thread, and a record is written
 * only when the call succeeded.
 */
#include "pymac.bpf.h"

#define PM_MAP_ANONYMOUS 0x20
#define PM_PROT_NONE	 0

struct vm_call {
	__u64 a[5];
	__u32 op;
};

/* Calls between entry and exit, per thread. LRU: a thread killed inside
 * the call must not keep its slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vm_call);
} vm_calls SEC(".maps");

static __always_inline int vm_enter(struct trace_event_raw_sys_enter *ctx, __u32 op)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct vm_call c = {.op = op};

	if (!pm_is_traced(id >> 32))
		return 0;
	for (int i = 0; i < 5; i++)
		c.a[i] = BPF_CORE_READ(ctx, args[i]);
	bpf_map_update_elem(&vm_calls, &tid, &c, BPF_ANY);
	return 0;
}

/* Takes the pending call of this thread if it is op; false otherwise. */
static __always_inline bool vm_take(__u32 tid, __u32 op, struct vm_call *out)
{
	struct vm_call *c = bpf_map_lookup_elem(&vm_calls, &tid);

	if (!c)
		return false;
	*out = *c;
	bpf_map_delete_elem(&vm_calls, &tid);
	return out->op == op;
}

static __always_inline bool vm_failed(long ret)
{
	return ret < 0 && ret >= -4095;
}

static __always_inline void vm_emit(__u64 id, __u32 op, __u32 prot, __u64 flags, __u64 addr,
				    __u64 len, __u64 old_addr, __u64 old_len)
{
	struct pm_vm_rec *r = pm_reserve(struct pm_vm_rec, PM_VM, id >> 32);

	if (!r)
		return;
	pm_fill_hdr(&r->h, PM_VM, id);
	r->op = op;
	r->prot = prot;
	r->flags = flags;
	r->addr = addr;
	r->len = len;
	r->old_addr = old_addr;
	r->old_len = old_len;
	pm_submit_now(r);
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int pm_vm_mmap_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 prot = BPF_CORE_READ(ctx, args[2]), flags = BPF_CORE_READ(ctx, args[3]);

	/* files mapped and address space reserved without access are not
	 * memory the process uses */
	if (!(flags & PM_MAP_ANONYMOUS) || prot == PM_PROT_NONE)
		return 0;
	return vm_enter(ctx, PM_VM_MMAP);
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int pm_vm_mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	long ret = BPF_CORE_READ(ctx, ret);
	struct vm_call c;

	if (!vm_take((__u32)id, PM_VM_MMAP, &c) || vm_failed(ret))
		return 0;
	vm_emit(id, PM_VM_MMAP, (__u32)c.a[2], c.a[3], (__u64)ret, c.a[1], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int pm_vm_munmap_enter(struct trace_event_raw_sys_enter *ctx)
{
	return vm_enter(ctx, PM_VM_MUNMAP);
}

SEC("tracepoint/syscalls/sys_exit_munmap")
int pm_vm_munmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct vm_call c;

	if (!vm_take((__u32)id, PM_VM_MUNMAP, &c) || BPF_CORE_READ(ctx, ret) != 0)
		return 0;
	vm_emit(id, PM_VM_MUNMAP, 0, 0, c.a[0], c.a[1], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mremap")
int pm_vm_mremap_enter(struct trace_event_raw_sys_enter *ctx)
{
	return vm_enter(ctx, PM_VM_MREMAP);
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int pm_vm_mremap_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	long ret = BPF_CORE_READ(ctx, ret);
	struct vm_call c;

	if (!vm_take((__u32)id, PM_VM_MREMAP, &c) || vm_failed(ret))
		return 0;
	/* args: old address, old length, new length, flags, new address */
	vm_emit(id, PM_VM_MREMAP, 0, c.a[3], (__u64)ret, c.a[2], c.a[0], c.a[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_brk")
int pm_vm_brk_enter(struct trace_event_raw_sys_enter *ctx)
{
	/* brk(0) asks where the break is and changes nothing */
	if (!BPF_CORE_READ(ctx, args[0]))
		return 0;
	return vm_enter(ctx, PM_VM_BRK);
}

SEC("tracepoint/syscalls/sys_exit_brk")
int pm_vm_brk_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 start;
	struct vm_call c;

	if (!vm_take((__u32)id, PM_VM_BRK, &c))
		return 0;
	/* brk returns the break it ended at: the new one, or the old one when
	 * growing failed; either way it is where the heap ends now */
	long ret = BPF_CORE_READ(ctx, ret);

	start = BPF_CORE_READ(task, mm, start_brk);
	vm_emit(id, PM_VM_BRK, 0, 0, (__u64)ret, (__u64)ret - start, start, 0);
	return 0;
}
