/* SPDX-License-Identifier: MIT */
/*
 * ELF inspection's insides (attach/elf_inspect.h), shared by elf_inspect.c
 * (the file, its sections and symbols), elf_notes.c (notes, USDT, build-id,
 * DT_NEEDED, direct calls) and elf_dwarf.c (DWARF parameters and inlined
 * sites). Not for other pieces.
 *
 * The files come from containers we do not control, so everything here
 * treats them as hostile: the whole file is read into memory first (a
 * mapping could be truncated under us and SIGBUS us), libelf is only asked
 * for data it bounds-checks, and every offset, size and count we take from
 * the file ourselves is checked against the buffer before use.
 */
#ifndef PYMAC_ELF_IMPL_H
#define PYMAC_ELF_IMPL_H

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <elfutils/libdw.h>
#include <dwarf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <capstone/capstone.h>
#include "attach/elf_inspect.h"
#include "regs.h"
#ifndef NT_STAPSDT
#define NT_STAPSDT 3
#endif

/* Nothing pymac inspects comes close; this only stops a hostile "file" from
 * exhausting memory. */
#define ELF_MAX_FILE_SIZE (4ULL << 30)
/* Deep enough for any real C/C++ DIE tree; bounds recursion on garbage. */
#define DIE_MAX_DEPTH 32

struct elf_file {
	Elf *elf;
	char *buf; /* whole file image, owned; elf points into it */
	size_t len;
	GElf_Ehdr ehdr;
	size_t shstrndx;  /* (size_t)-1 when unknown */
	GElf_Phdr *phdrs; /* only headers whose file range lies inside buf */
	size_t phnum;
	Dwarf_CFI *cfi; /* .eh_frame (or .debug_frame), once asked for */
	bool cfi_tried;
	uint64_t (*fdes)[2]; /* FDE ranges [lo, hi), by lo (elf_code.c) */
	size_t nfdes;
	bool fdes_tried;
};

uint32_t elfi_rd32(const struct elf_file *ef, const unsigned char *p);
uint64_t elfi_rd64(const struct elf_file *ef, const unsigned char *p);
size_t elfi_addr_size(const struct elf_file *ef);
const char *elfi_scn_name(const struct elf_file *ef, const GElf_Shdr *sh);
const unsigned char *elfi_scn_bytes(Elf_Scn *scn, const GElf_Shdr *sh, size_t *size);
Elf_Scn *elfi_find_scn_by_name(const struct elf_file *ef, const char *name, GElf_Shdr *out);

/* elf_code.c: loaded, file-backed bytes [vaddr, vaddr + len) of an
 * executable segment (exec) or another one, or NULL; the FDE table
 * (ef->fdes), 0 or -errno. */
const unsigned char *elfi_seg_bytes(const struct elf_file *ef, uint64_t vaddr, uint64_t len,
				    bool exec);
int elfi_load_fdes(struct elf_file *ef);

/*
 * A walk over machine code (elf_code.c, elf_tables.c): capstone's handle
 * and one instruction, and the bytes decoded so far against a budget (a
 * hostile file with many large functions must not keep pymac busy).
 */
#define CODE_MAX_FUNCS 512
struct code_walk {
	struct elf_file *ef;
	csh cs;
	cs_insn *in;
	uint64_t decoded; /* bytes so far, against CODE_BUDGET */
	uint64_t target;
	uint64_t seen[CODE_MAX_FUNCS]; /* function starts queued */
	int depth[CODE_MAX_FUNCS];
	int nseen;
};
struct code_walk *elfi_walk_new(struct elf_file *ef);
void elfi_walk_free(struct code_walk *w);
/* Decode [lo, hi) of an executable segment, calling f(w, insn, ctx) for each
 * instruction (bytes capstone does not know are stepped over one by one);
 * f's nonzero return ends the walk and is returned. 0, -ENOENT, -E2BIG. */
int elfi_walk_decode(struct code_walk *w, uint64_t lo, uint64_t hi,
		     int (*f)(struct code_walk *, const cs_insn *, void *), void *ctx);
/* Decode the one instruction at pc into w->in (outside the budget). */
bool elfi_walk_at(struct code_walk *w, uint64_t pc);
#endif /* PYMAC_ELF_IMPL_H */
