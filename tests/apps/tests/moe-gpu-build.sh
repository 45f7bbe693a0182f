#!/usr/bin/env bash
# scripts/gpu-check and tests/apps/moe-train/gpu-build.sh, dry-run on the simulated device (no
# GPU here): the GPU build of the trainer is linked as on the GPU machine, then run with the
# simulated libraries first on LD_LIBRARY_PATH. The toolkit is a copy of the real one without
# NCCL, and NCCL a PyTorch-style wheel holding libnccl.so.2 and no header, as on the GPU
# machine: the build must find the wheel's library and fall back to the stand-in nccl.h, whose
# constants must equal the real header's. Also: gpu-check's summary is valid JSON with "ok",
# a failing build gives exit 1 and names the cause, and a missing NCCL fails clearly.
. "$(dirname "$0")/moe-common.sh"

# The GPU build of the trainer is not instrumented: it cannot load a sanitizer build's simulated
# libraries (the ASan runtime must come first), so this test runs in plain builds only.
if ldd "$top_builddir/tests/simdev/lib/libcuda.so.1" 2>/dev/null | grep -q 'libasan'; then
    moe_skip "sanitizer build: the uninstrumented GPU build cannot load its simulated libraries"
fi
cuda=${CUDA_HOME:-/usr/local/cuda}
[ -x "$cuda/bin/nvcc" ] || moe_skip "no nvcc in $cuda/bin"
[ -e "$cuda/include/cuda.h" ] || moe_skip "no CUDA headers"
src=$top_srcdir/tests/apps/moe-train
T=$MOE_TMP

# ---- 1. the stand-in nccl.h against the real one ----
real_nccl=
for d in "$cuda/include" /usr/include /usr/local/include; do
    [ -e "$d/nccl.h" ] && { real_nccl=$d; break; }
done
cat >"$T/consts.c" <<'C'
#include <stdio.h>
#include <nccl.h>
int main(void)
{
    printf("%d %d %d %d %d %d %d %d\n", (int)ncclSuccess, (int)ncclInvalidUsage, (int)ncclInProgress,
           (int)ncclSum, (int)ncclAvg, (int)ncclFloat, (int)ncclBfloat16, (int)ncclInt64);
    printf("%zu %zu %d\n", sizeof(ncclUniqueId), sizeof(ncclDataType_t), NCCL_UNIQUE_ID_BYTES);
    return 0;
}
C
${CC:-cc} -I"$src/nccl-compat" -isystem "$cuda/include" -o "$T/consts-compat" "$T/consts.c" ||
    moe_fail "the stand-in nccl.h does not compile"
if [ -n "$real_nccl" ]; then
    ${CC:-cc} -isystem "$real_nccl" -isystem "$cuda/include" -o "$T/consts-real" "$T/consts.c" ||
        moe_fail "cannot compile against $real_nccl/nccl.h"
    "$T/consts-real" >"$T/real.txt"
    "$T/consts-compat" >"$T/compat.txt"
    cmp -s "$T/real.txt" "$T/compat.txt" ||
        { paste "$T/real.txt" "$T/compat.txt"; moe_fail "stand-in nccl.h differs from $real_nccl/nccl.h"; }
    echo "stand-in nccl.h: constants and sizes equal the real header's ($(tr '\n' ' ' <"$T/real.txt"))"
else
    echo "no real nccl.h here: constants not compared"
fi

# ---- 2. a toolkit without NCCL, NCCL as a wheel without header ----
fake=$T/cuda
mkdir -p "$fake/include" "$fake/lib64"
for e in bin nvvm targets; do [ -e "$cuda/$e" ] && ln -s "$cuda/$e" "$fake/$e"; done
for f in "$cuda"/include/*; do
    case ${f##*/} in nccl*) ;; *) ln -s "$f" "$fake/include/" ;; esac
done
for f in "$cuda"/lib64/*; do
    case ${f##*/} in libnccl*) ;; *) ln -s "$f" "$fake/lib64/" ;; esac
done
venv=$T/venv
wheel=$venv/lib/python3.99/site-packages/nvidia/nccl
mkdir -p "$wheel/lib"
# The wheel's library only has to link; at run time LD_LIBRARY_PATH puts the simulated NCCL
# first (the binary's rpath is a RUNPATH).
cat >"$T/nccl-stub.c" <<'C'
#include <nccl.h>
ncclResult_t ncclGetVersion(int *v) { *v = 0; return ncclInvalidUsage; }
ncclResult_t ncclGetUniqueId(ncclUniqueId *id) { (void)id; return ncclInvalidUsage; }
ncclResult_t ncclCommInitRank(ncclComm_t *c, int n, ncclUniqueId id, int r) { (void)c; (void)n; (void)id; (void)r; return ncclInvalidUsage; }
ncclResult_t ncclCommDestroy(ncclComm_t c) { (void)c; return ncclInvalidUsage; }
const char *ncclGetErrorString(ncclResult_t r) { (void)r; return "stub"; }
ncclResult_t ncclGroupStart(void) { return ncclInvalidUsage; }
ncclResult_t ncclGroupEnd(void) { return ncclInvalidUsage; }
ncclResult_t ncclSend(const void *b, size_t n, ncclDataType_t t, int p, ncclComm_t c, cudaStream_t s) { (void)b; (void)n; (void)t; (void)p; (void)c; (void)s; return ncclInvalidUsage; }
ncclResult_t ncclRecv(void *b, size_t n, ncclDataType_t t, int p, ncclComm_t c, cudaStream_t s) { (void)b; (void)n; (void)t; (void)p; (void)c; (void)s; return ncclInvalidUsage; }
ncclResult_t ncclAllReduce(const void *a, void *b, size_t n, ncclDataType_t t, ncclRedOp_t o, ncclComm_t c, cudaStream_t s) { (void)a; (void)b; (void)n; (void)t; (void)o; (void)c; (void)s; return ncclInvalidUsage; }
C
${CC:-cc} -shared -fPIC -Wl,-soname,libnccl.so.2 -I"$src/nccl-compat" -isystem "$cuda/include" \
    -o "$wheel/lib/libnccl.so.2" "$T/nccl-stub.c" || moe_fail "cannot build the stand-in wheel library"

export CUDA_HOME=$fake VIRTUAL_ENV=$venv
export PATH=$T/bin:$PATH
mkdir -p "$T/bin"
printf '#!/bin/sh\necho "Simulated GPU, 0.0, 81920 MiB"\n' >"$T/bin/nvidia-smi"
chmod +x "$T/bin/nvidia-smi"
export LD_LIBRARY_PATH=$top_builddir/tests/simdev/lib
export SIMDEV_PROFILE_DIR=$top_srcdir/tests/simdev/profiles SIMDEV_MODE=compute
unset SIMDEV_TRACE

# a machine with no NCCL at all: a clear error, exit 1
if ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2 ' && [ ! -e /usr/lib/x86_64-linux-gnu/libnccl.so.2 ] &&
    [ ! -e /usr/local/lib/libnccl.so.2 ] && [ ! -e /usr/lib64/libnccl.so.2 ]; then
    GPU_BUILD_FIND_ONLY=1 VIRTUAL_ENV=$T/none PYTHONPATH= "$src/gpu-build.sh" "$T/x" >"$T/none.out" 2>&1
    rc=$?
    cat "$T/none.out"
    [ $rc -eq 1 ] || moe_fail "gpu-build without NCCL: exit $rc, expected 1"
    grep -q 'libnccl.so.2 not found (looked in:' "$T/none.out" || moe_fail "gpu-build without NCCL: no clear error"
fi

# This machine may have an nccl.h outside the toolkit: then the stand-in is forced, so that the
# trainer is still built and run with it.
for d in /usr/include /usr/local/include; do
    [ -e "$d/nccl.h" ] && { echo "($d/nccl.h exists: stand-in forced)"; export GPU_BUILD_NCCL_COMPAT=1; }
done
echo "+ scripts/gpu-check (GPU_CHECK_QUICK=1) on the simulated device"
OUT=$T/out GPU_CHECK_WORK=$T/work GPU_CHECK_QUICK=1 "$top_srcdir/scripts/gpu-check" >"$T/gc.out" 2>&1
rc=$?
grep -v '^step ' "$T/gc.out"
[ $rc -eq 0 ] || moe_fail "gpu-check exit $rc"
grep -q "nccl $wheel/lib (header $src/nccl-compat)" "$T/out/gpu-check.log" ||
    moe_fail "gpu-build did not take the wheel's libnccl.so.2 and the stand-in nccl.h"
j=$T/out/gpu-check.json
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["ok"] is True and d["complete"] is True and d["failed"] == [] else 1)' "$j" ||
        { cat "$j"; moe_fail "summary not valid JSON with ok true"; }
fi
for k in '"ok": true' '"trainer_build": true' '"trainer_gradcheck_pass": true' \
    '"trainer_loss_decreases": true' '"trainer_graph_equals_eager": true' '"trainer_repeatable": true'; do
    grep -q "$k" "$j" || { cat "$j"; moe_fail "summary lacks $k"; }
done
[ -s "$T/out/gpu-check.log" ] || moe_fail "no gpu-check.log"

# a failing build: exit 1, "ok": false, the cause in the summary
OUT=$T/out2 GPU_CHECK_WORK=$T/work2 GPU_CHECK_QUICK=1 CUDA_HOME=$T/nowhere \
    "$top_srcdir/scripts/gpu-check" >"$T/gc2.out" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$T/gc2.out"; moe_fail "gpu-check with a broken build: exit $rc, expected 1"; }
j=$T/out2/gpu-check.json
for k in '"ok": false' '"failed": \["trainer_build"\]' '"trainer_build_error": "gpu-build: no nvcc in'; do
    grep -q "$k" "$j" || { cat "$j"; moe_fail "failing summary lacks $k"; }
done
echo "gpu-check: passes on the simulated device, fails clearly on a broken build"
