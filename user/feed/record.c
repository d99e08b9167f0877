// SPDX-License-Identifier: MIT
#include <string.h>
#include "feed/record.h"

static const char *const kind_names[PM_KIND_MAX] = {
    [PM_PY_MALLOC] = "py_malloc",
    [PM_PY_CALLOC] = "py_calloc",
    [PM_PY_REALLOC] = "py_realloc",
    [PM_PY_FREE] = "py_free",
    [PM_PY_DEALLOC] = "py_dealloc",
    [PM_GC_START] = "gc_start",
    [PM_GC_DONE] = "gc_done",
    [PM_MALLOC] = "malloc",
    [PM_CALLOC] = "calloc",
    [PM_REALLOC] = "realloc",
    [PM_FREE] = "free",
    [PM_EXEC] = "exec",
    [PM_EXIT] = "exit",
    [PM_VM] = "vm",
    [PM_RSS] = "rss",
};

static const char *const vm_op_names[] = {
    [PM_VM_MMAP] = "mmap",
    [PM_VM_MUNMAP] = "munmap",
    [PM_VM_MREMAP] = "mremap",
    [PM_VM_BRK] = "brk",
};

const char *pm_vm_op_name(unsigned op)
{
	return op < sizeof(vm_op_names) / sizeof(vm_op_names[0]) && vm_op_names[op]
		   ? vm_op_names[op]
		   : "?";
}

const char *pm_kind_name(unsigned kind)
{
	return kind < PM_KIND_MAX ? kind_names[kind] : NULL;
}

enum pm_kind pm_kind_from_name(const char *name)
{
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (strcmp(kind_names[k], name) == 0)
			return (enum pm_kind)k;
	return 0;
}

const char *pm_python_allocator(const char *python_version)
{
	size_t n = python_version ? strlen(python_version) : 0;

	if (!n)
		return "";
	return python_version[n - 1] == 't' ? "mimalloc" : "pymalloc";
}

const char *pm_source_status_name(enum pm_source_status st)
{
	switch (st) {
	case PM_SRC_FULL:
		return "full";
	case PM_SRC_PARTIAL:
		return "partial";
	case PM_SRC_NONE:
		return "none";
	case PM_SRC_OFF:
		return "off";
	}
	return "unknown";
}
