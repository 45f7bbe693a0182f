/* Cost model: device and fabric profiles, per-node cost profiles, collective cost curves, and
 * the interference of communication with concurrent compute. Everything in microseconds. */
#ifndef LCT_COST_H
#define LCT_COST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/lct_ir.h"

typedef struct {
    const char *name;         /* "v100", "a100", "h100" */
    int sms;
    double tflops_f32;        /* peak dense FP32 (non-tensor-core) TFLOP/s */
    double tflops_f16;        /* peak dense FP16/BF16 tensor-core TFLOP/s */
    double tflops_tf32;       /* peak TF32 tensor-core TFLOP/s (0 when absent) */
    double mem_gbs;           /* HBM bandwidth GB/s */
    double launch_us;         /* per-kernel launch/dispatch overhead inside a graph */
    double gemm_efficiency;   /* achieved fraction of peak for large GEMMs */
    double mem_efficiency;    /* achieved fraction of bandwidth for streaming kernels */
    double comm_sm_share;     /* fraction of SMs a running NCCL kernel holds */
    double interference;      /* fraction of compute throughput lost while communication runs */
    uint64_t mem_bytes;       /* device memory */
} lct_device_profile_t;

typedef struct {
    const char *name;         /* "p3dn", "p4de", "dgx-h100" */
    int gpus_per_node;
    double nvlink_gbs;        /* per-GPU NVLink bandwidth inside a node, GB/s (one direction) */
    double net_gbs_per_node;  /* network bandwidth per node, GB/s (one direction) */
    double lat_intra_us, lat_inter_us;
} lct_fabric_profile_t;

/* Built-in profiles by case-insensitive name; NULL when unknown. The profiles are static: never
 * freed or changed by the caller. */
const lct_device_profile_t *lct_device_profile_find(const char *name);
const lct_fabric_profile_t *lct_fabric_profile_find(const char *name);
/* "v100, a100, h100" style lists for error messages. */
const char *lct_device_profile_names(void);
const char *lct_fabric_profile_names(void);

/* Piecewise-linear collective cost curves: per collective op, points (bytes, us) sorted by bytes.
 * Evaluation clamps: below the first point the first point's time scaled by nothing (latency
 * floor), above the last point linear extrapolation of the last segment's bandwidth; never reads
 * out of bounds. */
typedef struct {
    uint32_t npoints;
    double *bytes, *us;
} lct_curve_t;

typedef struct {
    lct_curve_t curve[LCT_COLL_COUNT];
    int32_t world_size;
} lct_curve_set_t;

/* Curves modelled from a fabric for a world size (what a sweep of nccl-tests would measure on it):
 * all-to-all, all-reduce (ring), all-gather, reduce-scatter, broadcast, send/recv. On success *cs
 * is overwritten with point arrays the caller frees with lct_curves_free; on failure it is left
 * untouched. */
lct_status_t lct_curves_model(const lct_fabric_profile_t *fab, int world_size, lct_curve_set_t *cs);
/* Read / write a curve file (JSON, format in docs/file-formats.md). Errors name the file and the
 * place. A read set is owned by the caller like a modelled one (lct_curves_free); on failure *cs
 * is left untouched. */
lct_status_t lct_curves_read(const char *path, lct_curve_set_t *cs);
lct_status_t lct_curves_write(const char *path, const lct_curve_set_t *cs);
double lct_curve_eval(const lct_curve_set_t *cs, lct_coll_op_t op, double bytes);
/* Free the point arrays of cs (not cs itself) and leave it empty; NULL is a no-op. */
void lct_curves_free(lct_curve_set_t *cs);

/* Node cost profile: measured durations keyed by node signature (kind, name, call record,
 * footprint sizes — not addresses), so the same operation in another step or rank matches. */
typedef struct lct_profile lct_profile_t;
uint64_t lct_node_signature(const lct_node_t *n);
/* An empty profile, owned by the caller (lct_profile_destroy; NULL is a no-op there). */
lct_status_t lct_profile_create(lct_profile_t **p_p);
void lct_profile_destroy(lct_profile_t *p);
/* Add one sample; the profile keeps the mean. */
lct_status_t lct_profile_add(lct_profile_t *p, uint64_t sig, double us);
bool lct_profile_get(const lct_profile_t *p, uint64_t sig, double *us_p);
/* Read a profile file (docs/file-formats.md): *p_p is a new profile owned by the caller, written
 * only on success. Write one, entries sorted by signature. */
lct_status_t lct_profile_read(const char *path, lct_profile_t **p_p);
lct_status_t lct_profile_write(const char *path, const lct_profile_t *p);

/* Fill node costs: collectives from curves (source CURVE), other nodes from the profile when it
 * has them (source PROFILE); nodes with neither keep their cost. profile and curves may be NULL. */
lct_status_t lct_cost_fill(lct_graph_t *g, const lct_profile_t *profile, const lct_curve_set_t *cs);

/* True for nodes that run on the communication engine (collectives). */
bool lct_node_is_comm(const lct_node_t *n);

#endif
