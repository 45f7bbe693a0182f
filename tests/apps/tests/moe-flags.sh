#!/usr/bin/env bash
# Bad command lines fail with one clear message; --help works.
. "$(dirname "$0")/moe-common.sh"

moe_run help 1 --help || moe_fail "--help"
grep -q -- '--overlap' "$MOE_TMP/help.out" || moe_fail "--help text"

# expect_error NAME RANKS MESSAGE ARGS...
expect_error() {
    local name=$1 np=$2 msg=$3
    shift 3
    if "$SIMRUN" -n "$np" --builddir "$top_builddir" -- "$MOE_TRAIN" "$@" >"$MOE_TMP/$name.out" 2>&1; then
        moe_fail "$name: accepted $*"
    fi
    grep -q -- "$msg" "$MOE_TMP/$name.out" || { cat "$MOE_TMP/$name.out"; moe_fail "$name: no '$msg'"; }
    echo "$name: rejected as expected"
}
expect_error unknown 1 "unknown option '--bogus'" --bogus
expect_error overlap 1 "neither none nor tutel" $MOE_TINY --overlap fast
expect_error degree 1 "is not a multiple of the overlap degree" $MOE_TINY --b 2 --cf 0.75 --overlap tutel:8
expect_error heads 1 "is not a multiple of --nh" --m 30 --nh 4
expect_error experts 2 "is not a multiple of the rank count" $MOE_TINY --experts 3
expect_error number 1 "is not an integer" --steps ten
