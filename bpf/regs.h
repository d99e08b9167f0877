/* SPDX-License-Identifier: MIT */
/*
 * Register slots that user space hands to the BPF programs to say where a
 * function argument lives at the probed instruction (for example which
 * register holds `generation` at the entry of a GCC clone of CPython's
 * collector). The BPF side maps each slot to a struct pt_regs field; user
 * space derives the slot from DWARF (elf_dwarf_reg_to_pm_reg()).
 *
 * Plain C with no includes so that BPF and user code can both use it. The
 * values are passed through BPF maps / rodata: never renumber.
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
	PM_REG_COUNT = 15, /* one past the last slot */
};

#endif /* PYMAC_REGS_H */
