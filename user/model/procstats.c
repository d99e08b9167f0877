// SPDX-License-Identifier: MIT
/*
 * Per-process books (procstats.h). The accounting is the ledger's: its
 * deltas are added up per process here. Every event costs one pid lookup
 * (the last process found is cached: events come in runs of one pid).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/procstats.h"
#include "util/grow.h"

bool procstats__kind_sampled(unsigned k)
{
	return (k >= PM_PY_MALLOC && k <= PM_PY_DEALLOC) || (k >= PM_MALLOC && k <= PM_FREE);
}

static int set_str(char **dst, const char *s)
{
	char *copy;

	if (!s)
		s = "";
	if (*dst && strcmp(*dst, s) == 0)
		return 0;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

/* Empty strings do not overwrite known ones: a STOPPED record may carry
 * less than the RUNNING one. */
static int set_known_str(char **dst, const char *s)
{
	if (*dst && (!s || !s[0]))
		return 0;
	return set_str(dst, s);
}

static void note_ts(struct procstats *ps, uint64_t ts)
{
	if (!ps->have_first_ts) {
		ps->have_first_ts = true;
		ps->first_ts = ts;
	}
}

/* ---- processes ---- */

/* The process with this pid, created on first sight; NULL on ENOMEM. */
static struct ps_proc *proc_get(struct procstats *ps, uint32_t pid)
{
	struct ps_proc *p = pid_index__find(&ps->pids, pid);

	return p ? p
		 : pid_index__make(&ps->pids, pid, sizeof(*p), (void ***)&ps->procs, &ps->nprocs,
				   &ps->procs_cap);
}

static void proc_seen(struct ps_proc *p, uint64_t ts)
{
	if (!p->have_seen || ts < p->first_ts) {
		p->have_seen = true;
		p->first_ts = ts;
	}
}

static void proc_free(struct ps_proc *p)
{
	free(p->comm);
	free(p->exe);
	free(p->python);
	free(p->python_version);
	u64map__free(&p->types);
	for (size_t i = 0; i < p->nsources; i++) {
		free(p->sources[i].name);
		free(p->sources[i].detail);
	}
	free(p->sources);
	footprint__free(&p->fp);
	free(p);
}

/* ---- the ledger's books, per process ---- */

static int on_join(void *ctx, const struct lg_lane *l, const struct lg_proc *lp)
{
	struct ps_proc *p = proc_get(ctx, lp->pid);

	if (!p)
		return -ENOMEM;
	p->have_lane = true;
	p->lane = l->index;
	return 0;
}

static int on_delta(void *ctx, const struct lg_lane *l, const struct lg_delta *d)
{
	struct ps_proc *p;

	if (!d->pid)
		return 0; /* pid-0 losses: the lane's alone */
	p = proc_get(ctx, d->pid);
	if (!p)
		return -ENOMEM;
	p->have_lane = true;
	p->lane = l->index;
	if (d->kind && d->kind < PM_KIND_MAX)
		p->counts[d->kind]++;
	p->py_bytes += d->py_alloc_bytes;
	p->libc_bytes += d->libc_alloc_bytes;
	p->py_free_bytes += d->py_free_bytes;
	p->libc_free_bytes += d->libc_free_bytes;
	p->py_net = lg_add(p->py_net, d->lv.py_net);
	p->libc_net = lg_add(p->libc_net, d->lv.libc_net);
	if (d->kind == PM_EXIT || d->kind == PM_EXEC) {
		p->py_held_at_exit = lg_sub(0, d->lv.py_net);
		p->libc_held_at_exit = lg_sub(0, d->lv.libc_net);
	}
	p->unmatched_frees += d->unmatched;
	p->unmatched_py_frees += d->unmatched_py;
	p->py_unaddressed_allocs += d->py_unaddressed;
	p->gc_traced_inside += d->gc_inside;
	lg_delta__add_gc(d, p->gc_gen, &p->gc_collected, &p->gc_uncollectable, &p->gc_time_ns);
	return 0;
}

static int on_dealloc(void *ctx, const struct lg_lane *l, const struct lg_proc *lp, uint64_t ts,
		      uint32_t id)
{
	struct ps_proc *p = proc_get(ctx, lp->pid);
	struct u64map_ent *e;

	(void)l;
	(void)ts;
	if (!p)
		return -ENOMEM;
	e = u64map__get(&p->types, (uint64_t)id + 1);
	if (!e)
		return -ENOMEM;
	e->val++;
	return 0;
}

/* ---- what the records describe ---- */

static int on_event(struct procstats *ps, const struct pm_event *ev)
{
	struct ps_proc *p;
	unsigned k = ev->kind;

	ps->events++;
	note_ts(ps, ev->ts_ns);
	if (!ps->have_event_ts || ev->ts_ns > ps->last_event_ts) {
		ps->have_event_ts = true;
		ps->last_event_ts = ev->ts_ns;
	}
	p = proc_get(ps, ev->pid);
	if (!p)
		return -ENOMEM;
	proc_seen(p, ev->ts_ns);
	if (!p->cgroup_id)
		p->cgroup_id = ev->cgroup_id;
	if (pm_kind_is_footprint(k) || k == PM_EXEC) {
		int err = footprint__apply(&p->fp, ev, p->python_version);

		if (err)
			return err;
	}
	switch (k) {
	case PM_GC_START:
	case PM_GC_DONE:
		if (ev->gc.source == PM_GC_SRC_USDT)
			p->gc_src |= PS_GC_SEEN_USDT;
		else if (ev->gc.source == PM_GC_SRC_UPROBE)
			p->gc_src |= PS_GC_SEEN_UPROBE;
		break;
	case PM_EXEC:
		p->ppid = ev->proc.ppid;
		if (set_str(&p->comm, ev->proc.comm) || set_str(&p->exe, ev->proc.path))
			return -ENOMEM;
		break;
	case PM_EXIT:
		p->exited = true;
		p->exit_code = ev->proc.exit_code;
		p->exit_ts = ev->ts_ns;
		if (!p->comm || !p->comm[0])
			return set_str(&p->comm, ev->proc.comm);
		break;
	default:
		break;
	}
	return 0;
}

static int on_process(struct procstats *ps, const struct pm_process *pr)
{
	struct ps_proc *p;

	note_ts(ps, pr->ts_ns);
	p = proc_get(ps, pr->pid);
	if (!p)
		return -ENOMEM;
	proc_seen(p, pr->ts_ns);
	p->ppid = pr->ppid;
	p->origins |= 1u << pr->origin;
	if (pr->cgroup_id)
		p->cgroup_id = pr->cgroup_id;
	if (set_str(&p->comm, pr->comm) || set_str(&p->exe, pr->exe) ||
	    set_str(&p->python, pr->python) || set_str(&p->python_version, pr->python_version))
		return -ENOMEM;
	return 0;
}

static int on_source(struct procstats *ps, const struct pm_source *src)
{
	const char *name = src->source ? src->source : "";
	struct ps_source *st = NULL;
	struct ps_proc *p;

	note_ts(ps, src->ts_ns);
	if (!src->pid)
		return 0;
	p = proc_get(ps, src->pid);
	if (!p)
		return -ENOMEM;
	/* A handful of sources per process: a list is enough. */
	for (size_t i = 0; i < p->nsources; i++) {
		if (strcmp(p->sources[i].name, name) == 0) {
			st = &p->sources[i];
			break;
		}
	}
	if (!st) {
		struct ps_source *v = realloc(p->sources, (p->nsources + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->sources = v;
		st = &v[p->nsources];
		memset(st, 0, sizeof(*st));
		if (set_str(&st->name, name))
			return -ENOMEM;
		p->nsources++;
	}
	st->status = src->status;
	return set_str(&st->detail, src->detail);
}

static int on_lost(struct procstats *ps, const struct pm_lost *l)
{
	unsigned k = l->kind < PM_KIND_MAX ? l->kind : 0;
	struct ps_proc *p;

	note_ts(ps, l->ts_ns);
	/* Counts are cumulative, so the latest one replaces the earlier. */
	if (!l->pid) {
		ps->lost_unattributed[k] = l->count;
		return 0;
	}
	p = proc_get(ps, l->pid);
	if (!p)
		return -ENOMEM;
	p->lost[k] = l->count;
	return 0;
}

static int on_container(struct procstats *ps, const struct pm_container *c)
{
	struct ps_cont *ct = NULL;

	note_ts(ps, c->ts_ns);
	for (size_t i = 0; i < ps->nconts; i++) {
		if (ps->conts[i].cgroup_id == c->cgroup_id) {
			ct = &ps->conts[i];
			break;
		}
	}
	if (!ct) {
		if (ps->nconts == ps->conts_cap) {
			struct ps_cont *v = PM_GROW(ps->conts, &ps->conts_cap, ps->nconts + 1, 8);

			if (!v)
				return -ENOMEM;
			ps->conts = v;
		}
		ct = &ps->conts[ps->nconts++];
		memset(ct, 0, sizeof(*ct));
		ct->cgroup_id = c->cgroup_id;
	}
	if (set_known_str(&ct->runtime, c->runtime) || set_known_str(&ct->id, c->id) ||
	    set_known_str(&ct->name, c->name) || set_known_str(&ct->image, c->image) ||
	    set_known_str(&ct->project, c->project) || set_known_str(&ct->service, c->service) ||
	    set_known_str(&ct->pod_uid, c->pod_uid) || set_known_str(&ct->qos, c->qos))
		return -ENOMEM;
	if (c->state == PM_CONTAINER_STOPPED) {
		ct->stopped = true;
		ct->stop_ts = c->ts_ns;
	} else {
		/* traced again after a stop: running from the first start on */
		ct->stopped = false;
		if (!ct->have_start) {
			ct->have_start = true;
			ct->start_ts = c->ts_ns;
		}
	}
	return 0;
}

static int on_missed_container(struct procstats *ps, const char *value)
{
	struct ps_missed *m;
	unsigned long long ran;
	int at = 0;

	if (sscanf(value, "%llu %n", &ran, &at) != 1 || !at || !value[at])
		return 0; /* malformed: not a missed container worth naming */
	m = realloc(ps->missed, (ps->nmissed + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	ps->missed = m;
	m = &ps->missed[ps->nmissed];
	m->ran_ns = ran;
	m->name = strdup(value + at);
	if (!m->name)
		return -ENOMEM;
	ps->nmissed++;
	return 0;
}

static int on_sample_meta(struct procstats *ps, const char *key, const char *value)
{
	unsigned long long a, b;

	if (!key || !value)
		return 0;
	if (strcmp(key, "missed_container") == 0) {
		return on_missed_container(ps, value);
	} else if (strcmp(key, "sample_duty") == 0) {
		ps->sample_duty = strtod(value, NULL);
	} else if (strcmp(key, "sample_period_ns") == 0) {
		ps->sample_period_ns = strtoull(value, NULL, 10);
	} else if (strcmp(key, "sample_window") == 0 && sscanf(value, "%llu %llu", &a, &b) == 2 &&
		   b >= a) {
		if (ps->nwindows == ps->windows_cap) {
			struct ps_window *w =
			    PM_GROW(ps->windows, &ps->windows_cap, ps->nwindows + 1, 64);

			if (!w)
				return -ENOMEM;
			ps->windows = w;
		}
		ps->windows[ps->nwindows++] = (struct ps_window){a, b};
	}
	return 0;
}

static struct ps_module *module__find(const struct procstats *ps, const char *container, size_t len)
{
	for (size_t i = 0; i < ps->nmodules; i++)
		if (strlen(ps->modules[i].container) == len &&
		    !strncmp(ps->modules[i].container, container, len))
			return &ps->modules[i];
	return NULL;
}

/* META module "CONTAINER MODULE HEADING" and module_exit "CONTAINER CODE";
 * malformed values are left out, as unknown keys are. */
static int on_module_meta(struct procstats *ps, const char *key, const char *value)
{
	const char *sp = value ? strchr(value, ' ') : NULL, *sp2;
	struct ps_module *m;

	if (!sp || sp == value)
		return 0;
	m = module__find(ps, value, sp - value);
	if (strcmp(key, "module_exit") == 0) {
		char *end;
		long code = strtol(sp + 1, &end, 10);

		if (m && !*end && end != sp + 1 && code >= 0 && code <= 255)
			m->exit_code = (int)code;
		return 0;
	}
	sp2 = strchr(sp + 1, ' ');
	if (m || sp2 == sp + 1)
		return 0;
	if (ps->nmodules == ps->modules_cap) {
		struct ps_module *v = PM_GROW(ps->modules, &ps->modules_cap, ps->nmodules + 1, 8);

		if (!v)
			return -ENOMEM;
		ps->modules = v;
	}
	m = &ps->modules[ps->nmodules];
	memset(m, 0, sizeof(*m));
	m->exit_code = -1;
	m->container = strndup(value, sp - value);
	m->module = sp2 ? strndup(sp + 1, sp2 - sp - 1) : strdup(sp + 1);
	m->heading = strdup(sp2 ? sp2 + 1 : "");
	if (!m->container || !m->module || !m->heading) {
		free(m->container);
		free(m->module);
		free(m->heading);
		return -ENOMEM;
	}
	ps->nmodules++;
	return 0;
}

const struct ps_module *procstats__module_of(const struct procstats *ps, const struct ps_cont *c)
{
	return c && c->name ? module__find(ps, c->name, strlen(c->name)) : NULL;
}

static int on_record(void *ctx, const struct pm_record *rec)
{
	struct procstats *ps = ctx;

	switch (rec->type) {
	case PM_REC_EVENT:
		return on_event(ps, &rec->ev);
	case PM_REC_PROCESS:
		return on_process(ps, &rec->proc);
	case PM_REC_SOURCE:
		return on_source(ps, &rec->src);
	case PM_REC_LOST:
		return on_lost(ps, &rec->lost);
	case PM_REC_META:
		if (rec->meta.key && strcmp(rec->meta.key, "command") == 0)
			return set_str(&ps->command, rec->meta.value);
		if (rec->meta.key &&
		    (!strcmp(rec->meta.key, "module") || !strcmp(rec->meta.key, "module_exit")))
			return on_module_meta(ps, rec->meta.key, rec->meta.value);
		return on_sample_meta(ps, rec->meta.key, rec->meta.value);
	case PM_REC_END:
		note_ts(ps, rec->end.ts_ns);
		ps->complete = true;
		ps->end_ts = rec->end.ts_ns;
		return 0;
	case PM_REC_CONTAINER:
		return on_container(ps, &rec->cont);
	}
	return 0;
}

static const struct lg_ops procstats_ops = {
    .join = on_join,
    .delta = on_delta,
    .dealloc = on_dealloc,
    .record = on_record,
};

struct procstats *procstats__new_on(struct ledger *lg)
{
	struct procstats *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->lg = lg;
	ps->pids = PID_INDEX_INIT(struct ps_proc);
	if (ledger__subscribe(lg, &procstats_ops, ps)) {
		free(ps);
		errno = ENOSPC;
		return NULL;
	}
	return ps;
}

struct procstats *procstats__new(void)
{
	struct ledger *lg = ledger__new();
	struct procstats *ps;

	if (!lg)
		return NULL;
	ps = procstats__new_on(lg);
	if (!ps) {
		ledger__free(lg);
		return NULL;
	}
	ps->own_lg = true;
	return ps;
}

void procstats__free(struct procstats *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->nprocs; i++)
		proc_free(ps->procs[i]);
	free(ps->procs);
	pid_index__free(&ps->pids);
	free(ps->command);
	free(ps->windows);
	for (size_t i = 0; i < ps->nmissed; i++)
		free(ps->missed[i].name);
	free(ps->missed);
	for (size_t i = 0; i < ps->nmodules; i++) {
		free(ps->modules[i].container);
		free(ps->modules[i].module);
		free(ps->modules[i].heading);
	}
	free(ps->modules);
	for (size_t i = 0; i < ps->nconts; i++) {
		struct ps_cont *c = &ps->conts[i];

		free(c->runtime);
		free(c->id);
		free(c->name);
		free(c->image);
		free(c->project);
		free(c->service);
		free(c->pod_uid);
		free(c->qos);
	}
	free(ps->conts);
	if (ps->own_lg)
		ledger__free(ps->lg);
	free(ps);
}

struct pm_sink *procstats__sink(struct procstats *ps)
{
	return ledger__sink(ps->lg);
}

const char *procstats__type_name(const struct procstats *ps, uint32_t type_id)
{
	return ledger__type_name(ps->lg, type_id);
}

const struct ps_cont *procstats__container_of(const struct procstats *ps, const struct ps_proc *p)
{
	for (size_t i = 0; i < ps->nconts; i++)
		if (ps->conts[i].cgroup_id == p->cgroup_id)
			return &ps->conts[i];
	return NULL;
}
