#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages kjresume needs to build and test, and
# unpack the Debian sources of zlib and libfdt that kjresume.efi is linked
# with (efi/libs.mk builds them with the EFI flags) into
# ${KJ_CACHE:-/var/cache/kjresume}/src, reached through the stable links
# src/zlib and src/dtc. libfdt's own source package (device-tree-compiler)
# is preferred; where the archive does not serve it, the identical libfdt
# 1.6.1 copy inside Debian's qemu source is used (see dtc_from_qemu).
# Idempotent: asks apt only when something is missing.
set -euo pipefail

cache=${KJ_CACHE:-/var/cache/kjresume}
srcdir=$cache/src

pkgs=(
	# build
	build-essential clang lld gnu-efi libfdt-dev zlib1g-dev
	# host unit tests: the reference LZ4 to check elfimg/lz4*.c against
	liblz4-dev
	# apt-get source (the EFI builds of zlib and libfdt)
	dpkg-dev
	# kernels (kernel/build.sh)
	linux-source-6.1 linux-source-6.12 bc bison flex libelf-dev libssl-dev
	cpio xz-utils
	# end-to-end tests
	qemu-system-x86 ovmf kexec-tools busybox-static mtools dosfstools
	gdisk e2fsprogs
	gnuplot-nox swtpm  # tests/bench/resume.sh: the plot; the VM's TPM
	# boot integration tests (tests/qemu/grub.sh): Debian's GRUB EFI, grub-editenv, efibootmgr
	grub-efi-amd64-bin grub-common efibootmgr
)

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: $1; run as root or do it by hand" >&2
		exit 1
	fi
}

# Run quietly; show the output only when the command fails.
quiet() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	[ $rc -eq 0 ] || { tail -n 30 "$log" >&2; echo "setup: failed: $*" >&2; }
	rm -f "$log"
	return $rc
}

export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all ${#pkgs[@]} required Debian packages are installed"
else
	need_root "missing packages: ${missing[*]}"
	echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
	quiet apt-get update -q
	quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
	echo "setup: done"
fi

# --- Debian sources of zlib and libfdt for the EFI build -------------------
# $srcdir/zlib -> zlib-VERSION/, $srcdir/dtc -> a tree with libfdt/ in it.
# A tree counts only if the files efi/libs.mk needs are there.
have_zlib() { [ -f "$srcdir/zlib/inflate.c" ] && [ -f "$srcdir/zlib/zlib.h" ]; }
have_dtc() { [ -f "$srcdir/dtc/libfdt/fdt_check.c" ] && [ -f "$srcdir/dtc/libfdt/libfdt_env.h" ]; }
have_zlib && have_dtc && exit 0

# Is deb-src enabled in any apt source (one-line or deb822 format)?
debsrc_enabled() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && grep -Eq '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# any deb-src stanza not switched off with "Enabled: no"
		awk 'BEGIN { RS = ""; IGNORECASE = 1; found = 0 }
		     /(^|\n)Types:[^\n]*deb-src/ && !/(^|\n)Enabled:[[:space:]]*no/ { found = 1 }
		     END { exit !found }' "$f" && return 0
	done
	return 1
}

need_root "Debian sources of zlib/libfdt missing in $srcdir"
list=/etc/apt/sources.list.d/kjresume-src.sources
if ! debsrc_enabled; then
	# The image's own deb822 Debian entries (same URIs, suites, keys) as
	# deb-src; otherwise the standard Debian 12 ones.
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		{ sed -E 's/^Types:.*/Types: deb-src/I' \
			/etc/apt/sources.list.d/debian.sources; echo; } > "$list"
	else
		cat > "$list" <<-EOF
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb-src
		URIs: http://deb.debian.org/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
	fi
	echo "setup: enabled Debian source packages ($list)"
fi

mkdir -p "$srcdir"
quiet apt-get update -q
tmp=$(mktemp -d "$srcdir/.get.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# put_tree DIR NAME: move DIR into $srcdir and point $srcdir/NAME at it
put_tree() {
	local base
	base=$(basename "$1")
	rm -rf "${srcdir:?}/$base"
	mv "$1" "$srcdir/$base"
	ln -sfn "$base" "$srcdir/$2"
}

# apt-get source unpacks SOURCE-UPSTREAMVERSION/ with Debian's patches
# applied; print that directory.
unpacked() {
	find "$tmp" -mindepth 1 -maxdepth 1 -type d -name "$1-*" | sort | tail -n 1
}

# src_get PKG [OPTION...]: apt-get source PKG into $tmp, quietly. The
# newest version first; a mirror that does not serve it (seen: 404 for
# the security pool's zlib) gets asked for each older one it lists.
src_get() {
	local pkg=$1 v log=$tmp/src-get.log; shift
	(cd "$tmp" && apt-get source -q "$@" "$pkg") >"$log" 2>&1 && return 0
	for v in $(apt-cache showsrc "$pkg" | sed -n 's/^Version: //p' | sort -uVr | tail -n +2); do
		echo "setup: $pkg: the newest source is not served; trying $v"
		(cd "$tmp" && apt-get source -q "$@" "$pkg=$v") >"$log" 2>&1 && return 0
	done
	tail -n 30 "$log" >&2
	echo "setup: failed: apt-get source $* $pkg" >&2
	return 1
}

if ! have_zlib; then
	echo "setup: fetching Debian's zlib source into $srcdir"
	src_get zlib || exit 1
	tree=$(unpacked zlib)
	[ -n "$tree" ] || { echo "setup: apt-get source zlib unpacked nothing" >&2; exit 1; }
	put_tree "$tree" zlib
fi

# libfdt comes from the source package device-tree-compiler (upstream dtc).
# Where the archive does not serve that package's files, take the copy of
# libfdt that Debian's qemu source carries (roms/opensbi/lib/utils/libfdt:
# the same dtc 1.6.1 files as Debian 12's device-tree-compiler, except
# libfdt_env.h, which OpenSBI rewrote: that one is taken from Debian's
# libfdt-dev). Its public headers must equal libfdt-dev's, byte for byte,
# so the EFI libfdt is the same version as the host's.
dtc_from_qemu() {
	local orig sub="roms/opensbi/lib/utils/libfdt" d out h
	echo "setup: device-tree-compiler's source is not available; taking libfdt from Debian's qemu source"
	src_get qemu --download-only || return 1
	orig=$(find "$tmp" -maxdepth 1 -name 'qemu_*.orig.tar.*' | sort | tail -n 1)
	[ -n "$orig" ] || { echo "setup: no qemu orig tarball" >&2; return 1; }
	d=$tmp/qemu-x
	mkdir -p "$d"
	tar -xf "$orig" -C "$d" --wildcards "*/$sub/*" || return 1
	out=$tmp/libfdt-$(basename "$orig" | sed -E 's/^qemu_([^.]+(\.[^.]+)*)\.orig\.tar\..*/qemu-\1/')
	mkdir -p "$out/libfdt"
	cp "$d"/*/"$sub"/*.[ch] "$out/libfdt/"
	cp /usr/include/libfdt_env.h "$out/libfdt/libfdt_env.h"
	for h in libfdt.h fdt.h; do
		cmp -s "$out/libfdt/$h" "/usr/include/$h" || {
			echo "setup: $h in $(basename "$orig") differs from libfdt-dev's" >&2
			return 1
		}
	done
	cat > "$out/SOURCE" <<-EOF
	libfdt/*.c, libfdt.h, fdt.h, libfdt_internal.h: $(basename "$orig"),
	  $sub (Debian source package qemu)
	libfdt/libfdt_env.h: /usr/include/libfdt_env.h from libfdt-dev
	  $(dpkg-query -W -f '${Version}' libfdt-dev) (source package device-tree-compiler)
	EOF
	put_tree "$out" dtc
}

if ! have_dtc; then
	echo "setup: fetching Debian's libfdt source (device-tree-compiler) into $srcdir"
	if src_get device-tree-compiler 2>/dev/null &&
		tree=$(unpacked device-tree-compiler) && [ -n "$tree" ]; then
		put_tree "$tree" dtc
	else
		dtc_from_qemu || exit 1
	fi
fi

have_zlib && have_dtc || { echo "setup: $srcdir/zlib or $srcdir/dtc is incomplete" >&2; exit 1; }
echo "setup: sources ready: $srcdir/$(readlink "$srcdir/zlib") $srcdir/$(readlink "$srcdir/dtc")"
