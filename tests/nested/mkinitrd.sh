#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# mkinitrd.sh - the outer VM of the nested-KVM harness: a 6.12 kernel
# and an initramfs holding busybox, the KVM modules (Debian's kernel),
# our QEMU and qdamo with their libraries, and the workload firmware.
#
#   tests/nested/mkinitrd.sh [--kernel debian|idle] [--qemu PATH]
#                            [--qdamo PATH|none] [--firmware PATH] [--dir DIR]
#
# --kernel debian (the default): Debian's 6.12 image from
# bookworm-backports, KVM as modules, which /init loads; no page_idle.
# --kernel idle: our own build of Debian's linux-source-6.12 with
# CONFIG_IDLE_PAGE_TRACKING, KVM built in (tests/nested/build-kernel.sh,
# cached in DIR/kernel-idle; about 15 minutes the first time).
# --qemu defaults to $QDAMON_QEMU or _work/qemu-build/qemu-system-x86_64,
# --firmware to tests/guest/workload.bin and --qdamo to
# src/tools/qdamo/qdamo, both in $QDAMON_BUILD or build (as
# tests/harness/env.py; relative paths are from the repository's top);
# a default qdamo that is not built is left out, as is --qdamo none.
# When --firmware or --qdamo lies in a meson build directory, ninja
# brings it up to date first.
#
# Everything is cached under DIR (default _work/nested, git-ignored):
#
#   debs/       the .debs, fetched with apt-get download (Debian's
#               registry only): linux-image-6.12.*+deb12-amd64 from
#               bookworm-backports (added to apt's sources when missing,
#               as scripts/setup.sh does), busybox-static, and seabios /
#               qemu-system-data only if their firmware is not installed
#               (and build-kernel.sh's linux-source-6.12)
#   kernel/     vmlinuz and the four modules, decompressed
#   kernel-idle/, linux/  build-kernel.sh's bzImage and source tree
#   share/      firmware for the outer QEMU's -L (bios-256k.bin,
#               linuxboot_dma.bin, kvmvapic.bin)
#   root/       the initramfs tree; root/qemu/bin/qemu-system-x86_64 is a
#               stripped copy of --qemu, which the harness also runs as
#               the outer QEMU so that both levels are the same build;
#               root/qemu/bin/qdamo a stripped copy of --qdamo
#   initrd.gz   the initramfs; rebuilt only when an input changed
#               (initrd.stamp holds the inputs' checksums, the kernel
#               choice among them)
#   root-idle/, initrd-idle.gz, initrd-idle.stamp
#               the same for --kernel idle (no modules in it)
#
# Prints "kernel=PATH", "release=VERSION", "initrd=PATH", "share=PATH",
# "qemu=PATH" and "qdamo=PATH" (the copy in the initramfs tree, at
# /qemu/bin/qdamo in the VM; empty when left out) lines on stdout;
# progress goes to stderr.  Overrides:
#   QDAMON_NESTED_KERNEL_PKG   the kernel package name to download
#   QDAMON_NESTED_KERNEL_DEB   a kernel .deb already on disk (no download)
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
# from_top PATH: PATH, relative to the repository's top unless absolute
from_top() { case $1 in /*) echo "$1" ;; *) echo "$top/$1" ;; esac; }
QEMU=$(from_top "${QDAMON_QEMU:-_work/qemu-build/qemu-system-x86_64}")
FIRMWARE=$(from_top "${QDAMON_BUILD:-build}")/tests/guest/workload.bin
QDAMO_DEFAULT=$(from_top "${QDAMON_BUILD:-build}")/src/tools/qdamo/qdamo
QDAMO=default
KERNEL=debian
DIR=$top/_work/nested
MODULES=(virt/lib/irqbypass drivers/crypto/ccp/ccp arch/x86/kvm/kvm arch/x86/kvm/kvm-amd)

log() { echo "mkinitrd: $*" >&2; }
die() { echo "mkinitrd: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--qemu) QEMU=$2; shift 2 ;;
	--firmware) FIRMWARE=$2; shift 2 ;;
	--qdamo) QDAMO=$2; shift 2 ;;
	--kernel) KERNEL=$2; shift 2 ;;
	--dir) DIR=$2; shift 2 ;;
	-h | --help) sed -n '3,51p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

# shellcheck source=scripts/apt-lib.sh
. "$top/scripts/apt-lib.sh"

for tool in apt-get dpkg-deb tar xz cpio gzip sha256sum ldd flock; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install cpio xz-utils)"
done
[ -x "$QEMU" ] || die "QEMU not found: $QEMU (run scripts/build-qemu.sh)"
case $KERNEL in
debian) SFX="" ;;
idle) SFX=-idle ;;
*) die "--kernel is debian or idle, not $KERNEL" ;;
esac
ROOT=$DIR/root$SFX
INITRD=$DIR/initrd$SFX.gz

mkdir -p "$DIR/debs" "$DIR/kernel" "$DIR/share"
# Our kernel first, before taking the lock: its first build takes some
# 15 minutes, and build-kernel.sh has a lock of its own.
if [ "$KERNEL" = idle ]; then
	kout=$("$top/tests/nested/build-kernel.sh" --dir "$DIR") ||
		die "tests/nested/build-kernel.sh failed"
	kernel_path=$(echo "$kout" | sed -n 's/^kernel=//p')
	kernel_release=$(echo "$kout" | sed -n 's/^release=//p')
	[ -f "$kernel_path" ] || die "build-kernel.sh printed no kernel= line"
fi
# one build at a time (a test and a benchmark may start together)
exec 9>"$DIR/.lock"
flock 9

# ---- packages ---------------------------------------------------------------

# download PKG: fetch PKG's .deb into debs/ unless one is there; print its path
download() {
	local pkg=$1 deb
	deb=$(newest "$DIR/debs/${pkg}_"*.deb)
	if [ -z "$deb" ]; then
		log "apt-get download $pkg"
		if ! (cd "$DIR/debs" && apt-get download -q "$pkg" >/dev/null 2>&1); then
			apt_update_once
			(cd "$DIR/debs" && apt-get download -q "$pkg" >&2) ||
				die "apt-get download $pkg failed"
		fi
		deb=$(newest "$DIR/debs/${pkg}_"*.deb)
		[ -n "$deb" ] || die "apt-get download $pkg left no .deb in $DIR/debs"
	fi
	echo "$deb"
}

newest() {
	local f
	for f in "$@"; do [ -f "$f" ] && echo "$f"; done | sort -V | tail -1
}

# The 6.12 image that bookworm-backports' linux-image-amd64 depends on.
kernel_pkg() {
	local v dep
	if [ -n "${QDAMON_NESTED_KERNEL_PKG:-}" ]; then
		echo "$QDAMON_NESTED_KERNEL_PKG"
		return
	fi
	for attempt in 1 2; do
		for v in $(apt-cache madison linux-image-amd64 2>/dev/null |
			awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep '^6\.12\.' | sort -rV); do
			dep=$(apt-cache depends "linux-image-amd64=$v" 2>/dev/null |
				awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.12\./ {print $2; exit}')
			if [ -n "$dep" ]; then
				echo "$dep"
				return
			fi
		done
		[ "$attempt" -eq 1 ] || break
		add_backports "for linux-image-6.12"
		apt_update_once
	done
	die "no linux-image-6.12 package found in apt's lists (bookworm-backports)"
}

kernel_deb() {
	local deb pkg
	if [ -n "${QDAMON_NESTED_KERNEL_DEB:-}" ]; then
		[ -f "$QDAMON_NESTED_KERNEL_DEB" ] || die "no such file: $QDAMON_NESTED_KERNEL_DEB"
		echo "$QDAMON_NESTED_KERNEL_DEB"
		return
	fi
	deb=$(newest "$DIR/debs/linux-image-6.12."*"+deb12-amd64"*_amd64.deb)
	if [ -n "$deb" ]; then
		echo "$deb"
		return
	fi
	pkg=$(kernel_pkg)
	log "apt-get download $pkg"
	if ! (cd "$DIR/debs" && apt-get download -q "$pkg" >/dev/null 2>&1); then
		# stale lists name a version the archive no longer has
		apt_update_once
		pkg=$(kernel_pkg)
	fi
	download "$pkg"
}

# ---- kernel and modules -------------------------------------------------------

unpack_kernel() {
	local deb=$1 name stamp tmp m f
	name=$(basename "$deb")
	stamp=$DIR/kernel/.from
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$name" ] && [ -f "$DIR/kernel/vmlinuz" ]; then
		return
	fi
	log "unpacking $name"
	tmp=$(mktemp -d "$DIR/kernel.XXXXXX")
	local patterns=('./boot/vmlinuz-*')
	for m in "${MODULES[@]}"; do patterns+=("*/kernel/$m.ko*"); done
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "${patterns[@]}" ||
		die "cannot unpack the kernel and modules from $name"
	rm -rf "$DIR/kernel"
	mkdir -p "$DIR/kernel"
	f=$(find "$tmp/boot" -name 'vmlinuz-*' | head -1)
	[ -n "$f" ] || die "$name has no boot/vmlinuz-*"
	mv "$f" "$DIR/kernel/vmlinuz"
	basename "$f" | sed 's/^vmlinuz-//' >"$DIR/kernel/release"
	for m in "${MODULES[@]}"; do
		f=$(find "$tmp" -path "*/kernel/$m.ko*" | head -1)
		[ -n "$f" ] || die "$name has no $m.ko*"
		case $f in
		*.xz) xz -dc "$f" >"$DIR/kernel/$(basename "$m").ko" ;;
		*.zst) zstd -dcq "$f" >"$DIR/kernel/$(basename "$m").ko" ;;
		*.ko) cp "$f" "$DIR/kernel/$(basename "$m").ko" ;;
		*) die "cannot decompress $f" ;;
		esac
	done
	rm -rf "$tmp"
	echo "$name" >"$stamp"
}

# Every module's dependencies must be loaded before it (modinfo, from kmod).
check_module_order() {
	local m dep loaded=" "
	command -v modinfo >/dev/null || return 0
	for m in "${MODULES[@]}"; do
		m=$(basename "$m")
		for dep in $(modinfo -F depends "$DIR/kernel/$m.ko" | tr ',' ' '); do
			case $loaded in
			*" $dep "*) ;;
			*) die "module $m needs $dep, which is not loaded before it" ;;
			esac
		done
		loaded="$loaded$m "
	done
}

# ---- busybox and firmware -------------------------------------------------------

unpack_busybox() {
	local deb=$1 tmp
	if [ -f "$DIR/busybox.from" ] && [ "$(cat "$DIR/busybox.from")" = "$(basename "$deb")" ] &&
		[ -x "$DIR/busybox" ]; then
		return
	fi
	tmp=$(mktemp -d "$DIR/busybox.XXXXXX")
	dpkg-deb -x "$deb" "$tmp"
	[ -x "$tmp/bin/busybox" ] || die "$(basename "$deb") has no bin/busybox"
	mv "$tmp/bin/busybox" "$DIR/busybox"
	rm -rf "$tmp"
	basename "$deb" >"$DIR/busybox.from"
}

# firmware FILE PKG DIRS...: copy FILE into share/ from the first of DIRS
# that has it, else from PKG's .deb.
firmware() {
	local file=$1 pkg=$2 d deb tmp
	shift 2
	for d in "$@"; do
		if [ -f "$d/$file" ]; then
			cmp -s "$d/$file" "$DIR/share/$file" || cp "$d/$file" "$DIR/share/$file"
			return
		fi
	done
	[ -f "$DIR/share/$file" ] && return
	deb=$(download "$pkg")
	tmp=$(mktemp -d "$DIR/fw.XXXXXX")
	dpkg-deb -x "$deb" "$tmp"
	d=$(find "$tmp" -name "$file" | head -1)
	[ -n "$d" ] || die "$(basename "$deb") has no $file"
	cp "$d" "$DIR/share/$file"
	rm -rf "$tmp"
}

# ---- the initramfs ----------------------------------------------------------------

write_init() {
	cat <<'INIT'
#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the nested-KVM harness's outer VM (tests/nested/mkinitrd.sh).
# Serial ports: ttyS0 console and command shell, ttyS1 the inner QEMU's
# QMP, ttyS2 (a pci-serial) the inner guest's console.  Prints one of
# NESTED-KVM-READY, NESTED-SKIP <why> or NESTED-FAIL <why> on ttyS0,
# then reads command lines from ttyS0 and evals them.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo 1 >/proc/sys/kernel/printk
stty -F /dev/ttyS0 raw -echo 2>/dev/null
exec </dev/ttyS0 >/dev/ttyS0 2>&1

stop() {
	echo "$1 $2"
	sync
	poweroff -f
}

echo "NESTED-BOOT kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) \
mem_kib=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
grep -qw svm /proc/cpuinfo || stop NESTED-SKIP "the outer VM's CPU has no svm flag"
# KVM built in (build-kernel.sh's kernel): /dev/kvm is there, nothing to load
if [ ! -c /dev/kvm ] && [ ! -f /lib/modules/kvm.ko ]; then
	stop NESTED-SKIP "no /dev/kvm, and no modules to load: KVM is built in but kvm_amd did not start; dmesg: $(dmesg | grep -iE 'kvm|svm' | tail -3 | tr '\n' ' ')"
fi
[ -c /dev/kvm ] || for m in irqbypass ccp kvm kvm-amd; do
	if ! err=$(insmod "/lib/modules/$m.ko" 2>&1); then
		msg=$(dmesg | tail -3 | tr '\n' ' ')
		case $m in
		kvm-amd) stop NESTED-SKIP "insmod kvm-amd failed: $err; dmesg: $msg" ;;
		*) stop NESTED-FAIL "insmod $m failed: $err; dmesg: $msg" ;;
		esac
	fi
done
[ -c /dev/kvm ] || stop NESTED-SKIP "/dev/kvm did not appear after loading kvm-amd"
for t in ttyS1 ttyS2; do
	[ -c /dev/$t ] || stop NESTED-FAIL "/dev/$t is missing (serial ports: $(ls /sys/class/tty | grep ttyS | tr '\n' ' '))"
done
case $(readlink /sys/class/tty/ttyS2/device) in
*0000:*) ;;
*) stop NESTED-FAIL "ttyS2 is not the pci-serial port: $(readlink /sys/class/tty/ttyS2/device)" ;;
esac
ver=$(/qemu/bin/qemu-system-x86_64 --version 2>&1 | head -1) ||
	stop NESTED-FAIL "the inner QEMU does not run: $ver"
echo "NESTED-KVM-READY kvm=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null) \
npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null) qemu=$ver"
# Each command line is "N MD5 BASE64": N numbers it, MD5 is the md5sum of
# BASE64, which decodes to the command.  Nothing is evaluated unless it
# checks out, so a damaged line cannot end this shell (PID 1): it gets
# __BAD_N_ and what arrived, and the host sends it again.  Lines do get
# damaged: busybox's read builtin drops what it has read of a line when a
# signal interrupts it (SIGCHLD from an adopted process, such as an inner
# QEMU whose last thread exits), and the next read returns the rest.
# A resent line whose first copy did run (N not above the last run) is
# skipped, so nothing runs twice.
last=0
while IFS=' ' read -r n sum b64 rest; do
	case $n in '' | *[!0-9]*) n=0 ;; esac
	if [ "$n" -eq 0 ] || [ -n "$rest" ] ||
		[ "$(printf '%s' "$b64" | md5sum | cut -d' ' -f1)" != "$sum" ]; then
		echo "__BAD_${n}_ ${#b64} base64 bytes: $(printf '%s %s %s %s' "$n" "$sum" "$b64" "$rest" | head -c 160)"
		continue
	fi
	[ "$n" -gt "$last" ] || continue
	last=$n
	(eval "$(printf '%s' "$b64" | base64 -d)") </dev/null 2>&1
	echo "__DONE_${n}_$?"
done
stop NESTED-EXIT "the command channel closed"
INIT
}

build_root() {
	local root=$1 lib
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules,qemu/bin,qemu/share/qemu}
	cp "$DIR/busybox" "$root/bin/busybox"
	write_init >"$root/init"
	chmod 755 "$root/init"
	if [ "$KERNEL" = debian ]; then
		for m in "${MODULES[@]}"; do
			cp "$DIR/kernel/$(basename "$m").ko" "$root/lib/modules/"
		done
	fi
	install_bin "$root" "$QEMU" /qemu/bin/qemu-system-x86_64
	[ -z "$QDAMO" ] || install_bin "$root" "$QDAMO" /qemu/bin/qdamo
	# util-linux's setpriv: runs the inner QEMU as another user from the
	# start, as libvirt does (busybox's setpriv cannot change the uid)
	install_bin "$root" "$SETPRIV" /qemu/bin/setpriv
	cp "$DIR/share/kvmvapic.bin" "$root/qemu/share/qemu/"
	cp "$FIRMWARE" "$root/workload.bin"
}

# libs_of BINARY...: the shared libraries and dynamic loader they load
libs_of() {
	local b
	for b in "$@"; do
		ldd "$b" | awk '/=> \// {print $3} /^\t\// {print $1}'
	done | sort -u
}

# install_bin ROOT BINARY DEST: a stripped copy of BINARY at DEST in the
# tree ROOT, and its shared libraries and the dynamic loader at their own
# paths
install_bin() {
	local root=$1 bin=$2 dest=$1$3 lib
	if command -v strip >/dev/null; then
		strip --strip-unneeded -o "$dest" "$bin"
	else
		cp "$bin" "$dest"
	fi
	for lib in $(libs_of "$bin"); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	# /lib64 is a symlink on merged-/usr hosts; make it a directory here
	[ -e "$root/lib64/ld-linux-x86-64.so.2" ] ||
		die "no dynamic loader in the initramfs (ldd $bin)"
}

# ---- main --------------------------------------------------------------------------

# ninja_target FILE WHAT: when FILE lies in a meson build directory (its
# path ends in WHAT there), have ninja bring it up to date; 1 if not in one
ninja_target() {
	local file=$1 what=$2 b
	b=${file%/"$what"}
	[ "$b" != "$file" ] && [ -f "$b/build.ninja" ] || return 1
	ninja -C "$b" "$what" >&2 || die "ninja -C $b $what failed"
}

# The firmware's own meson build directory (build, or $QDAMON_BUILD's)
# brings it up to date; without one, tests/guest/build.sh makes it.
if ! ninja_target "$FIRMWARE" tests/guest/workload.bin && [ ! -f "$FIRMWARE" ]; then
	"$top/tests/guest/build.sh" --out "$FIRMWARE" >&2
fi
[ -f "$FIRMWARE" ] || die "workload firmware not found: $FIRMWARE"

# qdamo: the default one only if its build directory builds it (meson
# leaves it out without libvirt-dev and json-glib)
case $QDAMO in
none) QDAMO="" ;;
default)
	QDAMO=$QDAMO_DEFAULT
	b=${QDAMO%/src/tools/qdamo/qdamo}
	if [ -f "$b/build.ninja" ] &&
		ninja -C "$b" -t targets all 2>/dev/null | grep -q '^src/tools/qdamo/qdamo:'; then
		ninja_target "$QDAMO" src/tools/qdamo/qdamo
	fi
	if [ ! -x "$QDAMO" ]; then
		log "no qdamo at $QDAMO: the initramfs has none"
		QDAMO=""
	fi
	;;
*)
	QDAMO=$(from_top "$QDAMO")
	ninja_target "$QDAMO" src/tools/qdamo/qdamo || true
	[ -x "$QDAMO" ] || die "qdamo not found: $QDAMO"
	;;
esac

if [ "$KERNEL" = debian ]; then
	kdeb=$(kernel_deb)
	unpack_kernel "$kdeb"
	check_module_order
	kernel_path=$DIR/kernel/vmlinuz
	kernel_release=$(cat "$DIR/kernel/release")
fi
unpack_busybox "$(download busybox-static)"
firmware bios-256k.bin seabios /usr/share/seabios /usr/share/qemu
firmware linuxboot_dma.bin qemu-system-data /usr/share/qemu /usr/share/seabios
firmware kvmvapic.bin qemu-system-data /usr/share/qemu /usr/share/seabios

# The inputs' checksums: QEMU changes often, the rest rarely.  The kernel
# is not in the initramfs, but the choice decides what is (the modules).
SETPRIV=$(command -v setpriv) || die "setpriv is missing (apt-get install util-linux)"
libs=$(libs_of "$QEMU" ${QDAMO:+"$QDAMO"} "$SETPRIV")
# shellcheck disable=SC2086,SC2046
stamp=$({
	echo "kernel=$KERNEL qdamo=${QDAMO:+yes}"
	write_init | sha256sum
	sha256sum "$QEMU" "$FIRMWARE" "$DIR/busybox" "$DIR/share/kvmvapic.bin" \
		${QDAMO:+"$QDAMO"} "$SETPRIV" "$0" | awk '{print $1}'
	[ "$KERNEL" != debian ] || sha256sum "$DIR"/kernel/*.ko | awk '{print $1}'
	sha256sum $(readlink -f $libs) | awk '{print $1}'
} | sha256sum | awk '{print $1}')

if [ -f "$INITRD" ] && [ -f "$DIR/initrd$SFX.stamp" ] &&
	[ "$(cat "$DIR/initrd$SFX.stamp")" = "$stamp" ] && [ -x "$ROOT/qemu/bin/qemu-system-x86_64" ]; then
	log "initramfs up to date ($(basename "$INITRD"))"
else
	log "building the initramfs ($(basename "$INITRD"), kernel $KERNEL)"
	rm -rf "$ROOT.new"
	build_root "$ROOT.new"
	(cd "$ROOT.new" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -1 >"$INITRD.new"
	rm -rf "$ROOT"
	mv "$ROOT.new" "$ROOT"
	mv "$INITRD.new" "$INITRD"
	echo "$stamp" >"$DIR/initrd$SFX.stamp"
	log "initramfs: $(du -h "$INITRD" | cut -f1) compressed"
fi

echo "kernel=$kernel_path"
echo "release=$kernel_release"
echo "initrd=$INITRD"
echo "share=$DIR/share"
echo "qemu=$ROOT/qemu/bin/qemu-system-x86_64"
echo "qdamo=${QDAMO:+$ROOT/qemu/bin/qdamo}"
