/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QTest for qdamon, DAMON-style access monitoring of guest physical
 * memory (QMP schema: qmp/damon.json).
 *
 * The monitors under test run on the virtual clock, which only
 * clock_step moves under qtest: every sample, aggregation and update
 * happens at a known point, so counts are exact.  The guest's "accesses"
 * are qtest memset writes; a monitor samples one random page per region,
 * so a test writes every page of its hot ranges once per sample
 * interval, changing the byte each time so that page-hash sees it too.
 * The region split points are random (a fresh seed per monitor), so
 * checks on where the monitor put region boundaries use margins, while
 * checks on counters are exact.
 *
 * The machine is "-machine none -m 64M": its RAM comes from a memory
 * backend, as the monitors want it, sits at GPA 0 and needs no firmware.
 * Memory hotplug and the holes of a real memory map need a pc, and so
 * SeaBIOS; the test plays the guest's part in ACPI unplug and maps the
 * VGA's memory the way a guest would.
 */
#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"

#define NONE_RAM            (64 * MiB)
/* a CPU only so that qtest has an address space to write through */
#define NONE_ARGS           "-machine none -cpu qemu64,apic-id=0 -m 64M"

/* pc with room for one 128 MiB DIMM; SeaBIOS as Debian installs it */
#define PC_FIRMWARE_DIR     "/usr/share/seabios"
#define PC_RAM              (128 * MiB)
#define PC_DIMM_SIZE        (128 * MiB)
#define PC_ARGS             "-M pc -m 128M,slots=2,maxmem=1G -nodefaults " \
                            "-vga std -global apic-common.vapic=off " \
                            "-L " PC_FIRMWARE_DIR

/* VGA sequencer registers: all planes, chain-4 maps VRAM at 0xa0000 */
#define VGA_SEQ_INDEX       0x3c4
#define VGA_SEQ_DATA        0x3c5
#define VGA_SEQ_PLANE_WRITE 0x02
#define VGA_SEQ_MEMORY_MODE 0x04
#define VGA_ALL_PLANES      0x0f
#define VGA_CHAIN4          0x08
#define VGA_WINDOW          0xa0000
#define VGA_WINDOW_END      0xc0000

/* ACPI memory hotplug registers of piix4 (docs/specs/acpi_mem_hotplug) */
#define MEMHP_BASE          0x0a00
#define MEMHP_SLOT          (MEMHP_BASE + 0x0)
#define MEMHP_CTRL          (MEMHP_BASE + 0x14)
#define MEMHP_CTRL_EJECT    0x08

/* The monitors' intervals: 20 samples per aggregation */
#define SAMPLE_US           5000
#define AGGR_US             100000
#define SAMPLE_NS           ((int64_t)SAMPLE_US * 1000)
#define AGGR_NS             ((int64_t)AGGR_US * 1000)
#define UPDATE_NS           (1000 * 1000 * 1000LL)     /* the default */

/* How long hot ranges are written before a monitor is checked */
#define SETTLE_NS           (3 * 1000 * 1000 * 1000LL)

/* How long a realtime monitor may take to do something, in real time */
#define REALTIME_WAIT_US    (30 * G_USEC_PER_SEC)

typedef struct GpaRange {
    uint64_t start, end;
} GpaRange;

/* All the RAM of NONE_ARGS */
static const GpaRange none_ram = { 0, NONE_RAM };

static uint64_t gpa_range_size(const GpaRange *r)
{
    return r->end - r->start;
}

static uint64_t overlap(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
    uint64_t s = MAX(s1, s2), e = MIN(e1, e2);

    return s < e ? e - s : 0;
}

/* ---- QMP helpers, one per command ---- */

static uint64_t get_u64(QDict *d, const char *key)
{
    QNum *n = qobject_to(QNum, qdict_get(d, key));
    uint64_t v;

    g_assert(n);
    g_assert(qnum_get_try_uint(n, &v));
    return v;
}

/* @json: a JSON object, single quotes allowed; NULL for none. */
static QDict *damon_args(const char *json)
{
    return qobject_to(QDict, qobject_from_json(json ? json : "{}",
                                               &error_abort));
}

static void damon_start(QTestState *qts, const char *args)
{
    qtest_qmp_assert_success(qts, "{'execute': 'damon-start', "
                             "'arguments': %p}", damon_args(args));
}

static void damon_stop(QTestState *qts, const char *id)
{
    qtest_qmp_assert_success(qts, "{'execute': 'damon-stop', "
                             "'arguments': {'id': %s}}", id);
}

static void damon_tune(QTestState *qts, const char *args)
{
    qtest_qmp_assert_success(qts, "{'execute': 'damon-tune', "
                             "'arguments': %p}", damon_args(args));
}

/* query-damon; the caller unrefs the list. */
static QList *damon_query(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-damon'}");
    QList *list;

    g_assert(!qdict_haskey(rsp, "error"));
    list = qdict_get_qlist(rsp, "return");
    g_assert(list);
    qobject_ref(list);
    qobject_unref(rsp);
    return list;
}

/* The query-damon entry of monitor @id, which must exist. */
static QDict *damon_query_one(QTestState *qts, const char *id)
{
    g_autoptr(QList) list = damon_query(qts);
    const QListEntry *e;

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *info = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(info, "id"), id)) {
            qobject_ref(info);
            return info;
        }
    }
    g_test_message("no monitor '%s' in query-damon", id);
    g_assert_not_reached();
}

static QDict *damon_regions(QTestState *qts, const char *id)
{
    return qtest_qmp_assert_success_ref(qts, "{'execute': "
                                        "'query-damon-regions', "
                                        "'arguments': {'id': %s}}", id);
}

static QDict *damon_wss(QTestState *qts, const char *args)
{
    return qtest_qmp_assert_success_ref(qts, "{'execute': "
                                        "'query-damon-wss', "
                                        "'arguments': %p}",
                                        damon_args(args));
}

/* Run @cmd with @args, expect an error, and return its desc. */
static char *damon_error(QTestState *qts, const char *cmd, const char *args)
{
    g_autoptr(QDict) err = NULL;

    err = qtest_qmp_assert_failure_ref(qts, "{'execute': %s, "
                                       "'arguments': %p}",
                                       cmd, damon_args(args));
    g_assert_cmpstr(qdict_get_str(err, "class"), ==, "GenericError");
    return g_strdup(qdict_get_str(err, "desc"));
}

/* Wait for monitor @id's DAMON_STOPPED and check its reason. */
static void damon_wait_stopped(QTestState *qts, const char *id,
                               const char *reason)
{
    for (;;) {
        g_autoptr(QDict) ev = qtest_qmp_eventwait_ref(qts, "DAMON_STOPPED");
        QDict *data = qdict_get_qdict(ev, "data");

        if (!strcmp(qdict_get_str(data, "id"), id)) {
            g_assert_cmpstr(qdict_get_str(data, "reason"), ==, reason);
            return;
        }
    }
}

/* Stop monitor @id and wait until it says it stopped as asked. */
static void damon_stop_wait(QTestState *qts, const char *id)
{
    damon_stop(qts, id);
    damon_wait_stopped(qts, id, "requested");
}

/*
 * Start a monitor of @source on the virtual clock, sampling every
 * SAMPLE_US and aggregating every AGGR_US, named @id (NULL: the
 * default name), on @nr @ranges (NULL: all of guest RAM).
 */
static void damon_start_virtual(QTestState *qts, const char *id,
                                const char *source, const GpaRange *ranges,
                                int nr)
{
    g_autoptr(GString) args = g_string_new("{");
    int i;

    if (id) {
        g_string_append_printf(args, "'id': '%s', ", id);
    }
    g_string_append_printf(args, "'source': '%s', 'clock': 'virtual', "
                           "'sample-us': %d, 'aggr-us': %d",
                           source, SAMPLE_US, AGGR_US);
    if (ranges) {
        g_string_append(args, ", 'regions': [");
        for (i = 0; i < nr; i++) {
            g_string_append_printf(args, "%s{'start': %" PRIu64
                                   ", 'end': %" PRIu64 "}", i ? ", " : "",
                                   ranges[i].start, ranges[i].end);
        }
        g_string_append(args, "]");
    }
    g_string_append(args, "}");
    damon_start(qts, args->str);
}

static void assert_vm_answers(QTestState *qts)
{
    g_autoptr(QDict) st = qtest_qmp_assert_success_ref(
        qts, "{'execute': 'query-status'}");

    g_assert(qdict_haskey(st, "status"));
}

/* ---- guest "accesses" ---- */

/*
 * Map the VGA's VRAM into the legacy window, as a guest does for
 * chain-4 graphics modes: that is RAM, but the VGA's, which no monitor
 * may sample.
 */
static void guest_map_vga_vram(QTestState *qts)
{
    g_autofree char *mtree = NULL;

    qtest_outb(qts, VGA_SEQ_INDEX, VGA_SEQ_PLANE_WRITE);
    qtest_outb(qts, VGA_SEQ_DATA, VGA_ALL_PLANES);
    qtest_outb(qts, VGA_SEQ_INDEX, VGA_SEQ_MEMORY_MODE);
    qtest_outb(qts, VGA_SEQ_DATA, VGA_CHAIN4);
    /* the flat view names the alias's target */
    mtree = qtest_hmp(qts, "info mtree -f");
    g_assert(strstr(mtree, "ram): vga.vram"));
}

/* The byte hot pages get next; it changes on every pass. */
static uint8_t hot_pattern;

/*
 * Write every page of @hot once per sample interval, for @ns of virtual
 * time.  A monitor armed its checks at the start of the interval, and
 * the clock_step that follows runs its check.
 */
static int64_t write_hot(QTestState *qts, const GpaRange *hot, int nr,
                         int64_t ns)
{
    int64_t t, now = 0;
    int i;

    for (t = 0; t < ns; t += SAMPLE_NS) {
        hot_pattern = hot_pattern % 255 + 1;
        for (i = 0; i < nr; i++) {
            qtest_memset(qts, hot[i].start, hot_pattern,
                         gpa_range_size(&hot[i]));
        }
        now = qtest_clock_step(qts, SAMPLE_NS);
    }
    return now;
}

/* ---- checks on a snapshot ---- */

static void dump_regions(QDict *snap)
{
    QList *regions = qdict_get_qlist(snap, "regions");
    const QListEntry *e;

    g_test_message("snapshot of '%s': aggregation %" PRIu64
                   ", max-nr-accesses %" PRIu64 ", total %" PRIu64,
                   qdict_get_str(snap, "id"),
                   get_u64(snap, "nr-aggregations"),
                   get_u64(snap, "max-nr-accesses"),
                   get_u64(snap, "total-bytes"));
    QLIST_FOREACH_ENTRY(regions, e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        g_test_message("  [0x%09" PRIx64 ", 0x%09" PRIx64 ") %3" PRIu64
                       " age %" PRIu64, get_u64(r, "start"),
                       get_u64(r, "end"), get_u64(r, "nr-accesses"),
                       get_u64(r, "age"));
    }
}

/*
 * The snapshot is well formed: regions sorted, page aligned, not
 * overlapping, each inside one of @within, adding up to total-bytes
 * (the monitored bytes, before the first aggregation).
 */
static void check_snapshot(QDict *snap, const GpaRange *within, int nr)
{
    QList *regions = qdict_get_qlist(snap, "regions");
    uint64_t max = get_u64(snap, "max-nr-accesses");
    uint64_t prev_end = 0, sum = 0;
    const QListEntry *e;

    g_assert(regions);
    g_assert_cmpuint(max, >=, 1);
    QLIST_FOREACH_ENTRY(regions, e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t start = get_u64(r, "start"), end = get_u64(r, "end");
        uint64_t nr_acc = get_u64(r, "nr-accesses");
        double rate = qdict_get_double(r, "access-rate-percent");
        bool inside = false;
        int i;

        g_assert_cmpuint(start % 4096, ==, 0);
        g_assert_cmpuint(end % 4096, ==, 0);
        g_assert_cmpuint(start, <, end);
        g_assert_cmpuint(start, >=, prev_end);
        g_assert_cmpuint(nr_acc, <=, max);
        g_assert_cmpfloat_with_epsilon(rate, 100.0 * nr_acc / max,
                                       0.000001);
        for (i = 0; i < nr; i++) {
            inside |= start >= within[i].start && end <= within[i].end;
        }
        if (!inside) {
            dump_regions(snap);
            g_test_message("region [0x%" PRIx64 ", 0x%" PRIx64 ") is "
                           "outside the monitored ranges", start, end);
        }
        g_assert(inside);
        prev_end = end;
        sum += end - start;
    }
    if (get_u64(snap, "nr-aggregations")) {
        g_assert_cmpuint(sum, ==, get_u64(snap, "total-bytes"));
    }
}

/*
 * Thresholds on nr-accesses, in the snapshot's max-nr-accesses: hot is
 * at least 80% of it; warm is above 10% of it, which is where DAMON
 * itself starts to tell regions apart (it merges neighbours whose counts
 * differ by no more).  A region with a few hot pages at the edge of a
 * hot range catches one of them in some samples; below that threshold
 * it is as cold as its neighbours for DAMON, and for this test.
 */
static uint64_t hot_min(uint64_t max)
{
    return (max * 8 + 9) / 10;
}

static uint64_t warm_min(uint64_t max)
{
    return max / 10 + 1;
}

/*
 * Whether snapshot @snap found @hot and nothing else: at least 90% of
 * the hot bytes are in hot regions, and the bytes outside @hot in warm
 * regions add up to at most 10% of the hot size.  @why says how it went.
 */
static bool found_hot(QDict *snap, const GpaRange *hot, int nr,
                      GString *why)
{
    QList *regions = qdict_get_qlist(snap, "regions");
    uint64_t max = get_u64(snap, "max-nr-accesses");
    uint64_t hot_size = 0, found = 0, stray = 0;
    const QListEntry *e;
    int i;

    for (i = 0; i < nr; i++) {
        hot_size += gpa_range_size(&hot[i]);
    }
    QLIST_FOREACH_ENTRY(regions, e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t start = get_u64(r, "start"), end = get_u64(r, "end");
        uint64_t nr_acc = get_u64(r, "nr-accesses");
        uint64_t in = 0;

        for (i = 0; i < nr; i++) {
            in += overlap(start, end, hot[i].start, hot[i].end);
        }
        if (nr_acc >= hot_min(max)) {
            found += in;
        }
        if (nr_acc >= warm_min(max)) {
            stray += end - start - in;
        }
    }
    g_string_printf(why, "'%s': %" PRIu64 " of %" PRIu64 " hot bytes "
                    "found hot, %" PRIu64 " cold bytes seen warm",
                    qdict_get_str(snap, "id"), found, hot_size, stray);
    return get_u64(snap, "nr-aggregations") > 0 &&
        found * 10 >= hot_size * 9 && stray * 10 <= hot_size;
}

/* Monitor @id found @hot and nothing else, in ranges @within. */
static void assert_hot(QTestState *qts, const char *id,
                       const GpaRange *hot, int nr,
                       const GpaRange *within, int nr_within)
{
    g_autoptr(QDict) snap = damon_regions(qts, id);
    g_autoptr(GString) why = g_string_new(NULL);

    check_snapshot(snap, within, nr_within);
    if (!found_hot(snap, hot, nr, why)) {
        dump_regions(snap);
        g_test_message("%s", why->str);
        g_assert_not_reached();
    }
}

/* What one monitor must find, and where its regions may be. */
typedef struct HotCheck {
    const char *id;
    const GpaRange *hot;
    int nr_hot;
    const GpaRange *within;
    int nr_within;
} HotCheck;

/* Aggregations a check may look at before it fails */
#define HOT_TRIES           5

/*
 * Write @writes for @ns of virtual time, then check that each monitor of
 * @checks found its hot ranges and nothing else.
 *
 * A snapshot is a sample: a region at the edge of a hot range that holds
 * a few hot pages catches one of them now and then, and in an unlucky
 * aggregation it looks warm enough to fail the check.  So when any
 * monitor fails, write on for one more aggregation and look again, at
 * most HOT_TRIES times in all.  A monitor that really misses a range or
 * sees writes where there are none fails every time.  Every snapshot
 * looked at must be well formed.
 *
 * Returns: the virtual clock at the end, in nanoseconds.
 */
static int64_t run_hot(QTestState *qts, const GpaRange *writes,
                       int nr_writes, int64_t ns,
                       const HotCheck *checks, int nr_checks)
{
    g_autoptr(GString) why = g_string_new(NULL);
    int64_t now = write_hot(qts, writes, nr_writes, ns);
    int try, i;

    for (try = 1; ; try++) {
        bool all = true;

        for (i = 0; i < nr_checks; i++) {
            const HotCheck *c = &checks[i];
            g_autoptr(QDict) snap = damon_regions(qts, c->id);

            check_snapshot(snap, c->within, c->nr_within);
            if (!found_hot(snap, c->hot, c->nr_hot, why)) {
                g_test_message("try %d: %s", try, why->str);
                if (try == HOT_TRIES) {
                    dump_regions(snap);
                }
                all = false;
            }
        }
        if (all) {
            return now;
        }
        g_assert_cmpint(try, <, HOT_TRIES);
        now = write_hot(qts, writes, nr_writes, AGGR_NS);
    }
}

/* Bytes of the snapshot's regions with nr-accesses >= @min. */
static uint64_t bytes_accessed(QDict *snap, uint64_t min)
{
    const QListEntry *e;
    uint64_t sum = 0;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(snap, "regions"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        if (get_u64(r, "nr-accesses") >= min) {
            sum += get_u64(r, "end") - get_u64(r, "start");
        }
    }
    return sum;
}

/* query-damon-wss of @id with threshold @min (0: the default). */
static uint64_t wss_bytes(QTestState *qts, const char *id, uint64_t min)
{
    g_autofree char *args = min ?
        g_strdup_printf("{'id': '%s', 'min-nr-accesses': %" PRIu64 "}",
                        id, min) :
        g_strdup_printf("{'id': '%s'}", id);
    g_autoptr(QDict) wss = damon_wss(qts, args);

    g_assert_cmpuint(get_u64(wss, "min-nr-accesses"), ==, min ? min : 1);
    return get_u64(wss, "wss-bytes");
}

/*
 * The working-set size of @id is what its last snapshot says, at the
 * default threshold (any access) and at the warm and hot ones; at those
 * two it is @hot_size within 10%, which follows from a snapshot that
 * passed run_hot().
 */
static void assert_wss(QTestState *qts, const char *id, uint64_t hot_size)
{
    g_autoptr(QDict) snap = damon_regions(qts, id);
    uint64_t max = get_u64(snap, "max-nr-accesses");
    uint64_t mins[] = { warm_min(max), hot_min(max) };
    size_t i;

    g_assert_cmpuint(wss_bytes(qts, id, 0), ==, bytes_accessed(snap, 1));
    for (i = 0; i < ARRAY_SIZE(mins); i++) {
        uint64_t w = wss_bytes(qts, id, mins[i]);

        g_assert_cmpuint(w, ==, bytes_accessed(snap, mins[i]));
        g_assert_cmpuint(w * 10, >=, hot_size * 9);
        g_assert_cmpuint(w * 10, <=, hot_size * 11);
    }
}

/* ---- 1. a hot range is found ---- */

static void test_hot_range(const void *opaque)
{
    const char *source = opaque;
    const GpaRange hot = { 16 * MiB, 20 * MiB };
    static const uint64_t pcts[] = { 0, 50, 90, 100 };
    g_autoptr(QDict) info = NULL;
    g_autoptr(QDict) wss = NULL;
    QTestState *qts = qtest_init(NONE_ARGS);
    const QListEntry *e;
    QDict *attrs;
    uint64_t prev = 0;
    int64_t t0, ran;
    size_t i = 0;

    /* no timer is pending yet: this is just a way to read the clock */
    t0 = qtest_clock_step(qts, SAMPLE_NS);
    damon_start_virtual(qts, "hot", source, NULL, 0);
    ran = run_hot(qts, &hot, 1, SETTLE_NS,
                  &(HotCheck) { "hot", &hot, 1, &none_ram, 1 }, 1) - t0;
    assert_wss(qts, "hot", gpa_range_size(&hot));

    /* the counters follow the virtual clock exactly */
    info = damon_query_one(qts, "hot");
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "running");
    g_assert(!qdict_haskey(info, "stop-reason"));
    g_assert_cmpstr(qdict_get_str(info, "source"), ==, source);
    g_assert_cmpstr(qdict_get_str(info, "clock"), ==, "virtual");
    g_assert_cmpuint(get_u64(info, "nr-samples"), ==, ran / SAMPLE_NS);
    g_assert_cmpuint(get_u64(info, "nr-aggregations"), ==, ran / AGGR_NS);
    g_assert_cmpuint(get_u64(info, "monitored-bytes"), ==, NONE_RAM);
    g_assert_cmpuint(get_u64(info, "last-aggregation-age-us"), ==, 0);
    g_assert_cmpuint(get_u64(info, "cpu-ns"), >, 0);
    /*
     * dirty-bitmap syncs once per sample (at check; the prepare right
     * after reuses it) plus once at the very first prepare; page-hash
     * has nothing to sync.
     */
    if (!strcmp(source, "dirty-bitmap")) {
        g_assert_cmpuint(get_u64(info, "nr-syncs"), ==, ran / SAMPLE_NS + 1);
        g_assert_cmpuint(get_u64(info, "sync-ns"), >, 0);
        /* re-arming a written page is a TLB flush here, no KVM ioctl */
        g_assert_cmpuint(get_u64(info, "nr-clear-ioctls"), ==, 0);
        /*
         * the test rewrote the hot range every sample, so a sampled
         * page in it was written and is re-armed at the next prepare
         * that picks it: once the range is found, most samples re-arm
         * one; never more than one a region and sample; nobody kicked
         */
        g_assert_cmpuint(get_u64(info, "rearmed-pages"), >=, ran / SAMPLE_NS / 4);
        g_assert_cmpuint(get_u64(info, "rearmed-pages"), <=,
                         (ran / SAMPLE_NS + 1) *
                         get_u64(qdict_get_qdict(info, "attrs"), "max-nr-regions"));
        g_assert_cmpuint(get_u64(info, "vcpu-kicks"), ==, 0);
        g_test_message("%s: %" PRIu64 " pages re-armed in %" PRId64 " samples",
                       source, get_u64(info, "rearmed-pages"), ran / SAMPLE_NS);
    } else {
        g_assert(!qdict_haskey(info, "nr-syncs"));
        g_assert(!qdict_haskey(info, "nr-clear-ioctls"));
        /* hashing makes the guest trap on nothing */
        g_assert(!qdict_haskey(info, "rearmed-pages"));
        g_assert(!qdict_haskey(info, "vcpu-kicks"));
    }
    g_assert(!qdict_haskey(info, "vcpu-dirty-pages"));
    attrs = qdict_get_qdict(info, "attrs");
    g_assert_cmpuint(get_u64(attrs, "sample-us"), ==, SAMPLE_US);
    g_assert_cmpuint(get_u64(attrs, "aggr-us"), ==, AGGR_US);
    g_assert_cmpuint(get_u64(attrs, "update-us"), ==, 1000000);
    g_assert_cmpuint(get_u64(attrs, "min-nr-regions"), ==, 10);
    g_assert_cmpuint(get_u64(attrs, "max-nr-regions"), ==, 1000);

    /* the distribution covers every aggregation, percentiles as asked */
    wss = damon_wss(qts, "{'id': 'hot', 'percentiles': [0, 50, 90, 100]}");
    g_assert_cmpuint(get_u64(wss, "total-bytes"), ==, NONE_RAM);
    g_assert_cmpuint(get_u64(wss, "nr-aggregations"), ==, ran / AGGR_NS);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(wss, "percentiles")), ==,
                     ARRAY_SIZE(pcts));
    QLIST_FOREACH_ENTRY(qdict_get_qlist(wss, "percentiles"), e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t w = get_u64(p, "wss-bytes");

        g_assert_cmpuint(get_u64(p, "percentile"), ==, pcts[i++]);
        g_assert_cmpuint(w, >=, prev);
        g_assert_cmpuint(w, <=, NONE_RAM);
        prev = w;
    }
    /* every aggregation saw the hot range written */
    g_assert_cmpuint(prev, >=, gpa_range_size(&hot));

    damon_stop_wait(qts, "hot");
    qtest_quit(qts);
}

/*
 * The same with a realtime monitor: the writes are not in step with the
 * samples, so wait until an aggregation shows the hot range.
 */
static void test_hot_range_realtime(const void *opaque)
{
    const char *source = opaque;
    const GpaRange hot = { 16 * MiB, 20 * MiB };
    QTestState *qts = qtest_init(NONE_ARGS);
    /*
     * Nothing paces this test's writes with the monitor's samples: a
     * sampled page is written once per memset, so a sample interval
     * shorter than one memset (a sanitizer build takes tens of ms for
     * 4 MiB) often sees no write and reads as cold.  So the interval is
     * four times the slowest of a few measured memsets, and at least
     * 20 ms.
     */
    int64_t slowest = 0, sample_us, deadline;
    g_autofree char *args = NULL;
    g_autoptr(GString) why = g_string_new(NULL);
    uint64_t seen = 0;
    int i;

    for (i = 0; i < 5; i++) {
        int64_t t = g_get_monotonic_time();

        hot_pattern = hot_pattern % 255 + 1;
        qtest_memset(qts, hot.start, hot_pattern, gpa_range_size(&hot));
        slowest = MAX(slowest, g_get_monotonic_time() - t);
    }
    sample_us = MAX(4 * SAMPLE_US, QEMU_ALIGN_UP(4 * slowest, 1000));
    g_test_message("one memset of the hot range took up to %" PRId64
                   " us: sampling every %" PRId64 " us", slowest, sample_us);
    args = g_strdup_printf("{'id': 'rt', 'source': '%s', 'sample-us': %"
                           PRId64 ", 'aggr-us': %" PRId64 "}",
                           source, sample_us, 20 * sample_us);
    /* time for 30 aggregations, and never less than the usual wait */
    deadline = g_get_monotonic_time() +
        MAX(REALTIME_WAIT_US, 30 * 20 * sample_us);

    damon_start(qts, args);
    for (;;) {
        g_autoptr(QDict) snap = NULL;
        int64_t until = g_get_monotonic_time() + 10 * sample_us;
        uint64_t n;

        /* write for half an aggregation between two queries */
        while (g_get_monotonic_time() < until) {
            hot_pattern = hot_pattern % 255 + 1;
            qtest_memset(qts, hot.start, hot_pattern, gpa_range_size(&hot));
        }
        snap = damon_regions(qts, "rt");
        n = get_u64(snap, "nr-aggregations");
        if (n != seen) {
            seen = n;
            check_snapshot(snap, &none_ram, 1);
            if (n >= 10 && found_hot(snap, &hot, 1, why)) {
                break;
            }
        }
        if (g_get_monotonic_time() > deadline) {
            dump_regions(snap);
            g_test_message("%s", why->str);
            g_assert_not_reached();
        }
    }
    damon_stop_wait(qts, "rt");
    qtest_quit(qts);
}

/* ---- 2. a hot range that moves is followed ---- */

static void test_moving_hot(const void *opaque)
{
    const char *source = opaque;
    const GpaRange first = { 8 * MiB, 12 * MiB };
    const GpaRange second = { 40 * MiB, 44 * MiB };
    QTestState *qts = qtest_init(NONE_ARGS);

    damon_start_virtual(qts, "mover", source, NULL, 0);
    run_hot(qts, &first, 1, 2 * 1000 * 1000 * 1000LL,
            &(HotCheck) { "mover", &first, 1, &none_ram, 1 }, 1);

    /* the old range must go cold, which run_hot() checks as well */
    run_hot(qts, &second, 1, SETTLE_NS,
            &(HotCheck) { "mover", &second, 1, &none_ram, 1 }, 1);
    assert_wss(qts, "mover", gpa_range_size(&second));
    qtest_quit(qts);
}

/* ---- 3. two monitors at once ---- */

typedef struct TwoMonitors {
    const char *whole_source;   /* monitor "whole": all of RAM */
    const char *part_source;    /* monitor "part": two explicit ranges */
} TwoMonitors;

static void test_two_monitors(const void *opaque)
{
    const TwoMonitors *t = opaque;
    /* "part" sees the first hot range only */
    const GpaRange part[] = { { 8 * MiB, 32 * MiB }, { 36 * MiB, 40 * MiB } };
    const GpaRange hot[] = { { 16 * MiB, 20 * MiB }, { 48 * MiB, 50 * MiB } };
    const HotCheck checks[] = {
        { "whole", hot, ARRAY_SIZE(hot), &none_ram, 1 },
        { "part", hot, 1, part, ARRAY_SIZE(part) },
    };
    g_autoptr(QDict) snap = NULL;
    g_autoptr(QList) all = NULL;
    QTestState *qts = qtest_init(NONE_ARGS);

    damon_start_virtual(qts, "whole", t->whole_source, NULL, 0);
    damon_start_virtual(qts, "part", t->part_source, part, ARRAY_SIZE(part));
    run_hot(qts, hot, ARRAY_SIZE(hot), SETTLE_NS, checks, ARRAY_SIZE(checks));
    assert_wss(qts, "whole", gpa_range_size(&hot[0]) +
               gpa_range_size(&hot[1]));
    assert_wss(qts, "part", gpa_range_size(&hot[0]));
    snap = damon_regions(qts, "part");
    g_assert_cmpuint(get_u64(snap, "total-bytes"), ==,
                     gpa_range_size(&part[0]) + gpa_range_size(&part[1]));

    /* listed in start order; stopping one leaves the other running */
    all = damon_query(qts);
    g_assert_cmpuint(qlist_size(all), ==, 2);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_entry_obj(
                        qlist_first(all))), "id"), ==, "whole");
    damon_stop_wait(qts, "whole");
    run_hot(qts, hot, ARRAY_SIZE(hot), 10 * AGGR_NS, &checks[1], 1);
    qtest_quit(qts);
}

/* ---- 4. start, tune and stop, again and again ---- */

static uint64_t info_aggregations(QTestState *qts, const char *id)
{
    g_autoptr(QDict) info = damon_query_one(qts, id);

    return get_u64(info, "nr-aggregations");
}

static uint64_t info_attr(QTestState *qts, const char *id, const char *attr)
{
    g_autoptr(QDict) info = damon_query_one(qts, id);

    return get_u64(qdict_get_qdict(info, "attrs"), attr);
}

/* Let monitor @id run until it did @n more aggregations. */
static void run_aggregations(QTestState *qts, const char *id, bool virtual,
                             uint64_t n)
{
    uint64_t want = info_aggregations(qts, id) + n;
    int64_t deadline = g_get_monotonic_time() + REALTIME_WAIT_US;

    if (virtual) {
        qtest_clock_step(qts, n * info_attr(qts, id, "aggr-us") * 1000);
        g_assert_cmpuint(info_aggregations(qts, id), ==, want);
        return;
    }
    while (info_aggregations(qts, id) < want) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(2000);
    }
}

static void test_start_stop_tune(const void *opaque)
{
    const char *clock = opaque;
    bool virtual = !strcmp(clock, "virtual");
    static const char *const sources[] = { "dirty-bitmap", "page-hash" };
    QTestState *qts = qtest_init(NONE_ARGS);
    g_autoptr(QList) none = damon_query(qts);
    int cycle;

    g_assert(qlist_empty(none));
    for (cycle = 0; cycle < 6; cycle++) {
        const char *source = sources[cycle % ARRAY_SIZE(sources)];
        g_autofree char *args = g_strdup_printf(
            "{'id': 'cyc', 'source': '%s', 'clock': '%s', "
            "'sample-us': 1000, 'aggr-us': 10000}", source, clock);
        g_autoptr(QDict) info = NULL;
        g_autoptr(QDict) snap = NULL;
        g_autoptr(QDict) wss = NULL;
        g_autoptr(QList) all = NULL;
        uint64_t stopped_at;

        /* a start of a stopped monitor's id replaces it */
        damon_start(qts, args);
        all = damon_query(qts);
        g_assert_cmpuint(qlist_size(all), ==, 1);
        info = damon_query_one(qts, "cyc");
        g_assert_cmpstr(qdict_get_str(info, "state"), ==, "running");
        g_assert_cmpstr(qdict_get_str(info, "source"), ==, source);
        g_assert_cmpstr(qdict_get_str(info, "clock"), ==, clock);
        if (virtual) {
            /* a realtime monitor may have aggregated already */
            g_assert_cmpuint(get_u64(info, "nr-aggregations"), ==, 0);
            g_assert(!qdict_haskey(info, "last-aggregation-age-us"));
        }
        run_aggregations(qts, "cyc", virtual, 3);

        /*
         * tune: attrs change at once, aggregation goes on with them; the
         * last snapshot keeps the attrs it was counted with, and the WSS
         * distribution starts over
         */
        damon_tune(qts, "{'id': 'cyc', 'aggr-us': 20000, "
                   "'max-nr-regions': 500}");
        g_assert_cmpuint(info_attr(qts, "cyc", "aggr-us"), ==, 20000);
        g_assert_cmpuint(info_attr(qts, "cyc", "max-nr-regions"), ==, 500);
        g_assert_cmpuint(info_attr(qts, "cyc", "sample-us"), ==, 1000);
        if (virtual) {
            snap = damon_regions(qts, "cyc");
            g_assert_cmpuint(get_u64(snap, "max-nr-accesses"), ==, 10);
            qobject_unref(snap);
        }
        run_aggregations(qts, "cyc", virtual, 3);
        snap = damon_regions(qts, "cyc");
        g_assert_cmpuint(get_u64(snap, "max-nr-accesses"), ==, 20);
        wss = damon_wss(qts, "{'id': 'cyc'}");
        if (virtual) {
            g_assert_cmpuint(get_u64(wss, "nr-aggregations"), ==, 3);
        } else {
            /* the thread may aggregate once more before it takes the tune */
            g_assert_cmpuint(get_u64(wss, "nr-aggregations"), >=, 2);
            g_assert_cmpuint(get_u64(wss, "nr-aggregations"), <,
                             info_aggregations(qts, "cyc"));
        }

        damon_stop_wait(qts, "cyc");
        qobject_unref(info);
        info = damon_query_one(qts, "cyc");
        g_assert_cmpstr(qdict_get_str(info, "state"), ==, "stopped");
        g_assert_cmpstr(qdict_get_str(info, "stop-reason"), ==,
                        "requested");
        stopped_at = get_u64(info, "nr-aggregations");
        g_assert_cmpuint(stopped_at, >=, 6);

        /* a stopped monitor keeps its results and does no more work */
        qobject_unref(snap);
        snap = damon_regions(qts, "cyc");
        g_assert_cmpuint(get_u64(snap, "nr-aggregations"), ==, stopped_at);
        check_snapshot(snap, &none_ram, 1);
        qtest_clock_step(qts, 10 * AGGR_NS);
        if (!virtual) {
            g_usleep(50 * 1000);
        }
        g_assert_cmpuint(info_aggregations(qts, "cyc"), ==, stopped_at);
    }
    qtest_quit(qts);
}

/* ---- 5. bad arguments ---- */

/*
 * Run @cmd with @args and check that it fails with an error whose desc
 * contains @want, and that the VM still answers.
 */
static void assert_rejected(QTestState *qts, const char *cmd,
                            const char *args, const char *want)
{
    g_autofree char *desc = damon_error(qts, cmd, args);

    if (!strstr(desc, want)) {
        g_test_message("%s %s: got \"%s\", want \"%s\" in it",
                       cmd, args, desc, want);
    }
    g_assert(strstr(desc, want));
    assert_vm_answers(qts);
}

/* Arguments of @cmd that fail alike: the error's desc contains @want */
typedef struct BadArgs {
    const char *cmd;
    const char *want;
    const char *args[8];    /* JSON objects, up to the first NULL */
} BadArgs;

/* Run against monitor "ok" (running, 5 ms / 100 ms) and "gone" (stopped) */
static const BadArgs bad_args[] = {
    /* ids */
    { "damon-start", "'id'", { "{'id': ''}",
      "{'id': 'a123456789b123456789c123456789d12'}", "{'id': 'a b'}",
      "{'id': 'a/b'}" } },
    { "damon-start", "already running", { "{'id': 'ok'}" } },
    /* intervals */
    { "damon-start", "'sample-us'", { "{'id': 'x', 'sample-us': 0}",
      "{'id': 'x', 'sample-us': 99}", "{'id': 'x', 'sample-us': 10000001}" } },
    { "damon-start", "'aggr-us'",
      { "{'id': 'x', 'sample-us': 5000, 'aggr-us': 4999}",
        "{'id': 'x', 'sample-us': 100, 'aggr-us': 100001}" } },
    { "damon-start", "'update-us'",
      { "{'id': 'x', 'sample-us': 5000, 'update-us': 4999}",
        "{'id': 'x', 'update-us': 3600000001}" } },
    { "damon-start", "'min-nr-regions'", { "{'id': 'x', 'min-nr-regions': 2}",
      "{'id': 'x', 'min-nr-regions': 100001}" } },
    { "damon-start", "'max-nr-regions'",
      { "{'id': 'x', 'min-nr-regions': 10, 'max-nr-regions': 9}",
        "{'id': 'x', 'max-nr-regions': 100001}" } },
    /* ranges */
    { "damon-start", "'regions'", { "{'id': 'x', 'regions': []}" } },
    { "damon-start", "regions[0]", {
        "{'id': 'x', 'regions': [{'start': 4097, 'end': 8192}]}",
        "{'id': 'x', 'regions': [{'start': 4096, 'end': 8193}]}",
        "{'id': 'x', 'regions': [{'start': 8192, 'end': 8192}]}",
        "{'id': 'x', 'regions': [{'start': 8192, 'end': 4096}]}",
        /* across the end of the 64 MiB of RAM; far out */
        "{'id': 'x', 'regions': [{'start': 67104768, 'end': 67112960}]}",
        "{'id': 'x', 'regions': [{'start': 4294967296, "
        "'end': 4294971392}]}" } },
    { "damon-start", "regions[1]", {
        "{'id': 'x', 'regions': [{'start': 0, 'end': 8192}, "
        "{'start': 4096, 'end': 12288}]}",
        "{'id': 'x', 'regions': [{'start': 8192, 'end': 12288}, "
        "{'start': 0, 'end': 4096}]}",
        /* the first page past the 64 MiB of RAM */
        "{'id': 'x', 'regions': [{'start': 0, 'end': 4096}, "
        "{'start': 67108864, 'end': 67112960}]}" } },
    /* sources and clocks; qtest has no KVM, hence no dirty ring */
    { "damon-start", "'source'", { "{'id': 'x', 'source': 'nonsense'}" } },
    { "damon-start", "dirty-ring-size",
      { "{'id': 'x', 'source': 'dirty-ring'}" } },
    /* qtest is not TCG: no softmmu TLB to observe */
    { "damon-start", "'tcg-accessed' needs the TCG accelerator",
      { "{'id': 'x', 'source': 'tcg-accessed'}",
        "{'id': 'x', 'source': 'tcg-accessed', 'clock': 'virtual'}" } },
    { "damon-start", "'clock'", { "{'id': 'x', 'clock': 'sundial'}" } },
    { "damon-start", "'split'", { "{'id': 'x', 'split': 'sideways'}",
      "{'id': 'x', 'split': 1}" } },
    /* write sources: each error names 'write-source' and says why */
    { "damon-start", "'write-source'",
      { "{'id': 'x', 'write-source': 'nonsense'}" } },
    { "damon-start", "'write-source' must be a source that sees writes only",
      { "{'id': 'x', 'write-source': 'tcg-accessed'}",
        "{'id': 'x', 'source': 'tcg-accessed', "
        "'write-source': 'tcg-accessed'}" } },
    { "damon-start", "'write-source' must differ from 'source'",
      { "{'id': 'x', 'source': 'page-hash', 'write-source': 'page-hash'}",
        "{'id': 'x', 'source': 'dirty-bitmap', "
        "'write-source': 'dirty-bitmap'}" } },
    { "damon-start", "'write-source' needs a 'source' that sees reads",
      { "{'id': 'x', 'source': 'dirty-bitmap', 'write-source': 'page-hash'}",
        "{'id': 'x', 'source': 'page-hash', "
        "'write-source': 'dirty-bitmap'}" } },
    /* the default source here is dirty-bitmap, and the error says why */
    { "damon-start", "sees writes only, so every access it finds is "
      "already a write", { "{'id': 'x', 'write-source': 'page-hash'}" } },
    { "damon-start", "'dirty-bitmap' (default: accelerator 'QTest'",
      { "{'id': 'x', 'write-source': 'page-hash'}" } },
    /* a read source this accelerator lacks is refused as such */
    { "damon-start", "'tcg-accessed' needs the TCG accelerator",
      { "{'id': 'x', 'source': 'tcg-accessed', "
        "'write-source': 'dirty-bitmap'}" } },
    /* idle-page's files: each error names the argument */
    { "damon-start", "'pagemap-fd' is only for source idle-page",
      { "{'id': 'x', 'source': 'page-hash', 'pagemap-fd': '0'}" } },
    { "damon-start", "'idle-bitmap-fd' is only for source idle-page",
      { "{'id': 'x', 'source': 'dirty-bitmap', 'idle-bitmap-fd': '0'}" } },
    { "damon-start", "'pagemap-fd': File descriptor named 'nosuch'",
      { "{'id': 'x', 'source': 'idle-page', 'pagemap-fd': 'nosuch'}" } },
    { "damon-start", "'idle-bitmap-fd': ",
      { "{'id': 'x', 'source': 'idle-page', "
        "'idle-bitmap-fd': '/dev/fdset/99'}",
        "{'id': 'x', 'idle-bitmap-fd': '-1'}" } },
    { "damon-start", "'write-source' page-hash cannot pair with source "
      "idle-page", { "{'id': 'x', 'source': 'idle-page', "
                     "'write-source': 'page-hash'}" } },
    /* unknown or stopped monitors */
    { "damon-stop", "'nosuch'", { "{'id': 'nosuch'}" } },
    { "damon-stop", "'damon0'", { "{}" } },
    { "damon-stop", "not running", { "{'id': 'gone'}" } },
    { "damon-tune", "'nosuch'", { "{'id': 'nosuch', 'aggr-us': 200000}" } },
    { "damon-tune", "not running", { "{'id': 'gone', 'aggr-us': 200000}" } },
    { "query-damon-regions", "'nosuch'", { "{'id': 'nosuch'}" } },
    { "query-damon-regions", "'id'", { "{}" } },
    { "query-damon-wss", "'nosuch'", { "{'id': 'nosuch'}" } },
    { "query-damon-wss", "'id'", { "{}" } },
    /* wss queries */
    { "query-damon-wss", "'min-nr-accesses'",
      { "{'id': 'ok', 'min-nr-accesses': 0}",
        "{'id': 'ok', 'min-nr-accesses': 21}" } },
    { "query-damon-wss", "'percentiles[1]'",
      { "{'id': 'ok', 'percentiles': [50, 101]}" } },
    /* tunes that must leave "ok" as it was */
    { "damon-tune", "'sample-us'", { "{'id': 'ok', 'sample-us': 99}" } },
    { "damon-tune", "'aggr-us'", { "{'id': 'ok', 'aggr-us': 4999}",
      "{'id': 'ok', 'sample-us': 200000}" } },
    { "damon-tune", "'update-us'", { "{'id': 'ok', 'update-us': 100}" } },
    { "damon-tune", "'min-nr-regions'",
      { "{'id': 'ok', 'min-nr-regions': 2}" } },
    { "damon-tune", "'max-nr-regions'",
      { "{'id': 'ok', 'max-nr-regions': 9}",
        "{'id': 'ok', 'min-nr-regions': 2000}" } },
};

static void test_bad_args(void)
{
    QTestState *qts = qtest_init(NONE_ARGS);
    g_autoptr(QList) all = NULL;
    g_autofree char *many = NULL;
    GString *pct = g_string_new("{'id': 'ok', 'percentiles': [0");
    const char *const *args;
    size_t i;

    damon_start(qts, "{'id': 'ok', 'clock': 'virtual', 'sample-us': 5000, "
                "'aggr-us': 100000}");
    damon_start(qts, "{'id': 'gone', 'clock': 'virtual'}");
    damon_stop(qts, "gone");
    qtest_clock_step(qts, 3 * AGGR_NS);

    for (i = 0; i < ARRAY_SIZE(bad_args); i++) {
        for (args = bad_args[i].args; *args; args++) {
            assert_rejected(qts, bad_args[i].cmd, *args, bad_args[i].want);
        }
    }

    /* 102 percentiles: one too many */
    for (i = 1; i < 102; i++) {
        g_string_append_printf(pct, ", %zu", i % 101);
    }
    g_string_append(pct, "]}");
    many = g_string_free(pct, false);
    assert_rejected(qts, "query-damon-wss", many, "'percentiles'");

    /* nothing half-made was left behind; "ok" kept its attributes */
    all = damon_query(qts);
    g_assert_cmpuint(qlist_size(all), ==, 2);
    g_assert_cmpuint(info_attr(qts, "ok", "sample-us"), ==, 5000);
    g_assert_cmpuint(info_attr(qts, "ok", "aggr-us"), ==, 100000);
    g_assert_cmpuint(info_attr(qts, "ok", "update-us"), ==, 1000000);
    g_assert_cmpuint(info_attr(qts, "ok", "min-nr-regions"), ==, 10);
    g_assert_cmpuint(info_attr(qts, "ok", "max-nr-regions"), ==, 1000);
    run_aggregations(qts, "ok", true, 5);
    qtest_quit(qts);
}

/* ---- 5b. the split mode ---- */

static char *info_split(QTestState *qts, const char *id)
{
    g_autoptr(QDict) info = damon_query_one(qts, id);

    return g_strdup(qdict_get_str(qdict_get_qdict(info, "attrs"), "split"));
}

/*
 * damon-start's split mode shows in query-damon, aimed by default, and
 * a tune keeps it.  (No source qtest can run gives hints, so here both
 * modes split alike; bench/engine and tests/unit/test-split.c show the
 * difference.)
 */
static void test_split_mode(void)
{
    static const struct {
        const char *id, *args, *want;
    } cases[] = {
        { "dflt", "", "aimed" },
        { "aim", ", 'split': 'aimed'", "aimed" },
        { "rnd", ", 'split': 'random'", "random" },
    };
    QTestState *qts = qtest_init(NONE_ARGS);
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *args = g_strdup_printf(
            "{'id': '%s', 'clock': 'virtual', 'sample-us': 1000, "
            "'aggr-us': 10000%s}", cases[i].id, cases[i].args);
        g_autofree char *got = NULL;

        damon_start(qts, args);
        got = info_split(qts, cases[i].id);
        g_assert_cmpstr(got, ==, cases[i].want);
    }
    run_aggregations(qts, "rnd", true, 5);
    damon_tune(qts, "{'id': 'rnd', 'aggr-us': 20000}");
    run_aggregations(qts, "rnd", true, 3);
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *got = info_split(qts, cases[i].id);

        g_assert_cmpstr(got, ==, cases[i].want);
        damon_stop_wait(qts, cases[i].id);
    }
    qtest_quit(qts);
}

/* ---- 5a. reads and writes apart: a write source ---- */

/* QEMU's test switch: a writes-only source may take a write source */
#define PAIR_ENV            "QDAMON_TEST_PAIR_WRITE_SOURCES"
/* What the write-source monitors must see written, at least */
#define WRITE_SHARE_MIN     80

/*
 * For @ns of virtual time, once per sample interval: write @changed
 * with a new byte every time (every source sees that) and @same with
 * the same byte every time (dirty-bitmap sees it, page-hash does not
 * once the first pass changed it).
 */
static void write_changed_same(QTestState *qts, const GpaRange *changed,
                               const GpaRange *same, int64_t ns)
{
    int64_t t;

    for (t = 0; t < ns; t += SAMPLE_NS) {
        hot_pattern = hot_pattern % 255 + 1;
        qtest_memset(qts, changed->start, hot_pattern,
                     gpa_range_size(changed));
        qtest_memset(qts, same->start, 0x5a, gpa_range_size(same));
        qtest_clock_step(qts, SAMPLE_NS);
    }
}

/*
 * The written part of a snapshot's working set as QEMU defines it
 * (qmp/damon.json, DamonWss): bytes times nr-writes / nr-accesses of
 * the regions with nr-accesses >= @min.
 */
static uint64_t write_share_bytes(QDict *snap, uint64_t min)
{
    const QListEntry *e;
    uint64_t sum = 0;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(snap, "regions"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t nr_acc = get_u64(r, "nr-accesses");

        if (nr_acc >= min) {
            sum += (get_u64(r, "end") - get_u64(r, "start")) *
                get_u64(r, "nr-writes") / nr_acc;
        }
    }
    return sum;
}

/*
 * Whether monitor snapshot @snap, of a monitor with a write source, has
 * @w (always written) and @s (written as the write source sees it when
 * @s_written, else never) as it should: both found hot (>= 90% of
 * their bytes in hot regions); the hot regions' write share
 * (nr-writes / nr-accesses, weighted by their pages in the range) at
 * least WRITE_SHARE_MIN % in @w, and in @s too when @s_written, else
 * no write at all; no region outside both written.  The write WSS at the warm threshold is |@w| (+ |@s|)
 * within 10%.  @why says how it went.
 */
static bool found_writes(QDict *snap, QDict *wss_warm, const GpaRange *w,
                         const GpaRange *s, bool s_written, GString *why)
{
    uint64_t max = get_u64(snap, "max-nr-accesses");
    uint64_t found_w = 0, found_s = 0, acc_w = 0, wr_w = 0;
    uint64_t acc_s = 0, wr_s = 0, stray_writes = 0;
    uint64_t want = gpa_range_size(w) + (s_written ? gpa_range_size(s) : 0);
    uint64_t write_wss = get_u64(wss_warm, "write-wss-bytes");
    const QListEntry *e;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(snap, "regions"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t start = get_u64(r, "start"), end = get_u64(r, "end");
        uint64_t nr_acc = get_u64(r, "nr-accesses");
        uint64_t nr_wr;
        uint64_t in_w = overlap(start, end, w->start, w->end);
        uint64_t in_s = overlap(start, end, s->start, s->end);

        /* every region has it, and a write is an access */
        g_assert(qdict_haskey(r, "nr-writes"));
        nr_wr = get_u64(r, "nr-writes");
        g_assert_cmpuint(nr_wr, <=, nr_acc);
        /* hot regions, by the bytes they hold of each range */
        if (nr_acc >= hot_min(max)) {
            found_w += in_w;
            found_s += in_s;
            acc_w += in_w / 4096 * nr_acc;
            wr_w += in_w / 4096 * nr_wr;
            acc_s += in_s / 4096 * nr_acc;
            wr_s += in_s / 4096 * nr_wr;
        }
        if (!in_w && !in_s) {
            stray_writes += nr_wr;
        }
    }
    g_string_printf(why, "'%s': W %" PRIu64 "/%" PRIu64 " bytes hot, "
                    "page-weighted writes %" PRIu64 " of %" PRIu64
                    " accesses; S %" PRIu64 "/%" PRIu64 " bytes hot, "
                    "page-weighted writes %" PRIu64 " of %" PRIu64
                    " accesses; %" PRIu64 " writes elsewhere; write-wss %"
                    PRIu64 " (want %" PRIu64 ")", qdict_get_str(snap, "id"),
                    found_w, gpa_range_size(w), wr_w, acc_w, found_s,
                    gpa_range_size(s), wr_s, acc_s, stray_writes, write_wss,
                    want);
    return found_w * 10 >= gpa_range_size(w) * 9 &&
        found_s * 10 >= gpa_range_size(s) * 9 &&
        acc_w && wr_w * 100 >= acc_w * WRITE_SHARE_MIN &&
        acc_s && (s_written ? wr_s * 100 >= acc_s * WRITE_SHARE_MIN :
                  wr_s == 0) &&
        stray_writes == 0 &&
        write_wss * 10 >= want * 9 && write_wss * 10 <= want * 11;
}

/*
 * Two write-source monitors at once on the virtual clock, under the
 * test switch (the qtest accelerator has no source that sees reads):
 *
 *   "dw": source dirty-bitmap, write source page-hash.  W (new bytes
 *         every sample) is accessed and written; S (the same bytes
 *         again) is accessed but, as page-hash sees it, never written:
 *         the split a read source and a write source give, with a
 *         rewrite of the same bytes in the part of a read.
 *   "pw": source page-hash, write source dirty-bitmap.  S is invisible
 *         to page-hash, and is found anyway, written: a page the write
 *         source finds written counts as accessed too.
 *
 * A third monitor without a write source keeps the replies as they
 * were: no nr-writes, no write-wss-bytes, no write-source.
 */
static void test_write_source(void)
{
    const GpaRange w = { 16 * MiB, 20 * MiB }, s = { 32 * MiB, 40 * MiB };
    static const struct {
        const char *id, *args;
        const char *source, *write_source;
        bool s_written;
    } mons[] = {
        { "dw", "{'id': 'dw', 'source': 'dirty-bitmap', "
          "'write-source': 'page-hash', 'clock': 'virtual'}",
          "dirty-bitmap", "page-hash", false },
        { "pw", "{'id': 'pw', 'source': 'page-hash', "
          "'write-source': 'dirty-bitmap', 'clock': 'virtual'}",
          "page-hash", "dirty-bitmap", true },
    };
    g_autoptr(GString) why = g_string_new(NULL);
    g_autoptr(QDict) plain_info = NULL;
    g_autoptr(QDict) plain_snap = NULL;
    g_autoptr(QDict) plain_wss = NULL;
    QTestState *qts;
    const QListEntry *e;
    size_t i;
    int try;

    g_setenv(PAIR_ENV, "1", true);
    qts = qtest_init(NONE_ARGS);
    g_unsetenv(PAIR_ENV);

    /* the switch lifts only the writes-only rule */
    assert_rejected(qts, "damon-start", "{'id': 'x', 'source': 'page-hash', "
                    "'write-source': 'page-hash'}",
                    "'write-source' must differ from 'source'");
    assert_rejected(qts, "damon-start", "{'id': 'x', 'source': 'page-hash', "
                    "'write-source': 'dirty-ring'}",
                    "'write-source': source 'dirty-ring' needs KVM");
    assert_rejected(qts, "damon-start", "{'id': 'x', "
                    "'write-source': 'tcg-accessed'}",
                    "'write-source' must be a source that sees writes only");

    for (i = 0; i < ARRAY_SIZE(mons); i++) {
        damon_start(qts, mons[i].args);
    }
    damon_start_virtual(qts, "plain", "dirty-bitmap", NULL, 0);
    write_changed_same(qts, &w, &s, SETTLE_NS);

    for (try = 1; ; try++) {
        bool all = true;

        for (i = 0; i < ARRAY_SIZE(mons); i++) {
            g_autoptr(QDict) info = damon_query_one(qts, mons[i].id);
            g_autoptr(QDict) snap = damon_regions(qts, mons[i].id);
            g_autofree char *warm = NULL;
            g_autoptr(QDict) wss_warm = NULL;

            g_assert_cmpstr(qdict_get_str(info, "source"), ==,
                            mons[i].source);
            g_assert_cmpstr(qdict_get_str(info, "write-source"), ==,
                            mons[i].write_source);
            g_assert_cmpstr(qdict_get_str(info, "sees"), ==, "writes-only");
            g_assert_cmpstr(qdict_get_str(info, "source-reason"), ==,
                            "requested");
            check_snapshot(snap, &none_ram, 1);
            warm = g_strdup_printf("{'id': '%s', 'min-nr-accesses': %"
                                   PRIu64 "}", mons[i].id,
                                   warm_min(get_u64(snap,
                                                    "max-nr-accesses")));
            wss_warm = damon_wss(qts, warm);
            /* QEMU's write WSS is the write share of the same snapshot */
            g_assert_cmpuint(get_u64(wss_warm, "nr-aggregations"), ==,
                             get_u64(snap, "nr-aggregations"));
            g_assert_cmpuint(get_u64(wss_warm, "write-wss-bytes"), ==,
                             write_share_bytes(snap, get_u64(wss_warm,
                                               "min-nr-accesses")));
            g_assert_cmpuint(get_u64(wss_warm, "write-wss-bytes"), <=,
                             get_u64(wss_warm, "wss-bytes"));
            if (!found_writes(snap, wss_warm, &w, &s, mons[i].s_written,
                              why)) {
                g_test_message("try %d: %s", try, why->str);
                if (try == HOT_TRIES) {
                    dump_regions(snap);
                }
                all = false;
            }
        }
        if (all) {
            break;
        }
        g_assert_cmpint(try, <, HOT_TRIES);
        write_changed_same(qts, &w, &s, AGGR_NS);
    }
    g_test_message("%s", why->str);

    /* without a write source, the replies are as they always were */
    plain_info = damon_query_one(qts, "plain");
    g_assert(!qdict_haskey(plain_info, "write-source"));
    g_assert_cmpstr(qdict_get_str(plain_info, "sees"), ==, "writes-only");
    plain_snap = damon_regions(qts, "plain");
    g_assert_cmpuint(qlist_size(qdict_get_qlist(plain_snap, "regions")), >,
                     0);
    QLIST_FOREACH_ENTRY(qdict_get_qlist(plain_snap, "regions"), e) {
        g_assert(!qdict_haskey(qobject_to(QDict, qlist_entry_obj(e)),
                               "nr-writes"));
    }
    plain_wss = damon_wss(qts, "{'id': 'plain'}");
    g_assert(!qdict_haskey(plain_wss, "write-wss-bytes"));

    for (i = 0; i < ARRAY_SIZE(mons); i++) {
        damon_stop_wait(qts, mons[i].id);
    }
    damon_stop_wait(qts, "plain");
    assert_vm_answers(qts);
    qtest_quit(qts);
}

/*
 * What each source sees, and why the default is the default: under
 * qtest (not TCG, no KVM) the default is dirty-bitmap, never
 * tcg-accessed, which would refuse this accelerator.
 */
/*
 * HMP wraps the QMP commands: damon_start [id [source [write_source]]],
 * damon_stop, info damon; its errors are QMP's, or name the HMP field.
 */
static void test_hmp(void)
{
    QTestState *qts = qtest_init(NONE_ARGS);
    g_autofree char *started = qtest_hmp(qts, "damon_start h page-hash");
    g_autofree char *info = qtest_hmp(qts, "info damon");
    g_autofree char *bogus = qtest_hmp(qts, "damon_start h2 page-hash bogus");
    g_autofree char *pair = qtest_hmp(qts, "damon_start h3 page-hash "
                                      "dirty-bitmap");
    g_autofree char *again = qtest_hmp(qts, "damon_start h");
    g_autofree char *stopped = NULL, *info2 = NULL;

    g_assert_cmpstr(started, ==, "");
    g_assert_nonnull(strstr(info, "h: running, source page-hash "
                            "(writes-only), clock realtime"));
    g_assert_nonnull(strstr(info, "  source: requested"));
    g_assert_nonnull(strstr(bogus, "'write_source': invalid parameter value: "
                            "bogus"));
    g_assert_nonnull(strstr(pair, "'write-source' needs a 'source' that "
                            "sees reads"));
    g_assert_nonnull(strstr(again, "already running"));
    stopped = qtest_hmp(qts, "damon_stop h");
    g_assert_cmpstr(stopped, ==, "");
    damon_wait_stopped(qts, "h", "requested");
    info2 = qtest_hmp(qts, "info damon");
    g_assert_nonnull(strstr(info2, "h: stopped"));
    /* neither refused start left a monitor */
    g_assert_null(strstr(info2, "h2:"));
    g_assert_null(strstr(info2, "h3:"));
    assert_vm_answers(qts);
    qtest_quit(qts);
}

/* A default's reason ends in what the host lacks for idle-page. */
static void assert_reason(const char *got, const char *want)
{
    if (g_str_has_prefix(want, "default: ")) {
        g_assert_true(g_str_has_prefix(got, want));
    } else {
        g_assert_cmpstr(got, ==, want);
    }
}

static void test_sees(void)
{
    static const struct {
        const char *id, *args, *source, *reason;
    } mons[] = {
        /* then why not idle-page, which depends on the host */
        { "dflt", "{'id': 'dflt', 'clock': 'virtual'}", "dirty-bitmap",
          "default: accelerator 'QTest' has no dirty ring; dirty-bitmap "
          "works with every accelerator (sees writes only; not idle-page: "
          "source 'idle-page': " },
        { "db", "{'id': 'db', 'source': 'dirty-bitmap'}", "dirty-bitmap",
          "requested" },
        { "ph", "{'id': 'ph', 'source': 'page-hash'}", "page-hash",
          "requested" },
    };
    QTestState *qts = qtest_init(NONE_ARGS);
    size_t i;

    for (i = 0; i < ARRAY_SIZE(mons); i++) {
        g_autoptr(QDict) info = NULL;

        damon_start(qts, mons[i].args);
        info = damon_query_one(qts, mons[i].id);
        g_assert_cmpstr(qdict_get_str(info, "source"), ==, mons[i].source);
        g_assert_cmpstr(qdict_get_str(info, "sees"), ==, "writes-only");
        assert_reason(qdict_get_str(info, "source-reason"), mons[i].reason);
        g_assert(!qdict_haskey(info, "write-source"));
    }
    /* stopped monitors still say what they saw */
    for (i = 0; i < ARRAY_SIZE(mons); i++) {
        g_autoptr(QDict) info = NULL;

        damon_stop_wait(qts, mons[i].id);
        info = damon_query_one(qts, mons[i].id);
        g_assert_cmpstr(qdict_get_str(info, "state"), ==, "stopped");
        g_assert_cmpstr(qdict_get_str(info, "sees"), ==, "writes-only");
        assert_reason(qdict_get_str(info, "source-reason"), mons[i].reason);
    }
    assert_vm_answers(qts);
    qtest_quit(qts);
}

static bool have_pc_firmware(void)
{
    if (!g_file_test(PC_FIRMWARE_DIR "/bios-256k.bin", G_FILE_TEST_EXISTS)) {
        g_test_skip("needs SeaBIOS in " PC_FIRMWARE_DIR);
        return false;
    }
    return true;
}

/* Ranges of a pc that are not guest RAM, with the VGA's VRAM mapped */
static const GpaRange pc_not_ram[] = {
    { 0x9f000, 0xa1000 },               /* RAM, then VGA memory */
    { VGA_WINDOW, VGA_WINDOW + 0x1000 },
    { 0xc0000, 0xc1000 },               /* option ROM area */
    { 0xe0000, 0xe1000 },               /* BIOS */
    { PC_RAM - 0x1000, PC_RAM + 0x1000 },
    { PC_RAM, PC_RAM + 0x1000 },        /* PCI hole */
    { 0xfffc0000, 0xfffc1000 },         /* BIOS, high */
    { 4 * GiB, 4 * GiB + 0x1000 },      /* device memory, no DIMM */
};

static void test_bad_ranges_pc(void)
{
    g_autoptr(QList) all = NULL;
    QTestState *qts;
    size_t i;

    if (!have_pc_firmware()) {
        return;
    }
    qts = qtest_init(PC_ARGS);
    guest_map_vga_vram(qts);
    for (i = 0; i < ARRAY_SIZE(pc_not_ram); i++) {
        g_autofree char *args = g_strdup_printf(
            "{'id': 'x', 'regions': [{'start': %" PRIu64 ", 'end': %"
            PRIu64 "}]}", pc_not_ram[i].start, pc_not_ram[i].end);

        assert_rejected(qts, "damon-start", args, "regions[0]");
    }
    all = damon_query(qts);
    g_assert(qlist_empty(all));
    qtest_quit(qts);
}

/* ---- 6. monitors end cleanly with QEMU ---- */

static void start_quit_monitors(QTestState *qts)
{
    damon_start(qts, "{'id': 'rt-bitmap', 'source': 'dirty-bitmap', "
                "'sample-us': 100, 'aggr-us': 1000}");
    damon_start(qts, "{'id': 'rt-hash', 'source': 'page-hash', "
                "'sample-us': 100, 'aggr-us': 1000}");
    damon_start(qts, "{'id': 'virt', 'clock': 'virtual'}");
    run_aggregations(qts, "rt-bitmap", false, 2);
    run_aggregations(qts, "rt-hash", false, 2);
    write_hot(qts, &(GpaRange) { 0, 4 * MiB }, 1, 2 * AGGR_NS);
}

/* qtest_quit() sends SIGTERM; it fails if QEMU hangs or crashes */
static void test_quit_signal(void)
{
    QTestState *qts = qtest_init(NONE_ARGS);

    start_quit_monitors(qts);
    qtest_quit(qts);
}

static void test_quit_qmp(void)
{
    QTestState *qts = qtest_init(NONE_ARGS);
    int64_t deadline;

    start_quit_monitors(qts);
    damon_stop(qts, "rt-hash");
    qtest_qmp_assert_success(qts, "{'execute': 'quit'}");
    deadline = g_get_monotonic_time() + REALTIME_WAIT_US;
    while (qtest_probe_child(qts)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
    qtest_quit(qts);
}

/* ---- 7. sampling never allocates guest RAM on the host ---- */

/* 16 GiB that the host allocates only when touched */
#define SPARSE_RAM          (16 * GiB)
#define SPARSE_ARGS         "-machine none,memory-backend=m0 " \
                            "-cpu qemu64,apic-id=0 -m 16G " \
                            "-object memory-backend-ram,id=m0,size=16G," \
                            "reserve=off"
#define SPARSE_SAMPLES      400
/*
 * Without the residency check, 400 samples of >= 10 regions read over
 * 4000 pages spread over 8192 2-MiB areas: at least a page table each
 * (16 MiB), or a whole 2 MiB huge page each where the host backs read
 * faults with real huge pages.
 */
#define SPARSE_RSS_SLACK    (4 * MiB)

static uint64_t qemu_rss(QTestState *qts)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            (int)qtest_pid(qts));
    g_autofree char *status = NULL;
    const char *line;

    g_assert(g_file_get_contents(path, &status, NULL, NULL));
    line = strstr(status, "\nVmRSS:");
    g_assert(line);
    return g_ascii_strtoull(line + strlen("\nVmRSS:"), NULL, 10) * KiB;
}

static void test_sparse_rss(const void *opaque)
{
    const char *source = opaque;
    QTestState *qts = qtest_init(SPARSE_ARGS);
    g_autoptr(QDict) info = NULL;
    g_autoptr(QDict) wss = NULL;
    uint64_t before, after;

    damon_start_virtual(qts, NULL, source, NULL, 0);
    /* the first steps allocate the monitor's own structures */
    qtest_clock_step(qts, AGGR_NS);
    before = qemu_rss(qts);
    qtest_clock_step(qts, SPARSE_SAMPLES * SAMPLE_NS);
    after = qemu_rss(qts);
    info = damon_query_one(qts, "damon0");
    g_assert_cmpuint(get_u64(info, "nr-samples"), >=, SPARSE_SAMPLES);
    g_assert_cmpuint(get_u64(info, "nr-regions"), >=, 10);
    wss = damon_wss(qts, "{'id': 'damon0'}");
    /* all of it but what the CPU's APIC window (1 MiB) hides */
    g_assert_cmpuint(get_u64(wss, "total-bytes"), ==, SPARSE_RAM - MiB);
    g_assert_cmpuint(get_u64(wss, "wss-bytes"), ==, 0);
    g_test_message("QEMU's RSS went from %" PRIu64 " to %" PRIu64
                   " KiB in %d samples", before / KiB, after / KiB,
                   SPARSE_SAMPLES);
    g_assert_cmpuint(after, <=, before + SPARSE_RSS_SLACK);
    damon_stop(qts, "damon0");
    qtest_quit(qts);
}

/* ---- 8. memory hotplug ---- */

typedef struct Dimm {
    GpaRange range;
    uint64_t slot;
} Dimm;

static Dimm query_dimm(QTestState *qts, const char *id)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-memory-devices'}");
    QList *list = qdict_get_qlist(rsp, "return");
    const QListEntry *e;
    Dimm d = { { 0, 0 }, 0 };

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *dev = qobject_to(QDict, qlist_entry_obj(e));
        QDict *data = qdict_get_qdict(dev, "data");

        if (!strcmp(qdict_get_str(dev, "type"), "dimm") &&
            !strcmp(qdict_get_str(data, "id"), id)) {
            d.range.start = get_u64(data, "addr");
            d.range.end = d.range.start + get_u64(data, "size");
            d.slot = get_u64(data, "slot");
        }
    }
    qobject_unref(rsp);
    g_assert_cmpuint(d.range.end, >, d.range.start);
    return d;
}

/* Bytes of @id's regions that overlap @r. */
static uint64_t regions_overlap(QTestState *qts, const char *id,
                                const GpaRange *r)
{
    g_autoptr(QDict) snap = damon_regions(qts, id);
    const QListEntry *e;
    uint64_t sum = 0;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(snap, "regions"), e) {
        QDict *reg = qobject_to(QDict, qlist_entry_obj(e));

        sum += overlap(get_u64(reg, "start"), get_u64(reg, "end"),
                       r->start, r->end);
    }
    return sum;
}

static uint64_t regions_total(QTestState *qts, const char *id)
{
    g_autoptr(QDict) snap = damon_regions(qts, id);

    return get_u64(snap, "total-bytes");
}

/*
 * The guest's side of an ACPI memory unplug, as its _EJ0 method does it:
 * select the DIMM's slot and request the eject.
 */
static void guest_eject_dimm(QTestState *qts, const Dimm *d)
{
    qtest_outl(qts, MEMHP_SLOT, d->slot);
    qtest_outb(qts, MEMHP_CTRL, MEMHP_CTRL_EJECT);
}

static void plug_dimm(QTestState *qts, const char *mem, const char *dev)
{
    qtest_qmp_assert_success(qts, "{'execute': 'object-add', 'arguments': "
                             "{'qom-type': 'memory-backend-ram', "
                             "'id': %s, 'size': %" PRIu64 "}}",
                             mem, (uint64_t)PC_DIMM_SIZE);
    qtest_qmp_device_add(qts, "pc-dimm", dev, "{'memdev': %s}", mem);
}

/*
 * device_del only asks the guest; the guest ejects through the ACPI
 * registers, then the backend can go too.
 */
static void unplug_dimm(QTestState *qts, const char *mem, const char *dev,
                        const Dimm *d)
{
    qtest_qmp_device_del_send(qts, dev);
    guest_eject_dimm(qts, d);
    qtest_qmp_eventwait(qts, "DEVICE_DELETED");
    qtest_qmp_assert_success(qts, "{'execute': 'object-del', "
                             "'arguments': {'id': %s}}", mem);
}

static void assert_not_ram_unmonitored(QTestState *qts, const char *id)
{
    /* the VGA window (VGA memory) and the PCI hole are not guest RAM */
    const GpaRange not_ram[] = {
        { VGA_WINDOW, VGA_WINDOW_END }, { PC_RAM, 4 * GiB }
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(not_ram); i++) {
        g_assert_cmpuint(regions_overlap(qts, id, &not_ram[i]), ==, 0);
    }
}

/*
 * Monitor "all" follows guest RAM (the default), "dimm" watches the
 * DIMM's range only: it loses it on unplug and gets it back when a DIMM
 * is plugged there again.
 */
static void test_hotplug(const void *opaque)
{
    const char *source = opaque;
    g_autoptr(QDict) snap = NULL;
    g_autoptr(QDict) info = NULL;
    const GpaRange everywhere = { 0, UINT64_MAX };
    QTestState *qts;
    uint64_t boot_total;
    GpaRange hot;
    Dimm d, d2;
    HotCheck checks[] = {
        { "all", &hot, 1, &everywhere, 1 },
        { "dimm", &hot, 1, &d.range, 1 },
    };

    if (!have_pc_firmware()) {
        return;
    }
    qts = qtest_init(PC_ARGS);
    guest_map_vga_vram(qts);
    qtest_clock_step(qts, SAMPLE_NS);
    damon_start_virtual(qts, "all", source, NULL, 0);
    qtest_clock_step(qts, 2 * AGGR_NS);
    boot_total = regions_total(qts, "all");
    g_assert_cmpuint(boot_total, >, PC_RAM - MiB);
    g_assert_cmpuint(boot_total, <=, PC_RAM);
    assert_not_ram_unmonitored(qts, "all");

    /*
     * plug: the regions grow to cover the DIMM at the next update.  That
     * is due with the tenth aggregation, in the same step but after it:
     * the snapshot there is still of the old layout, and must say so
     * consistently.  The next one covers the DIMM.
     */
    plug_dimm(qts, "m1", "d1");
    d = query_dimm(qts, "d1");
    g_assert_cmpuint(gpa_range_size(&d.range), ==, PC_DIMM_SIZE);
    qtest_clock_step(qts, UPDATE_NS - 2 * AGGR_NS);
    snap = damon_regions(qts, "all");
    check_snapshot(snap, &everywhere, 1);
    g_assert_cmpuint(get_u64(snap, "total-bytes"), ==, boot_total);
    qobject_unref(info);
    info = damon_query_one(qts, "all");
    g_assert_cmpuint(get_u64(info, "monitored-bytes"), ==,
                     boot_total + PC_DIMM_SIZE);
    qtest_clock_step(qts, AGGR_NS);
    g_assert_cmpuint(regions_total(qts, "all"), ==,
                     boot_total + PC_DIMM_SIZE);
    g_assert_cmpuint(regions_overlap(qts, "all", &d.range), ==,
                     PC_DIMM_SIZE);
    damon_start_virtual(qts, "dimm", source, &d.range, 1);

    /* accesses to the DIMM are seen */
    hot.start = d.range.start + 32 * MiB;
    hot.end = hot.start + 4 * MiB;
    run_hot(qts, &hot, 1, SETTLE_NS, checks, ARRAY_SIZE(checks));
    assert_not_ram_unmonitored(qts, "all");

    /*
     * unplug while the range is hot.  Until the next update the monitors
     * still sample the old range, which is no RAM any more and must read
     * as not accessed, whatever the writes to it do.
     */
    unplug_dimm(qts, "m1", "d1", &d);
    write_hot(qts, &hot, 1, 2 * AGGR_NS);
    qtest_clock_step(qts, UPDATE_NS + 2 * AGGR_NS);
    g_assert_cmpuint(regions_total(qts, "all"), ==, boot_total);
    g_assert_cmpuint(regions_overlap(qts, "all", &d.range), ==, 0);
    assert_hot(qts, "all", &hot, 0, &everywhere, 1);
    qobject_unref(snap);
    snap = damon_regions(qts, "dimm");
    g_assert_cmpuint(get_u64(snap, "total-bytes"), ==, 0);
    g_assert(qlist_empty(qdict_get_qlist(snap, "regions")));
    qobject_unref(info);
    info = damon_query_one(qts, "dimm");
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "running");

    /* a new DIMM in the same place is monitored again */
    plug_dimm(qts, "m2", "d2");
    d2 = query_dimm(qts, "d2");
    g_assert_cmpuint(d2.range.start, ==, d.range.start);
    qtest_clock_step(qts, UPDATE_NS + 2 * AGGR_NS);
    g_assert_cmpuint(regions_total(qts, "dimm"), ==, PC_DIMM_SIZE);
    g_assert_cmpuint(regions_total(qts, "all"), ==,
                     boot_total + PC_DIMM_SIZE);
    run_hot(qts, &hot, 1, SETTLE_NS, checks, ARRAY_SIZE(checks));

    damon_stop_wait(qts, "all");
    damon_stop_wait(qts, "dimm");
    unplug_dimm(qts, "m2", "d2", &d2);
    qtest_quit(qts);
}

/* ---- 7. the idle-age histogram ---- */

/* How long everything stays idle before A and B are first written */
#define IDLE_LEAD_NS        (120 * 1000 * 1000 * 1000LL)
/* How long A and B are written together, then B alone */
#define IDLE_BOTH_NS        (1000 * 1000 * 1000LL)
#define IDLE_B_ONLY_NS      (15 * 1000 * 1000 * 1000LL)
#define IDLE_NR_BOUNDS      3

static const uint64_t idle_bounds_ms[IDLE_NR_BOUNDS] = { 1000, 10000, 60000 };

/* The bin an idle region of age @age_ms falls in, as the command says */
static size_t idle_bin_of(uint64_t age_ms)
{
    size_t b = 0;

    while (b < IDLE_NR_BOUNDS && age_ms > idle_bounds_ms[b]) {
        b++;
    }
    return b;
}

/*
 * query-damon-idle against a guest whose ranges were last touched at
 * known virtual times: after IDLE_LEAD_NS of nothing, A and B are
 * written for IDLE_BOTH_NS, then only B for IDLE_B_ONLY_NS; C never.
 * So at the end B is accessed, A idle for about IDLE_B_ONLY_NS (15 s:
 * the (10 s, 60 s] bin) and C idle for as long as the monitor ran
 * (about 136 s: the open bin).  The three ranges are monitored as
 * three ranges with gaps between them, and the engine only merges
 * address-adjacent regions, so no region ever holds parts of two of
 * them and no region's age is an average of two ranges' ages: the
 * bytes must match exactly.  The age of a range is one aggregation
 * (100 ms) off at most, far from every bound.  The histogram must
 * also be exactly what the same snapshot's query-damon-regions gives.
 */
static void test_idle_age(const void *opaque)
{
    const char *source = opaque;
    const GpaRange a = { 8 * MiB, 12 * MiB }, b = { 16 * MiB, 20 * MiB },
        c = { 24 * MiB, 28 * MiB };
    const GpaRange ranges[] = { a, b, c }, both[] = { a, b };
    QTestState *qts = qtest_init(NONE_ARGS);
    g_autoptr(QDict) idle = NULL;
    g_autoptr(QDict) snap = NULL;
    g_autoptr(QDict) dflt = NULL;
    uint64_t want[IDLE_NR_BOUNDS + 1] = { 0 };
    uint64_t want_nr[IDLE_NR_BOUNDS + 1] = { 0 };
    uint64_t accessed = 0, total = 0, sum;
    g_autoptr(GString) many = g_string_new("{'id': 'idle', 'bins-ms': [1");
    const QListEntry *e;
    size_t i;

    damon_start_virtual(qts, "idle", source, ranges, ARRAY_SIZE(ranges));
    qtest_clock_step(qts, IDLE_LEAD_NS);
    write_hot(qts, both, ARRAY_SIZE(both), IDLE_BOTH_NS);
    write_hot(qts, &b, 1, IDLE_B_ONLY_NS);

    idle = qtest_qmp_assert_success_ref(qts, "{'execute': "
                                        "'query-damon-idle', 'arguments': "
                                        "{'id': 'idle', 'bins-ms': "
                                        "[1000, 10000, 60000]}}");
    snap = damon_regions(qts, "idle");
    check_snapshot(snap, ranges, ARRAY_SIZE(ranges));
    dump_regions(snap);

    /* what the regions of the same snapshot say */
    QLIST_FOREACH_ENTRY(qdict_get_qlist(snap, "regions"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t sz = get_u64(r, "end") - get_u64(r, "start");
        size_t bin = idle_bin_of(get_u64(r, "age-ms"));

        total += sz;
        if (get_u64(r, "nr-accesses")) {
            accessed += sz;
        } else {
            want[bin] += sz;
            want_nr[bin]++;
        }
    }
    g_assert_cmpstr(qdict_get_str(idle, "id"), ==, "idle");
    g_assert_cmpuint(get_u64(idle, "nr-aggregations"), ==,
                     get_u64(snap, "nr-aggregations"));
    g_assert_cmpuint(get_u64(idle, "total-bytes"), ==, total);
    g_assert_cmpuint(get_u64(idle, "accessed-bytes"), ==, accessed);
    i = 0;
    sum = get_u64(idle, "accessed-bytes");
    QLIST_FOREACH_ENTRY(qdict_get_qlist(idle, "bins"), e) {
        QDict *bin = qobject_to(QDict, qlist_entry_obj(e));

        g_assert_cmpuint(i, <=, IDLE_NR_BOUNDS);
        g_test_message("bin %zu (max-age-ms %" PRIu64 ", 0: open): %"
                       PRIu64 " bytes in %" PRIu64 " regions", i,
                       qdict_haskey(bin, "max-age-ms") ?
                       get_u64(bin, "max-age-ms") : 0,
                       get_u64(bin, "bytes"), get_u64(bin, "nr-regions"));
        if (i < IDLE_NR_BOUNDS) {
            g_assert_cmpuint(get_u64(bin, "max-age-ms"), ==,
                             idle_bounds_ms[i]);
        } else {
            g_assert(!qdict_haskey(bin, "max-age-ms"));
        }
        g_assert_cmpuint(get_u64(bin, "bytes"), ==, want[i]);
        g_assert_cmpuint(get_u64(bin, "nr-regions"), ==, want_nr[i]);
        sum += get_u64(bin, "bytes");
        i++;
    }
    g_assert_cmpuint(i, ==, IDLE_NR_BOUNDS + 1);
    g_assert_cmpuint(sum, ==, get_u64(idle, "total-bytes"));

    /* and what the guest did: B accessed, A 15 s idle, C since start */
    g_assert_cmpuint(total, ==, 3 * gpa_range_size(&a));
    g_assert_cmpuint(accessed, ==, gpa_range_size(&b));
    g_assert_cmpuint(want[0], ==, 0);
    g_assert_cmpuint(want[1], ==, 0);
    g_assert_cmpuint(want[2], ==, gpa_range_size(&a));
    g_assert_cmpuint(want[3], ==, gpa_range_size(&c));

    /* the default bins: 1 s, 10 s, 60 s, 300 s and older */
    dflt = qtest_qmp_assert_success_ref(qts, "{'execute': "
                                        "'query-damon-idle', 'arguments': "
                                        "{'id': 'idle'}}");
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dflt, "bins")), ==, 5);
    g_assert_cmpuint(get_u64(dflt, "accessed-bytes"), ==, accessed);

    /* bad bins, each named in the error */
    assert_rejected(qts, "query-damon-idle",
                    "{'id': 'idle', 'bins-ms': [1000, 1000]}",
                    "'bins-ms' must be strictly increasing");
    assert_rejected(qts, "query-damon-idle",
                    "{'id': 'idle', 'bins-ms': [5000, 1000]}",
                    "'bins-ms' must be strictly increasing");
    assert_rejected(qts, "query-damon-idle",
                    "{'id': 'idle', 'bins-ms': []}",
                    "'bins-ms' must have 1 to 32 entries (got 0)");
    assert_rejected(qts, "query-damon-idle",
                    "{'id': 'idle', 'bins-ms': [0, 10]}",
                    "'bins-ms[0]' must be 1 to 4294967296");
    assert_rejected(qts, "query-damon-idle",
                    "{'id': 'idle', 'bins-ms': [1, 4294967297]}",
                    "'bins-ms[1]' must be 1 to 4294967296");
    assert_rejected(qts, "query-damon-idle", "{'id': 'nosuch'}", "nosuch");
    for (i = 2; i <= 33; i++) {
        g_string_append_printf(many, ", %zu", i);
    }
    g_string_append(many, "]}");
    assert_rejected(qts, "query-damon-idle", many->str,
                    "'bins-ms' must have 1 to 32 entries (got 33)");

    damon_stop_wait(qts, "idle");
    qtest_quit(qts);
}

/* ---- intervals auto-tuning ---- */

/* The intervals tuner's part of query-damon for @id; the caller unrefs. */
static QDict *intervals_tuning(QTestState *qts, const char *id,
                               uint64_t *nr_aggrs, uint64_t *nr_samples)
{
    g_autoptr(QDict) info = damon_query_one(qts, id);
    QDict *it = qdict_get_qdict(info, "intervals-tuning");

    g_assert(it);
    if (nr_aggrs) {
        *nr_aggrs = get_u64(info, "nr-aggregations");
    }
    if (nr_samples) {
        *nr_samples = get_u64(info, "nr-samples");
    }
    qobject_ref(it);
    return it;
}

/*
 * Step the virtual clock a sample interval of the test at a time,
 * writing @hot (when not NULL) each time, until monitor @id has done one
 * more aggregation; return its intervals tuning after it.
 */
static QDict *step_one_aggregation(QTestState *qts, const char *id,
                                   const GpaRange *hot)
{
    uint64_t start, now;
    unsigned int steps = 0;

    qobject_unref(intervals_tuning(qts, id, &start, NULL));
    do {
        if (hot) {
            write_hot(qts, hot, 1, SAMPLE_NS);
        } else {
            qtest_clock_step(qts, SAMPLE_NS);
        }
        /* the longest aggregation the goal allows is 20 * 80 ms */
        g_assert_cmpuint(++steps, <=, 2 * 20 * 80000 / SAMPLE_US);
        qobject_unref(intervals_tuning(qts, id, &now, NULL));
    } while (now == start);
    return intervals_tuning(qts, id, NULL, NULL);
}

/* Samples per virtual second of monitor @id over the next @ns. */
static double samples_per_s(QTestState *qts, const char *id, int64_t ns,
                            uint64_t *cpu_ns)
{
    uint64_t s0, s1, c0;
    g_autoptr(QDict) i0 = damon_query_one(qts, id);
    g_autoptr(QDict) i1 = NULL;

    s0 = get_u64(i0, "nr-samples");
    c0 = get_u64(i0, "cpu-ns");
    qtest_clock_step(qts, ns);
    i1 = damon_query_one(qts, id);
    s1 = get_u64(i1, "nr-samples");
    *cpu_ns = get_u64(i1, "cpu-ns") - c0;
    return (s1 - s0) * 1e9 / ns;
}

/*
 * An idle guest: nothing writes the monitored range, every round scores
 * 0 and the sampling interval doubles up to max-sample-us, so samples
 * per second fall.  Then the guest writes a quarter of it in every
 * sample interval, six times the goal: the interval halves each round
 * back to min-sample-us within a few aggregations.  The aggregation
 * interval keeps its 20 samples throughout.
 */
static void test_intervals_goal(const void *opaque)
{
    const char *source = opaque;
    const GpaRange mon = { 16 * MiB, 24 * MiB };
    const GpaRange hot = { 16 * MiB, 18 * MiB };
    QTestState *qts = qtest_init(NONE_ARGS);
    g_autoptr(QDict) it = NULL;
    g_autoptr(QDict) info = NULL;
    g_autofree char *args = NULL;
    g_autofree char *err = NULL;
    g_autofree char *hmp = NULL;
    uint64_t prev = SAMPLE_US, sample, cpu_fast, cpu_slow;
    double rate_fast, rate_slow;
    unsigned int rounds;

    err = damon_error(qts, "damon-start", "{'clock': 'virtual', "
                      "'intervals-goal': {'access-bp': 0, 'aggrs': 1}}");
    g_assert(strstr(err, "'intervals-goal.access-bp' must be 1 to 10000"));
    g_free(err);
    err = damon_error(qts, "damon-start", "{'clock': 'virtual', "
                      "'intervals-goal': {'access-bp': 400, 'aggrs': 1, "
                      "'min-sample-us': 5000, 'max-sample-us': 4000}}");
    g_assert(strstr(err, "'intervals-goal.max-sample-us' must be 5000 to"));
    g_free(err);
    err = damon_error(qts, "damon-start", "{'clock': 'virtual', "
                      "'intervals-goal': {'access-bp': 400, 'aggrs': 1, "
                      "'max-cpu-permille': 0}}");
    g_assert(strstr(err, "'intervals-goal.max-cpu-permille' must be 1 to "
                    "1000 (got 0)"));

    args = g_strdup_printf("{'id': 'tune', 'source': '%s', "
                           "'clock': 'virtual', 'sample-us': %d, "
                           "'aggr-us': %d, 'regions': [{'start': %" PRIu64
                           ", 'end': %" PRIu64 "}], 'intervals-goal': "
                           "{'access-bp': 400, 'aggrs': 1, "
                           "'min-sample-us': %d, 'max-sample-us': 80000, "
                           "'max-cpu-permille': 1000}}",
                           source, SAMPLE_US, AGGR_US, mon.start, mon.end,
                           SAMPLE_US);
    damon_start(qts, args);
    it = intervals_tuning(qts, "tune", NULL, NULL);
    g_assert_cmpuint(get_u64(it, "sample-us"), ==, SAMPLE_US);
    g_assert_cmpuint(get_u64(it, "nr-tunes"), ==, 0);
    g_assert(!qdict_haskey(it, "limited-by"));
    g_assert_cmpuint(get_u64(qdict_get_qdict(it, "goal"), "max-cpu-permille"),
                     ==, 1000);
    rate_fast = samples_per_s(qts, "tune", AGGR_NS, &cpu_fast);

    /* idle: it only grows, and reaches the maximum */
    for (rounds = 1; prev < 80000; rounds++) {
        qobject_unref(it);
        it = step_one_aggregation(qts, "tune", NULL);
        sample = get_u64(it, "sample-us");
        g_test_message("idle round %u: sample %" PRIu64 " us, aggr %"
                       PRIu64 " us, score %" PRIu64 " bp, by %s, "
                       "%" PRIu64 " ns per sample", rounds, sample,
                       get_u64(it, "aggr-us"), get_u64(it, "last-score-bp"),
                       qdict_get_str(it, "limited-by"),
                       get_u64(it, "sample-cost-ns"));
        g_assert_cmpuint(sample, >, prev);
        g_assert_cmpuint(sample, <=, 80000);
        g_assert_cmpuint(get_u64(it, "aggr-us"), ==, sample * 20);
        g_assert_cmpuint(get_u64(it, "last-score-bp"), ==, 0);
        g_assert_cmpuint(rounds, <=, 6);
        prev = sample;
    }
    /* one more: held at the maximum, and that is why */
    qobject_unref(it);
    it = step_one_aggregation(qts, "tune", NULL);
    g_assert_cmpuint(get_u64(it, "sample-us"), ==, 80000);
    g_assert_cmpstr(qdict_get_str(it, "limited-by"), ==, "max-sample-us");
    g_assert_cmpuint(get_u64(it, "sample-cost-ns"), >, 0);
    g_assert(qdict_haskey(it, "budget-min-sample-us"));
    rate_slow = samples_per_s(qts, "tune", 20 * AGGR_NS, &cpu_slow);
    g_test_message("idle: %.1f samples/s at %d us, %.1f at 80000 us; "
                   "monitor cpu %" PRIu64 " ns per 0.1 s, then %" PRIu64,
                   rate_fast, SAMPLE_US, rate_slow, cpu_fast, cpu_slow / 20);
    g_assert_cmpfloat(rate_slow * 8, <=, rate_fast);
    /* the configured attributes are what damon-start gave */
    info = damon_query_one(qts, "tune");
    g_assert_cmpuint(get_u64(qdict_get_qdict(info, "attrs"), "sample-us"),
                     ==, SAMPLE_US);
    hmp = qtest_hmp(qts, "info damon");
    g_assert(strstr(hmp, "tuned to sample 80000 us, aggr 1600000 us"));

    /* awake: it only shrinks, back to the minimum in a few rounds */
    for (rounds = 1; prev > SAMPLE_US; rounds++) {
        qobject_unref(it);
        it = step_one_aggregation(qts, "tune", &hot);
        sample = get_u64(it, "sample-us");
        g_test_message("busy round %u: sample %" PRIu64 " us, score %"
                       PRIu64 " bp, by %s", rounds, sample,
                       get_u64(it, "last-score-bp"),
                       qdict_get_str(it, "limited-by"));
        g_assert_cmpuint(sample, <, prev);
        g_assert_cmpuint(sample, >=, SAMPLE_US);
        g_assert_cmpuint(get_u64(it, "aggr-us"), ==, sample * 20);
        g_assert_cmpuint(get_u64(it, "last-score-bp"), >, 10000);
        g_assert_cmpuint(rounds, <=, 6);
        prev = sample;
    }

    /* aggrs 0 turns it off, at the intervals damon-start gave */
    damon_tune(qts, "{'id': 'tune', 'intervals-goal': "
               "{'access-bp': 400, 'aggrs': 0}}");
    qobject_unref(info);
    info = damon_query_one(qts, "tune");
    g_assert(!qdict_haskey(info, "intervals-tuning"));
    rate_fast = samples_per_s(qts, "tune", 10 * AGGR_NS, &cpu_fast);
    g_test_message("tuning off: %.1f samples/s", rate_fast);
    g_assert_cmpfloat(rate_fast, >=, 190.0);
    g_assert_cmpfloat(rate_fast, <=, 210.0);
    damon_stop_wait(qts, "tune");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    static const char *const sources[] = { "dirty-bitmap", "page-hash" };
    static const TwoMonitors pairs[] = {
        { "page-hash", "dirty-bitmap" },
        { "dirty-bitmap", "page-hash" },
        { "dirty-bitmap", "dirty-bitmap" },
    };
    size_t i;

    g_test_init(&argc, &argv, NULL);

    for (i = 0; i < ARRAY_SIZE(sources); i++) {
        g_autofree char *hot = g_strdup_printf("/damon/hot-range/%s",
                                               sources[i]);
        g_autofree char *rt = g_strdup_printf("/damon/hot-range-realtime/%s",
                                              sources[i]);
        g_autofree char *moving = g_strdup_printf("/damon/moving-hot/%s",
                                                  sources[i]);

        qtest_add_data_func(hot, sources[i], test_hot_range);
        qtest_add_data_func(rt, sources[i], test_hot_range_realtime);
        qtest_add_data_func(moving, sources[i], test_moving_hot);
    }
    for (i = 0; i < ARRAY_SIZE(pairs); i++) {
        g_autofree char *path = g_strdup_printf("/damon/two-monitors/%s+%s",
                                                pairs[i].whole_source,
                                                pairs[i].part_source);

        qtest_add_data_func(path, &pairs[i], test_two_monitors);
    }
    qtest_add_data_func("/damon/start-stop-tune/virtual", "virtual",
                        test_start_stop_tune);
    qtest_add_data_func("/damon/start-stop-tune/realtime", "realtime",
                        test_start_stop_tune);
    qtest_add_func("/damon/bad-args/none", test_bad_args);
    qtest_add_func("/damon/split-mode", test_split_mode);
    qtest_add_func("/damon/sees", test_sees);
    qtest_add_func("/damon/hmp", test_hmp);
    qtest_add_func("/damon/write-source/pairs", test_write_source);
    qtest_add_func("/damon/quit/signal", test_quit_signal);
    qtest_add_func("/damon/quit/qmp", test_quit_qmp);
    qtest_add_data_func("/damon/intervals-goal/dirty-bitmap", "dirty-bitmap",
                        test_intervals_goal);
    for (i = 0; i < ARRAY_SIZE(sources); i++) {
        g_autofree char *path = g_strdup_printf("/damon/sparse-rss/%s",
                                                sources[i]);

        qtest_add_data_func(path, sources[i], test_sparse_rss);
    }
    for (i = 0; i < ARRAY_SIZE(sources); i++) {
        g_autofree char *path = g_strdup_printf("/damon/idle-age/%s",
                                                sources[i]);

        qtest_add_data_func(path, sources[i], test_idle_age);
    }
    if (qtest_has_machine("pc") && qtest_has_device("pc-dimm")) {
        qtest_add_func("/damon/bad-args/pc-ranges", test_bad_ranges_pc);
        for (i = 0; i < ARRAY_SIZE(sources); i++) {
            g_autofree char *path = g_strdup_printf("/damon/hotplug/%s",
                                                    sources[i]);

            qtest_add_data_func(path, sources[i], test_hotplug);
        }
    }
    return g_test_run();
}
