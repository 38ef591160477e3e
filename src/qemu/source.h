/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access sources: how a monitor learns that a sampled guest page
 * was accessed.
 *
 * The guest-physical operations set (ops-paddr.c) picks one sampling
 * page per region.  At "prepare" it hands the source the page addresses
 * to arm; one sample interval later, at "check", it asks which of them
 * were accessed since their prepare.  Both calls take whole batches, so
 * a source can do one dirty-log sync per sample, not one per region.
 *
 * Context: prepare and check run on the monitor's driver: its own
 * thread (registered with RCU, BQL not held) for the realtime clock, or
 * the main loop (BQL held) for the virtual clock.  A source that needs
 * the BQL takes it with BQL_LOCK_GUARD(), which works in both.  new and
 * free run under the BQL, from the QMP handlers.
 */
#ifndef QDAMON_SOURCE_H
#define QDAMON_SOURCE_H

#include "qapi/qapi-types-damon.h"

/*
 * The guest page: what a source arms and checks, the step in which the
 * paddr operations set picks sampling addresses, and the alignment of
 * the ranges a monitor is given.
 */
#define QDAMON_PAGE_SIZE 4096ULL

typedef struct QdamonSource QdamonSource;

/* A guest-physical range [start, end): a region, or a split hint. */
typedef struct QdamonHintRange {
    uint64_t start;
    uint64_t end;
} QdamonHintRange;

/* A region of the coming prepare and its index in the batch. */
typedef struct QdamonHintRegion {
    QdamonHintRange range;
    size_t index;
} QdamonHintRegion;

/*
 * What damon-start gives a source besides its kind: files it cannot
 * open itself, as descriptors the caller owns (-1: none).  Only
 * idle-page takes any (the host's pagemap and page_idle bitmap).
 */
typedef struct QdamonSourceOpts {
    int pagemap_fd;
    int idle_bitmap_fd;
} QdamonSourceOpts;

#define QDAMON_SOURCE_OPTS_NONE { .pagemap_fd = -1, .idle_bitmap_fd = -1 }

/**
 * QdamonSourceClass: one kind of access source.
 * @kind: its QAPI name.
 * @sees: what it can see: reads and writes (a hit may be either), or
 *     writes only (every hit is a write, so it can serve as a monitor's
 *     write source).
 * @instance_size: the size of its object, which begins with a
 *     QdamonSource named base; qdamon_source_new() allocates it zeroed.
 * @init: optional: start tracking for a new monitor, with the files of
 *     @opts (dup them to keep them); false with @errp set when the
 *     source cannot work in this VM (e.g. KVM's dirty ring is off), and
 *     then it must leave nothing to undo.
 * @cleanup: optional: stop tracking and free what the object points
 *     to.  Tracking that other users (migration, dirty-limit, other
 *     monitors) need stays on.
 * @prepare: arm the checks of @n page-aligned guest-physical addresses.
 * @check: for each address of the last prepare, set @accessed[i] to
 *     whether the page was accessed since.  @gpa and @n are the same as
 *     at the matching prepare.
 */
typedef struct QdamonSourceClass {
    DamonSourceKind kind;
    DamonSees sees;
    size_t instance_size;
    bool (*init)(QdamonSource *src, const QdamonSourceOpts *opts,
                 Error **errp);
    void (*cleanup)(QdamonSource *src);
    void (*prepare)(QdamonSource *src, const uint64_t *gpa, size_t n);
    void (*check)(QdamonSource *src, const uint64_t *gpa, size_t n,
                  bool *accessed);
} QdamonSourceClass;

/*
 * QDAMON_SOURCE_CLASS: the class of sources of @kind_ that see @sees_,
 * whose objects are of @type_, with the callbacks @init_ (may be NULL),
 * @cleanup_, @prepare_ and @check_.  @type_ must begin with its
 * QdamonSource base.
 */
#define QDAMON_SOURCE_CLASS(kind_, sees_, type_, init_, cleanup_,        \
                            prepare_, check_)                           \
    {                                                                   \
        .kind = (kind_),                                                \
        .sees = (sees_),                                                \
        .instance_size = sizeof(type_) +                                \
            QEMU_BUILD_BUG_ON_ZERO(offsetof(type_, base) != 0),         \
        .init = (init_),                                                \
        .cleanup = (cleanup_),                                          \
        .prepare = (prepare_),                                          \
        .check = (check_),                                              \
    }

/* Every access source starts with this header. */
struct QdamonSource {
    const QdamonSourceClass *cls;
    /*
     * The pages the last prepare armed, by batch index, and how many
     * pages the arrays of the source have room for (source-common.h).
     * Only the source's prepare writes them, with the lock held under
     * which the source's other users read them (the BQL for the
     * dirty-bitmap and dirty-ring sources).
     */
    uint64_t *armed;
    size_t nr_armed;
    size_t alloc;
    /*
     * Syncs: pulling the writes out of the accelerator (a dirty-log
     * sync, a dirty-ring harvest), counted by the sources that do them,
     * with the BQL held, and read under it.
     */
    bool has_syncs;
    uint64_t nr_syncs;
    uint64_t sync_ns;
    /*
     * KVM_CLEAR_DIRTY_LOG ioctls that re-armed sampled pages, counted by
     * the source that issues them (dirty-bitmap).  BQL.
     */
    bool has_clear_ioctls;
    uint64_t nr_clear_ioctls;
    /*
     * What sampling costs the guest, counted by the sources that make
     * it trap (has_guest_cost): pages write-protected again (each costs
     * one write fault at the guest's next write to it) and vCPU kicks
     * (each takes a vCPU out of its code for queued work).  BQL.
     */
    bool has_guest_cost;
    uint64_t nr_rearmed_pages;
    uint64_t nr_vcpu_kicks;
    /*
     * Pages written per vCPU index while the source existed, kept by
     * the sources that learn the writing vCPU (dirty-ring).  BQL.
     */
    bool has_vcpu_writes;
    uint64_t *vcpu_writes;
    size_t nr_vcpus;
    /*
     * Split hints, from the sources that see the address of every
     * access they count (dirty-ring): for each region of the last
     * prepare, the bounding range of the pages seen accessed in it
     * since.  The operations set writes @hint_next (the regions of its
     * next prepare) and reads @hint_out (filled by check), both on the
     * driver.  The source's prepare copies @hint_next to @hint_regions
     * (sorted by address) and empties @hint_box, and its observer widens
     * @hint_box, both under the lock the observer runs with (the BQL for
     * dirty-ring), which is also where @hint_regions, @hint_box and
     * @hint_out grow; @hint_box and @hint_out are by batch index.
     */
    bool has_hints;
    QdamonHintRegion *hint_next;
    QdamonHintRegion *hint_regions;
    QdamonHintRange *hint_box;
    QdamonHintRange *hint_out;
    size_t nr_hint_next;
    size_t nr_hint_regions;
    size_t hint_next_alloc;
    size_t hint_alloc;
};

extern const QdamonSourceClass qdamon_source_dirty_bitmap;
extern const QdamonSourceClass qdamon_source_page_hash;
extern const QdamonSourceClass qdamon_source_dirty_ring;
extern const QdamonSourceClass qdamon_source_tcg_accessed;
extern const QdamonSourceClass qdamon_source_idle_page;

/**
 * qdamon_source_default: the best source available in this VM.
 * @opts: the files damon-start was given.
 * @reason: set to a new string saying why, "default: ..."; g_free() it.
 *
 * Returns: idle-page when @opts gives its files or QEMU can use idle
 * page tracking itself (it sees reads under any accelerator), else
 * tcg-accessed under TCG, else dirty-ring when KVM runs with a dirty
 * ring, else dirty-bitmap.  Never tcg-accessed under qtest, which is
 * not TCG.
 * Context: BQL held.
 */
DamonSourceKind qdamon_source_default(const QdamonSourceOpts *opts,
                                      char **reason);

/**
 * qdamon_idle_page_usable: whether source idle-page can work here.
 * @opts: the files damon-start was given, if any.
 *
 * Returns: true, or false with @errp saying what is missing (no idle
 * page tracking in the host kernel, no permission, PFNs hidden,
 * hugetlbfs or guest_memfd RAM).
 * Context: BQL held.
 */
bool qdamon_idle_page_usable(const QdamonSourceOpts *opts, Error **errp);

/*
 * A new DamonIdlePageInfo for query-damon when @src (may be NULL) is an
 * idle-page source, else NULL.  Context: BQL held.
 */
DamonIdlePageInfo *qdamon_idle_page_info(QdamonSource *src);

/* What sources of @kind see.  @kind must be a valid DamonSourceKind. */
DamonSees qdamon_source_kind_sees(DamonSourceKind kind);

/**
 * qdamon_source_new: create a source of @kind.
 * @opts: files for the source; the caller keeps them.
 *
 * Returns: the source, or NULL with @errp set (unknown or unavailable).
 * Context: BQL held.
 */
QdamonSource *qdamon_source_new(DamonSourceKind kind,
                                const QdamonSourceOpts *opts, Error **errp);

/* Free @src (may be NULL).  Context: BQL held, source not in use. */
void qdamon_source_free(QdamonSource *src);

/* Arm the checks of @n pages at @gpa.  Context: the monitor's driver. */
void qdamon_source_prepare(QdamonSource *src, const uint64_t *gpa,
                           size_t n);

/**
 * qdamon_source_check: which pages of the last prepare were accessed.
 * @gpa: the addresses, as at the last prepare.
 * @n: the number of @gpa.
 * @accessed: set for each of @gpa.
 *
 * Context: the monitor's driver.
 */
void qdamon_source_check(QdamonSource *src, const uint64_t *gpa, size_t n,
                         bool *accessed);

/**
 * qdamon_source_set_hint_regions: the regions of the coming prepare.
 * @src: the source.
 * @start: the start of each region, in batch order.
 * @end: the end of each region.
 * @n: the number of regions: the batch size of the coming prepare.
 *
 * Sources without hints ignore them.
 * Context: the monitor's driver, before qdamon_source_prepare().
 */
void qdamon_source_set_hint_regions(QdamonSource *src, const uint64_t *start,
                                    const uint64_t *end, size_t n);

/**
 * qdamon_source_hint: where in region @i accesses were seen.
 * @src: the source.
 * @i: a batch index of the last prepare.
 * @box: set to the bounding range of the pages seen accessed in region
 *     @i between the last prepare and the last check.
 *
 * Returns: false when @src gives no hints or saw nothing in region @i.
 * Context: the monitor's driver, after qdamon_source_check().
 */
bool qdamon_source_hint(QdamonSource *src, size_t i, QdamonHintRange *box);

/**
 * qdamon_source_vcpu_writes: pages each vCPU wrote while @src existed.
 * @n: set to the number of counts (the highest cpu_index + 1).
 * Returns: a new array of counts by cpu_index, or NULL when @src (may
 * be NULL) does not know which vCPU wrote.
 * Context: BQL held.
 */
uint64_t *qdamon_source_vcpu_writes(QdamonSource *src, size_t *n);

#endif /* QDAMON_SOURCE_H */
