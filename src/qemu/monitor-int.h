/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon monitors, inside: the monitor object shared by monitor.c
 * (lifecycle and the public API), driver.c (the two drivers) and
 * results.c (what the driver records at each aggregation, and copies
 * of it for the QMP and HMP commands).
 *
 * Who owns what:
 *  - BQL: the list of monitors and each monitor's cfg, state,
 *    stop_reason and driver handles (timer, thread, thread_running);
 *    only QMP, HMP, bottom halves and the exit notifier touch them.
 *  - The driver (the monitor's thread, or the main loop for the
 *    virtual clock), from damon_ctx_begin() to damon_ctx_end(): the
 *    engine context, the operations set's and the source's sampling
 *    state, and the tally.  Anyone else reaches them only through
 *    qdamon_monitor_call(), i.e. the engine's damon_call(), which runs
 *    a function on the driver between two steps.  Before begin and
 *    after end, whoever holds the BQL owns them.
 *  - QdamonMonitor.lock: only the realtime thread's wake-up flags.
 */
#ifndef QDAMON_MONITOR_INT_H
#define QDAMON_MONITOR_INT_H

#include "qemu/thread.h"
#include "qemu/timer.h"
#include "qemu/event_notifier.h"
#include "qemu/queue.h"
#include "monitor.h"
#include "ops-paddr.h"
#include "source.h"

/* What the driver has counted and recorded so far. */
typedef struct QdamonTally {
    GArray *snapshot;               /* QdamonSnapRegion, last aggregation */
    struct damon_attrs snap_attrs;  /* what @snapshot was counted with */
    /* the engine's attrs and intervals tuner status after the last step */
    struct damon_attrs attrs_now;
    struct damon_intervals_status intervals;
    uint64_t snap_total_bytes;      /* what @snapshot covers */
    GPtrArray *history;             /* GArray of QdamonWssBin, oldest first */
    uint64_t nr_aggregations, nr_samples, cpu_ns;
    uint64_t last_aggregation_us, now_us;
    uint64_t total_bytes;           /* monitored now */
} QdamonTally;

struct QdamonMonitor {
    QdamonConfig cfg;           /* BQL; cfg.attrs follows damon-tune */
    struct damon_ctx *ctx;
    QdamonSource *src;
    QdamonSource *wsrc;         /* the write source, or NULL */
    QdamonPaddr *paddr;
    QdamonTally tally;          /* the driver's: see above */
    /* BQL: the schemes as they were when the context ended */
    DamonSchemeInfoList *final_schemes;
    /* BQL */
    DamonState state;
    DamonStopReason stop_reason;
    QEMUTimer *timer;           /* the virtual-clock driver */
    VMChangeStateEntry *vm_change;  /* its wake-up when the VM resumes */
    /* the virtual-clock driver's: see driver_now_us() */
    uint64_t vclock_skew_us, vclock_last_us;
    QemuThread thread;          /* the realtime driver */
    bool thread_running;
    /* wakes the realtime driver (a damon_call() is queued); set up by
     * its start, closed when @m is freed */
    EventNotifier wake;
    /* lock guards begun, begin_rc and done; cond signals them */
    QemuMutex lock;
    QemuCond cond;
    bool begun;
    int begin_rc;
    bool done;

    QTAILQ_ENTRY(QdamonMonitor) next;
};

/* ---- driver.c ---- */

/* Begin monitoring on @m's driver.  Context: BQL held. */
bool qdamon_driver_start(QdamonMonitor *m, Error **errp);
/* End monitoring and wait for the driver.  Context: BQL held. */
void qdamon_driver_stop(QdamonMonitor *m);
/* The damon_callback.call_queued hook: wake the driver. */
void qdamon_driver_kick(struct damon_ctx *ctx);
/*
 * Run @fn on @m's driver and return its result, or -ECANCELED when the
 * context ended first.  Context: BQL held; it is let go while waiting
 * for the realtime thread, which may need it to finish its step.
 */
int qdamon_monitor_call(QdamonMonitor *m,
                        int (*fn)(struct damon_ctx *ctx, void *data),
                        void *data);
/*
 * qdamon_monitor_call() for @fn that only reads the context (a query):
 * it may also run between the pieces of a long scheme action, instead
 * of waiting for the step to end (damon_call_serve_read_only()).
 */
int qdamon_monitor_query(QdamonMonitor *m,
                         int (*fn)(struct damon_ctx *ctx, void *data),
                         void *data);
/* Stop reason for QMP, from the engine's. */
DamonStopReason qdamon_reason_of(struct damon_ctx *ctx);
/* The driver has ended: release, mark stopped, send the event.  BQL. */
void qdamon_monitor_finish(QdamonMonitor *m, DamonStopReason reason);
/* Monitors whose thread ended by itself, reaped in the main loop. */
void qdamon_monitor_reap_all(void);

/* ---- results.c ---- */

void qdamon_tally_init(QdamonTally *t);
void qdamon_tally_destroy(QdamonTally *t);
/* The after_aggregation callback: snapshot and WSS bins.  Driver. */
int qdamon_tally_aggregated(struct damon_ctx *ctx);
/* Count a step's cost and progress.  Driver. */
void qdamon_tally_step(QdamonMonitor *m, uint64_t cpu_ns);
/* A copy of @m's results (on its driver while it runs).  BQL held. */
QdamonResults *qdamon_results_of(QdamonMonitor *m, bool with_history);

#endif /* QDAMON_MONITOR_INT_H */
