# SPDX-License-Identifier: GPL-2.0-or-later
"""fakeqmp - what qdamo's Python tests share: a QMP server that plays
qdamon's QEMU on a unix socket in the test's own process (the real qdamo
binary talks to it), and TAP output.

    class MyQemu(fakeqmp.FakeQemu):
        def answer(self, cmd, args):        # a QMP reply, without "id"
            return {"return": {}}

    fq = MyQemu(path)                        # serving from now on
    ... run qdamo --qmp path ...
    fq.commands                              # [(execute, arguments, [fd])]
    fq.close()

    tap = fakeqmp.Tap()
    tap.check("name", problems)              # ok / not ok, the problems as comments
    tap.run(tmpdir_prefix, [test_fn, ...])   # each test_fn(tmp); prints the TAP

    r = fakeqmp.run_qdamo(qdamo_path, path, "report", "wss")
    fakeqmp.exit_status(r, 0)                # [] or the problem
"""
import array
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading


class FakeQemu:
    """A QMP server for one client after another (each qdamo run is one);
    every command kept with its arguments and the file descriptors that
    came with it (SCM_RIGHTS), which close() closes."""

    def __init__(self, path):
        self.path = path
        self.commands = []     # (execute, arguments, [fd, ...])
        self.connections = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def answer(self, cmd, args):
        """The reply to one command, without its "id"."""
        return {"return": {}}

    def sent(self, name):
        """The arguments of every command called name, in order."""
        return [args for cmd, args, _ in self.commands if cmd == name]

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
            self.connections += 1
            with conn:
                self.talk(conn)

    def talk(self, conn):
        conn.settimeout(10)
        conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
        buf, fds = b"", []
        while True:
            try:
                data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
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
                cmd, args = msg.get("execute"), msg.get("arguments", {})
                # the fds that came with this command's bytes
                self.commands.append((cmd, args, fds))
                fds = []
                out = {"id": msg.get("id")}
                out.update(self.answer(cmd, args))
                conn.sendall(json.dumps(out).encode() + b"\r\n")


class Tap:
    """TAP lines, numbered as they come."""

    def __init__(self):
        self.results = []

    def _n(self):
        return sum(1 for r in self.results if r.startswith(("ok", "not ok"))) + 1

    def check(self, name, problems, skip=None):
        n = self._n()
        if skip:
            self.results.append("ok %d - %s # SKIP %s" % (n, name, skip))
        elif problems:
            self.results.append("not ok %d - %s" % (n, name))
            for p in problems:
                self.results.append("# " + p.replace("\n", "\n# "))
        else:
            self.results.append("ok %d - %s" % (n, name))

    def run(self, prefix, tests):
        """Each test(tmp) in a fresh temporary directory's care; a test
        that crashes fails as itself, not the run.  Prints the TAP."""
        tmp = tempfile.mkdtemp(prefix=prefix)
        try:
            for t in tests:
                try:
                    t(tmp)
                except Exception as e:
                    self.check(t.__name__[5:].replace("_", "-"),
                               ["%s: %s" % (type(e).__name__, e)])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("1..%d" % (self._n() - 1))
        print("\n".join(self.results))
        return 0


def run_qdamo(qdamo, sock, *args):
    """Run qdamo against the fake QEMU at sock; the CompletedProcess."""
    cmd = [qdamo, "--qmp", sock, "--timeout", "10"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def exit_status(r, want):
    """[] when qdamo's run r exited with want, else the problem."""
    if r.returncode == want:
        return []
    return ["exit status %d, not %d: %s" % (r.returncode, want, r.stderr.strip())]
