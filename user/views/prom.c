// SPDX-License-Identifier: MIT
/* The /metrics endpoint of `pymac live --prometheus`. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "views/prom.h"
#include "feed/record.h"

#define REQ_MAX	       8192 /* request head we read at most */
#define CLIENT_TIMEOUT 2    /* seconds a client may take to send its request */
#define RENDER_WAIT_MS 2000 /* a scrape waits this long for the live loop's turn */

struct prom {
	int lfd, stopfd;
	pthread_t thread;
	bool running;
	char addr[80];

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool want;    /* a scrape waits for a fresh page */
	uint64_t gen; /* pages rendered so far */
	char *page;   /* the latest page */
	size_t page_len;
};

/* ---- rendering ---- */

static void label_value(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void lane_labels(FILE *out, const struct lg_lane *in)
{
	fputs("{lane=", out);
	label_value(out, in->name);
	fprintf(out, ",lane_kind=\"%s\"",
		(in->kind == LG_LANE_CONTAINER) ? "container" : "process");
}

static void head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int prom__render(FILE *out, const struct timeline *tl, const struct prom_totals *t)
{
	size_t n = timeline__lane_count(tl), i;
	unsigned k;

	head(out, "pymac_events_received_total", "counter", "Events pymac received, all lanes.");
	fprintf(out, "pymac_events_received_total %" PRIu64 "\n", t->events);
	head(out, "pymac_lost_events_total", "counter",
	     "Events lost because the ring buffer was full, by lane.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_lost_events_total", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRIu64 "\n", in->tot.lost);
	}
	head(out, "pymac_lost_events_all_total", "counter",
	     "Events lost, all processes (including ones no lane could be named for).");
	fprintf(out, "pymac_lost_events_all_total %" PRIu64 "\n", t->lost);

	head(out, "pymac_lane_info", "gauge",
	     "One per lane (container, or process outside containers): its description.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_lane_info", out);
		lane_labels(out, in);
		fputs(",detail=", out);
		label_value(out, in->detail);
		fputs(",interpreter=", out);
		label_value(out, in->interpreter);
		fputs(",allocator=", out);
		label_value(out, in->allocator);
		fprintf(out, ",ended=\"%d\",partial=\"%d\"} 1\n", in->ended, in->partial);
	}

	head(out, "pymac_events_total", "counter", "Events seen, by lane and kind.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		for (k = 1; k < PM_KIND_MAX; k++) {
			const char *name = pm_kind_name(k);

			if (!name)
				continue;
			fputs("pymac_events_total", out);
			lane_labels(out, in);
			fprintf(out, ",kind=\"%s\"} %" PRIu64 "\n", name, in->tot.events[k]);
		}
	}

	static const char *const allocators[2] = {"python", "libc"};
	head(out, "pymac_allocated_bytes_total", "counter",
	     "Bytes of successful allocations, by lane and allocator.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		uint64_t v[2] = {in->tot.py_alloc_bytes, in->tot.libc_alloc_bytes};

		for (k = 0; k < 2; k++) {
			fputs("pymac_allocated_bytes_total", out);
			lane_labels(out, in);
			fprintf(out, ",allocator=\"%s\"} %" PRIu64 "\n", allocators[k], v[k]);
		}
	}
	head(out, "pymac_freed_bytes_total", "counter",
	     "Bytes freed (sized by their allocation; frees of blocks never seen allocated add "
	     "nothing), by lane and allocator.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		uint64_t v[2] = {in->tot.py_free_bytes, in->tot.libc_free_bytes};

		for (k = 0; k < 2; k++) {
			fputs("pymac_freed_bytes_total", out);
			lane_labels(out, in);
			fprintf(out, ",allocator=\"%s\"} %" PRIu64 "\n", allocators[k], v[k]);
		}
	}
	head(out, "pymac_net_bytes", "gauge",
	     "Bytes of blocks allocated while traced and not yet freed, by lane and allocator.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);
		int64_t v[2] = {in->lv.py_net, in->lv.libc_net};

		for (k = 0; k < 2; k++) {
			fputs("pymac_net_bytes", out);
			lane_labels(out, in);
			fprintf(out, ",allocator=\"%s\"} %" PRId64 "\n", allocators[k], v[k]);
		}
	}

	/* footprint mode only: elsewhere a 0 would claim a footprint nobody measured */
	head(out, "pymac_footprint_bytes", "gauge",
	     "Anonymous memory mapped now (pymalloc arenas, other mmaps, brk heap) by the lane's "
	     "live processes, by lane (footprint mode).");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		if (!in->tot.events[PM_VM])
			continue;
		fputs("pymac_footprint_bytes", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRId64 "\n", lg_levels__footprint(&in->lv));
	}
	head(out, "pymac_rss_bytes", "gauge",
	     "Resident set of the lane's live processes, their latest samples summed, by lane "
	     "(footprint mode).");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		if (!in->tot.events[PM_RSS])
			continue;
		fputs("pymac_rss_bytes", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRId64 "\n", in->lv.rss);
	}

	head(out, "pymac_gc_collections_total", "counter",
	     "Finished garbage collections, by lane and generation.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		for (k = 0; k < 3; k++) {
			fputs("pymac_gc_collections_total", out);
			lane_labels(out, in);
			fprintf(out, ",generation=\"%u\"} %" PRIu64 "\n", k, in->tot.gc_gen[k]);
		}
	}
	head(out, "pymac_gc_seconds_total", "counter", "Time spent in garbage collections.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_gc_seconds_total", out);
		lane_labels(out, in);
		fprintf(out, "} %.9f\n", (double)in->tot.gc_ns / 1e9);
	}
	head(out, "pymac_gc_collected_objects_total", "counter",
	     "Objects the garbage collections found unreachable.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_gc_collected_objects_total", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRIu64 "\n", in->tot.gc_collected);
	}
	head(out, "pymac_gc_uncollectable_objects_total", "counter",
	     "Unreachable objects the garbage collections could not free (gc.garbage), where "
	     "the probes read the collector's statistics.");
	for (i = 0; i < n; i++) {
		const struct lg_lane *in = timeline__lane(tl, i);

		fputs("pymac_gc_uncollectable_objects_total", out);
		lane_labels(out, in);
		fprintf(out, "} %" PRIu64 "\n", in->tot.gc_uncollectable);
	}
	return ferror(out) ? -EIO : 0;
}

void prom__serve(struct prom *p, const struct timeline *tl, const struct prom_totals *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	if (!p->want) {
		pthread_mutex_unlock(&p->mu);
		return;
	}
	pthread_mutex_unlock(&p->mu);

	f = open_memstream(&buf, &len);
	if (f) {
		prom__render(f, tl, t);
		if (fclose(f)) {
			free(buf);
			buf = NULL;
		}
	}
	pthread_mutex_lock(&p->mu);
	if (buf) {
		free(p->page);
		p->page = buf;
		p->page_len = len;
	}
	p->want = false;
	p->gen++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* ---- serving ---- */

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the client went away: nothing to tell anyone */
		buf += n;
		len -= (size_t)n;
	}
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len,
		    bool head_only)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, type, len);

	write_all(fd, hdr, (size_t)n);
	if (!head_only)
		write_all(fd, body, len);
}

/* A fresh page, rendered by the live loop; NULL if it did not come in time. */
static char *fetch_page(struct prom *p, size_t *len)
{
	struct timespec until;
	uint64_t gen;
	char *copy = NULL;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += RENDER_WAIT_MS / 1000;
	pthread_mutex_lock(&p->mu);
	gen = p->gen;
	p->want = true;
	while (p->gen == gen)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
			break;
	if (p->gen != gen && p->page) {
		copy = malloc(p->page_len + 1);
		if (copy) {
			memcpy(copy, p->page, p->page_len);
			copy[p->page_len] = 0;
			*len = p->page_len;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return copy;
}

static void handle(struct prom *p, int fd)
{
	static const char text[] = "text/plain; charset=utf-8";
	char req[REQ_MAX + 1], method[16], path[256];
	struct timeval tv = {.tv_sec = CLIENT_TIMEOUT};
	size_t got = 0;
	bool head_only;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < REQ_MAX) {
		ssize_t n = recv(fd, req + got, REQ_MAX - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = 0;
	if (sscanf(req, "%15s %255s", method, path) != 2) {
		static const char msg[] = "bad request\n";

		respond(fd, "400 Bad Request", text, msg, sizeof(msg) - 1, false);
		return;
	}
	head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head_only) {
		static const char msg[] = "only GET and HEAD\n";

		respond(fd, "405 Method Not Allowed", text, msg, sizeof(msg) - 1, false);
		return;
	}
	/* a query string is allowed (and ignored) */
	path[strcspn(path, "?")] = 0;
	if (strcmp(path, "/metrics") == 0) {
		size_t len = 0;
		char *page = fetch_page(p, &len);

		if (!page) {
			static const char msg[] = "the live view did not answer in time\n";

			respond(fd, "503 Service Unavailable", text, msg, sizeof(msg) - 1,
				head_only);
			return;
		}
		respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", page, len,
			head_only);
		free(page);
	} else if (strcmp(path, "/") == 0) {
		static const char msg[] = "pymac live: metrics are at /metrics\n";

		respond(fd, "200 OK", text, msg, sizeof(msg) - 1, head_only);
	} else {
		static const char msg[] = "not found: try /metrics\n";

		respond(fd, "404 Not Found", text, msg, sizeof(msg) - 1, head_only);
	}
}

static void *serve_thread(void *arg)
{
	struct prom *p = arg;
	struct pollfd fds[2] = {{.fd = p->lfd, .events = POLLIN},
				{.fd = p->stopfd, .events = POLLIN}};

	for (;;) {
		int n = poll(fds, 2, -1), fd;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || fds[1].revents)
			break;
		if (!(fds[0].revents & POLLIN))
			continue;
		fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		handle(p, fd);
		close(fd);
	}
	return NULL;
}

static int split_spec(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= hostlen)
			return -1;
		snprintf(host, hostlen, "%.*s", (int)(end - spec - 1), spec + 1);
		colon = end + 1;
	} else if ((colon = strrchr(spec, ':'))) {
		if ((size_t)(colon - spec) >= hostlen || memchr(spec, ':', colon - spec))
			return -1; /* a bare IPv6 address needs its brackets */
		snprintf(host, hostlen, "%.*s", (int)(colon - spec), spec);
	} else {
		host[0] = 0;
		colon = spec - 1;
	}
	if (!host[0])
		snprintf(host, hostlen, "127.0.0.1");
	if (!colon[1] || strlen(colon + 1) >= portlen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	snprintf(port, portlen, "%s", colon + 1);
	return atoi(port) > 65535 ? -1 : 0;
}

struct prom *prom__start(const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
			*res = NULL, *ai;
	char host[64], port[8], hbuf[64];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct prom *p;
	int one = 1, e, last = 0;

	if (split_spec(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "--prometheus '%s': expected PORT, HOST:PORT or [IPv6]:PORT",
			 spec);
		return NULL;
	}
	e = getaddrinfo(host, port, &hints, &res);
	if (e) {
		snprintf(err, errlen, "--prometheus %s: %s", spec, gai_strerror(e));
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		freeaddrinfo(res);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->lfd = p->stopfd = -1;
	for (ai = res; ai; ai = ai->ai_next) {
		p->lfd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (p->lfd < 0) {
			last = errno;
			continue;
		}
		setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(p->lfd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(p->lfd, 16) == 0)
			break;
		last = errno;
		close(p->lfd);
		p->lfd = -1;
	}
	freeaddrinfo(res);
	if (p->lfd < 0) {
		snprintf(err, errlen, "--prometheus %s: %s", spec, strerror(last ? last : EINVAL));
		free(p);
		return NULL;
	}
	if (getsockname(p->lfd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(p->addr, sizeof(p->addr), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
			 hbuf, port);
	else
		snprintf(p->addr, sizeof(p->addr), "%s", spec);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->stopfd = eventfd(0, EFD_CLOEXEC);
	if (p->stopfd < 0 || (e = pthread_create(&p->thread, NULL, serve_thread, p))) {
		snprintf(err, errlen, "--prometheus: %s", strerror(p->stopfd < 0 ? errno : e));
		prom__stop(p);
		return NULL;
	}
	p->running = true;
	return p;
}

const char *prom__address(const struct prom *p)
{
	return p->addr;
}

void prom__stop(struct prom *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	if (p->running) {
		if (write(p->stopfd, &one, sizeof(one)) < 0) {
			/* an eventfd write cannot fail short of a bug; the
			 * thread then ends with the process */
		}
		pthread_join(p->thread, NULL);
	}
	if (p->stopfd >= 0)
		close(p->stopfd);
	if (p->lfd >= 0)
		close(p->lfd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->page);
	free(p);
}
