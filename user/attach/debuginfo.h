/* SPDX-License-Identifier: MIT */
/*
 * Finding the separate debug information (DWARF) of a binary the way
 * debuggers do, so that an optimized, stripped interpreter can still be
 * probed wherever its allocator was inlined:
 *   1. by build-id: DIR/.build-id/xx/rest.debug, for each debug directory
 *      DIR, inside the target's root and on the host (a build-id names the
 *      exact build, so a host copy is as good);
 *   2. by .gnu_debuglink (name + CRC-32 of the file) in the binary's own
 *      directory, its .debug/ subdirectory and DIR/<binary's directory>,
 *      inside the target's root;
 *   3. from debuginfod servers, when DEBUGINFOD_URLS is set (libdebuginfod
 *      downloads into its cache: $DEBUGINFOD_CACHE_PATH, else
 *      ~/.cache/debuginfod_client).
 * Every candidate must carry the binary's build-id (or the debuglink's CRC,
 * for a binary without build-id) and DWARF; anything else is skipped.
 *
 * The debug directories are /usr/lib/debug unless configured: the
 * --debug-dir option of record/live, or the environment variable
 * PYMAC_DEBUG_DIRS (colon-separated, also read by ps) replace that default,
 * as gdb's debug-file-directory does. PYMAC_DEBUG_DIRS="" searches no
 * directory at all.
 */
#ifndef PYMAC_DEBUGINFO_H
#define PYMAC_DEBUGINFO_H

#include <stddef.h>
#include <sys/types.h>

struct elf_file;

/* Add a debug directory (absolute path); the first call replaces the
 * default. 0, -EINVAL (not absolute, too long) or -E2BIG (too many). */
int debuginfo__add_dir(const char *dir);

struct debuginfo_query {
	const struct elf_file *bin; /* the binary, already open */
	const char *path;	    /* its path as the target sees it */
	/* look inside this process's root; 0: the host is the target's root;
	 * -1: unknown (then only build-id and debuginfod, never a path) */
	pid_t root_pid;
};

/*
 * Open the debug file of q->bin. NULL with errno ENOENT when none is found
 * (or other errno). how: one line saying where it came from, e.g.
 * "build-id c561f3aa… in /usr/lib/debug", or, on failure, what was tried.
 */
struct elf_file *debuginfo__open(const struct debuginfo_query *q, char *how, size_t howlen);

/* CRC-32 of a file's contents as .gnu_debuglink uses it. 0 or -errno. */
int debuginfo__file_crc(int fd, unsigned int *crc);

#endif /* PYMAC_DEBUGINFO_H */
