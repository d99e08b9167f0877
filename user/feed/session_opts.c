// SPDX-License-Identifier: MIT
#include "feed/session_impl.h"
#include "util/outfile.h"

/* ---- target options ---- */

enum {
	OPT_CONTAINER = 0x200,
	OPT_PROJECT,
	OPT_CGROUP,
	OPT_ALL_CONTAINERS,
	OPT_PROBES,
	OPT_DURATION,
	OPT_RINGBUF,
	OPT_DEBUG_DIR,
	OPT_PID_FILTER,
	OPT_MODE,
	OPT_SAMPLE_DUTY,
	OPT_SAMPLE_PERIOD,
};

#define SAMPLE_PERIOD_DEFAULT 1.0
/* Shorter windows than this are mostly the time arming takes. */
#define SAMPLE_WINDOW_MIN 0.002

static const struct argp_option target_options[] = {
    {"pid", 'p', "PID", 0, "Attach to a running process and its children (repeatable)", 1},
    {"container", OPT_CONTAINER, "NAME|ID", 0,
     "Trace every process of a running container, and those started in it later (repeatable)", 1},
    {"compose-project", OPT_PROJECT, "NAME", 0,
     "Trace every container of a compose project, also those that start later (repeatable)", 1},
    {"cgroup", OPT_CGROUP, "PATH", 0,
     "Trace every process in a cgroup v2 and below it, e.g. /docker/ID (repeatable)", 1},
    {"all-containers", OPT_ALL_CONTAINERS, NULL, 0,
     "Trace every running container, and those that start later", 1},
    {NULL, 0, NULL, 0, "Tracing:", 2},
    {"mode", OPT_MODE, "MODE", 0,
     "full (default): every allocation, deallocation and collection; footprint: no "
     "per-object event, only collections, anonymous mmap/munmap/brk of the process and its "
     "RSS every 100 ms, for a memory timeline at near-zero overhead (works without symbols)",
     2},
    {"probes", OPT_PROBES, "LIST", 0,
     "Comma-separated sources: pymalloc,dealloc,gc,libc,footprint (default: those of --mode)", 2},
    {"sample-duty", OPT_SAMPLE_DUTY, "P%", 0,
     "Sampling: arm the allocation probes (pymalloc, dealloc, libc) only P% of the time, in "
     "windows spread over each --sample-period, so their overhead is bounded; GC stays exact. "
     "Counts are then estimates, marked so (e.g. 1%, 0.5% or 0.01)",
     2},
    {"sample-period", OPT_SAMPLE_PERIOD, "SECONDS", 0,
     "With --sample-duty: one window in every SECONDS, at a random point of it (default 1)", 2},
    {"duration", OPT_DURATION, "SECONDS", 0,
     "Trace SECONDS from when the probes are on; every source stops at once", 2},
    {"ringbuf-mb", OPT_RINGBUF, "MB", 0, "Ring buffer size in MiB, a power of two (default 64)", 2},
    {"pid-filter", OPT_PID_FILTER, NULL, 0,
     "Uprobes trap only in the traced processes, not in every process of the same file (other "
     "containers of the same image, other runs of the interpreter); a child they fork, or a "
     "process that starts in a traced container, is attached when it appears (its first ~20 ms "
     "are missed)",
     2},
    {"debug-dir", OPT_DEBUG_DIR, "DIR", 0,
     "Look for separate debug info (.build-id/, debuglink) in DIR instead of /usr/lib/debug "
     "(repeatable; see docs/coverage.md)",
     2},
    {},
};

static error_t target_parse(int key, char *arg, struct argp_state *state)
{
	struct target_opts *t = state->input;
	const char **list;
	int *n;
	char *end, err[256];

	switch (key) {
	case ARGP_KEY_INIT:
		/* the command was split off before parsing: keep it */
		t->sources = PM_SOURCES_FULL;
		t->ringbuf_bytes = 64u << 20;
		t->sample_period = SAMPLE_PERIOD_DEFAULT;
		return 0;
	case OPT_SAMPLE_DUTY:
		t->sample_duty = strtod(arg, &end);
		if (*end == '%' && end[1] == '\0') {
			t->sample_duty /= 100;
		} else if (*end) {
			argp_error(state, "invalid --sample-duty '%s' (e.g. 1%% or 0.01)", arg);
		}
		if (!(t->sample_duty > 0 && t->sample_duty < 1))
			argp_error(state,
				   "--sample-duty takes a share above 0 and below 100%% ('%s'); "
				   "without it every event is traced",
				   arg);
		return 0;
	case OPT_SAMPLE_PERIOD:
		t->sample_period = strtod(arg, &end);
		if (*end || !(t->sample_period >= 0.01 && t->sample_period <= 3600))
			argp_error(state, "--sample-period takes seconds from 0.01 to 3600 ('%s')",
				   arg);
		return 0;
	case OPT_MODE:
		if (strcmp(arg, "full") == 0)
			t->footprint = false;
		else if (strcmp(arg, "footprint") == 0)
			t->footprint = true;
		else
			argp_error(state, "unknown mode '%s' (full or footprint)", arg);
		if (!t->sources_given)
			t->sources = t->footprint ? PM_SOURCES_FOOTPRINT : PM_SOURCES_FULL;
		return 0;
	case ARGP_KEY_END:
		if (!t->command && !target_opts__any(t))
			argp_error(state,
				   "give a command after --, or a target: -p PID, --container, "
				   "--compose-project, --cgroup or --all-containers");
		if (t->sample_duty > 0 && !(t->sources & SAMPLED_SOURCES))
			argp_error(state,
				   "--sample-duty samples pymalloc, dealloc and libc; none of "
				   "them is traced here (--mode footprint or --probes)");
		if (t->sample_duty > 0 && t->sample_duty * t->sample_period < SAMPLE_WINDOW_MIN)
			argp_error(
			    state,
			    "windows of %.3g ms are too short to arm probes in; use a longer "
			    "--sample-period (a window is duty x period, at least %g ms)",
			    t->sample_duty * t->sample_period * 1e3, SAMPLE_WINDOW_MIN * 1e3);
		return 0;
	case OPT_PROBES:
		if (pm_sources_parse(arg, &t->sources, err, sizeof(err)))
			argp_error(state, "%s", err);
		t->sources_given = true;
		return 0;
	case OPT_DURATION:
		t->duration = strtod(arg, &end);
		if (*end || t->duration <= 0)
			argp_error(state, "invalid duration '%s'", arg);
		return 0;
	case OPT_RINGBUF: {
		long mb = strtol(arg, &end, 10);

		if (*end || mb < 1 || mb > 4096 || (mb & (mb - 1)))
			argp_error(state, "--ringbuf-mb takes a power of two from 1 to 4096");
		t->ringbuf_bytes = (size_t)mb << 20;
		return 0;
	}
	case OPT_PID_FILTER:
		t->pid_filter = true;
		return 0;
	case OPT_DEBUG_DIR:
		if (debuginfo__add_dir(arg))
			argp_error(state, "--debug-dir takes an absolute directory (at most 16)");
		return 0;
	case 'p': {
		long v = strtol(arg, &end, 10);

		if (*end || v <= 0 || v > 0x7fffffff)
			argp_error(state, "invalid pid '%s'", arg);
		if (t->npids == SESSION_MAX_TARGETS)
			argp_error(state, "at most %d -p targets", SESSION_MAX_TARGETS);
		t->pids[t->npids++] = (pid_t)v;
		return 0;
	}
	case OPT_CONTAINER:
		list = t->containers;
		n = &t->ncontainers;
		break;
	case OPT_PROJECT:
		list = t->projects;
		n = &t->nprojects;
		break;
	case OPT_CGROUP:
		list = t->cgroups;
		n = &t->ncgroups;
		break;
	case OPT_ALL_CONTAINERS:
		t->all_containers = true;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	if (!arg[0])
		argp_error(state, "empty target");
	if (*n == SESSION_MAX_TARGETS)
		argp_error(state, "at most %d targets of a kind", SESSION_MAX_TARGETS);
	list[(*n)++] = arg;
	return 0;
}

const struct argp session_target_argp = {target_options, target_parse, NULL, NULL,
					 NULL,		 NULL,	       NULL};

char **session_split_command(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			char **cmd = i + 1 < *argc ? argv + i + 1 : NULL;

			argv[i] = NULL;
			*argc = i;
			return cmd;
		}
	}
	return NULL;
}

struct trace_writer *session__open_trace(struct session *s, const char *path, unsigned flags)
{
	struct pm_trace_info info = {.version = PM_TRACE_VERSION};
	struct trace_writer *w;
	uid_t uid;
	gid_t gid;

	info.start_ns = pm_now_ns();
	info.start_realtime_ns = pm_realtime_ns();
	w = trace_writer__open(path, &info);
	if (!w) {
		pm_err("%s", trace_writer__open_error());
		return NULL;
	}
	/* under sudo, the file belongs to the user who asked for it */
	if (pm_sudo_owner(&uid, &gid))
		trace_writer__set_owner(w, uid, gid);
	session__add_sink(s, path, trace_writer__sink(w), flags);
	s->trace = w;
	session__meta(s, "pymac_version", PYMAC_VERSION);
	return w;
}

struct trace_rotor *session__open_rotating_trace(struct session *s, const char *path,
						 unsigned flags, uint64_t max_bytes, unsigned keep)
{
	struct pm_trace_info info = {.version = PM_TRACE_VERSION};
	struct trace_rotor *r;

	info.start_ns = pm_now_ns();
	info.start_realtime_ns = pm_realtime_ns();
	r = trace_rotor__open(path, &info, max_bytes, keep);
	if (!r) {
		pm_err("%s", trace_writer__open_error());
		return NULL;
	}
	session__add_sink(s, path, trace_rotor__sink(r), flags);
	s->rotor = r;
	session__meta(s, "pymac_version", PYMAC_VERSION);
	return r;
}

bool target_opts__any(const struct target_opts *t)
{
	return t->npids || t->ncontainers || t->nprojects || t->ncgroups || t->all_containers;
}
