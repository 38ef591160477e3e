/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access sources: choosing one, creating and freeing it, calling
 * it (interface: source.h), and what the sources share
 * (source-common.h): the armed pages, sync and vCPU accounting, the
 * guest-RAM lookup and the dirty-logging flag.  The sources themselves
 * are in source-*.c.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/rcu.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "hw/core/cpu.h"
#include "qemu/accel.h"
#include "system/kvm.h"
#include "system/tcg.h"
#include "source-common.h"
#include "trace.h"

static const QdamonSourceClass *const qdamon_source_classes[] = {
    [DAMON_SOURCE_KIND_DIRTY_RING] = &qdamon_source_dirty_ring,
    [DAMON_SOURCE_KIND_DIRTY_BITMAP] = &qdamon_source_dirty_bitmap,
    [DAMON_SOURCE_KIND_PAGE_HASH] = &qdamon_source_page_hash,
    [DAMON_SOURCE_KIND_TCG_ACCESSED] = &qdamon_source_tcg_accessed,
    [DAMON_SOURCE_KIND_IDLE_PAGE] = &qdamon_source_idle_page,
};

QEMU_BUILD_BUG_ON(ARRAY_SIZE(qdamon_source_classes) !=
                  DAMON_SOURCE_KIND__MAX);

/* Holders of GLOBAL_DIRTY_DAMON.  Protected by the BQL. */
static unsigned int qdamon_dirty_log_users;

DamonSourceKind qdamon_source_default(const QdamonSourceOpts *opts,
                                      char **reason)
{
    g_autoptr(Error) why = NULL;

    /*
     * Sources that see reads first: a write-only source misses every
     * page the guest only reads.  Files given for idle-page say the
     * caller wants it: then its errors are damon-start's, never a quiet
     * fall back to another source.
     */
    if (opts->pagemap_fd >= 0 || opts->idle_bitmap_fd >= 0) {
        *reason = g_strdup("default: idle-page, whose files were given: "
                           "host accessed bits see reads and writes");
        return DAMON_SOURCE_KIND_IDLE_PAGE;
    }
    if (qdamon_idle_page_usable(opts, &why)) {
        *reason = g_strdup("default: idle-page: the host's accessed bits "
                           "see reads and writes under any accelerator");
        return DAMON_SOURCE_KIND_IDLE_PAGE;
    }
    if (tcg_enabled()) {
        *reason = g_strdup_printf("default: TCG sees reads and writes "
                                  "through its TLB (not idle-page: %s)",
                                  error_get_pretty(why));
        return DAMON_SOURCE_KIND_TCG_ACCESSED;
    }
    /*
     * With a dirty ring, the ring source costs what the guest writes;
     * the bitmap source would sync (kick every vCPU, scan every slot's
     * bitmap) once per sample.
     */
    if (kvm_enabled() && kvm_dirty_ring_enabled()) {
        *reason = g_strdup_printf("default: KVM with a dirty ring, which "
                                  "costs what the guest writes (sees "
                                  "writes only; not idle-page: %s)",
                                  error_get_pretty(why));
        return DAMON_SOURCE_KIND_DIRTY_RING;
    }
    *reason = g_strdup_printf("default: accelerator '%s' has no dirty "
                              "ring; dirty-bitmap works with every "
                              "accelerator (sees writes only; not "
                              "idle-page: %s)",
                              current_accel_name(), error_get_pretty(why));
    return DAMON_SOURCE_KIND_DIRTY_BITMAP;
}

DamonSees qdamon_source_kind_sees(DamonSourceKind kind)
{
    assert((unsigned)kind < ARRAY_SIZE(qdamon_source_classes));
    return qdamon_source_classes[kind]->sees;
}

bool qdamon_source_dirty_log_get(QdamonSource *src, Error **errp)
{
    assert(bql_locked());
    if (!qdamon_dirty_log_users &&
        !memory_global_dirty_log_start(GLOBAL_DIRTY_DAMON, errp)) {
        error_prepend(errp, "source '%s' cannot start dirty logging: ",
                      DamonSourceKind_str(src->cls->kind));
        return false;
    }
    qdamon_dirty_log_users++;
    return true;
}

void qdamon_source_dirty_log_put(void)
{
    assert(bql_locked() && qdamon_dirty_log_users);
    if (!--qdamon_dirty_log_users) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_DAMON);
    }
}

QdamonSource *qdamon_source_new(DamonSourceKind kind,
                                const QdamonSourceOpts *opts, Error **errp)
{
    const QdamonSourceClass *cls;
    QdamonSource *src;

    if ((unsigned)kind >= ARRAY_SIZE(qdamon_source_classes) ||
        !qdamon_source_classes[kind]) {
        error_setg(errp, "unknown access source %d", kind);
        return NULL;
    }
    cls = qdamon_source_classes[kind];
    assert(cls->kind == kind && cls->instance_size >= sizeof(*src));
    src = g_malloc0(cls->instance_size);
    src->cls = cls;
    if (cls->init && !cls->init(src, opts, errp)) {
        g_free(src);
        return NULL;
    }
    trace_qdamon_source_new(DamonSourceKind_str(kind), src);
    return src;
}

void qdamon_source_free(QdamonSource *src)
{
    if (!src) {
        return;
    }
    trace_qdamon_source_free(DamonSourceKind_str(src->cls->kind), src);
    if (src->cls->cleanup) {
        src->cls->cleanup(src);
    }
    g_free(src->armed);
    g_free(src->vcpu_writes);
    g_free(src->hint_next);
    g_free(src->hint_regions);
    g_free(src->hint_box);
    g_free(src->hint_out);
    g_free(src);
}

void qdamon_source_prepare(QdamonSource *src, const uint64_t *gpa,
                           size_t n)
{
    src->cls->prepare(src, gpa, n);
}

void qdamon_source_check(QdamonSource *src, const uint64_t *gpa, size_t n,
                         bool *accessed)
{
    size_t i, nr_accessed = 0;

    src->cls->check(src, gpa, n, accessed);
    for (i = 0; i < n; i++) {
        nr_accessed += accessed[i];
    }
    trace_qdamon_source_check(DamonSourceKind_str(src->cls->kind), src, n,
                              nr_accessed);
}

/* ---- armed pages ---- */

size_t qdamon_source_reserve(QdamonSource *src, size_t n)
{
    if (n <= src->alloc) {
        return 0;
    }
    src->alloc = MAX(n, src->alloc * 2);
    src->armed = g_renew(uint64_t, src->armed, src->alloc);
    return src->alloc;
}

void qdamon_source_arm(QdamonSource *src, const uint64_t *gpa, size_t n)
{
    assert(n <= src->alloc);
    if (n) {
        memcpy(src->armed, gpa, n * sizeof(*gpa));
    }
    src->nr_armed = n;
}

/* ---- split hints ---- */

void qdamon_source_set_hint_regions(QdamonSource *src, const uint64_t *start,
                                    const uint64_t *end, size_t n)
{
    size_t i;

    if (!src->has_hints) {
        return;
    }
    /* only this array: the observer may be reading the others */
    if (n > src->hint_next_alloc) {
        src->hint_next_alloc = MAX(n, src->hint_next_alloc * 2);
        src->hint_next = g_renew(QdamonHintRegion, src->hint_next,
                                 src->hint_next_alloc);
    }
    for (i = 0; i < n; i++) {
        src->hint_next[i].range.start = start[i];
        src->hint_next[i].range.end = end[i];
        src->hint_next[i].index = i;
    }
    src->nr_hint_next = n;
}

static int hint_region_cmp(const void *a, const void *b)
{
    uint64_t x = ((const QdamonHintRegion *)a)->range.start;
    uint64_t y = ((const QdamonHintRegion *)b)->range.start;

    return x < y ? -1 : x > y;
}

void qdamon_source_hints_arm(QdamonSource *src)
{
    size_t i, n = src->nr_hint_next;
    bool sorted = true;

    if (!src->has_hints) {
        return;
    }
    if (n > src->hint_alloc) {
        src->hint_alloc = MAX(n, src->hint_alloc * 2);
        src->hint_regions = g_renew(QdamonHintRegion, src->hint_regions,
                                    src->hint_alloc);
        src->hint_box = g_renew(QdamonHintRange, src->hint_box,
                                src->hint_alloc);
        src->hint_out = g_renew(QdamonHintRange, src->hint_out,
                                src->hint_alloc);
    }
    for (i = 0; i < n; i++) {
        src->hint_regions[i] = src->hint_next[i];
        src->hint_box[i].start = src->hint_box[i].end = 0;
        sorted = sorted && (!i || src->hint_next[i - 1].range.start <=
                            src->hint_next[i].range.start);
    }
    /* one target's regions come sorted; several targets' may not */
    if (!sorted) {
        qsort(src->hint_regions, n, sizeof(*src->hint_regions),
              hint_region_cmp);
    }
    src->nr_hint_regions = n;
}

void qdamon_source_hints_see(QdamonSource *src, uint64_t gpa)
{
    size_t lo = 0, hi = src->nr_hint_regions;
    const QdamonHintRegion *r;
    QdamonHintRange *box;

    /* the last region that starts at or below @gpa */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (src->hint_regions[mid].range.start <= gpa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (!lo) {
        return;
    }
    r = &src->hint_regions[lo - 1];
    if (gpa >= r->range.end) {
        return;
    }
    gpa &= ~(QDAMON_PAGE_SIZE - 1);
    box = &src->hint_box[r->index];
    if (box->end <= box->start) {
        box->start = gpa;
        box->end = gpa + QDAMON_PAGE_SIZE;
    } else {
        box->start = MIN(box->start, gpa);
        box->end = MAX(box->end, gpa + QDAMON_PAGE_SIZE);
    }
}

void qdamon_source_hints_collect(QdamonSource *src)
{
    if (src->has_hints && src->nr_hint_regions) {
        memcpy(src->hint_out, src->hint_box,
               src->nr_hint_regions * sizeof(*src->hint_out));
    }
}

bool qdamon_source_hint(QdamonSource *src, size_t i, QdamonHintRange *box)
{
    if (!src->has_hints || i >= src->nr_hint_regions) {
        return false;
    }
    *box = src->hint_out[i];
    return box->end > box->start;
}

/* ---- statistics ---- */

uint64_t qdamon_source_sync(QdamonSource *src, uint64_t (*sync)(void))
{
    int64_t start_ns = get_clock();
    uint64_t ret = sync();

    src->has_syncs = true;
    src->nr_syncs++;
    src->sync_ns += get_clock() - start_ns;
    return ret;
}

void qdamon_source_count_vcpu_write(QdamonSource *src, int cpu_index)
{
    size_t i = cpu_index;

    if (i >= src->nr_vcpus) {
        size_t n = MAX(i + 1, src->nr_vcpus * 2);

        src->vcpu_writes = g_renew(uint64_t, src->vcpu_writes, n);
        memset(src->vcpu_writes + src->nr_vcpus, 0,
               (n - src->nr_vcpus) * sizeof(uint64_t));
        src->nr_vcpus = n;
    }
    src->vcpu_writes[i]++;
}

uint64_t *qdamon_source_vcpu_writes(QdamonSource *src, size_t *n)
{
    CPUState *cpu;
    uint64_t *pages;

    *n = 0;
    if (!src || !src->has_vcpu_writes) {
        return NULL;
    }
    assert(bql_locked());
    /* one entry per vCPU, even those that wrote nothing yet */
    CPU_FOREACH(cpu) {
        *n = MAX(*n, (size_t)cpu->cpu_index + 1);
    }
    pages = g_new0(uint64_t, *n);
    if (src->vcpu_writes) {
        memcpy(pages, src->vcpu_writes,
               MIN(*n, src->nr_vcpus) * sizeof(uint64_t));
    }
    return pages;
}

/* ---- guest RAM ---- */

MemoryRegion *qdamon_source_ram_page(uint64_t gpa, hwaddr *xlat)
{
    hwaddr len = QDAMON_PAGE_SIZE;
    MemoryRegion *mr;

    mr = address_space_translate(&address_space_memory, gpa, xlat, &len,
                                 false, MEMTXATTRS_UNSPECIFIED);
    /*
     * A shorter @len means the page straddles two regions; DAMON's
     * pages never do for real RAM, so treat it as not RAM rather than
     * reading past the region.
     */
    if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr) ||
        len < QDAMON_PAGE_SIZE) {
        return NULL;
    }
    /*
     * Memory a RamDiscardManager (virtio-mem) has unplugged is not the
     * guest's: reading it would populate it again on the host.
     */
    if (memory_region_has_ram_discard_manager(mr)) {
        MemoryRegionSection section = {
            .mr = mr,
            .offset_within_region = *xlat,
            .size = int128_make64(QDAMON_PAGE_SIZE),
        };

        if (!ram_discard_manager_is_populated(
                memory_region_get_ram_discard_manager(mr), &section)) {
            return NULL;
        }
    }
    return mr;
}
