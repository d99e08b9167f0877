// SPDX-License-Identifier: MIT
/* A trace that rotates into files that each replay on their own (rotate.h). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/rotate.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/outfile.h"

/*
 * What a new file must say before its first event, as the stream last said
 * it. Each entry is the record as it came, its strings copied (str[]).
 */
#define STATE_STRS 6
struct state_rec {
	struct pm_record rec;
	char *str[STATE_STRS];
};

/* The latest cumulative lost count of (pid, kind), and the part of it
 * counted in earlier files. */
struct lost_base {
	uint32_t pid;
	enum pm_kind kind;
	uint64_t count, base;
	bool gone; /* its process was gone at the latest rotation */
};

struct state_list {
	struct state_rec *v;
	size_t n, cap;
};

struct trace_rotor {
	struct pm_sink sink;
	struct trace_writer *w;
	char *path;
	struct pm_trace_info info;
	uint64_t max_bytes;
	unsigned keep, rotations;
	uint64_t file_events; /* events written into the current file */

	struct state_list meta, conts, procs, srcs;
	struct lost_base *lost;
	size_t nlost, lost_cap;
};

static void state_rec__free(struct state_rec *s)
{
	for (int i = 0; i < STATE_STRS; i++)
		free(s->str[i]);
}

/* Where a record type's strings are in struct pm_record. */
#define AT(f) offsetof(struct pm_record, f)
static const size_t meta_strs[] = {AT(meta.key), AT(meta.value), 0};
static const size_t cont_strs[] = {AT(cont.runtime),
				   AT(cont.id),
				   AT(cont.name),
				   AT(cont.image),
				   AT(cont.project),
				   AT(cont.service),
				   0};
static const size_t proc_strs[] = {AT(proc.comm), AT(proc.exe), AT(proc.python),
				   AT(proc.python_version), 0};
static const size_t src_strs[] = {AT(src.source), AT(src.detail), 0};

/* rec into s, with copies of its strings (at the offsets strs, 0-ended). */
static int state_rec__set(struct state_rec *s, const struct pm_record *rec, const size_t *strs)
{
	struct state_rec t = {.rec = *rec};

	for (int i = 0; strs[i]; i++) {
		const char **f = (const char **)((char *)&t.rec + strs[i]);

		t.str[i] = strdup(*f ? *f : "");
		if (!t.str[i]) {
			state_rec__free(&t);
			return -ENOMEM;
		}
		*f = t.str[i];
	}
	state_rec__free(s);
	*s = t;
	return 0;
}

/* The entry of the list that match() says is rec's, made if absent. */
static struct state_rec *state_list__get(struct state_list *l, const struct pm_record *rec,
					 bool (*match)(const struct pm_record *,
						       const struct pm_record *))
{
	struct state_rec *v;

	for (size_t i = 0; i < l->n; i++)
		if (match(&l->v[i].rec, rec))
			return &l->v[i];
	v = PM_GROW(l->v, &l->cap, l->n + 1, 16);
	if (!v)
		return NULL;
	l->v = v;
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

/* Remove the entries drop() says go. */
static void state_list__drop(struct state_list *l, bool (*drop)(const struct pm_record *, uint32_t),
			     uint32_t arg)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (drop(&l->v[i].rec, arg)) {
			state_rec__free(&l->v[i]);
			continue;
		}
		l->v[n++] = l->v[i];
	}
	l->n = n;
}

static void state_list__free(struct state_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		state_rec__free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool same_meta(const struct pm_record *a, const struct pm_record *b)
{
	return strcmp(a->meta.key, b->meta.key) == 0;
}

static bool same_cont(const struct pm_record *a, const struct pm_record *b)
{
	return a->cont.cgroup_id == b->cont.cgroup_id;
}

static bool same_proc(const struct pm_record *a, const struct pm_record *b)
{
	return a->proc.pid == b->proc.pid;
}

static bool same_src(const struct pm_record *a, const struct pm_record *b)
{
	return a->src.pid == b->src.pid && strcmp(a->src.source, b->src.source) == 0;
}

static bool proc_is(const struct pm_record *r, uint32_t pid)
{
	return r->proc.pid == pid;
}

static bool src_of(const struct pm_record *r, uint32_t pid)
{
	return r->src.pid == pid;
}

static bool cont_stopped(const struct pm_record *r, uint32_t unused)
{
	(void)unused;
	return r->cont.state == PM_CONTAINER_STOPPED;
}

/* Keep rec, the latest of its kind, for the files to come. */
static int keep_state(struct trace_rotor *r, const struct pm_record *rec)
{
	struct state_rec *s;

	switch (rec->type) {
	case PM_REC_META:
		/* a window of --sample-duty is a moment, not a state */
		if (strcmp(rec->meta.key, "sample_window") == 0)
			return 0;
		s = state_list__get(&r->meta, rec, same_meta);
		return s ? state_rec__set(s, rec, meta_strs) : -ENOMEM;
	case PM_REC_CONTAINER:
		s = state_list__get(&r->conts, rec, same_cont);
		return s ? state_rec__set(s, rec, cont_strs) : -ENOMEM;
	case PM_REC_PROCESS:
		s = state_list__get(&r->procs, rec, same_proc);
		return s ? state_rec__set(s, rec, proc_strs) : -ENOMEM;
	case PM_REC_SOURCE:
		s = state_list__get(&r->srcs, rec, same_src);
		return s ? state_rec__set(s, rec, src_strs) : -ENOMEM;
	default:
		return 0;
	}
}

/* An exec renames its process; an exit ends what is kept of it. */
static int follow_process(struct trace_rotor *r, const struct pm_event *ev)
{
	if (ev->kind == PM_EXIT) {
		state_list__drop(&r->procs, proc_is, ev->pid);
		state_list__drop(&r->srcs, src_of, ev->pid);
		return 0;
	}
	for (size_t i = 0; i < r->procs.n; i++) {
		struct state_rec *s = &r->procs.v[i];
		struct pm_record rec = s->rec;

		if (rec.proc.pid != ev->pid)
			continue;
		rec.proc.comm = ev->proc.comm;
		rec.proc.exe = ev->proc.path;
		return state_rec__set(s, &rec, proc_strs);
	}
	return 0;
}

static struct lost_base *lost_base(struct trace_rotor *r, uint32_t pid, enum pm_kind kind)
{
	struct lost_base *v;

	for (size_t i = 0; i < r->nlost; i++)
		if (r->lost[i].pid == pid && r->lost[i].kind == kind)
			return &r->lost[i];
	v = PM_GROW(r->lost, &r->lost_cap, r->nlost + 1, 16);
	if (!v)
		return NULL;
	r->lost = v;
	r->lost[r->nlost] = (struct lost_base){.pid = pid, .kind = kind};
	return &r->lost[r->nlost++];
}

static int rotor_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct trace_rotor *r = (struct trace_rotor *)sink;
	struct pm_record lost;
	int err = 0;

	if (!r->max_bytes)
		return trace_writer__append(r->w, rec);
	if (rec->type == PM_REC_LOST) {
		struct lost_base *b = lost_base(r, rec->lost.pid, rec->lost.kind);

		if (!b)
			return -ENOMEM;
		/* cumulative per process in the stream; per file in the file */
		b->count = rec->lost.count;
		lost = *rec;
		lost.lost.count = b->count - b->base;
		return trace_writer__append(r->w, &lost);
	}
	if (rec->type == PM_REC_EVENT && pm_kind_is_proc(rec->ev.kind))
		err = follow_process(r, &rec->ev);
	else
		err = keep_state(r, rec);
	if (!err)
		err = trace_writer__append(r->w, rec);
	if (!err && rec->type == PM_REC_EVENT)
		r->file_events++;
	return err;
}

/* A new file, the sudo user's under sudo. */
static struct trace_writer *open_file(const char *path, const struct pm_trace_info *info)
{
	struct trace_writer *w = trace_writer__open(path, info);
	uid_t uid;
	gid_t gid;

	if (w && pm_sudo_owner(&uid, &gid))
		trace_writer__set_owner(w, uid, gid);
	return w;
}

/* The state the new file starts with, in the order a reader needs it. */
static int write_state(struct trace_rotor *r)
{
	const struct state_list *lists[] = {&r->meta, &r->conts, &r->procs, &r->srcs};

	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
		for (size_t i = 0; i < lists[k]->n; i++) {
			int err = trace_writer__append(r->w, &lists[k]->v[i].rec);

			if (err)
				return err;
		}
	return 0;
}

/* Lost counts start again from 0; processes that were already gone at the
 * rotation before are forgotten (no late count of theirs comes now). */
static void rebase_lost(struct trace_rotor *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nlost; i++) {
		struct lost_base *b = &r->lost[i];
		bool alive = !b->pid;

		for (size_t j = 0; j < r->procs.n && !alive; j++)
			alive = r->procs.v[j].rec.proc.pid == b->pid;
		if (!alive && b->gone)
			continue;
		b->gone = !alive;
		b->base = b->count;
		r->lost[n++] = *b;
	}
	r->nlost = n;
}

static int rotate(struct trace_rotor *r, uint64_t now_ns, char *why, size_t whylen)
{
	struct pm_end end = {.ts_ns = now_ns, .events = r->file_events};
	int err = trace_writer__close(r->w, &end);

	r->w = NULL;
	if (err) {
		snprintf(why, whylen, "writing %s: %s", r->path, strerror(-err));
		return err;
	}
	err = pm_out_rotate(r->path, r->keep, why, whylen);
	if (err)
		return err;
	r->info.start_ns = now_ns;
	r->info.start_realtime_ns = pm_realtime_ns();
	r->w = open_file(r->path, &r->info);
	if (!r->w) {
		snprintf(why, whylen, "%s", trace_writer__open_error());
		return -errno;
	}
	r->rotations++;
	r->file_events = 0;
	state_list__drop(&r->conts, cont_stopped, 0);
	rebase_lost(r);
	err = write_state(r);
	if (err)
		snprintf(why, whylen, "writing %s: %s", r->path, strerror(-err));
	return err;
}

int trace_rotor__maybe_flush(struct trace_rotor *r, uint64_t now_ns, uint64_t max_age_ns, char *why,
			     size_t whylen)
{
	uint64_t raw, bytes, records;
	int err = trace_writer__maybe_flush(r->w, now_ns, max_age_ns);

	if (err) {
		snprintf(why, whylen, "writing %s: %s", r->path, strerror(-err));
		return err;
	}
	trace_writer__stats(r->w, &raw, &bytes, &records);
	if (!r->max_bytes || bytes < r->max_bytes)
		return 0;
	return rotate(r, now_ns, why, whylen);
}

static int rotor_finish(struct pm_sink *sink)
{
	(void)sink;
	return 0;
}

struct trace_rotor *trace_rotor__open(const char *path, const struct pm_trace_info *info,
				      uint64_t max_bytes, unsigned keep)
{
	struct trace_rotor *r = calloc(1, sizeof(*r));

	if (!r || !(r->path = strdup(path))) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->sink.record = rotor_record;
	r->sink.finish = rotor_finish;
	r->info = *info;
	r->max_bytes = max_bytes;
	r->keep = keep ? keep : 1;
	r->w = open_file(path, info);
	if (!r->w) {
		int e = errno;

		free(r->path);
		free(r);
		errno = e;
		return NULL;
	}
	return r;
}

struct trace_writer *trace_rotor__writer(const struct trace_rotor *r)
{
	return r->w;
}

struct pm_sink *trace_rotor__sink(struct trace_rotor *r)
{
	return &r->sink;
}

unsigned trace_rotor__rotations(const struct trace_rotor *r)
{
	return r->rotations;
}

int trace_rotor__close(struct trace_rotor *r, const struct pm_end *end)
{
	struct pm_end e;
	int err;

	if (!r)
		return 0;
	if (end) {
		e = *end;
		/* a file after a rotation holds only its own events */
		if (r->rotations)
			e.events = r->file_events;
	}
	err = trace_writer__close(r->w, end ? &e : NULL);
	state_list__free(&r->meta);
	state_list__free(&r->conts);
	state_list__free(&r->procs);
	state_list__free(&r->srcs);
	free(r->lost);
	free(r->path);
	free(r);
	return err;
}
