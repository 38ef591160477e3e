#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what qdamon needs on a fresh Debian 12 machine.  Idempotent:
# nothing is fetched when everything is already there.
#
#   scripts/setup.sh           engine, tests and benchmarks
#
# Needs root (or sudo) for apt-get.  meson >= 1.5 comes from
# bookworm-backports, which is added when missing.
set -euo pipefail

# shellcheck source=scripts/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"

# cpio, xz-utils and kmod: tests/nested/mkinitrd.sh (the nested-KVM test)
ENGINE_PKGS=(gcc pkg-config ninja-build libglib2.0-dev cpio xz-utils kmod)

meson_ok() {
	command -v meson >/dev/null &&
		dpkg --compare-versions "$(meson --version)" ge 1.5
}

main() {
	local missing
	missing=$(missing_pkgs "${ENGINE_PKGS[@]}")
	if [ -n "$missing" ]; then
		apt_update_once
		# shellcheck disable=SC2086
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
	fi
	if ! meson_ok; then
		add_backports "for meson >= 1.5"
		apt_update_once
		$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q -t bookworm-backports meson
	fi
	echo "setup: engine dependencies present (meson $(meson --version))"
	# libvirt, json-glib and gnuplot for qdamo and tests/libvirt
	"$(dirname "$0")/setup-libvirt.sh"
}

main "$@"
