#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The main job: boot the bundled workload guest under TCG, start DAMON
monitoring over QMP, and print a live working-set and hot-region report.

The guest writes a 32 MiB hot set that moves to a new place every 10 s
(tests/guest), so the report shows DAMON finding it and following it.
Only QMP is used, as `virsh qemu-monitor-command` would send it.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from harness import args as harg  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402


def mib(n):
    return "%.1f MiB" % (n / MIB)


def report(vm, t0, hot_now):
    wss = vm.qmp.execute("query-damon-wss", {"id": "damon0"})
    regs = vm.qmp.execute("query-damon-regions", {"id": "damon0"})
    hot = sorted((r for r in regs["regions"] if r["nr-accesses"]),
                 key=lambda r: -r["nr-accesses"])[:3]
    print("t=%5.1fs  aggr=%-4d regions=%-3d  wss=%-10s (guest writes %s)  "
          "p50 wss over the run=%s"
          % (time.monotonic() - t0, regs["nr-aggregations"],
             len(regs["regions"]), mib(wss["wss-bytes"]), hot_now,
             mib(wss["percentiles"][2]["wss-bytes"])))
    for r in hot:
        print("        hot [0x%09x, 0x%09x) %10s  access %5.1f%%  age %5d ms"
              % (r["start"], r["end"], mib(r["end"] - r["start"]),
                 r["access-rate-percent"], r["age-ms"]))
    sys.stdout.flush()


# query-damon's "sees", in words: a working set from a write-only
# source leaves out pages the guest only reads.
SEES = {"reads-and-writes": "sees reads and writes",
        "writes-only": "sees writes only"}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--duration", type=int, default=30,
                    help="seconds to report, 1 to 3600 (default 30)")
    ap.add_argument("--source", default=None,
                    help="tcg-accessed, dirty-bitmap or page-hash (default: "
                    "QEMU's choice, tcg-accessed under TCG)")
    args = ap.parse_args()
    if not 1 <= args.duration <= 3600:
        ap.error("--duration must be 1 to 3600 (got %d)" % args.duration)
    config = {"hot_start": 64 * MIB, "hot_size": 32 * MIB,
              "phase_secs": 10, "phase_count": 3, "phase_stride": 96 * MIB}
    start = {} if args.source is None else {"source": args.source}
    with WorkloadVM(args.qemu, args.firmware, mem_mib=512,
                    config=config) as vm:
        vm.start()
        vm.wait_console(r"pass=1 ", timeout=30)
        vm.qmp.execute("damon-start", start)
        info = vm.qmp.execute("query-damon")[0]
        print("qdamon: monitoring a 512 MiB TCG guest: source %s (%s; %s), "
              "sample %d us, aggregation %d us"
              % (info["source"], SEES.get(info["sees"], info["sees"]),
                 info["source-reason"], info["attrs"]["sample-us"],
                 info["attrs"]["aggr-us"]))
        t0 = time.monotonic()
        for _ in range(args.duration):
            time.sleep(1)
            phases = vm.phases()
            where = (phases[-1][1] if phases else config["hot_start"])
            report(vm, t0, "[0x%x, +%s)" % (where, mib(config["hot_size"])))
        vm.qmp.execute("damon-stop")
        info = vm.qmp.execute("query-damon")[0]
        print("qdamon: stopped after %d aggregations; monitor CPU %.1f ms "
              "(%.2f%% of one core)" % (info["nr-aggregations"],
                                        info["cpu-ns"] / 1e6,
                                        info["cpu-ns"] / 1e7 / args.duration))
        vm.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
