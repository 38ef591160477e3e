/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon HMP commands: info damon, damon_start, damon_stop.  Each wraps
 * its QMP command and reports failures with hmp_handle_error().
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-damon.h"
#include "qapi/qapi-visit-damon.h"
#include "qapi/util.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"

void hmp_damon_start(Monitor *mon, const QDict *qdict)
{
    const char *id = qdict_get_try_str(qdict, "id");
    const char *source = qdict_get_try_str(qdict, "source");
    const char *wsource = qdict_get_try_str(qdict, "write_source");
    Error *err = NULL;
    int kind = 0, wkind = 0;

    if (source) {
        kind = qapi_enum_parse(&DamonSourceKind_lookup, source, -1, &err);
    }
    if (!err && wsource) {
        wkind = qapi_enum_parse(&DamonSourceKind_lookup, wsource, -1, &err);
        if (err) {
            error_prepend(&err, "'write_source': ");
        }
    }
    if (!err) {
        qmp_damon_start(id, source != NULL, kind, wsource != NULL, wkind,
                        NULL, NULL, false, 0, false, 0,
                        false, 0, false, 0, false, 0, NULL, false, NULL,
                        false, 0, false, NULL, false, 0, &err);
    }
    hmp_handle_error(mon, err);
}

void hmp_damon_stop(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp_damon_stop(qdict_get_try_str(qdict, "id"), &err);
    hmp_handle_error(mon, err);
}

static gint by_nr_accesses_desc(gconstpointer a, gconstpointer b)
{
    const DamonRegion *x = *(DamonRegion * const *)a;
    const DamonRegion *y = *(DamonRegion * const *)b;

    return x->nr_accesses < y->nr_accesses ? 1 :
        x->nr_accesses > y->nr_accesses ? -1 : 0;
}

static void print_hot(Monitor *mon, const char *id)
{
    g_autoptr(DamonRegions) regs = qmp_query_damon_regions(id, NULL);
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();
    DamonRegionList *l;
    guint i;

    if (!regs) {
        return;
    }
    for (l = regs->regions; l; l = l->next) {
        g_ptr_array_add(sorted, l->value);
    }
    g_ptr_array_sort(sorted, by_nr_accesses_desc);
    for (i = 0; i < sorted->len && i < 5; i++) {
        DamonRegion *r = g_ptr_array_index(sorted, i);
        g_autofree char *sz = size_to_str(r->end - r->start);

        if (!r->nr_accesses) {
            break;
        }
        monitor_printf(mon, "    hot [0x%016" PRIx64 ", 0x%016" PRIx64
                       ") %9s  access %5.1f%%  age %u (%" PRIu64 " ms)",
                       r->start, r->end, sz, r->access_rate_percent, r->age,
                       r->age_ms);
        if (r->has_nr_writes) {
            /* the share of the accessed samples that were writes */
            monitor_printf(mon, "  writes %u of %u", r->nr_writes,
                           r->nr_accesses);
        }
        monitor_printf(mon, "\n");
    }
}

static void print_skips(Monitor *mon, DamonSchemeSkipList *l)
{
    if (!l) {
        return;
    }
    monitor_printf(mon, "    skipped:");
    for (; l; l = l->next) {
        g_autofree char *sz = size_to_str(l->value->bytes);

        monitor_printf(mon, " %s %s%s%s%s",
                       DamonSchemeSkipReason_str(l->value->reason), sz,
                       l->value->last_error ? " (" : "",
                       l->value->last_error ?: "",
                       l->value->last_error ? ")" : "");
    }
    monitor_printf(mon, "\n");
}

/* One line per scheme: what it is and what it did. */
static void print_schemes(Monitor *mon, const char *id)
{
    g_autoptr(DamonSchemes) sc = qmp_query_damon_schemes(id, false, false,
                                                         NULL);
    DamonSchemeInfoList *l;

    for (l = sc ? sc->schemes : NULL; l; l = l->next) {
        DamonSchemeInfo *i = l->value;
        DamonSchemeStats *st = i->stats;
        g_autofree char *tried = size_to_str(st->sz_tried);
        g_autofree char *applied = size_to_str(st->sz_applied);
        g_autofree char *quota = i->has_effective_quota_bytes ?
            size_to_str(i->effective_quota_bytes) : g_strdup("none");

        monitor_printf(mon, "  scheme %u: %s%s, tried %" PRIu64 " regions %s,"
                       " applied %" PRIu64 " regions %s, quota %s (exceeded %"
                       PRIu64 " times)\n", i->index,
                       DamonSchemeAction_str(i->scheme->action),
                       i->active ? "" : " (off: watermarks)", st->nr_tried,
                       tried, st->nr_applied, applied, quota, st->qt_exceeds);
        print_skips(mon, i->skipped);
    }
}

void hmp_info_damon(Monitor *mon, const QDict *qdict)
{
    g_autoptr(DamonInfoList) list = qmp_query_damon(NULL);
    DamonInfoList *l;

    if (!list) {
        monitor_printf(mon, "No DAMON monitor; start one with damon_start\n");
        return;
    }
    for (l = list; l; l = l->next) {
        DamonInfo *i = l->value;
        g_autoptr(DamonWss) wss = qmp_query_damon_wss(i->id, false, 0,
                                                      false, NULL, NULL);
        g_autofree char *mon_sz = size_to_str(i->monitored_bytes);
        g_autofree char *wss_sz = wss ? size_to_str(wss->wss_bytes) : NULL;

        monitor_printf(mon, "%s: %s, source %s (%s), clock %s\n", i->id,
                       DamonState_str(i->state), DamonSourceKind_str(i->source),
                       DamonSees_str(i->sees), DamonClock_str(i->clock));
        monitor_printf(mon, "  source: %s\n", i->source_reason);
        if (i->has_write_source) {
            monitor_printf(mon, "  write source %s: per region writes\n",
                           DamonSourceKind_str(i->write_source));
        }
        monitor_printf(mon, "  sample %" PRIu64 " us, aggr %" PRIu64
                       " us, update %" PRIu64 " us, regions %u (%u..%u), "
                       "%s splits\n",
                       i->attrs->sample_us, i->attrs->aggr_us,
                       i->attrs->update_us, i->nr_regions,
                       i->attrs->min_nr_regions, i->attrs->max_nr_regions,
                       DamonSplitMode_str(i->attrs->split));
        if (i->intervals_tuning) {
            DamonIntervalsTuning *it = i->intervals_tuning;

            monitor_printf(mon, "  tuned to sample %" PRIu64 " us, aggr %"
                           PRIu64 " us (goal %u bp every %u aggregations; "
                           "%" PRIu64 " rounds",
                           it->sample_us, it->aggr_us, it->goal->access_bp,
                           it->goal->aggrs, it->nr_tunes);
            if (it->has_limited_by) {
                monitor_printf(mon, ", last score %" PRIu64 " bp, by %s",
                               it->last_score_bp,
                               DamonTuningLimit_str(it->limited_by));
            }
            monitor_printf(mon, "; %" PRIu64 " ns per sample)\n",
                           it->sample_cost_ns);
        }
        monitor_printf(mon, "  aggregations %" PRIu64 ", samples %" PRIu64
                       ", monitor cpu %" PRIu64 " ms\n", i->nr_aggregations,
                       i->nr_samples, i->cpu_ns / 1000000);
        if (i->idle_page) {
            DamonIdlePageInfo *ip = i->idle_page;

            monitor_printf(mon, "  idle-page samples: %" PRIu64 " huge, %"
                           PRIu64 " small, %" PRIu64 " absent, %" PRIu64
                           " unknown; granularity %" PRIu64 " bytes%s\n",
                           ip->huge_samples, ip->small_samples,
                           ip->absent_samples, ip->unknown_samples,
                           ip->granularity_bytes,
                           ip->host_mglru ? "; host runs MGLRU" : "");
        }
        monitor_printf(mon, "  working set %s of %s monitored\n",
                       wss_sz ? wss_sz : "-", mon_sz);
        if (wss && wss->has_write_wss_bytes) {
            g_autofree char *w_sz = size_to_str(wss->write_wss_bytes);

            monitor_printf(mon, "  written part of it %s\n", w_sz);
        }
        print_hot(mon, i->id);
        print_schemes(mon, i->id);
    }
}
