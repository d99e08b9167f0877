/* SPDX-License-Identifier: MIT */
/*
 * The probes' insides (attach/probes.h), shared by probes.c (loading, links,
 * detaching), probe_binaries.c (files and processes), probe_sites.c (sites from debug info, multi
 * links), probe_sources.c (each source's attachment on each kind of build)
 * and probe_sample.c (--sample-duty windows). Not for other pieces.
 */
#ifndef PYMAC_PROBES_IMPL_H
#define PYMAC_PROBES_IMPL_H

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
#include <sys/resource.h>
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
/* BPF_TRACE_UPROBE_MULTI, which libbpf 1.1's headers do not know */
#define PM_TRACE_UPROBE_MULTI 48
/* BPF_F_UPROBE_MULTI_RETURN: the link's sites are uretprobes */
#define PM_UPROBE_MULTI_RETURN 1u

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
	bool said_fds; /* a link failed for want of descriptors: said once */
	unsigned sources;
	struct bpf_link **links;
	size_t nlinks, caplinks;
	struct attached_binary *bins;
	size_t nbins, capbins;
	/* uprobe_multi links (raw fds: libbpf 1.1 has no API for them), and
	 * how many sites they hold */
	bool multi;	      /* the kernel took the programs loaded for them */
	bool multi_tried_off; /* the last load was without them */
	/* every uprobe program was loaded for uprobe_multi, and a single site
	 * is a link of one site (PYMAC_UPROBE_LINKS=perf: perf links) */
	bool multi_all;
	int *mfds;
	size_t nmfds, capmfds, msites;
	/* the attachment being planned (index into bins), or -1 */
	long planning;
	pid_t cur_pid;	   /* for the links being made */
	bool pid_filter;   /* PYMAC_PID_FILTER=0 turns it off */
	bool choose_sites; /* PYMAC_PROBE_SITES=entry keeps every entry */
	/* PyObject_Free probed in the function its table holds (probe_free.c):
	 * allowed (PYMAC_FREE_SITES=entry: not), and wanted for the binary
	 * being attached */
	bool free_table_ok, free_via_table;
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
	/* PYMAC_GC_METHOD: "auto" (the GC state where its layout is known,
	 * else USDT, else the collector's argument), or "usdt" or "args"
	 * first, to compare one way with another (attach/probe_gc.c) */
	enum { GC_METHOD_AUTO, GC_METHOD_USDT, GC_METHOD_ARGS } gc_method;
	/* PYMAC_DEALLOC_SITES: "code" (default: _Py_Dealloc, every call
	 * through tp_dealloc, the specialized frees; attach/probe_dealloc.c)
	 * or "entry" (_Py_Dealloc, or debug info's inlined copies) */
	bool dealloc_sweep;
	/* PYMAC_PYMALLOC_SITES: "auto" (debug info's copies, else the calls
	 * through the allocator table found in the code), "code" or "dwarf"
	 * only, to compare one with the other (attach/probe_sources.c) */
	enum { PYMALLOC_SITES_AUTO, PYMALLOC_SITES_CODE, PYMALLOC_SITES_DWARF } pymalloc_sites;
	/* GC state layouts, slot i + 1 of pm_gc_layouts (bpf/regs.h) */
	struct pm_gc_layout gc_layouts[PM_GC_SLOTS - 1];
	int ngc_layouts;
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

/* Links and multi-link descriptors to close, from several threads. */
struct closer {
	struct bpf_link **links;
	int *fds;
	size_t nlinks, nfds;
	size_t cap_links, cap_fds;
};

/* One allocator function and the kind of event it makes. */
struct alloc_fn {
	const char *fn;
	enum pm_kind kind;
};

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

/* How the sites of some functions were attached. */
struct site_tally {
	int sites, attached, unlocated, failed, inlined;
	int sized;    /* free sites that size the block from its pool header */
	int emulated; /* sites on an instruction the kernel emulates */
	int per_fn[DF_COUNT];
	char notes[200]; /* the first few sites not probed, and why */
};

/* Inlined sites that one program takes, gathered for one multi link. */
struct site_batch {
	uint64_t *offsets, *cookies;
	const struct elf_site **sites;
	size_t n, cap;
};

int pr_links_push(struct bpf_link ***v, size_t *n, size_t *cap, struct bpf_link *l);
int pr_add_link(struct probes *p, struct bpf_link *l);
void pr_closer__run(struct closer *c);
void pr_take_sampled(struct attached_binary *ab, struct closer *c);
struct plan_step *pr_plan_add(struct probes *p);
bool pr_sampled_prog(const struct probes *p, const struct bpf_program *prog);
bool pr_deferred(const struct probes *p, const struct bpf_program *prog);
int pr_uprobe_link(struct probes *p, struct bpf_program *prog, const char *path, uint64_t offset,
		   uint64_t cookie, bool retprobe);
int pr_attach_uprobe(struct probes *p, struct bpf_program *prog, const char *path, uint64_t offset,
		     uint64_t cookie, bool retprobe);
/* The links of one step on path, for the process being attached: a
 * uprobe_multi link when it has sites (mcnt), else a uprobe. 0 or -errno. */
int pr_step_link(struct probes *p, const struct plan_step *st, const char *path);
/* "out of file descriptors (ulimit -n is N; raise it ...)" */
int pr_fd_hint(char *buf, size_t len);
/* Link step want on path and keep it in the plan of the file being
 * planned, to replay it for its other processes. 0 or -errno. */
int pr_attach_step(struct probes *p, const char *path, const struct plan_step *want);
void pr_set_cov(struct probe_coverage *cov, enum pm_source_id s, enum pm_source_status st,
		const char *fmt, ...);
uint64_t pr_choose_site(struct probes *p, const char *path, const struct elf_func *f,
			const struct site_needs *nd, struct probe_coverage *cov,
			enum pm_source_id src);
uint64_t pr_pool_cookie(enum pm_kind kind, long loc1, long loc2, int slot, uint64_t arenas,
			uint64_t site, bool *sized);
/* The probes of an allocator function at off: a free's entry, an
 * allocation's entry and return (where the block's address is). 0 or -errno. */
int pr_attach_alloc_probes(struct probes *p, const char *path, enum pm_kind kind, uint64_t off,
			   uint64_t cookie);
int pr_attach_alloc_family(struct probes *p, struct elf_file *ef, const char *path,
			   const struct alloc_fn *fns, size_t n, char *missing, size_t len,
			   struct probe_coverage *cov, enum pm_source_id src);
void pr_pool_vars__find(struct pool_vars *pv, const struct elf_file *ef,
			const struct elf_file *dbg);
void pr_dwarf_info__load(struct dwarf_info *di, struct elf_file *ef, const struct target_binary *b);
bool pr_dwarf_info__has(const struct dwarf_info *di, enum dwarf_fn fn);
void pr_dwarf_info__free(struct dwarf_info *di);
int pr_batch_add(struct site_batch *sb, uint64_t off, uint64_t cookie, const struct elf_site *s);
void pr_batch_free(struct site_batch *sb);
int pr_attach_batch(struct probes *p, struct bpf_program *prog, const char *path,
		    const struct site_batch *sb);
int pr_multi_fd(struct bpf_program *prog, const char *path, const uint64_t *offsets,
		const uint64_t *cookies, size_t cnt, pid_t pid, bool retprobe);
int pr_multi_link(struct probes *p, struct bpf_program *prog, const char *path,
		  const uint64_t *offsets, const uint64_t *cookies, size_t cnt, bool retprobe);
int pr_pool_slot(struct probes *p, const struct pool_vars *pv);
/* A location as a PM_LOC (bpf/regs.h), or -1 when BPF cannot read it so. */
long pr_loc_encode(const struct elf_loc *l);
void pr_attach_dwarf_sites(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			   struct dwarf_info *di, int from, int to, struct site_tally *t);
/* 1: a free-threaded build (3.13t: _Py_DebugOffsets says so), 0: not,
 * -1: no _PyRuntime to tell by (attach/probe_gc.c). */
int pr_free_threaded(struct elf_file *ef);
/* The minor version of a "3.N" version string, or -1. */
int pr_version_minor(const char *version);
/* 1: the build inlines the allocator (LTO), 0: it does not, -1: cannot tell */
int pr_allocator_inlined(struct elf_file *ef);
void pr_attach_pymalloc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			const char *version, struct dwarf_info *di, struct probe_coverage *cov);
void pr_attach_dealloc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		       const char *version, struct dwarf_info *di, struct probe_coverage *cov);
void pr_attach_gc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		  const char *version, struct probe_coverage *cov);
/* PyObject_Free's frees, probed where its table's function reads the
 * pointer, and the other ways into that function marked. 0, or -errno with
 * why set (then PyObject_Free's entry is probed instead). */
int pr_attach_free_via_table(struct probes *p, struct elf_file *ef, const char *path,
			     struct probe_coverage *cov, char *why, size_t len);
void pr_attach_libc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		    struct probe_coverage *cov);
struct attached_binary *pr_new_bin(struct probes *p, const struct target_binary *b, pid_t pid);
void pr_attach_python_binary(struct probes *p, const struct target_binary *b, const char *version,
			     struct probe_coverage *cov);
void pr_replay_plan(struct probes *p, const struct attached_binary *plan, const char *path);
int pr_arm_bin(struct probes *p, struct attached_binary *ab);

#endif /* PYMAC_PROBES_IMPL_H */
