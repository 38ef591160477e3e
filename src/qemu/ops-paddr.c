/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon guest-physical operations set ("paddr").
 *
 * Regions are guest-physical address ranges.  Only guest RAM is
 * monitored: memory whose region belongs to a memory backend (main RAM,
 * pc-dimm and other memory devices), never ROM, device RAM such as VGA
 * memory, or MMIO.  Like vaddr's "three regions" skipping the big
 * unmapped gaps, the initial regions skip holes such as the PCI hole.
 *
 * The layout comes from a memory listener on the system address space.
 * Listener callbacks run under the BQL; the monitor may run on its own
 * thread, so the merged layout is published under @lock with a
 * generation number, and the ops' update (every update interval) takes a
 * copy when the generation moved.  Regions are plain addresses: nothing
 * here holds a RAMBlock or MemoryRegion pointer between callbacks, so an
 * unplugged DIMM cannot leave a dangling pointer; the access source
 * translates each sampled address under RCU when it uses it, and an
 * address that stopped being RAM reads as not accessed until the next
 * update drops it.
 *
 * With a write source beside the access source, both arm and check the
 * same sampled pages; each region then also counts the samples the
 * write source found written (damon_region.nr_writes), which rides
 * along with nr_accesses and never steers the region algorithm.
 *
 * A source that sees the address of every access it counts (dirty-ring)
 * is told the regions of each prepare and, after the check, where in
 * each region it saw accesses; those boxes go to the engine as split
 * hints (damon_region_hint()), which only place the aggregation's
 * splits and never count as accesses.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/thread.h"
#include "qemu/lockable.h"
#include "qemu/units.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "system/hostmem.h"
#include "ops/ops-common.h"
#include "actions.h"
#include "ops-paddr.h"
#include "schemes.h"
#include "trace.h"

struct QdamonPaddr {
    QdamonSource *src;
    QdamonSource *wsrc;         /* write source, or NULL */
    MemoryListener listener;
    /* raw RAM sections; only the listener (BQL) touches it */
    GArray *sections;
    /* explicit ranges, or NULL for all of RAM; immutable */
    GArray *explicit;
    /* guards layout and layout_gen */
    QemuMutex lock;
    GArray *layout;             /* merged struct damon_addr_range */
    uint64_t layout_gen;
    /* owned by the monitor's driver */
    uint64_t seen_gen;
    GArray *gpas;               /* sampled addresses of the last prepare */
    GArray *accessed;           /* bool per gpa */
    GArray *written;            /* bool per gpa, with a write source */
    GArray *starts, *ends;      /* the regions of the last prepare */
};

bool qdamon_mr_is_guest_ram(MemoryRegion *mr)
{
    Object *owner;

    if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr) ||
        memory_region_is_rom(mr) || memory_region_is_romd(mr)) {
        return false;
    }
    owner = memory_region_owner(mr);
    return owner && object_dynamic_cast(owner, TYPE_MEMORY_BACKEND);
}

static bool section_is_guest_ram(MemoryRegionSection *section)
{
    return qdamon_mr_is_guest_ram(section->mr);
}

static struct damon_addr_range section_range(MemoryRegionSection *section)
{
    uint64_t start = section->offset_within_address_space;

    return (struct damon_addr_range) {
        start, start + int128_get64(section->size)
    };
}

static void qdamon_pa_region_add(MemoryListener *l, MemoryRegionSection *sec)
{
    QdamonPaddr *p = container_of(l, QdamonPaddr, listener);
    struct damon_addr_range r;

    if (!section_is_guest_ram(sec)) {
        return;
    }
    r = section_range(sec);
    g_array_append_val(p->sections, r);
}

static void qdamon_pa_region_del(MemoryListener *l, MemoryRegionSection *sec)
{
    QdamonPaddr *p = container_of(l, QdamonPaddr, listener);
    struct damon_addr_range r;
    guint i;

    if (!section_is_guest_ram(sec)) {
        return;
    }
    r = section_range(sec);
    for (i = 0; i < p->sections->len; i++) {
        struct damon_addr_range *s = &g_array_index(p->sections,
                                                    struct damon_addr_range,
                                                    i);
        if (s->start == r.start && s->end == r.end) {
            g_array_remove_index_fast(p->sections, i);
            return;
        }
    }
}

static gint range_cmp(gconstpointer a, gconstpointer b)
{
    const struct damon_addr_range *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorted, with adjacent or overlapping ranges merged. */
static GArray *merge_ranges(GArray *in)
{
    GArray *out = g_array_new(false, false, sizeof(struct damon_addr_range));
    g_autoptr(GArray) tmp = g_array_copy(in);
    guint i;

    g_array_sort(tmp, range_cmp);
    for (i = 0; i < tmp->len; i++) {
        struct damon_addr_range r = g_array_index(tmp,
                                                  struct damon_addr_range, i);
        struct damon_addr_range *last = out->len ?
            &g_array_index(out, struct damon_addr_range, out->len - 1) : NULL;

        if (last && r.start <= last->end) {
            last->end = MAX(last->end, r.end);
        } else {
            g_array_append_val(out, r);
        }
    }
    return out;
}

static void qdamon_pa_commit(MemoryListener *l)
{
    QdamonPaddr *p = container_of(l, QdamonPaddr, listener);
    GArray *merged = merge_ranges(p->sections);

    WITH_QEMU_LOCK_GUARD(&p->lock) {
        g_array_unref(p->layout);
        p->layout = merged;
        p->layout_gen++;
    }
    trace_qdamon_pa_layout(merged->len, p->layout_gen);
}

struct damon_addr_range *qdamon_pa_ram_ranges(QdamonPaddr *p,
                                              unsigned int *nr)
{
    struct damon_addr_range *out;

    QEMU_LOCK_GUARD(&p->lock);
    *nr = p->layout->len;
    out = g_memdup2(p->layout->data,
                    p->layout->len * sizeof(struct damon_addr_range));
    return out;
}

/* Whether [start, end) lies inside one range of @layout. */
static bool inside(GArray *layout, uint64_t start, uint64_t end)
{
    guint i;

    for (i = 0; i < layout->len; i++) {
        struct damon_addr_range *r = &g_array_index(layout,
                                                    struct damon_addr_range,
                                                    i);
        if (start >= r->start && end <= r->end) {
            return true;
        }
    }
    return false;
}

static bool check_explicit(QdamonPaddr *p, Error **errp)
{
    guint i;

    for (i = 0; i < p->explicit->len; i++) {
        struct damon_addr_range *r = &g_array_index(p->explicit,
                                                    struct damon_addr_range,
                                                    i);
        if (!inside(p->layout, r->start, r->end)) {
            error_setg(errp, "'regions[%u]': [0x%" PRIx64 ", 0x%" PRIx64
                       ") is not inside guest RAM; see 'info mtree -f' "
                       "for the RAM ranges", i, r->start, r->end);
            return false;
        }
    }
    return true;
}

QdamonPaddr *qdamon_pa_new(QdamonSource *src, QdamonSource *wsrc,
                           const struct damon_addr_range *ranges,
                           unsigned int nr, Error **errp)
{
    QdamonPaddr *p = g_new0(QdamonPaddr, 1);

    p->src = src;
    p->wsrc = wsrc;
    p->sections = g_array_new(false, false, sizeof(struct damon_addr_range));
    p->layout = g_array_new(false, false, sizeof(struct damon_addr_range));
    p->gpas = g_array_new(false, false, sizeof(uint64_t));
    p->starts = g_array_new(false, false, sizeof(uint64_t));
    p->ends = g_array_new(false, false, sizeof(uint64_t));
    p->accessed = g_array_new(false, true, sizeof(bool));
    p->written = g_array_new(false, true, sizeof(bool));
    qemu_mutex_init(&p->lock);
    if (ranges) {
        p->explicit = g_array_new(false, false,
                                  sizeof(struct damon_addr_range));
        g_array_append_vals(p->explicit, ranges, nr);
    }
    p->listener = (MemoryListener) {
        .name = "qdamon",
        .region_add = qdamon_pa_region_add,
        .region_del = qdamon_pa_region_del,
        .commit = qdamon_pa_commit,
        .priority = MEMORY_LISTENER_PRIORITY_MIN,
    };
    /* replays the current map: the layout is complete on return */
    memory_listener_register(&p->listener, &address_space_memory);
    if (p->explicit && !check_explicit(p, errp)) {
        qdamon_pa_free(p);
        return NULL;
    }
    return p;
}

void qdamon_pa_free(QdamonPaddr *p)
{
    if (!p) {
        return;
    }
    memory_listener_unregister(&p->listener);
    g_array_unref(p->sections);
    g_array_unref(p->layout);
    if (p->explicit) {
        g_array_unref(p->explicit);
    }
    g_array_unref(p->gpas);
    g_array_unref(p->starts);
    g_array_unref(p->ends);
    g_array_unref(p->accessed);
    g_array_unref(p->written);
    qemu_mutex_destroy(&p->lock);
    g_free(p);
}

/* The ranges to monitor now: the layout, or explicit ranges clipped to it. */
static GArray *wanted_ranges(QdamonPaddr *p)
{
    GArray *out = g_array_new(false, false, sizeof(struct damon_addr_range));
    unsigned int nr, i, j;
    g_autofree struct damon_addr_range *ram =
        qdamon_pa_ram_ranges(p, &nr);

    if (!p->explicit) {
        g_array_append_vals(out, ram, nr);
        return out;
    }
    for (i = 0; i < p->explicit->len; i++) {
        struct damon_addr_range *e = &g_array_index(p->explicit,
                                                    struct damon_addr_range,
                                                    i);
        for (j = 0; j < nr; j++) {
            struct damon_addr_range c = {
                MAX(e->start, ram[j].start), MIN(e->end, ram[j].end)
            };
            if (c.start < c.end) {
                g_array_append_val(out, c);
            }
        }
    }
    g_array_sort(out, range_cmp);
    return out;
}

static int qdamon_pa_set_regions(QdamonPaddr *p, struct damon_target *t,
                                 uint64_t min_sz)
{
    g_autoptr(GArray) want = wanted_ranges(p);

    return damon_set_regions(t, (struct damon_addr_range *)want->data,
                             want->len, min_sz, NULL, 0);
}

static int qdamon_pa_init(struct damon_ctx *ctx)
{
    QdamonPaddr *p = ctx->ops_priv;
    struct damon_target *t;

    WITH_QEMU_LOCK_GUARD(&p->lock) {
        p->seen_gen = p->layout_gen;
    }
    damon_for_each_target(t, ctx) {
        int rc = qdamon_pa_set_regions(p, t, ctx->min_sz_region);

        if (rc) {
            return rc;
        }
    }
    return 0;
}

static void qdamon_pa_update(struct damon_ctx *ctx)
{
    QdamonPaddr *p = ctx->ops_priv;
    struct damon_target *t;
    uint64_t gen;

    WITH_QEMU_LOCK_GUARD(&p->lock) {
        gen = p->layout_gen;
    }
    if (gen == p->seen_gen) {
        return;
    }
    p->seen_gen = gen;
    damon_for_each_target(t, ctx) {
        qdamon_pa_set_regions(p, t, ctx->min_sz_region);
    }
    trace_qdamon_pa_update(gen, damon_nr_regions_total(ctx));
}

static void qdamon_pa_prepare_access_checks(struct damon_ctx *ctx)
{
    QdamonPaddr *p = ctx->ops_priv;
    struct damon_target *t;
    struct damon_region *r;

    g_array_set_size(p->gpas, 0);
    g_array_set_size(p->starts, 0);
    g_array_set_size(p->ends, 0);
    damon_for_each_target(t, ctx) {
        damon_for_each_region(r, t) {
            uint64_t pages = damon_sz_region(r) / QDAMON_PAGE_SIZE;
            uint64_t gpa = r->ar.start +
                damon_rand(ctx, 0, pages ? pages : 1) * QDAMON_PAGE_SIZE;

            r->sampling_addr = gpa;
            g_array_append_val(p->gpas, gpa);
            g_array_append_val(p->starts, r->ar.start);
            g_array_append_val(p->ends, r->ar.end);
        }
    }
    qdamon_source_set_hint_regions(p->src, (uint64_t *)p->starts->data,
                                   (uint64_t *)p->ends->data, p->starts->len);
    qdamon_source_prepare(p->src, (uint64_t *)p->gpas->data, p->gpas->len);
    if (p->wsrc) {
        qdamon_source_set_hint_regions(p->wsrc, (uint64_t *)p->starts->data,
                                       (uint64_t *)p->ends->data,
                                       p->starts->len);
        qdamon_source_prepare(p->wsrc, (uint64_t *)p->gpas->data,
                              p->gpas->len);
    }
}

/* Pass on where the sources saw accesses in region @r, batch index @i. */
static void qdamon_pa_hint(QdamonPaddr *p, struct damon_region *r, guint i)
{
    QdamonHintRange box;

    if (qdamon_source_hint(p->src, i, &box)) {
        damon_region_hint(r, box.start, box.end);
    }
    if (p->wsrc && qdamon_source_hint(p->wsrc, i, &box)) {
        damon_region_hint(r, box.start, box.end);
    }
}

static unsigned int qdamon_pa_check_accesses(struct damon_ctx *ctx)
{
    QdamonPaddr *p = ctx->ops_priv;
    struct damon_target *t;
    struct damon_region *r;
    unsigned int max = 0;
    guint i = 0;
    bool *acc, *wr = NULL;

    g_array_set_size(p->accessed, p->gpas->len);
    acc = (bool *)p->accessed->data;
    memset(acc, 0, p->gpas->len * sizeof(bool));
    qdamon_source_check(p->src, (uint64_t *)p->gpas->data, p->gpas->len,
                        acc);
    if (p->wsrc) {
        g_array_set_size(p->written, p->gpas->len);
        wr = (bool *)p->written->data;
        memset(wr, 0, p->gpas->len * sizeof(bool));
        qdamon_source_check(p->wsrc, (uint64_t *)p->gpas->data,
                            p->gpas->len, wr);
    }
    damon_for_each_target(t, ctx) {
        damon_for_each_region(r, t) {
            /* regions do not change between prepare and check */
            bool same = i < p->gpas->len &&
                g_array_index(p->gpas, uint64_t, i) == r->sampling_addr;
            bool written = same && wr && wr[i];

            /* a write is an access, whatever the access source saw */
            damon_update_region_access_rate(r, (same && acc[i]) || written,
                                            &ctx->attrs);
            if (wr) {
                damon_update_region_writes(r, written);
            }
            if (same) {
                qdamon_pa_hint(p, r, i);
            }
            max = MAX(max, r->nr_accesses);
            i++;
        }
    }
    return max;
}

static bool qdamon_pa_action_supported(enum damos_action action)
{
    /* the LRU lists are the host kernel's own: no interface reaches them */
    return action != DAMOS_LRU_PRIO && action != DAMOS_LRU_DEPRIO;
}

static int qdamon_pa_get_scheme_score(struct damon_ctx *ctx,
                                      struct damon_target *t,
                                      struct damon_region *r,
                                      struct damos *s)
{
    switch (s->action) {
    case DAMOS_PAGEOUT:
    case DAMOS_COLD:
    case DAMOS_MIGRATE_COLD:
        return damon_cold_score(ctx, r, s);
    default:
        return damon_hot_score(ctx, r, s);
    }
}

/*
 * Whether @r's page sampled in the latest sample interval was found
 * accessed (or written).  Schemes are applied right after a check,
 * before any split, so the sampled address is still one that check
 * looked at; p->gpas is in address order, one per region.
 */
static bool qdamon_pa_young(QdamonPaddr *p, const struct damon_region *r)
{
    const uint64_t *gpa = (const uint64_t *)p->gpas->data;
    guint lo = 0, hi = MIN(p->gpas->len, p->accessed->len);

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;

        if (gpa[mid] < r->sampling_addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo >= MIN(p->gpas->len, p->accessed->len) ||
        gpa[lo] != r->sampling_addr) {
        return false;
    }
    return g_array_index(p->accessed, bool, lo) ||
        (p->wsrc && lo < p->written->len &&
         g_array_index(p->written, bool, lo));
}

typedef struct YoungArg {
    QdamonPaddr *p;
    const struct damon_region *r;
} YoungArg;

static bool qdamon_pa_filter_meets(const struct damos_filter *f, void *arg)
{
    YoungArg *a = arg;

    return f->type == DAMOS_FILTER_TYPE_YOUNG && qdamon_pa_young(a->p, a->r);
}

static uint64_t qdamon_pa_apply_scheme(struct damon_ctx *ctx,
                                       struct damon_target *t,
                                       struct damon_region *r,
                                       struct damos *s,
                                       uint64_t *sz_filter_passed)
{
    YoungArg arg = { ctx->ops_priv, r };

    if (damos_ops_filter_out(s, qdamon_pa_filter_meets, &arg)) {
        qdamon_scheme_skip(s, DAMON_SCHEME_SKIP_REASON_YOUNG,
                           damon_sz_region(r), 0);
        return 0;
    }
    *sz_filter_passed = damon_sz_region(r);
    return qdamon_act(ctx, s, r->ar.start, r->ar.end);
}

static bool qdamon_pa_target_valid(struct damon_target *t)
{
    return true;
}

int qdamon_pa_attach(QdamonPaddr *p, struct damon_ctx *ctx)
{
    struct damon_target *t = damon_new_target(p);

    if (!t) {
        return -ENOMEM;
    }
    ctx->ops = (struct damon_operations) {
        .name = "paddr",
        .init = qdamon_pa_init,
        .update = qdamon_pa_update,
        .prepare_access_checks = qdamon_pa_prepare_access_checks,
        .check_accesses = qdamon_pa_check_accesses,
        .get_scheme_score = qdamon_pa_get_scheme_score,
        .apply_scheme = qdamon_pa_apply_scheme,
        .action_supported = qdamon_pa_action_supported,
        .target_valid = qdamon_pa_target_valid,
    };
    ctx->ops_priv = p;
    damon_add_target(ctx, t);
    return 0;
}
