/* SPDX-License-Identifier: MIT */
/* Per-process aggregation of a trace, grouped by container when the trace
 * names containers, printed for a person or as JSON. */
#ifndef PYMAC_SUMMARY_H
#define PYMAC_SUMMARY_H

#include <stdio.h>
#include "feed/record.h"
#include "trace/trace.h"

struct summary;

struct summary *summary__new(void);
void summary__free(struct summary *s);
/* Feed records through this sink. */
struct pm_sink *summary__sink(struct summary *s);
/* info may be NULL (live). top_types: how many deallocated types to list. */
int summary__print_text(const struct summary *s, FILE *out, const struct pm_trace_info *info,
			int top_types);
int summary__print_json(const struct summary *s, FILE *out, const struct pm_trace_info *info,
			int top_types);

#endif /* PYMAC_SUMMARY_H */
