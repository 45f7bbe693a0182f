#!/usr/bin/env bash
# One captured CUDA graph replayed every step computes exactly what eager launches compute:
# bitwise identical losses, on 2 ranks, with and without Tutel pipelining and per-layer
# all-reduce (more streams, events and NCCL calls inside the capture).
# shellcheck disable=SC2086 # option strings are split on purpose
. "$(dirname "$0")/moe-common.sh"

common="$MOE_TINY --b 2 --steps 6"
moe_run eager 2 $common --eager || moe_fail "eager run"
moe_run graph 2 $common --graph || moe_fail "graph run"
moe_same_losses eager graph
moe_run eager_t 2 $common --eager --overlap tutel:2 --allreduce layer || moe_fail "eager tutel run"
moe_run graph_t 2 $common --graph --overlap tutel:2 --allreduce layer || moe_fail "graph tutel run"
moe_same_losses eager_t graph_t
echo "graph == eager over $(moe_losses graph | wc -l) steps"
