# SPDX-License-Identifier: GPL-2.0-or-later
"""nested - run our QEMU under real KVM, nested in a TCG VM with emulated SVM.

    from harness.nested import NestedHost, NestedSkip

    with NestedHost() as host:               # builds the initramfs, boots
        host.start()                         # raises NestedSkip if no KVM
        rc, out = host.shell("cat /proc/cpuinfo | grep -c svm")
        inner = host.start_inner("kvm,dirty-ring-size=4096", mem_mib=256,
                                 config={"hot_start": 16 << 20,
                                         "hot_size": 16 << 20})
        inner.wait_console(r"pass=1 ", timeout=30)
        inner.qmp.execute("damon-start", {"source": "dirty-bitmap"})
        print(host.thread_cpu(inner.pid))    # {tid: (comm, user_s, sys_s)}
        inner.quit()

The outer VM is qemu-system-x86_64 -accel tcg -cpu max running a 6.12
kernel and a busybox initramfs (tests/nested/mkinitrd.sh), and the inner
QEMU (a copy of ours) runs under KVM inside it.  Two kernels:

  NestedHost(kernel="debian")  Debian's 6.12 image (bookworm-backports);
                               /init loads kvm-amd, so /dev/kvm appears.
                               No page_idle (CONFIG_IDLE_PAGE_TRACKING)
  NestedHost(kernel="idle")    our build of Debian's linux-source-6.12
                               (tests/nested/build-kernel.sh: about 15
                               minutes the first time, cached): KVM built
                               in, /sys/kernel/mm/page_idle/bitmap, DAMON,
                               userfaultfd, THP (madvise), hugetlbfs, zram,
                               MGLRU built but off (echo y >
                               /sys/kernel/mm/lru_gen/enabled), and
                               /proc/config.gz

The initramfs also holds qdamo (host.qdamo_path, /qemu/bin/qdamo, when
the build directory has one).  The inner QEMU's QMP can also be a unix
socket in the outer VM, so that a program run there talks to it with
SCM_RIGHTS (fd passing), which a serial port cannot carry:

    with NestedHost(kernel="idle") as host:
        host.start()
        inner = host.start_inner("kvm", qmp_socket=True,
                                 extra_args=["-run-with", "user=65534:65534"])
        rc, out = inner.qdamo("status")      # /qemu/bin/qdamo --qmp
                                             # /tmp/inner-N.qmp status
        rc, out = host.shell("/qemu/bin/qdamo --qmp %s start"
                             % inner.qmp_socket)

accel "tcg" runs the inner QEMU under TCG (-cpu max) in the outer VM.
Guest RAM on hugetlbfs: host.mount_hugetlbfs(pages), then
start_inner(..., machine="pc,memory-backend=mem", extra_args=["-object",
"memory-backend-file,id=mem,size=256M,mem-path=/dev/hugepages"]).

The outer VM's serial ports connect it to us:

  ttyS0  (isa-serial)  the kernel console, then a shell that we drive:
                       shell() sends a command and reads to a marker
  ttyS1  (isa-serial)  a unix socket here; the inner QEMU's QMP monitor
                       (-chardev serial,path=/dev/ttyS1), so a QMPClient
                       here talks to the inner QEMU
  ttyS2  (pci-serial)  a file here: the inner guest's console (its
                       isa-debugcon), read with harness.vm's GuestConsole

Every QEMU this module starts is killed by close() (and by a with
block's end), whatever happened.
"""

import base64
import hashlib
import os
import re
import shlex
import socket
import subprocess
import time

from harness import env, proc
from harness.qmp import QMPClient, QMPProtocolError, QMPTimeout
from harness import report
from harness.report import EXIT_SKIP
from harness.vm import GuestConsole, VMError, config_args

MKINITRD = os.path.join(env.ROOT, "tests", "nested", "mkinitrd.sh")
KERNELS = ("debian", "idle")    # mkinitrd.sh --kernel
INNER_QEMU = "/qemu/bin/qemu-system-x86_64"     # paths inside the outer VM
INNER_QDAMO = "/qemu/bin/qdamo"
INNER_SETPRIV = "/qemu/bin/setpriv"
INNER_FIRMWARE = "/workload.bin"
INNER_DATADIR = "/qemu/share/qemu"
USER_HZ = 100       # /proc/PID/stat's clock ticks on x86 Linux
# A shell test, in the outer VM, that process %(pid)d still exists.  Not
# "is no zombie": when QEMU exits, its main thread is a zombie while the
# other threads still tear the VM down, and only then does /init (PID 1,
# which adopted it) get SIGCHLD and reap it.  Reaping happens while /init
# waits for the command that runs this test.
_ALIVE = "[ -d /proc/%(pid)d ]"

__all__ = ["NestedError", "NestedSkip", "NestedHost", "InnerVM", "HmpPipe",
           "SerialQMPClient", "build_images", "start_or_report", "compare_dumps"]


class NestedError(VMError):
    """The outer VM failed to boot or broke, or a command in it failed."""


class NestedSkip(NestedError):
    """This machine cannot run KVM nested in TCG (the reason is the text)."""


def start_or_report(host, rep, boot=None):
    """Boot the outer VM (boot(), default host.start()), which reports
    its own PASS line; if it cannot, report a SKIP (this machine cannot
    nest KVM) or FAIL line as step outer-boot and return the test's exit
    status (77 or 1).  None when it booted."""
    try:
        (boot or host.start)()
    except NestedSkip as e:
        rep.skip("outer-boot", str(e))
        return EXIT_SKIP
    except NestedError as e:
        rep.fail("outer-boot", str(e))
        return 1
    return None


def build_images(qemu, firmware, log=None, kernel="debian", qdamo=None):
    """Run mkinitrd.sh --kernel kernel (cached; rebuilds the initramfs
    only when an input changed, and for kernel "idle" builds the kernel
    the first time, some 15 minutes) and return its key=value lines as a
    dict: kernel, release, initrd, share, qemu, qdamo (empty when the
    initramfs has no qdamo).  qdamo: the qdamo to copy in, "none" for
    none, None for mkinitrd.sh's default (QDAMON_BUILD's, if built)."""
    if kernel not in KERNELS:
        raise ValueError("kernel must be one of %s, not %r" % (", ".join(KERNELS), kernel))
    cmd = [MKINITRD, "--kernel", kernel, "--qemu", qemu, "--firmware", firmware]
    if qdamo is not None:
        cmd += ["--qdamo", qdamo]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if log is not None:
        for line in proc.stderr.splitlines():
            log(line)
    if proc.returncode != 0:
        raise NestedError("mkinitrd.sh failed (status %d): %s"
                          % (proc.returncode, " | ".join(proc.stderr.splitlines()[-5:])))
    out = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    for key in ("kernel", "initrd", "share", "qemu"):
        if key not in out:
            raise NestedError("mkinitrd.sh printed no %s= line" % key)
    return out


class SerialQMPClient(QMPClient):
    """A QMPClient on a connection that outlives the inner QEMU: the
    outer VM's ttyS1, connected once at boot.  Each inner QEMU gets its
    own client on a dup() of the socket, so close() leaves the
    connection up for the next one."""

    alive = None    # called while waiting; raises if the inner QEMU died

    def _read_message(self, deadline):
        """QMPClient's, but it checks every 2 s that the inner QEMU still
        runs, so that a crash is reported at once rather than as a
        timeout."""
        while True:
            step = min(deadline, time.monotonic() + 2.0)
            try:
                return super()._read_message(step)
            except QMPTimeout:
                if time.monotonic() >= deadline or self.alive is None:
                    raise
                self.alive()

    @classmethod
    def attach(cls, sock, timeout=60.0, alive=None):
        """Wait for a new QMP greeting on sock, skipping whatever an
        earlier inner QEMU left (its last events, or bytes that are not
        JSON), then negotiate capabilities.  alive(), if given, is
        called every second and should raise if the inner QEMU died."""
        client = cls(sock.dup(), timeout)
        client.alive = alive
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    msg = client._read_message(deadline)
                except QMPTimeout:
                    raise QMPTimeout("no QMP greeting from the inner QEMU in %.0f s"
                                     % timeout)
                except QMPProtocolError as e:
                    if "bad JSON" not in str(e):
                        raise
                    continue
                if "QMP" in msg:
                    client.greeting = msg
                    break
            client.execute("qmp_capabilities")
        except BaseException:
            client.close()
            raise
        return client


def _drain(sock):
    """Read and drop whatever is waiting on sock."""
    sock.setblocking(False)
    dropped = 0
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            dropped += len(chunk)
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        sock.setblocking(True)
    return dropped


class InnerVM(GuestConsole, proc.Closing):
    """One inner QEMU in the outer VM, with .qmp (a connected QMPClient)
    and GuestConsole's helpers (wait_console, hot_ranges, passes,
    phases, read_phys_u32) on its console."""

    def __init__(self, host, index, args, console_offset, mem_mib, accel,
                 qmp_socket=None):
        self.host = host
        self.index = index
        self.args = args                # the command line, in the outer VM
        self.mem_mib = mem_mib
        self.accel = accel
        self.qemu = INNER_QEMU
        self.pidfile = "/tmp/inner-%d.pid" % index
        self.log_path = "/tmp/inner-%d.log" % index     # stdout and stderr
        # the QMP unix socket in the outer VM (start_inner(qmp_socket=True)),
        # a second monitor beside .qmp; None without one
        self.qmp_socket = qmp_socket
        self.console_offset = console_offset
        self.pid = None
        self.qmp = None
        self.started_at = None
        self._alive_checked = 0.0
        self.exited = False

    def command_line(self):
        return list(self.args)

    # -- the guest's console --------------------------------------------------

    def console(self):
        """The inner guest's console output since this QEMU started."""
        try:
            with open(self.host.inner_console_path, "rb") as f:
                f.seek(self.console_offset)
                return f.read().decode(errors="replace").replace("\r", "")
        except FileNotFoundError:
            return ""

    def _check_alive(self):
        """Raise NestedError if the inner QEMU has exited (checked over
        the shell at most once a second)."""
        now = time.monotonic()
        if now - self._alive_checked < 1.0:
            return
        self._alive_checked = now
        if not self.alive():
            raise NestedError("the inner QEMU (pid %s) exited: %s"
                              % (self.pid, self.death()))

    def alive(self):
        """Is the inner QEMU still running (and not a zombie)?"""
        if self.pid is None or self.exited:
            return False
        rc, _ = self.host.shell(_ALIVE % {"pid": self.pid}, timeout=30)
        if rc != 0:
            self.exited = True
        return rc == 0

    def stderr_tail(self, lines=10):
        rc, out = self.host.shell("tail -n %d %s" % (lines, self.log_path), timeout=30)
        tail = out.strip().splitlines()
        return " | ".join(tail) if tail else "(empty stderr)"

    def changed_pages(self, start, end, interval=1.0):
        """Guest-physical pages in [start, end) whose contents differ
        between two QMP pmemsave dumps taken interval seconds apart, as
        a sorted list of (first, last + 1) byte ranges (WorkloadVM's
        changed_pages; the dumps go to the outer VM's /tmp and are
        compared there)."""
        paths = ["/tmp/inner-%d-ram%d.bin" % (self.index, i) for i in range(2)]
        try:
            for i, path in enumerate(paths):
                if i:
                    time.sleep(interval)
                self.qmp.execute("pmemsave", {"val": start, "size": end - start,
                                              "filename": path}, timeout=300)
            rc, out = self.host.shell(
                "cmp -l %s %s | awk '{ p = int(($1 - 1) / 4096); "
                "if (n && p == last) next; if (n && p == last + 1) { last = p; next } "
                "if (n) print s, last + 1; s = p; last = p; n = 1 } "
                "END { if (n) print s, last + 1 }'" % tuple(paths), timeout=300)
        finally:
            self.host.shell("rm -f %s" % " ".join(paths), timeout=60)
        ranges = []
        for line in out.splitlines():
            f = line.split()
            if len(f) == 2 and f[0].isdigit() and f[1].isdigit():
                ranges.append((start + int(f[0]) * 4096, start + int(f[1]) * 4096))
            elif line.strip() and not line.startswith("cmp: EOF"):
                raise NestedError("cannot parse the page comparison: %r" % line)
        return ranges

    def diagnose(self):
        """A text for a failure report: is the inner QEMU alive, its
        threads' states, wait channels and kernel stacks, the serial
        ports' interrupt counts, and its stderr."""
        if not self.host.running():
            return "the outer VM is not running"
        rc, out = self.host.shell(
            "echo \"uptime $(cut -d' ' -f1 /proc/uptime)\"; "
            "grep ttyS /proc/interrupts; "
            "if [ -d /proc/%(pid)d ]; then for t in /proc/%(pid)d/task/*; do "
            "echo \"tid ${t##*/} $(cut -d')' -f2 $t/stat | cut -d' ' -f2)"
            " wchan=$(cat $t/wchan)\"; sed 's/^/    /' $t/stack; done; "
            "else echo 'pid %(pid)d: gone'; fi; "
            "echo \"stderr: $(tail -n 5 %(log)s | tr '\\n' '|')\"; "
            "echo \"dmesg: $(dmesg | tail -n 6 | tr '\\n' '|')\""
            % {"pid": self.pid, "log": self.log_path}, timeout=60)
        return out.strip()

    def death(self):
        """Why the inner QEMU exited by itself, as far as the outer VM
        knows: its stderr and the kernel's last lines (a segfault line
        names the thread, the address and the offset in the binary)."""
        rc, out = self.host.shell(
            "echo \"stderr: $(tail -n 5 %s | tr '\\n' '|')\"; "
            "echo \"dmesg: $(dmesg | grep -E 'segfault|traps:|general protection|"
            "Out of memory|Killed process|qemu-system|CPU [0-9]+/KVM|damon/' | tail -n 4"
            " | tr '\\n' '|')\"" % self.log_path, timeout=60)
        return " ".join(out.split("\n")).strip() + self._last_events()

    def _last_events(self):
        """The QMP events that say how QEMU ended: a SHUTDOWN whose reason
        is guest-reset means the guest reset (-no-reboot ends QEMU then,
        with status 0)."""
        if self.qmp is None:
            return ""
        evs = [e for e in self.qmp.events(clear=False)
               if e.get("event") in ("SHUTDOWN", "RESET", "GUEST_PANICKED", "STOP")]
        return "| QMP events: %s" % ", ".join(
            "%s %s" % (e["event"], e.get("data", {})) for e in evs[-4:]) if evs else ""

    # -- qdamo in the outer VM ------------------------------------------------------

    def qdamo(self, *args, timeout=60.0):
        """Run /qemu/bin/qdamo --qmp QMP_SOCKET ARGS... in the outer VM;
        return (exit status, output).  Needs start_inner(qmp_socket=True)
        and a qdamo in the initramfs."""
        if self.qmp_socket is None:
            raise NestedError("inner QEMU %d has no QMP socket "
                              "(start_inner(qmp_socket=True))" % self.index)
        if not self.host.qdamo_path:
            raise NestedError("the initramfs has no qdamo (build it: ninja -C build)")
        return self.host.shell(" ".join(shlex.quote(a) for a in
                                        [self.host.qdamo_path, "--qmp", self.qmp_socket]
                                        + [str(a) for a in args]), timeout=timeout)

    # -- CPU time ----------------------------------------------------------------

    def thread_cpu(self):
        """{tid: (comm, user seconds, system seconds)} of every thread."""
        return self.host.thread_cpu(self.pid)

    def cpu_times(self):
        """(user seconds, system seconds) of the whole inner QEMU."""
        return self.host.proc_cpu(self.pid)

    # -- shutting down -----------------------------------------------------------

    def wait_exit(self, timeout=15.0):
        """Wait until the process is gone; True if it is."""
        if self.pid is None:
            return True
        tries = max(1, int(timeout / 0.1))
        alive = _ALIVE % {"pid": self.pid}
        rc, out = self.host.shell(
            "i=0; while %s && [ $i -lt %d ]; do sleep 0.1; i=$((i + 1)); done; "
            "%s && echo alive || echo gone" % (alive, tries, alive),
            timeout=timeout + 30)
        gone = out.strip().endswith("gone")
        self.exited = self.exited or gone
        return gone

    def quit(self, timeout=15.0):
        """QMP quit, then wait for the inner QEMU to exit; True if it did
        (if it did not, it is killed).  Raises NestedError if it had
        already exited by itself."""
        if not self.alive():
            raise NestedError("the inner QEMU (pid %s) had already exited: %s"
                              % (self.pid, self.death()))
        try:
            if self.qmp is not None:
                self.qmp.execute("quit", timeout=10)
        except Exception:
            pass    # the reply may race with the port closing
        if self.wait_exit(timeout):
            return True
        self.kill()
        return False

    def kill(self):
        if self.pid is not None and not self.exited:
            self.host.shell("kill -9 %d 2>/dev/null" % self.pid, timeout=30)
            self.wait_exit(5)

    def close(self):
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        if self.host.running():
            try:
                self.kill()
            except NestedError:
                pass


class HmpPipe(GuestConsole):
    """A second QEMU in the outer VM, beside the harness's InnerVM (which
    owns the serial ports): the same command line as start_inner's, but
    its HMP monitor on a pipe chardev (PATH.in, PATH.out) and the
    guest's console in a file in the outer VM (busybox has no client for
    a QMP socket).  A migration's other end: the source (idle-page.py)
    or the destination, with extra_args ["-S", "-incoming", URI]
    (kvm-migration.py).  GuestConsole's passes() read that console."""

    def __init__(self, host, accel, mem_mib, config, extra_args=(), tag="src"):
        self.host = host
        self.tag = tag
        self.path = "/tmp/%s-hmp" % tag
        self.console_file = "/tmp/%s-console.txt" % tag
        self.log_file = "/tmp/%s.log" % tag
        self.pid = None
        cmd = host.inner_command_line(0, accel, mem_mib, config, "pc", extra_args)
        cmd = [("pipe,id=qmp,path=%s" % self.path) if a == "serial,id=qmp,path=/dev/ttyS1"
               else "chardev=qmp,mode=readline" if a == "chardev=qmp,mode=control"
               else ("file,id=con,path=%s" % self.console_file)
               if a == "serial,id=con,path=/dev/ttyS2"
               else "/tmp/%s.pid" % tag if a == "/tmp/inner-0.pid" else a for a in cmd]
        self.args = cmd
        host.check("rm -f %(p)s.in %(p)s.out %(p)s.log /tmp/%(t)s.pid %(c)s && "
                   "mkfifo %(p)s.in %(p)s.out"
                   % {"p": self.path, "t": tag, "c": self.console_file})
        # a reader keeps .out drained into a file, so QEMU never blocks on it
        host.check("(cat %(p)s.out >%(p)s.log &) ; (%(cmd)s >%(l)s 2>&1 &) ; "
                   "i=0; while [ ! -s /tmp/%(t)s.pid ] && [ $i -lt 100 ]; do sleep 0.1; "
                   "i=$((i + 1)); done; cat /tmp/%(t)s.pid"
                   % {"p": self.path, "t": tag, "l": self.log_file,
                      "cmd": " ".join(shlex.quote(a) for a in cmd)})
        rc, out = host.shell("cat /tmp/%s.pid" % tag)
        if rc != 0 or not out.strip().isdigit():
            raise NestedError("QEMU %s did not start (no pidfile): %s"
                              % (tag, self.stderr_tail()))
        self.pid = int(out.strip())

    def hmp(self, line, wait=1.0):
        """Send an HMP command; return what the monitor printed after it
        within wait seconds."""
        before = int(self.host.check("wc -c <%s.log" % self.path).strip())
        self.host.check("echo %s >%s.in" % (shlex.quote(line), self.path))
        time.sleep(wait)
        return self.host.check("tail -c +%d %s.log" % (before + 1, self.path))

    def hmp_until(self, line, pattern, timeout=20.0):
        """Send an HMP command and wait until what the monitor printed
        after it matches regex pattern; return the match (None on
        timeout).  The monitor may answer late while QEMU starts up."""
        before = int(self.host.check("wc -c <%s.log" % self.path).strip())
        self.host.check("echo %s >%s.in" % (shlex.quote(line), self.path))
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.host.check("tail -c +%d %s.log" % (before + 1, self.path)))
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.2)

    def status(self):
        """The run state HMP 'info status' names ("running", "paused",
        "inmigrate", "postmigrate", ...); raises NestedError without an
        answer."""
        m = self.hmp_until("info status", r"VM status: (\w+)(?: \((\w+)\))?")
        if not m:
            raise NestedError("QEMU %s: no answer to HMP info status; its log: %s"
                              % (self.tag, self.stderr_tail()))
        return m.group(2) or m.group(1)

    def console(self):
        rc, out = self.host.shell("cat %s 2>/dev/null" % self.console_file, timeout=60)
        return out.replace("\r", "")

    def _check_alive(self):
        if not self.alive():
            raise NestedError("QEMU %s (pid %s) exited: %s"
                              % (self.tag, self.pid, self.stderr_tail()))

    def alive(self):
        if self.pid is None:
            return False
        return self.host.shell(_ALIVE % {"pid": self.pid}, timeout=30)[0] == 0

    def stderr_tail(self, lines=5):
        return " | ".join(self.host.shell("tail -n %d %s" % (lines, self.log_file),
                                          timeout=30)[1].strip().splitlines())

    def pmemsave(self, start, size, path, timeout=90):
        """HMP pmemsave of [start, start + size) to path in the outer VM;
        waits until the file has all its bytes (HMP answers nothing)."""
        # quoted: HMP would read "SIZE /tmp/..." as a division
        self.hmp('pmemsave %d %d "%s"' % (start, size, path), wait=0.2)
        got = self.host.shell("i=0; while [ \"$(stat -c %%s %s 2>/dev/null)\" != %d ] && "
                              "[ $i -lt %d ]; do sleep 0.1; i=$((i + 1)); done; "
                              "stat -c %%s %s" % (path, size, timeout * 10, path),
                              timeout=timeout + 30)[1]
        if got.strip() != str(size):
            raise NestedError("pmemsave on QEMU %s gave %r bytes of %d; its monitor said: "
                              "%r; its log: %r" % (self.tag, got.strip(), size,
                                                   self.host.shell("tail -c 600 %s.log"
                                                                   % self.path)[1],
                                                   self.stderr_tail()))

    def kill(self):
        if self.pid is not None:
            self.host.shell("kill %d 2>/dev/null; sleep 1; kill -9 %d 2>/dev/null"
                            % (self.pid, self.pid))


def compare_dumps(host, path_a, path_b, page=4096, digest=False):
    """Compare two RAM dumps in the outer VM page by page, there (they
    are as large as guest RAM): (size of a, size of b, pages that
    differ, a's sha256 when digest, else None).  Pages are counted from
    cmp -l's differing bytes, so the count is cheap when few bytes
    differ; the digest is not (tens of seconds for 256 MiB under TCG)."""
    out = host.check("stat -c %%s %(a)s %(b)s; cmp -l %(a)s %(b)s | awk 'BEGIN { last = -1 } "
                     "{ p = int(($1 - 1) / %(page)d); if (p != last) { n++; last = p } } "
                     "END { print n + 0 }'%(sum)s"
                     % {"a": shlex.quote(path_a), "b": shlex.quote(path_b), "page": page,
                        "sum": "; sha256sum %s" % shlex.quote(path_a) if digest else ""},
                     timeout=600)
    lines = [line for line in out.strip().splitlines() if not line.startswith("cmp: EOF")]
    if len(lines) != 3 + digest or not all(x.strip().isdigit() for x in lines[:3]):
        raise NestedError("cannot parse the dump comparison: %r" % out[-500:])
    return (int(lines[0]), int(lines[1]), int(lines[2]),
            lines[3].split()[0] if digest else None)


class NestedHost(proc.WorkDir):
    """The outer VM: a TCG guest with KVM (emulated SVM) and a shell."""

    def __init__(self, qemu=None, firmware=None, mem_mib=2048,
                 smp=2, outer_qemu=None, cpu="max", workdir=None, keep_workdir=False,
                 log=None, kernel="debian", qdamo=None, append=""):
        """qemu: our QEMU (copied into the initramfs as the inner QEMU,
        and run as the outer one unless outer_qemu is given; if ours
        fails to start, Debian's /usr/bin/qemu-system-x86_64 is tried).
        kernel: the outer VM's kernel, "debian" or "idle" (see above).
        qdamo: the qdamo to put in the initramfs as /qemu/bin/qdamo,
        "none" for none; None: the build directory's, when it has one.
        append: more of the outer kernel's command line (e.g.
        "mem=2044M").
        log: a function taking a line, for progress; None is silent."""
        if kernel not in KERNELS:
            raise ValueError("kernel must be one of %s, not %r" % (", ".join(KERNELS), kernel))
        self.qemu = qemu or env.QEMU
        self.firmware = firmware or env.FIRMWARE
        self.mem_mib = mem_mib
        self.smp = smp
        self.outer_qemu = outer_qemu
        self.cpu = cpu          # the outer VM's -cpu; it needs svm for KVM
        self.kernel = kernel
        self.qdamo = qdamo
        self.append = append
        self.qdamo_path = None  # /qemu/bin/qdamo once started, if the initramfs has it
        self.log = log or (lambda line: None)
        self.make_workdir(workdir, keep_workdir, "qdamon-nested-")
        self.shell_path = self.in_workdir("shell.sock")
        self.qmp_path = self.in_workdir("inner-qmp.sock")
        self.outer_qmp_path = self.in_workdir("outer-qmp.sock")
        self.inner_console_path = self.in_workdir("inner-console.txt")
        self.console_log_path = self.in_workdir("console.log")
        self.stderr_path = self.in_workdir("outer.stderr")
        self.images = None
        self.proc = None
        self.outer_pid = None   # the outer QEMU's pid on the host
        self.outer_qmp = None   # QMP of the outer QEMU (connected once ready)
        self._shell = None
        self._qmp_sock = None
        self._buf = b""
        self._console_log = None
        self._n = 0
        self.bad_lines = []     # (n, bytes, what /init received) of damaged lines
        self._inners = []
        self.boot_s = None
        self.ready_line = None
        self.boot_log = ""
        self.died = None        # why the outer VM stopped by itself, if it did

    # -- boot ------------------------------------------------------------------

    def command_line(self, outer_qemu):
        img = self.images
        return [outer_qemu,
                "-accel", "tcg", "-cpu", self.cpu, "-M", "pc",
                "-m", str(self.mem_mib), "-smp", str(self.smp),
                "-nodefaults", "-display", "none", "-no-reboot",
                "-L", img["share"],
                "-kernel", img["kernel"], "-initrd", img["initrd"],
                "-append", " ".join(["console=ttyS0 quiet panic=-1 8250.nr_uarts=4"]
                                    + ([self.append] if self.append else [])),
                "-chardev", "socket,id=shell,path=%s" % self.shell_path,
                "-chardev", "socket,id=qmp,path=%s" % self.qmp_path,
                "-chardev", "file,id=icon,path=%s" % self.inner_console_path,
                "-serial", "chardev:shell",                     # ttyS0
                "-serial", "chardev:qmp",                       # ttyS1
                "-device", "pci-serial,chardev=icon",           # ttyS2
                "-qmp", "unix:%s,server=on,wait=off" % self.outer_qmp_path]

    def start(self, boot_timeout=180.0):
        """Build the images, boot the outer VM and wait for its /init's
        verdict.  Raises NestedSkip when the outer VM cannot offer KVM
        (no svm, kvm-amd refuses, no /dev/kvm) and NestedError on any
        other failure; either way nothing is left running."""
        try:
            self.images = build_images(self.qemu, self.firmware, self.log,
                                       kernel=self.kernel, qdamo=self.qdamo)
            self.qdamo_path = INNER_QDAMO if self.images.get("qdamo") else None
            candidates = [self.outer_qemu] if self.outer_qemu else \
                [self.images["qemu"]] + ([env.STOCK_QEMU] if os.path.exists(env.STOCK_QEMU) else [])
            for i, outer in enumerate(candidates):
                try:
                    self._boot(outer, boot_timeout)
                    return self
                except _OuterStartFailed as e:
                    if i + 1 == len(candidates):
                        raise NestedError(str(e))
                    self.log("outer QEMU %s failed to start (%s); trying %s"
                             % (outer, e, candidates[i + 1]))
        except BaseException:
            self.close()
            raise

    def _listen(self, path):
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        return s

    def _accept(self, server, what, deadline):
        server.settimeout(0.2)
        while True:
            try:
                conn, _ = server.accept()
                conn.settimeout(None)
                return conn
            except socket.timeout:
                if self.proc.poll() is not None:
                    raise _OuterStartFailed("exited with status %s: %s"
                                            % (self.proc.returncode, self.stderr_tail()))
                if time.monotonic() >= deadline:
                    raise NestedError("the outer QEMU did not connect its %s" % what)

    def _boot(self, outer_qemu, boot_timeout):
        self._kill_outer()
        for path in (self.inner_console_path,):
            if os.path.exists(path):
                os.unlink(path)
        listeners = [self._listen(self.shell_path), self._listen(self.qmp_path)]
        t0 = time.monotonic()
        try:
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(self.command_line(outer_qemu),
                                             stdin=subprocess.DEVNULL,
                                             stdout=err, stderr=err)
            self.log("outer QEMU pid %d: %s" % (self.proc.pid, outer_qemu))
            deadline = t0 + 30
            self._shell = self._accept(listeners[0], "shell port", deadline)
            self._qmp_sock = self._accept(listeners[1], "QMP port", deadline)
        finally:
            for s in listeners:
                s.close()
        self.outer_pid = self.proc.pid
        self.died = None
        self._buf = b""
        self._console_log = open(self.console_log_path, "ab")
        m = self._read_until(re.compile(
            rb"^(NESTED-KVM-READY|NESTED-SKIP|NESTED-FAIL|NESTED-EXIT)( [^\n]*)?\n"
            rb"|Kernel panic[^\n]*\n", re.M), t0 + boot_timeout, "the outer VM's /init verdict")
        self.boot_s = time.monotonic() - t0
        self.boot_log = self._buf[:m.start()].decode(errors="replace")
        line = m.group(0).decode(errors="replace").strip()
        self._buf = self._buf[m.end():]
        if m.group(1) == b"NESTED-KVM-READY":
            self.ready_line = line
            self.log("outer VM ready after %.1f s: %s" % (self.boot_s, line))
            self.outer_qmp = QMPClient.connect(self.outer_qmp_path, timeout=10)
            return
        if m.group(1) == b"NESTED-SKIP":
            raise NestedSkip(line[len("NESTED-SKIP "):])
        raise NestedError("outer VM: %s (%s)" % (line, self.boot_log.strip()[-500:]))

    def _read_until(self, rx, deadline, what):
        """Read the shell port until rx matches self._buf; return the match."""
        while True:
            m = rx.search(self._buf)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise NestedError("timed out waiting for %s; the console's last "
                                  "lines: %s" % (what, self._tail()))
            self._shell.settimeout(min(left, 0.5))
            try:
                chunk = self._shell.recv(65536)
            except ConnectionError as e:
                self.died = "its shell port failed: %s" % e
                raise NestedError("the outer VM's shell port failed while waiting for "
                                  "%s: %s" % (what, e)) from e
            except socket.timeout:
                if self.proc.poll() is not None:
                    self.died = "its QEMU exited with status %s" % self.proc.returncode
                    raise NestedError("the outer QEMU exited with status %s while "
                                      "waiting for %s: %s; console: %s"
                                      % (self.proc.returncode, what, self.stderr_tail(),
                                         self._tail()))
                continue
            if not chunk:
                self.died = "its shell port closed"
                raise NestedError("the outer VM's shell port closed while waiting "
                                  "for %s; console: %s" % (what, self._tail()))
            chunk = chunk.replace(b"\r", b"")
            self._console_log.write(chunk)
            self._console_log.flush()
            self._buf += chunk

    def _tail(self, n=8):
        return proc.tail(self.console_log_path, n, empty="(nothing)", missing="(nothing)")

    def stderr_tail(self, lines=10):
        return proc.tail(self.stderr_path, lines)

    def kernel_trouble(self, limit=60):
        """The outer kernel's oops, BUG, warning or panic report, if the
        console shows one: its lines from the first such line on (at
        most limit of them); [] if there is none."""
        lines = proc.read_text(self.console_log_path).splitlines()
        rx = re.compile(r"\] (BUG:|Oops|WARNING:|Kernel panic|general protection|"
                        r"kernel BUG|Unable to handle|RIP:)")
        for i, line in enumerate(lines):
            if rx.search(line):
                return lines[max(0, i - 2):i + limit]
        return []

    def running(self):
        """Is the outer VM up, with its shell answering?"""
        return self.proc is not None and self.proc.poll() is None and \
            self._shell is not None and self.died is None

    # -- the shell ---------------------------------------------------------------

    def shell(self, cmd, timeout=60.0):
        """Run cmd with the outer VM's sh (busybox ash), in a subshell
        with stdin from /dev/null and stderr joined to stdout; return
        (exit status, output).  The line carries the command in base64
        with its md5sum; /init runs nothing that does not check out and
        answers __BAD_, and the line is sent again (busybox's read
        drops a partial line when SIGCHLD interrupts it; see /init in
        mkinitrd.sh)."""
        if not self.running():
            raise NestedError("the outer VM is not running")
        n, line = self._command_line(cmd)
        rx = re.compile(rb"__DONE_%d_(\d+)\n|__BAD_\d*_([^\n]*)\n" % n)
        deadline = time.monotonic() + timeout
        for attempt in range(1, 4):
            try:
                self._shell.sendall(line)
            except OSError as e:
                raise NestedError("cannot write to the outer VM's shell: %s" % e) from e
            m = self._read_until(rx, deadline, "command %r" % cmd[:80])
            out = self._buf[:m.start()].decode(errors="replace")
            self._buf = self._buf[m.end():]
            if m.group(1) is not None:
                # what a command that timed out printed before its marker came
                out = re.split(r"__DONE_\d+_\d+\n", out)[-1]
                return int(m.group(1)), out
            # the line arrived damaged: /init did not run it
            self.bad_lines.append((n, len(line), m.group(2).decode(errors="replace")))
            self.log("command line %d (%d bytes) arrived damaged, attempt %d: %s"
                     % (n, len(line), attempt, m.group(2).decode(errors="replace")))
        raise NestedError("command line %d arrived damaged 3 times: %s"
                          % (n, self.bad_lines[-1][2]))

    def _command_line(self, cmd):
        """(N, the line for /init) for a new command."""
        self._n += 1
        b64 = base64.b64encode(cmd.encode()).decode()
        return self._n, ("%d %s %s\n" % (self._n, hashlib.md5(b64.encode()).hexdigest(),
                                         b64)).encode()

    def check(self, cmd, timeout=60.0):
        """shell(), but raise NestedError unless the status is 0; return
        the output."""
        rc, out = self.shell(cmd, timeout)
        if rc != 0:
            raise NestedError("%r failed with status %d: %s" % (cmd, rc, out.strip()[-500:]))
        return out

    def uptime(self):
        """The outer VM's /proc/uptime first field, in seconds."""
        return float(self.check("cat /proc/uptime").split()[0])

    # -- processes in the outer VM --------------------------------------------------

    @staticmethod
    def _parse_stat(text):
        """(comm, utime s, stime s) from a /proc/.../stat line."""
        l, r = text.index("("), text.rindex(")")
        fields = text[r + 2:].split()
        # fields[0] is field 3 (state); utime and stime are fields 14, 15
        return text[l + 1:r], int(fields[11]) / USER_HZ, int(fields[12]) / USER_HZ

    def proc_cpu(self, pid):
        """(user seconds, system seconds) of process pid in the outer VM."""
        _, user, system = self._parse_stat(self.check("cat /proc/%d/stat" % pid))
        return user, system

    def thread_cpu(self, pid):
        """{tid: (comm, user seconds, system seconds)} for every thread
        of process pid in the outer VM, read in one command."""
        out = self.check("for t in /proc/%d/task/*; do cat $t/stat 2>/dev/null; echo; done"
                         % pid)
        threads = {}
        for line in out.splitlines():
            line = line.strip()
            if not line:
                continue
            comm, user, system = self._parse_stat(line)
            threads[int(line.split()[0])] = (comm, user, system)
        return threads

    # -- the inner QEMU ---------------------------------------------------------------

    @staticmethod
    def inner_qmp_socket(index):
        """The path, in the outer VM, of inner QEMU index's QMP socket."""
        return "/tmp/inner-%d.qmp" % index

    def inner_command_line(self, index, accel, mem_mib, config, machine, extra_args,
                           qmp_socket=False, cpu=None):
        # debug-threads names the threads ("CPU 0/KVM", "damon/damon0")
        if cpu is None:
            cpu = "host" if accel.split(",")[0] == "kvm" else "max"
        args = [INNER_QEMU, "-name", "inner-%d,debug-threads=on" % index,
                "-machine", machine, "-accel", accel, "-cpu", cpu,
                "-m", str(mem_mib), "-bios", INNER_FIRMWARE, "-L", INNER_DATADIR,
                "-nodefaults", "-display", "none", "-no-reboot",
                "-chardev", "serial,id=qmp,path=/dev/ttyS1",
                "-mon", "chardev=qmp,mode=control",
                "-chardev", "serial,id=con,path=/dev/ttyS2",
                "-device", "isa-debugcon,iobase=0xe9,chardev=con",
                "-pidfile", "/tmp/inner-%d.pid" % index]
        if qmp_socket:
            args += ["-qmp", "unix:%s,server=on,wait=off" % self.inner_qmp_socket(index)]
        return args + config_args(config) + list(extra_args)

    def mount_hugetlbfs(self, pages, path="/dev/hugepages"):
        """Reserve pages 2 MiB huge pages in the outer VM
        (vm.nr_hugepages) and mount hugetlbfs at path; return the number
        the kernel reserved (it may be fewer)."""
        out = self.check("mkdir -p %(p)s && { grep -q ' %(p)s hugetlbfs ' /proc/mounts || "
                         "mount -t hugetlbfs none %(p)s; } && "
                         "echo %(n)d >/proc/sys/vm/nr_hugepages && "
                         "cat /proc/sys/vm/nr_hugepages"
                         % {"p": shlex.quote(path), "n": pages})
        return int(out.split()[-1])

    def start_inner(self, accel="kvm", mem_mib=256, config=None, machine="pc",
                    extra_args=(), qmp_timeout=60.0, qmp_socket=False, cpu=None,
                    redirects="", user=None):
        """Start the inner QEMU on the workload firmware under -accel
        accel (e.g. "kvm,dirty-ring-size=4096", or "tcg"), connect QMP
        to it (over the outer VM's ttyS1) and return the InnerVM.  Only
        one inner QEMU at a time: the serial ports are shared.

        machine: -machine (e.g. "pc,memory-backend=mem"); cpu: -cpu
        (default: host under KVM, max otherwise); extra_args: more QEMU
        arguments, appended (e.g. ["-run-with", "user=65534:65534"], or
        ["-object", "memory-backend-file,id=mem,size=256M,"
        "mem-path=/dev/hugepages"]); config: the workload's fw_cfg
        settings (harness.vm.config_args).  qmp_socket: also give it
        -qmp unix:/tmp/inner-N.qmp,server=on,wait=off, a monitor for
        programs in the outer VM (inner.qmp_socket, inner.qdamo()).
        redirects: shell redirections for the inner QEMU's command in the
        outer VM, e.g. "7<>/sys/kernel/mm/page_idle/bitmap" with
        extra_args ["-add-fd", "fd=7,set=1"] (the file is opened as root,
        before -run-with drops privileges).  user: "UID:GID" runs the
        inner QEMU as that user from the start (util-linux setpriv, as
        libvirt runs QEMU), unlike -run-with, which drops root after
        start-up and leaves QEMU non-dumpable, so that its /proc/self
        files are root's; /dev/kvm, its serial ports and /tmp are then
        opened up to everyone in the outer VM."""
        live = [i for i in self._inners if not i.exited]
        if live:
            raise NestedError("inner QEMU %d is still running" % live[0].index)
        index = len(self._inners) + 1
        try:
            offset = os.path.getsize(self.inner_console_path)
        except OSError:
            offset = 0
        args = self.inner_command_line(index, accel, mem_mib, config, machine, extra_args,
                                       qmp_socket, cpu)
        if user is not None:
            uid, _, gid = str(user).partition(":")
            self.check("chmod 666 /dev/kvm /dev/ttyS1 /dev/ttyS2 && chmod 1777 /tmp")
            args = [INNER_SETPRIV, "--reuid", uid, "--regid", gid or uid,
                    "--clear-groups"] + args
        inner = InnerVM(self, index, args, offset, mem_mib, accel,
                        self.inner_qmp_socket(index) if qmp_socket else None)
        self._inners.append(inner)
        dropped = _drain(self._qmp_sock)
        if dropped:
            self.log("dropped %d stale bytes from the QMP port" % dropped)
        inner.started_at = time.monotonic()
        # the wrapper subshell reaps QEMU and logs how it ended (status
        # 128+N: killed by signal N)
        cmd = ("rm -f %s; (%s %s >%s 2>&1; echo \"qemu exit status $?\" >>%s) &\n"
               "i=0; while [ ! -s %s ] && [ $i -lt 100 ] && kill -0 $! 2>/dev/null; do "
               "sleep 0.1; i=$((i + 1)); done; cat %s 2>/dev/null"
               % (inner.pidfile, " ".join(shlex.quote(a) for a in args), redirects,
                  inner.log_path, inner.log_path, inner.pidfile, inner.pidfile))
        rc, out = self.shell(cmd, timeout=60)
        pid = out.strip().splitlines()[-1] if out.strip() else ""
        if not pid.isdigit():
            inner.exited = True
            raise NestedError("the inner QEMU did not start (no pidfile): %s"
                              % inner.stderr_tail())
        inner.pid = int(pid)
        inner.qmp = SerialQMPClient.attach(self._qmp_sock, timeout=qmp_timeout,
                                           alive=inner._check_alive)
        inner.qmp.timeout = 60.0
        return inner

    # -- shutting down ------------------------------------------------------------------

    def poweroff(self, timeout=20.0):
        """Stop every inner QEMU, power the outer VM off and wait for its
        QEMU to exit; return its exit status (None if it had to be killed)."""
        for inner in self._inners:
            if not inner.exited and self.running():
                try:
                    inner.quit(timeout=10)
                except NestedError:
                    pass
        status = None
        deadline = time.monotonic() + timeout
        while self.proc is not None and status is None:
            if self.running():
                try:    # no answer comes; if the line is lost, send it again
                    self._shell.sendall(self._command_line("sync; poweroff -f")[1])
                except OSError:
                    pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                status = self.proc.wait(min(left, timeout / 3))
            except subprocess.TimeoutExpired:
                pass
        self._kill_outer()
        return status

    def _kill_outer(self):
        for attr in ("outer_qmp",):
            obj = getattr(self, attr)
            if obj is not None:
                obj.close()
                setattr(self, attr, None)
        for attr in ("_shell", "_qmp_sock"):
            s = getattr(self, attr)
            if s is not None:
                s.close()
                setattr(self, attr, None)
        proc.stop(self.proc)
        if self._console_log is not None:
            self._console_log.close()
            self._console_log = None

    def close(self):
        for inner in self._inners:
            if inner.qmp is not None:
                inner.qmp.close()
                inner.qmp = None
        self._kill_outer()
        self.remove_workdir()


class _OuterStartFailed(NestedError):
    """The outer QEMU exited before connecting its serial ports."""


def main(label, run, args):
    """report.main() for a nested test whose run(args, rep) may raise
    NestedError (the outer VM broke, or a command in it failed): that
    is one FAIL line, "harness", and the RESULT line follows."""
    def body(rep):
        try:
            return run(args, rep)
        except NestedError as e:
            rep.fail("harness", str(e))
            return 1
    report.main(label, body)
