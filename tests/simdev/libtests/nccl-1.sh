#!/bin/sh
# NCCL with a communicator of one rank (what one real GPU gives): local copies, no MPI traffic.
. "$(dirname "$0")/common.sh"
mpi_no_leak_check
simrun -n 1 --compute --fabric p4de --timeout 120 -- "$TESTDIR/test_nccl"
