// SPDX-License-Identifier: MIT
/*
 * `replay --format metrics`: the /metrics page (Prometheus' text format)
 * as a live `--prometheus` session would have served it at the trace's
 * end, rendered from the same timeline model by the same code. Scripts
 * and CI jobs read a finished run's counters without a server, and the
 * page of a replay is the page of the recording.
 */
#include <errno.h>
#include <stdlib.h>

#include "export/export.h"
#include "model/timeline.h"
#include "views/prom.h"

struct metrics_ex {
	struct exporter ex;
	FILE *out;
	struct timeline *tl;
	struct pm_sink *sink;
	uint64_t events;
};

static struct metrics_ex *to_metrics(struct pm_sink *sink)
{
	return (struct metrics_ex *)((char *)sink - offsetof(struct metrics_ex, ex.sink));
}

static int metrics_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct metrics_ex *m = to_metrics(sink);

	m->events += rec->type == PM_REC_EVENT;
	return m->sink->record(m->sink, rec);
}

static int metrics_finish(struct pm_sink *sink)
{
	struct metrics_ex *m = to_metrics(sink);
	struct prom_totals t;
	int err = m->sink->finish ? m->sink->finish(m->sink) : 0;

	if (err)
		return err;
	t.events = m->events;
	t.lost = timeline__lost_total(m->tl);
	err = prom__render(m->out, timeline__ledger(m->tl), &t);
	return err ? err : ferror(m->out) ? -EIO : 0;
}

static void metrics_free(struct exporter *ex)
{
	struct metrics_ex *m = (struct metrics_ex *)ex;

	timeline__free(m->tl);
	free(m);
}

struct exporter *export_metrics__new(FILE *out, const struct export_opts *o)
{
	struct metrics_ex *m = calloc(1, sizeof(*m));

	(void)o;
	if (!m)
		return NULL;
	m->out = out;
	/* the live session's model, with the whole trace kept */
	m->tl = timeline__new(0, UINT64_MAX);
	if (!m->tl) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->sink = timeline__sink(m->tl);
	m->ex.sink.record = metrics_record;
	m->ex.sink.finish = metrics_finish;
	m->ex.free = metrics_free;
	return &m->ex;
}
