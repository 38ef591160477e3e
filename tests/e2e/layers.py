#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""layers.py - the tree keeps its layers: nothing includes from above.

qdamon's layers (docs/design.md), each depending only on those below:

  1  include/damon/, src/core/   the engine (plain C11: no GLib, no QEMU)
  2  src/ops/                    what operations sets share
  3  src/qemu/                   QEMU glue (QEMU headers allowed here only)
  6  src/tools/                  qdamo (talks QMP; no engine internals)
  -  tests/, bench/              test support; may use anything

Three steps:

  includes   every #include in src/ and include/ names a file of its own
             layer or below; the engine's private core/internal.h is for
             src/core only; QEMU's headers are for src/qemu only; the
             engine and src/ops include no GLib;
  public     the engine build installs only damon/damon.h and
             damon/list.h (meson introspect --installed of --build);
  qemu       QEMU's build compiles, of qdamon's files, only src/core,
             src/ops and src/qemu ones: the simulator (tests/sim) is
             never part of it (compile_commands.json of --qemu-build;
             SKIP when QEMU is not built).

Prints a PASS/FAIL/SKIP line per step and a RESULT line.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg      # noqa: E402
from harness import env, report       # noqa: E402
from harness.report import Failed     # noqa: E402

LAYERS = [("include/damon", 1), ("src/core", 1), ("src/ops", 2),
          ("src/qemu", 3), ("src/tools", 6), ("tests", 9), ("bench", 9)]
# First component of an include path -> the directory it is found in
ROOTS = {"damon": "include/damon", "core": "src/core", "ops": "src/ops",
         "sim": "tests/sim"}
# QEMU's own headers, as src/qemu includes them
QEMU_DIRS = ("qemu", "qapi", "system", "exec", "hw", "monitor", "trace",
             "qobject", "block", "migration", "accel", "sysemu")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def layer_of(rel):
    for prefix, layer in LAYERS:
        if rel == prefix or rel.startswith(prefix + "/"):
            return layer
    return None


def resolve(including, name):
    """Where the file a quoted #include names lives, relative to the
    root; None for a QEMU header."""
    here = os.path.dirname(including)
    if os.path.exists(os.path.join(env.ROOT, here, name)):
        return os.path.normpath(os.path.join(here, name))
    first, _, rest = name.partition("/")
    if first in ROOTS and rest:
        return os.path.join(ROOTS[first], rest)
    if first in QEMU_DIRS or name == "trace.h":
        return None
    return name


def problems_of(rel, text):
    layer = layer_of(rel)
    for kind, name in INCLUDE.findall(text):
        if kind == "<":
            if layer <= 2 and name.startswith("glib"):
                yield "%s: <%s> in the engine (plain C11)" % (rel, name)
            continue
        target = resolve(rel, name)
        if target is None:
            if layer != 3:
                yield '%s: QEMU header "%s" outside src/qemu' % (rel, name)
            continue
        if target == "src/core/internal.h" and not rel.startswith("src/core/"):
            yield '%s: "%s" is the engine\'s private header' % (rel, name)
        tl = layer_of(target)
        if tl is None or tl > layer:
            yield '%s (layer %s): "%s" is %s' % (
                rel, layer, name, "test support" if tl == 9 else
                "layer %s" % tl if tl else "not in the tree")


def step_includes(rep):
    bad, files = [], 0
    for top in ("include", "src"):
        for dirpath, _, names in os.walk(os.path.join(env.ROOT, top)):
            for n in sorted(names):
                if not n.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, env.ROOT)
                with open(path, encoding="utf-8") as f:
                    bad.extend(problems_of(rel, f.read()))
                files += 1
    if bad:
        raise Failed("; ".join(bad))
    rep.ok("includes", "%d files in include/ and src/ include only their own "
           "layer or below" % files)


def step_public(rep, build):
    out = subprocess.run(["meson", "introspect", "--installed", build],
                         capture_output=True, text=True, check=True).stdout
    headers = sorted("/".join(p.split("/")[-2:])
                     for p in json.loads(out).values() if p.endswith(".h"))
    if headers != ["damon/damon.h", "damon/list.h"]:
        raise Failed("installed headers %s, want damon/damon.h and "
                     "damon/list.h" % headers)
    rep.ok("public", "the engine installs damon/damon.h and damon/list.h only")


def step_qemu(rep, qbuild):
    cc = os.path.join(qbuild, "compile_commands.json")
    if not os.path.exists(cc):
        rep.skip("qemu", "%s not there: QEMU is not built" % cc)
        return
    with open(cc) as f:
        files = sorted({e["file"] for e in json.load(f)
                        if "/qdamon/" in e["file"]})
    ours = [f.split("/qdamon/", 1)[1] for f in files]
    bad = [f for f in ours if not f.startswith(("src/core/", "src/ops/",
                                                 "src/qemu/"))]
    if not ours:
        raise Failed("no qdamon file in %s" % cc)
    if bad:
        raise Failed("QEMU's build compiles %s" % ", ".join(bad))
    rep.ok("qemu", "QEMU compiles %d qdamon files, all from src/core, src/ops "
           "and src/qemu" % len(ours))


def main():
    p = harg.parser(__doc__)
    p.add_argument("--build", default=os.path.join(env.ROOT, "build"),
                   help="the engine's meson build directory")
    p.add_argument("--qemu-build", default=os.path.join(env.ROOT, "_work",
                                                         "qemu-build"))
    a = p.parse_args()
    report.main("layers", lambda rep: report.run_steps(rep, [
        ("includes", lambda: step_includes(rep)),
        ("public", lambda: step_public(rep, a.build)),
        ("qemu", lambda: step_qemu(rep, a.qemu_build))]))


if __name__ == "__main__":
    main()
