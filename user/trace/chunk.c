// SPDX-License-Identifier: MIT
/* The chunk packer (chunk.h; the format is docs/trace-format.md). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include "trace/chunk.h"
#include "trace/codec.h"

int chunk_packer__init(struct chunk_packer *c)
{
	memset(c, 0, sizeof(*c));
	return deflateInit(&c->zs, PM_TRACE_ZLEVEL) == Z_OK ? 0 : -ENOMEM;
}

void chunk_packer__free(struct chunk_packer *c)
{
	free(c->out);
	deflateEnd(&c->zs);
}

static int deflate_section(z_stream *zs, const struct chunk_section *s, int flush)
{
	int ret;

	zs->next_in = s->p;
	zs->avail_in = (uInt)s->len;
	ret = deflate(zs, flush);
	if (flush == Z_FINISH)
		return ret == Z_STREAM_END ? 0 : -EIO;
	return (ret == Z_OK || ret == Z_BUF_ERROR) && !zs->avail_in ? 0 : -EIO;
}

/*
 * Deflate the sections one after the other (no copy into one buffer). With
 * blocks, each section ends a deflate block, so that each gets Huffman codes
 * of its own: the timestamp columns' byte statistics differ from the
 * records'.
 */
static int deflate_sections(struct chunk_packer *c, const struct chunk_section *sec, size_t nsec,
			    size_t need, bool blocks)
{
	int mid = blocks ? Z_BLOCK : Z_NO_FLUSH;

	if (deflateReset(&c->zs) != Z_OK)
		return -EIO;
	c->zs.next_out = c->out + PM_CHUNK_HDR_LEN;
	c->zs.avail_out = (uInt)(need - PM_CHUNK_HDR_LEN);
	for (size_t i = 0; i < nsec; i++) {
		int flush = i + 1 == nsec ? Z_FINISH : i ? mid : Z_NO_FLUSH;

		if (deflate_section(&c->zs, &sec[i], flush))
			return -EIO;
	}
	return 0;
}

ssize_t chunk_packer__pack(struct chunk_packer *c, const struct chunk_section *sec, size_t nsec,
			   uint32_t records, uint64_t first_ts, size_t *raw_len)
{
	size_t need, comp, raw = 0;
	uint8_t *h;

	for (size_t i = 0; i < nsec; i++)
		raw += sec[i].len;
	/* room for the block ends, which deflateBound does not count */
	need = PM_CHUNK_HDR_LEN + deflateBound(&c->zs, raw) + 64;
	if (need > c->out_cap) {
		uint8_t *p = realloc(c->out, need);

		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = need;
	}
	/*
	 * Readers refuse more than compressBound(raw_len) bytes. Block ends can
	 * exceed that on a small chunk of incompressible bytes: then the chunk
	 * is compressed again as one run, which deflate keeps within the bound.
	 */
	if (deflate_sections(c, sec, nsec, need, true) || c->zs.total_out > compressBound(raw)) {
		if (deflate_sections(c, sec, nsec, need, false))
			return -EIO;
	}
	comp = c->zs.total_out;

	h = c->out;
	le32_put(h, PM_CHUNK_MAGIC);
	le32_put(h + 4, (uint32_t)raw);
	le32_put(h + 8, (uint32_t)comp);
	le32_put(h + 12, records);
	le64_put(h + 16, first_ts);
	le32_put(h + 24, crc32_of(h + PM_CHUNK_HDR_LEN, comp));
	le32_put(h + PM_CHUNK_HDR_CRC_AT, crc32_of(h, PM_CHUNK_HDR_CRC_AT));
	*raw_len = raw;
	return (ssize_t)(PM_CHUNK_HDR_LEN + comp);
}
