// SPDX-License-Identifier: MIT
/* The trace writer (trace.h; the format is docs/trace-format.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "trace/chunk.h"
#include "trace/codec.h"
#include "util/clock.h"
#include "util/outfile.h"

/* ---- writer ---- */

#define WRITER_MAP_BITS 12
#define WRITER_MAP_SIZE (1u << WRITER_MAP_BITS)

static uint32_t addr_hash(uint64_t addr)
{
	return (uint32_t)(((addr >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - WRITER_MAP_BITS));
}

struct str_slot {
	char *s; /* NULL: free slot */
	uint32_t len;
	uint32_t id;
	uint64_t hash;
};

struct type_slot {
	uint64_t addr;
	uint32_t name_id;
	uint32_t ref; /* type id + 1; 0: free slot */
};

struct trace_writer {
	struct pm_sink sink;
	int fd;
	int err; /* sticky: after a failed write nothing more is written */
	bool regular;
	bool hdr_written; /* info may change until then (trace_writer__set_start) */
	struct pm_trace_info info;
	uint64_t file_bytes; /* ends at a complete chunk */
	uint64_t raw_bytes;
	uint64_t records;

	/* the open chunk: encoded records not yet compressed */
	uint8_t *buf;
	size_t len, cap;
	uint32_t chunk_records;
	bool chunk_has_ts;
	uint64_t chunk_first_ts;
	uint64_t chunk_born_ns;
	/* version 4 keeps the chunk's timestamps in their own columns */
	uint8_t *ts_lo, *ts_mid, *ts_hi;
	uint32_t nts, ts_cap;
	size_t hi_len, hi_cap;
	struct pred pred;
	/* addr -> allocation number in the chunk, to find recency indexes;
	 * stale entries are caught by checking the ring (no reset needed) */
	struct {
		uint64_t addr;
		uint64_t seq;
	} recent_map[2][WRITER_MAP_SIZE];

	struct chunk_packer packer;

	struct str_slot *strs;
	uint32_t str_cap; /* power of two */
	uint32_t nstrs;	  /* next id; 0 is the empty string */
	uint64_t str_bytes;

	struct type_slot *types;
	uint32_t type_cap;
	uint32_t ntypes;
};

/* A string as it will be encoded: table id, or inline bytes. */
struct str_ref {
	uint64_t code; /* id << 1, or len << 1 | 1 for inline */
	const char *s;
	size_t len;
};

static int writer__reserve(struct trace_writer *w, size_t more)
{
	size_t cap = w->cap ? w->cap : PM_CHUNK_TARGET + 4096;
	uint8_t *p;

	if (w->len + more <= w->cap)
		return 0;
	while (cap < w->len + more)
		cap *= 2;
	p = realloc(w->buf, cap);
	if (!p)
		return -ENOMEM;
	w->buf = p;
	w->cap = cap;
	return 0;
}

/* Callers reserve room first: a record's size is bounded before encoding. */
static void put_u64(struct trace_writer *w, uint64_t v)
{
	w->len += pm_varint_put(w->buf + w->len, v);
}

static void put_s64(struct trace_writer *w, int64_t v)
{
	put_u64(w, pm_zigzag(v));
}

static void put_byte(struct trace_writer *w, uint8_t b)
{
	w->buf[w->len++] = b;
}

static void put_bytes(struct trace_writer *w, const void *p, size_t len)
{
	memcpy(w->buf + w->len, p, len);
	w->len += len;
}

/* Room for one more timestamp in the columns. */
static int writer__reserve_ts(struct trace_writer *w)
{
	if (w->nts == w->ts_cap) {
		uint32_t cap = w->ts_cap ? w->ts_cap * 2 : 16384;
		uint8_t *lo = realloc(w->ts_lo, cap), *mid;

		if (!lo)
			return -ENOMEM;
		w->ts_lo = lo;
		mid = realloc(w->ts_mid, cap);
		if (!mid)
			return -ENOMEM;
		w->ts_mid = mid;
		w->ts_cap = cap;
	}
	if (w->hi_len + 10 > w->hi_cap) {
		size_t cap = w->hi_cap ? w->hi_cap * 2 : 16384;
		uint8_t *hi = realloc(w->ts_hi, cap);

		if (!hi)
			return -ENOMEM;
		w->ts_hi = hi;
		w->hi_cap = cap;
	}
	return 0;
}

/*
 * Timestamp deltas are noise in their low bits. Interleaved with the rest
 * they spoil zlib's byte statistics for everything; in columns of their own
 * (low byte, second byte, the rest) each column compresses on its own terms.
 */
static void put_ts(struct trace_writer *w, uint64_t ts)
{
	uint64_t z;

	if (!w->chunk_has_ts) {
		w->chunk_has_ts = true;
		w->chunk_first_ts = ts;
		w->pred.ts = ts;
	}
	z = pm_zigzag((int64_t)(ts - w->pred.ts));
	w->pred.ts = ts;
	w->ts_lo[w->nts] = (uint8_t)z;
	w->ts_mid[w->nts++] = (uint8_t)(z >> 8);
	w->hi_len += pm_varint_put(w->ts_hi + w->hi_len, z >> 16);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* The payload's size so far: prefix, records and timestamp columns. */
static size_t writer__chunk_len(const struct trace_writer *w)
{
	return varint_len(w->len) + varint_len(w->nts) + w->len + 2 * (size_t)w->nts + w->hi_len;
}

static void put_str(struct trace_writer *w, const struct str_ref *ref)
{
	put_u64(w, ref->code);
	if (ref->code & 1)
		put_bytes(w, ref->s, ref->len);
}

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static bool writer__grow_strs(struct trace_writer *w)
{
	uint32_t cap = w->str_cap ? w->str_cap * 2 : 1024;
	struct str_slot *t = calloc(cap, sizeof(*t));

	if (!t)
		return false;
	for (uint32_t i = 0; i < w->str_cap; i++) {
		struct str_slot *e = &w->strs[i];
		uint32_t j;

		if (!e->s)
			continue;
		for (j = (uint32_t)e->hash & (cap - 1); t[j].s; j = (j + 1) & (cap - 1))
			;
		t[j] = *e;
	}
	free(w->strs);
	w->strs = t;
	w->str_cap = cap;
	return true;
}

/*
 * Resolve s to a table id, writing its definition into the chunk when it is
 * new. The definition goes in front of the record that uses it, in the same
 * chunk, so any prefix of complete chunks holds every string it refers to.
 * When the table is full (or memory is short) the string goes inline.
 */
static void writer__str(struct trace_writer *w, const char *s, struct str_ref *ref)
{
	size_t len = s ? strnlen(s, PM_MAX_STRING) : 0;
	uint64_t h;
	uint32_t i;
	char *copy;

	ref->s = s;
	ref->len = len;
	if (!len) {
		ref->code = 0;
		return;
	}
	h = hash_bytes(s, len);
	if (w->str_cap) {
		for (i = (uint32_t)h & (w->str_cap - 1); w->strs[i].s;
		     i = (i + 1) & (w->str_cap - 1)) {
			struct str_slot *e = &w->strs[i];

			if (e->hash == h && e->len == len && !memcmp(e->s, s, len)) {
				ref->code = (uint64_t)e->id << 1;
				return;
			}
		}
	}
	if (w->nstrs >= trace__writer_max_strings || w->str_bytes + len > PM_MAX_STRING_BYTES)
		goto inline_str;
	if ((uint64_t)(w->nstrs + 1) * 2 > w->str_cap && !writer__grow_strs(w))
		goto inline_str;
	copy = malloc(len);
	if (!copy)
		goto inline_str;
	memcpy(copy, s, len);
	for (i = (uint32_t)h & (w->str_cap - 1); w->strs[i].s; i = (i + 1) & (w->str_cap - 1))
		;
	w->strs[i] = (struct str_slot){.s = copy, .len = (uint32_t)len, .id = w->nstrs, .hash = h};
	w->str_bytes += len;
	ref->code = (uint64_t)w->nstrs++ << 1;
	put_byte(w, PM_TAG_STRING);
	put_u64(w, len);
	put_bytes(w, s, len);
	return;
inline_str:
	ref->code = (uint64_t)len << 1 | 1;
}

static uint32_t type_hash(uint64_t addr, uint32_t name_id)
{
	uint64_t h = (addr ^ ((uint64_t)name_id << 40)) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32);
}

static bool writer__grow_types(struct trace_writer *w)
{
	uint32_t cap = w->type_cap ? w->type_cap * 2 : 256;
	struct type_slot *t = calloc(cap, sizeof(*t));

	if (!t)
		return false;
	for (uint32_t i = 0; i < w->type_cap; i++) {
		struct type_slot *e = &w->types[i];
		uint32_t j;

		if (!e->ref)
			continue;
		for (j = type_hash(e->addr, e->name_id) & (cap - 1); t[j].ref;
		     j = (j + 1) & (cap - 1))
			;
		t[j] = *e;
	}
	free(w->types);
	w->types = t;
	w->type_cap = cap;
	return true;
}

/*
 * The type reference of a dealloc: (type address, name) pairs repeat for
 * every object of that type, so each pair is defined once and then costs
 * one byte. Returns the reference (type id + 1), or 0 when the pair must go
 * inline (name not in the string table, or type table full).
 */
static uint64_t writer__type(struct trace_writer *w, uint64_t addr, const struct str_ref *name)
{
	uint32_t name_id, i;

	if (name->code & 1)
		return 0;
	name_id = (uint32_t)(name->code >> 1);
	if (w->type_cap) {
		for (i = type_hash(addr, name_id) & (w->type_cap - 1); w->types[i].ref;
		     i = (i + 1) & (w->type_cap - 1)) {
			if (w->types[i].addr == addr && w->types[i].name_id == name_id)
				return w->types[i].ref;
		}
	}
	if (w->ntypes >= trace__writer_max_types)
		return 0;
	if ((uint64_t)(w->ntypes + 1) * 2 > w->type_cap && !writer__grow_types(w))
		return 0;
	for (i = type_hash(addr, name_id) & (w->type_cap - 1); w->types[i].ref;
	     i = (i + 1) & (w->type_cap - 1))
		;
	w->types[i] = (struct type_slot){.addr = addr, .name_id = name_id, .ref = ++w->ntypes};
	put_byte(w, PM_TAG_TYPE);
	put_u64(w, addr);
	put_u64(w, name->code);
	return w->ntypes;
}

static size_t str_bound(const char *s)
{
	/* a definition or inline copy, plus tags and varints around it */
	return (s ? strnlen(s, PM_MAX_STRING) : 0) + 32;
}

static size_t record_bound(const struct pm_record *rec)
{
	size_t n = 128;

	switch (rec->type) {
	case PM_REC_EVENT:
		if (rec->ev.kind == PM_PY_DEALLOC)
			n += str_bound(rec->ev.dealloc.type_name);
		else if (pm_kind_is_proc(rec->ev.kind))
			n += str_bound(rec->ev.proc.comm) + str_bound(rec->ev.proc.path);
		break;
	case PM_REC_PROCESS:
		n += str_bound(rec->proc.comm) + str_bound(rec->proc.exe) +
		     str_bound(rec->proc.python) + str_bound(rec->proc.python_version);
		break;
	case PM_REC_SOURCE:
		n += str_bound(rec->src.source) + str_bound(rec->src.detail);
		break;
	case PM_REC_META:
		n += str_bound(rec->meta.key) + str_bound(rec->meta.value);
		break;
	case PM_REC_CONTAINER:
		n += str_bound(rec->cont.runtime) + str_bound(rec->cont.id) +
		     str_bound(rec->cont.name) + str_bound(rec->cont.image) +
		     str_bound(rec->cont.project) + str_bound(rec->cont.service) +
		     str_bound(rec->cont.pod_uid) + str_bound(rec->cont.qos);
		break;
	default:
		break;
	}
	return n;
}

static int writer__validate(const struct pm_record *rec)
{
	switch (rec->type) {
	case PM_REC_EVENT:
		return rec->ev.kind >= 1 && rec->ev.kind < PM_KIND_MAX ? 0 : -EINVAL;
	case PM_REC_SOURCE:
		return rec->src.status >= PM_SRC_FULL && rec->src.status <= PM_SRC_OFF ? 0
										       : -EINVAL;
	case PM_REC_LOST:
		return (unsigned)rec->lost.kind < PM_KIND_MAX ? 0 : -EINVAL;
	case PM_REC_CONTAINER:
		return rec->cont.state == PM_CONTAINER_RUNNING ||
			       rec->cont.state == PM_CONTAINER_STOPPED
			   ? 0
			   : -EINVAL;
	case PM_REC_PROCESS:
	case PM_REC_META:
	case PM_REC_END:
		return 0;
	}
	return -EINVAL;
}

/*
 * The recency index of a block a free or dealloc names, or -1 to write a
 * delta instead. A delta of 0 (the free right after its dealloc) is as short
 * and more regular, so that case keeps the delta.
 */
static int writer__recent(struct trace_writer *w, unsigned fam, uint64_t addr)
{
	const struct fam_pred *f = &w->pred.fam[fam];
	uint32_t h = addr_hash(addr);
	const struct recent *e;
	uint64_t idx;

	if (!addr || addr == w->pred.addr[fam] || w->recent_map[fam][h].addr != addr ||
	    w->recent_map[fam][h].seq >= f->nalloc)
		return -1;
	idx = f->nalloc - 1 - w->recent_map[fam][h].seq;
	e = pred__recent(&w->pred, fam, idx);
	if (!e || e->addr != addr)
		return -1;
	return (int)idx;
}

/* A free's or dealloc's address: recency index (then it is a hit) or delta. */
static void writer__addr(struct trace_writer *w, unsigned fam, uint64_t addr, int recent)
{
	if (recent >= 0) {
		put_u64(w, (uint64_t)recent);
		w->pred.fam[fam].hit = *pred__recent(&w->pred, fam, (uint64_t)recent);
	} else {
		put_s64(w, (int64_t)(addr - w->pred.addr[fam]));
	}
}

static void writer__event(struct trace_writer *w, const struct pm_event *ev)
{
	unsigned kind = ev->kind, fam = addr_family(kind);
	struct str_ref s1, s2;
	uint64_t type_ref = 0;
	uint32_t block = PM_BLOCK_UNKNOWN;
	uint8_t tag = (uint8_t)kind;
	int recent = -1;

	/* definitions first: they must precede the record's tag */
	if (kind == PM_PY_DEALLOC) {
		writer__str(w, ev->dealloc.type_name, &s1);
		type_ref = writer__type(w, ev->dealloc.type, &s1);
	} else if (pm_kind_is_proc(kind)) {
		writer__str(w, ev->proc.comm, &s1);
		writer__str(w, ev->proc.path, &s2);
	}
	/*
	 * Then the block annotation, right before the tag it belongs to. Frees
	 * carry a block only where BPF reads pymalloc's pools (LTO builds):
	 * without one nothing is written, so such traces keep version 4's
	 * size. libc's free has no block in the format (pymalloc's pools say
	 * nothing of malloc's blocks): one given is not written.
	 */
	if (kind == PM_PY_FREE)
		block = ev->free.block;
	else if (kind == PM_PY_REALLOC)
		block = ev->alloc.old_block;
	if (block != PM_BLOCK_UNKNOWN) {
		put_byte(w, PM_TAG_BLOCK);
		put_u64(w, block);
	}

	if (ev->pid == w->pred.pid)
		tag |= PM_EV_SAME_PID;
	if (ev->tid == w->pred.tid)
		tag |= PM_EV_SAME_TID;
	if (ev->cgroup_id == w->pred.cgroup)
		tag |= PM_EV_SAME_CGROUP;
	if (pm_kind_is_alloc(kind) && !ev->alloc.old_addr)
		tag |= PM_EV_NO_OLD_ADDR;
	if (kind == PM_PY_FREE || kind == PM_FREE)
		recent = writer__recent(w, fam, ev->free.addr);
	else if (kind == PM_PY_DEALLOC)
		recent = writer__recent(w, fam, ev->dealloc.obj);
	if (recent >= 0)
		tag |= PM_EV_RECENT;
	put_byte(w, tag);
	put_ts(w, ev->ts_ns);
	if (!(tag & PM_EV_SAME_PID))
		put_u64(w, ev->pid);
	if (!(tag & PM_EV_SAME_TID))
		put_s64(w, (int64_t)ev->tid - (int64_t)ev->pid);
	if (!(tag & PM_EV_SAME_CGROUP))
		put_u64(w, ev->cgroup_id);
	w->pred.pid = ev->pid;
	w->pred.tid = ev->tid;
	w->pred.cgroup = ev->cgroup_id;

	switch (kind) {
	PM_CASE_ALLOC_KINDS:
		put_u64(w, ev->alloc.size);
		put_s64(
		    w, (int64_t)(ev->alloc.addr - pred__alloc_base(&w->pred, fam, ev->alloc.size)));
		if (ev->alloc.addr) {
			uint32_t h = addr_hash(ev->alloc.addr);

			w->recent_map[fam][h].addr = ev->alloc.addr;
			w->recent_map[fam][h].seq = w->pred.fam[fam].nalloc;
		}
		pred__alloc(&w->pred, fam, ev->alloc.addr, ev->alloc.size);
		if (ev->alloc.old_addr)
			put_s64(w, (int64_t)(ev->alloc.old_addr - ev->alloc.addr));
		break;
	case PM_PY_FREE:
	case PM_FREE:
		writer__addr(w, fam, ev->free.addr, recent);
		pred__free(&w->pred, fam, ev->free.addr);
		break;
	case PM_PY_DEALLOC:
		writer__addr(w, fam, ev->dealloc.obj, recent);
		w->pred.addr[fam] = ev->dealloc.obj;
		put_u64(w, type_ref);
		if (!type_ref) {
			put_u64(w, ev->dealloc.type);
			put_str(w, &s1);
		}
		break;
	case PM_GC_START:
	case PM_GC_DONE:
		put_s64(w, ev->gc.generation);
		put_u64(w, ev->gc.source);
		put_s64(w, ev->gc.collected);
		put_u64(w, ev->gc.duration_ns);
		put_s64(w, ev->gc.uncollectable);
		break;
	case PM_EXEC:
	case PM_EXIT:
		put_u64(w, ev->proc.ppid);
		put_s64(w, ev->proc.exit_code);
		put_str(w, &s1);
		put_str(w, &s2);
		break;
	case PM_VM:
		put_u64(w, ev->vm.op);
		put_u64(w, ev->vm.prot);
		put_u64(w, ev->vm.flags);
		put_u64(w, ev->vm.addr);
		put_u64(w, ev->vm.len);
		put_u64(w, ev->vm.old_addr);
		put_u64(w, ev->vm.old_len);
		break;
	case PM_RSS:
		put_u64(w, ev->rss.rss);
		put_u64(w, ev->rss.anon);
		break;
	}
}

static void writer__encode(struct trace_writer *w, const struct pm_record *rec)
{
	struct str_ref s[8];

	switch (rec->type) {
	case PM_REC_EVENT:
		writer__event(w, &rec->ev);
		break;
	case PM_REC_PROCESS:
		writer__str(w, rec->proc.comm, &s[0]);
		writer__str(w, rec->proc.exe, &s[1]);
		writer__str(w, rec->proc.python, &s[2]);
		writer__str(w, rec->proc.python_version, &s[3]);
		put_byte(w, PM_TAG_PROCESS);
		put_ts(w, rec->proc.ts_ns);
		put_u64(w, rec->proc.cgroup_id);
		put_u64(w, rec->proc.pid);
		put_u64(w, rec->proc.ppid);
		for (int i = 0; i < 4; i++)
			put_str(w, &s[i]);
		put_u64(w, rec->proc.origin);
		break;
	case PM_REC_SOURCE:
		writer__str(w, rec->src.source, &s[0]);
		writer__str(w, rec->src.detail, &s[1]);
		put_byte(w, PM_TAG_SOURCE);
		put_ts(w, rec->src.ts_ns);
		put_u64(w, rec->src.pid);
		put_str(w, &s[0]);
		put_u64(w, rec->src.status);
		put_str(w, &s[1]);
		break;
	case PM_REC_LOST:
		put_byte(w, PM_TAG_LOST);
		put_ts(w, rec->lost.ts_ns);
		put_u64(w, rec->lost.pid);
		put_u64(w, rec->lost.kind);
		put_u64(w, rec->lost.count);
		break;
	case PM_REC_META:
		writer__str(w, rec->meta.key, &s[0]);
		writer__str(w, rec->meta.value, &s[1]);
		put_byte(w, PM_TAG_META);
		put_str(w, &s[0]);
		put_str(w, &s[1]);
		break;
	case PM_REC_END:
		put_byte(w, PM_TAG_END);
		put_ts(w, rec->end.ts_ns);
		put_u64(w, rec->end.events);
		break;
	case PM_REC_CONTAINER:
		writer__str(w, rec->cont.runtime, &s[0]);
		writer__str(w, rec->cont.id, &s[1]);
		writer__str(w, rec->cont.name, &s[2]);
		writer__str(w, rec->cont.image, &s[3]);
		writer__str(w, rec->cont.project, &s[4]);
		writer__str(w, rec->cont.service, &s[5]);
		writer__str(w, rec->cont.pod_uid, &s[6]);
		writer__str(w, rec->cont.qos, &s[7]);
		put_byte(w, PM_TAG_CONTAINER);
		put_ts(w, rec->cont.ts_ns);
		put_u64(w, rec->cont.cgroup_id);
		put_u64(w, rec->cont.state);
		for (int i = 0; i < 8; i++)
			put_str(w, &s[i]);
		break;
	}
}

/*
 * A failed write may have left part of a chunk behind. Cut it off so the file
 * ends at a chunk boundary, and write nothing more: later chunks could refer
 * to strings defined in the lost one.
 */
static int writer__fail(struct trace_writer *w, int err)
{
	w->err = err;
	/* if this fails too, the reader still stops cleanly at the partial chunk */
	if (w->regular)
		(void)!ftruncate(w->fd, (off_t)w->file_bytes);
	return err;
}

int trace_writer__append(struct trace_writer *w, const struct pm_record *rec)
{
	int err;

	if (!w || !rec)
		return -EINVAL;
	if (w->err)
		return w->err;
	err = writer__validate(rec);
	if (err)
		return err;
	err = writer__reserve(w, record_bound(rec));
	if (!err)
		err = writer__reserve_ts(w);
	if (err)
		return err;
	if (!w->len)
		w->chunk_born_ns = pm_now_ns();
	writer__encode(w, rec);
	w->chunk_records++;
	w->records++;
	if (writer__chunk_len(w) >= PM_CHUNK_TARGET)
		return trace_writer__flush(w);
	return 0;
}

/* The file header, with the start as it stands now; rewrite: over the one
 * a regular file already begins with. 0 or -errno. */
static int writer__header(struct trace_writer *w, bool rewrite)
{
	uint8_t h[PM_TRACE_HDR_LEN];
	int err;

	pm_trace_header_put(h, &w->info);
	if (rewrite) {
		ssize_t n = pwrite(w->fd, h, sizeof(h), 0);

		return n == (ssize_t)sizeof(h) ? 0 : n < 0 ? -errno : -EIO;
	}
	if ((err = -trace_write_all(w->fd, h, sizeof(h))))
		return err;
	w->hdr_written = true;
	w->file_bytes = sizeof(h);
	return 0;
}

int trace_writer__set_start(struct trace_writer *w, uint64_t start_ns, uint64_t start_realtime_ns)
{
	if (!w || w->err)
		return w ? w->err : -EINVAL;
	if (w->hdr_written && !w->regular)
		return -EALREADY;
	w->info.start_ns = start_ns;
	w->info.start_realtime_ns = start_realtime_ns;
	return w->hdr_written ? writer__header(w, true) : 0;
}

int trace_writer__flush(struct trace_writer *w)
{
	uint8_t prefix[20];
	size_t plen, raw_len;
	ssize_t n;
	int err;

	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (!w->hdr_written && (err = writer__header(w, false)))
		return writer__fail(w, err);
	if (!w->len)
		return 0;
	plen = pm_varint_put(prefix, w->len);
	plen += pm_varint_put(prefix + plen, w->nts);
	/* the payload: the prefix, the records, the timestamp columns */
	struct chunk_section sec[] = {
	    {prefix, plen},	 {w->buf, w->len},	{w->ts_lo, w->nts},
	    {w->ts_mid, w->nts}, {w->ts_hi, w->hi_len},
	};
	n = chunk_packer__pack(&w->packer, sec, sizeof(sec) / sizeof(sec[0]), w->chunk_records,
			       w->chunk_has_ts ? w->chunk_first_ts : 0, &raw_len);
	if (n < 0)
		return (int)n;
	/* one write per chunk: a kill lands between chunks far more often */
	err = trace_write_all(w->fd, w->packer.out, (size_t)n);
	if (err)
		return writer__fail(w, err);
	w->file_bytes += (uint64_t)n;
	w->raw_bytes += raw_len;
	w->len = 0;
	w->nts = 0;
	w->hi_len = 0;
	w->chunk_records = 0;
	w->chunk_has_ts = false;
	w->chunk_first_ts = 0;
	pred__reset(&w->pred, 0);
	return 0;
}

int trace_writer__maybe_flush(struct trace_writer *w, uint64_t now, uint64_t max_age_ns)
{
	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (!w->len || now < w->chunk_born_ns || now - w->chunk_born_ns < max_age_ns)
		return 0;
	return trace_writer__flush(w);
}

static int writer__sink_record(struct pm_sink *sink, const struct pm_record *rec)
{
	return trace_writer__append((struct trace_writer *)sink, rec);
}

static int writer__sink_finish(struct pm_sink *sink)
{
	(void)sink;
	return 0;
}

struct pm_sink *trace_writer__sink(struct trace_writer *w)
{
	return &w->sink;
}

void trace_writer__stats(const struct trace_writer *w, uint64_t *raw_bytes, uint64_t *file_bytes,
			 uint64_t *records)
{
	if (raw_bytes)
		*raw_bytes = w->raw_bytes;
	if (file_bytes)
		*file_bytes = w->file_bytes;
	if (records)
		*records = w->records;
}

int trace_writer__set_owner(struct trace_writer *w, uid_t uid, gid_t gid)
{
	if (!w)
		return -EINVAL;
	return fchown(w->fd, uid, gid) ? -errno : 0;
}

static void writer__free(struct trace_writer *w)
{
	for (uint32_t i = 0; i < w->str_cap; i++)
		free(w->strs[i].s);
	free(w->strs);
	free(w->types);
	free(w->buf);
	free(w->ts_lo);
	free(w->ts_mid);
	free(w->ts_hi);
	chunk_packer__free(&w->packer);
	free(w);
}

static char open_why[512]; /* why the latest trace_writer__open failed */

const char *trace_writer__open_error(void)
{
	return open_why;
}

struct trace_writer *trace_writer__open(const char *path, const struct pm_trace_info *info)
{
	struct trace_writer *w;
	int err;

	snprintf(open_why, sizeof(open_why), "cannot create %s: out of memory", path);
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->sink.record = writer__sink_record;
	w->sink.finish = writer__sink_finish;
	if (chunk_packer__init(&w->packer)) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * pymac runs as root: util/outfile.c refuses links, FIFOs, devices
	 * and other users' files, and opens nothing that can block; the trace
	 * is written in place, so that one cut short keeps its name. "-" is
	 * standard output (not a terminal).
	 */
	if (strcmp(path, "-") == 0) {
		if (isatty(STDOUT_FILENO)) {
			err = ENOTTY;
			snprintf(open_why, sizeof(open_why),
				 "cannot write the trace to standard output: it is a terminal "
				 "(redirect it, or give -o a file)");
			goto fail;
		}
		w->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		if (w->fd < 0) {
			err = errno;
			snprintf(open_why, sizeof(open_why), "cannot write standard output: %s",
				 strerror(errno));
			goto fail;
		}
	} else {
		struct pm_out o;
		int e = pm_out_open(&o, path, PM_OUT_IN_PLACE, open_why, sizeof(open_why));

		if (e) {
			err = -e;
			goto fail;
		}
		w->fd = o.fd;
		w->regular = true;
		pm_out_commit(&o, true, open_why, sizeof(open_why));
	}

	if (info)
		w->info = *info;
	/* a file is a trace from its creation (one killed while the probes
	 * attach is a trace without records); a pipe's header waits for the
	 * start (trace_writer__set_start) */
	if (w->regular && (err = -writer__header(w, false))) {
		snprintf(open_why, sizeof(open_why), "cannot write %s: %s", path, strerror(err));
		close(w->fd);
		goto fail;
	}
	w->nstrs = 1;
	return w;

fail:
	writer__free(w);
	errno = err;
	return NULL;
}

int trace_writer__close(struct trace_writer *w, const struct pm_end *end)
{
	int err = 0, ret;

	if (!w)
		return 0;
	if (end) {
		struct pm_record rec = {.type = PM_REC_END, .end = *end};

		err = trace_writer__append(w, &rec);
	}
	ret = trace_writer__flush(w);
	if (!err)
		err = ret;
	if (!w->err && w->regular && fsync(w->fd) && !err)
		err = -errno;
	if (close(w->fd) && !err)
		err = -errno;
	writer__free(w);
	return err;
}
