/* SPDX-License-Identifier: MIT */
/*
 * Exporters: `pymac replay FILE --format chrome|csv|html -o OUT`.
 *
 * An exporter is a sink. The trace reader feeds it every record in file
 * order; its finish() writes what is left (closing brackets, the report) and
 * returns 0 or a negative errno. Exporters write only to the FILE they were
 * given: the caller opens it (gzip when the name ends in .gz), writes into a
 * temporary name and renames it into place when finish() succeeded, so a
 * failed export never leaves a half-written file under the requested name.
 */
#ifndef PYMAC_EXPORT_H
#define PYMAC_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "feed/record.h"
#include "trace/trace.h"

struct export_opts {
	/* width of counter samples / time buckets; 0 means the format's default */
	uint64_t resolution_ns;
	/* how many deallocated types the tables list */
	int top;
	/* the trace's header (start times) and its file name, for titles */
	const struct pm_trace_info *info;
	const char *source;
};

struct exporter {
	struct pm_sink sink;
	void (*free)(struct exporter *ex);
};

/* A constructor: NULL with errno set on failure. */
typedef struct exporter *(*exporter_new_fn)(FILE *out, const struct export_opts *o);

struct export_format {
	const char *name;     /* as given to --format */
	const char *what;     /* one line for --help */
	uint64_t default_res; /* resolution_ns when the user gives none */
	exporter_new_fn create;
};

/* The registered formats, NULL-name terminated. */
extern const struct export_format export_formats[];
const struct export_format *export_format__find(const char *name);

/*
 * Export the whole trace at path in format f to out_path ("-" or NULL for
 * standard output; ".gz" names are gzip-compressed). Prints its own one-line
 * errors; returns 0 on success, 1 on failure. A trace cut short (EIO from the
 * reader) is exported up to its last complete chunk with a warning.
 */
int export__run(const struct export_format *f, const char *trace_path, const char *out_path,
		const struct export_opts *o);

struct exporter *export_chrome__new(FILE *out, const struct export_opts *o);
struct exporter *export_csv__new(FILE *out, const struct export_opts *o);
struct exporter *export_html__new(FILE *out, const struct export_opts *o);
struct exporter *export_metrics__new(FILE *out, const struct export_opts *o);

#endif /* PYMAC_EXPORT_H */
