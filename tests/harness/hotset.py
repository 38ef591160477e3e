# SPDX-License-Identifier: GPL-2.0-or-later
"""hotset - when a monitor has found the workload's hot set: the pass
thresholds of every hot-set test, defined here only, and the score of a
snapshot.

A snapshot (query-damon-regions and query-damon-wss of one aggregation)
finds a hot set of hot_size bytes at one of its positions when

  coverage  >= COVERAGE_MIN of the hot range's bytes lie in "hot"
            regions, those whose nr-accesses is at least HOT_RATE_MIN
            of max-nr-accesses;
  wss error   |wss-bytes - hot_size| <= WSS_ERR_MAX of hot_size;

and a test passes when CONFIRMATIONS successive aggregations do.
"""

from harness.env import MIB

COVERAGE_MIN = 0.90     # of the hot range, in hot regions
HOT_RATE_MIN = 0.50     # "hot" region: nr-accesses >= this * max-nr-accesses
WSS_ERR_MAX = 0.10      # |wss - hot size| / hot size
CONFIRMATIONS = 2       # successive aggregations that must meet both
# Under KVM nested in TCG (tests/nested): a write fault costs 50-100 us,
# so a pass over the hot set is slow and an aggregation can end in the
# middle of one.  docs/notes/nested-harness.md has the measurements.
WSS_ERR_MAX_NESTED = 0.15


def overlap(a0, a1, b0, b1):
    """Bytes [a0, a1) and [b0, b1) share."""
    return max(0, min(a1, b1) - max(a0, b0))


def is_hot(nr_accesses, max_nr_accesses):
    return max_nr_accesses > 0 and nr_accesses >= HOT_RATE_MIN * max_nr_accesses


def covered(hot_regions, start, size):
    """Bytes of [start, start + size) in hot_regions, [(start, end)]."""
    return sum(overlap(s, e, start, start + size) for s, e in hot_regions)


def within(value, target, tol=WSS_ERR_MAX):
    """Is value within tol (a fraction) of target?"""
    return abs(value - target) <= tol * target


class Score:
    """One snapshot against a hot set.

    coverage   fraction of the best covered position in hot regions
    wss_err    |wss-bytes - hot size| / hot size
    outside    bytes of hot regions outside that position
    start      that position
    wss_bytes, nr_regions, aggr   from the snapshot
    """

    def __init__(self, regions, wss, starts, hot_size):
        maxn = regions["max-nr-accesses"]
        hot = [(r["start"], r["end"]) for r in regions["regions"]
               if is_hot(r["nr-accesses"], maxn)]
        inside, self.start = max((covered(hot, a, hot_size), a) for a in starts)
        self.coverage = inside / hot_size
        self.outside = sum(e - s for s, e in hot) - inside
        self.wss_bytes = wss["wss-bytes"]
        self.wss_err = abs(self.wss_bytes - hot_size) / hot_size
        self.nr_regions = len(regions["regions"])
        self.aggr = regions["nr-aggregations"]

    def found(self, wss_err_max=WSS_ERR_MAX):
        return self.coverage >= COVERAGE_MIN and self.wss_err <= wss_err_max

    def text(self):
        return ("coverage %.1f%%, wss %.2f MiB (error %.1f%%)"
                % (self.coverage * 100, self.wss_bytes / MIB, self.wss_err * 100))
