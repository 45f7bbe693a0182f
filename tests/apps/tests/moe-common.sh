# Sourced by the moe-train tests. Locates the trainer, its CPU kernel providers, the simulated
# device and scripts/simrun, and skips the test (exit 77) when the simulated device is not built.
# Tests run from the build directory (automake's harness exports top_srcdir and top_builddir).
set -u
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
MOE_TRAIN=$top_builddir/tests/apps/moe-train/moe-train
SIMRUN=$top_srcdir/scripts/simrun
export SIMDEV_PROVIDERS=$top_builddir/tests/apps/moe-train/libmoe_kernels_sim.so

moe_skip() { echo "SKIP: $*"; exit 77; }
moe_fail() { echo "FAIL: $*"; exit 1; }

for f in libcuda.so.1 libnccl.so.2 libcublas.so.13; do
    [ -e "$top_builddir/tests/simdev/lib/$f" ] || moe_skip "simulated device not built ($f)"
done
[ -x "$SIMRUN" ] || moe_skip "no scripts/simrun"
[ -x "$MOE_TRAIN" ] || moe_fail "trainer not built: $MOE_TRAIN"
[ -e "$SIMDEV_PROVIDERS" ] || moe_fail "kernel providers not built: $SIMDEV_PROVIDERS"

# Open MPI keeps allocations until exit (in components it unloads): in sanitizer builds the
# trainer's ranks skip leak detection, as the simulated libraries' MPI tests do; ASan and UBSan
# still check every access.
ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS

MOE_TMP=$(mktemp -d)
trap 'rm -rf "$MOE_TMP"' EXIT

# the tiny model every test starts from: 2 layers (one MoE), width 32, 16 tokens per sequence;
# the tests split option strings such as this one on purpose
# shellcheck disable=SC2034
MOE_TINY="--nl 2 --m 32 --nh 2 --sl 16 --vocab 64"

# moe_run NAME RANKS [trainer options...]: compute-mode run; output in $MOE_TMP/NAME.out
moe_run() {
    local name=$1 np=$2
    shift 2
    echo "+ simrun -n $np -- moe-train $*"
    "$SIMRUN" -n "$np" --builddir "$top_builddir" -- "$MOE_TRAIN" "$@" >"$MOE_TMP/$name.out" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || { tail -n 30 "$MOE_TMP/$name.out"; return $rc; }
}

# moe_losses NAME: the loss of every step, one per line, as printed (%.9g)
moe_losses() { awk '/^step /{ print $4 }' "$MOE_TMP/$1.out"; }

# moe_same_losses A B: both runs printed the same, non-empty list of losses
moe_same_losses() {
    local a b
    a=$(moe_losses "$1") b=$(moe_losses "$2")
    [ -n "$a" ] || moe_fail "$1 printed no losses"
    [ "$a" = "$b" ] || { paste <(echo "$a") <(echo "$b"); moe_fail "losses of $1 and $2 differ"; }
}
