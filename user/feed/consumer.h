/* SPDX-License-Identifier: MIT */
/* Consuming the BPF ring buffer: raw records -> pm_record -> a sink. */
#ifndef PYMAC_CONSUMER_H
#define PYMAC_CONSUMER_H

#include <stddef.h>
#include <stdint.h>
#include "feed/record.h"

/*
 * Decode one ring buffer record into rec (strings point into data, which
 * must be writable: fixed-size strings are NUL-terminated in place).
 * 0, or -EINVAL for a record of unknown kind or wrong size.
 */
int pm_record_from_bpf(void *data, size_t size, struct pm_record *rec);

struct consumer;

struct consumer *consumer__new(int ringbuf_fd, struct pm_sink *sink);
void consumer__free(struct consumer *c);
/* Wait up to timeout_ms for records and hand them to the sink. Returns the
 * number consumed, or -errno (-EINTR is not an error worth stopping for). */
int consumer__poll(struct consumer *c, int timeout_ms);
/*
 * Hand at most max_per_poll records to the sink per consumer__poll (0: no
 * limit, the default), so that a caller with a screen to redraw gets control
 * back even when the producer outruns it; the ring buffer then fills and BPF
 * counts the drops. consumer__drain always takes everything.
 */
void consumer__set_budget(struct consumer *c, unsigned max_per_poll);
/* Leave out (and do not count) every event stamped at cut_ns or later: the
 * end of the tracing window (session__end_window). */
void consumer__set_cut(struct consumer *c, uint64_t cut_ns);
/* The ring buffer's epoll fd: readable when records are waiting (poll(2)). */
int consumer__fd(const struct consumer *c);
/* Consume what is there now without waiting. */
int consumer__drain(struct consumer *c);
uint64_t consumer__events(const struct consumer *c);
uint64_t consumer__malformed(const struct consumer *c);
/* First error a sink returned (0 if none). */
int consumer__sink_error(const struct consumer *c);

#endif /* PYMAC_CONSUMER_H */
