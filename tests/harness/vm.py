# SPDX-License-Identifier: GPL-2.0-or-later
"""vm - run our QEMU with qdamon's workload guest (tests/guest).

    with WorkloadVM(mem_mib=512,
                    config={"hot_start": 0x1000000, "hot_size": 0x1000000}) as vm:
        vm.start()
        vm.wait_console(r"pass=1 ", timeout=30)
        vm.qmp.execute("query-status")

The guest's console (debugcon, I/O port 0xe9) goes to a file in the work
directory; GuestConsole reads it and parses its lines (see
tests/guest/workload.c for their format).  harness.nested's InnerVM and
harness.libvirt's Domain read theirs with the same GuestConsole.
"""

import os
import re
import subprocess
import time

from harness import proc, ramcmp
from harness.env import FIRMWARE, QEMU, bios_args
from harness.qmp import QMPClient

CONFIG_FILE = "opt/qdamon/workload"
FIRST_PASS = r"^qdamon-workload: pass=1 t=0$"

_RANGE_RE = re.compile(r"^qdamon-workload: (hot2?)=0x([0-9a-f]+)\+0x([0-9a-f]+)$", re.M)
_PASS_RE = re.compile(r"^qdamon-workload: pass=(\d+) t=(\d+)$", re.M)
_PHASE_RE = re.compile(
    r"^qdamon-workload: phase=(\d+) hot=0x([0-9a-f]+)\+0x([0-9a-f]+) pass=(\d+) t=(\d+)$",
    re.M)


class VMError(Exception):
    """QEMU failed to start, died, or the guest did not say what we waited for."""


def config_string(config):
    """The workload's configuration text for a dict (or a ready string).
    Items are separated by blanks: QEMU's option parser would split
    "-fw_cfg ...,string=" at single commas."""
    if isinstance(config, str):
        return config
    return " ".join("%s=%s" % (k, hex(v) if isinstance(v, int) else v)
                    for k, v in config.items())


def config_args(config):
    """-fw_cfg arguments passing config to the workload guest."""
    if config is None:
        return []
    text = config_string(config).replace(",", ",,")
    return ["-fw_cfg", "name=%s,string=%s" % (CONFIG_FILE, text)]


def pass_rate(passes, since=None):
    """Passes per second from [(pass, t)] lines, from the first line at
    or after since (a pass number) to the last, leaving out the first
    (a partial second); None if too few."""
    if since is not None:
        passes = [p for p in passes if p[0] >= since]
    if len(passes) < 3:
        return None
    (p0, t0), (p1, t1) = passes[1], passes[-1]
    return (p1 - p0) / (t1 - t0) if t1 > t0 else None


class GuestConsole:
    """The workload guest's console and memory, for a VM class that has
    console_path (the file QEMU writes the console to) or its own
    console(), _check_alive() (raises VMError if QEMU is gone) and
    qmp."""

    qmp = None
    console_path = None

    def console(self):
        """The guest's console output so far."""
        return proc.read_text(self.console_path)

    def _check_alive(self):
        pass

    def wait_console(self, pattern, timeout,
                     fail=r"^qdamon-workload: .*halting$"):
        """Wait until the console matches regex pattern (multiline);
        return the match.  Raise VMError at once if it matches fail
        instead (the guest gave up), or QEMU dies, or on timeout."""
        rx = re.compile(pattern, re.M)
        rx_fail = re.compile(fail, re.M) if fail else None
        deadline = time.monotonic() + timeout
        while True:
            text = self.console()
            m = rx.search(text)
            if m:
                return m
            bad = rx_fail.search(text) if rx_fail else None
            if bad:
                raise VMError("guest console: %s" % bad.group(0))
            self._check_alive()
            if time.monotonic() >= deadline:
                raise VMError("guest console did not show /%s/ in %.0f s"
                              % (pattern, timeout))
            time.sleep(0.05)

    def hot_ranges(self):
        """{name: (start, size)} from the hot=/hot2= lines."""
        return {m.group(1): (int(m.group(2), 16), int(m.group(3), 16))
                for m in _RANGE_RE.finditer(self.console())}

    def passes(self):
        """[(pass, seconds)] from the pass= lines, oldest first."""
        return [(int(m.group(1)), int(m.group(2)))
                for m in _PASS_RE.finditer(self.console())]

    def pass_rate(self, since=None):
        """pass_rate() of this guest's pass= lines."""
        return pass_rate(self.passes(), since)

    def phases(self):
        """[(phase, start, size, pass, seconds)] from the phase= lines."""
        return [(int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16),
                 int(m.group(4)), int(m.group(5)))
                for m in _PHASE_RE.finditer(self.console())]

    def read_phys_u32(self, addr, count=1):
        """count 32-bit words of guest-physical memory at addr (HMP xp)."""
        text = self.qmp.hmp("xp /%dwx 0x%x" % (count, addr))
        words = []
        for line in text.splitlines():
            if ":" in line:
                words += [int(w, 16) for w in line.split(":", 1)[1].split()]
        if len(words) != count:
            raise VMError("cannot parse xp output: %r" % text)
        return words


class WorkloadVM(GuestConsole, proc.WorkDir):
    """QEMU running the workload guest, with a QMP socket and a console file."""

    def __init__(self, qemu=None, firmware=None, mem_mib=512, accel="tcg",
                 machine="pc", config=None, extra_args=(), workdir=None,
                 keep_workdir=False, env=None, preexec_fn=None, no_reboot=True):
        self.qemu = qemu or QEMU
        self.firmware = firmware or FIRMWARE
        self.mem_mib = mem_mib
        self.accel = accel
        self.machine = machine
        self.config = config
        self.extra_args = list(extra_args)
        # Changes to QEMU's environment: a value of None removes the name.
        self.env = dict(env or {})
        # Run in the child before QEMU starts (e.g. a prctl), or None.
        self.preexec_fn = preexec_fn
        # -no-reboot: a guest reset ends QEMU; False lets it reboot.
        self.no_reboot = no_reboot
        self.make_workdir(workdir, keep_workdir, "qdamon-e2e-")
        self.qmp_path = self.in_workdir("qmp.sock")
        self.console_path = self.in_workdir("debugcon.txt")
        self.stderr_path = self.in_workdir("qemu.stderr")
        self.proc = None
        self.qmp = None
        self.started_at = None

    def command_line(self):
        return ([self.qemu] + bios_args() +
                ["-accel", self.accel, "-M", self.machine, "-m", str(self.mem_mib),
                 "-bios", self.firmware,
                 "-nodefaults", "-display", "none"] +
                (["-no-reboot"] if self.no_reboot else []) +
                ["-debugcon", "file:" + self.console_path,
                 "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path] +
                config_args(self.config) + self.extra_args)

    def environment(self):
        """The environment QEMU runs with: ours, changed by env."""
        environ = dict(os.environ)
        for name, value in self.env.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        return environ

    def start(self, qmp_timeout=30.0):
        for path, what in ((self.qemu, "QEMU"), (self.firmware, "firmware")):
            if not os.path.isfile(path):
                raise VMError("%s not found: %s" % (what, path))
        for path in (self.qmp_path, self.console_path):
            if os.path.exists(path):
                os.unlink(path)
        with open(self.stderr_path, "wb") as err:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(self.command_line(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err,
                                         env=self.environment(),
                                         preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + qmp_timeout
        while not os.path.exists(self.qmp_path):
            self._check_alive()
            if time.monotonic() >= deadline:
                raise VMError("QEMU made no QMP socket in %.0f s" % qmp_timeout)
            time.sleep(0.05)
        self.qmp = QMPClient.connect(self.qmp_path,
                                     timeout=max(1.0, deadline - time.monotonic()))
        self.qmp.timeout = 30.0
        return self

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise VMError("QEMU exited with status %s: %s"
                          % (self.proc.returncode, self.stderr_tail()))

    def stderr_tail(self, lines=10):
        return proc.tail(self.stderr_path, lines)

    def stderr_text(self):
        return proc.read_text(self.stderr_path)

    def changed_pages(self, start, end, interval=1.0):
        """Guest-physical pages in [start, end) written in interval
        seconds, as sorted (first, last + 1) byte ranges."""
        return ramcmp.changed_ranges(self, start, end, interval)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def quit(self, timeout=15.0):
        """QMP quit, then wait for QEMU to exit; return its exit status."""
        try:
            self.qmp.execute("quit")
        except Exception:
            pass    # the reply may race with the socket closing
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        proc.stop(self.proc)

    def close(self):
        if self.qmp is not None:
            self.qmp.close()
        self.kill()
        self.remove_workdir()
