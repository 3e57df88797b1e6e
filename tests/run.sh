#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test runner behind `make check-unit`, `make fuzz-smoke` and
# `make check`. Every step counts; the last line is "N passed, N failed".
#
#   tests/run.sh unit BIN...   host unit tests (each prints its own counts)
#   tests/run.sh fuzz BIN...   short libFuzzer smoke runs
#   tests/run.sh all           everything, including kernels and QEMU
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }

# A binary that prints its own "N passed, N failed": add its counts.
run_counted() {
	local bin=$1 out p f
	echo "== $bin"
	out=$("$bin" 2>&1)
	local rc=$?
	echo "$out" | grep -v '^ok ' 
	read -r p f < <(echo "$out" | sed -n 's/^\([0-9]\+\) passed, \([0-9]\+\) failed.*/\1 \2/p' | tail -1)
	if [ -z "${p:-}" ]; then
		fail "$bin (no summary line, exit $rc)"
		return
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failures+=("$bin: $f failed")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "$bin (exit $rc)"
	fi
}

# A step judged by its exit code; its output goes to a log shown on failure.
run_step() {
	local name=$1; shift
	local log
	log=$(mktemp)
	echo "== $name"
	if "$@" >"$log" 2>&1; then
		tail -3 "$log"
		pass "$name"
	else
		# the step's own failure lines first: they may be far from the end
		grep -a '^FAIL\|FAIL:' "$log" | head -n 20
		tail -40 "$log"
		fail "$name"
	fi
	rm -f "$log"
}

fuzz_smoke() {
	local bin=$1 name corpus
	name=$(basename "$bin")
	corpus=$(mktemp -d)
	[ -d "tests/fuzz/corpus-${name#fuzz-}" ] && cp -r "tests/fuzz/corpus-${name#fuzz-}/." "$corpus/"
	"$bin" -max_total_time="${KJ_FUZZ_SECONDS:-15}" -print_final_stats=1 "$corpus"
	local rc=$?
	rm -rf "$corpus"
	return $rc
}

summary() {
	if [ ${#failures[@]} -gt 0 ]; then
		echo "failures:"
		printf '  %s\n' "${failures[@]}"
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

mode=${1:-all}
shift || true
case $mode in
unit)
	for t in "$@"; do run_counted "$t"; done
	;;
fuzz)
	for t in "$@"; do run_step "fuzz smoke $(basename "$t")" fuzz_smoke "$t"; done
	;;
all|full)
	for t in $(make -s print-UNIT_TESTS); do run_counted "$t"; done
	run_step "check-relocs (kjresume.efi)" make -s check-relocs
	run_step "check-efi-libs (kjresume.efi)" make -s check-efi-libs
	for t in $(make -s print-FUZZ_TARGETS); do
		run_step "fuzz smoke $(basename "$t")" fuzz_smoke "$t"
	done
	for v in 6.1 6.12; do
		run_step "kernel $v builds with the patch series" kernel/build.sh "$v"
	done
	# shellcheck source=tests/qemu/suite.sh
	. tests/qemu/suite.sh
	if [ "$mode" = full ]; then qemu_suite_full; else qemu_suite; fi
	;;
*)
	echo "usage: $0 unit|fuzz|all|full [BIN...]" >&2
	exit 2
	;;
esac
summary
