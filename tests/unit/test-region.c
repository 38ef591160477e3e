// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Region surgery: split, merge, even split, set_regions, ages and the
 * nr_accesses_bp moving sum.
 *
 * Ranges are in pages (P = 4 KiB) so the tables read like the diagrams
 * in kernel DAMON's tests.
 */
#include <errno.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"

#define P 4096ULL

static struct damon_ctx *new_ctx_with(const uint64_t (*ranges)[2],
		unsigned int nr, struct damon_target **t)
{
	struct damon_ctx *ctx = damon_new_ctx();

	*t = tu_add_target(ctx, ranges, nr);
	return ctx;
}

/*
 * The end of a table case: @t's regions are exactly @out, the region
 * invariants hold, and the context goes.
 */
static void end_case(struct damon_ctx *ctx, struct damon_target *t,
		const uint64_t (*out)[2], unsigned int nr_out)
{
	tu_assert_regions(t, out, nr_out);
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

static void test_split_at(void)
{
	const uint64_t in[][2] = { { 0, 100 * P } };
	const uint64_t out[][2] = { { 0, 30 * P }, { 30 * P, 100 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 1, &t);
	struct damon_region *r = damon_first_region(t);

	r->nr_accesses = 7;
	r->nr_accesses_bp = 70000;
	r->last_nr_accesses = 5;
	r->nr_writes = 6;
	r->last_nr_writes = 2;
	r->age = 3;
	damon_split_region_at(t, r, 30 * P);
	tu_assert_regions(t, out, 2);
	r = damon_last_region(t);
	g_assert_cmpuint(r->nr_accesses, ==, 7);
	g_assert_cmpuint(r->nr_accesses_bp, ==, 70000);
	g_assert_cmpuint(r->last_nr_accesses, ==, 5);
	g_assert_cmpuint(r->nr_writes, ==, 6);
	g_assert_cmpuint(r->last_nr_writes, ==, 2);
	g_assert_cmpuint(r->age, ==, 3);
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

static void test_merge_two(void)
{
	const uint64_t in[][2] = { { 0, 1 * P }, { 1 * P, 4 * P } };
	const uint64_t out[][2] = { { 0, 4 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 2, &t);
	struct damon_region *l = damon_first_region(t);
	struct damon_region *r = damon_next_region(l);

	/* 1 page at 20 accesses, 3 pages at 4: weighted (20 + 12) / 4 = 8;
	 * writes alike: (20 + 3 * 0) / 4 = 5 */
	l->nr_accesses = 20;
	l->nr_writes = 20;
	l->age = 8;
	r->nr_accesses = 4;
	r->age = 0;
	damon_merge_two_regions(t, l, r);
	tu_assert_regions(t, out, 1);
	g_assert_cmpuint(l->nr_accesses, ==, 8);
	g_assert_cmpuint(l->nr_accesses_bp, ==, 80000);
	g_assert_cmpuint(l->nr_writes, ==, 5);
	g_assert_cmpuint(l->age, ==, 2);
	damon_destroy_ctx(ctx);
}

struct merge_case {
	const char *name;
	unsigned int nr_in;
	uint64_t in[8][2];
	unsigned int nr_accesses[8];
	unsigned int thres;
	uint64_t sz_limit;
	unsigned int nr_out;
	uint64_t out[8][2];
};

static const struct merge_case merge_cases[] = {
	{
		/* |0:10|10:12|20:30|  -> 0-20 similar, gap before 20 keeps it */
		"gap-stops-merge", 3,
		{ { 0, 10 * P }, { 10 * P, 20 * P }, { 30 * P, 40 * P } },
		{ 10, 12, 11 }, 2, 1000 * P,
		2, { { 0, 20 * P }, { 30 * P, 40 * P } },
	},
	{
		"threshold", 4,
		{ { 0, P }, { P, 2 * P }, { 2 * P, 3 * P }, { 3 * P, 4 * P } },
		{ 0, 1, 9, 10 }, 1, 1000 * P,
		2, { { 0, 2 * P }, { 2 * P, 4 * P } },
	},
	{
		"size-limit", 4,
		{ { 0, P }, { P, 2 * P }, { 2 * P, 3 * P }, { 3 * P, 4 * P } },
		{ 5, 5, 5, 5 }, 1, 2 * P,
		2, { { 0, 2 * P }, { 2 * P, 4 * P } },
	},
	{
		"nothing-similar", 3,
		{ { 0, P }, { P, 2 * P }, { 2 * P, 3 * P } },
		{ 0, 10, 20 }, 2, 1000 * P,
		3, { { 0, P }, { P, 2 * P }, { 2 * P, 3 * P } },
	},
};

static void test_merge_regions_of(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(merge_cases); i++) {
		const struct merge_case *c = &merge_cases[i];
		struct damon_target *t;
		struct damon_ctx *ctx = new_ctx_with(c->in, c->nr_in, &t);
		struct damon_region *r;
		unsigned int j = 0;

		g_test_message("case %s", c->name);
		damon_for_each_region(r, t)
			r->nr_accesses = c->nr_accesses[j++];
		damon_merge_regions_of(t, c->thres, c->sz_limit);
		end_case(ctx, t, c->out, c->nr_out);
	}
}

static void test_split_regions_of(void)
{
	const uint64_t in[][2] = { { 0, 100 * P }, { 100 * P, 102 * P },
		{ 200 * P, 1200 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 3, &t);
	struct damon_region *r;
	int round;

	for (round = 0; round < 3; round++) {
		unsigned int before = t->nr_regions;

		damon_split_regions_of(ctx, t, 2);
		tu_assert_invariants(ctx);
		/* regions of <= 2 pages cannot be split */
		g_assert_cmpuint(t->nr_regions, >, before);
	}
	/* the outer edges never move */
	g_assert_cmphex(damon_first_region(t)->ar.start, ==, 0);
	g_assert_cmphex(damon_last_region(t)->ar.end, ==, 1200 * P);
	damon_for_each_region(r, t)
		g_assert_cmpuint(damon_sz_region(r), >=, P);
	damon_destroy_ctx(ctx);
}

static void test_split_ratio_bounds(void)
{
	const uint64_t in[][2] = { { 0, 1000 * P } };
	int i;

	/* every first cut leaves 10% to 90% on the left */
	for (i = 0; i < 200; i++) {
		struct damon_target *t;
		struct damon_ctx *ctx = new_ctx_with(in, 1, &t);
		uint64_t left;

		damon_set_seed(ctx, (uint64_t)i);
		damon_split_regions_of(ctx, t, 2);
		g_assert_cmpuint(t->nr_regions, ==, 2);
		left = damon_sz_region(damon_first_region(t));
		g_assert_cmpuint(left, >=, 100 * P);
		g_assert_cmpuint(left, <=, 900 * P);
		damon_destroy_ctx(ctx);
	}
}

struct even_case {
	uint64_t start, end;
	unsigned int nr_pieces;
	int rc;
	unsigned int nr_out;
	uint64_t out[5][2];
};

static const struct even_case even_cases[] = {
	{ 0, 10 * P, 5, 0, 5, { { 0, 2 * P }, { 2 * P, 4 * P },
		{ 4 * P, 6 * P }, { 6 * P, 8 * P }, { 8 * P, 10 * P } } },
	/* remainder goes to the last piece */
	{ 0, 11 * P, 2, 0, 2, { { 0, 5 * P }, { 5 * P, 11 * P } } },
	{ 0, 10 * P, 1, 0, 1, { { 0, 10 * P } } },
	/* pieces smaller than a page are refused */
	{ 0, 2 * P, 3, -EINVAL, 1, { { 0, 2 * P } } },
	{ 0, 2 * P, 0, -EINVAL, 1, { { 0, 2 * P } } },
};

static void test_evenly_split(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(even_cases); i++) {
		const struct even_case *c = &even_cases[i];
		const uint64_t in[][2] = { { c->start, c->end } };
		struct damon_target *t;
		struct damon_ctx *ctx = new_ctx_with(in, 1, &t);

		g_assert_cmpint(damon_evenly_split_region(t,
				damon_first_region(t), c->nr_pieces, P), ==,
				c->rc);
		end_case(ctx, t, c->out, c->nr_out);
	}
}

static void test_split_to_min(void)
{
	/* a 3 GiB + 0.5 GiB layout with a hole, like RAM around a PCI hole */
	const uint64_t in[][2] = { { 0, 3ULL << 30 },
		{ 4ULL << 30, (4ULL << 30) + (512ULL << 20) } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 2, &t);

	g_assert_cmpint(damon_split_to_min_nr_regions(ctx), ==, 0);
	g_assert_cmpuint(t->nr_regions, ==, ctx->attrs.min_nr_regions);
	g_assert_cmpuint(damon_sz_total(ctx), ==, (3ULL << 30) + (512ULL << 20));
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

struct set_case {
	const char *name;
	unsigned int nr_in;
	uint64_t in[4][2];
	unsigned int nr_ranges;
	struct damon_addr_range ranges[4];
	unsigned int nr_out;
	uint64_t out[8][2];
};

static const struct set_case set_cases[] = {
	{
		"empty-target", 0, { { 0 } },
		2, { { 0, 10 * P }, { 20 * P, 30 * P } },
		2, { { 0, 10 * P }, { 20 * P, 30 * P } },
	},
	{
		/* regions inside survive; the edges move; the hole is filled */
		"trim-and-fill", 3,
		{ { 0, 5 * P }, { 5 * P, 10 * P }, { 15 * P, 30 * P } },
		1, { { 2 * P, 20 * P } },
		4, { { 2 * P, 5 * P }, { 5 * P, 10 * P }, { 10 * P, 15 * P },
			{ 15 * P, 20 * P } },
	},
	{
		/* hot-unplug of the middle: its regions go */
		"remove", 3,
		{ { 0, 10 * P }, { 10 * P, 20 * P }, { 20 * P, 30 * P } },
		2, { { 0, 10 * P }, { 20 * P, 30 * P } },
		2, { { 0, 10 * P }, { 20 * P, 30 * P } },
	},
	{
		/* hotplug: a new range after the existing ones */
		"add", 1, { { 0, 10 * P } },
		2, { { 0, 10 * P }, { 100 * P, 110 * P } },
		2, { { 0, 10 * P }, { 100 * P, 110 * P } },
	},
	{
		/* unaligned input is widened to pages */
		"align", 0, { { 0 } },
		1, { { P + 1, 3 * P - 1 } },
		1, { { P, 3 * P } },
	},
};

static void test_set_regions(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(set_cases); i++) {
		const struct set_case *c = &set_cases[i];
		struct damon_target *t;
		struct damon_ctx *ctx = new_ctx_with(c->in, c->nr_in, &t);
		char err[DAMON_ERR_LEN] = "";

		g_test_message("case %s", c->name);
		g_assert_cmpint(damon_set_regions(t, c->ranges, c->nr_ranges,
				P, err, sizeof(err)), ==, 0);
		end_case(ctx, t, c->out, c->nr_out);
	}
}

static void test_set_regions_keeps_access_info(void)
{
	const uint64_t in[][2] = { { 0, 10 * P }, { 10 * P, 20 * P } };
	const struct damon_addr_range rg[] = { { 0, 30 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 2, &t);

	damon_first_region(t)->age = 42;
	g_assert_cmpint(damon_set_regions(t, rg, 1, P, NULL, 0), ==, 0);
	g_assert_cmpuint(damon_first_region(t)->age, ==, 42);
	g_assert_cmpuint(damon_last_region(t)->ar.end, ==, 30 * P);
	damon_destroy_ctx(ctx);
}

struct bad_set_case {
	unsigned int nr;
	struct damon_addr_range ranges[2];
	const char *needle;
};

static const struct bad_set_case bad_set_cases[] = {
	{ 2, { { 0, 10 * P }, { 5 * P, 20 * P } }, "regions[1]" },
	{ 2, { { 10 * P, 20 * P }, { 0, 5 * P } }, "sorted" },
	{ 1, { { 10 * P, 10 * P } }, "regions[0]: start" },
	{ 1, { { 10 * P, 5 * P } }, "must be below end" },
	/* aligned to pages, these two share a page */
	{ 2, { { 0, P + 1 }, { P + 2, 3 * P } }, "overlaps" },
};

static void test_set_regions_rejects(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(bad_set_cases); i++) {
		const struct bad_set_case *c = &bad_set_cases[i];
		const uint64_t in[][2] = { { 0, 4 * P } };
		const uint64_t out[][2] = { { 0, 4 * P } };
		struct damon_target *t;
		struct damon_ctx *ctx = new_ctx_with(in, 1, &t);
		char err[DAMON_ERR_LEN] = "";

		g_assert_cmpint(damon_set_regions(t, c->ranges, c->nr, P, err,
				sizeof(err)), ==, -EINVAL);
		g_assert_nonnull(strstr(err, c->needle));
		/* a rejected call leaves the target alone */
		tu_assert_regions(t, out, 1);
		damon_destroy_ctx(ctx);
	}
}

struct age_case {
	unsigned int last, now, age_before, thres, age_after;
};

static const struct age_case age_cases[] = {
	{ 10, 10, 5, 2, 6 },	/* same frequency: older */
	{ 10, 12, 5, 2, 6 },	/* within the threshold */
	{ 10, 13, 5, 2, 0 },	/* changed: young again */
	{ 0, 1, 5, 2, 0 },	/* idle -> accessed restarts */
	{ 1, 0, 5, 2, 0 },	/* accessed -> idle restarts */
	{ 0, 0, 5, 2, 6 },	/* still idle: older */
};

static void test_ages(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(age_cases); i++) {
		const struct age_case *c = &age_cases[i];
		const uint64_t in[][2] = { { 0, P } };
		struct damon_target *t;
		struct damon_ctx *ctx = new_ctx_with(in, 1, &t);
		struct damon_region *r = damon_first_region(t);

		r->last_nr_accesses = c->last;
		r->nr_accesses = c->now;
		r->age = c->age_before;
		damon_update_ages_of(t, c->thres);
		g_assert_cmpuint(r->age, ==, c->age_after);
		damon_destroy_ctx(ctx);
	}
}

static void test_nr_accesses_bp(void)
{
	struct damon_attrs attrs;
	struct damon_region r = { .ar = { 0, P } };
	int i;

	damon_attrs_default(&attrs);	/* 20 samples per aggregation */
	/* a full window of accesses sums to 20 * 10000 */
	for (i = 0; i < 20; i++)
		damon_update_region_access_rate(&r, true, &attrs);
	g_assert_cmpuint(r.nr_accesses, ==, 20);
	g_assert_cmpuint(r.nr_accesses_bp, ==, 200000);
	/* new window, no accesses: the moving sum decays sample by sample */
	r.last_nr_accesses = r.nr_accesses;
	r.nr_accesses = 0;
	for (i = 0; i < 10; i++)
		damon_update_region_access_rate(&r, false, &attrs);
	g_assert_cmpuint(r.nr_accesses_bp, ==, 100000);
	for (i = 0; i < 10; i++)
		damon_update_region_access_rate(&r, false, &attrs);
	g_assert_cmpuint(r.nr_accesses_bp, ==, 0);
	g_assert_cmpuint(r.nr_accesses, ==, 0);
}

static void test_destroy_target(void)
{
	const uint64_t in[][2] = { { 0, P }, { P, 2 * P } };
	struct damon_ctx *ctx = damon_new_ctx();
	struct damon_target *t1 = tu_add_target(ctx, in, 2);
	struct damon_target *t2 = tu_add_target(ctx, in, 1);

	g_assert_cmpuint(t1->id, ==, 0);
	g_assert_cmpuint(t2->id, ==, 1);
	g_assert_cmpuint(damon_nr_regions_total(ctx), ==, 3);
	damon_destroy_target(t1, ctx);
	g_assert_cmpuint(ctx->nr_targets, ==, 1);
	g_assert_cmpuint(damon_nr_regions_total(ctx), ==, 1);
	damon_destroy_ctx(ctx);
}

static void test_invariant_checker(void)
{
	const uint64_t in[][2] = { { 0, 2 * P }, { P, 3 * P } };
	struct damon_target *t;
	struct damon_ctx *ctx = new_ctx_with(in, 2, &t);
	char err[DAMON_ERR_LEN];

	/* the checker itself must catch an overlap */
	g_assert_cmpint(damon_check_target_invariants(t, P, err, sizeof(err)),
			==, -EINVAL);
	g_assert_nonnull(strstr(err, "before the previous end"));
	damon_first_region(t)->ar.end = P;
	g_assert_cmpint(damon_check_target_invariants(t, P, err, sizeof(err)),
			==, 0);
	/* more writes than accesses */
	damon_first_region(t)->nr_writes = 1;
	g_assert_cmpint(damon_check_target_invariants(t, P, err, sizeof(err)),
			==, -EINVAL);
	g_assert_nonnull(strstr(err, "more writes"));
	damon_first_region(t)->nr_accesses = 1;
	g_assert_cmpint(damon_check_target_invariants(t, P, err, sizeof(err)),
			==, 0);
	damon_first_region(t)->ar.end = P / 2;
	g_assert_cmpint(damon_check_target_invariants(t, P, err, sizeof(err)),
			==, -EINVAL);
	damon_destroy_ctx(ctx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/damon/core/split_at", test_split_at);
	g_test_add_func("/damon/core/merge_two", test_merge_two);
	g_test_add_func("/damon/core/merge_regions_of", test_merge_regions_of);
	g_test_add_func("/damon/core/split_regions_of", test_split_regions_of);
	g_test_add_func("/damon/core/split_ratio_bounds",
			test_split_ratio_bounds);
	g_test_add_func("/damon/core/evenly_split", test_evenly_split);
	g_test_add_func("/damon/core/split_to_min", test_split_to_min);
	g_test_add_func("/damon/core/set_regions", test_set_regions);
	g_test_add_func("/damon/core/set_regions_keeps_access_info",
			test_set_regions_keeps_access_info);
	g_test_add_func("/damon/core/set_regions_rejects",
			test_set_regions_rejects);
	g_test_add_func("/damon/core/ages", test_ages);
	g_test_add_func("/damon/core/nr_accesses_bp", test_nr_accesses_bp);
	g_test_add_func("/damon/core/destroy_target", test_destroy_target);
	g_test_add_func("/damon/core/invariant_checker",
			test_invariant_checker);
	return g_test_run();
}
