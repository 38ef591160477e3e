/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access source "dirty-ring": KVM's per-vCPU dirty rings.
 *
 * Not built yet.  Only its selection is: damon_source_default() picks
 * it when KVM runs with a dirty ring, and creating it says plainly why
 * it cannot be used, so that nobody mistakes a missing feature for an
 * idle guest.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "system/kvm.h"
#include "damon-source-priv.h"
#include "trace.h"

static DamonAccessSource *dirty_ring_create(Error **errp)
{
    bool ring = kvm_enabled() && kvm_dirty_ring_enabled();

    trace_damon_source_dirty_ring_create(ring);
    if (!ring) {
        error_setg(errp, "source 'dirty-ring' needs KVM with a dirty ring: "
                   "start QEMU with -accel kvm,dirty-ring-size=N");
    } else {
        error_setg(errp, "source 'dirty-ring' is not implemented yet; "
                   "use 'dirty-bitmap' or 'page-hash'");
    }
    return NULL;
}

/* create never succeeds, so nothing can reach the other methods. */
static void dirty_ring_destroy(DamonAccessSource *src)
{
    g_assert_not_reached();
}

static void dirty_ring_prepare(DamonAccessSource *src, const uint64_t *gpa,
                               size_t n)
{
    g_assert_not_reached();
}

static void dirty_ring_check(DamonAccessSource *src, const uint64_t *gpa,
                             size_t n, bool *accessed)
{
    g_assert_not_reached();
}

const DamonAccessSourceClass damon_source_dirty_ring = {
    .kind = DAMON_SOURCE_DIRTY_RING,
    .create = dirty_ring_create,
    .destroy = dirty_ring_destroy,
    .prepare = dirty_ring_prepare,
    .check = dirty_ring_check,
};
