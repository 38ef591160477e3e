/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon QMP commands (schema: qmp/damon.json).  The handlers only turn
 * arguments into a configuration and results into replies; monitors
 * live in monitor.c.  All run in the main loop with the BQL held.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-damon.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-visit-damon.h"
#include "qemu/cutils.h"
#include "monitor/monitor.h"
#include "monitor.h"
#include "source.h"
#include "trace.h"

#define QDAMON_DEFAULT_ID "damon0"

static const uint8_t default_percentiles[] = { 0, 25, 50, 75, 100 };

static void attrs_apply(struct damon_attrs *a,
                        bool has_sample, uint64_t sample,
                        bool has_aggr, uint64_t aggr,
                        bool has_update, uint64_t update,
                        bool has_min, uint32_t min,
                        bool has_max, uint32_t max)
{
    if (has_sample) {
        a->sample_interval = sample;
    }
    if (has_aggr) {
        a->aggr_interval = aggr;
    }
    if (has_update) {
        a->ops_update_interval = update;
    }
    if (has_min) {
        a->min_nr_regions = min;
    }
    if (has_max) {
        a->max_nr_regions = max;
    }
}

static bool ranges_from_qapi(DamonRangeList *list, QdamonConfig *cfg,
                             Error **errp)
{
    DamonRangeList *l;
    unsigned int n = 0;

    for (l = list; l; l = l->next) {
        n++;
    }
    cfg->ranges = g_new0(struct damon_addr_range, MAX(n, 1));
    cfg->nr_ranges = n;
    n = 0;
    for (l = list; l; l = l->next, n++) {
        cfg->ranges[n].start = l->value->start;
        cfg->ranges[n].end = l->value->end;
    }
    return qdamon_check_ranges(cfg->ranges, cfg->nr_ranges, errp);
}

/*
 * The file descriptor that damon-start's argument @arg names: a name
 * passed with getfd on this monitor (which gives it up to us), a
 * number (dup'd: the number stays the caller's), or /dev/fdset/N.
 * Returns an fd the caller owns, or -1 with @errp set.
 */
static int fd_arg(const char *arg, const char *val, int flags, Error **errp)
{
    int fd, num;

    if (g_str_has_prefix(val, "/dev/fdset/")) {
        fd = qemu_open(val, flags, errp);
    } else if (!qemu_strtoi(val, NULL, 10, &num)) {
        fd = fcntl(num, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            error_setg_errno(errp, errno, "file descriptor %d", num);
        }
    } else {
        fd = monitor_get_fd(monitor_cur(), val, errp);
    }
    if (fd < 0) {
        error_prepend(errp, "'%s': ", arg);
    }
    return fd;
}

/* Resolve damon-start's file arguments into @opts. */
static bool source_opts(const char *pagemap_fd, const char *idle_bitmap_fd,
                        QdamonSourceOpts *opts, Error **errp)
{
    if (pagemap_fd) {
        opts->pagemap_fd = fd_arg("pagemap-fd", pagemap_fd, O_RDONLY, errp);
        if (opts->pagemap_fd < 0) {
            return false;
        }
    }
    if (idle_bitmap_fd) {
        opts->idle_bitmap_fd = fd_arg("idle-bitmap-fd", idle_bitmap_fd,
                                      O_RDWR, errp);
        if (opts->idle_bitmap_fd < 0) {
            return false;
        }
    }
    return true;
}

static void source_opts_close(QdamonSourceOpts *opts)
{
    if (opts->pagemap_fd >= 0) {
        close(opts->pagemap_fd);
    }
    if (opts->idle_bitmap_fd >= 0) {
        close(opts->idle_bitmap_fd);
    }
}

/* Files are for idle-page only; the error names the one given. */
static bool check_source_opts(const QdamonConfig *cfg,
                              const QdamonSourceOpts *opts, Error **errp)
{
    const char *arg = opts->pagemap_fd >= 0 ? "pagemap-fd" :
        opts->idle_bitmap_fd >= 0 ? "idle-bitmap-fd" : NULL;

    if (arg && cfg->source != DAMON_SOURCE_KIND_IDLE_PAGE) {
        error_setg(errp, "'%s' is only for source idle-page (source is "
                   "'%s')", arg, DamonSourceKind_str(cfg->source));
        return false;
    }
    return true;
}

void qmp_damon_start(const char *id, bool has_source, DamonSourceKind source,
                     bool has_write_source, DamonSourceKind write_source,
                     const char *pagemap_fd, const char *idle_bitmap_fd,
                     bool has_sample_us, uint64_t sample_us,
                     bool has_aggr_us, uint64_t aggr_us,
                     bool has_update_us, uint64_t update_us,
                     bool has_min_nr_regions, uint32_t min_nr_regions,
                     bool has_max_nr_regions, uint32_t max_nr_regions,
                     DamonIntervalsGoal *intervals_goal,
                     bool has_regions, DamonRangeList *regions,
                     bool has_clock, DamonClock clock,
                     bool has_schemes, DamonSchemeList *schemes,
                     bool has_split, DamonSplitMode split,
                     Error **errp)
{
    QdamonConfig cfg = { 0 };
    QdamonSourceOpts opts = QDAMON_SOURCE_OPTS_NONE;

    if (!source_opts(pagemap_fd, idle_bitmap_fd, &opts, errp)) {
        source_opts_close(&opts);
        return;
    }
    cfg.id = g_strdup(id ? id : QDAMON_DEFAULT_ID);
    if (has_source) {
        cfg.source = source;
        cfg.source_reason = g_strdup("requested");
    } else {
        cfg.source = qdamon_source_default(&opts, &cfg.source_reason);
    }
    cfg.src_opts = &opts;
    cfg.has_write_source = has_write_source;
    cfg.write_source = write_source;
    cfg.clock = has_clock ? clock : DAMON_CLOCK_REALTIME;
    cfg.schemes = schemes ? QAPI_CLONE(DamonSchemeList, schemes) : NULL;
    damon_attrs_default(&cfg.attrs);
    if (has_split && split == DAMON_SPLIT_MODE_RANDOM) {
        cfg.attrs.split_mode = DAMON_SPLIT_RANDOM;
    }
    attrs_apply(&cfg.attrs, has_sample_us, sample_us, has_aggr_us, aggr_us,
                has_update_us, update_us, has_min_nr_regions, min_nr_regions,
                has_max_nr_regions, max_nr_regions);
    if (qdamon_check_id(cfg.id, errp) &&
        (!intervals_goal ||
         qdamon_intervals_goal_from_qapi(intervals_goal,
                                         &cfg.attrs.intervals_goal, errp)) &&
        check_source_opts(&cfg, &opts, errp) &&
        qdamon_check_write_source(&cfg, errp) &&
        qdamon_check_attrs(&cfg.attrs, errp) &&
        (!has_regions || ranges_from_qapi(regions, &cfg, errp))) {
        qdamon_monitor_start(&cfg, errp);
    }
    qdamon_config_free(&cfg);
    source_opts_close(&opts);
}

void qmp_damon_stop(const char *id, Error **errp)
{
    qdamon_monitor_stop(id ? id : QDAMON_DEFAULT_ID, errp);
}

void qmp_damon_tune(const char *id, bool has_sample_us, uint64_t sample_us,
                    bool has_aggr_us, uint64_t aggr_us,
                    bool has_update_us, uint64_t update_us,
                    bool has_min_nr_regions, uint32_t min_nr_regions,
                    bool has_max_nr_regions, uint32_t max_nr_regions,
                    DamonIntervalsGoal *intervals_goal,
                    bool has_schemes, DamonSchemeList *schemes,
                    Error **errp)
{
    const char *name = id ? id : QDAMON_DEFAULT_ID;
    struct damon_attrs a;

    if (!qdamon_monitor_get_attrs(name, &a, errp)) {
        return;
    }
    attrs_apply(&a, has_sample_us, sample_us, has_aggr_us, aggr_us,
                has_update_us, update_us, has_min_nr_regions, min_nr_regions,
                has_max_nr_regions, max_nr_regions);
    if (intervals_goal &&
        !qdamon_intervals_goal_from_qapi(intervals_goal, &a.intervals_goal,
                                         errp)) {
        return;
    }
    qdamon_monitor_tune(name, &a, has_schemes, schemes, errp);
}

DamonSchemes *qmp_query_damon_schemes(const char *id, bool has_tried_regions,
                                      bool tried_regions, Error **errp)
{
    return qdamon_monitor_schemes(id, has_tried_regions && tried_regions,
                                  errp);
}

static DamonAttrs *attrs_to_qapi(const struct damon_attrs *a)
{
    DamonAttrs *q = g_new0(DamonAttrs, 1);

    q->sample_us = a->sample_interval;
    q->aggr_us = a->aggr_interval;
    q->update_us = a->ops_update_interval;
    q->min_nr_regions = a->min_nr_regions;
    q->max_nr_regions = a->max_nr_regions;
    q->split = a->split_mode == DAMON_SPLIT_RANDOM ?
        DAMON_SPLIT_MODE_RANDOM : DAMON_SPLIT_MODE_AIMED;
    return q;
}

static DamonIntervalsTuning *intervals_to_qapi(const QdamonResults *r)
{
    DamonIntervalsTuning *q = g_new0(DamonIntervalsTuning, 1);
    const struct damon_intervals_status *st = &r->intervals;

    q->goal = qdamon_intervals_goal_to_qapi(&r->attrs.intervals_goal);
    q->sample_us = r->attrs_now.sample_interval;
    q->aggr_us = r->attrs_now.aggr_interval;
    q->nr_tunes = st->nr_tunes;
    q->has_last_score_bp = q->has_last_adaptation_bp = q->has_limited_by =
        st->nr_tunes > 0;
    q->last_score_bp = st->last_score_bp;
    q->last_adaptation_bp = st->last_adaptation_bp;
    switch (st->limited_by) {
    case DAMON_INTERVALS_LIMIT_MIN_SAMPLE:
        q->limited_by = DAMON_TUNING_LIMIT_MIN_SAMPLE_US;
        break;
    case DAMON_INTERVALS_LIMIT_MAX_SAMPLE:
        q->limited_by = DAMON_TUNING_LIMIT_MAX_SAMPLE_US;
        break;
    case DAMON_INTERVALS_LIMIT_CPU_BUDGET:
        q->limited_by = DAMON_TUNING_LIMIT_CPU_BUDGET;
        break;
    default:
        q->limited_by = DAMON_TUNING_LIMIT_GOAL;
    }
    q->sample_cost_ns = st->sample_cost_ns;
    q->has_budget_min_sample_us = st->budget_min_sample_us != 0;
    q->budget_min_sample_us = st->budget_min_sample_us;
    return q;
}

static DamonInfo *info_of(QdamonResults *r)
{
    DamonInfo *i = g_new0(DamonInfo, 1);

    i->id = g_strdup(r->id);
    i->state = r->state;
    i->has_stop_reason = r->state == DAMON_STATE_STOPPED;
    i->stop_reason = r->stop_reason;
    i->source = r->source;
    i->sees = r->sees;
    i->source_reason = g_strdup(r->source_reason);
    i->has_write_source = r->has_write_source;
    i->write_source = r->write_source;
    i->clock = r->clock;
    i->attrs = attrs_to_qapi(&r->attrs);
    if (r->attrs.intervals_goal.aggrs) {
        i->intervals_tuning = intervals_to_qapi(r);
    }
    i->nr_regions = r->regions->len;
    i->monitored_bytes = r->total_bytes;
    i->nr_aggregations = r->nr_aggregations;
    i->nr_samples = r->nr_samples;
    i->cpu_ns = r->cpu_ns;
    i->has_last_aggregation_age_us = r->has_last_aggregation;
    i->last_aggregation_age_us = r->last_aggregation_age_us;
    i->has_nr_syncs = i->has_sync_ns = r->has_syncs;
    i->nr_syncs = r->nr_syncs;
    i->sync_ns = r->sync_ns;
    i->has_nr_clear_ioctls = r->has_clear_ioctls;
    i->nr_clear_ioctls = r->nr_clear_ioctls;
    i->has_rearmed_pages = i->has_vcpu_kicks = r->has_guest_cost;
    i->rearmed_pages = r->nr_rearmed_pages;
    i->vcpu_kicks = r->nr_vcpu_kicks;
    if (r->vcpu_writes) {
        uint64List **tail = &i->vcpu_dirty_pages;
        size_t k;

        i->has_vcpu_dirty_pages = true;
        for (k = 0; k < r->nr_vcpu_writes; k++) {
            QAPI_LIST_APPEND(tail, r->vcpu_writes[k]);
        }
    }
    /* taken over: @r is freed after */
    i->idle_page = g_steal_pointer(&r->idle_page);
    return i;
}

DamonInfoList *qmp_query_damon(Error **errp)
{
    g_autoptr(GPtrArray) all = qdamon_monitor_results_all();
    DamonInfoList *head = NULL, **tail = &head;
    guint i;

    for (i = 0; i < all->len; i++) {
        QAPI_LIST_APPEND(tail, info_of(g_ptr_array_index(all, i)));
    }
    trace_qdamon_qmp_query_damon(all->len);
    return head;
}

static unsigned int max_nr_accesses(const struct damon_attrs *a)
{
    return damon_max_nr_accesses(a);
}

/*
 * A region's age in milliseconds: age counts aggregations, each of the
 * snapshot's aggregation interval (a damon-tune since may have changed
 * the monitor's).  query-damon-regions' age-ms and query-damon-idle's
 * idle ages both come from here, so the two always agree.
 */
static uint64_t snap_age_ms(const QdamonResults *r, const QdamonSnapRegion *s)
{
    return (uint64_t)s->age * r->snap_attrs.aggr_interval / 1000;
}

DamonRegions *qmp_query_damon_regions(const char *id, Error **errp)
{
    g_autoptr(QdamonResults) r = qdamon_monitor_results(id, false, errp);
    DamonRegionList **tail;
    DamonRegions *out;
    unsigned int max;
    guint i;

    if (!r) {
        return NULL;
    }
    max = max_nr_accesses(&r->snap_attrs);
    out = g_new0(DamonRegions, 1);
    out->id = g_strdup(r->id);
    out->nr_aggregations = r->nr_aggregations;
    out->max_nr_accesses = max;
    out->total_bytes = r->snap_total_bytes;
    tail = &out->regions;
    for (i = 0; i < r->regions->len; i++) {
        QdamonSnapRegion *s = &g_array_index(r->regions, QdamonSnapRegion, i);
        DamonRegion *q = g_new0(DamonRegion, 1);

        q->start = s->start;
        q->end = s->end;
        q->nr_accesses = s->nr_accesses;
        /* only with a write source: without, the reply is as before */
        q->has_nr_writes = r->has_write_source;
        q->nr_writes = s->nr_writes;
        q->access_rate_percent = 100.0 * s->nr_accesses / max;
        q->access_hz = s->nr_accesses * 1e6 / r->snap_attrs.aggr_interval;
        q->age = s->age;
        q->age_ms = snap_age_ms(r, s);
        QAPI_LIST_APPEND(tail, q);
    }
    return out;
}

static gint u64_cmp(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The @pct-th percentile of sorted @v (nearest rank, rounding down). */
static uint64_t percentile_of(GArray *v, unsigned int pct)
{
    if (!v->len) {
        return 0;
    }
    return g_array_index(v, uint64_t, (v->len - 1) * pct / 100);
}

static bool check_percentiles(uint8List *list, Error **errp)
{
    unsigned int n = 0;

    for (; list; list = list->next, n++) {
        if (list->value > 100) {
            error_setg(errp, "'percentiles[%u]' must be 0 to 100 (got %u)",
                       n, list->value);
            return false;
        }
    }
    if (n > 101) {
        error_setg(errp, "'percentiles' must have at most 101 entries "
                   "(got %u)", n);
        return false;
    }
    return true;
}

DamonWss *qmp_query_damon_wss(const char *id, bool has_min_nr_accesses,
                              uint32_t min_nr_accesses,
                              bool has_percentiles, uint8List *percentiles,
                              Error **errp)
{
    g_autoptr(QdamonResults) r = qdamon_monitor_results(id, true, errp);
    g_autoptr(GArray) wss = g_array_new(false, false, sizeof(uint64_t));
    unsigned int min = has_min_nr_accesses ? min_nr_accesses : 1, max;
    DamonWssPercentileList **tail;
    DamonWss *out;
    guint i;

    if (!r || (has_percentiles && !check_percentiles(percentiles, errp))) {
        return NULL;
    }
    max = max_nr_accesses(&r->snap_attrs);
    if (min < 1 || min > max) {
        /* the snapshot's attrs, which a damon-tune may since have changed */
        error_setg(errp, "'min-nr-accesses' must be 1 to %u (aggr-us / "
                   "sample-us of the last aggregated snapshot) (got %u)",
                   max, min);
        return NULL;
    }
    for (i = 0; i < r->history->len; i++) {
        uint64_t w = qdamon_wss_of(g_ptr_array_index(r->history, i), min);

        g_array_append_val(wss, w);
    }
    out = g_new0(DamonWss, 1);
    out->id = g_strdup(r->id);
    out->min_nr_accesses = min;
    out->wss_bytes = 0;
    for (i = 0; i < r->regions->len; i++) {
        QdamonSnapRegion *sr = &g_array_index(r->regions, QdamonSnapRegion, i);

        if (sr->nr_accesses >= min) {
            out->wss_bytes += sr->end - sr->start;
        }
    }
    if (r->has_write_source) {
        out->has_write_wss_bytes = true;
        out->write_wss_bytes = qdamon_write_wss_of(r->regions, min);
    }
    out->total_bytes = r->snap_total_bytes;
    out->nr_aggregations = wss->len;
    g_array_sort(wss, u64_cmp);
    tail = &out->percentiles;
    if (has_percentiles) {
        for (; percentiles; percentiles = percentiles->next) {
            DamonWssPercentile *p = g_new0(DamonWssPercentile, 1);

            p->percentile = percentiles->value;
            p->wss_bytes = percentile_of(wss, p->percentile);
            QAPI_LIST_APPEND(tail, p);
        }
    } else {
        for (i = 0; i < G_N_ELEMENTS(default_percentiles); i++) {
            DamonWssPercentile *p = g_new0(DamonWssPercentile, 1);

            p->percentile = default_percentiles[i];
            p->wss_bytes = percentile_of(wss, p->percentile);
            QAPI_LIST_APPEND(tail, p);
        }
    }
    return out;
}

#define IDLE_MAX_BINS       32
#define IDLE_MAX_BOUND_MS   (1ULL << 32)

static const uint64_t default_idle_bins_ms[] = { 1000, 10000, 60000, 300000 };

/* The bounds of query-damon-idle's bins into @bounds; false if bad. */
static bool idle_bounds(uint64List *list, GArray *bounds, Error **errp)
{
    unsigned int n = 0, len = 0;
    uint64List *l;

    for (l = list; l; l = l->next) {
        len++;
    }
    if (len < 1 || len > IDLE_MAX_BINS) {
        error_setg(errp, "'bins-ms' must have 1 to %d entries (got %u)",
                   IDLE_MAX_BINS, len);
        return false;
    }
    for (; list; list = list->next, n++) {
        if (list->value < 1 || list->value > IDLE_MAX_BOUND_MS) {
            error_setg(errp, "'bins-ms[%u]' must be 1 to %llu (got %" PRIu64
                       ")", n, IDLE_MAX_BOUND_MS, list->value);
            return false;
        }
        if (n && list->value <= g_array_index(bounds, uint64_t, n - 1)) {
            error_setg(errp, "'bins-ms' must be strictly increasing "
                       "('bins-ms[%u]' %" PRIu64 " is not above %" PRIu64 ")",
                       n, list->value, g_array_index(bounds, uint64_t, n - 1));
            return false;
        }
        g_array_append_val(bounds, list->value);
    }
    return true;
}

DamonIdle *qmp_query_damon_idle(const char *id, bool has_bins_ms,
                                uint64List *bins_ms, Error **errp)
{
    g_autoptr(GArray) bounds = g_array_new(false, false, sizeof(uint64_t));
    g_autoptr(QdamonResults) r = NULL;
    g_autofree DamonIdleBin **bins = NULL;
    DamonIdleBinList **tail;
    DamonIdle *out;
    guint i, nb;

    if (has_bins_ms) {
        if (!idle_bounds(bins_ms, bounds, errp)) {
            return NULL;
        }
    } else {
        g_array_append_vals(bounds, default_idle_bins_ms,
                            G_N_ELEMENTS(default_idle_bins_ms));
    }
    r = qdamon_monitor_results(id, false, errp);
    if (!r) {
        return NULL;
    }
    out = g_new0(DamonIdle, 1);
    out->id = g_strdup(r->id);
    out->nr_aggregations = r->nr_aggregations;
    /* the snapshot's own bytes, so that the bins always add up to it */
    nb = bounds->len + 1;
    bins = g_new0(DamonIdleBin *, nb);
    tail = &out->bins;
    for (i = 0; i < nb; i++) {
        bins[i] = g_new0(DamonIdleBin, 1);
        if (i < bounds->len) {
            bins[i]->has_max_age_ms = true;
            bins[i]->max_age_ms = g_array_index(bounds, uint64_t, i);
        }
        QAPI_LIST_APPEND(tail, bins[i]);
    }
    for (i = 0; i < r->regions->len; i++) {
        QdamonSnapRegion *s = &g_array_index(r->regions, QdamonSnapRegion, i);
        uint64_t sz = s->end - s->start, age;
        guint b = 0;

        out->total_bytes += sz;
        if (s->nr_accesses) {
            out->accessed_bytes += sz;
            continue;
        }
        age = snap_age_ms(r, s);
        while (b < bounds->len && age > g_array_index(bounds, uint64_t, b)) {
            b++;
        }
        bins[b]->bytes += sz;
        bins[b]->nr_regions++;
    }
    return out;
}
