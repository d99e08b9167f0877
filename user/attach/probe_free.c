// SPDX-License-Identifier: MIT
/*
 * PyObject_Free probed inside the function its allocator table holds
 * (probes_impl.h; bpf/alloc.bpf.c: pm_free_target, pm_free_mark;
 * docs/design.md, "Frees through the allocator table").
 *
 * PyObject_Free is `mov %rdi,%rsi; mov _PyObject(%rip),%rdi; jmp
 * *_PyObject+32(%rip)`: no instruction the kernel emulates, so a probe there
 * is single-stepped. The function the slot holds from the start
 * (_PyObject_Free(ctx, p) in 3.8-3.11) opens with `test %rsi,%rsi; je`, and
 * the je is emulated. Probing there also sees the frees that reach it
 * another way, which are not PyObject_Free calls: every wrapper whose table
 * holds the same function (PyMem_Free), and every direct call or jump to it
 * (realloc moving a block). Each of those gets a probe that marks the
 * pointer, and the free that follows on the thread is not reported.
 */
#include "attach/probes_impl.h"
#include "attach/sites.h"
#include "util/words.h"

#define FREE_MARKS_MAX 256

/* PYTHONMALLOC values that keep pymalloc's free in the tables, unwrapped:
 * malloc puts libc's there (then the table's function never runs), and the
 * debug hooks (debug, *_debug) free the block below the caller's pointer. */
static bool keeps_pymalloc(const char *v)
{
	static const char *const keep[] = {"", "default", "pymalloc"};

	if (!v)
		return true;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (!strcmp(v, keep[i]))
			return true;
	return false;
}

/* Whether /proc/PID/what (NUL-separated strings as the process started)
 * holds an entry starting with key (the rest into buf), or, with prev, the
 * entry key right after the entry prev. */
static bool proc_strings_have(pid_t pid, const char *what, const char *prev, const char *key,
			      char *buf, size_t len)
{
	char path[64], text[65536];
	size_t n, klen = strlen(key);
	const char *last = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	if (!(f = fopen(path, "re")))
		return false;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (size_t i = 0; i < n; last = text + i, i += strlen(text + i) + 1)
		if (prev ? !strcmp(last, prev) && !strcmp(text + i, key)
			 : !strncmp(text + i, key, klen)) {
			snprintf(buf, len, "%s", text + i + (prev ? 0 : klen));
			return true;
		}
	return false;
}

/* Why the process (pid, else the command pymac starts with its environment)
 * frees through a wrapped or replaced table, or NULL: PYTHONMALLOC, and the
 * development mode, which installs the debug hooks (PYTHONDEVMODE, -X dev). */
static const char *table_wrapped(pid_t pid, char *buf, size_t len)
{
	const char *v = getenv("PYTHONMALLOC"), *dev = getenv("PYTHONDEVMODE");
	char got[64];

	if (!keeps_pymalloc(v)) {
		snprintf(buf, len, "PYTHONMALLOC=%s", v);
		return buf;
	}
	if (dev && *dev)
		return "PYTHONDEVMODE (debug hooks)";
	/* the command pymac starts is attached before it runs: its arguments
	 * are pymac's own, after "--" */
	if (pid <= 0)
		pid = getpid();
	else if (proc_strings_have(pid, "environ", NULL, "PYTHONMALLOC=", got, sizeof(got)) &&
		 !keeps_pymalloc(got)) {
		snprintf(buf, len, "PYTHONMALLOC=%s", got);
		return buf;
	}
	if (pid != getpid() &&
	    proc_strings_have(pid, "environ", NULL, "PYTHONDEVMODE=", got, sizeof(got)) && got[0])
		return "PYTHONDEVMODE (debug hooks)";
	if (proc_strings_have(pid, "cmdline", NULL, "-Xdev", got, sizeof(got)) ||
	    proc_strings_have(pid, "cmdline", "-X", "dev", got, sizeof(got)))
		return "-X dev (debug hooks)";
	return NULL;
}

/*
 * The code ranges to decode for the direct calls and jumps to target:
 * the functions holding each rel32 byte pattern that lands on it (pcs), and
 * the neighbours a rel8 jump could come from. -ENOENT when a pattern lies
 * in no function's FDE (it cannot be decoded, so it cannot be ruled out).
 */
static long call_ranges(struct elf_file *ef, const struct elf_func *t, const uint64_t *pcs, long n,
			uint64_t (*ranges)[2], size_t max)
{
	uint64_t end = t->vaddr + (t->size ? t->size : 1);
	size_t nr = 0;

	for (long i = 0; i < n && nr < max; i++)
		if (elf_file__fde_range(ef, pcs[i], &ranges[nr][0], &ranges[nr][1], NULL) == 0)
			nr++;
		else
			return -ENOENT;
	for (uint64_t a = t->vaddr >= 130 ? t->vaddr - 130 : 0; a < end + 130 && nr < max;) {
		uint64_t lo, hi;

		if (elf_file__fde_range(ef, a, &lo, &hi, NULL) || hi <= a) {
			a++;
			continue;
		}
		ranges[nr][0] = lo;
		ranges[nr++][1] = hi;
		a = hi;
	}
	return (long)nr;
}

/* The direct calls and jumps (rel8 or rel32) to t or its PLT stubs: their
 * addresses in pcs. How many, or a negative errno. */
static long direct_calls_to(struct elf_file *ef, const struct elf_func *t, uint64_t *pcs,
			    size_t max)
{
	uint64_t targets[9] = {t->vaddr}, cand[FREE_MARKS_MAX], ranges[FREE_MARKS_MAX + 8][2];
	int ns = elf_file__plt_stubs(ef, t->vaddr, targets + 1, 8);
	size_t nt = 1 + (ns > 0 ? (ns > 8 ? 8 : (size_t)ns) : 0);
	long nc = elf_file__rel32_sources(ef, targets, nt, cand, FREE_MARKS_MAX), nr;

	if (nc < 0 || nc > FREE_MARKS_MAX)
		return nc < 0 ? nc : -E2BIG;
	nr = call_ranges(ef, t, cand, nc, ranges, FREE_MARKS_MAX + 8);
	if (nr < 0)
		return nr;
	return elf_file__calls_to_in(ef, targets, nt, (const uint64_t(*)[2])ranges, (size_t)nr, pcs,
				     max);
}

/* The wrappers whose table may hold the same function as PyObject_Free's. */
static const char *const other_wrappers[] = {"PyMem_Free", "PyMem_RawFree"};

/*
 * Attach the marks of every other way into t: the wrappers whose table
 * holds t (at their chosen site, the pointer in rdi) and the direct calls
 * and jumps to t (at the instruction, the pointer in rsi). Duplicate call
 * addresses (a range decoded twice) are attached once. 0 or -errno, with
 * why set.
 */
static int attach_marks(struct probes *p, struct elf_file *ef, const char *path,
			const struct elf_func *t, struct probe_coverage *cov, int *nmarks,
			char *why, size_t len)
{
	struct site_needs nd = site_needs__args(1, false);
	uint64_t pcs[FREE_MARKS_MAX];
	long n;
	int err;

	*nmarks = 0;
	for (size_t i = 0; i < sizeof(other_wrappers) / sizeof(other_wrappers[0]); i++) {
		struct elf_fn_slot slot;
		struct elf_func w;

		if (elf_file__find_func(ef, other_wrappers[i], &w))
			continue;
		if (elf_file__fn_slot_of(ef, w.vaddr, &slot) || !slot.deflt) {
			snprintf(why, len, "cannot tell which function %s's table holds",
				 other_wrappers[i]);
			return -ENOENT;
		}
		if (slot.deflt != t->vaddr)
			continue;
		err = pr_attach_uprobe(p, PROG(p, pm_free_mark), path,
				       pr_choose_site(p, path, &w, &nd, cov, PM_SOURCE_PYMALLOC),
				       PM_COOKIE(PM_PY_FREE, PM_LOC_ARG1, 0), false);
		if (err) {
			snprintf(why, len, "%s: %s", other_wrappers[i], strerror(-err));
			return err;
		}
		++*nmarks;
	}
	n = direct_calls_to(ef, t, pcs, FREE_MARKS_MAX);
	if (n < 0 || n > FREE_MARKS_MAX) {
		snprintf(why, len, "the calls to %s: %s", t->name,
			 n < 0 ? strerror((int)-n) : "too many");
		return n < 0 ? (int)n : -E2BIG;
	}
	qsort(pcs, (size_t)n, sizeof(pcs[0]), addr_cmp);
	for (long i = 0; i < n; i++) {
		uint64_t off;

		if (i && pcs[i] == pcs[i - 1])
			continue;
		if (elf_file__vaddr_to_offset(ef, pcs[i], &off)) {
			snprintf(why, len, "a call to %s outside the file", t->name);
			return -ENOENT;
		}
		err = pr_attach_uprobe(p, PROG(p, pm_free_mark), path, off,
				       PM_COOKIE(PM_PY_FREE, PM_LOC_ARG2, 0), false);
		if (err) {
			snprintf(why, len, "a call to %s: %s", t->name, strerror(-err));
			return err;
		}
		++*nmarks;
	}
	return 0;
}

int pr_attach_free_via_table(struct probes *p, struct elf_file *ef, const char *path,
			     struct probe_coverage *cov, char *why, size_t len)
{
	struct site_needs nd = site_needs__args(2, false);
	struct elf_fn_slot slot;
	struct elf_func f, t;
	struct site_choice sc;
	char buf[96];
	const char *wrapped = table_wrapped(p->cur_pid, buf, sizeof(buf));
	uint64_t off, dbg;
	bool sized;
	int nmarks, err;

	why[0] = '\0';
	if (wrapped) {
		snprintf(why, len, "%s", wrapped);
		return -ENOTSUP;
	}
	/* a debug build (--with-pydebug) has the debug hooks on by default */
	if (elf_file__find_func(ef, "_Py_NegativeRefcount", &f) == 0 ||
	    elf_file__find_object(ef, "_Py_RefTotal", &dbg) == 0) {
		snprintf(why, len, "a debug build (its allocator has the debug hooks)");
		return -ENOTSUP;
	}
	if (elf_file__find_func(ef, "PyObject_Free", &f) ||
	    elf_file__fn_slot_of(ef, f.vaddr, &slot) || !slot.deflt || slot.member ||
	    elf_file__func_at(ef, slot.deflt, &t)) {
		snprintf(why, len, "PyObject_Free's table holds no function pymac knows");
		return -ENOENT;
	}
	/* its pointer is its second argument; only an emulated site pays */
	if (sites__choose_file(path, t.vaddr, t.size, t.offset, &nd, &sc) ||
	    sc.cost != SITE_EMULATED) {
		snprintf(why, len, "no emulated instruction in %s before it reads its pointer",
			 t.name);
		return -ENOENT;
	}
	err = attach_marks(p, ef, path, &t, cov, &nmarks, why, len);
	if (err)
		return err;
	off = pr_choose_site(p, path, &t, &nd, cov, PM_SOURCE_PYMALLOC);
	uint64_t cookie = pr_pool_cookie(PM_PY_FREE, PM_LOC_ARG2, 0, p->cur_pool_slot,
					 p->cur_arenas, t.vaddr + (off - t.offset), &sized);
	err = pr_attach_uprobe(p, PROG(p, pm_free_target), path, off, cookie, false);
	if (err) {
		snprintf(why, len, "%s: %s", t.name, strerror(-err));
		return err;
	}
	if (getenv("PYMAC_DEBUG"))
		fprintf(stderr, "pymac: frees at %s+%" PRIu64 " (%s), %d other ways in marked\n",
			t.name, off - t.offset, sc.insn, nmarks);
	return 0;
}
