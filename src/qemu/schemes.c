/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon schemes: QMP's DamonScheme to the engine's struct damos, and
 * back for query-damon-schemes.
 *
 * The checks here name the QMP member and its allowed range; the
 * engine's damon_validate_scheme() then checks consistency again.  The
 * defaults are Linux sysfs's, except that a quota's reset interval
 * defaults to 1 s (sysfs's 0 would be refused with a quota set).
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-visit-damon.h"
#include "metrics.h"
#include "monitor.h"
#include "schemes.h"
#include "source.h"

#define QUOTA_RESET_MS_DEFAULT  1000ULL
#define QUOTA_RESET_MS_MAX      3600000ULL
#define WEIGHT_MAX              100U
#define GOALS_MAX               8U
#define FILTERS_MAX             16U
#define WMARK_INTERVAL_DEFAULT  5000000ULL
#define WMARK_INTERVAL_MIN      1000ULL
#define WMARK_INTERVAL_MAX      3600000000ULL
#define FREE_RATE_MAX           1000ULL
#define APPLY_US_MAX            3600000000ULL

static const enum damos_action action_of[DAMON_SCHEME_ACTION__MAX] = {
    [DAMON_SCHEME_ACTION_STAT] = DAMOS_STAT,
    [DAMON_SCHEME_ACTION_PAGEOUT] = DAMOS_PAGEOUT,
    [DAMON_SCHEME_ACTION_COLD] = DAMOS_COLD,
    [DAMON_SCHEME_ACTION_WILLNEED] = DAMOS_WILLNEED,
    [DAMON_SCHEME_ACTION_HUGEPAGE] = DAMOS_HUGEPAGE,
    [DAMON_SCHEME_ACTION_NOHUGEPAGE] = DAMOS_NOHUGEPAGE,
    [DAMON_SCHEME_ACTION_MIGRATE_HOT] = DAMOS_MIGRATE_HOT,
    [DAMON_SCHEME_ACTION_MIGRATE_COLD] = DAMOS_MIGRATE_COLD,
};

static bool is_migrate(DamonSchemeAction a)
{
    return a == DAMON_SCHEME_ACTION_MIGRATE_HOT ||
        a == DAMON_SCHEME_ACTION_MIGRATE_COLD;
}

bool qdamon_host_has_node(uint32_t nid, Error **errp)
{
    g_autofree char *dir = g_strdup_printf("/sys/devices/system/node/node%u",
                                           nid);

    if (access(dir, F_OK)) {
        error_setg(errp, "the host has no NUMA node %u (%s: %s)", nid, dir,
                   strerror(errno));
        return false;
    }
    return true;
}

/* ---- defaults and checks, on the QMP structs ---- */

static void fill_pattern(DamonScheme *s, unsigned int max_nr)
{
    DamonAccessPattern *p;

    if (!s->access_pattern) {
        s->access_pattern = g_new0(DamonAccessPattern, 1);
    }
    p = s->access_pattern;
    if (!p->has_sz_max) {
        p->sz_max = UINT64_MAX;
    }
    if (!p->has_nr_accesses_max) {
        p->nr_accesses_max = max_nr;
    }
    if (!p->has_age_max) {
        p->age_max = UINT32_MAX;
    }
    p->has_sz_min = p->has_sz_max = p->has_nr_accesses_min = true;
    p->has_nr_accesses_max = p->has_age_min = p->has_age_max = true;
}

static void fill_quotas(DamonScheme *s)
{
    DamonQuotas *q;
    DamonQuotaGoalList *g;

    if (!s->quotas) {
        s->quotas = g_new0(DamonQuotas, 1);
    }
    q = s->quotas;
    if (!q->has_reset_interval_ms) {
        q->reset_interval_ms = QUOTA_RESET_MS_DEFAULT;
    }
    q->has_ms = q->has_bytes = q->has_reset_interval_ms = true;
    if (!q->weights) {
        q->weights = g_new0(DamonQuotaWeights, 1);
    }
    q->weights->has_sz = q->weights->has_nr_accesses = true;
    q->weights->has_age = true;
    q->has_goals = true;
    for (g = q->goals; g; g = g->next) {
        if (g->value->metric == DAMON_QUOTA_GOAL_METRIC_USER_INPUT) {
            g->value->has_current_value = true;
        }
    }
}

static void fill_defaults(DamonScheme *s, const struct damon_attrs *attrs)
{
    DamonSchemeFilterList *f;

    fill_pattern(s, damon_max_nr_accesses(attrs));
    s->has_apply_interval_us = true;
    fill_quotas(s);
    if (s->watermarks && !s->watermarks->has_interval_us) {
        s->watermarks->interval_us = WMARK_INTERVAL_DEFAULT;
        s->watermarks->has_interval_us = true;
    }
    s->has_filters = true;
    for (f = s->filters; f; f = f->next) {
        DamonSchemeFilter *x = f->value;

        if (!x->has_matching) {
            x->matching = true;
        }
        x->has_matching = x->has_allow = true;
    }
}

/* "'schemes[I].NAME' must be LO to HI (got V)" */
static bool in_range(unsigned int i, const char *name, uint64_t v,
                     uint64_t lo, uint64_t hi, Error **errp)
{
    g_autofree char *member = g_strdup_printf("schemes[%u].%s", i, name);

    return qdamon_check_u64(member, v, lo, hi, errp);
}

static bool check_pattern(unsigned int i, const DamonAccessPattern *p,
                          unsigned int max_nr, uint64_t monitored,
                          Error **errp)
{
    uint64_t sz_hi = MIN(p->sz_max, monitored);

    if (p->sz_min > sz_hi || p->sz_max < QDAMON_PAGE_SIZE) {
        error_setg(errp, "'schemes[%u].access-pattern.sz-min' (%" PRIu64
                   ") and 'sz-max' (%" PRIu64 ") match no region: regions "
                   "are %llu to %" PRIu64 " bytes (the monitored memory) "
                   "and sz-min must be at most sz-max", i, p->sz_min,
                   p->sz_max, QDAMON_PAGE_SIZE, monitored);
        return false;
    }
    return in_range(i, "access-pattern.nr-accesses-max", p->nr_accesses_max,
                    0, max_nr, errp) &&
        in_range(i, "access-pattern.nr-accesses-min", p->nr_accesses_min, 0,
                 p->nr_accesses_max, errp) &&
        in_range(i, "access-pattern.age-min", p->age_min, 0, p->age_max,
                 errp);
}

static bool check_goal(unsigned int i, unsigned int k,
                       const DamonQuotaGoal *g, Error **errp)
{
    if (!g->target_value) {
        error_setg(errp, "'schemes[%u].quotas.goals[%u].target-value' must "
                   "be at least 1 (got 0)", i, k);
        return false;
    }
    if (g->has_current_value &&
        g->metric != DAMON_QUOTA_GOAL_METRIC_USER_INPUT) {
        error_setg(errp, "'schemes[%u].quotas.goals[%u].current-value' is "
                   "only for metric user-input; %s is measured", i, k,
                   DamonQuotaGoalMetric_str(g->metric));
        return false;
    }
    return true;
}

static bool check_quotas(unsigned int i, const DamonQuotas *q, Error **errp)
{
    const DamonQuotaGoalList *g;
    unsigned int k = 0;

    if (!in_range(i, "quotas.reset-interval-ms", q->reset_interval_ms, 1,
                  QUOTA_RESET_MS_MAX, errp) ||
        !in_range(i, "quotas.weights.sz", q->weights->sz, 0, WEIGHT_MAX,
                  errp) ||
        !in_range(i, "quotas.weights.nr-accesses", q->weights->nr_accesses,
                  0, WEIGHT_MAX, errp) ||
        !in_range(i, "quotas.weights.age", q->weights->age, 0, WEIGHT_MAX,
                  errp)) {
        return false;
    }
    for (g = q->goals; g; g = g->next, k++) {
        if (k == GOALS_MAX) {
            error_setg(errp, "'schemes[%u].quotas.goals' must have at most "
                       "%u entries", i, GOALS_MAX);
            return false;
        }
        if (!check_goal(i, k, g->value, errp)) {
            return false;
        }
    }
    return true;
}

static bool check_wmarks(unsigned int i, const DamonWatermarks *w,
                         Error **errp)
{
    if (!w || w->metric == DAMON_WATERMARK_METRIC_NONE) {
        return true;
    }
    return in_range(i, "watermarks.interval-us", w->interval_us,
                    WMARK_INTERVAL_MIN, WMARK_INTERVAL_MAX, errp) &&
        in_range(i, "watermarks.high", w->high, 0, FREE_RATE_MAX, errp) &&
        in_range(i, "watermarks.mid", w->mid, 0, w->high, errp) &&
        in_range(i, "watermarks.low", w->low, 0, w->mid, errp);
}

static bool check_filter(unsigned int i, unsigned int k,
                         const DamonSchemeFilter *f, Error **errp)
{
    bool has_range = f->has_start || f->has_end;

    if (f->type == DAMON_SCHEME_FILTER_TYPE_YOUNG) {
        if (has_range) {
            error_setg(errp, "'schemes[%u].filters[%u]': 'start' and 'end' "
                       "are only for type addr", i, k);
            return false;
        }
        return true;
    }
    if (!f->has_start || !f->has_end) {
        error_setg(errp, "'schemes[%u].filters[%u]': type addr needs "
                   "'start' and 'end'", i, k);
        return false;
    }
    if ((f->start | f->end) & (QDAMON_PAGE_SIZE - 1) || f->start >= f->end) {
        error_setg(errp, "'schemes[%u].filters[%u]': 'start' (0x%" PRIx64
                   ") must be below 'end' (0x%" PRIx64 "), both multiples "
                   "of %llu", i, k, f->start, f->end, QDAMON_PAGE_SIZE);
        return false;
    }
    return true;
}

static bool check_filters(unsigned int i, const DamonSchemeFilterList *l,
                          Error **errp)
{
    unsigned int k = 0;

    for (; l; l = l->next, k++) {
        if (k == FILTERS_MAX) {
            error_setg(errp, "'schemes[%u].filters' must have at most %u "
                       "entries", i, FILTERS_MAX);
            return false;
        }
        if (!check_filter(i, k, l->value, errp)) {
            return false;
        }
    }
    return true;
}

static bool check_action(unsigned int i, const DamonScheme *s, Error **errp)
{
    if (!is_migrate(s->action)) {
        if (s->has_target_nid) {
            error_setg(errp, "'schemes[%u].target-nid' is only for actions "
                       "migrate-hot and migrate-cold (action is %s)", i,
                       DamonSchemeAction_str(s->action));
            return false;
        }
        return true;
    }
    if (!s->has_target_nid) {
        error_setg(errp, "'schemes[%u].target-nid' is needed by action %s",
                   i, DamonSchemeAction_str(s->action));
        return false;
    }
    if (!qdamon_host_has_node(s->target_nid, errp)) {
        error_prepend(errp, "'schemes[%u].target-nid': ", i);
        return false;
    }
    return true;
}

static bool check_scheme(unsigned int i, const DamonScheme *s,
                         const struct damon_attrs *attrs, uint64_t monitored,
                         Error **errp)
{
    uint64_t apply = s->apply_interval_us;

    if (apply && (apply % attrs->sample_interval || apply > APPLY_US_MAX)) {
        error_setg(errp, "'schemes[%u].apply-interval-us' must be 0 or a "
                   "multiple of sample-us (%" PRIu64 ") up to %llu (got %"
                   PRIu64 ")", i, attrs->sample_interval, APPLY_US_MAX,
                   apply);
        return false;
    }
    return check_action(i, s, errp) &&
        check_pattern(i, s->access_pattern, damon_max_nr_accesses(attrs),
                      monitored, errp) &&
        check_quotas(i, s->quotas, errp) &&
        check_wmarks(i, s->watermarks, errp) &&
        check_filters(i, s->filters, errp);
}

/* ---- to the engine ---- */

static void state_free(QdamonSchemeState *st)
{
    if (st) {
        qapi_free_DamonScheme(st->cfg);
        g_ptr_array_unref(st->metrics);
        g_free(st);
    }
}

void qdamon_scheme_destroy(struct damos *s)
{
    if (s) {
        state_free(s->priv);
        damon_destroy_scheme(s);
    }
}

void qdamon_schemes_free(GPtrArray *schemes)
{
    guint i;

    if (!schemes) {
        return;
    }
    for (i = 0; i < schemes->len; i++) {
        qdamon_scheme_destroy(g_ptr_array_index(schemes, i));
    }
    g_ptr_array_unref(schemes);
}

static bool add_goals(struct damos *s, QdamonSchemeState *st, unsigned int i,
                      Error **errp)
{
    DamonQuotaGoalList *l;
    unsigned int k = 0;

    for (l = st->cfg->quotas->goals; l; l = l->next, k++) {
        DamonQuotaGoal *g = l->value;
        struct damos_quota_goal *eg;
        QdamonMetric *m = NULL;

        if (g->metric != DAMON_QUOTA_GOAL_METRIC_USER_INPUT) {
            m = qdamon_metric_new_goal(g->metric, g->target_value, errp);
            if (!m) {
                error_prepend(errp, "'schemes[%u].quotas.goals[%u].metric' "
                              "%s: ", i, k,
                              DamonQuotaGoalMetric_str(g->metric));
                return false;
            }
            g_ptr_array_add(st->metrics, m);
            eg = damos_new_quota_goal(DAMOS_QUOTA_METRIC_CALLBACK,
                                      qdamon_metric_goal_target(m));
            eg->get_metric = qdamon_metric_goal_read;
            eg->data = m;
        } else {
            eg = damos_new_quota_goal(DAMOS_QUOTA_USER_INPUT,
                                      g->target_value);
            eg->current_value = g->current_value;
        }
        damos_add_quota_goal(&s->quota, eg);
    }
    return true;
}

static bool set_wmarks(struct damos *s, QdamonSchemeState *st,
                       unsigned int i, Error **errp)
{
    DamonWatermarks *w = st->cfg->watermarks;

    if (!w || w->metric == DAMON_WATERMARK_METRIC_NONE) {
        return true;
    }
    st->wmark = qdamon_metric_new_wmark(w->metric, errp);
    if (!st->wmark) {
        error_prepend(errp, "'schemes[%u].watermarks.metric': ", i);
        return false;
    }
    g_ptr_array_add(st->metrics, st->wmark);
    s->wmarks.get_metric = qdamon_metric_wmark_read;
    s->wmarks.data = st->wmark;
    s->wmarks.interval = w->interval_us;
    s->wmarks.high = w->high;
    s->wmarks.mid = w->mid;
    s->wmarks.low = w->low;
    return true;
}

static void add_filters(struct damos *s, const DamonSchemeFilterList *l)
{
    for (; l; l = l->next) {
        const DamonSchemeFilter *f = l->value;
        bool young = f->type == DAMON_SCHEME_FILTER_TYPE_YOUNG;
        struct damos_filter *ef = damos_new_filter(
            young ? DAMOS_FILTER_TYPE_YOUNG : DAMOS_FILTER_TYPE_ADDR,
            f->matching, f->allow);

        ef->addr_range.start = f->start;
        ef->addr_range.end = f->end;
        damos_add_filter(s, ef);
    }
}

static struct damos *engine_scheme(DamonScheme *cfg)
{
    const DamonAccessPattern *p = cfg->access_pattern;
    const DamonQuotas *q = cfg->quotas;
    struct damos_access_pattern ep = {
        .min_sz_region = p->sz_min, .max_sz_region = p->sz_max,
        .min_nr_accesses = p->nr_accesses_min,
        .max_nr_accesses = p->nr_accesses_max,
        .min_age_region = p->age_min, .max_age_region = p->age_max,
    };
    struct damos_quota eq = {
        .ms = q->ms, .sz = q->bytes, .reset_interval = q->reset_interval_ms,
        .weight_sz = q->weights->sz,
        .weight_nr_accesses = q->weights->nr_accesses,
        .weight_age = q->weights->age,
    };
    struct damos *s = damon_new_scheme(&ep, action_of[cfg->action],
                                       cfg->apply_interval_us, &eq, NULL);

    s->target_nid = cfg->has_target_nid ? cfg->target_nid : -1;
    return s;
}

static struct damos *scheme_build(DamonScheme *in, unsigned int i,
                                  const struct damon_attrs *attrs,
                                  uint64_t monitored, Error **errp)
{
    QdamonSchemeState *st = g_new0(QdamonSchemeState, 1);
    char err[DAMON_ERR_LEN];
    struct damos *s;

    st->cfg = QAPI_CLONE(DamonScheme, in);
    st->metrics = g_ptr_array_new_with_free_func(
        (GDestroyNotify)qdamon_metric_free);
    fill_defaults(st->cfg, attrs);
    if (!check_scheme(i, st->cfg, attrs, monitored, errp)) {
        state_free(st);
        return NULL;
    }
    s = engine_scheme(st->cfg);
    s->priv = st;
    add_filters(s, st->cfg->filters);
    if (!add_goals(s, st, i, errp) || !set_wmarks(s, st, i, errp)) {
        qdamon_scheme_destroy(s);
        return NULL;
    }
    if (damon_validate_scheme(NULL, s, err, sizeof(err))) {
        error_setg(errp, "'schemes[%u]': %s", i, err);
        qdamon_scheme_destroy(s);
        return NULL;
    }
    return s;
}

GPtrArray *qdamon_schemes_build(DamonSchemeList *list,
                                const struct damon_attrs *attrs,
                                uint64_t monitored_bytes, Error **errp)
{
    GPtrArray *out = g_ptr_array_new();
    unsigned int i = 0;

    for (; list; list = list->next, i++) {
        struct damos *s;

        if (i == QDAMON_SCHEMES_MAX) {
            error_setg(errp, "'schemes' must have at most %u entries",
                       QDAMON_SCHEMES_MAX);
            qdamon_schemes_free(out);
            return NULL;
        }
        s = scheme_build(list->value, i, attrs, monitored_bytes, errp);
        if (!s) {
            qdamon_schemes_free(out);
            return NULL;
        }
        g_ptr_array_add(out, s);
    }
    return out;
}

/* ---- commit and skips, on the driver ---- */

/* @dst keeps its skips; the parameters and metrics swap with @src's. */
static void state_commit(QdamonSchemeState *dst, QdamonSchemeState *src)
{
    DamonScheme *cfg = dst->cfg;
    GPtrArray *metrics = dst->metrics;
    QdamonMetric *wmark = dst->wmark;

    dst->cfg = src->cfg;
    dst->metrics = src->metrics;
    dst->wmark = src->wmark;
    src->cfg = cfg;
    src->metrics = metrics;
    src->wmark = wmark;
}

void qdamon_schemes_commit(struct damon_ctx *ctx, GPtrArray *next)
{
    struct damos *s, *nxt;
    guint i = 0;

    damon_for_each_scheme_safe(s, nxt, ctx) {
        if (i < next->len) {
            struct damos *n = g_ptr_array_index(next, i);

            state_commit(s->priv, n->priv);
            damos_commit(s, n);
            qdamon_scheme_destroy(n);
        } else {
            qdamon_scheme_destroy(s);
        }
        i++;
    }
    for (; i < next->len; i++) {
        damon_add_scheme(ctx, g_ptr_array_index(next, i));
    }
    g_ptr_array_set_size(next, 0);
}

void qdamon_scheme_skip(struct damos *s, DamonSchemeSkipReason reason,
                        uint64_t bytes, int err)
{
    QdamonSchemeState *st = s->priv;

    if (!st || !bytes) {
        return;
    }
    st->skips.bytes[reason] += bytes;
    if (reason == DAMON_SCHEME_SKIP_REASON_FAILED) {
        st->skips.last_errno = err;
    }
}

/* ---- back to QMP ---- */

static DamonSchemeStats *stats_of(const struct damos_stat *st)
{
    DamonSchemeStats *q = g_new0(DamonSchemeStats, 1);

    q->nr_tried = st->nr_tried;
    q->sz_tried = st->sz_tried;
    q->nr_applied = st->nr_applied;
    q->sz_applied = st->sz_applied;
    q->qt_exceeds = st->qt_exceeds;
    q->apply_ns = st->apply_ns;
    return q;
}

static DamonSchemeSkipList *skips_of(const QdamonSkips *sk)
{
    DamonSchemeSkipList *head = NULL, **tail = &head;
    int r;

    for (r = 0; r < DAMON_SCHEME_SKIP_REASON__MAX; r++) {
        DamonSchemeSkip *q;

        if (!sk->bytes[r]) {
            continue;
        }
        q = g_new0(DamonSchemeSkip, 1);
        q->reason = r;
        q->bytes = sk->bytes[r];
        if (r == DAMON_SCHEME_SKIP_REASON_FAILED) {
            q->last_error = g_strdup(strerror(sk->last_errno));
        }
        QAPI_LIST_APPEND(tail, q);
    }
    return head;
}

static DamonTriedRegionList *tried_of(const struct damos *s)
{
    DamonTriedRegionList *head = NULL, **tail = &head;
    const struct damos_tried_region *tr;
    size_t i, nr;

    tr = damos_tried_regions(s, &nr);
    for (i = 0; i < nr; i++) {
        DamonTriedRegion *q = g_new0(DamonTriedRegion, 1);

        q->start = tr[i].ar.start;
        q->end = tr[i].ar.end;
        q->nr_accesses = tr[i].nr_accesses;
        q->age = tr[i].age;
        QAPI_LIST_APPEND(tail, q);
    }
    return head;
}

/* The scheme as it runs: goals carry the values the tuner last read. */
static DamonScheme *cfg_of(const struct damos *s, const QdamonSchemeState *st)
{
    DamonScheme *cfg = QAPI_CLONE(DamonScheme, st->cfg);
    const struct damos_quota_goal *eg;
    DamonQuotaGoalList *g = cfg->quotas->goals;

    damos_for_each_quota_goal(eg, &s->quota) {
        uint64_t v;

        if (!g) {
            break;
        }
        if (g->value->metric == DAMON_QUOTA_GOAL_METRIC_USER_INPUT) {
            g->value->current_value = eg->current_value;
        } else if (eg->data && qdamon_metric_last(eg->data, &v)) {
            g->value->has_current_value = true;
            g->value->current_value = v;
        }
        g = g->next;
    }
    return cfg;
}

static DamonSchemeInfo *info_of(const struct damos *s, unsigned int index,
                                bool tried)
{
    const QdamonSchemeState *st = s->priv;
    DamonSchemeInfo *i = g_new0(DamonSchemeInfo, 1);

    i->index = index;
    i->scheme = cfg_of(s, st);
    i->active = s->wmarks.activated;
    if (st->wmark) {
        i->has_watermark_value = qdamon_metric_last(st->wmark,
                                                    &i->watermark_value);
    }
    i->has_effective_quota_bytes = s->quota.esz != 0;
    i->effective_quota_bytes = s->quota.esz;
    i->stats = stats_of(&s->stat);
    i->skipped = skips_of(&st->skips);
    if (tried) {
        i->has_tried_regions = true;
        i->tried_regions = tried_of(s);
    }
    return i;
}

DamonSchemeInfoList *qdamon_schemes_info(struct damon_ctx *ctx, bool tried)
{
    DamonSchemeInfoList *head = NULL, **tail = &head;
    struct damos *s;
    unsigned int index = 0;

    damon_for_each_scheme(s, ctx) {
        QAPI_LIST_APPEND(tail, info_of(s, index++, tried));
    }
    return head;
}
