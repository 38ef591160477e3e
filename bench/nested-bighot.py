#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""nested-bighot.py - a small hot set in a huge guest under real KVM: aimed vs random splits.

A benchmark, not a test: it prints what it measured and "RESULT
key=value" lines, and exits non-zero only when it could not measure.

Issue 12 item 4 asks that a 200 MiB hot set in a 160 GiB guest be found
within 10 aggregations in every seed (the worst case, not the median),
with Linux's random splits kept for comparison.  bench/engine shows it
in the simulator; this runs it in QEMU, in the nested VM of
tests/nested (harness.nested: Debian's 6.12 kernel under TCG with
emulated SVM, our QEMU under KVM inside, -accel
kvm,dirty-ring-size=4096, the only source that gives split hints).

Each case (--cases LABEL=GUEST:HOT,...) boots one inner QEMU on the
workload guest with GUEST of RAM that is never reserved
(memory-backend-ram reserve=off: untouched RAM costs the outer VM
nothing; if QEMU refuses the size, the next smaller one of
--fallback-gib is tried and the size used is printed), writing a hot
set of HOT at --hot-start (below 4 GiB: the guest is 32-bit).  In that
one QEMU, --runs monitors per split mode run one after another,
alternating aimed, random, aimed, ... so that both modes see the same
conditions.  Each damon-start seeds the engine's PRNG anew
(src/qemu/monitor.c: damon_set_seed() from g_random_int(), glib's
generator, seeded from /dev/urandom), so every run is another seed.

For each run: the aggregations until the first snapshot that finds the
hot set (harness.hotset: >= 90 % of the hot range in regions whose
nr-accesses is at least half of max-nr-accesses; the WSS is printed but
not judged), as bench/engine counts them, or "never" after --cap
aggregations; then per mode and case the median and the worst case.
Snapshots are polled (query-damon-regions); an aggregation the poll
missed is counted in the "missed" column, and a run that missed one
before its hit may be counted late by that many.

Why 4 MiB and not the issue's 200 MiB: under KVM nested in TCG a write
fault costs 50-100 us, and the dirty ring is reset (the written pages
write-protected again) every sample, so the guest can keep only some
1000 pages written in every 100 ms sample.  A 200 MiB hot set (51200
pages) drops the guest from 30-46 passes a second to one every
2.5-6 s under the monitor: a hot page is seen written in about one
sample of 25-60, while a page of the guest's stack is written in every
one, so no region of the hot set ever reaches half of
max-nr-accesses, in either mode (--cases big200=160G:200M shows it).
The default cases are therefore

  bighot  4 MiB in 160 GiB: the issue's guest, with the hot set nested
          KVM keeps hot (kvm-workload.py's); a needle 50 times smaller
          than the issue's, so harder for random splits
  ratio   4 MiB in 3200 MiB: the issue's ratio (1/800 of RAM), where
          random splits have the odds bench/engine's small-hot case
          gives them

Attributes: sample-us 100000, aggr-us 1000000, as kvm-workload.py uses
under nesting (a write fault costs 50-100 us there, so faster sampling
makes the guest collapse; docs/notes/nested-harness.md).  The cap is
40 aggregations by default: a run that does not find the hot set costs
its full 40+ s; a full run (11 seeds per mode and case) took 15
minutes here.  docs/notes/aimed-splits.md has the figures.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from harness import args as harg, hotset, steps  # noqa: E402
from harness.bench import out, result  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.nested import NestedError, NestedHost, NestedSkip  # noqa: E402
from harness.qmp import QMPError  # noqa: E402
from harness.report import EXIT_SKIP  # noqa: E402

MODES = ("aimed", "random")
MONITOR = "damon0"
# 4 MiB: what nested KVM keeps hot at 100 ms samples (see above)
DEFAULT_CASES = "bighot=160G:4M,ratio=3200M:4M"


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def parse_size(text):
    """MiB from "160G" or "4M" (a bare number is MiB)."""
    t = text.strip().upper()
    scale = 1024 if t.endswith("G") else 1
    return int(t.rstrip("GM")) * scale


def parse_cases(text):
    """[(label, guest MiB, hot MiB)] from "label=GUEST:HOT,..."."""
    cases = []
    for item in text.split(","):
        label, _, sizes = item.partition("=")
        guest, _, hot = sizes.partition(":")
        if not (label and guest and hot):
            raise ValueError("case %r is not LABEL=GUEST:HOT" % item)
        cases.append((label, parse_size(guest), parse_size(hot)))
    return cases


def low_ram_mib(guest_mib):
    """MiB of RAM the pc machine maps below 4 GiB: all of it up to
    3.5 GiB, else 3 GiB (the rest goes above 4 GiB)."""
    return guest_mib if guest_mib < 3584 else 3072


def size_text(mib):
    return "%g GiB" % (mib / 1024) if mib >= 1024 else "%d MiB" % mib


def boot_inner(host, args, guest_mib, hot_mib):
    """The inner QEMU with the largest guest of guest_mib, then of
    --fallback-gib below it, that it accepts; (inner, MiB)."""
    cfg = {"hot_start": args.hot_start, "hot_size": hot_mib * MIB}
    sizes = [guest_mib] + [g * 1024 for g in args.fallback_gib if g * 1024 < guest_mib]
    for mib in sizes:
        try:
            inner = host.start_inner(
                "kvm,dirty-ring-size=4096", mem_mib=mib, config=cfg,
                extra_args=["-object", "memory-backend-ram,id=ram0,size=%dM,reserve=off"
                            % mib, "-machine", "memory-backend=ram0"])
        except NestedError as e:
            out("guest of %s refused: %s" % (size_text(mib), e))
            continue
        try:
            steps.wait_first_pass(inner, args.hot_start, hot_mib * MIB,
                                  timeout=args.boot_timeout)
        except Exception as e:
            out("guest of %s did not run: %s" % (size_text(mib), e))
            inner.kill()
            inner.close()
            continue
        return inner, mib
    return None, None


def one_run(inner, args, mode, hot_mib):
    """One monitor: (aggregations to find or None, its snapshot's score,
    aggregations the poll missed before it, aggregations seen)."""
    hot_size = hot_mib * MIB
    inner.qmp.execute("damon-start", {"id": MONITOR, "source": "dirty-ring",
                                      "sample-us": args.sample_us,
                                      "aggr-us": args.aggr_us, "split": mode})
    last, missed, found, score = 0, 0, None, None
    try:
        while last < args.cap:
            regions = inner.qmp.execute("query-damon-regions", {"id": MONITOR})
            n = regions["nr-aggregations"]
            if n <= last:
                time.sleep(args.poll)
                continue
            missed += n - last - 1
            last = n
            wss = inner.qmp.execute("query-damon-wss", {"id": MONITOR})
            score = hotset.Score(regions, wss, [args.hot_start], hot_size)
            if args.verbose:
                out("    aggr %3d: %4d regions, %s" % (n, score.nr_regions, score.text()))
            if score.coverage >= hotset.COVERAGE_MIN:
                found = n
                break
            time.sleep(args.poll)
    finally:
        inner.qmp.execute("damon-stop", {"id": MONITOR})
        inner.qmp.wait_event("DAMON_STOPPED", timeout=10)
    return found, score, missed, last


def summary(found, cap):
    """(median, worst) as text; "never" counts as beyond every figure."""
    keyed = sorted(f if f is not None else cap + 1 for f in found)
    med = statistics.median_low(keyed)

    def text(v):
        return "never" if v > cap else "%d" % v
    return text(med), text(keyed[-1])


def measure(host, args, label, guest_mib, hot_mib):
    """One case in its own inner QEMU; its RESULT keys start with label.
    Returns False if it could not measure."""
    out("")
    out("== %s: %d MiB hot in a %s guest ==" % (label, hot_mib, size_text(guest_mib)))
    inner, mib = start_case(host, args, guest_mib, hot_mib)
    if inner is None:
        return False
    if mib != guest_mib:
        out("NOTE: %s refused, measured with %s" % (size_text(guest_mib), size_text(mib)))
    out("attributes: source dirty-ring, sample %d us, aggr %d us; cap %d aggregations"
        % (args.sample_us, args.aggr_us, args.cap))
    out("%4s %-7s %9s %8s %9s %9s %7s %6s %8s"
        % ("run", "mode", "found", "regions", "coverage", "wss MiB", "missed", "secs",
           "passes/s"))
    found = {m: [] for m in MODES}
    resets = 0
    for i in range(args.runs):
        for mode in MODES:
            while True:
                t0 = time.monotonic()
                first = inner.passes()[-1][0]
                try:
                    f, score, missed, seen = one_run(inner, args, mode, hot_mib)
                    break
                except QMPError as e:
                    out("run %d %s: %s" % (i + 1, mode, e))
                    return False
                except NestedError as e:
                    # The nested emulation's known flake (docs/notes/
                    # nested-harness.md): the inner guest resets itself.
                    # Each run is a fresh monitor with its own seed, so a
                    # fresh inner QEMU redoes only the lost run.
                    out("run %d %s lost: %s" % (i + 1, mode, e))
                    inner.close()
                    if "'reason': 'guest-reset'" not in str(e):
                        return False    # not the flake: a crash is to be looked at
                    resets += 1
                    if resets > args.max_resets:
                        out("more than %d inner QEMUs lost: giving up" % args.max_resets)
                        return False
                    inner, mib2 = start_case(host, args, mib, hot_mib)
                    if inner is None or mib2 != mib:
                        return False
            found[mode].append(f)
            out("%4d %-7s %9s %8s %8.1f%% %9.1f %7d %6.1f %8s"
                % (i + 1, mode, f if f is not None else "never(%d)" % seen,
                   score.nr_regions if score else "-",
                   score.coverage * 100 if score else 0.0,
                   score.wss_bytes / MIB if score else 0.0, missed,
                   time.monotonic() - t0, rate_text(inner.pass_rate(since=first))))
    out("inner QEMU RSS at the end: %s kB" % rss_kb(host, inner))
    inner.quit()
    for mode in MODES:
        med, worst = summary(found[mode], args.cap)
        never = sum(f is None for f in found[mode])
        out("%-7s median %s, WORST %s aggregations over %d runs (never in %d)"
            % (mode, med, worst, len(found[mode]), never))
        result("%s_found_aggrs_%s" % (label, mode), med)
        result("%s_found_aggrs_max_%s" % (label, mode), worst)
        result("%s_never_%s" % (label, mode), never)
    result("%s_runs_per_mode" % label, args.runs)
    result("%s_inner_resets" % label, resets)
    result("%s_cap_aggrs" % label, args.cap)
    result("%s_guest_gib" % label, "%g" % (mib / 1024))
    result("%s_hot_mib" % label, hot_mib)
    return True


def start_case(host, args, guest_mib, hot_mib):
    """boot_inner(), checked to run under KVM, its state printed;
    (inner, MiB), or (None, None) if it could not start."""
    inner, mib = boot_inner(host, args, guest_mib, hot_mib)
    if inner is None:
        out("no guest size was accepted")
        return None, None
    kvm = inner.qmp.execute("query-kvm")
    if not (kvm.get("enabled") and kvm.get("present")):
        out("the inner QEMU does not run under KVM: %r" % kvm)
        inner.close()
        return None, None
    time.sleep(2)
    out("inner QEMU pid %d: %s guest (reserve=off), RSS %s kB; hot 0x%x + %d MiB; "
        "guest %s passes/s unmonitored"
        % (inner.pid, size_text(mib), rss_kb(host, inner), args.hot_start, hot_mib,
           rate_text(inner.pass_rate())))
    return inner, mib


def rss_kb(host, inner):
    f = host.check("grep VmRSS /proc/%d/status" % inner.pid).split()
    return f[1] if len(f) > 1 else "?"


def rate_text(rate):
    return "?" if rate is None else "%.1f" % rate


def main():
    ap = harg.parser(__doc__)
    harg.add_qemu(ap)
    ap.add_argument("--cases", default=DEFAULT_CASES, metavar="LABEL=GUEST:HOT,...",
                    help="guest and hot-set sizes, e.g. 160G:4M, each in its own "
                    "inner QEMU; LABEL starts its RESULT keys (default: %(default)s)")
    ap.add_argument("--fallback-gib", default="128,96,64,32,16",
                    help="guest sizes to try, largest first, if a case's is refused "
                    "(default: %(default)s)")
    ap.add_argument("--hot-start", type=harg.hex_int, default=0x40000000,
                    help="the hot set's guest-physical start (default: 0x40000000)")
    ap.add_argument("--runs", type=int, default=11,
                    help="monitors per split mode and case (default: %(default)s)")
    ap.add_argument("--cap", type=int, default=40,
                    help="aggregations after which a run counts as never found "
                    "(default: %(default)s)")
    ap.add_argument("--sample-us", type=int, default=100000)
    ap.add_argument("--aggr-us", type=int, default=1000000)
    ap.add_argument("--poll", type=float, default=0.2, help="seconds between polls")
    ap.add_argument("--boot-timeout", type=float, default=180.0,
                    help="seconds for the guest's first pass")
    ap.add_argument("--max-resets", type=int, default=3,
                    help="inner guests that reset themselves (a nested-emulation "
                    "flake) replaced per case before giving up (default: %(default)s)")
    ap.add_argument("--outer-mem", type=int, default=2048, metavar="MIB")
    ap.add_argument("--verbose", action="store_true", help="print every snapshot")
    args = ap.parse_args()
    try:
        cases = parse_cases(args.cases)
        args.fallback_gib = [int(x) for x in args.fallback_gib.split(",") if x]
    except ValueError as e:
        ap.error(str(e))
    for label, guest, hot in cases:
        low = low_ram_mib(guest)
        if args.hot_start + hot * MIB > low * MIB:
            ap.error("case %s: the hot set [0x%x, +%d MiB) must lie in the first %d MiB, "
                     "the guest's RAM below 4 GiB (the guest is 32-bit)"
                     % (label, args.hot_start, hot, low))
    if args.runs < 1 or args.cap < 1:
        ap.error("--runs and --cap must be at least 1")
    t0 = time.monotonic()
    out("load average at start: %s" % loadavg())
    ok = False
    with NestedHost(qemu=args.qemu, firmware=args.firmware, mem_mib=args.outer_mem) as host:
        try:
            host.start()
        except NestedSkip as e:
            out("SKIP %s" % e)
            return EXIT_SKIP
        try:
            ok = all([measure(host, args, label, guest, hot) for label, guest, hot in cases])
        except NestedError as e:
            out("the nested VM broke: %s" % e)
        host.poweroff()
    out("")
    out("load average at end: %s" % loadavg())
    result("bench_seconds", "%.0f" % (time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
