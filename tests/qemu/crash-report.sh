#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The harness must explain a crash: B jumps back to a wrong address, the
# machine triple-faults, and roundtrip.sh's report must name the exception
# behind the reset. Passes when the round trip fails *and* says why.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ver=${1:-6.12}
out=$(KJ_APPEND="kjbadentry=0x5f00000" KJ_TIMEOUT=300 \
	"$KJ_ROOT/tests/qemu/roundtrip.sh" "$ver" 1 1 2>&1)
rc=$?
echo "$out" | tail -n 12
[ $rc -ne 0 ] || { echo "round trip with a wrong entry passed?"; exit 1; }
echo "$out" | grep "CPU reset (triple fault)" >/dev/null || { echo "no triple-fault report"; exit 1; }
echo "$out" | grep " v=" >/dev/null || { echo "no exception lines in the report"; exit 1; }
echo "crash report names the exceptions behind the triple fault"
