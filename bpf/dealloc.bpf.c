// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Object deallocation: _Py_Dealloc(PyObject *op). The type's name is read
 * here, while the object and its type are surely alive; user space interns
 * it, so the trace stores each name once. The cookie says where `op` is:
 * rdi at the function's entry, or what DWARF says at an inlined copy; at a
 * site found in the machine code (a call through tp_dealloc, a direct call
 * to a destructor) it also says what to check first (regs.h).
 */
#include "pymac.bpf.h"

static __always_inline int dealloc(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	__u64 obj = pm_loc_value(ctx, PM_COOKIE_LOC1(cookie)), type = 0, name = 0, refcnt = 1;
	__u32 check = PM_COOKIE_KIND(cookie);
	struct pm_dealloc_rec *r;

	if (!pm_is_traced(id >> 32))
		return 0;
	if (bpf_probe_read_user(&type, sizeof(type), (void *)(obj + pm_off_ob_type)))
		type = 0;
	if (check == PM_DEALLOC_CHECK_TYPE &&
	    (!type || type != pm_loc_value(ctx, PM_COOKIE_LOC2(cookie))))
		return 0;
	if (check >= PM_DEALLOC_CHECK_FREED &&
	    (!type || bpf_probe_read_user(&refcnt, sizeof(refcnt), (void *)obj) || refcnt))
		return 0;
	if (check == PM_DEALLOC_CHECK_FREED_TYPE &&
	    type != PT_REGS_IP(ctx) + PM_COOKIE_DIST(cookie))
		return 0;
	r = pm_reserve(struct pm_dealloc_rec, PM_PY_DEALLOC, id >> 32);
	if (!r)
		return 0;
	pm_fill_hdr(&r->h, PM_PY_DEALLOC, id);
	r->obj = obj;
	r->type_name[0] = '\0';
	if (type &&
	    bpf_probe_read_user(&name, sizeof(name), (void *)(type + pm_off_tp_name)) == 0 && name)
		bpf_probe_read_user_str(r->type_name, sizeof(r->type_name), (void *)name);
	r->type = type;
	pm_submit_batched(r);
	return 0;
}

SEC("uprobe")
int pm_dealloc(struct pt_regs *ctx)
{
	return dealloc(ctx);
}

/* For a uprobe_multi link of inlined sites (see pm_alloc_site_m). */
SEC("uprobe")
int pm_dealloc_m(struct pt_regs *ctx)
{
	return dealloc(ctx);
}
