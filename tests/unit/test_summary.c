// SPDX-License-Identifier: MIT
/* Summary, event printer and JSON string tests, fed with records built in
 * memory (no trace file involved). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "views/event_print.h"
#include "util/json.h"
#include "views/summary.h"

/* ---- building records ---- */

static struct pm_record ev_hdr(uint32_t pid, uint32_t tid, uint64_t ts, enum pm_kind kind)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_EVENT;
	r.ev.ts_ns = ts;
	r.ev.cgroup_id = 4242;
	r.ev.pid = pid;
	r.ev.tid = tid;
	r.ev.kind = kind;
	return r;
}

static struct pm_record ev_alloc(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t size,
				 uint64_t addr, uint64_t old)
{
	struct pm_record r = ev_hdr(pid, pid, ts, kind);

	r.ev.alloc.size = size;
	r.ev.alloc.addr = addr;
	r.ev.alloc.old_addr = old;
	return r;
}

static struct pm_record ev_free(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t addr)
{
	struct pm_record r = ev_hdr(pid, pid, ts, kind);

	r.ev.free.addr = addr;
	return r;
}

static struct pm_record ev_dealloc(uint32_t pid, uint64_t ts, const char *type_name)
{
	struct pm_record r = ev_hdr(pid, pid, ts, PM_PY_DEALLOC);

	r.ev.dealloc.obj = 0x7f0000001000;
	r.ev.dealloc.type = 0x555500002000;
	r.ev.dealloc.type_name = type_name;
	return r;
}

static struct pm_record ev_gc(uint32_t pid, uint64_t ts, enum pm_kind kind, int gen,
			      int64_t collected, uint64_t dur, uint32_t src)
{
	struct pm_record r = ev_hdr(pid, pid, ts, kind);

	r.ev.gc.generation = gen;
	r.ev.gc.source = src;
	r.ev.gc.collected = collected;
	r.ev.gc.duration_ns = dur;
	return r;
}

static struct pm_record ev_proc(uint32_t pid, uint64_t ts, enum pm_kind kind, uint32_t ppid,
				int32_t code, const char *comm, const char *path)
{
	struct pm_record r = ev_hdr(pid, pid, ts, kind);

	r.ev.proc.ppid = ppid;
	r.ev.proc.exit_code = code;
	r.ev.proc.comm = comm;
	r.ev.proc.path = path;
	return r;
}

static struct pm_record rec_process(uint32_t pid, uint64_t ts, uint32_t ppid, const char *comm,
				    const char *exe, const char *python, const char *ver)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_PROCESS;
	r.proc.ts_ns = ts;
	r.proc.cgroup_id = 77;
	r.proc.pid = pid;
	r.proc.ppid = ppid;
	r.proc.comm = comm;
	r.proc.exe = exe;
	r.proc.python = python;
	r.proc.python_version = ver;
	return r;
}

static struct pm_record rec_source(uint32_t pid, uint64_t ts, const char *name,
				   enum pm_source_status st, const char *detail)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_SOURCE;
	r.src.ts_ns = ts;
	r.src.pid = pid;
	r.src.source = name;
	r.src.status = st;
	r.src.detail = detail;
	return r;
}

static struct pm_record rec_lost(uint32_t pid, uint64_t ts, enum pm_kind kind, uint64_t count)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_LOST;
	r.lost.ts_ns = ts;
	r.lost.pid = pid;
	r.lost.kind = kind;
	r.lost.count = count;
	return r;
}

static struct pm_record rec_end(uint64_t ts, uint64_t events)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_END;
	r.end.ts_ns = ts;
	r.end.events = events;
	return r;
}

static void feed(struct pm_sink *sink, const struct pm_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sink->record(sink, &recs[i]), 0);
	if (sink->finish)
		assert_int_equal(sink->finish(sink), 0);
}

/* ---- capturing output ---- */

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static void capture_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

static char *capture_close(struct capture *c)
{
	assert_int_equal(fclose(c->f), 0);
	return c->buf;
}

static char *summary_json(struct procstats *s, const struct pm_trace_info *info, int top)
{
	struct capture c;

	capture_open(&c);
	assert_int_equal(summary__print_json(s, c.f, info, top), 0);
	return capture_close(&c);
}

static char *summary_text(struct procstats *s, const struct pm_trace_info *info, int top)
{
	struct capture c;

	capture_open(&c);
	assert_int_equal(summary__print_text(s, c.f, info, top), 0);
	return capture_close(&c);
}

static struct json_object *parse(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	if (!o)
		fprintf(stderr, "not JSON:\n%s\n", text);
	assert_non_null(o);
	return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("missing key \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static int64_t get_int(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_uint64(v);
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static bool get_bool(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_boolean));
	return json_object_get_boolean(v);
}

/* The object's keys are exactly keys, in that order (NULL-terminated). */
static void assert_keys(struct json_object *o, const char *const *keys)
{
	size_t i = 0;

	assert_true(json_object_is_type(o, json_type_object));
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (!keys[i])
			fail_msg("unexpected key \"%s\"", key);
		assert_string_equal(key, keys[i]);
		i++;
	}
	if (keys[i])
		fail_msg("missing key \"%s\"", keys[i]);
}

static struct json_object *find_proc(struct json_object *root, uint32_t pid)
{
	struct json_object *procs = get(root, "processes");

	for (size_t i = 0; i < json_object_array_length(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i);

		if (get_int(p, "pid") == pid)
			return p;
	}
	fail_msg("no process %u", pid);
	return NULL;
}

/* ---- a trace that exercises every field ---- */

#define T0 1000000000ull

static const struct pm_trace_info info = {
    .version = 1,
    .start_ns = T0,
    .start_realtime_ns = 1700000000000000000ull,
};

static struct procstats *full_summary(void)
{
	const struct pm_record recs[] = {
	    rec_process(200, T0 + 1, 1, "python3.11", "/usr/bin/python3.11", "/usr/bin/python3.11",
			"3.11"),
	    rec_source(200, T0 + 2, "pymalloc", PM_SRC_PARTIAL, "first"),
	    rec_source(200, T0 + 2, "gc", PM_SRC_FULL, ""),
	    rec_source(200, T0 + 3, "pymalloc", PM_SRC_PARTIAL, "allocator inlined"),
	    ev_alloc(200, T0 + 10, PM_PY_MALLOC, 32, 0x1000, 0),
	    ev_alloc(200, T0 + 11, PM_PY_MALLOC, 100, 0x2000, 0),
	    ev_alloc(200, T0 + 12, PM_PY_CALLOC, 64, 0x3000, 0),
	    ev_alloc(200, T0 + 13, PM_PY_REALLOC, 200, 0x4000, 0x1000),
	    ev_free(200, T0 + 14, PM_PY_FREE, 0x2000),
	    ev_dealloc(200, T0 + 15, "list"),
	    ev_dealloc(200, T0 + 16, "dict"),
	    ev_dealloc(200, T0 + 17, "list"),
	    ev_gc(200, T0 + 20, PM_GC_START, 0, -1, 0, PM_GC_SRC_USDT),
	    ev_gc(200, T0 + 21, PM_GC_DONE, 0, 10, 1000, PM_GC_SRC_USDT),
	    ev_gc(200, T0 + 22, PM_GC_START, 2, -1, 0, PM_GC_SRC_USDT),
	    ev_gc(200, T0 + 23, PM_GC_DONE, 2, 47, 233000, PM_GC_SRC_USDT),
	    ev_gc(200, T0 + 24, PM_GC_START, 1, -1, 0, PM_GC_SRC_USDT),
	    ev_gc(200, T0 + 25, PM_GC_DONE, 1, -1, 1000000, PM_GC_SRC_USDT),
	    ev_gc(200, T0 + 26, PM_GC_START, 0, -1, 0, PM_GC_SRC_USDT),
	    ev_alloc(200, T0 + 30, PM_MALLOC, 1000, 0x5000, 0),
	    ev_alloc(200, T0 + 31, PM_CALLOC, 24, 0x6000, 0),
	    ev_alloc(200, T0 + 32, PM_REALLOC, 8, 0x7000, 0x5000),
	    ev_free(200, T0 + 33, PM_FREE, 0x7000),
	    ev_proc(200, T0 + 40, PM_EXEC, 1, 0, "python3", "/usr/bin/python3"),
	    ev_proc(200, T0 + 50, PM_EXIT, 1, 256, "python3", ""),
	    rec_lost(200, T0 + 60, PM_PY_MALLOC, 5),
	    rec_lost(200, T0 + 61, PM_MALLOC, 3),
	    rec_lost(200, T0 + 62, PM_PY_MALLOC, 7),
	    rec_lost(0, T0 + 63, PM_FREE, 4),
	    rec_lost(0, T0 + 64, PM_FREE, 6),
	    /* Known only from its events: no process record. */
	    ev_gc(100, T0 + 70, PM_GC_START, 0, -1, 0, PM_GC_SRC_UPROBE),
	    ev_gc(100, T0 + 71, PM_GC_DONE, 0, 3, 500, PM_GC_SRC_UPROBE),
	    ev_alloc(100, T0 + 72, PM_MALLOC, 2 << 20, 0x8000, 0),
	    rec_end(T0 + 2000000000ull, 24),
	};
	struct procstats *s = procstats__new();

	assert_non_null(s);
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	return s;
}

/* A container that ended before it could be traced (META missed_container)
 * is named in both summaries; a malformed value is no container. */
static void test_missed_containers(void **state)
{
	(void)state;
	struct pm_record recs[] = {
	    {.type = PM_REC_META, .meta = {"missed_container", "312000000 shop_web_1"}},
	    {.type = PM_REC_META, .meta = {"missed_container", "0 shop_db_1"}},
	    {.type = PM_REC_META, .meta = {"missed_container", "garbage"}},
	    rec_end(T0 + 1000, 0),
	};
	struct procstats *s = procstats__new();
	struct json_object *root, *m, *first;
	char *text, *json;

	assert_non_null(s);
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	text = summary_text(s, NULL, 10);
	assert_non_null(strstr(text, "  missed    container shop_web_1 ran 0.31 s and was missed: "
				     "it ended before pymac could attach to it\n"));
	assert_non_null(strstr(text, "  missed    container shop_db_1 was missed: "));
	assert_null(strstr(text, "garbage"));
	json = summary_json(s, NULL, 10);
	root = parse(json);
	m = get(root, "missed_containers");
	assert_int_equal(json_object_array_length(m), 2);
	first = json_object_array_get_idx(m, 0);
	assert_string_equal(json_object_get_string(get(first, "name")), "shop_web_1");
	assert_int_equal(get_u64(first, "ran_ns"), 312000000);
	assert_true(
	    json_object_is_type(get(json_object_array_get_idx(m, 1), "ran_ns"), json_type_null));
	json_object_put(root);
	free(json);
	free(text);
	procstats__free(s);
}

static void test_json_full(void **state)
{
	static const char *const top_keys[] = {
	    "trace", "processes", "containers", "missed_containers", "lanes", NULL};
	static const char *const trace_keys[] = {"version", "start_ns", "duration_ns", "events",
						 "lost",    "complete", NULL};
	static const char *const proc_keys[] = {"pid",
						"ppid",
						"comm",
						"exe",
						"python",
						"python_version",
						"allocator",
						"cgroup_id",
						"lane",
						"counts",
						"gc",
						"bytes",
						"held_at_exit",
						"unmatched_frees",
						"unmatched_py_frees",
						"unmatched_cause",
						"origin",
						"top_dealloc_types",
						"lost",
						"lost_by_kind",
						"sources",
						"coverage",
						"exit_code",
						NULL};
	static const char *const count_keys[] = {"py_malloc",  "py_calloc", "py_realloc", "py_free",
						 "py_dealloc", "gc_start",  "gc_done",	  "malloc",
						 "calloc",     "realloc",   "free",	  "exec",
						 "exit",       "vm",	    "rss",	  NULL};
	static const char *const gc_keys[] = {
	    "collections", "by_generation", "collected",   "uncollectable", "time_ns", "source",
	    "unfinished",  "traced_inside", "time_is_own", "time_note",	    NULL};
	static const uint64_t counts200[] = {2, 1, 1, 1, 3, 4, 3, 1, 1, 1, 1, 1, 1, 0, 0};
	struct procstats *s = full_summary();
	char *text = summary_json(s, &info, 10);
	struct json_object *root = parse(text), *t, *p, *v, *e;

	(void)state;
	assert_keys(root, top_keys);
	t = get(root, "trace");
	assert_keys(t, trace_keys);
	assert_int_equal(get_int(t, "version"), 1);
	assert_int_equal(get_u64(t, "start_ns"), T0);
	assert_int_equal(get_u64(t, "duration_ns"), 2000000000ull);
	assert_int_equal(get_int(t, "events"), 24);
	assert_int_equal(get_int(t, "lost"), 7 + 3 + 6);
	assert_true(get_bool(t, "complete"));

	v = get(root, "processes");
	assert_int_equal(json_object_array_length(v), 2);
	/* Sorted by pid. */
	assert_int_equal(get_int(json_object_array_get_idx(v, 0), "pid"), 100);
	assert_int_equal(get_int(json_object_array_get_idx(v, 1), "pid"), 200);

	p = find_proc(root, 200);
	assert_keys(p, proc_keys);
	assert_int_equal(get_int(p, "ppid"), 1);
	assert_string_equal(get_str(p, "comm"), "python3");
	assert_string_equal(get_str(p, "exe"), "/usr/bin/python3");
	assert_string_equal(get_str(p, "python"), "/usr/bin/python3.11");
	assert_string_equal(get_str(p, "python_version"), "3.11");
	assert_string_equal(get_str(p, "allocator"), "pymalloc");
	assert_int_equal(get_u64(p, "cgroup_id"), 77);
	v = get(p, "counts");
	assert_keys(v, count_keys);
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		assert_int_equal(get_u64(v, pm_kind_name(k)), counts200[k - 1]);
	v = get(p, "bytes");
	assert_int_equal(get_u64(v, "py_alloc"), 32 + 100 + 64 + 200);
	assert_int_equal(get_u64(v, "malloc"), 1000 + 24 + 8);
	v = get(p, "gc");
	assert_keys(v, gc_keys);
	assert_int_equal(get_u64(v, "collections"), 3);
	e = get(v, "by_generation");
	assert_int_equal(json_object_array_length(e), 3);
	for (int g = 0; g < 3; g++)
		assert_int_equal(json_object_get_int64(json_object_array_get_idx(e, g)), 1);
	assert_int_equal(get_u64(v, "collected"), 57);
	assert_int_equal(get_u64(v, "time_ns"), 1234000);
	assert_string_equal(get_str(v, "source"), "usdt");
	assert_int_equal(get_u64(v, "unfinished"), 1);
	v = get(p, "top_dealloc_types");
	assert_int_equal(json_object_array_length(v), 2);
	e = json_object_array_get_idx(v, 0);
	assert_string_equal(get_str(e, "type"), "list");
	assert_int_equal(get_u64(e, "count"), 2);
	e = json_object_array_get_idx(v, 1);
	assert_string_equal(get_str(e, "type"), "dict");
	assert_int_equal(get_u64(e, "count"), 1);
	assert_int_equal(get_u64(p, "lost"), 10);
	v = get(p, "lost_by_kind");
	{
		static const char *const lk[] = {"py_malloc", "malloc", NULL};

		assert_keys(v, lk);
	}
	assert_int_equal(get_u64(v, "py_malloc"), 7);
	assert_int_equal(get_u64(v, "malloc"), 3);
	v = get(p, "sources");
	{
		static const char *const sk[] = {"pymalloc", "gc", NULL};
		static const char *const st[] = {"status", "detail", NULL};

		assert_keys(v, sk);
		assert_keys(get(v, "pymalloc"), st);
	}
	assert_string_equal(get_str(get(v, "pymalloc"), "status"), "partial");
	assert_string_equal(get_str(get(v, "pymalloc"), "detail"), "allocator inlined");
	/* coverage: the statuses again, as complete/partial/none/off */
	{
		static const char *const ck[] = {"pymalloc", "gc", NULL};
		struct json_object *c = get(p, "coverage");

		assert_keys(c, ck);
		assert_string_equal(json_object_get_string(get(c, "pymalloc")), "partial");
	}
	assert_string_equal(get_str(get(v, "gc"), "status"), "full");
	assert_string_equal(get_str(get(v, "gc"), "detail"), "");
	assert_int_equal(get_int(p, "exit_code"), 256);

	p = find_proc(root, 100);
	assert_keys(p, proc_keys);
	assert_int_equal(get_int(p, "ppid"), 0);
	assert_string_equal(get_str(p, "comm"), "");
	assert_string_equal(get_str(p, "exe"), "");
	assert_string_equal(get_str(p, "python"), "");
	assert_string_equal(get_str(p, "python_version"), "");
	assert_int_equal(get_u64(p, "cgroup_id"), 4242);
	v = get(p, "counts");
	assert_int_equal(get_u64(v, "gc_start"), 1);
	assert_int_equal(get_u64(v, "gc_done"), 1);
	assert_int_equal(get_u64(v, "malloc"), 1);
	assert_int_equal(get_u64(v, "py_malloc"), 0);
	assert_int_equal(get_u64(get(p, "bytes"), "malloc"), 2 << 20);
	v = get(p, "gc");
	assert_int_equal(get_u64(v, "collections"), 1);
	assert_int_equal(get_u64(v, "collected"), 3);
	assert_string_equal(get_str(v, "source"), "uprobe");
	assert_int_equal(get_u64(v, "unfinished"), 0);
	assert_int_equal(json_object_array_length(get(p, "top_dealloc_types")), 0);
	assert_int_equal(get_u64(p, "lost"), 0);
	assert_int_equal(json_object_object_length(get(p, "lost_by_kind")), 0);
	assert_int_equal(json_object_object_length(get(p, "sources")), 0);
	assert_true(json_object_is_type(get(p, "exit_code"), json_type_null));

	/* no container records: every process is a host process */
	v = get(root, "containers");
	assert_int_equal(json_object_array_length(v), 1);
	e = json_object_array_get_idx(v, 0);
	assert_string_equal(get_str(e, "name"), "host");
	assert_string_equal(get_str(e, "runtime"), "host");
	assert_int_equal(get_u64(e, "cgroup_id"), 0); /* 77 and 4242 */
	assert_int_equal(json_object_array_length(get(e, "processes")), 2);
	assert_int_equal(get_u64(get(get(e, "totals"), "counts"), "malloc"), 2);
	assert_int_equal(get_u64(get(e, "totals"), "lost"), 10);

	json_object_put(root);
	free(text);
	procstats__free(s);
}

/* Live use: no header, no END. Start is the first record's time, the end the
 * last event's. */
static void test_json_without_info(void **state)
{
	const struct pm_record recs[] = {
	    ev_alloc(7, 5000, PM_PY_MALLOC, 1, 1, 0),
	    ev_alloc(7, 9000, PM_PY_MALLOC, 1, 1, 0),
	    rec_source(7, 9500, "gc", PM_SRC_NONE, "no USDT"),
	};
	struct procstats *s = procstats__new();
	char *text, *txt;
	struct json_object *root, *t;

	(void)state;
	feed(procstats__sink(s), recs, 3);
	text = summary_json(s, NULL, 5);
	root = parse(text);
	t = get(root, "trace");
	assert_int_equal(get_int(t, "version"), 0);
	assert_int_equal(get_u64(t, "start_ns"), 5000);
	assert_int_equal(get_u64(t, "duration_ns"), 4000);
	assert_int_equal(get_int(t, "events"), 2);
	assert_int_equal(get_int(t, "lost"), 0);
	assert_false(get_bool(t, "complete"));
	assert_string_equal(get_str(get(find_proc(root, 7), "gc"), "source"), "none");

	txt = summary_text(s, NULL, 5);
	assert_non_null(strstr(txt, "incomplete (recording was cut short)"));
	assert_non_null(strstr(txt, "  coverage  gc: none - no USDT\n"));
	free(txt);
	json_object_put(root);
	free(text);
	procstats__free(s);
}

static void test_empty(void **state)
{
	struct procstats *s = procstats__new();
	char *text = summary_json(s, NULL, 5);
	struct json_object *root = parse(text);

	(void)state;
	assert_int_equal(json_object_array_length(get(root, "processes")), 0);
	assert_int_equal(json_object_array_length(get(root, "containers")), 0);
	assert_int_equal(get_int(get(root, "trace"), "events"), 0);
	json_object_put(root);
	free(text);
	text = summary_text(s, NULL, 5);
	assert_non_null(strstr(text, "0 events"));
	free(text);
	procstats__free(s);
}

static void assert_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p++;
	}
	fail_msg("line not found: \"%s\" in:\n%s", line, text);
}

/* Zero rows are shown for the Python kinds of a process that may run Python
 * (py_dealloc's as well as py_calloc's), never for one known to have none. */
static void test_zero_rows(void **state)
{
	(void)state;
	/* a C program traced alone keeps its section: no Python rows in it */
	const struct pm_record c_prog[] = {
	    rec_process(300, T0 + 1, 1, "sleep", "/bin/sleep", "", ""),
	    ev_alloc(300, T0 + 2, PM_MALLOC, 10, 0x1000, 0),
	    rec_end(T0 + 10, 1),
	};
	const struct pm_record python[] = {
	    rec_process(400, T0 + 3, 1, "python3", "/usr/bin/python3", "/usr/bin/python3", "3.11"),
	    rec_source(400, T0 + 4, "pymalloc", PM_SRC_FULL, ""),
	    rec_source(400, T0 + 4, "dealloc", PM_SRC_FULL, ""),
	    ev_alloc(400, T0 + 5, PM_PY_MALLOC, 10, 0x2000, 0),
	    rec_end(T0 + 10, 1),
	};
	struct procstats *s = procstats__new();
	char *text;

	assert_non_null(s);
	feed(procstats__sink(s), c_prog, sizeof(c_prog) / sizeof(c_prog[0]));
	text = summary_text(s, NULL, 5);
	assert_non_null(strstr(text, "pid 300 "));
	assert_line(text, "  events    malloc       1");
	assert_null(strstr(text, "py_"));
	free(text);
	procstats__free(s);

	s = procstats__new();
	assert_non_null(s);
	feed(procstats__sink(s), python, sizeof(python) / sizeof(python[0]));
	text = summary_text(s, NULL, 5);
	assert_line(text, "            py_calloc    0");
	assert_line(text, "            py_dealloc   0");
	free(text);
	procstats__free(s);
}

static void test_text_full(void **state)
{
	struct procstats *s = full_summary();
	char *text = summary_text(s, &info, 10);

	(void)state;
	assert_line(text, "trace: 2.000 s, 24 events, 16 lost, complete, 2 processes");
	assert_line(text, "  lost      6 (free 6)");
	assert_line(text,
		    "  WARNING: 6 events lost from unidentified processes (ring buffer full); "
		    "counts above are lower bounds");
	assert_line(text, "pid 200 (python3) /usr/bin/python3 [python 3.11]");
	assert_line(text, "  process   parent 1, cgroup 77, exited with code 1");
	assert_line(text, "  coverage  pymalloc: partial - allocator inlined");
	assert_line(text, "  coverage  gc: full");
	assert_line(text, "  events    py_malloc    2");
	assert_line(text, "            py_calloc    1");
	assert_line(text, "            gc_start     4");
	assert_line(text, "            exit         1");
	assert_line(text, "  requested python allocator 396 B");
	assert_line(text, "            libc             1.0 KiB (1032 B)");
	assert_line(text, "  gc        source usdt, 1 started but not finished");
	assert_line(text,
		    "            3 collections (gen0 1, gen1 1, gen2 1), 57 objects collected");
	assert_line(
	    text, "            time 1.234 ms, their own time: only the GC probes fired inside the");
	assert_line(text, "  top types 2  list");
	assert_line(text, "            1  dict");
	assert_line(text, "  lost      10 (py_malloc 7, malloc 3)");
	assert_line(text, "  WARNING: 10 events lost (ring buffer full); counts above are lower "
			  "bounds");

	assert_line(text, "pid 100 (?)");
	assert_line(text, "  process   cgroup 4242, running at end of trace");
	/* The Python allocator lines are there even at zero in a process
	 * that may run Python (its process record was not seen). */
	assert_line(text, "  events    py_malloc    0");
	assert_line(text, "            py_free      0");
	assert_line(text, "            malloc       1");
	assert_line(text, "            libc             2.0 MiB (2097152 B)");
	assert_line(text, "            1 collection (gen0 1, gen1 0, gen2 0), 3 objects collected");
	assert_line(
	    text, "            time 0.001 ms, their own time: only the GC probes fired inside the");
	assert_line(text, "  lost      none");
	/* and so is py_dealloc's, like py_calloc's (issue 21: it was dropped) */
	assert_line(text, "            py_dealloc   0");

	/* Pid 100 comes before pid 200. */
	assert_true(strstr(text, "pid 100 ") < strstr(text, "pid 200 "));
	free(text);
	procstats__free(s);
}

/* Long coverage details wrap under the source name within 80 columns. */
static void test_text_wrap(void **state)
{
	const struct pm_record recs[] = {
	    rec_source(8, 1, "pymalloc", PM_SRC_PARTIAL,
		       "PyObject_Malloc is inlined in 166 places in /usr/bin/python3.11; only "
		       "calls through the exported symbol are seen. Install python3.11-dbg to "
		       "see \x1b[1mthe rest"),
	};
	struct procstats *s = procstats__new();
	char *text, *line, *save = NULL;
	int n = 0;

	(void)state;
	feed(procstats__sink(s), recs, 1);
	text = summary_text(s, NULL, 5);
	assert_line(text,
		    "  coverage  pymalloc: partial - PyObject_Malloc is inlined in 166 places in");
	assert_line(
	    text, "              /usr/bin/python3.11; only calls through the exported symbol are");
	assert_line(text, "              seen. Install python3.11-dbg to see ?[1mthe rest");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++)
		assert_true(strlen(line) <= 80 || strncmp(line, "trace:", 6) == 0);
	assert_true(n > 5);
	free(text);
	procstats__free(s);
}

/* ---- lost ---- */

static void test_lost_supersession(void **state)
{
	const struct pm_record recs[] = {
	    rec_lost(5, 1, PM_PY_MALLOC, 100), rec_lost(5, 2, PM_PY_MALLOC, 150),
	    rec_lost(5, 3, PM_PY_FREE, 9),     rec_lost(5, 4, PM_PY_MALLOC, 120),
	    rec_lost(6, 5, PM_PY_MALLOC, 1),   rec_lost(0, 6, PM_MALLOC, 2),
	    rec_lost(0, 7, PM_MALLOC, 3),      rec_lost(0, 8, PM_FREE, 10),
	};
	struct procstats *s = procstats__new();
	struct json_object *root, *p;
	char *text;

	(void)state;
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	text = summary_json(s, NULL, 5);
	root = parse(text);
	assert_int_equal(get_u64(get(root, "trace"), "lost"), 120 + 9 + 1 + 3 + 10);
	/* pid 0 is never a process. */
	assert_int_equal(json_object_array_length(get(root, "processes")), 2);
	p = find_proc(root, 5);
	assert_int_equal(get_u64(p, "lost"), 129);
	assert_int_equal(get_u64(get(p, "lost_by_kind"), "py_malloc"), 120);
	assert_int_equal(get_u64(get(p, "lost_by_kind"), "py_free"), 9);
	assert_int_equal(json_object_object_length(get(p, "lost_by_kind")), 2);
	p = find_proc(root, 6);
	assert_int_equal(get_u64(p, "lost"), 1);
	json_object_put(root);
	free(text);
	procstats__free(s);
}

/* ---- top types ---- */

static void test_top_types(void **state)
{
	/* b and c tie at 3, a and d at 1, e has 5: e, b, c, a, d. */
	static const char *const seq[] = {"c", "b", "e", "d", "e", "b", "c",
					  "a", "e", "c", "e", "b", "e", ""};
	static const char *const want[] = {"e", "b", "c", "", "a", "d"};
	static const uint64_t want_n[] = {5, 3, 3, 1, 1, 1};
	struct procstats *s = procstats__new();
	struct pm_sink *sink = procstats__sink(s);
	struct json_object *root, *v;
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		/* A fresh copy each time: the sink must not keep our pointer. */
		char name[8];
		struct pm_record r;

		strcpy(name, seq[i]);
		r = ev_dealloc(9, i, name);
		assert_int_equal(sink->record(sink, &r), 0);
		memset(name, 'X', sizeof(name) - 1);
	}

	text = summary_json(s, NULL, -1);
	root = parse(text);
	v = get(find_proc(root, 9), "top_dealloc_types");
	assert_int_equal(json_object_array_length(v), 6);
	for (size_t i = 0; i < 6; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		assert_string_equal(get_str(e, "type"), want[i]);
		assert_int_equal(get_u64(e, "count"), want_n[i]);
	}
	json_object_put(root);
	free(text);

	text = summary_json(s, NULL, 2);
	root = parse(text);
	v = get(find_proc(root, 9), "top_dealloc_types");
	assert_int_equal(json_object_array_length(v), 2);
	assert_string_equal(get_str(json_object_array_get_idx(v, 1), "type"), "b");
	json_object_put(root);
	free(text);

	text = summary_json(s, NULL, 0);
	root = parse(text);
	assert_int_equal(json_object_array_length(get(find_proc(root, 9), "top_dealloc_types")), 0);
	json_object_put(root);
	free(text);

	text = summary_text(s, NULL, 3);
	assert_line(text, "  top types 5  e");
	assert_line(text, "            3  b");
	assert_line(text, "            3  c");
	assert_line(text, "            ... and 3 more types");
	free(text);
	text = summary_text(s, NULL, 4);
	assert_line(text, "            1  (unreadable type name)");
	free(text);
	procstats__free(s);
}

/* ---- event printer ---- */

static char *print_events(enum event_format fmt, const struct pm_record *recs, size_t n)
{
	struct capture c;
	struct event_printer *p;

	capture_open(&c);
	p = event_printer__new(c.f, fmt, T0);
	assert_non_null(p);
	feed(event_printer__sink(p), recs, n);
	event_printer__free(p);
	return capture_close(&c);
}

static const struct pm_record every_kind[] = {
    {.type = PM_REC_PROCESS}, /* skipped: not an event */
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 1234567,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_PY_MALLOC,
	    .alloc = {.size = 32, .addr = 0x7f0a1b2c3d40}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 1234568,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4243,
	    .kind = PM_PY_CALLOC,
	    .alloc = {.size = 48, .addr = 0x10}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 1500000,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_PY_REALLOC,
	    .alloc = {.size = 64, .addr = 0x20, .old_addr = 0x10}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 1600000,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_PY_FREE,
	    .free = {.addr = 0x20}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 2000000,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_PY_DEALLOC,
	    .dealloc = {.obj = 0x7f0000000100, .type = 0x5500, .type_name = "list"}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 2500000,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_GC_START,
	    .gc = {.generation = 2, .source = PM_GC_SRC_UPROBE, .collected = -1}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 3000000,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_GC_DONE,
	    .gc = {.generation = 2,
		   .source = PM_GC_SRC_USDT,
		   .collected = 5,
		   .duration_ns = 123456,
		   .uncollectable = -1}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 4000000,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_MALLOC,
	    .alloc = {.size = 1, .addr = 0}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 4000001,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_CALLOC,
	    .alloc = {.size = 2, .addr = 0xabc}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 4000002,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_REALLOC,
	    .alloc = {.size = 3, .addr = 0xdef, .old_addr = 0xabc}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 4000003,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_FREE,
	    .free = {.addr = 0xdef}}},
    {.type = PM_REC_LOST, .lost = {.pid = 4242, .kind = PM_FREE, .count = 3}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 12345678901ull,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_EXEC,
	    .proc = {.ppid = 1, .comm = "python3.11", .path = "/usr/bin/python3.11"}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 12345678902ull,
	    .cgroup_id = 9,
	    .pid = 4242,
	    .tid = 4242,
	    .kind = PM_EXIT,
	    .proc = {.ppid = 1, .exit_code = 0, .comm = "python3.11", .path = ""}}},
    /* Before the start (clock of a live attach), and a name with a quote. */
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 - 1500,
	    .cgroup_id = 9,
	    .pid = 1,
	    .tid = 2,
	    .kind = PM_PY_DEALLOC,
	    .dealloc = {.obj = 0x1, .type = 0x2, .type_name = "a\"b\n"}}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0,
	    .cgroup_id = 9,
	    .pid = 1,
	    .tid = 2,
	    .kind = PM_PY_DEALLOC,
	    .dealloc = {.obj = 0x1, .type = 0x2a, .type_name = ""}}},
};

static void test_event_text(void **state)
{
	static const char want[] =
	    "     0.001234567 4242/4242 py_malloc size=32 addr=0x7f0a1b2c3d40\n"
	    "     0.001234568 4242/4243 py_calloc size=48 addr=0x10\n"
	    "     0.001500000 4242/4242 py_realloc size=64 addr=0x20 old_addr=0x10\n"
	    "     0.001600000 4242/4242 py_free addr=0x20\n"
	    "     0.002000000 4242/4242 py_dealloc obj=0x7f0000000100 type=list\n"
	    "     0.002500000 4242/4242 gc_start gen=2 source=uprobe\n"
	    "     0.003000000 4242/4242 gc_done gen=2 collected=5 uncollectable=? "
	    "duration=0.000123456s "
	    "source=usdt\n"
	    "     0.004000000 4242/4242 malloc size=1 addr=0x0\n"
	    "     0.004000001 4242/4242 calloc size=2 addr=0xabc\n"
	    "     0.004000002 4242/4242 realloc size=3 addr=0xdef old_addr=0xabc\n"
	    "     0.004000003 4242/4242 free addr=0xdef\n"
	    "    12.345678901 4242/4242 exec comm=python3.11 path=/usr/bin/python3.11 ppid=1\n"
	    "    12.345678902 4242/4242 exit comm=python3.11 exit_code=0\n"
	    "    -0.000001500 1/2 py_dealloc obj=0x1 type=a\"b?\n"
	    "     0.000000000 1/2 py_dealloc obj=0x1 type=0x2a\n";
	char *out =
	    print_events(EVENT_FMT_TEXT, every_kind, sizeof(every_kind) / sizeof(every_kind[0]));

	(void)state;
	assert_string_equal(out, want);
	free(out);
}

static void test_event_jsonl(void **state)
{
	static const char want[] =
	    "{\"ts_ns\":1001234567,\"t_ns\":1234567,\"kind\":\"py_malloc\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"size\":32,\"addr\":139681382284608}\n"
	    "{\"ts_ns\":1001234568,\"t_ns\":1234568,\"kind\":\"py_calloc\",\"pid\":4242,"
	    "\"tid\":4243,\"cgroup_id\":9,\"size\":48,\"addr\":16}\n"
	    "{\"ts_ns\":1001500000,\"t_ns\":1500000,\"kind\":\"py_realloc\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"size\":64,\"addr\":32,\"old_addr\":16}\n"
	    "{\"ts_ns\":1001600000,\"t_ns\":1600000,\"kind\":\"py_free\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"addr\":32}\n"
	    "{\"ts_ns\":1002000000,\"t_ns\":2000000,\"kind\":\"py_dealloc\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"obj\":139637976727808,\"type\":21760,"
	    "\"type_name\":\"list\"}\n"
	    "{\"ts_ns\":1002500000,\"t_ns\":2500000,\"kind\":\"gc_start\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"generation\":2,\"source\":\"uprobe\"}\n"
	    "{\"ts_ns\":1003000000,\"t_ns\":3000000,\"kind\":\"gc_done\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"generation\":2,\"collected\":5,"
	    "\"uncollectable\":-1,\"duration_ns\":123456,\"source\":\"usdt\"}\n"
	    "{\"ts_ns\":1004000000,\"t_ns\":4000000,\"kind\":\"malloc\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"size\":1,\"addr\":0}\n"
	    "{\"ts_ns\":1004000001,\"t_ns\":4000001,\"kind\":\"calloc\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"size\":2,\"addr\":2748}\n"
	    "{\"ts_ns\":1004000002,\"t_ns\":4000002,\"kind\":\"realloc\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"size\":3,\"addr\":3567,\"old_addr\":2748}\n"
	    "{\"ts_ns\":1004000003,\"t_ns\":4000003,\"kind\":\"free\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"addr\":3567}\n"
	    "{\"ts_ns\":13345678901,\"t_ns\":12345678901,\"kind\":\"exec\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"ppid\":1,\"comm\":\"python3.11\","
	    "\"path\":\"/usr/bin/python3.11\"}\n"
	    "{\"ts_ns\":13345678902,\"t_ns\":12345678902,\"kind\":\"exit\",\"pid\":4242,"
	    "\"tid\":4242,\"cgroup_id\":9,\"ppid\":1,\"comm\":\"python3.11\","
	    "\"exit_code\":0}\n"
	    "{\"ts_ns\":999998500,\"t_ns\":-1500,\"kind\":\"py_dealloc\",\"pid\":1,"
	    "\"tid\":2,\"cgroup_id\":9,\"obj\":1,\"type\":2,\"type_name\":\"a\\\"b\\u000a\"}\n"
	    "{\"ts_ns\":1000000000,\"t_ns\":0,\"kind\":\"py_dealloc\",\"pid\":1,"
	    "\"tid\":2,\"cgroup_id\":9,\"obj\":1,\"type\":42,\"type_name\":\"\"}\n";
	char *out =
	    print_events(EVENT_FMT_JSONL, every_kind, sizeof(every_kind) / sizeof(every_kind[0]));
	char *line, *save = NULL;

	(void)state;
	assert_string_equal(out, want);
	/* Every line is JSON on its own. */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_object_put(parse(line));
	free(out);
}

/* Strings larger than the printer's buffer, and enough lines to wrap it. */
static void test_event_long_and_many(void **state)
{
	size_t big = 300 * 1024, lines = 0;
	char *path = malloc(big + 1);
	struct pm_record r;
	struct capture c;
	struct event_printer *p;
	struct pm_sink *sink;
	char *out, *q;

	(void)state;
	memset(path, 'p', big);
	path[big] = '\0';
	path[10] = '\1';
	r = ev_proc(3, T0, PM_EXEC, 1, 0, "x", path);
	for (int fmt = EVENT_FMT_TEXT; fmt <= EVENT_FMT_JSONL; fmt++) {
		capture_open(&c);
		p = event_printer__new(c.f, fmt, T0);
		sink = event_printer__sink(p);
		for (int i = 0; i < 20000; i++) {
			struct pm_record d = ev_dealloc(3, T0 + i, "dict");

			assert_int_equal(sink->record(sink, &d), 0);
			if (i == 10000)
				assert_int_equal(sink->record(sink, &r), 0);
		}
		assert_int_equal(sink->finish(sink), 0);
		event_printer__free(p);
		out = capture_close(&c);
		lines = 0;
		for (q = out; *q; q++)
			lines += *q == '\n';
		assert_int_equal(lines, 20001);
		q = strstr(out,
			   fmt == EVENT_FMT_TEXT ? "path=pppppppppp?ppp" : "pppppppppp\\u0001ppp");
		assert_non_null(q);
		assert_non_null(strstr(q, fmt == EVENT_FMT_TEXT ? "ppp ppid=1\n" : "ppp\"}\n"));
		assert_non_null(strstr(q, "dict"));
		if (fmt == EVENT_FMT_JSONL) {
			char *save = NULL;

			for (char *l = strtok_r(out, "\n", &save); l;
			     l = strtok_r(NULL, "\n", &save))
				json_object_put(parse(l));
		}
		free(out);
	}
	free(path);
}

/* A kind from a newer recorder is printed by number and counted only as an
 * event; a lost count for it is reported as "unknown". */
static void test_unknown_kind(void **state)
{
	const struct pm_record recs[] = {
	    ev_hdr(11, 12, T0 + 5, (enum pm_kind)99),
	    rec_lost(11, T0 + 6, (enum pm_kind)99, 4),
	};
	struct procstats *s = procstats__new();
	struct json_object *root, *p;
	char *out;

	(void)state;
	out = print_events(EVENT_FMT_TEXT, recs, 1);
	assert_string_equal(out, "     0.000000005 11/12 kind#99\n");
	free(out);
	out = print_events(EVENT_FMT_JSONL, recs, 1);
	assert_string_equal(out, "{\"ts_ns\":1000000005,\"t_ns\":5,\"kind\":\"unknown\",\"pid\":11,"
				 "\"tid\":12,\"cgroup_id\":4242}\n");
	free(out);

	feed(procstats__sink(s), recs, 2);
	out = summary_json(s, NULL, 5);
	root = parse(out);
	assert_int_equal(get_int(get(root, "trace"), "events"), 1);
	p = find_proc(root, 11);
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		assert_int_equal(get_u64(get(p, "counts"), pm_kind_name(k)), 0);
	assert_int_equal(get_u64(get(p, "lost_by_kind"), "unknown"), 4);
	json_object_put(root);
	free(out);
	procstats__free(s);
}

/* ---- JSON strings ---- */

static char *json_str(const char *s)
{
	struct capture c;

	capture_open(&c);
	json_print_string(c.f, s);
	return capture_close(&c);
}

static void check_escape(const char *in, const char *want)
{
	char *out = json_str(in);
	char *buf = malloc(JSON_STRING_MAX(in ? strlen(in) : 0) + 1);
	size_t n = json_format_string(buf, in);
	struct json_object *o;

	buf[n] = '\0';
	assert_string_equal(out, want);
	assert_string_equal(buf, want);
	/* json-c must read back a string. */
	o = parse(out);
	assert_true(json_object_is_type(o, json_type_string));
	json_object_put(o);
	free(buf);
	free(out);
}

static void test_json_escape(void **state)
{
	char long_in[2000], *long_want, *p;

	(void)state;
	check_escape(NULL, "\"\"");
	check_escape("", "\"\"");
	check_escape("plain", "\"plain\"");
	check_escape("a\"b\\c/", "\"a\\\"b\\\\c/\"");
	check_escape("\x01\t\n\r\x1f\x7f", "\"\\u0001\\u0009\\u000a\\u000d\\u001f\x7f\"");
	/* Valid UTF-8 stays as it is: é, €, U+1F600. */
	check_escape("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
		     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* Lone continuation, bad lead bytes, truncated sequences, overlong forms,
	 * surrogates and values past U+10FFFF. */
	check_escape("a\x80z", "\"a\\ufffdz\"");
	check_escape("\xff\xfe", "\"\\ufffd\\ufffd\"");
	check_escape("\xc3", "\"\\ufffd\"");
	check_escape("\xe2\x82", "\"\\ufffd\\ufffd\"");
	check_escape("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_escape("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"");

	/* Longer than json_print_string's chunk. */
	memset(long_in, '\n', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	long_want = malloc(6 * sizeof(long_in) + 3);
	p = long_want;
	*p++ = '"';
	for (size_t i = 0; i < sizeof(long_in) - 1; i++, p += 6)
		memcpy(p, "\\u000a", 6);
	strcpy(p, "\"");
	check_escape(long_in, long_want);
	free(long_want);
}

static void test_text_format(void **state)
{
	char buf[64];
	size_t n;

	(void)state;
	n = text_format_string(buf, "ok \x1b[31m\xc3\xa9\xff\n");
	buf[n] = '\0';
	assert_string_equal(buf, "ok ?[31m\xc3\xa9??");
	assert_int_equal(text_format_string(buf, NULL), 0);
}

/* ---- scale ---- */

static void test_million_events(void **state)
{
	enum { N = 1000000, NTYPES = 1000, NPIDS = 64 };
	char(*names)[32] = malloc(NTYPES * sizeof(*names));
	struct procstats *s = procstats__new();
	struct pm_sink *sink = procstats__sink(s);
	struct timespec a, b;
	struct json_object *root;
	uint64_t total = 0;
	char *text;

	(void)state;
	for (unsigned i = 0; i < NTYPES; i++)
		snprintf(names[i], sizeof(names[i]), "module%u.Type%u", i % 37, i);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint32_t i = 0; i < N; i++) {
		uint32_t pid = 1000 + (i / 100) % NPIDS;
		struct pm_record r;

		switch (i % 4) {
		case 0:
			r = ev_dealloc(pid, T0 + i, names[(i * 7919u) % NTYPES]);
			break;
		case 1:
			r = ev_alloc(pid, T0 + i, PM_PY_MALLOC, 16, i, 0);
			break;
		case 2:
			r = ev_free(pid, T0 + i, PM_PY_FREE, i);
			break;
		default:
			r = ev_alloc(pid, T0 + i, PM_MALLOC, 100, i, 0);
			break;
		}
		assert_int_equal(sink->record(sink, &r), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("# summary of %d events: %.3f s\n", N,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);

	clock_gettime(CLOCK_MONOTONIC, &a);
	text = summary_json(s, NULL, 20);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("# JSON of it: %.3f s, %zu bytes\n",
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, strlen(text));
	root = parse(text);
	assert_int_equal(get_int(get(root, "trace"), "events"), N);
	assert_int_equal(json_object_array_length(get(root, "processes")), NPIDS);
	for (int i = 0; i < NPIDS; i++) {
		struct json_object *p = json_object_array_get_idx(get(root, "processes"), i);

		assert_int_equal(get_int(p, "pid"), 1000 + i);
		total += get_u64(get(p, "counts"), "py_dealloc");
		assert_int_equal(json_object_array_length(get(p, "top_dealloc_types")), 20);
	}
	assert_int_equal(total, N / 4);
	json_object_put(root);
	free(text);

	{
		struct capture c;
		struct event_printer *p;

		capture_open(&c);
		p = event_printer__new(c.f, EVENT_FMT_JSONL, T0);
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (uint32_t i = 0; i < N; i++) {
			struct pm_record r = i & 1 ? ev_dealloc(7, T0 + i, names[i % NTYPES])
						   : ev_alloc(7, T0 + i, PM_PY_MALLOC, 16, i, 0);

			assert_int_equal(event_printer__sink(p)->record(event_printer__sink(p), &r),
					 0);
		}
		assert_int_equal(event_printer__sink(p)->finish(event_printer__sink(p)), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		event_printer__free(p);
		text = capture_close(&c);
		printf("# JSON Lines of %d events: %.3f s, %zu bytes\n", N,
		       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
		       strlen(text));
		free(text);
	}
	free(names);
	procstats__free(s);
}

/* ---- containers ---- */

#define ID_WEB "3f2a9c1d0b7e5a6f8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
#define ID_DB  "aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44"

static struct pm_record rec_container(uint64_t ts, uint64_t cgroup, enum pm_container_state st,
				      const char *runtime, const char *id, const char *name,
				      const char *image, const char *project, const char *service)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_CONTAINER;
	r.cont = (struct pm_container){ts,    cgroup,  st,	runtime, id, name,
				       image, project, service, "",	 ""};
	return r;
}

#define POD_UID "0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5"

/* A container record of a Kubernetes pod's container. */
static struct pm_record in_pod(struct pm_record r, const char *uid, const char *qos)
{
	r.cont.pod_uid = uid;
	r.cont.qos = qos;
	return r;
}

static struct pm_record in_cgroup(struct pm_record r, uint64_t cgroup)
{
	if (r.type == PM_REC_PROCESS)
		r.proc.cgroup_id = cgroup;
	else
		r.ev.cgroup_id = cgroup;
	return r;
}

/*
 * Two containers (web: cgroup 500, stopped; db: cgroup 600, still running)
 * and a host process. pid 40 is known only from its events (cgroup 500);
 * pid 60's events say 500 but its PROCESS record says 600, which wins.
 */
static struct procstats *container_summary(void)
{
	const struct pm_record recs[] = {
	    in_pod(rec_container(T0 + 5, 500, PM_CONTAINER_RUNNING, "docker", ID_WEB, "demo-web-1",
				 "python:3.11-slim", "demo", "web"),
		   POD_UID, "burstable"),
	    in_cgroup(rec_process(20, T0 + 6, 1, "python3", "/usr/local/bin/python3", "", "3.11"),
		      500),
	    rec_container(T0 + 7, 600, PM_CONTAINER_RUNNING, "podman", ID_DB, "db", "postgres:16",
			  "", ""),
	    in_cgroup(rec_process(10, T0 + 8, 1, "worker", "/app/worker", "", ""), 600),
	    rec_process(30, T0 + 9, 1, "python3.11", "/usr/bin/python3.11", "", "3.11"),
	    in_cgroup(ev_alloc(20, T0 + 10, PM_PY_MALLOC, 32, 0x1000, 0), 500),
	    in_cgroup(ev_alloc(20, T0 + 11, PM_PY_MALLOC, 64, 0x2000, 0), 500),
	    in_cgroup(ev_gc(20, T0 + 12, PM_GC_START, 1, -1, 0, PM_GC_SRC_USDT), 500),
	    in_cgroup(ev_gc(20, T0 + 13, PM_GC_DONE, 1, 9, 700, PM_GC_SRC_USDT), 500),
	    in_cgroup(ev_alloc(40, T0 + 14, PM_MALLOC, 1000, 0x3000, 0), 500),
	    in_cgroup(ev_gc(40, T0 + 15, PM_GC_START, 0, -1, 0, PM_GC_SRC_UPROBE), 500),
	    in_cgroup(ev_alloc(10, T0 + 16, PM_MALLOC, 100, 0x4000, 0), 600),
	    in_cgroup(ev_alloc(60, T0 + 17, PM_PY_MALLOC, 8, 0x5000, 0), 500),
	    in_cgroup(rec_process(60, T0 + 18, 10, "python3", "/usr/bin/python3", "", ""), 600),
	    in_cgroup(ev_alloc(30, T0 + 19, PM_PY_MALLOC, 16, 0x6000, 0), 77),
	    rec_lost(20, T0 + 20, PM_PY_MALLOC, 3),
	    rec_lost(40, T0 + 21, PM_FREE, 2),
	    in_cgroup(ev_proc(20, T0 + 2500000000ull, PM_EXIT, 1, 0, "python3", ""), 500),
	    rec_container(T0 + 3000000000ull, 500, PM_CONTAINER_STOPPED, "docker", ID_WEB, "", "",
			  "", ""),
	    rec_end(T0 + 4000000000ull, 12),
	};
	struct procstats *s = procstats__new();

	assert_non_null(s);
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	return s;
}

static void assert_pids(struct json_object *procs, const int *pids, size_t n)
{
	assert_int_equal(json_object_array_length(procs), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(get_int(json_object_array_get_idx(procs, i), "pid"), pids[i]);
}

static void test_containers_json(void **state)
{
	static const char *const top_keys[] = {
	    "trace", "processes", "containers", "missed_containers", "lanes", NULL};
	static const char *const cont_keys[] = {
	    "id",	 "name",     "image",	"service", "project",	"runtime", "pod_uid", "qos",
	    "cgroup_id", "start_ns", "stop_ns", "module",  "processes", "totals",  NULL};
	static const char *const totals_keys[] = {
	    "counts", "gc",	      "bytes", "unmatched_frees", "unmatched_py_frees",
	    "lost",   "lost_by_kind", NULL};
	static const int web_pids[] = {20, 40}, db_pids[] = {10, 60}, host_pids[] = {30};
	struct procstats *s = container_summary();
	char *text = summary_json(s, &info, 10);
	struct json_object *root = parse(text), *v, *c, *t, *g;

	(void)state;
	assert_keys(root, top_keys);
	/* the flat list is still there, sorted by pid */
	assert_int_equal(json_object_array_length(get(root, "processes")), 5);
	v = get(root, "containers");
	assert_int_equal(json_object_array_length(v), 3);

	/* in order of first appearance, host last */
	c = json_object_array_get_idx(v, 0);
	assert_keys(c, cont_keys);
	assert_string_equal(get_str(c, "id"), ID_WEB);
	assert_string_equal(get_str(c, "name"), "demo-web-1"); /* STOPPED's "" keeps it */
	assert_string_equal(get_str(c, "image"), "python:3.11-slim");
	assert_string_equal(get_str(c, "service"), "web");
	assert_string_equal(get_str(c, "project"), "demo");
	assert_string_equal(get_str(c, "runtime"), "docker");
	/* the STOPPED record without a pod keeps the RUNNING one's */
	assert_string_equal(get_str(c, "pod_uid"), POD_UID);
	assert_string_equal(get_str(c, "qos"), "burstable");
	assert_int_equal(get_u64(c, "cgroup_id"), 500);
	assert_int_equal(get_int(c, "start_ns"), 5);
	assert_int_equal(get_int(c, "stop_ns"), 3000000000ll);
	assert_pids(get(c, "processes"), web_pids, 2);
	/* the same objects as in the flat list */
	assert_true(json_object_equal(json_object_array_get_idx(get(c, "processes"), 0),
				      find_proc(root, 20)));
	assert_true(json_object_equal(json_object_array_get_idx(get(c, "processes"), 1),
				      find_proc(root, 40)));
	/* totals are the lane's: pid 60's allocation came while its events
	 * said cgroup 500, before its PROCESS record moved it to 600 */
	t = get(c, "totals");
	assert_keys(t, totals_keys);
	assert_int_equal(get_u64(get(t, "counts"), "py_malloc"), 3);
	assert_int_equal(get_u64(get(t, "counts"), "malloc"), 1);
	assert_int_equal(get_u64(get(t, "counts"), "gc_start"), 2);
	assert_int_equal(get_u64(get(t, "counts"), "gc_done"), 1);
	assert_int_equal(get_u64(get(t, "counts"), "exit"), 1);
	assert_int_equal(get_u64(get(t, "bytes"), "py_alloc"), 104);
	assert_int_equal(get_u64(get(t, "bytes"), "malloc"), 1000);
	g = get(t, "gc");
	assert_int_equal(get_u64(g, "collections"), 1);
	assert_int_equal(
	    json_object_get_int64(json_object_array_get_idx(get(g, "by_generation"), 1)), 1);
	assert_int_equal(get_u64(g, "collected"), 9);
	assert_int_equal(get_u64(g, "time_ns"), 700);
	assert_string_equal(get_str(g, "source"), "usdt+uprobe");
	assert_int_equal(get_u64(g, "unfinished"), 1);
	assert_int_equal(get_u64(t, "lost"), 5);
	assert_int_equal(get_u64(get(t, "lost_by_kind"), "py_malloc"), 3);
	assert_int_equal(get_u64(get(t, "lost_by_kind"), "free"), 2);

	c = json_object_array_get_idx(v, 1);
	assert_keys(c, cont_keys);
	assert_string_equal(get_str(c, "name"), "db");
	assert_string_equal(get_str(c, "runtime"), "podman");
	assert_string_equal(get_str(c, "service"), "");
	assert_int_equal(get_u64(c, "cgroup_id"), 600);
	assert_int_equal(get_int(c, "start_ns"), 7);
	assert_true(json_object_is_type(get(c, "stop_ns"), json_type_null));
	assert_pids(get(c, "processes"), db_pids, 2);
	t = get(c, "totals");
	assert_int_equal(get_u64(get(t, "counts"), "py_malloc"), 0);
	assert_int_equal(get_u64(get(t, "bytes"), "malloc"), 100);
	assert_int_equal(get_u64(t, "lost"), 0);
	assert_int_equal(json_object_object_length(get(t, "lost_by_kind")), 0);

	c = json_object_array_get_idx(v, 2);
	assert_keys(c, cont_keys);
	assert_string_equal(get_str(c, "name"), "host");
	assert_string_equal(get_str(c, "id"), "");
	assert_string_equal(get_str(c, "runtime"), "host");
	assert_int_equal(get_u64(c, "cgroup_id"), 77);
	assert_int_equal(get_int(c, "start_ns"), 0);
	assert_true(json_object_is_type(get(c, "stop_ns"), json_type_null));
	assert_pids(get(c, "processes"), host_pids, 1);
	assert_int_equal(get_u64(get(get(c, "totals"), "bytes"), "py_alloc"), 16);

	json_object_put(root);
	free(text);
	procstats__free(s);
}

/* No host entry when every process is in a container; a container without
 * processes is still listed; a RUNNING record after a stop clears it. */
static void test_containers_no_host(void **state)
{
	const struct pm_record recs[] = {
	    rec_container(T0 + 100, 500, PM_CONTAINER_RUNNING, "docker", ID_WEB, "web", "", "", ""),
	    rec_container(T0 + 200, 700, PM_CONTAINER_RUNNING, "cgroup", "", "/sys/fs/cgroup/x", "",
			  "", ""),
	    in_cgroup(ev_alloc(5, T0 + 300, PM_PY_MALLOC, 8, 0x10, 0), 500),
	    rec_container(T0 + 400, 700, PM_CONTAINER_STOPPED, "cgroup", "", "", "", "", ""),
	    rec_container(T0 + 500, 500, PM_CONTAINER_STOPPED, "docker", ID_WEB, "web", "", "", ""),
	    rec_container(T0 + 600, 500, PM_CONTAINER_RUNNING, "docker", ID_WEB, "web", "", "", ""),
	};
	struct procstats *s = procstats__new();
	struct json_object *root, *v, *c;
	char *text;

	(void)state;
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	text = summary_json(s, &info, 10);
	root = parse(text);
	v = get(root, "containers");
	assert_int_equal(json_object_array_length(v), 2);
	c = json_object_array_get_idx(v, 0);
	assert_string_equal(get_str(c, "name"), "web");
	assert_int_equal(get_int(c, "start_ns"), 100);
	assert_true(json_object_is_type(get(c, "stop_ns"), json_type_null));
	assert_int_equal(json_object_array_length(get(c, "processes")), 1);
	c = json_object_array_get_idx(v, 1);
	assert_string_equal(get_str(c, "name"), "/sys/fs/cgroup/x");
	assert_string_equal(get_str(c, "runtime"), "cgroup");
	assert_int_equal(get_int(c, "start_ns"), 200);
	assert_int_equal(get_int(c, "stop_ns"), 400);
	assert_int_equal(json_object_array_length(get(c, "processes")), 0);
	json_object_put(root);
	free(text);

	text = summary_text(s, &info, 10);
	assert_line(text, "container web (docker): id 3f2a9c1d0b7e, 0.000 s - running at end of "
			  "trace");
	assert_line(text, "container /sys/fs/cgroup/x (cgroup): 0.000 s - 0.000 s");
	assert_line(text, "            no traced processes");
	assert_null(strstr(text, "\nhost"));
	free(text);
	procstats__free(s);
}

static struct pm_record rec_meta(const char *key, const char *value)
{
	return (struct pm_record){.type = PM_REC_META, .meta = {.key = key, .value = value}};
}

/* `pymac run`'s META module/module_exit: a heading and an exit code per
 * container, by its name; malformed values are left out. */
static void test_module_headings(void **state)
{
	const struct pm_record recs[] = {
	    rec_meta("module", "demo-web-1 test_web.py Serve one page, then stop."),
	    rec_meta("module", "db test_db.py "),
	    rec_meta("module", "nospace"),
	    rec_meta("module", "demo-web-1 test_again.py Named twice: the first stays."),
	    rec_meta("module_exit", "demo-web-1 3"),
	    rec_meta("module_exit", "db x"),
	    rec_meta("module_exit", "unknown 0"),
	    rec_container(T0 + 5, 500, PM_CONTAINER_RUNNING, "docker", ID_WEB, "demo-web-1",
			  "python:3.11-slim", "", ""),
	    in_cgroup(rec_process(20, T0 + 6, 1, "python3", "/usr/bin/python3", "", "3.11"), 500),
	    rec_container(T0 + 7, 600, PM_CONTAINER_RUNNING, "docker", ID_DB, "db", "py", "", ""),
	    in_cgroup(rec_process(10, T0 + 8, 1, "python3", "/usr/bin/python3", "", "3.11"), 600),
	    rec_end(T0 + 100, 0),
	};
	struct procstats *s = procstats__new();
	struct json_object *root, *c, *m;
	char *text;

	(void)state;
	assert_non_null(s);
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	assert_int_equal(s->nmodules, 2);
	text = summary_text(s, &info, 10);
	assert_line(text, "== Serve one page, then stop.");
	assert_line(text, "  module    test_web.py, exit code 3");
	/* no docstring: the file names the section; no exit code yet */
	assert_line(text, "== test_db.py");
	assert_line(text, "  module    test_db.py");
	assert_non_null(strstr(text, "== Serve one page, then stop.\n  module    test_web.py, exit "
				     "code 3\ncontainer demo-web-1 (docker)"));
	free(text);

	text = summary_json(s, &info, 10);
	root = parse(text);
	c = json_object_array_get_idx(get(root, "containers"), 0);
	m = get(c, "module");
	assert_string_equal(get_str(m, "file"), "test_web.py");
	assert_string_equal(get_str(m, "heading"), "Serve one page, then stop.");
	assert_int_equal(get_int(m, "exit_code"), 3);
	m = get(json_object_array_get_idx(get(root, "containers"), 1), "module");
	assert_string_equal(get_str(m, "heading"), "");
	assert_true(json_object_is_type(get(m, "exit_code"), json_type_null));
	json_object_put(root);
	free(text);
	procstats__free(s);
}

static void test_containers_text(void **state)
{
	struct procstats *s = container_summary();
	char *text = summary_text(s, &info, 10);
	const char *web, *db, *host, *p20, *p40, *p10, *p60, *p30;

	(void)state;
	/* the heading is the same as without containers */
	assert_line(text, "trace: 4.000 s, 10 events, 5 lost, complete, 5 processes");
	assert_line(text,
		    "container demo-web-1 (docker): compose demo/web, image python:3.11-slim, "
		    "id 3f2a9c1d0b7e, 0.000 s - 3.000 s");
	assert_line(text, "container db (podman): image postgres:16, id aa11bb22cc33, 0.000 s - "
			  "running at end of trace");
	assert_line(text, "host: processes outside the traced containers");
	/* Totals are the lanes': pid 60 allocated while its events said web,
	 * before its PROCESS record put it in db. */
	assert_line(text, "  totals    2 processes, 8 events, python allocator 104 B, libc 1000 B, "
			  "1 gc collection (gen0 0, gen1 1, gen2 0), 5 lost");
	assert_line(text, "  totals    2 processes, 1 event, python allocator 0 B, libc 100 B, "
			  "0 gc collections (gen0 0, gen1 0, gen2 0), 0 lost");
	assert_line(text, "  totals    1 process, 1 event, python allocator 16 B, libc 0 B, "
			  "0 gc collections (gen0 0, gen1 0, gen2 0), 0 lost");
	web = strstr(text, "\ncontainer demo-web-1");
	db = strstr(text, "\ncontainer db");
	host = strstr(text, "\nhost:");
	p20 = strstr(text, "\npid 20 ");
	p40 = strstr(text, "\npid 40 ");
	p10 = strstr(text, "\npid 10 ");
	p60 = strstr(text, "\npid 60 ");
	p30 = strstr(text, "\npid 30 ");
	assert_true(web && db && host && p20 && p40 && p10 && p60 && p30);
	assert_true(web < p20 && p20 < p40 && p40 < db);
	assert_true(db < p10 && p10 < p60 && p60 < host);
	assert_true(host < p30);
	free(text);
	procstats__free(s);

	/* without container records nothing of this shows */
	s = full_summary();
	text = summary_text(s, &info, 10);
	assert_null(strstr(text, "container"));
	assert_null(strstr(text, "totals"));
	assert_null(strstr(text, "\nhost"));
	free(text);
	procstats__free(s);
}

/* text with its wrapped lines joined: a newline and the indent that
 * follows it become one space (in place; returns text). */
static char *flatten(char *text)
{
	char *w = text;

	for (const char *r = text; *r; r++) {
		if (r[0] == '\n' && r[1] == ' ' && r[2] == ' ' && r[3] == ' ') {
			while (r[1] == ' ')
				r++;
			*w++ = ' ';
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
	return text;
}

/* A compose-like trace: per container one Python and its init and sleeps,
 * which have no Python and no events; they fold into one line per section. */
static void test_containers_fold_empty(void **state)
{
	struct pm_record recs[32];
	size_t n = 0;
	struct procstats *s = procstats__new();
	char *text;
	const char *web, *db, *fold_web, *fold_db;

	(void)state;
	recs[n++] = rec_container(T0 + 1, 500, PM_CONTAINER_RUNNING, "docker", ID_WEB, "demo-web-1",
				  "img", "demo", "web");
	recs[n++] = rec_container(T0 + 2, 600, PM_CONTAINER_RUNNING, "docker", ID_DB, "demo-db-1",
				  "img", "demo", "db");
	recs[n++] =
	    in_cgroup(rec_process(11, T0 + 3, 1, "python3", "/usr/bin/python3", "", "3.11"), 500);
	recs[n++] =
	    in_cgroup(rec_process(10, T0 + 3, 1, "docker-init", "/sbin/docker-init", "", ""), 500);
	for (uint32_t i = 0; i < 3; i++)
		recs[n++] =
		    in_cgroup(rec_process(20 + i, T0 + 4, 11, "sleep", "/bin/sleep", "", ""), 500);
	recs[n++] = in_cgroup(ev_proc(21, T0 + 5, PM_EXIT, 11, 0, "sleep", ""), 500);
	recs[n++] =
	    in_cgroup(rec_process(31, T0 + 3, 1, "python3", "/usr/bin/python3", "", "3.11"), 600);
	recs[n++] =
	    in_cgroup(rec_process(30, T0 + 3, 1, "docker-init", "/sbin/docker-init", "", ""), 600);
	recs[n++] = in_cgroup(rec_process(40, T0 + 4, 31, "sleep", "/bin/sleep", "", ""), 600);
	/* beside a Python, a helper's libc calls fold with it (in the totals) */
	recs[n++] = in_cgroup(rec_process(41, T0 + 4, 31, "worker", "/app/worker", "", ""), 600);
	recs[n++] = in_cgroup(ev_alloc(41, T0 + 6, PM_MALLOC, 100, 0x4000, 0), 600);
	/* a C program of the host, with no Python beside it, keeps its section */
	recs[n++] = in_cgroup(rec_process(50, T0 + 4, 1, "cprog", "/bin/cprog", "", ""), 77);
	recs[n++] = in_cgroup(ev_alloc(50, T0 + 6, PM_MALLOC, 100, 0x8000, 0), 77);
	recs[n++] = in_cgroup(ev_alloc(11, T0 + 6, PM_PY_MALLOC, 32, 0x1000, 0), 500);
	recs[n++] = rec_end(T0 + 4000000000ull, 2);
	feed(procstats__sink(s), recs, n);
	text = flatten(summary_text(s, &info, 10));
	web = strstr(text, "\ncontainer demo-web-1");
	db = strstr(text, "\ncontainer demo-db-1");
	fold_web = strstr(text, "\n4 other processes with no Python and no events: sleep (x3), "
				"docker-init\n");
	fold_db = strstr(text, "\n3 other processes with no Python and no events but 1 libc call "
			       "(in the totals): docker-init, sleep, worker\n");
	assert_true(web && db && fold_web && fold_db);
	/* one section per container, each fold inside its own */
	assert_true(web < fold_web && fold_web < db && db < fold_db);
	assert_non_null(strstr(text, "\npid 11 (python3)"));
	assert_null(strstr(text, "(worker)"));
	assert_non_null(strstr(text, "\npid 50 (cprog)"));
	assert_null(strstr(text, "(sleep)"));
	assert_null(strstr(text, "(docker-init)"));
	/* the totals still count every process */
	assert_non_null(strstr(text, "  totals    5 processes"));
	free(text);
	procstats__free(s);
}

static struct pm_record with_origin(struct pm_record r, enum pm_proc_origin o)
{
	r.proc.origin = o;
	return r;
}

static int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* The unmatched-free sentence names the cause that applies to each process. */
static void test_unmatched_cause(void **state)
{
	const struct pm_record recs[] = {
	    /* the command, whose python allocator saw part of the calls */
	    with_origin(rec_process(1, T0 + 1, 0, "python3", "/usr/bin/python3", "", "3.11"),
			PM_ORIGIN_STARTED),
	    rec_source(1, T0 + 2, "pymalloc", PM_SRC_PARTIAL, "inlined"),
	    rec_source(1, T0 + 2, "libc", PM_SRC_FULL, ""),
	    ev_free(1, T0 + 3, PM_PY_FREE, 0x10),
	    ev_free(1, T0 + 4, PM_PY_FREE, 0x20),
	    /* attached by -p */
	    with_origin(rec_process(2, T0 + 1, 0, "python3", "/usr/bin/python3", "", "3.11"),
			PM_ORIGIN_ATTACHED),
	    rec_source(2, T0 + 2, "pymalloc", PM_SRC_FULL, ""),
	    ev_free(2, T0 + 5, PM_PY_FREE, 0x30),
	    /* a trace before version 7 */
	    rec_process(3, T0 + 1, 0, "python3", "/usr/bin/python3", "", "3.11"),
	    ev_free(3, T0 + 6, PM_FREE, 0x40),
	    /* the command, all full: its libc frees come from elsewhere */
	    with_origin(rec_process(4, T0 + 1, 0, "sh", "/bin/sh", "", ""), PM_ORIGIN_STARTED),
	    rec_source(4, T0 + 2, "libc", PM_SRC_FULL, ""),
	    ev_free(4, T0 + 6, PM_FREE, 0x50),
	    rec_end(T0 + 1000, 6),
	};
	struct procstats *s = procstats__new();
	struct json_object *root;
	char *text;

	(void)state;
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	text = flatten(summary_text(s, &info, 10));
	assert_non_null(strstr(text, "unmatched 2 frees of blocks whose allocation was not seen "
				     "(traced from its start: made through allocator paths that "
				     "were not probed (pymalloc partial)); they count as frees but "
				     "not in the nets\n"));
	assert_non_null(strstr(text, "unmatched 1 free of blocks whose allocation was not seen "
				     "(made before tracing began, as pymac attached to it while it "
				     "ran); they count"));
	assert_non_null(strstr(text, "unmatched 1 free of blocks whose allocation was not seen "
				     "(may have been made before tracing began or by allocator "
				     "paths not probed); they count"));
	assert_non_null(strstr(text, "unmatched 1 free of blocks whose allocation was not seen "
				     "(traced from its start: every allocator source reported "
				     "full coverage, so made through allocator paths pymac does "
				     "not know of (for libc's, as the dynamic loader's own "
				     "malloc)); they count"));
	/* before tracing began only where pymac attached, or may have */
	assert_int_equal(count(text, "before tracing began"), 2);
	free(text);

	text = summary_json(s, &info, 10);
	root = parse(text);
	assert_string_equal(get_str(find_proc(root, 1), "unmatched_cause"),
			    "traced from its start: made through allocator paths that were not "
			    "probed (pymalloc partial)");
	assert_int_equal(get_int(find_proc(root, 1), "unmatched_py_frees"), 2);
	assert_int_equal(get_int(find_proc(root, 3), "unmatched_py_frees"), 0);
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(get(find_proc(root, 2), "origin"), 0)),
	    "attached");
	assert_int_equal(json_object_array_length(get(find_proc(root, 3), "origin")), 1);
	json_object_put(root);
	free(text);
	procstats__free(s);
}

static const struct pm_record container_recs[] = {
    {.type = PM_REC_CONTAINER,
     .cont = {T0 + 1500000, 500, PM_CONTAINER_RUNNING, "docker", ID_WEB, "demo-web-1",
	      "python:3.11-slim", "demo", "web"}},
    {.type = PM_REC_EVENT,
     .ev = {.ts_ns = T0 + 1600000,
	    .cgroup_id = 500,
	    .pid = 7,
	    .tid = 7,
	    .kind = PM_PY_FREE,
	    .free = {.addr = 0x20}}},
    {.type = PM_REC_CONTAINER,
     .cont = {T0 + 2000000000, 700, PM_CONTAINER_STOPPED, "cgroup", "", "/x\n", "", "", ""}},
};

static void test_event_containers(void **state)
{
	static const char want_text[] =
	    "     0.001500000 container running cgroup=500 runtime=docker id=3f2a9c1d0b7e "
	    "name=demo-web-1 image=python:3.11-slim project=demo service=web\n"
	    "     0.001600000 7/7 py_free addr=0x20\n"
	    "     2.000000000 container stopped cgroup=700 runtime=cgroup id= name=/x? image= "
	    "project= service=\n";
	static const char want_jsonl[] =
	    "{\"type\":\"container\",\"kind\":\"container\",\"ts_ns\":1001500000,\"t_ns\":1500000,"
	    "\"state\":\"running\",\"cgroup_id\":500,\"runtime\":\"docker\",\"id\":\"" ID_WEB "\","
	    "\"name\":\"demo-web-1\",\"image\":\"python:3.11-slim\",\"project\":\"demo\","
	    "\"service\":\"web\",\"pod_uid\":\"\",\"qos\":\"\"}\n"
	    "{\"ts_ns\":1001600000,\"t_ns\":1600000,\"kind\":\"py_free\",\"pid\":7,\"tid\":7,"
	    "\"cgroup_id\":500,\"addr\":32}\n"
	    "{\"type\":\"container\",\"kind\":\"container\",\"ts_ns\":3000000000,"
	    "\"t_ns\":2000000000,\"state\":\"stopped\",\"cgroup_id\":700,\"runtime\":\"cgroup\","
	    "\"id\":\"\",\"name\":\"/"
	    "x\\u000a\",\"image\":\"\",\"project\":\"\",\"service\":\"\",\"pod_uid\":\"\",\"qos\":"
	    "\"\"}\n";
	size_t n = sizeof(container_recs) / sizeof(container_recs[0]);
	char *out = print_events(EVENT_FMT_TEXT, container_recs, n), *line, *save = NULL;

	(void)state;
	assert_string_equal(out, want_text);
	free(out);
	out = print_events(EVENT_FMT_JSONL, container_recs, n);
	assert_string_equal(out, want_jsonl);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_object_put(parse(line));
	free(out);
}

/*
 * Issue 21, item 2: a collection's duration includes the cost of the probes
 * that fired inside it, and the summary says so. As the collector's uprobes
 * report it, the start comes with the end, after the deallocations inside.
 */
static void test_gc_time_as_traced(void **state)
{
	const struct pm_record recs[] = {
	    rec_process(300, T0 + 1, 1, "python3", "/usr/bin/python3", "/usr/bin/python3", "3.11"),
	    ev_alloc(300, T0 + 5, PM_PY_MALLOC, 32, 0x1000, 0),
	    /* inside the collection of [T0 + 10, T0 + 20] */
	    ev_dealloc(300, T0 + 11, "Node"),
	    ev_free(300, T0 + 12, PM_PY_FREE, 0x1000),
	    ev_dealloc(300, T0 + 13, "Node"),
	    ev_gc(300, T0 + 10, PM_GC_START, 2, -1, 0, PM_GC_SRC_UPROBE),
	    ev_gc(300, T0 + 20, PM_GC_DONE, 2, 2, 10, PM_GC_SRC_UPROBE),
	    /* after it, and a collection with nothing inside */
	    ev_dealloc(300, T0 + 25, "Node"),
	    ev_gc(300, T0 + 30, PM_GC_START, 0, -1, 0, PM_GC_SRC_UPROBE),
	    ev_gc(300, T0 + 40, PM_GC_DONE, 0, 0, 10, PM_GC_SRC_UPROBE),
	    rec_end(T0 + 100, 9),
	};
	const struct pm_record own[] = {
	    rec_process(301, T0 + 1, 1, "python3", "/usr/bin/python3", "/usr/bin/python3", "3.11"),
	    ev_dealloc(301, T0 + 5, "Node"),
	    ev_gc(301, T0 + 10, PM_GC_START, 2, -1, 0, PM_GC_SRC_UPROBE),
	    ev_gc(301, T0 + 20, PM_GC_DONE, 2, 2, 10, PM_GC_SRC_UPROBE),
	    rec_end(T0 + 100, 3),
	};
	struct procstats *s = procstats__new();
	struct json_object *root, *gc;
	char *text;

	(void)state;
	assert_non_null(s);
	feed(procstats__sink(s), recs, sizeof(recs) / sizeof(recs[0]));
	text = summary_text(s, &info, 5);
	assert_line(
	    text, "            time 0.000 ms, as traced: it includes the cost of the probes of at");
	assert_line(
	    text,
	    "              least 3 events traced inside the collections (for their own time,");
	assert_line(text, "              record with --mode footprint or --probes gc)");
	free(text);
	text = summary_json(s, &info, 5);
	root = parse(text);
	gc = get(find_proc(root, 300), "gc");
	assert_int_equal(get_u64(gc, "traced_inside"), 3);
	assert_false(get_bool(gc, "time_is_own"));
	assert_non_null(strstr(get_str(gc, "time_note"), "as traced"));
	json_object_put(root);
	free(text);
	procstats__free(s);

	s = procstats__new();
	assert_non_null(s);
	feed(procstats__sink(s), own, sizeof(own) / sizeof(own[0]));
	text = summary_json(s, &info, 5);
	root = parse(text);
	gc = get(find_proc(root, 301), "gc");
	assert_int_equal(get_u64(gc, "traced_inside"), 0);
	assert_true(get_bool(gc, "time_is_own"));
	json_object_put(root);
	free(text);
	procstats__free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_full),
	    cmocka_unit_test(test_missed_containers),
	    cmocka_unit_test(test_zero_rows),
	    cmocka_unit_test(test_json_without_info),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_text_full),
	    cmocka_unit_test(test_text_wrap),
	    cmocka_unit_test(test_lost_supersession),
	    cmocka_unit_test(test_top_types),
	    cmocka_unit_test(test_event_text),
	    cmocka_unit_test(test_event_jsonl),
	    cmocka_unit_test(test_event_long_and_many),
	    cmocka_unit_test(test_unknown_kind),
	    cmocka_unit_test(test_json_escape),
	    cmocka_unit_test(test_text_format),
	    cmocka_unit_test(test_million_events),
	    cmocka_unit_test(test_containers_json),
	    cmocka_unit_test(test_containers_no_host),
	    cmocka_unit_test(test_containers_text),
	    cmocka_unit_test(test_module_headings),
	    cmocka_unit_test(test_containers_fold_empty),
	    cmocka_unit_test(test_unmatched_cause),
	    cmocka_unit_test(test_event_containers),
	    cmocka_unit_test(test_gc_time_as_traced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
