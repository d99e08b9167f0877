/* SPDX-License-Identifier: MIT */
/*
 * The session's insides (feed/session.h), shared by session.c (its life
 * cycle and its steps), session_opts.c (the target options),
 * session_procs.c (processes: describing, attaching, following exec),
 * session_containers.c (containers joining and stopping) and
 * session_sample.c (--sample-duty windows). Not for other pieces.
 */
#ifndef PYMAC_SESSION_IMPL_H
#define PYMAC_SESSION_IMPL_H

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
#include "trace/rotate.h"
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
	/* --compose-project/--all-containers: the Engine's events stream (NULL:
	 * only the looks once a second), and the wanted containers it saw
	 * start that have not joined (yet), to say how long a missed one ran */
	struct container_events *events;
	struct {
		char id[CONTAINER_ID_LEN + 1];
		uint64_t start_rt; /* CLOCK_REALTIME ns */
	} starts[64];
	size_t nstarts, next_start;
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
	uint64_t rss_samples; /* events made here, not in the ring buffer: counted with its */
	long page_size;
	struct sampler *sampler; /* --sample-duty, from session__start to detach */
	/* the tracing window (session__end_window): open from window_start_ns
	 * (0: not yet) to window_end_ns (0: still open) */
	uint64_t window_start_ns, window_end_ns;
	struct trace_writer *trace; /* session__open_trace's: gets the window's start */
	struct trace_rotor *rotor;  /* or session__open_rotating_trace's */
	int command_out[2];	    /* session__command_output's, or -1: pymac's own */
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

struct sample_window {
	uint64_t start, end;
};

int ss_emit(struct session *s, const struct pm_record *rec);
bool ss_known_pid(struct session *s, pid_t pid);
void ss_emit_process(struct session *s, const struct target_proc *tp, enum pm_proc_origin origin);
int ss_attach_process(struct session *s, const struct target_proc *tp);
void ss_run_rescans(struct session *s);
void ss_inspect_new_pids(struct session *s);
int ss_track_container(struct session *s, struct tracked_container *c, bool *has_python);
bool ss_container_tracked(struct session *s, const char *id);
void ss_scan_containers(struct session *s, bool first);
void ss_check_containers(struct session *s);
/* Why a missed container was missed (stderr, and the summary). */
#define PM_MISSED_WHY "it ended before pymac could attach to it"
/* Under --compose-project/--all-containers: follow the engine's events. */
void ss_open_container_events(struct session *s);
/* Wait up to timeout_ms for records or container events (0 at once). */
int ss_wait(struct session *s, int timeout_ms);
/* Containers that started join now; wanted ones that ended unseen are said. */
void ss_read_container_events(struct session *s);
bool ss_resolve_named_targets(struct session *s);
void ss_follow_children(struct session *s);
bool ss_any_pid_alive(struct session *s);
void ss_sample_rss(struct session *s);
void ss_sampler_emit(struct session *s);
int ss_sampler_start(struct session *s);
void ss_sampler_stop(struct session *s, bool emit_windows);
/* The watcher: the feed's first sink, which notes exec, exit and new pids. */
int ss_watcher_record(struct pm_sink *sink, const struct pm_record *rec);
/* A lost count from the BPF map, into the stream when it grew. */
void ss_lost_cb(void *ctx, uint32_t pid, uint32_t kind, uint64_t count);

#endif /* PYMAC_SESSION_IMPL_H */
