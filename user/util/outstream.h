/* SPDX-License-Identifier: MIT */
/*
 * A stdio stream onto an output descriptor (plain, or gzip) that keeps why
 * its first write failed and how many bytes went out before it.
 *
 * stdio's ferror says only that a write failed: errno is gone by the time a
 * sink asks, and a later fflush or fclose can say EIO for it. The feed reads
 * the cause from here (feed__add_output), so every sink that writes through
 * such a stream is reported with the real one (ENOSPC, EPIPE, EIO, ...).
 */
#ifndef PYMAC_OUTSTREAM_H
#define PYMAC_OUTSTREAM_H

#include <stdbool.h>
#include <stdio.h>

struct pm_stream {
	FILE *f;		  /* write here */
	int err;		  /* -errno of the first failed write, else 0 */
	unsigned long long bytes; /* taken by the descriptor (before compression) */
	bool kept; /* what was written stays (a stream, not a file removed on failure) */
	int fd;
	bool own_fd; /* close fd with the stream */
	void *gz;    /* the gzFile when compressing */
};

/*
 * A stream onto fd, gzip-compressed when gz. own_fd: pm_stream__close
 * closes fd (and, when this fails, fd is closed here). 0, or a negative errno.
 */
int pm_stream__open(struct pm_stream *s, int fd, bool gz, bool own_fd);
/* Flush and close. 0, or the first error (the write's own cause if one
 * failed before). */
int pm_stream__close(struct pm_stream *s);
/* The first error so far: a write's, else what ferror says (-EIO), else 0. */
int pm_stream__error(const struct pm_stream *s);

#endif /* PYMAC_OUTSTREAM_H */
