// SPDX-License-Identifier: MIT
/*
 * `pymac ps`: the running containers and the Python processes in them (and
 * on the host), with what each of pymac's sources would see in each, found
 * by the same ELF analysis as `record` but without loading BPF.
 */
#include <argp.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/caps.h"
#include "attach/debuginfo.h"
#include "cmd/commands.h"
#include "attach/containers.h"
#include "util/json.h"
#include "attach/probes.h"
#include "attach/targets.h"
#include "util/grow.h"

#define PF_KTHREAD 0x00200000u /* include/linux/sched.h */

static const char ps_doc[] =
    "List the running containers and the Python processes in each, and the\n"
    "Python processes of the host, with what each source would see in them.\n"
    "\n"
    "USAGE: pymac ps [--json] [--verbose]\n"
    "\n"
    "For every process that maps a Python interpreter, pymac reads the\n"
    "interpreter and libc it maps, as `pymac record` would, and says per source\n"
    "(pymalloc, dealloc, gc, libc) whether it would see every call (full), part\n"
    "of them (partial), or nothing (none). The footprint source (record --mode\n"
    "footprint: arenas, heap and RSS from syscalls and /proc) needs nothing from\n"
    "the binary and is full wherever pymac runs. Nothing is attached: ps loads no BPF\n"
    "and leaves the processes alone. Containers come from the Docker engine, or,\n"
    "when it does not answer, from the processes' cgroups and Docker's files.\n"
    "It needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (root has them) to read other\n"
    "users' and containers' processes, and refuses, naming what is missing, without.\n"
    "\n"
    "EXAMPLES:\n"
    "  pymac ps\n"
    "  pymac ps --verbose        # why a source is partial or none, and where each\n"
    "                            # function is probed\n"
    "  pymac ps --json | jq '.containers[].processes[].pid'\n"
    "  pymac ps --json | jq '.containers[] | select(.service == \"web\")'\n"
    "\n"
    "OPTIONS:";

enum {
	OPT_JSON = 0x100,
	OPT_DEBUG_DIR,
};

static const struct argp_option ps_options[] = {
    {"json", OPT_JSON, NULL, 0, "Print one JSON object", 0},
    {"verbose", 'v', NULL, 0,
     "Say, per source, what it would see and why, and where each exported function is probed "
     "(offset, instruction, whether the kernel emulates or single-steps it); with --json: "
     "a \"sites\" list per source",
     0},
    {"debug-dir", OPT_DEBUG_DIR, "DIR", 0,
     "Look for separate debug info in DIR instead of /usr/lib/debug (repeatable), as record does",
     0},
    {},
};

struct ps_args {
	bool json, verbose;
};

static error_t ps_parse(int key, char *arg, struct argp_state *state)
{
	struct ps_args *a = state->input;

	switch (key) {
	case OPT_JSON:
		a->json = true;
		break;
	case 'v':
		a->verbose = true;
		break;
	case OPT_DEBUG_DIR:
		if (debuginfo__add_dir(arg))
			argp_error(state, "--debug-dir takes an absolute directory (at most 16)");
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

struct ps_proc {
	struct target_proc tp;
	struct probe_coverage cov;
};

/* A container, or the host (runtime CONTAINER_HOST, id ""). */
struct ps_group {
	struct container_info info;
	struct ps_proc *procs;
	size_t nprocs, capprocs;
};

struct ps_state {
	struct ps_group *groups;
	size_t ngroups, capgroups;
	struct probes *probes;
};

static struct ps_group *group_new(struct ps_state *st, const struct container_info *info)
{
	if (st->ngroups == st->capgroups) {
		void *n = PM_GROW(st->groups, &st->capgroups, st->ngroups + 1, 16);

		if (!n)
			return NULL;
		st->groups = n;
	}
	struct ps_group *g = &st->groups[st->ngroups++];
	memset(g, 0, sizeof(*g));
	g->info = *info;
	return g;
}

/* The group a process belongs to, made on first sight: a container the
 * engine did not list (it stopped answering, or another runtime runs it) is
 * looked up alone, else known by its id only. */
static struct ps_group *group_of(struct ps_state *st, const struct container_ref *ref,
				 const char *cgpath)
{
	struct container_info info;

	for (size_t i = 0; i < st->ngroups; i++)
		if (st->groups[i].info.runtime == ref->runtime &&
		    strcmp(st->groups[i].info.id, ref->id) == 0)
			return &st->groups[i];
	/* the engine lists Docker's containers; others share its id space */
	if (ref->runtime != CONTAINER_HOST)
		for (size_t i = 0; i < st->ngroups; i++)
			if (st->groups[i].info.id[0] && strcmp(st->groups[i].info.id, ref->id) == 0)
				return &st->groups[i];
	memset(&info, 0, sizeof(info));
	if (ref->runtime != CONTAINER_HOST && container_info__lookup(ref->id, &info) == 0 &&
	    strcmp(info.id, ref->id) == 0) {
		info.running = true;
	} else {
		memset(&info, 0, sizeof(info));
		info.runtime = ref->runtime;
		snprintf(info.id, sizeof(info.id), "%s", ref->id);
		if (ref->runtime == CONTAINER_HOST)
			snprintf(info.name, sizeof(info.name), "host");
		else
			info.running = true;
	}
	if (ref->runtime != CONTAINER_HOST && !info.cgroup_id && cgpath[0])
		cgroup2__id_of_path(cgpath, &info.cgroup_id);
	return group_new(st, &info);
}

static int group_add(struct ps_group *g, const struct ps_proc *pp)
{
	if (g->nprocs == g->capprocs) {
		void *n = PM_GROW(g->procs, &g->capprocs, g->nprocs + 1, 8);

		if (!n)
			return -ENOMEM;
		g->procs = n;
	}
	g->procs[g->nprocs++] = *pp;
	return 0;
}

/* Kernel threads map nothing; tell them by their flags rather than opening
 * their (empty) maps. */
static bool is_kernel_thread(pid_t pid)
{
	char p[64], buf[1024];
	unsigned flags = 0;
	ssize_t n;
	int fd;

	if (pid == 2)
		return true; /* kthreadd */
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* pid (comm) state ppid pgrp session tty_nr tpgid flags; comm may hold
	 * spaces and parentheses */
	const char *r = strrchr(buf, ')');
	if (!r || sscanf(r + 1, " %*c %*d %*d %*d %*d %*d %u", &flags) != 1)
		return false;
	return flags & PF_KTHREAD;
}

static int add_process(struct ps_state *st, pid_t pid)
{
	char cgpath[CONTAINER_CGPATH_MAX];
	struct container_ref ref;
	struct ps_group *g;
	struct ps_proc pp;

	if (is_kernel_thread(pid))
		return 0;
	/* gone, or not ours to read: nothing to say about it */
	if (target_proc__inspect(pid, &pp.tp) || !pp.tp.has_python)
		return 0;
	if (container_ref__of_pid(pid, &ref, cgpath, sizeof(cgpath))) {
		if (kill(pid, 0) && errno == ESRCH)
			return 0;
		memset(&ref, 0, sizeof(ref)); /* unreadable cgroup: say host */
		cgpath[0] = '\0';
	}
	probes__attach(st->probes, &pp.tp.python, pp.tp.python_version,
		       pp.tp.has_libc ? &pp.tp.libc : NULL, &pp.cov);
	g = group_of(st, &ref, cgpath);
	if (!g || group_add(g, &pp))
		return -ENOMEM;
	return 0;
}

static int scan_proc(struct ps_state *st)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int err = 0;

	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid > 0x7fffffff)
			continue;
		err = add_process(st, (pid_t)pid);
	}
	closedir(d);
	return err;
}

static int group_cmp(const void *a, const void *b)
{
	const struct container_info *x = &((const struct ps_group *)a)->info;
	const struct container_info *y = &((const struct ps_group *)b)->info;
	int c;

	/* containers by name (unnamed ones after), the host last */
	if ((x->runtime == CONTAINER_HOST) != (y->runtime == CONTAINER_HOST))
		return x->runtime == CONTAINER_HOST ? 1 : -1;
	if (!x->name[0] != !y->name[0])
		return x->name[0] ? -1 : 1;
	c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->id, y->id);
}

static int proc_cmp(const void *a, const void *b)
{
	pid_t x = ((const struct ps_proc *)a)->tp.pid, y = ((const struct ps_proc *)b)->tp.pid;

	return (x > y) - (x < y);
}

static void free_state(struct ps_state *st)
{
	for (size_t i = 0; i < st->ngroups; i++)
		free(st->groups[i].procs);
	free(st->groups);
	probes__free(st->probes);
}

/* ---- text ---- */

/* s made safe for a terminal, "-" if empty. */
static const char *text_str(const char *s, char *buf, size_t len)
{
	size_t n;

	if (!s || !s[0])
		return "-";
	if (strlen(s) >= len)
		s = "?";
	n = text_format_string(buf, s);
	buf[n] = '\0';
	return buf;
}

/* Where each exported function of a source is probed, and what a hit
 * costs there (user/attach/sites.h). */
static void print_sites(const struct probe_coverage *cov, int s, FILE *out)
{
	char site[160], b[200];

	if (cov->status[s] == PM_SRC_OFF || !cov->nsites[s])
		return;
	fprintf(out, "  %7s %-8s sites:", "", "");
	for (int i = 0; i < cov->nsites[s]; i++) {
		probe_site__format(&cov->sites[s][i], site, sizeof(site));
		fprintf(out, "%s %s", i ? "," : "", text_str(site, b, sizeof(b)));
	}
	fputc('\n', out);
}

static void print_text(const struct ps_state *st, bool verbose, FILE *out)
{
	static char b1[PATH_MAX], b2[PATH_MAX], b3[PATH_MAX], b4[PATH_MAX];

	for (size_t i = 0; i < st->ngroups; i++) {
		const struct ps_group *g = &st->groups[i];
		const struct container_info *c = &g->info;

		if (i)
			fputc('\n', out);
		if (c->runtime == CONTAINER_HOST) {
			fprintf(out, "HOST\n");
		} else {
			fprintf(out, "CONTAINER %s", text_str(c->name, b1, sizeof(b1)));
			if (c->project[0] || c->service[0])
				fprintf(out, "  compose %s/%s",
					text_str(c->project, b2, sizeof(b2)),
					text_str(c->service, b3, sizeof(b3)));
			fprintf(out, "  image %s  id %.12s  (%s)\n",
				text_str(c->image, b4, sizeof(b4)), c->id[0] ? c->id : "-",
				container_runtime__name(c->runtime));
		}
		if (!g->nprocs) {
			fprintf(out, "  (no Python process)\n");
			continue;
		}
		fprintf(out, "  %7s %-15s %-8s %-8s %-8s %-8s %-9s %s\n", "PID", "COMM", "PYMALLOC",
			"DEALLOC", "GC", "LIBC", "FOOTPRINT", "PYTHON");
		for (size_t j = 0; j < g->nprocs; j++) {
			const struct ps_proc *pp = &g->procs[j];

			fprintf(out, "  %7d %-15s", pp->tp.pid,
				text_str(pp->tp.comm, b1, sizeof(b1)));
			for (int s = 0; s < PM_SOURCE_COUNT; s++)
				fprintf(out, s == PM_SOURCE_FOOTPRINT ? " %-9s" : " %-8s",
					pm_source_status_name(pp->cov.status[s]));
			fprintf(out, " %s (%s%s)\n", text_str(pp->tp.python.path, b2, sizeof(b2)),
				pp->tp.python_version[0] ? pp->tp.python_version
							 : "version unknown",
				pp->cov.free_threaded ? ", mimalloc" : "");
			if (!verbose)
				continue;
			for (int s = 0; s < PM_SOURCE_COUNT; s++) {
				fprintf(out, "  %7s %-8s %s\n", "",
					probe_coverage__source_name(&pp->cov, s),
					text_str(pp->cov.detail[s], b3, sizeof(b3)));
				print_sites(&pp->cov, s, out);
			}
		}
	}
	if (!st->ngroups)
		fprintf(out, "no running container and no Python process\n");
}

/* ---- JSON ---- */

static void sites_json(struct jsonw *w, const struct probe_coverage *cov, int s)
{
	jsonw_name(w, "sites");
	jsonw_start_array(w);
	for (int i = 0; i < cov->nsites[s]; i++) {
		const struct probe_site *ps = &cov->sites[s][i];

		jsonw_start_object(w);
		jsonw_string_field(w, "function", ps->fn);
		jsonw_int_field(w, "delta", (int)ps->delta);
		jsonw_uint_field(w, "file_offset", ps->offset);
		jsonw_string_field(w, "instruction", ps->insn);
		jsonw_string_field(w, "cost", ps->emulated ? "emulated" : "single-step");
		jsonw_bool_field(w, "uretprobe", ps->retprobe);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
}

static void proc_json(struct jsonw *w, const struct ps_proc *pp, bool verbose)
{
	jsonw_start_object(w);
	jsonw_int_field(w, "pid", pp->tp.pid);
	jsonw_int_field(w, "ppid", pp->tp.ppid);
	jsonw_string_field(w, "comm", pp->tp.comm);
	jsonw_string_field(w, "exe", pp->tp.exe);
	jsonw_string_field(w, "python", pp->tp.python.path);
	jsonw_string_field(w, "python_version", pp->tp.python_version);
	/* what is behind PyObject_Malloc: named as the pymalloc source is */
	jsonw_string_field(w, "allocator",
			   probe_coverage__source_name(&pp->cov, PM_SOURCE_PYMALLOC));
	jsonw_uint_field(w, "cgroup_id", pp->tp.cgroup_id);
	jsonw_name(w, "sources");
	jsonw_start_object(w);
	for (int s = 0; s < PM_SOURCE_COUNT; s++) {
		jsonw_name(w, probe_coverage__source_name(&pp->cov, s));
		jsonw_start_object(w);
		jsonw_string_field(w, "status", pm_source_status_name(pp->cov.status[s]));
		jsonw_string_field(w, "detail", pp->cov.detail[s]);
		if (verbose)
			sites_json(w, &pp->cov, s);
		jsonw_end_object(w);
	}
	jsonw_end_object(w);
	jsonw_end_object(w);
}

static void group_json(struct jsonw *w, const struct ps_group *g, bool verbose)
{
	const struct container_info *c = &g->info;

	jsonw_start_object(w);
	jsonw_string_field(w, "id", c->id);
	jsonw_string_field(w, "name", c->name);
	jsonw_string_field(w, "image", c->image);
	jsonw_string_field(w, "project", c->project);
	jsonw_string_field(w, "service", c->service);
	jsonw_string_field(w, "runtime", container_runtime__name(c->runtime));
	jsonw_uint_field(w, "cgroup_id", c->cgroup_id);
	jsonw_name(w, "processes");
	jsonw_start_array(w);
	for (size_t j = 0; j < g->nprocs; j++)
		proc_json(w, &g->procs[j], verbose);
	jsonw_end_array(w);
	jsonw_end_object(w);
}

static int print_json(const struct ps_state *st, bool verbose, FILE *out)
{
	struct jsonw w;

	jsonw_init(&w, out, true);
	jsonw_start_object(&w);
	jsonw_name(&w, "containers");
	jsonw_start_array(&w);
	for (size_t i = 0; i < st->ngroups; i++)
		group_json(&w, &st->groups[i], verbose);
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	return jsonw_finish(&w);
}

int cmd_ps(int argc, char **argv)
{
	static const struct argp argp = {ps_options, ps_parse, NULL, ps_doc, NULL, NULL, NULL};
	struct ps_args a = {};
	struct ps_state st = {};
	struct container_info *list = NULL;
	size_t nlist = 0;
	int err, status = 0;

	if (argp_parse(&argp, argc, argv, 0, NULL, &a))
		return PM_EXIT_USAGE;
	if (caps__check("ps", NULL))
		return 1;
	if (access("/proc/self/maps", R_OK)) {
		pm_err("cannot read /proc: %s (is procfs mounted?)", strerror(errno));
		return 1;
	}
	st.probes = probes__open_dry(PM_SOURCES_ALL);
	if (!st.probes) {
		pm_err("out of memory");
		return 1;
	}
	/* the engine's running containers first, so those without Python show
	 * too; without an engine, processes still name their containers */
	if (container_info__list(false, &list, &nlist) == 0) {
		for (size_t i = 0; i < nlist; i++)
			if (list[i].running && !group_new(&st, &list[i])) {
				err = -ENOMEM;
				goto out;
			}
	}
	err = scan_proc(&st);
out:
	free(list);
	if (err) {
		if (err == -ENOMEM)
			pm_err("out of memory");
		else
			pm_err("cannot read /proc: %s", strerror(-err));
		free_state(&st);
		return 1;
	}
	qsort(st.groups, st.ngroups, sizeof(*st.groups), group_cmp);
	for (size_t i = 0; i < st.ngroups; i++)
		qsort(st.groups[i].procs, st.groups[i].nprocs, sizeof(struct ps_proc), proc_cmp);
	if (a.json) {
		if (print_json(&st, a.verbose, stdout)) {
			pm_err("out of memory");
			status = 1;
		}
	} else {
		print_text(&st, a.verbose, stdout);
	}
	if (fflush(stdout) && errno != EPIPE) {
		pm_err("writing output: %s", strerror(errno));
		status = 1;
	}
	free_state(&st);
	return status;
}
