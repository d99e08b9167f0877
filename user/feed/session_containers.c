// SPDX-License-Identifier: MIT
/* The session's containers: found, tracked from their first process,
 * joined later, stopped (session_impl.h; docs/containers.md). */
#include <poll.h>

#include "feed/session_impl.h"

/* ---- containers ---- */

static const char *container_label(const struct tracked_container *c)
{
	return c->info.name[0] ? c->info.name : c->cgpath;
}

static void emit_container(struct session *s, const struct tracked_container *c,
			   enum pm_container_state state)
{
	struct pm_record rec = {.type = PM_REC_CONTAINER};
	struct k8s_pod pod;

	rec.cont.ts_ns = pm_now_ns();
	rec.cont.cgroup_id = c->info.cgroup_id;
	rec.cont.state = state;
	rec.cont.runtime = c->runtime;
	rec.cont.id = c->info.id;
	rec.cont.name = container_label(c);
	rec.cont.image = c->info.image;
	rec.cont.project = c->info.project;
	rec.cont.service = c->info.service;
	/* "" for anything but a pod's container (or a bad path: no pod is better than a wrong one)
	 */
	if (k8s_pod__from_cgroup_path(c->cgpath, &pod))
		memset(&pod, 0, sizeof(pod));
	rec.cont.pod_uid = pod.uid;
	rec.cont.qos = pod.qos;
	ss_emit(s, &rec);
}

/*
 * Forget the containers that stopped: an agent that runs for days sees
 * containers come and go without end, and each would hold its slot (and its
 * cgroup's entry in the BPF filter) for good. Their lanes keep what they
 * counted; one that runs again is tracked anew.
 */
/* A running container on the cgroup (a restart may reuse it)? */
static bool cgroup_running(const struct session *s, uint64_t cgroup_id)
{
	for (size_t i = 0; i < s->nconts; i++)
		if (!s->conts[i].stopped && s->conts[i].info.cgroup_id == cgroup_id)
			return true;
	return false;
}

static void forget_stopped(struct session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nconts; i++)
		if (!s->conts[i].stopped)
			s->conts[n++] = s->conts[i];
		else if (!cgroup_running(s, s->conts[i].info.cgroup_id))
			probes__untrace_cgroup(s->probes, s->conts[i].info.cgroup_id);
	s->nconts = n;
}

/*
 * Start tracing a container: filter its cgroup in, describe it, attach to
 * its processes, and attach ahead of time to the Python its PATH names, so
 * that an interpreter started in it later (docker exec, a script) is seen
 * from its first instruction. *has_python says whether any Python was found.
 */
int ss_track_container(struct session *s, struct tracked_container *c, bool *has_python)
{
	pid_t *pids = NULL;
	size_t n = 0;
	int err;

	*has_python = false;
	if (s->nconts == CONTAINERS_MAX)
		forget_stopped(s);
	if (s->nconts == CONTAINERS_MAX) {
		pm_err("at most %d containers can be traced at once; %s is not", CONTAINERS_MAX,
		       container_label(c));
		return -E2BIG;
	}
	err = probes__trace_cgroup(s->probes, c->info.cgroup_id);
	if (err) {
		pm_err("cannot trace cgroup %s: %s", c->cgpath, strerror(-err));
		return err;
	}
	s->conts[s->nconts++] = *c;
	c = &s->conts[s->nconts - 1];
	emit_container(s, c, PM_CONTAINER_RUNNING);

	err = cgroup2__pids(c->cgpath, &pids, &n);
	if (err && err != -ENOENT)
		pm_err("cannot list the processes of %s: %s", container_label(c), strerror(-err));
	for (size_t i = 0; i < n; i++) {
		struct target_proc tp;

		if (ss_known_pid(s, pids[i]) || target_proc__inspect(pids[i], &tp))
			continue;
		ss_emit_process(s, &tp, PM_ORIGIN_ATTACHED);
		ss_attach_process(s, &tp);
		*has_python |= tp.has_python;
	}
	/* any process will do to see the container's filesystem and PATH
	 * (with pid-filtered uprobes there is nothing to attach ahead: each
	 * process is attached when it shows up) */
	for (size_t i = 0; i < n && !s->pid_links; i++) {
		struct target_command tc;
		struct probe_coverage cov;

		if (target_root__find_python(pids[i], &tc) == 0) {
			probes__attach(s->probes, &tc.python, tc.python_version,
				       tc.has_libc ? &tc.libc : NULL, &cov);
			*has_python = true;
			break;
		}
	}
	free(pids);
	return 0;
}

/* Is the container traced now? (A stopped one that runs again is traced anew.) */
bool ss_container_tracked(struct session *s, const char *id)
{
	for (size_t i = 0; i < s->nconts; i++)
		if (s->conts[i].info.id[0] && !s->conts[i].stopped &&
		    strcmp(s->conts[i].info.id, id) == 0)
			return true;
	return false;
}

static void container_from_info(struct tracked_container *c, const struct container_info *info)
{
	memset(c, 0, sizeof(*c));
	c->info = *info;
	snprintf(c->runtime, sizeof(c->runtime), "%s", container_runtime__name(info->runtime));
	if (info->cgroup_id)
		cgroup2__path_of_id(info->cgroup_id, c->cgpath, sizeof(c->cgpath));
}

static bool wants_container(const struct session *s, const struct container_info *ci)
{
	const struct target_opts *t = s->o.targets;

	if (t->all_containers)
		return true;
	for (int i = 0; i < t->nprojects; i++)
		if (strcmp(ci->project, t->projects[i]) == 0)
			return true;
	return false;
}

/* Was the container traced in this session, now or before it stopped? */
static bool container_seen(const struct session *s, const char *id)
{
	for (size_t i = 0; i < s->nconts; i++)
		if (strcmp(s->conts[i].info.id, id) == 0)
			return true;
	return false;
}

/*
 * A wanted container that ended before it could be traced: said on stderr
 * and put in the trace (META missed_container "RAN_NS NAME", RAN_NS 0 when
 * its start was not seen), so that the summary says it too. end_rt: when it
 * ended (CLOCK_REALTIME ns).
 */
static void say_missed(struct session *s, const struct container_info *info, uint64_t end_rt)
{
	const char *name = info->name[0] ? info->name : info->id;
	uint64_t ran = 0;
	char value[CONTAINER_NAME_MAX + 32];

	for (size_t i = 0; i < s->nstarts; i++)
		if (strcmp(s->starts[i].id, info->id) == 0 && end_rt > s->starts[i].start_rt)
			ran = end_rt - s->starts[i].start_rt;
	if (!s->o.quiet) {
		if (ran)
			fprintf(stderr, "pymac: container %s ran %.2f s and was missed: %s\n", name,
				ran / 1e9, PM_MISSED_WHY);
		else
			fprintf(stderr, "pymac: container %s was missed: %s\n", name,
				PM_MISSED_WHY);
	}
	snprintf(value, sizeof(value), "%" PRIu64 " %s", ran, name);
	session__meta(s, "missed_container", value);
}

/* A wanted container, running now, joins the session (first: it was there when tracing began). */
static void join_container(struct session *s, const struct container_info *info, bool first)
{
	struct tracked_container c;
	bool py;

	if (!info->running || !info->cgroup_id || ss_container_tracked(s, info->id))
		return;
	container_from_info(&c, info);
	if (!c.cgpath[0])
		return; /* its cgroup is already gone */
	if (!first && !s->o.quiet)
		fprintf(stderr, "pymac: container %s joined\n", container_label(&c));
	if (ss_track_container(s, &c, &py))
		return;
	if (!py && cgroup2__populated(c.cgpath) != 1) {
		/* it ended while it was being looked at: nothing of it was seen */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		say_missed(s, info, (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec);
	} else if (!py && !s->o.quiet)
		fprintf(stderr, "pymac: container %s runs no Python and has none on its PATH; %s\n",
			container_label(&c),
			(s->o.targets->sources & (1u << PM_SOURCE_LIBC))
			    ? "only its libc is traced"
			    : "nothing in it is traced unless a Python starts in it");
}

/* Under --compose-project/--all-containers: containers that started since the last look join. */
void ss_scan_containers(struct session *s, bool first)
{
	struct container_info *list = NULL;
	size_t n = 0;
	int err = container_info__list(false, &list, &n);

	if (err) {
		if (first)
			pm_err("cannot list containers: %s", strerror(-err));
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (wants_container(s, &list[i]))
			join_container(s, &list[i], first);
	free(list);
}

void ss_open_container_events(struct session *s)
{
	s->events = container_events__open();
	if (!s->events && !s->o.quiet)
		fprintf(
		    stderr,
		    "pymac: the Docker engine's events stream is not available (%s); containers "
		    "are looked for once a second, and one that runs for less may be missed\n",
		    strerror(errno));
}

int ss_wait(struct session *s, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = consumer__fd(s->consumer), .events = POLLIN}};

	if (!s->events || timeout_ms <= 0)
		return consumer__poll(s->consumer, timeout_ms);
	p[1].fd = container_events__fd(s->events);
	p[1].events = POLLIN;
	if (poll(p, 2, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	return consumer__poll(s->consumer, 0);
}

static void on_container_event(void *ctx, const struct container_event *ev)
{
	struct session *s = ctx;
	struct container_info info;

	if (ev->kind == CONTAINER_EVENT_OTHER || !wants_container(s, &ev->info))
		return;
	if (ev->kind == CONTAINER_EVENT_DIE) {
		if (!container_seen(s, ev->info.id))
			say_missed(s, &ev->info, ev->realtime_ns);
		return;
	}
	/* a ring of the latest starts: enough for the ones that end unseen */
	snprintf(s->starts[s->next_start].id, sizeof(s->starts[0].id), "%s", ev->info.id);
	s->starts[s->next_start].start_rt = ev->realtime_ns;
	s->next_start = (s->next_start + 1) % (sizeof(s->starts) / sizeof(s->starts[0]));
	if (s->nstarts < sizeof(s->starts) / sizeof(s->starts[0]))
		s->nstarts++;
	if (!s->detached && container_info__lookup(ev->info.id, &info) == 0)
		join_container(s, &info, false);
}

void ss_read_container_events(struct session *s)
{
	int err;

	if (!s->events)
		return;
	err = container_events__read(s->events, on_container_event, s);
	if (!err)
		return;
	container_events__free(s->events);
	s->events = NULL;
	if (!s->o.quiet && !s->detached)
		fprintf(stderr,
			"pymac: the Docker engine's events stream ended (%s); containers are "
			"looked for once a second from now on\n",
			err == -ECONNRESET ? "the engine closed it" : strerror(-err));
}

/* Containers whose cgroup emptied or vanished end their timeline. */
void ss_check_containers(struct session *s)
{
	for (size_t i = 0; i < s->nconts; i++) {
		struct tracked_container *c = &s->conts[i];
		int pop;

		if (c->stopped)
			continue;
		pop = cgroup2__populated(c->cgpath);
		if (pop == 0 || pop == -ENOENT) {
			c->stopped = true;
			emit_container(s, c, PM_CONTAINER_STOPPED);
			if (!s->o.quiet)
				fprintf(stderr, "pymac: container %s stopped\n",
					container_label(c));
		}
	}
}

/* Does a process in the cgroup run Python, or could one (python3 on its PATH)? */
static bool cgroup_has_python(const char *cgpath)
{
	pid_t *pids = NULL;
	size_t n = 0;
	bool yes = false;

	if (cgroup2__pids(cgpath, &pids, &n))
		return false;
	for (size_t i = 0; i < n && !yes; i++) {
		struct target_proc tp;
		struct target_command tc;

		yes = (target_proc__inspect(pids[i], &tp) == 0 && tp.has_python) ||
		      target_root__find_python(pids[i], &tc) == 0;
	}
	free(pids);
	return yes;
}

/* Resolve --container and --cgroup targets into s->pending; one line and
 * false on a bad one. */
bool ss_resolve_named_targets(struct session *s)
{
	const struct target_opts *t = s->o.targets;
	bool only_libc = !(s->o.targets->sources & ~NO_PYTHON_NEEDED);

	for (int i = 0; i < t->ncontainers; i++) {
		struct container_info info;
		struct tracked_container c;
		int err = container_info__lookup(t->containers[i], &info);

		if (err == -ENOENT || err == -EINVAL) {
			pm_err("no container named or with id '%s'", t->containers[i]);
			return false;
		}
		if (err) {
			pm_err("cannot look up container '%s': %s (is the Docker engine running?)",
			       t->containers[i], strerror(-err));
			return false;
		}
		if (!info.running) {
			pm_err("container %s (%.12s) is not running", info.name, info.id);
			return false;
		}
		container_from_info(&c, &info);
		if (!info.cgroup_id || !c.cgpath[0]) {
			pm_err("cannot find the cgroup of container %s", info.name);
			return false;
		}
		for (size_t k = 0; k < s->npending; k++)
			if (strcmp(s->pending[k].info.id, info.id) == 0)
				goto next_container;
		if (!only_libc && !cgroup_has_python(c.cgpath)) {
			pm_err(
			    "container %s runs no Python: no process maps an interpreter and "
			    "there is no python3 on its PATH (to trace its libc allocations, use "
			    "--probes libc)",
			    info.name);
			return false;
		}
		s->pending[s->npending++] = c;
	next_container:;
	}
	for (int i = 0; i < t->ncgroups; i++) {
		struct tracked_container c = {};
		struct container_info found;
		struct container_ref ref;
		char cg[CONTAINER_CGPATH_MAX];
		const char *path = t->cgroups[i];
		int err;

		/* accept /sys/fs/cgroup[/unified]/docker/ID as well as /docker/ID */
		if (strncmp(path, "/sys/fs/cgroup/unified/", 23) == 0)
			path += 22;
		else if (strncmp(path, "/sys/fs/cgroup/", 15) == 0)
			path += 14;
		snprintf(cg, sizeof(cg), "%s", path);
		if (strlen(cg) > 1 && cg[strlen(cg) - 1] == '/')
			cg[strlen(cg) - 1] = '\0';
		err = cgroup2__id_of_path(cg, &c.info.cgroup_id);
		if (err) {
			pm_err("no cgroup %s: %s", t->cgroups[i], strerror(-err));
			return false;
		}
		snprintf(c.cgpath, sizeof(c.cgpath), "%s", cg);
		/* a failed lookup clears what it was given: the cgroup id is kept apart */
		if (container_ref__from_cgroup_path(cg, &ref) == 0 &&
		    ref.runtime != CONTAINER_HOST && container_info__lookup(ref.id, &found) == 0) {
			c.info = found;
			c.info.cgroup_id = 0;
			cgroup2__id_of_path(cg, &c.info.cgroup_id);
			snprintf(c.runtime, sizeof(c.runtime), "%s",
				 container_runtime__name(ref.runtime));
		} else {
			c.bare_cgroup = true;
			snprintf(c.runtime, sizeof(c.runtime), "cgroup");
			snprintf(c.info.name, sizeof(c.info.name), "%.*s",
				 (int)sizeof(c.info.name) - 1, cg);
		}
		s->pending[s->npending++] = c;
	}
	return true;
}
