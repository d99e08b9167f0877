/* SPDX-License-Identifier: MIT */
/*
 * Where to put an entry probe so that the kernel emulates the probed
 * instruction instead of single-stepping it.
 *
 * A uprobe hit on x86-64 costs one breakpoint trap plus, for most
 * instructions, an out-of-line single step (a second trap). The kernel
 * skips that step for a few instructions it can emulate: the canonical
 * nops, push of a general register, jmp/call rel and jcc rel. On a VM the
 * step is by far the larger part (see docs/performance.md), so a probe on
 * the first such instruction of a function's prologue is much cheaper than
 * one on its first instruction (often endbr64 or a mov), provided the
 * program attached there still sees what it would have seen at the entry.
 *
 * The chooser decodes the prologue (capstone), walks the straight-line
 * instructions from the entry and stops at the first emulated one whose
 * predecessors
 *   - do not branch, call or return,
 *   - do not write any register the program reads (sub-registers count),
 *   - do not store to memory (push excepted: it writes below the stack
 *     pointer, where nothing the program reads can live),
 *   - do not move the stack pointer or overwrite the return address, when
 *     the site also carries a uretprobe (which reads it at the hit) or the
 *     program reads arguments passed on the stack;
 * and which no direct branch (in the function or, by a byte scan for rel32
 * branches, anywhere in the file's executable sections) enters between the
 * entry and the site: otherwise the site could run without the entry, or
 * twice per call. Anything else keeps the entry. Indirect jumps into a
 * prologue are assumed not to exist (compilers do not emit them).
 */
#ifndef PYMAC_SITES_H
#define PYMAC_SITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum site_cost {
	SITE_SINGLE_STEP = 0, /* trap + out-of-line single step */
	SITE_EMULATED = 1,    /* trap only: the kernel emulates the instruction */
};

/* What the program attached at the site needs to find as at the entry. */
struct site_needs {
	/* registers it reads, as (1u << enum pm_reg) bits (bpf/regs.h) */
	uint32_t regs;
	/* a uretprobe shares the site, or stack-passed arguments are read:
	 * rsp and the return address at [rsp] must be untouched */
	bool stack;
};

/* The needs of an entry probe reading the first n integer arguments
 * (rdi, rsi, rdx, rcx, r8, r9), with or without a uretprobe on the site. */
struct site_needs site_needs__args(int n, bool uretprobe);

struct site_choice {
	uint64_t offset;     /* file offset to attach at */
	uint64_t delta;	     /* bytes past the function's entry (0: the entry) */
	enum site_cost cost; /* of the chosen site */
	char insn[64];	     /* the chosen instruction, e.g. "push rbp" */
	enum site_cost entry_cost;
	char entry_insn[64]; /* the function's first instruction */
	char why[128];	     /* when at the entry: why no later site was taken */
};

const char *site_cost__name(enum site_cost c); /* "emulated" / "single-step" */

/*
 * Whether the kernel emulates this one instruction (given as its bytes,
 * exactly one instruction long) rather than single-stepping it. Only the
 * encodings that every 6.x kernel emulates count: the kernel's own nop
 * table (1-8 bytes), push r64 (opcode 50-57, alone or with REX 41), and
 * jmp rel8/rel32, call rel32, jcc rel8/rel32 without any prefix.
 */
bool site_insn_is_emulated(const uint8_t *insn, size_t len);

/*
 * Choose within the code of one function: code holds the function's bytes
 * (len = its size; an instruction that would run past it is not decoded),
 * vaddr its address, file_offset the file offset of vaddr. Checks branches
 * inside the function only (see sites__choose_file for the whole file).
 * Always fills out (falling back to the entry); returns 0, or -EINVAL.
 */
int sites__choose_code(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t file_offset,
		       const struct site_needs *needs, struct site_choice *out);

/*
 * The same on a function of an ELF file (path may be /proc/PID/root/... or
 * /proc/self/fd/N): reads the function's bytes from its section and also
 * rejects a site that a rel32 jmp/call/jcc anywhere in the file's
 * executable sections enters. vaddr/size/file_offset are the function
 * symbol's (struct elf_func's vaddr, size, offset). A size of 0 (an
 * assembler symbol without size) limits the walk to 64 bytes.
 * On an error (-errno; -ENOENT: vaddr is in no executable section) out
 * still holds the entry, cost unknown (single-step).
 */
int sites__choose_file(const char *path, uint64_t vaddr, uint64_t size, uint64_t file_offset,
		       const struct site_needs *needs, struct site_choice *out);

/* Whether any rel32 jmp/call/jcc (e8, e9, 0f 80-8f) in code, which is
 * loaded at vaddr, lands in [from, to]. A byte scan, so it can also
 * report bytes that are not such an instruction: callers treat a hit as
 * "maybe" and stay conservative. */
bool sites__rel32_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t from,
			  uint64_t to);

/*
 * The same for code that is not a function's start: the inlined copies of
 * a function that DWARF locates in the middle of other functions. The file
 * is read once; every address a branch of the file may reach is kept (a
 * byte scan for rel8 and rel32 branches, and the code addresses that data
 * holds: RELATIVE relocations' addends and aligned 8-byte values, which
 * covers tables of labels such as the bytecode loop's computed gotos), and
 * a site is moved past the copy's first instruction only when none lands
 * between the two. Jump tables of 32-bit offsets (switch statements in
 * position-independent code) are not seen; their targets are assumed not
 * to lie inside the few straight-line instructions walked.
 */
struct site_file;
struct site_file *site_file__open(const char *path); /* NULL + errno */
void site_file__close(struct site_file *f);
/* Choose for the code at vaddr (file offset file_offset), walking at most 64
 * bytes. 0, or -ENOENT (vaddr in no executable section), -EINVAL. */
int site_file__choose(const struct site_file *f, uint64_t vaddr, uint64_t file_offset,
		      const struct site_needs *needs, struct site_choice *out);

/* The 64-bit general register a capstone x86 register is (part of: eax
 * and al are rax), as its DWARF number (rax 0, rdx 1, rcx 2, rbx 3, rsi 4,
 * rdi 5, rbp 6, rsp 7, r8-r15 8-15), or -1. */
int x86_gpr_dwarf(unsigned reg);
/* The same for a 64-bit general register only (rax, not eax or al); -1 for others. */
int x86_gpr64_dwarf(unsigned reg);
/* The order of two uint64_t (addresses), for qsort and bsearch. */
int addr_cmp(const void *a, const void *b);

#endif /* PYMAC_SITES_H */
