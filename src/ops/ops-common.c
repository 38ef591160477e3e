// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Helpers shared by the operations sets: DAMOS priority scores.
 *
 * The scores follow Linux mm/damon/ops-common.c.  A region's hotness
 * blends, by the scheme's quota weights, a frequency subscore (its
 * nr_accesses against the most an aggregation can count) and an age
 * subscore (log2 of its age in seconds, capped at 32, and negated for a
 * region that was not accessed, since a long-idle region is the coldest
 * of all).  Subscores range over 0..100 and the blend is scaled to
 * 0..DAMOS_MAX_SCORE.
 *
 * Two differences from the kernel:
 *
 *  - Frequency comes from nr_accesses_bp / 10000, the moving sum that is
 *    valid at any sample, rather than nr_accesses, which is only
 *    complete right before an aggregation resets it.  DAMOS can run at
 *    any sample (apply_interval_us), so the moving sum is the fair value.
 *  - The kernel ignores quota.weight_sz.  Here it weights a size
 *    subscore, log2 of the region's size in min_sz_region units (capped
 *    at 32, scaled to 0..100), that favours bigger regions for both hot
 *    and cold scores: when a quota forces a choice among equally hot (or
 *    cold) regions, acting on the big ones does more per decision.  With
 *    weight_sz 0 both scores equal the kernel's, and the cold score is
 *    exactly DAMOS_MAX_SCORE minus the hot score.
 */
#include "ops/ops-common.h"

/* Range of each subscore: 0..100. */
#define DAMON_MAX_SUBSCORE	100
/* log2 values (of age in seconds, of size in units) are capped here. */
#define DAMON_MAX_LOG		32

/* Number of significant bits of @v, capped at DAMON_MAX_LOG. */
static int damon_log2_capped(uint64_t v)
{
	int log;

	for (log = 0; log < DAMON_MAX_LOG && v; log++)
		v >>= 1;
	return log;
}

static unsigned int damon_freq_subscore(const struct damon_ctx *ctx,
		const struct damon_region *r)
{
	unsigned int max = damon_max_nr_accesses(&ctx->attrs);
	uint64_t nr = r->nr_accesses_bp / 10000;

	if (!max)
		max = 1;
	if (nr > max)
		nr = max;
	return (unsigned int)(nr * DAMON_MAX_SUBSCORE / max);
}

/* @idle: the region was not accessed, so being old makes it colder. */
static unsigned int damon_age_subscore(const struct damon_ctx *ctx,
		const struct damon_region *r, bool idle)
{
	uint64_t age_sec = (uint64_t)r->age * ctx->attrs.aggr_interval /
		1000000;
	int log = damon_log2_capped(age_sec);

	if (idle)
		log = -log;
	/* [-MAX_LOG, MAX_LOG] to [0, MAX_SUBSCORE] */
	return (unsigned int)((log + DAMON_MAX_LOG) * DAMON_MAX_SUBSCORE /
			DAMON_MAX_LOG / 2);
}

static unsigned int damon_size_subscore(const struct damon_ctx *ctx,
		const struct damon_region *r)
{
	uint64_t unit = ctx->min_sz_region ? ctx->min_sz_region : 1;

	return (unsigned int)(damon_log2_capped(damon_sz_region(r) / unit) *
			DAMON_MAX_SUBSCORE / DAMON_MAX_LOG);
}

/* Weighted mean of the subscores, scaled to [0, DAMOS_MAX_SCORE]. */
static int damon_blend(const struct damos *s, unsigned int freq,
		unsigned int age, unsigned int size)
{
	const struct damos_quota *q = &s->quota;
	uint64_t weights = (uint64_t)q->weight_nr_accesses + q->weight_age +
		q->weight_sz;
	uint64_t sum = (uint64_t)q->weight_nr_accesses * freq +
		(uint64_t)q->weight_age * age + (uint64_t)q->weight_sz * size;

	if (!weights)
		return 0;
	return (int)(sum / weights * DAMOS_MAX_SCORE / DAMON_MAX_SUBSCORE);
}

/**
 * damon_hot_score() - How hot @r is, for prioritising @s's quota.
 * @ctx:	context of @r.
 * @r:		region.
 * @s:		scheme whose quota weights to use.
 *
 * Return: the score in [0, %DAMOS_MAX_SCORE]; higher is hotter (and,
 * with a size weight, bigger).
 */
int damon_hot_score(struct damon_ctx *ctx, struct damon_region *r,
		struct damos *s)
{
	unsigned int freq = damon_freq_subscore(ctx, r);

	return damon_blend(s, freq, damon_age_subscore(ctx, r, freq == 0),
			damon_size_subscore(ctx, r));
}

/**
 * damon_cold_score() - How cold @r is, for prioritising @s's quota.
 * @ctx:	context of @r.
 * @r:		region.
 * @s:		scheme whose quota weights to use.
 *
 * The complement of the hot score, except that the size subscore is not
 * inverted: bigger regions go first here too.
 *
 * Return: the score in [0, %DAMOS_MAX_SCORE]; higher is colder.
 */
int damon_cold_score(struct damon_ctx *ctx, struct damon_region *r,
		struct damos *s)
{
	unsigned int freq = damon_freq_subscore(ctx, r);
	unsigned int size = damon_size_subscore(ctx, r);

	/* inverting size here cancels the inversion of the whole below */
	return DAMOS_MAX_SCORE - damon_blend(s, freq,
			damon_age_subscore(ctx, r, freq == 0),
			DAMON_MAX_SUBSCORE - size);
}
