/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon scheme actions: madvise() and move_pages() on the host memory
 * that backs guest RAM.
 *
 * Guest RAM is looked up in the guest's view (address_space_memory)
 * under RCU, piece by piece, like the access sources do: a RAM block
 * cannot be freed while a piece's RCU read section lasts, so the host
 * pointer stays valid through the system call.  Pieces are at most
 * QDAMON_ACT_CHUNK, which bounds how long one section holds back
 * reclamation of unplugged memory.
 *
 * While a migration runs, actions other than stat wait: paging out or
 * moving memory the migration thread is about to read would make it
 * fault the memory back in (or send it twice), and a scheme must never
 * slow a migration to a stop.  The regions are counted as skipped
 * ('migration') and tried again at the next apply after it.
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include "qemu/units.h"
#include "qemu/rcu.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "exec/ramblock.h"
#include "migration/misc.h"
#include "system/runstate.h"
#include "actions.h"
#include "metrics.h"
#include "ops-paddr.h"
#include "schemes.h"
#include "source.h"

#define QDAMON_ACT_CHUNK    (2 * MiB)
#define QDAMON_THP_SIZE     (2 * MiB)

#ifndef MADV_COLD
#define MADV_COLD           20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT        21
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE        (1 << 1)
#endif

/* Whether a RamDiscardManager (virtio-mem) has this piece plugged. */
static bool is_plugged(MemoryRegion *mr, hwaddr xlat, hwaddr len)
{
    MemoryRegionSection section = {
        .mr = mr,
        .offset_within_region = xlat,
        .size = int128_make64(len),
    };

    if (!memory_region_has_ram_discard_manager(mr)) {
        return true;
    }
    return ram_discard_manager_is_populated(
        memory_region_get_ram_discard_manager(mr), &section);
}

static uint64_t advise(struct damos *s, void *host, size_t len, int advice)
{
    if (madvise(host, len, advice) == 0) {
        return len;
    }
    qdamon_scheme_skip(s, DAMON_SCHEME_SKIP_REASON_FAILED, len, errno);
    return 0;
}

static uint64_t pageout(struct damos *s, void *host, size_t len)
{
    uint64_t before = qdamon_resident_bytes(host, len), after;

    if (!advise(s, host, len, MADV_PAGEOUT)) {
        return 0;
    }
    after = qdamon_resident_bytes(host, len);
    return before > after ? before - after : 0;
}

/* MADV_(NO)HUGEPAGE on the 2 MiB-aligned part of the piece only. */
static uint64_t thp_advise(struct damos *s, void *host, size_t len,
                           int advice)
{
    uintptr_t a = (uintptr_t)host, e = a + len;
    uintptr_t as = ROUND_UP(a, QDAMON_THP_SIZE);
    uintptr_t ae = QEMU_ALIGN_DOWN(e, QDAMON_THP_SIZE);

    if (as >= ae) {
        qdamon_scheme_skip(s, DAMON_SCHEME_SKIP_REASON_UNALIGNED, len, 0);
        return 0;
    }
    qdamon_scheme_skip(s, DAMON_SCHEME_SKIP_REASON_UNALIGNED,
                       (as - a) + (e - ae), 0);
    return advise(s, (void *)as, ae - as, advice);
}

static uint64_t migrate(struct damos *s, void *host, size_t len)
{
    size_t page = qemu_real_host_page_size();
    size_t n = len / page, i;
    g_autofree void **pages = g_new(void *, n);
    g_autofree int *nodes = g_new(int, n);
    g_autofree int *status = g_new(int, n);
    uint64_t moved = 0;

    for (i = 0; i < n; i++) {
        pages[i] = (uint8_t *)host + i * page;
        nodes[i] = s->target_nid;
    }
    if (syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE)
        < 0) {
        qdamon_scheme_skip(s, DAMON_SCHEME_SKIP_REASON_FAILED, len, errno);
        return 0;
    }
    /* a page never touched has no node (-ENOENT): nothing to move */
    for (i = 0; i < n; i++) {
        moved += status[i] == s->target_nid ? page : 0;
    }
    return moved;
}

static uint64_t act_on_host(struct damos *s, void *host, size_t len)
{
    switch (s->action) {
    case DAMOS_PAGEOUT:
        return pageout(s, host, len);
    case DAMOS_COLD:
        return advise(s, host, len, MADV_COLD);
    case DAMOS_WILLNEED:
        return advise(s, host, len, MADV_WILLNEED);
    case DAMOS_HUGEPAGE:
        return thp_advise(s, host, len, MADV_HUGEPAGE);
    case DAMOS_NOHUGEPAGE:
        return thp_advise(s, host, len, MADV_NOHUGEPAGE);
    case DAMOS_MIGRATE_HOT:
    case DAMOS_MIGRATE_COLD:
        return migrate(s, host, len);
    default:
        return 0;
    }
}

/* Why @s cannot act on @mr's memory, or -1 if it can. */
static int cannot_act(struct damos *s, MemoryRegion *mr, hwaddr xlat,
                      hwaddr len)
{
    if (!qdamon_mr_is_guest_ram(mr) || !is_plugged(mr, xlat, len)) {
        return DAMON_SCHEME_SKIP_REASON_NOT_RAM;
    }
    if (s->action != DAMOS_WILLNEED &&
        qemu_ram_pagesize(mr->ram_block) > qemu_real_host_page_size()) {
        return DAMON_SCHEME_SKIP_REASON_HUGETLBFS;
    }
    return -1;
}

/* One piece, inside one region of the guest's view: its length. */
static hwaddr act_piece(struct damos *s, uint64_t gpa, uint64_t end,
                        uint64_t *applied)
{
    /*
     * Pieces end at 2 MiB boundaries of guest-physical addresses: guest
     * RAM blocks are 2 MiB aligned on the host too (QEMU aligns them
     * for THP), so a huge-page block is never cut in two.
     */
    hwaddr xlat, len = MIN(end - gpa, QDAMON_ACT_CHUNK -
                           (gpa & (QDAMON_ACT_CHUNK - 1)));
    MemoryRegion *mr;
    int why;

    RCU_READ_LOCK_GUARD();
    mr = address_space_translate(&address_space_memory, gpa, &xlat, &len,
                                 false, MEMTXATTRS_UNSPECIFIED);
    len = MAX(QEMU_ALIGN_DOWN(len, QDAMON_PAGE_SIZE), QDAMON_PAGE_SIZE);
    why = cannot_act(s, mr, xlat, len);
    if (why >= 0) {
        qdamon_scheme_skip(s, why, len, 0);
        return len;
    }
    *applied += act_on_host(s, (uint8_t *)memory_region_get_ram_ptr(mr) +
                            xlat, len);
    return len;
}

/*
 * Whether an outgoing migration runs, kept for the monitor threads by a
 * migration notifier (main loop).  They must not call
 * migration_is_running() themselves: QEMU frees its MigrationState at
 * exit (migration_shutdown(), early in qemu_cleanup()), while the exit
 * notifier that stops them runs only at atexit() time.
 */
static bool outgoing_migration;
static NotifierWithReturn migration_notifier;

static int migration_event(NotifierWithReturn *n, MigrationEvent *e,
                           Error **errp)
{
    qatomic_set(&outgoing_migration, e->type == MIG_EVENT_PRECOPY_SETUP);
    return 0;
}

void qdamon_actions_init(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    migration_add_notifier(&migration_notifier, migration_event);
    qatomic_set(&outgoing_migration, migration_is_running());
}

/*
 * Is guest RAM being saved or loaded?  An outgoing migration or a savevm,
 * and an incoming migration (-incoming, until the switch-over, or its
 * postcopy phase) or a loadvm, which write guest RAM: an action then
 * only makes the transfer fault pages back in, or advises on pages about
 * to be overwritten.  The run state is read without the BQL: a stale
 * answer costs one apply.
 */
static bool ram_in_transfer(void)
{
    return qatomic_read(&outgoing_migration) ||
        runstate_check(RUN_STATE_SAVE_VM) ||
        runstate_check(RUN_STATE_INMIGRATE) ||
        runstate_check(RUN_STATE_RESTORE_VM) ||
        migration_in_incoming_postcopy();
}

uint64_t qdamon_act(struct damon_ctx *ctx, struct damos *s, uint64_t start,
                    uint64_t end)
{
    uint64_t gpa = start, applied = 0;

    if (s->action == DAMOS_STAT) {
        return 0;
    }
    if (ram_in_transfer()) {
        qdamon_scheme_skip(s, DAMON_SCHEME_SKIP_REASON_MIGRATION,
                           end - start, 0);
        return 0;
    }
    while (gpa < end) {
        gpa += act_piece(s, gpa, end, &applied);
        /* a query need not wait for a long action to end */
        damon_call_serve_read_only(ctx);
    }
    return applied;
}
