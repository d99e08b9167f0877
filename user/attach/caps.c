// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attach/caps.h"
#include "cmd/commands.h"
#include "attach/procmaps.h"
#include "feed/session.h"
#include "attach/targets.h"

/* libcap-dev is not a dependency: capget(2) is one system call. */
static uint64_t effective_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (uint64_t)data[1].effective << 32 | data[0].effective;
}

bool caps__have(int cap)
{
	return cap >= 0 && cap < 64 && (effective_caps() >> cap & 1);
}

#define BIT(c) (1ull << (c))

static const struct {
	int cap;
	const char *name, *setcap, *why;
} cap_names[] = {
    {CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "cap_sys_admin",
     "this kernel's uprobes need it; CAP_BPF and CAP_PERFMON are not enough"},
    {CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "cap_sys_ptrace", NULL},
    {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "cap_dac_read_search", NULL},
};

struct need {
	uint64_t need, missing;
	char ptrace_why[96], dac_why[PATH_MAX + 64];
};

static void want(struct need *n, uint64_t have, int cap)
{
	n->need |= BIT(cap);
	if (!(have & BIT(cap)))
		n->missing |= BIT(cap);
}

/* Docker's data root (container names when the Engine socket is closed to
 * us, and the image layers pymac probes) is root's alone. */
static void want_docker_files(struct need *n, uint64_t have)
{
	const char *root = getenv("PYMAC_DOCKER_ROOT");
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", root && *root ? root : "/var/lib/docker");
	if (access(dir, F_OK) == 0 && faccessat(AT_FDCWD, dir, X_OK, AT_EACCESS) &&
	    (errno == EACCES || errno == EPERM)) {
		if (!(n->need & BIT(CAP_DAC_READ_SEARCH)))
			snprintf(n->dac_why, sizeof(n->dac_why), "to read %s", dir);
		want(n, have, CAP_DAC_READ_SEARCH);
	}
}

static void want_ptrace(struct need *n, uint64_t have, pid_t pid)
{
	if (!(n->need & BIT(CAP_SYS_PTRACE)))
		snprintf(n->ptrace_why, sizeof(n->ptrace_why),
			 "to read pid %d's files and memory map", pid);
	want(n, have, CAP_SYS_PTRACE);
	/* its files are likely another user's too */
	n->need |= BIT(CAP_DAC_READ_SEARCH);
}

/*
 * What a process maps, its root (/proc/PID/root: another user's needs
 * CAP_SYS_PTRACE even where its maps are readable), and the files
 * themselves. A process that does not exist is the session's to report.
 */
static void want_process(struct need *n, uint64_t have, pid_t pid)
{
	struct maps_entry *m = NULL;
	size_t count = 0;
	struct stat st;
	char p[64];
	int fd, err;

	snprintf(p, sizeof(p), "/proc/%d", pid);
	if (stat(p, &st) == 0 && st.st_uid != geteuid())
		want_ptrace(n, have, pid);
	err = procmaps__read(pid, &m, &count);
	if (err == -EACCES || err == -EPERM)
		return want_ptrace(n, have, pid);
	if (err)
		return;
	fd = target_open_in_root(pid, "/", O_PATH | O_DIRECTORY);
	if (fd == -EACCES || fd == -EPERM) {
		free(m);
		return want_ptrace(n, have, pid);
	}
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < count; i++) {
		if (m[i].path[0] != '/' || m[i].perms[2] != 'x' || m[i].deleted)
			continue;
		fd = target_open_in_root(pid, m[i].path, O_RDONLY | O_NONBLOCK);
		if (fd >= 0) {
			close(fd);
		} else if (fd == -EACCES || fd == -EPERM) {
			if (!(n->need & BIT(CAP_DAC_READ_SEARCH)))
				snprintf(n->dac_why, sizeof(n->dac_why), "to read %s", m[i].path);
			want(n, have, CAP_DAC_READ_SEARCH);
			break;
		}
	}
	free(m);
}

int caps__check(const char *cmd, const struct target_opts *t)
{
	uint64_t have = effective_caps();
	struct need n = {};
	char exe[PATH_MAX], *line = NULL;
	size_t size = 0;
	ssize_t len;
	FILE *f;

	if (t) {
		want(&n, have, CAP_SYS_ADMIN);
		for (int i = 0; i < t->npids; i++)
			want_process(&n, have, t->pids[i]);
		if (t->ncontainers || t->nprojects || t->ncgroups || t->all_containers) {
			/* a container's processes belong to its users (root inside) */
			if (!(n.need & BIT(CAP_SYS_PTRACE)))
				snprintf(n.ptrace_why, sizeof(n.ptrace_why),
					 "to read the containers' processes");
			want(&n, have, CAP_SYS_PTRACE);
			want_docker_files(&n, have);
			n.need |= BIT(CAP_DAC_READ_SEARCH);
		}
	} else {
		snprintf(n.ptrace_why, sizeof(n.ptrace_why), "to read other users' processes");
		want(&n, have, CAP_SYS_PTRACE);
		want_docker_files(&n, have);
		n.need |= BIT(CAP_DAC_READ_SEARCH);
	}
	if (!n.missing)
		return 0;

	f = open_memstream(&line, &size);
	if (!f)
		return 1;
	fprintf(f, "%s: missing", cmd);
	for (size_t i = 0, k = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		int c = cap_names[i].cap;
		const char *why = c == CAP_SYS_PTRACE	     ? n.ptrace_why
				  : c == CAP_DAC_READ_SEARCH ? n.dac_why
							     : cap_names[i].why;

		if (!(n.missing & BIT(c)))
			continue;
		fprintf(f, "%s %s", k++ ? "," : "", cap_names[i].name);
		if (why && why[0])
			fprintf(f, " (%s)", why);
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	fprintf(f, "; run as root, or: sudo setcap ");
	for (size_t i = 0, k = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (n.need & BIT(cap_names[i].cap))
			fprintf(f, "%s%s", k++ ? "," : "", cap_names[i].setcap);
	fprintf(f, "+ep %s", exe[0] ? exe : "pymac");
	if (fclose(f))
		return 1;
	pm_err("%s", line);
	free(line);
	return 1;
}
