// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * damon_call() and the step API driven from a thread of its own: calls
 * run on the driver, the driver wakes for them, requests left when the
 * context ends are canceled, and the owner of a context that nobody
 * drives runs them at once.  Run under TSan by the test command.
 * Nothing here asserts timings; waits are bounded by counts instead.
 */
#include <errno.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"

#define P 4096ULL

struct fixture {
	struct damon_ctx *ctx;
	struct tu_hot_ops h;
	struct tu_driver d;
};

/* 1 ms sampling, 10 ms aggregation, so a test sees progress quickly. */
static void fixture_init(struct fixture *f)
{
	const uint64_t in[][2] = { { 0, 1024 * P } };
	struct damon_attrs a = {
		.sample_interval = 1000, .aggr_interval = 10000,
		.ops_update_interval = 100000,
		.min_nr_regions = 10, .max_nr_regions = 1000,
	};

	memset(f, 0, sizeof(*f));
	f->ctx = damon_new_ctx();
	tu_add_target(f->ctx, in, 1);
	f->h.hot_end = 100 * P;
	f->h.valid = true;
	tu_set_hot_ops(f->ctx, &f->h);
	g_assert_cmpint(damon_set_attrs(f->ctx, &a, NULL, 0), ==, 0);
}

/* What a call saw: the thread it ran on and the aggregation count. */
struct probe {
	pthread_t thread;
	uint64_t nr_aggregations;
};

static int probe_fn(struct damon_ctx *ctx, void *data)
{
	struct probe *p = data;

	p->thread = pthread_self();
	p->nr_aggregations = ctx->nr_aggregations;
	return 7;
}

static int probe_call(struct damon_ctx *ctx, struct probe *p)
{
	struct damon_call_control c = { .fn = probe_fn, .data = p };
	int rc = damon_call(ctx, &c);

	if (rc == 0)
		g_assert_cmpint(c.return_code, ==, 7);
	return rc;
}

/*
 * Wait until the driver has aggregated @n times (bounded: 20 s).
 * Returns the calls it made.
 */
static unsigned int wait_aggregations(struct damon_ctx *ctx, uint64_t n)
{
	struct probe p = { 0 };
	int i;

	for (i = 0; i < 2000; i++) {
		g_assert_cmpint(probe_call(ctx, &p), ==, 0);
		if (p.nr_aggregations >= n)
			return i + 1;
		g_usleep(10000);
	}
	g_error("%" G_GUINT64_FORMAT " aggregations, want %" G_GUINT64_FORMAT,
			p.nr_aggregations, n);
}

static void test_runs_on_driver(void)
{
	struct fixture f;
	struct probe p = { 0 };
	unsigned int nr_calls;

	fixture_init(&f);
	g_assert_cmpint(tu_driver_start(&f.d, f.ctx), ==, 0);
	/* how many calls that takes depends on the machine's load */
	nr_calls = wait_aggregations(f.ctx, 3);
	g_assert_cmpint(probe_call(f.ctx, &p), ==, 0);
	nr_calls++;
	g_assert_true(pthread_equal(p.thread, f.d.thread));
	g_assert_false(pthread_equal(p.thread, pthread_self()));
	/* every queued request woke the sleeping driver */
	pthread_mutex_lock(&f.d.lock);
	g_assert_cmpuint(f.d.nr_kicks, ==, nr_calls);
	pthread_mutex_unlock(&f.d.lock);
	tu_driver_stop(&f.d);
	g_assert_cmpint(f.ctx->stop_reason, ==, DAMON_STOP_REQUESTED);
	g_assert_cmpuint(f.h.nr_cleanup, ==, 1);
	/* nobody drives it now: the caller owns it and runs the call */
	g_assert_cmpint(probe_call(f.ctx, &p), ==, 0);
	g_assert_true(pthread_equal(p.thread, pthread_self()));
	damon_destroy_ctx(f.ctx);
}

static void test_restart(void)
{
	const struct damon_addr_range rg[] = { { 0, 1024 * P } };
	struct fixture f;
	int i;

	fixture_init(&f);
	for (i = 0; i < 3; i++) {
		struct damon_target *t = damon_target_of(
				f.ctx->targets_list.next);

		g_assert_cmpint(damon_set_regions(t, rg, 1, P, NULL, 0), ==, 0);
		g_assert_cmpint(tu_driver_start(&f.d, f.ctx), ==, 0);
		wait_aggregations(f.ctx, 1);
		tu_driver_stop(&f.d);
	}
	g_assert_cmpuint(f.h.nr_init, ==, 3);
	g_assert_cmpuint(f.h.nr_cleanup, ==, 3);
	damon_destroy_ctx(f.ctx);
}

/* A call made on the driver itself, from a callback, runs at once. */
static int call_from_callback(struct damon_ctx *ctx)
{
	struct probe p = { 0 };

	g_assert_cmpint(probe_call(ctx, &p), ==, 0);
	g_assert_true(pthread_equal(p.thread, pthread_self()));
	return ctx->nr_aggregations >= 2;
}

static void test_call_from_driver(void)
{
	struct fixture f;

	fixture_init(&f);
	f.ctx->callback.after_aggregation = call_from_callback;
	g_assert_cmpint(tu_driver_start(&f.d, f.ctx), ==, 0);
	tu_driver_join(&f.d);
	g_assert_cmpint(f.ctx->stop_reason, ==, DAMON_STOP_CALLBACK);
	g_assert_cmpuint(f.ctx->nr_aggregations, ==, 2);
	damon_destroy_ctx(f.ctx);
}

static int invalidate(struct damon_ctx *ctx, void *data)
{
	((struct tu_hot_ops *)ctx->ops_priv)->valid = false;
	return 0;
}

static void test_targets_invalid_ends(void)
{
	struct damon_call_control c = { .fn = invalidate };
	struct fixture f;

	fixture_init(&f);
	g_assert_cmpint(tu_driver_start(&f.d, f.ctx), ==, 0);
	wait_aggregations(f.ctx, 1);
	/* on the driver, so the ops' state changes without a race */
	g_assert_cmpint(damon_call(f.ctx, &c), ==, 0);
	tu_driver_join(&f.d);
	g_assert_cmpint(f.ctx->stop_reason, ==, DAMON_STOP_TARGETS_INVALID);
	damon_destroy_ctx(f.ctx);
}

struct attrs_call {
	struct damon_attrs attrs;
	char err[DAMON_ERR_LEN];
};

static int set_attrs_fn(struct damon_ctx *ctx, void *data)
{
	struct attrs_call *a = data;

	return damon_set_attrs(ctx, &a->attrs, a->err, sizeof(a->err));
}

static void test_call_tunes_running(void)
{
	struct attrs_call a = { .attrs = { 1000, 20000, 100000, 5, 500 } };
	struct damon_call_control c = { .fn = set_attrs_fn, .data = &a };
	struct fixture f;

	fixture_init(&f);
	g_assert_cmpint(tu_driver_start(&f.d, f.ctx), ==, 0);
	wait_aggregations(f.ctx, 1);
	g_assert_cmpint(damon_call(f.ctx, &c), ==, 0);
	g_assert_cmpint(c.return_code, ==, 0);
	/* an invalid change is refused, says why, and the driver goes on */
	a.attrs.min_nr_regions = 1;
	g_assert_cmpint(damon_call(f.ctx, &c), ==, 0);
	g_assert_cmpint(c.return_code, ==, -EINVAL);
	g_assert_nonnull(strstr(a.err, "min_nr_regions"));
	wait_aggregations(f.ctx, 3);
	tu_driver_stop(&f.d);
	g_assert_cmpuint(f.ctx->attrs.aggr_interval, ==, 20000);
	g_assert_cmpuint(f.ctx->attrs.min_nr_regions, ==, 5);
	damon_destroy_ctx(f.ctx);
}

static gpointer caller_thread(gpointer data)
{
	struct probe p;
	int i;

	for (i = 0; i < 50; i++) {
		int rc = probe_call(data, &p);

		g_assert_true(rc == 0 || rc == -ECANCELED);
	}
	return NULL;
}

/* Calls from several threads while the context ends under them. */
static void test_calls_race_end(void)
{
	GThread *th[3];
	struct fixture f;
	int i;

	fixture_init(&f);
	g_assert_cmpint(tu_driver_start(&f.d, f.ctx), ==, 0);
	for (i = 0; i < 3; i++)
		th[i] = g_thread_new("caller", caller_thread, f.ctx);
	g_usleep(5000);
	tu_driver_stop(&f.d);
	for (i = 0; i < 3; i++)
		g_thread_join(th[i]);
	damon_destroy_ctx(f.ctx);
}

/* The main thread drives by hand; a second thread's call is queued. */
struct queued {
	pthread_mutex_t lock;	/* guards nr_queued */
	unsigned int nr_queued;
	struct damon_ctx *ctx;
	int rc;
	struct probe p;
};

static void count_queued(struct damon_ctx *ctx)
{
	struct queued *q = ctx->callback.private;

	pthread_mutex_lock(&q->lock);
	q->nr_queued++;
	pthread_mutex_unlock(&q->lock);
}

static gpointer queue_one(gpointer data)
{
	struct queued *q = data;

	q->rc = probe_call(q->ctx, &q->p);
	return NULL;
}

static void wait_queued(struct queued *q)
{
	unsigned int n = 0;
	int i;

	for (i = 0; i < 2000 && !n; i++) {
		g_usleep(1000);
		pthread_mutex_lock(&q->lock);
		n = q->nr_queued;
		pthread_mutex_unlock(&q->lock);
	}
	g_assert_cmpuint(n, ==, 1);
}

/* A queued request runs at the driver's next step, even before its
 * deadline, or is canceled when the driver ends the context first. */
static void test_queued_step_or_cancel(gconstpointer end_first)
{
	struct queued q = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct tu_clock clk = { 0 };
	struct fixture f;
	GThread *th;

	fixture_init(&f);
	tu_use_fake_clock(f.ctx, &clk);
	q.ctx = f.ctx;
	f.ctx->callback.private = &q;
	f.ctx->callback.call_queued = count_queued;
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(damon_ctx_step(f.ctx, 0), ==, 0);
	th = g_thread_new("caller", queue_one, &q);
	wait_queued(&q);
	if (end_first) {
		damon_ctx_end(f.ctx);
		g_thread_join(th);
		g_assert_cmpint(q.rc, ==, -ECANCELED);
	} else {
		/* before the deadline: no sample, but the call runs */
		g_assert_cmpint(damon_ctx_step(f.ctx, 1), ==, 0);
		g_thread_join(th);
		g_assert_cmpint(q.rc, ==, 0);
		g_assert_true(pthread_equal(q.p.thread, pthread_self()));
		g_assert_cmpuint(f.ctx->passed_sample_intervals, ==, 0);
		damon_ctx_end(f.ctx);
	}
	damon_destroy_ctx(f.ctx);
}

/* What a caller thread of test_read_only_mid_step does and sees. */
struct mid_caller {
	struct queued *q;
	bool read_only;
	struct probe p;
	int rc;
	bool returned;		/* q->lock */
};

static gpointer call_mid(gpointer data)
{
	struct mid_caller *c = data;
	struct damon_call_control ctl = {
		.fn = probe_fn, .data = &c->p, .read_only = c->read_only,
	};

	c->rc = damon_call(c->q->ctx, &ctl);
	pthread_mutex_lock(&c->q->lock);
	c->returned = true;
	pthread_mutex_unlock(&c->q->lock);
	return NULL;
}

static bool returned(struct mid_caller *c)
{
	bool r;

	pthread_mutex_lock(&c->q->lock);
	r = c->returned;
	pthread_mutex_unlock(&c->q->lock);
	return r;
}

/*
 * damon_call_serve_read_only(), as an operations set calls it in the
 * middle of a long step, runs the queued read-only request on the
 * driver and leaves the other for the step's end.
 */
static void test_read_only_mid_step(void)
{
	struct queued q = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct mid_caller ro = { .q = &q, .read_only = true };
	struct mid_caller rw = { .q = &q, .read_only = false };
	struct tu_clock clk = { 0 };
	struct fixture f;
	GThread *t1, *t2;
	int i;

	fixture_init(&f);
	tu_use_fake_clock(f.ctx, &clk);
	q.ctx = f.ctx;
	f.ctx->callback.private = &q;
	f.ctx->callback.call_queued = count_queued;
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	t1 = g_thread_new("rw", call_mid, &rw);
	t2 = g_thread_new("ro", call_mid, &ro);
	for (i = 0; i < 2000; i++) {
		pthread_mutex_lock(&q.lock);
		if (q.nr_queued == 2)
			i = 2000;
		pthread_mutex_unlock(&q.lock);
		if (i < 2000)
			g_usleep(1000);
	}
	g_assert_cmpuint(q.nr_queued, ==, 2);

	damon_call_serve_read_only(f.ctx);
	g_thread_join(t2);
	g_assert_cmpint(ro.rc, ==, 0);
	g_assert_true(pthread_equal(ro.p.thread, pthread_self()));
	g_assert_false(returned(&rw));

	g_assert_cmpint(damon_ctx_step(f.ctx, 0), ==, 0);
	g_thread_join(t1);
	g_assert_cmpint(rw.rc, ==, 0);
	g_assert_true(pthread_equal(rw.p.thread, pthread_self()));
	damon_ctx_end(f.ctx);
	damon_destroy_ctx(f.ctx);
}

static const struct tu_test tests[] = {
	TU_TEST("runs_on_driver", test_runs_on_driver),
	TU_TEST("restart", test_restart),
	TU_TEST("from_driver", test_call_from_driver),
	TU_TEST("targets_invalid_ends", test_targets_invalid_ends),
	TU_TEST("tunes_running", test_call_tunes_running),
	TU_TEST("race_end", test_calls_race_end),
	TU_TEST_DATA("queued_runs_at_step", test_queued_step_or_cancel, NULL),
	TU_TEST_DATA("queued_canceled_at_end", test_queued_step_or_cancel, ""),
	TU_TEST("read_only_mid_step", test_read_only_mid_step),
};

int main(int argc, char **argv)
{
	return tu_main(argc, argv, "/damon/call", tests, G_N_ELEMENTS(tests));
}
