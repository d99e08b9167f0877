// SPDX-License-Identifier: MIT
/* How pymalloc and libc are attached on each kind of build, and what each
 * says of its coverage (probes_impl.h; docs/coverage.md). dealloc is
 * attach/probe_dealloc.c, gc attach/probe_gc.c. */
#include "attach/probes_impl.h"
#include "util/words.h"

/* pymalloc's exported functions */
static const struct alloc_fn pymalloc_fns[] = {
    {"PyObject_Malloc", PM_PY_MALLOC},
    {"PyObject_Calloc", PM_PY_CALLOC},
    {"PyObject_Realloc", PM_PY_REALLOC},
    {"PyObject_Free", PM_PY_FREE},
};

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

/* What a tally says of the sized frees (pool headers). */
static void sized_text(char *buf, size_t len, const struct site_tally *t,
		       const struct pool_vars *pool)
{
	if (t->sized)
		snprintf(buf, len, "frees sized from pool headers at %d sites", t->sized);
	else
		pm_fmt_words(buf, len, "frees not sized: %s",
			     pool->minor > 11  ? "3.12+ keep pymalloc's arenas per interpreter"
			     : !pool->found    ? pool->why
			     : pool->minor < 8 ? "pymalloc's layout is known for 3.8-3.11 only"
					       : "no slot for another pymalloc layout");
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

	sized_text(sized, sizeof(sized), &t, &di->pool);
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

#define CODE_MAX_SLOT_SITES 4096

/*
 * The sites of one wrapper found through its allocator table: every call
 * through its slot outside the exported function (elf_file__fn_slot_sites),
 * which is probed as a function (entry and return) on its own.
 */
static int code_sites_of(struct elf_file *ef, const char *name, enum dwarf_fn fn,
			 struct dwarf_info *ci, char *why, size_t whylen)
{
	struct elf_slot_site *ss;
	struct elf_fn_slot slot;
	struct elf_func f;
	uint64_t lo, hi;
	long n;

	if (elf_file__find_func(ef, name, &f)) {
		snprintf(why, whylen, "no %s", name);
		return -ENOENT;
	}
	if (elf_file__fn_slot_of(ef, f.vaddr, &slot)) {
		snprintf(why, whylen, "%s calls through no table that pymac knows", name);
		return -ENOENT;
	}
	if (elf_file__fde_range(ef, f.vaddr, &lo, &hi, NULL) || lo != f.vaddr) {
		lo = f.vaddr;
		hi = f.vaddr + (f.size ? f.size : 1);
	}
	if (!(ss = calloc(CODE_MAX_SLOT_SITES, sizeof(*ss))))
		return -ENOMEM;
	n = elf_file__fn_slot_sites(ef, &slot, lo, hi, ss, CODE_MAX_SLOT_SITES);
	if (n < 0) {
		pm_fmt_words(why, whylen, "the code's calls through %s's table: %s", name,
			     strerror((int)-n));
		free(ss);
		return (int)n;
	}
	if (n > CODE_MAX_SLOT_SITES)
		n = CODE_MAX_SLOT_SITES;
	void *grown = realloc(ci->sites, (ci->n + (size_t)n + 1) * sizeof(*ci->sites));

	if (!grown) {
		free(ss);
		return -ENOMEM;
	}
	ci->sites = grown;
	/* (the wrapper itself is attached as a function: pr_attach_alloc_family) */
	for (long i = 0; i < n; i++)
		ci->sites[ci->n++] = (struct elf_site){.func = fn,
						       .pc = ss[i].addr,
						       .inlined = true,
						       .args = {ss[i].args[0], ss[i].args[1]},
						       .why = ss[i].why};
	free(ss);
	return 0;
}

/* An LTO build without debug info: the allocator's calls through its
 * table, found in the code. */
static bool attach_pymalloc_code(struct probes *p, struct elf_file *ef,
				 const struct target_binary *b, const struct dwarf_info *di,
				 bool need_full, bool need_inlined, struct probe_coverage *cov)
{
	struct dwarf_info ci = {.tried = true, .found = true};
	char why[160] = "", sized[128];
	struct site_tally t;
	double t0 = (double)pm_now_ns() / 1e9;

	/* the wrappers, as the debug info names them (PyObject_Malloc ...) */
	for (int fn = DF_MALLOC; fn <= DF_FREE; fn++)
		if (code_sites_of(ef, dwarf_queries[fn].name, fn, &ci, why, sizeof(why)) &&
		    (fn == DF_MALLOC || fn == DF_FREE)) {
			pr_dwarf_info__free(&ci);
			return false;
		}
	/* where the debug info is, it sees every copy or it does not: the code
	 * is taken only when it sees every one of them */
	for (size_t i = 0; i < ci.n && need_full && !why[0]; i++)
		if (ci.sites[i].args[0].kind == ELF_LOC_NONE)
			snprintf(why, sizeof(why), "unresolved");
	/* need_inlined: only where the code calls through the table outside
	 * the wrappers (else the exported functions are all there is) */
	if ((need_full && why[0]) || (need_inlined && !ci.n)) {
		pr_dwarf_info__free(&ci);
		return false;
	}
	/* pymalloc's arenas: from the debug file's symbols where there is one */
	if (di->pool.found)
		ci.pool = di->pool;
	else
		pr_pool_vars__find(&ci.pool, ef, NULL);
	ci.pool.minor = di->pool.minor;
	pr_attach_dwarf_sites(p, ef, b, &ci, DF_MALLOC, DF_FREE, &t);

	/* the exported functions themselves: entry and return, their frees
	 * sized as the inlined ones are */
	char missing[160];
	int wrapped;

	if (p->pool_sizes != POOL_SIZES_OFF) {
		p->cur_pool_slot = pr_pool_slot(p, &ci.pool);
		p->cur_arenas = ci.pool.arenas;
	}
	wrapped = pr_attach_alloc_family(p, ef, b->host_path, pymalloc_fns, 4, missing,
					 sizeof(missing), cov, PM_SOURCE_PYMALLOC);
	p->cur_pool_slot = 0;
	p->cur_arenas = 0;
	t.sites += 4;
	t.attached += wrapped;
	if (missing[0] && !why[0])
		pm_shorten(why, sizeof(why), missing);
	sized_text(sized, sizeof(sized), &t, &ci.pool);
	if (getenv("PYMAC_DEBUG"))
		fprintf(stderr, "pymac: allocator table calls in %s: %zu sites, %.3f s\n", b->path,
			ci.n, (double)pm_now_ns() / 1e9 - t0);
	char dbg[240];

	/* the debug info's own search is in the dealloc source's detail */
	if (di->found)
		pm_fmt_words(dbg, sizeof(dbg), "debug info (%s)", di->how);
	else
		snprintf(dbg, sizeof(dbg), "no debug info found");
	/* the free-threaded build's PyObject_Malloc is mimalloc's, not pymalloc */
	const char *what = cov->free_threaded ? "free-threaded build" : "LTO build";

	if (cov->free_threaded && !t.sized)
		snprintf(sized, sizeof(sized), "frees not sized: mimalloc has no pymalloc pools");

	if (t.unlocated || t.failed || why[0])
		pr_set_cov(cov, PM_SOURCE_PYMALLOC, PM_SRC_PARTIAL,
			   "%s that inlines the allocator: %d calls through its allocator "
			   "table, found in the machine code of %s (%d partial), %d emulated; %s; "
			   "not probed: %s%s%s; %s",
			   what, t.sites, b->path, t.unlocated + t.failed, t.emulated, dbg, t.notes,
			   why[0] && t.notes[0] ? ", " : "", why, sized);
	else
		pr_set_cov(
		    cov, PM_SOURCE_PYMALLOC, PM_SRC_FULL,
		    "%s that inlines the allocator: %d calls through its allocator "
		    "table, found in the machine code of %s (0 partial), %d emulated; %s; %s "
		    "(block addresses unknown at inlined calls)",
		    what, t.sites, b->path, t.emulated, dbg, sized);
	pr_dwarf_info__free(&ci);
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

	if (inlined == 1 || p->pymalloc_sites == PYMALLOC_SITES_CODE) {
		bool dwarf = false;

		/* the debug info's copies, if any, and its symbols of arenas */
		pr_dwarf_info__load(di, ef, b);
		dwarf = p->pymalloc_sites != PYMALLOC_SITES_CODE && di->found &&
			pr_dwarf_info__has(di, DF_MALLOC) && pr_dwarf_info__has(di, DF_FREE);
		if (p->pymalloc_sites != PYMALLOC_SITES_DWARF &&
		    attach_pymalloc_code(p, ef, b, di, dwarf, false, cov))
			return;
		if (dwarf && attach_pymalloc_dwarf(p, ef, b, di, cov))
			return;
	} else if (inlined == 0 && p->pymalloc_sites == PYMALLOC_SITES_AUTO && cov->free_threaded &&
		   attach_pymalloc_code(p, ef, b, di, false, true, cov)) {
		/* a build that calls the allocator but also inlines some of
		 * its wrappers (3.13t frees through an inlined PyObject_Free);
		 * not looked for elsewhere: the scan costs 0.1-0.4 s per binary,
		 * which a build without LTO would pay for nothing */
		return;
	}

	char missing[160];
	struct pool_vars pv = {0};

	if (p->pool_sizes == POOL_SIZES_ALL) {
		pr_pool_vars__find(&pv, ef, NULL);
		pv.minor = minor;
		p->cur_pool_slot = pr_pool_slot(p, &pv);
		p->cur_arenas = pv.arenas;
	}
	/* a build that calls the allocator: PyObject_Free's table is all there
	 * is between its callers and the free (sampling arms entries alone) */
	p->free_via_table = inlined == 0 && p->free_table_ok && p->choose_sites && !p->sample;
	int attached = pr_attach_alloc_family(p, ef, b->host_path, pymalloc_fns, 4, missing,
					      sizeof(missing), cov, PM_SOURCE_PYMALLOC);
	bool err = missing[0] != '\0';

	p->free_via_table = false;
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
