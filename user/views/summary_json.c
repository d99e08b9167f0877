// SPDX-License-Identifier: MIT
/* `replay --summary --json`: the per-process summary as one JSON document. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "util/json.h"
#include "views/summary.h"
#include "views/summary_impl.h"

/* counts, bytes and gc of a process or a group */
static void json_counters(struct jsonw *w, const uint64_t counts[PM_KIND_MAX],
			  const uint64_t gc_gen[LG_GENERATIONS], uint64_t gcs, uint64_t collected,
			  uint64_t uncollectable, uint64_t time_ns, uint64_t inside,
			  unsigned gc_src, uint64_t unfinished)
{
	char note[256];

	jsonw_name(w, "counts");
	jsonw_start_object(w);
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		jsonw_uint_field(w, pm_kind_name(k), counts[k]);
	jsonw_end_object(w);
	jsonw_name(w, "gc");
	jsonw_start_object(w);
	jsonw_uint_field(w, "collections", gcs);
	jsonw_name(w, "by_generation");
	jsonw_start_array(w);
	for (unsigned g = 0; g < LG_GENERATIONS; g++)
		jsonw_uint(w, gc_gen[g]);
	jsonw_end_array(w);
	jsonw_uint_field(w, "collected", collected);
	jsonw_uint_field(w, "uncollectable", uncollectable);
	jsonw_uint_field(w, "time_ns", time_ns);
	jsonw_string_field(w, "source", sm_gc_source_name(gc_src));
	jsonw_uint_field(w, "unfinished", unfinished);
	/* what time_ns measured (sm_gc_time_note) */
	jsonw_uint_field(w, "traced_inside", inside);
	jsonw_bool_field(w, "time_is_own", !inside);
	jsonw_string_field(w, "time_note", sm_gc_time_note(inside, note, sizeof(note)));
	jsonw_end_object(w);
}

/* bytes through each allocator, and for a process what it holds (held[2]:
 * python's and libc's; NULL for groups and lanes, which keep no such net) */
static void json_bytes(struct jsonw *w, uint64_t py_alloc, uint64_t malloc_, uint64_t py_freed,
		       uint64_t malloc_freed, const int64_t *held)
{
	jsonw_name(w, "bytes");
	jsonw_start_object(w);
	jsonw_uint_field(w, "py_alloc", py_alloc);
	jsonw_uint_field(w, "malloc", malloc_);
	jsonw_uint_field(w, "py_freed", py_freed);
	jsonw_uint_field(w, "malloc_freed", malloc_freed);
	if (held) {
		jsonw_int_field(w, "py_held", held[0]);
		jsonw_int_field(w, "malloc_held", held[1]);
	}
	jsonw_end_object(w);
}

/* What sampling leaves exact, and the end of the "sampling" object. */
static void json_sampling_exact(struct jsonw *w)
{
	jsonw_name(w, "exact");
	jsonw_start_array(w);
	jsonw_string(w, "gc");
	jsonw_string(w, "processes");
	jsonw_string(w, "footprint");
	jsonw_end_array(w);
	jsonw_end_object(w);
}

static void json_lost(struct jsonw *w, const uint64_t lost[PM_KIND_MAX])
{
	jsonw_uint_field(w, "lost", sm_lost_sum(lost));
	jsonw_name(w, "lost_by_kind");
	jsonw_start_object(w);
	for (unsigned k = 0; k < PM_KIND_MAX; k++)
		if (lost[k])
			jsonw_uint_field(w, sm_lost_kind_name(k), lost[k]);
	jsonw_end_object(w);
}

/* A sampled process: its scale, and its sampled counts scaled to its life. */
static void json_proc_sampling(struct jsonw *w, const struct procstats *s, const struct ps_proc *p,
			       const struct sm_trace *t)
{
	struct sm_sampling ps;

	sm_proc_sampling(s, t, p, &ps);
	jsonw_name(w, "sampling");
	jsonw_start_object(w);
	jsonw_uint_field(w, "life_ns", ps.life_ns);
	jsonw_uint_field(w, "armed_ns", ps.armed_ns);
	if (ps.scale > 0)
		jsonw_float_field(w, "scale", NULL, ps.scale);
	else
		jsonw_null_field(w, "scale");
	jsonw_name(w, "sampled_kinds");
	jsonw_start_array(w);
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (procstats__kind_sampled(k))
			jsonw_string(w, pm_kind_name(k));
	jsonw_end_array(w);
	json_sampling_exact(w);
	if (ps.scale <= 0) {
		/* no window while it ran: nothing to scale */
		jsonw_null_field(w, "estimated_counts");
		jsonw_null_field(w, "estimated_bytes");
		return;
	}
	jsonw_name(w, "estimated_counts");
	jsonw_start_object(w);
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (procstats__kind_sampled(k))
			jsonw_uint_field(w, pm_kind_name(k), sm_estimate(p->counts[k], &ps));
	jsonw_end_object(w);
	jsonw_name(w, "estimated_bytes");
	jsonw_start_object(w);
	jsonw_uint_field(w, "py_alloc", sm_estimate(p->py_bytes, &ps));
	jsonw_uint_field(w, "malloc", sm_estimate(p->libc_bytes, &ps));
	jsonw_end_object(w);
}

static void json_footprint(struct jsonw *w, const struct ps_proc *p)
{
	const struct footprint *f = &p->fp;

	jsonw_name(w, "footprint");
	jsonw_start_object(w);
	jsonw_uint_field(w, "total_bytes", footprint__total(f));
	jsonw_uint_field(w, "arena_bytes", f->bytes[FP_ARENA]);
	jsonw_uint_field(w, "mmap_bytes", f->bytes[FP_MMAP]);
	jsonw_uint_field(w, "heap_bytes", f->heap);
	jsonw_uint_field(w, "peak_bytes", f->peak);
	jsonw_uint_field(w, "arenas_mapped", f->arena_maps);
	jsonw_uint_field(w, "arenas_released", f->arena_unmaps);
	jsonw_uint_field(w, "arena_size", f->arena_size);
	jsonw_uint_field(w, "existing_bytes", f->existing);
	if (f->have_rss) {
		jsonw_uint_field(w, "rss_bytes", f->rss);
		jsonw_uint_field(w, "rss_anon_bytes", f->rss_anon);
		jsonw_uint_field(w, "rss_peak_bytes", f->rss_peak);
		jsonw_uint_field(w, "rss_samples", p->counts[PM_RSS]);
	}
	jsonw_end_object(w);
}

static void json_sources(struct jsonw *w, const struct ps_proc *p)
{
	static const char *const words[] = {
	    [PM_SRC_FULL] = "complete",
	    [PM_SRC_PARTIAL] = "partial",
	    [PM_SRC_NONE] = "none",
	    [PM_SRC_OFF] = "off",
	};

	jsonw_name(w, "sources");
	jsonw_start_object(w);
	for (size_t j = 0; j < p->nsources; j++) {
		const struct ps_source *st = &p->sources[j];

		jsonw_name(w, st->name);
		jsonw_start_object(w);
		jsonw_string_field(w, "status", pm_source_status_name(st->status));
		jsonw_string_field(w, "detail", st->detail);
		jsonw_end_object(w);
	}
	jsonw_end_object(w);
	/* the same, in the words a reader of coverage asks for */
	jsonw_name(w, "coverage");
	jsonw_start_object(w);
	for (size_t j = 0; j < p->nsources; j++) {
		unsigned k = (unsigned)p->sources[j].status;

		jsonw_string_field(w, p->sources[j].name,
				   k < sizeof(words) / sizeof(words[0]) && words[k] ? words[k]
										    : "unknown");
	}
	jsonw_end_object(w);
}

static int json_proc(struct jsonw *w, const struct procstats *s, const struct ps_proc *p, int top,
		     const struct sm_trace *t)
{
	const int64_t held[2] = {p->py_net, p->libc_net};
	struct sm_type_row *rows;
	size_t nrows;

	jsonw_start_object(w);
	jsonw_uint_field(w, "pid", p->pid);
	jsonw_uint_field(w, "ppid", p->ppid);
	jsonw_string_field(w, "comm", p->comm);
	jsonw_string_field(w, "exe", p->exe);
	jsonw_string_field(w, "python", p->python);
	jsonw_string_field(w, "python_version", p->python_version);
	if (ps_proc__is_python(p))
		jsonw_string_field(w, "allocator", sm_python_allocator(p));
	else
		jsonw_null_field(w, "allocator");
	jsonw_uint_field(w, "cgroup_id", p->cgroup_id);
	if (p->have_lane)
		jsonw_uint_field(w, "lane", p->lane);
	else
		jsonw_null_field(w, "lane");
	json_counters(w, p->counts, p->gc_gen, p->counts[PM_GC_DONE], p->gc_collected,
		      p->gc_uncollectable, p->gc_time_ns, p->gc_traced_inside, p->gc_src,
		      sm_gc_unfinished(p));
	json_bytes(w, p->py_bytes, p->libc_bytes, p->py_free_bytes, p->libc_free_bytes, held);
	jsonw_name(w, "held_at_exit");
	jsonw_start_object(w);
	jsonw_int_field(w, "py", p->py_held_at_exit);
	jsonw_int_field(w, "malloc", p->libc_held_at_exit);
	jsonw_end_object(w);
	jsonw_uint_field(w, "unmatched_frees", p->unmatched_frees);
	jsonw_uint_field(w, "unmatched_py_frees", p->unmatched_py_frees);
	if (p->unmatched_frees) {
		char cause[512];

		jsonw_string_field(w, "unmatched_cause",
				   sm_unmatched_cause(p, cause, sizeof(cause)));
	} else {
		jsonw_null_field(w, "unmatched_cause");
	}
	/* how pymac came to trace it, as its PROCESS records said */
	jsonw_name(w, "origin");
	jsonw_start_array(w);
	for (unsigned o = 0; o <= PM_ORIGIN_MAX; o++)
		if (p->origins & (1u << o))
			jsonw_string(w, sm_origin_name((enum pm_proc_origin)o));
	jsonw_end_array(w);

	rows = sm_top_types(s, p, top, &nrows);
	if (!rows)
		return -ENOMEM;
	jsonw_name(w, "top_dealloc_types");
	jsonw_start_array(w);
	for (size_t r = 0; r < nrows; r++) {
		jsonw_start_object(w);
		jsonw_string_field(w, "type", rows[r].name);
		jsonw_uint_field(w, "count", rows[r].count);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	free(rows);

	if (procstats__sampled(s))
		json_proc_sampling(w, s, p, t);
	if (sm_has_footprint(p))
		json_footprint(w, p);
	json_lost(w, p->lost);
	json_sources(w, p);
	if (p->exited)
		jsonw_int_field(w, "exit_code", p->exit_code);
	else
		jsonw_null_field(w, "exit_code");
	jsonw_end_object(w);
	return 0;
}

static void json_totals(struct jsonw *w, const struct lg_totals *t, unsigned gc_src,
			const uint64_t lost_by_kind[PM_KIND_MAX])
{
	jsonw_name(w, "totals");
	jsonw_start_object(w);
	json_counters(w, t->events, t->gc_gen, t->gcs, t->gc_collected, t->gc_uncollectable,
		      t->gc_ns, t->gc_traced_inside, gc_src, sm_totals_unfinished(t));
	json_bytes(w, t->py_alloc_bytes, t->libc_alloc_bytes, t->py_free_bytes, t->libc_free_bytes,
		   NULL);
	jsonw_uint_field(w, "unmatched_frees", t->unmatched_frees);
	jsonw_uint_field(w, "unmatched_py_frees", t->unmatched_py_frees);
	json_lost(w, lost_by_kind);
	jsonw_end_object(w);
}

static int json_group(struct jsonw *w, const struct procstats *s, const struct sm_group *g,
		      const struct sm_trace *t, int top)
{
	const struct ps_cont *c = g->c;
	const struct ps_module *m = procstats__module_of(s, c);

	jsonw_start_object(w);
	jsonw_string_field(w, "id", c ? c->id : "");
	jsonw_string_field(w, "name", c ? c->name : "host");
	jsonw_string_field(w, "image", c ? c->image : "");
	jsonw_string_field(w, "service", c ? c->service : "");
	jsonw_string_field(w, "project", c ? c->project : "");
	jsonw_string_field(w, "runtime", c ? c->runtime : "host");
	jsonw_string_field(w, "pod_uid", c && c->pod_uid ? c->pod_uid : "");
	jsonw_string_field(w, "qos", c && c->qos ? c->qos : "");
	jsonw_uint_field(w, "cgroup_id", c ? c->cgroup_id : g->host_cgroup);
	/* the host is there from the start and never stops */
	if (!c)
		jsonw_int_field(w, "start_ns", 0);
	else if (c->have_start)
		jsonw_int_field(w, "start_ns", sm_rel_ns(t, c->start_ts));
	else
		jsonw_null_field(w, "start_ns");
	if (c && c->stopped)
		jsonw_int_field(w, "stop_ns", sm_rel_ns(t, c->stop_ts));
	else
		jsonw_null_field(w, "stop_ns");
	/* the module `pymac run` ran in it */
	if (m) {
		jsonw_name(w, "module");
		jsonw_start_object(w);
		jsonw_string_field(w, "file", m->module);
		jsonw_string_field(w, "heading", m->heading);
		if (m->exit_code >= 0)
			jsonw_int_field(w, "exit_code", m->exit_code);
		else
			jsonw_null_field(w, "exit_code");
		jsonw_end_object(w);
	} else {
		jsonw_null_field(w, "module");
	}
	jsonw_name(w, "processes");
	jsonw_start_array(w);
	for (size_t i = 0; i < g->nprocs; i++) {
		int err = json_proc(w, s, g->procs[i], top, t);

		if (err)
			return err;
	}
	jsonw_end_array(w);
	json_totals(w, &g->tot, g->gc_src, g->lost_by_kind);
	jsonw_end_object(w);
	return 0;
}

static const char *lane_kind_name(enum lg_lane_kind k)
{
	switch (k) {
	case LG_LANE_CONTAINER:
		return "container";
	case LG_LANE_HOST:
		return "process";
	default:
		return "unknown";
	}
}

/* The ledger's lanes: the same books the timeline and the exports keep. */
static void json_lanes(struct jsonw *w, const struct procstats *s)
{
	static const uint64_t no_lost[PM_KIND_MAX];

	jsonw_name(w, "lanes");
	jsonw_start_array(w);
	for (size_t i = 0; i < ledger__lane_count(s->lg); i++) {
		const struct lg_lane *l = ledger__lane(s->lg, i);

		jsonw_start_object(w);
		jsonw_uint_field(w, "index", l->index);
		jsonw_string_field(w, "kind", lane_kind_name(l->kind));
		jsonw_string_field(w, "name", l->name);
		jsonw_uint_field(w, "cgroup_id", l->cgroup_id);
		json_totals(w, &l->tot, 0, no_lost);
		jsonw_uint_field(w, "lost", l->tot.lost);
		jsonw_name(w, "held");
		jsonw_start_object(w);
		jsonw_int_field(w, "py", l->lv.py_net);
		jsonw_int_field(w, "malloc", l->lv.libc_net);
		jsonw_int_field(w, "py_blocks", l->lv.py_live);
		jsonw_int_field(w, "malloc_blocks", l->lv.libc_live);
		jsonw_end_object(w);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
}

static void json_trace_sampling(struct jsonw *w, const struct procstats *s,
				const struct sm_trace *t)
{
	uint64_t armed = sm_armed_between(s, t->start_ns, t->start_ns + t->duration_ns);

	jsonw_name(w, "sampling");
	jsonw_start_object(w);
	jsonw_float_field(w, "duty", NULL, s->sample_duty);
	jsonw_uint_field(w, "period_ns", s->sample_period_ns);
	jsonw_uint_field(w, "windows", s->nwindows);
	jsonw_uint_field(w, "armed_ns", armed);
	if (armed)
		jsonw_float_field(w, "scale", NULL, (double)t->duration_ns / (double)armed);
	else
		jsonw_null_field(w, "scale");
	jsonw_name(w, "estimated");
	jsonw_start_array(w);
	jsonw_string(w, "counts of allocation kinds");
	jsonw_string(w, "bytes");
	jsonw_end_array(w);
	json_sampling_exact(w);
}

int summary__print_json(const struct procstats *s, FILE *out, const struct pm_trace_info *info,
			int top)
{
	struct ps_proc **procs = sm_sorted_procs(s);
	struct sm_group *groups = NULL;
	struct sm_trace t;
	struct jsonw w;
	size_t ngroups = 0;
	int err = 0;

	if (!procs)
		return -ENOMEM;
	groups = sm_make_groups(s, procs, &ngroups);
	if (!groups) {
		free(procs);
		return -ENOMEM;
	}
	sm_trace_totals(s, info, &t);
	jsonw_init(&w, out, true);
	jsonw_start_object(&w);
	jsonw_name(&w, "trace");
	jsonw_start_object(&w);
	jsonw_uint_field(&w, "version", t.version);
	jsonw_uint_field(&w, "start_ns", t.start_ns);
	jsonw_uint_field(&w, "duration_ns", t.duration_ns);
	jsonw_uint_field(&w, "events", s->events);
	jsonw_uint_field(&w, "lost", t.lost);
	jsonw_bool_field(&w, "complete", s->complete);
	jsonw_end_object(&w);
	if (procstats__sampled(s))
		json_trace_sampling(&w, s, &t);
	jsonw_name(&w, "processes");
	jsonw_start_array(&w);
	for (size_t i = 0; i < s->nprocs && !err; i++)
		err = json_proc(&w, s, procs[i], top, &t);
	jsonw_end_array(&w);
	jsonw_name(&w, "containers");
	jsonw_start_array(&w);
	for (size_t i = 0; i < ngroups && !err; i++)
		err = json_group(&w, s, &groups[i], &t, top);
	jsonw_end_array(&w);
	/* containers that ended before they could be traced */
	jsonw_name(&w, "missed_containers");
	jsonw_start_array(&w);
	for (size_t i = 0; i < s->nmissed; i++) {
		jsonw_start_object(&w);
		jsonw_string_field(&w, "name", s->missed[i].name);
		jsonw_name(&w, "ran_ns");
		if (s->missed[i].ran_ns)
			jsonw_uint(&w, s->missed[i].ran_ns);
		else
			jsonw_null(&w);
		jsonw_end_object(&w);
	}
	jsonw_end_array(&w);
	if (!err)
		json_lanes(&w, s);
	jsonw_end_object(&w);
	sm_groups_free(groups, s);
	free(procs);
	if (err)
		return err;
	return jsonw_finish(&w);
}
