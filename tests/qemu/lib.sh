# SPDX-License-Identifier: MIT
# Shared by the QEMU tests: initramfs building, QEMU under OVMF, and
# failure reports (last serial lines, the exception behind a triple fault).
# shellcheck shell=bash

KJ_ROOT=${KJ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KJ_OUT=${KJ_OUT:-$KJ_ROOT/build/qemu}
OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
OVMF_VARS=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}

kj_log() { printf '[qemu] %s\n' "$*" >&2; }

# Copy an executable and the shared libraries it needs into a root dir.
kj_copy_exe() {
	local root=$1 exe=$2 lib
	install -D -m 755 "$exe" "$root/bin/$(basename "$exe")"
	for lib in $(ldd "$exe" 2>/dev/null | grep -o '/[^ ]*\.so[^ ]*'); do
		[ -e "$root$lib" ] || install -D -m 755 "$lib" "$root$lib"
	done
}

# kj_initramfs OUT.cpio.gz ROOTDIR: pack a directory as a gzip'd newc cpio.
kj_pack() {
	(cd "$2" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 > "$1"
}

# Build the test initramfs images for kernel VERSION into $KJ_OUT/VERSION:
# b.cpio.gz (B's) and a.cpio.gz (A's, which carries B's kernel and initramfs).
kj_build_initramfs() {
	local kdir=$1 out=$2 root
	mkdir -p "$out" "$KJ_OUT/bin"
	gcc -static -O2 -Wall -Wextra -Werror -o "$KJ_OUT/bin/kjworkload" "$KJ_ROOT/tests/qemu/workload.c"
	gcc -static -O2 -Wall -Wextra -Werror -o "$KJ_OUT/bin/vmcore-check" "$KJ_ROOT/tests/qemu/vmcore-check.c"
	gcc -static -O2 -Wall -Wextra -Werror -o "$KJ_OUT/bin/memdigest" "$KJ_ROOT/tests/qemu/memdigest.c"
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,boot,etc}
	install -m 755 /bin/busybox "$root/bin/busybox"
	install -m 755 "$KJ_ROOT/tests/qemu/init.sh" "$root/init"
	kj_copy_exe "$root" /usr/sbin/kexec
	kj_copy_exe "$root" "$KJ_OUT/bin/vmcore-check"
	make -s -C "$KJ_ROOT" tools-static >&2 || return 1
	kj_copy_exe "$root" "$KJ_ROOT/build/tools-static/kjsave"
	kj_pack "$out/b.cpio.gz" "$root"
	kj_copy_exe "$root" "$KJ_OUT/bin/kjworkload"
	kj_copy_exe "$root" "$KJ_OUT/bin/memdigest"
	cp "$out/b.cpio.gz" "$root/b.cpio.gz"
	cp "$kdir/bzImage" "$root/boot/bzImage"
	kj_pack "$out/a.cpio.gz" "$root"
	rm -rf "$root"
}

# kj_qemu NAME TIMEOUT QEMU-ARGS...: run QEMU (q35, TCG, -cpu max, OVMF),
# serial to $KJ_OUT/NAME.serial, the last exceptions to $KJ_OUT/NAME.int.
kj_qemu() {
	local name=$1 tmo=$2; shift 2
	local vars="$KJ_OUT/$name.vars.fd"
	cp "$OVMF_VARS" "$vars"
	rm -f "$KJ_OUT/$name.serial" "$KJ_OUT/$name.int"
	timeout --foreground "$tmo" qemu-system-x86_64 \
		-machine q35,accel=tcg -cpu "${KJ_CPU:-max}" -nographic -no-reboot -net none \
		-drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
		-drive if=pflash,format=raw,file="$vars" \
		-serial file:"$KJ_OUT/$name.serial" -monitor none \
		-d int,cpu_reset -D >(tail -n 4000 > "$KJ_OUT/$name.int") \
		"$@" </dev/null >/dev/null 2>&1
	local rc=$?
	sleep 0.5 # let the log tail finish
	return $rc
}

# Explain a failed run: last serial lines and, after a triple fault,
# the exceptions that led to it with the kernel symbol of each RIP.
kj_report() {
	local name=$1 sysmap=${2:-}
	echo "--- last serial lines of $name:"
	tr -d '\r' < "$KJ_OUT/$name.serial" | grep -av '^\s*$' | tail -n 25 | sed 's/^/  | /'
	if grep -q 'Triple fault\|CPU Reset' "$KJ_OUT/$name.int" 2>/dev/null; then
		echo "--- CPU reset (triple fault); last exceptions:"
		grep -a ' v=' "$KJ_OUT/$name.int" | tail -n 6 | while read -r line; do
			local ip sym=""
			ip=$(echo "$line" | sed -n 's/.*pc=\([0-9a-f]*\).*/\1/p')
			[ -n "$ip" ] || ip=$(echo "$line" | sed -n 's/.*IP=[0-9a-f]*:\([0-9a-f]*\).*/\1/p')
			# only kernel-text addresses have a symbol
			if [ -n "$sysmap" ] && [[ $ip == ffffffff8* ]]; then
				# System.map addresses are 16 hex digits: sort finds the symbol
				local near
				near=$( { printf '%016x ~ @ip\n' "$((16#$ip))"; cat "$sysmap"; } |
					sort | grep -B1 ' @ip$' | head -n1)
				case $near in
				*' @ip') ;;
				*) sym="${near##* }+$(printf '%#x' $((16#$ip - 16#${near%% *})))" ;;
				esac
			fi
			echo "  $line ${sym:+<$sym>}"
		done
	fi
}

# kj_make_disk DISK IMG_MIB ESPDIR [ESP_MIB]: a GPT disk with an ESP (FAT,
# 64 MiB, the contents of ESPDIR) and an empty image partition "kjresume".
kj_make_disk() {
	local disk=$1 img_mib=$2 espdir=$3 esp_mib=${4:-64} esp="$1.esp"
	rm -f "$disk" "$esp"
	truncate -s $((esp_mib + img_mib + 2))M "$disk"
	sgdisk -n 1:1M:+${esp_mib}M -t 1:ef00 -c 1:ESP \
		-n 2:0:+${img_mib}M -t 2:8300 -c 2:kjresume "$disk" >/dev/null || return 1
	mkfs.vfat -C "$esp" $((esp_mib * 1024)) >/dev/null || return 1
	mcopy -s -i "$esp" "$espdir"/* ::/ || return 1
	dd if="$esp" of="$disk" bs=1M seek=1 conv=notrunc status=none || return 1
	rm -f "$esp"
}

# kj_part DISK N: "OFFSET SIZE" in bytes of partition N.
kj_part() {
	sgdisk -i "$2" "$1" | awk '/^First sector/ {f=$3} /^Last sector/ {l=$3}
		END {printf "%.0f %.0f\n", f * 512, (l - f + 1) * 512}' # mawk's %d stops at 2^31 - 1
}

# kj_part_dump DISK N FILE: copy partition N out (for kjimage on the host);
# sparse, so that a GiB partition holding a small image takes little disk.
kj_part_dump() {
	local off size
	read -r off size < <(kj_part "$1" "$2")
	dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" conv=sparse status=none
}

# kj_part_poke DISK N OFFSET HEXBYTES... : overwrite bytes inside partition N.
kj_part_poke() {
	local disk=$1 n=$2 at=$3 off size; shift 3
	read -r off size < <(kj_part "$disk" "$n")
	printf "$(printf '\\x%s' "$@")" |
		dd of="$disk" bs=1 seek=$((off + at)) conv=notrunc status=none
}

# kj_qemu_until NAME TIMEOUT PATTERN QEMU-ARGS...: like kj_qemu, but stop
# QEMU as soon as PATTERN appears on the serial console (for boots that
# would otherwise go on, e.g. into the firmware's next boot option).
kj_qemu_until() {
	local name=$1 tmo=$2 pat=$3; shift 3
	# QEMU stays in the foreground (it must own the terminal); a watcher
	# stops it once the pattern is on the serial log
	(
		sleep 2
		while pgrep -f "serial file:$KJ_OUT/$name.serial" >/dev/null; do
			if tr -d '\r' < "$KJ_OUT/$name.serial" 2>/dev/null | grep -a "$pat" >/dev/null; then
				sleep 1
				pkill -f "serial file:$KJ_OUT/$name.serial"
				break
			fi
			sleep 0.5
		done
	) &
	local watcher=$!
	kj_qemu "$name" "$tmo" "$@"
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	return 0
}

# kj_follow NAME: with KJ_SHOW set, print the harness-relevant lines of
# NAME's serial log live (kernels' KJ- lines, the loader, kjsave's
# progress) until kj_unfollow.
kj_follow() {
	[ -n "${KJ_SHOW:-}" ] || return 0
	: > "$KJ_OUT/$1.serial"
	tail -F "$KJ_OUT/$1.serial" 2>/dev/null | stdbuf -o0 tr '\r' '\n' |
		grep --line-buffered -a '^KJ-[AB]:\|^KJ-RESULT\|^kjresume\|^kjsave: [0-9]*/\|^kjsave: /\|Linux version' &
	KJ_FOLLOW_PID=$!
}
kj_unfollow() {
	[ -n "${KJ_SHOW:-}" ] || return 0
	sleep 1
	pkill -f "tail -F $KJ_OUT/$1.serial" 2>/dev/null
	wait "$KJ_FOLLOW_PID" 2>/dev/null
}
