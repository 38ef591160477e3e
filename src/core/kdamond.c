// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitoring loop, as a step machine.
 *
 * Linux DAMON's kdamond_fn() is a loop that sleeps between samples.  Here
 * the loop body is damon_ctx_step(): each call does what is due at the
 * time it is given and says, through damon_ctx_next_deadline_us(), when
 * the next call is wanted.  Whoever calls the steps is the context's
 * driver: QEMU's monitor thread sleeps between them, its virtual-clock
 * timer and the tests call them at the deadlines of their own clocks, so
 * runs are deterministic.  Each step first runs the damon_call()
 * requests other threads queued (call.c).
 *
 * One sample interval takes two half-steps: "arm" calls the ops'
 * prepare_access_checks; one sample interval later, "sample" reads the
 * checks and does whatever the aggregation, scheme and update intervals
 * make due, then arms again at once.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/internal.h"

static uint64_t intervals_in_samples(const struct damon_attrs *attrs,
		uint64_t interval_us)
{
	return interval_us / attrs->sample_interval;
}

/* Record why the loop ends; the caller then returns 1. */
static int kdamond_finish(struct damon_ctx *ctx, enum damon_stop_reason why)
{
	ctx->finished = true;
	if (ctx->stop_reason == DAMON_STOP_NONE)
		ctx->stop_reason = why;
	return 1;
}

/* Whether the loop must end: a stop request, or no valid target left. */
static bool kdamond_need_stop(struct damon_ctx *ctx)
{
	struct damon_target *t;

	if (ctx->self_stop) {
		kdamond_finish(ctx, DAMON_STOP_REQUESTED);
		return true;
	}
	if (!ctx->ops.target_valid)
		return false;
	damon_for_each_target(t, ctx)
		if (ctx->ops.target_valid(t))
			return false;
	kdamond_finish(ctx, DAMON_STOP_TARGETS_INVALID);
	return true;
}

/**
 * kdamond_merge_regions() - The aggregation's merge step.
 * @ctx:	context.
 * @threshold:	nr_accesses difference that still merges (max / 10).
 * @sz_limit:	largest merged region.
 *
 * Ages are updated once against @threshold.  Merging then repeats with a
 * doubled threshold while the region count exceeds max_nr_regions.
 * (Linux DAMON updates ages on every pass, so ages grow faster when the
 * threshold is raised; one update per aggregation keeps age in units of
 * aggregations.)
 */
void kdamond_merge_regions(struct damon_ctx *ctx, unsigned int threshold,
		uint64_t sz_limit)
{
	unsigned int max_thres = damon_max_nr_accesses(&ctx->attrs);
	unsigned int nr_regions;
	struct damon_target *t;

	damon_for_each_target(t, ctx)
		damon_update_ages_of(t, threshold);
	do {
		nr_regions = 0;
		damon_for_each_target(t, ctx) {
			damon_merge_regions_of(t, threshold, sz_limit);
			nr_regions += t->nr_regions;
		}
		threshold = threshold ? threshold * 2 : 1;
	} while (nr_regions > ctx->attrs.max_nr_regions &&
		 threshold / 2 < max_thres);
}

/*
 * The split pass.  Regions whose turn has come (the first @share from
 * index @from on, wrapping) split at random into @nr_subs pieces.  In
 * aimed mode a region whose hint box asks for cuts is cut there instead,
 * whether or not its turn has come: the hints say where a split pays off
 * now, the turns only guess.  The count never passes max_nr_regions,
 * and the room the aimed cuts need is kept for them, wherever they come
 * in the list.
 */
static void kdamond_split_pass(struct damon_ctx *ctx, unsigned int nr_regions,
		unsigned int nr_subs, unsigned int share, unsigned int from)
{
	bool aimed = ctx->attrs.split_mode == DAMON_SPLIT_AIMED;
	unsigned int room = ctx->attrs.max_nr_regions - nr_regions;
	unsigned int reserve = 0, idx = 0;
	struct damon_region *r, *next;
	struct damon_target *t;

	if (aimed)
		damon_for_each_target(t, ctx)
			damon_for_each_region(r, t)
				reserve += damon_region_hint_nr_cuts(ctx, r);
	damon_for_each_target(t, ctx) {
		damon_for_each_region_safe(r, next, t) {
			unsigned int cuts = aimed ?
				damon_region_hint_nr_cuts(ctx, r) : 0;
			bool turn = (idx++ + nr_regions - from) % nr_regions <
				share;
			unsigned int before = t->nr_regions, subs = nr_subs;

			if (cuts) {
				reserve -= cuts;
				room -= damon_split_region_at_hint(ctx, t, r,
						room < 2 ? room : 2);
				continue;
			}
			if (!turn || room <= reserve)
				continue;
			if (subs - 1 > room - reserve)
				subs = room - reserve + 1;
			damon_split_region_randomly(ctx, t, r, subs);
			room -= t->nr_regions - before;
		}
	}
}

/*
 * Split in two as many regions as still fit under max_nr_regions, taking
 * them in turn from a cursor that moves on at every aggregation, so that
 * over a few aggregations every region gets its chance.
 */
static void kdamond_split_some_regions(struct damon_ctx *ctx,
		unsigned int nr_regions)
{
	unsigned int share = ctx->attrs.max_nr_regions - nr_regions;
	unsigned int from = ctx->split_cursor % nr_regions;

	kdamond_split_pass(ctx, nr_regions, 2, share, from);
	ctx->split_cursor = (from + share) % nr_regions;
}

/* The boxes served this aggregation's split; the next one collects anew. */
static void kdamond_clear_hints(struct damon_ctx *ctx)
{
	struct damon_region *r;
	struct damon_target *t;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			r->hint_start = 0;
			r->hint_end = 0;
		}
	}
}

/**
 * kdamond_split_regions() - The aggregation's split step.
 * @ctx:	context.
 *
 * With at most max_nr_regions / 2 regions, every region is split in two,
 * or in three when the count did not change since the last split (a
 * region's middle may differ from its ends).  Above that, as in current
 * Linux, splitting goes on for a rotating share of the regions, as many
 * as still fit under max_nr_regions, so that adaptivity does not freeze
 * in large address spaces; only at max_nr_regions does it stop.
 *
 * In %DAMON_SPLIT_AIMED mode, a region whose hint box is clearly smaller
 * than itself is cut at the box's edges instead (two cuts at most, never
 * past max_nr_regions); the others split at random as above.  Every hint
 * box is emptied afterwards, in either mode.
 */
void kdamond_split_regions(struct damon_ctx *ctx)
{
	unsigned int nr_regions = damon_nr_regions_total(ctx);
	unsigned int nr_subs = 2;

	if (!nr_regions || nr_regions >= ctx->attrs.max_nr_regions)
		goto out;
	if (nr_regions > ctx->attrs.max_nr_regions / 2) {
		kdamond_split_some_regions(ctx, nr_regions);
		ctx->last_nr_regions = nr_regions;
		goto out;
	}
	if (ctx->last_nr_regions == nr_regions &&
	    nr_regions < ctx->attrs.max_nr_regions / 3)
		nr_subs = 3;
	kdamond_split_pass(ctx, nr_regions, nr_subs, nr_regions, 0);
	ctx->last_nr_regions = nr_regions;
out:
	kdamond_clear_hints(ctx);
}

/**
 * kdamond_reset_aggregated() - Start a new aggregation window.
 * @ctx:	context.
 */
void kdamond_reset_aggregated(struct damon_ctx *ctx)
{
	struct damon_target *t;
	struct damon_region *r;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			r->last_nr_accesses = r->nr_accesses;
			r->nr_accesses = 0;
			r->last_nr_writes = r->nr_writes;
			r->nr_writes = 0;
		}
	}
}

/* Arm the access checks of the next sample interval. */
static int kdamond_arm(struct damon_ctx *ctx)
{
	if (ctx->ops.prepare_access_checks)
		ctx->ops.prepare_access_checks(ctx);
	ctx->sampling_armed = true;
	ctx->next_deadline_us = ctx->now_us + ctx->attrs.sample_interval;
	if (ctx->callback.after_sampling && ctx->callback.after_sampling(ctx))
		return kdamond_finish(ctx, DAMON_STOP_CALLBACK);
	return 0;
}

/*
 * Close the aggregation that was due at @due_sis.  The next one is due
 * an aggregation interval (as the attributes now say) later, whatever a
 * callback did meanwhile: damon_set_attrs() from after_aggregation also
 * schedules it, and must not push it back twice.
 */
static void kdamond_aggregate_end(struct damon_ctx *ctx, uint64_t due_sis)
{
	kdamond_intervals_aggregated(ctx, due_sis);
	ctx->next_aggregation_sis = due_sis + intervals_in_samples(&ctx->attrs,
			ctx->attrs.aggr_interval);
	kdamond_reset_aggregated(ctx);
	kdamond_split_regions(ctx);
	if (ctx->ops.reset_aggregated)
		ctx->ops.reset_aggregated(ctx);
}

static void kdamond_update(struct damon_ctx *ctx)
{
	ctx->next_ops_update_sis += intervals_in_samples(&ctx->attrs,
			ctx->attrs.ops_update_interval);
	if (ctx->ops.update)
		ctx->ops.update(ctx);
	ctx->sz_limit = damon_region_sz_limit(ctx);
}

/* One sample interval has passed: read it, then do what became due. */
static int kdamond_sample(struct damon_ctx *ctx)
{
	uint64_t due_sis = ctx->next_aggregation_sis;
	bool aggregate;

	ctx->sampling_armed = false;
	ctx->passed_sample_intervals++;
	ctx->max_nr_accesses = ctx->ops.check_accesses ?
		ctx->ops.check_accesses(ctx) : 0;
	aggregate = ctx->passed_sample_intervals >= due_sis;
	if (aggregate) {
		kdamond_merge_regions(ctx, ctx->max_nr_accesses / 10,
				ctx->sz_limit);
		ctx->nr_aggregations++;
		ctx->last_aggregation_us = ctx->now_us;
		if (ctx->callback.after_aggregation &&
		    ctx->callback.after_aggregation(ctx))
			return kdamond_finish(ctx, DAMON_STOP_CALLBACK);
	}
	if (!damon_list_empty(&ctx->schemes_list))
		kdamond_apply_schemes(ctx);
	if (aggregate)
		kdamond_aggregate_end(ctx, due_sis);
	if (ctx->passed_sample_intervals >= ctx->next_ops_update_sis)
		kdamond_update(ctx);
	return 0;
}

/**
 * damon_ctx_begin() - Start monitoring @ctx on the caller's thread.
 * @ctx:	context with ops, targets and schemes set.
 * @now_us:	current time on the driver's clock, in microseconds.
 *
 * Runs the ops' init, splits the initial regions evenly until there are
 * min_nr_regions of them, and runs the before_start callback.  The first
 * step is due at once.  A context begun here is driven by
 * damon_ctx_step() and ended by damon_ctx_end(), on the same thread.
 *
 * Return: 0, -EBUSY if it has already begun, or the ops' init error.
 * Locking: the caller becomes @ctx's driver and owns it until
 * damon_ctx_end(); other threads reach it through damon_call().
 */
int damon_ctx_begin(struct damon_ctx *ctx, uint64_t now_us)
{
	int rc;

	if (ctx->begun)
		return -EBUSY;
	ctx->now_us = now_us;
	ctx->passed_sample_intervals = 0;
	ctx->nr_aggregations = 0;
	ctx->last_aggregation_us = now_us;
	ctx->next_aggregation_sis = intervals_in_samples(&ctx->attrs,
			ctx->attrs.aggr_interval);
	ctx->next_ops_update_sis = intervals_in_samples(&ctx->attrs,
			ctx->attrs.ops_update_interval);
	ctx->sampling_armed = false;
	ctx->finished = false;
	ctx->self_stop = false;
	ctx->stop_reason = DAMON_STOP_NONE;
	ctx->last_nr_regions = 0;
	ctx->next_deadline_us = now_us;
	damon_intervals_begin(ctx);
	if (ctx->ops.init) {
		rc = ctx->ops.init(ctx);
		if (rc) {
			ctx->stop_reason = DAMON_STOP_OPS_ERROR;
			return rc;
		}
	}
	/* start from min_nr_regions even regions, as vaddr's init does */
	if (damon_nr_regions_total(ctx) < ctx->attrs.min_nr_regions) {
		rc = damon_split_to_min_nr_regions(ctx);
		if (rc) {
			if (ctx->ops.cleanup)
				ctx->ops.cleanup(ctx);
			ctx->stop_reason = DAMON_STOP_OPS_ERROR;
			return rc;
		}
	}
	ctx->begun = true;
	damon_call_set_driver(ctx, true);
	ctx->sz_limit = damon_region_sz_limit(ctx);
	kdamond_init_schemes(ctx);
	if (ctx->callback.before_start && ctx->callback.before_start(ctx))
		kdamond_finish(ctx, DAMON_STOP_CALLBACK);
	return 0;
}

/**
 * damon_ctx_step() - Do what is due for @ctx at @now_us.
 * @ctx:	begun context.
 * @now_us:	current time on the driver's clock; never goes backwards.
 *
 * Queued damon_call() requests run first, at every call.  Apart from
 * them, a call before damon_ctx_next_deadline_us() does nothing, so a
 * driver may wake early, e.g. from &damon_callback.call_queued.  A late
 * call still counts as one sample interval: like Linux DAMON, the engine
 * counts intervals, it does not catch up.
 *
 * Return: 0 to go on, 1 when monitoring has ended (see @ctx->stop_reason;
 * call damon_ctx_end() next), or -EINVAL if @ctx has not begun.
 */
int damon_ctx_step(struct damon_ctx *ctx, uint64_t now_us)
{
	uint64_t wait;

	if (!ctx->begun)
		return -EINVAL;
	if (now_us > ctx->now_us)
		ctx->now_us = now_us;
	kdamond_call(ctx, false);
	if (ctx->finished)
		return 1;
	if (kdamond_need_stop(ctx))
		return 1;
	if (ctx->now_us < ctx->next_deadline_us)
		return 0;
	if (ctx->sampling_armed && kdamond_sample(ctx))
		return 1;
	if (kdamond_need_stop(ctx))
		return 1;
	wait = kdamond_wmarks_wait_us(ctx);
	if (wait) {
		/* every scheme is inactive: only watch the watermarks */
		ctx->next_deadline_us = ctx->now_us + wait;
		return 0;
	}
	return kdamond_arm(ctx);
}

/**
 * damon_ctx_next_deadline_us() - When @ctx wants its next step.
 * @ctx:	begun context.
 *
 * Return: the driver-clock time, in microseconds; a finished context
 * returns its current time so that the driver notices at once.
 */
uint64_t damon_ctx_next_deadline_us(const struct damon_ctx *ctx)
{
	if (ctx->finished || ctx->self_stop)
		return ctx->now_us;
	return ctx->next_deadline_us;
}

/**
 * damon_ctx_request_stop() - Make the next step end monitoring.
 * @ctx:	context.
 *
 * Locking: the driver only (directly or from a callback); other threads
 * queue it with damon_call().
 */
void damon_ctx_request_stop(struct damon_ctx *ctx)
{
	ctx->self_stop = true;
}

/**
 * damon_ctx_end() - Finish monitoring @ctx.
 * @ctx:	begun context.
 *
 * Calls before_terminate and the ops' cleanup, and drops the regions, as
 * Linux DAMON does when kdamond exits; the targets and schemes stay, so
 * the context can begin again.  damon_call() requests still queued are
 * canceled, and the context has no driver any more.
 *
 * Locking: the driver only.
 */
void damon_ctx_end(struct damon_ctx *ctx)
{
	struct damon_target *t;
	struct damon_region *r, *next;

	if (!ctx->begun)
		return;
	if (!ctx->finished)
		kdamond_finish(ctx, DAMON_STOP_REQUESTED);
	if (ctx->callback.before_terminate)
		ctx->callback.before_terminate(ctx);
	damon_for_each_target(t, ctx)
		damon_for_each_region_safe(r, next, t)
			damon_destroy_region(r, t);
	if (ctx->ops.cleanup)
		ctx->ops.cleanup(ctx);
	ctx->begun = false;
	ctx->sampling_armed = false;
	damon_call_set_driver(ctx, false);
}
