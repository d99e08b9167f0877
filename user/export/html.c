// SPDX-License-Identifier: MIT
/*
 * The HTML report: one self-contained page (inline CSS, SVG and a small
 * script, nothing fetched) with a timeline per container or host process on
 * one time axis, and the summary's tables per container.
 *
 * One ledger keeps the books for the whole page: the timeline (nets, rates,
 * lost events, and in footprint mode the footprint and RSS, per bucket) and
 * the per-process books (counts, types, coverage) are its stores, and so is
 * this exporter, which keeps every collection as it ends, in the lane the
 * ledger counted it in (the timeline keeps only the latest few thousand
 * markers of a lane, and a report must show all of them). So a lane's
 * markers are the collections its table counts, by construction.
 *
 * Everything that came from a traced process (names, types, paths) is
 * escaped for the context it lands in: HTML text and attributes, or JSON
 * inside a <script> element (util/json.h's script-safe strings).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "export/html.h"
#include "util/json.h"
#include "views/summary.h"
#include "util/grow.h"

const char *const hx_gen_color[HX_NGEN + 1] = {"#e7ba52", "#9467bd", "#8c564b", "#7f7f7f"};

/* ---- escaping and formatting ---- */

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

void hx_esc_html(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		size_t n = pm_utf8_len(p);

		if (!n || (n == 1 && is_control(*p) && *p != '\t' && *p != '\n') ||
		    (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			/* a byte that starts no valid sequence, or a control character */
			fputs("\xef\xbf\xbd", f);
			p++;
			continue;
		}
		switch (*p) {
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
		default:
			fwrite(p, 1, n, f);
		}
		p += n;
	}
}

const char *hx_fmt_bytes(char *buf, size_t len, double b)
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

const char *hx_fmt_count(char *buf, size_t len, double v)
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

double hx_xpos(const struct view *v, uint64_t t)
{
	double span = (double)v->w * (double)v->n;

	if (t <= v->t0)
		return PLOT_X;
	if ((double)(t - v->t0) >= span)
		return PLOT_X + PLOT_W;
	return PLOT_X + (double)(t - v->t0) * PLOT_W / span;
}

double hx_rel_s(const struct view *v, uint64_t t)
{
	return t >= v->t0 ? (double)(t - v->t0) / 1e9 : -(double)(v->t0 - t) / 1e9;
}

bool hx_proc_is_python(const struct ps_proc *p)
{
	return ps_proc__is_python(p);
}

bool hx_coverage_gap(const struct ps_proc *p, const struct ps_source *st)
{
	if (st->status == PM_SRC_PARTIAL)
		return true;
	/* a shell or docker-init has no Python to attach to: no news; nor is
	 * a source left off on purpose (--mode footprint, --probes) */
	return st->status == PM_SRC_NONE && hx_proc_is_python(p);
}

/* ---- the ledger's store: collections and metadata ---- */

static int keep_gc(void *ctx, const struct lg_lane *l, const struct lg_gc *g)
{
	struct html_ex *h = ctx;
	struct hx_gc *k;

	if (g->state != LG_GC_DONE)
		return 0;
	if (h->ngcs == h->gcs_cap) {
		struct hx_gc *v = PM_GROW(h->gcs, &h->gcs_cap, h->ngcs + 1, 1024);

		if (!v)
			return -ENOMEM;
		h->gcs = v;
	}
	k = &h->gcs[h->ngcs++];
	memset(k, 0, sizeof(*k));
	k->start_ns = g->start_ns;
	k->end_ns = g->end_ns;
	k->collected = g->collected;
	k->pid = g->pid;
	k->gen = g->generation >= 0 && g->generation < HX_NGEN ? g->generation : -1;
	k->lane = (int32_t)l->index;
	k->inside = g->traced_inside;
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

static int keep_record(void *ctx, const struct pm_record *rec)
{
	return rec->type == PM_REC_META ? keep_meta(ctx, &rec->meta) : 0;
}

static const struct lg_ops html_ops = {
    .gc = keep_gc,
    .record = keep_record,
};

static struct html_ex *to_html(struct pm_sink *sink)
{
	return (struct html_ex *)((char *)sink - offsetof(struct html_ex, ex.sink));
}

static int html_record(struct pm_sink *sink, const struct pm_record *rec)
{
	return ledger__record(to_html(sink)->lg, rec);
}

/* ---- the view ---- */

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

/* Each lane's summary group: a container lane its container's, a host
 * lane the host group (the summary's groups are the lanes'). */
static int place(struct html_ex *h, struct view *v)
{
	v->lane_group = calloc(v->nlanes ? v->nlanes : 1, sizeof(*v->lane_group));
	v->grp_gc = calloc(v->ngroups ? v->ngroups : 1, sizeof(*v->grp_gc));
	if (!v->lane_group || !v->grp_gc)
		return -ENOMEM;
	for (size_t l = 0; l < v->nlanes; l++) {
		const struct lg_lane *li = timeline__lane(h->tl, l);

		v->lane_group[l] = li->kind == LG_LANE_HOST ? v->host_group : -1;
		for (size_t g = 0; g < v->ngroups && li->kind == LG_LANE_CONTAINER; g++)
			if (v->groups[g].c && v->groups[g].c->cgroup_id == li->cgroup_id)
				v->lane_group[l] = (ssize_t)g;
	}
	for (size_t i = 0; i < h->ngcs; i++) {
		struct hx_gc *g = &h->gcs[i];
		uint64_t s = g->start_ns > v->t0 ? (g->start_ns - v->t0) / v->w : 0;
		ssize_t grp = (size_t)g->lane < v->nlanes ? v->lane_group[g->lane] : -1;

		g->slice = (uint32_t)(s < v->n ? s : v->n - 1);
		if (grp >= 0) {
			uint64_t *c = v->grp_gc[grp][g->gen >= 0 ? g->gen : HX_NGEN];

			c[0]++;
			c[1] += g->end_ns - g->start_ns;
			if (g->collected > 0)
				c[2] += (uint64_t)g->collected;
		}
	}
	return 0;
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

static int view_build(struct html_ex *h, struct view *v)
{
	v->host_group = -1;
	sm_trace_totals(h->ps, h->o.info, &v->tr);
	v->procs = sm_sorted_procs(h->ps);
	if (!v->procs)
		return -ENOMEM;
	v->nprocs = h->ps->nprocs;
	v->groups = sm_make_groups(h->ps, v->procs, &v->ngroups);
	if (!v->groups)
		return -ENOMEM;
	for (size_t i = 0; i < v->ngroups; i++)
		if (!v->groups[i].c)
			v->host_group = (ssize_t)i;
	v->nlanes = timeline__lane_count(h->tl);
	for (size_t l = 0; l < v->nlanes; l++)
		v->any_fp |= hx_lane_has_fp(timeline__lane(h->tl, l));
	if (hx_gaps_build(v))
		return -ENOMEM;
	choose_slices(h, v);
	return place(h, v);
}

static void view_free(struct view *v, const struct procstats *ps)
{
	hx_gaps_free(v);
	sm_groups_free(v->groups, ps);
	free(v->procs);
	free(v->lane_group);
	free(v->grp_gc);
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
    "rows.push(m[8]?'as traced: includes the probes of '+m[8]+' events inside':"
    "'its own time: only the GC probes fired');"
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

static void write_head(struct html_ex *h, const struct view *v)
{
	FILE *f = h->out;
	const char *base = h->o.source ? strrchr(h->o.source, '/') : NULL;
	uint64_t lost = v->tr.lost, events = h->ps->events;
	char when[96] = "unknown", cnt[32];
	struct jsonw w;

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
	hx_esc_html(f, base);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", CSS);
	fputs("<h1>pymac report: ", f);
	hx_esc_html(f, base);
	fputs("</h1>\n<table class=\"meta\">\n<tr><td>trace file</td><td>", f);
	hx_esc_html(f, h->o.source ? h->o.source : "");
	fprintf(f, "</td></tr>\n<tr><td>recorded</td><td>%s</td></tr>\n", when);
	fprintf(f, "<tr><td>duration</td><td>%.3f s</td></tr>\n", (double)v->tr.duration_ns / 1e9);
	fprintf(f, "<tr><td>events</td><td>%" PRIu64 " (%s)%s</td></tr>\n", events,
		hx_fmt_count(cnt, sizeof(cnt), (double)events),
		h->ps->complete ? "" : ", <b>incomplete</b>: the recording was cut short");
	for (size_t i = 0; i < h->nmeta; i++) {
		fputs("<tr><td>", f);
		hx_esc_html(f, h->meta[i].key);
		fputs("</td><td>", f);
		hx_esc_html(f, h->meta[i].value);
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
		fprintf(f, "<span><i style=\"background:%s\"></i>GC gen%d</span>", hx_gen_color[g],
			g);
	fputs("<span><i style=\"background:#e377c2\"></i>lost events</span>", f);
	if (v->any_fp)
		fputs("<span><i style=\"border-top:2px solid " FP_COLOR "\"></i>footprint: "
		      "anonymous memory mapped (pymalloc arenas, other mmaps, brk heap)</span>"
		      "<span><i style=\"border-top:2px solid " RSS_COLOR "\"></i>resident set "
		      "(RSS)</span>",
		      f);
	fputs("</p>\n", f);
	fputs("<div id=\"pm-tip\"></div>\n", f);
	fputs("<script type=\"application/json\" id=\"pm-view\">", f);
	jsonw_init(&w, f, false);
	jsonw_start_object(&w);
	jsonw_uint_field(&w, "w", v->w);
	jsonw_uint_field(&w, "n", v->n);
	jsonw_int_field(&w, "px", PLOT_X);
	jsonw_int_field(&w, "pw", PLOT_W);
	jsonw_int_field(&w, "svgw", SVG_W);
	jsonw_end_object(&w);
	fputs("</script>\n", f);
}

static int html_finish(struct pm_sink *sink)
{
	struct html_ex *h = to_html(sink);
	struct view v = {0};
	FILE *f = h->out;
	size_t gpos = 0;
	int err = ledger__finish(h->lg);

	if (!err)
		err = view_build(h, &v);
	if (err)
		goto out;
	if (h->ngcs) /* gcs is NULL without one, and qsort's base must not be */
		qsort(h->gcs, h->ngcs, sizeof(*h->gcs), cmp_gc_place);

	write_head(h, &v);
	hx_write_coverage(f, &v);
	fputs("<h2>Timelines</h2>\n", f);
	if (!v.nlanes)
		fputs("<p>No process was traced.</p>\n", f);
	for (size_t l = 0; l < v.nlanes && !err; l++)
		err = hx_write_lane(h, &v, l, &gpos);
	if (!err && v.ngroups)
		fputs("<h2>Summary</h2>\n", f);
	/* a trace without containers: its processes are the one group */
	if (!err && !v.ngroups && v.nprocs) {
		fputs("<h2>Summary</h2>\n<section class=\"group\" data-kind=\"host\">\n", f);
		hx_write_procs(f, v.procs, v.nprocs);
		fputs("</section>\n", f);
	}
	for (size_t g = 0; g < v.ngroups && !err; g++)
		err = hx_write_group(h, &v, g);
	if (!err)
		fprintf(f,
			"<p class=\"sub\">Made by pymac %s. This page fetches nothing: everything "
			"it shows is in this file.</p>\n<script>\n%s</script>\n</body>\n</html>\n",
			PYMAC_VERSION, SCRIPT);
	if (!err && ferror(f))
		err = -EIO;
out:
	view_free(&v, h->ps);
	return err;
}

static void html_free(struct exporter *ex)
{
	struct html_ex *h = (struct html_ex *)ex;

	if (!h)
		return;
	timeline__free(h->tl);
	procstats__free(h->ps);
	ledger__free(h->lg);
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
	h->lg = ledger__new();
	h->tl = h->lg ? timeline__new_on(h->lg, bucket, UINT64_MAX) : NULL;
	h->ps = h->tl ? procstats__new_on(h->lg) : NULL;
	if (!h->ps || ledger__subscribe(h->lg, &html_ops, h)) {
		html_free(&h->ex);
		errno = ENOMEM;
		return NULL;
	}
	h->ex.sink.record = html_record;
	h->ex.sink.finish = html_finish;
	h->ex.free = html_free;
	return &h->ex;
}
