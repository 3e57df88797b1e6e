#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make demo`: a full hibernate and resume, shown live.
#
# Boot 1: kernel A (Linux 6.12, patched) starts a workload (a process with
# a 256 MiB pattern, a tmpfs file, a counter) and hibernates: it kexec-
# jumps into B, which saves A's memory with kjsave (progress shown) to the
# GPT partition "kjresume" and powers the VM off. Boot 2: a new QEMU of
# the same disk, no kernel given: OVMF starts kjresume.efi, which reads
# and verifies the image (progress bar, timings), puts every page back
# and jumps into A, which proves its workload, file and counter survived.
# Boot 3: the loader refuses the now consumed image.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ver=${KJ_DEMO_KERNEL:-6.12}
echo "== kjresume demo: hibernate Linux $ver in QEMU/OVMF, resume it from the firmware"
echo "== building (or reusing) the patched kernel; the first build takes ~10 min"
kdir=$("$KJ_ROOT/kernel/build.sh" "$ver") || exit 1
echo "== kernel: $kdir"
echo "== guest lines follow (KJ-A: kernel A, KJ-B: kernel B, kjresume: the loader)"
# kjsave's default form (LZ4), as kjhibernate would save it
if KJ_SHOW=1 KJ_LEVEL=${KJ_LEVEL:-lz4} "$KJ_ROOT/tests/qemu/hibernate.sh" "$ver" 2 256; then
	echo "== demo OK: A hibernated, was resumed by kjresume.efi from a fresh"
	echo "== firmware boot with its state intact, and the image was used once"
	echo "== serial logs: $KJ_OUT/hib-$ver-*.serial"
	exit 0
fi
echo "== demo FAILED (serial logs: $KJ_OUT/hib-$ver-*.serial)"
exit 1
