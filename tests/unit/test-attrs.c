// SPDX-License-Identifier: GPL-2.0-or-later
/* Monitoring attributes: validation and online changes. */
#include <errno.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"

struct attrs_case {
	const char *name;
	struct damon_attrs attrs;
	int rc;
	const char *needle;	/* the field the error text must name */
};

/* the five attributes every case sets; the rest keep their zero default */
#define ATTRS(sample, aggr, update, min_nr, max_nr) {			\
	.sample_interval = (sample), .aggr_interval = (aggr),		\
	.ops_update_interval = (update),				\
	.min_nr_regions = (min_nr), .max_nr_regions = (max_nr),	\
}

static const struct attrs_case attrs_cases[] = {
	{ "defaults", ATTRS(5000, 100000, 1000000, 10, 1000), 0, NULL },
	{ "min-3", ATTRS(5000, 100000, 1000000, 3, 3), 0, NULL },
	{ "min-too-small", ATTRS(5000, 100000, 1000000, 2, 1000), -EINVAL,
		"min_nr_regions must be >= 3" },
	{ "max-below-min", ATTRS(5000, 100000, 1000000, 10, 9), -EINVAL,
		"max_nr_regions must be >= min_nr_regions" },
	{ "sample-zero", ATTRS(0, 100000, 1000000, 10, 1000), -EINVAL,
		"sample_interval must be > 0" },
	{ "aggr-below-sample", ATTRS(5000, 4999, 1000000, 10, 1000), -EINVAL,
		"aggr_interval must be >= sample_interval" },
	{ "aggr-equals-sample", ATTRS(5000, 5000, 5000, 10, 1000), 0, NULL },
	{ "update-below-sample", ATTRS(5000, 100000, 4000, 10, 1000), -EINVAL,
		"ops_update_interval must be >= sample_interval" },
	{ "too-many-samples", ATTRS(1, 2000000, 2000000, 10, 1000), -EINVAL,
		"aggr_interval must be <=" },
};

static void test_validate(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(attrs_cases); i++) {
		const struct attrs_case *c = &attrs_cases[i];
		struct damon_ctx *ctx = damon_new_ctx();
		struct damon_attrs before = ctx->attrs;
		char err[DAMON_ERR_LEN] = "";
		int rc;

		g_test_message("case %s", c->name);
		rc = damon_set_attrs(ctx, &c->attrs, err, sizeof(err));
		g_assert_cmpint(rc, ==, c->rc);
		if (c->needle) {
			g_assert_nonnull(strstr(err, c->needle));
			/* a rejected change leaves the context as it was */
			g_assert_cmpmem(&ctx->attrs, sizeof(before), &before,
					sizeof(before));
		} else {
			g_assert_cmpmem(&ctx->attrs, sizeof(c->attrs),
					&c->attrs, sizeof(c->attrs));
		}
		damon_destroy_ctx(ctx);
	}
}

static void test_error_names_value(void)
{
	struct damon_attrs a;
	char err[DAMON_ERR_LEN];

	damon_attrs_default(&a);
	a.min_nr_regions = 1;
	g_assert_cmpint(damon_validate_attrs(&a, err, sizeof(err)), ==,
			-EINVAL);
	g_assert_cmpstr(err, ==, "min_nr_regions must be >= 3 (got 1)");
	/* a NULL buffer is allowed */
	g_assert_cmpint(damon_validate_attrs(&a, NULL, 0), ==, -EINVAL);
}

/* Online change: access counts and ages follow the new intervals. */
static void test_online_rescale(void)
{
	const uint64_t in[][2] = { { 0, 64 * 4096 } };
	struct damon_ctx *ctx = damon_new_ctx();
	struct tu_hot_ops h = { .hot_start = 0, .hot_end = 64 * 4096,
		.valid = true };
	struct tu_clock clk = { 0 };
	struct damon_attrs a;
	struct damon_target *t;
	struct damon_region *r;

	t = tu_add_target(ctx, in, 1);
	tu_set_hot_ops(ctx, &h);
	tu_use_fake_clock(ctx, &clk);
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	/* after 3 aggregations everything is hot: last_nr_accesses = 20 */
	g_assert_cmpint(tu_run_until(ctx, &clk, 300000), ==, 0);
	damon_for_each_region(r, t) {
		g_assert_cmpuint(r->last_nr_accesses, ==, 20);
		r->age = 10;
	}
	/* 4x aggregation interval: 80 samples per aggregation, age / 4 */
	damon_attrs_default(&a);
	a.aggr_interval = 400000;
	g_assert_cmpint(damon_set_attrs(ctx, &a, NULL, 0), ==, 0);
	damon_for_each_region(r, t) {
		g_assert_cmpuint(r->last_nr_accesses, ==, 80);
		g_assert_cmpuint(r->nr_accesses_bp, ==, 800000);
		g_assert_cmpuint(r->age, ==, 2);
	}
	/* the next aggregation is a full new interval away */
	g_assert_cmpuint(ctx->next_aggregation_sis, ==,
			ctx->passed_sample_intervals + 80);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
}

/* One region holding @nr accesses (and @age), under @sample/@aggr. */
static struct damon_region *one_region_ctx(struct damon_ctx **ctxp,
		uint64_t aggr, unsigned int nr, unsigned int age)
{
	const uint64_t in[][2] = { { 0, 64 * 4096 } };
	struct damon_attrs a = {
		.sample_interval = 1000, .aggr_interval = aggr,
		.ops_update_interval = 1000000,
		.min_nr_regions = 3, .max_nr_regions = 10,
	};
	struct damon_ctx *ctx = damon_new_ctx();
	struct damon_region *r;

	g_assert_cmpint(damon_set_attrs(ctx, &a, NULL, 0), ==, 0);
	r = damon_first_region(tu_add_target(ctx, in, 1));
	r->nr_accesses = r->last_nr_accesses = nr;
	r->nr_accesses_bp = nr * 10000;
	r->age = age;
	*ctxp = ctx;
	return r;
}

struct rescale_case {
	uint64_t old_aggr, new_aggr;	/* with 1 ms samples */
	unsigned int nr, want;
};

/*
 * Counts go through basis points and truncate there, as in the kernel:
 * 1 of 3 is 3333 bp, which is 1.9998 of 6, so 1; 2 of 3 is 6666 bp,
 * 3.9996 of 6, so 3.
 */
static const struct rescale_case rescale_cases[] = {
	{ 3000, 6000, 1, 1 },
	{ 3000, 6000, 2, 3 },
	{ 3000, 6000, 3, 6 },
	{ 6000, 3000, 5, 2 },
	{ 20000, 100000, 7, 35 },
};

/*
 * Mid-window, the last complete window rescales and the partial one is
 * dropped: on a running context, and on one not begun yet, whose first
 * damon_set_attrs() already scheduled an aggregation (as in the kernel).
 */
static void test_rescale_truncates_in_bp(gconstpointer begin)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(rescale_cases); i++) {
		const struct rescale_case *c = &rescale_cases[i];
		struct damon_attrs a = {
			.sample_interval = 1000, .aggr_interval = c->new_aggr,
			.ops_update_interval = 1000000,
			.min_nr_regions = 3, .max_nr_regions = 10,
		};
		struct tu_hot_ops h = { .valid = true };
		struct tu_clock clk = { 0 };
		struct damon_ctx *ctx;
		struct damon_region *r = one_region_ctx(&ctx, c->old_aggr,
				c->nr, 10);

		r->last_nr_writes = c->nr;
		if (begin) {
			tu_set_hot_ops(ctx, &h);
			tu_use_fake_clock(ctx, &clk);
			g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
			r = damon_first_region(damon_target_of(
					ctx->targets_list.next));
			r->last_nr_accesses = c->nr;
			r->last_nr_writes = c->nr;
			r->age = 10;
		}
		g_assert_cmpint(damon_set_attrs(ctx, &a, NULL, 0), ==, 0);
		g_assert_cmpuint(r->last_nr_accesses, ==, c->want);
		g_assert_cmpuint(r->last_nr_writes, ==, c->want);
		g_assert_cmpuint(r->nr_accesses_bp, ==, c->want * 10000);
		g_assert_cmpuint(r->nr_accesses, ==, 0);
		g_assert_cmpuint(r->nr_writes, ==, 0);
		g_assert_cmpuint(r->age, ==, 10 * c->old_aggr / c->new_aggr);
		damon_destroy_ctx(ctx);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/damon/attrs/validate", test_validate);
	g_test_add_func("/damon/attrs/error_names_value",
			test_error_names_value);
	g_test_add_func("/damon/attrs/online_rescale", test_online_rescale);
	g_test_add_data_func("/damon/attrs/rescale_truncates_in_bp", "",
			test_rescale_truncates_in_bp);
	g_test_add_data_func("/damon/attrs/rescale_before_begin", NULL,
			test_rescale_truncates_in_bp);
	return g_test_run();
}
