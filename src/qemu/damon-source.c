/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access sources: choosing one, creating and destroying it
 * (interface: damon-source.h).  The sources themselves are in
 * source-*.c.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/rcu.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "system/kvm.h"
#include "damon-source-priv.h"
#include "trace.h"

static const DamonAccessSourceClass *const damon_source_classes[] = {
    [DAMON_SOURCE_DIRTY_RING] = &damon_source_dirty_ring,
    [DAMON_SOURCE_DIRTY_BITMAP] = &damon_source_dirty_bitmap,
    [DAMON_SOURCE_PAGE_HASH] = &damon_source_page_hash,
};

QEMU_BUILD_BUG_ON(ARRAY_SIZE(damon_source_classes) != DAMON_SOURCE__MAX);

/* Holders of GLOBAL_DIRTY_DAMON.  Protected by the BQL. */
static unsigned int damon_dirty_log_users;

DamonSource damon_source_default(void)
{
    /*
     * With a dirty ring, the ring source costs what the guest writes;
     * the bitmap source would sync (kick every vCPU, scan every slot's
     * bitmap) once per sample.
     */
    if (kvm_enabled() && kvm_dirty_ring_enabled()) {
        return DAMON_SOURCE_DIRTY_RING;
    }
    return DAMON_SOURCE_DIRTY_BITMAP;
}

bool damon_source_dirty_log_get(Error **errp)
{
    assert(bql_locked());
    if (!damon_dirty_log_users &&
        !memory_global_dirty_log_start(GLOBAL_DIRTY_DAMON, errp)) {
        return false;
    }
    damon_dirty_log_users++;
    return true;
}

void damon_source_dirty_log_put(void)
{
    assert(bql_locked() && damon_dirty_log_users);
    if (!--damon_dirty_log_users) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_DAMON);
    }
}

DamonAccessSource *damon_source_create(DamonSource kind, Error **errp)
{
    const DamonAccessSourceClass *cls;
    DamonAccessSource *src;

    if ((unsigned)kind >= ARRAY_SIZE(damon_source_classes) ||
        !damon_source_classes[kind]) {
        error_setg(errp, "unknown access source %d", kind);
        return NULL;
    }
    cls = damon_source_classes[kind];
    assert(cls->kind == kind);
    src = cls->create(errp);
    if (!src) {
        return NULL;
    }
    src->cls = cls;
    trace_damon_source_create(DamonSource_str(kind), src);
    return src;
}

void damon_source_account_sync(DamonAccessSource *src, int64_t start_ns)
{
    src->has_syncs = true;
    src->nr_syncs++;
    src->sync_ns += get_clock() - start_ns;
}

uint64_t *damon_source_vcpu_writes(DamonAccessSource *src, size_t *n)
{
    *n = 0;
    if (!src || !src->cls->vcpu_writes) {
        return NULL;
    }
    return src->cls->vcpu_writes(src, n);
}

void damon_source_destroy(DamonAccessSource *src)
{
    if (!src) {
        return;
    }
    trace_damon_source_destroy(DamonSource_str(src->cls->kind), src);
    src->cls->destroy(src);
}

MemoryRegion *damon_source_ram_page(uint64_t gpa, hwaddr *xlat)
{
    hwaddr len = DAMON_SOURCE_PAGE_SIZE;
    MemoryRegion *mr;

    mr = address_space_translate(&address_space_memory, gpa, xlat, &len,
                                 false, MEMTXATTRS_UNSPECIFIED);
    /*
     * A shorter @len means the page straddles two regions; DAMON's
     * pages never do for real RAM, so treat it as not RAM rather than
     * reading past the region.
     */
    if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr) ||
        len < DAMON_SOURCE_PAGE_SIZE) {
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
            .size = int128_make64(DAMON_SOURCE_PAGE_SIZE),
        };

        if (!ram_discard_manager_is_populated(
                memory_region_get_ram_discard_manager(mr), &section)) {
            return NULL;
        }
    }
    return mr;
}
