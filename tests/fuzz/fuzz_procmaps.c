// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: /proc/PID/maps parsing (user/attach/procmaps.c), of a whole text
 * and of its first line as a C string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach/procmaps.h"

static volatile size_t sink;

static void check_entry(const struct maps_entry *e)
{
	if (e->end < e->start || strnlen(e->perms, sizeof(e->perms)) != 4 ||
	    strnlen(e->path, sizeof(e->path)) == sizeof(e->path))
		abort();
	sink += e->start + strlen(e->path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maps_entry *v, one;
	size_t n;
	char *copy;

	/* exactly size bytes: the text parser must not read past them */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (procmaps__parse_text(copy, size, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			check_entry(&v[i]);
		free(v);
	}
	free(copy);

	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (procmaps__parse_line(copy, &one) == 0)
		check_entry(&one);
	free(copy);
	return 0;
}
