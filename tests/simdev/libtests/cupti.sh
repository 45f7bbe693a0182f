#!/bin/sh
# CUPTI activity records and callbacks for a graph launch (test_cupti.c), one rank.
. "$(dirname "$0")/common.sh"
simrun -n 1 --compute --fabric p4de -- "$TESTDIR/test_cupti"
