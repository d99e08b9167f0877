// SPDX-License-Identifier: MIT
#include "attach/probes_impl.h"
#include "util/grow.h"
#include "util/words.h"

const char *pm_source_name(enum pm_source_id id)
{
	return id < PM_SOURCE_COUNT ? source_names[id] : "?";
}

const char *probe_coverage__source_name(const struct probe_coverage *cov, enum pm_source_id id)
{
	if (id == PM_SOURCE_PYMALLOC && cov->free_threaded)
		return "mimalloc";
	return pm_source_name(id);
}

int pm_sources_parse(const char *list, unsigned *mask, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *tok;

	*mask = 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i;

		for (i = 0; i < PM_SOURCE_COUNT; i++)
			if (strcmp(tok, source_names[i]) == 0)
				break;
		if (i == PM_SOURCE_COUNT) {
			snprintf(err, errlen,
				 "unknown probe source '%s' (choose from "
				 "pymalloc,dealloc,gc,libc,footprint)",
				 tok);
			return -EINVAL;
		}
		*mask |= 1u << i;
	}
	if (!*mask) {
		snprintf(err, errlen,
			 "--probes needs at least one of pymalloc,dealloc,gc,libc,footprint");
		return -EINVAL;
	}
	return 0;
}

/* Append l to a growing array of links; when there is no room for it,
 * destroy it here and now (a link nobody holds would never be closed). */
int pr_links_push(struct bpf_link ***v, size_t *n, size_t *cap, struct bpf_link *l)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 32;
		void *grown = realloc(*v, c * sizeof(**v));

		if (!grown) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
		*v = grown;
		*cap = c;
	}
	(*v)[(*n)++] = l;
	return 0;
}

int pr_add_link(struct probes *p, struct bpf_link *l)
{
	return pr_links_push(&p->links, &p->nlinks, &p->caplinks, l);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_WARN && getenv("PYMAC_DEBUG"))
		return vfprintf(stderr, fmt, args);
	if (level == LIBBPF_DEBUG && getenv("PYMAC_DEBUG") &&
	    strcmp(getenv("PYMAC_DEBUG"), "2") == 0)
		return vfprintf(stderr, fmt, args);
	return 0;
}

/*
 * Prepare the programs of uprobe_multi links, or leave them out. With all,
 * every uprobe program is loaded for them, and a site of its own is a link
 * of one site: closing a perf-event uprobe link waits for the kernel's
 * event mutex and a grace period under it (about 0.1-0.2 s each here, one
 * link after the other whatever the threads), where uprobe_multi links
 * unregister without that mutex and closed together share the wait.
 */
static void set_multi(struct pymac_bpf *skel, bool on, bool all)
{
	struct bpf_program *progs[] = {skel->progs.pm_alloc_site_m, skel->progs.pm_free_m,
				       skel->progs.pm_dealloc_m};
	struct bpf_program *singles[] = {
	    skel->progs.pm_alloc_enter,	     skel->progs.pm_alloc_site, skel->progs.pm_alloc_exit,
	    skel->progs.pm_free_enter,	     skel->progs.pm_dealloc,	skel->progs.pm_gc_fn_enter,
	    skel->progs.pm_gc_fn_generation, skel->progs.pm_gc_fn_exit, skel->progs.pm_free_mark,
	    skel->progs.pm_free_target};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (on)
			bpf_program__set_expected_attach_type(progs[i], PM_TRACE_UPROBE_MULTI);
		else
			bpf_program__set_autoload(progs[i], false);
	}
	for (size_t i = 0; on && all && i < sizeof(singles) / sizeof(singles[0]); i++)
		bpf_program__set_expected_attach_type(singles[i], PM_TRACE_UPROBE_MULTI);
}

static void probes__init_common(struct probes *p, unsigned sources)
{
	const char *pf = getenv("PYMAC_PID_FILTER"), *ps = getenv("PYMAC_PROBE_SITES");
	const char *pz = getenv("PYMAC_POOL_SIZES"), *gm = getenv("PYMAC_GC_METHOD");
	const char *ds = getenv("PYMAC_DEALLOC_SITES"), *pm = getenv("PYMAC_PYMALLOC_SITES");
	const char *fs = getenv("PYMAC_FREE_SITES");

	p->sources = sources;
	p->planning = -1;
	p->cur_pid = -1;
	p->pid_filter = !(pf && strcmp(pf, "0") == 0);
	p->choose_sites = !(ps && strcmp(ps, "entry") == 0);
	p->free_table_ok = !(fs && strcmp(fs, "entry") == 0);
	p->pool_sizes = !pz || !strcmp(pz, "auto") ? POOL_SIZES_AUTO
			: !strcmp(pz, "all")	   ? POOL_SIZES_ALL
						   : POOL_SIZES_OFF;
	p->gc_method = !gm || !strcmp(gm, "auto") ? GC_METHOD_AUTO
		       : !strcmp(gm, "usdt")	  ? GC_METHOD_USDT
		       : !strcmp(gm, "args")	  ? GC_METHOD_ARGS
						  : GC_METHOD_AUTO;
	p->dealloc_sweep = !(ds && strcmp(ds, "entry") == 0);
	p->pymalloc_sites = pm && !strcmp(pm, "code")	 ? PYMALLOC_SITES_CODE
			    : pm && !strcmp(pm, "dwarf") ? PYMALLOC_SITES_DWARF
							 : PYMALLOC_SITES_AUTO;
	pthread_mutex_init(&p->lock, NULL);
}

/* The footprint programs (bpf/vm.bpf.c), attached only for that source. */
#define VM_PROGS 8
static struct bpf_program *vm_prog(struct pymac_bpf *skel, size_t i)
{
	struct bpf_program *progs[VM_PROGS] = {
	    skel->progs.pm_vm_mmap_enter,   skel->progs.pm_vm_mmap_exit,
	    skel->progs.pm_vm_munmap_enter, skel->progs.pm_vm_munmap_exit,
	    skel->progs.pm_vm_mremap_enter, skel->progs.pm_vm_mremap_exit,
	    skel->progs.pm_vm_brk_enter,    skel->progs.pm_vm_brk_exit,
	};

	return progs[i];
}

/*
 * libbpf finds a tracepoint's id in tracefs, which a machine may not have
 * mounted (this one boots without it): mount it where the kernel means it to
 * be, as perf and bpftrace expect too.
 */
static int ensure_tracefs(void)
{
	if (access("/sys/kernel/debug/tracing/events", F_OK) == 0 ||
	    access("/sys/kernel/tracing/events", F_OK) == 0)
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return -errno;
	return 0;
}

/*
 * How much the hot records may fill the ring before one wakes the consumer
 * (bpf/pymac.bpf.h, pm_submit_batched): a sixteenth of it, so that bursts
 * never fill it before the consumer runs, and the consumer's poll timeout
 * picks up what stays below. PYMAC_WAKEUP_BYTES overrides it (0: wake on
 * every record, as before; for measurements).
 */
static uint64_t wakeup_bytes(size_t ringbuf_bytes)
{
	const char *env = getenv("PYMAC_WAKEUP_BYTES");
	uint64_t size = ringbuf_bytes ? ringbuf_bytes : 64u << 20;

	if (env && *env)
		return strtoull(env, NULL, 0);
	return size / 16 > 65536 ? size / 16 : 65536;
}

/* Open and load the BPF object, with or without the uprobe_multi programs.
 * p->skel is NULL (and err says why) when it cannot even be opened. */
static int skel_load(struct probes *p, const struct probes_opts *opts, bool multi, char *err,
		     size_t errlen)
{
	p->multi_tried_off = !multi;
	p->skel = pymac_bpf__open();
	if (!p->skel) {
		int ret = -errno;

		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		return ret;
	}
	p->skel->rodata->pm_filter_cgroups = opts->filter_cgroups;
	p->skel->rodata->pm_wakeup_bytes = wakeup_bytes(opts->ringbuf_bytes);
	if (opts->ringbuf_bytes)
		bpf_map__set_max_entries(p->skel->maps.events, opts->ringbuf_bytes);
	set_multi(p->skel, multi, p->multi_all);
	if (!(opts->sources & (1u << PM_SOURCE_FOOTPRINT)))
		for (size_t i = 0; i < VM_PROGS; i++)
			bpf_program__set_autoload(vm_prog(p->skel, i), false);
	return pymac_bpf__load(p->skel);
}

/* Fewer descriptors than this and the BPF object's maps, programs and the
 * first links may not all open (measured: 64 lose some links, 32 cannot
 * attach the process probes, 16 cannot load at all). */
#define FDS_NEEDED 256

static unsigned long fd_limit(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) ? 0 : (unsigned long)rl.rlim_cur;
}

int pr_fd_hint(char *buf, size_t len)
{
	return snprintf(
	    buf, len, "out of file descriptors (ulimit -n is %lu; raise it, e.g. ulimit -n 65536)",
	    fd_limit());
}

struct probes *probes__open(const struct probes_opts *opts, char *err, size_t errlen)
{
	struct probes *p;
	int ret;

	/* said before anything is loaded, rather than as a kernel refusal */
	if (fd_limit() < FDS_NEEDED) {
		snprintf(err, errlen,
			 "cannot load BPF programs: only %lu file descriptors are allowed (ulimit "
			 "-n); pymac needs at least %d: raise the limit (ulimit -n 65536)",
			 fd_limit(), FDS_NEEDED);
		errno = EMFILE;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	libbpf_set_print(libbpf_quiet);
	probes__init_common(p, opts->sources);
	p->sample = opts->sample;
	p->sample_perf =
	    getenv("PYMAC_SAMPLE_LINKS") && strcmp(getenv("PYMAC_SAMPLE_LINKS"), "perf") == 0;
	/* the perf-link ways stay as they were: sampling's own, or asked for */
	p->multi_all = !p->sample_perf && !(getenv("PYMAC_UPROBE_LINKS") &&
					    strcmp(getenv("PYMAC_UPROBE_LINKS"), "perf") == 0);
	ret = skel_load(p, opts, true, err, errlen);
	if (ret && ret != -EPERM && p->skel) {
		/* a kernel without uprobe_multi (before 6.6) refuses those
		 * programs: load the rest, and attach one link per site */
		pymac_bpf__destroy(p->skel);
		ret = skel_load(p, opts, false, err, errlen);
	}
	if (!p->skel)
		goto fail;
	p->multi = !ret && !p->multi_tried_off;
	p->multi_all = p->multi && p->multi_all;
	if (ret) {
		if (ret == -EPERM || (ret == -EACCES && geteuid() != 0))
			snprintf(err, errlen,
				 "cannot load BPF programs: %s; run as root, or grant CAP_BPF, "
				 "CAP_PERFMON and CAP_SYS_PTRACE",
				 strerror(-ret));
		else
			snprintf(
			    err, errlen,
			    "cannot load BPF programs: %s (the kernel refused them; it needs "
			    "BTF, ring buffers and uprobes; PYMAC_DEBUG=1 shows the verifier log)",
			    strerror(-ret));
		goto fail;
	}
	struct bpf_program *procs[] = {p->skel->progs.pm_fork, p->skel->progs.pm_exec,
				       p->skel->progs.pm_exit};
	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		struct bpf_link *l = bpf_program__attach(procs[i]);

		if (!l) {
			char why[128];

			ret = -errno;
			if (ret == -EMFILE || ret == -ENFILE)
				pr_fd_hint(why, sizeof(why));
			else
				snprintf(why, sizeof(why), "%s", strerror(-ret));
			snprintf(err, errlen, "cannot attach %s: %s", bpf_program__name(procs[i]),
				 why);
			goto fail;
		}
		if ((ret = pr_add_link(p, l))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (opts->sources & (1u << PM_SOURCE_FOOTPRINT)) {
		ret = ensure_tracefs();
		if (ret) {
			snprintf(err, errlen,
				 "footprint: tracefs is not mounted at /sys/kernel/tracing and "
				 "mounting it failed: %s",
				 strerror(-ret));
			goto fail;
		}
		for (size_t i = 0; i < VM_PROGS; i++) {
			struct bpf_link *l = bpf_program__attach(vm_prog(p->skel, i));

			if (!l) {
				ret = -errno;
				snprintf(err, errlen, "footprint: cannot attach %s: %s",
					 bpf_program__name(vm_prog(p->skel, i)), strerror(-ret));
				goto fail;
			}
			if ((ret = pr_add_link(p, l))) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
		}
	}
	return p;
fail:
	probes__free(p);
	errno = -ret;
	return NULL;
}

struct probes *probes__open_dry(unsigned sources)
{
	struct probes *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->dry = true;
	probes__init_common(p, sources);
	return p;
}

#define DETACH_THREADS 16

struct close_work {
	const struct closer *c;
	size_t first, stride;
};

static void *close_some(void *arg)
{
	struct close_work *w = arg;
	size_t n = w->c->nlinks + w->c->nfds;

	for (size_t i = w->first; i < n; i += w->stride) {
		if (i < w->c->nfds)
			close(w->c->fds[i]);
		else
			bpf_link__destroy(w->c->links[i - w->c->nfds]);
	}
	return NULL;
}

/*
 * Closing a uprobe link waits for the kernel to unregister it (about
 * 0.1 s each here). Perf-event links are unregistered one at a time under
 * a kernel-wide mutex: one after the other, 21 links took 3.5-6 s to
 * close, from 16 threads 1.6-1.8 s. uprobe_multi links (every uprobe since
 * issue 21, set_multi) take no such mutex, so closed from threads together
 * they share one grace period: 0.2-0.3 s from a stop signal to exit
 * (tests/bench/attach.py). A multi link is also one unregistration for all
 * its sites.
 */
void pr_closer__run(struct closer *c)
{
	struct close_work work[DETACH_THREADS];
	pthread_t tid[DETACH_THREADS];
	bool started[DETACH_THREADS] = {};
	size_t n = c->nlinks + c->nfds, nt = n < DETACH_THREADS ? n : DETACH_THREADS;

	for (size_t t = 0; t < nt; t++) {
		work[t] = (struct close_work){c, t, nt};
		started[t] = t > 0 && pthread_create(&tid[t], NULL, close_some, &work[t]) == 0;
	}
	for (size_t t = 0; t < nt; t++)
		if (!started[t])
			close_some(&work[t]);
	for (size_t t = 1; t < nt; t++)
		if (started[t])
			pthread_join(tid[t], NULL);
	free(c->links);
	free(c->fds);
	memset(c, 0, sizeof(*c));
}

static int closer__add_fd(struct closer *c, int fd)
{
	if (fd < 0)
		return 0;
	if (c->nfds == c->cap_fds) {
		void *n = PM_GROW(c->fds, &c->cap_fds, c->nfds + 1, 16);

		if (!n) {
			close(fd); /* here and now rather than never */
			return -ENOMEM;
		}
		c->fds = n;
	}
	c->fds[c->nfds++] = fd;
	return 0;
}

static int closer__add_link(struct closer *c, struct bpf_link *l)
{
	return l ? pr_links_push(&c->links, &c->nlinks, &c->cap_links, l) : 0;
}

/* Move the sampled links of ab into c (to be closed outside the lock). */
void pr_take_sampled(struct attached_binary *ab, struct closer *c)
{
	for (int i = 0; i < SAMPLE_PROGS; i++) {
		closer__add_fd(c, ab->sfds[i]);
		ab->sfds[i] = -1;
	}
	for (size_t i = 0; i < ab->nslinks; i++)
		closer__add_link(c, ab->slinks[i]);
	ab->nslinks = 0;
	ab->ssites = 0;
}

uint64_t probes__set_window(struct probes *p, bool open)
{
	uint64_t now = open ? pm_now_ns() : 0;

	if (p && !p->dry && p->skel) {
		/* the mapping is shared with the programs: a plain store is
		 * seen by the next program that runs on any CPU */
		__atomic_store_n(&p->skel->bss->pm_window_open, open ? 1 : 0, __ATOMIC_SEQ_CST);
	}
	return open ? now : pm_now_ns();
}

void probes__detach(struct probes *p)
{
	struct closer c = {};

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->detached = true;
	p->armed = false;
	/* one close unregisters every site of a multi link */
	for (size_t i = 0; i < p->nmfds; i++)
		closer__add_fd(&c, p->mfds[i]);
	p->nmfds = 0;
	p->msites = 0;
	for (size_t i = 0; i < p->nlinks; i++)
		closer__add_link(&c, p->links[i]);
	p->nlinks = 0;
	for (size_t i = 0; i < p->nbins; i++)
		pr_take_sampled(&p->bins[i], &c);
	pthread_mutex_unlock(&p->lock);
	pr_closer__run(&c);
}

void probes__free(struct probes *p)
{
	if (!p)
		return;
	probes__detach(p);
	free(p->links);
	free(p->mfds);
	for (size_t i = 0; i < p->nbins; i++) {
		for (size_t k = 0; k < p->bins[i].nsteps; k++) {
			free(p->bins[i].steps[k].moffs);
			free(p->bins[i].steps[k].mcookies);
		}
		free(p->bins[i].steps);
		free(p->bins[i].slinks);
		if (p->bins[i].file_fd >= 0)
			close(p->bins[i].file_fd);
	}
	free(p->bins);
	pymac_bpf__destroy(p->skel);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int probes__ringbuf_fd(const struct probes *p)
{
	if (p->dry)
		return -EINVAL;
	return bpf_map__fd(p->skel->maps.events);
}

int probes__trace_pid(struct probes *p, pid_t pid)
{
	__u32 key = pid;
	__u8 one = 1;

	if (p->dry)
		return -EINVAL;
	return bpf_map__update_elem(p->skel->maps.traced_pids, &key, sizeof(key), &one, sizeof(one),
				    BPF_ANY);
}

int probes__trace_cgroup(struct probes *p, uint64_t cgroup_id)
{
	__u64 key = cgroup_id;
	__u8 one = 1;

	if (p->dry)
		return -EINVAL;
	return bpf_map__update_elem(p->skel->maps.traced_cgroups, &key, sizeof(key), &one,
				    sizeof(one), BPF_ANY);
}

int probes__untrace_cgroup(struct probes *p, uint64_t cgroup_id)
{
	__u64 key = cgroup_id;

	if (p->dry)
		return -EINVAL;
	return bpf_map__delete_elem(p->skel->maps.traced_cgroups, &key, sizeof(key), 0);
}

/* Remember an attachment of the file being planned, to replay it for
 * other processes. */
struct plan_step *pr_plan_add(struct probes *p)
{
	struct attached_binary *ab;

	if (p->planning < 0)
		return NULL;
	ab = &p->bins[p->planning];
	if (ab->nsteps == ab->capsteps) {
		void *n = PM_GROW(ab->steps, &ab->capsteps, ab->nsteps + 1, 16);

		if (!n)
			return NULL;
		ab->steps = n;
	}
	memset(&ab->steps[ab->nsteps], 0, sizeof(ab->steps[0]));
	return &ab->steps[ab->nsteps++];
}

/* The programs of the sampled families: everything but GC (and the
 * footprint tracepoints, which are not uprobes). */
bool pr_sampled_prog(const struct probes *p, const struct bpf_program *prog)
{
	const struct pymac_bpf *k = p->skel;

	return k && prog &&
	       (prog == k->progs.pm_alloc_enter || prog == k->progs.pm_alloc_exit ||
		prog == k->progs.pm_alloc_site || prog == k->progs.pm_alloc_site_m ||
		prog == k->progs.pm_free_enter || prog == k->progs.pm_free_m ||
		prog == k->progs.pm_dealloc || prog == k->progs.pm_dealloc_m);
}

/* Under sampling, a sampled program is not attached when a file is
 * analysed: its plan step is kept, and each window arms it (arm_bin). */
bool pr_deferred(const struct probes *p, const struct bpf_program *prog)
{
	return p->sample && pr_sampled_prog(p, prog);
}

int pr_uprobe_link(struct probes *p, struct bpf_program *prog, const char *path, uint64_t offset,
		   uint64_t cookie, bool retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = cookie, .retprobe = retprobe);
	struct bpf_link *l;

	/* a dry run counts a function that resolves as attached */
	if (p->dry || pr_deferred(p, prog))
		return 0;
	/* a link of one site: closing it waits for no kernel-wide mutex */
	if (p->multi_all)
		return pr_multi_link(p, prog, path, &offset, &cookie, 1, retprobe);
	/* with a pid, the kernel arms only that process's memory (its
	 * filter compares mm): other processes of the file never trap */
	l = bpf_program__attach_uprobe_opts(prog, p->cur_pid, path, offset, &o);
	if (!l)
		return -errno;
	return pr_add_link(p, l);
}

int pr_step_link(struct probes *p, const struct plan_step *st, const char *path)
{
	int err = st->mcnt
		      ? pr_multi_link(p, st->prog, path, st->moffs, st->mcookies, st->mcnt, false)
		      : pr_uprobe_link(p, st->prog, path, st->offset, st->cookie, st->retprobe);

	/* said once, by name, instead of a site missing without a word */
	if ((err == -EMFILE || err == -ENFILE) && !p->said_fds) {
		char why[128];

		p->said_fds = true;
		pr_fd_hint(why, sizeof(why));
		fprintf(stderr, "pymac: warning: some probes could not be attached: %s\n", why);
	}
	return err;
}

/* *st = *want, with its own copy of want's sites. 0 or -ENOMEM. */
static int plan_step__copy(struct plan_step *st, const struct plan_step *want)
{
	*st = *want;
	if (!want->mcnt)
		return 0;
	st->moffs = malloc(want->mcnt * sizeof(*st->moffs));
	st->mcookies = malloc(want->mcnt * sizeof(*st->mcookies));
	if (!st->moffs || !st->mcookies) {
		free(st->moffs);
		free(st->mcookies);
		return -ENOMEM;
	}
	memcpy(st->moffs, want->moffs, want->mcnt * sizeof(*st->moffs));
	memcpy(st->mcookies, want->mcookies, want->mcnt * sizeof(*st->mcookies));
	return 0;
}

int pr_attach_step(struct probes *p, const char *path, const struct plan_step *want)
{
	int err = pr_step_link(p, want, path);
	struct plan_step *st;

	if (err)
		return err;
	st = pr_plan_add(p);
	/* not replayable: this step will be missing for other pids */
	if (st && plan_step__copy(st, want))
		memset(st, 0, sizeof(*st));
	return 0;
}

int pr_attach_uprobe(struct probes *p, struct bpf_program *prog, const char *path, uint64_t offset,
		     uint64_t cookie, bool retprobe)
{
	struct plan_step want = {
	    .prog = prog, .offset = offset, .cookie = cookie, .retprobe = retprobe};

	return pr_attach_step(p, path, &want);
}

void pr_set_cov(struct probe_coverage *cov, enum pm_source_id s, enum pm_source_status st,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void pr_set_cov(struct probe_coverage *cov, enum pm_source_id s, enum pm_source_status st,
		const char *fmt, ...)
{
	va_list ap;

	cov->status[s] = st;
	va_start(ap, fmt);
	pm_vfmt_words(cov->detail[s], sizeof(cov->detail[s]), fmt, ap);
	va_end(ap);
}

int probe_site__format(const struct probe_site *s, char *buf, size_t len)
{
	return snprintf(buf, len, "%s +%u %s (%s)", s->fn, s->delta, s->insn,
			s->emulated ? "emulated" : "single-step");
}

/*
 * Where to probe exported function f so that the program finds what it
 * needs as at the entry, at the cheapest instruction (user/attach/sites.h): the
 * entry when nothing better is provable. A uretprobe on the same site is
 * part of nd (nd->stack). The choice is listed in cov's sites of src.
 */
uint64_t pr_choose_site(struct probes *p, const char *path, const struct elf_func *f,
			const struct site_needs *nd, struct probe_coverage *cov,
			enum pm_source_id src)
{
	struct site_choice sc;
	struct probe_site *ps = NULL;
	uint64_t off = f->offset;
	int err = -EINVAL;

	/* an ifunc's symbol is its resolver, not the code that runs */
	if (!f->ifunc)
		err = sites__choose_file(path, f->vaddr, f->size, f->offset, nd, &sc);
	if (!err && p->choose_sites)
		off = sc.offset;
	if (cov && cov->nsites[src] < PROBE_SITES_MAX) {
		ps = &cov->sites[src][cov->nsites[src]++];
		memset(ps, 0, sizeof(*ps));
		snprintf(ps->fn, sizeof(ps->fn), "%.47s", f->name);
		ps->offset = off;
		ps->delta = (uint32_t)(off - f->offset);
		ps->retprobe = nd->stack;
		if (err)
			snprintf(ps->insn, sizeof(ps->insn), "%s",
				 f->ifunc ? "(ifunc)" : "(not read)");
		else
			snprintf(ps->insn, sizeof(ps->insn), "%.39s",
				 off == sc.offset ? sc.insn : sc.entry_insn);
		ps->emulated =
		    !err && (off == sc.offset ? sc.cost : sc.entry_cost) == SITE_EMULATED;
	}
	return off;
}

/*
 * The cookie of a pymalloc site of kind at address site (a vaddr of the
 * binary): with pool layout slot (0: none), a free site also carries the
 * distance from itself to `arenas` in its unused second location, and a
 * realloc site the slot alone (regs.h). *sized: the free site sizes blocks.
 */
uint64_t pr_pool_cookie(enum pm_kind kind, long loc1, long loc2, int slot, uint64_t arenas,
			uint64_t site, bool *sized)
{
	int64_t delta = (int64_t)(arenas - site);

	*sized = slot && kind == PM_PY_FREE && delta >= PM_COOKIE_DIST_MIN &&
		 delta <= PM_COOKIE_DIST_MAX;
	if (*sized)
		loc2 = (long)((uint64_t)delta & 0xfffffff);
	uint64_t cookie = PM_COOKIE(kind == PM_PY_DEALLOC ? 0 : kind, loc1, loc2);

	return *sized || (slot && kind == PM_PY_REALLOC) ? PM_COOKIE_SET_POOL(cookie, slot)
							 : cookie;
}

int pr_attach_alloc_probes(struct probes *p, const char *path, enum pm_kind kind, uint64_t off,
			   uint64_t cookie)
{
	int err;

	if (pm_kind_is_free(kind))
		return pr_attach_uprobe(p, PROG(p, pm_free_enter), path, off, cookie, false);
	err = pr_attach_uprobe(p, PROG(p, pm_alloc_enter), path, off, cookie, false);
	if (!err)
		err = pr_attach_uprobe(p, PROG(p, pm_alloc_exit), path, off, PM_COOKIE(kind, 0, 0),
				       true);
	return err;
}

/* Attach entry (and return) probes on one allocator function. */
static int attach_alloc_fn(struct probes *p, struct elf_file *ef, const char *path, const char *fn,
			   enum pm_kind kind, struct probe_coverage *cov, enum pm_source_id src)
{
	bool two = kind == PM_PY_CALLOC || kind == PM_CALLOC || kind == PM_PY_REALLOC ||
		   kind == PM_REALLOC;
	struct site_needs nd = site_needs__args(two ? 2 : 1, !pm_kind_is_free(kind));
	struct elf_func f;
	uint64_t off;

	if (kind == PM_PY_FREE && p->free_via_table) {
		char why[160];

		if (pr_attach_free_via_table(p, ef, path, cov, why, sizeof(why)) == 0)
			return 0;
		if (getenv("PYMAC_DEBUG"))
			fprintf(stderr, "pymac: PyObject_Free probed at its entry: %s\n", why);
	}
	if (elf_file__find_func(ef, fn, &f))
		return -ENOENT;
	/* the uretprobe goes on the same site: a second site would be a
	 * second trap, and nd.stack keeps rsp and [rsp] as at the entry */
	off = pr_choose_site(p, path, &f, &nd, cov, src);
	bool sized;
	uint64_t cookie =
	    pr_pool_cookie(kind, PM_LOC_ARG1, pm_kind_is_free(kind) ? 0 : PM_LOC_ARG2,
			   p->cur_pool_slot, p->cur_arenas, f.vaddr + (off - f.offset), &sized);

	return pr_attach_alloc_probes(p, path, kind, off, cookie);
}

/* Attach every function of an allocator family; list those that could not
 * be attached, with why, in missing ("" if none). Returns how many were. */
int pr_attach_alloc_family(struct probes *p, struct elf_file *ef, const char *path,
			   const struct alloc_fn *fns, size_t n, char *missing, size_t len,
			   struct probe_coverage *cov, enum pm_source_id src)
{
	int attached = 0;

	missing[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int e = attach_alloc_fn(p, ef, path, fns[i].fn, fns[i].kind, cov, src);

		if (e == 0)
			attached++;
		else
			pm_list_add(missing, len, "", "%s (%s)", fns[i].fn,
				    e == -ENOENT ? "no symbol" : strerror(-e));
	}
	return attached;
}
