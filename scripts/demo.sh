#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job: build, then monitor a guest and print a live working-set
# and hot-region report for about 30 s.
#
# Until the QEMU part is built, the guest is simulated: damon-sim runs the
# engine with a real monitor thread over a 4 GiB simulated guest whose hot
# set moves (the "stairs" pattern), and prints the simulation's ground
# truth beside each report.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

[ -f build/build.ninja ] || meson setup build
ninja -C build src/tools/damon-sim
exec build/src/tools/damon-sim --pattern stairs --size 4096 --duration 30 "$@"
