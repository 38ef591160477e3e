/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access sources: helpers shared by the source implementations
 * (source.c, source-*.c).  Not for the monitor or the operations set.
 */
#ifndef QDAMON_SOURCE_COMMON_H
#define QDAMON_SOURCE_COMMON_H

#include "exec/hwaddr.h"
#include "source.h"

/**
 * qdamon_source_reserve: make room for a batch of @n pages.
 * @src: the source, in its prepare (or check).
 * @n: the batch size.
 *
 * The pages armed by the last prepare stay as they were.
 *
 * Returns: 0, or the new capacity (@src->alloc) when it grew, in which
 * case the caller grows its own per-page arrays to it, keeping their
 * contents.
 */
size_t qdamon_source_reserve(QdamonSource *src, size_t n);

/**
 * qdamon_source_arm: record @gpa[0..@n) as the pages armed now.
 *
 * Called by prepare once it is done with the last prepare's pages, after
 * qdamon_source_reserve() for @n, under the lock that the source's other
 * users read @src->armed and @src->nr_armed with.
 */
void qdamon_source_arm(QdamonSource *src, const uint64_t *gpa, size_t n);

/* Whether @gpa is what the last prepare armed at batch index @i. */
static inline bool qdamon_source_armed(const QdamonSource *src, size_t i,
                                       uint64_t gpa)
{
    return i < src->nr_armed && src->armed[i] == gpa;
}

/**
 * qdamon_source_sync: pull the guest's writes out of the accelerator.
 * @src: the source syncing.
 * @sync: what does it (a dirty-log sync, a dirty-ring harvest).
 *
 * Counts and times one sync of @src for query-damon.
 *
 * Returns: what @sync returns.
 * Context: BQL held.
 */
uint64_t qdamon_source_sync(QdamonSource *src, uint64_t (*sync)(void));

/* Count a page that vCPU @cpu_index wrote.  BQL held. */
void qdamon_source_count_vcpu_write(QdamonSource *src, int cpu_index);

/**
 * qdamon_source_ram_page: where the guest-physical page at @gpa lives.
 * @gpa: guest-physical address, QDAMON_PAGE_SIZE aligned.
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
MemoryRegion *qdamon_source_ram_page(uint64_t gpa, hwaddr *xlat);

/**
 * qdamon_source_dirty_log_get: hold qdamon's global dirty-logging flag.
 * @src: the source that needs it (its kind names it in the error).
 *
 * The dirty-bitmap and dirty-ring sources both need dirty logging on
 * (GLOBAL_DIRTY_DAMON, qemu-patches/0005): the first holder turns the
 * flag on, the last qdamon_source_dirty_log_put() turns it off.  The
 * flag nests with migration's, dirty rate's and dirty limit's.
 *
 * Returns: true, or false with @errp set when logging cannot start.
 * Context: BQL held.
 */
bool qdamon_source_dirty_log_get(QdamonSource *src, Error **errp);

/* Release what qdamon_source_dirty_log_get() took.  BQL held. */
void qdamon_source_dirty_log_put(void);

/*
 * Split hints (QdamonSource.has_hints).  A source that gives them sets
 * has_hints at init; its prepare calls qdamon_source_hints_arm(), its
 * observer qdamon_source_hints_see() for each page it sees accessed, and
 * its check qdamon_source_hints_collect(), all under the one lock that
 * orders them.
 */
void qdamon_source_hints_arm(QdamonSource *src);
void qdamon_source_hints_see(QdamonSource *src, uint64_t gpa);
void qdamon_source_hints_collect(QdamonSource *src);

#endif /* QDAMON_SOURCE_COMMON_H */
