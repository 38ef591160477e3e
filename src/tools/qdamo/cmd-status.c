// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-status.c - qdamo status: query-damon as a table, one monitor a
 * line, like "damo status" gives the kdamonds.
 */
#include <stdio.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "record-file.h"
#include "table.h"

static const QdamoOptDef opts_status[] = {
	QDAMO_OPT_JSON("query-damon's"),
	QDAMO_OPT_RAW("bare numbers: bytes, microseconds, nanoseconds of CPU"),
	{ NULL }
};

/*
 * An interval in force: the tuner's when intervals-goal tunes them
 * ("12.5 ms auto"), else the attribute set.
 */
static char *interval_cell(JsonObject *m, JsonObject *attrs, const char *member,
			   gboolean raw)
{
	JsonObject *tuning = json_object_has_member(m, "intervals-tuning") ?
		qdamo_json_obj(m, "intervals-tuning") : NULL;
	g_autofree char *text = NULL;

	if (!tuning)
		return qdamo_fmt_duration_us(qdamo_json_u64(attrs, member, 0), raw);
	text = qdamo_fmt_duration_us(qdamo_json_u64(tuning, member, 0), raw);
	return g_strdup_printf("%s auto", text);
}

static char **monitor_row(JsonObject *m, gboolean raw)
{
	JsonObject *a = qdamo_json_obj(m, "attrs");
	const char *state = qdamo_json_str(m, "state", "?");
	uint64_t cpu_ns = qdamo_json_u64(m, "cpu-ns", 0);
	char **row = g_new0(char *, 12);

	row[0] = g_strdup(qdamo_json_str(m, "id", "?"));
	row[1] = json_object_has_member(m, "stop-reason") ?
		g_strdup_printf("%s (%s)", state, qdamo_json_str(m, "stop-reason", "?")) :
		g_strdup(state);
	/* "tcg-accessed+dirty-bitmap" with a write source */
	row[2] = qdamo_monitor_sources(m);
	row[3] = g_strdup(qdamo_json_str(m, "clock", "?"));
	row[4] = interval_cell(m, a, "sample-us", raw);
	row[5] = interval_cell(m, a, "aggr-us", raw);
	row[6] = qdamo_fmt_duration_us(qdamo_json_u64(a, "update-us", 0), raw);
	row[7] = g_strdup_printf("%" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
				 "..%" G_GUINT64_FORMAT ")",
				 qdamo_json_u64(m, "nr-regions", 0),
				 qdamo_json_u64(a, "min-nr-regions", 0),
				 qdamo_json_u64(a, "max-nr-regions", 0));
	row[8] = qdamo_fmt_size(qdamo_json_u64(m, "monitored-bytes", 0), raw);
	row[9] = g_strdup_printf("%" G_GUINT64_FORMAT,
				 qdamo_json_u64(m, "nr-aggregations", 0));
	row[10] = raw ? g_strdup_printf("%" G_GUINT64_FORMAT, cpu_ns) :
		g_strdup_printf("%.2f s", cpu_ns / 1e9);
	return row;
}

static gboolean cmd_status(const QdamoCmd *cmd, GError **err)
{
	static const char *const headers[] = { "ID", "STATE", "SOURCE", "CLOCK",
		"SAMPLE", "AGGR", "UPDATE", "REGIONS", "MONITORED",
		"AGGREGATIONS", "CPU", NULL };
	g_autoptr(QdamoTable) tb = qdamo_table_new(headers, "llllrrrrrrr");
	g_autoptr(QdamoTarget) t = qdamo_open_target(cmd, err);
	g_autoptr(JsonNode) ret = NULL;
	const char *id = qdamo_cmd_str(cmd, "id");
	gboolean printed;
	JsonArray *list;
	guint i, shown = 0;

	ret = qdamo_query(cmd, t, "query-damon", NULL, &printed, err);
	if (!ret)
		return printed;
	if (!qdamo_json_check(ret, JSON_NODE_ARRAY, err,
			      "query-damon: %s returned no list", t->label))
		return FALSE;
	list = json_node_get_array(ret);
	for (i = 0; i < json_array_get_length(list); i++) {
		JsonObject *m = json_array_get_object_element(list, i);

		if (id && g_strcmp0(qdamo_json_str(m, "id", ""), id))
			continue;
		qdamo_table_add_strv(tb, monitor_row(m, qdamo_cmd_flag(cmd, "raw")));
		shown++;
	}
	if (!shown && id) {
		/* the error naming the monitors there are */
		g_autoptr(JsonObject) m = qdamo_find_monitor(t, id, err);

		return m != NULL;
	}
	if (!shown)
		printf("no DAMON monitor on %s; start one with 'qdamo start'\n", t->label);
	else
		qdamo_table_print(tb, stdout);
	return TRUE;
}

static const QdamoCmdInfo info_status = {
	.help = "list the monitors (query-damon)",
	.desc = "With --id, only that monitor is listed.",
};

const QdamoCmdDef qdamo_cmddef_status = {
	.name = "status", .info = &info_status, .opts = opts_status, .handler = cmd_status,
};
