#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""intervals-goal.py - end-to-end test: the intervals auto-tuning follows a guest that sleeps and wakes up.

Boots tests/guest's workload.bin under TCG (128 MiB, writing an 8 MiB
hot range, 6% of its RAM) and starts a realtime tcg-accessed monitor
with an intervals goal (damon-start intervals-goal: access-bp 100, aggrs
1, sample-us between 5 and 80 ms, a CPU budget of max-cpu-permille), then:

  busy    the guest writes its hot range: the events seen are well above
          the goal, so within a few rounds the tuner holds the sampling
          interval at its minimum and says why (limited-by min-sample-us);
  idle    QMP stop: the vCPU stops, every round scores 0, and the
          sampling interval grows round after round (never shrinking) up
          to max-sample-us, held there (limited-by max-sample-us); the
          monitor then takes fewer samples per second (at most a quarter
          of the busy rate) and uses less host CPU per second;
  wake    QMP cont: the guest writes again, and the interval shrinks
          round after round (never growing) until it is back at the
          minimum, within a few aggregations; the guest's pass counter
          moves;

and stops the monitor.  Every round must keep the 20 samples per
aggregation of the start (aggr-us = 20 x sample-us).  The rates are
counts over the test's own wall-clock windows; they are printed as
figures, and only their direction is checked.

Prints one PASS/FAIL line per step, a RESULT line with the figures, and
exits 0 only if every step passed.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, report, steps  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

MIN_US = 5000
MAX_US = 80000
SAMPLES = 20
POLL_S = 0.05


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=128, hot_start=16 * MIB, hot_size=8 * MIB)
    ap.add_argument("--access-bp", type=int, default=100,
                    help="the goal's access-bp (default: %(default)s)")
    ap.add_argument("--cpu-permille", type=int, default=500,
                    help="the goal's max-cpu-permille (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=7,
                    help="most aggregations the intervals may take to reach "
                    "a bound (default: %(default)s)")
    harg.add_run(ap, timeout=30.0, keep_what="the work directory (console, QEMU stderr)")
    return ap.parse_args()


def tuning(vm):
    """(query-damon entry, its intervals-tuning); Failed without one."""
    m = steps.monitor_info(vm)
    it = m.get("intervals-tuning")
    if it is None:
        raise Failed("query-damon has no intervals-tuning: %r" % m)
    return m, it


def check_round(it):
    if it["aggr-us"] != SAMPLES * it["sample-us"]:
        raise Failed("aggr-us %d is not %d x sample-us %d"
                     % (it["aggr-us"], SAMPLES, it["sample-us"]))
    if not MIN_US <= it["sample-us"] <= MAX_US:
        raise Failed("sample-us %d outside [%d, %d]" % (it["sample-us"], MIN_US, MAX_US))


def follow_rounds(vm, rep, label, direction, bound, limit, max_rounds, timeout):
    """Poll until a round sets sample-us to bound, with limited-by limit
    unless limit is None, checking that each round moves it only in
    direction (+1 grows, -1 shrinks; None: either) and that it takes at
    most max_rounds.  Returns the sample-us of each round."""
    m, it = tuning(vm)
    last_aggr, last_tunes = m["nr-aggregations"], it["nr-tunes"]
    prev = it["sample-us"]
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(POLL_S)
        m, it = tuning(vm)
        if it["nr-tunes"] == last_tunes:
            continue
        rounds = it["nr-tunes"] - last_tunes
        last_tunes = it["nr-tunes"]
        cur = it["sample-us"]
        seen.append(cur)
        rep.info("%s round %d (aggregation %d): sample %d us, aggr %d us, score %d bp, "
                 "by %s, %d ns per sample"
                 % (label, len(seen), m["nr-aggregations"], cur, it["aggr-us"],
                    it["last-score-bp"], it["limited-by"], it["sample-cost-ns"]))
        if rounds > 1:
            raise Failed("%d rounds between two polls %.2f s apart: cannot follow them"
                         % (rounds, POLL_S))
        check_round(it)
        if direction is not None and (cur - prev) * direction < 0:
            raise Failed("sample-us went from %d to %d: the wrong way for %s (%s)"
                         % (prev, cur, label, seen))
        prev = cur
        if cur == bound and limit in (None, it["limited-by"]):
            return seen
        if len(seen) >= max_rounds:
            raise Failed("%d rounds and sample-us is %d, not %d by %s: %s"
                         % (len(seen), cur, bound, limit, seen))
    raise Failed("no round set sample-us to %d by %s within %.0f s (rounds: %s)"
                 % (bound, limit, timeout, seen))


def rates(vm, seconds):
    """Samples and monitor CPU ns per second over the next seconds."""
    m0 = steps.monitor_info(vm)
    t0 = time.monotonic()
    time.sleep(seconds)
    m1 = steps.monitor_info(vm)
    dt = time.monotonic() - t0
    return ((m1["nr-samples"] - m0["nr-samples"]) / dt,
            (m1["cpu-ns"] - m0["cpu-ns"]) / dt)


def run(args, rep):
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size}
    goal = {"access-bp": args.access_bp, "aggrs": 1, "min-sample-us": MIN_US,
            "max-sample-us": MAX_US, "max-cpu-permille": args.cpu_permille}
    fig = rep.figures
    with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=config,
                    keep_workdir=args.keep) as vm:
        if args.keep:
            rep.info("work directory: %s" % vm.workdir)

        def boot():
            t0 = time.monotonic()
            vm.start()
            steps.wait_first_pass(vm, args.hot_start, args.hot_size)
            rep.ok("boot", "first pass after %.2f s, hot 0x%x+0x%x of %d MiB"
                   % (time.monotonic() - t0, args.hot_start, args.hot_size, args.mem))

        def start():
            vm.qmp.execute("damon-start", {"source": "tcg-accessed", "sample-us": MIN_US,
                                           "aggr-us": SAMPLES * MIN_US,
                                           "intervals-goal": goal})
            _, it = tuning(vm)
            if it["goal"] != goal:
                raise Failed("intervals-tuning goal %r, asked %r" % (it["goal"], goal))
            rep.ok("damon-start", "tcg-accessed, realtime, goal %r" % goal)

        def busy():
            # a host too busy to run the vCPU can make one round idle
            seen = follow_rounds(vm, rep, "busy", None, MIN_US, "min-sample-us",
                                 args.rounds, args.timeout)
            _, it = tuning(vm)
            if it["last-score-bp"] <= 10000:
                raise Failed("busy guest scored %d bp, not above the goal"
                             % it["last-score-bp"])
            fig["busy_samples_per_s"], fig["busy_cpu_ns_per_s"] = (
                round(x) for x in rates(vm, 2.0))
            fig["busy_sample_cost_ns"] = it["sample-cost-ns"]
            rep.ok("busy", "held at %d us by min-sample-us after %d round(s), score %d bp; "
                   "%d samples/s, monitor cpu %d us/s"
                   % (MIN_US, len(seen), it["last-score-bp"], fig["busy_samples_per_s"],
                      fig["busy_cpu_ns_per_s"] // 1000))

        def idle():
            vm.qmp.execute("stop")
            seen = follow_rounds(vm, rep, "idle", +1, MAX_US, "max-sample-us",
                                 args.rounds, args.timeout)
            fig["idle_rounds"] = len(seen)
            s, c = rates(vm, 2 * SAMPLES * MAX_US / 1e6)
            fig["idle_samples_per_s"], fig["idle_cpu_ns_per_s"] = round(s), round(c)
            if s * 4 > fig["busy_samples_per_s"]:
                raise Failed("idle: %.1f samples/s, not a quarter of busy's %d or fewer"
                             % (s, fig["busy_samples_per_s"]))
            if c >= fig["busy_cpu_ns_per_s"]:
                raise Failed("idle: monitor cpu %d ns/s, not below busy's %d"
                             % (c, fig["busy_cpu_ns_per_s"]))
            rep.ok("idle", "VM stopped: %s us in %d rounds, held by max-sample-us; "
                   "%.1f samples/s (busy %d), monitor cpu %d us/s (busy %d)"
                   % (seen, len(seen), s, fig["busy_samples_per_s"], c // 1000,
                      fig["busy_cpu_ns_per_s"] // 1000))

        def wake():
            vm.qmp.execute("cont")
            seen = follow_rounds(vm, rep, "wake", -1, MIN_US, None,
                                 args.rounds, args.timeout)
            fig["wake_rounds"] = len(seen)
            p0, p1 = steps.guest_runs_on(vm)
            rep.ok("wake", "VM running again: %s us in %d rounds; guest pass %d -> %d"
                   % (seen, len(seen), p0, p1))

        report.run_steps(rep, [
            ("boot", boot), ("damon-start", start), ("busy", busy), ("idle", idle),
            ("wake", wake), ("damon-stop", lambda: steps.step_damon_stop(vm, rep))])
        steps.step_quit(vm, rep)


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("intervals-goal", lambda rep: run(ARGS, rep),
                fields=("access_bp=%d" % ARGS.access_bp,))
