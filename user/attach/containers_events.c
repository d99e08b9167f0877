// SPDX-License-Identifier: MIT
/*
 * The Engine's events stream: one GET /events that stays open, and one JSON
 * object per line for each container that starts or dies (containers.h).
 * Read without blocking from the session's loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attach/containers_impl.h"

/* filters={"type":["container"],"event":["start","die"]} */
#define EVENTS_PATH                                                                                \
	"/events?filters=%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%2C"  \
	"%22die%22%5D%7D"
#define EVENTS_LINE_MAX (256u << 10) /* longest event line kept */

struct container_events {
	int fd;
	bool in_body; /* the HTTP head has been read */
	char *buf;
	size_t len, cap;
};

struct container_events *container_events__open(void)
{
	struct container_events *ce = calloc(1, sizeof(*ce));
	int err;

	if (!ce)
		return NULL;
	err = ct_engine_request(NULL, "GET", EVENTS_PATH, NULL, ct_engine_deadline_ms(), &ce->fd);
	if (err) {
		free(ce);
		errno = -err;
		return NULL;
	}
	return ce;
}

int container_events__fd(const struct container_events *ce)
{
	return ce->fd;
}

/* The head ends at the blank line: 200, or the stream is not what was asked. */
static int events__head(struct container_events *ce)
{
	const char *end = memmem(ce->buf, ce->len, "\r\n\r\n", 4);
	int status;

	if (!end)
		return ce->len > 65536 ? -EPROTO : 0;
	if (ce->len < 12 || (memcmp(ce->buf, "HTTP/1.0 ", 9) && memcmp(ce->buf, "HTTP/1.1 ", 9)))
		return -EPROTO;
	status = atoi(ce->buf + 9);
	if (status != 200)
		return -EPROTO;
	end += 4;
	ce->len -= end - ce->buf;
	memmove(ce->buf, end, ce->len);
	ce->in_body = true;
	return 0;
}

/* Each whole line is an event; a line that is no event is skipped. */
static void events__lines(struct container_events *ce,
			  void (*cb)(void *ctx, const struct container_event *ev), void *ctx)
{
	size_t start = 0;

	for (;;) {
		char *nl = memchr(ce->buf + start, '\n', ce->len - start);
		struct container_event ev;

		if (!nl)
			break;
		if (nl > ce->buf + start &&
		    container_event__parse(ce->buf + start, nl - (ce->buf + start), &ev) == 0)
			cb(ctx, &ev);
		start = nl + 1 - ce->buf;
	}
	ce->len -= start;
	memmove(ce->buf, ce->buf + start, ce->len);
	if (ce->len >= EVENTS_LINE_MAX) /* a line too long to be an event */
		ce->len = 0;
}

int container_events__read(struct container_events *ce,
			   void (*cb)(void *ctx, const struct container_event *ev), void *ctx)
{
	for (;;) {
		ssize_t r;
		int err;

		if (ce->cap - ce->len < 4096) {
			size_t cap = ce->cap ? ce->cap * 2 : 16384;
			char *nb;

			if (cap > EVENTS_LINE_MAX + 8192)
				cap = EVENTS_LINE_MAX + 8192;
			if (cap <= ce->len)
				return -EMSGSIZE;
			nb = realloc(ce->buf, cap);
			if (!nb)
				return -ENOMEM;
			ce->buf = nb;
			ce->cap = cap;
		}
		r = recv(ce->fd, ce->buf + ce->len, ce->cap - ce->len, MSG_DONTWAIT);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (r == 0)
			return -ECONNRESET;
		ce->len += r;
		if (!ce->in_body) {
			err = events__head(ce);
			if (err)
				return err;
			if (!ce->in_body)
				continue;
		}
		events__lines(ce, cb, ctx);
	}
}

void container_events__free(struct container_events *ce)
{
	if (!ce)
		return;
	if (ce->fd >= 0)
		close(ce->fd);
	free(ce->buf);
	free(ce);
}
