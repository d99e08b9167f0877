// SPDX-License-Identifier: MIT
/* The session's processes: described once, attached, rescanned after an
 * exec, and their lost counts (session_impl.h). */
#include "feed/session_impl.h"

/* ---- the session ---- */

int ss_emit(struct session *s, const struct pm_record *rec)
{
	return feed__record(&s->feed, rec);
}

bool ss_known_pid(struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nknown; i++)
		if (s->known[i] == pid)
			return true;
	return false;
}

static void remember_pid(struct session *s, pid_t pid)
{
	if (!ss_known_pid(s, pid) && s->nknown < KNOWN_PIDS_MAX) {
		s->known_cg[s->nknown] = 0;
		s->known[s->nknown++] = pid;
	}
}

/* An exited process: its pid may come back as another process. */
static void forget_pid(struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nknown; i++)
		if (s->known[i] == pid) {
			s->nknown--;
			s->known[i] = s->known[s->nknown];
			s->known_cg[i] = s->known_cg[s->nknown];
			break;
		}
	for (size_t i = 0; i < s->nreported; i++)
		if (s->reported[i].pid == pid) {
			s->reported[i] = s->reported[--s->nreported];
			break;
		}
}

static void report_coverage(struct session *s, pid_t pid, bool python, bool said_before,
			    const struct probe_coverage *cov)
{
	for (int i = 0; i < PM_SOURCE_COUNT; i++) {
		struct pm_record rec = {.type = PM_REC_SOURCE};

		rec.src.ts_ns = pm_now_ns();
		rec.src.pid = pid;
		rec.src.source = probe_coverage__source_name(cov, i);
		rec.src.status = cov->status[i];
		rec.src.detail = cov->detail[i];
		ss_emit(s, &rec);
		/* a shell or init in a container: only its libc is worth a line */
		if ((!python && i != PM_SOURCE_LIBC && s->nconts) || said_before)
			continue;
		if (!s->o.quiet && cov->status[i] != PM_SRC_OFF)
			fprintf(stderr, "pymac: pid %d: %s: %s: %s\n", pid,
				probe_coverage__source_name(cov, i),
				pm_source_status_name(cov->status[i]), cov->detail[i]);
	}
	/* An LTO build without debug info: the allocator's counts are partial,
	 * but its arenas are seen whole without any symbol. Said once. */
	if (python && !said_before && !s->o.quiet && !s->said_footprint_hint &&
	    cov->status[PM_SOURCE_PYMALLOC] == PM_SRC_PARTIAL &&
	    cov->status[PM_SOURCE_FOOTPRINT] == PM_SRC_OFF) {
		s->said_footprint_hint = true;
		fprintf(stderr,
			"pymac: pymalloc counts are partial here; --mode footprint records this "
			"process's arenas, heap and RSS exactly, without debug info\n");
	}
}

/* The traced container that holds a cgroup (itself or an ancestor), or NULL. */
static struct tracked_container *container_of_cgroup(struct session *s, uint64_t cgroup_id,
						     const char *cgpath)
{
	for (size_t i = 0; i < s->nconts; i++) {
		struct tracked_container *c = &s->conts[i];
		size_t l = strlen(c->cgpath);

		if (c->info.cgroup_id == cgroup_id)
			return c;
		if (cgpath && strncmp(cgpath, c->cgpath, l) == 0 &&
		    (cgpath[l] == '/' || strcmp(c->cgpath, "/") == 0))
			return c;
	}
	return NULL;
}

/*
 * Footprint of a process pymac did not see start: what it already holds,
 * read from its maps, as vm records marked PM_VM_EXISTING. The kernel
 * merges neighbouring anonymous mappings there, so arenas cannot be told
 * apart from other mappings; they count in the total all the same.
 */
static void seed_footprint(struct session *s, pid_t pid, uint64_t cgroup_id)
{
	struct maps_entry *m = NULL;
	size_t n = 0;

	if (procmaps__read(pid, &m, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct pm_record rec = {.type = PM_REC_EVENT};
		bool heap = strcmp(m[i].path, "[heap]") == 0;

		if (!heap && (m[i].path[0] || m[i].inode))
			continue; /* a file, or the stack, vdso and the like */
		if (m[i].perms[0] != 'r' && m[i].perms[1] != 'w')
			continue; /* reserved, not usable: PROT_NONE */
		rec.ev.ts_ns = pm_now_ns();
		rec.ev.cgroup_id = cgroup_id;
		rec.ev.pid = rec.ev.tid = (uint32_t)pid;
		rec.ev.kind = PM_VM;
		rec.ev.vm.op = heap ? PM_VM_BRK : PM_VM_MMAP;
		rec.ev.vm.prot = (m[i].perms[0] == 'r' ? 1 : 0) | (m[i].perms[1] == 'w' ? 2 : 0) |
				 (m[i].perms[2] == 'x' ? 4 : 0);
		rec.ev.vm.flags = PM_VM_EXISTING;
		if (heap) {
			rec.ev.vm.addr = m[i].end;
			rec.ev.vm.old_addr = m[i].start;
		} else {
			rec.ev.vm.addr = m[i].start;
		}
		rec.ev.vm.len = m[i].end - m[i].start;
		ss_emit(s, &rec);
	}
	free(m);
}

/* Describe a process and how pymac came to trace it; one that ran before
 * pymac saw it start (not the command, nor a process that just exec'd) also
 * says what it already holds. */
void ss_emit_process(struct session *s, const struct target_proc *tp, enum pm_proc_origin origin)
{
	bool seed = origin != PM_ORIGIN_STARTED;
	struct pm_record rec = {.type = PM_REC_PROCESS};
	struct container_ref ref;
	char cgpath[CONTAINER_CGPATH_MAX];
	uint64_t cg = tp->cgroup_id;

	/* A process in a sub-cgroup of a traced container belongs to it. */
	if (s->nconts && container_ref__of_pid(tp->pid, &ref, cgpath, sizeof(cgpath)) == 0) {
		struct tracked_container *c = container_of_cgroup(s, cg, cgpath);

		if (c)
			cg = c->info.cgroup_id;
	}
	rec.proc.ts_ns = pm_now_ns();
	rec.proc.pid = tp->pid;
	rec.proc.ppid = tp->ppid;
	rec.proc.cgroup_id = cg;
	rec.proc.comm = tp->comm;
	rec.proc.exe = tp->exe;
	rec.proc.python = tp->has_python ? tp->python.path : "";
	rec.proc.python_version = tp->python_version;
	rec.proc.origin = origin;
	remember_pid(s, tp->pid);
	ss_emit(s, &rec);
	if (seed && (s->o.targets->sources & (1u << PM_SOURCE_FOOTPRINT)))
		seed_footprint(s, tp->pid, cg);
}

/* Attach to what a running process maps; say what each source sees, once
 * per process and set of binaries (an exec of the same interpreter changes
 * nothing). */
int ss_attach_process(struct session *s, const struct target_proc *tp)
{
	uint64_t pd = tp->has_python ? tp->python.dev : 0, pi = tp->has_python ? tp->python.ino : 0;
	uint64_t ld = tp->has_libc ? tp->libc.dev : 0, li = tp->has_libc ? tp->libc.ino : 0;
	struct probe_coverage cov;
	size_t i;
	int n;

	for (i = 0; i < s->nreported; i++)
		if (s->reported[i].pid == tp->pid)
			break;
	if (i < s->nreported && s->reported[i].py_dev == pd && s->reported[i].py_ino == pi &&
	    s->reported[i].libc_dev == ld && s->reported[i].libc_ino == li)
		return 0;
	if (i == s->nreported && s->nreported < KNOWN_PIDS_MAX)
		s->nreported++;
	if (i < s->nreported) {
		s->reported[i].pid = tp->pid;
		s->reported[i].py_dev = pd;
		s->reported[i].py_ino = pi;
		s->reported[i].libc_dev = ld;
		s->reported[i].libc_ino = li;
	}
	n = probes__attach_pid(s->probes, s->pid_links ? tp->pid : -1,
			       tp->has_python ? &tp->python : NULL, tp->python_version,
			       tp->has_libc ? &tp->libc : NULL, &cov);
	/* Say it on stderr once per set of binaries: a container that starts
	 * the same interpreter every second would repeat it every second. */
	bool printed = false;
	for (size_t k = 0; k < s->nprinted && !printed; k++)
		printed = s->printed[k].py_dev == pd && s->printed[k].py_ino == pi &&
			  s->printed[k].libc_dev == ld && s->printed[k].libc_ino == li;
	if (!printed && s->nprinted < sizeof(s->printed) / sizeof(s->printed[0])) {
		s->printed[s->nprinted].py_dev = pd;
		s->printed[s->nprinted].py_ino = pi;
		s->printed[s->nprinted].libc_dev = ld;
		s->printed[s->nprinted].libc_ino = li;
		s->nprinted++;
	}
	report_coverage(s, tp->pid, tp->has_python, printed, &cov);
	return n;
}

static void schedule_rescan(struct session *s, pid_t pid)
{
	unsigned long long now = pm_now_ns();
	size_t i;

	for (i = 0; i < s->nrescans; i++)
		if (s->rescans[i].pid == pid)
			break;
	if (i == s->nrescans) {
		if (s->nrescans == RESCANS_MAX)
			return;
		s->nrescans++;
	}
	s->rescans[i].pid = pid;
	s->rescans[i].deadline = now + RESCAN_WINDOW_NS;
	s->rescans[i].next = now;
	s->rescans[i].delay = RESCAN_FIRST_NS;
}

/*
 * After an exec, the new program's libraries appear in its maps only once
 * the dynamic loader has mapped them: look again for a short while, and
 * attach the interpreter and libc as soon as they show up.
 */
void ss_run_rescans(struct session *s)
{
	unsigned long long now = pm_now_ns();
	bool want_libc = s->o.targets->sources & (1u << PM_SOURCE_LIBC);

	for (size_t i = 0; i < s->nrescans;) {
		struct target_proc tp;
		bool done = now > s->rescans[i].deadline;

		/* The loader maps the libraries within milliseconds of the
		 * exec; a later dlopen is rarer: look often at first, then less
		 * (reading maps after every poll cost a busy session a third of
		 * a core, mostly for short programs that never load Python). */
		if (!done && now < s->rescans[i].next) {
			i++;
			continue;
		}
		s->rescans[i].next = now + s->rescans[i].delay;
		if (s->rescans[i].delay < RESCAN_MAX_GAP_NS)
			s->rescans[i].delay *= 2;
		if (target_proc__inspect(s->rescans[i].pid, &tp) != 0) {
			done = true; /* gone */
		} else if (done || (tp.has_python && (tp.has_libc || !want_libc))) {
			/* everything it will load is mapped, or time is up */
			ss_emit_process(s, &tp, PM_ORIGIN_STARTED);
			ss_attach_process(s, &tp);
			done = true;
		}
		if (done)
			s->rescans[i] = s->rescans[--s->nrescans];
		else
			i++;
	}
}

int ss_watcher_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct session *s = (struct session *)((char *)sink - offsetof(struct session, watcher));
	const struct pm_event *e = &rec->ev;

	if (rec->type != PM_REC_EVENT)
		return 0;
	if (e->kind == PM_EXEC) {
		schedule_rescan(s, e->pid);
		remember_pid(s, e->pid);
		return 0;
	}
	if (e->kind == PM_EXIT) {
		forget_pid(s, e->pid);
		return 0;
	}
	if (!ss_known_pid(s, e->pid) && s->ninspect < RESCANS_MAX) {
		/* a child that forked (not exec'd), or a process that entered a
		 * traced cgroup: described once, after this poll */
		remember_pid(s, e->pid);
		s->inspect[s->ninspect++] = e->pid;
	}
	return 0;
}

/* Describe the pids the last poll brought (ss_watcher_record). */
void ss_inspect_new_pids(struct session *s)
{
	for (size_t i = 0; i < s->ninspect; i++) {
		struct target_proc tp;

		if (target_proc__inspect(s->inspect[i], &tp) == 0)
			ss_emit_process(s, &tp, PM_ORIGIN_FORKED);
	}
	s->ninspect = 0;
}

void ss_lost_cb(void *ctx, uint32_t pid, uint32_t kind, uint64_t count)
{
	struct session *s = ctx;
	uint64_t key = ((uint64_t)pid << 32 | kind) + 1;
	struct u64map_ent *e = u64map__get(&s->lost, key);
	struct pm_record rec = {.type = PM_REC_LOST};

	if (e && e->val == count)
		return;
	/* out of memory: the count goes out now, and again at the next look */
	if (e)
		e->val = count;
	rec.lost.ts_ns = pm_now_ns();
	rec.lost.pid = pid;
	rec.lost.kind = kind;
	rec.lost.count = count;
	ss_emit(s, &rec);
}
