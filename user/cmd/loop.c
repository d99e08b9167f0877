// SPDX-License-Identifier: MIT
/*
 * What the loops of `record`, `live` and `replay --view timeline` do alike:
 * the stop signals they catch, the end that --duration sets, and the trace
 * file's periodic flush.
 */
#include <signal.h>

#include "cmd/commands.h"
#include "feed/session.h"
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
