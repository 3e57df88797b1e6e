#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Build a kjresume test kernel from Debian's linux-source-VERSION with the
# patch series in kernel/patches/VERSION and kernel/config.fragment.
#
#   kernel/build.sh 6.1|6.12      build (or reuse) and print the output dir
#
# Output: $KJ_CACHE/kernel/VERSION-KEY/{bzImage,vmlinux,System.map,config}
# KEY hashes everything the result depends on (source package version,
# patches, fragment, this script), so a cache hit is always the right
# kernel. The build tree is kept in $KJ_CACHE/build/linux-VERSION and
# reused: only files the old and new series touch are re-extracted.
set -euo pipefail

ver=${1:?usage: build.sh 6.1|6.12}
here=$(cd "$(dirname "$0")" && pwd)
cache=${KJ_CACHE:-/var/cache/kjresume}
tarball=/usr/src/linux-source-$ver.tar.xz
patchdir=$here/patches/$ver
frag=$here/config.fragment
jobs=${KJ_JOBS:-$(nproc)}

log() { printf '[kernel %s] %s\n' "$ver" "$*" >&2; }

[ -r "$tarball" ] || { log "missing $tarball (apt-get install linux-source-$ver)"; exit 1; }
pkgver=$(dpkg-query -W -f '${Version}' "linux-source-$ver")

key=$( {
	echo "linux-source-$ver $pkgver"
	while read -r p; do echo "$p"; cat "$patchdir/$p"; done < "$patchdir/series"
	cat "$frag" "$0"
} | sha256sum | cut -c1-16)
out=$cache/kernel/$ver-$key

if [ -s "$out/bzImage" ]; then
	log "cached: $out"
	echo "$out"
	exit 0
fi

tree=$cache/build/linux-$ver
mkdir -p "$cache/build" "$cache/kernel"
touched=$(while read -r p; do sed -n 's|^+++ b/||p' "$patchdir/$p"; done < "$patchdir/series" | sort -u)

if [ ! -f "$tree/Makefile" ] || [ "$(cat "$tree/.kj-source" 2>/dev/null)" != "$pkgver" ]; then
	log "unpacking $tarball"
	rm -rf "$tree" "$cache/build/linux-source-$ver"
	tar -C "$cache/build" -xf "$tarball"
	mv "$cache/build/linux-source-$ver" "$tree"
	echo "$pkgver" > "$tree/.kj-source"
	: > "$tree/.kj-touched"
else
	# Put back pristine copies of everything the previous series touched
	restore=$(printf '%s\n%s\n' "$(cat "$tree/.kj-touched")" "$touched" | sort -u | sed '/^$/d')
	if [ -n "$restore" ]; then
		log "restoring pristine: $(echo $restore)"
		# shellcheck disable=SC2086
		tar -C "$tree" -xf "$tarball" --strip-components=1 \
			$(printf "linux-source-$ver/%s " $restore)
	fi
fi

while read -r p; do
	log "applying $p"
	patch -d "$tree" -p1 -s --no-backup-if-mismatch < "$patchdir/$p"
done < "$patchdir/series"
echo "$touched" > "$tree/.kj-touched"

log "configuring (tinyconfig + config.fragment)"
make -C "$tree" -s tinyconfig >/dev/null
"$tree/scripts/kconfig/merge_config.sh" -m -O "$tree" "$tree/.config" "$frag" >/dev/null
make -C "$tree" -s olddefconfig >/dev/null
missing=$(grep '=y$' "$frag" | while read -r l; do grep -qx "$l" "$tree/.config" || echo "${l%=y}"; done)
if [ -n "$missing" ]; then
	log "config symbols not set: $(echo $missing)"
	case " $(echo $missing) " in
	*" CONFIG_KEXEC_JUMP "*|*" CONFIG_CRASH_DUMP "*|*" CONFIG_PROC_VMCORE "*|*" CONFIG_EFI_STUB "*) exit 1 ;;
	esac
fi

log "building bzImage with -j$jobs (about 7 min from clean on 2 cores)"
start=$(date +%s)
if ! make -C "$tree" -j"$jobs" -s bzImage > "$tree/.kj-build.log" 2>&1; then
	tail -40 "$tree/.kj-build.log" >&2
	log "build FAILED (full log: $tree/.kj-build.log)"
	exit 1
fi
log "built in $(( $(date +%s) - start )) s"

tmp=$(mktemp -d "$cache/kernel/.tmp.XXXXXX")
cp "$tree/arch/x86/boot/bzImage" "$tree/vmlinux" "$tree/System.map" "$tmp/"
cp "$tree/.config" "$tmp/config"
rm -rf "$out"
mv "$tmp" "$out"
# Old outputs for this version are dead weight
find "$cache/kernel" -maxdepth 1 -name "$ver-*" ! -path "$out" -exec rm -rf {} +
echo "$out"
