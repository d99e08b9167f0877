// SPDX-License-Identifier: MIT
/*
 * The /metrics endpoint's server: one thread, one epoll set, many clients.
 *
 * Every connection is a small state machine (reading its request, waiting
 * for a page, writing its answer) with a deadline; none is ever waited for
 * in a blocking call, so an idle or slow client delays nobody else. There
 * are at most CONN_MAX connections: a new one beyond that takes the place of
 * the oldest that has not finished sending its request.
 *
 * The page is rendered by the thread that owns the model (prom__serve, on
 * the command loop's turn), at most once per PAGE_FRESH_MS: every scrape that
 * arrives in that time shares the same page, and scrapes waiting for the
 * next one are answered together when it is handed over (an eventfd wakes
 * this thread).
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "views/prom.h"
#include "util/clock.h"

#define REQ_MAX		  8192 /* request head we read at most */
#define CLIENT_TIMEOUT_MS 2000 /* a client's time to send its request, and to take the answer */
#define RENDER_WAIT_MS	  2000 /* a scrape waits this long for the command loop's turn */
#define PAGE_FRESH_MS	  250  /* a page this young is served again, not rendered again */
#define CONN_MAX	  64   /* connections open at once */
#define DRAIN_MS	  1000 /* after its answer, a client\'s time to close */
#define LISTEN_BACKLOG	  128

/* A rendered page, shared by the answers that carry it. */
struct page {
	unsigned refs;
	size_t len;
	uint64_t ts_ns; /* when it was rendered */
	char data[];
};

/* reading its request, waiting for a page, writing the answer, then
 * reading what else it sent until it closes (closing on unread data would
 * reset the connection and lose the answer) */
enum conn_state { CONN_READ, CONN_WAIT_PAGE, CONN_WRITE, CONN_DRAIN };

struct conn {
	int fd;
	enum conn_state state;
	uint64_t opened_ns, deadline_ns;
	bool head_only;
	char req[REQ_MAX + 1];
	size_t got;
	/* the answer: its head, then a body (a page, or a static text) */
	char hdr[256];
	size_t hdr_len;
	const char *body;
	size_t body_len;
	struct page *page; /* the body's page, if it is one */
	size_t sent;	   /* of head and body together */
};

struct prom {
	int lfd, stopfd, readyfd, epfd;
	pthread_t thread;
	bool running;
	char addr[80];
	struct conn *conns[CONN_MAX];
	size_t nconns;

	/* shared with the command loop's thread */
	pthread_mutex_t mu;
	bool want;	   /* a scrape waits for a fresh page */
	bool handed;	   /* a page (next) was rendered since the server took one */
	struct page *next; /* that page; NULL if it could not be rendered */

	/* the server thread's own */
	struct page *cur; /* the latest page it took */
};

static void page_put(struct page *pg)
{
	if (pg && !--pg->refs)
		free(pg);
}

/* ---- the command loop's side ---- */

void prom__serve(struct prom *p, const struct ledger *lg, const struct prom_totals *t)
{
	struct page *pg = NULL;
	char *buf = NULL;
	size_t len = 0;
	uint64_t one = 1;
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
		int err = prom__render(f, lg, t);

		if (fclose(f) || err) {
			free(buf);
			buf = NULL;
		}
	}
	if (buf && (pg = malloc(sizeof(*pg) + len))) {
		pg->refs = 1;
		pg->len = len;
		pg->ts_ns = pm_now_ns();
		memcpy(pg->data, buf, len);
	}
	free(buf);
	pthread_mutex_lock(&p->mu);
	/* NULL (out of memory) still answers the waiting scrapes: with a 503 */
	page_put(p->next);
	p->next = pg;
	p->handed = true;
	p->want = false;
	pthread_mutex_unlock(&p->mu);
	if (write(p->readyfd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only when its counter would overflow */
	}
}

/* ---- connections ---- */

static void conn_close(struct prom *p, size_t i)
{
	struct conn *c = p->conns[i];

	epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	page_put(c->page);
	free(c);
	p->conns[i] = p->conns[--p->nconns];
}

static void conn_answer(struct prom *p, struct conn *c, const char *status, const char *type,
			const char *body, size_t len, struct page *pg)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	int n = snprintf(c->hdr, sizeof(c->hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, type, len);

	c->hdr_len = (size_t)n;
	c->body = c->head_only ? NULL : body;
	c->body_len = c->head_only ? 0 : len;
	c->page = pg;
	if (pg)
		pg->refs++;
	c->sent = 0;
	c->state = CONN_WRITE;
	c->deadline_ns = pm_now_ns() + CLIENT_TIMEOUT_MS * 1000000ull;
	epoll_ctl(p->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void answer_text(struct prom *p, struct conn *c, const char *status, const char *msg)
{
	conn_answer(p, c, status, "text/plain; charset=utf-8", msg, strlen(msg), NULL);
}

static void answer_page(struct prom *p, struct conn *c, struct page *pg)
{
	if (!pg)
		answer_text(p, c, "503 Service Unavailable",
			    "pymac did not render the page in time\n");
	else
		conn_answer(p, c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", pg->data,
			    pg->len, pg);
}

/* Ask the command loop for a page; c waits for it. */
static void want_page(struct prom *p, struct conn *c)
{
	/* nothing to read or write meanwhile: only a hang-up or an error */
	struct epoll_event ev = {.events = 0, .data.ptr = c};

	c->state = CONN_WAIT_PAGE;
	c->deadline_ns = pm_now_ns() + RENDER_WAIT_MS * 1000000ull;
	epoll_ctl(p->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	pthread_mutex_lock(&p->mu);
	p->want = true;
	pthread_mutex_unlock(&p->mu);
}

/* The request's head is all in (a blank line), NUL bytes or not. */
static bool head_ends(const struct conn *c)
{
	return memmem(c->req, c->got, "\r\n\r\n", 4) || memmem(c->req, c->got, "\n\n", 2);
}

/* The request is in (or will not come): answer it, strictly. */
static void conn_request(struct prom *p, struct conn *c)
{
	char method[16], path[256], version[16];

	c->req[c->got] = 0;
	if (memchr(c->req, 0, c->got)) {
		answer_text(p, c, "400 Bad Request", "bad request\n");
		return;
	}
	if (c->got == REQ_MAX && !head_ends(c)) {
		answer_text(p, c, "431 Request Header Fields Too Large", "request too large\n");
		return;
	}
	/* HTTP/1.x only: no version (HTTP/0.9's form) is not a request we answer */
	if (sscanf(c->req, "%15s %255s %15s", method, path, version) != 3 ||
	    (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0)) {
		answer_text(p, c, "400 Bad Request", "bad request\n");
		return;
	}
	c->head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !c->head_only) {
		c->head_only = false;
		answer_text(p, c, "405 Method Not Allowed", "only GET and HEAD\n");
		return;
	}
	/* a query string is allowed (and ignored) */
	path[strcspn(path, "?")] = 0;
	if (strcmp(path, "/metrics") == 0) {
		if (p->cur && pm_now_ns() - p->cur->ts_ns < PAGE_FRESH_MS * 1000000ull)
			answer_page(p, c, p->cur);
		else
			want_page(p, c);
	} else if (strcmp(path, "/") == 0) {
		answer_text(p, c, "200 OK", "pymac: metrics are at /metrics\n");
	} else {
		answer_text(p, c, "404 Not Found", "not found: try /metrics\n");
	}
}

/* Read what the client sent; false when the connection is done with. */
static bool conn_read(struct prom *p, struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->req + c->got, REQ_MAX - c->got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n < 0)
			return false;
		if (n > 0) {
			c->got += (size_t)n;
			c->req[c->got] = 0;
		}
		/* the end of the head, a full buffer or the client's end */
		if (n == 0 || c->got == REQ_MAX || head_ends(c)) {
			if (n == 0 && !c->got)
				return false;
			conn_request(p, c);
			return true;
		}
	}
}

/* Send what the socket takes; false when the connection is done with. */
static bool conn_write(struct prom *p, struct conn *c)
{
	size_t total = c->hdr_len + c->body_len;

	while (c->sent < total) {
		const char *buf =
		    c->sent < c->hdr_len ? c->hdr + c->sent : c->body + (c->sent - c->hdr_len);
		size_t len = c->sent < c->hdr_len ? c->hdr_len - c->sent : total - c->sent;
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false; /* the client went away: nothing to tell anyone */
		c->sent += (size_t)n;
	}
	/* all sent: wait for the client's end, briefly */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};

	if (shutdown(c->fd, SHUT_WR) || epoll_ctl(p->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		return false;
	c->state = CONN_DRAIN;
	c->deadline_ns = pm_now_ns() + DRAIN_MS * 1000000ull;
	return true;
}

/* Discard what the client still sends; false at its end. */
static bool conn_drain(struct conn *c)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
	}
}

/* Room for one more: the oldest connection still reading its request (or
 * done with and draining) gives its place. false when every place holds a
 * request being answered. */
static bool make_room(struct prom *p)
{
	size_t oldest = CONN_MAX;

	if (p->nconns < CONN_MAX)
		return true;
	for (size_t i = 0; i < p->nconns; i++)
		if ((p->conns[i]->state == CONN_READ || p->conns[i]->state == CONN_DRAIN) &&
		    (oldest == CONN_MAX || p->conns[i]->opened_ns < p->conns[oldest]->opened_ns))
			oldest = i;
	if (oldest == CONN_MAX)
		return false;
	conn_close(p, oldest);
	return true;
}

static void accept_all(struct prom *p)
{
	for (;;) {
		int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
		struct conn *c;

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: the next turn tries again */
		if (!make_room(p) || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = CONN_READ;
		c->opened_ns = pm_now_ns();
		c->deadline_ns = c->opened_ns + CLIENT_TIMEOUT_MS * 1000000ull;
		ev.data.ptr = c;
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
			continue;
		}
		p->conns[p->nconns++] = c;
	}
}

/* The command loop handed over a page: answer every scrape waiting for one. */
static void take_page(struct prom *p)
{
	struct page *fresh = NULL;
	bool handed;
	uint64_t n;

	if (read(p->readyfd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&p->mu);
	handed = p->handed;
	if (handed) {
		fresh = p->next;
		p->next = NULL;
		p->handed = false;
	}
	pthread_mutex_unlock(&p->mu);
	if (!handed)
		return;
	if (fresh) {
		page_put(p->cur);
		p->cur = fresh;
	}
	for (size_t i = 0; i < p->nconns; i++)
		if (p->conns[i]->state == CONN_WAIT_PAGE)
			answer_page(p, p->conns[i], fresh);
}

static size_t conn_index(const struct prom *p, const struct conn *c)
{
	for (size_t i = 0; i < p->nconns; i++)
		if (p->conns[i] == c)
			return i;
	return CONN_MAX;
}

/* Close what is past its deadline; the time until the next one, in ms. */
static int expire(struct prom *p)
{
	uint64_t now = pm_now_ns(), next = UINT64_MAX;

	for (size_t i = 0; i < p->nconns;) {
		struct conn *c = p->conns[i];

		if (c->deadline_ns <= now) {
			if (c->state == CONN_WAIT_PAGE) {
				answer_page(p, c, NULL);
			} else {
				conn_close(p, i);
				continue;
			}
		}
		if (c->deadline_ns < next)
			next = c->deadline_ns;
		i++;
	}
	return next == UINT64_MAX ? -1 : (int)((next - now) / 1000000 + 1);
}

static void *serve_thread(void *arg)
{
	struct prom *p = arg;
	struct epoll_event evs[32];

	for (;;) {
		int n = epoll_wait(p->epfd, evs, 32, expire(p));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			void *who = evs[i].data.ptr;
			struct conn *c;
			size_t k;
			bool keep;

			if (who == &p->stopfd)
				return NULL;
			if (who == &p->lfd) {
				accept_all(p);
				continue;
			}
			if (who == &p->readyfd) {
				take_page(p);
				continue;
			}
			c = who;
			k = conn_index(p, c);
			if (k == CONN_MAX)
				continue; /* closed earlier in this batch */
			if (c->state == CONN_READ)
				keep = !(evs[i].events & EPOLLERR) && conn_read(p, c);
			else if (c->state == CONN_WAIT_PAGE)
				keep = !(evs[i].events & (EPOLLHUP | EPOLLERR));
			else if (c->state == CONN_DRAIN)
				keep = !(evs[i].events & EPOLLERR) && conn_drain(c);
			else
				keep = true;
			/* an answer is sent as soon as it is made */
			if (keep && c->state == CONN_WRITE)
				keep = conn_write(p, c);
			if (!keep)
				conn_close(p, k);
		}
	}
	return NULL;
}

/* ---- the listening socket ---- */

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

/* Bind and listen on spec; the socket, or -1 with why in err. */
static int listen_on(const char *spec, char *addr, size_t addrlen, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
			*res = NULL, *ai;
	char host[64], port[8], hbuf[64];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, e, last = 0, fd = -1;

	if (split_spec(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "--prometheus '%s': expected PORT, HOST:PORT or [IPv6]:PORT",
			 spec);
		return -1;
	}
	e = getaddrinfo(host, port, &hints, &res);
	if (e) {
		snprintf(err, errlen, "--prometheus %s: %s", spec, gai_strerror(e));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
			break;
		last = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "--prometheus %s: %s", spec, strerror(last ? last : EINVAL));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(addr, addrlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", hbuf, port);
	else
		snprintf(addr, addrlen, "%s", spec);
	return fd;
}

static int watch(struct prom *p, int *fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = fd};

	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, *fd, &ev);
}

struct prom *prom__start(const char *spec, char *err, size_t errlen)
{
	struct prom *p = calloc(1, sizeof(*p));
	int e;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->stopfd = p->readyfd = p->epfd = -1;
	pthread_mutex_init(&p->mu, NULL);
	p->lfd = listen_on(spec, p->addr, sizeof(p->addr), err, errlen);
	if (p->lfd < 0) {
		prom__stop(p);
		return NULL;
	}
	p->stopfd = eventfd(0, EFD_CLOEXEC);
	p->readyfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->stopfd < 0 || p->readyfd < 0 || p->epfd < 0 || watch(p, &p->lfd) ||
	    watch(p, &p->stopfd) || watch(p, &p->readyfd)) {
		snprintf(err, errlen, "--prometheus: %s", strerror(errno));
		prom__stop(p);
		return NULL;
	}
	e = pthread_create(&p->thread, NULL, serve_thread, p);
	if (e) {
		snprintf(err, errlen, "--prometheus: %s", strerror(e));
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
	while (p->nconns)
		conn_close(p, p->nconns - 1);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->readyfd >= 0)
		close(p->readyfd);
	if (p->stopfd >= 0)
		close(p->stopfd);
	if (p->lfd >= 0)
		close(p->lfd);
	pthread_mutex_destroy(&p->mu);
	page_put(p->cur);
	page_put(p->next);
	free(p);
}
