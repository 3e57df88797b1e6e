#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The loader's chunk decode paths under OVMF, one CPU (QEMU's TCG, as the
# resume bench): copy, XXH64, and stored and LZ4 chunks decoded then
# checked against decoded and checked in one pass, on the resume bench's
# 2:1 memory and on text-like memory (tests/bench/decode-efi.c).
#   tests/bench/decode-efi.sh [OUTDIR]     (about a minute)
# KJ_DECODE_MEM=FILE adds a third kind, "image": up to 64 MiB of memory
# from FILE (whole 256 KiB chunks), e.g. a sample of a real image's memory
# (make build/bench/image-sample; tests/bench/image-sample.c).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/bench/decode-efi}
OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
OVMF_VARS=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
make -s -C "$root" build/decode-efi.efi >&2 || exit 1
mkdir -p "$out/esp/EFI/BOOT"
cp "$root/build/decode-efi.efi" "$out/esp/EFI/BOOT/BOOTX64.EFI"
rm -f "$out/esp/kjbench-mem.bin"
[ -z "${KJ_DECODE_MEM:-}" ] || cp "$KJ_DECODE_MEM" "$out/esp/kjbench-mem.bin" || exit 1
cp "$OVMF_VARS" "$out/vars.fd"
rm -f "$out/serial"
qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 512M -nographic \
	-no-reboot -net none -monitor none \
	-drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
	-drive if=pflash,format=raw,file="$out/vars.fd" \
	-drive file=fat:rw:"$out/esp",format=raw,if=virtio \
	-serial file:"$out/serial" </dev/null >/dev/null 2>&1 &
pid=$!
# the firmware goes on to its other boot options afterwards: stop at "done"
for _ in $(seq 1 600); do
	grep -aq "KJBENCH done\|KJBENCH cannot\|FAILED" "$out/serial" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
kill $pid 2>/dev/null; wait $pid 2>/dev/null
tr -d '\r' < "$out/serial" | grep -a '^KJBENCH' > "$out/results" || true
grep -q "KJBENCH done" "$out/results" || { echo "no result; serial log: $out/serial" >&2; cat "$out/results" >&2; exit 1; }
grep -q FAILED "$out/results" && { grep FAILED "$out/results" >&2; exit 1; }
awk '
$3 ~ /pass|copy|xxh64/ && NF >= 5 { ms[$2 " " $3] = $4; rate[$2 " " $3] = $5; kinds[$2] = 1 }
$3 == "lz4" { size[$2] = $4 " MiB -> " $7 " KiB" }
END {
	print "| memory | LZ4 | copy ms | XXH64 ms | stored: two passes / one pass ms | LZ4: two passes / one pass ms | one pass / two passes (stored, LZ4) |"
	print "|---|---|---|---|---|---|---|"
	for (k in kinds)
		printf "| %s | %s | %s | %s | %s / %s | %s / %s | %.2f, %.2f |\n", k, size[k],
			ms[k " copy"], ms[k " xxh64"], ms[k " stored-two-pass"], ms[k " stored-one-pass"],
			ms[k " lz4-two-pass"], ms[k " lz4-one-pass"],
			ms[k " stored-one-pass"] / ms[k " stored-two-pass"], ms[k " lz4-one-pass"] / ms[k " lz4-two-pass"]
}' "$out/results"
echo "(best of 3 rounds over 64 MiB in 256 KiB chunks, one CPU; $(qemu-system-x86_64 --version | sed -n '1s/.*version //p'), TCG)"
