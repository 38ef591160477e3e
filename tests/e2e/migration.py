#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration.py - end-to-end test: a dirty-bitmap monitor costs live migration no guest write.

qdamon's dirty-bitmap source clears dirty bits to re-arm the pages it
samples.  It must clear only its own client's (DIRTY_MEMORY_DAMON), never
migration's: a cleared MIGRATION bit is a guest write that never reaches
the destination.  This test migrates a TCG guest that keeps writing
while a dirty-bitmap monitor runs, and compares all of the guest's RAM on
both ends byte for byte.

Each round:

  boot      the workload guest (tests/guest) under TCG, writing a small
            hot set over and over;
  monitor   damon-start {"source": "dirty-bitmap"}; the monitor must run
            and find the hot set (>= 90% of it in hot regions, WSS within
            10% of its size, on two successive aggregations);
  cancel    (first round, normal mode only) a migration to a first
            destination, slowed down so that it cannot converge, is
            cancelled once active with some RAM sent: status "cancelled",
            the guest keeps running, and the monitor keeps aggregating and
            finds the hot set again after the cancel;
  migrate   a live migration over a unix socket to a second QEMU with the
            same command line plus "-incoming defer -S", while the guest
            writes; it must complete, leaving the source "postmigrate"
            and the destination "paused", with guest writes during it;
  compare   with both stopped, pmemsave every guest RAM range of the
            address space ("info mtree -f") on both ends: the SHA-256 of
            each must be equal; on a mismatch the first differing pages
            are listed with their first word on each end.

--steal-migration-bits is the negative control: the source QEMU runs
with QDAMON_TEST_STEAL_MIGRATION_BITS=1, a fault-injection switch that
makes the dirty-bitmap source clear migration's bits too on the pages it
samples.  Then the comparison must find a mismatch; the test PASSes when
it does (within --rounds tries) and FAILs when the RAM always matches, so
CI proves that the test can fail.

Prints PASS/FAIL lines and a RESULT line with the figures; exits 0 only
when everything passed.
"""

import argparse
import contextlib
import hashlib
import os
import re
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp import QMPError, QMPProtocolError  # noqa: E402
from report import Failed, Report  # noqa: E402
from vm import DEFAULT_FIRMWARE, DEFAULT_QEMU, VMError, WorkloadVM  # noqa: E402

MIB = 1 << 20
PAGE = 4096
STEAL_ENV = "QDAMON_TEST_STEAL_MIGRATION_BITS"
MONITOR = "damon0"

COVERAGE_MIN = 0.90     # of the hot range, in regions at >= half max accesses
HOT_RATE_MIN = 0.50
WSS_ERR_MAX = 0.10      # |wss - hot size| / hot size
CONFIRMATIONS = 2       # successive aggregations that must meet both

CANCEL_AFTER_BYTES = 4 * MIB        # RAM sent before migrate_cancel
CANCEL_BANDWIDTH = 2 * MIB          # bytes/s: cancel within the first pass
HOLD_BANDWIDTH = 32 * MIB           # bytes/s while held: ~125 ms per 4 MiB
HOLD_DOWNTIME_MS = 1                # too short to converge: iterate
FAST_BANDWIDTH = 8 << 30            # bytes/s: the socket's speed
FAST_DOWNTIME_MS = 2000             # TCG: lets the hot set go in the downtime
SEQ_MOD = 1 << 32                   # the guest's write sequence is 32-bit

_MTREE_RANGE_RE = re.compile(
    r"^\s+([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, (ram|rom|i/o|romd)\): (\S+)")


def parse_args():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Exit status 0 when every step passed (with "
        "--steal-migration-bits: when a mismatch was detected).")
    ap.add_argument("--qemu", default=DEFAULT_QEMU,
                    help="qemu-system-x86_64 with qdamon (default: %(default)s)")
    ap.add_argument("--firmware", default=DEFAULT_FIRMWARE,
                    help="the workload image (default: %(default)s)")
    ap.add_argument("--mem", type=int, default=512, metavar="MIB",
                    help="guest RAM in MiB (default: %(default)s)")
    ap.add_argument("--hot-start", type=lambda s: int(s, 0), default=16 * MIB,
                    help="hot range start (default: 0x1000000)")
    ap.add_argument("--hot-size", type=lambda s: int(s, 0), default=4 * MIB,
                    help="hot range size (default: 0x400000); small, so that "
                    "TCG migration converges")
    ap.add_argument("--phase-count", type=int, default=4, metavar="N",
                    help="positions the hot range moves through, hot-size apart "
                    "(default: %(default)s; 1: it stays put)")
    ap.add_argument("--phase-secs", type=int, default=1, metavar="S",
                    help="seconds at each position (default: %(default)s)")
    ap.add_argument("--hold", type=float, default=3.0, metavar="S",
                    help="seconds the migration is kept from converging "
                    "(at %d MiB/s) while the guest writes, before it may "
                    "complete (default: %%(default)s; 0: at once)" % (HOLD_BANDWIDTH // MIB))
    ap.add_argument("--sample-us", type=int, default=None,
                    help="the monitor's sample-us (default: QEMU's, 5000)")
    ap.add_argument("--min-nr-regions", type=int, default=None,
                    help="the monitor's min-nr-regions (default: QEMU's, 10)")
    ap.add_argument("--steal-migration-bits", action="store_true",
                    help="negative control: run the source QEMU with %s=1 and "
                    "expect the RAM comparison to fail" % STEAL_ENV)
    ap.add_argument("--rounds", type=int, default=None,
                    help="migrations, each with a fresh pair of QEMUs (default: "
                    "2; with --steal-migration-bits, up to 5, stopping at the "
                    "first mismatch)")
    ap.add_argument("--all-rounds", action="store_true",
                    help="with --steal-migration-bits, run every round even "
                    "after a mismatch, to measure how often one shows")
    ap.add_argument("--no-cancel", action="store_true",
                    help="skip the cancelled migration of the first round")
    ap.add_argument("--migrate-timeout", type=float, default=120.0, metavar="S",
                    help="seconds allowed for a migration (default: %(default)s)")
    ap.add_argument("--find-timeout", type=float, default=60.0, metavar="S",
                    help="seconds allowed to find the hot set (default: %(default)s)")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="print migration progress")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directories (console, QEMU stderr)")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 5 if args.steal_migration_bits else 2
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.phase_count < 1 or args.phase_secs < 1:
        ap.error("--phase-count and --phase-secs must be at least 1")
    if args.hot_size % PAGE or args.hot_start % PAGE:
        ap.error("the hot range must be page aligned")
    return args


# ---------------------------------------------------------------------------
# The two QEMUs

def new_vm(args, incoming=False, steal=False):
    """A WorkloadVM; the destination has the same command line plus
    -incoming defer -S.  Only the source may get the steal switch."""
    extra = ["-incoming", "defer", "-S"] if incoming else []
    env = {STEAL_ENV: "1" if steal else None}
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size}
    if args.phase_count > 1:
        config.update(phase_secs=args.phase_secs, phase_count=args.phase_count,
                      phase_stride=args.hot_size)
    return WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, accel="tcg",
                      config=config, extra_args=extra, env=env,
                      keep_workdir=args.keep)


def positions(args):
    """Start addresses of the hot range's positions."""
    return [args.hot_start + k * args.hot_size for k in range(args.phase_count)]


def status(vm):
    return vm.qmp.execute("query-status")["status"]


def stderr_text(vm):
    try:
        with open(vm.stderr_path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def guest_seq(vm, args):
    """The guest's write sequence: it writes its sequence number, which
    grows by one per page written, into the first word of each page, so
    the latest of the first words of the positions' first pages is where
    it has got to.  Modulo 2^32: it wraps every 20 s or so."""
    words = [vm.read_phys_u32(a)[0] for a in positions(args)]
    return max(words, key=lambda w: (w - words[0] + SEQ_MOD // 2) % SEQ_MOD)


def seq_diff(a, b):
    """Page writes from sequence a to sequence b (b later, < 2^31 on)."""
    return (b - a) % SEQ_MOD


def step_boot(src, args, rep, label):
    t0 = time.monotonic()
    src.start()
    src.wait_console(r"^qdamon-workload: pass=1 t=0$", timeout=60)
    ranges = src.hot_ranges()
    if ranges.get("hot") != (args.hot_start, args.hot_size):
        raise Failed("guest reports hot=%s, expected 0x%x+0x%x"
                     % (ranges.get("hot"), args.hot_start, args.hot_size))
    moving = ""
    if args.phase_count > 1:
        want = "phase every %d secs count=%d stride=0x%x" % (
            args.phase_secs, args.phase_count, args.hot_size)
        if want not in src.console():
            raise Failed("guest console lacks %r" % want)
        moving = ", moving every %d s through %d positions up to 0x%x" % (
            args.phase_secs, args.phase_count, positions(args)[-1] + args.hot_size)
    if status(src) != "running":
        raise Failed("source not running: %s" % status(src))
    rep.ok(label, "source up in %.2f s: %d MiB, hot=0x%x+0x%x%s%s, running"
           % (time.monotonic() - t0, args.mem, args.hot_start, args.hot_size, moving,
              ", %s=1" % STEAL_ENV if args.steal_migration_bits else ""))


def start_destination(args, rep, sock):
    dst = new_vm(args, incoming=True)
    dst.start()
    st = status(dst)
    if st != "inmigrate":
        dst.close()
        raise Failed("destination is %r before migrate-incoming, expected "
                     "'inmigrate'" % st)
    dst.qmp.execute("migrate-incoming", {"uri": "unix:" + sock})
    return dst


# ---------------------------------------------------------------------------
# The monitor

def overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def monitor_info(vm):
    info = [m for m in vm.qmp.execute("query-damon") if m["id"] == MONITOR]
    if not info:
        raise Failed("query-damon does not list %s" % MONITOR)
    return info[0]


def evaluate(regions, wss, starts, hot_size):
    """(coverage, wss error) of one snapshot; the coverage is that of the
    best covered position of the hot range (the one it is at, but for an
    aggregation that saw it move)."""
    maxn = regions["max-nr-accesses"]
    hot = [r for r in regions["regions"]
           if maxn and r["nr-accesses"] >= HOT_RATE_MIN * maxn]
    covered = max(sum(overlap(r["start"], r["end"], a, a + hot_size) for r in hot)
                  for a in starts)
    return covered / hot_size, abs(wss["wss-bytes"] - hot_size) / hot_size


def find_hot_set(vm, args, timeout, after_aggr=0):
    """Poll until two successive snapshots, both of aggregations after
    after_aggr, find the hot set.  Returns (seconds, coverage, wss
    bytes, wss error, aggregation); raises Failed on timeout."""
    t0 = time.monotonic()
    streak, last, hit = 0, after_aggr, None
    best = (0.0, float("inf"))
    while time.monotonic() - t0 < timeout:
        regions = vm.qmp.execute("query-damon-regions", {"id": MONITOR})
        wss = vm.qmp.execute("query-damon-wss", {"id": MONITOR})
        aggr = regions["nr-aggregations"]
        if aggr <= last:
            time.sleep(0.05)
            continue
        last = aggr
        cov, err = evaluate(regions, wss, positions(args), args.hot_size)
        best = (max(best[0], cov), min(best[1], err))
        if cov >= COVERAGE_MIN and err <= WSS_ERR_MAX:
            if streak == 0:
                hit = (time.monotonic() - t0, cov, wss["wss-bytes"], err, aggr)
            streak += 1
            if streak >= CONFIRMATIONS:
                return hit
        else:
            streak = 0
        time.sleep(0.05)
    raise Failed("hot set not found in %.0f s: best coverage %.1f%% (need %.0f%%), "
                 "best wss error %.1f%% (need <= %.0f%%)"
                 % (timeout, best[0] * 100, COVERAGE_MIN * 100,
                    best[1] * 100, WSS_ERR_MAX * 100))


def step_monitor(src, args, rep, label):
    if not src.qmp.has_command("damon-start"):
        raise Failed("damon-start not available in %s" % args.qemu)
    start = {"id": MONITOR, "source": "dirty-bitmap"}
    if args.sample_us is not None:
        start["sample-us"] = args.sample_us
        # keep max-nr-accesses at QEMU's default 20 where aggr-us allows
        start["aggr-us"] = min(max(20 * args.sample_us, 100000), 1000 * args.sample_us)
    if args.min_nr_regions is not None:
        start["min-nr-regions"] = args.min_nr_regions
        start["max-nr-regions"] = max(1000, args.min_nr_regions)
    src.qmp.execute("damon-start", start)
    m = monitor_info(src)
    if m["state"] != "running" or m["source"] != "dirty-bitmap":
        raise Failed("query-damon: %s is %s with source %s"
                     % (MONITOR, m["state"], m["source"]))
    # The fault-injection switch announces itself on stderr at damon-start.
    time.sleep(0.2)
    stealing = ("%s=1" % STEAL_ENV) in stderr_text(src)
    if args.steal_migration_bits and not stealing:
        raise Failed("the source QEMU did not report %s=1 at damon-start: this "
                     "QEMU lacks the fault-injection switch (source-dirty-bitmap.c)"
                     % STEAL_ENV)
    if stealing and not args.steal_migration_bits:
        raise Failed("the source QEMU reports %s=1 in normal mode" % STEAL_ENV)
    found_s, cov, wss, err, aggr = find_hot_set(src, args, args.find_timeout)
    a = m["attrs"]
    rep.ok(label, "%s running, source dirty-bitmap, sample %d us, aggr %d us, "
           "regions %d..%d%s; hot set found after %.2f s: coverage %.1f%%, "
           "wss %.2f MiB (error %.1f%%)"
           % (MONITOR, a["sample-us"], a["aggr-us"], a["min-nr-regions"],
              a["max-nr-regions"],
              ", STEALING migration's bits" if stealing else "",
              found_s, cov * 100, wss / MIB, err * 100))


# ---------------------------------------------------------------------------
# Migration

def set_params(src, bandwidth, downtime_ms):
    src.qmp.execute("migrate-set-parameters",
                    {"max-bandwidth": bandwidth, "downtime-limit": downtime_ms})


class Progress:
    """Polls query-migrate on the source, and the monitor's WSS beside it."""

    def __init__(self, src, args, rep):
        self.src, self.args, self.rep = src, args, rep
        self.info = {}
        self.wss = []
        self.aggr = []
        self._next_wss = 0.0
        self.started = time.monotonic()

    def poll(self):
        self.info = self.src.qmp.execute("query-migrate")
        now = time.monotonic()
        if now >= self._next_wss:
            self._next_wss = now + 0.25
            self.wss.append(self.src.qmp.execute(
                "query-damon-wss", {"id": MONITOR})["wss-bytes"])
            self.aggr.append(monitor_info(self.src)["nr-aggregations"])
            if self.args.verbose:
                ram = self.info.get("ram", {})
                self.rep.info("  %-9s sent %7.1f MiB remaining %7.1f MiB syncs %3s "
                              "wss %.2f MiB" % (self.info.get("status"),
                                                ram.get("transferred", 0) / MIB,
                                                ram.get("remaining", 0) / MIB,
                                                ram.get("dirty-sync-count", "-"),
                                                self.wss[-1] / MIB))
        return self.info

    def status(self):
        return self.info.get("status")

    def ram(self, key, default=0):
        return self.info.get("ram", {}).get(key, default)

    def wss_text(self):
        if not self.wss:
            return "no WSS sample"
        return ("monitor during migration: wss %.2f..%.2f MiB, aggregations %d -> %d"
                % (min(self.wss) / MIB, max(self.wss) / MIB, self.aggr[0], self.aggr[-1]))


def step_cancel(src, args, rep, stack, label):
    """d: a migration cancelled halfway leaves the source and its monitor
    working."""
    sock = os.path.join(src.workdir, "mig-cancel.sock")
    dst = start_destination(args, rep, sock)
    stack.callback(dst.close)
    set_params(src, CANCEL_BANDWIDTH, HOLD_DOWNTIME_MS)
    src.qmp.execute("migrate", {"uri": "unix:" + sock})
    prog = Progress(src, args, rep)
    deadline = time.monotonic() + args.migrate_timeout
    while True:
        prog.poll()
        if prog.status() == "active" and prog.ram("transferred") >= CANCEL_AFTER_BYTES:
            break
        if prog.status() in ("completed", "failed", "cancelled"):
            raise Failed("migration ended (%s: %s) before it could be cancelled"
                         % (prog.status(), prog.info.get("error-desc", "")))
        if time.monotonic() >= deadline:
            raise Failed("migration not active with %d MiB sent after %.0f s: %r"
                         % (CANCEL_AFTER_BYTES // MIB, args.migrate_timeout, prog.info))
        time.sleep(0.05)
    sent, remaining = prog.ram("transferred"), prog.ram("remaining")
    total_ram = prog.ram("total")
    syncs = prog.ram("dirty-sync-count")
    active_s = time.monotonic() - prog.started
    src.qmp.execute("migrate_cancel")
    t_cancel = time.monotonic()
    while prog.poll()["status"] not in ("cancelled", "completed", "failed"):
        if time.monotonic() - t_cancel > 30:
            raise Failed("status still %r 30 s after migrate_cancel" % prog.status())
        time.sleep(0.05)
    if prog.status() != "cancelled":
        raise Failed("status %r after migrate_cancel, expected 'cancelled'"
                     % prog.status())
    cancel_s = time.monotonic() - t_cancel
    # The destination's incoming migration fails; QEMU then exits.
    try:
        dst_exit = dst.proc.wait(10)
    except Exception:
        dst_exit = "still running (%s)" % status(dst)
    rep.figures["cancel_at_mib"] = round(sent / MIB, 1)
    rep.ok(label, "migrate_cancel after %.2f s with %.1f MiB sent, %.1f MiB of %.0f MiB "
           "still to send, %d dirty syncs: 'cancelled' %.2f s later; destination exit "
           "status %s; %s"
           % (active_s, sent / MIB, remaining / MIB, total_ram / MIB, syncs, cancel_s,
              dst_exit, prog.wss_text()))

    # The source runs on, and writes.
    st = status(src)
    if st != "running":
        raise Failed("source is %r after the cancel, expected 'running'" % st)
    seq1 = guest_seq(src, args)
    time.sleep(0.5)
    written = seq_diff(seq1, guest_seq(src, args))
    if not 0 < written < SEQ_MOD // 2:
        raise Failed("guest writes stalled after the cancel: %d page writes in 0.5 s"
                     % written)
    # The monitor runs on: it aggregates, and finds the hot set again in
    # aggregations made after the cancel.
    m0 = monitor_info(src)
    time.sleep(1.0)
    m1 = monitor_info(src)
    if m1["state"] != "running":
        raise Failed("monitor is %s after the cancel" % m1["state"])
    if m1["nr-aggregations"] <= m0["nr-aggregations"]:
        raise Failed("monitor aggregations stuck at %d after the cancel"
                     % m1["nr-aggregations"])
    found_s, cov, wss, err, aggr = find_hot_set(src, args, args.find_timeout,
                                                after_aggr=m1["nr-aggregations"])
    rep.figures["post_cancel_wss_err_pct"] = round(err * 100, 1)
    rep.ok("after-cancel", "source running, guest writing (%d page writes in 0.5 s); "
           "monitor running, aggregations %d -> %d in 1 s; hot set found again at "
           "aggregation %d: coverage %.1f%%, wss %.2f MiB (error %.1f%%)"
           % (written, m0["nr-aggregations"], m1["nr-aggregations"], aggr,
              cov * 100, wss / MIB, err * 100))


def step_migrate(src, dst, sock, args, rep, label):
    """b: a complete live migration while the guest writes.  For --hold
    seconds the migration cannot converge: its bandwidth is limited, so
    each iteration takes a while, and its downtime limit is too short.
    Meanwhile the hot range moves, and pages that it leaves stay as they
    are until the end: any write to them that migration misses shows in
    the comparison.  Then bandwidth and downtime limit go up, and it
    completes."""
    held = args.hold > 0
    if held:
        set_params(src, HOLD_BANDWIDTH, HOLD_DOWNTIME_MS)
    else:
        set_params(src, FAST_BANDWIDTH, FAST_DOWNTIME_MS)
    seq0 = guest_seq(src, args)
    moves0 = len(src.phases())
    src.qmp.execute("migrate", {"uri": "unix:" + sock})
    prog = Progress(src, args, rep)
    deadline = time.monotonic() + args.migrate_timeout
    held_syncs = None
    while prog.poll()["status"] not in ("completed", "failed", "cancelled"):
        now = time.monotonic()
        if held and now - prog.started >= args.hold and prog.status() == "active":
            held = False
            held_syncs = prog.ram("dirty-sync-count")
            set_params(src, FAST_BANDWIDTH, FAST_DOWNTIME_MS)
        if now >= deadline:
            src.qmp.execute("migrate_cancel")
            raise Failed("migration did not complete in %.0f s (cancelled): %r"
                         % (args.migrate_timeout, prog.info))
        time.sleep(0.05)
    info = prog.info
    if info["status"] != "completed":
        raise Failed("migration %s: %s" % (info["status"], info.get("error-desc", "")))
    if held:
        raise Failed("migration completed within the %.1f s hold, at downtime limit "
                     "%d ms" % (args.hold, HOLD_DOWNTIME_MS))
    # The destination reports completion a little after the source.
    t0 = time.monotonic()
    while status(dst) != "paused" and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    st_src, st_dst = status(src), status(dst)
    if st_src != "postmigrate" or st_dst != "paused":
        raise Failed("after migration: source %r (expected 'postmigrate'), "
                     "destination %r (expected 'paused')" % (st_src, st_dst))
    written = seq_diff(seq0, guest_seq(src, args))
    passes = written / (args.hot_size // PAGE)
    moves = len(src.phases()) - moves0
    if passes < 1 or written >= SEQ_MOD // 2:
        raise Failed("the guest wrote no whole pass during the migration "
                     "(%d page writes)" % written)
    ram = info["ram"]
    fig = {"mig_total_ms": info["total-time"], "mig_downtime_ms": info.get("downtime"),
           "mig_transferred_mib": round(ram["transferred"] / MIB, 1),
           "mig_dirty_syncs": ram["dirty-sync-count"],
           "mig_guest_passes": int(passes), "mig_hot_moves": moves}
    for k, v in fig.items():
        rep.add(k, v)
    hold = ("held %.1f s at %d MiB/s (%s dirty syncs), then " % (
        args.hold, HOLD_BANDWIDTH // MIB, held_syncs) if args.hold > 0 else "")
    rep.ok(label, "%scompleted in %d ms (setup %s ms, downtime %s ms): %.1f MiB sent "
           "(%d normal pages, %d zero pages, %.1f MiB in the downtime), "
           "%d dirty syncs; guest made %d page writes (%.0f passes) meanwhile, "
           "its hot range moved %d times; source postmigrate, destination paused; %s"
           % (hold, info["total-time"], info.get("setup-time"), info.get("downtime"),
              ram["transferred"] / MIB, ram["normal"], ram["duplicate"],
              ram.get("downtime-bytes", 0) / MIB, ram["dirty-sync-count"],
              written, passes, moves, prog.wss_text()))


# ---------------------------------------------------------------------------
# RAM comparison

def ram_ranges(vm):
    """[(start, end)] of the RAM in the guest's "memory" address space,
    from 'info mtree -f'; adjacent pieces are merged."""
    text = vm.qmp.hmp("info mtree -f")
    ranges, in_memory = [], False
    for line in text.splitlines():
        if line.startswith("FlatView"):
            in_memory = False
        elif line.startswith(' AS "memory"'):
            in_memory = True
        elif in_memory:
            m = _MTREE_RANGE_RE.match(line)
            if m and m.group(3) == "ram":
                start, end = int(m.group(1), 16), int(m.group(2), 16) + 1
                if ranges and ranges[-1][1] == start:
                    ranges[-1] = (ranges[-1][0], end)
                else:
                    ranges.append((start, end))
    if not ranges:
        raise Failed("no RAM in 'info mtree -f' of address space \"memory\"")
    return ranges


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(8 * MIB)
            if not block:
                return h.hexdigest()
            h.update(block)


def differing_pages(path_a, path_b, base, limit):
    """Up to limit (address, word on a, word on b) of the differing pages,
    and the number of differing pages."""
    found, count = [], 0
    with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
        off = 0
        while True:
            a, b = fa.read(8 * MIB), fb.read(8 * MIB)
            if not a:
                return found, count
            if a != b:
                for p in range(0, len(a), PAGE):
                    pa, pb = a[p:p + PAGE], b[p:p + PAGE]
                    if pa != pb:
                        count += 1
                        if len(found) < limit:
                            found.append((base + off + p,
                                          int.from_bytes(pa[:4], "little"),
                                          int.from_bytes(pb[:4], "little")))
            off += len(a)


def step_compare(src, dst, args, rep, label):
    """c: every RAM range the same on both ends.  Returns the number of
    differing pages."""
    ranges = ram_ranges(src)
    if ranges != ram_ranges(dst):
        raise Failed("RAM layout differs: source %s, destination %s"
                     % (ranges, ram_ranges(dst)))
    tmp = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    t0 = time.monotonic()
    total, bad_pages, shown = 0, 0, []
    bad_ranges = []
    for start, end in ranges:
        paths = [os.path.join(tmp, "qdamon-mig-%d-%s-%x.bin" % (os.getpid(), who, start))
                 for who in ("src", "dst")]
        try:
            digests = []
            for vm, path in zip((src, dst), paths):
                vm.qmp.execute("pmemsave", {"val": start, "size": end - start,
                                            "filename": path}, timeout=600)
                digests.append(sha256_file(path))
            total += end - start
            if digests[0] != digests[1]:
                found, count = differing_pages(paths[0], paths[1], start, 16 - len(shown))
                bad_pages += count
                shown += found
                bad_ranges.append("[0x%x, 0x%x): %d pages differ (sha256 %s... vs %s...)"
                                  % (start, end, count, digests[0][:12], digests[1][:12]))
            elif args.verbose:
                rep.info("  [0x%x, 0x%x) sha256 %s on both" % (start, end, digests[0]))
        finally:
            for path in paths:
                if os.path.exists(path):
                    os.unlink(path)
    took = time.monotonic() - t0
    span = ", ".join("[0x%x, 0x%x)" % r for r in ranges)
    if not bad_pages:
        rep.ok(label, "guest RAM identical: %s, %.1f MiB of %d MiB (the rest is "
               "behind ROM), sha256 per range equal (%.1f s)"
               % (span, total / MIB, args.mem, took))
        return 0
    text = "guest RAM differs in %d pages of %.1f MiB compared (%s)" % (
        bad_pages, total / MIB, "; ".join(bad_ranges))
    if args.steal_migration_bits:
        rep.info("%s: %s" % (label, text))
    else:
        rep.fail(label, text)
    pages = args.hot_size // PAGE
    for addr, wa, wb in shown:
        where = "outside the hot range"
        for k, a in enumerate(positions(args)):
            if a <= addr < a + args.hot_size:
                where = "hot range position %d" % k
                behind = seq_diff(wb, wa)
                if 0 < behind < SEQ_MOD // 2:
                    where += ", the destination's %d passes older" % (behind // pages)
        rep.info("  page 0x%09x (%s): first word 0x%08x on the source, "
                 "0x%08x on the destination" % (addr, where, wa, wb))
    if bad_pages > len(shown):
        rep.info("  ... %d more pages" % (bad_pages - len(shown)))
    return bad_pages


# ---------------------------------------------------------------------------

def quit_vm(vm, rep, what):
    if vm.proc is None or vm.proc.poll() is not None:
        return
    code = vm.quit()
    if code != 0:
        rep.fail("quit", "%s QEMU exit status %s: %s" % (what, code, vm.stderr_tail()))


def run_round(args, rep, n):
    """One round; returns the number of differing pages, or None when a
    step failed."""
    tag = "" if args.rounds == 1 else "[%d]" % n
    with contextlib.ExitStack() as stack:
        src = new_vm(args, steal=args.steal_migration_bits)
        stack.callback(src.close)
        if args.keep:
            rep.info("round %d source work directory: %s" % (n, src.workdir))
        step = "boot" + tag
        try:
            step_boot(src, args, rep, step)
            step = "monitor" + tag
            step_monitor(src, args, rep, step)
            if n == 1 and not args.steal_migration_bits and not args.no_cancel:
                step = "cancel" + tag
                step_cancel(src, args, rep, stack, step)
            step = "migrate" + tag
            sock = os.path.join(src.workdir, "mig.sock")
            dst = start_destination(args, rep, sock)
            stack.callback(dst.close)
            if args.keep:
                rep.info("round %d destination work directory: %s" % (n, dst.workdir))
            step_migrate(src, dst, sock, args, rep, step)
            step = "compare" + tag
            bad = step_compare(src, dst, args, rep, step)
        except Failed as e:
            rep.fail(step, str(e))
            return None
        except (QMPError, QMPProtocolError, VMError) as e:
            rep.fail(step, "%s: %s" % (type(e).__name__, e))
            return None
        except Exception as e:    # a bug, or a reply not as the schema says
            traceback.print_exc()
            rep.fail(step, "unexpected %s: %s" % (type(e).__name__, e))
            return None
        quit_vm(dst, rep, "destination")
        quit_vm(src, rep, "source")
        return bad


def run(args, rep):
    mismatched = []
    for n in range(1, args.rounds + 1):
        bad = run_round(args, rep, n)
        if bad is None:
            return
        rep.add("mismatched_pages", bad)
        if bad:
            mismatched.append(n)
            if args.steal_migration_bits and not args.all_rounds:
                break
    ran = len(rep.figures["mismatched_pages"])
    rep.figures["rounds"] = ran
    rep.figures["rounds_mismatched"] = len(mismatched)
    if not args.steal_migration_bits:
        return
    if mismatched:
        rep.ok("negative", "with %s=1 the comparison failed, as it must: mismatch in "
               "%d of %d rounds (round%s %s)"
               % (STEAL_ENV, len(mismatched), ran, "s" if len(mismatched) > 1 else "",
                  ", ".join(map(str, mismatched))))
    else:
        rep.fail("negative", "with %s=1 the RAM still matched in all %d rounds: the "
                 "test did not detect the injected loss" % (STEAL_ENV, ran))


def _interrupted(signum, frame):
    raise KeyboardInterrupt    # unwinds through the with blocks: QEMUs go


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupted)
    rep = Report()
    t0 = time.monotonic()
    try:
        run(args, rep)
    except KeyboardInterrupt:
        rep.fail("interrupted", "")
    mode = "steal-migration-bits" if args.steal_migration_bits else "normal"
    figures = " ".join("%s=%s" % (k, "/".join(map(str, v)) if isinstance(v, list) else v)
                       for k, v in sorted(rep.figures.items()))
    verdict = "FAIL (%s)" % ", ".join(rep.failed) if rep.failed else "PASS"
    print("RESULT migration %s in %.1f s mode=%s mem_mib=%d hot_mib=%g %s"
          % (verdict, time.monotonic() - t0, mode, args.mem, args.hot_size / MIB,
             figures), flush=True)
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
