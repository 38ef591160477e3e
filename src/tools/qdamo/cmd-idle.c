// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-idle.c - qdamo report idle: the idle-age histogram of
 * query-damon-idle, a bin a line: how much guest memory has gone how
 * long without being accessed.  QEMU makes the histogram from its
 * regions' ages, so a guest needs no driver for it.
 */
#include <stdio.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "table.h"

#define MAX_BINS 32

static const QdamoOptDef opts_idle[] = {
	{ .name = "bins", .short_name = 'b', .type = QDAMO_OPT_STRING,
	  .value_name = "T,T,...",
	  .help = "upper bounds of the bins, strictly increasing, 1 to 32 of them "
		  "(default 1s,10s,60s,300s; a bare number is ms); one more bin "
		  "holds the older" },
	QDAMO_OPT_RAW("sizes in bytes"),
	QDAMO_OPT_JSON("query-damon-idle's"),
	{ NULL }
};

/* --bins into a JSON array of milliseconds; NULL with err if bad. */
static JsonArray *parse_bins(const QdamoCmd *cmd, const char *text, GError **err)
{
	g_auto(GStrv) words = g_strsplit(text, ",", -1);
	g_autoptr(JsonArray) list = json_array_new();
	uint64_t prev = 0, ms;
	guint i;

	for (i = 0; words[i]; i++) {
		g_autoptr(GError) local = NULL;

		if (i == MAX_BINS) {
			qdamo_usage_error(err, cmd, "--bins: at most %d bounds (got %u)",
					  MAX_BINS, g_strv_length(words));
			return NULL;
		}
		if (!qdamo_parse_duration_ms(g_strstrip(words[i]), &ms, &local)) {
			qdamo_usage_error(err, cmd, "--bins: %s", local->message);
			return NULL;
		}
		if (ms < 1 || (i && ms <= prev)) {
			qdamo_usage_error(err, cmd, "--bins must be strictly increasing "
					  "and at least 1ms ('%s')", words[i]);
			return NULL;
		}
		prev = ms;
		json_array_add_int_element(list, (gint64)ms);
	}
	return g_steal_pointer(&list);
}

/* "<= 1 s", "> 5 min" for the open bin after a bound of 5 min */
static char *bin_label(JsonObject *bin, uint64_t prev_ms, gboolean raw)
{
	if (json_object_has_member(bin, "max-age-ms")) {
		g_autofree char *d = qdamo_fmt_duration_us(
			qdamo_json_u64(bin, "max-age-ms", 0) * 1000, raw);

		return g_strdup_printf("<= %s", d);
	} else {
		g_autofree char *d = qdamo_fmt_duration_us(prev_ms * 1000, raw);

		return g_strdup_printf("> %s", d);
	}
}

static void add_row(QdamoTable *tb, const char *label, uint64_t bytes,
		    uint64_t total, gboolean raw)
{
	g_autofree char *sz = qdamo_fmt_size(bytes, raw);
	g_autofree char *mib = g_strdup_printf("%.1f", bytes / 1048576.0);
	g_autofree char *pct = g_strdup_printf("%.1f", total ? 100.0 * bytes / total : 0.0);

	qdamo_table_add(tb, label, sz, mib, pct, NULL);
}

static gboolean cmd_idle(const QdamoCmd *cmd, GError **err)
{
	static const char *const headers[] = { "IDLE", "BYTES", "MIB", "%TOTAL", NULL };
	const char *text = qdamo_cmd_str(cmd, "bins");
	gboolean raw = qdamo_cmd_flag(cmd, "raw"), printed;
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonNode) ret = NULL;
	g_autoptr(QdamoTable) tb = NULL;
	g_autofree char *total_s = NULL;
	JsonObject *o;
	JsonArray *bins;
	uint64_t total, prev = 0;
	guint i;

	json_object_set_string_member(args, "id", qdamo_monitor_id(cmd));
	if (text) {
		JsonArray *list = parse_bins(cmd, text, err);

		if (!list)
			return FALSE;
		json_object_set_array_member(args, "bins-ms", list);
	}
	t = qdamo_open_target(cmd, err);
	ret = qdamo_query(cmd, t, "query-damon-idle", args, &printed, err);
	if (!ret)
		return printed;
	o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
	bins = qdamo_json_array(o, "bins");
	if (!bins) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "query-damon-idle: no bins in the reply of %s", t->label);
		return FALSE;
	}
	total = qdamo_json_u64(o, "total-bytes", 0);
	total_s = qdamo_fmt_size(total, raw);
	printf("# %s of %s: aggregation %" G_GUINT64_FORMAT ", %s monitored\n",
	       qdamo_monitor_id(cmd), t->label,
	       qdamo_json_u64(o, "nr-aggregations", 0), total_s);
	tb = qdamo_table_new(headers, "lrrr");
	add_row(tb, "accessed", qdamo_json_u64(o, "accessed-bytes", 0), total, raw);
	for (i = 0; i < json_array_get_length(bins); i++) {
		JsonObject *b = json_array_get_object_element(bins, i);
		g_autofree char *label = bin_label(b, prev, raw);

		add_row(tb, label, qdamo_json_u64(b, "bytes", 0), total, raw);
		prev = qdamo_json_u64(b, "max-age-ms", prev);
	}
	qdamo_table_print(tb, stdout);
	return TRUE;
}

static const QdamoCmdInfo info_idle = {
	.help = "idle-age histogram: bytes by how long ago they were last accessed "
		"(query-damon-idle)",
	.desc = "A region is idle when it was not accessed in the last aggregation; "
		"its idle age\nis its age (aggregations since its access pattern "
		"changed) times the\naggregation interval, so the bins are as fine "
		"as one aggregation.  The\n\"accessed\" line holds the regions "
		"accessed in the last aggregation.",
};

const QdamoCmdDef qdamo_cmddef_report_idle = {
	.name = "idle", .info = &info_idle, .opts = opts_idle, .handler = cmd_idle,
};
