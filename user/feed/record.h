/* SPDX-License-Identifier: MIT */
/*
 * The decoded form of everything a trace holds. Live tracing converts ring
 * buffer records into these; the trace reader produces the same from a file,
 * so every sink (writer, summary, printers, views) is fed the same way live
 * and in replay.
 */
#ifndef PYMAC_RECORD_H
#define PYMAC_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "events.h"

/* One event (a record of type PM_REC_EVENT). */
struct pm_event {
	uint64_t ts_ns; /* CLOCK_MONOTONIC */
	uint64_t cgroup_id;
	uint32_t pid;
	uint32_t tid;
	enum pm_kind kind;
	union {
		/* py_malloc, py_calloc, py_realloc, malloc, calloc, realloc */
		struct {
			uint64_t size;
			uint64_t addr;
			uint64_t old_addr;
			uint32_t old_block; /* py_realloc: PM_BLOCK_* of old_addr */
		} alloc;
		/* py_free, free */
		struct {
			uint64_t addr;
			uint32_t block; /* py_free: PM_BLOCK_* (bpf/events.h) */
		} free;
		/* py_dealloc; type_name may be "" when it could not be read */
		struct {
			uint64_t obj;
			uint64_t type;
			const char *type_name;
		} dealloc;
		/* gc_start, gc_done */
		struct {
			int32_t generation;
			uint32_t source; /* enum pm_gc_source */
			/* unreachable objects found (gc.callbacks' collected +
			 * uncollectable); -1: unknown (always at gc_start) */
			int64_t collected;
			uint64_t duration_ns;  /* 0 at gc_start */
			int64_t uncollectable; /* of them, left in gc.garbage; -1: unknown */
		} gc;
		/* exec, exit */
		struct {
			uint32_t ppid;
			int32_t exit_code;
			const char *comm;
			const char *path; /* "" for exit */
		} proc;
		/* vm (see enum pm_vm_op) */
		struct {
			uint32_t op;
			uint32_t prot;
			uint64_t flags;
			uint64_t addr;
			uint64_t len;
			uint64_t old_addr;
			uint64_t old_len;
		} vm;
		/* rss: the process's resident set, and the anonymous part of it */
		struct {
			uint64_t rss;
			uint64_t anon;
		} rss;
	};
};

/*
 * How pymac came to trace a process, which says where blocks freed but never
 * seen allocated can come from (trace version 7 on; UNKNOWN in older traces).
 */
enum pm_proc_origin {
	PM_ORIGIN_UNKNOWN = 0,
	/* traced from its first instruction: the command, or a program exec'd
	 * in a traced process or container (its image is new) */
	PM_ORIGIN_STARTED = 1,
	/* already running when pymac attached: -p, a container's processes when
	 * pymac found it */
	PM_ORIGIN_ATTACHED = 2,
	/* first seen after a fork from a traced process, or on entering a
	 * traced container: it may free what its parent allocated */
	PM_ORIGIN_FORKED = 3,
};
#define PM_ORIGIN_MAX PM_ORIGIN_FORKED

/* A traced process, as known when it was attached or first seen. */
struct pm_process {
	uint64_t ts_ns;
	uint64_t cgroup_id;
	uint32_t pid;
	uint32_t ppid;
	const char *comm;
	const char *exe;	    /* executable path as the process sees it */
	const char *python;	    /* interpreter object (exe or libpython), "" if none */
	const char *python_version; /* e.g. "3.11", "" if unknown */
	uint32_t origin;	    /* enum pm_proc_origin */
};

/* Coverage of one event source in one process. */
enum pm_source_status {
	PM_SRC_FULL = 1,    /* sees every call */
	PM_SRC_PARTIAL = 2, /* attached, but known to see only part of the calls */
	PM_SRC_NONE = 3,    /* could not be attached */
	PM_SRC_OFF = 4,	    /* not requested (--probes) */
};

struct pm_source {
	uint64_t ts_ns;
	uint32_t pid;
	const char *source; /* "pymalloc", "dealloc", "gc", "libc" */
	enum pm_source_status status;
	const char *detail; /* one line, human readable: what and why */
};

/* Cumulative count of events of one kind for one process that could not be
 * reserved in the ring buffer (a later record for the same pid/kind
 * supersedes an earlier one). pid 0 means "process unknown". */
struct pm_lost {
	uint64_t ts_ns;
	uint32_t pid;
	enum pm_kind kind;
	uint64_t count;
};

/*
 * A container that holds traced processes (runtime "docker", ...), written
 * when tracing of it starts and again when it stops. Processes belong to it
 * by cgroup_id; processes whose cgroup no container record names are host
 * processes. Strings are "" when unknown.
 */
enum pm_container_state {
	PM_CONTAINER_RUNNING = 1, /* traced from ts_ns on */
	PM_CONTAINER_STOPPED = 2, /* its last process exited at (about) ts_ns */
};

struct pm_container {
	uint64_t ts_ns;
	uint64_t cgroup_id;
	enum pm_container_state state;
	const char *runtime; /* "docker", "containerd", "cri-o", "podman", "cri", "cgroup" */
	const char *id;	     /* full id, "" for a bare --cgroup target */
	const char *name;    /* container name, or the cgroup path for a bare cgroup */
	const char *image;
	const char *project; /* compose project */
	const char *service; /* compose service */
	const char *pod_uid; /* Kubernetes pod UID from the cgroup path (version 7 on), or "" */
	const char *qos;     /* its QoS class: "guaranteed", "burstable", "besteffort", or "" */
};

/* Free-form trace metadata, e.g. key "command", "host", "pymac_version". */
struct pm_meta {
	const char *key;
	const char *value;
};

/* End of a recording: written once, by a clean stop. */
struct pm_end {
	uint64_t ts_ns;
	uint64_t events; /* events written */
};

enum pm_rec_type {
	PM_REC_EVENT = 1,
	PM_REC_PROCESS = 2,
	PM_REC_SOURCE = 3,
	PM_REC_LOST = 4,
	PM_REC_META = 5,
	PM_REC_END = 6,
	PM_REC_CONTAINER = 7,
};

/*
 * A tagged record. String pointers inside are valid only for the duration of
 * the call that hands the record over; a sink that keeps a string copies or
 * interns it.
 */
struct pm_record {
	enum pm_rec_type type;
	union {
		struct pm_event ev;
		struct pm_process proc;
		struct pm_source src;
		struct pm_lost lost;
		struct pm_meta meta;
		struct pm_end end;
		struct pm_container cont;
	};
};

/* Kind names as used in the CLI, JSON and docs ("py_malloc", ...). NULL for
 * numbers that are no kind. */
const char *pm_kind_name(unsigned kind);
/* Inverse of pm_kind_name; 0 when unknown. */
enum pm_kind pm_kind_from_name(const char *name);
const char *pm_source_status_name(enum pm_source_status st);
/* The allocator behind PyObject_Malloc for a Python version as recorded:
 * "mimalloc" for a free-threaded build ("3.13t"), "pymalloc" for another
 * known version, "" when the version is unknown (NULL or ""). */
const char *pm_python_allocator(const char *python_version);
/* "mmap", "munmap", "mremap", "brk"; "?" for numbers that are no op. */
const char *pm_vm_op_name(unsigned op);

/* The six allocation kinds as case labels: one list for every switch. */
#define PM_CASE_ALLOC_KINDS                                                                        \
	case PM_PY_MALLOC:                                                                         \
	case PM_PY_CALLOC:                                                                         \
	case PM_PY_REALLOC:                                                                        \
	case PM_MALLOC:                                                                            \
	case PM_CALLOC:                                                                            \
	case PM_REALLOC

static inline bool pm_kind_is_alloc(unsigned k)
{
	return k == PM_PY_MALLOC || k == PM_PY_CALLOC || k == PM_PY_REALLOC || k == PM_MALLOC ||
	       k == PM_CALLOC || k == PM_REALLOC;
}
static inline bool pm_kind_is_free(unsigned k)
{
	return k == PM_PY_FREE || k == PM_FREE;
}
static inline bool pm_kind_is_python_alloc(unsigned k)
{
	return k >= PM_PY_MALLOC && k <= PM_PY_FREE;
}
static inline bool pm_kind_is_gc(unsigned k)
{
	return k == PM_GC_START || k == PM_GC_DONE;
}
static inline bool pm_kind_is_proc(unsigned k)
{
	return k == PM_EXEC || k == PM_EXIT;
}
static inline bool pm_kind_is_footprint(unsigned k)
{
	return k == PM_VM || k == PM_RSS;
}

/* The time a record carries (CLOCK_MONOTONIC ns); 0 for one without (META). */
static inline uint64_t pm_record_ts(const struct pm_record *rec)
{
	switch (rec->type) {
	case PM_REC_EVENT:
		return rec->ev.ts_ns;
	case PM_REC_PROCESS:
		return rec->proc.ts_ns;
	case PM_REC_SOURCE:
		return rec->src.ts_ns;
	case PM_REC_LOST:
		return rec->lost.ts_ns;
	case PM_REC_END:
		return rec->end.ts_ns;
	case PM_REC_CONTAINER:
		return rec->cont.ts_ns;
	default:
		return 0;
	}
}

/* A consumer of records. A feed (feed/feed.h) hands records to sinks. */
struct pm_sink {
	/* returns 0, or a negative errno that stops the feed */
	int (*record)(struct pm_sink *sink, const struct pm_record *rec);
	/* called once after the last record; may be NULL */
	int (*finish)(struct pm_sink *sink);
};

#endif /* PYMAC_RECORD_H */
