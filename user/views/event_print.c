// SPDX-License-Identifier: MIT
/*
 * One line per event. Replays print millions of lines, so lines are built
 * with hand-written number formatting in a large buffer of our own that is
 * written out in big blocks; printf would dominate the run time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "views/event_print.h"
#include "util/json.h"

#define BUF_SIZE  (256 * 1024)
#define LINE_ROOM 1024 /* more than any line needs apart from its strings */

struct event_printer {
	struct pm_sink sink;
	FILE *out;
	enum event_format fmt;
	uint64_t start_ns;
	char *buf; /* text lines */
	size_t len;
	struct jsonw jw; /* JSON Lines, built in memory the same way */
	int err;
};

static int printer_flush(struct event_printer *p)
{
	size_t jlen;
	const char *j = jsonw_mem(&p->jw, &jlen);

	if (p->len && fwrite(p->buf, 1, p->len, p->out) != p->len && !p->err)
		p->err = -EIO;
	if (jlen && fwrite(j, 1, jlen, p->out) != jlen && !p->err)
		p->err = -EIO;
	if (!p->err && jsonw_finish(&p->jw) == -ENOMEM)
		p->err = -ENOMEM;
	p->len = 0;
	jsonw_mem_reset(&p->jw);
	return p->err;
}

static inline void put_mem(struct event_printer *p, const char *s, size_t n)
{
	memcpy(p->buf + p->len, s, n);
	p->len += n;
}

#define put_lit(p, s) put_mem(p, s, sizeof(s) - 1)

static inline void put_char(struct event_printer *p, char c)
{
	p->buf[p->len++] = c;
}

static inline void put_u64(struct event_printer *p, uint64_t v)
{
	p->len += pm_format_u64(p->buf + p->len, v);
}

static inline void put_i64(struct event_printer *p, int64_t v)
{
	if (v < 0) {
		put_char(p, '-');
		put_u64(p, -(uint64_t)v);
	} else {
		put_u64(p, (uint64_t)v);
	}
}

static inline void put_hex(struct event_printer *p, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	int i = sizeof(tmp);

	do {
		tmp[--i] = digits[v & 0xf];
		v >>= 4;
	} while (v);
	put_lit(p, "0x");
	put_mem(p, tmp + i, sizeof(tmp) - i);
}

/* Seconds with nine decimals, e.g. "0.000123456". */
static void put_seconds(struct event_printer *p, uint64_t ns)
{
	p->len += pm_format_fixed(p->buf + p->len, ns, 9);
}

/*
 * Strings come from traced processes and trace files: they can be long or
 * hostile. Flush first when the worst case does not fit; a string larger
 * than the whole buffer goes straight to the stream.
 */
static void put_str(struct event_printer *p, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (p->len + n + LINE_ROOM > BUF_SIZE)
		printer_flush(p);
	if (n + LINE_ROOM > BUF_SIZE) {
		char *tmp = malloc(n);

		if (tmp)
			fwrite(tmp, 1, text_format_string(tmp, s), p->out);
		else
			fputc('?', p->out);
		free(tmp);
		return;
	}
	p->len += text_format_string(p->buf + p->len, s ? s : "");
}

const char *event_gc_source_name(uint32_t src)
{
	switch (src) {
	case PM_GC_SRC_USDT:
		return "usdt";
	case PM_GC_SRC_UPROBE:
		return "uprobe";
	}
	return "unknown";
}

static inline void put_cstr(struct event_printer *p, const char *s)
{
	put_mem(p, s, strlen(s));
}

static bool is_realloc(unsigned k)
{
	return k == PM_PY_REALLOC || k == PM_REALLOC;
}

/* Time relative to the start, right-aligned in 16 columns, and a space. */
/* A freed block's size from its pool header (PM_BLOCK_*), when known:
 * " block=32", " block=raw" (malloc's, not pymalloc's). */
static void text_block(struct event_printer *p, const char *label, uint32_t block)
{
	if (block == PM_BLOCK_UNKNOWN)
		return;
	put_cstr(p, label);
	if (block == PM_BLOCK_RAW)
		put_lit(p, "raw");
	else
		put_u64(p, block);
}

/* The same in JSON: "block": 32, or "raw_block": true. */
static void json_block(struct jsonw *w, const char *prefix, uint32_t block)
{
	char key[24];

	if (block == PM_BLOCK_UNKNOWN)
		return;
	snprintf(key, sizeof(key), "%s%sblock", block == PM_BLOCK_RAW ? "raw_" : "", prefix);
	if (block == PM_BLOCK_RAW)
		jsonw_bool_field(w, key, true);
	else
		jsonw_uint_field(w, key, block);
}

static void put_time_column(struct event_printer *p, uint64_t ts)
{
	size_t start = p->len, w;

	if (ts >= p->start_ns) {
		put_seconds(p, ts - p->start_ns);
	} else {
		put_char(p, '-');
		put_seconds(p, p->start_ns - ts);
	}
	w = p->len - start;
	if (w < 16) {
		memmove(p->buf + start + 16 - w, p->buf + start, w);
		memset(p->buf + start, ' ', 16 - w);
		p->len = start + 16;
	}
	put_char(p, ' ');
}

static void print_text(struct event_printer *p, const struct pm_event *ev)
{
	const char *kname = pm_kind_name(ev->kind);

	put_time_column(p, ev->ts_ns);
	put_u64(p, ev->pid);
	put_char(p, '/');
	put_u64(p, ev->tid);
	put_char(p, ' ');
	if (kname) {
		put_cstr(p, kname);
	} else {
		put_lit(p, "kind#");
		put_u64(p, ev->kind);
	}

	switch (ev->kind) {
	PM_CASE_ALLOC_KINDS:
		put_lit(p, " size=");
		put_u64(p, ev->alloc.size);
		put_lit(p, " addr=");
		put_hex(p, ev->alloc.addr);
		if (is_realloc(ev->kind)) {
			put_lit(p, " old_addr=");
			put_hex(p, ev->alloc.old_addr);
			text_block(p, " old_block=", ev->alloc.old_block);
		}
		break;
	case PM_PY_FREE:
	case PM_FREE:
		put_lit(p, " addr=");
		put_hex(p, ev->free.addr);
		text_block(p, " block=", ev->free.block);
		break;
	case PM_PY_DEALLOC:
		put_lit(p, " obj=");
		put_hex(p, ev->dealloc.obj);
		put_lit(p, " type=");
		/* No name could be read: the type's address still tells types apart. */
		if (ev->dealloc.type_name && ev->dealloc.type_name[0])
			put_str(p, ev->dealloc.type_name);
		else
			put_hex(p, ev->dealloc.type);
		break;
	case PM_GC_START:
	case PM_GC_DONE:
		put_lit(p, " gen=");
		put_i64(p, ev->gc.generation);
		if (ev->kind == PM_GC_DONE) {
			put_lit(p, " collected=");
			if (ev->gc.collected >= 0)
				put_i64(p, ev->gc.collected);
			else
				put_char(p, '?');
			put_lit(p, " uncollectable=");
			if (ev->gc.uncollectable >= 0)
				put_i64(p, ev->gc.uncollectable);
			else
				put_char(p, '?');
			put_lit(p, " duration=");
			put_seconds(p, ev->gc.duration_ns);
			put_char(p, 's');
		}
		put_lit(p, " source=");
		put_cstr(p, event_gc_source_name(ev->gc.source));
		break;
	case PM_EXEC:
		put_lit(p, " comm=");
		put_str(p, ev->proc.comm);
		put_lit(p, " path=");
		put_str(p, ev->proc.path);
		put_lit(p, " ppid=");
		put_u64(p, ev->proc.ppid);
		break;
	case PM_EXIT:
		put_lit(p, " comm=");
		put_str(p, ev->proc.comm);
		put_lit(p, " exit_code=");
		put_i64(p, ev->proc.exit_code);
		break;
	case PM_VM:
		put_lit(p, " op=");
		put_cstr(p, pm_vm_op_name(ev->vm.op));
		put_lit(p, " addr=");
		put_hex(p, ev->vm.addr);
		put_lit(p, " len=");
		put_u64(p, ev->vm.len);
		if (ev->vm.op == PM_VM_MREMAP || ev->vm.op == PM_VM_BRK) {
			put_lit(p, " old_addr=");
			put_hex(p, ev->vm.old_addr);
		}
		if (ev->vm.op == PM_VM_MREMAP) {
			put_lit(p, " old_len=");
			put_u64(p, ev->vm.old_len);
		}
		break;
	case PM_RSS:
		put_lit(p, " rss=");
		put_u64(p, ev->rss.rss);
		put_lit(p, " anon=");
		put_u64(p, ev->rss.anon);
		break;
	default:
		break;
	}
	put_char(p, '\n');
}

static void print_jsonl(struct event_printer *p, const struct pm_event *ev)
{
	const char *kname = pm_kind_name(ev->kind);
	struct jsonw *w = &p->jw;

	jsonw_start_object(w);
	jsonw_uint_field(w, "ts_ns", ev->ts_ns);
	jsonw_int_field(w, "t_ns", (int64_t)(ev->ts_ns - p->start_ns));
	jsonw_string_field(w, "kind", kname ? kname : "unknown");
	jsonw_uint_field(w, "pid", ev->pid);
	jsonw_uint_field(w, "tid", ev->tid);
	jsonw_uint_field(w, "cgroup_id", ev->cgroup_id);

	switch (ev->kind) {
	PM_CASE_ALLOC_KINDS:
		jsonw_uint_field(w, "size", ev->alloc.size);
		jsonw_uint_field(w, "addr", ev->alloc.addr);
		if (is_realloc(ev->kind)) {
			jsonw_uint_field(w, "old_addr", ev->alloc.old_addr);
			json_block(w, "old_", ev->alloc.old_block);
		}
		break;
	case PM_PY_FREE:
	case PM_FREE:
		jsonw_uint_field(w, "addr", ev->free.addr);
		json_block(w, "", ev->free.block);
		break;
	case PM_PY_DEALLOC:
		jsonw_uint_field(w, "obj", ev->dealloc.obj);
		jsonw_uint_field(w, "type", ev->dealloc.type);
		jsonw_string_field(w, "type_name", ev->dealloc.type_name);
		break;
	case PM_GC_START:
	case PM_GC_DONE:
		jsonw_int_field(w, "generation", ev->gc.generation);
		if (ev->kind == PM_GC_DONE) {
			jsonw_int_field(w, "collected", ev->gc.collected);
			jsonw_int_field(w, "uncollectable", ev->gc.uncollectable);
			jsonw_uint_field(w, "duration_ns", ev->gc.duration_ns);
		}
		jsonw_string_field(w, "source", event_gc_source_name(ev->gc.source));
		break;
	case PM_EXEC:
	case PM_EXIT:
		jsonw_uint_field(w, "ppid", ev->proc.ppid);
		jsonw_string_field(w, "comm", ev->proc.comm);
		if (ev->kind == PM_EXEC)
			jsonw_string_field(w, "path", ev->proc.path);
		else
			jsonw_int_field(w, "exit_code", ev->proc.exit_code);
		break;
	case PM_VM:
		jsonw_string_field(w, "op", pm_vm_op_name(ev->vm.op));
		jsonw_uint_field(w, "addr", ev->vm.addr);
		jsonw_uint_field(w, "len", ev->vm.len);
		jsonw_uint_field(w, "old_addr", ev->vm.old_addr);
		jsonw_uint_field(w, "old_len", ev->vm.old_len);
		jsonw_uint_field(w, "prot", ev->vm.prot);
		jsonw_uint_field(w, "flags", ev->vm.flags);
		break;
	case PM_RSS:
		jsonw_uint_field(w, "rss", ev->rss.rss);
		jsonw_uint_field(w, "anon", ev->rss.anon);
		break;
	default:
		break;
	}
	jsonw_end_object(w);
	jsonw_end_line(w);
}

static const char *container_state_name(enum pm_container_state st)
{
	switch (st) {
	case PM_CONTAINER_RUNNING:
		return "running";
	case PM_CONTAINER_STOPPED:
		return "stopped";
	}
	return "unknown";
}

/* Containers have no pid or tid: the kind column follows the time. */
static void print_container_text(struct event_printer *p, const struct pm_container *c)
{
	char id[13];

	/* the 12 characters `docker ps` shows are enough to tell them apart */
	snprintf(id, sizeof(id), "%s", c->id ? c->id : "");
	put_time_column(p, c->ts_ns);
	put_lit(p, "container ");
	put_cstr(p, container_state_name(c->state));
	put_lit(p, " cgroup=");
	put_u64(p, c->cgroup_id);
	put_lit(p, " runtime=");
	put_str(p, c->runtime);
	put_lit(p, " id=");
	put_str(p, id);
	put_lit(p, " name=");
	put_str(p, c->name);
	put_lit(p, " image=");
	put_str(p, c->image);
	put_lit(p, " project=");
	put_str(p, c->project);
	put_lit(p, " service=");
	put_str(p, c->service);
	put_char(p, '\n');
}

/*
 * "type" tells the line from event lines; "kind" is there as well so that
 * readers that pick events by kind pass over it.
 */
static void print_container_jsonl(struct event_printer *p, const struct pm_container *c)
{
	struct jsonw *w = &p->jw;

	jsonw_start_object(w);
	jsonw_string_field(w, "type", "container");
	jsonw_string_field(w, "kind", "container");
	jsonw_uint_field(w, "ts_ns", c->ts_ns);
	jsonw_int_field(w, "t_ns", (int64_t)(c->ts_ns - p->start_ns));
	jsonw_string_field(w, "state", container_state_name(c->state));
	jsonw_uint_field(w, "cgroup_id", c->cgroup_id);
	jsonw_string_field(w, "runtime", c->runtime);
	jsonw_string_field(w, "id", c->id);
	jsonw_string_field(w, "name", c->name);
	jsonw_string_field(w, "image", c->image);
	jsonw_string_field(w, "project", c->project);
	jsonw_string_field(w, "service", c->service);
	jsonw_string_field(w, "pod_uid", c->pod_uid ? c->pod_uid : "");
	jsonw_string_field(w, "qos", c->qos ? c->qos : "");
	jsonw_end_object(w);
	jsonw_end_line(w);
}

static struct event_printer *to_printer(struct pm_sink *sink)
{
	return (struct event_printer *)((char *)sink - offsetof(struct event_printer, sink));
}

static int event_printer__record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct event_printer *p = to_printer(sink);

	if (rec->type != PM_REC_EVENT && rec->type != PM_REC_CONTAINER)
		return 0;
	if ((p->len + LINE_ROOM > BUF_SIZE || p->jw.len > BUF_SIZE) && printer_flush(p))
		return p->err;
	if (rec->type == PM_REC_CONTAINER) {
		if (p->fmt == EVENT_FMT_JSONL)
			print_container_jsonl(p, &rec->cont);
		else
			print_container_text(p, &rec->cont);
	} else if (p->fmt == EVENT_FMT_JSONL) {
		print_jsonl(p, &rec->ev);
	} else {
		print_text(p, &rec->ev);
	}
	return p->err;
}

static int event_printer__finish(struct pm_sink *sink)
{
	struct event_printer *p = to_printer(sink);

	printer_flush(p);
	if (fflush(p->out) && !p->err)
		p->err = errno ? -errno : -EIO;
	return p->err;
}

struct event_printer *event_printer__new(FILE *out, enum event_format fmt, uint64_t start_ns)
{
	struct event_printer *p;

	if (fmt != EVENT_FMT_TEXT && fmt != EVENT_FMT_JSONL) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->buf = malloc(BUF_SIZE);
	if (!p->buf) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->out = out;
	p->fmt = fmt;
	p->start_ns = start_ns;
	jsonw_init_mem(&p->jw, false);
	p->sink.record = event_printer__record;
	p->sink.finish = event_printer__finish;
	return p;
}

/* Whatever finish() has not written yet is written here, so nothing is lost
 * when a feed stops on an error before finish(). */
void event_printer__free(struct event_printer *p)
{
	if (!p)
		return;
	printer_flush(p);
	jsonw_free(&p->jw);
	free(p->buf);
	free(p);
}

struct pm_sink *event_printer__sink(struct event_printer *p)
{
	return &p->sink;
}
