/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.h - Prometheus metrics of DAMON monitors, for the exporter.
 */
#ifndef QDAMO_METRICS_H
#define QDAMO_METRICS_H

#include <glib.h>

#include "target.h"

typedef struct QdamoMetrics QdamoMetrics;

QdamoMetrics *qdamo_metrics_new(void);
void qdamo_metrics_free(QdamoMetrics *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamoMetrics, qdamo_metrics_free)

/*
 * Add a sample of @family (one of metrics.c's table) with labels given
 * as name, value pairs ending in NULL.
 */
void qdamo_metrics_add(QdamoMetrics *m, const char *family, double value, ...)
	G_GNUC_NULL_TERMINATED;

/*
 * Query every monitor of @t and add its samples, its schemes' too (none
 * from a QEMU without query-damon-schemes).  FALSE with err when
 * @t could not be asked; a QEMU without qdamon is QDAMO_ERROR_NO_DAMON.
 */
gboolean qdamo_metrics_collect(QdamoMetrics *m, QdamoTarget *t, GError **err);

/* The text exposition format (version 0.0.4), families grouped. */
char *qdamo_metrics_render(QdamoMetrics *m);

#endif
