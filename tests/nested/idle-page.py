#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""idle-page.py - end-to-end test: source idle-page (host accessed bits) on a kernel with page_idle.

No Debian kernel has CONFIG_IDLE_PAGE_TRACKING, this machine's included,
so the host side runs nested: an outer VM (our QEMU, -accel tcg -cpu max)
boots our build of Debian's linux-source-6.12 with page_idle and KVM
(harness.nested, kernel "idle"; tests/nested/build-kernel.sh builds it
the first time, some 15 minutes, then it is cached), and our QEMU runs
inside it on the workload firmware with a written range A (hot_start/
hot_size, 4 MiB) and a range B it only reads (read_start/read_size,
16 MiB, written once at boot).  Inside, the inner QEMU runs:

  tcg     -accel tcg: monitors idle-page, idle-page+dirty-bitmap, a bare
          damon-start (whose default must be idle-page: QEMU runs as root
          and page_idle is there), and dirty-bitmap; host THP madvise, so
          guest RAM is on 2 MiB host pages: the samples must be huge and
          the granularity 2 MiB;
  kvm     -accel kvm,dirty-ring-size=4096: idle-page, idle-page+dirty-ring,
          and dirty-ring; host THP never: 4 KiB samples and granularity.

With 2 MiB granularity the 2 MiB that hold the guest's own code and
stack (its first 2 MiB) count as accessed: 1.8 MiB over |A| + |B|, a WSS
error of up to 9% here, which is right at that granularity but close to
the 10% bound; the kvm run's 4 KiB pages show the exact figure.

A source that sees reads (idle-page) must find both ranges (>= 90% of
each range's bytes in regions at >= half of max-nr-accesses, WSS within
10% of |A| + |B|, on two successive aggregations: harness.reads); paired
with a write source, the hot part of A must be written in >= 80% of its
accessed samples and B in <= 5%; a write-only source must find A and not
B, and say writes-only.  query-damon's idle-page member is checked and
its figures printed (huge/small/absent/unknown samples, granularity).

Then, failing closed, each with its own error and the VM running on:

  unprivileged  QEMU run with -run-with user=65534:65534 and no files:
                it cannot open the page_idle bitmap;
  pfn-hidden    QEMU started as uid 65534 (as libvirt starts it), given
                the bitmap (-add-fd, opened by root) but not pagemap: its
                own pagemap hides the page frame numbers;
  hugetlbfs     guest RAM on hugetlbfs;
  qdamo         the unprivileged QEMU again, now with qdamo (run as root
                in the outer VM) opening both files and passing them
                with getfd over a QMP unix socket: idle-page works, and
                finds both ranges;
  mglru         with the multi-gen LRU switched on at run time,
                query-damon's idle-page says host-mglru true.

And migration: two QEMUs in the outer VM, the source (driven by HMP on a
pipe) running the guest with an idle-page monitor sampling, the
destination (-incoming, -S) waiting; after a live migration every page
of guest RAM on the destination equals the source's.
--runs migration --let-destination-run is its negative control: the
destination runs the guest on before the dump, so the RAM must differ.

Monitoring attributes: --sample-us 100000, --aggr-us 1000000 by default,
as tests/nested/kvm-workload.py (why: docs/notes/nested-harness.md).

Exit status 0 if every step passed, 77 (SKIP) if this machine cannot run
the outer VM with KVM, 1 otherwise.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, reads, report, steps  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.nested import (HmpPipe, NestedError, NestedHost, compare_dumps,  # noqa: E402
                            start_or_report)
from harness.qmp import QMPError  # noqa: E402
from harness.report import Failed, run_step  # noqa: E402

RUNS = [
    # (name, -accel, host THP while it boots, monitors in order)
    ("tcg", "tcg", "madvise",
     ["idle-page", "idle-page+dirty-bitmap", "default", "dirty-bitmap"]),
    ("kvm", "kvm,dirty-ring-size=4096", "never",
     ["idle-page", "idle-page+dirty-ring", "dirty-ring"]),
]
THP = "/sys/kernel/mm/transparent_hugepage/enabled"
NOBODY = ["-run-with", "user=65534:65534"]
BITMAP = "/sys/kernel/mm/page_idle/bitmap"
LRU_GEN = "/sys/kernel/mm/lru_gen/enabled"


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=256, hot_start=16 * MIB, hot_size=4 * MIB)
    harg.add_read_range(ap)
    ap.add_argument("--sample-us", type=int, default=100000,
                    help="damon-start sample-us (default: %(default)s)")
    ap.add_argument("--aggr-us", type=int, default=1000000,
                    help="damon-start aggr-us (default: %(default)s)")
    ap.add_argument("--runs", default="tcg,kvm,closed,migration",
                    help="which parts (default: %(default)s)")
    ap.add_argument("--let-destination-run", action="store_true",
                    help="negative control for the migration: the destination runs the "
                    "guest on (no -S) before its RAM is dumped, so the comparison must "
                    "find differences")
    harg.add_run(ap, timeout=90.0, keep_what="the work directory (consoles, QEMU stderr)")
    args = ap.parse_args()
    args.regions = None
    args.default_sources = ("idle-page",)
    args.start_extra = {"sample-us": args.sample_us, "aggr-us": args.aggr_us}
    return args


def guest_config(args):
    return {"hot_start": args.hot_start, "hot_size": args.hot_size,
            "read_start": args.read_start, "read_size": args.read_size}


def boot_inner(host, rep, args, accel, name, wait=True, **kw):
    t0 = time.monotonic()
    inner = host.start_inner(accel, mem_mib=args.mem, config=guest_config(args), **kw)
    if wait:
        steps.wait_first_pass(inner, args.hot_start, args.hot_size, timeout=120)
    rep.ok(name + "-boot", "inner QEMU pid %d (-accel %s%s): first pass after %.1f s"
           % (inner.pid, accel, " " + " ".join(kw.get("extra_args", ())),
              time.monotonic() - t0))
    return inner


def idle_info(inner, rep, label, args_of_run=None):
    """query-damon's idle-page member of damon0, checked and recorded."""
    m = steps.monitor_info(inner)
    ip = m.get("idle-page")
    if m["source"] == "idle-page" and not ip:
        raise Failed("query-damon: source idle-page without an idle-page member")
    if m["source"] != "idle-page":
        if ip:
            raise Failed("query-damon: source %s has an idle-page member" % m["source"])
        return ""
    total = sum(ip[k] for k in ("small-samples", "huge-samples", "absent-samples",
                                "unknown-samples"))
    if not total:
        raise Failed("query-damon idle-page: no samples counted: %s" % ip)
    want_gran = 2 * MIB if ip["huge-samples"] else 4096
    if ip["granularity-bytes"] != want_gran:
        raise Failed("query-damon idle-page: granularity %d with %d huge samples"
                     % (ip["granularity-bytes"], ip["huge-samples"]))
    # QEMU madvises guest RAM huge: with THP on, present samples are huge
    thp = getattr(args_of_run, "thp", "madvise")
    if thp == "never" and ip["huge-samples"]:
        raise Failed("host THP never, yet %d huge samples" % ip["huge-samples"])
    if thp != "never" and not ip["huge-samples"]:
        raise Failed("host THP %s, yet no huge samples: %s" % (thp, ip))
    hmp = inner.qmp.execute("human-monitor-command", {"command-line": "info damon"})
    if "idle-page samples:" not in hmp:
        raise Failed("HMP info damon lacks the idle-page samples line: %r" % hmp)
    for k in ("huge-samples", "small-samples", "unknown-samples", "absent-samples"):
        rep.figures["%s_%s_pct" % (label, k.split("-")[0])] = round(ip[k] * 100 / total, 1)
    rep.figures["%s_cpu_ms" % label] = round(m["cpu-ns"] / 1e6, 1)
    return ("; idle-page samples: %d huge, %d small, %d absent, %d unknown, granularity "
            "%d bytes, host-mglru %s, source time %.1f ms of monitor CPU %.1f ms"
            % (ip["huge-samples"], ip["small-samples"], ip["absent-samples"],
               ip["unknown-samples"], ip["granularity-bytes"], ip["host-mglru"],
               ip["cpu-ns"] / 1e6, m["cpu-ns"] / 1e6))


def monitor_step(inner, rep, args, spec):
    label = spec.replace("-", "_").replace("+", "_w_")
    reads_source = spec.partition("+")[0] in reads.READ_SOURCES + ("default",)
    if reads_source:
        text = reads.step_reads_found(inner, rep, args, spec, label)
    else:
        text = reads.step_reads_unseen(inner, rep, args, spec, label)
        if steps.monitor_info(inner).get("sees") != "writes-only":
            raise Failed("%s: query-damon does not say writes-only" % spec)
    return text + idle_info(inner, rep, label, args)


def stop_quietly(inner):
    """After a failed step: stop damon0 if it runs, so the next can start."""
    try:
        if any(m["state"] == "running" for m in inner.qmp.execute("query-damon")):
            inner.qmp.execute("damon-stop")
            inner.qmp.wait_event("DAMON_STOPPED", timeout=10)
    except (QMPError, NestedError):
        pass


def run_monitors(host, rep, args, name, accel, thp, specs):
    rrep = rep.sub(name)
    host.check("echo %s >%s" % (thp, THP))
    args.thp = thp
    inner = boot_inner(host, rrep, args, accel, "boot")
    try:
        for spec in specs:
            if run_step(rrep, spec, lambda s=spec: rrep.ok(
                    s, monitor_step(inner, rrep, args, s))):
                run_step(rrep, "damon-stop", lambda: steps.step_damon_stop(inner, rrep))
            else:
                stop_quietly(inner)
        run_step(rrep, "running", lambda: steps.step_still_running(inner, rrep))
    finally:
        inner.quit(timeout=20)
        inner.close()
        host.check("echo madvise >%s" % THP)
    rep.figures.update(("%s_%s" % (name, k), v) for k, v in rrep.figures.items())


# ---- failing closed ---------------------------------------------------------

def expect_refused(inner, start, want, what):
    try:
        inner.qmp.execute("damon-start", start)
    except QMPError as e:
        if want not in e.desc:
            raise Failed("%s: refused, but the error lacks %r: %s" % (what, want, e.desc))
        running = [m["id"] for m in inner.qmp.execute("query-damon")
                   if m["state"] == "running"]
        if running:
            raise Failed("%s: a refused damon-start left %s running" % (what, running))
        if not inner.qmp.execute("query-status").get("running"):
            raise Failed("%s: the VM stopped" % what)
        return "%s: %s; nothing started, VM running" % (what, e.desc)
    inner.qmp.execute("damon-stop")
    raise Failed("%s: damon-start source idle-page was accepted" % what)


def run_closed(host, rep, args):
    crep = rep.sub("closed")
    accel = "kvm"

    def unprivileged():
        inner = boot_inner(host, crep, args, accel, "nobody", extra_args=NOBODY,
                           qmp_socket=True)
        try:
            crep.ok("unprivileged", expect_refused(
                inner, {"source": "idle-page"}, "'idle-bitmap-fd'",
                "QEMU as uid 65534 without files"))
            run_step(crep, "qdamo", lambda: crep.ok("qdamo", qdamo_start(inner, crep, args)))
        finally:
            inner.quit(timeout=20)
            inner.close()

    def pfn_hidden():
        # started as uid 65534 (as libvirt does), so dumpable: it may open
        # its own pagemap, which then hides the page frame numbers
        inner = boot_inner(host, crep, args, accel, "nobody-bitmap",
                           extra_args=["-add-fd", "fd=7,set=1,opaque=page_idle"],
                           redirects="7<>%s" % BITMAP, user="65534:65534")
        try:
            crep.ok("pfn-hidden", expect_refused(
                inner, {"source": "idle-page", "idle-bitmap-fd": "/dev/fdset/1"},
                "hides the host page frame numbers",
                "QEMU as uid 65534 given the bitmap (-add-fd) but not pagemap"))
        finally:
            inner.quit(timeout=20)
            inner.close()

    def hugetlbfs():
        got = host.mount_hugetlbfs(args.mem // 2 + 8)
        if got < args.mem // 2:
            raise Failed("the outer kernel reserved %d of %d huge pages" % (got, args.mem // 2))
        inner = boot_inner(host, crep, args, accel, "hugetlbfs",
                           machine="pc,memory-backend=mem",
                           extra_args=["-object", "memory-backend-file,id=mem,size=%dM,"
                                       "mem-path=/dev/hugepages,share=on" % args.mem])
        try:
            crep.ok("hugetlbfs", expect_refused(inner, {"source": "idle-page"}, "hugetlbfs",
                                                "guest RAM on hugetlbfs"))
        finally:
            inner.quit(timeout=20)
            inner.close()
            host.shell("echo 0 >/proc/sys/vm/nr_hugepages")

    def mglru():
        inner = boot_inner(host, crep, args, accel, "mglru")
        try:
            host.check("echo y >%s" % LRU_GEN)
            state = host.check("cat %s" % LRU_GEN).strip()
            inner.qmp.execute("damon-start", {"source": "idle-page"})
            ip = steps.monitor_info(inner).get("idle-page") or {}
            inner.qmp.execute("damon-stop")
            if ip.get("host-mglru") is not True:
                raise Failed("lru_gen/enabled %s, but query-damon idle-page says "
                             "host-mglru %r" % (state, ip.get("host-mglru")))
            host.check("echo n >%s" % LRU_GEN)
            inner.qmp.execute("damon-start", {"source": "idle-page"})
            ip2 = steps.monitor_info(inner).get("idle-page") or {}
            inner.qmp.execute("damon-stop")
            if ip2.get("host-mglru") is not False:
                raise Failed("lru_gen off, but host-mglru %r" % ip2.get("host-mglru"))
            crep.ok("mglru", "lru_gen/enabled %s: host-mglru true; switched off: false"
                    % state)
        finally:
            host.shell("echo n >%s" % LRU_GEN)
            inner.quit(timeout=20)
            inner.close()

    # 4 KiB host pages: the qdamo step's WSS is then exact (see the kvm run)
    host.check("echo never >%s" % THP)
    try:
        for name, fn in (("unprivileged", unprivileged), ("pfn-hidden", pfn_hidden),
                         ("hugetlbfs", hugetlbfs), ("mglru", mglru)):
            run_step(crep, name, fn)
    finally:
        host.check("echo madvise >%s" % THP)
    rep.figures.update(("closed_%s" % k, v) for k, v in crep.figures.items())


def qdamo_start(inner, rep, args):
    """qdamo start --source idle-page on an unprivileged QEMU: qdamo opens
    pagemap and the bitmap as root and passes them with getfd."""
    rc, out = inner.qdamo("start", "--source", "idle-page",
                          "--sample", "%dus" % args.sample_us, "--aggr", "%dus" % args.aggr_us)
    if rc != 0:
        raise Failed("qdamo start --source idle-page exited %d: %s" % (rc, out.strip()))
    m = steps.monitor_info(inner)
    if m["source"] != "idle-page" or m["state"] != "running":
        raise Failed("after qdamo start, query-damon says %s %s" % (m["state"], m["source"]))
    text = reads.step_reads_found(inner, rep, args, "idle-page", "qdamo", start=False)
    inner.qmp.execute("damon-stop")
    return "QEMU as uid 65534, files from qdamo over getfd: " + text


# ---- migration ----------------------------------------------------------------

def run_migration(host, rep, args):
    """Live migration between two QEMUs in the outer VM: the source, with
    an idle-page monitor sampling, runs the guest; the destination waits
    (-incoming, -S: it must not run on and write before the dump)."""
    mrep = rep.sub("migration")
    sock, src_ram, dst_ram = "/tmp/mig.sock", "/tmp/src.ram", "/tmp/dst.ram"
    size = args.mem * MIB

    def migrate():
        host.shell("rm -f %s %s %s" % (sock, src_ram, dst_ram))
        stay = [] if args.let_destination_run else ["-S"]
        dst = boot_inner(host, mrep, args, "kvm", "destination",
                         extra_args=stay + ["-incoming", "unix:" + sock], wait=False)
        src = None
        try:
            src = HmpPipe(host, "kvm", args.mem, guest_config(args))
            time.sleep(2)
            out = src.hmp("damon_start mig idle-page")
            if out.strip() and "Error" in out:
                raise Failed("source: damon_start mig idle-page: %s" % out.strip())
            time.sleep(3 * args.aggr_us / 1e6)
            src.hmp("migrate -d unix:" + sock)
            deadline = time.monotonic() + 300
            while dst.qmp.execute("query-migrate").get("status") != "completed":
                if time.monotonic() > deadline:
                    raise Failed("the migration did not complete: %s"
                                 % src.hmp("info migrate").strip()[-300:])
                time.sleep(0.5)
            info = src.hmp("info damon", wait=2)
            if "mig: running, source idle-page" not in info or "idle-page samples" not in info:
                raise Failed("the source's idle-page monitor did not run through the "
                             "migration: %r" % info[-400:])
            src.pmemsave(0, size, src_ram)
            dst.qmp.execute("pmemsave", {"val": 0, "size": size, "filename": dst_ram})
        finally:
            if src is not None:
                src.kill()
            dst.quit(timeout=20)
            dst.close()
        size_src, size_dst, diff, digest = compare_dumps(host, src_ram, dst_ram, digest=True)
        if (size_src, size_dst) != (size, size):
            raise Failed("RAM dumps of the wrong size: %d and %d bytes" % (size_src, size_dst))
        host.shell("rm -f %s %s %s" % (sock, src_ram, dst_ram))
        mrep.figures["pages_differing"] = diff
        if args.let_destination_run:
            if not diff:
                raise Failed("the destination ran on, yet its RAM equals the source's: "
                             "the comparison cannot fail")
            return ("negative control: the destination ran on after the migration and "
                    "%d pages of its RAM differ, as they must" % diff)
        if diff:
            raise Failed("%d pages of guest RAM differ after the migration" % diff)
        return ("live migration between two QEMUs with an idle-page monitor sampling on the "
                "source: all %d MiB of guest RAM equal (%s)"
                % (args.mem, digest[:16]))

    run_step(mrep, "ram-equal", lambda: mrep.ok("ram-equal", migrate()))
    rep.figures.update(("migration_%s" % k, v) for k, v in mrep.figures.items())


def run(args, rep):
    log = (lambda line: rep.info("harness: " + line)) if args.verbose else None
    with NestedHost(qemu=args.qemu, firmware=args.firmware, keep_workdir=args.keep,
                    log=log, kernel="idle") as host:
        status = start_or_report(host, rep)
        if status is not None:
            return status
        rep.ok("outer-boot", "Linux %s with page_idle: %s" % (
            host.images.get("release", "?"),
            host.check("ls -l %s; cat %s" % (BITMAP, LRU_GEN)).replace("\n", " | ")))
        wanted = args.runs.split(",")
        for name, accel, thp, specs in RUNS:
            if name in wanted:
                run_monitors(host, rep, args, name, accel, thp, specs)
        if "closed" in wanted:
            run_closed(host, rep, args)
        if "migration" in wanted:
            run_migration(host, rep, args)
        host.poweroff()
    return 1 if rep.failed else 0


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("idle-page", lambda rep: run(ARGS, rep))
