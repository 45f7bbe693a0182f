#!/usr/bin/env bash
# scripts/simrun -n 4: the trainer on 4 simulated ranks, compute mode (tiny model, graph mode,
# Tutel pipelining, JSON summary), and a timing-only run of a larger model.
# shellcheck disable=SC2086 # option strings are split on purpose
. "$(dirname "$0")/moe-common.sh"

moe_run c4 4 $MOE_TINY --b 2 --steps 4 --warmup 1 --graph --overlap tutel:2 \
    --json "$MOE_TMP/c4.json" || moe_fail "compute-mode run"
cat "$MOE_TMP/c4.out"
[ "$(moe_losses c4 | wc -l)" -eq 5 ] || moe_fail "expected 5 step lines"
grep -q '"world": 4' "$MOE_TMP/c4.json" || moe_fail "JSON: world"
grep -q '"steps": 4' "$MOE_TMP/c4.json" || moe_fail "JSON: steps"
grep -q '"experts_per_rank": 2' "$MOE_TMP/c4.json" || moe_fail "JSON: experts"
moe_losses c4 | awk '!($1 > 0 && $1 < 10) { exit 1 }' || moe_fail "loss out of range"
awk '/^step /{ if (!($6 > 0)) exit 1 }' "$MOE_TMP/c4.out" || moe_fail "step time not positive"

echo "+ simrun -n 4 --timing-only"
"$SIMRUN" -n 4 --builddir "$top_builddir" --timing-only -- "$MOE_TRAIN" --nl 4 --m 256 --nh 4 --sl 128 --b 4 \
    --vocab 1024 --steps 2 --graph >"$MOE_TMP/t4.out" 2>&1 ||
    { cat "$MOE_TMP/t4.out"; moe_fail "timing-only run"; }
cat "$MOE_TMP/t4.out"
awk '/^step /{ n++; if (!($6 > 0)) exit 1 } END { exit n != 2 }' "$MOE_TMP/t4.out" ||
    moe_fail "timing-only step times"
