// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Regions and targets: construction, surgery (split and merge) and the
 * adaptive adjustment steps that keep the number of regions bounded.
 *
 * Every function here runs on the thread that owns the context (its
 * driver, or its creator before it begins), so none of them locks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "core/internal.h"

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v - v % a;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	uint64_t rem = v % a;

	return rem ? v + (a - rem) : v;
}

/**
 * damon_new_region() - Allocate a region for [@start, @end).
 * @start:	start address.
 * @end:	end address, exclusive.
 *
 * Return: the region with zeroed access information, or NULL.
 */
struct damon_region *damon_new_region(uint64_t start, uint64_t end)
{
	struct damon_region *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->ar.start = start;
	r->ar.end = end;
	damon_list_init(&r->list);
	return r;
}

/**
 * damon_add_region() - Append @r to @t's region list.
 * @r:	region, which must lie after every region of @t.
 * @t:	target.
 */
void damon_add_region(struct damon_region *r, struct damon_target *t)
{
	damon_list_add_tail(&r->list, &t->regions_list);
	t->nr_regions++;
}

/**
 * damon_insert_region() - Insert @r between two neighbours.
 * @r:		region to insert.
 * @prev:	region before; may be the list head's container.
 * @next:	region after; may be the list head's container.
 * @t:		target.
 */
void damon_insert_region(struct damon_region *r, struct damon_region *prev,
		struct damon_region *next, struct damon_target *t)
{
	damon_list_insert_between(&r->list, &prev->list, &next->list);
	t->nr_regions++;
}

/**
 * damon_destroy_region() - Unlink @r from @t and free it.
 * @r:	region.
 * @t:	target holding it.
 */
void damon_destroy_region(struct damon_region *r, struct damon_target *t)
{
	damon_list_del(&r->list);
	t->nr_regions--;
	free(r);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool hint_empty(const struct damon_region *r)
{
	return r->hint_end <= r->hint_start;
}

/* Keep @r's hint box inside @r, after @r shrank. */
static void hint_clip(struct damon_region *r)
{
	if (hint_empty(r))
		return;
	r->hint_start = max_u64(r->hint_start, r->ar.start);
	r->hint_end = min_u64(r->hint_end, r->ar.end);
	if (hint_empty(r))
		r->hint_start = r->hint_end = 0;
}

/**
 * damon_region_hint() - Note that [@start, @end) of @r was seen accessed.
 * @r:		region.
 * @start:	first address seen accessed.
 * @end:	first address past it.
 *
 * Widens @r's hint box to cover the range, clamped to @r; a range that
 * misses @r is ignored.  Operations sets call it while checking accesses,
 * for addresses they learn anyway (written pages of a dirty ring or
 * bitmap, TLB fills).  It never touches @r's access counts: where a
 * region is cut is a hint's only effect.
 */
void damon_region_hint(struct damon_region *r, uint64_t start, uint64_t end)
{
	start = max_u64(start, r->ar.start);
	end = min_u64(end, r->ar.end);
	if (start >= end)
		return;
	if (hint_empty(r)) {
		r->hint_start = start;
		r->hint_end = end;
		return;
	}
	r->hint_start = min_u64(r->hint_start, start);
	r->hint_end = max_u64(r->hint_end, end);
}

static bool ranges_intersect(const struct damon_addr_range *a,
		const struct damon_addr_range *b)
{
	return a->start < b->end && b->start < a->end;
}

static int validate_ranges(const struct damon_addr_range *ranges,
		unsigned int nr, uint64_t min_sz, char *err, size_t errlen)
{
	uint64_t prev_end = 0;
	unsigned int i;

	if (!min_sz)
		return damon_err(err, errlen, "min_sz_region must be > 0");
	for (i = 0; i < nr; i++) {
		uint64_t s = align_down(ranges[i].start, min_sz);
		uint64_t e = align_up(ranges[i].end, min_sz);

		if (ranges[i].start >= ranges[i].end || e < ranges[i].end)
			return damon_err(err, errlen,
				"regions[%u]: start (0x%" PRIx64 ") must be below end (0x%" PRIx64 ")",
				i, ranges[i].start, ranges[i].end);
		if (i && s < prev_end)
			return damon_err(err, errlen,
				"regions[%u]: [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps or precedes regions[%u] once aligned to %" PRIu64 " bytes; regions must be sorted and non-overlapping",
				i, ranges[i].start, ranges[i].end, i - 1, min_sz);
		prev_end = e;
	}
	return 0;
}

/* Fill the gaps between @first and @last (inclusive) with new regions. */
static int fill_holes(struct damon_target *t, struct damon_region *first,
		struct damon_region *last)
{
	struct damon_region *r = first;

	while (r != last) {
		struct damon_region *next = damon_next_region(r);

		if (r->ar.end != next->ar.start) {
			struct damon_region *hole = damon_new_region(r->ar.end,
					next->ar.start);

			if (!hole)
				return -ENOMEM;
			damon_insert_region(hole, r, next, t);
		}
		r = next;
	}
	return 0;
}

/* Make the regions intersecting @range cover exactly @range, aligned. */
static int fit_range(struct damon_target *t, const struct damon_addr_range *rg,
		struct damon_region **cursor, uint64_t min_sz)
{
	struct damon_addr_range ar = {
		align_down(rg->start, min_sz), align_up(rg->end, min_sz) };
	struct damon_region *r = *cursor, *first = NULL, *last = NULL;

	for (; &r->list != &t->regions_list; r = damon_next_region(r)) {
		if (r->ar.start >= ar.end)
			break;
		if (ranges_intersect(&r->ar, &ar)) {
			if (!first)
				first = r;
			last = r;
		}
	}
	*cursor = r;
	if (!first) {
		struct damon_region *n = damon_new_region(ar.start, ar.end);

		if (!n)
			return -ENOMEM;
		damon_insert_region(n, damon_prev_region(r), r, t);
		return 0;
	}
	first->ar.start = ar.start;
	last->ar.end = ar.end;
	hint_clip(first);
	hint_clip(last);
	return fill_holes(t, first, last);
}

/**
 * damon_set_regions() - Make @t's regions cover exactly @ranges.
 * @t:		target.
 * @ranges:	address ranges, sorted and non-overlapping once aligned.
 * @nr_ranges:	number of @ranges.
 * @min_sz_region: alignment; starts are rounded down and ends up.
 * @err:	optional buffer for an error text.
 * @errlen:	size of @err.
 *
 * Regions outside every range are removed, regions crossing a range's
 * edge are trimmed, and gaps are filled with new regions.  Regions that
 * survive keep their access information, so monitoring results carry
 * over when the address space changes (e.g. memory hotplug).
 *
 * Return: 0, -EINVAL for unsorted, overlapping or empty ranges (with the
 * offending index in @err), or -ENOMEM.
 */
int damon_set_regions(struct damon_target *t,
		const struct damon_addr_range *ranges, unsigned int nr_ranges,
		uint64_t min_sz_region, char *err, size_t errlen)
{
	struct damon_region *r, *next;
	unsigned int i;
	int rc = validate_ranges(ranges, nr_ranges, min_sz_region, err, errlen);

	if (rc)
		return rc;
	damon_for_each_region_safe(r, next, t) {
		for (i = 0; i < nr_ranges; i++)
			if (ranges_intersect(&r->ar, &ranges[i]))
				break;
		if (i == nr_ranges)
			damon_destroy_region(r, t);
	}
	r = damon_first_region(t);
	for (i = 0; i < nr_ranges; i++) {
		rc = fit_range(t, &ranges[i], &r, min_sz_region);
		if (rc) {
			damon_err(err, errlen, "out of memory");
			return rc;
		}
	}
	return 0;
}

/**
 * damon_evenly_split_region() - Split @r into @nr_pieces equal regions.
 * @t:		target holding @r.
 * @r:		region to split.
 * @nr_pieces:	number of pieces.
 * @min_sz_region: alignment of the split points.
 *
 * The last piece absorbs the rounding remainder.
 *
 * Return: 0, or -EINVAL when @r cannot give @nr_pieces aligned pieces.
 */
int damon_evenly_split_region(struct damon_target *t, struct damon_region *r,
		unsigned int nr_pieces, uint64_t min_sz_region)
{
	uint64_t orig_end = r->ar.end, sz_piece, start;
	struct damon_region *prev = r, *n;

	if (!nr_pieces || !min_sz_region)
		return -EINVAL;
	if (nr_pieces == 1)
		return 0;
	sz_piece = align_down(damon_sz_region(r) / nr_pieces, min_sz_region);
	if (!sz_piece)
		return -EINVAL;
	r->ar.end = r->ar.start + sz_piece;
	for (start = r->ar.end; start + sz_piece <= orig_end;
	     start += sz_piece) {
		n = damon_new_region(start, start + sz_piece);
		if (!n)
			return -ENOMEM;
		damon_insert_region(n, prev, damon_next_region(prev), t);
		prev = n;
	}
	prev->ar.end = orig_end;
	return 0;
}

/* The largest region of @ctx, and its target; NULL if there is none. */
static struct damon_region *largest_region(struct damon_ctx *ctx,
		struct damon_target **tp)
{
	struct damon_region *r, *best = NULL;
	struct damon_target *t;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			if (!best || damon_sz_region(r) > damon_sz_region(best)) {
				best = r;
				*tp = t;
			}
		}
	}
	return best;
}

/**
 * damon_split_to_min_nr_regions() - Initial split of every target.
 * @ctx:	context whose targets have their initial regions.
 *
 * Splits each region into pieces of about total / min_nr_regions bytes,
 * as vaddr's initial split does.  When rounding leaves fewer than
 * min_nr_regions (several ranges of odd sizes), the largest regions are
 * halved until there are enough, so the count is exact whenever the
 * address space has room for it.
 *
 * Return: 0, or -ENOMEM.
 */
int damon_split_to_min_nr_regions(struct damon_ctx *ctx)
{
	uint64_t sz = damon_sz_total(ctx) / ctx->attrs.min_nr_regions;
	struct damon_target *t;
	struct damon_region *r, *next;

	sz = align_down(sz, ctx->min_sz_region);
	if (!sz)
		sz = ctx->min_sz_region;
	damon_for_each_target(t, ctx) {
		damon_for_each_region_safe(r, next, t) {
			uint64_t n = damon_sz_region(r) / sz;

			if (n > 1 && damon_evenly_split_region(t, r,
					(unsigned int)n, ctx->min_sz_region) == -ENOMEM)
				return -ENOMEM;
		}
	}
	while (damon_nr_regions_total(ctx) < ctx->attrs.min_nr_regions) {
		r = largest_region(ctx, &t);
		if (!r || damon_sz_region(r) < 2 * ctx->min_sz_region)
			break;
		if (damon_evenly_split_region(t, r, 2, ctx->min_sz_region))
			return -ENOMEM;
	}
	return 0;
}

/**
 * damon_split_region_at() - Split @r so its left part is @sz_r bytes.
 * @t:		target holding @r.
 * @r:		region to split.
 * @sz_r:	size of the left part; must be below damon_sz_region(@r).
 *
 * The new right part inherits the access information, because both
 * parts were sampled as one until now.
 */
void damon_split_region_at(struct damon_target *t, struct damon_region *r,
		uint64_t sz_r)
{
	struct damon_region *n = damon_new_region(r->ar.start + sz_r,
			r->ar.end);

	if (!n)
		return;
	r->ar.end = n->ar.start;
	n->age = r->age;
	n->last_nr_accesses = r->last_nr_accesses;
	n->nr_accesses = r->nr_accesses;
	n->nr_accesses_bp = r->nr_accesses_bp;
	n->nr_writes = r->nr_writes;
	n->last_nr_writes = r->last_nr_writes;
	/* each part keeps the share of the box that lies in it */
	n->hint_start = r->hint_start;
	n->hint_end = r->hint_end;
	hint_clip(n);
	hint_clip(r);
	damon_insert_region(n, r, damon_next_region(r), t);
}

/**
 * damon_merge_two_regions() - Merge @r into its left neighbour @l.
 * @t:	target holding both.
 * @l:	left region.
 * @r:	right region, adjacent to @l.
 *
 * nr_accesses, nr_writes and age become size-weighted averages, so a
 * large cold region absorbing a small hot one stays cold and vice versa
 * (and nr_writes stays at most nr_accesses, both averaged alike).  The
 * hint boxes are united: the merged region's box bounds both.
 */
void damon_merge_two_regions(struct damon_target *t, struct damon_region *l,
		struct damon_region *r)
{
	uint64_t sz_l = damon_sz_region(l), sz_r = damon_sz_region(r);
	uint64_t sz = sz_l + sz_r;

	l->nr_accesses = (unsigned int)(((uint64_t)l->nr_accesses * sz_l +
			(uint64_t)r->nr_accesses * sz_r) / sz);
	l->nr_accesses_bp = l->nr_accesses * 10000;
	l->nr_writes = (unsigned int)(((uint64_t)l->nr_writes * sz_l +
			(uint64_t)r->nr_writes * sz_r) / sz);
	l->age = (unsigned int)(((uint64_t)l->age * sz_l +
			(uint64_t)r->age * sz_r) / sz);
	l->ar.end = r->ar.end;
	if (!hint_empty(r))
		damon_region_hint(l, r->hint_start, r->hint_end);
	damon_destroy_region(r, t);
}

static unsigned int diff_uint(unsigned int a, unsigned int b)
{
	return a > b ? a - b : b - a;
}

/**
 * damon_update_ages_of() - Age @t's regions by one aggregation.
 * @t:		target.
 * @thres:	nr_accesses change above which the pattern counts as new.
 *
 * A region's age restarts when its access frequency changed by more than
 * @thres, or when it went from idle to accessed or back.
 */
void damon_update_ages_of(struct damon_target *t, unsigned int thres)
{
	struct damon_region *r;

	damon_for_each_region(r, t) {
		if (diff_uint(r->nr_accesses, r->last_nr_accesses) > thres)
			r->age = 0;
		else if ((r->nr_accesses == 0) != (r->last_nr_accesses == 0))
			r->age = 0;
		else
			r->age++;
	}
}

/**
 * damon_merge_regions_of() - Merge similar adjacent regions of @t.
 * @t:		target.
 * @thres:	largest nr_accesses difference that still merges.
 * @sz_limit:	largest size a merged region may have.
 */
void damon_merge_regions_of(struct damon_target *t, unsigned int thres,
		uint64_t sz_limit)
{
	struct damon_region *r, *next, *prev = NULL;

	damon_for_each_region_safe(r, next, t) {
		if (prev && prev->ar.end == r->ar.start &&
		    diff_uint(prev->nr_accesses, r->nr_accesses) <= thres &&
		    damon_sz_region(prev) + damon_sz_region(r) <= sz_limit)
			damon_merge_two_regions(t, prev, r);
		else
			prev = r;
	}
}

/**
 * damon_split_region_randomly() - Split @r at random points.
 * @ctx:	context, for its random source and minimum region size.
 * @t:		target of @r.
 * @r:		region.
 * @nr_subs:	pieces to make (2 or 3); fewer when @r is too small.
 *
 * Each cut leaves 10% to 90% of the region on the left, so a region
 * whose parts are accessed differently gets a chance to show it.  The
 * new pieces follow @r in the list.
 */
void damon_split_region_randomly(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		unsigned int nr_subs)
{
	uint64_t min_sz = ctx->min_sz_region;
	uint64_t sz = damon_sz_region(r);
	unsigned int i;

	for (i = 0; i < nr_subs - 1 && sz > 2 * min_sz; i++) {
		uint64_t tenths = damon_rand(ctx, 1, 10);
		/* tenths * sz / 10 without overflowing 64 bits */
		uint64_t sz_sub = align_down(tenths * (sz / 10) +
				tenths * (sz % 10) / 10, min_sz);

		if (!sz_sub || sz_sub >= sz)
			continue;
		damon_split_region_at(t, r, sz_sub);
		sz = sz_sub;
	}
}

/*
 * Where @r's hint box says to cut: the bytes of @r left (*@left) and
 * right (*@right) of the box widened to min_sz_region alignment, 0 for
 * an edge that needs no cut.  Returns false when the box gives no cut.
 */
static bool hint_cuts(const struct damon_ctx *ctx,
		const struct damon_region *r, uint64_t *left, uint64_t *right)
{
	uint64_t min_sz = ctx->min_sz_region, sz = damon_sz_region(r);
	uint64_t hs, he;

	if (hint_empty(r))
		return false;
	hs = max_u64(align_down(r->hint_start, min_sz), r->ar.start);
	he = min_u64(align_up(r->hint_end, min_sz), r->ar.end);
	if (he <= hs)
		return false;
	*left = hs - r->ar.start;
	*right = r->ar.end - he;
	/* a box this large says nothing a random 10-90% cut would not */
	return *left + *right >= sz / 10 && *left + *right >= min_sz;
}

/**
 * damon_region_hint_nr_cuts() - How many cuts @r's hint box asks for.
 * @ctx:	context, for its minimum region size.
 * @r:		region.
 *
 * Return: 0, 1 or 2: what damon_split_region_at_hint() would add with
 * room enough.
 */
unsigned int damon_region_hint_nr_cuts(const struct damon_ctx *ctx,
		const struct damon_region *r)
{
	uint64_t left, right;

	if (!hint_cuts(ctx, r, &left, &right))
		return 0;
	return (left != 0) + (right != 0);
}

/**
 * damon_split_region_at_hint() - Cut @r at the edges of its hint box.
 * @ctx:	context, for its minimum region size.
 * @t:		target of @r.
 * @r:		region.
 * @max_new:	most regions to add (1 or 2); 0 adds none.
 *
 * The box is widened to min_sz_region alignment.  A box that leaves
 * less than a tenth of @r outside it says nothing a random cut would
 * not (the random cut points lie between 10% and 90%), so such a region
 * is not cut here.  Otherwise @r is cut at both box edges that lie
 * inside it; with room for one new region only, at the edge that
 * separates more memory from the box.  The box itself stays in the
 * middle piece.
 *
 * Return: the regions added: 0 when the box is empty or too large.
 */
unsigned int damon_split_region_at_hint(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		unsigned int max_new)
{
	unsigned int before = t->nr_regions;
	uint64_t left, right, cut_right;

	if (!max_new || !hint_cuts(ctx, r, &left, &right))
		return 0;
	if (max_new < 2 && left && right) {
		if (left >= right)
			right = 0;
		else
			left = 0;
	}
	cut_right = damon_sz_region(r) - right;
	/* the right cut first, so that @r stays the leftmost piece */
	if (right)
		damon_split_region_at(t, r, cut_right);
	if (left)
		damon_split_region_at(t, r, left);
	return t->nr_regions - before;
}

/**
 * damon_split_regions_of() - Split each region of @t at random points.
 * @ctx:	context, for its random source and minimum region size.
 * @t:		target.
 * @nr_subs:	pieces per region (2 or 3).
 */
void damon_split_regions_of(struct damon_ctx *ctx, struct damon_target *t,
		unsigned int nr_subs)
{
	struct damon_region *r, *next;

	damon_for_each_region_safe(r, next, t)
		damon_split_region_randomly(ctx, t, r, nr_subs);
}

/**
 * damon_region_sz_limit() - Largest region size merges may produce.
 * @ctx:	context.
 *
 * Return: total monitored bytes / min_nr_regions, at least the minimum
 * region size; this keeps at least min_nr_regions regions.
 */
uint64_t damon_region_sz_limit(const struct damon_ctx *ctx)
{
	uint64_t sz = damon_sz_total(ctx);

	if (ctx->attrs.min_nr_regions)
		sz /= ctx->attrs.min_nr_regions;
	return sz < ctx->min_sz_region ? ctx->min_sz_region : sz;
}

/**
 * damon_check_target_invariants() - Verify @t's region list.
 * @t:			target.
 * @min_sz_region:	minimum region size and alignment.
 * @err:		buffer for a description of the first violation.
 * @errlen:		size of @err.
 *
 * Return: 0 when regions are sorted, non-overlapping, aligned, at least
 * @min_sz_region large and @t->nr_regions matches; -EINVAL otherwise.
 */
int damon_check_target_invariants(const struct damon_target *t,
		uint64_t min_sz_region, char *err, size_t errlen)
{
	const struct damon_list *n;
	uint64_t prev_end = 0;
	unsigned int count = 0;

	for (n = t->regions_list.next; n != &t->regions_list; n = n->next) {
		const struct damon_region *r = damon_region_of(n);

		if (r->ar.start >= r->ar.end ||
		    r->ar.end - r->ar.start < min_sz_region)
			return damon_err(err, errlen,
				"region %u [0x%" PRIx64 ", 0x%" PRIx64 ") is smaller than %" PRIu64 " bytes",
				count, r->ar.start, r->ar.end, min_sz_region);
		if (r->ar.start % min_sz_region || r->ar.end % min_sz_region)
			return damon_err(err, errlen,
				"region %u [0x%" PRIx64 ", 0x%" PRIx64 ") is not aligned to %" PRIu64,
				count, r->ar.start, r->ar.end, min_sz_region);
		if (count && r->ar.start < prev_end)
			return damon_err(err, errlen,
				"region %u starts at 0x%" PRIx64 " before the previous end 0x%" PRIx64,
				count, r->ar.start, prev_end);
		if (r->nr_writes > r->nr_accesses ||
		    r->last_nr_writes > r->last_nr_accesses)
			return damon_err(err, errlen,
				"region %u has more writes (%u, last %u) than accesses (%u, last %u)",
				count, r->nr_writes, r->last_nr_writes,
				r->nr_accesses, r->last_nr_accesses);
		prev_end = r->ar.end;
		count++;
	}
	if (count != t->nr_regions)
		return damon_err(err, errlen, "nr_regions is %u but %u are listed",
				t->nr_regions, count);
	return 0;
}

/**
 * damon_new_target() - Allocate a target.
 * @priv:	operations set's handle for the address space.
 *
 * Return: the target with no regions, or NULL.
 */
struct damon_target *damon_new_target(void *priv)
{
	struct damon_target *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->priv = priv;
	damon_list_init(&t->regions_list);
	damon_list_init(&t->list);
	return t;
}

/**
 * damon_add_target() - Append @t to @ctx; its id is its index.
 * @ctx:	context, not running.
 * @t:		target.
 */
void damon_add_target(struct damon_ctx *ctx, struct damon_target *t)
{
	t->id = ctx->nr_targets++;
	damon_list_add_tail(&t->list, &ctx->targets_list);
}

/**
 * damon_destroy_target() - Unlink @t from @ctx and free it and its regions.
 * @t:		target.
 * @ctx:	context holding it, or NULL if it was never added.
 */
void damon_destroy_target(struct damon_target *t, struct damon_ctx *ctx)
{
	struct damon_region *r, *next;

	damon_for_each_region_safe(r, next, t)
		damon_destroy_region(r, t);
	if (ctx) {
		/* no scheme may resume its quota window at a freed target */
		damos_forget_target(ctx, t);
		damon_list_del(&t->list);
		ctx->nr_targets--;
	}
	free(t);
}

/**
 * damon_nr_regions_total() - Regions of all targets of @ctx.
 * @ctx:	context.
 *
 * Return: the count.
 */
unsigned int damon_nr_regions_total(const struct damon_ctx *ctx)
{
	const struct damon_list *n;
	unsigned int nr = 0;

	for (n = ctx->targets_list.next; n != &ctx->targets_list; n = n->next)
		nr += damon_target_of(n)->nr_regions;
	return nr;
}

/**
 * damon_sz_total() - Bytes covered by the regions of all targets.
 * @ctx:	context.
 *
 * Return: the sum of region sizes.
 */
uint64_t damon_sz_total(const struct damon_ctx *ctx)
{
	const struct damon_list *n, *m;
	uint64_t sz = 0;

	for (n = ctx->targets_list.next; n != &ctx->targets_list; n = n->next) {
		const struct damon_target *t = damon_target_of(n);

		for (m = t->regions_list.next; m != &t->regions_list;
		     m = m->next)
			sz += damon_sz_region(damon_region_of(m));
	}
	return sz;
}
