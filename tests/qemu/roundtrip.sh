#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kexec-jump round trip A -> B -> A under OVMF, on a patched kernel.
#
#   tests/qemu/roundtrip.sh VERSION SMP [ROUNDS] [MIB]
#
# A starts a workload (MIB MiB pattern + counter) and a tmpfs file, loads
# B confined to [0, KJ_MEMMAX] with --load-preserve-context and jumps.
# B checks /proc/vmcore's resume note and VMCOREINFO and jumps back. A
# proves its state survived. ROUNDS round trips, each with a fresh B.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ver=${1:?usage: roundtrip.sh VERSION SMP [ROUNDS] [MIB]}
smp=${2:?}
rounds=${3:-2}
mib=${4:-64}
mem=${KJ_MEM:-512M}
memmax=${KJ_MEMMAX:-0x5ffffff}
name=roundtrip-$ver-smp$smp

kdir=$("$KJ_ROOT/kernel/build.sh" "$ver") || exit 1
kj_build_initramfs "$kdir" "$KJ_OUT/$ver" || exit 1

kj_log "$name: A -> B -> A x$rounds, -smp $smp, -m $mem, ${mib} MiB workload"
disk=()
if [ -n "${KJ_SAVE:-}" ]; then
	# B saves A's memory with kjsave to this disk; checked below
	rm -f "$KJ_OUT/$name.disk"
	truncate -s 768M "$KJ_OUT/$name.disk"
	disk=(-drive file="$KJ_OUT/$name.disk",format=raw,if=virtio)
	KJ_APPEND="${KJ_APPEND:-} kjsave=$KJ_SAVE"
fi
start=$(date +%s)
if [ -n "${KJ_SHOW:-}" ]; then
	# Follow the run live: the harness's lines and the kernels' kexec lines
	: > "$KJ_OUT/$name.serial"
	tail -F "$KJ_OUT/$name.serial" 2>/dev/null | tr -d '\r' |
		grep --line-buffered -a '^KJ-\|Linux version\|kexec\|Run /init' &
	follow=$!
fi
kj_qemu "$name" "${KJ_TIMEOUT:-600}" -m "$mem" -smp "$smp" \
	"${disk[@]}" -kernel "$kdir/bzImage" -initrd "$KJ_OUT/$ver/a.cpio.gz" \
	-append "console=ttyS0 panic=1 kjrole=A kjmib=$mib kjrounds=$rounds kjmemmax=$memmax ${KJ_APPEND:-}"
rc=$?
if [ -n "${KJ_SHOW:-}" ]; then
	sleep 1; kill "$follow" 2>/dev/null; pkill -f "tail -F $KJ_OUT/$name.serial" 2>/dev/null
else
	grep -a '^KJ-' "$KJ_OUT/$name.serial" | tr -d '\r' | grep -av '^KJ-MEMMAP\|^KJ-BRAM'
fi
# Ranges are "START END" lines, decimal, END exclusive.
merge_ranges() {
	local cs="" ce="" s e
	while read -r s e; do
		if [ -z "$cs" ]; then cs=$s; ce=$e
		elif [ "$s" -le "$ce" ]; then [ "$e" -gt "$ce" ] && ce=$e
		else echo "$cs $ce"; cs=$s; ce=$e; fi
	done < <(sort -n -k1,1)
	[ -z "$cs" ] || echo "$cs $ce"
}
# subtract_ranges A B: A minus B (both merged files)
subtract_ranges() {
	local s e cur bs be
	while read -r s e; do
		cur=$s
		while read -r bs be; do
			[ "$be" -le "$cur" ] || [ "$bs" -ge "$e" ] && continue
			[ "$bs" -gt "$cur" ] && echo "$cur $bs"
			cur=$be
			[ "$cur" -ge "$e" ] && break
		done < "$2"
		[ "$cur" -lt "$e" ] && echo "$cur $e"
	done < "$1"
	return 0
}
bytes() { local n=0 s e; while read -r s e; do n=$((n + e - s)); done < "$1"; echo $n; }
ranges_hex() { while read -r s e; do printf '[%#x-%#x] ' "$s" $((e - 1)); done < "$1"; }

# The image B saved: COMPLETE, every chunk check right, the entry of A's
# LINUXKJUMP note (B's KJ-ENTRY), and every byte of A's System RAM outside
# B's own RAM in exactly one segment, none of B's RAM in any.
saved_ok() {
	[ -n "${KJ_SAVE:-}" ] || return 0
	local disk="$KJ_OUT/$name.disk" info="$KJ_OUT/$name.info" t="$KJ_OUT/$name.cov"
	local entry img_entry kjimage="$KJ_ROOT/build/tools/kjimage" s e ty unswapped left
	make -s -C "$KJ_ROOT" tools >&2 || return 1
	tr -d '\r' < "$KJ_OUT/$name.serial" > "$t.serial"
	entry=$(sed -n 's/^KJ-ENTRY //p' "$t.serial" | tail -n1)
	[ -n "$entry" ] || { echo "B printed no KJ-ENTRY"; return 1; }
	grep -aq '^KJ-B: image saved' "$t.serial" || { echo "B did not save an image"; return 1; }
	"$kjimage" info "$disk" > "$info" || { cat "$info"; echo "kjimage info failed"; return 1; }
	grep -q '^state  *complete$' "$info" || { grep '^state' "$info"; echo "image not complete"; return 1; }
	"$kjimage" -q verify "$disk" || { echo "kjimage verify failed"; return 1; }
	img_entry=$(sed -n 's/^entry  *\(0x[0-9a-f]*\)$/\1/p' "$info")
	# kjsave undoes A's kexec swap in the image (flag unswapped): then the
	# entry is the one without the swap, in the same control page, and the
	# swap's destinations in B's region are saved as A's return leaves them
	unswapped=; grep -q '^resume-flags .* unswapped' "$info" && unswapped=1
	if [ -n "$unswapped" ]; then
		[ -n "$img_entry" ] && [ $((img_entry & ~4095)) -eq $((entry & ~4095)) ] &&
			[ $((img_entry)) -ne $((entry)) ] ||
			{ echo "unswapped image: entry '$img_entry' is not beside the LINUXKJUMP note's $entry"; return 1; }
	else
		[ -n "$img_entry" ] && [ $((img_entry)) -eq $((entry)) ] ||
			{ echo "image entry '$img_entry' differs from the LINUXKJUMP note's $entry"; return 1; }
	fi
	# A's System RAM (B's /sys/firmware/memmap), B's RAM, the segments
	sed -n 's/^KJ-MEMMAP \(0x[0-9a-f]*\) \(0x[0-9a-f]*\) System RAM$/\1 \2/p' "$t.serial" |
		while read -r s e; do echo $((s)) $((e + 1)); done | merge_ranges > "$t.aram"
	sed -n 's/^KJ-BRAM \(0x[0-9a-f]*\) \(0x[0-9a-f]*\)$/\1 \2/p' "$t.serial" |
		while read -r s e; do echo $((s)) $((e + 1)); done | merge_ranges > "$t.bram"
	sed -n 's/^\(segments\)\? *\[\(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\] chunks.*/\2 \3/p' "$info" |
		while read -r s e; do echo $((s)) $((e + 1)); done > "$t.segs"
	[ -s "$t.aram" ] && [ -s "$t.bram" ] && [ -s "$t.segs" ] ||
		{ echo "no memory map, B RAM or segments to compare"; return 1; }
	# segments: sorted, disjoint (each byte once)
	sort -n -k1,1 "$t.segs" | cmp -s - "$t.segs" || { echo "segments not sorted"; return 1; }
	e=0
	while read -r s ty; do
		[ "$s" -ge "$e" ] || { echo "segments overlap at $(printf %#x "$s")"; return 1; }
		e=$ty
	done < "$t.segs"
	merge_ranges < "$t.segs" > "$t.segs-merged"
	subtract_ranges "$t.aram" "$t.bram" > "$t.need"
	subtract_ranges "$t.need" "$t.segs-merged" > "$t.missing"
	# what kjsave says it left out (free pages, unswapped images' kexec
	# source pages) is missing, nothing else
	left=$(sed -n "s/^kjsave: left out \([0-9]*\) of the dropped pages.*/\1/p" "$t.serial" | tail -n1)
	[ "$(bytes "$t.missing")" = $(( ${left:-0} * 4096 )) ] ||
		{ echo "A's RAM missing from the image beyond the ${left:-0} pages kjsave left out: $(ranges_hex "$t.missing")"; return 1; }
	subtract_ranges "$t.segs-merged" "$t.bram" > "$t.outside-b"
	[ -n "$unswapped" ] || cmp -s "$t.outside-b" "$t.segs-merged" || { echo "the image holds some of B's RAM"; return 1; }
	# the image's own /memmap is that map
	grep -q '^memmap ' "$info" || { echo "no /memmap recorded"; return 1; }
	local inb=", none of B's"
	[ -n "$unswapped" ] && inb=", and A's swapped pages in it"
	echo "image: complete, every chunk check ok, entry $img_entry${unswapped:+ (without the swap)};" \
		"$(wc -l < "$t.segs") segments, $(bytes "$t.segs") bytes: the $(bytes "$t.need") bytes of A's" \
		"System RAM outside B's RAM ($(( $(bytes "$t.bram") >> 20 )) MiB)$inb, less ${left:-0} pages left out;" \
		"$(( $(sed -n 's/^data-end *//p' "$info") >> 20 )) MiB on disk"
	grep -a '^kjsave: .* state complete$' "$t.serial" | tail -n1
}
if grep -aq "^KJ-RESULT PASS" "$KJ_OUT/$name.serial" && saved_ok; then
	kj_log "$name: PASS in $(( $(date +%s) - start )) s"
	exit 0
fi
kj_log "$name: FAIL (qemu exit $rc after $(( $(date +%s) - start )) s)"
kj_report "$name" "$kdir/System.map"
exit 1
