#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""soak.py - a monitored guest for an hour: do QEMU's memory and the monitor's CPU stay flat?

A benchmark, not a test: it prints a line a minute and a summary, then
one "RESULT key=value" line per figure, and exits non-zero only when it
could not measure (QEMU died, the guest stopped, a query failed).

One QEMU (TCG) runs the workload guest with a workload that keeps
changing: its first hot range (--hot-size) moves every --phase-secs
seconds through --phases positions --stride apart, a second hot range
stays put, and a third range is only read.  A monitor with the given
source (default tcg-accessed, which sees reads and writes) and two
schemes (a stat scheme on hot regions, a cold scheme with a quota on
idle ones, so DAMOS runs its whole path all the time) watches it for
--duration seconds (default one hour).

Every --report seconds (default 60) a line gives:

  rss          QEMU's resident set (VmRSS), MiB
  rss-other    QEMU's resident set outside guest RAM (smaps: everything
               but the guest RAM mapping), MiB; guest RAM is resident
               once touched, so this is where a leak would show
  qemu-cpu     QEMU's CPU time over the minute (utime + stime, all
               threads, vCPU included), % of one core
  mon-cpu      the monitor thread's CPU time (query-damon cpu-ns), % of
               one core
  us/aggr      the same per aggregation, in microseconds: the host's other
               load changes how fast the guest and the monitor run, and so
               how many aggregations a minute holds, but not what one costs
  wss-err      the median over the minute's WSS samples (one every
               --poll seconds) of |wss-bytes - true| / true, where true
               is the bytes the guest touches (both hot ranges and the
               read range)
  regions, aggr, passes   the monitor's regions and aggregations, and
               the guest's passes, so that progress shows

The summary fits a least-squares line through the per-minute figures
after the warm-up (--warmup, default 10 minutes: the hot range has to
visit every position once before guest RAM stops growing) and prints
the growth per hour of rss, rss-other, qemu-cpu, mon-cpu and us/aggr,
and a verdict: flat when rss-other grows by less than --rss-flat MiB per
hour and the monitor's cost per aggregation by less than --cost-flat
percent of its mean per hour.

  bench/soak.py                          # one hour
  bench/soak.py --duration 600 --warmup 180 --report 30   # a short look
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from harness import args as harg  # noqa: E402
from harness.bench import out, result  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.qmp import QMPError, QMPProtocolError  # noqa: E402
from harness.vm import FIRST_PASS, VMError, WorkloadVM  # noqa: E402

MONITOR = "soak"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A measurement could not be made."""


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--mem", type=int, default=1024, metavar="MIB",
                    help="guest RAM (default: %(default)s)")
    ap.add_argument("--source", default="tcg-accessed",
                    help="the monitor's source (default: %(default)s)")
    ap.add_argument("--duration", type=float, default=3600.0, metavar="S",
                    help="seconds monitored (default: %(default)s)")
    ap.add_argument("--warmup", type=float, default=600.0, metavar="S",
                    help="seconds left out of the growth fit (default: %(default)s)")
    ap.add_argument("--report", type=float, default=60.0, metavar="S",
                    help="seconds per line (default: %(default)s)")
    ap.add_argument("--poll", type=float, default=5.0, metavar="S",
                    help="seconds between WSS samples (default: %(default)s)")
    ap.add_argument("--hot-size", type=harg.hex_int, default=16 * MIB,
                    help="the moving hot range (default: 0x1000000)")
    ap.add_argument("--phase-secs", type=int, default=90, metavar="S",
                    help="seconds the moving range stays at one position "
                    "(default: %(default)s)")
    ap.add_argument("--phases", type=int, default=4,
                    help="positions of the moving range (default: %(default)s)")
    ap.add_argument("--stride", type=harg.hex_int, default=128 * MIB,
                    help="bytes between positions (default: 0x8000000)")
    ap.add_argument("--rss-flat", type=float, default=4.0, metavar="MIB",
                    help="rss-other growth per hour still called flat "
                    "(default: %(default)s)")
    ap.add_argument("--cost-flat", type=float, default=10.0, metavar="PCT",
                    help="growth per hour of the monitor's CPU per aggregation, "
                    "in percent of its mean, still called flat (default: "
                    "%(default)s)")
    return ap.parse_args()


def layout(args):
    """The guest's configuration and the bytes it touches at any time."""
    hot2 = (16 * MIB, 8 * MIB)
    read = (32 * MIB, 8 * MIB)
    first = 64 * MIB
    last = first + (args.phases - 1) * args.stride + args.hot_size
    if last > args.mem * MIB:
        raise BenchError("the moving range's last position ends at %d MiB, past "
                         "--mem %d" % (last // MIB, args.mem))
    config = {"hot_start": first, "hot_size": args.hot_size,
              "phase_secs": args.phase_secs, "phase_count": args.phases,
              "phase_stride": args.stride,
              "hot2_start": hot2[0], "hot2_size": hot2[1],
              "read_start": read[0], "read_size": read[1]}
    return config, args.hot_size + hot2[1] + read[1]


def schemes():
    """A stat scheme on hot regions, a cold scheme on idle ones under a
    quota: DAMOS's whole path (quota, scoring, action) every aggregation."""
    return [{"action": "stat", "access-pattern": {"nr-accesses-min": 1}},
            {"action": "cold",
             "access-pattern": {"nr-accesses-max": 0, "age-min": 5},
             "quotas": {"bytes": 64 * MIB, "reset-interval-ms": 1000}}]


# ---------------------------------------------------------------------------
# QEMU's process

def cpu_seconds(pid):
    """utime + stime of every thread of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid, guest_bytes):
    """(VmRSS, resident bytes outside the guest RAM mapping) in MiB.  The
    guest RAM mapping is the one anonymous mapping at least guest_bytes
    long (QEMU aligns it, so it may be a little longer)."""
    total = other = 0
    size = rss = 0
    anon = False
    guest_seen = False

    def close():
        nonlocal other, guest_seen
        if anon and size >= guest_bytes and not guest_seen:
            guest_seen = True
        else:
            other += rss

    with open("/proc/%d/smaps" % pid) as f:
        header = True
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                if not header:
                    close()
                header = False
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size, rss = hi - lo, 0
                anon = len(parts) < 6
            elif first == "Rss:":
                rss = int(line.split()[1]) * 1024
                total += rss
        if not header:
            close()
    if not guest_seen:
        raise BenchError("no anonymous mapping of %d MiB (guest RAM) in smaps"
                         % (guest_bytes // MIB))
    return total / MIB, other / MIB


# ---------------------------------------------------------------------------
# The run

def monitor(vm):
    info = [m for m in vm.qmp.execute("query-damon") if m["id"] == MONITOR]
    if not info or info[0]["state"] != "running":
        raise BenchError("monitor %s is not running: %r" % (MONITOR, info))
    return info[0]


def boot(args, vm):
    vm.start()
    vm.wait_console(FIRST_PASS, timeout=120)
    vm.qmp.execute("damon-start", {"id": MONITOR, "source": args.source,
                                   "schemes": schemes()})


class Minute:
    """The figures of one report period."""

    def __init__(self, vm, pid, guest_bytes):
        self.vm, self.pid, self.guest_bytes = vm, pid, guest_bytes
        self.t0 = time.monotonic()
        self.cpu0 = cpu_seconds(pid)
        info = monitor(vm)
        self.mon0 = info["cpu-ns"]
        self.aggr0 = info["nr-aggregations"]
        self.errors = []

    def sample(self, true_bytes):
        wss = self.vm.qmp.execute("query-damon-wss", {"id": MONITOR})
        self.errors.append(abs(wss["wss-bytes"] - true_bytes) / true_bytes)

    def line(self, t_run):
        dt = time.monotonic() - self.t0
        info = monitor(self.vm)
        rss, other = rss_mib(self.pid, self.guest_bytes)
        row = {"t": t_run, "rss": rss, "other": other,
               "qemu_cpu": 100 * (cpu_seconds(self.pid) - self.cpu0) / dt,
               "mon_cpu": 100 * (info["cpu-ns"] - self.mon0) / 1e9 / dt,
               "us_aggr": ((info["cpu-ns"] - self.mon0) / 1e3 /
                           max(1, info["nr-aggregations"] - self.aggr0)),
               "wss_err": statistics.median(self.errors) if self.errors else None,
               "regions": info["nr-regions"], "aggr": info["nr-aggregations"],
               "passes": self.vm.passes()[-1][0] if self.vm.passes() else 0}
        out("%6.0f s  rss %7.1f  rss-other %6.1f MiB  qemu-cpu %5.1f%%  mon-cpu %5.2f%%  "
            "us/aggr %5.0f  wss-err %s  regions %3d  aggr %6d  passes %d"
            % (row["t"], row["rss"], row["other"], row["qemu_cpu"], row["mon_cpu"],
               row["us_aggr"],
               "%5.1f%%" % (100 * row["wss_err"]) if row["wss_err"] is not None else "    -",
               row["regions"], row["aggr"], row["passes"]))
        return row


def slope_per_hour(rows, key):
    """Least-squares slope of rows' key against their time, per hour."""
    xs = [r["t"] / 3600 for r in rows]
    ys = [r[key] for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def run(args, vm, true_bytes):
    pid = vm.proc.pid
    guest_bytes = args.mem * MIB
    rows = []
    start = time.monotonic()
    out("# soak: %s monitor, %d MiB guest, moving %d MiB hot range (%d positions, "
        "%d s each), true working set %.0f MiB; a line every %.0f s for %.0f s"
        % (args.source, args.mem, args.hot_size // MIB, args.phases, args.phase_secs,
           true_bytes / MIB, args.report, args.duration))
    while time.monotonic() - start < args.duration:
        minute = Minute(vm, pid, guest_bytes)
        end = min(minute.t0 + args.report, start + args.duration)
        while time.monotonic() < end:
            time.sleep(min(args.poll, max(0.0, end - time.monotonic())))
            vm._check_alive()
            minute.sample(true_bytes)
        rows.append(minute.line(time.monotonic() - start))
    if vm.qmp.execute("query-status")["status"] != "running":
        raise BenchError("the guest is not running at the end")
    return rows


def summary(args, rows):
    fit = [r for r in rows if r["t"] >= args.warmup]
    if len(fit) < 3:
        raise BenchError("%d lines after the %.0f s warm-up: too few to fit"
                         % (len(fit), args.warmup))
    growth = {k: slope_per_hour(fit, k)
              for k in ("rss", "other", "qemu_cpu", "mon_cpu", "us_aggr")}
    errs = [r["wss_err"] for r in fit if r["wss_err"] is not None]
    cost = statistics.fmean(r["us_aggr"] for r in fit)
    cost_growth = 100 * growth["us_aggr"] / cost if cost else 0.0
    flat = growth["other"] < args.rss_flat and cost_growth < args.cost_flat
    out("# after the %.0f s warm-up (%d lines): rss %.1f -> %.1f MiB, rss-other %.1f -> "
        "%.1f MiB, mon-cpu mean %.2f%%, qemu-cpu mean %.1f%%, wss-err median %.1f%%"
        % (args.warmup, len(fit), fit[0]["rss"], fit[-1]["rss"], fit[0]["other"],
           fit[-1]["other"], statistics.fmean(r["mon_cpu"] for r in fit),
           statistics.fmean(r["qemu_cpu"] for r in fit),
           100 * statistics.median(errs) if errs else float("nan")))
    out("# growth per hour: rss %+.2f MiB, rss-other %+.2f MiB, qemu-cpu %+.2f pp, "
        "mon-cpu %+.3f pp, us/aggr %+.1f us (%+.1f%% of its mean %.0f us) -> %s "
        "(flat: rss-other < %.1f MiB/h and us/aggr < %.0f%%/h)"
        % (growth["rss"], growth["other"], growth["qemu_cpu"], growth["mon_cpu"],
           growth["us_aggr"], cost_growth, cost, "FLAT" if flat else "GROWING",
           args.rss_flat, args.cost_flat))
    result("soak_seconds", "%.0f" % rows[-1]["t"])
    result("soak_rss_mib_end", "%.1f" % rows[-1]["rss"])
    result("soak_rss_growth_mib_per_hour", "%.2f" % growth["rss"])
    result("soak_rss_other_growth_mib_per_hour", "%.2f" % growth["other"])
    result("soak_qemu_cpu_growth_pp_per_hour", "%.2f" % growth["qemu_cpu"])
    result("soak_mon_cpu_growth_pp_per_hour", "%.3f" % growth["mon_cpu"])
    result("soak_mon_us_per_aggr_mean", "%.0f" % cost)
    result("soak_mon_us_per_aggr_growth_percent_per_hour", "%.1f" % cost_growth)
    result("soak_mon_cpu_mean_percent", "%.2f"
           % statistics.fmean(r["mon_cpu"] for r in fit))
    if errs:
        result("soak_wss_err_median_percent", "%.1f" % (100 * statistics.median(errs)))
        result("soak_wss_err_max_percent", "%.1f" % (100 * max(errs)))
    result("soak_flat", "yes" if flat else "no")


def main():
    args = parse_args()
    try:
        config, true_bytes = layout(args)
        with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=config) as vm:
            boot(args, vm)
            rows = run(args, vm, true_bytes)
            summary(args, rows)
            vm.qmp.execute("damon-stop", {"id": MONITOR})
            vm.quit()
    except (BenchError, VMError, QMPError, QMPProtocolError, OSError) as e:
        out("soak: cannot measure: %s" % e)
        return 1
    except KeyboardInterrupt:
        out("soak: interrupted")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
