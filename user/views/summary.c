// SPDX-License-Identifier: MIT
/*
 * Per-process aggregation. Every event costs one pid lookup and, for
 * deallocations, one type-name lookup, both in open-addressing tables, so
 * replaying traces with millions of events and thousands of types stays
 * linear.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "util/json_out.h"
#include "model/intern.h"
#include "model/addrtab.h"
#include "model/pidindex.h"
#include "views/summary.h"
#include "model/footprint.h"

#define NGEN 3 /* CPython has three generations */

enum gc_src_bits {
	GC_SEEN_USDT = 1,
	GC_SEEN_UPROBE = 2,
};

/* Deallocations of one interned type in one process. */
struct type_count {
	uint32_t id_plus1; /* 0: empty slot */
	uint64_t count;
};

struct source_state {
	char *name;
	char *detail;
	enum pm_source_status status;
};

struct proc {
	uint32_t pid;
	uint32_t ppid;
	uint64_t cgroup_id;
	char *comm;
	char *exe;
	char *python;
	char *python_version;
	bool exited;
	int32_t exit_code;

	uint64_t counts[PM_KIND_MAX];
	uint64_t py_bytes;
	uint64_t libc_bytes;

	uint64_t gc_gen[NGEN];
	uint64_t gc_collected;
	uint64_t gc_time_ns;
	unsigned gc_src;

	struct type_count *types;
	uint32_t types_cap; /* power of two */
	uint32_t types_len;

	/* Latest cumulative count per kind; [0] holds kinds we do not know. */
	uint64_t lost[PM_KIND_MAX];

	struct source_state *sources;
	size_t nsources;

	struct footprint fp;

	/* its life in the trace: first record, and its exit */
	bool have_seen;
	uint64_t first_ts;
	uint64_t exit_ts;
};

/* A window in which a sampled trace's allocation probes were armed. */
struct sample_window {
	uint64_t start, end;
};

/* A container as its CONTAINER records describe it. */
struct cont {
	uint64_t cgroup_id;
	char *runtime;
	char *id;
	char *name;
	char *image;
	char *project;
	char *service;
	bool have_start; /* a RUNNING record was seen */
	uint64_t start_ts;
	bool stopped; /* the latest record says STOPPED */
	uint64_t stop_ts;
};

struct summary {
	struct pm_sink sink;

	struct cont *conts; /* in order of first sight; a handful at most */
	size_t nconts, conts_cap;

	struct proc **procs; /* in order of first sight */
	size_t nprocs, procs_cap;
	struct pid_index pids;

	struct str_intern types_in; /* deallocated type names */

	uint64_t events;
	bool have_first_ts;
	uint64_t first_ts;
	bool have_event_ts;
	uint64_t last_event_ts;
	bool complete;
	uint64_t end_ts;
	uint64_t lost_unattributed[PM_KIND_MAX];
	char *command;

	/* --sample-duty: META sample_duty, sample_period_ns, sample_window */
	double sample_duty;
	uint64_t sample_period_ns;
	struct sample_window *windows;
	size_t nwindows, windows_cap;
};

/* Kinds that --sample-duty sees only in its windows; the others (GC,
 * process life, footprint) are traced throughout. */
static bool kind_sampled(unsigned k)
{
	return (k >= PM_PY_MALLOC && k <= PM_PY_DEALLOC) || (k >= PM_MALLOC && k <= PM_FREE);
}

static bool sampled(const struct summary *s)
{
	return s->nwindows || s->sample_duty > 0;
}

static void proc_seen(struct proc *p, uint64_t ts)
{
	if (!p->have_seen || ts < p->first_ts) {
		p->have_seen = true;
		p->first_ts = ts;
	}
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

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* ---- processes ---- */

/* The process with this pid, created on first sight; NULL on ENOMEM. */
static struct proc *proc_get(struct summary *s, uint32_t pid)
{
	struct proc *p = pid_index__find(&s->pids, pid);

	return p ? p
		 : pid_index__make(&s->pids, pid, sizeof(*p), (void ***)&s->procs, &s->nprocs,
				   &s->procs_cap);
}

static void proc_free(struct proc *p)
{
	free(p->comm);
	free(p->exe);
	free(p->python);
	free(p->python_version);
	free(p->types);
	for (size_t i = 0; i < p->nsources; i++) {
		free(p->sources[i].name);
		free(p->sources[i].detail);
	}
	free(p->sources);
	footprint__free(&p->fp);
	free(p);
}

/* ---- type names ---- */

static int proc_types_grow(struct proc *p)
{
	uint32_t cap = p->types_cap ? p->types_cap * 2 : 64;
	struct type_count *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->types_cap; i++) {
		uint32_t j;

		if (!p->types[i].id_plus1)
			continue;
		for (j = pm_hash_u32(p->types[i].id_plus1) & (cap - 1); t[j].id_plus1;
		     j = (j + 1) & (cap - 1))
			;
		t[j] = p->types[i];
	}
	free(p->types);
	p->types = t;
	p->types_cap = cap;
	return 0;
}

static int proc_count_type(struct proc *p, uint32_t id)
{
	uint32_t key = id + 1, j;

	if (p->types_cap) {
		for (j = pm_hash_u32(key) & (p->types_cap - 1); p->types[j].id_plus1;
		     j = (j + 1) & (p->types_cap - 1)) {
			if (p->types[j].id_plus1 == key) {
				p->types[j].count++;
				return 0;
			}
		}
	}
	if ((p->types_len + 1) * 2 > p->types_cap && proc_types_grow(p))
		return -ENOMEM;
	for (j = pm_hash_u32(key) & (p->types_cap - 1); p->types[j].id_plus1;
	     j = (j + 1) & (p->types_cap - 1))
		;
	p->types[j].id_plus1 = key;
	p->types[j].count = 1;
	p->types_len++;
	return 0;
}

/* ---- feeding ---- */

static void note_ts(struct summary *s, uint64_t ts)
{
	if (!s->have_first_ts) {
		s->have_first_ts = true;
		s->first_ts = ts;
	}
}

static int on_event(struct summary *s, const struct pm_event *ev)
{
	struct proc *p;
	unsigned k = ev->kind;

	s->events++;
	note_ts(s, ev->ts_ns);
	if (!s->have_event_ts || ev->ts_ns > s->last_event_ts) {
		s->have_event_ts = true;
		s->last_event_ts = ev->ts_ns;
	}

	p = proc_get(s, ev->pid);
	if (!p)
		return -ENOMEM;
	proc_seen(p, ev->ts_ns);
	if (!p->cgroup_id)
		p->cgroup_id = ev->cgroup_id;
	if (k == 0 || k >= PM_KIND_MAX)
		return 0; /* a newer recorder's kind: nothing we can say about it */
	p->counts[k]++;
	if (pm_kind_is_footprint(k) || k == PM_EXEC) {
		int err = footprint__apply(&p->fp, ev, p->python_version);

		if (err)
			return err;
	}

	switch (k) {
	case PM_PY_MALLOC:
	case PM_PY_CALLOC:
	case PM_PY_REALLOC:
		p->py_bytes += ev->alloc.size;
		break;
	case PM_MALLOC:
	case PM_CALLOC:
	case PM_REALLOC:
		p->libc_bytes += ev->alloc.size;
		break;
	case PM_PY_DEALLOC: {
		int64_t id = str_intern__id(&s->types_in, str_or_empty(ev->dealloc.type_name));

		if (id < 0)
			return (int)id;
		return proc_count_type(p, (uint32_t)id);
	}
	case PM_GC_START:
	case PM_GC_DONE:
		if (ev->gc.source == PM_GC_SRC_USDT)
			p->gc_src |= GC_SEEN_USDT;
		else if (ev->gc.source == PM_GC_SRC_UPROBE)
			p->gc_src |= GC_SEEN_UPROBE;
		if (k == PM_GC_START)
			break;
		if (ev->gc.generation >= 0 && ev->gc.generation < NGEN)
			p->gc_gen[ev->gc.generation]++;
		if (ev->gc.collected >= 0)
			p->gc_collected += (uint64_t)ev->gc.collected;
		p->gc_time_ns += ev->gc.duration_ns;
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

static int on_process(struct summary *s, const struct pm_process *pr)
{
	struct proc *p;

	note_ts(s, pr->ts_ns);
	p = proc_get(s, pr->pid);
	if (!p)
		return -ENOMEM;
	proc_seen(p, pr->ts_ns);
	p->ppid = pr->ppid;
	if (pr->cgroup_id)
		p->cgroup_id = pr->cgroup_id;
	if (set_str(&p->comm, pr->comm) || set_str(&p->exe, pr->exe) ||
	    set_str(&p->python, pr->python) || set_str(&p->python_version, pr->python_version))
		return -ENOMEM;
	return 0;
}

static int on_source(struct summary *s, const struct pm_source *src)
{
	const char *name = str_or_empty(src->source);
	struct source_state *st = NULL;
	struct proc *p;

	note_ts(s, src->ts_ns);
	if (!src->pid)
		return 0;
	p = proc_get(s, src->pid);
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
		struct source_state *v = realloc(p->sources, (p->nsources + 1) * sizeof(*v));

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

static int on_lost(struct summary *s, const struct pm_lost *l)
{
	unsigned k = l->kind < PM_KIND_MAX ? l->kind : 0;
	struct proc *p;

	note_ts(s, l->ts_ns);
	/* Counts are cumulative, so the latest one replaces the earlier. */
	if (!l->pid) {
		s->lost_unattributed[k] = l->count;
		return 0;
	}
	p = proc_get(s, l->pid);
	if (!p)
		return -ENOMEM;
	p->lost[k] = l->count;
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

static int on_container(struct summary *s, const struct pm_container *c)
{
	struct cont *ct = NULL;

	note_ts(s, c->ts_ns);
	for (size_t i = 0; i < s->nconts; i++) {
		if (s->conts[i].cgroup_id == c->cgroup_id) {
			ct = &s->conts[i];
			break;
		}
	}
	if (!ct) {
		if (s->nconts == s->conts_cap) {
			size_t cap = s->conts_cap ? s->conts_cap * 2 : 8;
			struct cont *v = realloc(s->conts, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->conts = v;
			s->conts_cap = cap;
		}
		ct = &s->conts[s->nconts++];
		memset(ct, 0, sizeof(*ct));
		ct->cgroup_id = c->cgroup_id;
	}
	if (set_known_str(&ct->runtime, c->runtime) || set_known_str(&ct->id, c->id) ||
	    set_known_str(&ct->name, c->name) || set_known_str(&ct->image, c->image) ||
	    set_known_str(&ct->project, c->project) || set_known_str(&ct->service, c->service))
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

static int on_sample_meta(struct summary *s, const char *key, const char *value)
{
	unsigned long long a, b;

	if (!key || !value)
		return 0;
	if (strcmp(key, "sample_duty") == 0) {
		s->sample_duty = strtod(value, NULL);
	} else if (strcmp(key, "sample_period_ns") == 0) {
		s->sample_period_ns = strtoull(value, NULL, 10);
	} else if (strcmp(key, "sample_window") == 0 && sscanf(value, "%llu %llu", &a, &b) == 2 &&
		   b >= a) {
		if (s->nwindows == s->windows_cap) {
			size_t cap = s->windows_cap ? s->windows_cap * 2 : 64;
			struct sample_window *w = realloc(s->windows, cap * sizeof(*w));

			if (!w)
				return -ENOMEM;
			s->windows = w;
			s->windows_cap = cap;
		}
		s->windows[s->nwindows++] = (struct sample_window){a, b};
	}
	return 0;
}

static int summary__record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct summary *s = (struct summary *)((char *)sink - offsetof(struct summary, sink));

	switch (rec->type) {
	case PM_REC_EVENT:
		return on_event(s, &rec->ev);
	case PM_REC_PROCESS:
		return on_process(s, &rec->proc);
	case PM_REC_SOURCE:
		return on_source(s, &rec->src);
	case PM_REC_LOST:
		return on_lost(s, &rec->lost);
	case PM_REC_META:
		if (rec->meta.key && strcmp(rec->meta.key, "command") == 0)
			return set_str(&s->command, rec->meta.value);
		return on_sample_meta(s, rec->meta.key, rec->meta.value);
	case PM_REC_END:
		note_ts(s, rec->end.ts_ns);
		s->complete = true;
		s->end_ts = rec->end.ts_ns;
		return 0;
	case PM_REC_CONTAINER:
		return on_container(s, &rec->cont);
	}
	return 0;
}

struct summary *summary__new(void)
{
	struct summary *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->sink.record = summary__record;
	s->pids = PID_INDEX_INIT(struct proc);
	return s;
}

void summary__free(struct summary *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprocs; i++)
		proc_free(s->procs[i]);
	free(s->procs);
	pid_index__free(&s->pids);
	str_intern__free(&s->types_in);
	free(s->command);
	free(s->windows);
	for (size_t i = 0; i < s->nconts; i++) {
		struct cont *c = &s->conts[i];

		free(c->runtime);
		free(c->id);
		free(c->name);
		free(c->image);
		free(c->project);
		free(c->service);
	}
	free(s->conts);
	free(s);
}

struct pm_sink *summary__sink(struct summary *s)
{
	return &s->sink;
}

/* ---- derived values ---- */

struct trace_totals {
	uint32_t version;
	uint64_t start_ns;
	uint64_t duration_ns;
	uint64_t lost;
	uint64_t lost_unattributed;
};

static uint64_t lost_sum(const uint64_t *lost)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < PM_KIND_MAX; k++)
		n += lost[k];
	return n;
}

static void trace_totals(const struct summary *s, const struct pm_trace_info *info,
			 struct trace_totals *t)
{
	uint64_t end;

	t->version = info ? info->version : 0;
	t->start_ns = info ? info->start_ns : s->first_ts;
	end = s->complete ? s->end_ts : s->have_event_ts ? s->last_event_ts : t->start_ns;
	t->duration_ns = end > t->start_ns ? end - t->start_ns : 0;
	t->lost_unattributed = lost_sum(s->lost_unattributed);
	t->lost = t->lost_unattributed;
	for (size_t i = 0; i < s->nprocs; i++)
		t->lost += lost_sum(s->procs[i]->lost);
}

/* ---- sampling ---- */

/* Time armed by the windows within [from, to). */
static uint64_t armed_between(const struct summary *s, uint64_t from, uint64_t to)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < s->nwindows; i++) {
		uint64_t a = s->windows[i].start > from ? s->windows[i].start : from;
		uint64_t b = s->windows[i].end < to ? s->windows[i].end : to;

		if (b > a)
			sum += b - a;
	}
	return sum;
}

/* How a sampled process's counts scale: its life in the trace and the
 * armed time within it. */
struct proc_sampling {
	uint64_t life_ns, armed_ns;
	double scale; /* life / armed; 0: no window while it ran */
};

static void proc_sampling(const struct summary *s, const struct trace_totals *t,
			  const struct proc *p, struct proc_sampling *ps)
{
	uint64_t end = t->start_ns + t->duration_ns;
	uint64_t from = p->have_seen && p->first_ts > t->start_ns ? p->first_ts : t->start_ns;
	uint64_t to = p->exited && p->exit_ts && p->exit_ts < end ? p->exit_ts : end;

	if (to < from)
		to = from;
	ps->life_ns = to - from;
	ps->armed_ns = armed_between(s, from, to);
	if (ps->armed_ns > ps->life_ns)
		ps->armed_ns = ps->life_ns;
	ps->scale = ps->armed_ns ? (double)ps->life_ns / (double)ps->armed_ns : 0;
}

/* count seen in the windows, scaled to the whole life */
static uint64_t estimate(uint64_t count, const struct proc_sampling *ps)
{
	return (uint64_t)((double)count * ps->scale + 0.5);
}

static const char *gc_source_name(unsigned bits)
{
	switch (bits) {
	case 0:
		return "none";
	case GC_SEEN_USDT:
		return "usdt";
	case GC_SEEN_UPROBE:
		return "uprobe";
	}
	return "usdt+uprobe";
}

static uint64_t gc_unfinished(const struct proc *p)
{
	uint64_t starts = p->counts[PM_GC_START], dones = p->counts[PM_GC_DONE];

	return starts > dones ? starts - dones : 0;
}

static const char *lost_kind_name(unsigned k)
{
	return k ? pm_kind_name(k) : "unknown";
}

static int cmp_proc_pid(const void *a, const void *b)
{
	const struct proc *x = *(const struct proc *const *)a;
	const struct proc *y = *(const struct proc *const *)b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Processes sorted by pid, in a new array the caller frees. */
static struct proc **sorted_procs(const struct summary *s)
{
	struct proc **v = malloc((s->nprocs ? s->nprocs : 1) * sizeof(*v));

	if (!v)
		return NULL;
	if (s->nprocs) {
		memcpy(v, s->procs, s->nprocs * sizeof(*v));
		qsort(v, s->nprocs, sizeof(*v), cmp_proc_pid);
	}
	return v;
}

/* ---- containers ---- */

/* Index of the container holding p, or -1 for a host process. */
static ssize_t proc_container(const struct summary *s, const struct proc *p)
{
	for (size_t i = 0; i < s->nconts; i++)
		if (s->conts[i].cgroup_id == p->cgroup_id)
			return (ssize_t)i;
	return -1;
}

/*
 * One group of the summary: a container (c != NULL) or the host. procs
 * points into the pid-sorted array (a new array the caller frees), and
 * totals sums their counters.
 */
struct group {
	const struct cont *c;
	struct proc **procs;
	size_t nprocs;
	uint64_t host_cgroup; /* the host processes' cgroup if they share one, else 0 */
	struct proc totals;   /* counters only: no strings, types or sources */
	uint64_t gc_unfinished;
};

static void group_add(struct group *g, struct proc *p)
{
	struct proc *t = &g->totals;

	g->procs[g->nprocs++] = p;
	for (unsigned k = 0; k < PM_KIND_MAX; k++) {
		t->counts[k] += p->counts[k];
		t->lost[k] += p->lost[k];
	}
	t->py_bytes += p->py_bytes;
	t->libc_bytes += p->libc_bytes;
	for (unsigned gen = 0; gen < NGEN; gen++)
		t->gc_gen[gen] += p->gc_gen[gen];
	t->gc_collected += p->gc_collected;
	t->gc_time_ns += p->gc_time_ns;
	t->gc_src |= p->gc_src;
	g->gc_unfinished += gc_unfinished(p);
}

static void groups_free(struct group *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++)
		free(g[i].procs);
	free(g);
}

/*
 * Containers in order of first sight, then the host group when some
 * process is in none of them. procs is sorted by pid, and so are the
 * groups' processes. NULL on ENOMEM.
 */
static struct group *make_groups(const struct summary *s, struct proc **procs, size_t *ngroups)
{
	size_t n = s->nconts + 1;
	struct group *g = calloc(n, sizeof(*g));
	bool host_cgroup_set = false;

	if (!g)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		g[i].c = i < s->nconts ? &s->conts[i] : NULL;
		g[i].procs = malloc((s->nprocs ? s->nprocs : 1) * sizeof(*g[i].procs));
		if (!g[i].procs) {
			groups_free(g, n);
			return NULL;
		}
	}
	for (size_t i = 0; i < s->nprocs; i++) {
		ssize_t ci = proc_container(s, procs[i]);
		struct group *host = &g[n - 1];

		if (ci >= 0) {
			group_add(&g[ci], procs[i]);
			continue;
		}
		if (!host_cgroup_set)
			host->host_cgroup = procs[i]->cgroup_id;
		else if (host->host_cgroup != procs[i]->cgroup_id)
			host->host_cgroup = 0;
		host_cgroup_set = true;
		group_add(host, procs[i]);
	}
	*ngroups = g[n - 1].nprocs ? n : n - 1;
	return g;
}

static const char *short_id(const char *id, char *buf)
{
	snprintf(buf, 13, "%s", id ? id : "");
	return buf;
}

struct type_row {
	const char *name;
	uint64_t count;
};

static int cmp_type_row(const void *a, const void *b)
{
	const struct type_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The process's deallocated types, most frequent first, at most top of
 * them (all when top < 0). Returns the array (caller frees) and sets *n. */
static struct type_row *top_types(const struct summary *s, const struct proc *p, int top, size_t *n)
{
	struct type_row *rows = malloc((p->types_len ? p->types_len : 1) * sizeof(*rows));
	size_t len = 0;

	*n = 0;
	if (!rows)
		return NULL;
	for (uint32_t i = 0; i < p->types_cap; i++) {
		if (!p->types[i].id_plus1)
			continue;
		rows[len].name = s->types_in.names[p->types[i].id_plus1 - 1];
		rows[len].count = p->types[i].count;
		len++;
	}
	qsort(rows, len, sizeof(*rows), cmp_type_row);
	*n = top >= 0 && (size_t)top < len ? (size_t)top : len;
	return rows;
}

/* ---- JSON ---- */

static void json_key_str(FILE *out, const char *key, const char *val)
{
	fprintf(out, "\"%s\": ", key);
	json_print_string(out, val);
}

static bool has_footprint(const struct proc *p)
{
	return p->counts[PM_VM] || p->counts[PM_RSS];
}

/* counts, bytes and gc of a process or of a group's totals; ind indents the
 * lines after the first */
static void json_counters(FILE *out, const struct proc *p, uint64_t unfinished, const char *ind)
{
	fprintf(out, "\"counts\": {");
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		fprintf(out, "%s\"%s\": %" PRIu64, k > 1 ? ", " : "", pm_kind_name(k),
			p->counts[k]);
	fprintf(out,
		"},\n%s\"bytes\": {\"py_alloc\": %" PRIu64 ", \"malloc\": %" PRIu64 "},\n"
		"%s\"gc\": {\"collections\": %" PRIu64 ", \"by_generation\": [%" PRIu64 ", %" PRIu64
		", %" PRIu64 "], \"collected\": %" PRIu64 ", \"time_ns\": %" PRIu64
		", \"source\": \"%s\", \"unfinished\": %" PRIu64 "}",
		ind, p->py_bytes, p->libc_bytes, ind, p->counts[PM_GC_DONE], p->gc_gen[0],
		p->gc_gen[1], p->gc_gen[2], p->gc_collected, p->gc_time_ns,
		gc_source_name(p->gc_src), unfinished);
}

static void json_lost(FILE *out, const struct proc *p)
{
	bool first = true;

	fprintf(out, "\"lost\": %" PRIu64 ", \"lost_by_kind\": {", lost_sum(p->lost));
	for (unsigned k = 0; k < PM_KIND_MAX; k++) {
		if (!p->lost[k])
			continue;
		fprintf(out, "%s\"%s\": %" PRIu64, first ? "" : ", ", lost_kind_name(k),
			p->lost[k]);
		first = false;
	}
	fputc('}', out);
}

/* One process object. ind: the indentation of its first line; the others
 * get one more space. */
/* A sampled process: its scale, and its sampled counts scaled to its life. */
static void json_proc_sampling(const struct summary *s, FILE *out, const struct proc *p,
			       const struct trace_totals *t, const char *ind)
{
	struct proc_sampling ps;
	bool first = true;

	proc_sampling(s, t, p, &ps);
	fprintf(out,
		"\"sampling\": {\"life_ns\": %" PRIu64 ", \"armed_ns\": %" PRIu64 ", \"scale\": ",
		ps.life_ns, ps.armed_ns);
	if (ps.scale > 0)
		fprintf(out, "%.6g", ps.scale);
	else
		fputs("null", out);
	fputs(", \"sampled_kinds\": [", out);
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (kind_sampled(k)) {
			fprintf(out, "%s\"%s\"", first ? "" : ", ", pm_kind_name(k));
			first = false;
		}
	fputs("], \"exact\": [\"gc\", \"processes\", \"footprint\"]},\n", out);
	fprintf(out, "%s\"estimated_counts\": ", ind);
	if (ps.scale <= 0) {
		/* no window while it ran: nothing to scale */
		fprintf(out, "null,\n%s\"estimated_bytes\": null,\n%s", ind, ind);
		return;
	}
	first = true;
	fputc('{', out);
	for (unsigned k = 1; k < PM_KIND_MAX; k++) {
		if (!kind_sampled(k))
			continue;
		fprintf(out, "%s\"%s\": %" PRIu64, first ? "" : ", ", pm_kind_name(k),
			estimate(p->counts[k], &ps));
		first = false;
	}
	fprintf(out,
		"},\n%s\"estimated_bytes\": {\"py_alloc\": %" PRIu64 ", \"malloc\": %" PRIu64
		"},\n%s",
		ind, estimate(p->py_bytes, &ps), estimate(p->libc_bytes, &ps), ind);
}

static int json_proc(const struct summary *s, FILE *out, const struct proc *p, int top,
		     const char *ind, const struct trace_totals *t)
{
	struct type_row *rows;
	char more[16];
	size_t nrows;

	snprintf(more, sizeof(more), "%s ", ind);

	fprintf(out, "%s{\"pid\": %" PRIu32 ", \"ppid\": %" PRIu32 ", ", ind, p->pid, p->ppid);
	json_key_str(out, "comm", str_or_empty(p->comm));
	fputs(", ", out);
	json_key_str(out, "exe", str_or_empty(p->exe));
	fputs(", ", out);
	json_key_str(out, "python", str_or_empty(p->python));
	fputs(", ", out);
	json_key_str(out, "python_version", str_or_empty(p->python_version));
	fprintf(out, ", \"cgroup_id\": %" PRIu64 ",\n%s", p->cgroup_id, more);
	json_counters(out, p, gc_unfinished(p), more);
	fprintf(out, ",\n%s\"top_dealloc_types\": [", more);

	rows = top_types(s, p, top, &nrows);
	if (!rows)
		return -ENOMEM;
	for (size_t r = 0; r < nrows; r++) {
		fputs(r ? ", {" : "{", out);
		json_key_str(out, "type", rows[r].name);
		fprintf(out, ", \"count\": %" PRIu64 "}", rows[r].count);
	}
	free(rows);

	fprintf(out, "],\n%s", more);
	if (sampled(s))
		json_proc_sampling(s, out, p, t, more);
	if (has_footprint(p)) {
		const struct footprint *f = &p->fp;

		fprintf(out,
			"\"footprint\": {\"total_bytes\": %" PRIu64 ", \"arena_bytes\": %" PRIu64
			", \"mmap_bytes\": %" PRIu64 ", \"heap_bytes\": %" PRIu64
			", \"peak_bytes\": %" PRIu64 ", \"arenas_mapped\": %" PRIu64
			", \"arenas_released\": %" PRIu64 ", \"arena_size\": %" PRIu64
			", \"existing_bytes\": %" PRIu64,
			footprint__total(f), f->bytes[FP_ARENA], f->bytes[FP_MMAP], f->heap,
			f->peak, f->arena_maps, f->arena_unmaps, f->arena_size, f->existing);
		if (f->have_rss)
			fprintf(out,
				", \"rss_bytes\": %" PRIu64 ", \"rss_anon_bytes\": %" PRIu64
				", \"rss_peak_bytes\": %" PRIu64 ", \"rss_samples\": %" PRIu64,
				f->rss, f->rss_anon, f->rss_peak, p->counts[PM_RSS]);
		fprintf(out, "},\n%s", more);
	}
	json_lost(out, p);
	fprintf(out, ",\n%s\"sources\": {", more);
	for (size_t j = 0; j < p->nsources; j++) {
		const struct source_state *st = &p->sources[j];

		if (j)
			fputs(", ", out);
		json_print_string(out, st->name);
		fputs(": {", out);
		json_key_str(out, "status", pm_source_status_name(st->status));
		fputs(", ", out);
		json_key_str(out, "detail", str_or_empty(st->detail));
		fputs("}", out);
	}
	/* the same, in the words a reader of coverage asks for */
	fprintf(out, "},\n%s\"coverage\": {", more);
	for (size_t j = 0; j < p->nsources; j++) {
		const struct source_state *st = &p->sources[j];
		static const char *const words[] = {
		    [PM_SRC_FULL] = "complete",
		    [PM_SRC_PARTIAL] = "partial",
		    [PM_SRC_NONE] = "none",
		    [PM_SRC_OFF] = "off",
		};
		unsigned k = (unsigned)st->status;

		if (j)
			fputs(", ", out);
		json_key_str(out, st->name,
			     k < sizeof(words) / sizeof(words[0]) && words[k] ? words[k]
									      : "unknown");
	}
	fprintf(out, "},\n%s\"exit_code\": ", more);
	if (p->exited)
		fprintf(out, "%" PRId32 "}", p->exit_code);
	else
		fputs("null}", out);
	return 0;
}

/* A time in the trace as ns after its start (negative if before it). */
static int64_t rel_ns(const struct trace_totals *t, uint64_t ts)
{
	return (int64_t)(ts - t->start_ns);
}

static int json_group(const struct summary *s, FILE *out, const struct group *g,
		      const struct trace_totals *t, int top)
{
	const struct cont *c = g->c;
	int err;

	fputs("  {", out);
	json_key_str(out, "id", c ? str_or_empty(c->id) : "");
	fputs(", ", out);
	json_key_str(out, "name", c ? str_or_empty(c->name) : "host");
	fputs(", ", out);
	json_key_str(out, "image", c ? str_or_empty(c->image) : "");
	fputs(", ", out);
	json_key_str(out, "service", c ? str_or_empty(c->service) : "");
	fputs(", ", out);
	json_key_str(out, "project", c ? str_or_empty(c->project) : "");
	fputs(", ", out);
	json_key_str(out, "runtime", c ? str_or_empty(c->runtime) : "host");
	fprintf(out, ",\n   \"cgroup_id\": %" PRIu64 ", \"start_ns\": ",
		c ? c->cgroup_id : g->host_cgroup);
	/* the host is there from the start and never stops */
	if (!c)
		fputs("0", out);
	else if (c->have_start)
		fprintf(out, "%" PRId64, rel_ns(t, c->start_ts));
	else
		fputs("null", out);
	fputs(", \"stop_ns\": ", out);
	if (c && c->stopped)
		fprintf(out, "%" PRId64, rel_ns(t, c->stop_ts));
	else
		fputs("null", out);
	fputs(",\n   \"processes\": [", out);
	for (size_t i = 0; i < g->nprocs; i++) {
		fputs(i ? ",\n" : "\n", out);
		err = json_proc(s, out, g->procs[i], top, "    ", t);
		if (err)
			return err;
	}
	fputs(g->nprocs ? "\n   ],\n   \"totals\": {" : "],\n   \"totals\": {", out);
	json_counters(out, &g->totals, g->gc_unfinished, "    ");
	fputs(",\n    ", out);
	json_lost(out, &g->totals);
	fputs("}}", out);
	return 0;
}

int summary__print_json(const struct summary *s, FILE *out, const struct pm_trace_info *info,
			int top)
{
	struct proc **procs = sorted_procs(s);
	struct group *groups = NULL;
	struct trace_totals t;
	size_t ngroups = 0;
	int err = 0;

	if (!procs)
		return -ENOMEM;
	groups = make_groups(s, procs, &ngroups);
	if (!groups) {
		free(procs);
		return -ENOMEM;
	}
	trace_totals(s, info, &t);
	fprintf(out,
		"{\"trace\": {\"version\": %" PRIu32 ", \"start_ns\": %" PRIu64
		", \"duration_ns\": %" PRIu64 ", \"events\": %" PRIu64 ", \"lost\": %" PRIu64
		", \"complete\": %s},\n",
		t.version, t.start_ns, t.duration_ns, s->events, t.lost,
		s->complete ? "true" : "false");
	if (sampled(s)) {
		uint64_t armed = armed_between(s, t.start_ns, t.start_ns + t.duration_ns);

		fprintf(out,
			" \"sampling\": {\"duty\": %.6g, \"period_ns\": %" PRIu64
			", \"windows\": %zu, \"armed_ns\": %" PRIu64 ", \"scale\": ",
			s->sample_duty, s->sample_period_ns, s->nwindows, armed);
		if (armed)
			fprintf(out, "%.6g", (double)t.duration_ns / (double)armed);
		else
			fputs("null", out);
		fputs(", \"estimated\": [\"counts of allocation kinds\", \"bytes\"], "
		      "\"exact\": [\"gc\", \"processes\", \"footprint\"]},\n",
		      out);
	}
	fputs(" \"processes\": [", out);
	for (size_t i = 0; i < s->nprocs && !err; i++) {
		fputs(i ? ",\n" : "\n", out);
		err = json_proc(s, out, procs[i], top, "  ", &t);
	}
	if (!err) {
		fputs(s->nprocs ? "\n ],\n \"containers\": [" : "],\n \"containers\": [", out);
		for (size_t i = 0; i < ngroups && !err; i++) {
			fputs(i ? ",\n" : "\n", out);
			err = json_group(s, out, &groups[i], &t, top);
		}
		fputs(ngroups ? "\n ]}\n" : "]}\n", out);
	}
	groups_free(groups, s->nconts + 1);
	free(procs);
	if (err)
		return err;
	return ferror(out) ? -EIO : 0;
}

/* ---- text ---- */

#define LABEL_W 10 /* "  label   " column before the values */

#define TEXT_WIDTH 80

/*
 * Print s with control characters and broken UTF-8 made harmless. With
 * wrap_indent > 0, words go on to new lines indented that much when the
 * line would pass TEXT_WIDTH; col is where the text starts.
 */
static void print_wrapped(FILE *out, const char *s, int col, int wrap_indent)
{
	char buf[512];
	size_t len = strlen(s), n, i = 0;
	char *dst = len <= sizeof(buf) ? buf : malloc(len);

	if (!dst) {
		fputs("?", out);
		return;
	}
	n = text_format_string(dst, s);
	while (i < n) {
		size_t w = i, end;

		while (w < n && dst[w] != ' ')
			w++;
		end = w;
		if (wrap_indent > 0 && i && col + (int)(end - i) + 1 > TEXT_WIDTH &&
		    col > wrap_indent) {
			fprintf(out, "\n%*s", wrap_indent, "");
			col = wrap_indent;
		} else if (i) {
			fputc(' ', out);
			col++;
		}
		fwrite(dst + i, 1, end - i, out);
		col += (int)(end - i);
		i = end < n ? end + 1 : end;
	}
	if (dst != buf)
		free(dst);
}

static void print_text(FILE *out, const char *s)
{
	print_wrapped(out, s, 0, 0);
}

static void label(FILE *out, const char *name)
{
	fprintf(out, "  %-*s", LABEL_W, name);
}

static int num_width(uint64_t v)
{
	int w = 1;

	while (v >= 10) {
		v /= 10;
		w++;
	}
	return w;
}

/* "1.5 MiB", and with exact the bytes too: "1.5 MiB (1572864 B)" */
static void print_size(FILE *out, uint64_t b, bool exact)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)b;
	unsigned u = 0;

	if (b < 1024) {
		fprintf(out, "%" PRIu64 " B", b);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1024;
		u++;
	}
	fprintf(out, "%.1f %s", v, units[u]);
	if (exact)
		fprintf(out, " (%" PRIu64 " B)", b);
}

static void print_bytes(FILE *out, uint64_t b)
{
	print_size(out, b, true);
}

static void print_exit(FILE *out, const struct proc *p)
{
	int st = p->exit_code;

	if (!p->exited)
		fputs("running at end of trace", out);
	else if ((st & 0x7f) == 0)
		fprintf(out, "exited with code %d", (st >> 8) & 0xff);
	else
		fprintf(out, "killed by signal %d%s", st & 0x7f, st & 0x80 ? " (core dumped)" : "");
}

/* Was the source asked for? (A trace without SOURCE records says nothing: yes.) */
static bool source_requested(const struct proc *p, const char *name)
{
	for (size_t i = 0; i < p->nsources; i++)
		if (strcmp(p->sources[i].name, name) == 0)
			return p->sources[i].status != PM_SRC_OFF;
	return true;
}

static void print_footprint(FILE *out, const struct proc *p)
{
	const struct footprint *f = &p->fp;

	if (!has_footprint(p))
		return;
	label(out, "footprint");
	fputs("now ", out);
	print_size(out, footprint__total(f), false);
	fputs(" (arenas ", out);
	print_size(out, f->bytes[FP_ARENA], false);
	fputs(", other mmap ", out);
	print_size(out, f->bytes[FP_MMAP], false);
	fputs(", brk heap ", out);
	print_size(out, f->heap, false);
	fputs("), peak ", out);
	print_size(out, f->peak, false);
	fputc('\n', out);
	label(out, "");
	fprintf(out, "%" PRIu64 " arena%s mapped, %" PRIu64 " released", f->arena_maps,
		f->arena_maps == 1 ? "" : "s", f->arena_unmaps);
	if (f->arena_size)
		fprintf(out, " (arenas of %" PRIu64 " KiB)", f->arena_size >> 10);
	if (f->existing) {
		fputs("; ", out);
		print_size(out, f->existing, false);
		fputs(" held at attach", out);
	}
	fputc('\n', out);
	if (f->have_rss) {
		label(out, "rss");
		fputs("last ", out);
		print_size(out, f->rss, false);
		fputs(" (anonymous ", out);
		print_size(out, f->rss_anon, false);
		fputs("), peak ", out);
		print_size(out, f->rss_peak, false);
		fprintf(out, ", %" PRIu64 " sample%s\n", p->counts[PM_RSS],
			p->counts[PM_RSS] == 1 ? "" : "s");
	}
}

/* ps: a sampled process's scale (NULL: not sampled): its sampled kinds
 * show their estimate beside the count seen, the others say exact. */
static void print_counts(FILE *out, const struct proc *p, const struct proc_sampling *ps)
{
	uint64_t max = 0;
	bool first = true;
	int w;

	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (p->counts[k] > max)
			max = p->counts[k];
	w = num_width(max);
	for (unsigned k = 1; k < PM_KIND_MAX; k++) {
		/* Zero Python allocator calls is itself worth seeing: it usually
		 * means the allocator is inlined or was not attached. */
		if (!p->counts[k] &&
		    (!pm_kind_is_python_alloc(k) || !source_requested(p, "pymalloc")))
			continue;
		label(out, first ? "events" : "");
		fprintf(out, "%-12s %*" PRIu64, pm_kind_name(k), w, p->counts[k]);
		if (ps && !kind_sampled(k))
			fputs("  exact", out);
		else if (ps && ps->scale > 0)
			fprintf(out, "  sampled, estimate %" PRIu64, estimate(p->counts[k], ps));
		else if (ps)
			fputs("  sampled, no estimate", out);
		fputc('\n', out);
		first = false;
	}
}

static void print_gc(FILE *out, const struct proc *p)
{
	uint64_t n = p->counts[PM_GC_DONE], unfinished = gc_unfinished(p);

	label(out, "gc");
	if (!n && !unfinished) {
		fprintf(out, "no collections seen (source %s)\n", gc_source_name(p->gc_src));
		return;
	}
	fprintf(out, "source %s", gc_source_name(p->gc_src));
	if (unfinished)
		fprintf(out, ", %" PRIu64 " started but not finished", unfinished);
	fputc('\n', out);
	label(out, "");
	fprintf(out,
		"%" PRIu64 " collection%s (gen0 %" PRIu64 ", gen1 %" PRIu64 ", gen2 %" PRIu64
		"), %" PRIu64 " objects collected, %.3f ms\n",
		n, n == 1 ? "" : "s", p->gc_gen[0], p->gc_gen[1], p->gc_gen[2], p->gc_collected,
		(double)p->gc_time_ns / 1e6);
}

static void print_lost(FILE *out, const uint64_t *lost, uint64_t total, const char *who)
{
	bool first = true;

	label(out, "lost");
	if (!total) {
		fputs("none\n", out);
		return;
	}
	fprintf(out, "%" PRIu64 " (", total);
	for (unsigned k = 0; k < PM_KIND_MAX; k++) {
		if (!lost[k])
			continue;
		fprintf(out, "%s%s %" PRIu64, first ? "" : ", ", lost_kind_name(k), lost[k]);
		first = false;
	}
	fprintf(out,
		")\n  WARNING: %" PRIu64 " events lost%s (ring buffer full); "
		"counts above are lower bounds\n",
		total, who);
}

static int print_proc_text(const struct summary *s, FILE *out, const struct proc *p, int top,
			   const struct trace_totals *t)
{
	struct proc_sampling ps;
	struct type_row *rows;
	size_t nrows;
	int w;

	fprintf(out, "\npid %" PRIu32 " (", p->pid);
	print_text(out, p->comm && p->comm[0] ? p->comm : "?");
	fputc(')', out);
	if (p->exe && p->exe[0]) {
		fputc(' ', out);
		print_text(out, p->exe);
	}
	if (p->python_version && p->python_version[0]) {
		fputs(" [python ", out);
		print_text(out, p->python_version);
		fputc(']', out);
	} else if (p->python && p->python[0]) {
		fputs(" [python]", out);
	}
	fputc('\n', out);

	label(out, "process");
	if (p->ppid)
		fprintf(out, "parent %" PRIu32 ", ", p->ppid);
	if (p->cgroup_id)
		fprintf(out, "cgroup %" PRIu64 ", ", p->cgroup_id);
	print_exit(out, p);
	fputc('\n', out);

	for (size_t i = 0; i < p->nsources; i++) {
		const struct source_state *st = &p->sources[i];

		int col = 2 + LABEL_W;

		label(out, "coverage");
		print_text(out, st->name);
		col +=
		    (int)strlen(st->name) + fprintf(out, ": %s", pm_source_status_name(st->status));
		if (st->detail && st->detail[0]) {
			fputs(" - ", out);
			/* Details are sentences: wrap them under the source name. */
			print_wrapped(out, st->detail, col + 3, 2 + LABEL_W + 2);
		}
		fputc('\n', out);
	}

	if (sampled(s)) {
		proc_sampling(s, t, p, &ps);
		label(out, "sampling");
		if (ps.scale > 0)
			fprintf(out,
				"armed %.3f s of its %.3f s (%.2f%%): sampled counts are "
				"estimates, x%.4g\n",
				(double)ps.armed_ns / 1e9, (double)ps.life_ns / 1e9,
				100.0 * (double)ps.armed_ns / (double)ps.life_ns, ps.scale);
		else
			fprintf(out,
				"no window while it ran (%.3f s): its allocation counts cannot be "
				"estimated\n",
				(double)ps.life_ns / 1e9);
	}
	print_counts(out, p, sampled(s) ? &ps : NULL);

	if (source_requested(p, "pymalloc") || p->py_bytes) {
		label(out, "requested");
		fputs("python allocator ", out);
		print_bytes(out, p->py_bytes);
		if (sampled(s) && ps.scale > 0) {
			fputs(" in the windows; estimate ", out);
			print_size(out, estimate(p->py_bytes, &ps), false);
		}
		fputc('\n', out);
	}
	if (p->libc_bytes || p->counts[PM_MALLOC] || p->counts[PM_CALLOC] ||
	    p->counts[PM_REALLOC]) {
		label(out, "");
		fputs("libc             ", out);
		print_bytes(out, p->libc_bytes);
		if (sampled(s) && ps.scale > 0) {
			fputs(" in the windows; estimate ", out);
			print_size(out, estimate(p->libc_bytes, &ps), false);
		}
		fputc('\n', out);
	}

	print_gc(out, p);
	print_footprint(out, p);

	rows = top_types(s, p, top, &nrows);
	if (!rows)
		return -ENOMEM;
	w = nrows ? num_width(rows[0].count) : 1;
	for (size_t r = 0; r < nrows; r++) {
		label(out, r ? "" : "top types");
		fprintf(out, "%*" PRIu64 "  ", w, rows[r].count);
		print_text(out, rows[r].name[0] ? rows[r].name : "(unreadable type name)");
		fputc('\n', out);
	}
	if (nrows && nrows < p->types_len) {
		label(out, "");
		fprintf(out, "... and %zu more types\n", (size_t)p->types_len - nrows);
	}
	free(rows);

	print_lost(out, p->lost, lost_sum(p->lost), "");
	return 0;
}

static void print_rel_seconds(FILE *out, const struct trace_totals *t, uint64_t ts)
{
	fprintf(out, "%.3f s", (double)rel_ns(t, ts) / 1e9);
}

/* "container NAME (RUNTIME): compose P/S, image I, id X, 0.120 s - 5.300 s" */
static void print_container_header(FILE *out, const struct cont *c, const struct trace_totals *t)
{
	char id[13];

	fputs("\ncontainer ", out);
	print_text(out, c->name && c->name[0] ? c->name : "?");
	if (c->runtime && c->runtime[0]) {
		fputs(" (", out);
		print_text(out, c->runtime);
		fputc(')', out);
	}
	fputs(": ", out);
	if (c->service && c->service[0]) {
		/* the wording of `pymac ps` */
		fputs("compose ", out);
		if (c->project && c->project[0]) {
			print_text(out, c->project);
			fputc('/', out);
		}
		print_text(out, c->service);
		fputs(", ", out);
	}
	if (c->image && c->image[0]) {
		fputs("image ", out);
		print_text(out, c->image);
		fputs(", ", out);
	}
	if (c->id && c->id[0]) {
		fputs("id ", out);
		print_text(out, short_id(c->id, id));
		fputs(", ", out);
	}
	if (c->have_start) {
		print_rel_seconds(out, t, c->start_ts);
		fputs(" - ", out);
	} else {
		fputs("start not recorded - ", out);
	}
	if (c->stopped)
		print_rel_seconds(out, t, c->stop_ts);
	else
		fputs("running at end of trace", out);
	fputc('\n', out);
}

static void print_group_totals(FILE *out, const struct group *g, bool sampled_counts)
{
	const struct proc *p = &g->totals;
	uint64_t events = 0, lost = lost_sum(p->lost);

	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		events += p->counts[k];
	fputc('\n', out);
	label(out, "totals");
	fprintf(out, "%zu process%s, %" PRIu64 " event%s%s, python allocator ", g->nprocs,
		g->nprocs == 1 ? "" : "es", events, events == 1 ? "" : "s",
		sampled_counts ? " (allocations as seen in the sampling windows)" : "");
	print_bytes(out, p->py_bytes);
	fputs(", libc ", out);
	print_bytes(out, p->libc_bytes);
	fprintf(out,
		", %" PRIu64 " gc collection%s (gen0 %" PRIu64 ", gen1 %" PRIu64 ", gen2 %" PRIu64
		"), %" PRIu64 " lost\n",
		p->counts[PM_GC_DONE], p->counts[PM_GC_DONE] == 1 ? "" : "s", p->gc_gen[0],
		p->gc_gen[1], p->gc_gen[2], lost);
}

/* One section per container, then the host processes. */
static int print_groups_text(const struct summary *s, FILE *out, struct proc **procs,
			     const struct trace_totals *t, int top)
{
	struct group *g;
	size_t n;
	int err = 0;

	g = make_groups(s, procs, &n);
	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		if (g[i].c)
			print_container_header(out, g[i].c, t);
		else
			fputs("\nhost: processes outside the traced containers\n", out);
		if (!g[i].nprocs) {
			label(out, "");
			fputs("no traced processes\n", out);
			continue;
		}
		for (size_t j = 0; j < g[i].nprocs && !err; j++)
			err = print_proc_text(s, out, g[i].procs[j], top, t);
		if (!err)
			print_group_totals(out, &g[i], sampled(s));
	}
	groups_free(g, s->nconts + 1);
	return err;
}

int summary__print_text(const struct summary *s, FILE *out, const struct pm_trace_info *info,
			int top)
{
	struct proc **procs = sorted_procs(s);
	struct trace_totals t;
	int err = 0;

	if (!procs)
		return -ENOMEM;
	trace_totals(s, info, &t);
	fprintf(out, "trace: %.3f s, %" PRIu64 " events, %" PRIu64 " lost, %s, %zu process%s\n",
		(double)t.duration_ns / 1e9, s->events, t.lost,
		s->complete ? "complete" : "incomplete (recording was cut short)", s->nprocs,
		s->nprocs == 1 ? "" : "es");
	if (s->command) {
		label(out, "command");
		print_text(out, s->command);
		fputc('\n', out);
	}
	if (t.lost_unattributed)
		print_lost(out, s->lost_unattributed, t.lost_unattributed,
			   " from unidentified processes");
	if (sampled(s)) {
		uint64_t armed = armed_between(s, t.start_ns, t.start_ns + t.duration_ns);

		label(out, "sampled");
		fprintf(out,
			"allocation events seen only in %zu window%s covering %.2f%% of the time "
			"(--sample-duty %.3g%%); counts below are estimates",
			s->nwindows, s->nwindows == 1 ? "" : "s",
			t.duration_ns ? 100.0 * (double)armed / (double)t.duration_ns : 0.0,
			s->sample_duty * 100);
		if (armed)
			fprintf(out, " (x%.4g)", (double)t.duration_ns / (double)armed);
		fputc('\n', out);
		label(out, "");
		fputs("GC collections and processes are exact; live bytes and the pairing of\n",
		      out);
		label(out, "");
		fputs("allocations with frees are not meaningful (the timeline's net bytes\n", out);
		label(out, "");
		fputs("neither)\n", out);
	}

	if (s->nconts)
		err = print_groups_text(s, out, procs, &t, top);
	for (size_t i = 0; i < s->nprocs && !err && !s->nconts; i++)
		err = print_proc_text(s, out, procs[i], top, &t);
	free(procs);
	if (err)
		return err;
	return ferror(out) ? -EIO : 0;
}
