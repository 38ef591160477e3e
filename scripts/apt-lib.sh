# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# apt helpers shared by scripts/setup.sh, scripts/setup-libvirt.sh,
# scripts/build-qemu.sh and tests/nested/mkinitrd.sh.  Source it; it
# defines SUDO and the functions below.  apt's output goes to stderr, so
# that callers' stdout stays theirs (build-qemu.sh prints a path on it).
#
#   apt_update_once          apt-get update, once per run (again after
#                            add_source)
#   apt_install ARG...       apt-get install -y -q ARG..., noninteractive
#   install_missing [-OPTION...] PKG...
#                            apt_install -OPTION... those of PKG... that are
#                            not installed
#   missing_pkgs PKG...      print those of PKG... that are not installed
#   has_source TYPE SUITE    whether apt has a TYPE (deb or deb-src) source
#                            for SUITE, in whatever file
#   add_source TYPE SUITE WHY
#                            add one from deb.debian.org, unless there is
#                            one, as QDAMON_SOURCES/qdamon-SUITE[-src].sources
#                            (WHY says what for)
#   has_backports, add_backports WHY
#                            the same for deb bookworm-backports
#   ensure_meson MIN         meson >= MIN, from bookworm-backports when the
#                            installed one is older or there is none

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

QDAMON_SOURCES=/etc/apt/sources.list.d
QDAMON_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

apt_updated=0
apt_update_once() {
	if [ "$apt_updated" -eq 0 ]; then
		echo "apt-get update" >&2
		$SUDO apt-get update -q >&2
		apt_updated=1
	fi
}

apt_install() {
	apt_update_once
	echo "apt-get install $*" >&2
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || echo "$p"
	done
}

install_missing() {
	local opts=() missing
	while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
		opts+=("$1")
		shift
	done
	mapfile -t missing < <(missing_pkgs "$@")
	[ "${#missing[@]}" -eq 0 ] || apt_install "${opts[@]}" "${missing[@]}"
}

has_source() {
	local created_by=Packages
	[ "$1" = deb-src ] && created_by=Sources
	# shellcheck disable=SC2016  # apt expands $(...) itself
	apt-get indextargets --no-release-info --format '$(RELEASE) $(CREATED_BY)' \
		2>/dev/null | grep -qxF "$2 $created_by"
}

add_source() {
	local type=$1 suite=$2 file
	has_source "$type" "$suite" && return 0
	file=$QDAMON_SOURCES/qdamon-$suite$([ "$type" = deb-src ] && echo -src).sources
	echo "adding $file ($type $suite, $3)" >&2
	printf 'Types: %s\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
		"$type" "$suite" "$QDAMON_KEYRING" | $SUDO tee "$file" >/dev/null
	apt_updated=0
}

has_backports() {
	has_source deb bookworm-backports
}

add_backports() {
	add_source deb bookworm-backports "$1"
}

ensure_meson() {
	if command -v meson >/dev/null &&
		dpkg --compare-versions "$(meson --version)" ge "$1"; then
		return 0
	fi
	add_backports "for meson >= $1"
	apt_install --no-install-recommends -t bookworm-backports meson
	dpkg --compare-versions "$(meson --version)" ge "$1" || {
		echo "meson $(meson --version) is older than $1" >&2
		return 1
	}
}
