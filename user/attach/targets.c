// SPDX-License-Identifier: MIT
/*
 * What a target runs: a process's identity and the Python object and libc
 * it maps, the binaries a command will load before it starts, and the
 * Python a container's PATH names. Their files are opened by
 * targets_files.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/elf_inspect.h"
#include "util/fileio.h"
#include "attach/targets_impl.h"

static const char *path_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

bool target_python_version_from_path(const char *path, char *out, size_t outlen)
{
	const char *b = path_basename(path), *p = b;

	while ((p = strstr(p, "python")) != NULL) {
		const char *q = p + 6;
		int major = 0, minor = 0, n = 0;

		if (sscanf(q, "%d.%d%n", &major, &minor, &n) == 2 && n > 0 && major >= 2 &&
		    major < 10) {
			/* "3.13t": the free-threaded build's ABI flag, as in
			 * libpython3.13t.so and python3.13t */
			snprintf(out, outlen, "%d.%d%s", major, minor, q[n] == 't' ? "t" : "");
			return true;
		}
		p = q;
	}
	return false;
}

bool target_is_python_object(const char *host_path, int *err)
{
	struct elf_file *ef = elf_file__open(host_path);
	struct elf_func f;
	bool yes;

	if (err)
		*err = ef ? 0 : errno;
	if (!ef)
		return false;
	yes = elf_file__find_func(ef, "PyObject_Malloc", &f) == 0;
	elf_file__close(ef);
	return yes;
}

static bool is_libc_name(const char *base)
{
	return strcmp(base, "libc.so.6") == 0 || strncmp(base, "libc-2.", 7) == 0 ||
	       strncmp(base, "libc.musl-", 10) == 0 || strncmp(base, "ld-musl-", 8) == 0;
}

static bool may_be_python_name(const char *base)
{
	return strncmp(base, "libpython", 9) == 0 || strncmp(base, "python", 6) == 0;
}

/* Find the cgroup v2 mount point once (cgroup2 may be at /sys/fs/cgroup or
 * at /sys/fs/cgroup/unified next to v1 controllers). */
static const char *cgroup2_root(void)
{
	static char root[PATH_MAX];
	static bool done;
	char line[4096];
	FILE *f;

	if (done)
		return root[0] ? root : NULL;
	done = true;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		/* ... mountpoint ... - fstype source opts */
		char mnt[PATH_MAX], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
			snprintf(root, sizeof(root), "%s", mnt);
			break;
		}
	}
	fclose(f);
	return root[0] ? root : NULL;
}

uint64_t target_cgroup_id(pid_t pid)
{
	char p[64], line[PATH_MAX + 32], dir[PATH_MAX * 2];
	const char *root = cgroup2_root();
	uint64_t id = 0;
	struct stat st;
	FILE *f;

	if (!root)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
	f = fopen(p, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			if (snprintf(dir, sizeof(dir), "%s%s", root, line + 3) < (int)sizeof(dir) &&
			    stat(dir, &st) == 0)
				id = st.st_ino;
			break;
		}
	}
	fclose(f);
	return id;
}

static void read_comm_ppid(pid_t pid, struct target_proc *tp)
{
	char p[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* pid (comm) state ppid ...; comm may hold spaces and parentheses */
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r || r < l)
		return;
	snprintf(tp->comm, sizeof(tp->comm), "%.*s", (int)(r - l - 1), l + 1);
	int ppid = 0;
	if (sscanf(r + 1, " %*c %d", &ppid) == 1)
		tp->ppid = ppid;
}

int target_proc__inspect(pid_t pid, struct target_proc *tp)
{
	char exe[PATH_MAX];
	size_t exelen;
	struct maps_entry *m = NULL;
	size_t n = 0;
	char p[64];
	ssize_t len;
	int err;

	memset(tp, 0, sizeof(*tp));
	tp->pid = pid;
	err = procmaps__read(pid, &m, &n);
	if (err)
		return err;
	read_comm_ppid(pid, tp);
	snprintf(p, sizeof(p), "/proc/%d/exe", pid);
	len = readlink(p, tp->exe, sizeof(tp->exe) - 1);
	if (len > 0)
		tp->exe[len] = '\0';
	tp->cgroup_id = target_cgroup_id(pid);
	/* a replaced executable reads "/path (deleted)" here, "/path" in maps */
	snprintf(exe, sizeof(exe), "%s", tp->exe);
	exelen = strlen(exe);
	if (exelen > 10 && strcmp(exe + exelen - 10, " (deleted)") == 0)
		exe[exelen - 10] = '\0';

	for (size_t i = 0; i < n; i++) {
		const char *path = m[i].path, *base = path_basename(path);

		if (path[0] != '/' || m[i].perms[2] != 'x')
			continue;
		if (!tp->has_libc && is_libc_name(base)) {
			tg_fill_mapped_binary(&tp->libc, pid, &m[i]);
			tp->has_libc = true;
		}
		if (!tp->has_python && (may_be_python_name(base) || strcmp(path, exe) == 0)) {
			struct target_binary b;
			int err;

			tg_fill_mapped_binary(&b, pid, &m[i]);
			if (!target_is_python_object(b.host_path, &err)) {
				if (err && !tp->python_err && may_be_python_name(base)) {
					tp->python_err = err;
					snprintf(tp->python_err_path, sizeof(tp->python_err_path),
						 "%s", path);
				}
			} else {
				tp->python = b;
				tp->has_python = true;
				if (!target_python_version_from_path(path, tp->python_version,
								     sizeof(tp->python_version)))
					target_python_version_from_path(tp->exe, tp->python_version,
									sizeof(tp->python_version));
			}
		}
	}
	free(m);
	return 0;
}

int target_find_in_path(const char *name, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/')) {
		if (access(name, X_OK))
			return -errno;
		snprintf(out, outlen, "%s", name);
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t dl = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(dl ? dl : 1), dl ? path : ".", name);
		if (access(buf, X_OK) == 0) {
			struct stat st;

			if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
				snprintf(out, outlen, "%s", buf);
				return 0;
			}
		}
		path += dl;
		if (*path == ':')
			path++;
	}
	return -ENOENT;
}

/* If `file` starts with "#!", put the interpreter it names in interp
 * (resolving "/usr/bin/env NAME" through PATH). 1 if it did, 0 if the file
 * is no script, -errno. */
static int script_interpreter(const char *file, char *interp, size_t len)
{
	char line[512], first[256] = "", second[256] = "";
	FILE *f = fopen(file, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	if (n < 2 || line[0] != '#' || line[1] != '!')
		return 0;
	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line + 2, " %255s %255s", first, second) < 1)
		return -ENOEXEC;
	if (strcmp(path_basename(first), "env") == 0 && second[0] && second[0] != '-')
		return target_find_in_path(second, interp, len) ? -ENOENT : 1;
	snprintf(interp, len, "%s", first);
	return 1;
}

/* Ask the dynamic loader which libraries exe loads, and note the Python
 * object and libc among them. */
static int loaded_objects(const char *exe, struct target_command *tc)
{
	int pipefd[2], status;
	char line[PATH_MAX + 128];
	pid_t pid;
	FILE *f;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pipefd[1], STDOUT_FILENO);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		setenv("LD_TRACE_LOADED_OBJECTS", "1", 1);
		execl(exe, exe, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	if (!f) {
		close(pipefd[0]);
		waitpid(pid, &status, 0);
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		/* "\tlibpython3.11.so.1.0 => /path/libpython3.11.so.1.0 (0x...)" */
		char *arrow = strstr(line, "=> "), path[PATH_MAX];

		if (!arrow || sscanf(arrow + 3, "%4095s", path) != 1 || path[0] != '/')
			continue;
		const char *base = path_basename(path);
		if (!tc->has_libc && is_libc_name(base)) {
			tg_fill_binary(&tc->libc, 0, path);
			tc->has_libc = true;
		} else if (!tc->has_python && may_be_python_name(base) &&
			   target_is_python_object(path, NULL)) {
			tg_fill_binary(&tc->python, 0, path);
			tc->has_python = true;
			target_python_version_from_path(path, tc->python_version,
							sizeof(tc->python_version));
		}
	}
	fclose(f);
	waitpid(pid, &status, 0);
	return 0;
}

int target_command__resolve(const char *argv0, struct target_command *tc, char *err, size_t errlen)
{
	char file[PATH_MAX], interp[PATH_MAX];
	struct elf_file *ef;
	int ret, depth;

	memset(tc, 0, sizeof(*tc));
	if (target_find_in_path(argv0, file, sizeof(file))) {
		snprintf(err, errlen, "%s: command not found", argv0);
		return -ENOENT;
	}
	for (depth = 0; depth < 4; depth++) {
		ret = script_interpreter(file, interp, sizeof(interp));
		if (ret < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", file, strerror(-ret));
			return ret;
		}
		if (ret == 0)
			break;
		snprintf(file, sizeof(file), "%s", interp);
	}
	if (!realpath(file, tc->exe))
		snprintf(tc->exe, sizeof(tc->exe), "%s", file);
	ef = elf_file__open(tc->exe);
	if (!ef) {
		snprintf(err, errlen, "%s: not an ELF executable", tc->exe);
		return -ENOEXEC;
	}
	struct elf_func f;
	if (elf_file__find_func(ef, "PyObject_Malloc", &f) == 0) {
		tg_fill_binary(&tc->python, 0, tc->exe);
		tc->has_python = true;
		target_python_version_from_path(tc->exe, tc->python_version,
						sizeof(tc->python_version));
	}
	bool dynamic = elf_file__has_interp(ef);
	elf_file__close(ef);
	if (dynamic) {
		ret = loaded_objects(tc->exe, tc);
		if (ret) {
			snprintf(err, errlen, "%s: cannot list its libraries: %s", tc->exe,
				 strerror(-ret));
			return ret;
		}
	}
	if (tc->has_python && !tc->python_version[0])
		target_python_version_from_path(tc->exe, tc->python_version,
						sizeof(tc->python_version));
	return 0;
}

/* Value of an environment variable of a process, or NULL. */
static char *proc_getenv(pid_t pid, const char *name, char *buf, size_t len)
{
	char p[64], *env = NULL;
	size_t n, nl = strlen(name);

	snprintf(p, sizeof(p), "/proc/%d/environ", pid);
	if (pm_read_file(p, 0, 1u << 20, &env, &n))
		return NULL;
	for (size_t i = 0; i < n; i += strlen(env + i) + 1)
		if (strncmp(env + i, name, nl) == 0 && env[i + nl] == '=') {
			snprintf(buf, len, "%s", env + i + nl + 1);
			free(env);
			return buf;
		}
	free(env);
	return NULL;
}

/* Find a library by soname the way the loader would, inside pid's root. */
static bool find_lib_in_root(pid_t pid, const char *exe, const char *soname,
			     struct target_binary *b)
{
	static const char *const dirs[] = {
	    "$ORIGIN/../lib",
	    "/usr/local/lib",
	    "/lib/x86_64-linux-gnu",
	    "/usr/lib/x86_64-linux-gnu",
	    "/lib64",
	    "/usr/lib64",
	    "/lib",
	    "/usr/lib",
	};
	char origin[PATH_MAX], cand[PATH_MAX * 2], real[PATH_MAX];

	snprintf(origin, sizeof(origin), "%s", exe);
	*strrchr(origin, '/') = '\0';
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (strncmp(dirs[i], "$ORIGIN", 7) == 0)
			snprintf(cand, sizeof(cand), "%s%s/%s", origin, dirs[i] + 7, soname);
		else
			snprintf(cand, sizeof(cand), "%s/%s", dirs[i], soname);
		if (target_resolve_in_root(pid, cand, real, sizeof(real)))
			continue;
		if (tg_fill_binary(b, pid, real) == 0)
			return true;
	}
	return false;
}

int target_root__find_python(pid_t pid, struct target_command *tc)
{
	static const char *const names[] = {"python3", "python"};
	char path[4096], real[PATH_MAX];
	const char *needed[64];
	struct target_binary exe;
	struct stat st;

	memset(tc, 0, sizeof(*tc));
	if (!proc_getenv(pid, "PATH", path, sizeof(path)))
		snprintf(path, sizeof(path),
			 "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (size_t k = 0; k < 2 && !tc->exe[0]; k++) {
		for (const char *d = path; *d && !tc->exe[0];) {
			size_t dl = strcspn(d, ":");
			char cand[PATH_MAX];

			if (dl && d[0] == '/' &&
			    snprintf(cand, sizeof(cand), "%.*s/%s", (int)dl, d, names[k]) <
				(int)sizeof(cand) &&
			    target_resolve_in_root(pid, cand, real, sizeof(real)) == 0 &&
			    tg_fill_binary(&exe, pid, real) == 0 && stat(exe.host_path, &st) == 0 &&
			    (st.st_mode & 0111))
				snprintf(tc->exe, sizeof(tc->exe), "%s", real);
			d += dl;
			if (*d == ':')
				d++;
		}
	}
	if (!tc->exe[0])
		return -ENOENT;

	struct elf_file *ef = elf_file__open(exe.host_path);
	if (!ef)
		return -ENOEXEC;
	struct elf_func f;
	if (elf_file__find_func(ef, "PyObject_Malloc", &f) == 0) {
		tc->python = exe;
		tc->has_python = true;
	}
	int n = elf_file__needed(ef, needed, 64);
	for (int i = 0; i < n && i < 64; i++) {
		struct target_binary b;

		if (!tc->has_python && strncmp(needed[i], "libpython", 9) == 0 &&
		    find_lib_in_root(pid, tc->exe, needed[i], &b) &&
		    target_is_python_object(b.host_path, NULL)) {
			tc->python = b;
			tc->has_python = true;
		} else if (!tc->has_libc && is_libc_name(needed[i]) &&
			   find_lib_in_root(pid, tc->exe, needed[i], &b)) {
			tc->libc = b;
			tc->has_libc = true;
		}
	}
	elf_file__close(ef);
	if (tc->has_python && !target_python_version_from_path(tc->python.path, tc->python_version,
							       sizeof(tc->python_version)))
		target_python_version_from_path(tc->exe, tc->python_version,
						sizeof(tc->python_version));
	return tc->has_python ? 0 : -ENOEXEC;
}
