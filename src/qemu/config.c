/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon: the bounds of QMP and HMP arguments.  Each check ends in one
 * error that names the argument and its allowed range.  The engine
 * checks consistency again (damon_validate_attrs); these bounds add the
 * limits that keep one monitor's cost sane inside a VM.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "monitor.h"
#include "source.h"

#define QDAMON_ID_MAX           32
#define QDAMON_SAMPLE_US_MIN    100ULL
#define QDAMON_SAMPLE_US_MAX    10000000ULL
#define QDAMON_AGGR_SAMPLES_MAX 1000ULL
#define QDAMON_UPDATE_US_MAX    3600000000ULL
#define QDAMON_NR_REGIONS_MAX   100000U
#define QDAMON_NR_RANGES_MAX    4096U
#define QDAMON_TUNE_AGGRS_MAX   10000U
#define QDAMON_TUNE_MIN_SAMPLE_DEFAULT  5000ULL

bool qdamon_check_id(const char *id, Error **errp)
{
    size_t len = strlen(id), i;

    if (len < 1 || len > QDAMON_ID_MAX) {
        error_setg(errp, "'id' must be 1 to %d characters (got %zu)",
                   QDAMON_ID_MAX, len);
        return false;
    }
    for (i = 0; i < len; i++) {
        if (!g_ascii_isalnum(id[i]) && !strchr("-_.", id[i])) {
            error_setg(errp, "'id' may contain only letters, digits, '-', "
                       "'_' and '.' (got '%s')", id);
            return false;
        }
    }
    return true;
}

bool qdamon_check_u64(const char *name, uint64_t v, uint64_t lo,
                      uint64_t hi, Error **errp)
{
    if (v < lo || v > hi) {
        error_setg(errp, "'%s' must be %" PRIu64 " to %" PRIu64
                   " (got %" PRIu64 ")", name, lo, hi, v);
        return false;
    }
    return true;
}

/* The engine's goal fields, with QMP's names and ranges. */
static bool check_intervals_goal(const struct damon_intervals_goal *g,
                                 Error **errp)
{
    if (!g->aggrs) {
        return true;
    }
    return qdamon_check_u64("intervals-goal.access-bp", g->access_bp, 1,
                            10000, errp) &&
        qdamon_check_u64("intervals-goal.aggrs", g->aggrs, 0,
                         QDAMON_TUNE_AGGRS_MAX, errp) &&
        qdamon_check_u64("intervals-goal.min-sample-us", g->min_sample_us,
                         QDAMON_SAMPLE_US_MIN, QDAMON_SAMPLE_US_MAX, errp) &&
        qdamon_check_u64("intervals-goal.max-sample-us", g->max_sample_us,
                         g->min_sample_us, QDAMON_SAMPLE_US_MAX, errp) &&
        qdamon_check_u64("intervals-goal.max-cpu-permille",
                         g->max_cpu_permille, 0, 1000, errp);
}

bool qdamon_intervals_goal_from_qapi(const DamonIntervalsGoal *q,
                                     struct damon_intervals_goal *g,
                                     Error **errp)
{
    /* 0 is "no bound" inside; asked for, it would mean a zero share */
    if (q->has_max_cpu_permille &&
        !qdamon_check_u64("intervals-goal.max-cpu-permille",
                          q->max_cpu_permille, 1, 1000, errp)) {
        return false;
    }
    g->access_bp = q->access_bp;
    g->aggrs = q->aggrs;
    g->min_sample_us = q->has_min_sample_us ? q->min_sample_us :
        QDAMON_TUNE_MIN_SAMPLE_DEFAULT;
    g->max_sample_us = q->has_max_sample_us ? q->max_sample_us :
        QDAMON_SAMPLE_US_MAX;
    g->max_cpu_permille = q->has_max_cpu_permille ? q->max_cpu_permille : 0;
    return check_intervals_goal(g, errp);
}

DamonIntervalsGoal *qdamon_intervals_goal_to_qapi(
    const struct damon_intervals_goal *g)
{
    DamonIntervalsGoal *q = g_new0(DamonIntervalsGoal, 1);

    q->access_bp = g->access_bp;
    q->aggrs = g->aggrs;
    q->has_min_sample_us = q->has_max_sample_us = true;
    q->min_sample_us = g->min_sample_us;
    q->max_sample_us = g->max_sample_us;
    q->has_max_cpu_permille = g->max_cpu_permille != 0;
    q->max_cpu_permille = g->max_cpu_permille;
    return q;
}

bool qdamon_check_attrs(const struct damon_attrs *a, Error **errp)
{
    return qdamon_check_u64("sample-us", a->sample_interval,
                            QDAMON_SAMPLE_US_MIN, QDAMON_SAMPLE_US_MAX,
                            errp) &&
        qdamon_check_u64("aggr-us", a->aggr_interval, a->sample_interval,
                         a->sample_interval * QDAMON_AGGR_SAMPLES_MAX, errp) &&
        qdamon_check_u64("update-us", a->ops_update_interval,
                         a->sample_interval, QDAMON_UPDATE_US_MAX, errp) &&
        qdamon_check_u64("min-nr-regions", a->min_nr_regions, 3,
                         QDAMON_NR_REGIONS_MAX, errp) &&
        qdamon_check_u64("max-nr-regions", a->max_nr_regions,
                         a->min_nr_regions, QDAMON_NR_REGIONS_MAX, errp) &&
        check_intervals_goal(&a->intervals_goal, errp);
}

bool qdamon_check_ranges(const struct damon_addr_range *r, unsigned int nr,
                         Error **errp)
{
    unsigned int i;

    if (nr < 1 || nr > QDAMON_NR_RANGES_MAX) {
        error_setg(errp, "'regions' must have 1 to %u entries (got %u)",
                   QDAMON_NR_RANGES_MAX, nr);
        return false;
    }
    for (i = 0; i < nr; i++) {
        if ((r[i].start | r[i].end) & (QDAMON_PAGE_SIZE - 1)) {
            error_setg(errp, "'regions[%u]': 'start' (0x%" PRIx64 ") and "
                       "'end' (0x%" PRIx64 ") must be multiples of %llu",
                       i, r[i].start, r[i].end, QDAMON_PAGE_SIZE);
            return false;
        }
        if (r[i].start >= r[i].end) {
            error_setg(errp, "'regions[%u]': 'start' (0x%" PRIx64
                       ") must be below 'end' (0x%" PRIx64 ")",
                       i, r[i].start, r[i].end);
            return false;
        }
        if (i && r[i].start < r[i - 1].end) {
            error_setg(errp, "'regions[%u]' (start 0x%" PRIx64 ") must "
                       "start at or after the end of 'regions[%u]' (0x%"
                       PRIx64 "): regions are sorted and do not overlap",
                       i, r[i].start, i - 1, r[i - 1].end);
            return false;
        }
    }
    return true;
}

/*
 * Fault injection for the qtests, which run on the qtest accelerator
 * where no source sees reads: QDAMON_TEST_PAIR_WRITE_SOURCES=1 in
 * QEMU's environment lets a writes-only source take a write source, so
 * that the pairing can be tested on the virtual clock.  QEMU warns once.
 */
#define QDAMON_TEST_PAIR_ENV "QDAMON_TEST_PAIR_WRITE_SOURCES"

static bool test_pair_writes_only(void)
{
    static bool warned;
    const char *v = g_getenv(QDAMON_TEST_PAIR_ENV);

    if (!v || strcmp(v, "1")) {
        return false;
    }
    if (!warned) {
        warn_report("qdamon: %s=1: a source that sees writes only may take "
                    "a write source (for tests only)", QDAMON_TEST_PAIR_ENV);
        warned = true;
    }
    return true;
}

bool qdamon_check_write_source(const QdamonConfig *cfg, Error **errp)
{
    const char *src = DamonSourceKind_str(cfg->source);
    const char *wsrc = DamonSourceKind_str(cfg->write_source);

    if (!cfg->has_write_source) {
        return true;
    }
    if (qdamon_source_kind_sees(cfg->write_source) !=
        DAMON_SEES_WRITES_ONLY) {
        error_setg(errp, "'write-source' must be a source that sees writes "
                   "only (dirty-bitmap, dirty-ring or page-hash); '%s' sees "
                   "reads too, so its hits cannot tell writes apart", wsrc);
        return false;
    }
    if (cfg->write_source == cfg->source) {
        error_setg(errp, "'write-source' must differ from 'source' (both "
                   "'%s'): a source's hits cannot be split into reads and "
                   "writes by the same source", src);
        return false;
    }
    if (qdamon_source_kind_sees(cfg->source) == DAMON_SEES_WRITES_ONLY &&
        !test_pair_writes_only()) {
        error_setg(errp, "'write-source' needs a 'source' that sees reads "
                   "(tcg-accessed or idle-page); 'source' is '%s' (%s), "
                   "which "
                   "sees writes only, so every access it finds is already "
                   "a write", src, cfg->source_reason);
        return false;
    }
    /*
     * page-hash reads every sampled page through QEMU's mapping, which
     * sets the host accessed bits that idle-page reads.
     */
    if (cfg->source == DAMON_SOURCE_KIND_IDLE_PAGE &&
        cfg->write_source == DAMON_SOURCE_KIND_PAGE_HASH) {
        error_setg(errp, "'write-source' page-hash cannot pair with source "
                   "idle-page: hashing reads every sampled page, which the "
                   "host's accessed bits then report as accessed; use "
                   "dirty-ring or dirty-bitmap");
        return false;
    }
    return true;
}
