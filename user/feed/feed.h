/* SPDX-License-Identifier: MIT */
/*
 * The one feed: records from a source (a session's ring buffer, or a trace
 * file) handed to sinks, in the order they were added, with one policy for
 * errors, shared by live and replay.
 *
 * The feed owns the sinks' place in the stream: a sink gets records from
 * feed__add until the feed finishes it or drops it, and nobody else calls
 * it. A sink whose record() fails is dropped at once (it gets nothing more,
 * not even finish) and its error is kept with its name; the feed goes on
 * for the others. A sink added FEED_ESSENTIAL stops the feed when it
 * fails: feed__record returns its error then. Either way the command asks
 * feed__error at the end and tells the user, so a sink's error always
 * reaches them. The sink's object stays its creator's, freed after the
 * feed is done with it.
 */
#ifndef PYMAC_FEED_H
#define PYMAC_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include "feed/record.h"

#define FEED_SINKS_MAX 8

enum feed_flags {
	FEED_OPTIONAL = 0,  /* its failure drops it; the others go on */
	FEED_ESSENTIAL = 1, /* its failure stops the feed */
};

struct trace_reader;
struct pm_stream;

struct feed_sink {
	struct pm_sink *sink;
	const char *name; /* for messages: "the event listing to standard output", ... */
	unsigned flags;
	const struct pm_stream *out; /* where it writes, if it is an output; else NULL */
	int err;		     /* 0 while it takes records */
	unsigned long long at_event; /* it failed at this event of the feed (1 = the first) */
	bool finished;
};

struct feed {
	struct pm_sink base; /* the feed as a sink (for a consumer) */
	struct feed_sink s[FEED_SINKS_MAX];
	int n;
	int stop_err;			    /* an essential sink failed: nothing more is fed */
	unsigned long long records, events; /* fed so far */
	/* feed__run_reader: the input was read to where it ends (no sink
	 * stopped the feed first), and how it ended there */
	bool input_read;
	int input_err;
};

void feed__init(struct feed *f);
/* 0, or -ENOSPC when full. name must live as long as the feed. */
int feed__add(struct feed *f, const char *name, struct pm_sink *sink, unsigned flags);
/* A sink that writes to out: its error is the one out kept from the failed
 * write (stdio's own is only EIO), and messages say how far out got. */
int feed__add_output(struct feed *f, const char *name, struct pm_sink *sink, unsigned flags,
		     const struct pm_stream *out);
/* To every sink still taking records. 0, or the error of an essential sink
 * that failed (now or before). */
int feed__record(struct feed *f, const struct pm_record *rec);
/* Drop a sink from outside (e.g. its periodic flush failed): as if its
 * record() had returned err. */
void feed__fail(struct feed *f, struct pm_sink *sink, int err);
/* finish() every sink still taking records, once. The first error of an
 * essential sink, else 0; optional sinks' errors are kept as their err. */
int feed__finish(struct feed *f);
/* Whether sink failed (and its error: an output's is its stream's cause), or is still fed. */
int feed__sink_error(const struct feed *f, const struct pm_sink *sink);
/* The first sink that failed, NULL if none; *err its error. */
const struct feed_sink *feed__first_error(const struct feed *f, int *err);

/*
 * Feed a whole trace file, then finish the sinks. Returns 0, or the error of
 * an essential sink (the feed stopped there, and the rest of the input was
 * not read). Otherwise input_read is set, and input_err says how the input
 * ended: 0 at its end, or the reader's error (-EIO: cut short, fed to its
 * last complete chunk; another: damaged), which trace_reader__error
 * explains. Optional sinks' errors are kept, as for any feed: input and
 * output are separate questions, and feed__report tells the user both.
 */
int feed__run_reader(struct feed *f, struct trace_reader *r);
/*
 * What a feed from r (the trace at path) came to, one line each: the
 * input's state, only where the input was read to (a trace cut short, or
 * without its end record, is a warning: `done` up to its last complete
 * chunk, e.g. "shown"; damage is an error), then every sink that failed,
 * with its cause and how far it got. An output that stopped the feed says
 * nothing about the input it did not read. Returns the exit status: 1 when
 * the input was damaged or a sink failed, else 0.
 */
int feed__report(const struct feed *f, const struct trace_reader *r, const char *path,
		 const char *done);
/* One failed sink's line: "NAME: CAUSE (stopped at event N; B bytes written)",
 * then `then` ("; tracing stopped"), if not NULL. */
void feed_sink__say_error(const struct feed_sink *s, const char *then);

#endif /* PYMAC_FEED_H */
