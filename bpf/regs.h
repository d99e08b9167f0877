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

#endif /* PYMAC_REGS_H */
