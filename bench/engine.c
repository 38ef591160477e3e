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
 * Usage: engine [--seed N] [--quick]
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

struct bench_opts {
	uint64_t seed;
	bool quick;
};

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

/*
 * Begin monitoring @sim with default attributes except the region
 * bounds.  @cb, if not NULL, is the after_aggregation callback and @priv
 * its data.
 */
static void bench_begin(struct bench_run *b, struct damon_sim *sim,
		unsigned int min_nr, unsigned int max_nr, uint64_t seed,
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

#define NR_COST_CFGS	5

/* Print the cost table and RESULT lines; @ratio is 1 TiB vs 1 GiB. */
static void print_cost(struct cost_cfg *cfgs, const double *med,
		double ratio_1tib, unsigned int reps, uint64_t block)
{
	unsigned int i;

	printf("== Cost: CPU time per sample interval (engine + sim ops) ==\n");
	printf("   uniform pattern (p = 0.5 everywhere), min = max = N "
	       "regions; median of %u\n   interleaved blocks of %" PRIu64
	       " samples, thread CPU time\n", reps, block);
	printf("   %-6s %10s %8s %14s\n", "config", "space", "regions",
	       "ns/sample");
	for (i = 0; i < NR_COST_CFGS; i++)
		printf("   %-6s %6" PRIu64 " GiB %8u %14.0f\n", cfgs[i].key,
		       (uint64_t)(cfgs[i].space / GiB),
		       damon_nr_regions_total(cfgs[i].run.ctx), med[i]);
	printf("   1 TiB vs 1 GiB at 1000 regions (median of paired "
	       "blocks): x%.3f\n\n", ratio_1tib);
	for (i = 0; i < 3; i++)
		printf("RESULT cost_ns_per_sample_%s=%.0f\n", cfgs[i].key,
		       med[i]);
	printf("RESULT cost_ns_per_sample_1gib=%.0f\n", med[3]);
	printf("RESULT cost_ns_per_sample_1tib=%.0f\n", med[4]);
	printf("RESULT cost_ratio_1tib_vs_1gib=%.3f\n", ratio_1tib);
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
			o->seed, NULL, NULL);
	/* warm up: caches, and the first updates and aggregations */
	bench_run_samples(&cfg->run, 400);
}

/*
 * Engine cost per sample interval.  Every configuration monitors a
 * uniform pattern with min_nr_regions = max_nr_regions = N, so the region
 * count stays N.  Repetitions are interleaved across configurations so
 * that drifts of the machine hit all alike; the medians are reported,
 * and the 1 TiB / 1 GiB ratio is the median of the ratios of adjacent
 * blocks.
 */
static void bench_cost(const struct bench_opts *o)
{
	struct cost_cfg cfgs[NR_COST_CFGS] = {
		{ .key = "10", .space = GiB, .nr_regions = 10 },
		{ .key = "100", .space = GiB, .nr_regions = 100 },
		{ .key = "1000", .space = GiB, .nr_regions = 1000 },
		{ .key = "1gib", .space = GiB, .nr_regions = 1000 },
		{ .key = "1tib", .space = TiB, .nr_regions = 1000 },
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
	bench_begin(&b, sim, 10, 1000, o->seed, acc_after_aggr, st);
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
	       "regions), %" PRIu64 " aggregations ==\n", nr_aggrs);
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

/* One trial of the small-hot case; returns the aggregations it took to
 * find the range, or 0 when it was not found within st->max_aggrs. */
static uint64_t small_hot_trial(uint64_t seed, struct small_state *st)
{
	const struct damon_addr_range space = { 0, 160 * GiB };
	struct damon_sim_range hot = { st->hot_start, st->hot_end, 0.95 };
	struct damon_sim *sim = damon_sim_new(&space, 1, seed ^ 0x5eed);
	struct bench_run b;

	st->found_at = 0;
	st->best_recall = 0;
	if (!sim || damon_sim_add_phase(sim, 0, &hot, 1, 0.0))
		die("creating the small-hot sim", -ENOMEM);
	bench_begin(&b, sim, 10, 1000, seed, small_after_aggr, st);
	while (bench_run_samples(&b, 1000))
		;
	if (st->found_at)
		printf("   seed %-6" PRIu64 " found after %" PRIu64
		       " aggregations\n", seed, st->found_at);
	else
		printf("   seed %-6" PRIu64 " not found in %" PRIu64
		       " aggregations (best recall %.3f, %u regions)\n",
		       seed, st->max_aggrs, st->best_recall,
		       damon_nr_regions_total(b.ctx));
	bench_end(&b);
	return st->found_at;
}

/*
 * A 200 MiB range accessed with probability 0.95 per sample, in a
 * 160 GiB space that is otherwise idle, at default attributes.  How long
 * finding it takes depends much on luck (the random splits must cut a
 * region small enough around it), so several trials run, with seeds
 * seed, seed + 1, ..., and the median is the figure; a trial that never
 * finds it counts as infinitely long.
 */
static void bench_small_hot(const struct bench_opts *o)
{
	struct small_state st = {
		.hot_start = 100 * GiB + 37 * MiB,
		.hot_end = 100 * GiB + 237 * MiB,
		.max_aggrs = o->quick ? 1000 : 3000,
	};
	unsigned int trials = o->quick ? 3 : SMALL_HOT_TRIALS, i, never = 0;
	double found[SMALL_HOT_TRIALS];

	printf("== Small hot set: 200 MiB at p=0.95 in 160 GiB, defaults ==\n");
	printf("   found = >= %.0f%% of the range in regions with "
	       "nr_accesses >= %.0f%% of max\n", GOOD_SCORE * 100,
	       HOT_SHARE * 100);
	for (i = 0; i < trials; i++) {
		uint64_t at = small_hot_trial(o->seed + i, &st);

		found[i] = at ? (double)at : INFINITY;
		never += !at;
	}
	median(found, trials);
	printf("   median of %u trials: ", trials);
	if (isinf(found[trials / 2]))
		printf("never\n\nRESULT small_hot_found_aggrs=never\n");
	else
		printf("%.0f aggregations\n\nRESULT small_hot_found_aggrs="
		       "%.0f\n", found[trials / 2], found[trials / 2]);
	printf("RESULT small_hot_tried_aggrs=%" PRIu64 "\n", st.max_aggrs);
	printf("RESULT small_hot_trials=%u\n", trials);
	printf("RESULT small_hot_never=%u\n", never);
	if (isinf(found[trials - 1]))
		printf("RESULT small_hot_found_aggrs_max=never\n");
	else
		printf("RESULT small_hot_found_aggrs_max=%.0f\n",
		       found[trials - 1]);
}

static void parse_args(int argc, char **argv, struct bench_opts *o)
{
	int i;

	o->seed = 42;
	o->quick = false;
	for (i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--quick")) {
			o->quick = true;
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			errno = 0;
			o->seed = strtoull(argv[++i], &end, 0);
			if (errno || *end || end == argv[i]) {
				fprintf(stderr, "engine: bad --seed '%s'\n",
					argv[i]);
				exit(2);
			}
		} else {
			fprintf(stderr, "usage: engine [--seed N] [--quick]\n");
			exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	parse_args(argc, argv, &o);
	printf("qdamon engine benchmark: seed %" PRIu64 "%s\n\n", o.seed,
	       o.quick ? " (quick)" : "");
	bench_cost(&o);
	printf("\n");
	bench_accuracy(&o);
	printf("\n");
	bench_small_hot(&o);
	printf("RESULT seed=%" PRIu64 "\n", o.seed);
	return 0;
}
