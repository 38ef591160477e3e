#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""nested-idle.py - a read-mostly guest under real KVM: kernel DAMON vaddr vs qdamon idle-page.

A benchmark, not a test: it prints what it measured and "RESULT
key=value" lines, and exits non-zero only when it could not measure.
It boots the nested harness with our kernel that has page_idle
(harness.nested, kernel "idle"), runs our QEMU inside under -accel kvm
on the workload guest, which writes A (--hot-mib at 16 MiB) every pass
and only reads B (--read-mib at 32 MiB), and watches it, one monitor
after the other at the same attributes, for --run seconds each:

  kdamond       Linux's DAMON, vaddr on the QEMU process (harness.kdamond)
  idle-page     qdamon, host accessed bits
  dirty-ring    qdamon, writes only (the contrast: B is invisible to it)

--thp never backs guest RAM with 4 KiB host pages (the default, madvise,
gives QEMU's RAM 2 MiB ones: then a sample answers for its whole 2 MiB,
for kernel DAMON's vaddr as for idle-page, and the 2 MiB that hold the
guest's own code and stack count as accessed).

For each: aggregations until the read set B is found (>= 90% of it in
regions at >= half the largest nr_accesses), recall and precision of the
hot regions against A and B (bytes), the WSS error against |A| + |B|
(median of the last 5 reads; WSS = bytes in regions with nr_accesses >
0), the worker's CPU (kdamond's thread, qdamon's monitor thread) per
second, and the guest's slowdown (passes per second with no monitor,
windows before and after, over passes per second in the second half of
the monitor's run).

kdamond and idle-page share page_idle's flags: they never run at the
same time.  Everything runs under TCG's emulation of SVM in the outer
VM: absolute costs are far from bare metal, the ratios of one run are
what to read.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from harness import args as harg, hotset  # noqa: E402
from harness.bench import out, pass_rate, result  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.kdamond import Kdamond  # noqa: E402
from harness.nested import NestedHost, NestedSkip  # noqa: E402
from harness.report import EXIT_SKIP  # noqa: E402

HOT_START = 16 * MIB
READ_START = 32 * MIB


def score(regions, a, b):
    """(B coverage, recall, precision, wss) of [(start, end, nr)] against
    the ranges a and b (start, end)."""
    mx = max([r[2] for r in regions] + [1])
    hot = [(s, e) for s, e, n in regions if n > 0 and hotset.is_hot(n, mx)]
    truth = (a[1] - a[0]) + (b[1] - b[0])
    hit = sum(hotset.overlap(s, e, *a) + hotset.overlap(s, e, *b) for s, e in hot)
    hot_bytes = sum(e - s for s, e in hot)
    cov_b = sum(hotset.overlap(s, e, *b) for s, e in hot) / (b[1] - b[0])
    wss = sum(e - s for s, e, n in regions if n > 0)
    return cov_b, hit / truth, (hit / hot_bytes if hot_bytes else 0.0), wss


def watch(inner, args, a, b, regions_fn, cpu_fn):
    t0 = time.monotonic()
    c0 = cpu_fn()
    found, rows, on = None, [], None
    p_half = None
    while time.monotonic() - t0 < args.run:
        cov_b, rec, prec, wss = score(regions_fn(), a, b)
        if found is None and cov_b >= hotset.COVERAGE_MIN:
            found = time.monotonic() - t0
        rows.append((rec, prec, wss))
        if p_half is None and time.monotonic() - t0 >= args.run / 2:
            p_half = inner.passes()
        time.sleep(0.3)
    cpu = (cpu_fn() - c0) / (time.monotonic() - t0)
    p_end = inner.passes()
    if p_half and len(p_end) >= 2 and p_end[-1][1] != p_half[-1][1]:
        on = (p_end[-1][0] - p_half[-1][0]) / (p_end[-1][1] - p_half[-1][1])
    last = rows[-5:]
    return {"found_s": found, "recall": statistics.median(r[0] for r in last),
            "precision": statistics.median(r[1] for r in last),
            "wss": statistics.median(r[2] for r in last), "cpu": cpu, "on": on}


def qdamon_fns(inner):
    def regions():
        snap = inner.qmp.execute("query-damon-regions", {"id": "damon0"})
        return [(r["start"], r["end"], r["nr-accesses"]) for r in snap["regions"]]

    def cpu():
        return [m for m in inner.qmp.execute("query-damon")
                if m["id"] == "damon0"][0]["cpu-ns"] / 1e9
    return regions, cpu


def run_one(host, inner, args, a, b, name):
    if name == "kdamond":
        k = Kdamond(host, inner.pid, args.mem_mib * MIB)
        k.start(args.sample_us, args.aggr_us)
        try:
            return watch(inner, args, a, b, k.regions, k.cpu_s)
        finally:
            k.stop()
    inner.qmp.execute("damon-start", {"source": name, "sample-us": args.sample_us,
                                      "aggr-us": args.aggr_us})
    try:
        return watch(inner, args, a, b, *qdamon_fns(inner))
    finally:
        inner.qmp.execute("damon-stop", {"id": "damon0"})


def main():
    ap = harg.parser(__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--mem-mib", type=int, default=256)
    ap.add_argument("--hot-mib", type=int, default=4)
    ap.add_argument("--read-mib", type=int, default=16)
    ap.add_argument("--sample-us", type=int, default=5000)
    ap.add_argument("--aggr-us", type=int, default=100000)
    ap.add_argument("--run", type=float, default=20.0, help="seconds per monitor")
    ap.add_argument("--window", type=float, default=4.0, help="seconds per idle window")
    ap.add_argument("--monitors", default="kdamond,idle-page,dirty-ring")
    ap.add_argument("--thp", choices=("madvise", "never", "always"), default="madvise",
                    help="the outer kernel's transparent_hugepage/enabled while the inner "
                    "QEMU starts (default: %(default)s, which QEMU's guest RAM gets)")
    args = ap.parse_args()
    a = (HOT_START, HOT_START + args.hot_mib * MIB)
    b = (READ_START, READ_START + args.read_mib * MIB)
    truth = (a[1] - a[0]) + (b[1] - b[0])
    aggr_s = args.aggr_us / 1e6
    t0 = time.monotonic()
    with NestedHost(qemu=args.qemu, firmware=args.firmware, kernel="idle") as host:
        try:
            host.start()
        except NestedSkip as e:
            out("SKIP %s" % e)
            return EXIT_SKIP
        host.check("echo %s >/sys/kernel/mm/transparent_hugepage/enabled" % args.thp)
        cfg = {"hot_start": a[0], "hot_size": a[1] - a[0],
               "read_start": b[0], "read_size": b[1] - b[0]}
        inner = host.start_inner("kvm,dirty-ring-size=4096", mem_mib=args.mem_mib,
                                 config=cfg)
        inner.wait_console(r"pass=\d+ t=1$", timeout=60)
        out("guest %d MiB: A %d MiB written, B %d MiB only read; sample %d us, aggr %d us, "
            "%.0f s per monitor; host THP %s (%s)"
            % (args.mem_mib, args.hot_mib, args.read_mib, args.sample_us, args.aggr_us,
               args.run, args.thp,
               host.check("grep AnonHugePages /proc/meminfo").split(":")[1].strip()))
        out("%-10s %8s %7s %9s %8s %7s %9s" % ("monitor", "found", "recall", "precision",
                                              "wss err", "cpu %", "slowdown"))
        for name in args.monitors.split(","):
            off1 = pass_rate(inner, args.window)
            r = run_one(host, inner, args, a, b, name)
            off2 = pass_rate(inner, args.window)
            off = statistics.mean(x for x in (off1, off2) if x) if (off1 or off2) else None
            slow = off / r["on"] if off and r["on"] else None
            err = abs(r["wss"] - truth) / truth
            found = ("%.0f aggr" % (r["found_s"] / aggr_s)) if r["found_s"] is not None \
                else "never"
            out("%-10s %8s %7.2f %9.2f %7.1f%% %7.2f %9s" % (
                name, found, r["recall"], r["precision"], err * 100, r["cpu"] * 100,
                "%.3f" % slow if slow else "?"))
            key = name.replace("-", "_")
            result("%s_found_aggrs" % key, "%.0f" % (r["found_s"] / aggr_s)
                   if r["found_s"] is not None else "never")
            result("%s_recall" % key, "%.2f" % r["recall"])
            result("%s_precision" % key, "%.2f" % r["precision"])
            result("%s_wss_err_pct" % key, "%.1f" % (err * 100))
            result("%s_cpu_pct" % key, "%.2f" % (r["cpu"] * 100))
            result("%s_guest_slowdown" % key, "%.3f" % slow if slow else "?")
            result("%s_passes_off_on" % key, "%s/%s" % (
                "%.0f" % off if off else "?", "%.0f" % r["on"] if r["on"] else "?"))
        inner.quit()
        host.poweroff()
    result("bench_seconds", "%.0f" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
