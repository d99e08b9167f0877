// SPDX-License-Identifier: MIT
/*
 * The exports' streaming model: a store over the ledger (model/ledger.h),
 * which keeps the books. Each lane keeps a ring of ES_PENDING open buckets
 * (slot b % ES_PENDING, tagged with b + 1); the model closes buckets in
 * time order as the clock moves and hands each to the exporter with the
 * lane's levels.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/bucket_cache.h"
#include "model/export_series.h"
#include "model/ledger.h"
#include "util/hashmap.h"
#include "util/grow.h"

struct slot {
	uint64_t tag; /* bucket + 1; 0: empty */
	struct es_bucket d;
};

struct lane {
	struct es_lane pub;
	struct slot ring[ES_PENDING];
	struct lg_levels lv; /* at the end of the last closed bucket */
	bool active;	     /* in export_series.active */
};

/* A running collection: nothing older than its start is settled. */
struct gc_running {
	uint32_t pid;
	uint64_t start_rel;
};

struct export_series {
	const struct es_ops *ops;
	void *ctx;
	struct ledger *lg;
	bool own_lg;
	uint64_t start_ns;
	bool have_start;
	uint64_t res;
	bool dense;

	uint64_t max_rel;	/* newest event time */
	uint64_t first_open;	/* G: buckets before it are closed */
	uint64_t newest_b;	/* bucket of max_rel */
	struct bucket_cache cb; /* the bucket of the latest time converted */

	struct lane **lanes; /* by the ledger's lane index */
	size_t nlanes, lanes_cap;
	/* Lanes that may still have buckets to hand over: not ended, or with
	 * open buckets. In lane order (the order of rows within a bucket);
	 * room for every lane, so adding one never fails. */
	struct lane **active;
	size_t nactive;

	struct u64map tids; /* tid -> pid + 1 */
	uint32_t last_tid, last_tid_pid;

	struct gc_running *gcs;
	size_t ngcs, gcs_cap;
};

/* ---- time ---- */

static uint64_t rel_ns(struct export_series *s, uint64_t ts)
{
	if (!s->have_start) {
		s->have_start = true;
		s->start_ns = ts;
	}
	return ts > s->start_ns ? ts - s->start_ns : 0;
}

static inline uint64_t bucket_of(struct export_series *s, uint64_t rel)
{
	return bucket_cache__of(&s->cb, s->res, rel);
}

/* The open bucket a record of time rel counts in. */
static uint64_t open_bucket(struct export_series *s, uint64_t rel)
{
	uint64_t b = bucket_of(s, rel);

	if (b < s->first_open)
		return s->first_open;
	if (b > s->newest_b)
		return s->newest_b; /* a record ahead of the events' clock */
	return b;
}

/* The first bucket a time can still be in (no upper clamp: for when a
 * lane starts or ends, which may be ahead of the events). */
static uint64_t not_closed_bucket(struct export_series *s, uint64_t rel)
{
	uint64_t b = bucket_of(s, rel);

	return b < s->first_open ? s->first_open : b;
}

static void lane_activate(struct export_series *s, struct lane *l)
{
	size_t i;

	if (l->active)
		return;
	for (i = s->nactive; i > 0 && s->active[i - 1]->pub.index > l->pub.index; i--)
		s->active[i] = s->active[i - 1];
	s->active[i] = l;
	s->nactive++;
	l->active = true;
}

static bool lane_pending(const struct lane *l)
{
	for (int i = 0; i < ES_PENDING; i++)
		if (l->ring[i].tag)
			return true;
	return false;
}

/* Drop the lanes that are done: ended, their last bucket closed. */
static void prune_active(struct export_series *s)
{
	size_t j = 0;

	for (size_t i = 0; i < s->nactive; i++) {
		struct lane *l = s->active[i];

		if (l->pub.ended && l->pub.end_b < s->first_open && !lane_pending(l)) {
			l->active = false;
			continue;
		}
		s->active[j++] = l;
	}
	s->nactive = j;
}

static struct es_bucket *lane_bucket(struct export_series *s, struct lane *l, uint64_t b)
{
	struct slot *sl = &l->ring[b % ES_PENDING];

	lane_activate(s, l);

	if (sl->tag != b + 1) {
		/* the slot's previous bucket was closed, so it is free */
		memset(sl, 0, sizeof(*sl));
		sl->tag = b + 1;
	}
	return &sl->d;
}

static bool lane_alive(const struct lane *l, uint64_t b)
{
	return l->pub.first_b <= b && (!l->pub.ended || b <= l->pub.end_b);
}

static int close_one(struct export_series *s, struct lane *l, uint64_t b, bool always)
{
	struct slot *sl = &l->ring[b % ES_PENDING];
	static const struct es_bucket zero;
	const struct es_bucket *d = &zero;

	if (sl->tag == b + 1) {
		d = &sl->d;
		lg_levels__add(&l->lv, &d->lv);
		l->lv.have_vm |= d->vm_events != 0;
		l->lv.have_rss |= d->rss_samples != 0;
	} else if (!always) {
		return 0;
	}
	sl->tag = 0;
	return s->ops->bucket ? s->ops->bucket(s->ctx, &l->pub, b, d, &l->lv) : 0;
}

/* Close every bucket before to. */
static int close_until(struct export_series *s, uint64_t to)
{
	uint64_t g = s->first_open, data_end = s->newest_b + 1;
	int err = 0;

	if (to <= g)
		return 0;
	if (!s->dense) {
		/* only buckets [g, newest_b] can hold anything */
		uint64_t hi = to < data_end ? to : data_end;

		for (size_t i = 0; i < s->nactive && !err; i++)
			for (uint64_t b = g; b < hi && !err; b++)
				err = close_one(s, s->active[i], b, false);
		s->first_open = to;
		prune_active(s);
		return err;
	}
	for (uint64_t b = g; b < to && !err; b++) {
		bool any = false;

		for (size_t i = 0; i < s->nactive && !err; i++) {
			struct lane *l = s->active[i];
			bool alive = lane_alive(l, b);

			any |= alive;
			err = close_one(s, l, b, alive);
		}
		/* past the data and no lane alive: skip to where one starts */
		if (!any && b >= data_end) {
			uint64_t next = to;

			for (size_t i = 0; i < s->nactive; i++)
				if (s->active[i]->pub.first_b > b &&
				    s->active[i]->pub.first_b < next)
					next = s->active[i]->pub.first_b;
			b = next - 1;
		}
	}
	s->first_open = to;
	prune_active(s);
	return err;
}

/* The events' clock moves to rel. */
static int advance(struct export_series *s, uint64_t rel)
{
	uint64_t nb, to;
	int err;

	if (rel <= s->max_rel)
		return 0;
	s->max_rel = rel;
	nb = bucket_of(s, rel);
	/* open buckets must fit the ring: [first_open, nb] */
	to = s->first_open;
	if (nb >= ES_PENDING && nb - (ES_PENDING - 1) > to)
		to = nb - (ES_PENDING - 1);
	if (rel >= ES_REORDER_NS && (rel - ES_REORDER_NS) / s->res > to)
		to = (rel - ES_REORDER_NS) / s->res;
	err = close_until(s, to);
	if (nb > s->newest_b)
		s->newest_b = nb;
	return err;
}

/* ---- lanes ---- */

static enum es_lane_kind lane_kind(enum lg_lane_kind k)
{
	switch (k) {
	case LG_LANE_CONTAINER:
		return ES_LANE_CONTAINER;
	case LG_LANE_UNKNOWN:
		return ES_LANE_UNKNOWN;
	default:
		return ES_LANE_HOST;
	}
}

static struct lane *lane_new(struct export_series *s, const struct lg_lane *info)
{
	uint64_t rel = rel_ns(s, info->first_ns);
	struct lane *l;

	if (s->nlanes == s->lanes_cap) {
		size_t cap = s->lanes_cap; /* of both: set by the second */
		struct lane **v = PM_GROW(s->lanes, &cap, s->nlanes + 1, 16);

		if (!v)
			return NULL;
		s->lanes = v;
		v = PM_GROW(s->active, &s->lanes_cap, s->nlanes + 1, 16);
		if (!v)
			return NULL;
		s->active = v;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->pub.index = info->index;
	l->pub.first_ns = rel;
	l->pub.first_b = not_closed_bucket(s, rel);
	s->lanes[s->nlanes++] = l;
	lane_activate(s, l);
	return l;
}

static struct lane *lane_of(struct export_series *s, const struct lg_lane *info)
{
	return info->index < s->nlanes ? s->lanes[info->index] : NULL;
}

/* A lane was made or changed: names to the exporter, state to the model. */
static int on_lane(void *ctx, const struct lg_lane *info)
{
	struct export_series *s = ctx;
	struct lane *l = lane_of(s, info);
	bool changed = false;

	if (!l) {
		l = lane_new(s, info);
		if (!l)
			return -ENOMEM;
		changed = true;
	}
	changed |= l->pub.kind != lane_kind(info->kind) || l->pub.cgroup_id != info->cgroup_id ||
		   l->pub.pid != info->pid;
	l->pub.kind = lane_kind(info->kind);
	l->pub.cgroup_id = info->cgroup_id;
	l->pub.pid = info->pid;
	changed |= lg_set_name(l->pub.name, sizeof(l->pub.name), info->name);
	changed |= lg_set_name(l->pub.image, sizeof(l->pub.image), info->image);
	changed |= lg_set_name(l->pub.container, sizeof(l->pub.container), info->container);
	changed |= lg_set_name(l->pub.id, sizeof(l->pub.id), info->id);
	if (info->ended && !l->pub.ended) {
		l->pub.ended = true;
		l->pub.end_b = not_closed_bucket(s, rel_ns(s, info->ended_ns));
	} else if (!info->ended && l->pub.ended) {
		/* traced again: alive from now on */
		l->pub.ended = false;
		lane_activate(s, l);
	}
	if (changed && s->ops->lane)
		return s->ops->lane(s->ctx, &l->pub);
	return 0;
}

/* ---- threads ---- */

/* Tell the exporter about a thread it has not seen in this process (and a
 * process's main thread again after an exec: its name changed). */
static int note_thread(struct export_series *s, struct lane *l, const struct lg_proc *p,
		       uint32_t tid, uint64_t rel, bool renamed)
{
	struct u64map_ent *e;

	if (!tid || (!renamed && tid == s->last_tid && p->pid == s->last_tid_pid))
		return 0;
	e = u64map__get(&s->tids, tid);
	if (!e)
		return -ENOMEM;
	s->last_tid = tid;
	s->last_tid_pid = p->pid;
	if (e->val == (uint64_t)p->pid + 1 && !renamed)
		return 0;
	e->val = (uint64_t)p->pid + 1;
	if (!s->ops->thread)
		return 0;
	return s->ops->thread(s->ctx, &l->pub, rel, p->pid, tid, p->comm);
}

static int on_event(void *ctx, const struct lg_lane *info, const struct lg_proc *p,
		    const struct pm_event *ev)
{
	struct export_series *s = ctx;
	uint64_t rel = rel_ns(s, ev->ts_ns);
	struct lane *l = lane_of(s, info);
	int err = advance(s, rel);

	if (err || !l)
		return err ? err : -EINVAL;
	if (ev->kind == PM_EXEC)
		return note_thread(s, l, p, p->pid, rel, true);
	return note_thread(s, l, p, ev->tid, rel, false);
}

/* ---- books ---- */

static int on_delta(void *ctx, const struct lg_lane *info, const struct lg_delta *d)
{
	struct export_series *s = ctx;
	struct lane *l = lane_of(s, info);
	struct es_bucket *b;

	if (!l)
		return -EINVAL;
	b = lane_bucket(s, l, open_bucket(s, rel_ns(s, d->ts_ns)));
	b->py_allocs += d->py_allocs;
	b->py_frees += d->py_frees;
	b->libc_allocs += d->libc_allocs;
	b->libc_frees += d->libc_frees;
	b->deallocs += d->deallocs;
	b->vm_events += d->vm_events;
	b->rss_samples += d->rss_samples;
	b->py_alloc_bytes += d->py_alloc_bytes;
	b->py_free_bytes += d->py_free_bytes;
	b->libc_alloc_bytes += d->libc_alloc_bytes;
	b->libc_free_bytes += d->libc_free_bytes;
	b->gcs += lg_delta__add_gc(d, b->gc_gen, &b->gc_collected, &b->gc_uncollectable, &b->gc_ns);
	lg_levels__add(&b->lv, &d->lv);
	return 0;
}

/* ---- collections ---- */

static void gc_running_del(struct export_series *s, uint32_t pid)
{
	for (size_t i = 0; i < s->ngcs; i++) {
		if (s->gcs[i].pid == pid) {
			s->gcs[i] = s->gcs[--s->ngcs];
			return;
		}
	}
}

static int on_gc(void *ctx, const struct lg_lane *info, const struct lg_gc *g)
{
	struct export_series *s = ctx;
	struct lane *l = lane_of(s, info);
	struct es_gc e;

	if (!l)
		return -EINVAL;
	gc_running_del(s, g->pid);
	if (g->state == LG_GC_RUNNING) {
		if (s->ngcs == s->gcs_cap) {
			struct gc_running *v = PM_GROW(s->gcs, &s->gcs_cap, s->ngcs + 1, 8);

			if (!v)
				return -ENOMEM;
			s->gcs = v;
		}
		s->gcs[s->ngcs++] = (struct gc_running){g->pid, rel_ns(s, g->start_ns)};
		return 0;
	}
	e = (struct es_gc){
	    .start_ns = rel_ns(s, g->start_ns),
	    .end_ns = rel_ns(s, g->end_ns),
	    .duration_ns = g->duration_ns,
	    .pid = g->pid,
	    .tid = g->tid,
	    .generation = g->generation,
	    .collected = g->state == LG_GC_DONE ? g->collected : -1,
	    .uncollectable = g->state == LG_GC_DONE ? g->uncollectable : -1,
	    .source = g->source,
	    .finished = g->state == LG_GC_DONE,
	};
	return s->ops->gc ? s->ops->gc(s->ctx, &l->pub, &e) : 0;
}

static int on_proc(void *ctx, const struct lg_lane *info, const struct lg_proc *p,
		   const struct pm_event *ev)
{
	struct export_series *s = ctx;
	struct lane *l = lane_of(s, info);
	struct es_proc_event pe = {
	    .ts_ns = rel_ns(s, ev->ts_ns),
	    .kind = ev->kind,
	    .pid = p->pid,
	    .tid = ev->tid,
	    .ppid = ev->proc.ppid,
	    .exit_code = ev->proc.exit_code,
	    .comm = ev->proc.comm ? ev->proc.comm : "",
	    .path = ev->proc.path ? ev->proc.path : "",
	};

	if (!l)
		return -EINVAL;
	return s->ops->proc ? s->ops->proc(s->ctx, &l->pub, &pe) : 0;
}

static int on_container(void *ctx, const struct lg_lane *info, const struct pm_container *c)
{
	struct export_series *s = ctx;
	struct lane *l = lane_of(s, info);

	if (!l)
		return -EINVAL;
	return s->ops->container ? s->ops->container(s->ctx, &l->pub, rel_ns(s, c->ts_ns), c->state)
				 : 0;
}

static const struct lg_ops series_ops = {
    .lane = on_lane,
    .event = on_event,
    .delta = on_delta,
    .gc = on_gc,
    .proc = on_proc,
    .container = on_container,
};

int export_series__record(struct export_series *s, const struct pm_record *rec)
{
	return ledger__record(s->lg, rec);
}

int export_series__finish(struct export_series *s)
{
	int err = s->own_lg ? ledger__finish(s->lg) : 0;

	if (!err)
		err = close_until(s, s->newest_b + 1);
	return err;
}

struct export_series *export_series__new_on(struct ledger *lg, uint64_t start_ns, uint64_t res_ns,
					    bool dense, const struct es_ops *ops, void *ctx)
{
	struct export_series *s;

	if (!res_ns || !ops) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ops = ops;
	s->ctx = ctx;
	s->lg = lg;
	s->res = res_ns;
	s->dense = dense;
	s->start_ns = start_ns;
	s->have_start = start_ns != 0;
	if (ledger__subscribe(lg, &series_ops, s)) {
		free(s);
		errno = ENOSPC;
		return NULL;
	}
	return s;
}

struct export_series *export_series__new(uint64_t start_ns, uint64_t res_ns, bool dense,
					 const struct es_ops *ops, void *ctx)
{
	struct ledger *lg = ledger__new();
	struct export_series *s;

	if (!lg)
		return NULL;
	s = export_series__new_on(lg, start_ns, res_ns, dense, ops, ctx);
	if (!s) {
		ledger__free(lg);
		return NULL;
	}
	s->own_lg = true;
	return s;
}

void export_series__free(struct export_series *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlanes; i++)
		free(s->lanes[i]);
	free(s->lanes);
	free(s->active);
	u64map__free(&s->tids);
	free(s->gcs);
	if (s->own_lg)
		ledger__free(s->lg);
	free(s);
}

uint64_t export_series__settled_ns(const struct export_series *s)
{
	uint64_t t = s->first_open * s->res;

	if (s->max_rel < ES_REORDER_NS)
		return 0;
	if (s->max_rel - ES_REORDER_NS < t)
		t = s->max_rel - ES_REORDER_NS;
	for (size_t i = 0; i < s->ngcs; i++)
		if (s->gcs[i].start_rel < t)
			t = s->gcs[i].start_rel;
	return t;
}

uint64_t export_series__res_ns(const struct export_series *s)
{
	return s->res;
}

uint64_t export_series__start_ns(const struct export_series *s)
{
	return s->start_ns;
}

uint64_t export_series__live_blocks(const struct export_series *s)
{
	return ledger__live_blocks(s->lg);
}
