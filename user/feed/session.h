/* SPDX-License-Identifier: MIT */
/*
 * A tracing session: the targets a user named (a command, pids, containers,
 * compose projects, cgroups), the probes attached to them, and the stream of
 * records that comes out. `record` feeds the stream to a trace file; `live`
 * feeds the same stream to its views. Everything about finding, attaching,
 * following (fork, exec, containers that start and stop) lives here.
 */
#ifndef PYMAC_SESSION_H
#define PYMAC_SESSION_H

#include <argp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "feed/feed.h"
#include "feed/record.h"

struct trace_writer;

#define SESSION_MAX_TARGETS 64

/* What to trace and how, as given on the command line. */
struct target_opts {
	char **command;	  /* NULL-terminated argv after "--", or NULL (session_split_command) */
	unsigned sources; /* PM_SOURCES_* mask */
	bool sources_given;
	double duration; /* seconds; 0: until the targets end or a signal */
	size_t ringbuf_bytes;
	pid_t pids[SESSION_MAX_TARGETS];
	int npids;
	const char *containers[SESSION_MAX_TARGETS]; /* names or ids */
	int ncontainers;
	const char *projects[SESSION_MAX_TARGETS]; /* compose project names */
	int nprojects;
	const char *cgroups[SESSION_MAX_TARGETS]; /* cgroup v2 paths */
	int ncgroups;
	bool all_containers;
	bool pid_filter; /* --pid-filter: uprobes that fire only in the traced pids */
	bool footprint;	 /* --mode footprint */
	/* --sample-duty: the share of time the allocation probes are armed
	 * (0: always), in windows of sample_duty * sample_period seconds */
	double sample_duty;
	double sample_period;
};

/*
 * The target options (-p, --container, --compose-project, --cgroup,
 * --all-containers) and the tracing options (--probes, --duration,
 * --ringbuf-mb) as an argp child: a command puts it in its argp children
 * and sets state->child_inputs[0] to its struct target_opts at
 * ARGP_KEY_INIT. Its end check wants a command or a target.
 */
extern const struct argp session_target_argp;
/* Split argv at the first "--": returns the command after it (or NULL), and
 * shortens *argc so that argp sees only what comes before. */
char **session_split_command(int *argc, char **argv);
/* Does opts name any target besides a command? */
bool target_opts__any(const struct target_opts *t);

struct session_opts {
	const struct target_opts *targets;
	bool quiet;
	unsigned poll_budget; /* most records per session__step (0: no limit) */
};

struct session;
struct pm_stream;

/*
 * Check the targets and load the BPF programs. Nothing is attached and
 * nothing runs yet. On error, prints one line and returns NULL with
 * *status set to the exit status to use.
 */
struct session *session__new(const struct session_opts *o, int *status);
void session__free(struct session *s);

/*
 * Every record from now on also goes to sink (in the order sinks are added),
 * through the session's feed (feed/feed.h): a sink whose record() fails is
 * dropped and its error kept under name; with FEED_ESSENTIAL its failure
 * also ends the session (session__step returns the error). The sink's
 * object stays the caller's, to free after session__free.
 */
void session__add_sink(struct session *s, const char *name, struct pm_sink *sink, unsigned flags);
/* A sink that writes to out (feed__add_output). */
void session__add_output(struct session *s, const char *name, struct pm_sink *sink, unsigned flags,
			 const struct pm_stream *out);
/* Drop sink as if it had failed with err (e.g. its flush failed). */
void session__fail_sink(struct session *s, struct pm_sink *sink, int err);
/* Its error since it was dropped, or 0 while it is fed. */
int session__sink_error(const struct session *s, const struct pm_sink *sink);
/* The name of the first sink that failed (NULL: none), and its error. */
const char *session__first_sink_error(const struct session *s, int *err);
/* Say, one line each, what went wrong with the sinks that failed (skip:
 * one whose failure the caller said itself). Returns how many failed. */
int session__report_sink_errors(const struct session *s, const struct pm_sink *skip);
/* After session__drain: finish() every sink still fed. 0, or the error of
 * an essential sink. */
int session__finish(struct session *s);
/* Put a META record in the stream. */
void session__meta(struct session *s, const char *key, const char *value);
/*
 * Create a trace file (0600; owned by the sudo user under sudo), add it as a
 * sink (flags as for session__add_sink; its name is its path) and write
 * pymac's version into it. NULL after printing why.
 */
struct trace_writer *session__open_trace(struct session *s, const char *path, unsigned flags);
/* The same, as a trace that rotates at max_bytes (0: never) and keeps
 * keep rotated files (trace/rotate.h). NULL after printing why. */
struct trace_rotor;
struct trace_rotor *session__open_rotating_trace(struct session *s, const char *path,
						 unsigned flags, uint64_t max_bytes, unsigned keep);

/* Before session__start: the command's standard output and error are
 * these descriptors (live keeps them off its view), not pymac's own. */
void session__command_output(struct session *s, int out_fd, int err_fd);

/*
 * Attach to the targets and start the command. 0, or an exit status after
 * printing why.
 */
int session__start(struct session *s);

/*
 * Consume events for up to timeout_ms, then look after the targets
 * (processes that exec, containers that start or stop, lost counters).
 * 0: go on; 1: every target has ended; <0: error (printed).
 */
int session__step(struct session *s, int timeout_ms);

/* A stop signal arrived. true when the session should end now; SIGINT is
 * not passed on to a command (the terminal sent it to it), others are, and
 * pymac ends after the third. */
bool session__signal(struct session *s, int sig);

/* Send SIGTERM to the command if it still runs (live ends it when quit). */
void session__stop_command(struct session *s);

/*
 * The tracing window: every probe family is on from its start to its end,
 * switched in BPF at one instant each (docs/design.md). It opens at the end
 * of session__start, once the probes of the targets known then are
 * attached (CLOCK_MONOTONIC ns; 0 before), and --duration counts from
 * there. session__end_window closes it: no event stamped after now, or
 * after at_ns if that is earlier and not 0 (the deadline that the caller
 * noticed late), reaches the sinks: the window is [start, end).
 * session__window_ends_at says beforehand where it will end at the latest
 * (--duration), so that no event past it is fed even before the caller
 * notices the time. session__detach closes it first, if the caller did
 * not. session__window_end_ns: when it closed, or now while it is open;
 * the time of the trace's END record.
 */
uint64_t session__window_start_ns(const struct session *s);
void session__end_window(struct session *s, uint64_t at_ns);
void session__window_ends_at(struct session *s, uint64_t at_ns);
uint64_t session__window_end_ns(const struct session *s);

/*
 * Stop tracing: detach every probe, so the targets run as if pymac were
 * gone. session__step still waits for the command (and forwards signals).
 */
void session__detach(struct session *s);

/* Detach, then read whatever is left in the ring buffer (at most its size)
 * and the final lost counts. */
void session__drain(struct session *s);

uint64_t session__events(const struct session *s);
/* How many probes are attached now (the number `pymac: tracing` says). */
size_t session__probes_attached(const struct session *s);
uint64_t session__lost(const struct session *s);
/* Collections the GC probes could not read (their build's GC state failed
 * its layout's check: attach/probe_gc.c). */
uint64_t session__gc_layout_misses(const struct session *s);
/* The command's exit status as a shell reports it, or -1 if it has not ended (or none). */
int session__command_status(const struct session *s);

#endif /* PYMAC_SESSION_H */
