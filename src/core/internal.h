/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Engine-internal helpers shared by the src/core files and the unit tests.
 * Not installed; operations sets and front-ends use damon/damon.h only.
 */
#ifndef DAMON_CORE_INTERNAL_H
#define DAMON_CORE_INTERNAL_H

#include "damon/damon.h"

/* ---- region.c: region surgery ---- */

/* Split @r so that its left part is @sz_r bytes long; the new right part
 * inherits the access information. */
void damon_split_region_at(struct damon_target *t, struct damon_region *r,
		uint64_t sz_r);
/* Merge @r into @l (adjacent, @l first); size-weighted nr_accesses/age. */
void damon_merge_two_regions(struct damon_target *t, struct damon_region *l,
		struct damon_region *r);
/* Update ages against @thres, as every aggregation does before merging. */
void damon_update_ages_of(struct damon_target *t, unsigned int thres);
/* Merge adjacent regions whose nr_accesses differ by <= @thres, never
 * making a region larger than @sz_limit. */
void damon_merge_regions_of(struct damon_target *t, unsigned int thres,
		uint64_t sz_limit);
/* Split @r into @nr_subs pieces at random 10-90% points. */
void damon_split_region_randomly(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		unsigned int nr_subs);
/* Cuts (0 to 2) @r's hint box asks for; 0 when it gives no useful cut. */
unsigned int damon_region_hint_nr_cuts(const struct damon_ctx *ctx,
		const struct damon_region *r);
/* Cut @r at the edges of its hint box, adding at most @max_new regions;
 * returns the number added, 0 when the box gives no useful cut. */
unsigned int damon_split_region_at_hint(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		unsigned int max_new);
/* Split every region of @t into @nr_subs pieces at random 10-90% points. */
void damon_split_regions_of(struct damon_ctx *ctx, struct damon_target *t,
		unsigned int nr_subs);
/* Largest size a merge may produce: total / min_nr_regions. */
uint64_t damon_region_sz_limit(const struct damon_ctx *ctx);
/* Check the region invariants of @t; 0 or -EINVAL with a text. */
int damon_check_target_invariants(const struct damon_target *t,
		uint64_t min_sz_region, char *err, size_t errlen);

/* ---- ctx.c ---- */

/* Read the context's clock (injected, or CLOCK_MONOTONIC), in
 * microseconds: only to time DAMOS actions.  The step's own time is
 * damon_ctx_now_us(). */
uint64_t damon_clock_read(const struct damon_ctx *ctx);
/* Print into @err if it is not NULL; always returns -EINVAL. */
int damon_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- kdamond.c: the monitoring loop ---- */

/* The worker's merge step: ages, then merges, raising the threshold
 * until the region count fits max_nr_regions. */
void kdamond_merge_regions(struct damon_ctx *ctx, unsigned int threshold,
		uint64_t sz_limit);
void kdamond_split_regions(struct damon_ctx *ctx);
void kdamond_reset_aggregated(struct damon_ctx *ctx);

/* ---- intervals.c: the intervals tuner ---- */

/* At each aggregation, before the reset: account the window and, every
 * intervals_goal.aggrs of them, tune the intervals. */
void kdamond_intervals_aggregated(struct damon_ctx *ctx, uint64_t due_sis);
/* Start a new tuning round (damon_set_attrs() does at every change). */
void damon_intervals_restart(struct damon_ctx *ctx);
/* Reset the tuner's status when a context begins. */
void damon_intervals_begin(struct damon_ctx *ctx);

/* ---- call.c: damon_call() ---- */

/* Run (or, with @cancel, cancel) the queued damon_call() requests; on
 * the driver. */
void kdamond_call(struct damon_ctx *ctx, bool cancel);
/* Record that the calling thread drives @ctx (@driven) or that nobody
 * does any more; the latter cancels what is still queued. */
void damon_call_set_driver(struct damon_ctx *ctx, bool driven);

/* ---- damos.c: schemes, run from the loop ---- */

/* Called once when a context begins: schedules every scheme. */
void kdamond_init_schemes(struct damon_ctx *ctx);
/* Called every sample interval after check_accesses (and, on aggregation,
 * after merging): applies the schemes whose apply interval is due. */
void kdamond_apply_schemes(struct damon_ctx *ctx);
/* Evaluate watermarks at ctx->now_us.  Returns 0 when monitoring should
 * go on (no schemes, or one is active), otherwise the microseconds until
 * the next watermark check. */
uint64_t kdamond_wmarks_wait_us(struct damon_ctx *ctx);
/* Rescale scheme scheduling after the sample interval changed. */
void damos_attrs_changed(struct damon_ctx *ctx,
		const struct damon_attrs *old_attrs);
/* Drop the quota charge points that refer to @t, which is going away.
 * damon_destroy_target() should call it before freeing @t. */
void damos_forget_target(struct damon_ctx *ctx,
		const struct damon_target *t);
/* The goal tuners' feedback loop: the next input from @last and a score
 * in basis points of the goal (10000: met). */
uint64_t damos_feed_loop_next_input(uint64_t last, uint64_t score);

#endif /* DAMON_CORE_INTERNAL_H */
