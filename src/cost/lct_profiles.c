/* Built-in device and fabric profiles.
 *
 * The numbers are vendor peak figures (data sheets) plus a few achieved-fraction factors; the
 * reasoning behind each value, with its public source, is in docs/cost-model.md. Names are matched
 * case-insensitively so "A100" and "a100" both work on the command line and in graph files. */
#include <stddef.h>
#include <strings.h>

#include "cost/lct_cost.h"

#define GIB (1024ull * 1024ull * 1024ull)

static const lct_device_profile_t device_profiles[] = {
    {
        .name = "v100", /* Tesla V100 SXM2 32GB */
        .sms = 80,
        .tflops_f32 = 15.7,
        .tflops_f16 = 125.0,
        .tflops_tf32 = 0.0,
        .mem_gbs = 900.0,
        .launch_us = 3.0,
        .gemm_efficiency = 0.75,
        .mem_efficiency = 0.80,
        .comm_sm_share = 0.20,
        .interference = 0.15,
        .mem_bytes = 32 * GIB,
    },
    {
        .name = "a100", /* A100 80GB SXM */
        .sms = 108,
        .tflops_f32 = 19.5,
        .tflops_f16 = 312.0,
        .tflops_tf32 = 156.0,
        .mem_gbs = 2039.0,
        .launch_us = 2.5,
        .gemm_efficiency = 0.75,
        .mem_efficiency = 0.85,
        .comm_sm_share = 0.15,
        .interference = 0.12,
        .mem_bytes = 80 * GIB,
    },
    {
        .name = "h100", /* H100 SXM5 80GB */
        .sms = 132,
        .tflops_f32 = 67.0,
        .tflops_f16 = 989.0,
        .tflops_tf32 = 495.0,
        .mem_gbs = 3350.0,
        .launch_us = 2.0,
        .gemm_efficiency = 0.70,
        .mem_efficiency = 0.85,
        .comm_sm_share = 0.18,
        .interference = 0.15,
        .mem_bytes = 80 * GIB,
    },
};

static const lct_fabric_profile_t fabric_profiles[] = {
    {
        /* AWS p3dn.24xlarge: 8 V100 in a hybrid cube-mesh (NVLink2, 6 links x 25 GB/s per
         * direction = 150 GB/s nominal; 3 of 7 peers are two hops away, so an all-to-all sees
         * less), 1 x 100 Gbps EFA per node. */
        .name = "p3dn",
        .gpus_per_node = 8,
        .nvlink_gbs = 120.0,
        .net_gbs_per_node = 12.5,
        .lat_intra_us = 1.0,
        .lat_inter_us = 12.0,
    },
    {
        /* AWS p4de.24xlarge: 8 A100 80GB on NVSwitch (NVLink3, 300 GB/s per direction nominal,
         * ~240 GB/s achieved bus bandwidth), 4 x 100 Gbps EFA per node. */
        .name = "p4de",
        .gpus_per_node = 8,
        .nvlink_gbs = 240.0,
        .net_gbs_per_node = 50.0,
        .lat_intra_us = 0.8,
        .lat_inter_us = 10.0,
    },
    {
        /* NVIDIA DGX H100: 8 H100 on NVSwitch (NVLink4, 450 GB/s per direction nominal,
         * ~360 GB/s achieved), 8 x 400 Gbps InfiniBand NDR per node. */
        .name = "dgx-h100",
        .gpus_per_node = 8,
        .nvlink_gbs = 360.0,
        .net_gbs_per_node = 400.0,
        .lat_intra_us = 0.6,
        .lat_inter_us = 5.0,
    },
};

#define NDEVICES (sizeof(device_profiles) / sizeof(device_profiles[0]))
#define NFABRICS (sizeof(fabric_profiles) / sizeof(fabric_profiles[0]))

const lct_device_profile_t *lct_device_profile_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NDEVICES; i++)
        if (strcasecmp(name, device_profiles[i].name) == 0)
            return &device_profiles[i];
    return NULL;
}

const lct_fabric_profile_t *lct_fabric_profile_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NFABRICS; i++)
        if (strcasecmp(name, fabric_profiles[i].name) == 0)
            return &fabric_profiles[i];
    return NULL;
}

/* Written out rather than built at run time: no static buffer to fill, nothing to get wrong under
 * concurrent first use. A test checks that every listed name resolves and every profile is
 * listed. */
const char *lct_device_profile_names(void)
{
    return "v100, a100, h100";
}

const char *lct_fabric_profile_names(void)
{
    return "p3dn, p4de, dgx-h100";
}
