#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Resume benchmark: kjresume against Linux's own hibernation (swsusp),
# side by side in the same VM (issue 7). A benchmark, not a test: not
# part of make check.
#
#   tests/bench/resume.sh [N...]        (default: 256 1024)
#
# For each workload size N MiB (tests/qemu/workload.c: N MiB of live,
# checksummed memory) one disk (GPT: ESP with kjresume.efi, the image
# partition "kjresume", a swap partition) and RAM = 2 N + 512 MiB, + N/16 beyond N = 1024 (swsusp
# needs room for its in-memory copy of the image), every configuration
# is run in turn, each as one hibernating boot and one resuming boot:
#
#   swsusp-lzo, swsusp-lz4  echo disk > /sys/power/state onto the swap
#                           partition (hibernate.compressor=), resume by
#                           booting the same kernel, /sys/power/resume
#   kj-l0, kj-l1, kj-lz4    A kexec-jumps to B, B runs kjsave -l 0 (stored),
#                           -l 1 (zlib) or --lz4 onto "kjresume"; resume:
#                           OVMF -> kjresume.efi -> A. Before the resume
#                           of a level-0 image, one boot with the loader's
#                           dry-run (reads and verifies the whole image,
#                           no resume): the firmware's raw read rate.
#
# Times come from the host: every serial line is stamped on arrival
# (tests/bench/stamp.c); the guest's clock stops across a hibernation.
#   hibernate   "KJ-T: hibernate" (just before echo disk / kexec -e) to
#               QEMU's exit at power-off
#   resume      VM start (QEMU's start; KJ_BENCH_RAM=backed: the guest's
#               start once QEMU has backed its RAM) to "KJ-T: running" (the resumed workload's
#               counter moved) and to "KJ-T: verified" (it answered
#               SIGUSR1 with the right checksum of its N MiB)
# and the loader's own phase timings (its guest clock, within one boot).
#
# Output: build/bench/resume/ (logs, results.tsv, table.txt, resume.png).
# QEMU's CPU time is stamped too: a busy host inflates it far less than
# wall time, but it counts work on two vCPUs twice.
# The report (tests/bench/resume-report.sh) takes, per configuration, the
# run with the fastest resume: repeat the whole set on a busy host.
#
# Knobs:
#   KJ_BENCH_SRC      HEAD: the commit whose loader and kjsave are measured,
#                     built from a clean export; "worktree": the checkout
#   KJ_BENCH_REPEAT   1: runs of the whole set per N, interleaved
#   KJ_BENCH_APPEND_RESULTS=1  add to the last results.tsv (use the same
#                     KJ_BENCH_SRC commit)
#   KJ_BENCH_METHODS  "swsusp-lzo kj-l0 swsusp-lz4 kj-l1"
#   KJ_BENCH_DRYRUN   "l0": kj methods whose image gets a dry run first
#   KJ_BENCH_DATA     random: the workload's memory is incompressible;
#                     half: every page's second half repeats its first
#                     (2:1 for zlib, LZO and LZ4 alike)
#   KJ_BENCH_RAM      backed: QEMU starts paused with its RAM preallocated
#                     (-S -mem-prealloc) and every clock starts when the
#                     guest is let run (QMP "cont"), as on a machine whose
#                     RAM exists before its firmware starts; lazy: RAM is
#                     backed page by page as the guest first touches it,
#                     clocks from QEMU's start (the figures before 2026-12-04).
#                     This VM's host hands freed memory back to its own
#                     hypervisor (free page reporting), so a first touch
#                     here costs up to 11 us per 4 KiB page: in lazy mode
#                     most of kjresume's read at N = 256 (docs/PERFORMANCE.md)
#   KJ_BENCH_DISK_MBS  read throttle of the disk, MiB/s (QEMU's
#                     throttling.bps-read; default none: the host's page
#                     cache, 3.5-11 GiB/s on the machines measured, far
#                     faster against these emulated CPUs than any disk is
#                     against native ones; 512 stands to them as an NVMe
#                     SSD to native CPUs, docs/PERFORMANCE.md)
#   KJ_BENCH_TPM      tpm12: every boot has a TPM 1.2 (swtpm) on the
#                     LPC bus; none: no TPM, as before 2026-12-06. Debian's
#                     OVMF probes for a TPM at 0xfed40000 in PEI: where
#                     nothing answers, a real bus reads 0xff and the probe
#                     ends at once, but QEMU reads 0 there, and OVMF waits
#                     out two TIS timeouts, 1.5 s of every boot that no
#                     real machine pays (docs/PERFORMANCE.md). A TPM 1.2
#                     answers the probe: the loader starts 1.1-1.2 s
#                     sooner. (With a TPM 2.0 OVMF measures the boot,
#                     hashing under TCG: 1.5 s later than with none.)
#   KJ_BENCH_QEMU_ARGS  more QEMU options for every boot (word-split)
#   KJ_BENCH_SAVEOPT  one more kjsave option (one word), e.g. --keep-swap
#   KJ_BENCH_BCPUS    CPUs of kernel B, where kjsave compresses on every
#                     one (default: A's, at most 4, as tools/kjhibernate)
#   KJ_BENCH_SAVE_TIMES=1  kjsave without -q: its log says where the save's
#                     time went
#   KJ_BENCH_KEEP_IMAGE=1  keep each kjresume image as OUT/NAME.img (as
#                     much disk as the images: for tests/bench/decode-efi.sh)
#   KJ_BENCH_VARS     warm: every boot starts from the NVRAM a first boot
#                     of the disk left (as on a machine that has booted
#                     before); fresh: from a fresh OVMF varstore
#   KJ_BENCH_VER (6.12), KJ_BENCH_SMP (2), KJ_BENCH_OUT, KJ_BENCH_TIMEOUT
#   (per boot, 1200 s), KJ_BENCH_APPEND (more kernel options, e.g.
#   "loglevel=7" instead of quiet boots)
set -uo pipefail
. "$(dirname "$0")/../qemu/lib.sh"

ver=${KJ_BENCH_VER:-6.12}
smp=${KJ_BENCH_SMP:-2}
reps=${KJ_BENCH_REPEAT:-1}
methods=${KJ_BENCH_METHODS:-swsusp-lzo kj-l0 swsusp-lz4 kj-l1}
dryrun=${KJ_BENCH_DRYRUN:-l0}
data=${KJ_BENCH_DATA:-random}
case $data in random|half) ;; *) echo "KJ_BENCH_DATA: random or half" >&2; exit 2 ;; esac
out=${KJ_BENCH_OUT:-$KJ_ROOT/build/bench/resume}
tmo=${KJ_BENCH_TIMEOUT:-1200}
ramode=${KJ_BENCH_RAM:-backed}
case $ramode in backed|lazy) ;; *) echo "KJ_BENCH_RAM: backed or lazy" >&2; exit 2 ;; esac
tpm=${KJ_BENCH_TPM:-tpm12}
case $tpm in tpm12|none) ;; *) echo "KJ_BENCH_TPM: tpm12 or none" >&2; exit 2 ;; esac
drv=file=PATH,format=raw,if=virtio	# PATH: the disk, per boot
[ -n "${KJ_BENCH_DISK_MBS:-}" ] && drv="$drv,throttling.bps-read=$((KJ_BENCH_DISK_MBS * 1048576))"
memmax=0x5ffffff	# B's region, as tests/qemu/hibernate.sh
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256 1024)
# quiet boots, as a distribution boots; the same options for every kernel
# (no_timer_check: a starved vCPU on a busy host otherwise sometimes
# fails the IO-APIC timer check and panics at boot)
append="console=ttyS0 panic=1 efi=noruntime quiet no_timer_check ${KJ_BENCH_APPEND:-}"
[ "$data" = half ] && append="$append kjdata=half"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

mkdir -p "$out"
# What is measured: the loader, kjsave and kjimage of one commit, built
# from a clean export (other work in progress in the checkout stays out),
# or with KJ_BENCH_SRC=worktree the files as they are.
src=${KJ_BENCH_SRC:-HEAD}
if [ "$src" = worktree ]; then
	tree=$KJ_ROOT
	desc="worktree $(git -C "$KJ_ROOT" describe --always --dirty 2>/dev/null)"
else
	tree=$out/src
	rm -rf "$tree" && mkdir -p "$tree"
	git -C "$KJ_ROOT" archive "$src" | tar -x -C "$tree" || die "cannot export $src"
	desc="commit $(git -C "$KJ_ROOT" rev-parse --short "$src")"
fi
log "benchmarking kjresume.efi, kjsave from $desc"
kdir=$("$tree/kernel/build.sh" "$ver") || exit 1
make -s -C "$tree" efi tools tools-static >&2 || exit 1
kjimage=$tree/build/tools/kjimage
echo "$desc; Linux $ver ($(basename "$kdir")); QEMU $(qemu-system-x86_64 --version | sed -n '1s/.*version //p'), TCG, -smp $smp, workload memory: $data, guest RAM: $ramode, TPM: $tpm${KJ_BENCH_DISK_MBS:+, disk reads throttled to $KJ_BENCH_DISK_MBS MiB/s}" > "$out/source"
bin=$out/bin
# swtpm's state and socket (a unix socket's path must be short)
tpmdir=$(mktemp -d /tmp/kj-bench-tpm.XXXXXX) || exit 1
trap 'rm -rf "$tpmdir"' EXIT
mkdir -p "$bin"
gcc -O2 -Wall -Wextra -Werror -o "$bin/stamp" "$KJ_ROOT/tests/bench/stamp.c" || exit 1
gcc -O2 -Wall -Wextra -Werror -o "$bin/nzpages" "$KJ_ROOT/tests/bench/nzpages.c" || exit 1
gcc -static -O2 -Wall -Wextra -Werror -o "$bin/kjworkload" "$KJ_ROOT/tests/qemu/workload.c" || exit 1

# initramfs images: s (swsusp: workload only), b (B: kjsave),
# a (A: workload, kexec, B's kernel and initramfs)
build_initramfs() {
	local root
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,boot,etc}
	install -m 755 /bin/busybox "$root/bin/busybox"
	install -m 755 "$KJ_ROOT/tests/bench/init.sh" "$root/init"
	kj_copy_exe "$root" "$bin/kjworkload"
	kj_pack "$out/s.cpio.gz" "$root"
	rm "$root/bin/kjworkload"
	kj_copy_exe "$root" "$tree/build/tools-static/kjsave"
	kj_pack "$out/b.cpio.gz" "$root"
	kj_copy_exe "$root" "$bin/kjworkload"
	kj_copy_exe "$root" /usr/sbin/kexec
	cp "$out/b.cpio.gz" "$root/b.cpio.gz"
	cp "$kdir/bzImage" "$root/boot/bzImage"
	kj_pack "$out/a.cpio.gz" "$root"
	rm -rf "$root"
}
build_initramfs || die "cannot build the initramfs images"

# The firmware's NVRAM: every boot starts from the same copy, by default
# one that a first boot of the disk has warmed (warm_vars), as a machine
# that has booted before has it. A fresh OVMF varstore makes its boot
# format the store and create the boot options (about 64 000 flash
# writes, most of a second under TCG), which no later boot of a real
# machine pays. KJ_BENCH_VARS=fresh: every boot on a fresh varstore.
vars_tmpl=$OVMF_VARS
warm_vars() {
	vars_tmpl=$OVMF_VARS
	[ "${KJ_BENCH_VARS:-warm}" = fresh ] && return 0
	set_conf "partlabel=kjresume pause=0"	# an empty partition: nothing to resume
	qrun "n$n-warmup" -u "continuing with a normal boot" -d 1 -- || true
	check "n$n-warmup" "nothing to resume" || return 1
	cp "$out/vars.fd" "$out/n$n.vars.fd"
	vars_tmpl=$out/n$n.vars.fd
}

# One boot under TCG, serial stamped into $out/NAME.log.
#   qrun NAME [stamp options] -- [qemu options]
qrun() {
	local name=$1; shift
	local sopts=() qopts=()
	while [ "$1" != -- ]; do sopts+=("$1"); shift; done
	shift
	if [ "$ramode" = backed ]; then
		rm -f "$out/qmp.sock"
		sopts+=(-q "$out/qmp.sock")
		qopts=(-S -mem-prealloc -qmp "unix:$out/qmp.sock,server=on,wait=off")
	fi
	cp "$vars_tmpl" "$out/vars.fd"
	if [ "$tpm" = tpm12 ]; then	# a fresh TPM for every boot
		rm -rf "$tpmdir"/* || return 1
		swtpm socket --tpmstate dir="$tpmdir" --ctrl type=unixio,path="$tpmdir/sock" \
			--pid file="$tpmdir/pid" --terminate --daemon || { log "$name: swtpm did not start"; return 1; }
		qopts+=(-chardev "socket,id=tpm,path=$tpmdir/sock" -tpmdev emulator,id=tpm0,chardev=tpm
			-device tpm-tis,tpmdev=tpm0)
	fi
	# the previous boot's writes reach the host's disk before this one
	# is timed, so that no boot pays for another's writeback
	sync
	local rc=0
	"$bin/stamp" -c -t "$tmo" "${sopts[@]}" "$out/$name.log" -- \
		qemu-system-x86_64 -machine q35,accel=tcg -cpu max -nodefaults -display none \
		-no-reboot -net none -monitor none -serial stdio \
		-drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
		-drive if=pflash,format=raw,file="$out/vars.fd" \
		-m "${ram}M" -smp "$smp" -drive "${drv/PATH/$disk}" \
		"${qopts[@]}" ${KJ_BENCH_QEMU_ARGS:-} "$@" </dev/null || rc=$?
	# swtpm leaves with QEMU's connection; not if QEMU never connected
	[ -f "$tpmdir/pid" ] && { kill "$(cat "$tpmdir/pid")" 2>/dev/null; rm -f "$tpmdir/pid"; }
	return $rc
}
# NAME.log: "WALL<TAB>CPU<TAB>LINE" (stamp -c)
# wall-clock stamp of the first line of NAME.log containing TEXT (empty if none)
at() { awk -F'\t' -v p="$2" 'index($3, p) {print $1; exit}' "$out/$1.log"; }
# QEMU's CPU seconds at that line
cpu_at() { awk -F'\t' -v p="$2" 'index($3, p) {print $2; exit}' "$out/$1.log"; }
# the text of that line
line() { awk -F'\t' -v p="$2" 'index($3, p) {print $3; exit}' "$out/$1.log"; }
exit_at() { awk -F'\t' '$3 ~ /^STAMP-EXIT/ {print $1}' "$out/$1.log"; }
exit_cpu() { awk -F'\t' '$3 ~ /^STAMP-EXIT/ {print $2}' "$out/$1.log"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.2f", a - b }'; }
# hibernate time of boot NAME, "WALL CPU": "KJ-T: hibernate" to QEMU's exit
hib_times() {
	echo "$(sub "$(exit_at "$1")" "$(at "$1" "KJ-T: hibernate")")" \
		"$(sub "$(exit_cpu "$1")" "$(cpu_at "$1" "KJ-T: hibernate")")"
}
check() { # NAME WANT: the boot printed WANT and no failure
	if grep -aq 'KJ-RESULT FAIL\|Kernel panic\|STAMP-TIMEOUT\|STAMP-QMP-FAILED' "$out/$1.log" || [ -z "$(at "$1" "$2")" ]; then
		log "$1: no '$2'; last lines:"
		tail -n 25 "$out/$1.log" | sed 's/^/  | /' >&2
		return 1
	fi
}

make_disk() { # DISK RAM_MIB: ESP, "kjresume", "swap"
	local d=$1 part=$(( $2 + 64 )) esp=$1.esp espdir
	espdir=$(mktemp -d)
	mkdir -p "$espdir/EFI/BOOT"
	cp "$tree/build/kjresume.efi" "$espdir/EFI/BOOT/BOOTX64.EFI"
	echo "partlabel=kjresume pause=0" > "$espdir/EFI/BOOT/kjresume.conf"
	rm -f "$d" "$esp"
	truncate -s $((64 + 2 * part + 2))M "$d"
	sgdisk -n 1:1M:+64M -t 1:ef00 -c 1:ESP -n 2:0:+${part}M -t 2:8300 -c 2:kjresume \
		-n 3:0:+${part}M -t 3:8200 -c 3:swap "$d" >/dev/null || return 1
	mkfs.vfat -C "$esp" $((64 * 1024)) >/dev/null || return 1
	mcopy -s -i "$esp" "$espdir"/* ::/ || return 1
	dd if="$esp" of="$d" bs=1M seek=1 conv=notrunc status=none || return 1
	rm -rf "$esp" "$espdir"
}
set_conf() { # loader options on the ESP
	echo "$1" > "$out/kjresume.conf"
	mcopy -o -i "$disk@@1M" "$out/kjresume.conf" ::/EFI/BOOT/kjresume.conf
}

results=$out/results.tsv
[ -s "$results" ] && [ -z "${KJ_BENCH_APPEND_RESULTS:-}" ] && mv "$results" "$results.old"
# One line per resuming (or dry-run) boot. _s: host wall clock, seconds;
# _cpu: QEMU's CPU seconds (all its threads), the same points; _ms: the
# guest's own clock within that one boot.
#   hibernate     "KJ-T: hibernate" to QEMU's exit at power-off (boot 1)
#   start         QEMU start until the loader runs (kjresume) or the
#                 restore kernel's init runs (swsusp: firmware + boot)
#   read          image read: swsusp from init to its "Read ... kbytes"
#                 line, kjresume its first progress line to "read N MiB"
#   after_read    from there to "KJ-T: back" (swsusp: restore, devices,
#                 thaw; kjresume: mark consumed, ExitBootServices, stub,
#                 A's jump-back path)
#   back running verified   QEMU start to "KJ-T: back" (user space runs
#                 again), "running" (the workload's counter moved),
#                 "verified" (it answered SIGUSR1 with the right checksum)
#   read_mib io_ms dec_ms el_ms  kjresume: the loader's own line (I/O,
#                 and the decode it waited for beyond the I/O); swsusp: its
#                 "Read K kbytes in S seconds" as read_mib, el_ms
#   csum_ms cpu_dec_ms cpu_chk_ms  kjresume: CPU time of the read summed
#                 over all CPUs: copy checksum, decode (copy or inflate),
#                 chunk check (XXH64 or CRC32)
#   stub_s        kjresume: the stub's copy, zero-fill and checksum pass,
#                 "relocating" to "memory restored and checked" (wall)
#   raw_mib raw_ms  dry-run: the firmware reading the image's payload
#                 and nothing else (the ceiling of the loader's read)
cols="n method rep ram_mib image_mib mem_mib hibernate_s hibernate_cpu"
cols="$cols start_s read_s after_read_s back_s running_s verified_s"
cols="$cols start_cpu read_cpu after_read_cpu running_cpu verified_cpu"
cols="$cols read_mib io_ms dec_ms el_ms csum_ms cpu_dec_ms cpu_chk_ms stub_s"
cols="$cols raw_mib raw_ms"
[ -s "$results" ] || echo $cols | tr ' ' '\t' > "$results"
row() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >> "$results"; }

# The resume-side columns of NAME, whose phases start at the lines
# containing START, R0 (read begins) and R1 (read done).
resume_cols() { # NAME START R0 R1
	local w c k p
	declare -A W C
	for k in start r0 r1 back running verified; do
		case $k in
		start) p=$2 ;; r0) p=$3 ;; r1) p=$4 ;; *) p="KJ-T: $k" ;;
		esac
		W[$k]=$(at "$1" "$p"); C[$k]=$(cpu_at "$1" "$p")
	done
	printf '%s\t' "${W[start]:--}" "$(sub "${W[r1]}" "${W[r0]}")" "$(sub "${W[back]}" "${W[r1]}")" \
		"${W[back]:--}" "${W[running]:--}" "${W[verified]:--}" \
		"${C[start]:--}" "$(sub "${C[r1]}" "${C[r0]}")" "$(sub "${C[back]}" "${C[r1]}")" \
		"${C[running]:--}" "${C[verified]:--}"
}

swsusp() { # COMPRESSOR
	local comp=$1 name="n$n-swsusp-$1-r$rep" mem img hib hibc
	log "$name: boot 1: hibernate ($n MiB workload, $ram MiB RAM, -smp $smp)"
	qrun "$name-hib" -- -kernel "$kdir/bzImage" -initrd "$out/s.cpio.gz" \
		-append "$append kjrole=S kjphase=hibernate kjmib=$n hibernate.compressor=$comp"
	check "$name-hib" "PM: hibernation: Wrote" || return 1
	read -r hib hibc < <(hib_times "$name-hib")
	# pages in the image (uncompressed) and pages on disk
	mem=$(line "$name-hib" "PM: hibernation: Wrote" | sed -n 's/.*Wrote \([0-9]*\) kbytes.*/\1/p')
	mem=$(awk -v k="$mem" 'BEGIN {printf "%.1f", k / 1024}')
	read -r off size < <(kj_part "$disk" 3)
	img=$(awk -v p="$("$bin/nzpages" "$disk" "$off" "$size")" 'BEGIN {printf "%.1f", p * 4096 / 1048576}')
	log "$name: boot 2: resume"
	qrun "$name-res" -- -kernel "$kdir/bzImage" -initrd "$out/s.cpio.gz" \
		-append "$append kjrole=S kjphase=resume kjmib=$n"
	check "$name-res" "KJ-T: verified" || return 1
	local rd kb sec
	# PM: hibernation: Read 92712 kbytes in 6.29 seconds (14.73 MB/s)
	rd=$(line "$name-res" "PM: hibernation: Read ")
	kb=$(echo "$rd" | sed -n 's/.*Read \([0-9]*\) kbytes.*/\1/p')
	sec=$(echo "$rd" | sed -n 's/.* in \([0-9.]*\) seconds.*/\1/p')
	row "$n" "swsusp-$comp" "$rep" "$ram" "$img" "$mem" "$hib" "$hibc" \
		$(resume_cols "$name-res" "KJ-T: init" "KJ-T: init" "PM: hibernation: Read ") \
		"$(awk -v k="$kb" 'BEGIN {printf "%.0f", k / 1024}')" - - \
		"$(awk -v s="$sec" 'BEGIN {printf "%.0f", s * 1000}')" - - - - - -
	log "$name: image $img MiB ($mem MiB of memory), hibernate $hib s ($hibc cpu), resume $(at "$name-res" "KJ-T: running") s ($(cpu_at "$name-res" "KJ-T: running") cpu)"
}

# the loader's own lines:
#   read M MiB in E ms: I/O I ms, decompress+verify D ms more on N CPU(s)
#   CPU time of the read, all CPUs: decode C ms, XXH64 K ms, copy checksum S ms, ...
#   dry-run: raw read of M MiB in T ms (...)
loader_fields() { # NAME -> "MIB IO DEC EL SUM CDEC CCHK"
	local a b
	a=$(line "$1" "kjresume: read " | sed -n \
		-e 's/.*read \([0-9]*\) MiB in \([0-9]*\) ms: I\/O \([0-9]*\) ms, decompress+verify \([0-9]*\) ms.*/\1 \3 \4 \2/p')
	b=$(line "$1" "CPU time of the read" | sed -n \
		-e 's/.*decode \([0-9]*\) ms, [A-Z0-9]* \([0-9]*\) ms, copy checksum \([0-9]*\) ms.*/\3 \1 \2/p')
	echo "${a:-- - - -} ${b:-- - -}"
}
raw_fields() { # NAME -> "RAWMIB RAWMS"
	local b
	b=$(line "$1" "dry-run: raw read of" | sed -n -e 's/.*raw read of \([0-9]*\) MiB in \([0-9]*\) ms.*/\1 \2/p')
	echo "${b:-- -}"
}

kjresume() { # FORM: l0, l1 (kjsave -l N) or lz4 (kjsave -l lz4)
	local form=$1 name="n$n-kj-$1-r$rep" img mem hib hibc modes=res
	local save=$form	# kjsave -l's value: the level, or lz4
	[[ $form == l[0-9] ]] && save=${form#l}
	set_conf "partlabel=kjresume pause=0"
	log "$name: boot 1: A hibernates through B (kjsave $form)"
	qrun "$name-hib" -- -kernel "$kdir/bzImage" -initrd "$out/a.cpio.gz" \
		-append "$append kjrole=A kjmib=$n kjmemmax=$memmax kjsave=$save ${KJ_BENCH_SAVEOPT:+kjsaveopt=$KJ_BENCH_SAVEOPT} ${KJ_BENCH_BCPUS:+kjbcpus=$KJ_BENCH_BCPUS} ${KJ_BENCH_SAVE_TIMES:+kjsavev=1}"
	check "$name-hib" "KJ-T: B saved" || return 1
	read -r hib hibc < <(hib_times "$name-hib")
	kj_part_dump "$disk" 2 "$out/img"
	"$kjimage" info "$out/img" > "$out/$name.info" || return 1
	if [ "${KJ_BENCH_KEEP_IMAGE:-0}" = 1 ]; then mv "$out/img" "$out/$name.img"; else rm -f "$out/img"; fi
	img=$(awk '/^data-end/ {printf "%.1f", $2 / 1048576}' "$out/$name.info")

	case " $dryrun " in *" $form "*) modes="dry res" ;; esac
	for mode in $modes; do
		local opt="partlabel=kjresume pause=0" until=() f
		[ $mode = dry ] && { opt="$opt dry-run"; until=(-u "dry-run: every chunk verified" -d 0.2); }
		set_conf "$opt"
		log "$name: boot: OVMF -> kjresume.efi ($opt)"
		qrun "$name-$mode" "${until[@]}" --
		if [ $mode = dry ]; then
			check "$name-$mode" "dry-run: every chunk verified" || return 1
		else
			check "$name-$mode" "KJ-T: verified" || return 1
		fi
		f=($(loader_fields "$name-$mode") "$(sub "$(at "$name-$mode" "memory restored and checked")" \
			"$(at "$name-$mode" "kjresume: relocating")")" $(raw_fields "$name-$mode"))
		mem=$(line "$name-$mode" "MiB of memory in" | sed -n 's/.*, \([0-9]*\) MiB of memory in.*/\1/p')
		row "$n" "kj-$form$([ $mode = dry ] && echo -dryrun)" "$rep" "$ram" "$img" "$mem" \
			"$([ $mode = dry ] && echo - || echo "$hib")" "$([ $mode = dry ] && echo - || echo "$hibc")" \
			$(resume_cols "$name-$mode" "resume loader for kexec-hibernated Linux" \
				"kjresume: reading image" "kjresume: read ") "${f[@]}"
	done
	log "$name: image $img MiB ($mem MiB of memory), hibernate $hib s ($hibc cpu), resume $(at "$name-res" "KJ-T: running") s ($(cpu_at "$name-res" "KJ-T: running") cpu); loader: ${f[*]}"
}

start=$(date +%s)
for n in "${sizes[@]}"; do
	# swsusp needs room for its copy of the image; beyond N = 1024 2 N +
	# 512 MiB falls short of its preallocation (at N = 4096 by 15 MiB)
	ram=$((2 * n + 512 + (n > 1024 ? n / 16 : 0)))
	disk=$out/n$n.disk
	make_disk "$disk" "$ram" || die "cannot build the disk"
	warm_vars || die "the firmware's warm-up boot failed"
	# with KJ_BENCH_APPEND_RESULTS, runs are numbered on from the last one
	rep0=$(awk -F'\t' -v n="$n" 'NR > 1 && $1 == n && $3 > r {r = $3} END {print r + 0}' "$results")
	for rep in $(seq $((rep0 + 1)) $((rep0 + reps))); do
		for m in $methods; do
			case $m in
			swsusp-*) swsusp "${m#swsusp-}" || log "n$n $m: FAILED" ;;
			kj-l[0-9] | kj-lz4) kjresume "${m#kj-}" || log "n$n $m: FAILED" ;;
			*) die "unknown method $m" ;;
			esac
		done
	done
	rm -f "$disk" "$out/n$n.vars.fd"
done
log "all runs: $(( $(date +%s) - start )) s"

"$KJ_ROOT/tests/bench/resume-report.sh" "$results" "$out" | tee "$out/table.txt"
