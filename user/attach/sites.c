// SPDX-License-Identifier: MIT
/*
 * Probe-site chooser: the first instruction of a prologue that the kernel
 * emulates, where the attached program still sees the entry's state.
 * See sites.h for the rules and why each one is needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <capstone/capstone.h>

#include "regs.h"
#include "attach/sites.h"
#include "util/grow.h"

/* A prologue longer than this is not worth walking: the site would be deep
 * into the function, and the argument registers are usually reused by then. */
#define SITE_MAX_INSNS 24
/* How far to walk a function symbol that has no size. */
#define SITE_NOSIZE_BYTES 64

/* General registers in x86 encoding order. */
enum gpr {
	GPR_AX,
	GPR_CX,
	GPR_DX,
	GPR_BX,
	GPR_SP,
	GPR_BP,
	GPR_SI,
	GPR_DI,
	GPR_R8,
	GPR_R9,
	GPR_R10,
	GPR_R11,
	GPR_R12,
	GPR_R13,
	GPR_R14,
	GPR_R15,
	GPR_NONE = -1,
};

static const char *const gpr_names[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

/* Each general register and its parts: a write to eax or al changes what
 * rax holds. Indexed by enum gpr. */
static const unsigned gpr_parts[16][5] = {
    {X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH},
    {X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH},
    {X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH},
    {X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH},
    {X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL},
    {X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL},
    {X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL},
    {X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL},
    {X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B},
    {X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B},
    {X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B},
    {X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B},
    {X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B},
    {X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B},
    {X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B},
    {X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B},
};

/* The full general register a capstone register is (part of), or GPR_NONE. */
static int gpr_of(unsigned reg)
{
	if (reg == X86_REG_INVALID)
		return GPR_NONE;
	for (int g = 0; g < 16; g++)
		for (int i = 0; i < 5; i++)
			if (gpr_parts[g][i] == reg)
				return g;
	return GPR_NONE;
}

/* enum gpr (the encoding's order) to DWARF's numbering */
static const int gpr_dwarf[16] = {0, 2, 1, 3, 7, 6, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15};

int x86_gpr_dwarf(unsigned reg)
{
	int g = gpr_of(reg);

	return g == GPR_NONE ? -1 : gpr_dwarf[g];
}

int x86_gpr64_dwarf(unsigned reg)
{
	int g = gpr_of(reg);

	/* a register's full 64 bits come first among its parts */
	return g == GPR_NONE || gpr_parts[g][0] != reg ? -1 : gpr_dwarf[g];
}

int addr_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* enum pm_reg bits to a mask of enum gpr bits. */
static uint32_t gprs_of_pm_regs(uint32_t pm)
{
	static const int map[PM_REG_MAX] = {
	    [PM_REG_DI] = GPR_DI,   [PM_REG_SI] = GPR_SI,   [PM_REG_DX] = GPR_DX,
	    [PM_REG_CX] = GPR_CX,   [PM_REG_R8] = GPR_R8,   [PM_REG_R9] = GPR_R9,
	    [PM_REG_AX] = GPR_AX,   [PM_REG_BX] = GPR_BX,   [PM_REG_BP] = GPR_BP,
	    [PM_REG_R10] = GPR_R10, [PM_REG_R11] = GPR_R11, [PM_REG_R12] = GPR_R12,
	    [PM_REG_R13] = GPR_R13, [PM_REG_R14] = GPR_R14, [PM_REG_R15] = GPR_R15,
	};
	uint32_t m = 0;

	for (int i = 0; i < PM_REG_MAX; i++)
		if (pm & (1u << i))
			m |= 1u << map[i];
	return m;
}

struct site_needs site_needs__args(int n, bool uretprobe)
{
	static const enum pm_reg order[] = {PM_REG_DI, PM_REG_SI, PM_REG_DX,
					    PM_REG_CX, PM_REG_R8, PM_REG_R9};
	struct site_needs nd = {.stack = uretprobe || n > 6};

	for (int i = 0; i < n && i < 6; i++)
		nd.regs |= 1u << order[i];
	return nd;
}

const char *site_cost__name(enum site_cost c)
{
	return c == SITE_EMULATED ? "emulated" : "single-step";
}

/* The kernel's x86-64 nop table (arch/x86/include/asm/nops.h): older 6.x
 * kernels emulate exactly these byte strings (newer ones any NOP/NOPL, a
 * superset), so only these are taken as emulated. */
static const uint8_t kernel_nops[9][8] = {
    [1] = {0x90},
    [2] = {0x66, 0x90},
    [3] = {0x0f, 0x1f, 0x00},
    [4] = {0x0f, 0x1f, 0x40, 0x00},
    [5] = {0x0f, 0x1f, 0x44, 0x00, 0x00},
    [6] = {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
    [7] = {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
    [8] = {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
};

bool site_insn_is_emulated(const uint8_t *b, size_t len)
{
	if (!b || len == 0)
		return false;
	if (len <= 8 && !memcmp(b, kernel_nops[len], len))
		return true;
	/* push r64; with REX the kernel takes only 41 (r8-r15) */
	if (len == 1 && b[0] >= 0x50 && b[0] <= 0x57)
		return true;
	if (len == 2 && b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57)
		return true;
	/* relative branches, without prefixes: the kernel refuses 66 on them,
	 * and a segment or lock prefix makes the instruction unprobeable */
	if (len == 2 && (b[0] == 0xeb || (b[0] >= 0x70 && b[0] <= 0x7f)))
		return true;
	if (len == 5 && (b[0] == 0xe8 || b[0] == 0xe9))
		return true;
	if (len == 6 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f)
		return true;
	return false;
}

static int32_t rd_s32(const uint8_t *p)
{
	uint32_t v =
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

	return (int32_t)v;
}

/* Where the rel32 jmp/call/jcc whose bytes would start at code[i] goes
 * (code is loaded at vaddr); false if those bytes are no such branch. */
static bool rel32_target(const uint8_t *code, size_t len, uint64_t vaddr, size_t i, uint64_t *t)
{
	if ((code[i] == 0xe8 || code[i] == 0xe9) && i + 5 <= len)
		*t = vaddr + i + 5 + (int64_t)rd_s32(code + i + 1);
	else if (code[i] == 0x0f && i + 6 <= len && (code[i + 1] & 0xf0) == 0x80)
		*t = vaddr + i + 6 + (int64_t)rd_s32(code + i + 2);
	else
		return false;
	return true;
}

bool sites__rel32_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t from,
			  uint64_t to)
{
	for (size_t i = 0; i + 5 <= len; i++) {
		uint64_t t;

		if (rel32_target(code, len, vaddr, i, &t) && t >= from && t <= to)
			return true;
	}
	return false;
}

static void insn_text(const cs_insn *in, char *buf, size_t len)
{
	if (in->op_str[0])
		snprintf(buf, len, "%.15s %.47s", in->mnemonic, in->op_str);
	else
		snprintf(buf, len, "%.31s", in->mnemonic);
}

static bool is_control_flow(csh h, const cs_insn *in)
{
	switch (in->id) {
	case X86_INS_SYSCALL:
	case X86_INS_SYSENTER:
	case X86_INS_UD2:
	case X86_INS_HLT:
	case X86_INS_INT3:
		return true;
	default:
		break;
	}
	return cs_insn_group(h, in, X86_GRP_JUMP) || cs_insn_group(h, in, X86_GRP_CALL) ||
	       cs_insn_group(h, in, X86_GRP_RET) || cs_insn_group(h, in, X86_GRP_INT) ||
	       cs_insn_group(h, in, X86_GRP_IRET) || cs_insn_group(h, in, X86_GRP_BRANCH_RELATIVE);
}

/*
 * Whether the site may lie past this instruction: it must fall through to
 * the next one and leave what the program reads as it was. Says why not.
 */
static bool passable(csh h, const cs_insn *in, uint32_t gprs, bool stack, char *why, size_t len)
{
	const cs_x86 *x = &in->detail->x86;
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;
	char text[64];

	insn_text(in, text, sizeof(text));
	if (is_control_flow(h, in)) {
		snprintf(why, len, "branch before any emulated instruction (%s)", text);
		return false;
	}
	if (cs_regs_access(h, in, rd, &nrd, wr, &nwr) != CS_ERR_OK) {
		snprintf(why, len, "cannot tell what %s writes", text);
		return false;
	}
	for (int i = 0; i < nwr; i++) {
		int g = gpr_of(wr[i]);

		if (g == GPR_NONE)
			continue;
		if (gprs & (1u << g)) {
			snprintf(why, len, "%s writes %s, which the program reads", text,
				 gpr_names[g]);
			return false;
		}
		if (g == GPR_SP && stack) {
			snprintf(why, len, "%s moves rsp (return address / stack arguments)", text);
			return false;
		}
	}
	/* belt and braces: the stack instructions, whatever the tables say */
	if (stack && (in->id == X86_INS_PUSH || in->id == X86_INS_POP || in->id == X86_INS_ENTER ||
		      in->id == X86_INS_LEAVE)) {
		snprintf(why, len, "%s moves rsp (return address / stack arguments)", text);
		return false;
	}
	if (in->id == X86_INS_PUSH)
		return true;
	for (int i = 0; i < x->op_count; i++) {
		if (x->operands[i].type == X86_OP_MEM && (x->operands[i].access & CS_AC_WRITE)) {
			snprintf(why, len, "%s stores to memory", text);
			return false;
		}
	}
	/* string stores and the like name no memory operand in some tables */
	if (x->prefix[0] == X86_PREFIX_REP || x->prefix[0] == X86_PREFIX_REPNE ||
	    in->id == X86_INS_STOSB || in->id == X86_INS_STOSW || in->id == X86_INS_STOSD ||
	    in->id == X86_INS_STOSQ || in->id == X86_INS_MOVSB || in->id == X86_INS_MOVSQ) {
		snprintf(why, len, "%s may store to memory", text);
		return false;
	}
	return true;
}

/* Whether a direct branch inside the function lands in [from, to]. A linear
 * sweep: compilers put no data in x86-64 code, and an undecodable byte is
 * skipped (which can only add spurious targets). */
static bool branch_into(csh h, cs_insn *in, const uint8_t *code, size_t len, uint64_t vaddr,
			uint64_t from, uint64_t to)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t addr = vaddr;

	while (left > 0) {
		if (!cs_disasm_iter(h, &p, &left, &addr, in)) {
			p++;
			left--;
			addr++;
			continue;
		}
		if (!cs_insn_group(h, in, X86_GRP_JUMP) && !cs_insn_group(h, in, X86_GRP_CALL))
			continue;
		const cs_x86 *x = &in->detail->x86;

		if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
			uint64_t t = (uint64_t)x->operands[0].imm;

			if (t >= from && t <= to)
				return true;
		}
	}
	return false;
}

static void at_entry(struct site_choice *out, uint64_t file_offset)
{
	out->offset = file_offset;
	out->delta = 0;
	out->cost = out->entry_cost;
	snprintf(out->insn, sizeof(out->insn), "%s", out->entry_insn);
}

int sites__choose_code(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t file_offset,
		       const struct site_needs *needs, struct site_choice *out)
{
	static const struct site_needs none;
	const uint8_t *p = code;
	size_t left = len;
	uint64_t addr = vaddr;
	uint32_t gprs;
	cs_insn *in;
	csh h;
	int n = 0;
	bool found = false;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->offset = file_offset;
	out->entry_cost = SITE_SINGLE_STEP;
	snprintf(out->entry_insn, sizeof(out->entry_insn), "(undecodable)");
	snprintf(out->insn, sizeof(out->insn), "(undecodable)");
	if (!code && len)
		return -EINVAL;
	if (!needs)
		needs = &none;
	gprs = gprs_of_pm_regs(needs->regs);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	if (!in) {
		cs_close(&h);
		return -ENOMEM;
	}

	snprintf(out->why, sizeof(out->why), "nothing decodable at the entry");
	while (cs_disasm_iter(h, &p, &left, &addr, in)) {
		uint64_t off = in->address - vaddr;
		bool emu = site_insn_is_emulated(in->bytes, in->size);

		if (n == 0) {
			out->entry_cost = emu ? SITE_EMULATED : SITE_SINGLE_STEP;
			insn_text(in, out->entry_insn, sizeof(out->entry_insn));
		}
		if (emu) {
			out->delta = off;
			out->cost = SITE_EMULATED;
			insn_text(in, out->insn, sizeof(out->insn));
			out->why[0] = '\0';
			found = true;
			break;
		}
		if (!passable(h, in, gprs, needs->stack, out->why, sizeof(out->why)))
			break;
		if (++n >= SITE_MAX_INSNS) {
			snprintf(out->why, sizeof(out->why),
				 "no emulated instruction in the first %d", SITE_MAX_INSNS);
			break;
		}
		/* the decoder stops short of an instruction that would cross
		 * the end, and on bytes that are no instruction */
		if (left == 0)
			snprintf(out->why, sizeof(out->why), "the function ends at +%llu",
				 (unsigned long long)(addr - vaddr));
		else
			snprintf(out->why, sizeof(out->why),
				 "no instruction decodes at +%llu (invalid, or it crosses the "
				 "function's end)",
				 (unsigned long long)(addr - vaddr));
	}
	if (found && out->delta > 0 &&
	    branch_into(h, in, code, len, vaddr, vaddr + 1, vaddr + out->delta)) {
		snprintf(out->why, sizeof(out->why),
			 "a branch in the function lands between the entry and +%llu",
			 (unsigned long long)out->delta);
		found = false;
	}
	if (found)
		out->offset = file_offset + out->delta;
	else
		at_entry(out, file_offset);
	cs_free(in, 1);
	cs_close(&h);
	return 0;
}

/* The next section of e holding code (from scn, NULL for the first) and
 * its contents; NULL at the end. Sections whose contents cannot be read are
 * skipped. */
static Elf_Scn *next_code_section(Elf *e, Elf_Scn *scn, GElf_Shdr *sh, Elf_Data **d)
{
	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, sh) || sh->sh_type != SHT_PROGBITS ||
		    !(sh->sh_flags & SHF_EXECINSTR))
			continue;
		*d = elf_getdata(scn, NULL);
		if (*d && (*d)->d_buf)
			return scn;
	}
	return NULL;
}

/*
 * Open path for reading its code: fd and an ELF handle, or NULL with *err
 * set. Not mmap: a uprobe registered for every process of this file arms
 * any private mapping of it that could be executable, ours included, and
 * the code would read as int3. read(2) sees the page cache.
 */
static Elf *elf_open_read(const char *path, int *fd, int *err)
{
	Elf *e;

	*fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		*err = -EINVAL;
		return NULL;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		*err = -errno;
		return NULL;
	}
	e = elf_begin(*fd, ELF_C_READ, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		if (e)
			elf_end(e);
		close(*fd);
		*fd = -1;
		*err = -ENOEXEC;
		return NULL;
	}
	return e;
}

int sites__choose_file(const char *path, uint64_t vaddr, uint64_t size, uint64_t file_offset,
		       const struct site_needs *needs, struct site_choice *out)
{
	Elf_Scn *scn = NULL;
	const uint8_t *code = NULL;
	size_t len = 0;
	Elf *e = NULL;
	int fd, err = -ENOENT;

	if (!path || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->offset = file_offset;
	snprintf(out->insn, sizeof(out->insn), "(not read)");
	snprintf(out->entry_insn, sizeof(out->entry_insn), "(not read)");
	e = elf_open_read(path, &fd, &err);
	if (!e)
		return err;
	err = -ENOENT;
	GElf_Shdr sh;
	Elf_Data *d;

	while ((scn = next_code_section(e, scn, &sh, &d))) {
		if (vaddr < sh.sh_addr || vaddr >= sh.sh_addr + sh.sh_size)
			continue;
		if (d->d_size < sh.sh_size) {
			err = -EIO;
			goto out;
		}
		code = (const uint8_t *)d->d_buf + (vaddr - sh.sh_addr);
		len = sh.sh_addr + sh.sh_size - vaddr;
		break;
	}
	if (!code)
		goto out;
	if (size == 0)
		size = SITE_NOSIZE_BYTES;
	if (len > size)
		len = size;
	err = sites__choose_code(code, len, vaddr, file_offset, needs, out);
	if (err || out->delta == 0)
		goto out;

	/* a branch from elsewhere (a .cold part, another function) into the
	 * walked prologue would run the site without the entry */
	scn = NULL;
	while ((scn = next_code_section(e, scn, &sh, &d))) {
		if (sites__rel32_targets(d->d_buf, d->d_size, sh.sh_addr, vaddr + 1,
					 vaddr + out->delta)) {
			snprintf(out->why, sizeof(out->why),
				 "a rel32 branch in the file may land between the entry and +%llu",
				 (unsigned long long)out->delta);
			at_entry(out, file_offset);
			break;
		}
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return err;
}

/* ---- sites in the middle of code: inlined copies ---- */

struct site_sec {
	uint64_t addr;
	uint8_t *bytes;
	size_t len;
};

struct site_file {
	struct site_sec *secs;
	size_t nsecs;
	uint64_t *targets; /* sorted: where a branch may land */
	size_t ntargets, cap;
};

static int targets_push(struct site_file *f, uint64_t t)
{
	if (f->ntargets == f->cap) {
		uint64_t *nt = PM_GROW(f->targets, &f->cap, f->ntargets + 1, 65536);

		if (!nt)
			return -ENOMEM;
		f->targets = nt;
	}
	f->targets[f->ntargets++] = t;
	return 0;
}

static bool in_code(const struct site_file *f, uint64_t v)
{
	for (size_t i = 0; i < f->nsecs; i++)
		if (v >= f->secs[i].addr && v < f->secs[i].addr + f->secs[i].len)
			return true;
	return false;
}

/*
 * Where an indirect jump may land, as far as the file shows it: every
 * address of code that data holds, as an R_X86_64_RELATIVE relocation's
 * addend (a position-independent binary's tables of code addresses, such
 * as the computed gotos of the bytecode loop) or as an aligned 8-byte
 * value in a data section (the same tables in a fixed-address binary).
 * Jump tables of 32-bit offsets are not seen (sites.h).
 */
static int scan_code_pointers(struct site_file *f, Elf *e)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(e, scn))) {
		Elf_Data *d;
		int err = 0;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC) ||
		    (sh.sh_flags & SHF_EXECINSTR) ||
		    (sh.sh_type != SHT_RELA && sh.sh_type != SHT_PROGBITS))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf)
			continue;
		if (sh.sh_type == SHT_RELA) {
			size_t n = sh.sh_entsize ? d->d_size / sh.sh_entsize : 0;

			for (size_t i = 0; i < n && !err; i++) {
				GElf_Rela r;

				if (gelf_getrela(d, (int)i, &r) &&
				    GELF_R_TYPE(r.r_info) == R_X86_64_RELATIVE &&
				    in_code(f, (uint64_t)r.r_addend))
					err = targets_push(f, (uint64_t)r.r_addend);
			}
		} else {
			for (size_t i = (8 - sh.sh_addr % 8) % 8; i + 8 <= d->d_size && !err;
			     i += 8) {
				uint64_t v;

				memcpy(&v, (const uint8_t *)d->d_buf + i, 8);
				if (in_code(f, v))
					err = targets_push(f, v);
			}
		}
		if (err)
			return err;
	}
	return 0;
}

/*
 * Every address a direct branch of the file may reach: a byte scan for
 * rel32 jmp/call/jcc and rel8 jmp/jcc/loop/jrcxz, at every byte offset, so
 * that no real one is missed (most hits are other bytes; they only make
 * the chooser keep more sites where they are).
 */
static int scan_targets(struct site_file *f)
{
	for (size_t s = 0; s < f->nsecs; s++) {
		const uint8_t *c = f->secs[s].bytes;
		size_t len = f->secs[s].len;
		uint64_t base = f->secs[s].addr;

		for (size_t i = 0; i + 2 <= len; i++) {
			uint64_t t[2];
			int n = 0;
			uint8_t b = c[i];

			if (b == 0xeb || (b >= 0x70 && b <= 0x7f) || (b >= 0xe0 && b <= 0xe3))
				t[n++] = base + i + 2 + (int64_t)(int8_t)c[i + 1];
			if (rel32_target(c, len, base, i, &t[n]))
				n++;
			for (int k = 0; k < n; k++)
				if (targets_push(f, t[k]))
					return -ENOMEM;
		}
	}
	return 0;
}

/* Whether a target lies in [from, to]. */
static bool targets_in(const struct site_file *f, uint64_t from, uint64_t to)
{
	size_t lo = 0, hi = f->ntargets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->targets[mid] < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->ntargets && f->targets[lo] <= to;
}

void site_file__close(struct site_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nsecs; i++)
		free(f->secs[i].bytes);
	free(f->secs);
	free(f->targets);
	free(f);
}

struct site_file *site_file__open(const char *path)
{
	struct site_file *f = calloc(1, sizeof(*f));
	Elf_Scn *scn = NULL;
	Elf *e = NULL;
	int fd = -1, err = 0;

	if (!f) {
		err = -ENOMEM;
		goto out;
	}
	e = elf_open_read(path, &fd, &err);
	if (!e)
		goto out;
	GElf_Shdr sh;
	Elf_Data *d;

	while ((scn = next_code_section(e, scn, &sh, &d))) {
		struct site_sec *ns;

		if (d->d_size < sh.sh_size)
			continue;
		ns = realloc(f->secs, (f->nsecs + 1) * sizeof(*ns));
		if (!ns) {
			err = -ENOMEM;
			goto out;
		}
		f->secs = ns;
		ns[f->nsecs].addr = sh.sh_addr;
		ns[f->nsecs].len = sh.sh_size;
		ns[f->nsecs].bytes = malloc(sh.sh_size ? sh.sh_size : 1);
		if (!ns[f->nsecs].bytes) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(ns[f->nsecs].bytes, d->d_buf, sh.sh_size);
		f->nsecs++;
	}
	err = scan_targets(f);
	if (!err)
		err = scan_code_pointers(f, e);
	if (!err)
		qsort(f->targets, f->ntargets, sizeof(*f->targets), addr_cmp);
out:
	if (e)
		elf_end(e);
	if (fd >= 0)
		close(fd);
	if (err) {
		site_file__close(f);
		errno = -err;
		return NULL;
	}
	return f;
}

int site_file__choose(const struct site_file *f, uint64_t vaddr, uint64_t file_offset,
		      const struct site_needs *needs, struct site_choice *out)
{
	for (size_t i = 0; i < f->nsecs; i++) {
		const struct site_sec *s = &f->secs[i];
		size_t len;
		int err;

		if (vaddr < s->addr || vaddr >= s->addr + s->len)
			continue;
		len = s->addr + s->len - vaddr;
		if (len > SITE_NOSIZE_BYTES)
			len = SITE_NOSIZE_BYTES;
		err = sites__choose_code(s->bytes + (vaddr - s->addr), len, vaddr, file_offset,
					 needs, out);
		if (!err && out->delta && targets_in(f, vaddr + 1, vaddr + out->delta)) {
			snprintf(out->why, sizeof(out->why),
				 "a branch in the file may land between the entry and +%llu",
				 (unsigned long long)out->delta);
			at_entry(out, file_offset);
		}
		return err;
	}
	return -ENOENT;
}
