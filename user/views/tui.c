// SPDX-License-Identifier: MIT
/*
 * The full-screen timeline view and the line mode (see tui.h).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "views/tui.h"
#include "util/clock.h"

#define NS_PER_SEC ((uint64_t)1000000000)

static const uint64_t zoom_ns[] = {
    1 * NS_PER_SEC,  2 * NS_PER_SEC,   5 * NS_PER_SEC,	 10 * NS_PER_SEC,  30 * NS_PER_SEC,
    60 * NS_PER_SEC, 120 * NS_PER_SEC, 300 * NS_PER_SEC, 600 * NS_PER_SEC,
};
#define NZOOM	     (sizeof(zoom_ns) / sizeof(zoom_ns[0]))
#define ZOOM_DEFAULT 3 /* 10 s */

enum sort_order { SORT_APPEARANCE, SORT_NAME, SORT_PY_NET, SORT_ALLOC_RATE, SORT_N };
static const char *const sort_names[SORT_N] = {"appearance", "name", "py net", "alloc rate"};

enum { PAIR_GRAPH = 1, PAIR_ALLOC, PAIR_FREE, PAIR_GC, PAIR_WARN, PAIR_NAME, PAIR_SEL, PAIR_BAR };

#define LABEL_W	  10 /* the label column left of each graph */
#define TOP_TYPES 3

/* What the lanes need per redraw, computed for every lane (sorting by rate
 * needs the rate of lanes that are not drawn). */
struct lane_view {
	size_t lane;
	const struct lg_lane *info;
	struct tl_bucket *s; /* n slices */
	size_t first;	     /* first slice with data; n if none */
	uint64_t alloc_rate, free_rate;
	int64_t py_net;
	/* a footprint-mode lane: its graph is the footprint, with an RSS row */
	bool fp;
	int64_t fp_net, rss; /* at the end of the window */
};

struct tui {
	bool replay;
	uint64_t view_ns; /* end of the time shown, set by each draw */
	char title[128];
	char status[256];
	bool utf8, colors;
	SCREEN *screen;
	char *old_ctype;

	bool paused;
	uint64_t pause_ns; /* live: the view time frozen by the pause */
	unsigned zoom;
	size_t sel_lane; /* lane number, stable across sorting */
	size_t top;	 /* first drawn position in sorted order */
	bool detail, help;
	enum sort_order sort;

	struct lane_view *views;
	size_t views_cap;
	struct tl_bucket *buf;
	size_t buf_cap;
	struct tl_gc *gcs;
	size_t gcs_cap;

	struct tui_stats stats;

	/* of the last draw, for keys that move through the lanes */
	size_t nlanes;
	size_t *order;
	size_t order_cap;
};

static struct tui *open_tui;

static const char *const blocks_utf8[9] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char *const blocks_ascii[9] = {" ", "_", ".", ",", "-", "=", "+", "*", "#"};

static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	if (!c)
		return 0;
	return (uint64_t)((unsigned __int128)a * b / c);
}

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

static void fmt_count(char *buf, size_t sz, uint64_t v)
{
	fmt_scaled(buf, sz, "", (double)v, 1000, "kMGTP", "");
}

static void fmt_bytes(char *buf, size_t sz, int64_t v)
{
	fmt_scaled(buf, sz, v < 0 ? "-" : "", v < 0 ? -(double)v : (double)v, 1024, "KMGTP", "B");
}

static void fmt_dur(char *buf, size_t sz, uint64_t ns)
{
	if (ns < 1000000)
		snprintf(buf, sz, "%" PRIu64 "us", ns / 1000);
	else if (ns < NS_PER_SEC)
		snprintf(buf, sz, "%.1fms", ns / 1e6);
	else
		snprintf(buf, sz, "%.2fs", ns / 1e9);
}

static void fmt_span(char *buf, size_t sz, uint64_t ns)
{
	if (ns < 60 * NS_PER_SEC)
		snprintf(buf, sz, "%" PRIu64 "s", ns / NS_PER_SEC);
	else
		snprintf(buf, sz, "%" PRIu64 "m", ns / (60 * NS_PER_SEC));
}

/* Seconds since the trace started, for people (a tenth of a second). */
static void fmt_rel(char *buf, size_t sz, uint64_t ns, uint64_t start)
{
	if (ns >= start)
		snprintf(buf, sz, "%.1fs", (ns - start) / 1e9);
	else
		snprintf(buf, sz, "-%.1fs", (start - ns) / 1e9);
}

/* ---- drawing primitives ---- */

struct pen {
	int y, x, xmax; /* xmax: first column not to write */
};

/*
 * Writes s at the pen, clipped to the line, with bytes that would upset the
 * terminal replaced. Every character counts as one column (names are ASCII
 * in practice; a wide character only costs a misaligned line end).
 */
static void put(struct tui *t, struct pen *p, attr_t attr, const char *s)
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

static void putf(struct tui *t, struct pen *p, attr_t attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void putf(struct tui *t, struct pen *p, attr_t attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	put(t, p, attr, buf);
}

static attr_t pair(const struct tui *t, int n)
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

static void fill_line(int y, int x0, int x1, attr_t attr)
{
	int x;

	attron(attr);
	for (x = x0; x < x1; x++)
		mvaddch(y, x, ' ');
	attroff(attr);
}

static const char *sep(const struct tui *t)
{
	return t->utf8 ? " │ " : " | ";
}

/* ---- the model, once per redraw ---- */

/* A lane of footprint mode: mappings or RSS samples and no allocator call. */
static bool lane_is_footprint(const struct lg_lane *in)
{
	return (in->tot.events[PM_VM] || in->tot.events[PM_RSS]) && !in->tot.events[PM_PY_MALLOC] &&
	       !in->tot.events[PM_PY_CALLOC] && !in->tot.events[PM_PY_REALLOC] &&
	       !in->tot.events[PM_PY_FREE];
}

static bool bucket_empty(const struct tl_bucket *b)
{
	static const struct tl_bucket zero;

	return !memcmp(b, &zero, sizeof(zero));
}

static int grow(void **p, size_t *cap, size_t want, size_t size)
{
	void *n;

	if (want <= *cap)
		return 0;
	n = realloc(*p, want * size);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = want;
	return 0;
}

static int view_cmp(const void *a, const void *b, void *ctx)
{
	const struct lane_view *x = a, *y = b;
	const struct tui *t = ctx;
	int c = 0;

	switch (t->sort) {
	case SORT_NAME:
		c = strcmp(x->info->name, y->info->name);
		break;
	case SORT_PY_NET:
		c = x->py_net > y->py_net ? -1 : x->py_net < y->py_net;
		break;
	case SORT_ALLOC_RATE:
		c = x->alloc_rate > y->alloc_rate ? -1 : x->alloc_rate < y->alloc_rate;
		break;
	default:
		break;
	}
	if (c)
		return c;
	return x->lane < y->lane ? -1 : x->lane > y->lane;
}

/*
 * Fills t->views for every lane over n slices of slice_ns ending at end, and
 * sorts them. view is the time shown (the last slice may reach past it).
 */
static int compute(struct tui *t, const struct timeline *tl, uint64_t from, uint64_t slice,
		   size_t n, uint64_t view)
{
	size_t nl = timeline__lane_count(tl), i, j, m;
	uint64_t end = from + slice * n;

	if (grow((void **)&t->views, &t->views_cap, nl + 1, sizeof(*t->views)) ||
	    grow((void **)&t->buf, &t->buf_cap, (nl + 1) * n, sizeof(*t->buf)) ||
	    grow((void **)&t->order, &t->order_cap, nl + 1, sizeof(*t->order)))
		return -ENOMEM;
	for (i = 0, m = 0; i < nl; i++) {
		const struct lg_lane *info = timeline__lane(tl, i);
		struct lane_view *v = &t->views[m];
		uint64_t a = 0, f = 0, span;
		size_t k, last = n - 1;

		/* A lane born after the time shown has nothing to show yet: a
		 * paused view keeps the lanes it had. */
		if (info && info->first_ns >= view)
			continue;
		m++;
		v->lane = i;
		v->info = info;
		v->s = t->buf + (m - 1) * n;
		if (timeline__series(tl, i, from, end, v->s, n) < 0)
			memset(v->s, 0, n * sizeof(*v->s));
		for (v->first = 0; v->first < n && bucket_empty(&v->s[v->first]); v->first++)
			;
		/* "now" rates come from the complete slices of the last second
		 * or so: the last slice is still filling. */
		if (end > view && n > 1)
			last = n - 2;
		k = (NS_PER_SEC + slice - 1) / slice;
		if (k < 1)
			k = 1;
		if (k > last + 1)
			k = last + 1;
		for (j = last + 1 - k; j <= last; j++) {
			a += v->s[j].py_allocs;
			f += v->s[j].py_frees;
		}
		span = k * slice;
		v->alloc_rate = muldiv(a, NS_PER_SEC, span);
		v->free_rate = muldiv(f, NS_PER_SEC, span);
		v->py_net = v->s[n - 1].py_net;
		v->fp = info && lane_is_footprint(info);
		v->fp_net = v->s[n - 1].fp_net;
		v->rss = v->s[n - 1].rss;
		if (!v->info) {
			static const struct lg_lane none = {.name = "?"};

			v->info = &none;
		}
	}
	qsort_r(t->views, m, sizeof(*t->views), view_cmp, t);
	for (i = 0; i < m; i++)
		t->order[i] = t->views[i].lane;
	t->nlanes = m;
	return 0;
}

/* Had the lane ended by time t? (A paused view shows the past.) */
static bool ended_by(const struct lg_lane *in, uint64_t t)
{
	return in->ended && in->ended_ns < t;
}

static size_t sel_pos(const struct tui *t)
{
	size_t i;

	for (i = 0; i < t->nlanes; i++)
		if (t->order[i] == t->sel_lane)
			return i;
	return 0;
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
				put(t, &p, 0, what);
			continue;
		}
		if (rows == 1) {
			fmt_bytes(a, sizeof(a), graph_value(v, n - 1));
			putf(t, &p, 0, "%s %s", what, a);
		} else if (r == 0) {
			fmt_bytes(a, sizeof(a), hi);
			putf(t, &p, 0, "%s %6s", what, a);
		} else if (r == rows - 1) {
			fmt_bytes(b, sizeof(b), lo);
			putf(t, &p, 0, "   %6s", b);
		}
	}
	if (v->first >= n) {
		struct pen p = {y + rows - 1, LABEL_W, LABEL_W + (int)n};

		put(t, &p, A_DIM, "(no data in this window)");
		return;
	}
	attron(pair(t, PAIR_GRAPH));
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
	attroff(pair(t, PAIR_GRAPH));
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
		int64_t vals[n];

		for (i = 0; i < n; i++)
			vals[i] = v->s[i].rss;
		if (v->first < n)
			draw_level_row(t, y, vals, v->first, n, pair(t, PAIR_ALLOC));
		fmt_bytes(a, sizeof(a), v->s[n - 1].rss);
		putf(t, &p, 0, "rss %s", v->first < n ? a : "");
		return;
	}

	for (i = 0; i < upto; i++) {
		uint64_t c =
		    v->s[i].py_allocs > v->s[i].py_frees ? v->s[i].py_allocs : v->s[i].py_frees;

		r[i] = muldiv(c, NS_PER_SEC, slice);
		peak = r[i] > peak ? r[i] : peak;
	}
	fmt_count(a, sizeof(a), peak);
	putf(t, &p, 0, "a/f %s", a);
	for (i = v->first; i < upto && peak; i++) {
		int lvl = r[i] ? 1 + (int)((double)r[i] * 7 / (double)peak + 0.5) : 0;
		bool frees = v->s[i].py_frees > v->s[i].py_allocs;
		attr_t at = frees ? pair(t, PAIR_FREE) : pair(t, PAIR_ALLOC);

		if (!t->colors && frees)
			at = A_UNDERLINE;
		attron(at);
		mvaddstr(y, LABEL_W + (int)i, block(t, lvl));
		attroff(at);
	}
}

static void draw_libc(struct tui *t, const struct lane_view *v, int y, size_t n)
{
	struct pen p = {y, 0, LABEL_W - 1};
	int64_t vals[n];
	char a[16];
	size_t i;

	for (i = 0; i < n; i++)
		vals[i] = v->s[i].libc_net;
	if (v->first < n)
		draw_level_row(t, y, vals, v->first, n, pair(t, PAIR_NAME));
	fmt_bytes(a, sizeof(a), v->s[n - 1].libc_net);
	putf(t, &p, 0, "libc %s", v->first < n ? a : "");
}

static char gen_char(int32_t gen)
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

	put(t, &p, 0, "gc");
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
		s[0] = gen_char(col_gen[i]);
		at = col_gen[i] >= 2   ? pair(t, PAIR_FREE) | A_BOLD
		     : col_gen[i] == 1 ? pair(t, PAIR_GC) | A_BOLD
				       : pair(t, PAIR_GC);
		attron(at);
		mvaddstr(y, LABEL_W + (int)i, s);
		attroff(at);
	}
}

static void fmt_pids(char *buf, size_t sz, const struct lg_lane *in, size_t max)
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
	attr_t base = selected ? (t->colors ? pair(t, PAIR_SEL) : A_REVERSE) : 0;
	struct tl_type_count top[TOP_TYPES];
	char a[16], b[16], pids[64];
	size_t k, i;

	if (selected)
		fill_line(y, 0, COLS, base);
	put(t, &p, base | A_BOLD, selected ? (t->utf8 ? "▶ " : "> ") : "  ");
	put(t, &p, base | A_BOLD | (selected ? 0 : pair(t, PAIR_NAME)), in->name);
	if (ended_by(in, t->view_ns))
		put(t, &p, base | A_DIM, " (ended)");
	fmt_pids(pids, sizeof(pids), in, 3);
	if (pids[0])
		putf(t, &p, base, " [%s]", pids);
	/* "python 3.11" as "py3.11": the headline is short at 80 columns */
	if (!strncmp(in->interpreter, "python ", 7))
		putf(t, &p, base, " py%s", in->interpreter + 7);
	else if (in->interpreter[0])
		putf(t, &p, base, " %s", in->interpreter);
	if (v->fp) {
		fmt_bytes(a, sizeof(a), v->fp_net);
		fmt_bytes(b, sizeof(b), v->rss);
		putf(t, &p, base, " footprint %s rss %s", a, b);
	} else {
		fmt_count(a, sizeof(a), v->alloc_rate);
		fmt_count(b, sizeof(b), v->free_rate);
		putf(t, &p, base, " a %s/s f %s/s", a, b);
	}
	putf(t, &p, base, " gc %" PRIu64 "/%" PRIu64 "/%" PRIu64, gc_gen[0], gc_gen[1], gc_gen[2]);
	if (in->partial)
		put(t, &p, selected ? base | A_BOLD : pair(t, PAIR_WARN) | A_BOLD, " PARTIAL");
	if (in->sampled)
		put(t, &p, selected ? base | A_BOLD : pair(t, PAIR_WARN) | A_BOLD, " SAMPLED");
	k = timeline__top_types(tl, v->lane, from, end, top, TOP_TYPES);
	for (i = 0; i < k; i++) {
		fmt_count(a, sizeof(a), top[i].count);
		putf(t, &p, base, "%s%s %s", i ? " " : sep(t), top[i].name ? top[i].name : "?", a);
	}
}

/* A lane in h rows: the headline, then as many of graph, rates, libc and
 * collections as fit, the graph taking what is left. */
static void draw_lane(struct tui *t, const struct timeline *tl, const struct lane_view *v, int y,
		      int h, bool selected, uint64_t from, uint64_t slice, size_t n, uint64_t view)
{
	uint64_t end = from + slice * n;
	int graph = h - 1, row;
	bool rates = false, libc = false, gc = false;
	uint64_t gc_gen[3] = {0};
	size_t ng = 0, i;

	/* collections by generation in the window, not so far: a paused view
	 * stays still */
	if (!grow((void **)&t->gcs, &t->gcs_cap, TL_GC_KEPT, sizeof(*t->gcs)))
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

/* ---- detail, help, status ---- */

static void draw_detail(struct tui *t, const struct timeline *tl, const struct lane_view *v, int y,
			int h, uint64_t from, uint64_t end)
{
	const struct lg_lane *in = v->info;
	uint64_t start = timeline__start_ns(tl);
	struct tl_type_count top[32];
	char a[16], b[16], c[16], pids[TL_LANE_NAME_MAX];
	int half = COLS / 2, rows, r;
	struct pen p;
	size_t k, i, ng;

	p = (struct pen){y, 0, COLS};
	fill_line(y, 0, COLS, A_REVERSE);
	putf(t, &p, A_REVERSE | A_BOLD, " %s ", in->name);
	if (in->detail[0])
		putf(t, &p, A_REVERSE, " %s", in->detail);
	if ((in->kind == LG_LANE_CONTAINER))
		putf(t, &p, A_REVERSE, "  cgroup %" PRIu64, in->cgroup_id);
	else
		put(t, &p, A_REVERSE, "  host process");
	if (ended_by(in, t->view_ns))
		put(t, &p, A_REVERSE, "  ended");

	p = (struct pen){y + 1, 1, COLS};
	fmt_pids(pids, sizeof(pids), in, 16);
	putf(t, &p, 0, "pids %s (%zu seen)", pids[0] ? pids : "-", in->npids);
	if (in->interpreter[0])
		putf(t, &p, 0, "  %s", in->interpreter);
	if (lane_is_footprint(in)) {
		fmt_bytes(a, sizeof(a), lg_levels__footprint(&in->lv));
		fmt_bytes(b, sizeof(b), in->lv.rss);
		putf(t, &p, 0, "  footprint %s  rss %s", a, b);
	} else {
		fmt_bytes(a, sizeof(a), in->lv.py_net);
		fmt_bytes(b, sizeof(b), in->lv.libc_net);
		putf(t, &p, 0, "  py net %s  libc net %s", a, b);
	}

	p = (struct pen){y + 2, 1, COLS};
	putf(t, &p, in->tot.lost ? pair(t, PAIR_WARN) | A_BOLD : 0, "lost %" PRIu64, in->tot.lost);
	putf(t, &p, 0, "  unmatched frees %" PRIu64, in->tot.unmatched_frees);
	putf(t, &p, 0, "  gc 0:%" PRIu64 " 1:%" PRIu64 " 2:%" PRIu64 "  ", in->tot.gc_gen[0],
	     in->tot.gc_gen[1], in->tot.gc_gen[2]);
	if (in->sampled)
		put(t, &p, pair(t, PAIR_WARN) | A_BOLD,
		    "SAMPLED: allocation calls seen only in windows; rates are a sample, net bytes "
		    "are not tracked  ");
	if (in->partial)
		putf(t, &p, pair(t, PAIR_WARN) | A_BOLD,
		     "PARTIAL: only part of the calls seen (%s)",
		     in->partial_what[0] ? in->partial_what : "some sources");
	else
		put(t, &p, 0, "coverage: full");

	rows = h - 4;
	if (rows <= 0)
		return;
	p = (struct pen){y + 3, 1, half - 1};
	put(t, &p, A_BOLD, "deallocated in window");
	p = (struct pen){y + 3, half, COLS};
	put(t, &p, A_BOLD, "collections, latest first");

	k = timeline__top_types(tl, v->lane, from, end, top, (size_t)rows < 32 ? (size_t)rows : 32);
	for (i = 0; i < k; i++) {
		p = (struct pen){y + 4 + (int)i, 1, half - 1};
		fmt_count(a, sizeof(a), top[i].count);
		putf(t, &p, 0, "%6s  %s", a, top[i].name ? top[i].name : "?");
	}
	if (!k) {
		p = (struct pen){y + 4, 1, half - 1};
		put(t, &p, A_DIM, "none");
	}

	if (grow((void **)&t->gcs, &t->gcs_cap, TL_GC_KEPT, sizeof(*t->gcs)))
		return;
	ng = timeline__gcs(tl, v->lane, 0, end, t->gcs, TL_GC_KEPT);
	for (r = 0; r < rows && (size_t)r < ng; r++) {
		const struct tl_gc *g = &t->gcs[ng - 1 - r];

		p = (struct pen){y + 4 + r, half, COLS};
		fmt_rel(a, sizeof(a), g->start_ns, start);
		if (g->end_ns)
			fmt_dur(b, sizeof(b), g->end_ns - g->start_ns);
		else
			snprintf(b, sizeof(b), "running");
		if (g->collected >= 0)
			fmt_count(c, sizeof(c), (uint64_t)g->collected);
		else
			snprintf(c, sizeof(c), "?");
		putf(t, &p, 0, "%8s  gen %c  %7s  collected %s  pid %u", a, gen_char(g->generation),
		     b, c, g->pid);
	}
	if (!ng) {
		p = (struct pen){y + 4, half, COLS};
		put(t, &p, A_DIM, "none");
	}
}

static void draw_help(struct tui *t)
{
	static const char *const live[] = {
	    "space, p       pause / resume",
	    "+ / -          zoom the time axis (1s ... 10m)",
	    "up/down, j/k   select a lane (PgUp/PgDn: a page)",
	    "Enter, d       details of the selected lane",
	    "s              sort: appearance, name, py net, alloc rate",
	    "?, h           this help (any key closes it)",
	    "q              quit",
	    "Left / Right   (live) pause and pan half a window",
	};
	static const char *const replay[] = {
	    "Home, g        start of the trace",
	    "End, G         end of the trace",
	    "Left / Right   one window back / forward",
	    "c              play on, hold at the next collection",
	};
	static const char *const legend[] = {
	    "py    Python allocator net bytes (window min..max)",
	    "a/f   calls/s, green allocs lead, red frees lead",
	    "libc  libc net bytes;  gc: a collection, by generation",
	    "headline: a/f now; in window: gc 0/1/2, top deallocated",
	};
	int w = 60, h, y0, x0, y, x;
	size_t i, nl = sizeof(live) / sizeof(*live), nr = sizeof(replay) / sizeof(*replay),
		  ng = sizeof(legend) / sizeof(*legend);
	struct pen p;

	h = (int)(nl + ng + (t->replay ? nr + 1 : 0)) + 4;
	if (w > COLS)
		w = COLS;
	if (h > LINES)
		h = LINES;
	y0 = (LINES - h) / 2;
	x0 = (COLS - w) / 2;
	for (y = y0; y < y0 + h; y++)
		for (x = x0; x < x0 + w; x++)
			mvaddch(y, x, ' ' | A_REVERSE);
	y = y0;
	p = (struct pen){y++, x0 + 2, x0 + w - 1};
	put(t, &p, A_REVERSE | A_BOLD, "pymac timeline: keys");
	for (i = 0; i < nl && y < y0 + h; i++) {
		p = (struct pen){y++, x0 + 2, x0 + w - 1};
		put(t, &p, A_REVERSE, live[i]);
	}
	if (t->replay) {
		p = (struct pen){y++, x0 + 2, x0 + w - 1};
		put(t, &p, A_REVERSE | A_BOLD, "replay");
		for (i = 0; i < nr && y < y0 + h; i++) {
			p = (struct pen){y++, x0 + 2, x0 + w - 1};
			put(t, &p, A_REVERSE, replay[i]);
		}
	}
	y++;
	for (i = 0; i < ng && y < y0 + h; i++) {
		p = (struct pen){y++, x0 + 2, x0 + w - 1};
		put(t, &p, A_REVERSE, legend[i]);
	}
}

static void draw_top(struct tui *t, const struct timeline *tl, uint64_t view)
{
	struct pen p = {0, 0, COLS};
	attr_t bar = t->colors ? pair(t, PAIR_BAR) : A_REVERSE;
	uint64_t lost = timeline__lost_total(tl);
	char a[16], w[16];

	fill_line(0, 0, COLS, bar);
	if (t->paused)
		put(t, &p, bar | A_BOLD, t->replay ? " REPLAY PAUSED" : " PAUSED");
	else
		put(t, &p, bar | A_BOLD, t->replay ? " REPLAY" : " LIVE");
	fmt_span(w, sizeof(w), tui__window_ns(t));
	fmt_rel(a, sizeof(a), view, timeline__start_ns(tl));
	putf(t, &p, bar, "%swindow %s%st=%s%s", sep(t), w, sep(t), a, sep(t));
	if (lost)
		putf(t, &p, t->colors ? pair(t, PAIR_WARN) | A_BOLD : A_BOLD, "LOST %" PRIu64,
		     lost);
	else
		put(t, &p, bar, "lost 0");
	if (t->status[0])
		putf(t, &p, bar, "%s%s", sep(t), t->status);
	if (t->sort != SORT_APPEARANCE)
		putf(t, &p, bar, "%ssort: %s", sep(t), sort_names[t->sort]);
	if (t->title[0])
		putf(t, &p, bar, "%s%s", sep(t), t->title);
}

/* The warning line, when some lane sees only part of the calls. Returns the
 * rows it took. */
static int draw_partial(struct tui *t, int y)
{
	const struct lg_lane *first = NULL;
	size_t i, n = 0;
	struct pen p = {y, 0, COLS};
	attr_t at = t->colors ? pair(t, PAIR_WARN) | A_BOLD : A_REVERSE | A_BOLD;

	for (i = 0; i < t->nlanes; i++) {
		const struct lg_lane *in = t->views[i].info;

		if (!in->partial)
			continue;
		if (!first || t->views[i].lane == t->sel_lane)
			first = in;
		n++;
	}
	if (!first)
		return 0;
	fill_line(y, 0, COLS, at);
	putf(t, &p, at, "PARTIAL: only part of the calls seen (%s) in %s",
	     first->partial_what[0] ? first->partial_what : "some sources", first->name);
	if (n > 1)
		putf(t, &p, at, " (+%zu more lane%s)", n - 1, n > 2 ? "s" : "");
	return 1;
}

static void draw_bottom(struct tui *t)
{
	struct pen p = {LINES - 1, 0, COLS};
	const char *s = sep(t);

	if (t->replay)
		putf(
		    t, &p, A_DIM,
		    "q quit%sspace pause%s+/- zoom%s%s step%sg/G start/end%sc hold gc%sd detail%s? "
		    "help",
		    s, s, s, t->utf8 ? "←/→" : "Left/Right", s, s, s, s);
	else
		putf(t, &p, A_DIM,
		     "q quit%sspace pause%s+/- zoom%s%s lane%sd detail%ss sort%s? help", s, s, s,
		     t->utf8 ? "↑/↓" : "j/k", s, s, s);
}

static void draw_frame(struct tui *t, const struct timeline *tl, uint64_t now_ns);

static void draw(struct tui *t, const struct timeline *tl, uint64_t now_ns)
{
	uint64_t t0 = pm_now_ns();
	struct tui_stats *st = &t->stats;

	if (st->frames && t0 - st->last_ns > st->max_gap_ns)
		st->max_gap_ns = t0 - st->last_ns;
	if (!st->frames)
		st->first_ns = t0;
	draw_frame(t, tl, now_ns);
	st->last_ns = pm_now_ns();
	st->draw_ns += st->last_ns - t0;
	st->frames++;
}

void tui__stats(const struct tui *t, struct tui_stats *out)
{
	*out = t->stats;
}

static void draw_frame(struct tui *t, const struct timeline *tl, uint64_t now_ns)
{
	uint64_t view = t->view_ns = (t->paused && !t->replay) ? t->pause_ns : now_ns;
	uint64_t window = tui__window_ns(t), slice, end, from;
	size_t n, pos, nl, i, shown;
	int y, avail, h, detail_h = 0;

	erase();
	if (COLS < LABEL_W + 20 || LINES < 8) {
		mvaddstr(0, 0, "terminal too small");
		refresh();
		return;
	}
	n = (size_t)(COLS - LABEL_W);
	slice = window / n ? window / n : 1;
	/* Slices on a fixed grid: a column keeps its contents as the view
	 * moves on. Running, the last one is still filling; paused, the view
	 * ends at the last whole one, so that nothing new shows. */
	end = (view / slice) * slice;
	if (end < view && !(t->paused && !t->replay))
		end += slice;
	from = end > slice * n ? end - slice * n : 0;
	end = from + slice * n;

	if (compute(t, tl, from, slice, n, view)) {
		mvaddstr(0, 0, "out of memory");
		refresh();
		return;
	}
	nl = t->nlanes;
	draw_top(t, tl, view);
	y = 1 + draw_partial(t, 1);
	draw_bottom(t);
	avail = LINES - 1 - y;

	if (!nl) {
		struct pen p = {y + avail / 2, 2, COLS};

		put(t, &p, A_DIM,
		    now_ns ? "no Python process seen yet" : "waiting for the first events...");
		if (t->help)
			draw_help(t);
		refresh();
		return;
	}
	pos = sel_pos(t);
	t->sel_lane = t->order[pos];
	if (t->detail && avail >= 11) {
		detail_h = avail / 2 < 8 ? 8 : avail / 2;
		if (detail_h > 14)
			detail_h = 14;
		if (avail - detail_h < 3)
			detail_h = avail - 3;
		avail -= detail_h;
	}
	/* as many rows per lane as fit all of them (a graph of up to 8
	 * rows), but at least 3 (headline, graph, gc) and then scroll */
	h = avail / (int)nl;
	if (h > 12)
		h = 12;
	if (h < 3)
		h = avail < 3 ? avail : 3;
	shown = (size_t)(avail / h);
	if (shown > nl)
		shown = nl;
	if (pos < t->top)
		t->top = pos;
	if (pos >= t->top + shown)
		t->top = pos + 1 - shown;
	if (t->top + shown > nl)
		t->top = nl - shown;
	for (i = 0; i < shown; i++) {
		const struct lane_view *v = &t->views[t->top + i];

		draw_lane(t, tl, v, y + (int)i * h, h, v->lane == t->sel_lane, from, slice, n,
			  view);
	}
	if (shown < nl) {
		char more[48];
		int len = snprintf(more, sizeof(more), " lanes %zu-%zu of %zu ", t->top + 1,
				   t->top + shown, nl);
		struct pen p = {LINES - 1, COLS - len, COLS};

		put(t, &p, A_BOLD, more);
	}
	if (detail_h)
		draw_detail(t, tl, &t->views[pos], y + avail, detail_h, from, end);
	if (t->help)
		draw_help(t);
	refresh();
}

/* ---- keys ---- */

static enum tui_action on_key(struct tui *t, const struct timeline *tl, int ch, uint64_t now_ns)
{
	uint64_t w = tui__window_ns(t);
	size_t pos = sel_pos(t), page;

	if (t->help) {
		if (ch != KEY_RESIZE)
			t->help = false;
		return TUI_NONE;
	}
	switch (ch) {
	case 'q':
	case 'Q':
		return TUI_QUIT;
	case ' ':
	case 'p':
		tui__set_paused(t, !t->paused);
		/* Hold at a whole second: deallocated types are counted per
		 * second, and the second still filling would keep changing. */
		if (t->paused)
			t->pause_ns = now_ns / 1000000000ull * 1000000000ull;
		return TUI_NONE;
	case '+':
	case '=':
		if (t->zoom > 0)
			t->zoom--;
		return TUI_NONE;
	case '-':
	case '_':
		if (t->zoom + 1 < NZOOM)
			t->zoom++;
		return TUI_NONE;
	case KEY_UP:
	case 'k':
		if (pos > 0)
			t->sel_lane = t->order[pos - 1];
		return TUI_NONE;
	case KEY_DOWN:
	case 'j':
		if (pos + 1 < t->nlanes)
			t->sel_lane = t->order[pos + 1];
		return TUI_NONE;
	case KEY_PPAGE:
	case KEY_NPAGE:
		if (!t->nlanes)
			return TUI_NONE;
		page = LINES > 8 ? (size_t)(LINES - 3) / 3 : 1;
		if (ch == KEY_PPAGE)
			pos = pos > page ? pos - page : 0;
		else
			pos = pos + page < t->nlanes ? pos + page : t->nlanes - 1;
		t->sel_lane = t->order[pos];
		return TUI_NONE;
	case '\n':
	case '\r':
	case KEY_ENTER:
	case 'd':
		t->detail = !t->detail;
		return TUI_NONE;
	case 's':
		t->sort = (t->sort + 1) % SORT_N;
		return TUI_NONE;
	case '?':
	case 'h':
		t->help = true;
		return TUI_NONE;
	default:
		break;
	}
	if (t->replay) {
		switch (ch) {
		case KEY_HOME:
		case 'g':
			return TUI_SEEK_START;
		case KEY_END:
		case 'G':
			return TUI_SEEK_END;
		case KEY_LEFT:
			return TUI_STEP_BACK;
		case KEY_RIGHT:
			return TUI_STEP_FWD;
		case 'c':
			return TUI_HOLD_GC;
		default:
			return TUI_NONE;
		}
	}
	if (ch == KEY_LEFT) {
		uint64_t start = timeline__start_ns(tl);

		if (!t->paused) {
			t->paused = true;
			t->pause_ns = now_ns;
		}
		t->pause_ns = t->pause_ns > start + w / 2 ? t->pause_ns - w / 2 : start;
	} else if (ch == KEY_RIGHT && t->paused) {
		t->pause_ns += w / 2;
		if (t->pause_ns > now_ns)
			t->pause_ns = now_ns;
	}
	return TUI_NONE;
}

/* ---- the interface ---- */

static void restore_at_exit(void)
{
	if (open_tui && !isendwin())
		endwin();
}

struct tui *tui__open(const struct tui_opts *o)
{
	static bool registered;
	const char *cur;
	struct tui *t;

	if (open_tui) {
		errno = EBUSY;
		return NULL;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		errno = ENOTTY;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->replay = o && o->replay;
	snprintf(t->title, sizeof(t->title), "%s", o && o->title ? o->title : "");
	t->zoom = ZOOM_DEFAULT;

	/* Only LC_CTYPE: ncursesw needs it for UTF-8, and the rest of pymac
	 * prints numbers that must not take the user's decimal comma. */
	cur = setlocale(LC_CTYPE, NULL);
	t->old_ctype = strdup(cur ? cur : "C");
	setlocale(LC_CTYPE, "");
	t->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");

	fflush(stdout);
	t->screen = newterm(NULL, stdout, stdin);
	if (!t->screen) {
		setlocale(LC_CTYPE, t->old_ctype ? t->old_ctype : "C");
		free(t->old_ctype);
		free(t);
		errno = ENOTTY;
		return NULL;
	}
	set_term(t->screen);
	if (!registered) {
		atexit(restore_at_exit);
		registered = true;
	}
	open_tui = t;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	if (has_colors()) {
		t->colors = true;
		start_color();
		use_default_colors();
		init_pair(PAIR_GRAPH, COLOR_CYAN, -1);
		init_pair(PAIR_ALLOC, COLOR_GREEN, -1);
		init_pair(PAIR_FREE, COLOR_RED, -1);
		init_pair(PAIR_GC, COLOR_YELLOW, -1);
		init_pair(PAIR_WARN, COLOR_WHITE, COLOR_RED);
		init_pair(PAIR_NAME, COLOR_BLUE, -1);
		init_pair(PAIR_SEL, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_BAR, COLOR_BLACK, COLOR_WHITE);
	}
	return t;
}

void tui__close(struct tui *t)
{
	if (!t)
		return;
	endwin();
	delscreen(t->screen);
	if (t->old_ctype)
		setlocale(LC_CTYPE, t->old_ctype);
	free(t->old_ctype);
	free(t->views);
	free(t->buf);
	free(t->gcs);
	free(t->order);
	if (open_tui == t)
		open_tui = NULL;
	free(t);
}

enum tui_action tui__update(struct tui *t, const struct timeline *tl, uint64_t now_ns,
			    int timeout_ms)
{
	uint64_t deadline = (pm_now_ns() / 1000000) + (timeout_ms > 0 ? (uint64_t)timeout_ms : 0);

	for (;;) {
		enum tui_action a;
		uint64_t now = (pm_now_ns() / 1000000);
		int ch;

		draw(t, tl, now_ns);
		timeout(now < deadline ? (int)(deadline - now) : 0);
		ch = getch();
		if (ch == ERR)
			return TUI_NONE;
		a = on_key(t, tl, ch, now_ns);
		if (a != TUI_NONE)
			return a;
	}
}

bool tui__paused(const struct tui *t)
{
	return t->paused;
}

void tui__set_paused(struct tui *t, bool paused)
{
	t->paused = paused;
}

uint64_t tui__window_ns(const struct tui *t)
{
	return zoom_ns[t->zoom];
}

void tui__set_status(struct tui *t, const char *text)
{
	snprintf(t->status, sizeof(t->status), "%s", text ? text : "");
}

/* ---- line mode ---- */

static void print_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void print_secs(FILE *out, const char *key, int64_t ns)
{
	uint64_t a = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;

	fprintf(out, "%s=%s%" PRIu64 ".%03" PRIu64, key, ns < 0 ? "-" : "", a / NS_PER_SEC,
		a % NS_PER_SEC / 1000000);
}

void tui_lines__print(const struct timeline *tl, uint64_t from_ns, uint64_t to_ns, FILE *out)
{
	size_t nl = timeline__lane_count(tl), i, j, ng;
	uint64_t start = timeline__start_ns(tl), span = to_ns > from_ns ? to_ns - from_ns : 0;
	uint64_t lost_total = timeline__lost_total(tl);
	struct tl_gc *gcs = malloc(TL_GC_KEPT * sizeof(*gcs));

	for (i = 0; i < nl; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		struct tl_bucket b = {0};
		struct tl_type_count top[TOP_TYPES];
		uint64_t by_gen[4] = {0}, gc_us = 0;
		size_t k, shown;

		/* a lane born after the interval is not in it: the lines then
		 * depend only on records before to_ns, live and in replay */
		if (!in || in->first_ns >= to_ns)
			continue;
		if (span && timeline__series(tl, i, from_ns, to_ns, &b, 1) < 0)
			memset(&b, 0, sizeof(b));
		ng = gcs && span ? timeline__gcs(tl, i, from_ns, to_ns, gcs, TL_GC_KEPT) : 0;
		for (j = 0; j < ng; j++) {
			/* overlapping ones that started earlier belong to the
			 * interval before: count each collection once */
			if (gcs[j].start_ns < from_ns || gcs[j].start_ns >= to_ns)
				continue;
			by_gen[gcs[j].generation >= 0 && gcs[j].generation <= 2 ? gcs[j].generation
										: 3]++;
			if (gcs[j].end_ns >= gcs[j].start_ns && gcs[j].end_ns)
				gc_us += (gcs[j].end_ns - gcs[j].start_ns) / 1000;
		}
		k = span ? timeline__top_types(tl, i, from_ns, to_ns, top, TOP_TYPES) : 0;

		print_secs(out, "t", (int64_t)(to_ns - start));
		fputc(' ', out);
		print_secs(out, "dt", (int64_t)span);
		fputs(" lane=", out);
		print_quoted(out, in->name);
		fprintf(out, " kind=%s ended=%d pids=",
			(in->kind == LG_LANE_CONTAINER) ? "container" : "process",
			ended_by(in, to_ns) ? 1 : 0);
		shown = in->npids < 16 ? in->npids : 16;
		if (!shown)
			fputc('-', out);
		for (j = 0; j < shown; j++)
			fprintf(out, "%s%u", j ? "," : "", in->pids[j]);
		fprintf(out, " npids=%zu interp=", in->npids);
		print_quoted(out, in->interpreter);
		fprintf(out,
			" py_alloc/s=%" PRIu64 " py_free/s=%" PRIu64 " py_alloc_bytes=%" PRIu64
			" py_free_bytes=%" PRIu64 " py_net=%" PRId64,
			muldiv(b.py_allocs, NS_PER_SEC, span), muldiv(b.py_frees, NS_PER_SEC, span),
			b.py_alloc_bytes, b.py_free_bytes, b.py_net);
		fprintf(out, " libc_alloc/s=%" PRIu64 " libc_free/s=%" PRIu64 " libc_net=%" PRId64,
			muldiv(b.libc_allocs, NS_PER_SEC, span),
			muldiv(b.libc_frees, NS_PER_SEC, span), b.libc_net);
		fprintf(out, " dealloc/s=%" PRIu64, muldiv(b.deallocs, NS_PER_SEC, span));
		fprintf(out, " fp_net=%" PRId64 " rss=%" PRId64 " sampled=%d", b.fp_net, b.rss,
			in->sampled ? 1 : 0);
		fprintf(out, " gc=0:%" PRIu64 ",1:%" PRIu64 ",2:%" PRIu64, in->tot.gc_gen[0],
			in->tot.gc_gen[1], in->tot.gc_gen[2]);
		fprintf(out,
			" gc_in_interval=0:%" PRIu64 ",1:%" PRIu64 ",2:%" PRIu64 ",?:%" PRIu64
			" gc_us=%" PRIu64,
			by_gen[0], by_gen[1], by_gen[2], by_gen[3], gc_us);
		fprintf(out,
			" lost=%" PRIu64 " lost_in_interval=%" PRIu32 " lost_total=%" PRIu64
			" unmatched_frees=%" PRIu64 " partial=",
			in->tot.lost, b.lost, lost_total, in->tot.unmatched_frees);
		if (in->partial && in->partial_what[0]) {
			const char *s;

			for (s = in->partial_what; *s; s++)
				if (*s != ' ' && (unsigned char)*s > 0x20 && *s != 0x7f)
					fputc(*s, out);
		} else {
			fputs(in->partial ? "?" : "-", out);
		}
		fputs(" top=\"", out);
		for (j = 0; j < k; j++) {
			char buf[TL_LANE_NAME_MAX + 32];
			const char *s;

			snprintf(buf, sizeof(buf), "%s%s", j ? "," : "",
				 top[j].name ? top[j].name : "?");
			for (s = buf; *s; s++) {
				unsigned char c = (unsigned char)*s;

				if (c == '"' || c == '\\')
					fprintf(out, "\\%c", c);
				else if (c < 0x20 || c == 0x7f)
					fprintf(out, "\\x%02x", c);
				else
					fputc(c, out);
			}
			fprintf(out, ":%" PRIu64, top[j].count);
		}
		fputs("\"\n", out);
	}
	free(gcs);
}
