# SPDX-License-Identifier: GPL-2.0-or-later
"""report - the PASS/FAIL/SKIP lines and the RESULT line of qdamon's tests.

Every end-to-end test prints one line per step, in one layout, so that
scripts/test.sh can count them:

    PASS <step> <text>
    FAIL <step> <text>
    SKIP <step> <text>
         <details, indented>
    RESULT <test> PASS|FAIL (<steps>)|SKIP in <seconds> s [key=value ...]

and exits 0 when every step passed, EXIT_SKIP (77) when the machine
cannot run it, 1 otherwise.  run_test() does the RESULT line, the exit
status and the interrupts; run_step() turns a step's exceptions into
FAIL lines.
"""

import signal
import sys
import time
import traceback

from harness.qmp import QMPError, QMPProtocolError
from harness.vm import VMError

EXIT_SKIP = 77


class Failed(Exception):
    """A step failed; its message is the FAIL line's text."""


class Report:
    """Prints step lines with the step name padded to width, and keeps
    the failed steps, the number passed and the figures for the RESULT
    line."""

    def __init__(self, width=12):
        self.width = width
        self.failed = []
        self.passed = 0
        self.figures = {}
        self.last_error = None      # the exception of the last failed step

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

    def sub(self, prefix):
        """A SubReport for one part of the test."""
        return SubReport(self, prefix)

    def verdict(self):
        return "FAIL (%s)" % ", ".join(self.failed) if self.failed else "PASS"

    def figures_text(self):
        """key=value for every figure, sorted; a list's values joined
        with '/'."""
        return " ".join("%s=%s" % (k, "/".join(map(str, v)) if isinstance(v, list) else v)
                        for k, v in sorted(self.figures.items()))

    def result(self, label, seconds, *fields, verdict=None):
        """Print the RESULT line: label, verdict, time, fields, figures."""
        words = [w for w in fields + (self.figures_text(),) if w]
        print("RESULT %s %s in %.1f s %s"
              % (label, verdict or self.verdict(), seconds, " ".join(words)), flush=True)


class SubReport(Report):
    """A view of a Report whose step lines carry "prefix/" and whose
    figures and failed steps are its own (the parent counts them too)."""

    def __init__(self, parent, prefix):
        super().__init__(parent.width)
        self.parent = parent
        self.prefix = prefix

    def ok(self, step, text):
        self.parent.ok("%s/%s" % (self.prefix, step), text)

    def fail(self, step, text):
        self.parent.fail("%s/%s" % (self.prefix, step), text)
        self.failed.append(step)

    def skip(self, step, text):
        self.parent.skip("%s/%s" % (self.prefix, step), text)

    def info(self, text):
        self.parent.info(text)


def run_step(rep, name, step, diagnose=None):
    """Run step(); on an exception print its FAIL line and keep the
    exception in rep.last_error.  diagnose(error), if given, returns
    text added to the line of a QMP or VM error.  True if it passed."""
    rep.last_error = None
    try:
        step()
        return True
    except Failed as e:
        rep.fail(name, str(e))
    except (QMPError, QMPProtocolError, VMError) as e:
        rep.last_error = e
        rep.fail(name, "%s: %s%s" % (type(e).__name__, e, diagnose(e) if diagnose else ""))
    except Exception as e:      # a bug, or a reply not as the schema says
        rep.last_error = e
        traceback.print_exc()
        rep.fail(name, "unexpected %s: %s" % (type(e).__name__, e))
    return False


def run_steps(rep, steps):
    """run_step() each (name, function) in order, up to the first that
    fails; True if all passed."""
    return all(run_step(rep, name, step) for name, step in steps)


def _on_sigterm(signum, frame):
    """timeout(1) sends SIGTERM to us and then to its whole process
    group: unwind once, like ^C, so that every QEMU is stopped and the
    work directories go, and ignore the second one."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_test(label, body, width=12, fields=()):
    """Run body(rep), print the RESULT line and return the exit status.

    body returns EXIT_SKIP when the machine cannot run the test (after
    printing its SKIP line), anything else when it ran; the status is
    then 1 if a step failed and 0 if none did.  fields: words for the
    RESULT line before the figures (e.g. "mode=normal")."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    rep = Report(width)
    t0 = time.monotonic()
    status = None
    try:
        status = body(rep)
    except KeyboardInterrupt:
        rep.fail("interrupted", "")
    skipped = status == EXIT_SKIP and not rep.failed
    rep.result(label, time.monotonic() - t0, *fields, verdict="SKIP" if skipped else None)
    if skipped:
        return EXIT_SKIP
    return 1 if rep.failed else 0


def main(label, body, **kw):
    """sys.exit(run_test(...)), for an entry point's last line."""
    sys.exit(run_test(label, body, **kw))
