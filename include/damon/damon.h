/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon: the DAMON engine's public interface.
 *
 * The engine monitors data accesses of abstract address spaces with the
 * region-based sampling and adaptive regions adjustment of Linux DAMON,
 * and applies DAMON-based operation schemes (DAMOS).  Names follow
 * include/linux/damon.h so that DAMON users feel at home.
 *
 * There is one way to run a context: the step API.  The caller of
 * damon_ctx_begin() is its driver and calls damon_ctx_step() at the
 * deadlines the engine gives; it may be a thread of its own, a timer in
 * an event loop, or a test advancing a fake clock.  Every other thread
 * reaches the context through damon_call().
 *
 * The engine is plain C11 plus POSIX threads.  It never prints: functions
 * return a negative errno (constructors return NULL) and, where the
 * caller passes an error buffer, a text that names the field and the
 * allowed range.
 *
 * Copyright (c) 2026 The qdamon authors
 */
#ifndef DAMON_DAMON_H
#define DAMON_DAMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "damon/list.h"

/* Default minimum region size and alignment: one 4 KiB page. */
#define DAMON_MIN_REGION_DEFAULT	4096ULL

/* Upper bound of aggr_interval / sample_interval, i.e. of nr_accesses. */
#define DAMON_MAX_NR_ACCESSES		1000000U

/* Largest score a get_scheme_score() callback may return. */
#define DAMOS_MAX_SCORE			99

/* Length of error texts written by the validating functions. */
#define DAMON_ERR_LEN			256

/**
 * struct damon_addr_range - A half-open address range, [@start, @end).
 * @start:	first address.
 * @end:	first address past the range.
 */
struct damon_addr_range {
	uint64_t start;
	uint64_t end;
};

/**
 * struct damon_region - A monitoring target region.
 * @ar:			the address range of the region.
 * @sampling_addr:	address sampled in the current sample interval.
 * @nr_accesses:	sample intervals, in the current aggregation
 *			interval, in which an access was found.
 * @nr_accesses_bp:	moving sum of @nr_accesses over the last
 *			aggregation interval, in basis points (1/10000),
 *			updated every sample interval.
 * @last_nr_accesses:	@nr_accesses of the previous aggregation interval.
 * @nr_writes:		sample intervals, in the current aggregation
 *			interval, in which the access found was a write; at
 *			most @nr_accesses.
 * @last_nr_writes:	@nr_writes of the previous aggregation interval.
 * @age:		aggregation intervals for which the access
 *			frequency of the region stayed similar.
 * @hint_start:		start of the hint box: the bounding range of the
 *			addresses the operations set saw accessed in the
 *			region since the last aggregation
 *			(damon_region_hint()).
 * @hint_end:		end of the hint box; the box is empty when
 *			@hint_end <= @hint_start.
 * @list:		list head for the target's regions.
 *
 * @nr_accesses is reset at every aggregation, so it is meaningful only
 * in the after_aggregation callback and right before the reset.
 * @nr_accesses_bp / 10000 gives a value comparable to @nr_accesses at
 * any time, which is what DAMOS uses for access-pattern matching.
 *
 * @nr_writes is not in Linux DAMON: an operations set whose checks tell
 * writes apart (damon_update_region_writes()) counts them beside the
 * accesses.  It rides along: merged, split, reset and rescaled like
 * @nr_accesses, but ages, merges, splits and DAMOS never look at it, so
 * the region algorithm stays the kernel's.
 *
 * The hint box is not in Linux DAMON either.  Sources that see accessed
 * addresses anyway (a dirty ring, a synced dirty bitmap, TLB fills)
 * report them, and in %DAMON_SPLIT_AIMED mode the aggregation's split
 * step cuts a region at its box's edges instead of at random points.
 * Hints only place splits: @nr_accesses still comes only from the access
 * checks.  Merges union the boxes, splits give each piece its share, and
 * the split step empties every box once it has used them.
 */
struct damon_region {
	struct damon_addr_range ar;
	uint64_t sampling_addr;
	unsigned int nr_accesses;
	unsigned int nr_accesses_bp;
	unsigned int last_nr_accesses;
	unsigned int nr_writes;
	unsigned int last_nr_writes;
	unsigned int age;
	uint64_t hint_start;
	uint64_t hint_end;
	struct damon_list list;
};

/**
 * struct damon_target - A monitoring target, i.e. one address space.
 * @priv:	operations set's data for this target (an opaque handle).
 * @id:		index in the context's target list, for filters and reports.
 * @nr_regions:	number of monitoring target regions.
 * @regions_list: head of the sorted, non-overlapping region list.
 * @list:	list head for the context's targets.
 */
struct damon_target {
	void *priv;
	unsigned int id;
	unsigned int nr_regions;
	struct damon_list regions_list;
	struct damon_list list;
};

/**
 * enum damos_action - What a DAMOS scheme does to matching regions.
 * @DAMOS_WILLNEED:	expect the region to be accessed soon.
 * @DAMOS_COLD:		deactivate the region (make it a reclaim candidate).
 * @DAMOS_PAGEOUT:	reclaim the region.
 * @DAMOS_HUGEPAGE:	back the region with huge pages.
 * @DAMOS_NOHUGEPAGE:	do not back the region with huge pages.
 * @DAMOS_LRU_PRIO:	prioritise the region on its LRU lists.
 * @DAMOS_LRU_DEPRIO:	deprioritise the region on its LRU lists.
 * @DAMOS_MIGRATE_HOT:	move the region to &damos.target_nid, hottest
 *			regions first under a quota.
 * @DAMOS_MIGRATE_COLD:	move the region to &damos.target_nid, coldest
 *			regions first under a quota.
 * @DAMOS_STAT:		do nothing but count the statistics.
 * @NR_DAMOS_ACTIONS:	total number of actions.
 *
 * Carrying out an action is the operations set's job; which actions an
 * operations set supports is given by its &damon_operations.action_supported.
 */
enum damos_action {
	DAMOS_WILLNEED,
	DAMOS_COLD,
	DAMOS_PAGEOUT,
	DAMOS_HUGEPAGE,
	DAMOS_NOHUGEPAGE,
	DAMOS_LRU_PRIO,
	DAMOS_LRU_DEPRIO,
	DAMOS_MIGRATE_HOT,
	DAMOS_MIGRATE_COLD,
	DAMOS_STAT,
	NR_DAMOS_ACTIONS,
};

/**
 * struct damos_access_pattern - Target access pattern of a scheme.
 * @min_sz_region:	minimum region size, in bytes.
 * @max_sz_region:	maximum region size, in bytes.
 * @min_nr_accesses:	minimum nr_accesses (per aggregation interval).
 * @max_nr_accesses:	maximum nr_accesses.
 * @min_age_region:	minimum age, in aggregation intervals.
 * @max_age_region:	maximum age, in aggregation intervals.
 *
 * All bounds are inclusive.  A region matches when all three fit.
 */
struct damos_access_pattern {
	uint64_t min_sz_region;
	uint64_t max_sz_region;
	unsigned int min_nr_accesses;
	unsigned int max_nr_accesses;
	unsigned int min_age_region;
	unsigned int max_age_region;
};

/**
 * enum damos_quota_goal_metric - What a quota goal measures.
 * @DAMOS_QUOTA_USER_INPUT:	@current_value is set by the user.
 * @DAMOS_QUOTA_METRIC_CALLBACK: @get_metric() is called at each charge
 *				window start to get the current value.
 * @NR_DAMOS_QUOTA_GOAL_METRICS: number of metrics.
 */
enum damos_quota_goal_metric {
	DAMOS_QUOTA_USER_INPUT,
	DAMOS_QUOTA_METRIC_CALLBACK,
	NR_DAMOS_QUOTA_GOAL_METRICS,
};

/**
 * struct damos_quota_goal - A goal for the quota auto-tuning feedback loop.
 * @metric:		where the current value comes from.
 * @target_value:	the value the user wants the metric to reach.
 * @current_value:	the metric's current value.
 * @get_metric:		for %DAMOS_QUOTA_METRIC_CALLBACK, returns the value.
 * @data:		passed to @get_metric.
 * @list:		list head for the quota's goals.
 *
 * The tuner raises the effective quota while the metric is under the
 * target and lowers it while above, in proportion to the distance.
 */
struct damos_quota_goal {
	enum damos_quota_goal_metric metric;
	uint64_t target_value;
	uint64_t current_value;
	uint64_t (*get_metric)(void *data);
	void *data;
	struct damon_list list;
};

/**
 * struct damos_quota - Controls how much a scheme may do.
 * @ms:			time budget per charge window, in milliseconds.
 * @sz:			size budget per charge window, in bytes.
 * @reset_interval:	charge window length, in milliseconds.
 * @weight_sz:		weight of region size in prioritisation.
 * @weight_nr_accesses:	weight of access frequency in prioritisation.
 * @weight_age:		weight of age in prioritisation.
 * @goals_list:		head of the &struct damos_quota_goal list.
 * @esz:		effective size quota of the current window, in bytes
 *			(0 means unlimited).
 *
 * When both @ms and @sz are zero and there is no goal, the scheme is not
 * limited.  Otherwise the effective quota is the smallest of @sz, the
 * bytes @ms allows at the measured throughput, and the goal tuner's
 * output.  Regions that fit the quota are chosen by priority score, so
 * the most fitting regions are acted on first; the regions left over
 * when the quota runs out are tried first in the next window.
 */
struct damos_quota {
	uint64_t ms;
	uint64_t sz;
	uint64_t reset_interval;
	unsigned int weight_sz;
	unsigned int weight_nr_accesses;
	unsigned int weight_age;
	struct damon_list goals_list;
	uint64_t esz;
/* private: */
	uint64_t esz_bp;
	uint64_t total_charged_sz;
	uint64_t total_charged_ns;
	uint64_t charged_sz;
	uint64_t charged_from_us;
	bool charged_from_set;
	struct damon_target *charge_target_from;
	uint64_t charge_addr_from;
	unsigned int min_score;
};

/**
 * struct damos_watermarks - Activates a scheme by a system metric.
 * @get_metric:	returns the current metric value; NULL means no
 *		watermarks, i.e. the scheme is always active.
 * @data:	passed to @get_metric.
 * @interval:	metric check interval, in microseconds.
 * @high:	deactivate above this value.
 * @mid:	activate when at or below this value (and at or above @low).
 * @low:	deactivate below this value.
 * @activated:	whether the scheme is active now.
 *
 * As in Linux DAMON: the scheme is deactivated when the metric is above
 * @high or below @low, and activated again when the metric is between
 * @low and @mid.  When every scheme of a context is deactivated, the
 * context stops monitoring and only checks the watermarks.
 */
struct damos_watermarks {
	uint64_t (*get_metric)(void *data);
	void *data;
	uint64_t interval;
	uint64_t high;
	uint64_t mid;
	uint64_t low;
	bool activated;
/* private: */
	uint64_t next_check_us;
};

/**
 * enum damos_filter_type - What a DAMOS filter looks at.
 * @DAMOS_FILTER_TYPE_YOUNG:	whether the memory was accessed again just
 *				before the action; an operations-level
 *				filter, evaluated by &damon_operations.apply_scheme
 *				through damos_ops_filter_out().
 * @DAMOS_FILTER_TYPE_ADDR:	an address range (core).
 * @DAMOS_FILTER_TYPE_TARGET:	a target index (core).
 * @NR_DAMOS_FILTER_TYPES:	number of types.
 *
 * As in Linux 6.15, core filters are evaluated before the quota is
 * charged and operations-level ones after, each kind with its own
 * default for memory that none of its filters is for.
 */
enum damos_filter_type {
	DAMOS_FILTER_TYPE_YOUNG,
	DAMOS_FILTER_TYPE_ADDR,
	DAMOS_FILTER_TYPE_TARGET,
	NR_DAMOS_FILTER_TYPES,
};

/**
 * struct damos_filter - Narrows the memory a scheme acts on.
 * @type:	what the filter looks at.
 * @matching:	whether the filter is for memory that matches the
 *		condition (true) or memory that does not (false).
 * @allow:	allow (true) or reject (false) what the filter is for.
 * @addr_range:	for %DAMOS_FILTER_TYPE_ADDR.
 * @target_idx:	for %DAMOS_FILTER_TYPE_TARGET, the &damon_target.id.
 * @list:	list head for the scheme's filters.
 *
 * Filters are evaluated in order; the first that the memory is for
 * decides.  Memory no filter is for is allowed when the last filter
 * rejects, and rejected when the last filter allows, as in Linux 6.15.
 * An address filter splits a region that straddles its boundary, so that
 * each part gets its own decision.
 */
struct damos_filter {
	enum damos_filter_type type;
	bool matching;
	bool allow;
	struct damon_addr_range addr_range;
	unsigned int target_idx;
	struct damon_list list;
};

/**
 * struct damos_stat - Statistics of a scheme.
 * @nr_tried:	regions the scheme tried to apply to.
 * @sz_tried:	bytes of those regions.
 * @nr_applied:	regions the action was applied to.
 * @sz_applied:	bytes the action was applied to.
 * @qt_exceeds:	charge windows in which the quota was exhausted.
 * @apply_ns:	time the operations set took to apply the action, on the
 *		context's clock: what the quota's time budget charges.
 */
struct damos_stat {
	uint64_t nr_tried;
	uint64_t sz_tried;
	uint64_t nr_applied;
	uint64_t sz_applied;
	uint64_t qt_exceeds;
	uint64_t apply_ns;
};

/**
 * struct damos_tried_region - One entry of a scheme's tried-regions snapshot.
 * @ar:			the region's range when it was tried.
 * @nr_accesses:	its access frequency (from nr_accesses_bp).
 * @age:		its age.
 * @target_id:		&damon_target.id of its target.
 */
struct damos_tried_region {
	struct damon_addr_range ar;
	unsigned int nr_accesses;
	unsigned int age;
	unsigned int target_id;
};

/**
 * struct damos - A DAMON-based operation scheme.
 * @pattern:		access pattern of the regions to act on.
 * @action:		what to do with them.
 * @apply_interval_us:	how often to apply, in microseconds; 0 means
 *			every aggregation interval.
 * @target_nid:		for the migrate actions, the node to move to.
 * @quota:		limits and prioritisation.
 * @wmarks:		activation watermarks.
 * @filters_list:	head of the &struct damos_filter list.
 * @stat:		statistics.
 * @priv:		the user's data; the engine never touches it, and
 *			damos_commit() leaves it as it is.
 * @list:		list head for the context's schemes.
 *
 * Locking: owned by the context's driver while it is begun; read it
 * from elsewhere only through damon_call().
 */
struct damos {
	struct damos_access_pattern pattern;
	enum damos_action action;
	uint64_t apply_interval_us;
	int target_nid;
	struct damos_quota quota;
	struct damos_watermarks wmarks;
	struct damon_list filters_list;
	struct damos_stat stat;
	void *priv;
	struct damon_list list;
/* private: */
	uint64_t next_apply_sis;
	bool apply_due;
	struct damos_tried_region *tried;
	size_t nr_tried_regions;
	size_t tried_cap;
	struct damos_tried_region *tried_building;
	size_t nr_tried_building;
	size_t tried_building_cap;
};

struct damon_ctx;

/**
 * struct damon_operations - Monitoring operations for an address space.
 * @name:			name of the operations set, for reports.
 * @init:			set up the targets' initial regions.
 * @update:			follow address space changes (every
 *				ops_update_interval).
 * @prepare_access_checks:	arm access checks (every sample interval).
 * @check_accesses:		read the checks; return the largest
 *				nr_accesses of any region.
 * @reset_aggregated:		reset ops state at each aggregation.
 * @get_scheme_score:		priority score of a region for a scheme,
 *				in [0, %DAMOS_MAX_SCORE].
 * @apply_scheme:		carry out the scheme's action on a region;
 *				return the bytes it was applied to, and the
 *				bytes that passed ops-level filters in the
 *				last argument.
 * @action_supported:		whether @apply_scheme can do an action.
 * @target_valid:		whether a target is still there; when no
 *				target is valid the context stops.
 * @cleanup:			free what @init made.
 *
 * Every callback is optional and runs on the context's driver, the
 * thread that calls the step API.  @init returns 0 or a negative errno.
 */
struct damon_operations {
	const char *name;
	int (*init)(struct damon_ctx *ctx);
	void (*update)(struct damon_ctx *ctx);
	void (*prepare_access_checks)(struct damon_ctx *ctx);
	unsigned int (*check_accesses)(struct damon_ctx *ctx);
	void (*reset_aggregated)(struct damon_ctx *ctx);
	int (*get_scheme_score)(struct damon_ctx *ctx, struct damon_target *t,
			struct damon_region *r, struct damos *scheme);
	uint64_t (*apply_scheme)(struct damon_ctx *ctx, struct damon_target *t,
			struct damon_region *r, struct damos *scheme,
			uint64_t *sz_filter_passed);
	bool (*action_supported)(enum damos_action action);
	bool (*target_valid)(struct damon_target *t);
	void (*cleanup)(struct damon_ctx *ctx);
};

/**
 * struct damon_callback - Monitoring event hooks for the context's user.
 * @private:		user's data.
 * @before_start:	called once, after the ops' init.
 * @after_sampling:	called after each prepare_access_checks.
 * @after_aggregation:	called at each aggregation, after merging and
 *			before the schemes are applied and results reset.
 * @before_terminate:	called once, when monitoring ends for any reason.
 * @call_queued:	called by damon_call() on the calling thread, not the
 *			driver, right after it queued a request; a driver that
 *			sleeps until its next deadline uses it to wake up and
 *			step at once.  It must not touch the context.
 *
 * A non-zero return from @before_start, @after_sampling or
 * @after_aggregation stops monitoring.  All but @call_queued run on the
 * context's driver.
 */
struct damon_callback {
	void *private;
	int (*before_start)(struct damon_ctx *ctx);
	int (*after_sampling)(struct damon_ctx *ctx);
	int (*after_aggregation)(struct damon_ctx *ctx);
	void (*before_terminate)(struct damon_ctx *ctx);
	void (*call_queued)(struct damon_ctx *ctx);
};

/**
 * enum damon_split_mode - Where the aggregation's split step cuts regions.
 * @DAMON_SPLIT_AIMED:	at the edges of a region's hint box when the box
 *			is clearly smaller than the region; regions
 *			without one are cut at random, as in Linux.
 * @DAMON_SPLIT_RANDOM:	always at random points, as Linux DAMON does;
 *			hints are ignored.
 * @NR_DAMON_SPLIT_MODES: number of modes.
 */
enum damon_split_mode {
	DAMON_SPLIT_AIMED,
	DAMON_SPLIT_RANDOM,
	NR_DAMON_SPLIT_MODES,
};

/**
 * struct damon_intervals_goal - Goal of the intervals auto-tuning.
 * @access_bp:		share of the most access events an aggregation can
 *			observe that the tuner aims at, in basis points
 *			(1 to 10000).
 * @aggrs:		tune every this many aggregations; 0 turns tuning
 *			off (the default).
 * @min_sample_us:	smallest sampling interval the tuner may set.
 * @max_sample_us:	largest sampling interval the tuner may set.
 * @max_cpu_permille:	share of one host core, in thousandths (1 to 1000),
 *			that sampling may cost; 0 means no bound.  Not in
 *			Linux: the tuner never sets a sampling interval
 *			shorter than the measured cost of a sample
 *			(damon_report_sample_cost()) divided by this share,
 *			and this bound wins over @max_sample_us.
 *
 * As Linux 6.15's intervals_goal: every @aggrs aggregations the tuner
 * compares the access events observed over them (the sum of region size
 * times nr_accesses) with @access_bp of the most it could have observed
 * (size times samples per aggregation), lengthens the sampling interval
 * when it saw fewer and shortens it when it saw more, and keeps the
 * aggregation interval at the same number of samples.
 */
struct damon_intervals_goal {
	unsigned int access_bp;
	unsigned int aggrs;
	uint64_t min_sample_us;
	uint64_t max_sample_us;
	unsigned int max_cpu_permille;
};

/**
 * enum damon_intervals_limit - What decided the last tuned intervals.
 * @DAMON_INTERVALS_LIMIT_GOAL:		the feedback loop alone.
 * @DAMON_INTERVALS_LIMIT_MIN_SAMPLE:	clamped up to min_sample_us.
 * @DAMON_INTERVALS_LIMIT_MAX_SAMPLE:	clamped down to max_sample_us.
 * @DAMON_INTERVALS_LIMIT_CPU_BUDGET:	raised to what max_cpu_permille
 *					allows.
 */
enum damon_intervals_limit {
	DAMON_INTERVALS_LIMIT_GOAL,
	DAMON_INTERVALS_LIMIT_MIN_SAMPLE,
	DAMON_INTERVALS_LIMIT_MAX_SAMPLE,
	DAMON_INTERVALS_LIMIT_CPU_BUDGET,
};

/**
 * struct damon_intervals_status - What the intervals tuner did last.
 * @nr_tunes:		tuning rounds since the context began.
 * @last_score_bp:	observed access events of the last round, in basis
 *			points of the goal's (10000: goal met).
 * @last_adaptation_bp:	factor the feedback loop applied to the sampling
 *			interval, in basis points, before the clamps.
 * @limited_by:		what decided the intervals of the last round.
 * @sample_cost_ns:	moving average of the host CPU one sample interval
 *			costs, as the driver reported it (0: none yet).
 * @budget_min_sample_us: shortest sampling interval the CPU budget
 *			allows now (0: no budget or no cost known).
 */
struct damon_intervals_status {
	uint64_t nr_tunes;
	uint64_t last_score_bp;
	uint64_t last_adaptation_bp;
	enum damon_intervals_limit limited_by;
	uint64_t sample_cost_ns;
	uint64_t budget_min_sample_us;
};

/**
 * struct damon_attrs - Monitoring attributes.
 * @sample_interval:	sampling interval, in microseconds.
 * @aggr_interval:	aggregation interval, in microseconds.
 * @ops_update_interval: operations update interval, in microseconds.
 * @min_nr_regions:	minimum number of regions.
 * @max_nr_regions:	maximum number of regions.
 * @split_mode:		how regions are split at aggregations.
 * @intervals_goal:	auto-tuning of the two intervals (off when its
 *			aggrs is 0).
 *
 * Linux DAMON defaults are 5 ms, 100 ms, 1 s, 10 and 1000; see
 * damon_attrs_default().  @split_mode defaults to %DAMON_SPLIT_AIMED,
 * which behaves as Linux when no operations set gives hints.
 */
struct damon_attrs {
	uint64_t sample_interval;
	uint64_t aggr_interval;
	uint64_t ops_update_interval;
	unsigned int min_nr_regions;
	unsigned int max_nr_regions;
	enum damon_split_mode split_mode;
	struct damon_intervals_goal intervals_goal;
};

/**
 * enum damon_stop_reason - Why a context stopped.
 * @DAMON_STOP_NONE:		it has not stopped.
 * @DAMON_STOP_REQUESTED:	damon_ctx_request_stop() or damon_ctx_end().
 * @DAMON_STOP_TARGETS_INVALID:	no target was valid any more.
 * @DAMON_STOP_CALLBACK:	a callback returned non-zero.
 * @DAMON_STOP_OPS_ERROR:	the ops' init failed.
 */
enum damon_stop_reason {
	DAMON_STOP_NONE,
	DAMON_STOP_REQUESTED,
	DAMON_STOP_TARGETS_INVALID,
	DAMON_STOP_CALLBACK,
	DAMON_STOP_OPS_ERROR,
};

/**
 * struct damon_clock - Time source of a context.
 * @now_us:	returns the current time, in microseconds.
 * @opaque:	passed to @now_us.
 *
 * The engine reads it only to measure how long DAMOS actions take, for
 * the quotas' time budget; drivers pass their own time to the step API.
 * NULL @now_us means CLOCK_MONOTONIC.  Tests and the virtual-clock
 * driver inject a clock that does not move during a step, so that runs
 * are deterministic.
 */
struct damon_clock {
	uint64_t (*now_us)(void *opaque);
	void *opaque;
};

/**
 * struct damon_call_control - A function to run on a context's driver.
 * @fn:			the function; it may read and change the context.
 * @data:		passed to @fn.
 * @read_only:		@fn only reads the context, so it may also run in the
 *			middle of a step, where the operations set calls
 *			damon_call_serve_read_only() (between the pieces of
 *			a long DAMOS action), instead of waiting for the
 *			step to end.
 * @return_code:	what @fn returned.
 * @canceled:		set when the context ended before @fn could run.
 *
 * Filled by the caller of damon_call(), which waits until @fn has run
 * or has been canceled; it may live on the caller's stack.
 */
struct damon_call_control {
	int (*fn)(struct damon_ctx *ctx, void *data);
	void *data;
	bool read_only;
	int return_code;
	bool canceled;
/* private: */
	bool done;
	struct damon_call_control *next;
};

/**
 * struct damon_ctx - A monitoring context: targets, schemes and its driver.
 * @attrs:		monitoring attributes; change with damon_set_attrs().
 * @ops:		the operations set.
 * @ops_priv:		the operations set's data for this context.
 * @callback:		user hooks.
 * @clock:		time source for DAMOS action costs.
 * @min_sz_region:	minimum region size and alignment, in bytes.
 * @targets_list:	head of the target list.
 * @schemes_list:	head of the scheme list.
 * @nr_targets:		number of targets.
 * @passed_sample_intervals: sample intervals done since begin.
 * @nr_aggregations:	aggregations done since begin.
 * @last_aggregation_us: step time of the last aggregation.
 * @stop_reason:	why the context stopped.
 * @intervals_status:	what the intervals tuner did last.
 *
 * Locking: the thread that calls damon_ctx_begin() becomes the context's
 * driver and owns every field until damon_ctx_end(); before begin and
 * after end, whoever holds the context owns it.  Other threads reach a
 * driven context only through damon_call().  @call_lock guards the call
 * queue and the driver's identity, nothing else.
 */
struct damon_ctx {
	struct damon_attrs attrs;
	struct damon_operations ops;
	void *ops_priv;
	struct damon_callback callback;
	struct damon_clock clock;
	uint64_t min_sz_region;
	struct damon_list targets_list;
	struct damon_list schemes_list;
	unsigned int nr_targets;
	uint64_t passed_sample_intervals;
	uint64_t nr_aggregations;
	uint64_t last_aggregation_us;
	enum damon_stop_reason stop_reason;
	struct damon_intervals_status intervals_status;
/* private: */
	/* intervals tuner: aggregations and access events of its round */
	unsigned int intervals_aggrs;
	uint64_t intervals_events;
	uint64_t intervals_max_events;
	/* step-machine state, owned by the driver */
	uint64_t now_us;
	uint64_t next_deadline_us;
	uint64_t next_aggregation_sis;
	uint64_t next_ops_update_sis;
	uint64_t sz_limit;
	unsigned int last_nr_regions;
	unsigned int max_nr_accesses;
	unsigned int split_cursor;
	bool begun;
	bool sampling_armed;
	bool finished;
	bool self_stop;
	uint64_t rnd_state;
	uint64_t score_histogram[DAMOS_MAX_SCORE + 1];
	/* guards driver, has_driver and calls; call_cond signals "done" */
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	pthread_t driver;
	bool has_driver;
	struct damon_call_control *calls;
};

/* Iteration helpers, kernel style. */
#define damon_region_of(node) \
	damon_list_entry(node, struct damon_region, list)
#define damon_target_of(node) \
	damon_list_entry(node, struct damon_target, list)
#define damos_of(node) damon_list_entry(node, struct damos, list)
#define damos_filter_of(node) \
	damon_list_entry(node, struct damos_filter, list)
#define damos_goal_of(node) \
	damon_list_entry(node, struct damos_quota_goal, list)

#define damos_for_each_filter(f, s) \
	for (f = damos_filter_of((s)->filters_list.next); \
	     &f->list != &(s)->filters_list; \
	     f = damos_filter_of(f->list.next))

#define damos_for_each_quota_goal(g, q) \
	for (g = damos_goal_of((q)->goals_list.next); \
	     &g->list != &(q)->goals_list; \
	     g = damos_goal_of(g->list.next))

#define damon_first_region(t) damon_region_of((t)->regions_list.next)
#define damon_last_region(t) damon_region_of((t)->regions_list.prev)
#define damon_next_region(r) damon_region_of((r)->list.next)
#define damon_prev_region(r) damon_region_of((r)->list.prev)

#define damon_for_each_region(r, t) \
	for (r = damon_first_region(t); &r->list != &(t)->regions_list; \
	     r = damon_next_region(r))

#define damon_for_each_region_safe(r, nxt, t) \
	for (r = damon_first_region(t), nxt = damon_next_region(r); \
	     &r->list != &(t)->regions_list; \
	     r = nxt, nxt = damon_next_region(r))

#define damon_for_each_target(t, ctx) \
	for (t = damon_target_of((ctx)->targets_list.next); \
	     &t->list != &(ctx)->targets_list; \
	     t = damon_target_of(t->list.next))

#define damon_for_each_target_safe(t, nxt, ctx) \
	for (t = damon_target_of((ctx)->targets_list.next), \
	     nxt = damon_target_of(t->list.next); \
	     &t->list != &(ctx)->targets_list; \
	     t = nxt, nxt = damon_target_of(t->list.next))

#define damon_for_each_scheme(s, ctx) \
	for (s = damos_of((ctx)->schemes_list.next); \
	     &s->list != &(ctx)->schemes_list; \
	     s = damos_of(s->list.next))

#define damon_for_each_scheme_safe(s, nxt, ctx) \
	for (s = damos_of((ctx)->schemes_list.next), \
	     nxt = damos_of(s->list.next); \
	     &s->list != &(ctx)->schemes_list; \
	     s = nxt, nxt = damos_of(s->list.next))

static inline uint64_t damon_sz_region(const struct damon_region *r)
{
	return r->ar.end - r->ar.start;
}

/* ---- regions and targets (src/core/region.c) ---- */

struct damon_region *damon_new_region(uint64_t start, uint64_t end);
void damon_add_region(struct damon_region *r, struct damon_target *t);
void damon_insert_region(struct damon_region *r, struct damon_region *prev,
		struct damon_region *next, struct damon_target *t);
void damon_destroy_region(struct damon_region *r, struct damon_target *t);
int damon_set_regions(struct damon_target *t,
		const struct damon_addr_range *ranges, unsigned int nr_ranges,
		uint64_t min_sz_region, char *err, size_t errlen);
int damon_evenly_split_region(struct damon_target *t, struct damon_region *r,
		unsigned int nr_pieces, uint64_t min_sz_region);
int damon_split_to_min_nr_regions(struct damon_ctx *ctx);
void damon_region_hint(struct damon_region *r, uint64_t start, uint64_t end);

struct damon_target *damon_new_target(void *priv);
void damon_add_target(struct damon_ctx *ctx, struct damon_target *t);
void damon_destroy_target(struct damon_target *t, struct damon_ctx *ctx);
unsigned int damon_nr_regions_total(const struct damon_ctx *ctx);
uint64_t damon_sz_total(const struct damon_ctx *ctx);

/* ---- contexts and attributes (src/core/ctx.c) ---- */

struct damon_ctx *damon_new_ctx(void);
void damon_destroy_ctx(struct damon_ctx *ctx);
void damon_attrs_default(struct damon_attrs *attrs);
int damon_validate_attrs(const struct damon_attrs *attrs, char *err,
		size_t errlen);
int damon_set_attrs(struct damon_ctx *ctx, const struct damon_attrs *attrs,
		char *err, size_t errlen);
void damon_set_seed(struct damon_ctx *ctx, uint64_t seed);
uint64_t damon_rand(struct damon_ctx *ctx, uint64_t l, uint64_t r);
uint64_t damon_ctx_now_us(const struct damon_ctx *ctx);
unsigned int damon_max_nr_accesses(const struct damon_attrs *attrs);
void damon_update_region_access_rate(struct damon_region *r, bool accessed,
		const struct damon_attrs *attrs);
void damon_update_region_writes(struct damon_region *r, bool written);

/* ---- intervals auto-tuning (src/core/intervals.c) ---- */

int damon_validate_intervals_goal(const struct damon_intervals_goal *goal,
		char *err, size_t errlen);
void damon_report_sample_cost(struct damon_ctx *ctx, uint64_t cost_ns);
const char *damon_intervals_limit_name(enum damon_intervals_limit limit);

/* ---- schemes (src/core/damos.c) ---- */

struct damos *damon_new_scheme(const struct damos_access_pattern *pattern,
		enum damos_action action, uint64_t apply_interval_us,
		const struct damos_quota *quota,
		const struct damos_watermarks *wmarks);
void damon_add_scheme(struct damon_ctx *ctx, struct damos *s);
void damon_destroy_scheme(struct damos *s);
int damon_validate_scheme(const struct damon_ctx *ctx, const struct damos *s,
		char *err, size_t errlen);
struct damos_filter *damos_new_filter(enum damos_filter_type type,
		bool matching, bool allow);
void damos_add_filter(struct damos *s, struct damos_filter *f);
struct damos_quota_goal *damos_new_quota_goal(
		enum damos_quota_goal_metric metric, uint64_t target_value);
void damos_add_quota_goal(struct damos_quota *q, struct damos_quota_goal *g);
const struct damos_tried_region *damos_tried_regions(const struct damos *s,
		size_t *nr);
const char *damos_action_name(enum damos_action action);
void damos_commit(struct damos *dst, struct damos *src);
bool damos_filter_is_ops(enum damos_filter_type type);
bool damos_ops_filter_out(const struct damos *s,
		bool (*meets)(const struct damos_filter *f, void *arg),
		void *arg);

/* ---- running: the step API (src/core/kdamond.c) ---- */

int damon_ctx_begin(struct damon_ctx *ctx, uint64_t now_us);
int damon_ctx_step(struct damon_ctx *ctx, uint64_t now_us);
uint64_t damon_ctx_next_deadline_us(const struct damon_ctx *ctx);
void damon_ctx_request_stop(struct damon_ctx *ctx);
void damon_ctx_end(struct damon_ctx *ctx);
int damon_call(struct damon_ctx *ctx, struct damon_call_control *control);
void damon_call_serve_read_only(struct damon_ctx *ctx);

#endif /* DAMON_DAMON_H */
