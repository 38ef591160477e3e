/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access source "dirty-ring": KVM's per-vCPU dirty rings.
 *
 * A sampled page was accessed when KVM pushed its GFN onto a vCPU's
 * dirty ring since its prepare, i.e. the guest wrote it.
 *
 * No second reader: the rings are harvested only by QEMU's own code
 * (kvm-all.c), which moves each entry into its slot's dirty bitmap and
 * counts it for its vCPU (dirty limit and calc-dirty-rate read those
 * counts), then resets the rings so that KVM write-protects the pages
 * again.  qemu-patches/0006 adds an observer on that harvest path: every
 * entry still goes where it went, and this file is shown each one,
 * whoever reaps it (the reaper thread once a second, a vCPU whose ring
 * is full, a dirty-log sync for migration or dirty rate, a slot
 * removal, or the harvest below).  So migration and dirty limit lose no
 * entry to us, and we lose none to them.
 *
 * prepare and check each call kvm_dirty_ring_reap_all(): at check, so
 * that the entries pushed during the interval are seen; at prepare, so
 * that entries pushed before it do not count for the new interval (the
 * engine prepares right after checking, so that harvest finds next to
 * nothing).  The rings are not flushed by kicking the vCPUs: an entry
 * still in a hardware buffer (Intel PML, up to 512 entries per vCPU)
 * counts in a later interval.  On AMD, and with PML off, KVM pushes an
 * entry at the write fault itself.
 *
 * Split hints: since every written page passes the observer, it also
 * widens the hint box of the region the page lies in (source.c), so
 * that aggregations can split regions where the writes land
 * (DamonSplitMode aimed).  That is a second binary search per entry,
 * over the regions, and two addresses per region.
 *
 * Cost: the observer does one binary search over the armed pages per
 * harvested entry, so it grows with the pages the guest writes, not
 * with guest RAM.  The guest pays what any dirty-ring user makes it
 * pay: after each reset, the first write to each written page faults
 * once more; harvesting every sample interval makes that once per
 * written page per interval.
 *
 * Several monitors: all dirty-ring sources of the VM are in one list
 * that the observer walks, so each sees every entry.  Dirty logging
 * (KVM_MEM_LOG_DIRTY_PAGES on every slot, without which no entry is
 * pushed) is turned on with qdamon's global dirty-logging flag, shared
 * with the dirty-bitmap source (source.c).
 *
 * Context: everything here runs under the BQL: the observer is called
 * with it held, and prepare, check and the query take it.  The BQL
 * thus protects the list, the armed pages and the counters.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/queue.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "source-common.h"
#include "trace.h"

/* An armed page, in the array sorted by address. */
typedef struct DirtyRingPage {
    uint64_t gpa;       /* page address */
    size_t index;       /* its index in the batch of the last prepare */
} DirtyRingPage;

typedef struct DirtyRingSource DirtyRingSource;

struct DirtyRingSource {
    QdamonSource base;
    QLIST_ENTRY(DirtyRingSource) next;
    DirtyRingPage *by_gpa;      /* the last prepare's pages, by gpa */
    bool *hit;                  /* by batch index: harvested since */
};

/* Every dirty-ring source of the VM.  Protected by the BQL. */
static QLIST_HEAD(, DirtyRingSource) dirty_ring_sources =
    QLIST_HEAD_INITIALIZER(dirty_ring_sources);

static int dirty_ring_cmp_page(const void *a, const void *b)
{
    uint64_t x = ((const DirtyRingPage *)a)->gpa;
    uint64_t y = ((const DirtyRingPage *)b)->gpa;

    return x < y ? -1 : x > y;
}

/* KVMDirtyRingObserver.  BQL and KVM slots lock held. */
static void dirty_ring_observe(CPUState *cpu, int as_id, hwaddr gpa)
{
    DirtyRingSource *s;
    DirtyRingPage key = { .gpa = gpa & ~(QDAMON_PAGE_SIZE - 1) };

    /* address space 1 is SMM's view, not the one DAMON monitors */
    if (as_id != 0) {
        return;
    }
    QLIST_FOREACH(s, &dirty_ring_sources, next) {
        DirtyRingPage *p;

        qdamon_source_count_vcpu_write(&s->base, cpu->cpu_index);
        /* the rings' reset write-protects every harvested page again */
        s->base.nr_rearmed_pages++;
        qdamon_source_hints_see(&s->base, gpa);
        p = bsearch(&key, s->by_gpa, s->base.nr_armed, sizeof(*s->by_gpa),
                    dirty_ring_cmp_page);
        if (p) {
            s->hit[p->index] = true;
        }
    }
}

static bool dirty_ring_init(QdamonSource *src,
                            const QdamonSourceOpts *opts, Error **errp)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);
    bool ring = kvm_enabled() && kvm_dirty_ring_enabled();

    assert(bql_locked());
    trace_qdamon_source_dirty_ring_init(ring);
    if (!ring) {
        error_setg(errp, "source 'dirty-ring' needs KVM with a dirty ring: "
                   "start QEMU with -accel kvm,dirty-ring-size=N");
        return false;
    }
    if (!qdamon_source_dirty_log_get(src, errp)) {
        return false;
    }
    src->has_vcpu_writes = true;
    src->has_guest_cost = true;
    src->has_hints = true;
    if (QLIST_EMPTY(&dirty_ring_sources)) {
        kvm_dirty_ring_set_observer(dirty_ring_observe);
    }
    QLIST_INSERT_HEAD(&dirty_ring_sources, s, next);
    return true;
}

static void dirty_ring_cleanup(QdamonSource *src)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);

    assert(bql_locked());
    QLIST_REMOVE(s, next);
    if (QLIST_EMPTY(&dirty_ring_sources)) {
        kvm_dirty_ring_set_observer(NULL);
    }
    qdamon_source_dirty_log_put();
    g_free(s->by_gpa);
    g_free(s->hit);
}

static void dirty_ring_prepare(QdamonSource *src, const uint64_t *gpa,
                               size_t n)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);
    bool sorted = true;
    uint64_t reaped;
    size_t i;

    BQL_LOCK_GUARD();
    /* entries pushed before now belong to the last interval */
    reaped = qdamon_source_sync(src, kvm_dirty_ring_reap_all);
    if (qdamon_source_reserve(src, n)) {
        s->by_gpa = g_renew(DirtyRingPage, s->by_gpa, src->alloc);
        s->hit = g_renew(bool, s->hit, src->alloc);
    }
    for (i = 0; i < n; i++) {
        s->by_gpa[i].gpa = gpa[i];
        s->by_gpa[i].index = i;
        s->hit[i] = false;
        sorted = sorted && (!i || gpa[i - 1] <= gpa[i]);
    }
    /* the regions come in address order, so this is rarely needed */
    if (!sorted) {
        qsort(s->by_gpa, n, sizeof(*s->by_gpa), dirty_ring_cmp_page);
    }
    qdamon_source_arm(src, gpa, n);
    qdamon_source_hints_arm(src);
    trace_qdamon_source_dirty_ring_prepare(s, n, reaped);
}

static void dirty_ring_check(QdamonSource *src, const uint64_t *gpa,
                             size_t n, bool *accessed)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);
    uint64_t reaped;
    size_t i;

    BQL_LOCK_GUARD();
    reaped = qdamon_source_sync(src, kvm_dirty_ring_reap_all);
    for (i = 0; i < n; i++) {
        accessed[i] = qdamon_source_armed(src, i, gpa[i]) && s->hit[i];
    }
    qdamon_source_hints_collect(src);
    trace_qdamon_source_dirty_ring_check(s, reaped);
}

const QdamonSourceClass qdamon_source_dirty_ring =
    QDAMON_SOURCE_CLASS(DAMON_SOURCE_KIND_DIRTY_RING,
                        DAMON_SEES_WRITES_ONLY, DirtyRingSource,
                        dirty_ring_init, dirty_ring_cleanup,
                        dirty_ring_prepare, dirty_ring_check);
