/* SPDX-License-Identifier: MIT */
/* A sink that hands every record to several sinks, in order. */
#ifndef PYMAC_SINKS_H
#define PYMAC_SINKS_H

#include "feed/record.h"

#define SINK_TEE_MAX 8

struct sink_tee {
	struct pm_sink base;
	struct pm_sink *out[SINK_TEE_MAX];
	int n;
};

void sink_tee__init(struct sink_tee *t);
/* 0, or -ENOSPC when full. */
int sink_tee__add(struct sink_tee *t, struct pm_sink *s);

#endif /* PYMAC_SINKS_H */
