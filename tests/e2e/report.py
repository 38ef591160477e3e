# SPDX-License-Identifier: GPL-2.0-or-later
"""report - the PASS/FAIL/SKIP lines and figures of qdamon's end-to-end tests.

tcg-workload.py, migration.py, tests/nested/kvm-workload.py and
tests/libvirt/run.py all print one line per step, in the same layout,
so that scripts/test.sh can count them: "PASS <step> <text>",
"FAIL <step> <text>", "SKIP <step> <text>", and indented details.
"""


class Failed(Exception):
    """A step failed; its message is the FAIL line's text."""


class Report:
    """Prints step lines with the step name padded to @width, and keeps
    the failed steps, the number passed and the figures for the RESULT
    line."""

    def __init__(self, width=12):
        self.width = width
        self.failed = []
        self.passed = 0
        self.figures = {}

    def _line(self, verdict, step, text):
        print("%s %-*s %s" % (verdict, self.width, step, text), flush=True)

    def ok(self, step, text):
        self._line("PASS", step, text)
        self.passed += 1

    def fail(self, step, text):
        self._line("FAIL", step, text)
        self.failed.append(step)

    def skip(self, step, text):
        self._line("SKIP", step, text)

    def info(self, text):
        print("     %s" % text, flush=True)

    def add(self, key, value):
        """Append value to the figure key (one value per round)."""
        self.figures.setdefault(key, []).append(value)
