#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tcg-workload.py - end-to-end test: qdamon finds the workload's hot set under TCG.

Boots tests/guest's workload.bin under TCG with our QEMU, checks that the
guest writes its hot set and nothing else (HMP xp, before any monitor
runs), then starts a DAMON monitor with defaults over QMP (realtime
clock, default source) and polls query-damon-regions and query-damon-wss
until the hot set is found:

  coverage  >= 90% of the hot range's bytes lie in regions whose
              nr-accesses is at least half of max-nr-accesses;
  wss error   |wss-bytes - hot size| <= 10% of the hot size;

both on two successive snapshots (of different aggregations).  Then damon-stop (DAMON_STOPPED,
state "stopped"), the VM must still be running, and quit.

Prints one PASS/FAIL line per step with the measured figures, a RESULT
line at the end, and exits 0 only if every step passed.
"""

import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp import QMPError, QMPProtocolError  # noqa: E402
from report import Failed, Report  # noqa: E402
from vm import DEFAULT_FIRMWARE, DEFAULT_QEMU, VMError, WorkloadVM  # noqa: E402

MIB = 1 << 20
PAGE = 4096
COVERAGE_MIN = 0.90     # of the hot range, in regions at >= half max accesses
HOT_RATE_MIN = 0.50     # "hot" region: nr-accesses >= this * max-nr-accesses
WSS_ERR_MAX = 0.10      # |wss - hot size| / hot size
CONFIRMATIONS = 2       # consecutive aggregations that must meet both


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qemu", default=DEFAULT_QEMU,
                    help="qemu-system-x86_64 with qdamon (default: %(default)s)")
    ap.add_argument("--firmware", default=DEFAULT_FIRMWARE,
                    help="the workload image (default: %(default)s)")
    ap.add_argument("--mem", type=int, default=512, metavar="MIB",
                    help="guest RAM in MiB (default: %(default)s)")
    ap.add_argument("--hot-start", type=lambda s: int(s, 0), default=16 * MIB,
                    help="hot range start (default: 0x1000000)")
    ap.add_argument("--hot-size", type=lambda s: int(s, 0), default=16 * MIB,
                    help="hot range size (default: 0x1000000)")
    ap.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds allowed to find the hot set (default: %(default)s)")
    ap.add_argument("--source", default=None,
                    help="damon-start source (default: QEMU's default)")
    ap.add_argument("--full-diff", action="store_true",
                    help="check that no page of all guest RAM above 1 MiB but the "
                    "hot set changes (slow: two RAM dumps); by default up to 16 MiB "
                    "past the hot set")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="print every poll")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (console, QEMU stderr)")
    return ap.parse_args()


# ---------------------------------------------------------------------------
# Steps before DAMON: the guest runs and writes exactly its hot set.

def step_boot(vm, rep, hot_start, hot_size):
    t0 = time.monotonic()
    vm.start()
    vm.wait_console(r"^qdamon-workload: pass=1 t=0$", timeout=60)
    boot_s = time.monotonic() - t0
    ranges = vm.hot_ranges()
    if ranges.get("hot") != (hot_start, hot_size):
        raise Failed("guest reports hot=%s, expected 0x%x+0x%x"
                     % (ranges.get("hot"), hot_start, hot_size))
    status = vm.qmp.execute("query-status")
    if status.get("status") != "running":
        raise Failed("query-status says %r" % status)
    rep.figures["boot_s"] = round(boot_s, 2)
    rep.ok("boot", "first pass after %.2f s, hot=0x%x+0x%x, VM running"
           % (boot_s, hot_start, hot_size))


def probe_addresses(hot_start, hot_size, mem_bytes):
    hot_end = hot_start + hot_size
    hot = [hot_start, hot_start + hot_size // 2, hot_end - PAGE]
    cold = [a for a in (1 * MIB, hot_start - 2 * MIB, hot_end, hot_end + 2 * MIB,
                        mem_bytes - PAGE)
            if MIB <= a < mem_bytes and not hot_start <= a < hot_end]
    return hot, cold


def check_guest_writes(vm, rep, hot_start, hot_size, mem_bytes, top):
    """The guest writes exactly its hot range: xp probes of hot and cold
    words over 1 s, then a pmemsave diff of every page from 1 MiB (the
    firmware keeps nothing above) to top.  Raises Failed; returns (hot
    probes, cold probes, seconds the diff took).  tests/nested uses it
    too."""
    hot, cold = probe_addresses(hot_start, hot_size, mem_bytes)
    before = {a: vm.read_phys_u32(a, 4) for a in hot + cold}
    time.sleep(1.0)
    after = {a: vm.read_phys_u32(a, 4) for a in hot + cold}
    for a in hot + cold:
        rep.info("xp 0x%08x: %s -> %s" % (a, " ".join("%08x" % w for w in before[a]),
                                         " ".join("%08x" % w for w in after[a])))
    stale = [hex(a) for a in hot if before[a][0] == after[a][0]]
    touched = [hex(a) for a in cold if before[a] != after[a]]
    if stale or touched:
        raise Failed("xp: hot words unchanged at %s; cold words changed at %s"
                     % (stale, touched))
    t0 = time.monotonic()
    changed = vm.changed_pages(MIB, top)
    dump_s = time.monotonic() - t0
    if changed != [(hot_start, hot_start + hot_size)]:
        raise Failed("pages changed in 1 s (pmemsave diff of [0x%x, 0x%x)): %s, "
                     "expected exactly [0x%x, 0x%x)"
                     % (MIB, top, ", ".join("[0x%x, 0x%x)" % r for r in changed[:8]),
                        hot_start, hot_start + hot_size))
    return hot, cold, dump_s


def step_guest_writes(vm, rep, hot_start, hot_size, mem_bytes, full_diff):
    # 16 MiB past the hot range, or to the end of RAM with --full-diff
    top = mem_bytes if full_diff else min(mem_bytes, hot_start + hot_size + 16 * MIB)
    hot, cold, dump_s = check_guest_writes(vm, rep, hot_start, hot_size, mem_bytes, top)
    rep.ok("guest", "xp: %d hot words change, %d cold do not; pmemsave diff of "
           "[0x%x, 0x%x): exactly [0x%x, 0x%x) changed in 1 s (took %.1f s)"
           % (len(hot), len(cold), MIB, top, hot_start, hot_start + hot_size, dump_s))


def guest_pass_rate(vm):
    """Passes per second from the console's per-second lines, or None."""
    p = vm.passes()
    if len(p) < 3:
        return None
    (p0, t0), (p1, t1) = p[1], p[-1]
    return (p1 - p0) / (t1 - t0) if t1 > t0 else None


# ---------------------------------------------------------------------------
# DAMON

def overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def evaluate(regions, wss, hot_start, hot_size):
    """(coverage, wss error, hot bytes outside the hot range) of one snapshot."""
    hot_end = hot_start + hot_size
    maxn = regions["max-nr-accesses"]
    hot_in = hot_out = 0
    for r in regions["regions"]:
        if maxn and r["nr-accesses"] >= HOT_RATE_MIN * maxn:
            inside = overlap(r["start"], r["end"], hot_start, hot_end)
            hot_in += inside
            hot_out += (r["end"] - r["start"]) - inside
    wss_err = abs(wss["wss-bytes"] - hot_size) / hot_size
    return hot_in / hot_size, wss_err, hot_out


def dump_regions(rep, regions, limit=24):
    rows = regions["regions"]
    rep.info("last snapshot: aggregation %d, %d regions, max-nr-accesses %d"
             % (regions["nr-aggregations"], len(rows), regions["max-nr-accesses"]))
    shown = [r for r in rows if r["nr-accesses"]] or rows
    for r in shown[:limit]:
        rep.info("  [0x%09x, 0x%09x) %8.2f MiB  nr-accesses %3d  age %d"
                 % (r["start"], r["end"], (r["end"] - r["start"]) / MIB,
                    r["nr-accesses"], r["age"]))
    if len(shown) > limit:
        rep.info("  ... %d more" % (len(shown) - limit))


def step_damon_start(vm, rep, source):
    if not vm.qmp.has_command("damon-start"):
        raise Failed("damon-start not available in this QEMU (%s)" % vm.qemu)
    args = {"source": source} if source else {}
    try:
        vm.qmp.execute("damon-start", args)
    except QMPError as e:
        raise Failed("damon-start %s: %s: %s" % (args or "{}", e.error_class, e.desc))
    info = [m for m in vm.qmp.execute("query-damon") if m["id"] == "damon0"]
    if not info or info[0]["state"] != "running":
        raise Failed("query-damon does not list damon0 running: %r" % info)
    m = info[0]
    rep.ok("damon-start", "damon0 running: source %s, clock %s, sample %d us, "
           "aggr %d us, regions %d..%d, %.0f MiB monitored"
           % (m["source"], m["clock"], m["attrs"]["sample-us"], m["attrs"]["aggr-us"],
              m["attrs"]["min-nr-regions"], m["attrs"]["max-nr-regions"],
              m["monitored-bytes"] / MIB))


def step_find_hot_set(vm, rep, hot_start, hot_size, timeout, verbose):
    t0 = time.monotonic()
    first_hit = None
    streak = 0
    last_aggr = -1
    regions = wss = None
    best = (0.0, float("inf"))
    while time.monotonic() - t0 < timeout:
        regions = vm.qmp.execute("query-damon-regions", {"id": "damon0"})
        wss = vm.qmp.execute("query-damon-wss", {"id": "damon0"})
        if regions["nr-aggregations"] == 0 or regions["nr-aggregations"] == last_aggr:
            time.sleep(0.1)
            continue
        last_aggr = regions["nr-aggregations"]
        cov, err, outside = evaluate(regions, wss, hot_start, hot_size)
        best = (max(best[0], cov), min(best[1], err))
        elapsed = time.monotonic() - t0
        if verbose:
            rep.info("t=%5.2f s aggr %4d: %3d regions, coverage %5.1f%%, wss %.2f MiB "
                     "(err %5.1f%%), hot outside %.2f MiB"
                     % (elapsed, last_aggr, len(regions["regions"]), cov * 100,
                        wss["wss-bytes"] / MIB, err * 100, outside / MIB))
        if cov >= COVERAGE_MIN and err <= WSS_ERR_MAX:
            if streak == 0:
                first_hit = (elapsed, cov, err, wss["wss-bytes"], outside,
                             len(regions["regions"]))
            streak += 1
            if streak >= CONFIRMATIONS:
                break
        else:
            streak = 0
        time.sleep(0.1)
    if streak < CONFIRMATIONS:
        if regions is not None:
            dump_regions(rep, regions)
        raise Failed("hot set not found in %.0f s: best coverage %.1f%% (need %.0f%%), "
                     "best wss error %.1f%% (need <= %.0f%%)"
                     % (timeout, best[0] * 100, COVERAGE_MIN * 100,
                        best[1] * 100, WSS_ERR_MAX * 100))
    found_s, cov, err, wss_bytes, outside, nr_regions = first_hit
    rep.figures.update(find_s=round(found_s, 2), coverage_pct=round(cov * 100, 1),
                       wss_err_pct=round(err * 100, 1), wss_bytes=wss_bytes)
    rep.ok("hot-set", "found after %.2f s: coverage %.1f%%, wss %.2f MiB of %.2f MiB "
           "(error %.1f%%), %.2f MiB of hot regions outside the range, "
           "%d regions; held on %d snapshots"
           % (found_s, cov * 100, wss_bytes / MIB, hot_size / MIB, err * 100,
              outside / MIB, nr_regions, CONFIRMATIONS))


def step_damon_stop(vm, rep):
    vm.qmp.execute("damon-stop")
    ev = vm.qmp.wait_event("DAMON_STOPPED", timeout=10)
    if ev is None:
        raise Failed("no DAMON_STOPPED event within 10 s of damon-stop")
    if ev["data"] != {"id": "damon0", "reason": "requested"}:
        raise Failed("DAMON_STOPPED data is %r" % ev["data"])
    info = [m for m in vm.qmp.execute("query-damon") if m["id"] == "damon0"]
    if not info or info[0]["state"] != "stopped":
        raise Failed("query-damon after damon-stop: %r" % info)
    rep.ok("damon-stop", "DAMON_STOPPED (requested), damon0 stopped after %d aggregations, "
           "%.0f MiB monitored, monitor CPU %.1f ms"
           % (info[0]["nr-aggregations"], info[0]["monitored-bytes"] / MIB,
              info[0]["cpu-ns"] / 1e6))


def step_still_running(vm, rep):
    status = vm.qmp.execute("query-status")
    if status.get("status") != "running":
        raise Failed("query-status says %r" % status)
    p0 = vm.passes()[-1][0]
    deadline = time.monotonic() + 5
    while vm.passes()[-1][0] == p0:
        if time.monotonic() >= deadline:
            raise Failed("the guest's pass counter stopped at %d" % p0)
        time.sleep(0.1)
    rep.ok("running", "VM running, guest pass counter %d -> %d"
           % (p0, vm.passes()[-1][0]))


# ---------------------------------------------------------------------------

def run(args, rep):
    hot_start, hot_size = args.hot_start, args.hot_size
    mem_bytes = args.mem * MIB
    config = {"hot_start": hot_start, "hot_size": hot_size}
    with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, accel="tcg",
                    config=config, keep_workdir=args.keep) as vm:
        if args.keep:
            rep.info("work directory: %s" % vm.workdir)
        steps = [
            lambda: step_boot(vm, rep, hot_start, hot_size),
            lambda: step_guest_writes(vm, rep, hot_start, hot_size, mem_bytes,
                                      args.full_diff),
            lambda: step_damon_start(vm, rep, args.source),
            lambda: step_find_hot_set(vm, rep, hot_start, hot_size, args.timeout,
                                      args.verbose),
            lambda: step_damon_stop(vm, rep),
            lambda: step_still_running(vm, rep),
        ]
        names = ["boot", "guest", "damon-start", "hot-set", "damon-stop", "running"]
        for name, step in zip(names, steps):
            try:
                step()
            except Failed as e:
                rep.fail(name, str(e))
                break
            except (QMPError, QMPProtocolError, VMError) as e:
                rep.fail(name, "%s: %s" % (type(e).__name__, e))
                break
            except Exception as e:   # a bug, or a reply not as the schema says
                traceback.print_exc()
                rep.fail(name, "unexpected %s: %s" % (type(e).__name__, e))
                break
        rate = guest_pass_rate(vm)
        if rate is not None:
            rep.figures["guest_passes_per_s"] = round(rate, 1)
            rep.info("guest: %.1f passes/s over %d pages (%.1f Mpages written/s)"
                     % (rate, hot_size // PAGE, rate * hot_size / PAGE / 1e6))
        if vm.proc is not None and vm.proc.poll() is None and vm.qmp is not None:
            status = vm.quit()
            if status == 0:
                rep.ok("quit", "QEMU exited with status 0")
            else:
                rep.fail("quit", "QEMU exit status %s: %s" % (status, vm.stderr_tail()))
        elif vm.proc is not None:
            rep.fail("quit", "QEMU had already exited with status %s: %s"
                     % (vm.proc.returncode, vm.stderr_tail()))


def main():
    args = parse_args()
    rep = Report()
    t0 = time.monotonic()
    try:
        run(args, rep)
    except KeyboardInterrupt:
        rep.fail("interrupted", "")
    figures = " ".join("%s=%s" % kv for kv in sorted(rep.figures.items()))
    verdict = "FAIL (%s)" % ", ".join(rep.failed) if rep.failed else "PASS"
    print("RESULT tcg-workload %s in %.1f s %s" % (verdict, time.monotonic() - t0, figures),
          flush=True)
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
