// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * DAMOS: scheme lifetime and validation, access-pattern matching, quotas
 * (size, time, goals, prioritisation, continuation), filters, stats, the
 * tried-regions snapshot, watermarks, apply intervals, and the priority
 * scores of src/ops/common.c.
 *
 * Most cases build regions by hand and call kdamond_apply_schemes()
 * directly, one "pass" per call, which keeps the expected ranges exact.
 * Watermarks and apply intervals are about scheduling, so those cases
 * drive a context through the step API instead.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "test-util.h"
#include "core/internal.h"
#include "ops/ops-common.h"

#define KB 1024ULL
#define MB (1024 * KB)
#define MAX_REC 512

/* ---- a small operations set that records what it was asked to do ---- */

enum apply_ret {
	RET_FULL,	/* applied to the whole region */
	RET_HALF,	/* applied to half of it */
	RET_ZERO,	/* applied to nothing */
};

struct rec {
	const struct damos *s;
	unsigned int tid;
	uint64_t start, end;
	uint64_t passed;
	size_t snapshot_nr;	/* published snapshot size seen meanwhile */
};

static struct test_ops {
	struct tu_clock *clock;
	uint64_t apply_cost_us;	/* fake time one apply_scheme call takes */
	enum apply_ret ret;
	struct rec rec[MAX_REC];
	unsigned int nr_rec;
	uint64_t hot_start, hot_end;
	unsigned int nr_prepare, nr_check;
} tops;

static uint64_t tops_apply(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos *s, uint64_t *sz_passed)
{
	uint64_t sz = damon_sz_region(r);
	struct rec *e;

	g_assert_cmpuint(tops.nr_rec, <, MAX_REC);
	e = &tops.rec[tops.nr_rec++];
	e->s = s;
	e->tid = t->id;
	e->start = r->ar.start;
	e->end = r->ar.end;
	e->passed = ctx->passed_sample_intervals;
	damos_tried_regions(s, &e->snapshot_nr);
	if (tops.clock)
		tops.clock->now_us += tops.apply_cost_us;
	*sz_passed = sz;
	if (tops.ret == RET_HALF)
		return sz / 2;
	return tops.ret == RET_ZERO ? 0 : sz;
}

static void tops_prepare(struct damon_ctx *ctx)
{
	tops.nr_prepare++;
}

/* Regions starting in [hot_start, hot_end) are accessed every sample. */
static unsigned int tops_check(struct damon_ctx *ctx)
{
	struct damon_target *t;
	struct damon_region *r;
	unsigned int max = 0;

	tops.nr_check++;
	damon_for_each_target(t, ctx) {
		damon_for_each_region(r, t) {
			damon_update_region_access_rate(r,
					r->ar.start >= tops.hot_start &&
					r->ar.start < tops.hot_end,
					&ctx->attrs);
			if (r->nr_accesses > max)
				max = r->nr_accesses;
		}
	}
	return max;
}

static int tops_hot_score(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos *s)
{
	return damon_hot_score(ctx, r, s);
}

static int tops_cold_score(struct damon_ctx *ctx, struct damon_target *t,
		struct damon_region *r, struct damos *s)
{
	return damon_cold_score(ctx, r, s);
}

static bool tops_no_pageout(enum damos_action action)
{
	return action != DAMOS_PAGEOUT;
}

static bool tops_nothing_supported(enum damos_action action)
{
	return false;
}

/* A context with the test ops and a fake clock; no targets yet. */
static struct damon_ctx *new_ctx(struct tu_clock *clock)
{
	struct damon_ctx *ctx = damon_new_ctx();

	g_assert_nonnull(ctx);
	memset(&tops, 0, sizeof(tops));
	memset(clock, 0, sizeof(*clock));
	tops.clock = clock;
	tu_use_fake_clock(ctx, clock);
	ctx->ops.name = "test";
	ctx->ops.prepare_access_checks = tops_prepare;
	ctx->ops.check_accesses = tops_check;
	ctx->ops.apply_scheme = tops_apply;
	return ctx;
}

static const struct damos_access_pattern match_all = {
	.min_sz_region = 0, .max_sz_region = UINT64_MAX,
	.min_nr_accesses = 0, .max_nr_accesses = UINT_MAX,
	.min_age_region = 0, .max_age_region = UINT_MAX,
};

static struct damos *add_scheme(struct damon_ctx *ctx,
		enum damos_action action, const struct damos_quota *quota)
{
	struct damos *s = damon_new_scheme(&match_all, action, 0, quota,
			NULL);

	g_assert_nonnull(s);
	damon_add_scheme(ctx, s);
	return s;
}

/* Start the schemes as damon_ctx_begin() would, at time 0. */
static void init_passes(struct damon_ctx *ctx)
{
	ctx->now_us = 0;
	ctx->passed_sample_intervals = 0;
	kdamond_init_schemes(ctx);
}

/* One aggregation later, at @now_us: apply what is due. */
static void run_pass(struct damon_ctx *ctx, uint64_t now_us)
{
	ctx->now_us = now_us;
	ctx->passed_sample_intervals += damon_max_nr_accesses(&ctx->attrs);
	kdamond_apply_schemes(ctx);
}

static struct damon_region *nth_region(struct damon_target *t,
		unsigned int n)
{
	struct damon_region *r;

	damon_for_each_region(r, t)
		if (!n--)
			return r;
	g_assert_not_reached();
	return NULL;
}

static void set_access(struct damon_target *t, unsigned int n,
		unsigned int nr_accesses, unsigned int age)
{
	struct damon_region *r = nth_region(t, n);

	r->nr_accesses = nr_accesses;
	r->nr_accesses_bp = nr_accesses * 10000;
	r->age = age;
}

/* Assert that records [@from, @from + @nr) applied exactly @ranges. */
static void assert_rec(unsigned int from, const uint64_t (*ranges)[2],
		unsigned int nr)
{
	unsigned int i;

	g_assert_cmpuint(tops.nr_rec, ==, from + nr);
	for (i = 0; i < nr; i++) {
		g_assert_cmphex(tops.rec[from + i].start, ==, ranges[i][0]);
		g_assert_cmphex(tops.rec[from + i].end, ==, ranges[i][1]);
	}
}

/* ---- lifetime ---- */

static void test_action_name(void)
{
	static const struct {
		enum damos_action action;
		const char *name;
	} cases[] = {
		{ DAMOS_WILLNEED, "willneed" },
		{ DAMOS_COLD, "cold" },
		{ DAMOS_PAGEOUT, "pageout" },
		{ DAMOS_HUGEPAGE, "hugepage" },
		{ DAMOS_NOHUGEPAGE, "nohugepage" },
		{ DAMOS_LRU_PRIO, "lru_prio" },
		{ DAMOS_LRU_DEPRIO, "lru_deprio" },
		{ DAMOS_MIGRATE_HOT, "migrate_hot" },
		{ DAMOS_MIGRATE_COLD, "migrate_cold" },
		{ DAMOS_STAT, "stat" },
	};
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++)
		g_assert_cmpstr(damos_action_name(cases[i].action), ==,
				cases[i].name);
	g_assert_null(damos_action_name(NR_DAMOS_ACTIONS));
}

static void test_new_destroy(void)
{
	struct damos_quota_goal stray = { .target_value = 1 };
	struct damos_watermarks w = { .activated = false };
	struct damos_quota q = { .sz = 4096, .reset_interval = 10,
		.esz = 77, .charged_sz = 99 };
	struct damon_ctx *ctx = damon_new_ctx();
	struct damos *s;
	size_t nr = 5;

	/* the caller's goal list must not leak into the copy */
	damon_list_init(&q.goals_list);
	damon_list_add_tail(&stray.list, &q.goals_list);
	g_assert_null(damon_new_scheme(NULL, DAMOS_STAT, 0, &q, &w));
	s = damon_new_scheme(&match_all, DAMOS_STAT, 0, &q, &w);
	g_assert_nonnull(s);
	g_assert_true(damon_list_empty(&s->quota.goals_list));
	g_assert_true(damon_list_empty(&s->filters_list));
	g_assert_cmpuint(s->quota.sz, ==, 4096);
	g_assert_cmpuint(s->quota.esz, ==, 0);
	g_assert_cmpuint(s->quota.charged_sz, ==, 0);
	g_assert_true(s->wmarks.activated);
	g_assert_null(damos_tried_regions(s, &nr));
	g_assert_cmpuint(nr, ==, 0);
	/* never linked: destroy must cope */
	damon_destroy_scheme(s);

	s = damon_new_scheme(&match_all, DAMOS_STAT, 0, NULL, NULL);
	g_assert_nonnull(s);
	damos_add_filter(s, damos_new_filter(DAMOS_FILTER_TYPE_TARGET,
				true, true));
	damos_add_quota_goal(&s->quota, damos_new_quota_goal(
				DAMOS_QUOTA_USER_INPUT, 10));
	damon_add_scheme(ctx, s);
	g_assert_cmpuint(s->next_apply_sis, ==, 20);
	damon_destroy_scheme(s);
	g_assert_true(damon_list_empty(&ctx->schemes_list));
	damon_destroy_scheme(NULL);
	damon_destroy_ctx(ctx);
}

/* ---- validation ---- */

static uint64_t metric_zero(void *data)
{
	return 0;
}

/* Goals and filters need allocating, so cases add them with these. */
static void add_goal(struct damos *s, enum damos_quota_goal_metric metric,
		uint64_t target)
{
	damos_add_quota_goal(&s->quota, damos_new_quota_goal(metric, target));
}

static void add_goal_1(struct damos *s)
{
	add_goal(s, DAMOS_QUOTA_USER_INPUT, 1);
}

static void add_goal_0(struct damos *s)
{
	add_goal(s, DAMOS_QUOTA_USER_INPUT, 0);
}

static void add_goal_no_callback(struct damos *s)
{
	add_goal(s, DAMOS_QUOTA_METRIC_CALLBACK, 5);
}

static void add_empty_addr_filter(struct damos *s)
{
	struct damos_filter *f = damos_new_filter(DAMOS_FILTER_TYPE_ADDR,
			true, true);

	f->addr_range.start = 8192;
	f->addr_range.end = 8192;
	damos_add_filter(s, f);
}

static void add_bad_type_filter(struct damos *s)
{
	damos_add_filter(s, damos_new_filter(NR_DAMOS_FILTER_TYPES, true,
				true));
}

#define ANY_ACCESS	0, UINT_MAX, 0, UINT_MAX
#define ANY_SIZE	0, UINT64_MAX

/* A scheme that damon_validate_scheme() must refuse, and why; cases
 * that do not name an action use willneed (0), a valid one. */
struct invalid_scheme {
	const char *needle;
	enum damos_action action;
	struct damos_access_pattern pattern;
	struct damos_quota quota;
	struct damos_watermarks wmarks;
	void (*add)(struct damos *s);
};

static const struct invalid_scheme invalid_schemes[] = {
	{ .needle = "action", .action = NR_DAMOS_ACTIONS,
	  .pattern = { ANY_SIZE, ANY_ACCESS } },
	{ .needle = "pattern.min_sz_region", .pattern = { 8192, 4096,
	  ANY_ACCESS } },
	{ .needle = "pattern.min_nr_accesses", .pattern = { ANY_SIZE, 5, 4,
	  0, UINT_MAX } },
	{ .needle = "pattern.min_age_region", .pattern = { ANY_SIZE, 0,
	  UINT_MAX, 5, 4 } },
	{ .needle = "quota.reset_interval must be > 0 ms when a quota is set",
	  .pattern = { ANY_SIZE, ANY_ACCESS }, .quota = { .sz = 4096 } },
	{ .needle = "quota.reset_interval", .pattern = { ANY_SIZE, ANY_ACCESS },
	  .add = add_goal_1 },
	{ .needle = "wmarks.interval", .pattern = { ANY_SIZE, ANY_ACCESS },
	  .wmarks = { .get_metric = metric_zero, .high = 3, .mid = 2,
		      .low = 1 } },
	{ .needle = "high >= mid >= low", .pattern = { ANY_SIZE, ANY_ACCESS },
	  .wmarks = { .get_metric = metric_zero, .interval = 1000, .high = 3,
		      .mid = 4, .low = 1 } },
	{ .needle = "quota.goals[0].target_value",
	  .pattern = { ANY_SIZE, ANY_ACCESS },
	  .quota = { .reset_interval = 10 }, .add = add_goal_0 },
	{ .needle = "quota.goals[0].get_metric",
	  .pattern = { ANY_SIZE, ANY_ACCESS },
	  .quota = { .reset_interval = 10 }, .add = add_goal_no_callback },
	{ .needle = "filters[0].addr_range", .pattern = { ANY_SIZE, ANY_ACCESS },
	  .add = add_empty_addr_filter },
	{ .needle = "filters[0].type", .pattern = { ANY_SIZE, ANY_ACCESS },
	  .add = add_bad_type_filter },
};

static void test_validate(void)
{
	char err[DAMON_ERR_LEN];
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(invalid_schemes); i++) {
		const struct invalid_scheme *c = &invalid_schemes[i];
		struct damos *s = damon_new_scheme(&c->pattern, c->action, 0,
				&c->quota, &c->wmarks);

		if (c->add)
			c->add(s);
		err[0] = '\0';
		g_assert_cmpint(damon_validate_scheme(NULL, s, err,
					sizeof(err)), ==, -EINVAL);
		if (!strstr(err, c->needle))
			g_error("case %u: \"%s\" lacks \"%s\"", i, err,
					c->needle);
		/* no buffer is fine too */
		g_assert_cmpint(damon_validate_scheme(NULL, s, NULL, 0), ==,
				-EINVAL);
		damon_destroy_scheme(s);
	}
	/* the same scheme without the fault is valid */
	{
		struct damos *s = damon_new_scheme(&match_all, DAMOS_PAGEOUT,
				0, NULL, NULL);

		g_assert_cmpint(damon_validate_scheme(NULL, s, err,
					sizeof(err)), ==, 0);
		damon_destroy_scheme(s);
	}
}

static void test_validate_ops_support(void)
{
	struct damon_ctx *ctx = damon_new_ctx();
	struct damos *s = damon_new_scheme(&match_all, DAMOS_PAGEOUT, 0,
			NULL, NULL);
	char err[DAMON_ERR_LEN];

	ctx->ops.name = "no-pageout";
	g_assert_cmpint(damon_validate_scheme(ctx, s, err, sizeof(err)), ==,
			0);
	ctx->ops.action_supported = tops_no_pageout;
	g_assert_cmpint(damon_validate_scheme(ctx, s, err, sizeof(err)), ==,
			-EINVAL);
	g_assert_nonnull(strstr(err, "action pageout"));
	g_assert_nonnull(strstr(err, "no-pageout"));
	s->action = DAMOS_COLD;
	g_assert_cmpint(damon_validate_scheme(ctx, s, err, sizeof(err)), ==,
			0);
	/* statistics need nothing from the operations set */
	ctx->ops.action_supported = tops_nothing_supported;
	s->action = DAMOS_STAT;
	g_assert_cmpint(damon_validate_scheme(ctx, s, err, sizeof(err)), ==,
			0);
	damon_destroy_scheme(s);
	damon_destroy_ctx(ctx);
}

/* ---- access pattern ---- */

static void test_pattern_match(void)
{
	static const struct {
		uint64_t sz;
		unsigned int nr_accesses, age;
		bool tried;
	} cases[] = {
		/* pattern: sz [8K, 64K], nr_accesses [2, 5], age [3, 10] */
		{ 8 * KB, 2, 3, true },		/* all lower bounds */
		{ 64 * KB, 5, 10, true },	/* all upper bounds */
		{ 4 * KB, 3, 5, false },	/* too small */
		{ 128 * KB, 3, 5, false },	/* too big */
		{ 16 * KB, 1, 5, false },	/* too rarely accessed */
		{ 16 * KB, 6, 5, false },	/* too often accessed */
		{ 16 * KB, 3, 2, false },	/* too young */
		{ 16 * KB, 3, 11, false },	/* too old */
	};
	const struct damos_access_pattern p = {
		.min_sz_region = 8 * KB, .max_sz_region = 64 * KB,
		.min_nr_accesses = 2, .max_nr_accesses = 5,
		.min_age_region = 3, .max_age_region = 10,
	};
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		const uint64_t in[][2] = { { 0, cases[i].sz } };
		struct tu_clock clk;
		struct damon_ctx *ctx = new_ctx(&clk);
		struct damon_target *t = tu_add_target(ctx, in, 1);
		struct damos *s = damon_new_scheme(&p, DAMOS_STAT, 0, NULL,
				NULL);
		struct damon_region *r = damon_first_region(t);

		damon_add_scheme(ctx, s);
		init_passes(ctx);
		/* nr_accesses_bp decides; the raw count must not */
		r->nr_accesses = 0;
		r->nr_accesses_bp = cases[i].nr_accesses * 10000 + 9999;
		r->age = cases[i].age;
		run_pass(ctx, 0);
		if (s->stat.nr_tried != (cases[i].tried ? 1 : 0))
			g_error("case %u: tried %" G_GUINT64_FORMAT, i,
					s->stat.nr_tried);
		damon_destroy_ctx(ctx);
	}
}

/* ---- quota: size, continuation, time ---- */

static void test_quota_sz_window(void)
{
	const uint64_t in[][2] = { { 0, 1 * MB } };
	const struct damos_quota q = { .sz = 64 * KB, .reset_interval = 10 };
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *s;
	unsigned int w;

	tu_add_target(ctx, in, 1);
	s = add_scheme(ctx, DAMOS_PAGEOUT, &q);
	init_passes(ctx);
	for (w = 0; w < 16; w++) {
		const uint64_t want[][2] = { { w * 64 * KB, (w + 1) * 64 * KB } };

		run_pass(ctx, w * 10000);
		assert_rec(w, want, 1);
		/* a second pass in the same window finds the quota spent */
		run_pass(ctx, w * 10000 + 9999);
		assert_rec(w, want, 1);
		g_assert_cmpuint(s->quota.esz, ==, 64 * KB);
		g_assert_cmpuint(s->stat.qt_exceeds, ==, w);
		g_assert_cmpuint(s->stat.sz_applied, ==, (w + 1) * 64 * KB);
		tu_assert_invariants(ctx);
	}
	/* everything was covered once: the next window starts over */
	run_pass(ctx, 16 * 10000);
	{
		const uint64_t want[][2] = { { 0, 64 * KB } };

		assert_rec(16, want, 1);
	}
	g_assert_cmpuint(s->stat.qt_exceeds, ==, 16);
	damon_destroy_ctx(ctx);
}

static void test_quota_sz_unaligned(void)
{
	const uint64_t in[][2] = { { 0, 64 * KB } };
	/* 10000 bytes: 8 KiB fit, the 1808 left cannot buy a page */
	const struct damos_quota q = { .sz = 10000, .reset_interval = 10 };
	const uint64_t want[][2] = {
		{ 0, 8 * KB }, { 8 * KB, 16 * KB }, { 16 * KB, 24 * KB },
	};
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *s;

	tu_add_target(ctx, in, 1);
	s = add_scheme(ctx, DAMOS_PAGEOUT, &q);
	init_passes(ctx);
	run_pass(ctx, 0);
	run_pass(ctx, 10000);
	run_pass(ctx, 20000);
	assert_rec(0, want, 3);
	g_assert_cmpuint(s->stat.qt_exceeds, ==, 2);
	damon_destroy_ctx(ctx);
}

static void test_quota_continue_across_targets(void)
{
	const uint64_t in0[][2] = { { 0, 64 * KB } };
	const uint64_t in1[][2] = { { 1 * MB, 1 * MB + 64 * KB } };
	const struct damos_quota q = { .sz = 64 * KB, .reset_interval = 10 };
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	unsigned int w;

	tu_add_target(ctx, in0, 1);
	tu_add_target(ctx, in1, 1);
	add_scheme(ctx, DAMOS_PAGEOUT, &q);
	init_passes(ctx);
	/* a target used up moves the charge point on; no window is idle */
	for (w = 0; w < 4; w++) {
		run_pass(ctx, w * 10000);
		g_assert_cmpuint(tops.nr_rec, ==, w + 1);
		g_assert_cmpuint(tops.rec[w].tid, ==, w % 2);
	}
	damon_destroy_ctx(ctx);
}

static void test_quota_charge_target_destroyed(void)
{
	const uint64_t in0[][2] = { { 0, 64 * KB } };
	const uint64_t in1[][2] = { { 1 * MB, 2 * MB } };
	const struct damos_quota q = { .sz = 128 * KB, .reset_interval = 10 };
	const uint64_t want[][2] = { { 0, 64 * KB }, { 1 * MB, 1 * MB + 64 * KB },
		{ 0, 64 * KB } };
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damon_target *t0, *t1;
	struct damos *s;

	t0 = tu_add_target(ctx, in0, 1);
	t1 = tu_add_target(ctx, in1, 1);
	s = add_scheme(ctx, DAMOS_PAGEOUT, &q);
	init_passes(ctx);
	run_pass(ctx, 0);
	g_assert_true(s->quota.charge_target_from == t1);
	damos_forget_target(ctx, t0);
	g_assert_true(s->quota.charge_target_from == t1);
	damos_forget_target(ctx, t1);
	g_assert_null(s->quota.charge_target_from);
	/* restore it: destroying the target must cope either way */
	s->quota.charge_target_from = t1;
	s->quota.charge_addr_from = 1 * MB + 64 * KB;
	damon_destroy_target(t1, ctx);
	/* the lost charge point must not block the scheme */
	run_pass(ctx, 10000);
	assert_rec(0, want, 3);
	damon_destroy_ctx(ctx);
}

static void test_quota_ms(void)
{
	uint64_t in[16][2];
	const struct damos_quota q = { .ms = 1, .reset_interval = 100 };
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *s;
	unsigned int i;

	for (i = 0; i < 16; i++) {
		in[i][0] = i * 64 * KB;
		in[i][1] = (i + 1) * 64 * KB;
	}
	tu_add_target(ctx, (const uint64_t (*)[2])in, 16);
	s = add_scheme(ctx, DAMOS_PAGEOUT, &q);
	tops.apply_cost_us = 1000;	/* 64 KiB per ms */
	init_passes(ctx);
	/* nothing measured yet: 4 MiB per ms is assumed */
	run_pass(ctx, 0);
	g_assert_cmpuint(s->quota.esz, ==, 4 * MB);
	g_assert_cmpuint(tops.nr_rec, ==, 16);
	g_assert_cmpuint(s->quota.total_charged_ns, ==, 16 * 1000000ULL);
	/* 1 MiB took 16 ms: 1 ms buys 64 KiB */
	run_pass(ctx, 100000);
	g_assert_cmpuint(s->quota.esz, ==, 64 * KB);
	g_assert_cmpuint(tops.nr_rec, ==, 17);
	run_pass(ctx, 200000);
	g_assert_cmpuint(s->quota.esz, ==, 64 * KB);
	g_assert_cmpuint(tops.nr_rec, ==, 18);
	g_assert_cmphex(tops.rec[17].start, ==, 64 * KB);
	g_assert_cmpuint(s->stat.qt_exceeds, ==, 1);
	/* the tighter of sz and ms wins */
	s->quota.sz = 16 * KB;
	run_pass(ctx, 300000);
	g_assert_cmpuint(s->quota.esz, ==, 16 * KB);
	damon_destroy_ctx(ctx);
}

/* ---- quota: prioritisation ---- */

typedef int (*score_fn)(struct damon_ctx *, struct damon_target *,
		struct damon_region *, struct damos *);

/*
 * A prioritisation case: regions (with {nr_accesses, age} each), a
 * quota, and the regions the quota must pick, in address order.  Max
 * nr_accesses is 20 with the default attrs; ages are in 0.1 s units.
 */
struct prio_case {
	score_fn score;
	struct damos_quota q;
	unsigned int nr;
	uint64_t in[8][2];
	unsigned int acc[8][2];
	unsigned int nr_want;
	uint64_t want[2][2];
};

#define PRIO_8_REGIONS 8, { \
	{ 0, 64 * KB }, { 64 * KB, 128 * KB }, { 128 * KB, 192 * KB }, \
	{ 192 * KB, 256 * KB }, { 256 * KB, 320 * KB }, \
	{ 320 * KB, 384 * KB }, { 384 * KB, 448 * KB }, \
	{ 448 * KB, 512 * KB } }

static const struct prio_case prio_cases[] = {
	{	/* hot by frequency: the two hottest */
		tops_hot_score, { .sz = 128 * KB, .reset_interval = 10,
			.weight_nr_accesses = 1 }, PRIO_8_REGIONS,
		{ { 3, 0 }, { 17, 0 }, { 5, 0 }, { 11, 0 },
		  { 19, 0 }, { 2, 0 }, { 13, 0 }, { 7, 0 } },
		2, { { 64 * KB, 128 * KB }, { 256 * KB, 320 * KB } },
	},
	{	/* hot by age at one frequency: 1..64 s, distinct log2 */
		tops_hot_score, { .sz = 128 * KB, .reset_interval = 10,
			.weight_age = 1 }, PRIO_8_REGIONS,
		{ { 10, 10 }, { 10, 80 }, { 10, 20 }, { 10, 160 },
		  { 10, 40 }, { 10, 320 }, { 10, 0 }, { 10, 640 } },
		2, { { 320 * KB, 384 * KB }, { 448 * KB, 512 * KB } },
	},
	{	/* cold: the longest idle is the coldest */
		tops_cold_score, { .sz = 128 * KB, .reset_interval = 10,
			.weight_nr_accesses = 1, .weight_age = 1 },
		PRIO_8_REGIONS,
		{ { 0, 10 }, { 0, 80 }, { 0, 20 }, { 0, 160 },
		  { 0, 40 }, { 0, 320 }, { 5, 640 }, { 0, 640 } },
		2, { { 320 * KB, 384 * KB }, { 448 * KB, 512 * KB } },
	},
	{	/* size alone: the biggest of equally cold regions */
		tops_cold_score, { .sz = 256 * KB, .reset_interval = 10,
			.weight_sz = 1 },
		4, { { 0, 64 * KB }, { 64 * KB, 320 * KB },
		     { 320 * KB, 336 * KB }, { 336 * KB, 464 * KB } },
		{ { 0, 0 } },
		1, { { 64 * KB, 320 * KB } },
	},
};

static void test_prio(gconstpointer data)
{
	const struct prio_case *c = data;
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damon_target *t = tu_add_target(ctx, c->in, c->nr);
	unsigned int i;

	ctx->ops.get_scheme_score = c->score;
	for (i = 0; i < c->nr; i++)
		set_access(t, i, c->acc[i][0], c->acc[i][1]);
	add_scheme(ctx, DAMOS_PAGEOUT, &c->q);
	init_passes(ctx);
	run_pass(ctx, 0);
	assert_rec(0, c->want, c->nr_want);
	damon_destroy_ctx(ctx);
}

/* ---- quota: goal tuner ---- */

static uint64_t metric_value;
static unsigned int nr_metric_calls;

static uint64_t metric_read(void *data)
{
	nr_metric_calls++;
	return metric_value;
}

enum tune_dir { GROWS, SHRINKS, STAYS, AT_MIN };

static void assert_tuned(enum tune_dir dir, uint64_t last, uint64_t esz)
{
	switch (dir) {
	case GROWS:
		g_assert_cmpuint(esz, >, last);
		break;
	case SHRINKS:
		g_assert_cmpuint(esz, <, last);
		break;
	case STAYS:
		g_assert_cmpuint(esz, ==, last);
		break;
	case AT_MIN:
		g_assert_cmpuint(esz, ==, 1);
		break;
	}
}

static void test_goal_tuner(void)
{
	static const struct {
		uint64_t current;	/* of target 100, after warm-up */
		enum tune_dir dir;
	} cases[] = {
		{ 50, GROWS }, { 99, GROWS }, { 100, STAYS },
		{ 101, SHRINKS }, { 150, SHRINKS }, { 200, AT_MIN },
		{ 1000, AT_MIN },
	};
	const uint64_t in[][2] = { { 0, 64 * KB } };
	const struct damos_quota q = { .reset_interval = 10 };
	unsigned int i, w;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct tu_clock clk;
		struct damon_ctx *ctx = new_ctx(&clk);
		struct damos *s = add_scheme(ctx, DAMOS_STAT, &q);
		struct damos_quota_goal *g = damos_new_quota_goal(
				DAMOS_QUOTA_USER_INPUT, 100);
		uint64_t last;

		tu_add_target(ctx, in, 1);
		damos_add_quota_goal(&s->quota, g);
		init_passes(ctx);
		/* far below the goal: the quota doubles every window */
		for (w = 0; w < 16; w++) {
			if (w == 12)
				g->current_value = cases[i].current;
			last = s->quota.esz;
			run_pass(ctx, w * 10000);
			assert_tuned(w < 12 ? GROWS : cases[i].dir, last,
					s->quota.esz);
		}
		damon_destroy_ctx(ctx);
	}
}

static void test_goal_callback_and_sz(void)
{
	const uint64_t in[][2] = { { 0, 64 * KB } };
	const struct damos_quota q = { .reset_interval = 10, .sz = 8 * KB };
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *s = add_scheme(ctx, DAMOS_STAT, &q);
	struct damos_quota_goal *g = damos_new_quota_goal(
			DAMOS_QUOTA_METRIC_CALLBACK, 100);
	unsigned int w;

	g->get_metric = metric_read;
	tu_add_target(ctx, in, 1);
	damos_add_quota_goal(&s->quota, g);
	metric_value = 0;
	nr_metric_calls = 0;
	init_passes(ctx);
	for (w = 0; w < 20; w++) {
		run_pass(ctx, w * 10000);
		/* a pass inside the window does not read the metric */
		run_pass(ctx, w * 10000 + 5000);
		g_assert_cmpuint(nr_metric_calls, ==, w + 1);
		g_assert_cmpuint(s->quota.esz, <=, 8 * KB);
	}
	/* the goal tuner wants more, but sz caps it */
	g_assert_cmpuint(s->quota.esz, ==, 8 * KB);
	metric_value = 300;
	run_pass(ctx, w * 10000);
	g_assert_cmpuint(s->quota.esz, ==, 1);
	g_assert_cmpuint(g->current_value, ==, 300);
	damon_destroy_ctx(ctx);
}

/* ---- filters ---- */

static struct damos_filter *add_addr_filter(struct damos *s, bool matching,
		bool allow, uint64_t start, uint64_t end)
{
	struct damos_filter *f = damos_new_filter(DAMOS_FILTER_TYPE_ADDR,
			matching, allow);

	g_assert_nonnull(f);
	f->addr_range.start = start;
	f->addr_range.end = end;
	damos_add_filter(s, f);
	return f;
}

static void test_filter_addr(void)
{
	static const struct {
		bool matching, allow;
		uint64_t start, end;	/* filter range */
		uint64_t want[2][2];
		unsigned int nr_want;
	} cases[] = {
		/*
		 * region  |-------------------------------|  [0, 1M)
		 * filter           |--------|                [256K, 512K)
		 */
		{ true, true, 256 * KB, 512 * KB,
		  { { 256 * KB, 512 * KB } }, 1 },
		{ true, false, 256 * KB, 512 * KB,
		  { { 0, 256 * KB }, { 512 * KB, 1 * MB } }, 2 },
		{ false, true, 256 * KB, 512 * KB,
		  { { 0, 256 * KB }, { 512 * KB, 1 * MB } }, 2 },
		{ false, false, 256 * KB, 512 * KB,
		  { { 256 * KB, 512 * KB } }, 1 },
		/* boundaries are aligned down to min_sz_region */
		{ true, true, 256 * KB + 100, 512 * KB + 100,
		  { { 256 * KB, 512 * KB } }, 1 },
		/* a range covering the region does not split it */
		{ true, true, 0, 2 * MB, { { 0, 1 * MB } }, 1 },
	};
	const uint64_t in[][2] = { { 0, 1 * MB } };
	const uint64_t split[][2] = { { 0, 256 * KB }, { 256 * KB, 512 * KB },
		{ 512 * KB, 1 * MB } };
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct tu_clock clk;
		struct damon_ctx *ctx = new_ctx(&clk);
		struct damon_target *t = tu_add_target(ctx, in, 1);
		struct damos *s = add_scheme(ctx, DAMOS_STAT, NULL);

		add_addr_filter(s, cases[i].matching, cases[i].allow,
				cases[i].start, cases[i].end);
		init_passes(ctx);
		run_pass(ctx, 0);
		assert_rec(0, cases[i].want, cases[i].nr_want);
		if (cases[i].end < 1 * MB)
			tu_assert_regions(t, split, 3);
		tu_assert_invariants(ctx);
		damon_destroy_ctx(ctx);
	}
}

/* Filter spec for the table below: type target on index @idx. */
struct tf {
	unsigned int idx;
	bool matching, allow;
};

static void test_filter_target_default(void)
{
	static const struct {
		struct tf f[2];
		unsigned int nr_f;
		bool want[2];	/* target 0, target 1 applied */
	} cases[] = {
		{ { { 0 } }, 0, { true, true } },	/* no filter: all */
		{ { { 1, true, true } }, 1, { false, true } },
		{ { { 1, true, false } }, 1, { true, false } },
		/* "allow all but t1" alone: the rest is rejected */
		{ { { 1, false, true } }, 1, { true, false } },
		{ { { 1, false, false } }, 1, { false, true } },
		{ { { 0, true, false }, { 1, true, true } }, 2,
		  { false, true } },
		/* t0 allowed by the first; last rejects, so t1 is allowed */
		{ { { 0, true, true }, { 0, true, false } }, 2,
		  { true, true } },
	};
	const uint64_t in0[][2] = { { 0, 64 * KB } };
	const uint64_t in1[][2] = { { 1 * MB, 1 * MB + 64 * KB } };
	unsigned int i, j;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct tu_clock clk;
		struct damon_ctx *ctx = new_ctx(&clk);
		struct damos *s = add_scheme(ctx, DAMOS_STAT, NULL);
		bool got[2] = { false, false };

		tu_add_target(ctx, in0, 1);
		tu_add_target(ctx, in1, 1);
		for (j = 0; j < cases[i].nr_f; j++) {
			struct damos_filter *f = damos_new_filter(
					DAMOS_FILTER_TYPE_TARGET,
					cases[i].f[j].matching,
					cases[i].f[j].allow);

			f->target_idx = cases[i].f[j].idx;
			damos_add_filter(s, f);
		}
		init_passes(ctx);
		run_pass(ctx, 0);
		for (j = 0; j < tops.nr_rec; j++)
			got[tops.rec[j].tid] = true;
		if (got[0] != cases[i].want[0] || got[1] != cases[i].want[1])
			g_error("case %u: applied t0 %d t1 %d", i, got[0],
					got[1]);
		damon_destroy_ctx(ctx);
	}
}

static void test_filter_with_quota(void)
{
	const uint64_t in[][2] = { { 0, 1 * MB } };
	const struct damos_quota q = { .sz = 64 * KB, .reset_interval = 10 };
	const uint64_t want[][2] = { { 256 * KB, 320 * KB },
		{ 320 * KB, 384 * KB }, { 384 * KB, 448 * KB },
		{ 448 * KB, 512 * KB }, { 256 * KB, 320 * KB } };
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *s = add_scheme(ctx, DAMOS_PAGEOUT, &q);
	unsigned int w;

	tu_add_target(ctx, in, 1);
	add_addr_filter(s, true, true, 256 * KB, 512 * KB);
	init_passes(ctx);
	/* rejected memory is not charged; the allowed part is walked */
	for (w = 0; w < 4; w++)
		run_pass(ctx, w * 10000);
	assert_rec(0, want, 4);
	/*
	 * The window after 512K was reached continues there, as Linux
	 * DAMOS does, and finds only rejected memory; the one after that
	 * starts over.
	 */
	run_pass(ctx, 40000);
	assert_rec(0, want, 4);
	run_pass(ctx, 50000);
	assert_rec(0, want, 5);
	damon_destroy_ctx(ctx);
}

/* ---- stats and the snapshot ---- */

static void test_stats(void)
{
	static const struct {
		enum damos_action action;
		enum apply_ret ret;
		bool no_ops;
		uint64_t nr_applied, sz_applied;
		unsigned int age_after;
	} cases[] = {
		{ DAMOS_PAGEOUT, RET_FULL, false, 4, 256 * KB, 0 },
		{ DAMOS_PAGEOUT, RET_HALF, false, 4, 128 * KB, 0 },
		{ DAMOS_PAGEOUT, RET_ZERO, false, 0, 0, 0 },
		{ DAMOS_COLD, RET_FULL, true, 0, 0, 0 },
		{ DAMOS_STAT, RET_FULL, false, 4, 256 * KB, 7 },
	};
	const uint64_t in[][2] = { { 0, 64 * KB }, { 64 * KB, 128 * KB },
		{ 128 * KB, 192 * KB }, { 192 * KB, 256 * KB },
		{ 256 * KB, 320 * KB } };
	unsigned int i, j;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct tu_clock clk;
		struct damon_ctx *ctx = new_ctx(&clk);
		struct damon_target *t = tu_add_target(ctx, in, 5);
		struct damos_access_pattern p = match_all;
		struct damos *s;

		p.max_nr_accesses = 3;	/* the last region is too hot */
		s = damon_new_scheme(&p, cases[i].action, 0, NULL, NULL);
		damon_add_scheme(ctx, s);
		for (j = 0; j < 5; j++)
			set_access(t, j, j == 4 ? 4 : 1, 7);
		tops.ret = cases[i].ret;
		if (cases[i].no_ops)
			ctx->ops.apply_scheme = NULL;
		init_passes(ctx);
		run_pass(ctx, 0);
		g_assert_cmpuint(s->stat.nr_tried, ==, 4);
		g_assert_cmpuint(s->stat.sz_tried, ==, 256 * KB);
		g_assert_cmpuint(s->stat.nr_applied, ==, cases[i].nr_applied);
		g_assert_cmpuint(s->stat.sz_applied, ==, cases[i].sz_applied);
		g_assert_cmpuint(s->stat.qt_exceeds, ==, 0);
		g_assert_cmpuint(nth_region(t, 0)->age, ==,
				cases[i].age_after);
		g_assert_cmpuint(nth_region(t, 4)->age, ==, 7);
		damon_destroy_ctx(ctx);
	}
}

static void test_tried_regions(void)
{
	const uint64_t in0[][2] = { { 0, 64 * KB }, { 64 * KB, 128 * KB } };
	const uint64_t in1[][2] = { { 1 * MB, 1 * MB + 64 * KB } };
	struct damos_access_pattern p = match_all;
	const struct damos_tried_region *tr;
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damon_target *t0 = tu_add_target(ctx, in0, 2);
	struct damon_target *t1 = tu_add_target(ctx, in1, 1);
	struct damos *s;
	size_t nr;

	p.min_nr_accesses = 2;
	s = damon_new_scheme(&p, DAMOS_STAT, 0, NULL, NULL);
	damon_add_scheme(ctx, s);
	set_access(t0, 0, 1, 3);
	set_access(t0, 1, 2, 4);
	set_access(t1, 0, 5, 6);
	init_passes(ctx);
	run_pass(ctx, 0);
	/* nothing was published while the first pass ran */
	g_assert_cmpuint(tops.rec[0].snapshot_nr, ==, 0);
	tr = damos_tried_regions(s, &nr);
	g_assert_cmpuint(nr, ==, 2);
	g_assert_cmphex(tr[0].ar.start, ==, 64 * KB);
	g_assert_cmphex(tr[0].ar.end, ==, 128 * KB);
	g_assert_cmpuint(tr[0].nr_accesses, ==, 2);
	g_assert_cmpuint(tr[0].age, ==, 4);
	g_assert_cmpuint(tr[0].target_id, ==, 0);
	g_assert_cmphex(tr[1].ar.start, ==, 1 * MB);
	g_assert_cmpuint(tr[1].nr_accesses, ==, 5);
	g_assert_cmpuint(tr[1].target_id, ==, 1);
	/* the next pass sees the old snapshot, then replaces it */
	set_access(t0, 1, 0, 4);
	run_pass(ctx, 100000);
	g_assert_cmpuint(tops.rec[2].snapshot_nr, ==, 2);
	tr = damos_tried_regions(s, &nr);
	g_assert_cmpuint(nr, ==, 1);
	g_assert_cmphex(tr[0].ar.start, ==, 1 * MB);
	/* a pass that tries nothing publishes an empty snapshot */
	set_access(t1, 0, 0, 4);
	run_pass(ctx, 200000);
	g_assert_null(damos_tried_regions(s, &nr));
	g_assert_cmpuint(nr, ==, 0);
	damon_destroy_ctx(ctx);
}

static void test_pieces_seen_once(void)
{
	const uint64_t in[][2] = { { 0, 256 * KB } };
	const struct damos_quota q = { .sz = 64 * KB, .reset_interval = 10 };
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *a = add_scheme(ctx, DAMOS_PAGEOUT, &q);
	struct damos *b = add_scheme(ctx, DAMOS_STAT, NULL);

	tu_add_target(ctx, in, 1);
	add_addr_filter(b, true, false, 96 * KB, 128 * KB);
	init_passes(ctx);
	run_pass(ctx, 0);
	/* a's quota and b's filter both split; b sees all but its hole */
	g_assert_cmpuint(a->stat.sz_tried, ==, 64 * KB);
	g_assert_cmpuint(b->stat.sz_tried, ==, 224 * KB);
	g_assert_cmpuint(b->stat.nr_tried, ==, 3);
	tu_assert_invariants(ctx);
	damon_destroy_ctx(ctx);
}

/* ---- watermarks ---- */

static uint64_t wmark_metric;

static uint64_t wmark_read(void *data)
{
	return *(uint64_t *)data;
}

static const struct damos_watermarks test_wmarks = {
	.get_metric = wmark_read, .data = &wmark_metric,
	.interval = 5000, .high = 800, .mid = 500, .low = 200,
};

static void test_wmarks_wait(void)
{
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *s, *plain;

	g_assert_cmpuint(kdamond_wmarks_wait_us(ctx), ==, 0);
	s = damon_new_scheme(&match_all, DAMOS_STAT, 0, NULL, &test_wmarks);
	damon_add_scheme(ctx, s);
	init_passes(ctx);
	wmark_metric = 900;		/* above high */
	g_assert_cmpuint(kdamond_wmarks_wait_us(ctx), ==, 5000);
	g_assert_false(s->wmarks.activated);
	/* not checked again before its interval */
	wmark_metric = 300;
	ctx->now_us = 2000;
	g_assert_cmpuint(kdamond_wmarks_wait_us(ctx), ==, 3000);
	g_assert_false(s->wmarks.activated);
	ctx->now_us = 5000;
	g_assert_cmpuint(kdamond_wmarks_wait_us(ctx), ==, 0);
	g_assert_true(s->wmarks.activated);
	wmark_metric = 100;		/* below low */
	ctx->now_us = 10000;
	g_assert_cmpuint(kdamond_wmarks_wait_us(ctx), ==, 5000);
	/* between mid and high, inactive stays inactive */
	wmark_metric = 600;
	ctx->now_us = 15000;
	g_assert_cmpuint(kdamond_wmarks_wait_us(ctx), ==, 5000);
	g_assert_false(s->wmarks.activated);
	/* a scheme without watermarks keeps the context going */
	plain = damon_new_scheme(&match_all, DAMOS_STAT, 0, NULL, NULL);
	damon_add_scheme(ctx, plain);
	ctx->now_us = 16000;
	g_assert_cmpuint(kdamond_wmarks_wait_us(ctx), ==, 0);
	g_assert_false(s->wmarks.activated);
	damon_destroy_ctx(ctx);
}

/* A context of three stable 64 KiB regions, driven by the step API. */
static struct damon_ctx *new_step_ctx(struct tu_clock *clk)
{
	const struct damon_attrs attrs = {
		.sample_interval = 1000, .aggr_interval = 10000,
		.ops_update_interval = 100000,
		.min_nr_regions = 3, .max_nr_regions = 3,
	};
	const uint64_t in[][2] = { { 0, 192 * KB } };
	struct damon_ctx *ctx = new_ctx(clk);

	g_assert_cmpint(damon_set_attrs(ctx, &attrs, NULL, 0), ==, 0);
	tu_add_target(ctx, in, 1);
	return ctx;
}

static void test_wmarks_pause_resume(void)
{
	struct tu_clock clk;
	struct damon_ctx *ctx = new_step_ctx(&clk);
	struct damos *s = damon_new_scheme(&match_all, DAMOS_STAT, 0, NULL,
			&test_wmarks);
	unsigned int nr_prepare, nr_check;

	damon_add_scheme(ctx, s);
	wmark_metric = 900;
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	tu_run_until(ctx, &clk, 50000);
	g_assert_false(s->wmarks.activated);
	g_assert_cmpuint(tops.nr_prepare, ==, 0);
	g_assert_cmpuint(tops.nr_check, ==, 0);
	/* between mid and high: still paused */
	wmark_metric = 600;
	tu_run_until(ctx, &clk, 100000);
	g_assert_cmpuint(tops.nr_prepare, ==, 0);
	/* between low and mid: monitoring resumes, the scheme applies */
	wmark_metric = 300;
	tu_run_until(ctx, &clk, 150000);
	g_assert_true(s->wmarks.activated);
	g_assert_cmpuint(tops.nr_prepare, >, 30);
	g_assert_cmpuint(tops.nr_check, >, 30);
	g_assert_cmpuint(s->stat.nr_tried, >, 0);
	/* back between mid and high: an active scheme stays active */
	wmark_metric = 600;
	nr_check = tops.nr_check;
	tu_run_until(ctx, &clk, 200000);
	g_assert_cmpuint(tops.nr_check, >, nr_check + 30);
	/* below low: paused again after the next check */
	wmark_metric = 100;
	tu_run_until(ctx, &clk, 210000);
	g_assert_false(s->wmarks.activated);
	nr_prepare = tops.nr_prepare;
	nr_check = tops.nr_check;
	tu_run_until(ctx, &clk, 400000);
	g_assert_cmpuint(tops.nr_prepare, ==, nr_prepare);
	g_assert_cmpuint(tops.nr_check, ==, nr_check);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
}

/* ---- apply intervals ---- */

static void count_passes(const struct damos *s, uint64_t *passes,
		unsigned int *nr)
{
	unsigned int i;

	*nr = 0;
	for (i = 0; i < tops.nr_rec; i++) {
		if (tops.rec[i].s != s)
			continue;
		if (*nr && passes[*nr - 1] == tops.rec[i].passed)
			continue;
		passes[(*nr)++] = tops.rec[i].passed;
	}
}

static void test_apply_interval(void)
{
	struct tu_clock clk;
	struct damon_ctx *ctx = new_step_ctx(&clk);
	struct damos *every = damon_new_scheme(&match_all, DAMOS_STAT, 0,
			NULL, NULL);
	struct damos *other = damon_new_scheme(&match_all, DAMOS_STAT, 20000,
			NULL, NULL);
	uint64_t passes[64];
	unsigned int nr, i;

	damon_add_scheme(ctx, every);
	damon_add_scheme(ctx, other);
	g_assert_cmpint(damon_ctx_begin(ctx, 0), ==, 0);
	tu_run_until(ctx, &clk, 100000);
	/* one pass per aggregation (every 10 samples) */
	count_passes(every, passes, &nr);
	g_assert_cmpuint(nr, ==, 10);
	for (i = 0; i < nr; i++)
		g_assert_cmpuint(passes[i], ==, (i + 1) * 10);
	/* twice the aggregation interval: every other aggregation */
	count_passes(other, passes, &nr);
	g_assert_cmpuint(nr, ==, 5);
	for (i = 0; i < nr; i++)
		g_assert_cmpuint(passes[i], ==, (i + 1) * 20);
	g_assert_cmpuint(every->stat.nr_tried, ==, 30);
	g_assert_cmpuint(other->stat.nr_tried, ==, 15);
	damon_ctx_end(ctx);
	damon_destroy_ctx(ctx);
}

static void test_attrs_changed(void)
{
	struct tu_clock clk;
	struct damon_ctx *ctx = new_ctx(&clk);
	struct damos *s = damon_new_scheme(&match_all, DAMOS_STAT, 60000,
			NULL, NULL);
	struct damon_attrs old = ctx->attrs;

	damon_add_scheme(ctx, s);
	init_passes(ctx);
	g_assert_cmpuint(s->next_apply_sis, ==, 12);	/* 60 ms / 5 ms */
	ctx->passed_sample_intervals = 100;
	ctx->attrs.sample_interval = 10000;
	damos_attrs_changed(ctx, &old);
	g_assert_cmpuint(s->next_apply_sis, ==, 106);
	damon_destroy_ctx(ctx);
}

/* ---- priority scores (src/ops/common.c) ---- */

static int score_of(bool hot, unsigned int nr_accesses, unsigned int age,
		uint64_t sz, const struct damos_quota *q)
{
	struct damon_ctx *ctx = damon_new_ctx();
	struct damon_target *t = damon_new_target(NULL);
	struct damon_region *r = damon_new_region(0, sz);
	struct damos *s = damon_new_scheme(&match_all, DAMOS_STAT, 0, q,
			NULL);
	int score;

	/* 1 s aggregations, so that age is in seconds; max 200 accesses */
	ctx->attrs.aggr_interval = 1000000;
	damon_add_region(r, t);
	r->nr_accesses_bp = nr_accesses * 10000;
	r->age = age;
	score = hot ? damon_hot_score(ctx, r, s) : damon_cold_score(ctx, r, s);
	g_assert_cmpint(score, >=, 0);
	g_assert_cmpint(score, <=, DAMOS_MAX_SCORE);
	damon_destroy_scheme(s);
	damon_destroy_target(t, NULL);
	damon_destroy_ctx(ctx);
	return score;
}

static void test_scores(void)
{
	static const unsigned int acc[][2] = {
		{ 0, 0 }, { 0, 1 }, { 0, 1000 }, { 1, 0 }, { 100, 8 },
		{ 200, 1u << 20 }, { 5000, 3 },
	};
	const struct damos_quota fa = { .weight_nr_accesses = 3,
		.weight_age = 1 };
	const struct damos_quota sz_only = { .weight_sz = 1 };
	const struct damos_quota none = { 0 };
	unsigned int i;

	/* without a size weight, cold is exactly the kernel's complement */
	for (i = 0; i < G_N_ELEMENTS(acc); i++)
		g_assert_cmpint(score_of(false, acc[i][0], acc[i][1], 4096, &fa),
				==, DAMOS_MAX_SCORE -
				score_of(true, acc[i][0], acc[i][1], 4096, &fa));
	/* kernel values: 100 of 200 accesses, 8 s old */
	g_assert_cmpint(score_of(true, 100, 8, 4096, &fa), ==,
			(3 * 50 + 1 * ((32 + 4) * 100 / 64)) / 4 * 99 / 100);
	/* frequency orders; a long idle region is colder than a young one */
	g_assert_cmpint(score_of(true, 150, 0, 4096, &fa), >,
			score_of(true, 50, 0, 4096, &fa));
	g_assert_cmpint(score_of(true, 0, 1000, 4096, &fa), <,
			score_of(true, 0, 1, 4096, &fa));
	/* size weight: bigger first, for both scores */
	g_assert_cmpint(score_of(true, 0, 0, 1 * MB, &sz_only), >,
			score_of(true, 0, 0, 64 * KB, &sz_only));
	g_assert_cmpint(score_of(false, 0, 0, 1 * MB, &sz_only), >,
			score_of(false, 0, 0, 64 * KB, &sz_only));
	/* no weights at all: the kernel's 0 and DAMOS_MAX_SCORE */
	g_assert_cmpint(score_of(true, 100, 8, 4096, &none), ==, 0);
	g_assert_cmpint(score_of(false, 100, 8, 4096, &none), ==,
			DAMOS_MAX_SCORE);
}

/* ---- commit and operations-level filters ---- */

/*
 * damos_commit() takes the new parameters, goals and filters and keeps
 * the statistics, the quota's state and the user's priv.
 */
static void test_commit(void)
{
	const struct damos_quota q = { .sz = 64 * KB, .reset_interval = 10 };
	const struct damos_access_pattern p = {
		.min_sz_region = 4096, .max_sz_region = 8192,
		.min_nr_accesses = 1, .max_nr_accesses = 2,
		.min_age_region = 3, .max_age_region = 4,
	};
	struct damos *s = damon_new_scheme(&match_all, DAMOS_STAT, 0, &q,
			NULL);
	struct damos *n = damon_new_scheme(&p, DAMOS_MIGRATE_COLD, 5000, NULL,
			NULL);
	struct damos_filter *f;
	struct damos_quota_goal *g;
	int priv, nr = 0;

	damos_add_filter(s, damos_new_filter(DAMOS_FILTER_TYPE_ADDR, true,
				true));
	damos_add_quota_goal(&s->quota, damos_new_quota_goal(
				DAMOS_QUOTA_USER_INPUT, 7));
	s->stat.sz_tried = 1234;
	s->stat.qt_exceeds = 5;
	s->quota.esz_bp = 99999;
	s->priv = &priv;
	n->target_nid = 1;
	damos_add_filter(n, damos_new_filter(DAMOS_FILTER_TYPE_YOUNG, true,
				false));
	damos_add_filter(n, damos_new_filter(DAMOS_FILTER_TYPE_ADDR, false,
				true));
	damos_add_quota_goal(&n->quota, damos_new_quota_goal(
				DAMOS_QUOTA_USER_INPUT, 42));

	damos_commit(s, n);
	g_assert_cmpint(s->action, ==, DAMOS_MIGRATE_COLD);
	g_assert_cmpint(s->target_nid, ==, 1);
	g_assert_cmpuint(s->apply_interval_us, ==, 5000);
	g_assert_cmpmem(&s->pattern, sizeof(p), &p, sizeof(p));
	g_assert_cmpuint(s->quota.sz, ==, 0);
	g_assert_cmpuint(s->stat.sz_tried, ==, 1234);
	g_assert_cmpuint(s->stat.qt_exceeds, ==, 5);
	g_assert_cmpuint(s->quota.esz_bp, ==, 99999);
	g_assert_true(s->priv == &priv);
	damos_for_each_filter(f, s)
		nr++;
	g_assert_cmpint(nr, ==, 2);
	g_assert_cmpint(damos_filter_of(s->filters_list.next)->type, ==,
			DAMOS_FILTER_TYPE_YOUNG);
	g = damos_goal_of(s->quota.goals_list.next);
	g_assert_cmpuint(g->target_value, ==, 42);
	g_assert_true(g->list.next == &s->quota.goals_list);
	g_assert_true(damon_list_empty(&n->filters_list));
	g_assert_true(damon_list_empty(&n->quota.goals_list));
	damon_destroy_scheme(n);
	damon_destroy_scheme(s);
}

static bool meets_if(const struct damos_filter *f, void *arg)
{
	return *(bool *)arg;
}

/*
 * Operations-level filters decide among themselves, with their own
 * default; the core ignores them, so a young filter alone leaves every
 * region to the operations set.
 */
static void test_filter_ops(void)
{
	static const struct {
		bool matching[2], allow[2];
		unsigned int nr;
		bool young, want_out;
	} cases[] = {
		{ { 0 }, { 0 }, 0, true, false },	/* none: nothing out */
		{ { true }, { false }, 1, true, true },	/* reject young */
		{ { true }, { false }, 1, false, false },
		{ { true }, { true }, 1, false, true },	/* only young */
		{ { false }, { false }, 1, false, true },	/* reject old */
		{ { true, false }, { false, false }, 2, false, true },
	};
	const uint64_t in[][2] = { { 0, 1 * MB } };
	const uint64_t all[][2] = { { 0, 1 * MB } };
	unsigned int i, j;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct damos *s = damon_new_scheme(&match_all, DAMOS_STAT, 0,
				NULL, NULL);
		bool young = cases[i].young;

		for (j = 0; j < cases[i].nr; j++)
			damos_add_filter(s, damos_new_filter(
					DAMOS_FILTER_TYPE_YOUNG,
					cases[i].matching[j], cases[i].allow[j]));
		if (damos_ops_filter_out(s, meets_if, &young) !=
		    cases[i].want_out)
			g_error("case %u: want out %d", i, cases[i].want_out);
		damon_destroy_scheme(s);
	}
	for (i = 0; i < 2; i++) {
		struct tu_clock clk;
		struct damon_ctx *ctx = new_ctx(&clk);
		struct damos *s = add_scheme(ctx, DAMOS_STAT, NULL);

		tu_add_target(ctx, in, 1);
		damos_add_filter(s, damos_new_filter(DAMOS_FILTER_TYPE_YOUNG,
				true, i == 1));
		g_assert_true(damos_filter_is_ops(DAMOS_FILTER_TYPE_YOUNG));
		g_assert_false(damos_filter_is_ops(DAMOS_FILTER_TYPE_ADDR));
		init_passes(ctx);
		run_pass(ctx, 0);
		assert_rec(0, all, 1);
		damon_destroy_ctx(ctx);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/damon/damos/action_name", test_action_name);
	g_test_add_func("/damon/damos/new_destroy", test_new_destroy);
	g_test_add_func("/damon/damos/validate", test_validate);
	g_test_add_func("/damon/damos/validate_ops_support",
			test_validate_ops_support);
	g_test_add_func("/damon/damos/pattern_match", test_pattern_match);
	g_test_add_func("/damon/damos/quota_sz_window", test_quota_sz_window);
	g_test_add_func("/damon/damos/quota_sz_unaligned",
			test_quota_sz_unaligned);
	g_test_add_func("/damon/damos/quota_continue_across_targets",
			test_quota_continue_across_targets);
	g_test_add_func("/damon/damos/quota_charge_target_destroyed",
			test_quota_charge_target_destroyed);
	g_test_add_func("/damon/damos/quota_ms", test_quota_ms);
	g_test_add_data_func("/damon/damos/prio_hot_freq", &prio_cases[0],
			test_prio);
	g_test_add_data_func("/damon/damos/prio_hot_age", &prio_cases[1],
			test_prio);
	g_test_add_data_func("/damon/damos/prio_cold", &prio_cases[2],
			test_prio);
	g_test_add_data_func("/damon/damos/prio_size", &prio_cases[3],
			test_prio);
	g_test_add_func("/damon/damos/goal_tuner", test_goal_tuner);
	g_test_add_func("/damon/damos/goal_callback_and_sz",
			test_goal_callback_and_sz);
	g_test_add_func("/damon/damos/filter_addr", test_filter_addr);
	g_test_add_func("/damon/damos/filter_target_default",
			test_filter_target_default);
	g_test_add_func("/damon/damos/filter_with_quota",
			test_filter_with_quota);
	g_test_add_func("/damon/damos/stats", test_stats);
	g_test_add_func("/damon/damos/tried_regions", test_tried_regions);
	g_test_add_func("/damon/damos/pieces_seen_once",
			test_pieces_seen_once);
	g_test_add_func("/damon/damos/wmarks_wait", test_wmarks_wait);
	g_test_add_func("/damon/damos/wmarks_pause_resume",
			test_wmarks_pause_resume);
	g_test_add_func("/damon/damos/apply_interval", test_apply_interval);
	g_test_add_func("/damon/damos/attrs_changed", test_attrs_changed);
	g_test_add_func("/damon/damos/scores", test_scores);
	g_test_add_func("/damon/damos/commit", test_commit);
	g_test_add_func("/damon/damos/filter_ops", test_filter_ops);
	return g_test_run();
}
