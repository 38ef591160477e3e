// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Worker threads: one per running context, each a loop over
 * damon_ctx_step() with real sleeps.
 *
 * Locking:
 *  - damon_lock guards nr_running_ctxs and running_exclusive_ctxs, which
 *    make exclusive and non-exclusive groups exclude each other like a
 *    reader-writer lock.
 *  - ctx->lock guards ctx->thread, thread_started, thread_alive,
 *    stop_requested and the calls queue; ctx->cond signals changes to
 *    them.  Lock order: damon_lock, then ctx->lock.
 *  - Everything else in the context belongs to the worker while
 *    thread_alive is true.  Other threads reach it with damon_call().
 */
#include <errno.h>
#include <time.h>

#include "core/internal.h"

static pthread_mutex_t damon_lock = PTHREAD_MUTEX_INITIALIZER;
static int nr_running_ctxs;		/* guarded by damon_lock */
static bool running_exclusive_ctxs;	/* guarded by damon_lock */

/* A damon_call() request; lives on the caller's stack until done. */
struct damon_call_req {
	void (*fn)(struct damon_ctx *ctx, void *data);
	void *data;
	bool done;
	struct damon_call_req *next;
};

static void timespec_after_us(struct timespec *ts, uint64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(us / 1000000);
	ts->tv_nsec += (long)(us % 1000000) * 1000;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Run queued calls.  Called and returns with ctx->lock held. */
static void kdamond_run_calls_locked(struct damon_ctx *ctx)
{
	while (ctx->calls) {
		struct damon_call_req *req = ctx->calls;

		ctx->calls = req->next;
		pthread_mutex_unlock(&ctx->lock);
		req->fn(ctx, req->data);
		pthread_mutex_lock(&ctx->lock);
		req->done = true;
		pthread_cond_broadcast(&ctx->cond);
	}
}

/*
 * Sleep until the context's next deadline, a stop request or a call.
 * Returns false when the worker must stop.
 */
static bool kdamond_wait(struct damon_ctx *ctx)
{
	bool go_on;

	pthread_mutex_lock(&ctx->lock);
	for (;;) {
		uint64_t now, deadline;
		struct timespec ts;

		kdamond_run_calls_locked(ctx);
		if (ctx->stop_requested)
			break;
		now = damon_clock_now_us(ctx);
		deadline = damon_ctx_next_deadline_us(ctx);
		if (now >= deadline)
			break;
		timespec_after_us(&ts, deadline - now);
		pthread_cond_timedwait(&ctx->cond, &ctx->lock, &ts);
	}
	go_on = !ctx->stop_requested;
	pthread_mutex_unlock(&ctx->lock);
	return go_on;
}

static void kdamond_exit(struct damon_ctx *ctx)
{
	pthread_mutex_lock(&damon_lock);
	if (--nr_running_ctxs == 0)
		running_exclusive_ctxs = false;
	pthread_mutex_unlock(&damon_lock);

	/* answer late callers before handing the context back */
	pthread_mutex_lock(&ctx->lock);
	kdamond_run_calls_locked(ctx);
	ctx->thread_alive = false;
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}

static void *kdamond_fn(void *arg)
{
	struct damon_ctx *ctx = arg;

	if (damon_ctx_begin(ctx, damon_clock_now_us(ctx)) == 0) {
		while (kdamond_wait(ctx)) {
			if (damon_ctx_step(ctx, damon_clock_now_us(ctx)))
				break;
		}
		damon_ctx_end(ctx);
	}
	kdamond_exit(ctx);
	return NULL;
}

/* Reap a worker that ended by itself.  Called with ctx->lock held. */
static void damon_reap_locked(struct damon_ctx *ctx)
{
	if (ctx->thread_started && !ctx->thread_alive) {
		pthread_join(ctx->thread, NULL);
		ctx->thread_started = false;
	}
}

static int damon_start_one(struct damon_ctx *ctx, bool exclusive)
{
	int rc = 0;

	pthread_mutex_lock(&ctx->lock);
	damon_reap_locked(ctx);
	if (ctx->thread_started || ctx->thread_alive || ctx->begun) {
		rc = -EBUSY;
	} else {
		ctx->stop_requested = false;
		ctx->exclusive = exclusive;
		ctx->thread_alive = true;
		ctx->thread_started = true;
		if (pthread_create(&ctx->thread, NULL, kdamond_fn, ctx)) {
			ctx->thread_alive = false;
			ctx->thread_started = false;
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

/**
 * damon_start() - Start a worker thread for each of @ctxs.
 * @ctxs:	contexts to start.
 * @nr_ctxs:	number of @ctxs.
 * @exclusive:	whether no other context may run alongside this group.
 *
 * An exclusive group starts only when nothing runs, and nothing starts
 * while an exclusive group runs.  Contexts started before a failure keep
 * running; stop them with damon_stop().
 *
 * Return: 0, -EBUSY on an exclusivity conflict or an already running
 * context, or -ENOMEM when a thread cannot be created.
 * Locking: takes damon_lock, then each context's lock.
 */
int damon_start(struct damon_ctx **ctxs, int nr_ctxs, bool exclusive)
{
	int i, rc = 0;

	pthread_mutex_lock(&damon_lock);
	if ((exclusive && nr_running_ctxs) ||
	    (!exclusive && running_exclusive_ctxs)) {
		pthread_mutex_unlock(&damon_lock);
		return -EBUSY;
	}
	for (i = 0; i < nr_ctxs; i++) {
		rc = damon_start_one(ctxs[i], exclusive);
		if (rc)
			break;
		nr_running_ctxs++;
	}
	if (exclusive && nr_running_ctxs)
		running_exclusive_ctxs = true;
	pthread_mutex_unlock(&damon_lock);
	return rc;
}

static int damon_stop_one(struct damon_ctx *ctx)
{
	pthread_t thread;

	pthread_mutex_lock(&ctx->lock);
	if (!ctx->thread_started) {
		pthread_mutex_unlock(&ctx->lock);
		return -EPERM;
	}
	/* whoever clears thread_started joins: one joiner per thread */
	thread = ctx->thread;
	ctx->thread_started = false;
	ctx->stop_requested = true;
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
	pthread_join(thread, NULL);
	return 0;
}

/**
 * damon_stop() - Stop the workers of @ctxs and wait for them.
 * @ctxs:	contexts to stop.
 * @nr_ctxs:	number of @ctxs.
 *
 * A context whose worker already ended by itself (all targets invalid,
 * or a callback said stop) is reaped and counts as stopped.
 *
 * Return: 0, or -EPERM if a context had no worker to stop; the others
 * are stopped all the same.
 * Locking: must not be called from a worker.
 */
int damon_stop(struct damon_ctx **ctxs, int nr_ctxs)
{
	int i, rc = 0;

	for (i = 0; i < nr_ctxs; i++) {
		int err = damon_stop_one(ctxs[i]);

		if (err && !rc)
			rc = err;
	}
	return rc;
}

/**
 * damon_is_running() - Whether @ctx's worker is alive.
 * @ctx:	context.
 *
 * Return: true while the worker thread runs the monitoring loop.
 */
bool damon_is_running(struct damon_ctx *ctx)
{
	bool alive;

	pthread_mutex_lock(&ctx->lock);
	alive = ctx->thread_alive;
	pthread_mutex_unlock(&ctx->lock);
	return alive;
}

/**
 * damon_call() - Run @fn on @ctx's owner and wait for it.
 * @ctx:	context.
 * @fn:		function to run; it may read and change the context.
 * @data:	passed to @fn.
 *
 * While a worker runs @ctx, @fn runs on the worker between two steps, so
 * it sees a consistent context.  Otherwise, or when called from the
 * worker itself, @fn runs at once on the caller.
 *
 * Return: 0.
 * Locking: takes ctx->lock; @fn runs without it.  A context driven by the
 * step API has no worker: its driver must serialize damon_call() itself.
 */
int damon_call(struct damon_ctx *ctx, void (*fn)(struct damon_ctx *, void *),
		void *data)
{
	struct damon_call_req req = { .fn = fn, .data = data };
	struct damon_call_req **tail;

	pthread_mutex_lock(&ctx->lock);
	if (!ctx->thread_alive || pthread_equal(ctx->thread, pthread_self())) {
		pthread_mutex_unlock(&ctx->lock);
		fn(ctx, data);
		return 0;
	}
	for (tail = &ctx->calls; *tail; tail = &(*tail)->next)
		;
	*tail = &req;
	pthread_cond_broadcast(&ctx->cond);
	while (!req.done)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}
