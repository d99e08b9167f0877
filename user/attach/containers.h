/* SPDX-License-Identifier: MIT */
/*
 * Finding containers: which container a process or cgroup belongs to (from
 * cgroup path shapes of Docker, containerd/CRI, CRI-O and podman), and what
 * Docker knows about it (name, image, compose project/service), asked of the
 * Engine API on its unix socket or, when it does not answer, read from
 * Docker's own config.v2.json files.
 *
 * Every input here (cgroup files, HTTP answers, JSON files) is treated as
 * untrusted: sizes are bounded, strings are validated, and a malformed input
 * is an error, never a partial result.
 */
#ifndef PYMAC_CONTAINERS_H
#define PYMAC_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONTAINER_ID_LEN     64 /* hex digits of a full container id */
#define CONTAINER_NAME_MAX   128
#define CONTAINER_IMAGE_MAX  256
#define CONTAINER_LABEL_MAX  128 /* compose project and service */
#define CONTAINER_CGPATH_MAX 1024
#define CONTAINER_JSON_MAX   (4u << 20) /* largest JSON document accepted */
#define CONTAINER_LIST_MAX   4096	/* most containers listed */
#define CONTAINER_TIMEOUT_MS 2000	/* default Engine API deadline */

enum container_runtime {
	CONTAINER_HOST = 0,
	CONTAINER_DOCKER,
	CONTAINER_CONTAINERD, /* cri-containerd-<id>.scope, nerdctl-<id>.scope */
	CONTAINER_CRIO,	      /* crio-<id>.scope */
	CONTAINER_PODMAN,     /* libpod-<id>.scope, /libpod_parent/libpod-<id> */
	CONTAINER_CRI,	      /* /kubepods/.../<id>: a CRI runtime, not named by the path */
};

/* "host", "docker", "containerd", "cri-o", "podman", "cri". */
const char *container_runtime__name(enum container_runtime rt);

/* Which container a cgroup path names. On the host: runtime CONTAINER_HOST, id "". */
struct container_ref {
	enum container_runtime runtime;
	char id[CONTAINER_ID_LEN + 1];
};

/*
 * Classify a cgroup path ("/docker/<id>", "/system.slice/docker-<id>.scope",
 * ...). The innermost container component wins (Docker in Docker). Pure.
 * 0 (host is a result too), or -EINVAL for a path that is not absolute,
 * too long, or holds control characters.
 */
int container_ref__from_cgroup_path(const char *path, struct container_ref *ref);

/*
 * Parse /proc/PID/cgroup text (v2 "0::/path" and v1 "N:ctrl,ctrl:/path"
 * lines, " (deleted)" suffix allowed). The v2 line decides when it names a
 * container; otherwise the first v1 line that names one does. cgpath (may be
 * NULL) gets the v2 path, "" if there is none. 0, or -EINVAL for malformed
 * text, -E2BIG for text over 64 KiB.
 */
int container_ref__from_cgroup_text(const char *text, size_t len, struct container_ref *ref,
				    char *cgpath, size_t cgpath_len);

/*
 * The Kubernetes pod a cgroup path is in, as the kubelet names it: its UID
 * and QoS class. systemd driver: /kubepods.slice/kubepods-burstable.slice/
 * kubepods-burstable-pod<uid, '_' for '-'>.slice/<ctr>.scope (Guaranteed
 * pods: /kubepods.slice/kubepods-pod<uid>.slice/...); cgroupfs driver:
 * /kubepods/besteffort/pod<uid>/<ctr> (Guaranteed: /kubepods/pod<uid>/...).
 */
#define K8S_POD_UID_LEN 36 /* 8-4-4-4-12 hex digits */
struct k8s_pod {
	char uid[K8S_POD_UID_LEN + 1]; /* with '-', as the API shows it */
	char qos[12];		       /* "guaranteed", "burstable" or "besteffort" */
};

/*
 * Find the pod in a cgroup path. Pure. 0, -ENOENT (not a pod's path: no
 * kubepods component, or none naming a pod), -EINVAL (a pod component with a
 * malformed UID, or a path container_ref__from_cgroup_path refuses).
 */
int k8s_pod__from_cgroup_path(const char *path, struct k8s_pod *pod);

/* The container of a running process, from /proc/PID/cgroup. 0 or -errno (-ENOENT: no process). */
int container_ref__of_pid(pid_t pid, struct container_ref *ref, char *cgpath, size_t cgpath_len);

/* What the engine (Docker, podman) knows about a container. Strings are "" when unknown. */
struct container_info {
	enum container_runtime runtime;
	char id[CONTAINER_ID_LEN + 1];
	char name[CONTAINER_NAME_MAX];	   /* without Docker's leading '/' */
	char image[CONTAINER_IMAGE_MAX];   /* as given to docker run / compose */
	char project[CONTAINER_LABEL_MAX]; /* label com.docker.compose.project */
	char service[CONTAINER_LABEL_MAX]; /* label com.docker.compose.service */
	bool running;
	pid_t pid;	    /* main process as the engine sees it; 0 if not running or unknown */
	uint64_t cgroup_id; /* cgroup v2 id; 0 if unknown or not running */
};

/*
 * Parse the answer of GET /containers/<id>/json, or a config.v2.json file
 * (the two share the fields pymac needs: Id/ID, Name, Config.Image,
 * Config.Labels, State.Running, State.Pid). Does not fill cgroup_id.
 * 0, -EINVAL (not JSON, wrong types, missing Id or Name, bad id, control
 * characters), -ENAMETOOLONG (a field does not fit), -E2BIG (over
 * CONTAINER_JSON_MAX).
 */
int container_info__parse_inspect(const char *json, size_t len, struct container_info *info);

/*
 * Parse the answer of GET /containers/json (an array of summaries: Id,
 * Names, Image, Labels, State). *out is malloc'ed, *n entries. Same errors,
 * plus -E2BIG for more than CONTAINER_LIST_MAX entries.
 */
int container_info__parse_list(const char *json, size_t len, struct container_info **out,
			       size_t *n);

/*
 * Split an HTTP/1.x answer into status and body. Accepts only an identity
 * body (Content-Length or to end of input); -EPROTO for chunked encoding or
 * a malformed head, -EMSGSIZE if Content-Length exceeds the bytes present.
 */
int container_http__parse(const char *buf, size_t len, int *status, const char **body,
			  size_t *body_len);

/*
 * Parse containers/storage's containers.json (podman's and buildah's
 * containers: id, names, image, and metadata, a JSON string naming the
 * image). runtime is CONTAINER_PODMAN, and nothing says whether one runs.
 * *out is malloc'ed. Errors as container_info__parse_list.
 */
int container_info__parse_storage(const char *json, size_t len, struct container_info **out,
				  size_t *n);

/*
 * Where to look. Defaults: /var/run/docker.sock, /var/lib/docker,
 * CONTAINER_TIMEOUT_MS; the environment variables PYMAC_DOCKER_SOCK and
 * PYMAC_DOCKER_ROOT override the first two. NULL or a negative timeout keeps
 * the current value. Used by tests to point at fixtures.
 */
void containers__configure(const char *sock_path, const char *data_root, int timeout_ms);
/* The Engine socket's path, for messages. */
const char *containers__engine_socket(void);

/*
 * Where to look for podman's containers when Docker has no such one: its
 * Docker-compatible API socket (/run/podman/podman.sock, served by
 * `podman system service` or podman.socket), else containers/storage's
 * graph root (/var/lib/containers/storage: <driver>-containers/containers.json
 * names them) and run root (/run/containers/storage:
 * <driver>-containers/<id>/userdata/pidfile says which run). Environment:
 * PYMAC_PODMAN_SOCK, PYMAC_PODMAN_ROOT, PYMAC_PODMAN_RUNROOT. NULL keeps a value.
 */
void containers__configure_podman(const char *sock_path, const char *graph_root,
				  const char *run_root);

/*
 * GET path over the Engine socket (HTTP/1.0, whole answer within the
 * timeout). *body is malloc'ed and NUL-terminated. 0 with *status set, or
 * -errno: -ECONNREFUSED/-ENOENT (no engine), -ETIMEDOUT, -EMSGSIZE (answer
 * over CONTAINER_JSON_MAX + 64 KiB), -EPROTO.
 */
int container_engine__get(const char *path, int *status, char **body, size_t *body_len);

/*
 * Any request over the Engine socket: method ("GET", "POST", "DELETE"),
 * path (with its query), a JSON body or NULL, within timeout_ms (negative:
 * the configured timeout). Same answers and errors as container_engine__get.
 */
int container_engine__request(const char *method, const char *path, const char *json,
			      int timeout_ms, int *status, char **body, size_t *body_len);

/* ---- running containers (containers_run.c) ---- */

#define CONTAINER_SPEC_LIST_MAX 32 /* most binds, env entries, labels, argv words */

/* What POST /containers/create is asked for. Lists are NULL-terminated. */
struct container_spec {
	const char *name;
	const char *image;
	const char *const *cmd;	   /* argv */
	const char *const *env;	   /* "KEY=VALUE" */
	const char *const *binds;  /* "HOST:CONTAINER[:ro]" */
	const char *const *labels; /* "KEY=VALUE" */
	const char *workdir;	   /* or NULL */
	const char *tmpfs;	   /* a path that gets a tmpfs, or NULL */
	bool init;		   /* the engine's init as PID 1 (reaps, forwards signals) */
	bool read_only;		   /* read-only root file system */
	bool no_network;	   /* NetworkMode "none" */
};

/*
 * The request body of POST /containers/create for spec, malloc'ed JSON
 * (NULL on ENOMEM, or -EINVAL in errno for a list over
 * CONTAINER_SPEC_LIST_MAX or an entry without its '=' or ':'). Pure.
 */
char *container_spec__json(const struct container_spec *spec);

/*
 * A top-level member of a JSON object: a string into out, or an integer.
 * 0, -ENOENT (absent or null), -EINVAL (not JSON, not an object, another
 * type), -ENAMETOOLONG. Pure. For the engine's answers ("Id", "message",
 * "StatusCode").
 */
int container_json__string(const char *json, size_t len, const char *key, char *out, size_t outlen);
int container_json__int(const char *json, size_t len, const char *key, long long *v);

/*
 * Ask the engine (each 0 or -errno; where msg is given, the engine's own
 * words on a refusal go there, "" when it gave none):
 * ping: does it answer on its socket (-ENOENT: no socket, -ECONNREFUSED);
 * image_exists: 1 or 0;
 * create: the new container's full id (-ENOENT: no such image, -EEXIST:
 * the name is taken);
 * start, kill (SIGKILL), remove (forced, with its anonymous volumes);
 * wait: its exit code once it has stopped (-ETIMEDOUT after timeout_ms);
 * logs: its output so far (stdout and stderr, as the engine interleaved
 * them) written to fd.
 */
int container_engine__ping(void);
int container_engine__image_exists(const char *image);
int container_engine__create(const struct container_spec *spec, char id[CONTAINER_ID_LEN + 1],
			     char *msg, size_t msglen);
int container_engine__start(const char *id, char *msg, size_t msglen);
int container_engine__kill(const char *id);
int container_engine__remove(const char *id);
int container_engine__wait(const char *id, int timeout_ms, int *exit_code);
int container_engine__logs(const char *id, int fd);

/*
 * Look a container up by full id, unique id prefix, or name: first through
 * the Engine API, else from <data_root>/containers/<id>/config.v2.json;
 * when Docker has none, podman's (containers__configure_podman).
 * Fills cgroup_id for a running container. 0, -ENOENT (no such container),
 * -EINVAL (the key is not a valid id or name), or a parse error.
 */
int container_info__lookup(const char *id_or_name, struct container_info *info);

/*
 * List containers (running ones only unless all is set), Docker's (Engine
 * API first, else the containers directory) and podman's. Fills cgroup_id
 * of running ones. *out is malloc'ed. 0, or -errno when neither answers.
 */
int container_info__list(bool all, struct container_info **out, size_t *n);

/*
 * The Engine's events stream (GET /events): containers are seen as they
 * start, not only at the next look, and one that ends before pymac could
 * attach is known by its start and die (containers_events.c).
 */
enum container_event_kind {
	CONTAINER_EVENT_OTHER = 0, /* create, attach, destroy, exec_start, ... */
	CONTAINER_EVENT_START,
	CONTAINER_EVENT_DIE,
};

struct container_event {
	enum container_event_kind kind;
	struct container_info info; /* id, name, image, project, service; running false */
	uint64_t realtime_ns;	    /* timeNano: CLOCK_REALTIME; 0 if absent */
};

/*
 * Parse one line of the events stream ({"Action":"start","Actor":{"ID":
 * ...,"Attributes":{"name":...,"com.docker.compose.project":...}},
 * "timeNano":...}). Pure. 0, or -EINVAL (not such an object, bad id),
 * -ENAMETOOLONG, -E2BIG.
 */
int container_event__parse(const char *json, size_t len, struct container_event *ev);

struct container_events;
/*
 * Open the events stream of container events (nonblocking; the engine
 * answers as they happen). NULL with errno when the engine does not answer.
 */
struct container_events *container_events__open(void);
/* The socket, to wait on with poll(2). */
int container_events__fd(const struct container_events *ce);
/*
 * Read what arrived, without blocking, and call cb for each event of a
 * container. 0, or -errno: -ECONNRESET once the engine closed the stream
 * (it went away: fall back to looking), -EPROTO for an answer that is no
 * event stream.
 */
int container_events__read(struct container_events *ce,
			   void (*cb)(void *ctx, const struct container_event *ev), void *ctx);
void container_events__free(struct container_events *ce);

/*
 * The cgroup v2 mount point, parsed from /proc/self/mountinfo text ("" if
 * none). Pure. 0, -ENOENT (no cgroup2 line), -ENAMETOOLONG.
 */
int cgroup2__mount_from_mountinfo(const char *text, size_t len, char *out, size_t outlen);

/* The cgroup v2 id (directory inode) of a cgroup path like "/docker/<id>". 0 or -errno. */
int cgroup2__id_of_path(const char *cgpath, uint64_t *id);

/*
 * The cgroup path of a cgroup v2 id, found by walking the cgroup2 tree
 * (at most 32 levels). 0, -ENOENT (no such cgroup), -errno.
 */
int cgroup2__path_of_id(uint64_t id, char *out, size_t outlen);

/* Does the cgroup hold any process (cgroup.events "populated")? 1, 0, or -errno (-ENOENT: gone). */
int cgroup2__populated(const char *cgpath);

/* The pids in a cgroup and in the cgroups below it. *pids is malloc'ed. 0 or -errno. */
int cgroup2__pids(const char *cgpath, pid_t **pids, size_t *n);

#endif /* PYMAC_CONTAINERS_H */
