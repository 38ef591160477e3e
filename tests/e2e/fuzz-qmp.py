#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""fuzz-qmp.py - end-to-end test: thousands of generated and mutated qdamon QMP requests from two clients; QEMU answers each and lives.

Boots the workload guest under TCG (hot set written, all RAM filled
with the checkable pattern and verified every few seconds) with a
second QMP socket, and sends --count requests for damon-start,
damon-stop, damon-tune and the query-damon* commands from --clients
clients at once (one thread each, one socket each; harness/fuzz.py has
the generators):

  - valid requests: every source that works under TCG (dirty-bitmap,
    page-hash, tcg-accessed, with and without a write source), both
    clocks, explicit regions, schemes of every action with patterns,
    quotas, goals, weights, watermarks and filters;
  - mutations of valid ones: wrong types, missing and extra members,
    2^64-1, 2^63, negative and float numbers, ids of 100 KiB and ids
    that break the id rule, regions lists of thousands of entries
    (overlapping, unsorted, outside RAM), hundreds of schemes, filters
    and goals, bad percentiles, unknown commands;
  - raw bytes: invalid UTF-8, control bytes and NUL, bad escapes,
    truncated requests, nesting of up to 20000 levels, duplicate keys,
    garbage;
  - each client has its own monitor ids, checked strictly against the
    model, and both act on shared ids at once (one stops a monitor
    while the other queries or tunes it).

Steps (PASS/FAIL lines; every FAIL line carries the seed):

  boot       the guest runs and has filled its RAM;
  fixed      the fixed cases (the worst of each kind, and any request
             that once found a bug) are each answered;
  answers    every request got its answer: well-formed ones exactly one
             with their id, raw ones at least one; every error has a
             class and a non-empty desc;
  oracle     no request that breaks a rule of qmp/damon.json got a
             "return" (harness.fuzz.must_fail);
  strict     on each client's own ids, valid requests did what the model
             says (start succeeds iff not running, stop and tune iff
             running, queries iff listed), and no success contradicts it;
  model      query-damon lists exactly the ids that ever started, and
             says running exactly for those started more often than
             stopped (less those that stopped themselves with an error,
             DAMON_STOPPED reason error);
  events     each client saw one DAMON_STOPPED "requested" per
             successful damon-stop of each id;
  cleanup    every running monitor stops;
  guest      query-status running, the guest's pass counter moved
             during the fuzzing and every guest verify said bad=0;
  sanitizer  QEMU's stderr has no AddressSanitizer or UBSan report;
  quit       QEMU exits with status 0.

Deterministic: --seed N (default 1) fixes each client's request stream;
with --clients 1 the whole run replays exactly.  --seed random is the
bench mode: it picks a seed and prints it (tests/e2e/fuzz-qmp.py --seed
random --count 20000).  --log FILE writes every request and its answers
as JSON lines.  For the ASan + UBSan QEMU, pass --qemu
_work/qemu-build-asan/qemu-system-x86_64: QEMU then runs with
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 and
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1.  See
docs/notes/fuzzing.md.
"""

import base64
import collections
import json
import os
import re
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, fuzz, pattern, report, sanitizers, steps  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.fuzz import Unit, must_fail  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

SHARED = ["s0", "s1", "damon0"]
OWN = [["a0", "a1", "a2"], ["b0", "b1", "b2"]]
MAX_FAIL_LINES = 10
SAN_RE = re.compile(sanitizers.REPORT + "|SUMMARY: UndefinedBehaviorSanitizer")


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=128, hot_start=16 * MIB, hot_size=4 * MIB)
    ap.add_argument("--seed", default="1",
                    help="the seed, or 'random' to pick one (default: %(default)s)")
    ap.add_argument("--count", type=int, default=1200, metavar="N",
                    help="requests in all, shared by the clients (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=2, choices=(1, 2),
                    help="QMP clients sending at once (default: %(default)s)")
    ap.add_argument("--log", metavar="FILE", help="write every request and answer "
                    "as JSON lines")
    ap.add_argument("--timeout", type=float, default=120.0, metavar="S",
                    help="seconds one request may take to be answered (default: "
                    "%(default)s)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (console, QEMU stderr)")
    a = ap.parse_args()
    if a.seed == "random":
        a.seed = random.SystemRandom().randrange(1 << 32)
    else:
        a.seed = int(a.seed, 0)
    return a


class Model:
    """What the fuzzer believes: successes per id (all clients), and each
    client's own ids exactly."""

    def __init__(self):
        self.lock = threading.Lock()
        self.starts = collections.Counter()
        self.stops = collections.Counter()
        self.running = {}       # own ids only: id -> bool
        self.attrs = {}         # own ids: attrs of the running monitor
        self.listed = set()     # own ids that ever started

    def started(self, mid):
        with self.lock:
            self.starts[mid] += 1

    def stopped(self, mid):
        with self.lock:
            self.stops[mid] += 1


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.fails = collections.defaultdict(list)

    def add(self, key, n=1):
        with self.lock:
            self.c[key] += n

    def fail(self, check, text):
        with self.lock:
            self.fails[check].append(text)


class Logger:
    def __init__(self, path):
        self.f = open(path, "w") if path else None
        self.lock = threading.Lock()

    def write(self, client, n, unit, answers, seconds):
        if not self.f:
            return
        try:
            text = unit.text.decode("utf-8")
            enc = "utf-8"
        except UnicodeDecodeError:
            text, enc = base64.b64encode(unit.text).decode(), "base64"
        rec = {"client": client, "n": n, "kind": unit.kind, "cmd": unit.cmd,
               "raw": unit.raw, "rid": unit.rid, "enc": enc,
               "text": text if len(text) < 4096 else text[:4096],
               "bytes": len(unit.text),
               "answers": [json.dumps(a)[:400] for a in answers[:5]],
               "nanswers": len(answers), "ms": round(seconds * 1000, 1)}
        with self.lock:
            self.f.write(json.dumps(rec) + "\n")

    def close(self):
        if self.f:
            self.f.close()


class Worker:
    """One client: its socket, its generator, its own ids."""

    def __init__(self, k, path, args, model, stats, log, mem):
        self.k = k
        self.path = path
        self.args = args
        self.model = model
        self.stats = stats
        self.log = log
        self.mem = mem
        self.rng = random.Random("%d-%d" % (args.seed, k))
        # psi may be missing from QEMU's cgroup even with /proc/pressure:
        # valid requests leave it out, the fixed cases try it
        self.gen = fuzz.Gen(self.rng, mem, has_psi=False,
                            has_node0=os.path.isdir("/sys/devices/system/node/node0"))
        self.own = OWN[k]
        for mid in self.own:
            model.running[mid] = False
        self.client = None
        self.n = 0
        self.error = None

    def connect(self):
        self.client = fuzz.RawQMP.connect(self.path, self.args.timeout, name="c%d" % self.k)

    def fail(self, check, unit, text):
        self.stats.fail(check, "seed=%d client=%d n=%d %s %s: %s" % (
            self.args.seed, self.k, self.n, unit.kind, unit.summary(), text))

    def self_stopped(self, mid):
        """Did a DAMON_STOPPED with reason error arrive for mid?  Then the
        model's own state follows it."""
        for ev in self.client.events:
            d = ev.get("data", {})
            if ev.get("event") == "DAMON_STOPPED" and d.get("id") == mid and \
                    d.get("reason") == "error" and not ev.get("_seen"):
                ev["_seen"] = True
                return True
        return False

    # -- one unit ------------------------------------------------------------

    def pick(self):
        """The next unit of this client's stream."""
        r, g = self.rng, self.gen
        x = r.random()
        own = r.choice(self.own)
        if x < 0.30:
            running = self.model.running[own]
            ops = ([g.valid_stop] * 2 + [g.valid_tune] * 2 + [g.valid_query] * 4) if running \
                else ([g.valid_start] * 5 + [g.valid_query] * 3 + [g.valid_stop, g.valid_tune])
            return r.choice(ops)(own)
        if x < 0.45:
            return g.valid_any(r.choice(SHARED))
        base = g.valid_any(r.choice(self.own + SHARED))
        if x < 0.75:
            return g.mutate(base)
        if x < 0.83:
            return g.big_lists(base)
        return g.raw(base)

    def send(self, unit):
        self.n += 1
        rid = "c%d-%d" % (self.k, self.n)
        unit.finish(rid)
        t0 = time.monotonic()
        answers = self.client.send_unit(unit)
        dt = time.monotonic() - t0
        self.log.write(self.k, self.n, unit, answers, dt)
        self.stats.add("requests")
        self.stats.add("raw" if unit.raw else unit.kind.split(":")[0])
        if dt > self.stats.c.get("slowest_ms", 0) / 1000:
            with self.stats.lock:
                self.stats.c["slowest_ms"] = max(self.stats.c["slowest_ms"], int(dt * 1000))
        return self.check_answers(unit, answers)

    def check_answers(self, unit, answers):
        """Count and check the answers; return the unit's own answer (or
        None for a raw unit QEMU could not parse)."""
        own = None
        for a in answers:
            if "error" in a:
                e = a["error"]
                if not isinstance(e, dict) or not isinstance(e.get("desc"), str) or \
                        not e["desc"].strip() or not isinstance(e.get("class"), str):
                    self.fail("answers", unit, "error without class or desc: %r" % a)
                if a.get("id") == unit.rid:
                    self.stats.add("err_" + str(e.get("class")))
                else:
                    self.stats.add("err_parse")
            elif "return" in a:
                if a.get("id") == unit.rid:
                    self.stats.add("returns")
                else:
                    self.fail("answers", unit, "a return that is not ours: %.200r" % a)
            else:
                self.fail("answers", unit, "neither return nor error: %.200r" % a)
            if a.get("id") == unit.rid:
                if own is not None:
                    self.fail("answers", unit, "two answers with our id")
                own = a
        if not unit.raw:
            if len(answers) != 1 or own is None:
                self.fail("answers", unit, "expected one answer with id %s, got %.300r"
                          % (unit.rid, answers))
        elif not answers:
            self.fail("answers", unit, "no answer to a raw request")
        return own

    def run_unit(self, unit, strict=None):
        """Send unit, check it against the oracle and the model."""
        own_ans = self.send(unit)
        ok = own_ans is not None and "return" in own_ans
        if unit.expect is not None and ok != unit.expect:
            self.fail("strict", unit, "must %s, got %.300r" % (
                "succeed" if unit.expect else "fail", own_ans))
        if own_ans is None:
            return ok
        mid = unit.eff_id
        is_own = mid in self.own
        if not unit.raw:
            attrs = self.model.attrs.get(mid) if is_own else None
            why = must_fail(unit.cmd, unit.args, self.mem, attrs)
            if why and ok:
                self.fail("oracle", unit, "got a return, but it must fail: %s" % why)
        elif ok and unit.cmd in ("damon-start", "damon-stop") and mid is None:
            self.fail("oracle", unit, "a raw request that cannot name a monitor changed one")
        if unit.cmd not in ("damon-start", "damon-stop", "damon-tune") and \
                not unit.cmd.startswith("query-damon-"):
            return ok
        if mid is None:
            return ok
        if is_own:
            self.check_own(unit, mid, ok, own_ans)
        elif ok and unit.cmd == "damon-start":
            self.model.started(mid)
        elif ok and unit.cmd == "damon-stop":
            self.model.stopped(mid)
        return ok

    def check_own(self, unit, mid, ok, ans):
        """Own ids: the model knows their state exactly."""
        m = self.model
        running = m.running[mid]
        if running and self.self_stopped(mid):
            running = m.running[mid] = False
            self.stats.add("self_stops")
        cmd = unit.cmd
        expect = None
        if cmd == "damon-start":
            expect = not running
        elif cmd in ("damon-stop", "damon-tune"):
            expect = running
        elif cmd.startswith("query-damon-"):
            expect = mid in m.listed
        if ok and expect is False:
            self.fail("strict", unit, "succeeded, but the model says %s is %s" % (
                mid, "running" if running else "not running" if mid in m.listed else "unknown"))
        if unit.kind == "valid" and not ok and expect:
            self.fail("strict", unit, "failed, but the model says it must succeed: %s"
                      % ans.get("error", {}).get("desc"))
        if not ok:
            return
        if cmd == "damon-start":
            m.started(mid)
            m.running[mid] = True
            m.listed.add(mid)
            a = dict(fuzz.ATTR_DEFAULTS)
            a.update({k: fuzz._u(unit.args[k], 64) for k in fuzz.ATTR_TYPES
                      if unit.args and k in unit.args})
            m.attrs[mid] = a
        elif cmd == "damon-stop":
            m.stopped(mid)
            m.running[mid] = False
            m.attrs.pop(mid, None)
        elif cmd == "damon-tune" and mid in m.attrs:
            m.attrs[mid].update({k: fuzz._u(unit.args[k], 64) for k in fuzz.ATTR_TYPES
                                 if k in unit.args})

    def loop(self, count):
        try:
            for _ in range(count):
                self.run_unit(self.pick())
        except fuzz.ProtocolError as e:
            self.error = "seed=%d client=%d n=%d: %s" % (self.args.seed, self.k, self.n, e)
        except Exception as e:      # a bug of ours: report it, do not hang the others
            import traceback
            traceback.print_exc()
            self.error = "seed=%d client=%d n=%d: unexpected %s: %s" % (
                self.args.seed, self.k, self.n, type(e).__name__, e)


# ---------------------------------------------------------------------------

def fixed_units(gen, mem):
    """The worst case of each kind, sent every run, in this order."""
    deep = 20000
    nest = b"[" * deep + b"]" * deep
    big_regions = [{"start": MIB + i * 8192, "end": MIB + i * 8192 + 4096} for i in range(4096)]
    stat = {"action": "stat"}
    out = [
        Unit("damon-start", None, "fixed:nest", raw=True,
             text=b'{"execute": "damon-start", "arguments": {"id": "f0", "regions": '
             + nest + b'}, "id": @RID@}'),
        Unit("damon-start", {"id": "f0" * 51200, "schemes": [stat]}, "fixed:longid"),
        Unit("damon-stop", {"id": "x" * 102400}, "fixed:longid"),
        Unit("query-damon-regions", {"id": "\u00e9" * 17000}, "fixed:longid"),
        Unit("damon-start", None, "fixed:nul", raw=True,
             text=b'{"execute": "damon-start", "arguments": {"id": "f0\\u0000"}, "id": @RID@}'),
        Unit("damon-start", None, "fixed:utf8", raw=True,
             text=b'{"execute": "damon-start", "arguments": {"id": "f0\xff\xfe\xc0"}, "id": @RID@}'),
        Unit("damon-start", None, "fixed:ctrl", raw=True,
             text=b'{"execute": "damon-start", "arguments": {"id": "f0\x00\x01"}, "id": @RID@}'),
        Unit("damon-start", {"id": "f0", "regions": big_regions + [{"start": mem, "end": mem + 4096}]},
             "fixed:regions"),
        Unit("damon-start", {"id": "f0", "regions": list(reversed(big_regions))}, "fixed:regions"),
        Unit("damon-start", {"id": "f0", "schemes": [stat] * 300}, "fixed:schemes"),
        Unit("damon-start", {"id": "f0", "sample-us": fuzz.U64, "aggr-us": fuzz.U64},
             "fixed:numbers"),
        Unit("damon-start", {"id": "f0", "sample-us": 1 << 63}, "fixed:numbers"),
        Unit("damon-start", {"id": "f0", "sample-us": -1}, "fixed:numbers"),
        Unit("damon-start", {"id": "f0", "sample-us": 5000.5}, "fixed:numbers"),
        Unit("damon-start", {"id": "f0", "schemes": [
            {"action": "stat", "quotas": {"ms": fuzz.U64, "bytes": fuzz.U64,
                                          "goals": [{"metric": "user-input",
                                                     "target-value": fuzz.U64,
                                                     "current-value": fuzz.U64}]},
             "access-pattern": {"sz-max": fuzz.U64, "age-min": fuzz.U32, "age-max": fuzz.U32}}],
            "clock": "virtual"}, "fixed:numbers"),
        Unit("query-damon-wss", {"id": "f0", "min-nr-accesses": fuzz.U32,
                                 "percentiles": list(range(101))}, "fixed:numbers"),
        Unit("damon-tune", {"id": "f0", "sample-us": fuzz.U64, "aggr-us": 0}, "fixed:numbers"),
        Unit("damon-tune", {"id": "f0", "schemes": [stat] * 17}, "fixed:schemes"),
        Unit("query-damon-wss", {"id": "f0", "percentiles": [100] * 102}, "fixed:lists"),
        Unit("damon-stop", {"id": "f0"}, "fixed:stop"),
        Unit("damon-stop", {"id": "f0"}, "fixed:stop-again"),
        Unit("query-damon-schemes", {"id": "f0", "tried-regions": True}, "fixed:stopped"),
    ]
    # Monitors at the edges of every range, which run through the whole
    # fuzzing and stop at cleanup: the fastest sampling with every action
    # applied at each sample under the tightest quotas and largest goal
    # values; more regions asked for than RAM has pages; more ranges than
    # max-nr-regions allows.
    goals = [{"metric": "user-input", "target-value": 1, "current-value": fuzz.U64},
             {"metric": "rss-bytes", "target-value": fuzz.U64}]
    edge = []
    for a in fuzz.ACTIONS:
        if a.startswith("migrate-") and not os.path.isdir("/sys/devices/system/node/node0"):
            continue
        sch = {"action": a, "access-pattern": {"nr-accesses-min": 0, "nr-accesses-max": 1,
                                               "sz-max": fuzz.U64, "age-max": fuzz.U32},
               "apply-interval-us": 1000,
               "quotas": {"ms": 1, "bytes": 4096, "reset-interval-ms": 1,
                          "weights": {"sz": 100, "nr-accesses": 100, "age": 100},
                          "goals": goals},
               "watermarks": {"metric": "free-mem-rate", "interval-us": 1000,
                              "high": 1000, "mid": 1000, "low": 0},
               "filters": [{"type": "addr", "start": 0, "end": fuzz.U64 - 4095,
                            "allow": True}, {"type": "young", "matching": False}]}
        if a.startswith("migrate-"):
            sch["target-nid"] = 0
        edge.append(sch)
    starts = [
        Unit("damon-start", {"id": "f1", "source": "tcg-accessed", "write-source": "page-hash",
                             "sample-us": 1000, "aggr-us": 1000, "update-us": 1000,
                             "min-nr-regions": 3, "max-nr-regions": 100000,
                             "schemes": edge}, "fixed:edge"),
        Unit("damon-start", {"id": "f2", "source": "page-hash", "clock": "virtual",
                             "min-nr-regions": 100000, "max-nr-regions": 100000},
             "fixed:edge"),
        Unit("damon-start", {"id": "f3", "source": "dirty-bitmap", "sample-us": 100,
                             "aggr-us": 100000, "max-nr-regions": 3, "min-nr-regions": 3,
                             "regions": big_regions}, "fixed:edge"),
        Unit("damon-tune", {"id": "f2", "sample-us": 10000000, "aggr-us": 10000000000,
                            "update-us": 3600000000,
                            "schemes": [dict(edge[0], **{"apply-interval-us": 0})]},
             "fixed:edge"),
        Unit("damon-tune", {"id": "f2", "schemes": []}, "fixed:edge"),
        # the snapshot's attrs count, which may still be the old ones
        Unit("query-damon-wss", {"id": "f2", "min-nr-accesses": 1}, "fixed:edge"),
        Unit("query-damon-regions", {"id": "f3"}, "fixed:edge"),
        Unit("query-damon-schemes", {"id": "f1", "tried-regions": True}, "fixed:edge"),
    ]
    psi = Unit("damon-start", {"id": "f4", "schemes": [dict(edge[0], quotas={"goals": [
        {"metric": "some-mem-psi-us", "target-value": 1}]}, **{"apply-interval-us": 0})]}, "fixed:psi")
    for u in starts:
        u.expect = True
    return out + starts + [psi, Unit("damon-stop", {"id": "f4"}, "fixed:psi")]


def step_boot(vm, args, rep, run):
    vm.start()
    vm.wait_console(pattern.FILL_DONE, timeout=120)
    steps.wait_first_pass(vm, args.hot_start, args.hot_size, timeout=60)
    start, end, _, _ = pattern.fill_info(vm.console())
    run["pass0"] = vm.passes()[-1][0]
    run["verify0"] = len(pattern.verifies(vm.console()))
    rep.ok("boot", "guest filled 0x%x+0x%x, pass %d" % (start, end - start, run["pass0"]))


def step_fixed(vm, args, rep, run):
    w = run["workers"][0]
    units = fixed_units(w.gen, args.mem * MIB)
    before = sum(len(v) for v in run["stats"].fails.values())
    for u in units:
        w.run_unit(u)
    # f0 is nobody's own id: it is checked by the counts, like the shared ones
    after = sum(len(v) for v in run["stats"].fails.values())
    if after != before:
        raise Failed("seed=%d: %d fixed case(s) failed (see the lines below)"
                     % (args.seed, after - before))
    rep.ok("fixed", "%d fixed cases answered, none wrongly accepted" % len(units))


def step_fuzz(vm, args, rep, run):
    workers = run["workers"]
    per = [args.count // len(workers) + (1 if k < args.count % len(workers) else 0)
           for k in range(len(workers))]
    threads = [threading.Thread(target=w.loop, args=(n,)) for w, n in zip(workers, per)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run["fuzz_s"] = time.monotonic() - t0
    errs = [w.error for w in workers if w.error]
    if errs:
        raise Failed("; ".join(errs) + ("; QEMU is dead: %s" % vm.stderr_tail(5)
                                        if not vm.running() else ""))
    rep.ok("fuzz", "%d requests from %d clients in %.1f s"
           % (sum(w.n for w in workers), len(workers), run["fuzz_s"]))


def report_checks(rep, stats, seed):
    for check, what in (("answers", "every request answered, each answer matched and "
                         "every error with a class and a desc"),
                        ("oracle", "no request that breaks a rule got a return"),
                        ("strict", "each client's own ids did what the model says")):
        fails = stats.fails.get(check, [])
        if fails:
            rep.fail(check, "seed=%d: %d problem(s); first: %s" % (seed, len(fails), fails[0]))
            for f in fails[1:MAX_FAIL_LINES]:
                rep.info(f)
        else:
            rep.ok(check, what)


def step_model(vm, args, rep, run):
    c = run["workers"][0].client
    ans = c.execute("query-damon", rid="final-query")
    if "return" not in ans:
        raise Failed("seed=%d: query-damon failed: %r" % (args.seed, ans))
    listed = {m["id"]: m for m in ans["return"]}
    model = run["model"]
    err_stops = collections.Counter(
        ev["data"]["id"] for ev in c.events
        if ev.get("event") == "DAMON_STOPPED" and ev["data"].get("reason") == "error")
    bad, running = [], []
    for mid in sorted(set(listed) | set(model.starts)):
        d = model.starts[mid] - model.stops[mid] - err_stops[mid]
        if (model.starts[mid] > 0) != (mid in listed):
            bad.append("%s: started %d times, but %slisted" % (
                mid, model.starts[mid], "" if mid in listed else "not "))
            continue
        if d not in (0, 1):
            bad.append("%s: %d successful starts, %d stops, %d error stops: not alternating"
                       % (mid, model.starts[mid], model.stops[mid], err_stops[mid]))
            continue
        state = listed[mid]["state"]
        if (state == "running") != (d == 1):
            bad.append("%s: query-damon says %s, the model %s" % (
                mid, state, "running" if d else "stopped"))
        if state == "running":
            running.append(mid)
    run["running"] = running
    rep.add("monitors", len(listed))
    rep.add("self_stops", sum(err_stops.values()))
    if bad:
        raise Failed("seed=%d: %s" % (args.seed, "; ".join(bad[:10])))
    rep.ok("model", "query-damon lists %d monitors (%d running), as the model says; "
           "%d starts and %d stops succeeded" % (len(listed), len(running),
                                                   sum(model.starts.values()),
                                                   sum(model.stops.values())))


def step_events(vm, args, rep, run):
    model = run["model"]
    bad = []
    for w in run["workers"]:
        w.client.execute("query-version", rid="final-sync")
        got = collections.Counter(
            ev["data"]["id"] for ev in w.client.events
            if ev.get("event") == "DAMON_STOPPED" and ev["data"].get("reason") == "requested")
        for mid in set(got) | set(model.stops):
            if got[mid] != model.stops[mid]:
                bad.append("client %d: %d DAMON_STOPPED requested for %s, %d stops"
                           % (w.k, got[mid], mid, model.stops[mid]))
    if bad:
        raise Failed("seed=%d: %s" % (args.seed, "; ".join(bad[:10])))
    rep.ok("events", "each client saw one DAMON_STOPPED per successful damon-stop (%d)"
           % sum(model.stops.values()))


def step_cleanup(vm, args, rep, run):
    c = run["workers"][0].client
    for mid in run.get("running", []):
        ans = c.execute("damon-stop", {"id": mid}, rid="cleanup-" + mid)
        if "return" not in ans:
            raise Failed("seed=%d: damon-stop %s: %r" % (args.seed, mid, ans))
    left = [m["id"] for m in c.execute("query-damon", rid="cleanup-q")["return"]
            if m["state"] == "running"]
    if left:
        raise Failed("seed=%d: still running after damon-stop: %s" % (args.seed, left))
    rep.ok("cleanup", "stopped the %d monitors still running" % len(run.get("running", [])))


def step_guest(vm, args, rep, run):
    status = vm.qmp.execute("query-status")
    if status.get("status") != "running":
        raise Failed("seed=%d: query-status says %r" % (args.seed, status))
    p1 = vm.passes()[-1][0]
    if p1 <= run["pass0"]:
        raise Failed("seed=%d: the guest's pass counter stayed at %d" % (args.seed, p1))
    ver = pattern.verifies(vm.console())[run["verify0"]:]
    bad = [v for v in ver if v[1]]
    if bad:
        raise Failed("seed=%d: guest verify found bad words: %s" % (args.seed, bad[:3]))
    rep.add("guest_passes", p1 - run["pass0"])
    rep.ok("guest", "running; pass %d -> %d; %d verifies of its RAM, all bad=0"
           % (run["pass0"], p1, len(ver)))


def step_sanitizer(vm, args, rep):
    text = vm.stderr_text()
    hits = [line for line in text.splitlines() if SAN_RE.search(line)]
    if hits:
        rep.fail("sanitizer", "seed=%d: %s" % (args.seed, hits[0]))
        for line in text.splitlines()[:40]:
            rep.info(line)
    else:
        rep.ok("sanitizer", "no sanitizer report on QEMU's stderr (%d bytes)" % len(text))


def run_test(args, rep):
    rep.info("fuzz-qmp seed=%d count=%d clients=%d qemu=%s"
             % (args.seed, args.count, args.clients, args.qemu))
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size,
              "fill_size": "all", "verify_secs": 5}
    stats, model, log = Stats(), Model(), Logger(args.log)
    run = {"stats": stats, "model": model}
    vm = WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=config,
                    keep_workdir=args.keep, env=sanitizers.ASAN_ENV)
    # one socket per client: a QMP chardev serves one connection at a time,
    # and vm.qmp keeps the first for the harness's own steps
    paths = [vm.in_workdir("fuzz%d.sock" % k) for k in range(args.clients)]
    for p in paths:
        vm.extra_args += ["-qmp", "unix:%s,server=on,wait=off" % p]

    def connect():
        run["workers"] = [Worker(k, paths[k], args, model, stats, log, args.mem * MIB)
                          for k in range(args.clients)]
        for w in run["workers"]:
            w.connect()

    try:
        with vm:
            ok = report.run_steps(rep, [
                ("boot", lambda: step_boot(vm, args, rep, run)),
                ("connect", connect),
                ("fixed", lambda: step_fixed(vm, args, rep, run)),
                ("fuzz", lambda: step_fuzz(vm, args, rep, run)),
            ])
            if run.get("workers") and all(w.client for w in run["workers"]):
                report_checks(rep, stats, args.seed)
            if ok:
                report.run_steps(rep, [
                    ("model", lambda: step_model(vm, args, rep, run)),
                    ("events", lambda: step_events(vm, args, rep, run)),
                    ("cleanup", lambda: step_cleanup(vm, args, rep, run)),
                    ("guest", lambda: step_guest(vm, args, rep, run)),
                ])
            alive = vm.running()
            for w in run.get("workers", []):
                if w.client:
                    w.client.close()
            steps.step_quit(vm, rep)
            step_sanitizer(vm, args, rep)
    finally:
        log.close()
    c = stats.c
    rep.figures.update({"seed": args.seed, "clients": args.clients,
                        "requests": c["requests"], "returns": c["returns"],
                        "crashes": 0 if alive else 1, "slowest_ms": c["slowest_ms"],
                        "valid": c["valid"], "mutated": c["mutate"] + c["lists"],
                        "raw": c["raw"]})
    for k, v in c.items():
        if k.startswith("err_"):
            rep.figures[k] = v


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("fuzz-qmp", lambda rep: run_test(ARGS, rep), width=10)
