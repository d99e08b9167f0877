/* SPDX-License-Identifier: MIT */
/*
 * The BPF side as user space sees it: loading the programs, choosing which
 * processes and cgroups are traced, attaching each binary once, stating what
 * each source can see, and reading the lost-event counters.
 */
#ifndef PYMAC_PROBES_H
#define PYMAC_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "feed/record.h"
#include "attach/targets.h"

enum pm_source_id {
	PM_SOURCE_PYMALLOC = 0,
	PM_SOURCE_DEALLOC = 1,
	PM_SOURCE_GC = 2,
	PM_SOURCE_LIBC = 3,
	/* anonymous mmap/munmap/mremap/brk syscalls and RSS samples (--mode footprint) */
	PM_SOURCE_FOOTPRINT = 4,
	PM_SOURCE_COUNT = 5,
};
#define PM_SOURCES_ALL ((1u << PM_SOURCE_COUNT) - 1)
/* What record and live trace unless told otherwise (--mode full). */
#define PM_SOURCES_FULL (PM_SOURCES_ALL & ~(1u << PM_SOURCE_FOOTPRINT))
/* --mode footprint: no per-object event at all. */
#define PM_SOURCES_FOOTPRINT ((1u << PM_SOURCE_GC) | (1u << PM_SOURCE_FOOTPRINT))

const char *pm_source_name(enum pm_source_id id);
/* Parse "pymalloc,gc,libc" into a mask. 0, or -EINVAL with err set. */
int pm_sources_parse(const char *list, unsigned *mask, char *err, size_t errlen);

/* Where the entry probe of one exported function sits (user/attach/sites.h). */
struct probe_site {
	char fn[48];	 /* e.g. "PyObject_Malloc" */
	uint64_t offset; /* file offset probed */
	uint32_t delta;	 /* bytes past the function's entry */
	bool emulated;	 /* else single-stepped */
	bool retprobe;	 /* a uretprobe shares the site */
	char insn[40];	 /* the probed instruction */
};
#define PROBE_SITES_MAX 8

/* What each source sees in one binary (or process). */
struct probe_coverage {
	enum pm_source_status status[PM_SOURCE_COUNT];
	char detail[PM_SOURCE_COUNT][512];
	/* the exported functions' probe sites (not USDT notes nor the inlined
	 * copies found from DWARF, which stay where they are) */
	struct probe_site sites[PM_SOURCE_COUNT][PROBE_SITES_MAX];
	uint8_t nsites[PM_SOURCE_COUNT];
	/* a free-threaded build (3.13t): the allocator behind PyObject_Malloc
	 * is mimalloc, and the pymalloc source is named so */
	bool free_threaded;
};
/* A source's name in a process: "mimalloc" for the pymalloc source of a
 * free-threaded build, else pm_source_name(). */
const char *probe_coverage__source_name(const struct probe_coverage *cov, enum pm_source_id id);
/* "PyObject_Malloc +6 js (emulated)" */
int probe_site__format(const struct probe_site *s, char *buf, size_t len);

struct probes_opts {
	unsigned sources;     /* PM_SOURCES_* mask */
	size_t ringbuf_bytes; /* power of two */
	bool filter_cgroups;  /* trace every process of traced_cgroups too */
	/* sample the allocation families: they are armed only between
	 * probes__sample(p, true) and probes__sample(p, false) */
	bool sample;
};

struct probes;

/* Open and load the BPF object and attach the process-life programs.
 * NULL with errno set and a one-line reason in err. */
struct probes *probes__open(const struct probes_opts *opts, char *err, size_t errlen);
/*
 * A dry run: no BPF object is loaded, and probes__attach decides coverage
 * from the same ELF analysis, counting a function or USDT note that resolves
 * as attached (whether the kernel would accept the probe is not tried).
 * Nothing is traced: probes__ringbuf_fd, probes__trace_pid and
 * probes__trace_cgroup fail with -EINVAL; the lost counters read 0.
 * NULL with errno set (ENOMEM).
 */
struct probes *probes__open_dry(unsigned sources);
void probes__free(struct probes *p);
int probes__ringbuf_fd(const struct probes *p);

int probes__trace_pid(struct probes *p, pid_t pid);
int probes__trace_cgroup(struct probes *p, uint64_t cgroup_id);
/* Stop tracing a cgroup (its container stopped). 0 or -errno. */
int probes__untrace_cgroup(struct probes *p, uint64_t cgroup_id);

/*
 * Attach the requested sources to the Python object and libc of a target
 * (each distinct file once; a file already attached is not attached again
 * and yields the same coverage). Fills cov for every source. Returns the
 * number of sources that are attached (full or partial).
 */
int probes__attach(struct probes *p, const struct target_binary *python, const char *py_version,
		   const struct target_binary *libc, struct probe_coverage *cov);

/*
 * The same, with uprobes that only process pid traps (the kernel's pid
 * filter: other processes mapping the same file are not armed, so they never
 * trap). pid -1: every process (what container targets need: their pids are
 * not known in advance). A file already attached for every process is not
 * attached again. One link set per (file, pid); past PROBES_PID_SETS_MAX
 * processes on one file, the file is attached for every process instead and
 * its per-process links are closed. PYMAC_PID_FILTER=0 in the environment
 * makes every attachment pid -1 (for measurements).
 */
#define PROBES_PID_SETS_MAX 32
int probes__attach_pid(struct probes *p, pid_t pid, const struct target_binary *python,
		       const char *py_version, const struct target_binary *libc,
		       struct probe_coverage *cov);

/*
 * The processes the BPF side traces now (the -p targets, the command, and
 * the children they forked since), up to max. Count, or -errno. A child
 * forked by a traced process is traced by BPF from its fork, but
 * pid-filtered uprobes do not fire in it until it is attached for itself.
 */
int probes__traced_pids(struct probes *p, pid_t *out, size_t max);

typedef void (*probes_lost_cb)(void *ctx, uint32_t pid, uint32_t kind, uint64_t count);
/* Call cb for every (pid, kind) lost counter. 0 or -errno. */
int probes__lost_foreach(struct probes *p, probes_lost_cb cb, void *ctx);
/* Sum of lost events over kinds. */
uint64_t probes__lost_total(const struct probes *p);
/* Collections the GC probes could not read: the GC state failed its layout's
 * self-check (a build whose layout differs from its version's). */
uint64_t probes__gc_layout_misses(const struct probes *p);
/*
 * Open or close the tracing window (bpf/pymac.bpf.h: pm_window_open): while
 * it is closed every program returns at once and nothing reaches the ring
 * buffer, whatever is attached. It is closed until the first call. Returns
 * the CLOCK_MONOTONIC time at which the switch was set (taken just before
 * opening, just after closing, so that every event of the window lies
 * between the two); nothing happens in a dry run, which returns the time.
 */
uint64_t probes__set_window(struct probes *p, bool open);
/*
 * Destroy every link (uprobes and the process-life programs): from now on
 * nothing reaches the ring buffer, so what is in it can be read to its end
 * even while the targets run flat out. The maps stay readable.
 */
void probes__detach(struct probes *p);
/* Number of uprobe/uretprobe/USDT links attached. */
size_t probes__link_count(const struct probes *p);

/*
 * Sampling (probes_opts.sample): the probes of pymalloc, dealloc and libc
 * are not attached by probes__attach*; they are armed in every attached
 * file by probes__sample(p, true) and removed by probes__sample(p, false),
 * while GC (and footprint) stay attached throughout. A file attached while
 * armed is armed at once. With uprobe_multi (kernel 6.6+), a window arms
 * the allocation functions' entries only, one link per program and file:
 * their events carry sizes but no block address. It may be called from
 * another thread than probes__attach*; after probes__detach it does
 * nothing. when_ns (may be NULL) gets the CLOCK_MONOTONIC time at which
 * the probes count as armed (or disarmed), which is not when the call
 * returns: closing waits for the kernel long after the breakpoints are
 * gone. 0, or the first error (said once on stderr; the files that could
 * be armed are).
 */
int probes__sample(struct probes *p, bool on, uint64_t *when_ns);
bool probes__sampled(const struct probes *p);
/* Sites a window arms in every attached file (each entry once). */
size_t probes__sampled_sites(const struct probes *p);

#endif /* PYMAC_PROBES_H */
