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

More schemes, for comparisons of DAMOS actions (bench/nested-reclaim.py),
are given as qdamon's QMP DamonScheme dicts, so that one dict drives
both sides; they come after the stat scheme, which regions() keeps
using:

    k.start(sample_us, aggr_us, schemes=[
        {"action": "pageout",
         "access-pattern": {"nr-accesses-max": 0, "age-min": 50},
         "quotas": {"bytes": 128 << 20, "reset-interval-ms": 1000,
                    "weights": {"age": 1}}}])
    k.scheme_stats(0)      # {"nr-tried": ..., "sz-applied": ..., ...}

The schemes act on the QEMU process's virtual addresses (vaddr), not on
the host's physical ones as DAMON_RECLAIM does (paddr): that keeps the
comparison to guest RAM, which is all qdamon sees.  Quota weights are
relative, so qdamon's 0..100 are written to sysfs's permil files as
they are.

Only one user of page_idle at a time: DAMON's vaddr and paddr operations
clear the same accessed bits and PG_idle flags that qdamon's idle-page
source reads, so never run both on the same memory at once.
"""

ADMIN = "/sys/kernel/mm/damon/admin/kdamonds"
CTX = ADMIN + "/0/contexts/0"
ULONG_MAX = 18446744073709551615
UINT_MAX = 4294967295
# DamonScheme's members -> sysfs files under schemes/N, and the stats
_PATTERN = {"sz-min": "sz/min", "sz-max": "sz/max",
            "nr-accesses-min": "nr_accesses/min", "nr-accesses-max": "nr_accesses/max",
            "age-min": "age/min", "age-max": "age/max"}
_QUOTAS = {"ms": "ms", "bytes": "bytes", "reset-interval-ms": "reset_interval_ms"}
_WEIGHTS = {"sz": "sz_permil", "nr-accesses": "nr_accesses_permil", "age": "age_permil"}
_WMARKS = {"interval-us": "interval_us", "high": "high", "mid": "mid", "low": "low"}
# the goal metrics Linux 6.12's sysfs has (rss-bytes is qdamon's own)
_GOALS = {"user-input": "user_input", "some-mem-psi-us": "some_mem_psi_us"}
STATS = ("nr_tried", "sz_tried", "nr_applied", "sz_applied", "qt_exceeds")


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


def _write(path, value):
    return "echo %s > %s" % (value, path)


def scheme_commands(index, scheme):
    """Shell commands that write one DamonScheme dict (qdamon's QMP form)
    to schemes/index.  A new sysfs scheme matches nothing until its
    maxima are set, so every maximum is written, with qdamon's default
    (no limit) when the dict has none.  Raises ValueError for what
    Linux 6.12's sysfs cannot say (filters, target-nid, rss-bytes)."""
    for key in ("filters", "target-nid"):
        if scheme.get(key):
            raise ValueError("kdamond schemes: %s is not supported here" % key)
    d = "%s/schemes/%d" % (CTX, index)
    pattern = {"sz-max": ULONG_MAX, "nr-accesses-max": UINT_MAX, "age-max": UINT_MAX}
    pattern.update(scheme.get("access-pattern", {}))
    cmds = [_write(d + "/action", scheme["action"].replace("-", "_"))]
    if "apply-interval-us" in scheme:
        cmds.append(_write(d + "/apply_interval_us", scheme["apply-interval-us"]))
    cmds += [_write("%s/access_pattern/%s" % (d, _PATTERN[k]), v) for k, v in pattern.items()]
    quotas = scheme.get("quotas", {})
    # sysfs's reset interval is 0 by default, which it refuses with a
    # quota set; qdamon's is 1 s
    if quotas:
        quotas = dict({"reset-interval-ms": 1000}, **quotas)
    cmds += [_write("%s/quotas/%s" % (d, _QUOTAS[k]), v) for k, v in quotas.items()
             if k in _QUOTAS]
    cmds += [_write("%s/quotas/weights/%s" % (d, _WEIGHTS[k]), v)
             for k, v in quotas.get("weights", {}).items()]
    goals = quotas.get("goals", [])
    if goals:
        cmds.append(_write(d + "/quotas/goals/nr_goals", len(goals)))
    for i, g in enumerate(goals):
        if g["metric"] not in _GOALS:
            raise ValueError("kdamond schemes: goal metric %s is not in Linux's sysfs"
                             % g["metric"])
        gd = "%s/quotas/goals/%d" % (d, i)
        cmds += [_write(gd + "/target_metric", _GOALS[g["metric"]]),
                 _write(gd + "/target_value", g["target-value"])]
        if "current-value" in g:
            cmds.append(_write(gd + "/current_value", g["current-value"]))
    wm = scheme.get("watermarks")
    if wm:
        cmds.append(_write(d + "/watermarks/metric", wm["metric"].replace("-", "_")))
        cmds += [_write("%s/watermarks/%s" % (d, _WMARKS[k]), v) for k, v in wm.items()
                 if k in _WMARKS]
    return cmds


class Kdamond:
    def __init__(self, host, pid, mem):
        self.host = host
        self.pid = pid
        self.mem = mem
        self.base = guest_ram_hva(host, pid, mem)
        self.kpid = None

    def start(self, sample_us, aggr_us, min_nr=10, max_nr=1000, schemes=()):
        """Start one kdamond on the QEMU process; schemes: DamonScheme
        dicts (qdamon's QMP form), written after the stat scheme."""
        w = _write
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
            w(CTX + "/schemes/nr_schemes", 1 + len(schemes)),
        ] + scheme_commands(0, {"action": "stat"})
        for i, scheme in enumerate(schemes):
            cmds += scheme_commands(i + 1, scheme)
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

    def scheme_stats(self, index):
        """Scheme index of start()'s schemes: its stats, by DamonSchemeStats'
        names (sysfs refreshes them only when asked)."""
        d = "%s/schemes/%d/stats" % (CTX, index + 1)
        text = self.host.check("echo update_schemes_stats > %s/0/state && cat %s"
                               % (ADMIN, " ".join("%s/%s" % (d, f) for f in STATS)))
        values = [int(x) for x in text.split()]
        return {f.replace("_", "-"): v for f, v in zip(STATS, values)}

    def cpu_s(self):
        return sum(self.host.proc_cpu(self.kpid))

    def stop(self):
        self.host.shell("echo off > %s/0/state" % ADMIN)
