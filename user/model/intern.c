// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/intern.h"

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int slots_grow(struct str_intern *in)
{
	uint32_t cap = in->slots_cap ? in->slots_cap * 2 : 1024;
	uint32_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (uint32_t id = 0; id < in->n; id++) {
		uint32_t j = in->hashes[id] & (cap - 1);

		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = id + 1;
	}
	free(in->slots);
	in->slots = slots;
	in->slots_cap = cap;
	return 0;
}

int64_t str_intern__id(struct str_intern *in, const char *name)
{
	uint32_t h = hash_str(name), j, id;

	if (in->slots_cap) {
		for (j = h & (in->slots_cap - 1); in->slots[j]; j = (j + 1) & (in->slots_cap - 1)) {
			id = in->slots[j] - 1;
			if (in->hashes[id] == h && strcmp(in->names[id], name) == 0)
				return id;
		}
	}
	if ((in->n + 1) * 2 > in->slots_cap && slots_grow(in))
		return -ENOMEM;
	if (in->n == in->names_cap) {
		uint32_t cap = in->names_cap ? in->names_cap * 2 : 256;
		char **names = realloc(in->names, cap * sizeof(*names));
		uint32_t *hashes;

		if (!names)
			return -ENOMEM;
		in->names = names;
		hashes = realloc(in->hashes, cap * sizeof(*hashes));
		if (!hashes)
			return -ENOMEM;
		in->hashes = hashes;
		in->names_cap = cap;
	}
	id = in->n;
	in->names[id] = strdup(name);
	if (!in->names[id])
		return -ENOMEM;
	in->hashes[id] = h;
	in->n++;
	for (j = h & (in->slots_cap - 1); in->slots[j]; j = (j + 1) & (in->slots_cap - 1))
		;
	in->slots[j] = id + 1;
	return id;
}

void str_intern__free(struct str_intern *in)
{
	for (uint32_t i = 0; i < in->n; i++)
		free(in->names[i]);
	free(in->names);
	free(in->hashes);
	free(in->slots);
	memset(in, 0, sizeof(*in));
}

size_t str_intern__memory(const struct str_intern *in)
{
	size_t sum =
	    in->slots_cap * sizeof(uint32_t) + in->names_cap * (sizeof(char *) + sizeof(uint32_t));

	for (uint32_t i = 0; i < in->n; i++)
		sum += strlen(in->names[i]) + 1;
	return sum;
}
