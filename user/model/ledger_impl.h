/* SPDX-License-Identifier: MIT */
/*
 * The ledger's insides (model/ledger.h), shared by ledger.c (records,
 * lanes, processes) and ledger_books.c (what a process's events do to its
 * books: blocks, footprint, collections). Not for the stores.
 */
#ifndef PYMAC_LEDGER_IMPL_H
#define PYMAC_LEDGER_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include "model/footprint.h"
#include "model/intern.h"
#include "model/ledger.h"
#include "model/pidindex.h"
#include "model/pyblock.h"
#include "util/hashmap.h"

#define NS_PER_SEC  1000000000ull
#define SUBS_MAX    4
#define SOURCES_MAX 32 /* distinct source names ("pymalloc", ...) */
/* an ended process of a container is forgotten this long after its exit
 * (stream time): its last lost count and any straggling event of its
 * threads have arrived */
#define PROC_FORGET_NS (10 * NS_PER_SEC)

struct lane;

/*
 * The times of a process's latest allocator and deallocation events, so
 * that a collection can count those that fell inside it when it ends: the
 * collector's uprobes send its start together with its end, after the
 * events inside it. The last LG_TICKS_EXACT times are all kept; older ones
 * one in LG_TICK_FINE, then one in LG_TICK_COARSE, so a count is exact up
 * to LG_TICKS_EXACT events and short by less than a step beyond (< 3.2%).
 */
#define LG_TICKS_EXACT 1024
#define LG_TICKS       4096
#define LG_TICK_FINE   32
#define LG_TICK_COARSE 4096
struct lg_ticks {
	uint64_t exact[LG_TICKS_EXACT], fine[LG_TICKS], coarse[LG_TICKS];
};

struct proc {
	struct lg_proc pub;
	bool have_proc_rec; /* its cgroup comes from a PROCESS record */
	uint64_t exited_ns;
	struct lane *lane;
	struct u64map py, libc;	  /* live blocks: address -> size */
	int64_t py_net, libc_net; /* its share of its lane's nets */
	/* LTO builds: blocks allocated without an address (pyblock.h) */
	struct pm_held held;
	struct footprint fp;
	uint64_t lost[PM_KIND_MAX]; /* the latest cumulative counts */
	uint32_t partial_mask;	    /* bits of ledger.src_names */
	bool gc_open;
	struct lg_gc gc;	/* the running collection */
	uint64_t obj_events;	/* allocator and deallocation events */
	struct lg_ticks *ticks; /* their times; for Python processes and those that collect */
};

struct lane {
	struct lg_lane pub;
	struct proc *owner;    /* the process of a host lane */
	uint32_t partial_gone; /* partial_mask of its processes forgotten since */
	uint64_t gc_seq;       /* collections begun in it */
};

struct cont {
	uint64_t cgroup_id;
	struct lane *lane;
};

struct sub {
	const struct lg_ops *ops;
	void *ctx;
};

struct ledger {
	struct pm_sink sink;
	struct sub subs[SUBS_MAX];
	int nsubs;

	struct lane **lanes;
	size_t nlanes, lanes_cap;
	struct lane *unknown; /* lost events of pid 0 */
	uint64_t lost_unknown[PM_KIND_MAX];

	struct cont *conts;
	size_t nconts, conts_cap;

	struct proc **procs;
	size_t nprocs, procs_cap;
	struct pid_index pids;

	struct str_intern types; /* deallocated type names */
	char *src_names[SOURCES_MAX];
	unsigned nsrc;

	uint64_t last_ns; /* the latest record's time */
	uint64_t lost_total;
	uint64_t live_blocks;
	bool sampled; /* the trace says its allocation probes were armed in windows */
};

/* Hand a callback to every store in order; the first error returns. */
#define EACH_SUB(lg, op, ...)                                                                      \
	do {                                                                                       \
		for (int i_ = 0; i_ < (lg)->nsubs; i_++) {                                         \
			const struct sub *s_ = &(lg)->subs[i_];                                    \
			int e_ = s_->ops->op ? s_->ops->op(s_->ctx, __VA_ARGS__) : 0;              \
                                                                                                   \
			if (e_)                                                                    \
				return e_;                                                         \
		}                                                                                  \
	} while (0)

int lg_emit_lane(struct ledger *lg, struct lane *l);
/* Add d to the lane's totals and levels, then hand it to the stores. */
int lg_emit_delta(struct ledger *lg, struct lane *l, const struct lg_delta *d);
int lg_emit_gc(struct ledger *lg, struct lane *l, const struct lg_gc *g);

/* A block of p goes away (a free, a realloc's old block). */
void lg_block_free(struct ledger *lg, struct proc *p, bool py, uint64_t addr, uint32_t block,
		   struct lg_delta *d);
/* An allocation event of p (any of the six kinds). */
int lg_on_alloc(struct ledger *lg, struct proc *p, const struct pm_event *ev, struct lg_delta *d);
/* What p holds leaves its lane (it exits or execs). */
void lg_drop_memory(struct ledger *lg, struct proc *p, struct lg_delta *d);

enum { FS_ARENA, FS_MMAP, FS_HEAP, FS_RSS, FS_ANON, FS_N };
/* p's share of its lane's footprint levels, and adding one to a delta. */
void lg_fp_share(const struct proc *p, int64_t v[FS_N]);
void lg_fp_add(struct lg_delta *d, const int64_t v[FS_N], int64_t sign);
/* A vm or rss event, or an exec (which unmaps everything). */
int lg_fp_apply(struct proc *p, const struct pm_event *ev, struct lg_delta *d);
/* An exited process's memory is gone: its share leaves the lane. */
void lg_fp_drop(struct proc *p, struct lg_delta *d);

/* End p's running collection without a done. */
/* A process's allocator or deallocation event at ts (lg_ticks). 0 or -ENOMEM. */
int lg_note_obj_event(struct proc *p, uint64_t ts);
/* How many of them were at or after ts (a lower bound, see lg_ticks). */
uint64_t lg_obj_events_since(const struct proc *p, uint64_t ts);
int lg_gc_abandon(struct ledger *lg, struct proc *p, uint64_t ts);
/* A gc_start or gc_done of p. */
int lg_on_gc(struct ledger *lg, struct proc *p, const struct pm_event *ev, struct lg_delta *d);

#endif /* PYMAC_LEDGER_IMPL_H */
