// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ELF inspection (user/attach/elf_inspect.c) of a file image:
 * symbol lookups over .symtab/.dynsym, USDT notes and their offsets,
 * build-id, .gnu_debuglink, DT_NEEDED, the call-site byte scan, and the
 * code walks of elf_code.c (.eh_frame_hdr's table, strings, data, the call
 * tree). The DWARF walks are left out: their parsing is libdw's, not ours.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach/elf_inspect.h"
#include "attach/pycode.h"

#define MAX_NOTES  8
#define MAX_CLONES 4

static volatile size_t sink;

/* Names the seed binaries define, plus what pymac looks up in CPython. */
static const char *const funcs[] = {
    "main",	      "pm_fixture_target", "pm_lib_f",	  "pm_lib_g",
    "pm_tiny_target", "PyObject_Malloc",   "_Py_Dealloc",
};

static void calls_to(const struct elf_file *ef, const struct elf_func *f)
{
	struct elf_call_count cc;

	if (elf_file__count_calls(ef, f->vaddr, &cc) == 0)
		sink += (size_t)(cc.direct + cc.via_plt + cc.plt_stubs);
	if (elf_file__count_calls_in(ef, f->vaddr, f->vaddr, f->vaddr + f->size, &cc) == 0)
		sink += (size_t)cc.direct;
}

/* The walks that find functions without symbols: from main (the seeds'
 * root) to whatever refers to its name, and CPython's collector. */
static void code_walks(struct elf_file *ef)
{
	uint64_t at[4], lo, hi, roots[1];
	unsigned char data[16];
	struct elf_func f;
	bool entry;
	int n;

	if (elf_file__find_func(ef, "main", &f))
		return;
	if (elf_file__fde_range(ef, f.vaddr, &lo, &hi, &entry) == 0)
		sink += (size_t)(hi - lo) + entry;
	n = elf_file__find_string(ef, "main", at, 4);
	sink += (size_t)n;
	if (n > 0 && elf_file__read_data(ef, at[0], data, sizeof(data)) == 0)
		sink += data[0];
	roots[0] = f.vaddr;
	if (n > 0)
		sink += (size_t)elf_file__referrers_from(ef, roots, 1, 3, at[0], at, 4);
	sink += (size_t)py_gc_collector_by_code(ef, at, 4);

	struct elf_slot_call sc[8];
	uint64_t parts[4][2], ptr;

	sink += (size_t)elf_file__slot_calls(ef, 0x30, 0, 0, sc, 8);

	/* calls through a table: main's own, and one at main's string, named
	 * directly and through a base */
	struct elf_fn_slot fs;
	struct elf_slot_site ss[8];

	if (elf_file__fn_slot_of(ef, f.vaddr, &fs) == 0)
		sink += (size_t)elf_file__fn_slot_sites(ef, &fs, f.vaddr, f.vaddr + 1, ss, 8);
	if (n > 0) {
		fs = (struct elf_fn_slot){.addr = at[0], .deflt = f.vaddr};
		sink += (size_t)elf_file__fn_slot_sites(ef, &fs, 0, 0, ss, 8);
		fs = (struct elf_fn_slot){.got = at[0], .disp = 8, .deflt = f.vaddr};
		sink += (size_t)elf_file__fn_slot_sites(ef, &fs, 0, 0, ss, 8);
	}
	fs = (struct elf_fn_slot){.member = true, .disp = 0x30, .no_ctx = true};
	sink += (size_t)elf_file__fn_slot_sites(ef, &fs, 0, 0, ss, 8);

	/* reachability and free-list pushes from main */
	bool hit[2] = {false, false};
	uint64_t tg[2] = {f.vaddr + 16, f.vaddr + 64}, fr[1][2] = {{f.vaddr, f.vaddr + 4096}};
	struct elf_store_pair sp[4];

	sink += (size_t)elf_file__reaches(ef, f.vaddr, tg, 2, hit, 256) + hit[0];
	sink += elf_file__same_code(ef, f.vaddr, tg[0]);
	sink += (size_t)elf_file__push_pairs(ef, (const uint64_t(*)[2])fr, 1, 8, INT64_MIN, sp, 4);
	long np = elf_file__func_parts(ef, f.vaddr, parts, 4);

	if (np > 0) {
		size_t nr = np > 4 ? 4 : (size_t)np;

		sink += (size_t)elf_file__calls_to_in(ef, &f.vaddr, 1, (const uint64_t(*)[2])parts, nr,
						      at, 4);
		sink += (size_t)elf_file__call_targets_in(ef, (const uint64_t(*)[2])parts, nr, at, 4);
	}
	sink += elf_file__func_branches_to(ef, f.vaddr, f.vaddr) + elf_file__is_exported_func(ef, f.vaddr);
	if (n > 0 && elf_file__data_pointer(ef, at[0], &ptr) == 0)
		sink += (size_t)ptr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usdt_note notes[MAX_NOTES], one;
	struct elf_func f, clones[MAX_CLONES];
	const char *needed[8];
	struct elf_file *ef;
	char hex[2 * 64 + 1], link[256];
	uint32_t crc;
	uint64_t off, sem;
	int n, i;

	ef = elf_file__open_mem(data, size);
	if (!ef)
		return 0;
	sink += elf_file__has_symtab(ef) + elf_file__is_64bit_x86(ef) + elf_file__has_interp(ef);

	for (i = 0; i < (int)(sizeof(funcs) / sizeof(funcs[0])); i++) {
		int ret = elf_file__find_func(ef, funcs[i], &f);

		if (ret == 0 || ret == -EOPNOTSUPP) {
			sink += strlen(f.name);
			if (elf_file__vaddr_to_offset(ef, f.vaddr, &off) == 0)
				sink += off;
			calls_to(ef, &f);
		}
	}
	/* GCC splits main.cold off main: a part, not a clone */
	for (int b = 0; b < 2; b++) {
		n = elf_file__find_func_clones(ef, b ? "main" : "pm_fixture_opt", clones,
					       MAX_CLONES);
		for (i = 0; i < n && i < MAX_CLONES; i++)
			sink += strlen(clones[i].name);
	}

	n = elf_file__usdt_notes(ef, notes, MAX_NOTES);
	for (i = 0; i < n && i < MAX_NOTES; i++) {
		sink += strlen(notes[i].provider) + strlen(notes[i].name) + strlen(notes[i].args);
		if (elf_file__usdt_offsets(ef, &notes[i], &off, &sem) == 0)
			sink += off + sem;
	}
	if (elf_file__find_usdt(ef, "pmfix", "gated", &one) == 0)
		sink += strlen(one.args);
	if (elf_file__stapsdt_base(ef, &off) == 0)
		sink += off;
	if (elf_file__build_id(ef, hex, sizeof(hex)) == 0)
		sink += strlen(hex);
	if (elf_file__debuglink(ef, link, sizeof(link), &crc) == 0)
		sink += strlen(link) + crc;
	sink += elf_file__has_dwarf(ef);
	code_walks(ef);
	n = elf_file__needed(ef, needed, 8);
	for (i = 0; i < n && i < 8; i++)
		sink += strlen(needed[i]);
	elf_file__close(ef);
	return 0;
}
