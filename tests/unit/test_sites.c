// SPDX-License-Identifier: MIT
/*
 * Probe-site chooser: hand-written prologues (each rule of sites.h), bytes
 * that are no code, random bytes (the site is always an instruction
 * boundary inside the function), and real allocator functions of the
 * interpreters and libc on this machine (printed as a table).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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

#define BASE 0x401000ull
#define FOFF 0x1000ull

#define ENDBR64	     0xf3, 0x0f, 0x1e, 0xfa
#define PUSH_RBP     0x55
#define MOV_RBP_RSP  0x48, 0x89, 0xe5
#define PUSH_R15     0x41, 0x57
#define TEST_RDI_RDI 0x48, 0x85, 0xff
#define SUB_RSP_18   0x48, 0x83, 0xec, 0x18
#define MOV_RSI_RDI  0x48, 0x89, 0xfe
#define RET	     0xc3

static struct site_choice choose(const uint8_t *code, size_t len, struct site_needs nd)
{
	struct site_choice c;

	assert_int_equal(sites__choose_code(code, len, BASE, FOFF, &nd, &c), 0);
	assert_int_equal(c.offset, FOFF + c.delta);
	return c;
}

static void test_emulated_encodings(void **state)
{
	static const struct {
		uint8_t b[10];
		size_t len;
		bool emulated;
	} cases[] = {
	    {{0x90}, 1, true},
	    {{0x66, 0x90}, 2, true},
	    {{0x0f, 0x1f, 0x00}, 3, true},
	    {{0x0f, 0x1f, 0x40, 0x00}, 4, true},
	    {{0x0f, 0x1f, 0x44, 0x00, 0x00}, 5, true},
	    {{0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00}, 6, true},
	    {{0x0f, 0x1f, 0x80, 0, 0, 0, 0}, 7, true},
	    {{0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 8, true},
	    {{PUSH_RBP}, 1, true},
	    {{0x53}, 1, true},	     /* push rbx */
	    {{PUSH_R15}, 2, true},   /* push r15 */
	    {{0xeb, 0x05}, 2, true}, /* jmp rel8 */
	    {{0x74, 0x05}, 2, true}, /* je rel8 */
	    {{0xe9, 1, 0, 0, 0}, 5, true},
	    {{0xe8, 1, 0, 0, 0}, 5, true},
	    {{0x0f, 0x88, 1, 0, 0, 0}, 6, true}, /* js rel32 */
	    {{ENDBR64}, 4, false},
	    {{MOV_RBP_RSP}, 3, false},
	    {{TEST_RDI_RDI}, 3, false},
	    {{SUB_RSP_18}, 4, false},
	    {{RET}, 1, false},
	    {{0xf3, 0x90}, 2, false},		  /* pause: not in every kernel's list */
	    {{0x41, 0x90}, 2, false},		  /* xchg r8, rax */
	    {{0x48, 0x50}, 2, false},		  /* push with REX.W */
	    {{0x66, 0xe9, 1, 0}, 4, false},	  /* jmpw: the kernel refuses 66 */
	    {{0x2e, 0x0f, 0x1f, 0x00}, 4, false}, /* cs nop: bad prefix */
	    {{0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 10, false},
	    {{0xff, 0x25, 0, 0, 0, 0}, 6, false}, /* jmp *rip: indirect */
	    {{0x0f, 0x1f, 0x44, 0x00, 0x01}, 5, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (site_insn_is_emulated(cases[i].b, cases[i].len) != cases[i].emulated)
			fail_msg("case %zu: expected %s", i,
				 cases[i].emulated ? "emulated" : "single-step");
	}
	assert_false(site_insn_is_emulated(NULL, 1));
	assert_false(site_insn_is_emulated((const uint8_t *)"\x90", 0));
}

static void test_endbr_push_rbp(void **state)
{
	const uint8_t code[] = {ENDBR64, PUSH_RBP, MOV_RBP_RSP, SUB_RSP_18, RET};
	struct site_choice c;

	(void)state;
	c = choose(code, sizeof(code), site_needs__args(1, false));
	assert_int_equal(c.delta, 4);
	assert_int_equal(c.cost, SITE_EMULATED);
	assert_string_equal(c.insn, "push rbp");
	assert_int_equal(c.entry_cost, SITE_SINGLE_STEP);
	assert_string_equal(c.entry_insn, "endbr64");
	/* a uretprobe on the site: endbr64 leaves rsp and [rsp] alone */
	c = choose(code, sizeof(code), site_needs__args(2, true));
	assert_int_equal(c.delta, 4);
	assert_string_equal(site_cost__name(c.cost), "emulated");
}

static void test_entry_already_emulated(void **state)
{
	const uint8_t code[] = {PUSH_R15, PUSH_RBP, RET};
	struct site_choice c;

	(void)state;
	c = choose(code, sizeof(code), site_needs__args(6, true));
	assert_int_equal(c.delta, 0);
	assert_int_equal(c.cost, SITE_EMULATED);
	assert_string_equal(c.insn, "push r15");
	assert_string_equal(c.why, "");
}

static void test_jcc_after_sub_rsp(void **state)
{
	/* Debian's PyObject_Malloc: sub rsp; test rdi; js (to a .cold part) */
	const uint8_t code[] = {SUB_RSP_18, TEST_RDI_RDI, 0x0f, 0x88, 0x00, 0x10, 0x00, 0x00, RET};
	struct site_choice c;

	(void)state;
	c = choose(code, sizeof(code), site_needs__args(1, false));
	assert_int_equal(c.delta, 7);
	assert_int_equal(c.cost, SITE_EMULATED);
	assert_true(strncmp(c.insn, "js ", 3) == 0);
	/* with a uretprobe the return address is no longer at [rsp] */
	c = choose(code, sizeof(code), site_needs__args(1, true));
	assert_int_equal(c.delta, 0);
	assert_int_equal(c.cost, SITE_SINGLE_STEP);
	assert_non_null(strstr(c.why, "rsp"));
}

static void test_mov_to_rdi_first(void **state)
{
	/* pyenv's PyObject_Free: mov rsi, rdi; mov rdi, [rip+x]; jmp [rip+y] */
	const uint8_t code[] = {MOV_RSI_RDI, 0x48, 0x8b, 0x3d, 0x10, 0, 0,
				0,	     0xff, 0x25, 0x10, 0,    0, 0};
	const uint8_t zero_edi[] = {0x31, 0xff, PUSH_RBP, RET};	     /* xor edi, edi */
	const uint8_t set_dil[] = {0x40, 0xb7, 0x01, PUSH_RBP, RET}; /* mov dil, 1 */
	struct site_choice c;

	(void)state;
	c = choose(code, sizeof(code), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_int_equal(c.cost, SITE_SINGLE_STEP);
	assert_non_null(strstr(c.why, "writes rdi"));
	/* the second argument is overwritten first */
	c = choose(code, sizeof(code), site_needs__args(2, false));
	assert_int_equal(c.delta, 0);
	assert_non_null(strstr(c.why, "writes rsi"));
	/* needing nothing, the indirect jmp still ends the walk */
	c = choose(code, sizeof(code), (struct site_needs){0});
	assert_int_equal(c.delta, 0);
	assert_non_null(strstr(c.why, "branch"));
	/* a write to a part of the register counts */
	c = choose(zero_edi, sizeof(zero_edi), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	c = choose(zero_edi, sizeof(zero_edi), site_needs__args(0, false));
	assert_int_equal(c.delta, 2);
	c = choose(set_dil, sizeof(set_dil), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	/* a register passed as a pm_reg bit, not an argument position */
	c = choose(zero_edi, sizeof(zero_edi), (struct site_needs){.regs = 1u << PM_REG_BX});
	assert_int_equal(c.delta, 2);
}

static void test_store_before_site(void **state)
{
	/* mov [rsp+8], rdi; push rbx: the program might read that memory */
	const uint8_t code[] = {0x48, 0x89, 0x7c, 0x24, 0x08, 0x53, RET};
	/* push rbx; push rbp: a push's store is fine */
	const uint8_t pushes[] = {ENDBR64, 0x53, PUSH_RBP, RET};
	struct site_choice c;

	(void)state;
	c = choose(code, sizeof(code), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_non_null(strstr(c.why, "stores"));
	c = choose(pushes, sizeof(pushes), site_needs__args(1, false));
	assert_int_equal(c.delta, 4);
}

static void test_branch_before_site(void **state)
{
	/* endbr64; test rdi, rdi; je +1; ret; push rbp: the je is the site */
	const uint8_t code[] = {ENDBR64, TEST_RDI_RDI, 0x74, 0x01, RET, PUSH_RBP, RET};
	/* endbr64; ret; push rbp */
	const uint8_t early_ret[] = {ENDBR64, RET, PUSH_RBP};
	struct site_choice c;

	(void)state;
	c = choose(code, sizeof(code), site_needs__args(1, true));
	assert_int_equal(c.delta, 7);
	assert_true(strncmp(c.insn, "je ", 3) == 0);
	c = choose(early_ret, sizeof(early_ret), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_non_null(strstr(c.why, "branch"));
}

static void test_branch_into_prologue(void **state)
{
	/*
	 *  0 endbr64
	 *  4 mov rax, rsi        <- a later jmp lands here: a site past it
	 *  7 test rdi, rdi          would run without the entry
	 * 10 je +2
	 * 12 jmp 4 (eb f6)
	 * 14 ret
	 */
	const uint8_t code[] = {ENDBR64, 0x48, 0x89, 0xf0, TEST_RDI_RDI,
				0x74,	 0x02, 0xeb, 0xf6, RET};
	/* the same loop back to the entry itself is what an entry probe sees */
	const uint8_t to_entry[] = {ENDBR64, TEST_RDI_RDI, 0x74, 0x02, 0xeb, 0xf5, RET};
	struct site_choice c;

	(void)state;
	c = choose(code, sizeof(code), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_non_null(strstr(c.why, "branch in the function lands"));
	c = choose(to_entry, sizeof(to_entry), site_needs__args(1, false));
	assert_int_equal(c.delta, 7);
}

static void test_crossing_the_end(void **state)
{
	/* endbr64; call rel32 cut after two bytes of its displacement */
	const uint8_t cut[] = {ENDBR64, 0xe8, 0x10, 0x00};
	/* endbr64; push rbp, with the function's size ending before the push */
	const uint8_t code[] = {ENDBR64, PUSH_RBP};
	struct site_choice c;

	(void)state;
	c = choose(cut, sizeof(cut), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_non_null(strstr(c.why, "+4"));
	c = choose(code, 4, site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_non_null(strstr(c.why, "ends at +4"));
	c = choose(code, 0, site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_string_equal(c.entry_insn, "(undecodable)");
}

static void test_garbage(void **state)
{
	/* opcodes invalid in 64-bit mode */
	const uint8_t bad[] = {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27};
	struct site_choice c;

	(void)state;
	c = choose(bad, sizeof(bad), site_needs__args(1, false));
	assert_int_equal(c.delta, 0);
	assert_int_equal(c.cost, SITE_SINGLE_STEP);
	assert_string_equal(c.entry_insn, "(undecodable)");
	assert_int_equal(sites__choose_code(NULL, 4, BASE, FOFF, NULL, &c), -EINVAL);
	assert_int_equal(sites__choose_code(bad, 4, BASE, FOFF, NULL, NULL), -EINVAL);
}

/* Whether off is where an instruction starts, decoding from the entry. */
static bool on_boundary(const uint8_t *code, size_t len, uint64_t off)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t addr = BASE;
	cs_insn *in;
	csh h;
	bool ok = off == 0;

	assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &h), CS_ERR_OK);
	in = cs_malloc(h);
	while (!ok && addr - BASE < off && cs_disasm_iter(h, &p, &left, &addr, in))
		ok = addr - BASE == off;
	cs_free(in, 1);
	cs_close(&h);
	return ok;
}

static void test_random_bytes(void **state)
{
	/* bias towards prologue-ish bytes so that sites are found too */
	static const uint8_t pool[] = {0x55, 0x53, 0x41, 0x57, 0x48, 0x89, 0xe5, 0xfe, 0x85, 0xff,
				       0x74, 0x02, 0x0f, 0x88, 0x1f, 0x44, 0x00, 0x90, 0xe8, 0xc3};
	uint8_t code[32];
	int found = 0;

	(void)state;
	srand(12345);
	for (int i = 0; i < 20000; i++) {
		size_t len = 1 + rand() % sizeof(code);
		struct site_choice c;

		for (size_t k = 0; k < len; k++)
			code[k] = rand() % 2 ? pool[rand() % sizeof(pool)] : rand() & 0xff;
		c = choose(code, len, site_needs__args(rand() % 4, rand() % 2));
		assert_true(c.delta < len);
		if (!on_boundary(code, len, c.delta))
			fail_msg("iteration %d: +%llu is not an instruction boundary", i,
				 (unsigned long long)c.delta);
		if (c.delta) {
			found++;
			assert_int_equal(c.cost, SITE_EMULATED);
		}
	}
	assert_true(found > 100);
}

static void test_rel32_scan(void **state)
{
	/* at BASE+0: call BASE+0x20; at +5: js BASE+0x2a; at +11: jmp BASE */
	const uint8_t code[] = {0xe8, 0x1b, 0, 0,    0,	   0x0f, 0x88, 0x1f,
				0,    0,    0, 0xe9, 0xf0, 0xff, 0xff, 0xff};

	(void)state;
	assert_true(sites__rel32_targets(code, sizeof(code), BASE, BASE + 0x20, BASE + 0x20));
	assert_true(sites__rel32_targets(code, sizeof(code), BASE, BASE + 0x2a, BASE + 0x2a));
	assert_true(sites__rel32_targets(code, sizeof(code), BASE, BASE, BASE));
	assert_false(sites__rel32_targets(code, sizeof(code), BASE, BASE + 1, BASE + 0x1f));
	assert_false(sites__rel32_targets(code, 4, BASE, BASE + 0x20, BASE + 0x20));
}

/* A function symbol's address, size and file offset, read with libelf
 * (.symtab first, then .dynsym; a versioned name matches its base). */
static bool find_func(const char *path, const char *name, uint64_t *vaddr, uint64_t *size,
		      uint64_t *off)
{
	bool found = false;
	Elf_Scn *scn = NULL;
	Elf *e;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	for (int pass = 0; e && pass < 2 && !found; pass++) {
		Elf64_Word want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;

		scn = NULL;
		while (!found && (scn = elf_nextscn(e, scn))) {
			GElf_Shdr sh;
			Elf_Data *d;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != want)
				continue;
			d = elf_getdata(scn, NULL);
			for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
				GElf_Sym s;
				const char *n;

				if (!gelf_getsym(d, i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
				    s.st_shndx == SHN_UNDEF)
					continue;
				n = elf_strptr(e, sh.sh_link, s.st_name);
				if (n && !strcmp(n, name)) {
					*vaddr = s.st_value;
					*size = s.st_size;
					found = true;
					break;
				}
			}
		}
	}
	if (found) {
		size_t n = 0;

		found = false;
		elf_getphdrnum(e, &n);
		for (size_t i = 0; i < n; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD &&
			    *vaddr >= ph.p_vaddr && *vaddr < ph.p_vaddr + ph.p_filesz) {
				*off = *vaddr - ph.p_vaddr + ph.p_offset;
				found = true;
			}
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	return found;
}

#define LIBPY "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"
#define DEBPY "/usr/bin/python3.11"
#define LIBC  "/usr/lib/x86_64-linux-gnu/libc.so.6"

/* What pymac's programs read: the allocators' arguments with a uretprobe
 * on the same site, the frees' and _Py_Dealloc's first argument, the
 * collector's first two (tstate, generation) with a uretprobe. */
static const struct real_fn {
	const char *path, *fn;
	int nargs;
	bool ret;
} real_fns[] = {
    {LIBPY, "PyObject_Malloc", 1, true},
    {LIBPY, "PyObject_Calloc", 2, true},
    {LIBPY, "PyObject_Realloc", 2, true},
    {LIBPY, "PyObject_Free", 1, false},
    {LIBPY, "_Py_Dealloc", 1, false},
    {LIBPY, "gc_collect_main", 2, true},
    {DEBPY, "PyObject_Malloc", 1, true},
    {DEBPY, "PyObject_Calloc", 2, true},
    {DEBPY, "PyObject_Realloc", 2, true},
    {DEBPY, "PyObject_Free", 1, false},
    {DEBPY, "_Py_Dealloc", 1, false},
    {LIBC, "malloc", 1, true},
    {LIBC, "calloc", 2, true},
    {LIBC, "realloc", 2, true},
    {LIBC, "free", 1, false},
};

static void test_real_functions(void **state)
{
	int seen = 0;

	(void)state;
	printf("%-16s %-17s %-5s %8s %-11s %-32s %s\n", "file", "function", "ret", "site", "cost",
	       "instruction", "entry / why");
	for (size_t i = 0; i < sizeof(real_fns) / sizeof(real_fns[0]); i++) {
		const struct real_fn *r = &real_fns[i];
		struct site_needs nd = site_needs__args(r->nargs, r->ret);
		uint64_t vaddr, size, off, clen;
		struct site_choice c, c2;
		uint8_t buf[256];
		ssize_t got;
		int fd;

		if (access(r->path, R_OK) || !find_func(r->path, r->fn, &vaddr, &size, &off))
			continue;
		seen++;
		assert_int_equal(sites__choose_file(r->path, vaddr, size, off, &nd, &c), 0);
		char site[24] = "entry";

		if (c.delta)
			snprintf(site, sizeof(site), "+%llu", (unsigned long long)c.delta);
		printf("%-16s %-17s %-5s %8s %-11s %-32s %s%s%s\n", strrchr(r->path, '/') + 1,
		       r->fn, r->ret ? "yes" : "no", site, site_cost__name(c.cost), c.insn,
		       c.entry_insn, c.why[0] ? ": " : "", c.why);
		assert_true(size == 0 || c.delta < size);
		assert_int_equal(c.offset, off + c.delta);
		/* the site is an instruction boundary of the function's bytes */
		fd = open(r->path, O_RDONLY);
		assert_true(fd >= 0);
		got = pread(fd, buf, sizeof(buf), (off_t)off);
		close(fd);
		assert_true(got > 0);
		if (c.delta) {
			assert_int_equal(c.cost, SITE_EMULATED);
			assert_true(c.delta < (uint64_t)got);
			assert_true(on_boundary(buf, (size_t)got, c.delta));
		}
		/* the file's bytes give the same answer as the code alone, unless
		 * the whole-file scan vetoed the site */
		clen = size && size < (uint64_t)got ? size : (uint64_t)got;
		assert_int_equal(sites__choose_code(buf, clen, vaddr, off, &nd, &c2), 0);
		assert_true(c2.delta == c.delta || c.delta == 0);
	}
	if (!seen)
		skip();
}

/* pyenv's 3.11.7 is built on this machine and does not change: exact sites. */
static void test_pyenv_311_sites(void **state)
{
	static const struct {
		const char *fn;
		int nargs;
		bool ret;
		uint64_t delta;
		const char *mnemonic;
	} want[] = {
	    {"PyObject_Malloc", 1, true, 6, "js"}, /* mov rsi, rdi; test rdi, rdi; js */
	    {"PyObject_Free", 1, false, 0, "mov"}, /* rdi reloaded before the jmp */
	    {"_Py_Dealloc", 1, false, 0, "mov"},
	    {"gc_collect_main", 2, true, 0, "push"}, /* push r15 first */
	};

	(void)state;
	if (access(LIBPY, R_OK))
		skip();
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct site_needs nd = site_needs__args(want[i].nargs, want[i].ret);
		uint64_t vaddr, size, off;
		struct site_choice c;

		if (!find_func(LIBPY, want[i].fn, &vaddr, &size, &off))
			fail_msg("%s not found", want[i].fn);
		assert_int_equal(sites__choose_file(LIBPY, vaddr, size, off, &nd, &c), 0);
		if (c.delta != want[i].delta ||
		    strncmp(c.insn, want[i].mnemonic, strlen(want[i].mnemonic)))
			fail_msg("%s: +%llu %s, expected +%llu %s", want[i].fn,
				 (unsigned long long)c.delta, c.insn,
				 (unsigned long long)want[i].delta, want[i].mnemonic);
	}
}

static void test_file_errors(void **state)
{
	struct site_choice c;
	struct site_needs nd = site_needs__args(1, false);

	(void)state;
	assert_int_equal(sites__choose_file("/nonexistent/x", 0, 0, 0x40, &nd, &c), -ENOENT);
	assert_int_equal(c.offset, 0x40);
	assert_int_equal(c.delta, 0);
	assert_int_equal(sites__choose_file("/proc/self/status", 0, 0, 0, &nd, &c), -ENOEXEC);
	/* an address in no executable section */
	if (!access(LIBC, R_OK))
		assert_int_equal(sites__choose_file(LIBC, 0, 16, 0, &nd, &c), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_emulated_encodings),
	    cmocka_unit_test(test_endbr_push_rbp),
	    cmocka_unit_test(test_entry_already_emulated),
	    cmocka_unit_test(test_jcc_after_sub_rsp),
	    cmocka_unit_test(test_mov_to_rdi_first),
	    cmocka_unit_test(test_store_before_site),
	    cmocka_unit_test(test_branch_before_site),
	    cmocka_unit_test(test_branch_into_prologue),
	    cmocka_unit_test(test_crossing_the_end),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_rel32_scan),
	    cmocka_unit_test(test_real_functions),
	    cmocka_unit_test(test_pyenv_311_sites),
	    cmocka_unit_test(test_file_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
