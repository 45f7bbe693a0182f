#!/usr/bin/env bash
# 1, 2 and 4 ranks train the same model on the same data when the arrangement is equivalent:
# the same 4 global experts (--experts 4: 4, 2 and 1 per rank), the same global batch of 4
# sequences split over the ranks (--b 4/ranks; rank r holds sequences r*b .. r*b+b-1), and no
# token dropped (--cf 4: capacity = tokens per rank). Only the order of floating-point sums
# differs (gradient all-reduce, per-rank loss means), so losses agree to a tolerance.
# shellcheck disable=SC2086 # option strings are split on purpose
. "$(dirname "$0")/moe-common.sh"

common="$MOE_TINY --experts 4 --cf 4 --steps 5"
moe_run r1 1 $common --b 4 || moe_fail "1 rank"
moe_run r2 2 $common --b 2 || moe_fail "2 ranks"
moe_run r4 4 $common --b 1 --overlap tutel:2 --graph || moe_fail "4 ranks"
# a different global batch (2 sequences), to show the comparison can tell runs apart
moe_run other 2 $common --b 1 || moe_fail "2 ranks, other batch"

# agree A B TOL: every step's losses within TOL relative
agree() {
    paste <(moe_losses "$1") <(moe_losses "$2") | awk -v tol="$3" '
        { n++; d = $1 - $2; if (d < 0) d = -d; r = d / ($1 < 0 ? -$1 : $1); if (r > m) m = r }
        END { printf "max relative difference %.3g over %d steps\n", m, n; exit !(n == 5 && m <= tol) }'
}
agree r1 r2 1e-4 || moe_fail "1 and 2 ranks differ"
agree r1 r4 1e-4 || moe_fail "1 and 4 ranks differ"
agree r1 other 1e-4 && moe_fail "a different batch gives the same losses: the check is blind"
exit 0
