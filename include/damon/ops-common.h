/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the operations sets (src/ops/): DAMOS priority
 * scores.  Front-ends do not need this header.
 */
#ifndef DAMON_OPS_COMMON_H
#define DAMON_OPS_COMMON_H

#include "damon/damon.h"

int damon_hot_score(struct damon_ctx *ctx, struct damon_region *r,
		struct damos *s);
int damon_cold_score(struct damon_ctx *ctx, struct damon_region *r,
		struct damos *s);

#endif /* DAMON_OPS_COMMON_H */
