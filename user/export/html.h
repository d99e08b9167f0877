/* SPDX-License-Identifier: MIT */
/*
 * The HTML report's insides, shared by its two files: html.c (the sink,
 * the page, the tables) and html_lane.c (a lane's chart). Not for other
 * exporters.
 */
#ifndef PYMAC_EXPORT_HTML_H
#define PYMAC_EXPORT_HTML_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "export/export.h"
#include "model/ledger.h"
#include "model/procstats.h"
#include "model/timeline.h"
#include "views/summary_impl.h"

#define HX_MAX_POINTS	 2000	    /* slices per lane, whatever --resolution asks */
#define HX_AUTO_POINTS	 1500	    /* slices per lane when the width is ours to choose */
#define HX_MIN_BUCKET_NS 1000000ull /* finest model bucket a --resolution may ask */
#define HX_NGEN		 3

/* A lane's chart, in CSS pixels; the script reads the plot's place from
 * the page data, so these live only here. */
#define SVG_W  1120
#define PLOT_X 64
#define PLOT_W 1000
#define NET_Y  6
#define NET_H  120
#define RATE_Y 140
#define RATE_H 64
#define GC_Y   214
#define GC_ROW 11
#define LOST_Y (GC_Y + HX_NGEN * GC_ROW + 3)
#define LOST_H 6
#define TICK_Y (LOST_Y + LOST_H + 14)
#define SVG_H  (TICK_Y + 6)
/* Footprint mode adds a band on top of a lane that has vm or rss events;
 * the rest of the chart moves down by FP_SHIFT. */
#define FP_Y	  NET_Y
#define FP_H	  100
#define FP_SHIFT  (FP_H + 14)
#define FP_COLOR  "#17becf"
#define RSS_COLOR "#bcbd22"

extern const char *const hx_gen_color[HX_NGEN + 1];

/* One finished collection, in the lane the ledger counted it in. */
struct hx_gc {
	uint64_t start_ns, end_ns;
	int64_t collected; /* -1: unknown */
	uint32_t pid;
	int32_t gen;  /* -1: unknown */
	int32_t lane; /* the ledger's */
	uint32_t slice;
	uint64_t inside; /* lg_gc.traced_inside */
};

struct hx_meta {
	char *key;
	char *value;
};

struct html_ex {
	struct exporter ex;
	FILE *out;
	struct export_opts o;
	struct ledger *lg;
	struct timeline *tl;
	struct procstats *ps;

	struct hx_gc *gcs; /* in the order they ended, then sorted by lane, slice, generation */
	size_t ngcs, gcs_cap;
	struct hx_meta *meta;
	size_t nmeta;
};

/* A coverage gap as the report states it: once per binary, source, status
 * and detail, with the processes it applies to (html_coverage.c). The
 * strings are the processes'. */
struct hx_gap {
	const char *binary, *name, *detail;
	enum pm_source_status status;
	const struct ps_proc **procs; /* by pid */
	size_t nprocs, procs_cap;
};

/* What the report shows, worked out once before writing. */
struct view {
	uint64_t t0, t1;   /* trace start (header) and end */
	uint64_t w;	   /* slice width */
	size_t n;	   /* slices per lane */
	uint64_t tick;	   /* time axis step */
	int tick_decimals; /* of the tick labels, in seconds */

	struct sm_trace tr;
	struct ps_proc **procs; /* sorted by pid */
	size_t nprocs;
	struct sm_group *groups;
	size_t ngroups;
	ssize_t host_group;

	size_t nlanes;
	ssize_t *lane_group;		    /* per lane: its summary group, or -1 */
	uint64_t (*grp_gc)[HX_NGEN + 1][3]; /* per group, gen: count, ns, collected */
	bool any_fp;			    /* some lane has footprint events */
	struct hx_gap *gaps;		    /* in the order of the first process they apply to */
	size_t ngaps;
};

/* s as HTML text or attribute value (quoted with "). */
void hx_esc_html(FILE *f, const char *s);
const char *hx_fmt_bytes(char *buf, size_t len, double b);
const char *hx_fmt_count(char *buf, size_t len, double v);
double hx_xpos(const struct view *v, uint64_t t);
double hx_rel_s(const struct view *v, uint64_t t);
static inline int64_t hx_rel_ns(const struct view *v, uint64_t t)
{
	return (int64_t)(t - v->t0);
}
static inline bool hx_lane_has_fp(const struct lg_lane *li)
{
	return li->tot.events[PM_VM] || li->tot.events[PM_RSS];
}
/* Is the process's source something the report must point out? */
bool hx_coverage_gap(const struct ps_proc *p, const struct ps_source *st);

bool hx_proc_is_python(const struct ps_proc *p);
/* A group's section: its tables of counts, collections, types, losses,
 * footprint and processes. */
int hx_write_group(struct html_ex *h, const struct view *v, size_t gi);
/* The table of processes and what each source saw of them. */
void hx_write_procs(FILE *f, struct ps_proc *const *procs, size_t n);
/* The coverage gaps of v->procs into v->gaps: 0 or -ENOMEM (free them
 * with hx_gaps_free either way). */
int hx_gaps_build(struct view *v);
void hx_gaps_free(struct view *v);
/* Every gap once, with its binary, detail and processes (above the lanes). */
void hx_write_coverage(FILE *f, const struct view *v);
/* The gaps of the lane's processes, named, pointing to hx_write_coverage's. */
void hx_write_lane_coverage(FILE *f, const struct view *v, const struct lg_lane *li);
/* One lane's section: its chart, its coverage and its hover data. gpos:
 * where its collections begin in h->gcs (moved past them). */
int hx_write_lane(struct html_ex *h, const struct view *v, size_t lane, size_t *gpos);

#endif /* PYMAC_EXPORT_HTML_H */
