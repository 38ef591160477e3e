// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-wss.c - qdamo report wss: the working-set size distribution, as
 * damo's "report wss" prints it (a percentile and a size a line), from
 * query-damon-wss or from the snapshots of a record file.
 *
 * For a record file the distribution is computed here the way QEMU
 * computes it (nearest rank, rounding down, over sorted per-aggregation
 * sizes), so both paths print the same numbers for the same snapshots.
 */
#include <stdio.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "record-file.h"

static const QdamoOptDef opts_wss[] = {
	{ .name = "percentiles", .short_name = 'p', .type = QDAMO_OPT_STRING,
	  .value_name = "P,P,...",
	  .help = "which percentiles (default 0,25,50,75,100; with --plot every 5)" },
	{ .name = "min-nr-accesses", .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "count a region when accessed in at least N samples of an "
		  "aggregation (default 1)" },
	QDAMO_OPT_INPUT("read the snapshots of this record file instead of asking QEMU"),
	{ .name = "plot", .type = QDAMO_OPT_FLAG,
	  .help = "draw the distribution as a bar plot" },
	{ .name = "width", .short_name = 'w', .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "bar width of --plot in characters (default 50)" },
	QDAMO_OPT_RAW("sizes in bytes"),
	QDAMO_OPT_JSON("query-damon-wss's"),
	{ NULL }
};

typedef struct {
	guint8 pct;
	uint64_t bytes;
} Point;

typedef struct {
	GArray *points;		/* Point */
	uint64_t last, total;
	gboolean has_write;	/* QEMU gave write-wss-bytes */
	uint64_t write_last;
	guint64 nr_aggregations;
	guint min_nr;
	char *what;		/* "damon0 of domain 'x'" */
	char *seen_by;		/* "tcg-accessed, sees reads-and-writes", or NULL */
} Dist;

/*
 * Which source(s) made the figures and what they see: a working set from
 * a source that sees writes only leaves out pages the guest only reads.
 */
static char *seen_by(QdamoTarget *t, const char *id, GError **err)
{
	g_autoptr(JsonNode) ret = qdamo_execute(t, "query-damon", NULL, err);
	JsonArray *all = ret && JSON_NODE_HOLDS_ARRAY(ret) ?
		json_node_get_array(ret) : NULL;
	guint i;

	for (i = 0; all && i < json_array_get_length(all); i++) {
		JsonObject *m = json_array_get_object_element(all, i);
		g_autofree char *sources = NULL;

		if (!m || g_strcmp0(qdamo_json_str(m, "id", ""), id))
			continue;
		sources = qdamo_monitor_sources(m);
		return g_strdup_printf("%s, sees %s", sources,
				       qdamo_json_str(m, "sees", "?"));
	}
	return NULL;
}

static void dist_clear(Dist *d)
{
	if (d->points)
		g_array_free(d->points, TRUE);
	g_free(d->what);
	g_free(d->seen_by);
}

static GArray *wanted_percentiles(const QdamoCmd *cmd, GError **err)
{
	const char *text = qdamo_cmd_str(cmd, "percentiles");
	GArray *p;
	guint8 v;

	if (text)
		return qdamo_parse_percentiles(text, err);
	p = g_array_new(FALSE, FALSE, sizeof(guint8));
	for (v = 0; v <= 100; v += qdamo_cmd_flag(cmd, "plot") ? 5 : 25)
		g_array_append_val(p, v);
	return p;
}

static gboolean from_qemu(const QdamoCmd *cmd, Dist *d, GArray *pcts,
			  guint min_nr, GError **err)
{
	g_autoptr(QdamoTarget) t = qdamo_open_target(cmd, err);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonNode) ret = NULL;
	JsonArray *list = json_array_new();
	JsonArray *got;
	JsonObject *o;
	GError *qerr = NULL;
	gboolean printed;
	guint i;

	json_object_set_string_member(args, "id", qdamo_monitor_id(cmd));
	json_object_set_int_member(args, "min-nr-accesses", min_nr);
	for (i = 0; i < pcts->len; i++)
		json_array_add_int_element(list, g_array_index(pcts, guint8, i));
	json_object_set_array_member(args, "percentiles", list);
	ret = qdamo_query(cmd, t, "query-damon-wss", args, &printed, err);
	if (!ret)
		return printed;
	o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
	got = qdamo_json_array(o, "percentiles");
	if (!got) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "query-damon-wss: no percentiles in the reply of %s", t->label);
		return FALSE;
	}
	d->points = g_array_new(FALSE, FALSE, sizeof(Point));
	for (i = 0; i < json_array_get_length(got); i++) {
		JsonObject *e = json_array_get_object_element(got, i);
		Point pt = { (guint8)qdamo_json_u64(e, "percentile", 0),
			     qdamo_json_u64(e, "wss-bytes", 0) };

		g_array_append_val(d->points, pt);
	}
	d->last = qdamo_json_u64(o, "wss-bytes", 0);
	d->has_write = json_object_has_member(o, "write-wss-bytes");
	d->write_last = qdamo_json_u64(o, "write-wss-bytes", 0);
	d->total = qdamo_json_u64(o, "total-bytes", 0);
	d->nr_aggregations = qdamo_json_u64(o, "nr-aggregations", 0);
	d->min_nr = (guint)qdamo_json_u64(o, "min-nr-accesses", min_nr);
	d->what = g_strdup_printf("%s of %s", qdamo_monitor_id(cmd), t->label);
	d->seen_by = seen_by(t, qdamo_monitor_id(cmd), &qerr);
	if (qerr) {
		g_propagate_error(err, qerr);
		return FALSE;
	}
	return TRUE;
}

static gint u64_cmp(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static gboolean from_record(const char *path, Dist *d, GArray *pcts,
			    guint min_nr, GError **err)
{
	g_autoptr(QdamoRecord) rec = qdamo_record_load(path, err);
	g_autoptr(GArray) sizes = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	QdamoSnapshot *s;
	guint i;

	if (!rec)
		return FALSE;
	if (!rec->snapshots->len) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "%s has no snapshot", path);
		return FALSE;
	}
	for (i = 0; i < rec->snapshots->len; i++) {
		uint64_t w = qdamo_snapshot_wss(g_ptr_array_index(rec->snapshots, i),
						min_nr);

		g_array_append_val(sizes, w);
	}
	s = g_ptr_array_index(rec->snapshots, rec->snapshots->len - 1);
	d->last = g_array_index(sizes, uint64_t, sizes->len - 1);
	/* a version 2 record has the write counts to estimate it from */
	d->has_write = s->has_writes;
	d->write_last = qdamo_snapshot_write_wss(s, min_nr);
	d->total = s->total_bytes;
	d->nr_aggregations = sizes->len;
	d->min_nr = min_nr;
	d->what = g_strdup_printf("%s of %s (%s)", rec->monitor_id,
				  rec->target_name, path);
	g_array_sort(sizes, u64_cmp);
	d->points = g_array_new(FALSE, FALSE, sizeof(Point));
	for (i = 0; i < pcts->len; i++) {
		Point pt = { g_array_index(pcts, guint8, i), 0 };

		pt.bytes = g_array_index(sizes, uint64_t, (sizes->len - 1) * pt.pct / 100);
		g_array_append_val(d->points, pt);
	}
	return TRUE;
}

/* @width: the bar plot's, or 0 for none */
static void print_dist(const Dist *d, gboolean raw, guint width)
{
	g_autofree char *last = qdamo_fmt_size(d->last, raw);
	g_autofree char *total = qdamo_fmt_size(d->total, raw);
	uint64_t max = 1;
	guint i;

	printf("# <percentile> <wss>\n");
	printf("# %s: %" G_GUINT64_FORMAT " aggregations, min-nr-accesses %u\n",
	       d->what, d->nr_aggregations, d->min_nr);
	printf("# last: %s of %s monitored\n", last, total);
	if (d->seen_by)
		printf("# source: %s\n", d->seen_by);
	if (d->has_write) {
		g_autofree char *w = qdamo_fmt_size(d->write_last, raw);

		printf("# last written: %s (write-wss-bytes)\n", w);
	}
	for (i = 0; i < d->points->len; i++)
		max = MAX(max, g_array_index(d->points, Point, i).bytes);
	for (i = 0; i < d->points->len; i++) {
		const Point *pt = &g_array_index(d->points, Point, i);
		g_autofree char *sz = qdamo_fmt_size(pt->bytes, raw);
		/* bars scaled to the largest size, at least one mark if nonzero */
		guint n = (guint)((double)pt->bytes / (double)max * width + 0.5);
		g_autofree char *bar = g_strnfill(pt->bytes && !n ? 1 : n, '#');

		if (!width)
			printf("%3u %14s\n", pt->pct, sz);
		else
			printf("%3u %14s |%s\n", pt->pct, sz, bar);
	}
}

static gboolean cmd_wss(const QdamoCmd *cmd, GError **err)
{
	const char *input = qdamo_cmd_str(cmd, "input");
	g_autoptr(GArray) pcts = NULL;
	gint64 min_nr = 1, width = 50;
	Dist d = { 0 };
	gboolean ok;

	qdamo_cmd_int(cmd, "min-nr-accesses", &min_nr);
	qdamo_cmd_int(cmd, "width", &width);
	if (min_nr < 1)
		return qdamo_usage_error(err, cmd, "--min-nr-accesses must be at least 1");
	if (width < 1 || width > 1000)
		return qdamo_usage_error(err, cmd, "--width must be 1 to 1000");
	if (qdamo_cmd_flag(cmd, "json") && input)
		return qdamo_usage_error(err, cmd, "--json shows QEMU's reply; it "
					 "does not go with --input");
	pcts = wanted_percentiles(cmd, err);
	if (!pcts)
		return FALSE;
	ok = input ? from_record(input, &d, pcts, (guint)min_nr, err) :
		     from_qemu(cmd, &d, pcts, (guint)min_nr, err);
	if (ok && d.points)
		print_dist(&d, qdamo_cmd_flag(cmd, "raw"),
			   qdamo_cmd_flag(cmd, "plot") ? (guint)width : 0);
	dist_clear(&d);
	return ok;
}

static const QdamoCmdInfo info_wss = {
	.help = "working-set size distribution (query-damon-wss, or a record file)",
	.desc = "The working set is the bytes of the regions accessed in at least "
		"--min-nr-accesses\nsamples of an aggregation interval; the "
		"percentiles are over the recent\naggregations (QEMU keeps 600) "
		"or over a record file's snapshots.  With a write source (or a "
		"record of a\nmonitor that had one), the line \"# last written:\" "
		"gives the written part of\nthe last working set.",
};

const QdamoCmdDef qdamo_cmddef_report_wss = {
	.name = "wss", .info = &info_wss, .opts = opts_wss, .handler = cmd_wss,
};
