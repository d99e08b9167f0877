/* SPDX-License-Identifier: MIT */
/*
 * The models' (summary, timeline, exports) index of their per-process
 * objects by pid (util/hashmap.h) over pointers to the caller's objects,
 * which hold their pid as a uint32_t at key_off. The objects stay the
 * caller's; the index only finds them.
 */
#ifndef PYMAC_PIDINDEX_H
#define PYMAC_PIDINDEX_H

#include <stddef.h>
#include <stdint.h>
#include "util/hashmap.h"

struct pid_index {
	struct u64map map; /* pid + 1 -> the object */
	size_t key_off;	   /* offsetof(the caller's type, pid) */
	void *last;	   /* the last found or made: events come in runs of one pid */
};

#define PID_INDEX_INIT(type) ((struct pid_index){.key_off = offsetof(type, pid)})

void *pid_index__find(struct pid_index *x, uint32_t pid);
/* Index obj (its pid not indexed yet). 0 or -ENOMEM. */
int pid_index__add(struct pid_index *x, void *obj);
/* Room for n objects at a load of at most a quarter. 0 or -ENOMEM. */
int pid_index__reserve(struct pid_index *x, size_t n);
/* Forget every object (keeping the room), e.g. before adding back those
 * that stay. */
void pid_index__reset(struct pid_index *x);
/*
 * A new object for pid: size bytes, zeroed, its pid set, indexed, and
 * appended to the caller's array *vec (n used, *cap room; grown as needed).
 * NULL on ENOMEM, with nothing changed.
 */
void *pid_index__make(struct pid_index *x, uint32_t pid, size_t size, void ***vec, size_t *n,
		      size_t *cap);
void pid_index__free(struct pid_index *x);
size_t pid_index__memory(const struct pid_index *x);

#endif /* PYMAC_PIDINDEX_H */
