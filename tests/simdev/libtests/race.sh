#!/bin/sh
# Footprints of the cuBLAS / cuBLASLt / NCCL kernels as the race checker sees them (race_app.c):
# unordered work on two streams is reported exactly when the declared byte ranges conflict.
. "$(dirname "$0")/common.sh"
mpi_no_leak_check
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
passes=0
for spec in gemm-disjoint:0 gemm-ww:1 gemm-rw:1 gemm-beta0:1 gemm-tail:0 nccl-disjoint:0 nccl-rw:1 lt-bias:1; do
    mode=${spec%:*}
    want=${spec#*:}
    SIMDEV_RACE=warn simrun -n 1 --compute --fabric p4de --timeout 60 -- "$TESTDIR/race_app" "$mode" > "$tmp/out" 2>&1
    rc=$?
    races=$(grep -c 'RACE' "$tmp/out")
    done_line=$(grep -c "race_app $mode: done" "$tmp/out")
    ok=0
    if [ "$want" = 0 ]; then [ "$races" -eq 0 ] && ok=1; else [ "$races" -ge 1 ] && ok=1; fi
    if [ "$rc" -eq 0 ] && [ "$done_line" -eq 1 ] && [ "$ok" = 1 ]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        echo "FAIL: $mode: exit $rc, $races race reports, want $( [ "$want" = 1 ] && echo some || echo none)"
        sed 's/^/    /' "$tmp/out" | head -20
    fi
done
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
