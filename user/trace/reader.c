// SPDX-License-Identifier: MIT
/* The trace reader (trace.h; the format is docs/trace-format.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "trace/codec.h"
#include "util/clock.h"

/* ---- reader ---- */

/* Version 4: the timestamp columns of a chunk, and how far they are read. */
struct ts_cols {
	const uint8_t *lo, *mid, *hi;
	uint32_t n, i;
	size_t hi_len, hi_pos;
};

struct reader_type {
	uint64_t addr;
	uint32_t name;
};

#define READER_SCRATCH 6 /* strings in one record, at most (CONTAINER) */

struct trace_reader {
	int fd;
	struct pm_trace_info info;
	uint64_t off; /* file offset of the next chunk header */
	uint64_t delivered;
	int error; /* sticky */
	bool eof;
	bool end_in_data; /* an END record was decoded (checked pass) */
	bool complete;	  /* an END record was delivered */
	char msg[256];

	char **strs; /* [0] is "" and not owned */
	uint32_t nstrs, str_cap;
	uint64_t str_bytes;
	struct reader_type *types;
	uint32_t ntypes, type_cap;

	uint8_t *comp;
	size_t comp_cap;
	uint8_t *raw;
	size_t raw_cap, raw_len, pos, main_end;
	uint32_t left;	     /* records of the current chunk not delivered yet */
	struct ts_cols cols; /* version 4: where the chunk's timestamps are */
	uint64_t chunk_first_ts;
	struct pred pred;
	z_stream zs;

	/* inline strings (only written once the string table is full) */
	char *scratch[READER_SCRATCH];
	size_t scratch_cap[READER_SCRATCH];
	unsigned nscratch;
};

static char empty_string[1];

/*
 * Decoding runs twice over a chunk: a checking pass that also adds the
 * chunk's string and type definitions to the tables, then the delivering
 * pass. So a chunk is delivered whole or not at all.
 */
struct dec {
	struct trace_reader *r;
	const uint8_t *p;
	size_t len, pos;
	bool define;
	const char *why;
	struct ts_cols *cols; /* version 4, else NULL */
};

static bool dec__fail(struct dec *d, const char *why)
{
	d->why = why;
	return false;
}

static bool dec__byte(struct dec *d, uint8_t *b)
{
	if (d->pos >= d->len)
		return dec__fail(d, "record runs past the chunk end");
	*b = d->p[d->pos++];
	return true;
}

/* Most varints of a trace are one byte: that case inline, the rest in
 * pm_varint_get (replay spent 14% of its time in the call). */
static inline size_t varint_get(const uint8_t *buf, size_t len, uint64_t *v)
{
	if (len && buf[0] < 0x80) {
		*v = buf[0];
		return 1;
	}
	return pm_varint_get(buf, len, v);
}

static bool dec__u64(struct dec *d, uint64_t *v)
{
	size_t n = varint_get(d->p + d->pos, d->len - d->pos, v);

	if (!n)
		return dec__fail(d, "bad varint");
	d->pos += n;
	return true;
}

static bool dec__u32(struct dec *d, uint32_t *v)
{
	uint64_t x;

	if (!dec__u64(d, &x))
		return false;
	if (x > UINT32_MAX)
		return dec__fail(d, "32-bit value out of range");
	*v = (uint32_t)x;
	return true;
}

static bool dec__s64(struct dec *d, int64_t *v)
{
	uint64_t x;

	if (!dec__u64(d, &x))
		return false;
	*v = pm_unzigzag(x);
	return true;
}

static bool dec__s32(struct dec *d, int32_t *v)
{
	int64_t x;

	if (!dec__s64(d, &x))
		return false;
	if (x < INT32_MIN || x > INT32_MAX)
		return dec__fail(d, "32-bit value out of range");
	*v = (int32_t)x;
	return true;
}

static bool dec__ts(struct dec *d, uint64_t *ts)
{
	struct ts_cols *c = d->cols;
	int64_t delta;

	if (c) {
		uint64_t hi;
		size_t n;

		if (c->i >= c->n)
			return dec__fail(d, "more timestamps than the chunk holds");
		n = varint_get(c->hi + c->hi_pos, c->hi_len - c->hi_pos, &hi);
		if (!n || hi >> 48)
			return dec__fail(d, "bad timestamp column");
		c->hi_pos += n;
		delta = pm_unzigzag(hi << 16 | (uint64_t)c->mid[c->i] << 8 | c->lo[c->i]);
		c->i++;
	} else if (!dec__s64(d, &delta)) {
		return false;
	}
	*ts = d->r->pred.ts + (uint64_t)delta;
	d->r->pred.ts = *ts;
	return true;
}

/* Bytes of a string: bounded, present, and free of NULs (C strings). */
static bool dec__str_bytes(struct dec *d, uint64_t len, const uint8_t **p)
{
	if (len > PM_MAX_STRING)
		return dec__fail(d, "string too long");
	if (len > d->len - d->pos)
		return dec__fail(d, "string runs past the chunk end");
	if (memchr(d->p + d->pos, 0, len))
		return dec__fail(d, "NUL inside a string");
	*p = d->p + d->pos;
	d->pos += len;
	return true;
}

static bool dec__str(struct dec *d, const char **out)
{
	struct trace_reader *r = d->r;
	const uint8_t *p;
	uint64_t x, len;
	unsigned i;

	if (!dec__u64(d, &x))
		return false;
	if (!(x & 1)) {
		if (x >> 1 >= r->nstrs)
			return dec__fail(d, "undefined string id");
		*out = r->strs[x >> 1];
		return true;
	}
	len = x >> 1;
	if (!dec__str_bytes(d, len, &p))
		return false;
	if (r->nscratch >= READER_SCRATCH)
		return dec__fail(d, "too many inline strings");
	i = r->nscratch++;
	if (r->scratch_cap[i] < len + 1) {
		char *s = realloc(r->scratch[i], len + 1);

		if (!s)
			return dec__fail(d, "out of memory");
		r->scratch[i] = s;
		r->scratch_cap[i] = len + 1;
	}
	memcpy(r->scratch[i], p, len);
	r->scratch[i][len] = 0;
	*out = r->scratch[i];
	return true;
}

static bool dec__string_def(struct dec *d)
{
	struct trace_reader *r = d->r;
	const uint8_t *p;
	uint64_t len;
	char *s;

	if (!dec__u64(d, &len))
		return false;
	if (!len)
		return dec__fail(d, "empty string definition");
	if (!dec__str_bytes(d, len, &p))
		return false;
	if (!d->define)
		return true;
	if (r->nstrs >= PM_MAX_STRINGS || r->str_bytes + len > PM_MAX_STRING_BYTES)
		return dec__fail(d, "string table too large");
	if (r->nstrs == r->str_cap) {
		uint32_t cap = r->str_cap * 2;
		char **t = realloc(r->strs, cap * sizeof(*t));

		if (!t)
			return dec__fail(d, "out of memory");
		r->strs = t;
		r->str_cap = cap;
	}
	s = malloc(len + 1);
	if (!s)
		return dec__fail(d, "out of memory");
	memcpy(s, p, len);
	s[len] = 0;
	r->strs[r->nstrs++] = s;
	r->str_bytes += len;
	return true;
}

static bool dec__type_def(struct dec *d)
{
	struct trace_reader *r = d->r;
	uint64_t addr, name;

	if (!dec__u64(d, &addr) || !dec__u64(d, &name))
		return false;
	if ((name & 1) || name >> 1 >= r->nstrs)
		return dec__fail(d, "type name is not a defined string");
	if (!d->define)
		return true;
	if (r->ntypes >= PM_MAX_TYPES)
		return dec__fail(d, "type table too large");
	if (r->ntypes == r->type_cap) {
		uint32_t cap = r->type_cap ? r->type_cap * 2 : 64;
		struct reader_type *t = realloc(r->types, cap * sizeof(*t));

		if (!t)
			return dec__fail(d, "out of memory");
		r->types = t;
		r->type_cap = cap;
	}
	r->types[r->ntypes++] = (struct reader_type){addr, (uint32_t)(name >> 1)};
	return true;
}

static bool dec__addr(struct dec *d, uint64_t *base, uint64_t *addr)
{
	int64_t delta;

	if (!dec__s64(d, &delta))
		return false;
	*addr = *base + (uint64_t)delta;
	*base = *addr;
	return true;
}

/* A version-4 free's or dealloc's address: recency index or delta. */
static bool dec__block(struct dec *d, uint8_t tag, unsigned fam, uint64_t *addr)
{
	struct pred *pr = &d->r->pred;
	const struct recent *e;
	uint64_t idx;
	int64_t delta;

	if (!(tag & PM_EV_RECENT)) {
		if (!dec__s64(d, &delta))
			return false;
		*addr = pr->addr[fam] + (uint64_t)delta;
		return true;
	}
	if (!dec__u64(d, &idx))
		return false;
	e = pred__recent(pr, fam, idx);
	if (!e)
		return dec__fail(d, "recent-address index names an empty slot");
	pr->fam[fam].hit = *e;
	*addr = e->addr;
	return true;
}

static bool dec__event(struct dec *d, uint8_t tag, struct pm_event *ev)
{
	struct pred *pr = &d->r->pred;
	unsigned kind = tag & PM_TAG_CODE_MASK;
	unsigned fam = addr_family(kind);
	uint64_t *base = &pr->addr[fam];
	bool v4 = d->r->info.version >= 4;
	int64_t delta;

	if (kind >= PM_KIND_MAX)
		return dec__fail(d, "unknown event kind");
	/* versions 1 and 2 had no footprint kinds: there the tag is damage */
	if (pm_kind_is_footprint(kind) && d->r->info.version < 3)
		return dec__fail(d, "unknown event kind");
	if ((tag & PM_EV_NO_OLD_ADDR) && !pm_kind_is_alloc(kind) &&
	    !(v4 && (kind == PM_PY_FREE || kind == PM_FREE || kind == PM_PY_DEALLOC)))
		return dec__fail(d, "flag not valid for this kind");
	ev->kind = (enum pm_kind)kind;
	if (!dec__ts(d, &ev->ts_ns))
		return false;
	/*
	 * Built in locals and stored once: reading ev->pid and ev->tid back
	 * right after storing them compiled to one 8-byte load of two 4-byte
	 * stores, which the CPU cannot forward (40% of replay's time).
	 */
	uint32_t pid = pr->pid, tid = pr->tid;
	uint64_t cgroup = pr->cgroup;

	if (!(tag & PM_EV_SAME_PID) && !dec__u32(d, &pid))
		return false;
	if (!(tag & PM_EV_SAME_TID)) {
		if (!dec__s64(d, &delta))
			return false;
		if (delta < -(int64_t)pid || delta > (int64_t)UINT32_MAX - pid)
			return dec__fail(d, "tid out of range");
		tid = (uint32_t)((int64_t)pid + delta);
	}
	if (!(tag & PM_EV_SAME_CGROUP) && !dec__u64(d, &cgroup))
		return false;
	ev->pid = pr->pid = pid;
	ev->tid = pr->tid = tid;
	ev->cgroup_id = pr->cgroup = cgroup;

	switch (kind) {
	PM_CASE_ALLOC_KINDS:
		if (!dec__u64(d, &ev->alloc.size))
			return false;
		if (v4) {
			if (!dec__s64(d, &delta))
				return false;
			ev->alloc.addr =
			    pred__alloc_base(pr, fam, ev->alloc.size) + (uint64_t)delta;
			pred__alloc(pr, fam, ev->alloc.addr, ev->alloc.size);
		} else if (!dec__addr(d, base, &ev->alloc.addr)) {
			return false;
		}
		if (!(tag & PM_EV_NO_OLD_ADDR)) {
			if (!dec__s64(d, &delta))
				return false;
			ev->alloc.old_addr = ev->alloc.addr + (uint64_t)delta;
			if (!ev->alloc.old_addr)
				return dec__fail(d, "zero old_addr without its flag");
		}
		return true;
	case PM_PY_FREE:
	case PM_FREE:
		if (!v4)
			return dec__addr(d, base, &ev->free.addr);
		if (!dec__block(d, tag, fam, &ev->free.addr))
			return false;
		pred__free(pr, fam, ev->free.addr);
		return true;
	case PM_PY_DEALLOC: {
		uint64_t ref;

		if (v4 ? !dec__block(d, tag, fam, &ev->dealloc.obj)
		       : !dec__addr(d, base, &ev->dealloc.obj))
			return false;
		*base = ev->dealloc.obj;
		if (!dec__u64(d, &ref))
			return false;
		if (!ref)
			return dec__u64(d, &ev->dealloc.type) &&
			       dec__str(d, &ev->dealloc.type_name);
		if (ref > d->r->ntypes)
			return dec__fail(d, "undefined type id");
		ev->dealloc.type = d->r->types[ref - 1].addr;
		ev->dealloc.type_name = d->r->strs[d->r->types[ref - 1].name];
		return true;
	}
	case PM_GC_START:
	case PM_GC_DONE:
		ev->gc.uncollectable = -1; /* versions 1-5 do not say */
		return dec__s32(d, &ev->gc.generation) && dec__u32(d, &ev->gc.source) &&
		       dec__s64(d, &ev->gc.collected) && dec__u64(d, &ev->gc.duration_ns) &&
		       (d->r->info.version < 6 || dec__s64(d, &ev->gc.uncollectable));
	case PM_EXEC:
	case PM_EXIT:
		return dec__u32(d, &ev->proc.ppid) && dec__s32(d, &ev->proc.exit_code) &&
		       dec__str(d, &ev->proc.comm) && dec__str(d, &ev->proc.path);
	case PM_VM:
		return dec__u32(d, &ev->vm.op) && dec__u32(d, &ev->vm.prot) &&
		       dec__u64(d, &ev->vm.flags) && dec__u64(d, &ev->vm.addr) &&
		       dec__u64(d, &ev->vm.len) && dec__u64(d, &ev->vm.old_addr) &&
		       dec__u64(d, &ev->vm.old_len);
	case PM_RSS:
		return dec__u64(d, &ev->rss.rss) && dec__u64(d, &ev->rss.anon);
	}
	return dec__fail(d, "unknown event kind");
}

/*
 * Version 5: a block annotation and the py_free or py_realloc after it are
 * decoded as one record, so no annotation is ever pending across calls,
 * chunks or errors. Stores the block in *rec and the event's tag in *tag.
 * Out of line: inlined into dec__record, it cost every event ~3
 * instructions of register shuffling (callgrind, 5 M events).
 */
static __attribute__((noinline)) bool dec__block_note(struct dec *d, struct pm_record *rec,
						      uint8_t *tag)
{
	uint32_t block;
	unsigned kind;

	if (d->r->info.version < 5)
		return dec__fail(d, "unknown record type");
	if (!dec__u32(d, &block))
		return false;
	/* written as no annotation: one encoding per value */
	if (block == PM_BLOCK_UNKNOWN)
		return dec__fail(d, "block annotation of 0");
	if (d->pos >= d->len)
		return dec__fail(d, "block annotation not followed by a py_free or py_realloc");
	*tag = d->p[d->pos];
	kind = *tag & PM_TAG_CODE_MASK;
	if (kind == PM_PY_FREE)
		rec->ev.free.block = block;
	else if (kind == PM_PY_REALLOC)
		rec->ev.alloc.old_block = block;
	else
		return dec__fail(d, "block annotation not followed by a py_free or py_realloc");
	d->pos++;
	return true;
}

/* Returns 1 for a record, 0 for a table definition, -1 on error (d->why). */
static int dec__record(struct dec *d, struct pm_record *rec)
{
	uint32_t status = 0, kind = 0, state = 0;
	uint8_t tag;
	bool ok;

	d->r->nscratch = 0;
	/*
	 * Not memset: for this 96-byte record GCC emits `rep stos`, whose
	 * start-up cost and the stalled loads of the fields just stored took
	 * half of replay's time (perf, 24.5M events). Copying a zero record
	 * compiles to a few vector stores.
	 */
	static const struct pm_record zero;
	*rec = zero;
	if (!dec__byte(d, &tag))
		return -1;
	if (tag & PM_TAG_CODE_MASK) {
	event:
		rec->type = PM_REC_EVENT;
		return dec__event(d, tag, &rec->ev) ? 1 : -1;
	}
	switch (tag) {
	case PM_TAG_BLOCK:
		/* here, not ahead of the test above: events without one pay nothing */
		if (!dec__block_note(d, rec, &tag))
			return -1;
		goto event;
	case PM_TAG_STRING:
		return dec__string_def(d) ? 0 : -1;
	case PM_TAG_TYPE:
		return dec__type_def(d) ? 0 : -1;
	case PM_TAG_PROCESS:
		rec->type = PM_REC_PROCESS;
		ok = dec__ts(d, &rec->proc.ts_ns) && dec__u64(d, &rec->proc.cgroup_id) &&
		     dec__u32(d, &rec->proc.pid) && dec__u32(d, &rec->proc.ppid) &&
		     dec__str(d, &rec->proc.comm) && dec__str(d, &rec->proc.exe) &&
		     dec__str(d, &rec->proc.python) && dec__str(d, &rec->proc.python_version);
		/* version 7 says how pymac came to trace it; older ones do not */
		rec->proc.origin = PM_ORIGIN_UNKNOWN;
		ok = ok && (d->r->info.version < 7 ||
			    (dec__u32(d, &rec->proc.origin) && rec->proc.origin <= PM_ORIGIN_MAX));
		break;
	case PM_TAG_SOURCE:
		rec->type = PM_REC_SOURCE;
		ok = dec__ts(d, &rec->src.ts_ns) && dec__u32(d, &rec->src.pid) &&
		     dec__str(d, &rec->src.source) && dec__u32(d, &status) &&
		     dec__str(d, &rec->src.detail);
		if (ok && (status < PM_SRC_FULL || status > PM_SRC_OFF))
			ok = dec__fail(d, "unknown source status");
		rec->src.status = (enum pm_source_status)status;
		break;
	case PM_TAG_LOST:
		rec->type = PM_REC_LOST;
		ok = dec__ts(d, &rec->lost.ts_ns) && dec__u32(d, &rec->lost.pid) &&
		     dec__u32(d, &kind) && dec__u64(d, &rec->lost.count);
		if (ok && kind >= PM_KIND_MAX)
			ok = dec__fail(d, "unknown event kind");
		rec->lost.kind = (enum pm_kind)kind;
		break;
	case PM_TAG_META:
		rec->type = PM_REC_META;
		ok = dec__str(d, &rec->meta.key) && dec__str(d, &rec->meta.value);
		break;
	case PM_TAG_END:
		rec->type = PM_REC_END;
		ok = dec__ts(d, &rec->end.ts_ns) && dec__u64(d, &rec->end.events);
		break;
	case PM_TAG_CONTAINER:
		/* version 1 had no such record: there the tag is damage */
		if (d->r->info.version < 2) {
			dec__fail(d, "unknown record type");
			return -1;
		}
		rec->type = PM_REC_CONTAINER;
		ok = dec__ts(d, &rec->cont.ts_ns) && dec__u64(d, &rec->cont.cgroup_id) &&
		     dec__u32(d, &state) && dec__str(d, &rec->cont.runtime) &&
		     dec__str(d, &rec->cont.id) && dec__str(d, &rec->cont.name) &&
		     dec__str(d, &rec->cont.image) && dec__str(d, &rec->cont.project) &&
		     dec__str(d, &rec->cont.service);
		/* version 8 adds the pod */
		rec->cont.pod_uid = rec->cont.qos = "";
		if (ok && d->r->info.version >= 8)
			ok = dec__str(d, &rec->cont.pod_uid) && dec__str(d, &rec->cont.qos);
		if (ok && state != PM_CONTAINER_RUNNING && state != PM_CONTAINER_STOPPED)
			ok = dec__fail(d, "unknown container state");
		rec->cont.state = (enum pm_container_state)state;
		break;
	default:
		dec__fail(d, "unknown record type");
		return -1;
	}
	return ok ? 1 : -1;
}

static int reader__fail(struct trace_reader *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reader__fail(struct trace_reader *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->error = err;
	return err;
}

static int reader__truncated(struct trace_reader *r, uint64_t at)
{
	return reader__fail(r, -EIO,
			    "truncated chunk at offset %llu (trace was not closed cleanly; %llu "
			    "records read)",
			    (unsigned long long)at, (unsigned long long)r->delivered);
}

static int reader__corrupt(struct trace_reader *r, uint64_t at, const char *why)
{
	return reader__fail(r, -EBADMSG, "corrupt chunk at offset %llu (%s; %llu records read)",
			    (unsigned long long)at, why, (unsigned long long)r->delivered);
}

/*
 * A version-4 payload: uvar records_len, uvar count, the records, then the
 * count low bytes, second bytes and upper-part varints of the timestamps.
 */
static int reader__split_chunk(struct trace_reader *r, uint64_t at, size_t *start, size_t *end)
{
	struct ts_cols *c = &r->cols;
	uint64_t main_len, nts;
	size_t n1, n2, rest;

	memset(c, 0, sizeof(*c));
	*start = 0;
	*end = r->raw_len;
	if (r->info.version < 4)
		return 0;
	n1 = pm_varint_get(r->raw, r->raw_len, &main_len);
	n2 = n1 ? pm_varint_get(r->raw + n1, r->raw_len - n1, &nts) : 0;
	if (!n2)
		return reader__corrupt(r, at, "bad varint in the chunk's section lengths");
	rest = r->raw_len - n1 - n2;
	if (main_len > rest || nts > (rest - main_len) / 2)
		return reader__corrupt(r, at, "chunk section lengths out of range");
	*start = n1 + n2;
	*end = *start + main_len;
	c->n = (uint32_t)nts;
	c->lo = r->raw + *end;
	c->mid = c->lo + nts;
	c->hi = c->mid + nts;
	c->hi_len = rest - main_len - 2 * nts;
	return 0;
}

static int reader__check_chunk(struct trace_reader *r, uint64_t at, uint32_t nrec)
{
	struct dec d = {.r = r, .p = r->raw, .len = r->raw_len, .define = true};
	struct pm_record rec;
	uint32_t n = 0;
	char why[128];
	size_t start, end;
	int err;

	err = reader__split_chunk(r, at, &start, &end);
	if (err)
		return err;
	d.pos = start;
	d.len = end;
	if (r->info.version >= 4)
		d.cols = &r->cols;
	pred__reset(&r->pred, r->chunk_first_ts);
	while (d.pos < d.len) {
		int ret = dec__record(&d, &rec);

		if (ret < 0) {
			snprintf(why, sizeof(why), "%s in record %u", d.why, n + 1);
			return reader__corrupt(r, at, why);
		}
		if (!ret)
			continue;
		if (r->end_in_data)
			return reader__corrupt(r, at, "record after END");
		if (rec.type == PM_REC_END)
			r->end_in_data = true;
		n++;
	}
	if (n != nrec)
		return reader__corrupt(r, at, "record count does not match the chunk header");
	if (d.cols && (r->cols.i != r->cols.n || r->cols.hi_pos != r->cols.hi_len))
		return reader__corrupt(r, at, "timestamp columns do not match the records");
	pred__reset(&r->pred, r->chunk_first_ts);
	r->cols.i = 0;
	r->cols.hi_pos = 0;
	r->main_end = end;
	r->pos = start;
	r->left = nrec;
	return 1;
}

static bool grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (need <= *cap)
		return true;
	p = realloc(*buf, need);
	if (!p)
		return false;
	*buf = p;
	*cap = need;
	return true;
}

/* Returns 1 when a chunk was loaded, 0 at end of file, or -errno. */
static int reader__load_chunk(struct trace_reader *r)
{
	uint8_t h[PM_CHUNK_HDR_LEN];
	uint64_t at = r->off;
	uint32_t raw_len, comp_len, nrec;
	ssize_t n;
	int ret;

	n = trace_read_full(r->fd, h, sizeof(h));
	if (n < 0)
		return reader__fail(r, (int)n, "read error at offset %llu: %s",
				    (unsigned long long)at, strerror((int)-n));
	if (n == 0) {
		r->eof = true;
		if (!r->end_in_data)
			snprintf(r->msg, sizeof(r->msg),
				 "trace was not closed cleanly (no END record; %llu records read)",
				 (unsigned long long)r->delivered);
		return 0;
	}
	if (r->end_in_data)
		return reader__corrupt(r, at, "data after the END record");
	if ((size_t)n < sizeof(h))
		return reader__truncated(r, at);
	if (le32_get(h) != PM_CHUNK_MAGIC)
		return reader__corrupt(r, at, "bad chunk magic");
	if (le32_get(h + PM_CHUNK_HDR_CRC_AT) != crc32_of(h, PM_CHUNK_HDR_CRC_AT))
		return reader__corrupt(r, at, "chunk header CRC mismatch");
	raw_len = le32_get(h + 4);
	comp_len = le32_get(h + 8);
	nrec = le32_get(h + 12);
	if (!raw_len || raw_len > PM_CHUNK_MAX_RAW || !comp_len ||
	    comp_len > compressBound(raw_len) || !nrec || nrec > raw_len)
		return reader__corrupt(r, at, "chunk lengths out of range");
	if (!grow(&r->comp, &r->comp_cap, comp_len) || !grow(&r->raw, &r->raw_cap, raw_len))
		return reader__fail(r, -ENOMEM, "out of memory reading chunk at offset %llu",
				    (unsigned long long)at);
	n = trace_read_full(r->fd, r->comp, comp_len);
	if (n < 0)
		return reader__fail(r, (int)n, "read error at offset %llu: %s",
				    (unsigned long long)at, strerror((int)-n));
	if ((size_t)n < comp_len)
		return reader__truncated(r, at);
	if (le32_get(h + 24) != crc32_of(r->comp, comp_len))
		return reader__corrupt(r, at, "data CRC mismatch");

	if (inflateReset(&r->zs) != Z_OK)
		return reader__corrupt(r, at, "inflate state");
	r->zs.next_in = r->comp;
	r->zs.avail_in = comp_len;
	r->zs.next_out = r->raw;
	r->zs.avail_out = raw_len;
	ret = inflate(&r->zs, Z_FINISH);
	if (ret != Z_STREAM_END || r->zs.avail_in || r->zs.avail_out)
		return reader__corrupt(r, at, "bad compressed data");
	r->raw_len = raw_len;
	r->chunk_first_ts = le64_get(h + 16);
	r->off = at + PM_CHUNK_HDR_LEN + comp_len;
	return reader__check_chunk(r, at, nrec);
}

int trace_reader__next(struct trace_reader *r, struct pm_record *rec)
{
	for (;;) {
		struct dec d;
		int ret;

		if (r->error)
			return r->error;
		if (!r->left) {
			if (r->eof)
				return 0;
			ret = reader__load_chunk(r);
			if (ret <= 0)
				return ret;
			continue;
		}
		d = (struct dec){.r = r, .p = r->raw, .len = r->main_end, .pos = r->pos};
		if (r->info.version >= 4)
			d.cols = &r->cols;
		ret = dec__record(&d, rec);
		r->pos = d.pos;
		if (ret < 0) /* the checking pass accepted it: cannot happen */
			return reader__corrupt(r, r->off, d.why);
		if (!ret)
			continue;
		r->left--;
		r->delivered++;
		if (rec->type == PM_REC_END)
			r->complete = true;
		return 1;
	}
}

static void open_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void open_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct trace_reader *trace_reader__open(const char *path, char *err, size_t errlen)
{
	uint8_t h[PM_TRACE_HDR_LEN];
	struct trace_reader *r;
	uint32_t version;
	ssize_t n;
	int e;

	r = calloc(1, sizeof(*r));
	if (!r) {
		open_error(err, errlen, "out of memory");
		return NULL;
	}
	r->fd = -1;
	r->str_cap = 256;
	r->strs = calloc(r->str_cap, sizeof(*r->strs));
	if (!r->strs || inflateInit(&r->zs) != Z_OK) {
		free(r->strs);
		free(r);
		open_error(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->strs[0] = empty_string;
	r->nstrs = 1;

	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		e = errno;
		open_error(err, errlen, "cannot open %s: %s", path, strerror(e));
		goto fail;
	}
	n = trace_read_full(r->fd, h, sizeof(h));
	if (n < 0) {
		e = (int)-n;
		open_error(err, errlen, "cannot read %s: %s", path, strerror(e));
		goto fail;
	}
	if (n == 0) {
		e = EINVAL;
		open_error(err, errlen, "not a pymac trace (empty file)");
		goto fail;
	}
	if (memcmp(h, PM_TRACE_MAGIC, n < PM_TRACE_MAGIC_LEN ? (size_t)n : PM_TRACE_MAGIC_LEN)) {
		e = EINVAL;
		open_error(err, errlen, "not a pymac trace (bad magic)");
		goto fail;
	}
	if (n < 12) {
		e = EIO;
		open_error(err, errlen, "truncated trace header (%zd of %d bytes)", n,
			   PM_TRACE_HDR_LEN);
		goto fail;
	}
	/* The version comes before anything else that may change with it. */
	version = le32_get(h + 8);
	if (version > PM_TRACE_VERSION) {
		e = ENOTSUP;
		open_error(err, errlen, "trace version %u is newer than this pymac supports (%d)",
			   version, PM_TRACE_VERSION);
		goto fail;
	}
	if (n < PM_TRACE_HDR_LEN) {
		e = EIO;
		open_error(err, errlen, "truncated trace header (%zd of %d bytes)", n,
			   PM_TRACE_HDR_LEN);
		goto fail;
	}
	if (!version || le32_get(h + 12) != PM_TRACE_HDR_LEN || le32_get(h + 32) ||
	    le32_get(h + PM_TRACE_HDR_CRC_AT) != crc32_of(h, PM_TRACE_HDR_CRC_AT)) {
		e = EBADMSG;
		open_error(err, errlen, "corrupt trace header");
		goto fail;
	}
	r->info.version = version;
	r->info.start_ns = le64_get(h + 16);
	r->info.start_realtime_ns = le64_get(h + 24);
	r->off = PM_TRACE_HDR_LEN;
	return r;

fail:
	trace_reader__close(r);
	errno = e;
	return NULL;
}

const struct pm_trace_info *trace_reader__info(const struct trace_reader *r)
{
	return &r->info;
}

const char *trace_reader__error(const struct trace_reader *r)
{
	return r->msg[0] ? r->msg : NULL;
}

bool trace_reader__complete(const struct trace_reader *r)
{
	return r->complete;
}

void trace_reader__close(struct trace_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	for (uint32_t i = 1; i < r->nstrs; i++)
		free(r->strs[i]);
	free(r->strs);
	free(r->types);
	free(r->comp);
	free(r->raw);
	for (int i = 0; i < READER_SCRATCH; i++)
		free(r->scratch[i]);
	inflateEnd(&r->zs);
	free(r);
}
