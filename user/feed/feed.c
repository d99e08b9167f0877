// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>

#include "feed/feed.h"
#include "trace/trace.h"

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

int feed__add(struct feed *f, const char *name, struct pm_sink *sink, unsigned flags)
{
	if (f->n == FEED_SINKS_MAX)
		return -ENOSPC;
	f->s[f->n++] = (struct feed_sink){.sink = sink, .name = name, .flags = flags};
	return 0;
}

static void drop(struct feed *f, struct feed_sink *s, int err)
{
	if (s->err)
		return;
	s->err = err;
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
			return f->s[i].err;
	return 0;
}

const struct feed_sink *feed__first_error(const struct feed *f, int *err)
{
	for (int i = 0; i < f->n; i++) {
		if (f->s[i].err) {
			*err = f->s[i].err;
			return &f->s[i];
		}
	}
	*err = 0;
	return NULL;
}

int feed__run_reader(struct feed *f, struct trace_reader *r, int *input_err)
{
	struct pm_record rec;
	int n, err = 0;

	while ((n = trace_reader__next(r, &rec)) > 0) {
		err = feed__record(f, &rec);
		if (err)
			break;
	}
	*input_err = n < 0 ? n : 0;
	if (!err)
		err = feed__finish(f);
	return err;
}
