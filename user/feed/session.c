#include "feed/session_impl.h"

/* ---- life cycle ---- */

struct session *session__new(const struct session_opts *o, int *status)
{
	const struct target_opts *t = o->targets;
	struct session *s = calloc(1, sizeof(*s));
	char err[512];

	*status = 1;
	if (!s) {
		pm_err("out of memory");
		return NULL;
	}
	s->o = *o;
	s->child = -1;
	s->gate = -1;
	s->child_status = -1;
	s->command_out[0] = s->command_out[1] = -1;
	s->page_size = sysconf(_SC_PAGESIZE);
	s->conts = calloc(CONTAINERS_MAX, sizeof(*s->conts));
	if (!s->conts) {
		pm_err("out of memory");
		goto fail;
	}
	/* Check what can be checked before loading anything. */
	for (int i = 0; i < t->npids; i++) {
		struct target_proc tp;
		int e = target_proc__inspect(t->pids[i], &tp);

		if (e == -ENOENT || e == -ESRCH) {
			pm_err("no process with pid %d", t->pids[i]);
			goto fail;
		}
		if (e) {
			pm_err("cannot inspect pid %d: %s", t->pids[i], strerror(-e));
			goto fail;
		}
		if (!tp.has_python && (t->sources & ~NO_PYTHON_NEEDED) && tp.python_err) {
			pm_err("pid %d (%s): cannot read its interpreter %s: %s", t->pids[i],
			       tp.comm, tp.python_err_path,
			       tp.python_err == EFBIG ? "it is over 4 GiB, the most pymac reads"
						      : strerror(tp.python_err));
			goto fail;
		}
		if (!tp.has_python && (t->sources & ~NO_PYTHON_NEEDED)) {
			pm_err(
			    "pid %d (%s) is not a Python process: it maps no libpython or python "
			    "executable defining PyObject_Malloc (to trace its libc allocations, "
			    "use --probes libc)",
			    t->pids[i], tp.comm);
			goto fail;
		}
	}
	if (!ss_resolve_named_targets(s))
		goto fail;
	if (t->command) {
		if (target_command__resolve(t->command[0], &s->tc, err, sizeof(err))) {
			pm_err("%s", err);
			*status = 127;
			goto fail;
		}
		if (!s->tc.has_python && t->sources_given && (t->sources & ~NO_PYTHON_NEEDED) &&
		    !o->quiet)
			pm_err("%s is not a Python interpreter; the Python sources attach when a "
			       "traced child runs one",
			       s->tc.exe);
	}

	struct probes_opts popts = {
	    .sample = t->sample_duty > 0,
	    .sources = t->sources,
	    .ringbuf_bytes = t->ringbuf_bytes,
	    .filter_cgroups = t->ncontainers || t->nprojects || t->ncgroups || t->all_containers,
	};
	/*
	 * Containers' processes are not known in advance (their uprobes fire
	 * in every process of the file, the cgroup filter is in BPF). With
	 * --pid-filter, each process gets uprobes that fire in it alone, so
	 * other processes of the same file (other containers of the same
	 * image) never trap; but a child, or a process that starts in a
	 * container, is attached only once it shows up, so it is opt-in: by
	 * default a traced process's children are seen from their fork, and
	 * a container's new processes from their first instruction.
	 */
	s->pid_links = t->pid_filter;
	s->probes = probes__open(&popts, err, sizeof(err));
	if (!s->probes) {
		pm_err("%s", err);
		goto fail;
	}
	feed__init(&s->feed);
	s->watcher.record = ss_watcher_record;
	feed__add(&s->feed, "the session's watcher", &s->watcher, FEED_ESSENTIAL);
	s->consumer = consumer__new(probes__ringbuf_fd(s->probes), &s->feed.base);
	if (!s->consumer) {
		pm_err("cannot open the ring buffer: %s", strerror(errno));
		goto fail;
	}
	consumer__set_budget(s->consumer, o->poll_budget);
	return s;
fail:
	session__free(s);
	return NULL;
}

void session__free(struct session *s)
{
	if (!s)
		return;
	if (s->gate >= 0)
		close(s->gate); /* the gated child exits 127 without running */
	/* the sinks may be closed by now: windows not yet in the stream are
	 * dropped (session__drain has put them there) */
	ss_sampler_stop(s, false);
	consumer__free(s->consumer);
	probes__free(s->probes);
	free(s->conts);
	container_events__free(s->events);
	u64map__free(&s->lost);
	free(s);
}

void session__add_output(struct session *s, const char *name, struct pm_sink *sink, unsigned flags,
			 const struct pm_stream *out)
{
	/* the commands add at most a handful */
	if (feed__add_output(&s->feed, name, sink, flags, out))
		pm_err("internal error: too many outputs for one session (%s left out)", name);
}

void session__add_sink(struct session *s, const char *name, struct pm_sink *sink, unsigned flags)
{
	session__add_output(s, name, sink, flags, NULL);
}

void session__fail_sink(struct session *s, struct pm_sink *sink, int err)
{
	feed__fail(&s->feed, sink, err);
}

int session__sink_error(const struct session *s, const struct pm_sink *sink)
{
	return feed__sink_error(&s->feed, sink);
}

const char *session__first_sink_error(const struct session *s, int *err)
{
	const struct feed_sink *fs = feed__first_error(&s->feed, err);

	return fs ? fs->name : NULL;
}

int session__finish(struct session *s)
{
	return feed__finish(&s->feed);
}

int session__report_sink_errors(const struct session *s, const struct pm_sink *skip)
{
	int n = 0;

	for (int i = 0; i < s->feed.n; i++) {
		const struct feed_sink *fs = &s->feed.s[i];

		if (!fs->err || fs->sink == skip)
			continue;
		feed_sink__say_error(fs, fs->flags & FEED_ESSENTIAL ? "; tracing stopped"
								    : "; it was left out");
		n++;
	}
	return n;
}

void session__meta(struct session *s, const char *key, const char *value)
{
	struct pm_record rec = {.type = PM_REC_META};

	rec.meta.key = key;
	rec.meta.value = value;
	ss_emit(s, &rec);
}

/* Fork the command, held at a gate until the probes are in place, its
 * output to out[0] and out[1] unless they are -1. */
static pid_t spawn_gated(char **argv, const int out[2], int *gate_fd)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		char go;

		close(fds[1]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (read(fds[0], &go, 1) != 1)
			_exit(127); /* pymac gave up before starting us */
		if (out[0] >= 0 &&
		    (dup2(out[0], STDOUT_FILENO) < 0 || dup2(out[1], STDERR_FILENO) < 0)) {
			fprintf(stderr, "pymac: cannot give %s its output: %s\n", argv[0],
				strerror(errno));
			_exit(127);
		}
		/* Capabilities pymac was given to trace are not the command's:
		 * an ambient set would survive the exec. */
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "pymac: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	*gate_fd = fds[1];
	return pid;
}

/*
 * Every probe of the start is attached: turn them all on at once, so that
 * every family starts at the same instant. The recording starts here too
 * (the trace's header says so), and --duration counts from here.
 */
static void open_window(struct session *s)
{
	uint64_t real = pm_realtime_ns();

	struct trace_writer *w = s->rotor ? trace_rotor__writer(s->rotor) : s->trace;

	s->window_start_ns = probes__set_window(s->probes, true);
	if (w && trace_writer__set_start(w, s->window_start_ns, real) == -EALREADY)
		pm_err("internal error: the trace's header went out before tracing started");
}

void session__command_output(struct session *s, int out_fd, int err_fd)
{
	s->command_out[0] = out_fd;
	s->command_out[1] = err_fd;
}

int session__start(struct session *s)
{
	const struct target_opts *t = s->o.targets;

	session__meta(s, "mode", t->footprint ? "footprint" : "full");

	if (s->o.targets->command) {
		struct target_proc tp = {};
		const char *base =
		    strrchr(s->tc.exe, '/') ? strrchr(s->tc.exe, '/') + 1 : s->tc.exe;

		s->child = spawn_gated(s->o.targets->command, s->command_out, &s->gate);
		if (s->child < 0) {
			pm_err("cannot start %s: %s", s->o.targets->command[0], strerror(errno));
			return 1;
		}
		probes__trace_pid(s->probes, s->child);
		s->targets[s->ntargets++] = s->child;
		tp.pid = s->child;
		tp.ppid = getpid();
		snprintf(tp.comm, sizeof(tp.comm), "%.15s", base);
		snprintf(tp.exe, sizeof(tp.exe), "%s", s->tc.exe);
		tp.cgroup_id = target_cgroup_id(getpid());
		tp.has_python = s->tc.has_python;
		tp.python = s->tc.python;
		snprintf(tp.python_version, sizeof(tp.python_version), "%s", s->tc.python_version);
		tp.has_libc = s->tc.has_libc;
		tp.libc = s->tc.libc;
		ss_emit_process(s, &tp, PM_ORIGIN_STARTED);
		ss_attach_process(s, &tp);
	}
	for (int i = 0; i < t->npids; i++) {
		struct target_proc tp;

		if (target_proc__inspect(t->pids[i], &tp)) {
			pm_err("pid %d exited before pymac could attach", t->pids[i]);
			continue;
		}
		probes__trace_pid(s->probes, tp.pid);
		s->targets[s->ntargets++] = tp.pid;
		ss_emit_process(s, &tp, PM_ORIGIN_ATTACHED);
		ss_attach_process(s, &tp);
	}
	for (size_t i = 0; i < s->npending; i++) {
		bool py;

		if (ss_container_tracked(s, s->pending[i].info.id) && s->pending[i].info.id[0])
			continue;
		if (ss_track_container(s, &s->pending[i], &py))
			return 1;
	}
	if (t->nprojects || t->all_containers) {
		/* opened before the first look: a start in between is not lost */
		ss_open_container_events(s);
		ss_scan_containers(s, true);
		if (!s->nconts && !s->o.quiet)
			fprintf(stderr, "pymac: no matching container is running yet; waiting for "
					"one to start\n");
	}
	if (!s->o.quiet) {
		char what[128];

		if (s->o.targets->command)
			snprintf(what, sizeof(what), "%s (pid %d)", s->o.targets->command[0],
				 s->child);
		else
			what[0] = '\0';
		fprintf(stderr, "pymac: tracing %s%s", what, what[0] && s->nconts ? " and " : "");
		if (s->nconts)
			fprintf(stderr, "%zu container%s", s->nconts, s->nconts == 1 ? "" : "s");
		if (t->npids)
			fprintf(stderr, "%s%d process%s", (what[0] || s->nconts) ? " and " : "",
				t->npids, t->npids == 1 ? "" : "es");
		if (!what[0] && !s->nconts && !t->npids)
			fprintf(stderr, "nothing yet");
		fprintf(stderr, ", %zu probes attached%s\n", probes__link_count(s->probes),
			s->o.targets->command ? "" : "; Ctrl-C to stop");
	}
	if (t->sample_duty > 0) {
		int err = ss_sampler_start(s);

		if (err) {
			pm_err("cannot start sampling: %s", strerror(-err));
			return 1;
		}
	}
	open_window(s);
	if (s->gate >= 0) {
		if (write(s->gate, "g", 1) != 1) {
			pm_err("cannot start %s: %s", s->o.targets->command[0], strerror(errno));
			return 1;
		}
		close(s->gate);
		s->gate = -1;
	}
	unsigned long long now = pm_now_ns();
	s->next_lost = now + LOST_INTERVAL_NS;
	s->next_cgcheck = now + CGROUP_CHECK_NS;
	s->next_scan = now + CONTAINER_SCAN_NS;
	return 0;
}

/*
 * A child forked by a traced process is traced by BPF from its fork, but
 * uprobes made for its parent's pid do not fire in it: give it its own as
 * soon as it shows up. What it does before then is not seen (a child that
 * execs a new program is attached again once its libraries are mapped).
 */
/* Has the process been attached (its uprobes made)? */
static bool attached_pid(const struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nreported; i++)
		if (s->reported[i].pid == pid)
			return true;
	return false;
}

static void follow_pid(struct session *s, pid_t pid)
{
	struct target_proc tp;

	if (attached_pid(s, pid) || target_proc__inspect(pid, &tp))
		return;
	if (!ss_known_pid(s, pid))
		ss_emit_process(s, &tp, PM_ORIGIN_FORKED);
	ss_attach_process(s, &tp);
}

void ss_follow_children(struct session *s)
{
	pid_t pids[256];
	int n = probes__traced_pids(s->probes, pids, sizeof(pids) / sizeof(pids[0]));

	for (int i = 0; i < n; i++)
		follow_pid(s, pids[i]);
	/* a container's processes: pid-filtered uprobes do not follow them
	 * either (those that exec are attached by their rescan as well) */
	for (size_t c = 0; c < s->nconts; c++) {
		pid_t *cp = NULL;
		size_t cn = 0;

		if (s->conts[c].stopped || cgroup2__pids(s->conts[c].cgpath, &cp, &cn))
			continue;
		for (size_t i = 0; i < cn; i++)
			follow_pid(s, cp[i]);
		free(cp);
	}
}

bool ss_any_pid_alive(struct session *s)
{
	for (int i = 0; i < s->ntargets; i++)
		if (s->targets[i] != s->child && (kill(s->targets[i], 0) == 0 || errno == EPERM))
			return true;
	return false;
}

/*
 * Footprint: what each known process has resident, as an event in the
 * stream. statm is the cheapest place to read it (one short line); its
 * "shared" is the file-backed and shmem part, so the rest is anonymous.
 */
void ss_sample_rss(struct session *s)
{
	for (size_t i = 0; i < s->nknown; i++) {
		char path[64], *buf;
		unsigned long long size, resident, shared;
		struct pm_record rec = {.type = PM_REC_EVENT};
		size_t len;
		int fields;

		snprintf(path, sizeof(path), "/proc/%d/statm", s->known[i]);
		if (pm_read_file(path, 0, 4096, &buf, &len))
			continue; /* gone: its exit record is on its way */
		fields = sscanf(buf, "%llu %llu %llu", &size, &resident, &shared);
		free(buf);
		if (fields != 3)
			continue;
		if (!s->known_cg[i])
			s->known_cg[i] = target_cgroup_id(s->known[i]);
		rec.ev.ts_ns = pm_now_ns();
		rec.ev.cgroup_id = s->known_cg[i];
		rec.ev.pid = rec.ev.tid = (uint32_t)s->known[i];
		rec.ev.kind = PM_RSS;
		rec.ev.rss.rss = resident * (uint64_t)s->page_size;
		rec.ev.rss.anon =
		    (resident > shared ? resident - shared : 0) * (uint64_t)s->page_size;
		ss_emit(s, &rec);
		s->rss_samples++;
	}
}

static int poll_timeout(const struct session *s, int timeout_ms)
{
	unsigned long long now = pm_now_ns();

	if (s->detached)
		return timeout_ms;
	for (size_t i = 0; i < s->nrescans; i++) {
		unsigned long long next = s->rescans[i].next;
		int ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);

		if (ms < timeout_ms)
			timeout_ms = ms;
	}
	/* the same for the poll that finds children of pid-filtered targets */
	if (s->pid_links) {
		int ms =
		    s->next_pidpoll <= now ? 0 : (int)((s->next_pidpoll - now + 999999) / 1000000);

		if (ms < timeout_ms)
			timeout_ms = ms;
	}
	return timeout_ms;
}

int session__step(struct session *s, int timeout_ms)
{
	const struct target_opts *t = s->o.targets;
	int n = ss_wait(s, poll_timeout(s, timeout_ms));

	if (n < 0 && n != -EINTR) {
		pm_err("reading the ring buffer: %s", strerror(-n));
		return n;
	}
	unsigned long long now = pm_now_ns();
	if (s->feed.stop_err)
		return s->feed.stop_err;
	ss_inspect_new_pids(s);
	ss_sampler_emit(s);
	if (s->nrescans && !s->detached)
		ss_run_rescans(s);
	if (s->pid_links && !s->detached && now >= s->next_pidpoll) {
		ss_follow_children(s);
		s->next_pidpoll = now + PIDPOLL_NS;
	}
	if ((t->sources & (1u << PM_SOURCE_FOOTPRINT)) && !s->detached && now >= s->next_rss) {
		ss_sample_rss(s);
		s->next_rss = now + RSS_INTERVAL_NS;
	}
	if (now >= s->next_lost) {
		probes__lost_foreach(s->probes, ss_lost_cb, s);
		s->next_lost = now + LOST_INTERVAL_NS;
	}
	if (s->nconts && now >= s->next_cgcheck) {
		ss_check_containers(s);
		s->next_cgcheck = now + CGROUP_CHECK_NS;
	}
	if (s->events && !s->detached)
		ss_read_container_events(s);
	if ((t->nprojects || t->all_containers) && now >= s->next_scan && !s->detached) {
		ss_scan_containers(s, false);
		s->next_scan = now + CONTAINER_SCAN_NS;
	}
	if (s->child > 0 && !s->child_done) {
		int st;

		if (waitpid(s->child, &st, WNOHANG) == s->child) {
			s->child_done = true;
			s->child_status = WIFEXITED(st)	    ? WEXITSTATUS(st)
					  : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
							    : 1;
		}
	}
	/* With a command, the session lasts as long as the command. */
	if (s->child > 0)
		return s->child_done;
	/* Selectors that take containers as they come never end by themselves. */
	if (t->nprojects || t->all_containers)
		return 0;
	if (ss_any_pid_alive(s))
		return 0;
	for (size_t i = 0; i < s->nconts; i++)
		if (!s->conts[i].stopped)
			return 0;
	return 1;
}

bool session__signal(struct session *s, int sig)
{
	if (s->child <= 0 || s->child_done)
		return true;
	/*
	 * The terminal already sent SIGINT to the whole process group; other
	 * signals are passed on. pymac waits for the command to end, unless
	 * told three times.
	 */
	if (sig != SIGINT)
		kill(s->child, sig);
	return ++s->forwarded >= 3;
}

void session__stop_command(struct session *s)
{
	if (s->child > 0 && !s->child_done)
		kill(s->child, SIGTERM);
}

uint64_t session__window_start_ns(const struct session *s)
{
	return s->window_start_ns;
}

void session__end_window(struct session *s, uint64_t at_ns)
{
	uint64_t off;

	if (s->window_end_ns)
		return;
	off = probes__set_window(s->probes, false);
	s->window_end_ns = at_ns && at_ns < off ? at_ns : off;
	consumer__set_cut(s->consumer, s->window_end_ns);
}

void session__window_ends_at(struct session *s, uint64_t at_ns)
{
	if (!s->window_end_ns)
		consumer__set_cut(s->consumer, at_ns);
}

uint64_t session__window_end_ns(const struct session *s)
{
	return s->window_end_ns ? s->window_end_ns : pm_now_ns();
}

void session__detach(struct session *s)
{
	/* every family ends now, not each as its probes come off */
	session__end_window(s, 0);
	ss_sampler_stop(s, true);
	probes__detach(s->probes);
	s->detached = true;
}

void session__drain(struct session *s)
{
	/*
	 * Detach first: a target that allocates flat out could otherwise refill
	 * the ring buffer as fast as it is read, and the drain would not end.
	 * Everything before this moment is in the ring buffer (or counted lost).
	 */
	session__detach(s);
	consumer__drain(s->consumer);
	ss_read_container_events(s); /* a wanted container that ended unseen, said */
	ss_inspect_new_pids(s);
	probes__lost_foreach(s->probes, ss_lost_cb, s);
	if (s->nconts)
		ss_check_containers(s);
}

size_t session__probes_attached(const struct session *s)
{
	return probes__link_count(s->probes);
}

/* Every event the views and the trace got: the ring buffer's and the RSS
 * samples read from /proc (replay counts both). */
uint64_t session__events(const struct session *s)
{
	return consumer__events(s->consumer) + s->rss_samples;
}

uint64_t session__lost(const struct session *s)
{
	return probes__lost_total(s->probes);
}

uint64_t session__gc_layout_misses(const struct session *s)
{
	return probes__gc_layout_misses(s->probes);
}

int session__command_status(const struct session *s)
{
	return s->child_done ? s->child_status : -1;
}
