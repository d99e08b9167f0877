// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "model/footprint.h"

#define MiB (1ull << 20)
#define KiB (1ull << 10)

static void vm(struct footprint *f, unsigned op, uint64_t addr, uint64_t len, uint64_t old_addr,
	       uint64_t old_len)
{
	struct pm_event ev = {.kind = PM_VM};

	ev.vm.op = op;
	ev.vm.addr = addr;
	ev.vm.len = len;
	ev.vm.old_addr = old_addr;
	ev.vm.old_len = old_len;
	assert_int_equal(footprint__apply(f, &ev, NULL), 0);
}

static void test_arena_size_by_version(void **state)
{
	(void)state;
	assert_int_equal(footprint__arena_size("3.8"), 256 * KiB);
	assert_int_equal(footprint__arena_size("3.9"), 256 * KiB);
	assert_int_equal(footprint__arena_size("3.10"), MiB);
	assert_int_equal(footprint__arena_size("3.13"), MiB);
	assert_int_equal(footprint__arena_size(""), 0);
	assert_int_equal(footprint__arena_size("2.7"), 0);
	assert_int_equal(footprint__arena_size(NULL), 0);
}

static void test_arenas_and_other_maps(void **state)
{
	struct footprint f = {.arena_size = MiB};

	(void)state;
	vm(&f, PM_VM_MMAP, 0x100000, MiB, 0, 0);
	vm(&f, PM_VM_MMAP, 0x300000, MiB, 0, 0);
	vm(&f, PM_VM_MMAP, 0x500000, 5000, 0, 0); /* rounded up to two pages */
	assert_int_equal(f.bytes[FP_ARENA], 2 * MiB);
	assert_int_equal(f.bytes[FP_MMAP], 8192);
	assert_int_equal(f.arena_maps, 2);
	vm(&f, PM_VM_MUNMAP, 0x100000, MiB, 0, 0);
	assert_int_equal(f.bytes[FP_ARENA], MiB);
	assert_int_equal(f.arena_unmaps, 1);
	assert_int_equal(f.peak, 2 * MiB + 8192);
	/* a munmap of what was never seen mapped changes nothing */
	vm(&f, PM_VM_MUNMAP, 0x900000, MiB, 0, 0);
	assert_int_equal(footprint__total(&f), MiB + 8192);
	footprint__free(&f);
}

static void test_partial_unmap_splits(void **state)
{
	struct footprint f = {.arena_size = MiB};

	(void)state;
	vm(&f, PM_VM_MMAP, 0x100000, 64 * KiB, 0, 0);
	vm(&f, PM_VM_MUNMAP, 0x104000, 8 * KiB, 0, 0); /* a hole in the middle */
	assert_int_equal(f.n, 2);
	assert_int_equal(f.bytes[FP_MMAP], 56 * KiB);
	vm(&f, PM_VM_MUNMAP, 0x0f0000, 0x12000, 0, 0); /* from before it into its head */
	assert_int_equal(f.bytes[FP_MMAP], 48 * KiB);
	assert_int_equal(f.r[0].start, 0x102000);
	vm(&f, PM_VM_MUNMAP, 0x100000, MiB, 0, 0); /* everything else */
	assert_int_equal(f.n, 0);
	assert_int_equal(f.bytes[FP_MMAP], 0);
	assert_int_equal(f.arena_unmaps, 0);
	footprint__free(&f);
}

static void test_fixed_map_replaces(void **state)
{
	struct footprint f = {.arena_size = MiB};

	(void)state;
	vm(&f, PM_VM_MMAP, 0x100000, 64 * KiB, 0, 0);
	vm(&f, PM_VM_MMAP, 0x108000, 64 * KiB, 0, 0); /* overlaps the tail */
	assert_int_equal(f.bytes[FP_MMAP], 96 * KiB);
	assert_int_equal(f.n, 2);
	footprint__free(&f);
}

static void test_mremap(void **state)
{
	struct footprint f = {.arena_size = MiB};

	(void)state;
	vm(&f, PM_VM_MMAP, 0x100000, 200 * KiB, 0, 0);
	vm(&f, PM_VM_MREMAP, 0x800000, 400 * KiB, 0x100000, 200 * KiB);
	assert_int_equal(f.bytes[FP_MMAP], 400 * KiB);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.r[0].start, 0x800000);
	/* a mapping pymac did not see made stays unknown when it moves */
	vm(&f, PM_VM_MREMAP, 0x2000000, 400 * KiB, 0x1000000, 200 * KiB);
	assert_int_equal(f.bytes[FP_MMAP], 400 * KiB);
	footprint__free(&f);
}

static void test_brk_and_rss(void **state)
{
	struct footprint f = {0};
	struct pm_event rss = {.kind = PM_RSS};

	(void)state;
	vm(&f, PM_VM_BRK, 0x5000000 + 132 * KiB, 0, 0x5000000, 0);
	assert_int_equal(f.heap, 132 * KiB);
	vm(&f, PM_VM_BRK, 0x5000000 + 4 * KiB, 0, 0x5000000, 0);
	assert_int_equal(f.heap, 4 * KiB);
	assert_int_equal(f.peak, 132 * KiB);
	rss.rss.rss = 10 * MiB;
	rss.rss.anon = 6 * MiB;
	assert_int_equal(footprint__apply(&f, &rss, NULL), 0);
	rss.rss.rss = 8 * MiB;
	assert_int_equal(footprint__apply(&f, &rss, NULL), 0);
	assert_true(f.have_rss);
	assert_int_equal(f.rss, 8 * MiB);
	assert_int_equal(f.rss_peak, 10 * MiB);
	/* without a version, both arena sizes count */
	vm(&f, PM_VM_MMAP, 0x100000, 256 * KiB, 0, 0);
	vm(&f, PM_VM_MMAP, 0x200000, MiB, 0, 0);
	assert_int_equal(f.arena_maps, 2);
	footprint__free(&f);
}

static void test_exec_drops_mappings(void **state)
{
	struct footprint f = {0};
	struct pm_event ex = {.kind = PM_EXEC};

	(void)state;
	vm(&f, PM_VM_MMAP, 0x100000, 256 * KiB, 0, 0); /* no version yet: an arena */
	assert_int_equal(f.arena_maps, 1);
	assert_int_equal(footprint__apply(&f, &ex, NULL), 0);
	assert_int_equal(footprint__total(&f), 0);
	assert_int_equal(f.n, 0);
	assert_int_equal(f.peak, 256 * KiB);
	/* the new program is a 3.11: only 1 MiB mappings are arenas */
	ex.kind = PM_VM;
	ex.vm.op = PM_VM_MMAP;
	ex.vm.addr = 0x100000;
	ex.vm.len = 256 * KiB;
	assert_int_equal(footprint__apply(&f, &ex, "3.11"), 0);
	assert_int_equal(f.arena_maps, 1);
	assert_int_equal(f.bytes[FP_MMAP], 256 * KiB);
	footprint__free(&f);
}

/* Mappings read from /proc at attach count in the total, not as arenas made. */
static void test_existing(void **state)
{
	struct footprint f = {.arena_size = MiB};
	struct pm_event ev = {.kind = PM_VM};

	(void)state;
	ev.vm.op = PM_VM_MMAP;
	ev.vm.addr = 0x100000;
	ev.vm.len = MiB;
	ev.vm.flags = PM_VM_EXISTING;
	assert_int_equal(footprint__apply(&f, &ev, NULL), 0);
	ev.vm.op = PM_VM_BRK;
	ev.vm.addr = 0x5000000 + 64 * KiB;
	ev.vm.old_addr = 0x5000000;
	assert_int_equal(footprint__apply(&f, &ev, NULL), 0);
	assert_int_equal(f.arena_maps, 0);
	assert_int_equal(f.existing, MiB + 64 * KiB);
	assert_int_equal(footprint__total(&f), MiB + 64 * KiB);
	/* released later: an arena pymac did not see made */
	vm(&f, PM_VM_MUNMAP, 0x100000, MiB, 0, 0);
	assert_int_equal(f.arena_unmaps, 1);
	assert_int_equal(footprint__total(&f), 64 * KiB);
	footprint__free(&f);
}

static void test_many_ranges_stay_sorted(void **state)
{
	struct footprint f = {.arena_size = MiB};

	(void)state;
	/* map in a scrambled order, unmap every other one */
	for (uint64_t i = 0; i < 1000; i++)
		vm(&f, PM_VM_MMAP, 0x10000000 + ((i * 617) % 1000) * 2 * MiB, MiB, 0, 0);
	assert_int_equal(f.n, 1000);
	for (size_t i = 1; i < f.n; i++)
		assert_true(f.r[i - 1].end <= f.r[i].start);
	for (uint64_t i = 0; i < 1000; i += 2)
		vm(&f, PM_VM_MUNMAP, 0x10000000 + i * 2 * MiB, MiB, 0, 0);
	assert_int_equal(f.bytes[FP_ARENA], 500 * MiB);
	assert_int_equal(f.arena_unmaps, 500);
	footprint__free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arena_size_by_version),
	    cmocka_unit_test(test_arenas_and_other_maps),
	    cmocka_unit_test(test_partial_unmap_splits),
	    cmocka_unit_test(test_fixed_map_replaces),
	    cmocka_unit_test(test_mremap),
	    cmocka_unit_test(test_brk_and_rss),
	    cmocka_unit_test(test_exec_drops_mappings),
	    cmocka_unit_test(test_existing),
	    cmocka_unit_test(test_many_ranges_stay_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
