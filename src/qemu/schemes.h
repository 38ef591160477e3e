/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon schemes: QMP's DamonScheme to the engine's struct damos and
 * back, the host metrics that goals and watermarks read, and what a
 * scheme skipped.
 *
 * Each engine scheme made here carries a QdamonSchemeState in its
 * damos.priv: the scheme as QMP gave it (defaults filled in), the
 * metrics its goals and watermarks read, and its skip counters.  The
 * state belongs to the scheme: whoever owns the engine context (its
 * driver while it runs, see monitor-int.h) owns both, and frees the
 * state with qdamon_scheme_destroy() instead of damon_destroy_scheme().
 */
#ifndef QDAMON_SCHEMES_H
#define QDAMON_SCHEMES_H

#include "qapi/qapi-types-damon.h"
#include "damon/damon.h"

#define QDAMON_SCHEMES_MAX      16

typedef struct QdamonMetric QdamonMetric;

/* What a scheme's action skipped, by reason (the driver's). */
typedef struct QdamonSkips {
    uint64_t bytes[DAMON_SCHEME_SKIP_REASON__MAX];
    int last_errno;
} QdamonSkips;

typedef struct QdamonSchemeState {
    DamonScheme *cfg;           /* as given, defaults filled in */
    GPtrArray *metrics;         /* QdamonMetric, one per goal/watermark */
    QdamonMetric *wmark;        /* the watermark metric, or NULL */
    QdamonSkips skips;
} QdamonSchemeState;

/**
 * qdamon_schemes_build: engine schemes from QMP's list.
 * @list: the schemes, as damon-start or damon-tune gives them.
 * @attrs: the monitor's attributes (bounds of the access pattern and
 *     of the apply interval).
 * @monitored_bytes: what the monitor covers (a pattern whose smallest
 *     size is larger can never match).
 * @errp: the first invalid member, named as 'schemes[I].MEMBER'.
 *
 * Returns: a GPtrArray of struct damos, each with its state, to add
 * with damon_add_scheme() or commit with qdamon_schemes_commit(); free
 * what is not used with qdamon_schemes_free().  NULL on error.
 * Context: BQL held; touches no running context.
 */
GPtrArray *qdamon_schemes_build(DamonSchemeList *list,
                                const struct damon_attrs *attrs,
                                uint64_t monitored_bytes, Error **errp);

/* Free schemes that no context holds, with their states. */
void qdamon_schemes_free(GPtrArray *schemes);

/* Unlink @s from its context, if any, and free it with its state. */
void qdamon_scheme_destroy(struct damos *s);

/**
 * qdamon_schemes_commit: replace @ctx's schemes with @next, as Linux's
 * commit: the scheme at an index both have keeps its statistics, quota
 * state and skip counters and takes the new parameters; the rest of
 * the old ones go, the rest of the new ones are added.  @next is
 * emptied.  Context: @ctx's owner (the driver, through damon_call).
 */
void qdamon_schemes_commit(struct damon_ctx *ctx, GPtrArray *next);

/**
 * qdamon_schemes_info: what query-damon-schemes returns for @ctx's
 * schemes.  @tried adds each scheme's tried regions.
 * Context: @ctx's owner.
 */
DamonSchemeInfoList *qdamon_schemes_info(struct damon_ctx *ctx, bool tried);

/* Count @bytes of @s skipped for @reason; @err is the errno of failed. */
void qdamon_scheme_skip(struct damos *s, DamonSchemeSkipReason reason,
                        uint64_t bytes, int err);

/*
 * Whether @nid is a NUMA node of the host (for target-nid), with the
 * reason in @errp when not.
 */
bool qdamon_host_has_node(uint32_t nid, Error **errp);

#endif /* QDAMON_SCHEMES_H */
