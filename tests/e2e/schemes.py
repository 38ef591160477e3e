#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""schemes.py - end-to-end test: DAMOS schemes acting on a running TCG guest lose nothing.

The guest fills all its usable RAM with a known pattern (tests/guest,
fill_size=all), keeps writing a small hot set, and re-reads the whole
pattern every --verify-secs (verify lines).  A monitor with one scheme
per action that acts on guest RAM applies them again and again, on the
monitor thread, while the vCPU runs: pageout, cold, nohugepage and
migrate-cold (to host node 0) on idle regions, each in its own quarter
of RAM; hugepage and willneed on accessed ones.

  boot     the guest fills its RAM and runs;
  schemes  damon-start with the schemes; each must try regions, and
           each but pageout must apply to some (pageout reclaims only
           where the host has swap: tests/nested/reclaim.py runs it
           there), for --run seconds;
  verify   every guest verify during that time says bad=0, and there
           were at least two of them;
  dump     the monitor stopped and the VM paused, a pmemsave dump of the
           fill range matches the pattern on every page
           (harness.pattern; the hot pages' word 0 is the guest's
           sequence number);
  running  the VM runs on.

Prints one PASS/FAIL line per step, a RESULT line at the end, and exits
0 only if every step passed.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, pattern, ramcmp, report, steps  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

MONITOR = "damon0"
ACTIONS = ["pageout", "cold", "hugepage", "nohugepage", "willneed", "migrate-cold"]


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=256, hot_start=16 * MIB, hot_size=4 * MIB)
    ap.add_argument("--run", type=float, default=10.0, metavar="S",
                    help="seconds the schemes act (default: %(default)s)")
    ap.add_argument("--verify-secs", type=int, default=2, metavar="S",
                    help="the guest's verify_secs (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds allowed for the fill (default: %(default)s)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (console, QEMU stderr)")
    return ap.parse_args()


def scheme_list(mem):
    """Cold regions: out, cold, no huge pages, to node 0, each in its own
    quarter of RAM (an action resets a region's age, so two schemes with
    one pattern would starve the second); hot ones: huge pages, read
    ahead.  Each acts at every aggregation it matches."""
    cold = {"nr-accesses-max": 0, "age-min": 2}
    hot = {"nr-accesses-min": 1}
    quarter = mem * MIB // 4
    out, k = [], 0
    for a in ACTIONS:
        if a in ("hugepage", "willneed"):
            s = {"action": a, "access-pattern": hot}
        else:
            s = {"action": a, "access-pattern": cold, "filters": [
                {"type": "addr", "start": k * quarter, "end": (k + 1) * quarter,
                 "allow": True}]}
            k += 1
        if a == "migrate-cold":
            s["target-nid"] = 0
        out.append(s)
    return out


def schemes_of(vm):
    return vm.qmp.execute("query-damon-schemes", {"id": MONITOR})["schemes"]


def step_boot(vm, args, rep, run):
    vm.start()
    vm.wait_console(pattern.FILL_DONE, timeout=args.timeout)
    steps.wait_first_pass(vm, args.hot_start, args.hot_size, timeout=args.timeout)
    start, end, seed, _ = pattern.fill_info(vm.console())
    run.update(fill=(start, end), seed=seed)
    rep.ok("boot", "guest filled 0x%x+0x%x (%d MiB) seed=0x%x, hot 0x%x+0x%x"
           % (start, end - start, (end - start) // MIB, seed, args.hot_start,
              args.hot_size))


def step_schemes(vm, args, rep, run):
    vm.qmp.execute("damon-start", {"id": MONITOR, "schemes": scheme_list(args.mem)})
    run["verify0"] = len(pattern.verifies(vm.console()))
    time.sleep(args.run)
    info = schemes_of(vm)
    text = []
    for a, s in zip(ACTIONS, info):
        st = s["stats"]
        skipped = ", ".join("%s %.1f MiB" % (k["reason"], k["bytes"] / MIB)
                            for k in s["skipped"])
        text.append("%s tried %.0f/applied %.0f MiB%s" % (
            a, st["sz-tried"] / MIB, st["sz-applied"] / MIB,
            " (skipped: %s)" % skipped if skipped else ""))
        rep.add("%s_applied_mib" % a.replace("-", "_"), round(st["sz-applied"] / MIB))
        if st["sz-tried"] == 0:
            raise Failed("%s tried nothing in %.0f s: %r" % (a, args.run, s))
        if a != "pageout" and st["sz-applied"] == 0:
            raise Failed("%s applied nothing in %.0f s: %r" % (a, args.run, s))
    rep.ok("schemes", "%.0f s: %s" % (args.run, "; ".join(text)))


def step_verify(vm, args, rep, run):
    lines = pattern.verifies(vm.console())[run["verify0"]:]
    bad = [v for v in lines if v[1]]
    if bad:
        raise Failed("guest verify found bad words while the schemes acted: %s" % bad)
    if len(lines) < 2:
        raise Failed("only %d guest verifies while the schemes acted" % len(lines))
    rep.add("verifies", len(lines))
    rep.ok("verify", "%d guest verifies of %d MiB while the schemes acted, all bad=0"
           % (len(lines), (run["fill"][1] - run["fill"][0]) // MIB))


def step_dump(vm, args, rep, run):
    vm.qmp.execute("damon-stop", {"id": MONITOR})
    vm.qmp.execute("stop")
    path = os.path.join(ramcmp.dump_dir(vm.workdir), "qdamon-schemes-%d.bin" % os.getpid())
    try:
        ramcmp.pmemsave(vm, run["fill"][0], run["fill"][1], path)
        hot = [(args.hot_start, args.hot_start + args.hot_size)]
        bad = pattern.check_dump(path, run["fill"][0], run["fill"], hot, run["seed"])
    finally:
        if os.path.exists(path):
            os.unlink(path)
    vm.qmp.execute("cont")
    n = (run["fill"][1] - run["fill"][0]) // PAGE
    if bad:
        raise Failed("%d of %d pages differ from the pattern, first %s"
                     % (len(bad), n, ", ".join("0x%x+0x%x" % b for b in bad[:8])))
    rep.add("pages_checked", n)
    rep.ok("dump", "all %d pages of the fill range match the pattern" % n)


def run_test(args, rep):
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size,
              "fill_size": "all", "verify_secs": args.verify_secs}
    run = {}
    with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=config,
                    keep_workdir=args.keep) as vm:
        ok = report.run_steps(rep, [
            ("boot", lambda: step_boot(vm, args, rep, run)),
            ("schemes", lambda: step_schemes(vm, args, rep, run)),
            ("verify", lambda: step_verify(vm, args, rep, run)),
            ("dump", lambda: step_dump(vm, args, rep, run)),
        ])
        if ok:
            report.run_step(rep, "running", lambda: steps.step_still_running(vm, rep))
        steps.step_quit(vm, rep)


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("schemes", lambda rep: run_test(ARGS, rep), width=10)
