// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-control.c - qdamo start, stop and tune: the options become the
 * arguments of damon-start, damon-stop and damon-tune.
 *
 * Option names follow damo's (--sample, --aggr, --updr, --minr, --maxr,
 * --nr-regions MIN,MAX, --regions) so that a damo command line carries
 * over; the values are checked by QEMU, whose errors name the argument
 * and its range, so qdamo only checks what it must parse.
 *
 * start --source idle-page also opens the source's host files and hands
 * them to QEMU first (idle-page.c), so that QEMU needs no privilege.
 *
 * Both take schemes (DAMOS), made from the --scheme-* options or read
 * from --schemes FILE (schemes.c); tune's replace the monitor's.
 */
#include <stdio.h>

#include "error.h"
#include "idle-page.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "record-file.h"
#include "schemes.h"

/* The options start and tune share. */
#define INTERVAL_OPTS \
	{ .name = "sample", .short_name = 's', .type = QDAMO_OPT_STRING, \
	  .value_name = "TIME", \
	  .help = "sampling interval, e.g. 5ms (QEMU's default 5ms)" }, \
	{ .name = "aggr", .short_name = 'a', .type = QDAMO_OPT_STRING, \
	  .value_name = "TIME", \
	  .help = "aggregation interval, e.g. 100ms (default 100ms)" }, \
	{ .name = "update", .short_name = 'u', .type = QDAMO_OPT_STRING, \
	  .value_name = "TIME", \
	  .help = "interval at which the monitored ranges follow guest RAM, " \
		  "e.g. 1s (default 1s)" }, \
	{ .name = "updr", .type = QDAMO_OPT_ALIAS, .alias_of = "update", \
	  .help = "damo's name for --update" }, \
	{ .name = "min-nr-regions", .type = QDAMO_OPT_INT64, .value_name = "N", \
	  .help = "minimum number of regions (default 10)" }, \
	{ .name = "minr", .short_name = 'n', .type = QDAMO_OPT_ALIAS, \
	  .alias_of = "min-nr-regions", .help = "damo's name for --min-nr-regions" }, \
	{ .name = "max-nr-regions", .type = QDAMO_OPT_INT64, .value_name = "N", \
	  .help = "maximum number of regions (default 1000)" }, \
	{ .name = "maxr", .short_name = 'm', .type = QDAMO_OPT_ALIAS, \
	  .alias_of = "max-nr-regions", .help = "damo's name for --max-nr-regions" }, \
	{ .name = "nr-regions", .type = QDAMO_OPT_STRING, .value_name = "MIN,MAX", \
	  .help = "both limits at once, as damo's --monitoring_nr_regions_range" }, \
	{ .name = "intervals-goal", .type = QDAMO_OPT_STRING, \
	  .value_name = "ACCESS,AGGRS[,MIN,MAX]", \
	  .help = "tune the intervals: aim at ACCESS (e.g. 4%) of the possible " \
		  "accesses seen, every AGGRS aggregations, sampling between MIN " \
		  "and MAX (e.g. 4%,3,5ms,10s; AGGRS 0 turns tuning off)" }, \
	{ .name = "monitoring-intervals-goal", .type = QDAMO_OPT_ALIAS, \
	  .alias_of = "intervals-goal", \
	  .help = "damo's name for --intervals-goal" }, \
	{ .name = "max-cpu", .type = QDAMO_OPT_STRING, .value_name = "SHARE", \
	  .help = "with --intervals-goal: the share of one core the monitor may " \
		  "use, 0.1% to 100% (e.g. 1%); the tuner never samples faster" }

/* damon-start/-tune arguments in microseconds, and their options */
static const struct {
	const char *member, *opt;
} durations[] = {
	{ "sample-us", "sample" }, { "aggr-us", "aggr" }, { "update-us", "update" },
};

/* --intervals-goal and --max-cpu as damon-start/-tune's intervals-goal. */
static gboolean goal_arg(const QdamoCmd *cmd, JsonObject *args, GError **err)
{
	const char *text = qdamo_cmd_str(cmd, "intervals-goal");
	const char *cpu = qdamo_cmd_str(cmd, "max-cpu");
	g_auto(GStrv) parts = NULL;
	g_autoptr(JsonObject) goal = NULL;
	uint64_t bp, aggrs, lo, hi, cpu_bp;
	guint n;

	if (!text) {
		if (cpu)
			return qdamo_usage_error(err, cmd, "--max-cpu bounds the tuner: "
						 "give --intervals-goal with it");
		return TRUE;
	}
	parts = g_strsplit(text, ",", -1);
	n = g_strv_length(parts);
	if (n != 2 && n != 4)
		return qdamo_usage_error(err, cmd, "--intervals-goal '%s' is not "
					 "ACCESS,AGGRS[,MIN,MAX] (example: 4%%,3,5ms,10s)",
					 text);
	if (!qdamo_parse_bp(g_strstrip(parts[0]), 10000, &bp, err))
		return FALSE;
	if (!g_ascii_string_to_unsigned(g_strstrip(parts[1]), 10, 0, G_MAXUINT32,
					&aggrs, NULL))
		return qdamo_usage_error(err, cmd, "--intervals-goal: AGGRS '%s' is "
					 "not a number of aggregations", parts[1]);
	goal = json_object_new();
	json_object_set_int_member(goal, "access-bp", (gint64)bp);
	json_object_set_int_member(goal, "aggrs", (gint64)aggrs);
	if (n == 4) {
		if (!qdamo_parse_duration_us(g_strstrip(parts[2]), &lo, err) ||
		    !qdamo_parse_duration_us(g_strstrip(parts[3]), &hi, err))
			return FALSE;
		json_object_set_int_member(goal, "min-sample-us", (gint64)lo);
		json_object_set_int_member(goal, "max-sample-us", (gint64)hi);
	}
	if (cpu) {
		if (!qdamo_parse_bp(cpu, 10000, &cpu_bp, err))
			return FALSE;
		/* QEMU counts permille and says the range */
		json_object_set_int_member(goal, "max-cpu-permille", (gint64)(cpu_bp / 10));
	}
	json_object_set_object_member(args, "intervals-goal", g_steal_pointer(&goal));
	return TRUE;
}

/* The options shared by start and tune, as damon-start/-tune arguments. */
static gboolean interval_args(const QdamoCmd *cmd, JsonObject *args,
			      GError **err)
{
	const char *nr_regions = qdamo_cmd_str(cmd, "nr-regions");
	gint64 min_nr = -1, max_nr = -1;
	uint64_t us, lo, hi;
	guint i;

	for (i = 0; i < G_N_ELEMENTS(durations); i++) {
		const char *text = qdamo_cmd_str(cmd, durations[i].opt);

		if (!text)
			continue;
		if (!qdamo_parse_duration_us(text, &us, err))
			return FALSE;
		json_object_set_int_member(args, durations[i].member, (gint64)us);
	}
	qdamo_cmd_int(cmd, "min-nr-regions", &min_nr);
	qdamo_cmd_int(cmd, "max-nr-regions", &max_nr);
	if (nr_regions) {
		if (min_nr >= 0 || max_nr >= 0)
			return qdamo_usage_error(err, cmd, "give --nr-regions or "
						 "--min/max-nr-regions, not both");
		if (!qdamo_parse_pair(nr_regions, &lo, &hi, err))
			return FALSE;
		min_nr = (gint64)lo;
		max_nr = (gint64)hi;
	}
	if (min_nr > G_MAXUINT32 || max_nr > G_MAXUINT32)
		return qdamo_usage_error(err, cmd, "region counts must fit in 32 bits");
	if (min_nr >= 0)
		json_object_set_int_member(args, "min-nr-regions", min_nr);
	if (max_nr >= 0)
		json_object_set_int_member(args, "max-nr-regions", max_nr);
	return goal_arg(cmd, args, err);
}

static gboolean regions_arg(const QdamoCmd *cmd, JsonObject *args, GError **err)
{
	const char *text = qdamo_cmd_str(cmd, "regions");
	g_autoptr(GArray) ranges = NULL;
	JsonArray *list;
	guint i;

	if (!text)
		return TRUE;
	ranges = qdamo_parse_ranges(text, err);
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

/* Run @command on the monitor with @args; the target, or NULL with err. */
static QdamoTarget *control(const QdamoCmd *cmd, const char *command,
			    JsonObject *args, GError **err)
{
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonNode) ret = NULL;

	json_object_set_string_member(args, "id", qdamo_monitor_id(cmd));
	t = qdamo_open_target(cmd, err);
	if (t)
		ret = qdamo_execute(t, command, args, err);
	return ret ? g_steal_pointer(&t) : NULL;
}

/* ---- start ---- */

static const QdamoOptDef opts_start[] = {
	INTERVAL_OPTS,
	{ .name = "source", .type = QDAMO_OPT_STRING, .value_name = "SOURCE",
	  .help = "what counts as an access: tcg-accessed, idle-page, dirty-bitmap, "
		  "page-hash or dirty-ring (default: QEMU's choice)" },
	{ .name = "write-source", .type = QDAMO_OPT_STRING, .value_name = "SOURCE",
	  .help = "also count writes apart, with dirty-bitmap, page-hash or "
		  "dirty-ring (needs a SOURCE that sees reads)" },
	{ .name = "regions", .short_name = 'r', .type = QDAMO_OPT_STRING,
	  .value_name = "START-END,...",
	  .help = "guest-physical ranges to monitor, sorted (default all guest RAM), "
		  "e.g. 16M-48M,1G-2G" },
	{ .name = "clock", .type = QDAMO_OPT_STRING, .value_name = "CLOCK",
	  .help = "realtime (default) or virtual (QEMU's virtual clock)" },
	{ .name = "split", .type = QDAMO_OPT_STRING, .value_name = "MODE",
	  .help = "where regions split: aimed (default: where the source saw "
		  "accesses land) or random (as Linux)" },
	QDAMO_SCHEME_OPTS,
	{ NULL }
};

/* "2 schemes: pageout, stat" when @args gives schemes */
static void print_schemes(JsonObject *args, const char *verb)
{
	g_autofree char *text = NULL;

	if (!json_object_has_member(args, "schemes"))
		return;
	text = qdamo_schemes_describe(json_object_get_array_member(args, "schemes"));
	printf("%s %s\n", verb, text);
}

/* "intervals tuned toward 4.00% of accesses, ..." when they are */
static void print_goal(JsonObject *m)
{
	JsonObject *tuning, *goal;
	g_autofree char *lo = NULL, *hi = NULL;

	if (!json_object_has_member(m, "intervals-tuning"))
		return;
	tuning = qdamo_json_obj(m, "intervals-tuning");
	goal = qdamo_json_obj(tuning, "goal");
	lo = qdamo_fmt_duration_us(qdamo_json_u64(goal, "min-sample-us", 0), FALSE);
	hi = qdamo_fmt_duration_us(qdamo_json_u64(goal, "max-sample-us", 0), FALSE);
	printf("intervals tuned toward %.2f%% of the possible accesses seen, every %"
	       G_GUINT64_FORMAT " aggregations, sampling %s..%s",
	       qdamo_json_u64(goal, "access-bp", 0) / 100.0,
	       qdamo_json_u64(goal, "aggrs", 0), lo, hi);
	if (json_object_has_member(goal, "max-cpu-permille"))
		printf(", at most %.1f%% of a core",
		       qdamo_json_u64(goal, "max-cpu-permille", 0) / 10.0);
	printf("\n");
}

/*
 * damon-start on a target opened here; for idle-page, the host files
 * go first.  The target, or NULL with err.
 */
static QdamoTarget *start(const QdamoCmd *cmd, JsonObject *args,
			  gboolean idle_page, GError **err)
{
	g_auto(QdamoIdleFiles) files = QDAMO_IDLE_FILES_INIT;
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonNode) ret = NULL;

	json_object_set_string_member(args, "id", qdamo_monitor_id(cmd));
	/* what the host lacks fails before QEMU is asked anything */
	if (idle_page && !qdamo_idle_files_open_host(&files, err))
		return NULL;
	t = qdamo_open_target(cmd, err);
	if (!t || (idle_page && !qdamo_idle_files_pass(&files, t, args, err)))
		return NULL;
	ret = qdamo_execute(t, "damon-start", args, err);
	if (!ret) {
		if (idle_page)
			qdamo_idle_files_forget(t);
		return NULL;
	}
	if (idle_page)
		printf("idle-page: QEMU got %s (pid from %s) and %s\n",
		       files.pagemap_path, files.whence, files.bitmap_path);
	return g_steal_pointer(&t);
}

static gboolean cmd_start(const QdamoCmd *cmd, GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonObject) m = NULL;
	g_autofree char *sample = NULL, *aggr = NULL, *mon = NULL;
	const char *id = qdamo_monitor_id(cmd), *source, *wsource, *clock;
	g_autofree char *sources = NULL;
	JsonObject *attrs;

	if (!interval_args(cmd, args, err) || !regions_arg(cmd, args, err) ||
	    !qdamo_scheme_args(cmd, args, err))
		return FALSE;
	source = qdamo_cmd_str(cmd, "source");
	wsource = qdamo_cmd_str(cmd, "write-source");
	clock = qdamo_cmd_str(cmd, "clock");
	if (source)
		json_object_set_string_member(args, "source", source);
	if (wsource)
		json_object_set_string_member(args, "write-source", wsource);
	if (clock)
		json_object_set_string_member(args, "clock", clock);
	if (qdamo_cmd_str(cmd, "split"))
		json_object_set_string_member(args, "split", qdamo_cmd_str(cmd, "split"));
	t = start(cmd, args, !g_strcmp0(source, "idle-page"), err);
	/* Say what QEMU chose for what was left out */
	m = t ? qdamo_find_monitor(t, id, err) : NULL;
	if (!m)
		return FALSE;
	attrs = qdamo_json_obj(m, "attrs");
	sample = qdamo_fmt_duration_us(qdamo_json_u64(attrs, "sample-us", 0), FALSE);
	aggr = qdamo_fmt_duration_us(qdamo_json_u64(attrs, "aggr-us", 0), FALSE);
	mon = qdamo_fmt_size(qdamo_json_u64(m, "monitored-bytes", 0), FALSE);
	sources = qdamo_monitor_sources(m);
	printf("started %s on %s: source %s, clock %s, sample %s, aggr %s, "
	       "regions %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ", %s monitored\n",
	       id, t->label, sources,
	       qdamo_json_str(m, "clock", "?"), sample, aggr,
	       qdamo_json_u64(attrs, "min-nr-regions", 0),
	       qdamo_json_u64(attrs, "max-nr-regions", 0), mon);
	print_goal(m);
	print_schemes(args, "with");
	return TRUE;
}

/* ---- stop ---- */

static gboolean cmd_stop(const QdamoCmd *cmd, GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(QdamoTarget) t = control(cmd, "damon-stop", args, err);

	if (!t)
		return FALSE;
	printf("stopped %s on %s\n", qdamo_monitor_id(cmd), t->label);
	return TRUE;
}

/* ---- tune ---- */

static const QdamoOptDef opts_tune[] = {
	INTERVAL_OPTS,
	QDAMO_SCHEME_OPTS,
	{ .name = "no-schemes", .type = QDAMO_OPT_FLAG,
	  .help = "remove every scheme of the monitor" },
	{ NULL }
};

/* tune's schemes: the options', or none at all with --no-schemes. */
static gboolean tune_scheme_args(const QdamoCmd *cmd, JsonObject *args,
				 GError **err)
{
	if (!qdamo_cmd_flag(cmd, "no-schemes"))
		return qdamo_scheme_args(cmd, args, err);
	if (qdamo_cmd_str(cmd, "schemes") || qdamo_cmd_ordered(cmd)->len)
		return qdamo_usage_error(err, cmd, "--no-schemes removes the schemes: "
					 "give no others with it");
	json_object_set_array_member(args, "schemes", json_array_new());
	return TRUE;
}

static gboolean cmd_tune(const QdamoCmd *cmd, GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(QdamoTarget) t = NULL;

	if (!interval_args(cmd, args, err) || !tune_scheme_args(cmd, args, err))
		return FALSE;
	if (json_object_get_size(args) == 0)
		return qdamo_usage_error(err, cmd, "nothing to change: give --sample, "
					 "--aggr, --update, region limits, --intervals-goal "
					 "or schemes");
	t = control(cmd, "damon-tune", args, err);
	if (!t)
		return FALSE;
	printf("tuned %s on %s\n", qdamo_monitor_id(cmd), t->label);
	/* damon-tune replaced the monitor's schemes with these */
	print_schemes(args, "now");
	return TRUE;
}

/* ---- the rows ---- */

static const char start_help[] =
	"TIME is a number with a unit: ns, us, ms, s, m or h (5ms, 1.5s); a bare\n"
	"number is microseconds.  Sizes and addresses take K, M, G or T (binary)\n"
	"and 0x for hex.  Unset values keep QEMU's defaults.\n"
	"\n"
	"--source idle-page (host accessed bits): qdamo, run as root on the VM's\n"
	"host, opens /proc/<QEMU's pid>/pagemap and " QDAMO_IDLE_BITMAP "\n"
	"and hands them to QEMU (getfd " QDAMO_FDNAME_PAGEMAP ", "
	QDAMO_FDNAME_IDLE_BITMAP "); QEMU's\npid comes from the QMP socket's "
	"peer (SO_PEERCRED) or libvirt's pid file.\n"
	"The host kernel needs CONFIG_IDLE_PAGE_TRACKING.\n"
	"\n"
	QDAMO_SCHEMES_HELP;

static const QdamoCmdInfo info_start = {
	.help = "start a DAMON monitor (damon-start)",
	.desc = start_help,
};

const QdamoCmdDef qdamo_cmddef_start = {
	.name = "start", .info = &info_start, .opts = opts_start, .handler = cmd_start,
};

static const QdamoCmdInfo info_stop = {
	.help = "stop a monitor (damon-stop)",
};

const QdamoCmdDef qdamo_cmddef_stop = {
	.name = "stop", .info = &info_stop, .handler = cmd_stop,
};

static const char tune_help[] =
	"TIME is a number with a unit: ns, us, ms, s, m or h (5ms, 1.5s); a bare\n"
	"number is microseconds.  Sizes and addresses take K, M, G or T (binary)\n"
	"and 0x for hex.  Unset values keep the monitor's current ones.\n"
	"\n"
	QDAMO_SCHEMES_HELP "\n"
	"Schemes given replace all of the monitor's (damon-tune's commit): a\n"
	"scheme at an index both lists have keeps its statistics.";

static const QdamoCmdInfo info_tune = {
	.help = "change a running monitor's intervals, region limits and schemes "
		"(damon-tune)",
	.desc = tune_help,
};

const QdamoCmdDef qdamo_cmddef_tune = {
	.name = "tune", .info = &info_tune, .opts = opts_tune, .handler = cmd_tune,
};
