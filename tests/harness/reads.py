# SPDX-License-Identifier: GPL-2.0-or-later
"""reads - score a guest that writes one range (A) and only reads another (B).

The workload guest (tests/guest) writes A (hot_start/hot_size) every pass
and reads one word per page of B (read_start/read_size) every pass.  These
steps start damon0 with a source (or SOURCE+WRITE-SOURCE, or 'default'),
follow its aggregations, and check:

  step_reads_found   both ranges found: >= 90% of each range's bytes in
                     regions at >= half of max-nr-accesses, WSS within
                     10% of |A| + |B|, on CONFIRMATIONS successive
                     aggregations; with a write source, the write share
                     of A >= 80%, of B <= 5%, write WSS near |A|;
  step_reads_unseen  a write-only source: A found, then B at most 10%
                     covered on the next BLIND_AGGRS aggregations.

@args is any object with hot_start, hot_size, read_start, read_size,
timeout, verbose, regions (None: all RAM), and optionally default_sources
(what a bare damon-start may choose; default tcg-accessed and idle-page)
and start_extra (more damon-start arguments).  @vm is a WorkloadVM or a
nested InnerVM: only vm.qmp is used.
"""

import time

from harness import hotset, steps
from harness.env import MIB
from harness.qmp import QMPError
from harness.report import Failed
from harness.steps import MONITOR, monitor_info

BLIND_MAX = 0.10        # dirty-bitmap: at most this share of B in hot regions
BLIND_AGGRS = 5         # ... on each of this many aggregations after A is found
WRITE_SHARE_A_MIN = 0.80    # with a write source: A's hot bytes are written
WRITE_SHARE_B_MAX = 0.05    # ... and B's are not
SEES = {"tcg-accessed": "reads-and-writes", "idle-page": "reads-and-writes",
        "dirty-bitmap": "writes-only", "page-hash": "writes-only",
        "dirty-ring": "writes-only"}
READ_SOURCES = ("tcg-accessed", "idle-page")


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


def start_monitor(vm, spec, args):
    """Start damon0 as spec says: SOURCE, SOURCE+WRITE-SOURCE, or 'default'
    (no source argument: QEMU's choice, which must see reads: one of
    args.default_sources), and check what query-damon says of it."""
    source, _, write_source = spec.partition("+")
    start = dict(getattr(args, "start_extra", None) or {})
    if source != "default":
        start["source"] = source
    if write_source:
        start["write-source"] = write_source
    if args.regions:
        start["regions"] = args.regions
    try:
        vm.qmp.execute("damon-start", start)
    except QMPError as e:
        raise Failed("damon-start %s: %s: %s" % (start, e.error_class, e.desc))
    m = monitor_info(vm)
    defaults = getattr(args, "default_sources", READ_SOURCES)
    if m["state"] != "running" or (m["source"] not in defaults if source == "default"
                                   else m["source"] != source):
        raise Failed("query-damon: %s is %s with source %s, want %s"
                     % (MONITOR, m["state"], m["source"],
                        " or ".join(defaults) if source == "default" else source))
    want = m["source"]
    if m.get("sees") != SEES[want]:
        raise Failed("query-damon: source %s sees %r, want %r"
                     % (want, m.get("sees"), SEES[want]))
    reason = m.get("source-reason", "")
    if source == "default" and not reason.startswith("default: "):
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


def step_reads_found(vm, rep, args, source, label, start=True):
    """Both ranges found, WSS near |A| + |B|.  start=False scores damon0
    as it runs already (started by someone else, e.g. qdamo)."""
    truth = args.hot_size + args.read_size
    if start:
        start_monitor(vm, source, args)
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
    start_monitor(vm, source, args)
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

