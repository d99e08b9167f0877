// SPDX-License-Identifier: MIT
/*
 * Consumer throughput: how many events per second pymac's consumer
 * (user/feed/consumer.c) and trace writer (user/trace/writer.c) take from the ring
 * buffer on one core, and what is lost when the producer goes faster.
 *
 * A BPF program (ringbench.bpf.c) writes pymac's own py_malloc/py_free
 * records, run in batches by a producer thread pinned to one CPU at an
 * open-loop paced rate; the consumer thread, pinned to the other, polls the
 * ring buffer as pymac record does and hands the records either to a trace
 * file (behind the same tee as pymac's session) or to a sink that does
 * nothing. Real probes cannot produce these rates: a uprobe hit costs
 * microseconds on this machine.
 *
 * Usage: ringbench [--rates M1,M2,...] [--seconds S] [--runs N]
 *                  [--sink trace|null] [--ring-mb MB] [--batch K] [--dir D]
 *                  [--cpus CONSUMER,PRODUCER] [--nice N] [--drain]
 * --drain fills the ring buffer before the consumer starts and times how
 * fast it empties it (one run per --runs; --rates is ignored).
 * Rates are in millions of events per second. One JSON object per run.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "feed/consumer.h"
#include "feed/feed.h"
#include "trace/trace.h"
#include "ringbench.skel.h"

/* pymac record polls with 100 ms and flushes chunks older than 250 ms */
#define POLL_MS		  100
#define FLUSH_INTERVAL_NS 250000000ull
#define MAX_RATES	  32

struct opts {
	double rates[MAX_RATES];
	int nrates;
	double seconds;
	int runs;
	bool null_sink;
	bool drain; /* fill the ring, then drain it: the consumer's own ceiling */
	unsigned ring_mb;
	unsigned batch;
	const char *dir;
	int cpu_consumer, cpu_producer;
	int nice;
};

struct run {
	const struct opts *o;
	struct ringbench_bpf *skel;
	struct consumer *cons;
	struct trace_writer *writer;
	/* set by the producer when it is done: how many records were written */
	_Atomic uint64_t target;
	_Atomic bool target_set;
	uint64_t t_start, t_prod_end, t_cons_end, t_last_data;
	/* consumer thread's own figures over the run */
	uint64_t cpu_ns, nvcsw, nivcsw, polls, consumed, runq_ns;
	int err;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Pin the calling thread and give it its nice value: on a shared machine
 * other programs run on the same CPUs, and a consumer that gets half of its
 * core measures them, not itself.
 */
static int pin(int cpu, int nice)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -errno;
	return setpriority(PRIO_PROCESS, (id_t)gettid(), nice) ? -errno : 0;
}

/*
 * With autogroups (sched_autogroup_enabled), CPU time is shared between
 * sessions first and a thread's nice counts only inside its own: give this
 * process a session of its own and that session the nice value.
 */
static void own_autogroup(int nice)
{
	FILE *f;

	setsid(); /* fails when already a group leader: then the group is ours */
	f = fopen("/proc/self/autogroup", "w");
	if (!f)
		return;
	fprintf(f, "%d", nice);
	fclose(f);
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ull + (uint64_t)tv->tv_usec * 1000ull;
}

static int null_record(struct pm_sink *s, const struct pm_record *rec)
{
	(void)s;
	(void)rec;
	return 0;
}

/*
 * Stand-in for the session's watcher (user/feed/session.c), which sees every
 * event first to notice processes it has not described yet.
 */
static pid_t known_pids[8];
static size_t nknown;

static int watcher_record(struct pm_sink *s, const struct pm_record *rec)
{
	(void)s;
	if (rec->type != PM_REC_EVENT)
		return 0;
	for (size_t i = 0; i < nknown; i++)
		if (known_pids[i] == (pid_t)rec->ev.pid)
			return 0;
	if (nknown < sizeof(known_pids) / sizeof(known_pids[0]))
		known_pids[nknown++] = (pid_t)rec->ev.pid;
	return 0;
}

/* Time the calling thread has waited for a CPU while runnable (ns), from
 * /proc/thread-self/schedstat: what other programs took from it. */
static uint64_t runq_wait_ns(void)
{
	unsigned long long run = 0, wait = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return wait;
}

static void *consumer_main(void *arg)
{
	struct run *r = arg;
	struct rusage ru0, ru1;
	uint64_t next_flush = now_ns() + FLUSH_INTERVAL_NS;
	int e;

	if ((e = pin(r->o->cpu_consumer, r->o->nice))) {
		r->err = e;
		return NULL;
	}
	r->runq_ns = runq_wait_ns();
	getrusage(RUSAGE_THREAD, &ru0);
	for (;;) {
		int n = consumer__poll(r->cons, POLL_MS);
		uint64_t now = now_ns();

		if (n < 0 && n != -EINTR) {
			r->err = n;
			break;
		}
		if (n > 0) {
			r->polls++;
			r->t_last_data = now;
		}
		if (r->writer && now >= next_flush) {
			trace_writer__maybe_flush(r->writer, now, FLUSH_INTERVAL_NS);
			next_flush = now + FLUSH_INTERVAL_NS;
		}
		/* done: the last record came with the last poll that had any,
		 * not with this one (which may have waited POLL_MS for nothing) */
		if (atomic_load(&r->target_set) &&
		    consumer__events(r->cons) >= atomic_load(&r->target)) {
			r->t_cons_end =
			    r->t_last_data > r->t_prod_end ? r->t_last_data : r->t_prod_end;
			break;
		}
		/* the producer gave up or the records never came: stop anyway */
		if (atomic_load(&r->target_set) && now > r->t_prod_end + 10000000000ull) {
			r->t_cons_end = now;
			break;
		}
	}
	getrusage(RUSAGE_THREAD, &ru1);
	r->runq_ns = runq_wait_ns() - r->runq_ns;
	r->consumed = consumer__events(r->cons);
	r->cpu_ns = tv_ns(&ru1.ru_utime) + tv_ns(&ru1.ru_stime) - tv_ns(&ru0.ru_utime) -
		    tv_ns(&ru0.ru_stime);
	r->nvcsw = (uint64_t)(ru1.ru_nvcsw - ru0.ru_nvcsw);
	r->nivcsw = (uint64_t)(ru1.ru_nivcsw - ru0.ru_nivcsw);
	return NULL;
}

/* Open-loop pacing: batch i is due at start + i * batch / rate whether or
 * not the earlier ones were on time, so a slow consumer cannot slow the
 * producer down (it only makes the ring buffer fill). */
static int produce(struct run *r, double rate)
{
	int fd = bpf_program__fd(r->skel->progs.produce);
	__u64 args[2] = {r->o->batch, (__u64)(1e9 / rate)};
	LIBBPF_OPTS(bpf_test_run_opts, topts, .ctx_in = args, .ctx_size_in = sizeof(args));
	double ns_per_batch = r->o->batch * 1e9 / rate;
	uint64_t end = r->t_start + (uint64_t)(r->o->seconds * 1e9);
	uint64_t i = 0;

	for (;;) {
		uint64_t due = r->t_start + (uint64_t)(i * ns_per_batch), now;

		while ((now = now_ns()) < due)
			;
		if (now >= end)
			break;
		if (bpf_prog_test_run_opts(fd, &topts))
			return -errno;
		i++;
	}
	r->t_prod_end = now_ns();
	return 0;
}

/* As many records as fit, unpaced; a drop ends it. */
static int prefill(struct run *r, uint64_t records)
{
	int fd = bpf_program__fd(r->skel->progs.produce);
	__u64 args[2] = {r->o->batch, 50};
	LIBBPF_OPTS(bpf_test_run_opts, topts, .ctx_in = args, .ctx_size_in = sizeof(args));

	while (r->skel->bss->produced + r->o->batch <= records && !r->skel->bss->lost)
		if (bpf_prog_test_run_opts(fd, &topts))
			return -errno;
	return 0;
}

static int one_run(const struct opts *o, struct ringbench_bpf *skel, double rate, int idx)
{
	struct run r = {.o = o, .skel = skel};
	struct feed tee;
	struct pm_sink null = {.record = null_record}, watcher = {.record = watcher_record};
	char path[4096];
	pthread_t th;
	uint64_t raw_bytes = 0, file_bytes = 0, recs = 0, produced, lost;
	int err;

	snprintf(path, sizeof(path), "%s/ringbench-%d.pmt", o->dir, (int)getpid());
	feed__init(&tee);
	nknown = 0;
	if (o->null_sink) {
		feed__add(&tee, "null", &null, FEED_ESSENTIAL);
	} else {
		struct pm_trace_info info = {.version = PM_TRACE_VERSION, .start_ns = now_ns()};
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		info.start_realtime_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
		r.writer = trace_writer__open(path, &info);
		if (!r.writer) {
			fprintf(stderr, "ringbench: cannot create %s: %s\n", path, strerror(errno));
			return -errno;
		}
		feed__add(&tee, "watcher", &watcher, FEED_ESSENTIAL);
		feed__add(&tee, "trace", trace_writer__sink(r.writer), FEED_ESSENTIAL);
	}
	r.cons = consumer__new(bpf_map__fd(skel->maps.events), &tee.base);
	if (!r.cons) {
		err = -errno;
		trace_writer__close(r.writer, NULL);
		return err;
	}
	/* start from an empty ring: leftovers of an earlier run are not ours */
	consumer__drain(r.cons);
	skel->bss->produced = 0;
	skel->bss->lost = 0;
	if (o->drain) {
		/* fill the ring first, then time the consumer emptying it */
		err = pin(o->cpu_producer, o->nice);
		if (!err)
			err = prefill(&r, (uint64_t)o->ring_mb * (1u << 20) * 9 / 10 /
					      (sizeof(struct pm_alloc_rec) +
					       sizeof(struct pm_free_rec) + 16) *
					      2);
		produced = skel->bss->produced;
		lost = skel->bss->lost;
		r.t_start = r.t_prod_end = now_ns();
		atomic_store(&r.target, produced);
		atomic_store(&r.target_set, true);
		if (err)
			goto out;
	}
	if (pthread_create(&th, NULL, consumer_main, &r)) {
		consumer__free(r.cons);
		trace_writer__close(r.writer, NULL);
		return -EAGAIN;
	}
	if (!o->drain) {
		/* let the consumer block in epoll first, as it does between bursts */
		usleep(20000);
		err = pin(o->cpu_producer, o->nice);
		r.t_start = now_ns();
		if (!err)
			err = produce(&r, rate * 1e6);
		produced = skel->bss->produced;
		lost = skel->bss->lost;
		if (err)
			r.t_prod_end = now_ns();
		atomic_store(&r.target, consumer__events(r.cons) > produced ? 0 : produced);
		atomic_store(&r.target_set, true);
	}
	pthread_join(th, NULL);
out:
	if (r.writer) {
		struct pm_end end = {.ts_ns = now_ns(), .events = r.consumed};

		trace_writer__stats(r.writer, &raw_bytes, &file_bytes, &recs);
		trace_writer__close(r.writer, &end);
		/* RINGBENCH_KEEP: keep the trace (a large real-format trace for
		 * measuring replay) */
		if (getenv("RINGBENCH_KEEP"))
			fprintf(stderr, "ringbench: kept %s\n", path);
		else
			unlink(path);
	}
	consumer__free(r.cons);
	if (err || r.err) {
		fprintf(stderr, "ringbench: %s\n", strerror(-(err ? err : r.err)));
		return err ? err : r.err;
	}

	double prod_s = (r.t_prod_end - r.t_start) / 1e9;
	double cons_s = (r.t_cons_end - r.t_start) / 1e9;
	double per_m = r.consumed ? 1e6 / r.consumed : 0;

	printf("{\"sink\": \"%s\", \"rate_target\": %.3f, \"run\": %d, \"batch\": %u, "
	       "\"ring_mb\": %u, \"nice\": %d, \"offered\": %" PRIu64 ", \"produced\": %" PRIu64
	       ", \"lost\": %" PRIu64 ", \"consumed\": %" PRIu64 ", \"producer_s\": %.4f, "
	       "\"consumer_s\": %.4f, \"offered_rate\": %.0f, \"consumed_rate\": %.0f, "
	       "\"lost_share\": %.6f, \"cpu_ms_per_m\": %.2f, \"cpu_share\": %.4f, "
	       "\"wakeups_per_m\": %.1f, \"polls_per_m\": %.1f, \"preempted_per_m\": %.1f, "
	       "\"runq_wait_share\": %.4f, "
	       "\"file_bytes\": %" PRIu64 ", \"raw_bytes\": %" PRIu64 "}\n",
	       o->null_sink ? "null" : "trace", o->drain ? 0.0 : rate, idx, o->batch, o->ring_mb,
	       o->nice, produced + lost, produced, lost, r.consumed, prod_s, cons_s,
	       prod_s > 0 ? (produced + lost) / prod_s : 0.0,
	       cons_s > 0 ? r.consumed / cons_s : 0.0,
	       produced + lost ? (double)lost / (produced + lost) : 0.0, r.cpu_ns / 1e6 * per_m,
	       r.cpu_ns / 1e9 / cons_s, r.nvcsw * per_m, r.polls * per_m, r.nivcsw * per_m,
	       r.runq_ns / 1e9 / cons_s, file_bytes, raw_bytes);
	fflush(stdout);
	return 0;
}

static int parse_rates(struct opts *o, char *s)
{
	o->nrates = 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (o->nrates == MAX_RATES)
			return -1;
		o->rates[o->nrates] = atof(tok);
		if (o->rates[o->nrates] <= 0)
			return -1;
		o->nrates++;
	}
	return o->nrates ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o = {.seconds = 3,
			 .runs = 1,
			 .ring_mb = 64,
			 .batch = 64,
			 .dir = "/tmp",
			 .cpu_consumer = 0,
			 .cpu_producer = 1};
	char defrates[] = "1,2,5,10,20";
	struct ringbench_bpf *skel;
	int err = 0;

	parse_rates(&o, defrates);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--sink") && v) {
			o.null_sink = !strcmp(v, "null");
			i++;
		} else if (!strcmp(a, "--rates") && v) {
			if (parse_rates(&o, argv[++i]))
				goto usage;
		} else if (!strcmp(a, "--seconds") && v) {
			o.seconds = atof(argv[++i]);
		} else if (!strcmp(a, "--runs") && v) {
			o.runs = atoi(argv[++i]);
		} else if (!strcmp(a, "--ring-mb") && v) {
			o.ring_mb = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(a, "--batch") && v) {
			o.batch = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(a, "--drain")) {
			o.drain = true;
		} else if (!strcmp(a, "--nice") && v) {
			o.nice = atoi(argv[++i]);
		} else if (!strcmp(a, "--dir") && v) {
			o.dir = argv[++i];
		} else if (!strcmp(a, "--cpus") && v) {
			if (sscanf(argv[++i], "%d,%d", &o.cpu_consumer, &o.cpu_producer) != 2)
				goto usage;
		} else {
			goto usage;
		}
	}
	if (o.seconds <= 0 || o.runs < 1 || !o.batch || !o.ring_mb || (o.ring_mb & (o.ring_mb - 1)))
		goto usage;

	if (o.nice)
		own_autogroup(o.nice);
	libbpf_set_print(NULL);
	skel = ringbench_bpf__open();
	if (!skel) {
		fprintf(stderr, "ringbench: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bpf_map__set_max_entries(skel->maps.events, o.ring_mb << 20);
	/* pymac's threshold (user/attach/probes.c, wakeup_bytes), and its override */
	{
		const char *env = getenv("PYMAC_WAKEUP_BYTES");
		uint64_t ring = (uint64_t)o.ring_mb << 20;

		skel->rodata->wakeup_bytes = env && *env ? strtoull(env, NULL, 0)
					     : ring / 16 > 65536 ? ring / 16
								   : 65536;
	}
	if (ringbench_bpf__load(skel)) {
		fprintf(stderr, "ringbench: cannot load the BPF program: %s\n", strerror(errno));
		ringbench_bpf__destroy(skel);
		return 1;
	}
	if (o.drain)
		o.nrates = 1;
	for (int k = 0; k < o.nrates && !err; k++)
		for (int i = 0; i < o.runs && !err; i++)
			err = one_run(&o, skel, o.rates[k], i);
	ringbench_bpf__destroy(skel);
	return err ? 1 : 0;
usage:
	fprintf(stderr, "usage: ringbench [--rates M1,M2,...] [--seconds S] [--runs N] "
			"[--sink trace|null] [--ring-mb MB] [--batch K] [--dir D] "
			"[--cpus CONSUMER,PRODUCER] [--nice N] [--drain]\n");
	return 2;
}
