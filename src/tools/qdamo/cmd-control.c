// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-control.c - qdamo start, stop and tune: the options become the
 * arguments of damon-start, damon-stop and damon-tune.
 *
 * Option names follow damo's (--sample, --aggr, --updr, --minr, --maxr,
 * --nr-regions MIN,MAX, --regions) so that a damo command line carries
 * over; the values are checked by QEMU, whose errors name the argument
 * and its range, so qdamo only checks what it must parse.
 */
#include <stdio.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"

static char *opt_sample, *opt_aggr, *opt_update, *opt_nr_regions;
static char *opt_regions, *opt_source, *opt_clock;
static gint64 opt_min_nr = -1, opt_max_nr = -1;

#define INTERVAL_ENTRIES \
	{ "sample", 's', 0, G_OPTION_ARG_STRING, &opt_sample, \
	  "sampling interval, e.g. 5ms (QEMU's default 5ms)", "TIME" }, \
	{ "aggr", 'a', 0, G_OPTION_ARG_STRING, &opt_aggr, \
	  "aggregation interval, e.g. 100ms (default 100ms)", "TIME" }, \
	{ "update", 'u', 0, G_OPTION_ARG_STRING, &opt_update, \
	  "interval at which the monitored ranges follow guest RAM, " \
	  "e.g. 1s (default 1s)", "TIME" }, \
	{ "updr", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &opt_update, \
	  "damo's name for --update", "TIME" }, \
	{ "min-nr-regions", 0, 0, G_OPTION_ARG_INT64, &opt_min_nr, \
	  "minimum number of regions (default 10)", "N" }, \
	{ "minr", 'n', G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT64, &opt_min_nr, \
	  "damo's name for --min-nr-regions", "N" }, \
	{ "max-nr-regions", 0, 0, G_OPTION_ARG_INT64, &opt_max_nr, \
	  "maximum number of regions (default 1000)", "N" }, \
	{ "maxr", 'm', G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT64, &opt_max_nr, \
	  "damo's name for --max-nr-regions", "N" }, \
	{ "nr-regions", 0, 0, G_OPTION_ARG_STRING, &opt_nr_regions, \
	  "both limits at once, as damo's --monitoring_nr_regions_range", \
	  "MIN,MAX" }

static const GOptionEntry start_entries[] = {
	INTERVAL_ENTRIES,
	{ "source", 0, 0, G_OPTION_ARG_STRING, &opt_source,
	  "what counts as an access: dirty-bitmap, page-hash or dirty-ring "
	  "(default: QEMU's choice)", "SOURCE" },
	{ "regions", 'r', 0, G_OPTION_ARG_STRING, &opt_regions,
	  "guest-physical ranges to monitor, sorted (default all guest RAM), "
	  "e.g. 16M-48M,1G-2G", "START-END,..." },
	{ "clock", 0, 0, G_OPTION_ARG_STRING, &opt_clock,
	  "realtime (default) or virtual (QEMU's virtual clock)", "CLOCK" },
	{ NULL }
};

static const GOptionEntry tune_entries[] = {
	INTERVAL_ENTRIES,
	{ NULL }
};

static const char units_help[] =
	"TIME is a number with a unit: ns, us, ms, s, m or h (5ms, 1.5s); a bare\n"
	"number is microseconds.  Sizes and addresses take K, M, G or T (binary)\n"
	"and 0x for hex.  Unset values keep QEMU's defaults (start) or the\n"
	"monitor's current ones (tune).";

static gboolean set_duration(JsonObject *args, const char *member,
			     const char *text, GError **err)
{
	uint64_t us;

	if (!text)
		return TRUE;
	if (!qdamo_parse_duration_us(text, &us, err))
		return FALSE;
	json_object_set_int_member(args, member, (gint64)us);
	return TRUE;
}

/* The options shared by start and tune, as damon-start/-tune arguments. */
static gboolean interval_args(const QdamoCommand *cmd, JsonObject *args,
			      GError **err)
{
	if (!set_duration(args, "sample-us", opt_sample, err) ||
	    !set_duration(args, "aggr-us", opt_aggr, err) ||
	    !set_duration(args, "update-us", opt_update, err))
		return FALSE;
	if (opt_nr_regions) {
		uint64_t lo, hi;

		if (opt_min_nr >= 0 || opt_max_nr >= 0)
			return qdamo_usage_error(err, cmd, "give --nr-regions or "
						 "--min/max-nr-regions, not both");
		if (!qdamo_parse_pair(opt_nr_regions, &lo, &hi, err))
			return FALSE;
		opt_min_nr = (gint64)lo;
		opt_max_nr = (gint64)hi;
	}
	if (opt_min_nr > G_MAXUINT32 || opt_max_nr > G_MAXUINT32)
		return qdamo_usage_error(err, cmd, "region counts must fit in 32 bits");
	if (opt_min_nr >= 0)
		json_object_set_int_member(args, "min-nr-regions", opt_min_nr);
	if (opt_max_nr >= 0)
		json_object_set_int_member(args, "max-nr-regions", opt_max_nr);
	return TRUE;
}

static gboolean no_positionals(const QdamoCommand *cmd, int argc, char **argv,
			       GError **err)
{
	if (argc > 1)
		return qdamo_usage_error(err, cmd, "unexpected argument '%s'", argv[1]);
	return TRUE;
}

static gboolean regions_arg(JsonObject *args, GError **err)
{
	g_autoptr(GArray) ranges = NULL;
	JsonArray *list;
	guint i;

	if (!opt_regions)
		return TRUE;
	ranges = qdamo_parse_ranges(opt_regions, err);
	if (!ranges)
		return FALSE;
	list = json_array_new();
	for (i = 0; i < ranges->len; i++) {
		QdamoRange *r = &g_array_index(ranges, QdamoRange, i);
		JsonObject *o = json_object_new();

		json_object_set_int_member(o, "start", (gint64)r->start);
		json_object_set_int_member(o, "end", (gint64)r->end);
		json_array_add_object_element(list, o);
	}
	json_object_set_array_member(args, "regions", list);
	return TRUE;
}

gboolean qdamo_cmd_start(const QdamoCommand *cmd, int argc, char **argv,
			 GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonNode) ret = NULL;
	g_autoptr(JsonObject) m = NULL;
	g_autofree char *sample = NULL, *aggr = NULL, *mon = NULL;
	JsonObject *attrs;

	if (!qdamo_parse_options(cmd, start_entries, units_help, &argc, &argv, err) ||
	    !no_positionals(cmd, argc, argv, err) ||
	    !interval_args(cmd, args, err) || !regions_arg(args, err))
		return FALSE;
	json_object_set_string_member(args, "id", qdamo_monitor_id());
	if (opt_source)
		json_object_set_string_member(args, "source", opt_source);
	if (opt_clock)
		json_object_set_string_member(args, "clock", opt_clock);
	t = qdamo_open_target(err);
	if (!t)
		return FALSE;
	ret = qdamo_execute(t, "damon-start", args, err);
	if (!ret)
		return FALSE;
	/* Say what QEMU chose for what was left out */
	m = qdamo_find_monitor(t, qdamo_monitor_id(), err);
	if (!m)
		return FALSE;
	attrs = jx_obj(m, "attrs");
	sample = qdamo_fmt_duration_us(jx_u64(attrs, "sample-us", 0), FALSE);
	aggr = qdamo_fmt_duration_us(jx_u64(attrs, "aggr-us", 0), FALSE);
	mon = qdamo_fmt_size(jx_u64(m, "monitored-bytes", 0), FALSE);
	printf("started %s on %s: source %s, clock %s, sample %s, aggr %s, "
	       "regions %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ", %s monitored\n",
	       qdamo_monitor_id(), t->label, jx_str(m, "source", "?"),
	       jx_str(m, "clock", "?"), sample, aggr,
	       jx_u64(attrs, "min-nr-regions", 0), jx_u64(attrs, "max-nr-regions", 0),
	       mon);
	return TRUE;
}

gboolean qdamo_cmd_stop(const QdamoCommand *cmd, int argc, char **argv,
			GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonNode) ret = NULL;

	if (!qdamo_parse_options(cmd, NULL, NULL, &argc, &argv, err) ||
	    !no_positionals(cmd, argc, argv, err))
		return FALSE;
	t = qdamo_open_target(err);
	if (!t)
		return FALSE;
	json_object_set_string_member(args, "id", qdamo_monitor_id());
	ret = qdamo_execute(t, "damon-stop", args, err);
	if (!ret)
		return FALSE;
	printf("stopped %s on %s\n", qdamo_monitor_id(), t->label);
	return TRUE;
}

gboolean qdamo_cmd_tune(const QdamoCommand *cmd, int argc, char **argv,
			GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonNode) ret = NULL;

	if (!qdamo_parse_options(cmd, tune_entries, units_help, &argc, &argv, err) ||
	    !no_positionals(cmd, argc, argv, err) ||
	    !interval_args(cmd, args, err))
		return FALSE;
	if (json_object_get_size(args) == 0)
		return qdamo_usage_error(err, cmd, "nothing to change: give --sample, "
					 "--aggr, --update or region limits");
	json_object_set_string_member(args, "id", qdamo_monitor_id());
	t = qdamo_open_target(err);
	if (!t)
		return FALSE;
	ret = qdamo_execute(t, "damon-tune", args, err);
	if (!ret)
		return FALSE;
	printf("tuned %s on %s\n", qdamo_monitor_id(), t->label);
	return TRUE;
}
