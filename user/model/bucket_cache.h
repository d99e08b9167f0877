/* SPDX-License-Identifier: MIT */
/*
 * Which time bucket a time falls in, for the stores that count in buckets
 * of a fixed width from time 0 (timeline.c, export_series.c). Records come
 * in runs within one bucket, so the bucket found last is kept: a time in it
 * costs two compares instead of a division.
 */
#ifndef PYMAC_BUCKET_CACHE_H
#define PYMAC_BUCKET_CACHE_H

#include <stdint.h>

/* The bucket found last; all zeros: none yet. */
struct bucket_cache {
	uint64_t lo, hi; /* its times: [lo, hi) */
	uint64_t idx;
};

/* The bucket of time t (t / width), through the cache c. */
static inline uint64_t bucket_cache__of(struct bucket_cache *c, uint64_t width, uint64_t t)
{
	if (t >= c->lo && t < c->hi)
		return c->idx;
	c->idx = t / width;
	c->lo = c->idx * width;
	c->hi = c->lo + width;
	return c->idx;
}

#endif /* PYMAC_BUCKET_CACHE_H */
