# SPDX-License-Identifier: GPL-2.0-or-later
"""ramcmp - guest RAM dumped with QMP pmemsave and compared page by page.

  changed_ranges(vm, start, end, interval)
        what the guest wrote in interval seconds: two dumps of one VM
  compare(src, dst, label)
        migration: every RAM range of the address space on two VMs
"""

import hashlib
import os
import re
import tempfile
import time

from harness.env import MIB, PAGE

_MTREE_RANGE_RE = re.compile(
    r"^\s+([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, (ram|rom|i/o|romd)\): (\S+)")
CHUNK = 8 * MIB


def dump_dir(fallback=None):
    """Where RAM dumps go: /dev/shm when there is one (they are as large
    as the range dumped)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else fallback or tempfile.gettempdir()


def pmemsave(vm, start, end, path, timeout=300):
    vm.qmp.execute("pmemsave", {"val": start, "size": end - start, "filename": path},
                   timeout=timeout)


def diff_pages(path_a, path_b, base):
    """(address, page on a, page on b) of every page that differs
    between two equal-sized dumps of guest-physical memory from base."""
    with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
        off = 0
        while True:
            a, b = fa.read(CHUNK), fb.read(CHUNK)
            if not a:
                return
            if a != b:
                for p in range(0, len(a), PAGE):
                    pa, pb = a[p:p + PAGE], b[p:p + PAGE]
                    if pa != pb:
                        yield base + off + p, pa, pb
            off += len(a)


def _remove(paths):
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)


def changed_ranges(vm, start, end, interval=1.0):
    """Guest-physical pages in [start, end) whose contents differ
    between two pmemsave dumps of vm taken interval seconds apart, as a
    sorted list of (first, last + 1) byte ranges."""
    paths = [os.path.join(dump_dir(vm.workdir), "qdamon-e2e-%d-ram%d.bin" % (os.getpid(), i))
             for i in range(2)]
    try:
        for i, path in enumerate(paths):
            if i:
                time.sleep(interval)
            pmemsave(vm, start, end, path)
        ranges = []
        for addr, _, _ in diff_pages(paths[0], paths[1], start):
            if ranges and ranges[-1][1] == addr:
                ranges[-1][1] = addr + PAGE
            else:
                ranges.append([addr, addr + PAGE])
        return [tuple(r) for r in ranges]
    finally:
        _remove(paths)


def ram_ranges(vm):
    """[(start, end)] of the RAM in the guest's "memory" address space,
    from 'info mtree -f'; adjacent pieces are merged.  [] if none."""
    text = vm.qmp.hmp("info mtree -f")
    ranges, in_memory = [], False
    for line in text.splitlines():
        if line.startswith("FlatView"):
            in_memory = False
        elif line.startswith(' AS "memory"'):
            in_memory = True
        elif in_memory:
            m = _MTREE_RANGE_RE.match(line)
            if m and m.group(3) == "ram":
                start, end = int(m.group(1), 16), int(m.group(2), 16) + 1
                if ranges and ranges[-1][1] == start:
                    ranges[-1] = (ranges[-1][0], end)
                else:
                    ranges.append((start, end))
    return ranges


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                return h.hexdigest()
            h.update(block)


class Comparison:
    """What compare() found.

    ranges      [(start, end)] compared
    total       bytes compared
    bad_pages   differing pages
    shown       up to `limit` (address, first word on a, on b) of them
    bad_ranges  one text per range that differs
    digests     {start: sha256} of the ranges equal on both
    seconds     how long it took
    """

    def __init__(self, ranges):
        self.ranges = ranges
        self.total = 0
        self.bad_pages = 0
        self.shown = []
        self.bad_ranges = []
        self.digests = {}
        self.seconds = 0.0


def compare(a, b, limit=16):
    """Dump every RAM range of a's address space on a and on b (both
    should be stopped) and compare them; return a Comparison.  Raises
    ValueError when the two have different RAM layouts or none."""
    ranges = ram_ranges(a)
    if not ranges or ranges != ram_ranges(b):
        raise ValueError("RAM layout: %s on one end, %s on the other"
                         % (ranges, ram_ranges(b)))
    res = Comparison(ranges)
    t0 = time.monotonic()
    for start, end in ranges:
        paths = [os.path.join(dump_dir(), "qdamon-mig-%d-%s-%x.bin" % (os.getpid(), who, start))
                 for who in ("src", "dst")]
        try:
            digests = []
            for vm, path in zip((a, b), paths):
                pmemsave(vm, start, end, path, timeout=600)
                digests.append(sha256_file(path))
            res.total += end - start
            if digests[0] == digests[1]:
                res.digests[start] = digests[0]
                continue
            count = 0
            for addr, pa, pb in diff_pages(paths[0], paths[1], start):
                count += 1
                if len(res.shown) < limit:
                    res.shown.append((addr, int.from_bytes(pa[:4], "little"),
                                      int.from_bytes(pb[:4], "little")))
            res.bad_pages += count
            res.bad_ranges.append("[0x%x, 0x%x): %d pages differ (sha256 %s... vs %s...)"
                                  % (start, end, count, digests[0][:12], digests[1][:12]))
        finally:
            _remove(paths)
    res.seconds = time.monotonic() - t0
    return res
