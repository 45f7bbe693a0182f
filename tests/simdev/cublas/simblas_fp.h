/* Scalar conversions between the 16-bit floating-point formats of the GPU libraries and float,
 * used by the replacement cuBLAS (GEMM operands) and NCCL (reductions on f16/bf16).
 * Conversions to 16 bits round to nearest even, as the GPU's default conversions do. */
#ifndef SIMBLAS_FP_H
#define SIMBLAS_FP_H

#include <stdint.h>
#include <string.h>

static inline float simfp_bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t simfp_f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float simfp_half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / nan */
        return simfp_bits_to_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return simfp_bits_to_f32(sign);
        /* subnormal half: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return simfp_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t simfp_f32_to_half(float f)
{
    uint32_t u = simfp_f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t exp = (u >> 23) & 0xffu;
    uint32_t man = u & 0x7fffffu;
    if (exp == 0xff) /* inf / nan: keep a quiet nan payload bit */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        /* subnormal: shift the implicit-one mantissa into place, round to nearest even */
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry into the exponent is the correct rounding, up to inf */
    return (uint16_t)h;
}

static inline float simfp_bf16_to_f32(uint16_t b)
{
    return simfp_bits_to_f32((uint32_t)b << 16);
}

static inline uint16_t simfp_f32_to_bf16(float f)
{
    uint32_t u = simfp_f32_to_bits(f);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu))
        return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

#endif
