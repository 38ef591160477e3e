#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qdamo's schemes (DAMOS) against a fake QEMU: a QMP server on a unix
socket in this process, which the real qdamo binary talks to.  TAP output.

  test-schemes.py QDAMO

* start-flags: --scheme-* options give exactly the damon-start arguments
  wanted, two schemes apart, with the other options beside them;
* start-errors: a --scheme-* option before any --scheme-action, a bad
  --scheme-goal, an unknown action: status 2, the message naming the
  option, and QEMU not even connected to;
* schemes-file: --schemes FILE goes to QEMU as it is, members qdamo does
  not know and 18446744073709551615 (which json-glib holds as -1)
  included; a file that is no list, or none, fails with status 1;
* tune: the schemes replace the monitor's; --no-schemes sends [];
* report: 'report schemes' of a canned query-damon-schemes reply, the
  table as a whole (docs/qdamo.md shows it), --raw's numbers,
  --tried-regions asking for and printing the regions, --json giving
  the reply as it came;
* report-old-qemu: a qdamon QEMU without query-damon-schemes is named as
  such (status 4), not as a QEMU without qdamon.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakeqmp  # noqa: E402

QDAMO = sys.argv[1]
U64_MAX = 18446744073709551615
U32_MAX = 4294967295
TAP = fakeqmp.Tap()

MONITOR = {
    "id": "damon0", "state": "running", "source": "tcg-accessed",
    "sees": "reads-and-writes", "clock": "realtime",
    "attrs": {"sample-us": 5000, "aggr-us": 100000, "update-us": 1000000,
              "min-nr-regions": 10, "max-nr-regions": 1000},
    "nr-regions": 20, "monitored-bytes": 1 << 29, "nr-aggregations": 300,
}


def pattern(sz=(0, U64_MAX), nr=(0, 20), age=(0, U32_MAX)):
    return {"sz-min": sz[0], "sz-max": sz[1], "nr-accesses-min": nr[0],
            "nr-accesses-max": nr[1], "age-min": age[0], "age-max": age[1]}


def stats(nr_tried, sz_tried, nr_applied, sz_applied, qt_exceeds):
    return {"nr-tried": nr_tried, "sz-tried": sz_tried, "nr-applied": nr_applied,
            "sz-applied": sz_applied, "qt-exceeds": qt_exceeds}


# query-damon-schemes as qmp/damon.json describes it: every default
# filled in; docs/qdamo.md shows the report of this reply
SCHEMES = {"id": "damon0", "schemes": [
    {"index": 0, "active": True, "watermark-value": 612,
     "scheme": {"action": "pageout",
                "access-pattern": pattern(sz=(4096, U64_MAX), nr=(0, 0), age=(50, U32_MAX)),
                "apply-interval-us": 0,
                "quotas": {"ms": 10, "bytes": 268435456, "reset-interval-ms": 1000,
                           "weights": {"sz": 0, "nr-accesses": 0, "age": 1},
                           "goals": [{"metric": "rss-bytes", "target-value": 1 << 30,
                                      "current-value": 1288490188}]},
                "watermarks": {"metric": "free-mem-rate", "interval-us": 5000000,
                               "high": 900, "mid": 800, "low": 50},
                "filters": []},
     "effective-quota-bytes": 268435456,
     "stats": stats(12, 201326592, 11, 188743680, 3),
     "skipped": [{"reason": "young", "bytes": 8388608},
                 {"reason": "failed", "bytes": 4194304,
                  "last-error": "Cannot allocate memory"}]},
    {"index": 1, "active": False,
     "scheme": {"action": "stat", "access-pattern": pattern(nr=(5, 20)),
                "apply-interval-us": 0,
                "quotas": {"ms": 0, "bytes": 0, "reset-interval-ms": 1000,
                           "weights": {"sz": 0, "nr-accesses": 0, "age": 0},
                           "goals": []},
                "filters": []},
     "stats": stats(40, 3221225472, 40, 3221225472, 0), "skipped": []},
    {"index": 2, "active": True,
     "scheme": {"action": "hugepage",
                "access-pattern": pattern(sz=(2 << 20, 1 << 30), nr=(10, 15), age=(3, 10)),
                "apply-interval-us": 1000000,
                "quotas": {"ms": 0, "bytes": 1048576, "reset-interval-ms": 1000,
                           "weights": {"sz": 0, "nr-accesses": 0, "age": 0},
                           "goals": []},
                "filters": [{"type": "addr", "matching": True, "allow": True,
                             "start": 0, "end": 1 << 30}]},
     "effective-quota-bytes": 1048576,
     "stats": stats(7, 14680064, 5, 10485760, 2),
     "skipped": [{"reason": "unaligned", "bytes": 4194304}]},
]}

TRIED = {0: [{"start": 0x10000000, "end": 0x11000000, "nr-accesses": 0, "age": 60},
             {"start": 0x20000000, "end": 0x20800000, "nr-accesses": 0, "age": 75}],
         1: [],
         2: [{"start": 0x40000000, "end": 0x40400000, "nr-accesses": 12, "age": 5}]}

# what 'report schemes' prints for SCHEMES (the label is the socket's)
REPORT = """\
# damon0 of QMP socket {sock}: 3 schemes
INDEX  ACTION    ACTIVE  PATTERN                                              QUOTA  NR-TRIED   SZ-TRIED  NR-APPLIED  SZ-APPLIED  QT-EXCEEDS  SKIPPED
    0  pageout   yes     sz>=4.0 KiB, nr=0, age>=5 s                      256.0 MiB        12  192.0 MiB          11   180.0 MiB           3  young 8.0 MiB, failed 4.0 MiB (Cannot allocate memory)
    1  stat      no      nr>=5                                                    -        40    3.0 GiB          40     3.0 GiB           0  -
    2  hugepage  yes     sz=2.0 MiB..1.0 GiB, nr=10..15, age=300 ms..1 s    1.0 MiB         7   14.0 MiB           5    10.0 MiB           2  unaligned 4.0 MiB
"""

# and what --tried-regions adds: ages are 60, 75 and 5 aggregations of 100 ms
TRIED_TABLE = """
# the regions each scheme tried at its last apply
SCHEME  START           END                 SIZE  NR-ACCESSES     AGE
     0  0x000010000000  0x000011000000  16.0 MiB            0     6 s
     0  0x000020000000  0x000020800000   8.0 MiB            0  7.50 s
     2  0x000040000000  0x000040400000   4.0 MiB           12  500 ms
"""


class FakeQemu(fakeqmp.FakeQemu):
    """qdamon's QEMU as far as schemes go."""

    def __init__(self, path, schemes_missing=False):
        self.schemes_missing = schemes_missing
        super().__init__(path)

    def answer(self, cmd, args):
        if cmd == "query-damon":
            return {"return": [MONITOR]}
        if cmd == "query-damon-schemes" and self.schemes_missing:
            return {"error": {"class": "CommandNotFound",
                              "desc": "The command query-damon-schemes has not been found"}}
        if cmd == "query-damon-schemes":
            reply = json.loads(json.dumps(SCHEMES))
            for s in reply["schemes"]:
                if args.get("tried-regions"):
                    s["tried-regions"] = TRIED[s["index"]]
            return {"return": reply}
        return {"return": {}}


def qdamo(sock, *args):
    return fakeqmp.run_qdamo(QDAMO, sock, *args)


check = TAP.check


status = fakeqmp.exit_status


def same(what, got, want):
    if got == want:
        return []
    return ["%s:\n got  %s\n want %s" % (what, json.dumps(got, sort_keys=True),
                                         json.dumps(want, sort_keys=True))]


def test_start_flags(tmp):
    fq = FakeQemu(os.path.join(tmp, "flags.sock"))
    try:
        r = qdamo(fq.path, "start", "-s", "5ms",
                  "--scheme-action", "pageout", "--scheme-sz-min", "4K",
                  "--scheme-nr-accesses-max", "0", "--scheme-age-min", "50",
                  "--scheme-quota-bytes", "256M", "--scheme-quota-ms", "10",
                  "--scheme-quota-reset-ms", "1s", "--scheme-weights", "0,0,1",
                  "--scheme-goal", "rss-bytes:1G", "--scheme-goal", "some-mem-psi-us:10000",
                  "--scheme-wmarks", "free-mem-rate:500:400:50",
                  "--scheme-filter", "addr:16M-48M:reject",
                  "--aggr", "100ms",
                  "--scheme-action", "migrate_hot", "--scheme-target-nid", "1",
                  "--scheme-nr-accesses-min", "10", "--scheme-apply-interval-us", "200ms",
                  "--scheme-filter", "young:allow:nomatch")
    finally:
        fq.close()
    want = {"id": "damon0", "sample-us": 5000, "aggr-us": 100000, "schemes": [
        {"action": "pageout",
         "access-pattern": {"sz-min": 4096, "nr-accesses-max": 0, "age-min": 50},
         "quotas": {"bytes": 268435456, "ms": 10, "reset-interval-ms": 1000,
                    "weights": {"sz": 0, "nr-accesses": 0, "age": 1},
                    "goals": [{"metric": "rss-bytes", "target-value": 1 << 30},
                              {"metric": "some-mem-psi-us", "target-value": 10000}]},
         "watermarks": {"metric": "free-mem-rate", "high": 500, "mid": 400, "low": 50},
         "filters": [{"type": "addr", "start": 16 << 20, "end": 48 << 20,
                      "allow": False}]},
        {"action": "migrate-hot", "target-nid": 1,
         "access-pattern": {"nr-accesses-min": 10}, "apply-interval-us": 200000,
         "filters": [{"type": "young", "allow": True, "matching": False}]}]}
    p = status(r, 0)
    start = fq.sent("damon-start")
    p += same("damon-start arguments", start, [want])
    if "with 2 schemes: pageout, migrate-hot" not in r.stdout:
        p.append("stdout: %s" % r.stdout.strip())
    check("start-flags", p)


def test_start_errors(tmp):
    cases = [
        (["--scheme-sz-min", "4K", "--scheme-action", "pageout"],
         "qdamo: start: --scheme-sz-min comes before any --scheme-action: a scheme "
         "starts with --scheme-action ACTION, and the --scheme-* options after it are "
         "that scheme's (see 'qdamo start --help')"),
        (["--scheme-action", "pageout", "--scheme-goal", "rss-bytes"],
         "qdamo: scheme 0: --scheme-goal: 'rss-bytes' is not METRIC:TARGET[:CURRENT] "
         "(examples: rss-bytes:1G, some-mem-psi-us:10000, user-input:100:40)"),
        (["--scheme-action", "stat", "--scheme-action", "reclaim"],
         "qdamo: scheme 1: --scheme-action: unknown scheme action 'reclaim' (give "
         "stat, pageout, cold, willneed, hugepage, nohugepage, migrate-hot or "
         "migrate-cold)"),
    ]
    p = []
    for args, message in cases:
        fq = FakeQemu(os.path.join(tmp, "err.sock"))
        try:
            r = qdamo(fq.path, "start", *args)
        finally:
            fq.close()
        p += ["%s: %s" % (args, x) for x in status(r, 2)]
        if r.stderr.strip() != message:
            p.append("%s: stderr\n %s\nnot\n %s" % (args, r.stderr.strip(), message))
        if fq.connections:
            p.append("%s: qdamo connected to QEMU: %s" % (args, fq.commands))
    check("start-errors", p)


def test_schemes_file(tmp):
    schemes = [{"action": "pageout",
                "access-pattern": {"sz-min": 4096, "sz-max": U64_MAX, "age-min": 50},
                "quotas": {"bytes": 1 << 28, "goals": [{"metric": "user-input",
                                                        "target-value": 100,
                                                        "current-value": 40}]},
                "x-future-member": {"kept": [1, "two", None, True]}},
               {"action": "stat"}]
    path = os.path.join(tmp, "schemes.json")
    with open(path, "w") as f:
        json.dump(schemes, f)
    notlist = os.path.join(tmp, "notlist.json")
    with open(notlist, "w") as f:
        json.dump({"action": "stat"}, f)
    fq = FakeQemu(os.path.join(tmp, "file.sock"))
    try:
        r = qdamo(fq.path, "start", "--schemes", path, "--clock", "virtual")
        bad = qdamo(fq.path, "start", "--schemes", notlist)
        missing = qdamo(fq.path, "start", "--schemes", os.path.join(tmp, "none.json"))
        both = qdamo(fq.path, "start", "--schemes", path, "--scheme-action", "stat")
    finally:
        fq.close()
    p = status(r, 0)
    p += same("damon-start arguments", fq.sent("damon-start"),
              [{"id": "damon0", "clock": "virtual", "schemes": schemes}])
    p += ["not a list: " + x for x in status(bad, 1)]
    if "not a list of schemes" not in bad.stderr:
        p.append("not a list: %s" % bad.stderr.strip())
    p += ["missing: " + x for x in status(missing, 1)]
    if "none.json" not in missing.stderr:
        p.append("missing: %s" % missing.stderr.strip())
    p += ["both: " + x for x in status(both, 2)]
    check("schemes-file", p)


def test_tune(tmp):
    fq = FakeQemu(os.path.join(tmp, "tune.sock"))
    try:
        r1 = qdamo(fq.path, "-i", "rw", "tune", "--scheme-action", "cold",
                   "--scheme-age-max", "9", "--scheme-quota-bytes", "1M")
        r2 = qdamo(fq.path, "tune", "--no-schemes")
        r3 = qdamo(fq.path, "tune", "--no-schemes", "--scheme-action", "stat")
    finally:
        fq.close()
    p = status(r1, 0) + status(r2, 0) + ["--no-schemes with others: " + x
                                         for x in status(r3, 2)]
    p += same("damon-tune arguments", fq.sent("damon-tune"), [
        {"id": "rw", "schemes": [{"action": "cold", "access-pattern": {"age-max": 9},
                                  "quotas": {"bytes": 1 << 20}}]},
        {"id": "damon0", "schemes": []}])
    if "now 1 scheme: cold" not in r1.stdout or "now no schemes" not in r2.stdout:
        p.append("stdout: %s / %s" % (r1.stdout.strip(), r2.stdout.strip()))
    check("tune", p)


def test_report(tmp):
    fq = FakeQemu(os.path.join(tmp, "report.sock"))
    try:
        table = qdamo(fq.path, "report", "schemes")
        raw = qdamo(fq.path, "report", "schemes", "--raw")
        tried = qdamo(fq.path, "report", "schemes", "--tried-regions")
        js = qdamo(fq.path, "report", "schemes", "--json")
    finally:
        fq.close()
    p = status(table, 0) + status(raw, 0) + status(tried, 0) + status(js, 0)
    want = REPORT.format(sock=fq.path)
    if table.stdout != want:
        p.append("report schemes printed\n%s\nnot\n%s" % (table.stdout, want))
    asked = fq.sent("query-damon-schemes")
    p += same("query-damon-schemes arguments", asked,
              [{"id": "damon0"}, {"id": "damon0"},
               {"id": "damon0", "tried-regions": True}, {"id": "damon0"}])
    # --raw: bytes, and ages in aggregation intervals
    rows = [line.split() for line in raw.stdout.splitlines()[2:]]
    if len(rows) != 3 or rows[0][:10] != ["0", "pageout", "yes", "sz>=4096,", "nr=0,",
                                          "age>=50", "268435456", "12", "201326592", "11"]:
        p.append("--raw rows: %s" % rows)
    elif rows[0][10:13] != ["188743680", "3", "young"] or rows[1][3:9] != [
            "nr>=5", "-", "40", "3221225472", "40", "3221225472"]:
        p.append("--raw rows: %s" % rows)
    if tried.stdout != want + TRIED_TABLE:
        p.append("--tried-regions printed\n%s\nnot\n%s" % (tried.stdout,
                                                           want + TRIED_TABLE))
    try:
        if json.loads(js.stdout) != SCHEMES:
            p.append("--json is not the reply: %s" % js.stdout)
        if "18446744073709551615" not in js.stdout:
            p.append("--json lost sz-max 18446744073709551615")
    except ValueError as e:
        p.append("--json printed no JSON (%s): %s" % (e, js.stdout))
    check("report", p)


def test_report_old_qemu(tmp):
    fq = FakeQemu(os.path.join(tmp, "old.sock"), schemes_missing=True)
    try:
        r = qdamo(fq.path, "report", "schemes")
    finally:
        fq.close()
    p = status(r, 4)
    if "has DAMON monitors but no schemes" not in r.stderr:
        p.append("stderr: %s" % r.stderr.strip())
    check("report-old-qemu", p)


def main():
    return TAP.run("test-schemes-", (test_start_flags, test_start_errors, test_schemes_file,
                                     test_tune, test_report, test_report_old_qemu))


if __name__ == "__main__":
    sys.exit(main())
