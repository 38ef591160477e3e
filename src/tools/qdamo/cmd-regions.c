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

static const QdamoOptDef opts_regions[] = {
	QDAMO_OPT_INPUT("read a snapshot of this record file instead of asking QEMU"),
	{ .name = "snapshot", .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "with --input, which snapshot (0 is the first; default the last)" },
	{ .name = "sort", .type = QDAMO_OPT_STRING, .value_name = "KEY",
	  .help = "order: address (default), access, writes, size or age" },
	{ .name = "top", .short_name = 'n', .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "show only the first N rows after sorting" },
	{ .name = "hot", .type = QDAMO_OPT_FLAG,
	  .help = "only the regions accessed in the aggregation" },
	QDAMO_OPT_RAW("bare numbers: decimal addresses, bytes, milliseconds"),
	QDAMO_OPT_JSON("query-damon-regions'"),
	{ NULL }
};

static gint by_size(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;
	uint64_t sx = x->end - x->start, sy = y->end - y->start;

	if (sx != sy)
		return sx < sy ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

static gint by_writes(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;

	if (x->nr_writes != y->nr_writes)
		return x->nr_writes < y->nr_writes ? 1 : -1;
	return qdamo_region_cmp_access(a, b);
}

static gint by_age(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;

	if (x->age != y->age)
		return x->age < y->age ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

/* --sort's keys; address is the snapshot's own order */
static const struct {
	const char *key;
	GCompareFunc cmp;
} sorts[] = {
	{ "address", NULL }, { "access", qdamo_region_cmp_access },
	{ "writes", by_writes }, { "size", by_size }, { "age", by_age },
};

static char **region_row(const QdamoSnapshot *s, const QdamoRegion *r,
			 uint64_t aggr_us, gboolean raw)
{
	double pct = s->max_nr_accesses ? 100.0 * r->nr_accesses / s->max_nr_accesses : 0;
	double hz = aggr_us ? r->nr_accesses * 1e6 / (double)aggr_us : 0;
	uint64_t age_us = (uint64_t)r->age * aggr_us;
	char **row = g_new0(char *, 8);
	guint k = 4;

	row[0] = raw ? g_strdup_printf("%" PRIu64, r->start) :
		 g_strdup_printf("0x%012" PRIx64, r->start);
	row[1] = raw ? g_strdup_printf("%" PRIu64, r->end) :
		 g_strdup_printf("0x%012" PRIx64, r->end);
	row[2] = qdamo_fmt_size(r->end - r->start, raw);
	row[3] = raw ? g_strdup_printf("%.1f", pct) : g_strdup_printf("%.0f %%", pct);
	if (s->has_writes) {
		/* WRITES: the write samples over the most, as ACCESS */
		double wpct = s->max_nr_accesses ?
			100.0 * r->nr_writes / s->max_nr_accesses : 0;

		row[k++] = raw ? g_strdup_printf("%.1f", wpct) :
			   g_strdup_printf("%.0f %%", wpct);
	}
	row[k++] = g_strdup_printf("%.0f", hz);
	row[k++] = raw ? g_strdup_printf("%" PRIu64, age_us / 1000) :
		   qdamo_fmt_duration_us(age_us, FALSE);
	return row;
}

static void print_snapshot(const QdamoCmd *cmd, const QdamoSnapshot *s,
			   uint64_t aggr_us, const char *what)
{
	static const char *const headers[] = { "START", "END", "SIZE",
		"ACCESS", "HZ", "AGE", NULL };
	static const char *const headers_w[] = { "START", "END", "SIZE",
		"ACCESS", "WRITES", "HZ", "AGE", NULL };
	gboolean raw = qdamo_cmd_flag(cmd, "raw"), hot = qdamo_cmd_flag(cmd, "hot");
	const char *sort = qdamo_cmd_str(cmd, "sort");
	g_autoptr(QdamoTable) tb = s->has_writes ?
		qdamo_table_new(headers_w, "llrrrrr") : qdamo_table_new(headers, "llrrrr");
	g_autoptr(GArray) rows = g_array_copy(s->regions);
	g_autofree char *total = qdamo_fmt_size(s->total_bytes, raw);
	gint64 top = 0;
	guint i, shown = 0;

	qdamo_cmd_int(cmd, "top", &top);
	for (i = 0; i < G_N_ELEMENTS(sorts); i++)
		if (!g_strcmp0(sort, sorts[i].key) && sorts[i].cmp)
			g_array_sort(rows, sorts[i].cmp);
	printf("# %s: aggregation %" G_GUINT64_FORMAT ", %u regions, %s, "
	       "max-nr-accesses %u\n", what, s->nr_aggregations, s->regions->len,
	       total, s->max_nr_accesses);
	for (i = 0; i < rows->len; i++) {
		const QdamoRegion *r = &g_array_index(rows, QdamoRegion, i);

		if (hot && !r->nr_accesses)
			continue;
		if (top > 0 && shown >= (guint64)top)
			break;
		qdamo_table_add_strv(tb, region_row(s, r, aggr_us, raw));
		shown++;
	}
	qdamo_table_print(tb, stdout);
}

static gboolean from_qemu(const QdamoCmd *cmd, GError **err)
{
	const char *id = qdamo_monitor_id(cmd);
	g_autoptr(QdamoTarget) t = qdamo_open_target(cmd, err);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonObject) m = NULL;
	g_autoptr(JsonNode) ret = NULL;
	g_autoptr(QdamoSnapshot) s = NULL;
	g_autofree char *what = NULL;
	gboolean printed;

	json_object_set_string_member(args, "id", id);
	ret = qdamo_query(cmd, t, "query-damon-regions", args, &printed, err);
	if (!ret)
		return printed;
	m = qdamo_find_monitor(t, id, err);
	if (!m)
		return FALSE;
	s = qdamo_snapshot_from_reply(json_node_get_object(ret), 0);
	what = g_strdup_printf("%s of %s", id, t->label);
	if (!s->nr_aggregations)
		printf("# %s: no aggregation yet\n", what);
	else
		print_snapshot(cmd, s, qdamo_json_u64(qdamo_json_obj(m, "attrs"),
						      "aggr-us", 0), what);
	return TRUE;
}

static gboolean from_record(const QdamoCmd *cmd, const char *path, GError **err)
{
	g_autoptr(QdamoRecord) rec = qdamo_record_load(path, err);
	g_autofree char *what = NULL;
	gint64 k = -1;
	guint n;

	if (!rec)
		return FALSE;
	n = rec->snapshots->len;
	if (!n) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "%s has no snapshot", path);
		return FALSE;
	}
	qdamo_cmd_int(cmd, "snapshot", &k);
	if (k >= (gint64)n) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "--snapshot must be 0 to %u for %s", n - 1, path);
		return FALSE;
	}
	if (k < 0)
		k = n - 1;
	what = g_strdup_printf("%s of %s (%s, snapshot %u of %u)", rec->monitor_id,
			       rec->target_name, path, (guint)k, n);
	print_snapshot(cmd, g_ptr_array_index(rec->snapshots, (guint)k),
		       rec->aggr_us, what);
	return TRUE;
}

static gboolean cmd_regions(const QdamoCmd *cmd, GError **err)
{
	const char *input = qdamo_cmd_str(cmd, "input");
	const char *sort = qdamo_cmd_str(cmd, "sort");
	gint64 k = -1;
	guint i;

	for (i = 0; sort && i < G_N_ELEMENTS(sorts); i++)
		if (!strcmp(sort, sorts[i].key))
			break;
	if (sort && i == G_N_ELEMENTS(sorts))
		return qdamo_usage_error(err, cmd, "--sort must be address, access, "
					 "writes, size or age (got '%s')", sort);
	if (qdamo_cmd_int(cmd, "snapshot", &k) && k >= 0 && !input)
		return qdamo_usage_error(err, cmd, "--snapshot needs --input");
	if (qdamo_cmd_flag(cmd, "json") && input)
		return qdamo_usage_error(err, cmd, "--json shows QEMU's reply; it "
					 "does not go with --input");
	return input ? from_record(cmd, input, err) : from_qemu(cmd, err);
}

static const QdamoCmdInfo info_regions = {
	.help = "the last aggregated snapshot (query-damon-regions, or a record file)",
	.desc = "ACCESS is nr-accesses over its most (aggr / sample), HZ accessed "
		"samples a second,\nAGE how long the region's access rate stayed similar.  "
		"WRITES, shown when the\nmonitor has a write source (or the record "
		"file has write counts), is nr-writes\nover the same most; --sort "
		"writes puts the most written first.",
};

const QdamoCmdDef qdamo_cmddef_report_regions = {
	.name = "regions", .info = &info_regions, .opts = opts_regions, .handler = cmd_regions,
};
