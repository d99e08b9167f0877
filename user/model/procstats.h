/* SPDX-License-Identifier: MIT */
/*
 * Per-process books of a trace: a store over the ledger (model/ledger.h)
 * that adds up each process's deltas (its calls by kind, bytes requested
 * and freed, what it holds, its collections, the types it deallocated),
 * and keeps what the records describe about it (its identity, sources,
 * losses, footprint, exit) and about the trace (containers, metadata,
 * sampling windows). The summary (views/summary.h) and the HTML report
 * render it; unlike the ledger it forgets no process.
 */
#ifndef PYMAC_PROCSTATS_H
#define PYMAC_PROCSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "feed/record.h"
#include "model/footprint.h"
#include "model/ledger.h"
#include "model/pidindex.h"
#include "util/hashmap.h"

enum ps_gc_src_bits {
	PS_GC_SEEN_USDT = 1,
	PS_GC_SEEN_UPROBE = 2,
};

struct ps_source {
	char *name;
	char *detail;
	enum pm_source_status status;
};

struct ps_proc {
	uint32_t pid;
	uint32_t ppid;
	uint64_t cgroup_id;
	char *comm, *exe, *python, *python_version; /* NULL when unknown */
	bool exited;
	int32_t exit_code;
	/* how pymac came to trace it, as its PROCESS records said: bits
	 * 1 << enum pm_proc_origin (only UNKNOWN's before trace version 7) */
	unsigned origins;
	bool have_lane;
	size_t lane; /* the ledger's lane it was last in */

	uint64_t counts[PM_KIND_MAX];
	uint64_t py_bytes, libc_bytes;		      /* requested */
	uint64_t py_free_bytes, libc_free_bytes;      /* sized by their allocation */
	int64_t py_net, libc_net;		      /* held now (0 after its exit) */
	int64_t py_held_at_exit, libc_held_at_exit;   /* what left with its exit (or exec) */
	uint64_t unmatched_frees, unmatched_py_frees; /* lg_totals' */
	uint64_t py_unaddressed_allocs;		      /* lg_totals' */

	uint64_t gc_gen[LG_GENERATIONS];
	uint64_t gc_collected, gc_uncollectable;
	uint64_t gc_time_ns;
	uint64_t gc_traced_inside; /* lg_totals' */
	unsigned gc_src;	   /* enum ps_gc_src_bits */

	struct u64map types; /* type id + 1 -> deallocations */

	uint64_t lost[PM_KIND_MAX]; /* the latest cumulative count; [0]: kinds unknown */
	struct ps_source *sources;
	size_t nsources;
	struct footprint fp;

	/* its life in the trace: first record, and its exit */
	bool have_seen;
	uint64_t first_ts;
	uint64_t exit_ts;
};

/* Its PROCESS record names an interpreter or a Python version. */
static inline bool ps_proc__is_python(const struct ps_proc *p)
{
	return (p->python && p->python[0]) || (p->python_version && p->python_version[0]);
}

/* A container as its CONTAINER records describe it. */
struct ps_cont {
	uint64_t cgroup_id;
	char *runtime, *id, *name, *image, *project, *service;
	char *pod_uid, *qos; /* Kubernetes pod, from the cgroup path; NULL/"" if none */
	bool have_start;     /* a RUNNING record was seen */
	uint64_t start_ts;
	bool stopped; /* the latest record says STOPPED */
	uint64_t stop_ts;
};

/*
 * A module `pymac run` ran in a container (META "module": "CONTAINER MODULE
 * HEADING", and "module_exit": "CONTAINER CODE"). heading is the module's
 * docstring's first line, "" without one; exit_code -1 until known.
 */
struct ps_module {
	char *container, *module, *heading;
	int exit_code;
};

/* A window in which a sampled trace's allocation probes were armed. */
struct ps_window {
	uint64_t start, end;
};

struct procstats {
	struct ledger *lg;
	bool own_lg;

	struct ps_cont *conts; /* in order of first sight; a handful at most */
	size_t nconts, conts_cap;

	struct ps_proc **procs; /* in order of first sight */
	size_t nprocs, procs_cap;
	struct pid_index pids;

	uint64_t events;
	bool have_first_ts;
	uint64_t first_ts;
	bool have_event_ts;
	uint64_t last_event_ts;
	bool complete;
	uint64_t end_ts;
	uint64_t lost_unattributed[PM_KIND_MAX];
	char *command;
	struct ps_module *modules; /* in the order the trace names them */
	size_t nmodules, modules_cap;

	/* containers that ended before they could be traced (META
	 * missed_container "RAN_NS NAME"; ran_ns 0: how long is unknown) */
	struct ps_missed {
		uint64_t ran_ns;
		char *name;
	} * missed;
	size_t nmissed;

	/* --sample-duty: META sample_duty, sample_period_ns, sample_window */
	double sample_duty;
	uint64_t sample_period_ns;
	struct ps_window *windows;
	size_t nwindows, windows_cap;
};

/* NULL with errno. The _on form keeps its books in lg (which must outlive
 * it): feed records to ledger__sink(lg) then. */
struct procstats *procstats__new(void);
struct procstats *procstats__new_on(struct ledger *lg);
void procstats__free(struct procstats *ps);
/* Where its records go in: its ledger's sink. */
struct pm_sink *procstats__sink(struct procstats *ps);

/* Kinds that --sample-duty sees only in its windows; the others (GC,
 * process life, footprint) are traced throughout. */
bool procstats__kind_sampled(unsigned kind);
static inline bool procstats__sampled(const struct procstats *ps)
{
	return ps->nwindows || ps->sample_duty > 0;
}
/* The name of a type id of ps_proc.types. */
const char *procstats__type_name(const struct procstats *ps, uint32_t type_id);
/* The container p is in, or NULL for a host process. */
const struct ps_cont *procstats__container_of(const struct procstats *ps, const struct ps_proc *p);

/* The module run in container c (by its name), or NULL. */
const struct ps_module *procstats__module_of(const struct procstats *ps, const struct ps_cont *c);

#endif /* PYMAC_PROCSTATS_H */
