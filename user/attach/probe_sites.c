// SPDX-License-Identifier: MIT
/* Probes at the sites the debug info locates (probes_impl.h): inlined copies,
 * their argument locations, and the uprobe_multi links that hold them. */
#include "attach/probes_impl.h"
#include "util/grow.h"
#include "util/words.h"

/* ---- sites from debug info ---- */

static const enum pm_kind dwarf_kinds[DF_COUNT] = {
    [DF_MALLOC] = PM_PY_MALLOC, [DF_CALLOC] = PM_PY_CALLOC,   [DF_REALLOC] = PM_PY_REALLOC,
    [DF_FREE] = PM_PY_FREE,	[DF_DEALLOC] = PM_PY_DEALLOC,
};

/*
 * pymalloc's `arenas` and `maxarenas` (static in Objects/obmalloc.c through
 * 3.11; 3.12 moved them into the interpreter's state), from the symbols of
 * the binary or of its debug file.
 */
void pr_pool_vars__find(struct pool_vars *pv, const struct elf_file *ef, const struct elf_file *dbg)
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
		snprintf(pv->why, sizeof(pv->why), "no symbol of pymalloc's arenas");
}

static int collect_site(void *ctx, const struct elf_site *site)
{
	struct dwarf_info *di = ctx;

	if (di->n == di->cap) {
		void *n = PM_GROW(di->sites, &di->cap, di->n + 1, 256);

		if (!n)
			return -ENOMEM;
		di->sites = n;
	}
	di->sites[di->n++] = *site;
	return 0;
}

/* Read the sites of binary b (open as ef) from its own DWARF or its
 * separate debug file. */
void pr_dwarf_info__load(struct dwarf_info *di, struct elf_file *ef, const struct target_binary *b)
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
	pr_pool_vars__find(&di->pool, ef, dbg);
	if (n < 0) {
		char how[sizeof(di->how)];

		snprintf(how, sizeof(how), "%s", di->how);
		pm_fmt_words(di->how, sizeof(di->how), "%s (unreadable: %s)", how,
			     strerror((int)-n));
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

bool pr_dwarf_info__has(const struct dwarf_info *di, enum dwarf_fn fn)
{
	for (size_t i = 0; i < di->n; i++)
		if (di->sites[i].func == (int)fn)
			return true;
	return false;
}

void pr_dwarf_info__free(struct dwarf_info *di)
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
long pr_loc_encode(const struct elf_loc *l)
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

static void tally_note(struct site_tally *t, const char *fn, uint64_t pc, const char *why)
{
	pm_list_add(t->notes, sizeof(t->notes), "", "%s at %#" PRIx64 " (%s)", fn, pc, why);
}

int pr_batch_add(struct site_batch *sb, uint64_t off, uint64_t cookie, const struct elf_site *s)
{
	if (sb->n == sb->cap) {
		size_t cap = sb->cap, cap2 = sb->cap; /* of all three: set by the last */
		void *a = PM_GROW(sb->offsets, &cap, sb->n + 1, 64);

		if (!a)
			return -ENOMEM;
		sb->offsets = a;
		if (!(a = PM_GROW(sb->cookies, &cap2, sb->n + 1, 64)))
			return -ENOMEM;
		sb->cookies = a;
		if (!(a = PM_GROW(sb->sites, &sb->cap, sb->n + 1, 64)))
			return -ENOMEM;
		sb->sites = a;
	}
	sb->offsets[sb->n] = off;
	sb->cookies[sb->n] = cookie;
	sb->sites[sb->n++] = s;
	return 0;
}

void pr_batch_free(struct site_batch *sb)
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
int pr_multi_fd(struct bpf_program *prog, const char *path, const uint64_t *offsets,
		const uint64_t *cookies, size_t cnt, pid_t pid, bool retprobe)
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
	attr.um.um_flags = retprobe ? PM_UPROBE_MULTI_RETURN : 0;
	/* as for single links: only this process's memory is armed */
	attr.um.pid = pid > 0 ? (uint32_t)pid : 0;
	fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr.um));
	return fd < 0 ? -errno : fd;
}

/* One uprobe_multi link on cnt sites (uretprobes if retprobe). 0 or -errno. */
int pr_multi_link(struct probes *p, struct bpf_program *prog, const char *path,
		  const uint64_t *offsets, const uint64_t *cookies, size_t cnt, bool retprobe)
{
	int fd;

	if (p->dry)
		return 0;
	if (!p->multi || !prog)
		return -EOPNOTSUPP;
	if (pr_deferred(p, prog))
		return 0;
	if (p->nmfds == p->capmfds) {
		void *n = PM_GROW(p->mfds, &p->capmfds, p->nmfds + 1, 8);

		if (!n)
			return -ENOMEM;
		p->mfds = n;
	}
	fd = pr_multi_fd(prog, path, offsets, cookies, cnt, p->cur_pid, retprobe);
	if (fd < 0)
		return fd;
	p->mfds[p->nmfds++] = fd;
	p->msites += cnt;
	return 0;
}

/* One uprobe_multi link on every site of the batch. 0 or -errno. */
int pr_attach_batch(struct probes *p, struct bpf_program *prog, const char *path,
		    const struct site_batch *sb)
{
	struct plan_step want = {
	    .prog = prog, .moffs = sb->offsets, .mcookies = sb->cookies, .mcnt = sb->n};

	return pr_attach_step(p, path, &want);
}

/*
 * The pm_pools slot (1..15) of a build's pymalloc layout, made on first use;
 * 0 when the build's layout is unknown or the slots are used up. The layout
 * is 3.8-3.11's on x86-64 (struct pool_header: arenaindex at 32, szidx at
 * 36; struct arena_object: 48 bytes, address first; 16-byte alignment),
 * with 16 KiB pools when the radix tree is built in (USE_LARGE_POOLS), else
 * 4 KiB, in 1 MiB arenas from 3.10 on (USE_LARGE_ARENAS), else 256 KiB.
 */
int pr_pool_slot(struct probes *p, const struct pool_vars *pv)
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

/*
 * Where site s is probed: its arguments' locations (loc), its file offset
 * and address, moved to the cheapest instruction that still sees the
 * arguments as at the copy's entry (sites.h) when sf is there. 0, or -1
 * with the site tallied as not probed.
 */
static int site_place(struct elf_file *ef, const struct site_file *sf, const struct elf_site *s,
		      long loc[ELF_SITE_MAX_ARGS], uint64_t *off, uint64_t *pc,
		      struct site_tally *t)
{
	const struct elf_site_query *q = &dwarf_queries[s->func];
	enum pm_kind kind = dwarf_kinds[s->func];

	for (int a = 0; a < ELF_SITE_MAX_ARGS && q->args[a]; a++)
		if ((loc[a] = pr_loc_encode(&s->args[a])) < 0)
			break;
	if (loc[0] < 0 || loc[1] < 0) {
		t->unlocated++;
		tally_note(t, q->name, s->pc,
			   s->why ? s->why : "argument out of the encodable range");
		return -1;
	}
	if (elf_file__vaddr_to_offset(ef, s->pc, off)) {
		t->failed++;
		tally_note(t, q->name, s->pc, "address outside the file");
		return -1;
	}
	*pc = s->pc;
	if (sf) {
		struct site_needs nd = loc_needs(
		    q, loc, !s->inlined && !pm_kind_is_free(kind) && kind != PM_PY_DEALLOC);
		struct site_choice sc;

		if (site_file__choose(sf, s->pc, *off, &nd, &sc) == 0) {
			*pc += sc.delta;
			*off = sc.offset;
			t->emulated += sc.cost == SITE_EMULATED;
		}
	}
	return 0;
}

/* A site of a function's out-of-line copy, which is entered (and, for an
 * allocation, returns: its block's address is known). 0 or -errno. */
static int attach_outline_site(struct probes *p, const char *path, enum pm_kind kind, uint64_t off,
			       uint64_t cookie)
{
	if (kind == PM_PY_DEALLOC)
		return pr_attach_uprobe(p, PROG(p, pm_dealloc), path, off, cookie, false);
	return pr_attach_alloc_probes(p, path, kind, off, cookie);
}

/* The inlined sites gathered for each program (alloc, free, dealloc): one
 * uprobe_multi link each, else one link per site. The batches are freed. */
static void attach_batches(struct probes *p, const char *path, struct site_batch batch[3],
			   struct site_tally *t)
{
	struct bpf_program *multi_prog[3] = {PROG(p, pm_alloc_site_m), PROG(p, pm_free_m),
					     PROG(p, pm_dealloc_m)};
	struct bpf_program *one_prog[3] = {PROG(p, pm_alloc_site), PROG(p, pm_free_enter),
					   PROG(p, pm_dealloc)};

	for (int bi = 0; bi < 3; bi++) {
		struct site_batch *sb = &batch[bi];
		int err;

		if (!sb->n)
			continue;
		err = pr_attach_batch(p, multi_prog[bi], path, sb);
		for (size_t i = 0; i < sb->n; i++) {
			const struct elf_site *s = sb->sites[i];
			/* without a multi link: one link per site */
			int e = err ? pr_attach_uprobe(p, one_prog[bi], path, sb->offsets[i],
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
		pr_batch_free(sb);
	}
}

/* Attach every site of the functions in [from, to] of dwarf_fn. */
void pr_attach_dwarf_sites(struct probes *p, struct elf_file *ef, const struct target_binary *b,
			   struct dwarf_info *di, int from, int to, struct site_tally *t)
{
	int slot = from <= DF_FREE && to >= DF_REALLOC && p->pool_sizes != POOL_SIZES_OFF
		       ? pr_pool_slot(p, &di->pool)
		       : 0;
	/* alloc, free, dealloc: the inlined sites of each program */
	struct site_batch batch[3] = {};
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
		enum pm_kind kind = dwarf_kinds[s->func];
		long loc[ELF_SITE_MAX_ARGS] = {0, 0};
		uint64_t off, pc, cookie;
		bool sized;
		int err;

		if (s->func < from || s->func > to)
			continue;
		t->sites++;
		if (site_place(ef, sf, s, loc, &off, &pc, t))
			continue;
		cookie = pr_pool_cookie(kind, loc[0], loc[1], slot, di->pool.arenas, pc, &sized);
		t->sized += sized;
		if (s->inlined) {
			int bi = kind == PM_PY_DEALLOC ? 2 : pm_kind_is_free(kind) ? 1 : 0;

			if (pr_batch_add(&batch[bi], off, cookie, s) == 0)
				continue;
			err = -ENOMEM;
		} else {
			err = attach_outline_site(p, b->host_path, kind, off, cookie);
		}
		if (err) {
			t->failed++;
			tally_note(t, dwarf_queries[s->func].name, s->pc, strerror(-err));
			continue;
		}
		t->attached++;
		t->per_fn[s->func]++;
	}
	attach_batches(p, b->host_path, batch, t);
}

/*
 * Was the allocator inlined into the interpreter's own code? PyUnicode_New
 * lives in another source file than PyObject_Malloc, so without link-time
 * optimisation it must call PyObject_Malloc (directly or through the PLT).
 * An LTO build (Debian's, the official images) inlines it, and then probes
 * on the exported functions see only calls from outside the interpreter.
 * 1: inlined, 0: called, -1: cannot tell.
 */
