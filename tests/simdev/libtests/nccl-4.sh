#!/bin/sh
# NCCL data correctness and clock synchronisation on 4 ranks over two simulated nodes of 2 GPUs
# (a fabric file with gpus_per_node 2, so both NVLink and NIC paths are used).
. "$(dirname "$0")/common.sh"
mpi_no_leak_check
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
sed 's/"gpus_per_node": *[0-9]*/"gpus_per_node": 2/' "$top_srcdir/tests/simdev/profiles/p4de.json" > "$tmp/p4de-2.json"
simrun -n 4 --compute --device a100 --fabric "$tmp/p4de-2.json" --timeout 300 -- "$TESTDIR/test_nccl"
