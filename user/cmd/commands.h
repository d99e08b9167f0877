/* SPDX-License-Identifier: MIT */
/* pymac's subcommands. Each takes the arguments after its name (argv[0] is
 * the subcommand) and returns the process exit status. */
#ifndef PYMAC_COMMANDS_H
#define PYMAC_COMMANDS_H

#include <argp.h>
#include <stdbool.h>
#include "util/clock.h"
#include "util/msg.h"

/* Bad usage: an unknown command or option, a missing argument (EX_USAGE,
 * as argp's own errors; docs/user-guide.md, "Exit status"). */
#define PM_EXIT_USAGE 64

int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_live(int argc, char **argv);
/* The view options `live` and `replay --view timeline` share: --lines,
 * --interval, --stats (an argp child; it sets the defaults itself). */
struct view_opts {
	bool lines, stats;
	double interval; /* seconds between --lines */
};
extern const struct argp timeline_view_argp;
/* `replay --view timeline`: the live view fed from a trace (speed 0: as
 * fast as possible). Returns the exit status. */
int timeline_replay(const char *path, const struct view_opts *v, double speed);
int cmd_ps(int argc, char **argv);

/* ---- where `live -- COMMAND` sends the command's output (live_output.c) ---- */
struct session;
struct live_output {
	int fd;		 /* the file's, or -1 */
	char path[4096]; /* the file, or "" */
};
/* For the command of s (lo->fd -1 and lo->path "" before): decide from the
 * view (full_screen) and where stdout and stderr go, open the file if one is
 * needed (path: --command-output, or NULL), say where the output goes, and
 * tell s. 0, or -1 after saying why. */
int live_output__open(struct live_output *lo, const char *path, bool full_screen,
		      struct session *s);
/* Close the file; say: say again where the output is (the screen hid it). */
void live_output__close(struct live_output *lo, bool say);

/* ---- the commands' loops (loop.c) ---- */
struct session;
struct trace_writer;
/* Catch SIGINT and SIGTERM (and SIGHUP with hup) for cmd_take_stop_signal. */
void cmd_catch_stop_signals(bool hup);
/* The stop signal that arrived since the last call, or 0. */
int cmd_take_stop_signal(void);
/* When --duration ends the loop: that long after the session's tracing
 * window opened (0: it does not). The window ends there at the latest. */
unsigned long long cmd_deadline_ns(struct session *s, double duration);
/* A poll's timeout: ms, or less so that the loop wakes at the deadline. */
int cmd_poll_ms(unsigned long long deadline, int ms);
/* Has the deadline come (at now)? Then the window is closed, at the
 * deadline's time: a loop that woke late records nothing past it. */
bool cmd_deadline_reached(struct session *s, unsigned long long deadline, unsigned long long now);
/*
 * The periodic flush of the trace a session feeds: 0, or the error that
 * stopped the recording. An append that failed in the feed dropped the
 * writer there; a flush that fails here drops it too. The writer stays open
 * until the feed is done with it.
 */
int cmd_flush_trace(struct session *s, struct trace_writer *w, uint64_t now_ns,
		    uint64_t max_age_ns);

/* A recording's trace as its end sees it: a writer, or a rotor (record
 * --rotate-mb), or none (sink NULL). */
struct pm_sink;
struct trace_rotor;
struct pm_end;
struct cmd_trace {
	struct pm_sink *sink;
	int (*close)(void *h, const struct pm_end *end);
	void *h;
	bool rotates; /* files may have been finished before this one */
};
struct cmd_trace cmd_trace_of_writer(struct trace_writer *w);
struct cmd_trace cmd_trace_of_rotor(struct trace_rotor *r);

/*
 * The end of a recording: close the window, drain, finish the sinks, say
 * what failed, close the trace t (write_err: its writing had stopped on
 * it, said when it happened) and say what was written and lost.
 * end_sink (NULL: none), one of the session's sinks, gets the END record
 * a trace file would hold, before the sinks finish: a summary fed straight
 * from the session is then complete as a replay's is.
 * 1 when the trace is incomplete, else 0.
 */
int cmd_end_recording(struct session *s, const struct cmd_trace *t, const char *output,
		      int write_err, struct pm_sink *end_sink);

int cmd_run(int argc, char **argv);

#endif /* PYMAC_COMMANDS_H */
