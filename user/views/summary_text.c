// SPDX-License-Identifier: MIT
/* `replay --summary`: the per-process summary for a person. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"
#include "views/summary.h"
#include "views/summary_impl.h"

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

static void print_exit(FILE *out, const struct ps_proc *p)
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
static bool source_requested(const struct ps_proc *p, const char *name)
{
	for (size_t i = 0; i < p->nsources; i++)
		if (strcmp(p->sources[i].name, name) == 0)
			return p->sources[i].status != PM_SRC_OFF;
	return true;
}

static void print_footprint(FILE *out, const struct ps_proc *p)
{
	const struct footprint *f = &p->fp;

	if (!sm_has_footprint(p))
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

/* Zero Python allocator calls or deallocations is itself worth seeing in a
 * process that may run Python, whose source was asked for: it usually means the function
 * is inlined or was not attached. Other kinds' zeros are left out. */
static bool zero_worth_seeing(const struct ps_proc *p, unsigned k)
{
	if (p->python && !*p->python) /* known to have no Python */
		return false;
	if (pm_kind_is_python_alloc(k))
		return source_requested(p, sm_python_allocator(p));
	return k == PM_PY_DEALLOC && source_requested(p, "dealloc");
}

/* ps: a sampled process's scale (NULL: not sampled): its sampled kinds
 * show their estimate beside the count seen, the others say exact. */
static void print_counts(FILE *out, const struct ps_proc *p, const struct sm_sampling *ps)
{
	uint64_t max = 0;
	bool first = true;
	int w;

	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (p->counts[k] > max)
			max = p->counts[k];
	w = num_width(max);
	for (unsigned k = 1; k < PM_KIND_MAX; k++) {
		if (!p->counts[k] && !zero_worth_seeing(p, k))
			continue;
		label(out, first ? "events" : "");
		fprintf(out, "%-12s %*" PRIu64, pm_kind_name(k), w, p->counts[k]);
		if (ps && !procstats__kind_sampled(k))
			fputs("  exact", out);
		else if (ps && ps->scale > 0)
			fprintf(out, "  sampled, estimate %" PRIu64, sm_estimate(p->counts[k], ps));
		else if (ps)
			fputs("  sampled, no estimate", out);
		fputc('\n', out);
		first = false;
	}
}

static void print_gc(FILE *out, const struct ps_proc *p)
{
	uint64_t n = p->counts[PM_GC_DONE], unfinished = sm_gc_unfinished(p);
	char note[256];
	int col;

	label(out, "gc");
	if (!n && !unfinished) {
		fprintf(out, "no collections seen (source %s)\n", sm_gc_source_name(p->gc_src));
		return;
	}
	fprintf(out, "source %s", sm_gc_source_name(p->gc_src));
	if (unfinished)
		fprintf(out, ", %" PRIu64 " started but not finished", unfinished);
	fputc('\n', out);
	label(out, "");
	fprintf(out,
		"%" PRIu64 " collection%s (gen0 %" PRIu64 ", gen1 %" PRIu64 ", gen2 %" PRIu64
		"), %" PRIu64 " objects collected",
		n, n == 1 ? "" : "s", p->gc_gen[0], p->gc_gen[1], p->gc_gen[2], p->gc_collected);
	/* the collector's own word for what it found but could not free */
	if (p->gc_uncollectable)
		fprintf(out, " (%" PRIu64 " uncollectable)", p->gc_uncollectable);
	fputc('\n', out);
	label(out, "");
	col = 2 + LABEL_W + fprintf(out, "time %.3f ms, ", (double)p->gc_time_ns / 1e6);
	print_wrapped(out, sm_gc_time_note(p->gc_traced_inside, note, sizeof(note)), col,
		      2 + LABEL_W + 2);
	fputc('\n', out);
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
		fprintf(out, "%s%s %" PRIu64, first ? "" : ", ", sm_lost_kind_name(k), lost[k]);
		first = false;
	}
	fprintf(out,
		")\n  WARNING: %" PRIu64 " events lost%s (ring buffer full); "
		"counts above are lower bounds\n",
		total, who);
}

/* Bytes requested through one allocator, and their estimate when sampled (ps:
 * NULL when the trace is not). */
static void print_requested(FILE *out, const char *name, const char *allocator, uint64_t bytes,
			    const struct sm_sampling *ps)
{
	label(out, name);
	fputs(allocator, out);
	print_bytes(out, bytes);
	if (ps && ps->scale > 0) {
		fputs(" in the windows; estimate ", out);
		print_size(out, sm_estimate(bytes, ps), false);
	}
	fputc('\n', out);
}

static int print_top_types(const struct procstats *s, FILE *out, const struct ps_proc *p, int top)
{
	struct sm_type_row *rows;
	size_t nrows;
	int w;

	rows = sm_top_types(s, p, top, &nrows);
	if (!rows)
		return -ENOMEM;
	w = nrows ? num_width(rows[0].count) : 1;
	for (size_t r = 0; r < nrows; r++) {
		label(out, r ? "" : "top types");
		fprintf(out, "%*" PRIu64 "  ", w, rows[r].count);
		print_text(out, rows[r].name[0] ? rows[r].name : "(unreadable type name)");
		fputc('\n', out);
	}
	if (nrows && nrows < p->types.len) {
		label(out, "");
		fprintf(out, "... and %zu more types\n", (size_t)p->types.len - nrows);
	}
	free(rows);
	return 0;
}

static int print_proc_text(const struct procstats *s, FILE *out, const struct ps_proc *p, int top,
			   const struct sm_trace *t)
{
	struct sm_sampling ps;
	const struct sm_sampling *sampled = procstats__sampled(s) ? &ps : NULL;
	int err;

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
		const struct ps_source *st = &p->sources[i];

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

	if (procstats__sampled(s)) {
		sm_proc_sampling(s, t, p, &ps);
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
	print_counts(out, p, sampled);

	if (source_requested(p, sm_python_allocator(p)) || p->py_bytes) {
		const char *alloc = sm_python_allocator(p);
		char name[48];

		/* named when it is not pymalloc (free-threaded builds) */
		if (strcmp(alloc, "pymalloc"))
			snprintf(name, sizeof(name), "python allocator (%s) ", alloc);
		else
			snprintf(name, sizeof(name), "python allocator ");
		print_requested(out, "requested", name, p->py_bytes, sampled);
	}
	if (p->libc_bytes || p->counts[PM_MALLOC] || p->counts[PM_CALLOC] || p->counts[PM_REALLOC])
		print_requested(out, "", "libc             ", p->libc_bytes, sampled);

	print_gc(out, p);
	print_footprint(out, p);
	err = print_top_types(s, out, p, top);
	if (err)
		return err;

	if (p->unmatched_frees) {
		struct ps_proc *const one[1] = {(struct ps_proc *)p};
		char *say = sm_unmatched_sentence(one, 1, false), *line = NULL;

		if (!say ||
		    asprintf(&line, "%s; they count as frees but not in the nets", say) < 0) {
			free(say);
			return -ENOMEM;
		}
		label(out, "unmatched");
		print_wrapped(out, line, 2 + LABEL_W, 2 + LABEL_W);
		fputc('\n', out);
		free(line);
		free(say);
	}
	print_lost(out, p->lost, sm_lost_sum(p->lost), "");
	return 0;
}

struct comm_count {
	const char *comm;
	size_t n;
};

static int cmp_comm_count(const void *a, const void *b)
{
	const struct comm_count *x = a, *y = b;

	return x->n != y->n ? (x->n > y->n ? -1 : 1) : strcmp(x->comm, y->comm);
}

/* "12 other processes with no Python and no events: sleep (x9), docker-init
 * (x3)", or "... and no events but 1764 libc calls (in the totals): ..." */
static int print_folded(FILE *out, struct ps_proc *const *procs, size_t n, size_t nfolded,
			bool beside_python)
{
	struct comm_count *c = calloc(nfolded ? nfolded : 1, sizeof(*c));
	uint64_t libc = 0;
	size_t k = 0;
	char *line = NULL;
	size_t len = 0;
	FILE *f;

	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *comm = procs[i]->comm && procs[i]->comm[0] ? procs[i]->comm : "?";
		size_t j;

		if (!sm_proc_folds(procs[i], beside_python))
			continue;
		for (unsigned kind = PM_MALLOC; kind <= PM_FREE; kind++)
			libc += procs[i]->counts[kind];
		for (j = 0; j < k && strcmp(c[j].comm, comm); j++)
			;
		c[j].comm = comm;
		c[j].n++;
		k += j == k;
	}
	qsort(c, k, sizeof(*c), cmp_comm_count);
	f = open_memstream(&line, &len);
	if (!f) {
		free(c);
		return -ENOMEM;
	}
	fprintf(f, "%zu %sprocess%s with no Python and no events", nfolded,
		nfolded < n ? "other " : "", nfolded == 1 ? "" : "es");
	if (libc)
		fprintf(f, " but %" PRIu64 " libc call%s (in the totals)", libc,
			libc == 1 ? "" : "s");
	fputc(':', f);
	for (size_t j = 0; j < k; j++) {
		fprintf(f, "%s %s", j ? "," : "", c[j].comm);
		if (c[j].n > 1)
			fprintf(f, " (x%zu)", c[j].n);
	}
	free(c);
	if (fclose(f)) {
		free(line);
		return -ENOMEM;
	}
	fputc('\n', out);
	print_wrapped(out, line, 0, 4);
	fputc('\n', out);
	free(line);
	return 0;
}

/* The processes' sections, those sm_proc_folds folded into one line after
 * the others. */
static int print_procs_text(const struct procstats *s, FILE *out, struct ps_proc *const *procs,
			    size_t n, int top, const struct sm_trace *t)
{
	size_t nfolded = 0;
	bool beside_python = false;
	int err = 0;

	for (size_t i = 0; i < n; i++)
		beside_python |= ps_proc__is_python(procs[i]);
	for (size_t i = 0; i < n && !err; i++) {
		if (sm_proc_folds(procs[i], beside_python))
			nfolded++;
		else
			err = print_proc_text(s, out, procs[i], top, t);
	}
	if (!err && nfolded)
		err = print_folded(out, procs, n, nfolded, beside_python);
	return err;
}

static void print_rel_seconds(FILE *out, const struct sm_trace *t, uint64_t ts)
{
	fprintf(out, "%.3f s", (double)sm_rel_ns(t, ts) / 1e9);
}

/* "container NAME (RUNTIME): compose P/S, image I, id X, 0.120 s - 5.300 s" */
static void print_container_header(FILE *out, const struct ps_cont *c, const struct sm_trace *t)
{
	char id[13];

	fputs("container ", out);
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
		print_text(out, sm_short_id(c->id, id));
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

/* `pymac run`'s module: its docstring's first line as the heading. */
static void print_module_heading(FILE *out, const struct ps_module *m)
{
	if (!m)
		return;
	fputs("== ", out);
	print_wrapped(out, m->heading[0] ? m->heading : m->module, 3, 3);
	fputc('\n', out);
	label(out, "module");
	print_text(out, m->module);
	if (m->exit_code >= 0)
		fprintf(out, ", exit code %d", m->exit_code);
	fputc('\n', out);
}

static void print_group_totals(FILE *out, const struct sm_group *g, bool sampled_counts)
{
	const struct lg_totals *t = &g->tot;
	uint64_t events = 0, lost = sm_lost_sum(g->lost_by_kind);

	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		events += t->events[k];
	fputc('\n', out);
	label(out, "totals");
	fprintf(out, "%zu process%s, %" PRIu64 " event%s%s, python allocator ", g->nprocs,
		g->nprocs == 1 ? "" : "es", events, events == 1 ? "" : "s",
		sampled_counts ? " (allocations as seen in the sampling windows)" : "");
	print_bytes(out, t->py_alloc_bytes);
	fputs(", libc ", out);
	print_bytes(out, t->libc_alloc_bytes);
	fprintf(out,
		", %" PRIu64 " gc collection%s (gen0 %" PRIu64 ", gen1 %" PRIu64 ", gen2 %" PRIu64
		"), %" PRIu64 " lost\n",
		t->gcs, t->gcs == 1 ? "" : "s", t->gc_gen[0], t->gc_gen[1], t->gc_gen[2], lost);
}

/* One section per container, then the host processes. */
static int print_groups_text(const struct procstats *s, FILE *out, struct ps_proc **procs,
			     const struct sm_trace *t, int top)
{
	struct sm_group *g;
	size_t n;
	int err = 0;

	g = sm_make_groups(s, procs, &n);
	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		fputc('\n', out);
		if (g[i].c)
			print_module_heading(out, procstats__module_of(s, g[i].c));
		if (g[i].c)
			print_container_header(out, g[i].c, t);
		else
			fputs("host: processes outside the traced containers\n", out);
		if (!g[i].nprocs) {
			label(out, "");
			fputs("no traced processes\n", out);
			continue;
		}
		err = print_procs_text(s, out, g[i].procs, g[i].nprocs, top, t);
		if (!err)
			print_group_totals(out, &g[i], procstats__sampled(s));
	}
	sm_groups_free(g, s);
	return err;
}

int summary__print_text(const struct procstats *s, FILE *out, const struct pm_trace_info *info,
			int top)
{
	struct ps_proc **procs = sm_sorted_procs(s);
	struct sm_trace t;
	int err = 0;

	if (!procs)
		return -ENOMEM;
	sm_trace_totals(s, info, &t);
	fprintf(out, "trace: %.3f s, %" PRIu64 " events, %" PRIu64 " lost, %s, %zu process%s\n",
		(double)t.duration_ns / 1e9, s->events, t.lost,
		s->complete ? "complete" : "incomplete (recording was cut short)", s->nprocs,
		s->nprocs == 1 ? "" : "es");
	if (s->command) {
		label(out, "command");
		print_text(out, s->command);
		fputc('\n', out);
	}
	for (size_t i = 0; i < s->nmissed; i++) {
		label(out, "missed");
		fputs("container ", out);
		print_text(out, s->missed[i].name);
		if (s->missed[i].ran_ns)
			fprintf(out, " ran %.2f s and", s->missed[i].ran_ns / 1e9);
		fputs(" was missed: it ended before pymac could attach to it\n", out);
	}
	if (t.lost_unattributed)
		print_lost(out, s->lost_unattributed, t.lost_unattributed,
			   " from unidentified processes");
	if (procstats__sampled(s)) {
		uint64_t armed = sm_armed_between(s, t.start_ns, t.start_ns + t.duration_ns);

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
	else
		err = print_procs_text(s, out, procs, s->nprocs, top, &t);
	free(procs);
	if (err)
		return err;
	return ferror(out) ? -EIO : 0;
}
