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

/* The last object a compare's site recorded on this CPU, and by which
 * thread (PM_DEALLOC_BY_COMPARE); obj 0 once a free consumed it. */
struct by_compare {
	__u64 tid;
	__u64 obj;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct by_compare);
} dealloc_by_compare SEC(".maps");

static __always_inline int dealloc(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	__u64 obj = pm_loc_value(ctx, PM_COOKIE_LOC1(cookie)), type = 0, name = 0, refcnt = 1;
	__u32 kind = PM_COOKIE_KIND(cookie), check = PM_DEALLOC_CHECK(kind), zero = 0;
	struct by_compare *bc = NULL;
	struct pm_dealloc_rec *r;

	if (!pm_is_traced(id >> 32))
		return 0;
	if (kind & PM_DEALLOC_BY_COMPARE)
		bc = bpf_map_lookup_elem(&dealloc_by_compare, &zero);
	bool ft = PM_COOKIE_DEALLOC_FT(cookie);
	__u32 off_type = ft ? 24 : pm_off_ob_type, off_name = ft ? 40 : pm_off_tp_name;

	if (bpf_probe_read_user(&type, sizeof(type), (void *)(obj + off_type)))
		type = 0;
	if (check == PM_DEALLOC_CHECK_TYPE &&
	    (!type || type != pm_loc_value(ctx, PM_COOKIE_LOC2(cookie))))
		return 0;
	if (check == PM_DEALLOC_CHECK_SLOT) {
		__u64 fn = 0;

		/* the function called is the object's own type's tp_dealloc */
		if (!type ||
		    bpf_probe_read_user(&fn, sizeof(fn), (void *)(type + (ft ? 0x40 : 0x30))) ||
		    !fn || fn != pm_loc_value(ctx, PM_COOKIE_LOC2(cookie)))
			return 0;
	}
	bool freed = check == PM_DEALLOC_CHECK_FREED || check == PM_DEALLOC_CHECK_FREED_TYPE;

	if (freed && ft) {
		__u32 local = 1;
		__u64 shared = 1;

		/* both counts 0 (the shared one's flag bits aside) */
		if (!type || bpf_probe_read_user(&local, sizeof(local), (void *)(obj + 12)) ||
		    bpf_probe_read_user(&shared, sizeof(shared), (void *)(obj + 16)) || local ||
		    (shared >> 2))
			return 0;
	} else if (freed &&
		   (!type || bpf_probe_read_user(&refcnt, sizeof(refcnt), (void *)obj) || refcnt)) {
		return 0;
	}
	if (check == PM_DEALLOC_CHECK_FREED_TYPE &&
	    type != PT_REGS_IP(ctx) + PM_COOKIE_DIST(cookie))
		return 0;
	if (bc && !freed) {
		/* a compare's branch: its destructor may end at a free below */
		bc->tid = id;
		bc->obj = obj;
	} else if (bc) {
		bool same = bc->obj == obj && bc->tid == id;

		bc->obj = 0;
		/* the end of the destructor its compare stood for */
		if (same)
			return 0;
	}
	r = pm_reserve(struct pm_dealloc_rec, PM_PY_DEALLOC, id >> 32);
	if (!r)
		return 0;
	pm_fill_hdr(&r->h, PM_PY_DEALLOC, id);
	r->obj = obj;
	r->type_name[0] = '\0';
	if (type && bpf_probe_read_user(&name, sizeof(name), (void *)(type + off_name)) == 0 &&
	    name)
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
