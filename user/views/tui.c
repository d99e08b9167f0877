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
#include "views/tui_impl.h"
#include "util/clock.h"
#include "util/grow.h"

static struct tui *open_tui;

static const uint64_t zoom_ns[] = {
    1 * NS_PER_SEC,  2 * NS_PER_SEC,   5 * NS_PER_SEC,	 10 * NS_PER_SEC,  30 * NS_PER_SEC,
    60 * NS_PER_SEC, 120 * NS_PER_SEC, 300 * NS_PER_SEC, 600 * NS_PER_SEC,
};
#define NZOOM	     (sizeof(zoom_ns) / sizeof(zoom_ns[0]))
#define ZOOM_DEFAULT 3 /* 10 s */

static const char *const sort_names[SORT_N] = {"appearance", "name", "py net", "alloc rate"};

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

int tui_grow(void **p, size_t *cap, size_t want, size_t size)
{
	void *n = want ? pm_grow(*p, cap, want, size, want) : *p;

	if (!n && want)
		return -ENOMEM;
	*p = n;
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

	if (tui_grow((void **)&t->views, &t->views_cap, nl + 1, sizeof(*t->views)) ||
	    tui_grow((void **)&t->buf, &t->buf_cap, (nl + 1) * n, sizeof(*t->buf)) ||
	    tui_grow((void **)&t->order, &t->order_cap, nl + 1, sizeof(*t->order)))
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
		v->alloc_rate = tl_per_second(a, span);
		v->free_rate = tl_per_second(f, span);
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

static size_t sel_pos(const struct tui *t)
{
	size_t i;

	for (i = 0; i < t->nlanes; i++)
		if (t->order[i] == t->sel_lane)
			return i;
	return 0;
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
	uint64_t inside = 0;

	p = (struct pen){y, 0, COLS};
	tui_fill_line(y, 0, COLS, A_REVERSE);
	tui_putf(t, &p, A_REVERSE | A_BOLD, " %s ", in->name);
	if (in->detail[0])
		tui_putf(t, &p, A_REVERSE, " %s", in->detail);
	if ((in->kind == LG_LANE_CONTAINER))
		tui_putf(t, &p, A_REVERSE, "  cgroup %" PRIu64, in->cgroup_id);
	else
		tui_put(t, &p, A_REVERSE, "  host process");
	if (tl_lane_ended_by(in, t->view_ns))
		tui_put(t, &p, A_REVERSE, "  ended");

	p = (struct pen){y + 1, 1, COLS};
	tui_fmt_pids(pids, sizeof(pids), in, 16);
	tui_putf(t, &p, 0, "pids %s (%zu seen)", pids[0] ? pids : "-", in->npids);
	if (in->interpreter[0])
		tui_putf(t, &p, 0, "  %s", in->interpreter);
	if (lane_is_footprint(in)) {
		tui_fmt_bytes(a, sizeof(a), lg_levels__footprint(&in->lv));
		tui_fmt_bytes(b, sizeof(b), in->lv.rss);
		tui_putf(t, &p, 0, "  footprint %s  rss %s", a, b);
	} else {
		tui_fmt_bytes(a, sizeof(a), in->lv.py_net);
		tui_fmt_bytes(b, sizeof(b), in->lv.libc_net);
		tui_putf(t, &p, 0, "  py net %s  libc net %s", a, b);
	}

	p = (struct pen){y + 2, 1, COLS};
	tui_putf(t, &p, in->tot.lost ? tui_pair(t, PAIR_WARN) | A_BOLD : 0, "lost %" PRIu64,
		 in->tot.lost);
	tui_putf(t, &p, 0, "  unmatched frees %" PRIu64, in->tot.unmatched_frees);
	tui_putf(t, &p, 0, "  gc 0:%" PRIu64 " 1:%" PRIu64 " 2:%" PRIu64 "  ", in->tot.gc_gen[0],
		 in->tot.gc_gen[1], in->tot.gc_gen[2]);
	if (in->sampled)
		tui_put(
		    t, &p, tui_pair(t, PAIR_WARN) | A_BOLD,
		    "SAMPLED: allocation calls seen only in windows; rates are a sample, net bytes "
		    "are not tracked  ");
	if (in->partial)
		tui_putf(t, &p, tui_pair(t, PAIR_WARN) | A_BOLD,
			 "PARTIAL: only part of the calls seen (%s)",
			 in->partial_what[0] ? in->partial_what : "some sources");
	else
		tui_put(t, &p, 0, "coverage: full");

	rows = h - 4;
	if (rows <= 0)
		return;
	p = (struct pen){y + 3, 1, half - 1};
	tui_put(t, &p, A_BOLD, "deallocated in window");

	k = timeline__top_types(tl, v->lane, from, end, top, (size_t)rows < 32 ? (size_t)rows : 32);
	for (i = 0; i < k; i++) {
		p = (struct pen){y + 4 + (int)i, 1, half - 1};
		tui_fmt_count(a, sizeof(a), top[i].count);
		tui_putf(t, &p, 0, "%6s  %s", a, top[i].name ? top[i].name : "?");
	}
	if (!k) {
		p = (struct pen){y + 4, 1, half - 1};
		tui_put(t, &p, A_DIM, "none");
	}

	if (tui_grow((void **)&t->gcs, &t->gcs_cap, TL_GC_KEPT, sizeof(*t->gcs)))
		return;
	ng = timeline__gcs(tl, v->lane, 0, end, t->gcs, TL_GC_KEPT);
	for (size_t j = 0; j < ng; j++)
		inside += t->gcs[j].traced_inside;
	p = (struct pen){y + 3, half, COLS};
	tui_put(t, &p, A_BOLD, "collections, latest first");
	/* what a duration measured (views/summary_impl.h: sm_gc_time_note) */
	if (ng)
		tui_put(t, &p, A_DIM,
			inside ? "  as traced: times include the probes of the events inside"
			       : "  their own times: only the GC probes fired");
	for (r = 0; r < rows && (size_t)r < ng; r++) {
		const struct tl_gc *g = &t->gcs[ng - 1 - r];

		p = (struct pen){y + 4 + r, half, COLS};
		tui_fmt_rel(a, sizeof(a), g->start_ns, start);
		if (g->end_ns)
			tui_fmt_dur(b, sizeof(b), g->end_ns - g->start_ns);
		else
			snprintf(b, sizeof(b), "running");
		if (g->collected >= 0)
			tui_fmt_count(c, sizeof(c), (uint64_t)g->collected);
		else
			snprintf(c, sizeof(c), "?");
		tui_putf(t, &p, 0, "%8s  gen %c  %7s  collected %s  pid %u", a,
			 tui_gen_char(g->generation), b, c, g->pid);
		if (g->traced_inside) {
			tui_fmt_count(c, sizeof(c), g->traced_inside);
			tui_putf(t, &p, A_DIM, "  %s events inside", c);
		}
	}
	if (!ng) {
		p = (struct pen){y + 4, half, COLS};
		tui_put(t, &p, A_DIM, "none");
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
	    "sizes in bytes, K M G = 1024, 1024^2, 1024^3; counts k M",
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
	tui_put(t, &p, A_REVERSE | A_BOLD, "pymac timeline: keys");
	for (i = 0; i < nl && y < y0 + h; i++) {
		p = (struct pen){y++, x0 + 2, x0 + w - 1};
		tui_put(t, &p, A_REVERSE, live[i]);
	}
	if (t->replay) {
		p = (struct pen){y++, x0 + 2, x0 + w - 1};
		tui_put(t, &p, A_REVERSE | A_BOLD, "replay");
		for (i = 0; i < nr && y < y0 + h; i++) {
			p = (struct pen){y++, x0 + 2, x0 + w - 1};
			tui_put(t, &p, A_REVERSE, replay[i]);
		}
	}
	y++;
	for (i = 0; i < ng && y < y0 + h; i++) {
		p = (struct pen){y++, x0 + 2, x0 + w - 1};
		tui_put(t, &p, A_REVERSE, legend[i]);
	}
}

static void draw_top(struct tui *t, const struct timeline *tl, uint64_t view)
{
	struct pen p = {0, 0, COLS};
	attr_t bar = t->colors ? tui_pair(t, PAIR_BAR) : A_REVERSE;
	uint64_t lost = timeline__lost_total(tl);
	char a[16], w[16];

	tui_fill_line(0, 0, COLS, bar);
	if (t->paused)
		tui_put(t, &p, bar | A_BOLD, t->replay ? " REPLAY PAUSED" : " PAUSED");
	else
		tui_put(t, &p, bar | A_BOLD, t->replay ? " REPLAY" : " LIVE");
	tui_fmt_span(w, sizeof(w), tui__window_ns(t));
	tui_fmt_rel(a, sizeof(a), view, timeline__start_ns(tl));
	tui_putf(t, &p, bar, "%swindow %s%st=%s%s", tui_sep(t), w, tui_sep(t), a, tui_sep(t));
	if (lost)
		tui_putf(t, &p, t->colors ? tui_pair(t, PAIR_WARN) | A_BOLD : A_BOLD,
			 "LOST %" PRIu64, lost);
	else
		tui_put(t, &p, bar, "lost 0");
	if (t->status[0])
		tui_putf(t, &p, bar, "%s%s", tui_sep(t), t->status);
	if (t->sort != SORT_APPEARANCE)
		tui_putf(t, &p, bar, "%ssort: %s", tui_sep(t), sort_names[t->sort]);
	if (t->title[0])
		tui_putf(t, &p, bar, "%s%s", tui_sep(t), t->title);
}

/* The warning line, when some lane sees only part of the calls. Returns the
 * rows it took. */
static int draw_partial(struct tui *t, int y)
{
	const struct lg_lane *first = NULL;
	size_t i, n = 0;
	struct pen p = {y, 0, COLS};
	attr_t at = t->colors ? tui_pair(t, PAIR_WARN) | A_BOLD : A_REVERSE | A_BOLD;

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
	tui_fill_line(y, 0, COLS, at);
	tui_putf(t, &p, at, "PARTIAL: only part of the calls seen (%s) in %s",
		 first->partial_what[0] ? first->partial_what : "some sources", first->name);
	if (n > 1)
		tui_putf(t, &p, at, " (+%zu more lane%s)", n - 1, n > 2 ? "s" : "");
	return 1;
}

static void draw_bottom(struct tui *t)
{
	struct pen p = {LINES - 1, 0, COLS};
	const char *s = tui_sep(t);

	if (t->replay)
		tui_putf(
		    t, &p, A_DIM,
		    "q quit%sspace pause%s+/- zoom%s%s step%sg/G start/end%sc hold gc%sd detail%s? "
		    "help",
		    s, s, s, t->utf8 ? "←/→" : "Left/Right", s, s, s, s);
	else
		tui_putf(t, &p, A_DIM,
			 "q quit%sspace pause%s+/- zoom%s%s lane%sd detail%ss sort%s? help", s, s,
			 s, t->utf8 ? "↑/↓" : "j/k", s, s, s);
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

		tui_put(t, &p, A_DIM,
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

		tui_draw_lane(t, tl, v, y + (int)i * h, h, v->lane == t->sel_lane, from, slice, n,
			      view);
	}
	if (shown < nl) {
		char more[48];
		int len = snprintf(more, sizeof(more), " lanes %zu-%zu of %zu ", t->top + 1,
				   t->top + shown, nl);
		struct pen p = {LINES - 1, COLS - len, COLS};

		tui_put(t, &p, A_BOLD, more);
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
