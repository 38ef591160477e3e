/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon monitors: one DAMON context on guest physical memory, its access
 * source, its driver (a thread on real time, or a virtual-clock timer),
 * and the results the QMP and HMP commands read.
 *
 * Locking: every function here is called with the BQL held.  Inside, a
 * running monitor's engine context belongs to its driver, and these
 * functions reach it through the engine's damon_call(); see
 * monitor-int.h.
 */
#ifndef QDAMON_MONITOR_H
#define QDAMON_MONITOR_H

#include "qapi/qapi-types-damon.h"
#include "damon/damon.h"
#include "source.h"

/* Most aggregations the WSS distribution covers. */
#define QDAMON_WSS_HISTORY 600

typedef struct QdamonMonitor QdamonMonitor;

/* A monitor's configuration, as damon-start gives it. */
typedef struct QdamonConfig {
    char *id;
    DamonSourceKind source;
    char *source_reason;        /* "requested", or why the default */
    bool has_write_source;      /* a second source, of writes only */
    DamonSourceKind write_source;
    DamonClock clock;
    struct damon_attrs attrs;
    struct damon_addr_range *ranges;    /* NULL: all guest RAM */
    unsigned int nr_ranges;
    /*
     * The files damon-start was given, borrowed from its handler for
     * the duration of qdamon_monitor_start() (NULL: none), which hands
     * them to the sources; a source that keeps one dups it.
     */
    const QdamonSourceOpts *src_opts;
    DamonSchemeList *schemes;   /* as damon-start gave them, or NULL */
} QdamonConfig;

/* One region of an aggregated snapshot. */
typedef struct QdamonSnapRegion {
    uint64_t start, end;
    unsigned int nr_accesses, age;
    unsigned int nr_writes;     /* 0 unless the monitor has a write source */
} QdamonSnapRegion;

/* Bytes of a snapshot's regions that had one nr_accesses value. */
typedef struct QdamonWssBin {
    unsigned int nr_accesses;
    uint64_t bytes;
} QdamonWssBin;

/* A copy of a monitor's results, taken on its driver. */
typedef struct QdamonResults {
    char *id;
    DamonState state;
    DamonStopReason stop_reason;
    DamonSourceKind source;
    DamonSees sees;
    char *source_reason;
    bool has_write_source;
    DamonSourceKind write_source;
    DamonClock clock;
    struct damon_attrs attrs;
    struct damon_attrs snap_attrs;      /* @regions and @history's */
    struct damon_attrs attrs_now;       /* in force, maybe auto-tuned */
    struct damon_intervals_status intervals;    /* the tuner's status */
    uint64_t nr_aggregations, nr_samples, cpu_ns;
    bool has_last_aggregation;
    uint64_t last_aggregation_age_us;
    uint64_t total_bytes;       /* monitored now */
    uint64_t snap_total_bytes;  /* covered by @regions */
    bool has_syncs;             /* the source's syncs, while running */
    uint64_t nr_syncs, sync_ns;
    bool has_clear_ioctls;      /* the source's KVM clears, while running */
    uint64_t nr_clear_ioctls;
    bool has_guest_cost;        /* what the source made the guest pay */
    uint64_t nr_rearmed_pages, nr_vcpu_kicks;
    uint64_t *vcpu_writes;      /* NULL, or pages written per vCPU */
    size_t nr_vcpu_writes;
    DamonIdlePageInfo *idle_page;   /* NULL unless source idle-page */
    GArray *regions;            /* QdamonSnapRegion of the last aggregation */
    /* per recent aggregation, oldest first: GArray of QdamonWssBin */
    GPtrArray *history;
} QdamonResults;

/* Validation of QMP-level ranges; errors name the argument. */
/* "'NAME' must be LO to HI (got V)" unless LO <= V <= HI. */
bool qdamon_check_u64(const char *name, uint64_t v, uint64_t lo,
                      uint64_t hi, Error **errp);
bool qdamon_check_id(const char *id, Error **errp);
bool qdamon_check_attrs(const struct damon_attrs *a, Error **errp);
/*
 * An intervals goal from QMP, defaults filled in and checked; the
 * errors name 'intervals-goal.MEMBER'.
 */
bool qdamon_intervals_goal_from_qapi(const DamonIntervalsGoal *q,
                                     struct damon_intervals_goal *g,
                                     Error **errp);
DamonIntervalsGoal *qdamon_intervals_goal_to_qapi(
    const struct damon_intervals_goal *g);
bool qdamon_check_ranges(const struct damon_addr_range *r, unsigned int nr,
                         Error **errp);
/*
 * @cfg's write source against its source: the write source must see
 * writes only, differ from the source, and the source must see reads.
 * The errors name 'write-source' and say why.
 */
bool qdamon_check_write_source(const QdamonConfig *cfg, Error **errp);
void qdamon_config_free(QdamonConfig *cfg);

/* Working-set bytes of @bins counting nr_accesses >= @min_nr. */
uint64_t qdamon_wss_of(GArray *bins, unsigned int min_nr);

/**
 * qdamon_write_wss_of: the written part of a snapshot's working set.
 * @snap: QdamonSnapRegion, as recorded with a write source.
 * @min_nr: count regions whose nr_accesses is at least this (>= 1).
 *
 * Each such region counts its bytes times nr_writes / nr_accesses
 * (rounded down), its write share: whole when every accessed sample
 * was a write, nothing when none was.
 *
 * Returns: bytes, at most qdamon_wss_of() of the same snapshot.
 */
uint64_t qdamon_write_wss_of(GArray *snap, unsigned int min_nr);

/* Start a monitor.  Context: BQL held. */
bool qdamon_monitor_start(QdamonConfig *cfg, Error **errp);
/* Stop a running monitor and wait for it.  Context: BQL held. */
bool qdamon_monitor_stop(const char *id, Error **errp);
/*
 * Commit new attributes to a running monitor and, when @has_schemes,
 * replace its schemes with @schemes.  Nothing changes on error.
 * Context: BQL held.
 */
bool qdamon_monitor_tune(const char *id, const struct damon_attrs *attrs,
                         bool has_schemes, DamonSchemeList *schemes,
                         Error **errp);
/*
 * A monitor's schemes: live from its driver while it runs, else as
 * they were when it stopped.  Context: BQL held.
 */
DamonSchemes *qdamon_monitor_schemes(const char *id, bool tried,
                                     Error **errp);
/* The committed attributes of a running monitor.  Context: BQL held. */
bool qdamon_monitor_get_attrs(const char *id, struct damon_attrs *attrs,
                              Error **errp);

/*
 * Copy results.  @with_history also copies the WSS history.
 * Returns NULL with @errp set if no monitor is named @id.
 * Context: BQL held.
 */
QdamonResults *qdamon_monitor_results(const char *id, bool with_history,
                                      Error **errp);
/* Results of every monitor, in start order.  Context: BQL held. */
GPtrArray *qdamon_monitor_results_all(void);
void qdamon_results_free(QdamonResults *res);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamonResults, qdamon_results_free)

#endif /* QDAMON_MONITOR_H */
