// SPDX-License-Identifier: MIT
/*
 * pm_record_from_bpf (feed/consumer.c): each ring-buffer layout of
 * bpf/events.h decodes into the fields of struct pm_record that the
 * sinks read; a record shorter than its layout, or of a kind BPF never
 * writes, is refused; a string without its NUL is cut inside its array.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "feed/consumer.h"

static struct pm_hdr hdr(enum pm_kind kind)
{
	return (struct pm_hdr){
	    .ts_ns = 123456789,
	    .cgroup_id = 0x4242,
	    .pid = 77,
	    .tid = 78,
	    .kind = kind,
	    .block = 48,
	};
}

static void assert_head(const struct pm_record *rec, enum pm_kind kind)
{
	assert_int_equal(rec->type, PM_REC_EVENT);
	assert_int_equal(rec->ev.ts_ns, 123456789);
	assert_int_equal(rec->ev.cgroup_id, 0x4242);
	assert_int_equal(rec->ev.pid, 77);
	assert_int_equal(rec->ev.tid, 78);
	assert_int_equal(rec->ev.kind, kind);
}

static void test_alloc_kinds(void **state)
{
	static const enum pm_kind kinds[] = {PM_PY_MALLOC, PM_PY_CALLOC, PM_PY_REALLOC,
					     PM_MALLOC,	   PM_CALLOC,	 PM_REALLOC};

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct pm_alloc_rec r = {.h = hdr(kinds[i]),
					 .size = 4096,
					 .addr = 0x7f0000001000,
					 .old_addr = 0x7f0000000800};
		struct pm_record rec;

		assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
		assert_head(&rec, kinds[i]);
		assert_int_equal(rec.ev.alloc.size, 4096);
		assert_int_equal(rec.ev.alloc.addr, 0x7f0000001000);
		assert_int_equal(rec.ev.alloc.old_addr, 0x7f0000000800);
		assert_int_equal(rec.ev.alloc.old_block, 48);
		/* one byte short of the layout */
		assert_int_equal(pm_record_from_bpf(&r, sizeof(r) - 1, &rec), -EINVAL);
	}
}

static void test_free_kinds(void **state)
{
	struct pm_free_rec r = {.h = hdr(PM_PY_FREE), .addr = 0xdead0};
	struct pm_record rec;

	(void)state;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_head(&rec, PM_PY_FREE);
	assert_int_equal(rec.ev.free.addr, 0xdead0);
	assert_int_equal(rec.ev.free.block, 48);
	r.h.kind = PM_FREE;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_int_equal(rec.ev.kind, PM_FREE);
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r.h), &rec), -EINVAL);
}

static void test_dealloc_name_terminated(void **state)
{
	struct pm_dealloc_rec r = {.h = hdr(PM_PY_DEALLOC), .obj = 0x1000, .type = 0x2000};
	struct pm_record rec;

	(void)state;
	strcpy(r.type_name, "Node");
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_head(&rec, PM_PY_DEALLOC);
	assert_int_equal(rec.ev.dealloc.obj, 0x1000);
	assert_int_equal(rec.ev.dealloc.type, 0x2000);
	assert_string_equal(rec.ev.dealloc.type_name, "Node");
	/* a name that fills its array: cut to fit, inside the record */
	memset(r.type_name, 'x', sizeof(r.type_name));
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_ptr_equal(rec.ev.dealloc.type_name, r.type_name);
	assert_int_equal(strlen(rec.ev.dealloc.type_name), PM_TYPE_NAME_LEN - 1);
}

static void test_gc(void **state)
{
	struct pm_gc_rec r = {.h = hdr(PM_GC_DONE),
			      .generation = 2,
			      .source = PM_GC_SRC_UPROBE,
			      .collected = 10,
			      .duration_ns = 5000,
			      .uncollectable = 1};
	struct pm_record rec;

	(void)state;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_head(&rec, PM_GC_DONE);
	assert_int_equal(rec.ev.gc.generation, 2);
	assert_int_equal(rec.ev.gc.source, PM_GC_SRC_UPROBE);
	assert_int_equal(rec.ev.gc.collected, 10);
	assert_int_equal(rec.ev.gc.duration_ns, 5000);
	assert_int_equal(rec.ev.gc.uncollectable, 1);
	r.h.kind = PM_GC_START;
	r.collected = -1;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_int_equal(rec.ev.gc.collected, -1);
	assert_int_equal(pm_record_from_bpf(&r, offsetof(struct pm_gc_rec, uncollectable), &rec),
			 -EINVAL);
}

static void test_exec_exit_strings(void **state)
{
	struct pm_proc_rec r = {.h = hdr(PM_EXEC), .ppid = 1, .exit_code = 0};
	struct pm_record rec;

	(void)state;
	strcpy(r.comm, "python3");
	strcpy(r.path, "/usr/bin/python3.11");
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_head(&rec, PM_EXEC);
	assert_int_equal(rec.ev.proc.ppid, 1);
	assert_string_equal(rec.ev.proc.comm, "python3");
	assert_string_equal(rec.ev.proc.path, "/usr/bin/python3.11");
	memset(r.comm, 'c', sizeof(r.comm));
	memset(r.path, 'p', sizeof(r.path));
	r.h.kind = PM_EXIT;
	r.exit_code = 256;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_int_equal(rec.ev.proc.exit_code, 256);
	assert_int_equal(strlen(rec.ev.proc.comm), PM_COMM_LEN - 1);
	assert_int_equal(strlen(rec.ev.proc.path), PM_PATH_LEN - 1);
}

static void test_vm(void **state)
{
	struct pm_vm_rec r = {.h = hdr(PM_VM),
			      .op = PM_VM_MREMAP,
			      .prot = 3,
			      .addr = 0x10000,
			      .len = 8192,
			      .old_addr = 0x20000,
			      .old_len = 4096,
			      .flags = 0x22};
	struct pm_record rec;

	(void)state;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), 0);
	assert_head(&rec, PM_VM);
	assert_int_equal(rec.ev.vm.op, PM_VM_MREMAP);
	assert_int_equal(rec.ev.vm.prot, 3);
	assert_int_equal(rec.ev.vm.addr, 0x10000);
	assert_int_equal(rec.ev.vm.len, 8192);
	assert_int_equal(rec.ev.vm.old_addr, 0x20000);
	assert_int_equal(rec.ev.vm.old_len, 4096);
	assert_int_equal(rec.ev.vm.flags, 0x22);
}

/* Kinds BPF never writes (rss comes from user space), and no kind at all. */
static void test_refused(void **state)
{
	struct pm_vm_rec r = {.h = hdr(PM_RSS)};
	struct pm_record rec;

	(void)state;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), -EINVAL);
	r.h.kind = 0;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), -EINVAL);
	r.h.kind = PM_KIND_MAX;
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r), &rec), -EINVAL);
	assert_int_equal(pm_record_from_bpf(&r, sizeof(r.h) - 1, &rec), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alloc_kinds),
	    cmocka_unit_test(test_free_kinds),
	    cmocka_unit_test(test_dealloc_name_terminated),
	    cmocka_unit_test(test_gc),
	    cmocka_unit_test(test_exec_exit_strings),
	    cmocka_unit_test(test_vm),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
