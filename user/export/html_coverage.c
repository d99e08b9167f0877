// SPDX-License-Identifier: MIT
/*
 * The HTML report's coverage warnings: each gap (a source that saw only
 * part of the calls, or none of a Python's) is stated once per binary, with
 * the processes it applies to, above the timelines; a lane only names the
 * gaps of its processes and points there. A compose project's seventeen
 * processes of one image give one warning, not seventeen.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export/html.h"
#include "util/grow.h"

#define GAP_PIDS_SHOWN 24 /* pids named in a warning; the rest are counted */

/* The binary a process's sources were probed in: its interpreter, else
 * its executable. */
static const char *gap_binary(const struct ps_proc *p)
{
	if (p->python && p->python[0])
		return p->python;
	return p->exe ? p->exe : "";
}

static bool same_gap(const struct hx_gap *g, const char *binary, const struct ps_source *st)
{
	return g->status == st->status && strcmp(g->binary, binary) == 0 &&
	       strcmp(g->name, st->name) == 0 &&
	       strcmp(g->detail ? g->detail : "", st->detail ? st->detail : "") == 0;
}

static int gap_add_proc(struct hx_gap *g, const struct ps_proc *p)
{
	if (g->nprocs == g->procs_cap) {
		const struct ps_proc **v = PM_GROW(g->procs, &g->procs_cap, g->nprocs + 1, 8);

		if (!v)
			return -ENOMEM;
		g->procs = v;
	}
	g->procs[g->nprocs++] = p;
	return 0;
}

int hx_gaps_build(struct view *v)
{
	size_t cap = 0;

	for (size_t i = 0; i < v->nprocs; i++) {
		const struct ps_proc *p = v->procs[i];
		const char *bin = gap_binary(p);

		for (size_t j = 0; j < p->nsources; j++) {
			const struct ps_source *st = &p->sources[j];
			size_t k;

			if (!hx_coverage_gap(p, st))
				continue;
			for (k = 0; k < v->ngaps && !same_gap(&v->gaps[k], bin, st); k++)
				;
			if (k == v->ngaps) {
				struct hx_gap *g = PM_GROW(v->gaps, &cap, v->ngaps + 1, 8);

				if (!g)
					return -ENOMEM;
				v->gaps = g;
				memset(&g[k], 0, sizeof(g[k]));
				g[k].binary = bin;
				g[k].name = st->name;
				g[k].detail = st->detail;
				g[k].status = st->status;
				v->ngaps++;
			}
			if (gap_add_proc(&v->gaps[k], p))
				return -ENOMEM;
		}
	}
	return 0;
}

void hx_gaps_free(struct view *v)
{
	for (size_t k = 0; k < v->ngaps; k++)
		free(v->gaps[k].procs);
	free(v->gaps);
	v->gaps = NULL;
	v->ngaps = 0;
}

static void write_gap_name(FILE *f, const struct hx_gap *g)
{
	fputs("<b>", f);
	hx_esc_html(f, g->name);
	fputs(" ", f);
	hx_esc_html(f, pm_source_status_name(g->status));
	fputs("</b>", f);
}

/* "pid 7 (python3)" or "pids 7, 8 and 9 (python3), 12 (sh)": pids with
 * their command, those of one command together. lane: only those in it
 * (SIZE_MAX: all). */
static void write_gap_pids(FILE *f, const struct hx_gap *g, size_t lane)
{
	size_t n = 0, shown = 0;

	for (size_t i = 0; i < g->nprocs; i++)
		n += lane == SIZE_MAX || (g->procs[i]->have_lane && g->procs[i]->lane == lane);
	fprintf(f, "pid%s ", n == 1 ? "" : "s");
	for (size_t i = 0; i < g->nprocs; i++) {
		const struct ps_proc *p = g->procs[i];

		if (lane != SIZE_MAX && (!p->have_lane || p->lane != lane))
			continue;
		if (shown == GAP_PIDS_SHOWN) {
			fprintf(f, " and %zu more", n - shown);
			break;
		}
		fprintf(f, "%s%" PRIu32 " (", shown ? ", " : "", p->pid);
		hx_esc_html(f, p->comm && p->comm[0] ? p->comm : "?");
		fputs(")", f);
		shown++;
	}
}

void hx_write_coverage(FILE *f, const struct view *v)
{
	if (!v->ngaps)
		return;
	fputs("<div class=\"warn\" id=\"coverage\"><b>Coverage is not complete.</b> Each gap "
	      "once, with the processes it applies to:<ul style=\"margin:2px 0\">",
	      f);
	for (size_t k = 0; k < v->ngaps; k++) {
		const struct hx_gap *g = &v->gaps[k];

		fprintf(f, "<li id=\"cov-%zu\" class=\"gap\" data-source=\"", k);
		hx_esc_html(f, g->name);
		fprintf(f, "\" data-procs=\"%zu\">", g->nprocs);
		write_gap_name(f, g);
		fputs(" in <code>", f);
		hx_esc_html(f, g->binary[0] ? g->binary : "?");
		fputs("</code>", f);
		if (g->detail && g->detail[0]) {
			fputs(" &mdash; ", f);
			hx_esc_html(f, g->detail);
		}
		fputs(" <span class=\"sub\">(", f);
		write_gap_pids(f, g, SIZE_MAX);
		fputs(")</span></li>", f);
	}
	fputs("</ul></div>\n", f);
}

void hx_write_lane_coverage(FILE *f, const struct view *v, const struct lg_lane *li)
{
	bool said = false;

	for (size_t k = 0; k < v->ngaps; k++) {
		const struct hx_gap *g = &v->gaps[k];
		bool here = false;

		for (size_t i = 0; i < g->nprocs && !here; i++)
			here = g->procs[i]->have_lane && g->procs[i]->lane == li->index;
		if (!here)
			continue;
		if (!said)
			fputs("<div class=\"warn\"><b>Coverage is not complete here.</b><ul "
			      "style=\"margin:2px 0\">",
			      f);
		said = true;
		fputs("<li>", f);
		write_gap_name(f, g);
		fputs(" in ", f);
		write_gap_pids(f, g, li->index);
		fprintf(f, " (<a href=\"#cov-%zu\">why</a>)</li>", k);
	}
	if (said) {
		fputs("</ul></div>\n", f);
	} else if (li->partial) {
		fputs("<div class=\"warn\"><b>Coverage is not complete here:</b> partial sources ",
		      f);
		hx_esc_html(f, li->partial_what);
		fputs("</div>\n", f);
	}
}
