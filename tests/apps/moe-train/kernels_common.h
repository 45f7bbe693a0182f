/* Element formulas and index maps shared by the GPU kernels (kernels.cu), the CPU providers of
 * the simulated device (kernels_sim.c) and the host code, so that the three agree by
 * construction. Plain C that nvcc compiles for host and device. */
#ifndef MOE_KERNELS_COMMON_H
#define MOE_KERNELS_COMMON_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define MOE_HD static __host__ __device__ __forceinline__
#else
#define MOE_HD static inline
#endif

MOE_HD uint64_t moe_k_hash(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Parameter i of a tensor: normal(0, std) by Box-Muller on two 24-bit uniforms, or cst. */
MOE_HD float moe_k_init_value(uint64_t seed, uint64_t i, float std, float cst)
{
    if (!(std > 0.0f))
        return cst;
    uint64_t h = moe_k_hash(seed ^ moe_k_hash(i));
    float u1 = ((float)(h >> 40) + 1.0f) * (1.0f / 16777217.0f);   /* (0, 1] */
    float u2 = (float)((h >> 8) & 0xffffffu) * (1.0f / 16777216.0f);
    return std * sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

#define MOE_GELU_K 0.7978845608028654f   /* sqrt(2 / pi) */

MOE_HD float moe_k_gelu(float x)
{
    float u = MOE_GELU_K * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}

MOE_HD float moe_k_gelu_grad(float x)
{
    float u = MOE_GELU_K * (x + 0.044715f * x * x * x);
    float t = tanhf(u);
    float du = MOE_GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

/* Logical slot g * cap + s of global expert g -> row of the dispatch layout [d][g][capc] in
 * which chunk d (s in [d * capc, (d + 1) * capc)) is contiguous and, within a chunk, the rows
 * bound for rank p (experts p * LE .. p * LE + LE - 1) are contiguous. */
MOE_HD int64_t moe_k_slot_row(int slot, int E, int cap, int D)
{
    int capc = cap / D, g = slot / cap, s = slot % cap;
    return ((int64_t)(s / capc) * E + g) * capc + s % capc;
}

/* Row r (0 <= r < E * capc) of chunk d of the received layout [d][src][le][capc] -> row of the
 * expert layout [le][slot][src], in which each local expert's rows of one chunk are contiguous. */
MOE_HD int64_t moe_k_expert_row(int64_t r, int d, int D, int W, int LE, int cap)
{
    int capc = cap / D;
    int j = (int)(r % capc);
    int le = (int)((r / capc) % LE);
    int src = (int)(r / ((int64_t)capc * LE));
    return ((int64_t)le * cap + (int64_t)d * capc + j) * W + src;
}

#endif
