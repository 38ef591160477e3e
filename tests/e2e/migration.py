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
            and find the hot set by harness.hotset's thresholds (>= 90%
            of it in hot regions, WSS within 10% of its size, on two
            successive aggregations);
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
            address space ("info mtree -f") on both ends (harness.ramcmp):
            the SHA-256 of each must be equal; on a mismatch the first
            differing pages are listed with their first word on each end.

--steal-migration-bits is the negative control: the source QEMU runs
with QDAMON_TEST_STEAL_MIGRATION_BITS=1, a fault-injection switch that
makes the dirty-bitmap source clear migration's bits too on the pages it
samples.  Then the comparison must find a mismatch; the test PASSes when
it does (within --rounds tries) and FAILs when the RAM always matches, so
CI proves that the test can fail.

--scheme ACTION adds a DAMOS scheme to the monitor (e.g. pageout, for
the regions not accessed for 5 aggregations, applied every aggregation):
it must try regions before the migration, and while the migration runs
its action must wait (the 'migration' skip grows, nothing is applied),
and the RAM comparison must pass as without it.  On a host without swap
pageout reclaims nothing; tests/nested/reclaim.py runs it with swap.

--source tcg-accessed runs the same rounds with a tcg-accessed monitor,
which drops the sampled pages' TLB entries on every vCPU each sample
(with --smp N, under MTTCG): the refills must keep migration's dirty
tracking whole as well.

Prints PASS/FAIL lines and a RESULT line with the figures; exits 0 only
when everything passed.
"""

import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, ramcmp, report, steps  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.steps import MONITOR, monitor_info  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

STEAL_ENV = "QDAMON_TEST_STEAL_MIGRATION_BITS"

CANCEL_AFTER_BYTES = 4 * MIB        # RAM sent before migrate_cancel
CANCEL_BANDWIDTH = 2 * MIB          # bytes/s: cancel within the first pass
HOLD_BANDWIDTH = 32 * MIB           # bytes/s while held: ~125 ms per 4 MiB
HOLD_DOWNTIME_MS = 1                # too short to converge: iterate
FAST_BANDWIDTH = 8 << 30            # bytes/s: the socket's speed
FAST_DOWNTIME_MS = 2000             # TCG: lets the hot set go in the downtime
SEQ_MOD = 1 << 32                   # the guest's write sequence is 32-bit


def parse_args():
    ap = harg.parser(__doc__, epilog="Exit status 0 when every step passed (with "
                     "--steal-migration-bits: when a mismatch was detected).")
    harg.add_vm(ap, mem=512, hot_start=16 * MIB, hot_size=4 * MIB,
                hot_help="; small, so that TCG migration converges",
                smp="both QEMUs")
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
    ap.add_argument("--source", default="dirty-bitmap",
                    choices=["dirty-bitmap", "page-hash", "tcg-accessed"],
                    help="the monitor's access source (default: %(default)s); "
                    "tcg-accessed drops the sampled pages' TLB entries on every "
                    "vCPU, which must cost migration nothing either")
    ap.add_argument("--scheme", default=None, metavar="ACTION",
                    choices=["pageout", "cold", "hugepage", "nohugepage",
                             "willneed", "stat"],
                    help="also run a DAMOS scheme with this action on the "
                    "regions idle for 5 aggregations")
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
    harg.add_run(ap, timeout=60.0, timeout_option="--find-timeout",
                 keep_what="the work directories (console, QEMU stderr)")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 5 if args.steal_migration_bits else 2
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.steal_migration_bits and args.source != "dirty-bitmap":
        ap.error("--steal-migration-bits is a switch of the dirty-bitmap source")
    if args.smp < 1:
        ap.error("--smp must be at least 1")
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
    extra = ["-smp", str(args.smp)] if args.smp > 1 else []
    extra += ["-incoming", "defer", "-S"] if incoming else []
    env = {STEAL_ENV: "1" if steal else None}
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size}
    if args.phase_count > 1:
        config.update(phase_secs=args.phase_secs, phase_count=args.phase_count,
                      phase_stride=args.hot_size)
    return WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem,
                      config=config, extra_args=extra, env=env,
                      keep_workdir=args.keep)


def positions(args):
    """Start addresses of the hot range's positions."""
    return [args.hot_start + k * args.hot_size for k in range(args.phase_count)]


def status(vm):
    return vm.qmp.execute("query-status")["status"]


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
    steps.wait_first_pass(src, args.hot_start, args.hot_size)
    moving = ""
    if args.phase_count > 1:
        want = "phase every %d secs count=%d stride=0x%x" % (
            args.phase_secs, args.phase_count, args.hot_size)
        if want not in src.console():
            raise Failed("guest console lacks %r" % want)
        moving = ", moving every %d s through %d positions up to 0x%x" % (
            args.phase_secs, args.phase_count, positions(args)[-1] + args.hot_size)
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

def find_hot_set(vm, args, rep, after_aggr=0):
    """steps.find_hot_set at any of the hot range's positions: the one
    it is at, but for an aggregation that saw it move."""
    return steps.find_hot_set(vm, rep, positions(args), args.hot_size, args.find_timeout,
                              after_aggr=after_aggr, poll=0.05)


def step_monitor(src, args, rep, label):
    if not src.qmp.has_command("damon-start"):
        raise Failed("damon-start not available in %s" % args.qemu)
    start = {"id": MONITOR, "source": args.source}
    if args.sample_us is not None:
        start["sample-us"] = args.sample_us
        # keep max-nr-accesses at QEMU's default 20 where aggr-us allows
        start["aggr-us"] = min(max(20 * args.sample_us, 100000), 1000 * args.sample_us)
    if args.min_nr_regions is not None:
        start["min-nr-regions"] = args.min_nr_regions
        start["max-nr-regions"] = max(1000, args.min_nr_regions)
    if args.scheme:
        start["schemes"] = [{"action": args.scheme, "access-pattern": {
            "nr-accesses-max": 0, "age-min": 5}}]
    src.qmp.execute("damon-start", start)
    m = monitor_info(src)
    if m["state"] != "running" or m["source"] != args.source:
        raise Failed("query-damon: %s is %s with source %s"
                     % (MONITOR, m["state"], m["source"]))
    # The fault-injection switch announces itself on stderr at damon-start.
    time.sleep(0.2)
    stealing = ("%s=1" % STEAL_ENV) in src.stderr_text()
    if args.steal_migration_bits and not stealing:
        raise Failed("the source QEMU did not report %s=1 at damon-start: this "
                     "QEMU lacks the fault-injection switch (source-dirty-bitmap.c)"
                     % STEAL_ENV)
    if stealing and not args.steal_migration_bits:
        raise Failed("the source QEMU reports %s=1 in normal mode" % STEAL_ENV)
    hit = find_hot_set(src, args, rep)
    a = m["attrs"]
    rep.ok(label, "%s running, source %s, sample %d us, aggr %d us, "
           "regions %d..%d%s; hot set found after %.2f s: %s"
           % (MONITOR, args.source, a["sample-us"], a["aggr-us"], a["min-nr-regions"],
              a["max-nr-regions"],
              ", STEALING migration's bits" if stealing else "",
              hit.seconds, hit.text()))


# ---------------------------------------------------------------------------
# Migration

def scheme_stats(vm, args):
    """The scheme's stats and its 'migration' skip, or None without one."""
    if not args.scheme:
        return None
    info = vm.qmp.execute("query-damon-schemes", {"id": MONITOR})["schemes"][0]
    waited = sum(k["bytes"] for k in info["skipped"] if k["reason"] == "migration")
    return dict(info["stats"], waited=waited)


def check_scheme_waited(vm, args, rep, before):
    """While the migration ran, the scheme's action waited: the regions
    it tried then are skipped as 'migration', none applied."""
    if not args.scheme:
        return
    after = scheme_stats(vm, args)
    if before["sz-tried"] == 0:
        raise Failed("the %s scheme tried nothing before the migration"
                     % args.scheme)
    waited = after["waited"] - before["waited"]
    if after["sz-applied"] != before["sz-applied"]:
        raise Failed("the %s scheme applied %d bytes during the migration"
                     % (args.scheme, after["sz-applied"] - before["sz-applied"]))
    if args.scheme != "stat" and waited == 0:
        raise Failed("the %s scheme did not wait for the migration (no "
                     "'migration' skip): %r" % (args.scheme, after))
    rep.add("scheme_waited_mib", round(waited / MIB, 1))
    rep.ok("scheme", "%s: before the migration tried %.1f MiB, applied %.1f MiB; "
           "during it %.1f MiB waited ('migration'), none applied"
           % (args.scheme, before["sz-tried"] / MIB, before["sz-applied"] / MIB,
              waited / MIB))


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
    hit = find_hot_set(src, args, rep, after_aggr=m1["nr-aggregations"])
    rep.figures["post_cancel_wss_err_pct"] = round(hit.wss_err * 100, 1)
    rep.ok("after-cancel", "source running, guest writing (%d page writes in 0.5 s); "
           "monitor running, aggregations %d -> %d in 1 s; hot set found again at "
           "aggregation %d: %s"
           % (written, m0["nr-aggregations"], m1["nr-aggregations"], hit.aggr,
              hit.text()))


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
    before = scheme_stats(src, args)
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
    check_scheme_waited(src, args, rep, before)
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

def step_compare(src, dst, args, rep, label):
    """c: every RAM range the same on both ends.  Returns the number of
    differing pages."""
    try:
        res = ramcmp.compare(src, dst)
    except ValueError as e:
        raise Failed("source and destination: %s" % e)
    span = ", ".join("[0x%x, 0x%x)" % r for r in res.ranges)
    if args.verbose:
        for start, digest in sorted(res.digests.items()):
            rep.info("  range at 0x%x: sha256 %s on both" % (start, digest))
    if not res.bad_pages:
        rep.ok(label, "guest RAM identical: %s, %.1f MiB of %d MiB (the rest is "
               "behind ROM), sha256 per range equal (%.1f s)"
               % (span, res.total / MIB, args.mem, res.seconds))
        return 0
    text = "guest RAM differs in %d pages of %.1f MiB compared (%s)" % (
        res.bad_pages, res.total / MIB, "; ".join(res.bad_ranges))
    if args.steal_migration_bits:
        rep.info("%s: %s" % (label, text))
    else:
        rep.fail(label, text)
    pages = args.hot_size // PAGE
    for addr, wa, wb in res.shown:
        where = "outside the hot range"
        for k, a in enumerate(positions(args)):
            if a <= addr < a + args.hot_size:
                where = "hot range position %d" % k
                behind = seq_diff(wb, wa)
                if 0 < behind < SEQ_MOD // 2:
                    where += ", the destination's %d passes older" % (behind // pages)
        rep.info("  page 0x%09x (%s): first word 0x%08x on the source, "
                 "0x%08x on the destination" % (addr, where, wa, wb))
    if res.bad_pages > len(res.shown):
        rep.info("  ... %d more pages" % (res.bad_pages - len(res.shown)))
    return res.bad_pages


# ---------------------------------------------------------------------------

def quit_vm(vm, rep, what):
    if not vm.running():
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
        got = {}

        def migrate(label):
            sock = os.path.join(src.workdir, "mig.sock")
            got["dst"] = dst = start_destination(args, rep, sock)
            stack.callback(dst.close)
            if args.keep:
                rep.info("round %d destination work directory: %s" % (n, dst.workdir))
            step_migrate(src, dst, sock, args, rep, label)

        todo = [("boot", lambda label: step_boot(src, args, rep, label)),
                ("monitor", lambda label: step_monitor(src, args, rep, label))]
        if n == 1 and not args.steal_migration_bits and not args.no_cancel:
            todo.append(("cancel", lambda label: step_cancel(src, args, rep, stack, label)))
        todo += [("migrate", migrate),
                 ("compare", lambda label: got.update(
                     bad=step_compare(src, got["dst"], args, rep, label)))]
        if not report.run_steps(rep, [(name + tag, lambda f=f, label=name + tag: f(label))
                                      for name, f in todo]):
            return None
        quit_vm(got["dst"], rep, "destination")
        quit_vm(src, rep, "source")
        return got["bad"]


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


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("migration", lambda rep: run(ARGS, rep), fields=(
        "mode=%s" % ("steal-migration-bits" if ARGS.steal_migration_bits else "normal"),
        "source=%s" % ARGS.source, "smp=%d" % ARGS.smp,
        "mem_mib=%d" % ARGS.mem, "hot_mib=%g" % (ARGS.hot_size / MIB)))
