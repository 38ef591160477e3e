#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-overhead.py - what a qdamon monitor costs the host and the guest (TCG).

A benchmark, not a test: it prints tables, then one "RESULT key=value"
line per figure, and exits non-zero only when it could not measure.

Part 1, monitor cost against guest RAM size.  For each size (default 1,
16 and 256 GiB) one QEMU runs the workload guest, writing a fixed 16 MiB
hot set, with its RAM in a memory backend with reserve=off: untouched
guest RAM is never allocated, so a 256 GiB guest fits any host.  For
each source, a monitor with the default attributes runs for a warm-up
and then a measured interval; its cost is the growth of query-damon's
cpu-ns (the monitor thread's CPU time) over the wall time, as a
percentage of one core, and per sample interval.  QEMU's resident set is
polled meanwhile: page-hash reads guest RAM, and where reading untouched
anonymous memory allocates it (transparent huge pages, which QEMU asks
for on guest RAM, allocate 2 MiB at a time), the monitor is stopped once
QEMU's RSS passes --rss-cap.  page-hash is measured a second time in a
QEMU with transparent huge pages off (prctl PR_SET_THP_DISABLE), the
"nothp" rows.

Part 2, guest slowdown.  One QEMU runs the same guest; windows with no
monitor alternate with windows with a monitor of each source in turn
(off, on, off, on, ... off), so that drift in host speed cancels.  The
guest's speed is its pass rate from the per-second "pass=" lines of its
console (vm.passes()); each "on" window is compared with the mean of
the two "off" windows around it, and guest_slowdown_<source> is the
median of those ratios, rate_off / rate_on (1.00 = no slowdown).

tcg-accessed (the TLB-fill observer) is measured like the others; its
monitor CPU is the prepare and check on the monitor thread, while the
TLB drops it queues run on the vCPU threads and show in the guest's
slowdown, not in cpu-ns.

Everything runs under TCG (the host has no KVM here); the whole run takes
about four minutes at the defaults.  The host's other load skews both
parts: the load average is printed first.
"""

import ctypes
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from harness import args as harg  # noqa: E402
from harness.env import GIB, MIB, PAGE  # noqa: E402
from harness.qmp import QMPError, QMPProtocolError  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.steps import MONITOR, monitor_info as monitor  # noqa: E402
from harness.vm import FIRST_PASS, VMError, WorkloadVM  # noqa: E402

SOURCES = ("dirty-bitmap", "page-hash", "tcg-accessed")
PR_SET_THP_DISABLE = 41
TLB_WARM_CYCLES = 5         # dirty-logging on/off: 10 full TLB flushes


class BenchError(Exception):
    """A measurement could not be made."""


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--sizes", default="1,16,256", metavar="GIB,...",
                    help="guest RAM sizes of part 1, in GiB (default: %(default)s)")
    ap.add_argument("--sources", default=",".join(SOURCES), metavar="SRC,...",
                    help="access sources (default: %(default)s)")
    ap.add_argument("--hot-size", type=harg.hex_int, default=16 * MIB,
                    help="the guest's hot set, at 16 MiB (default: 0x1000000)")
    ap.add_argument("--warmup", type=float, default=3.0, metavar="S",
                    help="part 1: seconds a monitor runs before it is measured "
                    "(default: %(default)s)")
    ap.add_argument("--measure", type=float, default=10.0, metavar="S",
                    help="part 1: seconds measured per size and source "
                    "(default: %(default)s)")
    ap.add_argument("--rss-cap", type=int, default=4096, metavar="MIB",
                    help="part 1: stop a monitor early when QEMU's resident set "
                    "grows past this (default: %(default)s)")
    ap.add_argument("--no-thp-rows", action="store_true",
                    help="part 1: skip the page-hash rows with transparent huge "
                    "pages off")
    ap.add_argument("--slowdown-mem", type=int, default=1, metavar="GIB",
                    help="part 2: guest RAM in GiB (default: %(default)s)")
    ap.add_argument("--window", type=float, default=4.0, metavar="S",
                    help="part 2: seconds per window (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="part 2: 'on' windows per source (default: %(default)s)")
    ap.add_argument("--skip-cost", action="store_true", help="skip part 1")
    ap.add_argument("--skip-slowdown", action="store_true", help="skip part 2")
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    args.sources = [x for x in args.sources.split(",") if x]
    return args


def key(source):
    return source.replace("-", "_")


def result(name, value):
    print("RESULT %s=%s" % (name, value), flush=True)


# ---------------------------------------------------------------------------
# QEMU

def thp_off():
    """In the child before exec: no transparent huge pages for QEMU
    (prctl PR_SET_THP_DISABLE, kept across execve)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_THP_DISABLE)")


def big_vm(args, gib, thp=True):
    """The workload guest with gib GiB of RAM that is never reserved."""
    extra = ["-object", "memory-backend-ram,id=ram0,size=%dG,reserve=off" % gib,
             "-machine", "memory-backend=ram0"]
    return WorkloadVM(args.qemu, args.firmware, mem_mib=gib * 1024,
                      config={"hot_start": 16 * MIB, "hot_size": args.hot_size},
                      extra_args=extra, preexec_fn=None if thp else thp_off)


def boot(vm):
    """Start the guest and bring its TCG TLB to its steady size.

    TCG resizes a vCPU's TLB only when it flushes it whole, doubling it
    at most once per flush, from 256 entries.  The workload guest runs
    without paging and never flushes, so until something else does (a
    memory map change: every dirty-logging flag turned on or off), it
    misses its TLB on almost every page of a 16 MiB hot set and runs
    ~15 times slower.  Turning a dirty-bitmap monitor on and off a few
    times flushes often enough to reach the size the hot set needs;
    without that, the first monitor started would speed the guest up."""
    vm.start()
    vm.wait_console(FIRST_PASS, timeout=60)
    hot = vm.hot_ranges().get("hot")
    if hot != (16 * MIB, vm.config["hot_size"]):
        raise BenchError("guest hot range %s" % (hot,))
    for _ in range(TLB_WARM_CYCLES):
        start_monitor(vm, "dirty-bitmap")
        time.sleep(0.15)
        stop_monitor(vm)
        time.sleep(0.15)
    time.sleep(1.0)


def proc_status(vm, field):
    """A /proc/PID/status field of QEMU, in MiB (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % vm.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_monitor(vm, source):
    vm.qmp.execute("damon-start", {"id": MONITOR, "source": source})
    if monitor(vm)["state"] != "running":
        raise BenchError("%s did not start" % source)


def stop_monitor(vm):
    vm.qmp.events(clear=True)
    vm.qmp.execute("damon-stop", {"id": MONITOR})
    if vm.qmp.wait_event("DAMON_STOPPED", timeout=10) is None:
        raise BenchError("no DAMON_STOPPED after damon-stop")


def pass_rate(vm, first_line):
    """Passes per second from the console's pass= lines from index
    first_line on, or None with fewer than two."""
    lines = vm.passes()[first_line:]
    if len(lines) < 2 or lines[-1][1] <= lines[0][1]:
        return None
    return (lines[-1][0] - lines[0][0]) / (lines[-1][1] - lines[0][1])


# ---------------------------------------------------------------------------
# Part 1

def measure_cost(vm, args, source):
    """Warm up, then measure, polling QEMU's resident set: a source that
    makes QEMU allocate guest RAM is stopped at --rss-cap."""
    rss0 = proc_status(vm, "VmRSS")
    start_monitor(vm, source)
    t_start, m_start = time.monotonic(), monitor(vm)
    m0 = t0 = line0 = None
    capped = None
    while True:
        time.sleep(0.25)
        now = time.monotonic()
        rss = proc_status(vm, "VmRSS")
        if m0 is None and now - t_start >= args.warmup:
            m0, t0, line0 = monitor(vm), now, len(vm.passes())
        if rss > args.rss_cap:
            capped = "RSS %.0f MiB after %.1f s%s" % (
                rss, now - t_start, "" if m0 else " (in the warm-up)")
            break
        if m0 is not None and now - t0 >= args.measure:
            break
    m1, t1 = monitor(vm), time.monotonic()
    if m0 is None:              # capped in the warm-up: use it all
        m0, t0, line0 = m_start, t_start, 0
    wss = vm.qmp.execute("query-damon-wss", {"id": MONITOR})["wss-bytes"]
    rate = pass_rate(vm, line0)
    stop_monitor(vm)
    rss1 = proc_status(vm, "VmRSS")
    cpu_ns = m1["cpu-ns"] - m0["cpu-ns"]
    samples = m1["nr-samples"] - m0["nr-samples"]
    return {
        "cpu_pct": 100.0 * cpu_ns / 1e9 / (t1 - t0),
        "us_per_sample": cpu_ns / 1e3 / samples if samples else float("nan"),
        "samples_per_s": samples / (t1 - t0),
        "seconds": t1 - t0,
        "regions": m1["nr-regions"],
        "monitored_gib": m1["monitored-bytes"] / GIB,
        "wss_mib": wss / MIB,
        "passes_per_s": rate,
        "rss_mib": rss1,
        "rss_growth": (rss1 - rss0) / (t1 - t_start),
        "capped": capped,
    }


def part_cost(args):
    print("\nPart 1: monitor CPU against guest RAM (default attributes: sample "
          "5 ms, aggr 100 ms, 10..1000 regions; %.0f s warm-up, %.0f s measured; "
          "hot set %d MiB; RSS cap %d MiB)" % (args.warmup, args.measure,
                                               args.hot_size // MIB, args.rss_cap))
    header = ("%-5s %-18s %7s %10s %9s %7s %9s %7s %12s %9s %10s"
              % ("RAM", "source", "cpu %", "us/sample", "samples/s", "regions",
                 "monitored", "wss", "guest pass/s", "QEMU RSS", "RSS MiB/s"))
    print(header)
    print("-" * len(header))
    rows, notes = [], []
    for gib in args.sizes:
        runs = [(True, args.sources)]
        if "page-hash" in args.sources and not args.no_thp_rows:
            runs.append((False, ["page-hash"]))
        for thp, sources in runs:
            with big_vm(args, gib, thp=thp) as vm:
                boot(vm)
                rss_boot = proc_status(vm, "VmRSS")
                for source in sources:
                    name = source if thp else source + ",nothp"
                    r = measure_cost(vm, args, source)
                    rows.append((gib, name, r))
                    print("%-5s %-18s %7.2f %10.1f %9.0f %7d %7.0f G %5.1f M %12s "
                          "%7.0f M %10.1f%s"
                          % ("%dG" % gib, name, r["cpu_pct"], r["us_per_sample"],
                             r["samples_per_s"], r["regions"], r["monitored_gib"],
                             r["wss_mib"],
                             "%.0f" % r["passes_per_s"] if r["passes_per_s"] else "-",
                             r["rss_mib"], r["rss_growth"],
                             "  CAPPED" if r["capped"] else ""), flush=True)
                    if r["capped"]:
                        notes.append("%dG %s stopped early: %s; measured %.1f s"
                                     % (gib, name, r["capped"], r["seconds"]))
                notes.append("%dG%s: QEMU RSS %.0f MiB after boot, peak %.0f MiB"
                             % (gib, "" if thp else " (THP off)", rss_boot,
                                proc_status(vm, "VmHWM")))
                rows.append((gib, "rss" if thp else "rss,nothp",
                             {"peak": proc_status(vm, "VmHWM")}))
                vm.quit()
    for n in notes:
        print("  " + n)
    for gib, name, r in rows:
        if name.startswith("rss"):
            result("qemu_rss_peak_mib_%s%dgib" % ("nothp_" if "nothp" in name else "",
                                                  gib), "%.0f" % r["peak"])
            continue
        k = key(name.replace(",", "_"))
        result("monitor_cpu_pct_%s_%dgib" % (k, gib), "%.2f" % r["cpu_pct"])
        result("monitor_us_per_sample_%s_%dgib" % (k, gib), "%.1f" % r["us_per_sample"])
        if r["capped"]:
            result("monitor_rss_capped_%s_%dgib" % (k, gib), "1")


# ---------------------------------------------------------------------------
# Part 2

def window(vm, args, source):
    """One window: the guest's pass rate, by its console and by its
    write sequence (xp of the hot set's first word, host-timed)."""
    if source:
        start_monitor(vm, source)
    time.sleep(0.5)             # let the start's TLB flush and the first samples pass
    line0 = len(vm.passes())
    cpu0 = monitor(vm)["cpu-ns"] if source else 0
    seq0, t0 = vm.read_phys_u32(16 * MIB)[0], time.monotonic()
    time.sleep(args.window)
    seq1, t1 = vm.read_phys_u32(16 * MIB)[0], time.monotonic()
    rate = pass_rate(vm, line0)
    cpu = None
    if source:
        cpu = 100.0 * (monitor(vm)["cpu-ns"] - cpu0) / 1e9 / (t1 - t0)
        stop_monitor(vm)
    if rate is None:
        raise BenchError("fewer than two pass= lines in a %.0f s window" % args.window)
    # The sequence is 32-bit: at ~10^8 page writes/s it wraps every ~40 s.
    xp_rate = ((seq1 - seq0) % (1 << 32)) / (args.hot_size // PAGE) / (t1 - t0)
    return rate, xp_rate, cpu


def part_slowdown(args):
    order = [None]
    for _ in range(args.rounds):
        for source in args.sources:
            order += [source, None]
    print("\nPart 2: guest slowdown (%d GiB guest, %d MiB hot set, each source "
          "run 3 s first, then %.0f s windows: %s)"
          % (args.slowdown_mem, args.hot_size // MIB, args.window,
             ", ".join(s or "off" for s in order)))
    header = "%-3s %-13s %14s %14s %12s" % ("#", "monitor", "pass/s (lines)",
                                            "pass/s (xp)", "monitor cpu%")
    print(header)
    print("-" * len(header))
    rates = []
    with big_vm(args, args.slowdown_mem) as vm:
        boot(vm)
        # Each source runs once before the windows: page-hash's first
        # reads of untouched guest RAM make the host allocate it (see part
        # 1), a one-off that would otherwise land in its first window.
        for source in args.sources:
            start_monitor(vm, source)
            time.sleep(3.0)
            stop_monitor(vm)
        time.sleep(1.0)
        for i, source in enumerate(order):
            rate, xp_rate, cpu = window(vm, args, source)
            rates.append((source, rate, xp_rate))
            print("%-3d %-13s %14.0f %14.0f %12s"
                  % (i, source or "off", rate, xp_rate,
                     "%.2f" % cpu if cpu is not None else "-"), flush=True)
        vm.quit()
    print()
    for source in args.sources:
        ratios, ratios_xp, on, off = [], [], [], []
        for i, (s, rate, xp_rate) in enumerate(rates):
            if s != source:
                continue
            before, after = rates[i - 1], rates[i + 1]
            ratios.append((before[1] + after[1]) / 2 / rate)
            ratios_xp.append((before[2] + after[2]) / 2 / xp_rate)
            on.append(rate)
            off += [before[1], after[1]]
        slow = statistics.median(ratios)
        print("%-13s rate_off/rate_on = %.3f, median of windows %s (by xp: %.3f); "
              "median on %.0f pass/s, off %.0f pass/s"
              % (source, slow, " ".join("%.3f" % r for r in ratios),
                 statistics.median(ratios_xp), statistics.median(on),
                 statistics.median(off)))
        result("guest_slowdown_%s" % key(source), "%.3f" % slow)
        result("guest_slowdown_xp_%s" % key(source), "%.3f" % statistics.median(ratios_xp))
        result("guest_passes_per_s_%s" % key(source), "%.0f" % statistics.median(on))
    result("guest_passes_per_s_off",
           "%.0f" % statistics.median(r for s, r, _ in rates if s is None))


def main():
    args = parse_args()
    t0 = time.monotonic()
    print("qemu-overhead: %s; host: %d CPUs, load average %.2f %.2f %.2f"
          % (args.qemu, os.cpu_count(), *os.getloadavg()))
    try:
        if not args.skip_cost:
            part_cost(args)
        if not args.skip_slowdown:
            part_slowdown(args)
    except (BenchError, Failed, QMPError, QMPProtocolError, VMError) as e:
        print("ERROR %s: %s" % (type(e).__name__, e), flush=True)
        return 1
    print("\nload average now %.2f %.2f %.2f" % os.getloadavg())
    result("bench_seconds", "%.0f" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
