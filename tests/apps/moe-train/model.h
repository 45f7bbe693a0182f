/* moe-train: a GPT-2 mixture-of-experts trainer on the CUDA driver API, cuBLAS and NCCL.
 *
 * The model (docs/moe-train.md has the full description):
 *   token + position embedding -> nl pre-LayerNorm blocks -> final LayerNorm -> logits through
 *   the tied embedding -> cross-entropy.
 *   Block l: x_mid = x + attn(ln1(x)); x_out = x_mid + mlp(ln2(x_mid)); mlp is a dense
 *   Linear(m,4m)-GELU-Linear(4m,m) for odd l and a top-1 switch MoE for even l.
 *
 * Memory: every parameter bucket (the non-expert weights of one layer, the embedding + final
 * LayerNorm, the local experts of one MoE layer) is one allocation for weights, one for gradients
 * and one for momentum. Every activation the backward reads, and every gradient a
 * weight-gradient kernel reads, is its own allocation per layer, so dW work is ordered only by
 * true data dependencies; temporaries used within one layer's forward or backward are shared
 * by all layers. */
#ifndef MOE_MODEL_H
#define MOE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>
#include <cublas_v2.h>
#include <nccl.h>

typedef struct {
    int nl, m, nh, sl, b, vocab;
    int experts;          /* global expert count E (a multiple of the rank count) */
    float cf;             /* capacity factor */
    int chunks;           /* D: capacity chunks of the a2a + expert pipeline; 1 = no overlap */
    int ar_layer;         /* 1: all-reduce a layer's bucket right after its backward (DDP);
                           * 0: all buckets after the whole backward (Megatron's default) */
    float lr, momentum;
    uint64_t seed;
} moe_cfg_t;

/* Parameter kinds, for initialisation and the gradient check. */
#define MOE_KINDS(X) \
    X(WTE, "wte") X(WPE, "wpe") X(LNF_W, "lnf.w") X(LNF_B, "lnf.b") \
    X(LN1_W, "ln1.w") X(LN1_B, "ln1.b") X(QKV_W, "qkv.w") X(QKV_B, "qkv.b") \
    X(AP_W, "attproj.w") X(AP_B, "attproj.b") X(LN2_W, "ln2.w") X(LN2_B, "ln2.b") \
    X(FC_W, "fc.w") X(FC_B, "fc.b") X(PJ_W, "proj.w") X(PJ_B, "proj.b") \
    X(GATE_W, "gate.w") X(EFC_W, "expert.fc.w") X(EFC_B, "expert.fc.b") \
    X(EPJ_W, "expert.proj.w") X(EPJ_B, "expert.proj.b")

enum {
#define MOE_KIND_ENUM(id, name) MOE_P_##id,
    MOE_KINDS(MOE_KIND_ENUM)
#undef MOE_KIND_ENUM
    MOE_NKINDS
};
extern const char *const moe_kind_names[MOE_NKINDS];

/* One parameter tensor: a view into its bucket's weight and gradient allocations. Expert
 * tensors hold the LE local experts back to back (n = LE * per-expert size). */
typedef struct {
    CUdeviceptr w, g;
    size_t n;
    int kind, layer;      /* layer -1: embedding / final LayerNorm */
    int expert;           /* 1: local experts (not all-reduced) */
} moe_param_t;

/* A bucket: one allocation each for weights, gradients and momentum. */
typedef struct {
    CUdeviceptr w, g, v;
    size_t n;             /* elements */
    int expert;
} moe_bucket_t;

typedef struct {
    int moe;
    moe_param_t ln1w, ln1b, qkvw, qkvb, apw, apb, ln2w, ln2b;
    moe_param_t fcw, fcb, pjw, pjb;                 /* dense MLP */
    moe_param_t gw, efcw, efcb, epjw, epjb;         /* MoE: gate (replicated), local experts */
    int bucket, ebucket;                            /* indices into model buckets, -1 none */

    /* forward activations */
    CUdeviceptr mid, out;
    CUdeviceptr ln1, ln1m, ln1r, qkv, q, k, v, pre, att, yh, aty, apo, ln2, ln2m, ln2r;
    CUdeviceptr fch, fcg, pjo;
    CUdeviceptr glog, gprob, top1, top1p, t2s, s2t, disp, recv, xe, h, ye, send, ret;
    /* backward */
    CUdeviceptr dmid, din, dln2, dfcg, dfch, daty, dyh, datt, dpre, dq, dk, dv, dqkv, dln1;
    CUdeviceptr dret, drecv, dye, dhh, dh, dxe, dsend, ddisp, dprob, dglog;
} moe_layer_t;

/* Temporaries shared by all layers (see layer_alloc). */
typedef struct {
    CUdeviceptr qkv, yh, nc, daty, dyh, datt, dq, dk, dv, dnf;
    CUdeviceptr disp, recv, ye, send, dret, drecv, dhh, dxe, dsend, ddisp, dprob;
} moe_scratch_t;

typedef struct moe_model moe_model_t;

struct moe_model {
    moe_cfg_t cfg;
    int rank, world;
    int N, C, E, LE, cap, capc, S, hs;   /* tokens per rank, width, experts, slots ... */

    CUstream s_main, s_comm;
    CUmodule mod;
    CUfunction *fn;
    cublasHandle_t blas;
    CUdeviceptr blas_ws;
    ncclComm_t comm;

    moe_bucket_t *buckets;
    int nbuckets;
    int head_bucket;
    moe_param_t *params;                 /* every tensor, in definition order */
    int nparams;
    moe_param_t wte, wpe, lnfw, lnfb;
    moe_layer_t *layers;
    moe_scratch_t sc;

    CUdeviceptr tok, tgt, x0, lnf, lnfm, lnfr, logits, losses, loss, dlnf, dresl, dx0;
    int *h_tok, *h_tgt;

    CUevent *ev;                         /* fork/join events, reused every step */
    int nev, evcap, evnext;

    CUdeviceptr *allocs;                 /* everything cuMemAlloc'ed, for destroy */
    int nallocs, alloccap;
};

/* Slots each rank reserves for each expert: ceil(cf * tokens per rank / experts), at least 1. */
int moe_capacity(const moe_cfg_t *cfg, int world);

/* Sets up streams, cuBLAS, the kernel module, all allocations and initialises the weights on
 * the device from cfg->seed. The context must be current; comm is this rank's communicator. */
void moe_model_init(moe_model_t *m, const moe_cfg_t *cfg, int rank, int world, ncclComm_t comm,
                    const void *image);
void moe_model_destroy(moe_model_t *m);

/* Writes the tokens of `step` for this rank into the fixed input buffers (async on s_main). */
void moe_model_set_tokens(moe_model_t *m, int step);

/* Launches (or, under capture, records) work on s_main and s_comm; every function ends with
 * all its work joined back into s_main. */
void moe_model_forward(moe_model_t *m, int with_grad);
void moe_model_backward(moe_model_t *m);   /* ends after gradient all-reduces */
void moe_model_update(moe_model_t *m);     /* SGD with momentum */
void moe_model_step(moe_model_t *m);       /* forward + backward + update */

/* This rank's mean loss of the last forward (synchronises s_main). */
float moe_model_loss(moe_model_t *m);

/* Synchronous copies ordered after all work issued on s_main (s_comm is always joined). */
void moe_model_download(moe_model_t *m, void *host, CUdeviceptr src, size_t bytes);
void moe_model_upload(moe_model_t *m, CUdeviceptr dst, const void *host, size_t bytes);

/* Deterministic synthetic data: tokens (T + 1 per sequence) of global sequence g at step s. */
void moe_data_sequence(uint64_t seed, int step, int g, int T, int V, int *seq);

uint64_t moe_hash64(uint64_t x);

#define MOE_CU(call) moe_cu_check((call), #call, __FILE__, __LINE__)
#define MOE_BLAS(call) moe_blas_check((call), #call, __FILE__, __LINE__)
#define MOE_NCCL(call) moe_nccl_check((call), #call, __FILE__, __LINE__)
void moe_cu_check(CUresult r, const char *what, const char *file, int line);
void moe_blas_check(cublasStatus_t r, const char *what, const char *file, int line);
void moe_nccl_check(ncclResult_t r, const char *what, const char *file, int line);
void moe_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
