/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon "sim" operations set: a simulated address space whose access
 * pattern is data, with ground truth for tests and benchmarks.
 *
 * Every per-address question is a binary search over sorted ranges, so
 * the cost of a sample depends on the number of regions and ranges, never
 * on the size of the simulated memory.
 *
 * Copyright (c) 2026 The qdamon authors
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops-common.h"
#include "sim/sim.h"

/*
 * struct sim_phase - One phase of the access pattern.
 * @duration_us:	how long it lasts, in microseconds.
 * @background:		probability of layout memory outside @ranges.
 * @ranges:		hot ranges, sorted by address, non-overlapping.
 * @nr_ranges:		entries in @ranges.
 */
struct sim_phase {
	uint64_t duration_us;
	double background;
	struct damon_sim_range *ranges;
	unsigned int nr_ranges;
};

struct damon_sim {
	/* guards every field up to and including @started */
	pthread_mutex_t lock;
	struct damon_addr_range *layout;	/* sorted, non-overlapping */
	unsigned int nr_layout;
	bool invalid;
	uint64_t rng;				/* splitmix64 state */
	uint64_t hint_rng;			/* the hints' own PRNG */
	unsigned int hints_per_check;		/* 0: no hints */
	struct damon_sim_stats stats;
	uint64_t start_us;			/* clock time phases count from */
	bool started;
	/* set up before the context begins, read-only afterwards */
	struct sim_phase *phases;
	unsigned int nr_phases;
	uint64_t cycle_us;			/* sum of the phase durations */
	bool loop;
};

/* ---- PRNG ---- */

/* splitmix64: tiny, fast, statistically sound, and its state is a seed. */
static uint64_t sim_rand_u64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A uniform draw in [0, 1) with the 53 bits a double holds. */
static double sim_rand_unit(uint64_t *state)
{
	return (double)(sim_rand_u64(state) >> 11) * 0x1p-53;
}

/* ---- sorted range arrays ---- */

/*
 * Both range types, struct damon_addr_range and struct damon_sim_range,
 * begin with the uint64_t start and end fields, so one sort and one check
 * serve both.
 */
static_assert(offsetof(struct damon_sim_range, start) ==
	      offsetof(struct damon_addr_range, start) &&
	      offsetof(struct damon_sim_range, end) ==
	      offsetof(struct damon_addr_range, end),
	      "range types must share their leading start and end");

static struct damon_addr_range sim_range_bounds(const void *range)
{
	struct damon_addr_range b;

	memcpy(&b, range, sizeof(b));
	return b;
}

static int sim_cmp_start(const void *a, const void *b)
{
	uint64_t x = sim_range_bounds(a).start, y = sim_range_bounds(b).start;

	return (x > y) - (x < y);
}

static bool sim_prob_ok(double p)
{
	/* written so that NaN fails */
	return p >= 0.0 && p <= 1.0;
}

static bool sim_range_prob_ok(const void *range)
{
	return sim_prob_ok(((const struct damon_sim_range *)range)->prob);
}

/*
 * Copy @nr ranges of @size bytes each, sorted by address, into a new
 * array, or return NULL (with *@rc set) when one is empty, fails @valid
 * (if given), or overlaps the one before it.
 */
static void *sim_sorted_copy(const void *in, unsigned int nr, size_t size,
		bool (*valid)(const void *range), int *rc)
{
	char *out;
	unsigned int i;

	*rc = -EINVAL;
	if (!in || nr == 0)
		return NULL;
	out = malloc(size * nr);
	if (!out) {
		*rc = -ENOMEM;
		return NULL;
	}
	memcpy(out, in, size * nr);
	qsort(out, nr, size, sim_cmp_start);
	for (i = 0; i < nr; i++) {
		struct damon_addr_range r = sim_range_bounds(out + i * size);

		if (r.start >= r.end || (valid && !valid(out + i * size)) ||
		    (i > 0 && sim_range_bounds(out + (i - 1) * size).end >
		     r.start)) {
			free(out);
			return NULL;
		}
	}
	*rc = 0;
	return out;
}

/* A phase's hot ranges, sorted; none at all is a valid (idle) phase. */
static struct damon_sim_range *sim_sorted_ranges(
		const struct damon_sim_range *in, unsigned int nr, int *rc)
{
	if (nr == 0) {
		*rc = 0;
		return NULL;
	}
	return sim_sorted_copy(in, nr, sizeof(*in), sim_range_prob_ok, rc);
}

/* The layout's ranges, sorted; it must have at least one. */
static struct damon_addr_range *sim_sorted_layout(
		const struct damon_addr_range *in, unsigned int nr, int *rc)
{
	return sim_sorted_copy(in, nr, sizeof(*in), NULL, rc);
}

/*
 * Index of the first range whose end is above @addr, in a sorted,
 * non-overlapping array (whose ends are therefore sorted too); @nr when
 * there is none.  The stride and the offset of the end field let one
 * binary search serve both range types.
 */
static unsigned int sim_first_end_above(const void *base, unsigned int nr,
		size_t stride, size_t end_off, uint64_t addr)
{
	unsigned int lo = 0, hi = nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		uint64_t end;

		memcpy(&end, (const char *)base + mid * stride + end_off,
				sizeof(end));
		if (end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static unsigned int sim_layout_first(const struct damon_sim *sim,
		uint64_t addr)
{
	return sim_first_end_above(sim->layout, sim->nr_layout,
			sizeof(*sim->layout),
			offsetof(struct damon_addr_range, end), addr);
}

static unsigned int sim_phase_first(const struct sim_phase *ph, uint64_t addr)
{
	return sim_first_end_above(ph->ranges, ph->nr_ranges,
			sizeof(*ph->ranges),
			offsetof(struct damon_sim_range, end), addr);
}

/* ---- probabilities and ground truth, all with the lock held ---- */

static bool sim_in_layout_locked(const struct damon_sim *sim, uint64_t addr)
{
	unsigned int i = sim_layout_first(sim, addr);

	return i < sim->nr_layout && sim->layout[i].start <= addr;
}

/* Probability at @addr in @ph, not looking at the layout. */
static double sim_phase_prob(const struct sim_phase *ph, uint64_t addr)
{
	unsigned int i = sim_phase_first(ph, addr);

	if (i < ph->nr_ranges && ph->ranges[i].start <= addr)
		return ph->ranges[i].prob;
	return ph->background;
}

static double sim_prob_locked(const struct damon_sim *sim,
		const struct sim_phase *ph, uint64_t addr)
{
	if (!ph || !sim_in_layout_locked(sim, addr))
		return 0.0;
	return sim_phase_prob(ph, addr);
}

/* The hotness predicate of the ground-truth functions. */
static bool sim_is_hot(double p, double min_prob)
{
	return p > 0.0 && p >= min_prob;
}

/* Hot bytes of @ph in [@a, @b), not looking at the layout. */
static uint64_t sim_phase_hot_bytes(const struct sim_phase *ph,
		double min_prob, uint64_t a, uint64_t b)
{
	bool bg_hot = sim_is_hot(ph->background, min_prob);
	uint64_t sum = 0, pos = a;
	unsigned int i;

	for (i = sim_phase_first(ph, a);
	     i < ph->nr_ranges && ph->ranges[i].start < b; i++) {
		const struct damon_sim_range *hr = &ph->ranges[i];
		uint64_t s = hr->start > a ? hr->start : a;
		uint64_t e = hr->end < b ? hr->end : b;

		if (bg_hot && s > pos)
			sum += s - pos;
		if (sim_is_hot(hr->prob, min_prob))
			sum += e - s;
		pos = e;
	}
	if (bg_hot && b > pos)
		sum += b - pos;
	return sum;
}

/* Hot bytes of @ph in the part of [@start, @end) that is in the layout. */
static uint64_t sim_hot_bytes_locked(const struct damon_sim *sim,
		const struct sim_phase *ph, double min_prob,
		uint64_t start, uint64_t end)
{
	uint64_t sum = 0;
	unsigned int i;

	if (!ph)
		return 0;
	for (i = sim_layout_first(sim, start);
	     i < sim->nr_layout && sim->layout[i].start < end; i++) {
		uint64_t a = sim->layout[i].start > start ?
			sim->layout[i].start : start;
		uint64_t b = sim->layout[i].end < end ?
			sim->layout[i].end : end;

		sum += sim_phase_hot_bytes(ph, min_prob, a, b);
	}
	return sum;
}

/* Phase in force @now_us; NULL when the sim has no phase. */
static const struct sim_phase *sim_phase_locked(const struct damon_sim *sim,
		uint64_t now_us, unsigned int *idx)
{
	uint64_t elapsed = 0;
	unsigned int i;

	*idx = 0;
	if (sim->nr_phases == 0)
		return NULL;
	if (sim->started && now_us > sim->start_us)
		elapsed = now_us - sim->start_us;
	if (sim->loop && sim->cycle_us > 0)
		elapsed %= sim->cycle_us;
	for (i = 0; i < sim->nr_phases - 1; i++) {
		if (elapsed < sim->phases[i].duration_us)
			break;
		elapsed -= sim->phases[i].duration_us;
	}
	*idx = i;
	return &sim->phases[i];
}

static const struct sim_phase *sim_phase_by_idx(const struct damon_sim *sim,
		unsigned int phase)
{
	return phase < sim->nr_phases ? &sim->phases[phase] : NULL;
}

/* ---- life cycle and set-up ---- */

struct damon_sim *damon_sim_new(const struct damon_addr_range *layout,
		unsigned int nr, uint64_t seed)
{
	struct damon_sim *sim;
	int rc;

	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return NULL;
	sim->layout = sim_sorted_layout(layout, nr, &rc);
	if (!sim->layout || pthread_mutex_init(&sim->lock, NULL)) {
		free(sim->layout);
		free(sim);
		return NULL;
	}
	sim->nr_layout = nr;
	sim->rng = seed;
	sim->hint_rng = seed ^ 0x6a09e667f3bcc909ULL;
	return sim;
}

void damon_sim_destroy(struct damon_sim *sim)
{
	unsigned int i;

	if (!sim)
		return;
	for (i = 0; i < sim->nr_phases; i++)
		free(sim->phases[i].ranges);
	free(sim->phases);
	free(sim->layout);
	pthread_mutex_destroy(&sim->lock);
	free(sim);
}

int damon_sim_add_phase(struct damon_sim *sim, uint64_t duration_us,
		const struct damon_sim_range *ranges, unsigned int nr,
		double background)
{
	struct sim_phase *phases, *ph;
	struct damon_sim_range *sorted;
	int rc;

	if (!sim_prob_ok(background) ||
	    duration_us > UINT64_MAX - sim->cycle_us)
		return -EINVAL;
	sorted = sim_sorted_ranges(ranges, nr, &rc);
	if (rc)
		return rc;
	phases = realloc(sim->phases, sizeof(*phases) * (sim->nr_phases + 1));
	if (!phases) {
		free(sorted);
		return -ENOMEM;
	}
	sim->phases = phases;
	ph = &phases[sim->nr_phases++];
	ph->duration_us = duration_us;
	ph->background = background;
	ph->ranges = sorted;
	ph->nr_ranges = nr;
	sim->cycle_us += duration_us;
	return 0;
}

void damon_sim_set_loop(struct damon_sim *sim, bool loop)
{
	sim->loop = loop;
}

void damon_sim_set_hints(struct damon_sim *sim, unsigned int nr_per_check)
{
	sim->hints_per_check = nr_per_check;
}

int damon_sim_set_layout(struct damon_sim *sim,
		const struct damon_addr_range *layout, unsigned int nr)
{
	struct damon_addr_range *sorted, *old;
	int rc;

	sorted = sim_sorted_layout(layout, nr, &rc);
	if (!sorted)
		return rc;
	pthread_mutex_lock(&sim->lock);
	old = sim->layout;
	sim->layout = sorted;
	sim->nr_layout = nr;
	pthread_mutex_unlock(&sim->lock);
	free(old);
	return 0;
}

void damon_sim_invalidate(struct damon_sim *sim)
{
	pthread_mutex_lock(&sim->lock);
	sim->invalid = true;
	pthread_mutex_unlock(&sim->lock);
}

struct damon_target *damon_sim_attach(struct damon_ctx *ctx,
		struct damon_sim *sim)
{
	struct damon_target *t = damon_new_target(sim);

	if (!t)
		return NULL;
	ctx->ops = damon_sim_ops;
	ctx->ops_priv = sim;
	damon_add_target(ctx, t);
	return t;
}

void damon_sim_get_stats(struct damon_sim *sim, struct damon_sim_stats *stats)
{
	pthread_mutex_lock(&sim->lock);
	*stats = sim->stats;
	pthread_mutex_unlock(&sim->lock);
}

/* ---- ground-truth queries ---- */

unsigned int damon_sim_nr_phases(const struct damon_sim *sim)
{
	return sim->nr_phases;
}

unsigned int damon_sim_phase_at(struct damon_sim *sim, uint64_t now_us)
{
	unsigned int idx;

	pthread_mutex_lock(&sim->lock);
	sim_phase_locked(sim, now_us, &idx);
	pthread_mutex_unlock(&sim->lock);
	return idx;
}

double damon_sim_prob_at(struct damon_sim *sim, unsigned int phase,
		uint64_t addr)
{
	double p;

	pthread_mutex_lock(&sim->lock);
	p = sim_prob_locked(sim, sim_phase_by_idx(sim, phase), addr);
	pthread_mutex_unlock(&sim->lock);
	return p;
}

uint64_t damon_sim_hot_overlap(struct damon_sim *sim, unsigned int phase,
		double min_prob, uint64_t start, uint64_t end)
{
	uint64_t sum;

	pthread_mutex_lock(&sim->lock);
	sum = sim_hot_bytes_locked(sim, sim_phase_by_idx(sim, phase),
			min_prob, start, end);
	pthread_mutex_unlock(&sim->lock);
	return sum;
}

uint64_t damon_sim_hot_bytes(struct damon_sim *sim, unsigned int phase,
		double min_prob)
{
	return damon_sim_hot_overlap(sim, phase, min_prob, 0, UINT64_MAX);
}

uint64_t damon_sim_wss_bytes(struct damon_sim *sim, unsigned int phase)
{
	return damon_sim_hot_bytes(sim, phase, 0.0);
}

uint64_t damon_sim_layout_bytes(struct damon_sim *sim)
{
	uint64_t sum = 0;
	unsigned int i;

	pthread_mutex_lock(&sim->lock);
	for (i = 0; i < sim->nr_layout; i++)
		sum += sim->layout[i].end - sim->layout[i].start;
	pthread_mutex_unlock(&sim->lock);
	return sum;
}

/* ---- the operations ---- */

static int damon_sim_init(struct damon_ctx *ctx)
{
	struct damon_target *t;
	bool set_any = false;
	int rc = 0;

	damon_for_each_target(t, ctx) {
		struct damon_sim *sim = t->priv;

		pthread_mutex_lock(&sim->lock);
		sim->start_us = damon_ctx_now_us(ctx);
		sim->started = true;
		/* as in Linux, regions the user set up are kept */
		if (t->nr_regions == 0) {
			rc = damon_set_regions(t, sim->layout, sim->nr_layout,
					ctx->min_sz_region, NULL, 0);
			set_any = true;
		}
		pthread_mutex_unlock(&sim->lock);
		if (rc)
			return rc;
	}
	return set_any ? damon_split_to_min_nr_regions(ctx) : 0;
}

static void damon_sim_update(struct damon_ctx *ctx)
{
	struct damon_target *t;

	damon_for_each_target(t, ctx) {
		struct damon_sim *sim = t->priv;

		/* on failure the old regions stay; the next update retries */
		pthread_mutex_lock(&sim->lock);
		damon_set_regions(t, sim->layout, sim->nr_layout,
				ctx->min_sz_region, NULL, 0);
		pthread_mutex_unlock(&sim->lock);
	}
}

static void damon_sim_prepare_access_checks(struct damon_ctx *ctx)
{
	struct damon_target *t;
	struct damon_region *r;

	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			uint64_t a = damon_rand(ctx, r->ar.start, r->ar.end);

			/* the access bit is per page: sample page starts */
			a &= ~(DAMON_SIM_PAGE_SIZE - 1);
			r->sampling_addr = a < r->ar.start ? r->ar.start : a;
		}
	}
}

/*
 * The address @off bytes into the memory of [@a, @b) that @ph's hot
 * ranges with a probability above 0 cover; @off is below their total.
 */
static uint64_t sim_hot_addr_at(const struct sim_phase *ph, uint64_t a,
		uint64_t b, uint64_t off)
{
	unsigned int i;

	for (i = sim_phase_first(ph, a);
	     i < ph->nr_ranges && ph->ranges[i].start < b; i++) {
		const struct damon_sim_range *hr = &ph->ranges[i];
		uint64_t s = hr->start > a ? hr->start : a;
		uint64_t e = hr->end < b ? hr->end : b;

		if (hr->prob <= 0.0)
			continue;
		if (off < e - s)
			return s + off;
		off -= e - s;
	}
	return a;
}

/*
 * Report some accessed pages of @r, as a source that sees every accessed
 * address would: candidates are drawn from the memory that can be
 * accessed at all, and each is kept with its access probability.
 * Returns the pages reported.
 */
static unsigned int sim_hint_region(struct damon_sim *sim,
		const struct sim_phase *ph, struct damon_region *r)
{
	uint64_t a = r->ar.start, b = r->ar.end, total = 0;
	unsigned int i, nr = 0;

	if (!ph)
		return 0;
	if (ph->background <= 0.0) {
		for (i = sim_phase_first(ph, a);
		     i < ph->nr_ranges && ph->ranges[i].start < b; i++) {
			const struct damon_sim_range *hr = &ph->ranges[i];

			if (hr->prob > 0.0)
				total += (hr->end < b ? hr->end : b) -
					(hr->start > a ? hr->start : a);
		}
		if (!total)
			return 0;
	}
	for (i = 0; i < sim->hints_per_check; i++) {
		uint64_t addr;
		double p;

		if (ph->background > 0.0)
			addr = a + sim_rand_u64(&sim->hint_rng) % (b - a);
		else
			addr = sim_hot_addr_at(ph, a, b,
					sim_rand_u64(&sim->hint_rng) % total);
		addr &= ~(DAMON_SIM_PAGE_SIZE - 1);
		p = sim_prob_locked(sim, ph, addr);
		if (p <= 0.0 || (p < 1.0 && sim_rand_unit(&sim->hint_rng) >= p))
			continue;
		damon_region_hint(r, addr, addr + DAMON_SIM_PAGE_SIZE);
		nr++;
	}
	return nr;
}

/* Check every region of @t; returns the largest nr_accesses. */
static unsigned int sim_check_target(struct damon_ctx *ctx,
		struct damon_target *t)
{
	struct damon_sim *sim = t->priv;
	const struct sim_phase *ph;
	struct damon_region *r;
	unsigned int max = 0, idx;
	uint64_t nr_accessed = 0;

	pthread_mutex_lock(&sim->lock);
	ph = sim_phase_locked(sim, damon_ctx_now_us(ctx), &idx);
	damon_for_each_region(r, t) {
		double p = sim_prob_locked(sim, ph, r->sampling_addr);
		/* draw only when the outcome is in doubt, to save time */
		bool accessed = p >= 1.0 ||
			(p > 0.0 && sim_rand_unit(&sim->rng) < p);

		damon_update_region_access_rate(r, accessed, &ctx->attrs);
		nr_accessed += accessed;
		if (sim->hints_per_check)
			sim->stats.nr_hints += sim_hint_region(sim, ph, r);
		if (r->nr_accesses > max)
			max = r->nr_accesses;
	}
	sim->stats.nr_checks += t->nr_regions;
	sim->stats.nr_accessed += nr_accessed;
	pthread_mutex_unlock(&sim->lock);
	return max;
}

static unsigned int damon_sim_check_accesses(struct damon_ctx *ctx)
{
	struct damon_target *t;
	unsigned int max = 0;

	damon_for_each_target(t, ctx) {
		unsigned int m = sim_check_target(ctx, t);

		if (m > max)
			max = m;
	}
	return max;
}

static int damon_sim_get_scheme_score(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		struct damos *scheme)
{
	switch (scheme->action) {
	case DAMOS_PAGEOUT:
	case DAMOS_COLD:
	case DAMOS_LRU_DEPRIO:
		return damon_cold_score(ctx, r, scheme);
	case DAMOS_WILLNEED:
	case DAMOS_LRU_PRIO:
	case DAMOS_HUGEPAGE:
		return damon_hot_score(ctx, r, scheme);
	default:
		return DAMOS_MAX_SCORE;
	}
}

static uint64_t damon_sim_apply_scheme(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		struct damos *scheme, uint64_t *sz_filter_passed)
{
	struct damon_sim *sim = t->priv;
	uint64_t sz = damon_sz_region(r);
	enum damos_action a = scheme->action;
	const struct sim_phase *ph;
	unsigned int idx;

	/* the sim has no ops-level filters: everything passes */
	if (sz_filter_passed)
		*sz_filter_passed = sz;
	if ((unsigned int)a >= NR_DAMOS_ACTIONS)
		return 0;
	pthread_mutex_lock(&sim->lock);
	ph = sim_phase_locked(sim, damon_ctx_now_us(ctx), &idx);
	sim->stats.nr_applied[a]++;
	sim->stats.sz_applied[a] += sz;
	sim->stats.sz_applied_wss[a] += sim_hot_bytes_locked(sim, ph, 0.0,
			r->ar.start, r->ar.end);
	if (a == DAMOS_PAGEOUT)
		sim->stats.sz_paged_out += sz;
	pthread_mutex_unlock(&sim->lock);
	/* DAMOS_STAT only counts, so nothing was applied, as in Linux */
	return a == DAMOS_STAT ? 0 : sz;
}

static bool damon_sim_action_supported(enum damos_action action)
{
	return (unsigned int)action < NR_DAMOS_ACTIONS;
}

static bool damon_sim_target_valid(struct damon_target *t)
{
	struct damon_sim *sim = t->priv;
	bool valid;

	pthread_mutex_lock(&sim->lock);
	valid = !sim->invalid;
	pthread_mutex_unlock(&sim->lock);
	return valid;
}

/* No cleanup: init allocates nothing, and the caller owns the sim. */
const struct damon_operations damon_sim_ops = {
	.name = "sim",
	.init = damon_sim_init,
	.update = damon_sim_update,
	.prepare_access_checks = damon_sim_prepare_access_checks,
	.check_accesses = damon_sim_check_accesses,
	.get_scheme_score = damon_sim_get_scheme_score,
	.apply_scheme = damon_sim_apply_scheme,
	.action_supported = damon_sim_action_supported,
	.target_valid = damon_sim_target_valid,
};

/* ---- canned patterns ---- */

static uint64_t sim_page_down(uint64_t x)
{
	return x & ~(DAMON_SIM_PAGE_SIZE - 1);
}

/* A sim over [0, @sz) with no phase yet, or NULL. */
static struct damon_sim *sim_new_flat(uint64_t sz, double prob,
		uint64_t seed)
{
	struct damon_addr_range space = { 0, sz };

	if (sz < DAMON_SIM_PAGE_SIZE || !sim_prob_ok(prob))
		return NULL;
	return damon_sim_new(&space, 1, seed);
}

struct damon_sim *damon_sim_new_static(uint64_t sz, double hot_frac,
		double prob, uint64_t seed)
{
	struct damon_sim_range hot;
	struct damon_sim *sim;
	uint64_t hot_sz;

	if (!(hot_frac > 0.0 && hot_frac <= 1.0))
		return NULL;
	sim = sim_new_flat(sz, prob, seed);
	if (!sim)
		return NULL;
	hot_sz = sim_page_down((uint64_t)((double)sz * hot_frac));
	if (hot_sz == 0)
		hot_sz = DAMON_SIM_PAGE_SIZE;
	hot.start = sim_page_down((sz - hot_sz) / 2);
	hot.end = hot.start + hot_sz;
	hot.prob = prob;
	if (damon_sim_add_phase(sim, 0, &hot, 1, 0.0)) {
		damon_sim_destroy(sim);
		return NULL;
	}
	return sim;
}

/* Add a phase heating window @pos of @w bytes. */
static int sim_add_window_phase(struct damon_sim *sim, uint64_t w,
		unsigned int pos, uint64_t step_us, double prob)
{
	struct damon_sim_range win = {
		.start = w * pos,
		.end = w * (pos + 1),
		.prob = prob,
	};

	return damon_sim_add_phase(sim, step_us, &win, 1, 0.0);
}

/*
 * A sim whose window of @sz / @nr_steps bytes visits the positions that
 * @pos_of gives for phases 0 .. @nr_phases - 1, looping.
 */
static struct damon_sim *sim_new_moving(uint64_t sz, unsigned int nr_steps,
		uint64_t step_us, double prob, uint64_t seed,
		unsigned int nr_phases,
		unsigned int (*pos_of)(unsigned int phase, unsigned int nr_steps))
{
	struct damon_sim *sim;
	unsigned int i;
	uint64_t w;

	if (nr_steps == 0)
		return NULL;
	w = sim_page_down(sz / nr_steps);
	if (w == 0)
		return NULL;
	sim = sim_new_flat(sz, prob, seed);
	if (!sim)
		return NULL;
	for (i = 0; i < nr_phases; i++) {
		if (sim_add_window_phase(sim, w, pos_of(i, nr_steps), step_us,
					prob)) {
			damon_sim_destroy(sim);
			return NULL;
		}
	}
	damon_sim_set_loop(sim, true);
	return sim;
}

static unsigned int sim_stairs_pos(unsigned int phase, unsigned int nr_steps)
{
	return phase;
}

static unsigned int sim_zigzag_pos(unsigned int phase, unsigned int nr_steps)
{
	return phase < nr_steps ? phase : 2 * (nr_steps - 1) - phase;
}

struct damon_sim *damon_sim_new_stairs(uint64_t sz, unsigned int nr_steps,
		uint64_t step_us, double prob, uint64_t seed)
{
	return sim_new_moving(sz, nr_steps, step_us, prob, seed, nr_steps,
			sim_stairs_pos);
}

struct damon_sim *damon_sim_new_zigzag(uint64_t sz, unsigned int nr_steps,
		uint64_t step_us, double prob, uint64_t seed)
{
	unsigned int nr_phases = nr_steps > 1 ? 2 * nr_steps - 2 : nr_steps;

	return sim_new_moving(sz, nr_steps, step_us, prob, seed, nr_phases,
			sim_zigzag_pos);
}
