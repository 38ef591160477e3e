/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon "sim": an operations set over a simulated address space.
 *
 * The access pattern of a sim is data: a layout (the address ranges that
 * exist, with holes allowed) and a list of phases, each giving, for a set
 * of hot ranges, the probability that a page is accessed within one
 * sample interval.  Because the pattern is known, the sim also answers
 * ground-truth questions (working set size, hot bytes, overlap of a range
 * with the hot set), so that tests and benchmarks can score the engine's
 * output by precision and recall.
 *
 * Access draws use the sim's own seeded PRNG, and the engine picks the
 * sampling addresses with damon_rand(), which damon_set_seed() seeds: a
 * run driven with the step API and a fake clock is reproducible.
 *
 * Copyright (c) 2026 The qdamon authors
 */
#ifndef DAMON_SIM_H
#define DAMON_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "damon/damon.h"

/* Page size of the simulated memory; sampling addresses are aligned to it. */
#define DAMON_SIM_PAGE_SIZE	4096ULL

/**
 * struct damon_sim_range - A range of a phase and its access probability.
 * @start:	first address.
 * @end:	first address past the range.
 * @prob:	probability, in [0, 1], that a page of the range is accessed
 *		within one sample interval.
 */
struct damon_sim_range {
	uint64_t start;
	uint64_t end;
	double prob;
};

/**
 * struct damon_sim_stats - What the sim saw and did.
 * @nr_checks:		access checks made (one per region per sample).
 * @nr_accessed:	of those, the checks that found an access.
 * @nr_applied:		apply_scheme() calls, per &enum damos_action.
 * @sz_applied:		bytes passed to apply_scheme(), per action.
 * @sz_applied_wss:	of those, the bytes that were in the working set
 *			(access probability above 0) of the phase in force,
 *			per action: for %DAMOS_PAGEOUT, the mistakes.
 * @sz_paged_out:	bytes %DAMOS_PAGEOUT was applied to.
 * @nr_hints:		accessed pages reported with damon_region_hint()
 *			(see damon_sim_set_hints()).
 */
struct damon_sim_stats {
	uint64_t nr_checks;
	uint64_t nr_accessed;
	uint64_t nr_applied[NR_DAMOS_ACTIONS];
	uint64_t sz_applied[NR_DAMOS_ACTIONS];
	uint64_t sz_applied_wss[NR_DAMOS_ACTIONS];
	uint64_t sz_paged_out;
	uint64_t nr_hints;
};

struct damon_sim;

/**
 * damon_sim_ops - The "sim" operations set.
 *
 * Every target of a context that uses it must have a &struct damon_sim
 * as its &damon_target.priv; damon_sim_attach() arranges that.
 *
 * - init: records the start time (damon_ctx_now_us()) that phases count
 *   from; sets the regions of each target that has none to the sim's
 *   layout and then splits them to min_nr_regions (as in Linux, regions
 *   the user set up are kept until the first update).
 * - update: sets the regions to the current layout with
 *   damon_set_regions(), so that the regions follow damon_sim_set_layout().
 * - prepare_access_checks: picks a page-aligned random sampling address in
 *   each region with damon_rand().
 * - check_accesses: a region is accessed when a draw of the sim's PRNG is
 *   below the probability at its sampling address in the current phase.
 *   With hints on (damon_sim_set_hints()), it also reports accessed pages
 *   of each region with damon_region_hint(), as a dirty ring would.
 * - get_scheme_score: damon_cold_score() for %DAMOS_PAGEOUT, %DAMOS_COLD
 *   and %DAMOS_LRU_DEPRIO, damon_hot_score() for %DAMOS_WILLNEED,
 *   %DAMOS_LRU_PRIO and %DAMOS_HUGEPAGE, %DAMOS_MAX_SCORE otherwise.
 * - apply_scheme: counts the region, and how much of it was in the
 *   working set, in &struct damon_sim_stats; the access pattern does not
 *   change.  Returns the region's size, except for %DAMOS_STAT, which
 *   does nothing and so returns 0 as in Linux.  No ops-level filter
 *   exists, so the whole region passes the filters.
 * - action_supported: every action.
 * - target_valid: false once damon_sim_invalidate() was called.
 * - cleanup: none; init allocates nothing and the caller owns the sim.
 */
extern const struct damon_operations damon_sim_ops;

/**
 * damon_sim_new() - Create a sim with a layout and no phase.
 * @layout:	address ranges that exist; need not be sorted but must not
 *		overlap.
 * @nr:		number of entries in @layout, at least 1.
 * @seed:	seed of the sim's access-draw PRNG.
 *
 * Until a phase is added, nothing is ever accessed.
 *
 * Return: the sim, or NULL when @layout is invalid or memory ran out.
 */
struct damon_sim *damon_sim_new(const struct damon_addr_range *layout,
		unsigned int nr, uint64_t seed);

/**
 * damon_sim_destroy() - Free a sim.
 * @sim:	the sim, or NULL.
 *
 * The caller owns the sim, also once attached: destroy it only after the
 * context that uses it has been destroyed.
 */
void damon_sim_destroy(struct damon_sim *sim);

/**
 * damon_sim_add_phase() - Append a phase to the access pattern.
 * @sim:		the sim.
 * @duration_us:	how long the phase lasts, in microseconds.
 * @ranges:		hot ranges; need not be sorted but must not overlap.
 *			May reach outside the layout: memory outside the
 *			layout is never accessed.
 * @nr:			number of entries in @ranges (0 is fine).
 * @background:		probability, in [0, 1], for memory of the layout
 *			outside @ranges.
 *
 * Phases follow each other in the order added; see damon_sim_set_loop()
 * for what happens after the last.
 *
 * Return: 0, -EINVAL for a bad range or probability, -ENOMEM.
 * Locking: call before the context using @sim begins.
 */
int damon_sim_add_phase(struct damon_sim *sim, uint64_t duration_us,
		const struct damon_sim_range *ranges, unsigned int nr,
		double background);

/**
 * damon_sim_set_loop() - Choose what follows the last phase.
 * @sim:	the sim.
 * @loop:	true: start again at the first phase; false (the default):
 *		the last phase holds for ever.
 *
 * Locking: call before the context using @sim begins.
 */
void damon_sim_set_loop(struct damon_sim *sim, bool loop);

/**
 * damon_sim_set_hints() - Report accessed pages as split hints.
 * @sim:		the sim.
 * @nr_per_check:	pages to try per region per sample interval; 0
 *			(the default) turns hints off.
 *
 * Models a source that sees the addresses of accesses, like a dirty
 * ring: at every access check, for each region, @nr_per_check pages are
 * drawn uniformly from the region's memory whose access probability is
 * above 0 in the current phase, and each one is reported with
 * damon_region_hint() when a draw says it was accessed in this sample
 * interval (with its probability).  The draws use a PRNG of their own,
 * seeded from the sim's seed, so turning hints on or off leaves the
 * access draws, and so nr_accesses, as they were.
 *
 * Locking: call before the context using @sim begins.
 */
void damon_sim_set_hints(struct damon_sim *sim, unsigned int nr_per_check);

/**
 * damon_sim_set_layout() - Change the address ranges that exist.
 * @sim:	the sim.
 * @layout:	the new ranges; need not be sorted but must not overlap.
 * @nr:		number of entries in @layout, at least 1.
 *
 * Models memory hotplug: from now on memory outside @layout is never
 * accessed, and the next ops update of the context sets the regions to
 * @layout.
 *
 * Return: 0, -EINVAL for a bad layout (the old one stays), -ENOMEM.
 * Locking: takes the sim's lock; any thread may call it at any time.
 */
int damon_sim_set_layout(struct damon_sim *sim,
		const struct damon_addr_range *layout, unsigned int nr);

/**
 * damon_sim_invalidate() - Make the sim's target invalid.
 * @sim:	the sim.
 *
 * Models the end of the monitored address space: target_valid() returns
 * false from now on, so a context whose targets are all sims stops.
 *
 * Locking: takes the sim's lock; any thread may call it at any time.
 */
void damon_sim_invalidate(struct damon_sim *sim);

/**
 * damon_sim_attach() - Make a context monitor a sim.
 * @ctx:	a context that has not begun.
 * @sim:	the sim; it must outlive @ctx.
 *
 * Sets @ctx->ops to &damon_sim_ops, @ctx->ops_priv to @sim and adds a
 * target whose priv is @sim.  A sim serves at most one target.
 *
 * Return: the new target, or NULL when memory ran out.
 */
struct damon_target *damon_sim_attach(struct damon_ctx *ctx,
		struct damon_sim *sim);

/**
 * damon_sim_get_stats() - Copy the sim's statistics.
 * @sim:	the sim.
 * @stats:	where to copy them.
 *
 * Locking: takes the sim's lock; any thread may call it at any time.
 */
void damon_sim_get_stats(struct damon_sim *sim, struct damon_sim_stats *stats);

/* ---- phases and ground truth ---- */

/**
 * damon_sim_nr_phases() - Number of phases added.
 * @sim:	the sim.
 *
 * Return: the number of phases.
 */
unsigned int damon_sim_nr_phases(const struct damon_sim *sim);

/**
 * damon_sim_phase_at() - The phase in force at a clock time.
 * @sim:	the sim.
 * @now_us:	clock time of the context, in microseconds.
 *
 * Phases count from the time the context's init ran (the time the context
 * began); before that, and before it ever ran, the first phase is current.
 *
 * Return: the phase index, or 0 when there is no phase.
 * Locking: takes the sim's lock.
 */
unsigned int damon_sim_phase_at(struct damon_sim *sim, uint64_t now_us);

/**
 * damon_sim_prob_at() - Access probability of an address in a phase.
 * @sim:	the sim.
 * @phase:	phase index.
 * @addr:	the address.
 *
 * Takes O(log n) time in the number of layout and hot ranges.
 *
 * Return: the probability that the page at @addr is accessed within one
 * sample interval; 0 outside the layout or for an unknown @phase.
 * Locking: takes the sim's lock.
 */
double damon_sim_prob_at(struct damon_sim *sim, unsigned int phase,
		uint64_t addr);

/**
 * damon_sim_hot_bytes() - Bytes of the layout that are hot in a phase.
 * @sim:	the sim.
 * @phase:	phase index.
 * @min_prob:	threshold: memory is hot when its probability is above 0
 *		and at least @min_prob.
 *
 * With @min_prob 0 this is the true working set size.
 *
 * Return: the number of hot bytes; 0 for an unknown @phase.
 * Locking: takes the sim's lock.
 */
uint64_t damon_sim_hot_bytes(struct damon_sim *sim, unsigned int phase,
		double min_prob);

/**
 * damon_sim_wss_bytes() - True working set size of a phase.
 * @sim:	the sim.
 * @phase:	phase index.
 *
 * Return: bytes of the layout whose access probability is above 0.
 * Locking: takes the sim's lock.
 */
uint64_t damon_sim_wss_bytes(struct damon_sim *sim, unsigned int phase);

/**
 * damon_sim_hot_overlap() - Hot bytes of a phase within an address range.
 * @sim:	the sim.
 * @phase:	phase index.
 * @min_prob:	hotness threshold, as for damon_sim_hot_bytes().
 * @start:	first address of the range.
 * @end:	first address past the range.
 *
 * Scoring a region: its precision is the overlap divided by its size, and
 * summing the overlaps of the regions the engine calls hot, divided by
 * damon_sim_hot_bytes(), gives the recall.
 *
 * Return: the number of bytes of [@start, @end) that are in the layout and
 * hot in @phase.
 * Locking: takes the sim's lock.
 */
uint64_t damon_sim_hot_overlap(struct damon_sim *sim, unsigned int phase,
		double min_prob, uint64_t start, uint64_t end);

/**
 * damon_sim_layout_bytes() - Size of the layout.
 * @sim:	the sim.
 *
 * Return: the sum of the sizes of the layout's ranges, in bytes.
 * Locking: takes the sim's lock.
 */
uint64_t damon_sim_layout_bytes(struct damon_sim *sim);

/* ---- canned patterns, over the layout [0, @sz) ---- */

/**
 * damon_sim_new_static() - A sim with one hot range that never moves.
 * @sz:		size of the address space, in bytes (a page multiple).
 * @hot_frac:	fraction of the space that is hot, in (0, 1].
 * @prob:	access probability of the hot range; the rest is cold (0).
 * @seed:	seed of the sim's PRNG.
 *
 * The hot range is page-aligned and sits in the middle of the space.
 *
 * Return: the sim, or NULL for bad arguments or when memory ran out.
 */
struct damon_sim *damon_sim_new_static(uint64_t sz, double hot_frac,
		double prob, uint64_t seed);

/**
 * damon_sim_new_stairs() - A sim whose hot window steps across the space.
 * @sz:		size of the address space, in bytes (a page multiple).
 * @nr_steps:	number of phases; the window is @sz / @nr_steps bytes,
 *		rounded down to pages, and phase i heats window i.
 * @step_us:	duration of each phase, in microseconds.
 * @prob:	access probability of the window; the rest is cold (0).
 * @seed:	seed of the sim's PRNG.
 *
 * After the last step the window jumps back to the start (the phases
 * loop).
 *
 * Return: the sim, or NULL for bad arguments or when memory ran out.
 */
struct damon_sim *damon_sim_new_stairs(uint64_t sz, unsigned int nr_steps,
		uint64_t step_us, double prob, uint64_t seed);

/**
 * damon_sim_new_zigzag() - A sim whose hot window moves forth and back.
 * @sz:		size of the address space, in bytes (a page multiple).
 * @nr_steps:	window positions, as for damon_sim_new_stairs().
 * @step_us:	duration of each phase, in microseconds.
 * @prob:	access probability of the window; the rest is cold (0).
 * @seed:	seed of the sim's PRNG.
 *
 * The window visits positions 0, 1, ..., @nr_steps - 1, then
 * @nr_steps - 2, ..., 1, and loops: 2 * @nr_steps - 2 phases (1 when
 * @nr_steps is 1).
 *
 * Return: the sim, or NULL for bad arguments or when memory ran out.
 */
struct damon_sim *damon_sim_new_zigzag(uint64_t sz, unsigned int nr_steps,
		uint64_t step_us, double prob, uint64_t seed);

#endif /* DAMON_SIM_H */
