/* SPDX-License-Identifier: MIT */
/*
 * The one accounting core. Every view of a trace (the live timeline, the
 * summary, the exports, the metrics page) keeps its books through a ledger,
 * so that the rules are written once and the views agree by construction.
 *
 * Records go in (the ledger is a pm_sink). The ledger keeps the process
 * table, puts each process in a lane (its container's, or one of its own
 * outside containers), keeps each process's live blocks by address, the
 * pymalloc blocks it holds without an address (pyblock.h), its footprint
 * (footprint.h), its running collection and its lost counters, and turns
 * each record into deltas of the lanes it changes. The stores subscribed to
 * it (timeline.c: history; export_series.c: streaming buckets; procstats.c:
 * per process) only add up deltas, in their own time structures.
 *
 * What the rules are:
 * - A realloc counts as one allocation; the block it replaces adds to the
 *   freed bytes (not to the free count). Allocated bytes are what was
 *   requested, successful or not.
 * - Freed bytes are the sizes of the blocks freed, known from their
 *   allocation (or, for a block allocated without an address on an LTO
 *   build, from the free's pool-header size). A free of a block never seen
 *   allocated frees no bytes and is counted as unmatched.
 * - Nets are the bytes of the blocks a lane's processes hold. What a
 *   process still holds when it exits or execs leaves its lane's nets then,
 *   without counting as freed. A process that moves to another lane takes
 *   its share along.
 * - A collection counts when it ends, with its generation (from its start,
 *   else from its end), what it collected and its duration.
 * - Lost counts are cumulative per process in the records; only their
 *   growth is new.
 * Only the records decide, never a clock, so a replay keeps exactly the
 * books a live session kept.
 */
#ifndef PYMAC_LEDGER_H
#define PYMAC_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "feed/record.h"

#define LG_NAME_MAX  128
#define LG_PIDS_KEPT 16
/* live blocks remembered per lane; past it a block's free counts as unmatched */
#define LG_LIVE_MAX    (1u << 22)
#define LG_GENERATIONS 3

enum lg_lane_kind {
	LG_LANE_CONTAINER = 1,
	LG_LANE_HOST = 2,    /* one process outside the traced containers */
	LG_LANE_UNKNOWN = 3, /* events lost by processes nobody could name (pid 0) */
};

/* What a lane has seen since it began: counters that never decrease. */
struct lg_totals {
	uint64_t events[PM_KIND_MAX]; /* by kind */
	uint64_t py_allocs, py_frees; /* PyObject_* calls (a realloc is an allocation) */
	uint64_t py_alloc_bytes, py_free_bytes;
	uint64_t libc_allocs, libc_frees;
	uint64_t libc_alloc_bytes, libc_free_bytes;
	uint64_t deallocs;
	uint64_t gc_starts;		 /* collections begun */
	uint64_t gcs;			 /* collections finished */
	uint64_t gc_gen[LG_GENERATIONS]; /* finished ones by generation */
	uint64_t gc_collected;		 /* unreachable objects they found, where known */
	uint64_t gc_uncollectable;	 /* of them, left in gc.garbage, where known */
	uint64_t gc_ns;			 /* their durations */
	/* events traced inside them on their thread: each probe hit's cost is
	 * in gc_ns (0: only the GC probes fired, gc_ns is their own time) */
	uint64_t gc_traced_inside;
	uint64_t lost;		     /* events lost */
	uint64_t unmatched_frees;    /* frees of blocks never seen allocated */
	uint64_t unmatched_py_frees; /* of them, py_free's (the rest: libc's) */
	/* python allocations at inlined copies (LTO), which give no block
	 * address: their frees cannot be paired with them */
	uint64_t py_unaddressed_allocs;
	uint64_t vm_events, rss_samples; /* footprint mode */
};

/*
 * A lane's levels: bytes and number of the blocks its processes hold
 * (allocated, not yet freed), events lost so far, and footprint mode's
 * anonymous memory, told apart (footprint.h: pymalloc arenas, other
 * mappings, brk heap; their sum is the footprint) and the sum of its
 * processes' latest RSS samples. have_vm/have_rss: the lane has had such
 * events, so a footprint of 0 means 0 and not "unknown".
 */
struct lg_levels {
	int64_t py_net, libc_net;
	int64_t py_live, libc_live;
	int64_t fp_arena, fp_mmap, fp_heap;
	int64_t rss, rss_anon;
	uint64_t lost; /* events lost so far */
	bool have_vm, have_rss;
};

/*
 * Levels and their changes add modulo 2^64. A trace can claim any size (a
 * damaged or crafted one sizes in the exabytes), and the sum of such sizes
 * must stay defined: wrapped, it is as wrong as the input but the same in
 * every store, which sums the same changes.
 */
static inline int64_t lg_add(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t lg_sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

/* v += d, the level changes d (whose have_* are ignored) */
static inline void lg_levels__add(struct lg_levels *v, const struct lg_levels *d)
{
	v->py_net = lg_add(v->py_net, d->py_net);
	v->libc_net = lg_add(v->libc_net, d->libc_net);
	v->py_live = lg_add(v->py_live, d->py_live);
	v->libc_live = lg_add(v->libc_live, d->libc_live);
	v->fp_arena = lg_add(v->fp_arena, d->fp_arena);
	v->fp_mmap = lg_add(v->fp_mmap, d->fp_mmap);
	v->fp_heap = lg_add(v->fp_heap, d->fp_heap);
	v->rss = lg_add(v->rss, d->rss);
	v->rss_anon = lg_add(v->rss_anon, d->rss_anon);
	v->lost += d->lost;
	/* a process that moves in brings its footprint along */
	v->have_vm |= d->fp_arena || d->fp_mmap || d->fp_heap;
	v->have_rss |= d->rss || d->rss_anon;
}

static inline int64_t lg_levels__footprint(const struct lg_levels *lv)
{
	return lg_add(lg_add(lv->fp_arena, lv->fp_mmap), lv->fp_heap);
}

struct lg_lane {
	size_t index; /* 0, 1, ... in order of creation; lanes are never removed */
	enum lg_lane_kind kind;
	/* container: compose service, else container name, else "cgroup N";
	 * host: "pid N comm" */
	char name[LG_NAME_MAX];
	char detail[LG_NAME_MAX];    /* container: its image; host: interpreter, else executable */
	char container[LG_NAME_MAX]; /* container name ("" for host lanes) */
	char image[LG_NAME_MAX];     /* container image, "" if unknown */
	char id[72];		     /* container id */
	char pod_uid[40];	     /* Kubernetes pod UID from the cgroup path, or "" */
	char qos[12];		     /* its QoS class, or "" */
	char interpreter[LG_NAME_MAX]; /* "python 3.11" of its first Python process, or "" */
	char allocator[12]; /* that process's PyObject_Malloc: "pymalloc", "mimalloc" or "" */
	uint64_t cgroup_id; /* 0 for a host lane of a process with none */
	uint32_t pid;	    /* host lane: its process */
	uint64_t first_ns;  /* time of the record that made it */
	bool ended;	    /* container stopped / process exited */
	uint64_t ended_ns;
	uint32_t pids[LG_PIDS_KEPT]; /* first processes seen in it */
	size_t npids;		     /* may exceed LG_PIDS_KEPT: how many were seen */
	bool partial;		     /* some source of some process sees only part of the calls */
	char partial_what[64];	     /* e.g. "pymalloc, dealloc" */
	/* allocation probes armed only in windows (--sample-duty): its call
	 * counts are a sample and its nets mean nothing */
	bool sampled;
	struct lg_totals tot;
	struct lg_levels lv; /* now (after the latest record) */
};

/*
 * What one record did to one lane. kind is the event it comes from, counted
 * once (0: a change of levels alone, as when a process moves or exits);
 * the counts by kind and the bytes add to the lane's totals, the level
 * changes to its levels. pid is the process it concerns (0: none, pid-0
 * losses).
 */
struct lg_delta {
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t kind;
	/* what kind counts as (1 or 0; lg_delta__count sets them from kind) */
	uint32_t py_allocs, py_frees, libc_allocs, libc_frees, deallocs;
	uint32_t vm_events, rss_samples;
	uint64_t py_alloc_bytes, py_free_bytes;
	uint64_t libc_alloc_bytes, libc_free_bytes;
	uint32_t unmatched, unmatched_py; /* frees of blocks never seen allocated; py_free's */
	uint32_t py_unaddressed;	  /* lg_totals.py_unaddressed_allocs */
	uint32_t gc_starts;		  /* 1 when a collection began (ts_ns is its start) */
	/* a collection finished: gc_done 1, its generation (-1 unknown), what
	 * it collected and could not (-1 unknown) and its duration */
	uint32_t gc_done;
	int32_t gc_generation;
	int64_t gc_collected, gc_uncollectable;
	uint64_t gc_ns;
	uint64_t gc_inside;  /* with gc_done: lg_gc.traced_inside */
	struct lg_levels lv; /* the changes of the lane's levels (have_* unused) */
};

/* The event kind's counts in d: a realloc is an allocation, py_dealloc a
 * deallocation, vm and rss footprint events. */
static inline void lg_delta__count(struct lg_delta *d, unsigned kind)
{
	d->kind = kind;
	d->py_allocs = kind == PM_PY_MALLOC || kind == PM_PY_CALLOC || kind == PM_PY_REALLOC;
	d->py_frees = kind == PM_PY_FREE;
	d->libc_allocs = kind == PM_MALLOC || kind == PM_CALLOC || kind == PM_REALLOC;
	d->libc_frees = kind == PM_FREE;
	d->deallocs = kind == PM_PY_DEALLOC;
	d->vm_events = kind == PM_VM;
	d->rss_samples = kind == PM_RSS;
}

/*
 * The collection d finished, if any, added to a store's counters of
 * finished collections: by generation where it is known, the objects it
 * collected and could not where they are known, its duration. Whether d
 * finished one (for a store that also counts them).
 */
static inline bool lg_delta__add_gc(const struct lg_delta *d, uint64_t gen[LG_GENERATIONS],
				    uint64_t *collected, uint64_t *uncollectable, uint64_t *ns)
{
	if (!d->gc_done)
		return false;
	if (d->gc_generation >= 0 && d->gc_generation < LG_GENERATIONS)
		gen[d->gc_generation]++;
	if (d->gc_collected > 0)
		*collected += (uint64_t)d->gc_collected;
	if (d->gc_uncollectable > 0)
		*uncollectable += (uint64_t)d->gc_uncollectable;
	*ns += d->gc_ns;
	return true;
}

enum lg_gc_state {
	LG_GC_RUNNING = 1,
	LG_GC_DONE = 2,
	LG_GC_ABANDONED = 3, /* its process exited, exec'd or moved, or another began first */
};

/* One collection; seq numbers a lane's collections from 0. */
struct lg_gc {
	uint64_t seq;
	enum lg_gc_state state;
	uint64_t start_ns, end_ns; /* end_ns 0 while running */
	uint64_t duration_ns;	   /* as the gc_done event measured it (0 if not done) */
	uint32_t pid, tid;
	int32_t generation;    /* -1: unknown */
	int64_t collected;     /* unreachable objects found; -1: unknown */
	int64_t uncollectable; /* of them, left in gc.garbage; -1: unknown */
	uint32_t source;       /* enum pm_gc_source, 0 unknown */
	/* allocator and deallocation events traced inside it on its thread:
	 * their probes' cost is in its duration */
	uint64_t traced_inside;
	bool start_seen; /* false: a done whose start was not seen (started duration_ns before) */
};

/* A process as the ledger knows it (for the stores' callbacks). */
struct lg_proc {
	uint32_t pid;
	uint64_t cgroup_id;
	char comm[PM_COMM_LEN + 1];
	char path[LG_NAME_MAX]; /* interpreter, else executable */
	char python_version[16];
	bool is_python;
	bool exited;
};

/*
 * A store's callbacks; any may be NULL. A non-zero return (negative errno)
 * stops the feed: the ledger's sink returns it.
 */
struct lg_ops {
	/* a lane was made, or its names or its state changed */
	int (*lane)(void *ctx, const struct lg_lane *l);
	/* p joined lane l (its first, or another when it moved) */
	int (*join)(void *ctx, const struct lg_lane *l, const struct lg_proc *p);
	/* an event of p, in lane l, before it is accounted (to follow threads) */
	int (*event)(void *ctx, const struct lg_lane *l, const struct lg_proc *p,
		     const struct pm_event *ev);
	int (*delta)(void *ctx, const struct lg_lane *l, const struct lg_delta *d);
	/* a collection began, finished or was abandoned */
	int (*gc)(void *ctx, const struct lg_lane *l, const struct lg_gc *g);
	/* a deallocation of the interned type type_id (ledger__type_name) */
	int (*dealloc)(void *ctx, const struct lg_lane *l, const struct lg_proc *p, uint64_t ts_ns,
		       uint32_t type_id);
	/* exec or exit of p, after its memory left the lane */
	int (*proc)(void *ctx, const struct lg_lane *l, const struct lg_proc *p,
		    const struct pm_event *ev);
	/* a CONTAINER record (the lane's names already updated) */
	int (*container)(void *ctx, const struct lg_lane *l, const struct pm_container *c);
	/* any record, after the ledger has taken it (what a store describes
	 * beyond the books: sources, metadata, exit statuses) */
	int (*record)(void *ctx, const struct pm_record *rec);
};

struct ledger;

struct ledger *ledger__new(void);
void ledger__free(struct ledger *lg);
/* Add a store (at most 4). 0 or -ENOSPC. Stores are called in order. */
int ledger__subscribe(struct ledger *lg, const struct lg_ops *ops, void *ctx);
/* The ledger as a sink: record() keeps the books. finish() abandons the
 * collections still running at the last record's time. */
struct pm_sink *ledger__sink(struct ledger *lg);
int ledger__record(struct ledger *lg, const struct pm_record *rec);
int ledger__finish(struct ledger *lg);

size_t ledger__lane_count(const struct ledger *lg);
const struct lg_lane *ledger__lane(const struct ledger *lg, size_t i);
/* The name of an interned deallocated type. */
const char *ledger__type_name(const struct ledger *lg, uint32_t type_id);
uint32_t ledger__type_count(const struct ledger *lg);
/* The latest record's time (0 before any). */
uint64_t ledger__last_ns(const struct ledger *lg);
/* Events lost, over every process (pid 0 included). */
uint64_t ledger__lost_total(const struct ledger *lg);
/* Live blocks remembered now, over all processes. */
uint64_t ledger__live_blocks(const struct ledger *lg);
/* Heap bytes the ledger holds. */
size_t ledger__memory(const struct ledger *lg);

/* Copy s (NULL: "") into the name array dst (cut to fit); whether it
 * changed. For the ledger's names and the stores' copies of them. */
bool lg_set_name(char *dst, size_t len, const char *s);

#endif /* PYMAC_LEDGER_H */
