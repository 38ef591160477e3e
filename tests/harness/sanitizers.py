# SPDX-License-Identifier: GPL-2.0-or-later
"""sanitizers - running our QEMU under ASan+UBSan, and finding its reports.

    WorkloadVM(..., env=sanitizers.ASAN_ENV)
    if sanitizers.REPORT_RE.search(vm.stderr_text()): ...

ASAN_ENV is what scripts/test.sh gives the ASan+UBSan QEMU: stop at the
first error (so a report cannot scroll by while QEMU runs on), and no
leak check, because QEMU's own allocations at exit are not ours to judge
(tests/e2e/churn.py turns it on where QEMU quits cleanly).  REPORT_RE
matches the first line of an ASan, UBSan or LeakSanitizer report; TSan's
are counted apart (churn.py), since QEMU has some of its own.
"""

import re

UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
            "UBSAN_OPTIONS": UBSAN_OPTIONS}
REPORT = r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer"
REPORT_RE = re.compile(REPORT)
