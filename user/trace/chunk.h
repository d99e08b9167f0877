/* SPDX-License-Identifier: MIT */
/*
 * A chunk on its way to disk (docs/trace-format.md, "Chunks"): the sections
 * of its payload deflated into one zlib stream behind the chunk header (the
 * lengths, the record count, the first timestamp and the CRCs). The writer
 * (writer.c) encodes records into the sections; this packs them.
 */
#ifndef PYMAC_TRACE_CHUNK_H
#define PYMAC_TRACE_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

/* Part of a payload, deflated right after the part before it. */
struct chunk_section {
	uint8_t *p;
	size_t len;
};

struct chunk_packer {
	z_stream zs;
	uint8_t *out; /* the packed chunk: its header, then the deflated payload */
	size_t out_cap;
};

/* 0, or -ENOMEM when zlib cannot start. */
int chunk_packer__init(struct chunk_packer *c);
void chunk_packer__free(struct chunk_packer *c);

/*
 * Pack a chunk whose payload is sec[0..nsec) in that order. Each section
 * ends a deflate block, but for the first (the payload's length prefix),
 * which shares the second's. Returns the bytes of c->out to write, or
 * -ENOMEM or -EIO; *raw_len is then the payload's size.
 */
ssize_t chunk_packer__pack(struct chunk_packer *c, const struct chunk_section *sec, size_t nsec,
			   uint32_t records, uint64_t first_ts, size_t *raw_len);

#endif /* PYMAC_TRACE_CHUNK_H */
