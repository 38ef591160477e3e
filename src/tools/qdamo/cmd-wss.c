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

static char *opt_percentiles, *opt_input;
static gint opt_min_nr = 1, opt_width = 50;
static gboolean opt_raw, opt_json, opt_plot;

static const GOptionEntry entries[] = {
	{ "percentiles", 'p', 0, G_OPTION_ARG_STRING, &opt_percentiles,
	  "which percentiles (default 0,25,50,75,100; with --plot every 5)",
	  "P,P,..." },
	{ "min-nr-accesses", 0, 0, G_OPTION_ARG_INT, &opt_min_nr,
	  "count a region when accessed in at least N samples of an "
	  "aggregation (default 1)", "N" },
	{ "input", 'I', 0, G_OPTION_ARG_FILENAME, &opt_input,
	  "read the snapshots of this record file instead of asking QEMU",
	  "FILE" },
	{ "plot", 0, 0, G_OPTION_ARG_NONE, &opt_plot,
	  "draw the distribution as a bar plot", NULL },
	{ "width", 'w', 0, G_OPTION_ARG_INT, &opt_width,
	  "bar width of --plot in characters (default 50)", "N" },
	{ "raw", 0, 0, G_OPTION_ARG_NONE, &opt_raw,
	  "sizes in bytes", NULL },
	{ "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json,
	  "print query-damon-wss's reply as it came", NULL },
	{ NULL }
};

typedef struct {
	guint8 pct;
	uint64_t bytes;
} Point;

typedef struct {
	GArray *points;		/* Point */
	uint64_t last, total;
	guint64 nr_aggregations;
	guint min_nr;
	char *what;		/* "damon0 of domain 'x'" */
} Dist;

static void dist_clear(Dist *d)
{
	if (d->points)
		g_array_free(d->points, TRUE);
	g_free(d->what);
}

static GArray *wanted_percentiles(GError **err)
{
	GArray *p;
	guint8 v;

	if (opt_percentiles)
		return qdamo_parse_percentiles(opt_percentiles, err);
	p = g_array_new(FALSE, FALSE, sizeof(guint8));
	for (v = 0; v <= 100; v += opt_plot ? 5 : 25)
		g_array_append_val(p, v);
	return p;
}

static gboolean from_qemu(Dist *d, GArray *pcts, GError **err)
{
	g_autoptr(QdamoTarget) t = qdamo_open_target(err);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonNode) ret = NULL;
	JsonArray *list = json_array_new();
	JsonArray *got;
	JsonObject *o;
	guint i;

	if (!t)
		return FALSE;
	json_object_set_string_member(args, "id", qdamo_monitor_id());
	json_object_set_int_member(args, "min-nr-accesses", opt_min_nr);
	for (i = 0; i < pcts->len; i++)
		json_array_add_int_element(list, g_array_index(pcts, guint8, i));
	json_object_set_array_member(args, "percentiles", list);
	ret = qdamo_execute(t, "query-damon-wss", args, err);
	if (!ret)
		return FALSE;
	if (opt_json) {
		g_autofree char *text = jx_to_string(ret, TRUE);

		printf("%s\n", text);
		return TRUE;
	}
	o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
	got = jx_array(o, "percentiles");
	if (!got) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "query-damon-wss: no percentiles in the reply of %s", t->label);
		return FALSE;
	}
	d->points = g_array_new(FALSE, FALSE, sizeof(Point));
	for (i = 0; i < json_array_get_length(got); i++) {
		JsonObject *e = json_array_get_object_element(got, i);
		Point pt = { (guint8)jx_u64(e, "percentile", 0), jx_u64(e, "wss-bytes", 0) };

		g_array_append_val(d->points, pt);
	}
	d->last = jx_u64(o, "wss-bytes", 0);
	d->total = jx_u64(o, "total-bytes", 0);
	d->nr_aggregations = jx_u64(o, "nr-aggregations", 0);
	d->min_nr = (guint)jx_u64(o, "min-nr-accesses", (guint64)opt_min_nr);
	d->what = g_strdup_printf("%s of %s", qdamo_monitor_id(), t->label);
	return TRUE;
}

static gint u64_cmp(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static gboolean from_record(Dist *d, GArray *pcts, GError **err)
{
	g_autoptr(QdamoRecord) rec = qdamo_record_load(opt_input, err);
	g_autoptr(GArray) sizes = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	QdamoSnapshot *s;
	guint i;

	if (!rec)
		return FALSE;
	if (!rec->snapshots->len) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "%s has no snapshot", opt_input);
		return FALSE;
	}
	for (i = 0; i < rec->snapshots->len; i++) {
		uint64_t w = qdamo_snapshot_wss(g_ptr_array_index(rec->snapshots, i),
						(uint32_t)opt_min_nr);

		g_array_append_val(sizes, w);
	}
	s = g_ptr_array_index(rec->snapshots, rec->snapshots->len - 1);
	d->last = g_array_index(sizes, uint64_t, sizes->len - 1);
	d->total = s->total_bytes;
	d->nr_aggregations = sizes->len;
	d->min_nr = (guint)opt_min_nr;
	d->what = g_strdup_printf("%s of %s (%s)", rec->monitor_id,
				  rec->target_name, opt_input);
	g_array_sort(sizes, u64_cmp);
	d->points = g_array_new(FALSE, FALSE, sizeof(Point));
	for (i = 0; i < pcts->len; i++) {
		Point pt = { g_array_index(pcts, guint8, i), 0 };

		pt.bytes = g_array_index(sizes, uint64_t, (sizes->len - 1) * pt.pct / 100);
		g_array_append_val(d->points, pt);
	}
	return TRUE;
}

static void print_dist(const Dist *d)
{
	g_autofree char *last = qdamo_fmt_size(d->last, opt_raw);
	g_autofree char *total = qdamo_fmt_size(d->total, opt_raw);
	uint64_t max = 1;
	guint i;

	printf("# <percentile> <wss>\n");
	printf("# %s: %" G_GUINT64_FORMAT " aggregations, min-nr-accesses %u\n",
	       d->what, d->nr_aggregations, d->min_nr);
	printf("# last: %s of %s monitored\n", last, total);
	for (i = 0; i < d->points->len; i++)
		max = MAX(max, g_array_index(d->points, Point, i).bytes);
	for (i = 0; i < d->points->len; i++) {
		const Point *pt = &g_array_index(d->points, Point, i);
		g_autofree char *sz = qdamo_fmt_size(pt->bytes, opt_raw);

		if (!opt_plot) {
			printf("%3u %14s\n", pt->pct, sz);
			continue;
		}
		/* bars scaled to the largest size, at least one mark if nonzero */
		{
			guint n = (guint)((double)pt->bytes / (double)max * opt_width + 0.5);
			g_autofree char *bar = g_strnfill(pt->bytes && !n ? 1 : n, '#');

			printf("%3u %14s |%s\n", pt->pct, sz, bar);
		}
	}
}

gboolean qdamo_cmd_report_wss(const QdamoCommand *cmd, int argc, char **argv,
			      GError **err)
{
	g_autoptr(GArray) pcts = NULL;
	Dist d = { 0 };
	gboolean ok;

	if (!qdamo_parse_options(cmd, entries,
				 "The working set is the bytes of the regions accessed in at "
				 "least --min-nr-accesses\nsamples of an aggregation interval; "
				 "the percentiles are over the recent\naggregations (QEMU keeps "
				 "600) or over a record file's snapshots.", &argc, &argv, err))
		return FALSE;
	if (argc > 1)
		return qdamo_usage_error(err, cmd, "unexpected argument '%s'", argv[1]);
	if (opt_min_nr < 1)
		return qdamo_usage_error(err, cmd, "--min-nr-accesses must be at least 1");
	if (opt_width < 1 || opt_width > 1000)
		return qdamo_usage_error(err, cmd, "--width must be 1 to 1000");
	if (opt_json && opt_input)
		return qdamo_usage_error(err, cmd, "--json shows QEMU's reply; it "
					 "does not go with --input");
	pcts = wanted_percentiles(err);
	if (!pcts)
		return FALSE;
	ok = opt_input ? from_record(&d, pcts, err) : from_qemu(&d, pcts, err);
	if (ok && d.points)
		print_dist(&d);
	dist_clear(&d);
	return ok;
}
