/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon scheme actions on the host memory behind guest RAM.
 */
#ifndef QDAMON_ACTIONS_H
#define QDAMON_ACTIONS_H

#include "damon/damon.h"

/**
 * qdamon_act: apply @s's action to guest-physical [@start, @end).
 * @ctx: the context, whose read-only calls (queries) run between pieces.
 * @s: the scheme (its action, target_nid and skip counters).
 * @start: first guest-physical address, page aligned.
 * @end: first address past the range.
 *
 * Works piece by piece, each piece inside one RAM block and under its
 * own RCU read section, so that a DIMM unplugged meanwhile is skipped
 * (as not-ram) rather than touched after it is freed.  Only advice
 * that keeps the contents is ever given: no MADV_DONTNEED, MADV_FREE
 * or MADV_REMOVE.  What is skipped is counted with qdamon_scheme_skip().
 *
 * Returns: bytes the action was applied to: for pageout, the bytes that
 * were resident before and are not after (what was really reclaimed);
 * for migrate-*, the pages now on the target node; for the other
 * actions, the bytes the host kernel accepted the advice for.
 * Context: the monitor's driver; BQL not needed.
 */
uint64_t qdamon_act(struct damon_ctx *ctx, struct damos *s, uint64_t start,
                    uint64_t end);

/*
 * qdamon_actions_init: start following outgoing migrations for
 * qdamon_act().  Call before the first monitor begins; only the first
 * call does anything.  Context: BQL held.
 */
void qdamon_actions_init(void);

#endif /* QDAMON_ACTIONS_H */
