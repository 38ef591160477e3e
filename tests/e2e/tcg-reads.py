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
  default       a bare damon-start: query-damon must say tcg-accessed,
                sees reads-and-writes, source-reason "default: ...", and
                it must find both ranges as tcg-accessed does.

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

from harness import args as harg, hotset, report, steps  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.qmp import QMPError  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.steps import MONITOR, monitor_info  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

NO_REARM_ENV = "QDAMON_TEST_TCG_NO_REARM"
BLIND_MAX = 0.10        # dirty-bitmap: at most this share of B in hot regions
BLIND_AGGRS = 5         # ... on each of this many aggregations after A is found
WRITE_SHARE_A_MIN = 0.80    # with a write source: A's hot bytes are written
WRITE_SHARE_B_MAX = 0.05    # ... and B's are not
SEES = {"tcg-accessed": "reads-and-writes", "dirty-bitmap": "writes-only",
        "page-hash": "writes-only", "dirty-ring": "writes-only"}
DEFAULT_UNDER_TCG = "tcg-accessed"


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=512, hot_start=16 * MIB, hot_size=4 * MIB,
                smp="the guest")
    ap.add_argument("--read-start", type=harg.hex_int, default=32 * MIB,
                    help="read range start (default: 0x2000000)")
    ap.add_argument("--read-size", type=harg.hex_int, default=16 * MIB,
                    help="read range size (default: 0x1000000)")
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


def write_share(regions, start, size):
    """nr-writes / nr-accesses of the hot regions, weighted by their bytes in
    [start, start + size); None when no hot region overlaps it."""
    maxn = regions["max-nr-accesses"]
    acc = wr = 0
    for r in regions["regions"]:
        if not hotset.is_hot(r["nr-accesses"], maxn):
            continue
        b = hotset.overlap(r["start"], r["end"], start, start + size)
        acc += b * r["nr-accesses"]
        wr += b * r["nr-writes"]
    return wr / acc if acc else None


class Pair:
    """One snapshot scored against the written range A and the read range B."""

    def __init__(self, regions, wss, args):
        self.a = hotset.Score(regions, wss, [args.hot_start], args.hot_size)
        self.b = hotset.Score(regions, wss, [args.read_start], args.read_size)
        self.wss = wss["wss-bytes"]
        self.aggr = regions["nr-aggregations"]
        self.nr_regions = len(regions["regions"])
        self.writes = "write-wss-bytes" in wss
        if self.writes:
            self.write_wss = wss["write-wss-bytes"]
            self.a_write = write_share(regions, args.hot_start, args.hot_size)
            self.b_write = write_share(regions, args.read_start, args.read_size)

    def writes_ok(self, args):
        return (self.a_write is not None and self.b_write is not None
                and self.a_write >= WRITE_SHARE_A_MIN
                and self.b_write <= WRITE_SHARE_B_MAX
                and hotset.within(self.write_wss, args.hot_size))

    def writes_text(self, args):
        def pct(x):
            return "-" if x is None else "%.1f%%" % (x * 100)
        return ("write share A %s, B %s; write-wss %.2f MiB (|A| %.2f MiB, error %.1f%%)"
                % (pct(self.a_write), pct(self.b_write), self.write_wss / MIB,
                   args.hot_size / MIB,
                   abs(self.write_wss - args.hot_size) / args.hot_size * 100))

    def wss_err(self, truth):
        return abs(self.wss - truth) / truth

    def text(self, truth):
        return ("A %.1f%%, B %.1f%% covered, wss %.2f MiB (truth %.2f MiB, error %.1f%%), "
                "%d regions" % (self.a.coverage * 100, self.b.coverage * 100,
                                self.wss / MIB, truth / MIB, self.wss_err(truth) * 100,
                                self.nr_regions))


def snapshots(vm, timeout, poll=0.1):
    """Yield (seconds, regions, wss) once per new aggregation of damon0."""
    t0, last = time.monotonic(), 0
    while time.monotonic() - t0 < timeout:
        regions = vm.qmp.execute("query-damon-regions", {"id": MONITOR})
        wss = vm.qmp.execute("query-damon-wss", {"id": MONITOR})
        if regions["nr-aggregations"] > last:
            last = regions["nr-aggregations"]
            yield time.monotonic() - t0, regions, wss
        time.sleep(poll)


def start_monitor(vm, spec, regions=None):
    """Start damon0 as spec says: SOURCE, SOURCE+WRITE-SOURCE, or 'default'
    (no source argument: QEMU's choice, which under TCG must be tcg-accessed),
    and check what query-damon says of it."""
    source, _, write_source = spec.partition("+")
    start = {}
    if source != "default":
        start["source"] = source
    if write_source:
        start["write-source"] = write_source
    if regions:
        start["regions"] = regions
    try:
        vm.qmp.execute("damon-start", start)
    except QMPError as e:
        raise Failed("damon-start %s: %s: %s" % (start, e.error_class, e.desc))
    m = monitor_info(vm)
    want = DEFAULT_UNDER_TCG if source == "default" else source
    if m["state"] != "running" or m["source"] != want:
        raise Failed("query-damon: %s is %s with source %s, want %s"
                     % (MONITOR, m["state"], m["source"], want))
    if m.get("sees") != SEES[want]:
        raise Failed("query-damon: source %s sees %r, want %r"
                     % (want, m.get("sees"), SEES[want]))
    reason = m.get("source-reason", "")
    if source == "default" and not reason.startswith("default: TCG"):
        raise Failed("query-damon: default source-reason %r" % reason)
    if source != "default" and reason != "requested":
        raise Failed("query-damon: source-reason %r, want 'requested'" % reason)
    if m.get("write-source") != (write_source or None):
        raise Failed("query-damon: write-source %r, want %r"
                     % (m.get("write-source"), write_source or None))
    return m


def check_write_members(regions, wss, spec):
    """nr-writes and write-wss-bytes come with a write source, and only then."""
    has = "+" in spec
    without = [r for r in regions["regions"] if ("nr-writes" in r) != has]
    if without:
        raise Failed("%s: %d of %d regions %s nr-writes" % (
            spec, len(without), len(regions["regions"]), "lack" if has else "have"))
    if ("write-wss-bytes" in wss) != has:
        raise Failed("%s: write-wss-bytes %s in query-damon-wss"
                     % (spec, "missing" if has else "present"))


def step_reads_found(vm, rep, args, source, label):
    """Both ranges found, WSS near |A| + |B|."""
    truth = args.hot_size + args.read_size
    start_monitor(vm, source, args.regions)
    streak, first, best = 0, None, None
    for secs, regions, wss in snapshots(vm, args.timeout):
        check_write_members(regions, wss, source)
        p = Pair(regions, wss, args)
        if args.verbose:
            rep.info("%s t=%5.2f s aggr %d: %s%s" % (
                label, secs, p.aggr, p.text(truth),
                "; " + p.writes_text(args) if p.writes else ""))
        if best is None or min(p.a.coverage, p.b.coverage) > min(best.a.coverage,
                                                                  best.b.coverage):
            best = p
        ok = (p.a.coverage >= hotset.COVERAGE_MIN and p.b.coverage >= hotset.COVERAGE_MIN
              and p.wss_err(truth) <= hotset.WSS_ERR_MAX
              and (not p.writes or p.writes_ok(args)))
        streak = streak + 1 if ok else 0
        first = (first if streak > 1 else (secs, p)) if ok else None
        if streak >= hotset.CONFIRMATIONS:
            secs, p = first
            rep.figures.update({"%s_find_s" % label: round(secs, 2),
                                "%s_a_pct" % label: round(p.a.coverage * 100, 1),
                                "%s_b_pct" % label: round(p.b.coverage * 100, 1),
                                "%s_wss_err_pct" % label: round(p.wss_err(truth) * 100, 1)})
            writes = ""
            if p.writes:
                rep.figures.update({
                    "%s_a_write_pct" % label: round(p.a_write * 100, 1),
                    "%s_b_write_pct" % label: round(p.b_write * 100, 1),
                    "%s_write_wss_err_pct" % label: round(
                        abs(p.write_wss - args.hot_size) / args.hot_size * 100, 1)})
                writes = "; " + p.writes_text(args)
            return "both ranges found after %.2f s: %s%s; held on %d snapshots" % (
                secs, p.text(truth), writes, hotset.CONFIRMATIONS)
    if best is not None:
        steps.dump_regions(rep, regions)
    raise Failed("%s did not find both ranges%s in %.0f s; best: %s%s"
                 % (source, " with writes apart" if "+" in source else "",
                    args.timeout, best.text(truth) if best else "no snapshot",
                    "; " + best.writes_text(args) if best and best.writes else ""))


def step_reads_unseen(vm, rep, args, source, label):
    """A found with WSS near |A|, and B not found on the aggregations after."""
    truth = args.hot_size
    start_monitor(vm, source, args.regions)
    streak, found, seen = 0, None, []
    for secs, regions, wss in snapshots(vm, args.timeout):
        check_write_members(regions, wss, source)
        p = Pair(regions, wss, args)
        if args.verbose:
            rep.info("%s t=%5.2f s aggr %d: %s" % (label, secs, p.aggr, p.text(truth)))
        if found is None:
            ok = p.a.coverage >= hotset.COVERAGE_MIN and p.wss_err(truth) <= hotset.WSS_ERR_MAX
            streak = streak + 1 if ok else 0
            if streak >= hotset.CONFIRMATIONS:
                found = (secs, p)
            continue
        seen.append(p)
        if len(seen) >= BLIND_AGGRS:
            break
    if found is None:
        raise Failed("%s did not find the written range A in %.0f s" % (source, args.timeout))
    if len(seen) < BLIND_AGGRS:
        raise Failed("%s: only %d aggregations after A was found" % (source, len(seen)))
    worst = max(seen, key=lambda p: p.b.coverage)
    rep.figures.update({"%s_a_pct" % label: round(found[1].a.coverage * 100, 1),
                        "%s_b_pct_max" % label: round(worst.b.coverage * 100, 1),
                        "%s_wss_err_pct" % label: round(found[1].wss_err(truth) * 100, 1)})
    if worst.b.coverage > BLIND_MAX:
        raise Failed("%s reports %.1f%% of the read range B as hot (aggregation %d): a "
                     "write-only source should not see it" % (source, worst.b.coverage * 100,
                                                              worst.aggr))
    return ("A found after %.2f s (%s); B at most %.1f%% covered on the %d aggregations "
            "after, so recall of the read range is near 0, as expected of a write-only "
            "source" % (found[0], found[1].text(truth), worst.b.coverage * 100, len(seen)))


def run(args, rep):
    mem_bytes = args.mem * MIB
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size,
              "read_start": args.read_start, "read_size": args.read_size}
    extra = ["-smp", str(args.smp)] if args.smp > 1 else []
    env = {NO_REARM_ENV: "1" if args.expect_blind else None}
    sources = [s for s in args.sources.split(",") if s]
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
            reads = source.partition("+")[0] in ("tcg-accessed", "default")
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
