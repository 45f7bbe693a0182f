/* A tiny kernel provider for the simulated device's tests: real CPU implementations, costs
 * chosen so that virtual-time expectations are easy to state. */
#include <string.h>

#include "sd_test.h"

static int fill_describe(const simdev_launch_t *l, simdev_launch_desc_t *d)
{
    float *x = *(float **)l->params[0];
    int n = *(int *)l->params[2];
    if (n < 0)
        return 1;
    d->bytes = 4.0 * n;
    d->nranges = 1;
    d->ranges[0] = (simdev_range_t){(uint64_t)(uintptr_t)x, 4ull * (uint64_t)n, 1};
    return 0;
}

static void fill_run(const simdev_launch_t *l)
{
    float *x = *(float **)l->params[0];
    float v = *(float *)l->params[1];
    int n = *(int *)l->params[2];
    for (int i = 0; i < n; i++)
        x[i] = v;
}

static int axpy_describe(const simdev_launch_t *l, simdev_launch_desc_t *d)
{
    float *y = *(float **)l->params[0];
    const float *x = *(const float **)l->params[1];
    int n = *(int *)l->params[3];
    if (n < 0)
        return 1;
    d->flops = 2.0 * n;
    d->bytes = 12.0 * n;
    d->nranges = 2;
    d->ranges[0] = (simdev_range_t){(uint64_t)(uintptr_t)x, 4ull * (uint64_t)n, 0};
    d->ranges[1] = (simdev_range_t){(uint64_t)(uintptr_t)y, 4ull * (uint64_t)n, 1};
    return 0;
}

static void axpy_run(const simdev_launch_t *l)
{
    float *y = *(float **)l->params[0];
    const float *x = *(const float **)l->params[1];
    float a = *(float *)l->params[2];
    int n = *(int *)l->params[3];
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static int spin_describe(const simdev_launch_t *l, simdev_launch_desc_t *d)
{
    float *x = *(float **)l->params[0];
    double us = *(double *)l->params[1];
    d->flops = us * 1e-6 * l->dev->flops_f32;
    d->nranges = 1;
    d->ranges[0] = (simdev_range_t){(uint64_t)(uintptr_t)x, 4, 1};
    return 0;
}

static void spin_run(const simdev_launch_t *l)
{
    float *x = *(float **)l->params[0];
    x[0] += 1.0f;
}

static int comm_calls;

static int comm_describe(const simdev_launch_t *l, simdev_launch_desc_t *d)
{
    float *x = *(float **)l->params[0];
    d->is_comm = 1;
    d->nranges = 1;
    d->ranges[0] = (simdev_range_t){(uint64_t)(uintptr_t)x, 4, 1};
    return 0;
}

static int comm_start(const simdev_launch_t *l, double ready_us, double *start_us, double *dur_us)
{
    comm_calls++;
    *start_us = ready_us;
    *dur_us = *(double *)l->params[1];
    return 0;
}

static int bad_describe(const simdev_launch_t *l, simdev_launch_desc_t *d)
{
    (void)l;
    (void)d;
    return 1;
}

static const simdev_kernel_t sd_test_kernels[] = {
    {.name = "simdev_test_fill", .nparams = 3, .param_size = {8, 4, 4}, .describe = fill_describe, .run = fill_run},
    {.name = "simdev_test_axpy", .nparams = 4, .param_size = {8, 8, 4, 4}, .describe = axpy_describe,
     .run = axpy_run},
    {.name = "simdev_test_spin", .nparams = 2, .param_size = {8, 8}, .describe = spin_describe, .run = spin_run},
    {.name = "simdev_test_comm", .nparams = 2, .param_size = {8, 8}, .describe = comm_describe,
     .comm_start = comm_start},
    {.name = "simdev_test_bad", .nparams = 1, .param_size = {4}, .describe = bad_describe},
};

void sd_test_register(void)
{
    simdev_register_kernels(sd_test_kernels, sizeof(sd_test_kernels) / sizeof(sd_test_kernels[0]));
}

int sd_test_comm_calls(void)
{
    return comm_calls;
}
