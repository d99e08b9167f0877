/* SPDX-License-Identifier: MIT */
/*
 * The full-screen view's insides, shared by tui.c (the model per redraw,
 * the frame, keys and the interface) and tui_draw.c (formats, the pen and
 * the lanes' rows). Not for other views.
 */
#ifndef PYMAC_TUI_IMPL_H
#define PYMAC_TUI_IMPL_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "views/tui.h"

#define NS_PER_SEC ((uint64_t)1000000000)

enum sort_order { SORT_APPEARANCE, SORT_NAME, SORT_PY_NET, SORT_ALLOC_RATE, SORT_N };

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

/* Where the next characters go on the screen. */
struct pen {
	int y, x, xmax; /* xmax: first column not to write */
};

/* Numbers for a short headline: at most 3 significant digits. */
void tui_fmt_count(char *buf, size_t sz, uint64_t v);
void tui_fmt_bytes(char *buf, size_t sz, int64_t v);
void tui_fmt_dur(char *buf, size_t sz, uint64_t ns);
void tui_fmt_span(char *buf, size_t sz, uint64_t ns);
void tui_fmt_rel(char *buf, size_t sz, uint64_t ns, uint64_t start);
void tui_fmt_pids(char *buf, size_t sz, const struct lg_lane *in, size_t max);

/* s at the pen, clipped to the line, bytes that would upset the terminal
 * replaced. */
void tui_put(struct tui *t, struct pen *p, attr_t attr, const char *s);
void tui_putf(struct tui *t, struct pen *p, attr_t attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
attr_t tui_pair(const struct tui *t, int n);
void tui_fill_line(int y, int x0, int x1, attr_t attr);
const char *tui_sep(const struct tui *t);
char tui_gen_char(int32_t gen);
/* Grow *p to hold want elements of size bytes. 0 or -ENOMEM. */
int tui_grow(void **p, size_t *cap, size_t want, size_t size);

/* A lane in h rows from y: the headline, then as many of graph, rates,
 * libc and collections as fit. */
void tui_draw_lane(struct tui *t, const struct timeline *tl, const struct lane_view *v, int y,
		   int h, bool selected, uint64_t from, uint64_t slice, size_t n, uint64_t view);

#endif /* PYMAC_TUI_IMPL_H */
