#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qdamo start --source idle-page against a fake QEMU: a QMP server on a
unix socket in this process, which qdamo runs as a child.  TAP output.

  test-idle-page.py QDAMO

* no-page-idle: on a host without /sys/kernel/mm/page_idle/bitmap (every
  Debian kernel, this machine's too) qdamo fails naming the file and
  CONFIG_IDLE_PAGE_TRACKING, before it sends anything;
* the same through the test-only override QDAMO_TEST_IDLE_BITMAP (a
  missing file), on any host;
* fd-passing: with the override pointing at a plain file, qdamo sends
  two getfd commands, each with one fd by SCM_RIGHTS and the right name,
  then damon-start naming them; the pagemap fd is /proc/<this process's
  pid>/pagemap (qdamo took the pid from SO_PEERCRED, not from us),
  read-only, and the bitmap fd the file, read-write; --write-source
  rides along;
* refused: when damon-start fails, qdamo drops both names (closefd);
* not-root: as nobody, the bitmap's EACCES and the lack of
  CAP_SYS_ADMIN each say to run qdamo as root.
"""
import fcntl
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakeqmp  # noqa: E402

QDAMO = sys.argv[1]
BITMAP = "/sys/kernel/mm/page_idle/bitmap"
TAP = fakeqmp.Tap()


class FakeQemu(fakeqmp.FakeQemu):
    """Answered like qdamon's QEMU with an idle-page monitor."""

    def __init__(self, path, refuse_start=False):
        self.refuse_start = refuse_start
        super().__init__(path)

    @property
    def connected(self):
        return self.connections > 0

    def answer(self, cmd, args):
        if cmd == "damon-start" and self.refuse_start:
            return {"error": {"class": "GenericError",
                              "desc": "'source': no idle-page here"}}
        if cmd == "query-damon":
            return {"return": [{
                "id": "damon0", "state": "running", "source": "idle-page",
                "write-source": args.get("write-source", "dirty-bitmap"),
                "sees": "reads-and-writes", "clock": "realtime",
                "attrs": {"sample-us": 5000, "aggr-us": 100000,
                          "min-nr-regions": 10, "max-nr-regions": 1000},
                "monitored-bytes": 1 << 29}]}
        return {"return": {}}


def qdamo(sock, *args, env=None, user=None):
    e = dict(os.environ)
    e.pop("QDAMO_TEST_IDLE_BITMAP", None)
    e.update(env or {})
    cmd = [QDAMO, "--qmp", sock, "--timeout", "10", "start", "--source", "idle-page"]
    cmd += list(args)
    if user:
        cmd = ["setpriv", "--reuid", str(user), "--regid", str(user),
               "--clear-groups"] + cmd
    return subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=30)


check = TAP.check


def expect_refusal(r, fq, words):
    """qdamo failed with status 1, its one line naming each of words,
    and QEMU heard nothing."""
    p = []
    if r.returncode != 1:
        p.append("exit status %d, not 1" % r.returncode)
    for w in words:
        if w not in r.stderr:
            p.append("stderr lacks %r: %s" % (w, r.stderr.strip()))
    if fq.commands:
        p.append("QEMU was sent %s" % [c[0] for c in fq.commands])
    return p


def fd_target(fd):
    return os.readlink("/proc/self/fd/%d" % fd)


def access_mode(fd):
    return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE


def test_no_page_idle(tmp):
    if os.path.exists(BITMAP):
        return check("no-page-idle", [], skip="this host has " + BITMAP)
    fq = FakeQemu(os.path.join(tmp, "a.sock"))
    try:
        r = qdamo(fq.path)
    finally:
        fq.close()
    p = expect_refusal(r, fq, [BITMAP, "CONFIG_IDLE_PAGE_TRACKING", "no such file"])
    if fq.connected:
        p.append("qdamo connected before checking the host")
    check("no-page-idle", p)


def test_override_missing(tmp):
    missing = os.path.join(tmp, "no-bitmap")
    fq = FakeQemu(os.path.join(tmp, "b.sock"))
    try:
        r = qdamo(fq.path, env={"QDAMO_TEST_IDLE_BITMAP": missing})
    finally:
        fq.close()
    p = expect_refusal(r, fq, [missing, "CONFIG_IDLE_PAGE_TRACKING",
                               "QDAMO_TEST_IDLE_BITMAP is set"])
    check("override-missing", p)


def test_fd_passing(tmp):
    bitmap = os.path.join(tmp, "bitmap")
    with open(bitmap, "wb") as f:
        f.write(b"\0" * 64)
    fq = FakeQemu(os.path.join(tmp, "c.sock"))
    try:
        r = qdamo(fq.path, "--write-source", "dirty-bitmap", "--sample", "5ms",
                  env={"QDAMO_TEST_IDLE_BITMAP": bitmap})
        p = []
        if r.returncode != 0:
            p.append("exit status %d: %s" % (r.returncode, r.stderr.strip()))
        names = [c[0] for c in fq.commands]
        if names[:4] != ["qmp_capabilities", "getfd", "getfd", "damon-start"]:
            p.append("commands were %s" % names)
        got = {c[1].get("fdname"): c[2] for c in fq.commands if c[0] == "getfd"}
        if sorted(got) != ["qdamo-idle-bitmap", "qdamo-pagemap"]:
            p.append("getfd names %s" % sorted(got))
        for name, fds in got.items():
            if len(fds) != 1:
                p.append("getfd %s came with %d fds" % (name, len(fds)))
        others = [c[0] for c in fq.commands if c[0] != "getfd" and c[2]]
        if others:
            p.append("fds came with %s too" % others)
        pm = got.get("qdamo-pagemap", [])
        want = "/proc/%d/pagemap" % os.getpid()
        if len(pm) == 1:
            if fd_target(pm[0]) != want:
                p.append("pagemap fd is %s, not %s" % (fd_target(pm[0]), want))
            if access_mode(pm[0]) != os.O_RDONLY:
                p.append("pagemap fd is not read-only")
        bm = got.get("qdamo-idle-bitmap", [])
        if len(bm) == 1:
            if fd_target(bm[0]) != os.path.realpath(bitmap):
                p.append("bitmap fd is %s, not %s" % (fd_target(bm[0]), bitmap))
            if access_mode(bm[0]) != os.O_RDWR:
                p.append("bitmap fd is not read-write")
        start = [c[1] for c in fq.commands if c[0] == "damon-start"]
        wanted = {"source": "idle-page", "write-source": "dirty-bitmap",
                  "pagemap-fd": "qdamo-pagemap", "idle-bitmap-fd": "qdamo-idle-bitmap",
                  "sample-us": 5000, "id": "damon0"}
        if not start or start[0] != wanted:
            p.append("damon-start arguments %s, not %s" % (start, wanted))
        if "closefd" in names:
            p.append("closefd after a successful start")
        if want not in r.stdout or "started damon0" not in r.stdout:
            p.append("stdout: %s" % r.stdout.strip())
        if "idle-page+dirty-bitmap" not in r.stdout:
            p.append("the started line names no write source: %s" % r.stdout.strip())
    finally:
        fq.close()
    check("fd-passing", p)


def test_refused(tmp):
    bitmap = os.path.join(tmp, "bitmap")
    with open(bitmap, "wb") as f:
        f.write(b"\0" * 64)
    fq = FakeQemu(os.path.join(tmp, "d.sock"), refuse_start=True)
    try:
        r = qdamo(fq.path, env={"QDAMO_TEST_IDLE_BITMAP": bitmap})
    finally:
        fq.close()
    p = []
    names = [c[0] for c in fq.commands]
    if r.returncode != 1 or "no idle-page here" not in r.stderr:
        p.append("exit status %d: %s" % (r.returncode, r.stderr.strip()))
    closed = [c[1].get("fdname") for c in fq.commands if c[0] == "closefd"]
    if names[-3:-2] != ["damon-start"] or sorted(closed) != ["qdamo-idle-bitmap",
                                                             "qdamo-pagemap"]:
        p.append("commands were %s, closefd of %s" % (names, closed))
    check("refused", p)


def test_not_root(tmp):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return check("not-root", [], skip="needs root and setpriv")
    os.chmod(tmp, 0o755)
    p = []
    for mode, words in ((0o600, ["Permission denied", "run qdamo as root"]),
                        (0o666, ["CAP_SYS_ADMIN", "run qdamo as root"])):
        bitmap = os.path.join(tmp, "bitmap-%o" % mode)
        with open(bitmap, "wb") as f:
            f.write(b"\0" * 8)
        os.chmod(bitmap, mode)
        fq = FakeQemu(os.path.join(tmp, "e%o.sock" % mode))
        try:
            r = qdamo(fq.path, env={"QDAMO_TEST_IDLE_BITMAP": bitmap}, user=65534)
        finally:
            fq.close()
        p += ["mode %o: %s" % (mode, x) for x in expect_refusal(r, fq, words)]
    check("not-root", p)


def main():
    return TAP.run("test-idle-page-", (test_no_page_idle, test_override_missing,
                                       test_fd_passing, test_refused, test_not_root))


if __name__ == "__main__":
    sys.exit(main())
