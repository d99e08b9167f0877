// SPDX-License-Identifier: MIT
/*
 * `pymac record`: start or attach to targets, attach the probes, and stream
 * the ring buffer into a trace file until the targets end or the user stops.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach/caps.h"
#include "cmd/commands.h"
#include "attach/probes.h"
#include "feed/session.h"
#include "model/ledger.h"
#include "trace/rotate.h"
#include "trace/trace.h"
#include "views/prom.h"

#define FLUSH_INTERVAL_NS 250000000ull
#define KEEP_DEFAULT	  5

static const char record_doc[] =
    "Record a trace of Python's memory events.\n"
    "\n"
    "USAGE: pymac record -o FILE [OPTIONS] [TARGETS] [-- COMMAND [ARGS...]]\n"
    "\n"
    "TARGETS can be mixed freely:\n"
    "  -- COMMAND          run COMMAND, trace it and the processes it starts, and\n"
    "                      exit with its exit status\n"
    "  -p PID              attach to a running process and the children it starts\n"
    "  --container NAME    every process of a running container, and every process\n"
    "                      started in it later (docker exec, new interpreters)\n"
    "  --compose-project P every container of compose project P, also those that\n"
    "                      start later\n"
    "  --all-containers    every container, also those that start later\n"
    "  --cgroup PATH       every process in a cgroup v2 and below it\n"
    "\n"
    "Without a command, pymac records until Ctrl-C, SIGTERM or --duration, or\n"
    "until every -p process, --container and --cgroup target has ended (compose\n"
    "projects and --all-containers wait for new containers until stopped). The\n"
    "targets go on unharmed after pymac detaches. Each event carries the cgroup it\n"
    "came from, and the trace names each container (id, name, image, compose\n"
    "service), so `pymac replay` shows each container separately.\n"
    "\n"
    "As a node agent: --prometheus serves /metrics (the counters of `live\n"
    "--prometheus`, per container lane) while recording, headless; --rotate-mb N\n"
    "closes FILE at N MiB and moves it to FILE.1 (t.pmt -> t.1.pmt, older ones\n"
    "shift up, --keep K of them stay), and each file replays on its own.\n"
    "\n"
    "Sources (--probes): pymalloc (PyObject_Malloc/Calloc/Realloc/Free),\n"
    "dealloc (_Py_Dealloc with the type's name), gc (collections: USDT markers\n"
    "or the collector function), libc (malloc/calloc/realloc/free), footprint\n"
    "(--mode footprint: anonymous mmap/munmap/brk and RSS, no per-object event).\n"
    "pymac says on stderr, per process, what each source sees: full, partial or\n"
    "none.\n"
    "\n"
    "EXAMPLES:\n"
    "  pymac record -o t.pmt -- python3 tests/modules/test_multiply_gc.collect.py\n"
    "  pymac record -o t.pmt --probes gc,dealloc -- python3 app.py\n"
    "  pymac record -o t.pmt -p 1234 --duration 10\n"
    "  pymac record -o t.pmt --container pymac-refcount-1 --container web\n"
    "  pymac record -o t.pmt --compose-project pymac --duration 30\n"
    "  pymac record -o t.pmt --cgroup /docker/3f2a...   # a cgroup v2 path\n"
    "  pymac record -o t.pmt --probes libc -- ./a.out    # a program without Python\n"
    "  pymac record -o t.pmt --sample-duty 1% -- python3 app.py  # bounded overhead\n"
    "  pymac record -o t.pmt --mode footprint -- python3 app.py  # arenas, RSS\n"
    "  pymac record -o t.pmt --pid-filter --container web\n"
    "                        # uprobes per process: other containers never trap\n"
    "  pymac record -o t.pmt -p 1234 --prometheus 9464   # also serve /metrics\n"
    "  pymac record -o node.pmt --all-containers --prometheus 9464 \\\n"
    "      --rotate-mb 256 --keep 8 -q                  # a node agent\n"
    "  pymac replay t.pmt\n"
    "\n"
    "OPTIONS:";

enum {
	OPT_PROMETHEUS = 0x100,
	OPT_ROTATE_MB,
	OPT_KEEP,
};

static const struct argp_option record_options[] = {
    {"output", 'o', "FILE", 0, "Write the trace to FILE (mode 0600; required)", 0},
    {"quiet", 'q', NULL, 0, "Print only errors and the final line", 0},
    {"prometheus", OPT_PROMETHEUS, "[HOST:]PORT", 0,
     "Also serve /metrics (Prometheus text format) on HOST:PORT (default host 127.0.0.1)", 0},
    {"rotate-mb", OPT_ROTATE_MB, "N", 0,
     "Start a new trace file when FILE holds N MiB; the finished one becomes FILE.1 (t.pmt -> "
     "t.1.pmt), older ones shift up",
     0},
    {"keep", OPT_KEEP, "K", 0, "With --rotate-mb: keep K rotated files (default 5)", 0},
    {},
};

struct record_args {
	const char *output;
	struct target_opts targets;
	bool quiet;
	const char *prometheus;
	uint64_t rotate_bytes; /* 0: one file */
	unsigned keep;
};

/* A whole number in [min, max], or false. */
static bool parse_count(const char *arg, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static error_t record_parse(int key, char *arg, struct argp_state *state)
{
	struct record_args *a = state->input;
	unsigned long v;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->targets;
		break;
	case 'o':
		a->output = arg;
		break;
	case 'q':
		a->quiet = true;
		break;
	case OPT_PROMETHEUS:
		a->prometheus = arg;
		break;
	case OPT_ROTATE_MB:
		if (!parse_count(arg, 1, 1u << 20, &v))
			argp_error(state,
				   "--rotate-mb wants a whole number of MiB from 1 to %u, not '%s'",
				   1u << 20, arg);
		a->rotate_bytes = (uint64_t)v << 20;
		break;
	case OPT_KEEP:
		if (!parse_count(arg, 1, 10000, &v))
			argp_error(state, "--keep wants a whole number from 1 to 10000, not '%s'",
				   arg);
		a->keep = (unsigned)v;
		break;
	case ARGP_KEY_ARG:
		/* the command was split off at "--" before parsing */
		argp_error(state, "unexpected argument '%s' (put the command after --)", arg);
		break;
	case ARGP_KEY_END:
		if (!a->output)
			argp_error(state, "-o FILE is required");
		if (a->keep && !a->rotate_bytes)
			argp_error(state, "--keep counts rotated files: it needs --rotate-mb");
		if (a->rotate_bytes && strcmp(a->output, "-") == 0)
			argp_error(state, "--rotate-mb needs a file, not standard output");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child record_children[] = {{&session_target_argp, 0, "Targets:", 1}, {}};
static const struct argp record_argp = {
    .options = record_options,
    .parser = record_parse,
    .doc = record_doc,
    .children = record_children,
};

/* One `pymac record`: its session, the trace file it feeds and the metrics. */
struct record {
	struct record_args args;
	struct session *s;
	struct trace_rotor *trace;
	struct ledger *lg; /* --prometheus: the books the page is rendered from */
	struct prom *prom;
	int write_err; /* the trace's writing stopped on it */
};

static void join_argv(char **argv, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; argv[i] && used < len; i++)
		used += snprintf(out + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

/* The periodic flush (and rotation); true when recording ends with it. */
static bool record_flush(struct record *r, uint64_t now)
{
	struct pm_sink *sink = trace_rotor__sink(r->trace);
	char why[640] = "";
	int err = session__sink_error(r->s, sink);

	if (!err &&
	    (err = trace_rotor__maybe_flush(r->trace, now, FLUSH_INTERVAL_NS, why, sizeof(why))))
		session__fail_sink(r->s, sink, err);
	r->write_err = err;
	if (!err)
		return false;
	if (!why[0])
		snprintf(why, sizeof(why), "writing %s: %s", r->args.output, strerror(-err));
	/*
	 * Disk full or gone: stop tracing so the targets run unhindered, but
	 * let a command finish as it would have without pymac rather than
	 * orphan it.
	 */
	pm_err("%s; recording stopped, the trace is readable up to its last complete chunk%s", why,
	       r->args.targets.command ? "; waiting for the command to end" : "");
	session__detach(r->s);
	return !r->args.targets.command;
}

/* A scrape waiting for the page gets it (--prometheus); metrics whose books
 * failed stop, and the recording goes on. */
static void record_serve(struct record *r)
{
	int err;

	if (!r->prom)
		return;
	err = session__sink_error(r->s, ledger__sink(r->lg));
	if (err) {
		pm_err("the metrics stopped: %s; recording goes on", strerror(-err));
		prom__stop(r->prom);
		r->prom = NULL;
		return;
	}
	prom__serve(r->prom, r->lg,
		    &(struct prom_totals){session__events(r->s), session__lost(r->s)});
}

/* Until the targets end, a stop signal or --duration. */
static void record_loop(struct record *r)
{
	unsigned long long deadline = cmd_deadline_ns(r->s, r->args.targets.duration);
	unsigned long long next_flush = pm_now_ns() + FLUSH_INTERVAL_NS;

	for (;;) {
		int n = session__step(r->s, cmd_poll_ms(deadline, 100)), sig;
		unsigned long long now = pm_now_ns();

		if (n)
			break;
		record_serve(r);
		if (now >= next_flush && !r->write_err) {
			if (record_flush(r, now))
				break;
			next_flush = now + FLUSH_INTERVAL_NS;
		}
		sig = cmd_take_stop_signal();
		if (sig && session__signal(r->s, sig))
			break;
		if (cmd_deadline_reached(r->s, deadline, now))
			break;
	}
}

/* Close the trace and say what was written and what went wrong. Returns the
 * exit status. */
static int record_finish(struct record *r, int ret)
{
	struct session *s = r->s;
	struct cmd_trace t = cmd_trace_of_rotor(r->trace);
	int incomplete;

	/* Every family stops here at once, if the deadline did not stop them;
	 * nothing new will be counted: a scrape now finds no server. */
	session__end_window(s, 0);
	prom__stop(r->prom);
	r->prom = NULL;
	incomplete = cmd_end_recording(s, &t, r->args.output, r->write_err, NULL);
	r->trace = NULL;
	/* A command that failed says more than the trace; else 1: the trace is incomplete. */
	if (!ret && session__command_status(s) > 0)
		ret = session__command_status(s);
	else if (incomplete)
		ret = 1;
	else if (!ret && session__command_status(s) >= 0)
		ret = session__command_status(s);
	return ret;
}

/* --prometheus: the books and the server. 0, or -1 after saying why. */
static int record_metrics(struct record *r)
{
	char err[256];

	if (!r->args.prometheus)
		return 0;
	r->lg = ledger__new();
	if (!r->lg) {
		pm_err("out of memory");
		return -1;
	}
	/* optional: metrics that fail leave the recording going */
	session__add_sink(r->s, "the metrics", ledger__sink(r->lg), FEED_OPTIONAL);
	r->prom = prom__start(r->args.prometheus, err, sizeof(err));
	if (!r->prom) {
		pm_err("%s", err);
		return -1;
	}
	if (!r->args.quiet)
		fprintf(stderr, "pymac: serving metrics at http://%s/metrics\n",
			prom__address(r->prom));
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct record r = {};
	char cmdline[1024];
	int ret = 1, st;

	/* Everything after the first "--" is the command, untouched by argp. */
	r.args.targets.command = session_split_command(&argc, argv);
	if (argp_parse(&record_argp, argc, argv, 0, NULL, &r.args))
		return PM_EXIT_USAGE;
	if (caps__check("record", &r.args.targets))
		return 1;

	struct session_opts so = {.targets = &r.args.targets, .quiet = r.args.quiet};
	r.s = session__new(&so, &ret);
	if (!r.s)
		return ret;
	/* optional: when the disk fills, the command still ends as it would
	 * without pymac; the error is said then, and the exit status tells */
	r.trace =
	    session__open_rotating_trace(r.s, r.args.output, FEED_OPTIONAL, r.args.rotate_bytes,
					 r.args.keep ? r.args.keep : KEEP_DEFAULT);
	if (!r.trace || record_metrics(&r))
		goto out;
	if (r.args.targets.command) {
		join_argv(r.args.targets.command, cmdline, sizeof(cmdline));
		session__meta(r.s, "command", cmdline);
	}

	cmd_catch_stop_signals(true);
	st = session__start(r.s);
	if (st) {
		ret = st;
		goto finish;
	}
	record_loop(&r);
	ret = 0;
finish:
	ret = record_finish(&r, ret);
out:
	prom__stop(r.prom);
	trace_rotor__close(r.trace, NULL);
	session__free(r.s);
	ledger__free(r.lg);
	return ret;
}
