/* CPU providers of the trainer's kernels for the simulated device (libmoe_kernels_sim.so, named
 * in SIMDEV_PROVIDERS). Each kernel of kernels.def has:
 *   describe: its cost (FLOPs, DRAM bytes) and the byte ranges it reads and writes, from its
 *             arguments only (timing-only mode has no memory to look at). Where the touched rows
 *             depend on data (embedding rows picked by token ids), the whole tensor is declared.
 *   run:      the computation on host memory, in a fixed sequential order, so results are
 *             bitwise reproducible.
 * Names and parameter lists come from kernels.def, the list the trainer launches from. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../simdev/simdev.h"
#include "kernels_common.h"

#define A_P(i) (*(const uint64_t *)l->params[i])
#define A_I(i) (*(const int *)l->params[i])
#define A_L(i) (*(const long long *)l->params[i])
#define A_F(i) (*(const float *)l->params[i])
#define F_(i) ((float *)(uintptr_t)A_P(i))
#define I_(i) ((int *)(uintptr_t)A_P(i))

typedef const simdev_launch_t L_t;
typedef simdev_launch_desc_t D_t;

/* Adds a range; a null address or a full table makes the launch invalid. */
static int rg(D_t *d, uint64_t addr, uint64_t bytes, int write)
{
    if (bytes == 0)
        return 0;
    if (addr == 0 || d->nranges >= SIMDEV_MAX_RANGES)
        return 1;
    d->ranges[d->nranges].addr = addr;
    d->ranges[d->nranges].size = bytes;
    d->ranges[d->nranges].write = write;
    d->nranges++;
    return 0;
}

/* `batch` blocks of `n` floats, `stride` floats apart: exact ranges for small batches, else one
 * covering range (conservative: it can only add conflicts, never hide one). */
static int rg_batched(D_t *d, uint64_t addr, int batch, long long stride, long long n, int write)
{
    if (batch <= 4) {
        int e = 0;
        for (int k = 0; k < batch; k++)
            e |= rg(d, addr + (uint64_t)(k * stride) * 4, (uint64_t)n * 4, write);
        return e;
    }
    return rg(d, addr, (uint64_t)((batch - 1) * stride + n) * 4, write);
}

static void cost(D_t *d, double flops, double bytes)
{
    d->flops = flops;
    d->bytes = bytes;
}

#define POS(x) ((x) > 0)

/* ---- moe_init_param(p, n, seed, std, cst) ---- */
static int d_moe_init_param(L_t *l, D_t *d)
{
    long long n = A_L(1);
    if (n < 0)
        return 1;
    cost(d, 20.0 * n, 4.0 * n);
    return rg(d, A_P(0), (uint64_t)n * 4, 1);
}
static void r_moe_init_param(L_t *l)
{
    float *p = F_(0);
    long long n = A_L(1);
    uint64_t seed = (uint64_t)A_L(2);
    float std = A_F(3), cst = A_F(4);
    for (long long i = 0; i < n; i++)
        p[i] = moe_k_init_value(seed, (uint64_t)i, std, cst);
}

/* ---- moe_embed_fwd(x, tok, wte, wpe, N, T, C, V) ---- */
static int d_moe_embed_fwd(L_t *l, D_t *d)
{
    long long N = A_I(4), T = A_I(5), C = A_I(6), V = A_I(7);
    if (!POS(N) || !POS(T) || !POS(C) || !POS(V))
        return 1;
    cost(d, (double)N * C, 4.0 * (3 * N * C + N));
    return rg(d, A_P(0), N * C * 4, 1) | rg(d, A_P(1), N * 4, 0) | rg(d, A_P(2), V * C * 4, 0) |
           rg(d, A_P(3), T * C * 4, 0);
}
static void r_moe_embed_fwd(L_t *l)
{
    float *x = F_(0), *wte = F_(2), *wpe = F_(3);
    const int *tok = I_(1);
    int N = A_I(4), T = A_I(5), C = A_I(6);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            x[(size_t)n * C + c] = wte[(size_t)tok[n] * C + c] + wpe[(size_t)(n % T) * C + c];
}

/* ---- moe_embed_bwd_wte(dwte, tok, dx, N, C, V) ---- */
static int d_moe_embed_bwd_wte(L_t *l, D_t *d)
{
    long long N = A_I(3), C = A_I(4), V = A_I(5);
    if (!POS(N) || !POS(C) || !POS(V))
        return 1;
    cost(d, (double)N * C, 4.0 * (3 * N * C + N));
    return rg(d, A_P(0), V * C * 4, 1) | rg(d, A_P(1), N * 4, 0) | rg(d, A_P(2), N * C * 4, 0);
}
static void r_moe_embed_bwd_wte(L_t *l)
{
    float *dwte = F_(0), *dx = F_(2);
    const int *tok = I_(1);
    int N = A_I(3), C = A_I(4);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            dwte[(size_t)tok[n] * C + c] += dx[(size_t)n * C + c];
}

/* ---- moe_embed_bwd_wpe(dwpe, dx, B, T, C) ---- */
static int d_moe_embed_bwd_wpe(L_t *l, D_t *d)
{
    long long B = A_I(2), T = A_I(3), C = A_I(4);
    if (!POS(B) || !POS(T) || !POS(C))
        return 1;
    cost(d, (double)B * T * C, 4.0 * (B * T * C + T * C));
    return rg(d, A_P(0), T * C * 4, 1) | rg(d, A_P(1), B * T * C * 4, 0);
}
static void r_moe_embed_bwd_wpe(L_t *l)
{
    float *dwpe = F_(0), *dx = F_(1);
    int B = A_I(2), T = A_I(3), C = A_I(4);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            float s = 0.0f;
            for (int b = 0; b < B; b++)
                s += dx[((size_t)b * T + t) * C + c];
            dwpe[(size_t)t * C + c] = s;
        }
}

/* ---- moe_layernorm_fwd(out, mean, rstd, x, w, b, N, C) ---- */
static int d_moe_layernorm_fwd(L_t *l, D_t *d)
{
    long long N = A_I(6), C = A_I(7);
    if (!POS(N) || !POS(C))
        return 1;
    cost(d, 8.0 * N * C, 4.0 * (2 * N * C + 2 * C + 2 * N));
    return rg(d, A_P(0), N * C * 4, 1) | rg(d, A_P(1), N * 4, 1) | rg(d, A_P(2), N * 4, 1) |
           rg(d, A_P(3), N * C * 4, 0) | rg(d, A_P(4), C * 4, 0) | rg(d, A_P(5), C * 4, 0);
}
static void r_moe_layernorm_fwd(L_t *l)
{
    float *out = F_(0), *mean = F_(1), *rstd = F_(2), *x = F_(3), *w = F_(4), *b = F_(5);
    int N = A_I(6), C = A_I(7);
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float s = 0.0f;
        for (int c = 0; c < C; c++)
            s += xr[c];
        float mu = s / (float)C, v = 0.0f;
        for (int c = 0; c < C; c++)
            v += (xr[c] - mu) * (xr[c] - mu);
        float rs = 1.0f / sqrtf(v / (float)C + 1e-5f);
        for (int c = 0; c < C; c++)
            out[(size_t)n * C + c] = (xr[c] - mu) * rs * w[c] + b[c];
        mean[n] = mu;
        rstd[n] = rs;
    }
}

/* ---- moe_layernorm_bwd_dx(dx, dadd, dout, x, w, mean, rstd, N, C) ---- */
static int d_moe_layernorm_bwd_dx(L_t *l, D_t *d)
{
    long long N = A_I(7), C = A_I(8);
    if (!POS(N) || !POS(C))
        return 1;
    int e = rg(d, A_P(0), N * C * 4, 1);
    if (A_P(1))
        e |= rg(d, A_P(1), N * C * 4, 0);
    cost(d, 12.0 * N * C, 4.0 * ((A_P(1) ? 4 : 3) * N * C + C + 2 * N));
    return e | rg(d, A_P(2), N * C * 4, 0) | rg(d, A_P(3), N * C * 4, 0) |
           rg(d, A_P(4), C * 4, 0) | rg(d, A_P(5), N * 4, 0) | rg(d, A_P(6), N * 4, 0);
}
static void r_moe_layernorm_bwd_dx(L_t *l)
{
    float *dx = F_(0), *dadd = F_(1), *dout = F_(2), *x = F_(3), *w = F_(4), *mean = F_(5),
          *rstd = F_(6);
    int N = A_I(7), C = A_I(8);
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *dr = dout + (size_t)n * C;
        float mu = mean[n], rs = rstd[n], s1 = 0.0f, s2 = 0.0f;
        for (int c = 0; c < C; c++) {
            float g = dr[c] * w[c];
            s1 += g;
            s2 += g * (xr[c] - mu) * rs;
        }
        s1 /= (float)C;
        s2 /= (float)C;
        for (int c = 0; c < C; c++) {
            float xh = (xr[c] - mu) * rs;
            float v = rs * (dr[c] * w[c] - s1 - xh * s2);
            dx[(size_t)n * C + c] = dadd ? dadd[(size_t)n * C + c] + v : v;
        }
    }
}

/* ---- moe_layernorm_bwd_dwdb(dw, db, dout, x, mean, rstd, N, C) ---- */
static int d_moe_layernorm_bwd_dwdb(L_t *l, D_t *d)
{
    long long N = A_I(6), C = A_I(7);
    if (!POS(N) || !POS(C))
        return 1;
    cost(d, 5.0 * N * C, 4.0 * (2 * N * C + 2 * C + 2 * N));
    return rg(d, A_P(0), C * 4, 1) | rg(d, A_P(1), C * 4, 1) | rg(d, A_P(2), N * C * 4, 0) |
           rg(d, A_P(3), N * C * 4, 0) | rg(d, A_P(4), N * 4, 0) | rg(d, A_P(5), N * 4, 0);
}
static void r_moe_layernorm_bwd_dwdb(L_t *l)
{
    float *dw = F_(0), *db = F_(1), *dout = F_(2), *x = F_(3), *mean = F_(4), *rstd = F_(5);
    int N = A_I(6), C = A_I(7);
    for (int c = 0; c < C; c++) {
        float sw = 0.0f, sb = 0.0f;
        for (int n = 0; n < N; n++) {
            float g = dout[(size_t)n * C + c];
            sw += g * (x[(size_t)n * C + c] - mean[n]) * rstd[n];
            sb += g;
        }
        dw[c] = sw;
        db[c] = sb;
    }
}

/* ---- moe_bias_act(y, b, batch, rows, cols, ystride, act) ---- */
static int d_moe_bias_act(L_t *l, D_t *d)
{
    long long K = A_I(2), R = A_I(3), C = A_I(4), S = A_I(5);
    if (!POS(K) || R < 0 || !POS(C) || (K > 1 && S < R * C))
        return 1;
    cost(d, (double)K * R * C * 2, 4.0 * (2 * K * R * C + K * C));
    return rg_batched(d, A_P(0), (int)K, S, R * C, 1) | rg(d, A_P(1), K * C * 4, 0);
}
static void r_moe_bias_act(L_t *l)
{
    float *y = F_(0), *b = F_(1);
    int K = A_I(2), R = A_I(3), C = A_I(4), S = A_I(5), act = A_I(6);
    for (int k = 0; k < K; k++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                float *p = y + (size_t)k * S + (size_t)r * C + c;
                float v = *p + b[(size_t)k * C + c];
                *p = (act == 1 && v < 0.0f) ? 0.0f : v;
            }
}

/* ---- moe_residual_bias(out, resid, y, b, N, C) ---- */
static int d_moe_residual_bias(L_t *l, D_t *d)
{
    long long N = A_I(4), C = A_I(5);
    if (!POS(N) || !POS(C))
        return 1;
    cost(d, 2.0 * N * C, 4.0 * (3 * N * C + C));
    return rg(d, A_P(0), N * C * 4, 1) | rg(d, A_P(1), N * C * 4, 0) |
           rg(d, A_P(2), N * C * 4, 0) | rg(d, A_P(3), C * 4, 0);
}
static void r_moe_residual_bias(L_t *l)
{
    float *out = F_(0), *res = F_(1), *y = F_(2), *b = F_(3);
    int N = A_I(4), C = A_I(5);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t i = (size_t)n * C + c;
            out[i] = res[i] + (y[i] + b[c]);
        }
}

/* ---- moe_bias_grad(db, dy, batch, rows, cols, ystride) ---- */
static int d_moe_bias_grad(L_t *l, D_t *d)
{
    long long K = A_I(2), R = A_I(3), C = A_I(4), S = A_I(5);
    if (!POS(K) || R < 0 || !POS(C) || (K > 1 && S < R * C))
        return 1;
    cost(d, (double)K * R * C, 4.0 * (K * R * C + K * C));
    return rg(d, A_P(0), K * C * 4, 1) | rg_batched(d, A_P(1), (int)K, S, R * C, 0);
}
static void r_moe_bias_grad(L_t *l)
{
    float *db = F_(0), *dy = F_(1);
    int K = A_I(2), R = A_I(3), C = A_I(4), S = A_I(5);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            float s = 0.0f;
            for (int r = 0; r < R; r++)
                s += dy[(size_t)k * S + (size_t)r * C + c];
            db[(size_t)k * C + c] = s;
        }
}

/* ---- moe_gelu_fwd(out, in, n) ---- */
static int d_moe_gelu_fwd(L_t *l, D_t *d)
{
    long long n = A_I(2);
    if (n < 0)
        return 1;
    cost(d, 12.0 * n, 8.0 * n);
    return rg(d, A_P(0), n * 4, 1) | rg(d, A_P(1), n * 4, 0);
}
static void r_moe_gelu_fwd(L_t *l)
{
    float *out = F_(0), *in = F_(1);
    int n = A_I(2);
    for (int i = 0; i < n; i++)
        out[i] = moe_k_gelu(in[i]);
}

/* ---- moe_gelu_bwd(dx, dy, x, n) ---- */
static int d_moe_gelu_bwd(L_t *l, D_t *d)
{
    long long n = A_I(3);
    if (n < 0)
        return 1;
    cost(d, 18.0 * n, 12.0 * n);
    return rg(d, A_P(0), n * 4, 1) | rg(d, A_P(1), n * 4, 0) | rg(d, A_P(2), n * 4, 0);
}
static void r_moe_gelu_bwd(L_t *l)
{
    float *dx = F_(0), *dy = F_(1), *x = F_(2);
    int n = A_I(3);
    for (int i = 0; i < n; i++)
        dx[i] = dy[i] * moe_k_gelu_grad(x[i]);
}

/* ---- moe_relu_bwd(dx, dy, y, batch, rows, cols, stride) ---- */
static int d_moe_relu_bwd(L_t *l, D_t *d)
{
    long long K = A_I(3), R = A_I(4), C = A_I(5), S = A_I(6);
    if (!POS(K) || R < 0 || !POS(C) || (K > 1 && S < R * C))
        return 1;
    cost(d, (double)K * R * C, 12.0 * K * R * C);
    return rg_batched(d, A_P(0), (int)K, S, R * C, 1) |
           rg_batched(d, A_P(1), (int)K, S, R * C, 0) |
           rg_batched(d, A_P(2), (int)K, S, R * C, 0);
}
static void r_moe_relu_bwd(L_t *l)
{
    float *dx = F_(0), *dy = F_(1), *y = F_(2);
    int K = A_I(3), R = A_I(4), C = A_I(5), S = A_I(6);
    for (int k = 0; k < K; k++)
        for (size_t i = 0; i < (size_t)R * C; i++) {
            size_t j = (size_t)k * S + i;
            dx[j] = y[j] > 0.0f ? dy[j] : 0.0f;
        }
}

/* ---- attention layout changes: (B,T,3C) <-> 3 x (B,NH,T,hs), (B,T,C) <-> (B,NH,T,hs) ---- */
static int check_bthh(L_t *l, int first, long long *BTC)
{
    long long B = A_I(first), T = A_I(first + 1), NH = A_I(first + 2), hs = A_I(first + 3);
    if (!POS(B) || !POS(T) || !POS(NH) || !POS(hs))
        return 1;
    *BTC = B * T * NH * hs;
    return 0;
}

static int d_moe_attn_split_qkv(L_t *l, D_t *d)
{
    long long n;
    if (check_bthh(l, 4, &n))
        return 1;
    cost(d, 0, 24.0 * n);
    return rg(d, A_P(0), n * 4, 1) | rg(d, A_P(1), n * 4, 1) | rg(d, A_P(2), n * 4, 1) |
           rg(d, A_P(3), 3 * n * 4, 0);
}
static void r_moe_attn_split_qkv(L_t *l)
{
    float *q = F_(0), *k = F_(1), *v = F_(2), *qkv = F_(3);
    int B = A_I(4), T = A_I(5), NH = A_I(6), hs = A_I(7), C = NH * hs;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < hs; i++) {
                    size_t src = ((size_t)b * T + t) * 3 * C + (size_t)h * hs + i;
                    size_t dst = (((size_t)b * NH + h) * T + t) * hs + i;
                    q[dst] = qkv[src];
                    k[dst] = qkv[src + C];
                    v[dst] = qkv[src + 2 * C];
                }
}

static int d_moe_attn_merge_qkv(L_t *l, D_t *d)
{
    long long n;
    if (check_bthh(l, 4, &n))
        return 1;
    cost(d, 0, 24.0 * n);
    return rg(d, A_P(0), 3 * n * 4, 1) | rg(d, A_P(1), n * 4, 0) | rg(d, A_P(2), n * 4, 0) |
           rg(d, A_P(3), n * 4, 0);
}
static void r_moe_attn_merge_qkv(L_t *l)
{
    float *dqkv = F_(0), *dq = F_(1), *dk = F_(2), *dv = F_(3);
    int B = A_I(4), T = A_I(5), NH = A_I(6), hs = A_I(7), C = NH * hs;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < hs; i++) {
                    size_t dst = ((size_t)b * T + t) * 3 * C + (size_t)h * hs + i;
                    size_t src = (((size_t)b * NH + h) * T + t) * hs + i;
                    dqkv[dst] = dq[src];
                    dqkv[dst + C] = dk[src];
                    dqkv[dst + 2 * C] = dv[src];
                }
}

static int d_moe_attn_merge_heads(L_t *l, D_t *d)
{
    long long n;
    if (check_bthh(l, 2, &n))
        return 1;
    cost(d, 0, 8.0 * n);
    return rg(d, A_P(0), n * 4, 1) | rg(d, A_P(1), n * 4, 0);
}
static void r_moe_attn_merge_heads(L_t *l)
{
    float *y = F_(0), *yh = F_(1);
    int B = A_I(2), T = A_I(3), NH = A_I(4), hs = A_I(5), C = NH * hs;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < hs; i++)
                    y[((size_t)b * T + t) * C + (size_t)h * hs + i] =
                        yh[(((size_t)b * NH + h) * T + t) * hs + i];
}

static int d_moe_attn_split_heads(L_t *l, D_t *d)
{
    return d_moe_attn_merge_heads(l, d);
}
static void r_moe_attn_split_heads(L_t *l)
{
    float *yh = F_(0), *y = F_(1);
    int B = A_I(2), T = A_I(3), NH = A_I(4), hs = A_I(5), C = NH * hs;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < hs; i++)
                    yh[(((size_t)b * NH + h) * T + t) * hs + i] =
                        y[((size_t)b * T + t) * C + (size_t)h * hs + i];
}

/* ---- moe_attn_softmax_fwd(att, preatt, BH, T, scale) ---- */
static int d_moe_attn_softmax_fwd(L_t *l, D_t *d)
{
    long long BH = A_I(2), T = A_I(3);
    if (!POS(BH) || !POS(T))
        return 1;
    cost(d, 3.0 * BH * T * T, 8.0 * BH * T * T);
    return rg(d, A_P(0), BH * T * T * 4, 1) | rg(d, A_P(1), BH * T * T * 4, 0);
}
static void r_moe_attn_softmax_fwd(L_t *l)
{
    float *att = F_(0), *pre = F_(1);
    int BH = A_I(2), T = A_I(3);
    float scale = A_F(4);
    for (size_t r = 0; r < (size_t)BH * T; r++) {
        int i = (int)(r % (size_t)T);
        const float *p = pre + r * T;
        float *a = att + r * T;
        float mx = -INFINITY, s = 0.0f;
        for (int j = 0; j <= i; j++)
            mx = fmaxf(mx, scale * p[j]);
        for (int j = 0; j <= i; j++) {
            a[j] = expf(scale * p[j] - mx);
            s += a[j];
        }
        for (int j = 0; j < T; j++)
            a[j] = j <= i ? a[j] / s : 0.0f;
    }
}

/* ---- moe_attn_softmax_bwd(dpreatt, datt, att, BH, T, scale) ---- */
static int d_moe_attn_softmax_bwd(L_t *l, D_t *d)
{
    long long BH = A_I(3), T = A_I(4);
    if (!POS(BH) || !POS(T))
        return 1;
    cost(d, 4.0 * BH * T * T, 12.0 * BH * T * T);
    return rg(d, A_P(0), BH * T * T * 4, 1) | rg(d, A_P(1), BH * T * T * 4, 0) |
           rg(d, A_P(2), BH * T * T * 4, 0);
}
static void r_moe_attn_softmax_bwd(L_t *l)
{
    float *dpre = F_(0), *datt = F_(1), *att = F_(2);
    int BH = A_I(3), T = A_I(4);
    float scale = A_F(5);
    for (size_t r = 0; r < (size_t)BH * T; r++) {
        int i = (int)(r % (size_t)T);
        const float *a = att + r * T, *g = datt + r * T;
        float *o = dpre + r * T, s = 0.0f;
        for (int j = 0; j <= i; j++)
            s += a[j] * g[j];
        for (int j = 0; j < T; j++)
            o[j] = j <= i ? scale * a[j] * (g[j] - s) : 0.0f;
    }
}

/* ---- moe_xent(losses, logits, targets, N, V, dscale, grad) ---- */
static int d_moe_xent(L_t *l, D_t *d)
{
    long long N = A_I(3), V = A_I(4);
    int grad = A_I(6);
    if (!POS(N) || !POS(V))
        return 1;
    cost(d, 5.0 * N * V, 4.0 * ((grad ? 2 : 1) * N * V + 2 * N));
    return rg(d, A_P(0), N * 4, 1) | rg(d, A_P(1), N * V * 4, grad ? 1 : 0) |
           rg(d, A_P(2), N * 4, 0);
}
static void r_moe_xent(L_t *l)
{
    float *losses = F_(0), *logits = F_(1);
    const int *tgt = I_(2);
    int N = A_I(3), V = A_I(4), grad = A_I(6);
    float dscale = A_F(5);
    for (int n = 0; n < N; n++) {
        float *x = logits + (size_t)n * V;
        float mx = -INFINITY, s = 0.0f;
        for (int j = 0; j < V; j++)
            mx = fmaxf(mx, x[j]);
        for (int j = 0; j < V; j++)
            s += expf(x[j] - mx);
        losses[n] = mx + logf(s) - x[tgt[n]];
        if (!grad)
            continue;
        for (int j = 0; j < V; j++)
            x[j] = (expf(x[j] - mx) / s - (j == tgt[n] ? 1.0f : 0.0f)) * dscale;
    }
}

/* ---- moe_loss_mean(out, in, n) ---- */
static int d_moe_loss_mean(L_t *l, D_t *d)
{
    long long n = A_I(2);
    if (!POS(n))
        return 1;
    cost(d, (double)n, 4.0 * (n + 1));
    return rg(d, A_P(0), 4, 1) | rg(d, A_P(1), n * 4, 0);
}
static void r_moe_loss_mean(L_t *l)
{
    float *out = F_(0), *in = F_(1);
    int n = A_I(2);
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += in[i];
    out[0] = (float)(s / n);
}

/* ---- moe_gate_softmax(probs, top1, top1p, logits, N, E) ---- */
static int d_moe_gate_softmax(L_t *l, D_t *d)
{
    long long N = A_I(4), E = A_I(5);
    if (!POS(N) || !POS(E))
        return 1;
    cost(d, 4.0 * N * E, 4.0 * (2 * N * E + 2 * N));
    return rg(d, A_P(0), N * E * 4, 1) | rg(d, A_P(1), N * 4, 1) | rg(d, A_P(2), N * 4, 1) |
           rg(d, A_P(3), N * E * 4, 0);
}
static void r_moe_gate_softmax(L_t *l)
{
    float *probs = F_(0), *top1p = F_(2), *logits = F_(3);
    int *top1 = I_(1);
    int N = A_I(4), E = A_I(5);
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * E;
        float *p = probs + (size_t)n * E;
        float mx = -INFINITY, s = 0.0f;
        int best = 0;
        for (int e = 0; e < E; e++)
            if (x[e] > mx) {
                mx = x[e];
                best = e;
            }
        for (int e = 0; e < E; e++) {
            p[e] = expf(x[e] - mx);
            s += p[e];
        }
        for (int e = 0; e < E; e++)
            p[e] /= s;
        top1[n] = best;
        top1p[n] = p[best];
    }
}

/* ---- moe_gate_assign(tok2slot, slot2tok, top1, N, E, cap) ---- */
static int d_moe_gate_assign(L_t *l, D_t *d)
{
    long long N = A_I(3), E = A_I(4), cap = A_I(5);
    if (!POS(N) || !POS(E) || !POS(cap))
        return 1;
    cost(d, (double)N * E, 4.0 * (N * E + N + E * cap));
    return rg(d, A_P(0), N * 4, 1) | rg(d, A_P(1), E * cap * 4, 1) | rg(d, A_P(2), N * 4, 0);
}
static void r_moe_gate_assign(L_t *l)
{
    int *t2s = I_(0), *s2t = I_(1), *top1 = I_(2);
    int N = A_I(3), E = A_I(4), cap = A_I(5);
    for (int g = 0; g < E; g++) {
        int used = 0;
        for (int n = 0; n < N; n++) {
            if (top1[n] != g)
                continue;
            if (used < cap) {
                t2s[n] = g * cap + used;
                s2t[g * cap + used] = n;
                used++;
            } else {
                t2s[n] = -1;
            }
        }
        for (; used < cap; used++)
            s2t[g * cap + used] = -1;
    }
}

/* ---- moe_dispatch(disp, x, slot2tok, N, E, cap, D, C) ---- */
static int check_ecd(int E, int cap, int D, int C)
{
    return !POS(E) || !POS(cap) || !POS(D) || !POS(C) || cap % D != 0;
}
static int d_moe_dispatch(L_t *l, D_t *d)
{
    long long N = A_I(3), E = A_I(4), cap = A_I(5), C = A_I(7);
    if (!POS(N) || check_ecd(A_I(4), A_I(5), A_I(6), A_I(7)))
        return 1;
    cost(d, 0, 4.0 * (2 * E * cap * C + E * cap));
    return rg(d, A_P(0), E * cap * C * 4, 1) | rg(d, A_P(1), N * C * 4, 0) |
           rg(d, A_P(2), E * cap * 4, 0);
}
static void r_moe_dispatch(L_t *l)
{
    float *disp = F_(0), *x = F_(1);
    int *s2t = I_(2);
    int E = A_I(4), cap = A_I(5), D = A_I(6), C = A_I(7);
    for (int slot = 0; slot < E * cap; slot++) {
        float *o = disp + (size_t)moe_k_slot_row(slot, E, cap, D) * C;
        int t = s2t[slot];
        for (int c = 0; c < C; c++)
            o[c] = t >= 0 ? x[(size_t)t * C + c] : 0.0f;
    }
}

/* ---- moe_dispatch_bwd(dx, ddisp, tok2slot, N, E, cap, D, C) ---- */
static int d_moe_dispatch_bwd(L_t *l, D_t *d)
{
    long long N = A_I(3), E = A_I(4), cap = A_I(5), C = A_I(7);
    if (!POS(N) || check_ecd(A_I(4), A_I(5), A_I(6), A_I(7)))
        return 1;
    cost(d, 0, 4.0 * (2 * N * C + N));
    return rg(d, A_P(0), N * C * 4, 1) | rg(d, A_P(1), E * cap * C * 4, 0) |
           rg(d, A_P(2), N * 4, 0);
}
static void r_moe_dispatch_bwd(L_t *l)
{
    float *dx = F_(0), *dd = F_(1);
    int *t2s = I_(2);
    int N = A_I(3), E = A_I(4), cap = A_I(5), D = A_I(6), C = A_I(7);
    for (int n = 0; n < N; n++) {
        int s = t2s[n];
        const float *src = s >= 0 ? dd + (size_t)moe_k_slot_row(s, E, cap, D) * C : NULL;
        for (int c = 0; c < C; c++)
            dx[(size_t)n * C + c] = src ? src[c] : 0.0f;
    }
}

/* ---- moe_recv_to_expert / moe_expert_to_send (buf, buf, d, D, W, LE, cap, C) ---- */
static int d_permute(L_t *l, D_t *d, int to_expert)
{
    long long dd = A_I(2), D = A_I(3), W = A_I(4), LE = A_I(5), cap = A_I(6), C = A_I(7);
    if (!POS(W) || !POS(LE) || dd < 0 || dd >= D || check_ecd((int)(W * LE), (int)cap, (int)D,
                                                              (int)C))
        return 1;
    long long capc = cap / D, chunk = W * LE * capc * C;
    /* chunk d of the a2a-side layout [d][peer][le][capc] is contiguous; in the expert layout
     * [le][slot][src] it is one block of capc * W rows per local expert */
    uint64_t a2a = to_expert ? A_P(1) : A_P(0), ex = to_expert ? A_P(0) : A_P(1);
    cost(d, 0, 8.0 * chunk);
    int e = rg(d, a2a + (uint64_t)(dd * chunk) * 4, (uint64_t)chunk * 4, !to_expert);
    return e | rg_batched(d, ex + (uint64_t)(dd * capc * W * C) * 4, (int)LE, cap * W * C,
                          capc * W * C, to_expert);
}
static void run_permute(L_t *l, int to_expert)
{
    float *dst = F_(0), *src = F_(1);
    int dd = A_I(2), D = A_I(3), W = A_I(4), LE = A_I(5), cap = A_I(6), C = A_I(7);
    int64_t capc = cap / D, rows = (int64_t)W * LE * capc;
    for (int64_t r = 0; r < rows; r++) {
        int64_t a = dd * rows + r, x = moe_k_expert_row(r, dd, D, W, LE, cap);
        if (to_expert)
            memcpy(dst + x * C, src + a * C, (size_t)C * sizeof(float));
        else
            memcpy(dst + a * C, src + x * C, (size_t)C * sizeof(float));
    }
}
static int d_moe_recv_to_expert(L_t *l, D_t *d) { return d_permute(l, d, 1); }
static void r_moe_recv_to_expert(L_t *l) { run_permute(l, 1); }
static int d_moe_expert_to_send(L_t *l, D_t *d) { return d_permute(l, d, 0); }
static void r_moe_expert_to_send(L_t *l) { run_permute(l, 0); }

/* ---- moe_combine(out, resid, ret, tok2slot, top1p, N, E, cap, D, C) ---- */
static int d_moe_combine(L_t *l, D_t *d)
{
    long long N = A_I(5), E = A_I(6), cap = A_I(7), C = A_I(9);
    if (!POS(N) || check_ecd(A_I(6), A_I(7), A_I(8), A_I(9)))
        return 1;
    cost(d, 2.0 * N * C, 4.0 * (3 * N * C + 2 * N));
    return rg(d, A_P(0), N * C * 4, 1) | rg(d, A_P(1), N * C * 4, 0) |
           rg(d, A_P(2), E * cap * C * 4, 0) | rg(d, A_P(3), N * 4, 0) | rg(d, A_P(4), N * 4, 0);
}
static void r_moe_combine(L_t *l)
{
    float *out = F_(0), *res = F_(1), *ret = F_(2), *p = F_(4);
    int *t2s = I_(3);
    int N = A_I(5), E = A_I(6), cap = A_I(7), D = A_I(8), C = A_I(9);
    for (int n = 0; n < N; n++) {
        int s = t2s[n];
        const float *r = s >= 0 ? ret + (size_t)moe_k_slot_row(s, E, cap, D) * C : NULL;
        for (int c = 0; c < C; c++) {
            size_t i = (size_t)n * C + c;
            out[i] = r ? res[i] + p[n] * r[c] : res[i];
        }
    }
}

/* ---- moe_combine_bwd_data(dret, dout, slot2tok, top1p, N, E, cap, D, C) ---- */
static int d_moe_combine_bwd_data(L_t *l, D_t *d)
{
    long long N = A_I(4), E = A_I(5), cap = A_I(6), C = A_I(8);
    if (!POS(N) || check_ecd(A_I(5), A_I(6), A_I(7), A_I(8)))
        return 1;
    cost(d, (double)E * cap * C, 4.0 * (2 * E * cap * C + E * cap));
    return rg(d, A_P(0), E * cap * C * 4, 1) | rg(d, A_P(1), N * C * 4, 0) |
           rg(d, A_P(2), E * cap * 4, 0) | rg(d, A_P(3), N * 4, 0);
}
static void r_moe_combine_bwd_data(L_t *l)
{
    float *dret = F_(0), *dout = F_(1), *p = F_(3);
    int *s2t = I_(2);
    int E = A_I(5), cap = A_I(6), D = A_I(7), C = A_I(8);
    for (int slot = 0; slot < E * cap; slot++) {
        float *o = dret + (size_t)moe_k_slot_row(slot, E, cap, D) * C;
        int t = s2t[slot];
        for (int c = 0; c < C; c++)
            o[c] = t >= 0 ? p[t] * dout[(size_t)t * C + c] : 0.0f;
    }
}

/* ---- moe_combine_bwd_prob(dprob, dout, ret, tok2slot, N, E, cap, D, C) ---- */
static int d_moe_combine_bwd_prob(L_t *l, D_t *d)
{
    long long N = A_I(4), E = A_I(5), cap = A_I(6), C = A_I(8);
    if (!POS(N) || check_ecd(A_I(5), A_I(6), A_I(7), A_I(8)))
        return 1;
    cost(d, 2.0 * N * C, 4.0 * (2 * N * C + 2 * N));
    return rg(d, A_P(0), N * 4, 1) | rg(d, A_P(1), N * C * 4, 0) |
           rg(d, A_P(2), E * cap * C * 4, 0) | rg(d, A_P(3), N * 4, 0);
}
static void r_moe_combine_bwd_prob(L_t *l)
{
    float *dp = F_(0), *dout = F_(1), *ret = F_(2);
    int *t2s = I_(3);
    int N = A_I(4), E = A_I(5), cap = A_I(6), D = A_I(7), C = A_I(8);
    for (int n = 0; n < N; n++) {
        int s = t2s[n];
        float acc = 0.0f;
        if (s >= 0) {
            const float *r = ret + (size_t)moe_k_slot_row(s, E, cap, D) * C;
            for (int c = 0; c < C; c++)
                acc += r[c] * dout[(size_t)n * C + c];
        }
        dp[n] = acc;
    }
}

/* ---- moe_gate_bwd(dlogits, probs, top1, tok2slot, dprob, N, E) ---- */
static int d_moe_gate_bwd(L_t *l, D_t *d)
{
    long long N = A_I(5), E = A_I(6);
    if (!POS(N) || !POS(E))
        return 1;
    cost(d, 3.0 * N * E, 4.0 * (2 * N * E + 3 * N));
    return rg(d, A_P(0), N * E * 4, 1) | rg(d, A_P(1), N * E * 4, 0) | rg(d, A_P(2), N * 4, 0) |
           rg(d, A_P(3), N * 4, 0) | rg(d, A_P(4), N * 4, 0);
}
static void r_moe_gate_bwd(L_t *l)
{
    float *dl = F_(0), *probs = F_(1), *dprob = F_(4);
    int *top1 = I_(2), *t2s = I_(3);
    int N = A_I(5), E = A_I(6);
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * E;
        float *o = dl + (size_t)n * E;
        int k = top1[n];
        float g = t2s[n] >= 0 ? dprob[n] * p[k] : 0.0f;
        for (int e = 0; e < E; e++)
            o[e] = g * ((e == k ? 1.0f : 0.0f) - p[e]);
    }
}

/* ---- moe_sgd(w, v, g, n, lr, mu, gscale) ---- */
static int d_moe_sgd(L_t *l, D_t *d)
{
    long long n = A_L(3);
    if (n < 0)
        return 1;
    cost(d, 4.0 * n, 20.0 * n);
    return rg(d, A_P(0), n * 4, 1) | rg(d, A_P(1), n * 4, 1) | rg(d, A_P(2), n * 4, 0);
}
static void r_moe_sgd(L_t *l)
{
    float *w = F_(0), *v = F_(1), *g = F_(2);
    long long n = A_L(3);
    float lr = A_F(4), mu = A_F(5), gs = A_F(6);
    for (long long i = 0; i < n; i++) {
        v[i] = mu * v[i] + gs * g[i];
        w[i] -= lr * v[i];
    }
}

/* ---- registration ---- */

static const struct {
    const char *name, *sig;
    int (*describe)(const simdev_launch_t *, simdev_launch_desc_t *);
    void (*run)(const simdev_launch_t *);
} table[] = {
#define MOE_KERNEL(name, sig) {#name, sig, d_##name, r_##name},
#include "kernels.def"
#undef MOE_KERNEL
};

#define NKERNELS (sizeof table / sizeof table[0])

static simdev_kernel_t kernels[NKERNELS];

__attribute__((visibility("default"))) void
simdev_provider_init(void (*reg)(const simdev_kernel_t *k, size_t n))
{
    for (size_t i = 0; i < NKERNELS; i++) {
        simdev_kernel_t *k = &kernels[i];
        memset(k, 0, sizeof *k);
        k->name = table[i].name;
        k->nparams = (uint32_t)strlen(table[i].sig);
        for (uint32_t j = 0; j < k->nparams; j++)
            k->param_size[j] = (table[i].sig[j] == 'p' || table[i].sig[j] == 'l') ? 8 : 4;
        k->describe = table[i].describe;
        k->run = table[i].run;
        k->comm_start = NULL;
    }
    reg(kernels, NKERNELS);
}
