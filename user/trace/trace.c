// SPDX-License-Identifier: MIT
/*
 * Trace file writer and reader. The format is in docs/trace-format.md; the
 * constants are in trace_format.h.
 */
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
#include "trace/trace.h"
#include "trace/trace_format.h"

/* An event tag holds its kind in its low nibble (trace_format.h). */
_Static_assert(PM_KIND_MAX <= PM_TAG_CODE_MASK + 1, "event kinds must fit a tag's low nibble");
#include "util/clock.h"

uint32_t trace__writer_max_strings = PM_MAX_STRINGS;
uint32_t trace__writer_max_types = PM_MAX_TYPES;

size_t pm_varint_put(uint8_t *buf, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	return n;
}

/* Only the shortest encoding is accepted, so that every value has exactly
 * one encoding (a trailing 0x00 group would be a second one). */
size_t pm_varint_get(const uint8_t *buf, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < len && i < 10; i++) {
		uint8_t b = buf[i];

		if (i == 9 && b > 1)
			return 0;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return 0;
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

static void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32_get(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t crc32_of(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

struct recent {
	uint64_t addr;
	uint64_t size;
};

/* Version 4 address state of one family (see docs/trace-format.md). */
struct fam_pred {
	/* allocated addresses, the newest at (nalloc - 1) % PM_RECENT_ADDRS */
	struct recent ring[PM_RECENT_ADDRS];
	uint64_t nalloc;
	/* the block a free or dealloc last named by recency index: its size
	 * tells which class the free returns the block to */
	struct recent hit;
	/* allocators hand out blocks of a class from the same pool, and the
	 * block freed last first: the class's last address predicts the next */
	uint64_t cls_addr[PM_SIZE_CLASSES];
};

/*
 * What the encoder and decoder predict the next values to be. Reset at every
 * chunk start, so that each chunk decodes without the ones before it (except
 * for the string and type tables).
 */
struct pred {
	uint64_t ts;
	uint64_t cgroup;
	uint32_t pid;
	uint32_t tid;
	/* Python's arenas and libc's heap are far apart: one predictor each. */
	uint64_t addr[2];
	struct fam_pred fam[2];
};

static void pred__reset(struct pred *p, uint64_t first_ts)
{
	memset(p, 0, sizeof(*p));
	p->ts = first_ts;
}

static unsigned addr_family(unsigned kind)
{
	return kind >= PM_MALLOC;
}

static int size_class(uint64_t size)
{
	if (!size || size > (uint64_t)PM_SIZE_CLASSES << PM_SIZE_CLASS_SHIFT)
		return -1;
	return (int)((size - 1) >> PM_SIZE_CLASS_SHIFT);
}

/* What a version-4 allocation's address is a delta against. */
static uint64_t pred__alloc_base(const struct pred *p, unsigned fam, uint64_t size)
{
	int c = size_class(size);

	if (c >= 0 && p->fam[fam].cls_addr[c])
		return p->fam[fam].cls_addr[c];
	return p->addr[fam];
}

static void pred__alloc(struct pred *p, unsigned fam, uint64_t addr, uint64_t size)
{
	struct fam_pred *f = &p->fam[fam];
	int c = size_class(size);

	p->addr[fam] = addr;
	if (!addr) /* a failed allocation names no block */
		return;
	f->ring[f->nalloc++ % PM_RECENT_ADDRS] = (struct recent){addr, size};
	if (c >= 0)
		f->cls_addr[c] = addr;
}

/* The entry a recency index names, or NULL when the slot is empty. */
static const struct recent *pred__recent(const struct pred *p, unsigned fam, uint64_t idx)
{
	const struct fam_pred *f = &p->fam[fam];

	if (idx >= PM_RECENT_ADDRS || idx >= f->nalloc)
		return NULL;
	return &f->ring[(f->nalloc - 1 - idx) % PM_RECENT_ADDRS];
}

static void pred__free(struct pred *p, unsigned fam, uint64_t addr)
{
	struct fam_pred *f = &p->fam[fam];

	p->addr[fam] = addr;
	if (addr && addr == f->hit.addr) {
		int c = size_class(f->hit.size);

		if (c >= 0)
			f->cls_addr[c] = addr;
		f->hit.addr = 0;
	}
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to len bytes; fewer only at end of file. */
static ssize_t read_full(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

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

	uint8_t *out;
	size_t out_cap;
	z_stream zs;

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
		     str_bound(rec->cont.project) + str_bound(rec->cont.service);
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
	struct str_ref s[6];

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
		put_byte(w, PM_TAG_CONTAINER);
		put_ts(w, rec->cont.ts_ns);
		put_u64(w, rec->cont.cgroup_id);
		put_u64(w, rec->cont.state);
		for (int i = 0; i < 6; i++)
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

static int writer__deflate(struct trace_writer *w, uint8_t *p, size_t len, int flush)
{
	int ret;

	w->zs.next_in = p;
	w->zs.avail_in = (uInt)len;
	ret = deflate(&w->zs, flush);
	if (flush == Z_FINISH)
		return ret == Z_STREAM_END ? 0 : -EIO;
	return (ret == Z_OK || ret == Z_BUF_ERROR) && !w->zs.avail_in ? 0 : -EIO;
}

/*
 * Deflate the chunk's sections one after the other (no copy into one
 * buffer). With blocks, each section ends a deflate block, so that each gets
 * Huffman codes of its own: the timestamp columns' byte statistics differ
 * from the records'.
 */
static int writer__compress(struct trace_writer *w, uint8_t *prefix, size_t plen, size_t need,
			    bool blocks)
{
	int mid = blocks ? Z_BLOCK : Z_NO_FLUSH;

	if (deflateReset(&w->zs) != Z_OK)
		return -EIO;
	w->zs.next_out = w->out + PM_CHUNK_HDR_LEN;
	w->zs.avail_out = (uInt)(need - PM_CHUNK_HDR_LEN);
	if (writer__deflate(w, prefix, plen, Z_NO_FLUSH) ||
	    writer__deflate(w, w->buf, w->len, mid) || writer__deflate(w, w->ts_lo, w->nts, mid) ||
	    writer__deflate(w, w->ts_mid, w->nts, mid) ||
	    writer__deflate(w, w->ts_hi, w->hi_len, Z_FINISH))
		return -EIO;
	return 0;
}

int trace_writer__flush(struct trace_writer *w)
{
	uint8_t *h, prefix[20];
	size_t need, comp, raw_len, plen;
	int err;

	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (!w->len)
		return 0;
	plen = pm_varint_put(prefix, w->len);
	plen += pm_varint_put(prefix + plen, w->nts);
	raw_len = plen + w->len + 2 * (size_t)w->nts + w->hi_len;
	/* room for the block ends, which deflateBound does not count */
	need = PM_CHUNK_HDR_LEN + deflateBound(&w->zs, raw_len) + 64;
	if (need > w->out_cap) {
		uint8_t *p = realloc(w->out, need);

		if (!p)
			return -ENOMEM;
		w->out = p;
		w->out_cap = need;
	}
	/*
	 * Readers refuse more than compressBound(raw_len) bytes. Block ends can
	 * exceed that on a small chunk of incompressible bytes: then the chunk
	 * is compressed again as one run, which deflate keeps within the bound.
	 */
	if (writer__compress(w, prefix, plen, need, true) ||
	    w->zs.total_out > compressBound(raw_len)) {
		if (writer__compress(w, prefix, plen, need, false))
			return -EIO;
	}
	comp = w->zs.total_out;

	h = w->out;
	le32_put(h, PM_CHUNK_MAGIC);
	le32_put(h + 4, (uint32_t)raw_len);
	le32_put(h + 8, (uint32_t)comp);
	le32_put(h + 12, w->chunk_records);
	le64_put(h + 16, w->chunk_has_ts ? w->chunk_first_ts : 0);
	le32_put(h + 24, crc32_of(h + PM_CHUNK_HDR_LEN, comp));
	le32_put(h + PM_CHUNK_HDR_CRC_AT, crc32_of(h, PM_CHUNK_HDR_CRC_AT));

	/* one write per chunk: a kill lands between chunks far more often */
	err = write_all(w->fd, w->out, PM_CHUNK_HDR_LEN + comp);
	if (err)
		return writer__fail(w, err);
	w->file_bytes += PM_CHUNK_HDR_LEN + comp;
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
	free(w->out);
	deflateEnd(&w->zs);
	free(w);
}

/* The user sudo ran pymac for, or (uid_t)-1. */
static uid_t sudo_uid(void)
{
	const char *s = getenv("SUDO_UID");
	char *end;
	unsigned long v;

	if (!s || !*s || geteuid() != 0)
		return (uid_t)-1;
	errno = 0;
	v = strtoul(s, &end, 10);
	return errno || *end || v >= (uid_t)-1 ? (uid_t)-1 : (uid_t)v;
}

struct trace_writer *trace_writer__open(const char *path, const struct pm_trace_info *info)
{
	uint8_t h[PM_TRACE_HDR_LEN] = {0};
	struct trace_writer *w;
	struct stat st;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->sink.record = writer__sink_record;
	w->sink.finish = writer__sink_finish;
	if (deflateInit(&w->zs, PM_TRACE_ZLEVEL) != Z_OK) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * pymac runs as root: a symbolic link planted at the name (in /tmp,
	 * say) must not make it truncate whatever the link points at, nor may
	 * it take over a file of somebody else's. So no link is followed at
	 * the last component, nothing is truncated before the file is known
	 * to be a regular file of the invoking user (or of the user sudo ran
	 * it for), and devices and pipes are written as they are.
	 */
	w->fd = open(path, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		err = errno;
		goto fail;
	}
	if (fstat(w->fd, &st)) {
		err = errno;
		goto fail_close;
	}
	/* Only a regular file is ours to chmod: never change /dev/null or a pipe. */
	w->regular = S_ISREG(st.st_mode);
	if (w->regular && st.st_uid != geteuid() && st.st_uid != sudo_uid()) {
		err = EPERM;
		goto fail_close;
	}
	if (w->regular && (ftruncate(w->fd, 0) || fchmod(w->fd, 0600))) {
		err = errno;
		goto fail_close;
	}

	memcpy(h, PM_TRACE_MAGIC, PM_TRACE_MAGIC_LEN);
	le32_put(h + 8, PM_TRACE_VERSION);
	le32_put(h + 12, PM_TRACE_HDR_LEN);
	le64_put(h + 16, info ? info->start_ns : 0);
	le64_put(h + 24, info ? info->start_realtime_ns : 0);
	le32_put(h + 32, 0);
	le32_put(h + PM_TRACE_HDR_CRC_AT, crc32_of(h, PM_TRACE_HDR_CRC_AT));
	err = -write_all(w->fd, h, sizeof(h));
	if (err)
		goto fail_close;
	w->file_bytes = sizeof(h);
	w->nstrs = 1;
	return w;

fail_close:
	close(w->fd);
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
		return dec__s32(d, &ev->gc.generation) && dec__u32(d, &ev->gc.source) &&
		       dec__s64(d, &ev->gc.collected) && dec__u64(d, &ev->gc.duration_ns);
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

	n = read_full(r->fd, h, sizeof(h));
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
	n = read_full(r->fd, r->comp, comp_len);
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
	n = read_full(r->fd, h, sizeof(h));
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

