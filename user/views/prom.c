// SPDX-License-Identifier: MIT
/* The /metrics page of `pymac live --prometheus` (served by prom_server.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "views/prom.h"
#include "feed/record.h"

/* ---- rendering ---- */

static void label_value(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void lane_labels(FILE *out, const struct lg_lane *in)
{
	fputs("{lane=", out);
	label_value(out, in->name);
	fprintf(out, ",lane_kind=\"%s\"",
		(in->kind == LG_LANE_CONTAINER) ? "container" : "process");
}

static void head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int prom__render(FILE *out, const struct timeline *tl, const struct prom_totals *t)
{
	size_t n = timeline__lane_count(tl), i;
	unsigned k;

	head(out, "pymac_events_received_total", "counter", "Events pymac received, all lanes.");
	fprintf(out, "pymac_events_received_total %" PRIu64 "\n", t->events);
	head(out, "pymac_lost_events_total", "counter",
	     "Events lost because the ring buffer was full, by lane.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_lost_events_total", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRIu64 "\n", in->tot.lost);
	}
	head(out, "pymac_lost_events_all_total", "counter",
	     "Events lost, all processes (including ones no lane could be named for).");
	fprintf(out, "pymac_lost_events_all_total %" PRIu64 "\n", t->lost);

	head(out, "pymac_lane_info", "gauge",
	     "One per lane (container, or process outside containers): its description.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_lane_info", out);
		lane_labels(out, in);
		fputs(",detail=", out);
		label_value(out, in->detail);
		fputs(",interpreter=", out);
		label_value(out, in->interpreter);
		fputs(",allocator=", out);
		label_value(out, in->allocator);
		fprintf(out, ",ended=\"%d\",partial=\"%d\"} 1\n", in->ended, in->partial);
	}

	head(out, "pymac_events_total", "counter", "Events seen, by lane and kind.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		for (k = 1; k < PM_KIND_MAX; k++) {
			const char *name = pm_kind_name(k);

			if (!name)
				continue;
			fputs("pymac_events_total", out);
			lane_labels(out, in);
			fprintf(out, ",kind=\"%s\"} %" PRIu64 "\n", name, in->tot.events[k]);
		}
	}

	static const char *const allocators[2] = {"python", "libc"};
	head(out, "pymac_allocated_bytes_total", "counter",
	     "Bytes of successful allocations, by lane and allocator.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		uint64_t v[2] = {in->tot.py_alloc_bytes, in->tot.libc_alloc_bytes};

		for (k = 0; k < 2; k++) {
			fputs("pymac_allocated_bytes_total", out);
			lane_labels(out, in);
			fprintf(out, ",allocator=\"%s\"} %" PRIu64 "\n", allocators[k], v[k]);
		}
	}
	head(out, "pymac_freed_bytes_total", "counter",
	     "Bytes freed (sized by their allocation; frees of blocks never seen allocated add "
	     "nothing), by lane and allocator.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		uint64_t v[2] = {in->tot.py_free_bytes, in->tot.libc_free_bytes};

		for (k = 0; k < 2; k++) {
			fputs("pymac_freed_bytes_total", out);
			lane_labels(out, in);
			fprintf(out, ",allocator=\"%s\"} %" PRIu64 "\n", allocators[k], v[k]);
		}
	}
	head(out, "pymac_net_bytes", "gauge",
	     "Bytes of blocks allocated while traced and not yet freed, by lane and allocator.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		int64_t v[2] = {in->lv.py_net, in->lv.libc_net};

		for (k = 0; k < 2; k++) {
			fputs("pymac_net_bytes", out);
			lane_labels(out, in);
			fprintf(out, ",allocator=\"%s\"} %" PRId64 "\n", allocators[k], v[k]);
		}
	}

	/* footprint mode only: elsewhere a 0 would claim a footprint nobody measured */
	head(out, "pymac_footprint_bytes", "gauge",
	     "Anonymous memory mapped now (pymalloc arenas, other mmaps, brk heap) by the lane's "
	     "live processes, by lane (footprint mode).");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		if (!in->tot.events[PM_VM])
			continue;
		fputs("pymac_footprint_bytes", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRId64 "\n", lg_levels__footprint(&in->lv));
	}
	head(out, "pymac_rss_bytes", "gauge",
	     "Resident set of the lane's live processes, their latest samples summed, by lane "
	     "(footprint mode).");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		if (!in->tot.events[PM_RSS])
			continue;
		fputs("pymac_rss_bytes", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRId64 "\n", in->lv.rss);
	}

	head(out, "pymac_gc_collections_total", "counter",
	     "Finished garbage collections, by lane and generation.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		for (k = 0; k < 3; k++) {
			fputs("pymac_gc_collections_total", out);
			lane_labels(out, in);
			fprintf(out, ",generation=\"%u\"} %" PRIu64 "\n", k, in->tot.gc_gen[k]);
		}
	}
	head(out, "pymac_gc_seconds_total", "counter", "Time spent in garbage collections.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_gc_seconds_total", out);
		lane_labels(out, in);
		fprintf(out, "} %.9f\n", (double)in->tot.gc_ns / 1e9);
	}
	head(out, "pymac_gc_collected_objects_total", "counter",
	     "Objects the garbage collections found unreachable.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_gc_collected_objects_total", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRIu64 "\n", in->tot.gc_collected);
	}
	head(out, "pymac_gc_uncollectable_objects_total", "counter",
	     "Unreachable objects the garbage collections could not free (gc.garbage), where "
	     "the probes read the collector's statistics.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_gc_uncollectable_objects_total", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRIu64 "\n", in->tot.gc_uncollectable);
	}
	return ferror(out) ? -EIO : 0;
}
