// SPDX-License-Identifier: MIT
/*
 * `pymac record`: start or attach to targets, attach the probes, and stream
 * the ring buffer into a trace file until the targets end or the user stops.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "probes.h"
#include "session.h"
#include "trace.h"

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
    "or the collector function), libc (malloc/calloc/realloc/free). pymac says\n"
    "on stderr, per process, what each source sees: full, partial or none.\n"
    "\n"
    "EXAMPLES:\n"
    "  pymac record -o t.pmt -- python3 tests/modules/test_multiply_gc.collect.py\n"
    "  pymac record -o t.pmt --probes gc,dealloc -- python3 app.py\n"
    "  pymac record -o t.pmt -p 1234 --duration 10\n"
    "  pymac record -o t.pmt --container pymac-refcount-1 --container web\n"
    "  pymac record -o t.pmt --compose-project pymac --duration 30\n"
    "  pymac record -o t.pmt --cgroup /docker/3f2a...   # a cgroup v2 path\n"
    "  pymac record -o t.pmt --probes libc -- ./a.out    # a program without Python\n"
    "  pymac replay t.pmt\n"
    "\n"
    "OPTIONS:";

enum {
	OPT_PROBES = 0x100,
	OPT_RINGBUF,
	OPT_DURATION,
};

static const struct argp_option record_options[] = {
    {"output", 'o', "FILE", 0, "Write the trace to FILE (mode 0600; required)", 0},
    {"probes", OPT_PROBES, "LIST", 0,
     "Comma-separated sources: pymalloc,dealloc,gc,libc (default: all that resolve)", 0},
    {"duration", OPT_DURATION, "SECONDS", 0, "Stop after SECONDS", 0},
    {"ringbuf-mb", OPT_RINGBUF, "MB", 0, "Ring buffer size in MiB, a power of two (default 64)", 0},
    {"quiet", 'q', NULL, 0, "Print only errors and the final line", 0},
    {},
};

struct record_args {
	const char *output;
	struct target_opts targets;
	unsigned sources;
	bool sources_given;
	double duration;
	size_t ringbuf_bytes;
	bool quiet;
	char **command;
};

static error_t record_parse(int key, char *arg, struct argp_state *state)
{
	struct record_args *a = state->input;
	char err[256];
	char *end;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->targets;
		break;
	case 'o':
		a->output = arg;
		break;
	case OPT_PROBES:
		if (pm_sources_parse(arg, &a->sources, err, sizeof(err)))
			argp_error(state, "%s", err);
		a->sources_given = true;
		break;
	case OPT_DURATION:
		a->duration = strtod(arg, &end);
		if (*end || a->duration <= 0)
			argp_error(state, "invalid duration '%s'", arg);
		break;
	case OPT_RINGBUF: {
		long mb = strtol(arg, &end, 10);

		if (*end || mb < 1 || mb > 4096 || (mb & (mb - 1)))
			argp_error(state, "--ringbuf-mb takes a power of two from 1 to 4096");
		a->ringbuf_bytes = (size_t)mb << 20;
		break;
	}
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
		if (!a->command && !target_opts__any(&a->targets))
			argp_error(state,
				   "give a command after --, or a target: -p PID, --container, "
				   "--compose-project, --cgroup or --all-containers");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void join_argv(char **argv, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; argv[i] && used < len; i++)
		used += snprintf(out + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

int cmd_record(int argc, char **argv)
{
	static const struct argp_child children[] = {{&session_target_argp, 0, "Targets:", 1}, {}};
	static const struct argp argp = {record_options, record_parse, NULL, record_doc,
					 children,	 NULL,	       NULL};
	struct record_args args = {.sources = PM_SOURCES_ALL, .ringbuf_bytes = 64u << 20};
	struct pm_trace_info info = {.version = PM_TRACE_VERSION};
	struct trace_writer *writer = NULL;
	struct session *s = NULL;
	struct timespec ts;
	char cmdline[1024];
	int ret = 1, st;

	/* Everything after the first "--" is the command, untouched by argp. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			if (i + 1 < argc)
				args.command = argv + i + 1;
			argv[i] = NULL;
			argc = i;
			break;
		}
	}
	if (argp_parse(&argp, argc, argv, 0, NULL, &args))
		return 2;

	struct session_opts so = {
	    .targets = &args.targets,
	    .command = args.command,
	    .sources = args.sources,
	    .sources_given = args.sources_given,
	    .ringbuf_bytes = args.ringbuf_bytes,
	    .quiet = args.quiet,
	};
	s = session__new(&so, &ret);
	if (!s)
		return ret;

	clock_gettime(CLOCK_REALTIME, &ts);
	info.start_ns = pm_now_ns();
	info.start_realtime_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	writer = trace_writer__open(args.output, &info);
	if (!writer) {
		pm_err("cannot create %s: %s", args.output, strerror(errno));
		goto out;
	}
	const char *sudo_uid = getenv("SUDO_UID"), *sudo_gid = getenv("SUDO_GID");
	if (sudo_uid && sudo_gid)
		trace_writer__set_owner(writer, (uid_t)atoi(sudo_uid), (gid_t)atoi(sudo_gid));
	session__add_sink(s, trace_writer__sink(writer));
	session__meta(s, "pymac_version", PYMAC_VERSION);
	if (args.command) {
		join_argv(args.command, cmdline, sizeof(cmdline));
		session__meta(s, "command", cmdline);
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	st = session__start(s);
	if (st) {
		ret = st;
		goto finish;
	}

	unsigned long long deadline =
	    args.duration > 0 ? pm_now_ns() + (unsigned long long)(args.duration * 1e9) : 0;
	unsigned long long next_flush = pm_now_ns() + FLUSH_INTERVAL_NS;

	for (;;) {
		int n = session__step(s, 100);
		unsigned long long now = pm_now_ns();

		if (n)
			break;
		if (now >= next_flush) {
			int e = trace_writer__maybe_flush(writer, now, FLUSH_INTERVAL_NS);

			if (e) {
				pm_err("writing %s: %s; stopping (what was written so far is kept)",
				       args.output, strerror(-e));
				break;
			}
			next_flush = now + FLUSH_INTERVAL_NS;
		}
		if (stop_signal) {
			int sig = stop_signal;

			stop_signal = 0;
			if (session__signal(s, sig))
				break;
		}
		if (deadline && now >= deadline)
			break;
	}
	ret = 0;
finish:
	/* Everything the targets did before now is in the ring buffer. */
	session__drain(s);
	struct pm_end end = {.ts_ns = pm_now_ns(), .events = session__events(s)};
	int cerr = trace_writer__close(writer, &end);
	writer = NULL;
	uint64_t lost = session__lost(s);
	if (cerr)
		pm_err("writing %s: %s (the chunks written before stay readable)", args.output,
		       strerror(-cerr));
	fprintf(stderr, "pymac: wrote %s: %llu events, %llu lost\n", args.output,
		(unsigned long long)end.events, (unsigned long long)lost);
	if (lost)
		fprintf(stderr,
			"pymac: %llu events were lost (ring buffer full); use a larger "
			"--ringbuf-mb or fewer --probes\n",
			(unsigned long long)lost);
	if (cerr)
		ret = 1;
	else if (!ret && session__command_status(s) >= 0)
		ret = session__command_status(s);
out:
	if (writer)
		trace_writer__close(writer, NULL);
	session__free(s);
	return ret;
}
