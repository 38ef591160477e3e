#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""run.py - end-to-end test of qdamo and qdamon through a real libvirt.

As root on a machine without systemd:

  1. scripts/setup-libvirt.sh (packages, the libvirt-qemu user, qemu.conf);
     build qdamo and the workload guest;
  2. start virtlogd and libvirtd unless they already answer (and stop at
     the end only the ones started here);
  3. "virsh create" a transient TCG domain: emulator = our QEMU, loader =
     the workload firmware, its hot set passed on fw_cfg through
     <qemu:commandline>; no disk, no network;
  4. virsh qemu-monitor-command damon-start and query-damon-wss: the
     working set must come within 10% of the configured hot size;
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

import argparse
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
import traceback
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from report import Failed, Report  # noqa: E402
from vm import WorkloadVM, config_string  # noqa: E402

MIB = 1 << 20
WSS_ERR_MAX = 0.10
URI = "qemu:///system"
DEFAULT_QEMU = os.path.join(ROOT, "_work", "qemu-build", "qemu-system-x86_64")
STOCK_QEMU = "/usr/bin/qemu-system-x86_64"
BUILD = os.path.join(ROOT, "build")
QDAMO = os.path.join(BUILD, "src", "tools", "qdamo", "qdamo")
FIRMWARE = os.path.join(BUILD, "tests", "guest", "workload.bin")


def run(cmd, timeout=120, check=False, env=None):
    """Run cmd (a list); return (exit status, stdout, stderr)."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise Failed("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                           (p.stderr or p.stdout).strip()[-400:]))
    return p.returncode, p.stdout, p.stderr


def virsh(*args, check=True, timeout=60):
    return run(["virsh", "-c", URI] + list(args), timeout=timeout, check=check)


def virsh_qmp(dom, command, arguments=None):
    req = {"execute": command}
    if arguments:
        req["arguments"] = arguments
    _, out, _ = virsh("qemu-monitor-command", dom, "--pretty", json.dumps(req))
    reply = json.loads(out)
    if "error" in reply:
        raise Failed("%s: %s" % (command, reply["error"]))
    return reply["return"]


def qdamo(*args, dom=None, check=True, timeout=120):
    cmd = [QDAMO] + (["-c", URI, "-d", dom] if dom else []) + list(args)
    return run(cmd, timeout=timeout, check=check)


def within(value, target, tol=WSS_ERR_MAX):
    return abs(value - target) <= tol * target


# ---------------------------------------------------------------------------
# Setting up: packages, build, daemons

def step_setup(rep, args):
    if os.geteuid() != 0:
        raise Failed("must run as root: it starts libvirtd and virsh-creates domains")
    if not args.no_setup:
        run([os.path.join(ROOT, "scripts", "setup-libvirt.sh")], timeout=1200, check=True)
    if not os.path.isfile(os.path.join(BUILD, "build.ninja")):
        run(["meson", "setup", BUILD, ROOT], timeout=300, check=True)
    targets = ["src/tools/qdamo/qdamo", "tests/guest/workload.bin"]
    rc, _, _ = run(["ninja", "-C", BUILD] + targets, timeout=600)
    if rc != 0:
        # configured before libvirt was installed: qdamo was left out
        run(["meson", "setup", "--reconfigure", BUILD, ROOT], timeout=300, check=True)
        run(["ninja", "-C", BUILD] + targets, timeout=600, check=True)
    for path in (QDAMO, FIRMWARE, args.qemu):
        if not os.path.isfile(path):
            raise Failed("missing %s" % path)
    _, ver, _ = run(["dpkg-query", "-W", "-f=${Version}", "libvirt-daemon"])
    rep.ok("setup", "libvirt %s, qdamo and workload.bin built, QEMU %s"
           % (ver, os.path.relpath(args.qemu, ROOT)))


def pid_alive(pidfile):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        # a zombie answers kill(pid, 0) but serves nobody
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return None if state in ("Z", "X") else pid
    except (OSError, ValueError, IndexError):
        return None


def start_daemons(rep, started):
    rc, _, _ = run(["virsh", "-c", URI, "version"], timeout=20)
    if rc == 0:
        rep.ok("daemons", "libvirtd already answers on %s; leaving it alone" % URI)
        return
    for d in ("/var/log/libvirt/qemu", "/var/run/libvirt", "/var/lib/libvirt/qemu"):
        os.makedirs(d, exist_ok=True)
    for name, pidfile in (("virtlogd", "/var/run/virtlogd.pid"),
                          ("libvirtd", "/var/run/libvirtd.pid")):
        if pid_alive(pidfile):
            continue
        run([name, "-d"], timeout=30, check=True)
        deadline = time.monotonic() + 10
        while not pid_alive(pidfile):
            if time.monotonic() > deadline:
                raise Failed("%s -d wrote no live pid to %s" % (name, pidfile))
            time.sleep(0.1)
        started.append((name, pid_alive(pidfile)))
    deadline = time.monotonic() + 30
    while run(["virsh", "-c", URI, "version"], timeout=20)[0] != 0:
        if time.monotonic() > deadline:
            raise Failed("libvirtd started but virsh -c %s version fails" % URI)
        time.sleep(0.2)
    rep.ok("daemons", "started %s" % ", ".join("%s (pid %d)" % s for s in started))


def stop_daemons(rep, started):
    for name, pid in reversed(started):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            rep.fail("daemons-stop", "%s (pid %d) did not exit on SIGTERM" % (name, pid))
            return
    if started:
        rep.ok("daemons-stop", "stopped %s" % ", ".join(n for n, _ in reversed(started)))


# ---------------------------------------------------------------------------
# The domain

def domain_xml(name, qemu, workdir, hot_start, hot_size, mem_mib):
    """A transient TCG domain with no disk and no network.  <acpi/> is
    there because libvirt 9.0 otherwise passes -no-acpi, which QEMU 10
    no longer has."""
    config = config_string({"hot_start": hot_start, "hot_size": hot_size})
    args = ["-fw_cfg", "name=opt/qdamon/workload,string=%s" % config,
            "-debugcon", "file:%s" % os.path.join(workdir, "debugcon.txt")]
    if os.path.isdir("/usr/share/seabios"):
        args = ["-L", "/usr/share/seabios"] + args
    qargs = "\n".join("    <qemu:arg value='%s'/>" % a for a in args)
    return """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>%s</loader>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>%s</emulator>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
%s
  </qemu:commandline>
</domain>
""" % (name, mem_mib, FIRMWARE, qemu, qargs)


def create_domain(name, qemu, workdir, hot_start, hot_size, mem_mib, persistent=False):
    path = os.path.join(workdir, name + ".xml")
    with open(path, "w") as f:
        f.write(domain_xml(name, qemu, workdir, hot_start, hot_size, mem_mib))
    virsh("define" if persistent else "create", path)
    return path


def wait_console(workdir, pattern, timeout):
    rx = re.compile(pattern, re.M)
    path = os.path.join(workdir, "debugcon.txt")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                if rx.search(f.read()):
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise Failed("guest console did not show /%s/ in %.0f s" % (pattern, timeout))


def step_create(rep, ctx):
    t0 = time.monotonic()
    create_domain(ctx.dom, ctx.args.qemu, ctx.workdir, ctx.hot_start, ctx.hot_size,
                  ctx.args.mem)
    ctx.domains.append(ctx.dom)
    wait_console(ctx.workdir, r"^qdamon-workload: pass=1 ", 60)
    _, state, _ = virsh("domstate", ctx.dom)
    rep.ok("virsh-create", "%s %s, guest writing hot=0x%x+0x%x after %.1f s"
           % (ctx.dom, state.strip(), ctx.hot_start, ctx.hot_size, time.monotonic() - t0))


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
            if streak >= 2:
                break
        time.sleep(0.2)
    else:
        raise Failed("query-damon-wss never came within 10%% of %d MiB in %.0f s "
                     "(last wss %s)" % (ctx.hot_size // MIB, ctx.args.timeout, wss))
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
    hot_end = hot_start + hot_size
    covered = sum(max(0, min(e, hot_end) - max(s, hot_start))
                  for s, e, _, acc, _, _ in rows if acc >= 50)
    return covered / hot_size


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
    if not within(last, ctx.hot_size) or not within(pcts[50], ctx.hot_size):
        raise Failed("qdamo report wss: last %d, median %d, hot set %d"
                     % (last, pcts[50], ctx.hot_size))
    _, plot, _ = qdamo("report", "wss", "--plot", dom=ctx.dom, check=True)
    if plot.count("|#") < 15:
        raise Failed("report wss --plot drew no bars:\n%s" % plot)
    ctx.figures["qdamo_wss_mib"] = round(last / MIB, 2)
    rep.ok("qdamo-wss", "report wss: last %.2f MiB, median %.2f MiB (hot %.0f MiB); "
           "--plot draws %d bars" % (last / MIB, pcts[50] / MIB, ctx.hot_size / MIB,
                                    plot.count("|#")))


def step_qdamo_regions(rep, ctx):
    got = {}

    def check():
        _, got["out"], _ = qdamo("report", "regions", "--raw", dom=ctx.dom, check=True)
        got["rows"] = parse_regions_report(got["out"])
        got["cov"] = hot_coverage(got["rows"], ctx.hot_start, ctx.hot_size)
        return got["cov"] >= 0.9

    retry(check)
    out, rows, cov = got["out"], got["rows"], got["cov"]
    if cov < 0.9:
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
    median = wss[len(wss) // 2]
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
    vm = WorkloadVM(ctx.args.qemu, FIRMWARE, mem_mib=256,
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
    create_domain(name, ctx.args.qemu, ctx.workdir, ctx.hot_start, ctx.hot_size, 128,
                  persistent=True)
    ctx.defined.append(name)
    msg = expect_error("not running", ["-c", URI, "-d", name, "status"], 3,
                       "is not running")
    msg2 = expect_error("no such domain", ["-c", URI, "-d", ctx.dom + "-nope", "status"],
                        3, "no domain")
    rep.ok("err-not-running", "exit 3: %s | exit 3: %s" % (msg, msg2))


def step_err_stock_qemu(rep, ctx):
    if not os.path.isfile(STOCK_QEMU):
        rep.skip("err-no-damon", "%s is not installed (Debian's qemu-system-x86)"
                 % STOCK_QEMU)
        return
    name = ctx.dom + "-stock"
    sub = os.path.join(ctx.workdir, "stock")
    os.makedirs(sub, exist_ok=True)
    create_domain(name, STOCK_QEMU, sub, ctx.hot_start, ctx.hot_size, 128)
    ctx.domains.append(name)
    _, out, _ = virsh("qemu-monitor-command", name, '{"execute":"damon-start"}')
    if "CommandNotFound" not in out:
        raise Failed("damon-start on the stock QEMU through virsh: %s" % out.strip())
    msg = expect_error("stock QEMU", ["-c", URI, "-d", name, "start"], 4,
                       "has no DAMON monitor commands")
    _, ver, _ = run([STOCK_QEMU, "--version"])
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
        self.domains = []     # transient: destroy
        self.defined = []     # persistent, never started: undefine
        self.vms = []
        self.qmp_path = None
        self.record = None
        self.figures = {}


def cleanup(rep, ctx):
    for name in ctx.domains:
        virsh("destroy", name, check=False)
    for name in ctx.defined:
        virsh("undefine", name, check=False)
    for vm in ctx.vms:
        vm.close()


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qemu", default=DEFAULT_QEMU,
                    help="qdamon's qemu-system-x86_64 (default: %(default)s)")
    ap.add_argument("--mem", type=int, default=512, metavar="MIB",
                    help="guest RAM in MiB (default: %(default)s)")
    ap.add_argument("--hot-start", type=lambda s: int(s, 0), default=16 * MIB)
    ap.add_argument("--hot-size", type=lambda s: int(s, 0), default=16 * MIB)
    ap.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds allowed to find the hot set (default: %(default)s)")
    ap.add_argument("--record-s", type=int, default=6, metavar="S",
                    help="length of the qdamo record (default: %(default)s)")
    ap.add_argument("--no-setup", action="store_true",
                    help="do not run scripts/setup-libvirt.sh")
    ap.add_argument("--heatmap-out", metavar="PNG",
                    help="also copy the heatmap PNG of the record here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    return ap.parse_args()


def main():
    args = parse_args()
    rep = Report(width=16)
    started = []
    t0 = time.monotonic()
    ctx = None
    try:
        step_setup(rep, args)
        start_daemons(rep, started)
        ctx = Context(args)
        steps = [
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
        # without a domain or a record the later steps cannot run
        essential = {"virsh-create", "virsh-wss", "qdamo-record"}
        for name, step in steps:
            if name in ("qdamo-heatmap", "qdamo-convert") and not ctx.record:
                rep.fail(name, "no record to work on")
                continue
            try:
                step(rep, ctx)
            except Failed as e:
                rep.fail(name, str(e))
                if name in essential and name != "qdamo-record":
                    break
            except Exception as e:
                traceback.print_exc()
                rep.fail(name, "unexpected %s: %s" % (type(e).__name__, e))
                if name in essential:
                    break
        rep.figures.update(ctx.figures)
    except Failed as e:
        rep.fail("setup", str(e))
    except KeyboardInterrupt:
        rep.fail("interrupted", "")
    finally:
        if ctx is not None:
            cleanup(rep, ctx)
            if args.keep:
                rep.info("work directory: %s" % ctx.workdir)
            else:
                shutil.rmtree(ctx.workdir, ignore_errors=True)
        stop_daemons(rep, started)
    figures = " ".join("%s=%s" % kv for kv in sorted(rep.figures.items()))
    verdict = "FAIL (%s)" % ", ".join(rep.failed) if rep.failed else "PASS"
    print("RESULT libvirt %s %d passed in %.1f s %s"
          % (verdict, rep.passed, time.monotonic() - t0, figures), flush=True)
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
