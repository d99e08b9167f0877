// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/intern.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h ? h : 1;
}

int64_t str_intern__id(struct str_intern *in, const char *name)
{
	uint64_t k = hash_str(name);
	struct u64map_ent *e;
	uint32_t id;

	for (;; k = k + 1 ? k + 1 : 1) {
		e = u64map__find(&in->ids, k);
		if (!e)
			break;
		if (strcmp(in->names[e->val], name) == 0)
			return (int64_t)e->val;
	}
	if (in->n == in->names_cap) {
		uint32_t cap = in->names_cap ? in->names_cap * 2 : 256;
		char **names = realloc(in->names, cap * sizeof(*names));

		if (!names)
			return -ENOMEM;
		in->names = names;
		in->names_cap = cap;
	}
	id = in->n;
	in->names[id] = strdup(name);
	if (!in->names[id])
		return -ENOMEM;
	if (!u64map__put(&in->ids, k, id)) {
		free(in->names[id]);
		return -ENOMEM;
	}
	in->n++;
	return id;
}

void str_intern__free(struct str_intern *in)
{
	for (uint32_t i = 0; i < in->n; i++)
		free(in->names[i]);
	free(in->names);
	u64map__free(&in->ids);
	memset(in, 0, sizeof(*in));
}

size_t str_intern__memory(const struct str_intern *in)
{
	size_t sum = u64map__memory(&in->ids) + in->names_cap * sizeof(char *);

	for (uint32_t i = 0; i < in->n; i++)
		sum += strlen(in->names[i]) + 1;
	return sum;
}
