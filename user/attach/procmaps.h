/* SPDX-License-Identifier: MIT */
/* Parsing /proc/PID/maps. */
#ifndef PYMAC_PROCMAPS_H
#define PYMAC_PROCMAPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct maps_entry {
	uint64_t start, end, offset;
	uint64_t inode;
	unsigned dev_major, dev_minor;
	char perms[5];       /* "r-xp" */
	char path[PATH_MAX]; /* as the process sees it; "" for anonymous */
	bool deleted;        /* path ended in " (deleted)" (suffix removed) */
};

/* Parse one line of /proc/PID/maps (with or without trailing newline).
 * 0, or -EINVAL for a malformed line. */
int procmaps__parse_line(const char *line, struct maps_entry *out);
/* Read all entries of a process. *out is malloc'ed. 0, or -errno
 * (-ENOENT: no such process). */
int procmaps__read(pid_t pid, struct maps_entry **out, size_t *n);
/* Same, from a text buffer (tests, fuzzing). Malformed lines are skipped. */
int procmaps__parse_text(const char *text, size_t len, struct maps_entry **out, size_t *n);

#endif /* PYMAC_PROCMAPS_H */
