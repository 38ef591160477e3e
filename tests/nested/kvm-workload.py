#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kvm-workload.py - end-to-end test: qdamon finds the workload's hot set under real KVM.

There is no /dev/kvm here, so KVM is nested: an outer VM (our QEMU,
-accel tcg -cpu max, whose SVM emulation KVM uses) boots Debian's 6.12
kernel, loads kvm-amd, and runs our QEMU inside on the workload firmware
(tests/nested/nested.py).  The inner QEMU's QMP monitor is a serial port
of the outer VM, so the checks here talk to it with tests/e2e/qmp.py and
use tests/e2e/tcg-workload.py's own code for the hot-set criteria:

  coverage  >= 90% of the hot range's bytes lie in regions whose
              nr-accesses is at least half of max-nr-accesses;
  wss error   |wss-bytes (query-damon-wss, damon0) - hot size|
              <= 15% of the hot size;

both on two successive snapshots.  The outer VM boots once; inside it the
inner QEMU runs twice:

  ring    -accel kvm,dirty-ring-size=4096: sources dirty-ring, dirty-bitmap
  bitmap  -accel kvm (dirty bitmap): sources dirty-bitmap, page-hash, and
          dirty-ring must be refused

Each run checks that the guest runs under KVM and writes exactly its hot
set (HMP xp and a pmemsave diff), then per source: damon-start, the hot
set found, damon-stop with its event; then the guest still runs and QEMU
quits.

Monitoring attributes: sample-us 100000 and aggr-us 1000000 by default
(QEMU's defaults are 5000 and 100000), so max-nr-accesses is 10.  Under
KVM nested in TCG a write fault on a write-protected page (how dirty
logging and the dirty ring see writes) costs some 50-100 us instead of
about 1 us.  The dirty sources re-protect the written pages every
sample; once a pass over the hot set's faults takes longer than a sample
interval, every pass faults on every page and the guest collapses from
~3000 to 5-100 passes a second, so a hot page is seen written in only a
few samples.  With 1024 hot pages that happens at 5-50 ms samples, not
at 100 ms.  For the same reason the hot set is 4 MiB: a 16 MiB one is
the 4096 entries of the dirty ring, which then fills on every pass and
holds the guest at ~5 passes a second whatever the sample interval.
docs/notes/nested-harness.md has the measurements.

Prints one PASS/FAIL line per step, a RESULT line per source and one at
the end with the total wall time.  Exits 0 if every step passed, 77
(with a SKIP line) if this machine cannot run KVM nested in TCG (no svm
in the outer CPU, kvm-amd refuses, no /dev/kvm), 1 otherwise.
"""

import argparse
import importlib.util
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from nested import DEFAULT_FIRMWARE, DEFAULT_QEMU, NestedError, NestedHost, NestedSkip  # noqa: E402
from qmp import QMPError, QMPProtocolError  # noqa: E402
from vm import VMError  # noqa: E402


def _load_tcg_workload():
    path = os.path.join(HERE, "..", "e2e", "tcg-workload.py")
    spec = importlib.util.spec_from_file_location("tcg_workload", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tw = _load_tcg_workload()
Failed = tw.Failed
MIB = tw.MIB
PAGE = tw.PAGE
WSS_ERR_MAX = 0.15
tw.WSS_ERR_MAX = WSS_ERR_MAX        # step_find_hot_set reads it from its module
EXIT_SKIP = 77

RUNS = [
    # (name, -accel, sources to monitor with)
    ("ring", "kvm,dirty-ring-size=4096", ["dirty-ring", "dirty-bitmap"]),
    ("bitmap", "kvm", ["dirty-bitmap", "page-hash"]),
]


class Report(tw.Report):
    last_error = None

    def skip(self, text):
        print("SKIP %s" % text, flush=True)


class SubReport:
    """A view of the Report whose step names carry a prefix and whose
    figures are its own (for one run, or one source of a run)."""

    def __init__(self, rep, prefix):
        self.rep = rep
        self.prefix = prefix
        self.figures = {}
        self.failed = []
        self.last_error = None

    def ok(self, step, text):
        self.rep.ok("%s/%s" % (self.prefix, step), text)

    def fail(self, step, text):
        self.rep.fail("%s/%s" % (self.prefix, step), text)
        self.failed.append(step)

    def info(self, text):
        self.rep.info(text)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qemu", default=DEFAULT_QEMU,
                    help="qemu-system-x86_64 with qdamon, run inside (default: %(default)s)")
    ap.add_argument("--outer-qemu", default=None, metavar="PATH",
                    help="QEMU for the outer VM (default: a copy of --qemu, then "
                    "Debian's /usr/bin/qemu-system-x86_64 if that fails to start)")
    ap.add_argument("--firmware", default=DEFAULT_FIRMWARE,
                    help="the workload image (default: %(default)s)")
    ap.add_argument("--outer-cpu", default="max", metavar="MODEL",
                    help="outer VM -cpu; it needs svm (default: %(default)s)")
    ap.add_argument("--outer-mem", type=int, default=2048, metavar="MIB",
                    help="outer VM RAM (default: %(default)s)")
    ap.add_argument("--outer-smp", type=int, default=2, metavar="N",
                    help="outer VM vCPUs (default: %(default)s)")
    ap.add_argument("--mem", type=int, default=256, metavar="MIB",
                    help="inner guest RAM in MiB (default: %(default)s)")
    ap.add_argument("--hot-start", type=lambda s: int(s, 0), default=16 * MIB,
                    help="hot range start (default: 0x1000000)")
    ap.add_argument("--hot-size", type=lambda s: int(s, 0), default=4 * MIB,
                    help="hot range size (default: 0x400000)")
    ap.add_argument("--sample-us", type=int, default=100000,
                    help="damon-start sample-us (default: %(default)s)")
    ap.add_argument("--aggr-us", type=int, default=1000000,
                    help="damon-start aggr-us (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds allowed to find the hot set, per source "
                    "(default: %(default)s)")
    ap.add_argument("--runs", default=",".join(r[0] for r in RUNS),
                    help="which inner runs (default: %(default)s)")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="print every poll and the harness's progress")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (consoles, QEMU stderr)")
    return ap.parse_args()


# ---------------------------------------------------------------------------
# Steps

def step_outer_boot(host, rep):
    host.start()
    img = host.images
    rep.figures["outer_boot_s"] = round(host.boot_s, 2)
    rep.ok("outer-boot", "outer VM (%s, -accel tcg -cpu %s, %d vCPUs, %d MiB) booted "
           "Linux %s in %.2f s: %s"
           % (host.proc.args[0], host.cpu, host.smp, host.mem_mib,
              img.get("release", "?"), host.boot_s, host.ready_line))


def step_inner_boot(host, rep, accel, args):
    t0 = time.monotonic()
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size}
    inner = host.start_inner(accel, mem_mib=args.mem, config=config)
    inner.wait_console(r"^qdamon-workload: pass=1 t=0$", timeout=60)
    boot_s = time.monotonic() - t0
    ranges = inner.hot_ranges()
    if ranges.get("hot") != (args.hot_start, args.hot_size):
        raise Failed("guest reports hot=%s, expected 0x%x+0x%x"
                     % (ranges.get("hot"), args.hot_start, args.hot_size))
    status = inner.qmp.execute("query-status")
    if status.get("status") != "running":
        raise Failed("query-status says %r" % status)
    kvm = inner.qmp.execute("query-kvm")
    if not (kvm.get("enabled") and kvm.get("present")):
        raise Failed("query-kvm says %r: not running under KVM" % kvm)
    rep.figures["inner_boot_s"] = round(boot_s, 2)
    rep.ok("boot", "inner QEMU pid %d (-accel %s, %d MiB): first pass after %.2f s, "
           "hot=0x%x+0x%x, KVM enabled, VM running"
           % (inner.pid, accel, args.mem, boot_s, args.hot_start, args.hot_size))
    return inner


def step_guest_writes(inner, rep, hot_start, hot_size, mem_bytes):
    """tcg-workload's check: xp probes, then a pmemsave diff of [1 MiB,
    hot end + 16 MiB): exactly the hot range changes in 1 s."""
    top = min(mem_bytes, hot_start + hot_size + 16 * MIB)
    hot, cold, dump_s = tw.check_guest_writes(inner, rep, hot_start, hot_size,
                                              mem_bytes, top)
    rate = pass_rate(inner.passes())
    if rate is not None:
        rep.figures["idle_passes_per_s"] = round(rate, 1)
    rep.ok("guest", "xp: %d hot words change, %d cold do not; pmemsave diff of "
           "[0x%x, 0x%x): exactly [0x%x, 0x%x) changed in 1 s (took %.1f s); "
           "%s passes/s unmonitored"
           % (len(hot), len(cold), MIB, top, hot_start, hot_start + hot_size, dump_s,
              "%.0f" % rate if rate is not None else "?"))


def pass_rate(passes, since=None):
    """Passes per second from [(pass, t)] lines, from the first line at
    or after since (a pass number) to the last; None if too few."""
    if since is not None:
        passes = [p for p in passes if p[0] >= since]
    if len(passes) < 3:
        return None
    (p0, t0), (p1, t1) = passes[1], passes[-1]
    return (p1 - p0) / (t1 - t0) if t1 > t0 else None


def has_command(qmp, name):
    """query-commands, not query-qmp-schema: 7 KB rather than 230 KB
    through the serial port."""
    return any(c.get("name") == name for c in qmp.execute("query-commands"))


def step_damon_start(inner, rep, source, attrs):
    if not has_command(inner.qmp, "damon-start"):
        raise Failed("damon-start not available in this QEMU")
    args = dict(attrs, source=source)
    try:
        inner.qmp.execute("damon-start", args)
    except QMPError as e:
        raise Failed("damon-start %s: %s: %s" % (args, e.error_class, e.desc))
    info = [m for m in inner.qmp.execute("query-damon") if m["id"] == "damon0"]
    if not info or info[0]["state"] != "running":
        raise Failed("query-damon does not list damon0 running: %r" % info)
    m = info[0]
    if m["source"] != source:
        raise Failed("query-damon says source %s, asked for %s" % (m["source"], source))
    rep.ok("damon-start", "damon0 running: source %s, clock %s, sample %d us, "
           "aggr %d us, regions %d..%d, %.0f MiB monitored"
           % (m["source"], m["clock"], m["attrs"]["sample-us"], m["attrs"]["aggr-us"],
              m["attrs"]["min-nr-regions"], m["attrs"]["max-nr-regions"],
              m["monitored-bytes"] / MIB))


def step_ring_refused(inner, rep):
    """Under -accel kvm without a dirty ring, source dirty-ring must be
    refused with an error that says how to get one."""
    try:
        inner.qmp.execute("damon-start", {"id": "ring-check", "source": "dirty-ring"})
    except QMPError as e:
        if "dirty-ring-size" not in e.desc:
            raise Failed("damon-start source dirty-ring refused, but the error does not "
                         "say dirty-ring-size: %s" % e.desc)
        rep.ok("ring-refused", "damon-start source dirty-ring without a dirty ring: "
               "%s: %s" % (e.error_class, e.desc))
        return
    try:
        inner.qmp.execute("damon-stop", {"id": "ring-check"})
    finally:
        raise Failed("damon-start source dirty-ring was accepted under -accel kvm "
                     "without dirty-ring-size")


def broken(error):
    """Did this error leave the inner QEMU unreachable (QMP broke or
    timed out, or the QEMU died)?"""
    return isinstance(error, (QMPProtocolError, NestedError))


def stop_quietly(inner):
    try:
        inner.qmp.execute("damon-stop", timeout=20)
        inner.qmp.wait_event("DAMON_STOPPED", timeout=5)
    except (QMPError, QMPProtocolError, NestedError):
        pass


def run_source(inner, rep, run_name, source, args):
    """damon-start, hot set, damon-stop for one source; returns False if
    QMP broke (the run cannot go on)."""
    srep = SubReport(rep, "%s.%s" % (run_name, source))
    attrs = {"sample-us": args.sample_us, "aggr-us": args.aggr_us}
    t0 = time.monotonic()
    first_pass = inner.passes()[-1][0]
    names = ["damon-start", "hot-set", "damon-stop"]
    steps = [
        lambda: step_damon_start(inner, srep, source, attrs),
        lambda: tw.step_find_hot_set(inner, srep, args.hot_start, args.hot_size,
                                     args.timeout, args.verbose),
        lambda: tw.step_damon_stop(inner, srep),
    ]
    qmp_ok = True
    for name, step in zip(names, steps):
        if run_step(srep, name, step, inner):
            continue
        qmp_ok = not broken(srep.last_error)
        if qmp_ok:
            stop_quietly(inner)     # the next source starts damon0 again
        break
    rate = pass_rate(inner.passes(), since=first_pass) if qmp_ok else None
    if rate is not None:
        srep.figures["guest_passes_per_s"] = round(rate, 1)
    verdict = "FAIL (%s)" % ", ".join(srep.failed) if srep.failed else "PASS"
    figures = " ".join("%s=%s" % kv for kv in sorted(srep.figures.items()))
    print("RESULT kvm-workload %s.%s %s in %.1f s %s"
          % (run_name, source, verdict, time.monotonic() - t0, figures), flush=True)
    for k, v in srep.figures.items():
        rep.figures["%s_%s_%s" % (run_name, source.replace("-", "_"), k)] = v
    return qmp_ok


def run_step(rep, name, step, inner=None):
    """Run one step; print FAIL for its failure (with the inner QEMU's
    state when QMP broke).  True if it passed."""
    rep.last_error = None
    try:
        step()
        return True
    except Failed as e:
        rep.fail(name, str(e))
    except (QMPError, QMPProtocolError, VMError) as e:
        rep.last_error = e
        text = "%s: %s" % (type(e).__name__, e)
        if isinstance(e, QMPProtocolError) and inner is not None:
            try:
                if inner.alive():
                    text += "; inner QEMU state: " + inner.diagnose().replace("\n", " | ")
                else:
                    text += "; the inner QEMU had exited: " + inner.death()
            except NestedError as e2:
                text += "; no diagnosis: %s" % e2
        rep.fail(name, text)
    except Exception as e:      # a bug, or a reply not as the schema says
        rep.last_error = e
        traceback.print_exc()
        rep.fail(name, "unexpected %s: %s" % (type(e).__name__, e))
    return False


def run_inner(host, rep, run_name, accel, sources, args):
    rrep = SubReport(rep, run_name)
    t0 = time.monotonic()
    inner = None

    def boot():
        nonlocal inner
        inner = step_inner_boot(host, rrep, accel, args)

    if not run_step(rrep, "boot", boot):
        if inner is not None:
            inner.kill()
        return
    try:
        ok = run_step(rrep, "guest", lambda: step_guest_writes(
            inner, rrep, args.hot_start, args.hot_size, args.mem * MIB), inner)
        if ok or not broken(rrep.last_error):
            for source in sources:
                if not run_source(inner, rep, run_name, source, args):
                    break
            else:
                if "dirty-ring" not in accel:
                    run_step(rrep, "ring-refused", lambda: step_ring_refused(inner, rrep),
                             inner)
                run_step(rrep, "running", lambda: tw.step_still_running(inner, rrep), inner)
        t_quit = time.monotonic()
        try:
            if inner.quit(timeout=20):
                rrep.ok("quit", "inner QEMU exited %.1f s after QMP quit"
                        % (time.monotonic() - t_quit))
            else:
                rrep.fail("quit", "inner QEMU still running 20 s after QMP quit; killed")
        except NestedError as e:
            rrep.fail("quit", str(e))
    finally:
        inner.close()
    rep.figures.update(("%s_%s" % (run_name, k), v) for k, v in rrep.figures.items())
    rep.figures["%s_s" % run_name] = round(time.monotonic() - t0, 1)


def run(args, rep):
    log = (lambda line: rep.info("harness: " + line)) if args.verbose else None
    with NestedHost(qemu=args.qemu, firmware=args.firmware, mem_mib=args.outer_mem,
                    smp=args.outer_smp, outer_qemu=args.outer_qemu, cpu=args.outer_cpu,
                    keep_workdir=args.keep, log=log) as host:
        if args.keep:
            rep.info("work directory: %s" % host.workdir)
        try:
            step_outer_boot(host, rep)
        except NestedSkip as e:
            rep.skip(str(e))
            return EXIT_SKIP
        except NestedError as e:
            rep.fail("outer-boot", str(e))
            return 1
        wanted = args.runs.split(",")
        try:
            for name, accel, sources in RUNS:
                if name in wanted:
                    run_inner(host, rep, name, accel, sources, args)
                if not host.running():
                    rep.fail("outer-vm", "the outer VM died (%s): %s"
                             % (host.died or "its QEMU exited", host.stderr_tail()))
                    return 1
        finally:
            if host.bad_lines:
                rep.info("%d command lines reached the outer shell damaged and were "
                         "sent again: %s" % (len(host.bad_lines),
                                             ", ".join(str(b[0]) for b in host.bad_lines)))
            trouble = host.kernel_trouble()
            if trouble:
                rep.info("the outer kernel's console reported:")
                for line in trouble:
                    rep.info("  " + line)
        status = host.poweroff()
        if status == 0:
            rep.ok("outer-exit", "outer VM powered off, its QEMU exited with status 0")
        else:
            rep.fail("outer-exit", "outer QEMU exit status %s: %s"
                     % (status, host.stderr_tail()))
    return 1 if rep.failed else 0


def on_sigterm(signum, frame):
    """timeout(1) sends SIGTERM to us and then to its whole process
    group: unwind once, so that every QEMU is killed and the work
    directory removed, and ignore the second one."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(143)


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    rep = Report()
    t0 = time.monotonic()
    try:
        status = run(args, rep)
    except KeyboardInterrupt:
        rep.fail("interrupted", "")
        status = 1
    except NestedError as e:
        rep.fail("harness", str(e))
        status = 1
    figures = " ".join("%s=%s" % kv for kv in sorted(rep.figures.items()))
    if status == EXIT_SKIP:
        verdict = "SKIP"
    elif rep.failed:
        verdict = "FAIL (%s)" % ", ".join(rep.failed)
    else:
        verdict = "PASS"
    print("RESULT kvm-workload %s in %.1f s %s" % (verdict, time.monotonic() - t0, figures),
          flush=True)
    if status == EXIT_SKIP:
        return EXIT_SKIP
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
