# SPDX-License-Identifier: GPL-2.0-or-later
"""bench - what qdamon's benchmarks print, and the guest's speed they measure.

Benchmarks print what they measured and one "RESULT key=value" line per
figure (never PASS/FAIL: they assert nothing).
"""

import time


def out(*a):
    print(*a, flush=True)


def result(key, value):
    out("RESULT %s=%s" % (key, value))


def pass_rate(vm, seconds):
    """The workload guest's passes per second over the next @seconds
    (None if its console showed too few passes)."""
    p0 = vm.passes()
    time.sleep(seconds)
    p1 = vm.passes()
    if len(p0) < 1 or len(p1) < 2 or p1[-1][1] == p0[-1][1]:
        return None
    return (p1[-1][0] - p0[-1][0]) / (p1[-1][1] - p0[-1][1])
