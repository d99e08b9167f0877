// SPDX-License-Identifier: MIT
/*
 * Finding functions by what their machine code does, for builds that keep
 * no symbol of them (stripped, LTO): the exported functions and data stay in
 * .dynsym, string literals stay in the read-only data, and .eh_frame keeps
 * one FDE per function and per split-off part (GCC's ".cold" halves), so a
 * static function can still be told by the literal it uses and by who calls
 * it. x86-64 only; capstone decodes, libdw reads the CFI.
 *
 * A function's code is decoded linearly from its FDE's start: GCC never
 * puts data inside .text on x86-64 (jump tables live in .rodata), so this
 * meets every instruction of the function.
 */
#include "attach/elf_impl.h"
#include "attach/sites.h"

/* Bounds on what one search looks at: the size of one function (CPython's
 * largest, the bytecode loop, is ~200 KiB); CODE_MAX_FUNCS (elf_impl.h) the
 * functions reached. */
#define CODE_MAX_FUNC_SIZE (1u << 20)
/* Bytes one walk may decode in all: a hostile file with many large
 * functions and parts must not keep pymac busy for long (CPython's whole
 * text is under 4 MiB; ~50 ms per MiB here). */
#define CODE_BUDGET (64ull << 20)

/* The loaded, file-backed bytes [vaddr, vaddr + len) of a segment that is
 * executable (exec) or not, or NULL. */
const unsigned char *elfi_seg_bytes(const struct elf_file *ef, uint64_t vaddr, uint64_t len,
				    bool exec)
{
	for (size_t i = 0; i < ef->phnum; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) != !exec)
			continue;
		if (vaddr >= ph->p_vaddr && vaddr - ph->p_vaddr <= ph->p_filesz &&
		    len <= ph->p_filesz - (vaddr - ph->p_vaddr))
			return (const unsigned char *)ef->buf + ph->p_offset +
			       (vaddr - ph->p_vaddr);
	}
	return NULL;
}

int elf_file__read_data(const struct elf_file *ef, uint64_t vaddr, void *out, size_t len)
{
	const unsigned char *p = elfi_seg_bytes(ef, vaddr, len, false);

	if (!p)
		return -ENOENT;
	memcpy(out, p, len);
	return 0;
}

int elf_file__read_u64(const struct elf_file *ef, uint64_t vaddr, uint64_t *value)
{
	const unsigned char *p = elfi_seg_bytes(ef, vaddr, 8, false);

	if (!p)
		return -ENOENT;
	*value = elfi_rd64(ef, p);
	return 0;
}

int elf_file__find_string(const struct elf_file *ef, const char *s, uint64_t *out, int max)
{
	size_t n = strlen(s) + 1; /* with its NUL: a whole literal, or a suffix */
	int found = 0;

	for (size_t i = 0; i < ef->phnum; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];
		const char *base, *at, *end;

		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_X) || ph->p_filesz < n)
			continue;
		base = ef->buf + ph->p_offset;
		end = base + ph->p_filesz;
		for (at = base; (at = memmem(at, (size_t)(end - at), s, n)); at += n) {
			if (found < max)
				out[found] = ph->p_vaddr + (uint64_t)(at - base);
			found++;
		}
	}
	return found;
}

static Dwarf_CFI *cfi_of(struct elf_file *ef)
{
	if (!ef->cfi_tried) {
		ef->cfi_tried = true;
		ef->cfi = dwarf_getcfi_elf(ef->elf);
	}
	return ef->cfi;
}

static int32_t le32s(const struct elf_file *ef, const unsigned char *p)
{
	return (int32_t)elfi_rd32(ef, p);
}

/* Loaded, file-backed bytes of any segment, or NULL. */
static const unsigned char *any_bytes(const struct elf_file *ef, uint64_t vaddr, uint64_t len)
{
	const unsigned char *p = elfi_seg_bytes(ef, vaddr, len, false);

	return p ? p : elfi_seg_bytes(ef, vaddr, len, true);
}

/*
 * The FDE ranges, from .eh_frame_hdr's sorted search table: each entry is a
 * function start and its FDE, whose pc_begin (checked to be the same start)
 * is followed by its pc_range. GCC and clang write the table as datarel
 * sdata4 and FDE addresses as pcrel sdata4; a file that does not is not read.
 */
int elfi_load_fdes(struct elf_file *ef)
{
	const GElf_Phdr *eh = NULL;
	const unsigned char *h;
	uint32_t count;

	if (ef->fdes_tried)
		return ef->fdes ? 0 : -ENOENT;
	ef->fdes_tried = true;
	for (size_t i = 0; i < ef->phnum; i++)
		if (ef->phdrs[i].p_type == PT_GNU_EH_FRAME)
			eh = &ef->phdrs[i];
	if (!eh || !(h = any_bytes(ef, eh->p_vaddr, 12)))
		return -ENOENT;
	/* version 1; eh_frame_ptr pcrel|sdata4; fde_count udata4; table
	 * datarel|sdata4 */
	if (h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b)
		return -ENOENT;
	count = (uint32_t)le32s(ef, h + 8);
	if (!count || count > (1u << 24) || !(h = any_bytes(ef, eh->p_vaddr, 12 + 8ull * count)))
		return -ENOENT;
	ef->fdes = calloc(count, sizeof(*ef->fdes));
	if (!ef->fdes)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t lo = eh->p_vaddr + (uint64_t)(int64_t)le32s(ef, h + 12 + 8 * i),
			 fde = eh->p_vaddr + (uint64_t)(int64_t)le32s(ef, h + 16 + 8 * i);
		const unsigned char *f = any_bytes(ef, fde, 16);

		if (!f || le32s(ef, f) == -1 || le32s(ef, f + 4) == 0 ||
		    fde + 8 + (uint64_t)(int64_t)le32s(ef, f + 8) != lo)
			continue;
		ef->fdes[ef->nfdes][0] = lo;
		ef->fdes[ef->nfdes][1] = lo + (uint32_t)le32s(ef, f + 12);
		ef->nfdes++;
	}
	return 0;
}

/* The frame at vaddr is the one a call makes (CFA = rsp + 8). */
static bool frame_at_entry(struct elf_file *ef, uint64_t vaddr)
{
	Dwarf_CFI *cfi = cfi_of(ef);
	Dwarf_Frame *fr = NULL;
	Dwarf_Op *ops;
	size_t nops;
	bool yes = false;

	if (cfi && dwarf_cfi_addrframe(cfi, vaddr, &fr) == 0 &&
	    dwarf_frame_cfa(fr, &ops, &nops) == 0 && nops == 1)
		yes = (ops[0].atom == DW_OP_breg7 && ops[0].number == 8) ||
		      (ops[0].atom == DW_OP_bregx && ops[0].number == 7 && ops[0].number2 == 8);
	free(fr);
	return yes;
}

int elf_file__fde_range(struct elf_file *ef, uint64_t vaddr, uint64_t *lo, uint64_t *hi,
			bool *at_entry)
{
	size_t a = 0, b;

	if (elfi_load_fdes(ef))
		return -ENOENT;
	/* the last entry starting at or below vaddr */
	b = ef->nfdes;
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (ef->fdes[m][0] <= vaddr)
			a = m + 1;
		else
			b = m;
	}
	if (!a || vaddr >= ef->fdes[a - 1][1])
		return -ENOENT;
	*lo = ef->fdes[a - 1][0];
	*hi = ef->fdes[a - 1][1];
	if (at_entry)
		*at_entry = frame_at_entry(ef, *lo);
	return 0;
}

static bool walk__seen(const struct code_walk *w, uint64_t lo)
{
	for (int i = 0; i < w->nseen; i++)
		if (w->seen[i] == lo)
			return true;
	return false;
}

/* Does the instruction name w->target as data: rip-relative, or (in a
 * position-dependent file) as an absolute immediate or displacement? */
static bool insn_refers(const struct code_walk *w, const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;

	for (int i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];

		if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP &&
		    in->address + in->size + (uint64_t)op->mem.disp == w->target)
			return true;
		if (op->type == X86_OP_MEM && op->mem.base == X86_REG_INVALID &&
		    op->mem.index == X86_REG_INVALID && (uint64_t)op->mem.disp == w->target)
			return true;
		if (op->type == X86_OP_IMM && (uint64_t)op->imm == w->target)
			return true;
	}
	return false;
}

/* The target of a direct call, jmp or jcc, or 0; *call says which. */
static uint64_t insn_branch(const cs_insn *in, bool *call)
{
	const cs_x86 *x = &in->detail->x86;
	bool is_call = in->id == X86_INS_CALL, is_jump = false;

	for (int g = 0; g < in->detail->groups_count; g++)
		if (in->detail->groups[g] == CS_GRP_JUMP)
			is_jump = true;
	*call = is_call;
	if ((!is_call && !is_jump) || x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
		return 0;
	return (uint64_t)x->operands[0].imm;
}

int elfi_walk_decode(struct code_walk *w, uint64_t lo, uint64_t hi,
		     int (*f)(struct code_walk *, const cs_insn *, void *), void *ctx)
{
	const unsigned char *code;
	const uint8_t *p;
	size_t left;
	uint64_t addr = lo;
	int r;

	if (hi <= lo || hi - lo > CODE_MAX_FUNC_SIZE ||
	    !(code = elfi_seg_bytes(w->ef, lo, hi - lo, true)))
		return -ENOENT;
	if (w->decoded + (hi - lo) > CODE_BUDGET)
		return -E2BIG;
	w->decoded += hi - lo;
	p = code;
	left = hi - lo;
	while (left) {
		if (!cs_disasm_iter(w->cs, &p, &left, &addr, w->in)) {
			/* padding or bytes capstone does not know: step over one */
			p++;
			left--;
			addr++;
			continue;
		}
		if ((r = f(w, w->in, ctx)))
			return r;
	}
	return 0;
}

bool elfi_walk_at(struct code_walk *w, uint64_t pc)
{
	const uint8_t *p = NULL;
	size_t len = 15;

	while (len && !(p = elfi_seg_bytes(w->ef, pc, len, true)))
		len--;
	return p && cs_disasm_iter(w->cs, &p, &len, &pc, w->in);
}

struct code_walk *elfi_walk_new(struct elf_file *ef)
{
	struct code_walk *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->ef = ef;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &w->cs) != CS_ERR_OK) {
		free(w);
		return NULL;
	}
	cs_option(w->cs, CS_OPT_DETAIL, CS_OPT_ON);
	if (!(w->in = cs_malloc(w->cs))) {
		cs_close(&w->cs);
		free(w);
		return NULL;
	}
	return w;
}

void elfi_walk_free(struct code_walk *w)
{
	if (!w)
		return;
	cs_free(w->in, 1);
	cs_close(&w->cs);
	free(w);
}

static int frag_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	(void)ctx;
	return insn_refers(w, in) ? 1 : 0;
}

#define FUNC_MAX_FRAGS 32

struct func_scan {
	uint64_t lo, hi;
	int depth, max_depth;
	bool hit;
	uint64_t frags[FUNC_MAX_FRAGS]; /* parts already decoded */
	int nfrags;
};

static int func_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	struct func_scan *fs = ctx;
	uint64_t t, tlo, thi;
	bool call, entry;

	if (insn_refers(w, in)) {
		fs->hit = true;
		return 0;
	}
	t = insn_branch(in, &call);
	if (!t || (t >= fs->lo && t < fs->hi) || elf_file__fde_range(w->ef, t, &tlo, &thi, &entry))
		return 0;
	if (t == tlo && (call || entry)) {
		/* a call, or a tail call to a function */
		if (fs->depth < fs->max_depth && !walk__seen(w, tlo) && w->nseen < CODE_MAX_FUNCS) {
			w->depth[w->nseen] = fs->depth + 1;
			w->seen[w->nseen++] = tlo;
		}
		return 0;
	}
	/* a jump into a part split off this function (its .cold half), whose
	 * frame is this function's */
	if (call || fs->hit)
		return 0;
	for (int i = 0; i < fs->nfrags; i++)
		if (fs->frags[i] == tlo)
			return 0;
	if (fs->nfrags < FUNC_MAX_FRAGS)
		fs->frags[fs->nfrags++] = tlo;
	if (elfi_walk_decode(w, tlo, thi, frag_insn, NULL) == 1)
		fs->hit = true;
	return 0;
}

int elf_file__referrers_from(struct elf_file *ef, const uint64_t *roots, int nroots, int max_depth,
			     uint64_t target, uint64_t *out, int max)
{
	struct code_walk *w;
	uint64_t lo, hi;
	int found = 0;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	if (!(w = elfi_walk_new(ef)))
		return -ENOMEM;
	w->target = target;
	for (int i = 0; i < nroots && w->nseen < CODE_MAX_FUNCS; i++)
		if (elf_file__fde_range(ef, roots[i], &lo, &hi, NULL) == 0 && lo == roots[i] &&
		    !walk__seen(w, lo))
			w->seen[w->nseen++] = lo;
	/* breadth first: the queue is w->seen itself */
	for (int i = 0; i < w->nseen; i++) {
		struct func_scan fs = {.depth = w->depth[i], .max_depth = max_depth};

		if (elf_file__fde_range(ef, w->seen[i], &fs.lo, &fs.hi, NULL) ||
		    fs.lo != w->seen[i])
			continue;
		elfi_walk_decode(w, fs.lo, fs.hi, func_insn, &fs);
		if (fs.hit) {
			if (found < max)
				out[found] = fs.lo;
			found++;
		}
	}
	if (!w->nseen)
		found = -ENOENT;
	elfi_walk_free(w);
	return found;
}

struct slot_scan {
	int32_t disp;
	uint64_t skip_lo, skip_hi, last;
	struct elf_slot_call *out;
	size_t max;
	long n;
};

static int slot_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	struct slot_scan *ss = ctx;
	const cs_x86 *x = &in->detail->x86;
	const cs_x86_op *op = &x->operands[0];
	int reg;

	(void)w;
	if ((in->id != X86_INS_CALL && in->id != X86_INS_JMP) || x->op_count != 1 ||
	    op->type != X86_OP_MEM || op->mem.index != X86_REG_INVALID ||
	    op->mem.segment != X86_REG_INVALID || op->mem.disp != ss->disp ||
	    (reg = x86_gpr64_dwarf(op->mem.base)) < 0 || reg == 7 ||
	    (in->address >= ss->skip_lo && in->address < ss->skip_hi) || in->address <= ss->last)
		return 0;
	ss->last = in->address;
	if ((size_t)ss->n < ss->max) {
		ss->out[ss->n].addr = in->address;
		ss->out[ss->n].dwarf_reg = reg;
		ss->out[ss->n].jump = in->id == X86_INS_JMP;
	}
	ss->n++;
	return 0;
}

/*
 * A byte scan finds where such an instruction may be (ff /2 or ff /4 with
 * a disp8 ModRM, optionally through a SIB byte); each FDE holding one is
 * then decoded from its start, once, and only real instructions count.
 */
long elf_file__slot_calls(struct elf_file *ef, int32_t disp, uint64_t skip_lo, uint64_t skip_hi,
			  struct elf_slot_call *out, size_t max)
{
	struct slot_scan ss = {
	    .disp = disp, .skip_lo = skip_lo, .skip_hi = skip_hi, .out = out, .max = max};
	struct code_walk *w;
	uint64_t done_hi = 0;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	if (disp < -128 || disp > 127)
		return -EINVAL;
	if (elfi_load_fdes(ef))
		return -ENOENT;
	if (!(w = elfi_walk_new(ef)))
		return -ENOMEM;
	for (size_t i = 0; i < ef->phnum; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];
		const unsigned char *p = (const unsigned char *)ef->buf + ph->p_offset;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || ph->p_filesz < 4)
			continue;
		for (uint64_t k = 0; k + 4 <= ph->p_filesz; k++) {
			unsigned char m = p[k + 1];
			uint64_t at = ph->p_vaddr + k, lo, hi;
			int d;

			if (p[k] != 0xff || (m & 0xc0) != 0x40 ||
			    (((m >> 3) & 7) != 2 && ((m >> 3) & 7) != 4))
				continue;
			d = (m & 7) == 4 ? (signed char)p[k + 3] : (signed char)p[k + 2];
			if (d != disp || at < done_hi)
				continue;
			if (elf_file__fde_range(ef, at, &lo, &hi, NULL))
				continue;
			elfi_walk_decode(w, lo, hi, slot_insn, &ss);
			done_hi = hi;
		}
	}
	elfi_walk_free(w);
	return ss.n;
}

struct calls_scan {
	const uint64_t *targets;
	size_t ntargets;
	uint64_t *out;
	size_t max;
	long n;
};

static int calls_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	struct calls_scan *cs = ctx;
	bool call;
	uint64_t t = insn_branch(in, &call);

	(void)w;
	if (!t || (in->id != X86_INS_CALL && in->id != X86_INS_JMP))
		return 0;
	for (size_t i = 0; i < cs->ntargets; i++)
		if (cs->targets[i] == t) {
			if ((size_t)cs->n < cs->max)
				cs->out[cs->n] = in->address;
			cs->n++;
			break;
		}
	return 0;
}

/* Decode each of ranges[0..nranges) with one walker (one budget). */
static int decode_ranges(struct elf_file *ef, const uint64_t (*ranges)[2], size_t nranges,
			 int (*f)(struct code_walk *, const cs_insn *, void *), void *ctx)
{
	struct code_walk *w;
	int err = 0;

	if (!elf_file__is_64bit_x86(ef))
		return -EOPNOTSUPP;
	if (!(w = elfi_walk_new(ef)))
		return -ENOMEM;
	for (size_t i = 0; i < nranges && !err; i++)
		err = elfi_walk_decode(w, ranges[i][0], ranges[i][1], f, ctx);
	elfi_walk_free(w);
	return err < 0 ? err : 0;
}

long elf_file__calls_to_in(struct elf_file *ef, const uint64_t *targets, size_t n,
			   const uint64_t (*ranges)[2], size_t nranges, uint64_t *out, size_t max)
{
	struct calls_scan cs = {.targets = targets, .ntargets = n, .out = out, .max = max};
	int err = decode_ranges(ef, ranges, nranges, calls_insn, &cs);

	return err < 0 ? err : cs.n;
}

struct targets_scan {
	uint64_t *out;
	size_t max;
	long n;
};

static int targets_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	struct targets_scan *ts = ctx;
	bool call;
	uint64_t t = insn_branch(in, &call);

	(void)w;
	if (!t || !call)
		return 0;
	for (long i = 0; i < ts->n && (size_t)i < ts->max; i++)
		if (ts->out[i] == t)
			return 0;
	if ((size_t)ts->n < ts->max)
		ts->out[ts->n++] = t;
	return 0;
}

long elf_file__call_targets_in(struct elf_file *ef, const uint64_t (*ranges)[2], size_t nranges,
			       uint64_t *out, size_t max)
{
	struct targets_scan ts = {.out = out, .max = max};
	int err = decode_ranges(ef, ranges, nranges, targets_insn, &ts);

	return err < 0 ? err : ts.n;
}

struct push_scan {
	int64_t off1, disp2;
	struct elf_store_pair *out;
	size_t max;
	long n;
	/* the last `mov %reg, off1(%obj)`, and how many instructions ago */
	uint64_t at;
	int obj, age;
};

/* A store of a 64-bit register to [base + disp] (no index): the registers
 * as DWARF numbers, or false. */
static bool reg_store(const cs_insn *in, int *src, int *base, int64_t *disp)
{
	const cs_x86 *x = &in->detail->x86;

	if (in->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_MEM ||
	    x->operands[1].type != X86_OP_REG || x->operands[1].size != 8 ||
	    x->operands[0].mem.index != X86_REG_INVALID ||
	    x->operands[0].mem.segment != X86_REG_INVALID)
		return false;
	*src = x86_gpr64_dwarf(x->operands[1].reg);
	*base = x86_gpr64_dwarf(x->operands[0].mem.base);
	*disp = x->operands[0].mem.disp;
	return *src >= 0 && *base >= 0 && *base != 7;
}

static int push_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	struct push_scan *ps = ctx;
	int src, base;
	int64_t disp;

	(void)w;
	ps->age++;
	if (!reg_store(in, &src, &base, &disp))
		return 0;
	if (ps->at && ps->age <= 2 && src == ps->obj && base != ps->obj &&
	    (ps->disp2 == INT64_MIN || disp == ps->disp2)) {
		if ((size_t)ps->n < ps->max)
			ps->out[ps->n] = (struct elf_store_pair){ps->at, ps->obj, disp};
		ps->n++;
		ps->at = 0;
		return 0;
	}
	if (disp == ps->off1 && src != base) {
		ps->at = in->address;
		ps->obj = base;
		ps->age = 0;
	}
	return 0;
}

long elf_file__push_pairs(struct elf_file *ef, const uint64_t (*ranges)[2], size_t nranges,
			  int64_t off1, int64_t disp2, struct elf_store_pair *out, size_t max)
{
	struct push_scan ps = {.off1 = off1, .disp2 = disp2, .out = out, .max = max};
	int err = decode_ranges(ef, ranges, nranges, push_insn, &ps);

	return err < 0 ? err : ps.n;
}

#define SAME_CODE_MAX 512

struct code_shape {
	uint32_t ids[SAME_CODE_MAX];
	uint8_t sizes[SAME_CODE_MAX];
	int n;
	bool over;
};

static int shape_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	struct code_shape *cs = ctx;

	(void)w;
	if (cs->n == SAME_CODE_MAX) {
		cs->over = true;
		return 1;
	}
	cs->ids[cs->n] = in->id;
	cs->sizes[cs->n++] = (uint8_t)in->size;
	return 0;
}

bool elf_file__same_code(struct elf_file *ef, uint64_t a, uint64_t b)
{
	uint64_t r[2][2];
	struct code_shape *sa, *sb;
	bool same;

	if (a == b)
		return true;
	if (elf_file__fde_range(ef, a, &r[0][0], &r[0][1], NULL) || r[0][0] != a ||
	    elf_file__fde_range(ef, b, &r[1][0], &r[1][1], NULL) || r[1][0] != b ||
	    r[0][1] - r[0][0] != r[1][1] - r[1][0])
		return false;
	sa = calloc(1, sizeof(*sa));
	sb = calloc(1, sizeof(*sb));
	same = sa && sb && decode_ranges(ef, (const uint64_t(*)[2])r, 1, shape_insn, sa) == 0 &&
	       decode_ranges(ef, (const uint64_t(*)[2])(r + 1), 1, shape_insn, sb) == 0 &&
	       !sa->over && !sb->over && sa->n == sb->n && sa->n > 0 &&
	       !memcmp(sa->ids, sb->ids, sizeof(sa->ids[0]) * (size_t)sa->n) &&
	       !memcmp(sa->sizes, sb->sizes, (size_t)sa->n);
	free(sa);
	free(sb);
	return same;
}

bool elf_file__func_branches_to(struct elf_file *ef, uint64_t func, uint64_t target)
{
	uint64_t r[1][2];

	if (elf_file__fde_range(ef, func, &r[0][0], &r[0][1], NULL) || r[0][0] != func)
		return false;
	return elf_file__calls_to_in(ef, &target, 1, (const uint64_t(*)[2])r, 1, NULL, 0) > 0;
}

int elf_file__data_pointer(const struct elf_file *ef, uint64_t vaddr, uint64_t *value)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	/* a position-independent file: the dynamic relocation of the slot */
	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		Elf_Data *data, *symdata = NULL;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		n = data->d_size / sh.sh_entsize;
		for (size_t i = 0; i < n && i <= INT32_MAX; i++) {
			GElf_Rela r;
			GElf_Sym sym;

			if (!gelf_getrela(data, (int)i, &r))
				break;
			if (r.r_offset != vaddr)
				continue;
			if (GELF_R_TYPE(r.r_info) == R_X86_64_RELATIVE) {
				*value = (uint64_t)r.r_addend;
				return 0;
			}
			/* a symbol's address (a GOT entry: GLOB_DAT) */
			if (GELF_R_TYPE(r.r_info) != R_X86_64_64 &&
			    GELF_R_TYPE(r.r_info) != R_X86_64_GLOB_DAT)
				return -ENOENT;
			if (!symdata) {
				Elf_Scn *ss = elf_getscn(ef->elf, sh.sh_link);

				symdata = ss ? elf_getdata(ss, NULL) : NULL;
			}
			if (!symdata || GELF_R_SYM(r.r_info) > INT32_MAX ||
			    !gelf_getsym(symdata, (int)GELF_R_SYM(r.r_info), &sym) ||
			    sym.st_shndx == SHN_UNDEF)
				return -ENOENT;
			*value = sym.st_value + (uint64_t)r.r_addend;
			return 0;
		}
	}
	/* else what the file holds there */
	if (elf_file__read_u64(ef, vaddr, value))
		return -ENOENT;
	return *value ? 0 : -ENOENT;
}

struct parts_scan {
	uint64_t lo, hi;
	uint64_t (*out)[2];
	size_t max;
	long n;
};

static int parts_insn(struct code_walk *w, const cs_insn *in, void *ctx)
{
	struct parts_scan *ps = ctx;
	uint64_t t, lo, hi;
	bool call, entry;

	t = insn_branch(in, &call);
	if (!t || call || (t >= ps->lo && t < ps->hi) ||
	    elf_file__fde_range(w->ef, t, &lo, &hi, &entry) || (t == lo && entry))
		return 0;
	for (long i = 0; i < ps->n && (size_t)i < ps->max; i++)
		if (ps->out[i][0] == lo)
			return 0;
	if ((size_t)ps->n < ps->max) {
		ps->out[ps->n][0] = lo;
		ps->out[ps->n][1] = hi;
		ps->n++;
	}
	return 0;
}

long elf_file__func_parts(struct elf_file *ef, uint64_t func, uint64_t (*out)[2], size_t max)
{
	struct parts_scan ps = {.out = out, .max = max};
	int err;

	if (!max)
		return -EINVAL;
	if (elf_file__fde_range(ef, func, &ps.lo, &ps.hi, NULL) || ps.lo != func)
		return -ENOENT;
	out[0][0] = ps.lo;
	out[0][1] = ps.hi;
	ps.n = 1;
	err = decode_ranges(ef, (const uint64_t(*)[2])out, 1, parts_insn, &ps);
	return err < 0 ? err : ps.n;
}

bool elf_file__is_exported_func(const struct elf_file *ef, uint64_t vaddr)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		Elf_Data *data;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		if (!(data = elf_getdata(scn, NULL)) || !data->d_buf)
			continue;
		n = data->d_size / sh.sh_entsize;
		for (size_t i = 1; i < n && i <= INT32_MAX; i++) {
			GElf_Sym sym;

			if (gelf_getsym(data, (int)i, &sym) && sym.st_value == vaddr &&
			    sym.st_shndx != SHN_UNDEF && GELF_ST_TYPE(sym.st_info) == STT_FUNC)
				return true;
		}
	}
	return false;
}
