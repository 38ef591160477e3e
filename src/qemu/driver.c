/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon drivers: who calls the engine's step API for a monitor.
 *
 *  - realtime: a QemuThread (named damon/ID, registered with RCU, so the
 *    sources may read guest RAM under RCU and take the BQL) begins the
 *    context, then loops "sleep until the engine's next deadline or a
 *    wake-up, step" until a step says the context has ended.
 *  - virtual: a QEMU_CLOCK_VIRTUAL timer steps in the main loop, so
 *    sampling follows guest time (and, under qtest, clock_step).
 *
 * Either way the engine's rule holds: the driver owns the context and
 * everybody else reaches it with damon_call() (qdamon_monitor_call()).
 * Tuning, reading results and stopping all take that one path; a stop
 * is a call that asks the engine to end at its next step.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/lockable.h"
#include "qemu/timer.h"
#include "qemu/event_notifier.h"
#include "system/runstate.h"
#include "monitor-int.h"
#include "trace.h"

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

/*
 * The virtual clock goes back at a loadvm (to the snapshot's time), but
 * the engine's deadlines must not: the monitor would wait, sampling
 * nothing, until the clock caught up with them, as long as the snapshot
 * is old.  So the virtual driver's time is the clock plus a skew that
 * grows by every jump back; it runs in the main loop only.
 */
static uint64_t driver_now_us(QdamonMonitor *m)
{
    uint64_t now;

    if (m->cfg.clock != DAMON_CLOCK_VIRTUAL) {
        return g_get_monotonic_time();
    }
    now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) / SCALE_US + m->vclock_skew_us;
    if (now < m->vclock_last_us) {
        m->vclock_skew_us += m->vclock_last_us - now;
        now = m->vclock_last_us;
    }
    m->vclock_last_us = now;
    return now;
}

DamonStopReason qdamon_reason_of(struct damon_ctx *ctx)
{
    return ctx->stop_reason == DAMON_STOP_REQUESTED ||
        ctx->stop_reason == DAMON_STOP_NONE ?
        DAMON_STOP_REASON_REQUESTED : DAMON_STOP_REASON_ERROR;
}

/*
 * One step, its cost counted; true when the context has ended.  A step
 * that closed a sample interval (checks, syncs, the aggregation when
 * one was due, and the next arm) is what the intervals tuner's CPU
 * budget divides; steps that only served calls are not samples.
 */
static bool driver_step(QdamonMonitor *m)
{
    uint64_t sis = m->ctx->passed_sample_intervals;
    uint64_t t0 = thread_cpu_ns();
    int rc = damon_ctx_step(m->ctx, driver_now_us(m));
    uint64_t cost = thread_cpu_ns() - t0;

    if (m->ctx->passed_sample_intervals != sis) {
        damon_report_sample_cost(m->ctx, cost);
    }
    qdamon_tally_step(m, cost);
    return rc != 0;
}

static int monitor_call(QdamonMonitor *m,
                        int (*fn)(struct damon_ctx *ctx, void *data),
                        void *data, bool read_only)
{
    struct damon_call_control c = {
        .fn = fn, .data = data, .read_only = read_only,
    };
    bool unlock = m->thread_running && bql_locked();
    int rc;

    /* like run_on_cpu(): the thread may wait for the BQL mid-step */
    if (unlock) {
        bql_unlock();
    }
    rc = damon_call(m->ctx, &c);
    if (unlock) {
        bql_lock();
    }
    return rc ? rc : c.return_code;
}

int qdamon_monitor_call(QdamonMonitor *m,
                        int (*fn)(struct damon_ctx *ctx, void *data),
                        void *data)
{
    return monitor_call(m, fn, data, false);
}

int qdamon_monitor_query(QdamonMonitor *m,
                         int (*fn)(struct damon_ctx *ctx, void *data),
                         void *data)
{
    return monitor_call(m, fn, data, true);
}

void qdamon_driver_kick(struct damon_ctx *ctx)
{
    QdamonMonitor *m = ctx->callback.private;

    if (m->timer) {
        /* the main loop drives; its own calls never get here */
        timer_mod_anticipate_ns(m->timer,
                                qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
        return;
    }
    /* the eventfd's counter is the flag: a kick is never lost */
    event_notifier_set(&m->wake);
}

/* ---- realtime ---- */

/*
 * Sleep until the next deadline or a kick: one wake-up per sample.
 * ppoll() sleeps to the microsecond; a condition variable's timed wait
 * counts in milliseconds here, which needed a second, short sleep for
 * the rest of nearly every interval (two wake-ups, and a thread switch
 * each, per 5 ms sample).
 */
static void thread_wait(QdamonMonitor *m)
{
    GPollFD pfd = {
        .fd = event_notifier_get_fd(&m->wake),
        .events = G_IO_IN,
    };

    for (;;) {
        uint64_t now = driver_now_us(m);
        uint64_t deadline = damon_ctx_next_deadline_us(m->ctx);

        if (now >= deadline) {
            return;
        }
        if (qemu_poll_ns(&pfd, 1, (deadline - now) * SCALE_US) > 0) {
            event_notifier_test_and_clear(&m->wake);
            return;
        }
    }
}

static void reap_bh(void *opaque)
{
    qdamon_monitor_reap_all();
}

static void *monitor_thread(void *opaque)
{
    QdamonMonitor *m = opaque;
    int rc;

    rcu_register_thread();
    rc = damon_ctx_begin(m->ctx, driver_now_us(m));
    WITH_QEMU_LOCK_GUARD(&m->lock) {
        m->begin_rc = rc;
        m->begun = true;
        qemu_cond_broadcast(&m->cond);
    }
    if (rc == 0) {
        while (!driver_step(m)) {
            thread_wait(m);
        }
        damon_ctx_end(m->ctx);
    }
    rcu_unregister_thread();
    WITH_QEMU_LOCK_GUARD(&m->lock) {
        m->done = true;
    }
    /* a stop was asked for by someone who joins; otherwise reap here */
    if (rc == 0 && m->ctx->stop_reason != DAMON_STOP_REQUESTED) {
        aio_bh_schedule_oneshot(qemu_get_aio_context(), reap_bh, NULL);
    }
    return NULL;
}

/* Join the thread with the BQL let go: it may need it to end its step. */
static void thread_join(QdamonMonitor *m)
{
    bool locked = bql_locked();

    if (locked) {
        bql_unlock();
    }
    qemu_thread_join(&m->thread);
    if (locked) {
        bql_lock();
    }
    m->thread_running = false;
}

static bool start_thread(QdamonMonitor *m, Error **errp)
{
    g_autofree char *name = g_strdup_printf("damon/%s", m->cfg.id);
    int rc = event_notifier_init(&m->wake, false);

    if (rc < 0) {
        error_setg_errno(errp, -rc, "cannot start monitor '%s': no eventfd "
                         "for its thread's wake-ups", m->cfg.id);
        return false;
    }
    m->thread_running = true;
    qemu_thread_create(&m->thread, name, monitor_thread, m,
                       QEMU_THREAD_JOINABLE);
    /* until it has begun, nobody may call into the context */
    WITH_QEMU_LOCK_GUARD(&m->lock) {
        while (!m->begun) {
            qemu_cond_wait(&m->cond, &m->lock);
        }
    }
    if (m->begin_rc) {
        thread_join(m);
        error_setg_errno(errp, -m->begin_rc, "cannot start monitor '%s'",
                         m->cfg.id);
        return false;
    }
    return true;
}

/* ---- virtual clock ---- */

static void arm_timer(QdamonMonitor *m)
{
    uint64_t deadline = damon_ctx_next_deadline_us(m->ctx);

    /* the deadline is in driver time, never below the skew */
    timer_mod(m->timer, (deadline - MIN(deadline, m->vclock_skew_us)) * SCALE_US);
}

/*
 * When the VM runs again, step at once: after a loadvm the timer's
 * deadline may lie far ahead of the restored clock, and the step that
 * sees the jump re-arms it in driver time.
 */
static void vm_change_cb(void *opaque, bool running, RunState state)
{
    QdamonMonitor *m = opaque;

    if (running && m->timer) {
        timer_mod_anticipate_ns(m->timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    }
}

static void timer_driver_end(QdamonMonitor *m)
{
    if (m->vm_change) {
        qemu_del_vm_change_state_handler(m->vm_change);
        m->vm_change = NULL;
    }
}

static void monitor_timer_cb(void *opaque)
{
    QdamonMonitor *m = opaque;

    if (driver_step(m)) {
        damon_ctx_end(m->ctx);
        timer_driver_end(m);
        qdamon_monitor_finish(m, qdamon_reason_of(m->ctx));
        return;
    }
    arm_timer(m);
}

static bool start_timer(QdamonMonitor *m, Error **errp)
{
    int rc = damon_ctx_begin(m->ctx, driver_now_us(m));

    if (rc) {
        error_setg_errno(errp, -rc, "cannot start monitor '%s'", m->cfg.id);
        return false;
    }
    m->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, monitor_timer_cb, m);
    m->vm_change = qemu_add_vm_change_state_handler(vm_change_cb, m);
    arm_timer(m);
    return true;
}

/* ---- both ---- */

bool qdamon_driver_start(QdamonMonitor *m, Error **errp)
{
    m->ctx->callback.call_queued = qdamon_driver_kick;
    if (m->cfg.clock == DAMON_CLOCK_VIRTUAL) {
        return start_timer(m, errp);
    }
    return start_thread(m, errp);
}

static int request_stop(struct damon_ctx *ctx, void *data)
{
    damon_ctx_request_stop(ctx);
    return 0;
}

void qdamon_driver_stop(QdamonMonitor *m)
{
    /* -ECANCELED: the context had ended by itself, which is as good */
    qdamon_monitor_call(m, request_stop, NULL);
    if (m->thread_running) {
        thread_join(m);
        return;
    }
    /* the main loop drives: the step that sees the request ends it */
    timer_del(m->timer);
    timer_driver_end(m);
    driver_step(m);
    damon_ctx_end(m->ctx);
}
