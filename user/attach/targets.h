/* SPDX-License-Identifier: MIT */
/*
 * Finding what to trace: a process's identity, the binaries it maps that
 * pymac probes (the Python interpreter object and libc), and the binaries a
 * command will use before it starts.
 */
#ifndef PYMAC_TARGETS_H
#define PYMAC_TARGETS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A binary file as pymac opens it and as the kernel identifies it. */
struct target_binary {
	char path[PATH_MAX]; /* as the target process sees it */
	/*
	 * What pymac opens: for another process's file, /proc/self/fd/N of a
	 * descriptor pymac keeps open (opened inside that process's root, so
	 * neither a symlink nor a later rename can redirect it); for the
	 * command pymac starts, the path itself.
	 */
	char host_path[PATH_MAX];
	/* the process whose root path is in (0: the host's, e.g. the command
	 * pymac starts), for lookups next to it such as debug files */
	pid_t root_pid;
	uint64_t dev, ino; /* of host_path, as the host sees it */
			   /*
			    * Through overlayfs, host_path is the file in the image layer that
			    * holds it (the file the kernel probes), so containers sharing the
			    * layer get the same dev/ino.
			    */
};

struct target_proc {
	pid_t pid, ppid;
	char comm[16];
	char exe[PATH_MAX]; /* as the process sees it */
	uint64_t cgroup_id; /* cgroup v2 id (inode of its cgroup directory); 0 if unknown */
	bool has_python;    /* maps an object that defines PyObject_Malloc */
	struct target_binary python;
	char python_version[16]; /* "3.11"; "" if unknown */
	bool has_libc;
	struct target_binary libc;
	/* a mapping named like an interpreter that could not be read (the
	 * errno, and its path as the process sees it); 0 if none */
	int python_err;
	char python_err_path[PATH_MAX];
};

/* Inspect a running process. 0, -ENOENT (no such process), -EACCES, ... */
int target_proc__inspect(pid_t pid, struct target_proc *tp);

/* What a command will run, found before it starts (for `record -- CMD`). */
struct target_command {
	char exe[PATH_MAX]; /* resolved ELF (through #! interpreters) */
	bool has_python;
	struct target_binary python;
	char python_version[16];
	bool has_libc;
	struct target_binary libc;
};

/*
 * Resolve argv[0] through PATH and #! lines, and find the Python object and
 * libc it will load (asking the dynamic loader with LD_TRACE_LOADED_OBJECTS,
 * which lists libraries without running the program). 0 or -errno; on
 * error, err says why in one line.
 */
int target_command__resolve(const char *argv0, struct target_command *tc, char *err, size_t errlen);

/*
 * Resolve an absolute path inside the root of process pid, following
 * symlinks as that process would (an absolute link restarts at its root,
 * ".." stops there). out: the path as the process sees it. 0 or -errno.
 * Every step is taken inside the root (openat2 RESOLVE_IN_ROOT): no host
 * file is looked at, whatever the process's links say.
 */
int target_resolve_in_root(pid_t pid, const char *path, char *out, size_t outlen);

/*
 * open(2) path inside the root of process pid with openat2(2)
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: symlinks and ".." resolve inside
 * that root, as the process would see them. fd or -errno (-ENOSYS: the
 * kernel has no openat2; said once on stderr).
 */
int target_open_in_root(pid_t pid, const char *path, int flags);

/*
 * The Python interpreter that `python3` (else `python`) names on the PATH
 * of process pid, inside its root, with the Python object and libc it
 * loads: what a Python started later in the same container will map, so it
 * can be attached before it runs. Binaries are filled as by
 * target_proc__inspect. 0, -ENOENT (no python3 on its PATH), -ENOEXEC (not
 * a Python interpreter).
 */
int target_root__find_python(pid_t pid, struct target_command *tc);

/* Search PATH for an executable. 0 or -ENOENT. */
int target_find_in_path(const char *name, char *out, size_t outlen);
/* "3.11" from names like libpython3.11.so.1.0, python3.11, python3.11d. */
bool target_python_version_from_path(const char *path, char *out, size_t outlen);
/* cgroup v2 id of a process, or 0. */
uint64_t target_cgroup_id(pid_t pid);
/* Does this file define PyObject_Malloc? *err (if given): 0, or the errno
 * of a file that could not be read as ELF at all (EFBIG: over 4 GiB). */
bool target_is_python_object(const char *host_path, int *err);
/* Fill dev/ino of b->host_path. 0 or -errno. */
int target_binary__stat(struct target_binary *b);

#endif /* PYMAC_TARGETS_H */
