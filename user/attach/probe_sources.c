// SPDX-License-Identifier: MIT
/* How each source (pymalloc, dealloc, gc, libc) is attached on each kind of
 * build, and what it says of its coverage (probes_impl.h; docs/coverage.md). */
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
	if ((err = pr_add_link(p, l)))
		return err;
	l = bpf_program__attach_usdt(p->skel->progs.pm_gc_usdt_done, -1, b->host_path, "python",
				     "gc__done", NULL);
	if (!l)
		return -errno;
	return pr_add_link(p, l);
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

		if (spec >= 0 && pr_attach_uprobe(p, PROG(p, pm_gc_fn_generation), b->host_path,
						  pr_choose_site(p, b->host_path, &fns[i], &nd, cov,
								 PM_SOURCE_GC),
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
void pr_attach_gc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
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
			pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_FULL,
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
		pr_set_cov(
		    cov, PM_SOURCE_GC, PM_SRC_NONE,
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
		uint64_t off = pr_choose_site(p, b->host_path, &fns[i], &nd, cov, PM_SOURCE_GC);

		err = pr_attach_uprobe(p, PROG(p, pm_gc_fn_enter), b->host_path, off, spec, false);
		if (!err)
			err =
			    pr_attach_uprobe(p, PROG(p, pm_gc_fn_exit), b->host_path, off, 0, true);
		if (!err)
			attached++;
	}
	int gen_probes = attached ? attach_gc_generation(p, ef, b, cov) : 0;

	if (!attached)
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_NONE, "cannot attach to %s in %s: %s", name,
			   b->path, skipped[0] ? skipped : "attach failed");
	else if (!gen_probes && version_at_least(version, 3, 13))
		pr_set_cov(
		    cov, PM_SOURCE_GC, PM_SRC_PARTIAL,
		    "uprobes on %s in %s see explicit collections; automatic ones choose their "
		    "generation inside and are missed (no invoke_gc_callback to probe)",
		    name, b->path);
	else if (attached < n)
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_PARTIAL,
			   "%d of %d copies of %s in %s (%s: no debug info says where they take "
			   "`generation`)",
			   attached, n, name, b->path, skipped);
	else
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_FULL, "uprobes on %s (%d cop%s) in %s", name,
			   n, n == 1 ? "y" : "ies", b->path);
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
