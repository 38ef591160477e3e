#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tuning.py - every TCG source at default intervals and with intervals auto-tuning, side by side, by guest size.

A benchmark, not a test: it prints one table, then one "RESULT
key=value" line per figure, and exits non-zero only when it could not
measure.  Nothing in it is asserted.

For each guest size (default 1, 16 and 256 GiB; RAM in a memory backend
with reserve=off, as bench/qemu-overhead.py boots it, so untouched guest
RAM is never allocated) one QEMU runs the workload guest under TCG,
writing a 16 MiB hot set at 16 MiB.  For each source (dirty-bitmap,
page-hash, tcg-accessed) and each mode, one after the other on the same
guest:

  defaults  damon-start with the source only: sample 5 ms, aggr 100 ms,
            10..1000 regions;
  auto      the same with an intervals goal: Linux's recommended
            access-bp 400 (4 %), aggrs 3, min-sample-us 5000,
            max-sample-us 10000000, and qdamon's CPU budget
            max-cpu-permille 10 (1 % of a core);

the run is:

  find     from damon-start, query-damon-regions is polled (every
           0.1 s, each new aggregation scored once) until the hot set
           is found: >= 90 % of the hot range lies in "hot" regions,
           those whose nr-accesses is >= half the largest nr-accesses of
           that snapshot, and the hot regions outside the hot range add
           up to <= 10 % of its size (without that, one big region
           holding the hot set and much more would count as finding it).
           The time is seconds from damon-start to the poll that saw the
           snapshot; "never" if --find-cap seconds pass first.
  measure  --measure seconds more: monitor CPU is the growth of
           query-damon's cpu-ns over the wall time, in % of one core;
           the guest's pass rate is taken from its console's pass= lines
           (and, host-timed, from the write sequence at the hot set's
           first word, read with xp); query-damon-wss is read at each
           new aggregation.  WSS error is the median, over those
           aggregations (the last snapshot's if none ended in the
           window), of |wss-bytes - hot size| / hot size: the true
           working set is the hot set the workload writes (16 MiB; the
           guest's few code and stack pages are left out, under 0.1 %).
  off      the monitor is stopped and the guest runs --off seconds
           without one.

Off windows thus alternate with the monitored ones (off, run, off, run,
... off): the guest slowdown of a run is the mean pass rate of the two
off windows around it over its pass rate in the measure window (1.00 =
no slowdown), so slow drift in host speed cancels.  It is given three
ways: by the console's pass= lines, by the write sequence over host
time, and by the write sequence over the vCPU thread's CPU time
(/proc/PID/task/TID/schedstat), which the host's other load does not
move but which leaves out the CPU the monitor thread takes from the
guest (that is the cpu % column).  sample-us is the one in
force at the end of the window (with auto-tuning, query-damon's
intervals-tuning.sample-us).

page-hash reads guest RAM; where that makes the host allocate it, QEMU's
resident set is polled and the monitor is stopped when it passes
--rss-cap (the row says RSS-CAP).

Everything runs under TCG (this host has no KVM), on a host that other
work may load: the load average is printed at the start and the end.
The default run takes about 7 minutes here.
"""

import importlib.util
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from harness import args as harg, hotset  # noqa: E402
from harness.bench import out, result  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.qmp import QMPError, QMPProtocolError  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.steps import MONITOR, monitor_info as monitor  # noqa: E402
from harness.vm import VMError  # noqa: E402


def _load_overhead():
    """bench/qemu-overhead.py as a module (its name has a hyphen): its
    VM setup (big_vm, boot with the TLB warm-up) and monitor helpers."""
    spec = importlib.util.spec_from_file_location(
        "qemu_overhead", os.path.join(HERE, "qemu-overhead.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ovh = _load_overhead()
BenchError = ovh.BenchError

SOURCES = ovh.SOURCES
MODES = ("defaults", "auto")
HOT_START = 16 * MIB
POLL_S = 0.1
PRECISION_MAX = 0.10    # hot bytes outside the hot range, of its size
# Linux's recommended intervals goal (4 %, every 3 aggregations), sample
# interval 5 ms to 10 s, and qdamon's CPU budget of 1 % of a core.
GOAL = {"access-bp": 400, "aggrs": 3, "min-sample-us": 5000,
        "max-sample-us": 10000000, "max-cpu-permille": 10}


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--sizes", default="1,16,256", metavar="GIB,...",
                    help="guest RAM sizes in GiB (default: %(default)s)")
    ap.add_argument("--sources", default=",".join(SOURCES), metavar="SRC,...",
                    help="access sources (default: %(default)s)")
    ap.add_argument("--modes", default=",".join(MODES), metavar="MODE,...",
                    help="defaults and/or auto (default: %(default)s)")
    ap.add_argument("--hot-size", type=harg.hex_int, default=16 * MIB,
                    help="the guest's hot set, at 16 MiB (default: 0x1000000)")
    ap.add_argument("--find-cap", type=float, default=30.0, metavar="S",
                    help="seconds allowed to find the hot set before 'never' "
                    "(default: %(default)s)")
    ap.add_argument("--measure", type=float, default=10.0, metavar="S",
                    help="seconds measured per run after the find "
                    "(default: %(default)s)")
    ap.add_argument("--off", type=float, default=6.0, metavar="S",
                    help="seconds of each window without a monitor "
                    "(default: %(default)s)")
    ap.add_argument("--rss-cap", type=int, default=4096, metavar="MIB",
                    help="stop a monitor when QEMU's resident set grows past "
                    "this (default: %(default)s)")
    ap.add_argument("--access-bp", type=int, default=GOAL["access-bp"],
                    help="auto: the goal's access-bp (default: %(default)s)")
    ap.add_argument("--aggrs", type=int, default=GOAL["aggrs"],
                    help="auto: the goal's aggrs (default: %(default)s)")
    ap.add_argument("--min-sample-us", type=int, default=GOAL["min-sample-us"],
                    help="auto: the goal's min-sample-us (default: %(default)s)")
    ap.add_argument("--max-sample-us", type=int, default=GOAL["max-sample-us"],
                    help="auto: the goal's max-sample-us (default: %(default)s)")
    ap.add_argument("--max-cpu-permille", type=int, default=GOAL["max-cpu-permille"],
                    help="auto: the goal's max-cpu-permille (default: %(default)s)")
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    args.sources = [x for x in args.sources.split(",") if x]
    args.modes = [x for x in args.modes.split(",") if x]
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        ap.error("--modes: %s not one of %s" % (",".join(bad), ",".join(MODES)))
    args.goal = {"access-bp": args.access_bp, "aggrs": args.aggrs,
                 "min-sample-us": args.min_sample_us,
                 "max-sample-us": args.max_sample_us,
                 "max-cpu-permille": args.max_cpu_permille}
    return args


def key(*parts):
    return "_".join(str(p).replace("-", "_") for p in parts)


# ---------------------------------------------------------------------------
# Scoring a snapshot

def find_score(regions, hot_start, hot_size):
    """(coverage, outside) of a query-damon-regions snapshot: the share
    of the hot range in regions at >= half the snapshot's largest
    nr-accesses, and the bytes of such regions outside it."""
    rows = regions["regions"]
    top = max((r["nr-accesses"] for r in rows), default=0)
    if top == 0:
        return 0.0, 0
    hot = [(r["start"], r["end"]) for r in rows
           if r["nr-accesses"] >= hotset.HOT_RATE_MIN * top]
    inside = hotset.covered(hot, hot_start, hot_size)
    return inside / hot_size, sum(e - s for s, e in hot) - inside


# ---------------------------------------------------------------------------
# One run

def start(vm, source, goal):
    a = {"id": MONITOR, "source": source}
    if goal:
        a["intervals-goal"] = goal
    vm.qmp.execute("damon-start", a)
    m = monitor(vm)
    if m["state"] != "running":
        raise BenchError("%s did not start" % source)
    if goal and "intervals-tuning" not in m:
        raise BenchError("query-damon shows no intervals-tuning with a goal: %r" % m)


def sample_us(m):
    it = m.get("intervals-tuning")
    return it["sample-us"] if it else m["attrs"]["sample-us"]


def vcpu_ns(vm):
    """CPU time of a local QEMU's vCPU threads ("CPU n/TCG"), in ns, from
    /proc/PID/task/*/schedstat; None for a QEMU in the nested VM."""
    p = getattr(vm, "proc", None)
    if p is None:
        return None
    total, seen = 0, False
    base = "/proc/%d/task" % p.pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                if not f.read().startswith("CPU "):
                    continue
            with open("%s/%s/schedstat" % (base, tid)) as f:
                total += int(f.read().split()[0])
            seen = True
        except (OSError, ValueError, IndexError):
            continue
    return total if seen else None


def xp_seq(vm):
    """(the hot set's write sequence, host time, vCPU CPU ns)."""
    return vm.read_phys_u32(HOT_START)[0], time.monotonic(), vcpu_ns(vm)


def xp_passes(args, a, b):
    """Passes over the hot set between two xp_seq() reads: its first
    word is a 32-bit write sequence, one per page written."""
    return ((b[0] - a[0]) % (1 << 32)) / (args.hot_size // PAGE)


def xp_rate(args, a, b):
    """Passes per second of host time."""
    return xp_passes(args, a, b) / (b[1] - a[1])


def cpu_rate(args, a, b):
    """Passes per second of vCPU CPU time (None without it): the host's
    other load slows the vCPU thread down but leaves this alone."""
    if a[2] is None or b[2] is None or b[2] <= a[2]:
        return None
    return xp_passes(args, a, b) / ((b[2] - a[2]) / 1e9)


def rate_window(vm, args, seconds):
    """Guest speed over the next seconds, with no monitor: (pass rate
    by the console, by the write sequence, per vCPU CPU second)."""
    time.sleep(0.5)
    line0, x0 = len(vm.passes()), xp_seq(vm)
    time.sleep(seconds)
    x1 = xp_seq(vm)
    rate = ovh.pass_rate(vm, line0)
    if rate is None:
        raise BenchError("fewer than two pass= lines in a %.0f s window" % seconds)
    return rate, xp_rate(args, x0, x1), cpu_rate(args, x0, x1)


def over_cap(vm, args):
    """Has a local QEMU's resident set passed --rss-cap?  (False for a
    QEMU in the nested VM, harness.nested's InnerVM, which has no
    local process.)"""
    if getattr(vm, "proc", None) is None:
        return False
    return ovh.proc_status(vm, "VmRSS") > args.rss_cap


def run(vm, args, source, mode):
    """Start, find, measure, stop.  Returns the figures of the run."""
    r = {"capped": None, "find_s": None, "coverage": 0.0}
    t_start = time.monotonic()
    start(vm, source, args.goal if mode == "auto" else None)
    last = 0
    # Find.
    while True:
        now = time.monotonic()
        if now - t_start >= args.find_cap:
            break
        if over_cap(vm, args):
            r["capped"] = "find"
            break
        regions = vm.qmp.execute("query-damon-regions", {"id": MONITOR})
        if regions["nr-aggregations"] > last:
            last = regions["nr-aggregations"]
            cov, outside = find_score(regions, HOT_START, args.hot_size)
            r["coverage"] = max(r["coverage"], cov)
            if cov >= hotset.COVERAGE_MIN and outside <= PRECISION_MAX * args.hot_size:
                r["find_s"] = now - t_start
                break
        time.sleep(POLL_S)
    # Measure.
    m0, t0 = monitor(vm), time.monotonic()
    line0, x0 = len(vm.passes()), xp_seq(vm)
    errs = []
    while not r["capped"] and time.monotonic() - t0 < args.measure:
        time.sleep(0.25)
        if over_cap(vm, args):
            r["capped"] = "measure"
            break
        wss = vm.qmp.execute("query-damon-wss", {"id": MONITOR})
        if wss["nr-aggregations"] > last:
            last = wss["nr-aggregations"]
            errs.append(abs(wss["wss-bytes"] - args.hot_size) / args.hot_size)
    m1, t1, x1 = monitor(vm), time.monotonic(), xp_seq(vm)
    if not errs:
        wss = vm.qmp.execute("query-damon-wss", {"id": MONITOR})
        errs.append(abs(wss["wss-bytes"] - args.hot_size) / args.hot_size)
        r["wss_aggrs"] = 0
    else:
        r["wss_aggrs"] = len(errs)
    ovh.stop_monitor(vm)
    r["cpu_pct"] = 100.0 * (m1["cpu-ns"] - m0["cpu-ns"]) / 1e9 / (t1 - t0)
    r["samples_per_s"] = (m1["nr-samples"] - m0["nr-samples"]) / (t1 - t0)
    r["sample_us"] = sample_us(m1)
    it = m1.get("intervals-tuning") or {}
    r["limited_by"] = it.get("limited-by", "-")
    r["nr_tunes"] = it.get("nr-tunes", 0)
    r["regions"] = m1["nr-regions"]
    r["wss_err"] = statistics.median(errs)
    r["rate_on"] = ovh.pass_rate(vm, line0)
    r["xp_on"] = xp_rate(args, x0, x1)
    r["cpu_on"] = cpu_rate(args, x0, x1)
    r["seconds"] = t1 - t0
    return r


# ---------------------------------------------------------------------------

HEADER = ("%-5s %-13s %-8s %7s %10s %13s %9s %7s %7s %7s %8s %8s %6s %-14s"
          % ("size", "source", "mode", "cpu %", "sample-us", "pass/s on,off",
             "slowdown", "(xp)", "(vcpu)",
             "wss err", "find s", "regions", "tunes", "limited-by"))


def size_label(mib):
    return "%dG" % (mib // 1024) if mib % 1024 == 0 else "%dM" % mib


def row_text(size, source, mode, r):
    find = "%.2f" % r["find_s"] if r["find_s"] is not None else "never"
    rates = "%.0f,%.0f" % (r["rate_on"] or 0, r["rate_off"])
    return ("%-5s %-13s %-8s %7.2f %10d %13s %9s %7s %7s %6.1f%% %8s %8d %6d %-14s%s"
            % (size, source, mode, r["cpu_pct"], r["sample_us"], rates,
               "%.3f" % r["slowdown"] if r.get("slowdown") else "-",
               "%.3f" % r["slowdown_xp"] if r.get("slowdown_xp") else "-",
               "%.3f" % r["slowdown_cpu"] if r.get("slowdown_cpu") else "-",
               r["wss_err"] * 100, find, r["regions"], r["nr_tunes"],
               r["limited_by"], "  RSS-CAP(%s)" % r["capped"] if r["capped"] else ""))


def print_header(args):
    """What was run and how it is scored, and the table's header."""
    out("defaults: sample 5000 us, aggr 100000 us, regions 10..1000; auto: the same "
        "plus intervals-goal %s" % ", ".join("%s=%s" % kv for kv in args.goal.items()))
    out("per run: find (cap %.0f s), measure %.0f s, then %.0f s off; hot set %d MiB "
        "at %d MiB; true WSS = the hot set" % (args.find_cap, args.measure, args.off,
                                               args.hot_size // MIB, HOT_START // MIB))
    out("columns: cpu % = monitor thread CPU in % of one core over the measure "
        "window; sample-us in force at its end; pass/s = guest passes per second "
        "on, off (mean of the off windows around); slowdown = off / on by console "
        "pass= lines, (xp) by the hot set's write sequence over host time, "
        "(vcpu) by it over the vCPU thread's CPU time (blind to host load and "
        "to the monitor thread's share of the host); wss err = median "
        "|wss-bytes - hot size| / hot size; find s = seconds from damon-start to a "
        "snapshot with >= 90% of the hot set in regions at >= half the snapshot's "
        "top nr-accesses and <= 10% of its size outside it; tunes, limited-by: "
        "query-damon's intervals-tuning at the end")
    out("")
    out(HEADER)
    out("-" * len(HEADER))


def series(vm, args, size, pairs, rows):
    """Each (source, mode) of pairs on one running guest (its first pass
    seen), with off windows between: append (size, source, mode,
    figures) to rows and print each row."""
    prev_off = rate_window(vm, args, args.off)
    for source, mode in pairs:
        r = run(vm, args, source, mode)
        off = rate_window(vm, args, args.off)
        if r["rate_on"]:
            r["slowdown"] = (prev_off[0] + off[0]) / 2 / r["rate_on"]
        r["slowdown_xp"] = (prev_off[1] + off[1]) / 2 / r["xp_on"]
        if r["cpu_on"] and prev_off[2] and off[2]:
            r["slowdown_cpu"] = (prev_off[2] + off[2]) / 2 / r["cpu_on"]
        r["rate_off"] = (prev_off[0] + off[0]) / 2
        prev_off = off
        rows.append((size, source, mode, r))
        out(row_text(size, source, mode, r))


def print_results(rows, prefix=""):
    for size, source, mode, r in rows:
        k = key(source, mode, size.lower() + "ib")
        result(prefix + "monitor_cpu_pct_" + k, "%.2f" % r["cpu_pct"])
        result(prefix + "sample_us_" + k, "%d" % r["sample_us"])
        if r.get("slowdown"):
            result(prefix + "guest_slowdown_" + k, "%.3f" % r["slowdown"])
        result(prefix + "guest_slowdown_xp_" + k, "%.3f" % r["slowdown_xp"])
        if r.get("slowdown_cpu"):
            result(prefix + "guest_slowdown_vcpu_" + k, "%.3f" % r["slowdown_cpu"])
        result(prefix + "wss_err_pct_" + k, "%.1f" % (r["wss_err"] * 100))
        result(prefix + "find_s_" + k,
               "%.2f" % r["find_s"] if r["find_s"] is not None else "never")
        if r["capped"]:
            result(prefix + "rss_capped_" + k, "1")


def bench_size(args, gib, rows):
    with ovh.big_vm(args, gib) as vm:
        # Thread names ("CPU 0/TCG"), so that vcpu_ns() finds the vCPU.
        vm.extra_args += ["-name", "tuning,debug-threads=on"]
        t_boot = time.monotonic()
        ovh.boot(vm)
        out("  %d GiB guest booted and TLB warmed in %.1f s"
            % (gib, time.monotonic() - t_boot))
        series(vm, args, size_label(gib * 1024),
               [(s, m) for s in args.sources for m in args.modes], rows)
        out("  %d GiB: QEMU RSS peak %.0f MiB" % (gib, ovh.proc_status(vm, "VmHWM")))
        vm.quit()


def main():
    args = parse_args()
    t0 = time.monotonic()
    out("tuning: %s; host: %d CPUs, load average %.2f %.2f %.2f"
        % (args.qemu, os.cpu_count(), *os.getloadavg()))
    print_header(args)
    rows = []
    try:
        for gib in args.sizes:
            bench_size(args, gib, rows)
    except (BenchError, Failed, QMPError, QMPProtocolError, VMError) as e:
        out("ERROR %s: %s" % (type(e).__name__, e))
        return 1
    out("")
    out("load average now %.2f %.2f %.2f" % os.getloadavg())
    print_results(rows)
    result("bench_seconds", "%.0f" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
