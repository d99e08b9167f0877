// SPDX-License-Identifier: MIT
/* The /metrics page of `live --prometheus` and `record --prometheus` (served by prom_server.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
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

/*
 * A series with a sample per lane, or per lane and value of its label. The
 * samples' values are fields of struct lg_lane: at[0] (BY_LANE), at[k] for
 * allocator k, or element k of the array at at[0] (BY_KIND, BY_GENERATION).
 */
enum series_label {
	BY_LANE,       /* one sample per lane */
	BY_KIND,       /* kind="py_malloc", ...: the event kinds with a name */
	BY_ALLOCATOR,  /* allocator="python", "libc" */
	BY_GENERATION, /* generation="0", "1", "2" */
};

enum sample_type {
	SAMPLE_U64,
	SAMPLE_I64,
	SAMPLE_SECONDS,	  /* a u64 of nanoseconds */
	SAMPLE_FOOTPRINT, /* lg_levels__footprint of the lane's levels (no field) */
};

struct lane_series {
	const char *name, *type, *help;
	enum series_label by;
	enum sample_type st;
	size_t at[2];
	/* a lane without events of this kind has no sample (0: every lane has) */
	enum pm_kind only_with;
};

#define AT(field) offsetof(struct lg_lane, field)

static const struct lane_series lost_series = {
    .name = "pymac_lost_events_total",
    .type = "counter",
    .help = "Events lost because the ring buffer was full, by lane.",
    .at = {AT(tot.lost)},
};

/* After the lanes' descriptions, in this order. */
static const struct lane_series lane_series[] = {
    {
	.name = "pymac_events_total",
	.type = "counter",
	.help = "Events seen, by lane and kind.",
	.by = BY_KIND,
	.at = {AT(tot.events)},
    },
    {
	.name = "pymac_allocated_bytes_total",
	.type = "counter",
	.help = "Bytes of successful allocations, by lane and allocator.",
	.by = BY_ALLOCATOR,
	.at = {AT(tot.py_alloc_bytes), AT(tot.libc_alloc_bytes)},
    },
    {
	.name = "pymac_freed_bytes_total",
	.type = "counter",
	.help = "Bytes freed (sized by their allocation; frees of blocks never seen allocated "
		"add nothing), by lane and allocator.",
	.by = BY_ALLOCATOR,
	.at = {AT(tot.py_free_bytes), AT(tot.libc_free_bytes)},
    },
    {
	.name = "pymac_net_bytes",
	.type = "gauge",
	.help = "Bytes of blocks allocated while traced and not yet freed, by lane and "
		"allocator.",
	.by = BY_ALLOCATOR,
	.st = SAMPLE_I64,
	.at = {AT(lv.py_net), AT(lv.libc_net)},
    },
    /* footprint mode only: elsewhere a 0 would claim a footprint nobody measured */
    {
	.name = "pymac_footprint_bytes",
	.type = "gauge",
	.help = "Anonymous memory mapped now (pymalloc arenas, other mmaps, brk heap) by the "
		"lane's live processes, by lane (footprint mode).",
	.st = SAMPLE_FOOTPRINT,
	.only_with = PM_VM,
    },
    {
	.name = "pymac_rss_bytes",
	.type = "gauge",
	.help = "Resident set of the lane's live processes, their latest samples summed, by "
		"lane (footprint mode).",
	.st = SAMPLE_I64,
	.at = {AT(lv.rss)},
	.only_with = PM_RSS,
    },
    {
	.name = "pymac_gc_collections_total",
	.type = "counter",
	.help = "Finished garbage collections, by lane and generation.",
	.by = BY_GENERATION,
	.at = {AT(tot.gc_gen)},
    },
    {
	.name = "pymac_gc_seconds_total",
	.type = "counter",
	.help = "Time spent in garbage collections.",
	.st = SAMPLE_SECONDS,
	.at = {AT(tot.gc_ns)},
    },
    {
	.name = "pymac_gc_collected_objects_total",
	.type = "counter",
	.help = "Objects the garbage collections found unreachable.",
	.at = {AT(tot.gc_collected)},
    },
    {
	.name = "pymac_gc_uncollectable_objects_total",
	.type = "counter",
	.help = "Unreachable objects the garbage collections could not free (gc.garbage), "
		"where the probes read the collector's statistics.",
	.at = {AT(tot.gc_uncollectable)},
    },
};

static unsigned series_samples(const struct lane_series *ls)
{
	switch (ls->by) {
	case BY_KIND:
		return PM_KIND_MAX;
	case BY_ALLOCATOR:
		return 2;
	case BY_GENERATION:
		return LG_GENERATIONS;
	default:
		return 1;
	}
}

/* Sample k of the lane (for BY_KIND, k is the kind). */
static void write_sample(FILE *out, const struct lane_series *ls, const struct lg_lane *in,
			 unsigned k)
{
	static const char *const allocators[2] = {"python", "libc"};
	const char *v = (const char *)in +
			(ls->by == BY_ALLOCATOR ? ls->at[k] : ls->at[0] + k * sizeof(uint64_t));

	if (ls->by == BY_KIND && !pm_kind_name(k))
		return;
	fputs(ls->name, out);
	lane_labels(out, in);
	if (ls->by == BY_KIND)
		fprintf(out, ",kind=\"%s\"", pm_kind_name(k));
	else if (ls->by == BY_ALLOCATOR)
		fprintf(out, ",allocator=\"%s\"", allocators[k]);
	else if (ls->by == BY_GENERATION)
		fprintf(out, ",generation=\"%u\"", k);
	switch (ls->st) {
	case SAMPLE_U64:
		fprintf(out, "} %" PRIu64 "\n", *(const uint64_t *)v);
		break;
	case SAMPLE_I64:
		fprintf(out, "} %" PRId64 "\n", *(const int64_t *)v);
		break;
	case SAMPLE_SECONDS:
		fprintf(out, "} %.9f\n", (double)*(const uint64_t *)v / 1e9);
		break;
	case SAMPLE_FOOTPRINT:
		fprintf(out, "} %" PRId64 "\n", lg_levels__footprint(&in->lv));
		break;
	}
}

static void write_series(FILE *out, const struct ledger *lg, const struct lane_series *ls)
{
	size_t n = ledger__lane_count(lg);

	head(out, ls->name, ls->type, ls->help);
	for (size_t i = 0; i < n; i++) {
		const struct lg_lane *in = ledger__lane(lg, i);

		if (ls->only_with && !in->tot.events[ls->only_with])
			continue;
		/* kind 0 is no event */
		for (unsigned k = ls->by == BY_KIND; k < series_samples(ls); k++)
			write_sample(out, ls, in, k);
	}
}

static void write_lane_info(FILE *out, const struct ledger *lg)
{
	size_t n = ledger__lane_count(lg);

	head(out, "pymac_lane_info", "gauge",
	     "One per lane (container, or process outside containers): its description.");
	for (size_t i = 0; i < n; i++) {
		const struct lg_lane *in = ledger__lane(lg, i);

		fputs("pymac_lane_info", out);
		lane_labels(out, in);
		fputs(",detail=", out);
		label_value(out, in->detail);
		fputs(",interpreter=", out);
		label_value(out, in->interpreter);
		fputs(",allocator=", out);
		label_value(out, in->allocator);
		/* Kubernetes: the pod, for joins with kube-state-metrics' kube_pod_info{uid} */
		fputs(",pod_uid=", out);
		label_value(out, in->pod_uid);
		fputs(",qos=", out);
		label_value(out, in->qos);
		fprintf(out, ",ended=\"%d\",partial=\"%d\"} 1\n", in->ended, in->partial);
	}
}

int prom__render(FILE *out, const struct ledger *lg, const struct prom_totals *t)
{
	head(out, "pymac_events_received_total", "counter", "Events pymac received, all lanes.");
	fprintf(out, "pymac_events_received_total %" PRIu64 "\n", t->events);
	write_series(out, lg, &lost_series);
	head(out, "pymac_lost_events_all_total", "counter",
	     "Events lost, all processes (including ones no lane could be named for).");
	fprintf(out, "pymac_lost_events_all_total %" PRIu64 "\n", t->lost);
	write_lane_info(out, lg);
	for (size_t i = 0; i < sizeof(lane_series) / sizeof(lane_series[0]); i++)
		write_series(out, lg, &lane_series[i]);
	return ferror(out) ? -EIO : 0;
}
