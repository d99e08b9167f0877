// SPDX-License-Identifier: MIT
/*
 * Unit tests for finding separate debug info and for the inline-aware site
 * walk. Run from the repository root after `make fixtures`: the fixture is
 * split with objcopy into a stripped binary and its debug file, which are
 * then put where a debugger would look. Facts about Debian's python3.11 and
 * pyenv's 3.11.7 are checked when those files exist.
 */
#include <errno.h>
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

#include "attach/debuginfo.h"
#include "attach/elf_inspect.h"

#define FIXTURE	     "./.output/fixtures/usdt_fixture"
#define DEBIAN_PY    "/usr/bin/python3.11"
#define DEBIAN_DEBUG "/usr/lib/debug/.build-id/c5/61f3aa7232f2bd6ac6d56bd475f1c154a00486.debug"
#define PYENV_LIB    "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"

static char tmp[256];

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/pymac-debuginfo-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	/* a stripped binary with a debuglink, and its debug file */
	sh("mkdir -p %s/bin/.debug %s/other %s/dbg && "
	   "objcopy --only-keep-debug %s %s/fx.debug && "
	   "objcopy --strip-debug --add-gnu-debuglink=%s/fx.debug %s %s/bin/fx",
	   tmp, tmp, tmp, FIXTURE, tmp, tmp, FIXTURE, tmp);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", tmp);
	return 0;
}

static struct elf_file *open_bin(const char *path)
{
	struct elf_file *ef = elf_file__open(path);

	assert_non_null(ef);
	return ef;
}

static void test_debuglink_and_crc(void **state)
{
	char path[512], how[256], link[256];
	struct elf_file *bin, *dbg;
	struct debuginfo_query q;
	uint32_t crc;

	(void)state;
	snprintf(path, sizeof(path), "%s/bin/fx", tmp);
	bin = open_bin(path);
	assert_false(elf_file__has_dwarf(bin));
	assert_int_equal(elf_file__debuglink(bin, link, sizeof(link), &crc), 0);
	assert_string_equal(link, "fx.debug");

	q = (struct debuginfo_query){.bin = bin, .path = path, .root_pid = 0};
	/* nowhere yet: the default /usr/lib/debug has no such build-id */
	dbg = debuginfo__open(&q, how, sizeof(how));
	assert_null(dbg);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(how, "no debug info found"));

	/* a file of that name whose CRC differs is not it */
	sh("cp %s %s/bin/.debug/fx.debug", FIXTURE, tmp);
	assert_null(debuginfo__open(&q, how, sizeof(how)));

	/* the right one in .debug/ */
	sh("cp %s/fx.debug %s/bin/.debug/fx.debug", tmp, tmp);
	dbg = debuginfo__open(&q, how, sizeof(how));
	assert_non_null(dbg);
	assert_true(elf_file__has_dwarf(dbg));
	assert_non_null(strstr(how, "debuglink"));
	assert_non_null(strstr(how, "/bin/.debug/fx.debug"));
	elf_file__close(dbg);

	/* the same inside a root: our own, through openat2 RESOLVE_IN_ROOT */
	q.root_pid = getpid();
	dbg = debuginfo__open(&q, how, sizeof(how));
	assert_non_null(dbg);
	elf_file__close(dbg);

	/* an unknown root: paths are not followed on the host */
	q.root_pid = -1;
	assert_null(debuginfo__open(&q, how, sizeof(how)));
	elf_file__close(bin);
}

static void test_build_id_dir(void **state)
{
	char path[512], how[512], id[128], dir[512];
	struct elf_file *bin, *dbg;
	struct debuginfo_query q;

	(void)state;
	snprintf(path, sizeof(path), "%s/bin/fx", tmp);
	bin = open_bin(path);
	assert_int_equal(elf_file__build_id(bin, id, sizeof(id)), 0);
	sh("rm -f %s/bin/.debug/fx.debug && mkdir -p %s/dbg/.build-id/%.2s && "
	   "cp %s/fx.debug %s/dbg/.build-id/%.2s/%s.debug",
	   tmp, tmp, id, tmp, tmp, id, id + 2);
	assert_int_equal(debuginfo__add_dir("relative/dir"), -EINVAL);
	snprintf(dir, sizeof(dir), "%s/dbg/", tmp);
	assert_int_equal(debuginfo__add_dir(dir), 0);
	/* by build-id even where the root is unknown: the id names the file */
	q = (struct debuginfo_query){.bin = bin, .path = path, .root_pid = -1};
	dbg = debuginfo__open(&q, how, sizeof(how));
	assert_non_null(dbg);
	assert_non_null(strstr(how, "build-id"));
	elf_file__close(dbg);

	/* a debug file of another build under that id is refused */
	sh("cp /bin/true %s/dbg/.build-id/%.2s/%s.debug", tmp, id, id + 2);
	assert_null(debuginfo__open(&q, how, sizeof(how)));
	elf_file__close(bin);
}

static void test_file_crc(void **state)
{
	unsigned int crc;
	char path[512];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/crc.txt", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("123456789", f);
	fclose(f);
	f = fopen(path, "r");
	assert_int_equal(debuginfo__file_crc(fileno(f), &crc), 0);
	fclose(f);
	/* the CRC-32 check value */
	assert_int_equal(crc, 0xcbf43926u);
}

static const struct elf_site_query queries[] = {
    {"PyObject_Malloc", {"size"}},
    {"PyObject_Free", {"ptr"}},
    {"_Py_Dealloc", {"op"}},
};

struct site_count {
	int sites[3], inlined[3], located[3];
};

static int count_site(void *ctx, const struct elf_site *s)
{
	struct site_count *c = ctx;

	c->sites[s->func]++;
	c->inlined[s->func] += s->inlined;
	if (s->args[0].kind != ELF_LOC_NONE)
		c->located[s->func]++;
	else
		assert_non_null(s->why);
	return 0;
}

static void test_sites_debian(void **state)
{
	struct site_count c = {0};
	struct elf_file *bin, *dbg;
	long n;

	(void)state;
	if (access(DEBIAN_DEBUG, R_OK) || access(DEBIAN_PY, R_OK))
		skip();
	bin = open_bin(DEBIAN_PY);
	dbg = open_bin(DEBIAN_DEBUG);
	n = elf_file__dwarf_sites(dbg, bin, queries, 3, count_site, &c);
	assert_true(n > 500);
	/* LTO: the entry points are inlined at over a hundred places each;
	 * one out-of-line copy of each remains (the exported function) */
	assert_true(c.inlined[0] > 100 && c.sites[0] == c.inlined[0] + 1);
	assert_true(c.inlined[2] > 300 && c.sites[2] == c.inlined[2] + 1);
	assert_true(c.located[0] > c.sites[0] * 8 / 10);
	assert_int_equal(c.located[1], c.sites[1]);
	/* the stripped binary has no DWARF of its own */
	assert_int_equal(elf_file__dwarf_sites(bin, bin, queries, 3, count_site, &c), -ENOENT);
	elf_file__close(dbg);
	elf_file__close(bin);
}

static int pyenv_site(void *ctx, const struct elf_site *s)
{
	(void)ctx;
	/* no LTO: only the functions themselves, arguments in rdi */
	assert_false(s->inlined);
	assert_int_equal(s->args[0].kind, ELF_LOC_REG);
	assert_int_equal(s->args[0].dwarf_reg, 5);
	return 0;
}

static void test_sites_pyenv(void **state)
{
	struct elf_file *lib;

	(void)state;
	if (access(PYENV_LIB, R_OK))
		skip();
	lib = open_bin(PYENV_LIB);
	assert_int_equal(elf_file__dwarf_sites(lib, lib, queries, 3, pyenv_site, NULL), 3);
	elf_file__close(lib);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_crc),
	    /* before any --debug-dir: the default search */
	    cmocka_unit_test(test_debuglink_and_crc),
	    cmocka_unit_test(test_build_id_dir),
	    cmocka_unit_test(test_sites_debian),
	    cmocka_unit_test(test_sites_pyenv),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
