// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-heatmap.c - qdamo report heatmap FILE: a record's access pattern
 * as time (across) x guest-physical address (down), in the terminal
 * with one character per cell, or as a PNG or SVG image drawn by
 * gnuplot, like "damo report heatmap".  --metric writes draws the write
 * counts instead, from a record of a monitor with a write source.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "error.h"
#include "heatmap.h"
#include "parse.h"
#include "qdamo.h"

static const QdamoOptDef opts_heatmap[] = {
	QDAMO_ARG_RECORD_FILE,
	QDAMO_OPT_OUTPUT("draw an image instead, through gnuplot: X.png or X.svg"),
	{ .name = "metric", .type = QDAMO_OPT_STRING, .value_name = "METRIC",
	  .help = "accesses (default) or writes (needs a record with write counts)" },
	{ .name = "address-range", .type = QDAMO_OPT_STRING, .value_name = "START-END",
	  .help = "only these guest-physical addresses, e.g. 0-64M (default all)" },
	{ .name = "time-range", .type = QDAMO_OPT_STRING, .value_name = "START-END",
	  .help = "only this part of the record, e.g. 5s-20s (default all)" },
	{ .name = "cols", .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "time bins (default: terminal width, or 600 for images)" },
	{ .name = "rows", .type = QDAMO_OPT_INT, .value_name = "N",
	  .help = "address bins (default 24, or 300 for images)" },
	{ NULL }
};

static guint terminal_cols(void)
{
	struct winsize ws;

	if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 40)
		return ws.ws_col - 18;
	return 62;
}

/* "access" or "write", as the legend and the colour bar name the rate */
static const char *metric_word(const QdamoHeatmap *h)
{
	return h->metric == QDAMO_HEATMAP_WRITES ? "write" : "access";
}

static void print_ascii(const QdamoHeatmap *h, const QdamoRecord *rec,
			const char *path)
{
	g_autofree char *t0 = qdamo_fmt_duration_us((uint64_t)h->time_start_us, FALSE);
	g_autofree char *t1 = qdamo_fmt_duration_us((uint64_t)h->time_end_us, FALSE);
	g_autofree char *dashes = g_strnfill(h->cols, '-');
	double span = (double)(h->addr_end - h->addr_start) / h->rows;
	guint row, col;

	printf("# %s of %s (%s): %u snapshots; time goes right, addresses down\n",
	       rec->monitor_id, rec->target_name, path, rec->snapshots->len);
	printf("# %s rate: ' ' 0%%  . : - = + * # %% @  100%%   ('?' no region)\n",
	       metric_word(h));
	for (row = 0; row < h->rows; row++) {
		g_autofree char *line = g_malloc(h->cols + 1);

		for (col = 0; col < h->cols; col++)
			line[col] = qdamo_heatmap_shade(qdamo_heatmap_at(h, row, col));
		line[h->cols] = '\0';
		printf("0x%012" PRIx64 " |%s|\n",
		       (uint64_t)(h->addr_start + row * span), line);
	}
	printf("0x%012" PRIx64 " +%s+\n", h->addr_end, dashes);
	printf("%16s%-*s%s\n", "", (int)MAX(1, (int)h->cols - (int)strlen(t1) + 1),
	       t0, t1);
}

/* Write the grid as gnuplot "x y z" blocks, one per time bin. */
static gboolean write_data(const QdamoHeatmap *h, FILE *f, double unit)
{
	double tspan = (h->time_end_us - h->time_start_us) / 1e6 / h->cols;
	double aspan = (double)(h->addr_end - h->addr_start) / h->rows;
	guint row, col;

	for (col = 0; col < h->cols; col++) {
		double x = h->time_start_us / 1e6 + (col + 0.5) * tspan;

		for (row = 0; row < h->rows; row++) {
			float v = qdamo_heatmap_at(h, row, col);
			double y = (h->addr_start + (row + 0.5) * aspan) / unit;

			/* holes (no region) plot as NaN: left blank */
			if (v < 0)
				fprintf(f, "%.4f %.4f NaN\n", x, y);
			else
				fprintf(f, "%.4f %.4f %.2f\n", x, y, v * 100.0);
		}
		fputc('\n', f);
	}
	return !ferror(f);
}

static gboolean run_gnuplot(const QdamoHeatmap *h, const QdamoRecord *rec,
			    const char *out, GError **err)
{
	gboolean svg = g_str_has_suffix(out, ".svg");
	g_autofree char *dir = NULL, *data = NULL, *script = NULL, *text = NULL;
	g_autofree char *serr = NULL, *title = NULL;
	g_autoptr(GError) local = NULL;
	double unit = (h->addr_end > (16ULL << 30)) ? (double)(1ULL << 30) :
						    (double)(1ULL << 20);
	int status = 0;
	char *argv[3];
	FILE *f;

	dir = g_dir_make_tmp("qdamo-heatmap-XXXXXX", &local);
	if (!dir) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "%s", local->message);
		return FALSE;
	}
	data = g_build_filename(dir, "grid.dat", NULL);
	script = g_build_filename(dir, "plot.gp", NULL);
	f = g_fopen(data, "w");
	if (!f || !write_data(h, f, unit) || fclose(f) != 0) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "cannot write %s", data);
		goto out;
	}
	f = NULL;
	title = g_strdup_printf("%s%s of %s: %u snapshots, sample %.1f ms, aggr %.0f ms",
				h->metric == QDAMO_HEATMAP_WRITES ? "writes: " : "",
				rec->monitor_id, rec->target_name,
				rec->snapshots->len, rec->sample_us / 1e3,
				rec->aggr_us / 1e3);
	/* gnuplot strings in single quotes: only a quote needs doubling */
	{
		g_auto(GStrv) tparts = g_strsplit(title, "'", -1);
		g_auto(GStrv) oparts = g_strsplit(out, "'", -1);
		g_autofree char *tq = g_strjoinv("''", tparts);
		g_autofree char *oq = g_strjoinv("''", oparts);

		text = g_strdup_printf(
			"set terminal %s size 900,560 %s\n"
			"set output '%s'\n"
			"set title '%s' noenhanced\n"
			"set xlabel 'time (s)'\n"
			"set ylabel 'guest-physical address (%s)'\n"
			"set cblabel '%s rate (%%)'\n"
			"set cbrange [0:100]\n"
			"set palette defined (0 'black', 10 '#2b0a57', 35 '#b3204d', "
			"65 '#f68a2d', 100 '#fcffa4')\n"
			"set xrange [%.4f:%.4f]\n"
			"set yrange [%.4f:%.4f]\n"
			"set tics out\n"
			"plot '%s' using 1:2:3 with image notitle\n",
			svg ? "svg" : "pngcairo", svg ? "dynamic" : "",
			oq, tq, unit > (1 << 20) ? "GiB" : "MiB", metric_word(h),
			h->time_start_us / 1e6, h->time_end_us / 1e6,
			h->addr_start / unit, h->addr_end / unit, data);
	}
	if (!g_file_set_contents(script, text, -1, &local)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "%s", local->message);
		goto out;
	}
	argv[0] = (char *)"gnuplot";
	argv[1] = script;
	argv[2] = NULL;
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH |
			  G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &serr,
			  &status, &local)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FAILED,
			    "cannot run gnuplot (%s): install gnuplot-nox "
			    "(scripts/setup-libvirt.sh does)", local->message);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		g_strstrip(serr);
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FAILED,
			    "gnuplot failed (wait status %d): %s", status,
			    serr && *serr ? serr : "no message");
		goto out;
	}
out:
	g_unlink(data);
	g_unlink(script);
	g_rmdir(dir);
	return !(err && *err);
}

static gboolean parse_time_range(const char *text, int64_t *t0, int64_t *t1,
				 GError **err)
{
	g_auto(GStrv) ends = g_strsplit(text, "-", 2);
	uint64_t a, b;

	if (!ends[0] || !ends[1]) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not a time range START-END (example: 5s-20s)", text);
		return FALSE;
	}
	if (!qdamo_parse_duration_us(ends[0], &a, err) ||
	    !qdamo_parse_duration_us(ends[1], &b, err))
		return FALSE;
	*t0 = (int64_t)a;
	*t1 = (int64_t)b;
	return TRUE;
}

/* --address-range and --time-range; zeros for the whole record. */
static gboolean ranges(const QdamoCmd *cmd, uint64_t *a0, uint64_t *a1,
		       int64_t *t0, int64_t *t1, GError **err)
{
	const char *addr = qdamo_cmd_str(cmd, "address-range");
	const char *time = qdamo_cmd_str(cmd, "time-range");

	if (addr) {
		g_autoptr(GArray) r = qdamo_parse_ranges(addr, err);

		if (!r)
			return FALSE;
		if (r->len != 1)
			return qdamo_usage_error(err, cmd, "--address-range takes one range");
		*a0 = g_array_index(r, QdamoRange, 0).start;
		*a1 = g_array_index(r, QdamoRange, 0).end;
	}
	return !time || parse_time_range(time, t0, t1, err);
}

static gboolean cmd_heatmap(const QdamoCmd *cmd, GError **err)
{
	const char *path = qdamo_cmd_str(cmd, "FILE");
	const char *out = qdamo_cmd_str(cmd, "output");
	const char *metric = qdamo_cmd_str(cmd, "metric");
	QdamoHeatmapMetric m = QDAMO_HEATMAP_ACCESSES;
	g_autoptr(QdamoRecord) rec = NULL;
	g_autoptr(QdamoHeatmap) h = NULL;
	uint64_t a0 = 0, a1 = 0;
	int64_t t0 = 0, t1 = 0;
	gint64 cols = 0, rows = 0;
	g_autoptr(GError) local = NULL;

	qdamo_cmd_int(cmd, "cols", &cols);
	qdamo_cmd_int(cmd, "rows", &rows);
	if (out && !g_str_has_suffix(out, ".png") && !g_str_has_suffix(out, ".svg"))
		return qdamo_usage_error(err, cmd, "--output must end in .png or .svg");
	if (metric && !strcmp(metric, "writes"))
		m = QDAMO_HEATMAP_WRITES;
	else if (metric && strcmp(metric, "accesses"))
		return qdamo_usage_error(err, cmd, "--metric must be accesses or writes "
					 "(got '%s')", metric);
	if (cols < 0 || cols > 4000 || rows < 0 || rows > 4000)
		return qdamo_usage_error(err, cmd, "--cols and --rows must be 1 to 4000");
	if (!ranges(cmd, &a0, &a1, &t0, &t1, err))
		return FALSE;
	rec = qdamo_record_load(path, err);
	if (!rec)
		return FALSE;
	if (!cols)
		cols = out ? MIN(600, MAX(1, rec->snapshots->len)) : terminal_cols();
	if (!rows)
		rows = out ? 300 : 24;
	h = qdamo_heatmap_build(rec, m, (guint)cols, (guint)rows, a0, a1, t0, t1, &local);
	if (!h) {
		g_propagate_prefixed_error(err, g_steal_pointer(&local), "%s: ", path);
		return FALSE;
	}
	if (!out) {
		print_ascii(h, rec, path);
		return TRUE;
	}
	if (!run_gnuplot(h, rec, out, &local)) {
		g_propagate_error(err, g_steal_pointer(&local));
		return FALSE;
	}
	printf("wrote %s (%u x %u cells)\n", out, h->cols, h->rows);
	return TRUE;
}

static const QdamoCmdInfo info_heatmap = {
	.help = "time x address heatmap of a record file, in the terminal or as PNG/SVG",
	.desc = "Each cell is the byte-weighted access rate (nr-accesses over its "
		"most) of the regions\nit covers in the snapshots of its time bin; "
		"with --metric writes, the write rate\n(nr-writes over the same "
		"most), from a record of a monitor with a write source.\n"
		"Images need gnuplot.",
};

const QdamoCmdDef qdamo_cmddef_report_heatmap = {
	.name = "heatmap", .info = &info_heatmap, .opts = opts_heatmap,
	.handler = cmd_heatmap,
};
