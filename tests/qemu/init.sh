#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the test initramfs. kjrole= on the kernel command line picks
# the part: A (the kernel that hibernates) or B (the kexec'd saver).
# Lines starting with "KJ-" are read by the harness (tests/qemu/lib.sh).
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp

arg() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" /proc/cmdline | head -n1; }
role=$(arg kjrole)
say() { echo "KJ-$role: $*"; }
die() { echo "KJ-RESULT FAIL $role: $*"; poweroff -f; sleep 5; exit 1; }

# kjrole=B: check the core, then jump back to A.
if [ "$role" = B ]; then
	entry=$(arg kexec_jump_back_entry)
	say "up, $(uname -r), kexec_jump_back_entry=$entry"
	[ -n "$entry" ] || die "no kexec_jump_back_entry= on the command line"
	KJ_VERBOSE=$(arg kjsave) /bin/vmcore-check /proc/vmcore "$entry" || die "vmcore check failed"
	# kjhibernate=DEV: a hibernation: save the image to DEV, power off
	if [ -n "$(arg kjhibernate)" ]; then
		# DEV, or FSTYPE:DEV:PATH for a file on the filesystem on DEV
		# (written in place: its first block is in the loader's settings)
		dev=$(arg kjhibernate); target=$dev; inplace=
		case $dev in
		*:*:*)	fs=${dev%%:*}; rest=${dev#*:}
			mkdir -p /mnt
			mount -t "$fs" "${rest%%:*}" /mnt || die "cannot mount ${rest%%:*}"
			target=/mnt${rest#*:}; inplace=--in-place ;;
		esac
		say "hibernating: saving A's memory to $target"
		# kjsave=lz4 (kjhibernate's default) or a zlib level
		/bin/kjsave $inplace $(arg kjsaveopt) -l "$(arg kjsave)" "$target" || die "kjsave failed"
		case $dev in *:*:*) umount /mnt || die "cannot unmount ${rest%%:*}" ;; esac
		say "image saved; powering off"
		sync
		poweroff -f
		sleep 5
	fi
	if [ -n "$(arg kjsave)" ] && [ -b /dev/vda ]; then
		say "saving A's memory to /dev/vda"
		# for the host's completeness check (roundtrip.sh): A's map as
		# B got it, and B's own RAM
		for m in /sys/firmware/memmap/*; do
			echo "KJ-MEMMAP $(cat "$m/start") $(cat "$m/end") $(cat "$m/type")"
		done
		sed -n 's/^\([0-9a-f]*\)-\([0-9a-f]*\) : System RAM$/KJ-BRAM 0x\1 0x\2/p' /proc/iomem
		t0=$(cut -d' ' -f1 /proc/uptime)
		/bin/kjsave -v -l 1 /dev/vda || die "kjsave failed"
		say "image saved ($t0 -> $(cut -d' ' -f1 /proc/uptime) s uptime)"
	fi
	if [ -n "$(arg kjreenter)" ]; then
		say "checks done; jumping back to A (B stays resident)"
	fi
	# kjbadentry=ADDR: jump to a wrong address (tests the harness's crash report)
	[ -n "$(arg kjbadentry)" ] && entry=$(arg kjbadentry)
	kexec --load-jump-back-helper --entry="$entry" || die "cannot load the jump-back helper"
	say "jumping back to A at $entry"
	kexec -e
	# A re-entered B (kjreenter): this kexec -e returned
	say "re-entered by A"
	/bin/vmcore-check /proc/vmcore "$entry" >/dev/null || die "vmcore check failed after re-entry"
	kexec -u
	kexec --load-jump-back-helper --entry="$entry" || die "cannot reload the jump-back helper"
	say "jumping back to A again"
	kexec -e
	die "kexec -e returned in B"
fi

[ "$role" = A ] || die "unknown kjrole=$role"

save=$(arg kjsave); saveopt=$(arg kjsaveopt); badentry=$(arg kjbadentry); mib=$(arg kjmib); rounds=$(arg kjrounds); memmax=$(arg kjmemmax); reenter=$(arg kjreenter)
hib=$(arg kjhibernate)
say "up, $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, workload ${mib} MiB, $rounds round trips"

mkdir -p /tmp/wl
/bin/kjworkload "$mib" /tmp/wl &
wl=$!
while [ ! -s /tmp/wl/seed ]; do sleep 0.2; done
sum=$(cut -d' ' -f2 /tmp/wl/seed)
dd if=/dev/urandom of=/tmp/tmpfs-file bs=1M count=8 2>/dev/null
tsum=$(sha256sum /tmp/tmpfs-file | cut -d' ' -f1)
# A's own files (page cache of the initramfs) must survive too
fsum=$(cat /b.cpio.gz /boot/bzImage /bin/* | sha256sum | cut -d' ' -f1)
say "workload pid $wl checksum $sum, tmpfs file sha256 $tsum"

verify() {
	rm -f /tmp/wl/verify
	kill -USR1 "$wl" || die "workload process is gone"
	i=0
	while [ ! -s /tmp/wl/verify ]; do
		i=$((i + 1)); [ $i -lt 300 ] || die "workload does not answer"
		sleep 0.1
	done
	v=$(cat /tmp/wl/verify)
	[ "$v" = "ok $sum" ] || die "workload memory changed: $v (want ok $sum)"
	[ "$(sha256sum /tmp/tmpfs-file | cut -d' ' -f1)" = "$tsum" ] || die "tmpfs file changed"
	[ "$(cat /b.cpio.gz /boot/bzImage /bin/* | sha256sum | cut -d' ' -f1)" = "$fsum" ] || die "initramfs files changed"
}

# B's memory: A's System RAM within [0, memmax], less the top 64 KiB where
# kexec-tools puts the elfcorehdr (top-down, 16 KiB), and less the last
# page of each RAM range: kexec-tools 2.0.25's add_backup_segments() does
# not back that page up (inclusive range end, aligned down), so B must not
# use it. (Its own --pass-memmap-cmdline emits negative sizes for OVMF's
# ACPI ranges, hence a map of our own.) check_b_covered() verifies the
# result against the segments kexec actually loaded.
b_ranges() {
	top=$((memmax + 1 - 0x10000))
	for r in $(sed -n 's/^\([0-9a-f]*\)-\([0-9a-f]*\) : System RAM$/\1-\2/p' /proc/iomem); do
		s=$((0x${r%-*})); e=$((0x${r#*-} + 1 - 4096))
		[ $s -lt $top ] || continue
		[ $e -le $top ] || e=$top
		[ $e -gt $s ] && echo "$s $e"
	done
}

b_memmap() {
	m="memmap=exactmap"
	b_ranges | while read -r s e; do printf ' memmap=%dK@%dK' $(((e - s) / 1024)) $((s / 1024)); done | sed "s/^/$m/"
}

# Every page B may use must be a kexec segment (so it is swapped back).
check_b_covered() {
	segs=$(sed -n 's/^segment\[[0-9]*\]\.mem *= *\(0x[0-9a-f]*\)$/\1/p; s/^segment\[[0-9]*\]\.memsz *= *\(0x[0-9a-f]*\)$/\1/p' /tmp/kexec.log | paste - - )
	b_ranges | while read -r s e; do
		cur=$s
		while [ $cur -lt $e ]; do
			next=$cur
			echo "$segs" | { while read -r ms mz; do
				if [ $((ms)) -le $cur ] && [ $cur -lt $((ms + mz)) ]; then echo $((ms + mz)); fi
			done; } > /tmp/next
			next=$(head -n1 /tmp/next)
			[ -n "$next" ] || { echo "page $(printf %#x $cur) of B's RAM is not backed up"; return 1; }
			cur=$next
		done
	done
}

# B's CPUs (kjsave compresses on each): kjbcpus=N, else A's online CPUs,
# at most 4; and clearcpuid=131 (no MWAIT in B), as tools/kjhibernate
b_cpus() {
	n=$(arg kjbcpus)
	if [ -z "$n" ]; then
		n=$(grep -c '^processor' /proc/cpuinfo)
		[ "$n" -le 4 ] || n=4
	fi
	[ "$n" -ge 1 ] 2>/dev/null || n=1
	echo "$n"
}

load_b() {
	kexec -d -c -i --load-preserve-context --noefi --mem-min=0 --mem-max="$memmax" \
		--initrd=/b.cpio.gz \
		--append="console=ttyS0 earlyprintk=serial panic=1 nr_cpus=$(b_cpus) clearcpuid=131 no_console_suspend kjrole=B $reenter ${save:+kjsave=$save} ${saveopt:+kjsaveopt=$saveopt} ${hib:+kjhibernate=$hib} ${badentry:+kjbadentry=$badentry} $(b_memmap)" \
		/boot/bzImage > /tmp/kexec.log 2>&1 || { cat /tmp/kexec.log; die "kexec --load-preserve-context failed"; }
	check_b_covered || die "B's memory map is not covered by kexec's backup segments"
}

load_b
r=1
while [ "$r" -le "$rounds" ]; do
	verify
	c0=$(cat /tmp/wl/counter)
	say "round $r: counter $c0, jumping to B"
	[ -n "$(arg kjdigest)" ] && memdigest save /tmp/digest
	kexec -e -x
	say "round $r: back in A (kexec -e returned $?)"
	[ -n "$(arg kjdigest)" ] && memdigest diff /tmp/digest "$(arg kjdigest)"
	verify
	c1=$(cat /tmp/wl/counter)
	sleep 1
	c2=$(cat /tmp/wl/counter)
	[ "$c1" -ge "$c0" ] && [ "$c2" -gt "$c1" ] || die "counter did not continue: $c0 -> $c1 -> $c2"
	say "round $r: workload memory intact, tmpfs intact, counter $c0 -> $c1 -> $c2"
	if [ -z "$reenter" ]; then
		# Fresh B for the next round, as a hibernation would
		kexec -u || die "kexec -u failed"
		[ "$r" -lt "$rounds" ] && load_b
	fi
	r=$((r + 1))
done
echo "KJ-RESULT PASS $rounds round trips"
poweroff -f
