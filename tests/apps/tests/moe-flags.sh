#!/usr/bin/env bash
# Bad command lines fail with one clear message (exit 2, through MPI_Finalize); --help works.
# shellcheck disable=SC2086 # option strings are split on purpose
. "$(dirname "$0")/moe-common.sh"

moe_run help 1 --help || moe_fail "--help"
grep -q -- '--overlap' "$MOE_TMP/help.out" || moe_fail "--help text"

# expect_error NAME RANKS MESSAGE ARGS...: one rank runs as an MPI singleton (mpirun spends two
# seconds on any failing job); the option errors come before the device is touched.
expect_error() {
    local name=$1 np=$2 msg=$3 rc
    shift 3
    if [ "$np" = 1 ]; then
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
            LD_LIBRARY_PATH=$top_builddir/tests/simdev/lib "$MOE_TRAIN" "$@" >"$MOE_TMP/$name.out" 2>&1
    else
        "$SIMRUN" -n "$np" --builddir "$top_builddir" -- "$MOE_TRAIN" "$@" >"$MOE_TMP/$name.out" 2>&1
    fi
    rc=$?
    [ $rc -ne 0 ] || moe_fail "$name: accepted $*"
    [ "$(grep -c "^moe-train: $msg" "$MOE_TMP/$name.out")" = 1 ] ||
        { cat "$MOE_TMP/$name.out"; moe_fail "$name: not exactly one 'moe-train: $msg'"; }
    echo "$name: rejected as expected (exit $rc)"
}
expect_error unknown 1 "unknown option '--bogus'" --bogus
expect_error value 1 "--steps needs a value" --steps
expect_error number 1 "--steps: 'ten' is not an integer" --steps ten
expect_error overlap 1 "--overlap: 'fast' is neither none nor tutel:D" $MOE_TINY --overlap fast
expect_error degree 1 "capacity 12 .* is not a multiple of the overlap degree 8" \
    $MOE_TINY --b 2 --cf 0.75 --overlap tutel:8
expect_error heads 1 "--m 30 is not a multiple of --nh 4" --m 30 --nh 4
expect_error large 1 "configuration too large: a tensor of [0-9]* elements" \
    --nl 2 --m 32 --nh 2 --vocab 64 --b 65536 --sl 32768
expect_error experts 2 "--experts 3 is not a multiple of the rank count 2" $MOE_TINY --experts 3
