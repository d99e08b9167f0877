// SPDX-License-Identifier: MIT
/* --sample-duty: arming and disarming the allocation families in windows
 * (probes_impl.h; docs/design.md, "Sampling windows"). */
#include "attach/probes_impl.h"

/* ---- sampling ---- */

/* The multi program a sampled step's site goes to when a window arms it,
 * or -1 (a uretprobe: windows arm entries only). */
static int sample_slot(const struct probes *p, const struct bpf_program *prog)
{
	const struct pymac_bpf *k = p->skel;

	if (prog == k->progs.pm_alloc_enter || prog == k->progs.pm_alloc_site ||
	    prog == k->progs.pm_alloc_site_m)
		return 0;
	if (prog == k->progs.pm_free_enter || prog == k->progs.pm_free_m)
		return 1;
	if (prog == k->progs.pm_dealloc || prog == k->progs.pm_dealloc_m)
		return 2;
	return -1;
}

static int slink_add(struct attached_binary *ab, struct bpf_link *l)
{
	return pr_links_push(&ab->slinks, &ab->nslinks, &ab->capslinks, l);
}

/*
 * Arm the sampled steps of ab's plan for ab's process. With uprobe_multi,
 * every site of a program goes into one link (at most three per file):
 * entries only, so an allocation is reported at its call with its size
 * (its block's address, which only a uretprobe sees, stays 0, as at an
 * inlined site). Attaching and closing then costs one kernel
 * unregistration per program instead of one per site, and an allocation
 * costs one trap instead of two. Without uprobe_multi, the plan's own
 * links are made again. 0, or the first error.
 */
int pr_arm_bin(struct probes *p, struct attached_binary *ab)
{
	const struct attached_binary *plan = &p->bins[ab->plan];
	char fdpath[32];
	const char *path = fdpath;
	int ret = 0;

	if (ab->dead || p->dry)
		return 0;
	/* the file itself, wherever the process that showed it has gone */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", ab->file_fd);
	if (ab->file_fd < 0)
		return -ENOENT;
	if (p->multi && !p->sample_perf) {
		struct site_batch sb[SAMPLE_PROGS] = {};
		struct bpf_program *mprog[SAMPLE_PROGS] = {p->skel->progs.pm_alloc_site_m,
							   p->skel->progs.pm_free_m,
							   p->skel->progs.pm_dealloc_m};

		for (size_t i = 0; i < plan->nsteps && !ret; i++) {
			const struct plan_step *st = &plan->steps[i];
			int slot;

			if (!st->prog || !pr_sampled_prog(p, st->prog) ||
			    (slot = sample_slot(p, st->prog)) < 0)
				continue;
			if (st->mcnt)
				for (size_t k = 0; k < st->mcnt && !ret; k++)
					ret = pr_batch_add(&sb[slot], st->moffs[k], st->mcookies[k],
							   NULL);
			else
				ret = pr_batch_add(&sb[slot], st->offset, st->cookie, NULL);
		}
		for (int i = 0; i < SAMPLE_PROGS; i++) {
			if (!ret && sb[i].n && ab->sfds[i] < 0) {
				int fd = pr_multi_fd(mprog[i], path, sb[i].offsets, sb[i].cookies,
						     sb[i].n, ab->pid, false);

				if (fd < 0)
					ret = fd;
				else {
					ab->sfds[i] = fd;
					ab->ssites += sb[i].n;
				}
			}
			pr_batch_free(&sb[i]);
		}
		return ret;
	}
	for (size_t i = 0; i < plan->nsteps; i++) {
		const struct plan_step *st = &plan->steps[i];
		LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = st->cookie, .retprobe = st->retprobe);
		struct bpf_link *l;

		if (!st->prog || !pr_sampled_prog(p, st->prog) || st->mcnt)
			continue;
		l = bpf_program__attach_uprobe_opts(st->prog, ab->pid, path, st->offset, &o);
		if (!l) {
			if (!ret)
				ret = -errno;
			continue;
		}
		if (slink_add(ab, l) == 0)
			ab->ssites++;
	}
	return ret;
}

int probes__sample(struct probes *p, bool on, uint64_t *when_ns)
{
	struct closer c = {};
	uint64_t t0 = pm_now_ns();
	int ret = 0;

	if (when_ns)
		*when_ns = t0;
	if (!p->sample || p->dry)
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->detached || p->armed == on) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	p->armed = on;
	for (size_t i = 0; i < p->nbins; i++) {
		struct attached_binary *ab = &p->bins[i];

		if (!on) {
			pr_take_sampled(ab, &c);
			continue;
		}
		int err = pr_arm_bin(p, ab);

		/* a pid-filtered process that exited cannot be armed: normal */
		if (err && !ret && !(ab->pid > 0 && kill(ab->pid, 0) && errno == ESRCH))
			ret = err;
		if (err && getenv("PYMAC_DEBUG"))
			fprintf(stderr, "pymac: arming %s for pid %d: %s\n",
				p->bins[ab->plan].is_python ? "python" : "libc", ab->pid,
				strerror(-err));
	}
	if (ret && !p->said_arm) {
		p->said_arm = true;
		fprintf(stderr, "pymac: sampling: cannot arm every allocation probe: %s\n",
			strerror(-ret));
	}
	pthread_mutex_unlock(&p->lock);
	/*
	 * When the set counts as armed or disarmed (measured: the events of a
	 * steady workload begin and end within a millisecond of these): a
	 * multi link is armed when its creation returns, and the first one
	 * takes 4-9 ms where the others take microseconds, so arming is done
	 * at its end; closing removes the breakpoints at once and then waits
	 * for the kernel's grace period (50-130 ms), so disarming happens at
	 * its start. Perf-event links arm and disarm one after the other
	 * (each close waits ~0.1 s under a kernel-wide lock): the middle.
	 */
	uint64_t t1 = pm_now_ns();
	bool perf = !p->multi || p->sample_perf;

	if (when_ns)
		*when_ns = on ? (perf ? t0 + (t1 - t0) / 2 : t1) : t0;
	pr_closer__run(&c);
	if (when_ns && !on && perf)
		*when_ns = t0 + (pm_now_ns() - t0) / 2;
	return ret;
}

bool probes__sampled(const struct probes *p)
{
	return p->sample;
}

/* Close the links of ab (a file attached for one process, superseded). */
