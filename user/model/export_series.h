/* SPDX-License-Identifier: MIT */
/*
 * The streaming model behind the time-bucketed exports (chrome, csv).
 * Records go in; out come, through callbacks, lanes (one per container, one
 * per process outside containers), closed time buckets of each lane with
 * its levels at the bucket's end, finished collections, process and
 * container events. Unlike the timeline model it keeps no history: a bucket
 * is handed over once it can no longer change, then forgotten, so a trace of
 * any length costs the same memory, except for the per-process tables of
 * live blocks (one entry per allocation not yet freed) and a few bytes per
 * process and thread ever seen.
 *
 * Records come in file order: time order but for small inversions (an
 * event's time is taken before its ring buffer slot is reserved). Only
 * events move the clock; a bucket stays open until the newest event is
 * ES_REORDER_NS past its end or ES_PENDING buckets ahead of it. A record
 * for a bucket already closed counts in the oldest open one.
 *
 * All times handed out are nanoseconds after the trace's start (records
 * before the start count at 0).
 */
#ifndef PYMAC_EXPORT_SERIES_H
#define PYMAC_EXPORT_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "feed/record.h"
#include "model/ledger.h"

#define ES_REORDER_NS 20000000ull /* 20 ms: far more than the inversions seen */
#define ES_PENDING    16	  /* open buckets per lane at most */
#define ES_NAME_MAX   128

enum es_lane_kind {
	ES_LANE_CONTAINER = 1,
	ES_LANE_HOST = 2,    /* one process outside the traced containers */
	ES_LANE_UNKNOWN = 3, /* events lost by processes nobody could name */
};

struct es_lane {
	size_t index; /* 0, 1, ... in order of creation; never removed */
	enum es_lane_kind kind;
	/* container: compose service, else container name, else "cgroup N";
	 * host: "pid N comm" */
	char name[ES_NAME_MAX];
	char image[ES_NAME_MAX];     /* container image, "" if unknown */
	char container[ES_NAME_MAX]; /* container name ("" for host lanes) */
	char id[72];		     /* container id */
	uint64_t cgroup_id;
	uint32_t pid;	   /* host lane: its process */
	uint64_t first_ns; /* when it was made */
	bool ended;	   /* container stopped, or its process exited */
	uint64_t end_b;	   /* the bucket it ended in */
	uint64_t first_b;  /* the first bucket it has */
};

/*
 * What happened in one lane during one bucket. Counts count calls: a
 * realloc is an allocation (and its old block a freed block, without a free
 * count). Allocated bytes are what was requested, successful or not (the
 * summary's figure); freed bytes are the sizes of the blocks freed, known
 * from their allocation. A free of a block never seen allocated frees no
 * bytes and changes no level.
 */
struct es_bucket {
	uint64_t py_allocs, py_frees, py_alloc_bytes, py_free_bytes;
	uint64_t libc_allocs, libc_frees, libc_alloc_bytes, libc_free_bytes;
	uint64_t deallocs;
	uint64_t gcs;			 /* collections that finished */
	uint64_t gc_gen[LG_GENERATIONS]; /* of those, by generation */
	uint64_t gc_collected;		 /* unreachable objects they found, where known */
	uint64_t gc_uncollectable;	 /* of them, left in gc.garbage, where known */
	uint64_t gc_ns;			 /* their durations */
	uint64_t vm_events, rss_samples; /* footprint mode */
	/* changes of the lane's levels in the bucket (lv.lost: events lost,
	 * the growth of the LOST counters; have_* unused) */
	struct lg_levels lv;
};

/*
 * A lane's levels at a bucket's end are a struct lg_levels (ledger.h): what
 * its processes hold, events lost so far, footprint mode's mappings and
 * RSS. What a process still holds when it exits or execs leaves the levels
 * then; an exec drops its mappings (the new program starts empty) but not
 * its RSS, which the next sample replaces.
 */

struct es_gc {
	uint64_t start_ns, end_ns;
	uint64_t duration_ns; /* as the gc_done event measured it (0 if unfinished) */
	uint32_t pid, tid;
	int32_t generation;    /* -1: unknown */
	int64_t collected;     /* -1: unknown */
	int64_t uncollectable; /* -1: unknown */
	uint32_t source;       /* enum pm_gc_source, 0 unknown */
	bool finished;	       /* false: its process exited or exec'd first */
};

/* An exec or exit event (kind PM_EXEC or PM_EXIT). */
struct es_proc_event {
	uint64_t ts_ns;
	enum pm_kind kind;
	uint32_t pid, tid, ppid;
	int32_t exit_code; /* wait status */
	const char *comm;
	const char *path;
};

/* Callbacks; any may be NULL. A non-zero return (negative errno) stops the
 * feed and is returned by export_series__record / __finish. */
struct es_ops {
	/* a new lane, or a lane's names changed */
	int (*lane)(void *ctx, const struct es_lane *l);
	/* a thread seen for the first time (and a process's main thread again
	 * after an exec: the name changes) */
	int (*thread)(void *ctx, const struct es_lane *l, uint64_t ts_ns, uint32_t pid,
		      uint32_t tid, const char *comm);
	/*
	 * Bucket b ([b * res, (b + 1) * res)) of a lane is closed. Buckets
	 * come in order for each lane. Sparse models call this only for
	 * buckets with something in them; dense ones also for every bucket
	 * of a lane from its first bucket to its end, and bucket-major (all
	 * lanes of bucket b before any of b + 1).
	 */
	int (*bucket)(void *ctx, const struct es_lane *l, uint64_t b, const struct es_bucket *d,
		      const struct lg_levels *lv);
	int (*gc)(void *ctx, const struct es_lane *l, const struct es_gc *g);
	int (*proc)(void *ctx, const struct es_lane *l, const struct es_proc_event *e);
	/* a CONTAINER record (the lane's names are already updated) */
	int (*container)(void *ctx, const struct es_lane *l, uint64_t ts_ns,
			 enum pm_container_state state);
};

struct export_series;

/*
 * start_ns: the trace's start (0: the first record's time); res_ns: bucket
 * width (> 0); dense: see es_ops.bucket. NULL with errno on failure.
 */
struct export_series *export_series__new(uint64_t start_ns, uint64_t res_ns, bool dense,
					 const struct es_ops *ops, void *ctx);
/* The same, keeping its books in lg (which must outlive it), beside the
 * ledger's other stores: feed records to ledger__sink(lg) then, and finish
 * the ledger before the series. */
struct export_series *export_series__new_on(struct ledger *lg, uint64_t start_ns, uint64_t res_ns,
					    bool dense, const struct es_ops *ops, void *ctx);
void export_series__free(struct export_series *s);
int export_series__record(struct export_series *s, const struct pm_record *rec);
/* Close every open bucket (and report unfinished collections). */
int export_series__finish(struct export_series *s);

/*
 * A time before which no later callback reports anything (buckets, whose
 * levels stand at their end; collections, from their start; exec and
 * exit), barring records more than ES_REORDER_NS out of order. Exporters
 * that sort their output may write out everything older.
 */
uint64_t export_series__settled_ns(const struct export_series *s);
uint64_t export_series__res_ns(const struct export_series *s);
/* The start it counts from (known after the first record). */
uint64_t export_series__start_ns(const struct export_series *s);
/* Live blocks tracked now, over all processes. */
uint64_t export_series__live_blocks(const struct export_series *s);

#endif /* PYMAC_EXPORT_SERIES_H */
