#!/bin/sh
# scripts/simrun: every bad option or value ends with exit 2 and one line naming it; --dry-run
# shows the environment the ranks get (the fabric's device by default, explicit values kept).
. "$(dirname "$0")/common.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
bad() { # bad MESSAGE ARGS...: simrun ARGS fails with exit 2 and prints MESSAGE once
    msg=$1
    shift
    simrun "$@" >"$tmp/out" 2>&1
    rc=$?
    n=$(grep -c "^simrun: $msg" "$tmp/out")
    if [ "$rc" -ne 2 ] || [ "$n" -ne 1 ]; then
        echo "FAIL: simrun $* -> exit $rc, $n x '$msg':"
        cat "$tmp/out"
        fails=$((fails + 1))
    else
        echo "ok: simrun $* -> $(cat "$tmp/out")"
    fi
}
bad "no program given" -n 2
bad "the number of ranks is required" -- true
bad "option -n needs a value" -n
bad "-n wants a positive integer, got '0'" -n 0 -- true
bad "-n wants a positive integer, got 'x'" -n x -- true
bad "--device accepts" --device k80 -n 1 -- true
bad "--fabric accepts" --fabric ib -n 1 -- true
bad "no profile file '$tmp/none.json'" --device "$tmp/none.json" -n 1 -- true
bad "--race accepts off, warn or fatal, got 'maybe'" --race maybe -n 1 -- true
bad "--deadlock-timeout wants seconds, got '1.2.3'" --deadlock-timeout 1.2.3 -n 1 -- true
bad "--deadlock-timeout wants seconds, got '0'" --deadlock-timeout 0 -n 1 -- true
bad "--timeout wants whole seconds, got '1.5'" --timeout 1.5 -n 1 -- true
bad "trace directory $tmp/no does not exist" --trace "$tmp/no/x" -n 1 -- true
bad "unknown option '--bogus'" --bogus -n 1 -- true
bad "no simulated libraries" --builddir "$tmp" -n 1 -- true

simrun -n 3 --fabric p3dn --timing-only --deadlock-timeout 2.5 --dry-run -- prog a b >"$tmp/dry" 2>&1 ||
    { cat "$tmp/dry"; echo "FAIL: --dry-run"; fails=$((fails + 1)); }
for want in "SIMDEV_DEVICE=v100" "SIMDEV_FABRIC=p3dn" "SIMDEV_MODE=timing" "SIMDEV_DEADLOCK_TIMEOUT_S=2.5" \
    "LD_LIBRARY_PATH=$top_builddir/tests/simdev/lib" "mpirun -n 3 " " prog a b"; do
    grep -q -- "$want" "$tmp/dry" || { cat "$tmp/dry"; echo "FAIL: --dry-run lacks '$want'"; fails=$((fails + 1)); }
done
[ "$fails" -eq 0 ] && echo "all simrun option checks passed"
[ "$fails" -eq 0 ]
