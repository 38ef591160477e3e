/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * schemes.h - DAMON-based operation schemes (DAMOS) on qdamo's command
 * line: the options of start and tune that make the "schemes" argument
 * of damon-start and damon-tune.
 *
 * As damo's --damos_* options, a scheme is a run of options: one
 * --scheme-action ACTION starts it, and the --scheme-* options after it,
 * up to the next --scheme-action, are that scheme's.  They are
 * QDAMO_OPT_ORDERED options, whose order the parser keeps.
 */
#ifndef QDAMO_SCHEMES_H
#define QDAMO_SCHEMES_H

#include <json-glib/json-glib.h>

#include "command.h"

#define QDAMO_SCHEME_OPT(opt, value, what) \
	{ .name = opt, .type = QDAMO_OPT_ORDERED, .value_name = value, .help = what }

/* The options of start and tune that make schemes. */
#define QDAMO_SCHEME_OPTS \
	{ .name = "schemes", .type = QDAMO_OPT_FILE, .value_name = "FILE", \
	  .help = "the schemes from a JSON file: a list of DamonScheme objects, " \
		  "passed to QEMU as they are" }, \
	QDAMO_SCHEME_OPT("scheme-action", "ACTION", \
		"start a scheme: stat, pageout, cold, willneed, hugepage, " \
		"nohugepage, migrate-hot or migrate-cold (repeatable)"), \
	QDAMO_SCHEME_OPT("scheme-sz-min", "SIZE", \
		"the scheme's smallest region size, e.g. 4K"), \
	QDAMO_SCHEME_OPT("scheme-sz-max", "SIZE", "its largest region size"), \
	QDAMO_SCHEME_OPT("scheme-nr-accesses-min", "N", \
		"fewest accessed samples per aggregation of its regions"), \
	QDAMO_SCHEME_OPT("scheme-nr-accesses-max", "N", "most of them"), \
	QDAMO_SCHEME_OPT("scheme-age-min", "N", \
		"youngest age of its regions, in aggregation intervals"), \
	QDAMO_SCHEME_OPT("scheme-age-max", "N", "oldest age"), \
	QDAMO_SCHEME_OPT("scheme-apply-interval-us", "TIME", \
		"how often to apply it (a bare number is microseconds; " \
		"default every aggregation)"), \
	QDAMO_SCHEME_OPT("scheme-quota-ms", "TIME", \
		"host time it may take per reset interval (a bare number is ms)"), \
	QDAMO_SCHEME_OPT("scheme-quota-bytes", "SIZE", \
		"bytes it may act on per reset interval, e.g. 256M"), \
	QDAMO_SCHEME_OPT("scheme-quota-reset-ms", "TIME", \
		"the quota's reset interval (a bare number is ms; default 1000)"), \
	QDAMO_SCHEME_OPT("scheme-weights", "SZ,NR,AGE", \
		"priority weights of size, access frequency and age under the quota"), \
	QDAMO_SCHEME_OPT("scheme-goal", "METRIC:TARGET[:CURRENT]", \
		"a quota goal: user-input, some-mem-psi-us or rss-bytes (repeatable)"), \
	QDAMO_SCHEME_OPT("scheme-wmarks", "METRIC:HIGH:MID:LOW[:INTERVAL]", \
		"watermarks: none or free-mem-rate (per thousand); INTERVAL a TIME"), \
	QDAMO_SCHEME_OPT("scheme-filter", "FILTER", \
		"addr:START-END or young, then :allow or :reject, then :nomatch " \
		"(repeatable)"), \
	QDAMO_SCHEME_OPT("scheme-target-nid", "N", \
		"host NUMA node for migrate-hot and migrate-cold")

/* What "qdamo start --help" and "qdamo tune --help" say of schemes. */
#define QDAMO_SCHEMES_HELP \
	"Schemes (DAMOS): each --scheme-action ACTION starts a scheme, and the\n" \
	"--scheme-* options after it, up to the next --scheme-action, are that\n" \
	"scheme's:\n" \
	"  --scheme-action pageout --scheme-sz-min 4K --scheme-nr-accesses-max 0 \\\n" \
	"  --scheme-age-min 50 --scheme-quota-bytes 256M --scheme-goal rss-bytes:1G \\\n" \
	"  --scheme-wmarks free-mem-rate:500:400:50 --scheme-filter addr:0-1G:allow \\\n" \
	"  --scheme-action stat --scheme-filter young:reject\n" \
	"--schemes FILE gives them as QMP's JSON instead."

/*
 * The schemes of --schemes FILE or of the --scheme-* options, as the
 * "schemes" member of @args (damon-start's or damon-tune's); nothing
 * when neither was given.  FALSE with err on a usage error (exit 2) or
 * a file that cannot be read or is not a list (QDAMO_ERROR_FILE).
 */
gboolean qdamo_scheme_args(const QdamoCmd *cmd, JsonObject *args, GError **err);

/* "2 schemes: pageout, stat", or "no schemes", for what start and tune say. */
char *qdamo_schemes_describe(JsonArray *schemes);

#endif
