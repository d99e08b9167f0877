/* SPDX-License-Identifier: MIT */
/*
 * The privileges a command needs, checked before it creates or loads
 * anything, so that a missing capability is one clear line instead of a
 * trace full of "Permission denied" coverage.
 *
 * On this kernel (6.18) the uprobe PMU (perf_event_open type "uprobe")
 * checks CAP_SYS_ADMIN, not CAP_PERFMON: CAP_BPF + CAP_PERFMON load the
 * programs but cannot attach a single uprobe. CAP_SYS_ADMIN also passes the
 * kernel's CAP_BPF and CAP_PERFMON checks. Reading another user's
 * /proc/PID/maps and /proc/PID/root needs CAP_SYS_PTRACE; reading Docker's
 * files (container names when the Engine socket is closed to us, image
 * layers) needs CAP_DAC_READ_SEARCH.
 */
#ifndef PYMAC_CAPS_H
#define PYMAC_CAPS_H

#include <stdbool.h>

struct target_opts;

/* Is capability cap (CAP_*) in this process's effective set? */
bool caps__have(int cap);

/*
 * Check what `cmd` (record, live: t names the targets; ps: t is NULL)
 * needs. 0 when everything is there; else prints one line naming what is
 * missing and how to run pymac, and returns 1 (the exit status to use).
 */
int caps__check(const char *cmd, const struct target_opts *t);

#endif /* PYMAC_CAPS_H */
