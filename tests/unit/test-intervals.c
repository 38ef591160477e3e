// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The intervals tuner (src/core/intervals.c): Linux 6.15's
 * intervals_goal semantics and the CPU budget, on the deterministic
 * "hot range" operations set and a fake clock.
 */
#include <errno.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"

#define P 4096ULL
#define SPACE (1024 * P)	/* 4 MiB */

struct fixture {
	struct damon_ctx *ctx;
	struct damon_target *t;
	struct tu_hot_ops h;
	struct tu_clock clk;
};

/* 5 ms / 100 ms: 20 samples per aggregation, tuned by @goal. */
static void fixture_init(struct fixture *f, uint64_t hot_end,
		const struct damon_intervals_goal *goal)
{
	const uint64_t in[][2] = { { 0, SPACE } };
	struct damon_attrs a;
	char err[DAMON_ERR_LEN] = "";

	memset(f, 0, sizeof(*f));
	f->ctx = damon_new_ctx();
	f->t = tu_add_target(f->ctx, in, 1);
	f->h.hot_start = 0;
	f->h.hot_end = hot_end;
	f->h.valid = true;
	tu_set_hot_ops(f->ctx, &f->h);
	tu_use_fake_clock(f->ctx, &f->clk);
	damon_attrs_default(&a);
	a.intervals_goal = *goal;
	g_assert_cmpint(damon_set_attrs(f->ctx, &a, err, sizeof(err)), ==, 0);
	g_assert_cmpint(damon_ctx_begin(f->ctx, 0), ==, 0);
}

static void fixture_fini(struct fixture *f)
{
	damon_ctx_end(f->ctx);
	damon_destroy_ctx(f->ctx);
}

/* Step at the deadlines until @n more aggregations have happened. */
static void run_aggrs(struct fixture *f, uint64_t n)
{
	uint64_t until = f->ctx->nr_aggregations + n;

	while (f->ctx->nr_aggregations < until) {
		uint64_t next = damon_ctx_next_deadline_us(f->ctx);

		if (next > f->clk.now_us)
			f->clk.now_us = next;
		g_assert_cmpint(damon_ctx_step(f->ctx, f->clk.now_us), ==, 0);
	}
}

static void assert_ratio_kept(const struct damon_ctx *ctx)
{
	g_assert_cmpuint(ctx->attrs.aggr_interval, ==,
			ctx->attrs.sample_interval * 20);
	g_assert_cmpuint(ctx->attrs.ops_update_interval, >=,
			ctx->attrs.sample_interval);
}

struct goal_case {
	const char *name;
	struct damon_intervals_goal goal;
	const char *needle;	/* the field the error must name; NULL: ok */
};

static const struct goal_case goal_cases[] = {
	{ "off-ignores-the-rest", { 0, 0, 0, 0, 5000 }, NULL },
	{ "ok", { 400, 1, 1000, 1000000, 0 }, NULL },
	{ "ok-budget", { 10000, 3, 1, 1, 1000 }, NULL },
	{ "bp-zero", { 0, 1, 1000, 1000000, 0 },
		"intervals_goal.access_bp must be 1 to 10000 (got 0)" },
	{ "bp-over", { 10001, 1, 1000, 1000000, 0 },
		"intervals_goal.access_bp must be 1 to 10000 (got 10001)" },
	{ "min-zero", { 400, 1, 0, 1000000, 0 },
		"intervals_goal.min_sample_us must be >= 1 us (got 0)" },
	{ "max-below-min", { 400, 1, 2000, 1999, 0 },
		"intervals_goal.max_sample_us must be >= min_sample_us (2000 us) (got 1999)" },
	{ "permille-over", { 400, 1, 1000, 1000000, 1001 },
		"intervals_goal.max_cpu_permille must be 0 (no bound) to 1000 (got 1001)" },
};

static void test_validate(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(goal_cases); i++) {
		const struct goal_case *c = &goal_cases[i];
		struct damon_ctx *ctx = damon_new_ctx();
		struct damon_attrs a, before = ctx->attrs;
		char err[DAMON_ERR_LEN] = "";
		int rc;

		g_test_message("case %s", c->name);
		damon_attrs_default(&a);
		a.intervals_goal = c->goal;
		rc = damon_set_attrs(ctx, &a, err, sizeof(err));
		if (c->needle) {
			g_assert_cmpint(rc, ==, -EINVAL);
			g_assert_cmpstr(err, ==, c->needle);
			g_assert_cmpmem(&ctx->attrs, sizeof(before), &before,
					sizeof(before));
		} else {
			g_assert_cmpint(rc, ==, 0);
		}
		damon_destroy_ctx(ctx);
	}
}

/* Nothing accessed: the sampling interval doubles each round up to max. */
static void test_idle_grows_to_max(void)
{
	const struct damon_intervals_goal g = { 400, 1, 1000, 80000, 0 };
	const uint64_t want[] = { 10000, 20000, 40000, 80000, 80000 };
	struct fixture f;
	size_t i;

	fixture_init(&f, 0, &g);
	for (i = 0; i < G_N_ELEMENTS(want); i++) {
		run_aggrs(&f, 1);
		g_test_message("round %zu: sample %" G_GUINT64_FORMAT
				" us, score %" G_GUINT64_FORMAT " bp, by %s",
				i + 1, f.ctx->attrs.sample_interval,
				f.ctx->intervals_status.last_score_bp,
				damon_intervals_limit_name(
				f.ctx->intervals_status.limited_by));
		g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, want[i]);
		g_assert_cmpuint(f.ctx->intervals_status.last_score_bp, ==, 0);
		g_assert_cmpuint(f.ctx->intervals_status.last_adaptation_bp,
				==, 20000);
		assert_ratio_kept(f.ctx);
	}
	g_assert_cmpint(f.ctx->intervals_status.limited_by, ==,
			DAMON_INTERVALS_LIMIT_MAX_SAMPLE);
	g_assert_cmpuint(f.ctx->intervals_status.nr_tunes, ==,
			G_N_ELEMENTS(want));
	fixture_fini(&f);
}

/*
 * Everything accessed in every sample: the score is far above the goal
 * and the interval halves (the damped shrink) each round down to min;
 * access counts stay within the unchanged samples per aggregation.
 */
static void test_busy_shrinks_to_min(void)
{
	const struct damon_intervals_goal g = { 400, 1, 1000, 80000, 0 };
	const uint64_t want[] = { 2500, 1250, 1000, 1000 };
	struct damon_region *r;
	struct fixture f;
	size_t i;

	fixture_init(&f, SPACE, &g);
	for (i = 0; i < G_N_ELEMENTS(want); i++) {
		run_aggrs(&f, 1);
		g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, want[i]);
		g_assert_cmpuint(f.ctx->intervals_status.last_adaptation_bp,
				==, 5000);
		assert_ratio_kept(f.ctx);
		damon_for_each_region(r, f.t)
			g_assert_cmpuint(r->last_nr_accesses, ==, 20);
	}
	g_assert_cmpint(f.ctx->intervals_status.limited_by, ==,
			DAMON_INTERVALS_LIMIT_MIN_SAMPLE);
	fixture_fini(&f);
}

/* aggrs 0 is off: many aggregations later the intervals are the same. */
static void test_off(void)
{
	const struct damon_intervals_goal g = { 400, 0, 1000, 80000, 0 };
	struct fixture f;

	fixture_init(&f, 0, &g);
	run_aggrs(&f, 10);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 5000);
	g_assert_cmpuint(f.ctx->attrs.aggr_interval, ==, 100000);
	g_assert_cmpuint(f.ctx->intervals_status.nr_tunes, ==, 0);
	fixture_fini(&f);
}

/* aggrs 3: one round every three aggregations, each one step. */
static void test_every_aggrs(void)
{
	const struct damon_intervals_goal g = { 400, 3, 1000, 10000000, 0 };
	struct fixture f;

	fixture_init(&f, 0, &g);
	run_aggrs(&f, 2);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 5000);
	run_aggrs(&f, 1);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 10000);
	run_aggrs(&f, 5);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 20000);
	run_aggrs(&f, 1);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 40000);
	g_assert_cmpuint(f.ctx->intervals_status.nr_tunes, ==, 3);
	fixture_fini(&f);
}

/*
 * The CPU budget: a sample that costs 50 us of CPU, with 1% of a core
 * allowed, needs at least 5 ms between samples; a busy guest that would
 * take the interval down to 1 ms stops there, and the budget wins even
 * over max_sample_us.
 */
static void test_cpu_budget(void)
{
	const struct damon_intervals_goal busy = { 400, 1, 1000, 80000, 10 };
	const struct damon_intervals_goal tight = { 400, 1, 1000, 2000, 10 };
	struct fixture f;

	fixture_init(&f, SPACE, &busy);
	damon_report_sample_cost(f.ctx, 50000);
	g_assert_cmpuint(f.ctx->intervals_status.budget_min_sample_us, ==,
			5000);
	run_aggrs(&f, 4);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 5000);
	g_assert_cmpint(f.ctx->intervals_status.limited_by, ==,
			DAMON_INTERVALS_LIMIT_CPU_BUDGET);
	assert_ratio_kept(f.ctx);
	fixture_fini(&f);

	fixture_init(&f, 0, &tight);
	/* a moving average: one report of 3x moves it by an eighth of 2x */
	damon_report_sample_cost(f.ctx, 50000);
	damon_report_sample_cost(f.ctx, 150000);
	g_assert_cmpuint(f.ctx->intervals_status.sample_cost_ns, ==, 62500);
	run_aggrs(&f, 2);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 6250);
	g_assert_cmpint(f.ctx->intervals_status.limited_by, ==,
			DAMON_INTERVALS_LIMIT_CPU_BUDGET);
	fixture_fini(&f);
}

/*
 * A sample whose cost grows with the interval (a dirty ring's harvest):
 * the budget is checked at every aggregation, so a round of 5
 * aggregations ends at the first one that overspent, not at its end.
 */
static void test_budget_mid_round(void)
{
	const struct damon_intervals_goal g = { 400, 5, 1000, 10000000, 10 };
	struct fixture f;

	fixture_init(&f, 0, &g);
	/* 40 us a sample at 5 ms: 0.8 % of a core, within 1 % */
	damon_report_sample_cost(f.ctx, 40000);
	run_aggrs(&f, 2);
	g_assert_cmpuint(f.ctx->intervals_status.nr_tunes, ==, 0);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 5000);
	/* now 80 us: 1.6 %; the next aggregation ends the round */
	damon_report_sample_cost(f.ctx, 80000);
	f.ctx->intervals_status.sample_cost_ns = 80000;
	run_aggrs(&f, 1);
	g_assert_cmpuint(f.ctx->intervals_status.nr_tunes, ==, 1);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, >=, 8000);
	g_assert_cmpuint(f.ctx->intervals_status.budget_min_sample_us, ==, 8000);
	assert_ratio_kept(f.ctx);
	/* within budget again: the next round takes its 5 aggregations */
	run_aggrs(&f, 4);
	g_assert_cmpuint(f.ctx->intervals_status.nr_tunes, ==, 1);
	run_aggrs(&f, 1);
	g_assert_cmpuint(f.ctx->intervals_status.nr_tunes, ==, 2);
	fixture_fini(&f);
}

/* Idle, then busy: the intervals come back down within a few rounds. */
static void test_wake_up(void)
{
	const struct damon_intervals_goal g = { 400, 1, 1000, 160000, 0 };
	uint64_t last;
	struct fixture f;
	unsigned int rounds = 0;

	fixture_init(&f, 0, &g);
	run_aggrs(&f, 8);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, ==, 160000);
	f.h.hot_end = SPACE;
	last = f.ctx->attrs.sample_interval;
	while (f.ctx->attrs.sample_interval > 1000) {
		run_aggrs(&f, 1);
		g_assert_cmpuint(f.ctx->attrs.sample_interval, <, last);
		last = f.ctx->attrs.sample_interval;
		g_assert_cmpuint(++rounds, <=, 8);
	}
	g_test_message("160 ms to 1 ms in %u aggregations", rounds);
	fixture_fini(&f);
}

/*
 * A quarter of the space hot with a goal of a quarter: the score sits at
 * the goal and the interval stays put once the regions have adapted.
 */
static void test_at_goal_is_stable(void)
{
	const struct damon_intervals_goal g = { 2500, 1, 1000, 80000, 0 };
	struct fixture f;

	fixture_init(&f, SPACE / 4, &g);
	run_aggrs(&f, 30);
	g_test_message("score %" G_GUINT64_FORMAT " bp, sample %"
			G_GUINT64_FORMAT " us",
			f.ctx->intervals_status.last_score_bp,
			f.ctx->attrs.sample_interval);
	g_assert_cmpuint(f.ctx->intervals_status.last_score_bp, >=, 9000);
	g_assert_cmpuint(f.ctx->intervals_status.last_score_bp, <=, 11000);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, >=, 2500);
	g_assert_cmpuint(f.ctx->attrs.sample_interval, <=, 10000);
	fixture_fini(&f);
}

static const struct tu_test tests[] = {
	TU_TEST("validate", test_validate),
	TU_TEST("idle-grows-to-max", test_idle_grows_to_max),
	TU_TEST("busy-shrinks-to-min", test_busy_shrinks_to_min),
	TU_TEST("off", test_off),
	TU_TEST("every-aggrs", test_every_aggrs),
	TU_TEST("cpu-budget", test_cpu_budget),
	TU_TEST("budget-mid-round", test_budget_mid_round),
	TU_TEST("wake-up", test_wake_up),
	TU_TEST("at-goal-is-stable", test_at_goal_is_stable),
};

int main(int argc, char **argv)
{
	return tu_main(argc, argv, "/core/intervals", tests,
			G_N_ELEMENTS(tests));
}
