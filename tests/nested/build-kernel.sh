#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-kernel.sh - the nested-KVM harness's own L1 kernel: Debian's
# linux-source-6.12 built with CONFIG_IDLE_PAGE_TRACKING (page_idle),
# which Debian's own 6.12 image lacks, KVM and KVM_AMD built in, DAMON,
# userfaultfd, THP, hugetlbfs, MGLRU (off until switched on at run time)
# and zram (docs/notes/read-aware-sources.md, section 3).
#
#   tests/nested/build-kernel.sh [--dir DIR] [--force]
#
# Under DIR (default _work/nested, git-ignored):
#
#   debs/         linux-source-6.12_VERSION_all.deb, fetched with
#                 apt-get download (Debian's registry only; it is served
#                 from bookworm-security, older versions from
#                 bookworm-backports): version WANTED_VERSION below, or
#                 the newest one apt can fetch when that one is gone
#   linux/        the source tree, unpacked from the .deb's
#                 /usr/src/linux-source-6.12.tar.xz (again when the .deb
#                 changes), configured and built in place
#   kernel-idle/  vmlinuz (the bzImage), release, config and stamp; the
#                 stamp holds the .deb's name and the checksums of the
#                 config fragment and of this script: nothing is rebuilt
#                 while it matches
#
# The build runs "nice -n 10 make -j$(nproc) CC='ccache gcc' bzImage"
# with CCACHE_BASEDIR at the tree, CCACHE_NOHASHDIR=1 and fixed
# KBUILD_BUILD_TIMESTAMP/USER/HOST/VERSION, so that a tree in another
# checkout (CI's fresh clone) hits the same ccache entries.  Measured in
# docs/notes/nested-kernel.md: about 15 minutes cold on 2 cores, under a
# minute from a warm ccache.
#
# Needs flex, bison, libelf-dev, bc, libssl-dev, build-essential, ccache
# and xz-utils (scripts/setup.sh installs them).
#
# Prints "kernel=PATH" and "release=VERSION" on stdout; progress goes to
# stderr.  Overrides:
#   QDAMON_LINUX_SOURCE_DEB   a linux-source .deb already on disk
#   QDAMON_KERNEL_JOBS        make's -j (default: nproc)
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$top/_work/nested
FORCE=0

PKG=linux-source-6.12
# The version this was built and checked with; when the archive no longer
# serves it (security updates rotate), the newest served one is used.
WANTED_VERSION=6.12.117-1~deb12u1

# The config fragment, applied with scripts/config to x86_64_defconfig.
# Every ENABLE option (and every CHECK_Y one) must come out =y.
ENABLE=(
	VIRTUALIZATION KVM KVM_AMD
	IDLE_PAGE_TRACKING
	DAMON DAMON_VADDR DAMON_PADDR DAMON_SYSFS
	USERFAULTFD
	TRANSPARENT_HUGEPAGE TRANSPARENT_HUGEPAGE_MADVISE
	HUGETLBFS SHMEM TMPFS PROC_PAGE_MONITOR
	LRU_GEN
	DEBUG_FS
	SERIAL_8250 SERIAL_8250_CONSOLE SERIAL_8250_PCI
	DEVTMPFS DEVTMPFS_MOUNT
	BLK_DEV_INITRD RD_GZIP
	SWAP ZSMALLOC ZRAM
	IKCONFIG IKCONFIG_PROC
	DEBUG_INFO_NONE
)
# Not settable by hand, but needed: selected or implied by the above.
CHECK_Y=(PAGE_IDLE_FLAG MEMFD_CREATE HUGETLB_PAGE NET UNIX SYSFS PROC_FS MMU_NOTIFIER)
# Off: MGLRU stays off until a test switches it on
# (/sys/kernel/mm/lru_gen/enabled); Intel KVM, SEV (and with it ccp), Xen
# and the test VM type are not needed; the rest is hardware the outer VM
# does not have (it has serial ports, an initramfs and nothing else).
DISABLE=(
	LRU_GEN_ENABLED
	TRANSPARENT_HUGEPAGE_ALWAYS
	KVM_INTEL KVM_AMD_SEV KVM_XEN KVM_SW_PROTECTED_VM
	DRM AGP SOUND
	WIRELESS WLAN CFG80211 MAC80211
	USB_SUPPORT HID
	NETFILTER IPV6 ETHERNET
	NFS_FS ROOT_NFS
	ATA SCSI MD PCCARD
	SECURITY_SELINUX
	DEBUG_INFO_BTF
)
LOCALVERSION=-qdamon-idle

log() { echo "build-kernel: $*" >&2; }
die() { echo "build-kernel: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--dir) DIR=$2; shift 2 ;;
	--force) FORCE=1; shift ;;
	-h | --help) sed -n '3,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

# shellcheck source=scripts/apt-lib.sh
. "$top/scripts/apt-lib.sh"

for tool in apt-get apt-cache dpkg-deb tar xz make gcc ccache flex bison bc sha256sum flock nproc nice; do
	command -v "$tool" >/dev/null || die "$tool is missing (run scripts/setup.sh)"
done
[ -f /usr/include/libelf.h ] || [ -f /usr/include/gelf.h ] ||
	die "libelf-dev is missing (run scripts/setup.sh)"

OUT=$DIR/kernel-idle
TREE=$DIR/linux
mkdir -p "$DIR/debs" "$OUT"
exec 8>"$DIR/.kernel.lock"
flock 8

# ---- the source package ---------------------------------------------------------

newest() {
	local f
	for f in "$@"; do [ -f "$f" ] && echo "$f"; done | sort -V | tail -1
}

# deb_file VERSION: the path apt-get download names VERSION's .deb
deb_file() { echo "$DIR/debs/${PKG}_${1#*:}_all.deb"; }

# fetch VERSION: apt-get download PKG=VERSION into debs/; 0 if it is there
fetch() {
	local v=$1
	[ -f "$(deb_file "$v")" ] && return 0
	log "apt-get download $PKG=$v"
	(cd "$DIR/debs" && apt-get download -q "$PKG=$v" >&2) || return 1
	[ -f "$(deb_file "$v")" ]
}

# Versions of PKG in apt's lists, newest first.
served() {
	apt-cache madison "$PKG" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -ruV
}

source_deb() {
	local v
	if [ -n "${QDAMON_LINUX_SOURCE_DEB:-}" ]; then
		[ -f "$QDAMON_LINUX_SOURCE_DEB" ] || die "no such file: $QDAMON_LINUX_SOURCE_DEB"
		echo "$QDAMON_LINUX_SOURCE_DEB"
		return
	fi
	if fetch "$WANTED_VERSION" 2>/dev/null; then
		deb_file "$WANTED_VERSION"
		return
	fi
	# stale lists, or a version the archive no longer has
	apt_update_once
	if fetch "$WANTED_VERSION"; then
		deb_file "$WANTED_VERSION"
		return
	fi
	for v in $(served); do
		log "$PKG $WANTED_VERSION is not served; trying $v"
		if fetch "$v"; then
			deb_file "$v"
			return
		fi
	done
	# one already downloaded, if apt serves none
	v=$(newest "$DIR/debs/${PKG}_"*_all.deb)
	[ -n "$v" ] || die "apt-get download $PKG failed and apt serves no version of it (bookworm-security, bookworm-backports)"
	log "using $(basename "$v"), already downloaded"
	echo "$v"
}

unpack_tree() {
	local deb=$1 name tmp tarball
	name=$(basename "$deb")
	if [ -f "$TREE/.from" ] && [ "$(cat "$TREE/.from")" = "$name" ] && [ -f "$TREE/Makefile" ]; then
		return
	fi
	log "unpacking $name into $TREE"
	rm -rf "$TREE" "$DIR/linux.new"
	mkdir -p "$DIR/linux.new"
	tmp=$(mktemp -d "$DIR/linux-deb.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './usr/src/linux-source-*.tar.xz' ||
		die "$name has no /usr/src/linux-source-*.tar.xz"
	tarball=$(find "$tmp/usr/src" -name 'linux-source-*.tar.xz' | head -1)
	tar -x -J -C "$DIR/linux.new" --strip-components=1 -f "$tarball" ||
		die "cannot unpack $(basename "$tarball")"
	rm -rf "$tmp"
	[ -f "$DIR/linux.new/Makefile" ] || die "$(basename "$tarball") holds no kernel tree"
	echo "$name" >"$DIR/linux.new/.from"
	mv "$DIR/linux.new" "$TREE"
}

# ---- configuration and build -------------------------------------------------------

fragment() {
	printf 'enable %s\n' "${ENABLE[@]}"
	printf 'check %s\n' "${CHECK_Y[@]}"
	printf 'disable %s\n' "${DISABLE[@]}"
	printf 'localversion %s\n' "$LOCALVERSION"
}

# Fixed build identity: the same objects, and ccache hits, in any checkout.
export KBUILD_BUILD_TIMESTAMP="Thu Jan  1 00:00:00 UTC 2026"
export KBUILD_BUILD_USER=qdamon KBUILD_BUILD_HOST=qdamon KBUILD_BUILD_VERSION=1
export CCACHE_BASEDIR=$TREE CCACHE_NOHASHDIR=1

kmake() { make -C "$TREE" -s "$@"; }

configure() {
	local args=() o v bad=()
	for o in "${ENABLE[@]}"; do args+=(--enable "$o"); done
	for o in "${DISABLE[@]}"; do args+=(--disable "$o"); done
	# Regenerate, but keep the old .config (and its time stamp) when the
	# result is the same, so that nothing is reconfigured for nothing.
	[ -f "$TREE/.config" ] && cp -p "$TREE/.config" "$TREE/.config.keep"
	kmake x86_64_defconfig >&2
	"$TREE/scripts/config" --file "$TREE/.config" "${args[@]}" --set-str LOCALVERSION "$LOCALVERSION" \
		--disable LOCALVERSION_AUTO
	kmake olddefconfig >&2
	if [ -f "$TREE/.config.keep" ] && cmp -s "$TREE/.config" "$TREE/.config.keep"; then
		mv "$TREE/.config.keep" "$TREE/.config"
	else
		rm -f "$TREE/.config.keep"
	fi
	for o in "${ENABLE[@]}" "${CHECK_Y[@]}"; do
		v=$("$TREE/scripts/config" --file "$TREE/.config" -s "$o")
		[ "$v" = y ] || bad+=("$o=$v")
	done
	for o in "${DISABLE[@]}"; do
		v=$("$TREE/scripts/config" --file "$TREE/.config" -s "$o")
		case $v in y | m) bad+=("$o=$v (wanted off)") ;; esac
	done
	[ "${#bad[@]}" -eq 0 ] || die "after make olddefconfig: ${bad[*]}"
}

build() {
	local jobs=${QDAMON_KERNEL_JOBS:-$(nproc)} t0 t1
	t0=$(date +%s)
	log "make -j$jobs CC='ccache gcc' bzImage in $TREE (nice -n 10; about 15 minutes cold on 2 cores)"
	nice -n 10 make -C "$TREE" -j"$jobs" CC="ccache gcc" bzImage >&2 ||
		die "the kernel build failed (make -C $TREE bzImage)"
	t1=$(date +%s)
	log "built in $((t1 - t0)) s"
}

# ---- main ------------------------------------------------------------------------

deb=$(source_deb)
stamp=$({
	basename "$deb"
	fragment | sha256sum | awk '{print $1}'
	sha256sum "$0" | awk '{print $1}'
})

if [ "$FORCE" -eq 0 ] && [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$stamp" ] &&
	[ -f "$OUT/vmlinuz" ] && [ -f "$OUT/release" ]; then
	log "kernel up to date ($(head -1 "$OUT/stamp"))"
else
	unpack_tree "$deb"
	configure
	build
	release=$(kmake kernelrelease)
	[ -n "$release" ] || die "make kernelrelease printed nothing"
	rm -f "$OUT/stamp"
	cp "$TREE/arch/x86/boot/bzImage" "$OUT/vmlinuz.new"
	mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
	cp "$TREE/.config" "$OUT/config"
	echo "$release" >"$OUT/release"
	echo "$stamp" >"$OUT/stamp"
	log "kernel $release: $(du -h "$OUT/vmlinuz" | cut -f1)"
fi

echo "kernel=$OUT/vmlinuz"
echo "release=$(cat "$OUT/release")"
