// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-watch.c - qdamo watch: a top-like view of one monitor, redrawn
 * every interval: its state and cost, the working set, a one-line map
 * of guest memory, and the hottest regions; with a write source, the
 * written part of the working set and a WRITES column too.
 *
 * On a terminal the screen is cleared between frames; otherwise the
 * frames follow each other, so that "qdamo watch --count 3 > log" works.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "heatmap.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "record-file.h"

static const QdamoOptDef opts_watch[] = {
	{ .name = "interval", .short_name = 'n', .type = QDAMO_OPT_STRING,
	  .value_name = "TIME", .help = "time between frames (default 1s)" },
	{ .name = "count", .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "stop after N frames (default: until Ctrl-C)" },
	{ .name = "top", .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "hottest regions to list (default 10)" },
	{ NULL }
};

#define MAP_WIDTH 64

/* One character per 1/MAP_WIDTH of the monitored span: its hottest rate. */
static void append_map(GString *o, const QdamoSnapshot *s)
{
	float cell[MAP_WIDTH] = { 0 };
	uint64_t lo, hi;
	double span;
	guint i, c;

	if (!s->regions->len || !s->max_nr_accesses)
		return;
	lo = g_array_index(s->regions, QdamoRegion, 0).start;
	hi = g_array_index(s->regions, QdamoRegion, s->regions->len - 1).end;
	span = (double)(hi - lo) / MAP_WIDTH;
	for (i = 0; i < s->regions->len; i++) {
		const QdamoRegion *r = &g_array_index(s->regions, QdamoRegion, i);
		float rate = (float)r->nr_accesses / s->max_nr_accesses;
		guint c0 = (guint)((r->start - lo) / span);
		guint c1 = MIN(MAP_WIDTH - 1, (guint)((r->end - 1 - lo) / span));

		for (c = c0; c <= c1; c++)
			cell[c] = MAX(cell[c], rate);
	}
	g_string_append_printf(o, "map 0x%09" PRIx64 " |", lo);
	for (c = 0; c < MAP_WIDTH; c++)
		g_string_append_c(o, qdamo_heatmap_shade(cell[c]));
	g_string_append_printf(o, "| 0x%09" PRIx64 "\n\n", hi);
}

static void append_regions(GString *o, const QdamoSnapshot *s, uint64_t aggr_us,
			   guint top)
{
	g_autoptr(GArray) rows = g_array_copy(s->regions);
	guint i;

	g_array_sort(rows, qdamo_region_cmp_access);
	g_string_append_printf(o, "%-14s  %-14s  %10s  %6s  ", "START", "END",
			       "SIZE", "ACCESS");
	/* WRITES: with a write source, nr-writes over the same most */
	if (s->has_writes)
		g_string_append_printf(o, "%6s  ", "WRITES");
	g_string_append_printf(o, "%5s  %9s\n", "HZ", "AGE");
	for (i = 0; i < rows->len && i < top; i++) {
		const QdamoRegion *r = &g_array_index(rows, QdamoRegion, i);
		double rate = s->max_nr_accesses ?
			(double)r->nr_accesses / s->max_nr_accesses : 0;
		g_autofree char *sz = qdamo_fmt_size(r->end - r->start, FALSE);
		g_autofree char *age = qdamo_fmt_duration_us((uint64_t)r->age * aggr_us,
							     FALSE);
		g_autofree char *bar = g_strnfill((gsize)(rate * 20 + 0.5), '#');

		g_string_append_printf(o, "0x%012" PRIx64 "  0x%012" PRIx64
				       "  %10s  %5.0f%%  ", r->start, r->end, sz,
				       rate * 100);
		if (s->has_writes)
			g_string_append_printf(o, "%5.0f%%  ", s->max_nr_accesses ?
					       100.0 * r->nr_writes / s->max_nr_accesses : 0);
		g_string_append_printf(o, "%5.0f  %9s  %s\n",
				       aggr_us ? r->nr_accesses * 1e6 / aggr_us : 0,
				       age, bar);
	}
}

typedef struct {
	const char *id;
	guint top;
	uint64_t cpu_ns;	/* the monitor's CPU time at the last frame */
	int64_t wall_us;	/* and when that was */
} Watch;

/* State, intervals, counts and CPU; the share of a CPU from the last frame. */
static void append_monitor(GString *o, Watch *w, JsonObject *m, const char *label)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *clock = g_date_time_format(now, "%H:%M:%S");
	JsonObject *attrs = qdamo_json_obj(m, "attrs");
	uint64_t cpu_ns = qdamo_json_u64(m, "cpu-ns", 0);
	int64_t wall_us = g_get_monotonic_time();
	g_autofree char *sample = qdamo_fmt_duration_us(
		qdamo_json_u64(attrs, "sample-us", 0), FALSE);
	g_autofree char *aggr = qdamo_fmt_duration_us(
		qdamo_json_u64(attrs, "aggr-us", 0), FALSE);
	g_autofree char *mon = qdamo_fmt_size(qdamo_json_u64(m, "monitored-bytes", 0),
					      FALSE);
	g_autofree char *sources = qdamo_monitor_sources(m);

	g_string_append_printf(o, "qdamo watch: %s of %s  %s  (Ctrl-C quits)\n\n",
			       w->id, label, clock);
	g_string_append_printf(o, "state %s  source %s  clock %s  sample %s  aggr %s\n",
			       qdamo_json_str(m, "state", "?"), sources,
			       qdamo_json_str(m, "clock", "?"), sample, aggr);
	g_string_append_printf(o, "aggregation %" G_GUINT64_FORMAT "  regions %"
			       G_GUINT64_FORMAT "  monitored %s  monitor CPU %.2f s",
			       qdamo_json_u64(m, "nr-aggregations", 0),
			       qdamo_json_u64(m, "nr-regions", 0), mon, cpu_ns / 1e9);
	/* a rate needs two frames */
	if (w->wall_us && wall_us > w->wall_us && cpu_ns >= w->cpu_ns)
		g_string_append_printf(o, " (%.1f %% of a host CPU)",
				       (cpu_ns - w->cpu_ns) / 10.0 /
				       (double)(wall_us - w->wall_us));
	g_string_append_c(o, '\n');
	w->cpu_ns = cpu_ns;
	w->wall_us = wall_us;
}

/* The working set, and the p50, p90 and max query-damon-wss was asked for. */
static void append_wss(GString *o, JsonObject *wss, uint64_t total)
{
	static const char *const names[] = { "p50", "p90", "max" };
	JsonArray *list = qdamo_json_array(wss, "percentiles");
	uint64_t bytes = qdamo_json_u64(wss, "wss-bytes", 0);
	g_autofree char *size = qdamo_fmt_size(bytes, FALSE);
	guint i;

	g_string_append_printf(o, "wss %s (%.1f %%)", size,
			       total ? 100.0 * bytes / total : 0);
	/* with a write source: the written part of it */
	if (json_object_has_member(wss, "write-wss-bytes")) {
		g_autofree char *w = qdamo_fmt_size(
			qdamo_json_u64(wss, "write-wss-bytes", 0), FALSE);

		g_string_append_printf(o, "  written %s", w);
	}
	for (i = 0; i < G_N_ELEMENTS(names); i++) {
		JsonObject *e = list && json_array_get_length(list) == G_N_ELEMENTS(names) ?
			json_array_get_object_element(list, i) : NULL;
		g_autofree char *p = e ?
			qdamo_fmt_size(qdamo_json_u64(e, "wss-bytes", 0), FALSE) : NULL;

		g_string_append_printf(o, "  %s %s", names[i], p ? p : "?");
	}
	g_string_append_printf(o, "  over %" G_GUINT64_FORMAT " aggregations\n\n",
			       qdamo_json_u64(wss, "nr-aggregations", 0));
}

static gboolean frame(QdamoTarget *t, Watch *w, GString *o, GError **err)
{
	g_autoptr(JsonObject) m = qdamo_find_monitor(t, w->id, err);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonObject) regions = NULL;
	g_autoptr(JsonObject) wss = NULL;
	g_autoptr(QdamoSnapshot) s = NULL;

	json_object_set_string_member(args, "id", w->id);
	regions = m ? qdamo_execute_obj(t, "query-damon-regions", args, err) : NULL;
	if (regions) {
		JsonArray *pcts = json_array_new();

		json_array_add_int_element(pcts, 50);
		json_array_add_int_element(pcts, 90);
		json_array_add_int_element(pcts, 100);
		json_object_set_array_member(args, "percentiles", pcts);
		wss = qdamo_execute_obj(t, "query-damon-wss", args, err);
	}
	if (!wss)
		return FALSE;
	append_monitor(o, w, m, t->label);
	append_wss(o, wss, qdamo_json_u64(m, "monitored-bytes", 0));
	s = qdamo_snapshot_from_reply(regions, 0);
	if (!s->nr_aggregations) {
		g_string_append(o, "(no aggregation yet)\n");
		return TRUE;
	}
	append_map(o, s);
	append_regions(o, s, qdamo_json_u64(qdamo_json_obj(m, "attrs"), "aggr-us", 0),
		       w->top);
	return TRUE;
}

static gboolean cmd_watch(const QdamoCmd *cmd, GError **err)
{
	const char *interval = qdamo_cmd_str(cmd, "interval");
	g_autoptr(QdamoTarget) t = NULL;
	uint64_t interval_us = G_USEC_PER_SEC;
	gboolean tty = isatty(1);
	gint64 count = 0, top = 10, n;
	Watch w = { .id = qdamo_monitor_id(cmd) };

	qdamo_cmd_int(cmd, "count", &count);
	qdamo_cmd_int(cmd, "top", &top);
	if (interval && !qdamo_parse_duration_us(interval, &interval_us, err))
		return FALSE;
	if (interval_us < 10000)
		return qdamo_usage_error(err, cmd, "--interval must be at least 10ms");
	if (count < 0 || top < 0)
		return qdamo_usage_error(err, cmd, "--count and --top must not be negative");
	w.top = (guint)top;
	t = qdamo_open_target(cmd, err);
	if (!t)
		return FALSE;
	qdamo_catch_signals();
	for (n = 0; !count || n < count; n++) {
		g_autoptr(GString) o = g_string_new(NULL);
		int64_t until = g_get_monotonic_time() + (int64_t)interval_us;

		if (!frame(t, &w, o, err))
			return FALSE;
		/* home and clear, then the whole frame at once: no flicker */
		printf("%s%s%s", tty ? "\033[H\033[2J" : (n ? "\n" : ""), o->str,
		       tty ? "" : "----\n");
		fflush(stdout);
		if (count && n + 1 == count)
			break;
		while (!qdamo_interrupted() && g_get_monotonic_time() < until)
			g_usleep(20000);
		if (qdamo_interrupted())
			break;
	}
	return TRUE;
}

static const QdamoCmdInfo info_watch = {
	.help = "live top-like view of a monitor",
};

const QdamoCmdDef qdamo_cmddef_watch = {
	.name = "watch", .info = &info_watch, .opts = opts_watch, .handler = cmd_watch,
};
