// SPDX-License-Identifier: MIT
/*
 * `replay --format csv`: one row per time bucket and lane (container, or
 * process outside containers), written as each bucket closes, so memory
 * does not grow with the trace's length. A lane has rows from its first
 * bucket to the one it ended in (container stopped, process exited), and
 * for any later bucket it has events in. The footprint columns come last,
 * so that the positions of the older ones stay.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "export/export.h"
#include "model/export_series.h"

static const char csv_header[] =
    "time_s,container,py_alloc_count,py_free_count,py_alloc_bytes,py_free_bytes,py_net_bytes,"
    "py_live_blocks,libc_alloc_count,libc_free_count,libc_alloc_bytes,libc_free_bytes,"
    "libc_net_bytes,libc_live_blocks,dealloc_count,gc_count,gc_gen0,gc_gen1,gc_gen2,"
    "gc_collected,gc_seconds,lost,footprint_bytes,arena_bytes,rss_bytes\n";

struct csv {
	struct exporter ex;
	FILE *out;
	struct export_series *es;
	uint64_t res;
	uint64_t rows;
};

/* ns as seconds, exactly: "12", "0.01", "1.000000001" */
static void put_seconds(FILE *out, uint64_t ns)
{
	char frac[10];
	int n;

	fprintf(out, "%" PRIu64, ns / UINT64_C(1000000000));
	if (!(ns % UINT64_C(1000000000)))
		return;
	snprintf(frac, sizeof(frac), "%09u", (unsigned)(ns % UINT64_C(1000000000)));
	for (n = 9; frac[n - 1] == '0'; n--)
		;
	fprintf(out, ".%.*s", n, frac);
}

/* One field, quoted as RFC 4180 says when it holds a comma, a quote, a
 * line break or spaces at its ends (names come from traced processes). */
static void put_field(FILE *out, const char *s)
{
	size_t n = strlen(s);

	if (!strpbrk(s, ",\"\r\n") && !(n && (s[0] == ' ' || s[n - 1] == ' '))) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static int on_bucket(void *ctx, const struct es_lane *l, uint64_t b, const struct es_bucket *d,
		     const struct lg_levels *lv)
{
	struct csv *c = ctx;
	FILE *o = c->out;

	put_seconds(o, b * c->res);
	fputc(',', o);
	put_field(o, l->name);
	fprintf(o,
		",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRIu64
		",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRIu64 ",%" PRIu64
		",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",",
		d->py_allocs, d->py_frees, d->py_alloc_bytes, d->py_free_bytes, lv->py_net,
		lv->py_live, d->libc_allocs, d->libc_frees, d->libc_alloc_bytes, d->libc_free_bytes,
		lv->libc_net, lv->libc_live, d->deallocs, d->gcs, d->gc_gen[0], d->gc_gen[1],
		d->gc_gen[2], d->gc_collected);
	put_seconds(o, d->gc_ns);
	fprintf(o, ",%" PRIu64, d->lv.lost);
	/* empty, not 0, where the lane has had no footprint events yet: a
	 * trace of the allocator calls does not say the footprint is 0 */
	if (lv->have_vm)
		fprintf(o, ",%" PRId64 ",%" PRId64, lg_levels__footprint(lv), lv->fp_arena);
	else
		fputs(",,", o);
	if (lv->have_rss)
		fprintf(o, ",%" PRId64 "\n", lv->rss);
	else
		fputs(",\n", o);
	/* a full disk ends the export now rather than at the end */
	if ((++c->rows & 0xfff) == 0 && ferror(o))
		return -EIO;
	return 0;
}

static const struct es_ops csv_ops = {
    .bucket = on_bucket,
};

static struct csv *csv_of(struct pm_sink *sink)
{
	return (struct csv *)((char *)sink - offsetof(struct csv, ex.sink));
}

static int csv_record(struct pm_sink *sink, const struct pm_record *rec)
{
	return export_series__record(csv_of(sink)->es, rec);
}

static int csv_finish(struct pm_sink *sink)
{
	struct csv *c = csv_of(sink);
	int err = export_series__finish(c->es);

	if (err)
		return err;
	return ferror(c->out) ? -EIO : 0;
}

static void csv_free(struct exporter *ex)
{
	struct csv *c = (struct csv *)ex;

	export_series__free(c->es);
	free(c);
}

struct exporter *export_csv__new(FILE *out, const struct export_opts *o)
{
	struct csv *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->out = out;
	c->res = o->resolution_ns ? o->resolution_ns : 1000000000ull;
	c->es = export_series__new(o->info ? o->info->start_ns : 0, c->res, true, &csv_ops, c);
	if (!c->es) {
		free(c);
		return NULL;
	}
	c->ex.sink.record = csv_record;
	c->ex.sink.finish = csv_finish;
	c->ex.free = csv_free;
	fputs(csv_header, out);
	return &c->ex;
}
