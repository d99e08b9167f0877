// SPDX-License-Identifier: MIT
/*
 * The exports' streaming model. Each lane keeps a ring of ES_PENDING
 * open buckets (slot b % ES_PENDING, tagged with b + 1); the model closes
 * buckets in time order as the clock moves and hands each to the exporter
 * with the lane's levels. Frees are sized by their allocation through
 * per-process address tables (open addressing, backward-shift deletion, so
 * probes stay short under churn).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/addrtab.h"
#include "model/footprint.h"
#include "model/pidindex.h"
#include "model/export_series.h"
#include "model/pyblock.h"

struct slot {
	uint64_t tag; /* bucket + 1; 0: empty */
	struct es_bucket d;
};

struct lane {
	struct es_lane pub;
	struct slot ring[ES_PENDING];
	struct es_levels lv; /* at the end of the last closed bucket */
	uint32_t owner_pid;  /* host lane: the process that owns it */
	bool active;	     /* in export_series.active */
};

struct proc {
	uint32_t pid;
	uint64_t cgroup_id;
	bool have_proc_rec; /* its cgroup comes from a PROCESS record */
	bool exited;
	struct lane *lane;
	char comm[PM_COMM_LEN + 1];
	struct addr_tab py, libc;
	/* its share of its lane's levels */
	int64_t py_net, libc_net;
	/* LTO builds: blocks allocated without an address (pyblock.h) */
	struct pm_held held;
	uint64_t lost[PM_KIND_MAX];
	bool gc_open;
	struct es_gc gc; /* the running collection */
	/* footprint mode; its share of the lane's levels is what fp holds */
	struct footprint fp;
	char python_version[16]; /* picks the arena size */
};

struct cont {
	uint64_t cgroup_id;
	struct lane *lane;
};

struct tid_ent {
	uint32_t tid; /* 0: empty */
	uint32_t pid;
};

struct export_series {
	const struct es_ops *ops;
	void *ctx;
	uint64_t start_ns;
	bool have_start;
	uint64_t res;
	bool dense;

	uint64_t max_rel;    /* newest event time */
	uint64_t first_open; /* G: buckets before it are closed */
	uint64_t newest_b;   /* bucket of max_rel */
	/* the bucket of the latest time converted, to skip a division */
	uint64_t cb_lo, cb_hi, cb_idx;

	struct lane **lanes;
	size_t nlanes, lanes_cap;
	/* Lanes that may still have buckets to hand over: not ended, or with
	 * open buckets. In lane order (the order of rows within a bucket);
	 * room for every lane, so adding one never fails. */
	struct lane **active;
	size_t nactive;
	struct lane *unknown; /* lost events of pid 0 */
	uint64_t lost_unknown[PM_KIND_MAX];

	struct cont *conts;
	size_t nconts, conts_cap;

	struct proc **procs;
	size_t nprocs, procs_cap;
	struct pid_index pids;

	struct tid_ent *tids;
	uint32_t tids_cap, tids_len;
	uint32_t last_tid, last_tid_pid;

	struct proc **gc_open; /* processes in a collection */
	size_t ngc_open, gc_open_cap;

	uint64_t live_blocks;
};

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* Copy s into dst (cut to fit); whether it changed. */
static bool set_name(char *dst, size_t len, const char *s)
{
	size_t n = strlen(str_or_empty(s));

	if (n >= len)
		n = len - 1;
	if (strncmp(dst, str_or_empty(s), n) == 0 && dst[n] == 0)
		return false;
	memcpy(dst, str_or_empty(s), n);
	dst[n] = 0;
	return true;
}

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
	if (rel >= s->cb_lo && rel < s->cb_hi)
		return s->cb_idx;
	s->cb_idx = rel / s->res;
	s->cb_lo = s->cb_idx * s->res;
	s->cb_hi = s->cb_lo + s->res;
	return s->cb_idx;
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
		l->lv.py_net += d->d_py_net;
		l->lv.libc_net += d->d_libc_net;
		l->lv.py_live += d->d_py_live;
		l->lv.libc_live += d->d_libc_live;
		l->lv.lost += d->lost;
		l->lv.fp_arena += d->d_fp_arena;
		l->lv.fp_mmap += d->d_fp_mmap;
		l->lv.fp_heap += d->d_fp_heap;
		l->lv.rss += d->d_rss;
		l->lv.rss_anon += d->d_rss_anon;
		/* a process that moves in brings its footprint along */
		l->lv.have_vm |= d->vm_events || d->d_fp_arena || d->d_fp_mmap || d->d_fp_heap;
		l->lv.have_rss |= d->rss_samples || d->d_rss || d->d_rss_anon;
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

static struct lane *lane_new(struct export_series *s, enum es_lane_kind kind, uint64_t rel)
{
	struct lane *l;

	if (s->nlanes == s->lanes_cap) {
		size_t cap = s->lanes_cap ? s->lanes_cap * 2 : 16;
		struct lane **v = realloc(s->lanes, cap * sizeof(*v));

		if (!v)
			return NULL;
		s->lanes = v;
		v = realloc(s->active, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->active = v;
		s->lanes_cap = cap;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->pub.index = s->nlanes;
	l->pub.kind = kind;
	l->pub.first_ns = rel;
	l->pub.first_b = not_closed_bucket(s, rel);
	s->lanes[s->nlanes++] = l;
	lane_activate(s, l);
	return l;
}

static int lane_announce(struct export_series *s, struct lane *l)
{
	return s->ops->lane ? s->ops->lane(s->ctx, &l->pub) : 0;
}

static void lane_end(struct export_series *s, struct lane *l, uint64_t rel)
{
	l->pub.ended = true;
	l->pub.end_b = not_closed_bucket(s, rel);
}

static bool host_lane_names(struct lane *l, const struct proc *p)
{
	char name[ES_NAME_MAX];

	if (p->comm[0])
		snprintf(name, sizeof(name), "pid %u %s", p->pid, p->comm);
	else
		snprintf(name, sizeof(name), "pid %u", p->pid);
	return set_name(l->pub.name, sizeof(l->pub.name), name);
}

static struct cont *cont_find(struct export_series *s, uint64_t cgroup_id)
{
	for (size_t i = 0; i < s->nconts; i++)
		if (s->conts[i].cgroup_id == cgroup_id)
			return &s->conts[i];
	return NULL;
}

/* ---- processes ---- */

static struct proc *proc_get(struct export_series *s, uint32_t pid)
{
	struct proc *p = pid_index__find(&s->pids, pid);

	return p ? p
		 : pid_index__make(&s->pids, pid, sizeof(*p), (void ***)&s->procs, &s->nprocs,
				   &s->procs_cap);
}

/* The lane of a process, found or made on first need. */
static struct lane *proc_lane(struct export_series *s, struct proc *p, uint64_t rel)
{
	struct cont *c;
	struct lane *l;

	if (p->lane)
		return p->lane;
	c = cont_find(s, p->cgroup_id);
	if (c) {
		p->lane = c->lane;
		return p->lane;
	}
	l = lane_new(s, ES_LANE_HOST, rel);
	if (!l)
		return NULL;
	l->owner_pid = p->pid;
	l->pub.pid = p->pid;
	l->pub.cgroup_id = p->cgroup_id;
	host_lane_names(l, p);
	p->lane = l;
	if (lane_announce(s, l))
		return NULL;
	return l;
}

static bool owns(const struct lane *l, const struct proc *p)
{
	return l && l->pub.kind == ES_LANE_HOST && l->owner_pid == p->pid;
}

/* ---- threads ---- */

static int tids_grow(struct export_series *s)
{
	uint32_t cap = s->tids_cap ? s->tids_cap * 2 : 256, mask = cap - 1;
	struct tid_ent *e = calloc(cap, sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->tids_cap; i++) {
		uint32_t j;

		if (!s->tids[i].tid)
			continue;
		for (j = pm_hash_u32(s->tids[i].tid) & mask; e[j].tid; j = (j + 1) & mask)
			;
		e[j] = s->tids[i];
	}
	free(s->tids);
	s->tids = e;
	s->tids_cap = cap;
	return 0;
}

/* Tell the exporter about a thread it has not seen in this process. */
static int note_thread(struct export_series *s, struct proc *p, uint32_t tid, uint64_t rel,
		       bool renamed)
{
	uint32_t mask, j;

	if (!tid || (!renamed && tid == s->last_tid && p->pid == s->last_tid_pid))
		return 0;
	if ((s->tids_len + 1) * 2 > s->tids_cap && tids_grow(s))
		return -ENOMEM;
	mask = s->tids_cap - 1;
	for (j = pm_hash_u32(tid) & mask; s->tids[j].tid; j = (j + 1) & mask)
		if (s->tids[j].tid == tid)
			break;
	if (!s->tids[j].tid) {
		s->tids[j].tid = tid;
		s->tids_len++;
	} else if (s->tids[j].pid == p->pid && !renamed) {
		s->last_tid = tid;
		s->last_tid_pid = p->pid;
		return 0;
	}
	s->tids[j].pid = p->pid;
	s->last_tid = tid;
	s->last_tid_pid = p->pid;
	if (!s->ops->thread)
		return 0;
	return s->ops->thread(s->ctx, &p->lane->pub, rel, p->pid, tid, p->comm);
}

/* A block goes away: its size into the freed bytes, if it was seen. */
static void py_net_add(struct proc *p, struct es_bucket *d, int64_t bytes)
{
	d->d_py_net += bytes;
	p->py_net += bytes;
}

/* A block leaves; one never seen allocated leaves by its pool header's size
 * (block) if the free has it. */
static void block_free(struct export_series *s, struct proc *p, bool py, uint64_t addr,
		       uint32_t block, struct es_bucket *d)
{
	struct addr_tab *t = py ? &p->py : &p->libc;
	struct addr_ent *e = addr_tab__find(t, addr);
	uint64_t size;

	if (!e) {
		uint32_t b = py ? pm_held__free(&p->held, block) : 0;

		if (b) {
			d->py_free_bytes += b;
			py_net_add(p, d, -(int64_t)b);
		}
		return;
	}
	size = e->size;
	addr_tab__del(t, e);
	s->live_blocks--;
	if (py) {
		d->py_free_bytes += size;
		d->d_py_net -= (int64_t)size;
		d->d_py_live--;
		p->py_net -= (int64_t)size;
	} else {
		d->libc_free_bytes += size;
		d->d_libc_net -= (int64_t)size;
		d->d_libc_live--;
		p->libc_net -= (int64_t)size;
	}
}

static int block_alloc(struct export_series *s, struct proc *p, bool py, uint64_t addr,
		       uint64_t size, struct es_bucket *d)
{
	struct addr_tab *t = py ? &p->py : &p->libc;
	struct addr_ent *e = addr_tab__find(t, addr);
	int64_t grow = (int64_t)size;

	if (e) {
		/* its free was not seen (lost): the old block is gone all the same */
		grow -= (int64_t)e->size;
		e->size = size;
	} else {
		if (addr_tab__put(t, addr, size))
			return -ENOMEM;
		s->live_blocks++;
		if (py)
			d->d_py_live++;
		else
			d->d_libc_live++;
	}
	if (py) {
		d->d_py_net += grow;
		p->py_net += grow;
	} else {
		d->d_libc_net += grow;
		p->libc_net += grow;
	}
	return 0;
}

/* What a process holds leaves its lane (it exits, execs or moves). */
static void proc_drop_memory(struct export_series *s, struct proc *p, struct es_bucket *d)
{
	d->d_py_net -= p->py_net;
	d->d_libc_net -= p->libc_net;
	d->d_py_live -= p->py.len;
	d->d_libc_live -= p->libc.len;
	s->live_blocks -= p->py.len + p->libc.len;
	p->py_net = p->libc_net = 0;
	memset(&p->held, 0, sizeof(p->held));
	addr_tab__clear(&p->py);
	addr_tab__clear(&p->libc);
}

/* ---- footprint ---- */

enum { FS_ARENA, FS_MMAP, FS_HEAP, FS_RSS, FS_ANON, FS_N };

/* A process's share of its lane's footprint levels. */
static void fp_share(const struct proc *p, int64_t v[FS_N])
{
	v[FS_ARENA] = (int64_t)p->fp.bytes[FP_ARENA];
	v[FS_MMAP] = (int64_t)p->fp.bytes[FP_MMAP];
	v[FS_HEAP] = (int64_t)p->fp.heap;
	v[FS_RSS] = p->fp.have_rss ? (int64_t)p->fp.rss : 0;
	v[FS_ANON] = p->fp.have_rss ? (int64_t)p->fp.rss_anon : 0;
}

static void fp_add(struct es_bucket *d, const int64_t v[FS_N], int64_t sign)
{
	d->d_fp_arena += sign * v[FS_ARENA];
	d->d_fp_mmap += sign * v[FS_MMAP];
	d->d_fp_heap += sign * v[FS_HEAP];
	d->d_rss += sign * v[FS_RSS];
	d->d_rss_anon += sign * v[FS_ANON];
}

/* A vm or rss event, or an exec (which unmaps everything). */
static int fp_apply(struct proc *p, const struct pm_event *ev, struct es_bucket *d)
{
	int64_t was[FS_N], now[FS_N];
	int err;

	if (ev->kind == PM_VM)
		d->vm_events++;
	else if (ev->kind == PM_RSS)
		d->rss_samples++;
	/* a late sample of a process that exited would stay in the levels */
	if (p->exited)
		return 0;
	fp_share(p, was);
	err = footprint__apply(&p->fp, ev, p->python_version[0] ? p->python_version : NULL);
	fp_share(p, now);
	fp_add(d, was, -1);
	fp_add(d, now, 1);
	return err;
}

/* An exited process's memory is gone: its share leaves the lane. */
static void fp_drop(struct proc *p, struct es_bucket *d)
{
	int64_t was[FS_N];

	fp_share(p, was);
	fp_add(d, was, -1);
	footprint__free(&p->fp);
}

/* ---- collections ---- */

static void gc_open_del(struct export_series *s, struct proc *p)
{
	for (size_t i = 0; i < s->ngc_open; i++) {
		if (s->gc_open[i] == p) {
			s->gc_open[i] = s->gc_open[--s->ngc_open];
			break;
		}
	}
	p->gc_open = false;
}

static int gc_open_add(struct export_series *s, struct proc *p)
{
	if (p->gc_open)
		return 0;
	if (s->ngc_open == s->gc_open_cap) {
		size_t cap = s->gc_open_cap ? s->gc_open_cap * 2 : 8;
		struct proc **v = realloc(s->gc_open, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->gc_open = v;
		s->gc_open_cap = cap;
	}
	s->gc_open[s->ngc_open++] = p;
	p->gc_open = true;
	return 0;
}

/* A running collection of a process that exits or execs. */
static int gc_abandon(struct export_series *s, struct proc *p, uint64_t rel)
{
	if (!p->gc_open)
		return 0;
	gc_open_del(s, p);
	p->gc.end_ns = rel > p->gc.start_ns ? rel : p->gc.start_ns;
	p->gc.finished = false;
	return s->ops->gc ? s->ops->gc(s->ctx, &p->lane->pub, &p->gc) : 0;
}

static int on_gc(struct export_series *s, struct proc *p, const struct pm_event *ev, uint64_t rel,
		 struct es_bucket *d)
{
	struct es_gc g;
	int32_t gen = ev->gc.generation;

	if (ev->kind == PM_GC_START) {
		/* a start without a done before it: that one's end was lost */
		if (p->gc_open)
			gc_open_del(s, p);
		memset(&p->gc, 0, sizeof(p->gc));
		p->gc.start_ns = rel;
		p->gc.pid = p->pid;
		p->gc.tid = ev->tid;
		p->gc.generation = gen;
		p->gc.collected = -1;
		p->gc.source = ev->gc.source;
		return gc_open_add(s, p);
	}
	if (p->gc_open) {
		g = p->gc;
		gc_open_del(s, p);
	} else {
		/* its start was not seen: it started duration_ns before */
		memset(&g, 0, sizeof(g));
		g.start_ns = rel > ev->gc.duration_ns ? rel - ev->gc.duration_ns : 0;
		g.pid = p->pid;
		g.tid = ev->tid;
		g.generation = -1;
	}
	g.end_ns = rel > g.start_ns ? rel : g.start_ns;
	g.duration_ns = ev->gc.duration_ns;
	if (gen >= 0)
		g.generation = gen;
	g.collected = ev->gc.collected;
	if (ev->gc.source)
		g.source = ev->gc.source;
	g.finished = true;

	/* counted by the done event's own figures, as the summary does */
	d->gcs++;
	if (gen >= 0 && gen < 3)
		d->gc_gen[gen]++;
	if (ev->gc.collected > 0)
		d->gc_collected += (uint64_t)ev->gc.collected;
	d->gc_ns += ev->gc.duration_ns;
	return s->ops->gc ? s->ops->gc(s->ctx, &p->lane->pub, &g) : 0;
}

/* ---- feeding ---- */

/* A pid seen again after its exit is a new process. */
static void proc_revive(struct proc *p)
{
	if (!p->exited)
		return;
	p->exited = false;
	if (owns(p->lane, p))
		p->lane = NULL;
	memset(p->lost, 0, sizeof(p->lost));
}

static int on_proc_event(struct export_series *s, struct proc *p, struct lane *l,
			 const struct pm_event *ev, uint64_t rel, struct es_bucket *d)
{
	struct es_proc_event pe = {
	    .ts_ns = rel,
	    .kind = ev->kind,
	    .pid = p->pid,
	    .tid = ev->tid,
	    .ppid = ev->proc.ppid,
	    .exit_code = ev->proc.exit_code,
	    .comm = str_or_empty(ev->proc.comm),
	    .path = str_or_empty(ev->proc.path),
	};
	int err = gc_abandon(s, p, rel);

	if (err)
		return err;
	proc_drop_memory(s, p, d);
	if (ev->kind == PM_EXEC)
		err = fp_apply(p, ev, d);
	else
		fp_drop(p, d);
	if (err)
		return err;
	if (ev->kind == PM_EXEC) {
		if (owns(l, p) && host_lane_names(l, p) && (err = lane_announce(s, l)))
			return err;
		err = note_thread(s, p, p->pid, rel, true);
	} else {
		p->exited = true;
		if (owns(l, p))
			lane_end(s, l, rel);
	}
	if (!err && s->ops->proc)
		err = s->ops->proc(s->ctx, &l->pub, &pe);
	return err;
}

static int on_event(struct export_series *s, const struct pm_event *ev)
{
	uint64_t rel = rel_ns(s, ev->ts_ns);
	struct es_bucket *d;
	struct proc *p;
	struct lane *l;
	int err;

	err = advance(s, rel);
	if (err)
		return err;
	p = proc_get(s, ev->pid);
	if (!p)
		return -ENOMEM;
	if (!p->have_proc_rec && !p->lane)
		p->cgroup_id = ev->cgroup_id;
	if (ev->kind == PM_EXEC) {
		proc_revive(p);
		snprintf(p->comm, sizeof(p->comm), "%s", str_or_empty(ev->proc.comm));
	} else if (ev->kind == PM_EXIT && !p->comm[0]) {
		snprintf(p->comm, sizeof(p->comm), "%s", str_or_empty(ev->proc.comm));
	}
	l = proc_lane(s, p, rel);
	if (!l)
		return -ENOMEM;
	err = note_thread(s, p, ev->tid, rel, false);
	if (err)
		return err;
	d = lane_bucket(s, l, open_bucket(s, rel));

	switch (ev->kind) {
	case PM_PY_MALLOC:
	case PM_PY_CALLOC:
	case PM_MALLOC:
	case PM_CALLOC:
	case PM_PY_REALLOC:
	case PM_REALLOC: {
		bool py = pm_kind_is_python_alloc(ev->kind);
		bool re = ev->kind == PM_PY_REALLOC || ev->kind == PM_REALLOC;

		if (py) {
			d->py_allocs++;
			d->py_alloc_bytes += ev->alloc.size;
		} else {
			d->libc_allocs++;
			d->libc_alloc_bytes += ev->alloc.size;
		}
		if (py && re)
			py_net_add(p, d, pm_held__note(&p->held, ev->alloc.old_block));
		if (py && !ev->alloc.addr && (!re || p->held.sized)) {
			/* an inlined copy (LTO): no address for the new block
			 * (a realloc without one elsewhere failed) */
			if (re && ev->alloc.old_addr)
				block_free(s, p, py, ev->alloc.old_addr, ev->alloc.old_block, d);
			py_net_add(
			    p, d,
			    pm_held__alloc(&p->held, pm_pymalloc_realloc_block(ev->alloc.old_addr,
									       ev->alloc.old_block,
									       ev->alloc.size)));
			return 0;
		}
		/* A failed realloc leaves the old block; realloc(p, 0) may
		 * free it and return NULL. */
		if (re && ev->alloc.old_addr && (ev->alloc.addr || !ev->alloc.size))
			block_free(s, p, py, ev->alloc.old_addr, ev->alloc.old_block, d);
		if (ev->alloc.addr)
			return block_alloc(s, p, py, ev->alloc.addr, ev->alloc.size, d);
		return 0;
	}
	case PM_PY_FREE:
		d->py_frees++;
		py_net_add(p, d, pm_held__note(&p->held, ev->free.block));
		block_free(s, p, true, ev->free.addr, ev->free.block, d);
		return 0;
	case PM_FREE:
		d->libc_frees++;
		block_free(s, p, false, ev->free.addr, PM_BLOCK_UNKNOWN, d);
		return 0;
	case PM_PY_DEALLOC:
		d->deallocs++;
		return 0;
	case PM_GC_START:
	case PM_GC_DONE:
		return on_gc(s, p, ev, rel, d);
	case PM_EXEC:
	case PM_EXIT:
		return on_proc_event(s, p, l, ev, rel, d);
	case PM_VM:
	case PM_RSS:
		return fp_apply(p, ev, d);
	default:
		return 0; /* a newer recorder's kind */
	}
}

/* Move a process and what it holds to another lane. */
static int proc_move(struct export_series *s, struct proc *p, struct lane *to, uint64_t rel)
{
	struct lane *from = p->lane;
	uint64_t b = open_bucket(s, rel);
	struct es_bucket *d = lane_bucket(s, from, b);
	int64_t fp[FS_N];

	fp_share(p, fp);
	d->d_py_net -= p->py_net;
	d->d_libc_net -= p->libc_net;
	d->d_py_live -= p->py.len;
	d->d_libc_live -= p->libc.len;
	fp_add(d, fp, -1);
	if (owns(from, p))
		lane_end(s, from, rel);
	d = lane_bucket(s, to, b);
	d->d_py_net += p->py_net;
	d->d_libc_net += p->libc_net;
	d->d_py_live += p->py.len;
	d->d_libc_live += p->libc.len;
	fp_add(d, fp, 1);
	p->lane = to;
	if (p->gc_open)
		gc_open_del(s, p); /* its slice would straddle two tracks */
	return 0;
}

static int on_process(struct export_series *s, const struct pm_process *pr)
{
	uint64_t rel = rel_ns(s, pr->ts_ns);
	struct proc *p = proc_get(s, pr->pid);
	struct cont *c;

	if (!p)
		return -ENOMEM;
	proc_revive(p);
	if (pr->cgroup_id) {
		p->cgroup_id = pr->cgroup_id;
		p->have_proc_rec = true;
	}
	snprintf(p->comm, sizeof(p->comm), "%s", str_or_empty(pr->comm));
	snprintf(p->python_version, sizeof(p->python_version), "%s",
		 str_or_empty(pr->python_version));
	if (!p->lane)
		return proc_lane(s, p, rel) ? 0 : -ENOMEM;
	c = cont_find(s, p->cgroup_id);
	if (c && c->lane != p->lane)
		return proc_move(s, p, c->lane, rel);
	if (owns(p->lane, p) && host_lane_names(p->lane, p))
		return lane_announce(s, p->lane);
	return 0;
}

static int on_lost(struct export_series *s, const struct pm_lost *lo)
{
	unsigned k = lo->kind < PM_KIND_MAX ? lo->kind : 0;
	uint64_t rel = rel_ns(s, lo->ts_ns), *last, delta;
	struct lane *l;

	if (lo->pid) {
		struct proc *p = proc_get(s, lo->pid);

		if (!p)
			return -ENOMEM;
		l = proc_lane(s, p, rel);
		if (!l)
			return -ENOMEM;
		last = &p->lost[k];
	} else {
		if (!s->unknown) {
			s->unknown = lane_new(s, ES_LANE_UNKNOWN, rel);
			if (!s->unknown)
				return -ENOMEM;
			set_name(s->unknown->pub.name, ES_NAME_MAX, "unidentified processes");
			if (lane_announce(s, s->unknown))
				return -ENOMEM;
		}
		l = s->unknown;
		last = &s->lost_unknown[k];
	}
	/* Cumulative: only the growth is new. A smaller count is a counter
	 * that started over (a reused pid). */
	delta = lo->count >= *last ? lo->count - *last : lo->count;
	*last = lo->count;
	if (delta)
		lane_bucket(s, l, open_bucket(s, rel))->lost += delta;
	return 0;
}

static bool set_known(char *dst, size_t len, const char *v)
{
	if (!v || !v[0])
		return false;
	return set_name(dst, len, v);
}

static int on_container(struct export_series *s, const struct pm_container *c)
{
	uint64_t rel = rel_ns(s, c->ts_ns);
	struct cont *ct = cont_find(s, c->cgroup_id);
	struct lane *l;
	bool changed = false;
	int err = 0;

	if (!ct) {
		if (s->nconts == s->conts_cap) {
			size_t cap = s->conts_cap ? s->conts_cap * 2 : 8;
			struct cont *v = realloc(s->conts, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->conts = v;
			s->conts_cap = cap;
		}
		l = lane_new(s, ES_LANE_CONTAINER, rel);
		if (!l)
			return -ENOMEM;
		l->pub.cgroup_id = c->cgroup_id;
		snprintf(l->pub.name, sizeof(l->pub.name), "cgroup %llu",
			 (unsigned long long)c->cgroup_id);
		ct = &s->conts[s->nconts++];
		ct->cgroup_id = c->cgroup_id;
		ct->lane = l;
		changed = true;
		/* processes of its cgroup seen before it was move in */
		for (size_t i = 0; i < s->nprocs && !err; i++) {
			struct proc *p = s->procs[i];

			if (p->cgroup_id == c->cgroup_id && p->lane && p->lane != l)
				err = proc_move(s, p, l, rel);
		}
		if (err)
			return err;
	}
	l = ct->lane;
	changed |= set_known(l->pub.container, sizeof(l->pub.container), c->name);
	changed |= set_known(l->pub.image, sizeof(l->pub.image), c->image);
	changed |= set_known(l->pub.id, sizeof(l->pub.id), c->id);
	if ((c->service && c->service[0]) || (c->name && c->name[0]))
		changed |= set_name(l->pub.name, sizeof(l->pub.name),
				    c->service && c->service[0] ? c->service : c->name);
	if (changed && (err = lane_announce(s, l)))
		return err;
	if (c->state == PM_CONTAINER_STOPPED) {
		lane_end(s, l, rel);
	} else if (l->pub.ended) {
		/* traced again: alive from now on */
		l->pub.ended = false;
		lane_activate(s, l);
	}
	return s->ops->container ? s->ops->container(s->ctx, &l->pub, rel, c->state) : 0;
}

int export_series__record(struct export_series *s, const struct pm_record *rec)
{
	switch (rec->type) {
	case PM_REC_EVENT:
		return on_event(s, &rec->ev);
	case PM_REC_PROCESS:
		return on_process(s, &rec->proc);
	case PM_REC_LOST:
		return on_lost(s, &rec->lost);
	case PM_REC_CONTAINER:
		return on_container(s, &rec->cont);
	default:
		return 0;
	}
}

int export_series__finish(struct export_series *s)
{
	int err = 0;

	for (size_t i = 0; i < s->nprocs && !err; i++)
		if (s->procs[i]->gc_open && s->procs[i]->lane)
			err = gc_abandon(s, s->procs[i], s->max_rel);
	if (!err)
		err = close_until(s, s->newest_b + 1);
	return err;
}

struct export_series *export_series__new(uint64_t start_ns, uint64_t res_ns, bool dense,
					 const struct es_ops *ops, void *ctx)
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
	s->pids = PID_INDEX_INIT(struct proc);
	s->res = res_ns;
	s->dense = dense;
	s->start_ns = start_ns;
	s->have_start = start_ns != 0;
	s->cb_hi = res_ns;
	return s;
}

void export_series__free(struct export_series *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprocs; i++) {
		addr_tab__clear(&s->procs[i]->py);
		addr_tab__clear(&s->procs[i]->libc);
		footprint__free(&s->procs[i]->fp);
		free(s->procs[i]);
	}
	for (size_t i = 0; i < s->nlanes; i++)
		free(s->lanes[i]);
	free(s->procs);
	pid_index__free(&s->pids);
	free(s->lanes);
	free(s->active);
	free(s->conts);
	free(s->tids);
	free(s->gc_open);
	free(s);
}

uint64_t export_series__settled_ns(const struct export_series *s)
{
	uint64_t t = s->first_open * s->res;

	if (s->max_rel < ES_REORDER_NS)
		return 0;
	if (s->max_rel - ES_REORDER_NS < t)
		t = s->max_rel - ES_REORDER_NS;
	for (size_t i = 0; i < s->ngc_open; i++)
		if (s->gc_open[i]->gc.start_ns < t)
			t = s->gc_open[i]->gc.start_ns;
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
	return s->live_blocks;
}
