// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Worker threads: start/stop, exclusivity, self-stop and damon_call().
 * Run under TSan by the test command.  Nothing here asserts timings; a
 * test waits for a condition with a generous bound instead.
 */
#include <errno.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"

#define P 4096ULL

struct worker {
	struct damon_ctx *ctx;
	struct tu_hot_ops h;
};

/* 1 ms sampling, 10 ms aggregation, so a test sees progress quickly. */
static void worker_init(struct worker *w)
{
	const uint64_t in[][2] = { { 0, 1024 * P } };
	struct damon_attrs a = { 1000, 10000, 100000, 10, 1000 };

	memset(w, 0, sizeof(*w));
	w->ctx = damon_new_ctx();
	tu_add_target(w->ctx, in, 1);
	w->h.hot_end = 100 * P;
	w->h.valid = true;
	tu_set_hot_ops(w->ctx, &w->h);
	g_assert_cmpint(damon_set_attrs(w->ctx, &a, NULL, 0), ==, 0);
}

static void read_aggregations(struct damon_ctx *ctx, void *data)
{
	*(uint64_t *)data = ctx->nr_aggregations;
}

static uint64_t aggregations_of(struct damon_ctx *ctx)
{
	uint64_t n = 0;

	damon_call(ctx, read_aggregations, &n);
	return n;
}

/* Wait until the worker has aggregated @n times (bounded: 20 s). */
static void wait_aggregations(struct damon_ctx *ctx, uint64_t n)
{
	int i;

	for (i = 0; i < 2000 && aggregations_of(ctx) < n; i++)
		g_usleep(10000);
	g_assert_cmpuint(aggregations_of(ctx), >=, n);
}

static void test_start_stop(void)
{
	struct worker w;

	worker_init(&w);
	g_assert_false(damon_is_running(w.ctx));
	g_assert_cmpint(damon_start(&w.ctx, 1, false), ==, 0);
	g_assert_true(damon_is_running(w.ctx));
	/* a running context cannot start twice */
	g_assert_cmpint(damon_start(&w.ctx, 1, false), ==, -EBUSY);
	wait_aggregations(w.ctx, 3);
	g_assert_cmpint(damon_stop(&w.ctx, 1), ==, 0);
	g_assert_false(damon_is_running(w.ctx));
	g_assert_cmpint(w.ctx->stop_reason, ==, DAMON_STOP_REQUESTED);
	g_assert_cmpuint(w.h.nr_cleanup, ==, 1);
	/* stopping a stopped context is an error */
	g_assert_cmpint(damon_stop(&w.ctx, 1), ==, -EPERM);
	damon_destroy_ctx(w.ctx);
}

static void test_restart(void)
{
	const struct damon_addr_range rg[] = { { 0, 1024 * P } };
	struct worker w;
	int i;

	worker_init(&w);
	for (i = 0; i < 3; i++) {
		struct damon_target *t = damon_target_of(
				w.ctx->targets_list.next);

		g_assert_cmpint(damon_set_regions(t, rg, 1, P, NULL, 0), ==, 0);
		g_assert_cmpint(damon_start(&w.ctx, 1, false), ==, 0);
		wait_aggregations(w.ctx, 1);
		g_assert_cmpint(damon_stop(&w.ctx, 1), ==, 0);
	}
	g_assert_cmpuint(w.h.nr_init, ==, 3);
	g_assert_cmpuint(w.h.nr_cleanup, ==, 3);
	damon_destroy_ctx(w.ctx);
}

struct excl_case {
	bool first_exclusive, second_exclusive;
	int rc;
};

static const struct excl_case excl_cases[] = {
	{ false, false, 0 },
	{ false, true, -EBUSY },
	{ true, false, -EBUSY },
	{ true, true, -EBUSY },
};

static void test_exclusive(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(excl_cases); i++) {
		const struct excl_case *c = &excl_cases[i];
		struct worker a, b;

		worker_init(&a);
		worker_init(&b);
		g_assert_cmpint(damon_start(&a.ctx, 1, c->first_exclusive), ==,
				0);
		g_assert_cmpint(damon_start(&b.ctx, 1, c->second_exclusive),
				==, c->rc);
		g_assert_cmpint(damon_is_running(b.ctx), ==, c->rc == 0);
		damon_stop(&a.ctx, 1);
		damon_stop(&b.ctx, 1);
		/* with the first group gone, the second one may start */
		g_assert_cmpint(damon_start(&b.ctx, 1, c->second_exclusive), ==,
				0);
		g_assert_cmpint(damon_stop(&b.ctx, 1), ==, 0);
		damon_destroy_ctx(a.ctx);
		damon_destroy_ctx(b.ctx);
	}
}

static void test_group(void)
{
	struct worker w[3];
	struct damon_ctx *ctxs[3];
	int i;

	for (i = 0; i < 3; i++) {
		worker_init(&w[i]);
		ctxs[i] = w[i].ctx;
	}
	g_assert_cmpint(damon_start(ctxs, 3, true), ==, 0);
	for (i = 0; i < 3; i++)
		wait_aggregations(ctxs[i], 2);
	g_assert_cmpint(damon_stop(ctxs, 3), ==, 0);
	for (i = 0; i < 3; i++) {
		g_assert_false(damon_is_running(ctxs[i]));
		damon_destroy_ctx(ctxs[i]);
	}
}

static void invalidate(struct damon_ctx *ctx, void *data)
{
	((struct tu_hot_ops *)ctx->ops_priv)->valid = false;
}

static void test_self_stop_targets_invalid(void)
{
	struct worker w;
	int i;

	worker_init(&w);
	g_assert_cmpint(damon_start(&w.ctx, 1, true), ==, 0);
	wait_aggregations(w.ctx, 1);
	/* on the worker, so the ops' state changes without a race */
	damon_call(w.ctx, invalidate, NULL);
	for (i = 0; i < 2000 && damon_is_running(w.ctx); i++)
		g_usleep(10000);
	g_assert_false(damon_is_running(w.ctx));
	g_assert_cmpint(w.ctx->stop_reason, ==, DAMON_STOP_TARGETS_INVALID);
	/* the exclusive slot is free again once the worker is gone */
	{
		struct worker o;

		worker_init(&o);
		g_assert_cmpint(damon_start(&o.ctx, 1, false), ==, 0);
		g_assert_cmpint(damon_stop(&o.ctx, 1), ==, 0);
		damon_destroy_ctx(o.ctx);
	}
	/* stop reaps a worker that ended by itself */
	g_assert_cmpint(damon_stop(&w.ctx, 1), ==, 0);
	damon_destroy_ctx(w.ctx);
}

static int stop_after_two(struct damon_ctx *ctx)
{
	return ctx->nr_aggregations >= 2;
}

static void test_callback_stops_worker(void)
{
	struct worker w;
	int i;

	worker_init(&w);
	w.ctx->callback.after_aggregation = stop_after_two;
	g_assert_cmpint(damon_start(&w.ctx, 1, false), ==, 0);
	for (i = 0; i < 2000 && damon_is_running(w.ctx); i++)
		g_usleep(10000);
	g_assert_false(damon_is_running(w.ctx));
	g_assert_cmpint(w.ctx->stop_reason, ==, DAMON_STOP_CALLBACK);
	g_assert_cmpuint(w.ctx->nr_aggregations, ==, 2);
	/* destroy reaps it too */
	damon_destroy_ctx(w.ctx);
}

struct attrs_call {
	struct damon_attrs attrs;
	int rc;
};

static void set_attrs_on_worker(struct damon_ctx *ctx, void *data)
{
	struct attrs_call *c = data;

	c->rc = damon_set_attrs(ctx, &c->attrs, NULL, 0);
}

static void test_call_tunes_running(void)
{
	struct attrs_call c = { { 1000, 20000, 100000, 5, 500 }, 1 };
	struct worker w;
	struct damon_attrs seen;
	int i;

	worker_init(&w);
	g_assert_cmpint(damon_start(&w.ctx, 1, false), ==, 0);
	wait_aggregations(w.ctx, 1);
	g_assert_cmpint(damon_call(w.ctx, set_attrs_on_worker, &c), ==, 0);
	g_assert_cmpint(c.rc, ==, 0);
	/* an invalid change is refused and the worker goes on */
	c.attrs.min_nr_regions = 1;
	damon_call(w.ctx, set_attrs_on_worker, &c);
	g_assert_cmpint(c.rc, ==, -EINVAL);
	/* many concurrent-ish calls all complete */
	for (i = 0; i < 100; i++)
		aggregations_of(w.ctx);
	g_assert_true(damon_is_running(w.ctx));
	g_assert_cmpint(damon_stop(&w.ctx, 1), ==, 0);
	seen = w.ctx->attrs;
	g_assert_cmpuint(seen.aggr_interval, ==, 20000);
	g_assert_cmpuint(seen.min_nr_regions, ==, 5);
	damon_destroy_ctx(w.ctx);
}

static gpointer caller_thread(gpointer data)
{
	struct damon_ctx *ctx = data;
	int i;

	for (i = 0; i < 50; i++)
		aggregations_of(ctx);
	return NULL;
}

/* Calls from several threads while the context is stopped under them. */
static void test_calls_race_stop(void)
{
	GThread *th[3];
	struct worker w;
	int i;

	worker_init(&w);
	g_assert_cmpint(damon_start(&w.ctx, 1, false), ==, 0);
	for (i = 0; i < 3; i++)
		th[i] = g_thread_new("caller", caller_thread, w.ctx);
	g_usleep(5000);
	g_assert_cmpint(damon_stop(&w.ctx, 1), ==, 0);
	for (i = 0; i < 3; i++)
		g_thread_join(th[i]);
	damon_destroy_ctx(w.ctx);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/damon/thread/start_stop", test_start_stop);
	g_test_add_func("/damon/thread/restart", test_restart);
	g_test_add_func("/damon/thread/exclusive", test_exclusive);
	g_test_add_func("/damon/thread/group", test_group);
	g_test_add_func("/damon/thread/self_stop_targets_invalid",
			test_self_stop_targets_invalid);
	g_test_add_func("/damon/thread/callback_stops_worker",
			test_callback_stops_worker);
	g_test_add_func("/damon/thread/call_tunes_running",
			test_call_tunes_running);
	g_test_add_func("/damon/thread/calls_race_stop", test_calls_race_stop);
	return g_test_run();
}
