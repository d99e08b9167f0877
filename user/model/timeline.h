/* SPDX-License-Identifier: MIT */
/*
 * The timeline model behind `pymac live`, `replay --view timeline` and the
 * time-bucketed exports: records go in (as a pm_sink), and out come lanes
 * (one per container, or per process outside containers), each a series of
 * fixed-width time buckets, with GC collections as markers and the
 * deallocated types of any window. Live and replay feed it the same way;
 * only the source of records differs.
 *
 * Time is the trace's clock (CLOCK_MONOTONIC ns), never the wall clock, so
 * a replay of a trace gives the same model as the live session did.
 */
#ifndef PYMAC_TIMELINE_H
#define PYMAC_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "feed/record.h"
#include "model/ledger.h"

#define TL_BUCKET_NS	 10000000ull /* 10 ms: the finest zoom shows 1 s in ~100 columns */
#define TL_HISTORY_NS	 (600ull * 1000000000ull) /* buckets kept: the last 10 minutes */
#define TL_GC_KEPT	 4096			  /* GC markers kept per lane */
#define TL_LANE_NAME_MAX LG_NAME_MAX

/*
 * What happened in one lane during one bucket. A realloc counts as one
 * allocation; the block it replaces adds to the free bytes (not to the free
 * count). Frees whose allocation was not seen add no bytes. Nets are the
 * bytes of the lane's live blocks; when a process exits (or execs), what it
 * still held leaves its lane's nets, without counting as freed.
 */
struct tl_bucket {
	uint64_t py_allocs, py_frees;		/* PyObject_* calls */
	uint64_t py_alloc_bytes, py_free_bytes; /* frees sized by their allocation */
	uint64_t libc_allocs, libc_frees;
	uint64_t libc_alloc_bytes, libc_free_bytes;
	uint64_t deallocs;
	int64_t py_net, libc_net; /* running net bytes at the bucket's end */
	/* footprint mode, at the bucket's end: anonymous mappings + brk heap of
	 * the lane's processes, and the sum of their latest RSS samples */
	int64_t fp_net, rss;
	uint32_t gc_starts; /* collections that started in this bucket */
	uint32_t lost;	    /* events lost in this bucket (from LOST records) */
};

/* One collection. */
struct tl_gc {
	uint64_t start_ns, end_ns; /* end_ns 0 while running */
	int32_t generation;	   /* -1 unknown */
	int64_t collected;	   /* -1 unknown */
	uint32_t pid;
	uint64_t traced_inside; /* lg_gc's: events whose probes' cost is in its duration */
};

/* A deallocated type and how many of it, over a window. */
struct tl_type_count {
	const char *name;
	uint64_t count;
};

struct timeline;

/*
 * bucket_ns: bucket width (0: TL_BUCKET_NS); history_ns: how far back
 * buckets and markers are kept (0: TL_HISTORY_NS; UINT64_MAX: everything,
 * for exports of a whole trace). NULL with errno on failure.
 */
struct timeline *timeline__new(uint64_t bucket_ns, uint64_t history_ns);
/* The same, keeping its books in lg (which must outlive it), beside the
 * ledger's other stores: feed records to ledger__sink(lg) then. */
struct timeline *timeline__new_on(struct ledger *lg, uint64_t bucket_ns, uint64_t history_ns);
void timeline__free(struct timeline *tl);
/* Where its records go in: its ledger's sink. */
struct pm_sink *timeline__sink(struct timeline *tl);
struct ledger *timeline__ledger(const struct timeline *tl);

/* Move "now" forward without events (live: time passes while idle). */
void timeline__advance(struct timeline *tl, uint64_t now_ns);
/* First and latest time seen (0 before any record); the start is the
 * recording's, once timeline__set_start has said it. */
uint64_t timeline__start_ns(const struct timeline *tl);
/* Count time from start_ns (the tracing window's opening, the trace's
 * start), not from the first record: records made while the probes were
 * attached come before it. */
void timeline__set_start(struct timeline *tl, uint64_t start_ns);
uint64_t timeline__now_ns(const struct timeline *tl);
uint64_t timeline__bucket_ns(const struct timeline *tl);

size_t timeline__lane_count(const struct timeline *tl);
/* Lanes are numbered in order of first appearance; they are never removed.
 * A lane of the timeline is a lane of its ledger (model/ledger.h): names,
 * state, totals so far (counters that never decrease) and levels now. */
const struct lg_lane *timeline__lane(const struct timeline *tl, size_t lane);

/*
 * Sum buckets [from_ns, to_ns) of a lane, n equal slices, into out[n]
 * (counts and bytes add up; py_net/libc_net are the values at each slice's
 * end). A bucket belongs to the slice its start falls in, so slices
 * narrower than a bucket may be empty. Slices before the lane's first
 * record, beyond history or after now are zero (nets included); empty
 * slices in between carry the last nets forward. Costs O(n) whatever the
 * window. Returns n, or -errno.
 */
int timeline__series(const struct timeline *tl, size_t lane, uint64_t from_ns, uint64_t to_ns,
		     struct tl_bucket *out, size_t n);

/* The collections of a lane that overlap [from_ns, to_ns), oldest first
 * (a running one, end_ns 0, reaches to now; a process that exits ends it).
 * Returns how many were written (at most max: the oldest). */
size_t timeline__gcs(const struct timeline *tl, size_t lane, uint64_t from_ns, uint64_t to_ns,
		     struct tl_gc *out, size_t max);

/* The most deallocated types of a lane within [from_ns, to_ns), most first
 * (second granularity). Returns how many were written (at most max). */
size_t timeline__top_types(const struct timeline *tl, size_t lane, uint64_t from_ns, uint64_t to_ns,
			   struct tl_type_count *out, size_t max);

/* count per second over span_ns, rounded down (0 for an empty span) */
static inline uint64_t tl_per_second(uint64_t count, uint64_t span_ns)
{
	if (!span_ns)
		return 0;
	return (uint64_t)((unsigned __int128)count * 1000000000ull / span_ns);
}

/* Had the lane ended by time t? (A paused view shows the past.) */
static inline bool tl_lane_ended_by(const struct lg_lane *l, uint64_t t)
{
	return l->ended && l->ended_ns < t;
}

/* Total events lost so far, over all lanes and pids not in any lane. */
uint64_t timeline__lost_total(const struct timeline *tl);

/* Bytes the model holds on the heap (for tests and --debug). */
size_t timeline__memory(const struct timeline *tl);

#endif /* PYMAC_TIMELINE_H */
