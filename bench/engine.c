/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench/engine: cost and accuracy of the DAMON engine on the "sim"
 * operations set.
 *
 * Everything runs on the step API with simulated time, so nothing sleeps
 * and a run is reproducible for a seed (except the CPU times).  The
 * program prints human-readable tables, then one "RESULT key=value" line
 * per figure for scripts.
 *
 * Usage: engine [--seed N] [--quick] [--split aimed|random]
 *               [--only cost|accuracy|small-hot] [--trials N]
 *
 * --split picks the split mode of the cost and accuracy sections
 * (default aimed, with the sim reporting hints as a dirty ring would);
 * the small-hot section always runs both modes side by side.
 *
 * Copyright (c) 2026 The qdamon authors
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "damon/damon.h"
#include "sim/sim.h"

#define MiB	(1ULL << 20)
#define GiB	(1ULL << 30)
#define TiB	(1ULL << 40)

/* Memory is truly hot at this access probability per sample interval,
 * and a region is reported hot at this share of the largest nr_accesses. */
#define HOT_PROB	0.5
#define HOT_SHARE	0.5
/* Precision and recall that count as "converged". */
#define GOOD_SCORE	0.9
/* Pages the sim tries to report as hints per region per sample, in
 * aimed mode: a bounded number, as the QEMU sources report. */
#define HINTS_PER_CHECK	2

struct bench_opts {
	uint64_t seed;
	bool quick;
	enum damon_split_mode split;
	const char *only;	/* run this section only; NULL: all */
	unsigned int trials;	/* small-hot seeds; 0: the default */
};

static bool want(const struct bench_opts *o, const char *section)
{
	return !o->only || !strcmp(o->only, section);
}

static const char *split_name(enum damon_split_mode m)
{
	return m == DAMON_SPLIT_RANDOM ? "random" : "aimed";
}

/* One context monitoring one sim on simulated time. */
struct bench_run {
	struct damon_ctx *ctx;
	struct damon_sim *sim;
	uint64_t now_us;
};

static uint64_t bench_clock(void *opaque)
{
	return ((struct bench_run *)opaque)->now_us;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "engine: %s failed (%d)\n", what, rc);
	exit(1);
}

/* Hint pages the sim tries per region per sample for a split mode:
 * none in random mode, whose splits would not use them. */
static unsigned int hints_for(enum damon_split_mode split)
{
	return split == DAMON_SPLIT_AIMED ? HINTS_PER_CHECK : 0;
}

/*
 * Begin monitoring @sim with default attributes except the region
 * bounds and the split mode; the sim tries @hints hint pages per region
 * per sample.  @cb, if not NULL, is the after_aggregation callback and
 * @priv its data.
 */
static void bench_begin(struct bench_run *b, struct damon_sim *sim,
		unsigned int min_nr, unsigned int max_nr, uint64_t seed,
		enum damon_split_mode split, unsigned int hints,
		int (*cb)(struct damon_ctx *), void *priv)
{
	struct damon_attrs attrs;
	char err[DAMON_ERR_LEN];
	int rc;

	if (!sim)
		die("creating the sim", -ENOMEM);
	b->sim = sim;
	b->now_us = 0;
	b->ctx = damon_new_ctx();
	if (!b->ctx || !damon_sim_attach(b->ctx, sim))
		die("creating the context", -ENOMEM);
	damon_attrs_default(&attrs);
	attrs.min_nr_regions = min_nr;
	attrs.max_nr_regions = max_nr;
	attrs.split_mode = split;
	damon_sim_set_hints(sim, hints);
	rc = damon_set_attrs(b->ctx, &attrs, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "engine: %s\n", err);
		exit(1);
	}
	damon_set_seed(b->ctx, seed);
	b->ctx->clock.now_us = bench_clock;
	b->ctx->clock.opaque = b;
	b->ctx->callback.after_aggregation = cb;
	b->ctx->callback.private = priv;
	rc = damon_ctx_begin(b->ctx, 0);
	if (rc)
		die("damon_ctx_begin", rc);
}

static void bench_end(struct bench_run *b)
{
	damon_ctx_end(b->ctx);
	damon_destroy_ctx(b->ctx);
	damon_sim_destroy(b->sim);
}

/*
 * Step @b until @nr_samples more sample intervals passed or monitoring
 * ended (a callback asked to stop).  Time jumps to each deadline.
 *
 * Return: true while monitoring goes on.
 */
static bool bench_run_samples(struct bench_run *b, uint64_t nr_samples)
{
	uint64_t until = b->ctx->passed_sample_intervals + nr_samples;

	while (b->ctx->passed_sample_intervals < until) {
		uint64_t next = damon_ctx_next_deadline_us(b->ctx);

		if (next > b->now_us)
			b->now_us = next;
		if (damon_ctx_step(b->ctx, b->now_us))
			return false;
	}
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- cost ---- */

#define COST_MAX_REPS	15

struct cost_cfg {
	const char *key;
	uint64_t space;
	unsigned int nr_regions;
	unsigned int hints;
	struct bench_run run;
	double ns[COST_MAX_REPS];
};

/* CPU time of @nr_samples sample intervals, per interval, in ns. */
static double cost_block(struct bench_run *b, uint64_t nr_samples)
{
	uint64_t start_sis = b->ctx->passed_sample_intervals;
	uint64_t t0 = cpu_ns(), t1;

	bench_run_samples(b, nr_samples);
	t1 = cpu_ns();
	return (double)(t1 - t0) /
		(double)(b->ctx->passed_sample_intervals - start_sis);
}

#define NR_COST_CFGS	6

/* Print the cost table and RESULT lines; @ratio is 1 TiB vs 1 GiB. */
static void print_cost(struct cost_cfg *cfgs, const double *med,
		double ratio_1tib, unsigned int reps, uint64_t block)
{
	unsigned int i;

	printf("== Cost: CPU time per sample interval (engine + sim ops), "
	       "%s splits ==\n", split_name(cfgs[0].run.ctx->attrs.split_mode));
	printf("   uniform pattern (p = 0.5 everywhere), min = max = N "
	       "regions; median of %u\n   interleaved blocks of %" PRIu64
	       " samples, thread CPU time\n", reps, block);
	printf("   hints: pages the sim tries to report per region per "
	       "sample (its model of a\n   dirty ring, part of the ops' "
	       "cost, not the engine's)\n");
	printf("   %-12s %10s %8s %6s %14s\n", "config", "space", "regions",
	       "hints", "ns/sample");
	for (i = 0; i < NR_COST_CFGS; i++)
		printf("   %-12s %6" PRIu64 " GiB %8u %6u %14.0f\n",
		       cfgs[i].key, (uint64_t)(cfgs[i].space / GiB),
		       damon_nr_regions_total(cfgs[i].run.ctx), cfgs[i].hints,
		       med[i]);
	printf("   1 TiB vs 1 GiB at 1000 regions (median of paired "
	       "blocks): x%.3f\n\n", ratio_1tib);
	for (i = 0; i < 3; i++)
		printf("RESULT cost_ns_per_sample_%s=%.0f\n", cfgs[i].key,
		       med[i]);
	printf("RESULT cost_ns_per_sample_1gib=%.0f\n", med[3]);
	printf("RESULT cost_ns_per_sample_1tib=%.0f\n", med[4]);
	printf("RESULT cost_ratio_1tib_vs_1gib=%.3f\n", ratio_1tib);
	printf("RESULT cost_ns_per_sample_%s=%.0f\n", cfgs[5].key, med[5]);
}

/* Begin a context on a uniform sim for @cfg and warm it up. */
static void cost_begin(const struct bench_opts *o, struct cost_cfg *cfg,
		uint64_t sim_seed)
{
	const struct damon_addr_range space = { 0, cfg->space };
	struct damon_sim *sim = damon_sim_new(&space, 1, sim_seed);

	if (!sim || damon_sim_add_phase(sim, 0, NULL, 0, 0.5))
		die("creating the uniform sim", -ENOMEM);
	bench_begin(&cfg->run, sim, cfg->nr_regions, cfg->nr_regions,
			o->seed, o->split, cfg->hints, NULL, NULL);
	/* warm up: caches, and the first updates and aggregations */
	bench_run_samples(&cfg->run, 400);
}

/*
 * Engine cost per sample interval.  Every configuration monitors a
 * uniform pattern with min_nr_regions = max_nr_regions = N, so the region
 * count stays N.  Repetitions are interleaved across configurations so
 * that drifts of the machine hit all alike; the medians are reported,
 * and the 1 TiB / 1 GiB ratio is the median of the ratios of adjacent
 * blocks.  The sim reports no hints except in "1000_hints", which shows
 * what modelling a dirty ring adds (mostly the sim's own draws; on a
 * uniform pattern every box spans its region, so no aimed cut happens).
 */
static void bench_cost(const struct bench_opts *o)
{
	struct cost_cfg cfgs[NR_COST_CFGS] = {
		{ .key = "10", .space = GiB, .nr_regions = 10 },
		{ .key = "100", .space = GiB, .nr_regions = 100 },
		{ .key = "1000", .space = GiB, .nr_regions = 1000 },
		{ .key = "1gib", .space = GiB, .nr_regions = 1000 },
		{ .key = "1tib", .space = TiB, .nr_regions = 1000 },
		{ .key = "1000_hints", .space = GiB, .nr_regions = 1000,
		  .hints = HINTS_PER_CHECK },
	};
	unsigned int reps = o->quick ? 5 : COST_MAX_REPS, i, rep;
	uint64_t block = o->quick ? 400 : 2000;
	double med[NR_COST_CFGS], ratios[COST_MAX_REPS];

	for (i = 0; i < NR_COST_CFGS; i++)
		cost_begin(o, &cfgs[i], o->seed + i);
	for (rep = 0; rep < reps; rep++) {
		for (i = 0; i < NR_COST_CFGS; i++)
			cfgs[i].ns[rep] = cost_block(&cfgs[i].run, block);
		ratios[rep] = cfgs[4].ns[rep] / cfgs[3].ns[rep];
	}
	for (i = 0; i < NR_COST_CFGS; i++)
		med[i] = median(cfgs[i].ns, reps);
	print_cost(cfgs, med, median(ratios, reps), reps, block);
	for (i = 0; i < NR_COST_CFGS; i++)
		bench_end(&cfgs[i].run);
}

/* ---- accuracy ---- */

/* What one aggregation's regions say, against the truth. */
struct aggr_score {
	uint64_t wss_est;	/* bytes of regions with nr_accesses > 0 */
	uint64_t wss_true;	/* bytes with access probability > 0 */
	uint64_t hot_claimed;	/* bytes of regions reported hot */
	uint64_t hot_found;	/* truly hot bytes in those regions */
	uint64_t hot_true;	/* truly hot bytes */
};

static unsigned int hot_nr_accesses(const struct damon_ctx *ctx)
{
	unsigned int t = (unsigned int)ceil(HOT_SHARE *
			damon_max_nr_accesses(&ctx->attrs));

	return t ? t : 1;
}

static void score_aggr(struct damon_ctx *ctx, struct damon_sim *sim,
		unsigned int phase, struct aggr_score *s)
{
	unsigned int hot_nr = hot_nr_accesses(ctx);
	struct damon_target *t;
	struct damon_region *r;

	memset(s, 0, sizeof(*s));
	s->wss_true = damon_sim_wss_bytes(sim, phase);
	s->hot_true = damon_sim_hot_bytes(sim, phase, HOT_PROB);
	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			if (r->nr_accesses > 0)
				s->wss_est += damon_sz_region(r);
			if (r->nr_accesses < hot_nr)
				continue;
			s->hot_claimed += damon_sz_region(r);
			s->hot_found += damon_sim_hot_overlap(sim, phase,
					HOT_PROB, r->ar.start, r->ar.end);
		}
	}
}

static double ratio(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : 0.0;
}

#define MAX_FOLLOWS	256

/* Per-pattern accumulation, filled by the after_aggregation callback. */
struct acc_state {
	struct damon_sim *sim;
	uint64_t max_aggrs;
	uint64_t prev_aggr_us;		/* end of the previous aggregation */
	uint64_t converged_at;		/* first good aggregation; 0: none */
	unsigned int nr_scored;		/* scored after convergence */
	unsigned int nr_straddling;	/* skipped: spanned a phase change */
	double sum_wss_err, sum_prec, sum_rec;
	/* following a moving hot set */
	unsigned int cur_phase;
	uint64_t phase_changed_at;	/* aggregation the phase changed in */
	bool followed;
	unsigned int nr_follows, nr_unfollowed;
	double follows[MAX_FOLLOWS];
};

/* Note a new phase; count the previous one if it was never followed. */
static void acc_phase_change(struct acc_state *st, unsigned int phase,
		uint64_t aggr)
{
	if (phase == st->cur_phase)
		return;
	if (!st->followed && st->converged_at)
		st->nr_unfollowed++;
	st->cur_phase = phase;
	st->phase_changed_at = aggr;
	st->followed = false;
}

static void acc_record(struct acc_state *st, const struct aggr_score *s,
		uint64_t aggr)
{
	double prec = ratio(s->hot_found, s->hot_claimed);
	double rec = ratio(s->hot_found, s->hot_true);
	bool good = prec >= GOOD_SCORE && rec >= GOOD_SCORE;

	if (good && !st->converged_at)
		st->converged_at = aggr;
	if (good && !st->followed) {
		st->followed = true;
		if (st->phase_changed_at && st->nr_follows < MAX_FOLLOWS)
			st->follows[st->nr_follows++] =
				(double)(aggr - st->phase_changed_at);
	}
	if (!st->converged_at)
		return;
	st->nr_scored++;
	st->sum_wss_err += fabs((double)s->wss_est - (double)s->wss_true) /
		(double)s->wss_true;
	st->sum_prec += prec;
	st->sum_rec += rec;
}

static int acc_after_aggr(struct damon_ctx *ctx)
{
	struct acc_state *st = ctx->callback.private;
	uint64_t now = damon_ctx_now_us(ctx);
	uint64_t first_check = st->prev_aggr_us + ctx->attrs.sample_interval;
	unsigned int phase = damon_sim_phase_at(st->sim, now);
	struct aggr_score s;

	st->prev_aggr_us = now;
	acc_phase_change(st, phase, ctx->nr_aggregations);
	/* the truth is a mix of two phases: nothing to compare with */
	if (damon_sim_phase_at(st->sim, first_check) != phase) {
		st->nr_straddling++;
	} else {
		score_aggr(ctx, st->sim, phase, &s);
		acc_record(st, &s, ctx->nr_aggregations);
	}
	return ctx->nr_aggregations >= st->max_aggrs;
}

struct acc_result {
	const char *key;
	double wss_err_pct, prec, rec, follow_med;
	uint64_t converged_at;
	unsigned int nr_scored, nr_unfollowed, nr_follows;
};

static void bench_pattern(const struct bench_opts *o, const char *key,
		struct damon_sim *sim, uint64_t nr_aggrs, struct acc_result *res)
{
	struct acc_state *st = calloc(1, sizeof(*st));
	struct bench_run b;

	if (!st)
		die("allocating", -ENOMEM);
	st->sim = sim;
	st->max_aggrs = nr_aggrs;
	bench_begin(&b, sim, 10, 1000, o->seed, o->split,
			hints_for(o->split), acc_after_aggr, st);
	while (bench_run_samples(&b, 1000))
		;
	memset(res, 0, sizeof(*res));
	res->key = key;
	res->converged_at = st->converged_at;
	res->nr_scored = st->nr_scored;
	if (st->nr_scored) {
		res->wss_err_pct = 100.0 * st->sum_wss_err / st->nr_scored;
		res->prec = st->sum_prec / st->nr_scored;
		res->rec = st->sum_rec / st->nr_scored;
	}
	res->nr_follows = st->nr_follows;
	res->nr_unfollowed = st->nr_unfollowed;
	res->follow_med = st->nr_follows ?
		median(st->follows, st->nr_follows) : 0;
	bench_end(&b);
	free(st);
}

static void print_pattern_results(const struct acc_result *res,
		unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		printf("   %-7s %9.2f %9.3f %9.3f %10" PRIu64 " %7u",
		       res[i].key, res[i].wss_err_pct, res[i].prec,
		       res[i].rec, res[i].converged_at, res[i].nr_scored);
		if (res[i].nr_follows || res[i].nr_unfollowed)
			printf("   %5.1f (%u/%u)", res[i].follow_med,
			       res[i].nr_follows,
			       res[i].nr_follows + res[i].nr_unfollowed);
		printf("\n");
	}
	printf("\n");
	for (i = 0; i < nr; i++) {
		printf("RESULT wss_err_pct_%s=%.2f\n", res[i].key,
		       res[i].wss_err_pct);
		printf("RESULT hot_precision_%s=%.3f\n", res[i].key,
		       res[i].prec);
		printf("RESULT hot_recall_%s=%.3f\n", res[i].key, res[i].rec);
		if (res[i].converged_at)
			printf("RESULT converge_aggrs_%s=%" PRIu64 "\n",
			       res[i].key, res[i].converged_at);
		else
			printf("RESULT converge_aggrs_%s=never\n", res[i].key);
		if (res[i].nr_follows)
			printf("RESULT follow_aggrs_%s=%.1f\n", res[i].key,
			       res[i].follow_med);
	}
}

/*
 * Accuracy on three patterns over a 4 GiB space, default attributes:
 * static (the middle 10% hot), stairs (a 1/12 window stepping across the
 * space in 12 steps) and zigzag (the same window going forth and back),
 * each position held for 2 s (20 aggregations).  Twelve steps keep the
 * window edges off the initial ten-region split, which would otherwise
 * hand the engine the answer.  Hot memory is accessed with probability
 * 0.95 per sample, the rest never.
 */
static void bench_accuracy(const struct bench_opts *o)
{
	uint64_t nr_aggrs = o->quick ? 300 : 1200, step_us = 2000000;
	uint64_t sz = 4 * GiB, sim_seed = o->seed ^ 0x5eed;
	struct acc_result res[3];

	bench_pattern(o, "static", damon_sim_new_static(sz, 0.1, 0.95,
				sim_seed), nr_aggrs, &res[0]);
	bench_pattern(o, "stairs", damon_sim_new_stairs(sz, 12, step_us,
				0.95, sim_seed), nr_aggrs, &res[1]);
	bench_pattern(o, "zigzag", damon_sim_new_zigzag(sz, 12, step_us,
				0.95, sim_seed), nr_aggrs, &res[2]);

	printf("== Accuracy: 4 GiB, defaults (5 ms / 100 ms / 1 s, 10..1000 "
	       "regions), %s splits, %" PRIu64 " aggregations ==\n",
	       split_name(o->split), nr_aggrs);
	printf("   Scored at every aggregation from the first one where hot "
	       "precision and\n"
	       "   recall both reach %.2f (converge), skipping aggregations "
	       "that span a phase change.\n", GOOD_SCORE);
	printf("   wss:  estimate = bytes of regions with nr_accesses > 0 "
	       "(accessed at least once\n"
	       "         in the aggregation); truth = bytes with access "
	       "probability > 0; mean |error|.\n");
	printf("   hot:  reported = regions with nr_accesses >= %.0f%% of "
	       "aggr/sample; truth = bytes\n"
	       "         with probability >= %.2f; precision and recall by "
	       "bytes, averaged.\n", HOT_SHARE * 100, HOT_PROB);
	printf("   follow: median aggregations from a phase change to the "
	       "first good one (followed/changes).\n");
	printf("   %-7s %9s %9s %9s %10s %7s   %s\n", "pattern", "wss_err%",
	       "precision", "recall", "converge", "scored", "follow");
	print_pattern_results(res, 3);
}

/* ---- the hard case: a small hot range in a huge space ---- */

#define SMALL_HOT_TRIALS	11
#define SMALL_HOT_MAX_TRIALS	101

struct small_state {
	uint64_t hot_start, hot_end;
	uint64_t max_aggrs;
	uint64_t found_at;
	double best_recall;
};

static int small_after_aggr(struct damon_ctx *ctx)
{
	struct small_state *st = ctx->callback.private;
	unsigned int hot_nr = hot_nr_accesses(ctx);
	uint64_t covered = 0;
	struct damon_target *t;
	struct damon_region *r;
	double rec;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			uint64_t s = r->ar.start > st->hot_start ?
				r->ar.start : st->hot_start;
			uint64_t e = r->ar.end < st->hot_end ?
				r->ar.end : st->hot_end;

			if (r->nr_accesses >= hot_nr && s < e)
				covered += e - s;
		}
	}
	rec = ratio(covered, st->hot_end - st->hot_start);
	if (rec > st->best_recall)
		st->best_recall = rec;
	if (rec >= GOOD_SCORE) {
		st->found_at = ctx->nr_aggregations;
		return 1;
	}
	return ctx->nr_aggregations >= st->max_aggrs;
}

/* One trial of the small-hot case in @split mode; returns the
 * aggregations it took to find the range, or 0 when it was not found
 * within st->max_aggrs (then *@best_recall and *@nr_regions say how
 * close it came). */
static uint64_t small_hot_trial(uint64_t seed, enum damon_split_mode split,
		struct small_state *st, double *best_recall,
		unsigned int *nr_regions)
{
	const struct damon_addr_range space = { 0, 160 * GiB };
	struct damon_sim_range hot = { st->hot_start, st->hot_end, 0.95 };
	struct damon_sim *sim = damon_sim_new(&space, 1, seed ^ 0x5eed);
	struct bench_run b;

	st->found_at = 0;
	st->best_recall = 0;
	if (!sim || damon_sim_add_phase(sim, 0, &hot, 1, 0.0))
		die("creating the small-hot sim", -ENOMEM);
	bench_begin(&b, sim, 10, 1000, seed, split, hints_for(split),
			small_after_aggr, st);
	while (bench_run_samples(&b, 1000))
		;
	*best_recall = st->best_recall;
	*nr_regions = damon_nr_regions_total(b.ctx);
	bench_end(&b);
	return st->found_at;
}

/* Print @v, a count of aggregations, or "never". */
static void print_aggrs(double v)
{
	if (isinf(v))
		printf("never");
	else
		printf("%.0f", v);
}

/* Median and worst of the trials of one mode, sorting @found. */
static void small_hot_summary(const char *mode, double *found,
		unsigned int trials, unsigned int never)
{
	printf("   %-6s median ", mode);
	print_aggrs(median(found, trials));
	printf(", worst ");
	print_aggrs(found[trials - 1]);
	printf(" (not found in %u of %u)\n", never, trials);
}

/* RESULT lines of one mode; @found is sorted. */
static void small_hot_results(const char *mode, const double *found,
		unsigned int trials, unsigned int never)
{
	double med = trials % 2 ? found[trials / 2] :
		(found[trials / 2 - 1] + found[trials / 2]) / 2;

	if (isinf(med))
		printf("RESULT small_hot_found_aggrs_%s=never\n", mode);
	else
		printf("RESULT small_hot_found_aggrs_%s=%.0f\n", mode, med);
	if (isinf(found[trials - 1]))
		printf("RESULT small_hot_found_aggrs_max_%s=never\n", mode);
	else
		printf("RESULT small_hot_found_aggrs_max_%s=%.0f\n", mode,
		       found[trials - 1]);
	printf("RESULT small_hot_never_%s=%u\n", mode, never);
}

/*
 * A 200 MiB range accessed with probability 0.95 per sample, in a
 * 160 GiB space that is otherwise idle, at default attributes.  With
 * random splits, how long finding it takes depends much on luck (the
 * splits must cut a region small enough around it); aimed splits cut at
 * the pages the sim reports accessed.  Each seed of seed, seed + 1, ...
 * runs in both modes (same seeds, same access draws); the median and the
 * worst case of each mode are the figures, and a trial that never finds
 * the range counts as infinitely long.
 */
static void bench_small_hot(const struct bench_opts *o)
{
	struct small_state st = {
		.hot_start = 100 * GiB + 37 * MiB,
		.hot_end = 100 * GiB + 237 * MiB,
		.max_aggrs = o->quick ? 1000 : 3000,
	};
	unsigned int trials = o->trials ? o->trials :
		o->quick ? 3 : SMALL_HOT_TRIALS, i, m;
	unsigned int never[2] = { 0, 0 };
	static const enum damon_split_mode modes[2] = {
		DAMON_SPLIT_AIMED, DAMON_SPLIT_RANDOM };
	double found[2][SMALL_HOT_MAX_TRIALS];

	printf("== Small hot set: 200 MiB at p=0.95 in 160 GiB, defaults ==\n");
	printf("   found = >= %.0f%% of the range in regions with "
	       "nr_accesses >= %.0f%% of max;\n   aggregations to find it, "
	       "aimed splits (%u hint pages tried per region per\n   sample) "
	       "and random splits (Linux), same seeds\n",
	       GOOD_SCORE * 100, HOT_SHARE * 100, HINTS_PER_CHECK);
	printf("   %-8s %10s %10s\n", "seed", "aimed", "random");
	for (i = 0; i < trials; i++) {
		printf("   %-8" PRIu64, o->seed + i);
		for (m = 0; m < 2; m++) {
			double rec;
			unsigned int nr;
			uint64_t at = small_hot_trial(o->seed + i, modes[m],
					&st, &rec, &nr);

			found[m][i] = at ? (double)at : INFINITY;
			never[m] += !at;
			if (at)
				printf(" %10" PRIu64, at);
			else
				printf(" %10s", "never");
			if (!at)
				printf(" (best recall %.3f, %u regions)", rec,
				       nr);
		}
		printf("\n");
	}
	for (m = 0; m < 2; m++)
		small_hot_summary(split_name(modes[m]), found[m], trials,
				never[m]);
	printf("\n");
	for (m = 0; m < 2; m++)
		small_hot_results(split_name(modes[m]), found[m], trials,
				never[m]);
	printf("RESULT small_hot_tried_aggrs=%" PRIu64 "\n", st.max_aggrs);
	printf("RESULT small_hot_trials=%u\n", trials);
}

static void parse_args(int argc, char **argv, struct bench_opts *o)
{
	int i;

	o->seed = 42;
	o->quick = false;
	o->split = DAMON_SPLIT_AIMED;
	o->only = NULL;
	o->trials = 0;
	for (i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--quick")) {
			o->quick = true;
		} else if (!strcmp(argv[i], "--split") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "aimed")) {
				o->split = DAMON_SPLIT_AIMED;
			} else if (!strcmp(argv[i], "random")) {
				o->split = DAMON_SPLIT_RANDOM;
			} else {
				fprintf(stderr, "engine: --split must be aimed "
					"or random (got '%s')\n", argv[i]);
				exit(2);
			}
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			o->only = argv[++i];
			if (strcmp(o->only, "cost") &&
			    strcmp(o->only, "accuracy") &&
			    strcmp(o->only, "small-hot")) {
				fprintf(stderr, "engine: --only must be cost, "
					"accuracy or small-hot (got '%s')\n",
					o->only);
				exit(2);
			}
		} else if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
			unsigned long v;

			errno = 0;
			v = strtoul(argv[++i], &end, 0);
			if (errno || *end || end == argv[i] || v < 1 ||
			    v > SMALL_HOT_MAX_TRIALS) {
				fprintf(stderr, "engine: --trials must be 1 to "
					"%u (got '%s')\n",
					SMALL_HOT_MAX_TRIALS, argv[i]);
				exit(2);
			}
			o->trials = (unsigned int)v;
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			errno = 0;
			o->seed = strtoull(argv[++i], &end, 0);
			if (errno || *end || end == argv[i]) {
				fprintf(stderr, "engine: bad --seed '%s'\n",
					argv[i]);
				exit(2);
			}
		} else {
			fprintf(stderr, "usage: engine [--seed N] [--quick] "
				"[--split aimed|random] "
				"[--only cost|accuracy|small-hot] "
				"[--trials N]\n");
			exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	parse_args(argc, argv, &o);
	printf("qdamon engine benchmark: seed %" PRIu64 "%s, %s splits\n\n",
	       o.seed, o.quick ? " (quick)" : "", split_name(o.split));
	if (want(&o, "cost")) {
		bench_cost(&o);
		printf("\n");
	}
	if (want(&o, "accuracy")) {
		bench_accuracy(&o);
		printf("\n");
	}
	if (want(&o, "small-hot"))
		bench_small_hot(&o);
	printf("RESULT seed=%" PRIu64 "\n", o.seed);
	printf("RESULT split=%s\n", split_name(o.split));
	return 0;
}
