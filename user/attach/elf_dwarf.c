// SPDX-License-Identifier: MIT
/* DWARF: where a parameter lives at an entry, separate debug files, and the
 * inlined sites of the functions pymac probes (elf_impl.h). */
#include "attach/elf_impl.h"

static bool die_starts_at(Dwarf_Die *die, uint64_t entry)
{
	Dwarf_Addr lo, base, start, end;
	ptrdiff_t off = 0;
	int guard = 0;

	if (dwarf_lowpc(die, &lo) == 0 && lo == entry)
		return true;
	if (dwarf_entrypc(die, &lo) == 0 && lo == entry)
		return true;
	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0 && guard++ < 1024) {
		if (start == entry)
			return true;
	}
	return false;
}

static bool find_subprogram(Dwarf_Die *parent, uint64_t entry, Dwarf_Die *out, int depth)
{
	Dwarf_Die child;

	if (depth > DIE_MAX_DEPTH || dwarf_child(parent, &child) != 0)
		return false;
	do {
		int tag = dwarf_tag(&child);

		if (tag == DW_TAG_subprogram && die_starts_at(&child, entry)) {
			*out = child;
			return true;
		}
		/* Only tags that can hold out-of-line function definitions
		 * (nested functions, C++ scopes); inlined instances are not
		 * entry points and types are large. */
		switch (tag) {
		case DW_TAG_subprogram:
		case DW_TAG_lexical_block:
		case DW_TAG_namespace:
		case DW_TAG_module:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
			if (dwarf_haschildren(&child) > 0 &&
			    find_subprogram(&child, entry, out, depth + 1))
				return true;
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

static bool find_cu(Dwarf *dw, uint64_t entry, Dwarf_Die *cu)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	if (dwarf_addrdie(dw, entry, cu))
		return true;
	/* No (or incomplete) .debug_aranges: ask each CU. */
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		if (dwarf_offdie(dw, off + hsize, cu) && dwarf_haspc(cu, entry) > 0)
			return true;
		if (next <= off)
			break;
		off = next;
	}
	return false;
}

/* A location expression that is a constant rather than a place:
 * DW_OP_lit<n> / DW_OP_const* followed by DW_OP_stack_value. */
static bool ops_constant(const Dwarf_Op *ops, size_t nops, int64_t *value)
{
	if (nops != 2 || ops[1].atom != DW_OP_stack_value)
		return false;
	if (ops[0].atom >= DW_OP_lit0 && ops[0].atom <= DW_OP_lit31) {
		*value = ops[0].atom - DW_OP_lit0;
		return true;
	}
	switch (ops[0].atom) {
	case DW_OP_const1u:
	case DW_OP_const2u:
	case DW_OP_const4u:
	case DW_OP_const8u:
	case DW_OP_constu:
	case DW_OP_const1s:
	case DW_OP_const2s:
	case DW_OP_const4s:
	case DW_OP_const8s:
	case DW_OP_consts:
		*value = (int64_t)ops[0].number;
		return true;
	default:
		return false;
	}
}

static int param_loc(Dwarf_Die *fn, uint64_t entry, const char *param, struct elf_param_loc *out)
{
	Dwarf_Die child;

	if (dwarf_child(fn, &child) != 0)
		return -ENOENT;
	do {
		Dwarf_Attribute attr, *a;
		const char *name;
		Dwarf_Sword sval;
		Dwarf_Op *ops;
		size_t nops;
		int n;

		if (dwarf_tag(&child) != DW_TAG_formal_parameter)
			continue;
		/* Concrete instances of clones name their parameters only
		 * through DW_AT_abstract_origin; _integrate follows it. */
		a = dwarf_attr_integrate(&child, DW_AT_name, &attr);
		name = a ? dwarf_formstring(a) : NULL;
		if (!name || strcmp(name, param) != 0)
			continue;
		memset(out, 0, sizeof(*out));
		out->dwarf_reg = -1;
		/* A .constprop clone keeps the propagated parameter as a DIE
		 * with its value instead of a location. */
		if (dwarf_attr(&child, DW_AT_const_value, &attr)) {
			if (dwarf_formsdata(&attr, &sval) != 0)
				return -EOPNOTSUPP;
			out->is_const = true;
			out->value = sval;
			return 0;
		}
		/* The location belongs to the concrete DIE itself: an
		 * abstract one has none, and inheriting one would be wrong. */
		if (!dwarf_attr(&child, DW_AT_location, &attr))
			return -EOPNOTSUPP;
		n = dwarf_getlocation_addr(&attr, entry, &ops, &nops, 1);
		if (n != 1 || nops == 0)
			return -EOPNOTSUPP;
		if (ops_constant(ops, nops, &out->value)) {
			out->is_const = true;
			return 0;
		}
		if (nops != 1)
			return -EOPNOTSUPP;
		if (ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg31) {
			out->dwarf_reg = ops[0].atom - DW_OP_reg0;
			return 0;
		}
		if (ops[0].atom == DW_OP_regx && ops[0].number <= 127) {
			out->dwarf_reg = (int)ops[0].number;
			return 0;
		}
		return -EOPNOTSUPP;
	} while (dwarf_siblingof(&child, &child) == 0);
	return -ENOENT;
}

int elf_file__dwarf_param_loc(const struct elf_file *ef, uint64_t entry_vaddr, const char *param,
			      struct elf_param_loc *out)
{
	Dwarf_Die cu, fn;
	Dwarf *dw;
	int ret = -ENOENT;

	if (!param || !*param || !out)
		return -EINVAL;
	dw = dwarf_begin_elf(ef->elf, DWARF_C_READ, NULL);
	if (!dw)
		return -ENOENT;
	if (find_cu(dw, entry_vaddr, &cu) && find_subprogram(&cu, entry_vaddr, &fn, 0))
		ret = param_loc(&fn, entry_vaddr, param, out);
	dwarf_end(dw);
	return ret;
}

int elf_file__dwarf_param_reg(const struct elf_file *ef, uint64_t entry_vaddr, const char *param)
{
	struct elf_param_loc loc;
	int err = elf_file__dwarf_param_loc(ef, entry_vaddr, param, &loc);

	if (err)
		return err;
	return loc.is_const ? -EOPNOTSUPP : loc.dwarf_reg;
}

int elf_dwarf_param_reg_at_entry(const char *path, uint64_t entry_vaddr, const char *param)
{
	struct elf_file *ef = elf_file__open(path);
	int ret;

	if (!ef)
		return -errno;
	ret = elf_file__dwarf_param_reg(ef, entry_vaddr, param);
	elf_file__close(ef);
	return ret;
}

int elf_dwarf_reg_to_pm_reg(int dwarf_reg)
{
	/* DWARF x86-64 numbering (System V psABI, figure 3.36). */
	static const int map[16] = {
	    [0] = PM_REG_AX,   [1] = PM_REG_DX,	  [2] = PM_REG_CX,   [3] = PM_REG_BX,
	    [4] = PM_REG_SI,   [5] = PM_REG_DI,	  [6] = PM_REG_BP,   [7] = -1, /* rsp */
	    [8] = PM_REG_R8,   [9] = PM_REG_R9,	  [10] = PM_REG_R10, [11] = PM_REG_R11,
	    [12] = PM_REG_R12, [13] = PM_REG_R13, [14] = PM_REG_R14, [15] = PM_REG_R15,
	};

	if (dwarf_reg < 0 || dwarf_reg > 15)
		return -1;
	return map[dwarf_reg];
}

/* ---- separate debug files and inline-aware sites ---- */

int elf_file__debuglink(const struct elf_file *ef, char *name, size_t len, uint32_t *crc)
{
	const unsigned char *p;
	GElf_Shdr sh;
	Elf_Scn *scn;
	size_t size, n;

	scn = elfi_find_scn_by_name(ef, ".gnu_debuglink", &sh);
	if (!scn || !(p = elfi_scn_bytes(scn, &sh, &size)))
		return -ENOENT;
	/* name, NUL, padding to 4, CRC-32 in the file's byte order */
	n = strnlen((const char *)p, size);
	if (n == 0 || n == size || n >= len || (n + 4) / 4 * 4 + 4 > size)
		return -ENOENT;
	memcpy(name, p, n);
	name[n] = '\0';
	if (strchr(name, '/'))
		return -ENOENT; /* a name, never a path: it is joined to directories */
	*crc = elfi_rd32(ef, p + (n + 4) / 4 * 4);
	return 0;
}

bool elf_file__has_dwarf(const struct elf_file *ef)
{
	GElf_Shdr sh;
	Elf_Scn *scn = elfi_find_scn_by_name(ef, ".debug_info", &sh);

	return scn && sh.sh_type == SHT_PROGBITS && sh.sh_size > 0;
}

/* Inline nesting adds to lexical block nesting; real trees stay well below. */
#define SITE_MAX_DEPTH 96
#define SITE_MAX       200000

struct site_walk {
	const struct elf_site_query *q;
	size_t nq;
	Dwarf_CFI *cfi;
	struct elf_site *sites;
	size_t n, cap;
	int err;
};

static int site_reg_of(const Dwarf_Op *op, int *reg, int64_t *off)
{
	if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
		*reg = op->atom - DW_OP_breg0;
		*off = (int64_t)op->number;
		return 0;
	}
	if (op->atom == DW_OP_bregx && op->number <= 127) {
		*reg = (int)op->number;
		*off = (int64_t)op->number2;
		return 0;
	}
	return -1;
}

/* The CFA at pc as register + offset, from the binary's call frame info. */
static int site_cfa(struct site_walk *w, uint64_t pc, int *reg, int64_t *off)
{
	Dwarf_Frame *frame = NULL;
	Dwarf_Op *ops;
	size_t nops;
	int ret = -1;

	if (!w->cfi || dwarf_cfi_addrframe(w->cfi, pc, &frame) != 0)
		return -1;
	if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && nops == 1)
		ret = site_reg_of(&ops[0], reg, off);
	free(frame);
	return ret;
}

/* Translate the location of one parameter at pc. fn is the concrete
 * out-of-line function that holds the site (its frame base). */
static void site_loc(struct site_walk *w, Dwarf_Die *param, Dwarf_Die *fn, uint64_t pc,
		     struct elf_loc *out, const char **why)
{
	Dwarf_Attribute attr;
	Dwarf_Sword sval;
	Dwarf_Op *ops;
	size_t nops;
	int64_t v;
	int n;

	memset(out, 0, sizeof(*out));
	if (dwarf_attr(param, DW_AT_const_value, &attr)) {
		if (dwarf_formsdata(&attr, &sval) == 0) {
			out->kind = ELF_LOC_CONST;
			out->off = sval;
		} else {
			*why = "constant of an unsupported form";
		}
		return;
	}
	if (!dwarf_attr(param, DW_AT_location, &attr)) {
		*why = "optimized out";
		return;
	}
	n = dwarf_getlocation_addr(&attr, pc, &ops, &nops, 1);
	if (n != 1 || nops == 0) {
		*why = "no location at the entry address";
		return;
	}
	if (ops_constant(ops, nops, &v)) {
		out->kind = ELF_LOC_CONST;
		out->off = v;
		return;
	}
	if (nops == 1 && ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg31) {
		out->kind = ELF_LOC_REG;
		out->dwarf_reg = ops[0].atom - DW_OP_reg0;
		return;
	}
	if (nops == 1 && ops[0].atom == DW_OP_regx && ops[0].number <= 127) {
		out->kind = ELF_LOC_REG;
		out->dwarf_reg = (int)ops[0].number;
		return;
	}
	if (nops == 1 && site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0) {
		out->kind = ELF_LOC_MEM;
		return;
	}
	if (nops == 2 && ops[1].atom == DW_OP_stack_value &&
	    site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0) {
		out->kind = ELF_LOC_REG_OFF;
		return;
	}
	if (nops == 3 && ops[1].atom == DW_OP_plus_uconst && ops[2].atom == DW_OP_stack_value &&
	    ops[1].number < (1u << 30) && site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0) {
		out->kind = ELF_LOC_REG_OFF;
		out->off += (int64_t)ops[1].number;
		return;
	}
	/* a size computed as the sum of two registers (header + items) */
	if (nops == 4 && ops[2].atom == DW_OP_plus && ops[3].atom == DW_OP_stack_value) {
		int64_t o2;

		if (site_reg_of(&ops[0], &out->dwarf_reg, &out->off) == 0 &&
		    site_reg_of(&ops[1], &out->dwarf_reg2, &o2) == 0) {
			out->kind = ELF_LOC_SUM;
			out->off += o2;
			return;
		}
	}
	if (nops == 1 && ops[0].atom == DW_OP_fbreg) {
		Dwarf_Attribute fb;
		Dwarf_Op *fops;
		size_t nf;
		int reg;
		int64_t cfa;

		/* GCC's frame base is the CFA; any other base is not followed. */
		if (!fn || !dwarf_attr(fn, DW_AT_frame_base, &fb) ||
		    dwarf_getlocation(&fb, &fops, &nf) != 0 || nf != 1 ||
		    fops[0].atom != DW_OP_call_frame_cfa) {
			*why = "frame base other than the CFA";
			return;
		}
		if (site_cfa(w, pc, &reg, &cfa)) {
			*why = "no call frame information at the entry address";
			return;
		}
		out->kind = ELF_LOC_MEM;
		out->dwarf_reg = reg;
		out->off = cfa + (int64_t)ops[0].number;
		return;
	}
	switch (ops[0].atom) {
	case DW_OP_entry_value:
	case DW_OP_GNU_entry_value:
		*why = "value at the caller's entry (DW_OP_entry_value)";
		break;
	case DW_OP_implicit_pointer:
	case DW_OP_GNU_implicit_pointer:
		*why = "implicit pointer";
		break;
	case DW_OP_piece:
		*why = "split into pieces";
		break;
	default:
		*why = "DWARF expression BPF does not evaluate";
		break;
	}
}

/* Where an instance's code starts: DW_AT_entry_pc, else DW_AT_low_pc, else
 * the first address range. */
static bool site_entry(Dwarf_Die *die, uint64_t *pc)
{
	Dwarf_Addr a, base, start, end;

	if (dwarf_entrypc(die, &a) == 0 && a) {
		*pc = a;
		return true;
	}
	if (dwarf_lowpc(die, &a) == 0 && a) {
		*pc = a;
		return true;
	}
	if (dwarf_ranges(die, 0, &base, &start, &end) > 0 && start) {
		*pc = start;
		return true;
	}
	return false;
}

static int site_query_index(struct site_walk *w, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	/* _integrate follows DW_AT_abstract_origin/DW_AT_specification, which
	 * is how concrete and inlined instances name themselves. */
	if (!dwarf_attr_integrate(die, DW_AT_name, &attr) || !(name = dwarf_formstring(&attr)))
		return -1;
	for (size_t i = 0; i < w->nq; i++)
		if (strcmp(name, w->q[i].name) == 0)
			return (int)i;
	return -1;
}

static void site_add(struct site_walk *w, Dwarf_Die *die, Dwarf_Die *fn, int qi, bool inlined)
{
	const struct elf_site_query *q = &w->q[qi];
	struct elf_site s = {.func = qi, .inlined = inlined};
	Dwarf_Die child;

	if (!site_entry(die, &s.pc))
		return;
	for (int a = 0; a < ELF_SITE_MAX_ARGS && q->args[a]; a++) {
		bool found = false;

		if (dwarf_child(die, &child) == 0) {
			do {
				Dwarf_Attribute attr;
				const char *name;

				if (dwarf_tag(&child) != DW_TAG_formal_parameter)
					continue;
				if (!dwarf_attr_integrate(&child, DW_AT_name, &attr) ||
				    !(name = dwarf_formstring(&attr)) || strcmp(name, q->args[a]))
					continue;
				found = true;
				site_loc(w, &child, fn, s.pc, &s.args[a], &s.why);
				break;
			} while (dwarf_siblingof(&child, &child) == 0);
		}
		if (!found)
			s.why = "parameter optimized out";
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		void *p;

		if (cap > SITE_MAX) {
			w->err = -E2BIG;
			return;
		}
		p = realloc(w->sites, cap * sizeof(*w->sites));
		if (!p) {
			w->err = -ENOMEM;
			return;
		}
		w->sites = p;
		w->cap = cap;
	}
	w->sites[w->n++] = s;
}

static bool die_has_code(Dwarf_Die *die)
{
	Dwarf_Addr a, base, start, end;

	return dwarf_lowpc(die, &a) == 0 || dwarf_ranges(die, 0, &base, &start, &end) > 0;
}

static void site_walk_die(struct site_walk *w, Dwarf_Die *parent, Dwarf_Die *fn, int depth)
{
	Dwarf_Die child;

	if (depth > SITE_MAX_DEPTH || w->err || dwarf_child(parent, &child) != 0)
		return;
	do {
		Dwarf_Die *inner_fn = fn;
		int tag = dwarf_tag(&child), qi;

		switch (tag) {
		case DW_TAG_subprogram:
			/* abstract instances and declarations have no code */
			if (!die_has_code(&child))
				continue;
			inner_fn = &child;
			qi = site_query_index(w, &child);
			if (qi >= 0)
				site_add(w, &child, &child, qi, false);
			break;
		case DW_TAG_inlined_subroutine:
			qi = site_query_index(w, &child);
			if (qi >= 0)
				site_add(w, &child, fn, qi, true);
			break;
		case DW_TAG_lexical_block:
		case DW_TAG_namespace:
		case DW_TAG_module:
			break;
		default:
			continue; /* types, variables, parameters: no code inside */
		}
		if (dwarf_haschildren(&child) > 0) {
			/* fn points at child, which the next sibling overwrites:
			 * copy it for the subtree */
			Dwarf_Die fn_copy;

			if (inner_fn == &child) {
				fn_copy = child;
				inner_fn = &fn_copy;
			}
			site_walk_die(w, &child, inner_fn, depth + 1);
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

static int site_cmp(const void *a, const void *b)
{
	const struct elf_site *x = a, *y = b;

	if (x->func != y->func)
		return x->func < y->func ? -1 : 1;
	if (x->pc != y->pc)
		return x->pc < y->pc ? -1 : 1;
	return 0;
}

long elf_file__dwarf_sites(const struct elf_file *dbg, const struct elf_file *bin,
			   const struct elf_site_query *q, size_t nq, elf_site_cb cb, void *ctx)
{
	struct site_walk w = {.q = q, .nq = nq};
	Dwarf_Off off = 0, next;
	size_t hsize, n = 0;
	Dwarf *dw;
	long ret;

	if (!dbg || !q || !nq || !cb)
		return -EINVAL;
	dw = dwarf_begin_elf(dbg->elf, DWARF_C_READ, NULL);
	if (!dw)
		return -ENOENT;
	w.cfi = dwarf_getcfi_elf((bin ? bin : dbg)->elf);
	while (!w.err && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;

		if (dwarf_offdie(dw, off + hsize, &cu))
			site_walk_die(&w, &cu, NULL, 0);
		if (next <= off)
			break;
		off = next;
	}
	if (w.cfi)
		dwarf_cfi_end(w.cfi);
	ret = w.err;
	if (!ret && w.n) {
		qsort(w.sites, w.n, sizeof(*w.sites), site_cmp);
		for (size_t i = 0; i < w.n && !ret; i++) {
			if (i && site_cmp(&w.sites[i - 1], &w.sites[i]) == 0)
				continue;
			n++;
			ret = cb(ctx, &w.sites[i]);
		}
	}
	free(w.sites);
	dwarf_end(dw);
	return ret ? ret : (long)n;
}
