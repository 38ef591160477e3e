/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared helpers for the engine unit tests. */
#ifndef DAMON_TEST_UTIL_H
#define DAMON_TEST_UTIL_H

#include <glib.h>
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
 * accessed in every sample interval iff it lies in [hot_start, hot_end).
 * It counts its callbacks so tests can see what the loop called.
 */
struct tu_hot_ops {
	uint64_t hot_start, hot_end;
	bool valid;		/* target_valid() answer */
	unsigned int nr_init, nr_update, nr_prepare, nr_check, nr_reset,
		nr_cleanup;
};
/* Install on @ctx; call after adding the targets (their priv is set). */
void tu_set_hot_ops(struct damon_ctx *ctx, struct tu_hot_ops *h);

#endif
