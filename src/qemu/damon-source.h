/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access sources: how a monitor learns that a sampled guest page
 * was accessed.
 *
 * The guest-physical operations set (damon-paddr.c) picks one sampling
 * page per region.  At "prepare" it hands the source the page addresses
 * to arm; one sample interval later, at "check", it asks which of them
 * were accessed since their prepare.  Both calls take whole batches, so
 * a source can do one dirty-log sync per sample, not one per region.
 *
 * Context: prepare and check run on the monitor's driver: its own
 * thread (registered with RCU, BQL not held) for the realtime clock, or
 * the main loop (BQL held) for the virtual clock.  A source that needs
 * the BQL takes it with BQL_LOCK_GUARD(), which works in both.  create
 * and destroy run under the BQL, from the QMP handlers.
 */
#ifndef QDAMON_DAMON_SOURCE_H
#define QDAMON_DAMON_SOURCE_H

#include "qapi/qapi-types-damon.h"

typedef struct DamonAccessSource DamonAccessSource;

/**
 * DamonAccessSourceClass: one access source implementation.
 * @kind: its QAPI name.
 * @create: start tracking for a new monitor; NULL with @errp set when
 *     the source cannot work in this VM (e.g. KVM's dirty ring is off).
 * @destroy: stop tracking and free.  Tracking that other users
 *     (migration, dirty-limit, other monitors) need stays on.
 * @prepare: arm the checks of @n page-aligned guest-physical addresses.
 * @check: for each address of the last prepare, set @accessed[i] to
 *     whether the page was accessed since.  @gpa and @n are the same as
 *     at the matching prepare.
 * @vcpu_writes: optional: the pages each vCPU wrote while the source
 *     existed, indexed by cpu_index, as a new array of *@n counts.
 *     Only sources that learn the writing vCPU (dirty-ring) have it.
 *     BQL held.
 */
typedef struct DamonAccessSourceClass {
    DamonSource kind;
    DamonAccessSource *(*create)(Error **errp);
    void (*destroy)(DamonAccessSource *src);
    void (*prepare)(DamonAccessSource *src, const uint64_t *gpa, size_t n);
    void (*check)(DamonAccessSource *src, const uint64_t *gpa, size_t n,
                  bool *accessed);
    uint64_t *(*vcpu_writes)(DamonAccessSource *src, size_t *n);
} DamonAccessSourceClass;

/* Every access source starts with this header. */
struct DamonAccessSource {
    const DamonAccessSourceClass *cls;
    /*
     * Syncs: pulling the writes out of the accelerator (a dirty-log
     * sync, a dirty-ring harvest), counted by the sources that do them,
     * with the BQL held, and read under it.
     */
    bool has_syncs;
    uint64_t nr_syncs;
    uint64_t sync_ns;
};

/* Count one sync of @src that began at @start_ns (get_clock()).  BQL held. */
void damon_source_account_sync(DamonAccessSource *src, int64_t start_ns);

extern const DamonAccessSourceClass damon_source_dirty_bitmap;
extern const DamonAccessSourceClass damon_source_page_hash;
extern const DamonAccessSourceClass damon_source_dirty_ring;

/**
 * damon_source_default: the best source available in this VM.
 *
 * Returns: dirty-ring when KVM runs with a dirty ring, else
 * dirty-bitmap.
 */
DamonSource damon_source_default(void);

/**
 * damon_source_create: create a source of @kind.
 *
 * Returns: the source, or NULL with @errp set (unknown or unavailable).
 */
DamonAccessSource *damon_source_create(DamonSource kind, Error **errp);

/**
 * damon_source_vcpu_writes: pages each vCPU wrote while @src existed.
 * @n: set to the number of counts (the highest cpu_index + 1).
 * Returns: a new array of counts by cpu_index, or NULL when @src (may
 * be NULL) does not know which vCPU wrote.
 * Context: BQL held.
 */
uint64_t *damon_source_vcpu_writes(DamonAccessSource *src, size_t *n);

/* Destroy @src (may be NULL). */
void damon_source_destroy(DamonAccessSource *src);

#endif /* QDAMON_DAMON_SOURCE_H */
