#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kvm-bitmap-clear.py - end-to-end test: dirty-bitmap re-arms pages, one KVM clear per slot.

Under -accel kvm (KVM's dirty log with manual protection) the
dirty-bitmap source re-arms, at each prepare, the sampled pages the
guest wrote.  It used to do that page by page, one KVM_CLEAR_DIRTY_LOG
per page and KVM address space; now it makes one call of
kvm_dirty_log_clear_pages() (qemu-patches/0008), one ioctl per slot and
address space, whose bitmap holds just those pages
(docs/notes/access-sources.md, "dirty-bitmap re-protection").

KVM is nested (harness.nested).  The inner QEMU runs twice on the
workload guest (--hot-size hot set), with a dirty-bitmap monitor at
--sample-us / --aggr-us (default: QEMU's defaults, 5 ms / 100 ms):

  batched   as shipped;
  per-page  QDAMON_BENCH_PER_PAGE_CLEAR=1 in the inner QEMU's
            environment, the old per-page path: the control that shows
            the counting below tells the two apart.

Each run, for --count-s seconds with QEMU's trace events
kvm_clear_dirty_log (every KVM_CLEAR_DIRTY_LOG QEMU issues, whoever
issues it) and qdamon_source_dirty_bitmap_prepare (each prepare and the
sampled pages it found written) turned on over QMP, counts the samples
(prepares), the pages re-armed and the ioctls, and reads query-damon's
nr-clear-ioctls and nr-samples around it.

  batched   pages were re-armed (else nothing was tested); fewer ioctls
            than re-armed pages; at most --max-ioctls per sample; and
            nr-clear-ioctls per sample within 25 % (or 0.5) of the
            trace's, so the counter counts what is issued;
  per-page  at least one ioctl per re-armed page, and nr-clear-ioctls
            stays 0 (it counts the batched call only).

Then the guest's slowdown at those attributes: pass rate with the
monitor off / on / off in --window second windows, --rounds times.  A
figure, never a verdict (nested emulation makes it vary several-fold).

Prints PASS/FAIL lines and a RESULT line with the figures; exits 0 if
every step passed, 77 (SKIP) if this machine cannot run KVM nested in
TCG, 1 otherwise.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, nested, steps  # noqa: E402
from harness.bench import pass_rate  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.nested import NestedHost, start_or_report  # noqa: E402
from harness.report import Failed, run_step  # noqa: E402

PER_PAGE_ENV = "QDAMON_BENCH_PER_PAGE_CLEAR"
TRACE_EVENTS = ("kvm_clear_dirty_log", "qdamon_source_dirty_bitmap_prepare")
MODES = ("batched", "per-page")


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=256, hot_start=16 * MIB, hot_size=4 * MIB)
    ap.add_argument("--sample-us", type=int, default=5000,
                    help="damon-start sample-us (default: %(default)s, QEMU's)")
    ap.add_argument("--aggr-us", type=int, default=100000,
                    help="damon-start aggr-us (default: %(default)s, QEMU's)")
    ap.add_argument("--count-s", type=float, default=3.0, metavar="S",
                    help="seconds of ioctl counting per run (default: %(default)s)")
    ap.add_argument("--max-ioctls", type=float, default=8.0, metavar="N",
                    help="batched: most ioctls per sample allowed; the pc machine "
                    "has a few RAM slots in each of its 2 KVM address spaces "
                    "(default: %(default)s)")
    ap.add_argument("--window", type=float, default=3.0, metavar="S",
                    help="seconds per slowdown window (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="slowdown rounds (on windows) per run (default: %(default)s)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="runs, in order (default: %(default)s)")
    harg.add_run(ap, timeout=60.0, keep_what="the work directory (consoles, QEMU stderr)")
    args = ap.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in args.modes if m not in MODES]
    if bad or not args.modes:
        ap.error("--modes: each must be one of %s, got %r" % (", ".join(MODES), bad))
    if args.count_s <= 0 or args.window <= 0 or args.rounds < 0:
        ap.error("--count-s and --window must be positive, --rounds at least 0")
    return args


def attrs(args):
    return {"source": "dirty-bitmap", "sample-us": args.sample_us, "aggr-us": args.aggr_us}


def trace_counts(host, inner):
    """(clear ioctls, prepares, pages re-armed) so far, from the trace
    events' lines in the inner QEMU's stderr."""
    text = host.check("awk '/kvm_clear_dirty_log/ { c++ } "
                      "/qdamon_source_dirty_bitmap_prepare/ { split($0, a, \"cleared=\"); "
                      "p++; w += a[2] } END { print \"counts\", c + 0, p + 0, w + 0 }' %s"
                      % inner.log_path)
    line = [ln for ln in text.splitlines() if ln.startswith("counts ")][-1]
    return tuple(int(x) for x in line.split()[1:])


def set_trace(inner, enable):
    for name in TRACE_EVENTS:
        inner.qmp.execute("trace-event-set-state", {"name": name, "enable": enable})


def start_inner(host, args, mode):
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size}
    if mode == "per-page":
        # the source reads the switch from QEMU's environment at init
        plain = host.inner_command_line
        host.inner_command_line = (lambda *a, **k:
                                   ["env", "%s=1" % PER_PAGE_ENV] + plain(*a, **k))
    try:
        inner = host.start_inner("kvm", mem_mib=args.mem, config=config)
    finally:
        host.__dict__.pop("inner_command_line", None)
    steps.wait_first_pass(inner, args.hot_start, args.hot_size)
    kvm = inner.qmp.execute("query-kvm")
    if not (kvm.get("enabled") and kvm.get("present")):
        raise Failed("query-kvm says %r: not running under KVM" % kvm)
    return inner


def count(host, inner, args, rep):
    """Count over --count-s seconds; returns the figures as a dict."""
    inner.qmp.execute("damon-start", attrs(args))
    try:
        time.sleep(1)
        c0 = trace_counts(host, inner)
        set_trace(inner, True)
        a = steps.monitor_info(inner)
        time.sleep(args.count_s)
        b = steps.monitor_info(inner)
        set_trace(inner, False)
        c1 = trace_counts(host, inner)
    finally:
        inner.qmp.execute("damon-stop", {"id": steps.MONITOR})
    if "nr-clear-ioctls" not in b:
        raise Failed("query-damon has no nr-clear-ioctls for a dirty-bitmap monitor: %r" % b)
    ioctls, prepares, rearmed = (y - x for x, y in zip(c0, c1))
    samples = b["nr-samples"] - a["nr-samples"]
    if prepares <= 0 or samples <= 0:
        raise Failed("the monitor took no sample in %g s (trace: %d prepares)"
                     % (args.count_s, prepares))
    return {"samples": samples, "prepares": prepares,
            "rearmed_per_sample": rearmed / prepares,
            "ioctls_per_sample": ioctls / prepares,
            "counter_per_sample": (b["nr-clear-ioctls"] - a["nr-clear-ioctls"]) / samples,
            "rearmed": rearmed, "ioctls": ioctls,
            "regions": b["nr-regions"]}


def check(f, args, mode):
    """The verdict on count()'s figures; raises Failed."""
    if not f["rearmed"]:
        raise Failed("no sampled page was found written in %d samples: nothing re-armed, "
                     "nothing tested" % f["prepares"])
    if mode == "batched":
        if f["ioctls"] >= f["rearmed"]:
            raise Failed("%d ioctls for %d re-armed pages: not batched"
                         % (f["ioctls"], f["rearmed"]))
        if f["ioctls_per_sample"] > args.max_ioctls:
            raise Failed("%.1f ioctls per sample, more than --max-ioctls %g"
                         % (f["ioctls_per_sample"], args.max_ioctls))
        diff = abs(f["counter_per_sample"] - f["ioctls_per_sample"])
        if diff > max(0.5, 0.25 * f["ioctls_per_sample"]):
            raise Failed("nr-clear-ioctls says %.2f per sample, the trace %.2f"
                         % (f["counter_per_sample"], f["ioctls_per_sample"]))
    else:
        if f["ioctls"] < f["rearmed"]:
            raise Failed("%d ioctls for %d re-armed pages: the control is not per page"
                         % (f["ioctls"], f["rearmed"]))
        if f["counter_per_sample"]:
            raise Failed("nr-clear-ioctls moved (%.2f per sample) on the per-page path"
                         % f["counter_per_sample"])


def slowdown(inner, args):
    """[(off, on, off)] pass rates, one per round."""
    rows = []
    off = pass_rate(inner, args.window)
    for _ in range(args.rounds):
        inner.qmp.execute("damon-start", attrs(args))
        time.sleep(1)
        on = pass_rate(inner, args.window)
        inner.qmp.execute("damon-stop", {"id": steps.MONITOR})
        time.sleep(1)
        off2 = pass_rate(inner, args.window)
        rows.append((off, on, off2))
        off = off2
    return rows


def run_mode(host, args, rep, mode):
    sub = rep.sub(mode)
    key = mode.replace("-", "_")
    inner = None

    def boot():
        nonlocal inner
        inner = start_inner(host, args, mode)
        sub.ok("boot", "inner QEMU pid %d (-accel kvm, %d MiB%s), hot=0x%x+0x%x, KVM enabled"
               % (inner.pid, args.mem, ", %s=1" % PER_PAGE_ENV if mode == "per-page" else "",
                  args.hot_start, args.hot_size))

    def ioctls():
        f = count(host, inner, args, sub)
        rep.figures["%s_rearmed_per_sample" % key] = round(f["rearmed_per_sample"], 1)
        rep.figures["%s_ioctls_per_sample" % key] = round(f["ioctls_per_sample"], 2)
        rep.figures["%s_nr_clear_ioctls_per_sample" % key] = round(f["counter_per_sample"], 2)
        check(f, args, mode)
        sub.ok("ioctls", "%d samples (sample %d us): %.1f sampled pages written per sample, "
               "%.2f KVM_CLEAR_DIRTY_LOG per sample (trace), nr-clear-ioctls %.2f per "
               "sample, %d regions"
               % (f["prepares"], args.sample_us, f["rearmed_per_sample"],
                  f["ioctls_per_sample"], f["counter_per_sample"], f["regions"]))

    def slow():
        rows = slowdown(inner, args)
        ratios = [(a + c) / 2 / b for a, b, c in rows if a and b and c]
        if ratios:
            rep.figures["%s_guest_slowdown" % key] = round(statistics.median(ratios), 2)
        sub.ok("slowdown", "pass/s off, on, off: %s; slowdown (figure, not checked) %s"
               % ("; ".join("/".join("%.0f" % x if x else "?" for x in r) for r in rows),
                  "%.2fx" % statistics.median(ratios) if ratios else "unmeasured"))

    def quit_():
        t = time.monotonic()
        if not inner.quit(timeout=20):
            raise Failed("inner QEMU still running 20 s after QMP quit; killed")
        sub.ok("quit", "inner QEMU exited %.1f s after QMP quit" % (time.monotonic() - t))

    try:
        for name, fn in (("boot", boot), ("ioctls", ioctls), ("slowdown", slow)):
            if not run_step(sub, name, fn):
                return
        run_step(sub, "quit", quit_)
    finally:
        if inner is not None and not inner.exited:
            inner.kill()


def run(args, rep):
    t0 = time.monotonic()
    rep.info("host load average %.2f %.2f %.2f" % os.getloadavg())
    with NestedHost(qemu=args.qemu, firmware=args.firmware, keep_workdir=args.keep,
                    log=rep.info if args.verbose else None) as host:
        rc = start_or_report(host, rep)
        if rc is not None:
            return rc
        rep.ok("outer-boot", "outer VM booted Linux %s in %.1f s"
               % (host.images.get("release", "?"), host.boot_s))
        for mode in args.modes:
            run_mode(host, args, rep, mode)
        status = host.poweroff()
        if status == 0:
            rep.ok("outer-exit", "outer VM powered off, its QEMU exited with status 0")
        else:
            rep.fail("outer-exit", "outer QEMU exit status %s: %s"
                     % (status, host.stderr_tail()))
    rep.info("host load average %.2f %.2f %.2f" % os.getloadavg())
    rep.figures["wall_s"] = round(time.monotonic() - t0, 1)
    return 1 if rep.failed else 0


if __name__ == "__main__":
    nested.main("kvm-bitmap-clear", run, parse_args())
