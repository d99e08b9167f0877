/* SPDX-License-Identifier: MIT */
/*
 * `pymac live --prometheus ADDR:PORT` and `pymac record --prometheus`:
 * /metrics in Prometheus' text exposition format (version 0.0.4), per lane
 * of the ledger (model/ledger.h) that the command keeps.
 *
 * A thread (prom_server.c) answers connections; the page itself is rendered by
 * the thread that owns the model, in prom__serve(), which the command's loop
 * calls on every turn (at most 100 ms apart). A scrape waits for that turn,
 * so the model is never read by two threads at once.
 */
#ifndef PYMAC_PROM_H
#define PYMAC_PROM_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "model/ledger.h"

struct prom;

/* Counters of the whole session, beside the per-lane ones. */
struct prom_totals {
	uint64_t events; /* events received */
	uint64_t lost;	 /* events lost, all processes */
};

/*
 * Listen on spec: "PORT", ":PORT", "HOST:PORT" or "[IPv6]:PORT"; without a
 * host, on 127.0.0.1 only. Port 0 picks a free one (see prom__address).
 * NULL with a one-line reason in err on failure.
 */
struct prom *prom__start(const char *spec, char *err, size_t errlen);
/* The address actually bound, e.g. "127.0.0.1:9464". */
const char *prom__address(const struct prom *p);
/* Render the page if a scrape is waiting for it. Cheap when none is. */
void prom__serve(struct prom *p, const struct ledger *lg, const struct prom_totals *t);
/* Stop the thread and close the socket. NULL is ok. */
void prom__stop(struct prom *p);

/* The page, as prom__serve renders it (for tests and the renderer). */
int prom__render(FILE *out, const struct ledger *lg, const struct prom_totals *t);

#endif /* PYMAC_PROM_H */
