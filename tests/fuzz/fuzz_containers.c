// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: what pymac reads from Docker (user/attach/containers.c): an
 * Engine API answer (HTTP head + body), the JSON of GET /containers/<id>/json
 * or a config.v2.json file, the JSON of GET /containers/json, and podman's
 * containers/storage containers.json. Every input goes through all four
 * parsers, and the body of an accepted HTTP answer through the JSON
 * parsers, as the Engine client does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach/containers.h"

static volatile size_t sink;

static void check_info(const struct container_info *info)
{
	/* every string must be terminated inside its field */
	sink += strnlen(info->id, sizeof(info->id)) + strnlen(info->name, sizeof(info->name)) +
		strnlen(info->image, sizeof(info->image)) +
		strnlen(info->project, sizeof(info->project)) +
		strnlen(info->service, sizeof(info->service));
	if (strnlen(info->name, sizeof(info->name)) == sizeof(info->name) ||
	    strnlen(info->image, sizeof(info->image)) == sizeof(info->image) ||
	    strnlen(info->project, sizeof(info->project)) == sizeof(info->project) ||
	    strnlen(info->service, sizeof(info->service)) == sizeof(info->service) ||
	    strnlen(info->id, sizeof(info->id)) == sizeof(info->id))
		abort();
}

static void parse_json(const char *buf, size_t len)
{
	struct container_info info, *list;
	size_t n;

	if (container_info__parse_inspect(buf, len, &info) == 0)
		check_info(&info);
	if (container_info__parse_list(buf, len, &list, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			check_info(&list[i]);
		free(list);
	}
	if (container_info__parse_storage(buf, len, &list, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			check_info(&list[i]);
		free(list);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *body;
	size_t body_len;
	char *copy;
	int status;

	if (container_http__parse(buf, size, &status, &body, &body_len) == 0) {
		if (body < buf || body + body_len > buf + size || status < 100 || status > 999)
			abort();
		/* container_engine__get hands on exactly the body, NUL-terminated */
		copy = malloc(body_len + 1);
		if (!copy)
			return 0;
		memcpy(copy, body, body_len);
		copy[body_len] = '\0';
		parse_json(copy, body_len);
		free(copy);
	}
	/* not NUL-terminated: the parsers take a length */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	parse_json(copy, size);
	free(copy);
	return 0;
}
