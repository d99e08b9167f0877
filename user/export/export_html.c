// SPDX-License-Identifier: MIT
/*
 * The HTML report: one self-contained page (inline CSS, SVG and a small
 * script, nothing fetched) with a timeline per container or host process on
 * one time axis, and the summary's tables per container.
 *
 * Records feed the timeline model (nets, rates, lost events, and in
 * footprint mode the footprint and RSS, per bucket) and
 * the summary (counts, types, coverage); the report is written at the end
 * from both. The summary is read back through its JSON form, the contract
 * `replay --summary --json` already keeps, so this file needs nothing of
 * its insides. Collections are kept here as they come, because the timeline
 * keeps only the latest few thousand markers of a lane, and a report must
 * show all of them; they are drawn one marker per slice and generation, so
 * a trace with a million collections still gives a page of bounded size.
 *
 * Everything that came from a traced process (names, types, paths) is
 * escaped for the context it lands in: HTML text and attributes, or JSON
 * inside a <script> element (where "</script" must never appear).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "export/export.h"
#include "views/summary.h"
#include "model/timeline.h"

#define HX_MAX_POINTS	 2000	    /* slices per lane, whatever --resolution asks */
#define HX_AUTO_POINTS	 1500	    /* slices per lane when the width is ours to choose */
#define HX_MIN_BUCKET_NS 1000000ull /* finest model bucket a --resolution may ask */
#define HX_NGEN		 3

/* A lane's chart, in CSS pixels; the script reads the plot's place from
 * the page data, so these live only here. */
#define SVG_W  1120
#define PLOT_X 64
#define PLOT_W 1000
#define NET_Y  6
#define NET_H  120
#define RATE_Y 140
#define RATE_H 64
#define GC_Y   214
#define GC_ROW 11
#define LOST_Y (GC_Y + HX_NGEN * GC_ROW + 3)
#define LOST_H 6
#define TICK_Y (LOST_Y + LOST_H + 14)
#define SVG_H  (TICK_Y + 6)
/* Footprint mode adds a band on top of a lane that has vm or rss events;
 * the rest of the chart moves down by FP_SHIFT. */
#define FP_Y	  NET_Y
#define FP_H	  100
#define FP_SHIFT  (FP_H + 14)
#define FP_COLOR  "#17becf"
#define RSS_COLOR "#bcbd22"

static const char *const gen_color[HX_NGEN + 1] = {"#e7ba52", "#9467bd", "#8c564b", "#7f7f7f"};

/* One finished collection (a GC_DONE record). */
struct hx_gc {
	uint64_t start_ns, end_ns;
	int64_t collected; /* -1: unknown */
	uint32_t pid;
	int32_t gen;   /* -1: unknown */
	int32_t lane;  /* set at the end, -1: no lane holds its process */
	int32_t group; /* summary group, -1: none */
	uint32_t slice;
};

struct hx_meta {
	char *key;
	char *value;
};

struct html_ex {
	struct exporter ex;
	FILE *out;
	struct export_opts o;
	struct timeline *tl;
	struct summary *sum;
	struct pm_sink *tl_sink, *sum_sink;

	struct hx_gc *gcs;
	size_t ngcs, gcs_cap;
	struct hx_meta *meta;
	size_t nmeta;
};

/* ---- escaping ---- */

static inline int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * The character at s: its code point and its length in bytes. A byte that
 * starts no valid sequence (overlong, surrogate, past U+10FFFF, cut short)
 * is one U+FFFD, so whatever a process wrote comes out as valid UTF-8.
 */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf && is_cont(s[1])) {
		*cp = (uint32_t)(c & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		if (s[1] >= lo && s[1] <= hi && is_cont(s[2])) {
			*cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
			      (s[2] & 0x3f);
			return 3;
		}
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		if (s[1] >= lo && s[1] <= hi && is_cont(s[2]) && is_cont(s[3])) {
			*cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
			      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
			return 4;
		}
	}
	*cp = 0xfffd;
	return 1;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

/* s as HTML text or attribute value (quoted with "). */
static void esc_html(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		uint32_t cp;
		size_t n = utf8_next(p, &cp);

		if (is_control(cp) && cp != '\t' && cp != '\n')
			cp = 0xfffd;
		switch (cp) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		case 0xfffd:
			fputs("\xef\xbf\xbd", f);
			break;
		default:
			fwrite(p, 1, n, f);
		}
		p += n;
	}
}

/*
 * s as a JSON string literal that is also safe inside a <script> element:
 * no '<' (so no "</script" or "<!--"), no '>' or '&', and no U+2028/2029,
 * which older JavaScript took for line ends.
 */
static void esc_js(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		uint32_t cp;
		size_t n = utf8_next(p, &cp);

		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == 0x7f ||
			 cp == 0x2028 || cp == 0x2029 || cp == 0xfffd)
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

/* ---- the summary, read back from its JSON ---- */

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static uint64_t ju64(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v ? json_object_get_uint64(v) : 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);
	const char *s =
	    v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;

	return s ? s : "";
}

static size_t jlen(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static struct json_object *summary_json(const struct html_ex *h, int *err)
{
	struct json_object *root;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		*err = -errno;
		return NULL;
	}
	/* all types: the groups' lists are merged from their processes' */
	*err = summary__print_json(h->sum, m, h->o.info, -1);
	if (fclose(m) && !*err)
		*err = -ENOMEM;
	if (*err) {
		free(buf);
		return NULL;
	}
	root = json_tokener_parse(buf);
	free(buf);
	if (!root)
		*err = -EPROTO;
	return root;
}

/* ---- formatting ---- */

static const char *fmt_bytes(char *buf, size_t len, double b)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double a = b < 0 ? -b : b;
	unsigned u = 0;

	while (a >= 1024 && u < sizeof(units) / sizeof(units[0]) - 1) {
		a /= 1024;
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.*f %s", a < 10 ? 2 : a < 100 ? 1 : 0, b, units[u]);
	return buf;
}

static const char *fmt_count(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/* The first of 1, 2, 5 times a power of ten that is at least v. */
static uint64_t nice_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p <= UINT64_MAX / 10 && p * 10 <= v)
		p *= 10;
	if (v <= p)
		return p;
	if (v <= 2 * p)
		return 2 * p;
	if (v <= 5 * p)
		return 5 * p;
	return 10 * p;
}

static uint64_t round_up(uint64_t v, uint64_t m)
{
	return (v + m - 1) / m * m;
}

/* ---- the sink ---- */

static struct html_ex *to_html(struct pm_sink *sink)
{
	return (struct html_ex *)((char *)sink - offsetof(struct html_ex, ex.sink));
}

static int keep_gc(struct html_ex *h, const struct pm_event *ev)
{
	struct hx_gc *g;

	if (h->ngcs == h->gcs_cap) {
		size_t cap = h->gcs_cap ? h->gcs_cap * 2 : 1024;
		struct hx_gc *v = realloc(h->gcs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->gcs = v;
		h->gcs_cap = cap;
	}
	g = &h->gcs[h->ngcs++];
	memset(g, 0, sizeof(*g));
	g->end_ns = ev->ts_ns;
	g->start_ns = ev->ts_ns > ev->gc.duration_ns ? ev->ts_ns - ev->gc.duration_ns : 0;
	g->collected = ev->gc.collected;
	g->pid = ev->pid;
	g->gen = ev->gc.generation >= 0 && ev->gc.generation < HX_NGEN ? ev->gc.generation : -1;
	return 0;
}

static int keep_meta(struct html_ex *h, const struct pm_meta *m)
{
	const char *k = m->key ? m->key : "", *v = m->value ? m->value : "";
	struct hx_meta *e = NULL;

	for (size_t i = 0; i < h->nmeta; i++)
		if (strcmp(h->meta[i].key, k) == 0)
			e = &h->meta[i];
	if (!e) {
		struct hx_meta *nv;

		if (h->nmeta >= 64)
			return 0; /* a report header, not a dump of every key */
		nv = realloc(h->meta, (h->nmeta + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		h->meta = nv;
		e = &nv[h->nmeta];
		e->key = strdup(k);
		e->value = NULL;
		if (!e->key)
			return -ENOMEM;
		h->nmeta++;
	}
	free(e->value);
	e->value = strdup(v);
	return e->value ? 0 : -ENOMEM;
}

static int html_record(struct pm_sink *sink, const struct pm_record *rec)
{
	struct html_ex *h = to_html(sink);
	int err;

	err = h->tl_sink->record(h->tl_sink, rec);
	if (!err)
		err = h->sum_sink->record(h->sum_sink, rec);
	if (err)
		return err;
	if (rec->type == PM_REC_EVENT && rec->ev.kind == PM_GC_DONE)
		return keep_gc(h, &rec->ev);
	if (rec->type == PM_REC_META)
		return keep_meta(h, &rec->meta);
	return 0;
}

/* ---- the report ---- */

/* What the report shows, worked out once before writing. */
struct view {
	uint64_t t0, t1;   /* trace start (header) and end */
	uint64_t w;	   /* slice width */
	size_t n;	   /* slices per lane */
	uint64_t tick;	   /* time axis step */
	int tick_decimals; /* of the tick labels, in seconds */

	struct json_object *root;
	struct json_object *groups; /* summary containers (+ host), an array */
	size_t ngroups;
	ssize_t host_group;
	struct json_object *procs;

	size_t nlanes;
	ssize_t *lane_group; /* per lane */
	uint64_t unplaced_gcs;
	uint64_t (*grp_gc)[HX_NGEN + 1][3]; /* per group, gen: count, ns, collected */
	bool any_fp;			    /* some lane has footprint events */
};

static double xpos(const struct view *v, uint64_t t)
{
	double span = (double)v->w * (double)v->n;

	if (t <= v->t0)
		return PLOT_X;
	if ((double)(t - v->t0) >= span)
		return PLOT_X + PLOT_W;
	return PLOT_X + (double)(t - v->t0) * PLOT_W / span;
}

static double rel_s(const struct view *v, uint64_t t)
{
	return t >= v->t0 ? (double)(t - v->t0) / 1e9 : -(double)(v->t0 - t) / 1e9;
}

static int64_t rel_ns(const struct view *v, uint64_t t)
{
	return (int64_t)(t - v->t0);
}

static void choose_slices(const struct html_ex *h, struct view *v)
{
	uint64_t b = timeline__bucket_ns(h->tl), tl_start = timeline__start_ns(h->tl);
	uint64_t d, w, step;

	v->t0 = h->o.info && h->o.info->start_ns ? h->o.info->start_ns : tl_start;
	if (tl_start && tl_start < v->t0)
		v->t0 = tl_start;
	v->t1 = timeline__now_ns(h->tl);
	if (v->t1 < v->t0)
		v->t1 = v->t0;
	d = v->t1 - v->t0;
	if (!d)
		d = 1;

	w = h->o.resolution_ns ? h->o.resolution_ns
			       : nice_ceil((d + HX_AUTO_POINTS - 1) / HX_AUTO_POINTS);
	if (w < b)
		w = b;
	w = round_up(w, b);
	if ((d + w - 1) / w > HX_MAX_POINTS)
		w = round_up((d + HX_MAX_POINTS - 1) / HX_MAX_POINTS, b);
	v->w = w;
	v->n = (size_t)((d + w - 1) / w);
	if (!v->n)
		v->n = 1;

	step = nice_ceil((uint64_t)((double)w * (double)v->n / 10));
	v->tick = step ? step : 1;
	v->tick_decimals = step >= 1000000000ull  ? 0
			   : step >= 100000000ull ? 1
			   : step >= 10000000ull  ? 2
			   : step >= 1000000ull	  ? 3
						  : 6;
}

static int cmp_u64pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static bool lane_has_pid(const struct tl_lane_info *li, uint32_t pid)
{
	size_t n = li->npids < 16 ? li->npids : 16;

	for (size_t i = 0; i < n; i++)
		if (li->pids[i] == pid)
			return true;
	return false;
}

static ssize_t group_of_cgroup(const struct view *v, uint64_t cgroup)
{
	for (size_t g = 0; g < v->ngroups; g++) {
		if ((ssize_t)g == v->host_group)
			continue;
		if (ju64(json_object_array_get_idx(v->groups, g), "cgroup_id") == cgroup)
			return (ssize_t)g;
	}
	return v->host_group;
}

/*
 * Put every collection in a summary group and a lane, by the summary's
 * rule (a process belongs to the container whose cgroup it is in), so the
 * markers of a container's lane are the collections its table counts.
 */
static int place_gcs(struct html_ex *h, struct view *v)
{
	const struct tl_lane_info **lanes;
	size_t np = jlen(v->procs);
	uint64_t(*pid_cg)[2] = NULL;
	int err = 0;

	v->lane_group = calloc(v->nlanes ? v->nlanes : 1, sizeof(*v->lane_group));
	v->grp_gc = calloc(v->ngroups ? v->ngroups : 1, sizeof(*v->grp_gc));
	lanes = calloc(v->nlanes ? v->nlanes : 1, sizeof(*lanes));
	pid_cg = malloc((np ? np : 1) * sizeof(*pid_cg));
	if (!v->lane_group || !v->grp_gc || !lanes || !pid_cg) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		struct json_object *p = json_object_array_get_idx(v->procs, i);

		pid_cg[i][0] = ju64(p, "pid");
		pid_cg[i][1] = ju64(p, "cgroup_id");
	}
	qsort(pid_cg, np, sizeof(*pid_cg), cmp_u64pair);

	for (size_t l = 0; l < v->nlanes; l++) {
		lanes[l] = timeline__lane(h->tl, l);
		v->lane_group[l] = lanes[l]->is_container ? group_of_cgroup(v, lanes[l]->cgroup_id)
							  : v->host_group;
	}

	for (size_t i = 0; i < h->ngcs; i++) {
		struct hx_gc *g = &h->gcs[i];
		uint64_t key[2] = {g->pid, 0};
		uint64_t(*pc)[2] = bsearch(key, pid_cg, np, sizeof(*pid_cg), cmp_u64pair);
		ssize_t grp = group_of_cgroup(v, pc ? (*pc)[1] : 0);
		uint64_t s;

		g->group = (int32_t)grp;
		g->lane = -1;
		for (size_t l = 0; l < v->nlanes; l++) {
			const struct tl_lane_info *li = lanes[l];

			if (grp >= 0 && grp != v->host_group) {
				if (li->is_container && v->lane_group[l] == grp) {
					g->lane = (int32_t)l;
					break;
				}
				continue;
			}
			/* a reused pid has a lane per life: the latest that began before */
			if (!li->is_container && lane_has_pid(li, g->pid) &&
			    li->first_ns <= g->end_ns)
				g->lane = (int32_t)l;
		}
		if (g->lane < 0)
			v->unplaced_gcs++;
		s = g->start_ns > v->t0 ? (g->start_ns - v->t0) / v->w : 0;
		g->slice = (uint32_t)(s < v->n ? s : v->n - 1);
		if (grp >= 0) {
			uint64_t *c = v->grp_gc[grp][g->gen >= 0 ? g->gen : HX_NGEN];

			c[0]++;
			c[1] += g->end_ns - g->start_ns;
			if (g->collected > 0)
				c[2] += (uint64_t)g->collected;
		}
	}
out:
	free(lanes);
	free(pid_cg);
	return err;
}

static int cmp_gc_place(const void *a, const void *b)
{
	const struct hx_gc *x = a, *y = b;

	if (x->lane != y->lane)
		return x->lane < y->lane ? -1 : 1;
	if (x->slice != y->slice)
		return x->slice < y->slice ? -1 : 1;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

static const char *CSS =
    "body{font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:16px;color:#222;"
    "background:#fff}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 4px}"
    "h3{font-size:14px;margin:0}\n"
    ".sub{color:#666;font-weight:normal}.meta td{padding:0 12px 0 0;vertical-align:top}\n"
    ".meta td:first-child{color:#666}\n"
    ".warn{background:#fff3cd;border:1px solid #e0c060;padding:3px 8px;margin:4px 0;"
    "border-radius:3px}\n"
    ".note{background:#eef3f8;border:1px solid #b8c8d8;padding:3px 8px;margin:4px 0;"
    "border-radius:3px}\n"
    ".lane{border:1px solid #ddd;border-radius:4px;padding:6px 8px;margin:8px 0;"
    "width:1120px}\n"
    ".lane svg{display:block;margin-top:4px}\n"
    ".legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:18px;height:10px;margin-right:4px;"
    "vertical-align:middle}\n"
    "table{border-collapse:collapse;margin:6px 16px 6px 0;vertical-align:top}"
    "caption{text-align:left;font-weight:600;padding:2px 0}\n"
    "td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".tables{display:flex;flex-wrap:wrap;align-items:flex-start}\n"
    "tr.partial td{background:#fff3cd}tr.none td{background:#f8d7da}"
    "tr.off td{color:#888}\n"
    "svg text{font:10px sans-serif;fill:#555}\n"
    "#pm-tip{position:fixed;display:none;pointer-events:none;background:#fff;"
    "border:1px solid #888;border-radius:3px;padding:4px 6px;font-size:12px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.2);white-space:nowrap;z-index:10}\n"
    "#pm-tip b{display:block}\n";

/*
 * The hover readout. It reads the numbers of each lane from the JSON in the
 * lane's own <script type="application/json">, and builds its text with
 * textContent, so a name never becomes markup. When done it marks <body>
 * (data-pm-ready = lanes wired, data-pm-ms = time since navigation), and
 * data-pm-error if it failed.
 */
static const char *SCRIPT =
    "(function(){\n"
    "var B=document.body;\n"
    "try{\n"
    "var V=JSON.parse(document.getElementById('pm-view').textContent);\n"
    "var tip=document.getElementById('pm-tip');\n"
    "function fb(b){var u=['B','KiB','MiB','GiB','TiB'],i=0,a=Math.abs(b);"
    "while(a>=1024&&i<4){a/=1024;b/=1024;i++;}"
    "return i?b.toFixed(a<10?2:1)+' '+u[i]:b+' B';}\n"
    "function fc(v){return v>=1e6?(v/1e6).toFixed(1)+'M':v>=1e3?(v/1e3).toFixed(1)+'k':"
    "(v<10&&v%1?v.toFixed(1):Math.round(v))+'';}\n"
    "function fs(ns){return (ns/1e9).toFixed(V.w<1e7?4:3)+' s';}\n"
    "function fd(ns){return ns>=1e9?(ns/1e9).toFixed(3)+' s':(ns/1e6).toFixed(3)+' ms';}\n"
    "function show(e,title,rows){while(tip.firstChild)tip.removeChild(tip.firstChild);"
    "var t=document.createElement('b');t.textContent=title;tip.appendChild(t);"
    "rows.forEach(function(r){var d=document.createElement('div');d.textContent=r;"
    "tip.appendChild(d);});tip.style.display='block';"
    "var x=e.clientX+14,y=e.clientY+14;"
    "if(x+tip.offsetWidth>innerWidth)x=e.clientX-tip.offsetWidth-8;"
    "if(y+tip.offsetHeight>innerHeight)y=e.clientY-tip.offsetHeight-8;"
    "tip.style.left=x+'px';tip.style.top=y+'px';}\n"
    "var n=0;\n"
    "Array.prototype.forEach.call(document.querySelectorAll('section.lane'),function(sec){\n"
    "var ds=sec.querySelector('script.pm-data'),svg=sec.querySelector('svg.pm-chart');\n"
    "if(!ds||!svg)return;\n"
    "var d=JSON.parse(ds.textContent),cur=svg.querySelector('.pm-cursor'),"
    "per=V.w/1e9;\n"
    "svg.addEventListener('mousemove',function(e){\n"
    "var r=svg.getBoundingClientRect(),x=(e.clientX-r.left)*V.svgw/r.width;\n"
    "var g=e.target.getAttribute&&e.target.getAttribute('data-g');\n"
    "if(g!==null&&g!==undefined){var m=d.gc[+g],gen=m[2]<0?'unknown generation':'gen'+m[2];\n"
    "var rows=[];if(m[3]>1){rows.push(fs(m[0])+' \\u2013 '+fs(m[1]));"
    "rows.push('total '+fd(m[5])+', longest '+fd(m[6]));}else{"
    "rows.push('at '+fs(m[0])+', duration '+fd(m[5]));}\n"
    "rows.push('collected '+(m[4]<0?'unknown':m[4]+' objects'));"
    "if(m[7])rows.push('pid '+m[7]);\n"
    "show(e,d.name+': '+(m[3]>1?m[3]+' '+gen+' collections':gen+' collection'),rows);return;}\n"
    "var i=Math.floor((x-V.px)/V.pw*V.n);\n"
    "if(i<0||i>=V.n){tip.style.display='none';cur.setAttribute('visibility','hidden');"
    "return;}\n"
    "var cx=V.px+(i+0.5)*V.pw/V.n;cur.setAttribute('x1',cx);cur.setAttribute('x2',cx);"
    "cur.setAttribute('visibility','visible');\n"
    "var rows=['python net '+fb(d.py[i])+', libc net '+fb(d.libc[i]),"
    "'python allocs '+fc(d.pa[i]/per)+'/s, frees '+fc(d.pf[i]/per)+'/s',"
    "'libc allocs '+fc(d.la[i]/per)+'/s, frees '+fc(d.lf[i]/per)+'/s'];\n"
    "if(d.lost&&d.lost[i])rows.push(d.lost[i]+' events lost');\n"
    "if(d.fp)rows.unshift('footprint '+fb(d.fp[i])+', RSS '+fb(d.rss[i]));\n"
    "show(e,d.name+' \\u2014 '+fs(i*V.w)+' \\u2013 '+fs((i+1)*V.w),rows);});\n"
    "svg.addEventListener('mouseleave',function(){tip.style.display='none';"
    "cur.setAttribute('visibility','hidden');});\n"
    "var r=sec.getBoundingClientRect();\n"
    "sec.setAttribute('data-pm-box',Math.round(r.top+scrollY)+','+"
    "Math.round(r.bottom+scrollY));\n"
    "n++;});\n"
    "B.setAttribute('data-pm-ready',String(n));\n"
    "if(window.performance)B.setAttribute('data-pm-ms',String(Math.round(performance.now())));"
    "\n"
    "}catch(err){B.setAttribute('data-pm-error',String(err));}\n"
    "})();\n";

static void write_head(struct html_ex *h, const struct view *v, struct json_object *trace)
{
	FILE *f = h->out;
	const char *base = h->o.source ? strrchr(h->o.source, '/') : NULL;
	uint64_t lost = ju64(trace, "lost"), events = ju64(trace, "events");
	char when[96] = "unknown", cnt[32];

	base = base ? base + 1 : h->o.source ? h->o.source : "trace";
	if (h->o.info && h->o.info->start_realtime_ns) {
		time_t t = (time_t)(h->o.info->start_realtime_ns / 1000000000ull);
		unsigned ms = (unsigned)(h->o.info->start_realtime_ns % 1000000000ull / 1000000);
		struct tm tm;
		char a[64], z[16];

		if (localtime_r(&t, &tm) && strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S", &tm) &&
		    strftime(z, sizeof(z), "%z", &tm))
			snprintf(when, sizeof(when), "%s.%03u %s", a, ms, z);
	}

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n", f);
	/* nothing may be fetched: the page works from a file on a machine offline */
	fputs("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
	      f);
	fputs("<title>pymac report: ", f);
	esc_html(f, base);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", CSS);
	fputs("<h1>pymac report: ", f);
	esc_html(f, base);
	fputs("</h1>\n<table class=\"meta\">\n<tr><td>trace file</td><td>", f);
	esc_html(f, h->o.source ? h->o.source : "");
	fprintf(f, "</td></tr>\n<tr><td>recorded</td><td>%s</td></tr>\n", when);
	fprintf(f, "<tr><td>duration</td><td>%.3f s</td></tr>\n",
		(double)ju64(trace, "duration_ns") / 1e9);
	fprintf(f, "<tr><td>events</td><td>%" PRIu64 " (%s)%s</td></tr>\n", events,
		fmt_count(cnt, sizeof(cnt), (double)events),
		json_object_get_boolean(jget(trace, "complete"))
		    ? ""
		    : ", <b>incomplete</b>: the recording was cut short");
	for (size_t i = 0; i < h->nmeta; i++) {
		fputs("<tr><td>", f);
		esc_html(f, h->meta[i].key);
		fputs("</td><td>", f);
		esc_html(f, h->meta[i].value);
		fputs("</td></tr>\n", f);
	}
	fprintf(f,
		"<tr><td>time axis</td><td>seconds since the recording started; one point = "
		"%.3f ms (%zu points per lane)</td></tr>\n</table>\n",
		(double)v->w / 1e6, v->n);
	if (lost)
		fprintf(f,
			"<div class=\"warn\">%" PRIu64
			" events were lost (ring buffer full): counts, rates and nets are lower "
			"bounds where it happened.</div>\n",
			lost);
	if (v->unplaced_gcs)
		fprintf(f,
			"<div class=\"note\">%" PRIu64
			" collections belong to processes that no lane holds; the tables count "
			"them, the timelines do not.</div>\n",
			v->unplaced_gcs);

	fputs("<p class=\"legend\">"
	      "<span><i style=\"background:#9ecae1;border-top:2px solid #2171b5\"></i>python "
	      "allocator net bytes (left axis)</span>"
	      "<span><i style=\"border-top:2px solid #f28e2b\"></i>libc net bytes (right axis)"
	      "</span>"
	      "<span><i style=\"border-top:2px solid #2ca02c\"></i>python allocs/s</span>"
	      "<span><i style=\"border-top:2px solid #d62728\"></i>python frees/s</span>"
	      "<span><i style=\"border-top:2px dashed #74c476\"></i>libc allocs/s</span>"
	      "<span><i style=\"border-top:2px dashed #fc9272\"></i>libc frees/s</span>",
	      f);
	for (int g = 0; g < HX_NGEN; g++)
		fprintf(f, "<span><i style=\"background:%s\"></i>GC gen%d</span>", gen_color[g], g);
	fputs("<span><i style=\"background:#e377c2\"></i>lost events</span>", f);
	if (v->any_fp)
		fputs("<span><i style=\"border-top:2px solid " FP_COLOR "\"></i>footprint: "
		      "anonymous memory mapped (pymalloc arenas, other mmaps, brk heap)</span>"
		      "<span><i style=\"border-top:2px solid " RSS_COLOR "\"></i>resident set "
		      "(RSS)</span>",
		      f);
	fputs("</p>\n", f);
	fputs("<div id=\"pm-tip\"></div>\n", f);
	fprintf(f,
		"<script type=\"application/json\" id=\"pm-view\">{\"w\": %" PRIu64
		", \"n\": %zu, \"px\": %d, \"pw\": %d, \"svgw\": %d}</script>\n",
		v->w, v->n, PLOT_X, PLOT_W, SVG_W);
}

/* A series of n values as "x,y" points: nets at slice ends, rates at the
 * middles. */
static void path_points(FILE *f, const struct view *v, const double *val, double max, int y0,
			int hgt, bool mid)
{
	double slice = (double)PLOT_W / (double)v->n;

	for (size_t i = 0; i < v->n; i++) {
		double x = PLOT_X + slice * ((double)i + (mid ? 0.5 : 1.0));
		double y = y0 + hgt - (max > 0 ? val[i] / max * hgt : 0);

		if (y < y0)
			y = y0;
		fprintf(f, "%s%.1f,%.1f", i ? " " : "", x, y);
	}
}

static void write_axis(FILE *f, const struct view *v, int dy)
{
	uint64_t span = v->w * v->n;

	for (uint64_t t = 0; t <= span; t += v->tick) {
		double x = xpos(v, v->t0 + t);

		fprintf(f,
			"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f s</text>\n",
			x, x, NET_Y, LOST_Y + LOST_H + dy, x, TICK_Y + dy, v->tick_decimals,
			(double)t / 1e9);
		if (t > UINT64_MAX - v->tick)
			break;
	}
}

/* Where the lane's processes did not exist: shaded, so a flat line there
 * is not read as an idle process. */
static void write_life(FILE *f, const struct view *v, const struct tl_lane_info *li, int dy)
{
	double a = xpos(v, li->first_ns);

	if (a > PLOT_X + 0.5)
		fprintf(f,
			"<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#f3f3f3\"/>\n",
			PLOT_X, NET_Y, a - PLOT_X, LOST_Y + LOST_H + dy - NET_Y);
	if (li->ended) {
		double b = xpos(v, li->ended_ns);

		if (b < PLOT_X + PLOT_W - 0.5)
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
				"fill=\"#f3f3f3\"/>\n",
				b, NET_Y, PLOT_X + PLOT_W - b, LOST_Y + LOST_H + dy - NET_Y);
	}
}

static bool lane_has_fp(const struct tl_lane_info *li)
{
	return li->events[PM_VM] || li->events[PM_RSS];
}

static bool lane_has_alloc_events(const struct tl_lane_info *li)
{
	for (unsigned k = 1; k < PM_KIND_MAX; k++)
		if (pm_kind_is_alloc(k) || pm_kind_is_free(k) || k == PM_PY_DEALLOC)
			if (li->events[k])
				return true;
	return false;
}

/* The footprint band: mapped anonymous memory and RSS on one bytes axis. */
static void write_fp_band(FILE *f, const struct view *v, const struct tl_bucket *b, double *vals)
{
	double max = 0;
	char buf[32];

	for (size_t i = 0; i < v->n; i++) {
		if ((double)b[i].fp_net > max)
			max = (double)b[i].fp_net;
		if ((double)b[i].rss > max)
			max = (double)b[i].rss;
	}
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
		"stroke=\"#ccc\"/>\n",
		PLOT_X, FP_Y, PLOT_W, FP_H);
	for (size_t i = 0; i < v->n; i++)
		vals[i] = b[i].rss > 0 ? (double)b[i].rss : 0;
	fputs("<polyline class=\"rss\" fill=\"none\" stroke=\"" RSS_COLOR "\" "
	      "stroke-width=\"1.8\" points=\"",
	      f);
	path_points(f, v, vals, max, FP_Y, FP_H, false);
	fputs("\"/>\n", f);
	for (size_t i = 0; i < v->n; i++)
		vals[i] = b[i].fp_net > 0 ? (double)b[i].fp_net : 0;
	fputs("<polyline class=\"fp\" fill=\"none\" stroke=\"" FP_COLOR "\" "
	      "stroke-width=\"1.8\" points=\"",
	      f);
	path_points(f, v, vals, max, FP_Y, FP_H, false);
	fputs("\"/>\n", f);
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">mapped</text>\n",
		PLOT_X - 4, FP_Y + 9, fmt_bytes(buf, sizeof(buf), max), PLOT_X - 4, FP_Y + FP_H,
		PLOT_X - 4, FP_Y + FP_H / 2 + 4);
}

static void write_json_array(FILE *f, const char *key, const struct tl_bucket *b, size_t n,
			     size_t off, bool is_signed)
{
	fprintf(f, ", \"%s\": [", key);
	for (size_t i = 0; i < n; i++) {
		const char *p = (const char *)&b[i] + off;

		if (is_signed)
			fprintf(f, "%s%" PRId64, i ? "," : "", *(const int64_t *)p);
		else
			fprintf(f, "%s%" PRIu64, i ? "," : "", *(const uint64_t *)p);
	}
	fputc(']', f);
}

/* The collections of one lane, gcs[from, to) sorted by slice and
 * generation, as one marker per slice and generation (SVG into f, their
 * numbers into js). */
static void write_gc_markers(FILE *f, const struct view *v, const struct hx_gc *gcs, size_t from,
			     size_t to, FILE *js)
{
	size_t k = 0;

	for (size_t i = from; i < to;) {
		const struct hx_gc *g = &gcs[i];
		uint64_t lo = g->start_ns, hi = g->end_ns, total = 0, longest = 0, coll = 0;
		bool known = false;
		uint32_t pid = g->pid;
		size_t j = i;
		double x0, x1;
		int row = g->gen >= 0 ? g->gen : 0;
		int height = g->gen >= 0 ? GC_ROW - 2 : HX_NGEN * GC_ROW - 2;

		for (; j < to && gcs[j].slice == g->slice && gcs[j].gen == g->gen; j++) {
			uint64_t d = gcs[j].end_ns - gcs[j].start_ns;

			lo = gcs[j].start_ns < lo ? gcs[j].start_ns : lo;
			hi = gcs[j].end_ns > hi ? gcs[j].end_ns : hi;
			total += d;
			longest = d > longest ? d : longest;
			if (gcs[j].collected >= 0) {
				coll += (uint64_t)gcs[j].collected;
				known = true;
			}
			if (gcs[j].pid != pid)
				pid = 0;
		}
		x0 = xpos(v, lo);
		x1 = xpos(v, hi);
		if (x1 - x0 < 2) {
			x1 = x0 + 2;
			if (x1 > PLOT_X + PLOT_W) {
				x1 = PLOT_X + PLOT_W;
				x0 = x1 - 2;
			}
		}
		fprintf(f,
			"<rect class=\"gc g%d\" data-g=\"%zu\" data-gen=\"%d\" data-n=\"%zu\" "
			"x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
			g->gen >= 0 ? g->gen : 3, k, g->gen, j - i, x0, GC_Y + row * GC_ROW + 1,
			x1 - x0, height, gen_color[g->gen >= 0 ? g->gen : HX_NGEN]);
		fprintf(js,
			"%s[%" PRId64 ",%" PRId64 ",%d,%zu,%" PRId64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu32 "]",
			k ? "," : "", rel_ns(v, lo), rel_ns(v, hi), g->gen, j - i,
			known ? (int64_t)coll : -1, total, longest, pid);
		k++;
		i = j;
	}
}

static ssize_t find_proc(const struct view *v, uint32_t pid)
{
	for (size_t i = 0; i < jlen(v->procs); i++)
		if (ju64(json_object_array_get_idx(v->procs, i), "pid") == pid)
			return (ssize_t)i;
	return -1;
}

static bool proc_is_python(struct json_object *p)
{
	return jstr(p, "python")[0] || jstr(p, "python_version")[0];
}

/* Is source st of process p something the report must point out? */
static bool coverage_gap(struct json_object *p, const char *status)
{
	if (strcmp(status, "partial") == 0)
		return true;
	/* a shell or docker-init has no Python to attach to: no news; nor is
	 * a source left off on purpose (--mode footprint, --probes) */
	return strcmp(status, "none") == 0 && proc_is_python(p);
}

static void coverage_of(FILE *f, struct json_object *p, bool *said)
{
	struct json_object *srcs = jget(p, "sources");

	if (!srcs || !json_object_is_type(srcs, json_type_object))
		return;
	json_object_object_foreach(srcs, name, st)
	{
		const char *status = jstr(st, "status");

		if (!coverage_gap(p, status))
			continue;
		if (!*said)
			fputs("<div class=\"warn\"><b>Coverage is not complete here.</b><ul "
			      "style=\"margin:2px 0\">",
			      f);
		*said = true;
		fprintf(f, "<li>pid %" PRIu64 " (", ju64(p, "pid"));
		esc_html(f, jstr(p, "comm"));
		fputs("): <b>", f);
		esc_html(f, name);
		fputs(" ", f);
		esc_html(f, status);
		fputs("</b>", f);
		if (jstr(st, "detail")[0]) {
			fputs(" &mdash; ", f);
			esc_html(f, jstr(st, "detail"));
		}
		fputs("</li>", f);
	}
}

/* The sources that see only part of the calls, said next to the lane. */
static void write_lane_coverage(FILE *f, const struct view *v, const struct tl_lane_info *li)
{
	bool said = false;

	if (li->is_container) {
		for (size_t i = 0; i < jlen(v->procs); i++) {
			struct json_object *p = json_object_array_get_idx(v->procs, i);

			if (li->cgroup_id && ju64(p, "cgroup_id") == li->cgroup_id)
				coverage_of(f, p, &said);
		}
	} else {
		for (size_t i = 0; i < li->npids && i < 16; i++) {
			ssize_t k = find_proc(v, li->pids[i]);

			if (k >= 0)
				coverage_of(f, json_object_array_get_idx(v->procs, (size_t)k),
					    &said);
		}
	}
	if (said) {
		fputs("</ul></div>\n", f);
	} else if (li->partial) {
		fputs("<div class=\"warn\"><b>Coverage is not complete here:</b> partial sources ",
		      f);
		esc_html(f, li->partial_what);
		fputs("</div>\n", f);
	}
}

static int write_lane(struct html_ex *h, const struct view *v, size_t lane, size_t *gpos)
{
	const struct tl_lane_info *li = timeline__lane(h->tl, lane);
	FILE *f = h->out;
	struct tl_bucket *b;
	double *vals, per = (double)v->w / 1e9;
	double max_py = 0, max_libc = 0, max_rate = 0;
	bool any_libc = false, any_lost = false, any_py_rate = false;
	size_t n = v->n, gfrom = *gpos, gto, ngc = 0;
	ssize_t grp = v->lane_group[lane];
	bool fp = lane_has_fp(li);
	int dy = fp ? FP_SHIFT : 0;
	char b1[32], b2[32];
	char *js = NULL;
	size_t jslen = 0;
	FILE *jf;
	int ret;

	b = calloc(n, sizeof(*b));
	vals = calloc(n, sizeof(*vals));
	if (!b || !vals) {
		free(b);
		free(vals);
		return -ENOMEM;
	}
	ret = timeline__series(h->tl, lane, v->t0, v->t0 + v->w * n, b, n);
	if (ret < 0) {
		free(b);
		free(vals);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		double r[4] = {(double)b[i].py_allocs, (double)b[i].py_frees,
			       (double)b[i].libc_allocs, (double)b[i].libc_frees};

		if ((double)b[i].py_net > max_py)
			max_py = (double)b[i].py_net;
		if ((double)b[i].libc_net > max_libc)
			max_libc = (double)b[i].libc_net;
		for (int k = 0; k < 4; k++)
			if (r[k] / per > max_rate)
				max_rate = r[k] / per;
		any_py_rate |= b[i].py_allocs || b[i].py_frees;
		any_libc |= b[i].libc_allocs || b[i].libc_frees || b[i].libc_net;
		any_lost |= b[i].lost != 0;
	}
	for (gto = gfrom; gto < h->ngcs && h->gcs[gto].lane == (int32_t)lane; gto++)
		ngc++;
	*gpos = gto;

	fprintf(f,
		"<section class=\"lane\" id=\"lane-%zu\" data-lane=\"%zu\" data-kind=\"%s\" "
		"data-cgroup=\"%" PRIu64 "\" data-gc=\"%zu\" data-name=\"",
		lane, lane, li->is_container ? "container" : "host", li->cgroup_id, ngc);
	esc_html(f, li->name);
	fputs("\">\n<h3>", f);
	esc_html(f, li->name[0] ? li->name : "?");
	fputs(" <span class=\"sub\">", f);
	if (li->is_container) {
		struct json_object *g = grp >= 0 ? json_object_array_get_idx(v->groups, grp) : NULL;

		fputs("container", f);
		if (g && jstr(g, "name")[0] && strcmp(jstr(g, "name"), li->name)) {
			fputs(" ", f);
			esc_html(f, jstr(g, "name"));
		}
	} else {
		fputs("host process", f);
	}
	if (li->detail[0]) {
		fputs(" &middot; ", f);
		esc_html(f, li->detail);
	}
	if (li->interpreter[0]) {
		fputs(" &middot; ", f);
		esc_html(f, li->interpreter);
	}
	fprintf(f, " &middot; %zu process%s", li->npids, li->npids == 1 ? "" : "es");
	fprintf(f, " &middot; %.3f s &ndash; ", rel_s(v, li->first_ns));
	if (li->ended)
		fprintf(f, "%.3f s", rel_s(v, li->ended_ns));
	else
		fputs("end", f);
	fprintf(f, " &middot; gc %" PRIu64 "/%" PRIu64 "/%" PRIu64, li->gc_by_gen[0],
		li->gc_by_gen[1], li->gc_by_gen[2]);
	if (grp >= 0)
		fprintf(f, " &middot; <a href=\"#group-%zd\">tables</a>", grp);
	fputs("</span></h3>\n", f);
	write_lane_coverage(f, v, li);
	if (li->lost)
		fprintf(f,
			"<div class=\"warn\">%" PRIu64
			" events of this lane were lost (ring buffer full): its counts and nets "
			"are lower bounds (pink ticks: where).</div>\n",
			li->lost);
	if (li->unmatched_frees)
		fprintf(f,
			"<div class=\"note\">%" PRIu64
			" frees of blocks whose allocation was not seen (made before tracing "
			"began) count as frees but not in the nets.</div>\n",
			li->unmatched_frees);
	if (fp && !lane_has_alloc_events(li))
		fputs("<div class=\"note\">Footprint only: the allocator calls were not traced "
		      "(<code>--mode footprint</code>), so the net and call bands are empty; the "
		      "top band shows the anonymous memory mapped and the resident set.</div>\n",
		      f);

	fprintf(f,
		"<svg class=\"pm-chart\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\">\n",
		SVG_W, SVG_H + dy, SVG_W, SVG_H + dy);
	write_life(f, v, li, dy);
	write_axis(f, v, dy);
	if (fp) {
		write_fp_band(f, v, b, vals);
		fprintf(f, "<g transform=\"translate(0,%d)\">\n", dy);
	}
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
		"stroke=\"#ccc\"/>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		"fill=\"none\" stroke=\"#ccc\"/>\n",
		PLOT_X, NET_Y, PLOT_W, NET_H, PLOT_X, RATE_Y, PLOT_W, RATE_H);

	/* nets: python on the left axis (area), libc on the right (line) */
	for (size_t i = 0; i < n; i++)
		vals[i] = b[i].py_net > 0 ? (double)b[i].py_net : 0;
	fprintf(f, "<path class=\"pynet\" fill=\"#9ecae1\" stroke=\"#2171b5\" d=\"M%d,%d L", PLOT_X,
		NET_Y + NET_H);
	path_points(f, v, vals, max_py, NET_Y, NET_H, false);
	fprintf(f, " L%d,%d Z\"/>\n", PLOT_X + PLOT_W, NET_Y + NET_H);
	if (any_libc) {
		for (size_t i = 0; i < n; i++)
			vals[i] = b[i].libc_net > 0 ? (double)b[i].libc_net : 0;
		fputs("<polyline class=\"libcnet\" fill=\"none\" stroke=\"#f28e2b\" "
		      "stroke-width=\"1.5\" points=\"",
		      f);
		path_points(f, v, vals, max_libc, NET_Y, NET_H, false);
		fputs("\"/>\n", f);
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\" style=\"fill:#2171b5\">%s</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n",
		PLOT_X - 4, NET_Y + 9, fmt_bytes(b1, sizeof(b1), max_py), PLOT_X - 4,
		NET_Y + NET_H);
	if (any_libc)
		fprintf(f, "<text x=\"%d\" y=\"%d\" style=\"fill:#c66a10\">%s</text>\n",
			PLOT_X + PLOT_W + 4, NET_Y + 9, fmt_bytes(b2, sizeof(b2), max_libc));
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">net</text>\n", PLOT_X - 4,
		NET_Y + NET_H / 2);

	/* rates, one axis for all four */
	{
		static const struct {
			size_t off;
			const char *cls, *color, *dash;
		} rs[] = {
		    {offsetof(struct tl_bucket, py_allocs), "pa", "#2ca02c", ""},
		    {offsetof(struct tl_bucket, py_frees), "pf", "#d62728", ""},
		    {offsetof(struct tl_bucket, libc_allocs), "la", "#74c476",
		     " stroke-dasharray=\"4 2\""},
		    {offsetof(struct tl_bucket, libc_frees), "lf", "#fc9272",
		     " stroke-dasharray=\"4 2\""},
		};

		for (size_t k = 0; k < sizeof(rs) / sizeof(rs[0]); k++) {
			if (k < 2 ? !any_py_rate : !any_libc)
				continue;
			for (size_t i = 0; i < n; i++)
				vals[i] =
				    (double)*(const uint64_t *)((const char *)&b[i] + rs[k].off) /
				    per;
			fprintf(f,
				"<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" "
				"stroke-width=\"1.2\"%s points=\"",
				rs[k].cls, rs[k].color, rs[k].dash);
			path_points(f, v, vals, max_rate, RATE_Y, RATE_H, true);
			fputs("\"/>\n", f);
		}
	}
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s/s</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">calls</text>\n",
		PLOT_X - 4, RATE_Y + 9, fmt_count(b1, sizeof(b1), max_rate), PLOT_X - 4,
		RATE_Y + RATE_H, PLOT_X - 4, RATE_Y + RATE_H / 2 + 4);

	/* collections: a row per generation */
	for (int g = 0; g < HX_NGEN; g++)
		fprintf(f,
			"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\"/>"
			"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">gc gen%d</text>\n",
			PLOT_X, GC_Y + g * GC_ROW, PLOT_W, GC_ROW - 1, PLOT_X - 4,
			GC_Y + g * GC_ROW + 9, g);

	jf = open_memstream(&js, &jslen);
	if (!jf) {
		free(b);
		free(vals);
		return -ENOMEM;
	}
	write_gc_markers(f, v, h->gcs, gfrom, gto, jf);
	if (fclose(jf)) {
		free(js);
		free(b);
		free(vals);
		return -ENOMEM;
	}

	if (any_lost) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">lost</text>\n", PLOT_X - 4,
			LOST_Y + LOST_H);
		for (size_t i = 0; i < n; i++)
			if (b[i].lost)
				fprintf(f,
					"<rect class=\"lost\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
					"height=\"%d\" fill=\"#e377c2\"/>\n",
					PLOT_X + (double)PLOT_W * (double)i / (double)n, LOST_Y,
					(double)PLOT_W / (double)n < 2 ? 2
								       : (double)PLOT_W / (double)n,
					LOST_H);
	}
	if (fp)
		fputs("</g>\n", f);
	fprintf(f,
		"<line class=\"pm-cursor\" x1=\"0\" x2=\"0\" y1=\"%d\" y2=\"%d\" stroke=\"#333\" "
		"stroke-width=\"0.6\" visibility=\"hidden\" pointer-events=\"none\"/>\n</svg>\n",
		NET_Y, LOST_Y + LOST_H + dy);

	/* the numbers behind the hover readout */
	fputs("<script type=\"application/json\" class=\"pm-data\">{\"name\": ", f);
	esc_js(f, li->name);
	write_json_array(f, "py", b, n, offsetof(struct tl_bucket, py_net), true);
	write_json_array(f, "libc", b, n, offsetof(struct tl_bucket, libc_net), true);
	write_json_array(f, "pa", b, n, offsetof(struct tl_bucket, py_allocs), false);
	write_json_array(f, "pf", b, n, offsetof(struct tl_bucket, py_frees), false);
	write_json_array(f, "la", b, n, offsetof(struct tl_bucket, libc_allocs), false);
	write_json_array(f, "lf", b, n, offsetof(struct tl_bucket, libc_frees), false);
	if (fp) {
		write_json_array(f, "fp", b, n, offsetof(struct tl_bucket, fp_net), true);
		write_json_array(f, "rss", b, n, offsetof(struct tl_bucket, rss), true);
	}
	if (any_lost) {
		fputs(", \"lost\": [", f);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%" PRIu32, i ? "," : "", b[i].lost);
		fputc(']', f);
	}
	fprintf(f, ", \"gc\": [%s]}</script>\n</section>\n", js ? js : "");
	free(js);
	free(b);
	free(vals);
	return 0;
}

/* ---- the tables ---- */

struct type_row {
	const char *name;
	uint64_t count;
};

static int cmp_type_row(const void *a, const void *b)
{
	const struct type_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_type_name(const void *a, const void *b)
{
	return strcmp(((const struct type_row *)a)->name, ((const struct type_row *)b)->name);
}

/* The group's deallocated types: its processes' lists (all types each),
 * merged by name. */
static int write_types(FILE *f, struct json_object *procs, int top)
{
	struct type_row *rows = NULL;
	size_t n = 0, cap = 0, m = 0;

	for (size_t i = 0; i < jlen(procs); i++) {
		struct json_object *tt =
		    jget(json_object_array_get_idx(procs, i), "top_dealloc_types");

		for (size_t j = 0; j < jlen(tt); j++) {
			struct json_object *t = json_object_array_get_idx(tt, j);

			if (n == cap) {
				size_t c = cap ? cap * 2 : 64;
				struct type_row *v = realloc(rows, c * sizeof(*v));

				if (!v) {
					free(rows);
					return -ENOMEM;
				}
				rows = v;
				cap = c;
			}
			rows[n].name = jstr(t, "type");
			rows[n].count = ju64(t, "count");
			n++;
		}
	}
	if (n) {
		qsort(rows, n, sizeof(*rows), cmp_type_name);
		for (size_t i = 0; i < n; i++) {
			if (m && strcmp(rows[m - 1].name, rows[i].name) == 0)
				rows[m - 1].count += rows[i].count;
			else
				rows[m++] = rows[i];
		}
		qsort(rows, m, sizeof(*rows), cmp_type_row);
	}
	fputs("<table><caption>Top deallocated types</caption>\n<tr><th>type</th><th>count</th>"
	      "</tr>\n",
	      f);
	if (!m)
		fputs("<tr><td colspan=\"2\">none seen</td></tr>\n", f);
	for (size_t i = 0; i < m && (int)i < top; i++) {
		fputs("<tr><td>", f);
		if (rows[i].name[0])
			esc_html(f, rows[i].name);
		else
			fputs("<i>(unreadable type name)</i>", f);
		fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n", rows[i].count);
	}
	if ((int)m > top && top >= 0)
		fprintf(f, "<tr><td colspan=\"2\">&hellip; and %zu more types</td></tr>\n",
			m - (size_t)top);
	fputs("</table>\n", f);
	free(rows);
	return 0;
}

static void write_counts(FILE *f, struct json_object *tot)
{
	struct json_object *counts = jget(tot, "counts"), *bytes = jget(tot, "bytes");
	uint64_t sum = 0;
	char b[32];

	fputs("<table><caption>Events</caption>\n<tr><th>kind</th><th>count</th></tr>\n", f);
	if (counts && json_object_is_type(counts, json_type_object)) {
		json_object_object_foreach(counts, kind, val)
		{
			uint64_t c = json_object_get_uint64(val);

			sum += c;
			/* zero allocator calls is news: inlined or not attached */
			if (!c && strncmp(kind, "py_", 3) != 0)
				continue;
			fputs("<tr><td>", f);
			esc_html(f, kind);
			fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n", c);
		}
	}
	fprintf(f, "<tr><th>total</th><th class=\"n\">%" PRIu64 "</th></tr>\n</table>\n", sum);
	fputs("<table><caption>Bytes requested</caption>\n", f);
	fprintf(f, "<tr><td>python allocator</td><td class=\"n\">%s</td></tr>\n",
		fmt_bytes(b, sizeof(b), (double)ju64(bytes, "py_alloc")));
	fprintf(f, "<tr><td>libc</td><td class=\"n\">%s</td></tr>\n</table>\n",
		fmt_bytes(b, sizeof(b), (double)ju64(bytes, "malloc")));
}

static void write_gc_table(FILE *f, const struct view *v, size_t grp, struct json_object *tot)
{
	struct json_object *gc = jget(tot, "gc");
	const uint64_t(*c)[3] = (const uint64_t(*)[3])v->grp_gc[grp];

	fputs("<table><caption>GC by generation</caption>\n<tr><th>generation</th>"
	      "<th>collections</th><th>total time</th><th>collected</th></tr>\n",
	      f);
	for (int g = 0; g <= HX_NGEN; g++) {
		if (g == HX_NGEN && !c[g][0])
			break;
		if (g < HX_NGEN)
			fprintf(f,
				"<tr><td><i style=\"display:inline-block;width:10px;height:10px;"
				"background:%s\"></i> gen%d</td>",
				gen_color[g], g);
		else
			fputs("<tr><td>unknown</td>", f);
		fprintf(f,
			"<td class=\"n\">%" PRIu64 "</td><td class=\"n\">%.3f ms</td>"
			"<td class=\"n\">%" PRIu64 "</td></tr>\n",
			c[g][0], (double)c[g][1] / 1e6, c[g][2]);
	}
	fprintf(f,
		"<tr><th>all</th><th class=\"n\">%" PRIu64 "</th><th class=\"n\">%.3f ms</th>"
		"<th class=\"n\">%" PRIu64 "</th></tr>\n",
		ju64(gc, "collections"), (double)ju64(gc, "time_ns") / 1e6, ju64(gc, "collected"));
	fputs("<tr><td colspan=\"4\">source: ", f);
	esc_html(f, jstr(gc, "source"));
	if (ju64(gc, "unfinished"))
		fprintf(f, "; %" PRIu64 " started but not finished", ju64(gc, "unfinished"));
	fputs("</td></tr>\n</table>\n", f);
}

static void write_lost_table(FILE *f, struct json_object *tot)
{
	struct json_object *by = jget(tot, "lost_by_kind");
	uint64_t lost = ju64(tot, "lost");

	fputs("<table><caption>Lost events</caption>\n", f);
	if (!lost) {
		fputs("<tr><td>none</td></tr>\n</table>\n", f);
		return;
	}
	fprintf(f, "<tr><th>all</th><th class=\"n\">%" PRIu64 "</th></tr>\n", lost);
	if (by && json_object_is_type(by, json_type_object)) {
		json_object_object_foreach(by, kind, val)
		{
			fputs("<tr><td>", f);
			esc_html(f, kind);
			fprintf(f, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
				json_object_get_uint64(val));
		}
	}
	fputs("</table>\n", f);
}

/* Footprint mode: each process's mappings and resident set, as the summary
 * tells them (at the end, or when the process exited, and the peaks). */
static void write_fp_table(FILE *f, struct json_object *procs)
{
	bool any = false;
	char b[6][32];

	for (size_t i = 0; i < jlen(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i);
		struct json_object *fp = jget(p, "footprint");

		if (!fp)
			continue;
		if (!any)
			fputs("<table><caption>Footprint (anonymous memory mapped)</caption>\n"
			      "<tr><th>pid</th><th>process</th><th>last</th><th>of it arenas</th>"
			      "<th>peak</th><th>arenas mapped / released</th><th>RSS last</th>"
			      "<th>RSS peak</th></tr>\n",
			      f);
		any = true;
		fprintf(f, "<tr><td class=\"n\">%" PRIu64 "</td><td>", ju64(p, "pid"));
		esc_html(f, jstr(p, "comm"));
		fprintf(f,
			"</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
			"<td class=\"n\">%" PRIu64 " / %" PRIu64 "</td>",
			fmt_bytes(b[0], sizeof(b[0]), (double)ju64(fp, "total_bytes")),
			fmt_bytes(b[1], sizeof(b[1]), (double)ju64(fp, "arena_bytes")),
			fmt_bytes(b[2], sizeof(b[2]), (double)ju64(fp, "peak_bytes")),
			ju64(fp, "arenas_mapped"), ju64(fp, "arenas_released"));
		if (jget(fp, "rss_bytes"))
			fprintf(f, "<td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
				fmt_bytes(b[3], sizeof(b[3]), (double)ju64(fp, "rss_bytes")),
				fmt_bytes(b[4], sizeof(b[4]), (double)ju64(fp, "rss_peak_bytes")));
		else
			fputs("<td colspan=\"2\">no sample</td></tr>\n", f);
	}
	if (any)
		fputs("</table>\n", f);
}

static void write_exit(FILE *f, struct json_object *p)
{
	struct json_object *e = jget(p, "exit_code");
	int st;

	if (!e || json_object_is_type(e, json_type_null)) {
		fputs("running at end", f);
		return;
	}
	st = (int)json_object_get_int(e);
	if ((st & 0x7f) == 0)
		fprintf(f, "exit %d", (st >> 8) & 0xff);
	else
		fprintf(f, "signal %d", st & 0x7f);
}

/* Processes and what each source saw of them: the "why" of a partial lane. */
static void write_procs(FILE *f, struct json_object *procs)
{
	fputs("<table class=\"wide\"><caption>Processes and source coverage</caption>\n"
	      "<tr><th>pid</th><th>process</th><th>source</th><th>coverage</th><th>why</th></tr>\n",
	      f);
	for (size_t i = 0; i < jlen(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i);
		struct json_object *srcs = jget(p, "sources");
		bool any = false;

		if (srcs && json_object_is_type(srcs, json_type_object)) {
			json_object_object_foreach(srcs, name, st)
			{
				const char *status = jstr(st, "status");

				fprintf(f, "<tr class=\"%s\"><td class=\"n\">%" PRIu64 "</td><td>",
					strcmp(status, "partial") == 0 ? "partial"
					: strcmp(status, "full") == 0  ? "full"
					: strcmp(status, "off") == 0   ? "off"
					: proc_is_python(p)	       ? "none"
								       : "off",
					ju64(p, "pid"));
				esc_html(f, jstr(p, "comm"));
				if (!any) {
					fputs(" <span class=\"sub\">", f);
					esc_html(f, jstr(p, "exe"));
					if (jstr(p, "python_version")[0]) {
						fputs(" [python ", f);
						esc_html(f, jstr(p, "python_version"));
						fputs("]", f);
					}
					fputs(", ", f);
					write_exit(f, p);
					fputs("</span>", f);
				}
				fputs("</td><td>", f);
				esc_html(f, name);
				fputs("</td><td>", f);
				esc_html(f, status);
				fputs("</td><td>", f);
				esc_html(f, jstr(st, "detail"));
				fputs("</td></tr>\n", f);
				any = true;
			}
		}
		if (!any) {
			fprintf(f, "<tr><td class=\"n\">%" PRIu64 "</td><td>", ju64(p, "pid"));
			esc_html(f, jstr(p, "comm"));
			fputs(" <span class=\"sub\">", f);
			esc_html(f, jstr(p, "exe"));
			fputs(", ", f);
			write_exit(f, p);
			fputs("</span></td><td colspan=\"3\">no coverage record</td></tr>\n", f);
		}
	}
	fputs("</table>\n", f);
}

static void write_time_or(FILE *f, struct json_object *g, const char *key, const char *none)
{
	struct json_object *t = jget(g, key);

	if (!t || json_object_is_type(t, json_type_null))
		fputs(none, f);
	else
		fprintf(f, "%.3f s", (double)json_object_get_int64(t) / 1e9);
}

static int write_group(struct html_ex *h, const struct view *v, size_t gi)
{
	struct json_object *g = json_object_array_get_idx(v->groups, gi);
	struct json_object *tot = jget(g, "totals"), *procs = jget(g, "processes");
	bool host = (ssize_t)gi == v->host_group;
	FILE *f = h->out;
	int err;

	fprintf(f,
		"<section class=\"group\" id=\"group-%zu\" data-kind=\"%s\" data-gc=\"%" PRIu64
		"\" data-name=\"",
		gi, host ? "host" : "container", ju64(jget(tot, "gc"), "collections"));
	esc_html(f, jstr(g, "name"));
	fputs("\">\n<h2>", f);
	if (host) {
		fputs("host processes <span class=\"sub\">outside the traced containers</span>", f);
	} else {
		fputs("container ", f);
		esc_html(f, jstr(g, "name"));
		fputs(" <span class=\"sub\">", f);
		esc_html(f, jstr(g, "runtime"));
		if (jstr(g, "service")[0]) {
			fputs(" &middot; compose ", f);
			if (jstr(g, "project")[0]) {
				esc_html(f, jstr(g, "project"));
				fputs("/", f);
			}
			esc_html(f, jstr(g, "service"));
		}
		if (jstr(g, "image")[0]) {
			fputs(" &middot; image ", f);
			esc_html(f, jstr(g, "image"));
		}
		if (jstr(g, "id")[0]) {
			char id[13];

			snprintf(id, sizeof(id), "%s", jstr(g, "id"));
			fputs(" &middot; id ", f);
			esc_html(f, id);
		}
		fputs(" &middot; ", f);
		write_time_or(f, g, "start_ns", "start not recorded");
		fputs(" &ndash; ", f);
		write_time_or(f, g, "stop_ns", "running at end");
		fputs("</span>", f);
	}
	fputs("</h2>\n<div class=\"tables\">\n", f);
	write_counts(f, tot);
	write_gc_table(f, v, gi, tot);
	err = write_types(f, procs, h->o.top > 0 ? h->o.top : 10);
	if (err)
		return err;
	write_lost_table(f, tot);
	write_fp_table(f, procs);
	fputs("</div>\n", f);
	write_procs(f, procs);
	fputs("</section>\n", f);
	return 0;
}

static int html_finish(struct pm_sink *sink)
{
	struct html_ex *h = to_html(sink);
	struct view v = {0};
	FILE *f = h->out;
	size_t gpos = 0;
	int err = 0;

	if (h->tl_sink->finish && (err = h->tl_sink->finish(h->tl_sink)))
		return err;
	if (h->sum_sink->finish && (err = h->sum_sink->finish(h->sum_sink)))
		return err;
	v.root = summary_json(h, &err);
	if (!v.root)
		return err;
	v.groups = jget(v.root, "containers");
	v.ngroups = jlen(v.groups);
	v.procs = jget(v.root, "processes");
	v.host_group = -1;
	for (size_t i = 0; i < v.ngroups; i++)
		if (strcmp(jstr(json_object_array_get_idx(v.groups, i), "runtime"), "host") == 0)
			v.host_group = (ssize_t)i;
	v.nlanes = timeline__lane_count(h->tl);
	for (size_t l = 0; l < v.nlanes; l++)
		v.any_fp |= lane_has_fp(timeline__lane(h->tl, l));
	choose_slices(h, &v);
	err = place_gcs(h, &v);
	if (err)
		goto out;
	qsort(h->gcs, h->ngcs, sizeof(*h->gcs), cmp_gc_place);
	while (gpos < h->ngcs && h->gcs[gpos].lane < 0)
		gpos++;

	write_head(h, &v, jget(v.root, "trace"));
	fputs("<h2>Timelines</h2>\n", f);
	if (!v.nlanes)
		fputs("<p>No process was traced.</p>\n", f);
	for (size_t l = 0; l < v.nlanes && !err; l++)
		err = write_lane(h, &v, l, &gpos);
	if (!err && v.ngroups)
		fputs("<h2>Summary</h2>\n", f);
	/* a trace without containers: its processes are the one group */
	if (!err && !v.ngroups && jlen(v.procs)) {
		fputs("<h2>Summary</h2>\n<section class=\"group\" data-kind=\"host\">\n", f);
		write_procs(f, v.procs);
		fputs("</section>\n", f);
	}
	for (size_t g = 0; g < v.ngroups && !err; g++)
		err = write_group(h, &v, g);
	if (!err)
		fprintf(f,
			"<p class=\"sub\">Made by pymac %s. This page fetches nothing: everything "
			"it shows is in this file.</p>\n<script>\n%s</script>\n</body>\n</html>\n",
			PYMAC_VERSION, SCRIPT);
	if (!err && ferror(f))
		err = -EIO;
out:
	json_object_put(v.root);
	free(v.lane_group);
	free(v.grp_gc);
	return err;
}

static void html_free(struct exporter *ex)
{
	struct html_ex *h = (struct html_ex *)ex;

	if (!h)
		return;
	timeline__free(h->tl);
	summary__free(h->sum);
	free(h->gcs);
	for (size_t i = 0; i < h->nmeta; i++) {
		free(h->meta[i].key);
		free(h->meta[i].value);
	}
	free(h->meta);
	free(h);
}

struct exporter *export_html__new(FILE *out, const struct export_opts *o)
{
	struct html_ex *h = calloc(1, sizeof(*h));
	uint64_t bucket = TL_BUCKET_NS;

	if (!h)
		return NULL;
	h->out = out;
	h->o = *o;
	/* a finer --resolution needs finer buckets; the slices are never finer
	 * than these, only coarser */
	if (o->resolution_ns && o->resolution_ns < TL_BUCKET_NS)
		bucket = o->resolution_ns < HX_MIN_BUCKET_NS ? HX_MIN_BUCKET_NS : o->resolution_ns;
	h->tl = timeline__new(bucket, UINT64_MAX);
	h->sum = summary__new();
	if (!h->tl || !h->sum) {
		html_free(&h->ex);
		errno = ENOMEM;
		return NULL;
	}
	h->tl_sink = timeline__sink(h->tl);
	h->sum_sink = summary__sink(h->sum);
	h->ex.sink.record = html_record;
	h->ex.sink.finish = html_finish;
	h->ex.free = html_free;
	return &h->ex;
}
