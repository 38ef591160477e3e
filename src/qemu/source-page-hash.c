/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access source "page-hash": a sampled page was accessed when
 * its contents changed.
 *
 * prepare hashes each sampled page; check hashes it again, and the page
 * counts as accessed when the two hashes differ.  Nothing is armed in
 * the guest or in the accelerator: no write protection, no dirty
 * logging, no exits, so it works with every accelerator and costs the
 * guest nothing.  It only reads guest RAM through its host mapping,
 * which touches neither guest memory nor any dirty bitmap.
 *
 * What it cannot see:
 *  - reads, like every source;
 *  - writes that leave the page's bytes as they were (a value written
 *    back unchanged, a lock taken and released within one sample
 *    interval);
 *  - a change whose hash collides with the old one: the lanes of the
 *    hash are bijective in their state, so a change confined to one
 *    lane (in particular any single 8-byte word) is always seen; other
 *    changes are missed with a probability of about 2^-64.
 *
 * Host memory: guest RAM the guest never touched is often not
 * allocated on the host (reserve=off, or simply never written), and
 * reading it would allocate it: a page table per 2 MiB, or a whole
 * 2 MiB huge page where the host backs read faults of MADV_HUGEPAGE
 * memory with real pages.  So prepare first asks mincore() whether the
 * page is resident and does not read it when it is not; the page then
 * counts as accessed at check exactly when it became resident since
 * (the guest touched it).  Sampling thus never grows QEMU's resident
 * set, and costs the same for a 1 GiB and a 256 GiB guest.
 *
 * Cost: one mincore() per sampled page at prepare, and reading 4 KiB
 * per resident sampled page, twice per sample interval (at prepare and
 * at check).  The hash itself runs near memory speed; a
 * page that is not in the host's caches costs about one microsecond
 * (see docs/notes/access-sources.md for measurements).
 *
 * Context: prepare and check need only the RCU read lock, which they
 * take; the driver's thread is registered with RCU.  The BQL is not
 * needed.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-utils.h"
#include "qemu/rcu.h"
#include "exec/memory.h"
#include "source-common.h"
#include "trace.h"

#define PAGE_HASH_WORDS (QDAMON_PAGE_SIZE / sizeof(uint64_t))
#define PAGE_HASH_LANES 8
/* odd, so multiplying by it is a bijection; 2^64 divided by phi */
#define PAGE_HASH_MUL 0x9e3779b97f4a7c15ULL

/* What is known of one armed page (base.armed[i] is its address). */
typedef struct PageHashSample {
    uint64_t hash;      /* its contents at prepare, or at the last check */
    bool ram;           /* it was guest RAM when hashed */
    bool resident;      /* its host page was resident; else @hash is unset */
} PageHashSample;

typedef struct PageHashSource {
    QdamonSource base;
    PageHashSample *samples;    /* by batch index, as base.armed */
    const uint8_t **host;       /* scratch: host pointers of a batch */
    uint64_t *hashes;           /* scratch: their hashes */
    uint8_t *state;             /* scratch: what check found, CHECK_* */
    /*
     * The hashes are those the check just took.  The engine arms the
     * next sample right after a check, so a prepare may keep them for
     * addresses it samples again instead of reading the page twice.
     */
    bool fresh;
} PageHashSource;

/*
 * Eight independent lanes keep the multiplier busy while each lane
 * waits for its previous product.  Each step, state = rotl((state ^
 * word) * odd, 29), is a bijection of the state for a given word, so
 * two pages differing in one lane's words end in different lane states;
 * the rotation carries high bits down so that changes cannot cancel
 * out in the top bit, as they would with multiply-xor alone.
 */
static inline uint64_t page_hash_step(uint64_t lane, uint64_t word)
{
    return rol64((lane ^ word) * PAGE_HASH_MUL, 29);
}

/*
 * One word of guest RAM, which a vCPU may be writing right now: a
 * relaxed atomic load (a plain load on every host QEMU supports), so
 * that the race is a defined one, and a page that changes while it is
 * hashed simply hashes differently, which counts as written.
 */
#define PAGE_WORD(w, i) qatomic_read(&(w)[i])

static uint64_t page_hash(const uint8_t *page)
{
    const uint64_t *w = (const uint64_t *)page;
    /* named lanes, so that they stay in registers */
    uint64_t l0 = 1, l1 = 2, l2 = 3, l3 = 4, l4 = 5, l5 = 6, l6 = 7, l7 = 8;
    uint64_t h;
    size_t i;

    for (i = 0; i < PAGE_HASH_WORDS; i += PAGE_HASH_LANES) {
        l0 = page_hash_step(l0, PAGE_WORD(w, i));
        l1 = page_hash_step(l1, PAGE_WORD(w, i + 1));
        l2 = page_hash_step(l2, PAGE_WORD(w, i + 2));
        l3 = page_hash_step(l3, PAGE_WORD(w, i + 3));
        l4 = page_hash_step(l4, PAGE_WORD(w, i + 4));
        l5 = page_hash_step(l5, PAGE_WORD(w, i + 5));
        l6 = page_hash_step(l6, PAGE_WORD(w, i + 6));
        l7 = page_hash_step(l7, PAGE_WORD(w, i + 7));
    }
    /* rotating each lane differently keeps the sum injective per lane */
    h = l0 + rol64(l1, 8) + rol64(l2, 16) + rol64(l3, 24) +
        rol64(l4, 32) + rol64(l5, 40) + rol64(l6, 48) + rol64(l7, 56);
    h ^= h >> 31;
    h *= PAGE_HASH_MUL;
    return h ^ (h >> 29);
}

/* Start loading @page while the previous page is hashed. */
static void page_prefetch(const uint8_t *page)
{
    size_t off;

    for (off = 0; off < QDAMON_PAGE_SIZE; off += 64) {
        __builtin_prefetch(page + off);
    }
}

/* Host address of the RAM page at @gpa, or NULL.  RCU read lock held. */
static const uint8_t *page_host(uint64_t gpa)
{
    MemoryRegion *mr;
    hwaddr xlat;

    mr = qdamon_source_ram_page(gpa, &xlat);
    if (!mr) {
        return NULL;
    }
    return (const uint8_t *)memory_region_get_ram_ptr(mr) + xlat;
}

/*
 * Whether the host page holding @page is resident, without faulting it
 * in.  When mincore() cannot tell (it fails only for unmapped or
 * unaligned ranges, which guest RAM never is), say yes: reading is
 * then the only way left to know.
 */
static bool page_resident(const uint8_t *page)
{
    uintptr_t psz = qemu_real_host_page_size();
    void *start = (void *)((uintptr_t)page & ~(psz - 1));
    unsigned char vec;

    if (mincore(start, psz, &vec) < 0) {
        return true;
    }
    return vec & 1;
}

/* The first index from @i on whose page is to be hashed, or @n. */
static size_t next_host(PageHashSource *s, size_t i, size_t n)
{
    while (i < n && !s->host[i]) {
        i++;
    }
    return i;
}

/*
 * Hash the pages of s->host[0..n) whose pointer is set into
 * s->hashes[], prefetching one page ahead.  RCU read lock held.
 */
static void hash_batch(PageHashSource *s, size_t n)
{
    size_t i = next_host(s, 0, n);

    while (i < n) {
        size_t next = next_host(s, i + 1, n);

        if (next < n) {
            page_prefetch(s->host[next]);
        }
        s->hashes[i] = page_hash(s->host[i]);
        i = next;
    }
}

static void page_hash_reserve(PageHashSource *s, size_t n)
{
    size_t alloc = qdamon_source_reserve(&s->base, n);

    if (alloc) {
        s->samples = g_renew(PageHashSample, s->samples, alloc);
        s->host = g_renew(const uint8_t *, s->host, alloc);
        s->hashes = g_renew(uint64_t, s->hashes, alloc);
        s->state = g_renew(uint8_t, s->state, alloc);
    }
}

static void page_hash_cleanup(QdamonSource *src)
{
    PageHashSource *s = container_of(src, PageHashSource, base);

    g_free(s->samples);
    g_free(s->host);
    g_free(s->hashes);
    g_free(s->state);
}

static void page_hash_prepare(QdamonSource *src, const uint64_t *gpa,
                              size_t n)
{
    PageHashSource *s = container_of(src, PageHashSource, base);
    size_t i, nr_hashed = 0, nr_kept = 0;

    page_hash_reserve(s, n);
    WITH_RCU_READ_LOCK_GUARD() {
        for (i = 0; i < n; i++) {
            PageHashSample *e = &s->samples[i];

            s->host[i] = NULL;
            if (s->fresh && qdamon_source_armed(src, i, gpa[i])) {
                nr_kept++;
                continue;
            }
            s->host[i] = page_host(gpa[i]);
            e->ram = s->host[i] != NULL;
            e->resident = e->ram && page_resident(s->host[i]);
            if (!e->resident) {
                s->host[i] = NULL;
            }
            nr_hashed += e->resident;
        }
        hash_batch(s, n);
    }
    for (i = 0; i < n; i++) {
        if (s->host[i]) {
            s->samples[i].hash = s->hashes[i];
        }
    }
    qdamon_source_arm(src, gpa, n);
    s->fresh = false;
    trace_qdamon_source_page_hash_prepare(src, n, nr_hashed, nr_kept);
}

/* What check found for one address; see page_hash_check(). */
enum {
    CHECK_SKIP,         /* no "before": the last prepare did not see it */
    CHECK_UNPLUGGED,    /* no longer guest RAM */
    CHECK_ABSENT,       /* still not resident on the host */
    CHECK_HASHED,       /* resident now: hashed into s->hashes[] */
};

/* Classify @gpa[i] for check and set s->host[i] when it is to be hashed. */
static uint8_t check_classify(PageHashSource *s, size_t i, uint64_t gpa)
{
    PageHashSample *e = &s->samples[i];
    const uint8_t *p;

    if (!qdamon_source_armed(&s->base, i, gpa) || !e->ram) {
        return CHECK_SKIP;
    }
    p = page_host(gpa);
    if (!p) {
        return CHECK_UNPLUGGED;
    }
    /*
     * A page resident at prepare is read without asking again: the
     * guest cannot make it non-resident, and host reclaim in between
     * is rare enough to pay one swap-in for.
     */
    if (!e->resident && !page_resident(p)) {
        return CHECK_ABSENT;
    }
    s->host[i] = p;
    return CHECK_HASHED;
}

static void page_hash_check(QdamonSource *src, const uint64_t *gpa,
                            size_t n, bool *accessed)
{
    PageHashSource *s = container_of(src, PageHashSource, base);
    size_t i;

    page_hash_reserve(s, n);
    WITH_RCU_READ_LOCK_GUARD() {
        for (i = 0; i < n; i++) {
            s->host[i] = NULL;
            s->state[i] = check_classify(s, i, gpa[i]);
        }
        hash_batch(s, n);
    }
    for (i = 0; i < n; i++) {
        PageHashSample *e = &s->samples[i];

        accessed[i] = false;
        switch (s->state[i]) {
        case CHECK_UNPLUGGED:
            e->ram = false;
            break;
        case CHECK_HASHED:
            /* resident since prepare: the guest touched it */
            accessed[i] = !e->resident || s->hashes[i] != e->hash;
            e->hash = s->hashes[i];
            e->resident = true;
            break;
        }
    }
    s->fresh = true;
}

/* Nothing to set up: a zeroed object hashes from the first prepare. */
const QdamonSourceClass qdamon_source_page_hash =
    QDAMON_SOURCE_CLASS(DAMON_SOURCE_KIND_PAGE_HASH,
                        DAMON_SEES_WRITES_ONLY, PageHashSource, NULL,
                        page_hash_cleanup, page_hash_prepare,
                        page_hash_check);
