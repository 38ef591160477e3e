#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qdamo's interval auto-tuning and split options against a fake QEMU:
a QMP server on a unix socket in this process, which the real qdamo
binary talks to.  TAP output.

  test-tuning.py QDAMO

* start: --intervals-goal 4%,3,5ms,10s --max-cpu 1% --split random go
  to damon-start as intervals-goal {access-bp 400, aggrs 3,
  min-sample-us 5000, max-sample-us 10000000, max-cpu-permille 10} and
  split "random"; qdamo then says what the tuner aims at;
* tune: --monitoring-intervals-goal (damo's name) 250bp,0 as damon-tune's
  intervals-goal {access-bp 250, aggrs 0} (tuning off), nothing else;
* status: the intervals in force come from intervals-tuning, marked
  "auto", and the set ones when no tuning is reported;
* bad: a share over 100 %, finer than 0.01 %, a list of 3, AGGRS that
  is no number, --max-cpu without a goal: status 2, the message naming
  the option, QEMU not connected to.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakeqmp  # noqa: E402

QDAMO = sys.argv[1]
TAP = fakeqmp.Tap()
MiB = 1 << 20

GOAL = {"access-bp": 400, "aggrs": 3, "min-sample-us": 5000,
        "max-sample-us": 10000000, "max-cpu-permille": 10}


def monitor(tuning):
    m = {"id": "damon0", "state": "running", "source": "page-hash",
         "sees": "writes-only", "source-reason": "asked for", "clock": "realtime",
         "attrs": {"sample-us": 5000, "aggr-us": 100000, "update-us": 1000000,
                   "min-nr-regions": 10, "max-nr-regions": 1000, "split": "random"},
         "nr-regions": 12, "monitored-bytes": 256 * MiB, "nr-aggregations": 30,
         "nr-samples": 600, "cpu-ns": 20000000}
    if tuning:
        m["intervals-tuning"] = {"goal": GOAL, "sample-us": 40000, "aggr-us": 800000,
                                 "nr-tunes": 4, "last-score-bp": 0,
                                 "last-adaptation-bp": 20000, "limited-by": "goal",
                                 "sample-cost-ns": 60000}
    return m


class FakeQemu(fakeqmp.FakeQemu):
    """damon-start/-tune accepted; query-damon lists one monitor, tuned
    or not as the test says."""

    tuning = True

    def answer(self, cmd, args):
        if cmd == "query-damon":
            return {"return": [monitor(self.tuning)]}
        return {"return": {}}


def qdamo(sock, *args):
    return fakeqmp.run_qdamo(QDAMO, sock, *args)


check = TAP.check
status = fakeqmp.exit_status


def test_start(tmp):
    fq = FakeQemu(os.path.join(tmp, "start.sock"))
    try:
        r = qdamo(fq.path, "start", "--source", "page-hash", "--intervals-goal",
                  "4%,3,5ms,10s", "--max-cpu", "1%", "--split", "random")
    finally:
        fq.close()
    p = status(r, 0)
    sent = fq.sent("damon-start")
    want = {"id": "damon0", "source": "page-hash", "split": "random",
            "intervals-goal": GOAL}
    if sent != [want]:
        p.append("damon-start got %s, not %s" % (json.dumps(sent), json.dumps([want])))
    line = ("intervals tuned toward 4.00% of the possible accesses seen, every 3 "
            "aggregations, sampling 5 ms..10 s, at most 1.0% of a core")
    if line not in r.stdout.splitlines():
        p.append("start printed\n%s\nwithout\n%s" % (r.stdout, line))
    check("start", p)


def test_tune(tmp):
    fq = FakeQemu(os.path.join(tmp, "tune.sock"))
    try:
        r = qdamo(fq.path, "tune", "--monitoring-intervals-goal", "250bp,0")
    finally:
        fq.close()
    p = status(r, 0)
    sent = fq.sent("damon-tune")
    if sent != [{"id": "damon0", "intervals-goal": {"access-bp": 250, "aggrs": 0}}]:
        p.append("damon-tune got %s" % json.dumps(sent))
    check("tune", p)


def test_status(tmp):
    fq = FakeQemu(os.path.join(tmp, "status.sock"))
    try:
        tuned = qdamo(fq.path, "status")
        fq.tuning = False
        fixed = qdamo(fq.path, "status")
    finally:
        fq.close()
    p = status(tuned, 0) + status(fixed, 0)
    row = tuned.stdout.splitlines()[1:2]
    if not row or " 40 ms auto " not in row[0] or " 800 ms auto " not in row[0]:
        p.append("tuned status row %s" % row)
    row = fixed.stdout.splitlines()[1:2]
    if not row or "auto" in row[0] or " 5 ms " not in row[0]:
        p.append("untuned status row %s" % row)
    check("status", p)


def test_bad(tmp):
    cases = [(["start", "--intervals-goal", "120%,3"], "'120%' is not a share from 0 to 100%"),
             (["start", "--intervals-goal", "0.001%,3"], "'0.001%' is not a share"),
             (["tune", "--intervals-goal", "4%,3,5ms"], "is not ACCESS,AGGRS[,MIN,MAX]"),
             (["tune", "--intervals-goal", "4%,x"], "AGGRS 'x' is not a number"),
             (["start", "--max-cpu", "1%"], "give --intervals-goal with it")]
    p = []
    for args, message in cases:
        fq = FakeQemu(os.path.join(tmp, "bad.sock"))
        try:
            r = qdamo(fq.path, *args)
        finally:
            fq.close()
        p += ["%s: %s" % (args, x) for x in status(r, 2)]
        if message not in r.stderr:
            p.append("%s: stderr %s, not with %s" % (args, r.stderr.strip(), message))
        if fq.connections:
            p.append("%s: qdamo connected to QEMU: %s" % (args, fq.commands))
    check("bad", p)


def main():
    return TAP.run("test-tuning-", (test_start, test_tune, test_status, test_bad))


if __name__ == "__main__":
    sys.exit(main())
