/* GPU kernels of the trainer: the names and parameter lists of kernels.def (extern "C", so the
 * names the trainer passes to cuModuleGetFunction are these), compiled by nvcc into a fatbin
 * that the trainer embeds and loads with cuModuleLoadData.
 *
 * Determinism: no atomics. Every reduction is either a sequential loop in one thread or a
 * fixed-shape tree over a block of TPB threads (launched with blockDim.x == 256), so the
 * order of additions depends only on the shapes, never on timing. */
#include <stdint.h>

#include "kernels_common.h"

#define TPB 256

#define GRID_LOOP(i, n)                                                                      \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n);           \
         i += (size_t)blockDim.x * gridDim.x)

__device__ static float block_sum(float v, float *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

__device__ static float block_max(float v, float *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

extern "C" {

__global__ void moe_init_param(float *p, long long n, long long seed, float std, float cst)
{
    GRID_LOOP(i, n) p[i] = moe_k_init_value((uint64_t)seed, (uint64_t)i, std, cst);
}

__global__ void moe_embed_fwd(float *x, const int *tok, const float *wte, const float *wpe, int N,
                              int T, int C, int V)
{
    (void)V;
    GRID_LOOP(i, (size_t)N * C)
    {
        size_t n = i / C, c = i % C;
        x[i] = wte[(size_t)tok[n] * C + c] + wpe[(n % T) * C + c];
    }
}

__global__ void moe_embed_bwd_wte(float *dwte, const int *tok, const float *dx, int N, int C,
                                  int V)
{
    (void)V;
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    for (int n = 0; n < N; n++)
        dwte[(size_t)tok[n] * C + c] += dx[(size_t)n * C + c];
}

__global__ void moe_embed_bwd_wpe(float *dwpe, const float *dx, int B, int T, int C)
{
    GRID_LOOP(i, (size_t)T * C)
    {
        size_t t = i / C, c = i % C;
        float s = 0.0f;
        for (int b = 0; b < B; b++)
            s += dx[((size_t)b * T + t) * C + c];
        dwpe[i] = s;
    }
}

__global__ void moe_layernorm_fwd(float *out, float *mean, float *rstd, const float *x,
                                  const float *w, const float *b, int N, int C)
{
    __shared__ float sh[TPB];
    int n = blockIdx.x;
    if (n >= N)
        return;
    const float *xr = x + (size_t)n * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        s += xr[c];
    float mu = block_sum(s, sh) / (float)C;
    float v = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        v += (xr[c] - mu) * (xr[c] - mu);
    float rs = 1.0f / sqrtf(block_sum(v, sh) / (float)C + 1e-5f);
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        out[(size_t)n * C + c] = (xr[c] - mu) * rs * w[c] + b[c];
    if (threadIdx.x == 0) {
        mean[n] = mu;
        rstd[n] = rs;
    }
}

__global__ void moe_layernorm_bwd_dx(float *dx, const float *dadd, const float *dout,
                                     const float *x, const float *w, const float *mean,
                                     const float *rstd, int N, int C)
{
    __shared__ float sh[TPB];
    int n = blockIdx.x;
    if (n >= N)
        return;
    const float *xr = x + (size_t)n * C, *dr = dout + (size_t)n * C;
    float mu = mean[n], rs = rstd[n], s1 = 0.0f, s2 = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float g = dr[c] * w[c];
        s1 += g;
        s2 += g * (xr[c] - mu) * rs;
    }
    s1 = block_sum(s1, sh) / (float)C;
    s2 = block_sum(s2, sh) / (float)C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float xh = (xr[c] - mu) * rs;
        float v = rs * (dr[c] * w[c] - s1 - xh * s2);
        dx[(size_t)n * C + c] = dadd ? dadd[(size_t)n * C + c] + v : v;
    }
}

__global__ void moe_layernorm_bwd_dwdb(float *dw, float *db, const float *dout, const float *x,
                                       const float *mean, const float *rstd, int N, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    float sw = 0.0f, sb = 0.0f;
    for (int n = 0; n < N; n++) {
        float g = dout[(size_t)n * C + c];
        sw += g * (x[(size_t)n * C + c] - mean[n]) * rstd[n];
        sb += g;
    }
    dw[c] = sw;
    db[c] = sb;
}

__global__ void moe_bias_act(float *y, const float *b, int K, int R, int C, int S, int act)
{
    size_t rc = (size_t)R * C;
    GRID_LOOP(i, (size_t)K * rc)
    {
        size_t k = i / rc, j = i % rc;
        float *p = y + k * S + j;
        float v = *p + b[k * C + j % C];
        *p = (act == 1 && v < 0.0f) ? 0.0f : v;
    }
}

__global__ void moe_residual_bias(float *out, const float *res, const float *y, const float *b,
                                  int N, int C)
{
    GRID_LOOP(i, (size_t)N * C) out[i] = res[i] + (y[i] + b[i % C]);
}

__global__ void moe_bias_grad(float *db, const float *dy, int K, int R, int C, int S)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= K * C)
        return;
    int k = i / C, c = i % C;
    float s = 0.0f;
    for (int r = 0; r < R; r++)
        s += dy[(size_t)k * S + (size_t)r * C + c];
    db[i] = s;
}

__global__ void moe_gelu_fwd(float *out, const float *in, int n)
{
    GRID_LOOP(i, n) out[i] = moe_k_gelu(in[i]);
}

__global__ void moe_gelu_bwd(float *dx, const float *dy, const float *x, int n)
{
    GRID_LOOP(i, n) dx[i] = dy[i] * moe_k_gelu_grad(x[i]);
}

__global__ void moe_relu_bwd(float *dx, const float *dy, const float *y, int K, int R, int C,
                             int S)
{
    size_t rc = (size_t)R * C;
    GRID_LOOP(i, (size_t)K * rc)
    {
        size_t j = (i / rc) * S + i % rc;
        dx[j] = y[j] > 0.0f ? dy[j] : 0.0f;
    }
}

/* index of element (b, t, c) of a (B,T,C) tensor in the (B,NH,T,hs) layout */
__device__ static size_t head_index(size_t bt, int c, int T, int NH, int hs)
{
    size_t b = bt / T, t = bt % T;
    int h = c / hs, e = c % hs;
    return ((b * NH + h) * T + t) * hs + e;
}

__global__ void moe_attn_split_qkv(float *q, float *k, float *v, const float *qkv, int B, int T,
                                   int NH, int hs)
{
    int C = NH * hs;
    GRID_LOOP(i, (size_t)B * T * C)
    {
        size_t bt = i / C;
        int c = (int)(i % C);
        size_t dst = head_index(bt, c, T, NH, hs), src = bt * 3 * C + c;
        q[dst] = qkv[src];
        k[dst] = qkv[src + C];
        v[dst] = qkv[src + 2 * C];
    }
}

__global__ void moe_attn_merge_qkv(float *dqkv, const float *dq, const float *dk, const float *dv,
                                   int B, int T, int NH, int hs)
{
    int C = NH * hs;
    GRID_LOOP(i, (size_t)B * T * C)
    {
        size_t bt = i / C;
        int c = (int)(i % C);
        size_t src = head_index(bt, c, T, NH, hs), dst = bt * 3 * C + c;
        dqkv[dst] = dq[src];
        dqkv[dst + C] = dk[src];
        dqkv[dst + 2 * C] = dv[src];
    }
}

__global__ void moe_attn_merge_heads(float *y, const float *yh, int B, int T, int NH, int hs)
{
    int C = NH * hs;
    GRID_LOOP(i, (size_t)B * T * C) y[i] = yh[head_index(i / C, (int)(i % C), T, NH, hs)];
}

__global__ void moe_attn_split_heads(float *yh, const float *y, int B, int T, int NH, int hs)
{
    int C = NH * hs;
    GRID_LOOP(i, (size_t)B * T * C) yh[head_index(i / C, (int)(i % C), T, NH, hs)] = y[i];
}

__global__ void moe_attn_softmax_fwd(float *att, const float *pre, int BH, int T, float scale)
{
    __shared__ float sh[TPB];
    size_t r = blockIdx.x;
    if (r >= (size_t)BH * T)
        return;
    int i = (int)(r % T);
    const float *p = pre + r * T;
    float *a = att + r * T;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        mx = fmaxf(mx, scale * p[j]);
    mx = block_max(mx, sh);
    float s = 0.0f;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        s += expf(scale * p[j] - mx);
    s = block_sum(s, sh);
    for (int j = threadIdx.x; j < T; j += blockDim.x)
        a[j] = j <= i ? expf(scale * p[j] - mx) / s : 0.0f;
}

__global__ void moe_attn_softmax_bwd(float *dpre, const float *datt, const float *att, int BH,
                                     int T, float scale)
{
    __shared__ float sh[TPB];
    size_t r = blockIdx.x;
    if (r >= (size_t)BH * T)
        return;
    int i = (int)(r % T);
    const float *a = att + r * T, *g = datt + r * T;
    float *o = dpre + r * T;
    float s = 0.0f;
    for (int j = threadIdx.x; j <= i; j += blockDim.x)
        s += a[j] * g[j];
    s = block_sum(s, sh);
    for (int j = threadIdx.x; j < T; j += blockDim.x)
        o[j] = j <= i ? scale * a[j] * (g[j] - s) : 0.0f;
}

__global__ void moe_xent(float *losses, float *logits, const int *tgt, int N, int V, float dscale,
                         int grad)
{
    __shared__ float sh[TPB];
    int n = blockIdx.x;
    if (n >= N)
        return;
    float *x = logits + (size_t)n * V;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x)
        mx = fmaxf(mx, x[j]);
    mx = block_max(mx, sh);
    float s = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x)
        s += expf(x[j] - mx);
    s = block_sum(s, sh);
    int t = tgt[n];
    float xt = x[t];
    __syncthreads();   /* every thread has read x[t] before any overwrites it */
    if (threadIdx.x == 0)
        losses[n] = mx + logf(s) - xt;
    if (!grad)
        return;
    for (int j = threadIdx.x; j < V; j += blockDim.x)
        x[j] = (expf(x[j] - mx) / s - (j == t ? 1.0f : 0.0f)) * dscale;
}

__global__ void moe_loss_mean(float *out, const float *in, int n)
{
    __shared__ double sh[TPB];
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        s += in[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k)
            sh[threadIdx.x] += sh[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0 && blockIdx.x == 0)
        out[0] = (float)(sh[0] / n);
}

__global__ void moe_gate_softmax(float *probs, int *top1, float *top1p, const float *logits,
                                 int N, int E)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
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

__global__ void moe_gate_assign(int *t2s, int *s2t, const int *top1, int N, int E, int cap)
{
    int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= E)
        return;
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

__global__ void moe_dispatch(float *disp, const float *x, const int *s2t, int N, int E, int cap,
                             int D, int C)
{
    (void)N;
    GRID_LOOP(i, (size_t)E * cap * C)
    {
        int slot = (int)(i / C), c = (int)(i % C), t = s2t[slot];
        disp[moe_k_slot_row(slot, E, cap, D) * C + c] = t >= 0 ? x[(size_t)t * C + c] : 0.0f;
    }
}

__global__ void moe_dispatch_bwd(float *dx, const float *dd, const int *t2s, int N, int E,
                                 int cap, int D, int C)
{
    GRID_LOOP(i, (size_t)N * C)
    {
        int s = t2s[i / C];
        dx[i] = s >= 0 ? dd[moe_k_slot_row(s, E, cap, D) * C + i % C] : 0.0f;
    }
}

__global__ void moe_recv_to_expert(float *xe, const float *recv, int d, int D, int W, int LE,
                                   int cap, int C)
{
    int64_t rows = (int64_t)W * LE * (cap / D);
    GRID_LOOP(i, rows * C)
    {
        int64_t r = (int64_t)(i / C), c = (int64_t)(i % C);
        xe[moe_k_expert_row(r, d, D, W, LE, cap) * C + c] = recv[(d * rows + r) * C + c];
    }
}

__global__ void moe_expert_to_send(float *send, const float *ye, int d, int D, int W, int LE,
                                   int cap, int C)
{
    int64_t rows = (int64_t)W * LE * (cap / D);
    GRID_LOOP(i, rows * C)
    {
        int64_t r = (int64_t)(i / C), c = (int64_t)(i % C);
        send[(d * rows + r) * C + c] = ye[moe_k_expert_row(r, d, D, W, LE, cap) * C + c];
    }
}

__global__ void moe_combine(float *out, const float *res, const float *ret, const int *t2s,
                            const float *p, int N, int E, int cap, int D, int C)
{
    GRID_LOOP(i, (size_t)N * C)
    {
        size_t n = i / C;
        int s = t2s[n];
        out[i] = s >= 0 ? res[i] + p[n] * ret[moe_k_slot_row(s, E, cap, D) * C + i % C] : res[i];
    }
}

__global__ void moe_combine_bwd_data(float *dret, const float *dout, const int *s2t,
                                     const float *p, int N, int E, int cap, int D, int C)
{
    (void)N;
    GRID_LOOP(i, (size_t)E * cap * C)
    {
        int slot = (int)(i / C), c = (int)(i % C), t = s2t[slot];
        dret[moe_k_slot_row(slot, E, cap, D) * C + c] =
            t >= 0 ? p[t] * dout[(size_t)t * C + c] : 0.0f;
    }
}

__global__ void moe_combine_bwd_prob(float *dp, const float *dout, const float *ret,
                                     const int *t2s, int N, int E, int cap, int D, int C)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
    int s = t2s[n];
    float acc = 0.0f;
    if (s >= 0) {
        const float *r = ret + moe_k_slot_row(s, E, cap, D) * C;
        for (int c = 0; c < C; c++)
            acc += r[c] * dout[(size_t)n * C + c];
    }
    dp[n] = acc;
}

__global__ void moe_gate_bwd(float *dl, const float *probs, const int *top1, const int *t2s,
                             const float *dprob, int N, int E)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
    const float *p = probs + (size_t)n * E;
    float *o = dl + (size_t)n * E;
    int k = top1[n];
    float g = t2s[n] >= 0 ? dprob[n] * p[k] : 0.0f;
    for (int e = 0; e < E; e++)
        o[e] = g * ((e == k ? 1.0f : 0.0f) - p[e]);
}

__global__ void moe_sgd(float *w, float *v, const float *g, long long n, float lr, float mu,
                        float gs)
{
    GRID_LOOP(i, n)
    {
        v[i] = mu * v[i] + gs * g[i];
        w[i] -= lr * v[i];
    }
}

} /* extern "C" */
