/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon guest-physical operations set ("paddr"): DAMON regions over a
 * guest's physical address space, covering guest RAM only.
 */
#ifndef QDAMON_DAMON_PADDR_H
#define QDAMON_DAMON_PADDR_H

#include "damon/damon.h"
#include "damon-source.h"

typedef struct DamonPaddr DamonPaddr;

/**
 * damon_paddr_new: prepare guest-physical monitoring.
 * @src: the access source (not owned).
 * @ranges: explicit ranges to monitor, or NULL for all of guest RAM.
 * @nr: number of @ranges.
 * @errp: set when a range is not inside guest RAM.
 *
 * Registers a memory listener on the system address space, so the RAM
 * layout is known at once and followed afterwards (hotplug).
 *
 * Context: BQL held.
 */
DamonPaddr *damon_paddr_new(DamonAccessSource *src,
                            const struct damon_addr_range *ranges,
                            unsigned int nr, Error **errp);

/* Unregister the listener and free.  Context: BQL held, ops not in use. */
void damon_paddr_free(DamonPaddr *p);

/* Install the operations set on @ctx, with one target. */
int damon_paddr_attach(DamonPaddr *p, struct damon_ctx *ctx);

/**
 * damon_paddr_ram_ranges: a copy of the current guest-RAM layout.
 * @p: the operations set.
 * @nr: set to the number of ranges.
 *
 * Returns: sorted, merged ranges; g_free() them.
 */
struct damon_addr_range *damon_paddr_ram_ranges(DamonPaddr *p,
                                                unsigned int *nr);

#endif /* QDAMON_DAMON_PADDR_H */
