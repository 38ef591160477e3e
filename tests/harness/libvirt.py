# SPDX-License-Identifier: GPL-2.0-or-later
"""libvirt - a real libvirtd, and the workload guest as a libvirt domain
on our QEMU (tests/libvirt/run.py).

    daemons = Daemons()
    daemons.start(rep)          # virtlogd and libvirtd, unless one answers
    dom = Domain("vm1", workdir, config={"hot_start": 16 << 20,
                                         "hot_size": 16 << 20})
    dom.create()                # virsh create: a transient TCG domain
    dom.wait_console(r"pass=1 ", timeout=60)
    virsh_qmp(dom.name, "query-damon")
    dom.destroy()
    daemons.stop(rep)

No system QEMU is needed: the domain names ours in <emulator>, and the
readiness probe (answers()) asks the QEMU driver for its domains, which
needs no default emulator, where "virsh version" (virConnectGetVersion)
asks for the version of the default emulator for the host's
architecture and fails on a machine without Debian's qemu-system-x86
("Cannot find suitable emulator for x86_64").
"""

import json
import os
import signal
import subprocess
import time

from harness import env
from harness.report import Failed
from harness.vm import CONFIG_FILE, GuestConsole, config_string

URI = "qemu:///system"
DAEMONS = (("virtlogd", "/var/run/virtlogd.pid"), ("libvirtd", "/var/run/libvirtd.pid"))
STATE_DIRS = ("/var/log/libvirt/qemu", "/var/run/libvirt", "/var/lib/libvirt/qemu")


def run(cmd, timeout=120, check=False, env=None):
    """Run cmd (a list); return (exit status, stdout, stderr).  With
    check, raise Failed unless the status is 0."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise Failed("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                           (p.stderr or p.stdout).strip()[-400:]))
    return p.returncode, p.stdout, p.stderr


def virsh(*args, check=True, timeout=60):
    return run(["virsh", "-c", URI] + list(args), timeout=timeout, check=check)


def virsh_qmp(dom, command, arguments=None):
    """A QMP command through virsh qemu-monitor-command; its return value."""
    req = {"execute": command}
    if arguments:
        req["arguments"] = arguments
    _, out, _ = virsh("qemu-monitor-command", dom, "--pretty", json.dumps(req))
    reply = json.loads(out)
    if "error" in reply:
        raise Failed("%s: %s" % (command, reply["error"]))
    return reply["return"]


def answers():
    """Does libvirtd's QEMU driver answer on URI?  (virsh list, not virsh
    version: see the module's text.)"""
    return virsh("list", "--all", check=False, timeout=20)[0] == 0


def pid_alive(pidfile):
    """The pid in pidfile if that process lives (and is no zombie), else None."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        # a zombie answers kill(pid, 0) but serves nobody
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return None if state in ("Z", "X") else pid
    except (OSError, ValueError, IndexError):
        return None


class Daemons:
    """virtlogd and libvirtd, started without systemd when libvirtd does
    not answer, and stopped by stop() only if started here."""

    def __init__(self):
        self.started = []       # (name, pid)

    def start(self, rep):
        if answers():
            rep.ok("daemons", "libvirtd already answers on %s; leaving it alone" % URI)
            return
        for d in STATE_DIRS:
            os.makedirs(d, exist_ok=True)
        for name, pidfile in DAEMONS:
            if pid_alive(pidfile):
                continue
            run([name, "-d"], timeout=30, check=True)
            deadline = time.monotonic() + 10
            while not pid_alive(pidfile):
                if time.monotonic() > deadline:
                    raise Failed("%s -d wrote no live pid to %s" % (name, pidfile))
                time.sleep(0.1)
            self.started.append((name, pid_alive(pidfile)))
        deadline = time.monotonic() + 30
        while not answers():
            if time.monotonic() > deadline:
                _, _, err = virsh("list", "--all", check=False, timeout=20)
                raise Failed("libvirtd started but virsh -c %s list fails: %s"
                             % (URI, err.strip()))
            time.sleep(0.2)
        rep.ok("daemons", "started %s" % ", ".join("%s (pid %d)" % s for s in self.started))

    def stop(self, rep):
        for name, pid in reversed(self.started):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                rep.fail("daemons-stop", "%s (pid %d) did not exit on SIGTERM" % (name, pid))
                return
        if self.started:
            rep.ok("daemons-stop", "stopped %s"
                   % ", ".join(n for n, _ in reversed(self.started)))


class Domain(GuestConsole):
    """The workload guest as a libvirt domain: TCG, no disk, no network,
    our QEMU as <emulator>, the firmware as the ROM, its configuration on
    fw_cfg through <qemu:commandline>, its console in workdir."""

    def __init__(self, name, workdir, qemu=None, firmware=None, config=None, mem_mib=512):
        self.name = name
        self.workdir = workdir
        self.qemu = qemu or env.QEMU
        self.firmware = firmware or env.FIRMWARE
        self.config = config or {}
        self.mem_mib = mem_mib
        self.console_path = os.path.join(workdir, "debugcon.txt")
        self.xml_path = os.path.join(workdir, name + ".xml")
        self.persistent = False

    def xml(self):
        """<acpi/> is there because libvirt 9.0 otherwise passes -no-acpi,
        which QEMU 10 no longer has."""
        args = env.bios_args() + [
            "-fw_cfg", "name=%s,string=%s" % (CONFIG_FILE, config_string(self.config)),
            "-debugcon", "file:%s" % self.console_path]
        qargs = "\n".join("    <qemu:arg value='%s'/>" % a for a in args)
        return """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>%s</loader>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>%s</emulator>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
%s
  </qemu:commandline>
</domain>
""" % (self.name, self.mem_mib, self.firmware, self.qemu, qargs)

    def create(self, persistent=False):
        """virsh create (running, transient) or, with persistent, virsh
        define (defined, not started)."""
        with open(self.xml_path, "w") as f:
            f.write(self.xml())
        self.persistent = persistent
        virsh("define" if persistent else "create", self.xml_path)
        return self

    def state(self):
        return virsh("domstate", self.name)[1].strip()

    def destroy(self):
        """Undo create(), whatever state the domain is in."""
        virsh("undefine" if self.persistent else "destroy", self.name, check=False)
