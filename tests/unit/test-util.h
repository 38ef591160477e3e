/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared helpers for the engine unit tests. */
#ifndef DAMON_TEST_UTIL_H
#define DAMON_TEST_UTIL_H

#include <glib.h>
#include <pthread.h>
#include "damon/damon.h"

/* A fake clock that tests advance by hand; install with tu_use_fake_clock. */
struct tu_clock {
	uint64_t now_us;
};
void tu_use_fake_clock(struct damon_ctx *ctx, struct tu_clock *c);

/* Add a target with regions given as {start, end} pairs. */
struct damon_target *tu_add_target(struct damon_ctx *ctx,
		const uint64_t (*ranges)[2], unsigned int nr);

/* Assert the region invariants of every target: sorted, non-overlapping,
 * each at least min_sz_region and aligned to it. */
void tu_assert_invariants(struct damon_ctx *ctx);

/* Assert that @t's regions are exactly the {start, end} pairs given. */
void tu_assert_regions(struct damon_target *t, const uint64_t (*ranges)[2],
		unsigned int nr);

/* Drive a begun context with damon_ctx_step() at its deadlines until the
 * clock reaches @until_us or the context finishes; returns the last step
 * result.  The fake clock follows the deadlines. */
int tu_run_until(struct damon_ctx *ctx, struct tu_clock *c, uint64_t until_us);

/*
 * A deterministic operations set for engine tests: the sampled page is
 * accessed in every sample interval iff it lies in [hot_start, hot_end),
 * and, when write_end is set, the access is a write iff it lies in
 * [write_start, write_end) too.  It counts its callbacks so tests can
 * see what the loop called.
 */
struct tu_hot_ops {
	uint64_t hot_start, hot_end;
	uint64_t write_start, write_end;
	bool valid;		/* target_valid() answer */
	unsigned int nr_init, nr_update, nr_prepare, nr_check, nr_reset,
		nr_cleanup;
};
/* Install on @ctx; call after adding the targets (their priv is set). */
void tu_set_hot_ops(struct damon_ctx *ctx, struct tu_hot_ops *h);

/* One row of a test program's table: a plain test, or one with data. */
struct tu_test {
	const char *name;	/* GLib test path below the program's prefix */
	GTestFunc fn;
	GTestDataFunc data_fn;
	const void *data;
};
#define TU_TEST(n, f)		{ .name = (n), .fn = (f) }
#define TU_TEST_DATA(n, f, d)	{ .name = (n), .data_fn = (f), .data = (d) }
/* The whole main(): register every row as PREFIX/NAME and run them. */
int tu_main(int argc, char **argv, const char *prefix,
		const struct tu_test *tests, size_t nr);

/*
 * A driver thread over the step API on real time, as a product's
 * monitor thread would be: it begins the context, sleeps until each
 * deadline, steps, and ends the context when a step says so.  It wakes
 * early when damon_call() queues a request (through call_queued, which
 * it installs).  Other threads reach the context only with damon_call().
 */
struct tu_driver {
	struct damon_ctx *ctx;
	pthread_t thread;
	pthread_mutex_t lock;	/* guards kicked, begun and ended */
	pthread_cond_t cond;
	bool kicked, begun, ended;
	int begin_rc;
	unsigned int nr_kicks;	/* call_queued hooks seen; under lock */
};
/* Start a driver for @ctx and wait until it has begun the context;
 * returns damon_ctx_begin()'s result. */
int tu_driver_start(struct tu_driver *d, struct damon_ctx *ctx);
/* Ask the driver to end the context (through damon_call) and join it. */
void tu_driver_stop(struct tu_driver *d);
/* Wait (at most 20 s) for a driver whose context ends by itself; join. */
void tu_driver_join(struct tu_driver *d);
/* Whether the driver's context has ended. */
bool tu_driver_ended(struct tu_driver *d);

#endif
