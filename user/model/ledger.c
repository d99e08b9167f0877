// SPDX-License-Identifier: MIT
/*
 * The accounting core (ledger.h). Each record is turned into one delta of
 * its process's lane (plus, rarely, level changes of a lane a process
 * leaves), handed to every store in order. Frees are sized by their
 * allocation through per-process tables of live blocks (util/hashmap.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/ledger_impl.h"
#include "util/grow.h"

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

bool lg_set_name(char *dst, size_t len, const char *s)
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

static bool set_known(char *dst, size_t len, const char *v)
{
	return v && v[0] && lg_set_name(dst, len, v);
}

static void note_ts(struct ledger *lg, uint64_t ts)
{
	if (ts > lg->last_ns)
		lg->last_ns = ts;
}

/* ---- handing over ---- */

int lg_emit_lane(struct ledger *lg, struct lane *l)
{
	EACH_SUB(lg, lane, &l->pub);
	return 0;
}

static void totals_add(struct lg_lane *l, const struct lg_delta *d)
{
	struct lg_totals *t = &l->tot;
	struct lg_levels *v = &l->lv;

	if (d->kind && d->kind < PM_KIND_MAX)
		t->events[d->kind]++;
	t->py_allocs += d->py_allocs;
	t->py_frees += d->py_frees;
	t->libc_allocs += d->libc_allocs;
	t->libc_frees += d->libc_frees;
	t->deallocs += d->deallocs;
	t->vm_events += d->vm_events;
	t->rss_samples += d->rss_samples;
	v->have_vm |= d->vm_events;
	v->have_rss |= d->rss_samples;
	t->py_alloc_bytes += d->py_alloc_bytes;
	t->py_free_bytes += d->py_free_bytes;
	t->libc_alloc_bytes += d->libc_alloc_bytes;
	t->libc_free_bytes += d->libc_free_bytes;
	t->lost += d->lv.lost;
	t->unmatched_frees += d->unmatched;
	t->unmatched_py_frees += d->unmatched_py;
	t->py_unaddressed_allocs += d->py_unaddressed;
	t->gc_starts += d->gc_starts;
	t->gc_traced_inside += d->gc_inside;
	t->gcs += lg_delta__add_gc(d, t->gc_gen, &t->gc_collected, &t->gc_uncollectable, &t->gc_ns);
	lg_levels__add(v, &d->lv);
}

int lg_emit_delta(struct ledger *lg, struct lane *l, const struct lg_delta *d)
{
	totals_add(&l->pub, d);
	EACH_SUB(lg, delta, &l->pub, d);
	return 0;
}

int lg_emit_gc(struct ledger *lg, struct lane *l, const struct lg_gc *g)
{
	EACH_SUB(lg, gc, &l->pub, g);
	return 0;
}

/* ---- lanes ---- */

static struct lane *lane_new(struct ledger *lg, enum lg_lane_kind kind, uint64_t ts)
{
	struct lane *l;

	if (lg->nlanes == lg->lanes_cap) {
		struct lane **v = PM_GROW(lg->lanes, &lg->lanes_cap, lg->nlanes + 1, 16);

		if (!v)
			return NULL;
		lg->lanes = v;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->pub.index = lg->nlanes;
	l->pub.kind = kind;
	l->pub.first_ns = ts ? ts : lg->last_ns;
	l->pub.sampled = lg->sampled;
	lg->lanes[lg->nlanes++] = l;
	return l;
}

static void lane_set_partial(struct ledger *lg, struct lane *l)
{
	uint32_t mask = l->partial_gone;
	size_t off = 0;

	for (size_t i = 0; i < lg->nprocs; i++)
		if (lg->procs[i]->lane == l)
			mask |= lg->procs[i]->partial_mask;
	l->pub.partial = mask != 0;
	l->pub.partial_what[0] = 0;
	for (unsigned i = 0; i < lg->nsrc && off < sizeof(l->pub.partial_what); i++) {
		int n;

		if (!(mask & (1u << i)))
			continue;
		n = snprintf(l->pub.partial_what + off, sizeof(l->pub.partial_what) - off, "%s%s",
			     off ? ", " : "", lg->src_names[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* A host lane is named after its process; whether its names changed. */
static bool host_lane_names(struct lane *l, const struct proc *p)
{
	char name[LG_NAME_MAX];
	bool changed;

	if (p->pub.comm[0])
		snprintf(name, sizeof(name), "pid %u %s", p->pub.pid, p->pub.comm);
	else
		snprintf(name, sizeof(name), "pid %u", p->pub.pid);
	changed = lg_set_name(l->pub.name, sizeof(l->pub.name), name);
	changed |= lg_set_name(l->pub.detail, sizeof(l->pub.detail), p->pub.path);
	return changed;
}

/* What a process tells its lane about itself (again after a PROCESS
 * record or an exec); whether the lane's names changed. */
static bool lane_note_proc(struct lane *l, const struct proc *p)
{
	bool changed = false;

	if (l->owner == p)
		changed = host_lane_names(l, p);
	else if (!l->pub.detail[0] && p->pub.path[0])
		changed = lg_set_name(l->pub.detail, sizeof(l->pub.detail), p->pub.path);
	if (p->pub.is_python && !l->pub.interpreter[0]) {
		lg_set_name(l->pub.allocator, sizeof(l->pub.allocator),
			    pm_python_allocator(p->pub.python_version));
		if (p->pub.python_version[0])
			snprintf(l->pub.interpreter, sizeof(l->pub.interpreter), "python %s",
				 p->pub.python_version);
		else
			lg_set_name(l->pub.interpreter, sizeof(l->pub.interpreter), "python");
		changed = true;
	}
	return changed;
}

static void lane_join(struct ledger *lg, struct lane *l, struct proc *p)
{
	p->lane = l;
	if (l->pub.npids < LG_PIDS_KEPT)
		l->pub.pids[l->pub.npids] = p->pub.pid;
	l->pub.npids++;
	lane_note_proc(l, p);
	if (p->partial_mask)
		lane_set_partial(lg, l);
}

/* After the lane itself was handed over. */
static int emit_join(struct ledger *lg, struct lane *l, struct proc *p)
{
	EACH_SUB(lg, join, &l->pub, &p->pub);
	return 0;
}

static struct cont *cont_find(struct ledger *lg, uint64_t cgroup_id)
{
	for (size_t i = 0; i < lg->nconts; i++)
		if (lg->conts[i].cgroup_id == cgroup_id)
			return &lg->conts[i];
	return NULL;
}

/* The lane of a process, found or made on first need. */
static struct lane *proc_lane(struct ledger *lg, struct proc *p, uint64_t ts, int *err)
{
	struct cont *c;
	struct lane *l;

	if (p->lane)
		return p->lane;
	c = cont_find(lg, p->pub.cgroup_id);
	if (c) {
		l = c->lane;
	} else {
		l = lane_new(lg, LG_LANE_HOST, ts);
		if (!l) {
			*err = -ENOMEM;
			return NULL;
		}
		l->owner = p;
		l->pub.pid = p->pub.pid;
		l->pub.cgroup_id = p->pub.cgroup_id;
	}
	lane_join(lg, l, p);
	*err = lg_emit_lane(lg, l);
	if (!*err)
		*err = emit_join(lg, l, p);
	return *err ? NULL : l;
}

/* ---- processes ---- */

static bool proc_lost_any(const struct proc *p)
{
	for (int k = 0; k < PM_KIND_MAX; k++)
		if (p->lost[k])
			return true;
	return false;
}

static void proc_free(struct proc *p)
{
	u64map__free(&p->py);
	u64map__free(&p->libc);
	footprint__free(&p->fp);
	free(p->ticks);
	free(p);
}

/*
 * Forget processes of a container that ended a while ago. A live session
 * follows containers for days, and their processes come and go without end
 * (each run of a script, each shell command): kept, each would cost memory
 * for good. Their lane keeps what they added (its totals and pids, and the
 * sources they saw only part of). Kept are processes that own a lane
 * (host processes) and those that lost events (the lost counters are
 * cumulative per pid: a late count must find the earlier one).
 */
static void procs_forget_ended(struct ledger *lg)
{
	size_t i, n = 0;

	for (i = 0; i < lg->nprocs; i++) {
		struct proc *p = lg->procs[i];

		if (p->pub.exited && p->lane && p->lane->owner != p && !proc_lost_any(p) &&
		    !p->py.len && !p->libc.len && lg->last_ns > p->exited_ns + PROC_FORGET_NS) {
			p->lane->partial_gone |= p->partial_mask;
			proc_free(p);
			continue;
		}
		lg->procs[n++] = p;
	}
	if (n == lg->nprocs)
		return;
	lg->nprocs = n;
	/* adding back into room already there cannot fail */
	pid_index__reset(&lg->pids);
	for (i = 0; i < n; i++)
		pid_index__add(&lg->pids, lg->procs[i]);
}

static struct proc *proc_get(struct ledger *lg, uint32_t pid)
{
	struct proc *p = pid_index__find(&lg->pids, pid);

	if (p)
		return p;
	if ((lg->nprocs + 1) * 2 > lg->pids.map.cap) {
		/* grow unless forgetting brought the load down to a quarter,
		 * so that the next look is at least a quarter of the room away */
		procs_forget_ended(lg);
		if (pid_index__reserve(&lg->pids, lg->nprocs + 1))
			return NULL;
	}
	return pid_index__make(&lg->pids, pid, sizeof(*p), (void ***)&lg->procs, &lg->nprocs,
			       &lg->procs_cap);
}

/* ---- events ---- */

/* A pid seen again after its exit is a new process. */
static void proc_revive(struct proc *p)
{
	if (!p->pub.exited)
		return;
	p->pub.exited = false;
	if (p->lane && p->lane->owner == p)
		p->lane = NULL;
	p->py_net = p->libc_net = 0;
	memset(&p->held, 0, sizeof(p->held));
	footprint__free(&p->fp);
	p->gc_open = false;
}

static int on_exec_exit(struct ledger *lg, struct proc *p, const struct pm_event *ev,
			struct lg_delta *d)
{
	struct lane *l = p->lane;
	int err = lg_gc_abandon(lg, p, ev->ts_ns);
	bool changed;

	if (err)
		return err;
	lg_drop_memory(lg, p, d);
	if (ev->kind == PM_EXEC) {
		err = lg_fp_apply(p, ev, d);
		if (err)
			return err;
		if (lane_note_proc(l, p) && (err = lg_emit_lane(lg, l)))
			return err;
		return 0;
	}
	lg_fp_drop(p, d);
	p->pub.exited = true;
	p->exited_ns = ev->ts_ns;
	/* the exit may be the first record to name it */
	changed = lane_note_proc(l, p);
	if (l->owner == p) {
		l->pub.ended = true;
		l->pub.ended_ns = ev->ts_ns;
		changed = true;
	}
	return changed ? lg_emit_lane(lg, l) : 0;
}

static int on_event(struct ledger *lg, const struct pm_event *ev)
{
	struct lg_delta d = {.ts_ns = ev->ts_ns, .pid = ev->pid};
	struct proc *p;
	struct lane *l;
	int err = 0;

	lg_delta__count(&d, ev->kind);

	note_ts(lg, ev->ts_ns);
	p = proc_get(lg, ev->pid);
	if (!p)
		return -ENOMEM;
	if (!p->have_proc_rec && !p->lane)
		p->pub.cgroup_id = ev->cgroup_id;
	if (ev->kind == PM_EXEC) {
		proc_revive(p);
		lg_set_name(p->pub.comm, sizeof(p->pub.comm), ev->proc.comm);
		if (ev->proc.path && ev->proc.path[0])
			lg_set_name(p->pub.path, sizeof(p->pub.path), ev->proc.path);
	} else if (ev->kind == PM_EXIT && !p->pub.comm[0]) {
		lg_set_name(p->pub.comm, sizeof(p->pub.comm), ev->proc.comm);
	}
	l = proc_lane(lg, p, ev->ts_ns, &err);
	if (!l)
		return err;
	EACH_SUB(lg, event, &l->pub, &p->pub, ev);
	/* a probe that fired inside a collection made it last longer */
	if ((pm_kind_is_alloc(ev->kind) || pm_kind_is_free(ev->kind) ||
	     ev->kind == PM_PY_DEALLOC) &&
	    (err = lg_note_obj_event(p, ev->ts_ns)))
		return err;

	if (pm_kind_is_alloc(ev->kind)) {
		err = lg_on_alloc(lg, p, ev, &d);
	} else {
		switch (ev->kind) {
		case PM_PY_FREE:
			d.lv.py_net = lg_add(d.lv.py_net, pm_held__note(&p->held, ev->free.block));
			if (ev->free.addr)
				lg_block_free(lg, p, true, ev->free.addr, ev->free.block, &d);
			break;
		case PM_FREE:
			if (ev->free.addr)
				lg_block_free(lg, p, false, ev->free.addr, PM_BLOCK_UNKNOWN, &d);
			break;
		case PM_PY_DEALLOC: {
			int64_t id =
			    str_intern__id(&lg->types, str_or_empty(ev->dealloc.type_name));

			if (id < 0)
				return (int)id;
			EACH_SUB(lg, dealloc, &l->pub, &p->pub, ev->ts_ns, (uint32_t)id);
			break;
		}
		case PM_GC_START:
		case PM_GC_DONE:
			err = lg_on_gc(lg, p, ev, &d);
			break;
		case PM_EXEC:
		case PM_EXIT:
			err = on_exec_exit(lg, p, ev, &d);
			break;
		case PM_VM:
		case PM_RSS:
			err = lg_fp_apply(p, ev, &d);
			break;
		default:
			if (ev->kind == 0 || ev->kind >= PM_KIND_MAX)
				return 0; /* a newer recorder's kind */
			break;
		}
	}
	if (err)
		return err;
	p->py_net = lg_add(p->py_net, d.lv.py_net);
	p->libc_net = lg_add(p->libc_net, d.lv.libc_net);
	err = lg_emit_delta(lg, l, &d);
	if (!err && pm_kind_is_proc(ev->kind))
		EACH_SUB(lg, proc, &l->pub, &p->pub, ev);
	return err;
}

/* Move a process and what it holds to another lane. */
static int proc_move(struct ledger *lg, struct proc *p, struct lane *to, uint64_t ts)
{
	struct lane *from = p->lane;
	struct lg_delta d = {.ts_ns = ts, .pid = p->pub.pid};
	int64_t fp[FS_N];
	int err = lg_gc_abandon(lg, p, ts);

	if (err)
		return err;
	lg_fp_share(p, fp);
	d.lv.py_net = lg_sub(0, p->py_net);
	d.lv.libc_net = lg_sub(0, p->libc_net);
	d.lv.py_live = -(int64_t)p->py.len;
	d.lv.libc_live = -(int64_t)p->libc.len;
	lg_fp_add(&d, fp, -1);
	err = lg_emit_delta(lg, from, &d);
	if (err)
		return err;
	if (from->owner == p) {
		from->pub.ended = true; /* it holds nothing any more */
		from->pub.ended_ns = ts;
	}
	if (from->pub.partial)
		lane_set_partial(lg, from);
	d.lv = (struct lg_levels){
	    .py_net = p->py_net,
	    .libc_net = p->libc_net,
	    .py_live = (int64_t)p->py.len,
	    .libc_live = (int64_t)p->libc.len,
	};
	lg_fp_add(&d, fp, 1);
	lane_join(lg, to, p);
	err = lg_emit_delta(lg, to, &d);
	if (!err)
		err = lg_emit_lane(lg, from);
	if (!err)
		err = lg_emit_lane(lg, to);
	if (!err)
		err = emit_join(lg, to, p);
	return err;
}

static int on_process(struct ledger *lg, const struct pm_process *pr)
{
	struct proc *p;
	struct cont *c;
	int err = 0;

	note_ts(lg, pr->ts_ns);
	p = proc_get(lg, pr->pid);
	if (!p)
		return -ENOMEM;
	proc_revive(p);
	if (pr->cgroup_id) {
		p->pub.cgroup_id = pr->cgroup_id;
		p->have_proc_rec = true;
	}
	lg_set_name(p->pub.comm, sizeof(p->pub.comm), pr->comm);
	lg_set_name(p->pub.path, sizeof(p->pub.path),
		    pr->python && pr->python[0] ? pr->python : str_or_empty(pr->exe));
	lg_set_name(p->pub.python_version, sizeof(p->pub.python_version), pr->python_version);
	p->pub.is_python =
	    (pr->python && pr->python[0]) || (pr->python_version && pr->python_version[0]);
	if (!p->lane)
		return proc_lane(lg, p, pr->ts_ns, &err) ? 0 : err;
	c = cont_find(lg, p->pub.cgroup_id);
	if (c && c->lane != p->lane)
		return proc_move(lg, p, c->lane, pr->ts_ns);
	if (lane_note_proc(p->lane, p))
		return lg_emit_lane(lg, p->lane);
	return 0;
}

static int src_bit(struct ledger *lg, const char *name)
{
	for (unsigned i = 0; i < lg->nsrc; i++)
		if (strcmp(lg->src_names[i], name) == 0)
			return (int)i;
	if (lg->nsrc == SOURCES_MAX)
		return -ENOSPC;
	lg->src_names[lg->nsrc] = strdup(name);
	if (!lg->src_names[lg->nsrc])
		return -ENOMEM;
	return (int)lg->nsrc++;
}

static int on_source(struct ledger *lg, const struct pm_source *src)
{
	uint32_t mask;
	struct proc *p;
	int bit;

	note_ts(lg, src->ts_ns);
	if (!src->pid)
		return 0;
	bit = src_bit(lg, str_or_empty(src->source));
	if (bit == -ENOSPC)
		return 0; /* more source names than any recorder has */
	if (bit < 0)
		return bit;
	p = proc_get(lg, src->pid);
	if (!p)
		return -ENOMEM;
	mask = p->partial_mask;
	if (src->status == PM_SRC_PARTIAL)
		p->partial_mask |= 1u << bit;
	else
		p->partial_mask &= ~(1u << bit);
	if (p->lane && mask != p->partial_mask) {
		lane_set_partial(lg, p->lane);
		return lg_emit_lane(lg, p->lane);
	}
	return 0;
}

static int on_lost(struct ledger *lg, const struct pm_lost *lo)
{
	unsigned k = lo->kind < PM_KIND_MAX ? lo->kind : 0;
	struct lg_delta d = {.ts_ns = lo->ts_ns ? lo->ts_ns : lg->last_ns, .pid = lo->pid};
	uint64_t *last;
	struct lane *l;
	int err = 0;

	note_ts(lg, lo->ts_ns);
	if (lo->pid) {
		struct proc *p = proc_get(lg, lo->pid);

		if (!p)
			return -ENOMEM;
		l = proc_lane(lg, p, d.ts_ns, &err);
		if (!l)
			return err;
		last = &p->lost[k];
	} else {
		if (!lg->unknown) {
			lg->unknown = lane_new(lg, LG_LANE_UNKNOWN, d.ts_ns);
			if (!lg->unknown)
				return -ENOMEM;
			lg_set_name(lg->unknown->pub.name, LG_NAME_MAX, "unidentified processes");
			err = lg_emit_lane(lg, lg->unknown);
			if (err)
				return err;
		}
		l = lg->unknown;
		last = &lg->lost_unknown[k];
	}
	/* Cumulative: only the growth is new. A smaller count is a counter
	 * that started over (a reused pid). */
	d.lv.lost = lo->count >= *last ? lo->count - *last : lo->count;
	*last = lo->count;
	if (!d.lv.lost)
		return 0;
	lg->lost_total += d.lv.lost;
	return lg_emit_delta(lg, l, &d);
}

static int on_container(struct ledger *lg, const struct pm_container *c)
{
	struct cont *ct = cont_find(lg, c->cgroup_id);
	struct lane *l = NULL;
	int err = 0;

	note_ts(lg, c->ts_ns);
	if (!ct) {
		if (lg->nconts == lg->conts_cap) {
			struct cont *v = PM_GROW(lg->conts, &lg->conts_cap, lg->nconts + 1, 8);

			if (!v)
				return -ENOMEM;
			lg->conts = v;
		}
		/* Processes of its cgroup seen before it was: the first one's
		 * lane becomes the container's, the others move in. */
		for (size_t i = 0; i < lg->nprocs && !l; i++) {
			struct proc *p = lg->procs[i];

			if (p->pub.cgroup_id == c->cgroup_id && p->lane && p->lane->owner == p) {
				l = p->lane;
				l->owner = NULL;
				l->pub.pid = 0;
				l->pub.name[0] = 0;
				l->pub.detail[0] = 0;
			}
		}
		if (!l)
			l = lane_new(lg, LG_LANE_CONTAINER, c->ts_ns);
		if (!l)
			return -ENOMEM;
		l->pub.kind = LG_LANE_CONTAINER;
		l->pub.cgroup_id = c->cgroup_id;
		l->pub.ended = false;
		l->pub.ended_ns = 0;
		snprintf(l->pub.name, sizeof(l->pub.name), "cgroup %llu",
			 (unsigned long long)c->cgroup_id);
		ct = &lg->conts[lg->nconts++];
		ct->cgroup_id = c->cgroup_id;
		ct->lane = l;
		for (size_t i = 0; i < lg->nprocs && !err; i++) {
			struct proc *p = lg->procs[i];

			if (p->pub.cgroup_id == c->cgroup_id && p->lane && p->lane != l)
				err = proc_move(lg, p, l, c->ts_ns);
		}
		if (err)
			return err;
	}
	l = ct->lane;
	set_known(l->pub.container, sizeof(l->pub.container), c->name);
	set_known(l->pub.image, sizeof(l->pub.image), c->image);
	set_known(l->pub.id, sizeof(l->pub.id), c->id);
	set_known(l->pub.pod_uid, sizeof(l->pub.pod_uid), c->pod_uid);
	set_known(l->pub.qos, sizeof(l->pub.qos), c->qos);
	set_known(l->pub.detail, sizeof(l->pub.detail), c->image);
	set_known(l->pub.name, sizeof(l->pub.name),
		  c->service && c->service[0] ? c->service : c->name);
	l->pub.ended = c->state == PM_CONTAINER_STOPPED;
	l->pub.ended_ns = l->pub.ended ? c->ts_ns : 0;
	err = lg_emit_lane(lg, l);
	if (!err)
		EACH_SUB(lg, container, &l->pub, c);
	return err;
}

static int on_meta(struct ledger *lg, const struct pm_meta *m)
{
	if (!m->key || strcmp(m->key, "sample_duty") != 0 || lg->sampled)
		return 0;
	lg->sampled = true;
	for (size_t i = 0; i < lg->nlanes; i++) {
		int err;

		lg->lanes[i]->pub.sampled = true;
		err = lg_emit_lane(lg, lg->lanes[i]);
		if (err)
			return err;
	}
	return 0;
}

int ledger__record(struct ledger *lg, const struct pm_record *rec)
{
	int err = 0;

	switch (rec->type) {
	case PM_REC_EVENT:
		err = on_event(lg, &rec->ev);
		break;
	case PM_REC_PROCESS:
		err = on_process(lg, &rec->proc);
		break;
	case PM_REC_SOURCE:
		err = on_source(lg, &rec->src);
		break;
	case PM_REC_LOST:
		err = on_lost(lg, &rec->lost);
		break;
	case PM_REC_CONTAINER:
		err = on_container(lg, &rec->cont);
		break;
	case PM_REC_META:
		err = on_meta(lg, &rec->meta);
		break;
	case PM_REC_END:
		note_ts(lg, rec->end.ts_ns);
		break;
	}
	if (err)
		return err;
	EACH_SUB(lg, record, rec);
	return 0;
}

int ledger__finish(struct ledger *lg)
{
	for (size_t i = 0; i < lg->nprocs; i++) {
		struct proc *p = lg->procs[i];
		int err;

		if (p->gc_open && p->lane && (err = lg_gc_abandon(lg, p, lg->last_ns)))
			return err;
	}
	return 0;
}

static int ledger_sink_record(struct pm_sink *sink, const struct pm_record *rec)
{
	return ledger__record((struct ledger *)((char *)sink - offsetof(struct ledger, sink)), rec);
}

static int ledger_sink_finish(struct pm_sink *sink)
{
	return ledger__finish((struct ledger *)((char *)sink - offsetof(struct ledger, sink)));
}

struct ledger *ledger__new(void)
{
	struct ledger *lg = calloc(1, sizeof(*lg));

	if (!lg)
		return NULL;
	lg->sink.record = ledger_sink_record;
	lg->sink.finish = ledger_sink_finish;
	lg->pids = (struct pid_index){.key_off = offsetof(struct proc, pub.pid)};
	return lg;
}

void ledger__free(struct ledger *lg)
{
	if (!lg)
		return;
	for (size_t i = 0; i < lg->nprocs; i++)
		proc_free(lg->procs[i]);
	free(lg->procs);
	pid_index__free(&lg->pids);
	for (size_t i = 0; i < lg->nlanes; i++)
		free(lg->lanes[i]);
	free(lg->lanes);
	free(lg->conts);
	str_intern__free(&lg->types);
	for (unsigned i = 0; i < lg->nsrc; i++)
		free(lg->src_names[i]);
	free(lg);
}

int ledger__subscribe(struct ledger *lg, const struct lg_ops *ops, void *ctx)
{
	if (lg->nsubs == SUBS_MAX)
		return -ENOSPC;
	lg->subs[lg->nsubs++] = (struct sub){ops, ctx};
	return 0;
}

struct pm_sink *ledger__sink(struct ledger *lg)
{
	return &lg->sink;
}

size_t ledger__lane_count(const struct ledger *lg)
{
	return lg->nlanes;
}

const struct lg_lane *ledger__lane(const struct ledger *lg, size_t i)
{
	return i < lg->nlanes ? &lg->lanes[i]->pub : NULL;
}

const char *ledger__type_name(const struct ledger *lg, uint32_t type_id)
{
	return type_id < lg->types.n ? lg->types.names[type_id] : "";
}

uint32_t ledger__type_count(const struct ledger *lg)
{
	return lg->types.n;
}

uint64_t ledger__last_ns(const struct ledger *lg)
{
	return lg->last_ns;
}

uint64_t ledger__lost_total(const struct ledger *lg)
{
	return lg->lost_total;
}

uint64_t ledger__live_blocks(const struct ledger *lg)
{
	return lg->live_blocks;
}

size_t ledger__memory(const struct ledger *lg)
{
	size_t sum = sizeof(*lg) + lg->lanes_cap * sizeof(*lg->lanes) +
		     lg->nlanes * sizeof(struct lane) + lg->conts_cap * sizeof(*lg->conts);

	for (size_t i = 0; i < lg->nprocs; i++)
		sum += sizeof(struct proc) + u64map__memory(&lg->procs[i]->py) +
		       u64map__memory(&lg->procs[i]->libc);
	sum += pid_index__memory(&lg->pids) + lg->procs_cap * sizeof(*lg->procs);
	sum += str_intern__memory(&lg->types);
	return sum;
}
