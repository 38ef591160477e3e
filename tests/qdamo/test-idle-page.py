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
import array
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

QDAMO = sys.argv[1]
BITMAP = "/sys/kernel/mm/page_idle/bitmap"
results = []


class FakeQemu:
    """One QMP client, answered like qdamon's QEMU; every command kept
    with the fds that came with it."""

    def __init__(self, path, refuse_start=False):
        self.path = path
        self.refuse_start = refuse_start
        self.commands = []     # (execute, arguments, [fd, ...])
        self.connected = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)
        for _, _, fds in self.commands:
            for fd in fds:
                os.close(fd)

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.connected = True
            with conn:
                self.talk(conn)
            return

    def reply(self, conn, msg, ret):
        out = {"id": msg.get("id")}
        out.update(ret)
        conn.sendall(json.dumps(out).encode() + b"\r\n")

    def answer(self, conn, msg):
        cmd = msg.get("execute")
        args = msg.get("arguments", {})
        if cmd == "damon-start" and self.refuse_start:
            self.reply(conn, msg, {"error": {"class": "GenericError",
                                             "desc": "'source': no idle-page here"}})
        elif cmd == "query-damon":
            self.reply(conn, msg, {"return": [{
                "id": "damon0", "state": "running", "source": "idle-page",
                "write-source": args.get("write-source", "dirty-bitmap"),
                "sees": "reads-and-writes", "clock": "realtime",
                "attrs": {"sample-us": 5000, "aggr-us": 100000,
                          "min-nr-regions": 10, "max-nr-regions": 1000},
                "monitored-bytes": 1 << 29}]})
        else:
            self.reply(conn, msg, {"return": {}})

    def talk(self, conn):
        conn.settimeout(10)
        conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
        buf, fds = b"", []
        while True:
            try:
                data, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
            except (socket.timeout, ConnectionResetError):
                return
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(raw[:len(raw) - len(raw) % a.itemsize])
                    fds.extend(a)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                # the fds that came with this command's bytes
                self.commands.append((msg.get("execute"), msg.get("arguments", {}), fds))
                fds = []
                self.answer(conn, msg)


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


def check(name, problems, skip=None):
    if skip:
        results.append("ok %d - %s # SKIP %s" % (len(results) + 1, name, skip))
    elif problems:
        results.append("not ok %d - %s" % (len(results) + 1, name))
        for p in problems:
            results.append("# " + p.replace("\n", "\n# "))
    else:
        results.append("ok %d - %s" % (len(results) + 1, name))


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
    tmp = tempfile.mkdtemp(prefix="test-idle-page-")
    try:
        for t in (test_no_page_idle, test_override_missing, test_fd_passing,
                  test_refused, test_not_root):
            try:
                t(tmp)
            except Exception as e:  # a crash of one case fails it, not the run
                check(t.__name__[5:].replace("_", "-"), ["%s: %s" % (type(e).__name__, e)])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % sum(1 for r in results if r.startswith(("ok", "not ok"))))
    print("\n".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
