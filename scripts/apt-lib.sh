# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# apt helpers shared by scripts/setup.sh, scripts/setup-libvirt.sh and
# tests/nested/mkinitrd.sh.  Source it; it defines SUDO and:
#
#   apt_update_once         apt-get update, once per run (output on stderr,
#                           so that callers' stdout stays theirs)
#   has_backports           whether bookworm-backports is in apt's sources
#   add_backports WHY       add it (once; WHY says what for); the next
#                           apt_update_once updates again
#   missing_pkgs PKG...     print those of PKG... that are not installed

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

QDAMON_BACKPORTS=/etc/apt/sources.list.d/qdamon-bookworm-backports.sources

apt_updated=0
apt_update_once() {
	if [ "$apt_updated" -eq 0 ]; then
		$SUDO apt-get update -q >&2
		apt_updated=1
	fi
}

has_backports() {
	grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/
}

add_backports() {
	has_backports && return 0
	echo "adding bookworm-backports ($1)" >&2
	$SUDO tee "$QDAMON_BACKPORTS" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	apt_updated=0
}

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || echo "$p"
	done
}
