/* Step-graph generator for the paper's GPT-2 MoE models: configuration, presets, validation.
 * The graph builder itself is in lct_gen_graph.c. */
#include "lct_gen.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/lct_log.h"
#include "cost/lct_cost.h"

typedef struct {
    const char *name;
    int nl, m, nh;
    int b_v100, b_a100; /* the paper's batch per GPU; H100 uses the A100 value */
} model_preset_t;

static const model_preset_t model_presets[] = {
    {"gpt2-s", 12, 768, 16, 16, 48},
    {"gpt2-l", 24, 1024, 16, 8, 24},
};

typedef struct {
    const char *device, *fabric;
} device_preset_t;

/* The cluster each device was measured on in the paper (H100: a DGX H100 node). */
static const device_preset_t device_presets[] = {
    {"v100", "p3dn"},
    {"a100", "p4de"},
    {"h100", "dgx-h100"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void copy_lower(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

lct_status_t lct_gen_cfg_preset(const char *model, const char *device, lct_gen_cfg_t *cfg_p)
{
    const model_preset_t *mp = NULL;
    const device_preset_t *dp = NULL;
    for (size_t i = 0; model && i < NELEM(model_presets); i++)
        if (strcasecmp(model, model_presets[i].name) == 0)
            mp = &model_presets[i];
    for (size_t i = 0; device && i < NELEM(device_presets); i++)
        if (strcasecmp(device, device_presets[i].device) == 0)
            dp = &device_presets[i];
    if (!mp) {
        LCT_WARN("unknown model '%s'; accepted: gpt2-s, gpt2-l", model ? model : "(null)");
        return LCT_ERR_INVALID;
    }
    if (!dp) {
        LCT_WARN("unknown device '%s'; accepted: v100, a100, h100", device ? device : "(null)");
        return LCT_ERR_INVALID;
    }
    lct_gen_cfg_t c;
    memset(&c, 0, sizeof(c));
    c.nl = mp->nl;
    c.m = mp->m;
    c.nh = mp->nh;
    c.sl = 512;
    c.b = strcmp(dp->device, "v100") == 0 ? mp->b_v100 : mp->b_a100;
    c.vocab = 50257;
    c.moe_every = 2;
    c.experts_per_gpu = 2;
    c.capacity_factor = 1.0;
    snprintf(c.gate, sizeof(c.gate), "switch");
    c.dtype = LCT_DTYPE_F32;
    c.world_size = 8;
    const lct_fabric_profile_t *fab = lct_fabric_profile_find(dp->fabric);
    c.gpus_per_node = fab && fab->gpus_per_node > 0 ? fab->gpus_per_node : 8;
    c.rank = 0;
    c.bucket_bytes = 25ull << 20;
    snprintf(c.device, sizeof(c.device), "%s", dp->device);
    snprintf(c.fabric, sizeof(c.fabric), "%s", dp->fabric);
    *cfg_p = c;
    return LCT_OK;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (n)                                                                                     \
            snprintf(err, n, __VA_ARGS__);                                                         \
        return LCT_ERR_INVALID;                                                                    \
    } while (0)

#define RANGE(field, lo, hi)                                                                       \
    do {                                                                                           \
        if (cfg->field < (lo) || cfg->field > (hi))                                                \
            BAD("%s: %d is out of range; accepted: an integer %d..%d", #field, cfg->field,        \
                (int)(lo), (int)(hi));                                                             \
    } while (0)

lct_status_t lct_gen_cfg_validate(const lct_gen_cfg_t *cfg, char *err, size_t n)
{
    if (n)
        err[0] = '\0';
    if (!cfg)
        BAD("no configuration given");
    RANGE(nl, 1, 1024);
    RANGE(m, 1, 65536);
    RANGE(nh, 1, 65536);
    if (cfg->m % cfg->nh != 0)
        BAD("nh: %d does not divide m (%d); accepted: a divisor of m", cfg->nh, cfg->m);
    RANGE(sl, 1, 65536);
    RANGE(b, 1, 1 << 20);
    if ((int64_t)cfg->b * cfg->sl > (1 << 24))
        BAD("b: %d samples of sl %d tokens give %" PRId64 " tokens; accepted: b * sl <= %d",
            cfg->b, cfg->sl, (int64_t)cfg->b * cfg->sl, 1 << 24);
    RANGE(vocab, 2, 1 << 22);
    RANGE(moe_every, 0, 1024);
    RANGE(experts_per_gpu, 1, 64);
    if (!(cfg->capacity_factor > 0.0 && cfg->capacity_factor <= 64.0))
        BAD("capacity_factor: %g is out of range; accepted: a number in (0, 64]",
            cfg->capacity_factor);
    if (strcasecmp(cfg->gate, "switch") != 0)
        BAD("gate: '%s' is not modelled; accepted: switch", cfg->gate);
    if (cfg->dtype != LCT_DTYPE_F32)
        BAD("dtype: '%s' is not modelled; accepted: f32", lct_dtype_name(cfg->dtype));
    RANGE(world_size, 1, 65536);
    RANGE(rank, 0, cfg->world_size - 1);
    if (cfg->bucket_bytes < 1 || cfg->bucket_bytes > (1ull << 40))
        BAD("bucket_bytes: %" PRIu64 " is out of range; accepted: 1..%llu", cfg->bucket_bytes,
            1ull << 40);
    const lct_device_profile_t *dev = lct_device_profile_find(cfg->device);
    if (!dev)
        BAD("device: '%s' is unknown; accepted: %s", cfg->device, lct_device_profile_names());
    const lct_fabric_profile_t *fab = lct_fabric_profile_find(cfg->fabric);
    if (!fab)
        BAD("fabric: '%s' is unknown; accepted: %s", cfg->fabric, lct_fabric_profile_names());
    RANGE(gpus_per_node, 1, fab->gpus_per_node > 0 ? fab->gpus_per_node : 1);
    if (cfg->world_size > cfg->gpus_per_node && cfg->world_size % cfg->gpus_per_node != 0)
        BAD("world_size: %d is not a multiple of gpus_per_node (%d); accepted: at most one node, "
            "or whole nodes",
            cfg->world_size, cfg->gpus_per_node);
    lct_gen_dims_t d = lct_gen_dims(cfg);
    if (d.expert_tokens > INT32_MAX)
        BAD("capacity_factor: %g gives %" PRId64 " tokens per expert, more than a cuBLAS "
            "dimension holds; accepted: world_size * capacity <= %d",
            cfg->capacity_factor, d.expert_tokens, INT32_MAX);
    if ((int64_t)cfg->experts_per_gpu * cfg->m > INT32_MAX / 4)
        BAD("experts_per_gpu: %d with m %d exceeds a cuBLAS leading dimension", cfg->experts_per_gpu,
            cfg->m);
    return LCT_OK;
}

lct_gen_dims_t lct_gen_dims(const lct_gen_cfg_t *cfg)
{
    lct_gen_dims_t d;
    memset(&d, 0, sizeof(d));
    d.tokens = (int64_t)cfg->b * cfg->sl;
    d.experts = (int64_t)cfg->experts_per_gpu * cfg->world_size;
    /* Switch routing with capacity: each rank's T tokens go to E experts; an expert accepts at
     * most ceil(cf * T / E) tokens from each rank (cf * T * world / E over all ranks), the rest
     * are dropped. The dispatch buffer therefore holds E * C token rows whatever the routing, and
     * one rank sends C rows to each of the E experts: E * C * m * 4 bytes, = cf * T * m * 4 when
     * E divides cf * T (all the paper's configurations). */
    double c = ceil(cfg->capacity_factor * (double)d.tokens / (double)d.experts);
    d.capacity = c < 1.0 ? 1 : (int64_t)c;
    d.expert_tokens = (int64_t)cfg->world_size * d.capacity;
    d.a2a_bytes = (uint64_t)d.experts * (uint64_t)d.capacity * (uint64_t)cfg->m * 4u;
    for (int l = 0; l < cfg->nl; l++)
        if (cfg->moe_every > 0 && l % cfg->moe_every == 0)
            d.nmoe++;
    return d;
}

void lct_gen_cfg_name(const lct_gen_cfg_t *cfg, char *buf, size_t n)
{
    char model[64], dev[16], fab[16];
    const model_preset_t *mp = NULL;
    for (size_t i = 0; i < NELEM(model_presets); i++)
        if (cfg->nl == model_presets[i].nl && cfg->m == model_presets[i].m &&
            cfg->nh == model_presets[i].nh)
            mp = &model_presets[i];
    if (mp)
        snprintf(model, sizeof(model), "%s", mp->name);
    else
        snprintf(model, sizeof(model), "gpt2-nl%d-m%d-nh%d", cfg->nl, cfg->m, cfg->nh);
    copy_lower(dev, sizeof(dev), cfg->device);
    copy_lower(fab, sizeof(fab), cfg->fabric);
    if (n)
        snprintf(buf, n, "%s-w%d-%s-%s", model, cfg->world_size, fab, dev);
}

/* One GEMM operand: rows x cols elements in columns ld apart, batch copies stride apart. */
static lct_range_t gemm_operand(uint64_t addr, int64_t rows, int64_t cols, int64_t ld,
                                int64_t stride, int64_t batch, size_t elem, uint8_t access)
{
    if (stride == 0)
        batch = 1; /* a broadcast operand is read once */
    uint64_t span = (uint64_t)(batch - 1) * (uint64_t)stride + (uint64_t)(cols - 1) * (uint64_t)ld +
                    (uint64_t)rows;
    uint64_t touched = (uint64_t)batch * (uint64_t)rows * (uint64_t)cols;
    /* Exact only when the operand's elements fill the span without overlap: batches one after
     * another, or batches interleaved side by side inside each column (the expert layouts). */
    bool disjoint = ld >= rows && (batch == 1 || stride >= (cols - 1) * ld + rows ||
                                   (stride >= rows && stride * batch <= ld));
    lct_range_t r = {addr, span * elem, access, (uint8_t)(disjoint && touched == span)};
    return r;
}

uint32_t lct_gen_gemm_ranges(const lct_gemm_call_t *c, lct_range_t out[3])
{
    int64_t batch = c->batch > 0 ? c->batch : 1;
    out[0] = gemm_operand(c->a, c->trans_a ? c->k : c->m, c->trans_a ? c->m : c->k, c->lda,
                          c->stride_a, batch, lct_dtype_size(c->type_a), LCT_ACC_READ);
    out[1] = gemm_operand(c->b, c->trans_b ? c->n : c->k, c->trans_b ? c->k : c->n, c->ldb,
                          c->stride_b, batch, lct_dtype_size(c->type_b), LCT_ACC_READ);
    out[2] = gemm_operand(c->c, c->m, c->n, c->ldc, c->stride_c, batch, lct_dtype_size(c->type_c),
                          c->beta != 0.0 ? LCT_ACC_RW : LCT_ACC_WRITE);
    return 3;
}
