// SPDX-License-Identifier: MIT
/* How pymalloc, dealloc and libc are attached on each kind of build, and
 * what each says of its coverage (probes_impl.h; docs/coverage.md). The gc
 * source is attach/probe_gc.c. */
#include "attach/probes_impl.h"

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

	pr_dwarf_info__load(di, ef, b);
	/* debug info without the entry points is not this build's */
	if (!di->found || !pr_dwarf_info__has(di, DF_MALLOC) || !pr_dwarf_info__has(di, DF_FREE))
		return false;
	pr_attach_dwarf_sites(p, ef, b, di, DF_MALLOC, DF_FREE, &t);
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
		pr_set_cov(
		    cov, PM_SOURCE_PYMALLOC, PM_SRC_PARTIAL,
		    "LTO build that inlines the allocator; debug info (%s): %d sites (%d partial) "
		    "of PyObject_{Malloc,Calloc,Realloc,Free} in %s, %d inlined, %d emulated; %s; "
		    "not probed: %s",
		    di->how, t.sites, t.unlocated + t.failed, b->path, t.inlined, t.emulated, sized,
		    t.notes);
	else
		pr_set_cov(
		    cov, PM_SOURCE_PYMALLOC, PM_SRC_FULL,
		    "LTO build that inlines the allocator; debug info (%s): %d sites (0 partial) "
		    "of PyObject_{Malloc,Calloc,Realloc,Free} in %s, %d inlined, %d emulated "
		    "(block addresses unknown there; %s)",
		    di->how, t.sites, b->path, t.inlined, t.emulated, sized);
	return true;
}

void pr_attach_pymalloc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
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
		pr_pool_vars__find(&pv, ef, NULL);
		pv.minor = minor;
		p->cur_pool_slot = pr_pool_slot(p, &pv);
		p->cur_arenas = pv.arenas;
	}
	int attached = pr_attach_alloc_family(p, ef, b->host_path, fns, 4, missing, sizeof(missing),
					      cov, PM_SOURCE_PYMALLOC);
	bool err = missing[0] != '\0';

	p->cur_pool_slot = 0;
	p->cur_arenas = 0;
	if (!attached) {
		pr_set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_NONE, "cannot attach to %s in %s: %s",
			   "PyObject_Malloc", b->path, missing);
		return;
	}
	if (inlined == 1)
		pr_set_cov(
		    cov, PM_SOURCE_PYMALLOC, PM_SRC_PARTIAL,
		    "%s inlines the allocator into its own code (LTO build: PyUnicode_New does "
		    "not call PyObject_Malloc); the probes see only calls through the exported "
		    "functions, a small part of all allocations; %s",
		    b->path, di->how);
	else if (err)
		pr_set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_PARTIAL, "%s: not attached: %s", b->path,
			   missing);
	else
		pr_set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_FULL,
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

	pr_dwarf_info__load(di, ef, b);
	if (!di->found || !pr_dwarf_info__has(di, DF_DEALLOC))
		return false;
	pr_attach_dwarf_sites(p, ef, b, di, DF_DEALLOC, DF_DEALLOC, &t);
	in_eval = eval_loop_dealloc_sites(ef, di);
	if (in_eval >= 0 && in_eval < 16)
		snprintf(bypass, sizeof(bypass),
			 "; objects the bytecode loop frees through tp_dealloc directly (3.11+) "
			 "are not seen");
	if (t.unlocated || t.failed || bypass[0])
		pr_set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
		    "debug info (%s): %d sites (%d partial) of _Py_Dealloc in %s, %d inlined, %d "
		    "emulated%s%s%s",
		    di->how, t.sites, t.unlocated + t.failed, b->path, t.inlined, t.emulated,
		    bypass, t.notes[0] ? "; not probed: " : "", t.notes);
	else
		pr_set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_FULL,
		    "debug info (%s): %d sites (0 partial) of _Py_Dealloc in %s, %d inlined, %d "
		    "emulated",
		    di->how, t.sites, b->path, t.inlined, t.emulated);
	return true;
}

void pr_attach_dealloc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		       const char *version, struct dwarf_info *di, struct probe_coverage *cov)
{
	struct site_needs nd = site_needs__args(1, false);
	struct elf_func f;
	uint64_t off;
	int err;

	if (allocator_inlined(ef) == 1 && attach_dealloc_dwarf(p, ef, b, di, cov))
		return;

	if (elf_file__find_func(ef, "_Py_Dealloc", &f)) {
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_NONE, "%s has no _Py_Dealloc function%s",
			   b->path,
			   version[0] && strcmp(version, "3.8") < 0 && strlen(version) == 3
			       ? " (before Python 3.8 it is a macro)"
			       : "");
		return;
	}
	/* what the program reads through op is unchanged too: the chooser
	 * refuses any store before the site */
	off = pr_choose_site(p, b->host_path, &f, &nd, cov, PM_SOURCE_DEALLOC);
	err = pr_attach_uprobe(p, PROG(p, pm_dealloc), b->host_path, off,
			       PM_COOKIE(0, PM_LOC_ARG1, 0), false);
	if (err) {
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_NONE,
			   "cannot attach to _Py_Dealloc in %s: %s", b->path, strerror(-err));
		return;
	}
	if (allocator_inlined(ef) == 1)
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
			   "%s is an LTO build that inlines _Py_Dealloc at some of its call sites; "
			   "deallocations through those are not seen; %s",
			   b->path, di->how);
	else if (eval_loop_bypasses_dealloc(ef, &f) == 1)
		pr_set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
		    "the bytecode loop of %s frees objects by calling their tp_dealloc directly, "
		    "not through _Py_Dealloc (Python 3.11+); objects whose last reference "
		    "bytecode drops are not seen",
		    b->path);
	else
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_FULL, "_Py_Dealloc in %s", b->path);
}

void pr_attach_libc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		    struct probe_coverage *cov)
{
	static const struct alloc_fn fns[] = {
	    {"malloc", PM_MALLOC},
	    {"calloc", PM_CALLOC},
	    {"realloc", PM_REALLOC},
	    {"free", PM_FREE},
	};
	char missing[160];
	int attached = pr_attach_alloc_family(p, ef, b->host_path, fns, 4, missing, sizeof(missing),
					      cov, PM_SOURCE_LIBC);
	if (!attached)
		pr_set_cov(cov, PM_SOURCE_LIBC, PM_SRC_NONE, "cannot attach to %s: %s", b->path,
			   missing);
	else if (missing[0])
		pr_set_cov(cov, PM_SOURCE_LIBC, PM_SRC_PARTIAL, "%s: not attached: %s", b->path,
			   missing);
	else
		pr_set_cov(cov, PM_SOURCE_LIBC, PM_SRC_FULL, "malloc, calloc, realloc, free in %s",
			   b->path);
}
