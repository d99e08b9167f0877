// SPDX-License-Identifier: MIT
/* The summary of a sampled trace (--sample-duty): sampled kinds scaled by
 * each process's life over the armed time within it, GC left exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "views/summary.h"

#define S  1000000000ull
#define T0 (100 * S)

static void feed(struct procstats *s, const struct pm_record *r)
{
	struct pm_sink *k = procstats__sink(s);

	assert_int_equal(k->record(k, r), 0);
}

static void meta(struct procstats *s, const char *key, const char *value)
{
	struct pm_record r = {.type = PM_REC_META};

	r.meta.key = key;
	r.meta.value = value;
	feed(s, &r);
}

static void event(struct procstats *s, uint32_t pid, uint64_t ts, enum pm_kind kind)
{
	struct pm_record r;

	memset(&r, 0, sizeof(r));
	r.type = PM_REC_EVENT;
	r.ev.ts_ns = ts;
	r.ev.pid = r.ev.tid = pid;
	r.ev.kind = kind;
	if (kind == PM_PY_MALLOC)
		r.ev.alloc.size = 64;
	if (kind == PM_GC_DONE)
		r.ev.gc.generation = 0;
	feed(s, &r);
}

static void process(struct procstats *s, uint32_t pid, uint64_t ts)
{
	struct pm_record r = {.type = PM_REC_PROCESS};

	r.proc.ts_ns = ts;
	r.proc.pid = pid;
	r.proc.comm = "python3";
	r.proc.exe = "/usr/bin/python3";
	r.proc.python = "/usr/bin/python3";
	r.proc.python_version = "3.11";
	feed(s, &r);
}

/*
 * A 10 s trace with windows [1 s, 1.5 s) and [5 s, 5.5 s): 1 s armed.
 * pid 1 lives all 10 s and makes 10 mallocs in the windows: estimate 100.
 * pid 2 lives from 4 s to 6 s (0.5 s armed) and makes 5: estimate 20.
 * pid 3 lives from 7 s to 8 s, in no window: no estimate.
 */
static struct procstats *sampled_trace(void)
{
	struct procstats *s = procstats__new();
	struct pm_record end = {.type = PM_REC_END};
	char w[64];

	assert_non_null(s);
	meta(s, "mode", "full");
	meta(s, "sample_duty", "0.1");
	meta(s, "sample_period_ns", "1000000000");
	process(s, 1, T0);
	for (int i = 0; i < 10; i++)
		event(s, 1, T0 + S + (uint64_t)i * 1000, PM_PY_MALLOC);
	for (int i = 0; i < 3; i++) {
		event(s, 1, T0 + 2 * S + (uint64_t)i, PM_GC_START);
		event(s, 1, T0 + 2 * S + (uint64_t)i + 1, PM_GC_DONE);
	}
	process(s, 2, T0 + 4 * S);
	for (int i = 0; i < 5; i++)
		event(s, 2, T0 + 5 * S + (uint64_t)i, PM_PY_MALLOC);
	event(s, 2, T0 + 6 * S, PM_EXIT);
	process(s, 3, T0 + 7 * S);
	event(s, 3, T0 + 7 * S + 10, PM_PY_FREE);
	event(s, 3, T0 + 8 * S, PM_EXIT);
	snprintf(w, sizeof(w), "%llu %llu", T0 + S, T0 + S + S / 2);
	meta(s, "sample_window", w);
	snprintf(w, sizeof(w), "%llu %llu", T0 + 5 * S, T0 + 5 * S + S / 2);
	meta(s, "sample_window", w);
	end.end.ts_ns = T0 + 10 * S;
	feed(s, &end);
	return s;
}

static char *print(const struct procstats *s, bool json)
{
	struct pm_trace_info info = {.version = 1, .start_ns = T0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		assert_int_equal(summary__print_json(s, f, &info, 5), 0);
	else
		assert_int_equal(summary__print_text(s, f, &info, 5), 0);
	fclose(f);
	return buf;
}

static struct json_object *proc_of(struct json_object *root, int pid)
{
	struct json_object *procs = json_object_object_get(root, "processes");

	for (size_t i = 0; i < json_object_array_length(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i);

		if (json_object_get_int(json_object_object_get(p, "pid")) == pid)
			return p;
	}
	fail_msg("no pid %d", pid);
	return NULL;
}

static int64_t get_int(struct json_object *o, const char *a, const char *b)
{
	struct json_object *x = json_object_object_get(o, a);

	if (b)
		x = json_object_object_get(x, b);
	assert_non_null(x);
	return json_object_get_int64(x);
}

static void test_json_scales_by_life_over_armed(void **state)
{
	(void)state;
	struct procstats *s = sampled_trace();
	char *out = print(s, true);
	struct json_object *root = json_tokener_parse(out), *samp, *p;

	assert_non_null(root);
	samp = json_object_object_get(root, "sampling");
	assert_non_null(samp);
	assert_int_equal(get_int(samp, "windows", NULL), 2);
	assert_int_equal(get_int(samp, "armed_ns", NULL), (int64_t)S);
	assert_true(json_object_get_double(json_object_object_get(samp, "scale")) == 10.0);
	assert_true(json_object_get_double(json_object_object_get(samp, "duty")) == 0.1);

	p = proc_of(root, 1);
	assert_int_equal(get_int(p, "counts", "py_malloc"), 10);
	assert_int_equal(get_int(p, "estimated_counts", "py_malloc"), 100);
	assert_int_equal(get_int(p, "estimated_bytes", "py_alloc"), 6400);
	/* GC is not scaled */
	assert_int_equal(get_int(p, "gc", "collections"), 3);
	assert_null(
	    json_object_object_get(json_object_object_get(p, "estimated_counts"), "gc_done"));

	p = proc_of(root, 2);
	assert_int_equal(get_int(p, "sampling", "life_ns"), (int64_t)(2 * S));
	assert_int_equal(get_int(p, "sampling", "armed_ns"), (int64_t)(S / 2));
	assert_int_equal(get_int(p, "estimated_counts", "py_malloc"), 20);

	p = proc_of(root, 3);
	assert_int_equal(get_int(p, "sampling", "armed_ns"), 0);
	assert_true(
	    json_object_is_type(json_object_object_get(p, "estimated_counts"), json_type_null));
	json_object_put(root);
	free(out);
	procstats__free(s);
}

static void test_text_says_sampled(void **state)
{
	(void)state;
	struct procstats *s = sampled_trace();
	char *out = print(s, false);

	assert_non_null(strstr(out, "sampled   allocation events seen only in 2 windows covering "
				    "10.00% of the time"));
	assert_non_null(strstr(out, "counts below are estimates (x10)"));
	assert_non_null(strstr(out, "py_malloc    10  sampled, estimate 100"));
	assert_non_null(strstr(out, "gc_done       3  exact"));
	assert_non_null(strstr(out, "cannot be estimated"));
	assert_non_null(strstr(out, "in the windows; estimate"));
	free(out);
	procstats__free(s);
}

static void test_unsampled_trace_says_nothing(void **state)
{
	(void)state;
	struct procstats *s = procstats__new();
	struct pm_record end = {.type = PM_REC_END};
	char *out;

	process(s, 1, T0);
	event(s, 1, T0 + 10, PM_PY_MALLOC);
	end.end.ts_ns = T0 + S;
	feed(s, &end);
	out = print(s, false);
	assert_null(strstr(out, "sampled"));
	assert_null(strstr(out, "estimate"));
	free(out);
	out = print(s, true);
	assert_null(strstr(out, "sampling"));
	assert_null(strstr(out, "estimated_counts"));
	free(out);
	procstats__free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_scales_by_life_over_armed),
	    cmocka_unit_test(test_text_says_sampled),
	    cmocka_unit_test(test_unsampled_trace_says_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
