/* SPDX-License-Identifier: MIT */
/*
 * Event records that the BPF programs put in the ring buffer.
 * This header is the single source of truth for that wire format; it is
 * included by the BPF side and by user space, so it uses only the __u32/__s64 family of types.
 */
#ifndef PYMAC_EVENTS_H
#define PYMAC_EVENTS_H

/* Kinds of event. The numbers are also stored in trace files: never renumber. */
enum pm_kind {
	PM_PY_MALLOC = 1,
	PM_PY_CALLOC = 2,
	PM_PY_REALLOC = 3,
	PM_PY_FREE = 4,
	PM_PY_DEALLOC = 5,
	PM_GC_START = 6,
	PM_GC_DONE = 7,
	PM_MALLOC = 8,
	PM_CALLOC = 9,
	PM_REALLOC = 10,
	PM_FREE = 11,
	PM_EXEC = 12,
	PM_EXIT = 13,
	PM_VM = 14,	  /* footprint: an anonymous mapping or the heap break changed */
	PM_RSS = 15,	  /* footprint: a resident-set sample (user space, not BPF) */
	PM_KIND_MAX = 16, /* one past the last kind */
};

/* What a PM_VM record reports (pm_vm_rec.op). */
enum pm_vm_op {
	PM_VM_MMAP = 1,	  /* addr, len: a new anonymous mapping */
	PM_VM_MUNMAP = 2, /* addr, len: a range unmapped (maybe not all of it was mapped) */
	PM_VM_MREMAP = 3, /* old_addr, old_len moved or resized to addr, len */
	PM_VM_BRK = 4, /* addr: the new break; old_addr: the heap's start (len = addr - old_addr) */
};

#define PM_TYPE_NAME_LEN 64
#define PM_COMM_LEN	 16
#define PM_PATH_LEN	 256

/* Where a GC event came from (pm_gc_rec.source). */
enum pm_gc_source {
	PM_GC_SRC_USDT = 1,   /* python:gc__start / python:gc__done markers */
	PM_GC_SRC_UPROBE = 2, /* uprobe + uretprobe on the collector function */
};

/* Common head of every record. ts_ns is CLOCK_MONOTONIC (bpf_ktime_get_ns). */
struct pm_hdr {
	__u64 ts_ns;
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u32 pid;	 /* tgid */
	__u32 tid;
	__u32 kind;  /* enum pm_kind */
	__u32 block; /* py_free, py_realloc: the freed (old) block's size, PM_BLOCK_* */
};

/*
 * pm_hdr.block: what pymalloc's pool header says of the block a py_free
 * releases (the old block of a py_realloc). On LTO builds the allocations
 * made at inlined copies have no address (there is no return to probe), so
 * a free cannot be sized by its allocation; the pool header sizes it:
 * (szidx + 1) << ALIGNMENT_SHIFT, after the check pymalloc itself makes
 * (the pool's arenaindex names an arena that holds the address). Read only
 * where user space found pymalloc's arenas (probes.c: pool layouts).
 */
#define PM_BLOCK_UNKNOWN 0 /* not read */
#define PM_BLOCK_RAW	 1 /* not in a pymalloc arena: the raw allocator's (malloc) */
/* else the block's size in bytes (a multiple of pymalloc's alignment, 16) */

/*
 * py_malloc/py_calloc/py_realloc/malloc/calloc/realloc: size is the requested
 * size (nmemb * size for calloc), addr what the call returned (0 on failure),
 * old_addr the pointer passed to realloc.
 */
struct pm_alloc_rec {
	struct pm_hdr h;
	__u64 size;
	__u64 addr;
	__u64 old_addr;
};

/* py_free/free */
struct pm_free_rec {
	struct pm_hdr h;
	__u64 addr;
};

/* py_dealloc: the object, its type and the type's tp_name read in BPF. */
struct pm_dealloc_rec {
	struct pm_hdr h;
	__u64 obj;
	__u64 type;
	char type_name[PM_TYPE_NAME_LEN];
};

/*
 * gc_start/gc_done. generation is known at start (and repeated at done);
 * collected, uncollectable and duration_ns only at done (-1 when unknown).
 * collected counts every unreachable object the collection found, what
 * gc.callbacks calls collected + uncollectable (the collector's return
 * value); uncollectable those of them it could not free (put in
 * gc.garbage), known where the probe reads the collector's statistics.
 */
struct pm_gc_rec {
	struct pm_hdr h;
	__s32 generation;
	__u32 source; /* enum pm_gc_source */
	__s64 collected;
	__u64 duration_ns;
	__s64 uncollectable;
};

/* exec/exit of a traced process. exit_code is the wait status (exit only). */
struct pm_proc_rec {
	struct pm_hdr h;
	__u32 ppid;
	__s32 exit_code;
	char comm[PM_COMM_LEN];
	char path[PM_PATH_LEN]; /* the binary exec'd (exec only) */
};

/*
 * vm: a change to a process's anonymous memory, seen at the mmap, munmap,
 * mremap and brk syscalls (footprint mode). prot is the mmap's PROT_* and
 * flags its MAP_* (0 for the others).
 */
struct pm_vm_rec {
	struct pm_hdr h;
	__u32 op; /* enum pm_vm_op */
	__u32 prot;
	__u64 addr;
	__u64 len;
	__u64 old_addr;
	__u64 old_len;
	__u64 flags;
};

/* pm_vm_rec.flags: not a syscall, a mapping the process held when tracing
 * began (read by user space from /proc/PID/maps) */
#define PM_VM_EXISTING (1ull << 63)

/* Key of the per-process lost-event counters (map lost_events). */
struct pm_lost_key {
	__u32 pid;
	__u32 kind;
};

#endif /* PYMAC_EVENTS_H */
