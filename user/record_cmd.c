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
#include "consumer.h"
#include "probes.h"
#include "sinks.h"
#include "summary.h"
#include "targets.h"
#include "trace.h"

#define MAX_PIDS	  64
#define FLUSH_INTERVAL_NS 250000000ull
#define LOST_INTERVAL_NS  250000000ull
#define RESCAN_WINDOW_NS  2000000000ull
#define KNOWN_PIDS_MAX	  8192

static const char record_doc[] =
    "Record a trace of Python's memory events.\n"
    "\n"
    "USAGE: pymac record -o FILE [OPTIONS] -- COMMAND [ARGS...]\n"
    "       pymac record -o FILE [OPTIONS] -p PID [-p PID...]\n"
    "\n"
    "With COMMAND, pymac runs it, traces it and the processes it starts, and\n"
    "exits with its exit status. With -p, pymac attaches to running processes\n"
    "(and the children they start) until Ctrl-C, SIGTERM, --duration, or until\n"
    "they have all exited; the processes go on unharmed after pymac detaches.\n"
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
    "  pymac record -o t.pmt --probes libc -- ./a.out    # a program without Python\n"
    "  pymac replay t.pmt\n"
    "\n"
    "OPTIONS:";

enum {
	OPT_PROBES = 0x100,
	OPT_RINGBUF,
	OPT_DURATION,
	OPT_QUIET,
};

static const struct argp_option record_options[] = {
    {"output", 'o', "FILE", 0, "Write the trace to FILE (mode 0600; required)", 0},
    {"pid", 'p', "PID", 0, "Attach to a running process (repeatable)", 0},
    {"probes", OPT_PROBES, "LIST", 0,
     "Comma-separated sources: pymalloc,dealloc,gc,libc (default: all that resolve)", 0},
    {"duration", OPT_DURATION, "SECONDS", 0, "Stop after SECONDS (with -p)", 0},
    {"ringbuf-mb", OPT_RINGBUF, "MB", 0, "Ring buffer size in MiB, a power of two (default 64)", 0},
    {"quiet", 'q', NULL, 0, "Print only errors and the final line", 0},
    {},
};

struct record_args {
	const char *output;
	pid_t pids[MAX_PIDS];
	int npids;
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
	case 'o':
		a->output = arg;
		break;
	case 'p': {
		long v = strtol(arg, &end, 10);

		if (*end || v <= 0 || v > 0x7fffffff)
			argp_error(state, "invalid pid '%s'", arg);
		if (a->npids == MAX_PIDS)
			argp_error(state, "at most %d -p targets", MAX_PIDS);
		a->pids[a->npids++] = (pid_t)v;
		break;
	}
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
		if (!a->command && !a->npids)
			argp_error(state, "give a command after -- or at least one -p PID");
		if (a->command && a->npids)
			argp_error(state, "give either a command or -p, not both");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* The state of one recording. */
struct recorder {
	struct record_args *args;
	struct probes *probes;
	struct trace_writer *writer;
	struct consumer *consumer;
	struct sink_tee tee;
	struct pm_sink watcher; /* first in the tee: reacts to exec and new pids */
	pid_t known[KNOWN_PIDS_MAX];
	size_t nknown;
	struct {
		pid_t pid;
		unsigned long long deadline;
	} rescans[MAX_PIDS];
	size_t nrescans;
	struct {
		uint32_t pid, kind;
		uint64_t count;
	} lost[1024];
	size_t nlost;
	/* which binaries each process's coverage was last reported for */
	struct {
		pid_t pid;
		uint64_t py_dev, py_ino, libc_dev, libc_ino;
	} reported[KNOWN_PIDS_MAX];
	size_t nreported;
	pid_t targets[MAX_PIDS];
	int ntargets;
	uint64_t events_written;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int emit(struct recorder *r, const struct pm_record *rec)
{
	return r->tee.base.record(&r->tee.base, rec);
}

static bool known_pid(struct recorder *r, pid_t pid)
{
	for (size_t i = 0; i < r->nknown; i++)
		if (r->known[i] == pid)
			return true;
	return false;
}

static void remember_pid(struct recorder *r, pid_t pid)
{
	if (!known_pid(r, pid) && r->nknown < KNOWN_PIDS_MAX)
		r->known[r->nknown++] = pid;
}

static void report_coverage(struct recorder *r, pid_t pid, const struct probe_coverage *cov)
{
	for (int s = 0; s < PM_SOURCE_COUNT; s++) {
		struct pm_record rec = {.type = PM_REC_SOURCE};

		rec.src.ts_ns = pm_now_ns();
		rec.src.pid = pid;
		rec.src.source = pm_source_name(s);
		rec.src.status = cov->status[s];
		rec.src.detail = cov->detail[s];
		emit(r, &rec);
		if (!r->args->quiet && cov->status[s] != PM_SRC_OFF)
			fprintf(stderr, "pymac: pid %d: %s: %s: %s\n", pid, pm_source_name(s),
				pm_source_status_name(cov->status[s]), cov->detail[s]);
	}
}

static void emit_process(struct recorder *r, const struct target_proc *tp)
{
	struct pm_record rec = {.type = PM_REC_PROCESS};

	rec.proc.ts_ns = pm_now_ns();
	rec.proc.pid = tp->pid;
	rec.proc.ppid = tp->ppid;
	rec.proc.cgroup_id = tp->cgroup_id;
	rec.proc.comm = tp->comm;
	rec.proc.exe = tp->exe;
	rec.proc.python = tp->has_python ? tp->python.path : "";
	rec.proc.python_version = tp->python_version;
	remember_pid(r, tp->pid);
	emit(r, &rec);
}

/* Attach to what a running process maps; say what each source sees, once
 * per process and set of binaries (an exec of the same interpreter changes
 * nothing). */
static int attach_process(struct recorder *r, const struct target_proc *tp)
{
	uint64_t pd = tp->has_python ? tp->python.dev : 0, pi = tp->has_python ? tp->python.ino : 0;
	uint64_t ld = tp->has_libc ? tp->libc.dev : 0, li = tp->has_libc ? tp->libc.ino : 0;
	struct probe_coverage cov;
	size_t i;
	int n;

	for (i = 0; i < r->nreported; i++)
		if (r->reported[i].pid == tp->pid)
			break;
	if (i < r->nreported && r->reported[i].py_dev == pd && r->reported[i].py_ino == pi &&
	    r->reported[i].libc_dev == ld && r->reported[i].libc_ino == li)
		return 0;
	if (i == r->nreported && r->nreported < KNOWN_PIDS_MAX)
		r->nreported++;
	if (i < r->nreported) {
		r->reported[i].pid = tp->pid;
		r->reported[i].py_dev = pd;
		r->reported[i].py_ino = pi;
		r->reported[i].libc_dev = ld;
		r->reported[i].libc_ino = li;
	}
	n = probes__attach(r->probes, tp->has_python ? &tp->python : NULL, tp->python_version,
			   tp->has_libc ? &tp->libc : NULL, &cov);
	report_coverage(r, tp->pid, &cov);
	return n;
}

static void schedule_rescan(struct recorder *r, pid_t pid)
{
	for (size_t i = 0; i < r->nrescans; i++)
		if (r->rescans[i].pid == pid) {
			r->rescans[i].deadline = pm_now_ns() + RESCAN_WINDOW_NS;
			return;
		}
	if (r->nrescans < MAX_PIDS) {
		r->rescans[r->nrescans].pid = pid;
		r->rescans[r->nrescans].deadline = pm_now_ns() + RESCAN_WINDOW_NS;
		r->nrescans++;
	}
}

/*
 * After an exec, the new program's libraries appear in its maps only once
 * the dynamic loader has mapped them: look again for a short while, and
 * attach the interpreter and libc as soon as they show up.
 */
static void run_rescans(struct recorder *r)
{
	unsigned long long now = pm_now_ns();

	for (size_t i = 0; i < r->nrescans;) {
		struct target_proc tp;
		bool done = now > r->rescans[i].deadline;

		if (target_proc__inspect(r->rescans[i].pid, &tp) != 0) {
			done = true; /* gone */
		} else if (done || (tp.has_python && (tp.has_libc || !(r->args->sources &
								       (1u << PM_SOURCE_LIBC))))) {
			/* everything it will load is mapped, or time is up */
			emit_process(r, &tp);
			attach_process(r, &tp);
			done = true;
		}
		if (done)
			r->rescans[i] = r->rescans[--r->nrescans];
		else
			i++;
	}
}

static int watcher_record(struct pm_sink *s, const struct pm_record *rec)
{
	struct recorder *r = (struct recorder *)((char *)s - offsetof(struct recorder, watcher));
	const struct pm_event *e = &rec->ev;

	if (rec->type != PM_REC_EVENT)
		return 0;
	if (e->kind == PM_EXEC) {
		schedule_rescan(r, e->pid);
		return 0;
	}
	if (!known_pid(r, e->pid) && e->kind != PM_EXIT) {
		/* a child that forked (not exec'd): describe it once */
		struct target_proc tp;

		remember_pid(r, e->pid);
		if (target_proc__inspect(e->pid, &tp) == 0)
			emit_process(r, &tp);
	}
	return 0;
}

static void lost_cb(void *ctx, uint32_t pid, uint32_t kind, uint64_t count)
{
	struct recorder *r = ctx;
	size_t i;

	for (i = 0; i < r->nlost; i++)
		if (r->lost[i].pid == pid && r->lost[i].kind == kind)
			break;
	if (i < r->nlost && r->lost[i].count == count)
		return;
	if (i == r->nlost) {
		if (r->nlost == sizeof(r->lost) / sizeof(r->lost[0]))
			return;
		r->nlost++;
	}
	r->lost[i].pid = pid;
	r->lost[i].kind = kind;
	r->lost[i].count = count;

	struct pm_record rec = {.type = PM_REC_LOST};
	rec.lost.ts_ns = pm_now_ns();
	rec.lost.pid = pid;
	rec.lost.kind = kind;
	rec.lost.count = count;
	emit(r, &rec);
}

static void emit_meta(struct recorder *r, const char *key, const char *value)
{
	struct pm_record rec = {.type = PM_REC_META};

	rec.meta.key = key;
	rec.meta.value = value;
	emit(r, &rec);
}

static void join_argv(char **argv, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; argv[i] && used < len; i++)
		used += snprintf(out + used, len - used, "%s%s", i ? " " : "", argv[i]);
}

/* Fork the command, held at a gate until the probes are in place. */
static pid_t spawn_gated(char **argv, int *gate_fd)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		char go;

		close(fds[1]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (read(fds[0], &go, 1) != 1)
			_exit(127); /* pymac gave up before starting us */
		execvp(argv[0], argv);
		fprintf(stderr, "pymac: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	*gate_fd = fds[1];
	return pid;
}

static bool any_target_alive(struct recorder *r)
{
	for (int i = 0; i < r->ntargets; i++)
		if (kill(r->targets[i], 0) == 0 || errno == EPERM)
			return true;
	return false;
}

int cmd_record(int argc, char **argv)
{
	static const struct argp argp = {record_options, record_parse, NULL, record_doc,
					 NULL,		 NULL,	       NULL};
	struct record_args args = {.sources = PM_SOURCES_ALL, .ringbuf_bytes = 64u << 20};
	struct recorder *r = NULL;
	struct target_command tc;
	struct pm_trace_info info = {.version = PM_TRACE_VERSION};
	struct timespec ts;
	char err[512], cmdline[1024];
	pid_t child = -1;
	int gate = -1, status = 0, ret = 1;
	bool child_done = false;

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

	r = calloc(1, sizeof(*r));
	if (!r) {
		pm_err("out of memory");
		return 1;
	}
	r->args = &args;

	/* Check the targets before loading anything. */
	struct target_proc *tps = calloc(MAX_PIDS, sizeof(*tps));
	if (!tps) {
		pm_err("out of memory");
		goto out;
	}
	for (int i = 0; i < args.npids; i++) {
		int e = target_proc__inspect(args.pids[i], &tps[i]);

		if (e == -ENOENT || e == -ESRCH) {
			pm_err("no process with pid %d", args.pids[i]);
			goto out;
		}
		if (e) {
			pm_err("cannot inspect pid %d: %s", args.pids[i], strerror(-e));
			goto out;
		}
		if (!tps[i].has_python && (args.sources & ~(1u << PM_SOURCE_LIBC))) {
			pm_err(
			    "pid %d (%s) is not a Python process: it maps no libpython or python "
			    "executable defining PyObject_Malloc (to trace its libc allocations, "
			    "use --probes libc)",
			    args.pids[i], tps[i].comm);
			goto out;
		}
	}
	if (args.command) {
		if (target_command__resolve(args.command[0], &tc, err, sizeof(err))) {
			pm_err("%s", err);
			ret = 127;
			goto out;
		}
		if (!tc.has_python && args.sources_given &&
		    (args.sources & ~(1u << PM_SOURCE_LIBC)) && !args.quiet)
			pm_err("%s is not a Python interpreter; the Python sources attach when a "
			       "traced child runs one",
			       tc.exe);
	}

	struct probes_opts popts = {.sources = args.sources, .ringbuf_bytes = args.ringbuf_bytes};
	r->probes = probes__open(&popts, err, sizeof(err));
	if (!r->probes) {
		pm_err("%s", err);
		goto out;
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	info.start_ns = pm_now_ns();
	info.start_realtime_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	r->writer = trace_writer__open(args.output, &info);
	if (!r->writer) {
		pm_err("cannot create %s: %s", args.output, strerror(errno));
		goto out;
	}
	const char *sudo_uid = getenv("SUDO_UID"), *sudo_gid = getenv("SUDO_GID");
	if (sudo_uid && sudo_gid)
		trace_writer__set_owner(r->writer, (uid_t)atoi(sudo_uid), (gid_t)atoi(sudo_gid));

	sink_tee__init(&r->tee);
	r->watcher.record = watcher_record;
	sink_tee__add(&r->tee, &r->watcher);
	sink_tee__add(&r->tee, trace_writer__sink(r->writer));

	r->consumer = consumer__new(probes__ringbuf_fd(r->probes), &r->tee.base);
	if (!r->consumer) {
		pm_err("cannot open the ring buffer: %s", strerror(errno));
		goto out;
	}
	emit_meta(r, "pymac_version", PYMAC_VERSION);
	if (args.command) {
		join_argv(args.command, cmdline, sizeof(cmdline));
		emit_meta(r, "command", cmdline);
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (args.command) {
		struct target_proc tp = {};

		child = spawn_gated(args.command, &gate);
		if (child < 0) {
			pm_err("cannot start %s: %s", args.command[0], strerror(errno));
			goto out;
		}
		probes__trace_pid(r->probes, child);
		r->targets[r->ntargets++] = child;
		tp.pid = child;
		tp.ppid = getpid();
		snprintf(tp.comm, sizeof(tp.comm), "%.15s",
			 strrchr(tc.exe, '/') ? strrchr(tc.exe, '/') + 1 : tc.exe);
		snprintf(tp.exe, sizeof(tp.exe), "%s", tc.exe);
		tp.cgroup_id = target_cgroup_id(getpid());
		tp.has_python = tc.has_python;
		tp.python = tc.python;
		snprintf(tp.python_version, sizeof(tp.python_version), "%s", tc.python_version);
		tp.has_libc = tc.has_libc;
		tp.libc = tc.libc;
		emit_process(r, &tp);
		attach_process(r, &tp);
	} else {
		for (int i = 0; i < args.npids; i++) {
			probes__trace_pid(r->probes, tps[i].pid);
			r->targets[r->ntargets++] = tps[i].pid;
			emit_process(r, &tps[i]);
			attach_process(r, &tps[i]);
		}
	}
	if (!args.quiet) {
		if (args.command)
			fprintf(stderr, "pymac: tracing %s (pid %d), %zu probes attached\n",
				args.command[0], child, probes__link_count(r->probes));
		else
			fprintf(
			    stderr,
			    "pymac: tracing %d process%s, %zu probes attached; Ctrl-C to stop\n",
			    r->ntargets, r->ntargets == 1 ? "" : "es",
			    probes__link_count(r->probes));
	}
	if (gate >= 0) {
		if (write(gate, "g", 1) != 1) {
			pm_err("cannot start %s: %s", args.command[0], strerror(errno));
			goto out;
		}
		close(gate);
		gate = -1;
	}

	unsigned long long deadline =
	    args.duration > 0 ? pm_now_ns() + (unsigned long long)(args.duration * 1e9) : 0;
	unsigned long long next_flush = pm_now_ns() + FLUSH_INTERVAL_NS, next_lost = next_flush;
	int forwarded = 0;

	for (;;) {
		int n = consumer__poll(r->consumer, 100);

		if (n < 0 && n != -EINTR) {
			pm_err("reading the ring buffer: %s", strerror(-n));
			break;
		}
		unsigned long long now = pm_now_ns();
		if (r->nrescans)
			run_rescans(r);
		if (now >= next_lost) {
			probes__lost_foreach(r->probes, lost_cb, r);
			next_lost = now + LOST_INTERVAL_NS;
		}
		if (now >= next_flush) {
			int e = trace_writer__maybe_flush(r->writer, now, FLUSH_INTERVAL_NS);

			if (e) {
				pm_err("writing %s: %s; stopping (what was written so far is kept)",
				       args.output, strerror(-e));
				break;
			}
			next_flush = now + FLUSH_INTERVAL_NS;
		}
		if (child > 0) {
			pid_t w = waitpid(child, &status, WNOHANG);

			if (w == child) {
				child_done = true;
				break;
			}
			if (stop_signal) {
				/*
				 * The terminal already sent SIGINT to the whole process
				 * group; other signals are passed on. pymac waits for
				 * the command to end, unless told three times.
				 */
				if (stop_signal != SIGINT)
					kill(child, stop_signal);
				stop_signal = 0;
				if (++forwarded >= 3)
					break;
			}
		} else {
			if (stop_signal)
				break;
			if (deadline && now >= deadline)
				break;
			if (!any_target_alive(r))
				break;
		}
	}

	/* Everything the targets did before now is in the ring buffer. */
	consumer__drain(r->consumer);
	probes__lost_foreach(r->probes, lost_cb, r);
	struct pm_end end = {.ts_ns = pm_now_ns(), .events = consumer__events(r->consumer)};
	int cerr = trace_writer__close(r->writer, &end);
	r->writer = NULL;
	uint64_t lost = probes__lost_total(r->probes);
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
	ret = cerr ? 1 : 0;
	if (child > 0) {
		if (!child_done) {
			/* pymac stops early: leave the command running, unobserved */
			ret = cerr ? 1 : 0;
		} else if (WIFEXITED(status)) {
			ret = cerr ? 1 : WEXITSTATUS(status);
		} else if (WIFSIGNALED(status)) {
			ret = 128 + WTERMSIG(status);
		}
	}
out:
	if (gate >= 0)
		close(gate); /* the gated child exits 127 without running */
	if (r) {
		consumer__free(r->consumer);
		if (r->writer)
			trace_writer__close(r->writer, NULL);
		probes__free(r->probes);
		free(r);
	}
	free(tps);
	return ret;
}
