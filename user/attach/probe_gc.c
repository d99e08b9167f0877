// SPDX-License-Identifier: MIT
/*
 * How the gc source is attached (probes_impl.h; bpf/gc.bpf.c; docs/coverage.md).
 *
 * Best first:
 * 1. Probes at the collector's entry and return that read the GC state's
 *    generation_stats: exact generation, collected and uncollectable on
 *    every build whose state layout is known (3.8-3.13), whatever a compiler
 *    clone does with its arguments. The collector is found by its symbol or,
 *    in a build without .symtab (the official -slim images), as the function
 *    reached from the exported PyGC_Collect whose code prints the collector's
 *    debug message; the GC state is found from the exported _PyRuntime, by a
 *    table per version (3.8-3.12) or _Py_DebugOffsets (3.13).
 * 2. The python:gc__start/gc__done USDT markers.
 * 3. The collector's argument and return value (needs its symbol).
 */
#include "attach/probes_impl.h"
#include "util/words.h"
#include "attach/pycode.h"

#define GC_MAX_COPIES 8

struct collector {
	struct elf_func fns[GC_MAX_COPIES];
	int n;
	const char *name; /* gc_collect_main, collect, or a description */
	bool by_symbol;	  /* else found through its code */
	char check[120];  /* how the two ways agree, when both could run */
};

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

/* The needs of a program that reads the argument spec (bpf/regs.h). */
static struct site_needs spec_needs(long spec, bool uretprobe)
{
	struct site_needs nd = {.stack = uretprobe};

	if (spec >= 0 && !(spec & PM_ARG_CONST) && spec < PM_REG_MAX)
		nd.regs = 1u << spec;
	return nd;
}

/*
 * Python 3.13's automatic collections enter the collector with generation
 * -1 and choose inside; invoke_gc_callback(tstate, phase, generation, ...)
 * is then called with the chosen one. Returns how many copies of it were
 * attached (for the argument method only).
 */
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

/* The collector by symbol (gc_collect_main 3.10+, collect 3.8-3.9, and
 * their clones), else through its code; with both, whether they agree. */
static void find_collector(struct elf_file *ef, struct collector *c)
{
	static const char *const names[] = {"gc_collect_main", "collect"};
	uint64_t by_code[GC_MAX_COPIES], by_sym[GC_MAX_COPIES];
	int nc = py_gc_collector_by_code(ef, by_code, GC_MAX_COPIES);

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && c->n <= 0; i++) {
		c->n = elf_file__find_func_clones(ef, names[i], c->fns, GC_MAX_COPIES);
		c->name = names[i];
	}
	if (c->n > GC_MAX_COPIES)
		c->n = GC_MAX_COPIES;
	if (c->n > 0) {
		c->by_symbol = true;
		if (nc < 0)
			return;
		/* the code way names the copies that print; a clone that
		 * does not (a .part fragment) is not one it would find */
		for (int i = 0; i < c->n; i++)
			by_sym[i] = c->fns[i].vaddr;
		qsort(by_sym, (size_t)c->n, sizeof(by_sym[0]), addr_cmp);
		qsort(by_code, (size_t)(nc < GC_MAX_COPIES ? nc : GC_MAX_COPIES),
		      sizeof(by_code[0]), addr_cmp);
		bool same = nc == c->n && !memcmp(by_sym, by_code, (size_t)nc * sizeof(by_sym[0]));

		snprintf(c->check, sizeof(c->check), "%s",
			 same ? "found through its code as well"
			      : "its code points elsewhere (symbols used)");
		return;
	}
	c->n = 0;
	if (nc <= 0)
		return;
	c->name = "the collector";
	snprintf(c->check, sizeof(c->check), "no symbol: found through its code");
	c->n = nc < GC_MAX_COPIES ? nc : GC_MAX_COPIES;
	for (int i = 0; i < c->n; i++) {
		struct elf_func *f = &c->fns[i];
		uint64_t lo, hi;

		snprintf(f->name, sizeof(f->name), "gc_collector@%#llx",
			 (unsigned long long)by_code[i]);
		f->vaddr = by_code[i];
		f->size = elf_file__fde_range(ef, by_code[i], &lo, &hi, NULL) == 0 ? hi - lo : 0;
		if (elf_file__vaddr_to_offset(ef, f->vaddr, &f->offset))
			c->n = i; /* not loaded from the file: cannot be probed */
	}
}

int pr_free_threaded(struct elf_file *ef)
{
	uint64_t runtime, ft;
	char cookie[8];

	/* 3.13+: _PyRuntime opens with _Py_DebugOffsets, whose third field
	 * says whether the build is free-threaded; older builds are not */
	if (elf_file__find_object(ef, "_PyRuntime", &runtime))
		return -1;
	if (elf_file__read_data(ef, runtime, cookie, sizeof(cookie)) ||
	    memcmp(cookie, "xdebugpy", 8))
		return 0;
	if (elf_file__read_u64(ef, runtime + 16, &ft))
		return -1;
	return ft != 0;
}

/*
 * The main interpreter's GC state layout for this build; *runtime is the
 * address of _PyRuntime. 0, or -1 with why.
 */
static int gc_layout(struct elf_file *ef, const char *version, uint64_t *runtime,
		     struct pm_gc_layout *l, char *why, size_t wlen)
{
	/* generation_stats[] follows generations[3], generation0 and the
	 * permanent generation; generation0 points at generations[0] */
	struct pm_gc_layout base = {.stats_off = 128, .check_off = 96, .check_to = 24};
	int minor = pr_version_minor(version);
	char cookie[8];
	/* _Py_DebugOffsets: version, free_threaded, then
	 * runtime_state.interpreters_head at +40, interpreter_state.gc at +80 */
	uint64_t hex, ft, head, gc;

	if (elf_file__find_object(ef, "_PyRuntime", runtime)) {
		snprintf(why, wlen, "no _PyRuntime symbol");
		return -1;
	}
	*l = base;
	/* 3.13+: _PyRuntime opens with _Py_DebugOffsets */
	if (elf_file__read_data(ef, *runtime, cookie, sizeof(cookie)) == 0 &&
	    !memcmp(cookie, "xdebugpy", 8)) {
		if (elf_file__read_u64(ef, *runtime + 8, &hex) ||
		    elf_file__read_u64(ef, *runtime + 16, &ft) ||
		    elf_file__read_u64(ef, *runtime + 40, &head) ||
		    elf_file__read_u64(ef, *runtime + 80, &gc)) {
			snprintf(why, wlen, "_Py_DebugOffsets cut short");
			return -1;
		}
		minor = (int)((hex >> 16) & 0xff);
		if ((hex >> 24) != 3 || minor != 13) {
			snprintf(why, wlen, "GC state layout of %d.%d not known", (int)(hex >> 24),
				 minor);
			return -1;
		}
		/* free-threaded (3.13t): the same state, but its generations
		 * hold no lists, so generation0 stays NULL: no self-check
		 * (the stats' place read from a 3.13.5t build's memory) */
		if (ft)
			l->check_off = l->check_to = 0;
		/* runtime_state.interpreters_head, then .main beside it */
		if (head > 0x10000 || gc > 0x100000) {
			snprintf(why, wlen, "_Py_DebugOffsets out of range");
			return -1;
		}
		l->interp_off = (unsigned)head + 8;
		l->gc_off = (unsigned)gc;
		return 0;
	}
	switch (minor) {
	case 8: /* the state is _PyRuntime.gc */
		l->gc_off = 0x158;
		return 0;
	case 9:
	case 10:
		l->interp_off = 0x28, l->gc_off = 0x268;
		return 0;
	case 11:
		l->interp_off = 0x30, l->gc_off = 0x288;
		return 0;
	case 12:
		l->interp_off = 0x30, l->gc_off = 0x70;
		return 0;
	}
	snprintf(why, wlen,
		 minor < 0 ? "Python version unknown" : "GC state layout of 3.%d not known", minor);
	return -1;
}

static int gc_layout_slot(struct probes *p, const struct pm_gc_layout *l)
{
	for (int i = 0; i < p->ngc_layouts; i++)
		if (!memcmp(&p->gc_layouts[i], l, sizeof(*l)))
			return i + 1;
	if (p->ngc_layouts == PM_GC_SLOTS - 1)
		return 0;
	p->gc_layouts[p->ngc_layouts] = *l;
	if (p->skel)
		p->skel->bss->pm_gc_layouts[p->ngc_layouts + 1] = *l;
	return ++p->ngc_layouts;
}

/* The collector's entry, with cookie, and its return at off. 0 or -errno. */
static int attach_collector_at(struct probes *p, const char *path, uint64_t off, uint64_t cookie)
{
	int err = pr_attach_uprobe(p, PROG(p, pm_gc_fn_enter), path, off, cookie, false);

	if (!err)
		err = pr_attach_uprobe(p, PROG(p, pm_gc_fn_exit), path, off, 0, true);
	return err;
}

/* Method 1. How many copies were attached; 0 with why when none. */
static int attach_gc_stats(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			   const char *version, const struct collector *c,
			   struct probe_coverage *cov, char *why, size_t wlen)
{
	struct pm_gc_layout l;
	uint64_t runtime;
	int slot, attached = 0, err = 0;

	if (gc_layout(ef, version, &runtime, &l, why, wlen))
		return 0;
	if (!(slot = gc_layout_slot(p, &l))) {
		snprintf(why, wlen, "no slot for another GC state layout");
		return 0;
	}
	for (int i = 0; i < c->n; i++) {
		struct site_needs nd = {.stack = true};
		uint64_t off = pr_choose_site(p, b->host_path, &c->fns[i], &nd, cov, PM_SOURCE_GC);
		long long dist =
		    (long long)(runtime - (c->fns[i].vaddr + (off - c->fns[i].offset)));

		if (dist < PM_COOKIE_DIST_MIN || dist > PM_COOKIE_DIST_MAX) {
			snprintf(why, wlen, "_PyRuntime is too far from the collector");
			continue;
		}
		err = attach_collector_at(p, b->host_path, off,
					  PM_GC_COOKIE(PM_ARG_UNKNOWN, slot, dist));
		if (!err)
			attached++;
		else
			snprintf(why, wlen, "attach failed: %s", strerror(-err));
	}
	return attached;
}

/* Method 3: the argument and the return value. */
static void attach_gc_args(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			   const char *version, const struct collector *c, const char *why,
			   struct probe_coverage *cov)
{
	char skipped[200] = "";
	size_t slen = sizeof(skipped);
	int attached = 0, err;

	for (int i = 0; i < c->n; i++) {
		/* DWARF knows where a clone takes `generation`; a function that is
		 * no clone takes it as its second argument in every version. */
		long spec = param_spec(ef, &c->fns[i], "generation", PM_REG_SI);

		if (spec < 0) {
			pm_list_add(skipped, slen, "skipped ", "%s", c->fns[i].name);
			continue;
		}
		struct site_needs nd = spec_needs(spec, true);
		uint64_t off = pr_choose_site(p, b->host_path, &c->fns[i], &nd, cov, PM_SOURCE_GC);

		err = attach_collector_at(p, b->host_path, off, spec);
		if (!err)
			attached++;
	}
	int gen_probes = attached ? attach_gc_generation(p, ef, b, cov) : 0;

	if (!attached)
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_NONE, "cannot attach to %s in %s: %s", c->name,
			   b->path, skipped[0] ? skipped : "attach failed");
	else if (!gen_probes && pr_version_minor(version) >= 13)
		pr_set_cov(
		    cov, PM_SOURCE_GC, PM_SRC_PARTIAL,
		    "uprobes on %s in %s see explicit collections; automatic ones choose their "
		    "generation inside and are missed (no invoke_gc_callback to probe)",
		    c->name, b->path);
	else if (attached < c->n)
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_PARTIAL,
			   "%d of %d copies of %s in %s (%s: no debug info says where they take "
			   "`generation`)",
			   attached, c->n, c->name, b->path, skipped);
	else
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_FULL,
			   "uprobes on %s (%d cop%s) in %s: generation and collected from its "
			   "argument and return value (no uncollectable count: %s)",
			   c->name, c->n, c->n == 1 ? "y" : "ies", b->path, why);
}

void pr_attach_gc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		  const char *version, struct probe_coverage *cov)
{
	struct usdt_note note;
	struct collector c;
	char why[160] = "", skipped[200] = "";
	int err;

	find_collector(ef, &c);
	if (p->gc_method != GC_METHOD_AUTO)
		snprintf(why, sizeof(why), "PYMAC_GC_METHOD=%s",
			 p->gc_method == GC_METHOD_USDT ? "usdt" : "args");
	if (c.n > 0 && p->gc_method == GC_METHOD_AUTO) {
		int n = attach_gc_stats(p, ef, b, version, &c, cov, why, sizeof(why));

		if (n == c.n) {
			pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_FULL,
				   "%s (%d cop%s%s%s) in %s, reading the GC state's "
				   "generation_stats at its entry and return",
				   c.name, c.n, c.n == 1 ? "y" : "ies", c.check[0] ? "; " : "",
				   c.check, b->path);
			return;
		}
		if (n) {
			pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_PARTIAL,
				   "%d of %d copies of %s in %s (%s)", n, c.n, c.name, b->path,
				   why);
			return;
		}
	}
	if (p->gc_method != GC_METHOD_ARGS &&
	    elf_file__find_usdt(ef, "python", "gc__start", &note) == 0 &&
	    elf_file__find_usdt(ef, "python", "gc__done", &note) == 0) {
		err = attach_gc_usdt(p, b);
		if (!err) {
			pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_FULL,
				   "USDT python:gc__start/gc__done in %s (no uncollectable "
				   "count: %s)",
				   b->path, c.n > 0 ? why : "no collector found");
			return;
		}
		snprintf(skipped, sizeof(skipped), "USDT attach failed: %s; ", strerror(-err));
	}
	if (c.n > 0 && c.by_symbol) {
		attach_gc_args(p, ef, b, version, &c, why, cov);
		return;
	}
	if (c.n > 0)
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_NONE, "%s in %s, but %s", c.name, b->path,
			   why);
	else
		pr_set_cov(cov, PM_SOURCE_GC, PM_SRC_NONE,
			   "%sno python:gc__start marker and no collector function (by symbol, "
			   "or printing \"gc: collecting generation\" within three calls of "
			   "PyGC_Collect) in %s",
			   skipped, b->path);
}

uint64_t probes__gc_layout_misses(const struct probes *p)
{
	return p->dry || !p->skel ? 0 : p->skel->bss->pm_gc_layout_misses;
}
