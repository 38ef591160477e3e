// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Auto-tuning of the sampling and aggregation intervals.
 *
 * Linux 6.15's intervals_goal, plus a CPU budget of our own.  Short
 * intervals on an idle address space only cost: every region reads "not
 * accessed" and the snapshot says nothing new.  Long intervals on a busy
 * one saturate: every region reads "always accessed".  The tuner aims at
 * a share of the most access events an aggregation could observe, so
 * the snapshots stay informative, and scales both intervals together,
 * keeping the samples per aggregation, so that nr_accesses keeps its
 * range and the schemes' access patterns their meaning.
 *
 * The feedback loop is the one the DAMOS quota goals use
 * (damos_feed_loop_next_input()).  Its output moves the sampling
 * interval up by at most a factor of two per round and, damped as the
 * kernel does, down by at most half, so a guest that wakes up brings the
 * intervals back in a few rounds without making them oscillate.
 *
 * The CPU budget bounds what the monitor costs its host: the driver
 * reports the CPU time of each sample interval (damon_report_sample_cost())
 * and the tuner never sets a sampling interval shorter than that cost
 * divided by the allowed share of a core.  The budget is checked at
 * every aggregation, not only at the end of a round: when the cost has
 * outgrown it, the round ends there.
 */
#include <errno.h>
#include <inttypes.h>

#include "core/internal.h"

/* The feedback loop's "goal met" score and its neutral input. */
#define INTERVALS_GOAL_BP	10000ULL
#define INTERVALS_LOOP_INPUT	100000000ULL
/* Weight of a new cost report in the moving average: 1/8. */
#define INTERVALS_COST_SHIFT	3

/**
 * damon_validate_intervals_goal() - Check an intervals goal.
 * @goal:	goal; with aggrs 0 (tuning off) nothing else is checked.
 * @err:	optional buffer for a text naming the field and its range.
 * @errlen:	size of @err.
 *
 * Return: 0, or -EINVAL.
 */
int damon_validate_intervals_goal(const struct damon_intervals_goal *goal,
		char *err, size_t errlen)
{
	if (!goal->aggrs)
		return 0;
	if (goal->access_bp < 1 || goal->access_bp > 10000)
		return damon_err(err, errlen,
			"intervals_goal.access_bp must be 1 to 10000 (got %u)",
			goal->access_bp);
	if (goal->min_sample_us < 1)
		return damon_err(err, errlen,
			"intervals_goal.min_sample_us must be >= 1 us (got 0)");
	if (goal->max_sample_us < goal->min_sample_us)
		return damon_err(err, errlen,
			"intervals_goal.max_sample_us must be >= min_sample_us (%" PRIu64 " us) (got %" PRIu64 ")",
			goal->min_sample_us, goal->max_sample_us);
	if (goal->max_cpu_permille > 1000)
		return damon_err(err, errlen,
			"intervals_goal.max_cpu_permille must be 0 (no bound) to 1000 (got %u)",
			goal->max_cpu_permille);
	return 0;
}

/**
 * damon_intervals_limit_name() - A name for what decided the intervals.
 * @limit:	the limit.
 *
 * Return: "goal", "min-sample-us", "max-sample-us" or "cpu-budget".
 */
const char *damon_intervals_limit_name(enum damon_intervals_limit limit)
{
	switch (limit) {
	case DAMON_INTERVALS_LIMIT_MIN_SAMPLE:
		return "min-sample-us";
	case DAMON_INTERVALS_LIMIT_MAX_SAMPLE:
		return "max-sample-us";
	case DAMON_INTERVALS_LIMIT_CPU_BUDGET:
		return "cpu-budget";
	default:
		return "goal";
	}
}

/* Shortest sampling interval the CPU budget allows, 0 for none. */
static uint64_t budget_min_sample_us(const struct damon_ctx *ctx)
{
	unsigned int permille = ctx->attrs.intervals_goal.max_cpu_permille;
	uint64_t cost = ctx->intervals_status.sample_cost_ns;

	/* cost ns per sample <= permille/1000 of each us: us >= ns/permille */
	if (!permille || !cost)
		return 0;
	return (cost + permille - 1) / permille;
}

/**
 * damon_report_sample_cost() - Tell the tuner what a sample interval cost.
 * @ctx:	context.
 * @cost_ns:	host CPU time the last sample interval took: its access
 *		checks and re-arming, and the aggregation work when it
 *		ended one, in nanoseconds.
 *
 * The tuner keeps a moving average, so aggregation intervals and the
 * odd slow sample weigh in their proportion.  Call it from the driver
 * after each step that closed a sample interval.
 *
 * Locking: the driver only.
 */
void damon_report_sample_cost(struct damon_ctx *ctx, uint64_t cost_ns)
{
	struct damon_intervals_status *st = &ctx->intervals_status;

	if (!st->sample_cost_ns)
		st->sample_cost_ns = cost_ns ? cost_ns : 1;
	else
		st->sample_cost_ns = st->sample_cost_ns -
			(st->sample_cost_ns >> INTERVALS_COST_SHIFT) +
			(cost_ns >> INTERVALS_COST_SHIFT);
	st->budget_min_sample_us = budget_min_sample_us(ctx);
}

void damon_intervals_restart(struct damon_ctx *ctx)
{
	ctx->intervals_aggrs = 0;
	ctx->intervals_events = 0;
	ctx->intervals_max_events = 0;
}

void damon_intervals_begin(struct damon_ctx *ctx)
{
	struct damon_intervals_status *st = &ctx->intervals_status;

	st->nr_tunes = 0;
	st->last_score_bp = 0;
	st->last_adaptation_bp = INTERVALS_GOAL_BP;
	st->limited_by = DAMON_INTERVALS_LIMIT_GOAL;
	st->sample_cost_ns = 0;
	st->budget_min_sample_us = 0;
	damon_intervals_restart(ctx);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* a * b / c without overflowing in between, saturated */
static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 v = (unsigned __int128)a * b / c;

	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/*
 * Observed and possible access events of the aggregation that just
 * ended, in units of min_sz_region so that terabytes of guest times a
 * million samples still fit.
 */
static void intervals_account(struct damon_ctx *ctx)
{
	uint64_t unit = ctx->min_sz_region ? ctx->min_sz_region : 1;
	uint64_t samples = damon_max_nr_accesses(&ctx->attrs);
	struct damon_target *t;
	struct damon_region *r;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			uint64_t units = damon_sz_region(r) / unit;

			ctx->intervals_events = add_sat(ctx->intervals_events,
					mul_div(units, r->nr_accesses, 1));
			ctx->intervals_max_events = add_sat(
					ctx->intervals_max_events,
					mul_div(units, samples, 1));
		}
	}
}

/* Observed events in basis points of the goal's share of the possible. */
static uint64_t intervals_score_bp(const struct damon_ctx *ctx)
{
	uint64_t target = mul_div(ctx->intervals_max_events,
			ctx->attrs.intervals_goal.access_bp, INTERVALS_GOAL_BP);

	return mul_div(ctx->intervals_events, INTERVALS_GOAL_BP,
			target ? target : 1);
}

/*
 * The factor, in basis points, to apply to the sampling interval: the
 * feedback loop's next input from a neutral one, i.e. 1 to 20000, with
 * the shrinking half [1, 10000] squeezed into [5000, 10000] as Linux
 * does, so one round never more than halves the intervals.
 */
static uint64_t intervals_adaptation_bp(uint64_t score_bp)
{
	uint64_t bp = damos_feed_loop_next_input(INTERVALS_LOOP_INPUT,
			score_bp) / INTERVALS_GOAL_BP;

	if (bp <= INTERVALS_GOAL_BP)
		bp = INTERVALS_GOAL_BP / 2 + bp / 2;
	return bp;
}

static void intervals_tune(struct damon_ctx *ctx)
{
	const struct damon_intervals_goal *g = &ctx->attrs.intervals_goal;
	struct damon_intervals_status *st = &ctx->intervals_status;
	uint64_t ratio = damon_max_nr_accesses(&ctx->attrs);
	struct damon_attrs na = ctx->attrs;
	enum damon_intervals_limit lim = DAMON_INTERVALS_LIMIT_GOAL;
	uint64_t score = intervals_score_bp(ctx);
	uint64_t adapt = intervals_adaptation_bp(score);
	uint64_t sample = mul_div(ctx->attrs.sample_interval, adapt,
			INTERVALS_GOAL_BP);
	uint64_t floor_us = budget_min_sample_us(ctx);

	if (sample > g->max_sample_us) {
		sample = g->max_sample_us;
		lim = DAMON_INTERVALS_LIMIT_MAX_SAMPLE;
	}
	if (sample < g->min_sample_us) {
		sample = g->min_sample_us;
		lim = DAMON_INTERVALS_LIMIT_MIN_SAMPLE;
	}
	/* the budget is the host's limit: it wins over max_sample_us */
	if (floor_us && sample < floor_us) {
		sample = floor_us;
		lim = DAMON_INTERVALS_LIMIT_CPU_BUDGET;
	}
	st->nr_tunes++;
	st->last_score_bp = score;
	st->last_adaptation_bp = adapt;
	st->limited_by = lim;
	st->budget_min_sample_us = floor_us;
	if (sample == ctx->attrs.sample_interval || sample > UINT64_MAX / ratio)
		return;
	na.sample_interval = sample;
	na.aggr_interval = sample * ratio;
	/* validation wants it no shorter; it only paces hotplug checks */
	if (na.ops_update_interval < sample)
		na.ops_update_interval = sample;
	/* the same ratio and a valid goal: this cannot fail */
	damon_set_attrs(ctx, &na, NULL, 0);
}

/*
 * Whether the monitor now costs more than its budget.  A sample's cost
 * can grow with the interval (a dirty ring holds more entries, a bitmap
 * more bits to re-arm), so the budget set at the last round may no
 * longer hold; waiting for the next round would overspend for all of it
 * (33 s of 6 % of a core against 1 %, measured nested).
 */
static bool intervals_over_budget(const struct damon_ctx *ctx)
{
	return budget_min_sample_us(ctx) > ctx->attrs.sample_interval;
}

void kdamond_intervals_aggregated(struct damon_ctx *ctx, uint64_t due_sis)
{
	if (!ctx->attrs.intervals_goal.aggrs)
		return;
	intervals_account(ctx);
	/* over budget, the round ends early, scored on what it saw */
	if (++ctx->intervals_aggrs < ctx->attrs.intervals_goal.aggrs &&
	    !intervals_over_budget(ctx))
		return;
	/*
	 * A callback may have set attributes in this aggregation, which
	 * moved the next aggregation ahead; damon_set_attrs() would then
	 * take the window that just ended for a partial one and drop it.
	 */
	ctx->next_aggregation_sis = due_sis;
	intervals_tune(ctx);
	damon_intervals_restart(ctx);
}
