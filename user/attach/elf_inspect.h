/* SPDX-License-Identifier: MIT */
/*
 * Reading what pymac needs from an ELF binary: function symbols (.symtab and
 * .dynsym), their file offsets for uprobes, USDT (stapsdt) notes, build-id,
 * a count of direct call sites of a function, and where DWARF says a
 * parameter lives at a function's entry.
 */
#ifndef PYMAC_ELF_INSPECT_H
#define PYMAC_ELF_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_file;

struct elf_func {
	char name[128];	  /* full symbol name, e.g. "collect.constprop.0" */
	uint64_t vaddr;	  /* st_value */
	uint64_t size;	  /* st_size */
	uint64_t offset;  /* file offset of vaddr (what uprobes take) */
	bool global;	  /* STB_GLOBAL/STB_WEAK (else local) */
	bool from_symtab; /* found in .symtab (else .dynsym) */
	bool ifunc;	  /* STT_GNU_IFUNC: vaddr is the resolver, not the code */
};

struct usdt_note {
	char provider[64];
	char name[64];
	uint64_t pc;	    /* address of the probe (as in the note) */
	uint64_t base;	    /* .stapsdt.base address in the note */
	uint64_t semaphore; /* 0 if none */
	char args[256];	    /* argument spec, e.g. "-4@112(%rsp)" */
};

/* Open an ELF file (path may go through /proc/PID/root). NULL + errno;
 * a file that is not ELF gives ENOEXEC. */
struct elf_file *elf_file__open(const char *path);
/* Same, from a memory buffer (copied). For tests and fuzzing. */
struct elf_file *elf_file__open_mem(const void *buf, size_t len);
void elf_file__close(struct elf_file *ef);

bool elf_file__has_symtab(const struct elf_file *ef);
bool elf_file__is_64bit_x86(const struct elf_file *ef);
/* ET_DYN/ET_EXEC with a PT_INTERP (dynamically linked program) */
bool elf_file__has_interp(const struct elf_file *ef);

/* A defined function symbol by exact name; .symtab first, then .dynsym.
 * 0, or -ENOENT. A name that only exists as an STT_GNU_IFUNC (whose address
 * is a resolver run once by ld.so, useless to probe) fills *out with
 * out->ifunc set and returns -EOPNOTSUPP. */
int elf_file__find_func(const struct elf_file *ef, const char *name, struct elf_func *out);
/* The function symbol (not an IFUNC) that starts at vaddr: .symtab first.
 * 0 or -ENOENT. */
int elf_file__func_at(const struct elf_file *ef, uint64_t vaddr, struct elf_func *out);
/* Every defined function named `base` or `base.<suffix>` (GCC clones such as
 * .constprop.0, .isra.0, .part.0), deduplicated by address. Returns the
 * number found (possibly more than max; only max are stored). */
int elf_file__find_func_clones(const struct elf_file *ef, const char *base, struct elf_func *out,
			       int max);
/* The address of the data object `name` (a static variable: .symtab, then
 * .dynsym), also when LTO renamed it "name.lto_priv.N". 0, -ENOENT, or
 * -ENOTUNIQ when several objects of that name live at different addresses
 * (two files' statics: which one is meant cannot be told). */
int elf_file__find_object(const struct elf_file *ef, const char *name, uint64_t *vaddr);
/* Convert a virtual address to a file offset using PT_LOAD headers.
 * 0, or -ENOENT if no segment holds it. */
int elf_file__vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr, uint64_t *offset);

/* USDT notes from .note.stapsdt. Returns the number of notes (possibly more
 * than max; only max stored), or a negative errno. */
int elf_file__usdt_notes(const struct elf_file *ef, struct usdt_note *out, int max);
/* Find one note by provider and name. 0 or -ENOENT. */
int elf_file__find_usdt(const struct elf_file *ef, const char *provider, const char *name,
			struct usdt_note *out);

/* GNU build-id as lowercase hex. 0 or -ENOENT. */
int elf_file__build_id(const struct elf_file *ef, char *hex, size_t len);
/* DT_NEEDED entries: returns count (only max stored). names point into
 * storage owned by ef. */
int elf_file__needed(const struct elf_file *ef, const char **out, int max);

/* Count direct `call rel32` / `jmp rel32` instructions in executable
 * sections whose target is vaddr, or a PLT stub of this file bound to the
 * function at vaddr (a shared library built without
 * -fno-semantic-interposition calls its own exported functions through its
 * PLT). A byte scan: a cheap signal of whether the function is really called
 * inside this binary or was inlined (LTO). x86-64 only.
 * Returns the count or a negative errno. */
long elf_file__count_direct_calls(const struct elf_file *ef, uint64_t vaddr);

struct elf_call_count {
	long direct;	/* call/jmp rel32 straight to vaddr */
	long via_plt;	/* call/jmp rel32 to one of the PLT stubs below */
	long plt_stubs; /* PLT stubs whose GOT slot is relocated to vaddr's symbol */
};
/* The same count, split. 0 or a negative errno. */
int elf_file__count_calls(const struct elf_file *ef, uint64_t vaddr, struct elf_call_count *out);
/* The PLT stubs of this file bound to the function at vaddr (callers jump to
 * these addresses). Returns how many (only max stored) or a negative errno. */
int elf_file__plt_stubs(const struct elf_file *ef, uint64_t vaddr, uint64_t *out, size_t max);
/* The addresses of the `call rel32` / `jmp rel32` byte patterns in executable
 * sections whose target is one of targets[0..n) (a byte scan: decode them
 * to be sure). Returns how many (only max stored) or a negative errno. */
long elf_file__rel32_sources(const struct elf_file *ef, const uint64_t *targets, size_t n,
			     uint64_t *out, size_t max);
/* The same, counting only instructions at addresses in [from, to): the calls
 * one function makes. */
int elf_file__count_calls_in(const struct elf_file *ef, uint64_t vaddr, uint64_t from, uint64_t to,
			     struct elf_call_count *out);

/* Address of the .stapsdt.base section. Notes record the base they were
 * linked against; if a prelinker moved the file, libbpf-style consumers
 * add (this address - note.base) to pc. 0 or -ENOENT. */
int elf_file__stapsdt_base(const struct elf_file *ef, uint64_t *addr);
/* File offsets of a note's probe address (after the .stapsdt.base
 * adjustment above) and of its semaphore (0 when it has none): what a uprobe
 * and its ref_ctr_offset take. 0 or -ENOENT. */
int elf_file__usdt_offsets(const struct elf_file *ef, const struct usdt_note *note,
			   uint64_t *pc_offset, uint64_t *sem_offset);

/*
 * Where DWARF says the formal parameter `param` of the function whose code
 * starts at entry_vaddr lives at that address: a DWARF x86-64 register number
 * (0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15).
 * Looks in the file's own DWARF (path is the same file). Returns the
 * register number, -ENOENT (no DWARF / no such parameter), or -EOPNOTSUPP
 * (it lives somewhere other than a register at entry, or is a constant:
 * see elf_file__dwarf_param_loc()).
 */
int elf_dwarf_param_reg_at_entry(const char *path, uint64_t entry_vaddr, const char *param);
/* Same, on an open file (works on open_mem files too). */
int elf_file__dwarf_param_reg(const struct elf_file *ef, uint64_t entry_vaddr, const char *param);

struct elf_param_loc {
	bool is_const; /* the value is a constant at entry, not in a register */
	int dwarf_reg; /* DWARF register number when !is_const */
	int64_t value; /* when is_const */
};
/* Like elf_file__dwarf_param_reg(), but also reports parameters that GCC
 * propagated as constants into a clone (collect.constprop.0 in CPython 3.8
 * is collect() with generation fixed to 2: DW_AT_const_value, no register).
 * 0, -ENOENT or -EOPNOTSUPP. */
int elf_file__dwarf_param_loc(const struct elf_file *ef, uint64_t entry_vaddr, const char *param,
			      struct elf_param_loc *out);

/* Translate a DWARF x86-64 register number to its pt_regs slot index as the
 * BPF side uses it (see bpf/regs.h: enum pm_reg); -1 if unsupported. */
int elf_dwarf_reg_to_pm_reg(int dwarf_reg);

/* .gnu_debuglink: the name of the separate debug file and the CRC-32 of its
 * contents. 0 or -ENOENT. */
int elf_file__debuglink(const struct elf_file *ef, char *name, size_t len, uint32_t *crc);
/* Does this file hold DWARF (a .debug_info section with contents)? */
bool elf_file__has_dwarf(const struct elf_file *ef);

/*
 * Where a value lives at one address, in the forms a BPF program can read
 * from a uprobe's registers (DWARF x86-64 register numbers; 7 is rsp).
 */
enum elf_loc_kind {
	ELF_LOC_NONE = 0, /* DWARF does not say, or says something else */
	ELF_LOC_REG,	  /* in register reg */
	ELF_LOC_REG_OFF,  /* the value reg + off (DW_OP_bregN off, DW_OP_stack_value) */
	ELF_LOC_MEM,	  /* 8 bytes at reg + off (breg, or fbreg through the CFA) */
	ELF_LOC_CONST,	  /* the constant off */
	ELF_LOC_SUM,	  /* the value reg + reg2 + off (two bregs, DW_OP_plus) */
};

struct elf_loc {
	enum elf_loc_kind kind;
	int dwarf_reg;
	int dwarf_reg2; /* ELF_LOC_SUM */
	int64_t off;
};

#define ELF_SITE_MAX_ARGS 2

/* One place where a function's code begins: an inlined instance
 * (DW_TAG_inlined_subroutine) or an out-of-line copy (DW_TAG_subprogram
 * with code: the function itself or a .constprop/.isra clone). */
struct elf_site {
	int func;     /* index into the names asked for */
	uint64_t pc;  /* entry address (a vaddr of the binary) */
	bool inlined; /* else an out-of-line copy */
	struct elf_loc args[ELF_SITE_MAX_ARGS];
	const char *why; /* when an argument is ELF_LOC_NONE: a short reason */
};

struct elf_site_query {
	const char *name;		     /* function, as DW_AT_name says */
	const char *args[ELF_SITE_MAX_ARGS]; /* formal parameters wanted; NULL ends */
};

/* Return nonzero to stop the walk (that value is returned). */
typedef int (*elf_site_cb)(void *ctx, const struct elf_site *site);

/*
 * Every instance of the functions in q[0..nq) that the DWARF of dbg knows,
 * with where each wanted parameter lives at the site's entry address.
 * dbg is the file that holds the DWARF (the binary itself or its separate
 * debug file); bin is the binary (its .eh_frame gives the CFA that
 * DW_OP_fbreg is relative to; may be dbg). Sites are reported once per
 * (function, address). Returns the number of sites, or a negative errno
 * (-ENOENT: no DWARF).
 */
long elf_file__dwarf_sites(const struct elf_file *dbg, const struct elf_file *bin,
			   const struct elf_site_query *q, size_t nq, elf_site_cb cb, void *ctx);

/*
 * Machine code, for builds without symbols (attach/elf_code.c; x86-64).
 */
/* Copy len bytes of loaded, file-backed, non-executable data at vaddr (an
 * initialised variable's value as the file holds it). 0 or -ENOENT. */
int elf_file__read_data(const struct elf_file *ef, uint64_t vaddr, void *out, size_t len);
/* The same for one 8-byte value, in the file's byte order. 0 or -ENOENT. */
int elf_file__read_u64(const struct elf_file *ef, uint64_t vaddr, uint64_t *value);
/* The addresses of the NUL-terminated string s (with its NUL) in loaded
 * non-executable data. Returns how many (only max stored). */
int elf_file__find_string(const struct elf_file *ef, const char *s, uint64_t *out, int max);
/* The code range [lo, hi) of the CFI entry (FDE) holding vaddr: a function,
 * or a part the compiler split off one. *at_entry (may be NULL): the frame
 * at lo is the one a call makes (CFA = rsp + 8), as at a function's entry;
 * a split-off part runs in its parent's frame. 0 or -ENOENT. */
int elf_file__fde_range(struct elf_file *ef, uint64_t vaddr, uint64_t *lo, uint64_t *hi,
			bool *at_entry);
/* The functions reached from the functions at roots[0..nroots) through at
 * most max_depth direct calls (or tail calls) whose code, or a part split
 * off it (a .cold half, entered by a jump), refers to the data at target.
 * Their entry addresses go to out; returns how many (only max stored) or a
 * negative errno (-ENOENT: no root is a function start in the CFI). */
int elf_file__referrers_from(struct elf_file *ef, const uint64_t *roots, int nroots, int max_depth,
			     uint64_t target, uint64_t *out, int max);

/* A call or jmp through a function pointer in a structure: `call
 * *disp(%reg)`, as Py_TYPE(op)->tp_dealloc(op) compiles to. */
struct elf_slot_call {
	uint64_t addr; /* of the instruction */
	int dwarf_reg; /* the structure's register (DWARF number) */
	bool jump;     /* a tail call (jmp) */
};
/* Every such instruction in the file's code whose displacement is disp and
 * whose address is outside [skip_lo, skip_hi). Returns how many (only max
 * stored) or a negative errno. */
long elf_file__slot_calls(struct elf_file *ef, int32_t disp, uint64_t skip_lo, uint64_t skip_hi,
			  struct elf_slot_call *out, size_t max);
/* The direct calls and jumps in the code ranges [lo, hi) of
 * ranges[0..nranges) (each decoded from lo, an instruction start) whose
 * target is one of targets[0..n): their addresses. Returns how many (only
 * max stored) or a negative errno. */
long elf_file__calls_to_in(struct elf_file *ef, const uint64_t *targets, size_t n,
			   const uint64_t (*ranges)[2], size_t nranges, uint64_t *out, size_t max);

/* The distinct targets of the direct calls in the ranges, as above. Returns
 * how many (only max stored) or a negative errno. */
long elf_file__call_targets_in(struct elf_file *ef, const uint64_t (*ranges)[2], size_t nranges,
			       uint64_t *out, size_t max);
/* A free list's push, as CPython's float free list compiles: `mov %rA,
 * off1(%rO)` (the object's link: its ob_type) and, one or two instructions
 * on, `mov %rO, disp(%rB)` (the list's head). */
struct elf_store_pair {
	uint64_t addr; /* of the first store */
	int obj_reg;   /* rO, as a DWARF number */
	int64_t disp;  /* of the second store */
};
/* Every such pair in ranges[0..nranges), with the second store's disp equal
 * to disp2 (INT64_MIN: any). Returns how many (only max stored), or a
 * negative errno. */
long elf_file__push_pairs(struct elf_file *ef, const uint64_t (*ranges)[2], size_t nranges,
			  int64_t off1, int64_t disp2, struct elf_store_pair *out, size_t max);
/* Are the functions starting at a and b copies of one another: the same
 * size, the same instructions of the same lengths (their pc-relative
 * operands aside)? A compiler's clone of a static function called from two
 * places (3.12's _PyUnicode_ExactDealloc and unicode_dealloc). */
bool elf_file__same_code(struct elf_file *ef, uint64_t a, uint64_t b);
/* Does the function starting at func call or jump to target directly? */
bool elf_file__func_branches_to(struct elf_file *ef, uint64_t func, uint64_t target);
/* The pointer an initialised 8-byte slot of data at vaddr holds once loaded:
 * its R_X86_64_RELATIVE, R_X86_64_64 or (a GOT entry) R_X86_64_GLOB_DAT
 * relocation in a position-independent
 * file, else the file's contents. 0, or -ENOENT (no such data, or a null or
 * undefined pointer). */
int elf_file__data_pointer(const struct elf_file *ef, uint64_t vaddr, uint64_t *value);

/*
 * Calls through a function pointer of a table (attach/elf_tables.c), as
 * CPython's allocator calls PyObject_Malloc's `_PyObject.malloc(ctx, size)`.
 * The slot is named by the code either directly (rip-relative, or an
 * absolute address in a position-dependent file) or as disp from a base
 * that a GOT entry holds (a table inside the exported _PyRuntime, 3.12+,
 * in a shared library).
 */
struct elf_fn_slot {
	uint64_t addr;	/* the slot's address, or 0: got and disp */
	uint64_t got;	/* the GOT entry holding the base */
	int64_t disp;	/* the slot's offset from that base */
	uint64_t deflt; /* the function it holds until another is installed; 0: unknown */
	/* a member at disp of a structure whatever register points at it
	 * (Py_TYPE(op)->tp_dealloc): compares with any function start count
	 * (deflt 0), and of the plain calls only those through a register the
	 * member was loaded into (elf_file__slot_calls finds the others) */
	bool member;
	bool no_ctx; /* the call's first two arguments are wanted, not 2nd and 3rd */
};
/* The slot the function at func (an exported wrapper such as
 * PyObject_Malloc) calls through or compares. 0, or -ENOENT. */
int elf_file__fn_slot_of(struct elf_file *ef, uint64_t func, struct elf_fn_slot *s);

/* One call through the slot, found in the code. A build with profile-guided
 * optimisation compares the loaded pointer with the slot's default function
 * and, when equal, runs that function's body inlined: that site is the
 * compare's conditional branch (taken by every call, whichever allocator is
 * installed). Elsewhere it is the indirect call itself. */
struct elf_slot_site {
	uint64_t addr;				/* the instruction to probe */
	bool promoted;				/* a compare's branch, else the call */
	struct elf_loc args[ELF_SITE_MAX_ARGS]; /* the call's 2nd and 3rd arguments */
	const char *why;			/* args[0] ELF_LOC_NONE: why */
	uint64_t call;				/* promoted: the fallback's call, or 0 */
	uint64_t body;				/* promoted: where the equal side begins */
	int base_reg; /* member: the structure's register (DWARF) at addr, or -1 */
	int ptr_reg;  /* the register holding the slot's pointer at addr, or -1 */
};
/* Every call through the slot outside [skip_lo, skip_hi) (the exported
 * wrapper, probed as a function). Returns how many (only max stored), or a
 * negative errno. */
long elf_file__fn_slot_sites(struct elf_file *ef, const struct elf_fn_slot *s, uint64_t skip_lo,
			     uint64_t skip_hi, struct elf_slot_site *out, size_t max);
/* Which of targets[0..n) the code reaches from `from` through at most
 * budget instructions, following direct jumps and both sides of branches
 * (not into calls, not past returns or indirect jumps): hit[i] set for each.
 * The number reached, or a negative errno. */
long elf_file__reaches(struct elf_file *ef, uint64_t from, const uint64_t *targets, size_t n,
		       bool *hit, int budget);

/* The code ranges of the function starting at func: its own FDE first, then
 * every part split off it that it jumps into (its .cold halves). Returns how
 * many (only max stored) or a negative errno. */
long elf_file__func_parts(struct elf_file *ef, uint64_t func, uint64_t (*out)[2], size_t max);
/* Is there an exported (.dynsym) function at vaddr? */
bool elf_file__is_exported_func(const struct elf_file *ef, uint64_t vaddr);

#endif /* PYMAC_ELF_INSPECT_H */
