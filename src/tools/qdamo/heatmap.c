// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * heatmap.c - resampling a record's snapshots onto a time x address
 * grid for "qdamo report heatmap".
 *
 * Regions vary in size and move between snapshots, so each cell takes
 * the byte-weighted mean access rate of whatever overlaps it: a 4 KiB
 * hot region in a 1 MiB cell shows faint, as it should, instead of
 * painting the whole cell.
 */
#include "error.h"
#include "heatmap.h"

/* Ten levels, blank for no access; '@' is an access in every sample. */
static const char shades[] = " .:-=+*#%@";

char qdamo_heatmap_shade(float rate)
{
	if (rate < 0)
		return '?';
	if (rate <= 0)
		return ' ';
	return shades[1 + MIN(8, (int)(rate * 9))];
}

void qdamo_heatmap_free(QdamoHeatmap *h)
{
	if (!h)
		return;
	g_free(h->v);
	g_free(h);
}

static void default_ranges(const QdamoRecord *rec, uint64_t *a0, uint64_t *a1,
			   int64_t *t0, int64_t *t1)
{
	uint64_t lo = G_MAXUINT64, hi = 0;
	guint i;

	for (i = 0; i < rec->snapshots->len; i++) {
		const QdamoSnapshot *s = g_ptr_array_index(rec->snapshots, i);

		if (!s->regions->len)
			continue;
		lo = MIN(lo, g_array_index(s->regions, QdamoRegion, 0).start);
		hi = MAX(hi, g_array_index(s->regions, QdamoRegion,
					   s->regions->len - 1).end);
	}
	if (!*a1) {
		*a0 = lo;
		*a1 = hi;
	}
	if (!*t1) {
		const QdamoSnapshot *first = g_ptr_array_index(rec->snapshots, 0);
		const QdamoSnapshot *last = g_ptr_array_index(rec->snapshots,
							      rec->snapshots->len - 1);

		/* a snapshot covers the aggregation interval before it */
		*t0 = MAX(0, first->time_us - (int64_t)rec->aggr_us);
		*t1 = last->time_us;
	}
}

/* Add one snapshot's regions to column @col of the sums. */
static void add_snapshot(const QdamoHeatmap *h, const QdamoSnapshot *s,
			 guint col, double *sum, double *bytes)
{
	double span = (double)(h->addr_end - h->addr_start) / h->rows;
	guint i;

	/* a snapshot without write counts says nothing of writes */
	if (!s->max_nr_accesses || (h->metric == QDAMO_HEATMAP_WRITES && !s->has_writes))
		return;
	for (i = 0; i < s->regions->len; i++) {
		const QdamoRegion *r = &g_array_index(s->regions, QdamoRegion, i);
		uint64_t start = MAX(r->start, h->addr_start);
		uint64_t end = MIN(r->end, h->addr_end);
		double rate = (double)(h->metric == QDAMO_HEATMAP_WRITES ?
				       r->nr_writes : r->nr_accesses) / s->max_nr_accesses;
		guint row, first, last;

		if (start >= end)
			continue;
		first = (guint)((start - h->addr_start) / span);
		last = MIN(h->rows - 1, (guint)((end - 1 - h->addr_start) / span));
		for (row = first; row <= last; row++) {
			double c0 = h->addr_start + row * span;
			double c1 = c0 + span;
			double ov = MIN((double)end, c1) - MAX((double)start, c0);
			size_t k = (size_t)row * h->cols + col;

			if (ov <= 0)
				continue;
			sum[k] += rate * ov;
			bytes[k] += ov;
		}
	}
}

/* Does any snapshot have write counts? */
static gboolean has_writes(const QdamoRecord *rec)
{
	guint i;

	for (i = 0; i < rec->snapshots->len; i++)
		if (((const QdamoSnapshot *)g_ptr_array_index(rec->snapshots, i))->has_writes)
			return TRUE;
	return FALSE;
}

QdamoHeatmap *qdamo_heatmap_build(const QdamoRecord *rec,
				  QdamoHeatmapMetric metric, guint cols,
				  guint rows, uint64_t addr_start,
				  uint64_t addr_end, int64_t time_start_us,
				  int64_t time_end_us, GError **err)
{
	g_autoptr(QdamoHeatmap) h = g_new0(QdamoHeatmap, 1);
	g_autofree double *sum = NULL, *bytes = NULL;
	size_t n = (size_t)cols * rows;
	guint i, row, col;

	if (!rec->snapshots->len) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "the record has no snapshot");
		return NULL;
	}
	if (metric == QDAMO_HEATMAP_WRITES && !has_writes(rec)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "the record has no write counts: record a monitor started "
			    "with --write-source to draw writes");
		return NULL;
	}
	default_ranges(rec, &addr_start, &addr_end, &time_start_us, &time_end_us);
	if (addr_end <= addr_start || time_end_us <= time_start_us) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "the heatmap's address or time range is empty");
		return NULL;
	}
	h->metric = metric;
	h->cols = cols;
	h->rows = rows;
	h->addr_start = addr_start;
	h->addr_end = addr_end;
	h->time_start_us = time_start_us;
	h->time_end_us = time_end_us;
	h->v = g_new(float, n);
	sum = g_new0(double, n);
	bytes = g_new0(double, n);
	for (i = 0; i < rec->snapshots->len; i++) {
		const QdamoSnapshot *s = g_ptr_array_index(rec->snapshots, i);
		double len = (double)(time_end_us - time_start_us);
		/* the snapshot stands for the aggregation interval before it */
		double x0 = (s->time_us - (int64_t)rec->aggr_us - time_start_us) / len;
		double x1 = (s->time_us - time_start_us) / len;
		guint c;

		if (x1 < 0 || x0 > 1)
			continue;
		x0 = MAX(0, x0);
		for (c = (guint)(x0 * cols); c <= MIN(cols - 1, (guint)(MIN(1, x1) * cols)); c++)
			add_snapshot(h, s, c, sum, bytes);
	}
	for (row = 0; row < rows; row++) {
		for (col = 0; col < cols; col++) {
			size_t k = (size_t)row * cols + col;

			if (bytes[k] > 0)
				h->v[k] = (float)(sum[k] / bytes[k]);
			else if (col > 0)
				h->v[k] = h->v[k - 1];
			else
				h->v[k] = -1;
		}
	}
	return g_steal_pointer(&h);
}
