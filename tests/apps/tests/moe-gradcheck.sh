#!/usr/bin/env bash
# The backward pass against central finite differences of the global loss, for every parameter
# tensor (see gradcheck.c), on 1 rank and on 2 ranks (expert tensors on different ranks).
# shellcheck disable=SC2086 # option strings are split on purpose
. "$(dirname "$0")/moe-common.sh"

for np in 1 2; do
    moe_run gc$np $np $MOE_TINY --b 2 --cf 2 --experts 4 --gradcheck ||
        { grep -E 'FAIL|SKIP' "$MOE_TMP/gc$np.out"; moe_fail "gradient check on $np ranks"; }
    line=$(grep 'checks,' "$MOE_TMP/gc$np.out") || moe_fail "no gradient-check summary"
    echo "$np ranks: $line"
    checks=$(echo "$line" | awk '{ print $2 }')
    # 3 probes for each of the 29 parameter tensors of the tiny model (fewer only where a
    # gradient is exactly zero)
    [ "$checks" -ge 80 ] || moe_fail "only $checks probes ran"
done
