/* SPDX-License-Identifier: MIT */
/*
 * Opening a file pymac writes (a trace, an export), safely.
 *
 * pymac runs as root, and its output names are often in directories other
 * users can write (/tmp). So:
 *  - the directory is reached without following a symbolic link that is
 *    not root's or the user's own (openat2(RESOLVE_NO_SYMLINKS) first; when
 *    that refuses, a walk one component at a time with O_NOFOLLOW, which
 *    follows only such trusted links: /var/run -> /run is root's);
 *  - the name itself is never a link, a FIFO, a socket, a device or a
 *    directory: a stream is asked for as "-" (standard output);
 *  - an existing file must be the user's (the euid's, or the user sudo ran
 *    pymac for);
 *  - nothing is opened in a way that can block (O_NONBLOCK, then cleared);
 *  - PM_OUT_REPLACE writes a new file beside the target and renames it over
 *    the target at the end, only if the target is still a regular file or
 *    nothing: a failed export leaves no partial file and the old one whole.
 *    PM_OUT_IN_PLACE writes the file itself (truncated), so that a
 *    recording cut short is found under its name.
 * Every refusal has a one-line reason that names the path.
 */
#ifndef PYMAC_OUTFILE_H
#define PYMAC_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum pm_out_mode { PM_OUT_REPLACE, PM_OUT_IN_PLACE };

struct pm_out {
	int fd;	   /* write here */
	int dirfd; /* the directory, as opened */
	enum pm_out_mode mode;
	char *path; /* as given, for messages */
	char *name; /* the last component */
	char *tmp;  /* PM_OUT_REPLACE: the new file's name in the directory */
};

/*
 * Open path for writing (mode 0600). 0, or a negative errno with a reason
 * in why ("cannot write /tmp/x: it is a FIFO; ..."). On success the caller
 * writes o->fd and ends with pm_out_commit or pm_out_abort.
 */
int pm_out_open(struct pm_out *o, const char *path, enum pm_out_mode mode, char *why,
		size_t whylen);
/*
 * PM_OUT_REPLACE: fsync and close o->fd (unless fd_closed: the caller's
 * stdio closed it), then rename the new file over the target. PM_OUT_IN_PLACE:
 * nothing happens to o->fd (the caller closes it). 0, or -errno with why.
 */
int pm_out_commit(struct pm_out *o, bool fd_closed, char *why, size_t whylen);
/* Give up: close o->fd (unless fd_closed), remove the new file (REPLACE). */
void pm_out_abort(struct pm_out *o, bool fd_closed);

/*
 * The name of rotated file n (n >= 1) of path: "t.pmt" -> "t.1.pmt", a name
 * without ".pmt" gets ".1" at its end. Malloc'd; NULL on ENOMEM.
 */
char *pm_out_rotated_name(const char *path, unsigned n);
/*
 * Move path's file aside as rotated file 1, after shifting the rotated ones
 * up (1 -> 2, ..., keep-1 -> keep; the one at keep is replaced, so at most
 * keep are kept). The directory is reached as pm_out_open reaches it, and
 * every name moved or replaced must be a regular file of the user's, or
 * nothing. 0, or -errno with why (the files moved until then stay moved).
 */
int pm_out_rotate(const char *path, unsigned keep, char *why, size_t whylen);

/* The uid sudo ran pymac for (SUDO_UID, only when euid is 0), or -1. */
uid_t pm_sudo_uid(void);
/* The user and group sudo ran pymac for (SUDO_UID and SUDO_GID, only when
 * euid is 0): true with both set, false when there are none. */
bool pm_sudo_owner(uid_t *uid, gid_t *gid);

#endif /* PYMAC_OUTFILE_H */
