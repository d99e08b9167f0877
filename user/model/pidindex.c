// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/pidindex.h"
#include "util/grow.h"

static uint32_t key(const struct pid_index *x, const void *obj)
{
	uint32_t pid;

	memcpy(&pid, (const char *)obj + x->key_off, sizeof(pid));
	return pid;
}

/* pid 0 is a process too (a record of an unknown one): keys are pid + 1 */
static inline uint64_t map_key(uint32_t pid)
{
	return (uint64_t)pid + 1;
}

void *pid_index__find(struct pid_index *x, uint32_t pid)
{
	struct u64map_ent *e;

	if (x->last && key(x, x->last) == pid)
		return x->last;
	e = u64map__find(&x->map, map_key(pid));
	if (!e)
		return NULL;
	return x->last = (void *)(uintptr_t)e->val;
}

int pid_index__reserve(struct pid_index *x, size_t n)
{
	/* a quarter full: the next look is at least a quarter of the room away */
	return u64map__reserve(&x->map, n > UINT32_MAX / 3 ? UINT32_MAX : (uint32_t)(n * 3));
}

int pid_index__add(struct pid_index *x, void *obj)
{
	return u64map__put(&x->map, map_key(key(x, obj)), (uintptr_t)obj) ? 0 : -ENOMEM;
}

void pid_index__reset(struct pid_index *x)
{
	u64map__reset(&x->map);
	x->last = NULL;
}

void pid_index__free(struct pid_index *x)
{
	u64map__free(&x->map);
	x->last = NULL;
}

size_t pid_index__memory(const struct pid_index *x)
{
	return u64map__memory(&x->map);
}

void *pid_index__make(struct pid_index *x, uint32_t pid, size_t size, void ***vec, size_t *n,
		      size_t *cap)
{
	void *obj;

	if (*n == *cap) {
		void **v = PM_GROW(*vec, cap, *n + 1, 64);

		if (!v)
			return NULL;
		*vec = v;
	}
	obj = calloc(1, size);
	if (!obj)
		return NULL;
	memcpy((char *)obj + x->key_off, &pid, sizeof(pid));
	if (pid_index__add(x, obj)) {
		free(obj);
		return NULL;
	}
	(*vec)[(*n)++] = obj;
	return x->last = obj;
}
