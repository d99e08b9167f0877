// SPDX-License-Identifier: MIT
/*
 * What the text and the JSON summary share (summary_impl.h): totals of the
 * trace, sampling scales, groups by container, deallocated types.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "views/summary.h"
#include "views/summary_impl.h"

uint64_t sm_lost_sum(const uint64_t *lost)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < PM_KIND_MAX; k++)
		n += lost[k];
	return n;
}

void sm_trace_totals(const struct procstats *s, const struct pm_trace_info *info,
		     struct sm_trace *t)
{
	uint64_t end;

	t->version = info ? info->version : 0;
	t->start_ns = info ? info->start_ns : s->first_ts;
	end = s->complete ? s->end_ts : s->have_event_ts ? s->last_event_ts : t->start_ns;
	t->duration_ns = end > t->start_ns ? end - t->start_ns : 0;
	t->lost_unattributed = sm_lost_sum(s->lost_unattributed);
	t->lost = t->lost_unattributed;
	for (size_t i = 0; i < s->nprocs; i++)
		t->lost += sm_lost_sum(s->procs[i]->lost);
}

uint64_t sm_armed_between(const struct procstats *s, uint64_t from, uint64_t to)
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

void sm_proc_sampling(const struct procstats *s, const struct sm_trace *t, const struct ps_proc *p,
		      struct sm_sampling *ps)
{
	uint64_t end = t->start_ns + t->duration_ns;
	uint64_t from = p->have_seen && p->first_ts > t->start_ns ? p->first_ts : t->start_ns;
	uint64_t to = p->exited && p->exit_ts && p->exit_ts < end ? p->exit_ts : end;

	if (to < from)
		to = from;
	ps->life_ns = to - from;
	ps->armed_ns = sm_armed_between(s, from, to);
	if (ps->armed_ns > ps->life_ns)
		ps->armed_ns = ps->life_ns;
	ps->scale = ps->armed_ns ? (double)ps->life_ns / (double)ps->armed_ns : 0;
}

uint64_t sm_estimate(uint64_t count, const struct sm_sampling *ps)
{
	return (uint64_t)((double)count * ps->scale + 0.5);
}

const char *sm_gc_source_name(unsigned bits)
{
	switch (bits) {
	case 0:
		return "none";
	case PS_GC_SEEN_USDT:
		return "usdt";
	case PS_GC_SEEN_UPROBE:
		return "uprobe";
	}
	return "usdt+uprobe";
}

const char *sm_gc_time_note(uint64_t inside, char *buf, size_t len)
{
	if (!inside)
		snprintf(buf, len,
			 "their own time: only the GC probes fired inside the collections");
	else
		snprintf(buf, len,
			 "as traced: it includes the cost of the probes of at least %" PRIu64
			 " event%s traced inside the collections (for their own time, record "
			 "with --mode footprint or --probes gc)",
			 inside, inside == 1 ? "" : "s");
	return buf;
}

uint64_t sm_gc_unfinished(const struct ps_proc *p)
{
	uint64_t starts = p->counts[PM_GC_START], dones = p->counts[PM_GC_DONE];

	return starts > dones ? starts - dones : 0;
}

const char *sm_python_allocator(const struct ps_proc *p)
{
	for (size_t i = 0; i < p->nsources; i++)
		if (strcmp(p->sources[i].name, "mimalloc") == 0)
			return "mimalloc";
	return "pymalloc";
}

const char *sm_lost_kind_name(unsigned k)
{
	return k ? pm_kind_name(k) : "unknown";
}

const char *sm_short_id(const char *id, char buf[13])
{
	snprintf(buf, 13, "%s", id ? id : "");
	return buf;
}

static int cmp_proc_pid(const void *a, const void *b)
{
	const struct ps_proc *x = *(const struct ps_proc *const *)a;
	const struct ps_proc *y = *(const struct ps_proc *const *)b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

struct ps_proc **sm_sorted_procs(const struct procstats *s)
{
	struct ps_proc **v = malloc((s->nprocs ? s->nprocs : 1) * sizeof(*v));

	if (!v)
		return NULL;
	if (s->nprocs) {
		memcpy(v, s->procs, s->nprocs * sizeof(*v));
		qsort(v, s->nprocs, sizeof(*v), cmp_proc_pid);
	}
	return v;
}

/* ---- groups ---- */

static void totals_add(struct lg_totals *t, const struct lg_totals *a)
{
	for (unsigned k = 0; k < PM_KIND_MAX; k++)
		t->events[k] += a->events[k];
	t->py_allocs += a->py_allocs;
	t->py_frees += a->py_frees;
	t->py_alloc_bytes += a->py_alloc_bytes;
	t->py_free_bytes += a->py_free_bytes;
	t->libc_allocs += a->libc_allocs;
	t->libc_frees += a->libc_frees;
	t->libc_alloc_bytes += a->libc_alloc_bytes;
	t->libc_free_bytes += a->libc_free_bytes;
	t->deallocs += a->deallocs;
	t->gc_starts += a->gc_starts;
	t->gcs += a->gcs;
	for (unsigned g = 0; g < LG_GENERATIONS; g++)
		t->gc_gen[g] += a->gc_gen[g];
	t->gc_collected += a->gc_collected;
	t->gc_uncollectable += a->gc_uncollectable;
	t->gc_ns += a->gc_ns;
	t->gc_traced_inside += a->gc_traced_inside;
	t->lost += a->lost;
	t->unmatched_frees += a->unmatched_frees;
	t->unmatched_py_frees += a->unmatched_py_frees;
	t->py_unaddressed_allocs += a->py_unaddressed_allocs;
	t->vm_events += a->vm_events;
	t->rss_samples += a->rss_samples;
}

static void group_add(struct sm_group *g, struct ps_proc *p)
{
	g->procs[g->nprocs++] = p;
	for (unsigned k = 0; k < PM_KIND_MAX; k++)
		g->lost_by_kind[k] += p->lost[k];
	g->gc_src |= p->gc_src;
}

void sm_groups_free(struct sm_group *g, const struct procstats *s)
{
	for (size_t i = 0; g && i <= s->nconts; i++)
		free(g[i].procs);
	free(g);
}

struct sm_group *sm_make_groups(const struct procstats *s, struct ps_proc **procs, size_t *ngroups)
{
	size_t n = s->nconts + 1, nlanes = ledger__lane_count(s->lg);
	struct sm_group *g = calloc(n, sizeof(*g)), *host;
	bool host_cgroup_set = false;

	if (!g)
		return NULL;
	host = &g[n - 1];
	for (size_t i = 0; i < n; i++) {
		g[i].c = i < s->nconts ? &s->conts[i] : NULL;
		g[i].procs = malloc((s->nprocs ? s->nprocs : 1) * sizeof(*g[i].procs));
		if (!g[i].procs) {
			sm_groups_free(g, s);
			return NULL;
		}
	}
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct ps_cont *c = procstats__container_of(s, procs[i]);

		if (c) {
			group_add(&g[c - s->conts], procs[i]);
			continue;
		}
		if (!host_cgroup_set)
			host->host_cgroup = procs[i]->cgroup_id;
		else if (host->host_cgroup != procs[i]->cgroup_id)
			host->host_cgroup = 0;
		host_cgroup_set = true;
		group_add(host, procs[i]);
	}
	for (size_t i = 0; i < nlanes; i++) {
		const struct lg_lane *l = ledger__lane(s->lg, i);

		if (l->kind == LG_LANE_HOST) {
			totals_add(&host->tot, &l->tot);
			continue;
		}
		for (size_t c = 0; c < s->nconts && l->kind == LG_LANE_CONTAINER; c++)
			if (s->conts[c].cgroup_id == l->cgroup_id)
				totals_add(&g[c].tot, &l->tot);
	}
	*ngroups = host->nprocs ? n : n - 1;
	return g;
}

/* ---- types ---- */

static int cmp_type_row(const void *a, const void *b)
{
	const struct sm_type_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct sm_type_row *sm_top_types(const struct procstats *s, const struct ps_proc *p, int top,
				 size_t *n)
{
	struct sm_type_row *rows = malloc((p->types.len ? p->types.len : 1) * sizeof(*rows));
	size_t len = 0;

	*n = 0;
	if (!rows)
		return NULL;
	for (uint32_t i = 0; i < p->types.cap; i++) {
		if (!p->types.e[i].key)
			continue;
		rows[len].name = procstats__type_name(s, (uint32_t)(p->types.e[i].key - 1));
		rows[len].count = p->types.e[i].val;
		len++;
	}
	qsort(rows, len, sizeof(*rows), cmp_type_row);
	*n = top >= 0 && (size_t)top < len ? (size_t)top : len;
	return rows;
}

bool sm_proc_folds(const struct ps_proc *p, bool beside_python)
{
	if (ps_proc__is_python(p) || p->unmatched_frees || sm_lost_sum(p->lost))
		return false;
	/* a source that saw part of the calls is news even there */
	for (size_t i = 0; i < p->nsources; i++)
		if (p->sources[i].status == PM_SRC_PARTIAL)
			return false;
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (p->counts[k] && k != PM_EXEC && k != PM_EXIT &&
		    (!beside_python || k < PM_MALLOC || k > PM_FREE))
			return false;
	return true;
}

/* ---- frees whose allocation was not seen ---- */

static const struct ps_source *find_source(const struct ps_proc *p, const char *name)
{
	for (size_t i = 0; i < p->nsources; i++)
		if (strcmp(p->sources[i].name, name) == 0)
			return &p->sources[i];
	return NULL;
}

/* Append to buf (len bytes) at *at, which stays within it. */
static void addf(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void addf(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at = (size_t)n < len - *at ? *at + (size_t)n : len - 1;
}

/* Add "NAME STATUS" for an allocator source that did not see every call
 * (partial, none, off); true if it did. */
static bool add_gap(const struct ps_proc *p, const char *name, char *buf, size_t len, size_t *at)
{
	const struct ps_source *st = find_source(p, name);

	if (!st || st->status == PM_SRC_FULL)
		return false;
	addf(buf, len, at, "%s%s %s", *at ? ", " : "", name,
	     st->status == PM_SRC_OFF ? "not requested" : pm_source_status_name(st->status));
	return true;
}

const char *sm_unmatched_cause(const struct ps_proc *p, char *buf, size_t len)
{
	bool attached = p->origins & (1u << PM_ORIGIN_ATTACHED);
	bool forked = p->origins & (1u << PM_ORIGIN_FORKED);
	bool started_only = p->origins & (1u << PM_ORIGIN_STARTED) && !attached && !forked;
	char gaps[160] = "";
	size_t glen = 0, at = 0;
	bool any_gap = false;
	const char * or = "";

	/* which allocator's frees went unmatched says whose coverage matters */
	if (p->unmatched_py_frees)
		any_gap |= add_gap(p, sm_python_allocator(p), gaps, sizeof(gaps), &glen);
	if (p->unmatched_frees > p->unmatched_py_frees)
		any_gap |= add_gap(p, "libc", gaps, sizeof(gaps), &glen);
	buf[0] = '\0';
	if (!attached && !forked && !started_only) {
		/* a trace before version 7 does not say how the process was traced */
		addf(buf, len, &at,
		     "may have been made before tracing began or by allocator paths not probed");
		return buf;
	}
	if (started_only)
		addf(buf, len, &at, "traced from its start: ");
	if (attached) {
		addf(buf, len, &at,
		     "made before tracing began, as pymac attached to it while it ran");
		or = ", or ";
	}
	if (forked) {
		addf(buf, len, &at,
		     "%smade before pymac saw it (by its parent before the fork, or before it "
		     "entered a traced container)",
		     or);
		or = ", or ";
	}
	if (any_gap) {
		addf(buf, len, &at, "%smade through allocator paths that were not probed (%s)", or,
		     gaps);
		or = ", or ";
	}
	if (p->unmatched_py_frees && p->py_unaddressed_allocs) {
		addf(buf, len, &at,
		     "%smade at inlined %s calls that give no block address (%" PRIu64
		     " of them), whose frees cannot be paired with them",
		     or, sm_python_allocator(p), p->py_unaddressed_allocs);
	} else if (started_only && !any_gap) {
		/* traced from its first instruction, and every allocator
		 * source said it saw every call */
		addf(buf, len, &at,
		     "every allocator source reported full coverage, so made through allocator "
		     "paths pymac does not know of%s",
		     p->unmatched_frees > p->unmatched_py_frees
			 ? " (for libc's, as the dynamic loader's own malloc)"
			 : "");
		if (sm_lost_sum(p->lost))
			addf(buf, len, &at,
			     ", or among the %" PRIu64 " events lost (ring buffer full)",
			     sm_lost_sum(p->lost));
	}
	return buf;
}

const char *sm_origin_name(enum pm_proc_origin o)
{
	switch (o) {
	case PM_ORIGIN_STARTED:
		return "started";
	case PM_ORIGIN_ATTACHED:
		return "attached";
	case PM_ORIGIN_FORKED:
		return "forked";
	case PM_ORIGIN_UNKNOWN:
		break;
	}
	return "unknown";
}

#define ROW_PIDS 6 /* pids named per cause; the rest are counted */

struct cause_row {
	char cause[400];
	uint64_t frees;
	uint32_t pids[ROW_PIDS];
	size_t npids;
};

static int cmp_cause_row(const void *a, const void *b)
{
	const struct cause_row *x = a, *y = b;

	return x->frees != y->frees ? (x->frees > y->frees ? -1 : 1) : strcmp(x->cause, y->cause);
}

/* The processes' unmatched frees by cause, most first (a new array). */
static struct cause_row *cause_rows(struct ps_proc *const *procs, size_t n, size_t *nrows)
{
	struct cause_row *rows = calloc(n ? n : 1, sizeof(*rows));
	size_t k = 0;

	if (!rows)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct ps_proc *p = procs[i];
		size_t r;

		if (!p->unmatched_frees)
			continue;
		sm_unmatched_cause(p, rows[k].cause, sizeof(rows[k].cause));
		for (r = 0; r < k && strcmp(rows[r].cause, rows[k].cause); r++)
			;
		if (rows[r].npids < ROW_PIDS)
			rows[r].pids[rows[r].npids] = p->pid;
		rows[r].npids++;
		rows[r].frees += p->unmatched_frees;
		if (r == k)
			k++;
	}
	qsort(rows, k, sizeof(*rows), cmp_cause_row);
	*nrows = k;
	return rows;
}

char *sm_unmatched_sentence(struct ps_proc *const *procs, size_t n, bool name_pids)
{
	struct cause_row *rows;
	uint64_t total = 0;
	size_t nrows, len = 0;
	char *text = NULL;
	FILE *f;

	rows = cause_rows(procs, n, &nrows);
	if (!rows)
		return NULL;
	if (!nrows) {
		free(rows);
		return calloc(1, 1);
	}
	f = open_memstream(&text, &len);
	if (!f) {
		free(rows);
		return NULL;
	}
	for (size_t r = 0; r < nrows; r++)
		total += rows[r].frees;
	fprintf(f, "%" PRIu64 " free%s of blocks whose allocation was not seen", total,
		total == 1 ? "" : "s");
	for (size_t r = 0; r < nrows; r++) {
		const struct cause_row *c = &rows[r];

		if (!name_pids) {
			fprintf(f, "%s(%s)", r ? "; " : " ", c->cause);
			continue;
		}
		if (nrows > 1)
			fprintf(f, "%s%" PRIu64 " in pid%s ", r ? "; " : ": ", c->frees,
				c->npids == 1 ? "" : "s");
		else
			fprintf(f, ", in pid%s ", c->npids == 1 ? "" : "s");
		for (size_t i = 0; i < c->npids && i < ROW_PIDS; i++)
			fprintf(f, "%s%" PRIu32, i ? ", " : "", c->pids[i]);
		if (c->npids > ROW_PIDS)
			fprintf(f, " and %zu more", c->npids - ROW_PIDS);
		fprintf(f, " (%s)", c->cause);
	}
	free(rows);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
