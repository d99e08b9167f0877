// SPDX-License-Identifier: MIT
/*
 * The /metrics page (views/prom.c), rendered from a timeline fed with
 * records built in memory: the per-lane figures, the exposition format's
 * rules (one HELP and TYPE per family, before its samples; every sample
 * line "name{labels} value"), and label values that need escaping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "model/timeline.h"
#include "views/prom.h"
#include "records.h"

#define S  1000000000ull
#define T0 (1000 * S)

static struct timeline *tl;
static char *page;

static int setup(void **state)
{
	(void)state;
	tl = timeline__new(0, 0);
	return tl ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	timeline__free(tl);
	tl = NULL;
	free(page);
	page = NULL;
	return 0;
}

static void feed(const struct pm_record *r)
{
	assert_int_equal(timeline__sink(tl)->record(timeline__sink(tl), r), 0);
}

static void process(uint32_t pid, uint64_t cgroup, const char *comm)
{
	struct pm_record r = {.type = PM_REC_PROCESS};

	r.proc.ts_ns = T0;
	r.proc.cgroup_id = cgroup;
	r.proc.pid = pid;
	r.proc.comm = comm;
	r.proc.exe = "/usr/bin/python3.11";
	r.proc.python = "/usr/bin/python3.11";
	r.proc.python_version = "3.11";
	feed(&r);
}

static void alloc(uint32_t pid, uint64_t cgroup, uint64_t ts, enum pm_kind kind, uint64_t size,
		  uint64_t addr)
{
	struct pm_record r = rec_event(pid, cgroup, ts, kind);

	r.ev.alloc.size = size;
	r.ev.alloc.addr = addr;
	feed(&r);
}

static void dofree(uint32_t pid, uint64_t cgroup, uint64_t ts, enum pm_kind kind, uint64_t addr)
{
	struct pm_record r = rec_event(pid, cgroup, ts, kind);

	r.ev.free.addr = addr;
	feed(&r);
}

static void gc(uint32_t pid, uint64_t cgroup, uint64_t ts, int generation, uint64_t dur)
{
	struct pm_record r = rec_event(pid, cgroup, ts, PM_GC_START);

	r.ev.gc.generation = generation;
	r.ev.gc.collected = -1;
	r.ev.gc.uncollectable = -1;
	feed(&r);
	r = rec_event(pid, cgroup, ts + dur, PM_GC_DONE);
	r.ev.gc.generation = generation;
	r.ev.gc.collected = 7;
	r.ev.gc.uncollectable = 0;
	r.ev.gc.duration_ns = dur;
	feed(&r);
}

static void render(uint64_t events, uint64_t lost)
{
	struct prom_totals t = {.events = events, .lost = lost};
	size_t len = 0;
	FILE *out;

	free(page);
	page = NULL;
	out = open_memstream(&page, &len);
	assert_non_null(out);
	assert_int_equal(prom__render(out, timeline__ledger(tl), &t), 0);
	assert_int_equal(fclose(out), 0);
	assert_non_null(page);
}

/* The value of the sample line that starts with prefix (name and labels). */
static const char *sample(const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = page; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, prefix, n) && l[n] == ' ')
			return l + n + 1;
	}
	return NULL;
}

static void assert_sample(const char *prefix, const char *value)
{
	const char *v = sample(prefix);

	if (!v)
		fail_msg("no sample %s in\n%s", prefix, page);
	if (strncmp(v, value, strlen(value)) || (v[strlen(value)] != '\n'))
		fail_msg("%s: %.*s, not %s", prefix, (int)strcspn(v, "\n"), v, value);
}

#define LANE "lane=\"pid 100 python3\",lane_kind=\"process\""

static void test_lane_figures(void **state)
{
	(void)state;
	process(100, 0, "python3");
	alloc(100, 0, T0 + 1, PM_PY_MALLOC, 100, 0x1000);
	alloc(100, 0, T0 + 2, PM_PY_MALLOC, 200, 0x2000);
	alloc(100, 0, T0 + 3, PM_MALLOC, 4096, 0x9000);
	dofree(100, 0, T0 + 4, PM_PY_FREE, 0x1000);
	gc(100, 0, T0 + 5, 2, 3000000);
	render(6, 0);

	assert_sample("pymac_events_total{" LANE ",kind=\"py_malloc\"}", "2");
	assert_sample("pymac_events_total{" LANE ",kind=\"malloc\"}", "1");
	assert_sample("pymac_allocated_bytes_total{" LANE ",allocator=\"python\"}", "300");
	assert_sample("pymac_allocated_bytes_total{" LANE ",allocator=\"libc\"}", "4096");
	assert_sample("pymac_freed_bytes_total{" LANE ",allocator=\"python\"}", "100");
	assert_sample("pymac_net_bytes{" LANE ",allocator=\"python\"}", "200");
	assert_sample("pymac_net_bytes{" LANE ",allocator=\"libc\"}", "4096");
	assert_sample("pymac_gc_collections_total{" LANE ",generation=\"2\"}", "1");
	assert_sample("pymac_gc_collections_total{" LANE ",generation=\"0\"}", "0");
	assert_sample("pymac_gc_seconds_total{" LANE "}", "0.003000000");
	/* no footprint events: no footprint sample claims a 0 nobody measured */
	assert_null(sample("pymac_footprint_bytes{" LANE "}"));
}

/* Every family has one HELP and one TYPE, before its first sample, and
 * every other line is a sample "name{...} value" of the family last typed. */
static void test_exposition_format(void **state)
{
	char family[128] = "", *save = NULL;
	char *copy;
	size_t types = 0, samples = 0;

	(void)state;
	process(100, 0, "python3");
	alloc(100, 0, T0 + 1, PM_PY_MALLOC, 64, 0x1000);
	gc(100, 0, T0 + 2, 0, 1000);
	render(3, 0);
	copy = strdup(page);
	assert_non_null(copy);
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "# HELP ", 7))
			continue;
		if (!strncmp(l, "# TYPE ", 7)) {
			char name[128], type[32];
			char needle[160];

			assert_int_equal(sscanf(l + 7, "%127s %31s", name, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			/* typed once in the page */
			snprintf(needle, sizeof(needle), "# TYPE %s ", name);
			assert_null(strstr(strstr(page, needle) + 1, needle));
			snprintf(family, sizeof(family), "%s", name);
			types++;
			continue;
		}
		assert_true(l[0] != '#');
		/* a sample of the family typed last, then a number */
		assert_true(family[0]);
		assert_int_equal(strncmp(l, family, strlen(family)), 0);
		assert_true(l[strlen(family)] == '{' || l[strlen(family)] == ' ');
		{
			const char *v = strrchr(l, ' ');
			char *end;

			assert_non_null(v);
			strtod(v + 1, &end);
			assert_true(end != v + 1 && *end == '\0');
		}
		samples++;
	}
	free(copy);
	assert_true(types >= 8);
	assert_true(samples > types);
	assert_sample("pymac_events_received_total", "3");
}

/* A container's name can hold anything; the label value escapes \, " and
 * newline, and the line stays one line. */
static void test_label_escaping(void **state)
{
	struct pm_record r = {.type = PM_REC_CONTAINER};

	(void)state;
	r.cont.ts_ns = T0;
	r.cont.cgroup_id = 42;
	r.cont.state = PM_CONTAINER_RUNNING;
	r.cont.runtime = "docker";
	r.cont.id = "";
	r.cont.name = "we\"ird\\na\nme";
	r.cont.image = "img";
	r.cont.project = "";
	r.cont.service = "";
	feed(&r);
	process(200, 42, "python3");
	alloc(200, 42, T0 + 1, PM_PY_MALLOC, 48, 0x1000);
	render(1, 0);
	assert_sample("pymac_allocated_bytes_total{lane=\"we\\\"ird\\\\na\\nme\",lane_kind="
		      "\"container\",allocator=\"python\"}",
		      "48");
	assert_null(strstr(page, "a\nme")); /* no raw newline inside a label */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lane_figures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exposition_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_label_escaping, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
