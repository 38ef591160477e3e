#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""nested-reclaim.py - proactive reclaim of a nested guest's cold memory: qdamon pageout vs kernel DAMON.

A benchmark, not a test: it prints what it measured and "RESULT
key=value" lines, and exits non-zero only when it could not measure.
It boots the nested harness with our kernel (harness.nested, kernel
"idle": page_idle, DAMON, zram), makes a zram swap device inside the
outer VM, and runs our QEMU there under -accel kvm on the workload
guest, --mem-mib MiB, which fills all its RAM with a pattern (so that
every page is resident and none compresses to nothing) and then writes
a --hot-mib MiB hot set forever: everything but the hot set is cold.

The same scheme, one after the other, each on a fresh inner QEMU:

  qdamon   damon-start (source idle-page, the default as root) with a
           pageout scheme;
  kdamond  Linux's DAMON through sysfs on the inner QEMU process (vaddr
           on its guest RAM mapping, harness.kdamond) with the same
           scheme, written to sysfs from the same dict.

The scheme is DAMON_RECLAIM's: page out regions not accessed for
--age-s, at most 128 MiB per second, oldest first (quota weights age).
Unlike DAMON_RECLAIM, no 10 ms time quota (under TCG the same work
takes some 20 times longer, so it would measure the emulation) and no
free-memory watermarks (the outer VM has plenty free: they would keep
the scheme off).  Both run at the same monitoring attributes.

For each, until the guest RAM's residency has stopped falling (less
than 1% of guest RAM in 15 s) or --run-s:

  saved       guest RAM no longer resident at the end, as the outer VM
              sees it (the Rss of QEMU's guest RAM mapping in
              /proc/PID/smaps), % of guest RAM;
  converge    seconds from the start to the first sample of the final
              15 s in which it stopped falling;
  slowdown    1 - the guest's passes per second over the baseline's:
              while it converges, and over --window seconds once it has
              (the steady state).  The baseline is the mean of two
              windows without a monitor, --window seconds just before it
              starts and just after it stops (the same memory state as
              the steady one; pages out stay out);
  cpu         the worker's CPU per second of wall time over the whole
              run: qdamon's monitor thread (query-damon cpu-ns, the
              page-out system calls included), the kdamond thread
              (which pages out itself);
  applied     the scheme's sz-applied at the end: for qdamon the bytes
              that were resident before a page-out and not after, for
              Linux's vaddr the bytes of every region whose madvise()
              succeeded (so it counts regions already paged out again).

The issue's target is >= 40% of guest RAM saved at <= 2% slowdown; the
figures are printed, not checked.  Everything nested runs under TCG's
emulation of SVM: absolute times and CPU are far from bare metal (a
page-out costs about a millisecond); compare the two rows of one run.
kdamond and idle-page share page_idle's flags: they never run at once.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from harness import args as harg, pattern  # noqa: E402
from harness.bench import out, pass_rate, result  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.kdamond import Kdamond  # noqa: E402
from harness.nested import NestedHost, NestedSkip  # noqa: E402
from harness.report import EXIT_SKIP  # noqa: E402
from nested.reclaim import Meter  # noqa: E402

HOT_START = 16 * MIB
STABLE_S = 15.0
QUERY_TIMEOUT = 600.0   # a query waits for the monitor's step, page-outs included


def scheme(args):
    return {"action": "pageout",
            "access-pattern": {"sz-min": PAGE, "nr-accesses-max": 0,
                               "age-min": max(1, round(args.age_s * 1e6 / args.aggr_us))},
            "quotas": {"bytes": 128 * MIB, "reset-interval-ms": 1000,
                       "weights": {"age": 1}}}


class QdamonSide:
    name = "qdamon"

    def __init__(self, host, inner, args):
        self.inner = inner

    def start(self, args):
        self.inner.qmp.execute("damon-start", {"sample-us": args.sample_us,
                                               "aggr-us": args.aggr_us,
                                               "schemes": [scheme(args)]})

    def info(self):
        return [m for m in self.inner.qmp.execute("query-damon", timeout=QUERY_TIMEOUT)
                if m["id"] == "damon0"][0]

    def cpu_s(self):
        return self.info()["cpu-ns"] / 1e9

    def stats(self):
        return self.inner.qmp.execute("query-damon-schemes", {"id": "damon0"},
                                      timeout=QUERY_TIMEOUT)["schemes"][0]["stats"]

    def describe(self):
        m = self.info()
        return "source %s, %d regions" % (m["source"], m["nr-regions"])

    def stop(self):
        self.inner.qmp.execute("damon-stop", timeout=QUERY_TIMEOUT)


class KdamondSide:
    name = "kdamond"

    def __init__(self, host, inner, args):
        self.k = Kdamond(host, inner.pid, args.mem_mib * MIB)

    def start(self, args):
        self.k.start(args.sample_us, args.aggr_us, schemes=[scheme(args)])

    def cpu_s(self):
        return self.k.cpu_s()

    def stats(self):
        return self.k.scheme_stats(0)

    def describe(self):
        return "vaddr on pid %d, %d regions" % (self.k.pid, len(self.k.regions()))

    def stop(self):
        self.k.stop()


def run_one(host, args, side_cls):
    cfg = {"hot_start": HOT_START, "hot_size": args.hot_mib * MIB, "fill_size": "all"}
    inner = host.start_inner("kvm", mem_mib=args.mem_mib, config=cfg)
    try:
        inner.wait_console(pattern.FILL_DONE, timeout=300)
        inner.wait_console(r"^qdamon-workload: pass=\d+ t=2$", timeout=60)
        fill = pattern.fill_info(inner.console())
        meter = Meter(host, inner, args.mem_mib * MIB)
        off = pass_rate(inner, args.window)
        side = side_cls(host, inner, args)
        m0 = meter.read()
        side.start(args)
        t0 = time.monotonic()
        c0 = side.cpu_s()
        p0 = inner.passes()[-1]
        samples, conv = [], None
        while time.monotonic() - t0 < args.run_s:
            m = meter.read()
            m["applied"] = side.stats()["sz-applied"]
            samples.append(m)
            old = [s for s in samples if s["applied"] and m["t"] - s["t"] >= STABLE_S]
            if old and old[-1]["rss"] - m["rss"] < args.mem_mib * MIB / 100:
                conv = old[-1]["t"] - t0
                break
            time.sleep(2)
        p1 = inner.passes()[-1]
        during = (p1[0] - p0[0]) / (p1[1] - p0[1]) if p1[1] > p0[1] else None
        steady = pass_rate(inner, args.window)
        c1 = side.cpu_s()
        wall = time.monotonic() - t0
        m1 = meter.read()
        st = side.stats()
        what = side.describe()
        side.stop()
        # the same memory state without the monitor: with the window
        # before it, the baseline, so that a drift of the host's speed
        # over the run does not pass for the monitor's cost
        off = [x for x in (off, pass_rate(inner, args.window)) if x]
        off = sum(off) / len(off) if off else None
    finally:
        inner.quit(timeout=30)
        inner.close()
    return {"saved": m0["rss"] - m1["rss"], "rss0": m0["rss"], "rss1": m1["rss"],
            "swap": m1["swap"], "conv": conv, "off": off, "during": during,
            "steady": steady, "cpu": (c1 - c0) / wall, "applied": st["sz-applied"],
            "tried": st["sz-tried"], "what": what, "fill": fill,
            "series": [(round(s["t"] - t0), round(s["rss"] / MIB)) for s in samples]}


def slow(off, on):
    return (1 - on / off) * 100 if off and on else None


def pct(x):
    return "%.1f%%" % x if x is not None else "?"


def main():
    ap = harg.parser(__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--mem-mib", type=int, default=512)
    ap.add_argument("--hot-mib", type=int, default=32)
    ap.add_argument("--sample-us", type=int, default=100000)
    ap.add_argument("--aggr-us", type=int, default=1000000)
    ap.add_argument("--age-s", type=float, default=10.0,
                    help="page out what was not accessed for this long (default: "
                    "%(default)s)")
    ap.add_argument("--run-s", type=float, default=400.0,
                    help="most seconds per monitor (default: %(default)s)")
    ap.add_argument("--window", type=float, default=20.0,
                    help="seconds per pass-rate window (default: %(default)s)")
    ap.add_argument("--thp", choices=("madvise", "never", "always"), default="madvise",
                    help="the outer kernel's transparent_hugepage/enabled (default: "
                    "%(default)s, so QEMU's guest RAM is on huge pages)")
    ap.add_argument("--monitors", default="qdamon,kdamond")
    args = ap.parse_args()
    sides = {"qdamon": QdamonSide, "kdamond": KdamondSide}
    t0 = time.monotonic()
    rows = []
    with NestedHost(qemu=args.qemu, firmware=args.firmware, kernel="idle") as host:
        try:
            host.start()
        except NestedSkip as e:
            out("SKIP %s" % e)
            return EXIT_SKIP
        host.check("echo %s > /sys/kernel/mm/transparent_hugepage/enabled" % args.thp)
        host.check("echo 1G > /sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && "
                   "swapon /dev/zram0")
        for name in args.monitors.split(","):
            r = run_one(host, args, sides[name])
            rows.append((name, r))
            out("%s: %s; resident guest RAM (s: MiB): %s" % (
                name, r["what"], " ".join("%d:%d" % x for x in r["series"])))
        host.shell("swapoff /dev/zram0", timeout=300)
        host.poweroff()
    cold = (rows[0][1]["fill"][1] - rows[0][1]["fill"][0]) - args.hot_mib * MIB if rows else 0
    out("guest %d MiB, hot set %d MiB, cold %.0f MiB (%.0f%%); pageout after %.0f s idle, "
        "128 MiB/s quota; sample %d us, aggr %d us; host THP %s; zram (lzo-rle) in the "
        "outer VM" % (args.mem_mib, args.hot_mib, cold / MIB, cold * 100 / (args.mem_mib * MIB),
                      args.age_s, args.sample_us, args.aggr_us, args.thp))
    out("%-8s %14s %9s %13s %13s %7s %9s %9s" % (
        "monitor", "saved", "converge", "slow (conv.)", "slow (steady)", "cpu %",
        "applied", "tried"))
    for name, r in rows:
        mem = args.mem_mib * MIB
        out("%-8s %6.0f MiB %5.1f%% %8s %13s %13s %7.2f %5.0f MiB %5.0f MiB" % (
            name, r["saved"] / MIB, r["saved"] * 100 / mem,
            "%.0f s" % r["conv"] if r["conv"] is not None else "no",
            pct(slow(r["off"], r["during"])), pct(slow(r["off"], r["steady"])),
            r["cpu"] * 100, r["applied"] / MIB, r["tried"] / MIB))
        result("%s_saved_pct" % name, "%.1f" % (r["saved"] * 100 / mem))
        result("%s_saved_mib" % name, "%.0f" % (r["saved"] / MIB))
        result("%s_converge_s" % name, "%.0f" % r["conv"] if r["conv"] is not None else "never")
        result("%s_slowdown_converging_pct" % name, "%.1f" % slow(r["off"], r["during"])
               if slow(r["off"], r["during"]) is not None else "?")
        result("%s_slowdown_steady_pct" % name, "%.1f" % slow(r["off"], r["steady"])
               if slow(r["off"], r["steady"]) is not None else "?")
        result("%s_passes_off_conv_steady" % name, "/".join(
            "%.0f" % x if x else "?" for x in (r["off"], r["during"], r["steady"])))
        result("%s_cpu_pct" % name, "%.2f" % (r["cpu"] * 100))
        result("%s_applied_mib" % name, "%.0f" % (r["applied"] / MIB))
    result("bench_seconds", "%.0f" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
