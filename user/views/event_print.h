/* SPDX-License-Identifier: MIT */
/* Printing every event and container record, one per line, as text or JSON
 * Lines. Container lines carry "type": "container" in JSON. */
#ifndef PYMAC_EVENT_PRINT_H
#define PYMAC_EVENT_PRINT_H

#include <stdint.h>
#include <stdio.h>
#include "feed/record.h"

enum event_format {
	EVENT_FMT_TEXT = 1,
	EVENT_FMT_JSONL = 2,
};

struct event_printer;

/* start_ns: timestamps are printed relative to it (text) and absolute ns
 * in JSON ("ts_ns") plus relative ("t_ns"). */
struct event_printer *event_printer__new(FILE *out, enum event_format fmt, uint64_t start_ns);
void event_printer__free(struct event_printer *p);
struct pm_sink *event_printer__sink(struct event_printer *p);

/* A collection's source (pm_event gc.source) as the event lines and the
 * exports name it: "usdt", "uprobe" or "unknown". */
const char *event_gc_source_name(uint32_t src);

#endif /* PYMAC_EVENT_PRINT_H */
