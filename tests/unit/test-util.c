/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test-util.h"
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
