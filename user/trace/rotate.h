/* SPDX-License-Identifier: MIT */
/*
 * A trace that rotates (`pymac record --rotate-mb N --keep K`): the
 * recording goes to FILE until it holds N MiB, then FILE is closed (with its
 * END record) and moved aside as FILE.1 (the .1 before a ".pmt" ending:
 * t.pmt -> t.1.pmt; older ones shift up to K, the oldest goes), and a new
 * FILE begins. Each file is a trace of its own: it has its header, and it
 * starts with the state that its events need, as the stream last said it:
 * the metadata, the running containers, the live processes and their
 * sources' coverage. Lost counts start again from 0 in each file. What the
 * rotor keeps for that is bounded by what is alive: an exited process and
 * a stopped container are dropped.
 *
 * Without a size (0), it is one trace_writer that never rotates.
 */
#ifndef PYMAC_ROTATE_H
#define PYMAC_ROTATE_H

#include <stdint.h>
#include "feed/record.h"
#include "trace/trace.h"

struct trace_rotor;

/* Open path as trace_writer__open does (under sudo, each file is the sudo
 * user's). max_bytes 0: never rotate; keep: rotated files kept (>= 1). NULL
 * with errno, and trace_writer__open_error() says why. */
struct trace_rotor *trace_rotor__open(const char *path, const struct pm_trace_info *info,
				      uint64_t max_bytes, unsigned keep);
/* The file being written now (for trace_writer__set_start before any
 * rotation). */
struct trace_writer *trace_rotor__writer(const struct trace_rotor *r);
/* Its sink: record() keeps the state a new file needs and appends. */
struct pm_sink *trace_rotor__sink(struct trace_rotor *r);
/*
 * The periodic flush (trace_writer__maybe_flush), then, when the file holds
 * max_bytes, the rotation at now_ns. 0 or -errno (why: one line).
 */
int trace_rotor__maybe_flush(struct trace_rotor *r, uint64_t now_ns, uint64_t max_age_ns, char *why,
			     size_t whylen);
/* Files finished by rotation so far. */
unsigned trace_rotor__rotations(const struct trace_rotor *r);
/* Close the file being written (END with end, unless NULL; its events are
 * those of this file) and free everything. 0 or -errno. Safe with NULL. */
int trace_rotor__close(struct trace_rotor *r, const struct pm_end *end);

#endif /* PYMAC_ROTATE_H */
