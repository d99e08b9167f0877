// SPDX-License-Identifier: MIT
/*
 * `replay --format chrome`: Chrome Trace Event JSON (the object form), for
 * ui.perfetto.dev and chrome://tracing. Each container is a process track
 * (a small synthetic pid, in order of first sight), and so is each process
 * outside containers; counters sample its levels once per bucket;
 * collections are slices on the thread that ran them.
 *
 * Output is sorted by time through a min-heap: the series model says up to
 * when nothing older can come (export_series__settled_ns) and everything
 * before that is written out. The heap holds a few tens of milliseconds of
 * output events, at most CH_HEAP_MAX; past that the oldest goes out anyway,
 * and an event older than one already written is written at the newer time,
 * so the file is sorted whatever the input.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "export/export.h"
#include "model/export_series.h"
#include "util/json.h"

#define CH_HEAP_MAX (1u << 16)
#define CH_META_MAX 64

/* The counters, which are most of the output, are kept as numbers (no
 * allocation each); other events as their text. */
enum ch_counter {
	CH_NET = 1,
	CH_LIVE = 2,
	CH_LOST = 3,
	CH_FOOTPRINT = 4,
	CH_RSS = 5,
};

struct ch_ev {
	uint64_t ts; /* ns after the trace's start */
	uint64_t seq;
	char *text; /* the event after its "ts" member: ,"ph":...}; NULL: a counter */
	enum ch_counter counter;
	uint32_t pid;
	int64_t v1, v2, v3;
};

struct ch_lane {
	bool announced;
	bool sampled;
	struct es_levels last; /* as last written */
};

struct ch_meta {
	char *key, *value;
};

struct chrome {
	struct exporter ex;
	FILE *out;
	struct export_series *es;
	const struct pm_trace_info *info;
	const char *source;
	uint64_t res;

	struct ch_ev *heap;
	size_t nheap, heap_cap;
	uint64_t seq;
	uint64_t written_ts; /* newest time written */
	uint64_t written;    /* events written */

	struct ch_lane *lanes;
	size_t nlanes;

	char *buf; /* scratch for one event */
	size_t len, cap;
	int err; /* first failure of a string builder */

	struct ch_meta meta[CH_META_MAX];
	size_t nmeta;
	uint64_t records;
};

/* ---- one event's text ---- */

static void sb_reserve(struct chrome *c, size_t more)
{
	char *v;
	size_t cap;

	if (c->len + more + 1 <= c->cap)
		return;
	cap = c->cap ? c->cap : 256;
	while (cap < c->len + more + 1)
		cap *= 2;
	v = realloc(c->buf, cap);
	if (!v) {
		c->err = -ENOMEM;
		return;
	}
	c->buf = v;
	c->cap = cap;
}

static void __attribute__((format(printf, 2, 3))) sb_printf(struct chrome *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_reserve(c, (size_t)n);
	if (c->err)
		return;
	va_start(ap, fmt);
	vsnprintf(c->buf + c->len, c->cap - c->len, fmt, ap);
	va_end(ap);
	c->len += (size_t)n;
}

/* s as a JSON string: the strings come from traced processes */
static void sb_str(struct chrome *c, const char *s)
{
	if (!s)
		s = "";
	sb_reserve(c, JSON_STRING_MAX(strlen(s)));
	if (c->err)
		return;
	c->len += json_format_string(c->buf + c->len, s);
	c->buf[c->len] = 0;
}

static void sb_key_str(struct chrome *c, const char *key, const char *s)
{
	sb_printf(c, ",\"%s\":", key);
	sb_str(c, s);
}

/* ---- the heap ---- */

static bool ev_before(const struct ch_ev *a, const struct ch_ev *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void write_ev(struct chrome *c, struct ch_ev *e)
{
	uint64_t ts = e->ts < c->written_ts ? c->written_ts : e->ts;

	fprintf(c->out, "%s{\"ts\":%" PRIu64 ".%03u", c->written ? ",\n" : "\n", ts / 1000,
		(unsigned)(ts % 1000));
	switch (e->counter) {
	case CH_NET:
	case CH_LIVE:
		fprintf(c->out,
			",\"ph\":\"C\",\"pid\":%u,\"tid\":%u,\"name\":\"%s\",\"args\":{\"python\":"
			"%" PRId64 ",\"libc\":%" PRId64 "}}",
			e->pid, e->pid, e->counter == CH_NET ? "net bytes" : "live blocks", e->v1,
			e->v2);
		break;
	case CH_LOST:
		fprintf(c->out,
			",\"ph\":\"C\",\"pid\":%u,\"tid\":%u,\"name\":\"lost events\",\"args\":{"
			"\"count\":%" PRId64 "}}",
			e->pid, e->pid, e->v1);
		break;
	case CH_FOOTPRINT:
		fprintf(c->out,
			",\"ph\":\"C\",\"pid\":%u,\"tid\":%u,\"name\":\"footprint\",\"args\":{"
			"\"arenas\":%" PRId64 ",\"mmap\":%" PRId64 ",\"heap\":%" PRId64 "}}",
			e->pid, e->pid, e->v1, e->v2, e->v3);
		break;
	case CH_RSS:
		fprintf(c->out,
			",\"ph\":\"C\",\"pid\":%u,\"tid\":%u,\"name\":\"rss\",\"args\":{"
			"\"total\":%" PRId64 ",\"anon\":%" PRId64 "}}",
			e->pid, e->pid, e->v1, e->v2);
		break;
	default:
		fputs(e->text, c->out);
		free(e->text);
	}
	c->written_ts = ts;
	c->written++;
}

static void heap_pop_write(struct chrome *c)
{
	struct ch_ev top = c->heap[0], last = c->heap[--c->nheap];
	size_t i = 0;

	/* sift the last one down from the root */
	for (;;) {
		size_t l = 2 * i + 1, m;

		if (l >= c->nheap)
			break;
		m = l + 1 < c->nheap && ev_before(&c->heap[l + 1], &c->heap[l]) ? l + 1 : l;
		if (!ev_before(&c->heap[m], &last))
			break;
		c->heap[i] = c->heap[m];
		i = m;
	}
	if (c->nheap)
		c->heap[i] = last;
	write_ev(c, &top);
}

static int heap_push(struct chrome *c, struct ch_ev e)
{
	size_t i;

	if (c->nheap == c->heap_cap) {
		size_t cap = c->heap_cap ? c->heap_cap * 2 : 1024;
		struct ch_ev *v = realloc(c->heap, cap * sizeof(*v));

		if (!v) {
			free(e.text);
			return -ENOMEM;
		}
		c->heap = v;
		c->heap_cap = cap;
	}
	e.seq = c->seq++;
	for (i = c->nheap++; i > 0; i = (i - 1) / 2) {
		if (!ev_before(&e, &c->heap[(i - 1) / 2]))
			break;
		c->heap[i] = c->heap[(i - 1) / 2];
	}
	c->heap[i] = e;
	while (c->nheap > CH_HEAP_MAX)
		heap_pop_write(c);
	return 0;
}

/* Queue the event in the scratch buffer, to be written at time ts. */
static int push(struct chrome *c, uint64_t ts)
{
	struct ch_ev e = {.ts = ts};

	if (c->err)
		return c->err;
	e.text = malloc(c->len + 1);
	if (!e.text)
		return -ENOMEM;
	memcpy(e.text, c->buf, c->len + 1);
	return heap_push(c, e);
}

static void flush_until(struct chrome *c, uint64_t ts)
{
	while (c->nheap && c->heap[0].ts <= ts)
		heap_pop_write(c);
}

static void sb_start(struct chrome *c, const char *ph, const struct es_lane *l)
{
	c->len = 0;
	if (c->cap)
		c->buf[0] = 0;
	sb_printf(c, ",\"ph\":\"%s\",\"pid\":%zu", ph, l->index + 1);
}

/* ---- series callbacks ---- */

static struct ch_lane *ch_lane(struct chrome *c, const struct es_lane *l)
{
	if (l->index >= c->nlanes) {
		size_t n = c->nlanes ? c->nlanes * 2 : 16;
		struct ch_lane *v;

		while (n <= l->index)
			n *= 2;
		v = realloc(c->lanes, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + c->nlanes, 0, (n - c->nlanes) * sizeof(*v));
		c->lanes = v;
		c->nlanes = n;
	}
	return &c->lanes[l->index];
}

static int on_lane(void *ctx, const struct es_lane *l)
{
	struct chrome *c = ctx;
	struct ch_lane *cl = ch_lane(c, l);
	char name[2 * ES_NAME_MAX + 4];
	int err;

	if (!cl)
		return -ENOMEM;
	if (l->kind == ES_LANE_CONTAINER && l->image[0])
		snprintf(name, sizeof(name), "%s (%s)", l->name, l->image);
	else
		snprintf(name, sizeof(name), "%s", l->name);
	sb_start(c, "M", l);
	sb_printf(c, ",\"tid\":%zu,\"name\":\"process_name\",\"args\":{\"name\":", l->index + 1);
	sb_str(c, name);
	sb_printf(c, "}}");
	err = push(c, l->first_ns);
	if (err || cl->announced)
		return err;
	cl->announced = true;
	/* keep the tracks in order of first sight */
	sb_start(c, "M", l);
	sb_printf(c, ",\"tid\":%zu,\"name\":\"process_sort_index\",\"args\":{\"sort_index\":%zu}}",
		  l->index + 1, l->index + 1);
	return push(c, l->first_ns);
}

static int on_thread(void *ctx, const struct es_lane *l, uint64_t ts, uint32_t pid, uint32_t tid,
		     const char *comm)
{
	struct chrome *c = ctx;
	char name[PM_COMM_LEN + 16];

	(void)pid;
	snprintf(name, sizeof(name), "%s %u", comm && comm[0] ? comm : "thread", tid);
	sb_start(c, "M", l);
	sb_printf(c, ",\"tid\":%u,\"name\":\"thread_name\",\"args\":{\"name\":", tid);
	sb_str(c, name);
	sb_printf(c, "}}");
	return push(c, ts);
}

static int counter3(struct chrome *c, const struct es_lane *l, uint64_t ts, enum ch_counter which,
		    int64_t v1, int64_t v2, int64_t v3)
{
	struct ch_ev e = {.ts = ts,
			  .counter = which,
			  .pid = (uint32_t)l->index + 1,
			  .v1 = v1,
			  .v2 = v2,
			  .v3 = v3};

	return heap_push(c, e);
}

static int counter(struct chrome *c, const struct es_lane *l, uint64_t ts, enum ch_counter which,
		   int64_t v1, int64_t v2)
{
	return counter3(c, l, ts, which, v1, v2, 0);
}

static int write_levels(struct chrome *c, const struct es_lane *l, uint64_t ts,
			const struct es_levels *lv, const struct es_levels *was)
{
	int err = 0;

	if (!was || lv->py_net != was->py_net || lv->libc_net != was->libc_net)
		err = counter(c, l, ts, CH_NET, lv->py_net, lv->libc_net);
	if (!err && (!was || lv->py_live != was->py_live || lv->libc_live != was->libc_live))
		err = counter(c, l, ts, CH_LIVE, lv->py_live, lv->libc_live);
	if (!err && (!was || lv->lost != was->lost))
		err = counter(c, l, ts, CH_LOST, (int64_t)lv->lost, 0);
	/* footprint tracks only where the lane has footprint events */
	if (!err && lv->have_vm &&
	    (!was || !was->have_vm || lv->fp_arena != was->fp_arena ||
	     lv->fp_mmap != was->fp_mmap || lv->fp_heap != was->fp_heap))
		err = counter3(c, l, ts, CH_FOOTPRINT, lv->fp_arena, lv->fp_mmap, lv->fp_heap);
	if (!err && lv->have_rss &&
	    (!was || !was->have_rss || lv->rss != was->rss || lv->rss_anon != was->rss_anon))
		err = counter(c, l, ts, CH_RSS, lv->rss, lv->rss_anon);
	return err;
}

static int on_bucket(void *ctx, const struct es_lane *l, uint64_t b, const struct es_bucket *d,
		     const struct es_levels *lv)
{
	static const struct es_levels zero;
	struct chrome *c = ctx;
	struct ch_lane *cl = ch_lane(c, l);
	int err;

	(void)d;
	if (!cl)
		return -ENOMEM;
	if (!cl->sampled) {
		/* where the lane's counters start from */
		err = write_levels(c, l, b * c->res, &zero, NULL);
		if (err)
			return err;
		cl->sampled = true;
		cl->last = zero;
	}
	/* footprint tracks start from zero too, at the start of their first
	 * bucket (their levels are 0 until then) */
	if (lv->have_vm && !cl->last.have_vm) {
		err = counter3(c, l, b * c->res, CH_FOOTPRINT, 0, 0, 0);
		if (err)
			return err;
		cl->last.have_vm = true;
	}
	if (lv->have_rss && !cl->last.have_rss) {
		err = counter(c, l, b * c->res, CH_RSS, 0, 0);
		if (err)
			return err;
		cl->last.have_rss = true;
	}
	/* a sample at the bucket's end: the levels then */
	err = write_levels(c, l, (b + 1) * c->res, lv, &cl->last);
	cl->last = *lv;
	return err;
}

static const char *gc_source_name(uint32_t src)
{
	switch (src) {
	case PM_GC_SRC_USDT:
		return "usdt";
	case PM_GC_SRC_UPROBE:
		return "uprobe";
	}
	return "unknown";
}

static int on_gc(void *ctx, const struct es_lane *l, const struct es_gc *g)
{
	struct chrome *c = ctx;
	uint64_t dur = g->end_ns - g->start_ns;

	sb_start(c, "X", l);
	sb_printf(c, ",\"tid\":%u,\"dur\":%" PRIu64 ".%03u,\"cat\":\"gc\"", g->tid, dur / 1000,
		  (unsigned)(dur % 1000));
	if (g->generation >= 0)
		sb_printf(c, ",\"name\":\"gc gen%d\",\"args\":{\"generation\":%d", g->generation,
			  g->generation);
	else
		sb_printf(c, ",\"name\":\"gc\",\"args\":{\"generation\":null");
	if (g->collected >= 0)
		sb_printf(c, ",\"collected\":%" PRId64, g->collected);
	else
		sb_printf(c, ",\"collected\":null");
	sb_key_str(c, "source", gc_source_name(g->source));
	sb_printf(c, ",\"pid\":%u", g->pid);
	if (g->finished)
		sb_printf(c, ",\"duration_ns\":%" PRIu64 "}}", g->duration_ns);
	else
		sb_printf(c, ",\"unfinished\":true}}");
	return push(c, g->start_ns);
}

static int on_proc(void *ctx, const struct es_lane *l, const struct es_proc_event *e)
{
	struct chrome *c = ctx;
	bool exec = e->kind == PM_EXEC;
	char name[PM_COMM_LEN + 8];

	snprintf(name, sizeof(name), "%s %s", exec ? "exec" : "exit", e->comm);
	sb_start(c, "i", l);
	sb_printf(c, ",\"tid\":%u,\"s\":\"p\",\"cat\":\"process\"", e->tid);
	sb_key_str(c, "name", name);
	sb_printf(c, ",\"args\":{\"pid\":%u", e->pid);
	sb_key_str(c, "comm", e->comm);
	if (exec) {
		sb_printf(c, ",\"ppid\":%u", e->ppid);
		sb_key_str(c, "path", e->path);
	} else if ((e->exit_code & 0x7f) == 0) {
		sb_printf(c, ",\"exit_code\":%d", (e->exit_code >> 8) & 0xff);
	} else {
		sb_printf(c, ",\"signal\":%d", e->exit_code & 0x7f);
	}
	sb_printf(c, "}}");
	return push(c, e->ts_ns);
}

static int on_container(void *ctx, const struct es_lane *l, uint64_t ts, enum pm_container_state st)
{
	struct chrome *c = ctx;

	sb_start(c, "i", l);
	sb_printf(c, ",\"tid\":%zu,\"s\":\"p\",\"cat\":\"container\",\"name\":\"container %s\"",
		  l->index + 1, st == PM_CONTAINER_STOPPED ? "stop" : "start");
	sb_printf(c, ",\"args\":{\"name\":");
	sb_str(c, l->container);
	sb_key_str(c, "image", l->image);
	sb_key_str(c, "id", l->id);
	sb_printf(c, ",\"cgroup_id\":%" PRIu64 "}}", l->cgroup_id);
	return push(c, ts);
}

static const struct es_ops chrome_ops = {
    .lane = on_lane,
    .thread = on_thread,
    .bucket = on_bucket,
    .gc = on_gc,
    .proc = on_proc,
    .container = on_container,
};

/* ---- the sink ---- */

static struct chrome *chrome_of(struct pm_sink *sink)
{
	return (struct chrome *)((char *)sink - offsetof(struct chrome, ex.sink));
}

static int keep_meta(struct chrome *c, const struct pm_meta *m)
{
	char *v;
	size_t i;

	if (!m->key)
		return 0;
	for (i = 0; i < c->nmeta; i++)
		if (strcmp(c->meta[i].key, m->key) == 0)
			break;
	if (i == CH_META_MAX)
		return 0; /* more keys than any recorder writes */
	v = strdup(m->value ? m->value : "");
	if (!v)
		return -ENOMEM;
	if (i == c->nmeta) {
		c->meta[i].key = strdup(m->key);
		if (!c->meta[i].key) {
			free(v);
			return -ENOMEM;
		}
		c->nmeta++;
	}
	free(c->meta[i].value);
	c->meta[i].value = v;
	return 0;
}

static int chrome_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct chrome *c = chrome_of(sink);
	int err;

	if (rec->type == PM_REC_META)
		return keep_meta(c, &rec->meta);
	err = export_series__record(c->es, rec);
	if (err)
		return err;
	if (c->nheap && c->heap[0].ts <= export_series__settled_ns(c->es))
		flush_until(c, export_series__settled_ns(c->es));
	/* a full disk ends the export now rather than at the end */
	if ((++c->records & 0xffff) == 0 && ferror(c->out))
		return -EIO;
	return 0;
}

static void write_metadata(struct chrome *c)
{
	FILE *o = c->out;

	fputs(
	    "\n],\n\"displayTimeUnit\":\"ms\",\n\"metadata\":{\"generator\":\"pymac " PYMAC_VERSION
	    "\",\"source\":",
	    o);
	json_print_string(o, c->source);
	fprintf(o,
		",\"clock\":\"CLOCK_MONOTONIC; ts in microseconds after the trace's start\""
		",\"trace_start_ns\":%" PRIu64,
		export_series__start_ns(c->es));
	if (c->info)
		fprintf(o, ",\"trace_version\":%" PRIu32 ",\"trace_start_realtime_ns\":%" PRIu64,
			c->info->version, c->info->start_realtime_ns);
	fprintf(o, ",\"resolution_ns\":%" PRIu64 ",\"trace\":{", c->res);
	for (size_t i = 0; i < c->nmeta; i++) {
		if (i)
			fputc(',', o);
		json_print_string(o, c->meta[i].key);
		fputc(':', o);
		json_print_string(o, c->meta[i].value);
	}
	fputs("}}}\n", o);
}

static int chrome_finish(struct pm_sink *sink)
{
	struct chrome *c = chrome_of(sink);
	int err = export_series__finish(c->es);

	if (err)
		return err;
	while (c->nheap)
		heap_pop_write(c);
	write_metadata(c);
	return ferror(c->out) ? -EIO : 0;
}

static void chrome_free(struct exporter *ex)
{
	struct chrome *c = (struct chrome *)ex;

	export_series__free(c->es);
	for (size_t i = 0; i < c->nheap; i++)
		free(c->heap[i].text);
	free(c->heap);
	free(c->lanes);
	free(c->buf);
	for (size_t i = 0; i < c->nmeta; i++) {
		free(c->meta[i].key);
		free(c->meta[i].value);
	}
	free(c);
}

struct exporter *export_chrome__new(FILE *out, const struct export_opts *o)
{
	struct chrome *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->out = out;
	c->info = o->info;
	c->source = o->source ? o->source : "";
	c->res = o->resolution_ns ? o->resolution_ns : 10000000ull;
	c->es = export_series__new(o->info ? o->info->start_ns : 0, c->res, false, &chrome_ops, c);
	if (!c->es) {
		free(c);
		return NULL;
	}
	c->ex.sink.record = chrome_record;
	c->ex.sink.finish = chrome_finish;
	c->ex.free = chrome_free;
	fputs("{\"traceEvents\":[", out);
	return &c->ex;
}
