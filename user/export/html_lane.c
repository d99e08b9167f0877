// SPDX-License-Identifier: MIT
/*
 * A lane of the HTML report: its chart (nets, call rates, collections,
 * lost events, and in footprint mode the mapped memory and RSS) drawn from
 * the timeline's series, the coverage warnings of its processes, and the
 * numbers behind the hover readout as JSON in a <script> element.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "export/html.h"
#include "util/json.h"

/* A series of n values as "x,y" points: nets at slice ends, rates at the
 * middles. */
static void path_points(FILE *f, const struct view *v, const double *val, double max, int y0,
			int hgt, bool mid)
{
	double slice = (double)PLOT_W / (double)v->n;

	for (size_t i = 0; i < v->n; i++) {
		double x = PLOT_X + slice * ((double)i + (mid ? 0.5 : 1.0));
		double y = y0 + hgt - (max > 0 ? val[i] / max * hgt : 0);

		if (y < y0)
			y = y0;
		fprintf(f, "%s%.1f,%.1f", i ? " " : "", x, y);
	}
}

/* How a series is drawn as a line; dash is "" or a stroke-dasharray. */
struct line_style {
	const char *cls, *color, *width, *dash;
};

static void write_line(FILE *f, const struct view *v, const struct line_style *ls,
		       const double *val, double max, int y0, int hgt, bool mid)
{
	fprintf(f,
		"<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s "
		"points=\"",
		ls->cls, ls->color, ls->width, ls->dash);
	path_points(f, v, val, max, y0, hgt, mid);
	fputs("\"/>\n", f);
}

/* A level of each slice (an int64_t of struct tl_bucket at off), 0 below 0. */
static void slice_levels(double *val, const struct view *v, const struct tl_bucket *b, size_t off)
{
	for (size_t i = 0; i < v->n; i++) {
		int64_t x = *(const int64_t *)((const char *)&b[i] + off);

		val[i] = x > 0 ? (double)x : 0;
	}
}

static void write_axis(FILE *f, const struct view *v, int dy)
{
	uint64_t span = v->w * v->n;

	for (uint64_t t = 0; t <= span; t += v->tick) {
		double x = hx_xpos(v, v->t0 + t);

		fprintf(f,
			"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f s</text>\n",
			x, x, NET_Y, LOST_Y + LOST_H + dy, x, TICK_Y + dy, v->tick_decimals,
			(double)t / 1e9);
		if (t > UINT64_MAX - v->tick)
			break;
	}
}

/* Where the lane's processes did not exist: shaded, so a flat line there
 * is not read as an idle process. */
static void write_life(FILE *f, const struct view *v, const struct lg_lane *li, int dy)
{
	double a = hx_xpos(v, li->first_ns);

	if (a > PLOT_X + 0.5)
		fprintf(f,
			"<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#f3f3f3\"/>\n",
			PLOT_X, NET_Y, a - PLOT_X, LOST_Y + LOST_H + dy - NET_Y);
	if (li->ended) {
		double b = hx_xpos(v, li->ended_ns);

		if (b < PLOT_X + PLOT_W - 0.5)
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
				"fill=\"#f3f3f3\"/>\n",
				b, NET_Y, PLOT_X + PLOT_W - b, LOST_Y + LOST_H + dy - NET_Y);
	}
}

static bool lane_has_alloc_events(const struct lg_lane *li)
{
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (pm_kind_is_alloc(k) || pm_kind_is_free(k) || k == PM_PY_DEALLOC)
			if (li->tot.events[k])
				return true;
	return false;
}

/* The footprint band: mapped anonymous memory and RSS on one bytes axis. */
static void write_fp_band(FILE *f, const struct view *v, const struct tl_bucket *b, double *vals)
{
	static const struct line_style rss_line = {"rss", RSS_COLOR, "1.8", ""};
	static const struct line_style fp_line = {"fp", FP_COLOR, "1.8", ""};
	double max = 0;
	char buf[32];

	for (size_t i = 0; i < v->n; i++) {
		if ((double)b[i].fp_net > max)
			max = (double)b[i].fp_net;
		if ((double)b[i].rss > max)
			max = (double)b[i].rss;
	}
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
		"stroke=\"#ccc\"/>\n",
		PLOT_X, FP_Y, PLOT_W, FP_H);
	slice_levels(vals, v, b, offsetof(struct tl_bucket, rss));
	write_line(f, v, &rss_line, vals, max, FP_Y, FP_H, false);
	slice_levels(vals, v, b, offsetof(struct tl_bucket, fp_net));
	write_line(f, v, &fp_line, vals, max, FP_Y, FP_H, false);
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">mapped</text>\n",
		PLOT_X - 4, FP_Y + 9, hx_fmt_bytes(buf, sizeof(buf), max), PLOT_X - 4, FP_Y + FP_H,
		PLOT_X - 4, FP_Y + FP_H / 2 + 4);
}

/* One marker: the collections of a lane in one slice and generation. */
struct marker {
	uint64_t lo, hi, total, longest, coll;
	uint64_t inside; /* events traced inside them: their probes' cost is in the times */
	bool known;
	int32_t gen;
	size_t n;
	uint32_t pid; /* 0: more than one process */
};

/* The markers of gcs[from, to) (sorted by slice and generation): one per
 * slice and generation, so a million collections still give a page of
 * bounded size. Returns how many (an array the caller frees), or -1. */
static ssize_t make_markers(const struct hx_gc *gcs, size_t from, size_t to, struct marker **out)
{
	struct marker *m = calloc(to > from ? to - from : 1, sizeof(*m));
	size_t k = 0;

	if (!m)
		return -1;
	for (size_t i = from; i < to; k++) {
		const struct hx_gc *g = &gcs[i];
		struct marker *x = &m[k];

		x->lo = g->start_ns;
		x->hi = g->end_ns;
		x->gen = g->gen;
		x->pid = g->pid;
		for (; i < to && gcs[i].slice == g->slice && gcs[i].gen == g->gen; i++) {
			uint64_t d = gcs[i].end_ns - gcs[i].start_ns;

			x->lo = gcs[i].start_ns < x->lo ? gcs[i].start_ns : x->lo;
			x->hi = gcs[i].end_ns > x->hi ? gcs[i].end_ns : x->hi;
			x->total += d;
			x->inside += gcs[i].inside;
			x->longest = d > x->longest ? d : x->longest;
			if (gcs[i].collected >= 0) {
				x->coll += (uint64_t)gcs[i].collected;
				x->known = true;
			}
			if (gcs[i].pid != x->pid)
				x->pid = 0;
			x->n++;
		}
	}
	*out = m;
	return (ssize_t)k;
}

static void write_gc_markers(FILE *f, const struct view *v, const struct marker *m, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		double x0 = hx_xpos(v, m[k].lo), x1 = hx_xpos(v, m[k].hi);
		int row = m[k].gen >= 0 ? m[k].gen : 0;
		int height = m[k].gen >= 0 ? GC_ROW - 2 : HX_NGEN * GC_ROW - 2;
		int ci = m[k].gen >= 0 ? m[k].gen : HX_NGEN;

		/* whole pixels, at least two wide: a marker is drawn crisp
		 * wherever it falls, never smeared over three half columns */
		x0 = floor(x0);
		x1 = ceil(x1);
		if (x1 - x0 < 2) {
			x1 = x0 + 2;
			if (x1 > PLOT_X + PLOT_W) {
				x1 = PLOT_X + PLOT_W;
				x0 = x1 - 2;
			}
		}
		fprintf(f,
			"<rect class=\"gc g%d\" data-g=\"%zu\" data-gen=\"%d\" data-n=\"%zu\" "
			"x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
			ci, k, m[k].gen, m[k].n, x0, GC_Y + row * GC_ROW + 1, x1 - x0, height,
			hx_gen_color[ci]);
	}
}

/* Its frees of blocks whose allocation was not seen, and why, as the
 * summary says them (with the pids when the lane has several processes). */
static int write_lane_unmatched(FILE *f, const struct view *v, const struct lg_lane *li)
{
	struct ps_proc **mine = malloc((v->nprocs ? v->nprocs : 1) * sizeof(*mine));
	size_t n = 0;
	char *say;

	if (!mine)
		return -ENOMEM;
	for (size_t i = 0; i < v->nprocs; i++)
		if (v->procs[i]->have_lane && v->procs[i]->lane == li->index)
			mine[n++] = v->procs[i];
	say = sm_unmatched_sentence(mine, n, n > 1);
	free(mine);
	if (!say)
		return -ENOMEM;
	fputs("<div class=\"note unmatched\">", f);
	if (say[0])
		hx_esc_html(f, say);
	else /* its processes went on to other lanes */
		fprintf(f,
			"%" PRIu64 " frees of blocks whose allocation was not seen (made before "
			"tracing began or by allocator paths not probed)",
			li->tot.unmatched_frees);
	fputs("; they count as frees but not in the nets.</div>\n", f);
	free(say);
	return 0;
}

/* The lane's heading: what it is, its life, its collections. */
static int write_lane_head(FILE *f, const struct view *v, const struct lg_lane *li, size_t ngc)
{
	ssize_t grp = v->lane_group[li->index];

	/* the lane's books, as every view has them (ledger.h) */
	fprintf(f,
		"<section class=\"lane\" id=\"lane-%zu\" data-lane=\"%zu\" data-kind=\"%s\" "
		"data-cgroup=\"%" PRIu64 "\" data-gc=\"%zu\" data-py-alloc=\"%" PRIu64
		"\" data-py-freed=\"%" PRIu64 "\" data-py-net=\"%" PRId64
		"\" data-libc-alloc=\"%" PRIu64 "\" data-libc-freed=\"%" PRIu64
		"\" data-libc-net=\"%" PRId64 "\" data-name=\"",
		li->index, li->index, li->kind == LG_LANE_CONTAINER ? "container" : "host",
		li->cgroup_id, ngc, li->tot.py_alloc_bytes, li->tot.py_free_bytes, li->lv.py_net,
		li->tot.libc_alloc_bytes, li->tot.libc_free_bytes, li->lv.libc_net);
	hx_esc_html(f, li->name);
	fputs("\">\n<h3>", f);
	hx_esc_html(f, li->name[0] ? li->name : "?");
	fputs(" <span class=\"sub\">", f);
	if (li->kind == LG_LANE_CONTAINER) {
		fputs("container", f);
		if (li->container[0] && strcmp(li->container, li->name)) {
			fputs(" ", f);
			hx_esc_html(f, li->container);
		}
	} else {
		fputs("host process", f);
	}
	if (li->detail[0]) {
		fputs(" &middot; ", f);
		hx_esc_html(f, li->detail);
	}
	if (li->interpreter[0]) {
		fputs(" &middot; ", f);
		hx_esc_html(f, li->interpreter);
	}
	fprintf(f, " &middot; %zu process%s", li->npids, li->npids == 1 ? "" : "es");
	fprintf(f, " &middot; %.3f s &ndash; ", hx_rel_s(v, li->first_ns));
	if (li->ended)
		fprintf(f, "%.3f s", hx_rel_s(v, li->ended_ns));
	else
		fputs("end", f);
	fprintf(f, " &middot; gc %" PRIu64 "/%" PRIu64 "/%" PRIu64, li->tot.gc_gen[0],
		li->tot.gc_gen[1], li->tot.gc_gen[2]);
	if (grp >= 0)
		fprintf(f, " &middot; <a href=\"#group-%zd\">tables</a>", grp);
	fputs("</span></h3>\n", f);
	hx_write_lane_coverage(f, v, li);
	if (li->tot.lost)
		fprintf(f,
			"<div class=\"warn\">%" PRIu64
			" events of this lane were lost (ring buffer full): its counts and nets "
			"are lower bounds (pink ticks: where).</div>\n",
			li->tot.lost);
	if (li->tot.unmatched_frees && write_lane_unmatched(f, v, li))
		return -ENOMEM;
	if (hx_lane_has_fp(li) && !lane_has_alloc_events(li))
		fputs("<div class=\"note\">Footprint only: the allocator calls were not traced "
		      "(<code>--mode footprint</code>), so the net and call bands are empty; the "
		      "top band shows the anonymous memory mapped and the resident set.</div>\n",
		      f);
	return 0;
}

/* The bands below the footprint's: nets, rates, collections, losses. */
struct lane_scale {
	double max_py, max_libc, max_rate;
	bool any_libc, any_lost, any_py_rate;
};

static void lane_scale(const struct view *v, const struct tl_bucket *b, struct lane_scale *s)
{
	double per = (double)v->w / 1e9;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < v->n; i++) {
		double r[4] = {(double)b[i].py_allocs, (double)b[i].py_frees,
			       (double)b[i].libc_allocs, (double)b[i].libc_frees};

		if ((double)b[i].py_net > s->max_py)
			s->max_py = (double)b[i].py_net;
		if ((double)b[i].libc_net > s->max_libc)
			s->max_libc = (double)b[i].libc_net;
		for (int k = 0; k < 4; k++)
			if (r[k] / per > s->max_rate)
				s->max_rate = r[k] / per;
		s->any_py_rate |= b[i].py_allocs || b[i].py_frees;
		s->any_libc |= b[i].libc_allocs || b[i].libc_frees || b[i].libc_net;
		s->any_lost |= b[i].lost != 0;
	}
}

static void write_nets(FILE *f, const struct view *v, const struct tl_bucket *b, double *vals,
		       const struct lane_scale *s)
{
	static const struct line_style libc_line = {"libcnet", "#f28e2b", "1.5", ""};
	char b1[32], b2[32];

	/* python on the left axis (area), libc on the right (line) */
	slice_levels(vals, v, b, offsetof(struct tl_bucket, py_net));
	fprintf(f, "<path class=\"pynet\" fill=\"#9ecae1\" stroke=\"#2171b5\" d=\"M%d,%d L", PLOT_X,
		NET_Y + NET_H);
	path_points(f, v, vals, s->max_py, NET_Y, NET_H, false);
	fprintf(f, " L%d,%d Z\"/>\n", PLOT_X + PLOT_W, NET_Y + NET_H);
	if (s->any_libc) {
		slice_levels(vals, v, b, offsetof(struct tl_bucket, libc_net));
		write_line(f, v, &libc_line, vals, s->max_libc, NET_Y, NET_H, false);
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\" style=\"fill:#2171b5\">%s</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n",
		PLOT_X - 4, NET_Y + 9, hx_fmt_bytes(b1, sizeof(b1), s->max_py), PLOT_X - 4,
		NET_Y + NET_H);
	if (s->any_libc)
		fprintf(f, "<text x=\"%d\" y=\"%d\" style=\"fill:#c66a10\">%s</text>\n",
			PLOT_X + PLOT_W + 4, NET_Y + 9, hx_fmt_bytes(b2, sizeof(b2), s->max_libc));
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">net</text>\n", PLOT_X - 4,
		NET_Y + NET_H / 2);
}

/* The four call rates, on one axis. */
static void write_rates(FILE *f, const struct view *v, const struct tl_bucket *b, double *vals,
			const struct lane_scale *s)
{
	static const struct {
		size_t off;
		struct line_style line;
	} rs[] = {
	    {offsetof(struct tl_bucket, py_allocs), {"pa", "#2ca02c", "1.2", ""}},
	    {offsetof(struct tl_bucket, py_frees), {"pf", "#d62728", "1.2", ""}},
	    {offsetof(struct tl_bucket, libc_allocs),
	     {"la", "#74c476", "1.2", " stroke-dasharray=\"4 2\""}},
	    {offsetof(struct tl_bucket, libc_frees),
	     {"lf", "#fc9272", "1.2", " stroke-dasharray=\"4 2\""}},
	};
	double per = (double)v->w / 1e9;
	char b1[32];

	for (size_t k = 0; k < sizeof(rs) / sizeof(rs[0]); k++) {
		if (k < 2 ? !s->any_py_rate : !s->any_libc)
			continue;
		for (size_t i = 0; i < v->n; i++)
			vals[i] =
			    (double)*(const uint64_t *)((const char *)&b[i] + rs[k].off) / per;
		write_line(f, v, &rs[k].line, vals, s->max_rate, RATE_Y, RATE_H, true);
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s/s</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">calls</text>\n",
		PLOT_X - 4, RATE_Y + 9, hx_fmt_count(b1, sizeof(b1), s->max_rate), PLOT_X - 4,
		RATE_Y + RATE_H, PLOT_X - 4, RATE_Y + RATE_H / 2 + 4);
}

static void write_lost(FILE *f, const struct view *v, const struct tl_bucket *b)
{
	double w = (double)PLOT_W / (double)v->n;

	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">lost</text>\n", PLOT_X - 4,
		LOST_Y + LOST_H);
	for (size_t i = 0; i < v->n; i++)
		if (b[i].lost)
			fprintf(f,
				"<rect class=\"lost\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
				"height=\"%d\" fill=\"#e377c2\"/>\n",
				PLOT_X + w * (double)i, LOST_Y, w < 2 ? 2 : w, LOST_H);
}

/* One of a bucket's fields (at off: int64_t or uint64_t), for every slice. */
static void json_series(struct jsonw *w, const char *key, const struct tl_bucket *b, size_t n,
			size_t off, bool is_signed)
{
	jsonw_name(w, key);
	jsonw_start_array(w);
	for (size_t i = 0; i < n; i++) {
		const char *p = (const char *)&b[i] + off;

		if (is_signed)
			jsonw_int(w, *(const int64_t *)p);
		else
			jsonw_uint(w, *(const uint64_t *)p);
	}
	jsonw_end_array(w);
}

/* The numbers behind the hover readout. */
static void write_hover_data(FILE *f, const struct view *v, const struct lg_lane *li,
			     const struct tl_bucket *b, const struct marker *m, size_t nm,
			     const struct lane_scale *s)
{
	struct jsonw w;

	fputs("<script type=\"application/json\" class=\"pm-data\">", f);
	jsonw_init(&w, f, false);
	jsonw_script_safe(&w);
	jsonw_start_object(&w);
	jsonw_string_field(&w, "name", li->name);
	json_series(&w, "py", b, v->n, offsetof(struct tl_bucket, py_net), true);
	json_series(&w, "libc", b, v->n, offsetof(struct tl_bucket, libc_net), true);
	json_series(&w, "pa", b, v->n, offsetof(struct tl_bucket, py_allocs), false);
	json_series(&w, "pf", b, v->n, offsetof(struct tl_bucket, py_frees), false);
	json_series(&w, "la", b, v->n, offsetof(struct tl_bucket, libc_allocs), false);
	json_series(&w, "lf", b, v->n, offsetof(struct tl_bucket, libc_frees), false);
	if (hx_lane_has_fp(li)) {
		json_series(&w, "fp", b, v->n, offsetof(struct tl_bucket, fp_net), true);
		json_series(&w, "rss", b, v->n, offsetof(struct tl_bucket, rss), true);
	}
	if (s->any_lost) {
		jsonw_name(&w, "lost");
		jsonw_start_array(&w);
		for (size_t i = 0; i < v->n; i++)
			jsonw_uint(&w, b[i].lost);
		jsonw_end_array(&w);
	}
	/* per marker: start, end, generation, collections, collected (-1
	 * unknown), total and longest duration, pid (0: several), events
	 * traced inside them */
	jsonw_name(&w, "gc");
	jsonw_start_array(&w);
	for (size_t k = 0; k < nm; k++) {
		jsonw_start_array(&w);
		jsonw_int(&w, hx_rel_ns(v, m[k].lo));
		jsonw_int(&w, hx_rel_ns(v, m[k].hi));
		jsonw_int(&w, m[k].gen);
		jsonw_uint(&w, m[k].n);
		jsonw_int(&w, m[k].known ? (int64_t)m[k].coll : -1);
		jsonw_uint(&w, m[k].total);
		jsonw_uint(&w, m[k].longest);
		jsonw_uint(&w, m[k].pid);
		jsonw_uint(&w, m[k].inside);
		jsonw_end_array(&w);
	}
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	fputs("</script>\n", f);
}

int hx_write_lane(struct html_ex *h, const struct view *v, size_t lane, size_t *gpos)
{
	const struct lg_lane *li = timeline__lane(h->tl, lane);
	FILE *f = h->out;
	struct tl_bucket *b;
	struct lane_scale sc;
	struct marker *m = NULL;
	double *vals;
	size_t n = v->n, gfrom = *gpos, gto;
	bool fp = hx_lane_has_fp(li);
	int dy = fp ? FP_SHIFT : 0;
	ssize_t nm;
	int ret;

	b = calloc(n, sizeof(*b));
	vals = calloc(n, sizeof(*vals));
	ret = b && vals ? timeline__series(h->tl, lane, v->t0, v->t0 + v->w * n, b, n) : -ENOMEM;
	for (gto = gfrom; gto < h->ngcs && h->gcs[gto].lane == (int32_t)lane; gto++)
		;
	*gpos = gto;
	nm = ret < 0 ? -1 : make_markers(h->gcs, gfrom, gto, &m);
	if (ret < 0 || nm < 0) {
		free(b);
		free(vals);
		return ret < 0 ? ret : -ENOMEM;
	}
	lane_scale(v, b, &sc);
	if (write_lane_head(f, v, li, gto - gfrom)) {
		free(m);
		free(b);
		free(vals);
		return -ENOMEM;
	}

	fprintf(f,
		"<svg class=\"pm-chart\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n",
		SVG_W, SVG_H + dy, SVG_W, SVG_H + dy);
	write_life(f, v, li, dy);
	write_axis(f, v, dy);
	if (fp) {
		write_fp_band(f, v, b, vals);
		fprintf(f, "<g transform=\"translate(0,%d)\">\n", dy);
	}
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
		"stroke=\"#ccc\"/>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		"fill=\"none\" stroke=\"#ccc\"/>\n",
		PLOT_X, NET_Y, PLOT_W, NET_H, PLOT_X, RATE_Y, PLOT_W, RATE_H);
	write_nets(f, v, b, vals, &sc);
	write_rates(f, v, b, vals, &sc);
	/* collections: a row per generation */
	for (int g = 0; g < HX_NGEN; g++)
		fprintf(f,
			"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\"/>"
			"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">gc gen%d</text>\n",
			PLOT_X, GC_Y + g * GC_ROW, PLOT_W, GC_ROW - 1, PLOT_X - 4,
			GC_Y + g * GC_ROW + 9, g);
	write_gc_markers(f, v, m, (size_t)nm);
	if (sc.any_lost)
		write_lost(f, v, b);
	if (fp)
		fputs("</g>\n", f);
	fprintf(f,
		"<line class=\"pm-cursor\" x1=\"0\" x2=\"0\" y1=\"%d\" y2=\"%d\" stroke=\"#333\" "
		"stroke-width=\"0.6\" visibility=\"hidden\" pointer-events=\"none\"/>\n</svg>\n",
		NET_Y, LOST_Y + LOST_H + dy);
	write_hover_data(f, v, li, b, m, (size_t)nm, &sc);
	fputs("</section>\n", f);
	free(m);
	free(b);
	free(vals);
	return 0;
}
