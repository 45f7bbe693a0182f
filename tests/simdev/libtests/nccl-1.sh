#!/bin/sh
# NCCL with a communicator of one rank (what one real GPU gives): local copies, no MPI traffic.
# Then the same with a bad SIMDEV_DEADLOCK_TIMEOUT_S: one clear warning, the default is used.
. "$(dirname "$0")/common.sh"
mpi_no_leak_check
simrun -n 1 --compute --fabric p4de --timeout 120 -- "$TESTDIR/test_nccl" || exit 1
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
SIMDEV_DEADLOCK_TIMEOUT_S=5s simrun -n 1 --compute --fabric p4de --timeout 120 -- "$TESTDIR/test_nccl" \
    >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: run with a bad SIMDEV_DEADLOCK_TIMEOUT_S"; exit 1; }
n=$(grep -c 'SIMDEV_DEADLOCK_TIMEOUT_S=5s is not a positive number of seconds; using 20' "$tmp/out")
[ "$n" = 1 ] || { cat "$tmp/out"; echo "FAIL: expected one warning about SIMDEV_DEADLOCK_TIMEOUT_S, got $n"; exit 1; }
echo "bad SIMDEV_DEADLOCK_TIMEOUT_S: one warning"
