#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-qemu.sh - build qemu-system-x86_64 with qdamon built in.
#
# Steps, each skipped when its result is already there and up to date:
#   1. install the build dependencies (apt, through scripts/apt-lib.sh;
#      meson >= 1.5 from bookworm-backports; scripts/setup.sh runs this
#      step alone with --deps);
#   2. fetch Debian's trixie source package "qemu", at the version in
#      qemu-patches/QEMU_VERSION (the only place it is recorded), into
#      _work/ (adding a deb-src source for trixie to apt when it has
#      none);
#   3. unpack it with dpkg-source -x (Debian's own patches applied);
#   4. apply qemu-patches/series with patch -p1;
#   5. link this repository in as _work/qemu-src/qdamon, plus the two
#      files QEMU's build wants at fixed paths (qapi/damon.json and, once
#      it exists, tests/qtest/damon-test.c); nothing is copied;
#   6. configure into _work/qemu-build (with ccache) and build with ninja.
#
# Steps 3-4 build a fresh tree whenever QEMU_VERSION, the series or a
# patch changes, and copy into _work/qemu-src only the files whose
# content differs, so the following build stays incremental.
#
# _work/ is git-ignored: no QEMU source or build output is committed.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/apt-lib.sh
. "$ROOT/scripts/apt-lib.sh"

WORK=$ROOT/_work
SRC=$WORK/qemu-src
BUILD=$WORK/qemu-build
PATCHES=$ROOT/qemu-patches
VERSION_FILE=$PATCHES/QEMU_VERSION
SERIES=$PATCHES/series

CONFIGURE_ARGS=(
    --cc="ccache cc"
    --python=/usr/bin/python3
    --disable-install-blobs
    --disable-rust
    --target-list=x86_64-softmmu
    --without-default-features
    --enable-kvm
    --enable-tcg
    --enable-fdt=system
)

# What the configuration above needs, checked by building on Debian 12:
# a C compiler, ninja, pkg-config, python3-venv (configure's pyvenv),
# GLib, zlib and libfdt.  pixman, flex and bison are not needed with
# --without-default-features, nor is pycotap (Debian's
# disable-pycotap.patch drops it).  The rest serves this script
# (dpkg-source, xz, rsync, ccache), and seabios serves -L at run time.
APT_PACKAGES=(
    build-essential ninja-build pkg-config python3-venv
    libglib2.0-dev zlib1g-dev libfdt-dev
    dpkg-dev xz-utils rsync ccache
    seabios
)
MESON_MIN=1.5.0     # QEMU 10.0's pythondeps.toml; bookworm has 1.0

usage()
{
    cat <<EOF
Usage: scripts/build-qemu.sh [--qtests] [--asan|--tsan] [--clean] [--deps] [--help]

Build _work/qemu-build/qemu-system-x86_64 from Debian's trixie qemu
source package ($(qemu_version_spec 2>/dev/null || echo '?')) with
qemu-patches/series applied and qdamon built in, and print its path.
Re-runs redo only what changed.

  --qtests  also build the qtests qdamon needs: qmp-cmd-test (it calls
            every query-* command, query-damon included) and, once
            tests/qtest/damon-test.c exists, damon-test
  --asan    build into _work/qemu-build-asan with AddressSanitizer and
            UBSan (--enable-asan --enable-ubsan) instead
  --tsan    build into _work/qemu-build-tsan with ThreadSanitizer
            (--enable-tsan) instead; Debian 12's gcc 12 has the fiber
            interface QEMU's coroutines need (__tsan_create_fiber, in
            libtsan2 from build-essential).  Run it under
            setarch \$(uname -m) -R with TSAN_OPTIONS naming QEMU's
            tests/tsan/suppressions.tsan (docs/notes/sanitizers.md)
  --clean   delete _work/qemu-src and _work/qemu-build and exit; the
            downloaded source package in _work/ is kept
  --deps    only install the build dependencies (step 1), and exit
  --print-packages
            print "build-qemu.sh PACKAGE" for each package step 1
            installs by name, and exit
  --help    show this text

Run the result with -L /usr/share/seabios (Debian's source package has
no firmware blobs).
EOF
}

log()
{
    printf '==> %s\n' "$*" >&2
}

die()
{
    printf 'build-qemu.sh: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# 1. Dependencies

install_deps()
{
    install_missing --no-install-recommends "${APT_PACKAGES[@]}"
    ensure_meson "$MESON_MIN" || die "no meson >= $MESON_MIN"
}

# ---------------------------------------------------------------------------
# 2. The source package

# The version line of qemu-patches/QEMU_VERSION: an exact Debian version
# or a shell pattern such as 1:10.0.*.
qemu_version_spec()
{
    local spec
    [ -f "$VERSION_FILE" ] || die "$VERSION_FILE is missing"
    spec=$(awk '{ sub(/#.*/, ""); gsub(/[[:space:]]/, "") } NF { print; exit }' \
        "$VERSION_FILE")
    [ -n "$spec" ] || die "$VERSION_FILE names no version"
    printf '%s\n' "$spec"
}

# Versions of source package qemu that apt can fetch, one per line.
served_versions()
{
    apt-cache showsrc --only-source qemu 2>/dev/null |
        sed -n 's/^Version: //p' | sort -u
}

is_served()
{
    served_versions | grep -xF "$1" >/dev/null
}

ensure_deb_src()
{
    add_source deb-src trixie "for QEMU's source package"
    if [ -z "$(served_versions)" ]; then
        apt_update_once
    fi
}

# newest_matching PATTERN: the newest served version matching PATTERN.
newest_matching()
{
    local v best=
    while read -r v; do
        # shellcheck disable=SC2053  # $1 is a pattern on purpose
        if [[ $v == $1 ]] &&
           { [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; }; then
            best=$v
        fi
    done < <(served_versions)
    printf '%s\n' "$best"
}

not_served()
{
    die "QEMU source version '$1' (from $VERSION_FILE) is not served by the
configured deb-src entries (trixie).  Versions available now:
$(served_versions | sed 's/^/    /')
Update qemu-patches/QEMU_VERSION (an exact version, or a pattern such as
1:10.0.*) and check that qemu-patches/series still applies."
}

# Sets QEMU_VERSION (exact) and DSC; downloads the package when needed.
fetch_source()
{
    local spec
    spec=$(qemu_version_spec)

    if [[ $spec == *[*?[]* ]]; then
        ensure_deb_src
        QEMU_VERSION=$(newest_matching "$spec")
        [ -n "$QEMU_VERSION" ] || not_served "$spec"
    else
        QEMU_VERSION=$spec
    fi
    DSC=$WORK/qemu_${QEMU_VERSION#*:}.dsc
    [ -f "$DSC" ] && return 0

    ensure_deb_src
    if ! is_served "$QEMU_VERSION"; then
        apt_update_once
        is_served "$QEMU_VERSION" || not_served "$QEMU_VERSION"
    fi
    log "fetching source package qemu=$QEMU_VERSION into _work/"
    mkdir -p "$WORK"
    (cd "$WORK" && apt-get source -q --download-only "qemu=$QEMU_VERSION" >&2)
    [ -f "$DSC" ] || die "apt-get source did not produce $DSC"
}

# ---------------------------------------------------------------------------
# 3-4. Unpack and patch

# Patch file names from the series file, in order.
series_patches()
{
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$SERIES"
}

# What the patched tree is made from; its hash is the tree's stamp.
tree_key()
{
    local p
    printf 'version %s\n' "$QEMU_VERSION"
    while read -r p; do
        printf 'patch %s %s\n' "$p" "$(sha256sum < "$PATCHES/$p" | cut -d' ' -f1)"
    done < <(series_patches)
}

# Files this script adds to the tree; the sync leaves them alone.
# qdamon's qtests, each tests/qtest/NAME.c here (0003-qdamon-qtest.patch)
QDAMON_QTESTS=(damon-test damon-schemes-test)
OUR_LINKS=(qdamon qapi/damon.json)
for t in "${QDAMON_QTESTS[@]}"; do OUR_LINKS+=("tests/qtest/$t.c"); done

prepare_tree()
{
    local key stamp=$SRC/.qdamon-tree new=$WORK/qemu-src.new p ex=()

    [ -f "$SERIES" ] || die "qemu-patches/series is missing"
    while read -r p; do
        [ -f "$PATCHES/$p" ] || die "qemu-patches/series names a missing patch: $p"
    done < <(series_patches)
    key=$(tree_key | sha256sum | cut -d' ' -f1)
    if [ -d "$SRC" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
        return 0
    fi

    log "unpacking $(basename "$DSC") and applying qemu-patches/series"
    rm -rf "$new"
    dpkg-source -q -x "$DSC" "$new" >&2
    while read -r p; do
        log "  patch -p1 < qemu-patches/$p"
        patch -d "$new" -p1 --batch --forward --no-backup-if-mismatch \
            --quiet < "$PATCHES/$p" >&2 ||
            die "qemu-patches/$p does not apply to qemu $QEMU_VERSION"
    done < <(series_patches)

    if [ -d "$SRC" ]; then
        # Copy only files whose content changed, so that unchanged files
        # keep their modification times and ninja rebuilds only what
        # the new tree really changes.
        log "updating _work/qemu-src (changed files only)"
        rm -f "$stamp"
        for p in "${OUR_LINKS[@]}"; do
            ex+=(--exclude="/$p")
        done
        rsync -rlpc --delete "${ex[@]}" "$new/" "$SRC/"
        rm -rf "$new"
    else
        mv "$new" "$SRC"
    fi
    printf '%s\n' "$key" > "$stamp"
}

# ---------------------------------------------------------------------------
# 5. Link qdamon in

# link_to LINK TARGET: make symlink LINK point to TARGET (relative).
link_to()
{
    if [ "$(readlink "$1" 2>/dev/null)" != "$2" ]; then
        ln -sfn "$2" "$1"
    fi
}

# link_qtest NAME: tests/qtest/NAME.c links to ours while we have it.
link_qtest()
{
    local qtest=$SRC/tests/qtest/$1.c had_qtest=false

    # meson decides at configure time whether the qtest exists (see
    # 0003-qdamon-qtest.patch): make it look again when that changes.
    [ -L "$qtest" ] && had_qtest=true
    if [ -f "$ROOT/tests/qtest/$1.c" ]; then
        link_to "$qtest" "../../qdamon/tests/qtest/$1.c"
        $had_qtest || touch "$SRC/tests/qtest/meson.build"
    elif $had_qtest; then
        rm -f "$qtest"
        touch "$SRC/tests/qtest/meson.build"
    fi
}

link_qdamon()
{
    local t

    [ -f "$ROOT/src/qemu/meson.build" ] ||
        die "src/qemu/meson.build is missing (0001-qdamon-build-wiring.patch enters it)"
    [ -f "$ROOT/qmp/damon.json" ] ||
        die "qmp/damon.json is missing (0002-qdamon-qapi-schema.patch includes it)"

    link_to "$SRC/qdamon" "$(realpath --relative-to="$SRC" "$ROOT")"
    link_to "$SRC/qapi/damon.json" ../qdamon/qmp/damon.json
    for t in "${QDAMON_QTESTS[@]}"; do
        link_qtest "$t"
    done
}

# ---------------------------------------------------------------------------
# 6. Configure and build

configure_qemu()
{
    local key stamp=$BUILD/.qdamon-configure

    key=$(printf '%s\n' "qemu $QEMU_VERSION" "${CONFIGURE_ARGS[@]}")
    if [ -f "$BUILD/build.ninja" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
        return 0
    fi
    log "configuring ${BUILD#"$ROOT"/}"
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    (cd "$BUILD" && "$SRC/configure" "${CONFIGURE_ARGS[@]}" >&2) ||
        die "configure failed; see $BUILD/meson-logs/meson-log.txt"
    printf '%s\n' "$key" > "$stamp"
}

build_qemu()
{
    local targets=(qemu-system-x86_64)

    if $WANT_QTESTS; then
        targets+=(tests/qtest/qmp-cmd-test)
        for t in "${QDAMON_QTESTS[@]}"; do
            [ -L "$SRC/tests/qtest/$t.c" ] && targets+=("tests/qtest/$t")
        done
    fi
    log "ninja ${targets[*]}"
    ninja -C "$BUILD" "${targets[@]}" >&2
}

# ---------------------------------------------------------------------------

WANT_QTESTS=false
for arg in "$@"; do
    case $arg in
    --asan)
        # a second build with AddressSanitizer and UBSan, for the qtests
        BUILD=$WORK/qemu-build-asan
        CONFIGURE_ARGS+=(--enable-asan --enable-ubsan)
        ;;
    --tsan)
        # a third build with ThreadSanitizer (QEMU rejects it combined
        # with the other sanitizers), for tests/e2e/churn.py
        BUILD=$WORK/qemu-build-tsan
        CONFIGURE_ARGS+=(--enable-tsan)
        ;;
    esac
done
case " $* " in
*" --asan "*" --tsan "*|*" --tsan "*" --asan "*)
    die "--asan and --tsan are separate builds: give one" ;;
esac
for arg in "$@"; do
    case $arg in
    --help|-h)
        usage
        exit 0
        ;;
    --qtests)
        WANT_QTESTS=true
        ;;
    --asan|--tsan)
        ;;
    --deps)
        install_deps
        exit 0
        ;;
    --print-packages)
        printf 'build-qemu.sh %s\n' "${APT_PACKAGES[@]}" meson
        exit 0
        ;;
    --clean)
        log "removing _work/qemu-src and the build directories"
        rm -rf "$SRC" "$SRC.new" "$WORK/qemu-build" "$WORK/qemu-build-asan" \
            "$WORK/qemu-build-tsan"
        exit 0
        ;;
    *)
        usage >&2
        die "unknown option: $arg"
        ;;
    esac
done

# One run at a time: the tree and the build directory are shared.
mkdir -p "$WORK"
# one lock per build directory, so the ASan and TSan builds can run beside the plain one
exec 9> "$BUILD.lock"
if ! flock -n 9; then
    log "waiting for another build-qemu.sh to finish"
    flock 9
fi

install_deps
fetch_source
prepare_tree
link_qdamon
configure_qemu
build_qemu

if $WANT_QTESTS; then
    log "run a qtest with: cd _work/qemu-build &&" \
        "QTEST_QEMU_BINARY=./qemu-system-x86_64 tests/qtest/qmp-cmd-test"
fi
log "built qemu $QEMU_VERSION; run it with -L /usr/share/seabios"
printf '%s\n' "$BUILD/qemu-system-x86_64"
