// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Aimed splits: the hint boxes that operations sets fill with the
 * addresses they saw accessed, and the split step that cuts regions at
 * the boxes' edges (DAMON_SPLIT_AIMED) or ignores them
 * (DAMON_SPLIT_RANDOM, Linux's behaviour).
 *
 * Ranges are in pages (P = 4 KiB).
 */
#include <errno.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"
#include "sim/sim.h"

#define P 4096ULL
#define GiB (1ULL << 30)
#define MiB (1ULL << 20)

static struct damon_ctx *new_ctx_with(const uint64_t (*ranges)[2],
		unsigned int nr, struct damon_target **t,
		enum damon_split_mode mode)
{
	struct damon_ctx *ctx = damon_new_ctx();

	ctx->attrs.split_mode = mode;
	*t = tu_add_target(ctx, ranges, nr);
	return ctx;
}

static void assert_box(const struct damon_region *r, uint64_t start,
		uint64_t end)
{
	g_assert_cmphex(r->hint_start, ==, start);
	g_assert_cmphex(r->hint_end, ==, end);
}

static bool box_empty(const struct damon_region *r)
{
	return r->hint_end <= r->hint_start;
}

static void assert_no_box(struct damon_target *t)
{
	struct damon_region *r;

	damon_for_each_region(r, t)
		g_assert_true(box_empty(r));
}

/* @t and @ref hold the same regions: same count, same bounds. */
static void assert_same_regions(struct damon_target *t,
		struct damon_target *ref)
{
	struct damon_region *r, *r2 = damon_first_region(ref);

	g_assert_cmpuint(t->nr_regions, ==, ref->nr_regions);
	damon_for_each_region(r, t) {
		g_assert_cmphex(r->ar.start, ==, r2->ar.start);
		g_assert_cmphex(r->ar.end, ==, r2->ar.end);
		r2 = damon_next_region(r2);
	}
}

/* Hints widen the box, are clamped to the region, and never count. */
static void test_hint_box(void)
{
	const uint64_t in[][2] = { { 10 * P, 20 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 1, &t, DAMON_SPLIT_AIMED);
	struct damon_region *r = damon_first_region(t);

	r->nr_accesses = 3;
	r->nr_accesses_bp = 30000;
	r->nr_writes = 1;
	g_assert_true(box_empty(r));
	damon_region_hint(r, 0, 5 * P);		/* misses: ignored */
	damon_region_hint(r, 30 * P, 31 * P);
	g_assert_true(box_empty(r));
	damon_region_hint(r, 14 * P, 15 * P);
	assert_box(r, 14 * P, 15 * P);
	damon_region_hint(r, 12 * P + 7, 12 * P + 8);
	assert_box(r, 12 * P + 7, 15 * P);
	damon_region_hint(r, 18 * P, 40 * P);	/* clamped to the region */
	assert_box(r, 12 * P + 7, 20 * P);
	damon_region_hint(r, 0, 11 * P);
	assert_box(r, 10 * P, 20 * P);
	/* a hint places splits only: the counts stay as they were */
	g_assert_cmpuint(r->nr_accesses, ==, 3);
	g_assert_cmpuint(r->nr_accesses_bp, ==, 30000);
	g_assert_cmpuint(r->nr_writes, ==, 1);
	g_assert_cmpuint(r->last_nr_accesses, ==, 0);
	damon_destroy_ctx(ctx);
}

/* A split gives each piece the part of the box inside it. */
static void test_split_shares_box(void)
{
	const uint64_t in[][2] = { { 0, 100 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 1, &t, DAMON_SPLIT_AIMED);
	struct damon_region *r = damon_first_region(t), *n;

	damon_region_hint(r, 20 * P, 40 * P);
	damon_split_region_at(t, r, 30 * P);
	n = damon_next_region(r);
	assert_box(r, 20 * P, 30 * P);
	assert_box(n, 30 * P, 40 * P);
	/* a cut past the box leaves the right part without one */
	damon_split_region_at(t, n, 50 * P);
	assert_box(n, 30 * P, 40 * P);
	g_assert_true(box_empty(damon_next_region(n)));
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

/* A merge unites the boxes; an empty box adds nothing. */
static void test_merge_unions_boxes(void)
{
	const uint64_t in[][2] = { { 0, 4 * P }, { 4 * P, 8 * P },
		{ 8 * P, 12 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 3, &t, DAMON_SPLIT_AIMED);
	struct damon_region *a = damon_first_region(t);
	struct damon_region *b = damon_next_region(a);
	struct damon_region *c = damon_next_region(b);

	damon_region_hint(a, 2 * P, 3 * P);
	damon_region_hint(c, 9 * P, 10 * P);
	damon_merge_two_regions(t, a, b);	/* b has no box */
	assert_box(a, 2 * P, 3 * P);
	damon_merge_two_regions(t, a, c);
	assert_box(a, 2 * P, 10 * P);
	/* and an empty box takes the other's */
	damon_destroy_ctx(ctx);

	ctx = new_ctx_with(in, 3, &t, DAMON_SPLIT_AIMED);
	a = damon_first_region(t);
	b = damon_next_region(a);
	damon_region_hint(b, 5 * P, 6 * P);
	damon_merge_two_regions(t, a, b);
	assert_box(a, 5 * P, 6 * P);
	/* merging by similarity unites too */
	c = damon_next_region(a);
	damon_region_hint(c, 11 * P, 12 * P);
	damon_merge_regions_of(t, 0, 1000 * P);
	g_assert_cmpuint(t->nr_regions, ==, 1);
	assert_box(a, 5 * P, 12 * P);
	damon_destroy_ctx(ctx);
}

/* The split step cuts at the box's edges, aligned, then empties boxes. */
static void test_cut_at_box_edges(void)
{
	const uint64_t in[][2] = { { 0, 100 * P }, { 100 * P, 200 * P } };
	const uint64_t out_head[][2] = { { 0, 30 * P }, { 30 * P, 41 * P },
		{ 41 * P, 100 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 2, &t, DAMON_SPLIT_AIMED);
	struct damon_region *r = damon_first_region(t);
	unsigned int i = 0;

	/* unaligned addresses: the box grows to page edges */
	damon_region_hint(r, 30 * P + 100, 31 * P);
	damon_region_hint(r, 40 * P + 5, 40 * P + 6);
	kdamond_split_regions(ctx);
	/* the first region is cut at the box edges, the second at random */
	damon_for_each_region(r, t) {
		if (i < 3) {
			g_assert_cmphex(r->ar.start, ==, out_head[i][0]);
			g_assert_cmphex(r->ar.end, ==, out_head[i][1]);
		}
		i++;
	}
	g_assert_cmpuint(t->nr_regions, >=, 4);
	assert_no_box(t);
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

/* A box at a region's edge needs one cut only. */
static void test_cut_box_at_edge(void)
{
	const uint64_t in[][2] = { { 0, 100 * P } };
	const uint64_t out[][2] = { { 0, 70 * P }, { 70 * P, 100 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 1, &t, DAMON_SPLIT_AIMED);

	damon_region_hint(damon_first_region(t), 80 * P, 100 * P);
	damon_region_hint(damon_first_region(t), 70 * P, 71 * P);
	kdamond_split_regions(ctx);
	tu_assert_regions(t, out, 2);
	assert_no_box(t);
	damon_destroy_ctx(ctx);
}

/*
 * A box that leaves less than a tenth of the region outside says nothing
 * a random cut would not: the region splits at random, as without a box.
 */
static void test_large_box_splits_randomly(void)
{
	const uint64_t in[][2] = { { 0, 100 * P } };
	struct damon_target *t, *t2;
	struct damon_ctx *ctx = new_ctx_with(in, 1, &t, DAMON_SPLIT_AIMED);
	struct damon_ctx *ref = new_ctx_with(in, 1, &t2, DAMON_SPLIT_AIMED);

	damon_set_seed(ctx, 7);
	damon_set_seed(ref, 7);
	damon_region_hint(damon_first_region(t), 5 * P, 96 * P);
	kdamond_split_regions(ctx);
	kdamond_split_regions(ref);
	g_assert_cmpuint(t->nr_regions, >=, 2);
	assert_same_regions(t, t2);
	damon_destroy_ctx(ctx);
	damon_destroy_ctx(ref);
}

/* Random mode ignores the boxes: the same cuts as with none. */
static void test_random_mode_ignores_hints(void)
{
	const uint64_t in[][2] = { { 0, 100 * P }, { 100 * P, 300 * P },
		{ 300 * P, 1000 * P } };
	struct damon_target *t, *t2;
	struct damon_ctx *ctx = new_ctx_with(in, 3, &t, DAMON_SPLIT_RANDOM);
	struct damon_ctx *ref = new_ctx_with(in, 3, &t2, DAMON_SPLIT_RANDOM);
	struct damon_region *r;
	int round;

	damon_set_seed(ctx, 99);
	damon_set_seed(ref, 99);
	for (round = 0; round < 3; round++) {
		/* a box in every region that aimed mode would cut at */
		damon_for_each_region(r, t)
			damon_region_hint(r, r->ar.start +
					damon_sz_region(r) / 2,
					r->ar.start + damon_sz_region(r) / 2 +
					P);
		kdamond_split_regions(ctx);
		kdamond_split_regions(ref);
		assert_no_box(t);
		assert_same_regions(t, t2);
	}
	damon_destroy_ctx(ctx);
	damon_destroy_ctx(ref);
}

/* Aimed cuts never take the count past max_nr_regions. */
static void test_aimed_respects_max(void)
{
	const uint64_t in[][2] = { { 0, 100 * P }, { 100 * P, 200 * P },
		{ 200 * P, 300 * P } };
	/* room for one: the cut that separates more from the box */
	const uint64_t out[][2] = { { 0, 30 * P }, { 30 * P, 100 * P },
		{ 100 * P, 200 * P }, { 200 * P, 300 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 3, &t, DAMON_SPLIT_AIMED);
	struct damon_region *r;

	ctx->attrs.min_nr_regions = 3;
	ctx->attrs.max_nr_regions = 4;
	r = damon_first_region(t);
	damon_region_hint(r, 20 * P, 30 * P);
	damon_region_hint(damon_next_region(r), 150 * P, 151 * P);
	kdamond_split_regions(ctx);
	tu_assert_regions(t, out, 4);
	assert_no_box(t);
	/* at the maximum, boxes are still emptied and nothing is cut */
	damon_region_hint(damon_first_region(t), 5 * P, 6 * P);
	kdamond_split_regions(ctx);
	tu_assert_regions(t, out, 4);
	assert_no_box(t);
	damon_destroy_ctx(ctx);
}

/*
 * Above max_nr_regions / 2 only a rotating share splits at random, but a
 * region with a box is cut whether or not its turn has come.
 */
static void test_aimed_outside_rotation(void)
{
	uint64_t in[6][2];
	struct damon_target *t;
	struct damon_ctx *ctx;
	struct damon_region *r;
	unsigned int i;

	for (i = 0; i < 6; i++) {
		in[i][0] = i * 100 * P;
		in[i][1] = (i + 1) * 100 * P;
	}
	ctx = new_ctx_with(in, 6, &t, DAMON_SPLIT_AIMED);
	ctx->attrs.min_nr_regions = 3;
	ctx->attrs.max_nr_regions = 10;
	/* the rotation starts at region 0 and has room for 4: regions 0-3 */
	damon_region_hint(damon_last_region(t), 540 * P, 560 * P);
	kdamond_split_regions(ctx);
	g_assert_cmpuint(t->nr_regions, ==, 10);
	r = damon_last_region(t);
	g_assert_cmphex(r->ar.start, ==, 560 * P);
	r = damon_prev_region(r);
	g_assert_cmphex(r->ar.start, ==, 540 * P);
	g_assert_cmphex(r->ar.end, ==, 560 * P);
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

/* A region trimmed by set_regions keeps only the box part it covers. */
static void test_set_regions_clips_box(void)
{
	const uint64_t in[][2] = { { 0, 100 * P } };
	const struct damon_addr_range now = { 50 * P, 100 * P };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 1, &t, DAMON_SPLIT_AIMED);

	damon_region_hint(damon_first_region(t), 10 * P, 60 * P);
	g_assert_cmpint(damon_set_regions(t, &now, 1, P, NULL, 0), ==, 0);
	assert_box(damon_first_region(t), 50 * P, 60 * P);
	damon_destroy_ctx(ctx);
}

static void test_validate_split_mode(void)
{
	struct damon_attrs a;
	char err[DAMON_ERR_LEN] = "";

	damon_attrs_default(&a);
	g_assert_cmpint(a.split_mode, ==, DAMON_SPLIT_AIMED);
	a.split_mode = DAMON_SPLIT_RANDOM;
	g_assert_cmpint(damon_validate_attrs(&a, err, sizeof(err)), ==, 0);
	a.split_mode = NR_DAMON_SPLIT_MODES;
	g_assert_cmpint(damon_validate_attrs(&a, err, sizeof(err)), ==,
			-EINVAL);
	g_assert_nonnull(strstr(err, "split_mode"));
	g_assert_nonnull(strstr(err, "got 2"));
}

/* ---- with the sim ---- */

struct sim_run {
	struct damon_ctx *ctx;
	struct damon_sim *sim;
	struct tu_clock clock;
	/* one row per aggregation: the regions and their nr_accesses */
	GArray *trace;
	uint64_t hot_start, hot_end;
	uint64_t found_at;
	unsigned int max_aggrs;
};

struct trace_row {
	uint64_t aggr, start, end;
	unsigned int nr_accesses;
};

static int sim_after_aggr(struct damon_ctx *ctx)
{
	struct sim_run *s = ctx->callback.private;
	struct damon_target *t;
	struct damon_region *r;
	uint64_t covered = 0;
	unsigned int hot = damon_max_nr_accesses(&ctx->attrs) / 2;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			struct trace_row row = { ctx->nr_aggregations,
				r->ar.start, r->ar.end, r->nr_accesses };
			uint64_t a = MAX(r->ar.start, s->hot_start);
			uint64_t b = MIN(r->ar.end, s->hot_end);

			if (s->trace)
				g_array_append_val(s->trace, row);
			if (r->nr_accesses >= hot && a < b)
				covered += b - a;
		}
	}
	if (!s->found_at && covered * 10 >= (s->hot_end - s->hot_start) * 9)
		s->found_at = ctx->nr_aggregations;
	return ctx->nr_aggregations >= s->max_aggrs;
}

/* Monitor 200 MiB hot at p = 0.95 in 160 GiB for at most @max_aggrs. */
static void sim_run(struct sim_run *s, uint64_t seed,
		enum damon_split_mode mode, unsigned int hints,
		unsigned int max_aggrs, bool trace)
{
	const struct damon_addr_range space = { 0, 160 * GiB };
	struct damon_sim_range hot;
	struct damon_attrs a;

	memset(s, 0, sizeof(*s));
	s->hot_start = 100 * GiB + 37 * MiB;
	s->hot_end = s->hot_start + 200 * MiB;
	s->max_aggrs = max_aggrs;
	hot.start = s->hot_start;
	hot.end = s->hot_end;
	hot.prob = 0.95;
	s->sim = damon_sim_new(&space, 1, seed ^ 0x5eed);
	g_assert_nonnull(s->sim);
	g_assert_cmpint(damon_sim_add_phase(s->sim, 0, &hot, 1, 0.0), ==, 0);
	damon_sim_set_hints(s->sim, hints);
	s->ctx = damon_new_ctx();
	g_assert_nonnull(damon_sim_attach(s->ctx, s->sim));
	damon_attrs_default(&a);
	a.split_mode = mode;
	g_assert_cmpint(damon_set_attrs(s->ctx, &a, NULL, 0), ==, 0);
	damon_set_seed(s->ctx, seed);
	tu_use_fake_clock(s->ctx, &s->clock);
	s->ctx->callback.after_aggregation = sim_after_aggr;
	s->ctx->callback.private = s;
	if (trace)
		s->trace = g_array_new(FALSE, FALSE, sizeof(struct trace_row));
	g_assert_cmpint(damon_ctx_begin(s->ctx, 0), ==, 0);
	tu_run_until(s->ctx, &s->clock, UINT64_MAX);
}

static void sim_run_free(struct sim_run *s)
{
	damon_destroy_ctx(s->ctx);
	damon_sim_destroy(s->sim);
	if (s->trace)
		g_array_free(s->trace, TRUE);
}

/*
 * Hints never count as accesses: in random mode, which ignores them, a
 * run whose sim reports hints sees exactly the regions and nr_accesses
 * of a run without, at every aggregation.
 */
static void test_sim_hints_do_not_count(void)
{
	struct sim_run with, without;
	struct damon_sim_stats st;
	guint i;

	sim_run(&with, 5, DAMON_SPLIT_RANDOM, 4, 60, true);
	sim_run(&without, 5, DAMON_SPLIT_RANDOM, 0, 60, true);
	damon_sim_get_stats(with.sim, &st);
	g_assert_cmpuint(st.nr_hints, >, 0);
	damon_sim_get_stats(without.sim, &st);
	g_assert_cmpuint(st.nr_hints, ==, 0);
	g_assert_cmpuint(with.trace->len, ==, without.trace->len);
	g_assert_cmpuint(with.trace->len, >, 0);
	for (i = 0; i < with.trace->len; i++) {
		struct trace_row *a = &g_array_index(with.trace,
				struct trace_row, i);
		struct trace_row *b = &g_array_index(without.trace,
				struct trace_row, i);

		g_assert_cmpuint(a->aggr, ==, b->aggr);
		g_assert_cmphex(a->start, ==, b->start);
		g_assert_cmphex(a->end, ==, b->end);
		g_assert_cmpuint(a->nr_accesses, ==, b->nr_accesses);
	}
	sim_run_free(&with);
	sim_run_free(&without);
}

/*
 * The case aimed splits are for: a small hot range in a huge space is
 * found within 10 aggregations for every seed tried, where random splits
 * may take hundreds (bench/engine prints both).
 */
static void test_sim_small_hot_found(void)
{
	uint64_t seed;

	for (seed = 1; seed <= 8; seed++) {
		struct sim_run s;

		sim_run(&s, seed, DAMON_SPLIT_AIMED, 2, 10, false);
		g_test_message("seed %" G_GUINT64_FORMAT ": found at %"
			       G_GUINT64_FORMAT, seed, s.found_at);
		g_assert_cmpuint(s.found_at, >=, 1);
		g_assert_cmpuint(s.found_at, <=, 10);
		sim_run_free(&s);
	}
}

static const struct tu_test tests[] = {
	TU_TEST("hint_box", test_hint_box),
	TU_TEST("split_shares_box", test_split_shares_box),
	TU_TEST("merge_unions_boxes", test_merge_unions_boxes),
	TU_TEST("cut_at_box_edges", test_cut_at_box_edges),
	TU_TEST("cut_box_at_edge", test_cut_box_at_edge),
	TU_TEST("large_box_splits_randomly", test_large_box_splits_randomly),
	TU_TEST("random_mode_ignores_hints", test_random_mode_ignores_hints),
	TU_TEST("aimed_respects_max", test_aimed_respects_max),
	TU_TEST("aimed_outside_rotation", test_aimed_outside_rotation),
	TU_TEST("set_regions_clips_box", test_set_regions_clips_box),
	TU_TEST("validate_split_mode", test_validate_split_mode),
	TU_TEST("sim_hints_do_not_count", test_sim_hints_do_not_count),
	TU_TEST("sim_small_hot_found", test_sim_small_hot_found),
};

int main(int argc, char **argv)
{
	return tu_main(argc, argv, "/damon/split", tests, G_N_ELEMENTS(tests));
}
