#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kvm-workload.py - end-to-end test: qdamon finds the workload's hot set under real KVM.

There is no /dev/kvm here, so KVM is nested: an outer VM (our QEMU,
-accel tcg -cpu max, whose SVM emulation KVM uses) boots Debian's 6.12
kernel, loads kvm-amd, and runs our QEMU inside on the workload firmware
(harness.nested).  --kernel idle boots our own build of Debian's
linux-source-6.12 instead (tests/nested/build-kernel.sh: page_idle, KVM
built in; some 15 minutes to build the first time, then cached).  The inner QEMU's QMP monitor is a serial port of the
outer VM, so the checks here talk to it with harness.qmp and run the
same steps as tcg-workload.py (harness.steps), with harness.hotset's
criteria:

  coverage  >= 90% of the hot range's bytes lie in regions whose
              nr-accesses is at least half of max-nr-accesses;
  wss error   |wss-bytes (query-damon-wss, damon0) - hot size|
              <= 15% of the hot size (WSS_ERR_MAX_NESTED);

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

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, nested, steps  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.hotset import WSS_ERR_MAX_NESTED  # noqa: E402
from harness.nested import KERNELS, NestedError, NestedHost, start_or_report  # noqa: E402
from harness.qmp import QMPError, QMPProtocolError  # noqa: E402
from harness.report import Failed, run_step  # noqa: E402

RUNS = [
    # (name, -accel, sources to monitor with)
    ("ring", "kvm,dirty-ring-size=4096", ["dirty-ring", "dirty-bitmap"]),
    ("bitmap", "kvm", ["dirty-bitmap", "page-hash"]),
]


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=256, hot_start=16 * MIB, hot_size=4 * MIB)
    ap.add_argument("--outer-qemu", default=None, metavar="PATH",
                    help="QEMU for the outer VM (default: a copy of --qemu, then "
                    "Debian's /usr/bin/qemu-system-x86_64 if that fails to start)")
    ap.add_argument("--outer-cpu", default="max", metavar="MODEL",
                    help="outer VM -cpu; it needs svm (default: %(default)s)")
    ap.add_argument("--outer-mem", type=int, default=2048, metavar="MIB",
                    help="outer VM RAM (default: %(default)s)")
    ap.add_argument("--outer-smp", type=int, default=2, metavar="N",
                    help="outer VM vCPUs (default: %(default)s)")
    ap.add_argument("--kernel", choices=KERNELS, default="debian",
                    help="the outer VM's kernel: Debian's 6.12 image, or our build of "
                    "linux-source-6.12 with page_idle (default: %(default)s)")
    ap.add_argument("--sample-us", type=int, default=100000,
                    help="damon-start sample-us (default: %(default)s)")
    ap.add_argument("--aggr-us", type=int, default=1000000,
                    help="damon-start aggr-us (default: %(default)s)")
    ap.add_argument("--runs", default=",".join(r[0] for r in RUNS),
                    help="which inner runs (default: %(default)s)")
    harg.add_run(ap, timeout=60.0, keep_what="the work directory (consoles, QEMU stderr)")
    return ap.parse_args()


# ---------------------------------------------------------------------------
# Steps

def step_outer_boot(host, rep):
    host.start()
    img = host.images
    rep.figures["outer_boot_s"] = round(host.boot_s, 2)
    rep.ok("outer-boot", "outer VM (%s, -accel tcg -cpu %s, %d vCPUs, %d MiB) booted "
           "Linux %s (kernel %s) in %.2f s: %s"
           % (host.proc.args[0], host.cpu, host.smp, host.mem_mib,
              img.get("release", "?"), host.kernel, host.boot_s, host.ready_line))


def step_inner_boot(host, rep, accel, args):
    t0 = time.monotonic()
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size}
    inner = host.start_inner(accel, mem_mib=args.mem, config=config)
    steps.wait_first_pass(inner, args.hot_start, args.hot_size)
    boot_s = time.monotonic() - t0
    kvm = inner.qmp.execute("query-kvm")
    if not (kvm.get("enabled") and kvm.get("present")):
        raise Failed("query-kvm says %r: not running under KVM" % kvm)
    rep.figures["inner_boot_s"] = round(boot_s, 2)
    rep.ok("boot", "inner QEMU pid %d (-accel %s, %d MiB): first pass after %.2f s, "
           "hot=0x%x+0x%x, KVM enabled, VM running"
           % (inner.pid, accel, args.mem, boot_s, args.hot_start, args.hot_size))
    return inner


def step_guest_writes(inner, rep, hot_start, hot_size, mem_bytes):
    """tcg-workload's check, with the guest's speed unmonitored: xp
    probes, then a pmemsave diff of [1 MiB, hot end + 16 MiB): exactly
    the hot range changes in 1 s."""
    def idle_rate():
        rate = inner.pass_rate()
        if rate is None:
            return "; ? passes/s unmonitored"
        rep.figures["idle_passes_per_s"] = round(rate, 1)
        return "; %.0f passes/s unmonitored" % rate

    top = min(mem_bytes, hot_start + hot_size + 16 * MIB)
    steps.step_guest_writes(inner, rep, hot_start, hot_size, mem_bytes, top, idle_rate)


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


def diagnosis(inner):
    """For run_step: what the outer VM knows of an inner QEMU whose QMP
    broke."""
    def diagnose(error):
        if not isinstance(error, QMPProtocolError):
            return ""
        try:
            if inner.alive():
                return "; inner QEMU state: " + inner.diagnose().replace("\n", " | ")
            return "; the inner QEMU had exited: " + inner.death()
        except NestedError as e:
            return "; no diagnosis: %s" % e
    return diagnose


def stop_quietly(inner):
    try:
        inner.qmp.execute("damon-stop", timeout=20)
        inner.qmp.wait_event("DAMON_STOPPED", timeout=5)
    except (QMPError, QMPProtocolError, NestedError):
        pass


def run_source(inner, rep, run_name, source, args):
    """damon-start, hot set, damon-stop for one source; returns False if
    QMP broke (the run cannot go on)."""
    srep = rep.sub("%s.%s" % (run_name, source))
    attrs = {"sample-us": args.sample_us, "aggr-us": args.aggr_us}
    t0 = time.monotonic()
    first_pass = inner.passes()[-1][0]
    todo = [
        ("damon-start", lambda: steps.step_damon_start(inner, srep, source, attrs)),
        ("hot-set", lambda: steps.step_find_hot_set(inner, srep, args.hot_start,
                                                    args.hot_size, args.timeout,
                                                    args.verbose, WSS_ERR_MAX_NESTED)),
        ("damon-stop", lambda: steps.step_damon_stop(inner, srep)),
    ]
    qmp_ok = True
    for name, step in todo:
        if run_step(srep, name, step, diagnosis(inner)):
            continue
        qmp_ok = not broken(srep.last_error)
        if qmp_ok:
            stop_quietly(inner)     # the next source starts damon0 again
        break
    rate = inner.pass_rate(since=first_pass) if qmp_ok else None
    if rate is not None:
        srep.figures["guest_passes_per_s"] = round(rate, 1)
    srep.result("kvm-workload %s.%s" % (run_name, source), time.monotonic() - t0)
    for k, v in srep.figures.items():
        rep.figures["%s_%s_%s" % (run_name, source.replace("-", "_"), k)] = v
    return qmp_ok


def run_inner(host, rep, run_name, accel, sources, args):
    rrep = rep.sub(run_name)
    t0 = time.monotonic()
    inner = None

    def boot():
        nonlocal inner
        inner = step_inner_boot(host, rrep, accel, args)

    if not run_step(rrep, "boot", boot):
        if inner is not None:
            inner.kill()
        return
    diagnose = diagnosis(inner)
    try:
        ok = run_step(rrep, "guest", lambda: step_guest_writes(
            inner, rrep, args.hot_start, args.hot_size, args.mem * MIB), diagnose)
        if ok or not broken(rrep.last_error):
            for source in sources:
                if not run_source(inner, rep, run_name, source, args):
                    break
            else:
                if "dirty-ring" not in accel:
                    run_step(rrep, "ring-refused", lambda: step_ring_refused(inner, rrep),
                             diagnose)
                run_step(rrep, "running", lambda: steps.step_still_running(inner, rrep),
                         diagnose)
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
                    keep_workdir=args.keep, log=log, kernel=args.kernel) as host:
        if args.keep:
            rep.info("work directory: %s" % host.workdir)
        status = start_or_report(host, rep, lambda: step_outer_boot(host, rep))
        if status is not None:
            return status
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


if __name__ == "__main__":
    nested.main("kvm-workload", run, parse_args())
