// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>

#include "feed/sinks.h"

/* Every sink sees every record even if an earlier one failed; the first
 * error is returned. */
static int tee_record(struct pm_sink *s, const struct pm_record *rec)
{
	struct sink_tee *t = (struct sink_tee *)s;
	int err = 0;

	for (int i = 0; i < t->n; i++) {
		int e = t->out[i]->record(t->out[i], rec);

		if (e && !err)
			err = e;
	}
	return err;
}

static int tee_finish(struct pm_sink *s)
{
	struct sink_tee *t = (struct sink_tee *)s;
	int err = 0;

	for (int i = 0; i < t->n; i++) {
		int e = t->out[i]->finish ? t->out[i]->finish(t->out[i]) : 0;

		if (e && !err)
			err = e;
	}
	return err;
}

void sink_tee__init(struct sink_tee *t)
{
	t->base.record = tee_record;
	t->base.finish = tee_finish;
	t->n = 0;
}

int sink_tee__add(struct sink_tee *t, struct pm_sink *s)
{
	if (t->n == SINK_TEE_MAX)
		return -ENOSPC;
	t->out[t->n++] = s;
	return 0;
}
