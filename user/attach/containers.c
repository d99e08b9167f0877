// SPDX-License-Identifier: MIT
/*
 * Containers: cgroup path shapes, Docker metadata (Engine API, then
 * config.v2.json), and cgroup v2 ids.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "attach/containers.h"
#include "util/fileio.h"
#include "util/clock.h"

#define CGROUP_TEXT_MAX	  (64u << 10)
#define HTTP_HEAD_MAX	  (64u << 10)
#define HTTP_ANSWER_MAX	  (CONTAINER_JSON_MAX + HTTP_HEAD_MAX)
#define JSON_DEPTH_MAX	  32
#define CGROUP_WALK_DEPTH 32

static struct {
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char root[PATH_MAX];
	int timeout_ms;
	bool init;
} cfg;

static void cfg__init(void)
{
	const char *s;

	if (cfg.init)
		return;
	cfg.init = true;
	s = getenv("PYMAC_DOCKER_SOCK");
	snprintf(cfg.sock, sizeof(cfg.sock), "%s", s && *s ? s : "/var/run/docker.sock");
	s = getenv("PYMAC_DOCKER_ROOT");
	snprintf(cfg.root, sizeof(cfg.root), "%s", s && *s ? s : "/var/lib/docker");
	cfg.timeout_ms = CONTAINER_TIMEOUT_MS;
}

void containers__configure(const char *sock_path, const char *data_root, int timeout_ms)
{
	cfg__init();
	if (sock_path)
		snprintf(cfg.sock, sizeof(cfg.sock), "%s", sock_path);
	if (data_root)
		snprintf(cfg.root, sizeof(cfg.root), "%s", data_root);
	if (timeout_ms >= 0)
		cfg.timeout_ms = timeout_ms;
}

const char *container_runtime__name(enum container_runtime rt)
{
	switch (rt) {
	case CONTAINER_HOST:
		return "host";
	case CONTAINER_DOCKER:
		return "docker";
	case CONTAINER_CONTAINERD:
		return "containerd";
	case CONTAINER_CRIO:
		return "cri-o";
	case CONTAINER_PODMAN:
		return "podman";
	case CONTAINER_CRI:
		return "cri";
	}
	return "unknown";
}

/* ---- cgroup path shapes ---- */

static bool is_hex_id(const char *s, size_t len)
{
	if (len != CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && !memcmp(s, prefix, n);
}

/*
 * One path component: "<prefix><id>.scope" (systemd driver) or a bare id
 * (cgroupfs driver), whose runtime depends on the parent components.
 */
static enum container_runtime component__classify(const char *c, size_t len, const char *parent,
						  size_t parent_len, bool under_kubepods,
						  const char **id)
{
	static const struct {
		const char *prefix;
		enum container_runtime rt;
	} scopes[] = {
	    /* conmon monitors (crio-conmon-, libpod-conmon-) fail is_hex_id below. */
	    {"docker-", CONTAINER_DOCKER},	{"cri-containerd-", CONTAINER_CONTAINERD},
	    {"nerdctl-", CONTAINER_CONTAINERD}, {"crio-", CONTAINER_CRIO},
	    {"libpod-", CONTAINER_PODMAN},
	};
	static const char scope[] = ".scope";
	size_t slen = sizeof(scope) - 1;

	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
		size_t plen = strlen(scopes[i].prefix);

		if (!has_prefix(c, len, scopes[i].prefix))
			continue;
		/* podman's cgroupfs driver: /libpod_parent/libpod-<id> */
		if (scopes[i].rt == CONTAINER_PODMAN && is_hex_id(c + plen, len - plen)) {
			*id = c + plen;
			return CONTAINER_PODMAN;
		}
		if (len > plen + slen && !memcmp(c + len - slen, scope, slen) &&
		    is_hex_id(c + plen, len - plen - slen)) {
			*id = c + plen;
			return scopes[i].rt;
		}
	}
	if (!is_hex_id(c, len))
		return CONTAINER_HOST;
	*id = c;
	if (parent_len == 6 && !memcmp(parent, "docker", 6))
		return CONTAINER_DOCKER;
	if (under_kubepods)
		return CONTAINER_CRI;
	return CONTAINER_HOST;
}

int container_ref__from_cgroup_path(const char *path, struct container_ref *ref)
{
	const char *p, *parent = "", *found_id = NULL;
	size_t parent_len = 0, plen;
	enum container_runtime found = CONTAINER_HOST;
	bool kubepods = false;

	memset(ref, 0, sizeof(*ref));
	if (!path || path[0] != '/')
		return -EINVAL;
	plen = strnlen(path, CONTAINER_CGPATH_MAX);
	if (plen >= CONTAINER_CGPATH_MAX)
		return -EINVAL;
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return -EINVAL;

	for (p = path; *p;) {
		const char *c, *id = NULL;
		size_t len;
		enum container_runtime rt;

		while (*p == '/')
			p++;
		c = p;
		while (*p && *p != '/')
			p++;
		len = p - c;
		if (!len)
			break;
		if (has_prefix(c, len, "kubepods"))
			kubepods = true;
		rt = component__classify(c, len, parent, parent_len, kubepods, &id);
		/* The innermost container wins: Docker in Docker nests them. */
		if (rt != CONTAINER_HOST) {
			found = rt;
			found_id = id;
		}
		parent = c;
		parent_len = len;
	}
	ref->runtime = found;
	if (found_id) {
		memcpy(ref->id, found_id, CONTAINER_ID_LEN);
		ref->id[CONTAINER_ID_LEN] = '\0';
	}
	return 0;
}

/* Split "N:controllers:/path" into its path; NULL for a malformed line. */
static const char *cgroup_line__path(const char *line, bool *v2)
{
	const char *c1, *c2, *p;

	for (p = line; isdigit((unsigned char)*p); p++)
		;
	if (p == line || *p != ':')
		return NULL;
	c1 = p;
	c2 = strchr(c1 + 1, ':');
	if (!c2 || c2[1] != '/')
		return NULL;
	*v2 = (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1);
	return c2 + 1;
}

int container_ref__from_cgroup_text(const char *text, size_t len, struct container_ref *ref,
				    char *cgpath, size_t cgpath_len)
{
	struct container_ref v1 = {0}, v2 = {0};
	bool seen_v2 = false, seen_v1 = false, any = false;
	char line[CONTAINER_CGPATH_MAX + 64];
	size_t pos = 0;

	memset(ref, 0, sizeof(*ref));
	if (cgpath && cgpath_len)
		cgpath[0] = '\0';
	if (len > CGROUP_TEXT_MAX)
		return -E2BIG;
	if (memchr(text, '\0', len))
		return -EINVAL;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = (nl ? (size_t)(nl - text) : len) - pos;
		const char *path;
		struct container_ref r;
		bool is_v2 = false;
		static const char deleted[] = " (deleted)";
		size_t dl = sizeof(deleted) - 1;

		if (ll >= sizeof(line))
			return -EINVAL;
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + 1;
		if (!ll)
			continue;
		path = cgroup_line__path(line, &is_v2);
		if (!path)
			return -EINVAL;
		/* The kernel marks a v2 cgroup that was removed while a process is still in it. */
		if (ll > dl && !strcmp(line + ll - dl, deleted))
			line[ll - dl] = '\0';
		if (container_ref__from_cgroup_path(path, &r))
			return -EINVAL;
		any = true;
		if (is_v2) {
			if (seen_v2)
				return -EINVAL;
			seen_v2 = true;
			v2 = r;
			if (cgpath && cgpath_len) {
				if (strlen(path) >= cgpath_len)
					return -ENAMETOOLONG;
				strcpy(cgpath, path);
			}
		} else if (!seen_v1 && r.runtime != CONTAINER_HOST) {
			seen_v1 = true;
			v1 = r;
		}
	}
	if (!any)
		return -EINVAL;
	*ref = (seen_v2 && v2.runtime != CONTAINER_HOST) || !seen_v1 ? v2 : v1;
	return 0;
}

/* Read a small file whole; NUL-terminated, malloc'ed; never through a link. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	return pm_read_file(path, O_NOFOLLOW, max, out, outlen);
}

int container_ref__of_pid(pid_t pid, struct container_ref *ref, char *cgpath, size_t cgpath_len)
{
	char path[64], *text;
	size_t len;
	int err;

	memset(ref, 0, sizeof(*ref));
	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	err = read_file(path, CGROUP_TEXT_MAX, &text, &len);
	if (err)
		return err == -ESRCH ? -ENOENT : err;
	err = container_ref__from_cgroup_text(text, len, ref, cgpath, cgpath_len);
	free(text);
	return err;
}

/* ---- JSON ---- */

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
	if (!is_hex_id(id, strlen(id)))
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

static int info__from_summary(struct json_object *o, struct container_info *info)
{
	struct json_object *names, *labels, *first;
	char id[CONTAINER_ID_LEN + 2], state[32];
	int err;

	memset(info, 0, sizeof(*info));
	if (!json_object_is_type(o, json_type_object))
		return -EINVAL;
	err = json__string_member(o, "Id", id, sizeof(id), true);
	if (err)
		return err == -ENAMETOOLONG ? -EINVAL : err;
	err = info__set_id(info, id);
	if (!err)
		err = json__member(o, "Names", json_type_array, &names);
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

int container_info__parse_list(const char *json, size_t len, struct container_info **out, size_t *n)
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
		err = info__from_summary(json_object_array_get_idx(root, i), &v[i]);
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

/* ---- HTTP over the Engine socket ---- */

int container_http__parse(const char *buf, size_t len, int *status, const char **body,
			  size_t *body_len)
{
	const char *end = NULL, *p, *line;
	size_t head_len, clen = 0;
	bool have_clen = false;
	int st;

	*status = 0;
	*body = NULL;
	*body_len = 0;
	for (size_t i = 0; i + 4 <= len && i < HTTP_HEAD_MAX; i++) {
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i;
			break;
		}
	}
	if (!end)
		return -EPROTO;
	head_len = end - buf;
	if (head_len < 12 || (memcmp(buf, "HTTP/1.0 ", 9) && memcmp(buf, "HTTP/1.1 ", 9)))
		return -EPROTO;
	if (!isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]) ||
	    (head_len > 12 && buf[12] != ' ' && buf[12] != '\r'))
		return -EPROTO;
	st = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (st < 100)
		return -EPROTO;

	line = memchr(buf, '\n', head_len);
	while (line && line < end) {
		const char *eol, *v;
		size_t ll;

		line++;
		eol = memchr(line, '\r', end + 2 - line);
		if (!eol)
			break;
		ll = eol - line;
		for (size_t i = 0; i < ll; i++)
			if (line[i] == '\0')
				return -EPROTO;
		if (ll > 15 && !strncasecmp(line, "content-length:", 15)) {
			unsigned long long x = 0;

			if (have_clen)
				return -EPROTO;
			for (v = line + 15; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			if (v == eol)
				return -EPROTO;
			for (; v < eol && isdigit((unsigned char)*v); v++) {
				x = x * 10 + (*v - '0');
				if (x > HTTP_ANSWER_MAX)
					return -EMSGSIZE;
			}
			for (; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			if (v != eol)
				return -EPROTO;
			clen = x;
			have_clen = true;
		} else if (ll > 18 && !strncasecmp(line, "transfer-encoding:", 18)) {
			for (v = line + 18; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			if (eol - v != 8 || strncasecmp(v, "identity", 8))
				return -EPROTO;
		}
		line = memchr(eol, '\n', end + 2 - eol);
	}
	p = end + 4;
	if (have_clen) {
		if (clen > len - (size_t)(p - buf))
			return -EMSGSIZE;
		*body_len = clen;
	} else {
		*body_len = len - (p - buf);
	}
	*status = st;
	*body = p;
	return 0;
}

static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	long long left;
	int r;

	for (;;) {
		left = deadline - (long long)(pm_now_ns() / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (!r)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static bool engine_path__valid(const char *path)
{
	size_t n = strnlen(path, 512);

	if (n == 0 || n >= 512 || path[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)path[i]) && !strchr("/_.-?=&%", path[i]))
			return false;
	return true;
}

int container_engine__get(const char *path, int *status, char **body, size_t *body_len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char req[640], *buf = NULL, *nb;
	size_t len = 0, cap = 0, off = 0, reqlen;
	const char *b;
	long long deadline;
	int fd, err;

	*status = 0;
	*body = NULL;
	*body_len = 0;
	cfg__init();
	if (!engine_path__valid(path))
		return -EINVAL;
	reqlen = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.0\r\nHost: docker\r\nUser-Agent: pymac\r\n\r\n", path);
	if (strlen(cfg.sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, cfg.sock);
	deadline = (long long)(pm_now_ns() / 1000000) + cfg.timeout_ms;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		/* A unix socket never connects asynchronously; EAGAIN is a full backlog. */
		err = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto out;
	}
	while (off < reqlen) {
		ssize_t w = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			err = wait_fd(fd, POLLOUT, deadline);
			if (err)
				goto out;
			continue;
		}
		if (w < 0) {
			err = -errno;
			goto out;
		}
		off += w;
	}
	for (;;) {
		ssize_t r;

		if (len + 1 >= cap) {
			if (cap >= HTTP_ANSWER_MAX + 1) {
				err = -EMSGSIZE;
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			if (cap > HTTP_ANSWER_MAX + 1)
				cap = HTTP_ANSWER_MAX + 1;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			err = wait_fd(fd, POLLIN, deadline);
			if (err)
				goto out;
			continue;
		}
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (!r)
			break;
		len += r;
	}
	err = container_http__parse(buf, len, status, &b, body_len);
	if (err)
		goto out;
	/* The body moves to the front of the buffer, which the caller frees. */
	memmove(buf, b, *body_len);
	buf[*body_len] = '\0';
	*body = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* ---- cgroup v2 ---- */

int cgroup2__mount_from_mountinfo(const char *text, size_t len, char *out, size_t outlen)
{
	size_t pos = 0;

	if (outlen)
		out[0] = '\0';
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = (nl ? (size_t)(nl - text) : len) - pos;
		const char *line = text + pos, *f[5], *sep = NULL, *p = line, *e = line + ll;
		size_t fl[5];
		int nf = 0;

		pos += ll + 1;
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		while (p < e && nf < 5) {
			while (p < e && *p == ' ')
				p++;
			f[nf] = p;
			while (p < e && *p != ' ')
				p++;
			fl[nf] = p - f[nf];
			if (fl[nf])
				nf++;
		}
		if (nf < 5)
			continue;
		for (const char *q = p; q + 3 <= e; q++) {
			if (!memcmp(q, " - ", 3)) {
				sep = q + 3;
				break;
			}
		}
		if (!sep || (size_t)(e - sep) < 8 || memcmp(sep, "cgroup2 ", 8))
			continue;
		/* Only a mount of the whole hierarchy maps cgroup paths one to one. */
		if (fl[3] != 1 || f[3][0] != '/')
			continue;
		{
			size_t o = 0;

			for (size_t i = 0; i < fl[4]; i++) {
				char c = f[4][i];

				/* mountinfo escapes space, tab, newline and backslash as \ooo */
				if (c == '\\' && i + 3 < fl[4] && f[4][i + 1] >= '0' &&
				    f[4][i + 1] <= '3' && f[4][i + 2] >= '0' &&
				    f[4][i + 2] <= '7' && f[4][i + 3] >= '0' &&
				    f[4][i + 3] <= '7') {
					c = (char)((f[4][i + 1] - '0') * 64 +
						   (f[4][i + 2] - '0') * 8 + (f[4][i + 3] - '0'));
					i += 3;
				}
				if (o + 1 >= outlen)
					return -ENAMETOOLONG;
				out[o++] = c;
			}
			out[o] = '\0';
		}
		if (out[0] != '/') {
			out[0] = '\0';
			continue;
		}
		return 0;
	}
	return -ENOENT;
}

static int cgroup2__mount(char *out, size_t outlen)
{
	static char mnt[PATH_MAX];
	char *text;
	size_t len;
	int err;

	if (!mnt[0]) {
		err = read_file("/proc/self/mountinfo", 4u << 20, &text, &len);
		if (err)
			return err;
		err = cgroup2__mount_from_mountinfo(text, len, mnt, sizeof(mnt));
		free(text);
		if (err)
			return err;
	}
	if (strlen(mnt) >= outlen)
		return -ENAMETOOLONG;
	strcpy(out, mnt);
	return 0;
}

static bool cgpath__valid(const char *cgpath)
{
	const char *p = cgpath;

	if (!cgpath || cgpath[0] != '/' ||
	    strnlen(cgpath, CONTAINER_CGPATH_MAX) >= CONTAINER_CGPATH_MAX)
		return false;
	while (*p) {
		const char *c;

		while (*p == '/')
			p++;
		c = p;
		while (*p && *p != '/') {
			if ((unsigned char)*p < 0x20)
				return false;
			p++;
		}
		if ((p - c == 1 && c[0] == '.') || (p - c == 2 && c[0] == '.' && c[1] == '.'))
			return false;
	}
	return true;
}

int cgroup2__id_of_path(const char *cgpath, uint64_t *id)
{
	char mnt[PATH_MAX], full[PATH_MAX + CONTAINER_CGPATH_MAX];
	struct stat st;
	int err;

	*id = 0;
	if (!cgpath__valid(cgpath))
		return -EINVAL;
	err = cgroup2__mount(mnt, sizeof(mnt));
	if (err)
		return err;
	snprintf(full, sizeof(full), "%s%s", mnt, cgpath);
	if (stat(full, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = st.st_ino;
	return 0;
}

/* Depth-first search by directory inode, which is what the kernel reports as the cgroup id. */
static int cgroup2__walk(int dfd, uint64_t id, int depth, char *out, size_t outlen, size_t used)
{
	DIR *d;
	struct dirent *de;
	int err = -ENOENT;

	if (depth > CGROUP_WALK_DEPTH) {
		close(dfd);
		return -ENOENT;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t n;
		int sub;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = strlen(de->d_name);
		if (used + 1 + n >= outlen) {
			err = -ENAMETOOLONG;
			continue;
		}
		out[used] = '/';
		memcpy(out + used + 1, de->d_name, n + 1);
		if (de->d_ino == id) {
			err = 0;
			break;
		}
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0)
			continue;
		if (!cgroup2__walk(sub, id, depth + 1, out, outlen, used + 1 + n)) {
			err = 0;
			break;
		}
	}
	if (err)
		out[used] = '\0';
	closedir(d);
	return err;
}

int cgroup2__path_of_id(uint64_t id, char *out, size_t outlen)
{
	char mnt[PATH_MAX];
	struct stat st;
	int err, fd;

	if (outlen < 2)
		return -ENAMETOOLONG;
	out[0] = '\0';
	err = cgroup2__mount(mnt, sizeof(mnt));
	if (err)
		return err;
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!fstat(fd, &st) && st.st_ino == id) {
		close(fd);
		strcpy(out, "/");
		return 0;
	}
	return cgroup2__walk(fd, id, 0, out, outlen, 0);
}

/* ---- lookups ---- */

/*
 * A running container's cgroup: its main process's v2 path when that
 * process is in it, else the cgroupfs and systemd drivers' places.
 */
static void info__fill_cgroup(struct container_info *info, bool trust_pid)
{
	char cgpath[CONTAINER_CGPATH_MAX], cand[CONTAINER_CGPATH_MAX];
	struct container_ref ref;

	info->cgroup_id = 0;
	if (!info->running)
		return;
	if (info->pid > 0 && !container_ref__of_pid(info->pid, &ref, cgpath, sizeof(cgpath)) &&
	    !strcmp(ref.id, info->id) && cgpath[0] &&
	    !cgroup2__id_of_path(cgpath, &info->cgroup_id))
		return;
	/*
	 * A config.v2.json left by a dockerd that died says "Running" for a
	 * process that is gone or is someone else now.
	 */
	if (!trust_pid) {
		info->running = false;
		info->pid = 0;
		return;
	}
	snprintf(cand, sizeof(cand), "/docker/%s", info->id);
	if (!cgroup2__id_of_path(cand, &info->cgroup_id))
		return;
	snprintf(cand, sizeof(cand), "/system.slice/docker-%s.scope", info->id);
	cgroup2__id_of_path(cand, &info->cgroup_id);
}

static bool is_engine_down(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED || err == -EACCES || err == -ETIMEDOUT ||
	       err == -ENOTSOCK || err == -ECONNRESET || err == -EPERM;
}

static bool key__is_hex(const char *key)
{
	size_t n = strlen(key);

	if (!n || n > CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)key[i]) && !(key[i] >= 'a' && key[i] <= 'f'))
			return false;
	return true;
}

/* Docker's own rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
static bool key__is_name(const char *key)
{
	size_t n = strnlen(key, CONTAINER_NAME_MAX);

	if (!n || n >= CONTAINER_NAME_MAX || !isalnum((unsigned char)key[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)key[i]) && !strchr("_.-", key[i]))
			return false;
	return true;
}

static int file__read_config(const char *id, struct container_info *info)
{
	char path[PATH_MAX + 128], *text;
	size_t len;
	int err;

	if (!is_hex_id(id, strlen(id)))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/containers/%s/config.v2.json", cfg.root, id);
	err = read_file(path, CONTAINER_JSON_MAX, &text, &len);
	if (err)
		return err;
	err = container_info__parse_inspect(text, len, info);
	free(text);
	/* A file whose id disagrees with its directory is not this container's. */
	if (!err && strcmp(info->id, id))
		err = -EINVAL;
	return err;
}

/* Every parseable config.v2.json under <root>/containers. */
static int files__list(struct container_info **out, size_t *n)
{
	char dir[PATH_MAX + 32];
	struct container_info *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/containers", cfg.root);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct container_info info;

		if (!is_hex_id(de->d_name, strlen(de->d_name)))
			continue;
		if (file__read_config(de->d_name, &info))
			continue;
		if (cnt == cap) {
			if (cap >= CONTAINER_LIST_MAX)
				break;
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = info;
	}
	closedir(d);
	*out = v;
	*n = cnt;
	return 0;
}

static int files__lookup(const char *key, struct container_info *info)
{
	struct container_info *v;
	size_t n, hits = 0, klen = strlen(key);
	int err;

	if (klen == CONTAINER_ID_LEN && key__is_hex(key)) {
		err = file__read_config(key, info);
		if (err != -ENOENT)
			return err;
	}
	err = files__list(&v, &n);
	if (err)
		return err;
	/* A name beats an id prefix, as with the docker command. */
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].name, key)) {
			*info = v[i];
			free(v);
			return 0;
		}
	}
	if (key__is_hex(key)) {
		for (size_t i = 0; i < n; i++) {
			if (!strncmp(v[i].id, key, klen)) {
				*info = v[i];
				hits++;
			}
		}
	}
	free(v);
	if (hits > 1) {
		memset(info, 0, sizeof(*info));
		return -ENOTUNIQ;
	}
	return hits ? 0 : -ENOENT;
}

int container_info__lookup(const char *id_or_name, struct container_info *info)
{
	char path[256], *body;
	size_t blen;
	int status, err;

	memset(info, 0, sizeof(*info));
	cfg__init();
	if (!id_or_name || (!key__is_hex(id_or_name) && !key__is_name(id_or_name)))
		return -EINVAL;
	snprintf(path, sizeof(path), "/containers/%s/json", id_or_name);
	err = container_engine__get(path, &status, &body, &blen);
	if (!err) {
		if (status == 200)
			err = container_info__parse_inspect(body, blen, info);
		else if (status == 404)
			err = -ENOENT;
		else
			err = -EPROTO;
		free(body);
		if (!err)
			info__fill_cgroup(info, true);
		return err;
	}
	if (!is_engine_down(err))
		return err;
	err = files__lookup(id_or_name, info);
	if (!err)
		info__fill_cgroup(info, false);
	return err;
}

int container_info__list(bool all, struct container_info **out, size_t *n)
{
	struct container_info *v;
	size_t cnt, j = 0;
	char *body;
	size_t blen;
	int status, err;
	bool engine;

	*out = NULL;
	*n = 0;
	cfg__init();
	err = container_engine__get(all ? "/containers/json?all=1" : "/containers/json", &status,
				    &body, &blen);
	if (!err) {
		engine = true;
		if (status != 200) {
			free(body);
			return -EPROTO;
		}
		err = container_info__parse_list(body, blen, &v, &cnt);
		free(body);
	} else if (is_engine_down(err)) {
		engine = false;
		err = files__list(&v, &cnt);
		if (err == -ENOENT)
			err = 0, v = NULL, cnt = 0;
	}
	if (err)
		return err;

	for (size_t i = 0; i < cnt; i++) {
		if (engine && v[i].running) {
			struct container_info full;
			char path[128];

			/* The summary has no pid; the inspect answer does. */
			snprintf(path, sizeof(path), "/containers/%s/json", v[i].id);
			if (!container_engine__get(path, &status, &body, &blen)) {
				if (status == 200 &&
				    !container_info__parse_inspect(body, blen, &full) &&
				    !strcmp(full.id, v[i].id))
					v[i].pid = full.pid;
				free(body);
			}
		}
		info__fill_cgroup(&v[i], engine);
		if (all || v[i].running)
			v[j++] = v[i];
	}
	*out = v;
	*n = j;
	return 0;
}

int cgroup2__populated(const char *cgpath)
{
	char mnt[PATH_MAX], full[PATH_MAX + CONTAINER_CGPATH_MAX + 16], *text, *p;
	size_t len;
	int err;

	if (!cgpath__valid(cgpath))
		return -EINVAL;
	err = cgroup2__mount(mnt, sizeof(mnt));
	if (err)
		return err;
	snprintf(full, sizeof(full), "%s%s/cgroup.events", mnt, strcmp(cgpath, "/") ? cgpath : "");
	err = read_file(full, 64 << 10, &text, &len);
	if (err)
		return err;
	/* "populated 1\nfrozen 0\n" */
	p = strstr(text, "populated ");
	err = p ? p[10] == '1' : -EPROTO;
	free(text);
	return err;
}

/* Append the pids of one cgroup directory and, below it, of its children. */
static int cgroup2__collect_pids(int dfd, int depth, pid_t **pids, size_t *n, size_t *cap)
{
	int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	char buf[4096], rest[16] = "";
	size_t rl = 0;
	ssize_t got;
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return -errno;
	/* one pid per line; a line may straddle two reads */
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] != '\n') {
				if (rl < sizeof(rest) - 1)
					rest[rl++] = buf[i];
				continue;
			}
			rest[rl] = '\0';
			rl = 0;
			long v = strtol(rest, NULL, 10);
			if (v <= 0)
				continue;
			if (*n == *cap) {
				size_t c = *cap ? *cap * 2 : 64;
				pid_t *np = realloc(*pids, c * sizeof(*np));

				if (!np) {
					close(fd);
					return -ENOMEM;
				}
				*pids = np;
				*cap = c;
			}
			(*pids)[(*n)++] = (pid_t)v;
		}
	}
	close(fd);
	if (depth >= 32)
		return 0;
	int dup = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dup < 0 || !(d = fdopendir(dup))) {
		if (dup >= 0)
			close(dup);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (sub < 0)
			continue;
		int err = cgroup2__collect_pids(sub, depth + 1, pids, n, cap);
		close(sub);
		if (err == -ENOMEM) {
			closedir(d);
			return err;
		}
	}
	closedir(d);
	return 0;
}

int cgroup2__pids(const char *cgpath, pid_t **pids, size_t *n)
{
	char mnt[PATH_MAX], full[PATH_MAX + CONTAINER_CGPATH_MAX];
	size_t cap = 0;
	int err, dfd;

	*pids = NULL;
	*n = 0;
	if (!cgpath__valid(cgpath))
		return -EINVAL;
	err = cgroup2__mount(mnt, sizeof(mnt));
	if (err)
		return err;
	snprintf(full, sizeof(full), "%s%s", mnt, strcmp(cgpath, "/") ? cgpath : "");
	dfd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	err = cgroup2__collect_pids(dfd, 0, pids, n, &cap);
	close(dfd);
	if (err) {
		free(*pids);
		*pids = NULL;
		*n = 0;
	}
	return err;
}
