// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * damon_call(): how other threads reach a context that is being driven.
 *
 * A context has one driver, the thread that began it (a monitor thread,
 * an event loop's timer, a test).  Everything in the context belongs to
 * the driver, so another thread that wants to read results or change
 * attributes queues a function for the driver and waits; the driver
 * runs the queue at its next damon_ctx_step(), between two samples,
 * where the context is consistent.  As in Linux DAMON, requests still
 * queued when the context ends are canceled, not run.
 *
 * Locking: ctx->call_lock guards ctx->calls, ctx->driver and
 * ctx->has_driver; ctx->call_cond signals that a request is done.  The
 * queued functions run without the lock.
 */
#include <errno.h>

#include "core/internal.h"

/* Whether the calling thread may use @ctx directly.  call_lock held. */
static bool damon_call_owner_locked(const struct damon_ctx *ctx)
{
	return !ctx->has_driver || pthread_equal(ctx->driver, pthread_self());
}

/**
 * damon_call() - Run a function on @ctx's driver and wait for it.
 * @ctx:	context.
 * @control:	the function, its data, and where its result goes.
 *
 * While @ctx is driven by another thread, the function runs on that
 * thread at its next step; the &damon_callback.call_queued hook lets a
 * sleeping driver step at once.  When the caller is the driver, or
 * nobody drives @ctx (not begun, or ended), the caller owns the context
 * and the function runs at once.
 *
 * Return: 0 when the function ran (its result is in
 * @control->return_code), or -ECANCELED when the context ended first.
 * Locking: takes ctx->call_lock; must not be called with a lock that the
 * driver needs to finish its step.
 */
int damon_call(struct damon_ctx *ctx, struct damon_call_control *control)
{
	struct damon_call_control **tail;

	control->canceled = false;
	control->done = false;
	control->next = NULL;
	pthread_mutex_lock(&ctx->call_lock);
	if (damon_call_owner_locked(ctx)) {
		pthread_mutex_unlock(&ctx->call_lock);
		control->return_code = control->fn(ctx, control->data);
		return 0;
	}
	for (tail = &ctx->calls; *tail; tail = &(*tail)->next)
		;
	*tail = control;
	pthread_mutex_unlock(&ctx->call_lock);

	if (ctx->callback.call_queued)
		ctx->callback.call_queued(ctx);

	pthread_mutex_lock(&ctx->call_lock);
	while (!control->done)
		pthread_cond_wait(&ctx->call_cond, &ctx->call_lock);
	pthread_mutex_unlock(&ctx->call_lock);
	return control->canceled ? -ECANCELED : 0;
}

/* Take the whole queue, so that calls queued meanwhile wait a step. */
static struct damon_call_control *damon_call_take_all(struct damon_ctx *ctx)
{
	struct damon_call_control *list;

	pthread_mutex_lock(&ctx->call_lock);
	list = ctx->calls;
	ctx->calls = NULL;
	pthread_mutex_unlock(&ctx->call_lock);
	return list;
}

/* Mark @c done and wake its caller. */
static void damon_call_done(struct damon_ctx *ctx, struct damon_call_control *c)
{
	pthread_mutex_lock(&ctx->call_lock);
	c->done = true;
	pthread_cond_broadcast(&ctx->call_cond);
	pthread_mutex_unlock(&ctx->call_lock);
}

/* Unlink the read-only requests from the queue, keeping their order. */
static struct damon_call_control *damon_call_take_read_only(
		struct damon_ctx *ctx)
{
	struct damon_call_control *list = NULL, **tail = &list, **p, *c;

	pthread_mutex_lock(&ctx->call_lock);
	for (p = &ctx->calls; (c = *p); ) {
		if (c->read_only) {
			*p = c->next;
			c->next = NULL;
			*tail = c;
			tail = &c->next;
		} else {
			p = &c->next;
		}
	}
	pthread_mutex_unlock(&ctx->call_lock);
	return list;
}

/**
 * damon_call_serve_read_only() - Run the queued read-only requests now.
 * @ctx:	context; called on its driver, in the middle of a step.
 *
 * An operations set whose work in one step can take long (a DAMOS
 * action on a large region) calls this between pieces of that work, so
 * that a caller that only reads, such as a query, does not wait for the
 * whole step.  The context must be consistent for readers at that point:
 * no half-made region list.  Requests that may change the context still
 * wait for the step's end.
 *
 * Locking: the driver only; takes ctx->call_lock briefly.
 */
void damon_call_serve_read_only(struct damon_ctx *ctx)
{
	struct damon_call_control *c, *next;

	if (!ctx->begun)
		return;
	for (c = damon_call_take_read_only(ctx); c; c = next) {
		next = c->next;
		c->return_code = c->fn(ctx, c->data);
		damon_call_done(ctx, c);
	}
}

/**
 * kdamond_call() - Run, or cancel, the queued damon_call() requests.
 * @ctx:	context; called on its driver.
 * @cancel:	cancel them instead of running them.
 */
void kdamond_call(struct damon_ctx *ctx, bool cancel)
{
	struct damon_call_control *c = damon_call_take_all(ctx), *next;

	for (; c; c = next) {
		next = c->next;
		if (cancel)
			c->canceled = true;
		else
			c->return_code = c->fn(ctx, c->data);
		damon_call_done(ctx, c);
	}
}

/**
 * damon_call_set_driver() - Make the calling thread @ctx's driver, or
 * say that nobody drives it any more.
 * @ctx:	context.
 * @driven:	true at begin, false at end.
 *
 * At end, requests that were queued before the driver went away are
 * canceled, so no caller waits forever.
 */
void damon_call_set_driver(struct damon_ctx *ctx, bool driven)
{
	pthread_mutex_lock(&ctx->call_lock);
	ctx->has_driver = driven;
	if (driven)
		ctx->driver = pthread_self();
	pthread_mutex_unlock(&ctx->call_lock);
	if (!driven)
		kdamond_call(ctx, true);
}
