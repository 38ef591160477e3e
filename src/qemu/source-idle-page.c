/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon access source idle-page: the host's accessed bits, read through
 * Linux's idle page tracking (Documentation/admin-guide/mm/
 * idle_page_tracking.rst).
 *
 * A sampled guest page lives at a host virtual address (its RAMBlock);
 * /proc/PID/pagemap gives the host page frame (PFN) behind it, and
 * /sys/kernel/mm/page_idle/bitmap has one bit per PFN.  Prepare sets the
 * bits of the sampled pages' PFNs, which clears the accessed bits of
 * every mapping of those pages, KVM's EPT/NPT entries included (through
 * the MMU notifiers' clear_young).  Check reads the bits back: a bit the
 * kernel cleared means someone (a vCPU, a device model, QEMU itself)
 * accessed the page since.  So this source sees reads as well as writes,
 * under any accelerator.
 *
 * What it gets wrong, and how it says so (DamonIdlePageInfo):
 *  - a transparent huge page has one idle flag, on its head page; the
 *    bitmap ignores tail pages.  A sample inside one marks the head and
 *    answers for the whole 2 MiB ("huge" samples, granularity 2 MiB);
 *  - pages off the LRU (hugetlbfs, guest_memfd, pages briefly isolated)
 *    and tail pages of large folios read "not idle" forever: hugetlbfs
 *    and guest_memfd RAM are refused at init; any other small page that
 *    reads not idle right after it was marked (twice) is counted
 *    "unknown" and not accessed;
 *  - a page with no PFN (never touched, swapped out) is not accessed
 *    until it has one again (as a page fault would tell);
 *  - page_idle bits are host-wide: two users marking the same page
 *    clear each other's accesses.  Only one idle-page monitor runs per
 *    QEMU, and kernel DAMON must not watch this process at the same
 *    time.
 *
 * Syscalls come in batches: the sampled pages are sorted, and each run
 * of nearby pagemap entries or bitmap words is one pread or pwrite.  Per
 * sampled page that is one pagemap read and one bitmap write at prepare
 * (plus a read back for a small page, and a read of its 2 MiB's first
 * and last entries for a page that may be huge, the first time),
 * and one pagemap and one bitmap read at check; a page with no host page
 * costs the two pagemap reads only.
 *
 * Context: prepare and check run on the monitor's driver (source.h).
 * The counters that query-damon reads have one writer, the driver, and
 * are read with qatomic_read() under the BQL; init and cleanup run
 * under the BQL.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "exec/cpu-common.h"
#include "source-common.h"

#define IDLE_BITMAP_PATH    "/sys/kernel/mm/page_idle/bitmap"
#define LRU_GEN_PATH        "/sys/kernel/mm/lru_gen/enabled"

/* pagemap entries (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PFN_MASK         ((1ULL << 55) - 1)
#define PM_PRESENT          (1ULL << 63)

/*
 * A PMD-mapped transparent huge page: 2 MiB of 4 KiB host pages, the
 * size QEMU aligns guest RAM to for them (QEMU_VMALLOC_ALIGN on x86-64).
 */
#define THP_PAGES           512ULL

/* Entries or words further apart than this are read in separate calls. */
#define BATCH_GAP           16

/*
 * Most 2 MiB blocks remembered as huge (64 GiB of guest RAM's worth),
 * and for how many prepares: a huge page split in place keeps its PFNs,
 * so only forgetting finds it (then within about a second at 5 ms).
 */
#define HEADS_MAX           32768
#define HEADS_PREPARES      256

typedef enum IdleState {
    IDLE_NONE,          /* not plain RAM: never accessed */
    IDLE_ABSENT,        /* no host page at prepare */
    IDLE_MARKED,        /* its PFN (or its huge page's head) marked idle */
    IDLE_UNKNOWN,       /* page_idle cannot track it */
    IDLE_RETRY,         /* at prepare only: read back not idle once */
} IdleState;

typedef struct IdleSample {
    uint64_t vpn;       /* host virtual page number */
    uint64_t pfn;       /* the page's PFN at prepare */
    uint64_t mark;      /* the PFN whose idle bit answers for it */
    uint8_t state;      /* IdleState */
    bool huge;
} IdleSample;

typedef struct IdlePageSource {
    QdamonSource base;
    int pagemap_fd;
    int bitmap_fd;
    IdleSample *s;      /* per batch index, room for base.alloc */
    /*
     * 2 MiB blocks found huge: first host page -> head PFN + 1.  A hint
     * only: a sample trusts it while its own PFN follows the head.
     */
    GHashTable *heads;
    uint64_t nr_prepares;
    bool mglru;
    /* written by the driver, read by query-damon: see the top comment */
    uint64_t nr_small, nr_huge, nr_absent, nr_unknown, time_ns;
} IdlePageSource;

/* Monitors using this source (one at most).  BQL. */
static unsigned int idle_page_users;

/* ---- batched pagemap and bitmap I/O ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Sort @keys and drop repeats; returns how many are left. */
static size_t sort_unique(uint64_t *keys, size_t n)
{
    size_t i, m = 0;

    qsort(keys, n, sizeof(*keys), cmp_u64);
    for (i = 0; i < n; i++) {
        if (!m || keys[m - 1] != keys[i]) {
            keys[m++] = keys[i];
        }
    }
    return m;
}

/* Index of @key in the sorted, unique @keys[0..@n) (it must be there). */
static size_t key_index(const uint64_t *keys, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;

    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;

        if (keys[mid] <= key) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    assert(keys[lo] == key);
    return lo;
}

/* End of the run of @keys that starts at @i: keys at most @gap apart. */
static size_t run_end(const uint64_t *keys, size_t n, size_t i, uint64_t gap)
{
    size_t j = i + 1;

    while (j < n && keys[j] - keys[j - 1] <= gap) {
        j++;
    }
    return j;
}

/*
 * Read the 8-byte items at indexes @keys (sorted, unique) of @fd into
 * @vals, one pread per run of keys at most @gap apart.  An item the
 * kernel does not return (past the end of the bitmap, an error) reads
 * as 0.
 */
static void batch_read(int fd, const uint64_t *keys, size_t n, uint64_t *vals,
                       uint64_t gap)
{
    size_t i = 0, j, k;

    while (i < n) {
        uint64_t first, len;
        g_autofree uint64_t *buf = NULL;
        ssize_t got;

        j = run_end(keys, n, i, gap);
        first = keys[i];
        len = keys[j - 1] - first + 1;
        buf = g_new0(uint64_t, len);
        got = pread(fd, buf, len * 8, first * 8);
        for (k = i; k < j; k++) {
            uint64_t at = keys[k] - first;

            vals[k] = got >= 0 && (at + 1) * 8 <= (uint64_t)got ? buf[at] : 0;
        }
        i = j;
    }
}

/*
 * Write @vals to the bitmap words @keys (sorted, unique), one pwrite per
 * run; the words between them are written as 0, which the kernel skips.
 */
static void batch_write(int fd, const uint64_t *keys, size_t n,
                        const uint64_t *vals)
{
    size_t i = 0, j, k;

    while (i < n) {
        uint64_t first, len;
        g_autofree uint64_t *buf = NULL;

        j = run_end(keys, n, i, BATCH_GAP);
        first = keys[i];
        len = keys[j - 1] - first + 1;
        buf = g_new0(uint64_t, len);
        for (k = i; k < j; k++) {
            buf[keys[k] - first] = vals[k];
        }
        /*
         * A short or failed write leaves bits unset; those pages then
         * read back as not idle at prepare and count as unknown.
         */
        if (pwrite(fd, buf, len * 8, first * 8) < 0) {
            /* nothing else to do: see above */
        }
        i = j;
    }
}

/* ---- one batch ---- */

/* The host virtual page of guest page @gpa, or 0 when it is not RAM. */
static uint64_t host_vpn(uint64_t gpa)
{
    hwaddr xlat;
    MemoryRegion *mr;
    uintptr_t hva;

    RCU_READ_LOCK_GUARD();
    mr = qdamon_source_ram_page(gpa, &xlat);
    /* hotplugged hugetlbfs or guest_memfd memory: page_idle is blind */
    if (!mr || qemu_ram_pagesize(mr->ram_block) > qemu_real_host_page_size() ||
        memory_region_has_guest_memfd(mr)) {
        return 0;
    }
    hva = (uintptr_t)memory_region_get_ram_ptr(mr) + xlat;
    return hva / qemu_real_host_page_size();
}

/* The start of the huge page that may hold @vpn. */
static uint64_t thp_first(uint64_t vpn)
{
    return vpn & ~(THP_PAGES - 1);
}

/*
 * Whether @vpn's PFN @pfn lies in a PMD-mapped huge page: the first and
 * last page of its 2 MiB have PFNs that bracket it contiguously from a
 * 2 MiB-aligned head.  Physically contiguous small pages look the same;
 * then the head page answers for its 2 MiB, which the huge-sample count
 * owns up to.
 */
static bool thp_head(uint64_t vpn, uint64_t pfn, uint64_t first_e,
                     uint64_t last_e, uint64_t *head)
{
    uint64_t first = first_e & PM_PFN_MASK, last = last_e & PM_PFN_MASK;

    if (!(first_e & PM_PRESENT) || !(last_e & PM_PRESENT) ||
        first % THP_PAGES || last != first + THP_PAGES - 1 ||
        pfn != first + (vpn - thp_first(vpn))) {
        return false;
    }
    *head = first;
    return true;
}

/*
 * Read the pagemap entries of the host pages @vpn[0..@n) into @entry,
 * one pread per run of pages at most @gap apart; a @vpn of 0 (not RAM)
 * reads 0.
 */
static void read_entries(IdlePageSource *ip, const uint64_t *vpn, size_t n,
                         uint64_t *entry, uint64_t gap)
{
    g_autofree uint64_t *keys = g_new(uint64_t, MAX(n, 1));
    g_autofree uint64_t *vals = NULL;
    size_t i, m = 0;

    for (i = 0; i < n; i++) {
        if (vpn[i]) {
            keys[m++] = vpn[i];
        }
    }
    m = sort_unique(keys, m);
    vals = g_new(uint64_t, MAX(m, 1));
    batch_read(ip->pagemap_fd, keys, m, vals, gap);
    for (i = 0; i < n; i++) {
        entry[i] = vpn[i] ? vals[key_index(keys, m, vpn[i])] : 0;
    }
}

/* The samples' pages' pagemap entries. */
static void read_pagemap(IdlePageSource *ip, size_t n, uint64_t *entry)
{
    g_autofree uint64_t *vpn = g_new(uint64_t, MAX(n, 1));
    size_t i;

    for (i = 0; i < n; i++) {
        vpn[i] = ip->s[i].vpn;
    }
    read_entries(ip, vpn, n, entry, BATCH_GAP);
}

/*
 * Whether a present page may sit in a PMD-mapped huge page: its offset
 * in its 2 MiB is the same virtually and physically.  Always true in a
 * huge page, true by chance for 1 small page in 512.
 */
static bool thp_candidate(const IdleSample *s)
{
    return s->pfn && s->pfn % THP_PAGES == s->vpn % THP_PAGES;
}

/*
 * Find the samples that sit in huge pages and set their head to mark.
 * A 2 MiB block confirmed huge before, whose head the page's PFN still
 * follows, needs no read; the others read the first and last entries of
 * their 2 MiB (one pread of up to 4 KiB each) and are remembered.
 */
static void find_heads(IdlePageSource *ip, size_t n)
{
    g_autofree uint64_t *vpn = g_new0(uint64_t, MAX(2 * n, 1));
    g_autofree uint64_t *e = g_new0(uint64_t, MAX(2 * n, 1));
    size_t i;

    for (i = 0; i < n; i++) {
        IdleSample *s = &ip->s[i];
        uint64_t head = s->pfn - s->vpn % THP_PAGES;
        gpointer known;

        if (s->state != IDLE_MARKED || !thp_candidate(s)) {
            continue;
        }
        known = g_hash_table_lookup(ip->heads,
                                    GSIZE_TO_POINTER(thp_first(s->vpn)));
        if (known && GPOINTER_TO_SIZE(known) == head + 1) {
            s->huge = true;
            s->mark = head;
            continue;
        }
        vpn[2 * i] = thp_first(s->vpn);
        vpn[2 * i + 1] = thp_first(s->vpn) + THP_PAGES - 1;
    }
    read_entries(ip, vpn, 2 * n, e, THP_PAGES);
    if (g_hash_table_size(ip->heads) > HEADS_MAX ||
        ++ip->nr_prepares % HEADS_PREPARES == 0) {
        g_hash_table_remove_all(ip->heads);
    }
    for (i = 0; i < n; i++) {
        IdleSample *s = &ip->s[i];

        if (vpn[2 * i] && thp_head(s->vpn, s->pfn, e[2 * i], e[2 * i + 1],
                                   &s->mark)) {
            s->huge = true;
            g_hash_table_insert(ip->heads, GSIZE_TO_POINTER(vpn[2 * i]),
                                GSIZE_TO_POINTER(s->mark + 1));
        }
    }
}

/* Whether marked sample @i reads idle in the words @keys/@vals. */
static bool sample_idle(const IdleSample *s, const uint64_t *keys, size_t m,
                        const uint64_t *vals)
{
    return vals[key_index(keys, m, s->mark / 64)] >> (s->mark % 64) & 1;
}

/* Classify sample @s from its pagemap entry (huge pages: find_heads()). */
static void classify(IdleSample *s, uint64_t entry)
{
    if (!s->vpn) {
        s->state = IDLE_NONE;
        return;
    }
    if (!(entry & PM_PRESENT)) {
        s->state = IDLE_ABSENT;
        return;
    }
    s->pfn = entry & PM_PFN_MASK;
    if (!s->pfn) {
        /* PFNs hidden: init checked for it, so this is unexpected */
        s->state = IDLE_UNKNOWN;
        return;
    }
    s->mark = s->pfn;
    s->state = IDLE_MARKED;
}

/*
 * The bitmap words of the samples in state @st (only the small ones with
 * @small_only), sorted and unique, and in *@bits their bits, to write (a
 * read overwrites them); sets *@m.
 */
static uint64_t *state_words(IdlePageSource *ip, size_t n, IdleState st,
                             bool small_only, uint64_t **bits, size_t *m)
{
    uint64_t *words = g_new(uint64_t, MAX(n, 1));
    size_t i;

    *m = 0;
    for (i = 0; i < n; i++) {
        const IdleSample *s = &ip->s[i];

        if (s->state == st && !(small_only && s->huge)) {
            words[(*m)++] = s->mark / 64;
        }
    }
    *m = sort_unique(words, *m);
    *bits = g_new0(uint64_t, MAX(*m, 1));
    for (i = 0; i < n; i++) {
        const IdleSample *s = &ip->s[i];

        if (s->state == st && !(small_only && s->huge)) {
            (*bits)[key_index(words, *m, s->mark / 64)] |= 1ULL << (s->mark % 64);
        }
    }
    return words;
}

/* Mark the samples in state @st idle. */
static void mark(IdlePageSource *ip, size_t n, IdleState st)
{
    size_t m;
    g_autofree uint64_t *bits = NULL;
    g_autofree uint64_t *words = state_words(ip, n, st, false, &bits, &m);

    batch_write(ip->bitmap_fd, words, m, bits);
}

/*
 * Read back the bits of the small samples in state @from (huge ones are
 * heads, which the kernel tracks): those that read not idle move to
 * state @to.  Returns how many did.
 */
static size_t read_back(IdlePageSource *ip, size_t n, IdleState from,
                        IdleState to)
{
    size_t i, m, moved = 0;
    g_autofree uint64_t *bits = NULL;
    g_autofree uint64_t *words = state_words(ip, n, from, true, &bits, &m);

    batch_read(ip->bitmap_fd, words, m, bits, BATCH_GAP);
    for (i = 0; i < n; i++) {
        IdleSample *s = &ip->s[i];

        if (s->state == from && !s->huge && !sample_idle(s, words, m, bits)) {
            s->state = to;
            moved++;
        }
    }
    return moved;
}

/*
 * Mark the samples' pages idle.  A small page the kernel does not track
 * (a tail page of a large folio, a page off the LRU) reads not idle
 * right away, so read those back.  A page accessed in the moment between
 * the two calls does too; a second try tells most of those apart (an
 * untracked page fails it too).  What fails twice is unknown.
 */
static void mark_idle(IdlePageSource *ip, size_t n)
{
    mark(ip, n, IDLE_MARKED);
    if (read_back(ip, n, IDLE_MARKED, IDLE_RETRY)) {
        mark(ip, n, IDLE_RETRY);
        read_back(ip, n, IDLE_RETRY, IDLE_UNKNOWN);
        for (size_t i = 0; i < n; i++) {
            if (ip->s[i].state == IDLE_RETRY) {
                ip->s[i].state = IDLE_MARKED;
            }
        }
    }
}

static void idle_page_prepare(QdamonSource *src, const uint64_t *gpa,
                              size_t n)
{
    IdlePageSource *ip = container_of(src, IdlePageSource, base);
    int64_t t0 = get_clock();
    g_autofree uint64_t *entry = g_new0(uint64_t, MAX(n, 1));
    size_t i, grown = qdamon_source_reserve(src, n);

    if (grown) {
        ip->s = g_renew(IdleSample, ip->s, grown);
    }
    for (i = 0; i < n; i++) {
        ip->s[i] = (IdleSample) { .vpn = host_vpn(gpa[i]) };
    }
    read_pagemap(ip, n, entry);
    for (i = 0; i < n; i++) {
        classify(&ip->s[i], entry[i]);
    }
    find_heads(ip, n);
    mark_idle(ip, n);
    qdamon_source_arm(src, gpa, n);
    qatomic_set(&ip->time_ns, ip->time_ns + get_clock() - t0);
}

/* Count a checked sample in the query-damon statistics. */
static void count_sample(IdlePageSource *ip, const IdleSample *s)
{
    uint64_t *c;

    switch (s->state) {
    case IDLE_ABSENT:
        c = &ip->nr_absent;
        break;
    case IDLE_UNKNOWN:
        c = &ip->nr_unknown;
        break;
    case IDLE_MARKED:
        c = s->huge ? &ip->nr_huge : &ip->nr_small;
        break;
    default:
        return;
    }
    qatomic_set(c, *c + 1);
}

/*
 * Re-read the pagemap: a page that lost its PFN was not accessed
 * (swapped out or unmapped), one whose PFN changed (migrated, compacted,
 * collapsed) is unknown, one that gained a PFN was accessed.
 */
static void recheck_pagemap(IdlePageSource *ip, size_t n, bool *accessed)
{
    g_autofree uint64_t *entry = g_new0(uint64_t, MAX(n, 1));
    size_t i;

    read_pagemap(ip, n, entry);
    for (i = 0; i < n; i++) {
        IdleSample *s = &ip->s[i];

        if (s->state == IDLE_ABSENT) {
            accessed[i] = entry[i] & PM_PRESENT;
        } else if (s->state == IDLE_MARKED &&
                   (!(entry[i] & PM_PRESENT) ||
                    (entry[i] & PM_PFN_MASK) != s->pfn)) {
            s->state = (entry[i] & PM_PRESENT) ? IDLE_UNKNOWN : IDLE_ABSENT;
        }
    }
}

static void idle_page_check(QdamonSource *src, const uint64_t *gpa,
                            size_t n, bool *accessed)
{
    IdlePageSource *ip = container_of(src, IdlePageSource, base);
    int64_t t0 = get_clock();
    size_t i, m, armed = MIN(n, src->nr_armed);
    g_autofree uint64_t *words = NULL;
    g_autofree uint64_t *bits = NULL;

    /* ip->s has room for the last prepare's pages only */
    for (i = 0; i < n; i++) {
        accessed[i] = false;
    }
    for (i = 0; i < armed; i++) {
        if (!qdamon_source_armed(src, i, gpa[i])) {
            ip->s[i].state = IDLE_NONE;     /* not armed: no answer */
        }
    }
    recheck_pagemap(ip, armed, accessed);
    words = state_words(ip, armed, IDLE_MARKED, false, &bits, &m);
    batch_read(ip->bitmap_fd, words, m, bits, BATCH_GAP);
    for (i = 0; i < armed; i++) {
        IdleSample *s = &ip->s[i];

        if (s->state == IDLE_MARKED) {
            accessed[i] = !sample_idle(s, words, m, bits);
        }
        count_sample(ip, s);
    }
    qatomic_set(&ip->time_ns, ip->time_ns + get_clock() - t0);
}

/* ---- init: the checks that make it fail closed ---- */

static int refuse_ram(RAMBlock *rb, void *opaque)
{
    Error **errp = opaque;

    if (qemu_ram_pagesize(rb) > qemu_real_host_page_size()) {
        error_setg(errp, "source 'idle-page': guest RAM block '%s' is "
                   "backed by %zu KiB huge pages (hugetlbfs), which are not "
                   "on the host's LRU lists, so idle page tracking cannot "
                   "see them; use a write-only source (dirty-ring, "
                   "dirty-bitmap) for this VM",
                   qemu_ram_get_idstr(rb), qemu_ram_pagesize(rb) >> 10);
        return 1;
    }
    if (rb->guest_memfd >= 0) {
        error_setg(errp, "source 'idle-page': guest RAM block '%s' uses "
                   "guest_memfd, whose private memory has no host mapping "
                   "that idle page tracking can see",
                   qemu_ram_get_idstr(rb));
        return 1;
    }
    return 0;
}

/* Take @fd (dup) if given, else open @path; errors say how to fix it. */
static int open_or_dup(int fd, const char *path, int flags, const char *arg,
                       Error **errp)
{
    int ret;

    if (fd >= 0) {
        ret = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (ret < 0) {
            error_setg_errno(errp, errno, "source 'idle-page': '%s'", arg);
        }
        return ret;
    }
    ret = qemu_open_old(path, flags);
    if (ret >= 0) {
        return ret;
    }
    if (errno == ENOENT && !strcmp(path, IDLE_BITMAP_PATH)) {
        error_setg(errp, "source 'idle-page': the host kernel has no idle "
                   "page tracking (%s is missing: CONFIG_IDLE_PAGE_TRACKING "
                   "is off, as in Debian's kernels), so this host cannot "
                   "see accessed bits; use tcg-accessed under TCG, or a "
                   "write-only source (dirty-ring, dirty-bitmap)", path);
    } else if (errno == EACCES || errno == EPERM) {
        error_setg(errp, "source 'idle-page': QEMU (uid %u) cannot open %s: "
                   "%s; a privileged client must open it and pass it with "
                   "'getfd' as '%s' (qdamo start --source idle-page does "
                   "this)", (unsigned)geteuid(), path, strerror(errno), arg);
    } else {
        error_setg_errno(errp, errno, "source 'idle-page': cannot open %s",
                         path);
    }
    return -1;
}

/* The bitmap fd must read and write (a 0 word changes nothing). */
static bool check_bitmap(int fd, Error **errp)
{
    uint64_t w = 0;

    if (pread(fd, &w, 8, 0) != 8 || pwrite(fd, &(uint64_t){ 0 }, 8, 0) != 8) {
        error_setg_errno(errp, errno, "source 'idle-page': 'idle-bitmap-fd' "
                         "must be %s opened for reading and writing",
                         IDLE_BITMAP_PATH);
        return false;
    }
    return true;
}

static uint64_t pagemap_entry(int fd, const void *addr)
{
    uint64_t e = 0;
    off_t off = (uintptr_t)addr / qemu_real_host_page_size() * 8;

    return pread(fd, &e, 8, off) == 8 ? e : 0;
}

/*
 * The pagemap fd must be this process's, and show PFNs: a page mapped
 * now is absent until touched, then present with a PFN.  Another
 * process's pagemap would not follow it; one opened without
 * CAP_SYS_ADMIN gives PFN 0.
 */
static bool check_pagemap(int fd, bool given, Error **errp)
{
    size_t psz = qemu_real_host_page_size();
    uint8_t *p = mmap(NULL, psz, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t before, after;

    if (p == MAP_FAILED) {
        error_setg_errno(errp, errno, "source 'idle-page': mmap");
        return false;
    }
    before = pagemap_entry(fd, p);
    *(volatile uint8_t *)p = 1;
    after = pagemap_entry(fd, p);
    munmap(p, psz);
    if ((before & PM_PRESENT) || !(after & PM_PRESENT)) {
        error_setg(errp, "source 'idle-page': %s is not the pagemap of this "
                   "QEMU process (pid %d): a page QEMU mapped and touched "
                   "does not show in it",
                   given ? "'pagemap-fd'" : "/proc/self/pagemap", getpid());
        return false;
    }
    if (!(after & PM_PFN_MASK)) {
        error_setg(errp, "source 'idle-page': pagemap hides the host page "
                   "frame numbers: it was opened without CAP_SYS_ADMIN%s; "
                   "root must open /proc/%d/pagemap and pass it with "
                   "'getfd' as 'pagemap-fd' (qdamo start --source idle-page "
                   "does this)", given ? "" : " (QEMU runs unprivileged)",
                   getpid());
        return false;
    }
    return true;
}

/* Whether the host runs the multi-gen LRU (its core bit, 0x0001). */
static bool host_mglru(void)
{
    g_autofree char *text = NULL;
    uint64_t v;

    if (!g_file_get_contents(LRU_GEN_PATH, &text, NULL, NULL) ||
        qemu_strtou64(g_strstrip(text), NULL, 16, &v)) {
        return false;
    }
    return v & 1;
}

/*
 * Open (or dup) and check the bitmap and pagemap: sets *@bfd and *@pfd
 * and returns true, or returns false with @errp set and nothing open.
 */
static bool idle_page_open(const QdamonSourceOpts *opts, int *bfd, int *pfd,
                           Error **errp)
{
    *bfd = *pfd = -1;
    if (qemu_real_host_page_size() != 4096) {
        error_setg(errp, "source 'idle-page' supports 4 KiB host pages only "
                   "(this host's are %zu KiB)",
                   qemu_real_host_page_size() >> 10);
        return false;
    }
    if (qemu_ram_foreach_block(refuse_ram, errp)) {
        return false;
    }
    *bfd = open_or_dup(opts->idle_bitmap_fd, IDLE_BITMAP_PATH, O_RDWR,
                       "idle-bitmap-fd", errp);
    if (*bfd >= 0 && check_bitmap(*bfd, errp)) {
        *pfd = open_or_dup(opts->pagemap_fd, "/proc/self/pagemap", O_RDONLY,
                           "pagemap-fd", errp);
        if (*pfd >= 0 && check_pagemap(*pfd, opts->pagemap_fd >= 0, errp)) {
            return true;
        }
    }
    if (*bfd >= 0) {
        close(*bfd);
    }
    if (*pfd >= 0) {
        close(*pfd);
    }
    *bfd = *pfd = -1;
    return false;
}

bool qdamon_idle_page_usable(const QdamonSourceOpts *opts, Error **errp)
{
    int bfd, pfd;

    if (!idle_page_open(opts, &bfd, &pfd, errp)) {
        return false;
    }
    close(bfd);
    close(pfd);
    return true;
}

static bool idle_page_init(QdamonSource *src, const QdamonSourceOpts *opts,
                           Error **errp)
{
    IdlePageSource *ip = container_of(src, IdlePageSource, base);

    assert(bql_locked());
    ip->pagemap_fd = ip->bitmap_fd = -1;
    if (idle_page_users) {
        error_setg(errp, "source 'idle-page': another monitor of this VM "
                   "uses it; page_idle flags are per host page, so two "
                   "monitors would clear each other's accesses");
        return false;
    }
    if (!idle_page_open(opts, &ip->bitmap_fd, &ip->pagemap_fd, errp)) {
        return false;
    }
    ip->mglru = host_mglru();
    ip->heads = g_hash_table_new(g_direct_hash, g_direct_equal);
    idle_page_users++;
    return true;
}

static void idle_page_cleanup(QdamonSource *src)
{
    IdlePageSource *ip = container_of(src, IdlePageSource, base);

    assert(bql_locked() && idle_page_users);
    idle_page_users--;
    close(ip->pagemap_fd);
    close(ip->bitmap_fd);
    g_hash_table_destroy(ip->heads);
    g_free(ip->s);
}

DamonIdlePageInfo *qdamon_idle_page_info(QdamonSource *src)
{
    IdlePageSource *ip;
    DamonIdlePageInfo *info;

    if (!src || src->cls->kind != DAMON_SOURCE_KIND_IDLE_PAGE) {
        return NULL;
    }
    ip = container_of(src, IdlePageSource, base);
    info = g_new0(DamonIdlePageInfo, 1);
    info->small_samples = qatomic_read(&ip->nr_small);
    info->huge_samples = qatomic_read(&ip->nr_huge);
    info->absent_samples = qatomic_read(&ip->nr_absent);
    info->unknown_samples = qatomic_read(&ip->nr_unknown);
    info->granularity_bytes = info->huge_samples ?
        THP_PAGES * qemu_real_host_page_size() : qemu_real_host_page_size();
    info->host_mglru = ip->mglru;
    info->cpu_ns = qatomic_read(&ip->time_ns);
    return info;
}

const QdamonSourceClass qdamon_source_idle_page =
    QDAMON_SOURCE_CLASS(DAMON_SOURCE_KIND_IDLE_PAGE,
                        DAMON_SEES_READS_AND_WRITES, IdlePageSource,
                        idle_page_init, idle_page_cleanup,
                        idle_page_prepare, idle_page_check);
