// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach/debuginfo.h"
#include "attach/elf_inspect.h"
#include "regs.h" /* before the skeleton: its .bss holds struct pm_pool_layout */
#include "pymac.skel.h"
#include "attach/probes.h"
#include "attach/sites.h"
#include "util/clock.h"

/* A program of the skeleton, or NULL in a dry run (which attaches nothing). */
#define PROG(p, name) ((p)->skel ? (p)->skel->progs.name : NULL)

/*
 * One attachment made while a file was first analysed: replayed as is for
 * another process of the same file, without reading the file again (the
 * DWARF of an LTO build takes half a second).
 */
struct plan_step {
	struct bpf_program *prog;
	uint64_t offset, cookie;
	bool retprobe;
	/* a uprobe_multi link: its sites (mcnt > 0) */
	uint64_t *moffs, *mcookies;
	size_t mcnt;
};

/* The uprobe_multi programs a window arms: allocations, frees, deallocations. */
#define SAMPLE_PROGS 3

/* A file that has been attached for one process or for all, identified as
 * the kernel does. */
struct attached_binary {
	uint64_t dev, ino;
	bool is_python; /* else libc */
	pid_t pid;	/* the process its uprobes fire in; -1: every process */
	bool dead;	/* its links were closed: the file is attached for all now */
	struct probe_coverage cov;
	/* its links: p->links[link_from, link_to), p->mfds[mfd_from, mfd_to) */
	size_t link_from, link_to, mfd_from, mfd_to, msites;
	/* the first attachment of a file holds the plan the others replay */
	struct plan_step *steps;
	size_t nsteps, capsteps;
	/*
	 * Sampling: the bin holding the plan, the file held open so that a
	 * window can arm it again after the process it was found through has
	 * gone (its /proc/PID/root path with it), and the links of the
	 * sampled families while armed.
	 */
	long plan;
	int file_fd;
	int sfds[SAMPLE_PROGS];
	struct bpf_link **slinks;
	size_t nslinks, capslinks, ssites;
};

struct probes {
	struct pymac_bpf *skel; /* NULL in a dry run */
	bool dry;
	unsigned sources;
	struct bpf_link **links;
	size_t nlinks, caplinks;
	struct attached_binary *bins;
	size_t nbins, capbins;
	/* uprobe_multi links (raw fds: libbpf 1.1 has no API for them), and
	 * how many sites they hold */
	bool multi;	      /* the kernel took the programs loaded for them */
	bool multi_tried_off; /* the last load was without them */
	int *mfds;
	size_t nmfds, capmfds, msites;
	/* the attachment being planned (index into bins), or -1 */
	long planning;
	pid_t cur_pid;	   /* for the links being made */
	bool pid_filter;   /* PYMAC_PID_FILTER=0 turns it off */
	bool choose_sites; /* PYMAC_PROBE_SITES=entry keeps every entry */
	bool said_switch;
	/*
	 * Sampling: the allocation families are attached only while armed
	 * (probes__sample). lock guards bins and links against the thread
	 * that arms and disarms them.
	 */
	bool sample, armed, detached;
	bool sample_perf; /* PYMAC_SAMPLE_LINKS=perf: one perf link per site */
	bool said_arm;
	pthread_mutex_t lock;
	/* pymalloc layouts of the builds whose frees are sized, slot i + 1 of
	 * pm_pools (bpf/regs.h) */
	struct pm_pool_layout pools[PM_POOL_SLOTS - 1];
	int npools;
	/* PYMAC_POOL_SIZES: "off", "auto" (LTO builds located through
	 * DWARF: their allocations at inlined copies have no address) or
	 * "all" (every build whose symbols show pymalloc's arenas) */
	enum { POOL_SIZES_OFF, POOL_SIZES_AUTO, POOL_SIZES_ALL } pool_sizes;
	/* the exported functions being attached size their frees: slot and
	 * the binary's address of `arenas` (0: they don't) */
	int cur_pool_slot;
	uint64_t cur_arenas;
};

static const char *const source_names[PM_SOURCE_COUNT] = {
    [PM_SOURCE_PYMALLOC] = "pymalloc", [PM_SOURCE_DEALLOC] = "dealloc",	    [PM_SOURCE_GC] = "gc",
    [PM_SOURCE_LIBC] = "libc",	       [PM_SOURCE_FOOTPRINT] = "footprint",
};

const char *pm_source_name(enum pm_source_id id)
{
	return id < PM_SOURCE_COUNT ? source_names[id] : "?";
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
static int links_push(struct bpf_link ***v, size_t *n, size_t *cap, struct bpf_link *l)
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

static int add_link(struct probes *p, struct bpf_link *l)
{
	return links_push(&p->links, &p->nlinks, &p->caplinks, l);
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

/* BPF_TRACE_UPROBE_MULTI, which libbpf 1.1's headers do not know */
#define PM_TRACE_UPROBE_MULTI 48

/* Prepare the programs of uprobe_multi links, or leave them out. */
static void set_multi(struct pymac_bpf *skel, bool on)
{
	struct bpf_program *progs[] = {skel->progs.pm_alloc_site_m, skel->progs.pm_free_m,
				       skel->progs.pm_dealloc_m};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (on)
			bpf_program__set_expected_attach_type(progs[i], PM_TRACE_UPROBE_MULTI);
		else
			bpf_program__set_autoload(progs[i], false);
	}
}

static void probes__init_common(struct probes *p, unsigned sources)
{
	const char *pf = getenv("PYMAC_PID_FILTER"), *ps = getenv("PYMAC_PROBE_SITES");
	const char *pz = getenv("PYMAC_POOL_SIZES");

	p->sources = sources;
	p->planning = -1;
	p->cur_pid = -1;
	p->pid_filter = !(pf && strcmp(pf, "0") == 0);
	p->choose_sites = !(ps && strcmp(ps, "entry") == 0);
	p->pool_sizes = !pz || !strcmp(pz, "auto") ? POOL_SIZES_AUTO
			: !strcmp(pz, "all")	   ? POOL_SIZES_ALL
						   : POOL_SIZES_OFF;
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
	set_multi(p->skel, multi);
	if (!(opts->sources & (1u << PM_SOURCE_FOOTPRINT)))
		for (size_t i = 0; i < VM_PROGS; i++)
			bpf_program__set_autoload(vm_prog(p->skel, i), false);
	return pymac_bpf__load(p->skel);
}

struct probes *probes__open(const struct probes_opts *opts, char *err, size_t errlen)
{
	struct probes *p = calloc(1, sizeof(*p));
	int ret;

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
	ret = skel_load(p, opts, true, err, errlen);
	if (ret && ret != -EPERM && p->skel) {
		/* a kernel without uprobe_multi (before 6.6) refuses those
		 * programs: load the rest, and attach one link per site */
		pymac_bpf__destroy(p->skel);
		ret = skel_load(p, opts, false, err, errlen);
	}
	if (!p->skel)
		goto fail;
	if (!ret && !p->multi_tried_off) {
		p->multi = true;
	}
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
			ret = -errno;
			snprintf(err, errlen, "cannot attach %s: %s", bpf_program__name(procs[i]),
				 strerror(-ret));
			goto fail;
		}
		if ((ret = add_link(p, l))) {
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
			if ((ret = add_link(p, l))) {
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

/* Links and multi-link descriptors to close, from several threads. */
struct closer {
	struct bpf_link **links;
	int *fds;
	size_t nlinks, nfds;
	size_t cap_links, cap_fds;
};

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
 * 0.1 s each here, and perf-event links are unregistered one at a time
 * under a kernel-wide mutex). One after the other, 21 links took 3.5-6 s
 * to close; from 16 threads, 1.7-2.3 s, which is what a stop signal or
 * the end of a command costs. A multi link is one unregistration for all
 * its sites.
 */
static void closer__run(struct closer *c)
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
		size_t cap = c->cap_fds ? c->cap_fds * 2 : 16;
		void *n = realloc(c->fds, cap * sizeof(*c->fds));

		if (!n) {
			close(fd); /* here and now rather than never */
			return -ENOMEM;
		}
		c->fds = n;
		c->cap_fds = cap;
	}
	c->fds[c->nfds++] = fd;
	return 0;
}

static int closer__add_link(struct closer *c, struct bpf_link *l)
{
	return l ? links_push(&c->links, &c->nlinks, &c->cap_links, l) : 0;
}

/* Move the sampled links of ab into c (to be closed outside the lock). */
static void take_sampled(struct attached_binary *ab, struct closer *c)
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
		take_sampled(&p->bins[i], &c);
	pthread_mutex_unlock(&p->lock);
	closer__run(&c);
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

/* Remember an attachment of the file being planned, to replay it for
 * other processes. */
static struct plan_step *plan_add(struct probes *p)
{
	struct attached_binary *ab;

	if (p->planning < 0)
		return NULL;
	ab = &p->bins[p->planning];
	if (ab->nsteps == ab->capsteps) {
		size_t cap = ab->capsteps ? ab->capsteps * 2 : 16;
		void *n = realloc(ab->steps, cap * sizeof(*ab->steps));

		if (!n)
			return NULL;
		ab->steps = n;
		ab->capsteps = cap;
	}
	memset(&ab->steps[ab->nsteps], 0, sizeof(ab->steps[0]));
	return &ab->steps[ab->nsteps++];
}

/* The programs of the sampled families: everything but GC (and the
 * footprint tracepoints, which are not uprobes). */
static bool sampled_prog(const struct probes *p, const struct bpf_program *prog)
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
static bool deferred(const struct probes *p, const struct bpf_program *prog)
{
	return p->sample && sampled_prog(p, prog);
}

static int uprobe_link(struct probes *p, struct bpf_program *prog, const char *path,
		       uint64_t offset, uint64_t cookie, bool retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = cookie, .retprobe = retprobe);
	struct bpf_link *l;

	/* a dry run counts a function that resolves as attached */
	if (p->dry || deferred(p, prog))
		return 0;
	/* with a pid, the kernel arms only that process's memory (its
	 * filter compares mm): other processes of the file never trap */
	l = bpf_program__attach_uprobe_opts(prog, p->cur_pid, path, offset, &o);
	if (!l)
		return -errno;
	return add_link(p, l);
}

static int attach_uprobe(struct probes *p, struct bpf_program *prog, const char *path,
			 uint64_t offset, uint64_t cookie, bool retprobe)
{
	int err = uprobe_link(p, prog, path, offset, cookie, retprobe);
	struct plan_step *st;

	if (err)
		return err;
	st = plan_add(p);
	if (st) {
		st->prog = prog;
		st->offset = offset;
		st->cookie = cookie;
		st->retprobe = retprobe;
	}
	return 0;
}

static void set_cov(struct probe_coverage *cov, enum pm_source_id s, enum pm_source_status st,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_cov(struct probe_coverage *cov, enum pm_source_id s, enum pm_source_status st,
		    const char *fmt, ...)
{
	va_list ap;

	cov->status[s] = st;
	va_start(ap, fmt);
	vsnprintf(cov->detail[s], sizeof(cov->detail[s]), fmt, ap);
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
static uint64_t choose_site(struct probes *p, const char *path, const struct elf_func *f,
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
static uint64_t pool_cookie(enum pm_kind kind, long loc1, long loc2, int slot, uint64_t arenas,
			    uint64_t site, bool *sized)
{
	int64_t delta = (int64_t)(arenas - site);

	*sized =
	    slot && kind == PM_PY_FREE && delta >= PM_POOL_DELTA_MIN && delta <= PM_POOL_DELTA_MAX;
	if (*sized)
		loc2 = (long)((uint64_t)delta & 0xfffffff);
	uint64_t cookie = PM_COOKIE(kind == PM_PY_DEALLOC ? 0 : kind, loc1, loc2);

	return *sized || (slot && kind == PM_PY_REALLOC) ? PM_COOKIE_SET_POOL(cookie, slot)
							 : cookie;
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
	int err;

	if (elf_file__find_func(ef, fn, &f))
		return -ENOENT;
	/* the uretprobe goes on the same site: a second site would be a
	 * second trap, and nd.stack keeps rsp and [rsp] as at the entry */
	off = choose_site(p, path, &f, &nd, cov, src);
	bool sized;
	uint64_t cookie =
	    pool_cookie(kind, PM_LOC_ARG1, pm_kind_is_free(kind) ? 0 : PM_LOC_ARG2,
			p->cur_pool_slot, p->cur_arenas, f.vaddr + (off - f.offset), &sized);

	if (pm_kind_is_free(kind))
		return attach_uprobe(p, PROG(p, pm_free_enter), path, off, cookie, false);
	err = attach_uprobe(p, PROG(p, pm_alloc_enter), path, off, cookie, false);
	if (!err)
		err = attach_uprobe(p, PROG(p, pm_alloc_exit), path, off, PM_COOKIE(kind, 0, 0),
				    true);
	return err;
}

/* One allocator function and the kind of event it makes. */
struct alloc_fn {
	const char *fn;
	enum pm_kind kind;
};

/* Attach every function of an allocator family; list those that could not
 * be attached, with why, in missing ("" if none). Returns how many were. */
static int attach_alloc_family(struct probes *p, struct elf_file *ef, const char *path,
			       const struct alloc_fn *fns, size_t n, char *missing, size_t len,
			       struct probe_coverage *cov, enum pm_source_id src)
{
	int attached = 0;

	missing[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int e = attach_alloc_fn(p, ef, path, fns[i].fn, fns[i].kind, cov, src);
		size_t l = strlen(missing);

		if (e == 0)
			attached++;
		else if (snprintf(missing + l, len - l, "%s%s (%s)", l ? ", " : "", fns[i].fn,
				  e == -ENOENT ? "no symbol" : strerror(-e)) < 0)
			missing[l] = '\0';
	}
	return attached;
}

/* ---- sites from debug info ---- */

/* The functions located through DWARF, with the parameters each event
 * needs. Public entry points, not the allocator's internals: _PyObject_Malloc
 * is also reached from PyMem_Malloc, and GCC describes many of its inlined
 * copies nested in one another; PyObject_Malloc's copies are exactly the
 * calls a build without LTO makes to the exported function. */
enum dwarf_fn { DF_MALLOC, DF_CALLOC, DF_REALLOC, DF_FREE, DF_DEALLOC, DF_COUNT };

static const struct elf_site_query dwarf_queries[DF_COUNT] = {
    [DF_MALLOC] = {"PyObject_Malloc", {"size"}},
    [DF_CALLOC] = {"PyObject_Calloc", {"nelem", "elsize"}},
    [DF_REALLOC] = {"PyObject_Realloc", {"ptr", "new_size"}},
    [DF_FREE] = {"PyObject_Free", {"ptr"}},
    [DF_DEALLOC] = {"_Py_Dealloc", {"op"}},
};

static const enum pm_kind dwarf_kinds[DF_COUNT] = {
    [DF_MALLOC] = PM_PY_MALLOC, [DF_CALLOC] = PM_PY_CALLOC,   [DF_REALLOC] = PM_PY_REALLOC,
    [DF_FREE] = PM_PY_FREE,	[DF_DEALLOC] = PM_PY_DEALLOC,
};

/* Where pymalloc keeps its arenas in one build (addresses of the binary). */
struct pool_vars {
	bool found;
	uint64_t arenas, maxarenas;
	bool radix;   /* the radix tree (3.10+, unless built without): 16 KiB pools */
	int minor;    /* Python 3.minor, -1 if unknown */
	char why[80]; /* when not found */
};

/* What the debug info of one binary says, read once for every source. */
struct dwarf_info {
	bool tried, found;
	char how[200]; /* where the DWARF came from, or why there is none */
	struct elf_site *sites;
	size_t n, cap;
	double seconds; /* to find and read it */
	struct pool_vars pool;
	/* the binary's code and branch targets, for the sites' choice */
	struct site_file *sf;
	bool sf_tried;
};

/*
 * pymalloc's `arenas` and `maxarenas` (static in Objects/obmalloc.c through
 * 3.11; 3.12 moved them into the interpreter's state), from the symbols of
 * the binary or of its debug file.
 */
static void pool_vars__find(struct pool_vars *pv, const struct elf_file *ef,
			    const struct elf_file *dbg)
{
	const struct elf_file *files[2] = {ef, dbg};
	uint64_t radix;

	for (int i = 0; i < 2 && !pv->found; i++) {
		if (!files[i] || (i && files[i] == ef))
			continue;
		if (elf_file__find_object(files[i], "arenas", &pv->arenas) ||
		    elf_file__find_object(files[i], "maxarenas", &pv->maxarenas))
			continue;
		pv->found = true;
		pv->radix = elf_file__find_object(files[i], "arena_map_root", &radix) == 0;
	}
	if (!pv->found)
		snprintf(pv->why, sizeof(pv->why),
			 "pymalloc's arenas not in the symbols (3.12+ keeps them per interpreter)");
}

static int collect_site(void *ctx, const struct elf_site *site)
{
	struct dwarf_info *di = ctx;

	if (di->n == di->cap) {
		size_t cap = di->cap ? di->cap * 2 : 256;
		void *n = realloc(di->sites, cap * sizeof(*di->sites));

		if (!n)
			return -ENOMEM;
		di->sites = n;
		di->cap = cap;
	}
	di->sites[di->n++] = *site;
	return 0;
}

/* Read the sites of binary b (open as ef) from its own DWARF or its
 * separate debug file. */
static void dwarf_info__load(struct dwarf_info *di, struct elf_file *ef,
			     const struct target_binary *b)
{
	struct debuginfo_query q = {.bin = ef, .path = b->path};
	struct elf_file *dbg = ef;
	double t0 = ((double)pm_now_ns() / 1e9);
	long n;

	if (di->tried)
		return;
	di->tried = true;
	/* debug files next to the binary are looked up inside its process's
	 * root (the host's for the command pymac starts) */
	q.root_pid = b->root_pid;
	if (elf_file__has_dwarf(ef)) {
		snprintf(di->how, sizeof(di->how), "its own DWARF");
	} else {
		dbg = debuginfo__open(&q, di->how, sizeof(di->how));
		if (!dbg)
			goto out;
	}
	n = elf_file__dwarf_sites(dbg, ef, dwarf_queries, DF_COUNT, collect_site, di);
	pool_vars__find(&di->pool, ef, dbg);
	if (n < 0) {
		snprintf(di->how + strlen(di->how), sizeof(di->how) - strlen(di->how),
			 " (unreadable: %s)", strerror((int)-n));
		di->n = 0;
	} else {
		di->found = true;
	}
	if (dbg != ef)
		elf_file__close(dbg);
out:
	di->seconds = ((double)pm_now_ns() / 1e9) - t0;
	if (getenv("PYMAC_DEBUG"))
		fprintf(stderr, "pymac: debug info of %s: %s, %zu sites, %.3f s\n", b->path,
			di->how, di->n, di->seconds);
}

static bool dwarf_info__has(const struct dwarf_info *di, enum dwarf_fn fn)
{
	for (size_t i = 0; i < di->n; i++)
		if (di->sites[i].func == (int)fn)
			return true;
	return false;
}

static void dwarf_info__free(struct dwarf_info *di)
{
	site_file__close(di->sf);
	free(di->sites);
	memset(di, 0, sizeof(*di));
}

static int pm_reg_of_dwarf(int dwarf_reg)
{
	return dwarf_reg == 7 ? PM_REG_SP : elf_dwarf_reg_to_pm_reg(dwarf_reg);
}

/* A DWARF location as a PM_LOC, or -1 when BPF cannot read it so. */
static long loc_encode(const struct elf_loc *l)
{
	int r = pm_reg_of_dwarf(l->dwarf_reg), r2 = 0;

	if (l->off < PM_LOC_OFF_MIN || l->off > PM_LOC_OFF_MAX)
		return -1;
	switch (l->kind) {
	case ELF_LOC_CONST:
		return PM_LOC(PM_LOC_CONST, 0, 0, l->off);
	case ELF_LOC_REG:
		return r < 0 ? -1 : (long)PM_LOC(PM_LOC_REG, r, 0, 0);
	case ELF_LOC_REG_OFF:
		return r < 0 ? -1 : (long)PM_LOC(PM_LOC_REG_OFF, r, 0, l->off);
	case ELF_LOC_MEM:
		return r < 0 ? -1 : (long)PM_LOC(PM_LOC_MEM, r, 0, l->off);
	case ELF_LOC_SUM:
		r2 = pm_reg_of_dwarf(l->dwarf_reg2);
		return r < 0 || r2 < 0 ? -1 : (long)PM_LOC(PM_LOC_SUM, r, r2, l->off);
	default:
		return -1;
	}
}

/* How the sites of some functions were attached. */
struct site_tally {
	int sites, attached, unlocated, failed, inlined;
	int sized;    /* free sites that size the block from its pool header */
	int emulated; /* sites on an instruction the kernel emulates */
	int per_fn[DF_COUNT];
	char notes[200]; /* the first few sites not probed, and why */
};

static void tally_note(struct site_tally *t, const char *fn, uint64_t pc, const char *why)
{
	size_t l = strlen(t->notes);

	if (l + 60 < sizeof(t->notes))
		snprintf(t->notes + l, sizeof(t->notes) - l, "%s%s at %#" PRIx64 " (%s)",
			 l ? ", " : "", fn, pc, why);
}

/* Inlined sites that one program takes, gathered for one multi link. */
struct site_batch {
	uint64_t *offsets, *cookies;
	const struct elf_site **sites;
	size_t n, cap;
};

static int batch_add(struct site_batch *sb, uint64_t off, uint64_t cookie, const struct elf_site *s)
{
	if (sb->n == sb->cap) {
		size_t cap = sb->cap ? sb->cap * 2 : 64;
		void *a = realloc(sb->offsets, cap * sizeof(*sb->offsets));

		if (!a)
			return -ENOMEM;
		sb->offsets = a;
		if (!(a = realloc(sb->cookies, cap * sizeof(*sb->cookies))))
			return -ENOMEM;
		sb->cookies = a;
		if (!(a = realloc(sb->sites, cap * sizeof(*sb->sites))))
			return -ENOMEM;
		sb->sites = a;
		sb->cap = cap;
	}
	sb->offsets[sb->n] = off;
	sb->cookies[sb->n] = cookie;
	sb->sites[sb->n++] = s;
	return 0;
}

static void batch_free(struct site_batch *sb)
{
	free(sb->offsets);
	free(sb->cookies);
	free(sb->sites);
	memset(sb, 0, sizeof(*sb));
}

/* The link_create part of union bpf_attr for uprobe_multi (kernel 6.6+). */
struct uprobe_multi_attr {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t flags;
	uint64_t path;
	uint64_t offsets;
	uint64_t ref_ctr_offsets;
	uint64_t cookies;
	uint32_t cnt;
	uint32_t um_flags;
	uint32_t pid;
	uint32_t pad;
};

/* A uprobe_multi link's descriptor, or -errno. */
static int multi_fd(struct bpf_program *prog, const char *path, const uint64_t *offsets,
		    const uint64_t *cookies, size_t cnt, pid_t pid)
{
	union {
		struct uprobe_multi_attr um;
		char bytes[128];
	} attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.um.prog_fd = bpf_program__fd(prog);
	attr.um.attach_type = PM_TRACE_UPROBE_MULTI;
	attr.um.path = (uintptr_t)path;
	attr.um.offsets = (uintptr_t)offsets;
	attr.um.cookies = (uintptr_t)cookies;
	attr.um.cnt = (uint32_t)cnt;
	/* as for single links: only this process's memory is armed */
	attr.um.pid = pid > 0 ? (uint32_t)pid : 0;
	fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr.um));
	return fd < 0 ? -errno : fd;
}

/* One uprobe_multi link on cnt sites. 0 or -errno. */
static int multi_link(struct probes *p, struct bpf_program *prog, const char *path,
		      const uint64_t *offsets, const uint64_t *cookies, size_t cnt)
{
	int fd;

	if (p->dry)
		return 0;
	if (!p->multi || !prog)
		return -EOPNOTSUPP;
	if (deferred(p, prog))
		return 0;
	if (p->nmfds == p->capmfds) {
		size_t cap = p->capmfds ? p->capmfds * 2 : 8;
		void *n = realloc(p->mfds, cap * sizeof(*p->mfds));

		if (!n)
			return -ENOMEM;
		p->mfds = n;
		p->capmfds = cap;
	}
	fd = multi_fd(prog, path, offsets, cookies, cnt, p->cur_pid);
	if (fd < 0)
		return fd;
	p->mfds[p->nmfds++] = fd;
	p->msites += cnt;
	return 0;
}

/* One uprobe_multi link on every site of the batch. 0 or -errno. */
static int attach_multi(struct probes *p, struct bpf_program *prog, const char *path,
			const struct site_batch *sb)
{
	int err = multi_link(p, prog, path, sb->offsets, sb->cookies, sb->n);
	struct plan_step *st;

	if (err)
		return err;
	st = plan_add(p);
	if (st) {
		st->prog = prog;
		st->moffs = malloc(sb->n * sizeof(*st->moffs));
		st->mcookies = malloc(sb->n * sizeof(*st->mcookies));
		if (st->moffs && st->mcookies) {
			memcpy(st->moffs, sb->offsets, sb->n * sizeof(*st->moffs));
			memcpy(st->mcookies, sb->cookies, sb->n * sizeof(*st->mcookies));
			st->mcnt = sb->n;
		} else {
			/* not replayable: this step will be missing for other pids */
			free(st->moffs);
			free(st->mcookies);
			st->moffs = st->mcookies = NULL;
			st->prog = NULL;
		}
	}
	return 0;
}

/*
 * The pm_pools slot (1..15) of a build's pymalloc layout, made on first use;
 * 0 when the build's layout is unknown or the slots are used up. The layout
 * is 3.8-3.11's on x86-64 (struct pool_header: arenaindex at 32, szidx at
 * 36; struct arena_object: 48 bytes, address first; 16-byte alignment),
 * with 16 KiB pools when the radix tree is built in (USE_LARGE_POOLS), else
 * 4 KiB, in 1 MiB arenas from 3.10 on (USE_LARGE_ARENAS), else 256 KiB.
 */
static int pool_slot(struct probes *p, const struct pool_vars *pv)
{
	struct pm_pool_layout l = {
	    .maxarenas_off = (long long)(pv->maxarenas - pv->arenas),
	    .pool_bits = pv->radix ? 14 : 12,
	    /* 64-bit 3.10+ use 1 MiB arenas, with or without the radix tree */
	    .arena_bits = pv->minor >= 10 ? 20 : 18,
	    .align_shift = 4,
	    .arenaindex_off = 32,
	    .szidx_off = 36,
	    .arena_obj_size = 48,
	};
	int i;

	/* the layout above is 3.8-3.11's (3.7 aligned to 8 bytes; 3.12 moved
	 * the arenas into the interpreter's state) */
	if (!pv->found || pv->minor < 8 || pv->minor > 11)
		return 0;
	for (i = 0; i < p->npools; i++)
		if (!memcmp(&p->pools[i], &l, sizeof(l)))
			return i + 1;
	if (p->npools == PM_POOL_SLOTS - 1)
		return 0;
	p->pools[p->npools] = l;
	if (p->skel)
		p->skel->bss->pm_pools[p->npools + 1] = l;
	return ++p->npools;
}

/* What a program reading locations loc[] needs kept up to a later site;
 * uretprobe: a return probe shares the site. */
static struct site_needs loc_needs(const struct elf_site_query *q,
				   const long loc[ELF_SITE_MAX_ARGS], bool uretprobe)
{
	struct site_needs nd = {.stack = uretprobe};

	for (int a = 0; a < ELF_SITE_MAX_ARGS && q->args[a]; a++) {
		unsigned l = (unsigned)loc[a], form = l & 7,
			 regs[2] = {(l >> 3) & 15, (l >> 7) & 15};
		int n = form == PM_LOC_CONST ? 0 : form == PM_LOC_SUM ? 2 : 1;

		for (int k = 0; k < n; k++) {
			if (regs[k] == PM_REG_SP)
				nd.stack = true;
			else
				nd.regs |= 1u << regs[k];
		}
	}
	return nd;
}

/* Attach every site of the functions in [from, to] of dwarf_fn. */
static void attach_dwarf_sites(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			       struct dwarf_info *di, int from, int to, struct site_tally *t)
{
	int slot = from <= DF_FREE && to >= DF_REALLOC && p->pool_sizes != POOL_SIZES_OFF
		       ? pool_slot(p, &di->pool)
		       : 0;

	/* alloc, free, dealloc: the programs of inlined sites */
	struct site_batch batch[3] = {};
	struct bpf_program *multi_prog[3] = {PROG(p, pm_alloc_site_m), PROG(p, pm_free_m),
					     PROG(p, pm_dealloc_m)};
	struct bpf_program *one_prog[3] = {PROG(p, pm_alloc_site), PROG(p, pm_free_enter),
					   PROG(p, pm_dealloc)};

	struct site_file *sf;

	/* read once per binary, for both families */
	if (p->choose_sites && !di->sf_tried) {
		di->sf_tried = true;
		di->sf = site_file__open(b->host_path);
	}
	sf = di->sf;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < di->n; i++) {
		const struct elf_site *s = &di->sites[i];
		const struct elf_site_query *q = &dwarf_queries[s->func];
		enum pm_kind kind = dwarf_kinds[s->func];
		long loc[ELF_SITE_MAX_ARGS] = {0, 0};
		uint64_t off;
		int err = 0;

		if (s->func < from || s->func > to)
			continue;
		t->sites++;
		for (int a = 0; a < ELF_SITE_MAX_ARGS && q->args[a]; a++)
			if ((loc[a] = loc_encode(&s->args[a])) < 0)
				break;
		if (loc[0] < 0 || loc[1] < 0) {
			t->unlocated++;
			tally_note(t, q->name, s->pc,
				   s->why ? s->why : "argument out of the encodable range");
			continue;
		}
		if (elf_file__vaddr_to_offset(ef, s->pc, &off)) {
			t->failed++;
			tally_note(t, q->name, s->pc, "address outside the file");
			continue;
		}
		/* the cheapest instruction that still sees the arguments as at
		 * the copy's entry (sites.h) */
		uint64_t pc = s->pc;

		if (sf) {
			struct site_needs nd = loc_needs(
			    q, loc, !s->inlined && !pm_kind_is_free(kind) && kind != PM_PY_DEALLOC);
			struct site_choice sc;

			if (site_file__choose(sf, s->pc, off, &nd, &sc) == 0) {
				pc += sc.delta;
				off = sc.offset;
				t->emulated += sc.cost == SITE_EMULATED;
			}
		}
		bool sized;
		uint64_t cookie =
		    pool_cookie(kind, loc[0], loc[1], slot, di->pool.arenas, pc, &sized);

		t->sized += sized;
		if (s->inlined) {
			int bi = kind == PM_PY_DEALLOC ? 2 : pm_kind_is_free(kind) ? 1 : 0;

			if (batch_add(&batch[bi], off, cookie, s) == 0)
				continue;
			err = -ENOMEM;
		} else if (kind == PM_PY_DEALLOC)
			err =
			    attach_uprobe(p, PROG(p, pm_dealloc), b->host_path, off, cookie, false);
		else if (pm_kind_is_free(kind))
			err = attach_uprobe(p, PROG(p, pm_free_enter), b->host_path, off, cookie,
					    false);
		else if (s->inlined)
			err = attach_uprobe(p, PROG(p, pm_alloc_site), b->host_path, off, cookie,
					    false);
		else {
			/* an out-of-line copy returns: its block's address is known */
			err = attach_uprobe(p, PROG(p, pm_alloc_enter), b->host_path, off, cookie,
					    false);
			if (!err)
				err = attach_uprobe(p, PROG(p, pm_alloc_exit), b->host_path, off,
						    PM_COOKIE(kind, 0, 0), true);
		}
		if (err) {
			t->failed++;
			tally_note(t, q->name, s->pc, strerror(-err));
			continue;
		}
		t->attached++;
		t->per_fn[s->func]++;
	}
	for (int bi = 0; bi < 3; bi++) {
		struct site_batch *sb = &batch[bi];
		int err;

		if (!sb->n)
			continue;
		err = attach_multi(p, multi_prog[bi], b->host_path, sb);
		for (size_t i = 0; i < sb->n; i++) {
			const struct elf_site *s = sb->sites[i];
			/* without a multi link: one link per site */
			int e = err ? attach_uprobe(p, one_prog[bi], b->host_path, sb->offsets[i],
						    sb->cookies[i], false)
				    : 0;

			if (e) {
				t->failed++;
				tally_note(t, dwarf_queries[s->func].name, s->pc, strerror(-e));
				continue;
			}
			t->attached++;
			t->inlined++;
			t->per_fn[s->func]++;
		}
		batch_free(sb);
	}
}

/*
 * Was the allocator inlined into the interpreter's own code? PyUnicode_New
 * lives in another source file than PyObject_Malloc, so without link-time
 * optimisation it must call PyObject_Malloc (directly or through the PLT).
 * An LTO build (Debian's, the official images) inlines it, and then probes
 * on the exported functions see only calls from outside the interpreter.
 * 1: inlined, 0: called, -1: cannot tell.
 */
static int allocator_inlined(struct elf_file *ef)
{
	struct elf_func m, u;
	struct elf_call_count c;

	if (elf_file__find_func(ef, "PyObject_Malloc", &m) ||
	    elf_file__find_func(ef, "PyUnicode_New", &u) || !u.size ||
	    elf_file__count_calls_in(ef, m.vaddr, u.vaddr, u.vaddr + u.size, &c))
		return -1;
	return c.direct + c.via_plt == 0;
}

/*
 * Does the bytecode interpreter call _Py_Dealloc? From 3.11 on, the eval
 * loop frees objects by calling Py_TYPE(op)->tp_dealloc itself, so objects
 * whose last reference bytecode drops never pass through _Py_Dealloc.
 * Measured: the 3.8-3.10 loops call it at 200+ places, 3.11 and 3.12 at
 * none, 3.13 at one (and call tp_dealloc at 200+).
 * 1: it bypasses it, 0: it calls it, -1: cannot tell.
 */
static int eval_loop_bypasses_dealloc(struct elf_file *ef, const struct elf_func *dealloc)
{
	struct elf_func ev;
	struct elf_call_count c;

	if (elf_file__find_func(ef, "_PyEval_EvalFrameDefault", &ev) || !ev.size ||
	    elf_file__count_calls_in(ef, dealloc->vaddr, ev.vaddr, ev.vaddr + ev.size, &c))
		return -1;
	return c.direct + c.via_plt < 16;
}

/* An LTO build whose debug info locates the allocator's inlined copies. */
static bool attach_pymalloc_dwarf(struct probes *p, struct elf_file *ef,
				  const struct target_binary *b, struct dwarf_info *di,
				  struct probe_coverage *cov)
{
	struct site_tally t;

	dwarf_info__load(di, ef, b);
	/* debug info without the entry points is not this build's */
	if (!di->found || !dwarf_info__has(di, DF_MALLOC) || !dwarf_info__has(di, DF_FREE))
		return false;
	attach_dwarf_sites(p, ef, b, di, DF_MALLOC, DF_FREE, &t);
	char sized[128];

	if (t.sized)
		snprintf(sized, sizeof(sized), "frees sized from pool headers at %d sites",
			 t.sized);
	else
		snprintf(sized, sizeof(sized), "frees not sized: %s",
			 !di->pool.found ? di->pool.why
			 : di->pool.minor < 8 || di->pool.minor > 11
			     ? "pymalloc's layout is known for 3.8-3.11 only"
			     : "no slot for another pymalloc layout");
	if (t.unlocated || t.failed)
		set_cov(
		    cov, PM_SOURCE_PYMALLOC, PM_SRC_PARTIAL,
		    "LTO build that inlines the allocator; debug info (%s): %d sites (%d partial) "
		    "of PyObject_{Malloc,Calloc,Realloc,Free} in %s, %d inlined, %d emulated; %s; "
		    "not probed: %s",
		    di->how, t.sites, t.unlocated + t.failed, b->path, t.inlined, t.emulated, sized,
		    t.notes);
	else
		set_cov(
		    cov, PM_SOURCE_PYMALLOC, PM_SRC_FULL,
		    "LTO build that inlines the allocator; debug info (%s): %d sites (0 partial) "
		    "of PyObject_{Malloc,Calloc,Realloc,Free} in %s, %d inlined, %d emulated "
		    "(block addresses unknown there; %s)",
		    di->how, t.sites, b->path, t.inlined, t.emulated, sized);
	return true;
}

static void attach_pymalloc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			    const char *version, struct dwarf_info *di, struct probe_coverage *cov)
{
	int inlined = allocator_inlined(ef);
	int major = 0, minor = -1;

	/* which pymalloc layout sized frees assume (pool_slot) */
	if (sscanf(version ? version : "", "%d.%d", &major, &minor) != 2 || major != 3)
		minor = -1;
	di->pool.minor = minor;

	if (inlined == 1 && attach_pymalloc_dwarf(p, ef, b, di, cov))
		return;

	static const struct alloc_fn fns[] = {
	    {"PyObject_Malloc", PM_PY_MALLOC},
	    {"PyObject_Calloc", PM_PY_CALLOC},
	    {"PyObject_Realloc", PM_PY_REALLOC},
	    {"PyObject_Free", PM_PY_FREE},
	};
	char missing[160];
	struct pool_vars pv = {0};

	if (p->pool_sizes == POOL_SIZES_ALL) {
		pool_vars__find(&pv, ef, NULL);
		pv.minor = minor;
		p->cur_pool_slot = pool_slot(p, &pv);
		p->cur_arenas = pv.arenas;
	}
	int attached = attach_alloc_family(p, ef, b->host_path, fns, 4, missing, sizeof(missing),
					   cov, PM_SOURCE_PYMALLOC);
	bool err = missing[0] != '\0';

	p->cur_pool_slot = 0;
	p->cur_arenas = 0;
	if (!attached) {
		set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_NONE, "cannot attach to %s in %s: %s",
			"PyObject_Malloc", b->path, missing);
		return;
	}
	if (inlined == 1)
		set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_PARTIAL,
			"%s inlines the allocator into its own code (LTO build: PyUnicode_New does "
			"not call PyObject_Malloc); the probes see only calls through the exported "
			"functions, a small part of all allocations; %s",
			b->path, di->how);
	else if (err)
		set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_PARTIAL, "%s: not attached: %s", b->path,
			missing);
	else
		set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_FULL,
			"PyObject_{Malloc,Calloc,Realloc,Free} in %s", b->path);
}

/* The bytecode loop's own _Py_Dealloc copies, inlined ones included. */
static int eval_loop_dealloc_sites(struct elf_file *ef, const struct dwarf_info *di)
{
	struct elf_func ev;
	int n = 0;

	if (elf_file__find_func(ef, "_PyEval_EvalFrameDefault", &ev) || !ev.size)
		return -1;
	for (size_t i = 0; i < di->n; i++)
		if (di->sites[i].func == DF_DEALLOC && di->sites[i].pc >= ev.vaddr &&
		    di->sites[i].pc < ev.vaddr + ev.size)
			n++;
	return n;
}

static bool attach_dealloc_dwarf(struct probes *p, struct elf_file *ef,
				 const struct target_binary *b, struct dwarf_info *di,
				 struct probe_coverage *cov)
{
	struct site_tally t;
	int in_eval;
	char bypass[200] = "";

	dwarf_info__load(di, ef, b);
	if (!di->found || !dwarf_info__has(di, DF_DEALLOC))
		return false;
	attach_dwarf_sites(p, ef, b, di, DF_DEALLOC, DF_DEALLOC, &t);
	in_eval = eval_loop_dealloc_sites(ef, di);
	if (in_eval >= 0 && in_eval < 16)
		snprintf(bypass, sizeof(bypass),
			 "; objects the bytecode loop frees through tp_dealloc directly (3.11+) "
			 "are not seen");
	if (t.unlocated || t.failed || bypass[0])
		set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
		    "debug info (%s): %d sites (%d partial) of _Py_Dealloc in %s, %d inlined, %d "
		    "emulated%s%s%s",
		    di->how, t.sites, t.unlocated + t.failed, b->path, t.inlined, t.emulated,
		    bypass, t.notes[0] ? "; not probed: " : "", t.notes);
	else
		set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_FULL,
		    "debug info (%s): %d sites (0 partial) of _Py_Dealloc in %s, %d inlined, %d "
		    "emulated",
		    di->how, t.sites, b->path, t.inlined, t.emulated);
	return true;
}

static void attach_dealloc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			   const char *version, struct dwarf_info *di, struct probe_coverage *cov)
{
	struct site_needs nd = site_needs__args(1, false);
	struct elf_func f;
	uint64_t off;
	int err;

	if (allocator_inlined(ef) == 1 && attach_dealloc_dwarf(p, ef, b, di, cov))
		return;

	if (elf_file__find_func(ef, "_Py_Dealloc", &f)) {
		set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_NONE, "%s has no _Py_Dealloc function%s",
			b->path,
			version[0] && strcmp(version, "3.8") < 0 && strlen(version) == 3
			    ? " (before Python 3.8 it is a macro)"
			    : "");
		return;
	}
	/* what the program reads through op is unchanged too: the chooser
	 * refuses any store before the site */
	off = choose_site(p, b->host_path, &f, &nd, cov, PM_SOURCE_DEALLOC);
	err = attach_uprobe(p, PROG(p, pm_dealloc), b->host_path, off, PM_COOKIE(0, PM_LOC_ARG1, 0),
			    false);
	if (err) {
		set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_NONE,
			"cannot attach to _Py_Dealloc in %s: %s", b->path, strerror(-err));
		return;
	}
	if (allocator_inlined(ef) == 1)
		set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
			"%s is an LTO build that inlines _Py_Dealloc at some of its call sites; "
			"deallocations through those are not seen; %s",
			b->path, di->how);
	else if (eval_loop_bypasses_dealloc(ef, &f) == 1)
		set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
		    "the bytecode loop of %s frees objects by calling their tp_dealloc directly, "
		    "not through _Py_Dealloc (Python 3.11+); objects whose last reference "
		    "bytecode drops are not seen",
		    b->path);
	else
		set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_FULL, "_Py_Dealloc in %s", b->path);
}

static int attach_gc_usdt(struct probes *p, const struct target_binary *b)
{
	struct bpf_link *l;
	int err;

	if (p->dry)
		return 0;
	l = bpf_program__attach_usdt(p->skel->progs.pm_gc_usdt_start, -1, b->host_path, "python",
				     "gc__start", NULL);
	if (!l)
		return -errno;
	if ((err = add_link(p, l)))
		return err;
	l = bpf_program__attach_usdt(p->skel->progs.pm_gc_usdt_done, -1, b->host_path, "python",
				     "gc__done", NULL);
	if (!l)
		return -errno;
	return add_link(p, l);
}

/* Where function f (maybe a clone) takes parameter `param`, as an argument
 * spec for the BPF cookie (bpf/regs.h): from DWARF, or, for a function that
 * is no clone, its ABI position (abi_reg). -1 if unknown. */
static long param_spec(struct elf_file *ef, const struct elf_func *f, const char *param,
		       int abi_reg)
{
	struct elf_param_loc loc;

	if (elf_file__dwarf_param_loc(ef, f->vaddr, param, &loc) == 0) {
		if (loc.is_const && loc.value >= 0 && loc.value < 0x10000)
			return PM_ARG_CONST | (uint32_t)loc.value;
		if (!loc.is_const && elf_dwarf_reg_to_pm_reg(loc.dwarf_reg) >= 0)
			return elf_dwarf_reg_to_pm_reg(loc.dwarf_reg);
	}
	return strchr(f->name, '.') ? -1 : abi_reg;
}

/*
 * Python 3.13's automatic collections enter the collector with generation
 * -1 and choose inside; invoke_gc_callback(tstate, phase, generation, ...)
 * is then called with the chosen one. Returns how many copies of it were
 * attached.
 */
/* The needs of a program that reads the argument spec (bpf/regs.h). */
static struct site_needs spec_needs(long spec, bool uretprobe)
{
	struct site_needs nd = {.stack = uretprobe};

	if (!(spec & PM_ARG_CONST) && spec >= 0 && spec < PM_REG_MAX)
		nd.regs = 1u << spec;
	return nd;
}

static int attach_gc_generation(struct probes *p, struct elf_file *ef,
				const struct target_binary *b, struct probe_coverage *cov)
{
	struct elf_func fns[4];
	int n = elf_file__find_func_clones(ef, "invoke_gc_callback", fns, 4), attached = 0;

	for (int i = 0; i < n && i < 4; i++) {
		long spec = param_spec(ef, &fns[i], "generation", PM_REG_DX);
		struct site_needs nd = spec_needs(spec, false);

		if (spec >= 0 &&
		    attach_uprobe(p, PROG(p, pm_gc_fn_generation), b->host_path,
				  choose_site(p, b->host_path, &fns[i], &nd, cov, PM_SOURCE_GC),
				  spec, false) == 0)
			attached++;
	}
	return attached;
}

static bool version_at_least(const char *version, int major, int minor)
{
	int ma = 0, mi = 0;

	if (sscanf(version, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/* Collector functions by Python version: gc_collect_main (3.10+), collect
 * (3.8, 3.9), each possibly split into compiler clones. */
static void attach_gc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		      const char *version, struct probe_coverage *cov)
{
	static const char *const collectors[] = {"gc_collect_main", "collect"};
	struct usdt_note note;
	struct elf_func fns[8];
	int n = 0, attached = 0, err;
	char skipped[200] = "";

	if (elf_file__find_usdt(ef, "python", "gc__start", &note) == 0 &&
	    elf_file__find_usdt(ef, "python", "gc__done", &note) == 0) {
		err = attach_gc_usdt(p, b);
		if (!err) {
			set_cov(cov, PM_SOURCE_GC, PM_SRC_FULL,
				"USDT python:gc__start/gc__done in %s", b->path);
			return;
		}
		/* fall back to the collector function */
		snprintf(skipped, sizeof(skipped), "USDT attach failed: %s; ", strerror(-err));
	}
	const char *name = NULL;
	for (size_t i = 0; i < sizeof(collectors) / sizeof(collectors[0]) && n == 0; i++) {
		n = elf_file__find_func_clones(ef, collectors[i], fns, 8);
		name = collectors[i];
	}
	if (n <= 0) {
		set_cov(cov, PM_SOURCE_GC, PM_SRC_NONE,
			"%sno python:gc__start marker and no collector function (gc_collect_main, "
			"collect) in %s%s",
			skipped, b->path,
			elf_file__has_symtab(ef) ? ""
						 : " (stripped: no .symtab; install its debug "
						   "symbols)");
		return;
	}
	if (n > 8)
		n = 8;
	for (int i = 0; i < n; i++) {
		/* DWARF knows where a clone takes `generation`; a function that is
		 * no clone takes it as its second argument in every version. */
		long spec = param_spec(ef, &fns[i], "generation", PM_REG_SI);

		if (spec < 0) {
			size_t l = strlen(skipped);

			if (snprintf(skipped + l, sizeof(skipped) - l, "%s%.60s",
				     l ? ", " : "skipped ", fns[i].name) < 0)
				skipped[l] = '\0';
			continue;
		}
		struct site_needs nd = spec_needs(spec, true);
		uint64_t off = choose_site(p, b->host_path, &fns[i], &nd, cov, PM_SOURCE_GC);

		err = attach_uprobe(p, PROG(p, pm_gc_fn_enter), b->host_path, off, spec, false);
		if (!err)
			err = attach_uprobe(p, PROG(p, pm_gc_fn_exit), b->host_path, off, 0, true);
		if (!err)
			attached++;
	}
	int gen_probes = attached ? attach_gc_generation(p, ef, b, cov) : 0;

	if (!attached)
		set_cov(cov, PM_SOURCE_GC, PM_SRC_NONE, "cannot attach to %s in %s: %s", name,
			b->path, skipped[0] ? skipped : "attach failed");
	else if (!gen_probes && version_at_least(version, 3, 13))
		set_cov(cov, PM_SOURCE_GC, PM_SRC_PARTIAL,
			"uprobes on %s in %s see explicit collections; automatic ones choose their "
			"generation inside and are missed (no invoke_gc_callback to probe)",
			name, b->path);
	else if (attached < n)
		set_cov(cov, PM_SOURCE_GC, PM_SRC_PARTIAL,
			"%d of %d copies of %s in %s (%s: no debug info says where they take "
			"`generation`)",
			attached, n, name, b->path, skipped);
	else
		set_cov(cov, PM_SOURCE_GC, PM_SRC_FULL, "uprobes on %s (%d cop%s) in %s", name, n,
			n == 1 ? "y" : "ies", b->path);
}

static void attach_libc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			struct probe_coverage *cov)
{
	static const struct alloc_fn fns[] = {
	    {"malloc", PM_MALLOC},
	    {"calloc", PM_CALLOC},
	    {"realloc", PM_REALLOC},
	    {"free", PM_FREE},
	};
	char missing[160];
	int attached = attach_alloc_family(p, ef, b->host_path, fns, 4, missing, sizeof(missing),
					   cov, PM_SOURCE_LIBC);
	if (!attached)
		set_cov(cov, PM_SOURCE_LIBC, PM_SRC_NONE, "cannot attach to %s: %s", b->path,
			missing);
	else if (missing[0])
		set_cov(cov, PM_SOURCE_LIBC, PM_SRC_PARTIAL, "%s: not attached: %s", b->path,
			missing);
	else
		set_cov(cov, PM_SOURCE_LIBC, PM_SRC_FULL, "malloc, calloc, realloc, free in %s",
			b->path);
}

static struct attached_binary *new_bin(struct probes *p, const struct target_binary *b, pid_t pid)
{
	if (p->nbins == p->capbins) {
		size_t cap = p->capbins ? p->capbins * 2 : 8;
		void *n = realloc(p->bins, cap * sizeof(*p->bins));

		if (!n)
			return NULL;
		p->bins = n;
		p->capbins = cap;
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

static void attach_python_binary(struct probes *p, const struct target_binary *b,
				 const char *version, struct probe_coverage *cov)
{
	struct elf_file *ef = elf_file__open(b->host_path);

	if (!ef) {
		for (int s = PM_SOURCE_PYMALLOC; s <= PM_SOURCE_GC; s++)
			if (p->sources & (1u << s))
				set_cov(cov, s, PM_SRC_NONE, "cannot read %s: %s", b->path,
					strerror(errno));
		return;
	}
	struct dwarf_info di = {0};

	if (p->sources & (1u << PM_SOURCE_PYMALLOC))
		attach_pymalloc(p, ef, b, version, &di, cov);
	if (p->sources & (1u << PM_SOURCE_DEALLOC))
		attach_dealloc(p, ef, b, version, &di, cov);
	dwarf_info__free(&di);
	if (p->sources & (1u << PM_SOURCE_GC))
		attach_gc(p, ef, b, version, cov);
	elf_file__close(ef);
}

/* Make the links of plan (the first attachment of the file) again, for
 * p->cur_pid. */
static void replay_plan(struct probes *p, const struct attached_binary *plan, const char *path)
{
	for (size_t i = 0; i < plan->nsteps; i++) {
		const struct plan_step *st = &plan->steps[i];
		int err;

		if (!st->prog && !p->dry)
			continue;
		if (st->mcnt)
			err = multi_link(p, st->prog, path, st->moffs, st->mcookies, st->mcnt);
		else
			err = uprobe_link(p, st->prog, path, st->offset, st->cookie, st->retprobe);
		/* the process may be gone already; the others are unaffected */
		if (err && getenv("PYMAC_DEBUG"))
			fprintf(stderr, "pymac: %s for pid %d: %s\n", path, p->cur_pid,
				strerror(-err));
	}
}

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
	return links_push(&ab->slinks, &ab->nslinks, &ab->capslinks, l);
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
static int arm_bin(struct probes *p, struct attached_binary *ab)
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

			if (!st->prog || !sampled_prog(p, st->prog) ||
			    (slot = sample_slot(p, st->prog)) < 0)
				continue;
			if (st->mcnt)
				for (size_t k = 0; k < st->mcnt && !ret; k++)
					ret = batch_add(&sb[slot], st->moffs[k], st->mcookies[k],
							NULL);
			else
				ret = batch_add(&sb[slot], st->offset, st->cookie, NULL);
		}
		for (int i = 0; i < SAMPLE_PROGS; i++) {
			if (!ret && sb[i].n && ab->sfds[i] < 0) {
				int fd = multi_fd(mprog[i], path, sb[i].offsets, sb[i].cookies,
						  sb[i].n, ab->pid);

				if (fd < 0)
					ret = fd;
				else {
					ab->sfds[i] = fd;
					ab->ssites += sb[i].n;
				}
			}
			batch_free(&sb[i]);
		}
		return ret;
	}
	for (size_t i = 0; i < plan->nsteps; i++) {
		const struct plan_step *st = &plan->steps[i];
		LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = st->cookie, .retprobe = st->retprobe);
		struct bpf_link *l;

		if (!st->prog || !sampled_prog(p, st->prog) || st->mcnt)
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
			take_sampled(ab, &c);
			continue;
		}
		int err = arm_bin(p, ab);

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
	closer__run(&c);
	if (when_ns && !on && perf)
		*when_ns = t0 + (pm_now_ns() - t0) / 2;
	return ret;
}

bool probes__sampled(const struct probes *p)
{
	return p->sample;
}

/* Close the links of ab (a file attached for one process, superseded). */
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
	take_sampled(ab, &c);
	closer__run(&c);
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
	struct attached_binary *ab = new_bin(p, b, pid);
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
			attach_python_binary(p, b, version, &ab->cov);
		} else {
			struct elf_file *ef = elf_file__open(b->host_path);

			if (ef) {
				attach_libc(p, ef, b, &ab->cov);
				elf_file__close(ef);
			} else {
				set_cov(&ab->cov, PM_SOURCE_LIBC, PM_SRC_NONE, "cannot read %s: %s",
					b->path, strerror(errno));
			}
		}
		p->planning = -1;
	} else {
		ab->plan = plan;
		replay_plan(p, &p->bins[plan], b->host_path);
		ab->cov = p->bins[plan].cov;
	}
	p->cur_pid = -1;
	/* a process that shows up inside a window is armed with the others */
	if (p->armed) {
		int err = arm_bin(p, ab);

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
		if (ab)
			for (int s = PM_SOURCE_PYMALLOC; s <= PM_SOURCE_GC; s++)
				if (p->sources & (1u << s))
					copy_cov(cov, &ab->cov, s);
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
			if (plan->steps[k].prog && sampled_prog(p, plan->steps[k].prog) &&
			    !plan->steps[k].retprobe)
				n += plan->steps[k].mcnt ? plan->steps[k].mcnt : 1;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}
