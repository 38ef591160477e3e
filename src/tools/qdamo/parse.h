/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * parse.h - the words of qdamo's command line (durations, sizes,
 * address ranges) and their human-readable forms.
 */
#ifndef QDAMO_PARSE_H
#define QDAMO_PARSE_H

#include <stdint.h>

#include <glib.h>

typedef struct {
	uint64_t start, end;	/* [start, end) */
} QdamoRange;

/*
 * A duration as damo writes them: "5ms", "100ms", "1s", "1.5s", "2m",
 * "1h", "250us", "1000ns"; a bare number is microseconds.  Sets *us.
 */
gboolean qdamo_parse_duration_us(const char *text, uint64_t *us,
				 GError **err);

/*
 * A duration in whole milliseconds, for the options named after a QMP
 * member in ms (--scheme-quota-ms): a bare number is milliseconds, as
 * the name says, and a number with a unit is read as above ("1s" is
 * 1000).  Sets *ms.
 */
gboolean qdamo_parse_duration_ms(const char *text, uint64_t *ms, GError **err);

/* A size or address: decimal or 0x hex, optional K/M/G/T (binary). */
gboolean qdamo_parse_size(const char *text, uint64_t *bytes, GError **err);

/* "START-END[,START-END...]", each an address for qdamo_parse_size. */
GArray *qdamo_parse_ranges(const char *text, GError **err);

/* "MIN,MAX" for --nr-regions. */
gboolean qdamo_parse_pair(const char *text, uint64_t *a, uint64_t *b,
			  GError **err);

/* "0,25,50" for --percentiles: each 0 to 100, at most 101 of them. */
GArray *qdamo_parse_percentiles(const char *text, GError **err);

/*
 * A share in basis points (1/10000): "4%", "0.5%", "400bp", or a bare
 * number of basis points ("400"), as damo writes access_bp.  Sets *bp;
 * at most @max.
 */
gboolean qdamo_parse_bp(const char *text, uint64_t max, uint64_t *bp,
			GError **err);

/* "16.0 MiB", or the bare number with raw. */
char *qdamo_fmt_size(uint64_t bytes, gboolean raw);

/* "5 ms", "1.50 s", "2 min 3 s"; the bare microseconds with raw. */
char *qdamo_fmt_duration_us(uint64_t us, gboolean raw);

#endif
