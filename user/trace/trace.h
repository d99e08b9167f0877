/* SPDX-License-Identifier: MIT */
/*
 * Trace files (.pmt): writer and reader. The on-disk format is described in
 * docs/trace-format.md. A writer is a pm_sink, so it can be chained with the
 * other sinks; the reader yields the same pm_record values.
 */
#ifndef PYMAC_TRACE_H
#define PYMAC_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "feed/record.h"

/* 2 added the CONTAINER record, 3 the vm and rss events (footprint), 4 the
 * recency and size-class address predictors, 5 the block sizes of py_free and
 * py_realloc (pm_event free.block, alloc.old_block), 6 the uncollectable count
 * of collections, 7 the PROCESS record's origin (enum pm_proc_origin), 8 the
 * CONTAINER record's pod (pod_uid, qos); older files are still read. */
#define PM_TRACE_VERSION 8

/* Values in the file header. */
struct pm_trace_info {
	uint32_t version;
	uint64_t start_ns;	    /* CLOCK_MONOTONIC at start of recording */
	uint64_t start_realtime_ns; /* CLOCK_REALTIME at the same moment */
};

struct trace_writer;

/*
 * Create (O_EXCL is not used: an existing file is truncated) a trace file
 * with mode 0600 and write its header. When running under sudo, pass the
 * owner to chown to via trace_writer__set_owner. Returns NULL with errno set:
 * ELOOP when path is a symbolic link (never followed), EPERM when it is a
 * regular file of another user than the caller (or the user sudo ran it for).
 */
struct trace_writer *trace_writer__open(const char *path, const struct pm_trace_info *info);
/* Why the latest trace_writer__open failed: one line naming the path. */
const char *trace_writer__open_error(void);
/* fchown the file (e.g. to SUDO_UID/SUDO_GID). 0 or -errno. */
int trace_writer__set_owner(struct trace_writer *w, uid_t uid, gid_t gid);
/* Append one record; it is buffered into the current chunk. 0 or -errno. */
int trace_writer__append(struct trace_writer *w, const struct pm_record *rec);
/* Compress and write the current chunk if it holds anything. 0 or -errno. */
int trace_writer__flush(struct trace_writer *w);
/*
 * The recording's start, if it is not the one given at open (the session's
 * window opens once the probes are attached): written over a file's header,
 * or into a pipe's before its first write. 0, -EALREADY when a pipe has had
 * its header, or -errno.
 */
int trace_writer__set_start(struct trace_writer *w, uint64_t start_ns, uint64_t start_realtime_ns);
/* Flush when the open chunk is older than max_age_ns (call periodically). */
int trace_writer__maybe_flush(struct trace_writer *w, uint64_t now_ns, uint64_t max_age_ns);
/* Write an END record, flush, fsync and close. 0 or -errno (the file is
 * closed either way). Safe with NULL. */
int trace_writer__close(struct trace_writer *w, const struct pm_end *end);
/* The writer as a sink: record() appends. finish() does nothing (close it). */
struct pm_sink *trace_writer__sink(struct trace_writer *w);
/* Uncompressed and compressed bytes written so far (for stats/bench). */
void trace_writer__stats(const struct trace_writer *w, uint64_t *raw_bytes, uint64_t *file_bytes,
			 uint64_t *records);

struct trace_reader;

/*
 * Open a trace and read its header. On failure returns NULL, sets errno and
 * writes a one-line reason into err (if err is not NULL).
 */
struct trace_reader *trace_reader__open(const char *path, char *err, size_t errlen);
const struct pm_trace_info *trace_reader__info(const struct trace_reader *r);
/*
 * Next record. Returns 1 and fills *rec, 0 at a clean end of file, or a
 * negative errno when the rest of the file cannot be read (truncated or
 * corrupt chunk); trace_reader__error() then says why. Records of chunks
 * that were complete are always delivered before an error is reported.
 * String pointers in *rec stay valid until the next trace_reader__next call
 * (strings from the file's string table live until trace_reader__close, but
 * the rare inline ones, past 2^20 strings, share a buffer that is reused).
 */
int trace_reader__next(struct trace_reader *r, struct pm_record *rec);
const char *trace_reader__error(const struct trace_reader *r);
/* True when an END record was seen (the recording stopped cleanly). */
bool trace_reader__complete(const struct trace_reader *r);
void trace_reader__close(struct trace_reader *r);

/* Variable-length integer coding used inside chunks (LEB128, unsigned and
 * zigzag-signed). Exposed for tests. put returns bytes written (<= 10);
 * get returns bytes consumed, or 0 if the input ends or overflows 64 bits. */
size_t pm_varint_put(uint8_t *buf, uint64_t v);
size_t pm_varint_get(const uint8_t *buf, size_t len, uint64_t *v);
static inline uint64_t pm_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t pm_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif /* PYMAC_TRACE_H */
