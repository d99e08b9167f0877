// SPDX-License-Identifier: MIT
/*
 * The timeline model. Each lane keeps its buckets as running totals (every
 * counter summed from the lane's start), so the sum over any run of buckets
 * is the difference of two of them: a series of n slices costs 2n lookups
 * whatever the window, which is what lets the live view redraw every lane
 * ten times a second. A bucket without events is a copy of the one before;
 * the copies are only written when the lane next has an event, and reads
 * past a lane's last written bucket see its last totals.
 *
 * Frees are sized by their allocation through per-process address tables
 * (open addressing, backward-shift deletion). Deallocated types are counted
 * per second in small per-second tables of interned type ids.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/intern.h"
#include "model/addrtab.h"
#include "model/pidindex.h"
#include "model/pyblock.h"
#include "model/timeline.h"
#include "model/footprint.h"

#define NS_PER_SEC     1000000000ull
#define TL_LIVE_MAX    (1u << 20) /* live allocations tracked per lane */
#define TL_REORDER_MAX 64	  /* buckets an out-of-order event may reach back */
#define TL_SOURCES_MAX 32	  /* distinct source names ("pymalloc", ...) */
/* an ended process is forgotten this long after its exit (stream time): its
 * last lost count and any straggling event of its threads have arrived */
#define PROC_FORGET_NS (10 * NS_PER_SEC)

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

struct type_ent {
	uint32_t id_plus1; /* 0: empty */
	uint32_t count;
};

/* Deallocations of one second by type. */
struct type_slot {
	uint64_t sec_plus1; /* 0: never used */
	struct type_ent *e;
	uint32_t cap, len;
};

struct proc;

struct lane {
	struct tl_lane_info info;
	struct ring bk; /* struct cum */
	uint64_t last_b;
	struct cum *cur;   /* bucket last_b */
	struct tl_gc *gcs; /* TL_GC_KEPT, allocated on the first collection */
	uint64_t gc_pushed;
	struct ring types; /* struct type_slot by second */
	bool have_types;
	uint64_t nlive;	       /* entries in its processes' address tables */
	struct proc *owner;    /* the process of a host lane */
	uint32_t partial_gone; /* partial_mask of its processes forgotten since */
	size_t index;
};

struct proc {
	uint32_t pid;
	uint64_t cgroup_id;
	bool have_proc_rec; /* its cgroup comes from a PROCESS record */
	bool exited;
	bool is_python;
	uint64_t exited_ns;
	struct lane *lane;
	char comm[PM_COMM_LEN + 1];
	char python_version[16];
	char path[TL_LANE_NAME_MAX]; /* interpreter, else executable */
	struct addr_tab py, libc;
	int64_t py_net, libc_net; /* its share of its lane's nets */
	/* LTO builds: blocks allocated without an address (pyblock.h) */
	struct pm_held held;
	struct footprint fp;
	int64_t fp_net, rss; /* its share of its lane's footprint and RSS */
	uint64_t lost[PM_KIND_MAX];
	uint64_t lost_pending; /* lost before it had a lane */
	uint32_t partial_mask; /* bits of timeline.src_names */
	uint64_t gc_open;      /* seq + 1 of its running collection in lane->gcs */
	struct lane *gc_open_lane;
};

struct cont {
	uint64_t cgroup_id;
	struct lane *lane;
};

struct timeline {
	struct pm_sink sink;
	uint64_t bucket_ns;
	uint64_t history_ns; /* UINT64_MAX: unlimited */
	uint64_t hist_b;     /* buckets in history, UINT64_MAX: unlimited */
	uint64_t hist_s;

	bool have_ts;
	uint64_t start_ns, now_ns;
	uint64_t stream_ns; /* the latest record's time (now_ns also follows the clock) */
	/* the bucket of the latest timestamp converted, to skip a division */
	uint64_t cb_start, cb_end, cb_idx;

	struct lane **lanes;
	size_t nlanes, lanes_cap;

	struct cont *conts;
	size_t nconts, conts_cap;

	struct proc **procs;
	size_t nprocs, procs_cap;
	struct pid_index pids;

	struct str_intern types_in; /* deallocated type names */

	char *src_names[TL_SOURCES_MAX];
	unsigned nsrc;

	uint64_t lost_total;
	uint64_t lost_unattributed[PM_KIND_MAX];
	bool sampled; /* the trace says its allocation probes were armed in windows */
};

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static void copy_str(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", str_or_empty(s));
}

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
	if (ts >= tl->cb_start && ts < tl->cb_end)
		return tl->cb_idx;
	tl->cb_idx = ts / tl->bucket_ns;
	tl->cb_start = tl->cb_idx * tl->bucket_ns;
	tl->cb_end = tl->cb_start + tl->bucket_ns;
	return tl->cb_idx;
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
	if (ts > tl->stream_ns)
		tl->stream_ns = ts;
}

/* ---- lanes ---- */

static struct lane *lane_new(struct timeline *tl, uint64_t ts)
{
	uint64_t b = bucket_of(tl, ts ? ts : tl->now_ns);
	struct lane *l;

	if (tl->nlanes == tl->lanes_cap) {
		size_t cap = tl->lanes_cap ? tl->lanes_cap * 2 : 16;
		struct lane **v = realloc(tl->lanes, cap * sizeof(*v));

		if (!v)
			return NULL;
		tl->lanes = v;
		tl->lanes_cap = cap;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	/* One bucket more than the history: the totals before its oldest bucket. */
	ring_init(&l->bk, sizeof(struct cum), b,
		  tl->hist_b == UINT64_MAX ? UINT64_MAX : tl->hist_b + 1);
	if (ring_reserve(&l->bk, b)) {
		free(l);
		return NULL;
	}
	l->last_b = b;
	l->cur = ring_at(&l->bk, b);
	l->info.first_ns = ts ? ts : tl->now_ns;
	l->info.sampled = tl->sampled;
	l->index = tl->nlanes;
	tl->lanes[tl->nlanes++] = l;
	return l;
}

static void lane_free(struct lane *l)
{
	if (l->have_types) {
		for (uint64_t i = 0; i < l->types.phys; i++)
			free(((struct type_slot *)l->types.v)[i].e);
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
	l->info.py_net = (int64_t)c->f[C_PY_NET];
	l->info.libc_net = (int64_t)c->f[C_LIBC_NET];
	l->info.fp_net = (int64_t)c->f[C_FP_NET];
	l->info.rss = (int64_t)c->f[C_RSS];
	return 0;
}

static int lane_apply1(struct timeline *tl, struct lane *l, uint64_t ts, enum cum_field f,
		       uint64_t v)
{
	struct cum d = {{0}};

	d.f[f] = v;
	return lane_apply(tl, l, ts, &d);
}

static void lane_set_partial(struct timeline *tl, struct lane *l)
{
	uint32_t mask = l->partial_gone;
	size_t off = 0;

	for (size_t i = 0; i < tl->nprocs; i++)
		if (tl->procs[i]->lane == l)
			mask |= tl->procs[i]->partial_mask;
	l->info.partial = mask != 0;
	l->info.partial_what[0] = 0;
	for (unsigned i = 0; i < tl->nsrc && off < sizeof(l->info.partial_what); i++) {
		int n;

		if (!(mask & (1u << i)))
			continue;
		n = snprintf(l->info.partial_what + off, sizeof(l->info.partial_what) - off, "%s%s",
			     off ? ", " : "", tl->src_names[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static void host_lane_names(struct lane *l, const struct proc *p)
{
	if (p->comm[0])
		snprintf(l->info.name, sizeof(l->info.name), "pid %u %s", p->pid, p->comm);
	else
		snprintf(l->info.name, sizeof(l->info.name), "pid %u", p->pid);
	copy_str(l->info.detail, sizeof(l->info.detail), p->path);
}

/* What a process tells its lane about itself (again after a PROCESS
 * record or an exec). */
static void lane_note_proc(struct lane *l, const struct proc *p)
{
	if (l->owner == p)
		host_lane_names(l, p);
	else if (!l->info.detail[0])
		copy_str(l->info.detail, sizeof(l->info.detail), p->path);
	if (p->is_python && !l->info.interpreter[0]) {
		if (p->python_version[0])
			snprintf(l->info.interpreter, sizeof(l->info.interpreter), "python %s",
				 p->python_version);
		else
			copy_str(l->info.interpreter, sizeof(l->info.interpreter), "python");
	}
}

static int lane_join(struct timeline *tl, struct lane *l, struct proc *p, uint64_t ts)
{
	int err = 0;

	p->lane = l;
	if (l->info.npids < sizeof(l->info.pids) / sizeof(l->info.pids[0]))
		l->info.pids[l->info.npids] = p->pid;
	l->info.npids++;
	lane_note_proc(l, p);
	if (p->partial_mask)
		lane_set_partial(tl, l);
	if (p->lost_pending) {
		l->info.lost += p->lost_pending;
		err = lane_apply1(tl, l, ts, C_LOST, p->lost_pending);
		p->lost_pending = 0;
	}
	return err;
}

static struct cont *cont_find(struct timeline *tl, uint64_t cgroup_id)
{
	for (size_t i = 0; i < tl->nconts; i++)
		if (tl->conts[i].cgroup_id == cgroup_id)
			return &tl->conts[i];
	return NULL;
}

/* Move a process and what it holds to another lane. */
static int proc_move(struct timeline *tl, struct proc *p, struct lane *to, uint64_t ts)
{
	struct lane *from = p->lane;
	struct cum d = {{0}};
	uint64_t live = p->py.len + p->libc.len;
	int err;

	d.f[C_PY_NET] = (uint64_t)-p->py_net;
	d.f[C_LIBC_NET] = (uint64_t)-p->libc_net;
	d.f[C_FP_NET] = (uint64_t)-p->fp_net;
	d.f[C_RSS] = (uint64_t)-p->rss;
	err = lane_apply(tl, from, ts, &d);
	from->nlive -= live;
	if (from->owner == p) {
		from->info.ended = true; /* it holds nothing any more */
		from->info.ended_ns = ts;
	}
	d.f[C_PY_NET] = (uint64_t)p->py_net;
	d.f[C_LIBC_NET] = (uint64_t)p->libc_net;
	d.f[C_FP_NET] = (uint64_t)p->fp_net;
	d.f[C_RSS] = (uint64_t)p->rss;
	if (!err)
		err = lane_apply(tl, to, ts, &d);
	to->nlive += live;
	if (!err)
		err = lane_join(tl, to, p, ts);
	if (from->info.partial)
		lane_set_partial(tl, from);
	return err;
}

/* The lane of a process, found or made on first need. */
static struct lane *proc_lane(struct timeline *tl, struct proc *p, uint64_t ts)
{
	struct cont *c;
	struct lane *l;

	if (p->lane)
		return p->lane;
	c = cont_find(tl, p->cgroup_id);
	if (c) {
		l = c->lane;
	} else {
		l = lane_new(tl, ts);
		if (!l)
			return NULL;
		l->owner = p;
	}
	if (lane_join(tl, l, p, ts))
		return NULL;
	return l;
}

/* ---- processes ---- */

static bool proc_lost_any(const struct proc *p)
{
	for (int k = 0; k < PM_KIND_MAX; k++)
		if (p->lost[k])
			return true;
	return p->lost_pending != 0;
}

/*
 * Forget processes of a container that ended a while ago. A live session
 * follows containers for days, and their processes come and go without end
 * (each run of a script, each shell command): kept, each would cost memory
 * for good. Their lane keeps what they added (its counters, buckets and
 * pids, and the sources they saw only part of). Kept are processes that
 * own a lane (host processes) and those that lost events (the lost counters
 * are cumulative per pid: a late count must find the earlier one). Only the
 * records decide (their time, the order of new pids), never the clock, so
 * a replay forgets exactly what the live session forgot.
 */
static void procs_forget_ended(struct timeline *tl)
{
	size_t i, n = 0;

	if (!tl->nprocs)
		return;
	for (i = 0; i < tl->nprocs; i++) {
		struct proc *p = tl->procs[i];

		if (p->exited && p->lane && p->lane->owner != p && !proc_lost_any(p) &&
		    !p->py.len && !p->libc.len && tl->stream_ns > p->exited_ns + PROC_FORGET_NS) {
			p->lane->partial_gone |= p->partial_mask;
			addr_tab__clear(&p->py);
			addr_tab__clear(&p->libc);
			footprint__free(&p->fp);
			free(p);
			continue;
		}
		tl->procs[n++] = p;
	}
	if (n == tl->nprocs)
		return;
	tl->nprocs = n;
	/* adding back into room already there cannot fail */
	pid_index__reset(&tl->pids);
	for (i = 0; i < n; i++)
		pid_index__add(&tl->pids, tl->procs[i]);
}

static struct proc *proc_get(struct timeline *tl, uint32_t pid)
{
	struct proc *p = pid_index__find(&tl->pids, pid);

	if (p)
		return p;
	if ((tl->nprocs + 1) * 2 > tl->pids.cap) {
		/* grow unless forgetting brought the load down to a quarter,
		 * so that the next look is at least a quarter of the room away */
		procs_forget_ended(tl);
		if (pid_index__reserve(&tl->pids, tl->nprocs + 1))
			return NULL;
	}
	return pid_index__make(&tl->pids, pid, sizeof(*p), (void ***)&tl->procs, &tl->nprocs,
			       &tl->procs_cap);
}

/*
 * A block goes away: its size into the free bytes of d. One with no address
 * seen allocated releases a block of h held without one (pyblock.h: the
 * free's block is its pool header's size), or else is an unmatched free.
 */
static void block_free(struct lane *l, struct addr_tab *t, struct pm_held *h, uint64_t addr,
		       uint32_t block, struct cum *d, enum cum_field bytes, enum cum_field net)
{
	struct addr_ent *e = addr_tab__find(t, addr);

	if (!e) {
		uint32_t b = h ? pm_held__free(h, block) : 0;

		if (!b) {
			l->info.unmatched_frees++;
			return;
		}
		d->f[bytes] += b;
		d->f[net] -= b;
		return;
	}
	d->f[bytes] += e->size;
	d->f[net] -= e->size;
	addr_tab__del(t, e);
	l->nlive--;
}

static int block_alloc(struct lane *l, struct addr_tab *t, uint64_t addr, uint64_t size,
		       struct cum *d, enum cum_field bytes, enum cum_field net)
{
	struct addr_ent *e = addr_tab__find(t, addr);

	d->f[bytes] += size;
	d->f[net] += size;
	if (e) {
		/* Its free was lost: the old block is gone all the same. */
		d->f[net] -= e->size;
		e->size = size;
		return 0;
	}
	/* Beyond the bound the block is not remembered; its free will
	 * count as unmatched. */
	if (l->nlive >= TL_LIVE_MAX)
		return 0;
	if (addr_tab__put(t, addr, size))
		return -ENOMEM;
	l->nlive++;
	return 0;
}

/*
 * A py_realloc at an inlined copy (LTO): the new block has no address. The
 * old one leaves as a free would; the new one is held at the size pymalloc
 * gives it from the old block (pyblock.h).
 */
static void py_realloc_unaddressed(struct lane *l, struct proc *p, const struct pm_event *ev,
				   struct cum *d)
{
	if (ev->alloc.old_addr)
		block_free(l, &p->py, &p->held, ev->alloc.old_addr, ev->alloc.old_block, d,
			   C_PY_FREE_BYTES, C_PY_NET);
	d->f[C_PY_ALLOC_BYTES] += ev->alloc.size;
	d->f[C_PY_NET] += (uint64_t)pm_held__alloc(
	    &p->held,
	    pm_pymalloc_realloc_block(ev->alloc.old_addr, ev->alloc.old_block, ev->alloc.size));
}

/* ---- type names ---- */

static int slot_grow(struct type_slot *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : 32, mask = cap - 1;
	struct type_ent *e = calloc(cap, sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->cap; i++) {
		uint32_t j;

		if (!s->e[i].id_plus1)
			continue;
		for (j = pm_hash_u32(s->e[i].id_plus1) & mask; e[j].id_plus1; j = (j + 1) & mask)
			;
		e[j] = s->e[i];
	}
	free(s->e);
	s->e = e;
	s->cap = cap;
	return 0;
}

static int lane_count_type(struct timeline *tl, struct lane *l, uint64_t ts, uint32_t id)
{
	uint64_t sec = ts / NS_PER_SEC;
	uint32_t key = id + 1, mask, j;
	struct type_slot *s;

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
		s->len = 0;
		if (s->e)
			memset(s->e, 0, s->cap * sizeof(*s->e));
	}
	if (s->cap) {
		mask = s->cap - 1;
		for (j = pm_hash_u32(key) & mask; s->e[j].id_plus1; j = (j + 1) & mask) {
			if (s->e[j].id_plus1 == key) {
				s->e[j].count++;
				return 0;
			}
		}
	}
	if ((s->len + 1) * 2 > s->cap && slot_grow(s))
		return -ENOMEM;
	mask = s->cap - 1;
	for (j = pm_hash_u32(key) & mask; s->e[j].id_plus1; j = (j + 1) & mask)
		;
	s->e[j].id_plus1 = key;
	s->e[j].count = 1;
	s->len++;
	return 0;
}

/* ---- collections ---- */

static struct tl_gc *gc_push(struct lane *l, uint64_t *seq)
{
	struct tl_gc *g;

	if (!l->gcs) {
		l->gcs = calloc(TL_GC_KEPT, sizeof(*l->gcs));
		if (!l->gcs)
			return NULL;
	}
	*seq = l->gc_pushed++;
	g = &l->gcs[*seq % TL_GC_KEPT];
	memset(g, 0, sizeof(*g));
	return g;
}

/* The running collection of p, if its marker is still kept. */
static struct tl_gc *gc_open(struct proc *p)
{
	struct lane *l = p->gc_open_lane;
	uint64_t seq = p->gc_open - 1;

	if (!p->gc_open || l != p->lane || l->gc_pushed - seq > TL_GC_KEPT)
		return NULL;
	return &l->gcs[seq % TL_GC_KEPT];
}

static int on_gc(struct timeline *tl, struct proc *p, struct lane *l, const struct pm_event *ev,
		 struct cum *d)
{
	struct tl_gc *g;
	uint64_t seq, start;
	int32_t gen;

	if (ev->kind == PM_GC_START) {
		g = gc_push(l, &seq);
		if (!g)
			return -ENOMEM;
		g->start_ns = ev->ts_ns;
		g->generation = ev->gc.generation;
		g->collected = -1;
		g->pid = p->pid;
		p->gc_open = seq + 1;
		p->gc_open_lane = l;
		d->f[C_GC_STARTS]++;
		return 0;
	}
	g = gc_open(p);
	p->gc_open = 0;
	if (!g) {
		/* Its start was not seen: it started duration_ns before. */
		start = ev->ts_ns > ev->gc.duration_ns ? ev->ts_ns - ev->gc.duration_ns : 0;
		g = gc_push(l, &seq);
		if (!g || lane_apply1(tl, l, start, C_GC_STARTS, 1))
			return -ENOMEM;
		g->start_ns = start;
		g->generation = -1;
		g->pid = p->pid;
	}
	g->end_ns = ev->ts_ns > g->start_ns ? ev->ts_ns : g->start_ns;
	if (ev->gc.generation >= 0)
		g->generation = ev->gc.generation;
	g->collected = ev->gc.collected;
	gen = g->generation;
	if (gen >= 0 && gen < 3)
		l->info.gc_by_gen[gen]++;
	l->info.gc_ns += ev->gc.duration_ns ? ev->gc.duration_ns : g->end_ns - g->start_ns;
	if (ev->gc.collected > 0)
		l->info.gc_collected += (uint64_t)ev->gc.collected;
	return 0;
}

/* ---- feeding ---- */

/* The process lives on, a new program: what the old one held is gone
 * (its resident set is what the next sample says). */
static void proc_drop_memory(struct proc *p, struct lane *l, struct cum *d)
{
	d->f[C_PY_NET] -= (uint64_t)p->py_net;
	d->f[C_LIBC_NET] -= (uint64_t)p->libc_net;
	d->f[C_FP_NET] -= (uint64_t)p->fp_net;
	p->fp_net = 0;
	memset(&p->held, 0, sizeof(p->held));
	if (l)
		l->nlive -= p->py.len + p->libc.len;
	addr_tab__clear(&p->py);
	addr_tab__clear(&p->libc);
}

/* A pid seen again after its exit is a new process. */
static void proc_revive(struct proc *p)
{
	if (!p->exited)
		return;
	p->exited = false;
	if (p->lane && p->lane->owner == p)
		p->lane = NULL;
	p->py_net = p->libc_net = 0;
	memset(&p->held, 0, sizeof(p->held));
	p->fp_net = p->rss = 0;
	footprint__free(&p->fp);
	p->gc_open = 0;
}

static int on_event(struct timeline *tl, const struct pm_event *ev)
{
	struct cum d = {{0}};
	struct proc *p;
	struct lane *l;
	int err = 0;

	note_ts(tl, ev->ts_ns);
	p = proc_get(tl, ev->pid);
	if (!p)
		return -ENOMEM;
	if (!p->have_proc_rec && !p->lane)
		p->cgroup_id = ev->cgroup_id;
	if (ev->kind == PM_EXEC) {
		proc_revive(p);
		copy_str(p->comm, sizeof(p->comm), ev->proc.comm);
		if (ev->proc.path && ev->proc.path[0])
			copy_str(p->path, sizeof(p->path), ev->proc.path);
	}
	l = proc_lane(tl, p, ev->ts_ns);
	if (!l)
		return -ENOMEM;

	switch (ev->kind) {
	case PM_PY_MALLOC:
	case PM_PY_CALLOC:
		d.f[C_PY_ALLOCS] = 1;
		if (ev->alloc.addr) {
			err = block_alloc(l, &p->py, ev->alloc.addr, ev->alloc.size, &d,
					  C_PY_ALLOC_BYTES, C_PY_NET);
		} else {
			/* an inlined copy (LTO): no address, so the block is
			 * held in pymalloc's sizes until a sized free */
			d.f[C_PY_ALLOC_BYTES] += ev->alloc.size;
			d.f[C_PY_NET] +=
			    (uint64_t)pm_held__alloc(&p->held, pm_pymalloc_block(ev->alloc.size));
		}
		break;
	case PM_MALLOC:
	case PM_CALLOC:
		d.f[C_LIBC_ALLOCS] = 1;
		if (ev->alloc.addr)
			err = block_alloc(l, &p->libc, ev->alloc.addr, ev->alloc.size, &d,
					  C_LIBC_ALLOC_BYTES, C_LIBC_NET);
		break;
	case PM_PY_REALLOC:
	case PM_REALLOC: {
		bool py = ev->kind == PM_PY_REALLOC;
		struct addr_tab *t = py ? &p->py : &p->libc;

		d.f[py ? C_PY_ALLOCS : C_LIBC_ALLOCS] = 1;
		if (py)
			d.f[C_PY_NET] += (uint64_t)pm_held__note(&p->held, ev->alloc.old_block);
		/* no address: an inlined copy in a process whose frees are
		 * sized, else a failed call */
		if (py && !ev->alloc.addr && p->held.sized) {
			py_realloc_unaddressed(l, p, ev, &d);
			break;
		}
		/* A failed realloc leaves the old block; realloc(p, 0) may
		 * free it and return NULL. */
		if (ev->alloc.old_addr && (ev->alloc.addr || !ev->alloc.size))
			block_free(
			    l, t, py ? &p->held : NULL, ev->alloc.old_addr, ev->alloc.old_block, &d,
			    py ? C_PY_FREE_BYTES : C_LIBC_FREE_BYTES, py ? C_PY_NET : C_LIBC_NET);
		if (ev->alloc.addr)
			err = block_alloc(l, t, ev->alloc.addr, ev->alloc.size, &d,
					  py ? C_PY_ALLOC_BYTES : C_LIBC_ALLOC_BYTES,
					  py ? C_PY_NET : C_LIBC_NET);
		break;
	}
	case PM_PY_FREE:
		d.f[C_PY_FREES] = 1;
		d.f[C_PY_NET] += (uint64_t)pm_held__note(&p->held, ev->free.block);
		if (ev->free.addr)
			block_free(l, &p->py, &p->held, ev->free.addr, ev->free.block, &d,
				   C_PY_FREE_BYTES, C_PY_NET);
		break;
	case PM_FREE:
		d.f[C_LIBC_FREES] = 1;
		if (ev->free.addr)
			block_free(l, &p->libc, NULL, ev->free.addr, PM_BLOCK_UNKNOWN, &d,
				   C_LIBC_FREE_BYTES, C_LIBC_NET);
		break;
	case PM_PY_DEALLOC: {
		int64_t id = str_intern__id(&tl->types_in, str_or_empty(ev->dealloc.type_name));

		if (id < 0)
			return (int)id;
		d.f[C_DEALLOCS] = 1;
		err = lane_count_type(tl, l, ev->ts_ns, (uint32_t)id);
		break;
	}
	case PM_GC_START:
	case PM_GC_DONE:
		err = on_gc(tl, p, l, ev, &d);
		break;
	case PM_EXEC:
		proc_drop_memory(p, l, &d);
		err = footprint__apply(&p->fp, ev, p->python_version);
		lane_note_proc(l, p);
		break;
	case PM_VM: {
		uint64_t was = footprint__total(&p->fp);

		err = footprint__apply(&p->fp, ev, p->python_version);
		d.f[C_FP_NET] = footprint__total(&p->fp) - was;
		break;
	}
	case PM_RSS:
		d.f[C_RSS] = (uint64_t)((int64_t)ev->rss.rss - p->rss);
		p->rss = (int64_t)ev->rss.rss;
		break;
	case PM_EXIT: {
		struct tl_gc *g = gc_open(p);

		if (g)
			g->end_ns = ev->ts_ns;
		p->gc_open = 0;
		p->exited = true;
		p->exited_ns = ev->ts_ns;
		if (!p->comm[0]) {
			copy_str(p->comm, sizeof(p->comm), ev->proc.comm);
			lane_note_proc(l, p);
		}
		if (l->owner == p) {
			l->info.ended = true;
			l->info.ended_ns = ev->ts_ns;
		}
		proc_drop_memory(p, l, &d);
		d.f[C_RSS] -= (uint64_t)p->rss;
		p->rss = 0;
		break;
	}
	default:
		return 0; /* a newer recorder's kind */
	}
	if (err)
		return err;
	p->py_net += (int64_t)d.f[C_PY_NET];
	p->libc_net += (int64_t)d.f[C_LIBC_NET];
	if (ev->kind == PM_VM)
		p->fp_net += (int64_t)d.f[C_FP_NET];
	l->info.events[ev->kind]++;
	l->info.py_alloc_bytes += d.f[C_PY_ALLOC_BYTES];
	l->info.py_free_bytes += d.f[C_PY_FREE_BYTES];
	l->info.libc_alloc_bytes += d.f[C_LIBC_ALLOC_BYTES];
	l->info.libc_free_bytes += d.f[C_LIBC_FREE_BYTES];
	return lane_apply(tl, l, ev->ts_ns, &d);
}

static int on_process(struct timeline *tl, const struct pm_process *pr)
{
	struct proc *p;
	struct cont *c;

	note_ts(tl, pr->ts_ns);
	p = proc_get(tl, pr->pid);
	if (!p)
		return -ENOMEM;
	proc_revive(p);
	if (pr->cgroup_id) {
		p->cgroup_id = pr->cgroup_id;
		p->have_proc_rec = true;
	}
	copy_str(p->comm, sizeof(p->comm), pr->comm);
	copy_str(p->path, sizeof(p->path),
		 pr->python && pr->python[0] ? pr->python : str_or_empty(pr->exe));
	copy_str(p->python_version, sizeof(p->python_version), pr->python_version);
	p->is_python =
	    (pr->python && pr->python[0]) || (pr->python_version && pr->python_version[0]);
	if (!p->lane)
		return proc_lane(tl, p, pr->ts_ns) ? 0 : -ENOMEM;
	c = cont_find(tl, p->cgroup_id);
	if (c && c->lane != p->lane)
		return proc_move(tl, p, c->lane, pr->ts_ns);
	lane_note_proc(p->lane, p);
	return 0;
}

static int src_bit(struct timeline *tl, const char *name)
{
	for (unsigned i = 0; i < tl->nsrc; i++)
		if (strcmp(tl->src_names[i], name) == 0)
			return (int)i;
	if (tl->nsrc == TL_SOURCES_MAX)
		return -ENOSPC;
	tl->src_names[tl->nsrc] = strdup(name);
	if (!tl->src_names[tl->nsrc])
		return -ENOMEM;
	return (int)tl->nsrc++;
}

static int on_source(struct timeline *tl, const struct pm_source *src)
{
	uint32_t mask;
	struct proc *p;
	int bit;

	note_ts(tl, src->ts_ns);
	if (!src->pid)
		return 0;
	bit = src_bit(tl, str_or_empty(src->source));
	if (bit == -ENOSPC)
		return 0; /* more source names than any recorder has */
	if (bit < 0)
		return bit;
	p = proc_get(tl, src->pid);
	if (!p)
		return -ENOMEM;
	mask = p->partial_mask;
	if (src->status == PM_SRC_PARTIAL)
		p->partial_mask |= 1u << bit;
	else
		p->partial_mask &= ~(1u << bit);
	if (p->lane && mask != p->partial_mask)
		lane_set_partial(tl, p->lane);
	return 0;
}

static int on_lost(struct timeline *tl, const struct pm_lost *lo)
{
	unsigned k = lo->kind < PM_KIND_MAX ? lo->kind : 0;
	uint64_t *last, delta;
	struct proc *p = NULL;

	note_ts(tl, lo->ts_ns);
	if (lo->pid) {
		p = proc_get(tl, lo->pid);
		if (!p)
			return -ENOMEM;
		last = &p->lost[k];
	} else {
		last = &tl->lost_unattributed[k];
	}
	/* Cumulative: only the growth is new. A smaller count is a counter
	 * that started over (a reused pid). */
	delta = lo->count >= *last ? lo->count - *last : lo->count;
	*last = lo->count;
	if (!delta)
		return 0;
	tl->lost_total += delta;
	if (!p)
		return 0;
	if (!p->lane) {
		p->lost_pending += delta;
		return 0;
	}
	p->lane->info.lost += delta;
	return lane_apply1(tl, p->lane, lo->ts_ns ? lo->ts_ns : tl->now_ns, C_LOST, delta);
}

static void cont_names(struct lane *l, const struct pm_container *c)
{
	const char *name = c->service && c->service[0] ? c->service : c->name;

	if (name && name[0])
		copy_str(l->info.name, sizeof(l->info.name), name);
	else if (!l->info.name[0])
		snprintf(l->info.name, sizeof(l->info.name), "cgroup %llu",
			 (unsigned long long)c->cgroup_id);
	if (c->image && c->image[0])
		copy_str(l->info.detail, sizeof(l->info.detail), c->image);
}

static int on_container(struct timeline *tl, const struct pm_container *c)
{
	struct cont *ct;
	struct lane *l = NULL;
	int err = 0;

	note_ts(tl, c->ts_ns);
	ct = cont_find(tl, c->cgroup_id);
	if (!ct) {
		if (tl->nconts == tl->conts_cap) {
			size_t cap = tl->conts_cap ? tl->conts_cap * 2 : 8;
			struct cont *v = realloc(tl->conts, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			tl->conts = v;
			tl->conts_cap = cap;
		}
		/* Processes of its cgroup seen before it was: the first one's
		 * lane becomes the container's, the others move in. */
		for (size_t i = 0; i < tl->nprocs && !l; i++) {
			struct proc *p = tl->procs[i];

			if (p->cgroup_id == c->cgroup_id && p->lane && p->lane->owner == p) {
				l = p->lane;
				l->owner = NULL;
				l->info.name[0] = 0;
				l->info.detail[0] = 0;
			}
		}
		if (!l)
			l = lane_new(tl, c->ts_ns);
		if (!l)
			return -ENOMEM;
		l->info.is_container = true;
		l->info.cgroup_id = c->cgroup_id;
		l->info.ended = false;
		l->info.ended_ns = 0;
		ct = &tl->conts[tl->nconts++];
		ct->cgroup_id = c->cgroup_id;
		ct->lane = l;
		for (size_t i = 0; i < tl->nprocs && !err; i++) {
			struct proc *p = tl->procs[i];

			if (p->cgroup_id == c->cgroup_id && p->lane && p->lane != l)
				err = proc_move(tl, p, l, c->ts_ns);
		}
		if (err)
			return err;
	}
	l = ct->lane;
	cont_names(l, c);
	l->info.ended = c->state == PM_CONTAINER_STOPPED;
	l->info.ended_ns = l->info.ended ? c->ts_ns : 0;
	return 0;
}

static int timeline__record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct timeline *tl = (struct timeline *)((char *)sink - offsetof(struct timeline, sink));

	switch (rec->type) {
	case PM_REC_EVENT:
		return on_event(tl, &rec->ev);
	case PM_REC_PROCESS:
		return on_process(tl, &rec->proc);
	case PM_REC_SOURCE:
		return on_source(tl, &rec->src);
	case PM_REC_LOST:
		return on_lost(tl, &rec->lost);
	case PM_REC_CONTAINER:
		return on_container(tl, &rec->cont);
	case PM_REC_END:
		note_ts(tl, rec->end.ts_ns);
		return 0;
	case PM_REC_META:
		if (rec->meta.key && strcmp(rec->meta.key, "sample_duty") == 0) {
			tl->sampled = true;
			for (size_t i = 0; i < tl->nlanes; i++)
				tl->lanes[i]->info.sampled = true;
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- the model ---- */

struct timeline *timeline__new(uint64_t bucket_ns, uint64_t history_ns)
{
	struct timeline *tl = calloc(1, sizeof(*tl));

	if (!tl)
		return NULL;
	tl->sink.record = timeline__record;
	tl->pids = PID_INDEX_INIT(struct proc);
	tl->bucket_ns = bucket_ns ? bucket_ns : TL_BUCKET_NS;
	tl->history_ns = history_ns ? history_ns : TL_HISTORY_NS;
	if (tl->history_ns == UINT64_MAX) {
		tl->hist_b = tl->hist_s = UINT64_MAX;
	} else {
		tl->hist_b = (tl->history_ns + tl->bucket_ns - 1) / tl->bucket_ns;
		tl->hist_s = (tl->history_ns + NS_PER_SEC - 1) / NS_PER_SEC + 1;
	}
	return tl;
}

void timeline__free(struct timeline *tl)
{
	if (!tl)
		return;
	for (size_t i = 0; i < tl->nlanes; i++)
		lane_free(tl->lanes[i]);
	free(tl->lanes);
	for (size_t i = 0; i < tl->nprocs; i++) {
		addr_tab__clear(&tl->procs[i]->py);
		addr_tab__clear(&tl->procs[i]->libc);
		footprint__free(&tl->procs[i]->fp);
		free(tl->procs[i]);
	}
	free(tl->procs);
	pid_index__free(&tl->pids);
	free(tl->conts);
	str_intern__free(&tl->types_in);
	for (unsigned i = 0; i < tl->nsrc; i++)
		free(tl->src_names[i]);
	free(tl);
}

struct pm_sink *timeline__sink(struct timeline *tl)
{
	return &tl->sink;
}

void timeline__advance(struct timeline *tl, uint64_t now_ns)
{
	uint64_t stream = tl->stream_ns;

	note_ts(tl, now_ns);
	tl->stream_ns = stream; /* the clock is no record */
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

const struct tl_lane_info *timeline__lane(const struct timeline *tl, size_t lane)
{
	return lane < tl->nlanes ? &tl->lanes[lane]->info : NULL;
}

uint64_t timeline__lost_total(const struct timeline *tl)
{
	return tl->lost_total;
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
	if (!l->have_types || !tl->types_in.n)
		return 0;
	s0 = from_ns / NS_PER_SEC;
	s1 = (to_ns - 1) / NS_PER_SEC;
	if (tl->history_ns != UINT64_MAX && tl->now_ns > tl->history_ns &&
	    s0 < (tl->now_ns - tl->history_ns) / NS_PER_SEC)
		s0 = (tl->now_ns - tl->history_ns) / NS_PER_SEC;
	counts = calloc(tl->types_in.n, sizeof(*counts));
	ids = malloc(tl->types_in.n * sizeof(*ids));
	if (!counts || !ids) {
		free(counts);
		free(ids);
		return 0;
	}
	for (uint64_t i = 0; i < l->types.phys; i++) {
		const struct type_slot *s = &((const struct type_slot *)l->types.v)[i];

		if (!s->sec_plus1 || s->sec_plus1 - 1 < s0 || s->sec_plus1 - 1 > s1)
			continue;
		for (uint32_t j = 0; j < s->cap; j++) {
			uint32_t id = s->e[j].id_plus1;

			if (!id)
				continue;
			if (!counts[id - 1])
				ids[nids++] = id - 1;
			counts[id - 1] += s->e[j].count;
		}
	}
	/* max is a screenful: insertion into the kept few is enough. */
	for (size_t i = 0; i < nids; i++) {
		struct tl_type_count c = {tl->types_in.names[ids[i]], counts[ids[i]]};
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
	size_t sum = sizeof(*tl);

	for (size_t i = 0; i < tl->nlanes; i++) {
		const struct lane *l = tl->lanes[i];

		sum += sizeof(*l) + l->bk.phys * l->bk.esz;
		if (l->gcs)
			sum += TL_GC_KEPT * sizeof(*l->gcs);
		if (l->have_types) {
			sum += l->types.phys * l->types.esz;
			for (uint64_t j = 0; j < l->types.phys; j++)
				sum += ((const struct type_slot *)l->types.v)[j].cap *
				       sizeof(struct type_ent);
		}
	}
	for (size_t i = 0; i < tl->nprocs; i++)
		sum += sizeof(struct proc) +
		       (tl->procs[i]->py.cap + tl->procs[i]->libc.cap) * sizeof(struct addr_ent);
	sum += pid_index__memory(&tl->pids) + tl->procs_cap * sizeof(*tl->procs);
	sum += str_intern__memory(&tl->types_in);
	return sum;
}
