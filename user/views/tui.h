/* SPDX-License-Identifier: MIT */
/*
 * The views of the timeline model (timeline.h) for `pymac live` and
 * `replay --view timeline`: a full-screen ncurses view, and a line mode for
 * when stdout is no terminal (or --lines).
 *
 * The caller owns the loop and the clock: it feeds the timeline, then calls
 * tui__update() with the time to show, which draws and waits for keys for up
 * to timeout_ms. Keys that only change the view (zoom, selection, sort,
 * detail, help, pause in live mode) are handled inside; keys the caller must
 * act on come back as an action.
 */
#ifndef PYMAC_TUI_H
#define PYMAC_TUI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "model/timeline.h"

struct tui_opts {
	bool replay;	   /* enables the seek keys (Home/End/Left/Right/c) */
	const char *title; /* e.g. "pymac live" or the trace file; may be NULL */
};

struct tui;

/*
 * Takes over the terminal (stdin and stdout must be terminals). NULL with
 * errno (ENOTTY when there is no usable terminal, ENOMEM). Only one may be
 * open at a time. If the process exits without tui__close(), an atexit
 * handler still restores the terminal; a caller that dies by a signal must
 * catch it and call tui__close(). Ctrl-C still raises SIGINT.
 */
struct tui *tui__open(const struct tui_opts *o);
/* Restores the terminal (and the LC_CTYPE locale tui__open changed). NULL is ok. */
void tui__close(struct tui *t);

enum tui_action {
	TUI_NONE,
	TUI_QUIT,	/* q */
	TUI_SEEK_START, /* replay: Home or g */
	TUI_SEEK_END,	/* replay: End or G */
	TUI_STEP_BACK,	/* replay: Left, one window (tui__window_ns) back */
	TUI_STEP_FWD,	/* replay: Right, one window forward */
	TUI_HOLD_GC,	/* replay: c, play on and hold (pause) at the next collection */
};

/*
 * Draws the model with the visible window ending at now_ns, then handles keys
 * for up to timeout_ms (0: only the keys already typed), redrawing after
 * each. Returns at the first key that needs the caller, else TUI_NONE when
 * the time is up.
 *
 * Live: while paused the window stays where it was when paused (events that
 * arrive meanwhile are not shown), and Left/Right pan it by half a window.
 * Replay: the view always ends at now_ns; while tui__paused() the caller
 * should stop advancing its replay clock.
 */
enum tui_action tui__update(struct tui *t, const struct timeline *tl, uint64_t now_ns,
			    int timeout_ms);
bool tui__paused(const struct tui *t);
/* E.g. replay holding at a collection (TUI_HOLD_GC) pauses the view. */
void tui__set_paused(struct tui *t, bool paused);
/* The visible span (the zoom: 1 s ... 10 min). */
uint64_t tui__window_ns(const struct tui *t);
/* Status the caller knows (drops, replay position and speed), shown in the
 * top line. Copied; NULL clears it. */
void tui__set_status(struct tui *t, const char *text);

/* How the screen kept up, for --stats and the benchmarks. */
struct tui_stats {
	uint64_t frames;	    /* full redraws */
	uint64_t max_gap_ns;	    /* longest time between two redraws after the first */
	uint64_t draw_ns;	    /* time spent computing and drawing frames */
	uint64_t first_ns, last_ns; /* CLOCK_MONOTONIC of the first and last redraw */
};
void tui__stats(const struct tui *t, struct tui_stats *out);

/*
 * Line mode: one line per lane (in order of appearance) for the interval
 * [from_ns, to_ns), then nothing else. Each line is the fields below, in this
 * order, separated by one space, ending in '\n'. Numbers are decimal
 * integers unless stated; counts, rates and bytes never depend on the wall
 * clock or terminal, so a replay of a trace prints the same bytes.
 *
 *   t=S.mmm            end of the interval, seconds since timeline__start_ns
 *                      (3 decimals, truncated; may start with '-')
 *   dt=S.mmm           length of the interval, seconds
 *   lane="NAME"        lane name; '"' and '\' are escaped with '\', other
 *                      bytes < 0x20 and 0x7f as \xHH
 *   kind=container|process
 *   ended=0|1
 *   pids=P,P,...       first pids seen (at most 16), "-" when none
 *   npids=N            how many pids were seen
 *   interp="python X.Y" (escaped as lane; "" when unknown)
 *   py_alloc/s=N py_free/s=N     PyObject_* calls per second in the interval
 *   py_alloc_bytes=N py_free_bytes=N   bytes in the interval
 *   py_net=N           Python allocator net bytes at the interval's end (signed)
 *   libc_alloc/s=N libc_free/s=N
 *   libc_net=N         libc net bytes at the interval's end (signed)
 *   dealloc/s=N
 *   fp_net=N           footprint mode: anonymous mappings + brk heap of the
 *                      lane's processes at the interval's end (0 otherwise)
 *   rss=N              footprint mode: the sum of their latest RSS samples
 *   sampled=0|1        1: allocation probes were armed only in windows
 *                      (--sample-duty): rates are a sample, nets mean nothing
 *   gc=0:N,1:N,2:N     collections so far by generation (the model's now)
 *   gc_in_interval=0:N,1:N,2:N,?:N   collections that started in the
 *                      interval, by generation ('?': unknown)
 *   gc_us=N            total duration of those that have finished, µs
 *   gc_traced_inside=N allocator and deallocation events traced inside them: their
 *                      probes' cost is in gc_us (0: gc_us is the collections' own time)
 *   lost=N             events lost so far in this lane
 *   lost_in_interval=N
 *   lost_total=N       timeline__lost_total (all lanes and unknown pids)
 *   unmatched_frees=N
 *   partial=A,B        sources that see only part of the calls, "-" if none
 *   top="T:N,T:N,T:N"  most deallocated types in the interval (at most 3,
 *                      escaped as lane; type names with ',' or ':' are
 *                      printed as they are), "" if none
 *
 * Per second rates are count * 1e9 / (to_ns - from_ns), rounded down (0 for
 * an empty interval). Example:
 *
 *   t=12.000 dt=1.000 lane="web" kind=container ended=0 pids=123,456 npids=2
 *   interp="python 3.11" py_alloc/s=5210 ... partial=pymalloc,dealloc top="dict:120"
 *
 * (one line, wrapped here).
 */
void tui_lines__print(const struct timeline *tl, uint64_t from_ns, uint64_t to_ns, FILE *out);

#endif /* PYMAC_TUI_H */
