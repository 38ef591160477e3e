#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""run.py - end-to-end test of qdamo and qdamon through a real libvirt.

As root on a machine without systemd:

  1. scripts/setup-libvirt.sh (packages, the libvirt-qemu user, qemu.conf);
     build qdamo and the workload guest;
  2. start virtlogd and libvirtd unless libvirtd already answers (and
     stop at the end only the ones started here); no system QEMU is
     needed (harness.libvirt);
  3. "virsh create" a transient TCG domain: emulator = our QEMU, loader =
     the workload firmware, its hot set passed on fw_cfg through
     <qemu:commandline>; no disk, no network;
  4. virsh qemu-monitor-command damon-start and query-damon-wss: the
     working set must come within 10% of the configured hot size
     (harness.hotset's thresholds, as every hot-set test);
  5. qdamo -d DOM status, report wss, report regions, record (and report
     wss/regions/heatmap on the record, convert --to damo), watch, tune,
     and qdamo exporter with a real HTTP GET on loopback;
  6. qdamo stop, then qdamo's report wss and report regions must equal
     query-damon-wss and query-damon-regions asked through virsh;
  7. qdamo --qmp on a QEMU of our own (start, report wss, stop);
  8. the error cases: a defined domain that is not running, a domain on
     Debian's stock QEMU (no qdamon commands), a wrong socket path, a
     domain that does not exist;
  9. destroy the domains and stop the daemons started in 2.

Prints one PASS/FAIL line per step, a RESULT line at the end, and exits 0
only if every step passed.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, env, hotset, report  # noqa: E402
from harness.env import MIB, QDAMO  # noqa: E402
from harness.hotset import within  # noqa: E402
from harness.libvirt import URI, Daemons, Domain, run, virsh, virsh_qmp  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

WSS_TOL = "%.0f%%" % (hotset.WSS_ERR_MAX * 100)


def qdamo(*args, dom=None, check=True, timeout=120):
    cmd = [QDAMO] + (["-c", URI, "-d", dom] if dom else []) + list(args)
    return run(cmd, timeout=timeout, check=check)


# ---------------------------------------------------------------------------
# Setting up: packages, build, daemons

def step_setup(rep, args):
    if os.geteuid() != 0:
        raise Failed("must run as root: it starts libvirtd and virsh-creates domains")
    if not args.no_setup:
        run([os.path.join(env.ROOT, "scripts", "setup-libvirt.sh")], timeout=1200,
            check=True)
    build = env.BUILD
    if not os.path.isfile(os.path.join(build, "build.ninja")):
        run(["meson", "setup", build, env.ROOT], timeout=300, check=True)
    targets = ["src/tools/qdamo/qdamo", "tests/guest/workload.bin"]
    rc, _, _ = run(["ninja", "-C", build] + targets, timeout=600)
    if rc != 0:
        # configured before libvirt was installed: qdamo was left out
        run(["meson", "setup", "--reconfigure", build, env.ROOT], timeout=300, check=True)
        run(["ninja", "-C", build] + targets, timeout=600, check=True)
    for path in (QDAMO, args.firmware, args.qemu):
        if not os.path.isfile(path):
            raise Failed("missing %s" % path)
    _, ver, _ = run(["dpkg-query", "-W", "-f=${Version}", "libvirt-daemon"])
    rep.ok("setup", "libvirt %s, qdamo and workload.bin built in %s, QEMU %s"
           % (ver, os.path.relpath(build, env.ROOT), os.path.relpath(args.qemu, env.ROOT)))


# ---------------------------------------------------------------------------
# The domain

def new_domain(ctx, name, mem_mib, qemu=None, workdir=None):
    dom = Domain(name, workdir or ctx.workdir, qemu or ctx.args.qemu, ctx.args.firmware,
                 {"hot_start": ctx.hot_start, "hot_size": ctx.hot_size}, mem_mib)
    ctx.domains.append(dom)
    return dom


def step_create(rep, ctx):
    t0 = time.monotonic()
    dom = new_domain(ctx, ctx.dom, ctx.args.mem).create()
    dom.wait_console(r"^qdamon-workload: pass=1 ", 60)
    rep.ok("virsh-create", "%s %s, guest writing hot=0x%x+0x%x after %.1f s"
           % (ctx.dom, dom.state(), ctx.hot_start, ctx.hot_size, time.monotonic() - t0))


def step_virsh_wss(rep, ctx):
    _, out, _ = virsh("qemu-monitor-command", ctx.dom, '{"execute":"damon-start"}')
    if '"return":{}' not in out.replace(" ", ""):
        raise Failed("damon-start through virsh: %s" % out.strip())
    t0 = time.monotonic()
    last_aggr, streak, wss = -1, 0, None
    while time.monotonic() - t0 < ctx.args.timeout:
        _, out, _ = virsh("qemu-monitor-command", ctx.dom, "--pretty",
                          '{"execute":"query-damon-wss","arguments":{"id":"damon0"}}')
        ret = json.loads(out)["return"]
        if ret["nr-aggregations"] and ret["nr-aggregations"] != last_aggr:
            last_aggr = ret["nr-aggregations"]
            wss = ret["wss-bytes"]
            streak = streak + 1 if within(wss, ctx.hot_size) else 0
            if streak >= hotset.CONFIRMATIONS:
                break
        time.sleep(0.2)
    else:
        raise Failed("query-damon-wss never came within %s of %d MiB in %.0f s "
                     "(last wss %s)" % (WSS_TOL, ctx.hot_size // MIB, ctx.args.timeout, wss))
    ctx.figures["virsh_find_s"] = round(time.monotonic() - t0, 2)
    rep.ok("virsh-wss", "damon-start via virsh; query-damon-wss wss-bytes %.2f MiB "
           "(hot set %.0f MiB, error %.1f%%) after %.1f s"
           % (wss / MIB, ctx.hot_size / MIB, 100 * abs(wss - ctx.hot_size) / ctx.hot_size,
              time.monotonic() - t0))


# ---------------------------------------------------------------------------
# qdamo through libvirt

def parse_wss_report(text):
    """(last bytes, {percentile: bytes}) from 'qdamo report wss --raw'."""
    m = re.search(r"^# last: (\d+) of (\d+) monitored$", text, re.M)
    if not m:
        raise Failed("no '# last:' line in qdamo report wss: %r" % text[:300])
    pcts = {int(a): int(b) for a, b in re.findall(r"^\s*(\d+)\s+(\d+)$", text, re.M)}
    return int(m.group(1)), pcts


def parse_regions_report(text):
    """[(start, end, size, access %, hz, age ms)] from 'report regions --raw'."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 6 and f[0].isdigit():
            rows.append((int(f[0]), int(f[1]), int(f[2]), float(f[3]),
                         float(f[4]), int(f[5])))
    return rows


def hot_coverage(rows, hot_start, hot_size):
    """harness.hotset's coverage of report regions rows, whose access
    rate is a percentage of the maximum."""
    hot = [(s, e) for s, e, _, acc, _, _ in rows if acc >= hotset.HOT_RATE_MIN * 100]
    return hotset.covered(hot, hot_start, hot_size) / hot_size


def step_qdamo_status(rep, ctx):
    _, out, _ = qdamo("status", dom=ctx.dom, check=True)
    line = next((ln for ln in out.splitlines() if ln.startswith("damon0 ")), None)
    if not line or " running " not in line:
        raise Failed("qdamo status has no running damon0:\n%s" % out)
    rep.info(out.splitlines()[0])
    rep.info(line)
    rep.ok("qdamo-status", "damon0 running, listed through libvirt")


def retry(check, seconds=15.0):
    """check() until it returns true or the time is up; return its last
    value.  One aggregation may catch a region boundary on the move, as
    tcg-workload.py's confirmations allow for."""
    deadline = time.monotonic() + seconds
    while True:
        res = check()
        if res or time.monotonic() >= deadline:
            return res
        time.sleep(0.5)


def step_qdamo_wss(rep, ctx):
    got = {}

    def check():
        _, got["out"], _ = qdamo("report", "wss", "--raw", dom=ctx.dom, check=True)
        got["last"], got["pcts"] = parse_wss_report(got["out"])
        return within(got["last"], ctx.hot_size) and within(got["pcts"][50], ctx.hot_size)

    retry(check)
    out, last, pcts = got["out"], got["last"], got["pcts"]
    if sorted(pcts) != [0, 25, 50, 75, 100]:
        raise Failed("percentiles %s in:\n%s" % (sorted(pcts), out))
    # the figures name their source and what it sees, as query-damon does
    _, raw, _ = virsh("qemu-monitor-command", ctx.dom, '{"execute":"query-damon"}')
    mon = [m for m in json.loads(raw)["return"] if m["id"] == "damon0"][0]
    sources = mon["source"] + ("+" + mon["write-source"] if "write-source" in mon else "")
    want = "# source: %s, sees %s" % (sources, mon["sees"])
    if want not in out.splitlines():
        raise Failed("qdamo report wss lacks %r (query-damon) in:\n%s" % (want, out))
    if not within(last, ctx.hot_size) or not within(pcts[50], ctx.hot_size):
        raise Failed("qdamo report wss: last %d, median %d, hot set %d"
                     % (last, pcts[50], ctx.hot_size))
    _, plot, _ = qdamo("report", "wss", "--plot", dom=ctx.dom, check=True)
    if plot.count("|#") < 15:
        raise Failed("report wss --plot drew no bars:\n%s" % plot)
    ctx.figures["qdamo_wss_mib"] = round(last / MIB, 2)
    rep.ok("qdamo-wss", "report wss: last %.2f MiB, median %.2f MiB (hot %.0f MiB), "
           "%s; --plot draws %d bars" % (last / MIB, pcts[50] / MIB, ctx.hot_size / MIB,
                                         want[2:], plot.count("|#")))


def step_qdamo_regions(rep, ctx):
    got = {}

    def check():
        _, got["out"], _ = qdamo("report", "regions", "--raw", dom=ctx.dom, check=True)
        got["rows"] = parse_regions_report(got["out"])
        got["cov"] = hot_coverage(got["rows"], ctx.hot_start, ctx.hot_size)
        return got["cov"] >= hotset.COVERAGE_MIN

    retry(check)
    out, rows, cov = got["out"], got["rows"], got["cov"]
    if cov < hotset.COVERAGE_MIN:
        raise Failed("regions at >= 50%% access cover %.0f%% of the hot set:\n%s"
                     % (cov * 100, out))
    _, human, _ = qdamo("report", "regions", "--sort", "access", "--top", "3",
                        dom=ctx.dom, check=True)
    for ln in human.splitlines():
        rep.info(ln)
    rep.ok("qdamo-regions", "%d regions; those at >= 50%% access cover %.1f%% of the hot set"
           % (len(rows), cov * 100))


def step_qdamo_record(rep, ctx):
    rec = os.path.join(ctx.workdir, "rec.json")
    t0 = time.monotonic()
    _, _, err = qdamo("record", "-o", rec, "--duration", "%ds" % ctx.args.record_s,
                      dom=ctx.dom, check=True, timeout=ctx.args.record_s + 60)
    took = time.monotonic() - t0
    with open(rec) as f:
        data = json.load(f)
    snaps = data["snapshots"]
    aggrs = [s["nr-aggregations"] for s in snaps]
    # A loaded host makes QEMU's monitor aggregate less often than every
    # aggr-us (a late step counts as one interval); what qdamo owes is
    # every aggregation that did happen, once, in order.
    if data["format"] != "qdamo-record" or len(snaps) < 10:
        raise Failed("%d snapshots in %d s: %s" % (len(snaps), ctx.args.record_s,
                                                   err.strip()))
    if aggrs != sorted(set(aggrs)):
        raise Failed("snapshots repeat or go back: %s" % aggrs[:20])
    if len(snaps) < 0.9 * (aggrs[-1] - aggrs[0] + 1):
        raise Failed("%d snapshots of aggregations %d..%d: qdamo missed over 10%%"
                     % (len(snaps), aggrs[0], aggrs[-1]))
    wss = sorted(sum(r[1] - r[0] for r in s["regions"] if r[2] > 0) for s in snaps)
    # the percentile as QEMU and qdamo take it: nearest rank, rounding down
    # (with an even count, the lower of the two middle values)
    median = wss[(len(wss) - 1) * 50 // 100]
    if not within(median, ctx.hot_size):
        raise Failed("median wss of the record %.2f MiB" % (median / MIB))
    _, out, _ = qdamo("report", "wss", "--raw", "--input", rec, check=True)
    last, pcts = parse_wss_report(out)
    if pcts[50] != median:
        raise Failed("report wss --input median %d, the file's %d" % (pcts[50], median))
    ctx.record = rec
    ctx.figures["record_snapshots"] = len(snaps)
    rep.info(err.strip().splitlines()[-1])
    rep.ok("qdamo-record", "%d snapshots in %.1f s (aggregations %d..%d), %d KiB; "
           "median wss %.2f MiB; report wss --input agrees"
           % (len(snaps), took, aggrs[0], aggrs[-1], os.path.getsize(rec) // 1024,
              median / MIB))


def step_heatmap(rep, ctx):
    _, out, _ = qdamo("report", "heatmap", ctx.record, "--rows", "32", "--cols", "60",
                      check=True)
    # rows of 16 MiB over 512 MiB: the hot set's row is dark, the rest light
    rows = {}
    for ln in out.splitlines():
        m = re.match(r"^0x([0-9a-f]+) \|(.*)\|$", ln)
        if m:
            rows[int(m.group(1), 16)] = m.group(2)
    # How dark each row is on average (0: blank .. 9: '@').  How dark the
    # hot row gets depends on how fast the TCG guest runs on a loaded
    # host; that it is lit all along and the others are not does not.
    shades = " .:-=+*#%@"
    mean = {a: sum(shades.index(c) for c in cells) / len(cells)
            for a, cells in rows.items()}
    lit = {a: sum(c != " " for c in cells) / len(cells) for a, cells in rows.items()}
    darkest = max(mean, key=mean.get) if mean else None
    others = max((m for a, m in mean.items() if a != darkest), default=0)
    if darkest != ctx.hot_start or lit[darkest] < 0.9 or others >= 1.5:
        raise Failed("heatmap: darkest row %s (lit %.0f%%), next darkest %.1f; "
                     "expected 0x%x lit all along and the others faint\n%s"
                     % (hex(darkest) if darkest is not None else None,
                        100 * lit.get(darkest, 0), others, ctx.hot_start, out))
    png = os.path.join(ctx.workdir, "heatmap.png")
    qdamo("report", "heatmap", ctx.record, "--output", png, check=True)
    with open(png, "rb") as f:
        magic = f.read(8)
    size = os.path.getsize(png)
    if magic != b"\x89PNG\r\n\x1a\n" or size > 200 * 1024:
        raise Failed("heatmap.png: magic %r, %d bytes" % (magic, size))
    if ctx.args.heatmap_out:
        shutil.copy(png, ctx.args.heatmap_out)
    rep.ok("qdamo-heatmap", "ASCII: the row at 0x%x is lit in %.0f%% of the time bins "
           "(mean shade %.1f of 9, next row %.1f); PNG through gnuplot, %d KiB"
           % (ctx.hot_start, 100 * lit[darkest], mean[darkest], others, size // 1024))


def step_convert(rep, ctx):
    out_path = os.path.join(ctx.workdir, "damon.data")
    qdamo("convert", "--to", "damo", "-o", out_path, ctx.record, check=True)
    with open(out_path, "rb") as f:
        records = json.loads(zlib.decompress(f.read()))
    with open(ctx.record) as f:
        ours = json.load(f)
    r = records[0]
    need = {"kdamond_idx", "context_idx", "intervals", "scheme_idx", "target_id",
            "scheme_filters", "snapshots"}
    snap = r["snapshots"][-1]
    region = snap["regions"][0]
    problems = []
    if len(records) != 1 or not need <= set(r):
        problems.append("record keys %s" % sorted(r))
    if len(r["snapshots"]) != len(ours["snapshots"]):
        problems.append("%d snapshots, not %d" % (len(r["snapshots"]), len(ours["snapshots"])))
    if not snap["end_time"] > snap["start_time"] > 10 ** 18:
        problems.append("times %s..%s are not absolute ns" % (snap["start_time"],
                                                              snap["end_time"]))
    if set(region) < {"start", "end", "nr_accesses", "age"} or \
            set(region["nr_accesses"]) != {"samples", "percent"} or \
            set(region["age"]) != {"usec", "aggr_intervals"}:
        problems.append("region %s" % region)
    if r["intervals"]["aggr_us"] != ours["monitor"]["attrs"]["aggr-us"]:
        problems.append("intervals %s" % r["intervals"])
    if problems:
        raise Failed("; ".join(problems))
    rep.ok("qdamo-convert", "damo json_compressed record: %d snapshots, region keys %s"
           % (len(r["snapshots"]), sorted(region)))


def step_watch(rep, ctx):
    _, out, _ = qdamo("watch", "--count", "2", "--interval", "500ms", "--top", "3",
                      dom=ctx.dom, check=True)
    frames = out.count("qdamo watch:")
    m = re.search(r"^wss (\S+ \S+) \(", out, re.M)
    if frames != 2 or not m or "map 0x" not in out:
        raise Failed("qdamo watch --count 2 printed:\n%s" % out)
    rep.ok("qdamo-watch", "2 frames, wss %s, memory map and top regions" % m.group(1))


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, resp.getheader("Content-Type"), body


def metric(body, name, **labels):
    for line in body.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def start_exporter(ctx, extra):
    errpath = os.path.join(ctx.workdir, "exporter.err")
    errf = open(errpath, "w")
    proc = subprocess.Popen([QDAMO] + extra + ["exporter", "--listen", "127.0.0.1:0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=errf)
    errf.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with open(errpath) as f:
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", f.read())
        if m:
            return proc, int(m.group(1)), errpath
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    with open(errpath) as f:
        raise Failed("exporter did not start: %s" % f.read().strip())


def stop_exporter(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return None


def step_exporter(rep, ctx):
    # every running libvirt domain, plus our own QEMU's QMP socket when it runs
    extra = ["-c", URI] + (["--qmp", ctx.qmp_path] if ctx.qmp_path else [])
    proc, port, errpath = start_exporter(ctx, extra)
    try:
        for _ in range(10):
            status, ctype, body = http_get(port, "/metrics")
            wss = metric(body, "qdamon_wss_bytes", domain=ctx.dom, monitor="damon0")
            if wss is not None and within(wss, ctx.hot_size):
                break
            time.sleep(0.5)
        nf, _, _ = http_get(port, "/nope")
    finally:
        rc = stop_exporter(proc)
    if status != 200 or "version=0.0.4" not in (ctype or ""):
        raise Failed("GET /metrics: %s %s" % (status, ctype))
    up = metric(body, "qdamon_target_up", domain=ctx.dom)
    wss = metric(body, "qdamon_wss_bytes", domain=ctx.dom, monitor="damon0")
    cpu = metric(body, "qdamon_monitor_cpu_seconds_total", domain=ctx.dom)
    hot = sum(float(ln.rsplit(" ", 1)[1]) for ln in body.splitlines()
              if ln.startswith("qdamon_hot_bytes{") and 'domain="%s"' % ctx.dom in ln)
    problems = []
    if up != 1 or wss is None or not within(wss, ctx.hot_size):
        problems.append("up %s, wss %s" % (up, wss))
    if not cpu or cpu <= 0:
        problems.append("monitor CPU %s" % cpu)
    if not within(hot, wss or 1, 0.5):
        problems.append("hot bytes by age sum to %s, wss %s" % (hot, wss))
    if ctx.qmp_path and metric(body, "qdamon_target_up", domain=ctx.qmp_path) != 1:
        problems.append("no qdamon_target_up 1 for the QMP socket")
    if nf != 404:
        problems.append("GET /nope gave %s" % nf)
    if rc != 0:
        problems.append("exporter exit status %s on SIGTERM" % rc)
    if problems:
        with open(errpath) as f:
            raise Failed("; ".join(problems) + "\n" + body[:1500] + f.read())
    rep.ok("qdamo-exporter", "GET /metrics on loopback port %d: %d samples; %s wss %.2f MiB, "
           "monitor CPU %.2f s%s; 404 elsewhere; exit 0 on SIGTERM"
           % (port, sum(1 for ln in body.splitlines() if ln and ln[0] != "#"),
              ctx.dom, wss / MIB, cpu,
              ", QMP socket up" if ctx.qmp_path else ""))


def step_tune_stop(rep, ctx):
    qdamo("tune", "--aggr", "200ms", dom=ctx.dom, check=True)
    _, out, _ = qdamo("status", "--raw", dom=ctx.dom, check=True)
    if not re.search(r"^damon0 .* 200000 ", out, re.M):
        raise Failed("aggr is not 200000 us after tune:\n%s" % out)
    time.sleep(2)   # some aggregations at the new interval
    qdamo("stop", dom=ctx.dom, check=True)
    info = virsh_qmp(ctx.dom, "query-damon")
    if info[0]["state"] != "stopped":
        raise Failed("query-damon after qdamo stop: %s" % info)
    rep.ok("qdamo-tune-stop", "tune --aggr 200ms shows in status; stop leaves damon0 "
           "stopped after %d aggregations" % info[0]["nr-aggregations"])


def step_compare(rep, ctx):
    """qdamo's reports against the same queries through virsh, on the
    stopped monitor, whose results no longer change."""
    raw = virsh_qmp(ctx.dom, "query-damon-wss", {"id": "damon0"})
    _, out, _ = qdamo("report", "wss", "--raw", dom=ctx.dom, check=True)
    last, pcts = parse_wss_report(out)
    want = {p["percentile"]: p["wss-bytes"] for p in raw["percentiles"]}
    if last != raw["wss-bytes"] or pcts != want:
        raise Failed("qdamo report wss: last %d %s; query-damon-wss: %d %s"
                     % (last, pcts, raw["wss-bytes"], want))
    if not within(raw["wss-bytes"], ctx.hot_size):
        raise Failed("query-damon-wss wss-bytes %d, hot set %d" % (raw["wss-bytes"],
                                                                  ctx.hot_size))
    regs = virsh_qmp(ctx.dom, "query-damon-regions", {"id": "damon0"})
    _, out, _ = qdamo("report", "regions", "--raw", dom=ctx.dom, check=True)
    rows = parse_regions_report(out)
    mine = [(s, e, round(a, 1), round(h), age) for s, e, _, a, h, age in rows]
    theirs = [(r["start"], r["end"], round(r["access-rate-percent"], 1),
               round(r["access-hz"]), r["age-ms"]) for r in regs["regions"]]
    if mine != theirs:
        diff = [(a, b) for a, b in zip(mine, theirs) if a != b][:5]
        raise Failed("report regions differs from query-damon-regions: %s (%d vs %d rows)"
                     % (diff, len(mine), len(theirs)))
    rep.ok("qdamo-matches-qmp", "report wss = query-damon-wss (wss %d, %d percentiles); "
           "report regions = query-damon-regions (%d regions: start, end, rate, Hz, age)"
           % (last, len(pcts), len(rows)))


# ---------------------------------------------------------------------------
# qdamo on a QMP socket

def step_qmp_socket(rep, ctx):
    vm = WorkloadVM(ctx.args.qemu, ctx.args.firmware, mem_mib=256,
                    config={"hot_start": ctx.hot_start, "hot_size": 8 * MIB})
    ctx.vms.append(vm)
    vm.start()
    vm.qmp.close()      # QEMU serves one QMP client at a time: qdamo's turn
    vm.qmp = None
    vm.wait_console(r"^qdamon-workload: pass=1 ", timeout=60)
    ctx.qmp_path = vm.qmp_path
    _, out, _ = qdamo("--qmp", vm.qmp_path, "start", "--sample", "5ms", "--aggr",
                      "100ms", "--nr-regions", "10,1000", check=True)
    rep.info(out.strip())
    deadline = time.monotonic() + ctx.args.timeout
    last = None
    while time.monotonic() < deadline:
        time.sleep(1)
        _, out, _ = qdamo("--qmp", vm.qmp_path, "report", "wss", "--raw", check=True)
        last, pcts = parse_wss_report(out)
        if within(last, 8 * MIB) and within(pcts[50], 8 * MIB):
            break
    else:
        raise Failed("qdamo --qmp report wss: last %s, want 8 MiB" % last)
    rep.ok("qdamo-qmp", "--qmp %s: start, report wss %.2f MiB (hot 8 MiB)"
           % (vm.qmp_path, last / MIB))


# ---------------------------------------------------------------------------
# Errors

def expect_error(what, argv, status, needle):
    rc, out, err = run([QDAMO] + argv, timeout=60)
    lines = err.strip().splitlines()
    if rc != status or len(lines) != 1 or needle not in lines[0]:
        raise Failed("%s: exit %d (want %d), stderr %r (want one line with %r)"
                     % (what, rc, status, err.strip(), needle))
    return lines[0]


def step_err_not_running(rep, ctx):
    name = ctx.dom + "-off"
    new_domain(ctx, name, 128).create(persistent=True)
    msg = expect_error("not running", ["-c", URI, "-d", name, "status"], 3,
                       "is not running")
    msg2 = expect_error("no such domain", ["-c", URI, "-d", ctx.dom + "-nope", "status"],
                        3, "no domain")
    rep.ok("err-not-running", "exit 3: %s | exit 3: %s" % (msg, msg2))


def step_err_stock_qemu(rep, ctx):
    if not os.path.isfile(env.STOCK_QEMU):
        rep.skip("err-no-damon", "%s is not installed (Debian's qemu-system-x86)"
                 % env.STOCK_QEMU)
        return
    name = ctx.dom + "-stock"
    sub = os.path.join(ctx.workdir, "stock")
    os.makedirs(sub, exist_ok=True)
    new_domain(ctx, name, 128, env.STOCK_QEMU, sub).create()
    _, out, _ = virsh("qemu-monitor-command", name, '{"execute":"damon-start"}')
    if "CommandNotFound" not in out:
        raise Failed("damon-start on the stock QEMU through virsh: %s" % out.strip())
    msg = expect_error("stock QEMU", ["-c", URI, "-d", name, "start"], 4,
                       "has no DAMON monitor commands")
    _, ver, _ = run([env.STOCK_QEMU, "--version"])
    rep.ok("err-no-damon", "%s: virsh gets CommandNotFound; exit 4: %s"
           % (ver.splitlines()[0], msg))


def step_err_socket(rep, ctx):
    path = os.path.join(ctx.workdir, "no-such-dir", "qmp.sock")
    msg = expect_error("wrong socket", ["--qmp", path, "status"], 3, "no QMP socket at")
    notsock = os.path.join(ctx.workdir, "debugcon.txt")
    msg2 = expect_error("not a socket", ["--qmp", notsock, "status"], 3, "is not a socket")
    rep.ok("err-socket", "exit 3: %s | exit 3: %s" % (msg, msg2))


# ---------------------------------------------------------------------------

class Context:
    def __init__(self, args):
        self.args = args
        self.dom = "qdamo-e2e-%d" % os.getpid()
        self.workdir = tempfile.mkdtemp(prefix="qdamo-libvirt-")
        self.hot_start = args.hot_start
        self.hot_size = args.hot_size
        self.domains = []     # harness.libvirt.Domain: destroy or undefine
        self.vms = []
        self.qmp_path = None
        self.record = None
        self.figures = {}


def cleanup(rep, ctx):
    for dom in ctx.domains:
        dom.destroy()
    for vm in ctx.vms:
        vm.close()


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=512, hot_start=16 * MIB, hot_size=16 * MIB)
    harg.add_run(ap, timeout=60.0, verbose=False)
    ap.add_argument("--record-s", type=int, default=6, metavar="S",
                    help="length of the qdamo record (default: %(default)s)")
    ap.add_argument("--no-setup", action="store_true",
                    help="do not run scripts/setup-libvirt.sh")
    ap.add_argument("--heatmap-out", metavar="PNG",
                    help="also copy the heatmap PNG of the record here")
    return ap.parse_args()


STEPS = [
    ("virsh-create", step_create), ("virsh-wss", step_virsh_wss),
    ("qdamo-status", step_qdamo_status), ("qdamo-wss", step_qdamo_wss),
    ("qdamo-regions", step_qdamo_regions), ("qdamo-record", step_qdamo_record),
    ("qdamo-heatmap", step_heatmap), ("qdamo-convert", step_convert),
    ("qdamo-watch", step_watch), ("qdamo-qmp", step_qmp_socket),
    ("qdamo-exporter", step_exporter), ("qdamo-tune-stop", step_tune_stop),
    ("qdamo-matches-qmp", step_compare),
    ("err-not-running", step_err_not_running),
    ("err-no-damon", step_err_stock_qemu), ("err-socket", step_err_socket),
]
# without the domain the later steps cannot run; without a record, the
# heatmap and convert steps
ESSENTIAL = {"virsh-create", "virsh-wss"}
NEED_RECORD = {"qdamo-heatmap", "qdamo-convert"}


def run_all(args, rep):
    daemons = Daemons()
    ctx = None
    try:
        if not (report.run_step(rep, "setup", lambda: step_setup(rep, args)) and
                report.run_step(rep, "daemons", lambda: daemons.start(rep))):
            return
        ctx = Context(args)
        for name, step in STEPS:
            if name in NEED_RECORD and not ctx.record:
                rep.fail(name, "no record to work on")
            elif not report.run_step(rep, name, lambda: step(rep, ctx)) and name in ESSENTIAL:
                break
        rep.figures.update(ctx.figures)
    finally:
        if ctx is not None:
            cleanup(rep, ctx)
            if args.keep:
                rep.info("work directory: %s" % ctx.workdir)
            else:
                shutil.rmtree(ctx.workdir, ignore_errors=True)
        daemons.stop(rep)
        rep.figures["steps_passed"] = rep.passed


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("libvirt", lambda rep: run_all(ARGS, rep), width=16)
