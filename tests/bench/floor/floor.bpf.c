// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The least a uprobe program can do: count its hits. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 hits = 0;

SEC("uprobe")
int floor_count(void *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
