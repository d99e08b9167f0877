/* SPDX-License-Identifier: MIT */
/*
 * The targets piece's insides (attach/targets.h), shared by targets.c
 * (processes, commands, a container's python) and targets_files.c (their
 * files, opened inside their root, pinned, through overlay layers). Not for
 * other pieces.
 */
#ifndef PYMAC_TARGETS_IMPL_H
#define PYMAC_TARGETS_IMPL_H

#include <sys/types.h>
#include "attach/procmaps.h"
#include "attach/targets.h"

/*
 * The file at path inside pid's root (pid 0: the host's own path, which
 * pymac's user named). 0 or -errno; on error host_path is "" and nothing
 * can open it.
 */
int tg_fill_binary(struct target_binary *b, pid_t pid, const char *path);
/*
 * A binary a process maps (entry m of its maps): the file at its path when
 * that is still the mapped one, else the mapped file itself.
 */
void tg_fill_mapped_binary(struct target_binary *b, pid_t pid, const struct maps_entry *m);

#endif /* PYMAC_TARGETS_IMPL_H */
