#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job: build qdamon's QEMU and the bundled workload guest, boot
# the guest under TCG, start monitoring over QMP and print a live
# working-set and hot-region report for about 30 s (scripts/demo.py).
#
#   scripts/demo.sh [--duration S] [--source dirty-bitmap|page-hash]
#
# The first run builds QEMU from Debian's source package (about 10 min on
# 2 cores); later runs rebuild only what changed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/build-qemu.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build tests/guest/workload.bin
exec python3 scripts/demo.py "$@"
