// SPDX-License-Identifier: MIT
/* How pymalloc and libc are attached on each kind of build, and what each
 * says of its coverage (probes_impl.h; docs/coverage.md). dealloc is
 * attach/probe_dealloc.c, gc attach/probe_gc.c. */
#include "attach/probes_impl.h"

int pr_allocator_inlined(struct elf_file *ef)
{
	struct elf_func m, u;
	struct elf_call_count c;

	if (elf_file__find_func(ef, "PyObject_Malloc", &m) ||
	    elf_file__find_func(ef, "PyUnicode_New", &u) || !u.size ||
	    elf_file__count_calls_in(ef, m.vaddr, u.vaddr, u.vaddr + u.size, &c))
		return -1;
	return c.direct + c.via_plt == 0;
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
	int inlined = pr_allocator_inlined(ef);
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
