/* SPDX-License-Identifier: MIT */
/* Records built in memory, as the feed hands them to the model's sinks. */
#ifndef PYMAC_TEST_RECORDS_H
#define PYMAC_TEST_RECORDS_H
#include <stdint.h>
#include <string.h>
#include "feed/record.h"

/* An event of pid's main thread in cgroup, every other field 0. */
static inline struct pm_record rec_event(uint32_t pid, uint64_t cgroup, uint64_t ts,
					 enum pm_kind kind)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_EVENT;
	r.ev.ts_ns = ts;
	r.ev.cgroup_id = cgroup;
	r.ev.pid = pid;
	r.ev.tid = pid;
	r.ev.kind = kind;
	return r;
}

#endif /* PYMAC_TEST_RECORDS_H */
