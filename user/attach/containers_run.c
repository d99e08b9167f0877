// SPDX-License-Identifier: MIT
/*
 * Running containers through the Docker Engine API (attach/containers.h):
 * the body of POST /containers/create, and create, start, wait, logs, kill
 * and remove over the engine's socket. `pymac run` is their user.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/containers_impl.h"
#include "util/json.h"

/* The engine's /wait answers when the container stops: its own deadline. */
#define ENGINE_ACTION_MS 30000

static int list__len(const char *const *v, const char *sep)
{
	int n = 0;

	for (; v && v[n]; n++) {
		if (n >= CONTAINER_SPEC_LIST_MAX)
			return -EINVAL;
		if (sep && (!strchr(v[n], *sep) || v[n][0] == *sep))
			return -EINVAL;
	}
	return n;
}

static void json__strings(struct jsonw *w, const char *name, const char *const *v)
{
	jsonw_name(w, name);
	jsonw_start_array(w);
	for (int i = 0; v && v[i]; i++)
		jsonw_string(w, v[i]);
	jsonw_end_array(w);
}

/* "KEY=VALUE" entries as an object. */
static void json__labels(struct jsonw *w, const char *const *v)
{
	jsonw_name(w, "Labels");
	jsonw_start_object(w);
	for (int i = 0; v && v[i]; i++) {
		const char *eq = strchr(v[i], '=');
		char key[CONTAINER_LABEL_MAX];

		snprintf(key, sizeof(key), "%.*s", (int)(eq - v[i]), v[i]);
		jsonw_string_field(w, key, eq + 1);
	}
	jsonw_end_object(w);
}

char *container_spec__json(const struct container_spec *spec)
{
	struct jsonw w;
	const char *text;
	char *out;
	size_t len;

	if (!spec->image || !spec->cmd || list__len(spec->cmd, NULL) < 1 ||
	    list__len(spec->env, "=") < 0 || list__len(spec->binds, ":") < 0 ||
	    list__len(spec->labels, "=") < 0) {
		errno = EINVAL;
		return NULL;
	}
	for (int i = 0; spec->labels && spec->labels[i]; i++)
		if ((size_t)(strchr(spec->labels[i], '=') - spec->labels[i]) >=
		    CONTAINER_LABEL_MAX) {
			errno = EINVAL;
			return NULL;
		}
	jsonw_init_mem(&w, false);
	jsonw_start_object(&w);
	jsonw_string_field(&w, "Image", spec->image);
	json__strings(&w, "Cmd", spec->cmd);
	json__strings(&w, "Env", spec->env);
	if (spec->workdir)
		jsonw_string_field(&w, "WorkingDir", spec->workdir);
	json__labels(&w, spec->labels);
	jsonw_bool_field(&w, "AttachStdin", false);
	jsonw_bool_field(&w, "AttachStdout", false);
	jsonw_bool_field(&w, "AttachStderr", false);
	jsonw_bool_field(&w, "NetworkDisabled", spec->no_network);
	jsonw_name(&w, "HostConfig");
	jsonw_start_object(&w);
	json__strings(&w, "Binds", spec->binds);
	if (spec->no_network)
		jsonw_string_field(&w, "NetworkMode", "none");
	jsonw_bool_field(&w, "ReadonlyRootfs", spec->read_only);
	jsonw_bool_field(&w, "Init", spec->init);
	if (spec->tmpfs) {
		jsonw_name(&w, "Tmpfs");
		jsonw_start_object(&w);
		jsonw_string_field(&w, spec->tmpfs, "");
		jsonw_end_object(&w);
	}
	jsonw_end_object(&w);
	jsonw_end_object(&w);
	if (jsonw_finish(&w)) {
		jsonw_free(&w);
		errno = ENOMEM;
		return NULL;
	}
	text = jsonw_mem(&w, &len);
	out = strdup(text);
	jsonw_free(&w);
	return out;
}

/* The engine's "message" on a refusal, into msg ("" when it gave none). */
static void answer__message(const char *body, size_t len, char *msg, size_t msglen)
{
	if (!msg || !msglen)
		return;
	if (!body || container_json__string(body, len, "message", msg, msglen))
		msg[0] = '\0';
}

/* A request whose answer only says yes or no: 0 for a 2xx status (or
 * 304: already so), else the error status maps to. */
static int engine__act(const char *method, const char *path, const char *json, char *msg,
		       size_t msglen, int timeout_ms)
{
	char *body;
	size_t blen;
	int status, err;

	if (msg && msglen)
		msg[0] = '\0';
	err = container_engine__request(method, path, json, timeout_ms, &status, &body, &blen);
	if (err)
		return err;
	if (status >= 200 && status < 300)
		err = 0;
	else if (status == 304)
		err = 0;
	else if (status == 404)
		err = -ENOENT;
	else if (status == 409)
		err = -EEXIST;
	else
		err = -EPROTO;
	if (err)
		answer__message(body, blen, msg, msglen);
	free(body);
	return err;
}

int container_engine__ping(void)
{
	char *body;
	size_t blen;
	int status, err;

	err = container_engine__get("/_ping", &status, &body, &blen);
	if (err)
		return err;
	err = status == 200 ? 0 : -EPROTO;
	free(body);
	return err;
}

/* The characters of image references: name[:tag], registry/path. */
static bool image__valid(const char *image)
{
	size_t n = strlen(image);

	if (!n || n >= CONTAINER_IMAGE_MAX || image[0] == '/' || image[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-:",
			    image[i]))
			return false;
	return !strstr(image, "..");
}

int container_engine__image_exists(const char *image)
{
	char path[CONTAINER_IMAGE_MAX + 32];
	int err;

	if (!image__valid(image))
		return -EINVAL;
	snprintf(path, sizeof(path), "/images/%s/json", image);
	err = engine__act("GET", path, NULL, NULL, 0, -1);
	if (err == -ENOENT)
		return 0;
	return err ? err : 1;
}

int container_engine__create(const struct container_spec *spec, char id[CONTAINER_ID_LEN + 1],
			     char *msg, size_t msglen)
{
	char path[CONTAINER_NAME_MAX + 32], got[CONTAINER_ID_LEN + 2], *json, *body;
	size_t blen;
	int status, err;

	id[0] = '\0';
	if (msg && msglen)
		msg[0] = '\0';
	if (!image__valid(spec->image))
		return -EINVAL;
	json = container_spec__json(spec);
	if (!json)
		return -errno;
	if (spec->name)
		snprintf(path, sizeof(path), "/containers/create?name=%s", spec->name);
	else
		snprintf(path, sizeof(path), "/containers/create");
	err =
	    container_engine__request("POST", path, json, ENGINE_ACTION_MS, &status, &body, &blen);
	free(json);
	if (err)
		return err;
	if (status == 201) {
		err = container_json__string(body, blen, "Id", got, sizeof(got));
		if (!err && !ct_is_hex_id(got, strlen(got)))
			err = -EPROTO;
		if (!err)
			memcpy(id, got, CONTAINER_ID_LEN + 1);
		else
			err = -EPROTO;
	} else {
		err = status == 404 ? -ENOENT : status == 409 ? -EEXIST : -EPROTO;
		answer__message(body, blen, msg, msglen);
	}
	free(body);
	return err;
}

static int id__path(char *path, size_t len, const char *id, const char *what)
{
	if (!ct_is_hex_id(id, strlen(id)))
		return -EINVAL;
	snprintf(path, len, "/containers/%s%s", id, what);
	return 0;
}

int container_engine__start(const char *id, char *msg, size_t msglen)
{
	char path[CONTAINER_ID_LEN + 32];
	int err = id__path(path, sizeof(path), id, "/start");

	return err ? err : engine__act("POST", path, NULL, msg, msglen, ENGINE_ACTION_MS);
}

int container_engine__kill(const char *id)
{
	char path[CONTAINER_ID_LEN + 32];
	int err = id__path(path, sizeof(path), id, "/kill?signal=KILL");

	if (!err)
		err = engine__act("POST", path, NULL, NULL, 0, ENGINE_ACTION_MS);
	/* 409: it is not running (any more) */
	return err == -EEXIST ? 0 : err;
}

int container_engine__remove(const char *id)
{
	char path[CONTAINER_ID_LEN + 32];
	int err = id__path(path, sizeof(path), id, "?force=1&v=1");

	return err ? err : engine__act("DELETE", path, NULL, NULL, 0, ENGINE_ACTION_MS);
}

int container_engine__wait(const char *id, int timeout_ms, int *exit_code)
{
	char path[CONTAINER_ID_LEN + 32], *body;
	size_t blen;
	long long code;
	int status, err = id__path(path, sizeof(path), id, "/wait");

	*exit_code = -1;
	if (err)
		return err;
	err = container_engine__request("POST", path, NULL, timeout_ms, &status, &body, &blen);
	if (err)
		return err;
	if (status != 200)
		err = status == 404 ? -ENOENT : -EPROTO;
	else if (container_json__int(body, blen, "StatusCode", &code) || code < 0 || code > 255)
		err = -EPROTO;
	else
		*exit_code = (int)code;
	free(body);
	return err;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= w;
	}
	return 0;
}

int container_engine__logs(const char *id, int fd)
{
	char path[CONTAINER_ID_LEN + 64], *body;
	size_t blen, off = 0;
	int status, err = id__path(path, sizeof(path), id, "/logs?stdout=1&stderr=1");

	if (err)
		return err;
	err = container_engine__request("GET", path, NULL, ENGINE_ACTION_MS, &status, &body, &blen);
	if (err)
		return err;
	if (status != 200) {
		free(body);
		return status == 404 ? -ENOENT : -EPROTO;
	}
	/*
	 * Without a terminal the engine multiplexes the two streams: frames of
	 * an 8-byte head (stream, 0, 0, 0, big-endian length) and the bytes.
	 */
	while (!err && off + 8 <= blen) {
		const unsigned char *h = (const unsigned char *)body + off;
		size_t n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];

		if (h[0] > 2 || h[1] || h[2] || h[3] || n > blen - off - 8) {
			err = -EPROTO;
			break;
		}
		err = write_all(fd, body + off + 8, n);
		off += 8 + n;
	}
	if (!err && off != blen)
		err = -EPROTO;
	free(body);
	return err;
}
