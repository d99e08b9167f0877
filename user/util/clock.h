/* SPDX-License-Identifier: MIT */
/* The one clock of pymac's timestamps: CLOCK_MONOTONIC, the clock
 * bpf_ktime_get_ns reads, so user-space records and BPF records compare. */
#ifndef PYMAC_CLOCK_H
#define PYMAC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t pm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The wall clock, for the trace header's start time only. */
static inline uint64_t pm_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* PYMAC_CLOCK_H */
