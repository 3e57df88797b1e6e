#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hibernate and resume, end to end, real pieces only:
#
#   tests/qemu/hibernate.sh VERSION SMP [MIB] [CASE]
#
# Boot 1: OVMF boots kernel A, which starts a workload (MIB MiB pattern,
# a tmpfs file, a counter) and kexec-jumps into B; B saves A's memory
# with kjsave to the GPT partition "kjresume" of the virtio disk and
# powers off. Boot 2: a new QEMU of the same disk, no kernel given:
# OVMF -> \EFI\BOOT\BOOTX64.EFI = kjresume.efi -> A, which proves its
# state survived and its counter went on.
#
# CASE resume (default) also boots the disk a third time and expects the
# loader to refuse the consumed image. The failure cases must end in a
# clear refusal, the loader returning to the firmware (the normal boot
# path), and an untouched image: flip (one byte of page data), truncate
# (the image's last MiB lost), ramsize (boot 2 with more RAM).
# KJ_MEM (512M), KJ_LEVEL (kjsave -l, 1), KJ_CPU (QEMU -cpu), KJ_TIMEOUT.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ver=${1:?usage: hibernate.sh VERSION SMP [MIB] [CASE]}
smp=${2:?}
mib=${3:-64}
case=${4:-resume}
mem=${KJ_MEM:-512M}
memmax=${KJ_MEMMAX:-0x5ffffff}
level=${KJ_LEVEL:-1}
tmo=${KJ_TIMEOUT:-600}
name=hib-$ver-smp$smp-$case
disk=$KJ_OUT/$name.disk
img=$KJ_OUT/$name.img
mem_mib=$(( ${mem%M} ))

kdir=$("$KJ_ROOT/kernel/build.sh" "$ver") || exit 1
kj_build_initramfs "$kdir" "$KJ_OUT/$ver" || exit 1
make -s -C "$KJ_ROOT" efi tools >&2 || exit 1
kjimage=$KJ_ROOT/build/tools/kjimage

fail() {
	kj_log "$name: FAIL: $*"
	[ -n "${2:-}" ] || true
	exit 1
}
serial() { tr -d '\r' < "$KJ_OUT/$1.serial"; }
state() { kj_part_dump "$disk" 2 "$img" && "$kjimage" info "$img" | sed -n 's/^state *//p'; }
img_sum() { kj_part_dump "$disk" 2 "$img" && sha256sum < "$img" | cut -d' ' -f1; }

esp=$(mktemp -d)
mkdir -p "$esp/EFI/BOOT"
cp "$KJ_ROOT/build/kjresume.efi" "$esp/EFI/BOOT/BOOTX64.EFI"
echo "partlabel=kjresume pause=0" > "$esp/EFI/BOOT/kjresume.conf"
kj_make_disk "$disk" $((mem_mib + 64)) "$esp" || fail "cannot build the disk"
rm -rf "$esp"
drive=(-drive file="$disk",format=raw,if=virtio)
start=$(date +%s)

# ---- boot 1: hibernate
kj_log "$name: boot 1: A (-smp $smp, -m $mem, $mib MiB workload) hibernates"
kj_qemu "$name-save" "$tmo" -m "$mem" -smp "$smp" "${drive[@]}" \
	-kernel "$kdir/bzImage" -initrd "$KJ_OUT/$ver/a.cpio.gz" \
	-append "console=ttyS0 panic=1 efi=noruntime kjrole=A kjmib=$mib kjrounds=1 kjmemmax=$memmax kjsave=$level kjhibernate=/dev/vda2 ${KJ_APPEND:-}"
serial "$name-save" | grep -a '^KJ-'
if ! serial "$name-save" | grep -aq '^KJ-B: image saved'; then
	kj_report "$name-save" "$kdir/System.map"
	fail "B did not save the image"
fi
kj_part_dump "$disk" 2 "$img"
"$kjimage" verify "$img" || fail "kjimage verify failed on the saved image"
"$kjimage" info "$img" > "$KJ_OUT/$name.info"
grep -q '^state *complete' "$KJ_OUT/$name.info" || fail "image not complete: $(grep ^state "$KJ_OUT/$name.info")"
save_s=$(( $(date +%s) - start ))

# ---- damage it, per case
read -r data_start data_end < <(awk '/^data-start/ {s=$2} /^data-end/ {e=$2} END {print s, e}' "$KJ_OUT/$name.info")
resume_mem=$mem
expect=""
case $case in
resume) ;;
flip)
	# one byte in the middle of the stored page data
	at=$(( (data_start + data_end) / 2 ))
	old=$(dd if="$img" bs=1 skip=$at count=1 status=none | od -An -tx1 | tr -d ' ')
	kj_part_poke "$disk" 2 $at $(printf '%02x' $(( 0x$old ^ 0x5a )))
	expect="the image is damaged" ;;
truncate)
	# the last MiB of the image never reached the disk
	read -r poff psize < <(kj_part "$disk" 2)
	dd if=/dev/zero of="$disk" bs=1 seek=$((poff + data_end - 1048576)) count=1048576 conv=notrunc status=none 2>/dev/null ||
		dd if=/dev/zero of="$disk" bs=4096 seek=$(( (poff + data_end - 1048576) / 4096 )) count=256 conv=notrunc status=none
	expect="the image is damaged" ;;
ramsize)
	resume_mem=$((mem_mib + 128))M
	expect="memory map is not the one" ;;
*) fail "unknown case $case" ;;
esac
before=$(img_sum)

# ---- boot 2: resume from the firmware
if [ -z "$expect" ]; then
	kj_log "$name: boot 2: OVMF -> kjresume.efi -> A"
	t2=$(date +%s)
	kj_qemu "$name-resume" "$tmo" -m "$resume_mem" -smp "$smp" "${drive[@]}"
	serial "$name-resume" | grep -a '^kjresume\|^KJ-' | sed 's/.*\r//'
	if ! serial "$name-resume" | grep -aq '^KJ-RESULT PASS'; then
		kj_report "$name-resume" "$kdir/System.map"
		fail "A did not come back with its state"
	fi
	resume_s=$(( $(date +%s) - t2 ))
	st=$(state)
	[ "$st" = consumed ] || fail "image state after resume is '$st', want consumed"
	# ---- boot 3: the consumed image must be refused
	kj_qemu_until "$name-again" 180 "continuing with a normal boot" -m "$resume_mem" -smp "$smp" "${drive[@]}"
	serial "$name-again" | grep -a '^kjresume' | sed 's/.*\r//'
	serial "$name-again" | grep -aq 'never resumed twice' || fail "a consumed image was not refused"
	serial "$name-again" | grep -aq '^KJ-A' && fail "A ran again from a consumed image"
	kj_log "$name: PASS (hibernate $save_s s, resume $resume_s s, consumed image refused)"
	exit 0
fi

kj_log "$name: boot 2: the loader must refuse ($case)"
kj_qemu_until "$name-resume" 300 "continuing with a normal boot" -m "$resume_mem" -smp "$smp" "${drive[@]}"
serial "$name-resume" | grep -a '^kjresume' | sed 's/.*\r//'
serial "$name-resume" | grep -aq "$expect" || { kj_report "$name-resume"; fail "no '$expect' refusal"; }
serial "$name-resume" | grep -aq 'continuing with a normal boot' || fail "the loader did not return to the firmware"
serial "$name-resume" | grep -aq '^KJ-A' && fail "A ran from a bad image"
[ "$(img_sum)" = "$before" ] || fail "the refused image was modified on disk"
kj_log "$name: PASS (refused: $expect; image untouched)"
