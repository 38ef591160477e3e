/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access source "tcg-accessed": TCG's softmmu TLB as an accessed
 * bit.
 *
 * A sampled page was accessed when a vCPU filled a TLB entry for it
 * since its prepare.  prepare arms the batch's pages and then has every
 * vCPU drop, on its own thread, the TLB entries (main and victim, every
 * MMU index) of the pages armed now; from then on the vCPU's first load,
 * store or instruction fetch through the TLB to such a page misses and
 * fills a new entry.  qemu-patches/0007 calls an observer at the end of
 * every fill of a RAM page (tlb_set_page_full()), which marks the page
 * hit when it is armed.  So, unlike the dirty-bitmap, dirty-ring and
 * page-hash sources, this one sees reads.
 *
 * Nothing else is disturbed: no dirty bit is read or cleared and no
 * dirty logging is turned on; an entry dropped here is refilled exactly
 * as after a guest invlpg, and the refill recomputes TLB_NOTDIRTY from
 * the dirty bitmaps, so migration, display (VGA) and TCG's CODE client
 * see every store as before.  The drop runs on each vCPU's own thread
 * (async_run_on_cpu), as every QEMU TLB flush does, so no entry changes
 * under a running vCPU.
 *
 * Timing: between a prepare and the moment a vCPU runs its drop (it is
 * kicked out of its translation blocks; microseconds), an access
 * through an entry that is still there is not seen; it counts as before
 * the prepare.  A fill that races a check belongs to one interval or
 * the other.
 *
 * Not seen: device DMA and QEMU's own accesses to guest RAM (they do not
 * go through a vCPU TLB), and code executed from translation blocks
 * that are found through the jump cache or chained to each other without
 * a TLB lookup, so the code of a hot loop can look idle.  Page-table
 * pages the guest's MMU walks do get entries (x86 probes them through
 * the TLB) and count as accessed, as with a hardware accessed bit.
 *
 * Cost: with no monitor, one relaxed load per TLB fill.  With one, per
 * RAM fill a filter test (2 KiB bitmap hashed by page) and, for pages
 * that pass it, a binary search over the armed pages; per prepare and
 * vCPU, one exit from the execution loop (with the BQL taken there) and
 * a scan of the vCPU's TLB entries (filter test each), plus one refill
 * per armed page the vCPU was using.
 *
 * Locking:
 *  - tcg_accessed_trackers (the list the observer and the drop walk):
 *    written under the BQL (init, cleanup), read under RCU by the vCPUs;
 *    a tracker leaves the list before it is freed after a grace period.
 *  - TcgTracker.set (the armed set of the last prepare): written only
 *    by the source's driver (prepare), with qatomic_rcu_set; read under
 *    RCU by the vCPUs (observer, drop) and plainly by the driver; an old
 *    set is freed with call_rcu.
 *  - TcgArmedSet contents: immutable once published, except hit[],
 *    whose bytes vCPUs set with qatomic_set and the driver reads with
 *    qatomic_read (a byte goes only from 0 to 1 while the set is
 *    current).
 *  - tcg_accessed_pending (one drop in flight per vCPU): the BQL; the
 *    drop runs as async work, which QEMU runs with the BQL held.
 *
 * Fault injection for the tests: QDAMON_TEST_TCG_NO_REARM=1 in QEMU's
 * environment when a source is created makes its prepares arm pages
 * without having the vCPUs drop their TLB entries; QEMU warns once.
 * A page the guest keeps using then stays in the TLB, is never filled
 * again and reads as idle: tests/e2e/tcg-reads.py --expect-blind shows
 * that its read range is then missed.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/accel.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/queue.h"
#include "qemu/rcu.h"
#include "qemu/rcu_queue.h"
#include "qemu/timer.h"
#include "exec/cputlb.h"
#include "exec/memory.h"
#include "hw/core/cpu.h"
#include "system/tcg.h"
#include "source-common.h"
#include "trace.h"

/* Bits of the per-set filter that spares most TLB entries a search. */
#define TCG_FILTER_SHIFT 14
#define TCG_FILTER_BITS (1u << TCG_FILTER_SHIFT)

/* An armed RAM page. */
typedef struct TcgArmedPage {
    ram_addr_t ram_addr;    /* what the TLB fill reports */
    size_t index;           /* its index in the prepare's batch */
} TcgArmedPage;

/* The pages one prepare armed, as the vCPUs look them up. */
typedef struct TcgArmedSet {
    struct rcu_head rcu;
    size_t nr_batch;        /* the prepare's batch size */
    size_t nr_pages;        /* of page[]: the batch's pages that are RAM */
    uint8_t *hit;           /* by batch index: filled since the prepare */
    unsigned long filter[BITS_TO_LONGS(TCG_FILTER_BITS)];
    TcgArmedPage page[];    /* sorted by ram_addr */
} TcgArmedSet;

/* What the vCPUs see of one source; outlives it by a grace period. */
typedef struct TcgTracker {
    struct rcu_head rcu;
    QLIST_ENTRY(TcgTracker) next;
    TcgArmedSet *set;       /* NULL until the first prepare */
} TcgTracker;

typedef struct TcgAccessedSource {
    QdamonSource base;
    TcgTracker *tracker;
    bool no_rearm;          /* fault injection: never drop entries */
} TcgAccessedSource;

#define TCG_NO_REARM_ENV "QDAMON_TEST_TCG_NO_REARM"

/* Every tcg-accessed source's tracker.  BQL to write, RCU to read. */
static QLIST_HEAD(, TcgTracker) tcg_accessed_trackers =
    QLIST_HEAD_INITIALIZER(tcg_accessed_trackers);

/*
 * By cpu_index: a drop is queued on that vCPU and has not started yet.
 * It reads the armed sets when it runs, so one in flight is enough.
 * BQL.
 */
static bool *tcg_accessed_pending;
static size_t tcg_accessed_nr_pending;

static unsigned int tcg_filter_bit(ram_addr_t ram_addr)
{
    uint64_t page = ram_addr / QDAMON_PAGE_SIZE;

    return (page * 0x9e3779b97f4a7c15ULL) >> (64 - TCG_FILTER_SHIFT);
}

/* The first armed page at or after @ram_addr's page, or the end. */
static size_t tcg_set_lower_bound(const TcgArmedSet *set, ram_addr_t ram_addr)
{
    size_t lo = 0, hi = set->nr_pages;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (set->page[mid].ram_addr < ram_addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Whether @set arms @ram_addr's page.  RCU read lock held. */
static bool tcg_set_arms(const TcgArmedSet *set, ram_addr_t ram_addr)
{
    size_t i;

    ram_addr &= ~(ram_addr_t)(QDAMON_PAGE_SIZE - 1);
    if (!test_bit(tcg_filter_bit(ram_addr), set->filter)) {
        return false;
    }
    i = tcg_set_lower_bound(set, ram_addr);
    return i < set->nr_pages && set->page[i].ram_addr == ram_addr;
}

/* TLBRamFillObserver.  A vCPU thread, RCU read lock held, no BQL. */
static void tcg_accessed_observe(CPUState *cpu, ram_addr_t ram_addr)
{
    TcgTracker *t;

    RCU_READ_LOCK_GUARD();
    ram_addr &= ~(ram_addr_t)(QDAMON_PAGE_SIZE - 1);
    QLIST_FOREACH_RCU(t, &tcg_accessed_trackers, next) {
        TcgArmedSet *set = qatomic_rcu_read(&t->set);
        size_t i;

        if (!set || !test_bit(tcg_filter_bit(ram_addr), set->filter)) {
            continue;
        }
        /* the same RAM may be armed at several guest addresses */
        for (i = tcg_set_lower_bound(set, ram_addr);
             i < set->nr_pages && set->page[i].ram_addr == ram_addr; i++) {
            uint8_t *hit = &set->hit[set->page[i].index];

            /* a plain read first: no cache-line bouncing once hit */
            if (!qatomic_read(hit)) {
                qatomic_set(hit, 1);
            }
        }
    }
}

/* TLBRamPageMatch: armed by any source.  RCU read lock held. */
static bool tcg_accessed_match(ram_addr_t ram_addr, void *opaque)
{
    TcgTracker *t;

    QLIST_FOREACH_RCU(t, &tcg_accessed_trackers, next) {
        TcgArmedSet *set = qatomic_rcu_read(&t->set);

        if (set && tcg_set_arms(set, ram_addr)) {
            return true;
        }
    }
    return false;
}

/* The drop, as async work on @cpu's own thread (BQL held). */
static void tcg_accessed_drop(CPUState *cpu, run_on_cpu_data data)
{
    int64_t start_ns = get_clock();

    assert(bql_locked());
    /*
     * Clear the flag before reading the sets: a prepare that publishes a
     * set after this point queues another drop.
     */
    if ((size_t)cpu->cpu_index < tcg_accessed_nr_pending) {
        tcg_accessed_pending[cpu->cpu_index] = false;
    }
    WITH_RCU_READ_LOCK_GUARD() {
        if (!QLIST_EMPTY_RCU(&tcg_accessed_trackers)) {
            tlb_flush_ram_pages(cpu, tcg_accessed_match, NULL);
        }
    }
    trace_qdamon_source_tcg_accessed_drop(cpu->cpu_index,
                                          get_clock() - start_ns);
}

/*
 * Have every vCPU drop the @nr_armed armed pages' entries, and count
 * that cost to the guest in @src.  Returns: drops queued.
 */
static unsigned int tcg_accessed_queue_drops(QdamonSource *src,
                                             size_t nr_armed)
{
    unsigned int queued = 0;
    CPUState *cpu;

    BQL_LOCK_GUARD();
    CPU_FOREACH(cpu) {
        size_t i = cpu->cpu_index;

        if (i >= tcg_accessed_nr_pending) {
            size_t n = MAX(i + 1, tcg_accessed_nr_pending * 2);

            tcg_accessed_pending = g_renew(bool, tcg_accessed_pending, n);
            memset(tcg_accessed_pending + tcg_accessed_nr_pending, 0,
                   (n - tcg_accessed_nr_pending) * sizeof(bool));
            tcg_accessed_nr_pending = n;
        }
        if (!tcg_accessed_pending[i]) {
            tcg_accessed_pending[i] = true;
            async_run_on_cpu(cpu, tcg_accessed_drop, RUN_ON_CPU_NULL);
            queued++;
        }
    }
    src->nr_rearmed_pages += nr_armed;
    src->nr_vcpu_kicks += queued;
    return queued;
}

static void tcg_armed_set_free(TcgArmedSet *set)
{
    g_free(set->hit);
    g_free(set);
}

static void tcg_tracker_free(TcgTracker *t)
{
    if (t->set) {
        tcg_armed_set_free(t->set);
    }
    g_free(t);
}

static int tcg_cmp_page(const void *a, const void *b)
{
    ram_addr_t x = ((const TcgArmedPage *)a)->ram_addr;
    ram_addr_t y = ((const TcgArmedPage *)b)->ram_addr;

    return x < y ? -1 : x > y;
}

static bool tcg_accessed_init(QdamonSource *src,
                              const QdamonSourceOpts *opts, Error **errp)
{
    TcgAccessedSource *s = container_of(src, TcgAccessedSource, base);

    assert(bql_locked());
    if (!tcg_enabled()) {
        error_setg(errp, "source 'tcg-accessed' needs the TCG accelerator "
                   "(its TLB fills are what it observes), but this VM runs "
                   "with '%s': start QEMU with -accel tcg, or choose "
                   "another source", current_accel_name());
        return false;
    }
    s->no_rearm = !g_strcmp0(g_getenv(TCG_NO_REARM_ENV), "1");
    if (s->no_rearm) {
        warn_report("qdamon: %s=1: source 'tcg-accessed' will not re-arm "
                    "its pages (fault injection for tests)", TCG_NO_REARM_ENV);
    }
    src->has_guest_cost = true;
    s->tracker = g_new0(TcgTracker, 1);
    if (QLIST_EMPTY(&tcg_accessed_trackers)) {
        tlb_set_ram_fill_observer(tcg_accessed_observe);
    }
    QLIST_INSERT_HEAD_RCU(&tcg_accessed_trackers, s->tracker, next);
    trace_qdamon_source_tcg_accessed_init(s);
    return true;
}

static void tcg_accessed_cleanup(QdamonSource *src)
{
    TcgAccessedSource *s = container_of(src, TcgAccessedSource, base);

    assert(bql_locked());
    QLIST_REMOVE_RCU(s->tracker, next);
    if (QLIST_EMPTY(&tcg_accessed_trackers)) {
        tlb_set_ram_fill_observer(NULL);
    }
    /*
     * vCPUs may still be in the observer or a drop with the tracker in
     * hand; queued drops hold no pointer to it.
     */
    call_rcu(s->tracker, tcg_tracker_free, rcu);
    trace_qdamon_source_tcg_accessed_cleanup(s);
}

static void tcg_accessed_prepare(QdamonSource *src, const uint64_t *gpa,
                                 size_t n)
{
    TcgAccessedSource *s = container_of(src, TcgAccessedSource, base);
    TcgArmedSet *set, *old = s->tracker->set;
    bool sorted = true;
    unsigned int queued;
    size_t i, nr = 0;

    qdamon_source_reserve(src, n);
    set = g_malloc0(sizeof(*set) + n * sizeof(set->page[0]));
    set->hit = g_new0(uint8_t, MAX(n, 1));
    set->nr_batch = n;
    WITH_RCU_READ_LOCK_GUARD() {
        for (i = 0; i < n; i++) {
            hwaddr xlat;
            MemoryRegion *mr = qdamon_source_ram_page(gpa[i], &xlat);
            ram_addr_t ram_addr;

            /* not RAM now: never hit, so reported as not accessed */
            if (!mr) {
                continue;
            }
            ram_addr = memory_region_get_ram_addr(mr) + xlat;
            sorted = sorted && (!nr || set->page[nr - 1].ram_addr <= ram_addr);
            set->page[nr].ram_addr = ram_addr;
            set->page[nr].index = i;
            set_bit(tcg_filter_bit(ram_addr), set->filter);
            nr++;
        }
    }
    set->nr_pages = nr;
    /* the regions come in address order, and so mostly does ram_addr */
    if (!sorted) {
        qsort(set->page, nr, sizeof(set->page[0]), tcg_cmp_page);
    }
    qdamon_source_arm(src, gpa, n);

    /* arm first, then drop: a fill in between is seen */
    qatomic_rcu_set(&s->tracker->set, set);
    if (old) {
        call_rcu(old, tcg_armed_set_free, rcu);
    }
    queued = s->no_rearm ? 0 : tcg_accessed_queue_drops(src, nr);
    trace_qdamon_source_tcg_accessed_prepare(s, n, nr, queued);
}

static void tcg_accessed_check(QdamonSource *src, const uint64_t *gpa,
                               size_t n, bool *accessed)
{
    TcgAccessedSource *s = container_of(src, TcgAccessedSource, base);
    /* only this driver writes the pointer */
    TcgArmedSet *set = s->tracker->set;
    size_t i;

    for (i = 0; i < n; i++) {
        accessed[i] = set && i < set->nr_batch &&
                      qdamon_source_armed(src, i, gpa[i]) &&
                      qatomic_read(&set->hit[i]);
    }
}

const QdamonSourceClass qdamon_source_tcg_accessed =
    QDAMON_SOURCE_CLASS(DAMON_SOURCE_KIND_TCG_ACCESSED,
                        DAMON_SEES_READS_AND_WRITES, TcgAccessedSource,
                        tcg_accessed_init, tcg_accessed_cleanup,
                        tcg_accessed_prepare, tcg_accessed_check);
