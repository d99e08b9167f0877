// SPDX-License-Identifier: MIT
/*
 * Calls through a table of function pointers, found in the machine code
 * (elf_inspect.h: elf_fn_slot). CPython's PyObject_Malloc is
 * `_PyObject.malloc(_PyObject.ctx, size)`, with `_PyObject` a table that
 * PyMem_SetAllocator can replace. An LTO build inlines PyObject_Malloc into
 * hundreds of callers and, with profile-guided optimisation, turns each
 * call into "load the pointer; if it is the default _PyObject_Malloc, run
 * its body inlined, else call it":
 *
 *	mov    _PyObject+8(%rip),%rax
 *	mov    %rbx,%rsi
 *	cmp    $_PyObject_Malloc,%rax      (or lea ...,%rdx; cmp %rdx,%rax)
 *	jne    fallback                    <- the site: every call passes here
 *	...    inlined body
 *   fallback:
 *	mov    _PyObject(%rip),%rdi
 *	call   *%rax                       size in %rsi
 *
 * No symbol is needed: the exported wrapper says which slot it reads and
 * which default it compares with, and the fallback path's call says where
 * the arguments are at the branch (the path is followed, with the register
 * copies it makes, back to the registers, constants or stack slots they
 * came from). The slot is named rip-relative (a static table), by absolute
 * address (a position-dependent python), or as an offset from a base that a
 * GOT entry holds (3.12+ keep the tables in the exported _PyRuntime).
 */
#include "attach/elf_impl.h"
#include "attach/sites.h"
#include "util/grow.h"

/* How far a loaded pointer is followed to its compare or call, and how
 * long a fallback path may be. GCC keeps both within a few instructions. */
#define SLOT_TRACK_INSNS    48
#define FALLBACK_MAX_INSNS  40
#define FALLBACK_MAX_JUMPS  4
#define FALLBACK_MAX_CHECKS 2

static int gpr_of(x86_reg r)
{
	return x86_gpr_dwarf(r);
}

#define DW_RDI 5
#define DW_RSI 4
#define DW_RDX 1
#define DW_RSP 7

/* The address a memory operand names without a register: rip-relative or
 * absolute; 0 otherwise. */
static uint64_t mem_addr(const cs_insn *in, const cs_x86_op *op)
{
	if (op->type != X86_OP_MEM || op->mem.index != X86_REG_INVALID ||
	    op->mem.segment != X86_REG_INVALID)
		return 0;
	if (op->mem.base == X86_REG_RIP)
		return in->address + in->size + (uint64_t)op->mem.disp;
	if (op->mem.base == X86_REG_INVALID)
		return (uint64_t)op->mem.disp;
	return 0;
}

static bool is_jump(const cs_insn *in)
{
	for (int g = 0; g < in->detail->groups_count; g++)
		if (in->detail->groups[g] == CS_GRP_JUMP)
			return true;
	return false;
}

static bool ends_flow(const cs_insn *in)
{
	for (int g = 0; g < in->detail->groups_count; g++)
		if (in->detail->groups[g] == CS_GRP_RET || in->detail->groups[g] == CS_GRP_INT ||
		    in->detail->groups[g] == CS_GRP_IRET)
			return true;
	return in->id == X86_INS_UD2 || in->id == X86_INS_HLT;
}

/* The 64-bit registers the instruction writes, as a mask of DWARF numbers. */
static uint32_t written(csh cs, const cs_insn *in)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;
	uint32_t m = 0;

	if (cs_regs_access(cs, in, rd, &nrd, wr, &nwr))
		return 0xffff; /* unknown: assume everything */
	for (int i = 0; i < nwr; i++) {
		int g = gpr_of((x86_reg)wr[i]);

		if (g >= 0)
			m |= 1u << g;
	}
	return m;
}

/* ---- the slot an exported wrapper uses ---- */

struct loaded {
	int kind; /* 0: nothing known, 1: *(m), 2: *(*(m) + d), 3: the constant m */
	uint64_t m;
	int64_t d;
};

static bool slot_from(const struct loaded *l, uint64_t deflt, struct elf_fn_slot *s)
{
	if (l->kind == 1)
		*s = (struct elf_fn_slot){.addr = l->m, .deflt = deflt};
	else if (l->kind == 2)
		*s = (struct elf_fn_slot){.got = l->m, .disp = l->d, .deflt = deflt};
	else
		return false;
	return true;
}

/* What the memory operand op reads, given the registers' contents. */
static struct loaded operand_load(const cs_insn *in, const cs_x86_op *op, const struct loaded *r)
{
	uint64_t a = mem_addr(in, op);
	int b;

	if (a)
		return (struct loaded){.kind = 1, .m = a};
	if (op->type == X86_OP_MEM && op->mem.index == X86_REG_INVALID &&
	    op->mem.segment == X86_REG_INVALID && (b = gpr_of(op->mem.base)) >= 0 && r[b].kind == 1)
		return (struct loaded){.kind = 2, .m = r[b].m, .d = op->mem.disp};
	return (struct loaded){0};
}

static uint64_t slot_default(const struct elf_file *ef, const struct elf_fn_slot *s)
{
	uint64_t base, v;

	if (s->addr)
		return elf_file__data_pointer(ef, s->addr, &v) ? 0 : v;
	if (elf_file__data_pointer(ef, s->got, &base))
		return 0;
	return elf_file__data_pointer(ef, base + (uint64_t)s->disp, &v) ? 0 : v;
}

int elf_file__fn_slot_of(struct elf_file *ef, uint64_t func, struct elf_fn_slot *s)
{
	struct loaded r[16] = {{0}};
	struct code_walk *d;
	uint64_t pc = func, lo, hi;
	int found = -ENOENT;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	if (elf_file__fde_range(ef, func, &lo, &hi, NULL) || lo != func)
		hi = func + 256;
	if (!(d = elfi_walk_new(ef)))
		return -ENOMEM;
	for (int n = 0; n < 64 && pc < hi && found; n++) {
		const cs_insn *in = d->in;
		const cs_x86 *x;
		const cs_x86_op *o0, *o1;
		struct loaded l;
		uint32_t w;
		int a;

		if (!elfi_walk_at(d, pc))
			break;
		pc = in->address + in->size;
		x = &in->detail->x86;
		o0 = &x->operands[0];
		o1 = &x->operands[1];
		if ((in->id == X86_INS_CALL || in->id == X86_INS_JMP) && x->op_count == 1) {
			if (o0->type == X86_OP_REG && (a = gpr_of(o0->reg)) >= 0 &&
			    slot_from(&r[a], 0, s))
				found = 0;
			else if (o0->type == X86_OP_MEM &&
				 slot_from((l = operand_load(in, o0, r), &l), 0, s))
				found = 0;
			if (!found || in->id == X86_INS_JMP)
				break;
		}
		if (ends_flow(in))
			break;
		if (in->id == X86_INS_CMP && x->op_count == 2) {
			/* the loaded pointer against a constant, either way round */
			for (int k = 0; k < 2 && found; k++) {
				const cs_x86_op *p = &x->operands[k], *q = &x->operands[1 - k];
				uint64_t c = 0;

				if (q->type == X86_OP_IMM)
					c = (uint64_t)q->imm;
				else if (q->type == X86_OP_REG && (a = gpr_of(q->reg)) >= 0 &&
					 r[a].kind == 3)
					c = r[a].m;
				if (!c)
					continue;
				if (p->type == X86_OP_REG && (a = gpr_of(p->reg)) >= 0)
					l = r[a];
				else
					l = operand_load(in, p, r);
				if (slot_from(&l, c, s))
					found = 0;
			}
			continue;
		}
		w = written(d->cs, in);
		if (x->op_count == 2 && o0->type == X86_OP_REG && (a = gpr_of(o0->reg)) >= 0) {
			if (in->id == X86_INS_MOV && o1->type == X86_OP_MEM && o0->size == 8) {
				r[a] = operand_load(in, o1, r);
				continue;
			}
			if (in->id == X86_INS_LEA && (l.m = mem_addr(in, o1))) {
				r[a] = (struct loaded){.kind = 3, .m = l.m};
				continue;
			}
			if (in->id == X86_INS_MOV && o1->type == X86_OP_IMM) {
				r[a] = (struct loaded){.kind = 3, .m = (uint64_t)o1->imm};
				continue;
			}
		}
		for (int g = 0; g < 16; g++)
			if (w & (1u << g))
				r[g] = (struct loaded){0};
	}
	elfi_walk_free(d);
	if (!found && !s->deflt)
		s->deflt = slot_default(ef, s);
	return found;
}

/* ---- the calls through a slot ---- */

/* A value at the site, as a fallback path's registers came to hold it. */
struct val {
	enum elf_loc_kind kind; /* ELF_LOC_REG/REG_OFF/MEM/CONST, NONE */
	int reg;
	int64_t off;
	bool slot; /* loaded from the slot on the path */
};

/* What the fallback's call must go through: the pointer compared (in
 * ptr_reg at the branch, or reloaded from the slot, through base_reg for a
 * member). A compare followed by some other call is the program's own test
 * of the pointer (subtype_dealloc's `base->tp_dealloc == subtype_dealloc`),
 * not a call made conditional. */
struct fallback_want {
	const struct elf_fn_slot *s;
	int ptr_reg, base_reg;
};

/* Does the memory operand op, on the path, name the slot? */
static bool path_names_slot(const struct fallback_want *fw, const cs_insn *in, const cs_x86_op *op,
			    const struct val *v)
{
	int b;

	if (op->type != X86_OP_MEM || op->mem.index != X86_REG_INVALID)
		return false;
	if (fw->s->addr)
		return mem_addr(in, op) == fw->s->addr;
	if (op->mem.disp != fw->s->disp || (b = gpr_of(op->mem.base)) < 0)
		return false;
	return !fw->s->member ||
	       (fw->base_reg >= 0 && v[b].kind == ELF_LOC_REG && v[b].reg == fw->base_reg);
}

static const char NOT_A_CALL[] = "no call";

/*
 * Follow the path from start (a compare's not-equal side) to its indirect
 * call, keeping, for each register, where its value was at start. Fills
 * args with where the call's 2nd and 3rd arguments were; *call the call's
 * address. NULL, NOT_A_CALL (the path returns without a call), or why the
 * arguments are not known.
 */
static const char *follow_fallback(struct code_walk *d, uint64_t start,
				   const struct fallback_want *fw, struct elf_loc args[2],
				   uint64_t *call)
{
	bool no_ctx = fw->s->no_ctx;
	struct val v[16];
	uint64_t pc = start;
	int jumps = 0, checks = 0;

	for (int g = 0; g < 16; g++)
		v[g] = (struct val){.kind = ELF_LOC_REG, .reg = g};
	for (int n = 0; n < FALLBACK_MAX_INSNS; n++) {
		const cs_insn *in = d->in;
		const cs_x86 *x;
		const cs_x86_op *o0, *o1;
		int a, b;
		uint32_t w;

		if (!elfi_walk_at(d, pc))
			return "undecodable fallback";
		x = &in->detail->x86;
		o0 = &x->operands[0];
		o1 = &x->operands[1];
		pc = in->address + in->size;
		if ((in->id == X86_INS_CALL || in->id == X86_INS_JMP) && x->op_count == 1 &&
		    o0->type != X86_OP_IMM) {
			const struct val *arg[2] = {&v[no_ctx ? DW_RDI : DW_RSI],
						    &v[no_ctx ? DW_RSI : DW_RDX]};
			int g = o0->type == X86_OP_REG ? gpr_of(o0->reg) : -1;
			bool through =
			    g >= 0 ? v[g].slot || (fw->ptr_reg >= 0 && v[g].kind == ELF_LOC_REG &&
						   v[g].reg == fw->ptr_reg)
				   : path_names_slot(fw, in, o0, v);

			if (!through)
				return NOT_A_CALL;

			for (int k = 0; k < 2; k++) {
				args[k] = (struct elf_loc){.kind = arg[k]->kind,
							   .dwarf_reg = arg[k]->reg,
							   .off = arg[k]->off};
				if (arg[k]->kind == ELF_LOC_NONE && k == 0)
					return "argument computed on the fallback path";
			}
			*call = in->address;
			return NULL;
		}
		if (in->id == X86_INS_JMP && x->op_count == 1 && o0->type == X86_OP_IMM) {
			if (++jumps > FALLBACK_MAX_JUMPS)
				return "fallback too long";
			pc = (uint64_t)o0->imm;
			continue;
		}
		/* a compare that calls nothing (which allocator is installed?) */
		if (ends_flow(in))
			return NOT_A_CALL;
		/* a check on the way (the stack protector's, before a tail
		 * call): the call is on its not-taken side */
		if (is_jump(in) && in->id != X86_INS_JMP && ++checks <= FALLBACK_MAX_CHECKS)
			continue;
		if (is_jump(in) || in->id == X86_INS_CALL)
			return "a branch on the fallback path";
		w = written(d->cs, in);
		if (x->op_count == 2 && o0->type == X86_OP_REG && (a = gpr_of(o0->reg)) >= 0 &&
		    (o0->size == 8 || o0->size == 4)) {
			struct val nv = {.kind = ELF_LOC_NONE};

			if (in->id == X86_INS_MOV && o1->type == X86_OP_REG &&
			    (b = gpr_of(o1->reg)) >= 0 && o1->size == o0->size)
				nv = v[b];
			else if (in->id == X86_INS_MOV && o1->type == X86_OP_IMM)
				nv = (struct val){.kind = ELF_LOC_CONST, .off = o1->imm};
			else if (in->id == X86_INS_XOR && o1->type == X86_OP_REG &&
				 gpr_of(o1->reg) == a)
				nv = (struct val){.kind = ELF_LOC_CONST, .off = 0};
			else if (o1->type == X86_OP_MEM && o0->size == 8 &&
				 o1->mem.index == X86_REG_INVALID &&
				 o1->mem.segment == X86_REG_INVALID &&
				 (b = gpr_of(o1->mem.base)) >= 0) {
				const struct val *base = &v[b];

				if (in->id == X86_INS_LEA && base->kind == ELF_LOC_REG)
					nv = (struct val){.kind = ELF_LOC_REG_OFF,
							  .reg = base->reg,
							  .off = o1->mem.disp};
				else if (in->id == X86_INS_LEA && base->kind == ELF_LOC_REG_OFF)
					nv = (struct val){.kind = ELF_LOC_REG_OFF,
							  .reg = base->reg,
							  .off = base->off + o1->mem.disp};
				else if (in->id == X86_INS_MOV && base->kind == ELF_LOC_REG)
					nv = (struct val){.kind = ELF_LOC_MEM,
							  .reg = base->reg,
							  .off = o1->mem.disp};
			}
			if (in->id == X86_INS_MOV && o1->type == X86_OP_MEM && o0->size == 8 &&
			    path_names_slot(fw, in, o1, v))
				nv.slot = true;
			for (int g = 0; g < 16; g++)
				if (w & (1u << g))
					v[g] = (struct val){.kind = ELF_LOC_NONE};
			v[a] = nv;
			continue;
		}
		for (int g = 0; g < 16; g++)
			if (w & (1u << g))
				v[g] = (struct val){.kind = ELF_LOC_NONE};
	}
	return "fallback too long";
}

/* What the main scan knows of a register. */
struct reg_state {
	uint8_t what; /* 0, R_SLOT (holds the slot's pointer), R_BASE (the GOT's base), R_DEFLT */
	int since;    /* instruction index it was set at */
	int base;     /* R_SLOT of a member: the register it was loaded through, or -1 */
	uint64_t val; /* R_DEFLT: the constant */
};
#define R_SLOT	1
#define R_BASE	2
#define R_DEFLT 3

struct slot_scan {
	struct code_walk *d, *f; /* the scan's walk, and the fallbacks' */
	const struct elf_fn_slot *s;
	uint64_t skip_lo, skip_hi;
	struct elf_slot_site *out;
	size_t max;
	long n;
	uint64_t *calls; /* the fallbacks' calls: not sites of their own */
	size_t ncalls, capcalls;
	int err;
};

/* A register or memory operand that holds or is the slot; *base (may be
 * NULL): the member's structure register, or -1. */
static bool names_slot(const struct slot_scan *ss, const cs_insn *in, const cs_x86_op *op,
		       const struct reg_state *r, int idx, int *base)
{
	int b, dummy;

	if (!base)
		base = &dummy;
	*base = -1;
	if (op->type == X86_OP_REG) {
		if ((b = gpr_of(op->reg)) < 0 || r[b].what != R_SLOT ||
		    idx - r[b].since > SLOT_TRACK_INSNS)
			return false;
		*base = r[b].base;
		return true;
	}
	if (op->type != X86_OP_MEM)
		return false;
	if (ss->s->member) {
		if (op->mem.index != X86_REG_INVALID || op->mem.segment != X86_REG_INVALID ||
		    (b = gpr_of(op->mem.base)) < 0 || b == DW_RSP || op->mem.disp != ss->s->disp)
			return false;
		*base = b;
		return true;
	}
	if (ss->s->addr)
		return mem_addr(in, op) == ss->s->addr;
	return op->mem.index == X86_REG_INVALID && op->mem.segment == X86_REG_INVALID &&
	       (b = gpr_of(op->mem.base)) >= 0 && r[b].what == R_BASE &&
	       idx - r[b].since <= SLOT_TRACK_INSNS && op->mem.disp == ss->s->disp;
}

/* The slot's default; for a member, any function's start. */
static bool is_deflt(const struct slot_scan *ss, uint64_t v)
{
	uint64_t lo, hi;

	if (!ss->s->member)
		return v && v == ss->s->deflt;
	return v && elf_file__fde_range(ss->d->ef, v, &lo, &hi, NULL) == 0 && lo == v;
}

static bool names_deflt(const struct slot_scan *ss, const cs_x86_op *op, const struct reg_state *r,
			int idx)
{
	int b;

	if (op->type == X86_OP_IMM)
		return is_deflt(ss, (uint64_t)op->imm);
	return op->type == X86_OP_REG && (b = gpr_of(op->reg)) >= 0 && r[b].what == R_DEFLT &&
	       idx - r[b].since <= SLOT_TRACK_INSNS;
}

static void add_site(struct slot_scan *ss, const struct elf_slot_site *site)
{
	for (long i = 0; i < ss->n && (size_t)i < ss->max; i++)
		if (ss->out[i].addr == site->addr)
			return;
	if ((size_t)ss->n < ss->max)
		ss->out[ss->n] = *site;
	ss->n++;
}

static void add_call(struct slot_scan *ss, uint64_t call)
{
	if (ss->ncalls == ss->capcalls) {
		uint64_t *n = PM_GROW(ss->calls, &ss->capcalls, ss->ncalls + 1, 64);

		if (!n) {
			ss->err = -ENOMEM;
			return;
		}
		ss->calls = n;
	}
	ss->calls[ss->ncalls++] = call;
}

/*
 * Does the equal side of a member's compare load the member again before
 * it calls or returns? That is a walk along a chain (subtype_dealloc's
 * `while (base->tp_dealloc == subtype_dealloc) base = base->tp_base`), not
 * a call made conditional, whose equal side is the function compared with.
 */
#define BODY_LOOK_INSNS 12

static bool body_reloads_member(struct code_walk *d, const struct elf_fn_slot *s, uint64_t pc)
{
	for (int n = 0; n < BODY_LOOK_INSNS && elfi_walk_at(d, pc); n++) {
		const cs_insn *in = d->in;
		const cs_x86 *x = &in->detail->x86;

		if (in->id == X86_INS_CALL || ends_flow(in) ||
		    (is_jump(in) && in->id == X86_INS_JMP))
			return false;
		if (in->id == X86_INS_MOV && x->op_count == 2 &&
		    x->operands[1].type == X86_OP_MEM &&
		    x->operands[1].mem.index == X86_REG_INVALID &&
		    x->operands[1].mem.disp == s->disp && gpr_of(x->operands[1].mem.base) >= 0)
			return true;
		pc = in->address + in->size;
	}
	return false;
}

/* The branch of a compare of the slot's pointer with its default. */
static void promoted_site(struct slot_scan *ss, const cs_insn *jcc, int ptr, int base)
{
	struct elf_slot_site site = {
	    .addr = jcc->address, .promoted = true, .base_reg = base, .ptr_reg = ptr};
	struct fallback_want fw = {.s = ss->s, .ptr_reg = ptr, .base_reg = base};
	const cs_x86_op *t = &jcc->detail->x86.operands[0];
	uint64_t call = 0, fallback;

	if (jcc->detail->x86.op_count != 1 || t->type != X86_OP_IMM)
		return;
	/* jne: the fallback is the target; je: the next instruction */
	fallback = jcc->id == X86_INS_JNE ? (uint64_t)t->imm : jcc->address + jcc->size;
	site.body = jcc->id == X86_INS_JNE ? jcc->address + jcc->size : (uint64_t)t->imm;
	if (ss->s->member && body_reloads_member(ss->f, ss->s, site.body))
		return;
	site.why = follow_fallback(ss->f, fallback, &fw, site.args, &call);
	if (site.why == NOT_A_CALL)
		return;
	if (site.why)
		site.args[0] = site.args[1] = (struct elf_loc){.kind = ELF_LOC_NONE};
	else
		add_call(ss, call);
	site.call = call;
	add_site(ss, &site);
}

/* What one function's (or part's) scan knows so far. */
struct range_scan {
	struct slot_scan *ss;
	struct reg_state r[16];
	bool cmp_before;
	int idx, cmp_base, cmp_ptr;
};

/* One instruction of a function, tracking the slot's pointer. */
static int scan_insn(struct code_walk *wk, const cs_insn *in, void *ctx)
{
	struct range_scan *rs = ctx;
	struct slot_scan *ss = rs->ss;
	struct reg_state *r = rs->r;
	const cs_x86 *x = &in->detail->x86;
	const cs_x86_op *o0 = &x->operands[0], *o1 = &x->operands[1];
	bool cmp_now = false, skipped = in->address >= ss->skip_lo && in->address < ss->skip_hi;
	uint32_t w;
	int a, idx = ++rs->idx;

	(void)wk;
	if (rs->cmp_before && (in->id == X86_INS_JE || in->id == X86_INS_JNE) && !skipped)
		promoted_site(ss, in, rs->cmp_ptr, rs->cmp_base);
	if (in->id == X86_INS_CMP && x->op_count == 2)
		cmp_now =
		    (names_slot(ss, in, o0, r, idx, &rs->cmp_base) &&
		     names_deflt(ss, o1, r, idx)) ||
		    (names_slot(ss, in, o1, r, idx, &rs->cmp_base) && names_deflt(ss, o0, r, idx));
	rs->cmp_before = cmp_now;
	if (cmp_now) {
		/* the operand that holds the pointer, if a register */
		int g0 = o0->type == X86_OP_REG ? gpr_of(o0->reg) : -1,
		    g1 = o1->type == X86_OP_REG ? gpr_of(o1->reg) : -1;

		rs->cmp_ptr = g0 >= 0 && r[g0].what == R_SLOT	? g0
			      : g1 >= 0 && r[g1].what == R_SLOT ? g1
								: -1;
	}
	/* a plain call through the slot (for a member, only through a
	 * register it was loaded into: elf_file__slot_calls finds
	 * `call *disp(%reg)`) */
	int base = -1;

	if ((in->id == X86_INS_CALL || in->id == X86_INS_JMP) && x->op_count == 1 &&
	    o0->type != X86_OP_IMM && (!ss->s->member || o0->type == X86_OP_REG) &&
	    names_slot(ss, in, o0, r, idx, &base) && !skipped) {
		struct elf_slot_site site = {.addr = in->address,
					     .base_reg = base,
					     .ptr_reg =
						 o0->type == X86_OP_REG ? gpr_of(o0->reg) : -1};
		bool no_ctx = ss->s->no_ctx;

		site.args[0] =
		    (struct elf_loc){.kind = ELF_LOC_REG, .dwarf_reg = no_ctx ? DW_RDI : DW_RSI};
		site.args[1] =
		    (struct elf_loc){.kind = ELF_LOC_REG, .dwarf_reg = no_ctx ? DW_RSI : DW_RDX};
		add_site(ss, &site);
	}
	if (in->id == X86_INS_JMP || ends_flow(in)) {
		memset(rs->r, 0, sizeof(rs->r));
		return ss->err ? 1 : 0;
	}
	w = written(ss->d->cs, in);
	if (in->id == X86_INS_CALL)
		w |= 0x0f37; /* rax, rdx, rcx, rsi, rdi, r8-r11 */
	for (int g = 0; g < 16; g++) {
		if (w & (1u << g))
			r[g].what = 0;
		/* a member's structure register that changes */
		if (r[g].what == R_SLOT && r[g].base >= 0 && (w & (1u << r[g].base)))
			r[g].base = -1;
	}
	if (x->op_count != 2 || o0->type != X86_OP_REG || (a = gpr_of(o0->reg)) < 0 ||
	    o0->size != 8)
		return ss->err ? 1 : 0;
	uint64_t c = 0;

	if (in->id == X86_INS_MOV && o1->type == X86_OP_MEM) {
		if (names_slot(ss, in, o1, r, idx, &base))
			r[a] = (struct reg_state){R_SLOT, idx, base == a ? -1 : base, 0};
		else if (!ss->s->addr && !ss->s->member && mem_addr(in, o1) == ss->s->got)
			r[a] = (struct reg_state){R_BASE, idx, -1, 0};
		return ss->err ? 1 : 0;
	}
	if (in->id == X86_INS_LEA)
		c = mem_addr(in, o1);
	else if (in->id == X86_INS_MOV && o1->type == X86_OP_IMM)
		c = (uint64_t)o1->imm;
	if (c && is_deflt(ss, c))
		r[a] = (struct reg_state){R_DEFLT, idx, -1, c};
	return ss->err ? 1 : 0;
}

/* Decode one function (or part) [lo, hi), tracking the slot's pointer. */
static void scan_range(struct slot_scan *ss, uint64_t lo, uint64_t hi)
{
	struct range_scan rs = {.ss = ss, .cmp_base = -1, .cmp_ptr = -1};
	int err = elfi_walk_decode(ss->d, lo, hi, scan_insn, &rs);

	/* a range that is not code is skipped; the budget ends the scan */
	if (err == -E2BIG)
		ss->err = err;
}

/* Might the 4 bytes at k (vaddr v) be a displacement or an absolute
 * address naming target? */
static bool may_name(const struct elf_file *ef, const unsigned char *k, uint64_t v, uint64_t target)
{
	int32_t d = (int32_t)elfi_rd32(ef, k);

	/* rip-relative: the displacement ends the instruction, or is followed
	 * by an 8- or 32-bit immediate (a compare with a constant) */
	for (int end = 4; end <= 8; end++)
		if (end == 4 || end == 5 || end == 8)
			if (v + (uint64_t)end + (uint64_t)(int64_t)d == target)
				return true;
	return (uint64_t)(int64_t)d == target;
}

/* Might the bytes at p be a load or compare of [reg + disp8]: mov r, m;
 * cmp m, r; cmp r, m; cmp m, imm? */
static bool may_use_member(const unsigned char *p, int32_t disp)
{
	unsigned char op = p[0], m = p[1];
	int d;

	if (op != 0x8b && op != 0x39 && op != 0x3b && op != 0x81 && op != 0x83)
		return false;
	if ((m & 0xc0) != 0x40)
		return false;
	d = (m & 7) == 4 ? (signed char)p[3] : (signed char)p[2];
	return d == disp;
}

long elf_file__fn_slot_sites(struct elf_file *ef, const struct elf_fn_slot *s, uint64_t skip_lo,
			     uint64_t skip_hi, struct elf_slot_site *out, size_t max)
{
	struct slot_scan ss = {
	    .s = s, .skip_lo = skip_lo, .skip_hi = skip_hi, .out = out, .max = max};
	uint64_t target = s->addr ? s->addr : s->got, done_hi = 0;
	long n;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	if ((!target && !s->member) || (s->member && (s->disp < -128 || s->disp > 127)) ||
	    elfi_load_fdes(ef))
		return -ENOENT;
	if (!(ss.d = elfi_walk_new(ef)))
		return -ENOMEM;
	if (!(ss.f = elfi_walk_new(ef))) {
		elfi_walk_free(ss.d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ef->phnum && !ss.err; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];
		const unsigned char *p = (const unsigned char *)ef->buf + ph->p_offset;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || ph->p_filesz < 4)
			continue;
		for (uint64_t k = 0; k + 4 <= ph->p_filesz && !ss.err; k++) {
			uint64_t at = ph->p_vaddr + k, lo, hi;

			if (at < done_hi || (s->member ? !may_use_member(p + k, (int32_t)s->disp)
						       : !may_name(ef, p + k, at, target)))
				continue;
			if (elf_file__fde_range(ef, at, &lo, &hi, NULL))
				continue;
			scan_range(&ss, lo, hi);
			done_hi = hi;
		}
	}
	/* a fallback's call belongs to its compare's site */
	n = 0;
	if (ss.ncalls)
		qsort(ss.calls, ss.ncalls, sizeof(*ss.calls), addr_cmp);
	for (long i = 0; i < ss.n && (size_t)i < max; i++) {
		uint64_t a = out[i].addr;

		if (!out[i].promoted && ss.ncalls &&
		    bsearch(&a, ss.calls, ss.ncalls, sizeof(*ss.calls), addr_cmp))
			continue;
		out[n++] = out[i];
	}
	if ((size_t)ss.n > max)
		n += ss.n - (long)max;
	free(ss.calls);
	elfi_walk_free(ss.d);
	elfi_walk_free(ss.f);
	return ss.err ? ss.err : n;
}

#define REACH_MAX_PATHS 64

long elf_file__reaches(struct elf_file *ef, uint64_t from, const uint64_t *targets, size_t n,
		       bool *hit, int budget)
{
	uint64_t queue[REACH_MAX_PATHS];
	int nq = 0, spent = 0;
	struct code_walk *d;
	long found = 0;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	if (!(d = elfi_walk_new(ef)))
		return -ENOMEM;
	queue[nq++] = from;
	for (int q = 0; q < nq && spent < budget; q++) {
		uint64_t pc = queue[q];

		while (spent++ < budget && elfi_walk_at(d, pc)) {
			const cs_insn *in = d->in;
			const cs_x86 *x = &in->detail->x86;
			uint64_t t = 0;
			bool seen = false, stop = false;

			for (size_t i = 0; i < n; i++)
				if (targets[i] == in->address) {
					found += !hit[i];
					hit[i] = true;
					stop = true;
				}
			if (stop || ends_flow(in))
				break;
			if (is_jump(in)) {
				if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
					break; /* an indirect jump */
				t = (uint64_t)x->operands[0].imm;
				for (int k = 0; k < nq; k++)
					seen |= queue[k] == t;
				if (!seen && nq < REACH_MAX_PATHS)
					queue[nq++] = t;
				if (in->id == X86_INS_JMP)
					break;
			}
			pc = in->address + in->size;
		}
	}
	elfi_walk_free(d);
	return found;
}
