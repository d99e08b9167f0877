/* SPDX-License-Identifier: MIT */
/*
 * The containers piece's insides (attach/containers.h), shared by
 * containers.c (cgroup path shapes: which container a process is in),
 * containers_json.c (Docker's JSON documents), containers_docker.c (asking
 * Docker: the Engine API, then config.v2.json files) and
 * containers_cgroup2.c (cgroup v2 ids, paths and pids). Not for other pieces.
 */
#ifndef PYMAC_CONTAINERS_IMPL_H
#define PYMAC_CONTAINERS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include "attach/containers.h"

/* Is s[0..len) a full container id (CONTAINER_ID_LEN lowercase hex digits)? */
bool ct_is_hex_id(const char *s, size_t len);
/* Read a small file whole; NUL-terminated, malloc'ed; never through a link. */
int ct_read_file(const char *path, size_t max, char **out, size_t *outlen);

/* When an Engine API call started now must have its answer (ms, CLOCK_MONOTONIC). */
long long ct_engine_deadline_ms(void);
/*
 * Connect to the Engine socket and send GET path (HTTP/1.0) before the
 * deadline; *fdp is the nonblocking socket, to read the answer from.
 * 0 or -errno (-EINVAL for a path with characters a query does not need).
 */
int ct_engine_request(const char *method, const char *path, const char *json,
		      long long deadline_ms, int *fdp);

#endif /* PYMAC_CONTAINERS_IMPL_H */
