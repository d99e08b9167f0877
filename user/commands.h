/* SPDX-License-Identifier: MIT */
/* pymac's subcommands. Each takes the arguments after its name (argv[0] is
 * the subcommand) and returns the process exit status. */
#ifndef PYMAC_COMMANDS_H
#define PYMAC_COMMANDS_H

#include <stdbool.h>

int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_live(int argc, char **argv);
/* `replay --view timeline`: the live view fed from a trace (speed 0: as
 * fast as possible). Returns the exit status. */
int timeline_replay(const char *path, bool lines, double interval, double speed, bool stats);
/* The --interval of the line mode (live and replay): 0, or -EINVAL when
 * arg is not a number of seconds from 0.01 to 3600. */
int timeline_parse_interval(const char *arg, double *out);
int cmd_ps(int argc, char **argv);

/* Clock used for every timestamp (the one bpf_ktime_get_ns reads). */
unsigned long long pm_now_ns(void);
/* Print "pymac: " + message + newline on stderr. */
void pm_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PYMAC_COMMANDS_H */
