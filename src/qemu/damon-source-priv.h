/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access sources: helpers shared by the source implementations
 * (damon-source.c, source-*.c).  Not for the monitor or the ops.
 */
#ifndef QDAMON_DAMON_SOURCE_PRIV_H
#define QDAMON_DAMON_SOURCE_PRIV_H

#include "exec/hwaddr.h"
#include "damon-source.h"

/* Size of the page a sampled guest-physical address stands for. */
#define DAMON_SOURCE_PAGE_SIZE 4096ULL

/**
 * damon_source_ram_page: where the guest-physical page at @gpa lives.
 * @gpa: guest-physical address, DAMON_SOURCE_PAGE_SIZE aligned.
 * @xlat: set to the page's offset inside the returned region.
 *
 * Looks @gpa up in the guest's view (address_space_memory).  Only RAM
 * whose whole page is in one region counts: MMIO, holes and RAM device
 * memory (which may be a device's BAR, where even a read can have side
 * effects) give NULL, and the callers report such a page as not
 * accessed.  So does memory a RamDiscardManager (virtio-mem) has
 * unplugged.
 *
 * Returns: the RAM region (valid only inside the caller's RCU read
 * section), or NULL.
 * Context: RCU read lock held.
 */
MemoryRegion *damon_source_ram_page(uint64_t gpa, hwaddr *xlat);

/**
 * damon_source_dirty_log_get: hold qdamon's global dirty-logging flag.
 *
 * The dirty-bitmap and dirty-ring sources both need dirty logging on
 * (GLOBAL_DIRTY_DAMON, qemu-patches/0005): the first holder turns the
 * flag on, the last damon_source_dirty_log_put() turns it off.  The
 * flag nests with migration's, dirty rate's and dirty limit's.
 *
 * Returns: true, or false with @errp set when logging cannot start.
 * Context: BQL held.
 */
bool damon_source_dirty_log_get(Error **errp);

/* Release what damon_source_dirty_log_get() took.  BQL held. */
void damon_source_dirty_log_put(void);

#endif /* QDAMON_DAMON_SOURCE_PRIV_H */
