// SPDX-License-Identifier: MIT
/* The export driver: trace in, one exporter, one output file out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "export/export.h"
#include "feed/feed.h"
#include "util/outfile.h"
#include "util/outstream.h"

const struct export_format export_formats[] = {
    {"chrome", "Chrome Trace Event JSON for ui.perfetto.dev and chrome://tracing", 10000000ull,
     export_chrome__new},
    {"csv", "time-bucketed series per container, one row per bucket and container", 1000000000ull,
     export_csv__new},
    {"html", "one self-contained HTML page: timelines per container and summary tables", 0,
     export_html__new},
    {"metrics", "the /metrics page (Prometheus text format) of the trace's end", 0,
     export_metrics__new},
    {NULL, NULL, 0, NULL},
};

const struct export_format *export_format__find(const char *name)
{
	for (const struct export_format *f = export_formats; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Open where the export goes: standard output, or a new file beside out_path
 * (po), renamed into place at the end. 0, or -1 after saying why. */
static int export_open(struct pm_stream *out, struct pm_out *po, const char *out_path)
{
	char why[512];
	int err;

	if (!out_path) {
		err = pm_stream__open(out, STDOUT_FILENO, false, false);
		out->kept = true;
	} else {
		if (pm_out_open(po, out_path, PM_OUT_REPLACE, why, sizeof(why))) {
			pm_err("%s", why);
			return -1;
		}
		/* the stream owns the descriptor from here */
		err = pm_stream__open(out, po->fd, has_suffix(out_path, ".gz"), true);
		po->fd = -1;
	}
	if (err) {
		pm_err("%s: %s", out_path ? out_path : "standard output", strerror(-err));
		return -1;
	}
	return 0;
}

int export__run(const struct export_format *f, const char *trace_path, const char *out_path,
		const struct export_opts *opts)
{
	struct export_opts o = *opts;
	struct trace_reader *rd;
	struct exporter *ex = NULL;
	char err[512], what[PATH_MAX + 64];
	struct pm_out po = {.fd = -1, .dirfd = -1};
	struct pm_stream out = {0};
	struct feed feed;
	int ret, status = 1;

	if (out_path && strcmp(out_path, "-") == 0)
		out_path = NULL;
	rd = trace_reader__open(trace_path, err, sizeof(err));
	if (!rd) {
		pm_err("%s: %s", trace_path, err);
		return 1;
	}
	o.info = trace_reader__info(rd);
	o.source = trace_path;
	if (!o.resolution_ns)
		o.resolution_ns = f->default_res;
	snprintf(what, sizeof(what), "the %s export to %s", f->name,
		 out_path ? out_path : "standard output");
	if (export_open(&out, &po, out_path))
		goto out;
	ex = f->create(out.f, &o);
	if (!ex) {
		pm_err("%s: %s", what, strerror(errno));
		goto out;
	}
	feed__init(&feed);
	feed__add_output(&feed, what, &ex->sink, FEED_ESSENTIAL, &out);
	feed__run_reader(&feed, rd);
	/* the input's state and the output's are separate questions */
	if (feed__report(&feed, rd, trace_path, "exported"))
		goto out;
	ret = pm_stream__close(&out);
	if (ret) {
		pm_err("%s: %s", what, strerror(-ret));
		goto out;
	}
	/* the stream closed the descriptor: rename over the target */
	if (out_path && pm_out_commit(&po, true, err, sizeof(err))) {
		pm_err("%s", err);
		goto out;
	}
	status = 0;
out:
	if (ex)
		ex->free(ex);
	pm_stream__close(&out);
	/* a failed export leaves no file, and the old one whole (after
	 * pm_out_commit, nothing is left to remove) */
	pm_out_abort(&po, true);
	trace_reader__close(rd);
	return status;
}
