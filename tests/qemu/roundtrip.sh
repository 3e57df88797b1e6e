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
start=$(date +%s)
kj_qemu "$name" "${KJ_TIMEOUT:-600}" -m "$mem" -smp "$smp" \
	-kernel "$kdir/bzImage" -initrd "$KJ_OUT/$ver/a.cpio.gz" \
	-append "console=ttyS0 panic=1 kjrole=A kjmib=$mib kjrounds=$rounds kjmemmax=$memmax ${KJ_APPEND:-}"
rc=$?
grep -a '^KJ-' "$KJ_OUT/$name.serial" | tr -d '\r'
if grep -aq "^KJ-RESULT PASS" "$KJ_OUT/$name.serial"; then
	kj_log "$name: PASS in $(( $(date +%s) - start )) s"
	exit 0
fi
kj_log "$name: FAIL (qemu exit $rc after $(( $(date +%s) - start )) s)"
kj_report "$name" "$kdir/System.map"
exit 1
