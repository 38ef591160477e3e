/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon monitors: lifecycle and the API the QMP and HMP commands use.
 *
 * A monitor is one engine context (src/core) with the guest-physical
 * operations set (ops-paddr.c), one access source (source*.c), a driver
 * (driver.c: a thread on real time, or a virtual-clock timer) and its
 * tally of results (results.c).  See monitor-int.h for who owns what.
 * Everything here runs in the main loop with the BQL held.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-events-damon.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-visit-damon.h"
#include "qemu/main-loop.h"
#include "qemu/lockable.h"
#include "system/system.h"
#include "actions.h"
#include "monitor-int.h"
#include "schemes.h"
#include "trace.h"

/* BQL */
static QTAILQ_HEAD(, QdamonMonitor) qdamon_monitors =
    QTAILQ_HEAD_INITIALIZER(qdamon_monitors);

/* ---- lifecycle ---- */

void qdamon_config_free(QdamonConfig *cfg)
{
    g_free(cfg->id);
    g_free(cfg->source_reason);
    g_free(cfg->ranges);
    qapi_free_DamonSchemeList(cfg->schemes);
    memset(cfg, 0, sizeof(*cfg));
}

/* Free what tracks guest memory; the tally stays for the queries. */
static void monitor_release(QdamonMonitor *m)
{
    struct damos *s, *next;

    if (m->ctx) {
        /* the context has ended (or never begun): the BQL holder owns it */
        qapi_free_DamonSchemeInfoList(m->final_schemes);
        m->final_schemes = qdamon_schemes_info(m->ctx, true);
        damon_for_each_scheme_safe(s, next, m->ctx) {
            qdamon_scheme_destroy(s);
        }
    }
    damon_destroy_ctx(m->ctx);
    m->ctx = NULL;
    qdamon_pa_free(m->paddr);
    m->paddr = NULL;
    qdamon_source_free(m->src);
    m->src = NULL;
    qdamon_source_free(m->wsrc);
    m->wsrc = NULL;
    if (m->timer) {
        timer_free(m->timer);
        m->timer = NULL;
    }
}

static void monitor_free(QdamonMonitor *m)
{
    monitor_release(m);
    qapi_free_DamonSchemeInfoList(m->final_schemes);
    qdamon_config_free(&m->cfg);
    qdamon_tally_destroy(&m->tally);
    qemu_cond_destroy(&m->cond);
    qemu_mutex_destroy(&m->lock);
    event_notifier_cleanup(&m->wake);
    g_free(m);
}

void qdamon_monitor_finish(QdamonMonitor *m, DamonStopReason reason)
{
    monitor_release(m);
    m->state = DAMON_STATE_STOPPED;
    m->stop_reason = reason;
    trace_qdamon_monitor_stopped(m->cfg.id, DamonStopReason_str(reason));
    qapi_event_send_damon_stopped(m->cfg.id, reason);
}

void qdamon_monitor_reap_all(void)
{
    QdamonMonitor *m;

    QTAILQ_FOREACH(m, &qdamon_monitors, next) {
        bool done;

        WITH_QEMU_LOCK_GUARD(&m->lock) {
            done = m->done;
        }
        if (m->thread_running && done) {
            qemu_thread_join(&m->thread);
            m->thread_running = false;
            qdamon_monitor_finish(m, qdamon_reason_of(m->ctx));
        }
    }
}

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

/* Stop every monitor thread when QEMU exits, before guest RAM goes. */
static void qdamon_exit_notify(Notifier *n, void *data)
{
    QdamonMonitor *m;

    QTAILQ_FOREACH(m, &qdamon_monitors, next) {
        if (m->thread_running) {
            qdamon_driver_stop(m);
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
    qdamon_tally_init(&m->tally);
    return m;
}

/*
 * What the regions cover, from the layout (so under its lock, not from
 * the driver's tally): query-damon reports it before the driver's first
 * aggregation, and damon-tune checks new schemes against it.
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

/* damon-start's schemes, before the context begins. */
static bool monitor_add_schemes(QdamonMonitor *m, Error **errp)
{
    GPtrArray *schemes = qdamon_schemes_build(m->cfg.schemes, &m->cfg.attrs,
                                              m->tally.total_bytes, errp);
    guint i;

    if (!schemes) {
        return false;
    }
    for (i = 0; i < schemes->len; i++) {
        damon_add_scheme(m->ctx, g_ptr_array_index(schemes, i));
    }
    g_ptr_array_set_size(schemes, 0);
    qdamon_schemes_free(schemes);
    return true;
}

/* Source, operations set and engine context for @m. */
static bool monitor_build(QdamonMonitor *m, Error **errp)
{
    static const QdamonSourceOpts none = QDAMON_SOURCE_OPTS_NONE;
    const QdamonSourceOpts *opts = m->cfg.src_opts ?: &none;
    char err[DAMON_ERR_LEN];

    /* borrowed from damon-start's handler: see QdamonConfig */
    m->cfg.src_opts = NULL;
    m->src = qdamon_source_new(m->cfg.source, opts, errp);
    if (!m->src) {
        return false;
    }
    if (m->cfg.has_write_source) {
        m->wsrc = qdamon_source_new(m->cfg.write_source, &none, errp);
        if (!m->wsrc) {
            error_prepend(errp, "'write-source': ");
            return false;
        }
    }
    m->paddr = qdamon_pa_new(m->src, m->wsrc, m->cfg.ranges,
                             m->cfg.nr_ranges, errp);
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
    m->ctx->callback.after_aggregation = qdamon_tally_aggregated;
    if (qdamon_pa_attach(m->paddr, m->ctx)) {
        error_setg(errp, "out of memory");
        return false;
    }
    m->tally.total_bytes = monitor_initial_bytes(m);
    return monitor_add_schemes(m, errp);
}

/* ---- the API (BQL) ---- */

bool qdamon_monitor_start(QdamonConfig *cfg, Error **errp)
{
    QdamonMonitor *old = monitor_find(cfg->id);
    QdamonMonitor *m;

    if (old && old->state == DAMON_STATE_RUNNING) {
        error_setg(errp, "DAMON monitor '%s' is already running; stop it "
                   "or choose another id", cfg->id);
        return false;
    }
    qdamon_actions_init();
    m = monitor_new(cfg);
    if (!monitor_build(m, errp) || !qdamon_driver_start(m, errp)) {
        monitor_free(m);
        return false;
    }
    if (old) {
        QTAILQ_REMOVE(&qdamon_monitors, old, next);
        monitor_free(old);
    }
    QTAILQ_INSERT_TAIL(&qdamon_monitors, m, next);
    qdamon_register_exit();
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
    qdamon_driver_stop(m);
    qdamon_monitor_finish(m, DAMON_STOP_REASON_REQUESTED);
    return true;
}

bool qdamon_monitor_get_attrs(const char *id, struct damon_attrs *attrs,
                              Error **errp)
{
    QdamonMonitor *m = monitor_find_running(id, errp);

    if (!m) {
        return false;
    }
    *attrs = m->cfg.attrs;
    return true;
}

typedef struct TuneCall {
    QdamonMonitor *m;
    const struct damon_attrs *attrs;
    GPtrArray *schemes;         /* NULL: keep them */
    char err[DAMON_ERR_LEN];
} TuneCall;

/* On the driver, between two steps. */
static int tune_on_driver(struct damon_ctx *ctx, void *data)
{
    TuneCall *tc = data;
    int rc = damon_set_attrs(ctx, tc->attrs, tc->err, sizeof(tc->err));

    if (rc == 0) {
        /* counts from other intervals do not mix in one distribution */
        g_ptr_array_set_size(tc->m->tally.history, 0);
        if (tc->schemes) {
            qdamon_schemes_commit(ctx, tc->schemes);
        }
    }
    return rc;
}

bool qdamon_monitor_tune(const char *id, const struct damon_attrs *attrs,
                         bool has_schemes, DamonSchemeList *schemes,
                         Error **errp)
{
    QdamonMonitor *m = monitor_find_running(id, errp);
    TuneCall tc = { .m = m, .attrs = attrs };
    int rc;

    if (!m || !qdamon_check_attrs(attrs, errp)) {
        return false;
    }
    if (has_schemes) {
        /* the tally is the driver's: ask the layout, under its lock */
        tc.schemes = qdamon_schemes_build(schemes, attrs,
                                          monitor_initial_bytes(m), errp);
        if (!tc.schemes) {
            return false;
        }
    }
    rc = qdamon_monitor_call(m, tune_on_driver, &tc);
    /* what was committed is the context's now; the rest is freed */
    qdamon_schemes_free(tc.schemes);
    if (rc == -ECANCELED) {
        error_setg(errp, "DAMON monitor '%s' stopped before the change "
                   "could be made", id);
        return false;
    }
    if (rc) {
        error_setg(errp, "%s", tc.err);
        return false;
    }
    m->cfg.attrs = *attrs;
    if (has_schemes) {
        qapi_free_DamonSchemeList(m->cfg.schemes);
        m->cfg.schemes = schemes ? QAPI_CLONE(DamonSchemeList, schemes) :
            NULL;
    }
    return true;
}

typedef struct SchemesCall {
    bool tried;
    DamonSchemeInfoList *info;
} SchemesCall;

static int schemes_on_driver(struct damon_ctx *ctx, void *data)
{
    SchemesCall *sc = data;

    sc->info = qdamon_schemes_info(ctx, sc->tried);
    return 0;
}

/* The stopped copy, without tried regions unless asked for. */
static DamonSchemeInfoList *final_copy(QdamonMonitor *m, bool tried)
{
    DamonSchemeInfoList *l, *i;

    if (!m->final_schemes) {
        return NULL;
    }
    l = QAPI_CLONE(DamonSchemeInfoList, m->final_schemes);

    for (i = l; i && !tried; i = i->next) {
        qapi_free_DamonTriedRegionList(i->value->tried_regions);
        i->value->tried_regions = NULL;
        i->value->has_tried_regions = false;
    }
    return l;
}

DamonSchemes *qdamon_monitor_schemes(const char *id, bool tried,
                                     Error **errp)
{
    QdamonMonitor *m = monitor_find(id);
    SchemesCall sc = { .tried = tried };
    DamonSchemes *out;

    if (!m) {
        error_setg(errp, "no DAMON monitor named '%s'", id);
        return NULL;
    }
    if (m->state != DAMON_STATE_RUNNING ||
        qdamon_monitor_query(m, schemes_on_driver, &sc) == -ECANCELED) {
        sc.info = final_copy(m, tried);
    }
    out = g_new0(DamonSchemes, 1);
    out->id = g_strdup(m->cfg.id);
    out->schemes = sc.info;
    return out;
}

QdamonResults *qdamon_monitor_results(const char *id, bool with_history,
                                      Error **errp)
{
    QdamonMonitor *m = monitor_find(id);

    if (!m) {
        error_setg(errp, "no DAMON monitor named '%s'", id);
        return NULL;
    }
    return qdamon_results_of(m, with_history);
}

GPtrArray *qdamon_monitor_results_all(void)
{
    GPtrArray *all = g_ptr_array_new_with_free_func(
        (GDestroyNotify)qdamon_results_free);
    QdamonMonitor *m;

    QTAILQ_FOREACH(m, &qdamon_monitors, next) {
        g_ptr_array_add(all, qdamon_results_of(m, false));
    }
    return all;
}
