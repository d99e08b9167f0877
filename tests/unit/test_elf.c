// SPDX-License-Identifier: MIT
/*
 * Unit tests for ELF/DWARF inspection. Run from the repository root after
 * `make fixtures`: they read .output/fixtures/usdt_fixture and compare with
 * what readelf says and with our own program-header arithmetic. Facts about
 * the pyenv CPython builds are checked when those files exist.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <gelf.h>
#include <libelf.h>

#include "attach/elf_inspect.h"
#include "attach/pycode.h"
#include "regs.h"

#define FIXTURE "./.output/fixtures/usdt_fixture"
#define PYENV	"/root/.pyenv/versions/"
/* python3.11-dbg's file for Debian's 3.11.2-6+deb12u9 build */
#define DEBIAN_DEBUG_FILE "/usr/lib/debug/.build-id/c5/61f3aa7232f2bd6ac6d56bd475f1c154a00486.debug"

static unsigned char *fixture_buf;
static size_t fixture_len;

static unsigned char *read_file(const char *path, size_t *len)
{
	unsigned char *buf;
	struct stat st;
	FILE *f;

	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || st.st_size <= 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)st.st_size);
	if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

static int group_setup(void **state)
{
	(void)state;
	fixture_buf = read_file(FIXTURE, &fixture_len);
	if (!fixture_buf) {
		fprintf(stderr,
			"cannot read %s: run `make fixtures` and run tests from the repo root\n",
			FIXTURE);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(fixture_buf);
	return 0;
}

/* Independent of the code under test: the PT_LOAD arithmetic done by hand
 * on the raw header bytes. */
static int manual_vaddr_to_offset(uint64_t vaddr, uint64_t *off)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)fixture_buf;
	int i;

	assert_true(fixture_len >= sizeof(*eh));
	assert_true(eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= fixture_len);
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, fixture_buf + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
		    vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -1;
}

/* Value of a symbol as `readelf -sW` prints it. */
static uint64_t readelf_symbol(const char *path, const char *name)
{
	char cmd[512], line[1024];
	uint64_t value = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -sW '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char sym[256];
		unsigned long long v;

		if (sscanf(line, " %*[0-9]: %llx %*s %*s %*s %*s %*s %255s", &v, sym) == 2 &&
		    strcmp(sym, name) == 0)
			value = v;
	}
	pclose(p);
	return value;
}

struct readelf_note {
	char provider[64], name[64], args[256];
	unsigned long long pc, base, sem;
};

/* Parse `readelf -n` for the build-id and the stapsdt notes. */
static int readelf_notes(const char *path, char *build_id, size_t bid_len, struct readelf_note *n,
			 int max)
{
	char cmd[512], line[1024];
	int count = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -n '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	build_id[0] = '\0';
	while (fgets(line, sizeof(line), p)) {
		char *s = line + strspn(line, " \t");

		s[strcspn(s, "\n")] = '\0';
		if (!strncmp(s, "Build ID: ", 10)) {
			snprintf(build_id, bid_len, "%s", s + 10);
		} else if (!strncmp(s, "Provider: ", 10)) {
			if (++count < max)
				snprintf(n[count].provider, sizeof(n->provider), "%s", s + 10);
		} else if (count >= 0 && count < max && !strncmp(s, "Name: ", 6)) {
			snprintf(n[count].name, sizeof(n->name), "%s", s + 6);
		} else if (count >= 0 && count < max && !strncmp(s, "Location: ", 10)) {
			assert_int_equal(sscanf(s, "Location: %llx, Base: %llx, Semaphore: %llx",
						&n[count].pc, &n[count].base, &n[count].sem),
					 3);
		} else if (count >= 0 && count < max && !strncmp(s, "Arguments:", 10)) {
			snprintf(n[count].args, sizeof(n->args), "%s", s + 10 + (s[10] == ' '));
		}
	}
	pclose(p);
	return count + 1;
}

static void test_fixture_basics(void **state)
{
	struct elf_file *ef;
	const char *needed[8];
	int n, i;
	bool libc = false;

	(void)state;
	ef = elf_file__open(FIXTURE);
	assert_non_null(ef);
	assert_true(elf_file__is_64bit_x86(ef));
	assert_true(elf_file__has_interp(ef));
	assert_true(elf_file__has_symtab(ef));
	n = elf_file__needed(ef, needed, 8);
	assert_true(n >= 1 && n <= 8);
	for (i = 0; i < n; i++)
		libc |= strcmp(needed[i], "libc.so.6") == 0;
	assert_true(libc);
	assert_int_equal(elf_file__needed(ef, NULL, 0), n);
	elf_file__close(ef);
}

static void test_fixture_symbols(void **state)
{
	struct elf_func f, clones[4];
	uint64_t off, want = readelf_symbol(FIXTURE, "pm_fixture_target");
	struct elf_file *ef = elf_file__open(FIXTURE);

	(void)state;
	assert_non_null(ef);
	assert_true(want != 0);
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_target", &f), 0);
	assert_string_equal(f.name, "pm_fixture_target");
	assert_true(f.vaddr == want);
	assert_true(f.size > 0);
	assert_true(f.global);
	assert_true(f.from_symtab);
	assert_false(f.ifunc);
	assert_int_equal(manual_vaddr_to_offset(f.vaddr, &off), 0);
	assert_true(f.offset == off);

	/* Static functions are local symbols. */
	assert_int_equal(elf_file__find_func(ef, "fire_plain", &f), 0);
	assert_false(f.global);

	assert_int_equal(elf_file__find_func(ef, "no_such_function", &f), -ENOENT);
	/* Imported (undefined) functions are not "found". */
	assert_int_equal(elf_file__find_func(ef, "printf", &f), -ENOENT);
	/* Data is not a function. */
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_sink", &f), -ENOENT);
	assert_int_equal(elf_file__find_func(ef, "", &f), -EINVAL);

	assert_int_equal(elf_file__find_func_clones(ef, "pm_fixture_target", clones, 4), 1);
	assert_string_equal(clones[0].name, "pm_fixture_target");
	/* A prefix without the dot is a different function. */
	assert_int_equal(elf_file__find_func_clones(ef, "pm_fixture", clones, 4), 0);
	assert_int_equal(elf_file__find_func_clones(ef, "pm_fixture_target", NULL, 0), 1);
	elf_file__close(ef);
}

static void test_fixture_offsets(void **state)
{
	struct elf_file *ef = elf_file__open(FIXTURE);
	uint64_t sem = readelf_symbol(FIXTURE, "pmfix_gated_semaphore");
	uint64_t bss = readelf_symbol(FIXTURE, "pm_fixture_sink");
	uint64_t off, want;

	(void)state;
	assert_non_null(ef);
	/* The semaphore is in the RW segment, whose offset and vaddr
	 * differ: a real test of the arithmetic. */
	assert_true(sem != 0);
	assert_int_equal(manual_vaddr_to_offset(sem, &want), 0);
	assert_true(want != sem);
	assert_int_equal(elf_file__vaddr_to_offset(ef, sem, &off), 0);
	assert_true(off == want);
	/* .bss has no file bytes. */
	assert_true(bss != 0);
	assert_int_equal(elf_file__vaddr_to_offset(ef, bss, &off), -ENOENT);
	assert_int_equal(elf_file__vaddr_to_offset(ef, 0x7fffffff0000ULL, &off), -ENOENT);
	elf_file__close(ef);
}

static void test_fixture_usdt(void **state)
{
	struct readelf_note want[4] = {0};
	struct usdt_note notes[4], n;
	char bid[128];
	struct elf_file *ef = elf_file__open(FIXTURE);
	uint64_t base, pc_off, sem_off, off;
	int count, i;

	(void)state;
	assert_non_null(ef);
	assert_int_equal(readelf_notes(FIXTURE, bid, sizeof(bid), want, 4), 2);
	count = elf_file__usdt_notes(ef, notes, 4);
	assert_int_equal(count, 2);
	for (i = 0; i < count; i++) {
		assert_string_equal(notes[i].provider, want[i].provider);
		assert_string_equal(notes[i].name, want[i].name);
		assert_string_equal(notes[i].args, want[i].args);
		assert_true(notes[i].pc == want[i].pc);
		assert_true(notes[i].base == want[i].base);
		assert_true(notes[i].semaphore == want[i].sem);
	}
	/* Only max are stored, but all are counted. */
	assert_int_equal(elf_file__usdt_notes(ef, notes, 1), 2);
	assert_int_equal(elf_file__usdt_notes(ef, NULL, 0), 2);

	assert_int_equal(elf_file__find_usdt(ef, "pmfix", "gated", &n), 0);
	assert_string_equal(n.provider, "pmfix");
	assert_true(n.semaphore != 0);
	assert_true(n.semaphore == readelf_symbol(FIXTURE, "pmfix_gated_semaphore"));
	assert_non_null(strstr(n.args, "-4@"));
	assert_non_null(strstr(n.args, " -8@"));
	assert_int_equal(elf_file__usdt_offsets(ef, &n, &pc_off, &sem_off), 0);
	assert_int_equal(manual_vaddr_to_offset(n.pc, &off), 0);
	assert_true(pc_off == off);
	assert_int_equal(manual_vaddr_to_offset(n.semaphore, &off), 0);
	assert_true(sem_off == off);

	assert_int_equal(elf_file__find_usdt(ef, "pmfix", "plain", &n), 0);
	assert_true(n.semaphore == 0);
	assert_string_equal(n.args, "");
	assert_int_equal(elf_file__usdt_offsets(ef, &n, &pc_off, &sem_off), 0);
	assert_true(sem_off == 0);

	assert_int_equal(elf_file__find_usdt(ef, "pmfix", "nope", &n), -ENOENT);
	assert_int_equal(elf_file__find_usdt(ef, "other", "plain", &n), -ENOENT);

	assert_int_equal(elf_file__stapsdt_base(ef, &base), 0);
	assert_true(base == want[0].base);
	elf_file__close(ef);
}

static void test_fixture_build_id(void **state)
{
	struct readelf_note notes[4];
	char want[128], got[128], small[8];
	struct elf_file *ef = elf_file__open(FIXTURE);

	(void)state;
	assert_non_null(ef);
	readelf_notes(FIXTURE, want, sizeof(want), notes, 4);
	assert_true(strlen(want) >= 16);
	assert_int_equal(elf_file__build_id(ef, got, sizeof(got)), 0);
	assert_string_equal(got, want);
	assert_int_equal(elf_file__build_id(ef, small, sizeof(small)), -ENOSPC);
	elf_file__close(ef);
}

static void test_fixture_calls(void **state)
{
	struct elf_call_count c;
	struct elf_func f, target;
	struct elf_file *ef = elf_file__open(FIXTURE);

	(void)state;
	assert_non_null(ef);
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_target", &f), 0);
	/* Two calls in main, one in pm_fixture_opt (see the fixture). */
	assert_int_equal(elf_file__count_direct_calls(ef, f.vaddr), 3);
	assert_int_equal(elf_file__count_calls(ef, f.vaddr, &c), 0);
	assert_int_equal(c.direct, 3);
	assert_int_equal(c.via_plt, 0);
	assert_int_equal(elf_file__find_func(ef, "main", &f), 0);
	assert_int_equal(elf_file__count_direct_calls(ef, f.vaddr), 0);

	/* Restricted to the callers' own code. */
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_target", &target), 0);
	assert_int_equal(elf_file__count_calls_in(ef, target.vaddr, f.vaddr, f.vaddr + f.size, &c),
			 0);
	assert_int_equal(c.direct, 2);
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_opt", &f), 0);
	assert_int_equal(elf_file__count_calls_in(ef, target.vaddr, f.vaddr, f.vaddr + f.size, &c),
			 0);
	assert_int_equal(c.direct, 1);
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_param", &f), 0);
	assert_int_equal(elf_file__count_calls_in(ef, target.vaddr, f.vaddr, f.vaddr + f.size, &c),
			 0);
	assert_int_equal(c.direct, 0);
	elf_file__close(ef);
}

static void test_fixture_dwarf(void **state)
{
	struct elf_param_loc loc;
	struct elf_func param_fn, opt_fn;
	struct elf_file *ef = elf_file__open(FIXTURE);

	(void)state;
	assert_non_null(ef);
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_param", &param_fn), 0);
	assert_int_equal(elf_file__find_func(ef, "pm_fixture_opt", &opt_fn), 0);

	/* -O0: parameters live in stack slots (DW_OP_fbreg). */
	assert_int_equal(elf_dwarf_param_reg_at_entry(FIXTURE, param_fn.vaddr, "alpha"),
			 -EOPNOTSUPP);
	assert_int_equal(elf_dwarf_param_reg_at_entry(FIXTURE, param_fn.vaddr, "beta"),
			 -EOPNOTSUPP);
	/* -O2: in the ABI registers at entry (DWARF 5 = rdi, 4 = rsi). */
	assert_int_equal(elf_dwarf_param_reg_at_entry(FIXTURE, opt_fn.vaddr, "a"), 5);
	assert_int_equal(elf_dwarf_param_reg_at_entry(FIXTURE, opt_fn.vaddr, "b"), 4);
	assert_int_equal(elf_file__dwarf_param_reg(ef, opt_fn.vaddr, "b"), 4);
	assert_int_equal(elf_file__dwarf_param_loc(ef, opt_fn.vaddr, "b", &loc), 0);
	assert_false(loc.is_const);
	assert_int_equal(loc.dwarf_reg, 4);

	assert_int_equal(elf_dwarf_param_reg_at_entry(FIXTURE, opt_fn.vaddr, "zeta"), -ENOENT);
	/* Not the start of a function. */
	assert_int_equal(elf_dwarf_param_reg_at_entry(FIXTURE, opt_fn.vaddr + 1, "a"), -ENOENT);
	assert_int_equal(elf_dwarf_param_reg_at_entry(FIXTURE, 0x7fffffff0000ULL, "a"), -ENOENT);
	assert_int_equal(elf_dwarf_param_reg_at_entry("./.output/no/such/file", opt_fn.vaddr, "a"),
			 -ENOENT);
	elf_file__close(ef);
}

static void test_reg_mapping(void **state)
{
	(void)state;
	assert_int_equal(elf_dwarf_reg_to_pm_reg(5), PM_REG_DI);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(4), PM_REG_SI);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(1), PM_REG_DX);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(2), PM_REG_CX);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(8), PM_REG_R8);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(9), PM_REG_R9);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(0), PM_REG_AX);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(3), PM_REG_BX);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(6), PM_REG_BP);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(10), PM_REG_R10);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(11), PM_REG_R11);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(12), PM_REG_R12);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(13), PM_REG_R13);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(14), PM_REG_R14);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(15), PM_REG_R15);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(7), -1); /* rsp */
	assert_int_equal(elf_dwarf_reg_to_pm_reg(16), -1);
	assert_int_equal(elf_dwarf_reg_to_pm_reg(-1), -1);
	assert_int_equal(PM_REG_MAX, 15);
}

static bool have_file(const char *path)
{
	if (access(path, R_OK) == 0)
		return true;
	print_message("skipping: %s is missing\n", path);
	return false;
}

static void test_libc_malloc(void **state)
{
	static const char libc[] = "/lib/x86_64-linux-gnu/libc.so.6";
	struct elf_func f;
	struct elf_file *ef;

	(void)state;
	if (!have_file(libc))
		skip();
	ef = elf_file__open(libc);
	assert_non_null(ef);
	/* Versioned in .dynsym (malloc@@GLIBC_2.2.5), plain name here. */
	assert_int_equal(elf_file__find_func(ef, "malloc", &f), 0);
	assert_true(f.global);
	assert_false(f.from_symtab);
	assert_false(f.ifunc);
	assert_true(f.vaddr == readelf_symbol(libc, "malloc@@GLIBC_2.2.5"));
	/* libc calls its own malloc through its PLT. */
	assert_true(elf_file__count_direct_calls(ef, f.vaddr) > 10);
	/* memcpy's default version is an IFUNC; the plain STT_FUNC of the
	 * same name is the old compat version and must not be picked. */
	assert_int_equal(elf_file__find_func(ef, "memcpy", &f), -EOPNOTSUPP);
	assert_true(f.ifunc);
	elf_file__close(ef);
}

static void test_debian_python(void **state)
{
	static const char py[] = "/usr/bin/python3.11";
	struct elf_call_count c;
	struct usdt_note n;
	struct elf_func f, u;
	struct elf_file *ef;
	uint64_t base;

	(void)state;
	if (!have_file(py))
		skip();
	ef = elf_file__open(py);
	assert_non_null(ef);
	assert_false(elf_file__has_symtab(ef));
	assert_int_equal(elf_file__find_func(ef, "PyObject_Malloc", &f), 0);
	assert_false(f.from_symtab);
	/* LTO inlined the allocator into PyUnicode_New. */
	assert_int_equal(elf_file__find_func(ef, "PyUnicode_New", &u), 0);
	assert_int_equal(elf_file__count_calls_in(ef, f.vaddr, u.vaddr, u.vaddr + u.size, &c), 0);
	assert_int_equal(c.direct + c.via_plt, 0);
	assert_int_equal(elf_file__find_usdt(ef, "python", "gc__start", &n), 0);
	assert_string_equal(n.args, "-4@112(%rsp)");
	assert_true(n.semaphore != 0);
	assert_int_equal(elf_file__find_usdt(ef, "python", "gc__done", &n), 0);
	assert_int_equal(elf_file__stapsdt_base(ef, &base), 0);
	assert_true(base == n.base);
	elf_file__close(ef);
}

/* The pyenv builds these tests know, 3.8 first. */
static const char *const pyenv_versions[] = {"3.8.18", "3.9.18", "3.10.13",
					     "3.11.7", "3.12.1", "3.13.0"};
#define N_PYENV (sizeof(pyenv_versions) / sizeof(pyenv_versions[0]))

/* pyenv_versions[i]'s libpython, opened (its path in path), or NULL when
 * that build is not installed. */
static struct elf_file *open_pyenv_libpython(size_t i, char *path, size_t len)
{
	const char *v = pyenv_versions[i];
	struct elf_file *ef;

	snprintf(path, len, PYENV "%s/lib/libpython%.*s.so.1.0", v, (int)(strrchr(v, '.') - v), v);
	if (!have_file(path))
		return NULL;
	ef = elf_file__open(path);
	assert_non_null(ef);
	return ef;
}

static void test_pyenv_libpython(void **state)
{
	size_t i;
	int checked = 0;

	(void)state;
	for (i = 0; i < N_PYENV; i++) {
		char path[256];
		struct elf_func clones[4], f, u;
		struct elf_call_count c;
		const char *collector = i <= 1 ? "collect" : "gc_collect_main";
		struct elf_file *ef = open_pyenv_libpython(i, path, sizeof(path));
		int n;

		if (!ef)
			continue;
		assert_true(elf_file__has_symtab(ef));
		assert_int_equal(elf_file__find_func(ef, "PyObject_Malloc", &f), 0);
		assert_true(f.from_symtab);
		/* --enable-shared without -fno-semantic-interposition: the
		 * library calls its own allocator through the PLT. */
		assert_true(elf_file__count_direct_calls(ef, f.vaddr) > 10);
		assert_int_equal(elf_file__find_func(ef, "PyUnicode_New", &u), 0);
		assert_int_equal(
		    elf_file__count_calls_in(ef, f.vaddr, u.vaddr, u.vaddr + u.size, &c), 0);
		assert_int_equal(c.direct + c.via_plt, 1);
		n = elf_file__find_func_clones(ef, collector, clones, 4);
		if (i == 0) {
			struct elf_param_loc loc;
			int k0 = strcmp(clones[0].name, "collect.constprop.0") == 0 ? 0 : 1;

			assert_int_equal(n, 2);
			assert_string_equal(clones[k0].name, "collect.constprop.0");
			assert_string_equal(clones[1 - k0].name, "collect.constprop.1");
			assert_true(clones[1 - k0].vaddr == 0x1d43d0);
			assert_true(clones[k0].vaddr == 0x1d52f0);
			assert_int_equal(elf_file__dwarf_param_reg(ef, 0x1d43d0, "generation"), 5);
			/* constprop.0 is collect() with generation fixed to 2
			 * (its callers pass nofail in edx). */
			assert_int_equal(elf_file__dwarf_param_reg(ef, 0x1d52f0, "generation"),
					 -EOPNOTSUPP);
			assert_int_equal(
			    elf_file__dwarf_param_loc(ef, 0x1d52f0, "generation", &loc), 0);
			assert_true(loc.is_const);
			assert_true(loc.value == 2);
			assert_int_equal(elf_file__dwarf_param_reg(ef, 0x1d52f0, "nofail"), 1);
		} else {
			assert_int_equal(n, 1);
			assert_string_equal(clones[0].name, collector);
			assert_int_equal(
			    elf_file__dwarf_param_reg(ef, clones[0].vaddr, "generation"), 4);
			assert_int_equal(
			    elf_dwarf_param_reg_at_entry(path, clones[0].vaddr, "generation"), 4);
		}
		elf_file__close(ef);
		checked++;
	}
	if (!checked)
		skip();
}

/*
 * The collector found through its code is the one its symbols name, on
 * every build that has both: the copies of gc_collect_main/collect (3.8's
 * two clones, one per way in), each entry an FDE start with a call's frame.
 * The Debian build has no .symtab: its one copy is found, and its USDT
 * gc__start note sits in a part split off a function (its .cold half), not
 * in that copy's own range.
 */
static void test_gc_collector_by_code(void **state)
{
	uint64_t found[8], lo, hi;
	int checked = 0;

	(void)state;
	for (size_t i = 0; i < N_PYENV; i++) {
		struct elf_func clones[4];
		char path[256];
		struct elf_file *ef = open_pyenv_libpython(i, path, sizeof(path));
		int n, nc;

		if (!ef)
			continue;
		nc = elf_file__find_func_clones(ef, i <= 1 ? "collect" : "gc_collect_main", clones,
						4);
		n = py_gc_collector_by_code(ef, found, 8);
		assert_int_equal(n, nc);
		for (int k = 0; k < n; k++) {
			bool hit = false, entry = false;

			for (int j = 0; j < nc; j++)
				hit |= found[k] == clones[j].vaddr;
			assert_true(hit);
			assert_int_equal(elf_file__fde_range(ef, found[k], &lo, &hi, &entry), 0);
			assert_true(lo == found[k]);
			assert_true(entry);
			/* the symbol's size is the hot part's: its FDE's */
			for (int j = 0; j < nc; j++)
				if (clones[j].vaddr == lo)
					assert_true(hi - lo == clones[j].size);
		}
		elf_file__close(ef);
		checked++;
	}
	if (have_file("/usr/bin/python3.11")) {
		struct elf_file *ef = elf_file__open("/usr/bin/python3.11");
		struct usdt_note note;

		assert_non_null(ef);
		bool entry = true;

		assert_int_equal(py_gc_collector_by_code(ef, found, 8), 1);
		assert_int_equal(elf_file__fde_range(ef, found[0], &lo, &hi, &entry), 0);
		assert_true(lo == found[0] && entry);
		/* the marker is in the .cold half (behind its semaphore's
		 * test), which runs in the collector's frame */
		assert_int_equal(elf_file__find_usdt(ef, "python", "gc__start", &note), 0);
		assert_int_equal(elf_file__fde_range(ef, note.pc, &lo, &hi, &entry), 0);
		assert_true(lo != found[0]);
		assert_false(entry);
		elf_file__close(ef);
		checked++;
	}
	if (!checked)
		skip();
}

/*
 * The allocator tables through code alone (elf_tables.c), checked against
 * the symbols: on pyenv 3.8-3.13 each exported PyObject_* wrapper reads the
 * slot of `_PyObject` (3.8-3.11) or of _PyRuntime's copy (3.12+, through
 * the GOT), whose default is the static _PyObject_Malloc & co.; a build
 * without LTO calls through the slot nowhere else. On Debian's LTO build
 * the defaults are what its debug file's symbols say, and the calls through
 * the slot are hundreds, each with its argument located.
 */
static const char *const wrappers[4][2] = {
    {"PyObject_Malloc", "_PyObject_Malloc"},
    {"PyObject_Calloc", "_PyObject_Calloc"},
    {"PyObject_Realloc", "_PyObject_Realloc"},
    {"PyObject_Free", "_PyObject_Free"},
};

/* A function's address from the .symtab of path, also when LTO renamed it
 * "name.lto_priv.N" (read with libelf here: a debug file's symbols name
 * code the file does not hold, which elf_file__find_func does not take). */
static uint64_t sym_value(const char *path, const char *name)
{
	int fd = open(path, O_RDONLY);
	size_t len = strlen(name);
	uint64_t v = 0;
	Elf_Scn *scn = NULL;
	Elf *e;

	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	while (!v && (scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize && !v; i++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    !(n = elf_strptr(e, sh.sh_link, sym.st_name)) || strncmp(n, name, len))
				continue;
			if ((!n[len] || !strncmp(n + len, ".lto_priv.", 10)) && !strstr(n + len, ".cold"))
				v = sym.st_value;
		}
	}
	elf_end(e);
	close(fd);
	return v;
}

static void check_slots(struct elf_file *ef, const char *syms, uint64_t table, bool lto)
{
	static struct elf_slot_site sites[1024];

	for (int k = 0; k < 4; k++) {
		struct elf_func w;
		struct elf_fn_slot s;
		long n;

		assert_int_equal(elf_file__find_func(ef, wrappers[k][0], &w), 0);
		assert_int_equal(elf_file__fn_slot_of(ef, w.vaddr, &s), 0);
		assert_true(s.deflt != 0 && s.deflt == sym_value(syms, wrappers[k][1]));
		if (table)
			assert_true(s.addr == table + 8 * (uint64_t)(k + 1));
		else
			assert_true(s.addr == 0 && s.got && s.disp > 0);
		n = elf_file__fn_slot_sites(ef, &s, w.vaddr, w.vaddr + w.size, sites, 1024);
		assert_true(n >= 0 && n <= 1024);
		if (!lto) {
			assert_int_equal(n, 0);
			continue;
		}
		/* Debian 3.11: the copies of malloc and free, located */
		/* (161 and 19 in 3.11.2-6+deb12u9) */
		if (k == 0)
			assert_true(n >= 100);
		if (k == 3)
			assert_true(n >= 10);
		for (long i = 0; i < n; i++) {
			assert_int_not_equal(sites[i].args[0].kind, ELF_LOC_NONE);
			assert_true(sites[i].addr < w.vaddr || sites[i].addr >= w.vaddr + w.size);
		}
	}
}

static void test_alloc_table_by_code(void **state)
{
	int checked = 0;

	(void)state;
	for (size_t i = 0; i < N_PYENV; i++) {
		char path[256];
		struct elf_file *ef = open_pyenv_libpython(i, path, sizeof(path));
		uint64_t table = 0;

		if (!ef)
			continue;
		/* 3.12+ keep the tables in _PyRuntime */
		if (elf_file__find_object(ef, "_PyObject", &table))
			table = 0;
		check_slots(ef, path, table, false);
		elf_file__close(ef);
		checked++;
	}
	if (have_file("/usr/bin/python3.11") && have_file(DEBIAN_DEBUG_FILE)) {
		struct elf_file *ef = elf_file__open("/usr/bin/python3.11"),
				*dbg = elf_file__open(DEBIAN_DEBUG_FILE);
		uint64_t table;

		assert_non_null(ef);
		assert_non_null(dbg);
		assert_int_equal(elf_file__find_object(dbg, "_PyObject", &table), 0);
		check_slots(ef, DEBIAN_DEBUG_FILE, table, true);
		elf_file__close(dbg);
		elf_file__close(ef);
		checked++;
	}
	if (!checked)
		skip();
}

/* Run every query; on hostile input the only requirement is no crash and
 * no out-of-bounds access (valgrind / ASan watch that). */
static void exercise(struct elf_file *ef, bool dwarf)
{
	struct elf_func f, clones[4];
	struct usdt_note notes[4];
	struct elf_call_count c;
	struct elf_param_loc loc;
	const char *needed[4];
	char bid[64];
	uint64_t off, base;
	int n, i;

	elf_file__has_symtab(ef);
	elf_file__is_64bit_x86(ef);
	elf_file__has_interp(ef);
	elf_file__find_func(ef, "pm_fixture_target", &f);
	elf_file__find_func(ef, "main", &f);
	elf_file__find_func_clones(ef, "pm_fixture_target", clones, 4);
	elf_file__vaddr_to_offset(ef, 0x1000, &off);
	n = elf_file__usdt_notes(ef, notes, 4);
	for (i = 0; i < n && i < 4; i++)
		elf_file__usdt_offsets(ef, &notes[i], &off, &base);
	elf_file__find_usdt(ef, "pmfix", "gated", &notes[0]);
	elf_file__stapsdt_base(ef, &base);
	elf_file__build_id(ef, bid, sizeof(bid));
	n = elf_file__needed(ef, needed, 4);
	for (i = 0; i < n && i < 4; i++)
		assert_true(strlen(needed[i]) < (1u << 30));
	elf_file__count_calls(ef, 0x1160, &c);
	if (dwarf && elf_file__find_func(ef, "pm_fixture_opt", &f) == 0)
		elf_file__dwarf_param_loc(ef, f.vaddr, "b", &loc);
}

static void test_not_elf(void **state)
{
	static const char text[] = "#!/bin/sh\necho hello\n";
	struct elf_file *ef;
	int fd;

	(void)state;
	errno = 0;
	assert_null(elf_file__open_mem(text, sizeof(text)));
	assert_int_equal(errno, ENOEXEC);
	assert_null(elf_file__open_mem(text, 0));
	assert_int_equal(errno, ENOEXEC);
	assert_null(elf_file__open_mem(NULL, 0));
	assert_null(elf_file__open("/nonexistent/file"));
	assert_int_equal(errno, ENOENT);
	assert_null(elf_file__open("."));
	assert_int_equal(errno, EISDIR);
	assert_null(elf_file__open("/dev/null"));
	assert_int_equal(errno, ENOEXEC);

	/* A FIFO must neither block nor be read. */
	{
		char fifo[] = "/tmp/pymac-test-fifo-XXXXXX";

		fd = mkstemp(fifo);
		assert_true(fd >= 0);
		close(fd);
		unlink(fifo);
		assert_int_equal(mkfifo(fifo, 0600), 0);
		assert_null(elf_file__open(fifo));
		assert_int_equal(errno, ENOEXEC);
		unlink(fifo);
	}

	/* The real file through open_mem works like through open. */
	ef = elf_file__open_mem(fixture_buf, fixture_len);
	assert_non_null(ef);
	exercise(ef, true);
	elf_file__close(ef);
}

static void test_truncated(void **state)
{
	size_t len, max = fixture_len < 4096 ? fixture_len : 4096;
	int opened = 0;

	(void)state;
	for (len = 0; len <= max; len++) {
		struct elf_file *ef = elf_file__open_mem(fixture_buf, len);

		if (!ef) {
			assert_int_not_equal(errno, 0);
			continue;
		}
		opened++;
		exercise(ef, false);
		elf_file__close(ef);
	}
	/* Every length from the ELF header (64 bytes) on opens, although the
	 * section headers at the end of the file are missing: the queries
	 * above then ran on half-present files. */
	assert_int_equal(opened, (int)max + 1 - 64);
	/* Cut anywhere in the file, in larger steps. */
	for (len = max; len < fixture_len; len += 97) {
		struct elf_file *ef = elf_file__open_mem(fixture_buf, len);

		if (ef) {
			exercise(ef, true);
			elf_file__close(ef);
		}
	}
}

static uint32_t rng_state = 0x9e3779b9;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void test_random_bytes(void **state)
{
	unsigned char buf[4096];
	int iter;
	size_t i;

	(void)state;
	for (iter = 0; iter < 300; iter++) {
		size_t len = rng() % sizeof(buf);
		struct elf_file *ef;

		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)rng();
		/* Half of them get a valid ELF64 ident so parsing goes deeper. */
		if (iter % 2 && len >= 16) {
			memcpy(buf, ELFMAG, SELFMAG);
			buf[EI_CLASS] = ELFCLASS64;
			buf[EI_DATA] = ELFDATA2LSB;
			buf[EI_VERSION] = EV_CURRENT;
		}
		ef = elf_file__open_mem(buf, len);
		if (ef) {
			exercise(ef, true);
			elf_file__close(ef);
		}
	}
}

/* Corrupt a few bytes of the real file: headers, tables and notes keep
 * their shape but get hostile sizes and offsets. */
static void test_mutated(void **state)
{
	unsigned char *buf = malloc(fixture_len);
	const char *env = getenv("PYMAC_ELF_MUTATIONS");
	int iter, iters = env ? atoi(env) : 400;

	(void)state;
	assert_non_null(buf);
	for (iter = 0; iter < iters; iter++) {
		struct elf_file *ef;
		int k, flips = 1 + (int)(rng() % 8);

		memcpy(buf, fixture_buf, fixture_len);
		for (k = 0; k < flips; k++) {
			size_t pos;

			/* Favour the headers and the tables at the end. */
			switch (rng() % 3) {
			case 0:
				pos = rng() % 64;
				break;
			case 1:
				pos = fixture_len - 1 -
				      rng() % (fixture_len < 4096 ? fixture_len : 4096);
				break;
			default:
				pos = rng() % fixture_len;
				break;
			}
			buf[pos] = (unsigned char)(rng() % 4 ? rng() : 0xff);
		}
		ef = elf_file__open_mem(buf, fixture_len);
		if (ef) {
			exercise(ef, true);
			elf_file__close(ef);
		}
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixture_basics),   cmocka_unit_test(test_fixture_symbols),
	    cmocka_unit_test(test_fixture_offsets),  cmocka_unit_test(test_fixture_usdt),
	    cmocka_unit_test(test_fixture_build_id), cmocka_unit_test(test_fixture_calls),
	    cmocka_unit_test(test_fixture_dwarf),    cmocka_unit_test(test_reg_mapping),
	    cmocka_unit_test(test_libc_malloc),	     cmocka_unit_test(test_debian_python),
	    cmocka_unit_test(test_pyenv_libpython),  cmocka_unit_test(test_gc_collector_by_code),
	    cmocka_unit_test(test_alloc_table_by_code),
	    cmocka_unit_test(test_not_elf),	     cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_random_bytes),     cmocka_unit_test(test_mutated),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
