// SPDX-License-Identifier: MIT
/*
 * The kernel's uprobe floor on this machine: a program that only counts
 * is attached to a tiny function of this binary, the function is called N
 * times, and the time per call above the unprobed loop is one hit's cost.
 * Each function starts (or has its site) at one kind of instruction, so
 * the figures show what the kernel's emulation saves over single-stepping.
 * Usage: floor [--calls N] [--runs R]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "floor.skel.h"

/* Functions with a known first instruction: they take one argument and
 * return, so the calling loop is the same for all. */
asm(".text\n"
    ".globl site_nop\n.type site_nop,@function\n"
    "site_nop:\n nop\n ret\n.size site_nop,.-site_nop\n"
    ".globl site_nop5\n.type site_nop5,@function\n"
    "site_nop5:\n .byte 0x0f,0x1f,0x44,0x00,0x00\n ret\n.size site_nop5,.-site_nop5\n"
    ".globl site_push\n.type site_push,@function\n"
    "site_push:\n push %rbp\n pop %rbp\n ret\n.size site_push,.-site_push\n"
    ".globl site_jcc\n.type site_jcc,@function\n"
    "site_jcc:\n test %rdi,%rdi\n js 1f\n1:\n ret\n.size site_jcc,.-site_jcc\n"
    ".globl site_endbr\n.type site_endbr,@function\n"
    "site_endbr:\n endbr64\n ret\n.size site_endbr,.-site_endbr\n"
    ".globl site_mov\n.type site_mov,@function\n"
    "site_mov:\n mov %rdi,%rax\n ret\n.size site_mov,.-site_mov\n"
    ".globl site_sub\n.type site_sub,@function\n"
    "site_sub:\n sub $8,%rsp\n add $8,%rsp\n ret\n.size site_sub,.-site_sub\n");

long site_nop(long), site_nop5(long), site_push(long), site_jcc(long), site_endbr(long),
    site_mov(long), site_sub(long);

struct site {
	const char *label, *func;
	long (*fn)(long);
	unsigned long off; /* probe at func + off */
	bool ret;	   /* also a uretprobe (entry probes only) */
};

static const struct site sites[] = {
    {"nop (emulated)", "site_nop", site_nop, 0, false},
    {"nop5 (emulated; 6.18 turns it into a call)", "site_nop5", site_nop5, 0, false},
    {"push %rbp (emulated)", "site_push", site_push, 0, false},
    {"jcc after test (emulated, at +3)", "site_jcc", site_jcc, 3, false},
    {"endbr64 (single-stepped)", "site_endbr", site_endbr, 0, false},
    {"mov %rdi,%rax (single-stepped)", "site_mov", site_mov, 0, false},
    {"sub $8,%rsp (single-stepped)", "site_sub", site_sub, 0, false},
    {"push %rbp + uretprobe", "site_push", site_push, 0, true},
    {"endbr64 + uretprobe", "site_endbr", site_endbr, 0, true},
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per call of fn over n calls; the pointer is volatile so that every
 * call is a real call */
static double loop(long (*fn)(long), long n)
{
	long (*volatile f)(long) = fn;
	double t0 = now_ns();

	for (long i = 0; i < n; i++)
		f(i);
	return (now_ns() - t0) / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct bpf_link *attach(struct bpf_program *prog, const char *exe, const struct site *s,
			       bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = s->func, .retprobe = ret);

	return bpf_program__attach_uprobe_opts(prog, getpid(), exe, ret ? 0 : s->off, &o);
}

int main(int argc, char **argv)
{
	long calls = 200000;
	int runs = 5;
	char exe[4096];
	ssize_t n;
	struct floor_bpf *skel;
	double base[64];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--calls"))
			calls = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--runs"))
			runs = atoi(argv[i + 1]);
	}
	if (runs < 1 || runs > 64 || calls < 1) {
		fprintf(stderr, "usage: floor [--calls N] [--runs 1..64]\n");
		return 2;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return perror("readlink"), 1;
	exe[n] = '\0';
	libbpf_set_print(NULL);
	skel = floor_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "floor: cannot load the BPF program: %s\n", strerror(errno));
		return 1;
	}
	for (int r = 0; r < runs; r++)
		base[r] = loop(site_nop, calls);
	qsort(base, runs, sizeof(base[0]), cmp_double);
	printf("  unprobed call            %.1f ns (median of %d runs of %ld calls)\n",
	       base[runs / 2], runs, calls);
	for (size_t k = 0; k < sizeof(sites) / sizeof(sites[0]); k++) {
		const struct site *s = &sites[k];
		double per[64];
		bool ok = true;

		for (int r = 0; r < runs; r++) {
			struct bpf_link *l1, *l2 = NULL;
			__u64 want = s->ret ? 2 * calls : calls;

			l1 = attach(skel->progs.floor_count, exe, s, false);
			if (l1 && s->ret)
				l2 = attach(skel->progs.floor_count, exe, s, true);
			if (!l1 || (s->ret && !l2)) {
				printf("  %-44s cannot attach: %s\n", s->label, strerror(errno));
				bpf_link__destroy(l1);
				ok = false;
				break;
			}
			/* warm up: the first hit maps the XOL page or, for nop5,
			 * rewrites the site */
			loop(s->fn, 1000);
			skel->bss->hits = 0;
			per[r] = loop(s->fn, calls) - base[runs / 2];
			if (skel->bss->hits != want) {
				printf("  %-44s counted %llu hits for %llu probe hits\n", s->label,
				       (unsigned long long)skel->bss->hits,
				       (unsigned long long)want);
				ok = false;
			}
			bpf_link__destroy(l2);
			bpf_link__destroy(l1);
		}
		if (!ok)
			continue;
		qsort(per, runs, sizeof(per[0]), cmp_double);
		printf("  %-44s ns per call above unprobed: min %.0f  median %.0f  max %.0f\n",
		       s->label, per[0], per[runs / 2], per[runs - 1]);
	}
	floor_bpf__destroy(skel);
	return 0;
}
