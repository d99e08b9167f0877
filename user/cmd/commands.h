/* SPDX-License-Identifier: MIT */
/* pymac's subcommands. Each takes the arguments after its name (argv[0] is
 * the subcommand) and returns the process exit status. */
#ifndef PYMAC_COMMANDS_H
#define PYMAC_COMMANDS_H

#include <argp.h>
#include <stdbool.h>
#include "util/clock.h"
#include "util/msg.h"

int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_live(int argc, char **argv);
/* The view options `live` and `replay --view timeline` share: --lines,
 * --interval, --stats (an argp child; it sets the defaults itself). */
struct view_opts {
	bool lines, stats;
	double interval; /* seconds between --lines */
};
extern const struct argp timeline_view_argp;
/* `replay --view timeline`: the live view fed from a trace (speed 0: as
 * fast as possible). Returns the exit status. */
int timeline_replay(const char *path, const struct view_opts *v, double speed);
int cmd_ps(int argc, char **argv);


#endif /* PYMAC_COMMANDS_H */
