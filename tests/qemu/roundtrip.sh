#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kexec-jump round trip A -> B -> A under OVMF, on a patched kernel.
#
#   tests/qemu/roundtrip.sh VERSION SMP [ROUNDS] [MIB]
#
# A starts a workload (MIB MiB pattern + counter) and a tmpfs file, loads
# B confined to [0, KJ_MEMMAX] with --load-preserve-context and jumps.
# B checks /proc/vmcore's resume note and VMCOREINFO and jumps back. A
# proves its state survived. ROUNDS round trips, each with a fresh B.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ver=${1:?usage: roundtrip.sh VERSION SMP [ROUNDS] [MIB]}
smp=${2:?}
rounds=${3:-2}
mib=${4:-64}
mem=${KJ_MEM:-512M}
memmax=${KJ_MEMMAX:-0x5ffffff}
name=roundtrip-$ver-smp$smp

kdir=$("$KJ_ROOT/kernel/build.sh" "$ver") || exit 1
kj_build_initramfs "$kdir" "$KJ_OUT/$ver" || exit 1

kj_log "$name: A -> B -> A x$rounds, -smp $smp, -m $mem, ${mib} MiB workload"
disk=()
if [ -n "${KJ_SAVE:-}" ]; then
	# B saves A's memory with kjsave to this disk; checked below
	rm -f "$KJ_OUT/$name.disk"
	truncate -s 768M "$KJ_OUT/$name.disk"
	disk=(-drive file="$KJ_OUT/$name.disk",format=raw,if=virtio)
	KJ_APPEND="${KJ_APPEND:-} kjsave=$KJ_SAVE"
fi
start=$(date +%s)
if [ -n "${KJ_SHOW:-}" ]; then
	# Follow the run live: the harness's lines and the kernels' kexec lines
	: > "$KJ_OUT/$name.serial"
	tail -F "$KJ_OUT/$name.serial" 2>/dev/null | tr -d '\r' |
		grep --line-buffered -a '^KJ-\|Linux version\|kexec\|Run /init' &
	follow=$!
fi
kj_qemu "$name" "${KJ_TIMEOUT:-600}" -m "$mem" -smp "$smp" \
	"${disk[@]}" -kernel "$kdir/bzImage" -initrd "$KJ_OUT/$ver/a.cpio.gz" \
	-append "console=ttyS0 panic=1 kjrole=A kjmib=$mib kjrounds=$rounds kjmemmax=$memmax ${KJ_APPEND:-}"
rc=$?
if [ -n "${KJ_SHOW:-}" ]; then
	sleep 1; kill "$follow" 2>/dev/null; pkill -f "tail -F $KJ_OUT/$name.serial" 2>/dev/null
else
	grep -a '^KJ-' "$KJ_OUT/$name.serial" | tr -d '\r'
fi
saved_ok() {
	[ -n "${KJ_SAVE:-}" ] || return 0
	local entry
	entry=$(tr -d '\r' < "$KJ_OUT/$name.serial" | sed -n 's/^KJ-ENTRY //p' | tail -n1)
	"$KJ_ROOT/build/tools/kjimage" verify "$KJ_OUT/$name.disk" || return 1
	"$KJ_ROOT/build/tools/kjimage" info "$KJ_OUT/$name.disk" > "$KJ_OUT/$name.info" || return 1
	grep -i "entry" "$KJ_OUT/$name.info" | head -n1
	grep -qi "entry.*$entry" "$KJ_OUT/$name.info" || { echo "image entry differs from B's $entry"; return 1; }
}
if grep -aq "^KJ-RESULT PASS" "$KJ_OUT/$name.serial" && saved_ok; then
	kj_log "$name: PASS in $(( $(date +%s) - start )) s"
	exit 0
fi
kj_log "$name: FAIL (qemu exit $rc after $(( $(date +%s) - start )) s)"
kj_report "$name" "$kdir/System.map"
exit 1
