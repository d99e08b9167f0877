// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the trace reader (trace_reader__open/next).
 *
 * The reader checks CRCs on the file header, every chunk header and every
 * chunk's compressed bytes, and inflates the chunk before decoding it, so
 * random bytes would almost never reach the record decoder. The first input
 * byte therefore picks how the rest becomes a file:
 *
 *   bit 0 clear: the rest is a trace file. Unless bit 1 is set, the header
 *                CRC and each chunk's CRCs are recomputed first, so that
 *                mutations of lengths and data get past the CRC checks.
 *   bit 0 set:   the rest is u32 LE record count + an uncompressed chunk
 *                body; it is wrapped into a valid file (version 1 if bit 2
 *                is set, else the current one) with one deflated chunk.
 *
 * The file goes to a memfd that the reader opens by its /proc path.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "trace/trace.h"
#include "trace/trace_format.h"

#define MODE_RAW      0x01
#define MODE_KEEP_CRC 0x02
#define MODE_VERSION1 0x04

static int memfd = -1;
static char memfd_path[64];
static volatile size_t sink;

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

static void fix_crcs(uint8_t *f, size_t len)
{
	size_t off = PM_TRACE_HDR_LEN;

	if (len < PM_TRACE_HDR_LEN)
		return;
	put32(f + PM_TRACE_HDR_CRC_AT, crc(f, PM_TRACE_HDR_CRC_AT));
	while (len - off >= PM_CHUNK_HDR_LEN) {
		uint8_t *h = f + off;
		size_t comp = get32(h + 8);

		if (comp > len - off - PM_CHUNK_HDR_LEN)
			comp = len - off - PM_CHUNK_HDR_LEN;
		put32(h + 24, crc(h + PM_CHUNK_HDR_LEN, comp));
		put32(h + PM_CHUNK_HDR_CRC_AT, crc(h, PM_CHUNK_HDR_CRC_AT));
		off += PM_CHUNK_HDR_LEN + comp;
	}
}

/* Header + one chunk holding body, deflated. NULL when it does not fit. */
static uint8_t *wrap_raw(const uint8_t *in, size_t len, bool v1, size_t *out_len)
{
	uLongf comp_len;
	uint32_t nrec;
	uint8_t *f, *h;

	if (len < 4 || len - 4 > PM_CHUNK_MAX_RAW)
		return NULL;
	nrec = get32(in);
	in += 4;
	len -= 4;
	comp_len = compressBound(len);
	f = calloc(1, PM_TRACE_HDR_LEN + PM_CHUNK_HDR_LEN + comp_len);
	if (!f)
		return NULL;
	if (compress2(f + PM_TRACE_HDR_LEN + PM_CHUNK_HDR_LEN, &comp_len, in, len, 1) != Z_OK) {
		free(f);
		return NULL;
	}
	memcpy(f, PM_TRACE_MAGIC, PM_TRACE_MAGIC_LEN);
	put32(f + 8, v1 ? 1 : PM_TRACE_VERSION);
	put32(f + 12, PM_TRACE_HDR_LEN);
	put64(f + 16, 1000);
	put64(f + 24, 2000);
	h = f + PM_TRACE_HDR_LEN;
	put32(h, PM_CHUNK_MAGIC);
	put32(h + 4, (uint32_t)len);
	put32(h + 8, (uint32_t)comp_len);
	put32(h + 12, nrec);
	put64(h + 16, 1000);
	*out_len = PM_TRACE_HDR_LEN + PM_CHUNK_HDR_LEN + comp_len;
	fix_crcs(f, *out_len);
	return f;
}

static void touch(const char *s)
{
	if (s)
		sink += strlen(s);
}

/* Every string the reader hands out must be a live C string, and every
 * enum a value the consumers' switches know. */
static void touch_record(const struct pm_record *rec)
{
	switch (rec->type) {
	case PM_REC_EVENT:
		if (!pm_kind_name(rec->ev.kind))
			abort();
		if (rec->ev.kind == PM_PY_DEALLOC)
			touch(rec->ev.dealloc.type_name);
		if (rec->ev.kind == PM_EXEC || rec->ev.kind == PM_EXIT) {
			touch(rec->ev.proc.comm);
			touch(rec->ev.proc.path);
		}
		break;
	case PM_REC_PROCESS:
		touch(rec->proc.comm);
		touch(rec->proc.exe);
		touch(rec->proc.python);
		touch(rec->proc.python_version);
		break;
	case PM_REC_SOURCE:
		if (!pm_source_status_name(rec->src.status))
			abort();
		touch(rec->src.source);
		touch(rec->src.detail);
		break;
	case PM_REC_META:
		touch(rec->meta.key);
		touch(rec->meta.value);
		break;
	case PM_REC_LOST:
		/* kind 0: lost events whose kind is unknown */
		if (rec->lost.kind && !pm_kind_name(rec->lost.kind))
			abort();
		break;
	case PM_REC_CONTAINER:
		if (rec->cont.state != PM_CONTAINER_RUNNING &&
		    rec->cont.state != PM_CONTAINER_STOPPED)
			abort();
		touch(rec->cont.runtime);
		touch(rec->cont.id);
		touch(rec->cont.name);
		touch(rec->cont.image);
		touch(rec->cont.project);
		touch(rec->cont.service);
		break;
	case PM_REC_END:
		break;
	default:
		abort();
	}
}

static int write_file(const uint8_t *f, size_t len)
{
	size_t done = 0;

	if (ftruncate(memfd, 0) != 0)
		return -1;
	while (done < len) {
		ssize_t n = pwrite(memfd, f + done, len - done, (off_t)done);

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz_trace", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_reader *r;
	struct pm_record rec;
	uint8_t *file = NULL;
	size_t len = 0;
	char err[256];
	int ret;

	if (!size)
		return 0;
	if (data[0] & MODE_RAW) {
		file = wrap_raw(data + 1, size - 1, data[0] & MODE_VERSION1, &len);
		if (!file)
			return 0;
	} else {
		len = size - 1;
		file = malloc(len + 1);
		if (!file)
			return 0;
		memcpy(file, data + 1, len);
		if (!(data[0] & MODE_KEEP_CRC))
			fix_crcs(file, len);
	}
	ret = write_file(file, len);
	free(file);
	if (ret)
		abort();

	r = trace_reader__open(memfd_path, err, sizeof(err));
	if (!r)
		return 0;
	touch(trace_reader__error(r));
	while ((ret = trace_reader__next(r, &rec)) > 0)
		touch_record(&rec);
	touch(trace_reader__error(r));
	/* a failed reader stays failed */
	if (ret < 0 && trace_reader__next(r, &rec) != ret)
		abort();
	sink += trace_reader__complete(r);
	trace_reader__close(r);
	return 0;
}
