// SPDX-License-Identifier: MIT
/*
 * The engines' JSON documents: the Engine API's answers to GET
 * /containers/<id>/json and GET /containers/json (Docker's, and podman's
 * compatible API), Docker's config.v2.json files and containers/storage's
 * containers.json (podman), parsed into struct container_info. Pure: the
 * input is only read.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "attach/containers_impl.h"

#define JSON_DEPTH_MAX 32

static struct json_object *json__parse(const char *buf, size_t len, int *err)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;

	*err = 0;
	if (len > CONTAINER_JSON_MAX || len > INT_MAX) {
		*err = -E2BIG;
		return NULL;
	}
	/* json-c would stop at a NUL and leave the rest unread. */
	if (!len || memchr(buf, '\0', len)) {
		*err = -EINVAL;
		return NULL;
	}
	tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (!tok) {
		*err = -ENOMEM;
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		json_tokener_free(tok);
		*err = -EINVAL;
		return NULL;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < len; end++) {
		if (!isspace((unsigned char)buf[end])) {
			json_object_put(obj);
			*err = -EINVAL;
			return NULL;
		}
	}
	return obj;
}

/* Member of an object with the expected type; NULL if absent or JSON null. */
static int json__member(struct json_object *o, const char *key, enum json_type type,
			struct json_object **out)
{
	struct json_object *m;

	*out = NULL;
	if (!o || !json_object_object_get_ex(o, key, &m) || !m)
		return 0;
	if (!json_object_is_type(m, type))
		return -EINVAL;
	*out = m;
	return 0;
}

/* Copy a JSON string: no NUL or control characters, must fit. */
static int json__copy_string(struct json_object *s, char *out, size_t outlen)
{
	const char *v = json_object_get_string(s);
	int len = json_object_get_string_len(s);

	if (!v || len < 0)
		return -EINVAL;
	for (int i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return -EINVAL;
	if ((size_t)len >= outlen)
		return -ENAMETOOLONG;
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

static int json__string_member(struct json_object *o, const char *key, char *out, size_t outlen,
			       bool required)
{
	struct json_object *s;
	int err;

	out[0] = '\0';
	err = json__member(o, key, json_type_string, &s);
	if (err)
		return err;
	if (!s)
		return required ? -EINVAL : 0;
	return json__copy_string(s, out, outlen);
}

static int info__set_id(struct container_info *info, const char *id)
{
	if (!ct_is_hex_id(id, strlen(id)))
		return -EINVAL;
	memcpy(info->id, id, CONTAINER_ID_LEN + 1);
	info->runtime = CONTAINER_DOCKER;
	return 0;
}

/* Docker stores names with a leading '/'. */
static int info__set_name(struct container_info *info, const char *name)
{
	if (*name == '/')
		name++;
	if (!*name || strchr(name, '/'))
		return -EINVAL;
	memmove(info->name, name, strlen(name) + 1);
	return 0;
}

static int info__labels(struct json_object *labels, struct container_info *info)
{
	int err;

	err = json__string_member(labels, "com.docker.compose.project", info->project,
				  sizeof(info->project), false);
	if (!err)
		err = json__string_member(labels, "com.docker.compose.service", info->service,
					  sizeof(info->service), false);
	return err;
}

static int info__from_inspect(struct json_object *root, struct container_info *info)
{
	struct json_object *config, *labels, *state, *running, *pid;
	char id[CONTAINER_ID_LEN + 2];
	int64_t p;
	int err;

	memset(info, 0, sizeof(*info));
	if (!json_object_is_type(root, json_type_object))
		return -EINVAL;
	/* The Engine API says "Id", config.v2.json says "ID". */
	err = json__string_member(root, "Id", id, sizeof(id), false);
	if (!err && !id[0])
		err = json__string_member(root, "ID", id, sizeof(id), true);
	if (err)
		return err == -ENAMETOOLONG ? -EINVAL : err;
	err = info__set_id(info, id);
	if (err)
		return err;
	err = json__string_member(root, "Name", info->name, sizeof(info->name), true);
	if (!err)
		err = info__set_name(info, info->name);
	if (err)
		return err;

	err = json__member(root, "Config", json_type_object, &config);
	if (!err)
		err = json__string_member(config, "Image", info->image, sizeof(info->image), false);
	if (!err)
		err = json__member(config, "Labels", json_type_object, &labels);
	if (!err)
		err = info__labels(labels, info);
	if (!err)
		err = json__member(root, "State", json_type_object, &state);
	if (!err)
		err = json__member(state, "Running", json_type_boolean, &running);
	if (!err)
		err = json__member(state, "Pid", json_type_int, &pid);
	if (err)
		return err;
	info->running = running && json_object_get_boolean(running);
	if (pid) {
		p = json_object_get_int64(pid);
		if (p < 0 || p > INT_MAX)
			return -EINVAL;
		info->pid = info->running ? (pid_t)p : 0;
	}
	return 0;
}

int container_info__parse_inspect(const char *json, size_t len, struct container_info *info)
{
	struct json_object *root;
	int err;

	memset(info, 0, sizeof(*info));
	root = json__parse(json, len, &err);
	if (!root)
		return err;
	err = info__from_inspect(root, info);
	json_object_put(root);
	if (err)
		memset(info, 0, sizeof(*info));
	return err;
}

/*
 * The object's id (key id_key) and first name (of the array names_key),
 * the two a list entry must have.
 */
static int info__id_and_name(struct json_object *o, const char *id_key, const char *names_key,
			     struct container_info *info)
{
	struct json_object *names, *first;
	char id[CONTAINER_ID_LEN + 2];
	int err;

	memset(info, 0, sizeof(*info));
	if (!json_object_is_type(o, json_type_object))
		return -EINVAL;
	err = json__string_member(o, id_key, id, sizeof(id), true);
	if (err)
		return err == -ENAMETOOLONG ? -EINVAL : err;
	err = info__set_id(info, id);
	if (!err)
		err = json__member(o, names_key, json_type_array, &names);
	if (err)
		return err;
	if (!names || json_object_array_length(names) < 1)
		return -EINVAL;
	first = json_object_array_get_idx(names, 0);
	if (!json_object_is_type(first, json_type_string))
		return -EINVAL;
	err = json__copy_string(first, info->name, sizeof(info->name));
	if (!err)
		err = info__set_name(info, info->name);
	return err;
}

static int info__from_summary(struct json_object *o, struct container_info *info)
{
	struct json_object *labels;
	char state[32];
	int err;

	err = info__id_and_name(o, "Id", "Names", info);
	if (!err)
		err = json__string_member(o, "Image", info->image, sizeof(info->image), false);
	if (!err)
		err = json__member(o, "Labels", json_type_object, &labels);
	if (!err)
		err = info__labels(labels, info);
	if (!err)
		err = json__string_member(o, "State", state, sizeof(state), false);
	if (err)
		return err;
	info->running = !strcmp(state, "running");
	return 0;
}

/* containers/storage's metadata is a JSON document inside a string: its image-name. */
static int info__storage_image(struct json_object *meta, struct container_info *info)
{
	struct json_object *m;
	int err;

	m = json__parse(json_object_get_string(meta), json_object_get_string_len(meta), &err);
	if (!m)
		return err;
	if (json_object_is_type(m, json_type_object))
		err = json__string_member(m, "image-name", info->image, sizeof(info->image), false);
	else
		err = -EINVAL;
	json_object_put(m);
	return err;
}

static int info__from_storage(struct json_object *o, struct container_info *info)
{
	struct json_object *meta;
	int err;

	err = info__id_and_name(o, "id", "names", info);
	info->runtime = CONTAINER_PODMAN;
	if (!err)
		err = json__member(o, "metadata", json_type_string, &meta);
	if (!err && meta && json_object_get_string_len(meta) > 0)
		err = info__storage_image(meta, info);
	/* without metadata, the image's id */
	if (!err && !info->image[0])
		err = json__string_member(o, "image", info->image, sizeof(info->image), false);
	return err;
}

/* A JSON array of containers, each parsed by one. */
static int parse_array(const char *json, size_t len, struct container_info **out, size_t *n,
		       int (*one)(struct json_object *, struct container_info *))
{
	struct json_object *root;
	struct container_info *v = NULL;
	size_t cnt;
	int err;

	*out = NULL;
	*n = 0;
	root = json__parse(json, len, &err);
	if (!root)
		return err;
	if (!json_object_is_type(root, json_type_array)) {
		json_object_put(root);
		return -EINVAL;
	}
	cnt = json_object_array_length(root);
	if (cnt > CONTAINER_LIST_MAX) {
		json_object_put(root);
		return -E2BIG;
	}
	if (cnt) {
		v = calloc(cnt, sizeof(*v));
		if (!v) {
			json_object_put(root);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < cnt; i++) {
		err = one(json_object_array_get_idx(root, i), &v[i]);
		if (err) {
			free(v);
			json_object_put(root);
			return err;
		}
	}
	json_object_put(root);
	*out = v;
	*n = cnt;
	return 0;
}

int container_info__parse_list(const char *json, size_t len, struct container_info **out, size_t *n)
{
	return parse_array(json, len, out, n, info__from_summary);
}

int container_info__parse_storage(const char *json, size_t len, struct container_info **out,
				  size_t *n)
{
	return parse_array(json, len, out, n, info__from_storage);
}

int container_event__parse(const char *json, size_t len, struct container_event *ev)
{
	struct json_object *root, *actor = NULL, *attrs = NULL, *t = NULL;
	char action[16], id[CONTAINER_ID_LEN + 1];
	int err;

	memset(ev, 0, sizeof(*ev));
	root = json__parse(json, len, &err);
	if (!root)
		return err;
	err = json_object_is_type(root, json_type_object) ? 0 : -EINVAL;
	if (!err)
		err = json__string_member(root, "Action", action, sizeof(action), true);
	if (err == -ENAMETOOLONG) /* "exec_start: sh -c ...": not one of ours */
		err = 0, action[0] = '\0';
	if (!err)
		err = json__member(root, "Actor", json_type_object, &actor);
	if (!err && !actor)
		err = -EINVAL;
	if (!err)
		err = json__string_member(actor, "ID", id, sizeof(id), true);
	if (!err)
		err = info__set_id(&ev->info, id);
	if (!err)
		err = json__member(actor, "Attributes", json_type_object, &attrs);
	if (!err && attrs)
		err =
		    json__string_member(attrs, "name", ev->info.name, sizeof(ev->info.name), false);
	if (!err && attrs)
		err = json__string_member(attrs, "image", ev->info.image, sizeof(ev->info.image),
					  false);
	if (!err && attrs)
		err = info__labels(attrs, &ev->info);
	if (!err)
		err = json__member(root, "timeNano", json_type_int, &t);
	if (!err && t && json_object_get_int64(t) > 0)
		ev->realtime_ns = (uint64_t)json_object_get_int64(t);
	json_object_put(root);
	if (err)
		return err;
	ev->kind = strcmp(action, "start") == 0 ? CONTAINER_EVENT_START
		   : strcmp(action, "die") == 0 ? CONTAINER_EVENT_DIE
						: CONTAINER_EVENT_OTHER;
	return 0;
}

/* ---- the engine's short answers ---- */

static int json__top_member(const char *json, size_t len, const char *key, enum json_type type,
			    struct json_object **root, struct json_object **m)
{
	int err;

	*m = NULL;
	*root = json__parse(json, len, &err);
	if (!*root)
		return err;
	if (!json_object_is_type(*root, json_type_object))
		err = -EINVAL;
	else
		err = json__member(*root, key, type, m);
	if (!err && !*m)
		err = -ENOENT;
	if (err) {
		json_object_put(*root);
		*root = NULL;
	}
	return err;
}

int container_json__string(const char *json, size_t len, const char *key, char *out, size_t outlen)
{
	struct json_object *root, *m;
	int err;

	if (outlen)
		out[0] = '\0';
	err = json__top_member(json, len, key, json_type_string, &root, &m);
	if (err)
		return err;
	err = json__copy_string(m, out, outlen);
	json_object_put(root);
	return err;
}

int container_json__int(const char *json, size_t len, const char *key, long long *v)
{
	struct json_object *root, *m;
	int err;

	*v = 0;
	err = json__top_member(json, len, key, json_type_int, &root, &m);
	if (err)
		return err;
	*v = (long long)json_object_get_int64(m);
	json_object_put(root);
	return 0;
}
