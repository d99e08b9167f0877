// SPDX-License-Identifier: MIT
/*
 * How the dealloc source is attached (probes_impl.h; bpf/dealloc.bpf.c;
 * docs/coverage.md).
 *
 * An object is freed when its last reference goes: Py_DECREF calls
 * _Py_Dealloc(op), which calls Py_TYPE(op)->tp_dealloc(op). Builds differ in
 * where that call is:
 * - 3.8-3.10 without LTO: in _Py_Dealloc, called from everywhere;
 * - LTO builds (Debian's, the official images): _Py_Dealloc inlined into
 *   hundreds of callers, each ending in the call through tp_dealloc;
 * - 3.11+: the bytecode loop's own Py_DECREF calls tp_dealloc itself, and
 *   its specialized instructions free floats, strs and ints by calling
 *   their destructor directly (_Py_DECREF_SPECIALIZED).
 * So pymac probes _Py_Dealloc's entry, every `call *tp_dealloc(%reg)` in
 * the file outside _Py_Dealloc (the BPF program records it only when the
 * register is the object's own type: a subtype's dealloc calling its base's
 * is not a second free), and, in the bytecode loop, the direct calls to the
 * specialized destructors (recorded only when the object's count is 0).
 * Each free then passes exactly one probe, with or without symbols or debug
 * info. Where the machine code cannot be read (not x86-64, no
 * .eh_frame_hdr), the debug info's inlined copies or _Py_Dealloc alone are
 * used, as before.
 */
#include "attach/probes_impl.h"
#include "util/grow.h"
#include "util/words.h"

/* PyTypeObject.tp_dealloc: after the PyVarObject head and tp_name,
 * tp_basicsize, tp_itemsize */
/* PyObject.ob_type and PyTypeObject.tp_dealloc; the free-threaded build's
 * object header is 16 bytes longer (ob_tid, flags, mutex, gc bits, a local
 * and a shared count before ob_type; bpf/regs.h PM_DEALLOC_FT) */
#define TP_DEALLOC_OFF	0x30
#define OB_TYPE_OFF	0x8
#define FT_HEADER_EXTRA 0x10
#define SWEEP_MAX	8192
#define SPECIAL_MAX	256
#define EVAL_MAX_PARTS	64

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

/* The build's object header (PM_DEALLOC_FT, or 0 for the default one). */
static unsigned long long header_layout(struct elf_file *ef)
{
	return pr_free_threaded(ef) == 1 ? PM_DEALLOC_FT : 0;
}

/* The old way, where the debug info's copies were not used: _Py_Dealloc
 * alone. inlined: the build is LTO (pr_allocator_inlined). */
static void attach_dealloc_fallback(struct probes *p, struct elf_file *ef,
				    const struct target_binary *b, const char *version, int inlined,
				    struct dwarf_info *di, const char *why,
				    struct probe_coverage *cov)
{
	struct site_needs nd = site_needs__args(1, false);
	struct elf_func f;
	uint64_t off;
	int err;

	if (elf_file__find_func(ef, "_Py_Dealloc", &f)) {
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_NONE, "%s has no _Py_Dealloc function%s",
			   b->path,
			   version[0] && strcmp(version, "3.8") < 0 && strlen(version) == 3
			       ? " (before Python 3.8 it is a macro)"
			       : "");
		return;
	}
	off = pr_choose_site(p, b->host_path, &f, &nd, cov, PM_SOURCE_DEALLOC);
	err = pr_attach_uprobe(p, PROG(p, pm_dealloc), b->host_path, off,
			       PM_COOKIE(0, PM_LOC_ARG1, 0) | header_layout(ef), false);
	if (err) {
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_NONE,
			   "cannot attach to _Py_Dealloc in %s: %s", b->path, strerror(-err));
		return;
	}
	if (inlined == 1)
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
			   "%s is an LTO build that inlines _Py_Dealloc at some of its call sites; "
			   "deallocations through those are not seen (%s); %s",
			   b->path, why, di->how);
	else if (eval_loop_bypasses_dealloc(ef, &f) == 1)
		pr_set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
		    "the bytecode loop of %s frees objects by calling their tp_dealloc directly, "
		    "not through _Py_Dealloc (Python 3.11+); objects whose last reference "
		    "bytecode drops are not seen (%s)",
		    b->path, why);
	else
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_FULL, "_Py_Dealloc in %s", b->path);
}

/*
 * A destructor without a symbol (stripped 3.11/3.12: _PyFloat_ExactDealloc
 * and _PyUnicode_ExactDealloc are not exported), among the functions the
 * bytecode loop calls: its type's tp_dealloc itself, one that it calls or
 * that calls it (float_dealloc calls _PyFloat_ExactDealloc for exact
 * floats; _PyUnicode_ExactDealloc calls unicode_dealloc), or a copy of it
 * (3.12's _PyUnicode_ExactDealloc: unicode_dealloc inlined whole). 0 if
 * none, or more than one, is.
 */
static uint64_t destructor_by_code(struct elf_file *ef, uint64_t type, int64_t tp_dealloc,
				   const uint64_t *callees, long ncallees)
{
	uint64_t dealloc, found = 0;

	if (elf_file__data_pointer(ef, type + (uint64_t)tp_dealloc, &dealloc))
		return 0;
	for (long i = 0; i < ncallees; i++) {
		uint64_t t = callees[i], lo, hi;
		bool entry = false;

		/* a function of this file (no PLT stub, which has no FDE of
		 * its own) */
		if (elf_file__fde_range(ef, t, &lo, &hi, &entry) || lo != t || !entry)
			continue;

		/* an exported function (PyObject_Free) would have been found
		 * by name */
		if (t != dealloc && (elf_file__is_exported_func(ef, t) ||
				     (!elf_file__func_branches_to(ef, dealloc, t) &&
				      !elf_file__func_branches_to(ef, t, dealloc) &&
				      !elf_file__same_code(ef, t, dealloc))))
			continue;
		if (found && found != t)
			return 0;
		found = t;
	}
	return found;
}

/* The sweep's sites: one batch, and for each site its address and, for a
 * compare's branch, where the destructor it stands for begins (else 0). */
struct sweep {
	struct site_batch sb;
	uint64_t *vaddrs, *bodies;
	size_t cap;
	/* the build's object layout: where ob_type and tp_dealloc are, and
	 * the cookie bits that tell BPF (PM_DEALLOC_FT) */
	int64_t ob_type, tp_dealloc;
	unsigned long long layout;
};

/* 0, 1 (an address outside the file: not added), or -ENOMEM. */
static int sweep_add(struct sweep *sw, struct elf_file *ef, uint64_t vaddr,
		     unsigned long long cookie, uint64_t body)
{
	uint64_t off;

	if (elf_file__vaddr_to_offset(ef, vaddr, &off))
		return 1;
	if (sw->sb.n == sw->cap) {
		size_t cap = sw->cap; /* of both: set by the second */
		uint64_t *v = PM_GROW(sw->vaddrs, &cap, sw->sb.n + 1, 256);

		if (!v)
			return -ENOMEM;
		sw->vaddrs = v;
		if (!(v = PM_GROW(sw->bodies, &sw->cap, sw->sb.n + 1, 256)))
			return -ENOMEM;
		sw->bodies = v;
	}
	if (pr_batch_add(&sw->sb, off, cookie | sw->layout, NULL))
		return -ENOMEM;
	sw->vaddrs[sw->sb.n - 1] = vaddr;
	sw->bodies[sw->sb.n - 1] = body;
	return 0;
}

/* A specialized free at vaddr, the freed object at loc: recorded when its
 * count is 0 and its type is the one at type (PM_DEALLOC_CHECK_FREED_TYPE).
 * As sweep_add; 1 also when the type is out of the cookie's reach. */
static int sweep_add_freed(struct sweep *sw, struct elf_file *ef, uint64_t vaddr, long loc,
			   uint64_t type)
{
	long long dist = (long long)(type - vaddr);

	if (dist < PM_COOKIE_DIST_MIN || dist > PM_COOKIE_DIST_MAX)
		return 1;
	return sweep_add(sw, ef, vaddr,
			 PM_COOKIE(PM_DEALLOC_CHECK_FREED_TYPE, (unsigned long long)loc, 0) |
			     (unsigned long long)dist << 36,
			 0);
}

static void sweep_free(struct sweep *sw)
{
	pr_batch_free(&sw->sb);
	free(sw->vaddrs);
	free(sw->bodies);
	memset(sw, 0, sizeof(*sw));
}

/*
 * A compare's branch stands for the whole destructor behind it. Where that
 * destructor, inlined, ends in one of the specialized frees probed (an int's
 * inlined PyObject_Free), that free of the same object must not count
 * again: both sites are marked (PM_DEALLOC_BY_COMPARE) so that BPF drops
 * it. Only frees reached from a compare's side are marked: the bytecode's
 * own specialized frees of a block that has just been reused stay counted.
 */
#define REACH_BUDGET 256

static int link_compares(struct elf_file *ef, struct sweep *sw)
{
	size_t n = sw->sb.n, nf = 0;
	uint64_t *freed = calloc(n ? n : 1, sizeof(*freed));
	size_t *at = calloc(n ? n : 1, sizeof(*at));
	bool *hit = calloc(n ? n : 1, sizeof(*hit));

	if (!freed || !at || !hit) {
		free(freed);
		free(at);
		free(hit);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (PM_DEALLOC_CHECK(PM_COOKIE_KIND(sw->sb.cookies[i])) ==
		    PM_DEALLOC_CHECK_FREED_TYPE) {
			at[nf] = i;
			freed[nf++] = sw->vaddrs[i];
		}
	for (size_t i = 0; i < n && nf; i++) {
		if (!sw->bodies[i])
			continue;
		memset(hit, 0, nf * sizeof(*hit));
		if (elf_file__reaches(ef, sw->bodies[i], freed, nf, hit, REACH_BUDGET) <= 0)
			continue;
		sw->sb.cookies[i] |= PM_DEALLOC_BY_COMPARE;
		for (size_t k = 0; k < nf; k++)
			if (hit[k])
				sw->sb.cookies[at[k]] |= PM_DEALLOC_BY_COMPARE;
	}
	free(freed);
	free(at);
	free(hit);
	return 0;
}

/*
 * The ints 3.11 and 3.12 free by PyObject_Free in the bytecode loop, where
 * an LTO build inlines PyObject_Free: its calls through the allocator
 * table's free slot (elf_tables.c) inside the loop's parts, checked as the
 * direct calls are. The number of sites batched, or -errno.
 */
static long inlined_int_frees(struct elf_file *ef, const uint64_t (*parts)[2], size_t nparts,
			      struct sweep *sw)
{
	struct elf_slot_site *ss;
	struct elf_fn_slot slot;
	struct elf_func f;
	uint64_t type;
	long n, total = 0;

	if (elf_file__find_func(ef, "PyObject_Free", &f) ||
	    elf_file__find_object(ef, "PyLong_Type", &type) ||
	    elf_file__fn_slot_of(ef, f.vaddr, &slot))
		return 0;
	if (!(ss = calloc(SPECIAL_MAX, sizeof(*ss))))
		return -ENOMEM;
	n = elf_file__fn_slot_sites(ef, &slot, f.vaddr, f.vaddr + (f.size ? f.size : 1), ss,
				    SPECIAL_MAX);
	for (long i = 0; i < n && i < SPECIAL_MAX; i++) {
		long loc = pr_loc_encode(&ss[i].args[0]);
		bool in_loop = false;
		int err;

		for (size_t k = 0; k < nparts; k++)
			in_loop |= ss[i].addr >= parts[k][0] && ss[i].addr < parts[k][1];
		if (!in_loop || loc < 0)
			continue;
		if ((err = sweep_add_freed(sw, ef, ss[i].addr, loc, type)) < 0) {
			free(ss);
			return err;
		}
		total += err == 0;
	}
	free(ss);
	return total;
}

/*
 * The calls through tp_dealloc that profile-guided optimisation turned
 * into a compare with the usual destructor (`if (tp_dealloc == dict_dealloc)
 * dict_dealloc(op) else tp_dealloc(op)`, elf_tables.c), probed on the
 * compare's branch, which every such call takes, and the calls through a
 * register tp_dealloc was loaded into (`mov 0x30(%rax),%rcx; ...; jmp
 * *%rcx`, 3.13t's inlined _Py_Dealloc), both where the type's register is
 * known, to check it. The fallbacks' indirect calls are dropped from
 * sc[0..*n) (the branch stands for them). *by_compare counts the
 * compares. The number of sites batched, or -errno.
 */
static long promoted_dealloc_calls(struct elf_file *ef, uint64_t skip_lo, uint64_t skip_hi,
				   struct elf_slot_call *sc, long *n, struct sweep *sw,
				   long *by_compare)
{
	struct elf_fn_slot ms = {.member = true, .disp = sw->tp_dealloc, .no_ctx = true};
	struct elf_slot_site *ps;
	long np, total = 0, kept = 0;

	if (!(ps = calloc(SWEEP_MAX, sizeof(*ps))))
		return -ENOMEM;
	np = elf_file__fn_slot_sites(ef, &ms, skip_lo, skip_hi, ps, SWEEP_MAX);
	if (np > SWEEP_MAX)
		np = SWEEP_MAX;
	for (long i = 0; i < *n; i++) {
		bool fallback = false;

		for (long k = 0; k < np && !fallback; k++)
			fallback = ps[k].call == sc[i].addr;
		if (!fallback)
			sc[kept++] = sc[i];
	}
	*n = kept;
	for (long i = 0; i < np; i++) {
		long loc = pr_loc_encode(&ps[i].args[0]);
		int reg = ps[i].base_reg >= 0 ? elf_dwarf_reg_to_pm_reg(ps[i].base_reg) : -1,
		    ptr = ps[i].ptr_reg >= 0 ? elf_dwarf_reg_to_pm_reg(ps[i].ptr_reg) : -1;
		/* the type's register, else the function's: a subtype's dealloc
		 * calling its base's (the object's count 0 there too) is not a
		 * second free */
		unsigned long long cookie =
		    reg >= 0 ? PM_COOKIE(PM_DEALLOC_CHECK_TYPE, (unsigned long long)loc,
					 PM_LOC(PM_LOC_REG, reg, 0, 0))
			     : PM_COOKIE(PM_DEALLOC_CHECK_SLOT, (unsigned long long)loc,
					 PM_LOC(PM_LOC_REG, ptr, 0, 0));
		int err;

		if (loc < 0 || (reg < 0 && ptr < 0))
			continue;
		if ((err = sweep_add(sw, ef, ps[i].addr, cookie, ps[i].body)) < 0) {
			free(ps);
			return err;
		}
		total += err == 0;
		*by_compare += err == 0 && ps[i].promoted;
	}
	free(ps);
	return np < 0 ? np : total;
}

/*
 * Floats without _PyFloat_ExactDealloc's symbol (3.11+): its free list's
 * push (elf_file__push_pairs: the float's ob_type set to the list's head,
 * then the head set to the float) is in float_dealloc, which gives the
 * head's offset in the interpreter's state. The destructor is then the
 * loop's callee that pushes its argument there too (*target), and where LTO
 * inlined it into the loop (Debian's build does both), each push in the
 * loop is a site, probed at its first store (the float still whole there).
 * Returns 1 + the number of inlined sites batched, 0 if neither is found,
 * or -errno. A float an inlined copy frees while the list is full goes to
 * PyObject_Free instead, which these sites do not see (a steady loop keeps
 * the list below full).
 */
#define PUSH_MAX 64
/* _PyFloat_ExactDealloc and _PyUnicode_ExactDealloc's code, at most */
#define SMALL_DESTRUCTOR 1024

static long float_frees_by_push(struct elf_file *ef, uint64_t type, const uint64_t (*parts)[2],
				size_t nparts, const uint64_t *callees, long ncallees,
				uint64_t *target, struct sweep *sw)
{
	struct elf_store_pair pp[PUSH_MAX];
	uint64_t dealloc, fparts[8][2];
	long np, n, total = 0;
	int64_t head;

	*target = 0;
	if (elf_file__data_pointer(ef, type + (uint64_t)sw->tp_dealloc, &dealloc) ||
	    (np = elf_file__func_parts(ef, dealloc, fparts, 8)) <= 0)
		return 0;
	n = elf_file__push_pairs(ef, (const uint64_t(*)[2])fparts, (size_t)(np > 8 ? 8 : np),
				 sw->ob_type, INT64_MIN, pp, PUSH_MAX);
	if (n <= 0)
		return n < 0 ? n : 0;
	head = pp[0].disp;
	for (long i = 1; i < n && i < PUSH_MAX; i++)
		if (pp[i].disp != head)
			return 0; /* two lists: which one is not known */
	/* the destructor pushes its own argument (rdi), or, having kept it in a
	 * register its callees save (3.12 calls __tls_get_addr first), is the
	 * smallest callee that pushes: others inline it into more work */
	uint64_t best = 0, small = 0, small_size = 0;

	for (long i = 0; i < ncallees; i++) {
		uint64_t r[1][2];
		bool entry = false, own = false;
		long k;

		if (callees[i] == dealloc ||
		    elf_file__fde_range(ef, callees[i], &r[0][0], &r[0][1], &entry) ||
		    r[0][0] != callees[i] || !entry || r[0][1] - r[0][0] > 4096)
			continue;
		k = elf_file__push_pairs(ef, (const uint64_t(*)[2])r, 1, sw->ob_type, head, pp,
					 PUSH_MAX);
		for (long j = 0; j < k && j < PUSH_MAX; j++)
			own |= pp[j].obj_reg == 5;
		if (own && (!*target || r[0][1] - r[0][0] < best)) {
			*target = callees[i];
			best = r[0][1] - r[0][0];
		}
		if (k > 0 && r[0][1] - r[0][0] <= SMALL_DESTRUCTOR &&
		    (!small || r[0][1] - r[0][0] < small_size)) {
			small = callees[i];
			small_size = r[0][1] - r[0][0];
		}
	}
	if (!*target)
		*target = small;
	/* LTO may do both: call it from some places, inline it in others */
	n = elf_file__push_pairs(ef, parts, nparts, sw->ob_type, head, pp, PUSH_MAX);
	for (long i = 0; i < n && i < PUSH_MAX; i++) {
		int reg = elf_dwarf_reg_to_pm_reg(pp[i].obj_reg), err;

		if (reg < 0)
			continue;
		err = sweep_add_freed(sw, ef, pp[i].addr, PM_LOC(PM_LOC_REG, reg, 0, 0), type);
		if (err < 0)
			return err;
		total += err == 0;
	}
	return total || *target ? 1 + total : 0;
}

/*
 * _PyUnicode_ExactDealloc without its symbol, where it holds an inlined
 * unicode_dealloc (3.11, 3.12): the loop's callee, other than the type's
 * tp_dealloc, whose code names unicode_dealloc's message for a failed
 * removal from the interned dict; of several, the smallest. 0 if none.
 */
static uint64_t unicode_by_string(struct elf_file *ef, uint64_t type, int64_t tp_dealloc,
				  const uint64_t *callees, long ncallees)
{
	uint64_t str[2], found[8], dealloc, best = 0, best_size = 0;
	int ns = elf_file__find_string(ef, "deletion of interned string failed", str, 2);
	int n;

	if (ns != 1 || ncallees <= 0 ||
	    elf_file__data_pointer(ef, type + (uint64_t)tp_dealloc, &dealloc))
		return 0;
	n = elf_file__referrers_from(ef, callees, (int)(ncallees > 4096 ? 4096 : ncallees), 0,
				     str[0], found, 8);
	for (int i = 0; i < n && i < 8; i++) {
		uint64_t lo, hi;

		if (found[i] == dealloc || elf_file__is_exported_func(ef, found[i]) ||
		    elf_file__fde_range(ef, found[i], &lo, &hi, NULL) || hi - lo > SMALL_DESTRUCTOR)
			continue;
		if (!best || hi - lo < best_size) {
			best = found[i];
			best_size = hi - lo;
		}
	}
	return best;
}

/*
 * The specialized frees of the bytecode loop (3.11+): its direct calls to
 * the destructors _Py_DECREF_SPECIALIZED names, each checked in BPF to free
 * an object of its type whose count is 0. Returns how many sites were
 * batched; *missing names the destructors found neither way.
 */
static long special_sites(struct elf_file *ef, struct sweep *sw, char *missing, size_t len)
{
	static const struct {
		const char *name, *type;
		bool by_code; /* may be found through the type's tp_dealloc */
		bool needed;  /* 3.11 and 3.12 use it */
	} fns[] = {
	    {"_PyFloat_ExactDealloc", "PyFloat_Type", true, true},
	    {"_PyUnicode_ExactDealloc", "PyUnicode_Type", true, true},
	    {"_PyLong_ExactDealloc", "PyLong_Type", false, false},
	    /* the ints' destructor in 3.11 and 3.12 */
	    {"PyObject_Free", "PyLong_Type", false, true},
	};
	uint64_t *callees;
	struct elf_func ev, f;
	uint64_t targets[9], pcs[SPECIAL_MAX], type, parts[EVAL_MAX_PARTS][2];
	long total = 0, ncallees, nparts;

	missing[0] = '\0';
	if (elf_file__find_func(ef, "_PyEval_EvalFrameDefault", &ev) || !ev.size) {
		snprintf(missing, len, "_PyEval_EvalFrameDefault");
		return 0;
	}
	if (!(callees = calloc(4096, sizeof(*callees))))
		return -ENOMEM;
	/* the loop and its .cold parts, where an LTO build puts the rarely
	 * taken branches (a count that reaches 0 among them) */
	nparts = elf_file__func_parts(ef, ev.vaddr, parts, EVAL_MAX_PARTS);
	if (nparts <= 0) {
		parts[0][0] = ev.vaddr;
		parts[0][1] = ev.vaddr + ev.size;
		nparts = 1;
	}
	if (nparts > EVAL_MAX_PARTS)
		nparts = EVAL_MAX_PARTS;
	ncallees = elf_file__call_targets_in(ef, (const uint64_t(*)[2])parts, (size_t)nparts,
					     callees, 4096);
	if (ncallees > 4096)
		ncallees = 4096;
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		int nt;
		long n;

		long inl = 0;

		targets[0] = 0;
		if (elf_file__find_object(ef, fns[i].type, &type))
			continue;
		if (elf_file__find_func(ef, fns[i].name, &f) == 0)
			targets[0] = f.vaddr;
		else if (!fns[i].by_code || ncallees <= 0 ||
			 !(targets[0] =
			       destructor_by_code(ef, type, sw->tp_dealloc, callees, ncallees))) {
			/* without a symbol: a str destructor told by its
			 * message or as a copy, a float one by its free list's
			 * push, out of line or inlined into the loop */
			if (!strcmp(fns[i].type, "PyUnicode_Type"))
				targets[0] =
				    unicode_by_string(ef, type, sw->tp_dealloc, callees, ncallees);
			if (!strcmp(fns[i].type, "PyFloat_Type") &&
			    (inl = float_frees_by_push(ef, type, (const uint64_t(*)[2])parts,
						       (size_t)nparts, callees, ncallees, targets,
						       sw)) != 0) {
				if (inl < 0) {
					free(callees);
					return inl;
				}
				total += inl - 1;
				if (!targets[0])
					continue;
			}
		}
		if (!targets[0]) {
			if (fns[i].needed)
				pm_list_add(missing, len, "", "%s", fns[i].name);
			continue;
		}
		nt = elf_file__plt_stubs(ef, targets[0], targets + 1, 8);
		nt = 1 + (nt > 0 ? (nt > 8 ? 8 : nt) : 0);
		n = elf_file__calls_to_in(ef, targets, (size_t)nt, (const uint64_t(*)[2])parts,
					  (size_t)nparts, pcs, SPECIAL_MAX);
		if (n > SPECIAL_MAX)
			n = SPECIAL_MAX;
		for (long k = 0; k < n; k++) {
			int err = sweep_add_freed(sw, ef, pcs[k], PM_LOC_ARG1, type);

			if (err < 0) {
				free(callees);
				return err;
			}
			total += err == 0;
		}
	}
	free(callees);
	if (total >= 0) {
		long n = inlined_int_frees(ef, (const uint64_t(*)[2])parts, (size_t)nparts, sw);

		total = n < 0 ? n : total + n;
	}
	return total;
}

/* One multi link on the batch, or one link per site without them; the
 * number of sites attached. */
static long attach_sites(struct probes *p, const struct target_binary *b, struct site_batch *sb)
{
	long attached = 0;

	if (!sb->n)
		return 0;
	if (pr_attach_batch(p, PROG(p, pm_dealloc_m), b->host_path, sb) == 0)
		return (long)sb->n;
	for (size_t i = 0; i < sb->n; i++)
		attached += pr_attach_uprobe(p, PROG(p, pm_dealloc), b->host_path, sb->offsets[i],
					     sb->cookies[i], false) == 0;
	return attached;
}

/* The sweep; false (with why) when the code cannot be read. */
static bool attach_dealloc_sweep(struct probes *p, struct elf_file *ef,
				 const struct target_binary *b, const char *version,
				 struct probe_coverage *cov, char *why, size_t wlen)
{
	struct site_needs nd = site_needs__args(1, false);
	struct sweep sw = {};
	struct elf_slot_call *sc;
	struct elf_func f;
	uint64_t lo = 0, hi = 0, off;
	long n, special = 0, attached;
	char missing[120] = "";
	int minor = pr_version_minor(version), err;

	if (elf_file__find_func(ef, "_Py_Dealloc", &f)) {
		snprintf(why, wlen, "no _Py_Dealloc");
		return false;
	}
	if (elf_file__fde_range(ef, f.vaddr, &lo, &hi, NULL) || lo != f.vaddr) {
		snprintf(why, wlen, "its code cannot be read (no .eh_frame_hdr entry)");
		return false;
	}
	if (!(sc = calloc(SWEEP_MAX, sizeof(*sc))))
		return false;
	sw.layout = header_layout(ef);
	sw.ob_type = OB_TYPE_OFF + (sw.layout ? FT_HEADER_EXTRA : 0);
	sw.tp_dealloc = TP_DEALLOC_OFF + (sw.layout ? FT_HEADER_EXTRA : 0);
	n = elf_file__slot_calls(ef, (int32_t)sw.tp_dealloc, lo, hi, sc, SWEEP_MAX);
	if (n < 0 || n > SWEEP_MAX) {
		snprintf(why, wlen, n < 0 ? "its code cannot be read: %s" : "too many sites (%s)",
			 n < 0 ? strerror((int)-n) : "over 8192");
		free(sc);
		return false;
	}
	long by_compare = 0,
	     promoted = promoted_dealloc_calls(ef, lo, hi, sc, &n, &sw, &by_compare);

	if (promoted < 0) {
		snprintf(why, wlen, "its code cannot be read: %s", strerror((int)-promoted));
		free(sc);
		sweep_free(&sw);
		return false;
	}
	for (long i = 0; i < n; i++) {
		int reg = elf_dwarf_reg_to_pm_reg(sc[i].dwarf_reg);

		if (reg < 0)
			continue;
		if (sweep_add(&sw, ef, sc[i].addr,
			      PM_COOKIE(PM_DEALLOC_CHECK_TYPE, PM_LOC_ARG1,
					PM_LOC(PM_LOC_REG, reg, 0, 0)),
			      0) < 0) {
			free(sc);
			sweep_free(&sw);
			return false;
		}
	}
	free(sc);
	if (minor >= 11 && (special = special_sites(ef, &sw, missing, sizeof(missing))) < 0) {
		snprintf(missing, sizeof(missing), "(out of memory)");
		special = 0;
	}
	if (link_compares(ef, &sw))
		snprintf(missing, sizeof(missing), "(out of memory)");
	attached = attach_sites(p, b, &sw.sb);
	long wanted = (long)sw.sb.n;
	unsigned long long layout = sw.layout;

	sweep_free(&sw);
	off = pr_choose_site(p, b->host_path, &f, &nd, cov, PM_SOURCE_DEALLOC);
	err = pr_attach_uprobe(p, PROG(p, pm_dealloc), b->host_path, off,
			       PM_COOKIE(0, PM_LOC_ARG1, 0) | layout, false);
	if (err || attached < wanted)
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
			   "_Py_Dealloc%s and %ld of %ld calls through tp_dealloc or to a "
			   "destructor in %s",
			   err ? " not attached" : "", attached, wanted, b->path);
	else if (minor >= 11 && missing[0])
		pr_set_cov(
		    cov, PM_SOURCE_DEALLOC, PM_SRC_PARTIAL,
		    "_Py_Dealloc, %ld calls through tp_dealloc (%ld by compare) and %ld "
		    "specialized frees in %s; the bytecode loop's specialized frees through %s "
		    "are not seen (no symbol, and not found through the type's tp_dealloc: "
		    "inlined, or split off)",
		    n + promoted, by_compare, special, b->path, missing);
	else
		pr_set_cov(cov, PM_SOURCE_DEALLOC, PM_SRC_FULL,
			   "_Py_Dealloc, %ld calls through tp_dealloc (%ld by compare) and %ld "
			   "specialized frees in %s",
			   n + promoted, by_compare, special, b->path);
	return true;
}

void pr_attach_dealloc(struct probes *p, struct elf_file *ef, const struct target_binary *b,
		       const char *version, struct dwarf_info *di, struct probe_coverage *cov)
{
	int inlined = pr_allocator_inlined(ef);
	char why[160] = "";

	/* the sweep first, also where debug info locates an LTO build's
	 * inlined copies of _Py_Dealloc: those miss the bytecode loop's own
	 * frees and the collector's (its tp_clear and subtype_dealloc paths
	 * reach the destructors through copies DWARF keeps no location for:
	 * 0 of 10,000 cyclic objects on Debian's 3.11, all of them through
	 * tp_dealloc's calls; test_dealloc.py) */
	if (p->dealloc_sweep && attach_dealloc_sweep(p, ef, b, version, cov, why, sizeof(why)))
		return;
	if (inlined == 1 && attach_dealloc_dwarf(p, ef, b, di, cov))
		return;
	if (!p->dealloc_sweep)
		snprintf(why, sizeof(why), "PYMAC_DEALLOC_SITES=entry");
	attach_dealloc_fallback(p, ef, b, version, inlined, di, why, cov);
}
