// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "feed/consumer.h"
#include "attach/containers.h"
#include "attach/debuginfo.h"
#include "util/fileio.h"
#include "attach/probes.h"
#include "attach/procmaps.h"
#include "feed/session.h"
#include "feed/feed.h"
#include "util/hashmap.h"
#include "attach/targets.h"
#include "trace/trace.h"

#define LOST_INTERVAL_NS  250000000ull
#define CGROUP_CHECK_NS	  250000000ull
#define CONTAINER_SCAN_NS 1000000000ull
#define RESCAN_WINDOW_NS  2000000000ull
#define RESCAN_FIRST_NS	  2000000ull   /* first gap between looks after an exec */
#define RESCAN_MAX_GAP_NS 250000000ull /* the gap doubles up to this */
#define KNOWN_PIDS_MAX	  8192
#define RESCANS_MAX	  256
#define PIDPOLL_NS	  20000000ull
#define CONTAINERS_MAX	  512
#define RSS_INTERVAL_NS	  100000000ull

/* What --sample-duty arms in windows. */
#define SAMPLED_SOURCES                                                                            \
	((1u << PM_SOURCE_PYMALLOC) | (1u << PM_SOURCE_DEALLOC) | (1u << PM_SOURCE_LIBC))

/* Sources that make sense in a process without Python. */
#define NO_PYTHON_NEEDED ((1u << PM_SOURCE_LIBC) | (1u << PM_SOURCE_FOOTPRINT))

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
    {"duration", OPT_DURATION, "SECONDS", 0, "Stop after SECONDS", 2},
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
	const char *su = getenv("SUDO_UID"), *sg = getenv("SUDO_GID");
	struct trace_writer *w;

	info.start_ns = pm_now_ns();
	info.start_realtime_ns = pm_realtime_ns();
	w = trace_writer__open(path, &info);
	if (!w) {
		if (errno == ELOOP)
			pm_err("cannot create %s: it is a symbolic link (pymac does not follow one "
			       "there; name the file itself)",
			       path);
		else if (errno == EPERM)
			pm_err("cannot create %s: it is another user's file (remove it or choose "
			       "another name)",
			       path);
		else
			pm_err("cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	/* under sudo, the file belongs to the user who asked for it */
	if (su && sg)
		trace_writer__set_owner(w, (uid_t)atoi(su), (gid_t)atoi(sg));
	session__add_sink(s, path, trace_writer__sink(w), flags);
	session__meta(s, "pymac_version", PYMAC_VERSION);
	return w;
}

bool target_opts__any(const struct target_opts *t)
{
	return t->npids || t->ncontainers || t->nprojects || t->ncgroups || t->all_containers;
}

/* ---- the session ---- */

struct tracked_container {
	struct container_info info;
	char cgpath[CONTAINER_CGPATH_MAX];
	char runtime[16];
	bool bare_cgroup; /* a --cgroup target that names no container */
	bool stopped;
};

struct session {
	struct session_opts o;
	struct probes *probes;
	struct consumer *consumer;
	struct feed feed;
	struct pm_sink watcher; /* first in the feed: reacts to exec and new pids */
	/* pids first seen in the ring buffer, to describe (read /proc) after
	 * the poll that brought them: no I/O inside the ring buffer's callback */
	pid_t inspect[RESCANS_MAX];
	size_t ninspect;

	pid_t known[KNOWN_PIDS_MAX];
	size_t nknown;
	struct {
		pid_t pid;
		unsigned long long deadline;
		unsigned long long next;  /* not before */
		unsigned long long delay; /* until the next look after this one */
	} rescans[RESCANS_MAX];
	size_t nrescans;
	/* the latest lost count reported per (pid, kind) + 1: as many as the
	 * BPF map holds */
	struct u64map lost;
	/* which binaries each process's coverage was last reported for */
	struct {
		pid_t pid;
		uint64_t py_dev, py_ino, libc_dev, libc_ino;
	} reported[KNOWN_PIDS_MAX];
	size_t nreported;
	struct {
		uint64_t py_dev, py_ino, libc_dev, libc_ino;
	} printed[256];
	size_t nprinted;

	pid_t targets[SESSION_MAX_TARGETS + 1]; /* -p pids and the command */
	int ntargets;
	struct tracked_container *conts;
	size_t nconts;
	/* --container and --cgroup targets, checked, waiting for session__start */
	struct tracked_container pending[2 * SESSION_MAX_TARGETS];
	size_t npending;

	struct target_command tc; /* the command's binaries */
	pid_t child;
	int gate;
	int child_status;
	bool child_done;
	int forwarded;
	bool detached;
	/* no container target: uprobes fire only in the traced processes */
	bool pid_links;
	bool said_footprint_hint;
	unsigned long long next_lost, next_cgcheck, next_scan, next_pidpoll, next_rss;
	uint64_t known_cg[KNOWN_PIDS_MAX]; /* known[i]'s cgroup for RSS samples, 0: not looked up */
	long page_size;
	struct sampler *sampler; /* --sample-duty, from session__start to detach */
};

static int sampler_start(struct session *s);
static void sampler_stop(struct session *s, bool emit_windows);

static int emit(struct session *s, const struct pm_record *rec)
{
	return feed__record(&s->feed, rec);
}

static bool known_pid(struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nknown; i++)
		if (s->known[i] == pid)
			return true;
	return false;
}

static void remember_pid(struct session *s, pid_t pid)
{
	if (!known_pid(s, pid) && s->nknown < KNOWN_PIDS_MAX) {
		s->known_cg[s->nknown] = 0;
		s->known[s->nknown++] = pid;
	}
}

/* An exited process: its pid may come back as another process. */
static void forget_pid(struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nknown; i++)
		if (s->known[i] == pid) {
			s->nknown--;
			s->known[i] = s->known[s->nknown];
			s->known_cg[i] = s->known_cg[s->nknown];
			break;
		}
	for (size_t i = 0; i < s->nreported; i++)
		if (s->reported[i].pid == pid) {
			s->reported[i] = s->reported[--s->nreported];
			break;
		}
}

static void report_coverage(struct session *s, pid_t pid, bool python, bool said_before,
			    const struct probe_coverage *cov)
{
	for (int i = 0; i < PM_SOURCE_COUNT; i++) {
		struct pm_record rec = {.type = PM_REC_SOURCE};

		rec.src.ts_ns = pm_now_ns();
		rec.src.pid = pid;
		rec.src.source = pm_source_name(i);
		rec.src.status = cov->status[i];
		rec.src.detail = cov->detail[i];
		emit(s, &rec);
		/* a shell or init in a container: only its libc is worth a line */
		if ((!python && i != PM_SOURCE_LIBC && s->nconts) || said_before)
			continue;
		if (!s->o.quiet && cov->status[i] != PM_SRC_OFF)
			fprintf(stderr, "pymac: pid %d: %s: %s: %s\n", pid, pm_source_name(i),
				pm_source_status_name(cov->status[i]), cov->detail[i]);
	}
	/* An LTO build without debug info: the allocator's counts are partial,
	 * but its arenas are seen whole without any symbol. Said once. */
	if (python && !said_before && !s->o.quiet && !s->said_footprint_hint &&
	    cov->status[PM_SOURCE_PYMALLOC] == PM_SRC_PARTIAL &&
	    cov->status[PM_SOURCE_FOOTPRINT] == PM_SRC_OFF) {
		s->said_footprint_hint = true;
		fprintf(stderr,
			"pymac: pymalloc counts are partial here; --mode footprint records this "
			"process's arenas, heap and RSS exactly, without debug info\n");
	}
}

/* The traced container that holds a cgroup (itself or an ancestor), or NULL. */
static struct tracked_container *container_of_cgroup(struct session *s, uint64_t cgroup_id,
						     const char *cgpath)
{
	for (size_t i = 0; i < s->nconts; i++) {
		struct tracked_container *c = &s->conts[i];
		size_t l = strlen(c->cgpath);

		if (c->info.cgroup_id == cgroup_id)
			return c;
		if (cgpath && strncmp(cgpath, c->cgpath, l) == 0 &&
		    (cgpath[l] == '/' || strcmp(c->cgpath, "/") == 0))
			return c;
	}
	return NULL;
}

/*
 * Footprint of a process pymac did not see start: what it already holds,
 * read from its maps, as vm records marked PM_VM_EXISTING. The kernel
 * merges neighbouring anonymous mappings there, so arenas cannot be told
 * apart from other mappings; they count in the total all the same.
 */
static void seed_footprint(struct session *s, pid_t pid, uint64_t cgroup_id)
{
	struct maps_entry *m = NULL;
	size_t n = 0;

	if (procmaps__read(pid, &m, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct pm_record rec = {.type = PM_REC_EVENT};
		bool heap = strcmp(m[i].path, "[heap]") == 0;

		if (!heap && (m[i].path[0] || m[i].inode))
			continue; /* a file, or the stack, vdso and the like */
		if (m[i].perms[0] != 'r' && m[i].perms[1] != 'w')
			continue; /* reserved, not usable: PROT_NONE */
		rec.ev.ts_ns = pm_now_ns();
		rec.ev.cgroup_id = cgroup_id;
		rec.ev.pid = rec.ev.tid = (uint32_t)pid;
		rec.ev.kind = PM_VM;
		rec.ev.vm.op = heap ? PM_VM_BRK : PM_VM_MMAP;
		rec.ev.vm.prot = (m[i].perms[0] == 'r' ? 1 : 0) | (m[i].perms[1] == 'w' ? 2 : 0) |
				 (m[i].perms[2] == 'x' ? 4 : 0);
		rec.ev.vm.flags = PM_VM_EXISTING;
		if (heap) {
			rec.ev.vm.addr = m[i].end;
			rec.ev.vm.old_addr = m[i].start;
		} else {
			rec.ev.vm.addr = m[i].start;
		}
		rec.ev.vm.len = m[i].end - m[i].start;
		emit(s, &rec);
	}
	free(m);
}

/* Describe a process; seed: it ran before pymac saw it start (not the
 * command, nor a process that just exec'd), so say what it already holds. */
static void emit_process(struct session *s, const struct target_proc *tp, bool seed)
{
	struct pm_record rec = {.type = PM_REC_PROCESS};
	struct container_ref ref;
	char cgpath[CONTAINER_CGPATH_MAX];
	uint64_t cg = tp->cgroup_id;

	/* A process in a sub-cgroup of a traced container belongs to it. */
	if (s->nconts && container_ref__of_pid(tp->pid, &ref, cgpath, sizeof(cgpath)) == 0) {
		struct tracked_container *c = container_of_cgroup(s, cg, cgpath);

		if (c)
			cg = c->info.cgroup_id;
	}
	rec.proc.ts_ns = pm_now_ns();
	rec.proc.pid = tp->pid;
	rec.proc.ppid = tp->ppid;
	rec.proc.cgroup_id = cg;
	rec.proc.comm = tp->comm;
	rec.proc.exe = tp->exe;
	rec.proc.python = tp->has_python ? tp->python.path : "";
	rec.proc.python_version = tp->python_version;
	remember_pid(s, tp->pid);
	emit(s, &rec);
	if (seed && (s->o.targets->sources & (1u << PM_SOURCE_FOOTPRINT)))
		seed_footprint(s, tp->pid, cg);
}

/* Attach to what a running process maps; say what each source sees, once
 * per process and set of binaries (an exec of the same interpreter changes
 * nothing). */
static int attach_process(struct session *s, const struct target_proc *tp)
{
	uint64_t pd = tp->has_python ? tp->python.dev : 0, pi = tp->has_python ? tp->python.ino : 0;
	uint64_t ld = tp->has_libc ? tp->libc.dev : 0, li = tp->has_libc ? tp->libc.ino : 0;
	struct probe_coverage cov;
	size_t i;
	int n;

	for (i = 0; i < s->nreported; i++)
		if (s->reported[i].pid == tp->pid)
			break;
	if (i < s->nreported && s->reported[i].py_dev == pd && s->reported[i].py_ino == pi &&
	    s->reported[i].libc_dev == ld && s->reported[i].libc_ino == li)
		return 0;
	if (i == s->nreported && s->nreported < KNOWN_PIDS_MAX)
		s->nreported++;
	if (i < s->nreported) {
		s->reported[i].pid = tp->pid;
		s->reported[i].py_dev = pd;
		s->reported[i].py_ino = pi;
		s->reported[i].libc_dev = ld;
		s->reported[i].libc_ino = li;
	}
	n = probes__attach_pid(s->probes, s->pid_links ? tp->pid : -1,
			       tp->has_python ? &tp->python : NULL, tp->python_version,
			       tp->has_libc ? &tp->libc : NULL, &cov);
	/* Say it on stderr once per set of binaries: a container that starts
	 * the same interpreter every second would repeat it every second. */
	bool printed = false;
	for (size_t k = 0; k < s->nprinted && !printed; k++)
		printed = s->printed[k].py_dev == pd && s->printed[k].py_ino == pi &&
			  s->printed[k].libc_dev == ld && s->printed[k].libc_ino == li;
	if (!printed && s->nprinted < sizeof(s->printed) / sizeof(s->printed[0])) {
		s->printed[s->nprinted].py_dev = pd;
		s->printed[s->nprinted].py_ino = pi;
		s->printed[s->nprinted].libc_dev = ld;
		s->printed[s->nprinted].libc_ino = li;
		s->nprinted++;
	}
	report_coverage(s, tp->pid, tp->has_python, printed, &cov);
	return n;
}

static void schedule_rescan(struct session *s, pid_t pid)
{
	unsigned long long now = pm_now_ns();
	size_t i;

	for (i = 0; i < s->nrescans; i++)
		if (s->rescans[i].pid == pid)
			break;
	if (i == s->nrescans) {
		if (s->nrescans == RESCANS_MAX)
			return;
		s->nrescans++;
	}
	s->rescans[i].pid = pid;
	s->rescans[i].deadline = now + RESCAN_WINDOW_NS;
	s->rescans[i].next = now;
	s->rescans[i].delay = RESCAN_FIRST_NS;
}

/*
 * After an exec, the new program's libraries appear in its maps only once
 * the dynamic loader has mapped them: look again for a short while, and
 * attach the interpreter and libc as soon as they show up.
 */
static void run_rescans(struct session *s)
{
	unsigned long long now = pm_now_ns();
	bool want_libc = s->o.targets->sources & (1u << PM_SOURCE_LIBC);

	for (size_t i = 0; i < s->nrescans;) {
		struct target_proc tp;
		bool done = now > s->rescans[i].deadline;

		/* The loader maps the libraries within milliseconds of the
		 * exec; a later dlopen is rarer: look often at first, then less
		 * (reading maps after every poll cost a busy session a third of
		 * a core, mostly for short programs that never load Python). */
		if (!done && now < s->rescans[i].next) {
			i++;
			continue;
		}
		s->rescans[i].next = now + s->rescans[i].delay;
		if (s->rescans[i].delay < RESCAN_MAX_GAP_NS)
			s->rescans[i].delay *= 2;
		if (target_proc__inspect(s->rescans[i].pid, &tp) != 0) {
			done = true; /* gone */
		} else if (done || (tp.has_python && (tp.has_libc || !want_libc))) {
			/* everything it will load is mapped, or time is up */
			emit_process(s, &tp, false);
			attach_process(s, &tp);
			done = true;
		}
		if (done)
			s->rescans[i] = s->rescans[--s->nrescans];
		else
			i++;
	}
}

static int watcher_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct session *s = (struct session *)((char *)sink - offsetof(struct session, watcher));
	const struct pm_event *e = &rec->ev;

	if (rec->type != PM_REC_EVENT)
		return 0;
	if (e->kind == PM_EXEC) {
		schedule_rescan(s, e->pid);
		remember_pid(s, e->pid);
		return 0;
	}
	if (e->kind == PM_EXIT) {
		forget_pid(s, e->pid);
		return 0;
	}
	if (!known_pid(s, e->pid) && s->ninspect < RESCANS_MAX) {
		/* a child that forked (not exec'd), or a process that entered a
		 * traced cgroup: described once, after this poll */
		remember_pid(s, e->pid);
		s->inspect[s->ninspect++] = e->pid;
	}
	return 0;
}

/* Describe the pids the last poll brought (watcher_record). */
static void inspect_new_pids(struct session *s)
{
	for (size_t i = 0; i < s->ninspect; i++) {
		struct target_proc tp;

		if (target_proc__inspect(s->inspect[i], &tp) == 0)
			emit_process(s, &tp, true);
	}
	s->ninspect = 0;
}

static void lost_cb(void *ctx, uint32_t pid, uint32_t kind, uint64_t count)
{
	struct session *s = ctx;
	uint64_t key = ((uint64_t)pid << 32 | kind) + 1;
	struct u64map_ent *e = u64map__get(&s->lost, key);
	struct pm_record rec = {.type = PM_REC_LOST};

	if (e && e->val == count)
		return;
	/* out of memory: the count goes out now, and again at the next look */
	if (e)
		e->val = count;
	rec.lost.ts_ns = pm_now_ns();
	rec.lost.pid = pid;
	rec.lost.kind = kind;
	rec.lost.count = count;
	emit(s, &rec);
}

/* ---- containers ---- */

static const char *container_label(const struct tracked_container *c)
{
	return c->info.name[0] ? c->info.name : c->cgpath;
}

static void emit_container(struct session *s, const struct tracked_container *c,
			   enum pm_container_state state)
{
	struct pm_record rec = {.type = PM_REC_CONTAINER};

	rec.cont.ts_ns = pm_now_ns();
	rec.cont.cgroup_id = c->info.cgroup_id;
	rec.cont.state = state;
	rec.cont.runtime = c->runtime;
	rec.cont.id = c->info.id;
	rec.cont.name = container_label(c);
	rec.cont.image = c->info.image;
	rec.cont.project = c->info.project;
	rec.cont.service = c->info.service;
	emit(s, &rec);
}

/*
 * Start tracing a container: filter its cgroup in, describe it, attach to
 * its processes, and attach ahead of time to the Python its PATH names, so
 * that an interpreter started in it later (docker exec, a script) is seen
 * from its first instruction. *has_python says whether any Python was found.
 */
static int track_container(struct session *s, struct tracked_container *c, bool *has_python)
{
	pid_t *pids = NULL;
	size_t n = 0;
	int err;

	*has_python = false;
	if (s->nconts == CONTAINERS_MAX) {
		pm_err("at most %d containers can be traced at once; %s is not", CONTAINERS_MAX,
		       container_label(c));
		return -E2BIG;
	}
	err = probes__trace_cgroup(s->probes, c->info.cgroup_id);
	if (err) {
		pm_err("cannot trace cgroup %s: %s", c->cgpath, strerror(-err));
		return err;
	}
	s->conts[s->nconts++] = *c;
	c = &s->conts[s->nconts - 1];
	emit_container(s, c, PM_CONTAINER_RUNNING);

	err = cgroup2__pids(c->cgpath, &pids, &n);
	if (err && err != -ENOENT)
		pm_err("cannot list the processes of %s: %s", container_label(c), strerror(-err));
	for (size_t i = 0; i < n; i++) {
		struct target_proc tp;

		if (known_pid(s, pids[i]) || target_proc__inspect(pids[i], &tp))
			continue;
		emit_process(s, &tp, true);
		attach_process(s, &tp);
		*has_python |= tp.has_python;
	}
	/* any process will do to see the container's filesystem and PATH
	 * (with pid-filtered uprobes there is nothing to attach ahead: each
	 * process is attached when it shows up) */
	for (size_t i = 0; i < n && !s->pid_links; i++) {
		struct target_command tc;
		struct probe_coverage cov;

		if (target_root__find_python(pids[i], &tc) == 0) {
			probes__attach(s->probes, &tc.python, tc.python_version,
				       tc.has_libc ? &tc.libc : NULL, &cov);
			*has_python = true;
			break;
		}
	}
	free(pids);
	return 0;
}

/* Is the container traced now? (A stopped one that runs again is traced anew.) */
static bool container_tracked(struct session *s, const char *id)
{
	for (size_t i = 0; i < s->nconts; i++)
		if (s->conts[i].info.id[0] && !s->conts[i].stopped &&
		    strcmp(s->conts[i].info.id, id) == 0)
			return true;
	return false;
}

static void container_from_info(struct tracked_container *c, const struct container_info *info)
{
	memset(c, 0, sizeof(*c));
	c->info = *info;
	snprintf(c->runtime, sizeof(c->runtime), "%s", container_runtime__name(info->runtime));
	if (info->cgroup_id)
		cgroup2__path_of_id(info->cgroup_id, c->cgpath, sizeof(c->cgpath));
}

static bool wants_container(const struct session *s, const struct container_info *ci)
{
	const struct target_opts *t = s->o.targets;

	if (t->all_containers)
		return true;
	for (int i = 0; i < t->nprojects; i++)
		if (strcmp(ci->project, t->projects[i]) == 0)
			return true;
	return false;
}

/* Under --compose-project/--all-containers: containers that started since the last look join. */
static void scan_containers(struct session *s, bool first)
{
	struct container_info *list = NULL;
	size_t n = 0;
	int err = container_info__list(false, &list, &n);

	if (err) {
		if (first)
			pm_err("cannot list containers: %s", strerror(-err));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct tracked_container c;
		bool py;

		if (!list[i].running || !list[i].cgroup_id || !wants_container(s, &list[i]) ||
		    container_tracked(s, list[i].id))
			continue;
		container_from_info(&c, &list[i]);
		if (!c.cgpath[0])
			continue; /* its cgroup is already gone */
		if (!first && !s->o.quiet)
			fprintf(stderr, "pymac: container %s joined\n", container_label(&c));
		if (track_container(s, &c, &py) == 0 && !py && !s->o.quiet)
			fprintf(stderr,
				"pymac: container %s runs no Python and has none on its PATH; %s\n",
				container_label(&c),
				(s->o.targets->sources & (1u << PM_SOURCE_LIBC))
				    ? "only its libc is traced"
				    : "nothing in it is traced unless a Python starts in it");
	}
	free(list);
}

/* Containers whose cgroup emptied or vanished end their timeline. */
static void check_containers(struct session *s)
{
	for (size_t i = 0; i < s->nconts; i++) {
		struct tracked_container *c = &s->conts[i];
		int pop;

		if (c->stopped)
			continue;
		pop = cgroup2__populated(c->cgpath);
		if (pop == 0 || pop == -ENOENT) {
			c->stopped = true;
			emit_container(s, c, PM_CONTAINER_STOPPED);
			if (!s->o.quiet)
				fprintf(stderr, "pymac: container %s stopped\n",
					container_label(c));
		}
	}
}

/* Does a process in the cgroup run Python, or could one (python3 on its PATH)? */
static bool cgroup_has_python(const char *cgpath)
{
	pid_t *pids = NULL;
	size_t n = 0;
	bool yes = false;

	if (cgroup2__pids(cgpath, &pids, &n))
		return false;
	for (size_t i = 0; i < n && !yes; i++) {
		struct target_proc tp;
		struct target_command tc;

		yes = (target_proc__inspect(pids[i], &tp) == 0 && tp.has_python) ||
		      target_root__find_python(pids[i], &tc) == 0;
	}
	free(pids);
	return yes;
}

/* Resolve --container and --cgroup targets into s->pending; one line and
 * false on a bad one. */
static bool resolve_named_targets(struct session *s)
{
	const struct target_opts *t = s->o.targets;
	bool only_libc = !(s->o.targets->sources & ~NO_PYTHON_NEEDED);

	for (int i = 0; i < t->ncontainers; i++) {
		struct container_info info;
		struct tracked_container c;
		int err = container_info__lookup(t->containers[i], &info);

		if (err == -ENOENT || err == -EINVAL) {
			pm_err("no container named or with id '%s'", t->containers[i]);
			return false;
		}
		if (err) {
			pm_err("cannot look up container '%s': %s (is the Docker engine running?)",
			       t->containers[i], strerror(-err));
			return false;
		}
		if (!info.running) {
			pm_err("container %s (%.12s) is not running", info.name, info.id);
			return false;
		}
		container_from_info(&c, &info);
		if (!info.cgroup_id || !c.cgpath[0]) {
			pm_err("cannot find the cgroup of container %s", info.name);
			return false;
		}
		for (size_t k = 0; k < s->npending; k++)
			if (strcmp(s->pending[k].info.id, info.id) == 0)
				goto next_container;
		if (!only_libc && !cgroup_has_python(c.cgpath)) {
			pm_err(
			    "container %s runs no Python: no process maps an interpreter and "
			    "there is no python3 on its PATH (to trace its libc allocations, use "
			    "--probes libc)",
			    info.name);
			return false;
		}
		s->pending[s->npending++] = c;
	next_container:;
	}
	for (int i = 0; i < t->ncgroups; i++) {
		struct tracked_container c = {};
		struct container_ref ref;
		char cg[CONTAINER_CGPATH_MAX];
		const char *path = t->cgroups[i];
		int err;

		/* accept /sys/fs/cgroup[/unified]/docker/ID as well as /docker/ID */
		if (strncmp(path, "/sys/fs/cgroup/unified/", 23) == 0)
			path += 22;
		else if (strncmp(path, "/sys/fs/cgroup/", 15) == 0)
			path += 14;
		snprintf(cg, sizeof(cg), "%s", path);
		if (strlen(cg) > 1 && cg[strlen(cg) - 1] == '/')
			cg[strlen(cg) - 1] = '\0';
		err = cgroup2__id_of_path(cg, &c.info.cgroup_id);
		if (err) {
			pm_err("no cgroup %s: %s", t->cgroups[i], strerror(-err));
			return false;
		}
		snprintf(c.cgpath, sizeof(c.cgpath), "%s", cg);
		if (container_ref__from_cgroup_path(cg, &ref) == 0 &&
		    ref.runtime != CONTAINER_HOST && container_info__lookup(ref.id, &c.info) == 0) {
			c.info.cgroup_id = 0;
			cgroup2__id_of_path(cg, &c.info.cgroup_id);
			snprintf(c.runtime, sizeof(c.runtime), "%s",
				 container_runtime__name(ref.runtime));
		} else {
			c.bare_cgroup = true;
			snprintf(c.runtime, sizeof(c.runtime), "cgroup");
			snprintf(c.info.name, sizeof(c.info.name), "%.*s",
				 (int)sizeof(c.info.name) - 1, cg);
		}
		s->pending[s->npending++] = c;
	}
	return true;
}

/* ---- life cycle ---- */

struct session *session__new(const struct session_opts *o, int *status)
{
	const struct target_opts *t = o->targets;
	struct session *s = calloc(1, sizeof(*s));
	char err[512];

	*status = 1;
	if (!s) {
		pm_err("out of memory");
		return NULL;
	}
	s->o = *o;
	s->child = -1;
	s->gate = -1;
	s->child_status = -1;
	s->page_size = sysconf(_SC_PAGESIZE);
	s->conts = calloc(CONTAINERS_MAX, sizeof(*s->conts));
	if (!s->conts) {
		pm_err("out of memory");
		goto fail;
	}
	/* Check what can be checked before loading anything. */
	for (int i = 0; i < t->npids; i++) {
		struct target_proc tp;
		int e = target_proc__inspect(t->pids[i], &tp);

		if (e == -ENOENT || e == -ESRCH) {
			pm_err("no process with pid %d", t->pids[i]);
			goto fail;
		}
		if (e) {
			pm_err("cannot inspect pid %d: %s", t->pids[i], strerror(-e));
			goto fail;
		}
		if (!tp.has_python && (t->sources & ~NO_PYTHON_NEEDED)) {
			pm_err(
			    "pid %d (%s) is not a Python process: it maps no libpython or python "
			    "executable defining PyObject_Malloc (to trace its libc allocations, "
			    "use --probes libc)",
			    t->pids[i], tp.comm);
			goto fail;
		}
	}
	if (!resolve_named_targets(s))
		goto fail;
	if (t->command) {
		if (target_command__resolve(t->command[0], &s->tc, err, sizeof(err))) {
			pm_err("%s", err);
			*status = 127;
			goto fail;
		}
		if (!s->tc.has_python && t->sources_given && (t->sources & ~NO_PYTHON_NEEDED) &&
		    !o->quiet)
			pm_err("%s is not a Python interpreter; the Python sources attach when a "
			       "traced child runs one",
			       s->tc.exe);
	}

	struct probes_opts popts = {
	    .sample = t->sample_duty > 0,
	    .sources = t->sources,
	    .ringbuf_bytes = t->ringbuf_bytes,
	    .filter_cgroups = t->ncontainers || t->nprojects || t->ncgroups || t->all_containers,
	};
	/*
	 * Containers' processes are not known in advance (their uprobes fire
	 * in every process of the file, the cgroup filter is in BPF). With
	 * --pid-filter, each process gets uprobes that fire in it alone, so
	 * other processes of the same file (other containers of the same
	 * image) never trap; but a child, or a process that starts in a
	 * container, is attached only once it shows up, so it is opt-in: by
	 * default a traced process's children are seen from their fork, and
	 * a container's new processes from their first instruction.
	 */
	s->pid_links = t->pid_filter;
	s->probes = probes__open(&popts, err, sizeof(err));
	if (!s->probes) {
		pm_err("%s", err);
		goto fail;
	}
	feed__init(&s->feed);
	s->watcher.record = watcher_record;
	feed__add(&s->feed, "the session's watcher", &s->watcher, FEED_ESSENTIAL);
	s->consumer = consumer__new(probes__ringbuf_fd(s->probes), &s->feed.base);
	if (!s->consumer) {
		pm_err("cannot open the ring buffer: %s", strerror(errno));
		goto fail;
	}
	consumer__set_budget(s->consumer, o->poll_budget);
	return s;
fail:
	session__free(s);
	return NULL;
}

void session__free(struct session *s)
{
	if (!s)
		return;
	if (s->gate >= 0)
		close(s->gate); /* the gated child exits 127 without running */
	/* the sinks may be closed by now: windows not yet in the stream are
	 * dropped (session__drain has put them there) */
	sampler_stop(s, false);
	consumer__free(s->consumer);
	probes__free(s->probes);
	free(s->conts);
	u64map__free(&s->lost);
	free(s);
}

void session__add_sink(struct session *s, const char *name, struct pm_sink *sink, unsigned flags)
{
	/* the commands add at most a handful */
	if (feed__add(&s->feed, name, sink, flags))
		pm_err("internal error: too many outputs for one session (%s left out)", name);
}

void session__fail_sink(struct session *s, struct pm_sink *sink, int err)
{
	feed__fail(&s->feed, sink, err);
}

int session__sink_error(const struct session *s, const struct pm_sink *sink)
{
	return feed__sink_error(&s->feed, sink);
}

const char *session__first_sink_error(const struct session *s, int *err)
{
	const struct feed_sink *fs = feed__first_error(&s->feed, err);

	return fs ? fs->name : NULL;
}

int session__finish(struct session *s)
{
	return feed__finish(&s->feed);
}

int session__report_sink_errors(const struct session *s, const struct pm_sink *skip)
{
	int n = 0;

	for (int i = 0; i < s->feed.n; i++) {
		const struct feed_sink *fs = &s->feed.s[i];

		if (!fs->err || fs->sink == skip)
			continue;
		pm_err("%s: %s%s", fs->name, strerror(-fs->err),
		       fs->flags & FEED_ESSENTIAL ? "; tracing stopped" : "; it was left out");
		n++;
	}
	return n;
}

void session__meta(struct session *s, const char *key, const char *value)
{
	struct pm_record rec = {.type = PM_REC_META};

	rec.meta.key = key;
	rec.meta.value = value;
	emit(s, &rec);
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
		/* Capabilities pymac was given to trace are not the command's:
		 * an ambient set would survive the exec. */
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "pymac: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	*gate_fd = fds[1];
	return pid;
}

int session__start(struct session *s)
{
	const struct target_opts *t = s->o.targets;

	session__meta(s, "mode", t->footprint ? "footprint" : "full");

	if (s->o.targets->command) {
		struct target_proc tp = {};
		const char *base =
		    strrchr(s->tc.exe, '/') ? strrchr(s->tc.exe, '/') + 1 : s->tc.exe;

		s->child = spawn_gated(s->o.targets->command, &s->gate);
		if (s->child < 0) {
			pm_err("cannot start %s: %s", s->o.targets->command[0], strerror(errno));
			return 1;
		}
		probes__trace_pid(s->probes, s->child);
		s->targets[s->ntargets++] = s->child;
		tp.pid = s->child;
		tp.ppid = getpid();
		snprintf(tp.comm, sizeof(tp.comm), "%.15s", base);
		snprintf(tp.exe, sizeof(tp.exe), "%s", s->tc.exe);
		tp.cgroup_id = target_cgroup_id(getpid());
		tp.has_python = s->tc.has_python;
		tp.python = s->tc.python;
		snprintf(tp.python_version, sizeof(tp.python_version), "%s", s->tc.python_version);
		tp.has_libc = s->tc.has_libc;
		tp.libc = s->tc.libc;
		emit_process(s, &tp, false);
		attach_process(s, &tp);
	}
	for (int i = 0; i < t->npids; i++) {
		struct target_proc tp;

		if (target_proc__inspect(t->pids[i], &tp)) {
			pm_err("pid %d exited before pymac could attach", t->pids[i]);
			continue;
		}
		probes__trace_pid(s->probes, tp.pid);
		s->targets[s->ntargets++] = tp.pid;
		emit_process(s, &tp, true);
		attach_process(s, &tp);
	}
	for (size_t i = 0; i < s->npending; i++) {
		bool py;

		if (container_tracked(s, s->pending[i].info.id) && s->pending[i].info.id[0])
			continue;
		if (track_container(s, &s->pending[i], &py))
			return 1;
	}
	if (t->nprojects || t->all_containers) {
		scan_containers(s, true);
		if (!s->nconts && !s->o.quiet)
			fprintf(stderr, "pymac: no matching container is running yet; waiting for "
					"one to start\n");
	}
	if (!s->o.quiet) {
		char what[128];

		if (s->o.targets->command)
			snprintf(what, sizeof(what), "%s (pid %d)", s->o.targets->command[0],
				 s->child);
		else
			what[0] = '\0';
		fprintf(stderr, "pymac: tracing %s%s", what, what[0] && s->nconts ? " and " : "");
		if (s->nconts)
			fprintf(stderr, "%zu container%s", s->nconts, s->nconts == 1 ? "" : "s");
		if (t->npids)
			fprintf(stderr, "%s%d process%s", (what[0] || s->nconts) ? " and " : "",
				t->npids, t->npids == 1 ? "" : "es");
		if (!what[0] && !s->nconts && !t->npids)
			fprintf(stderr, "nothing yet");
		fprintf(stderr, ", %zu probes attached%s\n", probes__link_count(s->probes),
			s->o.targets->command ? "" : "; Ctrl-C to stop");
	}
	if (t->sample_duty > 0) {
		int err = sampler_start(s);

		if (err) {
			pm_err("cannot start sampling: %s", strerror(-err));
			return 1;
		}
	}
	if (s->gate >= 0) {
		if (write(s->gate, "g", 1) != 1) {
			pm_err("cannot start %s: %s", s->o.targets->command[0], strerror(errno));
			return 1;
		}
		close(s->gate);
		s->gate = -1;
	}
	unsigned long long now = pm_now_ns();
	s->next_lost = now + LOST_INTERVAL_NS;
	s->next_cgcheck = now + CGROUP_CHECK_NS;
	s->next_scan = now + CONTAINER_SCAN_NS;
	return 0;
}

/*
 * A child forked by a traced process is traced by BPF from its fork, but
 * uprobes made for its parent's pid do not fire in it: give it its own as
 * soon as it shows up. What it does before then is not seen (a child that
 * execs a new program is attached again once its libraries are mapped).
 */
/* Has the process been attached (its uprobes made)? */
static bool attached_pid(const struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nreported; i++)
		if (s->reported[i].pid == pid)
			return true;
	return false;
}

static void follow_pid(struct session *s, pid_t pid)
{
	struct target_proc tp;

	if (attached_pid(s, pid) || target_proc__inspect(pid, &tp))
		return;
	if (!known_pid(s, pid))
		emit_process(s, &tp, true);
	attach_process(s, &tp);
}

static void follow_children(struct session *s)
{
	pid_t pids[256];
	int n = probes__traced_pids(s->probes, pids, sizeof(pids) / sizeof(pids[0]));

	for (int i = 0; i < n; i++)
		follow_pid(s, pids[i]);
	/* a container's processes: pid-filtered uprobes do not follow them
	 * either (those that exec are attached by their rescan as well) */
	for (size_t c = 0; c < s->nconts; c++) {
		pid_t *cp = NULL;
		size_t cn = 0;

		if (s->conts[c].stopped || cgroup2__pids(s->conts[c].cgpath, &cp, &cn))
			continue;
		for (size_t i = 0; i < cn; i++)
			follow_pid(s, cp[i]);
		free(cp);
	}
}

static bool any_pid_alive(struct session *s)
{
	for (int i = 0; i < s->ntargets; i++)
		if (s->targets[i] != s->child && (kill(s->targets[i], 0) == 0 || errno == EPERM))
			return true;
	return false;
}

/*
 * Footprint: what each known process has resident, as an event in the
 * stream. statm is the cheapest place to read it (one short line); its
 * "shared" is the file-backed and shmem part, so the rest is anonymous.
 */
static void sample_rss(struct session *s)
{
	for (size_t i = 0; i < s->nknown; i++) {
		char path[64], *buf;
		unsigned long long size, resident, shared;
		struct pm_record rec = {.type = PM_REC_EVENT};
		size_t len;
		int fields;

		snprintf(path, sizeof(path), "/proc/%d/statm", s->known[i]);
		if (pm_read_file(path, 0, 4096, &buf, &len))
			continue; /* gone: its exit record is on its way */
		fields = sscanf(buf, "%llu %llu %llu", &size, &resident, &shared);
		free(buf);
		if (fields != 3)
			continue;
		if (!s->known_cg[i])
			s->known_cg[i] = target_cgroup_id(s->known[i]);
		rec.ev.ts_ns = pm_now_ns();
		rec.ev.cgroup_id = s->known_cg[i];
		rec.ev.pid = rec.ev.tid = (uint32_t)s->known[i];
		rec.ev.kind = PM_RSS;
		rec.ev.rss.rss = resident * (uint64_t)s->page_size;
		rec.ev.rss.anon =
		    (resident > shared ? resident - shared : 0) * (uint64_t)s->page_size;
		emit(s, &rec);
	}
}

/* ---- sampling (--sample-duty) ---- */

struct sample_window {
	uint64_t start, end;
};

/*
 * A thread that arms the allocation probes for one window in every
 * period and disarms them again: windows of a few milliseconds need a
 * clock finer than the session's poll, and closing links waits for the
 * kernel (tens of ms), which must not hold up reading the ring buffer.
 * Each window starts at a random point of its period, so a workload that
 * repeats itself every period is not always seen at the same phase.
 */
struct sampler {
	struct probes *probes;
	uint64_t period_ns, window_ns;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	unsigned seed;
	/* finished windows the session has not put in the stream yet */
	struct sample_window *done;
	size_t ndone, capdone;
	uint64_t windows;
	uint64_t arm_ns_max, disarm_ns_max; /* what arming and disarming took */
};

/* Sleep until deadline (CLOCK_MONOTONIC ns) or a stop. true: stop. */
static bool sampler_wait(struct sampler *sp, uint64_t deadline)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
			      .tv_nsec = (long)(deadline % 1000000000ull)};
	bool stop;

	pthread_mutex_lock(&sp->mu);
	while (!sp->stop && pm_now_ns() < deadline)
		if (pthread_cond_timedwait(&sp->cv, &sp->mu, &ts) == ETIMEDOUT)
			break;
	stop = sp->stop;
	pthread_mutex_unlock(&sp->mu);
	return stop;
}

static void sampler_push(struct sampler *sp, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&sp->mu);
	if (sp->ndone == sp->capdone) {
		size_t cap = sp->capdone ? sp->capdone * 2 : 16;
		void *n = realloc(sp->done, cap * sizeof(*sp->done));

		if (!n) {
			/* a window missing from the trace would be counted as unarmed
			 * time: say so rather than scale wrongly */
			pthread_mutex_unlock(&sp->mu);
			pm_err("sampling: out of memory; a window is missing from the trace");
			return;
		}
		sp->done = n;
		sp->capdone = cap;
	}
	sp->done[sp->ndone++] = (struct sample_window){start, end};
	sp->windows++;
	pthread_mutex_unlock(&sp->mu);
}

static void *sampler_main(void *arg)
{
	struct sampler *sp = arg;
	uint64_t slot = pm_now_ns();

	for (;;) {
		uint64_t span = sp->period_ns > sp->window_ns ? sp->period_ns - sp->window_ns : 0;
		uint64_t r = ((uint64_t)rand_r(&sp->seed) << 31) ^ (uint64_t)rand_r(&sp->seed);
		uint64_t at = slot + (span ? r % span : 0), a0, a1, d0, d1, on, off;
		bool stop;

		slot += sp->period_ns;
		if (sampler_wait(sp, at))
			break;
		/* the window is the armed time as probes__sample measures it,
		 * not the calls' (disarming returns long after the probes are
		 * gone) */
		a0 = pm_now_ns();
		probes__sample(sp->probes, true, &on);
		a1 = pm_now_ns();
		stop = sampler_wait(sp, on + sp->window_ns);
		d0 = pm_now_ns();
		probes__sample(sp->probes, false, &off);
		d1 = pm_now_ns();
		sampler_push(sp, on, off > on ? off : on);
		if (a1 - a0 > sp->arm_ns_max)
			sp->arm_ns_max = a1 - a0;
		if (d1 - d0 > sp->disarm_ns_max)
			sp->disarm_ns_max = d1 - d0;
		if (getenv("PYMAC_DEBUG"))
			fprintf(stderr,
				"pymac: sample window %" PRIu64 " +%.3f ms: armed in %.3f ms, "
				"disarmed in %.3f ms\n",
				on, (off - on) / 1e6, (a1 - a0) / 1e6, (d1 - d0) / 1e6);
		if (stop)
			break;
		/* a disarm that took longer than a period: start from now */
		if (slot + sp->period_ns < pm_now_ns())
			slot = pm_now_ns();
	}
	return NULL;
}

/* Put the finished windows in the stream (from the session's thread: the
 * sinks are not shared with the sampler). */
static void sampler_emit(struct session *s)
{
	struct sampler *sp = s->sampler;
	struct sample_window w[64];
	size_t n;

	if (!sp)
		return;
	do {
		pthread_mutex_lock(&sp->mu);
		n = sp->ndone < 64 ? sp->ndone : 64;
		memcpy(w, sp->done, n * sizeof(*w));
		memmove(sp->done, sp->done + n, (sp->ndone - n) * sizeof(*w));
		sp->ndone -= n;
		pthread_mutex_unlock(&sp->mu);
		for (size_t i = 0; i < n; i++) {
			char v[64];

			snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64, w[i].start, w[i].end);
			session__meta(s, "sample_window", v);
		}
	} while (n == 64);
}

static int sampler_start(struct session *s)
{
	const struct target_opts *t = s->o.targets;
	struct sampler *sp = calloc(1, sizeof(*sp));
	pthread_condattr_t ca;
	char v[64];
	int err;

	if (!sp)
		return -ENOMEM;
	sp->probes = s->probes;
	sp->period_ns = (uint64_t)(t->sample_period * 1e9);
	sp->window_ns = (uint64_t)(t->sample_duty * t->sample_period * 1e9);
	sp->seed = (unsigned)(pm_now_ns() ^ (uint64_t)getpid());
	pthread_mutex_init(&sp->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(v, sizeof(v), "%.6g", t->sample_duty);
	session__meta(s, "sample_duty", v);
	snprintf(v, sizeof(v), "%" PRIu64, sp->period_ns);
	session__meta(s, "sample_period_ns", v);
	err = pthread_create(&sp->tid, NULL, sampler_main, sp);
	if (err) {
		pthread_cond_destroy(&sp->cv);
		pthread_mutex_destroy(&sp->mu);
		free(sp);
		return -err;
	}
	s->sampler = sp;
	if (!s->o.quiet)
		fprintf(stderr,
			"pymac: sampling: allocation probes (%zu sites) armed %.3g ms in every "
			"%.3g s (%.3g%%); GC is traced throughout; counts are estimates\n",
			probes__sampled_sites(s->probes), sp->window_ns / 1e6, sp->period_ns / 1e9,
			t->sample_duty * 100);
	return 0;
}

/* Stop the windows (an open one ends now) and put them all in the stream. */
static void sampler_stop(struct session *s, bool emit_windows)
{
	struct sampler *sp = s->sampler;

	if (!sp)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->stop = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->tid, NULL);
	if (emit_windows)
		sampler_emit(s);
	if (getenv("PYMAC_DEBUG"))
		fprintf(stderr,
			"pymac: sampling: %" PRIu64 " windows, arming took up to %.3f ms, "
			"disarming up to %.3f ms\n",
			sp->windows, sp->arm_ns_max / 1e6, sp->disarm_ns_max / 1e6);
	pthread_cond_destroy(&sp->cv);
	pthread_mutex_destroy(&sp->mu);
	free(sp->done);
	free(sp);
	s->sampler = NULL;
}

/*
 * How long a poll may wait: no longer than the next look after an exec.
 * Allocation records no longer wake the consumer one by one, so a poll
 * waits its whole timeout while a new program runs, and a program that
 * lives 40 ms could end before its interpreter was attached.
 */
static int poll_timeout(const struct session *s, int timeout_ms)
{
	unsigned long long now = pm_now_ns();

	if (s->detached)
		return timeout_ms;
	for (size_t i = 0; i < s->nrescans; i++) {
		unsigned long long next = s->rescans[i].next;
		int ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);

		if (ms < timeout_ms)
			timeout_ms = ms;
	}
	/* the same for the poll that finds children of pid-filtered targets */
	if (s->pid_links) {
		int ms =
		    s->next_pidpoll <= now ? 0 : (int)((s->next_pidpoll - now + 999999) / 1000000);

		if (ms < timeout_ms)
			timeout_ms = ms;
	}
	return timeout_ms;
}

int session__step(struct session *s, int timeout_ms)
{
	const struct target_opts *t = s->o.targets;
	int n = consumer__poll(s->consumer, poll_timeout(s, timeout_ms));

	if (n < 0 && n != -EINTR) {
		pm_err("reading the ring buffer: %s", strerror(-n));
		return n;
	}
	unsigned long long now = pm_now_ns();
	if (s->feed.stop_err)
		return s->feed.stop_err;
	inspect_new_pids(s);
	sampler_emit(s);
	if (s->nrescans && !s->detached)
		run_rescans(s);
	if (s->pid_links && !s->detached && now >= s->next_pidpoll) {
		follow_children(s);
		s->next_pidpoll = now + PIDPOLL_NS;
	}
	if ((t->sources & (1u << PM_SOURCE_FOOTPRINT)) && !s->detached && now >= s->next_rss) {
		sample_rss(s);
		s->next_rss = now + RSS_INTERVAL_NS;
	}
	if (now >= s->next_lost) {
		probes__lost_foreach(s->probes, lost_cb, s);
		s->next_lost = now + LOST_INTERVAL_NS;
	}
	if (s->nconts && now >= s->next_cgcheck) {
		check_containers(s);
		s->next_cgcheck = now + CGROUP_CHECK_NS;
	}
	if ((t->nprojects || t->all_containers) && now >= s->next_scan && !s->detached) {
		scan_containers(s, false);
		s->next_scan = now + CONTAINER_SCAN_NS;
	}
	if (s->child > 0 && !s->child_done) {
		int st;

		if (waitpid(s->child, &st, WNOHANG) == s->child) {
			s->child_done = true;
			s->child_status = WIFEXITED(st)	    ? WEXITSTATUS(st)
					  : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
							    : 1;
		}
	}
	/* With a command, the session lasts as long as the command. */
	if (s->child > 0)
		return s->child_done;
	/* Selectors that take containers as they come never end by themselves. */
	if (t->nprojects || t->all_containers)
		return 0;
	if (any_pid_alive(s))
		return 0;
	for (size_t i = 0; i < s->nconts; i++)
		if (!s->conts[i].stopped)
			return 0;
	return 1;
}

bool session__signal(struct session *s, int sig)
{
	if (s->child <= 0 || s->child_done)
		return true;
	/*
	 * The terminal already sent SIGINT to the whole process group; other
	 * signals are passed on. pymac waits for the command to end, unless
	 * told three times.
	 */
	if (sig != SIGINT)
		kill(s->child, sig);
	return ++s->forwarded >= 3;
}

void session__stop_command(struct session *s)
{
	if (s->child > 0 && !s->child_done)
		kill(s->child, SIGTERM);
}

void session__detach(struct session *s)
{
	sampler_stop(s, true);
	probes__detach(s->probes);
	s->detached = true;
}

void session__drain(struct session *s)
{
	/*
	 * Detach first: a target that allocates flat out could otherwise refill
	 * the ring buffer as fast as it is read, and the drain would not end.
	 * Everything before this moment is in the ring buffer (or counted lost).
	 */
	session__detach(s);
	consumer__drain(s->consumer);
	inspect_new_pids(s);
	probes__lost_foreach(s->probes, lost_cb, s);
	if (s->nconts)
		check_containers(s);
}

uint64_t session__events(const struct session *s)
{
	return consumer__events(s->consumer);
}

uint64_t session__lost(const struct session *s)
{
	return probes__lost_total(s->probes);
}

int session__command_status(const struct session *s)
{
	return s->child_done ? s->child_status : -1;
}
