#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# relocate/selftest/run.sh EFI OUTDIR: boot the stub self-test under OVMF
# once per mode (see efi.c) and check what it printed on COM1.
# Each stage that passes its checksum prints the stub's own line first.
#   0  4-level A, then a 4 -> 5-level switch    -> both stages ok, done
#   1  4 -> 5-level switch, then 5 -> 4         -> both stages ok, done
#   c  wrong expected checksum                  -> 'C' right after entering
#   l  control pages above 4 GiB, switch forced -> 'L' right after entering
# KJST_MODES="1 c" runs only those.
set -uo pipefail
efi=$1 out=$2
OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
OVMF_VARS=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
mkdir -p "$out"
fails=0

run_mode() {
	local mode=$1 want=$2 esp="$out/esp-$1" log="$out/mode-$1"
	rm -rf "$esp"; mkdir -p "$esp/EFI/BOOT"
	cp "$efi" "$esp/EFI/BOOT/BOOTX64.EFI"
	printf '%s' "$mode" > "$esp/kjst-mode"
	cp "$OVMF_VARS" "$log.vars.fd"
	rm -f "$log.serial"
	qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 4G -nographic \
		-no-reboot -net none -monitor none \
		-drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
		-drive if=pflash,format=raw,file="$log.vars.fd" \
		-drive file=fat:rw:"$esp",format=raw,if=virtio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-serial file:"$log.serial" -d int,cpu_reset -D "$log.int" \
		</dev/null >/dev/null 2>&1 &
	local pid=$! t
	for t in $(seq 1 240); do
		kill -0 "$pid" 2>/dev/null || break
		# the halting modes never exit QEMU: stop once the marker is out
		if [ "$mode" = c ] || [ "$mode" = l ]; then
			grep -aq "entering plan 1" "$log.serial" 2>/dev/null &&
				tail -c 200 "$log.serial" | tr -d '\r' | grep -aq "^$want" && break
		fi
		sleep 0.5
	done
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	local got
	got=$(tr -d '\r' < "$log.serial" | sed -n '/entering plan 1/,$p' | tail -n +2)
	if [ "$got" = "$want" ]; then
		echo "PASS mode $mode: $(echo "$got" | tr '\n' '|')"
	else
		echo "FAIL mode $mode: expected '$want', got:"
		tr -d '\r' < "$log.serial" | grep -a KJST | sed 's/^/  | /'
		echo "$got" | sed 's/^/  > /'
		grep -a 'v=\|Triple\|CPU Reset' "$log.int" 2>/dev/null | tail -n 5 | sed 's/^/  int: /'
		fails=$((fails + 1))
	fi
	tr -d '\r' < "$log.serial" | grep -a 'KJST plan\|KJST mode' | sed 's/^/    /'
}

stub_ok="kjresume: memory restored and checked; entering A"
for m in ${KJST_MODES:-0 1 c l}; do
	case $m in
	0) run_mode 0 "$stub_ok
KJST stage 1 ok la57=0
$stub_ok
KJST stage 2 ok la57=1
KJST done" ;;
	1) run_mode 1 "$stub_ok
KJST stage 1 ok la57=1
$stub_ok
KJST stage 2 ok la57=0
KJST done" ;;
	c) run_mode c "C" ;;
	l) run_mode l "L" ;;
	esac
done
[ "$fails" -eq 0 ] && echo "reloc-qemu-selftest: all modes passed" || echo "reloc-qemu-selftest: $fails failed"
exit "$fails"
