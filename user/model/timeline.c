// SPDX-License-Identifier: MIT
/*
 * The timeline model: a store over the ledger (model/ledger.h), which keeps
 * the books; the timeline keeps their history. Each lane keeps its buckets
 * as running totals (every counter summed from the lane's start), so the
 * sum over any run of buckets is the difference of two of them: a series of
 * n slices costs 2n lookups whatever the window, which is what lets the
 * live view redraw every lane ten times a second. A bucket without events
 * is a copy of the one before; the copies are only written when the lane
 * next has an event, and reads past a lane's last written bucket see its
 * last totals. Deallocated types are counted per second in small
 * per-second tables of interned type ids.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/bucket_cache.h"
#include "model/ledger.h"
#include "model/timeline.h"
#include "util/hashmap.h"
#include "util/grow.h"

#define NS_PER_SEC     1000000000ull
#define TL_REORDER_MAX 64 /* buckets an out-of-order event may reach back */

/* Running totals at a bucket's end; nets are int64 stored two's complement. */
enum cum_field {
	C_PY_ALLOCS,
	C_PY_FREES,
	C_PY_ALLOC_BYTES,
	C_PY_FREE_BYTES,
	C_LIBC_ALLOCS,
	C_LIBC_FREES,
	C_LIBC_ALLOC_BYTES,
	C_LIBC_FREE_BYTES,
	C_DEALLOCS,
	C_GC_STARTS,
	C_LOST,
	C_PY_NET,
	C_LIBC_NET,
	C_FP_NET, /* footprint: anonymous mappings + brk heap */
	C_RSS,	  /* the latest RSS samples of the lane's processes */
	C_NFIELDS,
};

struct cum {
	uint64_t f[C_NFIELDS];
};

/*
 * Slots for consecutive indexes x >= first at (x - first) % phys. The array
 * grows (doubling, up to maxp) while no index has wrapped yet, so positions
 * stay valid across growth; once at maxp it wraps.
 */
struct ring {
	char *v;
	size_t esz;
	uint64_t first;
	uint64_t phys;
	uint64_t maxp;
};

/* Deallocations of one second by type: type id + 1 -> count. */
struct type_slot {
	uint64_t sec_plus1; /* 0: never used */
	struct u64map counts;
};

struct lane {
	const struct lg_lane *info; /* the ledger's */
	struct ring bk;		    /* struct cum */
	uint64_t last_b;
	struct cum *cur;    /* bucket last_b */
	struct tl_gc *gcs;  /* TL_GC_KEPT, allocated on the first collection */
	uint64_t gc_pushed; /* one past the newest collection's seq */
	struct ring types;  /* struct type_slot by second */
	bool have_types;
};

struct timeline {
	struct ledger *lg;
	bool own_lg;
	uint64_t bucket_ns;
	uint64_t history_ns; /* UINT64_MAX: unlimited */
	uint64_t hist_b;     /* buckets in history, UINT64_MAX: unlimited */
	uint64_t hist_s;

	bool have_ts;
	uint64_t start_ns, now_ns;
	struct bucket_cache cb; /* the bucket of the latest timestamp converted */

	struct lane **lanes; /* by the ledger's lane index */
	size_t nlanes, lanes_cap;
};

/* ---- rings ---- */

static void ring_init(struct ring *r, size_t esz, uint64_t first, uint64_t maxp)
{
	memset(r, 0, sizeof(*r));
	r->esz = esz;
	r->first = first;
	r->maxp = maxp;
}

static inline void *ring_at(const struct ring *r, uint64_t x)
{
	return r->v + ((x - r->first) % r->phys) * r->esz;
}

/* Room for index x >= first; new slots are zeroed. */
static int ring_reserve(struct ring *r, uint64_t x)
{
	uint64_t need = x - r->first + 1, cap;
	char *v;

	if (need <= r->phys || r->phys >= r->maxp)
		return 0;
	cap = r->phys ? r->phys * 2 : 64;
	if (cap < need)
		cap = need;
	if (cap > r->maxp)
		cap = r->maxp;
	if (cap > SIZE_MAX / r->esz)
		return -ENOMEM;
	v = realloc(r->v, cap * r->esz);
	if (!v)
		return -ENOMEM;
	memset(v + r->phys * r->esz, 0, (cap - r->phys) * r->esz);
	r->v = v;
	r->phys = cap;
	return 0;
}

/* Whether index x still has its own slot (it has not been overwritten). */
static inline bool ring_holds(const struct ring *r, uint64_t x, uint64_t last)
{
	return x >= r->first && x <= last && last - x < r->phys;
}

/* ---- time ---- */

static inline uint64_t bucket_of(struct timeline *tl, uint64_t ts)
{
	return bucket_cache__of(&tl->cb, tl->bucket_ns, ts);
}

static void note_ts(struct timeline *tl, uint64_t ts)
{
	if (!ts)
		return;
	if (!tl->have_ts) {
		tl->have_ts = true;
		tl->start_ns = ts;
	}
	if (ts > tl->now_ns)
		tl->now_ns = ts;
}

/* ---- lanes ---- */

static struct lane *lane_get(struct timeline *tl, const struct lg_lane *info)
{
	uint64_t b;
	struct lane *l;

	if (info->index < tl->nlanes)
		return tl->lanes[info->index];
	/* the ledger makes lanes one at a time, in index order */
	if (tl->nlanes == tl->lanes_cap) {
		struct lane **v = PM_GROW(tl->lanes, &tl->lanes_cap, tl->nlanes + 1, 16);

		if (!v)
			return NULL;
		tl->lanes = v;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	note_ts(tl, info->first_ns);
	b = bucket_of(tl, info->first_ns ? info->first_ns : tl->now_ns);
	/* One bucket more than the history: the totals before its oldest bucket. */
	ring_init(&l->bk, sizeof(struct cum), b,
		  tl->hist_b == UINT64_MAX ? UINT64_MAX : tl->hist_b + 1);
	if (ring_reserve(&l->bk, b)) {
		free(l);
		return NULL;
	}
	l->info = info;
	l->last_b = b;
	l->cur = ring_at(&l->bk, b);
	tl->lanes[tl->nlanes++] = l;
	return l;
}

static void lane_free(struct lane *l)
{
	if (l->have_types) {
		for (uint64_t i = 0; i < l->types.phys; i++)
			u64map__free(&((struct type_slot *)l->types.v)[i].counts);
	}
	free(l->types.v);
	free(l->bk.v);
	free(l->gcs);
	free(l);
}

/* The running totals of bucket b (b > last_b: a new bucket). */
static struct cum *lane_touch(struct lane *l, uint64_t b)
{
	struct cum prev;
	uint64_t x, pos;

	if (b == l->last_b)
		return l->cur;
	if (ring_reserve(&l->bk, b))
		return NULL;
	prev = *(struct cum *)ring_at(&l->bk, l->last_b);
	x = b - l->last_b >= l->bk.phys ? b - l->bk.phys + 1 : l->last_b + 1;
	pos = (x - l->bk.first) % l->bk.phys;
	for (; x <= b; x++) {
		((struct cum *)l->bk.v)[pos] = prev;
		if (++pos == l->bk.phys)
			pos = 0;
	}
	l->last_b = b;
	l->cur = ring_at(&l->bk, b);
	return l->cur;
}

static inline void cum_add(struct cum *c, const struct cum *d)
{
	for (int i = 0; i < C_NFIELDS; i++)
		c->f[i] += d->f[i];
}

/* Add d to the lane in bucket b. An event older than the lane's newest
 * bucket changes the totals of every bucket since, unless it is too old,
 * then it counts in the newest. */
static int lane_apply(struct timeline *tl, struct lane *l, uint64_t ts, const struct cum *d)
{
	uint64_t b = bucket_of(tl, ts);
	struct cum *c;

	if (b < l->last_b) {
		if (!ring_holds(&l->bk, b, l->last_b) || l->last_b - b > TL_REORDER_MAX)
			b = l->last_b;
		for (; b < l->last_b; b++)
			cum_add(ring_at(&l->bk, b), d);
	}
	c = lane_touch(l, b);
	if (!c)
		return -ENOMEM;
	cum_add(c, d);
	return 0;
}

/* ---- the ledger's callbacks ---- */

static int on_lane(void *ctx, const struct lg_lane *info)
{
	return lane_get(ctx, info) ? 0 : -ENOMEM;
}

static int on_event(void *ctx, const struct lg_lane *info, const struct lg_proc *p,
		    const struct pm_event *ev)
{
	(void)info;
	(void)p;
	note_ts(ctx, ev->ts_ns);
	return 0;
}

static int on_delta(void *ctx, const struct lg_lane *info, const struct lg_delta *d)
{
	struct timeline *tl = ctx;
	struct lane *l = lane_get(tl, info);
	struct cum c = {{0}};

	if (!l)
		return -ENOMEM;
	c.f[C_PY_ALLOCS] = d->py_allocs;
	c.f[C_PY_FREES] = d->py_frees;
	c.f[C_LIBC_ALLOCS] = d->libc_allocs;
	c.f[C_LIBC_FREES] = d->libc_frees;
	c.f[C_DEALLOCS] = d->deallocs;
	c.f[C_PY_ALLOC_BYTES] = d->py_alloc_bytes;
	c.f[C_PY_FREE_BYTES] = d->py_free_bytes;
	c.f[C_LIBC_ALLOC_BYTES] = d->libc_alloc_bytes;
	c.f[C_LIBC_FREE_BYTES] = d->libc_free_bytes;
	c.f[C_GC_STARTS] = d->gc_starts;
	c.f[C_LOST] = d->lv.lost;
	c.f[C_PY_NET] = (uint64_t)d->lv.py_net;
	c.f[C_LIBC_NET] = (uint64_t)d->lv.libc_net;
	c.f[C_FP_NET] = (uint64_t)lg_levels__footprint(&d->lv);
	c.f[C_RSS] = (uint64_t)d->lv.rss;
	return lane_apply(tl, l, d->ts_ns, &c);
}

static int on_gc(void *ctx, const struct lg_lane *info, const struct lg_gc *g)
{
	struct lane *l = lane_get(ctx, info);
	struct tl_gc *m;

	if (!l)
		return -ENOMEM;
	if (!l->gcs) {
		l->gcs = calloc(TL_GC_KEPT, sizeof(*l->gcs));
		if (!l->gcs)
			return -ENOMEM;
	}
	m = &l->gcs[g->seq % TL_GC_KEPT];
	if (g->seq >= l->gc_pushed) {
		/* a new one: it began, or it ended without a start seen */
		l->gc_pushed = g->seq + 1;
		memset(m, 0, sizeof(*m));
	} else if (l->gc_pushed - g->seq > TL_GC_KEPT) {
		return 0; /* its marker is no longer kept */
	}
	m->start_ns = g->start_ns;
	m->end_ns = g->end_ns;
	m->generation = g->generation;
	m->collected = g->state == LG_GC_DONE ? g->collected : -1;
	m->pid = g->pid;
	m->traced_inside = g->traced_inside;
	return 0;
}

/* Deallocations of a lane are counted per second, by type. */
static int on_dealloc(void *ctx, const struct lg_lane *info, const struct lg_proc *p, uint64_t ts,
		      uint32_t id)
{
	struct timeline *tl = ctx;
	struct lane *l = lane_get(tl, info);
	uint64_t sec = ts / NS_PER_SEC;
	struct type_slot *s;
	struct u64map_ent *e;

	(void)p;
	if (!l)
		return -ENOMEM;
	if (!l->have_types) {
		ring_init(&l->types, sizeof(struct type_slot), sec,
			  tl->hist_s == UINT64_MAX ? UINT64_MAX : tl->hist_s + 1);
		l->have_types = true;
	}
	if (sec < l->types.first)
		return 0; /* older than the lane's first: nowhere to count it */
	if (ring_reserve(&l->types, sec))
		return -ENOMEM;
	s = ring_at(&l->types, sec);
	if (s->sec_plus1 != sec + 1) {
		if (s->sec_plus1 > sec + 1)
			return 0; /* out of order beyond the kept seconds */
		s->sec_plus1 = sec + 1;
		u64map__reset(&s->counts);
	}
	e = u64map__get(&s->counts, (uint64_t)id + 1);
	if (!e)
		return -ENOMEM;
	e->val++;
	return 0;
}

static int on_record(void *ctx, const struct pm_record *rec)
{
	note_ts(ctx, pm_record_ts(rec));
	return 0;
}

static const struct lg_ops timeline_ops = {
    .lane = on_lane,
    .event = on_event,
    .delta = on_delta,
    .gc = on_gc,
    .dealloc = on_dealloc,
    .record = on_record,
};

/* ---- the model ---- */

struct timeline *timeline__new_on(struct ledger *lg, uint64_t bucket_ns, uint64_t history_ns)
{
	struct timeline *tl = calloc(1, sizeof(*tl));

	if (!tl)
		return NULL;
	tl->lg = lg;
	tl->bucket_ns = bucket_ns ? bucket_ns : TL_BUCKET_NS;
	tl->history_ns = history_ns ? history_ns : TL_HISTORY_NS;
	if (tl->history_ns == UINT64_MAX) {
		tl->hist_b = tl->hist_s = UINT64_MAX;
	} else {
		tl->hist_b = (tl->history_ns + tl->bucket_ns - 1) / tl->bucket_ns;
		tl->hist_s = (tl->history_ns + NS_PER_SEC - 1) / NS_PER_SEC + 1;
	}
	if (ledger__subscribe(lg, &timeline_ops, tl)) {
		free(tl);
		errno = ENOSPC;
		return NULL;
	}
	return tl;
}

struct timeline *timeline__new(uint64_t bucket_ns, uint64_t history_ns)
{
	struct ledger *lg = ledger__new();
	struct timeline *tl;

	if (!lg)
		return NULL;
	tl = timeline__new_on(lg, bucket_ns, history_ns);
	if (!tl) {
		ledger__free(lg);
		return NULL;
	}
	tl->own_lg = true;
	return tl;
}

void timeline__free(struct timeline *tl)
{
	if (!tl)
		return;
	for (size_t i = 0; i < tl->nlanes; i++)
		lane_free(tl->lanes[i]);
	free(tl->lanes);
	if (tl->own_lg)
		ledger__free(tl->lg);
	free(tl);
}

struct pm_sink *timeline__sink(struct timeline *tl)
{
	return ledger__sink(tl->lg);
}

struct ledger *timeline__ledger(const struct timeline *tl)
{
	return tl->lg;
}

void timeline__advance(struct timeline *tl, uint64_t now_ns)
{
	note_ts(tl, now_ns);
}

void timeline__set_start(struct timeline *tl, uint64_t start_ns)
{
	if (!start_ns)
		return;
	tl->have_ts = true;
	tl->start_ns = start_ns;
	if (tl->now_ns < start_ns)
		tl->now_ns = start_ns;
}

uint64_t timeline__start_ns(const struct timeline *tl)
{
	return tl->start_ns;
}

uint64_t timeline__now_ns(const struct timeline *tl)
{
	return tl->now_ns;
}

uint64_t timeline__bucket_ns(const struct timeline *tl)
{
	return tl->bucket_ns;
}

size_t timeline__lane_count(const struct timeline *tl)
{
	return tl->nlanes;
}

const struct lg_lane *timeline__lane(const struct timeline *tl, size_t lane)
{
	return lane < tl->nlanes ? tl->lanes[lane]->info : NULL;
}

uint64_t timeline__lost_total(const struct timeline *tl)
{
	return ledger__lost_total(tl->lg);
}

/* The oldest bucket of a lane that is still in the history. */
static uint64_t lane_oldest(const struct timeline *tl, const struct lane *l)
{
	uint64_t now_b = tl->now_ns / tl->bucket_ns;

	if (tl->hist_b != UINT64_MAX && now_b >= tl->hist_b && now_b - tl->hist_b + 1 > l->bk.first)
		return now_b - tl->hist_b + 1;
	return l->bk.first;
}

static const struct cum cum_zero;

/* Running totals at the end of bucket x, for x >= lane_oldest() - 1. */
static const struct cum *cum_at(const struct lane *l, uint64_t x)
{
	if (x < l->bk.first)
		return &cum_zero;
	if (x >= l->last_b)
		return l->cur;
	return ring_at(&l->bk, x);
}

/* The first bucket that starts at or after t. */
static uint64_t bucket_ceil(const struct timeline *tl, uint64_t t)
{
	uint64_t b = t / tl->bucket_ns;

	return b * tl->bucket_ns == t ? b : b + 1;
}

int timeline__series(const struct timeline *tl, size_t lane, uint64_t from_ns, uint64_t to_ns,
		     struct tl_bucket *out, size_t n)
{
	const struct lane *l;
	uint64_t lo, hi, span;

	if (lane >= tl->nlanes || (n && !out) || n > INT32_MAX)
		return -EINVAL;
	if (!n)
		return 0;
	memset(out, 0, n * sizeof(*out));
	if (to_ns <= from_ns)
		return (int)n;
	l = tl->lanes[lane];
	lo = lane_oldest(tl, l);
	hi = tl->now_ns / tl->bucket_ns + 1; /* one past the newest */
	span = to_ns - from_ns;
	for (size_t i = 0; i < n; i++) {
		/* A bucket belongs to the slice its start falls in. */
		uint64_t t0 = from_ns + (uint64_t)((unsigned __int128)span * i / n);
		uint64_t t1 = from_ns + (uint64_t)((unsigned __int128)span * (i + 1) / n);
		uint64_t b0 = bucket_ceil(tl, t0), b1 = bucket_ceil(tl, t1);
		const struct cum *a, *z;
		struct tl_bucket *o = &out[i];

		if (b0 < lo)
			b0 = lo;
		if (b0 >= hi && hi > lo) {
			/* Past the model's newest time nothing is known to have
			 * happened: the levels stay where they are, whether or
			 * not the clock was advanced (live advances it, a replay
			 * only has its records), so both show the same. */
			z = cum_at(l, hi - 1);
			o->py_net = (int64_t)z->f[C_PY_NET];
			o->libc_net = (int64_t)z->f[C_LIBC_NET];
			o->fp_net = (int64_t)z->f[C_FP_NET];
			o->rss = (int64_t)z->f[C_RSS];
			continue;
		}
		if (b1 > hi)
			b1 = hi;
		if (b0 >= b1)
			continue;
		a = b0 ? cum_at(l, b0 - 1) : &cum_zero;
		z = cum_at(l, b1 - 1);
		o->py_allocs = z->f[C_PY_ALLOCS] - a->f[C_PY_ALLOCS];
		o->py_frees = z->f[C_PY_FREES] - a->f[C_PY_FREES];
		o->py_alloc_bytes = z->f[C_PY_ALLOC_BYTES] - a->f[C_PY_ALLOC_BYTES];
		o->py_free_bytes = z->f[C_PY_FREE_BYTES] - a->f[C_PY_FREE_BYTES];
		o->libc_allocs = z->f[C_LIBC_ALLOCS] - a->f[C_LIBC_ALLOCS];
		o->libc_frees = z->f[C_LIBC_FREES] - a->f[C_LIBC_FREES];
		o->libc_alloc_bytes = z->f[C_LIBC_ALLOC_BYTES] - a->f[C_LIBC_ALLOC_BYTES];
		o->libc_free_bytes = z->f[C_LIBC_FREE_BYTES] - a->f[C_LIBC_FREE_BYTES];
		o->deallocs = z->f[C_DEALLOCS] - a->f[C_DEALLOCS];
		o->gc_starts = (uint32_t)(z->f[C_GC_STARTS] - a->f[C_GC_STARTS]);
		o->lost = (uint32_t)(z->f[C_LOST] - a->f[C_LOST]);
		o->py_net = (int64_t)z->f[C_PY_NET];
		o->libc_net = (int64_t)z->f[C_LIBC_NET];
		o->fp_net = (int64_t)z->f[C_FP_NET];
		o->rss = (int64_t)z->f[C_RSS];
	}
	return (int)n;
}

size_t timeline__gcs(const struct timeline *tl, size_t lane, uint64_t from_ns, uint64_t to_ns,
		     struct tl_gc *out, size_t max)
{
	const struct lane *l;
	uint64_t seq, oldest_end = 0;
	size_t n = 0;

	if (lane >= tl->nlanes || !max || to_ns <= from_ns)
		return 0;
	l = tl->lanes[lane];
	if (!l->gcs)
		return 0;
	if (tl->history_ns != UINT64_MAX && tl->now_ns > tl->history_ns)
		oldest_end = tl->now_ns - tl->history_ns;
	seq = l->gc_pushed > TL_GC_KEPT ? l->gc_pushed - TL_GC_KEPT : 0;
	for (; seq < l->gc_pushed; seq++) {
		const struct tl_gc *g = &l->gcs[seq % TL_GC_KEPT];
		uint64_t end = g->end_ns ? g->end_ns : UINT64_MAX;
		size_t j;

		/* A collection of no duration overlaps the window it lies in. */
		if (g->start_ns >= to_ns || (end <= from_ns && g->start_ns < from_ns))
			continue;
		if (end < oldest_end)
			continue;
		if (n == max) {
			/* Keep the oldest: the newest of those kept makes room
			 * only for an older one. */
			if (g->start_ns >= out[n - 1].start_ns)
				continue;
			n--;
		}
		/* Markers without a seen start go in by their start. */
		for (j = n; j > 0 && out[j - 1].start_ns > g->start_ns; j--)
			out[j] = out[j - 1];
		out[j] = *g;
		n++;
	}
	return n;
}

size_t timeline__top_types(const struct timeline *tl, size_t lane, uint64_t from_ns, uint64_t to_ns,
			   struct tl_type_count *out, size_t max)
{
	const struct lane *l;
	uint64_t s0, s1, *counts;
	uint32_t *ids;
	size_t nids = 0, n = 0;

	if (lane >= tl->nlanes || !max || to_ns <= from_ns)
		return 0;
	l = tl->lanes[lane];
	if (!l->have_types || !ledger__type_count(tl->lg))
		return 0;
	s0 = from_ns / NS_PER_SEC;
	s1 = (to_ns - 1) / NS_PER_SEC;
	if (tl->history_ns != UINT64_MAX && tl->now_ns > tl->history_ns &&
	    s0 < (tl->now_ns - tl->history_ns) / NS_PER_SEC)
		s0 = (tl->now_ns - tl->history_ns) / NS_PER_SEC;
	counts = calloc(ledger__type_count(tl->lg), sizeof(*counts));
	ids = malloc(ledger__type_count(tl->lg) * sizeof(*ids));
	if (!counts || !ids) {
		free(counts);
		free(ids);
		return 0;
	}
	for (uint64_t i = 0; i < l->types.phys; i++) {
		const struct type_slot *s = &((const struct type_slot *)l->types.v)[i];

		if (!s->sec_plus1 || s->sec_plus1 - 1 < s0 || s->sec_plus1 - 1 > s1)
			continue;
		for (uint32_t j = 0; j < s->counts.cap; j++) {
			uint64_t id = s->counts.e[j].key;

			if (!id)
				continue;
			if (!counts[id - 1])
				ids[nids++] = (uint32_t)(id - 1);
			counts[id - 1] += s->counts.e[j].val;
		}
	}
	/* max is a screenful: insertion into the kept few is enough. */
	for (size_t i = 0; i < nids; i++) {
		struct tl_type_count c = {ledger__type_name(tl->lg, ids[i]), counts[ids[i]]};
		size_t j;

		if (n == max &&
		    (out[n - 1].count > c.count ||
		     (out[n - 1].count == c.count && strcmp(out[n - 1].name, c.name) < 0)))
			continue;
		if (n < max)
			n++;
		for (j = n - 1;
		     j > 0 && (out[j - 1].count < c.count || (out[j - 1].count == c.count &&
							      strcmp(out[j - 1].name, c.name) > 0));
		     j--)
			out[j] = out[j - 1];
		out[j] = c;
	}
	free(counts);
	free(ids);
	return n;
}

size_t timeline__memory(const struct timeline *tl)
{
	size_t sum = sizeof(*tl) + ledger__memory(tl->lg);

	for (size_t i = 0; i < tl->nlanes; i++) {
		const struct lane *l = tl->lanes[i];

		sum += sizeof(*l) + l->bk.phys * l->bk.esz;
		if (l->gcs)
			sum += TL_GC_KEPT * sizeof(*l->gcs);
		if (l->have_types) {
			sum += l->types.phys * l->types.esz;
			for (uint64_t j = 0; j < l->types.phys; j++)
				sum += u64map__memory(
				    &((const struct type_slot *)l->types.v)[j].counts);
		}
	}
	return sum;
}
