#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""reclaim.py - end-to-end test: DAMOS schemes reclaim a nested guest's cold memory to zram, losing nothing.

qdamon's schemes act on the host memory behind guest RAM (madvise,
move_pages), so their effect is only visible on a host kernel we own:
an outer VM (our QEMU under TCG) boots our kernel with page_idle, KVM,
zram and swap (harness.nested, kernel "idle"), sets up a zram swap
device inside itself (never on this machine), and runs our QEMU under
-accel kvm with the workload guest (tests/guest), 512 MiB, which fills
all its RAM with a pattern (fill_size=all, so every page is resident)
and then writes a 32 MiB hot set forever.  The rest, 479 MiB, is cold.
The monitor is damon-start's default, idle-page (QEMU runs as root in
the outer VM, where page_idle is), at 100 ms samples and 1 s
aggregations (as tests/nested/idle-page.py: see
docs/notes/nested-harness.md).  Each part boots a fresh inner QEMU:

  saved  a pageout scheme for regions with nr-accesses 0 for --age-s
         seconds (age-min 5 aggregations).  Once guest RAM's residency stops falling, the
         resident guest RAM, measured in the outer VM without asking
         qdamon (the Rss of QEMU's guest RAM mapping in
         /proc/PID/smaps, and VmRSS), must have dropped by >= 80% of
         the cold bytes, and that much of the mapping must be in swap
         (zram); qdamon's sz-applied must say the same.  Then the hot
         set must stay resident: over a 10 s window the guest keeps at
         least half its pass rate from before the scheme, pswpin (pages
         read back from swap, the whole outer VM) grows by at most 1% of
         the hot set's pages, and /proc/PID/pagemap shows >= 99% of
         them present.  Why that is sound: the guest writes every page
         of its hot set on every pass, hundreds of passes a second, so
         a hot page the scheme paged out comes back through swap-in
         within milliseconds and pswpin counts it; the pass rate says
         that the guest really touched its hot set in the window (a
         stalled guest would leave pswpin flat too), and pagemap says
         the hot pages are there at its end.  A hot region the scheme
         misjudged would come back whole at every apply, thousands of
         pages; the 1% (82 pages) leaves room for what region
         granularity does at the hot set's edges, where a region mixing
         a few hot pages with cold ones can sample as idle;
  quota  the same scheme with quotas.bytes B per reset-interval-ms R:
         sz-tried may grow by at most B per charge window.  Windows
         start at applies, so samples every R cannot tell them apart;
         query-damon-schemes is sampled as often as the monitor steps
         instead, and growth is given to windows by qt-exceeds, which
         counts one as each window that ran out ends (see windows()).
         At least 3 windows must use 90% of B, or the bound was not
         tested.  Also, however the samples fell, sz-tried <= B *
         (windows that fit since the first charge, + 1);
  goal   a pageout scheme with an rss-bytes goal of --goal-pct of guest
         RAM and a bytes quota as its ceiling.  The resident guest RAM
         (smaps, as above) must come within 10% of the target, reach
         the target (the goal's current-value, qdamon's own mincore(),
         at or below it: met), and stay within 10% of it for
         --goal-hold-s after that; and once the goal is met the
         effective quota must shrink below the ceiling within that
         time, as the schema says ("the quota grows while the goal is
         not met and shrinks once it is").  That last check is what
         tells a quota that backs off from one that goes on paging out
         at the ceiling and stays in the band only while its page-outs
         happen to be slow (most of its quota spent on regions already
         out).  The series is printed, and current-value must agree
         with smaps;
  lost   the guest re-reads and checks all of its RAM against the
         pattern every --verify-s seconds (verify_secs) while pageout,
         cold, nohugepage and migrate-cold (target-nid 0) schemes apply
         at every aggregation to regions idle for 2 of them, each in its
         own part of guest RAM (see lost_schemes()), and hugepage to the
         accessed ones, on THP-backed guest RAM (host THP madvise,
         khugepaged scanning every second): for --lost-s seconds, so
         that memory goes to zram and comes back again and again.
         Every verify must say bad=0, they must keep coming, the VM
         must run, pageout's sz-applied and the outer VM's pswpout and
         pswpin must all grow (memory went to zram and came back),
         every scheme must have applied, and none may have failed (the
         'failed' skip reason).

The saved, quota and goal parts run on 4 KiB host pages (THP never):
residency is then exact, and idle-page samples 4 KiB pages.

Exit status 0 if every step passed, 77 (SKIP) if this machine cannot run
the outer VM with KVM, 1 otherwise.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, pattern, report, steps  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.kdamond import guest_ram_hva  # noqa: E402
from harness.nested import NestedError, NestedHost, start_or_report  # noqa: E402
from harness.qmp import QMPError, QMPProtocolError  # noqa: E402
from harness.report import Failed, run_step  # noqa: E402

PARTS = ("saved", "quota", "goal", "lost")
THP = "/sys/kernel/mm/transparent_hugepage"
ZRAM = "/sys/block/zram0"
SAVED_MIN = 0.80            # of the cold bytes
HOT_WINDOW_S = 10.0
SETTLE_S = 10.0             # after convergence, before the hot-set window
HOT_PRESENT_MIN = 0.99      # of the hot set's pages
HOT_RATE_MIN = 0.5          # of the pass rate before the scheme
GOAL_BAND = 0.10            # of the target
STABLE_S = 15.0             # residency falling by < 1% of RAM in this long: converged
HOT_PSWPIN_MAX = 0.01       # pages read back from swap in the window, of the hot set's


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=512, hot_start=16 * MIB, hot_size=32 * MIB)
    ap.add_argument("--sample-us", type=int, default=100000,
                    help="damon-start sample-us (default: %(default)s)")
    ap.add_argument("--aggr-us", type=int, default=1000000,
                    help="damon-start aggr-us (default: %(default)s)")
    ap.add_argument("--age-s", type=float, default=5.0,
                    help="pageout when idle this long (default: %(default)s)")
    ap.add_argument("--converge-s", type=float, default=300.0,
                    help="seconds allowed for the saved part's pageout to finish "
                    "(default: %(default)s)")
    ap.add_argument("--quota-mib", type=int, default=16,
                    help="quota part: quotas.bytes, MiB (default: %(default)s)")
    ap.add_argument("--quota-ms", type=int, default=5000,
                    help="quota part: reset-interval-ms (default: %(default)s)")
    ap.add_argument("--quota-s", type=float, default=60.0,
                    help="quota part: seconds sampled (default: %(default)s)")
    ap.add_argument("--goal-pct", type=int, default=45,
                    help="goal part: rss-bytes target, %% of guest RAM (default: %(default)s)")
    ap.add_argument("--goal-ceiling-mib", type=int, default=16,
                    help="goal part: quotas.bytes per second (default: %(default)s)")
    ap.add_argument("--goal-s", type=float, default=480.0,
                    help="goal part: seconds allowed to reach the target (default: "
                    "%(default)s)")
    ap.add_argument("--goal-hold-s", type=float, default=20.0,
                    help="goal part: seconds it must stay within 10%% (default: "
                    "%(default)s)")
    ap.add_argument("--verify-s", type=int, default=6,
                    help="lost part: the guest's verify_secs (default: %(default)s)")
    ap.add_argument("--lost-s", type=float, default=150.0,
                    help="lost part: seconds the schemes act (default: %(default)s)")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="which parts (default: %(default)s)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every poll")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (consoles, QEMU stderr)")
    args = ap.parse_args()
    args.mem_bytes = args.mem * MIB
    args.age = max(1, round(args.age_s * 1e6 / args.aggr_us))
    return args


# ---- what the outer VM says about the inner QEMU's memory -----------------------

class Meter:
    """Reads, in the outer VM and without asking qdamon, how much of the
    inner QEMU's memory is resident and how much is in swap."""

    def __init__(self, host, inner, mem_bytes):
        self.host = host
        self.pid = inner.pid
        # QEMU's guest RAM: its largest anonymous mapping.  pageout and
        # cold leave the mapping whole; the lost part's (no)hugepage
        # schemes split it, and that part does not read it.
        self.base = guest_ram_hva(host, inner.pid, mem_bytes)

    def read(self):
        """{"rss", "swap" (the guest RAM mapping's, bytes), "vmrss",
        "vmswap" (the process's, bytes), "pswpin", "pswpout" (the outer
        VM's, pages), "t" (time.monotonic())}."""
        out = self.host.check(
            "grep -E '^(VmRSS|VmSwap):' /proc/%(pid)d/status; "
            "awk '/^[0-9a-f]+-[0-9a-f]+ / { m = index($0, \"%(base)x-\") == 1 } "
            "m && /^(Rss|Swap):/ { print \"ram\" $1, $2 }' /proc/%(pid)d/smaps; "
            "grep -E '^pswp(in|out) ' /proc/vmstat" % {"pid": self.pid, "base": self.base})
        got = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 2 and f[1].isdigit():
                got[f[0].rstrip(":")] = int(f[1])
        try:
            return {"rss": got["ramRss"] * 1024, "swap": got["ramSwap"] * 1024,
                    "vmrss": got["VmRSS"] * 1024, "vmswap": got["VmSwap"] * 1024,
                    "pswpin": got["pswpin"], "pswpout": got["pswpout"],
                    "t": time.monotonic()}
        except KeyError as e:
            raise Failed("cannot read %s from the outer VM: %r" % (e, out.strip()[-300:]))

    def pages(self, gpa, size):
        """(present, swapped, total) pages of guest RAM [gpa, gpa+size),
        from /proc/PID/pagemap (bit 63 present, bit 62 swapped)."""
        n = size // PAGE
        out = self.host.check(
            "dd if=/proc/%d/pagemap bs=8 iflag=skip_bytes skip=%d count=%d 2>/dev/null"
            " | od -An -v -tx8 -w8 | awk '{ c = substr($1, 1, 1) } c ~ /[89a-f]/ { p++ } "
            "c ~ /[4-7]/ { s++ } END { print p + 0, s + 0, NR }'"
            % (self.pid, (self.base + gpa) // PAGE * 8, n))
        present, swapped, total = (int(x) for x in out.split())
        if total != n:
            raise Failed("pagemap gave %d entries for %d pages" % (total, n))
        return present, swapped, total


def mib(n):
    return n / MIB


# ---- the outer VM and the inner QEMU ------------------------------------------------

def setup_swap(host, rep):
    """A 1 GiB zram swap device inside the outer VM (2 GiB of RAM): more
    than guest RAM, since the pattern does not compress and zram keeps
    every page paged out whole."""
    before = host.check("cat /proc/swaps").strip().splitlines()
    if len(before) > 1:
        raise Failed("the outer VM already has swap: %s" % " | ".join(before[1:]))
    host.check("[ -e %s/disksize ] || { echo 'no zram0 (CONFIG_ZRAM)'; exit 1; }" % ZRAM)
    host.check("echo 1G > %s/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0"
               % ZRAM)
    swaps = host.check("cat /proc/swaps").strip().splitlines()
    rep.ok("swap", "zram swap in the outer VM: %s (%s), %s" % (
        " ".join(swaps[-1].split()[:3]), host.check("cat %s/comp_algorithm" % ZRAM).strip(),
        " ".join(host.check("grep -E '^(MemTotal|MemFree):' /proc/meminfo").split())))


def boot(host, rep, args, thp, **config):
    """A fresh inner QEMU whose guest has filled all its RAM; returns
    (inner, passes per second before any scheme, pattern.fill_info())."""
    host.check("echo %s > %s/enabled" % (thp, THP))
    cfg = {"hot_start": args.hot_start, "hot_size": args.hot_size, "fill_size": "all"}
    cfg.update(config)
    t0 = time.monotonic()
    inner = host.start_inner("kvm", mem_mib=args.mem, config=cfg)
    try:
        inner.wait_console(pattern.FILL_DONE, timeout=300)
        inner.wait_console(r"^qdamon-workload: pass=\d+ t=2$", timeout=60)
        p0 = inner.passes()[-1]
        time.sleep(4)
        p1 = inner.passes()[-1]
        rate = (p1[0] - p0[0]) / (p1[1] - p0[1]) if p1[1] > p0[1] else None
        fill = pattern.fill_info(inner.console())
        ranges = inner.hot_ranges()
        if ranges.get("hot") != (args.hot_start, args.hot_size):
            raise Failed("guest reports hot=%s" % (ranges.get("hot"),))
    except BaseException:
        inner.close()
        raise
    rep.ok("boot", "inner QEMU pid %d, -accel kvm, %d MiB, host THP %s: filled "
           "[0x%x, 0x%x) in %d s, hot 0x%x+%d MiB, %s passes/s; up after %.0f s"
           % (inner.pid, args.mem, thp, fill[0], fill[1], fill[3], args.hot_start,
              args.hot_size // MIB, "%.0f" % rate if rate else "?",
              time.monotonic() - t0))
    return inner, rate, fill


def damon_start(inner, args, schemes):
    """damon-start with the default source (which must be idle-page) and
    schemes."""
    inner.qmp.execute("damon-start", {"sample-us": args.sample_us, "aggr-us": args.aggr_us,
                                      "schemes": schemes})
    m = steps.monitor_info(inner)
    if m["source"] != "idle-page" or m["state"] != "running":
        raise Failed("damon-start with no source: %s %s (%s), want idle-page running"
                     % (m["state"], m["source"], m.get("source-reason")))


# A query waits for the monitor thread to finish its step (damon_call),
# and a step applies every scheme: paging out hundreds of MiB in one
# step takes minutes in the nested host.  The longest wait is reported.
QUERY_TIMEOUT = 600.0
query_wait = {"max": 0.0}


def schemes_info(inner):
    t0 = time.monotonic()
    out = inner.qmp.execute("query-damon-schemes", {"id": steps.MONITOR},
                            timeout=QUERY_TIMEOUT)["schemes"]
    query_wait["max"] = max(query_wait["max"], time.monotonic() - t0)
    return out


def pageout(args, age=None, **extra):
    """A pageout scheme for idle regions (age in aggregations, default
    --age-s's), with more members from extra."""
    s = {"action": "pageout",
         "access-pattern": {"sz-min": PAGE, "nr-accesses-max": 0,
                            "age-min": args.age if age is None else age}}
    s.update(extra)
    return s


def stop(inner):
    """Stop damon0 if it runs, quietly: the part has its verdict."""
    try:
        if any(m["state"] == "running"
               for m in inner.qmp.execute("query-damon", timeout=QUERY_TIMEOUT)):
            inner.qmp.execute("damon-stop", timeout=QUERY_TIMEOUT)
            inner.qmp.wait_event("DAMON_STOPPED", timeout=30)
    except (QMPError, QMPProtocolError, NestedError):
        pass


def part(host, rep, args, name, body, thp="never", **config):
    """Boot a fresh inner QEMU (step boot) and run body(host, args, prep,
    inner, rate, fill) on it as step name; whatever happens, the inner
    QEMU goes at the end."""
    prep = rep.sub(name)
    booted = []
    query_wait["max"] = 0.0

    def diagnose(e):
        return "; " + booted[0][0].diagnose() if booted and host.running() else ""

    try:
        if run_step(prep, "boot", lambda: booted.append(boot(host, prep, args, thp,
                                                             **config))):
            run_step(prep, name, lambda: body(host, args, prep, *booted[0]), diagnose)
    finally:
        if booted:
            inner = booted[0][0]
            stop(inner)
            try:
                inner.quit(timeout=20)
            except Exception:
                pass
            inner.close()
    prep.figures["max_query_s"] = round(query_wait["max"], 1)
    rep.figures.update(("%s_%s" % (name, k), v) for k, v in prep.figures.items())


# ---- saved -------------------------------------------------------------------------

def converge(inner, meter, args, verbose_rep=None):
    """Poll until guest RAM's residency has fallen by less than 1% of
    guest RAM for STABLE_S seconds after pageout applied something (or
    --converge-s passed); returns (samples, seconds to converge or
    None)."""
    t0 = time.monotonic()
    samples = []
    while True:
        m = meter.read()
        st = schemes_info(inner)[0]["stats"]
        m["applied"] = st["sz-applied"]
        samples.append(m)
        if verbose_rep:
            verbose_rep.info("%5.0f s: guest RAM resident %.0f MiB, swap %.0f MiB, "
                             "sz-applied %.0f MiB" % (m["t"] - t0, mib(m["rss"]),
                                                      mib(m["swap"]), mib(st["sz-applied"])))
        if m["applied"]:
            old = [s for s in samples if s["applied"] and m["t"] - s["t"] >= STABLE_S]
            if old and old[-1]["rss"] - m["rss"] < args.mem_bytes / 100:
                return samples, old[-1]["t"] - t0
        if time.monotonic() - t0 > args.converge_s:
            return samples, None
        time.sleep(2)


def run_saved(host, args, prep, inner, rate, fill):
    meter = Meter(host, inner, args.mem_bytes)
    cold = (fill[1] - fill[0]) - args.hot_size
    m0 = meter.read()
    damon_start(inner, args, [pageout(args)])
    samples, conv_s = converge(inner, meter, args, prep if args.verbose else None)
    m1 = samples[-1]
    info = schemes_info(inner)[0]
    st = info["stats"]
    drop, vmdrop = m0["rss"] - m1["rss"], m0["vmrss"] - m1["vmrss"]
    prep.figures.update({"cold_mib": round(mib(cold)), "drop_mib": round(mib(drop)),
                         "saved_pct": round(drop * 100 / args.mem_bytes, 1),
                         "converge_s": round(conv_s) if conv_s is not None else "never"})
    text = ("cold %.0f MiB; guest RAM resident %.0f -> %.0f MiB (-%.0f MiB, %.0f%% of the "
            "cold bytes), in swap %.0f MiB; VmRSS %.0f -> %.0f MiB (-%.0f MiB); qdamon: "
            "sz-tried %.0f MiB, sz-applied %.0f MiB in %d regions; converged after %s"
            % (mib(cold), mib(m0["rss"]), mib(m1["rss"]), mib(drop), drop * 100 / cold,
               mib(m1["swap"]), mib(m0["vmrss"]), mib(m1["vmrss"]), mib(vmdrop),
               mib(st["sz-tried"]), mib(st["sz-applied"]), st["nr-applied"],
               "%.0f s" % conv_s if conv_s is not None else "never (%.0f s)" % args.converge_s))
    bad = [what for what, v in (("guest RAM Rss", drop), ("VmRSS", vmdrop),
                                ("guest RAM in swap", m1["swap"]),
                                ("qdamon's sz-applied", st["sz-applied"]))
           if v < SAVED_MIN * cold]
    if bad:
        raise Failed("below %d%% of the cold bytes: %s; %s"
                     % (SAVED_MIN * 100, ", ".join(bad), text))
    prep.ok("saved", text)

    def hot_set():
        # the regions at the hot set's edges go on splitting for some
        # aggregations after the bulk is out, paging out the last cold
        # pages next to it; the window is for what comes after
        time.sleep(SETTLE_S)
        p0, v0 = inner.passes()[-1], meter.read()
        time.sleep(HOT_WINDOW_S)
        p1, v1 = inner.passes()[-1], meter.read()
        present, swapped, total = meter.pages(args.hot_start, args.hot_size)
        on = (p1[0] - p0[0]) / (p1[1] - p0[1]) if p1[1] > p0[1] else 0.0
        swpin = v1["pswpin"] - v0["pswpin"]
        prep.figures.update({"hot_pswpin": swpin, "hot_present_pct":
                             round(present * 100 / total, 2),
                             "passes_off_on": "%.0f/%.0f" % (rate or 0, on)})
        text = ("over %.0f s: pswpin +%d pages, pswpout +%d; guest %.0f passes/s (%.0f "
                "before the scheme); hot set %d/%d pages present, %d in swap"
                % (v1["t"] - v0["t"], swpin, v1["pswpout"] - v0["pswpout"], on, rate or 0,
                   present, total, swapped))
        if swpin > HOT_PSWPIN_MAX * total or present < HOT_PRESENT_MIN * total or \
                not rate or on < HOT_RATE_MIN * rate:
            raise Failed("the hot set did not stay resident (want pswpin <= %d pages, "
                         ">= %d%% present, >= %d%% of the pass rate): %s"
                         % (HOT_PSWPIN_MAX * total, HOT_PRESENT_MIN * 100,
                            HOT_RATE_MIN * 100, text))
        prep.ok("hot-set", text)

    def hmp():
        text = inner.qmp.execute("human-monitor-command", {"command-line": "info damon"},
                                 timeout=QUERY_TIMEOUT)
        lines = [line.strip() for line in text.splitlines()
                 if line.strip().startswith("scheme 0: pageout")]
        if not lines:
            raise Failed("HMP info damon has no 'scheme 0: pageout' line: %r" % text)
        prep.ok("hmp", lines[0])

    run_step(prep, "hot-set", hot_set)
    run_step(prep, "hmp", hmp)
    run_step(prep, "running", lambda: steps.step_still_running(inner, prep))


# ---- quota -------------------------------------------------------------------------

def windows(samples):
    """sz-tried's growth per charge window: {qt-exceeds: bytes}, from
    samples [(sz-tried, qt-exceeds)], one per monitor step or more often.

    A window starts at the first apply at least reset-interval-ms after
    the last one began, and its quota may go at any of its applies, so
    samples taken every reset interval cannot tell two windows' charges
    apart.  But qt-exceeds counts the windows that ran out, and it
    counts one when the next window starts: with a quota that runs out
    in every window, growth seen with qt-exceeds at k is window k's.
    Queries run between the monitor's steps, and a step applies at most
    once, so a sample taken as often as the steps come sees one apply's
    charge at a time."""
    out = {}
    for (a, _), (b, qt) in zip(samples, samples[1:]):
        if b != a:
            out[qt] = out.get(qt, 0) + b - a
    return out


def run_quota(host, args, prep, inner, rate, fill):
    quota, reset_ms = args.quota_mib * MIB, args.quota_ms
    damon_start(inner, args, [pageout(args, quotas={"bytes": quota,
                                                     "reset-interval-ms": reset_ms})])
    samples = []
    t0 = time.monotonic()
    t_first = None      # when the last sample before the first charge was taken
    while time.monotonic() - t0 < args.quota_s:
        t = time.monotonic()
        info = schemes_info(inner)[0]
        st = info["stats"]
        if not st["sz-tried"]:
            t_first = t
        samples.append((st["sz-tried"], st["qt-exceeds"]))
        time.sleep(0.3)
    info = schemes_info(inner)[0]
    st = info["stats"]
    samples.append((st["sz-tried"], st["qt-exceeds"]))
    wins = windows(samples)
    worst = max(wins.values(), default=0)
    # however the samples fell, no more windows than this can have begun
    # since the first charge, each charging at most the quota
    span = time.monotonic() - (t_first if t_first is not None else t0)
    bound = quota * (int(span * 1000 // reset_ms) + 1)
    full = sum(1 for v in wins.values() if v >= 0.9 * quota)
    prep.figures.update({"max_window_mib": round(mib(worst), 2), "windows": len(wins)})
    text = ("quota %d MiB per %d ms: %d windows charged, max growth per window %.2f MiB "
            "(%s MiB); sz-tried %.0f MiB in %.0f s since the first charge (at most %.0f "
            "MiB), sz-applied %.0f MiB, qt-exceeds %d, effective-quota-bytes %s; %d samples"
            % (args.quota_mib, reset_ms, len(wins), mib(worst),
               " ".join("%.0f" % mib(v) for _, v in sorted(wins.items())),
               mib(st["sz-tried"]), span, mib(bound), mib(st["sz-applied"]),
               st["qt-exceeds"], info.get("effective-quota-bytes"), len(samples)))
    if worst > quota or st["sz-tried"] > bound:
        raise Failed("sz-tried grew past the quota: %s" % text)
    if full < 3:
        raise Failed("fewer than 3 windows used (90%% of) their quota, so the bound was "
                     "not tested: %s" % text)
    if info.get("effective-quota-bytes") != quota:
        raise Failed("effective-quota-bytes is not the quota: %s" % text)
    prep.ok("quota", text)


# ---- goal --------------------------------------------------------------------------

def goal_sample(inner, meter, t0):
    """(s since t0, resident bytes by smaps, the goal's current-value,
    effective-quota-bytes)."""
    m = meter.read()
    info = schemes_info(inner)[0]
    return (m["t"] - t0, m["rss"], info["scheme"]["quotas"]["goals"][0].get("current-value"),
            info.get("effective-quota-bytes"))


def run_goal(host, args, prep, inner, rate, fill):
    meter = Meter(host, inner, args.mem_bytes)
    target = args.mem_bytes * args.goal_pct // 100
    ceiling = args.goal_ceiling_mib * MIB
    lo, hi = target * (1 - GOAL_BAND), target * (1 + GOAL_BAND)
    damon_start(inner, args, [pageout(args, quotas={
        "bytes": ceiling, "reset-interval-ms": 1000, "weights": {"age": 1},
        "goals": [{"metric": "rss-bytes", "target-value": target}]})])
    t0 = time.monotonic()
    series, disagree = [], []
    entered = met = shrank = verdict = None
    while verdict is None:
        t, rss, cur, quota = sample = goal_sample(inner, meter, t0)
        series.append(sample)
        # mincore() and smaps count the same resident pages, read a
        # moment apart while the scheme pages out (a ceiling per second)
        if cur is not None and abs(cur - rss) > 2 * ceiling:
            disagree.append((round(t), mib(cur), mib(rss)))
        inside = lo <= rss <= hi
        if inside and entered is None:
            entered = t
        if met is None and cur is not None and cur <= target:
            met = t
        if met is not None and shrank is None and quota is not None and quota < ceiling:
            shrank = t
        if entered is not None and not inside:
            verdict = "left the band after %.0f s within it" % (t - entered)
        elif met is not None and t - met >= args.goal_hold_s:
            verdict = "ok" if shrank is not None else (
                "the effective quota stayed at the ceiling for %.0f s after the goal was met"
                % (t - met))
        elif met is None and t > args.goal_s:
            verdict = "the target not reached in %.0f s" % args.goal_s
        else:
            time.sleep(2)
    if verdict != "ok":
        # more of the series, to show where it goes (out of the band?)
        for _ in range(30):
            time.sleep(2)
            series.append(goal_sample(inner, meter, t0))
            if not lo <= series[-1][1] <= hi:
                break
    st = schemes_info(inner)[0]["stats"]
    prep.info("goal series (s: resident MiB by smaps / qdamon's current-value MiB / "
              "effective quota KiB):")
    for i in range(0, len(series), 8):
        prep.info("  " + "  ".join(
            "%.0f:%.1f/%s/%s" % (t, mib(r), "%.1f" % mib(c) if c is not None else "-",
                                 "%.0f" % (q / 1024) if q is not None else "-")
            for t, r, c, q in series[i:i + 8]))

    def when(t):
        return "%.0f s" % t if t is not None else "never"

    text = ("target %.0f MiB (%d%% of guest RAM), band [%.0f, %.0f] MiB, ceiling %d MiB/s: "
            "%s; resident %.0f -> %.0f MiB (min %.0f); within the band from %s, goal met "
            "(current-value <= target) from %s, quota below the ceiling from %s; "
            "sz-tried %.0f MiB, sz-applied %.0f MiB"
            % (mib(target), args.goal_pct, mib(lo), mib(hi), args.goal_ceiling_mib,
               verdict, mib(series[0][1]), mib(series[-1][1]),
               mib(min(s[1] for s in series)), when(entered), when(met), when(shrank),
               mib(st["sz-tried"]), mib(st["sz-applied"])))
    prep.figures.update({"reached_s": round(entered) if entered is not None else "never",
                         "final_mib": round(mib(series[-1][1]))})
    if verdict != "ok":
        raise Failed(text)
    if disagree:
        raise Failed("qdamon's current-value and smaps disagree (s, MiB, MiB): %s; %s"
                     % (disagree[:5], text))
    prep.ok("goal", text)


# ---- lost --------------------------------------------------------------------------

def lost_schemes(args):
    """The lost part's schemes.  Applying an action resets the region's
    age (as in Linux: the action changed how it will be accessed), so
    schemes for the same idle regions would starve each other (the one
    with the smallest age-min would win every region); each idle scheme
    gets its own quarter or eighth of guest RAM with an addr filter.
    pageout gets only an eighth: paging out and reading back through
    zram is what is slow in the nested host."""
    mem = args.mem_bytes

    def idle(action, start, end, **extra):
        s = {"action": action, "access-pattern": {"nr-accesses-max": 0, "age-min": 2},
             "filters": [{"type": "addr", "allow": True, "start": start, "end": end}]}
        s.update(extra)
        return s

    return [
        idle("pageout", mem // 8, mem // 4),
        idle("cold", mem // 4, mem // 2),
        idle("nohugepage", mem // 2, mem * 3 // 4),
        idle("migrate-cold", mem * 3 // 4, mem, **{"target-nid": 0}),
        {"action": "hugepage", "access-pattern": {"nr-accesses-min": 1}},
    ]


def run_lost(host, args, prep, inner, rate, fill):
    meter = Meter(host, inner, args.mem_bytes)
    # khugepaged collapses the guest's huge pages again soon, not in 10 s
    host.check("echo 1000 > %s/khugepaged/scan_sleep_millisecs" % THP)
    v_before = len(pattern.verifies(inner.console()))
    m0 = meter.read()
    damon_start(inner, args, lost_schemes(args))
    t0 = time.monotonic()
    first_applied = None
    while time.monotonic() - t0 < args.lost_s:
        time.sleep(5)
        infos = schemes_info(inner)
        if first_applied is None and infos[0]["stats"]["sz-applied"]:
            first_applied = len(pattern.verifies(inner.console()))
        bad = [v for v in pattern.verifies(inner.console()) if v[1]]
        if bad:
            break
        if args.verbose:
            prep.info("%3.0f s: %s; verifies %d" % (
                time.monotonic() - t0, ", ".join("%s %.0f MiB" % (
                    i["scheme"]["action"], mib(i["stats"]["sz-applied"])) for i in infos),
                len(pattern.verifies(inner.console()))))
    m1 = meter.read()
    infos = schemes_info(inner)
    vs = pattern.verifies(inner.console())
    after = vs[v_before:]
    # verifies that ended after the poll that first saw pageout apply
    # something: all but the first of them began after it
    since_pageout = vs[first_applied:] if first_applied is not None else []
    last_t = inner.passes()[-1][1]
    stats = ", ".join("%s %s tried %.0f MiB in %d, applied %.0f MiB in %d%s" % (
        i["index"], i["scheme"]["action"], mib(i["stats"]["sz-tried"]),
        i["stats"]["nr-tried"], mib(i["stats"]["sz-applied"]), i["stats"]["nr-applied"],
        "".join(" (skipped %s %.0f MiB%s)" % (s["reason"], mib(s["bytes"]),
                                             ": " + s["last-error"] if "last-error" in s
                                             else "") for s in i["skipped"]))
        for i in infos)
    swpout, swpin = m1["pswpout"] - m0["pswpout"], m1["pswpin"] - m0["pswpin"]
    text = ("%d verifies in %.0f s (%d after the first pageout), bad=%s; pswpout +%.0f MiB, "
            "pswpin +%.0f MiB; %s"
            % (len(after), time.monotonic() - t0, len(since_pageout),
               "/".join(str(v[1]) for v in after) or "-", swpout * PAGE / MIB,
               swpin * PAGE / MIB, stats))
    prep.figures.update({"verifies": len(after), "pswpout_mib": round(swpout * PAGE / MIB),
                         "pswpin_mib": round(swpin * PAGE / MIB)})
    if any(v[1] for v in vs):
        first = [v for v in vs if v[1]][0]
        raise Failed("the guest read back what it did not write: verify=%d bad=%d "
                     "first_bad=0x%x; %s" % (first[0], first[1], first[2] or 0, text))
    if len(since_pageout) < 2:
        raise Failed("fewer than 2 verifies after the first pageout: %s" % text)
    if vs and last_t - vs[-1][3] > 3 * args.verify_s + 60:
        raise Failed("the verifies stopped coming (last began at t=%d, the guest is at "
                     "t=%d): %s" % (vs[-1][3], last_t, text))
    if not swpout or not swpin or not infos[0]["stats"]["sz-applied"]:
        raise Failed("memory did not go to zram and come back: %s" % text)
    idle = [i["scheme"]["action"] for i in infos if not i["stats"]["sz-applied"]]
    if idle:
        raise Failed("schemes that never applied: %s; %s" % (", ".join(idle), text))
    failed = [i["scheme"]["action"] for i in infos
              if any(s["reason"] == "failed" for s in i["skipped"])]
    if failed:
        raise Failed("the host kernel refused the action of %s: %s" % (", ".join(failed), text))
    prep.ok("lost", text)
    steps.step_still_running(inner, prep)


def run(args, rep):
    log = (lambda line: rep.info("harness: " + line)) if args.verbose else None
    wanted = args.parts.split(",")
    with NestedHost(qemu=args.qemu, firmware=args.firmware, keep_workdir=args.keep,
                    log=log, kernel="idle") as host:
        status = start_or_report(host, rep)
        if status is not None:
            return status
        rep.ok("outer-boot", "Linux %s, NUMA nodes: %s" % (
            host.images.get("release", "?"),
            host.check("ls -d /sys/devices/system/node/node* | tr '\\n' ' '").strip()))
        if not run_step(rep, "swap", lambda: setup_swap(host, rep)):
            return 1
        bodies = {"saved": run_saved, "quota": run_quota, "goal": run_goal,
                  "lost": run_lost}
        for name in PARTS:
            if name == "lost" and name in wanted:
                # THP on: (no)hugepage have something to do, and pageout
                # meets huge pages as well as small ones
                part(host, rep, args, name, run_lost, thp="madvise",
                     verify_secs=args.verify_s)
            elif name in wanted:
                part(host, rep, args, name, bodies[name])
        host.shell("swapoff /dev/zram0", timeout=300)
        host.poweroff()
    return 1 if rep.failed else 0


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("reclaim", lambda rep: run(ARGS, rep))
