#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hibernate and resume, end to end, real pieces only:
#
#   tests/qemu/hibernate.sh VERSION SMP [MIB] [FAILCASE...]
#
# Boot 1: OVMF boots kernel A, which starts a workload (MIB MiB pattern,
# a tmpfs file, a counter) and kexec-jumps into B; B saves A's memory
# with kjsave to the GPT partition "kjresume" of the virtio disk and
# powers off. Then, on copies of that disk, each FAILCASE must end in a
# clear refusal, the loader returning to the firmware (the normal boot
# path), and an untouched image: flip (one byte of page data), truncate
# (the image's last MiB never written), ramsize (booted with more RAM).
# Then the real disk, no kernel given: OVMF -> \EFI\BOOT\BOOTX64.EFI =
# kjresume.efi -> A, which proves its workload, tmpfs file and counter
# survived. With KJ_CYCLES=N (default 1) A hibernates again after each
# resume, N cycles in a row. Last, one more boot must refuse the
# consumed image.
# KJ_TARGET=partition (default: the raw GPT partition), esp (a file,
# \kjresume.img, on the ESP: the loader reads it with the firmware's FAT
# driver) or ext4 (a file preallocated on an ext4 filesystem in the
# kjresume partition, which the firmware cannot read: the loader gets its
# first block's offset from its settings and reads the rest through the
# extent map kjsave records; refusal cases other than ramsize need
# write-back and are skipped for it). KJ_MEM (512M), KJ_LEVEL (kjsave -l: a
# zlib level or lz4; 1),
# KJ_SAVEOPT (one more kjsave option, e.g. --crc32), KJ_LOADOPT (more loader
# options, e.g. check-all), KJ_APPEND (more of A's
# command line, e.g. init_on_free=1), KJ_CPU (QEMU -cpu), KJ_TIMEOUT.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ver=${1:?usage: hibernate.sh VERSION SMP [MIB] [FAILCASE...]}
smp=${2:?}
mib=${3:-64}
shift 3 2>/dev/null || shift $#
failcases=("$@")
cycles=${KJ_CYCLES:-1}
mem=${KJ_MEM:-512M}
memmax=${KJ_MEMMAX:-0x5ffffff}
level=${KJ_LEVEL:-1}
target=${KJ_TARGET:-partition}
tmo=${KJ_TIMEOUT:-600}
name=hib-$ver-smp$smp-m${mem}-l$level-$target
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
# the image, out of the disk and back
get_img() {
	case $target in
	esp) mcopy -o -i "$disk@@1M" ::/kjresume.img "$img" ;;
	ext4) kj_part_dump "$disk" 2 "$img.fs" &&
		debugfs -R "dump /kjresume.img $img" "$img.fs" 2>/dev/null && rm -f "$img.fs" ;;
	*) kj_part_dump "$disk" 2 "$img" ;;
	esac
}
put_img() {
	if [ "$target" = esp ]; then mcopy -o -i "$disk@@1M" "$img" ::/kjresume.img; return; fi
	local off
	read -r off _ < <(kj_part "$disk" 2)
	# only the image's own bytes: the rest of the partition is unchanged
	dd if="$img" of="$disk" bs=1M oflag=seek_bytes seek="$off" iflag=count_bytes count="$data_end" \
		conv=notrunc status=none
}
state() { get_img && "$kjimage" info "$img" | sed -n 's/^state *//p'; }
img_sum() { get_img && sha256sum < "$img" | cut -d' ' -f1; }

esp=$(mktemp -d)
mkdir -p "$esp/EFI/BOOT"
cp "$KJ_ROOT/build/kjresume.efi" "$esp/EFI/BOOT/BOOTX64.EFI"
if [ "$target" = esp ]; then
	echo "image=/kjresume.img pause=0" > "$esp/EFI/BOOT/kjresume.conf"
	kj_make_disk "$disk" 1 "$esp" $((mem_mib + 128)) || fail "cannot build the disk"
	hibdev=vfat:/dev/vda1:/kjresume.img
elif [ "$target" = ext4 ]; then
	# an ext4 filesystem with the image file preallocated (written, so
	# that its blocks exist), as kjhibernate would do before the jump
	kj_make_disk "$disk" $((mem_mib + 128)) "$esp" || fail "cannot build the disk"
	fsdir=$(mktemp -d)
	head -c $(( (mem_mib + 64) << 20 )) /dev/zero | tr '\0' '\377' > "$fsdir/kjresume.img"
	read -r poff psize < <(kj_part "$disk" 2)
	mke2fs -q -t ext4 -b 4096 -d "$fsdir" -F "$img.fs" $((psize / 4096)) || fail "mke2fs"
	rm -rf "$fsdir"
	blk=$(debugfs -R "bmap /kjresume.img 0" "$img.fs" 2>/dev/null)
	[ -n "$blk" ] || fail "cannot find the image file's first block"
	# sparse: the new disk reads as zeros where the filesystem's blocks are
	dd if="$img.fs" of="$disk" bs=1M oflag=seek_bytes seek="$poff" conv=notrunc,sparse status=none
	rm -f "$img.fs"
	echo "partlabel=kjresume offset=$((blk * 4096)) pause=0" > "$esp/EFI/BOOT/kjresume.conf"
	mcopy -o -i "$disk@@1M" "$esp/EFI/BOOT/kjresume.conf" ::/EFI/BOOT/kjresume.conf
	hibdev=ext4:/dev/vda2:/kjresume.img
else
	echo "partlabel=kjresume pause=0 ${KJ_LOADOPT:-}" > "$esp/EFI/BOOT/kjresume.conf"
	kj_make_disk "$disk" $((mem_mib + 64)) "$esp" || fail "cannot build the disk"
	hibdev=/dev/vda2
fi
rm -rf "$esp"
[ "$target" = ext4 ] && failcases=($(printf '%s\n' "${failcases[@]}" | grep -x ramsize))
drive=(-drive file="$disk",format=raw,if=virtio)
start=$(date +%s)

# ---- boot 1: hibernate
kj_log "$name: boot 1: A (-smp $smp, -m $mem, $mib MiB workload) hibernates"
kj_follow "$name-save"
kj_qemu "$name-save" "$tmo" -m "$mem" -smp "$smp" "${drive[@]}" \
	-kernel "$kdir/bzImage" -initrd "$KJ_OUT/$ver/a.cpio.gz" \
	-append "console=ttyS0 panic=1 efi=noruntime kjrole=A kjmib=$mib kjrounds=$cycles kjmemmax=$memmax kjsave=$level ${KJ_SAVEOPT:+kjsaveopt=$KJ_SAVEOPT} kjhibernate=$hibdev ${KJ_APPEND:-}"
kj_unfollow "$name-save"
[ -n "${KJ_SHOW:-}" ] || serial "$name-save" | grep -a '^KJ-'
if ! serial "$name-save" | grep -a >/dev/null '^KJ-B: image saved'; then
	kj_report "$name-save" "$kdir/System.map"
	fail "B did not save the image"
fi
get_img
"$kjimage" verify "$img" || fail "kjimage verify failed on the saved image"
"$kjimage" info "$img" > "$KJ_OUT/$name.info"
# the chunk check the loader is about to verify: XXH64, or CRC32 (--crc32)
case "$(sed -n 's/^incompat *//p' "$KJ_OUT/$name.info")" in
*xxh64*) [ "${KJ_SAVEOPT:-}" != --crc32 ] || fail "kjsave --crc32 wrote an XXH64 image" ;;
*) [ "${KJ_SAVEOPT:-}" = --crc32 ] || fail "kjsave wrote a CRC32 image by default" ;;
esac
# the chunk method: LZ4 with --lz4, else DEFLATE unless level 0
incompat=$(sed -n 's/^incompat *//p' "$KJ_OUT/$name.info")
if [[ " ${KJ_SAVEOPT:-} " == *" --lz4 "* || $level = lz4 ]]; then
	[[ $incompat == *lz4* && $incompat != *deflate* ]] || fail "kjsave --lz4 wrote an image with incompat '$incompat'"
elif [ "$level" = 0 ]; then
	[[ $incompat != *lz4* && $incompat != *deflate* ]] || fail "kjsave -l 0 wrote an image with incompat '$incompat'"
else
	[[ $incompat == *deflate* && $incompat != *lz4* ]] || fail "kjsave -l $level wrote an image with incompat '$incompat'"
fi
# A's free pages: left out of the image when A's resume note says their
# content does not matter (flag free-any); saved as zero pages when A runs
# with init_on_free=1 (KJ_APPEND), which relies on them being zero
aflags=$(sed -n 's/^resume-flags *//p' "$KJ_OUT/$name.info")
case " ${KJ_APPEND:-} " in
*" init_on_free=1 "*) want_any=no ;;
*) want_any=yes ;;
esac
case "$aflags" in *free-any*) got_any=yes ;; *) got_any=no ;; esac
[ $got_any = $want_any ] || fail "A's resume flags are '$aflags' with '${KJ_APPEND:-}' on its command line"
if [[ " ${KJ_SAVEOPT:-} " == *" --keep-free "* || " ${KJ_SAVEOPT:-} " == *" --zero-free "* ]]; then
	: # kjsave was told to keep them, or to zero them
elif [ $got_any = yes ]; then
	serial "$name-save" | grep -a >/dev/null "^kjsave: left out [1-9][0-9]* of the dropped pages .*: A's free pages" ||
		fail "A's free pages need no content, but kjsave did not leave them out"
else
	serial "$name-save" | grep -a >/dev/null "^kjsave: dropped [1-9][0-9]* free pages" ||
		fail "kjsave did not save A's free pages as zero pages"
	! serial "$name-save" | grep -a >/dev/null "^kjsave: left out .*: A's free pages" ||
		fail "kjsave left out free pages that A needs zeroed"
fi
# A's kexec swap undone in the image, A entered past its swap
case " ${KJ_SAVEOPT:-} " in
*" --keep-swap "*) [[ $aflags != *unswapped* ]] || fail "kjsave --keep-swap wrote an unswapped image" ;;
*) [[ $aflags == *unswapped* ]] && serial "$name-save" | grep -a >/dev/null "^kjsave: A's kexec swap undone: [1-9]" ||
	fail "kjsave did not undo A's kexec swap (resume flags '$aflags')" ;;
esac
grep -q '^state *complete' "$KJ_OUT/$name.info" || fail "image not complete: $(grep ^state "$KJ_OUT/$name.info")"
save_s=$(( $(date +%s) - start ))

read -r data_start data_end < <(awk '/^data-start/ {s=$2} /^data-end/ {e=$2} END {print s, e}' "$KJ_OUT/$name.info")

# ---- refusals, each on a damaged copy of the disk
for fc in "${failcases[@]}"; do
	good=$disk
	disk=$KJ_OUT/$name-$fc.disk
	cp --sparse=always "$good" "$disk"
	get_img
	bmem=$mem
	case $fc in
	flip)
		# one byte in the middle of the stored page data
		at=$(( (data_start + data_end) / 2 ))
		old=$(dd if="$img" bs=1 skip=$at count=1 status=none | od -An -tx1 | tr -d ' ')
		printf "$(printf '\\x%02x' $(( 0x$old ^ 0x5a )))" |
			dd of="$img" bs=1 seek=$at conv=notrunc status=none
		put_img
		expect="the image is damaged" ;;
	truncate)
		# the image's last MiB never reached the disk
		if [ "$target" = esp ]; then
			truncate -s $((data_end - 1048576)) "$img"
			expect="the image is truncated"
		else
			dd if=/dev/zero of="$img" bs=4096 seek=$((data_end / 4096 - 256)) count=256 \
				conv=notrunc status=none
			expect="the image is damaged"
		fi
		put_img ;;
	ramsize)
		bmem=$((mem_mib + 128))M
		expect="memory map is not the one" ;;
	*) fail "unknown case $fc" ;;
	esac
	before=$(img_sum)
	kj_log "$name: $fc: the loader must refuse"
	kj_follow "$name-$fc"
	kj_qemu_until "$name-$fc" 300 "continuing with a normal boot" -m "$bmem" -smp "$smp" \
		-drive file="$disk",format=raw,if=virtio
	kj_unfollow "$name-$fc"
	[ -n "${KJ_SHOW:-}" ] || serial "$name-$fc" | grep -a '^kjresume\|^  (' | grep -av 'reading image'
	serial "$name-$fc" | grep -a >/dev/null "NOT RESUMING: .*$expect" || { kj_report "$name-$fc"; fail "$fc: no '$expect' refusal"; }
	serial "$name-$fc" | grep -a >/dev/null 'continuing with a normal boot' || fail "$fc: the loader did not return to the firmware"
	serial "$name-$fc" | grep -a >/dev/null '^KJ-A' && fail "$fc: A ran from a bad image"
	[ "$(img_sum)" = "$before" ] || fail "$fc: the refused image was modified on disk"
	kj_log "$name: $fc: PASS (refused, image untouched)"
	rm -f "$disk"
	disk=$good
done

# ---- resume from the firmware, KJ_CYCLES times
for c in $(seq 1 "$cycles"); do
	kj_log "$name: resume $c/$cycles: OVMF -> kjresume.efi -> A"
	t2=$(date +%s)
	# A powers off at the end (or B does, after the next save); a refusal
	# would go on to the firmware's next boot option, so stop there
	kj_follow "$name-resume$c"
	kj_qemu_until "$name-resume$c" "$tmo" "continuing with a normal boot" \
		-m "$mem" -smp "$smp" "${drive[@]}"
	kj_unfollow "$name-resume$c"
	[ -n "${KJ_SHOW:-}" ] || serial "$name-resume$c" | sed 's/\(reading image\)/\n\1/g' |
		grep -a '^kjresume\|^KJ-\|reading image 100' | grep -av 'KJ-B: PT_LOAD'
	serial "$name-resume$c" | grep -a >/dev/null "^KJ-A: round $c: workload memory intact" || {
		kj_report "$name-resume$c" "$kdir/System.map"; fail "A did not come back with its state (cycle $c)"; }
	# the stub checked what it wrote, or (check-all) every page, and matched
	case " ${KJ_LOADOPT:-} " in
	*" check-all "*) want="relocating .* and entering A (check-all: re-checking every page)" ;;
	*) want="relocating [0-9]* pages and entering A\$" ;;
	esac
	serial "$name-resume$c" | grep -a >/dev/null "^kjresume: $want" &&
		serial "$name-resume$c" | grep -a >/dev/null "^kjresume: memory restored and checked" ||
		fail "cycle $c: the stub's check did not run as configured ('${KJ_LOADOPT:-}')"
	if [ "$c" -lt "$cycles" ]; then
		serial "$name-resume$c" | grep -a >/dev/null '^KJ-B: image saved' || fail "cycle $c: no new image saved"
		[ "$(state)" = complete ] || fail "cycle $c: the new image is not complete"
	else
		serial "$name-resume$c" | grep -a >/dev/null '^KJ-RESULT PASS' || fail "A did not finish"
		[ "$(state)" = consumed ] || fail "image state after resume is '$(state)', want consumed"
	fi
	kj_log "$name: resume $c: A back in $(( $(date +%s) - t2 )) s (QEMU start to A's checks done)"
done

# ---- the consumed image must be refused
kj_follow "$name-again"
kj_qemu_until "$name-again" 180 "continuing with a normal boot" -m "$mem" -smp "$smp" "${drive[@]}"
kj_unfollow "$name-again"
[ -n "${KJ_SHOW:-}" ] || serial "$name-again" | grep -a '^kjresume' | grep -av 'reading image'
serial "$name-again" | grep -a >/dev/null 'never resumed twice' || fail "a consumed image was not refused"
serial "$name-again" | grep -a >/dev/null '^KJ-A' && fail "A ran again from a consumed image"
# the disk and image (GiBs with KJ_MEM) stay only for a failure or KJ_KEEP=1
[ -n "${KJ_KEEP:-}" ] || rm -f "$disk" "$img"
kj_log "$name: PASS (hibernate $save_s s, $cycles resume(s), ${#failcases[@]} refusal case(s), consumed image refused)"
