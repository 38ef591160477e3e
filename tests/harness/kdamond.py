# SPDX-License-Identifier: GPL-2.0-or-later
"""kdamond - Linux's own DAMON (vaddr, sysfs) on the inner QEMU, for comparisons.

Runs in the outer VM of harness.nested, whose kernel has DAMON: one
kdamond, one vaddr context on the inner QEMU process, one region over its
guest RAM mapping, and a "stat" scheme whose tried regions give the
regions of the last aggregation in guest-physical addresses.

    k = Kdamond(host, inner.pid, mem_bytes)
    k.start(sample_us, aggr_us)
    k.regions()            # [(gpa start, gpa end, nr_accesses)]
    k.cpu_s()              # kdamond's CPU seconds so far
    k.stop()

Only one user of page_idle at a time: DAMON's vaddr and paddr operations
clear the same accessed bits and PG_idle flags that qdamon's idle-page
source reads, so never run both on the same memory at once.
"""

ADMIN = "/sys/kernel/mm/damon/admin/kdamonds"
CTX = ADMIN + "/0/contexts/0"


def guest_ram_hva(host, pid, mem):
    """Start of the inner QEMU's guest RAM mapping: its largest rw
    anonymous mapping of at least @mem bytes."""
    maps = host.check("cat /proc/%d/maps" % pid)
    best = None
    for line in maps.splitlines():
        f = line.split()
        if len(f) < 5 or not f[1].startswith("rw") or len(f) > 5:
            continue
        s, e = (int(x, 16) for x in f[0].split("-"))
        if e - s >= mem and (best is None or e - s > best[1] - best[0]):
            best = (s, e)
    if not best:
        raise RuntimeError("no guest RAM mapping in /proc/%d/maps" % pid)
    return best[0]


class Kdamond:
    def __init__(self, host, pid, mem):
        self.host = host
        self.pid = pid
        self.mem = mem
        self.base = guest_ram_hva(host, pid, mem)
        self.kpid = None

    def start(self, sample_us, aggr_us, min_nr=10, max_nr=1000):
        w = lambda path, value: "echo %s > %s" % (value, path)  # noqa: E731
        cmds = [
            w(ADMIN + "/nr_kdamonds", 1),
            w(ADMIN + "/0/contexts/nr_contexts", 1),
            w(CTX + "/operations", "vaddr"),
            w(CTX + "/monitoring_attrs/intervals/sample_us", sample_us),
            w(CTX + "/monitoring_attrs/intervals/aggr_us", aggr_us),
            w(CTX + "/monitoring_attrs/nr_regions/min", min_nr),
            w(CTX + "/monitoring_attrs/nr_regions/max", max_nr),
            w(CTX + "/targets/nr_targets", 1),
            w(CTX + "/targets/0/pid_target", self.pid),
            w(CTX + "/targets/0/regions/nr_regions", 1),
            w(CTX + "/targets/0/regions/0/start", self.base),
            w(CTX + "/targets/0/regions/0/end", self.base + self.mem),
            w(CTX + "/schemes/nr_schemes", 1),
            w(CTX + "/schemes/0/action", "stat"),
            # a new scheme matches nothing until its maxima are set
            w(CTX + "/schemes/0/access_pattern/sz/max", 18446744073709551615),
            w(CTX + "/schemes/0/access_pattern/nr_accesses/max", 4294967295),
            w(CTX + "/schemes/0/access_pattern/age/max", 4294967295),
        ]
        self.host.check(" && ".join(cmds))
        self.host.check("echo on > %s/0/state" % ADMIN)
        self.kpid = int(self.host.check("cat %s/0/pid" % ADMIN).strip())

    def regions(self):
        """The regions of the last aggregation, guest-physical."""
        text = self.host.check(
            "echo update_schemes_tried_regions > %s/0/state && "
            "for d in %s/schemes/0/tried_regions/[0-9]*; do "
            "echo $(cat $d/start) $(cat $d/end) $(cat $d/nr_accesses); done"
            % (ADMIN, CTX))
        out = []
        for line in text.splitlines():
            f = line.split()
            if len(f) == 3:
                out.append((int(f[0]) - self.base, int(f[1]) - self.base, int(f[2])))
        return sorted(out)

    def cpu_s(self):
        return sum(self.host.proc_cpu(self.kpid))

    def stop(self):
        self.host.shell("echo off > %s/0/state" % ADMIN)
