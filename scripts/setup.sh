#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what qdamon needs on a fresh Debian 12 machine.  Idempotent:
# nothing is fetched when everything is already there.
#
#   scripts/setup.sh                   engine, tests, benchmarks, libvirt,
#                                      QEMU's and the nested-KVM kernel's
#                                      build dependencies
#   scripts/setup.sh --print-packages  print "SCRIPT PACKAGE" for every
#                                      package setup installs by name, and
#                                      install nothing
#
# Needs root (or sudo) for apt-get.  meson >= 1.5 comes from
# bookworm-backports, which is added when missing.  Then
# scripts/setup-libvirt.sh sets libvirt up and "scripts/build-qemu.sh
# --deps" installs what building QEMU needs.  README.md, "What setup
# changes on this machine", lists all of it and how to undo it;
# tests/e2e/setup-programs.py checks that every program the scripts and
# tests run comes from these packages.
set -euo pipefail

here=$(dirname "$0")
# shellcheck source=scripts/apt-lib.sh
. "$here/apt-lib.sh"

# cpio, xz-utils and kmod: tests/nested/mkinitrd.sh (the nested-KVM test)
ENGINE_PKGS=(gcc pkg-config ninja-build libglib2.0-dev cpio xz-utils kmod)
# tests/nested/build-kernel.sh: the nested-KVM harness's own L1 kernel
# (Debian's linux-source-6.12 with page_idle); make, gcc and ccache come
# with build-qemu.sh's packages
KERNEL_PKGS=(flex bison libelf-dev bc libssl-dev)
MESON_MIN=1.5

main() {
	case ${1:-} in
	--print-packages)
		printf 'setup.sh %s\n' "${ENGINE_PKGS[@]}" meson "${KERNEL_PKGS[@]}"
		"$here/setup-libvirt.sh" --print-packages
		"$here/build-qemu.sh" --print-packages
		return
		;;
	"") ;;
	*)
		echo "usage: scripts/setup.sh [--print-packages]" >&2
		exit 2
		;;
	esac
	install_missing "${ENGINE_PKGS[@]}"
	ensure_meson "$MESON_MIN"
	echo "setup: engine dependencies present (meson $(meson --version))"
	install_missing "${KERNEL_PKGS[@]}"
	echo "setup: the nested-KVM kernel's build dependencies present"
	# libvirt, json-glib and gnuplot for qdamo and tests/libvirt
	"$here/setup-libvirt.sh"
	"$here/build-qemu.sh" --deps
	echo "setup: QEMU's build dependencies present"
}

main "$@"
