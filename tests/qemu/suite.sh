# SPDX-License-Identifier: MIT
# The QEMU part of `make check`, sourced by tests/run.sh (uses run_step).
# shellcheck shell=bash

qemu_suite() {
	run_step "kjresume.efi starts under OVMF" tests/qemu/efi-smoke.sh
	local v smp
	for v in 6.1 6.12; do
		for smp in 1 2; do
			run_step "round trip x2, Linux $v, -smp $smp" \
				tests/qemu/roundtrip.sh "$v" "$smp" 2
		done
	done
	run_step "a crash in the round trip is reported with its exceptions" \
		tests/qemu/crash-report.sh 6.12
}
