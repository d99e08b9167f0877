// SPDX-License-Identifier: MIT
/*
 * `pymac live`, and `pymac replay --view timeline`: the same timeline model
 * and the same views (full-screen or one line per lane per interval), fed
 * by live tracing or by a trace file. Only where records come from differs.
 */
#include <argp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "attach/caps.h"
#include "cmd/commands.h"
#include "attach/probes.h"
#include "views/prom.h"
#include "feed/feed.h"
#include "feed/session.h"
#include "model/timeline.h"
#include "trace/trace.h"
#include "views/tui.h"
#include "util/outstream.h"

#define DRAW_INTERVAL_NS 100000000ull /* 10 redraws a second */
#define LINES_GRACE_NS	 250000000ull /* events of an interval arrive within this */
#define LINES_IDLE_NS	 (2 * LINES_GRACE_NS)
#define LIVE_POLL_BUDGET 65536 /* records per poll before the screen gets a turn */

/*
 * --stats: how the view kept up, on stderr once the terminal is restored.
 * The CPU time is the whole process's (consumer, model, drawing).
 */
struct view_stats {
	bool on;
	struct tui_stats tui;
	unsigned long long start_ns;
};

static void view_stats__take(struct view_stats *vs, const struct tui *t)
{
	if (vs->on && t)
		tui__stats(t, &vs->tui);
}

static void view_stats__print(const struct view_stats *vs, const char *what,
			      unsigned long long events, unsigned long long lost)
{
	const struct tui_stats *ts = &vs->tui;
	double wall = (double)(pm_now_ns() - vs->start_ns) / 1e9, cpu;
	struct rusage ru;

	if (!vs->on)
		return;
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	      ru.ru_stime.tv_usec / 1e6;
	fprintf(stderr,
		"pymac: %s stats: %.2f s, %llu events (%.0f/s), %llu lost, cpu %.2f s (%.0f%%, "
		"%.0f ms per million events)",
		what, wall, events, wall > 0 ? events / wall : 0, lost, cpu,
		wall > 0 ? 100 * cpu / wall : 0, events ? cpu * 1e9 / events : 0);
	if (ts->frames) {
		double span = (double)(ts->last_ns - ts->first_ns) / 1e9;

		fprintf(stderr,
			", %llu redraws (%.1f/s), longest gap %.0f ms, drawing %.1f ms per redraw",
			(unsigned long long)ts->frames, span > 0 ? (ts->frames - 1) / span : 0,
			(double)ts->max_gap_ns / 1e6, (double)ts->draw_ns / 1e6 / ts->frames);
	}
	fputc('\n', stderr);
}

/* ---- line mode, shared ---- */

/*
 * Lines are printed at the same point of the record stream live and in
 * replay: when the first event at least LINES_GRACE_NS past an interval's
 * end arrives, before the model takes it. Both then print from the same
 * model state, so a replay prints what the live session printed, byte for
 * byte.
 *
 * While the targets make no event at all, live prints an interval once the
 * clock is LINES_IDLE_NS past its end and a poll found the ring buffer empty
 * (a backlog may hold that interval's events). No record of that time has
 * arrived since (else it would have been printed then), so the replay prints
 * it at the same point of the stream: before the next record. Only a record
 * delayed on its way by more than LINES_GRACE_NS could make the two differ.
 */
struct line_printer {
	struct pm_sink base; /* goes before the timeline's sink */
	const struct timeline *tl;
	struct pm_stream out; /* standard output */
	uint64_t interval_ns;
	uint64_t next_end; /* end of the next interval to print; 0 before the start is known */
};

#define LINES_NAME "the line view to standard output"

static int lines__open(struct line_printer *lp)
{
	int err = pm_stream__open(&lp->out, STDOUT_FILENO, false, false);

	if (err)
		pm_err(LINES_NAME ": %s", strerror(-err));
	lp->out.kept = true;
	return err;
}

/* Print every whole interval that ends at or before `upto`. 0, or the
 * output's error (nothing more is printed after one). */
static int lines__catch_up(struct line_printer *lp, uint64_t upto)
{
	uint64_t start = timeline__start_ns(lp->tl);
	int err = pm_stream__error(&lp->out);

	if (!start || err)
		return err;
	if (!lp->next_end)
		lp->next_end = start + lp->interval_ns;
	while (lp->next_end <= upto) {
		tui_lines__print(lp->tl, lp->next_end - lp->interval_ns, lp->next_end, lp->out.f);
		lp->next_end += lp->interval_ns;
	}
	fflush(lp->out.f);
	return pm_stream__error(&lp->out);
}

static int lines_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct line_printer *lp = (struct line_printer *)sink;

	if (rec->type == PM_REC_EVENT && rec->ev.ts_ns > LINES_GRACE_NS)
		return lines__catch_up(lp, rec->ev.ts_ns - LINES_GRACE_NS);
	return 0;
}

/*
 * At the end: every interval that holds something, the last one whole, and
 * the output closed. An error is said here unless the feed said it (`said`).
 * Returns 1 after an error, else 0.
 */
static int lines__end(struct line_printer *lp, uint64_t last_ns, bool said)
{
	int err;

	if (timeline__start_ns(lp->tl)) {
		lines__catch_up(lp, last_ns);
		if (lp->next_end && lp->next_end - lp->interval_ns <= last_ns)
			lines__catch_up(lp, lp->next_end);
	}
	err = pm_stream__close(&lp->out);
	if (err && !said)
		pm_err(LINES_NAME ": %s (%llu bytes written)", strerror(-err), lp->out.bytes);
	return err != 0;
}

/* Latest event time the timeline holds: what both live and replay agree on. */
struct last_seen {
	struct pm_sink base;
	uint64_t ts;
};

static int last_seen_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct last_seen *l = (struct last_seen *)sink;

	if (rec->type == PM_REC_EVENT && rec->ev.ts_ns > l->ts)
		l->ts = rec->ev.ts_ns;
	return 0;
}

/* ---- the view options, shared ---- */

enum {
	OPT_VIEW_LINES = 0x200,
	OPT_VIEW_INTERVAL,
	OPT_VIEW_STATS,
};

static const struct argp_option view_options[] = {
    {"lines", OPT_VIEW_LINES, NULL, 0,
     "One line per lane per interval instead of the full screen (also when stdout is no "
     "terminal)",
     0},
    {"interval", OPT_VIEW_INTERVAL, "SECONDS", 0, "Interval of --lines (default 1)", 0},
    {"stats", OPT_VIEW_STATS, NULL, 0,
     "At the end, print on stderr how the view kept up: events/s, CPU, redraws", 0},
    {},
};

static error_t view_parse(int key, char *arg, struct argp_state *state)
{
	struct view_opts *v = state->input;
	char *end;

	switch (key) {
	case ARGP_KEY_INIT:
		v->interval = 1;
		break;
	case OPT_VIEW_LINES:
		v->lines = true;
		break;
	case OPT_VIEW_STATS:
		v->stats = true;
		break;
	case OPT_VIEW_INTERVAL:
		v->interval = strtod(arg, &end);
		if (end == arg || *end || !(v->interval >= 0.01 && v->interval <= 3600))
			argp_error(state, "--interval takes seconds from 0.01 to 3600");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp timeline_view_argp = {view_options, view_parse, NULL, NULL, NULL, NULL, NULL};

/* ---- pymac live ---- */

static const char live_doc[] =
    "Show Python's memory events as a live per-container timeline.\n"
    "\n"
    "USAGE: pymac live [OPTIONS] [TARGETS] [-- COMMAND [ARGS...]]\n"
    "\n"
    "Takes the same targets as `pymac record` (-p, --container, --compose-project,\n"
    "--cgroup, --all-containers, -- COMMAND). One lane per container (or per\n"
    "process outside containers) shows the Python allocator's net bytes, the\n"
    "allocation and free rates, libc's net bytes and each garbage collection\n"
    "(its generation digit at its time). Lost events and sources that see only\n"
    "part of the calls are always on screen.\n"
    "\n"
    "Keys: space pause, + - zoom (1 s to 10 min), up/down select a lane, Enter\n"
    "detail, s sort, ? help, q quit.\n"
    "\n"
    "When stdout is not a terminal, or with --lines, it prints one line per lane\n"
    "per interval instead (format: docs/user-guide.md), for logs and CI.\n"
    "\n"
    "A command's own output stays out of the view: under the full screen it goes\n"
    "to /tmp/pymac-live-PID.out (named at the start and at exit); when the lines\n"
    "go to a file, to stderr; --command-output FILE sends it to FILE.\n"
    "\n"
    "EXAMPLES:\n"
    "  pymac live --compose-project pymac\n"
    "  pymac live --container pymac_refcount_1 --record t.pmt\n"
    "  pymac live --lines --interval 5 -- python3 app.py > memory.log\n"
    "  pymac live --container web --sample-duty 5%  # allocation probes 5% of time\n"
    "  pymac live --mode footprint --compose-project pymac  # memory, near-0 cost\n"
    "  pymac live --all-containers --prometheus 9464 --lines > /dev/null\n"
    "  pymac replay t.pmt --view timeline --speed 4\n"
    "\n"
    "OPTIONS:";

enum {
	OPT_RECORD = 0x100,
	OPT_PROMETHEUS,
	OPT_COMMAND_OUTPUT,
};

static const struct argp_option live_options[] = {
    {"record", OPT_RECORD, "FILE", 0, "Also write the trace to FILE", 0},
    {"prometheus", OPT_PROMETHEUS, "[HOST:]PORT", 0,
     "Serve /metrics (Prometheus text format) on HOST:PORT (default host 127.0.0.1)", 0},
    {"command-output", OPT_COMMAND_OUTPUT, "FILE", 0,
     "Write the command's stdout and stderr to FILE (default: /tmp/pymac-live-PID.out under the "
     "full screen, stderr when the lines go to a file)",
     0},
    {},
};

struct live_args {
	struct target_opts targets;
	const char *record, *prometheus, *command_output;
	struct view_opts view;
};

static error_t live_parse(int key, char *arg, struct argp_state *state)
{
	struct live_args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->targets;
		state->child_inputs[1] = &a->view;
		break;
	case OPT_RECORD:
		a->record = arg;
		break;
	case OPT_PROMETHEUS:
		a->prometheus = arg;
		break;
	case OPT_COMMAND_OUTPUT:
		a->command_output = arg;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s' (put the command after --)", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child live_children[] = {
    {&session_target_argp, 0, "Targets:", 1}, {&timeline_view_argp, 0, "View:", 2}, {}};
static const struct argp live_argp = {
    .options = live_options,
    .parser = live_parse,
    .doc = live_doc,
    .children = live_children,
};

/* One `pymac live`: its session, the model it feeds and the views of it. */
struct live {
	struct live_args args;
	struct session *s;
	struct timeline *tl;
	struct trace_writer *writer; /* --record */
	struct prom *prom;	     /* --prometheus */
	struct tui *tui;	     /* the full screen; NULL: lines */
	struct line_printer lp;
	struct last_seen last;
	struct view_stats vs;
	struct live_output out; /* the command's output, off the view */
	char title[320];
	int record_err; /* the recording stopped on it (the view goes on) */
	bool ended;	/* every target has ended */
};

/* The model, the sinks that feed it, the trace and the metrics server.
 * 0, or -1 after saying why. */
static int live_setup(struct live *l)
{
	struct session *s = l->s;

	l->tl = timeline__new(0, 0);
	if (!l->tl) {
		pm_err("out of memory");
		return -1;
	}
	l->lp.tl = l->tl;
	if (lines__open(&l->lp))
		return -1;
	if (l->args.view.lines)
		session__add_output(s, LINES_NAME, &l->lp.base, FEED_ESSENTIAL, &l->lp.out);
	session__add_sink(s, "the timeline", timeline__sink(l->tl), FEED_ESSENTIAL);
	session__add_sink(s, "the clock", &l->last.base, FEED_ESSENTIAL);
	/* optional: when the disk fills, recording stops and the view goes on */
	if (l->args.record && !(l->writer = session__open_trace(s, l->args.record, FEED_OPTIONAL)))
		return -1;
	if (l->args.prometheus) {
		char err[256];

		l->prom = prom__start(l->args.prometheus, err, sizeof(err));
		if (!l->prom) {
			pm_err("%s", err);
			return -1;
		}
		snprintf(l->title, sizeof(l->title), "pymac live | metrics http://%s/metrics",
			 prom__address(l->prom));
		if (l->args.view.lines)
			fprintf(stderr, "pymac: serving metrics at http://%s/metrics\n",
				prom__address(l->prom));
	}
	return 0;
}

/* The full screen, unless lines were asked for or there is no terminal. */
static void live_open_screen(struct live *l)
{
	struct tui_opts to = {.replay = false, .title = l->title};

	if (l->args.view.lines)
		return;
	l->tui = tui__open(&to);
	if (!l->tui) {
		pm_err("no usable terminal (%s); printing lines instead",
		       errno == ENOTTY ? "check TERM" : strerror(errno));
		l->args.view.lines = true;
	}
}

static void live_flush_trace(struct live *l, uint64_t now)
{
	l->record_err = cmd_flush_trace(l->s, l->writer, now, 2 * DRAW_INTERVAL_NS);
	if (l->record_err)
		pm_err(
		    "writing %s: %s; recording stops (the view goes on); the trace is readable up "
		    "to its last complete chunk",
		    l->args.record, strerror(-l->record_err));
}

static enum tui_action live_draw(struct live *l, uint64_t now)
{
	char status[160];

	snprintf(status, sizeof(status), "%s%llu events, %llu lost",
		 l->ended ? "targets ended (q quits) | " : "",
		 (unsigned long long)session__events(l->s),
		 (unsigned long long)session__lost(l->s));
	tui__set_status(l->tui, status);
	return tui__update(l->tui, l->tl, l->ended ? timeline__now_ns(l->tl) : now,
			   l->ended ? 100 : 0);
}

/*
 * Until q, a stop signal or --duration. Once the targets have ended, the full
 * screen stays until q (the lines end with them).
 */
static void live_loop(struct live *l)
{
	unsigned long long deadline = cmd_deadline_ns(l->s, l->args.targets.duration);
	unsigned long long next_draw = 0, next_flush = pm_now_ns() + DRAW_INTERVAL_NS * 2;

	for (;;) {
		unsigned long long before = session__events(l->s);
		int n = l->ended ? 0 : session__step(l->s, cmd_poll_ms(deadline, l->tui ? 20 : 50)),
		    sig, err;
		unsigned long long now = pm_now_ns();
		bool drained = session__events(l->s) == before;

		if (n < 0)
			break;
		if (n > 0 && !l->ended) {
			l->ended = true;
			if (!l->tui)
				break;
		}
		if (!l->ended)
			timeline__advance(l->tl, now);
		if (l->prom) {
			struct prom_totals pt = {session__events(l->s), session__lost(l->s)};

			prom__serve(l->prom, timeline__ledger(l->tl), &pt);
		}
		if (l->args.view.lines && !l->ended && drained && now > LINES_IDLE_NS &&
		    (err = lines__catch_up(&l->lp, now - LINES_IDLE_NS))) {
			session__fail_sink(l->s, &l->lp.base, err);
			break;
		}
		if (l->writer && !l->record_err && now >= next_flush) {
			live_flush_trace(l, now);
			next_flush = now + 2 * DRAW_INTERVAL_NS;
		}
		if (l->tui && now >= next_draw) {
			if (live_draw(l, now) == TUI_QUIT)
				break;
			next_draw = now + DRAW_INTERVAL_NS;
		}
		/* SIGHUP: the terminal is gone, and nobody is watching */
		sig = cmd_take_stop_signal();
		if (sig && (l->ended || sig == SIGHUP || session__signal(l->s, sig)))
			break;
		if (cmd_deadline_reached(l->s, deadline, now))
			break;
	}
}

/* The END record, and what was written or why not. Returns the exit status. */
static int live_close_trace(struct live *l, int ret)
{
	struct pm_end end = {.ts_ns = session__window_end_ns(l->s),
			     .events = session__events(l->s)};
	int e = l->record_err ? l->record_err
			      : session__sink_error(l->s, trace_writer__sink(l->writer));

	/* a writer that failed gets no END: the file is what was written */
	if (trace_writer__close(l->writer, e ? NULL : &end) || e)
		ret = 1;
	l->writer = NULL;
	if (e && !l->record_err)
		pm_err("writing %s: %s; the trace is readable up to its last complete chunk",
		       l->args.record, strerror(-e));
	else if (!e)
		fprintf(stderr, "pymac: wrote %s: %llu events, %llu lost\n", l->args.record,
			(unsigned long long)end.events, (unsigned long long)session__lost(l->s));
	return ret;
}

/* The terminal back, the rest of the ring buffer read, and what happened
 * said. Returns the exit status. */
static int live_finish(struct live *l, int ret)
{
	struct session *s = l->s;

	if (l->tui) {
		view_stats__take(&l->vs, l->tui);
		tui__close(l->tui);
		l->tui = NULL;
	}
	session__drain(s);
	session__finish(s);
	/* the writer's failure is said below, with what was kept */
	if (session__report_sink_errors(s, l->writer ? trace_writer__sink(l->writer) : NULL))
		ret = 1;
	if (l->args.view.lines &&
	    lines__end(&l->lp, l->last.ts, session__sink_error(s, &l->lp.base) != 0))
		ret = 1;
	if (l->writer)
		ret = live_close_trace(l, ret);

	view_stats__print(&l->vs, "live", session__events(s), session__lost(s));
	if (session__gc_layout_misses(s))
		fprintf(stderr,
			"pymac: %llu collections were not seen: the GC state failed its layout's "
			"check; PYMAC_GC_METHOD=usdt or args reads them another way\n",
			(unsigned long long)session__gc_layout_misses(s));
	if (!ret && session__command_status(s) >= 0)
		ret = session__command_status(s);
	return ret;
}

int cmd_live(int argc, char **argv)
{
	struct live l = {
	    .last.base.record = last_seen_record,
	    .lp.base.record = lines_record,
	    .vs.start_ns = pm_now_ns(),
	    .out.fd = -1,
	    .title = "pymac live",
	};
	int ret = 1, st;

	l.args.targets.command = session_split_command(&argc, argv);
	if (argp_parse(&live_argp, argc, argv, 0, NULL, &l.args))
		return PM_EXIT_USAGE;
	if (caps__check("live", &l.args.targets))
		return 1;
	l.vs.on = l.args.view.stats;
	if (!l.args.view.lines && !isatty(STDOUT_FILENO))
		l.args.view.lines = true;
	l.lp.interval_ns = (uint64_t)(l.args.view.interval * 1e9);

	struct session_opts so = {
	    .targets = &l.args.targets,
	    /* the full screen owns the terminal: coverage goes into the view */
	    .quiet = !l.args.view.lines,
	    .poll_budget = LIVE_POLL_BUDGET,
	};
	l.s = session__new(&so, &ret);
	if (!l.s)
		return ret;
	if (live_setup(&l))
		goto out;
	if (l.args.targets.command &&
	    live_output__open(&l.out, l.args.command_output, !l.args.view.lines, l.s))
		goto out;
	if (l.out.path[0] && !l.args.view.lines) {
		size_t n = strlen(l.title);

		snprintf(l.title + n, sizeof(l.title) - n, " | program output: %s", l.out.path);
	}

	cmd_catch_stop_signals(true);
	st = session__start(l.s);
	if (st) {
		ret = st;
		goto finish;
	}
	/* the view's time starts with the window, as the trace's does */
	timeline__set_start(l.tl, session__window_start_ns(l.s));
	live_open_screen(&l);
	live_loop(&l);
	/* every family stops here at once (if the deadline did not stop them) */
	session__end_window(l.s, 0);
	/* Nothing new will be counted: a scrape now finds no server rather
	 * than one that cannot answer while the probes come off. */
	prom__stop(l.prom);
	l.prom = NULL;
	/* The view was the point of a command started here: it ends with it. */
	session__stop_command(l.s);
	ret = 0;
finish:
	ret = live_finish(&l, ret);
out:
	pm_stream__close(&l.lp.out);
	tui__close(l.tui);
	prom__stop(l.prom);
	if (l.writer)
		trace_writer__close(l.writer, NULL);
	session__free(l.s);
	timeline__free(l.tl);
	/* the screen (or the log) hid the first time it was said */
	live_output__close(&l.out, true);
	return ret;
}

/* ---- pymac replay --view timeline ---- */

struct replay_feed {
	const char *path;
	struct trace_reader *r;
	struct timeline *tl;
	struct last_seen last;
	struct feed feed;	  /* the timeline, the clock (and the line printer) */
	struct pm_record pending; /* read but not yet fed (ahead of the clock) */
	bool has_pending, eof;
	unsigned long long events; /* fed since the last feed_open (for --stats) */
};

static int feed_open(struct replay_feed *f)
{
	char err[256];

	trace_reader__close(f->r);
	timeline__free(f->tl);
	f->r = trace_reader__open(f->path, err, sizeof(err));
	if (!f->r) {
		pm_err("%s", err);
		return -1;
	}
	f->tl = timeline__new(0, UINT64_MAX);
	if (!f->tl) {
		pm_err("out of memory");
		return -1;
	}
	/* as live counted it: from the recording's start */
	timeline__set_start(f->tl, trace_reader__info(f->r)->start_ns);
	f->last.ts = 0;
	f->events = 0;
	f->has_pending = f->eof = false;
	feed__init(&f->feed);
	feed__add(&f->feed, "the timeline", timeline__sink(f->tl), FEED_ESSENTIAL);
	feed__add(&f->feed, "the clock", &f->last.base, FEED_ESSENTIAL);
	return 0;
}

/*
 * Where the replay clock starts: the model's first time, or before the model
 * has any, the next record's (the records ahead of it carry no time).
 */
static uint64_t feed_origin(const struct replay_feed *f)
{
	uint64_t t = timeline__start_ns(f->tl);

	if (!t && f->has_pending)
		t = pm_record_ts(&f->pending);
	return t ? t : trace_reader__info(f->r)->start_ns;
}

/*
 * Feed records whose time is before `until` (UINT64_MAX: all). Stops early
 * at a gc_start when stop_at_gc is set; returns 1 then, else 0.
 */
static int feed_until(struct replay_feed *f, uint64_t until, bool stop_at_gc, uint64_t *gc_ts)
{
	while (!f->eof) {
		if (!f->has_pending) {
			int n = trace_reader__next(f->r, &f->pending);

			if (n <= 0) {
				/* read to its end: feed__report says how it ended */
				f->eof = f->feed.input_read = true;
				f->feed.input_err = n;
				break;
			}
			f->has_pending = true;
		}
		uint64_t ts = pm_record_ts(&f->pending);
		if (ts && ts >= until)
			return 0;
		if (feed__record(&f->feed, &f->pending)) {
			f->eof = true; /* the view failed: said at the end */
			break;
		}
		f->events += f->pending.type == PM_REC_EVENT;
		f->has_pending = false;
		if (stop_at_gc && f->pending.type == PM_REC_EVENT &&
		    f->pending.ev.kind == PM_GC_START) {
			*gc_ts = f->pending.ev.ts_ns;
			return 1;
		}
	}
	return 0;
}

/* --lines: the same printer as live, driven by the trace's own clock. */
static int replay_lines(struct replay_feed *f, double interval, unsigned long long *fed)
{
	struct line_printer lp = {
	    .base.record = lines_record,
	    .tl = f->tl,
	    .interval_ns = (uint64_t)(interval * 1e9),
	};
	int ret;

	if (lines__open(&lp))
		return 1;
	/* the printer before the timeline, as live has it */
	feed__init(&f->feed);
	feed__add_output(&f->feed, LINES_NAME, &lp.base, FEED_ESSENTIAL, &lp.out);
	feed__add(&f->feed, "the timeline", timeline__sink(f->tl), FEED_ESSENTIAL);
	feed__add(&f->feed, "the clock", &f->last.base, FEED_ESSENTIAL);
	feed__run_reader(&f->feed, f->r);
	*fed = f->feed.events;
	ret = feed__report(&f->feed, f->r, f->path, "shown");
	return lines__end(&lp, f->last.ts, feed__sink_error(&f->feed, &lp.base) != 0) || ret;
}

/* The full screen's position in the trace: the trace's clock mapped onto
 * ours at `speed` (0: as fast as possible). */
struct replay_clock {
	double speed;
	uint64_t view;		 /* the trace's time on screen */
	unsigned long long wall; /* our time when it was */
	bool hold_gc;		 /* run to the next collection's start, and pause there */
};

/* Feed what the clock has reached since the last turn, unless paused. */
static void replay_advance(struct replay_feed *f, struct tui *tui, struct replay_clock *c)
{
	unsigned long long now = pm_now_ns();
	uint64_t gc_ts = 0;

	if (!tui__paused(tui) && !f->eof) {
		uint64_t target =
		    c->speed > 0 ? c->view + (uint64_t)((now - c->wall) * c->speed) : UINT64_MAX;
		if (feed_until(f, target, c->hold_gc, &gc_ts)) {
			c->view = gc_ts;
			c->hold_gc = false;
			tui__set_paused(tui, true);
		} else {
			c->view = f->eof ? f->last.ts : target;
		}
	}
	c->wall = now;
	if (c->view < feed_origin(f))
		c->view = feed_origin(f);
}

static enum tui_action replay_draw(struct replay_feed *f, struct tui *tui,
				   const struct replay_clock *c)
{
	char status[160];

	snprintf(status, sizeof(status), "replay %s t=%.3f s%s%s", c->speed > 0 ? "" : "(max)",
		 (double)(c->view - feed_origin(f)) / 1e9, f->eof ? " | end of trace" : "",
		 c->hold_gc ? " | waiting for a GC" : "");
	tui__set_status(tui, status);
	return tui__update(tui, f->tl, c->view, 50);
}

/* What a key asked for. 1: quit; -1: the trace could not be read again
 * (said); 0: go on. */
static int replay_act(struct replay_feed *f, struct tui *tui, struct replay_clock *c,
		      enum tui_action act)
{
	uint64_t win = tui__window_ns(tui), target = 0;
	bool seek = false;

	switch (act) {
	case TUI_QUIT:
		return 1;
	case TUI_SEEK_START:
		target = 0;
		seek = true;
		break;
	case TUI_SEEK_END:
		feed_until(f, UINT64_MAX, false, NULL);
		c->view = f->last.ts;
		break;
	case TUI_STEP_FWD:
		feed_until(f, c->view + win, false, NULL);
		c->view = f->eof && f->last.ts < c->view + win ? f->last.ts : c->view + win;
		break;
	case TUI_STEP_BACK:
		target = c->view > win ? c->view - win : 0;
		seek = true;
		break;
	case TUI_HOLD_GC:
		c->hold_gc = true;
		break;
	default:
		break;
	}
	if (act == TUI_SEEK_START || act == TUI_SEEK_END || act == TUI_STEP_BACK ||
	    act == TUI_STEP_FWD)
		tui__set_paused(tui, true); /* a jump holds the view where it lands */
	if (seek) {
		/* Going back rebuilds the model from the start: replay reads
		 * millions of events a second. */
		if (feed_open(f))
			return -1;
		feed_until(f, 1, false, NULL);
		if (target > feed_origin(f))
			feed_until(f, target, false, NULL);
		c->view = target > feed_origin(f) ? target : feed_origin(f);
	}
	return 0;
}

/* The full screen until q or a stop signal (0), or until the trace cannot be
 * read again (1). */
static int replay_screen(struct replay_feed *f, struct tui *tui, double speed)
{
	struct replay_clock c = {.speed = speed};
	int st;

	feed_until(f, 1, false, NULL); /* records without time, and the first ones */
	c.view = feed_origin(f);
	c.wall = pm_now_ns();
	for (;;) {
		replay_advance(f, tui, &c);
		st = replay_act(f, tui, &c, replay_draw(f, tui, &c));
		if (st)
			return st < 0;
		if (cmd_take_stop_signal())
			return 0;
	}
}

int timeline_replay(const char *path, const struct view_opts *v, double speed)
{
	struct replay_feed f = {.path = path, .last.base.record = last_seen_record};
	struct view_stats vs = {.on = v->stats, .start_ns = pm_now_ns()};
	unsigned long long fed = 0;
	struct tui *tui = NULL;
	bool lines = v->lines;
	int ret = 1;

	if (feed_open(&f))
		goto out;
	if (!lines && !isatty(STDOUT_FILENO))
		lines = true;
	if (lines) {
		ret = replay_lines(&f, v->interval, &fed);
		goto out;
	}

	struct tui_opts to = {.replay = true, .title = path};
	tui = tui__open(&to);
	if (!tui) {
		pm_err("no usable terminal (%s); use --lines",
		       errno == ENOTTY ? "check TERM" : strerror(errno));
		goto out;
	}
	cmd_catch_stop_signals(false);
	ret = replay_screen(&f, tui, speed);
out:
	view_stats__take(&vs, tui);
	tui__close(tui);
	if (tui && !ret)
		ret = feed__report(&f.feed, f.r, f.path, "shown");
	if (f.tl && !lines)
		fed = f.events;
	view_stats__print(&vs, "replay", fed, f.tl ? timeline__lost_total(f.tl) : 0);
	trace_reader__close(f.r);
	timeline__free(f.tl);
	return ret;
}
