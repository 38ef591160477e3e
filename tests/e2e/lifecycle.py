#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""lifecycle.py - end-to-end test: DAMON monitors through the VM's lifecycle events.

The workload guest (tests/guest) fills all its RAM with the checkable
pattern, writes a small hot set and re-reads the pattern every
--verify-secs; it takes commands from the keyboard (commands=1: QMP
send-key "r" makes it reset the machine, "s" power it off through ACPI)
and ejects DIMMs whose unplug is requested (eject_slots).  Four monitors
run on it: "bitmap" (dirty-bitmap, a stat scheme), "hash" (page-hash, a
cold scheme, every 20 ms, on the idle part of 32 MiB at half of
RAM), "tcg" (tcg-accessed) and "virt"
(dirty-bitmap on the virtual clock).  Then, one at a time:

  stop-cont      stop, 1 s stopped, cont;
  reset          QMP system_reset;
  reboot         the guest resets the machine (keyboard controller);
  poweroff       the guest powers off (ACPI S5); with -no-shutdown QEMU
                 stays, then system_reset and cont;
  savevm         HMP savevm to a qcow2 node made with blockdev-create;
  loadvm         HMP loadvm of it, a few seconds later;
  hotplug        a 128 MiB pc-dimm (object-add, device_add);
  unplug         device_del: the guest ejects it;
  migrate-fail   a migration whose destination QEMU is killed half-way;
  dump           (no event) a pmemsave dump of the fill range matches
                 the pattern;
  sigterm        QEMU gets SIGTERM: it exits with status 0 (a hang is
                 a failure after 60 s);
  sigint         a second QEMU with the same monitors gets SIGINT.
                 Before each kill a fifth monitor starts whose scheme
                 applies every millisecond, to catch a monitor thread
                 touching what QEMU's exit has already freed.

Each event's PASS line says what the monitors did, as measured.  After
each event (but the kills): QEMU runs, query-damon lists the four
monitors running, each aggregates on, no DAMON_STOPPED came, the guest
runs (new pass= lines; after a reset it started again: a new fill and
pass=1), and every guest verify line says bad=0.  QEMU's stderr must
have no sanitizer report ('ERROR: AddressSanitizer', 'runtime error:'):
run it with --qemu _work/qemu-build-asan/qemu-system-x86_64 too.

Prints one PASS/FAIL/SKIP line per step, a RESULT line at the end, and
exits 0 only if every step passed.
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, pattern, ramcmp, report, sanitizers  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.qmp import QMPError  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

# The cold scheme applies every 20 ms (not every 100 ms aggregation), so
# that even a loadvm of 0.15 s has applies that must wait; with no
# minimum age, since an action resets the age of what it acted on; to
# 32 MiB of idle RAM only, so that so many applies stay cheap.
COLD = {"nr-accesses-max": 0}
COLD_APPLY_US = 20000
COLD_MIB = 32


def monitor_list(mem_mib):
    cold = {"action": "cold", "access-pattern": COLD, "apply-interval-us": COLD_APPLY_US,
            "filters": [{"type": "addr", "start": mem_mib // 2 * MIB,
                         "end": (mem_mib // 2 + COLD_MIB) * MIB, "allow": True}]}
    return [
        ("bitmap", {"source": "dirty-bitmap", "schemes": [{"action": "stat"}]}),
        ("hash", {"source": "page-hash", "schemes": [cold]}),
        ("tcg", {"source": "tcg-accessed"}),
        ("virt", {"source": "dirty-bitmap", "clock": "virtual"}),
    ]


MONITORS = monitor_list(256)    # replaced by --mem's in main
REALTIME = ["bitmap", "hash", "tcg"]
SCHEME_MONITOR = "hash"
DIMM_MIB = 128
SANITIZER_RE = re.compile(sanitizers.REPORT + "|ThreadSanitizer")
BOOT_LINE = "qdamon-workload: start\n"
MIG_BANDWIDTH = 24 * MIB        # bytes/s: slow enough to kill it half-way
MIG_KILL_AT = 32 * MIB          # bytes sent when the destination dies


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=256, hot_start=16 * MIB, hot_size=4 * MIB)
    ap.add_argument("--verify-secs", type=int, default=2, metavar="S",
                    help="the guest's verify_secs (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=90.0, metavar="S",
                    help="seconds allowed for a boot with its fill, and for "
                    "each wait after an event (default: %(default)s)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directories (console, QEMU stderr)")
    return ap.parse_args()


def vm_config(args):
    return {"hot_start": args.hot_start, "hot_size": args.hot_size,
            "fill_size": "all", "verify_secs": args.verify_secs,
            "commands": 1, "eject_slots": 2}


def new_vm(args, extra=()):
    """Reboots allowed, and a guest power-off leaves QEMU up."""
    return WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=vm_config(args),
                      extra_args=["-m", "%d,slots=2,maxmem=%dM" % (args.mem, args.mem + 512),
                                  "-no-shutdown"] + list(extra),
                      keep_workdir=args.keep, env=sanitizers.ASAN_ENV, no_reboot=False)


def sanitizer_report(vm, rep=None, lines=40):
    """The first sanitizer line in QEMU's stderr, or None; with rep, the
    report's first lines go out as info lines too."""
    text = vm.stderr_text()
    m = SANITIZER_RE.search(text)
    if not m:
        return None
    line_start = text.rfind("\n", 0, m.start()) + 1
    if rep is not None:
        for line in text[line_start:].splitlines()[:lines]:
            rep.info(line)
    return text[line_start:text.find("\n", m.start())]


class Life:
    """The VM, its monitors and its guest's console, seen per boot."""

    def __init__(self, args, vm, rep):
        self.args, self.vm, self.rep = args, vm, rep
        self.fill = None
        self.seed = None
        self.events = []        # QMP events seen (names), for the record

    # -- the guest

    def boots(self):
        """The console split at each start of the guest, one text a boot."""
        return self.vm.console().split(BOOT_LINE)[1:]

    def boot_passes(self):
        text = self.boots()[-1] if self.boots() else ""
        return [int(m.group(1)) for m in
                re.finditer(r"^qdamon-workload: pass=(\d+) t=\d+$", text, re.M)]

    def verifies(self):
        return pattern.verifies(self.vm.console())

    def check_verifies(self):
        bad = [v for v in self.verifies() if v[1]]
        if bad:
            raise Failed("guest verify lines with bad words: %s" % bad[:4])

    def wait(self, what, cond, timeout=None):
        """Poll cond() until it returns something true; return it."""
        deadline = time.monotonic() + (timeout or self.args.timeout)
        while True:
            got = cond()
            if got:
                return got
            self.vm._check_alive()
            if time.monotonic() >= deadline:
                raise Failed("%s: not within %.0f s" % (what, timeout or self.args.timeout))
            time.sleep(0.1)

    def wait_boot(self, nr_boots, peak=None):
        """Wait for boot number nr_boots to fill its RAM and pass 1;
        peak(), if given, is called while waiting.  Return the fill's
        seconds by the guest's clock."""
        def booted():
            if peak:
                peak()
            boots = self.boots()
            if len(boots) < nr_boots:
                return None
            text = boots[nr_boots - 1]
            info = pattern.fill_info(text)
            if info and re.search(r"^qdamon-workload: pass=1 t=0$", text, re.M):
                return info
            return None
        start, end, seed, secs = self.wait("boot %d (fill and first pass)" % nr_boots,
                                           booted)
        if (start, end, seed) != (self.fill[0], self.fill[1], self.seed):
            raise Failed("boot %d filled 0x%x+0x%x seed=0x%x, the first boot 0x%x+0x%x"
                         % (nr_boots, start, end - start, seed, self.fill[0],
                            self.fill[1] - self.fill[0]))
        return secs

    def guest_runs(self):
        """New pass= lines, and a new verify line, all verify lines bad=0.
        Return text."""
        n0 = len(self.boot_passes())
        v0 = len(self.verifies())
        self.wait("the guest's pass= lines going on",
                  lambda: len(self.boot_passes()) >= n0 + 2)
        self.wait("a new guest verify line", lambda: len(self.verifies()) > v0)
        self.check_verifies()
        p = self.boot_passes()
        return "guest pass %d -> %d, verify=%d bad=0" % (p[n0 - 1] if n0 else 0, p[-1],
                                                       self.verifies()[-1][0])

    # -- the monitors

    def monitors(self):
        return {m["id"]: m for m in self.vm.qmp.execute("query-damon")}

    def aggr(self):
        return {k: v["nr-aggregations"] for k, v in self.monitors().items()}

    def scheme(self):
        """The cold scheme's applied and 'migration'-skipped bytes."""
        s = self.vm.qmp.execute("query-damon-schemes", {"id": SCHEME_MONITOR})["schemes"][0]
        waited = sum(k["bytes"] for k in s["skipped"] if k["reason"] == "migration")
        return {"applied": s["stats"]["sz-applied"], "tried": s["stats"]["sz-tried"],
                "waited": waited}

    def wss(self, mon="bitmap"):
        return self.vm.qmp.execute("query-damon-wss", {"id": mon})["wss-bytes"]

    def start_monitors(self):
        for name, attrs in MONITORS:
            self.vm.qmp.execute("damon-start", dict(attrs, id=name))

    def monitors_run(self, before, more=3):
        """Every monitor listed, running, and nr-aggregations at least
        more past before; no DAMON_STOPPED.  Return the aggregations now."""
        def advanced():
            ms = self.monitors()
            for name, _ in MONITORS:
                if name not in ms:
                    raise Failed("query-damon does not list %s" % name)
                if ms[name]["state"] != "running":
                    raise Failed("%s is %s: %r" % (name, ms[name]["state"], ms[name]))
            if all(ms[n]["nr-aggregations"] >= before[n] + more for n, _ in MONITORS):
                return ms
            return None
        ms = self.wait("every monitor aggregating on", advanced)
        self.take_events()
        return ms

    def take_events(self):
        evs = self.vm.qmp.events()
        self.events += [e["event"] for e in evs]
        stopped = [e for e in evs if e["event"] == "DAMON_STOPPED"]
        if stopped:
            raise Failed("DAMON_STOPPED: %s" % [e["data"] for e in stopped])
        return evs

    def alive(self):
        self.vm._check_alive()
        bad = sanitizer_report(self.vm, self.rep)
        if bad:
            raise Failed("QEMU stderr: %s" % bad)

    def after(self, before):
        """The checks after an event; return their text."""
        self.alive()
        guest = self.guest_runs()
        ms = self.monitors_run(before)
        status = self.vm.qmp.execute("query-status")["status"]
        if status != "running":
            raise Failed("query-status says %r" % status)
        return "%s; all 4 monitors running, aggregations %s; regions %s" % (
            guest, " ".join("%s %d->%d" % (n, before[n], ms[n]["nr-aggregations"])
                            for n, _ in MONITORS),
            "/".join(str(ms[n]["nr-regions"]) for n, _ in MONITORS))


# ---------------------------------------------------------------------------
# Events

def step_boot(life, rep):
    vm, args = life.vm, life.args
    vm.start()
    vm.wait_console(pattern.FILL_DONE, timeout=args.timeout)
    vm.wait_console(r"^qdamon-workload: pass=1 t=0$", timeout=args.timeout)
    for want in ("commands from the keyboard", "eject DIMM slots 0..1"):
        if want not in vm.console():
            raise Failed("guest console lacks %r: is %s too old?" % (want, vm.firmware))
    start, end, seed, secs = pattern.fill_info(vm.console())
    life.fill, life.seed = (start, end), seed
    life.start_monitors()
    ms = life.monitors_run({n: 0 for n, _ in MONITORS})
    rep.figures["fill_mib"] = (end - start) // MIB
    rep.ok("boot", "guest filled 0x%x+0x%x seed=0x%x in %d s; monitors %s started: %s"
           % (start, end - start, seed, secs, ", ".join(
               "%s (%s, %s%s)" % (n, ms[n]["source"], ms[n]["clock"],
                                 ", %s scheme" % a["schemes"][0]["action"]
                                 if "schemes" in a else "")
               for n, a in MONITORS),
              " ".join("%s %d" % (n, ms[n]["nr-aggregations"]) for n, _ in MONITORS)))


def while_paused(life, secs=1.0):
    """Aggregations of each monitor over secs while the VM does not run."""
    a0 = life.aggr()
    time.sleep(secs)
    a1 = life.aggr()
    return {n: a1[n] - a0[n] for n in a0}


def paused_text(delta, secs=1.0):
    return ("in %.0f s paused: %s" % (secs, " ".join("%s +%d" % (n, delta[n])
                                                      for n, _ in MONITORS)))


def check_paused(delta):
    """The documented rule: the virtual clock stops with the VM."""
    if delta["virt"] != 0:
        raise Failed("virt (virtual clock) made %d aggregations while the VM was "
                     "paused" % delta["virt"])


def ev_stop_cont(life, rep):
    before = life.aggr()
    life.vm.qmp.execute("stop")
    delta = while_paused(life)
    check_paused(delta)
    life.vm.qmp.execute("cont")
    rep.add("stopped_aggr", delta["bitmap"])
    text = life.after(before)
    rep.ok("stop-cont", "realtime monitors keep going, virt pauses (%s); after cont: %s"
           % (paused_text(delta), text))


def refill_peak(life):
    """A closure that records the bitmap monitor's peak WSS."""
    peak = {"wss": 0}

    def poll():
        peak["wss"] = max(peak["wss"], life.wss())
    return peak, poll


def reset_like(life, rep, name, trigger, want_event):
    """A reset by trigger(): the guest boots again and refills."""
    before = life.aggr()
    n = len(life.boots())
    trigger()
    peak, poll = refill_peak(life)
    fill_s = life.wait_boot(n + 1, peak=poll)
    evs = [e for e in life.take_events() if e["event"] == want_event[0]]
    if not evs or evs[0]["data"].get("reason") != want_event[1]:
        raise Failed("no %s event with reason %s (got %s)"
                     % (want_event[0], want_event[1], life.events[-6:]))
    text = life.after(before)
    rep.add("%s_wss_peak_mib" % name, round(peak["wss"] / MIB))
    return ("keeps going across the reset, no restart: saw the guest's refill "
            "(bitmap wss peak %.0f MiB while boot %d filled in %d s); %s event "
            "reason=%s; %s" % (peak["wss"] / MIB, n + 1, fill_s, want_event[0],
                               want_event[1], text))


def ev_reset(life, rep):
    text = reset_like(life, rep, "reset", lambda: life.vm.qmp.execute("system_reset"),
                      ("RESET", "host-qmp-system-reset"))
    rep.ok("reset", text)


def ev_reboot(life, rep):
    def press():
        life.vm.qmp.execute("send-key", {"keys": [{"type": "qcode", "data": "r"}]})
    text = reset_like(life, rep, "reboot", press, ("RESET", "guest-reset"))
    if "command=reboot" not in life.boots()[-2]:
        raise Failed("the guest did not say command=reboot before the reset")
    rep.ok("reboot", text)


def ev_poweroff(life, rep):
    vm = life.vm
    before = life.aggr()
    n = len(life.boots())
    vm.qmp.execute("send-key", {"keys": [{"type": "qcode", "data": "s"}]})
    ev = vm.qmp.wait_event("SHUTDOWN", timeout=life.args.timeout)
    if ev is None or ev["data"].get("reason") != "guest-shutdown":
        raise Failed("no SHUTDOWN event (guest-shutdown) after the key: %r" % ev)
    status = vm.qmp.execute("query-status")["status"]
    if status != "shutdown":
        raise Failed("query-status after the power-off says %r, expected 'shutdown' "
                     "(-no-shutdown)" % status)
    ms = life.monitors()
    if any(ms[n_]["state"] != "running" for n_, _ in MONITORS):
        raise Failed("monitors after the power-off: %r" % {k: v["state"] for k, v in ms.items()})
    delta = while_paused(life)
    check_paused(delta)
    vm.qmp.execute("system_reset")
    vm.qmp.execute("cont")
    fill_s = life.wait_boot(n + 1)
    text = life.after(before)
    rep.ok("poweroff", "guest ACPI S5: SHUTDOWN guest-shutdown, QEMU 'shutdown', monitors "
           "stay running (%s); system_reset+cont: boot %d refilled in %d s; %s"
           % (paused_text(delta), n + 1, fill_s, text))


# -- snapshots

def run_job(vm, cmd, args, job_id, timeout):
    """Start a job command and wait for it to conclude; raise Failed with
    its error if it failed."""
    vm.qmp.execute(cmd, dict(args, **{"job-id": job_id}))
    deadline = time.monotonic() + timeout
    while True:
        jobs = [j for j in vm.qmp.execute("query-jobs") if j["id"] == job_id]
        if jobs and jobs[0]["status"] == "concluded":
            vm.qmp.execute("job-dismiss", {"id": job_id})
            if jobs[0].get("error"):
                raise Failed("%s: %s" % (cmd, jobs[0]["error"]))
            return
        if time.monotonic() >= deadline:
            raise Failed("%s job %s not concluded in %.0f s" % (cmd, job_id, timeout))
        time.sleep(0.05)


def make_qcow2(life):
    """A qcow2 node "snap" for the VM state, made with blockdev-create
    (no qemu-img needed).  Return None, or why it cannot be."""
    vm = life.vm
    for cmd in ("blockdev-create", "blockdev-add", "human-monitor-command"):
        if not vm.qmp.has_command(cmd):
            return "this QEMU has no QMP %s" % cmd
    path = vm.in_workdir("vmstate.qcow2")
    size = (life.args.mem + 64) * MIB
    try:
        run_job(vm, "blockdev-create", {"options": {"driver": "file", "filename": path,
                                                    "size": 0}}, "mkfile", 30)
        vm.qmp.execute("blockdev-add", {"driver": "file", "filename": path,
                                        "node-name": "snap-file"})
        run_job(vm, "blockdev-create", {"options": {"driver": "qcow2", "file": "snap-file",
                                                    "size": size}}, "mkqcow2", 30)
        vm.qmp.execute("blockdev-add", {"driver": "qcow2", "file": "snap-file",
                                        "node-name": "snap"})
    except (QMPError, Failed) as e:
        return "cannot make a qcow2 image with blockdev-create: %s" % e
    return None


def hmp_checked(vm, line, timeout):
    """An HMP command whose output must be empty (savevm/loadvm print
    only errors); return its seconds."""
    t0 = time.monotonic()
    out = vm.qmp.execute("human-monitor-command", {"command-line": line}, timeout=timeout)
    if out.strip():
        raise Failed("%s: %s" % (line, out.strip()))
    return time.monotonic() - t0


def ev_savevm(life, rep, state):
    vm = life.vm
    why = make_qcow2(life)
    if why:
        state["skip"] = why
        rep.skip("savevm", why)
        return
    before = life.aggr()
    s0 = life.scheme()
    t = hmp_checked(vm, "savevm lifecycle", 300)
    s1 = life.scheme()
    state["pass"] = life.boot_passes()[-1]
    state["boots"] = len(life.boots())
    info = vm.qmp.hmp("info snapshots")
    m = re.search(r"lifecycle\s+([\d.]+ \w+)", info)
    if not m:
        raise Failed("info snapshots does not list 'lifecycle': %s" % info)
    waited = s1["waited"] - s0["waited"]
    applied = s1["applied"] - s0["applied"]
    rep.add("savevm_s", round(t, 2))
    rep.add("savevm_scheme_waited_mib", round(waited / MIB, 1))
    if waited == 0:
        raise Failed("the cold scheme did not wait during the %.2f s savevm (no "
                     "'migration' skip; applied %+.1f MiB)" % (t, applied / MIB))
    text = life.after(before)
    rep.ok("savevm", "snapshot of %s in %.2f s; the cold scheme waited (%.1f MiB skipped "
           "as 'migration', applied %+.1f MiB around it); %s"
           % (m.group(1), t, waited / MIB, applied / MIB, text))


def ev_loadvm(life, rep, state):
    vm = life.vm
    if "skip" in state:
        rep.skip("loadvm", state["skip"])
        return
    life.wait("3 s of guest time after the savevm",
              lambda: life.boot_passes()[-1] > state["pass"] and
              len(life.verifies()) > 1, timeout=life.args.timeout)
    time.sleep(3)
    before = life.aggr()
    p_before = life.boot_passes()[-1]
    s0 = life.scheme()
    v0 = len(life.verifies())
    t = hmp_checked(vm, "loadvm lifecycle", 300)
    # what the guest printed before the loadvm stopped it is in the file
    # now; what comes after is the restored guest's
    lines0 = len(life.boot_passes())
    s1 = life.scheme()
    # the virtual clock went back to the snapshot's: virt must not wait
    # for it to catch up with its old deadlines
    a0 = life.aggr()
    time.sleep(2)
    a1 = life.aggr()
    virt_2s = a1["virt"] - a0["virt"]
    if virt_2s == 0:
        raise Failed("virt (virtual clock) made no aggregation in the 2 s after the "
                     "loadvm (bitmap made %d): it waits for the restored clock to "
                     "catch up with its deadlines" % (a1["bitmap"] - a0["bitmap"]))
    # the guest goes on from the snapshot: its pass counter goes back
    life.wait("pass= lines after the loadvm", lambda: len(life.boot_passes()) > lines0)
    p_after = life.boot_passes()[lines0]
    if not p_after < p_before:
        raise Failed("after loadvm the guest's pass counter went %d -> %d, expected a "
                     "return to the snapshot's (about %d)" % (p_before, p_after,
                                                              state["pass"]))
    waited = s1["waited"] - s0["waited"]
    applied = s1["applied"] - s0["applied"]
    rep.add("loadvm_s", round(t, 2))
    rep.add("loadvm_scheme_waited_mib", round(waited / MIB, 1))
    text = life.after(before)
    state["loadvm_verify0"] = v0
    if waited == 0:
        raise Failed("the cold scheme acted during loadvm: no 'migration' skip while "
                     "the %.2f s loadvm wrote guest RAM (applied %+.1f MiB)"
                     % (t, applied / MIB))
    rep.add("loadvm_virt_aggr_2s", virt_2s)
    rep.ok("loadvm", "loaded in %.2f s: the guest went back from pass %d to %d and runs "
           "on; virt goes on at once on the restored virtual clock (+%d aggregations "
           "in 2 s); the cold scheme waited (%.1f MiB skipped as 'migration', applied "
           "%+.1f MiB around it); %s" % (t, p_before, p_after, virt_2s, waited / MIB,
                                         applied / MIB, text))


# -- memory hotplug

def dimm_range(vm, dev):
    for d in vm.qmp.execute("query-memory-devices"):
        if d["type"] == "dimm" and d["data"]["id"] == dev:
            return d["data"]["addr"], d["data"]["addr"] + d["data"]["size"]
    return None


def overlap(life, mon, rng):
    regs = life.vm.qmp.execute("query-damon-regions", {"id": mon})
    return sum(max(0, min(r["end"], rng[1]) - max(r["start"], rng[0]))
               for r in regs["regions"]), regs["total-bytes"]


def ev_hotplug(life, rep, state):
    vm = life.vm
    before = life.aggr()
    base = {n: overlap(life, n, (0, 1 << 64))[1] for n, _ in MONITORS}
    t0 = time.monotonic()
    vm.qmp.execute("object-add", {"qom-type": "memory-backend-ram", "id": "lc-mem",
                                  "size": DIMM_MIB * MIB})
    vm.qmp.execute("device_add", {"driver": "pc-dimm", "id": "lc-dimm",
                                  "memdev": "lc-mem"})
    rng = dimm_range(vm, "lc-dimm")
    if rng is None:
        raise Failed("query-memory-devices does not list lc-dimm")
    state.update(dimm=rng, base=base)
    size = rng[1] - rng[0]

    def covered():
        got = {n: overlap(life, n, rng) for n, _ in MONITORS}
        return got if all(got[n] == (size, base[n] + size) for n in got) else None
    life.wait("every monitor's regions covering the DIMM", covered)
    secs = time.monotonic() - t0
    rep.add("hotplug_follow_s", round(secs, 1))
    text = life.after(before)
    rep.ok("hotplug", "DIMM [0x%x, 0x%x) plugged: every monitor's regions cover it %.1f s "
           "later (total %d -> %d MiB); %s"
           % (rng[0], rng[1], secs, base["bitmap"] // MIB, (base["bitmap"] + size) // MIB,
              text))


def ev_unplug(life, rep, state):
    vm = life.vm
    if "dimm" not in state:
        raise Failed("no DIMM was plugged")
    rng, base = state["dimm"], state["base"]
    before = life.aggr()
    t0 = time.monotonic()
    vm.qmp.execute("device_del", {"id": "lc-dimm"})
    ev = vm.qmp.wait_event("DEVICE_DELETED", timeout=life.args.timeout)
    if ev is None:
        raise Failed("no DEVICE_DELETED within %.0f s of device_del: the guest did not "
                     "eject" % life.args.timeout)
    if "eject slot=" not in life.boots()[-1]:
        raise Failed("DEVICE_DELETED without the guest's eject line")
    vm.qmp.execute("object-del", {"id": "lc-mem"})
    eject_s = time.monotonic() - t0

    def gone():
        got = {n: overlap(life, n, rng) for n, _ in MONITORS}
        return got if all(got[n] == (0, base[n]) for n in got) else None
    life.wait("no region left on the unplugged DIMM", gone)
    secs = time.monotonic() - t0
    rep.add("unplug_follow_s", round(secs, 1))
    text = life.after(before)
    rep.ok("unplug", "device_del: the guest ejected slot 0 (DEVICE_DELETED %.1f s later); "
           "%.1f s after device_del no monitor has a region on [0x%x, 0x%x), totals back "
           "to %d MiB; %s" % (eject_s, secs, rng[0], rng[1], base["bitmap"] // MIB, text))


# -- migration

def ev_migrate_fail(life, rep):
    vm, args = life.vm, life.args
    sock = vm.in_workdir("mig.sock")
    dst = new_vm(args, extra=["-incoming", "defer", "-S"])
    try:
        dst.start()
        # a monitor on the destination, whose RAM the migration writes
        dst.qmp.execute("damon-start", dict(MONITORS[1][1], id="dst"))
        dst.qmp.execute("migrate-incoming", {"uri": "unix:" + sock})
        before = life.aggr()
        s0 = life.scheme()
        vm.qmp.execute("migrate-set-parameters", {"max-bandwidth": MIG_BANDWIDTH})
        vm.qmp.execute("migrate", {"uri": "unix:" + sock})
        def far_enough():
            i = vm.qmp.execute("query-migrate")
            if i.get("status") in ("completed", "failed", "cancelled"):
                raise Failed("migration ended before the kill: %r" % i)
            if i.get("status") == "active" and i["ram"]["transferred"] >= MIG_KILL_AT:
                return i
            return None
        info = life.wait("the migration %d MiB in" % (MIG_KILL_AT // MIB), far_enough)
        s1 = life.scheme()
        sent = info["ram"]["transferred"]
        d = dst.qmp.execute("query-damon-schemes", {"id": "dst"})["schemes"][0]
        d_waited = sum(k["bytes"] for k in d["skipped"] if k["reason"] == "migration")
        if d["stats"]["sz-applied"] or not d_waited:
            raise Failed("the destination's cold scheme acted during the incoming "
                         "migration: applied %d bytes, %d bytes skipped as 'migration'"
                         % (d["stats"]["sz-applied"], d_waited))
        dst.proc.send_signal(signal.SIGKILL)
        dst.proc.wait(30)
        t0 = time.monotonic()
        def ended():
            i = vm.qmp.execute("query-migrate")
            return i if i.get("status") in ("failed", "completed", "cancelled") else None
        end = life.wait("the source's migration failing", ended)
        fail_s = time.monotonic() - t0
        if end["status"] != "failed":
            raise Failed("migration status %r after the destination died" % end["status"])
        waited = s1["waited"] - s0["waited"]
        if waited == 0:
            raise Failed("the cold scheme did not wait while the migration ran")
        text = life.after(before)
        rep.add("mig_sent_mib", round(sent / MIB, 1))
        rep.ok("migrate-fail", "destination SIGKILLed with %.1f MiB of %.0f MiB sent; source "
               "status 'failed' %.2f s later (%s); the cold scheme waited meanwhile "
               "(%.1f MiB 'migration') and acts again; on the destination (inmigrate) "
               "a cold scheme applied nothing (%.1f MiB 'migration'); %s"
               % (sent / MIB, info["ram"]["total"] / MIB, fail_s,
                  end.get("error-desc", "no error-desc"), waited / MIB, d_waited / MIB,
                  text))
    finally:
        dst.close()


# -- the end

def step_dump(life, rep):
    vm = life.vm
    vm.qmp.execute("stop")
    path = os.path.join(ramcmp.dump_dir(vm.workdir), "qdamon-lifecycle-%d.bin" % os.getpid())
    try:
        ramcmp.pmemsave(vm, life.fill[0], life.fill[1], path)
        hot = [(life.args.hot_start, life.args.hot_start + life.args.hot_size)]
        bad = pattern.check_dump(path, life.fill[0], life.fill, hot, life.seed)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    vm.qmp.execute("cont")
    life.check_verifies()
    n = (life.fill[1] - life.fill[0]) // PAGE
    if bad:
        raise Failed("%d of %d pages differ from the pattern, first %s"
                     % (len(bad), n, ", ".join("0x%x+0x%x" % b for b in bad[:8])))
    rep.add("pages_checked", n)
    rep.ok("dump", "all %d pages of the fill range match the pattern; %d guest verifies "
           "over %d boots, all bad=0" % (n, len(life.verifies()), len(life.boots())))


# A scheme that acts every millisecond, on 16 KiB: QEMU's exit frees
# state early in qemu_cleanup(), but the monitors stop only at atexit()
# time, so a monitor thread that touched such state meanwhile (it once
# read the freed MigrationState) is caught in the act under ASan.
EXIT_RACE = {"source": "page-hash", "sample-us": 1000, "aggr-us": 10000,
             "schemes": [{"action": "cold", "apply-interval-us": 1000,
                          "filters": [{"type": "addr", "start": 64 * MIB,
                                       "end": 64 * MIB + 4 * PAGE, "allow": True}]}]}


def kill_with(vm, rep, name, sig, timeout=60):
    """Send sig to QEMU: it must exit with status 0 within timeout, its
    monitors stopped, and no sanitizer report."""
    vm.qmp.execute("damon-start", dict(EXIT_RACE, id="exit-race"))
    time.sleep(0.3)
    ms = {m["id"]: m["nr-aggregations"] for m in vm.qmp.execute("query-damon")}
    t0 = time.monotonic()
    vm.proc.send_signal(sig)
    try:
        status = vm.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise Failed("QEMU still runs %.0f s after %s (hung)" % (timeout, sig.name))
    secs = time.monotonic() - t0
    bad = sanitizer_report(vm, rep)
    if bad:
        raise Failed("QEMU stderr after %s: %s" % (sig.name, bad))
    if status != 0:
        raise Failed("QEMU exit status %s after %s: %s" % (status, sig.name, vm.stderr_tail()))
    want = "terminating on signal %d" % sig.value
    said = want in vm.stderr_text()
    rep.add("%s_exit_s" % name, round(secs, 2))
    rep.ok(name, "QEMU exited with status 0 %.2f s after %s (stderr %s '%s'), %d monitors "
           "running at aggregations %s stopped with it, no sanitizer report"
           % (secs, sig.name, "says" if said else "lacks", want, len(ms),
              "/".join(str(v) for v in ms.values())))


def ev_sigint(args, rep):
    """A second QEMU, the same monitors, killed by SIGINT."""
    with new_vm(args) as vm:
        life = Life(args, vm, rep)
        vm.start()
        vm.wait_console(r"^qdamon-workload: pass=1 t=0$", timeout=args.timeout)
        life.fill = pattern.fill_info(vm.console())[:2]
        life.start_monitors()
        life.monitors_run({n: 0 for n, _ in MONITORS})
        kill_with(vm, rep, "sigint", signal.SIGINT)


def run_test(args, rep):
    with new_vm(args) as vm:
        life = Life(args, vm, rep)
        state = {}
        if args.keep:
            rep.info("work directory: %s" % vm.workdir)
        ok = report.run_steps(rep, [("boot", lambda: step_boot(life, rep))])
        if ok:
            for name, fn in [
                    ("stop-cont", lambda: ev_stop_cont(life, rep)),
                    ("reset", lambda: ev_reset(life, rep)),
                    ("reboot", lambda: ev_reboot(life, rep)),
                    ("poweroff", lambda: ev_poweroff(life, rep)),
                    ("savevm", lambda: ev_savevm(life, rep, state)),
                    ("loadvm", lambda: ev_loadvm(life, rep, state)),
                    ("hotplug", lambda: ev_hotplug(life, rep, state)),
                    ("unplug", lambda: ev_unplug(life, rep, state)),
                    ("migrate-fail", lambda: ev_migrate_fail(life, rep)),
                    ("dump", lambda: step_dump(life, rep))]:
                if not report.run_step(rep, name, fn) and not vm.running():
                    break
            if vm.running():
                report.run_step(rep, "sigterm",
                                lambda: kill_with(vm, rep, "sigterm", signal.SIGTERM))
            else:
                rep.fail("sigterm", "QEMU had exited: %s" % vm.stderr_tail())
    report.run_step(rep, "sigint", lambda: ev_sigint(args, rep))


if __name__ == "__main__":
    ARGS = parse_args()
    MONITORS = monitor_list(ARGS.mem)
    report.main("lifecycle", lambda rep: run_test(ARGS, rep), width=12)
