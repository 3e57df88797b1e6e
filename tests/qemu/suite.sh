# SPDX-License-Identifier: MIT
# The QEMU part of `make check`, sourced by tests/run.sh (uses run_step).
#
# Hibernate/resume cases cover every value of each dimension at least
# once (Linux 6.1/6.12, -smp 1/2, 512 MiB/3 GiB with RAM above 4 GiB,
# zlib/LZ4/raw image, raw partition/ESP file/ext4 file, 1 and 3 cycles), not the cross
# product; `make check-full` runs more combinations.
# shellcheck shell=bash

qemu_suite() {
	run_step "kjresume.efi starts under OVMF" tests/qemu/efi-smoke.sh
	run_step "round trip x2 (B jumps back), Linux 6.1, -smp 2" \
		tests/qemu/roundtrip.sh 6.1 2 2
	run_step "round trip x2 (B jumps back), Linux 6.12, -smp 1" \
		tests/qemu/roundtrip.sh 6.12 1 2
	run_step "round trip x2, Linux 6.12, -smp 2, Intel CPU: offline CPUs park in MWAIT (patch 0007 kicks A's to HLT; B has no MWAIT)" \
		env KJ_CPU=max,vendor=GenuineIntel tests/qemu/roundtrip.sh 6.12 2 2
	run_step "a crash in the round trip is reported with its exceptions" \
		tests/qemu/crash-report.sh 6.12
	run_step "hibernate/resume x3, 6.1, -smp 1, zlib image on a partition; refusals: flipped byte, lost tail, more RAM" \
		env KJ_CYCLES=3 tests/qemu/hibernate.sh 6.1 1 256 flip truncate ramsize
	run_step "hibernate/resume, 6.12, -smp 2, raw image file on the ESP with CRC32 chunk checks (kjsave --crc32); refusal: truncated file" \
		env KJ_TARGET=esp KJ_LEVEL=0 KJ_SAVEOPT=--crc32 tests/qemu/hibernate.sh 6.12 2 256 truncate
	run_step "hibernate/resume, 6.12, -smp 1, 3 GiB (RAM above 4 GiB), A with init_on_free=1 (free pages restored as zeros), A undoes its own kexec swap (kjsave --keep-swap), the stub re-checks every page (loader check-all)" \
		env KJ_MEM=3072M KJ_APPEND=init_on_free=1 KJ_SAVEOPT=--keep-swap KJ_LOADOPT=check-all tests/qemu/hibernate.sh 6.12 1 256
	run_step "hibernate/resume, 6.12, -smp 1, LZ4 image (kjsave --lz4) file on ext4 read through its extents; refusal: more RAM" \
		env KJ_TARGET=ext4 KJ_SAVEOPT=--lz4 tests/qemu/hibernate.sh 6.12 1 64 ramsize
	run_step "boot integration with real GRUB: menu, installer, fallback, discard, kjhibernate, resume, BootNext" \
		tests/qemu/grub.sh 6.12
}

# More combinations (make check-full): both kernels x both -smp x both
# image forms x both targets.
qemu_suite_full() {
	qemu_suite
	run_step "hibernate/resume, 6.12, -smp 2, 6 GiB, 1 GiB workload" \
		env KJ_MEM=6144M tests/qemu/hibernate.sh 6.12 2 1024
	local v smp lvl tgt
	for v in 6.1 6.12; do
		for smp in 1 2; do
			for lvl in 0 1; do
				for tgt in partition esp ext4; do
					run_step "hibernate/resume, $v, -smp $smp, level $lvl, $tgt" \
						env KJ_LEVEL=$lvl KJ_TARGET=$tgt tests/qemu/hibernate.sh "$v" "$smp" 256 flip
				done
			done
		done
	done
}
