# SPDX-License-Identifier: GPL-2.0-or-later
"""qmp - a tiny, dependency-free QMP client for qdamon's test scripts.

    from harness.qmp import QMPClient, QMPError

    with QMPClient.connect("/tmp/q.sock", timeout=10) as qmp:
        qmp.execute("query-status")            # -> {"running": True, ...}
        try:
            qmp.execute("damon-start", {"source": "page-hash"})
        except QMPError as e:
            print(e.error_class, e.desc)
        qmp.wait_event("DAMON_STOPPED", timeout=5)

The client speaks QMP over a unix socket: it reads the greeting,
negotiates capabilities, sends one command at a time (each with an "id")
and keeps the asynchronous events that arrive meanwhile, for
events()/wait_event().
"""

import json
import socket
import time

from harness.proc import Closing

__all__ = ["QMPClient", "QMPError", "QMPProtocolError", "QMPTimeout", "connect_socket"]


class QMPProtocolError(Exception):
    """The peer broke the protocol, went away, or did not answer in time."""


class QMPTimeout(QMPProtocolError):
    """QEMU did not answer in time."""


class QMPError(Exception):
    """A command failed: QEMU answered with an "error" member.

    error_class is the QMP error class (e.g. "GenericError",
    "CommandNotFound"), desc its human-readable text, and command the
    command that failed.
    """

    def __init__(self, command, error_class, desc):
        super().__init__("%s: %s: %s" % (command, error_class, desc))
        self.command = command
        self.error_class = error_class
        self.desc = desc


def connect_socket(path, deadline):
    """A socket connected to the unix socket at path, retrying until it
    exists and accepts (QEMU may still be starting) or time.monotonic()
    passes deadline, which raises QMPProtocolError."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError) as e:
            sock.close()
            if time.monotonic() >= deadline:
                raise QMPProtocolError(
                    "cannot connect to QMP socket %s: %s" % (path, e)) from e
            time.sleep(0.05)


class QMPClient(Closing):
    """One QMP connection.  Not thread-safe: use it from one thread."""

    def __init__(self, sock, timeout=30.0):
        self._sock = sock
        self._buf = b""
        self._events = []
        self._next_id = 0
        self.timeout = timeout
        self.greeting = None

    @classmethod
    def connect(cls, path, timeout=30.0, negotiate=True):
        """Connect to the unix socket at path, retrying until it exists
        and accepts (QEMU may still be starting), for up to timeout
        seconds.  Then read the greeting and, with negotiate, leave
        capabilities-negotiation mode."""
        deadline = time.monotonic() + timeout
        client = cls(connect_socket(path, deadline), timeout)
        try:
            client.greeting = client._read_message(deadline)
            if "QMP" not in client.greeting:
                raise QMPProtocolError("no QMP greeting: %r" % client.greeting)
            if negotiate:
                client.execute("qmp_capabilities")
        except BaseException:
            client.close()
            raise
        return client

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- messages ---------------------------------------------------------

    def _read_message(self, deadline):
        """Return the next JSON message, waiting until deadline."""
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("timed out waiting for QMP")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout as e:
                raise QMPTimeout("timed out waiting for QMP") from e
            except OSError as e:
                raise QMPProtocolError("QMP connection failed: %s" % e) from e
            if not chunk:
                raise QMPProtocolError("QMP connection closed by QEMU")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError as e:
            raise QMPProtocolError("bad JSON from QMP: %r" % line) from e

    def _pump(self, deadline):
        """Read one message; keep it if it is an event, return it if not."""
        msg = self._read_message(deadline)
        if "event" in msg:
            self._events.append(msg)
            return None
        return msg

    # -- commands -----------------------------------------------------------

    def execute_raw(self, command, arguments=None, timeout=None):
        """Send a command; return QEMU's whole reply dict ("return" or
        "error" member, plus "id").  Events meanwhile are kept."""
        self._next_id += 1
        req = {"execute": command, "id": self._next_id}
        if arguments:
            req["arguments"] = arguments
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            self._sock.sendall(json.dumps(req).encode() + b"\n")
        except OSError as e:
            raise QMPProtocolError("QMP send failed: %s" % e) from e
        while True:
            msg = self._pump(deadline)
            if msg is not None and msg.get("id") == self._next_id:
                return msg

    def execute(self, command, arguments=None, timeout=None):
        """Run a command and return the value of its "return" member
        (a dict for most commands, a list for some queries).

        Raises QMPError with the error's class and description when QEMU
        answers with an error, QMPProtocolError on a broken connection
        (QMPTimeout, a subclass, when QEMU does not answer in time)."""
        reply = self.execute_raw(command, arguments, timeout)
        if "error" in reply:
            err = reply["error"]
            raise QMPError(command, err.get("class", "?"), err.get("desc", "?"))
        return reply.get("return")

    def hmp(self, command_line):
        """Run an HMP command through human-monitor-command; return its
        text output."""
        return self.execute("human-monitor-command",
                            {"command-line": command_line})

    def has_command(self, name):
        """Is name a QMP command of this QEMU?  query-commands, not
        query-qmp-schema: 7 KB rather than 230 KB, which counts through
        the nested harness's serial port."""
        return any(c.get("name") == name for c in self.execute("query-commands"))

    # -- events ---------------------------------------------------------------

    def events(self, clear=True):
        """Events received so far (oldest first); clear forgets them."""
        out = list(self._events)
        if clear:
            self._events.clear()
        return out

    def wait_event(self, name, timeout=None):
        """Return the first event called name (consuming it), waiting up
        to timeout seconds; None if it does not come."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for i, ev in enumerate(self._events):
                if ev["event"] == name:
                    return self._events.pop(i)
            try:
                msg = self._pump(deadline)
            except QMPTimeout:
                return None
            if msg is not None:
                raise QMPProtocolError("unexpected QMP message: %r" % msg)
