#!/bin/sh
# NCCL data correctness and clock synchronisation on 2 ranks (test_nccl.c).
. "$(dirname "$0")/common.sh"
mpi_no_leak_check
simrun -n 2 --compute --fabric p4de --timeout 300 -- "$TESTDIR/test_nccl"
