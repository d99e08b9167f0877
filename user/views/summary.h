/* SPDX-License-Identifier: MIT */
/*
 * The summary of a trace: the per-process books (model/procstats.h; feed
 * records to procstats__sink), grouped by container when the trace names
 * containers, printed for a person or as JSON. Group totals are the
 * ledger's lane totals, the same the timeline and the exports show.
 */
#ifndef PYMAC_SUMMARY_H
#define PYMAC_SUMMARY_H

#include <stdio.h>
#include "feed/record.h"
#include "model/procstats.h"
#include "trace/trace.h"

/* info may be NULL (live). top_types: how many deallocated types to list
 * (all when < 0). 0 or a negative errno (-EIO when out had a write error). */
int summary__print_text(const struct procstats *s, FILE *out, const struct pm_trace_info *info,
			int top_types);
int summary__print_json(const struct procstats *s, FILE *out, const struct pm_trace_info *info,
			int top_types);

#endif /* PYMAC_SUMMARY_H */
