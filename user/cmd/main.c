// SPDX-License-Identifier: MIT
/* pymac: see what CPython's memory machinery does, from outside. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd/commands.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} commands[] = {
    {"record", cmd_record, "trace a command or running processes into a file"},
    {"replay", cmd_replay, "summarise or print a recorded trace"},
    {"live", cmd_live, "show a live per-container timeline in the terminal"},
    {"run", cmd_run, "run Python modules, each in its own container, traced from the start"},
    {"ps", cmd_ps, "list containers and Python processes, and what pymac would see"},
};

static void usage(FILE *out)
{
	fprintf(out,
		"pymac %s: trace CPython's allocations, deallocations and garbage collections\n"
		"with eBPF, from outside the program.\n\n"
		"USAGE: pymac COMMAND [OPTIONS]\n\nCOMMANDS:\n",
		PYMAC_VERSION);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].what);
	fprintf(out,
		"\nEXAMPLES:\n"
		"  pymac record -o t.pmt -- python3 tests/modules/test_multiply_gc.collect.py\n"
		"  pymac replay t.pmt\n"
		"  pymac record -o t.pmt -p 1234 --duration 10\n"
		"  pymac run test_baseline.py test_refcount.py --test-dir tests/modules\n"
		"  pymac ps --verbose\n\n"
		"`pymac COMMAND --help` describes each command. record, live, run and ps need "
		"root, or\n"
		"the capabilities they name when they are missing (replay needs none).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return PM_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("pymac %s\n", PYMAC_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char name[32];

		if (strcmp(argv[1], commands[i].name))
			continue;
		/* argp names the program by argv[0] in its usage line and its
		 * hints ("Try `pymac record --help'"): the whole command */
		snprintf(name, sizeof(name), "pymac %s", commands[i].name);
		argv[1] = name;
		return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "pymac: unknown command '%s' (try: pymac --help)\n", argv[1]);
	return PM_EXIT_USAGE;
}
