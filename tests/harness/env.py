# SPDX-License-Identifier: GPL-2.0-or-later
"""env - where qdamon's test programs find what they run, and units.

  QDAMON_QEMU   qemu-system-x86_64 with qdamon (default:
                _work/qemu-build/qemu-system-x86_64, what
                scripts/build-qemu.sh builds)
  QDAMON_BUILD  the meson build directory holding the workload guest and
                qdamo (default: build)

A relative path in either is taken from the repository's top.  Every
--qemu and --firmware option defaults to these.
"""

import os

MIB = 1 << 20
GIB = 1 << 30
PAGE = 4096

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def _path(var, default):
    return os.path.join(ROOT, os.environ.get(var) or default)


QEMU = _path("QDAMON_QEMU", os.path.join("_work", "qemu-build", "qemu-system-x86_64"))
BUILD = _path("QDAMON_BUILD", "build")
FIRMWARE = os.path.join(BUILD, "tests", "guest", "workload.bin")
QDAMO = os.path.join(BUILD, "src", "tools", "qdamo", "qdamo")
SEABIOS = "/usr/share/seabios"
# Debian's own QEMU (package qemu-system-x86); setup does not install it
STOCK_QEMU = "/usr/bin/qemu-system-x86_64"


def bios_args():
    """-L for Debian's SeaBIOS when it is there (QEMU's source package
    ships no firmware blobs)."""
    return ["-L", SEABIOS] if os.path.isdir(SEABIOS) else []
