// SPDX-License-Identifier: MIT
/* The line view of the timeline (tui.h: tui_lines__print): one line per
 * lane per interval, for logs and CI. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/timeline.h"
#include "views/tui.h"

#define NS_PER_SEC ((uint64_t)1000000000)
#define TOP_TYPES  3 /* types per line */

/* s as it goes between quotes: '"' and '\' escaped, control bytes as \xNN */
static void print_escaped(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

static void print_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	print_escaped(out, s);
	fputc('"', out);
}

static void print_secs(FILE *out, const char *key, int64_t ns)
{
	uint64_t a = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;

	fprintf(out, "%s=%s%" PRIu64 ".%03" PRIu64, key, ns < 0 ? "-" : "", a / NS_PER_SEC,
		a % NS_PER_SEC / 1000000);
}

void tui_lines__print(const struct timeline *tl, uint64_t from_ns, uint64_t to_ns, FILE *out)
{
	size_t nl = timeline__lane_count(tl), i, j, ng;
	uint64_t start = timeline__start_ns(tl), span = to_ns > from_ns ? to_ns - from_ns : 0;
	uint64_t lost_total = timeline__lost_total(tl);
	struct tl_gc *gcs = malloc(TL_GC_KEPT * sizeof(*gcs));

	for (i = 0; i < nl; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		struct tl_bucket b = {0};
		struct tl_type_count top[TOP_TYPES];
		uint64_t by_gen[4] = {0}, gc_us = 0, gc_inside = 0;
		size_t k, shown;

		/* a lane born after the interval is not in it: the lines then
		 * depend only on records before to_ns, live and in replay */
		if (!in || in->first_ns >= to_ns)
			continue;
		if (span && timeline__series(tl, i, from_ns, to_ns, &b, 1) < 0)
			memset(&b, 0, sizeof(b));
		ng = gcs && span ? timeline__gcs(tl, i, from_ns, to_ns, gcs, TL_GC_KEPT) : 0;
		for (j = 0; j < ng; j++) {
			/* overlapping ones that started earlier belong to the
			 * interval before: count each collection once */
			if (gcs[j].start_ns < from_ns || gcs[j].start_ns >= to_ns)
				continue;
			by_gen[gcs[j].generation >= 0 && gcs[j].generation <= 2 ? gcs[j].generation
										: 3]++;
			if (gcs[j].end_ns >= gcs[j].start_ns && gcs[j].end_ns)
				gc_us += (gcs[j].end_ns - gcs[j].start_ns) / 1000;
			gc_inside += gcs[j].traced_inside;
		}
		k = span ? timeline__top_types(tl, i, from_ns, to_ns, top, TOP_TYPES) : 0;

		print_secs(out, "t", (int64_t)(to_ns - start));
		fputc(' ', out);
		print_secs(out, "dt", (int64_t)span);
		fputs(" lane=", out);
		print_quoted(out, in->name);
		fprintf(out, " kind=%s ended=%d pids=",
			(in->kind == LG_LANE_CONTAINER) ? "container" : "process",
			tl_lane_ended_by(in, to_ns) ? 1 : 0);
		shown = in->npids < 16 ? in->npids : 16;
		if (!shown)
			fputc('-', out);
		for (j = 0; j < shown; j++)
			fprintf(out, "%s%u", j ? "," : "", in->pids[j]);
		fprintf(out, " npids=%zu interp=", in->npids);
		print_quoted(out, in->interpreter);
		fprintf(out,
			" py_alloc/s=%" PRIu64 " py_free/s=%" PRIu64 " py_alloc_bytes=%" PRIu64
			" py_free_bytes=%" PRIu64 " py_net=%" PRId64,
			tl_per_second(b.py_allocs, span), tl_per_second(b.py_frees, span),
			b.py_alloc_bytes, b.py_free_bytes, b.py_net);
		fprintf(out, " libc_alloc/s=%" PRIu64 " libc_free/s=%" PRIu64 " libc_net=%" PRId64,
			tl_per_second(b.libc_allocs, span), tl_per_second(b.libc_frees, span),
			b.libc_net);
		fprintf(out, " dealloc/s=%" PRIu64, tl_per_second(b.deallocs, span));
		fprintf(out, " fp_net=%" PRId64 " rss=%" PRId64 " sampled=%d", b.fp_net, b.rss,
			in->sampled ? 1 : 0);
		fprintf(out, " gc=0:%" PRIu64 ",1:%" PRIu64 ",2:%" PRIu64, in->tot.gc_gen[0],
			in->tot.gc_gen[1], in->tot.gc_gen[2]);
		fprintf(out,
			" gc_in_interval=0:%" PRIu64 ",1:%" PRIu64 ",2:%" PRIu64 ",?:%" PRIu64
			" gc_us=%" PRIu64 " gc_traced_inside=%" PRIu64,
			by_gen[0], by_gen[1], by_gen[2], by_gen[3], gc_us, gc_inside);
		fprintf(out,
			" lost=%" PRIu64 " lost_in_interval=%" PRIu32 " lost_total=%" PRIu64
			" unmatched_frees=%" PRIu64 " partial=",
			in->tot.lost, b.lost, lost_total, in->tot.unmatched_frees);
		if (in->partial && in->partial_what[0]) {
			const char *s;

			for (s = in->partial_what; *s; s++)
				if (*s != ' ' && (unsigned char)*s > 0x20 && *s != 0x7f)
					fputc(*s, out);
		} else {
			fputs(in->partial ? "?" : "-", out);
		}
		fputs(" top=\"", out);
		for (j = 0; j < k; j++) {
			char buf[TL_LANE_NAME_MAX + 32];

			snprintf(buf, sizeof(buf), "%s%s", j ? "," : "",
				 top[j].name ? top[j].name : "?");
			print_escaped(out, buf);
			fprintf(out, ":%" PRIu64, top[j].count);
		}
		fputs("\"\n", out);
	}
	free(gcs);
}
