/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QTest for qdamon's DAMON-based operation schemes (QMP schema:
 * qmp/damon.json, "DAMON-based operation schemes").
 *
 * As in damon-test.c, the monitors run on the virtual clock, which
 * only clock_step moves under qtest, so every sample, aggregation and
 * scheme apply happens at a known step.  Region boundaries are random
 * (a fresh seed per monitor), so the expected bytes are ones that do
 * not depend on them: all of RAM, a quota, an address filter, or the
 * regions of the snapshot taken at the same aggregation.
 *
 * The machine is "-machine none -m 64M": one memory backend at GPA 0.
 * The "guest" is qtest: its writes are what dirty-bitmap sees.
 */
#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"

#define RAM                 (64 * MiB)
#define ARGS                "-machine none -cpu qemu64,apic-id=0 -m 64M"
#define SAMPLE_NS           (5 * 1000 * 1000LL)
#define SAMPLES_PER_AGGR    20
#define AGGR_NS             (SAMPLE_NS * SAMPLES_PER_AGGR)
/* what every monitor here starts with; the schemes come after */
#define START               "'clock': 'virtual', 'source': 'dirty-bitmap', " \
                            "'sample-us': 5000, 'aggr-us': 100000"
#define HOT_START           (16 * MiB)
#define HOT_END             (24 * MiB)
#define FREE_RATE_ENV       "QDAMON_TEST_FREE_MEM_RATE_FILE"

static uint8_t hot_byte;

static QTestState *start_vm(void)
{
    return qtest_init(ARGS);
}

/* damon-start with START and @schemes (a JSON list, single quotes). */
static void start_schemes(QTestState *qts, const char *schemes)
{
    g_autofree char *args = g_strdup_printf("{" START ", 'schemes': %s}",
                                            schemes);

    qtest_qmp_assert_success(qts, "{'execute': 'damon-start', "
                             "'arguments': %p}",
                             qobject_from_json(args, &error_abort));
}

/* The error damon-start gives for @schemes. */
static char *start_error(QTestState *qts, const char *schemes)
{
    g_autofree char *args = g_strdup_printf("{" START ", 'schemes': %s}",
                                            schemes);
    g_autoptr(QDict) err = qtest_qmp_assert_failure_ref(
        qts, "{'execute': 'damon-start', 'arguments': %p}",
        qobject_from_json(args, &error_abort));

    return g_strdup(qdict_get_str(err, "desc"));
}

/* Write the hot range once per sample for @n aggregations. */
static void run_aggrs(QTestState *qts, int n, bool write_hot)
{
    int i;

    for (i = 0; i < n * SAMPLES_PER_AGGR; i++) {
        if (write_hot) {
            hot_byte = hot_byte % 255 + 1;
            qtest_memset(qts, HOT_START, hot_byte, HOT_END - HOT_START);
        }
        qtest_clock_step(qts, SAMPLE_NS);
    }
}

/* query-damon-schemes' scheme @index (a new reference). */
static QDict *scheme_info(QTestState *qts, int index)
{
    g_autoptr(QDict) r = qtest_qmp_assert_success_ref(
        qts, "{'execute': 'query-damon-schemes', "
        "'arguments': {'id': 'damon0'}}");
    QList *l = qdict_get_qlist(r, "schemes");
    QListEntry *e;
    int i = 0;

    QLIST_FOREACH_ENTRY(l, e) {
        if (i++ == index) {
            QDict *d = qobject_to(QDict, qlist_entry_obj(e));

            qobject_ref(d);
            return d;
        }
    }
    g_assert_not_reached();
}

static uint64_t u64_of(QDict *d, const char *key)
{
    QNum *n = qobject_to(QNum, qdict_get(d, key));
    uint64_t v;

    g_assert(n);
    g_assert(qnum_get_try_uint(n, &v));
    return v;
}

static uint64_t stat_of(QTestState *qts, int index, const char *key)
{
    g_autoptr(QDict) i = scheme_info(qts, index);

    return u64_of(qdict_get_qdict(i, "stats"), key);
}

/* Bytes @index skipped for @reason (0 when not listed). */
static uint64_t skipped_of(QTestState *qts, int index, const char *reason)
{
    g_autoptr(QDict) i = scheme_info(qts, index);
    QListEntry *e;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(i, "skipped"), e) {
        QDict *s = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(s, "reason"), reason)) {
            return u64_of(s, "bytes");
        }
    }
    return 0;
}

/* Bytes of the last snapshot's regions with nr-accesses in [lo, hi]. */
static uint64_t snapshot_bytes(QTestState *qts, uint64_t lo, uint64_t hi)
{
    g_autoptr(QDict) r = qtest_qmp_assert_success_ref(
        qts, "{'execute': 'query-damon-regions', "
        "'arguments': {'id': 'damon0'}}");
    QListEntry *e;
    uint64_t sum = 0;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(r, "regions"), e) {
        QDict *reg = qobject_to(QDict, qlist_entry_obj(e));
        uint64_t nr = u64_of(reg, "nr-accesses");

        if (nr >= lo && nr <= hi) {
            sum += u64_of(reg, "end") - u64_of(reg, "start");
        }
    }
    return sum;
}

/* ---- patterns ---- */

/* stat on everything tries all of RAM at every aggregation. */
static void test_pattern_all(void)
{
    QTestState *qts = start_vm();

    start_schemes(qts, "[{'action': 'stat'}]");
    run_aggrs(qts, 5, false);
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), ==, 5 * RAM);
    g_assert_cmpuint(stat_of(qts, 0, "sz-applied"), ==, 0);
    g_assert_cmpuint(stat_of(qts, 0, "qt-exceeds"), ==, 0);
    qtest_quit(qts);
}

/*
 * nr-accesses-min 10: at each aggregation the scheme tries exactly the
 * regions that the snapshot of that aggregation shows at 10 or more,
 * and the complementary scheme (max 9) the rest.
 */
static void test_pattern_hot(void)
{
    QTestState *qts = start_vm();
    uint64_t hot_total = 0;
    int i;

    start_schemes(qts, "[{'action': 'stat', 'access-pattern': "
                  "{'nr-accesses-min': 10}}, {'action': 'stat', "
                  "'access-pattern': {'nr-accesses-max': 9}}]");
    run_aggrs(qts, 20, true);
    for (i = 0; i < 5; i++) {
        uint64_t hot0 = stat_of(qts, 0, "sz-tried");
        uint64_t cold0 = stat_of(qts, 1, "sz-tried");
        uint64_t hot, cold;

        run_aggrs(qts, 1, true);
        hot = snapshot_bytes(qts, 10, SAMPLES_PER_AGGR);
        cold = snapshot_bytes(qts, 0, 9);
        g_assert_cmpuint(stat_of(qts, 0, "sz-tried") - hot0, ==, hot);
        g_assert_cmpuint(stat_of(qts, 1, "sz-tried") - cold0, ==, cold);
        g_assert_cmpuint(hot + cold, ==, RAM);
        hot_total += hot;
    }
    /*
     * the hot range was found (how much of it is in regions at 10 or
     * more at one aggregation depends on the random split points, which
     * the exact checks above do not)
     */
    g_assert_cmpuint(hot_total, >, 0);
    qtest_quit(qts);
}

/* age-min 15: nothing is old enough before the 15th aggregation. */
static void test_pattern_age(void)
{
    QTestState *qts = start_vm();

    start_schemes(qts, "[{'action': 'stat', 'access-pattern': "
                  "{'age-min': 15}}]");
    run_aggrs(qts, 14, false);
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), ==, 0);
    run_aggrs(qts, 3, false);
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), >, 0);
    qtest_quit(qts);
}

/* ---- quotas ---- */

/*
 * 4 MiB per 100 ms window, one apply per window: exactly 4 MiB each,
 * and every window ends with the quota spent.
 */
static void test_quota_bytes(void)
{
    QTestState *qts = start_vm();
    g_autoptr(QDict) info = NULL;
    uint64_t last = 0;
    int i;

    start_schemes(qts, "[{'action': 'stat', 'quotas': {'bytes': 4194304, "
                  "'reset-interval-ms': 100}}]");
    for (i = 1; i <= 8; i++) {
        uint64_t now;

        run_aggrs(qts, 1, false);
        now = stat_of(qts, 0, "sz-tried");
        g_assert_cmpuint(now - last, ==, 4 * MiB);
        last = now;
    }
    info = scheme_info(qts, 0);
    g_assert_cmpuint(u64_of(info, "effective-quota-bytes"), ==, 4 * MiB);
    /* the first window is counted when the second starts */
    g_assert_cmpuint(stat_of(qts, 0, "qt-exceeds"), >=, 7);
    qtest_quit(qts);
}

/*
 * A user-input goal steers the quota: while its value is under the
 * target the quota grows; once far over it (a damon-tune that keeps
 * the scheme, and so its quota state) it drops.
 */
static void test_quota_goal(void)
{
    QTestState *qts = start_vm();
    const char *fmt = "[{'action': 'stat', 'quotas': {'bytes': 67108864, "
        "'reset-interval-ms': 100, 'goals': [{'metric': 'user-input', "
        "'target-value': 100, 'current-value': %d}]}}]";
    g_autofree char *low = g_strdup_printf(fmt, 10);
    g_autofree char *high = g_strdup_printf(fmt, 1000);
    g_autofree char *tune = NULL;
    uint64_t q1, q2, q3;
    g_autoptr(QDict) i1 = NULL, i2 = NULL, i3 = NULL;

    start_schemes(qts, low);
    run_aggrs(qts, 3, false);
    i1 = scheme_info(qts, 0);
    q1 = u64_of(i1, "effective-quota-bytes");
    run_aggrs(qts, 3, false);
    i2 = scheme_info(qts, 0);
    q2 = u64_of(i2, "effective-quota-bytes");
    g_assert_cmpuint(q2, >, q1);
    tune = g_strdup_printf("{'schemes': %s}", high);
    qtest_qmp_assert_success(qts, "{'execute': 'damon-tune', "
                             "'arguments': %p}",
                             qobject_from_json(tune, &error_abort));
    run_aggrs(qts, 2, false);
    i3 = scheme_info(qts, 0);
    q3 = u64_of(i3, "effective-quota-bytes");
    g_assert_cmpuint(q3, <, q2);
    qtest_quit(qts);
}

/* rss-bytes reports the guest RAM resident in host memory. */
static void test_goal_rss(void)
{
    QTestState *qts = start_vm();
    g_autoptr(QDict) info = NULL;
    QDict *goal;
    uint64_t rss;

    start_schemes(qts, "[{'action': 'stat', 'quotas': {"
                  "'reset-interval-ms': 100, 'goals': [{'metric': "
                  "'rss-bytes', 'target-value': 4096}]}}]");
    run_aggrs(qts, 3, true);
    info = scheme_info(qts, 0);
    goal = qobject_to(QDict, qlist_peek(qdict_get_qlist(
        qdict_get_qdict(qdict_get_qdict(info, "scheme"), "quotas"),
        "goals")));
    rss = u64_of(goal, "current-value");
    /* what qtest wrote is resident, and nothing beyond guest RAM */
    g_assert_cmpuint(rss, >=, HOT_END - HOT_START);
    g_assert_cmpuint(rss, <=, RAM);
    qtest_quit(qts);
}

/* ---- filters ---- */

static void test_filter_addr(void)
{
    QTestState *qts = start_vm();

    start_schemes(qts, "[{'action': 'stat', 'filters': [{'type': 'addr', "
                  "'start': 0, 'end': 16777216, 'allow': true}]}, "
                  "{'action': 'stat', 'filters': [{'type': 'addr', "
                  "'start': 0, 'end': 16777216}]}]");
    run_aggrs(qts, 4, false);
    /* allow [0, 16M) only; reject it, so the other 48 MiB */
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), ==, 4 * 16 * MiB);
    g_assert_cmpuint(stat_of(qts, 1, "sz-tried"), ==, 4 * 48 * MiB);
    qtest_quit(qts);
}

/*
 * young rejects what was found accessed in the latest sample: the hot
 * regions.  It acts after the quota charge, so sz-tried is all of RAM
 * and the young bytes are counted as skipped.
 */
static void test_filter_young(void)
{
    QTestState *qts = start_vm();
    uint64_t y0, y1, hot, warm;

    start_schemes(qts, "[{'action': 'cold', 'filters': [{'type': "
                  "'young'}]}]");
    run_aggrs(qts, 10, true);
    y0 = skipped_of(qts, 0, "young");
    run_aggrs(qts, 1, true);
    y1 = skipped_of(qts, 0, "young");
    hot = snapshot_bytes(qts, 20, 20);
    warm = snapshot_bytes(qts, 1, 20);
    g_assert_cmpuint(y1 - y0, >=, hot);
    g_assert_cmpuint(y1 - y0, <=, warm);
    /* the hot range, written in every sample, was young all along */
    g_assert_cmpuint(y1, >=, HOT_END - HOT_START);
    qtest_quit(qts);
}

/* ---- watermarks ---- */

static void set_free_rate(const char *path, int permil)
{
    g_autofree char *v = g_strdup_printf("%d\n", permil);

    g_assert(g_file_set_contents(path, v, -1, NULL));
}

static bool scheme_active(QTestState *qts)
{
    g_autoptr(QDict) i = scheme_info(qts, 0);

    return qdict_get_bool(i, "active");
}

/*
 * The free memory rate comes from a file the test writes: above high
 * the scheme is off and tries nothing; between low and mid it is on;
 * below low off again.  Checked every 100 ms of virtual time.
 */
static void test_watermarks(void)
{
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "qdamon-free-rate-XXXXXX",
                                             NULL);
    int fd = g_mkstemp(path);
    QTestState *qts;
    uint64_t t;

    g_assert(fd >= 0);
    close(fd);
    set_free_rate(path, 900);
    g_setenv(FREE_RATE_ENV, path, true);
    qts = start_vm();
    g_unsetenv(FREE_RATE_ENV);
    start_schemes(qts, "[{'action': 'stat', 'watermarks': {'metric': "
                  "'free-mem-rate', 'interval-us': 100000, 'high': 500, "
                  "'mid': 400, 'low': 100}}]");
    run_aggrs(qts, 3, false);
    g_assert_false(scheme_active(qts));
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), ==, 0);

    set_free_rate(path, 300);
    run_aggrs(qts, 3, false);
    g_assert_true(scheme_active(qts));
    t = stat_of(qts, 0, "sz-tried");
    g_assert_cmpuint(t, >, 0);
    g_assert_cmpuint(t % RAM, ==, 0);

    set_free_rate(path, 50);
    run_aggrs(qts, 2, false);
    g_assert_false(scheme_active(qts));
    t = stat_of(qts, 0, "sz-tried");
    run_aggrs(qts, 3, false);
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), ==, t);
    qtest_quit(qts);
    unlink(path);
}

/* ---- actions on guest RAM ---- */

/* A byte per address that a page swap or move would give away. */
static uint8_t pattern_at(uint64_t a)
{
    return (uint8_t)((a >> 12) * 31 + (a & 0xfff) * 7 + 1);
}

static void fill_pattern(QTestState *qts, uint64_t start, uint64_t end)
{
    g_autofree uint8_t *buf = g_malloc(MiB);
    uint64_t a, i;

    for (a = start; a < end; a += MiB) {
        for (i = 0; i < MiB; i++) {
            buf[i] = pattern_at(a + i);
        }
        qtest_memwrite(qts, a, buf, MiB);
    }
}

static void check_pattern(QTestState *qts, uint64_t start, uint64_t end)
{
    g_autofree uint8_t *buf = g_malloc(MiB);
    uint64_t a, i;

    for (a = start; a < end; a += MiB) {
        qtest_memread(qts, a, buf, MiB);
        for (i = 0; i < MiB; i++) {
            if (buf[i] != pattern_at(a + i)) {
                g_test_message("guest byte 0x%" PRIx64 " is 0x%02x, was "
                               "written 0x%02x", a + i, buf[i],
                               pattern_at(a + i));
                g_assert_not_reached();
            }
        }
    }
}

/*
 * Every action, applied to all of RAM again and again, leaves every
 * byte the guest wrote as it was; cold and willneed are applied to all
 * that was tried, hugepage to its 2 MiB-aligned part (the rest counted
 * as unaligned), migrate-cold to node 0 to the resident pages.
 */
static void test_actions_keep_data(void)
{
    QTestState *qts = start_vm();
    const char *actions[] = { "pageout", "cold", "willneed", "hugepage",
                              "nohugepage" };
    uint64_t tried, applied;
    int i;

    fill_pattern(qts, 0, RAM);
    start_schemes(qts, "[{'action': 'pageout'}, {'action': 'cold'}, "
                  "{'action': 'willneed'}, {'action': 'hugepage'}, "
                  "{'action': 'nohugepage'}, {'action': 'migrate-cold', "
                  "'target-nid': 0}]");
    run_aggrs(qts, 6, true);
    fill_pattern(qts, HOT_START, HOT_END);
    check_pattern(qts, 0, RAM);
    for (i = 0; i < G_N_ELEMENTS(actions); i++) {
        tried = stat_of(qts, i, "sz-tried");
        applied = stat_of(qts, i, "sz-applied");
        g_test_message("%s: tried %" PRIu64 ", applied %" PRIu64,
                       actions[i], tried, applied);
        g_assert_cmpuint(tried, ==, 6 * RAM);
        g_assert_cmpuint(applied, <=, tried);
    }
    g_assert_cmpuint(stat_of(qts, 1, "sz-applied"), ==, 6 * RAM);
    g_assert_cmpuint(stat_of(qts, 2, "sz-applied"), ==, 6 * RAM);
    g_assert_cmpuint(stat_of(qts, 3, "sz-applied") +
                     skipped_of(qts, 3, "unaligned"), ==, 6 * RAM);
    /* all of RAM was written, so all of it is resident on node 0 */
    g_assert_cmpuint(stat_of(qts, 5, "sz-applied"), ==, 6 * RAM);
    qtest_quit(qts);
}

/* ---- damon-tune and errors ---- */

/* A kept scheme keeps its stats; removed ones go; new ones start at 0. */
static void test_commit(void)
{
    QTestState *qts = start_vm();
    g_autoptr(QDict) r = NULL;
    uint64_t before;

    start_schemes(qts, "[{'action': 'stat'}, {'action': 'stat'}]");
    run_aggrs(qts, 2, false);
    before = stat_of(qts, 0, "sz-tried");
    g_assert_cmpuint(before, ==, 2 * RAM);
    qtest_qmp_assert_success(qts, "{'execute': 'damon-tune', 'arguments': "
                             "{'schemes': [{'action': 'cold'}]}}");
    r = qtest_qmp_assert_success_ref(qts, "{'execute': "
                                     "'query-damon-schemes', "
                                     "'arguments': {'id': 'damon0'}}");
    g_assert_cmpuint(qlist_size(qdict_get_qlist(r, "schemes")), ==, 1);
    run_aggrs(qts, 1, false);
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), ==, 3 * RAM);
    g_assert_cmpuint(stat_of(qts, 0, "sz-applied"), ==, RAM);
    qtest_qmp_assert_success(qts, "{'execute': 'damon-tune', 'arguments': "
                             "{'schemes': []}}");
    qobject_unref(r);
    r = qtest_qmp_assert_success_ref(qts, "{'execute': "
                                     "'query-damon-schemes', "
                                     "'arguments': {'id': 'damon0'}}");
    g_assert_cmpuint(qlist_size(qdict_get_qlist(r, "schemes")), ==, 0);
    /* stopped: the last stats stay readable */
    qtest_qmp_assert_success(qts, "{'execute': 'damon-tune', 'arguments': "
                             "{'schemes': [{'action': 'stat'}]}}");
    run_aggrs(qts, 1, false);
    qtest_qmp_assert_success(qts, "{'execute': 'damon-stop'}");
    g_assert_cmpuint(stat_of(qts, 0, "sz-tried"), ==, RAM);
    qtest_quit(qts);
}

typedef struct BadScheme {
    const char *schemes;
    const char *needle;
} BadScheme;

static const BadScheme bad_schemes[] = {
    { "[{'action': 'stat', 'access-pattern': {'sz-min': 2, 'sz-max': 1}}]",
      "'schemes[0].access-pattern.sz-min'" },
    { "[{'action': 'stat', 'access-pattern': {'sz-min': 134217728}}]",
      "match no region" },
    { "[{'action': 'stat', 'access-pattern': {'nr-accesses-max': 21}}]",
      "'schemes[0].access-pattern.nr-accesses-max' must be 0 to 20" },
    { "[{'action': 'stat', 'access-pattern': {'nr-accesses-min': 5, "
      "'nr-accesses-max': 4}}]",
      "'schemes[0].access-pattern.nr-accesses-min' must be 0 to 4" },
    { "[{'action': 'stat', 'access-pattern': {'age-min': 5, "
      "'age-max': 4}}]", "'schemes[0].access-pattern.age-min'" },
    { "[{'action': 'stat'}, {'action': 'migrate-cold'}]",
      "'schemes[1].target-nid' is needed" },
    { "[{'action': 'migrate-hot', 'target-nid': 4096}]",
      "'schemes[0].target-nid': the host has no NUMA node 4096" },
    { "[{'action': 'cold', 'target-nid': 0}]",
      "'schemes[0].target-nid' is only for actions migrate" },
    { "[{'action': 'stat', 'apply-interval-us': 7000}]",
      "'schemes[0].apply-interval-us' must be 0 or a multiple of "
      "sample-us" },
    { "[{'action': 'stat', 'quotas': {'reset-interval-ms': 0}}]",
      "'schemes[0].quotas.reset-interval-ms' must be 1 to 3600000" },
    { "[{'action': 'stat', 'quotas': {'weights': {'age': 101}}}]",
      "'schemes[0].quotas.weights.age' must be 0 to 100" },
    { "[{'action': 'stat', 'quotas': {'goals': [{'metric': 'rss-bytes', "
      "'target-value': 0}]}}]",
      "'schemes[0].quotas.goals[0].target-value' must be at least 1" },
    { "[{'action': 'stat', 'quotas': {'goals': [{'metric': 'rss-bytes', "
      "'target-value': 1, 'current-value': 1}]}}]",
      "'schemes[0].quotas.goals[0].current-value' is only for metric "
      "user-input" },
    { "[{'action': 'stat', 'watermarks': {'metric': 'free-mem-rate', "
      "'high': 1001, 'mid': 1, 'low': 0}}]",
      "'schemes[0].watermarks.high' must be 0 to 1000" },
    { "[{'action': 'stat', 'watermarks': {'metric': 'free-mem-rate', "
      "'high': 500, 'mid': 600, 'low': 0}}]",
      "'schemes[0].watermarks.mid' must be 0 to 500" },
    { "[{'action': 'stat', 'watermarks': {'metric': 'free-mem-rate', "
      "'interval-us': 10, 'high': 5, 'mid': 4, 'low': 3}}]",
      "'schemes[0].watermarks.interval-us' must be 1000 to" },
    { "[{'action': 'stat', 'filters': [{'type': 'addr', 'start': 0}]}]",
      "'schemes[0].filters[0]': type addr needs 'start' and 'end'" },
    { "[{'action': 'stat', 'filters': [{'type': 'addr', 'start': 8192, "
      "'end': 4096}]}]", "'schemes[0].filters[0]': 'start' (0x2000)" },
    { "[{'action': 'stat', 'filters': [{'type': 'young', 'start': 0}]}]",
      "are only for type addr" },
    { "[{'action': 'nonsense'}]", "nonsense" },
};

static void test_bad_schemes(void)
{
    QTestState *qts = start_vm();
    g_autofree char *many = NULL;
    g_autoptr(GString) list = g_string_new("[");
    int i;

    for (i = 0; i < G_N_ELEMENTS(bad_schemes); i++) {
        g_autofree char *desc = start_error(qts, bad_schemes[i].schemes);

        g_test_message("%s -> %s", bad_schemes[i].schemes, desc);
        g_assert(strstr(desc, bad_schemes[i].needle));
    }
    for (i = 0; i < 17; i++) {
        g_string_append_printf(list, "%s{'action': 'stat'}", i ? ", " : "");
    }
    g_string_append(list, "]");
    many = start_error(qts, list->str);
    g_assert(strstr(many, "'schemes' must have at most 16 entries"));
    /* PSI: measured where the host has it, else a clear refusal */
    if (access("/proc/pressure/memory", R_OK) == 0) {
        start_schemes(qts, "[{'action': 'stat', 'quotas': {'goals': "
                      "[{'metric': 'some-mem-psi-us', "
                      "'target-value': 1000}]}}]");
        qtest_qmp_assert_success(qts, "{'execute': 'damon-stop'}");
    } else {
        g_autofree char *psi = start_error(qts, "[{'action': 'stat', "
            "'quotas': {'goals': [{'metric': 'some-mem-psi-us', "
            "'target-value': 1000}]}}]");

        g_assert(strstr(psi, "'schemes[0].quotas.goals[0].metric'"));
    }
    /* a failed start leaves no monitor; the VM runs on */
    qtest_qmp_assert_success(qts, "{'execute': 'query-status'}");
    qtest_quit(qts);
}

/* ---- translation: QMP -> struct damos -> QMP ---- */

/* Every member given comes back as given; defaults are filled in. */
static void test_translate(void)
{
    QTestState *qts = start_vm();
    const char *full = "{'action': 'migrate-cold', 'target-nid': 0, "
        "'access-pattern': {'sz-min': 8192, 'sz-max': 1048576, "
        "'nr-accesses-min': 1, 'nr-accesses-max': 7, 'age-min': 2, "
        "'age-max': 9}, 'apply-interval-us': 15000, 'quotas': {'ms': 3, "
        "'bytes': 4096000, 'reset-interval-ms': 250, 'weights': {'sz': 1, "
        "'nr-accesses': 2, 'age': 3}, 'goals': [{'metric': 'user-input', "
        "'target-value': 10, 'current-value': 4}, {'metric': 'rss-bytes', "
        "'target-value': 1048576}]}, 'watermarks': {'metric': "
        "'free-mem-rate', 'interval-us': 20000, 'high': 1000, 'mid': 999, "
        "'low': 0}, 'filters': [{'type': 'addr', 'start': 4096, "
        "'end': 8192, 'matching': false, 'allow': true}, {'type': "
        "'young'}]}";
    g_autofree char *list = g_strdup_printf("[%s, {'action': 'cold'}]",
                                            full);
    g_autoptr(QDict) want = qobject_to(QDict, qobject_from_json(
        full, &error_abort));
    g_autoptr(QDict) got = NULL, dflt = NULL;
    QDict *g, *p, *q, *w;
    QList *goals, *filters;

    start_schemes(qts, list);
    got = scheme_info(qts, 0);
    g = qdict_get_qdict(got, "scheme");
    g_assert_cmpstr(qdict_get_str(g, "action"), ==, "migrate-cold");
    g_assert_cmpuint(u64_of(g, "target-nid"), ==, 0);
    g_assert_cmpuint(u64_of(g, "apply-interval-us"), ==, 15000);
    p = qdict_get_qdict(g, "access-pattern");
    g_assert(qobject_is_equal(QOBJECT(p), qdict_get(want, "access-pattern")));
    w = qdict_get_qdict(g, "watermarks");
    g_assert(qobject_is_equal(QOBJECT(w), qdict_get(want, "watermarks")));
    filters = qdict_get_qlist(g, "filters");
    g_assert_cmpuint(qlist_size(filters), ==, 2);
    g_assert(qobject_is_equal(qlist_peek(filters), qlist_peek(
        qdict_get_qlist(want, "filters"))));
    q = qdict_get_qdict(g, "quotas");
    g_assert_cmpuint(u64_of(q, "ms"), ==, 3);
    g_assert_cmpuint(u64_of(q, "bytes"), ==, 4096000);
    g_assert_cmpuint(u64_of(q, "reset-interval-ms"), ==, 250);
    g_assert(qobject_is_equal(qdict_get(q, "weights"), qdict_get(
        qdict_get_qdict(want, "quotas"), "weights")));
    goals = qdict_get_qlist(q, "goals");
    g_assert_cmpuint(qlist_size(goals), ==, 2);
    g_assert_cmpuint(u64_of(qobject_to(QDict, qlist_peek(goals)),
                            "current-value"), ==, 4);

    /* the defaults, as Linux sysfs has them (reset interval 1 s) */
    dflt = scheme_info(qts, 1);
    g = qdict_get_qdict(dflt, "scheme");
    p = qdict_get_qdict(g, "access-pattern");
    g_assert_cmpuint(u64_of(p, "sz-min"), ==, 0);
    g_assert_cmpuint(u64_of(p, "sz-max"), ==, UINT64_MAX);
    g_assert_cmpuint(u64_of(p, "nr-accesses-min"), ==, 0);
    g_assert_cmpuint(u64_of(p, "nr-accesses-max"), ==, SAMPLES_PER_AGGR);
    g_assert_cmpuint(u64_of(p, "age-min"), ==, 0);
    g_assert_cmpuint(u64_of(p, "age-max"), ==, UINT32_MAX);
    q = qdict_get_qdict(g, "quotas");
    g_assert_cmpuint(u64_of(q, "ms"), ==, 0);
    g_assert_cmpuint(u64_of(q, "bytes"), ==, 0);
    g_assert_cmpuint(u64_of(q, "reset-interval-ms"), ==, 1000);
    g_assert_false(qdict_haskey(g, "watermarks"));
    g_assert_false(qdict_haskey(g, "target-nid"));
    g_assert_false(qdict_haskey(dflt, "effective-quota-bytes"));
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/damon-schemes/pattern/all", test_pattern_all);
    qtest_add_func("/damon-schemes/pattern/hot", test_pattern_hot);
    qtest_add_func("/damon-schemes/pattern/age", test_pattern_age);
    qtest_add_func("/damon-schemes/quota/bytes", test_quota_bytes);
    qtest_add_func("/damon-schemes/quota/goal-user-input", test_quota_goal);
    qtest_add_func("/damon-schemes/quota/goal-rss", test_goal_rss);
    qtest_add_func("/damon-schemes/filter/addr", test_filter_addr);
    qtest_add_func("/damon-schemes/filter/young", test_filter_young);
    qtest_add_func("/damon-schemes/watermarks", test_watermarks);
    qtest_add_func("/damon-schemes/actions-keep-data",
                   test_actions_keep_data);
    qtest_add_func("/damon-schemes/commit", test_commit);
    qtest_add_func("/damon-schemes/bad", test_bad_schemes);
    qtest_add_func("/damon-schemes/translate", test_translate);
    return g_test_run();
}
