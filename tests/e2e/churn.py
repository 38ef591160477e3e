#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""churn.py - end-to-end test: thousands of damon-start/tune/stop cycles on a running TCG guest, on a plain, ASan+UBSan or TSan QEMU.

One VM (harness.vm.WorkloadVM, TCG, 128 MiB, the workload guest writing
a 4 MiB hot set) and --cycles cycles (default 10000).  Up to three
monitors (c0, c1, c2) are alive at once; each cycle

  - starts the monitor that is not running, with the cycle's variant:
    its source (dirty-bitmap, page-hash, tcg-accessed, tcg-accessed
    with write-source dirty-bitmap), its clock (realtime: a monitor
    thread; virtual: a timer in the main loop), small intervals
    (sample 200 to 1000 us, aggregation 2 to 9 ms, so that the drivers
    really step between two commands) and a set of schemes (stat,
    pageout, cold, willneed, hugepage, nohugepage, migrate-cold to node
    0, with quotas and goals, free-mem-rate watermarks that keep a
    scheme on or turn every scheme off, addr and young filters), or
    none;
  - tunes another running monitor (new intervals; every third cycle new
    schemes, every fifth none);
  - queries all: query-damon (every monitor listed, in the state,
    source, clock and intervals the test expects, none stopped with an
    error), query-damon-regions of each running one, and
    query-damon-wss and query-damon-schemes of one of them (as many
    schemes as it was last given);
  - stops the oldest when three run, which must be answered with
    DAMON_STOPPED (requested);
  - every 25th cycle, sends one bad request (an interval out of range,
    a start of a running id, a tune of a stopped one, a stop of an
    unknown one), which must fail with a GenericError naming what was
    wrong and change nothing.

Steps:

  boot       the guest runs its first pass;
  warmup     the first min(500, cycles / 5) cycles (TSan: min(1000,
             cycles / 2), see "RSS bound"), every answer as
             expected; then QEMU's RSS is read;
  churn      the other cycles, every answer as expected; every 500
             cycles QEMU must be alive, the guest's pass counter must
             have moved, and QEMU's stderr must hold no report that
             fails the run (below);
  guest      after the last cycle and the stop of every monitor: the VM
             runs and its pass counter moves;
  rss        QEMU's RSS outside guest RAM after all cycles against after
             warm-up (below);
  quit       QEMU quits with status 0;
  sanitizer  QEMU's whole stderr, after it exited:
               ASan/UBSan: any AddressSanitizer, UBSan ("runtime
               error:") or LeakSanitizer report fails;
               TSan: each "WARNING: ThreadSanitizer" report is counted
               as qdamon's when any of its stacks has a frame in a
               qdamon source (src/qemu, src/core, src/ops,
               include/damon), else as QEMU's; any of qdamon's fails,
               QEMU's are counted and summarised by their SUMMARY line.

RSS bound.  RSS is read from /proc/PID/status (VmRSS, RssAnon, RssFile)
and, to leave guest RAM out, /proc/PID/smaps: the guest-RAM mapping is
the anonymous one of exactly --mem MiB seen at boot, and every mapping
inside its address range later (madvise splits it) counts as guest RAM.
The guest's own residency is the guest's business (hugepage schemes may
make khugepaged fill whole 2 MiB pages), so the check is on "RSS outside
guest RAM": after all cycles it may be at most --rss-bound MiB (16 for
the plain build) above what it was after warm-up.  Why 16 MiB: one monitor of this
VM holds at most 200 regions, a scheme list and a tally of a few KiB,
so three alive are well under 1 MiB; the rest of QEMU's heap after
warm-up only moves by what malloc keeps in its per-thread arenas (each
monitor thread may get an arena; glibc caps them at 8 per core, 16 here,
and a new arena's first heap is touched a few hundred KiB at a time)
and by TCG's translation buffer, which this guest's few hundred
translated blocks do not grow.  A leak of even 2 KiB per cycle, 19
MiB over 9500 cycles, would cross it; so would one of the size of a
region array (16 bytes a region) per start.  The sanitizer builds add
their own allocators.  ASan keeps freed chunks in a quarantine before
reusing them, which this test caps at 16 MiB (quarantine_size_mb=16);
warm-up does not fill it (10000 cycles on ASan: +8 MiB by cycle 2000,
+14 MiB by cycle 4000, then flat), so ASan's bound is 16 + 16 = 32 MiB.
TSan keeps shadow memory for every heap byte touched (several bytes
per byte) and a history of past accesses (history_size=7), so its
bound is 48 MiB: three times the plain one, still far below what a
per-cycle leak over thousands of cycles would add under TSan.  TSan
also keeps the contexts and access histories of finished threads (each
monitor start makes one) until it reuses their slots, which grows RSS
most early on: 2000-cycle runs with a 400-cycle warm-up grew +39.7,
+48.5 and +42.8 MiB, with a 1000-cycle one +12.0 to +29.5 MiB (four
runs); 10000 cycles with 500 ended at -5.6 MiB.  So under TSan the
baseline is taken after min(1000, cycles / 2) cycles.

Sanitizer environment (unless already set in ours):
  ASan: ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=16
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        LeakSanitizer runs when QEMU exits after "quit", every monitor
        stopped: QEMU's own allocations are all still reachable then
        (none reported, so no suppressions file), and anything qdamon
        lost over the cycles would be reported and fail the run.
  TSan: TSAN_OPTIONS=halt_on_error=0:exitcode=0:report_signal_unsafe=0:
        history_size=7:suppressions=WORKDIR/tsan.supp (QEMU's own
        tests/tsan/suppressions.tsan, from _work/qemu-src, plus our
        tests/tsan/qemu.supp, joined: TSan takes one file), and QEMU runs under
        setarch $(uname -m) -R (TSan wants a fixed layout on this kernel).
--build asan|tsan picks _work/qemu-build-asan or _work/qemu-build-tsan.

A test of a resource bound, not of timing: cycles per second are printed
as a figure only.  Prints one PASS/FAIL line per step, a RESULT line, and
exits 0 only if every step passed.
"""

import os
import platform
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, report, sanitizers  # noqa: E402
from harness.env import MIB, ROOT  # noqa: E402
from harness.qmp import QMPError  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.steps import guest_runs_on, step_quit  # noqa: E402
from harness.vm import FIRST_PASS, WorkloadVM  # noqa: E402

IDS = ["c0", "c1", "c2"]
HOT_START, HOT_SIZE = 16 * MIB, 4 * MIB
CHECK_EVERY = 500
BAD_EVERY = 25

# MiB; see the docstring
RSS_BOUND = {"plain": 16.0, "asan": 32.0, "tsan": 48.0}
BUILDS = {"plain": "qemu-build", "asan": "qemu-build-asan", "tsan": "qemu-build-tsan"}

SOURCES = [
    {"source": "dirty-bitmap"},
    {"source": "page-hash"},
    {"source": "tcg-accessed"},
    {"source": "tcg-accessed", "write-source": "dirty-bitmap"},
]
CLOCKS = ["realtime", "virtual"]
# (sample-us, aggr-us, min-nr-regions, max-nr-regions): small, so that a
# driver steps many times between two commands; each sample-us divides
# the schemes' apply intervals (3000, 6000), as damon-start requires
ATTRS = [(200, 2000, 10, 100), (500, 5000, 5, 50), (1000, 4000, 20, 200),
         (300, 9000, 10, 60)]

COLD = {"nr-accesses-max": 0, "age-min": 1}
HOT = {"nr-accesses-min": 1}
ALWAYS_ON = {"metric": "free-mem-rate", "interval-us": 1000,
             "high": 1000, "mid": 1000, "low": 0}
# free memory is always above 0.1% here: the scheme is off, and with
# every scheme off the monitor only checks the metric
ALWAYS_OFF = {"metric": "free-mem-rate", "interval-us": 1000,
              "high": 1, "mid": 1, "low": 0}


def addr(start, end, allow=True):
    return {"type": "addr", "start": start, "end": end, "allow": allow}


SCHEME_SETS = [
    [],
    [{"action": "stat", "apply-interval-us": 6000,
      "quotas": {"bytes": 8 * MIB, "ms": 2, "reset-interval-ms": 10,
                 "weights": {"sz": 10, "nr-accesses": 20, "age": 30},
                 "goals": [{"metric": "user-input", "target-value": 100,
                            "current-value": 40}]}},
     {"action": "pageout", "access-pattern": COLD,
      "filters": [addr(64 * MIB, 96 * MIB),
                  {"type": "young", "matching": True, "allow": False}]},
     {"action": "cold", "access-pattern": COLD, "watermarks": ALWAYS_ON,
      "filters": [addr(32 * MIB, 64 * MIB)]}],
    [{"action": "willneed", "access-pattern": HOT, "apply-interval-us": 3000},
     {"action": "hugepage", "access-pattern": HOT,
      "filters": [addr(HOT_START, HOT_START + HOT_SIZE)]},
     {"action": "nohugepage", "access-pattern": COLD,
      "filters": [addr(96 * MIB, 128 * MIB)]},
     {"action": "migrate-cold", "target-nid": 0, "access-pattern": COLD,
      "quotas": {"bytes": 4 * MIB, "reset-interval-ms": 20,
                 "weights": {"age": 1},
                 "goals": [{"metric": "rss-bytes", "target-value": 64 * MIB}]},
      "filters": [addr(32 * MIB, 48 * MIB)]}],
    [{"action": "stat", "watermarks": ALWAYS_OFF},
     {"action": "cold", "access-pattern": COLD, "watermarks": ALWAYS_OFF}],
]

# A frame in one of qdamon's sources, as TSan prints its path: the tree
# is linked into QEMU's as qdamon/ (scripts/build-qemu.sh), and a path
# may also be resolved to this checkout.
QDAMON_FRAME = re.compile(r"(?:\bqdamon/|%s/)(?:src/(?:qemu|core|ops)|include/damon)/"
                          % re.escape(ROOT))
TSAN_START = "WARNING: ThreadSanitizer:"
TSAN_SUMMARY = re.compile(r"^SUMMARY: ThreadSanitizer: (.*)$", re.M)


def parse_args():
    ap = harg.parser(__doc__)
    ap.add_argument("--build", choices=sorted(BUILDS), default="plain",
                    help="which QEMU build: its sanitizer environment and, "
                    "without --qemu, _work/<build dir>/qemu-system-x86_64 "
                    "(default: %(default)s)")
    harg.add_qemu(ap)
    ap.add_argument("--mem", type=int, default=128, metavar="MIB",
                    help="guest RAM in MiB (default: %(default)s)")
    ap.add_argument("--cycles", type=int, default=10000, metavar="N",
                    help="start/tune/query/stop cycles (default: %(default)s)")
    ap.add_argument("--rss-bound", type=float, default=None, metavar="MIB",
                    help="allowed growth of RSS outside guest RAM from after "
                    "warm-up to the end (default: %s)"
                    % ", ".join("%s %g" % kv for kv in sorted(RSS_BOUND.items())))
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (console, QEMU stderr)")
    a = ap.parse_args()
    if a.rss_bound is None:
        a.rss_bound = RSS_BOUND[a.build]
    if a.cycles < 2:
        ap.error("--cycles must be at least 2")
    if a.qemu == harg.env.QEMU and a.build != "plain" and not os.environ.get("QDAMON_QEMU"):
        a.qemu = os.path.join(ROOT, "_work", BUILDS[a.build], "qemu-system-x86_64")
    return a


# ---------------------------------------------------------------------------
# QEMU under a sanitizer

def sanitizer_env(build, workdir):
    """QEMU's environment for build; names already set in ours win."""
    env = {}
    if build == "asan":
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1:quarantine_size_mb=16"
        env["UBSAN_OPTIONS"] = sanitizers.UBSAN_OPTIONS
    elif build == "tsan":
        # history_size=7: the older access's stack too, or a report
        # could hide a qdamon frame behind "failed to restore the stack"
        env["TSAN_OPTIONS"] = ("halt_on_error=0:exitcode=0:report_signal_unsafe=0:"
                               "history_size=7:suppressions=%s"
                               % tsan_suppressions(workdir))
    return {k: v for k, v in env.items() if k not in os.environ}


def tsan_suppressions(workdir):
    """QEMU's own tests/tsan/suppressions.tsan and our tests/tsan/qemu.supp
    in one file (TSAN_OPTIONS takes one)."""
    path = os.path.join(workdir, "tsan.supp")
    with open(path, "w") as out:
        for src in (os.path.join(ROOT, "_work", "qemu-src", "tests", "tsan",
                                 "suppressions.tsan"),
                    os.path.join(ROOT, "tests", "tsan", "qemu.supp")):
            if os.path.exists(src):
                with open(src) as f:
                    out.write(f.read() + "\n")
    return path


class ChurnVM(WorkloadVM):
    """WorkloadVM that runs QEMU under setarch -R for TSan."""

    def __init__(self, *a, setarch=False, **kw):
        super().__init__(*a, **kw)
        self.setarch = setarch

    def command_line(self):
        cmd = super().command_line()
        return (["setarch", platform.machine(), "-R"] + cmd) if self.setarch else cmd


def warmup_cycles(build, cycles):
    """Cycles before the RSS baseline: TSan's runtime grows for longer."""
    if build == "tsan":
        return min(1000, max(1, cycles // 2))
    return min(500, max(1, cycles // 5))


def tsan_reports(text):
    """[(is_qdamon, summary, report text)] of TSan's reports in text."""
    out = []
    for block in text.split(TSAN_START)[1:]:
        m = TSAN_SUMMARY.search(block)
        body = block[:m.end()] if m else block
        out.append((bool(QDAMON_FRAME.search(body)),
                    m.group(1).strip() if m else "(no SUMMARY line)", body))
    return out


class Sanitizer:
    """What QEMU's stderr says, for build."""

    def __init__(self, build):
        self.build = build
        self.reports = 0
        self.qdamon = 0
        self.qemu_only = 0

    def scan(self, text):
        """Count the reports in text; return the text of the first one
        that fails the test, or None."""
        self.reports = self.qdamon = self.qemu_only = 0
        bad = None
        if self.build == "tsan":
            for ours, _, body in tsan_reports(text):
                self.reports += 1
                if ours:
                    self.qdamon += 1
                    bad = bad or TSAN_START + body
                else:
                    self.qemu_only += 1
        m = sanitizers.REPORT_RE.search(text)
        if m:
            lines = sanitizers.REPORT_RE.findall(text)
            self.reports += len(lines)
            self.qdamon += len(lines)   # every ASan/UBSan/LSan report fails
            bad = bad or text[max(0, m.start() - 200):m.start() + 4000]
        return bad


# ---------------------------------------------------------------------------
# RSS

def read_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    return out


def smaps(pid):
    """[(start, end, name, rss_kib, perms)] of every mapping."""
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(4), 0,
                       m.group(3)]
                out.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur[3] = int(line.split()[1])
    return [tuple(c) for c in out]


def guest_ram_range(pid, mem_mib):
    """The host range of guest RAM: the anonymous mapping of exactly its size."""
    cands = [(s, e) for s, e, name, _, _ in smaps(pid)
             if not name and e - s == mem_mib * MIB]
    if len(cands) != 1:
        raise Failed("cannot tell guest RAM among QEMU's mappings: %d anonymous "
                     "mappings of %d MiB" % (len(cands), mem_mib))
    return cands[0]


def rss_now(pid, ram):
    """RSS figures in KiB, with guest RAM's and the rest apart."""
    st = read_status(pid)
    maps = smaps(pid)
    guest = sum(rss for s, e, _, rss, _ in maps if s >= ram[0] and e <= ram[1])
    st["guest"] = guest
    st["outside"] = st["VmRSS"] - guest
    # TCG's translation buffer, the one anonymous writable and executable
    # mapping: shown apart, as it grows with the code TCG translates
    st["tcg"] = sum(rss for _, _, name, rss, perms in maps
                    if not name and perms.startswith("rwx"))
    return st


def rss_text(r):
    return ("VmRSS %.1f MiB (RssAnon %.1f, RssFile %.1f, RssShmem %.1f), guest RAM "
            "%.1f MiB, outside guest RAM %.1f MiB (of which TCG's code buffer %.1f)"
            % (r["VmRSS"] / 1024, r["RssAnon"] / 1024, r["RssFile"] / 1024,
               r["RssShmem"] / 1024, r["guest"] / 1024, r["outside"] / 1024,
               r["tcg"] / 1024))


# ---------------------------------------------------------------------------
# The cycles

class Churn:
    """The monitors alive and what each was given, and the counters."""

    def __init__(self, vm, rep):
        self.vm = vm
        self.rep = rep
        self.alive = []             # ids, oldest first
        self.given = {}             # id -> {"source", "clock", "attrs", "nschemes"}
        self.stopped = set()
        self.cycles = 0
        self.commands = 0
        self.bad_requests = 0
        self.cycle = 0

    def ex(self, cmd, args=None):
        self.commands += 1
        try:
            return self.vm.qmp.execute(cmd, args)
        except QMPError as e:
            raise Failed("cycle %d: %s %s: %s: %s"
                         % (self.cycle, cmd, args or {}, e.error_class, e.desc))

    def ex_fail(self, cmd, args, words):
        """cmd must fail with a GenericError whose text has every word."""
        self.commands += 1
        self.bad_requests += 1
        try:
            ret = self.vm.qmp.execute(cmd, args)
        except QMPError as e:
            if e.error_class != "GenericError" or not all(w in e.desc for w in words):
                raise Failed("cycle %d: %s %s failed with %s: %r, want an error "
                             "naming %s" % (self.cycle, cmd, args, e.error_class,
                                            e.desc, words))
            return
        raise Failed("cycle %d: %s %s succeeded (%r), want an error naming %s"
                     % (self.cycle, cmd, args, ret, words))

    def start(self, mid, i):
        src = SOURCES[i % len(SOURCES)]
        clock = CLOCKS[(i // len(SOURCES)) % len(CLOCKS)]
        sample, aggr, lo, hi = ATTRS[(i // 8) % len(ATTRS)]
        schemes = SCHEME_SETS[(i // 3) % len(SCHEME_SETS)]
        args = dict(src, id=mid, clock=clock, **{
            "sample-us": sample, "aggr-us": aggr, "update-us": 20 * aggr,
            "min-nr-regions": lo, "max-nr-regions": hi})
        if schemes:
            args["schemes"] = schemes
        ret = self.ex("damon-start", args)
        if ret != {}:
            raise Failed("cycle %d: damon-start %s returned %r" % (self.cycle, mid, ret))
        self.alive.append(mid)
        self.stopped.discard(mid)
        self.given[mid] = {"source": src["source"], "clock": clock,
                           "sample": sample, "aggr": aggr, "nschemes": len(schemes)}

    def tune(self, mid, i):
        sample, aggr, lo, hi = ATTRS[(i + 1) % len(ATTRS)]
        args = {"id": mid, "sample-us": sample, "aggr-us": aggr,
                "min-nr-regions": lo, "max-nr-regions": hi}
        schemes = None
        if i % 5 == 0:
            schemes = []
        elif i % 3 == 0:
            schemes = SCHEME_SETS[(i // 3 + 1) % len(SCHEME_SETS)]
        if schemes is not None:
            args["schemes"] = schemes
        ret = self.ex("damon-tune", args)
        if ret != {}:
            raise Failed("cycle %d: damon-tune %s returned %r" % (self.cycle, mid, ret))
        g = self.given[mid]
        g.update(sample=sample, aggr=aggr)
        if schemes is not None:
            g["nschemes"] = len(schemes)

    def stop(self, mid):
        ret = self.ex("damon-stop", {"id": mid})
        if ret != {}:
            raise Failed("cycle %d: damon-stop %s returned %r" % (self.cycle, mid, ret))
        evs = [e for e in self.vm.qmp.events() if e["event"] == "DAMON_STOPPED"]
        want = {"id": mid, "reason": "requested"}
        if [e["data"] for e in evs] != [want]:
            raise Failed("cycle %d: after damon-stop %s, DAMON_STOPPED events %r, "
                         "want one with %r" % (self.cycle, mid,
                                               [e["data"] for e in evs], want))
        self.alive.remove(mid)
        self.stopped.add(mid)

    def query(self, i):
        listed = {m["id"]: m for m in self.ex("query-damon")}
        for mid in self.alive:
            m, g = listed.get(mid), self.given[mid]
            if m is None or m["state"] != "running":
                raise Failed("cycle %d: query-damon: %s not running: %r"
                             % (self.cycle, mid, m))
            if (m["source"], m["clock"], m["attrs"]["sample-us"], m["attrs"]["aggr-us"]) \
                    != (g["source"], g["clock"], g["sample"], g["aggr"]):
                raise Failed("cycle %d: query-damon says %s has source %s clock %s "
                             "sample %d aggr %d; it was given %r"
                             % (self.cycle, mid, m["source"], m["clock"],
                                m["attrs"]["sample-us"], m["attrs"]["aggr-us"], g))
        for mid in self.stopped:
            m = listed.get(mid)
            if m is None or m["state"] != "stopped" or m.get("stop-reason") != "requested":
                raise Failed("cycle %d: query-damon: %s should be stopped "
                             "(requested): %r" % (self.cycle, mid, m))
        extra = set(listed) - set(self.alive) - self.stopped
        if extra:
            raise Failed("cycle %d: query-damon lists unknown monitors %s"
                         % (self.cycle, sorted(extra)))
        for mid in self.alive:
            r = self.ex("query-damon-regions", {"id": mid})
            if r["id"] != mid:
                raise Failed("cycle %d: query-damon-regions %s answered for %s"
                             % (self.cycle, mid, r["id"]))
            last = 0
            for reg in r["regions"]:
                if reg["start"] < last or reg["end"] <= reg["start"]:
                    raise Failed("cycle %d: %s: regions out of order at %r"
                                 % (self.cycle, mid, reg))
                last = reg["end"]
        mid = self.alive[i % len(self.alive)]
        w = self.ex("query-damon-wss", {"id": mid, "percentiles": [50, 90]})
        if w.get("id", mid) != mid:
            raise Failed("cycle %d: query-damon-wss %s answered %r" % (self.cycle, mid, w))
        s = self.ex("query-damon-schemes", {"id": mid, "tried-regions": bool(i % 2)})
        if s["id"] != mid or len(s["schemes"]) != self.given[mid]["nschemes"]:
            raise Failed("cycle %d: query-damon-schemes %s: %d schemes, given %d"
                         % (self.cycle, mid, len(s["schemes"]),
                            self.given[mid]["nschemes"]))

    def bad_request(self, i):
        kind = (i // BAD_EVERY) % 4
        if kind == 0:
            self.ex_fail("damon-tune", {"id": self.alive[0], "sample-us": 50,
                                        "aggr-us": 5000}, ["sample-us"])
        elif kind == 1:
            self.ex_fail("damon-start", {"id": self.alive[0]},
                         ["already running", self.alive[0]])
        elif kind == 2:
            dead = sorted(self.stopped)
            if dead:
                self.ex_fail("damon-tune", {"id": dead[0], "aggr-us": 5000},
                             ["not running", dead[0]])
            else:
                self.ex_fail("damon-start", {"id": "c9", "min-nr-regions": 1},
                             ["min-nr-regions"])
        else:
            self.ex_fail("damon-stop", {"id": "nosuch"}, ["no DAMON monitor", "nosuch"])

    def one_cycle(self):
        i = self.cycle
        mid = next(m for m in IDS if m not in self.alive)
        self.start(mid, i)
        others = [m for m in self.alive if m != mid]
        if others:
            self.tune(others[-1], i)
        self.query(i)
        if i % BAD_EVERY == BAD_EVERY - 1:
            self.bad_request(i)
        if len(self.alive) == len(IDS):
            self.stop(self.alive[0])
        for e in self.vm.qmp.events():
            if e["event"] == "DAMON_STOPPED":
                raise Failed("cycle %d: unexpected DAMON_STOPPED %r"
                             % (self.cycle, e["data"]))
        self.cycles += 1
        self.cycle += 1

    def stop_all(self):
        for mid in list(self.alive):
            self.stop(mid)


def check_point(vm, churn, san, state):
    """Alive, the guest moving (if a second has passed), no failing report."""
    vm._check_alive()
    bad = san.scan(vm.stderr_text())
    if bad:
        raise Failed("cycle %d: sanitizer report in QEMU's stderr:\n%s"
                     % (churn.cycle, bad[:6000]))
    passes = vm.passes()
    now = time.monotonic()
    if now - state["pass_t"] >= 2.0:
        if passes[-1][0] <= state["pass"]:
            raise Failed("cycle %d: the guest's pass counter stayed at %d for %.0f s"
                         % (churn.cycle, state["pass"], now - state["pass_t"]))
        state["pass"], state["pass_t"] = passes[-1][0], now


def run_cycles(vm, churn, san, n, state, info, ram):
    t0 = time.monotonic()
    start = churn.cycles
    while churn.cycles < n:
        churn.one_cycle()
        if churn.cycles % CHECK_EVERY == 0:
            check_point(vm, churn, san, state)
            if churn.cycles % (4 * CHECK_EVERY) == 0:
                r = rss_now(vm.proc.pid, ram)
                info("cycle %d: %d commands, %.0f s, %d monitors running; RSS "
                     "outside guest RAM %.1f MiB (TCG code buffer %.1f)"
                     % (churn.cycles, churn.commands, time.monotonic() - t0,
                        len(churn.alive), r["outside"] / 1024, r["tcg"] / 1024))
    check_point(vm, churn, san, state)
    return churn.cycles - start, time.monotonic() - t0


def run_test(args, rep):
    warm = warmup_cycles(args.build, args.cycles)
    san = Sanitizer(args.build)
    run = {"state": {"pass": 0, "pass_t": 0.0}}
    config = {"hot_start": HOT_START, "hot_size": HOT_SIZE}
    vm = ChurnVM(args.qemu, args.firmware, mem_mib=args.mem, config=config,
                 keep_workdir=args.keep, setarch=args.build == "tsan")
    vm.env.update(sanitizer_env(args.build, vm.workdir))
    churn = Churn(vm, rep)
    rep.figures.update(build=args.build)

    def boot():
        vm.start()
        vm.qmp.timeout = 300.0 if args.build == "tsan" else 60.0
        vm.wait_console(FIRST_PASS, timeout=120)
        run["ram"] = guest_ram_range(vm.proc.pid, args.mem)
        run["rss0"] = rss_now(vm.proc.pid, run["ram"])
        run["state"].update({"pass": vm.passes()[-1][0], "pass_t": time.monotonic()})
        rep.ok("boot", "%s QEMU %s, guest RAM at host 0x%x (%d MiB); %s"
               % (args.build, vm.qemu, run["ram"][0], args.mem, rss_text(run["rss0"])))

    def warmup():
        n, secs = run_cycles(vm, churn, san, warm, run["state"], rep.info, run["ram"])
        run["rss1"] = rss_now(vm.proc.pid, run["ram"])
        rep.ok("warmup", "%d cycles, %d commands in %.1f s; RSS after warm-up: %s"
               % (n, churn.commands, secs, rss_text(run["rss1"])))

    def main_churn():
        c0 = churn.commands
        n, secs = run_cycles(vm, churn, san, args.cycles, run["state"], rep.info,
                             run["ram"])
        churn.stop_all()
        run["rss2"] = rss_now(vm.proc.pid, run["ram"])
        rep.figures.update(churn_s=round(secs, 1),
                           cycles_per_s=round(n / secs, 1) if secs else 0)
        rep.ok("churn", "%d more cycles, %d commands in %.1f s (%.1f cycles/s); all "
               "answered as expected, %d bad requests refused; QEMU alive, guest "
               "pass counter at %d, no failing sanitizer report so far"
               % (n, churn.commands - c0, secs, n / secs if secs else 0,
                  churn.bad_requests, run["state"]["pass"]))

    def guest():
        p0, p1 = guest_runs_on(vm, timeout=30)
        rep.ok("guest", "VM running, guest pass counter %d -> %d; query-damon lists "
               "%d monitors, none running"
               % (p0, p1, len(vm.qmp.execute("query-damon"))))

    def rss():
        r1, r2 = run["rss1"], run["rss2"]
        grow = (r2["outside"] - r1["outside"]) / 1024
        rep.figures.update(rss_before_kib=r1["VmRSS"], rss_after_kib=r2["VmRSS"],
                           rss_outside_before_kib=r1["outside"],
                           rss_outside_after_kib=r2["outside"])
        text = ("outside guest RAM %.1f -> %.1f MiB (%+.1f MiB, bound %.0f MiB) over "
                "%d cycles after warm-up; VmRSS %.1f -> %.1f MiB, RssAnon %.1f -> "
                "%.1f MiB, guest RAM %.1f -> %.1f MiB"
                % (r1["outside"] / 1024, r2["outside"] / 1024, grow, args.rss_bound,
                   churn.cycles - warm, r1["VmRSS"] / 1024, r2["VmRSS"] / 1024,
                   r1["RssAnon"] / 1024, r2["RssAnon"] / 1024,
                   r1["guest"] / 1024, r2["guest"] / 1024))
        if grow > args.rss_bound:
            raise Failed(text)
        rep.ok("rss", text)

    def sanitizer():
        bad = san.scan(vm.stderr_text())
        rep.figures.update(san_reports=san.reports, qdamon_reports=san.qdamon,
                           qemu_only_reports=san.qemu_only)
        if args.build == "tsan":
            kinds = {}
            for ours, summary, _ in tsan_reports(vm.stderr_text()):
                if not ours:
                    key = re.sub(r"\s*\(.*$", "", summary)
                    kinds[key] = kinds.get(key, 0) + 1
            for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
                rep.info("QEMU-only TSan report x%d: %s" % (n, k))
        if bad:
            raise Failed("%d report(s) involving qdamon (or any ASan/UBSan/LSan "
                         "report); the first:\n%s" % (san.qdamon, bad[:6000]))
        if args.build == "plain":
            rep.ok("sanitizer", "plain build: QEMU's stderr has no sanitizer report")
        elif args.build == "asan":
            rep.ok("sanitizer", "no AddressSanitizer, UBSan or LeakSanitizer report "
                   "in QEMU's stderr (%s)" % vm.env.get("ASAN_OPTIONS",
                                                     os.environ.get("ASAN_OPTIONS")))
        else:
            rep.ok("sanitizer", "%d TSan reports, 0 involving qdamon, %d wholly in QEMU "
                   "(after suppressions)" % (san.reports, san.qemu_only))

    try:
        ok = report.run_steps(rep, [("boot", boot), ("warmup", warmup),
                                    ("churn", main_churn)])
        if ok:
            report.run_step(rep, "guest", guest)
            report.run_step(rep, "rss", rss)
        if vm.proc is not None:
            step_quit(vm, rep)
            report.run_step(rep, "sanitizer", sanitizer)
        rep.figures.update(cycles=churn.cycles, commands=churn.commands,
                           bad_requests=churn.bad_requests)
        if rep.failed and vm.proc is not None:
            rep.info("QEMU stderr (tail): %s" % vm.stderr_tail(20))
    finally:
        vm.close()


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("churn", lambda rep: run_test(ARGS, rep), width=10)
