/* SPDX-License-Identifier: MIT */
/*
 * What the text and the JSON summary share (views/summary.c): the values
 * both derive from the per-process books (model/procstats.h) and the
 * ledger's lanes. Not for other views.
 */
#ifndef PYMAC_SUMMARY_IMPL_H
#define PYMAC_SUMMARY_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model/ledger.h"
#include "model/procstats.h"
#include "trace/trace.h"

struct sm_trace {
	uint32_t version;
	uint64_t start_ns;
	uint64_t duration_ns;
	uint64_t lost;
	uint64_t lost_unattributed;
};

uint64_t sm_lost_sum(const uint64_t *lost);
void sm_trace_totals(const struct procstats *s, const struct pm_trace_info *info,
		     struct sm_trace *t);
/* A time in the trace as ns after its start (negative if before it). */
static inline int64_t sm_rel_ns(const struct sm_trace *t, uint64_t ts)
{
	return (int64_t)(ts - t->start_ns);
}

/* Time armed by the sampling windows within [from, to). */
uint64_t sm_armed_between(const struct procstats *s, uint64_t from, uint64_t to);

/* How a sampled process's counts scale: its life in the trace and the
 * armed time within it. */
struct sm_sampling {
	uint64_t life_ns, armed_ns;
	double scale; /* life / armed; 0: no window while it ran */
};

void sm_proc_sampling(const struct procstats *s, const struct sm_trace *t, const struct ps_proc *p,
		      struct sm_sampling *ps);
/* count seen in the windows, scaled to the whole life */
uint64_t sm_estimate(uint64_t count, const struct sm_sampling *ps);

const char *sm_gc_source_name(unsigned bits);
/*
 * What the collections' time measured, for a reader: with inside events
 * traced inside them (on their thread), their probes' cost is in it ("as
 * traced", and how to get the collections' own time); with none, only the
 * GC probes fired and it is their own. Into buf; returns buf.
 */
const char *sm_gc_time_note(uint64_t inside, char *buf, size_t len);
uint64_t sm_gc_unfinished(const struct ps_proc *p);
/* What is behind PyObject_Malloc in p: "mimalloc" when its coverage names
 * the source so (a free-threaded build), else "pymalloc". */
const char *sm_python_allocator(const struct ps_proc *p);
const char *sm_lost_kind_name(unsigned k);
static inline bool sm_has_footprint(const struct ps_proc *p)
{
	return p->counts[PM_VM] || p->counts[PM_RSS];
}
const char *sm_short_id(const char *id, char buf[13]);

/* Processes sorted by pid, in a new array the caller frees. NULL on ENOMEM. */
struct ps_proc **sm_sorted_procs(const struct procstats *s);

/*
 * One group of the summary: a container (c != NULL) or the host. procs
 * points into the pid-sorted array (a new array the caller frees). The
 * totals are the ledger's lane totals: the container's lane, or the sum of
 * the host processes' lanes, so that the summary's group totals are the
 * timeline's and the exports' by construction.
 */
struct sm_group {
	const struct ps_cont *c;
	struct ps_proc **procs;
	size_t nprocs;
	uint64_t host_cgroup; /* the host processes' cgroup if they share one, else 0 */
	struct lg_totals tot;
	uint64_t lost_by_kind[PM_KIND_MAX]; /* its processes' */
	unsigned gc_src;		    /* its processes' */
};

/* Containers in order of first sight, then the host group when some
 * process is in none of them. NULL on ENOMEM. Free with sm_groups_free. */
struct sm_group *sm_make_groups(const struct procstats *s, struct ps_proc **procs, size_t *ngroups);
void sm_groups_free(struct sm_group *g, const struct procstats *s);
static inline uint64_t sm_totals_unfinished(const struct lg_totals *t)
{
	return t->gc_starts > t->gcs ? t->gc_starts - t->gcs : 0;
}

/*
 * Why p freed blocks whose allocation was not seen: how pymac came to trace
 * it (attached while it ran: before tracing began) and which of the
 * allocator sources behind those frees missed calls, by name. Into buf;
 * returns buf.
 */
const char *sm_unmatched_cause(const struct ps_proc *p, char *buf, size_t len);
/*
 * "N frees of blocks whose allocation was not seen (CAUSE)" for the
 * processes' unmatched frees; with name_pids the causes go with the pids
 * they apply to ("...: 40 in pids 7, 9 made before ...; 2 in pid 12 ...").
 * A new string ("" when there are none), NULL on ENOMEM.
 */
char *sm_unmatched_sentence(struct ps_proc *const *procs, size_t n, bool name_pids);
/* enum pm_proc_origin's name: started, attached, forked, unknown */
const char *sm_origin_name(enum pm_proc_origin o);

/*
 * Does the text summary fold p into one line with the others like it? No
 * Python, no partial source, no loss or unmatched free, and nothing seen
 * but its life (exec, exit), or with beside_python (the section has a
 * Python process) its libc calls too: a container's sh, sleep and
 * docker-init, whose calls still count in the totals.
 */
bool sm_proc_folds(const struct ps_proc *p, bool beside_python);

struct sm_type_row {
	const char *name;
	uint64_t count;
};

/* The process's deallocated types, most frequent first, at most top of
 * them (all when top < 0). Returns the array (caller frees) and sets *n. */
struct sm_type_row *sm_top_types(const struct procstats *s, const struct ps_proc *p, int top,
				 size_t *n);

#endif /* PYMAC_SUMMARY_IMPL_H */
