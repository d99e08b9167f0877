// SPDX-License-Identifier: MIT
/* `pymac replay`: read a trace and feed it to a view or exporter. */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "views/event_print.h"
#include "export/export.h"
#include "feed/feed.h"
#include "views/summary.h"
#include "trace/trace.h"
#include "util/outstream.h"

static const char replay_doc[] =
    "Read a trace recorded by `pymac record` and show it.\n"
    "\n"
    "USAGE: pymac replay FILE [--summary [--json]] [--events [--format text|jsonl]]\n"
    "       pymac replay FILE --view timeline [--speed N | --max] [--lines]\n"
    "       pymac replay FILE --format chrome|csv|html [-o OUT] [--resolution S]\n"
    "\n"
    "Without options, prints a summary per process: event counts, bytes requested\n"
    "through the Python allocator and libc, garbage collections by generation,\n"
    "the most deallocated types, lost events, what each source could see, and\n"
    "why frees of blocks never seen allocated happened. When the trace names\n"
    "containers, processes are grouped by container (host processes last), with\n"
    "totals per container; processes with no Python and nothing else to show\n"
    "(sh, sleep, docker-init) fold into one line per container.\n"
    "--format chrome writes Chrome Trace Event JSON (opens in Perfetto's UI),\n"
    "csv writes time-bucketed series per container, html a self-contained\n"
    "report. OUT ending in .gz is gzip-compressed; without -o, standard output.\n"
    "A trace cut short (pymac killed, disk full) replays up to its last complete\n"
    "chunk, with a warning. An output that fails (disk full, closed pipe) is said\n"
    "in one line with how far it got, exit status 1; an export leaves no file.\n"
    "Replay needs no privileges.\n"
    "\n"
    "EXAMPLES:\n"
    "  pymac replay t.pmt\n"
    "  pymac replay t.pmt --summary --json | jq '.processes[0].gc'\n"
    "  pymac replay t.pmt --events | grep gc_\n"
    "  pymac replay t.pmt --events --format jsonl > events.jsonl\n"
    "  pymac replay t.pmt --view timeline --speed 4   # keys: Home End Left Right c\n"
    "  pymac replay t.pmt --lines --interval 0.5\n"
    "  pymac replay t.pmt --format chrome -o t.json.gz   # ui.perfetto.dev\n"
    "  pymac replay t.pmt --format html -o report.html\n"
    "  pymac replay t.pmt --format csv --resolution 0.1 > series.csv\n"
    "\n"
    "OPTIONS:";

enum {
	OPT_SUMMARY = 0x100,
	OPT_JSON,
	OPT_EVENTS,
	OPT_FORMAT,
	OPT_TOP,
	OPT_VIEW,
	OPT_SPEED,
	OPT_MAX,
	OPT_RESOLUTION,
};

static const struct argp_option replay_options[] = {
    {"summary", OPT_SUMMARY, NULL, 0, "Print the per-process summary (the default)", 0},
    {"json", OPT_JSON, NULL, 0, "Print the summary as one JSON object", 0},
    {"events", OPT_EVENTS, NULL, 0,
     "Print every event and container start/stop, one per line, in time order", 0},
    {"format", OPT_FORMAT, "FMT", 0,
     "text or jsonl: the --events format (implies --events); chrome, csv or html: export "
     "the trace",
     0},
    {"output", 'o', "OUT", 0, "Where an export goes (default: standard output)", 0},
    {"resolution", OPT_RESOLUTION, "SECONDS", 0,
     "Export counters/buckets this wide (default: chrome 0.01, csv 1, html automatic)", 0},
    {"top", OPT_TOP, "N", 0, "How many deallocated types to list (default 10)", 0},
    {"view", OPT_VIEW, "VIEW", 0,
     "timeline: the per-container timeline of `pymac live`, fed from the file", 0},
    {"speed", OPT_SPEED, "N", 0, "Timeline at N times real speed (default 1)", 0},
    {"max", OPT_MAX, NULL, 0, "Timeline as fast as possible", 0},
    {},
};

struct replay_args {
	const char *file;
	bool summary, json, events;
	enum event_format format;
	bool event_format; /* --format text|jsonl was given: it implies --events */
	int top;
	bool timeline;
	double speed;
	struct view_opts view;
	const struct export_format *export;
	const char *output;
	double resolution;
};

static error_t replay_parse(int key, char *arg, struct argp_state *state)
{
	struct replay_args *a = state->input;
	char *end;

	switch (key) {
	case OPT_SUMMARY:
		a->summary = true;
		break;
	case OPT_JSON:
		a->json = true;
		break;
	case OPT_EVENTS:
		a->events = true;
		break;
	case OPT_FORMAT:
		a->event_format = strcmp(arg, "text") == 0 || strcmp(arg, "jsonl") == 0;
		if (a->event_format)
			a->format = strcmp(arg, "jsonl") == 0 ? EVENT_FMT_JSONL : EVENT_FMT_TEXT;
		else if (!(a->export = export_format__find(arg)))
			argp_error(state, "unknown format '%s' (text, jsonl, chrome, csv, html)",
				   arg);
		break;
	case 'o':
		a->output = arg;
		break;
	case OPT_RESOLUTION:
		a->resolution = strtod(arg, &end);
		if (*end || !(a->resolution >= 1e-6 && a->resolution <= 86400))
			argp_error(state, "--resolution takes seconds from 0.000001 to 86400");
		break;
	case OPT_TOP:
		a->top = (int)strtol(arg, &end, 10);
		if (*end || a->top < 0)
			argp_error(state, "invalid --top '%s'", arg);
		break;
	case OPT_VIEW:
		if (strcmp(arg, "timeline") != 0)
			argp_error(state, "unknown view '%s' (timeline)", arg);
		a->timeline = true;
		break;
	case OPT_SPEED:
		a->speed = strtod(arg, &end);
		if (*end || a->speed <= 0 || a->speed > 1e6)
			argp_error(state, "--speed takes a positive factor");
		break;
	case OPT_MAX:
		a->speed = 0;
		break;
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->view;
		break;
	case ARGP_KEY_ARG:
		if (a->file)
			argp_error(state, "one trace file at a time");
		a->file = arg;
		break;
	case ARGP_KEY_END:
		if (!a->file)
			argp_error(state, "which trace? (pymac replay FILE)");
		if (a->event_format && (a->summary || a->json || a->timeline))
			argp_error(state,
				   "--format text|jsonl is the --events format (the summary's JSON "
				   "is --summary --json)");
		a->events |= a->event_format;
		if (a->events && (a->summary || a->json))
			argp_error(state, "--events and --summary/--json are separate views");
		if (a->timeline && (a->events || a->summary || a->json))
			argp_error(state, "--view timeline is a view of its own");
		if (a->view.lines)
			a->timeline = true;
		if (a->view.stats && !a->timeline)
			argp_error(state, "--stats goes with --view timeline");
		if (a->export && (a->events || a->summary || a->json || a->timeline))
			argp_error(state, "--format %s is an export of its own", a->export->name);
		if (!a->export && (a->output || a->resolution))
			argp_error(state,
				   "-o and --resolution go with --format chrome, csv or html");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int cmd_replay(int argc, char **argv)
{
	static const struct argp_child children[] = {
	    {&timeline_view_argp, 0, "Timeline view (--view timeline, --lines):", 1}, {}};
	static const struct argp argp = {replay_options, replay_parse, "FILE", replay_doc,
					 children,	 NULL,	       NULL};
	struct replay_args a = {.format = EVENT_FMT_TEXT, .top = 10, .speed = 1};
	struct trace_reader *rd;
	struct procstats *sum = NULL;
	struct event_printer *ep = NULL;
	struct pm_sink *sink = NULL;
	struct pm_stream out;
	const char *what;
	struct feed feed;
	char err[512];
	int ret, status = 0;

	if (argp_parse(&argp, argc, argv, 0, NULL, &a))
		return PM_EXIT_USAGE;
	if (a.timeline)
		return timeline_replay(a.file, &a.view, a.speed);
	if (a.export) {
		struct export_opts eo = {.resolution_ns = (uint64_t)(a.resolution * 1e9),
					 .top = a.top};

		return export__run(a.export, a.file, a.output, &eo);
	}
	rd = trace_reader__open(a.file, err, sizeof(err));
	if (!rd) {
		pm_err("%s: %s", a.file, err);
		return 1;
	}
	what = a.events ? "the event listing to standard output" : "the summary to standard output";
	ret = pm_stream__open(&out, STDOUT_FILENO, false, false);
	if (ret) {
		pm_err("%s: %s", what, strerror(-ret));
		trace_reader__close(rd);
		return 1;
	}
	out.kept = true;
	feed__init(&feed);
	if (a.events) {
		ep = event_printer__new(out.f, a.format, trace_reader__info(rd)->start_ns);
		sink = ep ? event_printer__sink(ep) : NULL;
	} else {
		sum = procstats__new();
		sink = sum ? procstats__sink(sum) : NULL;
	}
	if (!sink) {
		pm_err("out of memory");
		status = 1;
		goto out;
	}
	/* the summary is printed after the feed: only the listing writes from it */
	feed__add_output(&feed, what, sink, FEED_ESSENTIAL, a.events ? &out : NULL);
	feed__run_reader(&feed, rd);
	status = feed__report(&feed, rd, a.file, "shown");
	if (sum && !feed.stop_err) {
		if (a.json)
			summary__print_json(sum, out.f, trace_reader__info(rd), a.top);
		else
			summary__print_text(sum, out.f, trace_reader__info(rd), a.top);
	}
out:
	procstats__free(sum);
	event_printer__free(ep);
	/* an error the listing's feed said already is not said again */
	ret = pm_stream__close(&out);
	if (ret && !feed__sink_error(&feed, sink)) {
		pm_err("%s: %s (%llu bytes written)", what, strerror(-ret), out.bytes);
		status = 1;
	}
	trace_reader__close(rd);
	return status;
}
