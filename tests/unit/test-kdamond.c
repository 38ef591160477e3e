// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitoring loop through the step API: scheduling, callbacks,
 * stopping, invariants after every aggregation, determinism.
 */
#include <errno.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"

#define P 4096ULL
#define SPACE (4096 * P)	/* 16 MiB */

struct fixture {
	struct damon_ctx *ctx;
	struct damon_target *t;
	struct tu_hot_ops h;
	struct tu_clock clk;
};

static void fixture_init(struct fixture *f, uint64_t hot_start,
		uint64_t hot_end)
{
	const uint64_t in[][2] = { { 0, SPACE } };

	memset(f, 0, sizeof(*f));
	f->ctx = damon_new_ctx();
	f->t = tu_add_target(f->ctx, in, 1);
	f->h.hot_start = hot_start;
	f->h.hot_end = hot_end;
	f->h.valid = true;
	tu_set_hot_ops(f->ctx, &f->h);
	tu_use_fake_clock(f->ctx, &f->clk);
}

static void fixture_fini(struct fixture *f)
{
	damon_ctx_end(f->ctx);
	damon_destroy_ctx(f->ctx);
}

static void test_schedule(void)
{
	struct fixture f;

	fixture_init(&f, 0, SPACE);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpuint(f.h.nr_init, ==, 1);
	/* begin splits the single region to min_nr_regions */
	g_assert_cmpuint(f.t->nr_regions, ==, 10);
	g_assert_cmpuint(damon_ctx_next_deadline_us(f.ctx), ==, 0);
	g_assert_cmpint(damon_ctx_step(f.ctx, 0), ==, 0);
	g_assert_cmpuint(f.h.nr_prepare, ==, 1);
	g_assert_cmpuint(f.h.nr_check, ==, 0);
	g_assert_cmpuint(damon_ctx_next_deadline_us(f.ctx), ==, 5000);
	/* an early call does nothing */
	g_assert_cmpint(damon_ctx_step(f.ctx, 4999), ==, 0);
	g_assert_cmpuint(f.h.nr_check, ==, 0);
	g_assert_cmpint(damon_ctx_step(f.ctx, 5000), ==, 0);
	g_assert_cmpuint(f.h.nr_check, ==, 1);
	g_assert_cmpuint(f.h.nr_prepare, ==, 2);
	/* 1 s: 200 samples, 10 aggregations, 1 update */
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 1000000), ==, 0);
	g_assert_cmpuint(f.h.nr_check, ==, 200);
	g_assert_cmpuint(f.ctx->passed_sample_intervals, ==, 200);
	g_assert_cmpuint(f.ctx->nr_aggregations, ==, 10);
	g_assert_cmpuint(f.h.nr_reset, ==, 10);
	g_assert_cmpuint(f.h.nr_update, ==, 1);
	g_assert_cmpuint(f.ctx->last_aggregation_us, ==, 1000000);
	fixture_fini(&f);
	g_assert_cmpuint(f.h.nr_cleanup, ==, 1);
}

static void test_late_step_counts_once(void)
{
	struct fixture f;

	fixture_init(&f, 0, SPACE);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(damon_ctx_step(f.ctx, 0), ==, 0);
	/* a driver that slept a whole second gets one sample, not 200 */
	g_assert_cmpint(damon_ctx_step(f.ctx, 1000000), ==, 0);
	g_assert_cmpuint(f.ctx->passed_sample_intervals, ==, 1);
	g_assert_cmpuint(damon_ctx_next_deadline_us(f.ctx), ==, 1005000);
	fixture_fini(&f);
}

struct cb_state {
	unsigned int calls, stop_at, terminated;
};

static int cb_count(struct damon_ctx *ctx)
{
	struct cb_state *s = ctx->callback.private;

	return ++s->calls >= s->stop_at;
}

static void cb_terminate(struct damon_ctx *ctx)
{
	((struct cb_state *)ctx->callback.private)->terminated++;
}

enum cb_kind { CB_BEFORE_START, CB_AFTER_SAMPLING, CB_AFTER_AGGREGATION };

struct cb_case {
	enum cb_kind kind;
	unsigned int stop_at;
	uint64_t samples;	/* passed_sample_intervals when it stopped */
};

static const struct cb_case cb_cases[] = {
	{ CB_BEFORE_START, 1, 0 },
	{ CB_AFTER_SAMPLING, 1, 0 },
	{ CB_AFTER_SAMPLING, 7, 6 },
	{ CB_AFTER_AGGREGATION, 1, 20 },
	{ CB_AFTER_AGGREGATION, 3, 60 },
};

static void test_callbacks_stop(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(cb_cases); i++) {
		const struct cb_case *c = &cb_cases[i];
		struct cb_state s = { .stop_at = c->stop_at };
		struct fixture f;

		fixture_init(&f, 0, SPACE / 2);
		f.ctx->callback.private = &s;
		f.ctx->callback.before_terminate = cb_terminate;
		if (c->kind == CB_BEFORE_START)
			f.ctx->callback.before_start = cb_count;
		else if (c->kind == CB_AFTER_SAMPLING)
			f.ctx->callback.after_sampling = cb_count;
		else
			f.ctx->callback.after_aggregation = cb_count;
		g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
		g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 10000000), ==, 1);
		g_assert_cmpint(f.ctx->stop_reason, ==, DAMON_STOP_CALLBACK);
		g_assert_cmpuint(f.ctx->passed_sample_intervals, ==,
				c->samples);
		g_assert_cmpuint(s.calls, ==, c->stop_at);
		g_assert_cmpint(damon_ctx_step(f.ctx, f.clk.now_us), ==, 1);
		fixture_fini(&f);
		g_assert_cmpuint(s.terminated, ==, 1);
		g_assert_cmpuint(f.h.nr_cleanup, ==, 1);
	}
}

static void test_targets_invalid_stop(void)
{
	struct fixture f;

	fixture_init(&f, 0, SPACE);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 100000), ==, 0);
	f.h.valid = false;
	g_assert_cmpint(damon_ctx_step(f.ctx, damon_ctx_next_deadline_us(
			f.ctx)), ==, 1);
	g_assert_cmpint(f.ctx->stop_reason, ==, DAMON_STOP_TARGETS_INVALID);
	fixture_fini(&f);
}

static void test_request_stop(void)
{
	struct fixture f;

	fixture_init(&f, 0, SPACE);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 50000), ==, 0);
	damon_ctx_request_stop(f.ctx);
	g_assert_cmpuint(damon_ctx_next_deadline_us(f.ctx), ==, f.clk.now_us);
	g_assert_cmpint(damon_ctx_step(f.ctx, f.clk.now_us), ==, 1);
	g_assert_cmpint(f.ctx->stop_reason, ==, DAMON_STOP_REQUESTED);
	fixture_fini(&f);
}

static int fail_init(struct damon_ctx *ctx)
{
	return -ENOMEM;
}

static void test_ops_init_error(void)
{
	struct fixture f;

	fixture_init(&f, 0, SPACE);
	f.ctx->ops.init = fail_init;
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, -ENOMEM);
	g_assert_cmpint(f.ctx->stop_reason, ==, DAMON_STOP_OPS_ERROR);
	g_assert_cmpint(damon_ctx_step(f.ctx, 0), ==, -EINVAL);
	fixture_fini(&f);
	/* init failed, so there is nothing to clean up */
	g_assert_cmpuint(f.h.nr_cleanup, ==, 0);
}

static void test_restart(void)
{
	struct fixture f;

	fixture_init(&f, 0, SPACE);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, -EBUSY);
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 300000), ==, 0);
	damon_ctx_end(f.ctx);
	/* like kdamond's exit, end drops the regions */
	g_assert_cmpuint(f.t->nr_regions, ==, 0);
	/* begin again: the ops' update or the user must give regions */
	{
		const struct damon_addr_range rg[] = { { 0, SPACE } };

		g_assert_cmpint(damon_set_regions(f.t, rg, 1, P, NULL, 0), ==,
				0);
	}
	g_assert_cmpint(damon_ctx_begin(f.ctx, f.clk.now_us), ==, 0);
	g_assert_cmpuint(f.ctx->passed_sample_intervals, ==, 0);
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, f.clk.now_us + 100000),
			==, 0);
	g_assert_cmpuint(f.ctx->nr_aggregations, ==, 1);
	fixture_fini(&f);
}

struct inv_state {
	unsigned int aggregations;
};

static int check_invariants_cb(struct damon_ctx *ctx)
{
	struct inv_state *s = ctx->callback.private;
	unsigned int nr = damon_nr_regions_total(ctx);

	tu_assert_invariants(ctx);
	g_assert_cmpuint(nr, >=, ctx->attrs.min_nr_regions);
	g_assert_cmpuint(nr, <=, ctx->attrs.max_nr_regions);
	g_assert_cmpuint(damon_sz_total(ctx), ==, SPACE);
	s->aggregations++;
	return 0;
}

static void test_invariants_every_aggregation(void)
{
	const unsigned int bounds[][2] = { { 10, 1000 }, { 3, 3 }, { 3, 7 },
		{ 50, 100 }, { 20, 40 } };
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(bounds); i++) {
		struct inv_state s = { 0 };
		struct damon_attrs a;
		struct fixture f;

		/* a hot range with unaligned edges keeps splits and merges busy */
		fixture_init(&f, 1000 * P + 123, 1700 * P + 5);
		damon_attrs_default(&a);
		a.min_nr_regions = bounds[i][0];
		a.max_nr_regions = bounds[i][1];
		g_assert_cmpint(damon_set_attrs(f.ctx, &a, NULL, 0), ==, 0);
		damon_set_seed(f.ctx, 1000 + i);
		f.ctx->callback.private = &s;
		f.ctx->callback.after_aggregation = check_invariants_cb;
		g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
		g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 20000000), ==, 0);
		g_assert_cmpuint(s.aggregations, ==, 200);
		fixture_fini(&f);
	}
}

/* With a fixed, always-accessed hot range the regions find its edges. */
static void test_hot_range_found(void)
{
	const uint64_t hot_s = 1000 * P, hot_e = 1700 * P;
	uint64_t hot_bytes = 0, cold_bytes_reported_hot = 0;
	struct damon_region *r;
	struct fixture f;

	fixture_init(&f, hot_s, hot_e);
	damon_set_seed(f.ctx, 7);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 10000000), ==, 0);
	damon_for_each_region(r, f.t) {
		uint64_t s = MAX(r->ar.start, hot_s), e = MIN(r->ar.end, hot_e);

		/* last_nr_accesses: the last aggregation's count */
		if (r->last_nr_accesses >= 16 && e > s)
			hot_bytes += e - s;
		if (r->last_nr_accesses >= 16)
			cold_bytes_reported_hot += damon_sz_region(r) -
				(e > s ? e - s : 0);
	}
	g_assert_cmpuint(hot_bytes, >=, (hot_e - hot_s) * 9 / 10);
	g_assert_cmpuint(cold_bytes_reported_hot, <=, (hot_e - hot_s) / 10);
	fixture_fini(&f);
}

static void snapshot(struct damon_target *t, GArray *out)
{
	struct damon_region *r;

	damon_for_each_region(r, t) {
		g_array_append_val(out, r->ar.start);
		g_array_append_val(out, r->ar.end);
		g_array_append_val(out, r->nr_accesses_bp);
	}
}

static void test_deterministic(void)
{
	GArray *runs[2];
	int i;

	for (i = 0; i < 2; i++) {
		struct fixture f;

		fixture_init(&f, 1000 * P, 1700 * P);
		damon_set_seed(f.ctx, 42);
		g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
		g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 3000000), ==, 0);
		runs[i] = g_array_new(FALSE, FALSE, sizeof(uint64_t));
		snapshot(f.t, runs[i]);
		fixture_fini(&f);
	}
	g_assert_cmpmem(runs[0]->data, runs[0]->len * sizeof(uint64_t),
			runs[1]->data, runs[1]->len * sizeof(uint64_t));
	g_array_free(runs[0], TRUE);
	g_array_free(runs[1], TRUE);
}

static void test_merge_respects_max(void)
{
	struct damon_ctx *ctx = damon_new_ctx();
	uint64_t ranges[64][2];
	struct damon_target *t;
	struct damon_region *r;
	unsigned int i = 0;

	for (i = 0; i < 64; i++) {
		ranges[i][0] = i * P;
		ranges[i][1] = (i + 1) * P;
	}
	t = tu_add_target(ctx, (const uint64_t (*)[2])ranges, 64);
	ctx->attrs.min_nr_regions = 3;
	ctx->attrs.max_nr_regions = 8;
	/* alternating counts: nothing merges at threshold 1 */
	i = 0;
	damon_for_each_region(r, t)
		r->nr_accesses = (i++ % 2) ? 20 : 0;
	kdamond_merge_regions(ctx, 1, damon_region_sz_limit(ctx));
	/* raising the threshold brought the count under the maximum */
	g_assert_cmpuint(t->nr_regions, <=, 8);
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

/*
 * Above max_nr_regions / 2 regions, splitting goes on for a rotating
 * share, as many as fit: 60 regions under a maximum of 100 become 100,
 * the cursor moves on, and at the maximum nothing is split.
 *
 *   first split:   regions 0..39 split,  40..59 kept
 *   second split:  regions 40..59, 0..19 split (after a reset to 60)
 */
static void reset_to_60_regions(struct damon_target *t)
{
	struct damon_region *r, *next;
	uint64_t i;

	damon_for_each_region_safe(r, next, t)
		damon_destroy_region(r, t);
	for (i = 0; i < 60; i++)
		damon_add_region(damon_new_region(i * 64 * P, (i + 1) * 64 * P),
				t);
}

/* Regions now covering what original region @i covered. */
static unsigned int pieces_of(struct damon_target *t, uint64_t i)
{
	struct damon_region *r;
	unsigned int n = 0;

	damon_for_each_region(r, t)
		n += r->ar.start >= i * 64 * P && r->ar.end <= (i + 1) * 64 * P;
	return n;
}

static void test_split_above_half_max(void)
{
	struct damon_attrs a = {
		.sample_interval = 5000, .aggr_interval = 100000,
		.ops_update_interval = 1000000,
		.min_nr_regions = 10, .max_nr_regions = 100,
	};
	struct fixture f;
	uint64_t i;

	fixture_init(&f, 0, 0);
	g_assert_cmpint(damon_set_attrs(f.ctx, &a, NULL, 0), ==, 0);
	reset_to_60_regions(f.t);
	kdamond_split_regions(f.ctx);
	g_assert_cmpuint(f.t->nr_regions, ==, 100);
	for (i = 0; i < 60; i++)
		g_assert_cmpuint(pieces_of(f.t, i), ==, i < 40 ? 2 : 1);
	tu_assert_invariants(f.ctx);
	/* at the maximum, nothing more */
	kdamond_split_regions(f.ctx);
	g_assert_cmpuint(f.t->nr_regions, ==, 100);
	/* the next share starts where the last one ended, and wraps */
	reset_to_60_regions(f.t);
	kdamond_split_regions(f.ctx);
	g_assert_cmpuint(f.t->nr_regions, ==, 100);
	for (i = 0; i < 60; i++)
		g_assert_cmpuint(pieces_of(f.t, i), ==,
				i >= 40 || i < 20 ? 2 : 1);
	damon_destroy_ctx(f.ctx);
}

/* What each aggregation saw, and a tune at the first one. */
struct tune_at_aggr {
	uint64_t sis[2];
	unsigned int nr[2], last_nr[2];
	unsigned int n;
};

static int tune_after_aggregation(struct damon_ctx *ctx)
{
	struct tune_at_aggr *s = ctx->callback.private;
	struct damon_region *r = damon_first_region(
			damon_target_of(ctx->targets_list.next));
	struct damon_attrs same = ctx->attrs;

	s->sis[s->n] = ctx->passed_sample_intervals;
	s->nr[s->n] = r->nr_accesses;
	s->last_nr[s->n] = r->last_nr_accesses;
	if (s->n++ == 0)
		g_assert_cmpint(damon_set_attrs(ctx, &same, NULL, 0), ==, 0);
	return s->n == 2;
}

/*
 * damon_set_attrs() from after_aggregation keeps the window that just
 * ended and schedules the next aggregation once: with 20 samples per
 * aggregation and every sample hot, the aggregations come at samples 20
 * and 40, each counting 20 of 20, and the second one still knows the
 * first one's 20.
 */
static void test_set_attrs_after_aggregation(void)
{
	struct damon_attrs a = {
		.sample_interval = 1000, .aggr_interval = 20000,
		.ops_update_interval = 1000000,
		.min_nr_regions = 3, .max_nr_regions = 3,
	};
	struct tune_at_aggr s = { 0 };
	struct fixture f;

	fixture_init(&f, 0, SPACE);
	g_assert_cmpint(damon_set_attrs(f.ctx, &a, NULL, 0), ==, 0);
	f.ctx->callback.private = &s;
	f.ctx->callback.after_aggregation = tune_after_aggregation;
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 1000000), ==, 1);
	g_assert_cmpuint(s.n, ==, 2);
	g_assert_cmpuint(s.sis[0], ==, 20);
	g_assert_cmpuint(s.sis[1], ==, 40);
	g_assert_cmpuint(s.nr[0], ==, 20);
	g_assert_cmpuint(s.nr[1], ==, 20);
	g_assert_cmpuint(s.last_nr[1], ==, 20);
	fixture_fini(&f);
}

/*
 * At the aggregation: accessed bytes split by each region's share of
 * written samples (a region that straddles the written range's edge is
 * part written), and idle bytes.
 */
struct rw_bytes {
	uint64_t read_only, written, idle;
};

static int count_rw(struct damon_ctx *ctx)
{
	struct rw_bytes *b = ctx->callback.private;
	struct damon_region *r;

	memset(b, 0, sizeof(*b));
	damon_for_each_region(r, damon_target_of(ctx->targets_list.next)) {
		uint64_t sz = damon_sz_region(r), w;

		g_assert_cmpuint(r->nr_writes, <=, r->nr_accesses);
		if (!r->nr_accesses) {
			b->idle += sz;
			continue;
		}
		w = sz * r->nr_writes / r->nr_accesses;
		b->written += w;
		b->read_only += sz - w;
	}
	return 0;
}

/*
 * Reads and writes apart: the first 4 MiB are written, the next 4 MiB
 * only read.  Regions keep the two apart by nr_writes although merging
 * and splitting look at nr_accesses alone; the regions, which that
 * alone decides, are the same as without writes.
 */
static void test_writes_ride_along(void)
{
	struct rw_bytes b;
	struct fixture f, plain;
	struct damon_region *r, *q;

	fixture_init(&f, 0, 2048 * P);
	f.h.write_start = 0;
	f.h.write_end = 1024 * P;
	f.ctx->callback.private = &b;
	f.ctx->callback.after_aggregation = count_rw;
	fixture_init(&plain, 0, 2048 * P);
	g_assert_cmpint(damon_ctx_begin(f.ctx, 0), ==, 0);
	g_assert_cmpint(damon_ctx_begin(plain.ctx, 0), ==, 0);
	g_assert_cmpint(tu_run_until(f.ctx, &f.clk, 3000000), ==, 0);
	g_assert_cmpint(tu_run_until(plain.ctx, &plain.clk, 3000000), ==, 0);
	g_assert_cmpuint(b.written, >=, 1024 * P * 9 / 10);
	g_assert_cmpuint(b.written, <=, 1024 * P * 11 / 10);
	g_assert_cmpuint(b.read_only, >=, 1024 * P * 9 / 10);
	g_assert_cmpuint(b.read_only, <=, 1024 * P * 11 / 10);
	g_assert_cmpuint(b.read_only + b.written + b.idle, ==, SPACE);
	q = damon_first_region(plain.t);
	damon_for_each_region(r, f.t) {
		g_assert_cmphex(r->ar.start, ==, q->ar.start);
		g_assert_cmphex(r->ar.end, ==, q->ar.end);
		g_assert_cmpuint(r->nr_accesses, ==, q->nr_accesses);
		g_assert_cmpuint(r->age, ==, q->age);
		g_assert_cmpuint(q->nr_writes, ==, 0);
		q = damon_next_region(q);
	}
	fixture_fini(&f);
	fixture_fini(&plain);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/damon/kdamond/schedule", test_schedule);
	g_test_add_func("/damon/kdamond/writes_ride_along",
			test_writes_ride_along);
	g_test_add_func("/damon/kdamond/split_above_half_max",
			test_split_above_half_max);
	g_test_add_func("/damon/kdamond/set_attrs_after_aggregation",
			test_set_attrs_after_aggregation);
	g_test_add_func("/damon/kdamond/late_step_counts_once",
			test_late_step_counts_once);
	g_test_add_func("/damon/kdamond/callbacks_stop", test_callbacks_stop);
	g_test_add_func("/damon/kdamond/targets_invalid_stop",
			test_targets_invalid_stop);
	g_test_add_func("/damon/kdamond/request_stop", test_request_stop);
	g_test_add_func("/damon/kdamond/ops_init_error", test_ops_init_error);
	g_test_add_func("/damon/kdamond/restart", test_restart);
	g_test_add_func("/damon/kdamond/invariants_every_aggregation",
			test_invariants_every_aggregation);
	g_test_add_func("/damon/kdamond/hot_range_found", test_hot_range_found);
	g_test_add_func("/damon/kdamond/deterministic", test_deterministic);
	g_test_add_func("/damon/kdamond/merge_respects_max",
			test_merge_respects_max);
	return g_test_run();
}
