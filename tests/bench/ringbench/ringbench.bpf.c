// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Producer for the consumer benchmark: each run of `produce` writes
 * args[0] of pymac's own py_malloc/py_free records into a ring buffer, the
 * way pymac's probes do (bpf/pymac.bpf.h, bpf/alloc.bpf.c): one reserve per
 * record, a count of the records that found no room, and the submit of
 * pm_submit_batched: no wakeup until wakeup_bytes wait in the ring (0: the
 * kernel's default, a wakeup whenever the consumer had caught up). User
 * space runs it with BPF_PROG_TEST_RUN, so nothing but the bench triggers it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "events.h"

/* Sized by user space before load, like pymac's. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} events SEC(".maps");

const volatile __u64 wakeup_bytes = 0;
__u64 produced = 0;
__u64 lost = 0;

/*
 * Address model, after pymalloc: each size class allocates from its own
 * 4 KiB pool block after block, most frees release a block allocated a few
 * pairs earlier (short-lived objects), and a pool that is full moves on to
 * the next pool of its 256 KiB arena.
 */
#define LIVE	   64
#define CLASSES	   32
#define ARENA_BASE 0x7f3a1c000000ull
__u64 live[LIVE] = {};
__u64 next_block[CLASSES] = {};
__u64 rng = 0x9e3779b97f4a7c15ull;
__u64 seq = 0;

static __always_inline __u64 submit_flags(void)
{
	if (!wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 next_rand(void)
{
	__u64 x = rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng = x;
	return x;
}

/*
 * The header's values are read once per batch and the timestamps spaced
 * by the paced rate: the consumer gets the same bytes as from pymac's
 * probes, and the producer spends its time on the ring buffer alone, so
 * that it can outrun the consumer.
 */
struct batch {
	struct pm_hdr h;
	__u64 step_ns;
};

static long emit_one(__u32 i, void *ctx)
{
	struct batch *b = ctx;
	__u64 n = seq++, slot = (n >> 1) & (LIVE - 1);
	__u64 x = next_rand();

	if (!(n & 1)) {
		struct pm_alloc_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		/* small sizes dominate, as in a Python program */
		__u64 cls = (x & 3) ? (x >> 2) & 3 : (x >> 2) & (CLASSES - 1);
		__u64 blk = next_block[cls & (CLASSES - 1)]++, per_pool = 4032 / ((cls + 1) * 16);
		__u64 addr;

		if (!r) {
			__sync_fetch_and_add(&lost, 1);
			return 0;
		}
		addr = ARENA_BASE + cls * 0x40000 + ((blk / per_pool) & 63) * 0x1000 + 0x30 +
		       (blk % per_pool) * (cls + 1) * 16;
		r->h = b->h;
		r->h.kind = PM_PY_MALLOC;
		r->h.ts_ns += i * b->step_ns;
		r->size = (cls + 1) * 16 - ((x >> 20) & 15);
		r->addr = addr;
		r->old_addr = 0;
		live[slot] = addr;
		bpf_ringbuf_submit(r, submit_flags());
	} else {
		struct pm_free_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

		if (!r) {
			__sync_fetch_and_add(&lost, 1);
			return 0;
		}
		r->h = b->h;
		r->h.kind = PM_PY_FREE;
		r->h.ts_ns += i * b->step_ns;
		/* mostly a block of the last few pairs, now and then an old one */
		r->addr = live[(slot - ((x >> 24) & ((x & 0x300) ? 3 : 63))) & (LIVE - 1)];
		bpf_ringbuf_submit(r, submit_flags());
	}
	__sync_fetch_and_add(&produced, 1);
	return 0;
}

SEC("raw_tp")
int produce(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct batch b = {
	    .h = {.ts_ns = bpf_ktime_get_ns(),
		  .cgroup_id = bpf_get_current_cgroup_id(),
		  .pid = pid_tgid >> 32,
		  .tid = (__u32)pid_tgid},
	    .step_ns = ctx->args[1],
	};

	bpf_loop(ctx->args[0], emit_one, &b, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
