#!/usr/bin/env bash
# Tutel-style pipelining changes the schedule, not the arithmetic: --overlap tutel:D gives
# bitwise the losses of --overlap none (2 ranks, capacity 16 split in 2 and 4 chunks).
# shellcheck disable=SC2086 # option strings are split on purpose
. "$(dirname "$0")/moe-common.sh"

common="$MOE_TINY --b 2 --steps 5"
moe_run none 2 $common --overlap none || moe_fail "none"
moe_run t2 2 $common --overlap tutel:2 || moe_fail "tutel:2"
moe_same_losses none t2
moe_run t4 2 $common --overlap tutel:4 --graph || moe_fail "tutel:4"
moe_same_losses none t4
echo "tutel:2 and tutel:4 == none over $(moe_losses none | wc -l) steps"
