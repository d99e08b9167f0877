// SPDX-License-Identifier: MIT
/* Unit tests of the trace file writer and reader (user/trace/writer.c, reader.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>
#include "feed/feed.h"
#include "trace/trace.h"
#include "trace/trace_format.h"

static char tmpdir[] = "/tmp/test_trace.XXXXXX";

static const char *tpath(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const struct pm_trace_info test_info = {
    .version = PM_TRACE_VERSION,
    .start_ns = 123456789012345ull,
    .start_realtime_ns = 1763720000123456789ull,
};

/* ---- comparing records ---- */

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void assert_str(const char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, nz(want));
}

static void assert_event_equal(const struct pm_event *a, const struct pm_event *b)
{
	assert_int_equal(a->ts_ns, b->ts_ns);
	assert_int_equal(a->cgroup_id, b->cgroup_id);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->tid, b->tid);
	assert_int_equal(a->kind, b->kind);
	switch (b->kind) {
	case PM_PY_MALLOC:
	case PM_PY_CALLOC:
	case PM_PY_REALLOC:
	case PM_MALLOC:
	case PM_CALLOC:
	case PM_REALLOC:
		assert_int_equal(a->alloc.size, b->alloc.size);
		assert_int_equal(a->alloc.addr, b->alloc.addr);
		assert_int_equal(a->alloc.old_addr, b->alloc.old_addr);
		/* only py_realloc carries the old block; the others read back 0 */
		assert_int_equal(a->alloc.old_block,
				 b->kind == PM_PY_REALLOC ? b->alloc.old_block : 0);
		break;
	case PM_PY_FREE:
	case PM_FREE:
		assert_int_equal(a->free.addr, b->free.addr);
		assert_int_equal(a->free.block, b->kind == PM_PY_FREE ? b->free.block : 0);
		break;
	case PM_PY_DEALLOC:
		assert_int_equal(a->dealloc.obj, b->dealloc.obj);
		assert_int_equal(a->dealloc.type, b->dealloc.type);
		assert_str(a->dealloc.type_name, b->dealloc.type_name);
		break;
	case PM_GC_START:
	case PM_GC_DONE:
		assert_int_equal(a->gc.generation, b->gc.generation);
		assert_int_equal(a->gc.source, b->gc.source);
		assert_int_equal(a->gc.collected, b->gc.collected);
		assert_int_equal(a->gc.duration_ns, b->gc.duration_ns);
		break;
	case PM_EXEC:
	case PM_EXIT:
		assert_int_equal(a->proc.ppid, b->proc.ppid);
		assert_int_equal(a->proc.exit_code, b->proc.exit_code);
		assert_str(a->proc.comm, b->proc.comm);
		assert_str(a->proc.path, b->proc.path);
		break;
	case PM_VM:
		assert_int_equal(a->vm.op, b->vm.op);
		assert_int_equal(a->vm.prot, b->vm.prot);
		assert_int_equal(a->vm.flags, b->vm.flags);
		assert_int_equal(a->vm.addr, b->vm.addr);
		assert_int_equal(a->vm.len, b->vm.len);
		assert_int_equal(a->vm.old_addr, b->vm.old_addr);
		assert_int_equal(a->vm.old_len, b->vm.old_len);
		break;
	case PM_RSS:
		assert_int_equal(a->rss.rss, b->rss.rss);
		assert_int_equal(a->rss.anon, b->rss.anon);
		break;
	default:
		fail_msg("unknown kind %d", b->kind);
	}
}

/* a: as read back; b: as written */
static void assert_rec_equal(const struct pm_record *a, const struct pm_record *b)
{
	assert_int_equal(a->type, b->type);
	switch (b->type) {
	case PM_REC_EVENT:
		assert_event_equal(&a->ev, &b->ev);
		break;
	case PM_REC_PROCESS:
		assert_int_equal(a->proc.ts_ns, b->proc.ts_ns);
		assert_int_equal(a->proc.cgroup_id, b->proc.cgroup_id);
		assert_int_equal(a->proc.pid, b->proc.pid);
		assert_int_equal(a->proc.ppid, b->proc.ppid);
		assert_str(a->proc.comm, b->proc.comm);
		assert_str(a->proc.exe, b->proc.exe);
		assert_str(a->proc.python, b->proc.python);
		assert_str(a->proc.python_version, b->proc.python_version);
		/* older files: unknown (0), which the records made for them say */
		assert_int_equal(a->proc.origin, b->proc.origin);
		break;
	case PM_REC_SOURCE:
		assert_int_equal(a->src.ts_ns, b->src.ts_ns);
		assert_int_equal(a->src.pid, b->src.pid);
		assert_str(a->src.source, b->src.source);
		assert_int_equal(a->src.status, b->src.status);
		assert_str(a->src.detail, b->src.detail);
		break;
	case PM_REC_LOST:
		assert_int_equal(a->lost.ts_ns, b->lost.ts_ns);
		assert_int_equal(a->lost.pid, b->lost.pid);
		assert_int_equal(a->lost.kind, b->lost.kind);
		assert_int_equal(a->lost.count, b->lost.count);
		break;
	case PM_REC_META:
		assert_str(a->meta.key, b->meta.key);
		assert_str(a->meta.value, b->meta.value);
		break;
	case PM_REC_END:
		assert_int_equal(a->end.ts_ns, b->end.ts_ns);
		assert_int_equal(a->end.events, b->end.events);
		break;
	case PM_REC_CONTAINER:
		assert_int_equal(a->cont.ts_ns, b->cont.ts_ns);
		assert_int_equal(a->cont.cgroup_id, b->cont.cgroup_id);
		assert_int_equal(a->cont.state, b->cont.state);
		assert_str(a->cont.runtime, b->cont.runtime);
		assert_str(a->cont.id, b->cont.id);
		assert_str(a->cont.name, b->cont.name);
		assert_str(a->cont.image, b->cont.image);
		assert_str(a->cont.project, b->cont.project);
		assert_str(a->cont.service, b->cont.service);
		assert_str(a->cont.pod_uid, b->cont.pod_uid);
		assert_str(a->cont.qos, b->cont.qos);
		break;
	default:
		fail_msg("unknown record type %d", b->type);
	}
}

/* ---- file helpers ---- */

static void write_records(const char *path, const struct pm_record *recs, size_t n,
			  const struct pm_end *end)
{
	struct trace_writer *w = trace_writer__open(path, &test_info);

	assert_non_null(w);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(trace_writer__append(w, &recs[i]), 0);
	assert_int_equal(trace_writer__close(w, end), 0);
}

/* Reads all records, checking each against want[]; returns the count and
 * stores next()'s final return in *last. */
static size_t read_and_check(const char *path, const struct pm_record *want, size_t nwant,
			     int *last, struct trace_reader **keep)
{
	char err[256];
	struct trace_reader *r = trace_reader__open(path, err, sizeof(err));
	struct pm_record rec;
	size_t n = 0;
	int ret;

	if (!r)
		fail_msg("open %s: %s", path, err);
	while ((ret = trace_reader__next(r, &rec)) == 1) {
		if (n >= nwant)
			fail_msg("more records than written (%zu)", nwant);
		assert_rec_equal(&rec, &want[n]);
		n++;
	}
	*last = ret;
	if (keep)
		*keep = r;
	else
		trace_reader__close(r);
	return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	*len = st.st_size;
	return buf;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

struct chunk_info {
	size_t off, end; /* [off, end) in the file */
	uint32_t raw_len, comp_len, records;
};

/* Walks the chunk headers of a well-formed file. */
static size_t list_chunks(const uint8_t *buf, size_t len, struct chunk_info *out, size_t max)
{
	size_t off = PM_TRACE_HDR_LEN, n = 0;

	while (off < len) {
		const uint8_t *h = buf + off;

		assert_true(off + PM_CHUNK_HDR_LEN <= len);
		assert_int_equal(rd32(h), PM_CHUNK_MAGIC);
		assert_true(n < max);
		out[n].off = off;
		out[n].raw_len = rd32(h + 4);
		out[n].comp_len = rd32(h + 8);
		out[n].records = rd32(h + 12);
		off += PM_CHUNK_HDR_LEN + out[n].comp_len;
		out[n].end = off;
		n++;
	}
	assert_int_equal(off, len);
	return n;
}

static uint8_t *inflate_chunk(const uint8_t *buf, const struct chunk_info *c)
{
	uint8_t *raw = malloc(c->raw_len);
	uLongf len = c->raw_len;

	assert_non_null(raw);
	assert_int_equal(uncompress(raw, &len, buf + c->off + PM_CHUNK_HDR_LEN, c->comp_len), Z_OK);
	assert_int_equal(len, c->raw_len);
	return raw;
}

/* ---- varints ---- */

static void test_varint_roundtrip(void **state)
{
	static const struct {
		uint64_t v;
		size_t len;
	} cases[] = {
	    {0, 1},	      {1, 1},
	    {127, 1},	      {128, 2},
	    {300, 2},	      {16383, 2},
	    {16384, 3},	      {UINT32_MAX, 5},
	    {1ull << 56, 9},  {(1ull << 63) - 1, 9},
	    {1ull << 63, 10}, {UINT64_MAX, 10},
	};
	uint8_t buf[16];
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 0xaa, sizeof(buf));
		assert_int_equal(pm_varint_put(buf, cases[i].v), cases[i].len);
		assert_int_equal(buf[cases[i].len], 0xaa);
		v = 42;
		assert_int_equal(pm_varint_get(buf, sizeof(buf), &v), cases[i].len);
		assert_int_equal(v, cases[i].v);
		/* exactly enough input, and every shorter input */
		assert_int_equal(pm_varint_get(buf, cases[i].len, &v), cases[i].len);
		for (size_t cut = 0; cut < cases[i].len; cut++)
			assert_int_equal(pm_varint_get(buf, cut, &v), 0);
	}
	assert_int_equal(buf[0], 0xff); /* UINT64_MAX: 9 x 0xff then 0x01 */
	assert_int_equal(buf[9], 0x01);

	for (int i = 0; i < 100000; i++) {
		uint64_t x = rnd() >> (rnd() % 64);
		size_t n = pm_varint_put(buf, x);

		assert_true(n >= 1 && n <= 10);
		assert_int_equal(pm_varint_get(buf, n, &v), n);
		assert_int_equal(v, x);
	}
}

static void test_varint_invalid(void **state)
{
	/* 11 bytes: longer than any 64-bit value */
	static const uint8_t too_long[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					   0x80, 0x80, 0x80, 0x80, 0x00};
	/* 10th byte > 1: would need bit 64 */
	static const uint8_t overflow[] = {0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0x02};
	/* non-minimal encodings of 0 and 1 */
	static const uint8_t zero2[] = {0x80, 0x00};
	static const uint8_t one3[] = {0x81, 0x80, 0x00};
	static const uint8_t cont[] = {0x80};
	uint64_t v = 7;

	(void)state;
	assert_int_equal(pm_varint_get(too_long, sizeof(too_long), &v), 0);
	assert_int_equal(pm_varint_get(overflow, sizeof(overflow), &v), 0);
	assert_int_equal(pm_varint_get(zero2, sizeof(zero2), &v), 0);
	assert_int_equal(pm_varint_get(one3, sizeof(one3), &v), 0);
	assert_int_equal(pm_varint_get(cont, sizeof(cont), &v), 0);
	assert_int_equal(pm_varint_get(cont, 0, &v), 0);
	assert_int_equal(v, 7); /* untouched on failure */
}

static void test_zigzag(void **state)
{
	static const struct {
		int64_t s;
		uint64_t u;
	} cases[] = {
	    {0, 0},
	    {-1, 1},
	    {1, 2},
	    {-2, 3},
	    {2, 4},
	    {INT32_MAX, 0xfffffffeull},
	    {INT32_MIN, 0xffffffffull},
	    {INT64_MAX, UINT64_MAX - 1},
	    {INT64_MIN, UINT64_MAX},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(pm_zigzag(cases[i].s), cases[i].u);
		assert_true(pm_unzigzag(cases[i].u) == cases[i].s);
	}
	for (int i = 0; i < 100000; i++) {
		int64_t x = (int64_t)rnd();

		assert_true(pm_unzigzag(pm_zigzag(x)) == x);
	}
}

/* ---- round trips ---- */

static struct pm_record ev_rec(enum pm_kind kind, uint64_t ts, uint32_t pid, uint32_t tid,
			       uint64_t cgroup)
{
	struct pm_record r = {.type = PM_REC_EVENT};

	r.ev.kind = kind;
	r.ev.ts_ns = ts;
	r.ev.pid = pid;
	r.ev.tid = tid;
	r.ev.cgroup_id = cgroup;
	return r;
}

#define CONTAINER_ID "3f2a9c1d0b7e5a6f8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"

/* Every record type and event kind, with edge values in every field. */
static size_t all_types(struct pm_record *r)
{
	size_t n = 0;

	r[n].type = PM_REC_META;
	r[n].meta.key = "command";
	r[n++].meta.value = "pymac record -o x.pmt -- python3 -c 'print(\"hi\")'";
	r[n].type = PM_REC_META;
	r[n].meta.key = "empty";
	r[n++].meta.value = "";
	r[n].type = PM_REC_CONTAINER;
	r[n].cont = (struct pm_container){990,
					  77,
					  PM_CONTAINER_RUNNING,
					  "docker",
					  CONTAINER_ID,
					  "demo-web-1",
					  "python:3.11-slim",
					  "demo",
					  "web",
					  "0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5",
					  "burstable"};
	n++;
	r[n].type = PM_REC_CONTAINER; /* a bare cgroup: no id, no labels */
	r[n].cont = (struct pm_container){995,	    UINT64_MAX, PM_CONTAINER_RUNNING,
					  "cgroup", "",		"/sys/fs/cgroup/x.slice",
					  "",	    "",		"",
					  "",	    ""};
	n++;
	r[n].type = PM_REC_PROCESS;
	r[n].proc = (struct pm_process){1000,
					77,
					4242,
					1,
					"python3.11",
					"/usr/bin/python3.11",
					"/usr/lib/libpython3.11.so.1.0",
					"3.11",
					PM_ORIGIN_STARTED};
	n++;
	r[n].type = PM_REC_PROCESS;
	r[n].proc =
	    (struct pm_process){999, UINT64_MAX, UINT32_MAX, 0, "", "", "", "", PM_ORIGIN_MAX};
	n++;
	r[n].type = PM_REC_PROCESS;
	r[n].proc = (struct pm_process){998, 5, 4243, 4242, "w", "", "", "", PM_ORIGIN_ATTACHED};
	n++;
	r[n].type = PM_REC_SOURCE;
	r[n].src =
	    (struct pm_source){1001, 4242, "pymalloc", PM_SRC_FULL, "uprobe on PyObject_Malloc"};
	n++;
	r[n].type = PM_REC_SOURCE;
	r[n].src = (struct pm_source){1002, 4242, "libc", PM_SRC_PARTIAL, ""};
	n++;
	r[n].type = PM_REC_SOURCE;
	r[n].src = (struct pm_source){1003, 0, "gc", PM_SRC_NONE, "no USDT markers"};
	n++;
	r[n].type = PM_REC_SOURCE;
	r[n].src = (struct pm_source){1003, 1, "dealloc", PM_SRC_OFF, "not requested"};
	n++;

	r[n] = ev_rec(PM_PY_MALLOC, 2000, 4242, 4242, 77);
	r[n].ev.alloc.size = 32;
	r[n++].ev.alloc.addr = 0x7f0012345670;
	r[n] = ev_rec(PM_PY_CALLOC, 1990, 4242, 4243, 77); /* time goes back */
	r[n].ev.alloc.size = 0;
	r[n++].ev.alloc.addr = 0;
	r[n] = ev_rec(PM_PY_REALLOC, 2010, 4242, 4243, 78);
	r[n].ev.alloc.size = UINT64_MAX;
	r[n].ev.alloc.addr = UINT64_MAX;
	r[n].ev.alloc.old_addr = 1;
	r[n++].ev.alloc.old_block = UINT32_MAX;
	r[n] = ev_rec(PM_PY_REALLOC, 2011, 4242, 4243, 78);
	r[n].ev.alloc.size = 100;
	r[n].ev.alloc.addr = 0x7f0012345700;
	r[n].ev.alloc.old_addr = 0x7f0012345670;
	r[n++].ev.alloc.old_block = 48;
	r[n] = ev_rec(PM_PY_FREE, 2020, 17, 4242, 78); /* tid < pid */
	r[n].ev.free.addr = 0x7f0012345670;
	r[n++].ev.free.block = 512;
	r[n] = ev_rec(PM_PY_FREE, 2021, 17, 4242, 78);
	r[n].ev.free.addr = 0x7f0012340000;
	r[n++].ev.free.block = PM_BLOCK_RAW;
	r[n] = ev_rec(PM_PY_DEALLOC, 2030, 17, 17, 0);
	r[n].ev.dealloc.obj = 0x7f0012345670;
	r[n].ev.dealloc.type = 0x7f00aaaa0000;
	r[n++].ev.dealloc.type_name = "dict";
	r[n] = ev_rec(PM_PY_DEALLOC, 2031, 17, 17, 0);
	r[n].ev.dealloc.obj = 0x7f0012345680;
	r[n].ev.dealloc.type = 0x7f00aaaa0000;
	r[n++].ev.dealloc.type_name = "dict";
	r[n] = ev_rec(PM_PY_DEALLOC, 2032, 17, 17, 0);
	r[n].ev.dealloc.obj = 0;
	r[n].ev.dealloc.type = 0x7f00aaab0000; /* unreadable name */
	r[n++].ev.dealloc.type_name = "";
	r[n] = ev_rec(PM_PY_DEALLOC, 2033, 17, 17, 0);
	r[n].ev.dealloc.obj = 0x10;
	r[n].ev.dealloc.type = 0x7f00aaac0000; /* same name, other type */
	r[n++].ev.dealloc.type_name = "dict";
	r[n] = ev_rec(PM_GC_START, 3000, 4242, 4242, 77);
	r[n].ev.gc = (typeof(r[n].ev.gc)){2, PM_GC_SRC_USDT, -1, 0, -1};
	n++;
	r[n] = ev_rec(PM_GC_DONE, 3500, 4242, 4242, 77);
	r[n].ev.gc = (typeof(r[n].ev.gc)){2, PM_GC_SRC_UPROBE, 12345, 500, 7};
	n++;
	r[n] = ev_rec(PM_GC_DONE, 3600, 4242, 4242, 77);
	r[n].ev.gc = (typeof(r[n].ev.gc)){INT32_MIN, UINT32_MAX, INT64_MIN, UINT64_MAX, INT64_MIN};
	n++;
	r[n] = ev_rec(PM_GC_START, 3700, 4242, 4242, 77);
	r[n].ev.gc = (typeof(r[n].ev.gc)){INT32_MAX, 0, INT64_MAX, 1, INT64_MAX};
	n++;
	r[n] = ev_rec(PM_MALLOC, 4000, 4242, 4242, 77);
	r[n].ev.alloc.size = 1 << 20;
	r[n++].ev.alloc.addr = 0x5555deadbeef;
	r[n] = ev_rec(PM_CALLOC, 4001, 4242, 4242, 77);
	r[n].ev.alloc.size = 100;
	r[n++].ev.alloc.addr = 0x5555deadbe00;
	r[n] = ev_rec(PM_REALLOC, 4002, 4242, 4242, 77);
	r[n].ev.alloc.size = 200;
	r[n].ev.alloc.addr = 0x5555deadbe00; /* in place */
	r[n++].ev.alloc.old_addr = 0x5555deadbe00;
	r[n] = ev_rec(PM_REALLOC, 4003, 4242, 4242, 77);
	r[n].ev.alloc.size = 1;
	r[n].ev.alloc.addr = 0; /* failed */
	r[n++].ev.alloc.old_addr = UINT64_MAX;
	r[n] = ev_rec(PM_FREE, 4004, 4242, 4242, 77);
	r[n].ev.free.addr = 0x5555deadbeef;
	r[n++].ev.free.block = 64; /* libc's free has no block: reads back 0 */
	r[n] = ev_rec(PM_FREE, 4005, 4242, 4242, 77);
	r[n++].ev.free.addr = 0;
	r[n] = ev_rec(PM_EXEC, 5000, 5000, 5000, 77);
	r[n].ev.proc = (typeof(r[n].ev.proc)){4242, 0, "python3", "/usr/bin/python3.11"};
	n++;
	r[n] = ev_rec(PM_EXIT, 6000, 5000, 5001, 77);
	r[n].ev.proc = (typeof(r[n].ev.proc)){4242, -1, "python3", ""};
	n++;
	r[n] = ev_rec(PM_EXIT, 6001, UINT32_MAX, 0, 77);
	r[n].ev.proc = (typeof(r[n].ev.proc)){UINT32_MAX, INT32_MIN, "x", ""};
	n++;
	r[n] = ev_rec(PM_EXIT, 6002, 0, UINT32_MAX, 77);
	r[n].ev.proc = (typeof(r[n].ev.proc)){0, INT32_MAX, "", "/p"};
	n++;
	r[n] = ev_rec(PM_VM, 6100, 4242, 4243, 77);
	r[n].ev.vm = (typeof(r[n].ev.vm)){PM_VM_MREMAP,	  3,	  1, 0x7f0000200000, 1 << 21,
					  0x7f0000000000, 1 << 20};
	n++;
	r[n] = ev_rec(PM_VM, 6101, 4242, 4242, 77);
	r[n].ev.vm = (typeof(r[n].ev.vm)){PM_VM_BRK, 0, 0, UINT64_MAX, UINT64_MAX, 0, UINT64_MAX};
	n++;
	r[n] = ev_rec(PM_RSS, 6102, 4242, 4242, 77);
	r[n].ev.rss.rss = 123456789;
	r[n].ev.rss.anon = UINT64_MAX;
	n++;
	r[n].type = PM_REC_LOST;
	r[n].lost = (struct pm_lost){7000, 4242, PM_PY_MALLOC, 12};
	n++;
	r[n].type = PM_REC_LOST;
	r[n].lost = (struct pm_lost){0, 0, PM_EXIT, UINT64_MAX};
	n++;
	r[n].type = PM_REC_CONTAINER;
	r[n].cont = (struct pm_container){8000,
					  77,
					  PM_CONTAINER_STOPPED,
					  "docker",
					  CONTAINER_ID,
					  "demo-web-1",
					  "python:3.11-slim",
					  "demo",
					  "web",
					  "",
					  ""};
	n++;
	r[n].type = PM_REC_CONTAINER; /* every string unknown, time going back */
	r[n].cont =
	    (struct pm_container){0, 0, PM_CONTAINER_STOPPED, "", "", "", "", "", "", "", ""};
	n++;
	r[n] = ev_rec(PM_MALLOC, UINT64_MAX, 1, 1, 1);
	r[n].ev.alloc.size = 8;
	r[n++].ev.alloc.addr = 8;
	r[n] = ev_rec(PM_MALLOC, 0, 1, 1, 1);
	r[n].ev.alloc.size = 8;
	r[n++].ev.alloc.addr = 16;
	r[n].type = PM_REC_END;
	r[n].end = (struct pm_end){9000, 42};
	n++;
	return n;
}

static void test_roundtrip_every_type(void **state)
{
	struct pm_record recs[64];
	size_t n = all_types(recs);
	const char *path = tpath("all.pmt");
	struct trace_reader *r;
	int last;

	(void)state;
	/* the END goes through close(), like the recorder does it */
	assert_int_equal(recs[n - 1].type, PM_REC_END);
	write_records(path, recs, n - 1, &recs[n - 1].end);
	assert_int_equal(read_and_check(path, recs, n, &last, &r), n);
	assert_int_equal(last, 0);
	assert_true(trace_reader__complete(r));
	assert_null(trace_reader__error(r));
	assert_int_equal(trace_reader__info(r)->version, PM_TRACE_VERSION);
	assert_int_equal(trace_reader__info(r)->start_ns, test_info.start_ns);
	assert_int_equal(trace_reader__info(r)->start_realtime_ns, test_info.start_realtime_ns);
	assert_int_equal(trace_reader__next(r, &(struct pm_record){0}), 0);
	trace_reader__close(r);

	/* each record alone in its own chunk: the predictors restart cleanly */
	struct trace_writer *w = trace_writer__open(path, NULL);

	assert_non_null(w);
	for (size_t i = 0; i < n - 1; i++) {
		assert_int_equal(trace_writer__append(w, &recs[i]), 0);
		assert_int_equal(trace_writer__flush(w), 0);
	}
	assert_int_equal(trace_writer__close(w, &recs[n - 1].end), 0);
	assert_int_equal(read_and_check(path, recs, n, &last, NULL), n);
	assert_int_equal(last, 0);
	size_t len;
	struct chunk_info chunks[64];
	uint8_t *buf = slurp(path, &len);

	assert_int_equal(list_chunks(buf, len, chunks, 64), n);
	free(buf);
}

static void test_null_and_long_strings(void **state)
{
	const char *path = tpath("strings.pmt");
	struct pm_record in[3] = {0}, want[3];
	char *big = malloc(PM_MAX_STRING + 5000);
	struct trace_writer *w;
	int last;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < PM_MAX_STRING + 4999; i++)
		big[i] = (char)('a' + i % 26);
	big[PM_MAX_STRING + 4999] = 0;
	in[0].type = PM_REC_META; /* NULL strings are written as "" */
	in[1].type = PM_REC_PROCESS;
	in[1].proc.comm = "c";
	in[2].type = PM_REC_META;
	in[2].meta.key = "long";
	in[2].meta.value = big;
	memcpy(want, in, sizeof(in));
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	for (int i = 0; i < 3; i++)
		assert_int_equal(trace_writer__append(w, &in[i]), 0);
	assert_int_equal(trace_writer__close(w, NULL), 0);
	/* strings longer than the format allows are cut to PM_MAX_STRING bytes */
	big[PM_MAX_STRING] = 0;
	assert_int_equal(read_and_check(path, want, 3, &last, NULL), 3);
	assert_int_equal(last, 0);
	free(big);
}

static void test_invalid_records(void **state)
{
	const char *path = tpath("invalid.pmt");
	struct trace_writer *w = trace_writer__open(path, &test_info);
	struct pm_record rec = ev_rec(0, 1, 1, 1, 1), ok = ev_rec(PM_PY_FREE, 1, 1, 1, 1);
	int last;

	(void)state;
	assert_non_null(w);
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec.ev.kind = PM_KIND_MAX;
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec = (struct pm_record){.type = PM_REC_SOURCE, .src = {.status = 0}};
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec.src.status = PM_SRC_OFF + 1;
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec = (struct pm_record){.type = PM_REC_LOST, .lost = {.kind = PM_KIND_MAX}};
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec = (struct pm_record){.type = 0};
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec = (struct pm_record){.type = PM_REC_CONTAINER, .cont = {.state = 0}};
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec.cont.state = PM_CONTAINER_STOPPED + 1;
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	rec = (struct pm_record){.type = PM_REC_CONTAINER + 1};
	assert_int_equal(trace_writer__append(w, &rec), -EINVAL);
	assert_int_equal(trace_writer__append(w, NULL), -EINVAL);
	/* invalid input writes nothing and does not break the writer */
	assert_int_equal(trace_writer__append(w, &ok), 0);
	assert_int_equal(trace_writer__close(w, NULL), 0);
	assert_int_equal(read_and_check(path, &ok, 1, &last, NULL), 1);
	assert_int_equal(last, 0);
	assert_int_equal(trace_writer__close(NULL, NULL), 0);
}

/* ---- a realistic synthetic stream ---- */

static const char *const type_names[20] = {
    "tuple",	     "dict",	  "list",  "str",    "int",	"function",
    "frame",	     "cell",	  "float", "method", "bytes",	"set",
    "list_iterator", "generator", "code",  "type",   "weakref", "builtin_function_or_method",
    "coroutine",     "Node",
};

struct heap_sim {
	uint64_t base, next;
	uint64_t free_list[64][64]; /* per size class, LIFO */
	int nfree[64];
};

static uint64_t heap_alloc(struct heap_sim *h, unsigned cls, unsigned step)
{
	if (h->nfree[cls])
		return h->free_list[cls][--h->nfree[cls]];
	h->next += (uint64_t)(cls + 1) * step;
	return h->next;
}

static void heap_free(struct heap_sim *h, unsigned cls, uint64_t addr)
{
	if (h->nfree[cls] < 64)
		h->free_list[cls][h->nfree[cls]++] = addr;
}

struct live {
	uint64_t addr;
	unsigned cls;
	int type; /* -1: raw memory, else index of type_names */
	bool libc;
};

/*
 * A Python-like stream: object allocations freed soon in LIFO-ish order,
 * with a dealloc in front of each object's free; libc malloc/free pairs in
 * the heap; one main thread and a few others; rare GC passes.
 */
static size_t synth_stream(struct pm_record *out, size_t n)
{
	static struct heap_sim py, libc;
	static struct live live[4096];
	size_t nlive = 0, i = 0;
	uint64_t ts = 1000000000;

	memset(&py, 0, sizeof(py));
	memset(&libc, 0, sizeof(libc));
	py.next = 0x7f3a12000000;
	libc.next = 0x558123400000;
	while (i < n) {
		uint32_t tid = rnd() % 10 ? 4242 : 4243 + rnd() % 3;
		unsigned dice = rnd() % 100;
		struct pm_record *r = &out[i];

		ts += 100 + rnd() % 900;
		if (dice < 45 && nlive < 4096) {
			bool is_libc = dice < 10;
			unsigned cls = is_libc
					   ? rnd() % 64
					   : (unsigned)(rnd() % 100 < 80 ? rnd() % 8 : rnd() % 32);
			struct live *l = &live[nlive++];

			*r = ev_rec(is_libc ? PM_MALLOC : PM_PY_MALLOC, ts, 4242, tid, 9001);
			l->libc = is_libc;
			l->cls = cls;
			l->addr = heap_alloc(is_libc ? &libc : &py, cls, 16);
			/* most pymalloc allocations are objects */
			l->type = is_libc || rnd() % 4 == 0
				      ? -1
				      : (int)(rnd() % 100 < 70 ? rnd() % 6 : rnd() % 20);
			r->ev.alloc.size = (cls + 1) * 16 - rnd() % 16;
			r->ev.alloc.addr = l->addr;
			i++;
		} else if (nlive) {
			size_t k = rnd() % 10 < 7 ? nlive - 1 : rnd() % nlive;
			struct live l = live[k];

			live[k] = live[--nlive];
			if (l.type >= 0) {
				*r = ev_rec(PM_PY_DEALLOC, ts, 4242, tid, 9001);
				r->ev.dealloc.obj = l.addr;
				r->ev.dealloc.type = 0x7f3a0a000000 + (uint64_t)l.type * 0x1a0;
				r->ev.dealloc.type_name = type_names[l.type];
				if (++i == n)
					break;
				r = &out[i];
				ts += 20 + rnd() % 50;
			}
			*r = ev_rec(l.libc ? PM_FREE : PM_PY_FREE, ts, 4242, tid, 9001);
			r->ev.free.addr = l.addr;
			heap_free(l.libc ? &libc : &py, l.cls, l.addr);
			i++;
		}
		if (i < n && rnd() % 20000 == 0) {
			out[i] = ev_rec(PM_GC_START, ts, 4242, 4242, 9001);
			out[i++].ev.gc = (typeof(out[0].ev.gc)){0, PM_GC_SRC_USDT, -1, 0, -1};
		}
	}
	return i;
}

static void test_bytes_per_event(void **state)
{
	const size_t n = 300000;
	struct pm_record *recs = calloc(n, sizeof(*recs));
	const char *path = tpath("synth.pmt");
	struct trace_writer *w;
	uint64_t raw, file, nrec, t0, t1;
	int last;

	(void)state;
	assert_non_null(recs);
	assert_int_equal(synth_stream(recs, n), n);
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	t0 = mono_ns();
	for (size_t i = 0; i < n; i++)
		assert_int_equal(trace_writer__append(w, &recs[i]), 0);
	assert_int_equal(trace_writer__flush(w), 0);
	t1 = mono_ns();
	trace_writer__stats(w, &raw, &file, &nrec);
	assert_int_equal(nrec, n);
	assert_int_equal(trace_writer__close(w, NULL), 0);
	print_message("synthetic stream (zlib level %d): %.2f raw bytes/event, %.2f file "
		      "bytes/event, %.0f ns/event to encode+compress\n",
		      PM_TRACE_ZLEVEL, (double)raw / n, (double)file / n, (double)(t1 - t0) / n);
	/* the compact encoding is what makes this small; a regression shows here
	 * (version 3: 5.47 raw, 4.27 file; version 4: 5.96 raw, with the
	 * timestamp columns' extra byte, and 3.12 file) */
	assert_true(raw < 6.5 * n);
	assert_true(file < 3.5 * n);

	t0 = mono_ns();
	assert_int_equal(read_and_check(path, recs, n, &last, NULL), n);
	t1 = mono_ns();
	assert_int_equal(last, 0);
	print_message("read back + check: %.0f ns/event\n", (double)(t1 - t0) / n);
	free(recs);
}

static void test_multi_chunk(void **state)
{
	const size_t n = 200000;
	struct pm_record *recs = calloc(n + 2, sizeof(*recs));
	const char *path = tpath("multi.pmt");
	struct chunk_info chunks[256];
	size_t len, nchunks, total = 0;
	uint8_t *buf;
	int last;

	(void)state;
	assert_non_null(recs);
	/* a process record first: its strings are defined in chunk 1 only */
	recs[0].type = PM_REC_PROCESS;
	recs[0].proc = (struct pm_process){
	    1,	    9001, 4242, 1, "python3", "/usr/bin/python3", "/usr/lib/libpython3.11.so",
	    "3.11", 1};
	assert_int_equal(synth_stream(recs + 1, n), n);
	recs[n + 1] = recs[0];
	recs[n + 1].proc.ts_ns = recs[n].ev.ts_ns;
	write_records(path, recs, n + 2, NULL);

	buf = slurp(path, &len);
	nchunks = list_chunks(buf, len, chunks, 256);
	assert_true(nchunks >= 3);
	for (size_t i = 0; i < nchunks; i++) {
		uint8_t *raw = inflate_chunk(buf, &chunks[i]);
		bool has_def = memmem(raw, chunks[i].raw_len, "libpython3.11", 13) != NULL;

		/* each chunk is closed once it reaches the target size */
		assert_true(chunks[i].raw_len < PM_CHUNK_TARGET + 1024);
		if (i < nchunks - 1)
			assert_true(chunks[i].raw_len >= PM_CHUNK_TARGET);
		/* defined once, in the first chunk; the last one refers to it by id */
		assert_int_equal(has_def, i == 0);
		total += chunks[i].records;
		free(raw);
	}
	assert_int_equal(total, n + 2);
	free(buf);

	assert_int_equal(read_and_check(path, recs, n + 2, &last, NULL), n + 2);
	assert_int_equal(last, 0);
	free(recs);
}

/* Past the writer's table limits strings and types go inline. */
static void test_inline_strings(void **state)
{
	const char *path = tpath("inline.pmt");
	static char names[50][32];
	struct pm_record recs[200];
	uint32_t saved_s = trace__writer_max_strings, saved_t = trace__writer_max_types;
	struct trace_writer *w;
	int last;

	(void)state;
	for (int i = 0; i < 50; i++)
		snprintf(names[i], sizeof(names[i]), "Type%d", i);
	for (int i = 0; i < 200; i++) {
		recs[i] = ev_rec(PM_PY_DEALLOC, 10 + i, 1, 1, 1);
		recs[i].ev.dealloc.obj = 0x1000 + i * 16;
		recs[i].ev.dealloc.type = 0x9000 + (i % 50) * 8;
		recs[i].ev.dealloc.type_name = names[i % 50];
	}
	recs[198].type = PM_REC_PROCESS;
	recs[198].proc = (struct pm_process){1, 2, 3, 4, "a", "b", "c", "d", 2};
	/* the record with the most strings, all of them inline */
	recs[199].type = PM_REC_CONTAINER;
	recs[199].cont =
	    (struct pm_container){5, 6, PM_CONTAINER_RUNNING, "r", "i", "n", "m", "p", "s", "", ""};
	trace__writer_max_strings = 4; /* ids 1..3 */
	trace__writer_max_types = 2;
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(trace_writer__append(w, &recs[i]), 0);
		if (i % 37 == 0)
			assert_int_equal(trace_writer__flush(w), 0);
	}
	assert_int_equal(trace_writer__close(w, NULL), 0);
	trace__writer_max_strings = saved_s;
	trace__writer_max_types = saved_t;
	assert_int_equal(read_and_check(path, recs, 200, &last, NULL), 200);
	assert_int_equal(last, 0);
}

/* ---- damaged files ---- */

#define SMALL_N 60

/* A small trace in 4 chunks; returns the file contents, the chunk list and
 * the records (END last). */
static uint8_t *small_trace(const char *path, struct pm_record *recs, size_t *len,
			    struct chunk_info *chunks, size_t *nchunks)
{
	struct pm_record base[64];
	size_t nb = all_types(base);
	struct trace_writer *w;

	/* all_types() minus its END, plus a tail of events */
	for (size_t i = 0; i < SMALL_N - 1; i++) {
		if (i < nb - 1) {
			recs[i] = base[i];
			continue;
		}
		recs[i] = ev_rec(PM_PY_DEALLOC, 10000 + i, 4242, 4242, 77);
		recs[i].ev.dealloc.obj = 0x7f0000001000 + i * 32;
		recs[i].ev.dealloc.type = 0x7f00aaaa0000 + (i % 3) * 0x100;
		recs[i].ev.dealloc.type_name = type_names[i % 3];
	}
	recs[SMALL_N - 1].type = PM_REC_END;
	recs[SMALL_N - 1].end = (struct pm_end){20000, SMALL_N - 1};
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	for (size_t i = 0; i < SMALL_N - 1; i++) {
		assert_int_equal(trace_writer__append(w, &recs[i]), 0);
		if (i == 5 || i == 20 || i == 40)
			assert_int_equal(trace_writer__flush(w), 0);
	}
	assert_int_equal(trace_writer__close(w, &recs[SMALL_N - 1].end), 0);
	uint8_t *buf = slurp(path, len);
	*nchunks = list_chunks(buf, *len, chunks, 16);
	assert_int_equal(*nchunks, 4);
	return buf;
}

/* Records in the chunks that end at or before off. */
static size_t records_before(const struct chunk_info *chunks, size_t nchunks, size_t off)
{
	size_t n = 0;

	for (size_t i = 0; i < nchunks && chunks[i].end <= off; i++)
		n += chunks[i].records;
	return n;
}

static void test_truncated_every_offset(void **state)
{
	struct pm_record recs[SMALL_N];
	struct chunk_info chunks[16];
	size_t len, nchunks;
	const char *path = tpath("small.pmt"), *cut = tpath("cut.pmt");
	uint8_t *buf = small_trace(path, recs, &len, chunks, &nchunks);
	char err[256];

	(void)state;
	for (size_t off = 0; off <= len; off++) {
		struct trace_reader *r;
		size_t n, want = records_before(chunks, nchunks, off);
		bool boundary = off == PM_TRACE_HDR_LEN;
		int last;

		for (size_t i = 0; i < nchunks; i++)
			boundary |= chunks[i].end == off;
		spit(cut, buf, off);
		if (off < PM_TRACE_HDR_LEN) {
			errno = 0;
			assert_null(trace_reader__open(cut, err, sizeof(err)));
			assert_true(errno != 0);
			if (off == 0)
				assert_string_equal(err, "not a pymac trace (empty file)");
			else
				assert_non_null(strstr(err, "truncated trace header"));
			continue;
		}
		n = read_and_check(cut, recs, SMALL_N, &last, &r);
		/* every complete chunk is delivered, nothing of a partial one */
		assert_int_equal(n, want);
		if (boundary) {
			assert_int_equal(last, 0);
			assert_int_equal(trace_reader__complete(r), off == len);
			if (off < len)
				assert_non_null(
				    strstr(trace_reader__error(r), "trace was not closed cleanly"));
			else
				assert_null(trace_reader__error(r));
		} else {
			char msg[256];
			size_t at = 0;

			for (size_t i = 0; i < nchunks; i++)
				if (chunks[i].off < off)
					at = chunks[i].off;
			snprintf(msg, sizeof(msg),
				 "truncated chunk at offset %zu (trace was not closed cleanly; %zu "
				 "records read)",
				 at, want);
			assert_int_equal(last, -EIO);
			assert_false(trace_reader__complete(r));
			assert_string_equal(trace_reader__error(r), msg);
			/* the error sticks */
			assert_int_equal(trace_reader__next(r, &(struct pm_record){0}), -EIO);
		}
		trace_reader__close(r);
	}
	free(buf);
}

/* Any single damaged byte is caught: header bytes by open, chunk bytes by the
 * CRCs, and the chunks before the damage are still delivered in full. */
static void test_corrupt_every_byte(void **state)
{
	struct pm_record recs[SMALL_N];
	struct chunk_info chunks[16];
	size_t len, nchunks;
	const char *path = tpath("small2.pmt"), *bad = tpath("bad.pmt");
	uint8_t *buf = small_trace(path, recs, &len, chunks, &nchunks);
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	char err[256];

	(void)state;
	for (size_t off = 0; off < len; off++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			struct trace_reader *r;
			size_t n, want = records_before(chunks, nchunks, off);
			int last;

			buf[off] ^= flips[f];
			spit(bad, buf, len);
			buf[off] ^= flips[f];
			if (off < PM_TRACE_HDR_LEN) {
				errno = 0;
				assert_null(trace_reader__open(bad, err, sizeof(err)));
				assert_true(errno == EINVAL || errno == EBADMSG ||
					    errno == ENOTSUP);
				if (off < PM_TRACE_MAGIC_LEN)
					assert_string_equal(err, "not a pymac trace (bad magic)");
				continue;
			}
			n = read_and_check(bad, recs, SMALL_N, &last, &r);
			assert_int_equal(n, want);
			assert_int_equal(last, -EBADMSG);
			assert_non_null(strstr(trace_reader__error(r), "corrupt chunk at offset"));
			assert_false(trace_reader__complete(r));
			trace_reader__close(r);
		}
	}
	free(buf);
}

static void rewrite_chunk(uint8_t *buf, const struct chunk_info *c, const uint8_t *raw,
			  size_t raw_len, uint8_t **out, size_t *out_len, size_t file_len)
{
	uLongf comp_len = compressBound(raw_len);
	uint8_t *comp = malloc(comp_len);
	uint8_t h[PM_CHUNK_HDR_LEN];

	assert_non_null(comp);
	assert_int_equal(compress2(comp, &comp_len, raw, raw_len, 1), Z_OK);
	memcpy(h, buf + c->off, sizeof(h));
	wr32(h + 4, (uint32_t)raw_len);
	wr32(h + 8, (uint32_t)comp_len);
	wr32(h + 24, (uint32_t)crc32(0, comp, comp_len));
	wr32(h + PM_CHUNK_HDR_CRC_AT, (uint32_t)crc32(0, h, PM_CHUNK_HDR_CRC_AT));
	*out_len = c->off + sizeof(h) + comp_len + (file_len - c->end);
	*out = malloc(*out_len);
	assert_non_null(*out);
	memcpy(*out, buf, c->off);
	memcpy(*out + c->off, h, sizeof(h));
	memcpy(*out + c->off + sizeof(h), comp, comp_len);
	memcpy(*out + c->off + sizeof(h) + comp_len, buf + c->end, file_len - c->end);
	free(comp);
}

/*
 * Damage behind valid CRCs (a buggy or hostile writer): mutate decompressed
 * payloads, recompress, fix the CRCs. The reader must reject or decode, never
 * crash (valgrind/ASan watch the reads), and never deliver part of a chunk.
 */
static void test_mutated_payload(void **state)
{
	struct pm_record recs[SMALL_N];
	struct chunk_info chunks[16];
	size_t len, nchunks;
	const char *path = tpath("small3.pmt"), *bad = tpath("mut.pmt");
	uint8_t *buf = small_trace(path, recs, &len, chunks, &nchunks);
	char err[256];
	int rejected = 0;

	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		size_t ci = rnd() % nchunks, out_len, n = 0;
		const struct chunk_info *c = &chunks[ci];
		uint8_t *raw = inflate_chunk(buf, c), *out;
		size_t raw_len = c->raw_len;
		struct trace_reader *r;
		struct pm_record rec;
		int ret;

		switch (rnd() % 4) {
		case 0: /* a few random bytes */
			for (int k = 1 + rnd() % 3; k; k--)
				raw[rnd() % raw_len] = (uint8_t)rnd();
			break;
		case 1: /* a bit */
			raw[rnd() % raw_len] ^= (uint8_t)(1u << rnd() % 8);
			break;
		case 2: /* cut the payload short */
			raw_len = 1 + rnd() % raw_len;
			break;
		case 3: /* an interesting value */
			raw[rnd() % raw_len] = (const uint8_t[]){0x00, 0x7f, 0x80, 0xff,
								 0x0e, 0x0f, 0x90, 0x70}[rnd() % 8];
			break;
		}
		rewrite_chunk(buf, c, raw, raw_len, &out, &out_len, len);
		spit(bad, out, out_len);
		r = trace_reader__open(bad, err, sizeof(err));
		assert_non_null(r);
		while ((ret = trace_reader__next(r, &rec)) == 1) {
			/* chunks before the damaged one are intact */
			if (n < records_before(chunks, nchunks, c->off))
				assert_rec_equal(&rec, &recs[n]);
			n++;
		}
		if (ret < 0) {
			rejected++;
			bool at_boundary = false;

			assert_int_equal(ret, -EBADMSG);
			/* damage that decodes may break a later chunk (a lost string
			 * definition): still, only whole chunks are delivered */
			assert_true(n >= records_before(chunks, nchunks, c->off));
			for (size_t k = 0; k <= nchunks; k++)
				at_boundary |=
				    n == records_before(chunks, nchunks, k ? chunks[k - 1].end : 0);
			assert_true(at_boundary);
			assert_non_null(trace_reader__error(r));
		}
		trace_reader__close(r);
		free(out);
		free(raw);
	}
	/* most random damage must be noticed */
	assert_true(rejected > 1500);
	free(buf);
}

static void test_bad_files(void **state)
{
	const char *path = tpath("bad_header.pmt");
	struct pm_record recs[SMALL_N];
	struct chunk_info chunks[16];
	size_t len, nchunks;
	uint8_t *buf = small_trace(tpath("small4.pmt"), recs, &len, chunks, &nchunks);
	struct trace_reader *r;
	char err[256];
	int last;

	(void)state;
	errno = 0;
	assert_null(trace_reader__open(tpath("does-not-exist"), err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_null(trace_reader__open(tpath("does-not-exist"), NULL, 0));

	spit(path, (const uint8_t *)"#!/bin/sh\necho this is not a trace\n", 34);
	errno = 0;
	assert_null(trace_reader__open(path, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(err, "not a pymac trace (bad magic)");

	spit(path, (const uint8_t *)"\x89PM", 3);
	assert_null(trace_reader__open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "truncated trace header"));

	/* a newer version is named even though the rest of its header differs */
	buf[8] = PM_TRACE_VERSION + 1;
	buf[20] ^= 0x55;
	spit(path, buf, len);
	errno = 0;
	assert_null(trace_reader__open(path, err, sizeof(err)));
	assert_int_equal(errno, ENOTSUP);
	assert_string_equal(err, "trace version 9 is newer than this pymac supports (8)");
	buf[8] = 0;
	buf[20] ^= 0x55;
	spit(path, buf, len);
	assert_null(trace_reader__open(path, err, sizeof(err)));
	assert_string_equal(err, "corrupt trace header");
	buf[8] = PM_TRACE_VERSION;

	/* chunks after the END record */
	{
		uint8_t *two = malloc(2 * len);

		assert_non_null(two);
		memcpy(two, buf, len);
		memcpy(two + len, buf + PM_TRACE_HDR_LEN, len - PM_TRACE_HDR_LEN);
		spit(path, two, 2 * len - PM_TRACE_HDR_LEN);
		assert_int_equal(read_and_check(path, recs, SMALL_N, &last, &r), SMALL_N);
		assert_int_equal(last, -EBADMSG);
		assert_true(trace_reader__complete(r));
		assert_non_null(strstr(trace_reader__error(r), "data after the END record"));
		trace_reader__close(r);
		free(two);
	}

	/* header only: a valid, empty, unfinished trace */
	spit(path, buf, PM_TRACE_HDR_LEN);
	assert_int_equal(read_and_check(path, recs, SMALL_N, &last, &r), 0);
	assert_int_equal(last, 0);
	assert_false(trace_reader__complete(r));
	trace_reader__close(r);

	/* a directory */
	assert_null(trace_reader__open(tmpdir, err, sizeof(err)));
	free(buf);
}

/* ---- containers and version 1 ---- */

static void set_header_version(uint8_t *buf, uint32_t version)
{
	wr32(buf + 8, version);
	wr32(buf + PM_TRACE_HDR_CRC_AT, (uint32_t)crc32(0, buf, PM_TRACE_HDR_CRC_AT));
}

/* A file of one chunk whose payload is given byte by byte (hand-made old
 * versions and damage that the writer cannot produce). */
static void payload_file(const char *path, uint32_t version, uint64_t first_ts, uint32_t nrec,
			 const uint8_t *raw, size_t raw_len)
{
	uint8_t h[PM_TRACE_HDR_LEN] = {0}, c[PM_CHUNK_HDR_LEN] = {0};
	uLongf comp_len = compressBound(raw_len);
	uint8_t *comp = malloc(comp_len), *file;

	assert_non_null(comp);
	memcpy(h, PM_TRACE_MAGIC, PM_TRACE_MAGIC_LEN);
	wr32(h + 12, PM_TRACE_HDR_LEN);
	set_header_version(h, version);
	assert_int_equal(compress2(comp, &comp_len, raw, raw_len, 1), Z_OK);
	wr32(c, PM_CHUNK_MAGIC);
	wr32(c + 4, (uint32_t)raw_len);
	wr32(c + 8, (uint32_t)comp_len);
	wr32(c + 12, nrec);
	wr32(c + 16, (uint32_t)first_ts);
	wr32(c + 20, (uint32_t)(first_ts >> 32));
	wr32(c + 24, (uint32_t)crc32(0, comp, comp_len));
	wr32(c + PM_CHUNK_HDR_CRC_AT, (uint32_t)crc32(0, c, PM_CHUNK_HDR_CRC_AT));
	file = malloc(sizeof(h) + sizeof(c) + comp_len);
	assert_non_null(file);
	memcpy(file, h, sizeof(h));
	memcpy(file + sizeof(h), c, sizeof(c));
	memcpy(file + sizeof(h) + sizeof(c), comp, comp_len);
	spit(path, file, sizeof(h) + sizeof(c) + comp_len);
	free(file);
	free(comp);
}

/* Old traces stay readable; in them the CONTAINER tag is damage, as it was. */
static void test_version1(void **state)
{
	/* versions 1-3 encoding: timestamps inline, addresses as deltas */
	static const uint8_t v1[] = {
	    0x10, 7,	'p',  'y',  't',  'h',	'o',  'n',  '3', /* string 1 */
	    0x10, 16,	'/',  'u',  's',  'r',	'/',  'b',  'i',  'n',
	    '/',  'p',	'y',  't',  'h',  'o',	'n',  '3',		/* string 2 */
	    0x30, 0x00, 0x4d, 0x92, 0x21, 0x01, 0x02, 0x04, 0x00, 0x00, /* PROCESS */
	    0x81, 0x14, 0x92, 0x21, 0x00, 0x4d, 0x10, 0x80, 0x40,	/* py_malloc */
	    0x70, 0x14, 0x01,						/* END */
	};
	static const uint8_t cont1[] = {0x80, 0x00, 0x4d, 0x01, 0, 0, 0, 0, 0, 0};
	const char *old = tpath("v1-old.pmt");
	struct pm_record recs[3] = {0}, cont = {.type = PM_REC_CONTAINER};
	struct trace_reader *r;
	int last;

	(void)state;
	recs[0].type = PM_REC_PROCESS;
	recs[0].proc =
	    (struct pm_process){10, 77, 4242, 1, "python3", "/usr/bin/python3", "", "", 0};
	recs[1] = ev_rec(PM_PY_MALLOC, 20, 4242, 4242, 77);
	recs[1].ev.alloc.size = 16;
	recs[1].ev.alloc.addr = 0x1000;
	recs[2].type = PM_REC_END;
	recs[2].end = (struct pm_end){30, 1};
	for (uint32_t v = 1; v <= 3; v++) {
		payload_file(old, v, 10, 3, v1, sizeof(v1));
		assert_int_equal(read_and_check(old, recs, 3, &last, &r), 3);
		assert_int_equal(last, 0);
		assert_int_equal(trace_reader__info(r)->version, v);
		assert_true(trace_reader__complete(r));
		trace_reader__close(r);
	}
	/* the same bytes are no version-4 chunk (no section lengths) */
	payload_file(old, 4, 10, 3, v1, sizeof(v1));
	assert_int_equal(read_and_check(old, recs, 3, &last, NULL), 0);
	assert_int_equal(last, -EBADMSG);

	cont.cont =
	    (struct pm_container){5, 77, PM_CONTAINER_RUNNING, "", "", "", "", "", "", "", ""};
	payload_file(old, 2, 5, 1, cont1, sizeof(cont1));
	assert_int_equal(read_and_check(old, &cont, 1, &last, NULL), 1);
	assert_int_equal(last, 0);
	payload_file(old, 1, 5, 1, cont1, sizeof(cont1));
	assert_int_equal(read_and_check(old, &cont, 1, &last, &r), 0);
	assert_int_equal(last, -EBADMSG);
	assert_non_null(strstr(trace_reader__error(r), "unknown record type"));
	trace_reader__close(r);
}

/* One line of text per record, every field: a fingerprint of what a reader
 * delivers that does not depend on the reader's code. */
static uint64_t fp_fnv(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t record_fingerprint(uint64_t h, const struct pm_record *r)
{
	char b[1024];
	const struct pm_event *e = &r->ev;

	switch (r->type) {
	case PM_REC_EVENT:
		snprintf(b, sizeof(b), "E %u %llu %u %u %llu ", e->kind,
			 (unsigned long long)e->ts_ns, e->pid, e->tid,
			 (unsigned long long)e->cgroup_id);
		h = fp_fnv(h, b);
		if (pm_kind_is_alloc(e->kind))
			snprintf(b, sizeof(b), "%llx %llx %llx", (unsigned long long)e->alloc.size,
				 (unsigned long long)e->alloc.addr,
				 (unsigned long long)e->alloc.old_addr);
		else if (e->kind == PM_PY_FREE || e->kind == PM_FREE)
			snprintf(b, sizeof(b), "%llx", (unsigned long long)e->free.addr);
		else if (e->kind == PM_PY_DEALLOC)
			snprintf(b, sizeof(b), "%llx %llx %s", (unsigned long long)e->dealloc.obj,
				 (unsigned long long)e->dealloc.type, e->dealloc.type_name);
		else if (e->kind == PM_GC_START || e->kind == PM_GC_DONE)
			snprintf(b, sizeof(b), "%d %u %lld %llu", e->gc.generation, e->gc.source,
				 (long long)e->gc.collected, (unsigned long long)e->gc.duration_ns);
		else if (e->kind == PM_EXEC || e->kind == PM_EXIT)
			snprintf(b, sizeof(b), "%u %d %s %s", e->proc.ppid, e->proc.exit_code,
				 e->proc.comm, e->proc.path);
		else if (e->kind == PM_VM)
			snprintf(b, sizeof(b), "%u %u %llx %llx %llx %llx %llx", e->vm.op,
				 e->vm.prot, (unsigned long long)e->vm.flags,
				 (unsigned long long)e->vm.addr, (unsigned long long)e->vm.len,
				 (unsigned long long)e->vm.old_addr,
				 (unsigned long long)e->vm.old_len);
		else
			snprintf(b, sizeof(b), "%llu %llu", (unsigned long long)e->rss.rss,
				 (unsigned long long)e->rss.anon);
		break;
	case PM_REC_PROCESS:
		snprintf(b, sizeof(b), "P %llu %llu %u %u %s %s %s %s",
			 (unsigned long long)r->proc.ts_ns, (unsigned long long)r->proc.cgroup_id,
			 r->proc.pid, r->proc.ppid, r->proc.comm, r->proc.exe, r->proc.python,
			 r->proc.python_version);
		break;
	case PM_REC_SOURCE:
		snprintf(b, sizeof(b), "S %llu %u %s %d %s", (unsigned long long)r->src.ts_ns,
			 r->src.pid, r->src.source, (int)r->src.status, r->src.detail);
		break;
	case PM_REC_LOST:
		snprintf(b, sizeof(b), "L %llu %u %d %llu", (unsigned long long)r->lost.ts_ns,
			 r->lost.pid, (int)r->lost.kind, (unsigned long long)r->lost.count);
		break;
	case PM_REC_META:
		snprintf(b, sizeof(b), "M %s %s", r->meta.key, r->meta.value);
		break;
	case PM_REC_END:
		snprintf(b, sizeof(b), "N %llu %llu", (unsigned long long)r->end.ts_ns,
			 (unsigned long long)r->end.events);
		break;
	case PM_REC_CONTAINER:
		snprintf(b, sizeof(b), "C %llu %llu %d %s %s %s %s %s %s",
			 (unsigned long long)r->cont.ts_ns, (unsigned long long)r->cont.cgroup_id,
			 (int)r->cont.state, r->cont.runtime, r->cont.id, r->cont.name,
			 r->cont.image, r->cont.project, r->cont.service);
		break;
	}
	h = fp_fnv(h, b);
	return fp_fnv(h, "\n");
}

/*
 * Version-3 traces written by pymac before version 4 (tests/fixtures): the
 * fingerprints were taken with the version-3 reader, so every field of every
 * record must still come out the same. Rewritten in the current version, they
 * read back the same records.
 */
static void test_version3_fixtures(void **state)
{
	static const struct {
		const char *path;
		uint64_t records;
		uint64_t fingerprint;
	} fix[] = {
	    {"tests/fixtures/trace-v3.pmt", 1192, 0x10db648e21bc001dull},
	    {"tests/fixtures/trace-v3-alloc.pmt", 3001, 0xd8500c9af615e296ull},
	};
	const char *path = tpath("v3-as-v4.pmt");

	(void)state;
	for (size_t i = 0; i < sizeof(fix) / sizeof(fix[0]); i++) {
		struct pm_record *recs = calloc(fix[i].records, sizeof(*recs));
		struct trace_writer *w = trace_writer__open(path, &test_info);
		uint64_t h = 0xcbf29ce484222325ull, n = 0;
		struct trace_reader *r;
		char err[256];
		int ret, last;

		assert_non_null(recs);
		assert_non_null(w);
		r = trace_reader__open(fix[i].path, err, sizeof(err));
		if (!r)
			fail_msg("%s: %s (run from the repository root)", fix[i].path, err);
		assert_int_equal(trace_reader__info(r)->version, 3);
		while ((ret = trace_reader__next(r, &recs[n])) == 1) {
			h = record_fingerprint(h, &recs[n]);
			if (recs[n].type != PM_REC_END)
				assert_int_equal(trace_writer__append(w, &recs[n]), 0);
			assert_true(++n <= fix[i].records);
		}
		assert_int_equal(ret, 0);
		assert_true(trace_reader__complete(r));
		assert_int_equal(n, fix[i].records);
		assert_true(h == fix[i].fingerprint);
		/* string pointers stay valid while the reader is open */
		assert_int_equal(recs[n - 1].type, PM_REC_END);
		assert_int_equal(trace_writer__close(w, &recs[n - 1].end), 0);
		assert_int_equal(read_and_check(path, recs, n, &last, NULL), n);
		assert_int_equal(last, 0);
		trace_reader__close(r);
		free(recs);
	}
}

/*
 * The version-4 payload of a small stream, byte by byte as in
 * docs/trace-format.md. idx and idx_len: the recency index of the py_free.
 */
static size_t v4_payload(uint8_t *out, const uint8_t *idx, size_t idx_len, int nts_adjust,
			 bool extra_hi)
{
	static const uint8_t m1[] = {
	    0x81, 0x01, 0x00, 0x01, 0x20, 0x80, 0x40, /* py_malloc 32 at 0x1000 */
	    0xf1, 0x20, 0x40,			      /* py_malloc 32 at 0x1020 */
	    0xf4,				      /* py_free, by recency index: */
	};
	static const uint8_t m2[] = {
	    0xf1, 0x20, 0x00, /* py_malloc 32 at 0x1000, its class's address */
	    0x70, 0x04,	      /* END, 4 events */
	};
	/* ts 1000, 1001, 1300, 71300, 71301: zigzag deltas 0, 2, 598, 140000, 2 */
	static const uint8_t lo[] = {0x00, 0x02, 0x56, 0xe0, 0x02};
	static const uint8_t mid[] = {0x00, 0x00, 0x02, 0x22, 0x00};
	static const uint8_t hi[] = {0x00, 0x00, 0x00, 0x02, 0x00};
	size_t n = 0, main_len = sizeof(m1) + idx_len + sizeof(m2);

	out[n++] = (uint8_t)main_len;
	out[n++] = (uint8_t)(5 + nts_adjust);
	memcpy(out + n, m1, sizeof(m1));
	n += sizeof(m1);
	memcpy(out + n, idx, idx_len);
	n += idx_len;
	memcpy(out + n, m2, sizeof(m2));
	n += sizeof(m2);
	memcpy(out + n, lo, 5);
	memcpy(out + n + 5, mid, 5);
	memcpy(out + n + 10, hi, 5);
	n += 15;
	if (extra_hi)
		out[n++] = 0;
	return n;
}

static struct pm_record v4_rec(enum pm_kind kind, uint64_t ts, uint64_t addr)
{
	struct pm_record r = ev_rec(kind, ts, 1, 1, 1);

	if (kind == PM_PY_FREE) {
		r.ev.free.addr = addr;
	} else {
		r.ev.alloc.size = 32;
		r.ev.alloc.addr = addr;
	}
	return r;
}

/*
 * Version 4 (which the version-5 writer still writes for events without a
 * block): the writer's bytes are exactly the documented ones (recency
 * index for the free, class address for the allocation, timestamp columns),
 * and a damaged index, section length or column is a clean error.
 */
static void test_version4_encoding(void **state)
{
	const char *path = tpath("v4.pmt"), *bad = tpath("v4-bad.pmt");
	struct pm_record recs[5] = {
	    v4_rec(PM_PY_MALLOC, 1000, 0x1000),	     v4_rec(PM_PY_MALLOC, 1001, 0x1020),
	    v4_rec(PM_PY_FREE, 1300, 0x1000),	     v4_rec(PM_PY_MALLOC, 71300, 0x1000),
	    {.type = PM_REC_END, .end = {71301, 4}},
	};
	static const uint8_t one[] = {0x01};
	static const struct {
		uint8_t idx[2];
		size_t len;
		const char *why;
	} damage[] = {
	    {{0x02}, 1, "empty slot"}, /* two allocations so far */
	    {{0x7f}, 1, "empty slot"},	     {{0xff, 0x01}, 2, "empty slot"}, /* 255 */
	    {{0x80, 0x02}, 2, "empty slot"}, /* 256: past the table */
	    {{0x80}, 1, "corrupt chunk"},    /* runs into the next record */
	};
	struct chunk_info chunks[2];
	uint8_t want[64], *buf, *raw;
	struct trace_reader *r;
	size_t len, wlen;
	int last;

	(void)state;
	write_records(path, recs, 4, &recs[4].end);
	buf = slurp(path, &len);
	assert_int_equal(list_chunks(buf, len, chunks, 2), 1);
	raw = inflate_chunk(buf, &chunks[0]);
	wlen = v4_payload(want, one, 1, 0, false);
	assert_int_equal(chunks[0].raw_len, wlen);
	assert_memory_equal(raw, want, wlen);
	assert_int_equal(read_and_check(path, recs, 5, &last, NULL), 5);
	assert_int_equal(last, 0);
	free(raw);
	free(buf);

	/* the hand-made payload reads the same */
	payload_file(bad, PM_TRACE_VERSION, 1000, 5, want, wlen);
	assert_int_equal(read_and_check(bad, recs, 5, &last, NULL), 5);
	assert_int_equal(last, 0);

	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		wlen = v4_payload(want, damage[i].idx, damage[i].len, 0, false);
		payload_file(bad, PM_TRACE_VERSION, 1000, 5, want, wlen);
		assert_int_equal(read_and_check(bad, recs, 5, &last, &r), 0);
		assert_int_equal(last, -EBADMSG);
		if (!strstr(trace_reader__error(r), damage[i].why))
			fail_msg("case %zu: %s", i, trace_reader__error(r));
		trace_reader__close(r);
	}
	/* timestamp columns that do not match the records */
	for (int adj = -2; adj <= 2; adj++) {
		for (int extra = 0; extra <= 1; extra++) {
			if (!adj && !extra)
				continue;
			wlen = v4_payload(want, one, 1, adj, extra);
			payload_file(bad, PM_TRACE_VERSION, 1000, 5, want, wlen);
			assert_int_equal(read_and_check(bad, recs, 5, &last, &r), 0);
			assert_int_equal(last, -EBADMSG);
			trace_reader__close(r);
		}
	}
	/* a recency index on a free is no version-3 encoding */
	wlen = v4_payload(want, one, 1, 0, false);
	payload_file(bad, 3, 1000, 5, want, wlen);
	assert_int_equal(read_and_check(bad, recs, 5, &last, &r), 0);
	assert_int_equal(last, -EBADMSG);
	trace_reader__close(r);
	/* nor a flag for gc events */
	want[12] = 0xf6;
	payload_file(bad, PM_TRACE_VERSION, 1000, 5, want, wlen);
	assert_int_equal(read_and_check(bad, recs, 5, &last, &r), 0);
	assert_int_equal(last, -EBADMSG);
	trace_reader__close(r);
}

/*
 * Small chunks of incompressible timestamps and addresses: ending a deflate
 * block per section must not take a chunk past compressBound, which readers
 * enforce.
 */
static void test_version4_small_chunks(void **state)
{
	const char *path = tpath("small-chunks.pmt");
	struct pm_record recs[600];
	struct trace_writer *w;
	size_t n = 0;
	int last;

	(void)state;
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	for (size_t per = 1; n + per <= 600; per++) {
		for (size_t i = 0; i < per; i++, n++) {
			recs[n] = ev_rec(rnd() % 2 ? PM_PY_MALLOC : PM_FREE, rnd(), (uint32_t)rnd(),
					 (uint32_t)rnd(), rnd());
			recs[n].ev.alloc.size = rnd() % 1100;
			recs[n].ev.alloc.addr = rnd();
			recs[n].ev.alloc.old_addr = rnd();
			assert_int_equal(trace_writer__append(w, &recs[n]), 0);
		}
		assert_int_equal(trace_writer__flush(w), 0);
	}
	assert_int_equal(trace_writer__close(w, NULL), 0);
	assert_int_equal(read_and_check(path, recs, n, &last, NULL), n);
	assert_int_equal(last, 0);
}

/* Frees and deallocs of every recency, both families, across chunks. */
static void test_version4_recency(void **state)
{
	const size_t n = 60000;
	struct pm_record *recs = calloc(n, sizeof(*recs));
	const char *path = tpath("recency.pmt");
	uint64_t live[2][600];
	size_t nlive[2] = {0, 0}, i = 0;
	uint64_t ts = 5;
	int last;

	(void)state;
	assert_non_null(recs);
	while (i < n) {
		unsigned fam = rnd() % 4 == 0;
		uint64_t size = rnd() % 5 == 0 ? rnd() % 4096 : rnd() % 1100;

		ts += rnd() % 3 == 0 ? rnd() : rnd() % 70000;
		if (nlive[fam] < 600 && rnd() % 2) {
			uint64_t addr = rnd() % 8 == 0
					    ? 0
					    : (fam ? 0x5550000 : 0x7f000000) + (rnd() % 2048) * 16;

			recs[i] = ev_rec(fam ? PM_MALLOC : PM_PY_MALLOC, ts, 7, 7, 1);
			recs[i].ev.alloc.size = size;
			recs[i++].ev.alloc.addr = addr;
			if (addr)
				live[fam][nlive[fam]++] = addr;
		} else if (nlive[fam]) {
			/* any block back to 600 allocations ago, recent ones mostly */
			size_t k = rnd() % 2 ? nlive[fam] - 1 - rnd() % (nlive[fam] < 4 ? 1 : 4)
					     : rnd() % nlive[fam];
			uint64_t addr = live[fam][k];

			live[fam][k] = live[fam][--nlive[fam]];
			if (!fam && rnd() % 2 && i + 1 < n) {
				recs[i] = ev_rec(PM_PY_DEALLOC, ts, 7, 7, 1);
				recs[i].ev.dealloc.obj = addr;
				recs[i].ev.dealloc.type = 0x1234;
				recs[i++].ev.dealloc.type_name = "dict";
			}
			recs[i] = ev_rec(fam ? PM_FREE : PM_PY_FREE, ts, 7, 7, 1);
			recs[i++].ev.free.addr = rnd() % 50 ? addr : rnd();
		}
	}
	write_records(path, recs, n, NULL);
	assert_int_equal(read_and_check(path, recs, n, &last, NULL), n);
	assert_int_equal(last, 0);
	free(recs);
}

/* ---- version 5: block annotations ---- */

/*
 * Version-4 traces written by the version-4 writer (tests/fixtures/trace-v4*:
 * the version-3 fixtures re-encoded, one chunk each): they read back with the
 * fingerprints the version-3 files have, every block 0.
 */
static void test_version4_fixtures(void **state)
{
	static const struct {
		const char *path;
		uint64_t records;
		uint64_t fingerprint;
	} fix[] = {
	    {"tests/fixtures/trace-v4.pmt", 1192, 0x10db648e21bc001dull},
	    {"tests/fixtures/trace-v4-alloc.pmt", 3001, 0xd8500c9af615e296ull},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(fix) / sizeof(fix[0]); i++) {
		uint64_t h = 0xcbf29ce484222325ull, n = 0;
		struct trace_reader *r;
		struct pm_record rec;
		char err[256];
		int ret;

		r = trace_reader__open(fix[i].path, err, sizeof(err));
		if (!r)
			fail_msg("%s: %s (run from the repository root)", fix[i].path, err);
		assert_int_equal(trace_reader__info(r)->version, 4);
		while ((ret = trace_reader__next(r, &rec)) == 1) {
			h = record_fingerprint(h, &rec);
			if (rec.type == PM_REC_EVENT && rec.ev.kind == PM_PY_FREE)
				assert_int_equal(rec.ev.free.block, 0);
			if (rec.type == PM_REC_EVENT && rec.ev.kind == PM_PY_REALLOC)
				assert_int_equal(rec.ev.alloc.old_block, 0);
			n++;
		}
		assert_int_equal(ret, 0);
		assert_true(trace_reader__complete(r));
		assert_int_equal(n, fix[i].records);
		assert_true(h == fix[i].fingerprint);
		trace_reader__close(r);
	}
}

/*
 * The documented version-5 example: py_malloc(32) -> 0x1000 at ts 1000,
 * its py_free at 1300 with block 32, END at 1301. The writer produces
 * exactly these bytes, and they read back.
 */
static void test_version5_encoding(void **state)
{
	static const uint8_t want[] = {
	    0x0d, 0x03,				      /* records_len 13, n_ts 3 */
	    0x81, 0x01, 0x00, 0x01, 0x20, 0x80, 0x40, /* py_malloc 32 at 0x1000 */
	    0x90, 0x20,				      /* block 32 */
	    0x74, 0x00,				      /* py_free, delta 0 */
	    0x70, 0x02,				      /* END, 2 events */
	    0x00, 0x58, 0x02,			      /* lo: z = 0, 600, 2 */
	    0x00, 0x02, 0x00,			      /* mid */
	    0x00, 0x00, 0x00,			      /* hi */
	};
	const char *path = tpath("v5.pmt");
	struct pm_record recs[3] = {
	    v4_rec(PM_PY_MALLOC, 1000, 0x1000),
	    v4_rec(PM_PY_FREE, 1300, 0x1000),
	    {.type = PM_REC_END, .end = {1301, 2}},
	};
	struct chunk_info chunks[2];
	struct trace_reader *r;
	uint8_t *buf, *raw;
	size_t len;
	int last;

	(void)state;
	recs[1].ev.free.block = 32;
	write_records(path, recs, 2, &recs[2].end);
	buf = slurp(path, &len);
	assert_int_equal(rd32(buf + 8), PM_TRACE_VERSION);
	assert_int_equal(list_chunks(buf, len, chunks, 2), 1);
	/* the annotation and its free are one record */
	assert_int_equal(chunks[0].records, 3);
	raw = inflate_chunk(buf, &chunks[0]);
	assert_int_equal(chunks[0].raw_len, sizeof(want));
	assert_memory_equal(raw, want, sizeof(want));
	free(raw);
	free(buf);
	assert_int_equal(read_and_check(path, recs, 3, &last, &r), 3);
	assert_int_equal(last, 0);
	assert_int_equal(trace_reader__info(r)->version, PM_TRACE_VERSION);
	trace_reader__close(r);

	/* in a version-4 file the tag is an unknown record, as it always was */
	payload_file(path, 4, 1000, 3, want, sizeof(want));
	assert_int_equal(read_and_check(path, recs, 3, &last, &r), 0);
	assert_int_equal(last, -EBADMSG);
	assert_non_null(strstr(trace_reader__error(r), "unknown record type in record 2"));
	trace_reader__close(r);
}

/*
 * Version 6 adds `uncollectable` at the end of gc_start/gc_done. A version-6
 * gc_done reads back with it; the same record without it, in a version-5
 * file, reads back with -1 (not known).
 */
static void test_version6_gc(void **state)
{
	const char *path = tpath("v6.pmt");
	struct pm_record rec = ev_rec(PM_GC_DONE, 1000, 1, 1, 1), got;
	struct pm_end end = {1001, 1};
	struct chunk_info chunks[2];
	struct trace_reader *r;
	uint8_t *buf, *raw;
	size_t len, at = 0;
	char err[256];

	(void)state;
	rec.ev.gc.generation = 2;
	rec.ev.gc.source = PM_GC_SRC_UPROBE;
	rec.ev.gc.collected = 5;
	rec.ev.gc.uncollectable = 3;
	rec.ev.gc.duration_ns = 100;
	write_records(path, &rec, 1, &end);
	r = trace_reader__open(path, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(trace_reader__next(r, &got), 1);
	assert_int_equal(got.ev.kind, PM_GC_DONE);
	assert_int_equal(got.ev.gc.collected, 5);
	assert_int_equal(got.ev.gc.uncollectable, 3);
	trace_reader__close(r);

	/* the last byte of the record (zigzag 3) sits just before END's tag */
	buf = slurp(path, &len);
	assert_int_equal(list_chunks(buf, len, chunks, 2), 1);
	raw = inflate_chunk(buf, &chunks[0]);
	for (size_t i = 0; i + 1 < chunks[0].raw_len; i++)
		if (raw[i] == 0x06 && raw[i + 1] == 0x70)
			at = i;
	assert_true(at > 2);
	assert_true(raw[0] < 0x80); /* records_len is one byte */
	memmove(raw + at, raw + at + 1, chunks[0].raw_len - at - 1);
	raw[0]--;
	payload_file(path, 5, 1000, 2, raw, chunks[0].raw_len - 1);
	free(raw);
	free(buf);
	r = trace_reader__open(path, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(trace_reader__info(r)->version, 5);
	assert_int_equal(trace_reader__next(r, &got), 1);
	assert_int_equal(got.ev.gc.collected, 5);
	assert_int_equal(got.ev.gc.uncollectable, -1);
	assert_int_equal(got.ev.gc.duration_ns, 100);
	assert_int_equal(trace_reader__next(r, &got), 1);
	assert_int_equal(got.type, PM_REC_END);
	trace_reader__close(r);
}

/*
 * A block annotation followed by anything but a py_free or py_realloc, or
 * with a value the writer never writes, is a clean error that names it.
 */
static void test_version5_block_damage(void **state)
{
	/* one timestamp, delta 0: records_len, n_ts 1, entries, lo, mid, hi */
	static const struct {
		uint8_t e[16];
		size_t len;
		uint32_t nrec;
		const char *why;
	} cases[] = {
	    /* the good ones: py_free (pid 1, tid 1, cgroup 1, addr 0x1000), and
	     * py_realloc (size 32, addr 0x1000, old_addr 0x1000 + 16) */
	    {{0x90, 0x20, 0x04, 0x01, 0x00, 0x01, 0x80, 0x40}, 8, 1, NULL},
	    {{0x90, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x03, 0x01, 0x00, 0x01, 0x20, 0x80, 0x40, 0x20},
	     14,
	     1,
	     NULL},
	    /* py_malloc, libc free, realloc, dealloc, gc after it */
	    {{0x90, 0x20, 0x81, 0x01, 0x00, 0x01, 0x20, 0x80, 0x40}, 9, 1, "not followed by"},
	    {{0x90, 0x20, 0x0b, 0x01, 0x00, 0x01, 0x80, 0x40}, 8, 1, "not followed by"},
	    {{0x90, 0x20, 0x8a, 0x01, 0x00, 0x01, 0x20, 0x80, 0x40}, 9, 1, "not followed by"},
	    {{0x90, 0x20, 0x05, 0x01, 0x00, 0x01, 0x80, 0x40, 0x00, 0x00, 0x00},
	     11,
	     1,
	     "not followed by"},
	    {{0x90, 0x20, 0x06, 0x01, 0x00, 0x01, 0x00, 0x02, 0x01, 0x00},
	     10,
	     1,
	     "not followed by"},
	    /* END, a string definition, a second annotation, nothing */
	    {{0x90, 0x20, 0x70, 0x00}, 4, 1, "not followed by"},
	    {{0x90, 0x20, 0x10, 0x01, 'a', 0x04, 0x01, 0x00, 0x01, 0x80, 0x40},
	     11,
	     1,
	     "not followed by"},
	    {{0x90, 0x20, 0x90, 0x20, 0x04, 0x01, 0x00, 0x01, 0x80, 0x40},
	     10,
	     1,
	     "not followed by"},
	    {{0x90, 0x20}, 2, 1, "not followed by"},
	    /* 0 (written as no annotation), past 32 bits, a cut varint */
	    {{0x90, 0x00, 0x04, 0x01, 0x00, 0x01, 0x80, 0x40}, 8, 1, "block annotation of 0"},
	    {{0x90, 0x80, 0x80, 0x80, 0x80, 0x10, 0x04, 0x01, 0x00, 0x01, 0x80, 0x40},
	     12,
	     1,
	     "32-bit value out of range"},
	    {{0x90, 0x80}, 2, 1, "bad varint"},
	    /* the pair is one record: counting the annotation too is damage */
	    {{0x90, 0x20, 0x04, 0x01, 0x00, 0x01, 0x80, 0x40}, 8, 2, "record count"},
	};
	const char *path = tpath("v5-bad.pmt");
	struct pm_record want[2] = {ev_rec(PM_PY_FREE, 1000, 1, 1, 1),
				    ev_rec(PM_PY_REALLOC, 1000, 1, 1, 1)};
	struct trace_reader *r;
	uint8_t raw[32];
	int last;

	(void)state;
	want[0].ev.free.addr = 0x1000;
	want[0].ev.free.block = 32;
	want[1].ev.alloc = (typeof(want[1].ev.alloc)){32, 0x1000, 0x1010, UINT32_MAX};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;

		raw[n++] = (uint8_t)cases[i].len;
		raw[n++] = 1;
		memcpy(raw + n, cases[i].e, cases[i].len);
		n += cases[i].len;
		raw[n++] = 0;
		raw[n++] = 0;
		raw[n++] = 0;
		payload_file(path, 5, 1000, cases[i].nrec, raw, n);
		if (!cases[i].why) {
			assert_int_equal(read_and_check(path, &want[i], 1, &last, NULL), 1);
			assert_int_equal(last, 0);
			continue;
		}
		assert_int_equal(read_and_check(path, want, 0, &last, &r), 0);
		assert_int_equal(last, -EBADMSG);
		if (!strstr(trace_reader__error(r), cases[i].why))
			fail_msg("case %zu: %s", i, trace_reader__error(r));
		assert_false(trace_reader__complete(r));
		trace_reader__close(r);
	}
}

static const uint32_t block_values[] = {0, 1, 16, 32, 48, 127, 128, 512, 1 << 20, UINT32_MAX};

/*
 * py_free and py_realloc with every kind of block value among allocations,
 * libc events and deallocs whose new type names put string definitions
 * between them, over many chunks (some closed right after an annotated
 * event, some right before one).
 */
static void test_version5_blocks_roundtrip(void **state)
{
	const size_t n = 150000;
	struct pm_record *recs = calloc(n, sizeof(*recs));
	const char *path = tpath("blocks.pmt");
	struct chunk_info chunks[256];
	static char names[200][16];
	size_t len, nchunks, total = 0, annotated = 0;
	struct trace_writer *w;
	uint64_t ts = 1000, addr = 0x7f0000000000;
	uint8_t *buf;
	int last;

	(void)state;
	assert_non_null(recs);
	for (size_t i = 0; i < 200; i++)
		snprintf(names[i], sizeof(names[i]), "Type%zu", i);
	for (size_t i = 0; i < n; i++) {
		unsigned dice = rnd() % 10;
		uint32_t block = block_values[rnd() % 10];

		ts += rnd() % 2000;
		addr += 16 * (rnd() % 64);
		if (dice < 3) {
			recs[i] = ev_rec(PM_PY_FREE, ts, 7, 7 + rnd() % 2, 1);
			recs[i].ev.free.addr = addr;
			recs[i].ev.free.block = block;
		} else if (dice < 4) {
			recs[i] = ev_rec(PM_PY_REALLOC, ts, 7, 7, 1);
			recs[i].ev.alloc.size = rnd() % 1024;
			recs[i].ev.alloc.addr = addr + 16 * (rnd() % 8);
			recs[i].ev.alloc.old_addr = rnd() % 8 ? addr : 0;
			recs[i].ev.alloc.old_block = block;
		} else if (dice < 6) {
			recs[i] = ev_rec(PM_PY_MALLOC, ts, 7, 7, 1);
			recs[i].ev.alloc.size = rnd() % 512;
			recs[i].ev.alloc.addr = addr;
		} else if (dice < 8) {
			/* a new type name every ~750 deallocs: a definition */
			recs[i] = ev_rec(PM_PY_DEALLOC, ts, 7, 7, 1);
			recs[i].ev.dealloc.obj = addr;
			recs[i].ev.dealloc.type = 0x9000 + (i / 3000) * 8;
			recs[i].ev.dealloc.type_name = names[i / 3000 % 200];
		} else if (dice < 9) {
			recs[i] = ev_rec(rnd() % 2 ? PM_MALLOC : PM_REALLOC, ts, 7, 7, 1);
			recs[i].ev.alloc.size = rnd() % 100000;
			recs[i].ev.alloc.addr = 0x5550000 + 16 * (rnd() % 4096);
			recs[i].ev.alloc.old_block = block; /* not written */
		} else {
			recs[i] = ev_rec(PM_FREE, ts, 7, 7, 1);
			recs[i].ev.free.addr = 0x5550000 + 16 * (rnd() % 4096);
			recs[i].ev.free.block = block; /* not written */
		}
		if (recs[i].ev.kind == PM_PY_FREE      ? recs[i].ev.free.block != 0
		    : recs[i].ev.kind == PM_PY_REALLOC ? recs[i].ev.alloc.old_block != 0
						       : false)
			annotated++;
	}
	assert_true(annotated > n / 4);
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(trace_writer__append(w, &recs[i]), 0);
		if (i % 9973 == 0 || (i + 1 < n && i % 7919 == 0))
			assert_int_equal(trace_writer__flush(w), 0);
	}
	assert_int_equal(trace_writer__close(w, NULL), 0);

	buf = slurp(path, &len);
	nchunks = list_chunks(buf, len, chunks, 256);
	assert_true(nchunks >= 10);
	for (size_t i = 0; i < nchunks; i++)
		total += chunks[i].records;
	assert_int_equal(total, n);
	free(buf);
	assert_int_equal(read_and_check(path, recs, n, &last, NULL), n);
	assert_int_equal(last, 0);
	free(recs);
}

/* Splits a one-chunk version-4/5 file's payload into entries and the rest. */
static uint8_t *chunk_entries(const char *path, size_t *entries_at, size_t *entries_len,
			      size_t *raw_len)
{
	struct chunk_info chunks[2];
	uint64_t main_len, nts;
	size_t len, n1, n2;
	uint8_t *buf = slurp(path, &len), *raw;

	assert_int_equal(list_chunks(buf, len, chunks, 2), 1);
	raw = inflate_chunk(buf, &chunks[0]);
	*raw_len = chunks[0].raw_len;
	n1 = pm_varint_get(raw, *raw_len, &main_len);
	n2 = pm_varint_get(raw + n1, *raw_len - n1, &nts);
	assert_true(n1 && n2);
	*entries_at = n1 + n2;
	*entries_len = main_len;
	free(buf);
	return raw;
}

/*
 * Events with block 0 cost nothing: a stream of them encodes to the same
 * bytes with or without one annotated free among them, but for the
 * annotation itself (its tag and varint) in front of that free's tag.
 */
static void test_version5_no_block_no_bytes(void **state)
{
	const size_t n = 3000;
	struct pm_record *recs = calloc(n, sizeof(*recs));
	const char *plain = tpath("plain.pmt"), *one = tpath("one-block.pmt");
	size_t pa, pl, praw, oa, ol, oraw, k, at;
	uint8_t *p, *o, note[8];
	size_t note_len;

	(void)state;
	assert_non_null(recs);
	assert_int_equal(synth_stream(recs, n), n);
	write_records(plain, recs, n, NULL);
	for (k = n / 2; recs[k].ev.kind != PM_PY_FREE; k++)
		assert_true(k + 1 < n);
	for (size_t b = 0; b < sizeof(block_values) / sizeof(block_values[0]); b++) {
		uint32_t block = block_values[b];

		recs[k].ev.free.block = block;
		write_records(one, recs, n, NULL);
		p = chunk_entries(plain, &pa, &pl, &praw);
		o = chunk_entries(one, &oa, &ol, &oraw);
		note_len = 0;
		if (block) {
			note[0] = PM_TAG_BLOCK;
			note_len = 1 + pm_varint_put(note + 1, block);
		}
		assert_int_equal(ol, pl + note_len);
		/* the entries differ by the inserted annotation, nothing else */
		for (at = 0; at < pl && p[pa + at] == o[oa + at]; at++)
			;
		assert_true(block ? at < pl : at == pl);
		assert_memory_equal(o + oa + at, note, note_len);
		assert_memory_equal(o + oa + at + note_len, p + pa + at, pl - at);
		/* and the timestamp columns are the same */
		assert_int_equal(oraw - oa - ol, praw - pa - pl);
		assert_memory_equal(o + oa + ol, p + pa + pl, praw - pa - pl);
		free(p);
		free(o);
	}
	free(recs);
}

/*
 * What blocks cost where BPF reads them (LTO builds): every py_free of the
 * synthetic stream sized by its allocation's class. Printed for the docs;
 * asserted loosely.
 */
static void test_version5_bytes_per_event(void **state)
{
	const size_t n = 300000;
	struct pm_record *recs = calloc(n, sizeof(*recs));
	const char *path = tpath("synth-blocks.pmt");
	static struct {
		uint64_t addr;
		uint32_t block;
	} cls[1 << 16];
	uint64_t file[2];
	size_t nblocks = 0;

	(void)state;
	assert_non_null(recs);
	assert_int_equal(synth_stream(recs, n), n);
	for (int pass = 0; pass < 2; pass++) {
		struct trace_writer *w;

		if (pass) {
			for (size_t i = 0; i < n; i++) {
				struct pm_event *e = &recs[i].ev;
				uint32_t h;

				if (e->kind == PM_PY_MALLOC) {
					h = (uint32_t)((e->alloc.addr >> 4) *
							   0x9e3779b97f4a7c15ull >>
						       48);
					cls[h].addr = e->alloc.addr;
					cls[h].block = (uint32_t)((e->alloc.size + 15) & ~15ull);
				} else if (e->kind == PM_PY_FREE) {
					h = (uint32_t)((e->free.addr >> 4) *
							   0x9e3779b97f4a7c15ull >>
						       48);
					e->free.block = cls[h].addr == e->free.addr ? cls[h].block
										    : PM_BLOCK_RAW;
					nblocks++;
				}
			}
		}
		w = trace_writer__open(path, &test_info);
		assert_non_null(w);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(trace_writer__append(w, &recs[i]), 0);
		assert_int_equal(trace_writer__flush(w), 0);
		trace_writer__stats(w, NULL, &file[pass], NULL);
		assert_int_equal(trace_writer__close(w, NULL), 0);
	}
	print_message("synthetic stream: %.3f file bytes/event without blocks, %.3f with a block "
		      "on each of its %zu py_frees\n",
		      (double)file[0] / n, (double)file[1] / n, nblocks);
	assert_true(nblocks > n / 5);
	assert_true(file[1] > file[0]);
	/* at most the raw cost: a tag and a one- or two-byte varint per free */
	assert_true(file[1] - file[0] < 3 * nblocks);
	int last;

	assert_int_equal(read_and_check(path, recs, n, &last, NULL), n);
	assert_int_equal(last, 0);
	free(recs);
}

/*
 * A chunk holding one CONTAINER record, its payload cut at every length and
 * its state byte replaced: each is corruption, never a half-read record.
 */
static void test_container_damage(void **state)
{
	const char *path = tpath("cont.pmt"), *bad = tpath("cont-bad.pmt");
	struct pm_record cont = {.type = PM_REC_CONTAINER};
	struct chunk_info chunks[4];
	size_t len, nchunks, state_at = 0, out_len;
	uint8_t *buf, *raw, *out;
	struct trace_reader *r;
	int last;

	(void)state;
	cont.cont = (struct pm_container){123456789,
					  4242,
					  PM_CONTAINER_STOPPED,
					  "podman",
					  CONTAINER_ID,
					  "db",
					  "postgres:16",
					  "p",
					  "s",
					  "",
					  ""};
	write_records(path, &cont, 1, NULL);
	buf = slurp(path, &len);
	nchunks = list_chunks(buf, len, chunks, 4);
	assert_int_equal(nchunks, 1);
	raw = inflate_chunk(buf, &chunks[0]);

	/* the record is the last entry; everything before the tag defines strings */
	for (size_t cut = 1; cut < chunks[0].raw_len; cut++) {
		rewrite_chunk(buf, &chunks[0], raw, cut, &out, &out_len, len);
		spit(bad, out, out_len);
		assert_int_equal(read_and_check(bad, &cont, 1, &last, &r), 0);
		assert_int_equal(last, -EBADMSG);
		assert_non_null(strstr(trace_reader__error(r), "corrupt chunk at offset"));
		trace_reader__close(r);
		free(out);
	}

	/* tag 0x80, cgroup 4242 (2 bytes), state (the ts is in its column) */
	for (size_t i = 0; i + 3 < chunks[0].raw_len; i++)
		if (raw[i] == PM_TAG_CONTAINER && raw[i + 1] == 0x92 && raw[i + 2] == 0x21 &&
		    raw[i + 3] == 2)
			state_at = i + 3;
	assert_true(state_at > 0);
	for (unsigned v = 0; v < 4; v++) {
		if (v == PM_CONTAINER_RUNNING || v == PM_CONTAINER_STOPPED)
			continue;
		raw[state_at] = (uint8_t)v;
		rewrite_chunk(buf, &chunks[0], raw, chunks[0].raw_len, &out, &out_len, len);
		spit(bad, out, out_len);
		assert_int_equal(read_and_check(bad, &cont, 1, &last, &r), 0);
		assert_int_equal(last, -EBADMSG);
		assert_non_null(strstr(trace_reader__error(r), "unknown container state"));
		trace_reader__close(r);
		free(out);
	}
	raw[state_at] = PM_CONTAINER_RUNNING;
	rewrite_chunk(buf, &chunks[0], raw, chunks[0].raw_len, &out, &out_len, len);
	spit(bad, out, out_len);
	cont.cont.state = PM_CONTAINER_RUNNING;
	assert_int_equal(read_and_check(bad, &cont, 1, &last, NULL), 1);
	assert_int_equal(last, 0);
	free(out);
	free(raw);
	free(buf);
}

/* ---- files and errors ---- */

static void test_mode_0600(void **state)
{
	const char *path = tpath("mode.pmt");
	struct trace_writer *w;
	struct stat st;
	mode_t old = umask(0);
	int fd;

	(void)state;
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(trace_writer__set_owner(w, getuid(), getgid()), 0);
	if (geteuid() == 0) {
		assert_int_equal(trace_writer__set_owner(w, 65534, 65534), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_uid, 65534);
		assert_int_equal(st.st_gid, 65534);
	}
	assert_int_equal(trace_writer__close(w, NULL), 0);

	/* an existing world-readable file is truncated and made private */
	unlink(path);
	fd = open(path, O_CREAT | O_WRONLY, 0666);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old contents, longer than a header............", 46), 46);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0666);
	w = trace_writer__open(path, &test_info);
	assert_non_null(w);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, PM_TRACE_HDR_LEN);
	assert_int_equal(trace_writer__close(w, NULL), 0);
	umask(old);

	errno = 0;
	assert_null(trace_writer__open(tpath("no/such/dir.pmt"), &test_info));
	assert_int_equal(errno, ENOENT);
}

static void test_dev_full(void **state)
{
	struct stat before, after;

	(void)state;
	if (stat("/dev/full", &before))
		skip();
	errno = 0;
	/* a device is refused (util/outfile.c): no writer, a clear reason */
	assert_null(trace_writer__open("/dev/full", &test_info));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(trace_writer__open_error(), "character device"));
	/* and left as it was */
	assert_int_equal(stat("/dev/full", &after), 0);
	assert_int_equal(before.st_mode, after.st_mode);
}

/* Runs fn in a child (it changes limits or mounts); 77 from the child means
 * "cannot run here". */
static void run_in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	if (WEXITSTATUS(status))
		fail_msg("child check %d failed", WEXITSTATUS(status));
}

#define CHECK(cond, code)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
			return code;                                                               \
		}                                                                                  \
	} while (0)

/*
 * Append incompressible events until the file system refuses; then every
 * call fails with that error, the file ends at the last complete chunk, and
 * a reader gets exactly the records of the chunks written.
 */
static int fill_until_error(const char *path, int want_err)
{
	struct trace_writer *w = trace_writer__open(path, &test_info);
	struct pm_record rec = ev_rec(PM_MALLOC, 0, 1, 1, 1);
	uint64_t raw, file, nrec, i, good = 0;
	struct trace_reader *r;
	struct stat st;
	int err = 0, ret;

	CHECK(w, 10);
	for (i = 0; i < 10000000 && !err; i++) {
		rec.ev.ts_ns = rnd();
		rec.ev.alloc.addr = rnd();
		rec.ev.alloc.size = rnd();
		err = trace_writer__append(w, &rec);
		if (!err && !(i % 1000))
			err = trace_writer__maybe_flush(w, UINT64_MAX, 0);
		if (!err)
			good = i + 1;
	}
	CHECK(err == want_err, 11);
	CHECK(trace_writer__append(w, &rec) == want_err, 12);
	CHECK(trace_writer__flush(w) == want_err, 13);
	trace_writer__stats(w, &raw, &file, &nrec);
	CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == file, 14);
	CHECK(trace_writer__close(w, &(struct pm_end){1, 2}) == want_err, 15);

	r = trace_reader__open(path, NULL, 0);
	CHECK(r, 16);
	i = 0;
	while ((ret = trace_reader__next(r, &rec)) == 1)
		i++;
	CHECK(ret == 0, 17);
	CHECK(!trace_reader__complete(r), 18);
	CHECK(i > 0 && i <= good, 19);
	trace_reader__close(r);
	return 0;
}

static int child_efbig(void)
{
	struct rlimit rl = {300000, 300000};

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl))
		return 77;
	return fill_until_error(tpath("efbig.pmt"), -EFBIG);
}

static int child_enospc(void)
{
	char opts[] = "size=256k,mode=0700";
	const char *mnt = tpath("mnt");

	if (geteuid() != 0 || unshare(CLONE_NEWNS))
		return 77;
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL))
		return 77;
	if (mkdir(mnt, 0700) && errno != EEXIST)
		return 77;
	if (mount("tmpfs", mnt, "tmpfs", 0, opts))
		return 77;
	return fill_until_error(tpath("mnt/full.pmt"), -ENOSPC);
}

static void test_write_error_efbig(void **state)
{
	(void)state;
	run_in_child(child_efbig);
}

static void test_write_error_enospc(void **state)
{
	(void)state;
	run_in_child(child_enospc);
}

/* ---- periodic flushing, sink, feed ---- */

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void test_maybe_flush(void **state)
{
	const char *path = tpath("periodic.pmt");
	struct trace_writer *w = trace_writer__open(path, &test_info);
	struct pm_record rec = ev_rec(PM_PY_FREE, 5, 6, 7, 8), got;
	struct trace_reader *r;
	uint64_t t;

	(void)state;
	assert_non_null(w);
	assert_int_equal(trace_writer__maybe_flush(w, mono_ns(), 0), 0); /* nothing to flush */
	assert_int_equal(file_size(path), PM_TRACE_HDR_LEN);
	assert_int_equal(trace_writer__append(w, &rec), 0);
	t = mono_ns();
	assert_int_equal(trace_writer__maybe_flush(w, t, 10000000000ull), 0);
	assert_int_equal(file_size(path), PM_TRACE_HDR_LEN);
	assert_int_equal(trace_writer__maybe_flush(w, t + 20000000000ull, 10000000000ull), 0);
	assert_true(file_size(path) > PM_TRACE_HDR_LEN);

	/* while the writer is still open, the file so far reads on its own */
	r = trace_reader__open(path, NULL, 0);
	assert_non_null(r);
	assert_int_equal(trace_reader__next(r, &got), 1);
	assert_rec_equal(&got, &rec);
	assert_int_equal(trace_reader__next(r, &got), 0);
	assert_false(trace_reader__complete(r));
	trace_reader__close(r);
	assert_int_equal(trace_writer__close(w, NULL), 0);
}

struct counting_sink {
	struct pm_sink sink;
	const struct pm_record *want;
	size_t n, fail_at;
};

static int counting_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct counting_sink *c = (struct counting_sink *)sink;

	if (c->n == c->fail_at)
		return -EPIPE;
	assert_rec_equal(rec, &c->want[c->n]);
	c->n++;
	return 0;
}

static void test_sink_and_feed(void **state)
{
	const char *path = tpath("sink.pmt");
	struct pm_record recs[64];
	size_t n = all_types(recs);
	struct trace_writer *w = trace_writer__open(path, &test_info);
	struct pm_sink *sink;
	struct counting_sink c = {{counting_record, NULL}, recs, 0, SIZE_MAX};
	uint64_t raw, file, nrec;
	struct trace_reader *r;
	struct feed f;

	(void)state;
	assert_non_null(w);
	sink = trace_writer__sink(w);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sink->record(sink, &recs[i]), 0);
	assert_int_equal(sink->finish(sink), 0);
	assert_int_equal(trace_writer__flush(w), 0);
	trace_writer__stats(w, &raw, &file, &nrec);
	assert_int_equal(nrec, n);
	assert_true(raw > 0);
	assert_int_equal(trace_writer__close(w, NULL), 0);
	assert_int_equal(file_size(path), file);

	r = trace_reader__open(path, NULL, 0);
	assert_non_null(r);
	feed__init(&f);
	assert_int_equal(feed__add(&f, "counter", &c.sink, FEED_ESSENTIAL), 0);
	assert_int_equal(feed__run_reader(&f, r), 0);
	assert_true(f.input_read);
	assert_int_equal(f.input_err, 0);
	assert_int_equal(c.n, n);
	assert_true(trace_reader__complete(r));
	trace_reader__close(r);

	/* an essential sink's error stops the feed: the rest of the input is
	 * not read, and nothing is said of it (it is not "cut short") */
	c.n = 0;
	c.fail_at = 3;
	r = trace_reader__open(path, NULL, 0);
	assert_non_null(r);
	feed__init(&f);
	assert_int_equal(feed__add(&f, "counter", &c.sink, FEED_ESSENTIAL), 0);
	assert_int_equal(feed__run_reader(&f, r), -EPIPE);
	assert_false(f.input_read);
	assert_int_equal(c.n, 3);
	assert_int_equal(feed__sink_error(&f, &c.sink), -EPIPE);
	assert_int_equal(f.s[0].at_event, f.events);
	trace_reader__close(r);

	/* an optional one is dropped and the feed goes on to the end */
	c.n = 0;
	c.fail_at = 3;
	r = trace_reader__open(path, NULL, 0);
	assert_non_null(r);
	feed__init(&f);
	assert_int_equal(feed__add(&f, "counter", &c.sink, FEED_OPTIONAL), 0);
	assert_int_equal(feed__run_reader(&f, r), 0);
	assert_true(f.input_read);
	assert_int_equal(f.input_err, 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(f.records, n);
	assert_int_equal(feed__sink_error(&f, &c.sink), -EPIPE);
	trace_reader__close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_varint_roundtrip),
	    cmocka_unit_test(test_varint_invalid),
	    cmocka_unit_test(test_zigzag),
	    cmocka_unit_test(test_roundtrip_every_type),
	    cmocka_unit_test(test_null_and_long_strings),
	    cmocka_unit_test(test_invalid_records),
	    cmocka_unit_test(test_bytes_per_event),
	    cmocka_unit_test(test_multi_chunk),
	    cmocka_unit_test(test_inline_strings),
	    cmocka_unit_test(test_truncated_every_offset),
	    cmocka_unit_test(test_corrupt_every_byte),
	    cmocka_unit_test(test_mutated_payload),
	    cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_version1),
	    cmocka_unit_test(test_version3_fixtures),
	    cmocka_unit_test(test_version4_encoding),
	    cmocka_unit_test(test_version4_recency),
	    cmocka_unit_test(test_version4_small_chunks),
	    cmocka_unit_test(test_version4_fixtures),
	    cmocka_unit_test(test_version5_encoding),
	    cmocka_unit_test(test_version6_gc),
	    cmocka_unit_test(test_version5_block_damage),
	    cmocka_unit_test(test_version5_blocks_roundtrip),
	    cmocka_unit_test(test_version5_no_block_no_bytes),
	    cmocka_unit_test(test_version5_bytes_per_event),
	    cmocka_unit_test(test_container_damage),
	    cmocka_unit_test(test_mode_0600),
	    cmocka_unit_test(test_dev_full),
	    cmocka_unit_test(test_write_error_efbig),
	    cmocka_unit_test(test_write_error_enospc),
	    cmocka_unit_test(test_maybe_flush),
	    cmocka_unit_test(test_sink_and_feed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
