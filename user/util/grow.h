/* SPDX-License-Identifier: MIT */
/* Arrays that grow by doubling: the one way pymac makes room in them. */
#ifndef PYMAC_GROW_H
#define PYMAC_GROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Room for need elements of size bytes in arr, whose capacity is *cap:
 * the capacity doubles (starting from first) until need fits. Returns the
 * array to use from now on, and sets *cap; arr itself when it is already
 * large enough. NULL when memory runs out or the bytes would not fit a
 * size_t: arr and *cap are then as they were, and arr is still the
 * caller's to free. need must be at least 1.
 */
static inline void *pm_grow(void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t n = *cap ? *cap : (first ? first : 1);
	void *v;

	if (need <= *cap)
		return arr;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	if (n > SIZE_MAX / size)
		return NULL;
	v = realloc(arr, n * size);
	if (v)
		*cap = n;
	return v;
}

/* pm_grow for an array of the type arr points to. */
#define PM_GROW(arr, cap, need, first) pm_grow((arr), (cap), (need), sizeof(*(arr)), (first))

#endif /* PYMAC_GROW_H */
