/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test-util.h"
#include <string.h>
#include <time.h>

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
			bool written = r->sampling_addr >= h->write_start &&
				r->sampling_addr < h->write_end;

			damon_update_region_access_rate(r, hot, &ctx->attrs);
			if (h->write_end)
				damon_update_region_writes(r, written);
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

int tu_main(int argc, char **argv, const char *prefix,
		const struct tu_test *tests, size_t nr)
{
	size_t i;

	g_test_init(&argc, &argv, NULL);
	for (i = 0; i < nr; i++) {
		g_autofree char *path = g_strdup_printf("%s/%s", prefix,
				tests[i].name);

		if (tests[i].data_fn)
			g_test_add_data_func(path, tests[i].data,
					tests[i].data_fn);
		else
			g_test_add_func(path, tests[i].fn);
	}
	return g_test_run();
}

/* ---- a driver thread over the step API ---- */

static uint64_t tu_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void tu_driver_kick(struct damon_ctx *ctx)
{
	struct tu_driver *d = ctx->callback.private;

	pthread_mutex_lock(&d->lock);
	d->kicked = true;
	d->nr_kicks++;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

/* Sleep until the context's deadline or a kick. */
static void tu_driver_wait(struct tu_driver *d)
{
	uint64_t deadline = damon_ctx_next_deadline_us(d->ctx);
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000000),
		.tv_nsec = (long)(deadline % 1000000) * 1000,
	};

	pthread_mutex_lock(&d->lock);
	while (!d->kicked && tu_monotonic_us() < deadline)
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	d->kicked = false;
	pthread_mutex_unlock(&d->lock);
}

static void tu_driver_set(struct tu_driver *d, bool *flag)
{
	pthread_mutex_lock(&d->lock);
	*flag = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void *tu_driver_fn(void *arg)
{
	struct tu_driver *d = arg;

	d->begin_rc = damon_ctx_begin(d->ctx, tu_monotonic_us());
	tu_driver_set(d, &d->begun);
	if (d->begin_rc == 0) {
		while (damon_ctx_step(d->ctx, tu_monotonic_us()) == 0)
			tu_driver_wait(d);
		damon_ctx_end(d->ctx);
	}
	tu_driver_set(d, &d->ended);
	return NULL;
}

int tu_driver_start(struct tu_driver *d, struct damon_ctx *ctx)
{
	pthread_condattr_t ca;

	memset(d, 0, sizeof(*d));
	d->ctx = ctx;
	ctx->callback.private = d;
	ctx->callback.call_queued = tu_driver_kick;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	g_assert_cmpint(pthread_create(&d->thread, NULL, tu_driver_fn, d), ==,
			0);
	pthread_mutex_lock(&d->lock);
	while (!d->begun)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
	return d->begin_rc;
}

bool tu_driver_ended(struct tu_driver *d)
{
	bool ended;

	pthread_mutex_lock(&d->lock);
	ended = d->ended;
	pthread_mutex_unlock(&d->lock);
	return ended;
}

static void tu_driver_reap(struct tu_driver *d)
{
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
}

static int tu_request_stop(struct damon_ctx *ctx, void *data)
{
	damon_ctx_request_stop(ctx);
	return 0;
}

void tu_driver_stop(struct tu_driver *d)
{
	struct damon_call_control c = { .fn = tu_request_stop };

	/* -ECANCELED: it had ended by itself, which is as good */
	damon_call(d->ctx, &c);
	tu_driver_reap(d);
}

void tu_driver_join(struct tu_driver *d)
{
	int i;

	for (i = 0; i < 2000 && !tu_driver_ended(d); i++)
		g_usleep(10000);
	g_assert_true(tu_driver_ended(d));
	tu_driver_reap(d);
}
