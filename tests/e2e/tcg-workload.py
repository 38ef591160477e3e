#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""tcg-workload.py - end-to-end test: qdamon finds the workload's hot set under TCG.

Boots tests/guest's workload.bin under TCG with our QEMU, checks that the
guest writes its hot set and nothing else (HMP xp, before any monitor
runs), then starts a DAMON monitor with defaults over QMP (realtime
clock, default source, which under TCG must be tcg-accessed) and polls query-damon-regions and query-damon-wss
until the hot set is found, by harness.hotset's thresholds:

  coverage  >= 90% of the hot range's bytes lie in regions whose
              nr-accesses is at least half of max-nr-accesses;
  wss error   |wss-bytes - hot size| <= 10% of the hot size;

both on two successive snapshots (of different aggregations).  Then
damon-stop (DAMON_STOPPED, state "stopped"), the VM must still be
running, and quit.

Prints one PASS/FAIL line per step with the measured figures, a RESULT
line at the end, and exits 0 only if every step passed.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, report, steps  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=512, hot_start=16 * MIB, hot_size=16 * MIB)
    harg.add_run(ap, timeout=60.0, keep_what="the work directory (console, QEMU stderr)")
    ap.add_argument("--source", default=None,
                    help="damon-start source (default: QEMU's default)")
    ap.add_argument("--full-diff", action="store_true",
                    help="check that no page of all guest RAM above 1 MiB but the "
                    "hot set changes (slow: two RAM dumps); by default up to 16 MiB "
                    "past the hot set")
    return ap.parse_args()


def step_boot(vm, rep, hot_start, hot_size):
    t0 = time.monotonic()
    vm.start()
    steps.wait_first_pass(vm, hot_start, hot_size)
    boot_s = time.monotonic() - t0
    rep.figures["boot_s"] = round(boot_s, 2)
    rep.ok("boot", "first pass after %.2f s, hot=0x%x+0x%x, VM running"
           % (boot_s, hot_start, hot_size))


def run(args, rep):
    hot_start, hot_size = args.hot_start, args.hot_size
    mem_bytes = args.mem * MIB
    # 16 MiB past the hot range, or to the end of RAM with --full-diff
    top = mem_bytes if args.full_diff else min(mem_bytes, hot_start + hot_size + 16 * MIB)
    config = {"hot_start": hot_start, "hot_size": hot_size}
    with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=config,
                    keep_workdir=args.keep) as vm:
        if args.keep:
            rep.info("work directory: %s" % vm.workdir)
        report.run_steps(rep, [
            ("boot", lambda: step_boot(vm, rep, hot_start, hot_size)),
            ("guest", lambda: steps.step_guest_writes(vm, rep, hot_start, hot_size,
                                                      mem_bytes, top)),
            # a bare damon-start under TCG: the default must be tcg-accessed
            ("damon-start", lambda: steps.step_damon_start(
                vm, rep, args.source, default_source="tcg-accessed")),
            ("hot-set", lambda: steps.step_find_hot_set(vm, rep, hot_start, hot_size,
                                                        args.timeout, args.verbose)),
            ("damon-stop", lambda: steps.step_damon_stop(vm, rep)),
            ("running", lambda: steps.step_still_running(vm, rep)),
        ])
        rate = vm.pass_rate()
        if rate is not None:
            rep.figures["guest_passes_per_s"] = round(rate, 1)
            rep.info("guest: %.1f passes/s over %d pages (%.1f Mpages written/s)"
                     % (rate, hot_size // PAGE, rate * hot_size / PAGE / 1e6))
        steps.step_quit(vm, rep)


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("tcg-workload", lambda rep: run(ARGS, rep))
