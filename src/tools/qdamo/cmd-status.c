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
#include "table.h"

static gboolean opt_json, opt_raw;

static const GOptionEntry entries[] = {
	{ "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json,
	  "print query-damon's reply as it came", NULL },
	{ "raw", 0, 0, G_OPTION_ARG_NONE, &opt_raw,
	  "bare numbers: bytes, microseconds, nanoseconds of CPU", NULL },
	{ NULL }
};

static char **monitor_row(JsonObject *m)
{
	JsonObject *a = jx_obj(m, "attrs");
	const char *state = jx_str(m, "state", "?");
	char **row = g_new0(char *, 12);

	row[0] = g_strdup(jx_str(m, "id", "?"));
	row[1] = json_object_has_member(m, "stop-reason") ?
		g_strdup_printf("%s (%s)", state, jx_str(m, "stop-reason", "?")) :
		g_strdup(state);
	row[2] = g_strdup(jx_str(m, "source", "?"));
	row[3] = g_strdup(jx_str(m, "clock", "?"));
	row[4] = qdamo_fmt_duration_us(jx_u64(a, "sample-us", 0), opt_raw);
	row[5] = qdamo_fmt_duration_us(jx_u64(a, "aggr-us", 0), opt_raw);
	row[6] = qdamo_fmt_duration_us(jx_u64(a, "update-us", 0), opt_raw);
	row[7] = g_strdup_printf("%" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
				 "..%" G_GUINT64_FORMAT ")",
				 jx_u64(m, "nr-regions", 0),
				 jx_u64(a, "min-nr-regions", 0),
				 jx_u64(a, "max-nr-regions", 0));
	row[8] = qdamo_fmt_size(jx_u64(m, "monitored-bytes", 0), opt_raw);
	row[9] = g_strdup_printf("%" G_GUINT64_FORMAT, jx_u64(m, "nr-aggregations", 0));
	row[10] = opt_raw ?
		g_strdup_printf("%" G_GUINT64_FORMAT, jx_u64(m, "cpu-ns", 0)) :
		g_strdup_printf("%.2f s", jx_u64(m, "cpu-ns", 0) / 1e9);
	return row;
}

gboolean qdamo_cmd_status(const QdamoCommand *cmd, int argc, char **argv,
			  GError **err)
{
	static const char *const headers[] = { "ID", "STATE", "SOURCE", "CLOCK",
		"SAMPLE", "AGGR", "UPDATE", "REGIONS", "MONITORED",
		"AGGREGATIONS", "CPU", NULL };
	g_autoptr(QdamoTable) tb = NULL;
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonNode) ret = NULL;
	JsonArray *list;
	guint i, shown = 0;

	if (!qdamo_parse_options(cmd, entries,
				 "With --id, only that monitor is listed.",
				 &argc, &argv, err))
		return FALSE;
	if (argc > 1)
		return qdamo_usage_error(err, cmd, "unexpected argument '%s'", argv[1]);
	t = qdamo_open_target(err);
	if (!t)
		return FALSE;
	ret = qdamo_execute(t, "query-damon", NULL, err);
	if (!ret)
		return FALSE;
	if (opt_json) {
		g_autofree char *text = jx_to_string(ret, TRUE);

		printf("%s\n", text);
		return TRUE;
	}
	if (!JSON_NODE_HOLDS_ARRAY(ret)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "query-damon: %s returned no list", t->label);
		return FALSE;
	}
	list = json_node_get_array(ret);
	tb = qdamo_table_new(headers, "llllrrrrrrr");
	for (i = 0; i < json_array_get_length(list); i++) {
		JsonObject *m = json_array_get_object_element(list, i);

		if (qdamo_opt_id && g_strcmp0(jx_str(m, "id", ""), qdamo_opt_id))
			continue;
		qdamo_table_add_strv(tb, monitor_row(m));
		shown++;
	}
	if (!shown) {
		if (qdamo_opt_id)
			return !!qdamo_find_monitor(t, qdamo_opt_id, err);
		printf("no DAMON monitor on %s; start one with 'qdamo start'\n",
		       t->label);
		return TRUE;
	}
	qdamo_table_print(tb, stdout);
	return TRUE;
}
