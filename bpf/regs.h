/* SPDX-License-Identifier: MIT */
/*
 * Register numbering shared by user space and BPF: user space tells a BPF
 * program (through its BPF cookie) in which register an argument lives, as
 * one of these indexes into struct pt_regs.
 */
#ifndef PYMAC_REGS_H
#define PYMAC_REGS_H

enum pm_reg {
	PM_REG_DI = 0,
	PM_REG_SI = 1,
	PM_REG_DX = 2,
	PM_REG_CX = 3,
	PM_REG_R8 = 4,
	PM_REG_R9 = 5,
	PM_REG_AX = 6,
	PM_REG_BX = 7,
	PM_REG_BP = 8,
	PM_REG_R10 = 9,
	PM_REG_R11 = 10,
	PM_REG_R12 = 11,
	PM_REG_R13 = 12,
	PM_REG_R14 = 13,
	PM_REG_R15 = 14,
	PM_REG_MAX = 15,
};

/*
 * An argument spec passed in a BPF cookie is either a pm_reg slot, or, with
 * this bit set, a constant in the low bits (a parameter that the compiler
 * propagated into a clone, e.g. generation 2 of collect.constprop.0).
 */
#define PM_ARG_CONST 0x80000000u
/* No argument spec: where the value is is not known. */
#define PM_ARG_UNKNOWN 0xffffffffu

/*
 * The stack pointer, which only locations (below) name: DWARF places
 * values in stack slots relative to it. Outside enum pm_reg so that tables
 * of argument registers sized PM_REG_MAX stay as they are.
 */
#define PM_REG_SP 15

/*
 * Where a value lives at a probe site, in 28 bits, so that a BPF cookie
 * carries the event kind and two of them (see PM_COOKIE_*). It is what
 * DWARF says at that address, reduced to the forms BPF reads cheaply:
 *   bits 0-2   PM_LOC_* form
 *   bits 3-6   register (enum pm_reg or PM_REG_SP)
 *   bits 7-10  second register (PM_LOC_SUM)
 *   bits 11-27 signed offset or constant (-65536 .. 65535)
 * The all-zero location is "in rdi", the first argument at a function's
 * entry.
 */
enum pm_loc_form {
	PM_LOC_REG = 0,	    /* the register's value */
	PM_LOC_REG_OFF = 1, /* register + offset */
	PM_LOC_MEM = 2,	    /* 8 bytes in memory at register + offset */
	PM_LOC_CONST = 3,   /* the constant */
	PM_LOC_SUM = 4,	    /* register + second register + offset */
};

#define PM_LOC_BITS    28
#define PM_LOC_OFF_MIN (-65536)
#define PM_LOC_OFF_MAX 65535
#define PM_LOC(form, reg, reg2, off)                                                               \
	((((unsigned)(form)) & 7u) | ((((unsigned)(reg)) & 15u) << 3) |                            \
	 ((((unsigned)(reg2)) & 15u) << 7) | ((((unsigned)(off)) & 0x1ffffu) << 11))
#define PM_LOC_ARG1 PM_LOC(PM_LOC_REG, PM_REG_DI, 0, 0)
#define PM_LOC_ARG2 PM_LOC(PM_LOC_REG, PM_REG_SI, 0, 0)

/*
 * The cookie of an allocator, free or dealloc site: the event kind (enum
 * pm_kind; 0 for dealloc) and where its first and second arguments are.
 * Bits 4-7 name a pool layout (below) for sites that size freed blocks.
 */
#define PM_COOKIE(kind, loc1, loc2)                                                                \
	((unsigned long long)((kind)&0xfu) | (unsigned long long)(loc1) << 8 |                     \
	 (unsigned long long)(loc2) << 36)
#define PM_COOKIE_KIND(c) ((unsigned)((c)&0xf))

#define PM_COOKIE_LOC1(c) ((unsigned)(((c) >> 8) & 0xfffffff))
#define PM_COOKIE_LOC2(c) ((unsigned)(((c) >> 36) & 0xfffffff))
/*
 * Sites that need an address of their binary (pymalloc's `arenas`, a type
 * object, _PyRuntime) carry it in bits 36-63, where loc2 would be, as a
 * signed 28-bit distance from the probed address: the probe's ip plus it is
 * that address whatever the load bias.
 */
#define PM_COOKIE_DIST_MIN (-(1ll << 27))
#define PM_COOKIE_DIST_MAX ((1ll << 27) - 1)
#define PM_COOKIE_DIST(c)  ((long long)(c) >> 36)

/*
 * A dealloc site's "kind" nibble says what the program checks before it
 * records, for sites found in the machine code rather than at _Py_Dealloc:
 *   PM_DEALLOC_CHECK_TYPE   a call through a type's tp_dealloc slot
 *                           (call/jmp *off(%reg)): the register (loc2) is
 *                           the object's (loc1) own type, Py_TYPE(op)
 *   PM_DEALLOC_CHECK_FREED  a direct call to a destructor (3.11+'s
 *                           specialized frees): the object's reference
 *                           count is 0
 */
#define PM_DEALLOC_CHECK_NONE  0
#define PM_DEALLOC_CHECK_TYPE  1
#define PM_DEALLOC_CHECK_FREED 2
/* the same, and the object's type is the one at the probe's address plus
 * the distance in bits 36-63 (PM_COOKIE_DIST; PyFloat_Type for a call to
 * _PyFloat_ExactDealloc; PyLong_Type for PyObject_Free, the destructor the
 * bytecode loop gives ints in 3.11 and 3.12 and calls for other blocks) */
#define PM_DEALLOC_CHECK_FREED_TYPE 3
/* a call through a register that holds a tp_dealloc (loc2): it is the
 * object's own type's (Py_TYPE(op)->tp_dealloc == loc2), where the type's
 * register is not known at the site */
#define PM_DEALLOC_CHECK_SLOT 4
/*
 * With the check, bit 3 of the nibble links two sites. On a compare's
 * branch that profile-guided optimisation made of a call through
 * tp_dealloc (`tp_dealloc == long_dealloc ? inlined long_dealloc : call`),
 * it says that the destructor inlined behind it can end in one of the
 * specialized frees probed (an int's inlined PyObject_Free): the object is
 * remembered for its thread. On such a free (PM_DEALLOC_CHECK_FREED_TYPE),
 * it says that a compare's destructor can end there: the free of the object
 * just remembered is not counted again.
 */
#define PM_DEALLOC_BY_COMPARE 8
/*
 * Bits 4-7 of a dealloc site's cookie (a free site's pool layout) name the
 * object header: 0 the default, PM_DEALLOC_FT the free-threaded build's
 * (3.13t: ob_tid, flags, mutex, gc bits, ob_ref_local (u32 at 12),
 * ob_ref_shared (at 16, the count shifted left by 2 over two flag bits),
 * then ob_type at 24; PyTypeObject's tp_name at 40).
 */
#define PM_DEALLOC_FT		(1ull << 4)
#define PM_COOKIE_DEALLOC_FT(c) (((c) >> 4) & 1)
#define PM_DEALLOC_CHECK(kind)	((kind)&7u)

/*
 * Sizing a freed block from pymalloc's pool header (PM_BLOCK_* in
 * events.h) needs, per build, where pymalloc keeps `arenas` and `maxarenas`
 * and how large its pools and arenas are. user space fills one slot of
 * pm_pools[] per distinct layout and names it in bits 4-7 of the cookie of
 * that build's py_free and py_realloc sites (0: not sized).
 *
 * A py_free site's loc2 (which it does not otherwise use) holds where
 * `arenas` is, as a signed 28-bit distance from the site's own address:
 * the program adds it to the probed address (the uprobe's ip), which gives
 * the runtime address whatever the load bias. A py_realloc site has no
 * spare location; it uses the address a free site of the same process
 * found (map pool_vars).
 */
#define PM_POOL_SLOTS		    16
#define PM_COOKIE_POOL(c)	    ((unsigned)(((c) >> 4) & 0xf))
#define PM_COOKIE_SET_POOL(c, slot) ((c) | ((unsigned long long)((slot)&0xfu) << 4))

struct pm_pool_layout {
	long long maxarenas_off; /* &maxarenas - &arenas */
	unsigned pool_bits;	 /* log2 of a pool's size: 12 (3.8, 3.9), 14 (3.10+) */
	unsigned arena_bits;	 /* log2 of an arena's size: 18, 20 */
	unsigned align_shift;	 /* log2 of pymalloc's alignment: 4 */
	unsigned arenaindex_off; /* struct pool_header */
	unsigned szidx_off;
	unsigned arena_obj_size; /* sizeof(struct arena_object); address is first */
};

/*
 * Where a build keeps the main interpreter's GC state, for a probe on the
 * collector that reads its generation_stats (bpf/gc.bpf.c): user space fills
 * one slot of pm_gc_layouts[] per distinct layout, from a table by version
 * (3.8-3.12) or _Py_DebugOffsets (3.13), and names it in the cookie.
 *
 * Cookie of pm_gc_fn_enter:
 *   bits 0-31   where the collector takes `generation` (PM_ARG_*, or
 *               PM_ARG_UNKNOWN), used only without a layout
 *   bits 32-35  layout slot (0: none)
 *   bits 36-63  _PyRuntime, as a distance from the probed address
 *               (PM_COOKIE_DIST)
 */
#define PM_GC_SLOTS 8
#define PM_GC_COOKIE(spec, slot, dist)                                                             \
	((unsigned long long)(unsigned)(spec) | ((unsigned long long)((slot)&0xfu) << 32) |        \
	 ((unsigned long long)(dist) << 36))
#define PM_GC_COOKIE_SPEC(c) ((unsigned)(c))
#define PM_GC_COOKIE_SLOT(c) ((unsigned)(((c) >> 32) & 0xf))

struct pm_gc_layout {
	/* offset in _PyRuntime of the pointer to the main interpreter; 0: the
	 * GC state is part of _PyRuntime itself (3.8) */
	unsigned interp_off;
	/* offset of the GC state (struct _gc_runtime_state) in the
	 * interpreter, or in _PyRuntime when interp_off is 0 */
	unsigned gc_off;
	/* generation_stats[3] {collections, collected, uncollectable} */
	unsigned stats_off;
	/* a self-check: the pointer at check_off points at the GC state plus
	 * check_to (generation0 -> generations[0]); check_off 0: none */
	unsigned check_off;
	unsigned check_to;
};

#endif /* PYMAC_REGS_H */
