// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Process life: children of traced processes are traced from their fork on;
 * exec and exit of traced processes are reported.
 */
#include "pymac.bpf.h"

SEC("tp_btf/sched_process_fork")
int BPF_PROG(pm_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (ptgid == ctgid || !pm_follow_children)
		return 0; /* a new thread, not a new process */
	if (bpf_map_lookup_elem(&traced_pids, &ptgid))
		bpf_map_update_elem(&traced_pids, &ctgid, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pm_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pm_proc_rec *r;

	if (!pm_is_traced(id >> 32))
		return 0;
	r = pm_reserve(struct pm_proc_rec, PM_EXEC, id >> 32);
	if (!r)
		return 0;
	pm_fill_hdr(&r->h, PM_EXEC, id);
	r->ppid = BPF_CORE_READ(p, real_parent, tgid);
	r->exit_code = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	bpf_probe_read_kernel_str(r->path, sizeof(r->path), BPF_CORE_READ(bprm, filename));
	pm_submit_now(r);
	return 0;
}

/* Reported once per process, by its last thread to exit. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(pm_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pm_proc_rec *r;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	if (!pm_is_traced(tgid))
		return 0;
	r = pm_reserve(struct pm_proc_rec, PM_EXIT, tgid);
	if (r) {
		pm_fill_hdr(&r->h, PM_EXIT, id);
		r->ppid = BPF_CORE_READ(p, real_parent, tgid);
		r->exit_code = BPF_CORE_READ(p, exit_code);
		bpf_get_current_comm(r->comm, sizeof(r->comm));
		r->path[0] = '\0';
		pm_submit_now(r);
	}
	bpf_map_delete_elem(&traced_pids, &tgid);
	return 0;
}
