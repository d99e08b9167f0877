// SPDX-License-Identifier: MIT
/* Each file attached once (by device and inode), for every process or for
 * one, and what each process's sources see (probes_impl.h). */
#include "attach/probes_impl.h"
#include "util/grow.h"

int pr_version_minor(const char *version)
{
	int ma = 0, mi = -1;

	if (sscanf(version ? version : "", "%d.%d", &ma, &mi) != 2 || ma != 3)
		return -1;
	return mi;
}

struct attached_binary *pr_new_bin(struct probes *p, const struct target_binary *b, pid_t pid)
{
	if (p->nbins == p->capbins) {
		void *n = PM_GROW(p->bins, &p->capbins, p->nbins + 1, 8);

		if (!n)
			return NULL;
		p->bins = n;
	}
	struct attached_binary *ab = &p->bins[p->nbins++];
	memset(ab, 0, sizeof(*ab));
	ab->dev = b->dev;
	ab->ino = b->ino;
	ab->pid = pid;
	ab->plan = (long)(ab - p->bins);
	ab->file_fd = p->sample && !p->dry ? open(b->host_path, O_PATH | O_CLOEXEC) : -1;
	for (int i = 0; i < SAMPLE_PROGS; i++)
		ab->sfds[i] = -1;
	for (int s = 0; s < PM_SOURCE_COUNT; s++)
		ab->cov.status[s] = PM_SRC_OFF;
	return ab;
}

void pr_attach_python_binary(struct probes *p, const struct target_binary *b, const char *version,
			     struct probe_coverage *cov)
{
	struct elf_file *ef = elf_file__open(b->host_path);

	if (!ef) {
		for (int s = PM_SOURCE_PYMALLOC; s <= PM_SOURCE_GC; s++)
			if (p->sources & (1u << s))
				pr_set_cov(cov, s, PM_SRC_NONE, "cannot read %s: %s", b->path,
					   strerror(errno));
		return;
	}
	struct dwarf_info di = {0};

	cov->free_threaded = pr_free_threaded(ef) == 1;
	if (p->sources & (1u << PM_SOURCE_PYMALLOC))
		pr_attach_pymalloc(p, ef, b, version, &di, cov);
	if (p->sources & (1u << PM_SOURCE_DEALLOC))
		pr_attach_dealloc(p, ef, b, version, &di, cov);
	pr_dwarf_info__free(&di);
	if (p->sources & (1u << PM_SOURCE_GC))
		pr_attach_gc(p, ef, b, version, cov);
	elf_file__close(ef);
}

/* Make the links of plan (the first attachment of the file) again, for
 * p->cur_pid. */
void pr_replay_plan(struct probes *p, const struct attached_binary *plan, const char *path)
{
	for (size_t i = 0; i < plan->nsteps; i++) {
		const struct plan_step *st = &plan->steps[i];
		int err;

		if (!st->prog && !p->dry)
			continue;
		err = pr_step_link(p, st, path);
		/* the process may be gone already; the others are unaffected */
		if (err && getenv("PYMAC_DEBUG"))
			fprintf(stderr, "pymac: %s for pid %d: %s\n", path, p->cur_pid,
				strerror(-err));
	}
}

static void close_bin_links(struct probes *p, struct attached_binary *ab)
{
	struct closer c = {};

	for (size_t i = ab->link_from; i < ab->link_to && i < p->nlinks; i++) {
		bpf_link__destroy(p->links[i]);
		p->links[i] = NULL;
	}
	for (size_t i = ab->mfd_from; i < ab->mfd_to && i < p->nmfds; i++) {
		if (p->mfds[i] >= 0)
			close(p->mfds[i]);
		p->mfds[i] = -1;
	}
	p->msites -= ab->msites <= p->msites ? ab->msites : p->msites;
	ab->msites = 0;
	ab->dead = true;
	pr_take_sampled(ab, &c);
	pr_closer__run(&c);
}

/*
 * The attachment of file b for process pid (-1: every process), made now
 * if there is none: the first one of a file analyses it (analyse), the
 * others replay that one's plan. NULL if out of memory.
 */
static struct attached_binary *bin_for(struct probes *p, const struct target_binary *b, pid_t pid,
				       bool is_python, const char *version)
{
	long plan = -1, idx;
	size_t npid = 0;

	if (!p->pid_filter || p->dry || pid <= 0)
		pid = -1;
	for (size_t i = 0; i < p->nbins; i++) {
		struct attached_binary *ab = &p->bins[i];

		if (ab->dev != b->dev || ab->ino != b->ino || ab->is_python != is_python)
			continue;
		if (plan < 0)
			plan = (long)i;
		if (ab->dead)
			continue;
		/* attached for every process: nothing to add */
		if (ab->pid == -1 || ab->pid == pid)
			return ab;
		npid++;
	}
	/*
	 * Many processes of one file (a server's workers, a script starting
	 * interpreters in a loop): one link set each would hold thousands of
	 * descriptors; attach the file for every process instead.
	 */
	bool widen = pid != -1 && npid >= PROBES_PID_SETS_MAX;
	if (widen)
		pid = -1;
	struct attached_binary *ab = pr_new_bin(p, b, pid);
	if (!ab)
		return NULL;
	idx = (long)(ab - p->bins);
	ab->is_python = is_python;
	ab->link_from = p->nlinks;
	ab->mfd_from = p->nmfds;
	size_t msites0 = p->msites;
	p->cur_pid = pid;
	if (plan < 0) {
		p->planning = idx;
		if (is_python) {
			pr_attach_python_binary(p, b, version, &ab->cov);
		} else {
			struct elf_file *ef = elf_file__open(b->host_path);

			if (ef) {
				pr_attach_libc(p, ef, b, &ab->cov);
				elf_file__close(ef);
			} else {
				pr_set_cov(&ab->cov, PM_SOURCE_LIBC, PM_SRC_NONE,
					   "cannot read %s: %s", b->path, strerror(errno));
			}
		}
		p->planning = -1;
	} else {
		ab->plan = plan;
		pr_replay_plan(p, &p->bins[plan], b->host_path);
		ab->cov = p->bins[plan].cov;
	}
	p->cur_pid = -1;
	/* a process that shows up inside a window is armed with the others */
	if (p->armed) {
		int err = pr_arm_bin(p, ab);

		if (err && getenv("PYMAC_DEBUG"))
			fprintf(stderr, "pymac: arming %s for pid %d: %s\n", b->path, pid,
				strerror(-err));
	}
	ab->link_to = p->nlinks;
	ab->mfd_to = p->nmfds;
	ab->msites = p->msites - msites0;
	if (pid == -1 && npid) {
		/*
		 * Now attached for every process: the per-process links would
		 * make a second event per call in their processes. Between the
		 * two, those processes' calls are reported twice (a few ms).
		 */
		for (size_t i = 0; i < p->nbins; i++) {
			struct attached_binary *o = &p->bins[i];

			if ((long)i != idx && !o->dead && o->dev == b->dev && o->ino == b->ino &&
			    o->is_python == is_python)
				close_bin_links(p, o);
		}
		if (!p->said_switch) {
			p->said_switch = true;
			fprintf(stderr,
				"pymac: more than %d traced processes run %s: its probes now fire "
				"in every process that maps it (untraced ones trap too)\n",
				PROBES_PID_SETS_MAX, b->path);
		}
	}
	return &p->bins[idx];
}

int probes__attach(struct probes *p, const struct target_binary *python, const char *py_version,
		   const struct target_binary *libc, struct probe_coverage *cov)
{
	return probes__attach_pid(p, -1, python, py_version, libc, cov);
}

static void copy_cov(struct probe_coverage *to, const struct probe_coverage *from, int s)
{
	to->status[s] = from->status[s];
	memcpy(to->detail[s], from->detail[s], sizeof(to->detail[s]));
	memcpy(to->sites[s], from->sites[s], sizeof(to->sites[s]));
	to->nsites[s] = from->nsites[s];
}

static int attach_pid_locked(struct probes *p, pid_t pid, const struct target_binary *python,
			     const char *py_version, const struct target_binary *libc,
			     struct probe_coverage *cov);

int probes__attach_pid(struct probes *p, pid_t pid, const struct target_binary *python,
		       const char *py_version, const struct target_binary *libc,
		       struct probe_coverage *cov)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = attach_pid_locked(p, pid, python, py_version, libc, cov);
	pthread_mutex_unlock(&p->lock);
	return n;
}

static int attach_pid_locked(struct probes *p, pid_t pid, const struct target_binary *python,
			     const char *py_version, const struct target_binary *libc,
			     struct probe_coverage *cov)
{
	struct attached_binary *ab;
	int n = 0;

	memset(cov->nsites, 0, sizeof(cov->nsites));
	cov->free_threaded = false;
	for (int s = 0; s < PM_SOURCE_COUNT; s++) {
		cov->status[s] = (p->sources & (1u << s)) ? PM_SRC_NONE : PM_SRC_OFF;
		snprintf(cov->detail[s], sizeof(cov->detail[s]), "%s",
			 (p->sources & (1u << s)) ? "no binary for this source" : "not requested");
	}
	if (p->sources & (1u << PM_SOURCE_FOOTPRINT)) {
		/* kernel tracepoints and /proc: nothing in the process to attach */
		cov->status[PM_SOURCE_FOOTPRINT] = PM_SRC_FULL;
		snprintf(cov->detail[PM_SOURCE_FOOTPRINT], sizeof(cov->detail[0]),
			 "anonymous mmap/munmap/mremap and brk syscalls (kernel tracepoints), "
			 "RSS sampled from /proc");
	}
	if (python) {
		ab = bin_for(p, python, pid, true, py_version ? py_version : "");
		if (ab) {
			cov->free_threaded = ab->cov.free_threaded;
			for (int s = PM_SOURCE_PYMALLOC; s <= PM_SOURCE_GC; s++)
				if (p->sources & (1u << s))
					copy_cov(cov, &ab->cov, s);
		}
	} else {
		for (int s = PM_SOURCE_PYMALLOC; s <= PM_SOURCE_GC; s++)
			if (p->sources & (1u << s))
				snprintf(cov->detail[s], sizeof(cov->detail[s]),
					 "no Python interpreter (PyObject_Malloc) in this process");
	}
	if (libc && (p->sources & (1u << PM_SOURCE_LIBC))) {
		ab = bin_for(p, libc, pid, false, "");
		if (ab)
			copy_cov(cov, &ab->cov, PM_SOURCE_LIBC);
	} else if (p->sources & (1u << PM_SOURCE_LIBC)) {
		snprintf(cov->detail[PM_SOURCE_LIBC], sizeof(cov->detail[0]),
			 "no libc found in this process (statically linked?)");
	}
	for (int s = 0; s < PM_SOURCE_COUNT; s++)
		if (cov->status[s] == PM_SRC_FULL || cov->status[s] == PM_SRC_PARTIAL)
			n++;
	return n;
}

int probes__traced_pids(struct probes *p, pid_t *out, size_t max)
{
	__u32 key, next;
	void *prev = NULL;
	size_t n = 0;
	int err;

	if (p->dry)
		return -EINVAL;
	while (n < max && (err = bpf_map__get_next_key(p->skel->maps.traced_pids, prev, &next,
						       sizeof(next))) == 0) {
		out[n++] = (pid_t)next;
		key = next;
		prev = &key;
	}
	return (int)n;
}

int probes__lost_foreach(struct probes *p, probes_lost_cb cb, void *ctx)
{
	struct pm_lost_key key, next;
	struct bpf_map *m = p->skel ? p->skel->maps.lost_events : NULL;
	void *prev = NULL;
	__u64 val;
	int err;

	if (p->dry)
		return 0;
	while ((err = bpf_map__get_next_key(m, prev, &next, sizeof(next))) == 0) {
		if (bpf_map__lookup_elem(m, &next, sizeof(next), &val, sizeof(val), 0) == 0)
			cb(ctx, next.pid, next.kind, val);
		key = next;
		prev = &key;
	}
	return err == -ENOENT ? 0 : err;
}

uint64_t probes__lost_total(const struct probes *p)
{
	uint64_t sum = 0;

	if (p->dry)
		return 0;
	for (int k = 0; k < PM_KIND_MAX; k++)
		sum += p->skel->bss->pm_lost_by_kind[k];
	return sum;
}

size_t probes__link_count(const struct probes *p)
{
	struct probes *q = (struct probes *)p;
	size_t n = p->nlinks + p->msites;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < p->nbins; i++)
		n += p->bins[i].ssites;
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t probes__sampled_sites(const struct probes *p)
{
	struct probes *q = (struct probes *)p;
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < p->nbins; i++) {
		const struct attached_binary *plan = &p->bins[p->bins[i].plan];

		if (p->bins[i].dead)
			continue;
		for (size_t k = 0; k < plan->nsteps; k++)
			if (plan->steps[k].prog && pr_sampled_prog(p, plan->steps[k].prog) &&
			    !plan->steps[k].retprobe)
				n += plan->steps[k].mcnt ? plan->steps[k].mcnt : 1;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}
