#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what qdamo (src/tools/qdamo) and its libvirt end-to-end test
# (tests/libvirt/run.py) need on a fresh Debian 12 machine, and set the
# privileged QEMU driver up for a root sandbox without systemd.
# Idempotent: nothing is fetched or rewritten when all is in place.
#
#   scripts/setup-libvirt.sh
#   scripts/setup-libvirt.sh --print-packages   print "setup-libvirt.sh
#                             PACKAGE" for each package it installs
#
# bookworm's libvirt 9.0 drives our QEMU 10.0, so no backport is needed:
# it only needs <features><acpi/></features> in the domain XML, or it
# passes -no-acpi, which QEMU 10 dropped (tests/libvirt/run.py does so).
# No daemon is started here: without systemd, tests/libvirt/run.py
# starts virtlogd and libvirtd itself.  No system QEMU is installed
# either: domains name qdamon's QEMU in <emulator>.
set -euo pipefail

# shellcheck source=scripts/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"

PKGS=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
	libvirt-dev libjson-glib-dev libglib2.0-dev pkg-config gnuplot-nox)
QEMU_CONF=/etc/libvirt/qemu.conf

install_pkgs() {
	# No recommends: they would pull in swtpm, dnsmasq and friends
	install_missing --no-install-recommends "${PKGS[@]}"
}

# The privileged QEMU driver looks the user libvirt-qemu up when it
# loads, whatever qemu.conf says; libvirt-daemon-system would create it,
# but drags in systemd units and polkit.
ensure_user() {
	getent group libvirt-qemu >/dev/null ||
		$SUDO groupadd -r libvirt-qemu
	getent passwd libvirt-qemu >/dev/null ||
		$SUDO useradd -r -g libvirt-qemu -d /var/lib/libvirt \
			-s /usr/sbin/nologin libvirt-qemu
}

# set_conf KEY VALUE: make "KEY = VALUE" the only live setting of KEY.
set_conf() {
	local key=$1 value=$2 line
	line="$key = $value"
	if grep -qxF "$line" "$QEMU_CONF" &&
		[ "$(grep -cE "^[[:space:]]*${key}[[:space:]]*=" "$QEMU_CONF")" -eq 1 ]; then
		return 0
	fi
	$SUDO sed -i -E "/^[[:space:]]*${key}[[:space:]]*=/d" "$QEMU_CONF"
	echo "$line" | $SUDO tee -a "$QEMU_CONF" >/dev/null
}

# No cgroups, no mount namespaces, no SELinux/AppArmor labels: the
# sandbox has none of them, and QEMU runs as root like everything here.
configure_qemu_driver() {
	$SUDO mkdir -p /etc/libvirt /var/log/libvirt/qemu /var/run/libvirt \
		/var/lib/libvirt/qemu /var/cache/libvirt/qemu
	[ -f "$QEMU_CONF" ] ||
		echo "# qdamon: scripts/setup-libvirt.sh" | $SUDO tee "$QEMU_CONF" >/dev/null
	set_conf user '"root"'
	set_conf group '"root"'
	set_conf swtpm_user '"root"'
	set_conf swtpm_group '"root"'
	set_conf cgroup_controllers '[ ]'
	set_conf security_driver '"none"'
	set_conf namespaces '[ ]'
}

main() {
	if [ "${1:-}" = --print-packages ]; then
		printf 'setup-libvirt.sh %s\n' "${PKGS[@]}"
		return
	fi
	install_pkgs
	ensure_user
	configure_qemu_driver
	echo "setup-libvirt: libvirt $(dpkg-query -W -f='${Version}' libvirt-daemon)," \
		"json-glib $(dpkg-query -W -f='${Version}' libjson-glib-dev)," \
		"gnuplot $(dpkg-query -W -f='${Version}' gnuplot-nox); $QEMU_CONF set up"
}

main "$@"
