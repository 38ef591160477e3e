/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon host metrics for scheme goals and watermarks.
 *
 * some-mem-psi-us follows Linux's DAMOS_QUOTA_SOME_MEM_PSI_US: the
 * growth of the "some" stall total since the last read, so that one
 * read per charge window gives the stall time of that window.  QEMU in
 * a cgroup of its own (libvirt's machine.slice scope) reads its
 * cgroup's memory.pressure, which is the pressure its own reclaim
 * causes; otherwise the system's.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "exec/ramblock.h"
#include "exec/memory.h"
#include "metrics.h"
#include "ops-paddr.h"

/* The goal tuner's "met" score, as the engine counts it. */
#define GOAL_SCORE_BP   10000ULL

/*
 * Fault injection for the qtests: a file holding the free memory rate
 * the watermarks read instead of /proc/meminfo's, so that a test drives
 * them across their marks on the virtual clock.  QEMU warns once.
 */
#define TEST_FREE_RATE_ENV "QDAMON_TEST_FREE_MEM_RATE_FILE"

struct QdamonMetric {
    bool is_wmark;
    DamonQuotaGoalMetric goal;
    DamonWatermarkMetric wmark;
    uint64_t target;
    char *path;                 /* PSI or test file */
    uint64_t psi_prev;
    bool psi_primed;
    uint64_t last;
    bool has_last;
};

static bool read_file(const char *path, char **text, Error **errp)
{
    g_autoptr(GError) gerr = NULL;

    if (!g_file_get_contents(path, text, NULL, &gerr)) {
        error_setg(errp, "%s", gerr->message);
        return false;
    }
    return true;
}

/* The memory.pressure QEMU's cgroup has, or NULL in the root cgroup. */
static char *cgroup_pressure_path(void)
{
    g_autofree char *text = NULL;
    char *line, *save = NULL;

    if (!g_file_get_contents("/proc/self/cgroup", &text, NULL, NULL)) {
        return NULL;
    }
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (g_str_has_prefix(line, "0::") && strcmp(line + 3, "/")) {
            char *p = g_strdup_printf("/sys/fs/cgroup%s/memory.pressure",
                                      line + 3);

            if (!access(p, R_OK)) {
                return p;
            }
            g_free(p);
        }
    }
    return NULL;
}

/* The "some" line's total= of a PSI file, in microseconds. */
static bool psi_some_total(const char *path, uint64_t *total, Error **errp)
{
    g_autofree char *text = NULL;
    const char *t;

    if (!read_file(path, &text, errp)) {
        return false;
    }
    t = g_str_has_prefix(text, "some ") ? strstr(text, "total=") : NULL;
    if (!t || sscanf(t, "total=%" SCNu64, total) != 1) {
        error_setg(errp, "%s has no 'some ... total=' line", path);
        return false;
    }
    return true;
}

uint64_t qdamon_resident_bytes(void *host, size_t len)
{
    size_t page = qemu_real_host_page_size();
    size_t n = DIV_ROUND_UP(len, page), i;
    g_autofree unsigned char *vec = g_malloc(n ? n : 1);
    uint64_t sum = 0;

    if (mincore(host, len, vec)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        sum += (vec[i] & 1) * page;
    }
    return sum;
}

static int add_resident(RAMBlock *rb, void *opaque)
{
    uint64_t *sum = opaque;
    uint8_t *host = qemu_ram_get_host_addr(rb);

    if (rb->mr && host && qdamon_mr_is_guest_ram(rb->mr)) {
        *sum += qdamon_resident_bytes(host, qemu_ram_get_used_length(rb));
    }
    return 0;
}

uint64_t qdamon_guest_ram_resident(void)
{
    uint64_t sum = 0;

    /* takes the RCU read lock: blocks cannot go while we look */
    qemu_ram_foreach_block(add_resident, &sum);
    return sum;
}

QdamonMetric *qdamon_metric_new_goal(DamonQuotaGoalMetric kind,
                                     uint64_t target, Error **errp)
{
    QdamonMetric *m = g_new0(QdamonMetric, 1);
    uint64_t total;

    m->goal = kind;
    m->target = target;
    if (kind == DAMON_QUOTA_GOAL_METRIC_SOME_MEM_PSI_US) {
        m->path = cgroup_pressure_path();
        if (!m->path) {
            m->path = g_strdup("/proc/pressure/memory");
        }
        if (!psi_some_total(m->path, &total, errp)) {
            error_prepend(errp, "this host cannot measure memory pressure "
                          "(a kernel with CONFIG_PSI, not booted with "
                          "psi=0): ");
            qdamon_metric_free(m);
            return NULL;
        }
    }
    return m;
}

QdamonMetric *qdamon_metric_new_wmark(DamonWatermarkMetric kind,
                                      Error **errp)
{
    QdamonMetric *m = g_new0(QdamonMetric, 1);
    const char *test = g_getenv(TEST_FREE_RATE_ENV);
    static bool warned;

    m->is_wmark = true;
    m->wmark = kind;
    if (test && *test) {
        if (!warned) {
            warn_report("qdamon: %s=%s: watermarks read the free memory "
                        "rate from that file (for tests only)",
                        TEST_FREE_RATE_ENV, test);
            warned = true;
        }
        m->path = g_strdup(test);
    } else if (access("/proc/meminfo", R_OK)) {
        error_setg_errno(errp, errno, "cannot read /proc/meminfo");
        qdamon_metric_free(m);
        return NULL;
    }
    return m;
}

void qdamon_metric_free(QdamonMetric *m)
{
    if (m) {
        g_free(m->path);
        g_free(m);
    }
}

static uint64_t meminfo_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    uint64_t v = 0;

    if (p) {
        sscanf(p + strlen(key), " %" SCNu64, &v);
    }
    return v;
}

/* Free memory per thousand of total; 0 if it cannot be read. */
static uint64_t free_mem_rate(const QdamonMetric *m)
{
    g_autofree char *text = NULL;
    uint64_t total, free_kb, v = 0;

    if (m->path) {
        if (g_file_get_contents(m->path, &text, NULL, NULL)) {
            sscanf(text, "%" SCNu64, &v);
        }
        return v;
    }
    if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL)) {
        return 0;
    }
    total = meminfo_kb(text, "MemTotal:");
    free_kb = meminfo_kb(text, "MemFree:");
    return total ? free_kb * 1000 / total : 0;
}

uint64_t qdamon_metric_wmark_read(void *metric)
{
    QdamonMetric *m = metric;

    m->last = free_mem_rate(m);
    m->has_last = true;
    return m->last;
}

static uint64_t psi_delta(QdamonMetric *m)
{
    uint64_t total, d;

    if (!psi_some_total(m->path, &total, NULL)) {
        return 0;
    }
    d = m->psi_primed && total >= m->psi_prev ? total - m->psi_prev : 0;
    m->psi_prev = total;
    m->psi_primed = true;
    return d;
}

uint64_t qdamon_metric_goal_read(void *metric)
{
    QdamonMetric *m = metric;

    switch (m->goal) {
    case DAMON_QUOTA_GOAL_METRIC_SOME_MEM_PSI_US:
        m->last = psi_delta(m);
        m->has_last = true;
        return m->last;
    case DAMON_QUOTA_GOAL_METRIC_RSS_BYTES:
        m->last = qdamon_guest_ram_resident();
        m->has_last = true;
        /*
         * At or under the target the goal counts as met twice over,
         * which takes the quota to its minimum at once: what a pageout
         * took out stays out until the guest touches it again, so a
         * tuner that only eased off past the target would go on paging
         * out and undershoot.  Above it, the quota grows in proportion
         * to the distance, and stops growing close to the target.
         */
        if (m->last <= m->target) {
            return GOAL_SCORE_BP * 2;
        }
        if (m->target > UINT64_MAX / GOAL_SCORE_BP) {
            return m->target / m->last * GOAL_SCORE_BP;
        }
        return m->target * GOAL_SCORE_BP / m->last;
    default:
        return 0;
    }
}

uint64_t qdamon_metric_goal_target(const QdamonMetric *m)
{
    return m->goal == DAMON_QUOTA_GOAL_METRIC_RSS_BYTES ? GOAL_SCORE_BP :
        m->target;
}

bool qdamon_metric_last(const QdamonMetric *m, uint64_t *value)
{
    *value = m->last;
    return m->has_last;
}
