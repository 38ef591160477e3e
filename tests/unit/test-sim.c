/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the "sim" operations set: the simulated access pattern,
 * its ground truth, and the ops callbacks driven by the step API.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test-util.h"
#include "sim/sim.h"

#define KiB	(1ULL << 10)
#define MiB	(1ULL << 20)
#define GiB	(1ULL << 30)

/* Sample, aggregation and ops update intervals of the defaults, in µs. */
#define SAMPLE_US	5000ULL
#define AGGR_US		100000ULL
#define UPDATE_US	1000000ULL

/* A context with default attributes, a fake clock and @sim attached. */
static struct damon_ctx *new_sim_ctx(struct damon_sim *sim,
		struct tu_clock *clk, uint64_t seed)
{
	struct damon_ctx *ctx = damon_new_ctx();
	struct damon_attrs attrs;

	g_assert_nonnull(ctx);
	damon_attrs_default(&attrs);
	g_assert_cmpint(damon_set_attrs(ctx, &attrs, NULL, 0), ==, 0);
	damon_set_seed(ctx, seed);
	tu_use_fake_clock(ctx, clk);
	g_assert_nonnull(damon_sim_attach(ctx, sim));
	return ctx;
}

static struct damon_target *first_target(struct damon_ctx *ctx)
{
	return damon_target_of(ctx->targets_list.next);
}

/*
 * Assert that the regions of @t cover exactly @layout (sorted): walking
 * the regions, contiguous runs must match the layout ranges one by one.
 */
static void assert_covers(struct damon_target *t,
		const struct damon_addr_range *layout, unsigned int nr)
{
	struct damon_region *r;
	unsigned int i = 0;
	uint64_t run_start = 0, run_end = 0;
	bool in_run = false;

	damon_for_each_region(r, t) {
		if (in_run && r->ar.start == run_end) {
			run_end = r->ar.end;
			continue;
		}
		if (in_run) {
			g_assert_cmpuint(i, <, nr);
			g_assert_cmphex(run_start, ==, layout[i].start);
			g_assert_cmphex(run_end, ==, layout[i].end);
			i++;
		}
		run_start = r->ar.start;
		run_end = r->ar.end;
		in_run = true;
	}
	g_assert_true(in_run);
	g_assert_cmpuint(i, ==, nr - 1);
	g_assert_cmphex(run_start, ==, layout[i].start);
	g_assert_cmphex(run_end, ==, layout[i].end);
}

/* Creation rejects malformed layouts and phases. */
static void test_sim_invalid(void)
{
	const struct damon_addr_range overlap[] = {
		{ 0, 2 * MiB }, { MiB, 3 * MiB },
	};
	const struct damon_addr_range empty[] = { { MiB, MiB } };
	const struct damon_addr_range unsorted[] = {
		{ 4 * GiB, 5 * GiB }, { 0, GiB },
	};
	const struct damon_sim_range bad_prob[] = { { 0, MiB, 1.5 } };
	const struct damon_sim_range bad_overlap[] = {
		{ 0, 2 * MiB, 0.5 }, { MiB, 3 * MiB, 0.5 },
	};
	const struct damon_sim_range nan_prob[] = { { 0, MiB, NAN } };
	struct damon_sim *sim;

	g_assert_null(damon_sim_new(overlap, 2, 1));
	g_assert_null(damon_sim_new(empty, 1, 1));
	g_assert_null(damon_sim_new(unsorted, 0, 1));
	g_assert_null(damon_sim_new_static(GiB, 0.0, 1.0, 1));
	g_assert_null(damon_sim_new_stairs(GiB, 0, AGGR_US, 1.0, 1));
	g_assert_null(damon_sim_new_zigzag(KiB, 4, AGGR_US, 1.0, 1));

	sim = damon_sim_new(unsorted, 2, 1);
	g_assert_nonnull(sim);
	g_assert_cmpuint(damon_sim_layout_bytes(sim), ==, 2 * GiB);
	g_assert_cmpint(damon_sim_add_phase(sim, 1, bad_prob, 1, 0), ==,
			-EINVAL);
	g_assert_cmpint(damon_sim_add_phase(sim, 1, bad_overlap, 2, 0), ==,
			-EINVAL);
	g_assert_cmpint(damon_sim_add_phase(sim, 1, nan_prob, 1, 0), ==,
			-EINVAL);
	g_assert_cmpint(damon_sim_add_phase(sim, 1, NULL, 0, -0.1), ==,
			-EINVAL);
	g_assert_cmpint(damon_sim_set_layout(sim, overlap, 2), ==, -EINVAL);
	g_assert_cmpuint(damon_sim_layout_bytes(sim), ==, 2 * GiB);
	g_assert_cmpuint(damon_sim_nr_phases(sim), ==, 0);
	/* no phase: nothing is ever accessed */
	g_assert_cmpfloat(damon_sim_prob_at(sim, 0, MiB), ==, 0.0);
	g_assert_cmpuint(damon_sim_wss_bytes(sim, 0), ==, 0);
	damon_sim_destroy(sim);
}

/*
 * The pattern used by the lookup and truth tests: RAM below 3 GiB and
 * from 4 GiB to 6 GiB, given out of order, with a 1% background.
 *
 *   0     1G  1G+1M     2G    2.5G   3G   4G  4.5G   5G      6G
 *   |.....[0.5]..........[1.0 ].....|    |....[0.25]|.......|
 *                                        hole: 3G..4G
 */
static const struct damon_addr_range holes_layout[] = {
	{ 4 * GiB, 6 * GiB }, { 0, 3 * GiB },
};
static const struct damon_sim_range holes_hot[] = {
	{ 2 * GiB, 2 * GiB + GiB / 2, 1.0 },
	{ 9 * GiB / 2, 5 * GiB, 0.25 },
	{ GiB, GiB + MiB, 0.5 },
	{ 3 * GiB - MiB, 4 * GiB + MiB, 0.75 },	/* straddles the hole */
};

static struct damon_sim *new_holes_sim(double background)
{
	struct damon_sim *sim = damon_sim_new(holes_layout, 2, 42);

	g_assert_nonnull(sim);
	g_assert_cmpint(damon_sim_add_phase(sim, UPDATE_US, holes_hot,
				G_N_ELEMENTS(holes_hot), background), ==, 0);
	return sim;
}

/* Probability lookups: ranges, background, holes and boundaries. */
static void test_sim_prob_lookup(void)
{
	static const struct {
		uint64_t addr;
		double prob;
	} cases[] = {
		{ 0, 0.01 },
		{ GiB - 1, 0.01 },
		{ GiB, 0.5 },
		{ GiB + MiB - 1, 0.5 },
		{ GiB + MiB, 0.01 },
		{ 2 * GiB, 1.0 },
		{ 2 * GiB + GiB / 2 - 4 * KiB, 1.0 },
		{ 2 * GiB + GiB / 2, 0.01 },
		{ 3 * GiB - MiB - 1, 0.01 },
		{ 3 * GiB - MiB, 0.75 },
		{ 3 * GiB - 1, 0.75 },
		{ 3 * GiB, 0.0 },		/* hole, though in a range */
		{ 4 * GiB - 1, 0.0 },
		{ 4 * GiB, 0.75 },
		{ 4 * GiB + MiB, 0.01 },
		{ 9 * GiB / 2, 0.25 },
		{ 5 * GiB - 1, 0.25 },
		{ 5 * GiB, 0.01 },
		{ 6 * GiB - 1, 0.01 },
		{ 6 * GiB, 0.0 },		/* past the layout */
		{ UINT64_MAX, 0.0 },
	};
	struct damon_sim *sim = new_holes_sim(0.01);
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		double p = damon_sim_prob_at(sim, 0, cases[i].addr);

		if (p != cases[i].prob)
			g_error("case %u: prob at 0x%" G_GINT64_MODIFIER
					"x is %g, want %g", i, cases[i].addr,
					p, cases[i].prob);
	}
	/* an unknown phase has no accesses */
	g_assert_cmpfloat(damon_sim_prob_at(sim, 1, 2 * GiB), ==, 0.0);
	damon_sim_destroy(sim);
}

/* Binary search against a linear scan, over many ranges. */
static void test_sim_prob_lookup_many(void)
{
	enum { NR = 4096 };
	const struct damon_addr_range space = { 0, 64 * GiB };
	struct damon_sim_range *hot = g_new(struct damon_sim_range, NR);
	struct damon_sim *sim = damon_sim_new(&space, 1, 1);
	GRand *rand = g_rand_new_with_seed(7);
	unsigned int i, j;

	/* every other 16 MiB slot, given in reverse order */
	for (i = 0; i < NR; i++) {
		uint64_t slot = (uint64_t)(NR - 1 - i) * 2 * 16 * MiB;

		hot[i].start = slot;
		hot[i].end = slot + 16 * MiB;
		hot[i].prob = (double)(i % 100 + 1) / 100.0;
	}
	g_assert_cmpint(damon_sim_add_phase(sim, 0, hot, NR, 0.0), ==, 0);
	for (i = 0; i < 20000; i++) {
		uint64_t addr = (uint64_t)g_rand_double_range(rand, 0,
				(double)(160 * GiB));
		double want = 0.0;

		for (j = 0; j < NR && addr < space.end; j++) {
			if (addr >= hot[j].start && addr < hot[j].end)
				want = hot[j].prob;
		}
		g_assert_cmpfloat(damon_sim_prob_at(sim, 0, addr), ==, want);
	}
	g_rand_free(rand);
	g_free(hot);
	damon_sim_destroy(sim);
}

/* Ground truth: working set, hot bytes by threshold, range overlaps. */
static void test_sim_truth(void)
{
	static const struct {
		double min_prob;
		uint64_t start, end;
		uint64_t want;
	} cases[] = {
		/* whole space: 2.5G + 1M + 1M(0.75 below the hole) + 0.5G
		 * + 1M(0.75 above) */
		{ 0.0, 0, UINT64_MAX, GiB / 2 + MiB + MiB + GiB / 2 + MiB },
		{ 0.3, 0, UINT64_MAX, GiB / 2 + MiB + MiB + MiB },
		{ 0.6, 0, UINT64_MAX, GiB / 2 + MiB + MiB },
		{ 0.75, 0, UINT64_MAX, GiB / 2 + MiB + MiB },
		{ 0.9, 0, UINT64_MAX, GiB / 2 },
		{ 1.0, 0, UINT64_MAX, GiB / 2 },
		/* windows crossing range edges and the hole */
		{ 0.0, GiB - MiB, GiB + 2 * MiB, MiB },
		{ 0.0, 2 * GiB + GiB / 4, 4 * GiB + 2 * MiB,
			GiB / 4 + MiB + MiB },
		{ 0.5, 3 * GiB, 4 * GiB, 0 },
		{ 0.0, 7 * GiB, 8 * GiB, 0 },
		{ 0.0, 5 * GiB, 5 * GiB, 0 },
	};
	struct damon_sim *sim = new_holes_sim(0.0);
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		uint64_t got = damon_sim_hot_overlap(sim, 0, cases[i].min_prob,
				cases[i].start, cases[i].end);

		if (got != cases[i].want)
			g_error("case %u: %" G_GUINT64_FORMAT " hot bytes, want %"
					G_GUINT64_FORMAT, i, got, cases[i].want);
	}
	g_assert_cmpuint(damon_sim_wss_bytes(sim, 0), ==, cases[0].want);
	g_assert_cmpuint(damon_sim_hot_bytes(sim, 0, 0.9), ==, GiB / 2);
	damon_sim_destroy(sim);

	/* with a background, the whole layout is in the working set */
	sim = new_holes_sim(0.01);
	g_assert_cmpuint(damon_sim_wss_bytes(sim, 0), ==, 5 * GiB);
	g_assert_cmpuint(damon_sim_hot_bytes(sim, 0, 0.02), ==,
			cases[1].want + GiB / 2);
	g_assert_cmpuint(damon_sim_hot_bytes(sim, 0, 0.9), ==, GiB / 2);
	damon_sim_destroy(sim);
}

/* A sim with phases of 100, 200 and 300 ms heating 1 MiB slots 0, 1, 2. */
static struct damon_sim *new_three_phase_sim(bool loop)
{
	const struct damon_addr_range space = { 0, 16 * MiB };
	struct damon_sim *sim = damon_sim_new(&space, 1, 3);
	unsigned int i;

	g_assert_nonnull(sim);
	for (i = 0; i < 3; i++) {
		struct damon_sim_range hot = { i * MiB, (i + 1) * MiB, 1.0 };

		g_assert_cmpint(damon_sim_add_phase(sim, (i + 1) * AGGR_US,
					&hot, 1, 0.0), ==, 0);
	}
	damon_sim_set_loop(sim, loop);
	return sim;
}

/* Phases count from the context's begin; they loop or the last holds. */
static void test_sim_phase_select(void)
{
	static const struct {
		uint64_t elapsed_us;
		unsigned int hold, loop;
	} cases[] = {
		{ 0, 0, 0 },
		{ 99999, 0, 0 },
		{ 100000, 1, 1 },
		{ 299999, 1, 1 },
		{ 300000, 2, 2 },
		{ 599999, 2, 2 },
		{ 600000, 2, 0 },
		{ 700000, 2, 1 },
		{ 1000000, 2, 2 },
		{ 6 * 600000 + 150000, 2, 1 },
	};
	const uint64_t t0 = 7 * UPDATE_US;
	unsigned int i, l;

	for (l = 0; l < 2; l++) {
		struct damon_sim *sim = new_three_phase_sim(l);
		struct tu_clock clk = { .now_us = t0 };
		struct damon_ctx *ctx = new_sim_ctx(sim, &clk, 1);

		/* before the context began, the first phase is current */
		g_assert_cmpuint(damon_sim_phase_at(sim, 400000), ==, 0);
		g_assert_cmpint(damon_ctx_begin(ctx, t0), ==, 0);
		g_assert_cmpuint(damon_sim_nr_phases(sim), ==, 3);
		g_assert_cmpuint(damon_sim_phase_at(sim, 0), ==, 0);
		for (i = 0; i < G_N_ELEMENTS(cases); i++) {
			unsigned int want = l ? cases[i].loop : cases[i].hold;

			g_assert_cmpuint(damon_sim_phase_at(sim,
					t0 + cases[i].elapsed_us), ==, want);
		}
		damon_ctx_end(ctx);
		damon_destroy_ctx(ctx);
		damon_sim_destroy(sim);
	}
}

struct follow_state {
	struct damon_sim *sim;
	unsigned int nr_checked;
};

/*
 * With probabilities of exactly 0 and 1 the outcome is certain: a region
 * inside the hot slot of the phase in force over the whole aggregation
 * has every sample accessed, and one outside has none.
 */
static int follow_after_aggr(struct damon_ctx *ctx)
{
	struct follow_state *st = ctx->callback.private;
	uint64_t now = damon_ctx_now_us(ctx);
	unsigned int ph = damon_sim_phase_at(st->sim, now);
	unsigned int max = damon_max_nr_accesses(&ctx->attrs);
	struct damon_target *t = first_target(ctx);
	struct damon_region *r;

	/* the first sample of this aggregation was checked one sample
	 * interval after it began */
	if (damon_sim_phase_at(st->sim, now - AGGR_US + SAMPLE_US) != ph)
		return 0;
	damon_for_each_region(r, t) {
		uint64_t hot = damon_sim_hot_overlap(st->sim, ph, 0.0,
				r->ar.start, r->ar.end);

		if (hot == damon_sz_region(r))
			g_assert_cmpuint(r->nr_accesses, ==, max);
		else if (hot == 0)
			g_assert_cmpuint(r->nr_accesses, ==, 0);
	}
	st->nr_checked++;
	return 0;
}

/* check_accesses follows the phase in force. */
static void test_sim_accesses_follow_phase(void)
{
	struct damon_sim *sim = new_three_phase_sim(true);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx = new_sim_ctx(sim, &clk, 5);
	struct follow_state st = { .sim = sim };
	struct damon_sim_stats stats;

	ctx->callback.private = &st;
	ctx->callback.after_aggregation = follow_after_aggr;
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(ctx, &clk, 6 * UPDATE_US), ==, 0);
	g_assert_cmpuint(ctx->nr_aggregations, >=, 59);
	/* half the aggregations span a phase change and are skipped */
	g_assert_cmpuint(st.nr_checked, >=, 25);
	damon_sim_get_stats(sim, &stats);
	g_assert_cmpuint(stats.nr_checks, >, 0);
	g_assert_cmpuint(stats.nr_accessed, >, 0);
	g_assert_cmpuint(stats.nr_accessed, <, stats.nr_checks);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

/* Draws are Bernoulli trials with the configured probability. */
static void test_sim_access_rate(void)
{
	const struct damon_addr_range space = { 0, GiB };
	struct damon_sim *sim = damon_sim_new(&space, 1, 11);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx;
	struct damon_sim_stats stats;
	double rate;

	g_assert_cmpint(damon_sim_add_phase(sim, 0, NULL, 0, 0.3), ==, 0);
	ctx = new_sim_ctx(sim, &clk, 11);
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(ctx, &clk, 5 * UPDATE_US), ==, 0);
	damon_sim_get_stats(sim, &stats);
	/* 1000 samples of >= 10 regions: sd of the rate < 0.005 */
	g_assert_cmpuint(stats.nr_checks, >=, 10000);
	rate = (double)stats.nr_accessed / (double)stats.nr_checks;
	g_assert_cmpfloat(fabs(rate - 0.3), <, 0.02);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

/* Snapshot of the regions after running a static pattern. */
static GArray *run_snapshot(uint64_t engine_seed, uint64_t sim_seed)
{
	struct damon_sim *sim = damon_sim_new_static(GiB, 0.1, 0.7, sim_seed);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx = new_sim_ctx(sim, &clk, engine_seed);
	GArray *snap = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	struct damon_region *r;

	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(ctx, &clk, 3 * UPDATE_US + 1), ==, 0);
	damon_for_each_region(r, first_target(ctx)) {
		uint64_t v[3] = { r->ar.start, r->ar.end, r->nr_accesses_bp };

		g_array_append_vals(snap, v, 3);
	}
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
	return snap;
}

static bool snapshots_equal(GArray *a, GArray *b)
{
	return a->len == b->len &&
		memcmp(a->data, b->data, a->len * sizeof(uint64_t)) == 0;
}

/* The same seeds give the same run; another sim seed does not. */
static void test_sim_reproducible(void)
{
	GArray *a = run_snapshot(1, 2);
	GArray *b = run_snapshot(1, 2);
	GArray *c = run_snapshot(1, 3);

	g_assert_true(snapshots_equal(a, b));
	g_assert_false(snapshots_equal(a, c));
	g_array_free(a, TRUE);
	g_array_free(b, TRUE);
	g_array_free(c, TRUE);
}

/*
 * Hotplug: the next ops update makes the regions cover the new layout.
 *
 *   before:  [0 ........ 1G)          [4G ..... 5G)
 *   after:   [0 .. 512M)   [2G .. 2G+64M)   [4G ........... 6G)
 */
static void test_sim_layout_update(void)
{
	const struct damon_addr_range before[] = {
		{ 0, GiB }, { 4 * GiB, 5 * GiB },
	};
	const struct damon_addr_range after[] = {
		{ 0, GiB / 2 }, { 2 * GiB, 2 * GiB + 64 * MiB },
		{ 4 * GiB, 6 * GiB },
	};
	const struct damon_sim_range hot = { GiB / 4, 3 * GiB / 4, 1.0 };
	struct damon_sim *sim = damon_sim_new(before, 2, 9);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx;
	struct damon_target *t;

	g_assert_cmpint(damon_sim_add_phase(sim, 0, &hot, 1, 0.0), ==, 0);
	ctx = new_sim_ctx(sim, &clk, 9);
	t = first_target(ctx);
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	assert_covers(t, before, 2);
	g_assert_cmpuint(t->nr_regions, >=, ctx->attrs.min_nr_regions);
	g_assert_cmpint(tu_run_until(ctx, &clk, UPDATE_US / 2), ==, 0);
	tu_assert_invariants(ctx);
	assert_covers(t, before, 2);

	g_assert_cmpint(damon_sim_set_layout(sim, after, 3), ==, 0);
	/* removed memory is not accessed any more */
	g_assert_cmpfloat(damon_sim_prob_at(sim, 0, GiB / 2), ==, 0.0);
	g_assert_cmpfloat(damon_sim_prob_at(sim, 0, GiB / 2 - 1), ==, 1.0);
	g_assert_cmpuint(damon_sim_hot_bytes(sim, 0, 0.5), ==, GiB / 4);
	g_assert_cmpint(tu_run_until(ctx, &clk, 2 * UPDATE_US), ==, 0);
	tu_assert_invariants(ctx);
	assert_covers(t, after, 3);
	g_assert_cmpuint(damon_sz_total(ctx), ==, damon_sim_layout_bytes(sim));

	/* and back; the regions keep following */
	g_assert_cmpint(damon_sim_set_layout(sim, before, 2), ==, 0);
	g_assert_cmpint(tu_run_until(ctx, &clk, 3 * UPDATE_US + 1), ==, 0);
	tu_assert_invariants(ctx);
	assert_covers(t, before, 2);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

/* An invalidated sim makes the context stop. */
static void test_sim_target_valid(void)
{
	struct damon_sim *sim = damon_sim_new_static(GiB, 0.1, 1.0, 1);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx = new_sim_ctx(sim, &clk, 1);
	struct damon_target *t = first_target(ctx);

	g_assert_true(ctx->ops.target_valid(t));
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(ctx, &clk, UPDATE_US), ==, 0);
	damon_sim_invalidate(sim);
	g_assert_false(ctx->ops.target_valid(t));
	g_assert_cmpint(tu_run_until(ctx, &clk, 2 * UPDATE_US), ==, 1);
	g_assert_cmpint(ctx->stop_reason, ==, DAMON_STOP_TARGETS_INVALID);
	g_assert_cmpuint(clk.now_us, <=, UPDATE_US + SAMPLE_US);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

/* A scheme that matches every region, with scoring weights set. */
static struct damos *new_any_scheme(enum damos_action action)
{
	const struct damos_access_pattern any = {
		.max_sz_region = UINT64_MAX,
		.max_nr_accesses = UINT_MAX,
		.max_age_region = UINT_MAX,
	};
	const struct damos_quota quota = {
		.weight_nr_accesses = 1,
		.weight_age = 1,
	};
	const struct damos_watermarks wmarks = { 0 };
	struct damos *s = damon_new_scheme(&any, action, 0, &quota, &wmarks);

	g_assert_nonnull(s);
	return s;
}

/* Scores by action: cold-first, hot-first or flat. */
static void test_sim_scheme_score(void)
{
	struct damon_sim *sim = damon_sim_new_static(GiB, 0.1, 1.0, 1);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx = new_sim_ctx(sim, &clk, 1);
	struct damon_target *t = first_target(ctx);
	struct damon_region *hot = damon_new_region(0, 2 * MiB);
	struct damon_region *cold = damon_new_region(2 * MiB, 3 * MiB);
	struct damos *s = new_any_scheme(DAMOS_PAGEOUT);
	int a;

	hot->nr_accesses = 20;
	hot->nr_accesses_bp = 200000;
	for (a = 0; a < NR_DAMOS_ACTIONS; a++)
		g_assert_true(ctx->ops.action_supported(a));
	g_assert_cmpint(ctx->ops.get_scheme_score(ctx, t, cold, s), >,
			ctx->ops.get_scheme_score(ctx, t, hot, s));
	s->action = DAMOS_WILLNEED;
	g_assert_cmpint(ctx->ops.get_scheme_score(ctx, t, hot, s), >,
			ctx->ops.get_scheme_score(ctx, t, cold, s));
	s->action = DAMOS_STAT;
	g_assert_cmpint(ctx->ops.get_scheme_score(ctx, t, cold, s), ==,
			DAMOS_MAX_SCORE);
	damon_destroy_scheme(s);
	free(hot);
	free(cold);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

/* apply_scheme counts bytes per action, and those in the working set. */
static void test_sim_scheme_apply(void)
{
	struct damon_sim *sim = damon_sim_new_static(GiB, 0.1, 1.0, 1);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx = new_sim_ctx(sim, &clk, 1);
	struct damon_target *t = first_target(ctx);
	/* 2 MiB straddling the start of the hot range, 1 MiB cold */
	uint64_t hot_start = GiB / 2 - GiB / 20 - 1 * MiB;
	struct damon_region *mixed = damon_new_region(
			hot_start & ~(MiB - 1), (hot_start & ~(MiB - 1)) + 2 * MiB);
	struct damon_region *cold = damon_new_region(0, MiB);
	struct damos *s = new_any_scheme(DAMOS_PAGEOUT);
	struct damon_sim_stats stats;
	uint64_t passed = 0, in_wss;

	in_wss = damon_sim_hot_overlap(sim, 0, 0.0, mixed->ar.start,
			mixed->ar.end);
	g_assert_cmpuint(in_wss, >, 0);
	g_assert_cmpuint(in_wss, <, 2 * MiB);
	g_assert_cmpuint(ctx->ops.apply_scheme(ctx, t, mixed, s, &passed), ==,
			2 * MiB);
	g_assert_cmpuint(passed, ==, 2 * MiB);
	s->action = DAMOS_WILLNEED;
	g_assert_cmpuint(ctx->ops.apply_scheme(ctx, t, cold, s, &passed), ==,
			MiB);
	/* DAMOS_STAT changes nothing, so nothing was applied */
	s->action = DAMOS_STAT;
	g_assert_cmpuint(ctx->ops.apply_scheme(ctx, t, cold, s, &passed), ==,
			0);
	g_assert_cmpuint(passed, ==, MiB);

	damon_sim_get_stats(sim, &stats);
	g_assert_cmpuint(stats.sz_paged_out, ==, 2 * MiB);
	g_assert_cmpuint(stats.sz_applied[DAMOS_PAGEOUT], ==, 2 * MiB);
	g_assert_cmpuint(stats.sz_applied_wss[DAMOS_PAGEOUT], ==, in_wss);
	g_assert_cmpuint(stats.nr_applied[DAMOS_PAGEOUT], ==, 1);
	g_assert_cmpuint(stats.sz_applied[DAMOS_WILLNEED], ==, MiB);
	g_assert_cmpuint(stats.sz_applied_wss[DAMOS_WILLNEED], ==, 0);
	g_assert_cmpuint(stats.nr_applied[DAMOS_STAT], ==, 1);
	damon_destroy_scheme(s);
	free(mixed);
	free(cold);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

/*
 * End to end: a PAGEOUT scheme for regions idle for >= 1 s, run by the
 * engine, pages out cold memory and (almost) never the working set.
 */
static void test_sim_scheme_pageout(void)
{
	struct damon_sim *sim = damon_sim_new_static(GiB, 0.1, 0.95, 4);
	struct tu_clock clk = { 0 };
	struct damon_ctx *ctx = new_sim_ctx(sim, &clk, 4);
	struct damos *s = new_any_scheme(DAMOS_PAGEOUT);
	struct damon_sim_stats stats;

	s->pattern.max_nr_accesses = 0;
	s->pattern.min_age_region = 10;
	damon_add_scheme(ctx, s);
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(ctx, &clk, 5 * UPDATE_US), ==, 0);
	damon_sim_get_stats(sim, &stats);
	g_assert_cmpuint(stats.sz_applied[DAMOS_PAGEOUT], ==,
			s->stat.sz_applied);
	/* cold memory (90% of 1 GiB) is paged out once it has been idle
	 * for 1 s, and again 1 s later since paging out resets the age */
	g_assert_cmpuint(stats.sz_paged_out, >=, 3 * (GiB / 10 * 9));
	g_assert_cmpuint(stats.sz_applied_wss[DAMOS_PAGEOUT], <=,
			stats.sz_paged_out / 100);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

struct layout_probe {
	uint64_t sz_total;
	unsigned int nr_regions;
};

static int probe_regions(struct damon_ctx *ctx, void *data)
{
	struct layout_probe *p = data;

	p->sz_total = damon_sz_total(ctx);
	p->nr_regions = damon_nr_regions_total(ctx);
	tu_assert_invariants(ctx);
	return 0;
}

/* Wait (real time) until the driver's regions total @sz bytes. */
static void wait_for_total(struct damon_ctx *ctx, uint64_t sz)
{
	struct layout_probe p = { 0 };
	struct damon_call_control c = { .fn = probe_regions, .data = &p };
	unsigned int i;

	for (i = 0; i < 500; i++) {
		g_assert_cmpint(damon_call(ctx, &c), ==, 0);
		if (p.sz_total == sz)
			return;
		g_usleep(2000);
	}
	g_error("regions total %" G_GUINT64_FORMAT " bytes, want %"
			G_GUINT64_FORMAT, p.sz_total, sz);
}

/*
 * On a driver thread: layout changes from another thread reach the
 * regions, and invalidation ends the context.
 */
static void test_sim_threaded(void)
{
	const struct damon_addr_range small = { 0, 256 * MiB };
	const struct damon_addr_range big[] = {
		{ 0, 256 * MiB }, { GiB, 2 * GiB },
	};
	const struct damon_attrs fast = {
		.sample_interval = 1000,
		.aggr_interval = 10000,
		.ops_update_interval = 20000,
		.min_nr_regions = 10,
		.max_nr_regions = 100,
	};
	struct damon_sim *sim = damon_sim_new_static(GiB, 0.1, 0.9, 13);
	struct damon_ctx *ctx = damon_new_ctx();
	struct tu_driver d;
	unsigned int i;

	g_assert_cmpint(damon_set_attrs(ctx, &fast, NULL, 0), ==, 0);
	g_assert_nonnull(damon_sim_attach(ctx, sim));
	g_assert_cmpint(tu_driver_start(&d, ctx), ==, 0);
	for (i = 0; i < 3; i++) {
		g_assert_cmpint(damon_sim_set_layout(sim, &small, 1), ==, 0);
		wait_for_total(ctx, 256 * MiB);
		g_assert_cmpint(damon_sim_set_layout(sim, big, 2), ==, 0);
		wait_for_total(ctx, GiB + 256 * MiB);
	}
	damon_sim_invalidate(sim);
	tu_driver_join(&d);
	g_assert_cmpint(ctx->stop_reason, ==, DAMON_STOP_TARGETS_INVALID);
	damon_destroy_ctx(ctx);
	damon_sim_destroy(sim);
}

/* The canned patterns put their hot windows where documented. */
static void test_sim_patterns(void)
{
	static const unsigned int zigzag_pos[] = { 0, 1, 2, 3, 2, 1 };
	const uint64_t w = GiB / 4;
	struct damon_sim *sim;
	unsigned int i;

	sim = damon_sim_new_static(GiB, 0.1, 0.95, 1);
	g_assert_cmpuint(damon_sim_nr_phases(sim), ==, 1);
	g_assert_cmpuint(damon_sim_wss_bytes(sim, 0), ==,
			(uint64_t)(GiB * 0.1) & ~(DAMON_SIM_PAGE_SIZE - 1));
	g_assert_cmpfloat(damon_sim_prob_at(sim, 0, GiB / 2), ==, 0.95);
	g_assert_cmpfloat(damon_sim_prob_at(sim, 0, 0), ==, 0.0);
	g_assert_cmpuint(damon_sim_phase_at(sim, 100 * UPDATE_US), ==, 0);
	damon_sim_destroy(sim);

	sim = damon_sim_new_stairs(GiB, 4, UPDATE_US, 1.0, 1);
	g_assert_cmpuint(damon_sim_nr_phases(sim), ==, 4);
	for (i = 0; i < 4; i++) {
		g_assert_cmpuint(damon_sim_hot_overlap(sim, i, 1.0, i * w,
					(i + 1) * w), ==, w);
		g_assert_cmpuint(damon_sim_wss_bytes(sim, i), ==, w);
	}
	/* looping: after the last step, back to the first */
	g_assert_cmpuint(damon_sim_phase_at(sim, 4 * UPDATE_US), ==, 0);
	damon_sim_destroy(sim);

	sim = damon_sim_new_zigzag(GiB, 4, UPDATE_US, 1.0, 1);
	g_assert_cmpuint(damon_sim_nr_phases(sim), ==, 6);
	for (i = 0; i < 6; i++) {
		uint64_t s = zigzag_pos[i] * w;

		g_assert_cmpuint(damon_sim_hot_overlap(sim, i, 1.0, s, s + w),
				==, w);
		g_assert_cmpuint(damon_sim_wss_bytes(sim, i), ==, w);
	}
	damon_sim_destroy(sim);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/damon/sim/invalid", test_sim_invalid);
	g_test_add_func("/damon/sim/prob-lookup", test_sim_prob_lookup);
	g_test_add_func("/damon/sim/prob-lookup-many",
			test_sim_prob_lookup_many);
	g_test_add_func("/damon/sim/truth", test_sim_truth);
	g_test_add_func("/damon/sim/phase-select", test_sim_phase_select);
	g_test_add_func("/damon/sim/accesses-follow-phase",
			test_sim_accesses_follow_phase);
	g_test_add_func("/damon/sim/access-rate", test_sim_access_rate);
	g_test_add_func("/damon/sim/reproducible", test_sim_reproducible);
	g_test_add_func("/damon/sim/layout-update", test_sim_layout_update);
	g_test_add_func("/damon/sim/target-valid", test_sim_target_valid);
	g_test_add_func("/damon/sim/scheme-score", test_sim_scheme_score);
	g_test_add_func("/damon/sim/scheme-apply", test_sim_scheme_apply);
	g_test_add_func("/damon/sim/scheme-pageout", test_sim_scheme_pageout);
	g_test_add_func("/damon/sim/patterns", test_sim_patterns);
	g_test_add_func("/damon/sim/threaded", test_sim_threaded);
	return g_test_run();
}
