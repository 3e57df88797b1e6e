#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the resume benchmark's initramfs (tests/bench/resume.sh).
# kjrole= picks the part:
#   S  Linux's own hibernation (swsusp) to the swap partition /dev/vda3;
#      kjphase=hibernate starts the workload and hibernates,
#      kjphase=resume writes the partition's device number to
#      /sys/power/resume (an initramfs-only system has nobody else to do
#      it) and only comes back if there is no image.
#   A  kexec-jump hibernation: starts the workload, loads B, jumps.
#   B  saves A with kjsave (-l kjsave=: a zlib level or lz4) to /dev/vda2
#      and powers off.
# The host stamps every serial line on arrival; the lines that mark a
# phase start with "KJ-T: " (the guest clock means nothing across a
# hibernation). Anything that goes wrong prints "KJ-RESULT FAIL".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

arg() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" /proc/cmdline | head -n1; }
role=$(arg kjrole)
mark() { echo "KJ-T: $*"; }
die() { echo "KJ-RESULT FAIL $role: $*"; poweroff -f; sleep 5; exit 1; }

swapdev=/dev/vda3

if [ "$role" = S ] && [ "$(arg kjphase)" = resume ]; then
	mark "init"
	# the restore kernel's PM lines (pr_info) on the console
	echo 7 > /proc/sys/kernel/printk
	# resumes, or returns when the partition holds no image
	cat /sys/class/block/vda3/dev > /sys/power/resume
	die "swsusp found no image on $swapdev"
fi

if [ "$role" = B ]; then
	mark "B up"
	# kjsavev=1: kjsave says where its time went (and what it sanitised)
	q=-q
	[ "$(arg kjsavev)" = 1 ] && q=
	/bin/kjsave $q $(arg kjsaveopt) -l "$(arg kjsave)" /dev/vda2 || die "kjsave failed"
	mark "B saved"
	sync
	poweroff -f
	sleep 5
	die "poweroff failed"
fi

mount -t tmpfs tmp /tmp
mib=$(arg kjmib)
mkdir -p /tmp/wl
/bin/kjworkload "$mib" /tmp/wl $(arg kjdata) &
wl=$!
while [ ! -s /tmp/wl/seed ]; do sleep 0.2; done
sum=$(cut -d' ' -f2 /tmp/wl/seed)
echo "KJ-$role: up, $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, workload $mib MiB, pid $wl, checksum $sum"

verify() {
	rm -f /tmp/wl/verify
	kill -USR1 "$wl" || die "workload process is gone"
	i=0
	while [ ! -s /tmp/wl/verify ]; do
		i=$((i + 1)); [ $i -lt 6000 ] || die "workload does not answer"
		sleep 0.05
	done
	v=$(cat /tmp/wl/verify)
	[ "$v" = "ok $sum" ] || die "workload memory changed: $v (want ok $sum)"
}

back() {
	# first sign of life: the workload's counter moves again
	c0=$(cat /tmp/wl/counter)
	mark "back"
	i=0
	while [ "$(cat /tmp/wl/counter)" = "$c0" ]; do
		i=$((i + 1)); [ $i -lt 6000 ] || die "workload does not run"
		sleep 0.02
	done
	mark "running"
	verify
	mark "verified $v"
	echo "KJ-RESULT PASS"
	poweroff -f
	sleep 5
}

if [ "$role" = S ]; then
	mkswap "$swapdev" >/dev/null || die "mkswap failed"
	swapon "$swapdev" || die "swapon failed"
	cat /sys/class/block/vda3/dev > /sys/power/resume
	# power off after writing the image (no ACPI S4), and no image-size
	# target: save what is in use, as kjsave does, without reclaim
	echo shutdown > /sys/power/disk
	cat /sys/power/image_size > /tmp/image_size.default
	awk '/^MemTotal/ {print $2 * 1024}' /proc/meminfo > /sys/power/image_size
	echo "KJ-S: compressor $(cat /sys/module/hibernate/parameters/compressor), image_size $(cat /sys/power/image_size) (default $(cat /tmp/image_size.default))"
	# PM's own progress lines (pr_info) on the console while hibernating
	echo 7 > /proc/sys/kernel/printk
	mark "hibernate"
	echo disk > /sys/power/state || die "echo disk > /sys/power/state failed"
	echo 4 > /proc/sys/kernel/printk
	back
	die "unreachable"
fi

[ "$role" = A ] || die "unknown kjrole=$role"

# B's memory: as tests/qemu/init.sh (b_ranges, b_memmap): A's System RAM
# within [0, memmax], less the top 64 KiB (kexec-tools' elfcorehdr) and
# the last page of each RAM range (kexec-tools 2.0.25 does not back it up).
memmax=$(arg kjmemmax)
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
# B's CPUs (kjsave compresses on each): kjbcpus=N, else A's online CPUs,
# at most 4; and clearcpuid=131 (no MWAIT in B), as tools/kjhibernate
bcpus=$(arg kjbcpus)
if [ -z "$bcpus" ]; then
	bcpus=$(grep -c '^processor' /proc/cpuinfo)
	[ "$bcpus" -le 4 ] || bcpus=4
fi
[ "$bcpus" -ge 1 ] 2>/dev/null || bcpus=1
# -i: no purgatory SHA-256 of B's segments, as tools/kjhibernate
kexec -c -i --load-preserve-context --noefi --mem-min=0 --mem-max="$memmax" \
	--initrd=/b.cpio.gz \
	--append="console=ttyS0 panic=1 no_timer_check nr_cpus=$bcpus clearcpuid=131 kjrole=B kjsave=$(arg kjsave) $(arg kjsaveopt | sed 's/^./kjsaveopt=&/') $(arg kjsavev | sed 's/^./kjsavev=&/') $(b_memmap)" \
	/boot/bzImage > /tmp/kexec.log 2>&1 || { cat /tmp/kexec.log; die "kexec --load-preserve-context failed"; }
# A's own PM lines on the console around the jump, as for swsusp
echo 7 > /proc/sys/kernel/printk
mark "hibernate"
kexec -e -x
echo 4 > /proc/sys/kernel/printk
back
die "unreachable"
