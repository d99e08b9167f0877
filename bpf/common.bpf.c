// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The single definition of every map and global the families share. */
#define PM_MAP /* define, don't declare */
#include "pymac.bpf.h"

const volatile bool pm_filter_cgroups = false;
const volatile bool pm_follow_children = true;
const volatile __u64 pm_wakeup_bytes = 0;
const volatile __u32 pm_off_ob_type = 8;  /* PyObject.ob_type */
const volatile __u32 pm_off_tp_name = 24; /* PyTypeObject.tp_name (after the PyVarObject head) */
__u64 pm_lost_by_kind[PM_KIND_MAX];
struct pm_pool_layout pm_pools[PM_POOL_SLOTS];
struct pm_gc_layout pm_gc_layouts[PM_GC_SLOTS];
__u64 pm_gc_layout_misses;
volatile __u32 pm_window_open;

char LICENSE[] SEC("license") = "Dual MIT/GPL";
