// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: what comes out of the ring buffer, through the model.
 *
 * The input is a run of raw BPF records, each framed as a u16 LE length
 * then that many bytes (the layouts of bpf/events.h, whose header gives the
 * kind). Each is decoded by pm_record_from_bpf, as the consumer does, and
 * the ones it accepts are fed to one ledger with every store subscribed
 * (the timeline, the per-process books, the export series), and at the end
 * the summary is rendered, text and JSON. Nothing a traced process can put
 * in a record (sizes, addresses, pids, kinds, names, generations) may
 * crash a view.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/consumer.h"
#include "model/export_series.h"
#include "model/ledger.h"
#include "model/procstats.h"
#include "model/timeline.h"
#include "views/summary.h"

static int no_bucket(void *ctx, const struct es_lane *l, uint64_t b, const struct es_bucket *d,
		     const struct lg_levels *lv)
{
	(void)ctx, (void)l, (void)b, (void)d, (void)lv;
	return 0;
}

static const struct es_ops ops = {.bucket = no_bucket};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger *lg = ledger__new();
	struct timeline *tl = lg ? timeline__new_on(lg, 0, 0) : NULL;
	struct procstats *ps = tl ? procstats__new_on(lg) : NULL;
	struct export_series *es =
	    ps ? export_series__new_on(lg, 0, 10000000, false, &ops, NULL) : NULL;
	struct tl_bucket b[8];
	FILE *null = fopen("/dev/null", "w");
	size_t off = 0;

	while (es && null && size - off >= 2) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		uint8_t raw[512];
		struct pm_record rec;

		off += 2;
		if (len > size - off)
			len = size - off;
		memset(raw, 0, sizeof(raw));
		memcpy(raw, data + off, len > sizeof(raw) ? sizeof(raw) : len);
		off += len;
		if (pm_record_from_bpf(raw, len > sizeof(raw) ? sizeof(raw) : len, &rec) == 0 &&
		    ledger__record(lg, &rec))
			break;
	}
	if (es && null) {
		ledger__finish(lg);
		export_series__finish(es);
		for (size_t i = 0; i < timeline__lane_count(tl); i++)
			timeline__series(tl, i, timeline__start_ns(tl), timeline__now_ns(tl) + 1, b,
					 8);
		summary__print_text(ps, null, NULL, 5);
		summary__print_json(ps, null, NULL, 5);
	}
	if (null)
		fclose(null);
	export_series__free(es);
	procstats__free(ps);
	timeline__free(tl);
	ledger__free(lg);
	return 0;
}
