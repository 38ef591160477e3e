// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Monitoring contexts: lifetime, attributes, clock and random source.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/internal.h"

/* Seed used until damon_set_seed(): runs are reproducible by default. */
#define DAMON_DEFAULT_SEED	0x9e3779b97f4a7c15ULL

int damon_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

uint64_t damon_clock_read(const struct damon_ctx *ctx)
{
	struct timespec ts;

	if (ctx->clock.now_us)
		return ctx->clock.now_us(ctx->clock.opaque);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/**
 * damon_attrs_default() - Fill @attrs with Linux DAMON's defaults.
 * @attrs:	attributes to fill: 5 ms sampling, 100 ms aggregation,
 *		1 s ops update, 10 to 1000 regions, aimed splits (which
 *		split as Linux does while the operations set gives no
 *		hints).
 */
void damon_attrs_default(struct damon_attrs *attrs)
{
	attrs->sample_interval = 5000;
	attrs->aggr_interval = 100000;
	attrs->ops_update_interval = 1000000;
	attrs->min_nr_regions = 10;
	attrs->max_nr_regions = 1000;
	/* as Linux: no intervals tuning until a goal is set */
	attrs->intervals_goal = (struct damon_intervals_goal){ 0 };
	attrs->split_mode = DAMON_SPLIT_AIMED;
}

/**
 * damon_new_ctx() - Allocate a context with default attributes.
 *
 * Return: the context, with no ops, targets or schemes, or NULL.
 */
struct damon_ctx *damon_new_ctx(void)
{
	struct damon_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	damon_attrs_default(&ctx->attrs);
	ctx->min_sz_region = DAMON_MIN_REGION_DEFAULT;
	damon_list_init(&ctx->targets_list);
	damon_list_init(&ctx->schemes_list);
	damon_set_seed(ctx, DAMON_DEFAULT_SEED);
	pthread_mutex_init(&ctx->call_lock, NULL);
	pthread_cond_init(&ctx->call_cond, NULL);
	return ctx;
}

/**
 * damon_destroy_ctx() - End @ctx if it has begun, then free it and its
 * targets and schemes.
 * @ctx:	context, or NULL.
 *
 * Locking: the owner only: the driver, or anyone once nobody drives it.
 */
void damon_destroy_ctx(struct damon_ctx *ctx)
{
	struct damon_target *t, *tn;
	struct damos *s, *sn;

	if (!ctx)
		return;
	if (ctx->begun)
		damon_ctx_end(ctx);
	damon_for_each_target_safe(t, tn, ctx)
		damon_destroy_target(t, ctx);
	damon_for_each_scheme_safe(s, sn, ctx)
		damon_destroy_scheme(s);
	pthread_cond_destroy(&ctx->call_cond);
	pthread_mutex_destroy(&ctx->call_lock);
	free(ctx);
}

/**
 * damon_validate_attrs() - Check monitoring attributes.
 * @attrs:	attributes.
 * @err:	optional buffer for a text naming the field and its range.
 * @errlen:	size of @err.
 *
 * Return: 0, or -EINVAL.
 */
int damon_validate_attrs(const struct damon_attrs *attrs, char *err,
		size_t errlen)
{
	if (attrs->min_nr_regions < 3)
		return damon_err(err, errlen,
			"min_nr_regions must be >= 3 (got %u)",
			attrs->min_nr_regions);
	if (attrs->max_nr_regions < attrs->min_nr_regions)
		return damon_err(err, errlen,
			"max_nr_regions must be >= min_nr_regions (%u) (got %u)",
			attrs->min_nr_regions, attrs->max_nr_regions);
	if (attrs->sample_interval == 0)
		return damon_err(err, errlen,
			"sample_interval must be > 0 us (got 0)");
	if (attrs->aggr_interval < attrs->sample_interval)
		return damon_err(err, errlen,
			"aggr_interval must be >= sample_interval (%" PRIu64 " us) (got %" PRIu64 ")",
			attrs->sample_interval, attrs->aggr_interval);
	if (attrs->aggr_interval / attrs->sample_interval > DAMON_MAX_NR_ACCESSES)
		return damon_err(err, errlen,
			"aggr_interval must be <= %u * sample_interval (got %" PRIu64 " us for %" PRIu64 " us)",
			DAMON_MAX_NR_ACCESSES, attrs->aggr_interval,
			attrs->sample_interval);
	if (attrs->ops_update_interval < attrs->sample_interval)
		return damon_err(err, errlen,
			"ops_update_interval must be >= sample_interval (%" PRIu64 " us) (got %" PRIu64 ")",
			attrs->sample_interval, attrs->ops_update_interval);
	if (damon_validate_intervals_goal(&attrs->intervals_goal, err, errlen))
		return -EINVAL;
	if ((unsigned int)attrs->split_mode >= NR_DAMON_SPLIT_MODES)
		return damon_err(err, errlen,
			"split_mode must be 0 (aimed) to %u (random) (got %u)",
			NR_DAMON_SPLIT_MODES - 1,
			(unsigned int)attrs->split_mode);
	return 0;
}

/* An access count as a share of the most an aggregation can count, in
 * basis points, truncated as Linux's mult_frac() does. */
static uint64_t nr_accesses_to_bp(unsigned int nr,
		const struct damon_attrs *attrs)
{
	uint64_t max = damon_max_nr_accesses(attrs);

	return (uint64_t)nr / max * 10000 + (uint64_t)nr % max * 10000 / max;
}

/*
 * nr_accesses counted under @old, expressed for @new's sampling ratio.
 * Like the kernel, it goes through basis points and truncates at each
 * step, so a count maps to the same value here and there.
 */
static unsigned int rescale_nr_accesses(unsigned int nr,
		const struct damon_attrs *old, const struct damon_attrs *new)
{
	return (unsigned int)(nr_accesses_to_bp(nr, old) *
			damon_max_nr_accesses(new) / 10000);
}

/*
 * Keep results comparable under new intervals.  In the middle of an
 * aggregation window (@aggregating) the partial counts are dropped and
 * the last complete window is rescaled, as if the window had just
 * begun; at an aggregation (from after_aggregation, or before begin) the
 * window that just ended is rescaled and kept.
 */
static void rescale_results(struct damon_ctx *ctx,
		const struct damon_attrs *old, const struct damon_attrs *new,
		bool aggregating)
{
	struct damon_target *t;
	struct damon_region *r;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			if (aggregating) {
				r->last_nr_accesses = rescale_nr_accesses(
						r->last_nr_accesses, old, new);
				r->last_nr_writes = rescale_nr_accesses(
						r->last_nr_writes, old, new);
				r->nr_accesses_bp = r->last_nr_accesses * 10000;
				r->nr_accesses = 0;
				r->nr_writes = 0;
			} else {
				r->nr_accesses = rescale_nr_accesses(
						r->nr_accesses, old, new);
				r->nr_writes = rescale_nr_accesses(
						r->nr_writes, old, new);
				r->nr_accesses_bp = r->nr_accesses * 10000;
			}
			r->age = (unsigned int)((uint64_t)r->age *
					old->aggr_interval / new->aggr_interval);
		}
	}
}

/**
 * damon_set_attrs() - Validate @attrs and make them @ctx's.
 * @ctx:	context.
 * @attrs:	new attributes.
 * @err:	optional buffer for a text naming the field and its range.
 * @errlen:	size of @err.
 *
 * As Linux DAMON's damon_set_attrs(): region ages and access counts are
 * rescaled to the new intervals (regions set before begin included), and
 * the next aggregation and ops update are scheduled from now.  Called in
 * the middle of an aggregation window, the window restarts; called from
 * after_aggregation, the window that just ended is kept, rescaled, and
 * the next aggregation comes one new aggregation interval later.
 *
 * Return: 0, or -EINVAL with @ctx unchanged.
 * Locking: the context's owner only: before damon_ctx_begin(), from a
 * callback, or through damon_call().
 */
int damon_set_attrs(struct damon_ctx *ctx, const struct damon_attrs *attrs,
		char *err, size_t errlen)
{
	struct damon_attrs old = ctx->attrs;
	bool aggregating = ctx->passed_sample_intervals <
		ctx->next_aggregation_sis;
	int rc = damon_validate_attrs(attrs, err, errlen);

	if (rc)
		return rc;
	rescale_results(ctx, &old, attrs, aggregating);
	ctx->attrs = *attrs;
	damon_intervals_restart(ctx);
	ctx->next_aggregation_sis = ctx->passed_sample_intervals +
		attrs->aggr_interval / attrs->sample_interval;
	ctx->next_ops_update_sis = ctx->passed_sample_intervals +
		attrs->ops_update_interval / attrs->sample_interval;
	if (!ctx->begun)
		return 0;
	ctx->sz_limit = damon_region_sz_limit(ctx);
	damos_attrs_changed(ctx, &old);
	return 0;
}

/**
 * damon_set_seed() - Seed @ctx's random source.
 * @ctx:	context.
 * @seed:	seed; the same seed gives the same split points.
 */
void damon_set_seed(struct damon_ctx *ctx, uint64_t seed)
{
	ctx->rnd_state = seed;
}

/* splitmix64: tiny, fast, and good enough for picking split points. */
static uint64_t damon_rand64(struct damon_ctx *ctx)
{
	uint64_t z = (ctx->rnd_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/**
 * damon_rand() - A pseudo-random number in [@l, @r).
 * @ctx:	context whose seeded source to draw from.
 * @l:		lower bound, inclusive.
 * @r:		upper bound, exclusive.
 *
 * Return: the number, or @l when the range is empty.
 */
uint64_t damon_rand(struct damon_ctx *ctx, uint64_t l, uint64_t r)
{
	if (r <= l)
		return l;
	return l + damon_rand64(ctx) % (r - l);
}

/**
 * damon_ctx_now_us() - The time of the step being run.
 * @ctx:	context.
 *
 * Return: the clock value, in microseconds, passed to the current step;
 * operations sets use it instead of reading a clock themselves.
 */
uint64_t damon_ctx_now_us(const struct damon_ctx *ctx)
{
	return ctx->now_us;
}

/**
 * damon_max_nr_accesses() - Largest nr_accesses an aggregation can give.
 * @attrs:	attributes.
 *
 * Return: aggr_interval / sample_interval, at least 1.
 */
unsigned int damon_max_nr_accesses(const struct damon_attrs *attrs)
{
	uint64_t m = attrs->sample_interval ?
		attrs->aggr_interval / attrs->sample_interval : 1;

	return m ? (unsigned int)m : 1;
}

/**
 * damon_update_region_access_rate() - Record one sample of @r.
 * @r:		region.
 * @accessed:	whether the sampled page was accessed in the interval.
 * @attrs:	the context's attributes.
 *
 * Counts the access in nr_accesses and keeps nr_accesses_bp a moving sum
 * over one aggregation window: each sample removes an average sample of
 * the previous window and adds the new one.  Operations sets call this
 * from check_accesses.
 */
void damon_update_region_access_rate(struct damon_region *r, bool accessed,
		const struct damon_attrs *attrs)
{
	unsigned int len = damon_max_nr_accesses(attrs);
	uint64_t old = (uint64_t)r->last_nr_accesses * 10000 / len;
	uint64_t bp = r->nr_accesses_bp;

	bp = bp > old ? bp - old : 0;
	if (accessed) {
		bp += 10000;
		r->nr_accesses++;
	}
	r->nr_accesses_bp = bp > UINT32_MAX ? UINT32_MAX : (unsigned int)bp;
}

/**
 * damon_update_region_writes() - Record whether @r's sample was a write.
 * @r:		region.
 * @written:	whether the sampled page was written in the interval.
 *
 * Call it right after damon_update_region_access_rate() for the same
 * sample; a write is an access, so a write on a sample that found no
 * access is not counted and @r->nr_writes never exceeds nr_accesses.
 * Operations sets that cannot tell writes apart do not call it.
 */
void damon_update_region_writes(struct damon_region *r, bool written)
{
	if (written && r->nr_writes < r->nr_accesses)
		r->nr_writes++;
}
