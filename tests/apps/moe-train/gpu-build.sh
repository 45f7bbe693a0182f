#!/bin/sh
# Builds moe-train for one GPU without autotools or MPI (a single rank: dist.c's MOE_NO_MPI),
# for machines that have CUDA but not the project's build dependencies:
#
#   tests/apps/moe-train/gpu-build.sh OUTDIR
#
# CUDA: CUDA_HOME, else /usr/local/cuda, else the toolkit of the nvcc on PATH (nvcc, headers,
# cuBLAS, the libcuda stub). cuBLAS: the toolkit's, else the nvidia-cublas / nvidia cu13 wheel.
# NCCL, header and library looked for separately (a wheel may ship the library alone):
#   libnccl.so.2 in NCCL_HOME, the toolkit, the nvidia-nccl wheel (PyTorch's: site-packages/
#   nvidia/nccl/lib), the system library directories, ldconfig's cache;
#   nccl.h in NCCL_HOME, the toolkit, the wheel, /usr/include, /usr/local/include, else the
#   stand-in nccl-compat/nccl.h next to this script (only what moe-train calls).
# The result, OUTDIR/moe-train, carries an rpath to the NCCL and cuBLAS it was linked with.
# GPU_BUILD_FIND_ONLY=1 prints what was found and builds nothing; GPU_BUILD_NCCL_COMPAT=1 uses
# the stand-in header even where a real one exists. Every failure names what is
# missing and where it was looked for, and exits 1.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: gpu-build.sh OUTDIR}

die() {
    echo "gpu-build: $*" >&2
    exit 1
}

# ---- CUDA ----
cuda=${CUDA_HOME:-}
if [ -z "$cuda" ]; then
    if [ -x /usr/local/cuda/bin/nvcc ]; then
        cuda=/usr/local/cuda
    elif command -v nvcc >/dev/null 2>&1; then
        cuda=$(cd "$(dirname "$(command -v nvcc)")/.." && pwd)
    else
        cuda=/usr/local/cuda
    fi
fi
[ -x "$cuda/bin/nvcc" ] || die "no nvcc in $cuda/bin (set CUDA_HOME)"
[ -e "$cuda/include/cuda.h" ] || die "no cuda.h in $cuda/include (set CUDA_HOME)"
stubs=
for d in "$cuda/lib64/stubs" "$cuda/targets/x86_64-linux/lib/stubs" "$cuda/lib/stubs"; do
    if [ -e "$d/libcuda.so" ]; then stubs=$d; break; fi
done
[ -n "$stubs" ] || die "no libcuda.so stub under $cuda (lib64/stubs, targets/x86_64-linux/lib/stubs)"

# ---- Python wheels (PyTorch's NVIDIA libraries) ----
# Site-packages directories of the python3 on PATH, then of torch (which may live in another
# environment's python), one per line.
site_dirs() {
    for py in python3 python; do
        command -v "$py" >/dev/null 2>&1 || continue
        "$py" -c 'import site, sys
d = list(getattr(site, "getsitepackages", lambda: [])())
u = getattr(site, "getusersitepackages", lambda: "")()
print("\n".join(d + [u] + sys.path))' 2>/dev/null || true
    done
    for p in /usr/local/lib/python3*/dist-packages /usr/local/lib/python3*/site-packages \
        /usr/lib/python3/dist-packages /opt/conda/lib/python3*/site-packages \
        "${VIRTUAL_ENV:-/nonexistent}"/lib/python3*/site-packages; do
        [ -d "$p" ] && echo "$p"
    done
    return 0
}
sites=$(site_dirs | awk 'NF && !seen[$0]++')
# wheel_dirs SUBDIR: every site-packages/nvidia/SUBDIR that exists
wheel_dirs() {
    echo "$sites" | while IFS= read -r s; do
        [ -n "$s" ] && [ -d "$s/nvidia/$1" ] && echo "$s/nvidia/$1"
    done
    return 0
}

# ---- NCCL library ----
nccl_lib=
nccl_tried=
try_nccl_lib() {
    nccl_tried="$nccl_tried $1"
    if [ -z "$nccl_lib" ] && [ -e "$1/libnccl.so.2" ]; then nccl_lib=$1; fi
}
if [ -n "${NCCL_HOME:-}" ]; then
    try_nccl_lib "$NCCL_HOME/lib"
    try_nccl_lib "$NCCL_HOME/lib64"
fi
try_nccl_lib "$cuda/lib64"
try_nccl_lib "$cuda/lib"
for w in $(wheel_dirs nccl); do try_nccl_lib "$w/lib"; done
try_nccl_lib /usr/lib/x86_64-linux-gnu
try_nccl_lib /usr/local/lib
try_nccl_lib /usr/lib64
if [ -z "$nccl_lib" ] && command -v ldconfig >/dev/null 2>&1; then
    l=$(ldconfig -p 2>/dev/null | sed -n 's/.*libnccl\.so\.2 .*=> *//p' | head -n 1)
    [ -n "$l" ] && try_nccl_lib "$(dirname "$l")"
fi
[ -n "$nccl_lib" ] || die "libnccl.so.2 not found (looked in:$nccl_tried; set NCCL_HOME)"

# ---- NCCL header ----
nccl_inc=
nccl_inc_tried=
try_nccl_inc() {
    nccl_inc_tried="$nccl_inc_tried $1"
    if [ -z "$nccl_inc" ] && [ -e "$1/nccl.h" ]; then nccl_inc=$1; fi
}
[ -n "${NCCL_HOME:-}" ] && try_nccl_inc "$NCCL_HOME/include"
try_nccl_inc "$(dirname "$nccl_lib")/include"
try_nccl_inc "$cuda/include"
for w in $(wheel_dirs nccl); do try_nccl_inc "$w/include"; done
try_nccl_inc /usr/include
try_nccl_inc /usr/local/include
if [ -n "${GPU_BUILD_NCCL_COMPAT:-}" ]; then
    nccl_inc=$src/nccl-compat   # forced (tests)
elif [ -z "$nccl_inc" ]; then
    echo "gpu-build: no nccl.h in:$nccl_inc_tried; using the stand-in $src/nccl-compat/nccl.h" >&2
    nccl_inc=$src/nccl-compat
fi

# ---- cuBLAS ----
blas_inc=$cuda/include blas_lib=
for d in "$cuda/lib64" "$cuda/lib" "$cuda/targets/x86_64-linux/lib"; do
    if [ -e "$d/libcublas.so.13" ]; then blas_lib=$d; break; fi
done
if [ -z "$blas_lib" ]; then
    for w in $(wheel_dirs cu13) $(wheel_dirs cublas); do
        if [ -e "$w/lib/libcublas.so.13" ]; then
            blas_lib=$w/lib
            [ -e "$w/include/cublas_v2.h" ] && blas_inc=$w/include
            break
        fi
    done
fi
[ -n "$blas_lib" ] || die "libcublas.so.13 not found (in $cuda/lib64, $cuda/lib or an nvidia cu13/cublas wheel)"
[ -e "$blas_inc/cublas_v2.h" ] || die "cublas_v2.h not found in $blas_inc"

echo "gpu-build: cuda $cuda, cublas $blas_lib, nccl $nccl_lib (header $nccl_inc)"
[ -z "${GPU_BUILD_FIND_ONLY:-}" ] || exit 0

mkdir -p "$out"
"$cuda/bin/nvcc" -fatbin -O3 \
    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
    -gencode arch=compute_90,code=compute_90 \
    -o "$out/kernels.fatbin" "$src/kernels.cu"
{
    echo '__attribute__((aligned(64))) const unsigned char moe_kernels_fatbin[] = {'
    od -An -v -tx1 "$out/kernels.fatbin" | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
    echo '};'
    echo 'const unsigned long moe_kernels_fatbin_len = sizeof moe_kernels_fatbin;'
} >"$out/kernels_fatbin.c"

# -I before -isystem: the NCCL header found above wins over one the toolkit may also carry
# (the toolkit's own include directory stays a system directory: its warnings are not ours).
inc_nccl=-I$nccl_inc
[ "$nccl_inc" = "$cuda/include" ] && inc_nccl=-isystem$nccl_inc
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -DMOE_NO_MPI \
    "$inc_nccl" -isystem "$cuda/include" -isystem "$blas_inc" \
    -o "$out/moe-train" "$src/main.c" "$src/model.c" "$src/gradcheck.c" "$src/dist.c" \
    "$out/kernels_fatbin.c" \
    -L"$blas_lib" -L"$nccl_lib" -L"$stubs" \
    -l:libcublas.so.13 -l:libnccl.so.2 -lcuda -lm \
    -Wl,-rpath,"$nccl_lib:$blas_lib"
echo "gpu-build: $out/moe-train (nccl $nccl_lib, cublas $blas_lib)"
