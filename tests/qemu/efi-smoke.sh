#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kjresume.efi as the firmware's boot entry: it must start under OVMF,
# print its version and return (so the firmware goes on to boot normally).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

efi=$KJ_ROOT/build/kjresume.efi
[ -f "$efi" ] || { kj_log "build $efi first (make efi)"; exit 1; }
esp=$KJ_OUT/esp-smoke
rm -rf "$esp"
mkdir -p "$esp/EFI/BOOT"
cp "$efi" "$esp/EFI/BOOT/BOOTX64.EFI"
kj_qemu efi-smoke 120 -m 256M -drive file=fat:rw:"$esp",format=raw,if=virtio &
pid=$!
# OVMF goes on to other boot options after the loader returns: stop once seen
for _ in $(seq 1 240); do
	grep -aq "kjresume $(cat "$KJ_ROOT/VERSION")" "$KJ_OUT/efi-smoke.serial" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
kill $pid 2>/dev/null; pkill -f "efi-smoke.vars.fd" 2>/dev/null; wait $pid 2>/dev/null
if grep -aq "kjresume $(cat "$KJ_ROOT/VERSION")" "$KJ_OUT/efi-smoke.serial"; then
	echo "kjresume.efi printed its version under OVMF"
	exit 0
fi
kj_report efi-smoke
exit 1
