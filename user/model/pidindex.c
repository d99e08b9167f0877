// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/addrtab.h"
#include "model/pidindex.h"

static uint32_t key(const struct pid_index *x, const void *obj)
{
	uint32_t pid;

	memcpy(&pid, (const char *)obj + x->key_off, sizeof(pid));
	return pid;
}

static void place(void **slots, size_t cap, uint32_t pid, void *obj)
{
	size_t j;

	for (j = pm_hash_u32(pid) & (cap - 1); slots[j]; j = (j + 1) & (cap - 1))
		;
	slots[j] = obj;
}

static int grow_to(struct pid_index *x, size_t cap)
{
	void **slots;

	if (cap <= x->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < x->cap; i++)
		if (x->slots[i])
			place(slots, cap, key(x, x->slots[i]), x->slots[i]);
	free(x->slots);
	x->slots = slots;
	x->cap = cap;
	return 0;
}

void *pid_index__find(struct pid_index *x, uint32_t pid)
{
	size_t j;

	if (x->last && key(x, x->last) == pid)
		return x->last;
	if (!x->cap)
		return NULL;
	for (j = pm_hash_u32(pid) & (x->cap - 1); x->slots[j]; j = (j + 1) & (x->cap - 1))
		if (key(x, x->slots[j]) == pid)
			return x->last = x->slots[j];
	return NULL;
}

int pid_index__reserve(struct pid_index *x, size_t n)
{
	size_t cap = x->cap ? x->cap : 256;

	while (n * 4 > cap)
		cap *= 2;
	return grow_to(x, cap);
}

int pid_index__add(struct pid_index *x, void *obj)
{
	size_t cap = x->cap ? x->cap : 256;

	while ((x->len + 1) * 2 > cap)
		cap *= 2;
	if (grow_to(x, cap))
		return -ENOMEM;
	place(x->slots, x->cap, key(x, obj), obj);
	x->len++;
	return 0;
}

void pid_index__reset(struct pid_index *x)
{
	if (x->cap)
		memset(x->slots, 0, x->cap * sizeof(*x->slots));
	x->len = 0;
	x->last = NULL;
}

void pid_index__free(struct pid_index *x)
{
	free(x->slots);
	x->slots = NULL;
	x->cap = x->len = 0;
	x->last = NULL;
}

size_t pid_index__memory(const struct pid_index *x)
{
	return x->cap * sizeof(*x->slots);
}

void *pid_index__make(struct pid_index *x, uint32_t pid, size_t size, void ***vec, size_t *n,
		      size_t *cap)
{
	void *obj;

	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		void **v = realloc(*vec, c * sizeof(*v));

		if (!v)
			return NULL;
		*vec = v;
		*cap = c;
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
