// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "feed/consumer.h"

struct consumer {
	struct ring_buffer *rb;
	struct pm_sink *sink;
	uint64_t events, malformed;
	uint64_t cut_ns; /* events from it on are outside the window; 0: none yet */
	int sink_err;
	unsigned budget, in_round;
};

/* What handle() returns to end a poll early (no libbpf error looks like it). */
#define BUDGET_SPENT (-4096)

/* BPF strings are fixed arrays that the helpers NUL-terminate; terminate
 * them again anyway so that a bad record cannot make us read past it. */
#define TERMINATE(arr) ((arr)[sizeof(arr) - 1] = '\0')

int pm_record_from_bpf(void *data, size_t size, struct pm_record *rec)
{
	const struct pm_hdr *h = data;
	struct pm_event *e = &rec->ev;

	if (size < sizeof(*h))
		return -EINVAL;
	memset(rec, 0, sizeof(*rec));
	rec->type = PM_REC_EVENT;
	e->ts_ns = h->ts_ns;
	e->cgroup_id = h->cgroup_id;
	e->pid = h->pid;
	e->tid = h->tid;
	e->kind = h->kind;
	switch (h->kind) {
	PM_CASE_ALLOC_KINDS : {
		const struct pm_alloc_rec *r = data;

		if (size < sizeof(*r))
			return -EINVAL;
		e->alloc.size = r->size;
		e->alloc.addr = r->addr;
		e->alloc.old_addr = r->old_addr;
		e->alloc.old_block = h->block;
		return 0;
	}
	case PM_PY_FREE:
	case PM_FREE: {
		const struct pm_free_rec *r = data;

		if (size < sizeof(*r))
			return -EINVAL;
		e->free.addr = r->addr;
		e->free.block = h->block;
		return 0;
	}
	case PM_PY_DEALLOC: {
		struct pm_dealloc_rec *r = (struct pm_dealloc_rec *)data;

		if (size < sizeof(*r))
			return -EINVAL;
		TERMINATE(r->type_name);
		e->dealloc.obj = r->obj;
		e->dealloc.type = r->type;
		e->dealloc.type_name = r->type_name;
		return 0;
	}
	case PM_GC_START:
	case PM_GC_DONE: {
		const struct pm_gc_rec *r = data;

		if (size < sizeof(*r))
			return -EINVAL;
		e->gc.generation = r->generation;
		e->gc.source = r->source;
		e->gc.collected = r->collected;
		e->gc.duration_ns = r->duration_ns;
		e->gc.uncollectable = r->uncollectable;
		return 0;
	}
	case PM_EXEC:
	case PM_EXIT: {
		struct pm_proc_rec *r = (struct pm_proc_rec *)data;

		if (size < sizeof(*r))
			return -EINVAL;
		TERMINATE(r->comm);
		TERMINATE(r->path);
		e->proc.ppid = r->ppid;
		e->proc.exit_code = r->exit_code;
		e->proc.comm = r->comm;
		e->proc.path = r->path;
		return 0;
	}
	case PM_VM: {
		const struct pm_vm_rec *r = data;

		if (size < sizeof(*r))
			return -EINVAL;
		e->vm.op = r->op;
		e->vm.prot = r->prot;
		e->vm.flags = r->flags;
		e->vm.addr = r->addr;
		e->vm.len = r->len;
		e->vm.old_addr = r->old_addr;
		e->vm.old_len = r->old_len;
		return 0;
	}
	}
	/* PM_RSS comes from user space, never from the ring buffer */
	return -EINVAL;
}

/* Room for the largest record: ring buffer pages are mapped read-only, and
 * strings are terminated in a copy. */
union raw_record {
	struct pm_alloc_rec alloc;
	struct pm_free_rec free;
	struct pm_dealloc_rec dealloc;
	struct pm_gc_rec gc;
	struct pm_proc_rec proc;
	struct pm_vm_rec vm;
};

static int handle(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	union raw_record raw;
	struct pm_record rec;
	int err;

	if (size > sizeof(raw))
		size = sizeof(raw);
	memcpy(&raw, data, size);
	if (pm_record_from_bpf(&raw, size, &rec)) {
		c->malformed++;
		return 0;
	}
	/* passed the window's switch just before it went off */
	if (c->cut_ns && rec.ev.ts_ns >= c->cut_ns)
		return 0;
	c->events++;
	err = c->sink->record(c->sink, &rec);
	if (err && !c->sink_err)
		c->sink_err = err;
	/*
	 * libbpf has already moved past this record when a callback fails, so
	 * stopping here loses nothing: the rest waits for the next poll.
	 */
	if (c->budget && ++c->in_round >= c->budget)
		return BUDGET_SPENT;
	return 0; /* keep consuming: losing the rest would be worse */
}

struct consumer *consumer__new(int ringbuf_fd, struct pm_sink *sink)
{
	struct consumer *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sink = sink;
	c->rb = ring_buffer__new(ringbuf_fd, handle, c, NULL);
	if (!c->rb) {
		int err = errno;

		free(c);
		errno = err;
		return NULL;
	}
	return c;
}

void consumer__free(struct consumer *c)
{
	if (!c)
		return;
	ring_buffer__free(c->rb);
	free(c);
}

int consumer__poll(struct consumer *c, int timeout_ms)
{
	int n;

	uint64_t before = c->events + c->malformed;

	c->in_round = 0;
	n = ring_buffer__poll(c->rb, timeout_ms);
	if (n != BUDGET_SPENT) {
		if (n < 0)
			return n;
		/*
		 * The hot records do not wake us until enough of them wait
		 * (pm_submit_batched): whatever the wait ended on, read what
		 * is there.
		 */
		n = ring_buffer__consume(c->rb);
		if (n < 0 && n != BUDGET_SPENT)
			return n;
	}
	n = (int)(c->events + c->malformed - before);
	return n;
}

int consumer__drain(struct consumer *c)
{
	unsigned budget = c->budget;
	int n;

	c->budget = 0;
	n = ring_buffer__consume(c->rb);
	c->budget = budget;
	return n;
}

void consumer__set_cut(struct consumer *c, uint64_t cut_ns)
{
	c->cut_ns = cut_ns;
}

void consumer__set_budget(struct consumer *c, unsigned max_per_poll)
{
	c->budget = max_per_poll;
}

uint64_t consumer__events(const struct consumer *c)
{
	return c->events;
}

uint64_t consumer__malformed(const struct consumer *c)
{
	return c->malformed;
}

int consumer__sink_error(const struct consumer *c)
{
	return c->sink_err;
}

int consumer__fd(const struct consumer *c)
{
	return ring_buffer__epoll_fd(c->rb);
}
