# SPDX-License-Identifier: GPL-2.0-or-later
"""args - the command-line options qdamon's test programs share."""

import argparse

from harness import env


def hex_int(text):
    """An integer in any base Python reads (0x1000000, 16777216)."""
    return int(text, 0)


def parser(doc, **kw):
    """An ArgumentParser described by the first paragraph of doc."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0], **kw)


def add_qemu(ap):
    """--qemu and --firmware."""
    ap.add_argument("--qemu", default=env.QEMU,
                    help="qemu-system-x86_64 with qdamon (default: $QDAMON_QEMU or "
                    "%(default)s)")
    ap.add_argument("--firmware", default=env.FIRMWARE,
                    help="the workload image (default: %(default)s; $QDAMON_BUILD "
                    "chooses the build directory)")


def add_vm(ap, mem=512, hot_start=None, hot_size=None, hot_help="", smp=None):
    """add_qemu(), --mem, --hot-start/--hot-size when given defaults,
    and --smp when smp names whose vCPUs they are."""
    add_qemu(ap)
    ap.add_argument("--mem", type=int, default=mem, metavar="MIB",
                    help="guest RAM in MiB (default: %(default)s)")
    if smp is not None:
        ap.add_argument("--smp", type=int, default=1, metavar="N",
                        help="vCPUs of %s (default: %%(default)s; above 1 "
                        "under MTTCG)" % smp)
    if hot_start is not None:
        ap.add_argument("--hot-start", type=hex_int, default=hot_start,
                        help="hot range start (default: %s)" % hex(hot_start))
    if hot_size is not None:
        ap.add_argument("--hot-size", type=hex_int, default=hot_size,
                        help="hot range size (default: %s)%s" % (hex(hot_size), hot_help))


def add_read_range(ap, start=32 << 20, size=16 << 20):
    """--read-start/--read-size: the range the workload guest only reads
    (written once at boot), as harness.reads scores it."""
    ap.add_argument("--read-start", type=hex_int, default=start,
                    help="read range start (default: %s)" % hex(start))
    ap.add_argument("--read-size", type=hex_int, default=size,
                    help="read range size (default: %s)" % hex(size))


def add_run(ap, timeout=60.0, timeout_option="--timeout", keep_what="the work directory",
            verbose=True):
    """The time allowed to find the hot set, --verbose (unless not
    verbose) and --keep."""
    ap.add_argument(timeout_option, type=float, default=timeout, metavar="S",
                    help="seconds allowed to find the hot set (default: %(default)s)")
    if verbose:
        ap.add_argument("--verbose", "-v", action="store_true",
                        help="print every poll")
    ap.add_argument("--keep", action="store_true", help="keep %s" % keep_what)
