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
 * with the dirty-bitmap source (damon-source.c).
 *
 * Context: everything here runs under the BQL: the observer is called
 * with it held, and prepare, check and the query take it.  The BQL
 * thus protects the list, the armed pages and the counters.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/queue.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "damon-source-priv.h"
#include "trace.h"

typedef struct DirtyRingArmed {
    uint64_t gpa;       /* page address */
    size_t index;       /* its index in the batch of the last prepare */
} DirtyRingArmed;

typedef struct DirtyRingSource DirtyRingSource;

struct DirtyRingSource {
    DamonAccessSource base;
    QLIST_ENTRY(DirtyRingSource) next;
    DirtyRingArmed *armed;      /* the last prepare's pages, by gpa */
    bool *hit;                  /* by batch index: harvested since */
    uint64_t *gpa;              /* by batch index: the page */
    size_t n;
    size_t alloc;
    /* entries harvested while this source existed, per vCPU index */
    uint64_t *vcpu_pages;
    size_t nr_vcpus;
};

/* Every dirty-ring source of the VM.  Protected by the BQL. */
static QLIST_HEAD(, DirtyRingSource) dirty_ring_sources =
    QLIST_HEAD_INITIALIZER(dirty_ring_sources);

static int dirty_ring_cmp_armed(const void *a, const void *b)
{
    uint64_t x = ((const DirtyRingArmed *)a)->gpa;
    uint64_t y = ((const DirtyRingArmed *)b)->gpa;

    return x < y ? -1 : x > y;
}

static void dirty_ring_count(DirtyRingSource *s, CPUState *cpu)
{
    size_t i = cpu->cpu_index;

    if (i >= s->nr_vcpus) {
        size_t n = MAX(i + 1, s->nr_vcpus * 2);

        s->vcpu_pages = g_renew(uint64_t, s->vcpu_pages, n);
        memset(s->vcpu_pages + s->nr_vcpus, 0,
               (n - s->nr_vcpus) * sizeof(uint64_t));
        s->nr_vcpus = n;
    }
    s->vcpu_pages[i]++;
}

/* KVMDirtyRingObserver.  BQL and KVM slots lock held. */
static void dirty_ring_observe(CPUState *cpu, int as_id, hwaddr gpa)
{
    DirtyRingSource *s;
    DirtyRingArmed key = { .gpa = gpa & ~(DAMON_SOURCE_PAGE_SIZE - 1) };

    /* address space 1 is SMM's view, not the one DAMON monitors */
    if (as_id != 0) {
        return;
    }
    QLIST_FOREACH(s, &dirty_ring_sources, next) {
        DirtyRingArmed *a;

        dirty_ring_count(s, cpu);
        a = bsearch(&key, s->armed, s->n, sizeof(*s->armed),
                    dirty_ring_cmp_armed);
        if (a) {
            s->hit[a->index] = true;
        }
    }
}

static DamonAccessSource *dirty_ring_create(Error **errp)
{
    bool ring = kvm_enabled() && kvm_dirty_ring_enabled();
    DirtyRingSource *s;

    assert(bql_locked());
    trace_damon_source_dirty_ring_create(ring);
    if (!ring) {
        error_setg(errp, "source 'dirty-ring' needs KVM with a dirty ring: "
                   "start QEMU with -accel kvm,dirty-ring-size=N");
        return NULL;
    }
    if (!damon_source_dirty_log_get(errp)) {
        error_prepend(errp, "source 'dirty-ring' cannot start dirty "
                      "logging: ");
        return NULL;
    }
    s = g_new0(DirtyRingSource, 1);
    if (QLIST_EMPTY(&dirty_ring_sources)) {
        kvm_dirty_ring_set_observer(dirty_ring_observe);
    }
    QLIST_INSERT_HEAD(&dirty_ring_sources, s, next);
    return &s->base;
}

static void dirty_ring_destroy(DamonAccessSource *src)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);

    assert(bql_locked());
    QLIST_REMOVE(s, next);
    if (QLIST_EMPTY(&dirty_ring_sources)) {
        kvm_dirty_ring_set_observer(NULL);
    }
    damon_source_dirty_log_put();
    g_free(s->armed);
    g_free(s->hit);
    g_free(s->gpa);
    g_free(s->vcpu_pages);
    g_free(s);
}

static void dirty_ring_reserve(DirtyRingSource *s, size_t n)
{
    if (n > s->alloc) {
        s->alloc = MAX(n, s->alloc * 2);
        s->armed = g_renew(DirtyRingArmed, s->armed, s->alloc);
        s->hit = g_renew(bool, s->hit, s->alloc);
        s->gpa = g_renew(uint64_t, s->gpa, s->alloc);
    }
}

/* Harvest every vCPU's ring, counted as the source's sync.  BQL held. */
static uint64_t dirty_ring_harvest(DamonAccessSource *src)
{
    int64_t t0 = get_clock();
    uint64_t reaped = kvm_dirty_ring_reap_all();

    damon_source_account_sync(src, t0);
    return reaped;
}

static void dirty_ring_prepare(DamonAccessSource *src, const uint64_t *gpa,
                               size_t n)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);
    uint64_t reaped;
    bool sorted = true;
    size_t i;

    BQL_LOCK_GUARD();
    /* entries pushed before now belong to the last interval */
    reaped = dirty_ring_harvest(src);
    dirty_ring_reserve(s, n);
    for (i = 0; i < n; i++) {
        s->armed[i].gpa = gpa[i];
        s->armed[i].index = i;
        s->hit[i] = false;
        s->gpa[i] = gpa[i];
        sorted = sorted && (!i || gpa[i - 1] <= gpa[i]);
    }
    /* the regions come in address order, so this is rarely needed */
    if (!sorted) {
        qsort(s->armed, n, sizeof(*s->armed), dirty_ring_cmp_armed);
    }
    s->n = n;
    trace_damon_source_dirty_ring_prepare(s, n, reaped);
}

static void dirty_ring_check(DamonAccessSource *src, const uint64_t *gpa,
                             size_t n, bool *accessed)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);
    size_t i, nr_accessed = 0;
    uint64_t reaped;

    BQL_LOCK_GUARD();
    reaped = dirty_ring_harvest(src);
    for (i = 0; i < n; i++) {
        accessed[i] = i < s->n && s->gpa[i] == gpa[i] && s->hit[i];
        nr_accessed += accessed[i];
    }
    trace_damon_source_dirty_ring_check(s, n, reaped, nr_accessed);
}

static uint64_t *dirty_ring_vcpu_writes(DamonAccessSource *src, size_t *n)
{
    DirtyRingSource *s = container_of(src, DirtyRingSource, base);
    CPUState *cpu;
    uint64_t *pages;

    assert(bql_locked());
    /* one entry per vCPU, even those that wrote nothing yet */
    *n = 0;
    CPU_FOREACH(cpu) {
        *n = MAX(*n, (size_t)cpu->cpu_index + 1);
    }
    pages = g_new0(uint64_t, *n);
    memcpy(pages, s->vcpu_pages, MIN(*n, s->nr_vcpus) * sizeof(uint64_t));
    return pages;
}

const DamonAccessSourceClass damon_source_dirty_ring = {
    .kind = DAMON_SOURCE_DIRTY_RING,
    .create = dirty_ring_create,
    .destroy = dirty_ring_destroy,
    .prepare = dirty_ring_prepare,
    .check = dirty_ring_check,
    .vcpu_writes = dirty_ring_vcpu_writes,
};
