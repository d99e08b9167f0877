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
#include "views/event_print.h"
#include "util/grow.h"

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
	CH_ALLOCATED = 6, /* bytes allocated so far (requested), by allocator */
	CH_FREED = 7,	  /* bytes freed so far (sized by their allocation) */
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
	struct lg_levels last; /* as last written */
	/* bytes allocated and freed so far, python and libc (running totals
	 * of the buckets' deltas) */
	int64_t allocated[2], freed[2];
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

	struct jsonw ev; /* one event being built, in memory */
	struct jsonw w;	 /* the output */

	struct ch_meta meta[CH_META_MAX];
	size_t nmeta;
	uint64_t records;
};

/* ---- one event's text ---- */

/*
 * An event other than a counter is built as a JSON object without its "ts"
 * (written when the event is: the heap sorts by it) and kept as the text of
 * its other members, ",\"ph\":...": ev_start opens it, push closes it.
 */
static void ev_start(struct chrome *c, const char *ph, const struct es_lane *l)
{
	jsonw_mem_reset(&c->ev);
	jsonw_start_object(&c->ev);
	jsonw_string_field(&c->ev, "ph", ph);
	jsonw_uint_field(&c->ev, "pid", l->index + 1);
}

/* ---- the heap ---- */

static bool ev_before(const struct ch_ev *a, const struct ch_ev *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

/* Each counter's name and the names of its values (fewer than three: NULL). */
static const struct {
	const char *name, *args[3];
} counters[] = {
    [CH_NET] = {"net bytes", {"python", "libc"}},
    [CH_LIVE] = {"live blocks", {"python", "libc"}},
    [CH_LOST] = {"lost events", {"count"}},
    [CH_FOOTPRINT] = {"footprint", {"arenas", "mmap", "heap"}},
    [CH_RSS] = {"rss", {"total", "anon"}},
    [CH_ALLOCATED] = {"allocated bytes", {"python", "libc"}},
    [CH_FREED] = {"freed bytes", {"python", "libc"}},
};

static void counter_args(struct jsonw *w, const struct ch_ev *e)
{
	const int64_t v[3] = {e->v1, e->v2, e->v3};

	jsonw_string_field(w, "name", counters[e->counter].name);
	jsonw_name(w, "args");
	jsonw_start_object(w);
	for (int i = 0; i < 3 && counters[e->counter].args[i]; i++)
		jsonw_int_field(w, counters[e->counter].args[i], v[i]);
	jsonw_end_object(w);
}

static void write_ev(struct chrome *c, struct ch_ev *e)
{
	uint64_t ts = e->ts < c->written_ts ? c->written_ts : e->ts;
	struct jsonw *w = &c->w;

	jsonw_raw(w, "\n", 1);
	jsonw_start_object(w);
	/* microseconds, to the nanosecond */
	jsonw_name(w, "ts");
	jsonw_fixed(w, ts, 3);
	if (!e->text) {
		jsonw_string_field(w, "ph", "C");
		jsonw_uint_field(w, "pid", e->pid);
		jsonw_uint_field(w, "tid", e->pid);
		counter_args(w, e);
	} else {
		/* the event's other members, already JSON */
		jsonw_raw(w, e->text, strlen(e->text));
		free(e->text);
	}
	jsonw_end_object(w);
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
		struct ch_ev *v = PM_GROW(c->heap, &c->heap_cap, c->nheap + 1, 1024);

		if (!v) {
			free(e.text);
			return -ENOMEM;
		}
		c->heap = v;
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

/* Queue the event being built (ev_start), to be written at time ts. */
static int push(struct chrome *c, uint64_t ts)
{
	struct ch_ev e = {.ts = ts};
	const char *t;
	size_t len;

	jsonw_end_object(&c->ev);
	if (jsonw_finish(&c->ev))
		return -ENOMEM;
	/* "{...}" without its braces, after the "ts" member */
	t = jsonw_mem(&c->ev, &len);
	e.text = malloc(len);
	if (!e.text)
		return -ENOMEM;
	e.text[0] = ',';
	memcpy(e.text + 1, t + 1, len - 2);
	e.text[len - 1] = 0;
	return heap_push(c, e);
}

static void flush_until(struct chrome *c, uint64_t ts)
{
	while (c->nheap && c->heap[0].ts <= ts)
		heap_pop_write(c);
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
	ev_start(c, "M", l);
	jsonw_uint_field(&c->ev, "tid", l->index + 1);
	jsonw_string_field(&c->ev, "name", "process_name");
	jsonw_name(&c->ev, "args");
	jsonw_start_object(&c->ev);
	jsonw_string_field(&c->ev, "name", name);
	jsonw_end_object(&c->ev);
	err = push(c, l->first_ns);
	if (err || cl->announced)
		return err;
	cl->announced = true;
	/* keep the tracks in order of first sight */
	ev_start(c, "M", l);
	jsonw_uint_field(&c->ev, "tid", l->index + 1);
	jsonw_string_field(&c->ev, "name", "process_sort_index");
	jsonw_name(&c->ev, "args");
	jsonw_start_object(&c->ev);
	jsonw_uint_field(&c->ev, "sort_index", l->index + 1);
	jsonw_end_object(&c->ev);
	return push(c, l->first_ns);
}

static int on_thread(void *ctx, const struct es_lane *l, uint64_t ts, uint32_t pid, uint32_t tid,
		     const char *comm)
{
	struct chrome *c = ctx;
	char name[PM_COMM_LEN + 16];

	(void)pid;
	snprintf(name, sizeof(name), "%s %u", comm && comm[0] ? comm : "thread", tid);
	ev_start(c, "M", l);
	jsonw_uint_field(&c->ev, "tid", tid);
	jsonw_string_field(&c->ev, "name", "thread_name");
	jsonw_name(&c->ev, "args");
	jsonw_start_object(&c->ev);
	jsonw_string_field(&c->ev, "name", name);
	jsonw_end_object(&c->ev);
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
			const struct lg_levels *lv, const struct lg_levels *was)
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
		     const struct lg_levels *lv)
{
	static const struct lg_levels zero;
	struct chrome *c = ctx;
	struct ch_lane *cl = ch_lane(c, l);
	int err;

	if (!cl)
		return -ENOMEM;
	if (!cl->sampled) {
		/* where the lane's counters start from */
		err = write_levels(c, l, b * c->res, &zero, NULL);
		if (!err)
			err = counter(c, l, b * c->res, CH_ALLOCATED, 0, 0);
		if (!err)
			err = counter(c, l, b * c->res, CH_FREED, 0, 0);
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
	if (!err && (d->py_alloc_bytes || d->libc_alloc_bytes)) {
		cl->allocated[0] += (int64_t)d->py_alloc_bytes;
		cl->allocated[1] += (int64_t)d->libc_alloc_bytes;
		err = counter(c, l, (b + 1) * c->res, CH_ALLOCATED, cl->allocated[0],
			      cl->allocated[1]);
	}
	if (!err && (d->py_free_bytes || d->libc_free_bytes)) {
		cl->freed[0] += (int64_t)d->py_free_bytes;
		cl->freed[1] += (int64_t)d->libc_free_bytes;
		err = counter(c, l, (b + 1) * c->res, CH_FREED, cl->freed[0], cl->freed[1]);
	}
	return err;
}

static int on_gc(void *ctx, const struct es_lane *l, const struct es_gc *g)
{
	struct chrome *c = ctx;
	uint64_t dur = g->end_ns - g->start_ns;

	char name[24];

	ev_start(c, "X", l);
	jsonw_uint_field(&c->ev, "tid", g->tid);
	jsonw_name(&c->ev, "dur");
	jsonw_fixed(&c->ev, dur, 3);
	jsonw_string_field(&c->ev, "cat", "gc");
	if (g->generation >= 0)
		snprintf(name, sizeof(name), "gc gen%d", g->generation);
	jsonw_string_field(&c->ev, "name", g->generation >= 0 ? name : "gc");
	jsonw_name(&c->ev, "args");
	jsonw_start_object(&c->ev);
	if (g->generation >= 0)
		jsonw_int_field(&c->ev, "generation", g->generation);
	else
		jsonw_null_field(&c->ev, "generation");
	if (g->collected >= 0)
		jsonw_int_field(&c->ev, "collected", g->collected);
	else
		jsonw_null_field(&c->ev, "collected");
	if (g->uncollectable >= 0)
		jsonw_int_field(&c->ev, "uncollectable", g->uncollectable);
	else
		jsonw_null_field(&c->ev, "uncollectable");
	jsonw_string_field(&c->ev, "source", event_gc_source_name(g->source));
	jsonw_uint_field(&c->ev, "pid", g->pid);
	if (g->finished)
		jsonw_uint_field(&c->ev, "duration_ns", g->duration_ns);
	else
		jsonw_bool_field(&c->ev, "unfinished", true);
	jsonw_end_object(&c->ev);
	return push(c, g->start_ns);
}

static int on_proc(void *ctx, const struct es_lane *l, const struct es_proc_event *e)
{
	struct chrome *c = ctx;
	bool exec = e->kind == PM_EXEC;
	char name[PM_COMM_LEN + 8];

	snprintf(name, sizeof(name), "%s %s", exec ? "exec" : "exit", e->comm);
	ev_start(c, "i", l);
	jsonw_uint_field(&c->ev, "tid", e->tid);
	jsonw_string_field(&c->ev, "s", "p");
	jsonw_string_field(&c->ev, "cat", "process");
	jsonw_string_field(&c->ev, "name", name);
	jsonw_name(&c->ev, "args");
	jsonw_start_object(&c->ev);
	jsonw_uint_field(&c->ev, "pid", e->pid);
	jsonw_string_field(&c->ev, "comm", e->comm);
	if (exec) {
		jsonw_uint_field(&c->ev, "ppid", e->ppid);
		jsonw_string_field(&c->ev, "path", e->path);
	} else if ((e->exit_code & 0x7f) == 0) {
		jsonw_int_field(&c->ev, "exit_code", (e->exit_code >> 8) & 0xff);
	} else {
		jsonw_int_field(&c->ev, "signal", e->exit_code & 0x7f);
	}
	jsonw_end_object(&c->ev);
	return push(c, e->ts_ns);
}

static int on_container(void *ctx, const struct es_lane *l, uint64_t ts, enum pm_container_state st)
{
	struct chrome *c = ctx;

	ev_start(c, "i", l);
	jsonw_uint_field(&c->ev, "tid", l->index + 1);
	jsonw_string_field(&c->ev, "s", "p");
	jsonw_string_field(&c->ev, "cat", "container");
	jsonw_string_field(&c->ev, "name",
			   st == PM_CONTAINER_STOPPED ? "container stop" : "container start");
	jsonw_name(&c->ev, "args");
	jsonw_start_object(&c->ev);
	jsonw_string_field(&c->ev, "name", l->container);
	jsonw_string_field(&c->ev, "image", l->image);
	jsonw_string_field(&c->ev, "id", l->id);
	jsonw_uint_field(&c->ev, "cgroup_id", l->cgroup_id);
	jsonw_end_object(&c->ev);
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
	struct jsonw *w = &c->w;

	jsonw_end_array(w);
	jsonw_raw(w, "\n", 1);
	jsonw_string_field(w, "displayTimeUnit", "ms");
	jsonw_raw(w, "\n", 1);
	jsonw_name(w, "metadata");
	jsonw_start_object(w);
	jsonw_string_field(w, "generator", "pymac " PYMAC_VERSION);
	jsonw_string_field(w, "source", c->source);
	jsonw_string_field(w, "clock",
			   "CLOCK_MONOTONIC; ts in microseconds after the trace's start");
	jsonw_uint_field(w, "trace_start_ns", export_series__start_ns(c->es));
	if (c->info) {
		jsonw_uint_field(w, "trace_version", c->info->version);
		jsonw_uint_field(w, "trace_start_realtime_ns", c->info->start_realtime_ns);
	}
	jsonw_uint_field(w, "resolution_ns", c->res);
	jsonw_name(w, "trace");
	jsonw_start_object(w);
	for (size_t i = 0; i < c->nmeta; i++)
		jsonw_string_field(w, c->meta[i].key, c->meta[i].value);
	jsonw_end_object(w);
	jsonw_end_object(w);
	jsonw_end_object(w);
	jsonw_raw(w, "\n", 1);
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
	return jsonw_finish(&c->w);
}

static void chrome_free(struct exporter *ex)
{
	struct chrome *c = (struct chrome *)ex;

	export_series__free(c->es);
	for (size_t i = 0; i < c->nheap; i++)
		free(c->heap[i].text);
	free(c->heap);
	free(c->lanes);
	jsonw_free(&c->ev);
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
	jsonw_init_mem(&c->ev, false);
	jsonw_init(&c->w, out, false);
	jsonw_start_object(&c->w);
	jsonw_name(&c->w, "traceEvents");
	jsonw_start_array(&c->w);
	return &c->ex;
}
