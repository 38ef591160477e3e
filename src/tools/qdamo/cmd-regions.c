// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-regions.c - qdamo report regions: one aggregated snapshot as a
 * table (start, end, size, access rate, Hz, age), from
 * query-damon-regions or from a record file.
 *
 * Rates and ages are derived from nr-accesses and age with the
 * monitor's intervals, as QEMU derives access-rate-percent, access-hz
 * and age-ms, so a record file gives the same table QEMU would have.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "record-file.h"
#include "table.h"

static char *opt_input, *opt_sort;
static gint opt_snapshot = -1, opt_top;
static gboolean opt_raw, opt_json, opt_hot;

static const GOptionEntry entries[] = {
	{ "input", 'I', 0, G_OPTION_ARG_FILENAME, &opt_input,
	  "read a snapshot of this record file instead of asking QEMU", "FILE" },
	{ "snapshot", 0, 0, G_OPTION_ARG_INT, &opt_snapshot,
	  "with --input, which snapshot (0 is the first; default the last)", "N" },
	{ "sort", 0, 0, G_OPTION_ARG_STRING, &opt_sort,
	  "order: address (default), access, size or age", "KEY" },
	{ "top", 'n', 0, G_OPTION_ARG_INT, &opt_top,
	  "show only the first N rows after sorting", "N" },
	{ "hot", 0, 0, G_OPTION_ARG_NONE, &opt_hot,
	  "only the regions accessed in the aggregation", NULL },
	{ "raw", 0, 0, G_OPTION_ARG_NONE, &opt_raw,
	  "bare numbers: decimal addresses, bytes, milliseconds", NULL },
	{ "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json,
	  "print query-damon-regions' reply as it came", NULL },
	{ NULL }
};

static gint by_access(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;

	if (x->nr_accesses != y->nr_accesses)
		return x->nr_accesses < y->nr_accesses ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

static gint by_size(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;
	uint64_t sx = x->end - x->start, sy = y->end - y->start;

	if (sx != sy)
		return sx < sy ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

static gint by_age(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;

	if (x->age != y->age)
		return x->age < y->age ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

static char *fmt_addr(uint64_t a)
{
	return opt_raw ? g_strdup_printf("%" PRIu64, a) :
			 g_strdup_printf("0x%012" PRIx64, a);
}

static void print_snapshot(const QdamoSnapshot *s, uint64_t aggr_us,
			   const char *what)
{
	static const char *const headers[] = { "START", "END", "SIZE",
		"ACCESS", "HZ", "AGE", NULL };
	g_autoptr(QdamoTable) tb = qdamo_table_new(headers, "llrrrr");
	g_autoptr(GArray) rows = g_array_copy(s->regions);
	g_autofree char *total = qdamo_fmt_size(s->total_bytes, opt_raw);
	guint i, shown = 0;

	if (!g_strcmp0(opt_sort, "access"))
		g_array_sort(rows, by_access);
	else if (!g_strcmp0(opt_sort, "size"))
		g_array_sort(rows, by_size);
	else if (!g_strcmp0(opt_sort, "age"))
		g_array_sort(rows, by_age);
	printf("# %s: aggregation %" G_GUINT64_FORMAT ", %u regions, %s, "
	       "max-nr-accesses %u\n", what, s->nr_aggregations, s->regions->len,
	       total, s->max_nr_accesses);
	for (i = 0; i < rows->len; i++) {
		const QdamoRegion *r = &g_array_index(rows, QdamoRegion, i);
		double pct = s->max_nr_accesses ?
			100.0 * r->nr_accesses / s->max_nr_accesses : 0;
		double hz = aggr_us ? r->nr_accesses * 1e6 / (double)aggr_us : 0;
		uint64_t age_us = (uint64_t)r->age * aggr_us;
		char **row;

		if (opt_hot && !r->nr_accesses)
			continue;
		if (opt_top > 0 && shown >= (guint)opt_top)
			break;
		row = g_new0(char *, 7);
		row[0] = fmt_addr(r->start);
		row[1] = fmt_addr(r->end);
		row[2] = qdamo_fmt_size(r->end - r->start, opt_raw);
		row[3] = opt_raw ? g_strdup_printf("%.1f", pct) :
			 g_strdup_printf("%.0f %%", pct);
		row[4] = g_strdup_printf("%.0f", hz);
		row[5] = opt_raw ? g_strdup_printf("%" PRIu64, age_us / 1000) :
			 qdamo_fmt_duration_us(age_us, FALSE);
		qdamo_table_add_strv(tb, row);
		shown++;
	}
	qdamo_table_print(tb, stdout);
}

static gboolean from_qemu(GError **err)
{
	g_autoptr(QdamoTarget) t = qdamo_open_target(err);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonObject) m = NULL;
	g_autoptr(JsonNode) ret = NULL;
	g_autoptr(QdamoSnapshot) s = NULL;
	g_autofree char *what = NULL;

	if (!t)
		return FALSE;
	json_object_set_string_member(args, "id", qdamo_monitor_id());
	ret = qdamo_execute(t, "query-damon-regions", args, err);
	if (!ret)
		return FALSE;
	if (opt_json) {
		g_autofree char *text = jx_to_string(ret, TRUE);

		printf("%s\n", text);
		return TRUE;
	}
	m = qdamo_find_monitor(t, qdamo_monitor_id(), err);
	if (!m)
		return FALSE;
	s = qdamo_snapshot_from_reply(json_node_get_object(ret), 0);
	what = g_strdup_printf("%s of %s", qdamo_monitor_id(), t->label);
	if (!s->nr_aggregations) {
		printf("# %s: no aggregation yet\n", what);
		return TRUE;
	}
	print_snapshot(s, jx_u64(jx_obj(m, "attrs"), "aggr-us", 0), what);
	return TRUE;
}

static gboolean from_record(GError **err)
{
	g_autoptr(QdamoRecord) rec = qdamo_record_load(opt_input, err);
	g_autofree char *what = NULL;
	guint n;

	if (!rec)
		return FALSE;
	n = rec->snapshots->len;
	if (!n) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "%s has no snapshot",
			    opt_input);
		return FALSE;
	}
	if (opt_snapshot >= (gint)n) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "--snapshot must be 0 to %u for %s", n - 1, opt_input);
		return FALSE;
	}
	what = g_strdup_printf("%s of %s (%s, snapshot %u of %u)", rec->monitor_id,
			       rec->target_name, opt_input,
			       opt_snapshot >= 0 ? (guint)opt_snapshot : n - 1, n);
	print_snapshot(g_ptr_array_index(rec->snapshots,
					 opt_snapshot >= 0 ? (guint)opt_snapshot : n - 1),
		       rec->aggr_us, what);
	return TRUE;
}

gboolean qdamo_cmd_report_regions(const QdamoCommand *cmd, int argc,
				  char **argv, GError **err)
{
	if (!qdamo_parse_options(cmd, entries,
				 "ACCESS is nr-accesses over its most (aggr / sample), HZ "
				 "accessed samples a second,\nAGE how long the region's access "
				 "rate stayed similar.", &argc, &argv, err))
		return FALSE;
	if (argc > 1)
		return qdamo_usage_error(err, cmd, "unexpected argument '%s'", argv[1]);
	if (opt_sort && strcmp(opt_sort, "address") && strcmp(opt_sort, "access") &&
	    strcmp(opt_sort, "size") && strcmp(opt_sort, "age"))
		return qdamo_usage_error(err, cmd, "--sort must be address, access, "
					 "size or age (got '%s')", opt_sort);
	if (opt_snapshot >= 0 && !opt_input)
		return qdamo_usage_error(err, cmd, "--snapshot needs --input");
	if (opt_json && opt_input)
		return qdamo_usage_error(err, cmd, "--json shows QEMU's reply; it "
					 "does not go with --input");
	return opt_input ? from_record(err) : from_qemu(err);
}
