/* moe-train --gradcheck: finite-difference check of the backward pass (see gradcheck.c). */
#ifndef MOE_GRADCHECK_H
#define MOE_GRADCHECK_H

#include "model.h"

/* Runs forward + backward on the step-0 batch, then probes every parameter tensor. Collective:
 * every rank calls it. Returns 0 when every comparable probe agrees within
 * rtol * |analytic| + (fp32 rounding allowance), 1 otherwise; rank 0 prints the results. */
int moe_gradcheck(moe_model_t *m, double eps, double rtol, int verbose);

#endif
