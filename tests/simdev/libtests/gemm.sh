#!/bin/sh
# GEMM correctness of every cuBLAS / cuBLASLt entry point (test_gemm.c), one rank.
. "$(dirname "$0")/common.sh"
simrun -n 1 --compute --fabric p4de -- "$TESTDIR/test_gemm"
