/* SPDX-License-Identifier: MIT */
/*
 * Byte-level constants of the trace file format (docs/trace-format.md).
 * Private to trace.c and its tests; users go through trace.h.
 */
#ifndef PYMAC_TRACE_FORMAT_H
#define PYMAC_TRACE_FORMAT_H

#include <stdint.h>

/* File header: magic[8] version:u32 header_len:u32 start_ns:u64
 * start_realtime_ns:u64 flags:u32 crc32:u32, all little-endian. The magic
 * holds CR, LF and ^Z so that text-mode mangling is caught (as PNG does). */
#define PM_TRACE_MAGIC	    "\x89PMT\r\n\x1a\n"
#define PM_TRACE_MAGIC_LEN  8
#define PM_TRACE_HDR_LEN    40
#define PM_TRACE_HDR_CRC_AT 36

/* Chunk header: magic:u32 raw_len:u32 comp_len:u32 records:u32 first_ts:u64
 * data_crc32:u32 header_crc32:u32, all little-endian. */
#define PM_CHUNK_MAGIC	    0x4b434d50u /* "PMCK" on disk */
#define PM_CHUNK_HDR_LEN    32
#define PM_CHUNK_HDR_CRC_AT 28

/* A chunk is closed once its encoded records reach this size. 64 KiB keeps
 * zlib's window full while bounding what a crash can lose. */
#define PM_CHUNK_TARGET (64u * 1024)

/* Reader limits (the writer stays below all of them). */
#define PM_CHUNK_MAX_RAW    (16u * 1024 * 1024)
#define PM_MAX_STRING	    (64u * 1024)
#define PM_MAX_STRINGS	    (1u << 20)
#define PM_MAX_STRING_BYTES (64ull * 1024 * 1024)
#define PM_MAX_TYPES	    (1u << 20)

/* zlib level: see docs/trace-format.md for the measurement behind it. */
#ifndef PM_TRACE_ZLEVEL
#define PM_TRACE_ZLEVEL 1
#endif

/* Record tags. The low nibble is the event kind (1..13), or 0 for the
 * other records, whose type is then the high nibble. */
#define PM_TAG_CODE_MASK 0x0f
#define PM_TAG_STRING	 0x10 /* string table definition */
#define PM_TAG_TYPE	 0x20 /* type table definition */
#define PM_TAG_PROCESS	 0x30
#define PM_TAG_SOURCE	 0x40
#define PM_TAG_LOST	 0x50
#define PM_TAG_META	 0x60
#define PM_TAG_END	 0x70
#define PM_TAG_CONTAINER 0x80 /* from version 2 on */
/* Version 5: a prefix that gives the next record, a py_free or py_realloc,
 * its (old) block's size (PM_BLOCK_*); never written for PM_BLOCK_UNKNOWN. */
#define PM_TAG_BLOCK 0x90

/* Flags in the high nibble of an event tag. */
#define PM_EV_SAME_PID	  0x10
#define PM_EV_SAME_TID	  0x20
#define PM_EV_SAME_CGROUP 0x40
#define PM_EV_NO_OLD_ADDR 0x80 /* alloc kinds only: old_addr is 0 */
#define PM_EV_RECENT	  0x80 /* v4, frees and dealloc: address by recency index */

/* Version 4 address predictors (per family, reset with every chunk): the
 * last PM_RECENT_ADDRS allocated addresses, and the last address seen in
 * each of PM_SIZE_CLASSES classes of 16 bytes (sizes 1..1024). */
#define PM_RECENT_ADDRS	    256
#define PM_SIZE_CLASSES	    64
#define PM_SIZE_CLASS_SHIFT 4

/*
 * Writer-side limits on the string and type tables; past them strings and
 * types are written inline. Variables (not constants) so that tests can
 * reach the inline paths without a million distinct strings.
 */
extern uint32_t trace__writer_max_strings;
extern uint32_t trace__writer_max_types;

#endif /* PYMAC_TRACE_FORMAT_H */
