# SPDX-License-Identifier: GPL-2.0-or-later
"""fuzz - request generators, mutators, an error oracle and a raw QMP
client for tests/e2e/fuzz-qmp.py.

    client = RawQMP.connect(path, timeout=60)
    gen = Gen(random.Random(seed), mem_bytes=128 << 20)
    unit = gen.valid_start("a0")            # a Unit: command, arguments, bytes
    answers = client.send_unit(unit)         # every answer QEMU gave to it

A Unit is one thing sent on the socket: either a well-formed request
(JSON text of an object with an "execute" and our "id"), which must get
exactly one answer carrying that id, or a raw one (bytes QEMU's JSON
parser may refuse: bad UTF-8, control bytes, NUL, nesting past QEMU's
limit of 1024, duplicate keys, truncation).  A raw unit is followed by a
control byte, which puts QEMU's parser back into a known state (QMP
spec, "Forcing the JSON parser into known-good state"), and by a sync
request; everything that comes before the sync's answer belongs to the
raw unit, and there must be at least one answer.

must_fail() is a partial oracle: for the rules of qmp/damon.json and
src/qemu/config.c that do not depend on the monitor's state or the host,
it names the rule a request breaks (so a "return" to it is a missing
error), or returns None when the request may succeed.
"""

import json
import re
import socket
import time

from harness.qmp import QMPProtocolError, connect_socket

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1
PAGE = 4096
MIB = 1 << 20

SOURCES_TCG = ["dirty-bitmap", "page-hash", "tcg-accessed"]
SOURCES = ["dirty-ring", "dirty-bitmap", "page-hash", "tcg-accessed", "idle-page"]
WRITES_ONLY = {"dirty-ring", "dirty-bitmap", "page-hash"}
ACTIONS = ["stat", "pageout", "cold", "willneed", "hugepage", "nohugepage",
           "migrate-hot", "migrate-cold"]
GOAL_METRICS = ["user-input", "some-mem-psi-us", "rss-bytes"]
COMMANDS = ["damon-start", "damon-stop", "damon-tune", "query-damon",
            "query-damon-regions", "query-damon-wss", "query-damon-schemes"]
ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")

# Numbers past every range, of both signs, and not integers at all.
EDGE_NUMBERS = [U64, 1 << 63, (1 << 63) - 1, 1 << 64, 1 << 70, U32, 1 << 32, -1,
                -(1 << 63), -(1 << 63) - 1, 0, 1, 255, 256, 99, 100, 101,
                1.5, -0.5, 1e308, 0.0, 4096.0]
WEIRD_IDS = ["", "a" * 33, "a b", "a/b", "a,b", "\u00e9t\u00e9", "x\ty", "x\ny",
             "damon0 ", "\u0001", "a\\b", "'", "\"", "a" * 32, "-", ".", "..",
             "\u2603", "x" * 1000]


class Unit:
    """One request.  text is what goes on the socket (without the
    newline); raw says whether QEMU may refuse to parse it."""

    def __init__(self, cmd, args, kind, text=None, raw=False, eff_id=None):
        self.cmd = cmd
        self.args = args
        self.kind = kind          # e.g. "valid", "mutate:type", "raw:utf8"
        self.text = text          # bytes, set by finish()
        self.raw = raw
        # the monitor it names, if unambiguous
        self.eff_id = eff_id if eff_id is not None or raw else effective_id(cmd, args)
        self.rid = None
        self.expect = None        # True/False: must succeed/fail (fixed cases)

    def finish(self, rid):
        """Give the unit its QMP id and, unless it is prebuilt, its text."""
        self.rid = rid
        if self.text is None:
            req = {"execute": self.cmd, "id": rid}
            if self.args is not None:
                req["arguments"] = self.args
            self.text = json.dumps(req, separators=(",", ":")).encode()
        else:
            self.text = self.text.replace(b"@RID@", json.dumps(rid).encode())
        return self

    def summary(self, n=160):
        t = self.text.decode("utf-8", "backslashreplace")
        return t if len(t) <= n else t[:n] + "...(%d bytes)" % len(self.text)


def effective_id(cmd, args):
    """The monitor a damon-* request names, or None if not a string."""
    if cmd not in ("damon-start", "damon-stop", "damon-tune", "query-damon-regions",
                   "query-damon-wss", "query-damon-schemes"):
        return None
    if not isinstance(args, dict) and args is not None:
        return None
    a = args or {}
    if "id" not in a:
        return "damon0" if cmd in ("damon-start", "damon-stop", "damon-tune") else None
    return a["id"] if isinstance(a["id"], str) else None


# ---------------------------------------------------------------------------
# the raw client

class ProtocolError(Exception):
    """QEMU broke the protocol, closed the socket or did not answer."""


class RawQMP:
    """A QMP connection that sends bytes and returns every answer.  Not
    thread-safe: one thread per client."""

    def __init__(self, sock, timeout):
        self.sock = sock
        self.timeout = timeout
        self.buf = bytearray()
        self.events = []
        self.nsync = 0

    @classmethod
    def connect(cls, path, timeout=60.0, name="c"):
        try:
            s = connect_socket(path, time.monotonic() + timeout)
        except QMPProtocolError as e:
            raise ProtocolError(str(e)) from e
        c = cls(s, timeout)
        c.name = name
        greeting = c.read_message()
        if "QMP" not in greeting:
            raise ProtocolError("no greeting: %r" % greeting)
        c.sock.sendall(b'{"execute": "qmp_capabilities", "id": "cap"}\n')
        if c.next_answer().get("id") != "cap":
            raise ProtocolError("qmp_capabilities not answered")
        return c

    def close(self):
        self.sock.close()

    def read_message(self):
        deadline = time.monotonic() + self.timeout
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                try:
                    return json.loads(line)
                except ValueError:
                    raise ProtocolError("bad JSON from QEMU: %r" % line[:200])
            start = len(self.buf)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError("no answer in %.0f s" % self.timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                raise ProtocolError("no answer in %.0f s" % self.timeout)
            except OSError as e:
                raise ProtocolError("socket: %s" % e)
            if not chunk:
                raise ProtocolError("QEMU closed the QMP socket")
            self.buf += chunk

    def next_answer(self):
        """The next message that is not an event (events are kept)."""
        while True:
            m = self.read_message()
            if "event" in m:
                self.events.append(m)
            else:
                return m

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ProtocolError("send: %s" % e)

    def send_unit(self, unit):
        """Send unit; return the list of answers that belong to it."""
        if not unit.raw:
            self.send(unit.text + b"\n")
            return [self.next_answer()]
        self.nsync += 1
        sync = "%s-sync-%d" % (self.name, self.nsync)
        self.send(unit.text + b"\x01\n" +
                  json.dumps({"execute": "query-version", "id": sync}).encode() + b"\n")
        out = []
        while True:
            m = self.next_answer()
            if m.get("id") == sync:
                return out
            out.append(m)

    def execute(self, cmd, args=None, rid="x"):
        """A plain command; its answer."""
        u = Unit(cmd, args, "plain").finish(rid)
        return self.send_unit(u)[0]


# ---------------------------------------------------------------------------
# generators

class Gen:
    """Requests from rng: valid ones, and mutations of them."""

    def __init__(self, rng, mem_bytes, has_psi=False, has_node0=True):
        self.r = rng
        self.mem = mem_bytes
        self.has_psi = has_psi
        self.has_node0 = has_node0

    # -- valid --------------------------------------------------------------

    def attrs(self):
        r = self.r
        sample = r.choice([1000, 2000, 5000, 10000, 20000, 50000])
        aggr = sample * r.choice([1, 2, 5, 10, 20, 100])
        update = r.choice([sample, aggr, 1000000, 3600000000])
        lo = r.choice([3, 3, 5, 10, 10, 50]) if r.random() > 0.02 else r.choice([1000, 40000])
        hi = max(lo, r.choice([lo, 20, 100, 1000, 2000]))
        return {"sample-us": sample, "aggr-us": aggr, "update-us": max(update, sample),
                "min-nr-regions": lo, "max-nr-regions": hi}

    def ranges(self, n=None):
        """n sorted, disjoint, page-aligned ranges in [1 MiB, mem)."""
        r = self.r
        lo_page, hi_page = MIB // PAGE, self.mem // PAGE
        n = n or r.choice([1, 1, 2, 3, 8, 64])
        n = min(n, (hi_page - lo_page) // 2)
        cuts = sorted(r.sample(range(lo_page, hi_page + 1), 2 * n))
        return [{"start": cuts[2 * i] * PAGE, "end": cuts[2 * i + 1] * PAGE}
                for i in range(n)]

    def pattern(self, max_nr):
        r, p = self.r, {}
        if r.random() < 0.5:
            p["sz-min"] = r.choice([0, PAGE])
        if r.random() < 0.5:
            p["sz-max"] = r.choice([PAGE, 2 * MIB, U64])
        if r.random() < 0.5:
            p["nr-accesses-max"] = r.randint(0, max_nr)
        if r.random() < 0.5:
            p["nr-accesses-min"] = r.randint(0, p.get("nr-accesses-max", max_nr))
        if r.random() < 0.5:
            p["age-max"] = r.choice([0, 5, 100, U32])
        if r.random() < 0.5:
            p["age-min"] = r.randint(0, min(p.get("age-max", 50), 50))
        return p

    def quotas(self):
        r, q = self.r, {}
        for k, vals in (("ms", [0, 1, 10, 1000]), ("bytes", [0, PAGE, 64 * MIB, U64]),
                        ("reset-interval-ms", [1, 100, 1000, 3600000])):
            if r.random() < 0.5:
                q[k] = r.choice(vals)
        if r.random() < 0.5:
            q["weights"] = {k: r.randint(0, 100) for k in ("sz", "nr-accesses", "age")
                            if r.random() < 0.7}
        if r.random() < 0.5:
            goals = []
            for _ in range(r.randint(0, 8)):
                metrics = ["user-input", "rss-bytes"] + (["some-mem-psi-us"] if self.has_psi else [])
                g = {"metric": r.choice(metrics), "target-value": r.choice([1, 1000, 64 * MIB, U64])}
                if g["metric"] == "user-input" and r.random() < 0.5:
                    g["current-value"] = r.choice([0, 1, 500, U64])
                goals.append(g)
            q["goals"] = goals
        return q

    def watermarks(self):
        r = self.r
        if r.random() < 0.3:
            return {"metric": "none", "high": r.randint(0, U32), "mid": 0, "low": 0}
        hi = r.randint(0, 1000)
        mid = r.randint(0, hi)
        w = {"metric": "free-mem-rate", "high": hi, "mid": mid, "low": r.randint(0, mid)}
        if r.random() < 0.5:
            w["interval-us"] = r.choice([1000, 100000, 5000000, 3600000000])
        return w

    def filters(self):
        r, out = self.r, []
        for _ in range(r.choice([0, 1, 2, 16])):
            f = {"type": r.choice(["addr", "young"])}
            if f["type"] == "addr":
                a = sorted(r.sample(range(0, (self.mem + 64 * MIB) // PAGE), 2))
                f["start"], f["end"] = a[0] * PAGE, a[1] * PAGE
            for k in ("matching", "allow"):
                if r.random() < 0.5:
                    f[k] = r.random() < 0.5
            out.append(f)
        return out

    def scheme(self, attrs, action=None):
        r = self.r
        max_nr = attrs["aggr-us"] // attrs["sample-us"]
        action = action or r.choice(ACTIONS if self.has_node0 else ACTIONS[:6])
        s = {"action": action}
        if r.random() < 0.7:
            s["access-pattern"] = self.pattern(max_nr)
        if r.random() < 0.3:
            s["apply-interval-us"] = attrs["sample-us"] * r.choice([1, 3, 100])
        if r.random() < 0.5:
            s["quotas"] = self.quotas()
        if r.random() < 0.3:
            s["watermarks"] = self.watermarks()
        if r.random() < 0.4:
            s["filters"] = self.filters()
        if action.startswith("migrate-"):
            s["target-nid"] = 0
        return s

    def schemes(self, attrs):
        n = self.r.choice([0, 1, 1, 2, 3, 8, 16])
        return [self.scheme(attrs) for _ in range(n)]

    def valid_start(self, mid):
        r = self.r
        a = {"id": mid}
        attrs = self.attrs()
        for k, v in attrs.items():
            if r.random() < 0.6 or k in ("sample-us",):
                a[k] = v
        attrs = dict({"sample-us": 5000, "aggr-us": 100000, "update-us": 1000000,
                      "min-nr-regions": 10, "max-nr-regions": 1000}, **{
                          k: v for k, v in a.items() if k != "id"})
        # defaults may not fit what was given: give all, then
        if not (attrs["sample-us"] <= attrs["aggr-us"] <= 1000 * attrs["sample-us"]
                and attrs["update-us"] >= attrs["sample-us"]
                and attrs["min-nr-regions"] <= attrs["max-nr-regions"]):
            attrs = self.attrs()
            a.update(attrs)
        src = r.choice(SOURCES_TCG + [None])
        if src:
            a["source"] = src
        if src in ("tcg-accessed", None) and r.random() < 0.4:
            a["write-source"] = r.choice(["dirty-bitmap", "page-hash"])
        if r.random() < 0.4:
            a["clock"] = r.choice(["realtime", "virtual"])
        if r.random() < 0.3:
            a["regions"] = self.ranges(r.choice([1, 2, 10, 4096]) if r.random() < 0.1 else None)
        if r.random() < 0.5:
            a["schemes"] = self.schemes(attrs)
        return Unit("damon-start", a, "valid", eff_id=mid)

    def valid_tune(self, mid):
        r = self.r
        attrs = self.attrs()
        a = dict(attrs, id=mid)
        if r.random() < 0.5:
            a["schemes"] = self.schemes(attrs)
        return Unit("damon-tune", a, "valid", eff_id=mid)

    def valid_query(self, mid):
        r = self.r
        cmd = r.choice(COMMANDS[3:])
        if cmd == "query-damon":
            return Unit(cmd, None, "valid")
        a = {"id": mid}
        if cmd == "query-damon-wss":
            if r.random() < 0.5:
                a["percentiles"] = r.sample(range(101), r.choice([0, 1, 5, 101]))
        if cmd == "query-damon-schemes" and r.random() < 0.5:
            a["tried-regions"] = r.random() < 0.5
        return Unit(cmd, a, "valid", eff_id=mid)

    def valid_stop(self, mid):
        return Unit("damon-stop", {"id": mid}, "valid", eff_id=mid)

    def valid_any(self, mid):
        return self.r.choice([self.valid_start, self.valid_stop, self.valid_tune,
                              self.valid_query])(mid)

    # -- mutations of valid JSON --------------------------------------------

    def _paths(self, obj, path=()):
        """Every (path) to a member or list item under obj."""
        out = []
        if isinstance(obj, dict):
            for k, v in obj.items():
                out.append(path + (k,))
                out += self._paths(v, path + (k,))
        elif isinstance(obj, list):
            for i, v in enumerate(obj[:20]):
                out.append(path + (i,))
                out += self._paths(v, path + (i,))
        return out

    @staticmethod
    def _parent(obj, path):
        for p in path[:-1]:
            obj = obj[p]
        return obj

    def other_value(self, v):
        r = self.r
        choices = [r.choice(EDGE_NUMBERS), "x", "", True, None, [], {}, [1, 2], {"a": 1},
                   r.choice(WEIRD_IDS)]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return r.choice(EDGE_NUMBERS + choices)
        return r.choice(choices)

    def mutate(self, unit):
        """A well-formed mutation of unit's arguments."""
        r = self.r
        args = json.loads(json.dumps(unit.args)) if unit.args is not None else {}
        paths = self._paths(args)
        how = r.choice(["type", "type", "missing", "extra", "number", "number", "id",
                        "longid", "lists", "args", "command"])
        if how in ("type", "number", "missing") and not paths:
            how = "extra"
        if how == "type":
            p = r.choice(paths)
            par = self._parent(args, p)
            par[p[-1]] = self.other_value(par[p[-1]])
        elif how == "number":
            nums = [p for p in paths if isinstance(self._parent(args, p)[p[-1]], int)
                    and not isinstance(self._parent(args, p)[p[-1]], bool)]
            p = r.choice(nums or paths)
            self._parent(args, p)[p[-1]] = r.choice(EDGE_NUMBERS)
        elif how == "missing":
            p = r.choice(paths)
            par = self._parent(args, p)
            del par[p[-1]]
        elif how == "extra":
            dicts = [()] + [p for p in paths if isinstance(self._parent(args, p)[p[-1]], dict)]
            p = r.choice(dicts)
            d = args
            for k in p:
                d = d[k]
            d[r.choice(["bogus", "ID", "sample_us", "Id", "x" * 100])] = self.other_value(0)
        elif how == "id":
            args["id"] = r.choice(WEIRD_IDS)
        elif how == "longid":
            # QMP reads its socket a byte per main-loop pass: big ones are rare
            n = 100 * 1024 if r.random() < 0.05 else r.choice([33, 1024, 4096])
            ch = r.choice(["a", "Z9", "\u00e9"])
            # an escaped e-acute is 6 bytes of JSON
            args["id"] = (ch * n)[:n // 6 if ch == "\u00e9" else n]
        elif how == "lists":
            return self.big_lists(unit)
        elif how == "args":
            return Unit(unit.cmd, r.choice([[], "x", 1, None, [{"id": "a0"}]]), "mutate:args")
        elif how == "command":
            return Unit(r.choice(["damon-Start", "damon", "query-damon-x", "", "DAMON-STOP",
                                  "damon-start" + "x" * 1000]), args, "mutate:command")
        return Unit(unit.cmd, args, "mutate:" + how, eff_id=effective_id(unit.cmd, args))

    def big_lists(self, unit):
        """Long and bad lists: regions, schemes, filters, goals, percentiles."""
        r = self.r
        args = dict(unit.args or {})
        cmd = unit.cmd
        what = r.choice(["regions", "schemes", "filters", "goals", "percentiles"])
        if what == "percentiles":
            cmd = "query-damon-wss"
            args = {"id": args.get("id", "damon0"),
                    "percentiles": r.choice([[r.randint(0, 100) for _ in range(r.choice([101, 102, 5000]))],
                                             [100, 101], [255], [256], [-1], list(range(101)) * 2])}
        elif what == "regions":
            cmd = "damon-start"
            n = r.choice([4096, 4097]) if r.random() < 0.15 else r.choice([2, 50, 500])
            kind = r.choice(["sorted", "overlap", "unsorted", "outside", "unaligned", "empty",
                             "inverted"])
            step = max(PAGE, (self.mem - MIB) // n // PAGE * PAGE)
            regs = [{"start": MIB + i * step, "end": MIB + i * step + PAGE} for i in range(n)]
            if kind == "overlap" and n > 1:
                k = r.randrange(1, n)
                regs[k]["start"] = regs[k - 1]["start"]
            elif kind == "unsorted":
                r.shuffle(regs)
            elif kind == "outside":
                k = r.randrange(n)
                base = r.choice([self.mem, 0xe0000000, 1 << 32, U64 - PAGE + 1 - PAGE])
                regs[k] = {"start": base, "end": base + PAGE}
                regs.sort(key=lambda x: x["start"])
            elif kind == "unaligned":
                regs[r.randrange(n)]["end"] += 1
            elif kind == "empty":
                regs = []
            elif kind == "inverted":
                k = r.randrange(n)
                regs[k]["start"], regs[k]["end"] = regs[k]["end"], regs[k]["start"]
            args = {k: v for k, v in args.items() if k in ("id", "source")} if cmd == unit.cmd \
                else {"id": args.get("id", "damon0")}
            args["regions"] = regs
        else:
            cmd = r.choice(["damon-start", "damon-tune"])
            attrs = {"sample-us": 5000, "aggr-us": 100000}
            base = {"id": args.get("id", "damon0")} if isinstance(args.get("id"), str) else {}
            if what == "schemes":
                n = 300 if r.random() < 0.1 else r.choice([16, 17, 100])
                base["schemes"] = [self.scheme(attrs, "stat") for _ in range(n)]
            elif what == "filters":
                s = self.scheme(attrs, "stat")
                s["filters"] = [{"type": "young"}] * r.choice([16, 17, 1000])
                base["schemes"] = [s]
            else:
                s = self.scheme(attrs, "stat")
                s["quotas"] = {"goals": [{"metric": "user-input", "target-value": 1}]
                               * r.choice([8, 9, 500])}
                base["schemes"] = [s]
            args = base
        return Unit(cmd, args, "lists:" + what, eff_id=effective_id(cmd, args))

    # -- raw bytes ------------------------------------------------------------

    BAD_BYTES = [b"\x00", b"\x01", b"\x1f", b"\x7f\xff", b"\xfe", b"\xff", b"\x80", b"\xbf",
                 b"\xc0", b"\xc1\x81", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80"]

    def raw(self, unit):
        """A raw unit from unit.  For damon-start and damon-stop every
        form is one QEMU cannot accept (so no monitor changes state behind
        the model's back) unless its id is unambiguous."""
        r = self.r
        base = Unit(unit.cmd, unit.args, unit.kind).finish("@RID@")
        text = base.text.replace(b'"@RID@"', b"@RID@")
        changes = unit.cmd in ("damon-start", "damon-stop")
        how = r.choice(["badbyte", "badid", "truncate", "nest", "nul", "dupkey", "garbage",
                        "escape"])
        if how == "badbyte":
            i = r.randrange(1, len(text))
            text = text[:i] + r.choice(self.BAD_BYTES) + text[i:]
        elif how == "badid" or how == "nul":
            bad = (b"\\u0000" if how == "nul" and not changes else
                   r.choice(self.BAD_BYTES)) * r.choice([1, 3])
            mid = b"a0" + bad + b"x" * (100 * 1024 if r.random() < 0.05 else r.choice([0, 10, 1000]))
            text = (b'{"execute": "%s", "arguments": {"id": "%s"}, "id": @RID@}'
                    % (unit.cmd.encode(), mid))
            if how == "nul" and not changes:
                return Unit(unit.cmd, None, "raw:nul", text=text, raw=True)
        elif how == "truncate":
            text = text[:r.randrange(1, len(text))]
        elif how == "nest":
            depth = r.choice([100, 1000, 1022, 1023, 1024, 1025, 3000])
            inner = b"[" * depth + b"]" * depth if r.random() < 0.5 else \
                b'{"a":' * depth + b"1" + b"}" * depth
            member = b"regions" if unit.cmd == "damon-start" else b"id"
            text = (b'{"execute": "%s", "arguments": {"id": "a0", "%s": %s}, "id": @RID@}'
                    % (unit.cmd.encode(), member, inner))
        elif how == "dupkey":
            eid = effective_id(unit.cmd, unit.args)
            if changes and not (isinstance(eid, str) and unit.args and "id" in unit.args):
                text = text[:-1] + b', "execute": "query-damon"}'
            else:
                # both copies agree, so the monitor named is unambiguous
                args = json.dumps(unit.args or {}).encode()
                text = b'{"execute": "%s", "arguments": %s, "arguments": %s, "id": @RID@}' % (
                    unit.cmd.encode(), args, args)
                return Unit(unit.cmd, unit.args, "raw:dupkey", text=text, raw=True,
                            eff_id=eid)
        elif how == "garbage":
            text = bytes(r.randrange(256) for _ in range(r.choice([1, 10, 1000])))
            text = text.replace(b"{", b"(")
        elif how == "escape":
            esc = r.choice([b"\\ud800", b"\\udfff", b"\\u00", b"\\x41", b"\\", b"\\uZZZZ",
                            b"\\ud800\\u0041"])
            text = (b'{"execute": "%s", "arguments": {"id": "a0%s"}, "id": @RID@}'
                    % (unit.cmd.encode(), esc))
        return Unit(unit.cmd, None, "raw:" + how, text=text, raw=True)


# ---------------------------------------------------------------------------
# the oracle

def _u(v, bits):
    """QEMU's value of a uintN member: negatives wrap (the input visitor
    takes int64 for uint64); None if the visitor refuses it."""
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    if v < 0:
        if v < -(1 << 63):
            return None
        v += 1 << 64
    if v > (1 << bits) - 1:
        return None
    return v


def _members(d, allowed, required, where):
    if not isinstance(d, dict):
        return "%s is not an object" % where
    for k in d:
        if k not in allowed:
            return "%s has unknown member %r" % (where, k)
    for k in required:
        if k not in d:
            return "%s lacks %r" % (where, k)
    return None


def _types(d, spec, where):
    """spec: {member: "u64"|"u32"|"u8"|"bool"|"str"|[enum values]}."""
    for k, t in spec.items():
        if k not in d:
            continue
        v = d[k]
        if isinstance(t, list):
            if not isinstance(v, str) or v not in t:
                return "%s.%s is not one of %s" % (where, k, t)
        elif t == "str":
            if not isinstance(v, str):
                return "%s.%s is not a string" % (where, k)
        elif t == "bool":
            if not isinstance(v, bool):
                return "%s.%s is not a bool" % (where, k)
        elif _u(v, int(t[1:])) is None:
            return "%s.%s is not a %s" % (where, k, t)
    return None


def _check_scheme(i, s, attrs, mem):
    w = "schemes[%d]" % i
    e = (_members(s, ("action", "access-pattern", "apply-interval-us", "quotas",
                      "watermarks", "filters", "target-nid"), ("action",), w) or
         _types(s, {"action": ACTIONS, "apply-interval-us": "u64", "target-nid": "u32"}, w))
    if e:
        return e
    migrate = s["action"].startswith("migrate-")
    if migrate != ("target-nid" in s):
        return "%s.target-nid is for migrate actions only, and needed by them" % w
    sample = attrs.get("sample-us")
    ap = _u(s.get("apply-interval-us", 0), 64)
    if sample and ap and (ap % sample or ap > 3600000000):
        return "%s.apply-interval-us" % w
    p = s.get("access-pattern", {})
    e = (_members(p, ("sz-min", "sz-max", "nr-accesses-min", "nr-accesses-max", "age-min",
                      "age-max"), (), w + ".access-pattern") or
         _types(p, {"sz-min": "u64", "sz-max": "u64", "nr-accesses-min": "u32",
                    "nr-accesses-max": "u32", "age-min": "u32", "age-max": "u32"},
                w + ".access-pattern"))
    if e:
        return e
    szmin, szmax = _u(p.get("sz-min", 0), 64), _u(p.get("sz-max", U64), 64)
    if szmax < PAGE or szmin > szmax or szmin > mem:
        return "%s.access-pattern sz" % w
    if _u(p.get("age-min", 0), 32) > _u(p.get("age-max", U32), 32):
        return "%s.access-pattern.age-min" % w
    if attrs.get("sample-us") and attrs.get("aggr-us"):
        mx = attrs["aggr-us"] // attrs["sample-us"]
        amax = _u(p.get("nr-accesses-max", mx), 32)
        if amax > mx or _u(p.get("nr-accesses-min", 0), 32) > amax:
            return "%s.access-pattern.nr-accesses" % w
    q = s.get("quotas", {})
    e = (_members(q, ("ms", "bytes", "reset-interval-ms", "weights", "goals"), (),
                  w + ".quotas") or
         _types(q, {"ms": "u64", "bytes": "u64", "reset-interval-ms": "u64"}, w + ".quotas"))
    if e:
        return e
    if not 1 <= _u(q.get("reset-interval-ms", 1000), 64) <= 3600000:
        return "%s.quotas.reset-interval-ms" % w
    wt = q.get("weights", {})
    e = (_members(wt, ("sz", "nr-accesses", "age"), (), w + ".quotas.weights") or
         _types(wt, {"sz": "u32", "nr-accesses": "u32", "age": "u32"}, w + ".quotas.weights"))
    if e:
        return e
    if any(_u(v, 32) > 100 for v in wt.values()):
        return "%s.quotas.weights" % w
    goals = q.get("goals", [])
    if not isinstance(goals, list):
        return "%s.quotas.goals is not a list" % w
    if len(goals) > 8:
        return "%s.quotas.goals has more than 8" % w
    for k, g in enumerate(goals):
        gw = "%s.quotas.goals[%d]" % (w, k)
        e = (_members(g, ("metric", "target-value", "current-value"), ("metric", "target-value"), gw)
             or _types(g, {"metric": GOAL_METRICS, "target-value": "u64", "current-value": "u64"}, gw))
        if e:
            return e
        if _u(g["target-value"], 64) == 0:
            return gw + ".target-value is 0"
        if "current-value" in g and g["metric"] != "user-input":
            return gw + ".current-value for a measured metric"
    wm = s.get("watermarks")
    if wm is not None:
        ww = w + ".watermarks"
        e = (_members(wm, ("metric", "interval-us", "high", "mid", "low"),
                      ("metric", "high", "mid", "low"), ww) or
             _types(wm, {"metric": ["none", "free-mem-rate"], "interval-us": "u64",
                         "high": "u64", "mid": "u64", "low": "u64"}, ww))
        if e:
            return e
        if wm["metric"] == "free-mem-rate":
            iv = _u(wm.get("interval-us", 5000000), 64)
            hi, md, lo = (_u(wm[k], 64) for k in ("high", "mid", "low"))
            if not 1000 <= iv <= 3600000000 or hi > 1000 or md > hi or lo > md:
                return ww + " out of range"
    fl = s.get("filters", [])
    if not isinstance(fl, list):
        return w + ".filters is not a list"
    if len(fl) > 16:
        return w + ".filters has more than 16"
    for k, f in enumerate(fl):
        fw = "%s.filters[%d]" % (w, k)
        e = (_members(f, ("type", "matching", "allow", "start", "end"), ("type",), fw) or
             _types(f, {"type": ["addr", "young"], "matching": "bool", "allow": "bool",
                        "start": "u64", "end": "u64"}, fw))
        if e:
            return e
        has = ("start" in f) or ("end" in f)
        if f["type"] == "young" and has:
            return fw + " young with a range"
        if f["type"] == "addr":
            if "start" not in f or "end" not in f:
                return fw + " addr without start and end"
            a, b = _u(f["start"], 64), _u(f["end"], 64)
            if (a | b) & (PAGE - 1) or a >= b:
                return fw + " bad range"
    return None


def _check_schemes(args, attrs, mem):
    if "schemes" not in args:
        return None
    sl = args["schemes"]
    if not isinstance(sl, list):
        return "schemes is not a list"
    for i, s in enumerate(sl):
        if i == 16:
            return "more than 16 schemes"
        e = _check_scheme(i, s, attrs, mem)
        if e:
            return e
    return None


ATTR_TYPES = {"sample-us": "u64", "aggr-us": "u64", "update-us": "u64",
              "min-nr-regions": "u32", "max-nr-regions": "u32"}
ATTR_DEFAULTS = {"sample-us": 5000, "aggr-us": 100000, "update-us": 1000000,
                 "min-nr-regions": 10, "max-nr-regions": 1000}


def _check_attrs(a):
    """The attrs rules of config.c's qdamon_check_attrs, on complete attrs."""
    s = a["sample-us"]
    if not 100 <= s <= 10000000:
        return "sample-us out of range"
    if not s <= a["aggr-us"] <= 1000 * s:
        return "aggr-us out of range"
    if not s <= a["update-us"] <= 3600000000:
        return "update-us out of range"
    if not 3 <= a["min-nr-regions"] <= 100000:
        return "min-nr-regions out of range"
    if not a["min-nr-regions"] <= a["max-nr-regions"] <= 100000:
        return "max-nr-regions out of range"
    return None


def must_fail(cmd, args, mem, running_attrs=None):
    """Why request (cmd, args) must be refused whatever the state, or
    None.  mem: guest RAM bytes (RAM is [0, mem) on a pc machine of less
    than 3 GiB).  running_attrs: the monitor's attrs for damon-tune, if
    known."""
    if cmd not in COMMANDS:
        return None
    if args is not None and not isinstance(args, dict):
        return "arguments is not an object"
    a = args or {}
    spec = {
        "damon-start": dict(ATTR_TYPES, **{"id": "str", "source": SOURCES,
                                           "write-source": SOURCES, "pagemap-fd": "str",
                                           "idle-bitmap-fd": "str", "regions": None,
                                           "clock": ["realtime", "virtual"], "schemes": None}),
        "damon-stop": {"id": "str"},
        "damon-tune": dict(ATTR_TYPES, **{"id": "str", "schemes": None}),
        "query-damon": {},
        "query-damon-regions": {"id": "str"},
        "query-damon-wss": {"id": "str", "min-nr-accesses": "u32", "percentiles": None},
        "query-damon-schemes": {"id": "str", "tried-regions": "bool"},
    }[cmd]
    required = ("id",) if cmd.startswith("query-damon-") else ()
    e = _members(a, spec.keys(), required, "arguments") or \
        _types(a, {k: v for k, v in spec.items() if v is not None}, "arguments")
    if e:
        return e
    if "id" in a and cmd.startswith("damon-") and not ID_RE.match(a["id"]):
        # damon-stop/tune say "no monitor": no valid monitor has such an id
        return "id breaks the id rule"
    if cmd == "query-damon-wss":
        pl = a.get("percentiles", [])
        if not isinstance(pl, list) or any(_u(p, 8) is None for p in pl):
            return "percentiles not a list of uint8"
        if len(pl) > 101 or any(p > 100 for p in pl):
            return "percentiles out of range"
        if "min-nr-accesses" in a and a["min-nr-accesses"] == 0:
            return "min-nr-accesses is 0"
        return None
    if cmd == "damon-start":
        attrs = dict(ATTR_DEFAULTS)
        attrs.update({k: _u(a[k], 64) for k in ATTR_TYPES if k in a})
        e = _check_attrs(attrs)
        if e:
            return e
        ws = a.get("write-source")
        if ws is not None:
            src = a.get("source", "tcg-accessed")
            if ws not in WRITES_ONLY or ws == src or src in WRITES_ONLY:
                return "write-source pairing"
        if "source" in a and a["source"] != "idle-page" and (
                "pagemap-fd" in a or "idle-bitmap-fd" in a):
            return "fd for a source other than idle-page"
        if a.get("source") == "dirty-ring":
            return "dirty-ring under TCG"
        monitored = mem
        if "regions" in a:
            rl = a["regions"]
            if not isinstance(rl, list):
                return "regions is not a list"
            for i, x in enumerate(rl):
                e = _members(x, ("start", "end"), ("start", "end"), "regions[%d]" % i) or \
                    _types(x, {"start": "u64", "end": "u64"}, "regions[%d]" % i)
                if e:
                    return e
            if not 1 <= len(rl) <= 4096:
                return "regions count"
            prev = 0
            for i, x in enumerate(rl):
                s, t = _u(x["start"], 64), _u(x["end"], 64)
                if (s | t) & (PAGE - 1) or s >= t or (i and s < prev) or t > mem:
                    return "regions[%d] bad" % i
                prev = t
            monitored = sum(_u(x["end"], 64) - _u(x["start"], 64) for x in rl)
        return _check_schemes(a, attrs, monitored)
    if cmd == "damon-tune":
        if "sample-us" in a and not 100 <= _u(a["sample-us"], 64) <= 10000000:
            return "sample-us out of range"
        if "min-nr-regions" in a and not 3 <= _u(a["min-nr-regions"], 32) <= 100000:
            return "min-nr-regions out of range"
        if "max-nr-regions" in a and _u(a["max-nr-regions"], 32) > 100000:
            return "max-nr-regions out of range"
        if "update-us" in a and _u(a["update-us"], 64) > 3600000000:
            return "update-us out of range"
        attrs = {}
        if running_attrs:
            attrs = dict(running_attrs)
            attrs.update({k: _u(a[k], 64) for k in ATTR_TYPES if k in a})
            e = _check_attrs(attrs)
            if e:
                return e
        else:
            attrs = {k: _u(a[k], 64) for k in ("sample-us", "aggr-us") if k in a}
            if len(attrs) < 2:
                attrs.pop("aggr-us", None)
        return _check_schemes(a, attrs, mem)
    return None
