// SPDX-License-Identifier: MIT
/* --sample-duty: a thread arms and disarms the allocation probes in windows;
 * the windows go into the stream (session_impl.h). */
#include "feed/session_impl.h"
#include "util/grow.h"

/* ---- sampling (--sample-duty) ---- */

/* Sleep until deadline (CLOCK_MONOTONIC ns) or a stop. true: stop. */
static bool sampler_wait(struct sampler *sp, uint64_t deadline)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
			      .tv_nsec = (long)(deadline % 1000000000ull)};
	bool stop;

	pthread_mutex_lock(&sp->mu);
	while (!sp->stop && pm_now_ns() < deadline)
		if (pthread_cond_timedwait(&sp->cv, &sp->mu, &ts) == ETIMEDOUT)
			break;
	stop = sp->stop;
	pthread_mutex_unlock(&sp->mu);
	return stop;
}

static void sampler_push(struct sampler *sp, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&sp->mu);
	if (sp->ndone == sp->capdone) {
		void *n = PM_GROW(sp->done, &sp->capdone, sp->ndone + 1, 16);

		if (!n) {
			/* a window missing from the trace would be counted as unarmed
			 * time: say so rather than scale wrongly */
			pthread_mutex_unlock(&sp->mu);
			pm_err("sampling: out of memory; a window is missing from the trace");
			return;
		}
		sp->done = n;
	}
	sp->done[sp->ndone++] = (struct sample_window){start, end};
	sp->windows++;
	pthread_mutex_unlock(&sp->mu);
}

static void *sampler_main(void *arg)
{
	struct sampler *sp = arg;
	uint64_t slot = pm_now_ns();

	for (;;) {
		uint64_t span = sp->period_ns > sp->window_ns ? sp->period_ns - sp->window_ns : 0;
		uint64_t r = ((uint64_t)rand_r(&sp->seed) << 31) ^ (uint64_t)rand_r(&sp->seed);
		uint64_t at = slot + (span ? r % span : 0), a0, a1, d0, d1, on, off;
		bool stop;

		slot += sp->period_ns;
		if (sampler_wait(sp, at))
			break;
		/* the window is the armed time as probes__sample measures it,
		 * not the calls' (disarming returns long after the probes are
		 * gone) */
		a0 = pm_now_ns();
		probes__sample(sp->probes, true, &on);
		a1 = pm_now_ns();
		stop = sampler_wait(sp, on + sp->window_ns);
		d0 = pm_now_ns();
		probes__sample(sp->probes, false, &off);
		d1 = pm_now_ns();
		sampler_push(sp, on, off > on ? off : on);
		if (a1 - a0 > sp->arm_ns_max)
			sp->arm_ns_max = a1 - a0;
		if (d1 - d0 > sp->disarm_ns_max)
			sp->disarm_ns_max = d1 - d0;
		if (getenv("PYMAC_DEBUG"))
			fprintf(stderr,
				"pymac: sample window %" PRIu64 " +%.3f ms: armed in %.3f ms, "
				"disarmed in %.3f ms\n",
				on, (off - on) / 1e6, (a1 - a0) / 1e6, (d1 - d0) / 1e6);
		if (stop)
			break;
		/* a disarm that took longer than a period: start from now */
		if (slot + sp->period_ns < pm_now_ns())
			slot = pm_now_ns();
	}
	return NULL;
}

/* Put the finished windows in the stream (from the session's thread: the
 * sinks are not shared with the sampler). */
void ss_sampler_emit(struct session *s)
{
	struct sampler *sp = s->sampler;
	struct sample_window w[64];
	size_t n;

	if (!sp)
		return;
	do {
		pthread_mutex_lock(&sp->mu);
		n = sp->ndone < 64 ? sp->ndone : 64;
		memcpy(w, sp->done, n * sizeof(*w));
		memmove(sp->done, sp->done + n, (sp->ndone - n) * sizeof(*w));
		sp->ndone -= n;
		pthread_mutex_unlock(&sp->mu);
		for (size_t i = 0; i < n; i++) {
			char v[64];

			snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64, w[i].start, w[i].end);
			session__meta(s, "sample_window", v);
		}
	} while (n == 64);
}

int ss_sampler_start(struct session *s)
{
	const struct target_opts *t = s->o.targets;
	struct sampler *sp = calloc(1, sizeof(*sp));
	pthread_condattr_t ca;
	char v[64];
	int err;

	if (!sp)
		return -ENOMEM;
	sp->probes = s->probes;
	sp->period_ns = (uint64_t)(t->sample_period * 1e9);
	sp->window_ns = (uint64_t)(t->sample_duty * t->sample_period * 1e9);
	sp->seed = (unsigned)(pm_now_ns() ^ (uint64_t)getpid());
	pthread_mutex_init(&sp->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(v, sizeof(v), "%.6g", t->sample_duty);
	session__meta(s, "sample_duty", v);
	snprintf(v, sizeof(v), "%" PRIu64, sp->period_ns);
	session__meta(s, "sample_period_ns", v);
	err = pthread_create(&sp->tid, NULL, sampler_main, sp);
	if (err) {
		pthread_cond_destroy(&sp->cv);
		pthread_mutex_destroy(&sp->mu);
		free(sp);
		return -err;
	}
	s->sampler = sp;
	if (!s->o.quiet)
		fprintf(stderr,
			"pymac: sampling: allocation probes (%zu sites) armed %.3g ms in every "
			"%.3g s (%.3g%%); GC is traced throughout; counts are estimates\n",
			probes__sampled_sites(s->probes), sp->window_ns / 1e6, sp->period_ns / 1e9,
			t->sample_duty * 100);
	return 0;
}

/* Stop the windows (an open one ends now) and put them all in the stream. */
void ss_sampler_stop(struct session *s, bool emit_windows)
{
	struct sampler *sp = s->sampler;

	if (!sp)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->stop = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->tid, NULL);
	if (emit_windows)
		ss_sampler_emit(s);
	if (getenv("PYMAC_DEBUG"))
		fprintf(stderr,
			"pymac: sampling: %" PRIu64 " windows, arming took up to %.3f ms, "
			"disarming up to %.3f ms\n",
			sp->windows, sp->arm_ns_max / 1e6, sp->disarm_ns_max / 1e6);
	pthread_cond_destroy(&sp->cv);
	pthread_mutex_destroy(&sp->mu);
	free(sp->done);
	free(sp);
	s->sampler = NULL;
}

/*
 * How long a poll may wait: no longer than the next look after an exec.
 * Allocation records no longer wake the consumer one by one, so a poll
 * waits its whole timeout while a new program runs, and a program that
 * lives 40 ms could end before its interpreter was attached.
 */
