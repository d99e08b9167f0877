/* SPDX-License-Identifier: MIT */
/*
 * What the trace writer (writer.c) and reader (reader.c) share: the
 * little-endian and CRC helpers, and the predictors both run in step
 * (docs/trace-format.md). Inline: they are on every record's path.
 */
#ifndef PYMAC_TRACE_CODEC_H
#define PYMAC_TRACE_CODEC_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <zlib.h>
#include "trace/trace.h"
#include "trace/trace_format.h"

static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t le32_get(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline uint32_t crc32_of(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

/* The file header (docs/trace-format.md) of a trace that starts as info says. */
static inline void pm_trace_header_put(uint8_t h[PM_TRACE_HDR_LEN],
				       const struct pm_trace_info *info)
{
	memset(h, 0, PM_TRACE_HDR_LEN);
	memcpy(h, PM_TRACE_MAGIC, PM_TRACE_MAGIC_LEN);
	le32_put(h + 8, PM_TRACE_VERSION);
	le32_put(h + 12, PM_TRACE_HDR_LEN);
	le64_put(h + 16, info->start_ns);
	le64_put(h + 24, info->start_realtime_ns);
	le32_put(h + PM_TRACE_HDR_CRC_AT, crc32_of(h, PM_TRACE_HDR_CRC_AT));
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

static inline void pred__reset(struct pred *p, uint64_t first_ts)
{
	memset(p, 0, sizeof(*p));
	p->ts = first_ts;
}

static inline unsigned addr_family(unsigned kind)
{
	return kind >= PM_MALLOC;
}

static inline int size_class(uint64_t size)
{
	if (!size || size > (uint64_t)PM_SIZE_CLASSES << PM_SIZE_CLASS_SHIFT)
		return -1;
	return (int)((size - 1) >> PM_SIZE_CLASS_SHIFT);
}

/* What a version-4 allocation's address is a delta against. */
static inline uint64_t pred__alloc_base(const struct pred *p, unsigned fam, uint64_t size)
{
	int c = size_class(size);

	if (c >= 0 && p->fam[fam].cls_addr[c])
		return p->fam[fam].cls_addr[c];
	return p->addr[fam];
}

static inline void pred__alloc(struct pred *p, unsigned fam, uint64_t addr, uint64_t size)
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
static inline const struct recent *pred__recent(const struct pred *p, unsigned fam, uint64_t idx)
{
	const struct fam_pred *f = &p->fam[fam];

	if (idx >= PM_RECENT_ADDRS || idx >= f->nalloc)
		return NULL;
	return &f->ring[(f->nalloc - 1 - idx) % PM_RECENT_ADDRS];
}

static inline void pred__free(struct pred *p, unsigned fam, uint64_t addr)
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

/* Whole writes and reads, retried on EINTR and short counts. */
int trace_write_all(int fd, const uint8_t *p, size_t len);
ssize_t trace_read_full(int fd, uint8_t *p, size_t len);

#endif /* PYMAC_TRACE_CODEC_H */
