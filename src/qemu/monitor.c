/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon monitors: lifecycle, the two drivers, and results.
 *
 * A monitor is one engine context (src/core) with the guest-physical
 * operations set (ops-paddr.c) and one access source.  The engine's
 * step API lets us drive it two ways:
 *  - realtime: a QemuThread loops "sleep until the deadline, step".  It
 *    is a QEMU thread (signals blocked, registered with RCU) rather than
 *    the engine's own pthread worker, so the sources may read guest RAM
 *    under RCU and take the BQL.
 *  - virtual: a QEMU_CLOCK_VIRTUAL timer steps in the main loop.
 * See monitor.h for what each lock protects.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-events-damon.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/lockable.h"
#include "qemu/timer.h"
#include "qemu/queue.h"
#include "system/system.h"
#include "monitor.h"
#include "ops-paddr.h"
#include "source.h"
#include "trace.h"

struct QdamonMonitor {
    QdamonConfig cfg;           /* immutable but for cfg.attrs: see lock */
    struct damon_ctx *ctx;      /* the driver's */
    QdamonSource *src;
    QdamonPaddr *paddr;
    /* BQL */
    DamonState state;
    DamonStopReason stop_reason;
    QEMUTimer *timer;
    QemuThread thread;
    bool thread_running;
    /* lock guards everything below */
    QemuMutex lock;
    QemuCond cond;
    bool stop_requested;
    bool thread_done;
    bool has_pending_attrs;
    struct damon_attrs pending_attrs;
    GArray *snapshot;           /* QdamonSnapRegion */
    struct damon_attrs snap_attrs;  /* what @snapshot was counted with */
    uint64_t snap_total_bytes;      /* what @snapshot covers */
    uint64_t total_bytes;
    GPtrArray *history;         /* GArray of QdamonWssBin, oldest first */
    uint64_t nr_aggregations, nr_samples, cpu_ns;
    uint64_t last_aggregation_us, now_us;

    QTAILQ_ENTRY(QdamonMonitor) next;
};

/* BQL */
static QTAILQ_HEAD(, QdamonMonitor) qdamon_monitors =
    QTAILQ_HEAD_INITIALIZER(qdamon_monitors);

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

static uint64_t driver_now_us(QdamonMonitor *m)
{
    if (m->cfg.clock == DAMON_CLOCK_VIRTUAL) {
        return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) / SCALE_US;
    }
    return g_get_monotonic_time();
}

/* ---- results, built on the driver at each aggregation ---- */

static gint bin_cmp(gconstpointer a, gconstpointer b)
{
    const QdamonWssBin *x = a, *y = b;

    return x->nr_accesses < y->nr_accesses ? -1 :
        x->nr_accesses > y->nr_accesses;
}

static GArray *bins_of(GArray *snapshot)
{
    GArray *bins = g_array_new(false, false, sizeof(QdamonWssBin));
    g_autoptr(GHashTable) idx = g_hash_table_new(NULL, NULL);
    guint i;

    for (i = 0; i < snapshot->len; i++) {
        QdamonSnapRegion *r = &g_array_index(snapshot, QdamonSnapRegion, i);
        gpointer key = GUINT_TO_POINTER(r->nr_accesses + 1);
        gpointer pos = g_hash_table_lookup(idx, key);

        if (!pos) {
            QdamonWssBin b = { r->nr_accesses, 0 };

            g_array_append_val(bins, b);
            pos = GUINT_TO_POINTER(bins->len);
            g_hash_table_insert(idx, key, pos);
        }
        g_array_index(bins, QdamonWssBin, GPOINTER_TO_UINT(pos) - 1).bytes +=
            r->end - r->start;
    }
    g_array_sort(bins, bin_cmp);
    return bins;
}

uint64_t qdamon_wss_of(GArray *bins, unsigned int min_nr)
{
    uint64_t wss = 0;
    guint i;

    for (i = 0; i < bins->len; i++) {
        QdamonWssBin *b = &g_array_index(bins, QdamonWssBin, i);

        if (b->nr_accesses >= min_nr) {
            wss += b->bytes;
        }
    }
    return wss;
}

/* after_aggregation: nr_accesses are complete here, before the reset. */
static int monitor_after_aggregation(struct damon_ctx *ctx)
{
    QdamonMonitor *m = ctx->callback.private;
    GArray *snap = g_array_new(false, false, sizeof(QdamonSnapRegion));
    struct damon_target *t;
    struct damon_region *r;
    uint64_t total = 0;
    GArray *bins;

    damon_for_each_target(t, ctx) {
        damon_for_each_region(r, t) {
            QdamonSnapRegion s = { r->ar.start, r->ar.end, r->nr_accesses,
                                  r->age };
            g_array_append_val(snap, s);
            total += damon_sz_region(r);
        }
    }
    bins = bins_of(snap);
    WITH_QEMU_LOCK_GUARD(&m->lock) {
        g_array_unref(m->snapshot);
        m->snapshot = snap;
        m->snap_attrs = ctx->attrs;
        m->snap_total_bytes = total;
        m->total_bytes = total;
        if (m->history->len >= QDAMON_WSS_HISTORY) {
            g_ptr_array_remove_index(m->history, 0);
        }
        g_ptr_array_add(m->history, bins);
        m->nr_aggregations = ctx->nr_aggregations;
        m->last_aggregation_us = ctx->last_aggregation_us;
    }
    trace_qdamon_monitor_aggregated(m->cfg.id, ctx->nr_aggregations,
                                    snap->len);
    return 0;
}

/* Count a step's cost; apply a pending tune.  Runs on the driver. */
static void monitor_account(QdamonMonitor *m, uint64_t cpu_ns)
{
    QEMU_LOCK_GUARD(&m->lock);
    m->cpu_ns += cpu_ns;
    m->nr_samples = m->ctx->passed_sample_intervals;
    m->now_us = damon_ctx_now_us(m->ctx);
    /* monitored bytes change with hotplug, not only at aggregations */
    m->total_bytes = damon_sz_total(m->ctx);
    if (m->has_pending_attrs) {
        /* validated by qdamon_monitor_tune(); cannot fail here */
        damon_set_attrs(m->ctx, &m->pending_attrs, NULL, 0);
        m->has_pending_attrs = false;
        /* counts from other intervals do not mix in one distribution */
        g_ptr_array_set_size(m->history, 0);
    }
}

/* ---- lifecycle ---- */

void qdamon_config_free(QdamonConfig *cfg)
{
    g_free(cfg->id);
    g_free(cfg->ranges);
    memset(cfg, 0, sizeof(*cfg));
}

static void monitor_release(QdamonMonitor *m)
{
    damon_destroy_ctx(m->ctx);
    m->ctx = NULL;
    qdamon_pa_free(m->paddr);
    m->paddr = NULL;
    qdamon_source_free(m->src);
    m->src = NULL;
    if (m->timer) {
        timer_free(m->timer);
        m->timer = NULL;
    }
}

static void monitor_free(QdamonMonitor *m)
{
    monitor_release(m);
    qdamon_config_free(&m->cfg);
    g_array_unref(m->snapshot);
    g_ptr_array_unref(m->history);
    qemu_cond_destroy(&m->cond);
    qemu_mutex_destroy(&m->lock);
    g_free(m);
}

/* The driver has ended: free what tracks guest memory, tell the user. */
static void monitor_finish(QdamonMonitor *m, DamonStopReason reason)
{
    monitor_release(m);
    m->state = DAMON_STATE_STOPPED;
    m->stop_reason = reason;
    trace_qdamon_monitor_stopped(m->cfg.id, DamonStopReason_str(reason));
    qapi_event_send_damon_stopped(m->cfg.id, reason);
}

static DamonStopReason reason_of(struct damon_ctx *ctx)
{
    return ctx->stop_reason == DAMON_STOP_REQUESTED ||
        ctx->stop_reason == DAMON_STOP_NONE ?
        DAMON_STOP_REASON_REQUESTED : DAMON_STOP_REASON_ERROR;
}

/* ---- realtime driver ---- */

/* Sleep until the next deadline; false when asked to stop. */
static bool thread_wait(QdamonMonitor *m)
{
    QEMU_LOCK_GUARD(&m->lock);
    for (;;) {
        uint64_t now = driver_now_us(m);
        uint64_t deadline = damon_ctx_next_deadline_us(m->ctx);

        if (m->stop_requested) {
            return false;
        }
        if (now >= deadline) {
            return true;
        }
        if (deadline - now >= 1000) {
            /* the condition variable counts in milliseconds */
            qemu_cond_timedwait(&m->cond, &m->lock,
                                (deadline - now) / 1000);
        } else {
            qemu_mutex_unlock(&m->lock);
            g_usleep(deadline - now);
            qemu_mutex_lock(&m->lock);
        }
    }
}

/* Runs in the main loop: reap monitors whose thread ended by itself. */
static void monitor_reap_bh(void *opaque)
{
    QdamonMonitor *m;

    QTAILQ_FOREACH(m, &qdamon_monitors, next) {
        bool done;

        WITH_QEMU_LOCK_GUARD(&m->lock) {
            done = m->thread_done;
        }
        if (m->thread_running && done) {
            qemu_thread_join(&m->thread);
            m->thread_running = false;
            monitor_finish(m, reason_of(m->ctx));
        }
    }
}

static void *monitor_thread(void *opaque)
{
    QdamonMonitor *m = opaque;
    bool asked;

    rcu_register_thread();
    if (damon_ctx_begin(m->ctx, driver_now_us(m)) == 0) {
        while (thread_wait(m)) {
            uint64_t t0 = thread_cpu_ns();
            int rc = damon_ctx_step(m->ctx, driver_now_us(m));

            monitor_account(m, thread_cpu_ns() - t0);
            if (rc) {
                break;
            }
        }
        damon_ctx_end(m->ctx);
    }
    rcu_unregister_thread();
    WITH_QEMU_LOCK_GUARD(&m->lock) {
        m->thread_done = true;
        asked = m->stop_requested;
    }
    if (!asked) {
        aio_bh_schedule_oneshot(qemu_get_aio_context(), monitor_reap_bh,
                                NULL);
    }
    return NULL;
}

/* Ask the thread to stop and wait for it.  Context: BQL held or not. */
static void thread_stop(QdamonMonitor *m)
{
    bool locked = bql_locked();

    WITH_QEMU_LOCK_GUARD(&m->lock) {
        m->stop_requested = true;
        qemu_cond_broadcast(&m->cond);
    }
    /* the thread may need the BQL (dirty-bitmap sync) to finish a step */
    if (locked) {
        bql_unlock();
    }
    qemu_thread_join(&m->thread);
    if (locked) {
        bql_lock();
    }
    m->thread_running = false;
}

/* ---- virtual-clock driver ---- */

static void monitor_timer_cb(void *opaque)
{
    QdamonMonitor *m = opaque;
    uint64_t t0 = thread_cpu_ns();
    int rc = damon_ctx_step(m->ctx, driver_now_us(m));

    monitor_account(m, thread_cpu_ns() - t0);
    if (rc) {
        damon_ctx_end(m->ctx);
        monitor_finish(m, reason_of(m->ctx));
        return;
    }
    timer_mod(m->timer, damon_ctx_next_deadline_us(m->ctx) * SCALE_US);
}

static bool start_virtual(QdamonMonitor *m, Error **errp)
{
    int rc = damon_ctx_begin(m->ctx, driver_now_us(m));

    if (rc) {
        error_setg_errno(errp, -rc, "cannot start monitor '%s'", m->cfg.id);
        return false;
    }
    m->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, monitor_timer_cb, m);
    timer_mod(m->timer, damon_ctx_next_deadline_us(m->ctx) * SCALE_US);
    return true;
}

/* ---- the public API (BQL) ---- */

static QdamonMonitor *monitor_find(const char *id)
{
    QdamonMonitor *m;

    QTAILQ_FOREACH(m, &qdamon_monitors, next) {
        if (!strcmp(m->cfg.id, id)) {
            return m;
        }
    }
    return NULL;
}

static QdamonMonitor *monitor_find_running(const char *id, Error **errp)
{
    QdamonMonitor *m = monitor_find(id);

    if (!m) {
        error_setg(errp, "no DAMON monitor named '%s'", id);
        return NULL;
    }
    if (m->state != DAMON_STATE_RUNNING) {
        error_setg(errp, "DAMON monitor '%s' is not running", id);
        return NULL;
    }
    return m;
}

/* Stop every monitor when QEMU exits, so no thread outlives guest RAM. */
static void qdamon_exit_notify(Notifier *n, void *data)
{
    QdamonMonitor *m;

    QTAILQ_FOREACH(m, &qdamon_monitors, next) {
        if (m->thread_running) {
            thread_stop(m);
        }
        if (m->timer) {
            timer_del(m->timer);
        }
    }
}

static void qdamon_register_exit(void)
{
    static Notifier exit_notifier = { .notify = qdamon_exit_notify };
    static bool done;

    if (!done) {
        qemu_add_exit_notifier(&exit_notifier);
        done = true;
    }
}

static QdamonMonitor *monitor_new(QdamonConfig *cfg)
{
    QdamonMonitor *m = g_new0(QdamonMonitor, 1);

    m->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    m->state = DAMON_STATE_RUNNING;
    qemu_mutex_init(&m->lock);
    qemu_cond_init(&m->cond);
    m->snapshot = g_array_new(false, false, sizeof(QdamonSnapRegion));
    m->history = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_array_unref);
    return m;
}

/* Source, operations set and engine context for @m. */
/*
 * What the first regions will cover, so that query-damon reports it
 * before the driver's first step (the realtime thread may not have
 * run yet when damon-start returns).
 */
static uint64_t monitor_initial_bytes(QdamonMonitor *m)
{
    g_autofree struct damon_addr_range *ram = NULL;
    const struct damon_addr_range *r = m->cfg.ranges;
    unsigned int i, nr = m->cfg.nr_ranges;
    uint64_t total = 0;

    if (!r) {
        ram = qdamon_pa_ram_ranges(m->paddr, &nr);
        r = ram;
    }
    for (i = 0; i < nr; i++) {
        total += r[i].end - r[i].start;
    }
    return total;
}

static bool monitor_build(QdamonMonitor *m, Error **errp)
{
    char err[DAMON_ERR_LEN];

    m->src = qdamon_source_new(m->cfg.source, errp);
    if (!m->src) {
        return false;
    }
    m->paddr = qdamon_pa_new(m->src, m->cfg.ranges, m->cfg.nr_ranges, errp);
    if (!m->paddr) {
        return false;
    }
    m->ctx = damon_new_ctx();
    if (damon_set_attrs(m->ctx, &m->cfg.attrs, err, sizeof(err))) {
        error_setg(errp, "%s", err);
        return false;
    }
    damon_set_seed(m->ctx, g_random_int() | (uint64_t)g_random_int() << 32);
    m->ctx->callback.private = m;
    m->ctx->callback.after_aggregation = monitor_after_aggregation;
    if (qdamon_pa_attach(m->paddr, m->ctx)) {
        error_setg(errp, "out of memory");
        return false;
    }
    m->total_bytes = monitor_initial_bytes(m);
    return true;
}

bool qdamon_monitor_start(QdamonConfig *cfg, Error **errp)
{
    QdamonMonitor *old = monitor_find(cfg->id);
    QdamonMonitor *m;

    if (old && old->state == DAMON_STATE_RUNNING) {
        error_setg(errp, "DAMON monitor '%s' is already running; stop it "
                   "or choose another id", cfg->id);
        return false;
    }
    m = monitor_new(cfg);
    if (!monitor_build(m, errp) ||
        (m->cfg.clock == DAMON_CLOCK_VIRTUAL && !start_virtual(m, errp))) {
        monitor_free(m);
        return false;
    }
    if (old) {
        QTAILQ_REMOVE(&qdamon_monitors, old, next);
        monitor_free(old);
    }
    QTAILQ_INSERT_TAIL(&qdamon_monitors, m, next);
    qdamon_register_exit();
    if (m->cfg.clock == DAMON_CLOCK_REALTIME) {
        g_autofree char *name = g_strdup_printf("damon/%s", m->cfg.id);

        m->thread_running = true;
        qemu_thread_create(&m->thread, name, monitor_thread, m,
                           QEMU_THREAD_JOINABLE);
    }
    trace_qdamon_monitor_started(m->cfg.id, DamonSourceKind_str(m->cfg.source),
                                 DamonClock_str(m->cfg.clock));
    return true;
}

bool qdamon_monitor_stop(const char *id, Error **errp)
{
    QdamonMonitor *m = monitor_find_running(id, errp);

    if (!m) {
        return false;
    }
    if (m->thread_running) {
        thread_stop(m);
    } else {
        timer_del(m->timer);
        damon_ctx_end(m->ctx);
    }
    monitor_finish(m, DAMON_STOP_REASON_REQUESTED);
    return true;
}

bool qdamon_monitor_get_attrs(const char *id, struct damon_attrs *attrs,
                              Error **errp)
{
    QdamonMonitor *m = monitor_find_running(id, errp);

    if (!m) {
        return false;
    }
    QEMU_LOCK_GUARD(&m->lock);
    *attrs = m->cfg.attrs;
    return true;
}

bool qdamon_monitor_tune(const char *id, const struct damon_attrs *attrs,
                         Error **errp)
{
    QdamonMonitor *m = monitor_find_running(id, errp);

    if (!m || !qdamon_check_attrs(attrs, errp)) {
        return false;
    }
    if (m->cfg.clock == DAMON_CLOCK_VIRTUAL) {
        /* the main loop is the driver: commit now, re-arm the timer */
        damon_set_attrs(m->ctx, attrs, NULL, 0);
        timer_mod(m->timer, damon_ctx_next_deadline_us(m->ctx) * SCALE_US);
    }
    QEMU_LOCK_GUARD(&m->lock);
    m->cfg.attrs = *attrs;
    if (m->cfg.clock == DAMON_CLOCK_VIRTUAL) {
        g_ptr_array_set_size(m->history, 0);
    } else {
        m->pending_attrs = *attrs;
        m->has_pending_attrs = true;
        qemu_cond_broadcast(&m->cond);
    }
    return true;
}

static QdamonResults *results_of(QdamonMonitor *m, bool with_history)
{
    QdamonResults *res = g_new0(QdamonResults, 1);
    guint i;

    res->id = g_strdup(m->cfg.id);
    res->state = m->state;
    res->stop_reason = m->stop_reason;
    res->source = m->cfg.source;
    res->clock = m->cfg.clock;
    res->vcpu_writes = qdamon_source_vcpu_writes(m->src, &res->nr_vcpu_writes);
    if (m->src && m->src->has_syncs) {
        res->has_syncs = true;
        res->nr_syncs = m->src->nr_syncs;
        res->sync_ns = m->src->sync_ns;
    }
    QEMU_LOCK_GUARD(&m->lock);
    res->attrs = m->cfg.attrs;
    res->snap_attrs = m->nr_aggregations ? m->snap_attrs : m->cfg.attrs;
    res->nr_aggregations = m->nr_aggregations;
    res->nr_samples = m->nr_samples;
    res->cpu_ns = m->cpu_ns;
    res->has_last_aggregation = m->nr_aggregations > 0;
    res->last_aggregation_age_us = m->now_us > m->last_aggregation_us ?
        m->now_us - m->last_aggregation_us : 0;
    res->total_bytes = m->total_bytes;
    res->snap_total_bytes = m->nr_aggregations ? m->snap_total_bytes :
        m->total_bytes;
    res->regions = g_array_copy(m->snapshot);
    res->history = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_array_unref);
    for (i = 0; with_history && i < m->history->len; i++) {
        g_ptr_array_add(res->history,
                        g_array_copy(g_ptr_array_index(m->history, i)));
    }
    return res;
}

QdamonResults *qdamon_monitor_results(const char *id, bool with_history,
                                      Error **errp)
{
    QdamonMonitor *m = monitor_find(id);

    if (!m) {
        error_setg(errp, "no DAMON monitor named '%s'", id);
        return NULL;
    }
    return results_of(m, with_history);
}

GPtrArray *qdamon_monitor_results_all(void)
{
    GPtrArray *all = g_ptr_array_new_with_free_func(
        (GDestroyNotify)qdamon_results_free);
    QdamonMonitor *m;

    QTAILQ_FOREACH(m, &qdamon_monitors, next) {
        g_ptr_array_add(all, results_of(m, false));
    }
    return all;
}

void qdamon_results_free(QdamonResults *res)
{
    if (!res) {
        return;
    }
    g_free(res->id);
    g_free(res->vcpu_writes);
    g_array_unref(res->regions);
    g_ptr_array_unref(res->history);
    g_free(res);
}
