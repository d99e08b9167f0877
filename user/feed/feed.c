// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "feed/feed.h"
#include "trace/trace.h"
#include "util/msg.h"
#include "util/outstream.h"

static int feed_record(struct pm_sink *s, const struct pm_record *rec)
{
	return feed__record((struct feed *)((char *)s - offsetof(struct feed, base)), rec);
}

static int feed_finish(struct pm_sink *s)
{
	return feed__finish((struct feed *)((char *)s - offsetof(struct feed, base)));
}

void feed__init(struct feed *f)
{
	*f = (struct feed){.base = {.record = feed_record, .finish = feed_finish}};
}

int feed__add_output(struct feed *f, const char *name, struct pm_sink *sink, unsigned flags,
		     const struct pm_stream *out)
{
	if (f->n == FEED_SINKS_MAX)
		return -ENOSPC;
	f->s[f->n++] = (struct feed_sink){.sink = sink, .name = name, .flags = flags, .out = out};
	return 0;
}

int feed__add(struct feed *f, const char *name, struct pm_sink *sink, unsigned flags)
{
	return feed__add_output(f, name, sink, flags, NULL);
}

/* A sink's error, with an output's real cause for stdio's EIO */
static int sink_error(const struct feed_sink *s)
{
	return s->err && s->out && s->out->err ? s->out->err : s->err;
}

static void drop(struct feed *f, struct feed_sink *s, int err)
{
	if (s->err)
		return;
	s->err = err;
	s->at_event = f->events;
	if ((s->flags & FEED_ESSENTIAL) && !f->stop_err)
		f->stop_err = err;
}

int feed__record(struct feed *f, const struct pm_record *rec)
{
	if (f->stop_err)
		return f->stop_err;
	f->records++;
	f->events += rec->type == PM_REC_EVENT;
	for (int i = 0; i < f->n; i++) {
		struct feed_sink *s = &f->s[i];
		int err;

		if (s->err || s->finished)
			continue;
		err = s->sink->record(s->sink, rec);
		if (err)
			drop(f, s, err);
	}
	return f->stop_err;
}

void feed__fail(struct feed *f, struct pm_sink *sink, int err)
{
	for (int i = 0; i < f->n; i++)
		if (f->s[i].sink == sink)
			drop(f, &f->s[i], err ? err : -EIO);
}

int feed__finish(struct feed *f)
{
	for (int i = 0; i < f->n; i++) {
		struct feed_sink *s = &f->s[i];
		int err;

		if (s->err || s->finished)
			continue;
		s->finished = true;
		err = s->sink->finish ? s->sink->finish(s->sink) : 0;
		if (err)
			drop(f, s, err);
	}
	return f->stop_err;
}

int feed__sink_error(const struct feed *f, const struct pm_sink *sink)
{
	for (int i = 0; i < f->n; i++)
		if (f->s[i].sink == sink)
			return sink_error(&f->s[i]);
	return 0;
}

const struct feed_sink *feed__first_error(const struct feed *f, int *err)
{
	for (int i = 0; i < f->n; i++) {
		if (f->s[i].err) {
			*err = sink_error(&f->s[i]);
			return &f->s[i];
		}
	}
	*err = 0;
	return NULL;
}

int feed__run_reader(struct feed *f, struct trace_reader *r)
{
	struct pm_record rec;
	int n, err = 0;

	while ((n = trace_reader__next(r, &rec)) > 0) {
		err = feed__record(f, &rec);
		if (err)
			break;
	}
	f->input_read = !err;
	f->input_err = f->input_read && n < 0 ? n : 0;
	if (!err)
		err = feed__finish(f);
	return err;
}

void feed_sink__say_error(const struct feed_sink *s, const char *then)
{
	char bytes[48] = "";

	if (s->out && s->out->kept)
		snprintf(bytes, sizeof(bytes), "; %llu bytes written", s->out->bytes);
	if (s->at_event)
		pm_err("%s: %s (stopped at event %llu%s)%s", s->name, strerror(-sink_error(s)),
		       s->at_event, bytes, then ? then : "");
	else
		pm_err("%s: %s (stopped before the first event%s)%s", s->name,
		       strerror(-sink_error(s)), bytes, then ? then : "");
}

int feed__report(const struct feed *f, const struct trace_reader *r, const char *path,
		 const char *done)
{
	int status = 0;

	if (f->input_read && f->input_err == -EIO) {
		/* a cut-short recording is expected after a crash or a full
		 * disk; damage inside the file is not */
		pm_err("warning: %s was cut short: %s; %s up to there", path,
		       trace_reader__error(r), done);
	} else if (f->input_read && f->input_err) {
		pm_err("%s: %s", path, trace_reader__error(r));
		status = 1;
	} else if (f->input_read && !trace_reader__complete(r)) {
		pm_err("warning: %s has no end record: the recording was cut short (pymac killed, "
		       "or its disk full); %s up to its last complete chunk",
		       path, done);
	}
	for (int i = 0; i < f->n; i++) {
		if (f->s[i].err) {
			feed_sink__say_error(&f->s[i], NULL);
			status = 1;
		}
	}
	return status;
}
