#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""nested-kvm.py - qdamon under real KVM, against kernel DAMON and calc-dirty-rate.

A benchmark, not a test: it prints what it measured and "RESULT
key=value" lines, and exits non-zero only when it could not measure.
It runs in the nested VM of tests/nested (Debian's 6.12 kernel under
TCG with emulated SVM, our QEMU under KVM inside; see
docs/notes/nested-harness.md), on the workload guest writing a hot set
of --hot-mib MiB.

1. Side by side, one after the other on the same guest (-accel
   kvm,dirty-ring-size=4096): kernel DAMON (vaddr, sysfs, one region
   over the host mapping of guest RAM, a "stat" scheme whose tried
   regions are read) and qdamon (source dirty-ring), each for --run
   seconds at the same attributes.  For each: the aggregations until the
   hot set is found (harness.hotset: >= 90% of it in regions at >= half
   the maximum nr_accesses), the WSS error at the end (median of the last 5 reads,
   against the hot-set size), and the CPU its worker used per second
   (kdamond's, the monitor thread's).
2. Dirty rate against the truth: QEMU's calc-dirty-rate (mode
   dirty-ring, 2 s) without and with a qdamon monitor running, and
   qdamon's estimate, the WSS of an aggregation of 1 s divided by 1 s,
   i.e. the bytes of distinct pages written per second.  The truth is
   the hot set per second (the guest rewrites it many times a second).
   calc-dirty-rate's dirty-ring mode counts ring entries, one per page
   per reset of the rings; qdamon's harvests reset them every sample
   interval, so with a monitor running it counts the hot set once per
   sample instead of once per second.
3. Guest slowdown, from the workload's pass counter, in alternating
   windows of the same run (off, on, off, ...): dirty-ring monitoring vs
   off, and (a second guest, -accel kvm) dirty-bitmap monitoring vs off.
4. The dirty-bitmap source's dirty-log sync (KVM_GET_DIRTY_LOG of every
   slot) against guest size: query-damon's sync-ns / nr-syncs for guests
   of 256 MiB to 16 GiB (reserve=off: never-touched RAM costs nothing).
5. With --tuning (only it with --tuning-only): bench/tuning.py's table
   under KVM.  For each guest size of --tuning-sizes (reserve=off) and
   each KVM source (dirty-ring in a guest with a dirty ring; dirty-bitmap
   and page-hash in one without, each source's default setting), at the
   default intervals and with the intervals goal (bench/tuning.py's
   GOAL): monitor CPU, the sample-us in force at the end, guest slowdown
   against the off windows around, WSS error and the time to find the
   hot set, measured and scored exactly as bench/tuning.py does.

Everything nested runs under TCG's emulation of SVM, where a write fault
or a guest TLB flush costs tens of microseconds: absolute figures are
far from bare metal; ratios on one run are what to read.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from harness import args as harg, hotset  # noqa: E402
from harness.bench import out, pass_rate, result  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.kdamond import Kdamond  # noqa: E402
from harness.nested import NestedError, NestedHost, NestedSkip  # noqa: E402
from harness.report import EXIT_SKIP  # noqa: E402

import tuning  # noqa: E402  (bench/tuning.py, beside this file)

HOT_START = 16 * MIB


def coverage(regions, hot_start, hot_end):
    """(fraction of [hot_start, hot_end) in hot regions, bytes in regions
    with nr_accesses > 0).  regions: [(start, end, nr_accesses)] in
    guest-physical addresses; hot is harness.hotset's, against the
    largest nr_accesses (kernel DAMON's tried regions give no maximum)."""
    mx = max([r[2] for r in regions] + [1])
    hot = [(s, e) for s, e, n in regions if hotset.is_hot(n, mx) and n > 0]
    wss = sum(e - s for s, e, n in regions if n > 0)
    return hotset.covered(hot, hot_start, hot_end - hot_start) / (hot_end - hot_start), wss


# ---- kernel DAMON (harness.kdamond) and qdamon ---------------------------------

def run_kdamond(host, inner, args, hot):
    k = Kdamond(host, inner.pid, args.mem_mib * MIB)
    k.start(args.sample_us, args.aggr_us)
    try:
        return watch(host, args, hot, k.regions, k.cpu_s)
    finally:
        k.stop()


# ---- qdamon ---------------------------------------------------------------------

def qdamon_regions(inner):
    snap = inner.qmp.execute("query-damon-regions", {"id": "damon0"})
    return [(r["start"], r["end"], r["nr-accesses"]) for r in snap["regions"]]


def qdamon_cpu(inner):
    info = [m for m in inner.qmp.execute("query-damon") if m["id"] == "damon0"]
    return info[0]["cpu-ns"] / 1e9


def run_qdamon(host, inner, args, hot, source):
    inner.qmp.execute("damon-start", {"source": source, "sample-us": args.sample_us,
                                      "aggr-us": args.aggr_us})
    try:
        return watch(host, args, hot, lambda: qdamon_regions(inner),
                     lambda: qdamon_cpu(inner))
    finally:
        inner.qmp.execute("damon-stop", {"id": "damon0"})


def watch(host, args, hot, regions_fn, cpu_fn):
    """Poll a monitor for --run seconds: (seconds until found or None,
    WSS bytes (median of the last 5 reads), CPU seconds per second)."""
    t0 = time.monotonic()
    c0 = cpu_fn()
    found_s, wss = None, []
    while time.monotonic() - t0 < args.run:
        cov, w = coverage(regions_fn(), hot[0], hot[1])
        if found_s is None and cov >= hotset.COVERAGE_MIN:
            found_s = time.monotonic() - t0
        wss.append(w)
        time.sleep(0.3)
    cpu = (cpu_fn() - c0) / (time.monotonic() - t0)
    return found_s, statistics.median(wss[-5:]), cpu


# ---- the parts ------------------------------------------------------------------

def part_side_by_side(host, args, hot):
    cfg = {"hot_start": hot[0], "hot_size": hot[1] - hot[0]}
    inner = host.start_inner("kvm,dirty-ring-size=4096", mem_mib=args.mem_mib, config=cfg)
    inner.wait_console(r"pass=\d+ t=1$", timeout=60)
    size = hot[1] - hot[0]
    aggr_s = args.aggr_us / 1e6
    rows = {}
    for name, fn in (("kdamond", lambda: run_kdamond(host, inner, args, hot)),
                     ("qdamon", lambda: run_qdamon(host, inner, args, hot, "dirty-ring"))):
        found_s, wss, cpu = fn()
        rows[name] = (found_s, wss, cpu)
        out("%-8s found after %s, wss %.2f MiB (hot %.0f MiB), worker CPU %.1f %%"
            % (name, "%.1f s" % found_s if found_s is not None else "never",
               wss / MIB, size / MIB, cpu * 100))
        result("%s_found_aggrs" % name,
               "%.0f" % (found_s / aggr_s) if found_s is not None else "never")
        result("%s_wss_err_pct" % name, "%.1f" % (abs(wss - size) * 100 / size))
        result("%s_cpu_pct" % name, "%.2f" % (cpu * 100))
    part_dirty_rate(host, inner, args, hot)
    part_slowdown(inner, args, "dirty-ring")
    inner.quit()


def calc_dirty_rate(inner):
    inner.qmp.execute("calc-dirty-rate", {"calc-time": 2, "mode": "dirty-ring"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        r = inner.qmp.execute("query-dirty-rate")
        if r.get("status") == "measured":
            return r["dirty-rate"]
    raise RuntimeError("calc-dirty-rate did not finish")


def part_dirty_rate(host, inner, args, hot):
    truth = (hot[1] - hot[0]) / MIB
    alone = calc_dirty_rate(inner)
    inner.qmp.execute("damon-start", {"source": "dirty-ring", "sample-us": 100000,
                                      "aggr-us": 1000000})
    time.sleep(4)
    beside = calc_dirty_rate(inner)
    est = statistics.median(
        inner.qmp.execute("query-damon-wss", {"id": "damon0"})["wss-bytes"] / MIB
        for _ in range(1))
    inner.qmp.execute("damon-stop", {"id": "damon0"})
    out("dirty rate (MiB/s): truth %.1f, calc-dirty-rate %.1f alone and %.1f beside "
        "qdamon, qdamon (wss of a 1 s aggregation) %.1f" % (truth, alone, beside, est))
    result("dirty_rate_truth_mib_s", "%.1f" % truth)
    result("calc_dirty_rate_ring_mib_s", "%.1f" % alone)
    result("calc_dirty_rate_ring_beside_qdamon_mib_s", "%.1f" % beside)
    result("qdamon_dirty_rate_mib_s", "%.1f" % est)


def part_slowdown(inner, args, source):
    ratios = []
    off = pass_rate(inner, args.window)
    for _ in range(args.rounds):
        inner.qmp.execute("damon-start", {"source": source})
        time.sleep(1)
        on = pass_rate(inner, args.window)
        inner.qmp.execute("damon-stop", {"id": "damon0"})
        time.sleep(1)
        off2 = pass_rate(inner, args.window)
        if off and off2 and on:
            ratios.append((off + off2) / 2 / on)
        out("%s: off %s, on %s, off %s pass/s" % (source, off, on, off2))
        off = off2
    if ratios:
        result("guest_slowdown_%s" % source.replace("-", "_"),
               "%.2f" % statistics.median(ratios))


def part_bitmap(host, args, hot):
    cfg = {"hot_start": hot[0], "hot_size": hot[1] - hot[0]}
    inner = host.start_inner("kvm", mem_mib=args.mem_mib, config=cfg)
    inner.wait_console(r"pass=\d+ t=1$", timeout=60)
    part_slowdown(inner, args, "dirty-bitmap")
    inner.quit()
    for gib in args.sync_sizes:
        mem = int(gib * 1024)
        inner = host.start_inner(
            "kvm", mem_mib=mem, config=cfg,
            extra_args=["-object", "memory-backend-ram,id=m0,size=%dM,reserve=off" % mem,
                        "-machine", "memory-backend=m0"])
        inner.wait_console(r"pass=\d+ t=1$", timeout=60)
        inner.qmp.execute("damon-start", {"source": "dirty-bitmap"})
        time.sleep(2)
        a = [m for m in inner.qmp.execute("query-damon")][0]
        time.sleep(4)
        b = [m for m in inner.qmp.execute("query-damon")][0]
        n = b["nr-syncs"] - a["nr-syncs"]
        us = (b["sync-ns"] - a["sync-ns"]) / 1e3 / max(n, 1)
        share = (b["sync-ns"] - a["sync-ns"]) / max(b["cpu-ns"] - a["cpu-ns"], 1)
        out("dirty-bitmap sync at %g GiB: %.0f us per sync (%d syncs), %.0f %% of the "
            "monitor's CPU" % (gib, us, n, share * 100))
        result("bitmap_sync_us_%sgib" % ("%g" % gib).replace(".", "_"), "%.0f" % us)
        inner.quit()


# ---- part 5: defaults against intervals auto-tuning ----------------------------

TUNING_SOURCES = ("dirty-ring", "dirty-bitmap", "page-hash")


def part_tuning(host, args):
    targs = argparse.Namespace(goal=dict(tuning.GOAL), find_cap=args.tuning_find_cap,
                               measure=args.tuning_measure, off=args.window,
                               hot_size=args.hot_mib * MIB, rss_cap=0)
    out("")
    out("Part 5: defaults and intervals auto-tuning under KVM (hot set %d MiB); "
        "host load average %.2f %.2f %.2f" % (args.hot_mib, *os.getloadavg()))
    tuning.print_header(targs)
    rows = []
    cfg = {"hot_start": HOT_START, "hot_size": args.hot_mib * MIB}
    for mem in args.tuning_sizes:
        for accel, sources in (("kvm,dirty-ring-size=4096", ["dirty-ring"]),
                               ("kvm", ["dirty-bitmap", "page-hash"])):
            label = tuning.size_label(mem)
            pairs = [(s, m) for s in sources if s in args.tuning_sources
                     for m in args.tuning_modes]
            # The inner guest sometimes resets itself under the nested
            # emulation (docs/notes/nested-harness.md, "The inner guest
            # that resets itself"): a second guest does the rows left.
            for attempt in (1, 2):
                done = [(s, m) for z, s, m, _ in rows if z == label]
                left = [p for p in pairs if p not in done]
                if not left:
                    break
                try:
                    inner = host.start_inner(
                        accel, mem_mib=mem, config=cfg,
                        extra_args=["-object", "memory-backend-ram,id=m0,size=%dM,"
                                    "reserve=off" % mem, "-machine", "memory-backend=m0"])
                    inner.wait_console(r"pass=\d+ t=1$", timeout=60)
                    tuning.series(inner, targs, label, left, rows)
                    inner.quit()
                except NestedError as e:
                    out("  %s %s: the inner QEMU ended (attempt %d of 2): %s"
                        % (label, accel, attempt, e))
    out("host load average now %.2f %.2f %.2f" % os.getloadavg())
    tuning.print_results(rows, prefix="nested_")


def main():
    ap = harg.parser(__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--mem-mib", type=int, default=256)
    ap.add_argument("--hot-mib", type=int, default=8)
    ap.add_argument("--sample-us", type=int, default=5000)
    ap.add_argument("--aggr-us", type=int, default=100000)
    ap.add_argument("--run", type=float, default=10.0, help="seconds per monitor in part 1")
    ap.add_argument("--window", type=float, default=3.0, help="seconds per slowdown window")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sync-sizes", default="0.25,1,4,16",
                    help="guest sizes in GiB for part 4")
    ap.add_argument("--tuning", action="store_true",
                    help="also run part 5: each source at defaults and with the "
                    "intervals goal, by guest size")
    ap.add_argument("--tuning-only", action="store_true",
                    help="run part 5 only")
    ap.add_argument("--tuning-sizes", default="256,1024,4096", metavar="MIB,...",
                    help="part 5: guest sizes in MiB (default: %(default)s)")
    ap.add_argument("--tuning-sources", default=",".join(TUNING_SOURCES),
                    metavar="SRC,...", help="part 5: sources (default: %(default)s)")
    ap.add_argument("--tuning-modes", default=",".join(tuning.MODES),
                    metavar="MODE,...", help="part 5: defaults and/or auto "
                    "(default: %(default)s)")
    ap.add_argument("--tuning-find-cap", type=float, default=20.0, metavar="S",
                    help="part 5: seconds allowed to find the hot set "
                    "(default: %(default)s)")
    ap.add_argument("--tuning-measure", type=float, default=6.0, metavar="S",
                    help="part 5: seconds measured per run (default: %(default)s)")
    args = ap.parse_args()
    args.sync_sizes = [float(x) for x in args.sync_sizes.split(",")]
    args.tuning_sizes = [int(x) for x in args.tuning_sizes.split(",") if x]
    args.tuning_sources = [x for x in args.tuning_sources.split(",") if x]
    args.tuning_modes = [x for x in args.tuning_modes.split(",") if x]
    bad = [m for m in args.tuning_modes if m not in tuning.MODES]
    if bad:
        ap.error("--tuning-modes: %s not one of %s" % (",".join(bad), ",".join(tuning.MODES)))
    hot = (HOT_START, HOT_START + args.hot_mib * MIB)
    t0 = time.monotonic()
    with NestedHost(qemu=args.qemu, firmware=args.firmware) as host:
        try:
            host.start()
        except NestedSkip as e:
            out("SKIP %s" % e)
            return EXIT_SKIP
        if not args.tuning_only:
            out("attributes: sample %d us, aggr %d us; guest %d MiB, hot %d MiB"
                % (args.sample_us, args.aggr_us, args.mem_mib, args.hot_mib))
            part_side_by_side(host, args, hot)
            part_bitmap(host, args, hot)
        if args.tuning or args.tuning_only:
            part_tuning(host, args)
        host.poweroff()
    result("bench_seconds", "%.0f" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
