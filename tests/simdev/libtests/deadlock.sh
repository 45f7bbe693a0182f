#!/bin/sh
# Collective-order mismatches end within a bounded time with a report naming both ranks'
# sequence numbers and operations, and a non-zero exit (test_deadlock.c).
. "$(dirname "$0")/common.sh"
mpi_no_leak_check
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
passes=0
check() { # check DESCRIPTION COMMAND...: count
    d=$1
    shift
    if "$@"; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        echo "FAIL: $d"
    fi
}
for mode in kind count hang order; do
    out="$tmp/$mode.log"
    t0=$(date +%s)
    SIMDEV_DEADLOCK_TIMEOUT_S=5 SIMDEV_DEADLOCK_EXIT_S=10 \
        simrun -n 2 --compute --timeout 90 -- "$TESTDIR/test_deadlock" "$mode" > "$out" 2>&1
    rc=$?
    t1=$(date +%s)
    echo "---- $mode: exit $rc after $((t1 - t0)) s"
    sed 's/^/    /' "$out" | grep -v '^    *$' | head -40
    check "$mode: non-zero exit" test "$rc" -ne 0
    check "$mode: ended in $((t1 - t0)) s (bound 60)" test $((t1 - t0)) -le 60
    check "$mode: report says DEADLOCK" grep -q "DEADLOCK" "$out"
    check "$mode: nothing completed" sh -c "! grep -q 'mismatched work completed' '$out'"
    case $mode in
    kind)
        check "kind: names rank 0's all-reduce at seq 2" grep -q "rank 0 .*seq 2 .*AllReduce" "$out"
        check "kind: names rank 1's all-gather at seq 2" grep -q "rank 1 .*seq 2 .*AllGather" "$out" ;;
    count)
        check "count: names rank 0's count 2048" grep -q "rank 0 .*seq 2 .*count=2048" "$out"
        check "count: names rank 1's count 1024" grep -q "rank 1 .*seq 2 .*count=1024" "$out" ;;
    hang)
        check "hang: rank 0 waiting at seq 2 in AllReduce" grep -q "rank 0 .*seq 2 AllReduce.*waiting" "$out"
        check "hang: rank 1 waiting at seq 2 in Send" grep -q "rank 1 .*seq 2 Send.*waiting" "$out" ;;
    order)
        check "order: rank 0 waits on one communicator" grep -q "rank 0 .*seq 2 AllReduce.*waiting\|rank 0 .*seq 1 AllReduce.*waiting" "$out"
        check "order: rank 1 waits on the other" grep -q "rank 1 .*seq 1 AllReduce.*waiting\|rank 1 .*seq 2 AllReduce.*waiting" "$out" ;;
    esac
done
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
