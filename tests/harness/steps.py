# SPDX-License-Identifier: GPL-2.0-or-later
"""steps - the steps of the hot-set tests, on any VM with the workload
guest: a harness.vm.WorkloadVM under TCG or a harness.nested.InnerVM
under KVM.

Each step_* prints its PASS line on a harness.report.Report and raises
harness.report.Failed with the FAIL line's text.
"""

import time

from harness import hotset
from harness.env import MIB, PAGE
from harness.qmp import QMPError
from harness.report import Failed
from harness.vm import FIRST_PASS

MONITOR = "damon0"


def monitor_info(vm, monitor=MONITOR):
    """query-damon's entry for monitor; raises Failed if it lacks one."""
    info = [m for m in vm.qmp.execute("query-damon") if m["id"] == monitor]
    if not info:
        raise Failed("query-damon does not list %s" % monitor)
    return info[0]


def wait_first_pass(vm, hot_start, hot_size, timeout=60):
    """Wait for the guest's first pass; check that it reports the hot
    range asked for and that QEMU says it runs."""
    vm.wait_console(FIRST_PASS, timeout=timeout)
    ranges = vm.hot_ranges()
    if ranges.get("hot") != (hot_start, hot_size):
        raise Failed("guest reports hot=%s, expected 0x%x+0x%x"
                     % (ranges.get("hot"), hot_start, hot_size))
    status = vm.qmp.execute("query-status")
    if status.get("status") != "running":
        raise Failed("query-status says %r" % status)


# ---------------------------------------------------------------------------
# Before any monitor: the guest writes exactly its hot set.

def probe_addresses(hot_start, hot_size, mem_bytes):
    """Hot and cold guest-physical addresses for xp probes."""
    hot_end = hot_start + hot_size
    hot = [hot_start, hot_start + hot_size // 2, hot_end - PAGE]
    cold = [a for a in (1 * MIB, hot_start - 2 * MIB, hot_end, hot_end + 2 * MIB,
                        mem_bytes - PAGE)
            if MIB <= a < mem_bytes and not hot_start <= a < hot_end]
    return hot, cold


def step_guest_writes(vm, rep, hot_start, hot_size, mem_bytes, top, extra=None):
    """The guest writes exactly its hot range: xp probes of hot and cold
    words over 1 s, then a pmemsave diff of every page from 1 MiB (the
    firmware keeps nothing above) to top.  extra(), if given, returns
    text for the end of the PASS line."""
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
    rep.ok("guest", "xp: %d hot words change, %d cold do not; pmemsave diff of "
           "[0x%x, 0x%x): exactly [0x%x, 0x%x) changed in 1 s (took %.1f s)%s"
           % (len(hot), len(cold), MIB, top, hot_start, hot_start + hot_size, dump_s,
              extra() if extra else ""))


# ---------------------------------------------------------------------------
# The monitor

def step_damon_start(vm, rep, source=None, attrs=None, default_source=None):
    """damon-start with source and attrs (QEMU's defaults for what is
    None): damon0 must run, with that source; without one, with
    default_source when given, which query-damon must say is the default."""
    if not vm.qmp.has_command("damon-start"):
        raise Failed("damon-start not available in this QEMU (%s)" % vm.qemu)
    args = dict(attrs or {})
    if source:
        args["source"] = source
    try:
        vm.qmp.execute("damon-start", args)
    except QMPError as e:
        raise Failed("damon-start %s: %s: %s" % (args or "{}", e.error_class, e.desc))
    m = monitor_info(vm)
    if m["state"] != "running":
        raise Failed("query-damon does not list %s running: %r" % (MONITOR, m))
    if source and m["source"] != source:
        raise Failed("query-damon says source %s, asked for %s" % (m["source"], source))
    reason = m.get("source-reason", "?")
    if not source and default_source:
        if m["source"] != default_source or not reason.startswith("default: "):
            raise Failed("query-damon says source %s (%s), want the default %s"
                         % (m["source"], reason, default_source))
    rep.ok("damon-start", "%s running: source %s (sees %s; %s), clock %s, sample %d us, "
           "aggr %d us, regions %d..%d, %.0f MiB monitored"
           % (MONITOR, m["source"], m.get("sees", "?"), reason, m["clock"],
              m["attrs"]["sample-us"],
              m["attrs"]["aggr-us"], m["attrs"]["min-nr-regions"],
              m["attrs"]["max-nr-regions"], m["monitored-bytes"] / MIB))


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


def find_hot_set(vm, rep, starts, hot_size, timeout, wss_err_max=hotset.WSS_ERR_MAX,
                 after_aggr=0, poll=0.1, verbose=False):
    """Poll damon0 until hotset.CONFIRMATIONS successive snapshots, of
    aggregations after after_aggr, find the hot set at one of starts.
    Returns the first of them, a hotset.Score with .seconds (since the
    call); raises Failed on timeout, after showing the last snapshot."""
    t0 = time.monotonic()
    streak, last, hit, regions = 0, after_aggr, None, None
    best = (0.0, float("inf"))
    while time.monotonic() - t0 < timeout:
        regions = vm.qmp.execute("query-damon-regions", {"id": MONITOR})
        wss = vm.qmp.execute("query-damon-wss", {"id": MONITOR})
        if regions["nr-aggregations"] <= last:
            time.sleep(poll)
            continue
        last = regions["nr-aggregations"]
        score = hotset.Score(regions, wss, starts, hot_size)
        score.seconds = time.monotonic() - t0
        best = (max(best[0], score.coverage), min(best[1], score.wss_err))
        if verbose:
            rep.info("t=%5.2f s aggr %4d: %3d regions, %s, hot outside %.2f MiB"
                     % (score.seconds, last, score.nr_regions, score.text(),
                        score.outside / MIB))
        if score.found(wss_err_max):
            hit = hit if streak else score
            streak += 1
            if streak >= hotset.CONFIRMATIONS:
                return hit
        else:
            streak = 0
        time.sleep(poll)
    if regions is not None:
        dump_regions(rep, regions)
    raise Failed("hot set not found in %.0f s: best coverage %.1f%% (need %.0f%%), "
                 "best wss error %.1f%% (need <= %.0f%%)"
                 % (timeout, best[0] * 100, hotset.COVERAGE_MIN * 100,
                    best[1] * 100, wss_err_max * 100))


def step_find_hot_set(vm, rep, hot_start, hot_size, timeout, verbose=False,
                      wss_err_max=hotset.WSS_ERR_MAX):
    hit = find_hot_set(vm, rep, [hot_start], hot_size, timeout, wss_err_max,
                       verbose=verbose)
    rep.figures.update(find_s=round(hit.seconds, 2), coverage_pct=round(hit.coverage * 100, 1),
                       wss_err_pct=round(hit.wss_err * 100, 1), wss_bytes=hit.wss_bytes)
    rep.ok("hot-set", "found after %.2f s: coverage %.1f%%, wss %.2f MiB of %.2f MiB "
           "(error %.1f%%), %.2f MiB of hot regions outside the range, "
           "%d regions; held on %d snapshots"
           % (hit.seconds, hit.coverage * 100, hit.wss_bytes / MIB, hot_size / MIB,
              hit.wss_err * 100, hit.outside / MIB, hit.nr_regions,
              hotset.CONFIRMATIONS))


def step_damon_stop(vm, rep):
    vm.qmp.execute("damon-stop")
    ev = vm.qmp.wait_event("DAMON_STOPPED", timeout=10)
    if ev is None:
        raise Failed("no DAMON_STOPPED event within 10 s of damon-stop")
    if ev["data"] != {"id": MONITOR, "reason": "requested"}:
        raise Failed("DAMON_STOPPED data is %r" % ev["data"])
    m = monitor_info(vm)
    if m["state"] != "stopped":
        raise Failed("query-damon after damon-stop: %r" % m)
    rep.ok("damon-stop", "DAMON_STOPPED (requested), %s stopped after %d aggregations, "
           "%.0f MiB monitored, monitor CPU %.1f ms"
           % (MONITOR, m["nr-aggregations"], m["monitored-bytes"] / MIB, m["cpu-ns"] / 1e6))


def step_quit(vm, rep):
    """Last step: QEMU quits over QMP with status 0 (or it had died)."""
    if vm.running() and vm.qmp is not None:
        status = vm.quit()
        if status == 0:
            rep.ok("quit", "QEMU exited with status 0")
        else:
            rep.fail("quit", "QEMU exit status %s: %s" % (status, vm.stderr_tail()))
    elif vm.proc is not None:
        rep.fail("quit", "QEMU had already exited with status %s: %s"
                 % (vm.proc.returncode, vm.stderr_tail()))


def guest_runs_on(vm, timeout=5.0):
    """QEMU says the VM runs and the guest's pass counter moves within
    timeout seconds: (pass before, pass after); raises Failed if not."""
    status = vm.qmp.execute("query-status")
    if status.get("status") != "running":
        raise Failed("query-status says %r" % status)
    p0 = vm.passes()[-1][0]
    deadline = time.monotonic() + timeout
    while vm.passes()[-1][0] == p0:
        if time.monotonic() >= deadline:
            raise Failed("the guest's pass counter stopped at %d" % p0)
        time.sleep(0.1)
    return p0, vm.passes()[-1][0]


def step_still_running(vm, rep):
    """After the monitor: QEMU says the VM runs, and the guest's pass
    counter moves."""
    rep.ok("running", "VM running, guest pass counter %d -> %d" % guest_runs_on(vm))
