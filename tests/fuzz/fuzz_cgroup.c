// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the cgroup parsers of user/attach/containers.c: /proc/PID/cgroup
 * text, cgroup path shapes (Docker, containerd, CRI-O, podman, kubepods), and
 * the cgroup2 line of /proc/self/mountinfo. Each input goes to all three.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach/containers.h"

static volatile size_t sink;

static void check_ref(const struct container_ref *ref)
{
	size_t n = strnlen(ref->id, sizeof(ref->id));

	/* an id is either absent or a full one */
	if (n != 0 && n != CONTAINER_ID_LEN)
		abort();
	if (ref->runtime == CONTAINER_HOST && n)
		abort();
	sink += n + strlen(container_runtime__name(ref->runtime));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char cgpath[CONTAINER_CGPATH_MAX], small[16], mnt[PATH_MAX];
	struct container_ref ref;
	char *copy;

	/* the length is exact: no terminating NUL after the text */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (container_ref__from_cgroup_text(copy, size, &ref, cgpath, sizeof(cgpath)) == 0) {
		check_ref(&ref);
		sink += strnlen(cgpath, sizeof(cgpath));
		if (strnlen(cgpath, sizeof(cgpath)) == sizeof(cgpath))
			abort();
	}
	if (container_ref__from_cgroup_text(copy, size, &ref, small, sizeof(small)) == 0)
		check_ref(&ref);
	if (container_ref__from_cgroup_text(copy, size, &ref, NULL, 0) == 0)
		check_ref(&ref);
	if (cgroup2__mount_from_mountinfo(copy, size, mnt, sizeof(mnt)) == 0)
		sink += strlen(mnt);
	if (cgroup2__mount_from_mountinfo(copy, size, small, sizeof(small)) == 0)
		sink += strlen(small);
	free(copy);

	/* the path parser takes a C string */
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (container_ref__from_cgroup_path(copy, &ref) == 0)
		check_ref(&ref);
	free(copy);
	return 0;
}
