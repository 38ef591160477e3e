/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon guest-physical operations set ("paddr"): DAMON regions over a
 * guest's physical address space, covering guest RAM only.
 */
#ifndef QDAMON_OPS_PADDR_H
#define QDAMON_OPS_PADDR_H

#include "damon/damon.h"
#include "source.h"

typedef struct QdamonPaddr QdamonPaddr;

/**
 * qdamon_pa_new: prepare guest-physical monitoring.
 * @src: the access source (not owned).
 * @wsrc: the write source (not owned), or NULL.  Armed and checked on
 *     the same sampled pages as @src; a page it finds written counts as
 *     accessed, and as written (damon_update_region_writes()).
 * @ranges: explicit ranges to monitor, or NULL for all of guest RAM.
 * @nr: number of @ranges.
 * @errp: set when a range is not inside guest RAM.
 *
 * Registers a memory listener on the system address space, so the RAM
 * layout is known at once and followed afterwards (hotplug).
 *
 * Context: BQL held.
 */
QdamonPaddr *qdamon_pa_new(QdamonSource *src, QdamonSource *wsrc,
                           const struct damon_addr_range *ranges,
                           unsigned int nr, Error **errp);

/*
 * Whether @mr is what qdamon calls guest RAM: a memory backend's RAM,
 * not ROM, a RAM device (a BAR) or other device memory such as VGA's.
 */
bool qdamon_mr_is_guest_ram(MemoryRegion *mr);

/* Unregister the listener and free.  Context: BQL held, ops not in use. */
void qdamon_pa_free(QdamonPaddr *p);

/* Install the operations set on @ctx, with one target. */
int qdamon_pa_attach(QdamonPaddr *p, struct damon_ctx *ctx);

/**
 * qdamon_pa_ram_ranges: a copy of the current guest-RAM layout.
 * @p: the operations set.
 * @nr: set to the number of ranges.
 *
 * Returns: sorted, merged ranges; g_free() them.
 */
struct damon_addr_range *qdamon_pa_ram_ranges(QdamonPaddr *p,
                                              unsigned int *nr);

#endif /* QDAMON_OPS_PADDR_H */
