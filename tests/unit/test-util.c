/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test-util.h"
#include <string.h>

#include "core/internal.h"

static uint64_t tu_clock_now(void *opaque)
{
	return ((struct tu_clock *)opaque)->now_us;
}

void tu_use_fake_clock(struct damon_ctx *ctx, struct tu_clock *c)
{
	ctx->clock.now_us = tu_clock_now;
	ctx->clock.opaque = c;
}

struct damon_target *tu_add_target(struct damon_ctx *ctx,
		const uint64_t (*ranges)[2], unsigned int nr)
{
	struct damon_target *t = damon_new_target(NULL);
	unsigned int i;

	g_assert_nonnull(t);
	for (i = 0; i < nr; i++) {
		struct damon_region *r = damon_new_region(ranges[i][0],
				ranges[i][1]);

		g_assert_nonnull(r);
		damon_add_region(r, t);
	}
	damon_add_target(ctx, t);
	return t;
}

void tu_assert_invariants(struct damon_ctx *ctx)
{
	struct damon_target *t;
	char err[DAMON_ERR_LEN];

	damon_for_each_target(t, ctx) {
		int rc = damon_check_target_invariants(t, ctx->min_sz_region,
				err, sizeof(err));

		if (rc)
			g_error("region invariant broken: %s", err);
	}
}

void tu_assert_regions(struct damon_target *t, const uint64_t (*ranges)[2],
		unsigned int nr)
{
	struct damon_region *r;
	unsigned int i = 0;

	g_assert_cmpuint(t->nr_regions, ==, nr);
	damon_for_each_region(r, t) {
		g_assert_cmpuint(i, <, nr);
		g_assert_cmphex(r->ar.start, ==, ranges[i][0]);
		g_assert_cmphex(r->ar.end, ==, ranges[i][1]);
		i++;
	}
	g_assert_cmpuint(i, ==, nr);
}

int tu_run_until(struct damon_ctx *ctx, struct tu_clock *c, uint64_t until_us)
{
	int rc = 0;

	while (rc == 0) {
		uint64_t next = damon_ctx_next_deadline_us(ctx);

		if (next > until_us)
			break;
		if (next > c->now_us)
			c->now_us = next;
		rc = damon_ctx_step(ctx, c->now_us);
	}
	if (c->now_us < until_us && rc == 0)
		c->now_us = until_us;
	return rc;
}

static int tu_hot_init(struct damon_ctx *ctx)
{
	((struct tu_hot_ops *)ctx->ops_priv)->nr_init++;
	return 0;
}

static void tu_hot_update(struct damon_ctx *ctx)
{
	((struct tu_hot_ops *)ctx->ops_priv)->nr_update++;
}

static void tu_hot_prepare(struct damon_ctx *ctx)
{
	struct tu_hot_ops *h = ctx->ops_priv;
	struct damon_target *t;
	struct damon_region *r;

	h->nr_prepare++;
	damon_for_each_target(t, ctx)
		damon_for_each_region(r, t)
			r->sampling_addr = damon_rand(ctx, r->ar.start,
					r->ar.end);
}

static unsigned int tu_hot_check(struct damon_ctx *ctx)
{
	struct tu_hot_ops *h = ctx->ops_priv;
	struct damon_target *t;
	struct damon_region *r;
	unsigned int max = 0;

	h->nr_check++;
	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			bool hot = r->sampling_addr >= h->hot_start &&
				r->sampling_addr < h->hot_end;

			damon_update_region_access_rate(r, hot, &ctx->attrs);
			if (r->nr_accesses > max)
				max = r->nr_accesses;
		}
	}
	return max;
}

static void tu_hot_reset(struct damon_ctx *ctx)
{
	((struct tu_hot_ops *)ctx->ops_priv)->nr_reset++;
}

static bool tu_hot_valid(struct damon_target *t)
{
	return ((struct tu_hot_ops *)t->priv)->valid;
}

static void tu_hot_cleanup(struct damon_ctx *ctx)
{
	((struct tu_hot_ops *)ctx->ops_priv)->nr_cleanup++;
}

void tu_set_hot_ops(struct damon_ctx *ctx, struct tu_hot_ops *h)
{
	struct damon_target *t;

	memset(&ctx->ops, 0, sizeof(ctx->ops));
	ctx->ops.name = "test-hot";
	ctx->ops.init = tu_hot_init;
	ctx->ops.update = tu_hot_update;
	ctx->ops.prepare_access_checks = tu_hot_prepare;
	ctx->ops.check_accesses = tu_hot_check;
	ctx->ops.reset_aggregated = tu_hot_reset;
	ctx->ops.target_valid = tu_hot_valid;
	ctx->ops.cleanup = tu_hot_cleanup;
	ctx->ops_priv = h;
	damon_for_each_target(t, ctx)
		t->priv = h;
}
