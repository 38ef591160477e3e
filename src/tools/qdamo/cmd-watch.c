// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-watch.c - qdamo watch: a top-like view of one monitor, redrawn
 * every interval: its state and cost, the working set, a one-line map
 * of guest memory, and the hottest regions.
 *
 * On a terminal the screen is cleared between frames; otherwise the
 * frames follow each other, so that "qdamo watch --count 3 > log" works.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "record-file.h"

static char *opt_interval;
static gint opt_count, opt_top = 10;

static const GOptionEntry entries[] = {
	{ "interval", 'n', 0, G_OPTION_ARG_STRING, &opt_interval,
	  "time between frames (default 1s)", "TIME" },
	{ "count", 0, 0, G_OPTION_ARG_INT, &opt_count,
	  "stop after N frames (default: until Ctrl-C)", "N" },
	{ "top", 0, 0, G_OPTION_ARG_INT, &opt_top,
	  "hottest regions to list (default 10)", "N" },
	{ NULL }
};

#define MAP_WIDTH 64

static const char shades[] = " .:-=+*#%@";

static gint by_access(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;

	if (x->nr_accesses != y->nr_accesses)
		return x->nr_accesses < y->nr_accesses ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

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
		g_string_append_c(o, cell[c] <= 0 ? ' ' :
				  shades[1 + MIN(8, (int)(cell[c] * 9))]);
	g_string_append_printf(o, "| 0x%09" PRIx64 "\n\n", hi);
}

static void append_regions(GString *o, const QdamoSnapshot *s, uint64_t aggr_us)
{
	g_autoptr(GArray) rows = g_array_copy(s->regions);
	guint i;

	g_array_sort(rows, by_access);
	g_string_append_printf(o, "%-14s  %-14s  %10s  %6s  %5s  %9s\n", "START",
			       "END", "SIZE", "ACCESS", "HZ", "AGE");
	for (i = 0; i < rows->len && i < (guint)opt_top; i++) {
		const QdamoRegion *r = &g_array_index(rows, QdamoRegion, i);
		double rate = s->max_nr_accesses ?
			(double)r->nr_accesses / s->max_nr_accesses : 0;
		g_autofree char *sz = qdamo_fmt_size(r->end - r->start, FALSE);
		g_autofree char *age = qdamo_fmt_duration_us((uint64_t)r->age * aggr_us,
							     FALSE);
		g_autofree char *bar = g_strnfill((gsize)(rate * 20 + 0.5), '#');

		g_string_append_printf(o, "0x%012" PRIx64 "  0x%012" PRIx64
				       "  %10s  %5.0f%%  %5.0f  %9s  %s\n",
				       r->start, r->end, sz, rate * 100,
				       aggr_us ? r->nr_accesses * 1e6 / aggr_us : 0,
				       age, bar);
	}
}

typedef struct {
	uint64_t cpu_ns;
	int64_t wall_us;
} Sample;

static gboolean frame(QdamoTarget *t, Sample *prev, GString *o, GError **err)
{
	g_autoptr(JsonObject) m = qdamo_find_monitor(t, qdamo_monitor_id(), err);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonObject) wargs = NULL;
	g_autoptr(JsonObject) regions = NULL;
	g_autoptr(JsonObject) wss = NULL;
	g_autoptr(QdamoSnapshot) s = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *clock = g_date_time_format(now, "%H:%M:%S");
	g_autofree char *sample = NULL, *aggr = NULL, *mon = NULL, *w = NULL;
	g_autofree char *p50 = NULL, *p90 = NULL, *pmax = NULL;
	JsonObject *attrs;
	JsonArray *pcts, *list;
	Sample cur;
	double cpu_pct = -1;
	uint64_t aggr_us, total;

	if (!m)
		return FALSE;
	json_object_set_string_member(args, "id", qdamo_monitor_id());
	regions = qdamo_execute_obj(t, "query-damon-regions", args, err);
	if (!regions)
		return FALSE;
	wargs = json_object_new();
	json_object_set_string_member(wargs, "id", qdamo_monitor_id());
	pcts = json_array_new();
	json_array_add_int_element(pcts, 50);
	json_array_add_int_element(pcts, 90);
	json_array_add_int_element(pcts, 100);
	json_object_set_array_member(wargs, "percentiles", pcts);
	wss = qdamo_execute_obj(t, "query-damon-wss", wargs, err);
	if (!wss)
		return FALSE;

	attrs = jx_obj(m, "attrs");
	aggr_us = jx_u64(attrs, "aggr-us", 0);
	cur.cpu_ns = jx_u64(m, "cpu-ns", 0);
	cur.wall_us = g_get_monotonic_time();
	if (prev->wall_us && cur.wall_us > prev->wall_us && cur.cpu_ns >= prev->cpu_ns)
		cpu_pct = (cur.cpu_ns - prev->cpu_ns) / 10.0 /
			  (double)(cur.wall_us - prev->wall_us);
	*prev = cur;
	s = qdamo_snapshot_from_reply(regions, 0);
	sample = qdamo_fmt_duration_us(jx_u64(attrs, "sample-us", 0), FALSE);
	aggr = qdamo_fmt_duration_us(aggr_us, FALSE);
	total = jx_u64(m, "monitored-bytes", 0);
	mon = qdamo_fmt_size(total, FALSE);
	w = qdamo_fmt_size(jx_u64(wss, "wss-bytes", 0), FALSE);
	list = jx_array(wss, "percentiles");
	if (list && json_array_get_length(list) == 3) {
		p50 = qdamo_fmt_size(jx_u64(json_array_get_object_element(list, 0),
					    "wss-bytes", 0), FALSE);
		p90 = qdamo_fmt_size(jx_u64(json_array_get_object_element(list, 1),
					    "wss-bytes", 0), FALSE);
		pmax = qdamo_fmt_size(jx_u64(json_array_get_object_element(list, 2),
					     "wss-bytes", 0), FALSE);
	}

	g_string_append_printf(o, "qdamo watch: %s of %s  %s  (Ctrl-C quits)\n\n",
			       qdamo_monitor_id(), t->label, clock);
	g_string_append_printf(o, "state %s  source %s  clock %s  sample %s  aggr %s\n",
			       jx_str(m, "state", "?"), jx_str(m, "source", "?"),
			       jx_str(m, "clock", "?"), sample, aggr);
	g_string_append_printf(o, "aggregation %" G_GUINT64_FORMAT "  regions %"
			       G_GUINT64_FORMAT "  monitored %s  monitor CPU %.2f s",
			       jx_u64(m, "nr-aggregations", 0),
			       jx_u64(m, "nr-regions", 0), mon, cur.cpu_ns / 1e9);
	/* a rate needs two frames */
	if (cpu_pct >= 0)
		g_string_append_printf(o, " (%.1f %% of a host CPU)", cpu_pct);
	g_string_append_c(o, '\n');
	g_string_append_printf(o, "wss %s (%.1f %%)  p50 %s  p90 %s  max %s  over %"
			       G_GUINT64_FORMAT " aggregations\n\n", w,
			       total ? 100.0 * jx_u64(wss, "wss-bytes", 0) / total : 0,
			       p50 ? p50 : "?", p90 ? p90 : "?", pmax ? pmax : "?",
			       jx_u64(wss, "nr-aggregations", 0));
	if (!s->nr_aggregations) {
		g_string_append(o, "(no aggregation yet)\n");
		return TRUE;
	}
	append_map(o, s);
	append_regions(o, s, aggr_us);
	return TRUE;
}

gboolean qdamo_cmd_watch(const QdamoCommand *cmd, int argc, char **argv,
			 GError **err)
{
	g_autoptr(QdamoTarget) t = NULL;
	uint64_t interval_us = G_USEC_PER_SEC;
	gboolean tty = isatty(1);
	Sample prev = { 0 };
	int n;

	if (!qdamo_parse_options(cmd, entries, NULL, &argc, &argv, err))
		return FALSE;
	if (argc > 1)
		return qdamo_usage_error(err, cmd, "unexpected argument '%s'", argv[1]);
	if (opt_interval && !qdamo_parse_duration_us(opt_interval, &interval_us, err))
		return FALSE;
	if (interval_us < 10000)
		return qdamo_usage_error(err, cmd, "--interval must be at least 10ms");
	if (opt_count < 0 || opt_top < 0)
		return qdamo_usage_error(err, cmd, "--count and --top must not be negative");
	t = qdamo_open_target(err);
	if (!t)
		return FALSE;
	qdamo_catch_signals();
	for (n = 0; !opt_count || n < opt_count; n++) {
		g_autoptr(GString) o = g_string_new(NULL);
		int64_t until = g_get_monotonic_time() + (int64_t)interval_us;

		if (!frame(t, &prev, o, err))
			return FALSE;
		/* home and clear, then the whole frame at once: no flicker */
		printf("%s%s%s", tty ? "\033[H\033[2J" : (n ? "\n" : ""), o->str,
		       tty ? "" : "----\n");
		fflush(stdout);
		if (opt_count && n + 1 == opt_count)
			break;
		while (!qdamo_interrupted() && g_get_monotonic_time() < until)
			g_usleep(20000);
		if (qdamo_interrupted())
			break;
	}
	return TRUE;
}
