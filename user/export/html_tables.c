// SPDX-License-Identifier: MIT
/* The HTML report's summary tables: one section per container (and the
 * host), from the per-process books and the lanes' totals. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/html.h"

/* ---- the tables ---- */

static int cmp_type_row(const void *a, const void *b)
{
	const struct sm_type_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The group's deallocated types: its processes' counts, added up by type. */
static int write_types(FILE *f, const struct html_ex *h, const struct sm_group *g, int top)
{
	struct sm_type_row *rows;
	struct u64map sum = {0};
	size_t m = 0;

	for (size_t i = 0; i < g->nprocs; i++) {
		const struct u64map *t = &g->procs[i]->types;

		for (uint32_t j = 0; j < t->cap; j++) {
			struct u64map_ent *e;

			if (!t->e[j].key)
				continue;
			e = u64map__get(&sum, t->e[j].key);
			if (!e) {
				u64map__free(&sum);
				return -ENOMEM;
			}
			e->val += t->e[j].val;
		}
	}
	rows = malloc((sum.len ? sum.len : 1) * sizeof(*rows));
	if (!rows) {
		u64map__free(&sum);
		return -ENOMEM;
	}
	for (uint32_t j = 0; j < sum.cap; j++)
		if (sum.e[j].key)
			rows[m++] = (struct sm_type_row){
			    procstats__type_name(h->ps, (uint32_t)(sum.e[j].key - 1)),
			    sum.e[j].val};
	u64map__free(&sum);
	qsort(rows, m, sizeof(*rows), cmp_type_row);
	fputs("<table><caption>Top deallocated types</caption>\n<tr><th>type</th><th>count</th>"
	      "</tr>\n",
	      f);
	if (!m)
		fputs("<tr><td colspan=\"2\">none seen</td></tr>\n", f);
	for (size_t i = 0; i < m && (int)i < top; i++) {
		fputs("<tr><td>", f);
		if (rows[i].name[0])
			hx_esc_html(f, rows[i].name);
		else
			fputs("<i>(unreadable type name)</i>", f);
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n", rows[i].count);
	}
	if ((int)m > top && top >= 0)
		fprintf(f, "<tr><td colspan=\"2\">&hellip; and %zu more types</td></tr>\n",
			m - (size_t)top);
	fputs("</table>\n", f);
	free(rows);
	return 0;
}

static void write_counts(FILE *f, const struct lg_totals *t)
{
	uint64_t sum = 0;
	char b[32];

	fputs("<table><caption>Events</caption>\n<tr><th>kind</th><th>count</th></tr>\n", f);
	for (unsigned k = 1; k < PM_KIND_MAX; k++) {
		sum += t->events[k];
		/* zero allocator calls is news: inlined or not attached */
		if (!t->events[k] && !pm_kind_is_python_alloc(k) && k != PM_PY_DEALLOC)
			continue;
		fputs("<tr><td>", f);
		hx_esc_html(f, pm_kind_name(k));
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n", t->events[k]);
	}
	fprintf(f, "<tr><th>total</th><th class=\"n\">%" PRIu64 "</th></tr>\n</table>\n", sum);
	fputs("<table><caption>Bytes requested</caption>\n", f);
	fprintf(f, "<tr><td>python allocator</td><td class=\"n\">%s</td></tr>\n",
		hx_fmt_bytes(b, sizeof(b), (double)t->py_alloc_bytes));
	fprintf(f, "<tr><td>libc</td><td class=\"n\">%s</td></tr>\n</table>\n",
		hx_fmt_bytes(b, sizeof(b), (double)t->libc_alloc_bytes));
}

static void write_gc_table(FILE *f, const struct view *v, size_t grp)
{
	const struct sm_group *gr = &v->groups[grp];
	const uint64_t(*c)[3] = (const uint64_t(*)[3])v->grp_gc[grp];
	uint64_t unfinished = sm_totals_unfinished(&gr->tot);
	char note[256];

	fputs("<table><caption>GC by generation</caption>\n<tr><th>generation</th>"
	      "<th>collections</th><th>total time</th><th>collected</th></tr>\n",
	      f);
	for (int g = 0; g <= HX_NGEN; g++) {
		if (g == HX_NGEN && !c[g][0])
			break;
		if (g < HX_NGEN)
			fprintf(f,
				"<tr><td><i style=\"display:inline-block;width:10px;height:10px;"
				"background:%s\"></i> gen%d</td>",
				hx_gen_color[g], g);
		else
			fputs("<tr><td>unknown</td>", f);
		fprintf(f,
			"<td class=\"n\">%" PRIu64 "</td><td class=\"n\">%.3f ms</td>"
			"<td class=\"n\">%" PRIu64 "</td></tr>\n",
			c[g][0], (double)c[g][1] / 1e6, c[g][2]);
	}
	fprintf(f,
		"<tr><th>all</th><th class=\"n\">%" PRIu64 "</th><th class=\"n\">%.3f ms</th>"
		"<th class=\"n\">%" PRIu64 "</th></tr>\n",
		gr->tot.gcs, (double)gr->tot.gc_ns / 1e6, gr->tot.gc_collected);
	fputs("<tr><td colspan=\"4\">source: ", f);
	hx_esc_html(f, sm_gc_source_name(gr->gc_src));
	if (unfinished)
		fprintf(f, "; %" PRIu64 " started but not finished", unfinished);
	if (gr->tot.gcs) {
		fputs("</td></tr>\n<tr class=\"gctime\"><td colspan=\"4\">times ", f);
		hx_esc_html(f, sm_gc_time_note(gr->tot.gc_traced_inside, note, sizeof(note)));
	}
	fputs("</td></tr>\n</table>\n", f);
}

static void write_lost_table(FILE *f, const struct sm_group *g)
{
	uint64_t lost = sm_lost_sum(g->lost_by_kind);

	fputs("<table><caption>Lost events</caption>\n", f);
	if (!lost) {
		fputs("<tr><td>none</td></tr>\n</table>\n", f);
		return;
	}
	fprintf(f, "<tr><th>all</th><th class=\"n\">%" PRIu64 "</th></tr>\n", lost);
	for (unsigned k = 0; k < PM_KIND_MAX; k++) {
		if (!g->lost_by_kind[k])
			continue;
		fputs("<tr><td>", f);
		hx_esc_html(f, sm_lost_kind_name(k));
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n", g->lost_by_kind[k]);
	}
	fputs("</table>\n", f);
}

/* Footprint mode: each process's mappings and resident set (at the end, or
 * when the process exited, and the peaks). */
static void write_fp_table(FILE *f, struct ps_proc *const *procs, size_t n)
{
	bool any = false;
	char b[6][32];

	for (size_t i = 0; i < n; i++) {
		const struct ps_proc *p = procs[i];
		const struct footprint *fp = &p->fp;

		if (!sm_has_footprint(p))
			continue;
		if (!any)
			fputs("<table><caption>Footprint (anonymous memory mapped)</caption>\n"
			      "<tr><th>pid</th><th>process</th><th>last</th><th>of it arenas</th>"
			      "<th>peak</th><th>arenas mapped / released</th><th>RSS last</th>"
			      "<th>RSS peak</th></tr>\n",
			      f);
		any = true;
		fprintf(f, "<tr><td class=\"n\">%" PRIu32 "</td><td>", p->pid);
		hx_esc_html(f, p->comm);
		fprintf(f,
			"</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
			"<td class=\"n\">%" PRIu64 " / %" PRIu64 "</td>",
			hx_fmt_bytes(b[0], sizeof(b[0]), (double)footprint__total(fp)),
			hx_fmt_bytes(b[1], sizeof(b[1]), (double)fp->bytes[FP_ARENA]),
			hx_fmt_bytes(b[2], sizeof(b[2]), (double)fp->peak), fp->arena_maps,
			fp->arena_unmaps);
		if (fp->have_rss)
			fprintf(f, "<td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
				hx_fmt_bytes(b[3], sizeof(b[3]), (double)fp->rss),
				hx_fmt_bytes(b[4], sizeof(b[4]), (double)fp->rss_peak));
		else
			fputs("<td colspan=\"2\">no sample</td></tr>\n", f);
	}
	if (any)
		fputs("</table>\n", f);
}

static void write_exit(FILE *f, const struct ps_proc *p)
{
	int st = p->exit_code;

	if (!p->exited)
		fputs("running at end", f);
	else if ((st & 0x7f) == 0)
		fprintf(f, "exit %d", (st >> 8) & 0xff);
	else
		fprintf(f, "signal %d", st & 0x7f);
}

static const char *row_class(const struct ps_proc *p, enum pm_source_status st)
{
	switch (st) {
	case PM_SRC_PARTIAL:
		return "partial";
	case PM_SRC_FULL:
		return "full";
	case PM_SRC_NONE:
		return hx_proc_is_python(p) ? "none" : "off";
	default:
		return "off";
	}
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Same command and binary, and every source the same with the same why:
 * one row of the table serves both. */
static bool same_coverage(const struct ps_proc *a, const struct ps_proc *b)
{
	if (!same_str(a->comm, b->comm) || !same_str(a->exe, b->exe) ||
	    !same_str(a->python, b->python) || !same_str(a->python_version, b->python_version) ||
	    a->nsources != b->nsources)
		return false;
	for (size_t j = 0; j < a->nsources; j++)
		if (a->sources[j].status != b->sources[j].status ||
		    !same_str(a->sources[j].name, b->sources[j].name) ||
		    !same_str(a->sources[j].detail, b->sources[j].detail))
			return false;
	return true;
}

#define ROW_PIDS_SHOWN 24

/* The pid cell and the process cell (left open) of procs[i] and the
 * later ones like it (like[], nlike of them). */
static void write_proc_name(FILE *f, struct ps_proc *const *procs, const size_t *like, size_t nlike,
			    bool python)
{
	const struct ps_proc *p = procs[like[0]];

	fputs("<td class=\"n\">", f);
	for (size_t k = 0; k < nlike && k < ROW_PIDS_SHOWN; k++)
		fprintf(f, "%s%" PRIu32, k ? ", " : "", procs[like[k]]->pid);
	if (nlike > ROW_PIDS_SHOWN)
		fprintf(f, " and %zu more", nlike - ROW_PIDS_SHOWN);
	fputs("</td><td>", f);
	hx_esc_html(f, p->comm);
	fputs(" <span class=\"sub\">", f);
	hx_esc_html(f, p->exe);
	if (python && p->python_version && p->python_version[0]) {
		fputs(" [python ", f);
		hx_esc_html(f, p->python_version);
		fputs("]", f);
	}
	fputs(", ", f);
	if (nlike > 1)
		fprintf(f, "%zu processes", nlike);
	else
		write_exit(f, p);
	fputs("</span>", f);
}

/* The rows of one process, or of several alike. */
static void write_proc_rows(FILE *f, struct ps_proc *const *procs, const size_t *like, size_t nlike)
{
	const struct ps_proc *p = procs[like[0]];

	for (size_t j = 0; j < p->nsources; j++) {
		const struct ps_source *st = &p->sources[j];

		fprintf(f, "<tr class=\"%s\">", row_class(p, st->status));
		if (j) {
			if (nlike == 1)
				fprintf(f, "<td class=\"n\">%" PRIu32 "</td><td>", p->pid);
			else
				fputs("<td class=\"n\"></td><td>", f);
			hx_esc_html(f, p->comm);
		} else {
			write_proc_name(f, procs, like, nlike, true);
		}
		fputs("</td><td>", f);
		hx_esc_html(f, st->name);
		fputs("</td><td>", f);
		hx_esc_html(f, pm_source_status_name(st->status));
		fputs("</td><td>", f);
		hx_esc_html(f, st->detail);
		fputs("</td></tr>\n", f);
	}
	if (!p->nsources) {
		fputs("<tr>", f);
		write_proc_name(f, procs, like, nlike, false);
		fputs("</td><td colspan=\"3\">no coverage record</td></tr>\n", f);
	}
}

/* Processes and what each source saw of them: the "why" of a partial lane.
 * Processes of one command whose coverage is the same share their rows
 * (without memory for that, each has its own). */
void hx_write_procs(FILE *f, struct ps_proc *const *procs, size_t n)
{
	size_t *like = malloc((n ? n : 1) * sizeof(*like));
	bool *done = calloc(n ? n : 1, sizeof(*done));

	fputs("<table class=\"wide\"><caption>Processes and source coverage</caption>\n"
	      "<tr><th>pid</th><th>process</th><th>source</th><th>coverage</th><th>why</th></tr>\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		size_t nlike = 0, one = i;

		if (!like || !done) {
			write_proc_rows(f, procs, &one, 1);
			continue;
		}
		if (done[i])
			continue;
		for (size_t k = i; k < n; k++)
			if (!done[k] && same_coverage(procs[i], procs[k])) {
				like[nlike++] = k;
				done[k] = true;
			}
		write_proc_rows(f, procs, like, nlike);
	}
	free(like);
	free(done);
	fputs("</table>\n", f);
}

static void write_time(FILE *f, const struct view *v, bool have, uint64_t ts, const char *none)
{
	if (!have)
		fputs(none, f);
	else
		fprintf(f, "%.3f s", (double)sm_rel_ns(&v->tr, ts) / 1e9);
}

static void write_group_head(FILE *f, const struct view *v, const struct sm_group *g, size_t gi)
{
	const struct ps_cont *c = g->c;
	char id[13];

	fprintf(f,
		"<section class=\"group\" id=\"group-%zu\" data-kind=\"%s\" data-gc=\"%" PRIu64
		"\" data-name=\"",
		gi, c ? "container" : "host", g->tot.gcs);
	hx_esc_html(f, c ? c->name : "host");
	fputs("\">\n<h2>", f);
	if (!c) {
		fputs("host processes <span class=\"sub\">outside the traced containers</span>", f);
		return;
	}
	fputs("container ", f);
	hx_esc_html(f, c->name);
	fputs(" <span class=\"sub\">", f);
	hx_esc_html(f, c->runtime);
	if (c->service && c->service[0]) {
		fputs(" &middot; compose ", f);
		if (c->project && c->project[0]) {
			hx_esc_html(f, c->project);
			fputs("/", f);
		}
		hx_esc_html(f, c->service);
	}
	if (c->image && c->image[0]) {
		fputs(" &middot; image ", f);
		hx_esc_html(f, c->image);
	}
	if (c->id && c->id[0]) {
		fputs(" &middot; id ", f);
		hx_esc_html(f, sm_short_id(c->id, id));
	}
	fputs(" &middot; ", f);
	write_time(f, v, c->have_start, c->start_ts, "start not recorded");
	fputs(" &ndash; ", f);
	write_time(f, v, c->stopped, c->stop_ts, "running at end");
	fputs("</span>", f);
}

int hx_write_group(struct html_ex *h, const struct view *v, size_t gi)
{
	const struct sm_group *g = &v->groups[gi];
	FILE *f = h->out;
	int err;

	write_group_head(f, v, g, gi);
	fputs("</h2>\n<div class=\"tables\">\n", f);
	write_counts(f, &g->tot);
	write_gc_table(f, v, gi);
	err = write_types(f, h, g, h->o.top > 0 ? h->o.top : 10);
	if (err)
		return err;
	write_lost_table(f, g);
	write_fp_table(f, g->procs, g->nprocs);
	fputs("</div>\n", f);
	hx_write_procs(f, g->procs, g->nprocs);
	fputs("</section>\n", f);
	return 0;
}
