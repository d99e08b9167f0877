// SPDX-License-Identifier: MIT
/*
 * Where `pymac live -- COMMAND` sends the command's output, so that it never
 * lands in the view (docs/user-guide.md, "The program's output"):
 *  - the full screen owns the terminal: the command's standard output and
 *    error go to a file, /tmp/pymac-live-PID.out (PID: pymac's) unless
 *    --command-output names one, said before the screen opens and at exit;
 *  - lines into a file or a pipe (`> memory.log`): the command's standard
 *    output goes to pymac's standard error, the terminal as a rule, and the
 *    log holds only lines; when standard error is that same file, both go
 *    to the file above instead;
 *  - lines on the terminal: the command shares it, as it would without pymac.
 * util/outfile.c opens the file: a link, a FIFO, a device or another user's
 * file at the name is refused, so a planted /tmp name cannot redirect it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "feed/session.h"
#include "util/outfile.h"

/* Are standard output and standard error the same open file? */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int open_file(struct live_output *lo, const char *path)
{
	char why[512];
	struct pm_out o;
	uid_t uid;
	gid_t gid;
	int e;

	if (path)
		snprintf(lo->path, sizeof(lo->path), "%s", path);
	else
		snprintf(lo->path, sizeof(lo->path), "/tmp/pymac-live-%d.out", (int)getpid());
	e = pm_out_open(&o, lo->path, PM_OUT_IN_PLACE, why, sizeof(why));
	if (e) {
		pm_err("%s; --command-output FILE puts the program's output elsewhere", why);
		return -1;
	}
	lo->fd = o.fd;
	pm_out_commit(&o, true, why, sizeof(why));
	/* under sudo, the output belongs to the user who asked for it */
	if (pm_sudo_owner(&uid, &gid) && fchown(lo->fd, uid, gid))
		pm_err("cannot give %s to uid %u: %s", lo->path, (unsigned)uid, strerror(errno));
	return 0;
}

int live_output__open(struct live_output *lo, const char *path, bool full_screen, struct session *s)
{
	if (!full_screen && isatty(STDOUT_FILENO) && !path)
		return 0; /* lines on the terminal: shared */
	if (full_screen || path || same_file(STDOUT_FILENO, STDERR_FILENO)) {
		if (open_file(lo, path))
			return -1;
		session__command_output(s, lo->fd, lo->fd);
		fprintf(stderr, "pymac: the program's output goes to %s\n", lo->path);
	} else {
		session__command_output(s, STDERR_FILENO, STDERR_FILENO);
		fprintf(stderr, "pymac: the program's output goes to standard error, the lines to "
				"standard output\n");
	}
	return 0;
}

void live_output__close(struct live_output *lo, bool say)
{
	if (lo->fd < 0)
		return;
	close(lo->fd);
	lo->fd = -1;
	if (say)
		fprintf(stderr, "pymac: the program's output is in %s\n", lo->path);
}
