/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon results: what a monitor's driver records at each aggregation
 * (the regions' snapshot and the bytes per access count, for the WSS
 * distribution) and per step (cost, progress), and the copies the QMP
 * and HMP commands read.
 *
 * The tally belongs to the driver while the context runs, so a copy is
 * taken on the driver through qdamon_monitor_call(); once the monitor
 * has stopped, the tally is frozen and read under the BQL.
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "monitor-int.h"
#include "trace.h"

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

uint64_t qdamon_write_wss_of(GArray *snap, unsigned int min_nr)
{
    uint64_t wss = 0;
    guint i;

    assert(min_nr >= 1);
    for (i = 0; i < snap->len; i++) {
        QdamonSnapRegion *r = &g_array_index(snap, QdamonSnapRegion, i);

        /* nr_writes <= nr_accesses, so this never exceeds the bytes */
        if (r->nr_accesses >= min_nr) {
            wss += (r->end - r->start) * MIN(r->nr_writes, r->nr_accesses) /
                r->nr_accesses;
        }
    }
    return wss;
}

void qdamon_tally_init(QdamonTally *t)
{
    memset(t, 0, sizeof(*t));
    t->snapshot = g_array_new(false, false, sizeof(QdamonSnapRegion));
    t->history = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_array_unref);
}

void qdamon_tally_destroy(QdamonTally *t)
{
    g_array_unref(t->snapshot);
    g_ptr_array_unref(t->history);
}

/* after_aggregation: nr_accesses are complete here, before the reset. */
int qdamon_tally_aggregated(struct damon_ctx *ctx)
{
    QdamonMonitor *m = ctx->callback.private;
    QdamonTally *t = &m->tally;
    GArray *snap = g_array_new(false, false, sizeof(QdamonSnapRegion));
    struct damon_target *tg;
    struct damon_region *r;
    uint64_t total = 0;

    damon_for_each_target(tg, ctx) {
        damon_for_each_region(r, tg) {
            QdamonSnapRegion s = {
                .start = r->ar.start, .end = r->ar.end,
                .nr_accesses = r->nr_accesses, .age = r->age,
                /* the engine keeps it 0 unless writes are reported */
                .nr_writes = r->nr_writes,
            };

            g_array_append_val(snap, s);
            total += damon_sz_region(r);
        }
    }
    g_array_unref(t->snapshot);
    t->snapshot = snap;
    t->snap_attrs = ctx->attrs;
    t->snap_total_bytes = total;
    t->total_bytes = total;
    if (t->history->len >= QDAMON_WSS_HISTORY) {
        g_ptr_array_remove_index(t->history, 0);
    }
    g_ptr_array_add(t->history, bins_of(snap));
    t->nr_aggregations = ctx->nr_aggregations;
    t->last_aggregation_us = ctx->last_aggregation_us;
    trace_qdamon_monitor_aggregated(m->cfg.id, ctx->nr_aggregations,
                                    snap->len);
    return 0;
}

void qdamon_tally_step(QdamonMonitor *m, uint64_t cpu_ns)
{
    QdamonTally *t = &m->tally;

    t->cpu_ns += cpu_ns;
    t->nr_samples = m->ctx->passed_sample_intervals;
    /* the tuner may have changed the intervals in this step */
    t->attrs_now = m->ctx->attrs;
    t->intervals = m->ctx->intervals_status;
    t->now_us = damon_ctx_now_us(m->ctx);
    /* monitored bytes change with hotplug, not only at aggregations */
    t->total_bytes = damon_sz_total(m->ctx);
}

typedef struct ResultsCopy {
    QdamonMonitor *m;
    QdamonResults *res;
    bool with_history;
} ResultsCopy;

/* Copy the tally; on the driver, or under the BQL once it has ended. */
static int tally_copy(struct damon_ctx *ctx, void *data)
{
    ResultsCopy *c = data;
    const QdamonTally *t = &c->m->tally;
    QdamonResults *res = c->res;
    guint i;

    res->snap_attrs = t->nr_aggregations ? t->snap_attrs : res->attrs;
    /* before the first step the committed attributes are in force */
    res->attrs_now = t->attrs_now.sample_interval ? t->attrs_now : res->attrs;
    res->intervals = t->intervals;
    res->nr_aggregations = t->nr_aggregations;
    res->nr_samples = t->nr_samples;
    res->cpu_ns = t->cpu_ns;
    res->has_last_aggregation = t->nr_aggregations > 0;
    res->last_aggregation_age_us = t->now_us > t->last_aggregation_us ?
        t->now_us - t->last_aggregation_us : 0;
    res->total_bytes = t->total_bytes;
    res->snap_total_bytes = t->nr_aggregations ? t->snap_total_bytes :
        t->total_bytes;
    res->regions = g_array_copy(t->snapshot);
    for (i = 0; c->with_history && i < t->history->len; i++) {
        g_ptr_array_add(res->history,
                        g_array_copy(g_ptr_array_index(t->history, i)));
    }
    return 0;
}

QdamonResults *qdamon_results_of(QdamonMonitor *m, bool with_history)
{
    QdamonResults *res = g_new0(QdamonResults, 1);
    ResultsCopy c = { m, res, with_history };

    res->id = g_strdup(m->cfg.id);
    res->state = m->state;
    res->stop_reason = m->stop_reason;
    res->source = m->cfg.source;
    res->sees = qdamon_source_kind_sees(m->cfg.source);
    res->source_reason = g_strdup(m->cfg.source_reason);
    res->has_write_source = m->cfg.has_write_source;
    res->write_source = m->cfg.write_source;
    res->clock = m->cfg.clock;
    res->attrs = m->cfg.attrs;
    res->history = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_array_unref);
    /* the sources count syncs and vCPU writes under the BQL */
    res->vcpu_writes = qdamon_source_vcpu_writes(m->src, &res->nr_vcpu_writes);
    res->idle_page = qdamon_idle_page_info(m->src);
    if (m->src && m->src->has_syncs) {
        res->has_syncs = true;
        res->nr_syncs = m->src->nr_syncs;
        res->sync_ns = m->src->sync_ns;
    }
    if (m->src && m->src->has_clear_ioctls) {
        res->has_clear_ioctls = true;
        res->nr_clear_ioctls = m->src->nr_clear_ioctls;
    }
    if (m->src && m->src->has_guest_cost) {
        res->has_guest_cost = true;
        res->nr_rearmed_pages = m->src->nr_rearmed_pages;
        res->nr_vcpu_kicks = m->src->nr_vcpu_kicks;
    }
    if (!m->ctx || qdamon_monitor_query(m, tally_copy, &c) == -ECANCELED) {
        /* no driver any more: the tally is frozen */
        tally_copy(NULL, &c);
    }
    return res;
}

void qdamon_results_free(QdamonResults *res)
{
    if (!res) {
        return;
    }
    g_free(res->id);
    g_free(res->source_reason);
    g_free(res->vcpu_writes);
    qapi_free_DamonIdlePageInfo(res->idle_page);
    g_array_unref(res->regions);
    g_ptr_array_unref(res->history);
    g_free(res);
}
