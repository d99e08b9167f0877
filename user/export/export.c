// SPDX-License-Identifier: MIT
/* The export driver: trace in, one exporter, one output file out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cmd/commands.h"
#include "export/export.h"
#include "feed/feed.h"
#include "util/outfile.h"

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

/* stdio on top of a gzFile, so exporters need not know about compression */
static ssize_t gz_write(void *cookie, const char *buf, size_t size)
{
	int n;

	if (size == 0)
		return 0;
	n = gzwrite(cookie, buf, (unsigned)size);
	if (n <= 0) {
		errno = EIO;
		return -1;
	}
	return n;
}

static int gz_close(void *cookie)
{
	int err = gzclose(cookie);

	if (err != Z_OK) {
		errno = err == Z_ERRNO ? errno : EIO;
		return -1;
	}
	return 0;
}

static FILE *open_output(int fd, bool gz)
{
	static const cookie_io_functions_t gz_io = {.write = gz_write, .close = gz_close};
	gzFile g;
	FILE *f;

	if (!gz)
		return fdopen(fd, "w");
	g = gzdopen(fd, "wb6");
	if (!g)
		return NULL;
	f = fopencookie(g, "w", gz_io);
	if (!f)
		gzclose(g);
	return f;
}

int export__run(const struct export_format *f, const char *trace_path, const char *out_path,
		const struct export_opts *opts)
{
	bool to_stdout = !out_path || strcmp(out_path, "-") == 0;
	struct export_opts o = *opts;
	struct trace_reader *rd;
	struct exporter *ex = NULL;
	char err[512];
	struct pm_out po = {.fd = -1, .dirfd = -1};
	bool have_po = false;
	FILE *out = NULL;
	struct feed feed;
	int ret, in_err, status = 1;

	rd = trace_reader__open(trace_path, err, sizeof(err));
	if (!rd) {
		pm_err("%s: %s", trace_path, err);
		return 1;
	}
	o.info = trace_reader__info(rd);
	o.source = trace_path;
	if (!o.resolution_ns)
		o.resolution_ns = f->default_res;

	if (to_stdout) {
		out = stdout;
	} else {
		/* a temporary name beside the target, renamed into place at the end */
		int fd;

		if (pm_out_open(&po, out_path, PM_OUT_REPLACE, err, sizeof(err))) {
			pm_err("%s", err);
			goto out;
		}
		have_po = true;
		fd = po.fd;
		out = open_output(fd, has_suffix(out_path, ".gz"));
		if (!out) {
			pm_err("%s: %s", out_path, strerror(errno));
			close(fd);
			goto out;
		}
	}

	ex = f->create(out, &o);
	if (!ex) {
		pm_err("%s export: %s", f->name, strerror(errno));
		goto out;
	}
	feed__init(&feed);
	feed__add(&feed, f->name, &ex->sink, FEED_ESSENTIAL);
	ret = feed__run_reader(&feed, rd, &in_err);
	/* the input's state and the output's are separate questions */
	if (in_err && in_err != -EIO) {
		pm_err("%s: %s", trace_path, trace_reader__error(rd));
		goto out;
	}
	if (in_err == -EIO)
		pm_err("warning: %s: %s (exported up to there)", trace_path,
		       trace_reader__error(rd));
	else if (!trace_reader__complete(rd))
		pm_err("warning: %s has no end record: the recording was cut short; exported up to "
		       "its last complete chunk",
		       trace_path);
	if (ret < 0) {
		pm_err("%s export: %s", f->name, strerror(-ret));
		goto out;
	}
	if (to_stdout) {
		if (fflush(stdout) && errno != EPIPE) {
			pm_err("writing output: %s", strerror(errno));
			goto out;
		}
	} else {
		FILE *o2 = out;

		out = NULL;
		if (fclose(o2)) {
			pm_err("%s: %s", out_path, strerror(errno));
			goto out;
		}
		/* the stream closed the descriptor: rename over the target */
		have_po = false;
		if (pm_out_commit(&po, true, err, sizeof(err))) {
			pm_err("%s", err);
			goto out;
		}
	}
	status = 0;
out:
	if (ex)
		ex->free(ex);
	if (out && out != stdout)
		fclose(out);
	if (have_po)
		pm_out_abort(&po, true);
	trace_reader__close(rd);
	return status;
}
