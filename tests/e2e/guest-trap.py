#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""guest-trap.py - end-to-end test: the workload guest reports a CPU exception instead of resetting.

The guest loads an IDT whose every vector prints "qdamon-workload:
error: CPU exception vector=N error=.. eip=.. cs=.. eflags=..; halting"
(tests/guest/trap.c), so that a fault, which would otherwise triple
fault and reset the guest (the nested tests' "guest-reset"), names its
cause.  Through QEMU's gdb stub the test writes ud2 (0f 0b) into a free
page of low guest RAM and points EIP at it:

  boot     the guest runs its first pass;
  trap     the console says vector=6 (#UD) at that EIP, within 10 s;
  status   QEMU is still running and never saw a reset (no RESET or
           SHUTDOWN event): the guest halted instead.

Prints one PASS/FAIL line per step and a RESULT line.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, report  # noqa: E402
from harness.env import MIB  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import FIRST_PASS, WorkloadVM  # noqa: E402

UD2_AT = 0x500          # below the guest's .bss (0x10000), above the IVT
TRAP_RE = r"^qdamon-workload: error: CPU exception vector=(\d+) error=0x([0-9a-f]+) " \
          r"eip=0x([0-9a-f]+) cs=0x8 eflags=0x[0-9a-f]+; halting$"


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=64)
    return ap.parse_args()


class GdbStub:
    """Just enough of the gdb remote protocol: stop, write memory, set a
    register, detach."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def _reply(self):
        buf = b""
        while b"#" not in buf or len(buf) < buf.index(b"#") + 3:
            buf += self.sock.recv(4096)
        return buf[buf.index(b"$") + 1:buf.index(b"#")].decode()

    def command(self, text):
        self.sock.sendall(b"$%s#%02x" % (text.encode(), sum(text.encode()) & 0xff))
        while self.sock.recv(1) != b"+":
            pass
        reply = self._reply()
        self.sock.sendall(b"+")
        return reply

    def interrupt(self):
        """Stop the vCPUs.  QEMU's stub stops them at once but may send no
        stop reply before the session's first packet, so none is awaited:
        whatever came is read and dropped."""
        self.sock.sendall(b"\x03")
        time.sleep(0.3)
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            pass
        self.sock.setblocking(True)
        self.sock.settimeout(10)

    def close(self):
        self.sock.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, rep):
    port = free_port()
    with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem,
                    config={"hot_start": 16 * MIB, "hot_size": MIB},
                    extra_args=["-gdb", "tcp:127.0.0.1:%d" % port]) as vm:
        def boot():
            vm.start()
            vm.wait_console(FIRST_PASS, timeout=60)
            rep.ok("boot", "first pass")

        def trap():
            gdb = GdbStub(port)
            try:
                gdb.interrupt()
                if gdb.command("M%x,2:0f0b" % UD2_AT) != "OK":
                    raise Failed("gdb stub refused to write ud2")
                # rip is register 16 of x86-64's gdb layout, 8 bytes little-endian
                if gdb.command("P10=" + UD2_AT.to_bytes(8, "little").hex()) != "OK":
                    raise Failed("gdb stub refused to set rip")
                gdb.sock.sendall(b"$D#44")      # detach: the guest runs on
            finally:
                gdb.close()
            m = vm.wait_console(TRAP_RE, timeout=10, fail=None)
            vector, error, eip = int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16)
            if (vector, eip) != (6, UD2_AT):
                raise Failed("console says vector=%d eip=0x%x, expected 6 (#UD) at 0x%x"
                             % (vector, eip, UD2_AT))
            rep.ok("trap", "console: vector=%d (#UD) error=0x%x eip=0x%x" % (vector, error, eip))

        def status():
            time.sleep(0.5)
            st = vm.qmp.execute("query-status")
            resets = [e["event"] for e in vm.qmp.events()
                      if e["event"] in ("RESET", "SHUTDOWN")]
            if not vm.running() or st.get("status") != "running" or resets:
                raise Failed("QEMU status %r, events %s" % (st, resets))
            rep.ok("status", "QEMU running, no RESET or SHUTDOWN: the guest halted")

        report.run_steps(rep, [("boot", boot), ("trap", trap), ("status", status)])
        vm.quit()


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("guest-trap", lambda rep: run(ARGS, rep))
