#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tables, targets and plot from tests/bench/resume.sh's results:
#
#   tests/bench/resume-report.sh RESULTS.tsv [OUTDIR]
#
# Prints markdown tables and the issue-7 targets, and writes
# OUTDIR/resume.png (gnuplot, pngcairo; OUTDIR/resume.gp and resume.dat
# beside it). With repeated runs, each configuration is shown by its run
# with the fastest resume (the one a busy host disturbed least; its
# phases together) and its fastest hibernation; a table lists all runs.
set -euo pipefail
res=${1:?usage: resume-report.sh RESULTS.tsv [OUTDIR]}
out=${2:-$(dirname "$res")}

[ -s "$out/source" ] && printf 'Measured: %s\n\n' "$(cat "$out/source")"
awk -F'\t' -v out="$out" '
function num(x) { return x != "" && x != "-" }
function f(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
	k = $col["n"] SUBSEP $col["method"]
	if (!($col["n"] in seen_n)) { seen_n[$col["n"]] = 1; ns[++nn] = $col["n"] }
	r = ++cnt[k]
	for (c in col) if (num($col[c])) {
		v = $col[c] + 0; val[k, r, c] = v
		if (!((k, c) in mn) || v < mn[k, c]) mn[k, c] = v
		lst[k, c] = lst[k, c] (r > 1 ? ", " : "") sprintf("%.1f", v)
	}
	# the best run: the fastest resume (or dry-run read), the one the
	# busy host disturbed least; its phases are shown together
	key = num($col["running_s"]) ? "running_s" : "read_s"
	if (!(k in best) || $col[key] + 0 < val[k, best[k], key]) best[k] = r
	ram[$col["n"]] = $col["ram_mib"]
}
# value of column c: from the best run; hibernate: the fastest hibernation
function m(n, meth, c,   k) {
	k = n SUBSEP meth
	if (c ~ /^hibernate/) return ((k, c) in mn) ? mn[k, c] : ""
	return ((k, best[k], c) in val) ? val[k, best[k], c] : ""
}
function runs(n, meth, c) { return lst[n SUBSEP meth, c] }
function best_swsusp(n, c,   a, b) {
	a = m(n, "swsusp-lzo", c); b = m(n, "swsusp-lz4", c)
	if (a == "") return b; if (b == "") return a
	return a < b ? a : b
}
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
function rest(n, meth, k) { return m(n, meth, "running_" k) - m(n, meth, "start_" k) - m(n, meth, "read_" k) - m(n, meth, "after_read_" k) }
# the firmware read rate, MiB/s: the raw read (reading only) of this run,
# or of the level-0 dry run at this N (same disk, same firmware); without
# one (older results), the I/O of the read itself
function fw_rate(n, meth,   rm, rs, mib, io) {
	rm = m(n, meth, "raw_mib"); rs = m(n, meth, "raw_ms")
	if (rm != "" && rs != "" && rs > 0) return rm * 1000 / rs
	rm = m(n, "kj-l0-dryrun", "raw_mib"); rs = m(n, "kj-l0-dryrun", "raw_ms")
	if (rm != "" && rs != "" && rs > 0) return rm * 1000 / rs
	mib = m(n, meth, "read_mib"); io = m(n, meth, "io_ms")
	return (mib != "" && io != "" && io > 0) ? mib * 1000 / io : ""
}
function pair(n, meth, c, d) { return f(m(n, meth, c "_s"), d) " / " f(m(n, meth, c "_cpu"), d) }
END {
	nm = split("swsusp-lzo swsusp-lz4 kj-l0 kj-l1 kj-lz4", meths, " ")
	reps = 0; for (k in cnt) if (cnt[k] > reps) reps = cnt[k]
	print "Seconds: host wall clock / QEMU CPU time, both read when the serial lines arrived, from the VM'"'"'s start (QEMU'"'"'s start, or with guest RAM backed its \"cont\" after the RAM was); " reps " run(s) each" (reps > 1 ? "; per configuration the run with the fastest resume (and the fastest hibernation), all runs below" : "") "."
	print ""
	print "| N MiB (RAM) | method | image on disk MiB | hibernate: command to power-off | resume: VM start to workload running | resume: to checksum verified |"
	print "|---|---|---|---|---|---|"
	for (i = 1; i <= nn; i++) {
		n = ns[i]
		for (j = 1; j <= nm; j++) {
			meth = meths[j]
			if (!((n SUBSEP meth) in cnt)) continue
			printf "| %s (%s) | %s | %s | %s | %s | %s |\n", n, ram[n], meth, f(m(n, meth, "image_mib"), 0),
				pair(n, meth, "hibernate", 1), pair(n, meth, "running", 1), pair(n, meth, "verified", 1)
		}
	}
	print ""
	print "Ratios, kjresume against the faster swsusp (lzo or lz4) at each N and clock (wall / CPU):"
	print ""
	print "| N MiB | kjresume | resume speed-up (swsusp time / kjresume time) | to checksum verified | hibernate (kjresume time / swsusp time) | image size (kjresume / swsusp-lzo) |"
	print "|---|---|---|---|---|---|"
	for (i = 1; i <= nn; i++) {
		n = ns[i]
		for (j = 3; j <= nm; j++) {
			meth = meths[j]
			if (!((n SUBSEP meth) in cnt)) continue
			printf "| %s | %s | %s / %s | %s / %s | %s / %s | %s |\n", n, meth,
				ratio(best_swsusp(n, "running_s"), m(n, meth, "running_s")),
				ratio(best_swsusp(n, "running_cpu"), m(n, meth, "running_cpu")),
				ratio(best_swsusp(n, "verified_s"), m(n, meth, "verified_s")),
				ratio(best_swsusp(n, "verified_cpu"), m(n, meth, "verified_cpu")),
				ratio(m(n, meth, "hibernate_s"), best_swsusp(n, "hibernate_s")),
				ratio(m(n, meth, "hibernate_cpu"), best_swsusp(n, "hibernate_cpu")),
				ratio(m(n, meth, "image_mib"), m(n, "swsusp-lzo", "image_mib"))
		}
	}
	print ""
	print "Where the resume time goes (seconds, wall / CPU):"
	print ""
	print "| N MiB | method | VM start until loader (kjresume) / restore kernel'"'"'s init (swsusp) | image read | read done to user space back | the rest (loader set-up; back to workload running) | image read rate MiB/s (guest clock) |"
	print "|---|---|---|---|---|---|---|"
	for (i = 1; i <= nn; i++) {
		n = ns[i]
		for (j = 1; j <= nm; j++) {
			meth = meths[j]
			if (!((n SUBSEP meth) in cnt)) continue
			rate = (m(n, meth, "el_ms") > 0) ? m(n, meth, "read_mib") * 1000 / m(n, meth, "el_ms") : ""
			printf "| %s | %s | %s | %s | %s | %s / %s | %s |\n", n, meth, pair(n, meth, "start", 1),
				pair(n, meth, "read", 1), pair(n, meth, "after_read", 1),
				f(rest(n, meth, "s"), 2), f(rest(n, meth, "cpu"), 2), f(rate, 0)
		}
	}
	print ""
	print "The loader'"'"'s read phase (its own clock; firmware reads of up to 4 MiB; decompress+verify: what the read waited for beyond its I/O; CPU ms: summed over all CPUs; firmware read rate: the dry run'"'"'s raw read, the firmware reading the payload into one buffer and nothing else, where measured, else the I/O of the read itself), and the stub after it (host wall clock):"
	print ""
	print "| N MiB | run | MiB read | read phase ms | I/O ms | decompress+verify ms | CPU ms: decode / chunk check / copy checksum | I/O share | loader rate MiB/s | firmware read rate MiB/s | loader / firmware | stub: copy, zero-fill, checksum s |"
	print "|---|---|---|---|---|---|---|---|---|---|---|---|"
	nl = split("kj-l0-dryrun kj-l0 kj-l1-dryrun kj-l1 kj-lz4-dryrun kj-lz4", lm, " ")
	for (i = 1; i <= nn; i++) {
		n = ns[i]
		for (j = 1; j <= nl; j++) {
			meth = lm[j]
			if (!((n SUBSEP meth) in cnt)) continue
			mib = m(n, meth, "read_mib"); el = m(n, meth, "el_ms"); io = m(n, meth, "io_ms"); dec = m(n, meth, "dec_ms")
			fw = fw_rate(n, meth)
			printf "| %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s | %s | %s | %s |\n", n, meth, f(mib, 0), f(el, 0), f(io, 0), f(dec, 0),
				f(m(n, meth, "cpu_dec_ms"), 0), f(m(n, meth, "cpu_chk_ms"), 0), f(m(n, meth, "csum_ms"), 0),
				(el > 0 ? sprintf("%.0f%%", 100 * io / el) : "-"),
				(el > 0 ? f(mib * 1000 / el, 0) : "-"), f(fw, 0),
				(fw != "" && el > 0 ? sprintf("%.2f", mib * 1000 / el / fw) : "-"), f(m(n, meth, "stub_s"), 2)
		}
	}
	if (reps > 1) {
		print ""
		print "All runs (wall seconds, in run order):"
		print ""
		print "| N MiB | method | hibernate | resume to workload running | QEMU CPU seconds of that resume |"
		print "|---|---|---|---|---|"
		for (i = 1; i <= nn; i++) {
			n = ns[i]
			for (j = 1; j <= nm; j++) {
				meth = meths[j]
				if (!((n SUBSEP meth) in cnt)) continue
				printf "| %s | %s | %s | %s | %s |\n", n, meth, runs(n, meth, "hibernate_s"),
					runs(n, meth, "running_s"), runs(n, meth, "running_cpu")
			}
		}
	}
	print ""
	print "Targets (issue 7):"
	print ""
	all = 1; line = ""
	for (i = 1; i <= nn; i++) {
		n = ns[i]
		for (j = 3; j <= nm; j++) {
			meth = meths[j]
			if (!((n SUBSEP meth) in cnt)) continue
			a = ratio(best_swsusp(n, "running_s"), m(n, meth, "running_s"))
			b = ratio(best_swsusp(n, "running_cpu"), m(n, meth, "running_cpu"))
			if (a == "-" || a + 0 < 2 || b + 0 < 2) all = 0
			line = line sprintf("%s%s N=%s: %s / %s", line == "" ? "" : "; ", meth, n, a, b)
		}
	}
	printf "- resume at least 2x faster than swsusp at every N (to workload running, wall / CPU): **%s** (%s)\n", all ? "met" : "NOT met", line
	line = ""; all = 1; any = 0
	for (i = 1; i <= nn; i++) {
		n = ns[i]; el = m(n, "kj-l0-dryrun", "el_ms"); mib = m(n, "kj-l0-dryrun", "read_mib")
		fw = fw_rate(n, "kj-l0-dryrun")
		if (el == "" || mib == "" || fw == "" || el == 0) continue
		any = 1; r = mib * 1000 / el / fw
		if (r < 0.9) all = 0
		line = line sprintf("%sN=%s: %.2f", line == "" ? "" : "; ", n, r)
	}
	printf "- loader read rate of a raw (-l 0) image at least 90%% of the firmware'"'"'s raw read rate: **%s** (loader rate / firmware rate, the level-0 dry run: %s)\n", any ? (all ? "met" : "NOT met") : "not measured", line
	# per compressed method: is it faster than the raw image wherever it
	# compresses 2:1 or better? The compressible workload is 2:1 by
	# construction and its images come out at 1.98-2.03:1 (headers, zero
	# pages): 1.95:1 counts, or the verdict would flip on rounding.
	nc = split("kj-l1 kj-lz4", cm, " ")
	for (k = 1; k <= nc; k++) {
		cmeth = cm[k]; line = ""; app = 0; all = 1; seen = 0
		for (i = 1; i <= nn; i++) {
			n = ns[i]; a = m(n, "kj-l0", "image_mib"); b = m(n, cmeth, "image_mib")
			if (a == "" || b == "") continue
			seen = 1; cr = a / b
			line = line sprintf("%sN=%s: %.2f:1, %s / l0 resume time %s / %s", line == "" ? "" : "; ", n, cr, substr(cmeth, 4),
				ratio(m(n, cmeth, "running_s"), m(n, "kj-l0", "running_s")),
				ratio(m(n, cmeth, "running_cpu"), m(n, "kj-l0", "running_cpu")))
			if (cr >= 1.95) { app = 1; if (m(n, cmeth, "running_s") >= m(n, "kj-l0", "running_s")) all = 0 }
		}
		if (!seen) continue
		printf "- compressed image (%s) faster than raw whenever it compresses 2:1 or better: **%s** (%s)\n", cmeth,
			app ? (all ? "met" : "NOT met") : "not exercised: no image compressed 1.95:1 or better", line
	}

	# plot data: per N one block, per method one row of stacked phases
	dat = out "/resume.dat"
	printf "" > dat
	for (i = 1; i <= nn; i++) {
		n = ns[i]
		printf "# N=%s\n", n >> dat
		for (j = 1; j <= nm; j++) {
			meth = meths[j]
			if (!((n SUBSEP meth) in cnt)) continue
			printf "%s %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", meth,
				m(n, meth, "start_s"), m(n, meth, "read_s"), m(n, meth, "after_read_s"),
				rest(n, meth, "s"), m(n, meth, "hibernate_s"),
				m(n, meth, "start_cpu"), m(n, meth, "read_cpu"), m(n, meth, "after_read_cpu"),
				rest(n, meth, "cpu"), m(n, meth, "hibernate_cpu") >> dat
		}
		printf "\n\n" >> dat
	}
	printf "%s\n", nn > (out "/resume.nblocks")
	for (i = 1; i <= nn; i++) printf "%s\n", ns[i] >> (out "/resume.nblocks")
}' "$res"

# gnuplot: resume time stacked by phase, and hibernate time, per N
command -v gnuplot >/dev/null || { echo "(gnuplot not installed: no plot)"; exit 0; }
mapfile -t nb < "$out/resume.nblocks"
gp=$out/resume.gp
# stacked phases of the resume, per N one group: columns FIRST..FIRST+3
phases() { # FIRST TITLES(yes/no)
	local i n t1 t2 t3 t4
	printf "plot "
	for ((i = 0; i < nb[0]; i++)); do
		n=${nb[$((i + 1))]}
		[ "$i" -gt 0 ] && printf ", \\\\\n  "
		t1=notitle t2=notitle t3=notitle t4=notitle
		if [ "$i" -eq 0 ] && [ "$2" = yes ]; then
			t1="t 'firmware (swsusp: + kernel boot)'" t2="t 'image read'"
			t3="t 'restore (kjresume: stub, A wakes)'" t4="t 'the rest'"
		fi
		printf "newhistogram 'N=%s MiB' lt 1, '%s' index %d u %d:xtic(1) %s, '' index %d u %d %s, '' index %d u %d %s, '' index %d u %d %s" \
			"$n" "$out/resume.dat" "$i" "$1" "$t1" "$i" $(($1 + 1)) "$t2" "$i" $(($1 + 2)) "$t3" "$i" $(($1 + 3)) "$t4"
	done
	echo
}
{
	echo "set terminal pngcairo size 1500,520 font 'DejaVu Sans,10'"
	echo "set output '$out/resume.png'"
	echo "set multiplot layout 1,3 title 'kjresume vs Linux swsusp in QEMU/TCG (q35, OVMF, Linux 6.12): seconds on the host; compare ratios, not absolute times' font ',11'"
	echo "set style data histograms"
	echo "set style fill solid 0.85 border -1"
	echo "set boxwidth 0.8"
	echo "set key below horizontal Left reverse maxrows 2 samplen 2 width -4"
	echo "set grid ytics"
	echo "set xtics rotate by -30 font ',9'"
	echo "set style histogram rowstacked title offset 0,-1.5"
	echo "set bmargin 11"
	echo "set yrange [0:*]"
	echo "set ylabel 'QEMU CPU seconds'"
	echo "set title 'resume to workload running: QEMU CPU time'"
	phases 7 yes
	echo "set ylabel 'wall seconds'"
	echo "set title 'resume to workload running: wall clock'"
	phases 2 no
	echo "set title 'hibernate: command to power-off'"
	echo "set ylabel 'seconds'"
	echo "set style histogram clustered gap 1 title offset 0,-1.5"
	printf "plot "
	for ((i = 0; i < nb[0]; i++)); do
		n=${nb[$((i + 1))]}
		[ "$i" -gt 0 ] && printf ", \\\\\n  "
		if [ "$i" -eq 0 ]; then
			printf "newhistogram 'N=%s MiB' lt 6, '%s' index %d u 6:xtic(1) t 'wall', '' index %d u 11 t 'QEMU CPU'" "$n" "$out/resume.dat" "$i" "$i"
		else
			printf "newhistogram 'N=%s MiB' lt 6, '%s' index %d u 6:xtic(1) notitle, '' index %d u 11 notitle" "$n" "$out/resume.dat" "$i" "$i"
		fi
	done
	echo
	echo "unset multiplot"
} > "$gp"
rm -f "$out/resume.nblocks"
gnuplot "$gp" && echo "plot: $out/resume.png"
