// SPDX-License-Identifier: MIT
/*
 * `pymac run`: run Python modules, each in a fresh container of its own
 * (Docker Engine API: no network, read-only root, the module directory
 * mounted read-only), held at a gate until the probes are attached, traced
 * from their first instruction to their exit, and summarised per container
 * under each module's docstring.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/caps.h"
#include "attach/containers.h"
#include "attach/probes.h"
#include "cmd/commands.h"
#include "cmd/run_modules.h"
#include "feed/session.h"
#include "model/procstats.h"
#include "trace/trace.h"
#include "util/fileio.h"
#include "views/summary.h"

#define RUN_DEFAULT_IMAGE "pymaccounter/python:3.11"
#define RUN_EXTRA_MAX	  16 /* --volume and --env entries */
#define RUN_FLUSH_NS	  250000000ull
#define RUN_GATE_MS	  30000
#define RUN_SOURCE_MAX	  (1u << 20)

static const char run_doc[] =
    "Run Python modules, each in a fresh container of its own, traced by pymac.\n"
    "\n"
    "USAGE: pymac run [MODULE.py...] [--test-dir DIR] [--debug] [--image IMAGE]\n"
    "                 [--record FILE] [--json] [--probes LIST] [--timeout SECONDS]\n"
    "\n"
    "Each module gets a container of IMAGE created through the Docker Engine API\n"
    "(its socket: /var/run/docker.sock, or $PYMAC_DOCKER_SOCK) with no network, a\n"
    "read-only root, a tmpfs /tmp as its working directory and DIR mounted\n"
    "read-only at /modules. The containers start together but wait at a gate;\n"
    "pymac attaches to all of them, then the gates open, so every module is traced\n"
    "from its first instruction to its exit. When the last one has stopped, the\n"
    "containers are removed and pymac prints each container's summary under its\n"
    "module's heading (the first line of its docstring). Modules are named by file\n"
    "name; with none, every test_*.py in DIR runs.\n"
    "\n"
    "The image needs python3 and sh; scripts/build-image.sh builds the default one\n"
    "(pymaccounter/python:3.11) without a registry. Exit status: 0 when every\n"
    "module exited 0 and tracing succeeded, else 1 (2 for bad usage).\n"
    "\n"
    "EXAMPLES:\n"
    "  pymac run test_baseline.py test_refcount.py --test-dir tests/modules\n"
    "  pymac run --test-dir tests/modules --record modules.pmt   # every test_*.py\n"
    "  pymac run test_refcount.py --test-dir ~/my-modules --debug\n"
    "  pymac run app_test.py --test-dir . --json | jq '.containers[].module'\n"
    "  pymac run t.py --test-dir . -v /srv/data:/data:ro -e MODE=fast\n"
    "  pymac replay modules.pmt           # the same summaries, from the trace\n"
    "\n"
    "OPTIONS:";

enum {
	OPT_TEST_DIR = 0x300,
	OPT_DEBUG,
	OPT_IMAGE,
	OPT_RECORD,
	OPT_JSON,
	OPT_PROBES,
	OPT_TIMEOUT,
};

static const struct argp_option run_options[] = {
    {"test-dir", OPT_TEST_DIR, "DIR", 0, "The directory holding the modules (default: .)", 0},
    {"debug", OPT_DEBUG, NULL, 0,
     "Say what is asked of the engine, show each module's output and pymac's per-process lines", 0},
    {"image", OPT_IMAGE, "IMAGE", 0, "The containers' image (default " RUN_DEFAULT_IMAGE ")", 0},
    {"record", OPT_RECORD, "FILE", 0, "Keep the trace in FILE (for pymac replay)", 0},
    {"json", OPT_JSON, NULL, 0, "Print the summary as one JSON object (as replay --json)", 0},
    {"probes", OPT_PROBES, "LIST", 0,
     "Comma-separated sources: pymalloc,dealloc,gc,libc (default: all)", 0},
    {"timeout", OPT_TIMEOUT, "SECONDS", 0,
     "Stop the containers after SECONDS (default 300); the run fails then", 0},
    {"volume", 'v', "HOST:PATH[:ro]", 0, "Also mount HOST at PATH in every container", 0},
    {"env", 'e', "KEY=VALUE", 0, "Also set KEY in every container's environment", 0},
    {},
};

struct run_args {
	const char *modules[SESSION_MAX_TARGETS];
	int nmodules;
	const char *test_dir, *image, *record;
	bool debug, json;
	unsigned sources;
	double timeout;
	const char *volumes[RUN_EXTRA_MAX], *envs[RUN_EXTRA_MAX];
	int nvolumes, nenvs;
};

static error_t run_parse(int key, char *arg, struct argp_state *state)
{
	struct run_args *a = state->input;
	char err[256], *end;

	switch (key) {
	case OPT_TEST_DIR:
		a->test_dir = arg;
		break;
	case OPT_DEBUG:
		a->debug = true;
		break;
	case OPT_IMAGE:
		a->image = arg;
		break;
	case OPT_RECORD:
		a->record = arg;
		break;
	case OPT_JSON:
		a->json = true;
		break;
	case OPT_PROBES:
		if (pm_sources_parse(arg, &a->sources, err, sizeof(err)))
			argp_error(state, "%s", err);
		if (a->sources & (1u << PM_SOURCE_FOOTPRINT))
			argp_error(state, "run traces every event; footprint is record's --mode");
		break;
	case OPT_TIMEOUT:
		a->timeout = strtod(arg, &end);
		if (*end || !(a->timeout >= 1 && a->timeout <= 86400))
			argp_error(state, "--timeout takes seconds from 1 to 86400");
		break;
	case 'v':
		if (a->nvolumes == RUN_EXTRA_MAX)
			argp_error(state, "at most %d --volume", RUN_EXTRA_MAX);
		if (arg[0] != '/' || !strchr(arg + 1, ':'))
			argp_error(state, "--volume takes /HOST/PATH:/CONTAINER/PATH[:ro] ('%s')",
				   arg);
		a->volumes[a->nvolumes++] = arg;
		break;
	case 'e':
		if (a->nenvs == RUN_EXTRA_MAX)
			argp_error(state, "at most %d --env", RUN_EXTRA_MAX);
		if (!strchr(arg, '=') || arg[0] == '=')
			argp_error(state, "--env takes KEY=VALUE ('%s')", arg);
		a->envs[a->nenvs++] = arg;
		break;
	case ARGP_KEY_ARG:
		if (a->nmodules == SESSION_MAX_TARGETS)
			argp_error(state, "at most %d modules at once", SESSION_MAX_TARGETS);
		a->modules[a->nmodules++] = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* A module and the container it runs in. */
struct run_module {
	char file[RUN_MODULE_NAME_MAX + 1];
	char heading[RUN_HEADING_MAX];
	char container[CONTAINER_NAME_MAX];
	char id[CONTAINER_ID_LEN + 1];	    /* "" until created */
	char gate[64 + CONTAINER_NAME_MAX]; /* its gate's directory; the FIFO is gate/go */
	int exit_code;			    /* -1: unknown (timed out, killed) */
};

struct run {
	struct run_args a;
	char test_dir[PATH_MAX];
	char work[64]; /* the gates' directory, "" before it exists */
	struct run_module *m;
	size_t n;
	struct target_opts targets;
	struct session *s;
	struct procstats *ps;
	struct trace_writer *w;
	int write_err;
	bool interrupted;
	bool traced; /* the recording ended: the summary can be printed */
};

/* ---- before anything runs: the modules, the engine, the image ---- */

static int module__add(struct run *r, const char *file)
{
	struct run_module *m = &r->m[r->n];
	char path[PATH_MAX * 2], *src;
	size_t len;
	struct stat st;
	int err;

	if (!run_module__name_ok(file)) {
		pm_err("'%s' is not a module name: a file name NAME.py of letters, digits, '_', "
		       "'.' and '-' (the directory goes in --test-dir)",
		       file);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", r->test_dir, file);
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		pm_err("no module %s in %s", file, r->test_dir);
		return -1;
	}
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->m[i].file, file)) {
			pm_err("module %s is named twice", file);
			return -1;
		}
	err = pm_read_file(path, 0, RUN_SOURCE_MAX, &src, &len);
	if (err) {
		pm_err("cannot read %s: %s", path, strerror(-err));
		return -1;
	}
	snprintf(m->file, sizeof(m->file), "%s", file);
	run_module__heading(src, len, m->heading, sizeof(m->heading));
	free(src);
	m->exit_code = -1;
	r->n++;
	return 0;
}

static int run__find_modules(struct run *r)
{
	const char *dir = r->a.test_dir ? r->a.test_dir : ".";
	char **names = NULL;
	size_t n = 0;
	int err = 0;

	if (!realpath(dir, r->test_dir)) {
		pm_err("no module directory %s: %s", dir, strerror(errno));
		return -1;
	}
	/* a bind is HOST:CONTAINER[:ro] */
	if (strchr(r->test_dir, ':')) {
		pm_err("the module directory %s has a ':' in its path, which the engine's binds "
		       "cannot hold; move or link it elsewhere",
		       r->test_dir);
		return -1;
	}
	if (!r->a.nmodules) {
		err = run_modules__list(r->test_dir, &names, &n);
		if (err) {
			pm_err("cannot list %s: %s", r->test_dir, strerror(-err));
			return -1;
		}
		if (!n)
			pm_err("no test_*.py module in %s (name the modules to run)", r->test_dir);
		if (n > SESSION_MAX_TARGETS)
			pm_err("%zu modules in %s; at most %d run at once", n, r->test_dir,
			       SESSION_MAX_TARGETS);
		err = !n || n > SESSION_MAX_TARGETS ? -1 : 0;
	} else {
		n = r->a.nmodules;
	}
	r->m = calloc(n ? n : 1, sizeof(*r->m));
	if (!r->m) {
		pm_err("out of memory");
		err = -1;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = module__add(r, names ? names[i] : r->a.modules[i]);
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

static int run__check_engine(struct run *r)
{
	const char *sock = containers__engine_socket();
	int err = container_engine__ping();

	if (err) {
		pm_err("no Docker engine answers on %s: %s; start one (scripts/docker-setup.sh) or "
		       "set PYMAC_DOCKER_SOCK",
		       sock, strerror(-err));
		return -1;
	}
	err = container_engine__image_exists(r->a.image);
	if (err == 0) {
		pm_err("image %s not found: build it with scripts/build-image.sh%s%s", r->a.image,
		       strcmp(r->a.image, RUN_DEFAULT_IMAGE) ? " --image " : "",
		       strcmp(r->a.image, RUN_DEFAULT_IMAGE) ? r->a.image : "");
		return -1;
	}
	if (err < 0) {
		pm_err("cannot look up image %s: %s", r->a.image,
		       err == -EINVAL ? "not an image name" : strerror(-err));
		return -1;
	}
	return 0;
}

/* ---- the containers ---- */

static int run__make_gates(struct run *r)
{
	unsigned char rnd[3];
	char tag[8];

	snprintf(r->work, sizeof(r->work), "/tmp/pymac-run-XXXXXX");
	if (!mkdtemp(r->work)) {
		pm_err("cannot make a directory for the gates: %s", strerror(errno));
		r->work[0] = '\0';
		return -1;
	}
	/* the containers' root reads it */
	chmod(r->work, 0755);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(tag, sizeof(tag), "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
	for (size_t i = 0; i < r->n; i++) {
		struct run_module *m = &r->m[i];
		char fifo[sizeof(m->gate) + 8];

		run_module__container_name(m->file, tag, m->container, sizeof(m->container));
		snprintf(m->gate, sizeof(m->gate), "%s/%s", r->work, m->container);
		snprintf(fifo, sizeof(fifo), "%s/go", m->gate);
		if (mkdir(m->gate, 0755) || mkfifo(fifo, 0644)) {
			pm_err("cannot make the gate %s: %s", fifo, strerror(errno));
			return -1;
		}
		r->targets.containers[r->targets.ncontainers++] = m->container;
	}
	return 0;
}

static int module__create(struct run *r, struct run_module *m)
{
	char modbind[PATH_MAX + 16], gatebind[sizeof(m->gate) + 16], label[256], script[256];
	char msg[512];
	const char *cmd[] = {"sh",   "-c", "read go < /gate/go && exec \"$@\"", "sh", "python3",
			     script, NULL};
	const char *env[RUN_EXTRA_MAX + 3] = {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"};
	const char *binds[RUN_EXTRA_MAX + 3] = {modbind, gatebind};
	const char *labels[] = {label, NULL};
	struct container_spec spec = {
	    .name = m->container,
	    .image = r->a.image,
	    .cmd = cmd,
	    .env = env,
	    .binds = binds,
	    .labels = labels,
	    .workdir = "/tmp",
	    .tmpfs = "/tmp",
	    .init = true,
	    .read_only = true,
	    .no_network = true,
	};
	int err;

	snprintf(modbind, sizeof(modbind), "%s:/modules:ro", r->test_dir);
	snprintf(gatebind, sizeof(gatebind), "%s:/gate:ro", m->gate);
	snprintf(label, sizeof(label), "pymaccounter.module=%s", m->file);
	snprintf(script, sizeof(script), "/modules/%s", m->file);
	for (int i = 0; i < r->a.nenvs; i++)
		env[2 + i] = r->a.envs[i];
	for (int i = 0; i < r->a.nvolumes; i++)
		binds[2 + i] = r->a.volumes[i];
	err = container_engine__create(&spec, m->id, msg, sizeof(msg));
	if (err) {
		pm_err("cannot create container %s for %s: %s", m->container, m->file,
		       msg[0] ? msg : strerror(-err));
		return -1;
	}
	if (r->a.debug)
		pm_err("created container %s (%.12s) for %s", m->container, m->id, m->file);
	err = container_engine__start(m->id, msg, sizeof(msg));
	if (err) {
		pm_err("cannot start container %s for %s: %s", m->container, m->file,
		       msg[0] ? msg : strerror(-err));
		return -1;
	}
	return 0;
}

/* Write to the gate's FIFO once its reader (the container's sh) is there. */
static int module__open_gate(struct run_module *m)
{
	char fifo[sizeof(m->gate) + 8];
	unsigned long long end = pm_now_ns() + RUN_GATE_MS * 1000000ull;
	int fd;

	snprintf(fifo, sizeof(fifo), "%s/go", m->gate);
	for (;;) {
		fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != ENXIO || pm_now_ns() > end) {
			pm_err("cannot open the gate of %s: %s", m->container,
			       errno == ENXIO ? "nobody waits at it (did the container start?)"
					      : strerror(errno));
			return -1;
		}
		usleep(20000);
	}
	if (write(fd, "go\n", 3) != 3) {
		pm_err("cannot open the gate of %s: %s", m->container, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void run__kill_all(struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->m[i].id[0])
			container_engine__kill(r->m[i].id);
}

/* ---- tracing ---- */

static int run__open_session(struct run *r)
{
	struct session_opts so = {.targets = &r->targets, .quiet = !r->a.debug};
	char meta[RUN_HEADING_MAX + CONTAINER_NAME_MAX + RUN_MODULE_NAME_MAX + 8];
	char cmdline[1024];
	size_t used;
	int status = 1;

	r->s = session__new(&so, &status);
	if (!r->s)
		return status;
	r->ps = procstats__new();
	if (!r->ps) {
		pm_err("out of memory");
		return 1;
	}
	/* the summary is what run is for: when it fails, the run does */
	session__add_sink(r->s, "the summary", procstats__sink(r->ps), FEED_ESSENTIAL);
	if (r->a.record) {
		r->w = session__open_trace(r->s, r->a.record, FEED_OPTIONAL);
		if (!r->w)
			return 1;
	}
	used = snprintf(cmdline, sizeof(cmdline), "pymac run");
	for (size_t i = 0; i < r->n && used < sizeof(cmdline); i++)
		used += snprintf(cmdline + used, sizeof(cmdline) - used, " %s", r->m[i].file);
	session__meta(r->s, "command", cmdline);
	for (size_t i = 0; i < r->n; i++) {
		snprintf(meta, sizeof(meta), "%s %s %s", r->m[i].container, r->m[i].file,
			 r->m[i].heading);
		session__meta(r->s, "module", meta);
	}
	return 0;
}

/* Until every container has stopped; --timeout and a stop signal kill
 * them (the session then sees them stop). */
static int run__loop(struct run *r)
{
	unsigned long long now = pm_now_ns(), next_flush = now + RUN_FLUSH_NS;
	unsigned long long deadline = now + (unsigned long long)(r->a.timeout * 1e9), killed = 0;

	for (;;) {
		int n = session__step(r->s, 100), sig;

		now = pm_now_ns();
		if (n < 0)
			return 1;
		if (n)
			return 0;
		if (r->w && !r->write_err && now >= next_flush) {
			r->write_err = cmd_flush_trace(r->s, r->w, now, RUN_FLUSH_NS);
			if (r->write_err)
				pm_err("writing %s: %s; the trace stops here, the modules go on",
				       r->a.record, strerror(-r->write_err));
			next_flush = now + RUN_FLUSH_NS;
		}
		sig = cmd_take_stop_signal();
		if (!killed && (sig || now >= deadline)) {
			r->interrupted = sig != 0;
			if (sig)
				pm_err("interrupted; stopping the containers");
			else
				pm_err("the modules ran past --timeout %.0f s; stopping the "
				       "containers",
				       r->a.timeout);
			run__kill_all(r);
			killed = now;
		} else if (killed && (sig || now - killed > RUN_GATE_MS * 1000000ull)) {
			/* they do not stop: leave the rest to the cleanup */
			return 1;
		}
	}
}

/* Each module's exit code, its output when it failed (or with --debug),
 * and a META module_exit for the summary. */
static void run__collect(struct run *r)
{
	char meta[CONTAINER_NAME_MAX + 16];

	for (size_t i = 0; i < r->n; i++) {
		struct run_module *m = &r->m[i];
		int err = container_engine__wait(m->id, 10000, &m->exit_code);

		if (err) {
			pm_err("cannot learn how %s ended: %s", m->container, strerror(-err));
			m->exit_code = -1;
		} else {
			snprintf(meta, sizeof(meta), "%s %d", m->container, m->exit_code);
			session__meta(r->s, "module_exit", meta);
		}
		if (!r->a.debug && m->exit_code == 0)
			continue;
		fflush(stderr);
		fprintf(stderr, "--- %s (container %s) exited %d ---\n", m->file, m->container,
			m->exit_code);
		fflush(stderr);
		container_engine__logs(m->id, STDERR_FILENO);
	}
}

static int run__trace(struct run *r)
{
	int ret = run__open_session(r);

	if (ret)
		return ret;
	ret = session__start(r->s);
	if (ret)
		return ret;
	if (!r->a.debug)
		fprintf(stderr, "pymac: tracing %zu container%s, %zu probes attached\n", r->n,
			r->n == 1 ? "" : "s", session__probes_attached(r->s));
	for (size_t i = 0; i < r->n; i++)
		if (module__open_gate(&r->m[i])) {
			run__kill_all(r);
			ret = 1;
		}
	fprintf(stderr, "pymac: running %zu module%s:", r->n, r->n == 1 ? "" : "s");
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, " %s", r->m[i].file);
	fputc('\n', stderr);
	if (run__loop(r))
		ret = 1;
	run__collect(r);
	struct cmd_trace t = cmd_trace_of_writer(r->w);

	if (cmd_end_recording(r->s, &t, r->a.record, r->write_err, procstats__sink(r->ps)))
		ret = 1;
	r->w = NULL;
	r->traced = true;
	return ret;
}

static int run__report(struct run *r)
{
	int ret = 0, err;

	for (size_t i = 0; i < r->n; i++) {
		if (r->m[i].exit_code < 0)
			fprintf(stderr, "pymac: %-32s did not finish\n", r->m[i].file);
		else
			fprintf(stderr, "pymac: %-32s exit %d\n", r->m[i].file, r->m[i].exit_code);
		if (r->m[i].exit_code)
			ret = 1;
	}
	/* what a replay of the trace would say: it starts with the window */
	struct pm_trace_info info = {.version = PM_TRACE_VERSION,
				     .start_ns = session__window_start_ns(r->s)};

	if (r->a.json)
		err = summary__print_json(r->ps, stdout, &info, 10);
	else
		err = summary__print_text(r->ps, stdout, &info, 10);
	if (!err && fflush(stdout))
		err = -errno;
	/* a reader that stopped reading (| head) wanted no more */
	if (err && err != -EPIPE && !(err == -EIO && errno == EPIPE)) {
		pm_err("writing the summary: %s", strerror(-err));
		ret = 1;
	}
	if (r->a.record && !r->write_err)
		fprintf(stderr, "pymac: trace kept in %s (pymac replay %s)\n", r->a.record,
			r->a.record);
	return ret;
}

static void run__cleanup(struct run *r)
{
	char fifo[sizeof(r->m[0].gate) + 8];

	for (size_t i = 0; i < r->n; i++) {
		struct run_module *m = &r->m[i];
		int err;

		if (m->id[0] && (err = container_engine__remove(m->id)) && err != -ENOENT)
			pm_err("cannot remove container %s: %s", m->container, strerror(-err));
		if (r->work[0] && m->gate[0]) {
			snprintf(fifo, sizeof(fifo), "%s/go", m->gate);
			unlink(fifo);
			rmdir(m->gate);
		}
	}
	if (r->work[0])
		rmdir(r->work);
	session__free(r->s);
	procstats__free(r->ps);
	free(r->m);
}

int cmd_run(int argc, char **argv)
{
	static const struct argp argp = {run_options, run_parse, "[MODULE.py...]", run_doc, NULL,
					 NULL,	      NULL};
	struct run r = {
	    .a = {.image = RUN_DEFAULT_IMAGE, .sources = PM_SOURCES_FULL, .timeout = 300}};
	int ret = 1;

	if (argp_parse(&argp, argc, argv, 0, NULL, &r.a))
		return 2;
	r.targets.sources = r.a.sources;
	r.targets.ringbuf_bytes = 64u << 20;
	r.targets.sample_period = 1.0;
	/* what the containers will need */
	r.targets.ncontainers = 1;
	if (caps__check("run", &r.targets))
		return 1;
	r.targets.ncontainers = 0;
	if (run__find_modules(&r) || run__check_engine(&r))
		goto out;
	if (run__make_gates(&r))
		goto out;
	/* from the first container on, Ctrl-C must not leave them behind, nor
	 * a reader that closes the summary's pipe early (| head) */
	cmd_catch_stop_signals(true);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < r.n; i++) {
		if (cmd_take_stop_signal()) {
			r.interrupted = true;
			goto out;
		}
		if (module__create(&r, &r.m[i]))
			goto out;
	}
	ret = run__trace(&r);
	/* a run that timed out or failed still shows what was traced */
	if (r.traced && run__report(&r))
		ret = 1;
out:
	if (r.w)
		trace_writer__close(r.w, NULL);
	run__cleanup(&r);
	return r.interrupted ? 130 : ret;
}
