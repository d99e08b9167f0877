// SPDX-License-Identifier: MIT
/*
 * Asking podman about containers. Its service speaks Docker's Engine API
 * on /run/podman/podman.sock, but only while `podman system service` (or
 * the podman.socket unit) runs, which a rootful podman without systemd
 * does not have. So when nothing answers there, pymac reads the files
 * podman keeps anyway: containers/storage's containers.json under the graph
 * root names each container (id, names, image), and the pidfile the OCI
 * runtime writes under the run root says which ones run. A pidfile can
 * outlive its container, so a pid counts only while that process is in the
 * container's cgroup (ct_fill_cgroup). Labels (podman-compose) are only in
 * podman's own database, so project and service stay "" without the service.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "attach/containers_impl.h"

#define PIDFILE_MAX 64

static struct {
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char root[PATH_MAX];
	char runroot[PATH_MAX];
	bool init;
} pcfg;

static void pcfg__set(char *dst, size_t len, const char *env, const char *def)
{
	const char *s = getenv(env);

	snprintf(dst, len, "%s", s && *s ? s : def);
}

static void pcfg__init(void)
{
	if (pcfg.init)
		return;
	pcfg.init = true;
	pcfg__set(pcfg.sock, sizeof(pcfg.sock), "PYMAC_PODMAN_SOCK", "/run/podman/podman.sock");
	pcfg__set(pcfg.root, sizeof(pcfg.root), "PYMAC_PODMAN_ROOT", "/var/lib/containers/storage");
	pcfg__set(pcfg.runroot, sizeof(pcfg.runroot), "PYMAC_PODMAN_RUNROOT",
		  "/run/containers/storage");
}

void containers__configure_podman(const char *sock_path, const char *graph_root,
				  const char *run_root)
{
	pcfg__init();
	if (sock_path)
		snprintf(pcfg.sock, sizeof(pcfg.sock), "%s", sock_path);
	if (graph_root)
		snprintf(pcfg.root, sizeof(pcfg.root), "%s", graph_root);
	if (run_root)
		snprintf(pcfg.runroot, sizeof(pcfg.runroot), "%s", run_root);
}

/* The pid in <runroot>/<driver>-containers/<id>/userdata/pidfile; 0 if none or not a pid. */
static pid_t storage__pid(const char *driver_dir, const char *id)
{
	char path[2 * PATH_MAX], *text, *end;
	size_t len;
	long v;

	snprintf(path, sizeof(path), "%s/%s/%s/userdata/pidfile", pcfg.runroot, driver_dir, id);
	if (ct_read_file(path, PIDFILE_MAX, &text, &len))
		return 0;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n') || v <= 0 || v > INT_MAX)
		v = 0;
	free(text);
	return (pid_t)v;
}

/* Append one storage driver's containers.json to *v. */
static int storage__read_driver(const char *driver_dir, struct container_info **v, size_t *cnt)
{
	char path[2 * PATH_MAX], *text;
	struct container_info *list, *nv;
	size_t len, n;
	int err;

	snprintf(path, sizeof(path), "%s/%s/containers.json", pcfg.root, driver_dir);
	err = ct_read_file(path, CONTAINER_JSON_MAX, &text, &len);
	if (err)
		return err == -ENOENT ? 0 : err;
	err = container_info__parse_storage(text, len, &list, &n);
	free(text);
	if (err || !n)
		return err;
	if (*cnt + n > CONTAINER_LIST_MAX) {
		free(list);
		return -E2BIG;
	}
	nv = realloc(*v, (*cnt + n) * sizeof(**v));
	if (!nv) {
		free(list);
		return -ENOMEM;
	}
	*v = nv;
	for (size_t i = 0; i < n; i++) {
		list[i].pid = storage__pid(driver_dir, list[i].id);
		list[i].running = list[i].pid > 0;
		nv[(*cnt)++] = list[i];
	}
	free(list);
	return 0;
}

/* Every container of every storage driver (<root>/overlay-containers, vfs-containers, ...). */
static int storage__list(struct container_info **out, size_t *n)
{
	static const char suffix[] = "-containers";
	size_t sl = sizeof(suffix) - 1;
	struct container_info *v = NULL;
	size_t cnt = 0;
	struct dirent *de;
	int err = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(pcfg.root);
	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		size_t nl = strlen(de->d_name);

		if (nl > sl && nl < 64 && !strcmp(de->d_name + nl - sl, suffix))
			err = storage__read_driver(de->d_name, &v, &cnt);
	}
	closedir(d);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int ct_podman_lookup(const char *key, struct container_info *info)
{
	struct container_info *v;
	size_t n;
	bool down;
	int err;

	pcfg__init();
	err = ct_engine_lookup(pcfg.sock, key, info, &down);
	if (!err) {
		info->runtime = CONTAINER_PODMAN;
		ct_fill_cgroup(info, true);
		return 0;
	}
	if (!down)
		return err;
	err = storage__list(&v, &n);
	if (err)
		return err;
	err = ct_match_key(v, n, key, info);
	free(v);
	if (!err)
		ct_fill_cgroup(info, false);
	return err;
}

int ct_podman_list(bool all, struct container_info **out, size_t *n)
{
	bool engine = true;
	int err;

	pcfg__init();
	err = ct_engine_list(pcfg.sock, all, out, n);
	if (err && ct_engine_down(err)) {
		engine = false;
		err = storage__list(out, n);
	}
	if (err)
		return err;
	for (size_t i = 0; i < *n; i++)
		(*out)[i].runtime = CONTAINER_PODMAN;
	*n = ct_list_finish(*out, *n, all, engine);
	return 0;
}
