#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build.sh - build the workload guest (a 64 KiB -bios image) without meson.
#
# tests/guest/meson.build runs this same script, so both builds are one.
# Needs only gcc and binutils: -m32 objects are linked with "ld -m
# elf_i386" and no libc or libgcc, so gcc-multilib is not required.
#
# Environment: GUEST_CC (default gcc), GUEST_LD (ld), GUEST_OBJCOPY
# (objcopy).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

CC=${GUEST_CC:-gcc}
LD=${GUEST_LD:-ld}
OBJCOPY=${GUEST_OBJCOPY:-objcopy}

IMAGE_SIZE=65536
SOURCES=(entry.S console.c config.c fw_cfg.c libc.c trap.c workload.c)
CFLAGS=(
    -m32 -march=i686 -std=gnu11 -O2 -g
    -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie
    -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables
    -fcf-protection=none -mgeneral-regs-only -fno-tree-loop-distribute-patterns
    -fno-common -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes
)

usage()
{
    cat <<EOF
Usage: tests/guest/build.sh [--out FILE] [--elf FILE] [--check] [--help]

Build the qdamon workload guest, a 64 KiB firmware image for
"qemu-system-x86_64 -bios FILE".

  --out FILE  the image (default: build/tests/guest/workload.bin, where
              meson puts it too)
  --elf FILE  also keep the linked ELF, with symbols, for gdb/objdump
  --check     only check that the toolchain can build i386 code; exit
              0 if it can
  --help      show this text
EOF
}

die()
{
    printf 'tests/guest/build.sh: error: %s\n' "$*" >&2
    exit 1
}

OUT=$ROOT/build/tests/guest/workload.bin
ELF=
CHECK=false
while [ $# -gt 0 ]; do
    case $1 in
    --out) OUT=${2:?--out needs a file}; shift 2 ;;
    --elf) ELF=${2:?--elf needs a file}; shift 2 ;;
    --check) CHECK=true; shift ;;
    --help|-h) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Can this toolchain make and link i386 freestanding code?
printf 'int f(void);\nint f(void) { return 1; }\n' > "$TMP/probe.c"
if ! "$CC" "${CFLAGS[@]}" -c "$TMP/probe.c" -o "$TMP/probe.o" 2>"$TMP/probe.log" ||
   ! "$LD" -m elf_i386 -e f "$TMP/probe.o" -o "$TMP/probe.elf" 2>>"$TMP/probe.log"; then
    cat "$TMP/probe.log" >&2
    die "$CC/$LD cannot build i386 freestanding code (-m32, ld -m elf_i386)"
fi
$CHECK && exit 0

objs=()
for src in "${SOURCES[@]}"; do
    obj=$TMP/${src%.*}.o
    "$CC" "${CFLAGS[@]}" -c "$HERE/$src" -o "$obj"
    objs+=("$obj")
done
"$LD" -m elf_i386 -nostdlib -static -T "$HERE/workload.ld" \
    -Map "$TMP/workload.map" -o "$TMP/workload.elf" "${objs[@]}"
"$OBJCOPY" -O binary -R .bss --gap-fill 0xff "$TMP/workload.elf" "$TMP/workload.bin"

size=$(stat -c %s "$TMP/workload.bin")
[ "$size" -eq "$IMAGE_SIZE" ] ||
    die "workload.bin is $size bytes, not $IMAGE_SIZE (see the link map)"
# The reset vector (image offset 0xfff0) must be a near jmp (0xe9).
reset=$(od -An -tx1 -j 65520 -N1 "$TMP/workload.bin" | tr -d ' ')
[ "$reset" = e9 ] || die "byte at the reset vector is 0x$reset, not a jmp (0xe9)"

mkdir -p "$(dirname "$OUT")"
mv "$TMP/workload.bin" "$OUT"
if [ -n "$ELF" ]; then
    mkdir -p "$(dirname "$ELF")"
    mv "$TMP/workload.elf" "$ELF"
fi
