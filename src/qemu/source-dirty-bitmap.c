/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access source "dirty-bitmap": QEMU's dirty logging.
 *
 * A sampled page was accessed when it was written since its prepare.
 * The writes come from QEMU's dirty-memory bitmaps, through a client of
 * qdamon's own, DIRTY_MEMORY_DAMON, turned on by a global dirty-logging
 * flag of its own, GLOBAL_DIRTY_DAMON (qemu-patches/0005-qdamon-dirty-
 * memory-client.patch).  Every writer fills that client: TCG's notdirty
 * path, device and qtest writes through the region's dirty-log mask,
 * and KVM's dirty log (or dirty rings) at each sync.
 *
 * Migration safety: this file only ever clears DIRTY_MEMORY_DAMON bits.
 * Clearing one also re-arms the page below QEMU: under TCG the TLB
 * entries get TLB_NOTDIRTY again, so the next store takes the notdirty
 * path, which sets every client's bit but CODE; under KVM with manual
 * dirty-log protection the page is write-protected again with
 * KVM_CLEAR_DIRTY_LOG, and KVM clears only the bits the last sync
 * already copied into every client's bitmap (VGA always, MIGRATION
 * while any global flag is on, DAMON while ours is), so migration,
 * dirty rate, dirty limit and displays keep all they need.
 * The one exception is the fault-injection switch below, for tests.
 *
 * Several monitors: all dirty-bitmap sources of the VM share the one
 * client, so they form a hub (the list below).  A bit is cleared only
 * when a prepare arms its page, and whoever clears a set bit hands it on
 * to every other source that has the same page armed, before discarding
 * it for its own new sample.  A check only reads bits, so it takes
 * nothing from anybody.  Thus no monitor's clear eats another's
 * information, whatever pages they sample.
 *
 * Cost per sample interval and monitor: one dirty-log sync (at check;
 * the prepare that follows at once reuses it), one bitmap read per
 * sampled page, and one clear per sampled page that was written (under
 * KVM, one ioctl per slot for all of them, see below).  With
 * TCG and qtest the sync is free.  With KVM's dirty log it copies the
 * kernel's bitmap of every logged slot, so it grows with guest RAM
 * (a bit per 4 KiB page: 32 KiB per GiB).  Only written sampled pages
 * are re-protected, so the guest takes write faults on at most one page
 * per region per sample interval; pages qdamon does not sample stay
 * writable.  Nothing here snapshots whole blocks.
 *
 * Under KVM the clears are batched: QEMU's clear of one page is a
 * KVM_CLEAR_DIRTY_LOG of its own (per KVM address space, so two with
 * SMM), and a prepare re-arms up to one page per region.  So a prepare
 * clears the DAMON bits alone, then re-protects all its written pages
 * with kvm_dirty_log_clear_pages() (qemu-patches/0008-qdamon-kvm-clear-
 * pages.patch): one ioctl per slot and address space, whose bitmap has
 * just those pages.  A range clear over them would be one ioctl too,
 * but it would re-protect every page written in the range, and the
 * guest would fault on its whole hot set every sample.  The ioctls are
 * counted (query-damon's nr-clear-ioctls).
 *
 * A RAMBlock starts all dirty when it is added or resized.  The first
 * prepare of each page clears whatever the bit held, so that initial
 * state never counts as a write.
 *
 * Context: prepare and check take the BQL (dirty-log syncs and clears
 * walk the memory listeners); init and cleanup run with it held.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/queue.h"
#include "qemu/rcu.h"
#include "qemu/accel.h"
#include "exec/memory.h"
#include "exec/ram_addr.h"
#include "system/kvm.h"
#include "system/qtest.h"
#include "system/tcg.h"
#include "source-common.h"
#include "trace.h"

/*
 * Fault injection for tests only: when this environment variable is
 * "1" at init, the source also clears DIRTY_MEMORY_MIGRATION on every
 * page it samples, at prepare and at check.  That deliberately loses
 * writes a running migration needs; the migration test sets it to
 * prove that it can detect such a loss.  Never set it otherwise.
 */
#define DIRTY_BITMAP_STEAL_ENV "QDAMON_TEST_STEAL_MIGRATION_BITS"

/*
 * For benchmarks only: when this environment variable is "1" at init,
 * the source re-arms each written page under KVM on its own, through
 * QEMU's clear of one page (one KVM_CLEAR_DIRTY_LOG per page and KVM
 * address space), as it did before the batched clear; tests/nested/
 * kvm-bitmap-clear.py compares the two.  Both lose nothing.
 */
#define DIRTY_BITMAP_PER_PAGE_ENV "QDAMON_BENCH_PER_PAGE_CLEAR"

/* What the last prepare found for one armed page. */
typedef struct DirtyBitmapPage {
    ram_addr_t addr;    /* RAM_ADDR_INVALID: not guest RAM at prepare */
    /*
     * Written since prepare, learnt from another source that cleared the
     * page's bit.  Otherwise the bit itself still says it.
     */
    bool accessed;
} DirtyBitmapPage;

typedef struct DirtyBitmapSource DirtyBitmapSource;

struct DirtyBitmapSource {
    QdamonSource base;
    QLIST_ENTRY(DirtyBitmapSource) next;
    DirtyBitmapPage *pages;         /* by batch index, as base.armed */
    uint32_t ram_version;           /* ram_list.version at prepare */
    /* the last call was a check, whose sync the next prepare may use */
    bool synced;
    bool steal_migration;           /* DIRTY_BITMAP_STEAL_ENV */
    bool per_page;                  /* DIRTY_BITMAP_PER_PAGE_ENV */
};

/* The hub: every dirty-bitmap source of the VM.  Protected by the BQL. */
static QLIST_HEAD(, DirtyBitmapSource) dirty_bitmap_sources =
    QLIST_HEAD_INITIALIZER(dirty_bitmap_sources);
static unsigned int dirty_bitmap_nr_sources;
/*
 * scratch of prepare: the pages whose bit it cleared, to hand on and,
 * under KVM, to re-protect
 */
static GArray *dirty_bitmap_cleared;

/* ram_addr_t of the guest RAM page at @gpa, or RAM_ADDR_INVALID. */
static ram_addr_t dirty_bitmap_ram_addr(uint64_t gpa)
{
    MemoryRegion *mr;
    hwaddr xlat;

    mr = qdamon_source_ram_page(gpa, &xlat);
    if (!mr || !mr->ram_block) {
        return RAM_ADDR_INVALID;
    }
    return memory_region_get_ram_addr(mr) + xlat;
}

static bool dirty_bitmap_written(ram_addr_t addr)
{
    return cpu_physical_memory_get_dirty_flag(addr, DIRTY_MEMORY_DAMON);
}

/*
 * Clear the page's DAMON bit; under TCG and qtest also re-arm its write
 * tracking there and then.  Reading first spares pages that were not
 * written the clear's costs (a walk of every vCPU's TLB under TCG).
 * Under KVM only the bit goes here: the caller re-protects the pages
 * whose bit was set all at once (dirty_bitmap_rearm_kvm()).
 *
 * Returns: whether the bit was set.
 * Context: BQL and RCU read lock held; @addr translated under both.
 */
static bool dirty_bitmap_clear(DirtyBitmapSource *s, ram_addr_t addr)
{
    DirtyMemoryBlocks *blocks;
    unsigned long page = addr >> TARGET_PAGE_BITS;

    if (!dirty_bitmap_written(addr)) {
        return false;
    }
    if (!kvm_enabled() || s->per_page) {
        return cpu_physical_memory_test_and_clear_dirty(addr,
                                                        QDAMON_PAGE_SIZE,
                                                        DIRTY_MEMORY_DAMON);
    }
    blocks = qatomic_rcu_read(&ram_list.dirty_memory[DIRTY_MEMORY_DAMON]);
    return bitmap_test_and_clear_atomic(
        blocks->blocks[page / DIRTY_MEMORY_BLOCK_SIZE],
        page % DIRTY_MEMORY_BLOCK_SIZE, 1);
}

/* Fault injection (DIRTY_BITMAP_STEAL_ENV): eat migration's bit. */
static void dirty_bitmap_steal(DirtyBitmapSource *s, ram_addr_t addr)
{
    if (s->steal_migration &&
        cpu_physical_memory_test_and_clear_dirty(addr, QDAMON_PAGE_SIZE,
                                                 DIRTY_MEMORY_MIGRATION)) {
        trace_qdamon_source_dirty_bitmap_steal(s, addr);
    }
}

static int dirty_bitmap_cmp_addr(gconstpointer a, gconstpointer b)
{
    ram_addr_t x = *(const ram_addr_t *)a;
    ram_addr_t y = *(const ram_addr_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * @self cleared the bits of the pages in @cleared (sorted): tell every
 * other source that has one of them armed that it was written.  BQL
 * held.
 */
static void dirty_bitmap_hand_on(DirtyBitmapSource *self, GArray *cleared)
{
    DirtyBitmapSource *o;
    size_t i;

    QLIST_FOREACH(o, &dirty_bitmap_sources, next) {
        if (o == self) {
            continue;
        }
        for (i = 0; i < o->base.nr_armed; i++) {
            DirtyBitmapPage *e = &o->pages[i];

            if (!e->accessed && e->addr != RAM_ADDR_INVALID &&
                bsearch(&e->addr, cleared->data, cleared->len,
                        sizeof(ram_addr_t), dirty_bitmap_cmp_addr)) {
                e->accessed = true;
            }
        }
    }
}

static bool dirty_bitmap_accel_logs(Error **errp)
{
    /*
     * These fill the dirty bitmaps; other accelerators (hvf, whpx,
     * nvmm) never report a write, and a source that always says "not
     * accessed" would pass for an idle guest.
     */
    if (tcg_enabled() || kvm_enabled() || qtest_enabled()) {
        return true;
    }
    error_setg(errp, "source 'dirty-bitmap' needs KVM, TCG or qtest: "
               "accelerator '%s' does not log dirty pages; "
               "use 'page-hash'", current_accel_name());
    return false;
}

static bool dirty_bitmap_init(QdamonSource *src,
                              const QdamonSourceOpts *opts, Error **errp)
{
    DirtyBitmapSource *s = container_of(src, DirtyBitmapSource, base);
    const char *steal = getenv(DIRTY_BITMAP_STEAL_ENV);
    const char *per_page = getenv(DIRTY_BITMAP_PER_PAGE_ENV);

    assert(bql_locked());
    /*
     * The flag nests with migration's and the others'; the first
     * qdamon source holding it turns it on, the last one off.
     */
    if (!dirty_bitmap_accel_logs(errp) ||
        !qdamon_source_dirty_log_get(src, errp)) {
        return false;
    }
    if (!dirty_bitmap_nr_sources) {
        dirty_bitmap_cleared = g_array_new(false, false, sizeof(ram_addr_t));
    }
    src->has_clear_ioctls = true;
    src->has_guest_cost = true;
    s->steal_migration = steal && !strcmp(steal, "1");
    s->per_page = per_page && !strcmp(per_page, "1");
    if (s->steal_migration) {
        warn_report("qdamon: %s=1: the dirty-bitmap source clears "
                    "migration's dirty bits (test fault injection); "
                    "migration will lose guest writes",
                    DIRTY_BITMAP_STEAL_ENV);
    }
    QLIST_INSERT_HEAD(&dirty_bitmap_sources, s, next);
    dirty_bitmap_nr_sources++;
    trace_qdamon_source_dirty_bitmap_init(s, dirty_bitmap_nr_sources,
                                          s->steal_migration);
    return true;
}

static void dirty_bitmap_cleanup(QdamonSource *src)
{
    DirtyBitmapSource *s = container_of(src, DirtyBitmapSource, base);

    assert(bql_locked());
    QLIST_REMOVE(s, next);
    dirty_bitmap_nr_sources--;
    trace_qdamon_source_dirty_bitmap_cleanup(s, dirty_bitmap_nr_sources);
    /*
     * Bits this source cleared stay clear; under TCG the next store to
     * such a page takes the notdirty path once and sets them.
     */
    qdamon_source_dirty_log_put();
    if (!dirty_bitmap_nr_sources) {
        g_array_free(dirty_bitmap_cleared, true);
        dirty_bitmap_cleared = NULL;
    }
    g_free(s->pages);
}

/* One dirty-log sync (qdamon_source_sync()).  BQL held. */
static uint64_t dirty_bitmap_sync(void)
{
    memory_global_dirty_log_sync(false);
    return 0;
}

/*
 * Arm @gpa[i]: clear its page's bit, and note it in @cleared when
 * other sources may have it armed too or KVM must re-protect it.
 * Returns whether it was set.  BQL and RCU read lock held.
 */
static bool dirty_bitmap_arm(DirtyBitmapSource *s, size_t i, uint64_t gpa,
                             GArray *cleared)
{
    DirtyBitmapPage *e = &s->pages[i];

    e->addr = dirty_bitmap_ram_addr(gpa);
    e->accessed = false;
    if (e->addr == RAM_ADDR_INVALID) {
        return false;
    }
    dirty_bitmap_steal(s, e->addr);
    if (!dirty_bitmap_clear(s, e->addr)) {
        return false;
    }
    if (dirty_bitmap_nr_sources > 1 || (kvm_enabled() && !s->per_page)) {
        g_array_append_val(cleared, e->addr);
    }
    return true;
}

/*
 * Write-protect again in KVM the pages whose DAMON bit @s just cleared
 * (sorted @cleared), one KVM_CLEAR_DIRTY_LOG per slot.  BQL held.
 */
static void dirty_bitmap_rearm_kvm(DirtyBitmapSource *s, GArray *cleared)
{
    QEMU_BUILD_BUG_ON(sizeof(ram_addr_t) != sizeof(uint64_t));
    if (kvm_enabled() && !s->per_page && cleared->len) {
        s->base.nr_clear_ioctls +=
            kvm_dirty_log_clear_pages((const uint64_t *)cleared->data,
                                      cleared->len);
    }
}

static void dirty_bitmap_prepare(QdamonSource *src, const uint64_t *gpa,
                                 size_t n)
{
    DirtyBitmapSource *s = container_of(src, DirtyBitmapSource, base);
    GArray *cleared = dirty_bitmap_cleared;
    size_t i, nr_cleared = 0;

    BQL_LOCK_GUARD();
    /*
     * Writes made before now must not count: pull them out of the
     * accelerator, unless the check just before did (the engine arms
     * right after checking, so a second sync would find next to
     * nothing; a write in between counts in the new interval).
     */
    if (!s->synced) {
        qdamon_source_sync(src, dirty_bitmap_sync);
    }
    s->synced = false;
    if (qdamon_source_reserve(src, n)) {
        s->pages = g_renew(DirtyBitmapPage, s->pages, src->alloc);
    }
    g_array_set_size(cleared, 0);
    WITH_RCU_READ_LOCK_GUARD() {
        s->ram_version = ram_list.version;
        for (i = 0; i < n; i++) {
            nr_cleared += dirty_bitmap_arm(s, i, gpa[i], cleared);
        }
    }
    qdamon_source_arm(src, gpa, n);
    if (cleared->len) {
        g_array_sort(cleared, dirty_bitmap_cmp_addr);
        dirty_bitmap_rearm_kvm(s, cleared);
    }
    if (cleared->len && dirty_bitmap_nr_sources > 1) {
        dirty_bitmap_hand_on(s, cleared);
    }
    /* a write fault (or TLB refill under TCG) each, at the next write */
    src->nr_rearmed_pages += nr_cleared;
    trace_qdamon_source_dirty_bitmap_prepare(s, n, nr_cleared);
}

/*
 * Whether armed page @i, at @gpa, was written since prepare.  @moved:
 * RAMBlocks were added or removed since prepare.  BQL and RCU read lock
 * held.
 */
static bool dirty_bitmap_page_written(DirtyBitmapSource *s, size_t i,
                                      uint64_t gpa, bool moved)
{
    DirtyBitmapPage *e = &s->pages[i];

    if (!qdamon_source_armed(&s->base, i, gpa) ||
        e->addr == RAM_ADDR_INVALID) {
        return false;
    }
    /*
     * A RAMBlock added or removed since prepare may have moved the
     * page: look it up again rather than read another block's bits
     * (or, when stealing, clear them).
     */
    if (moved && dirty_bitmap_ram_addr(gpa) != e->addr) {
        e->addr = RAM_ADDR_INVALID;
        return false;
    }
    dirty_bitmap_steal(s, e->addr);
    return e->accessed || dirty_bitmap_written(e->addr);
}

static void dirty_bitmap_check(QdamonSource *src, const uint64_t *gpa,
                               size_t n, bool *accessed)
{
    DirtyBitmapSource *s = container_of(src, DirtyBitmapSource, base);
    size_t i;

    BQL_LOCK_GUARD();
    qdamon_source_sync(src, dirty_bitmap_sync);
    s->synced = true;
    WITH_RCU_READ_LOCK_GUARD() {
        bool moved = ram_list.version != s->ram_version;

        for (i = 0; i < n; i++) {
            accessed[i] = dirty_bitmap_page_written(s, i, gpa[i], moved);
        }
    }
}

const QdamonSourceClass qdamon_source_dirty_bitmap =
    QDAMON_SOURCE_CLASS(DAMON_SOURCE_KIND_DIRTY_BITMAP,
                        DAMON_SEES_WRITES_ONLY, DirtyBitmapSource,
                        dirty_bitmap_init, dirty_bitmap_cleanup,
                        dirty_bitmap_prepare, dirty_bitmap_check);
