# SPDX-License-Identifier: GPL-2.0-or-later
"""vm - run QEMU with qdamon's workload guest (tests/guest) for e2e tests.

    with WorkloadVM(qemu, firmware, mem_mib=512,
                    config={"hot_start": 0x1000000, "hot_size": 0x1000000}) as vm:
        vm.start()
        vm.wait_console(r"pass=1 ", timeout=30)
        vm.qmp.execute("query-status")

The guest's console (debugcon, I/O port 0xe9) goes to a file in the work
directory; console() reads it and the parse helpers read its lines (see
tests/guest/workload.c for their format).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from qmp import QMPClient

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_QEMU = os.path.join(ROOT, "_work", "qemu-build", "qemu-system-x86_64")
DEFAULT_FIRMWARE = os.path.join(ROOT, "build", "tests", "guest", "workload.bin")
CONFIG_FILE = "opt/qdamon/workload"
PAGE_SIZE = 4096

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


def _diff_pages(fa, fb, base, chunk):
    """Ranges of differing 4 KiB pages of two equal-sized files."""
    ranges = []
    off = 0
    while True:
        a, b = fa.read(chunk), fb.read(chunk)
        if not a:
            return [tuple(r) for r in ranges]
        if a != b:
            for p in range(0, len(a), PAGE_SIZE):
                if a[p:p + PAGE_SIZE] != b[p:p + PAGE_SIZE]:
                    addr = base + off + p
                    if ranges and ranges[-1][1] == addr:
                        ranges[-1][1] = addr + PAGE_SIZE
                    else:
                        ranges.append([addr, addr + PAGE_SIZE])
        off += len(a)


class WorkloadVM:
    """QEMU running the workload guest, with a QMP socket and a console file."""

    def __init__(self, qemu=DEFAULT_QEMU, firmware=DEFAULT_FIRMWARE,
                 mem_mib=512, accel="tcg", machine="pc", config=None,
                 extra_args=(), workdir=None, keep_workdir=False, env=None,
                 preexec_fn=None):
        self.qemu = qemu
        self.firmware = firmware
        self.mem_mib = mem_mib
        self.accel = accel
        self.machine = machine
        self.config = config
        self.extra_args = list(extra_args)
        # Changes to QEMU's environment: a value of None removes the name.
        self.env = dict(env or {})
        # Run in the child before QEMU starts (e.g. a prctl), or None.
        self.preexec_fn = preexec_fn
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="qdamon-e2e-")
        self.keep_workdir = keep_workdir
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        self.console_path = os.path.join(self.workdir, "debugcon.txt")
        self.stderr_path = os.path.join(self.workdir, "qemu.stderr")
        self.proc = None
        self.qmp = None
        self.started_at = None

    def command_line(self):
        args = [self.qemu,
                "-accel", self.accel, "-M", self.machine, "-m", str(self.mem_mib),
                "-bios", self.firmware,
                "-nodefaults", "-display", "none", "-no-reboot",
                "-debugcon", "file:" + self.console_path,
                "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        if os.path.isdir("/usr/share/seabios"):
            args[1:1] = ["-L", "/usr/share/seabios"]
        if self.config is not None:
            text = config_string(self.config).replace(",", ",,")
            args += ["-fw_cfg", "name=%s,string=%s" % (CONFIG_FILE, text)]
        return args + self.extra_args

    def environment(self):
        """The environment QEMU runs with: ours, changed by env."""
        env = dict(os.environ)
        for name, value in self.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

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
        try:
            with open(self.stderr_path, errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError:
            return "(no stderr)"
        return " | ".join(tail) if tail else "(empty stderr)"

    # -- the guest's console ------------------------------------------------

    def console(self):
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

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

    def phases(self):
        """[(phase, start, size, pass, seconds)] from the phase= lines."""
        return [(int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16),
                 int(m.group(4)), int(m.group(5)))
                for m in _PHASE_RE.finditer(self.console())]

    # -- guest memory ---------------------------------------------------------

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

    def changed_pages(self, start, end, interval=1.0, chunk=1 << 20):
        """Guest-physical pages in [start, end) whose contents differ
        between two QMP pmemsave dumps taken interval seconds apart, as
        a sorted list of (first, last + 1) byte ranges.  The dumps go to
        /dev/shm when it exists (they are as large as the range)."""
        tmp = "/dev/shm" if os.path.isdir("/dev/shm") else self.workdir
        paths = [os.path.join(tmp, "qdamon-e2e-%d-ram%d.bin" % (os.getpid(), i))
                 for i in range(2)]
        try:
            for i, path in enumerate(paths):
                if i:
                    time.sleep(interval)
                self.qmp.execute("pmemsave", {"val": start, "size": end - start,
                                              "filename": path}, timeout=300)
            with open(paths[0], "rb") as fa, open(paths[1], "rb") as fb:
                return _diff_pages(fa, fb, start, chunk)
        finally:
            for path in paths:
                if os.path.exists(path):
                    os.unlink(path)

    # -- shutting down ----------------------------------------------------------

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
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        if self.qmp is not None:
            self.qmp.close()
        self.kill()
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
