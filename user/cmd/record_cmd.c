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
#include "trace/trace.h"

#define FLUSH_INTERVAL_NS 250000000ull

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
    "  pymac replay t.pmt\n"
    "\n"
    "OPTIONS:";

static const struct argp_option record_options[] = {
    {"output", 'o', "FILE", 0, "Write the trace to FILE (mode 0600; required)", 0},
    {"quiet", 'q', NULL, 0, "Print only errors and the final line", 0},
    {},
};

struct record_args {
	const char *output;
	struct target_opts targets;
	bool quiet;
};

static error_t record_parse(int key, char *arg, struct argp_state *state)
{
	struct record_args *a = state->input;
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
	case ARGP_KEY_ARG:
		/* the command was split off at "--" before parsing */
		argp_error(state, "unexpected argument '%s' (put the command after --)", arg);
		break;
	case ARGP_KEY_END:
		if (!a->output)
			argp_error(state, "-o FILE is required");
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

/* One `pymac record`: its session and the trace file it feeds. */
struct record {
	struct record_args args;
	struct session *s;
	struct trace_writer *writer;
	int write_err; /* the trace's writing stopped on it */
};

static void join_argv(char **argv, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; argv[i] && used < len; i++)
		used += snprintf(out + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

/* The periodic flush; true when recording ends with it. */
static bool record_flush(struct record *r, uint64_t now)
{
	r->write_err = cmd_flush_trace(r->s, r->writer, now, FLUSH_INTERVAL_NS);
	if (!r->write_err)
		return false;
	/*
	 * Disk full or gone: stop tracing so the targets run unhindered, but
	 * let a command finish as it would have without pymac rather than
	 * orphan it.
	 */
	pm_err("writing %s: %s; recording stopped, the trace is readable up to its last complete "
	       "chunk%s",
	       r->args.output, strerror(-r->write_err),
	       r->args.targets.command ? "; waiting for the command to end" : "");
	session__detach(r->s);
	return !r->args.targets.command;
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
	int incomplete = cmd_end_recording(s, r->writer, r->args.output, r->write_err, NULL);

	r->writer = NULL;
	/* A command that failed says more than the trace; else 1: the trace is incomplete. */
	if (!ret && session__command_status(s) > 0)
		ret = session__command_status(s);
	else if (incomplete)
		ret = 1;
	else if (!ret && session__command_status(s) >= 0)
		ret = session__command_status(s);
	return ret;
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
	r.writer = session__open_trace(r.s, r.args.output, FEED_OPTIONAL);
	if (!r.writer)
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
	if (r.writer)
		trace_writer__close(r.writer, NULL);
	session__free(r.s);
	return ret;
}
