// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * DAMON-based operation schemes (DAMOS): lifetime, validation, and the
 * per-sample scheme pass of the monitoring loop.
 *
 * The semantics follow Linux 6.x mm/damon/core.c: access-pattern matching
 * on nr_accesses_bp, time-windowed quotas whose effective size comes from
 * the size limit, the time limit at the measured throughput and a goal
 * feedback loop; score-based prioritisation; charge-point continuation
 * across windows; core filters; watermarks.  Where this file departs from
 * the kernel, the comment at the spot says why.  In short:
 *
 *  - A region split during the pass (by the quota or an address filter)
 *    has its right part visited later in the same pass, so every scheme
 *    sees every piece once.  The kernel's iterator skips such parts until
 *    the next pass, and merging can then undo the split for good.
 *  - The charge point is the end of the last charged region (the kernel
 *    adds one byte and so skips a page), and a charge point at the end of
 *    a target moves on to the next target instead of wasting a window.
 *  - A quota whose remainder is below min_sz_region counts as exhausted,
 *    so windows are counted in qt_exceeds and continuation works even
 *    when the quota is not a multiple of the region alignment.
 *  - Filters and the quota apply before the operations set is asked, and
 *    a region is charged even when the operations set has no apply_scheme
 *    callback, so DAMOS_STAT-only operations sets see the same regions.
 *  - Every scheme's watermarks are evaluated, each on its own interval.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* The goal tuner's score for "goal exactly met", in basis points. */
#define DAMOS_GOAL_SCORE_BP		10000ULL
/* The tuner never goes below this input, so that it can grow again. */
#define DAMOS_MIN_ESZ_BP		10000ULL
/*
 * Throughput assumed before any action was timed, in bytes per ms: the
 * kernel's PAGE_SIZE * 1024, i.e. 4 MiB per ms.
 */
#define DAMOS_DEFAULT_THROUGHPUT	(4096ULL * 1024)
/* First capacity of a tried-regions array. */
#define DAMOS_TRIED_MIN_CAP		16


static const char *const damos_action_names[NR_DAMOS_ACTIONS] = {
	[DAMOS_WILLNEED] = "willneed",
	[DAMOS_COLD] = "cold",
	[DAMOS_PAGEOUT] = "pageout",
	[DAMOS_HUGEPAGE] = "hugepage",
	[DAMOS_NOHUGEPAGE] = "nohugepage",
	[DAMOS_LRU_PRIO] = "lru_prio",
	[DAMOS_LRU_DEPRIO] = "lru_deprio",
	[DAMOS_MIGRATE_HOT] = "migrate_hot",
	[DAMOS_MIGRATE_COLD] = "migrate_cold",
	[DAMOS_STAT] = "stat",
};

static uint64_t damos_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t damos_mul_sat(uint64_t a, uint64_t b)
{
	if (a && b > UINT64_MAX / a)
		return UINT64_MAX;
	return a * b;
}

static uint64_t damos_min_sz(const struct damon_ctx *ctx)
{
	return ctx->min_sz_region ? ctx->min_sz_region : 1;
}

static uint64_t damos_align_down(uint64_t v, uint64_t align)
{
	return v - v % align;
}

/* ---- lifetime ---- */

/* Copy the user-set fields of a quota: limits, window and weights. */
static void damos_set_quota_params(struct damos_quota *dst,
		const struct damos_quota *src)
{
	dst->ms = src->ms;
	dst->sz = src->sz;
	dst->reset_interval = src->reset_interval;
	dst->weight_sz = src->weight_sz;
	dst->weight_nr_accesses = src->weight_nr_accesses;
	dst->weight_age = src->weight_age;
}

/**
 * damon_new_scheme() - Allocate a scheme.
 * @pattern:		access pattern of the regions to act on.
 * @action:		what to do with them.
 * @apply_interval_us:	how often to apply, in microseconds; 0 means every
 *			aggregation interval.
 * @quota:		limits and weights, or NULL for no quota.  Only the
 *			user-set fields are copied; goals are not, add them
 *			with damos_add_quota_goal().
 * @wmarks:		watermarks, or NULL for none.
 *
 * The scheme starts activated, as in Linux DAMON: with watermarks, the
 * first check (due as soon as the context begins) may deactivate it.
 *
 * Return: the scheme, with no filters and no goals, or NULL when @pattern
 * is NULL or memory runs out.
 * Locking: none; the scheme is the caller's until damon_add_scheme().
 */
struct damos *damon_new_scheme(const struct damos_access_pattern *pattern,
		enum damos_action action, uint64_t apply_interval_us,
		const struct damos_quota *quota,
		const struct damos_watermarks *wmarks)
{
	struct damos *s;

	if (!pattern)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->pattern = *pattern;
	s->action = action;
	s->apply_interval_us = apply_interval_us;
	if (quota)
		damos_set_quota_params(&s->quota, quota);
	damon_list_init(&s->quota.goals_list);
	if (wmarks)
		s->wmarks = *wmarks;
	s->wmarks.activated = true;
	s->wmarks.next_check_us = 0;
	damon_list_init(&s->filters_list);
	damon_list_init(&s->list);
	return s;
}

static void damos_set_next_apply_sis(const struct damon_ctx *ctx,
		struct damos *s)
{
	uint64_t sample = ctx->attrs.sample_interval ?
		ctx->attrs.sample_interval : 1;
	uint64_t interval = s->apply_interval_us ?
		s->apply_interval_us : ctx->attrs.aggr_interval;

	s->next_apply_sis = ctx->passed_sample_intervals + interval / sample;
}

/**
 * damon_add_scheme() - Append @s to @ctx's schemes.
 * @ctx:	context.
 * @s:		scheme from damon_new_scheme(), not in any context.
 *
 * The scheme's first application is scheduled one apply interval from
 * now, as in Linux DAMON.
 *
 * Locking: the context's owner (before damon_ctx_begin(), or via damon_call()).
 */
void damon_add_scheme(struct damon_ctx *ctx, struct damos *s)
{
	damon_list_add_tail(&s->list, &ctx->schemes_list);
	damos_set_next_apply_sis(ctx, s);
}

static void damos_free_list(struct damon_list *head, size_t offset)
{
	struct damon_list *n, *next;

	for (n = head->next; n != head; n = next) {
		next = n->next;
		free((char *)n - offset);
	}
	damon_list_init(head);
}

/**
 * damon_destroy_scheme() - Unlink @s if it is linked, then free it with
 * its filters, goals and tried-regions snapshots.
 * @s:	scheme, or NULL.
 *
 * Locking: the context's owner.
 */
void damon_destroy_scheme(struct damos *s)
{
	if (!s)
		return;
	damon_list_del(&s->list);
	damos_free_list(&s->filters_list, offsetof(struct damos_filter, list));
	damos_free_list(&s->quota.goals_list,
			offsetof(struct damos_quota_goal, list));
	free(s->tried);
	free(s->tried_building);
	free(s);
}

/**
 * damos_new_filter() - Allocate a core filter.
 * @type:	what the filter looks at; set addr_range or target_idx next.
 * @matching:	whether the filter is for memory matching the condition.
 * @allow:	whether to allow or reject the memory it is for.
 *
 * Return: the filter, or NULL when memory runs out.
 * Locking: none; the filter is the caller's until damos_add_filter().
 */
struct damos_filter *damos_new_filter(enum damos_filter_type type,
		bool matching, bool allow)
{
	struct damos_filter *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->type = type;
	f->matching = matching;
	f->allow = allow;
	damon_list_init(&f->list);
	return f;
}

/**
 * damos_add_filter() - Append @f to @s's filters; @s owns it from now.
 * @s:	scheme.
 * @f:	filter from damos_new_filter().
 *
 * Locking: the context's owner.
 */
void damos_add_filter(struct damos *s, struct damos_filter *f)
{
	damon_list_add_tail(&f->list, &s->filters_list);
}

/**
 * damos_new_quota_goal() - Allocate a quota goal.
 * @metric:		where its current value comes from.
 * @target_value:	the value to reach; must be > 0.
 *
 * Return: the goal, with current_value 0 and no get_metric, or NULL.
 * Locking: none; the goal is the caller's until damos_add_quota_goal().
 */
struct damos_quota_goal *damos_new_quota_goal(
		enum damos_quota_goal_metric metric, uint64_t target_value)
{
	struct damos_quota_goal *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->metric = metric;
	g->target_value = target_value;
	damon_list_init(&g->list);
	return g;
}

/**
 * damos_add_quota_goal() - Append @g to @q's goals; @q owns it from now.
 * @q:	quota of a scheme.
 * @g:	goal from damos_new_quota_goal().
 *
 * Locking: the context's owner.
 */
void damos_add_quota_goal(struct damos_quota *q, struct damos_quota_goal *g)
{
	damon_list_add_tail(&g->list, &q->goals_list);
}

/**
 * damos_tried_regions() - The regions @s tried in its last complete pass.
 * @s:	scheme.
 * @nr:	where to store the number of entries; may be NULL.
 *
 * The snapshot is replaced as a whole when a pass of @s completes, so it
 * never shows a half-done pass.
 *
 * Return: the entries, or NULL when there are none.
 * Locking: the context's owner (from a callback, or via damon_call()).
 */
const struct damos_tried_region *damos_tried_regions(const struct damos *s,
		size_t *nr)
{
	if (nr)
		*nr = s->nr_tried_regions;
	return s->nr_tried_regions ? s->tried : NULL;
}

/**
 * damos_action_name() - Lower-case name of @action, as in DAMON sysfs.
 * @action:	the action.
 *
 * Return: the name, or NULL when @action is out of range.
 * Locking: none.
 */
const char *damos_action_name(enum damos_action action)
{
	if ((unsigned int)action >= NR_DAMOS_ACTIONS)
		return NULL;
	return damos_action_names[action];
}

/* Move every node of @from to the end of @to; @from ends empty. */
static void damos_move_list(struct damon_list *to, struct damon_list *from)
{
	struct damon_list *n, *next;

	for (n = from->next; n != from; n = next) {
		next = n->next;
		damon_list_del(n);
		damon_list_add_tail(n, to);
	}
}

/**
 * damos_commit() - Give @dst @src's parameters, as Linux's commit does.
 * @dst:	a scheme in use, which keeps its statistics, its quota's
 *		charge state and tuner output, its watermarks' state and its
 *		tried-regions snapshot.
 * @src:	the new parameters; its filters and goals move to @dst, and
 *		the caller frees what is left of it with
 *		damon_destroy_scheme().
 *
 * Validate @src first: nothing here can fail.
 *
 * Locking: the context's owner (via damon_call() while it runs).
 */
void damos_commit(struct damos *dst, struct damos *src)
{
	struct damos_quota *dq = &dst->quota;

	dst->pattern = src->pattern;
	dst->action = src->action;
	dst->target_nid = src->target_nid;
	dst->apply_interval_us = src->apply_interval_us;
	damos_set_quota_params(dq, &src->quota);
	damos_free_list(&dq->goals_list,
			offsetof(struct damos_quota_goal, list));
	damos_move_list(&dq->goals_list, &src->quota.goals_list);
	dst->wmarks.get_metric = src->wmarks.get_metric;
	dst->wmarks.data = src->wmarks.data;
	dst->wmarks.interval = src->wmarks.interval;
	dst->wmarks.high = src->wmarks.high;
	dst->wmarks.mid = src->wmarks.mid;
	dst->wmarks.low = src->wmarks.low;
	if (!dst->wmarks.get_metric)
		dst->wmarks.activated = true;
	damos_free_list(&dst->filters_list,
			offsetof(struct damos_filter, list));
	damos_move_list(&dst->filters_list, &src->filters_list);
}

/* ---- validation ---- */

static int damos_validate_action(const struct damon_ctx *ctx,
		const struct damos *s, char *err, size_t errlen)
{
	if ((unsigned int)s->action >= NR_DAMOS_ACTIONS)
		return damon_err(err, errlen,
			"action must be in [0, %d) (got %u)",
			NR_DAMOS_ACTIONS, (unsigned int)s->action);
	if (s->action == DAMOS_STAT || !ctx || !ctx->ops.action_supported)
		return 0;
	if (!ctx->ops.action_supported(s->action))
		return damon_err(err, errlen,
			"action %s is not supported by operations set %s",
			damos_action_name(s->action),
			ctx->ops.name ? ctx->ops.name : "(unnamed)");
	return 0;
}

static int damos_validate_pattern(const struct damos_access_pattern *p,
		char *err, size_t errlen)
{
	if (p->min_sz_region > p->max_sz_region)
		return damon_err(err, errlen,
			"pattern.min_sz_region (%" PRIu64 ") must be <= pattern.max_sz_region (%" PRIu64 ")",
			p->min_sz_region, p->max_sz_region);
	if (p->min_nr_accesses > p->max_nr_accesses)
		return damon_err(err, errlen,
			"pattern.min_nr_accesses (%u) must be <= pattern.max_nr_accesses (%u)",
			p->min_nr_accesses, p->max_nr_accesses);
	if (p->min_age_region > p->max_age_region)
		return damon_err(err, errlen,
			"pattern.min_age_region (%u) must be <= pattern.max_age_region (%u)",
			p->min_age_region, p->max_age_region);
	return 0;
}

static int damos_validate_goal(const struct damos_quota_goal *g,
		unsigned int idx, char *err, size_t errlen)
{
	if ((unsigned int)g->metric >= NR_DAMOS_QUOTA_GOAL_METRICS)
		return damon_err(err, errlen,
			"quota.goals[%u].metric must be in [0, %d) (got %u)",
			idx, NR_DAMOS_QUOTA_GOAL_METRICS,
			(unsigned int)g->metric);
	if (g->metric == DAMOS_QUOTA_METRIC_CALLBACK && !g->get_metric)
		return damon_err(err, errlen,
			"quota.goals[%u].get_metric must be set for the callback metric",
			idx);
	if (!g->target_value)
		return damon_err(err, errlen,
			"quota.goals[%u].target_value must be > 0", idx);
	return 0;
}

static int damos_validate_quota(const struct damos_quota *q, char *err,
		size_t errlen)
{
	const struct damos_quota_goal *g;
	unsigned int idx = 0;
	int rc;

	if ((q->ms || q->sz || !damon_list_empty(&q->goals_list)) &&
	    !q->reset_interval)
		return damon_err(err, errlen,
			"quota.reset_interval must be > 0 ms when a quota is set");
	damos_for_each_quota_goal(g, q) {
		rc = damos_validate_goal(g, idx++, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static int damos_validate_wmarks(const struct damos_watermarks *w,
		char *err, size_t errlen)
{
	if (!w->get_metric)
		return 0;
	if (!w->interval)
		return damon_err(err, errlen,
			"wmarks.interval must be > 0 us when wmarks.get_metric is set");
	if (w->high < w->mid || w->mid < w->low)
		return damon_err(err, errlen,
			"wmarks must satisfy high >= mid >= low (got high %" PRIu64 ", mid %" PRIu64 ", low %" PRIu64 ")",
			w->high, w->mid, w->low);
	return 0;
}

static int damos_validate_filters(const struct damos *s, char *err,
		size_t errlen)
{
	const struct damos_filter *f;
	unsigned int idx = 0;

	damos_for_each_filter(f, s) {
		if ((unsigned int)f->type >= NR_DAMOS_FILTER_TYPES)
			return damon_err(err, errlen,
				"filters[%u].type must be in [0, %d) (got %u)",
				idx, NR_DAMOS_FILTER_TYPES,
				(unsigned int)f->type);
		if (f->type == DAMOS_FILTER_TYPE_ADDR &&
		    f->addr_range.start >= f->addr_range.end)
			return damon_err(err, errlen,
				"filters[%u].addr_range.start (0x%" PRIx64 ") must be < addr_range.end (0x%" PRIx64 ")",
				idx, f->addr_range.start, f->addr_range.end);
		idx++;
	}
	return 0;
}

/**
 * damon_validate_scheme() - Check a scheme before it is used.
 * @ctx:	context the scheme is meant for (for the operations set's
 *		supported actions), or NULL to skip that check.
 * @s:		scheme.
 * @err:	optional buffer for a text naming the field and its range.
 * @errlen:	size of @err.
 *
 * Return: 0, or -EINVAL with the first problem described in @err.
 * Locking: reads @s and @ctx->ops only; validate a scheme before adding
 * it to a running context, or through damon_call().
 */
int damon_validate_scheme(const struct damon_ctx *ctx, const struct damos *s,
		char *err, size_t errlen)
{
	int rc = damos_validate_action(ctx, s, err, errlen);

	if (!rc)
		rc = damos_validate_pattern(&s->pattern, err, errlen);
	if (!rc)
		rc = damos_validate_quota(&s->quota, err, errlen);
	if (!rc)
		rc = damos_validate_wmarks(&s->wmarks, err, errlen);
	if (!rc)
		rc = damos_validate_filters(s, err, errlen);
	return rc;
}

/* ---- quota: effective size and charge windows ---- */

static bool damos_quota_is_set(const struct damos_quota *q)
{
	return q->ms || q->sz || !damon_list_empty(&q->goals_list);
}

/*
 * Whether @q has nothing left in this window.  A remainder smaller than
 * the region alignment cannot be applied to anything, so it counts as
 * spent (the kernel would keep "trying" zero bytes instead).
 */
static bool damos_quota_exhausted(const struct damon_ctx *ctx,
		const struct damos_quota *q)
{
	if (!q->esz)
		return false;
	return q->charged_sz >= q->esz ||
		q->esz - q->charged_sz < damos_min_sz(ctx);
}

/*
 * Next input of a feedback loop whose score should reach
 * DAMOS_GOAL_SCORE_BP: move @last by the same proportion the score is
 * off, i.e. next = last * (1 + (goal - score) / goal), never below the
 * minimum so that the loop can recover, and the minimum at once when the
 * score is twice the goal or more.
 */
uint64_t damos_feed_loop_next_input(uint64_t last, uint64_t score)
{
	const uint64_t goal = DAMOS_GOAL_SCORE_BP;
	uint64_t diff, comp;

	if (score == goal)
		return last;
	if (score >= goal * 2)
		return DAMOS_MIN_ESZ_BP;
	diff = score > goal ? score - goal : goal - score;
	if (last < UINT64_MAX / diff)
		comp = last * diff / goal;
	else
		comp = last / goal * diff;
	if (score > goal)
		return last - comp > DAMOS_MIN_ESZ_BP ?
			last - comp : DAMOS_MIN_ESZ_BP;
	return last < UINT64_MAX - comp ? last + comp : UINT64_MAX;
}

/* A goal's achievement in basis points of its target. */
static uint64_t damos_goal_score(struct damos_quota_goal *g)
{
	if (g->metric == DAMOS_QUOTA_METRIC_CALLBACK && g->get_metric)
		g->current_value = g->get_metric(g->data);
	/* validation forbids 0; treat it as met twice over (least action) */
	if (!g->target_value)
		return DAMOS_GOAL_SCORE_BP * 2;
	if (g->current_value > UINT64_MAX / DAMOS_GOAL_SCORE_BP)
		return UINT64_MAX;
	return g->current_value * DAMOS_GOAL_SCORE_BP / g->target_value;
}

/* The highest score wins: it makes the scheme the least aggressive. */
static uint64_t damos_quota_score(struct damos_quota *q)
{
	struct damos_quota_goal *g;
	uint64_t score, highest = 0;

	damos_for_each_quota_goal(g, q) {
		score = damos_goal_score(g);
		if (score > highest)
			highest = score;
	}
	return highest;
}

/* Bytes per ms the action went at so far, or the kernel's guess. */
static uint64_t damos_quota_throughput(const struct damos_quota *q)
{
	if (!q->total_charged_ns)
		return DAMOS_DEFAULT_THROUGHPUT;
	return damos_mul_sat(q->total_charged_sz, 1000000) /
		q->total_charged_ns;
}

static void damos_set_effective_quota(struct damos_quota *q)
{
	uint64_t esz = UINT64_MAX;

	if (!q->ms && damon_list_empty(&q->goals_list)) {
		q->esz = q->sz;
		return;
	}
	if (!damon_list_empty(&q->goals_list)) {
		q->esz_bp = damos_feed_loop_next_input(
				q->esz_bp > DAMOS_MIN_ESZ_BP ?
				q->esz_bp : DAMOS_MIN_ESZ_BP,
				damos_quota_score(q));
		esz = q->esz_bp / DAMOS_GOAL_SCORE_BP;
	}
	if (q->ms)
		esz = damos_min(esz,
			damos_mul_sat(damos_quota_throughput(q), q->ms));
	if (q->sz && q->sz < esz)
		esz = q->sz;
	/* 0 means "unlimited"; a limit must never turn into that */
	q->esz = esz ? esz : 1;
}

static bool damos_charge_window_over(const struct damon_ctx *ctx,
		const struct damos_quota *q)
{
	if (!q->charged_from_set || ctx->now_us < q->charged_from_us)
		return true;
	return ctx->now_us - q->charged_from_us >=
		damos_mul_sat(q->reset_interval, 1000);
}

static void damos_start_charge_window(struct damon_ctx *ctx, struct damos *s)
{
	struct damos_quota *q = &s->quota;

	if (damos_quota_exhausted(ctx, q))
		s->stat.qt_exceeds++;
	q->total_charged_sz += q->charged_sz;
	q->charged_sz = 0;
	q->charged_from_us = ctx->now_us;
	q->charged_from_set = true;
	damos_set_effective_quota(q);
}

/* ---- prioritisation ---- */

static bool damos_pattern_match(const struct damon_region *r,
		const struct damos *s)
{
	const struct damos_access_pattern *p = &s->pattern;
	uint64_t sz = damon_sz_region(r);
	unsigned int nr_accesses = r->nr_accesses_bp / 10000;

	return p->min_sz_region <= sz && sz <= p->max_sz_region &&
		p->min_nr_accesses <= nr_accesses &&
		nr_accesses <= p->max_nr_accesses &&
		p->min_age_region <= r->age && r->age <= p->max_age_region;
}

/* The ops' score, clamped so that a buggy ops cannot index out of range. */
static unsigned int damos_region_score(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r, struct damos *s)
{
	int score = ctx->ops.get_scheme_score(ctx, t, r, s);

	if (score < 0)
		return 0;
	return score > DAMOS_MAX_SCORE ? DAMOS_MAX_SCORE : (unsigned int)score;
}

/*
 * Find the lowest score whose regions, together with all higher-scored
 * ones, cover the effective quota: only those are worth the quota.
 */
static void damos_set_min_score(struct damon_ctx *ctx, struct damos *s)
{
	uint64_t *hist = ctx->score_histogram, cumulated = 0;
	unsigned int score, max_score = 0;
	struct damon_target *t;
	struct damon_region *r;

	memset(ctx->score_histogram, 0, sizeof(ctx->score_histogram));
	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			if (!damos_pattern_match(r, s))
				continue;
			score = damos_region_score(ctx, t, r, s);
			hist[score] += damon_sz_region(r);
			if (score > max_score)
				max_score = score;
		}
	}
	for (score = max_score; ; score--) {
		cumulated += hist[score];
		if (cumulated >= s->quota.esz || !score)
			break;
	}
	s->quota.min_score = score;
}

static void damos_adjust_quota(struct damon_ctx *ctx, struct damos *s)
{
	struct damos_quota *q = &s->quota;

	if (!damos_quota_is_set(q)) {
		q->esz = 0;
		return;
	}
	if (damos_charge_window_over(ctx, q))
		damos_start_charge_window(ctx, s);
	if (q->esz && ctx->ops.get_scheme_score &&
	    !damos_quota_exhausted(ctx, q))
		damos_set_min_score(ctx, s);
}

static bool damos_valid_target(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos *s)
{
	if (!damos_pattern_match(r, s))
		return false;
	if (!s->quota.esz || !ctx->ops.get_scheme_score)
		return true;
	return damos_region_score(ctx, t, r, s) >= s->quota.min_score;
}

/* ---- charge-point continuation ---- */

static void damos_clear_charge_point(struct damos_quota *q)
{
	q->charge_target_from = NULL;
	q->charge_addr_from = 0;
}

/*
 * A charge point whose target left the context, or has no regions any
 * more, would never be reached and would block the scheme for good.
 */
static void damos_check_charge_point(struct damon_ctx *ctx,
		struct damos_quota *q)
{
	struct damon_target *t;

	if (!q->charge_target_from)
		return;
	damon_for_each_target(t, ctx) {
		if (t == q->charge_target_from && t->nr_regions)
			return;
	}
	damos_clear_charge_point(q);
}

/**
 * damos_forget_target() - Drop charge points that refer to @t.
 * @ctx:	context holding @t.
 * @t:		target about to be destroyed.
 *
 * Without this, a new target allocated at @t's address would inherit
 * @t's continuation point.  Linux DAMON does the same when it commits a
 * context that lost a target.
 *
 * Locking: the context's owner.
 */
void damos_forget_target(struct damon_ctx *ctx, const struct damon_target *t)
{
	struct damos *s;

	damon_for_each_scheme(s, ctx)
		if (s->quota.charge_target_from == t)
			damos_clear_charge_point(&s->quota);
}

/* Remember where the next window should continue after @r. */
static void damos_set_charge_point(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		struct damos_quota *q)
{
	if (r != damon_last_region(t)) {
		q->charge_target_from = t;
		q->charge_addr_from = r->ar.end;
		return;
	}
	/* nothing of @t is left: continue at the next target, or wrap */
	if (t->list.next == &ctx->targets_list) {
		damos_clear_charge_point(q);
		return;
	}
	q->charge_target_from = damon_target_of(t->list.next);
	q->charge_addr_from = 0;
}

/*
 * Whether @r lies before the point where the previous window ran out of
 * quota.  A region that straddles the point is split there; its left part
 * is skipped and the right part, visited next, clears the point.
 */
static bool damos_skip_charged_region(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		struct damos *s)
{
	struct damos_quota *q = &s->quota;
	uint64_t sz_skip;

	if (!q->charge_target_from)
		return false;
	if (t != q->charge_target_from)
		return true;
	if (r->ar.end <= q->charge_addr_from) {
		if (r == damon_last_region(t))
			damos_clear_charge_point(q);
		return true;
	}
	if (r->ar.start < q->charge_addr_from) {
		sz_skip = damos_align_down(q->charge_addr_from - r->ar.start,
				damos_min_sz(ctx));
		if (sz_skip) {
			damon_split_region_at(t, r, sz_skip);
			return true;
		}
	}
	damos_clear_charge_point(q);
	return false;
}

/* ---- core filters ---- */

/*
 * Whether @r is inside @f's range.  A region straddling a boundary is
 * split there, and @r keeps the left part; the caller's loop visits the
 * right part next.  Returns -ENOMEM when that split failed.
 */
static int damos_addr_filter_match(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r,
		const struct damos_filter *f)
{
	uint64_t start = damos_align_down(f->addr_range.start,
			damos_min_sz(ctx));
	uint64_t end = damos_align_down(f->addr_range.end, damos_min_sz(ctx));
	uint64_t sz_left;
	int inside;

	if (start <= r->ar.start && r->ar.end <= end)
		return 1;
	if (r->ar.end <= start || end <= r->ar.start)
		return 0;
	if (r->ar.start < start) {
		sz_left = start - r->ar.start;
		inside = 0;
	} else {
		sz_left = end - r->ar.start;
		inside = 1;
	}
	damon_split_region_at(t, r, sz_left);
	if (damon_sz_region(r) != sz_left)
		return -ENOMEM;
	return inside;
}

/**
 * damos_filter_is_ops() - Whether filters of @type are the operations
 * set's to evaluate (after the quota) rather than the core's.
 * @type:	filter type.
 *
 * Return: true for operations-level types.
 * Locking: none.
 */
bool damos_filter_is_ops(enum damos_filter_type type)
{
	return type == DAMOS_FILTER_TYPE_YOUNG;
}

/*
 * The verdict of one kind of filters (core or ops): the first filter of
 * that kind that is for the memory decides; when none is, the opposite
 * of the last one's verdict applies, so "allow X" alone means "only X"
 * and "reject X" alone means "all but X".  @meets returns 1 when the
 * memory meets @f's condition, 0 when not, and -1 when it cannot tell,
 * which rejects the memory (leave alone what cannot be isolated).
 */
static bool damos_filters_reject(const struct damos *s, bool ops,
		int (*meets)(const struct damos_filter *f, void *arg), void *arg)
{
	const struct damos_filter *f, *last = NULL;
	int met;

	damos_for_each_filter(f, s) {
		if (damos_filter_is_ops(f->type) != ops)
			continue;
		last = f;
		met = meets(f, arg);
		if (met < 0)
			return true;
		if ((met == 1) == f->matching)
			return !f->allow;
	}
	return last ? last->allow : false;
}

struct damos_core_filter_arg {
	struct damon_ctx *ctx;
	struct damon_target *t;
	struct damon_region *r;
};

static int damos_core_filter_meets(const struct damos_filter *f, void *arg)
{
	struct damos_core_filter_arg *a = arg;

	switch (f->type) {
	case DAMOS_FILTER_TYPE_TARGET:
		return a->t->id == f->target_idx;
	case DAMOS_FILTER_TYPE_ADDR:
		return damos_addr_filter_match(a->ctx, a->t, a->r, f);
	default:
		return 0;
	}
}

/* Whether the core filters reject @r. */
static bool damos_filter_out(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos *s)
{
	struct damos_core_filter_arg arg = { ctx, t, r };

	return damos_filters_reject(s, false, damos_core_filter_meets, &arg);
}

struct damos_ops_filter_arg {
	bool (*meets)(const struct damos_filter *f, void *arg);
	void *arg;
};

static int damos_ops_filter_meets(const struct damos_filter *f, void *arg)
{
	struct damos_ops_filter_arg *a = arg;

	return a->meets(f, a->arg) ? 1 : 0;
}

/**
 * damos_ops_filter_out() - Whether @s's operations-level filters reject
 * some memory.
 * @s:		scheme being applied.
 * @meets:	returns whether the memory meets a filter's condition
 *		(e.g. for %DAMOS_FILTER_TYPE_YOUNG: it was accessed).
 * @arg:	passed to @meets.
 *
 * Same rules as the core filters, over the operations-level ones only:
 * with none, nothing is rejected.
 *
 * Return: true when the memory must be left alone.
 * Locking: the context's driver, from &damon_operations.apply_scheme.
 */
bool damos_ops_filter_out(const struct damos *s,
		bool (*meets)(const struct damos_filter *f, void *arg),
		void *arg)
{
	struct damos_ops_filter_arg a = { meets, arg };

	return damos_filters_reject(s, true, damos_ops_filter_meets, &a);
}

/* ---- applying ---- */

static int damos_grow_tried_building(struct damos *s)
{
	size_t cap = s->tried_building_cap ?
		s->tried_building_cap * 2 : DAMOS_TRIED_MIN_CAP;
	struct damos_tried_region *arr;

	arr = realloc(s->tried_building, cap * sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	s->tried_building = arr;
	s->tried_building_cap = cap;
	return 0;
}

/* Out of memory only makes the snapshot incomplete, never the pass fail. */
static void damos_record_tried(struct damos *s, const struct damon_target *t,
		const struct damon_region *r)
{
	struct damos_tried_region *e;

	if (s->nr_tried_building == s->tried_building_cap &&
	    damos_grow_tried_building(s))
		return;
	e = &s->tried_building[s->nr_tried_building++];
	e->ar = r->ar;
	e->nr_accesses = r->nr_accesses_bp / 10000;
	e->age = r->age;
	e->target_id = t->id;
}

static void damos_publish_tried(struct damos *s)
{
	struct damos_tried_region *arr = s->tried;
	size_t cap = s->tried_cap;

	s->tried = s->tried_building;
	s->tried_cap = s->tried_building_cap;
	s->nr_tried_regions = s->nr_tried_building;
	s->tried_building = arr;
	s->tried_building_cap = cap;
	s->nr_tried_building = 0;
}

/* Ask the ops to act on @r, timing the call for the ms quota. */
static uint64_t damos_call_ops(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos *s)
{
	uint64_t begin, end, applied, sz_passed = 0;

	if (!ctx->ops.apply_scheme)
		return 0;
	begin = damon_clock_read(ctx);
	applied = ctx->ops.apply_scheme(ctx, t, r, s, &sz_passed);
	end = damon_clock_read(ctx);
	if (end > begin) {
		s->quota.total_charged_ns += damos_mul_sat(end - begin, 1000);
		s->stat.apply_ns += damos_mul_sat(end - begin, 1000);
	}
	/* an ops set cannot act on more than it was given */
	return damos_min(applied, damon_sz_region(r));
}

/*
 * Trim @r to what is left of the quota.  Returns false when nothing can
 * be applied (nothing left, or the split failed).
 */
static bool damos_fit_quota(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos_quota *q)
{
	uint64_t sz = damon_sz_region(r);

	if (!q->esz || q->charged_sz + sz <= q->esz)
		return true;
	sz = damos_align_down(q->esz - q->charged_sz, damos_min_sz(ctx));
	if (!sz)
		return false;
	damon_split_region_at(t, r, sz);
	return damon_sz_region(r) == sz;
}

static void damos_apply_scheme(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos *s)
{
	struct damos_quota *q = &s->quota;
	uint64_t sz, applied;

	if (damos_filter_out(ctx, t, r, s))
		return;
	if (!damos_fit_quota(ctx, t, r, q))
		return;
	sz = damon_sz_region(r);
	damos_record_tried(s, t, r);
	applied = damos_call_ops(ctx, t, r, s);
	q->charged_sz += sz;
	if (damos_quota_exhausted(ctx, q))
		damos_set_charge_point(ctx, t, r, q);
	if (s->action != DAMOS_STAT)
		r->age = 0;
	s->stat.nr_tried++;
	s->stat.sz_tried += sz;
	if (applied) {
		s->stat.nr_applied++;
		s->stat.sz_applied += applied;
	}
}

static void damon_do_apply_schemes(struct damon_ctx *ctx,
		struct damon_target *t, struct damon_region *r)
{
	struct damos *s;

	damon_for_each_scheme(s, ctx) {
		if (!s->apply_due)
			continue;
		if (damos_quota_exhausted(ctx, &s->quota))
			continue;
		if (damos_skip_charged_region(ctx, t, r, s))
			continue;
		if (!damos_valid_target(ctx, t, r, s))
			continue;
		damos_apply_scheme(ctx, t, r, s);
	}
}

static bool damos_begin_pass(struct damon_ctx *ctx, struct damos *s)
{
	s->apply_due = ctx->passed_sample_intervals >= s->next_apply_sis &&
		s->wmarks.activated;
	if (!s->apply_due)
		return false;
	damos_check_charge_point(ctx, &s->quota);
	damos_adjust_quota(ctx, s);
	s->nr_tried_building = 0;
	return true;
}

/**
 * kdamond_init_schemes() - Schedule every scheme of a beginning context.
 * @ctx:	context; ctx->now_us and passed_sample_intervals are set.
 *
 * Watermarks are checked at once; charge windows and continuation points
 * of an earlier run are forgotten, since the regions are new.
 */
void kdamond_init_schemes(struct damon_ctx *ctx)
{
	struct damos *s;

	damon_for_each_scheme(s, ctx) {
		damos_set_next_apply_sis(ctx, s);
		s->wmarks.next_check_us = ctx->now_us;
		s->apply_due = false;
		s->quota.charged_from_set = false;
		damos_clear_charge_point(&s->quota);
		s->nr_tried_building = 0;
	}
}

/**
 * kdamond_apply_schemes() - Apply the schemes that are due.
 * @ctx:	context, at a sample (after merging, on an aggregation).
 *
 * A scheme is due once its apply interval has passed and it is active.
 * Each due scheme first opens a new charge window if the last one is
 * over and ranks the regions for its quota; then every region of every
 * target is offered to every due scheme, in address order.  A region a
 * scheme splits is visited piece by piece.
 */
void kdamond_apply_schemes(struct damon_ctx *ctx)
{
	bool any_due = false;
	struct damon_target *t;
	struct damon_region *r;
	struct damos *s;

	damon_for_each_scheme(s, ctx)
		any_due |= damos_begin_pass(ctx, s);
	if (!any_due)
		return;
	/* the next region is read after the call: split-off parts come next */
	damon_for_each_target(t, ctx)
		damon_for_each_region(r, t)
			damon_do_apply_schemes(ctx, t, r);
	damon_for_each_scheme(s, ctx) {
		if (ctx->passed_sample_intervals < s->next_apply_sis)
			continue;
		if (s->apply_due)
			damos_publish_tried(s);
		s->apply_due = false;
		damos_set_next_apply_sis(ctx, s);
	}
}

/* ---- watermarks ---- */

/* 0 if @s is active; else how long until its next check is due. */
static uint64_t damos_wmark_wait_us(struct damon_ctx *ctx, struct damos *s)
{
	struct damos_watermarks *w = &s->wmarks;
	uint64_t metric;

	if (!w->get_metric) {
		w->activated = true;
		return 0;
	}
	if (ctx->now_us < w->next_check_us)
		return w->activated ? 0 : w->next_check_us - ctx->now_us;
	w->next_check_us = ctx->now_us + w->interval;
	metric = w->get_metric(w->data);
	if (metric > w->high || metric < w->low) {
		w->activated = false;
		return w->interval ? w->interval : 1;
	}
	/* between mid and high, an inactive scheme stays inactive */
	if (metric >= w->mid && !w->activated)
		return w->interval ? w->interval : 1;
	w->activated = true;
	return 0;
}

/**
 * kdamond_wmarks_wait_us() - Evaluate the watermarks of @ctx's schemes.
 * @ctx:	context; ctx->now_us is the time of the check.
 *
 * Each scheme's metric is read when its check interval has passed; the
 * other schemes keep their state.  Every scheme is evaluated, so that
 * each one's activation follows its own metric.
 *
 * Return: 0 when monitoring should go on (no schemes, or one is active),
 * else the microseconds until the earliest next check, at least 1.
 */
uint64_t kdamond_wmarks_wait_us(struct damon_ctx *ctx)
{
	uint64_t wait, min_wait = UINT64_MAX;
	bool any = false;
	struct damos *s;

	damon_for_each_scheme(s, ctx) {
		wait = damos_wmark_wait_us(ctx, s);
		if (wait < min_wait)
			min_wait = wait;
		any = true;
	}
	if (!any || !min_wait)
		return 0;
	return min_wait;
}

/**
 * damos_attrs_changed() - Reschedule the schemes for new intervals.
 * @ctx:	context whose attrs were just replaced.
 * @old_attrs:	the previous attrs.
 *
 * As in Linux DAMON's damon_set_attrs(), each scheme's next application
 * is one apply interval, counted in the new sample intervals, from now.
 */
void damos_attrs_changed(struct damon_ctx *ctx,
		const struct damon_attrs *old_attrs)
{
	struct damos *s;

	(void)old_attrs;
	damon_for_each_scheme(s, ctx)
		damos_set_next_apply_sis(ctx, s);
}
