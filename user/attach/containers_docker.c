// SPDX-License-Identifier: MIT
/*
 * Asking Docker about containers: GET over the Engine API's unix socket
 * (HTTP/1.0), else Docker's config.v2.json files under its data root; a
 * container looked up by id, id prefix or name, and the list of them.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach/containers_impl.h"
#include "util/clock.h"

#define HTTP_HEAD_MAX	(64u << 10)
#define HTTP_ANSWER_MAX (CONTAINER_JSON_MAX + HTTP_HEAD_MAX)

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

const char *containers__engine_socket(void)
{
	cfg__init();
	return cfg.sock;
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

/*
 * After a send or recv on the nonblocking socket returned r: 0 (r is the
 * bytes moved), 1 to try again once the socket is ready (it was not, or a
 * signal came), or -errno (-ETIMEDOUT past the deadline).
 */
static int io__again(ssize_t r, int fd, short events, long long deadline)
{
	int err;

	if (r >= 0)
		return 0;
	if (errno != EAGAIN && errno != EINTR)
		return -errno;
	err = wait_fd(fd, events, deadline);
	return err ? err : 1;
}

static bool engine_path__valid(const char *path)
{
	size_t n = strnlen(path, 512);

	if (n == 0 || n >= 512 || path[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)path[i]) && !strchr("/_.-?=&%:", path[i]))
			return false;
	return true;
}

/*
 * Connect to the engine and send one request (a JSON body if json); *fdp
 * is then the socket, for the caller to read the answer from. 0 or -errno.
 */
int ct_engine_request(const char *sock, const char *method, const char *path, const char *json,
		      long long deadline_ms, int *fdp)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char head[768];
	size_t off = 0, headlen, jlen = json ? strlen(json) : 0;
	int fd, err = 0;

	*fdp = -1;
	cfg__init();
	if (!engine_path__valid(path) ||
	    strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method) || !*method ||
	    strlen(method) > 8 || jlen > CONTAINER_JSON_MAX)
		return -EINVAL;
	if (json)
		headlen = snprintf(head, sizeof(head),
				   "%s %s HTTP/1.0\r\nHost: docker\r\nUser-Agent: pymac\r\n"
				   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
				   method, path, jlen);
	else
		headlen =
		    snprintf(head, sizeof(head),
			     "%s %s HTTP/1.0\r\nHost: docker\r\nUser-Agent: pymac\r\n%s\r\n",
			     method, path, strcmp(method, "GET") ? "Content-Length: 0\r\n" : "");
	if (!sock)
		sock = cfg.sock;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		/* A unix socket never connects asynchronously; EAGAIN is a full backlog. */
		err = errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
		return err;
	}
	/* the head, then the body: one stream */
	while (off < headlen + jlen) {
		const char *from = off < headlen ? head + off : json + (off - headlen);
		size_t n = off < headlen ? headlen - off : headlen + jlen - off;
		ssize_t w = send(fd, from, n, MSG_NOSIGNAL);

		err = io__again(w, fd, POLLOUT, deadline_ms);
		/* an engine may answer (a refusal) before it has read the body */
		if (err == -EPIPE && off)
			break;
		if (err < 0) {
			close(fd);
			return err;
		}
		if (!err)
			off += w;
	}
	*fdp = fd;
	return 0;
}

long long ct_engine_deadline_ms(void)
{
	cfg__init();
	return (long long)(pm_now_ns() / 1000000) + cfg.timeout_ms;
}

/* One request on sock (NULL: Docker's) and its whole answer. */
static int engine_request(const char *sock, const char *method, const char *path, const char *json,
			  int timeout_ms, int *status, char **body, size_t *body_len)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	const char *b;
	long long deadline;
	int fd, err;

	*status = 0;
	*body = NULL;
	*body_len = 0;
	cfg__init();
	deadline =
	    (long long)(pm_now_ns() / 1000000) + (timeout_ms >= 0 ? timeout_ms : cfg.timeout_ms);
	err = ct_engine_request(sock, method, path, json, deadline, &fd);
	if (err)
		return err;
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
		err = io__again(r, fd, POLLIN, deadline);
		if (err < 0)
			goto out;
		if (err)
			continue;
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

int container_engine__request(const char *method, const char *path, const char *json,
			      int timeout_ms, int *status, char **body, size_t *body_len)
{
	return engine_request(NULL, method, path, json, timeout_ms, status, body, body_len);
}

int ct_engine_get(const char *sock, const char *path, int *status, char **body, size_t *body_len)
{
	return engine_request(sock, "GET", path, NULL, -1, status, body, body_len);
}

int container_engine__get(const char *path, int *status, char **body, size_t *body_len)
{
	return engine_request(NULL, "GET", path, NULL, -1, status, body, body_len);
}

/* ---- lookups ---- */

void ct_fill_cgroup(struct container_info *info, bool trust_pid)
{
	/* Where the cgroupfs and systemd drivers put a container: prefix, id, suffix. */
	static const char *const places[][2][2] = {
	    {{"/docker/", ""}, {"/system.slice/docker-", ".scope"}},
	    {{"/libpod_parent/libpod-", ""}, {"/machine.slice/libpod-", ".scope"}},
	};
	const char *const(*cands)[2] = places[info->runtime == CONTAINER_PODMAN];
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
	 * A state file left by an engine that died says "Running" for a
	 * process that is gone or is someone else now.
	 */
	if (!trust_pid) {
		info->running = false;
		info->pid = 0;
		return;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(cand, sizeof(cand), "%s%s%s", cands[i][0], info->id, cands[i][1]);
		if (!cgroup2__id_of_path(cand, &info->cgroup_id))
			return;
	}
}

bool ct_engine_down(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED || err == -EACCES || err == -ETIMEDOUT ||
	       err == -ENOTSOCK || err == -ECONNRESET || err == -EPERM;
}

bool ct_key_is_hex(const char *key)
{
	size_t n = strlen(key);

	if (!n || n > CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)key[i]) && !(key[i] >= 'a' && key[i] <= 'f'))
			return false;
	return true;
}

/* Docker's own rule for names (podman's too): [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
bool ct_key_is_name(const char *key)
{
	size_t n = strnlen(key, CONTAINER_NAME_MAX);

	if (!n || n >= CONTAINER_NAME_MAX || !isalnum((unsigned char)key[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)key[i]) && !strchr("_.-", key[i]))
			return false;
	return true;
}

int ct_match_key(const struct container_info *v, size_t n, const char *key,
		 struct container_info *info)
{
	size_t hits = 0, klen = strlen(key);

	/* A name beats an id prefix, as with the docker command. */
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].name, key)) {
			*info = v[i];
			return 0;
		}
	}
	if (ct_key_is_hex(key)) {
		for (size_t i = 0; i < n; i++) {
			if (!strncmp(v[i].id, key, klen)) {
				*info = v[i];
				hits++;
			}
		}
	}
	if (hits > 1) {
		memset(info, 0, sizeof(*info));
		return -ENOTUNIQ;
	}
	return hits ? 0 : -ENOENT;
}

size_t ct_list_finish(struct container_info *v, size_t cnt, bool all, bool trust_pid)
{
	size_t j = 0;

	for (size_t i = 0; i < cnt; i++) {
		ct_fill_cgroup(&v[i], trust_pid);
		if (all || v[i].running)
			v[j++] = v[i];
	}
	return j;
}

static int file__read_config(const char *id, struct container_info *info)
{
	char path[PATH_MAX + 128], *text;
	size_t len;
	int err;

	if (!ct_is_hex_id(id, strlen(id)))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/containers/%s/config.v2.json", cfg.root, id);
	err = ct_read_file(path, CONTAINER_JSON_MAX, &text, &len);
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

		if (!ct_is_hex_id(de->d_name, strlen(de->d_name)))
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
	size_t n;
	int err;

	if (strlen(key) == CONTAINER_ID_LEN && ct_key_is_hex(key)) {
		err = file__read_config(key, info);
		if (err != -ENOENT)
			return err;
	}
	err = files__list(&v, &n);
	if (err)
		return err;
	err = ct_match_key(v, n, key, info);
	free(v);
	return err;
}

int ct_engine_lookup(const char *sock, const char *key, struct container_info *info, bool *down)
{
	char path[256], *body;
	size_t blen;
	int status, err;

	snprintf(path, sizeof(path), "/containers/%s/json", key);
	err = ct_engine_get(sock, path, &status, &body, &blen);
	*down = err && ct_engine_down(err);
	if (err)
		return err;
	if (status == 200)
		err = container_info__parse_inspect(body, blen, info);
	else if (status == 404)
		err = -ENOENT;
	else
		err = -EPROTO;
	free(body);
	return err;
}

int ct_engine_list(const char *sock, bool all, struct container_info **out, size_t *n)
{
	struct container_info *v;
	char *body;
	size_t blen, cnt;
	int status, err;
	bool down;

	*out = NULL;
	*n = 0;
	err = ct_engine_get(sock, all ? "/containers/json?all=1" : "/containers/json", &status,
			    &body, &blen);
	if (err)
		return err;
	if (status != 200) {
		free(body);
		return -EPROTO;
	}
	err = container_info__parse_list(body, blen, &v, &cnt);
	free(body);
	if (err)
		return err;
	for (size_t i = 0; i < cnt; i++) {
		struct container_info full;

		/* The summary has no pid; the inspect answer does. */
		if (v[i].running && !ct_engine_lookup(sock, v[i].id, &full, &down) &&
		    !strcmp(full.id, v[i].id))
			v[i].pid = full.pid;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int container_info__lookup(const char *id_or_name, struct container_info *info)
{
	bool down;
	int err;

	memset(info, 0, sizeof(*info));
	cfg__init();
	if (!id_or_name || (!ct_key_is_hex(id_or_name) && !ct_key_is_name(id_or_name)))
		return -EINVAL;
	err = ct_engine_lookup(cfg.sock, id_or_name, info, &down);
	if (!err) {
		ct_fill_cgroup(info, true);
		return 0;
	}
	/* The engine's 404 is final for Docker: no fallback to its files. */
	if (down) {
		err = files__lookup(id_or_name, info);
		if (!err) {
			ct_fill_cgroup(info, false);
			return 0;
		}
	}
	if (err != -ENOENT)
		return err;
	/* Not Docker's: perhaps podman's. */
	return ct_podman_lookup(id_or_name, info);
}

/* Docker's containers: the Engine API's list, else the containers directory. */
static int docker__list(bool all, struct container_info **out, size_t *n)
{
	bool engine = true;
	int err;

	err = ct_engine_list(cfg.sock, all, out, n);
	if (err && ct_engine_down(err)) {
		engine = false;
		err = files__list(out, n);
		if (err == -ENOENT)
			err = 0, *out = NULL, *n = 0;
	}
	if (!err)
		*n = ct_list_finish(*out, *n, all, engine);
	return err;
}

int container_info__list(bool all, struct container_info **out, size_t *n)
{
	struct container_info *v, *pv, *nv;
	size_t cnt, pn;
	int err, perr;

	*out = NULL;
	*n = 0;
	cfg__init();
	err = docker__list(all, &v, &cnt);
	perr = ct_podman_list(all, &pv, &pn);
	if (err && perr)
		return err;
	if (err)
		v = NULL, cnt = 0;
	if (perr)
		pv = NULL, pn = 0;
	nv = pn ? realloc(v, (cnt + pn) * sizeof(*v)) : v;
	if (pn && !nv) {
		free(v);
		free(pv);
		return -ENOMEM;
	}
	v = nv;
	for (size_t i = 0; i < pn; i++) {
		size_t k;

		for (k = 0; k < cnt && strcmp(v[k].id, pv[i].id); k++)
			;
		if (k == cnt)
			v[cnt++] = pv[i];
	}
	free(pv);
	*out = v;
	*n = cnt;
	return 0;
}
