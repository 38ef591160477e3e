/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * heatmap.h - a record's snapshots resampled on a time x address grid,
 * each cell the access (or write) rate of the bytes it covers.
 */
#ifndef QDAMO_HEATMAP_H
#define QDAMO_HEATMAP_H

#include <stdint.h>

#include <glib.h>

#include "record-file.h"

/* What a cell shows: nr-accesses or nr-writes, over max-nr-accesses. */
typedef enum {
	QDAMO_HEATMAP_ACCESSES,
	QDAMO_HEATMAP_WRITES,	/* needs a record with write counts */
} QdamoHeatmapMetric;

typedef struct {
	QdamoHeatmapMetric metric;
	guint cols, rows;		/* time bins, address bins */
	uint64_t addr_start, addr_end;	/* [start, end) of the rows */
	int64_t time_start_us, time_end_us;
	/* rows * cols, row 0 = lowest addresses; 0..1, or < 0: no data */
	float *v;
} QdamoHeatmap;

/*
 * Resample @rec.  A zero range (addr_end == 0, time_end_us == 0) means
 * everything the record covers.  A cell is the byte-weighted mean of
 * nr-accesses / max-nr-accesses (QDAMO_HEATMAP_WRITES: nr-writes /
 * max-nr-accesses) of the snapshots in its time bin; a time bin no
 * snapshot fell in repeats the one before.  Writes of a record without
 * write counts are an error (QDAMO_ERROR_FILE).
 */
QdamoHeatmap *qdamo_heatmap_build(const QdamoRecord *rec,
				  QdamoHeatmapMetric metric, guint cols,
				  guint rows, uint64_t addr_start,
				  uint64_t addr_end, int64_t time_start_us,
				  int64_t time_end_us, GError **err);

static inline float qdamo_heatmap_at(const QdamoHeatmap *h, guint row, guint col)
{
	return h->v[(size_t)row * h->cols + col];
}

/* A cell as a character: ' ' (0) .:-=+*#%@ (1), '?' for no data. */
char qdamo_heatmap_shade(float rate);

void qdamo_heatmap_free(QdamoHeatmap *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamoHeatmap, qdamo_heatmap_free)

#endif
