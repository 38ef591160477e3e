/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon host metrics for scheme goals and watermarks: memory pressure
 * (PSI), resident guest RAM, and the host's free memory rate.
 *
 * A metric is read by the engine on the monitor's driver (the goal
 * tuner at each charge window, the watermarks at each check); it is
 * made and freed by whoever owns its scheme.  Nothing here is shared
 * between threads.
 */
#ifndef QDAMON_METRICS_H
#define QDAMON_METRICS_H

#include "qapi/qapi-types-damon.h"

typedef struct QdamonMetric QdamonMetric;

/*
 * A metric for a quota goal of @kind (not user-input), or NULL with
 * @errp naming why this host cannot measure it.  @target is the goal's
 * target value.  Context: BQL held.
 */
QdamonMetric *qdamon_metric_new_goal(DamonQuotaGoalMetric kind,
                                     uint64_t target, Error **errp);
/* A metric for watermarks (not none), or NULL with @errp set. */
QdamonMetric *qdamon_metric_new_wmark(DamonWatermarkMetric kind,
                                      Error **errp);
void qdamon_metric_free(QdamonMetric *m);

/*
 * damos_quota_goal.get_metric: the value the tuner compares with the
 * goal's target_value.  For rss-bytes, whose target is met by going
 * down, it is target * 10000 / resident against a target_value of
 * 10000, so that the tuner (which raises the quota below the target)
 * raises it while too much is resident; at or under the target it is
 * 20000, "met twice over", which drops the quota to its minimum.
 */
uint64_t qdamon_metric_goal_read(void *metric);
/* The target_value the engine gets for a goal with this metric. */
uint64_t qdamon_metric_goal_target(const QdamonMetric *m);
/* damos_watermarks.get_metric. */
uint64_t qdamon_metric_wmark_read(void *metric);
/* The last value read, in the metric's own unit; false before any. */
bool qdamon_metric_last(const QdamonMetric *m, uint64_t *value);

/* Bytes of [@host, @host + @len) resident in host RAM (mincore). */
uint64_t qdamon_resident_bytes(void *host, size_t len);

/* Bytes of guest RAM (memory-backend RAM blocks) resident in host RAM. */
uint64_t qdamon_guest_ram_resident(void);

#endif /* QDAMON_METRICS_H */
