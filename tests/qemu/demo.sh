#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make demo`: until the resume loader lands, the demo is the kexec-jump
# round trip that hibernation is built on, shown live: kernel A (Linux
# 6.12, patched) runs a workload, jumps into B, B finds the resume note in
# /proc/vmcore and jumps back, and A proves its memory, files and running
# processes survived, twice.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ver=${KJ_DEMO_KERNEL:-6.12}
echo "== kjresume demo: kexec-jump round trip on Linux $ver under QEMU/OVMF"
echo "== building (or reusing) the patched kernel; the first build takes ~7 min"
kdir=$("$KJ_ROOT/kernel/build.sh" "$ver") || exit 1
echo "== kernel: $kdir"
echo "== lines from the guest follow (KJ-A: kernel A, KJ-B: kernel B)"
if KJ_SHOW=1 "$KJ_ROOT/tests/qemu/roundtrip.sh" "$ver" 2 2; then
	echo "== demo OK: A survived two round trips through B"
	echo "== full serial log: $KJ_OUT/roundtrip-$ver-smp2.serial"
	exit 0
fi
echo "== demo FAILED"
exit 1
