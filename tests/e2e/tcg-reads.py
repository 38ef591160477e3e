#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tcg-reads.py - end-to-end test: under TCG, tcg-accessed sees a range the guest only reads; dirty-bitmap does not.

Boots tests/guest's workload.bin under TCG with a written range A (the
hot range, 4 MiB by default) and a read range B (read_start/read_size,
16 MiB by default: written once at boot, then one load per page per
pass), checks with xp probes and a pmemsave diff that the guest writes A
and nothing else, then runs monitors one after the other on the same VM
(QEMU's default attributes, realtime clock):

  tcg-accessed  both ranges found: >= 90% of each range's bytes in
                regions whose nr-accesses is at least half of
                max-nr-accesses, and wss-bytes within 10% of |A| + |B|,
                on two successive aggregations;
  dirty-bitmap  A found (>= 90% covered, wss within 10% of |A|) on two
                successive aggregations, and then over the next
                aggregations B is not: at most 10% of it in hot regions
                on each.  This is the contrast: a write-only source
                cannot see reads.

  tcg-accessed+dirty-bitmap
                reads and writes apart (damon-start source tcg-accessed,
                write-source dirty-bitmap): both ranges found and WSS as
                for tcg-accessed, and on the same two aggregations the
                write share nr-writes / nr-accesses of the hot regions,
                weighted by their bytes in each range, is at least 80%
                in A and at most 5% in B, and write-wss-bytes is within
                10% of |A|;
  default       a bare damon-start: query-damon must say tcg-accessed
                (idle-page on a host where QEMU can use page_idle), sees
                reads-and-writes, source-reason "default: ...", and it
                must find both ranges as tcg-accessed does;
  idle-page     host accessed bits: on a host with page_idle that we can
                open, as tcg-accessed; on a host without it (every Debian
                kernel, this machine's), damon-start must fail with an
                error naming CONFIG_IDLE_PAGE_TRACKING, start nothing, and
                leave the VM running (tests/nested/idle-page.py runs it on
                a kernel that has page_idle).

The scoring lives in harness/reads.py, which the nested test shares.

Every monitor's query-damon must say what its source sees
(reads-and-writes for tcg-accessed, writes-only for the others) and,
without a write source, have no write-source, and its replies no
nr-writes or write-wss-bytes.

Each monitor is stopped with damon-stop, and the VM must keep running.
--smp N runs the guest with N vCPUs (MTTCG); the workload runs on the
first, the others stay halted, and every one of them must still run each
re-arm.

--tlb-resident shrinks the guest's set so that it fits in the vCPU's TLB
(256 entries while nothing flushes it, and this guest never does): A is
32 pages at 16 MiB, B 64 pages at 16.5 MiB, on TLB indices that do not
collide, and the monitors watch only [16 MiB, 17 MiB).  With the default
sizes every access misses the small TLB anyway, so only there does the
re-arm matter.  --expect-blind is the negative control: QEMU runs with
QDAMON_TEST_TCG_NO_REARM=1, which makes tcg-accessed arm pages without
dropping their TLB entries, and with --tlb-resident the test passes only
if tcg-accessed then fails to find the ranges (entries that stay in the
TLB are never filled again).

Prints one PASS/FAIL line per step, a RESULT line with the figures, and
exits 0 only if every step passed.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, report, steps  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.qmp import QMPError  # noqa: E402
from harness.reads import READ_SOURCES, step_reads_found, step_reads_unseen  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

NO_REARM_ENV = "QDAMON_TEST_TCG_NO_REARM"
IDLE_BITMAP = "/sys/kernel/mm/page_idle/bitmap"


def host_has_page_idle():
    """Whether QEMU, run by us, can use idle page tracking itself."""
    return os.path.exists(IDLE_BITMAP) and os.access(IDLE_BITMAP, os.R_OK | os.W_OK)


def step_idle_page_refused(vm, rep):
    """A host without page_idle: damon-start source idle-page fails with an
    error that names the missing kernel option, starts nothing, and the VM
    runs on."""
    try:
        vm.qmp.execute("damon-start", {"source": "idle-page"})
    except QMPError as e:
        if "CONFIG_IDLE_PAGE_TRACKING" not in e.desc:
            raise Failed("damon-start source idle-page refused, but the error does not "
                         "name CONFIG_IDLE_PAGE_TRACKING: %s" % e.desc)
        left = [m["id"] for m in vm.qmp.execute("query-damon") if m["state"] == "running"]
        if left:
            raise Failed("a refused damon-start left monitors running: %s" % left)
        if not vm.qmp.execute("query-status").get("running"):
            raise Failed("the VM stopped after the refused damon-start")
        return "no page_idle on this host: %s: %s; nothing started, VM running" % (
            e.error_class, e.desc)
    raise Failed("damon-start source idle-page was accepted on a host without %s"
                 % IDLE_BITMAP)


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=512, hot_start=16 * MIB, hot_size=4 * MIB,
                smp="the guest")
    harg.add_read_range(ap)
    ap.add_argument("--sources", default="tcg-accessed,dirty-bitmap",
                    help="monitors to run, in order: a source, SOURCE+WRITE-SOURCE "
                    "for reads and writes apart, or 'default' for a bare "
                    "damon-start (default: %(default)s)")
    ap.add_argument("--tlb-resident", action="store_true",
                    help="A 128 KiB at 16 MiB, B 256 KiB at 16.5 MiB, monitors on "
                    "[16 MiB, 17 MiB): a set that stays in the TLB")
    ap.add_argument("--expect-blind", action="store_true",
                    help="negative control: run QEMU with %s=1 and expect "
                    "tcg-accessed not to find the read range" % NO_REARM_ENV)
    harg.add_run(ap, timeout=60.0, keep_what="the work directory (console, QEMU stderr)")
    args = ap.parse_args()
    args.regions = None
    if args.tlb_resident:
        args.hot_start, args.hot_size = 16 * MIB, 128 * 1024
        args.read_start, args.read_size = 16 * MIB + 512 * 1024, 256 * 1024
        args.regions = [{"start": 16 * MIB, "end": 17 * MIB}]
    return args


def run(args, rep):
    mem_bytes = args.mem * MIB
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size,
              "read_start": args.read_start, "read_size": args.read_size}
    extra = ["-smp", str(args.smp)] if args.smp > 1 else []
    env = {NO_REARM_ENV: "1" if args.expect_blind else None}
    sources = [s for s in args.sources.split(",") if s]
    args.default_sources = ("idle-page",) if host_has_page_idle() else ("tcg-accessed",)
    top = min(mem_bytes, args.read_start + args.read_size + 16 * MIB)
    with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=config,
                    extra_args=extra, env=env, keep_workdir=args.keep) as vm:
        if args.keep:
            rep.info("work directory: %s" % vm.workdir)

        def boot():
            t0 = time.monotonic()
            vm.start()
            steps.wait_first_pass(vm, args.hot_start, args.hot_size)
            want = "read=0x%x+0x%x" % (args.read_start, args.read_size)
            if want not in vm.console():
                raise Failed("guest console lacks %r: this workload.bin has no "
                             "read range" % want)
            rep.ok("boot", "first pass after %.2f s, %d vCPU%s, hot (A, written) "
                   "0x%x+0x%x, read (B, read only) 0x%x+0x%x"
                   % (time.monotonic() - t0, args.smp, "s" if args.smp > 1 else "",
                      args.hot_start, args.hot_size, args.read_start, args.read_size))

        todo = [("boot", boot),
                ("guest", lambda: steps.step_guest_writes(
                    vm, rep, args.hot_start, args.hot_size, mem_bytes, top))]
        for source in sources:
            label = source.replace("-", "_").replace("+", "_w_")
            reads = source.partition("+")[0] in READ_SOURCES + ("default",)
            if source.startswith("idle-page") and not host_has_page_idle():
                todo.append((label + "-refused", lambda: rep.ok(
                    "idle-page-refused", step_idle_page_refused(vm, rep))))
                continue
            if args.expect_blind and source == "tcg-accessed":
                def blind(source=source, label=label):
                    try:
                        text = step_reads_found(vm, rep, args, source, label)
                    except Failed as e:
                        rep.ok(label, "with %s=1 (no re-arm) tcg-accessed fails as it "
                               "must: %s" % (NO_REARM_ENV, e))
                        return
                    raise Failed("with %s=1 tcg-accessed still found the read "
                                 "range: %s" % (NO_REARM_ENV, text))
                todo.append((label, blind))
            elif reads:
                todo.append((label, lambda s=source, lb=label: rep.ok(
                    lb, step_reads_found(vm, rep, args, s, lb))))
            else:
                todo.append((label, lambda s=source, lb=label: rep.ok(
                    lb, step_reads_unseen(vm, rep, args, s, lb))))
            todo.append(("damon-stop", lambda: steps.step_damon_stop(vm, rep)))
        todo.append(("running", lambda: steps.step_still_running(vm, rep)))
        report.run_steps(rep, todo)
        rate = vm.pass_rate()
        if rate is not None:
            rep.figures["guest_passes_per_s"] = round(rate, 1)
        steps.step_quit(vm, rep)


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("tcg-reads", lambda rep: run(ARGS, rep), fields=(
        "smp=%d" % ARGS.smp, "set=%s" % ("tlb-resident" if ARGS.tlb_resident else "large"),
        "mode=%s" % ("no-rearm" if ARGS.expect_blind else "normal")))
