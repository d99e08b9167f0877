// SPDX-License-Identifier: MIT
/*
 * The full-screen timeline view's drawing: number formats, the clipped
 * pen, and each lane's rows (see tui.h, tui_impl.h).
 *
 * Every redraw asks the model for one series per lane, with one slice per
 * graph column; everything a lane shows is derived from that series, the
 * lane's info, and (for drawn lanes only) its collections and top types.
 */
#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "views/tui_impl.h"
#include "util/clock.h"

static const char *const blocks_utf8[9] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char *const blocks_ascii[9] = {" ", "_", ".", ",", "-", "=", "+", "*", "#"};

/* ---- number formatting ---- */

/* At most 3 significant digits: headlines are short at 80 columns. */
static void fmt_scaled(char *buf, size_t sz, const char *sign, double a, double unit,
		       const char *units, const char *suffix)
{
	int u = -1;

	while (a >= unit && u < 4) {
		a /= unit;
		u++;
	}
	if (u < 0)
		snprintf(buf, sz, "%s%.0f%s", sign, a, suffix);
	else if (a < 9.95)
		snprintf(buf, sz, "%s%.1f%c%s", sign, a, units[u], suffix);
	else
		snprintf(buf, sz, "%s%.0f%c%s", sign, a, units[u], suffix);
}

void tui_fmt_count(char *buf, size_t sz, uint64_t v)
{
	fmt_scaled(buf, sz, "", (double)v, 1000, "kMGTP", "");
}

/* Bytes in powers of 1024 without a "B" ("8.2K", "16M"), as top and htop
 * show them: "16.0KB" does not fit the label column beside a name, and the
 * view showed "8.2K" there and "16KB" in the pane. The legend says so. */
void tui_fmt_bytes(char *buf, size_t sz, int64_t v)
{
	fmt_scaled(buf, sz, v < 0 ? "-" : "", v < 0 ? -(double)v : (double)v, 1024, "KMGTP", "");
}

void tui_fmt_dur(char *buf, size_t sz, uint64_t ns)
{
	if (ns < 1000000)
		snprintf(buf, sz, "%" PRIu64 "us", ns / 1000);
	else if (ns < NS_PER_SEC)
		snprintf(buf, sz, "%.1fms", ns / 1e6);
	else
		snprintf(buf, sz, "%.2fs", ns / 1e9);
}

void tui_fmt_span(char *buf, size_t sz, uint64_t ns)
{
	if (ns < 60 * NS_PER_SEC)
		snprintf(buf, sz, "%" PRIu64 "s", ns / NS_PER_SEC);
	else
		snprintf(buf, sz, "%" PRIu64 "m", ns / (60 * NS_PER_SEC));
}

/* Seconds since the trace started, for people (a tenth of a second). */
void tui_fmt_rel(char *buf, size_t sz, uint64_t ns, uint64_t start)
{
	if (ns >= start)
		snprintf(buf, sz, "%.1fs", (ns - start) / 1e9);
	else
		snprintf(buf, sz, "-%.1fs", (start - ns) / 1e9);
}

/* ---- drawing primitives ---- */

/*
 * Writes s at the pen, clipped to the line, with bytes that would upset the
 * terminal replaced. Every character counts as one column (names are ASCII
 * in practice; a wide character only costs a misaligned line end).
 */
void tui_put(struct tui *t, struct pen *p, attr_t attr, const char *s)
{
	char out[1024];
	size_t o = 0;
	int x0 = p->x;

	while (*s && p->x < p->xmax && o + 5 < sizeof(out)) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x80) {
			out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
			s++;
		} else {
			size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			size_t i;

			for (i = 1; i < len; i++)
				if (((unsigned char)s[i] & 0xc0) != 0x80)
					break;
			if (!t->utf8 || len == 1 || i < len) {
				out[o++] = '?';
				s += i;
			} else {
				memcpy(out + o, s, len);
				o += len;
				s += len;
			}
		}
		p->x++;
	}
	out[o] = 0;
	if (!o)
		return;
	attron(attr);
	mvaddstr(p->y, x0, out);
	attroff(attr);
}

void tui_putf(struct tui *t, struct pen *p, attr_t attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tui_put(t, p, attr, buf);
}

attr_t tui_pair(const struct tui *t, int n)
{
	return t->colors ? COLOR_PAIR(n) : 0;
}

static const char *block(const struct tui *t, int level)
{
	if (level < 0)
		level = 0;
	if (level > 8)
		level = 8;
	return t->utf8 ? blocks_utf8[level] : blocks_ascii[level];
}

void tui_fill_line(int y, int x0, int x1, attr_t attr)
{
	int x;

	attron(attr);
	for (x = x0; x < x1; x++)
		mvaddch(y, x, ' ');
	attroff(attr);
}

const char *tui_sep(const struct tui *t)
{
	return t->utf8 ? " │ " : " | ";
}

/* ---- lanes ---- */

/* One row of levels between the min and max of vals[first..n). */
static void draw_level_row(struct tui *t, int y, const int64_t *vals, size_t first, size_t n,
			   attr_t attr)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	size_t i;

	for (i = first; i < n; i++) {
		lo = vals[i] < lo ? vals[i] : lo;
		hi = vals[i] > hi ? vals[i] : hi;
	}
	for (i = first; i < n; i++) {
		int lvl =
		    hi > lo ? 1 + (int)((double)(vals[i] - lo) * 7 / (double)(hi - lo) + 0.5) : 1;

		attron(attr);
		mvaddstr(y, LABEL_W + (int)i, block(t, lvl));
		attroff(attr);
	}
}

/* A row of a level in bytes (the int64_t of struct tl_bucket at off), labelled
 * with its value at the window's end: "libc 1.2M". */
static void draw_bytes_row(struct tui *t, const struct lane_view *v, int y, size_t n, size_t off,
			   attr_t attr, const char *name)
{
	struct pen p = {y, 0, LABEL_W - 1};
	int64_t vals[n];
	char a[16];

	for (size_t i = 0; i < n; i++)
		vals[i] = *(const int64_t *)((const char *)&v->s[i] + off);
	if (v->first < n)
		draw_level_row(t, y, vals, v->first, n, attr);
	tui_fmt_bytes(a, sizeof(a), vals[n - 1]);
	tui_putf(t, &p, 0, "%s %s", name, v->first < n ? a : "");
}

/* What the lane's graph shows in slice i: the Python allocator's net bytes,
 * or in footprint mode the anonymous mappings and heap. */
static int64_t graph_value(const struct lane_view *v, size_t i)
{
	return v->fp ? v->s[i].fp_net : v->s[i].py_net;
}

/*
 * The net bytes graph over rows rows: each column's height is its value
 * between the window's min and max, in eighths of a row.
 */
static void draw_graph(struct tui *t, const struct lane_view *v, int y, int rows, size_t n)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	const char *what = v->fp ? "fp" : "py";
	char a[16], b[16];
	size_t i;
	int r;

	for (i = v->first; i < n; i++) {
		lo = graph_value(v, i) < lo ? graph_value(v, i) : lo;
		hi = graph_value(v, i) > hi ? graph_value(v, i) : hi;
	}
	for (r = 0; r < rows; r++) {
		struct pen p = {y + r, 0, LABEL_W - 1};

		if (v->first >= n) {
			if (r == rows - 1)
				tui_put(t, &p, 0, what);
			continue;
		}
		if (rows == 1) {
			tui_fmt_bytes(a, sizeof(a), graph_value(v, n - 1));
			tui_putf(t, &p, 0, "%s %s", what, a);
		} else if (r == 0) {
			tui_fmt_bytes(a, sizeof(a), hi);
			tui_putf(t, &p, 0, "%s %6s", what, a);
		} else if (r == rows - 1) {
			tui_fmt_bytes(b, sizeof(b), lo);
			tui_putf(t, &p, 0, "   %6s", b);
		}
	}
	if (v->first >= n) {
		struct pen p = {y + rows - 1, LABEL_W, LABEL_W + (int)n};

		tui_put(t, &p, A_DIM, "(no data in this window)");
		return;
	}
	attron(tui_pair(t, PAIR_GRAPH));
	for (i = v->first; i < n; i++) {
		int total = rows * 8, lvl;

		lvl = hi > lo ? 1 + (int)((double)(graph_value(v, i) - lo) * (total - 1) /
					      (double)(hi - lo) +
					  0.5)
			      : 1;
		for (r = 0; r < rows; r++) {
			int cell = lvl - (rows - 1 - r) * 8;

			mvaddstr(y + r, LABEL_W + (int)i, block(t, cell));
		}
	}
	attroff(tui_pair(t, PAIR_GRAPH));
}

/* Calls per second of each slice, the larger of allocations and frees, green
 * where allocations lead and red where frees do. A slice still filling is
 * left out: a few buckets over a short time would read as a spike. */
static void draw_rates(struct tui *t, const struct lane_view *v, int y, size_t n, uint64_t slice,
		       uint64_t end, uint64_t view)
{
	struct pen p = {y, 0, LABEL_W - 1};
	uint64_t peak = 0, r[n];
	size_t i, upto = end > view ? n - 1 : n;
	char a[16];

	if (v->fp) {
		/* no calls are traced in footprint mode: the resident set instead */
		draw_bytes_row(t, v, y, n, offsetof(struct tl_bucket, rss), tui_pair(t, PAIR_ALLOC),
			       "rss");
		return;
	}

	for (i = 0; i < upto; i++) {
		uint64_t c =
		    v->s[i].py_allocs > v->s[i].py_frees ? v->s[i].py_allocs : v->s[i].py_frees;

		r[i] = tl_per_second(c, slice);
		peak = r[i] > peak ? r[i] : peak;
	}
	tui_fmt_count(a, sizeof(a), peak);
	tui_putf(t, &p, 0, "a/f %s", a);
	for (i = v->first; i < upto && peak; i++) {
		int lvl = r[i] ? 1 + (int)((double)r[i] * 7 / (double)peak + 0.5) : 0;
		bool frees = v->s[i].py_frees > v->s[i].py_allocs;
		attr_t at = frees ? tui_pair(t, PAIR_FREE) : tui_pair(t, PAIR_ALLOC);

		if (!t->colors && frees)
			at = A_UNDERLINE;
		attron(at);
		mvaddstr(y, LABEL_W + (int)i, block(t, lvl));
		attroff(at);
	}
}

static void draw_libc(struct tui *t, const struct lane_view *v, int y, size_t n)
{
	draw_bytes_row(t, v, y, n, offsetof(struct tl_bucket, libc_net), tui_pair(t, PAIR_NAME),
		       "libc");
}

char tui_gen_char(int32_t gen)
{
	return gen >= 0 && gen <= 9 ? (char)('0' + gen) : '?';
}

/* g[k]: the lane's collections that overlap the window */
static void draw_gc_row(struct tui *t, const struct tl_gc *g, size_t k, int y, uint64_t from,
			uint64_t slice, size_t n)
{
	int32_t col_gen[n];
	struct pen p = {y, 0, LABEL_W - 1};
	size_t i;

	tui_put(t, &p, 0, "gc");
	for (i = 0; i < n; i++)
		col_gen[i] = -2;
	for (i = 0; i < k; i++) {
		uint64_t c;

		if (g[i].start_ns < from)
			continue;
		c = (g[i].start_ns - from) / slice;
		if (c >= n)
			continue;
		/* the oldest generation wins a shared column: it is the costly one */
		if (col_gen[c] == -2 || g[i].generation > col_gen[c])
			col_gen[c] = g[i].generation;
	}
	for (i = 0; i < n; i++) {
		attr_t at;
		char s[2] = {0, 0};

		if (col_gen[i] == -2)
			continue;
		s[0] = tui_gen_char(col_gen[i]);
		at = col_gen[i] >= 2   ? tui_pair(t, PAIR_FREE) | A_BOLD
		     : col_gen[i] == 1 ? tui_pair(t, PAIR_GC) | A_BOLD
				       : tui_pair(t, PAIR_GC);
		attron(at);
		mvaddstr(y, LABEL_W + (int)i, s);
		attroff(at);
	}
}

void tui_fmt_pids(char *buf, size_t sz, const struct lg_lane *in, size_t max)
{
	size_t i, o = 0, shown = in->npids < 16 ? in->npids : 16;

	buf[0] = 0;
	if (shown > max)
		shown = max;
	for (i = 0; i < shown && o < sz; i++)
		o += snprintf(buf + o, sz - o, "%s%u", i ? "," : "", in->pids[i]);
	if (in->npids > shown && o < sz)
		snprintf(buf + o, sz - o, "+%zu", in->npids - shown);
}

static void draw_headline(struct tui *t, const struct timeline *tl, const struct lane_view *v,
			  int y, bool selected, uint64_t from, uint64_t end, const uint64_t *gc_gen)
{
	const struct lg_lane *in = v->info;
	struct pen p = {y, 0, COLS};
	attr_t base = selected ? (t->colors ? tui_pair(t, PAIR_SEL) : A_REVERSE) : 0;
	struct tl_type_count top[TOP_TYPES];
	char a[16], b[16], pids[64];
	size_t k, i;

	if (selected)
		tui_fill_line(y, 0, COLS, base);
	tui_put(t, &p, base | A_BOLD, selected ? (t->utf8 ? "▶ " : "> ") : "  ");
	tui_put(t, &p, base | A_BOLD | (selected ? 0 : tui_pair(t, PAIR_NAME)), in->name);
	if (tl_lane_ended_by(in, t->view_ns))
		tui_put(t, &p, base | A_DIM, " (ended)");
	tui_fmt_pids(pids, sizeof(pids), in, 3);
	if (pids[0])
		tui_putf(t, &p, base, " [%s]", pids);
	/* "python 3.11" as "py3.11": the headline is short at 80 columns */
	if (!strncmp(in->interpreter, "python ", 7))
		tui_putf(t, &p, base, " py%s", in->interpreter + 7);
	else if (in->interpreter[0])
		tui_putf(t, &p, base, " %s", in->interpreter);
	if (v->fp) {
		tui_fmt_bytes(a, sizeof(a), v->fp_net);
		tui_fmt_bytes(b, sizeof(b), v->rss);
		tui_putf(t, &p, base, " footprint %s rss %s", a, b);
	} else {
		tui_fmt_count(a, sizeof(a), v->alloc_rate);
		tui_fmt_count(b, sizeof(b), v->free_rate);
		tui_putf(t, &p, base, " a %s/s f %s/s", a, b);
	}
	tui_putf(t, &p, base, " gc %" PRIu64 "/%" PRIu64 "/%" PRIu64, gc_gen[0], gc_gen[1],
		 gc_gen[2]);
	if (in->partial)
		tui_put(t, &p, selected ? base | A_BOLD : tui_pair(t, PAIR_WARN) | A_BOLD,
			" PARTIAL");
	if (in->sampled)
		tui_put(t, &p, selected ? base | A_BOLD : tui_pair(t, PAIR_WARN) | A_BOLD,
			" SAMPLED");
	k = timeline__top_types(tl, v->lane, from, end, top, TOP_TYPES);
	for (i = 0; i < k; i++) {
		tui_fmt_count(a, sizeof(a), top[i].count);
		tui_putf(t, &p, base, "%s%s %s", i ? " " : tui_sep(t),
			 top[i].name ? top[i].name : "?", a);
	}
}

/* A lane in h rows: the headline, then as many of graph, rates, libc and
 * collections as fit, the graph taking what is left. */
void tui_draw_lane(struct tui *t, const struct timeline *tl, const struct lane_view *v, int y,
		   int h, bool selected, uint64_t from, uint64_t slice, size_t n, uint64_t view)
{
	uint64_t end = from + slice * n;
	int graph = h - 1, row;
	bool rates = false, libc = false, gc = false;
	uint64_t gc_gen[3] = {0};
	size_t ng = 0, i;

	/* collections by generation in the window, not so far: a paused view
	 * stays still */
	if (!tui_grow((void **)&t->gcs, &t->gcs_cap, TL_GC_KEPT, sizeof(*t->gcs)))
		ng = timeline__gcs(tl, v->lane, from, end, t->gcs, TL_GC_KEPT);
	for (i = 0; i < ng; i++)
		if (t->gcs[i].start_ns >= from && t->gcs[i].generation >= 0 &&
		    t->gcs[i].generation <= 2)
			gc_gen[t->gcs[i].generation]++;
	draw_headline(t, tl, v, y, selected, from, end, gc_gen);
	if (h >= 3) {
		gc = true;
		graph--;
	}
	if (h >= 4) {
		rates = true;
		graph--;
	}
	if (h >= 5) {
		libc = true;
		graph--;
	}
	row = y + 1;
	if (graph > 0) {
		draw_graph(t, v, row, graph, n);
		row += graph;
	}
	if (rates)
		draw_rates(t, v, row++, n, slice, end, view);
	if (libc)
		draw_libc(t, v, row++, n);
	if (gc)
		draw_gc_row(t, t->gcs, ng, row++, from, slice, n);
}
