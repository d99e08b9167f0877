// SPDX-License-Identifier: MIT
/*
 * What the loops of `record`, `live` and `replay --view timeline` do alike:
 * the stop signals they catch, the end that --duration sets, and the trace
 * file's periodic flush.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "feed/session.h"
#include "trace/rotate.h"
#include "trace/trace.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

void cmd_catch_stop_signals(bool hup)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (hup)
		sigaction(SIGHUP, &sa, NULL);
}

int cmd_take_stop_signal(void)
{
	int sig = stop_signal;

	stop_signal = 0;
	return sig;
}

unsigned long long cmd_deadline_ns(struct session *s, double duration)
{
	unsigned long long start = session__window_start_ns(s), end;

	if (duration <= 0)
		return 0;
	end = (start ? start : pm_now_ns()) + (unsigned long long)(duration * 1e9);
	session__window_ends_at(s, end);
	return end;
}

int cmd_poll_ms(unsigned long long deadline, int ms)
{
	unsigned long long now = pm_now_ns();

	if (!deadline)
		return ms;
	if (now >= deadline)
		return 0;
	/* rounded up: a poll that returns early would only spin */
	return deadline - now < (unsigned long long)ms * 1000000
		   ? (int)((deadline - now + 999999) / 1000000)
		   : ms;
}

bool cmd_deadline_reached(struct session *s, unsigned long long deadline, unsigned long long now)
{
	if (!deadline || now < deadline)
		return false;
	session__end_window(s, deadline);
	return true;
}

int cmd_flush_trace(struct session *s, struct trace_writer *w, uint64_t now_ns, uint64_t max_age_ns)
{
	struct pm_sink *sink = trace_writer__sink(w);
	int err = session__sink_error(s, sink);

	if (!err && (err = trace_writer__maybe_flush(w, now_ns, max_age_ns)))
		session__fail_sink(s, sink, err);
	return err;
}

static int close_writer(void *h, const struct pm_end *end)
{
	return trace_writer__close(h, end);
}

static int close_rotor(void *h, const struct pm_end *end)
{
	return trace_rotor__close(h, end);
}

struct cmd_trace cmd_trace_of_writer(struct trace_writer *w)
{
	return (struct cmd_trace){w ? trace_writer__sink(w) : NULL, close_writer, w, false};
}

struct cmd_trace cmd_trace_of_rotor(struct trace_rotor *r)
{
	return (struct cmd_trace){r ? trace_rotor__sink(r) : NULL, close_rotor, r, true};
}

int cmd_end_recording(struct session *s, const struct cmd_trace *t, const char *output,
		      int write_err, struct pm_sink *end_sink)
{
	struct pm_end end;
	unsigned rotations;
	uint64_t lost;
	int cerr = 0;

	/* Every family stops here at once, if the deadline did not stop them;
	 * everything before is in the ring buffer. */
	session__end_window(s, 0);
	session__drain(s);
	/* the trace ends where the window did, not when the probes were off */
	end = (struct pm_end){.ts_ns = session__window_end_ns(s), .events = session__events(s)};
	if (end_sink && !session__sink_error(s, end_sink)) {
		struct pm_record rec = {.type = PM_REC_END, .end = end};
		int err = end_sink->record(end_sink, &rec);

		if (err)
			session__fail_sink(s, end_sink, err);
	}
	session__finish(s);
	session__report_sink_errors(s, t->sink);
	if (t->sink && !write_err)
		write_err = session__sink_error(s, t->sink);
	/* a writer that failed gets no END: the file is what was written */
	rotations = t->rotates && t->sink ? trace_rotor__rotations(t->h) : 0;
	if (t->sink)
		cerr = t->close(t->h, write_err ? NULL : &end);
	/* one line about a failed write (its close fails too after a write did) */
	if (!write_err != !cerr)
		pm_err("writing %s: %s; the trace is readable up to its last complete chunk",
		       output, strerror(-(write_err ? write_err : cerr)));
	lost = session__lost(s);
	if (t->sink && !cerr && !write_err)
		fprintf(stderr, "pymac: wrote %s: %llu events, %llu lost%s\n", output,
			(unsigned long long)end.events, (unsigned long long)lost,
			rotations ? " (over it and the rotated files)" : "");
	if (lost)
		fprintf(stderr,
			"pymac: %llu events were lost (ring buffer full); use a larger "
			"--ringbuf-mb or fewer --probes\n",
			(unsigned long long)lost);
	if (session__gc_layout_misses(s))
		fprintf(stderr,
			"pymac: %llu collections were not seen: the GC state failed its layout's "
			"check (a build whose layout is not its version's); PYMAC_GC_METHOD=usdt "
			"or args reads them another way\n",
			(unsigned long long)session__gc_layout_misses(s));
	return cerr || write_err;
}
