#!/usr/bin/env bash
# Training works: over 50 steps the loss falls well below where it starts (ln 64 = 4.16).
# shellcheck disable=SC2086 # option strings are split on purpose
. "$(dirname "$0")/moe-common.sh"

moe_run loss 1 $MOE_TINY --b 4 --steps 50 --lr 0.05 || moe_fail "trainer failed"
moe_losses loss | awk '
    NR == 1 { first = $1 }
    { n++; if (n > 45) last += $1 }
    END {
        last /= 5
        printf "first %.4f, mean of the last 5 %.4f\n", first, last
        if (n != 50 || !(last < 0.6 * first)) exit 1
    }' || moe_fail "loss did not decrease enough"
