#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kvm-migration.py - end-to-end test: live migration under KVM with a dirty-ring monitor running.

Under -accel kvm,dirty-ring-size=N migration and qdamon's dirty-ring
source share one thing: KVM's per-vCPU dirty rings.  Migration's
dirty-log syncs reap them (and reset them, which write-protects the
pages again); so does qdamon at every sample, and qemu-patches/0006's
observer shows every reaped entry to the monitor whoever reaped it
(docs/design.md, "The dirty ring beside migration and dirty limit").
If qdamon took entries away from migration, a page the guest wrote
would not be sent again and the destination's RAM would differ; if
migration took them from qdamon, the monitor would go blind while it
runs.  This test migrates a writing guest with such a monitor running.

KVM is nested (harness.nested: an outer VM, -accel tcg -cpu max,
Debian's 6.12 kernel with kvm-amd).  Inside it two QEMUs (ours), both
with the same command line, -accel kvm,dirty-ring-size=4096:

  destination  started first, with -incoming unix:/tmp/mig.sock and -S,
               driven by HMP on a pipe (harness.nested.HmpPipe: the
               serial ports, and so QMP, belong to the source)
  source       the harness's InnerVM, QMP over the outer VM's ttyS1; the
               workload guest fills its RAM with a pattern (fill_size
               all), so that every page carries data to send, then
               writes a 4 MiB hot set over and over

Steps:

  source     the source runs under KVM and its guest passes
  monitor    damon-start source dirty-ring (damon0), which must find
             the hot set (harness.hotset, nested WSS tolerance); then,
             beside it, a second monitor (mon1) with source
             dirty-bitmap, which under a dirty ring syncs the slots'
             bitmaps (reaping the rings too) and clears only its own
             client's bits, never migration's (--monitors chooses:
             dirty-ring alone, or more)
  migrate    migrate at most at --bandwidth MiB/s (so that the 256 MiB
             take some seconds: several aggregation intervals) while the
             guest writes; it must complete; every monitor must have
             made at least --min-aggregations aggregations while it ran
             and still be running, and damon0 must have found the hot
             set (harness.hotset's criteria) in at least one aggregation
             read while the migration was active: the ring entries of
             the guest's writes reach it whoever reaps them; the source
             is postmigrate, the destination paused
  ram-equal  pmemsave of all guest RAM on both ends (QMP on the source,
             HMP on the destination) compared page by page in the outer
             VM: mismatched pages must be 0
  dst-runs   HMP cont on the destination: it runs, and the guest's pass
             counter moves on its console
  damon-stop the source's monitors stop with their event

--ring-size 0 runs both QEMUs with -accel kvm instead (KVM's dirty log
with manual protection) and dirty-bitmap monitors only (damon0 one):
their batched KVM_CLEAR_DIRTY_LOG re-arming (qemu-patches/0008) beside
migration's own dirty-log clears must lose no page either.

--let-destination-run is the negative control: the destination starts
without -S, so the guest runs on it from the end of the migration and
writes its hot set before the dumps: the comparison must find
mismatched pages (the test passes when it does).

Figures (RESULT line): pages compared, mismatched pages, aggregations
during the migration per monitor, damon0's best hot-set coverage and
WSS during it, migration time, downtime, MiB sent, dirty-sync count,
and the guest's passes during the migration.

Exits 0 if every step passed, 77 (SKIP) if this machine cannot run KVM
nested in TCG, 1 otherwise.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, hotset, nested, steps  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.hotset import WSS_ERR_MAX_NESTED  # noqa: E402
from harness.nested import (HmpPipe, NestedError, NestedHost, compare_dumps,  # noqa: E402
                            start_or_report)
from harness.qmp import QMPError, QMPProtocolError  # noqa: E402
from harness.report import Failed, run_step  # noqa: E402

SOCK = "/tmp/mig.sock"
SRC_RAM, DST_RAM = "/tmp/src.ram", "/tmp/dst.ram"
SOURCES = ("dirty-ring", "dirty-bitmap", "page-hash")


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=256, hot_start=16 * MIB, hot_size=4 * MIB)
    ap.add_argument("--ring-size", type=int, default=4096, metavar="N",
                    help="dirty-ring-size of both QEMUs (default: %(default)s); 0: "
                    "-accel kvm, KVM's dirty log with manual protection, where the "
                    "dirty-bitmap source re-protects pages with KVM_CLEAR_DIRTY_LOG")
    ap.add_argument("--monitors", default=None,
                    help="sources of the monitors running on the source, comma-"
                    "separated, the first dirty-ring (damon0; dirty-bitmap with "
                    "--ring-size 0); the others get ids mon1, mon2, ... (default: "
                    "dirty-ring,dirty-bitmap; with --ring-size 0 dirty-bitmap; "
                    "dirty-ring alone: the ring's observer only)")
    ap.add_argument("--sample-us", type=int, default=100000,
                    help="damon-start sample-us (default: %(default)s; why: "
                    "docs/notes/nested-harness.md)")
    ap.add_argument("--aggr-us", type=int, default=1000000,
                    help="damon-start aggr-us (default: %(default)s)")
    ap.add_argument("--bandwidth", type=int, default=64, metavar="MIB_S",
                    help="migration max-bandwidth in MiB/s (default: %(default)s)")
    ap.add_argument("--downtime-ms", type=int, default=1000, metavar="MS",
                    help="migration downtime-limit (default: %(default)s)")
    ap.add_argument("--min-aggregations", type=int, default=2, metavar="N",
                    help="aggregations each monitor must make while the migration "
                    "is active (default: %(default)s)")
    ap.add_argument("--migrate-timeout", type=float, default=300.0, metavar="S",
                    help="seconds allowed for the migration (default: %(default)s)")
    ap.add_argument("--let-destination-run", action="store_true",
                    help="negative control: the destination runs the guest on (no -S) "
                    "before its RAM is dumped, so the comparison must find mismatches")
    harg.add_run(ap, timeout=90.0, keep_what="the work directory (consoles, QEMU stderr)")
    args = ap.parse_args()
    first = "dirty-ring" if args.ring_size else "dirty-bitmap"
    if args.monitors is None:
        args.monitors = "dirty-ring,dirty-bitmap" if args.ring_size else "dirty-bitmap"
    args.sources = [s for s in args.monitors.split(",") if s]
    if not args.sources or args.sources[0] != first:
        ap.error("--monitors: the first must be %s, got %r" % (first, args.monitors))
    bad = [s for s in args.sources if s not in SOURCES]
    if bad:
        ap.error("--monitors: unknown source %s (allowed: %s)" % (bad[0], ", ".join(SOURCES)))
    if args.bandwidth < 1 or args.min_aggregations < 1:
        ap.error("--bandwidth and --min-aggregations must be at least 1")
    if args.hot_start % PAGE or args.hot_size % PAGE:
        ap.error("the hot range must be page aligned")
    args.accel = "kvm,dirty-ring-size=%d" % args.ring_size if args.ring_size else "kvm"
    return args


def guest_config(args):
    # fill_size all: every page holds the guest's pattern, so migration
    # sends data rather than zero pages and a lost write cannot hide in
    # a page that happens to stay zero
    return {"hot_start": args.hot_start, "hot_size": args.hot_size, "fill_size": "all"}


def monitor_ids(args):
    return [steps.MONITOR] + ["mon%d" % i for i in range(1, len(args.sources))]


def attrs(args):
    return {"sample-us": args.sample_us, "aggr-us": args.aggr_us}


def qmp_status(vm):
    return vm.qmp.execute("query-status")["status"]


# ---------------------------------------------------------------------------
# Steps

class Run:
    """One migration: the two QEMUs and what the steps found."""

    def __init__(self, host, rep, args):
        self.host, self.rep, self.args = host, rep, args
        self.src = None
        self.dst = None
        self.size = args.mem * MIB
        self.migrated = False

    def step_destination(self):
        host, args = self.host, self.args
        host.shell("rm -f %s %s %s" % (SOCK, SRC_RAM, DST_RAM))
        stay = [] if args.let_destination_run else ["-S"]
        self.dst = HmpPipe(host, args.accel, args.mem, guest_config(args),
                           stay + ["-incoming", "unix:" + SOCK], tag="dst")
        st = self.dst.status()
        if st != "inmigrate":
            raise Failed("destination is %r before the migration, expected 'inmigrate'" % st)
        self.rep.ok("destination", "QEMU pid %d (-accel %s, %d MiB, %s-incoming unix:%s), "
                    "HMP on a pipe: inmigrate"
                    % (self.dst.pid, args.accel, args.mem, "-S " if stay else "", SOCK))

    def step_source(self):
        args = self.args
        t0 = time.monotonic()
        self.src = self.host.start_inner(args.accel, mem_mib=args.mem,
                                         config=guest_config(args))
        # the fill of all RAM comes before the first pass
        steps.wait_first_pass(self.src, args.hot_start, args.hot_size, timeout=180)
        kvm = self.src.qmp.execute("query-kvm")
        if not (kvm.get("enabled") and kvm.get("present")):
            raise Failed("query-kvm says %r: not running under KVM" % kvm)
        fill = self.src.wait_console(r"^qdamon-workload: fill=0x[0-9a-f]+\+0x([0-9a-f]+) ",
                                     timeout=5)
        self.rep.figures["fill_mib"] = round(int(fill.group(1), 16) / MIB, 1)
        self.rep.ok("source", "inner QEMU pid %d (-accel %s, %d MiB): KVM enabled, %.1f MiB "
                    "filled with the pattern, first pass after %.1f s, hot=0x%x+0x%x"
                    % (self.src.pid, args.accel, args.mem, int(fill.group(1), 16) / MIB,
                       time.monotonic() - t0, args.hot_start, args.hot_size))

    def step_monitor(self):
        args, src = self.args, self.src
        steps.step_damon_start(src, self.rep, args.sources[0], attrs(args))
        steps.step_find_hot_set(src, self.rep, args.hot_start, args.hot_size, args.timeout,
                                args.verbose, WSS_ERR_MAX_NESTED)
        # the others start after damon0 has found the hot set: each
        # write-protecting source slows the nested guest down more
        others = list(zip(monitor_ids(args)[1:], args.sources[1:]))
        for mid, source in others:
            src.qmp.execute("damon-start", dict(attrs(args), id=mid, source=source))
            m = steps.monitor_info(src, mid)
            if m["state"] != "running" or m["source"] != source:
                raise Failed("query-damon: %s is %s with source %s"
                             % (mid, m["state"], m["source"]))
        if others:
            self.rep.ok("monitors", "beside damon0: %s running"
                        % ", ".join("%s (source %s)" % o for o in others))

    def step_migrate(self):
        args, src, rep = self.args, self.src, self.rep
        ids = monitor_ids(args)
        src.qmp.execute("migrate-set-parameters",
                        {"max-bandwidth": args.bandwidth * MIB,
                         "downtime-limit": args.downtime_ms})
        aggr0 = {i: steps.monitor_info(src, i)["nr-aggregations"] for i in ids}
        pass0 = src.passes()[-1][0]
        src.qmp.execute("migrate", {"uri": "unix:" + SOCK})
        t0 = time.monotonic()
        # damon0's aggregations made while the migration is active: a
        # snapshot read while status is still "active" was made during it
        seen = {}
        info = {}
        while True:
            info = src.qmp.execute("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            if info.get("status") == "active" and steps.monitor_info(src)[
                    "nr-aggregations"] not in seen:
                regions = src.qmp.execute("query-damon-regions", {"id": steps.MONITOR})
                n = regions["nr-aggregations"]
                if n > aggr0[steps.MONITOR] and n not in seen:
                    wss = src.qmp.execute("query-damon-wss", {"id": steps.MONITOR})
                    if src.qmp.execute("query-migrate").get("status") == "active":
                        seen[n] = hotset.Score(regions, wss, [args.hot_start],
                                               args.hot_size)
                        if args.verbose:
                            rep.info("t=%5.1f s aggr %d during the migration: %s; "
                                     "sent %.1f MiB, syncs %s"
                                     % (time.monotonic() - t0, n, seen[n].text(),
                                        info.get("ram", {}).get("transferred", 0) / MIB,
                                        info.get("ram", {}).get("dirty-sync-count")))
            if time.monotonic() - t0 > args.migrate_timeout:
                src.qmp.execute("migrate_cancel")
                raise Failed("the migration did not complete in %.0f s (cancelled): %r"
                             % (args.migrate_timeout, info))
            time.sleep(0.2)
        if info["status"] != "completed":
            raise Failed("migration %s: %s" % (info["status"], info.get("error-desc", "")))
        self.migrated = True
        ram = info["ram"]
        fig = rep.figures
        fig.update(mig_total_ms=info["total-time"], mig_downtime_ms=info.get("downtime"),
                   mig_sent_mib=round(ram["transferred"] / MIB, 1),
                   mig_dirty_syncs=ram["dirty-sync-count"],
                   mig_normal_pages=ram["normal"], mig_zero_pages=ram["duplicate"])
        # after completion, every monitor still runs and counted on
        during = {}
        for i in ids:
            m = steps.monitor_info(src, i)
            if m["state"] != "running":
                raise Failed("monitor %s is %s after the migration (%s)"
                             % (i, m["state"], m.get("stop-reason")))
            during[i] = m["nr-aggregations"] - aggr0[i]
            fig["aggr_during_%s" % i] = during[i]
        passes = src.passes()[-1][0] - pass0
        fig["guest_passes_during"] = passes
        st_src = qmp_status(src)
        t_dst = time.monotonic()
        want_dst = "running" if args.let_destination_run else "paused"
        st_dst = self.dst.status()
        while st_dst != want_dst and time.monotonic() - t_dst < 10:
            st_dst = self.dst.status()
        if st_src != "postmigrate" or st_dst != want_dst:
            raise Failed("after the migration: source %r (expected 'postmigrate'), "
                         "destination %r (expected %r)" % (st_src, st_dst, want_dst))
        # the checks the migration is here for, after the figures are in
        short = [i for i in ids if during[i] < args.min_aggregations]
        if short:
            raise Failed("monitor(s) %s made %s aggregations during the %d ms migration, "
                         "fewer than %d" % (", ".join(short),
                                            "/".join(str(during[i]) for i in short),
                                            info["total-time"], args.min_aggregations))
        if passes < 1:
            raise Failed("the guest made no pass during the migration")
        if not seen:
            raise Failed("no snapshot of damon0 read while the migration was active")
        best = max(seen.values(), key=lambda s: s.coverage)
        fig["during_best_coverage_pct"] = round(best.coverage * 100, 1)
        fig["during_max_wss_mib"] = round(max(s.wss_bytes for s in seen.values()) / MIB, 2)
        # the writes during the migration reach the monitor: whoever
        # reaped the ring entries (migration's syncs or qdamon), damon0
        # finds the hot set in at least one aggregation made meanwhile
        found = [n for n, s in sorted(seen.items()) if s.found(WSS_ERR_MAX_NESTED)]
        fig["during_found"] = len(found)
        if not found:
            raise Failed("damon0 did not find the hot set in any of the %d aggregations "
                         "read during the migration: %s"
                         % (len(seen), "; ".join(s.text() for s in seen.values())))
        rep.ok("migrate", "completed in %d ms (setup %s ms, downtime %s ms) at %d MiB/s: "
               "%.1f MiB sent (%d normal pages, %d zero pages), %d dirty syncs; guest "
               "made %d passes meanwhile; aggregations during it: %s; damon0 during it "
               "(%d snapshots read while active): hot set found in %d, best %s, WSS up to "
               "%.2f MiB; "
               "monitors running; source postmigrate, destination %s"
               % (info["total-time"], info.get("setup-time"), info.get("downtime"),
                  args.bandwidth, ram["transferred"] / MIB, ram["normal"], ram["duplicate"],
                  ram["dirty-sync-count"], passes,
                  ", ".join("%s %d" % (i, during[i]) for i in ids), len(seen), len(found),
                  best.text(), fig["during_max_wss_mib"], st_dst))

    def step_ram_equal(self):
        args, host, rep = self.args, self.host, self.rep
        t0 = time.monotonic()
        self.src.qmp.execute("pmemsave", {"val": 0, "size": self.size, "filename": SRC_RAM},
                             timeout=300)
        self.dst.pmemsave(0, self.size, DST_RAM, timeout=300)
        t1 = time.monotonic()
        try:
            size_src, size_dst, bad, _ = compare_dumps(host, SRC_RAM, DST_RAM)
        finally:
            host.shell("rm -f %s %s" % (SRC_RAM, DST_RAM))
        rep.figures.update(dump_s=round(t1 - t0, 1), cmp_s=round(time.monotonic() - t1, 1))
        if (size_src, size_dst) != (self.size, self.size):
            raise Failed("RAM dumps of %d and %d bytes, expected %d"
                         % (size_src, size_dst, self.size))
        pages = self.size // PAGE
        rep.figures.update(pages_compared=pages, mismatched_pages=bad)
        if args.let_destination_run:
            if not bad:
                raise Failed("the destination ran on, yet all %d pages equal the source's: "
                             "the comparison cannot fail" % pages)
            rep.ok("ram-differs", "negative control: the destination ran the guest on after "
                   "the migration; %d of %d pages differ from the source's, as they must"
                   % (bad, pages))
            return
        if bad:
            raise Failed("%d of %d pages of guest RAM differ between source and destination"
                     % (bad, pages))
        rep.ok("ram-equal", "all %d pages (%d MiB) of guest RAM equal on source and "
               "destination (pmemsave on both, cmp in the outer VM): mismatched pages 0; "
               "dumps %.1f s, comparison %.1f s" % (pages, args.mem, rep.figures["dump_s"],
                                                    rep.figures["cmp_s"]))

    def step_dst_runs(self):
        dst = self.dst
        before = dst.passes()
        dst.hmp("cont", wait=0.5)
        st = dst.status()
        if st != "running":
            raise Failed("destination is %r after cont" % st)
        deadline = time.monotonic() + 30
        while True:
            after = dst.passes()
            if len(after) >= len(before) + 2 and after[-1][0] > after[len(before)][0]:
                break
            if time.monotonic() > deadline:
                raise Failed("the guest on the destination made no progress in 30 s: "
                             "pass lines %s -> %s" % (before[-1:], after[-3:]))
            time.sleep(1)
        self.rep.figures["dst_pass"] = after[-1][0]
        self.rep.ok("dst-runs", "destination running after cont: the guest's pass counter "
                    "%d -> %d" % (after[len(before)][0], after[-1][0]))

    def step_damon_stop(self):
        ids = monitor_ids(self.args)
        for i in ids:
            self.src.qmp.execute("damon-stop", {"id": i})
        got = {}
        deadline = time.monotonic() + 10
        while len(got) < len(ids) and time.monotonic() < deadline:
            ev = self.src.qmp.wait_event("DAMON_STOPPED", timeout=max(0.1, deadline -
                                                                       time.monotonic()))
            if ev is not None:
                got[ev["data"]["id"]] = ev["data"]["reason"]
        if got != {i: "requested" for i in ids}:
            raise Failed("DAMON_STOPPED events: %r, expected one 'requested' per monitor %s"
                         % (got, ids))
        self.rep.ok("damon-stop", "on the postmigrate source: DAMON_STOPPED (requested) "
                    "for %s" % ", ".join(ids))

    def close(self):
        if self.src is not None:
            try:
                self.src.quit(timeout=20)
            except NestedError:
                pass
            self.src.close()
        if self.dst is not None:
            self.dst.kill()
        self.host.shell("rm -f %s %s %s" % (SOCK, SRC_RAM, DST_RAM))


def broken(error):
    return isinstance(error, (QMPProtocolError, NestedError))


def run(args, rep):
    log = (lambda line: rep.info("harness: " + line)) if args.verbose else None
    with NestedHost(qemu=args.qemu, firmware=args.firmware, keep_workdir=args.keep,
                    log=log) as host:
        if args.keep:
            rep.info("work directory: %s" % host.workdir)
        status = start_or_report(host, rep)
        if status is not None:
            return status
        rep.ok("outer-boot", "outer VM booted Linux %s in %.1f s"
               % (host.images.get("release", "?"), host.boot_s))
        r = Run(host, rep, args)
        try:
            todo = [("destination", r.step_destination), ("source", r.step_source),
                    ("monitor", r.step_monitor), ("migrate", r.step_migrate),
                    ("ram-equal", r.step_ram_equal)]
            if not args.let_destination_run:
                todo.append(("dst-runs", r.step_dst_runs))
            for name, fn in todo:
                if not run_step(rep, name, fn):
                    break
            # the monitors stop cleanly whether or not the rest passed
            if r.src is not None and not broken(rep.last_error):
                run_step(rep, "damon-stop", r.step_damon_stop)
        finally:
            try:
                r.close()
            except (QMPError, NestedError):
                pass
        host.poweroff()
    return 1 if rep.failed else 0


if __name__ == "__main__":
    nested.main("kvm-migration", run, parse_args())
