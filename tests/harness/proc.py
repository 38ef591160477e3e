# SPDX-License-Identifier: GPL-2.0-or-later
"""proc - small helpers for the processes and files the harness owns."""

import os
import shutil
import signal
import subprocess
import tempfile


class Closing:
    """A with block's end calls close()."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class WorkDir(Closing):
    """An object with a work directory: the caller's, or a new one that
    remove_workdir() deletes unless keep_workdir."""

    def make_workdir(self, workdir, keep_workdir, prefix):
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=prefix)
        self.keep_workdir = keep_workdir

    def in_workdir(self, name):
        return os.path.join(self.workdir, name)

    def remove_workdir(self):
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def stop(proc, grace=5.0):
    """SIGTERM proc (a Popen) if it still runs, SIGKILL it after grace
    seconds, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_text(path, missing=""):
    """A text file's contents (bytes that are not UTF-8 replaced), or
    missing if it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return missing


def tail(path, lines=10, empty="(empty stderr)", missing="(no stderr)"):
    """The last lines of a text file, joined with " | "."""
    text = read_text(path, None)
    if text is None:
        return missing
    last = text.splitlines()[-lines:]
    return " | ".join(last) if last else empty
