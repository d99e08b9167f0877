/* SPDX-License-Identifier: MIT */
/*
 * The modules of `pymac run` (cmd/run_cmd.c): which files are modules, the
 * heading each gets (its docstring's first line), and the name of the
 * container each runs in. Pure but for run_modules__list.
 */
#ifndef PYMAC_RUN_MODULES_H
#define PYMAC_RUN_MODULES_H

#include <stdbool.h>
#include <stddef.h>

#define RUN_MODULE_NAME_MAX 96 /* longest module file name */
#define RUN_HEADING_MAX	    256

/* A module is named by its file name: NAME.py, of letters, digits, '_',
 * '.' and '-', not starting with '-' or '.'. */
bool run_module__name_ok(const char *name);

/*
 * The first line of the module docstring of Python source src (a string
 * literal that is its first statement, after comments and blank lines),
 * trimmed, into out. 0, or -ENOENT when the module has none (out "").
 */
int run_module__heading(const char *src, size_t len, char *out, size_t outlen);

/* "pymac-run-<module without .py, '.' as '-'>-<tag>", a Docker name. */
void run_module__container_name(const char *module, const char *tag, char *out, size_t len);

/* The test_*.py files of dir, sorted; *names and each name malloc'ed.
 * 0 or -errno. */
int run_modules__list(const char *dir, char ***names, size_t *n);

#endif /* PYMAC_RUN_MODULES_H */
