#!/bin/sh
# Builds moe-train for one GPU without autotools or MPI (a single rank: dist.c's MOE_NO_MPI),
# for machines that have CUDA but not the project's build dependencies:
#
#   tests/apps/moe-train/gpu-build.sh OUTDIR
#
# Uses CUDA_HOME (default /usr/local/cuda) for nvcc, the headers, cuBLAS and the libcuda stub;
# NCCL from NCCL_HOME, else the toolkit, else the nvidia-nccl Python wheel (PyTorch's). The
# result, OUTDIR/moe-train, carries an rpath to the NCCL and cuBLAS it was linked with.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: gpu-build.sh OUTDIR}
cuda=${CUDA_HOME:-/usr/local/cuda}
mkdir -p "$out"

wheel_dir() {   # wheel_dir MODULE -> the package directory of an nvidia-* wheel, if installed
    python3 -c "import importlib, os, sys; m = importlib.import_module('$1'); \
p = getattr(m, '__file__', None); print(os.path.dirname(p) if p else list(m.__path__)[0])" 2>/dev/null
}

nccl=${NCCL_HOME:-}
if [ -z "$nccl" ]; then
    if [ -e "$cuda/include/nccl.h" ]; then nccl=$cuda; else nccl=$(wheel_dir nvidia.nccl || true); fi
fi
[ -n "$nccl" ] && [ -e "$nccl/include/nccl.h" ] || { echo "gpu-build: nccl.h not found" >&2; exit 1; }
nccl_lib=$nccl/lib
[ -e "$nccl_lib/libnccl.so.2" ] || nccl_lib=$nccl/lib64
blas_inc=$cuda/include blas_lib=$cuda/lib64
if [ ! -e "$blas_lib/libcublas.so.13" ]; then
    b=$(wheel_dir nvidia.cublas || wheel_dir nvidia.cu13 || true)
    [ -n "$b" ] && blas_inc=$b/include blas_lib=$b/lib
fi

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

${CC:-gcc} -std=gnu11 -O2 -Wall -Wextra -DMOE_NO_MPI \
    -isystem "$cuda/include" -isystem "$blas_inc" -isystem "$nccl/include" \
    -o "$out/moe-train" "$src/main.c" "$src/model.c" "$src/gradcheck.c" "$src/dist.c" \
    "$out/kernels_fatbin.c" \
    -L"$blas_lib" -L"$nccl_lib" -L"$cuda/lib64/stubs" \
    -l:libcublas.so.13 -l:libnccl.so.2 -lcuda -lm \
    -Wl,-rpath,"$nccl_lib:$blas_lib"
echo "gpu-build: $out/moe-train (nccl $nccl_lib, cublas $blas_lib)"
