#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Boot integration with real GRUB (Debian's grub-efi-amd64-bin) under OVMF:
#
#   tests/qemu/grub.sh [VERSION] [CASE...]
#
# The disk: GPT, an ESP (GRUB as \EFI\BOOT\BOOTX64.EFI, a grub.cfg laid out
# as grub-mkconfig writes it in /boot/grub, kernel A and its initramfs in
# /boot, kjresume.efi in \EFI\kjresume) and the partition "kjresume".
# GRUB talks on the serial console; keys are typed into it through a FIFO.
# A's normal entry runs `kj-grub restore` at every boot, as the
# kjresume-restore.service unit does on a real system (docs/BOOT.md).
#
# Cases (default: all, in this order; discard, damaged and resume need
# hibernate first):
#   normal     no image, no kjresume block: GRUB's default boots A
#   menu       kj-grub install on the host (twice: one block), both entries
#              on the serial console, the empty image partition: the loader
#              finds nothing, GRUB goes on to the normal boot by itself, and
#              the normal boot removes the block
#   corrupt    a non-image ELF in the partition: the loader refuses, GRUB
#              boots A normally, the partition is not touched
#   hibernate  A runs kjhibernate (refusals first, then the real one): B
#              saves the image, grub.cfg on the ESP gets the block (written
#              in A, on vfat)
#   discard    the "Boot normally (discard hibernated image)" entry picked
#              with keys ('v', Enter): the image becomes consumed, A boots
#              normally, the block is gone
#   damaged    the saved image with one byte flipped: the loader refuses,
#              GRUB discards it and boots A normally
#   resume     the saved image and the ESP as A left them: GRUB's default
#              entry resumes A; kjhibernate restores the menu in A
#   bootnext   kj-grub bootnext in A booted with EFI runtime services
#              (efibootmgr), then a boot with that variable store: the
#              firmware starts the loader before GRUB
#   once       kj-grub install --once: the next boot takes the resume entry
#              (grubenv next_entry, cleared by GRUB), the boot after it shows
#              the plain menu although nothing removed the block
# KJ_MEM (512M), KJ_MIB (workload, 16), KJ_TIMEOUT (per boot, 600),
# KJ_LOADER_EFI (the loader to test, build/kjresume.efi).
set -uo pipefail
KJ_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KJ_OUT=${KJ_OUT:-$KJ_ROOT/build/qemu-grub}
. "$KJ_ROOT/tests/qemu/lib.sh"
. "$KJ_ROOT/tests/qemu/grub-lib.sh"

ver=${1:-6.12}
[ $# -gt 0 ] && shift
cases=${*:-normal menu corrupt hibernate discard damaged resume bootnext once}
mem=${KJ_MEM:-512M}
mem_mib=$(( ${mem%M} ))
mib=${KJ_MIB:-16}
memmax=${KJ_MEMMAX:-0x5ffffff}
tmo=${KJ_TIMEOUT:-600}
loader=/EFI/kjresume/kjresume.efi
mkdir -p "$KJ_OUT"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS grub $*"; }
failc() { failed=$((failed + 1)); echo "FAIL grub $*"; }
log() { kj_log "grub: $*"; }

kdir=$("$KJ_ROOT/kernel/build.sh" "$ver") || exit 1
kj_build_initramfs "$kdir" "$KJ_OUT/$ver" || exit 1
make -s -C "$KJ_ROOT" efi tools tools-static >&2 || exit 1
kjimage=$KJ_ROOT/build/tools/kjimage
kjg_a_initrd "$KJ_OUT/$ver/a.cpio.gz" "$KJ_OUT/$ver/a-grub.cpio.gz" || exit 1

disk=$KJ_OUT/grub.disk
vars=$KJ_OUT/grub.vars.fd
work=$KJ_OUT/grub-work
rm -rf "$work"
mkdir -p "$work"
a_args() { echo "console=ttyS0 panic=1 efi=noruntime rdinit=/kjgrub-init kjgrub=$1 kjrole=A kjmib=$mib kjrounds=0 kjmemmax=$memmax"; }

# ---- the disk
esp=$work/esp
mkdir -p "$esp/EFI/BOOT" "$esp/EFI/kjresume" "$esp/boot/grub"
kjg_grub_efi "$esp/EFI/BOOT/BOOTX64.EFI" || { echo "FAIL grub: grub-mkstandalone"; exit 1; }
# the modules where grub-install puts them (GRUB loads them from $prefix)
mkdir -p "$esp/boot/grub/x86_64-efi"
cp /usr/lib/grub/x86_64-efi/*.mod /usr/lib/grub/x86_64-efi/*.lst "$esp/boot/grub/x86_64-efi/" 
cp "${KJ_LOADER_EFI:-$KJ_ROOT/build/kjresume.efi}" "$esp/EFI/kjresume/kjresume.efi"
echo "pause=1" > "$esp/EFI/kjresume/kjresume.conf"
cp "$kdir/bzImage" "$esp/boot/vmlinuz-kjtest"
cp "$KJ_OUT/$ver/a-grub.cpio.gz" "$esp/boot/initrd.img-kjtest"
kjg_grub_cfg "$esp/boot/grub/grub.cfg" "$(a_args restore)" || { echo "FAIL grub: grub.cfg"; exit 1; }
grub-editenv "$esp/boot/grub/grubenv" create
kjg_make_disk "$disk" $((mem_mib + 64)) "$esp" || { echo "FAIL grub: cannot build the disk"; exit 1; }
read -r img_off img_size < <(kj_part "$disk" 2)
drive=(-drive file="$disk",format=raw,if=virtio)

# grub.cfg on the ESP: get, put, and a fresh one per mode of A
cfg_get() { kjg_esp_get "$disk" /boot/grub/grub.cfg "$1"; }
cfg_put() { kjg_esp_put "$disk" "$1" /boot/grub/grub.cfg; }
cfg_fresh() { kjg_grub_cfg "$work/fresh.cfg" "$(a_args "$1")" && cfg_put "$work/fresh.cfg"; }
blocks() { grep -cx '### BEGIN kjresume ###' "$1"; }
# zeros; a punched hole keeps the disk sparse where the filesystem can
part_zero() {
	fallocate --punch-hole -o "$img_off" -l "$img_size" "$disk" 2>/dev/null ||
		dd if=/dev/zero of="$disk" bs=1M oflag=seek_bytes seek="$img_off" count=$((img_size >> 20)) conv=notrunc status=none
}
# the saved image back on a zeroed partition: its zero blocks need no write
img_restore() { part_zero && dd if="$work/saved.img" of="$disk" bs=1M oflag=seek_bytes seek="$img_off" conv=notrunc,sparse status=none; }
part_sum() { dd if="$disk" bs=1M iflag=skip_bytes,count_bytes skip="$img_off" count=$((64 << 20)) status=none | sha256sum | cut -d' ' -f1; }
state() { kj_part_dump "$disk" 2 "$work/img" && "$kjimage" info "$work/img" 2>/dev/null | sed -n 's/^state *//p'; }
host_install() { KJ_STATE_DIR=$work/state "$KJ_ROOT/tools/kj-grub" install --grub-cfg "$1" --loader "$loader" \
	--image partlabel=kjresume --esp none --esp-uuid "$KJG_ESP_UUID" --timeout 3 "${@:2}"; }

# boot NAME: one QEMU of the disk, firmware -> GRUB
boot() { kjg_start "$1" "$tmo" "$vars" -m "$mem" -smp 1 "${drive[@]}"; }
show() { kjg_serial "$1" | grep -a '^kjresume\|^KJ-\|^error\|Falling back\|Loading Linux' | sed 's/.*\x1b\[[0-9;]*[A-Za-z]//' | head -n 60 | sed 's/^/  | /'; }
report() { kjg_end 0; kj_report "$1" "$kdir/System.map"; }

have_image=0

case_normal() {
	local n=grub-normal
	cfg_fresh restore; part_zero
	boot $n
	if kjg_wait '^KJ-A: up' 300; then
		kjg_end 120
		show $n
		if kjg_menu_shows 'Debian GNU/Linux' && ! kjg_has $n '^kjresume'; then
			pass "normal: no image: GRUB's default entry boots A (menu shown, loader not run)"
		else
			failc "normal: menu text missing or the loader ran"
		fi
	else
		report $n; failc "normal: A did not boot through GRUB"
	fi
}

case_menu() {
	local n=grub-menu c=$work/menu.cfg
	cfg_fresh restore; part_zero
	cfg_get "$c"; cp "$c" "$work/menu.orig"
	host_install "$c" && host_install "$c" || { failc "menu: kj-grub install failed"; return; }
	if [ "$(blocks "$c")" = 1 ] && grep -q "^[[:space:]]*menuentry 'Resume hibernated system'" "$c" &&
		grep -q "^[[:space:]]*menuentry 'Boot normally (discard hibernated image)'" "$c" &&
		grep -q "chainloader $loader partlabel=kjresume$" "$c" &&
		grep -q "chainloader $loader partlabel=kjresume discard$" "$c"; then
		pass "menu: kj-grub install (run twice) wrote one block with both entries"
	else
		failc "menu: the installed block is wrong"; sed -n '/BEGIN kjresume/,/END kjresume/p' "$c"
	fi
	KJ_STATE_DIR=$work/state "$KJ_ROOT/tools/kj-grub" restore --grub-cfg "$c" --keep-image -q &&
		cmp -s "$c" "$work/menu.orig" && pass "menu: kj-grub restore gives back the file byte for byte" ||
		failc "menu: restore did not give back the original"
	host_install "$c" -q
	cfg_put "$c"
	boot $n
	if ! kjg_wait '^KJ-A: up' 300; then
		report $n; failc "menu: A did not boot after the resume entry found nothing"; return
	fi
	kjg_end 120
	show $n
	kjg_menu_shows 'Resume hibernated system' && kjg_menu_shows 'Boot normally (discard hibernated image)' &&
		pass "menu: GRUB shows both entries on the serial console" || failc "menu: entries not on the console"
	kjg_has $n 'nothing to resume' && ! kjg_has $n 'NOT RESUMING' &&
		pass "menu: no image: the loader returns, GRUB boots A normally without asking" ||
		failc "menu: the loader did not report an absent image"
	cfg_get "$c"
	[ "$(blocks "$c")" = 0 ] && pass "menu: the normal boot removed the kjresume block" ||
		failc "menu: the block is still in grub.cfg after a normal boot"
}

case_corrupt() {
	local n=grub-corrupt c=$work/corrupt.cfg before
	cfg_fresh restore; part_zero
	# an ELF that is no core: the first MiB of a host executable
	dd if="$kjimage" of="$disk" bs=1M oflag=seek_bytes seek="$img_off" count=1 conv=notrunc status=none
	before=$(part_sum)
	cfg_get "$c"; host_install "$c" -q; cfg_put "$c"
	boot $n
	if ! kjg_wait '^KJ-A: up' 300; then
		report $n; failc "corrupt: A did not boot after the loader refused"; return
	fi
	kjg_end 120
	show $n
	kjg_has $n 'NOT RESUMING' && pass "corrupt: the loader refuses, GRUB falls back to the normal boot" ||
		failc "corrupt: no refusal from the loader"
	[ "$(part_sum)" = "$before" ] && pass "corrupt: the partition was not touched" || failc "corrupt: the partition changed"
}

case_hibernate() {
	local n=grub-hibernate c=$work/hib.cfg
	cfg_fresh hibernate; part_zero
	boot $n
	kjg_wait '^KJ-B: image saved|^KJ-RESULT' "$tmo"
	kjg_end 120
	show $n
	if ! kjg_has $n '^KJ-G: kjhibernate refusals ok'; then
		failc "hibernate: kjhibernate's refusals"; kj_report $n "$kdir/System.map"; return
	fi
	pass "hibernate: kjhibernate refuses a missing loader and --boot bootnext, changing nothing"
	if ! kjg_has $n '^KJ-B: image saved'; then
		failc "hibernate: B did not save the image"; kj_report $n "$kdir/System.map"; return
	fi
	[ "$(state)" = complete ] || { failc "hibernate: image state is '$(state)', not complete"; return; }
	"$kjimage" verify "$work/img" >/dev/null || { failc "hibernate: kjimage verify failed"; return; }
	# kjhibernate's default form
	"$kjimage" info "$work/img" | grep -x 'incompat *0x6 lz4 xxh64' >/dev/null ||
		{ failc "hibernate: kjhibernate's default image is not LZ4: $("$kjimage" info "$work/img" | grep ^incompat)"; return; }
	cfg_get "$c"
	[ "$(blocks "$c")" = 1 ] || { failc "hibernate: kjhibernate did not install the block in A"; return; }
	pass "hibernate: kjhibernate in A: B saved a complete LZ4 image (the default), the menu block is on the ESP"
	cp "$work/img" "$work/saved.img"
	kj_part_dump "$disk" 1 "$work/saved.esp"
	have_image=1
}

need_image() {
	[ $have_image = 1 ] && return 0
	failc "$1: needs the hibernate case first"
	return 1
}

# the ESP as A left it, but with A's normal entry in "restore" mode
hib_cfg_restore_mode() {
	kjg_part_load "$disk" 1 "$work/saved.esp"
	cfg_get "$work/x.cfg"
	sed -i 's/kjgrub=hibernate/kjgrub=restore/' "$work/x.cfg"
	cfg_put "$work/x.cfg"
}

case_discard() {
	local n=grub-discard
	need_image discard || return
	img_restore
	hib_cfg_restore_mode
	# keys typed over a FIFO into an emulated machine can arrive late on
	# a loaded host: give the menu time (this case only picks by hand)
	cfg_get "$work/x.cfg"
	sed -i 's/^\([[:space:]]*set timeout=\)[0-9]*$/\160/' "$work/x.cfg"
	cfg_put "$work/x.cfg"
	boot $n
	if ! kjg_wait 'Boot normally \(discard hibernated image\)' 180; then
		report $n; failc "discard: no menu"; return
	fi
	if ! kjg_pick 'Boot normally \(discard hibernated image\)'; then
		report $n; failc "discard: GRUB did not take the keys"; return
	fi
	if ! kjg_wait '^KJ-A: up' 300; then
		report $n; failc "discard: A did not boot normally"; return
	fi
	kjg_end 120
	show $n
	kjg_has $n 'hibernated image discarded' && ! kjg_has $n 'resuming the hibernated' &&
		pass "discard: picked by keys, the loader discards the image and A boots normally" ||
		failc "discard: the loader did not discard"
	[ "$(state)" = consumed ] && pass "discard: the image is consumed on disk" || failc "discard: image state is '$(state)'"
	cfg_get "$work/d.cfg"
	[ "$(blocks "$work/d.cfg")" = 0 ] && pass "discard: the menu is restored" || failc "discard: block still there"
}

case_damaged() {
	local n=grub-damaged at old
	need_image damaged || return
	img_restore
	"$kjimage" info "$work/saved.img" > "$work/info"
	read -r ds de < <(awk '/^data-start/ {s=$2} /^data-end/ {e=$2} END {print s, e}' "$work/info")
	at=$(( (ds + de) / 2 ))
	old=$(dd if="$work/saved.img" bs=1 skip=$at count=1 status=none | od -An -tx1 | tr -d ' ')
	kj_part_poke "$disk" 2 $at "$(printf '%02x' $(( 0x$old ^ 0x5a )))"
	hib_cfg_restore_mode
	boot $n
	if ! kjg_wait '^KJ-A: up' 400; then
		report $n; failc "damaged: A did not boot normally"; return
	fi
	kjg_end 120
	show $n
	kjg_has $n 'NOT RESUMING: the image is damaged' &&
		pass "damaged: the loader refuses a flipped byte, GRUB boots A normally without asking" ||
		failc "damaged: no 'image is damaged' refusal"
	[ "$(state)" = consumed ] && pass "damaged: the fallback discarded the refused image" ||
		failc "damaged: image state is '$(state)', not consumed"
}

case_resume() {
	local n=grub-resume
	need_image resume || return
	img_restore
	kjg_part_load "$disk" 1 "$work/saved.esp"
	boot $n
	kjg_wait '^KJ-RESULT|^KJ-G: workload|NOT RESUMING' "$tmo"
	kjg_end 60
	show $n
	if kjg_has $n '^KJ-RESULT PASS resumed through GRUB'; then
		pass "resume: GRUB's default entry resumes A; workload intact; kjhibernate restored the menu and unloaded kexec"
		kjg_serial $n | grep -a '^kjhibernate: resumed' | sed 's/^/  /'
		[ "$(state)" = consumed ] && pass "resume: the image is consumed" || failc "resume: image state '$(state)'"
	else
		kj_report $n "$kdir/System.map"
		failc "resume: A did not resume through GRUB"
	fi
}

case_bootnext() {
	local n1=grub-bootnext-set n2=grub-bootnext-boot bvars=$KJ_OUT/grub-bootnext.vars.fd
	cfg_fresh restore; part_zero
	rm -f "$bvars"
	# A with EFI runtime services (no efi=noruntime): efibootmgr can work
	kjg_start $n1 300 "$bvars" -m "$mem" -smp 1 "${drive[@]}" -kernel "$kdir/bzImage" \
		-initrd "$KJ_OUT/$ver/a-grub.cpio.gz" -append "console=ttyS0 panic=1 rdinit=/kjgrub-init kjgrub=bootnext kjrole=A"
	kjg_wait '^KJ-G: kj-grub bootnext exit' 300
	kjg_end 60
	show $n1
	if ! kjg_has $n1 '^KJ-G: kj-grub bootnext exit 0'; then
		failc "bootnext: kj-grub bootnext failed in A"; return
	fi
	kjg_has $n1 'BootNext: ' && pass "bootnext: kj-grub bootnext created the entry and set BootNext (efibootmgr in A)" ||
		failc "bootnext: no BootNext in efibootmgr's list"
	kjg_start $n2 300 "$bvars" -m "$mem" -smp 1 "${drive[@]}"
	kjg_wait 'Debian GNU/Linux' 180
	kjg_end 0
	show $n2
	local l_loader l_menu
	l_loader=$(kjg_serial $n2 | grep -an '^kjresume ' | head -n 1 | cut -d: -f1)
	l_menu=$(kjg_serial $n2 | grep -an 'Debian GNU/Linux' | head -n 1 | cut -d: -f1)
	if [ -n "$l_loader" ] && [ -n "$l_menu" ] && [ "$l_loader" -lt "$l_menu" ] &&
		kjg_has $n2 'nothing to resume'; then
		pass "bootnext: the firmware starts the loader first (BootNext); it returns and the firmware goes on to GRUB"
	else
		failc "bootnext: the loader did not run before GRUB"
	fi
}

case_once() {
	local n1=grub-once-1 n2=grub-once-2 c=$work/once.cfg env=$work/grubenv
	cfg_fresh none; part_zero
	cfg_get "$c"; kjg_esp_get "$disk" /boot/grub/grubenv "$env"
	host_install "$c" --once --grubenv "$env" -q || { failc "once: kj-grub install --once failed"; return; }
	grep -q '^next_entry=kjresume-resume$' "$env" || { failc "once: next_entry not set in grubenv"; return; }
	cfg_put "$c"; kjg_esp_put "$disk" "$env" /boot/grub/grubenv
	boot $n1
	kjg_wait '^KJ-A: up' 300 || { report $n1; failc "once: first boot"; return; }
	kjg_end 120
	kjg_esp_get "$disk" /boot/grub/grubenv "$env"
	kjg_has $n1 'nothing to resume' && ! grep -q '^next_entry=kjresume' "$env" &&
		pass "once: the next boot takes the resume entry (next_entry), GRUB clears next_entry" ||
		failc "once: first boot did not run the loader, or next_entry is still set"
	boot $n2
	kjg_wait '^KJ-A: up' 300 || { report $n2; failc "once: second boot"; return; }
	kjg_end 120
	! kjg_has $n2 '^kjresume' && ! kjg_has $n2 'Resume hibernated system' && [ "$(blocks "$c")" = 1 ] &&
		pass "once: the boot after shows the plain menu although the block is still in grub.cfg" ||
		failc "once: the resume entry came back"
}

for c in $cases; do
	log "case $c"
	if declare -F "case_$c" >/dev/null; then
		"case_$c"
	else
		failc "unknown case $c"
	fi
done
echo "grub: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || exit 1
[ -n "${KJ_KEEP:-}" ] || rm -rf "$disk" "$work"
