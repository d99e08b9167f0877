// SPDX-License-Identifier: MIT
/*
 * Containers: which container a cgroup path names (the path shapes of
 * Docker, containerd/CRI, CRI-O and podman), and so which one a process is
 * in. Docker's metadata is in containers_json.c and containers_docker.c,
 * cgroup v2 ids in containers_cgroup2.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/containers_impl.h"
#include "util/fileio.h"

#define CGROUP_TEXT_MAX (64u << 10)

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

bool ct_is_hex_id(const char *s, size_t len)
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
/* The next component of a cgroup path at *p (slashes before it skipped;
 * *len 0 at the end), and *p past it. */
static const char *path_component(const char **p, size_t *len)
{
	const char *c;

	while (**p == '/')
		(*p)++;
	c = *p;
	while (**p && **p != '/')
		(*p)++;
	*len = (size_t)(*p - c);
	return c;
}

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
		if (scopes[i].rt == CONTAINER_PODMAN && ct_is_hex_id(c + plen, len - plen)) {
			*id = c + plen;
			return CONTAINER_PODMAN;
		}
		if (len > plen + slen && !memcmp(c + len - slen, scope, slen) &&
		    ct_is_hex_id(c + plen, len - plen - slen)) {
			*id = c + plen;
			return scopes[i].rt;
		}
	}
	if (!ct_is_hex_id(c, len))
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
		size_t len;
		const char *c = path_component(&p, &len), *id = NULL;
		enum container_runtime rt;

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

/* ---- Kubernetes pods ---- */

/* "<8>-<4>-<4>-<4>-<12>" lowercase hex, with sep ('-' or '_') between groups, into uid. */
static bool pod_uid__parse(const char *s, size_t len, char sep, char *uid)
{
	if (len != K8S_POD_UID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != sep
			 : !isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
		uid[i] = dash ? '-' : s[i];
	}
	uid[len] = '\0';
	return true;
}

static const char *const qos_classes[] = {"burstable", "besteffort"};

/* "kubepods" in a slice name, at its start or after a '-' (kubelet's --cgroup-root:
 * "kubelet-kubepods"); NULL if none. */
static const char *kubepods_in(const char *name)
{
	for (const char *k = strstr(name, "kubepods"); k; k = strstr(k + 1, "kubepods"))
		if ((k == name || k[-1] == '-') && (!k[8] || k[8] == '-'))
			return k;
	return NULL;
}

/*
 * One component below kubepods: a QoS level ("burstable",
 * "kubepods-burstable.slice") sets *qos; a pod ("pod<uid>",
 * "kubepods[-<qos>]-pod<uid>.slice") fills pod. 1 for a pod, 0 for
 * anything else, -EINVAL for a pod whose UID is malformed.
 */
static int pod_component(const char *c, size_t len, const char **qos, struct k8s_pod *pod)
{
	static const char slice[] = ".slice";
	size_t sl = sizeof(slice) - 1;
	bool systemd = len > sl && !memcmp(c + len - sl, slice, sl);
	char name[128];

	if (len >= sizeof(name))
		return 0;
	memcpy(name, c, len);
	name[len] = '\0';
	if (systemd) {
		/* a slice's name spells its parents': [<root>-]kubepods[-<qos>][-pod<uid>] */
		const char *k;

		name[len - sl] = '\0';
		k = kubepods_in(name);
		if (!k)
			return 0;
		k += 8;
		if (*k == '-')
			k++;
		memmove(name, k, strlen(k) + 1);
	}
	/* now "<qos>", "<qos>-pod<uid>", "pod<uid>" or "" (kubepods.slice) */
	for (size_t i = 0; i < sizeof(qos_classes) / sizeof(qos_classes[0]); i++) {
		size_t ql = strlen(qos_classes[i]);

		if (strncmp(name, qos_classes[i], ql) || (name[ql] && name[ql] != '-'))
			continue;
		*qos = qos_classes[i];
		if (!name[ql])
			return 0;
		memmove(name, name + ql + 1, strlen(name + ql + 1) + 1);
		break;
	}
	if (strncmp(name, "pod", 3))
		return 0;
	if (!pod_uid__parse(name + 3, strlen(name + 3), systemd ? '_' : '-', pod->uid))
		return -EINVAL;
	snprintf(pod->qos, sizeof(pod->qos), "%s", *qos ? *qos : "guaranteed");
	return 1;
}

int k8s_pod__from_cgroup_path(const char *path, struct k8s_pod *pod)
{
	struct container_ref ref;
	const char *p, *qos = NULL;
	bool kubepods = false;

	memset(pod, 0, sizeof(*pod));
	if (container_ref__from_cgroup_path(path, &ref))
		return -EINVAL;
	for (p = path; *p;) {
		size_t len;
		const char *c = path_component(&p, &len);
		int r;

		if (!len)
			break;
		if (!kubepods) {
			char name[128];
			bool slice = false;
			const char *k;

			/* "kubepods" (cgroupfs) or "[<root>-]kubepods.slice" (systemd)
			 * opens the pods' tree */
			if (len >= sizeof(name))
				continue;
			memcpy(name, c, len);
			name[len] = '\0';
			if (len > 6 && !strcmp(name + len - 6, ".slice")) {
				name[len - 6] = '\0';
				slice = true;
			}
			k = slice ? kubepods_in(name) : NULL;
			kubepods = !strcmp(name, "kubepods") || (k && !strcmp(k, "kubepods"));
			if (!kubepods)
				continue;
		}
		r = pod_component(c, len, &qos, pod);
		if (r < 0) {
			memset(pod, 0, sizeof(*pod));
			return r;
		}
		if (r)
			return 0;
	}
	return -ENOENT;
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

int ct_read_file(const char *path, size_t max, char **out, size_t *outlen)
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
	err = ct_read_file(path, CGROUP_TEXT_MAX, &text, &len);
	if (err)
		return err == -ESRCH ? -ENOENT : err;
	err = container_ref__from_cgroup_text(text, len, ref, cgpath, cgpath_len);
	free(text);
	return err;
}
