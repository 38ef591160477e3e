#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qdamo report idle against a fake QEMU: a QMP server on a unix socket
in this process, which the real qdamo binary talks to.  TAP output.

  test-idle.py QDAMO

* report: the table of a canned query-damon-idle reply as a whole
  (docs/qdamo.md shows it), the default bins left to QEMU;
* bins: --bins 500ms,2s,1m,3600000 goes to QEMU as bins-ms [500,
  2000, 60000, 3600000] (a bare number is ms), with -i's monitor, and
  the labels follow the bounds QEMU returned; --raw prints bytes and
  microseconds;
* json: --json gives the reply as it came;
* bad-bins: bounds not increasing, 0, 33 of them, a word that is no
  duration: status 2, the message naming --bins, QEMU not connected to.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakeqmp  # noqa: E402

QDAMO = sys.argv[1]
TAP = fakeqmp.Tap()
MiB = 1 << 20

# query-damon-idle as qmp/damon.json describes it, at the default bins
IDLE = {"id": "damon0", "nr-aggregations": 1300,
        "accessed-bytes": 4 * MiB, "total-bytes": 64 * MiB,
        "bins": [{"max-age-ms": 1000, "bytes": 2 * MiB, "nr-regions": 1},
                 {"max-age-ms": 10000, "bytes": 0, "nr-regions": 0},
                 {"max-age-ms": 60000, "bytes": 10 * MiB, "nr-regions": 3},
                 {"max-age-ms": 300000, "bytes": 16 * MiB, "nr-regions": 2},
                 {"bytes": 32 * MiB, "nr-regions": 4}]}

REPORT = """\
# damon0 of QMP socket {sock}: aggregation 1300, 64.0 MiB monitored
IDLE         BYTES   MIB  %TOTAL
accessed   4.0 MiB   4.0     6.2
<= 1 s     2.0 MiB   2.0     3.1
<= 10 s        0 B   0.0     0.0
<= 1 min  10.0 MiB  10.0    15.6
<= 5 min  16.0 MiB  16.0    25.0
> 5 min   32.0 MiB  32.0    50.0
"""


class FakeQemu(fakeqmp.FakeQemu):
    """qdamon's QEMU as far as query-damon-idle goes: the bins it was
    asked for, with the bytes of IDLE's first ones."""

    def answer(self, cmd, args):
        if cmd != "query-damon-idle":
            return {"return": {}}
        reply = json.loads(json.dumps(IDLE))
        if "bins-ms" in args:
            bins = [{"max-age-ms": ms, "bytes": 0, "nr-regions": 0}
                    for ms in args["bins-ms"]] + [{"bytes": 0, "nr-regions": 0}]
            reply["bins"] = bins
        return {"return": reply}


def qdamo(sock, *args):
    return fakeqmp.run_qdamo(QDAMO, sock, *args)


check = TAP.check


status = fakeqmp.exit_status


def test_report(tmp):
    fq = FakeQemu(os.path.join(tmp, "report.sock"))
    try:
        r = qdamo(fq.path, "report", "idle")
    finally:
        fq.close()
    p = status(r, 0)
    want = REPORT.format(sock=fq.path)
    if r.stdout != want:
        p.append("report idle printed\n%s\nnot\n%s" % (r.stdout, want))
    if fq.sent("query-damon-idle") != [{"id": "damon0"}]:
        p.append("asked %s" % fq.sent("query-damon-idle"))
    check("report", p)


def test_bins(tmp):
    fq = FakeQemu(os.path.join(tmp, "bins.sock"))
    try:
        r = qdamo(fq.path, "-i", "m1", "report", "idle", "--bins", "500ms,2s,1m,3600000")
        raw = qdamo(fq.path, "report", "idle", "-b", "1s", "--raw")
    finally:
        fq.close()
    p = status(r, 0) + status(raw, 0)
    asked = fq.sent("query-damon-idle")
    if asked != [{"id": "m1", "bins-ms": [500, 2000, 60000, 3600000]},
                 {"id": "damon0", "bins-ms": [1000]}]:
        p.append("asked %s" % asked)
    labels = [line.split("  ")[0].strip() for line in r.stdout.splitlines()[2:]]
    if labels != ["accessed", "<= 500 ms", "<= 2 s", "<= 1 min", "<= 1 h", "> 1 h"]:
        p.append("labels %s" % labels)
    rows = [line.split() for line in raw.stdout.splitlines()[1:]]
    if rows[:3] != [["IDLE", "BYTES", "MIB", "%TOTAL"],
                    ["accessed", str(4 * MiB), "4.0", "6.2"],
                    ["<=", "1000000", "0", "0.0", "0.0"]]:
        p.append("--raw rows %s" % rows)
    check("bins", p)


def test_json(tmp):
    fq = FakeQemu(os.path.join(tmp, "json.sock"))
    try:
        r = qdamo(fq.path, "report", "idle", "--json")
    finally:
        fq.close()
    p = status(r, 0)
    try:
        if json.loads(r.stdout) != IDLE:
            p.append("--json is not the reply: %s" % r.stdout)
    except ValueError as e:
        p.append("--json printed no JSON (%s): %s" % (e, r.stdout))
    check("json", p)


def test_bad_bins(tmp):
    cases = [("1s,1s", "--bins must be strictly increasing"),
             ("10s,5s", "--bins must be strictly increasing"),
             ("0", "--bins must be strictly increasing and at least 1ms"),
             (",".join(str(i) for i in range(1, 34)), "--bins: at most 32 bounds (got 33)"),
             ("1s,soon", "--bins: ")]
    p = []
    for bins, message in cases:
        fq = FakeQemu(os.path.join(tmp, "bad.sock"))
        try:
            r = qdamo(fq.path, "report", "idle", "--bins", bins)
        finally:
            fq.close()
        p += ["%s: %s" % (bins, x) for x in status(r, 2)]
        if message not in r.stderr:
            p.append("%s: stderr %s, not with %s" % (bins, r.stderr.strip(), message))
        if fq.connections:
            p.append("%s: qdamo connected to QEMU: %s" % (bins, fq.commands))
    check("bad-bins", p)


def main():
    return TAP.run("test-idle-", (test_report, test_bins, test_json, test_bad_bins))


if __name__ == "__main__":
    sys.exit(main())
