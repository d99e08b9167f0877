/* SPDX-License-Identifier: MIT */
/*
 * Live blocks of one process, by address: open addressing with linear
 * probing and backward-shift deletion (no tombstones, so probes stay short
 * under the constant churn of an allocator). Used wherever frees are sized
 * by their allocation (the timeline, the exports).
 */
#ifndef PYMAC_ADDRTAB_H
#define PYMAC_ADDRTAB_H

#include <stdint.h>

struct addr_ent {
	uint64_t addr; /* 0: empty */
	uint64_t size;
};

struct addr_tab {
	struct addr_ent *e;
	uint32_t cap; /* power of two, or 0 before the first insert */
	uint32_t len;
};

/* Hashes shared by the models' tables (pids, tids, addresses). */
static inline uint32_t pm_hash_u32(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352d;
	v ^= v >> 15;
	v *= 0x846ca68b;
	v ^= v >> 16;
	return v;
}

static inline uint32_t pm_hash_addr(uint64_t a)
{
	return (uint32_t)((a * 0x9e3779b97f4a7c15ull) >> 32);
}

/* The entry of addr, or NULL. */
struct addr_ent *addr_tab__find(const struct addr_tab *t, uint64_t addr);
/* Insert addr (the caller checked it is absent; addr != 0). 0 or -ENOMEM. */
int addr_tab__put(struct addr_tab *t, uint64_t addr, uint64_t size);
/* Remove an entry addr_tab__find returned. */
void addr_tab__del(struct addr_tab *t, struct addr_ent *ent);
/* Free everything; the table is empty and usable again. */
void addr_tab__clear(struct addr_tab *t);

#endif /* PYMAC_ADDRTAB_H */
