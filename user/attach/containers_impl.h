/* SPDX-License-Identifier: MIT */
/*
 * The containers piece's insides (attach/containers.h), shared by
 * containers.c (cgroup path shapes: which container a process is in),
 * containers_json.c (the engines' JSON documents), containers_docker.c
 * (asking Docker: the Engine API, then config.v2.json files),
 * containers_podman.c (asking podman: its Docker-compatible API, then
 * containers/storage's files) and containers_cgroup2.c (cgroup v2 ids,
 * paths and pids). Not for other pieces.
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
 * Connect to the engine socket sock (NULL: Docker's) and send method path
 * (HTTP/1.0, json its body if not NULL) before the deadline; *fdp is the
 * nonblocking socket, to read the answer from. 0 or -errno (-EINVAL for a
 * path with characters a query does not need).
 */
int ct_engine_request(const char *sock, const char *method, const char *path, const char *json,
		      long long deadline_ms, int *fdp);
/* Could key be an id prefix (1..64 lowercase hex digits)? A name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)? */
bool ct_key_is_hex(const char *key);
bool ct_key_is_name(const char *key);
/* The container of v named key, else the one whose id key is a prefix of. 0, -ENOENT, -ENOTUNIQ. */
int ct_match_key(const struct container_info *v, size_t n, const char *key,
		 struct container_info *info);
/* Does the error say nothing answers on the socket (so ask the engine's files)? */
bool ct_engine_down(int err);

/* container_engine__get on another engine's socket (podman's compatible API). */
int ct_engine_get(const char *sock, const char *path, int *status, char **body, size_t *body_len);
/*
 * GET /containers/<key>/json on sock: 0, -ENOENT (404), -EPROTO, a parse or
 * socket error. *down: nothing answers there (a missing socket is -ENOENT too).
 */
int ct_engine_lookup(const char *sock, const char *key, struct container_info *info, bool *down);
/* GET /containers/json on sock, with the pid of each running one. *out is malloc'ed. */
int ct_engine_list(const char *sock, bool all, struct container_info **out, size_t *n);

/*
 * Fill cgroup_id of a running container: from its pid's cgroup when that
 * process is in it, else (trust_pid: the engine said so) from the places
 * its runtime's cgroup drivers use. Untrusted, a pid not in the container
 * means it is not running.
 */
void ct_fill_cgroup(struct container_info *info, bool trust_pid);
/* ct_fill_cgroup each of v, keeping only running ones unless all; the count kept. */
size_t ct_list_finish(struct container_info *v, size_t cnt, bool all, bool trust_pid);

/* podman's containers (containers_podman.c): like container_info__lookup and __list. */
int ct_podman_lookup(const char *key, struct container_info *info);
int ct_podman_list(bool all, struct container_info **out, size_t *n);

#endif /* PYMAC_CONTAINERS_IMPL_H */
