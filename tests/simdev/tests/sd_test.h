/* Test-only kernel provider of the simulated device's tests (sd_test_kernels.c). */
#ifndef SD_TEST_H
#define SD_TEST_H

#include "simdev.h"

/* Registers the kernels below with the simulated driver:
 *   simdev_test_fill (float *x, float v, int n)            x[i] = v;           writes x
 *   simdev_test_axpy (float *y, const float *x, float a, int n)  y += a * x;   reads x, writes y
 *   simdev_test_spin (float *x, double us)       isolated duration us at the device's f32 peak;
 *                                                writes x[0]
 *   simdev_test_comm (float *x, double us)       communication kernel: starts when ready and
 *                                                lasts us; writes x[0]
 *   simdev_test_bad  (int n)                     describe rejects every launch */
void sd_test_register(void);

/* Number of times simdev_test_comm's comm_start ran. */
int sd_test_comm_calls(void);

#endif
