/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the operations sets (the guest-physical one in
 * src/qemu, the simulator in tests/sim): DAMOS priority scores.  Not
 * installed; front-ends need only damon/damon.h.
 */
#ifndef DAMON_OPS_COMMON_H
#define DAMON_OPS_COMMON_H

#include "damon/damon.h"

int damon_hot_score(struct damon_ctx *ctx, struct damon_region *r,
		struct damos *s);
int damon_cold_score(struct damon_ctx *ctx, struct damon_region *r,
		struct damos *s);

#endif /* DAMON_OPS_COMMON_H */
