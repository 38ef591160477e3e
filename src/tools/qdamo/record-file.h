/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * record-file.h - snapshots of a monitor, in memory and in qdamo's
 * record files (docs/record-format.md).
 */
#ifndef QDAMO_RECORD_FILE_H
#define QDAMO_RECORD_FILE_H

#include <stdint.h>

#include <json-glib/json-glib.h>

#define QDAMO_RECORD_FORMAT "qdamo-record"
/*
 * Version 1: regions are [start, end, nr-accesses, age].  Version 2, a
 * record of a monitor with a write source: [start, end, nr-accesses,
 * age, nr-writes].  A record without write counts is still written as
 * version 1, so that an older qdamo reads it; one with write counts is
 * refused by an older qdamo with a message naming the version.
 */
#define QDAMO_RECORD_VERSION 1
#define QDAMO_RECORD_VERSION_WRITES 2

typedef struct {
	uint64_t start, end;
	uint32_t nr_accesses;
	uint32_t age;		/* in aggregation intervals */
	uint32_t nr_writes;	/* with a write source; else 0 */
} QdamoRegion;

/* One aggregated snapshot: query-damon-regions' reply. */
typedef struct {
	int64_t time_us;	/* when it was taken, since the record began */
	uint64_t nr_aggregations;
	uint32_t max_nr_accesses;
	uint64_t total_bytes;
	/*
	 * the regions have nr-writes: the monitor has a write source (from
	 * QEMU, or a version 2 record file)
	 */
	gboolean has_writes;
	GArray *regions;	/* QdamoRegion, in address order */
} QdamoSnapshot;

typedef struct {
	char *target_kind;	/* "libvirt" or "qmp" */
	char *target_name;	/* domain or socket path */
	char *uri;		/* libvirt URI, or NULL */
	char *monitor_id, *source, *clock;
	char *write_source;	/* or NULL: then no snapshot has write counts */
	uint64_t sample_us, aggr_us, update_us;
	uint32_t min_nr_regions, max_nr_regions;
	int64_t start_unix_us;	/* wall clock when the record began */
	GPtrArray *snapshots;	/* QdamoSnapshot *, oldest first */
} QdamoRecord;

/* A snapshot from query-damon-regions' "return" object. */
QdamoSnapshot *qdamo_snapshot_from_reply(JsonObject *reply, int64_t time_us);
void qdamo_snapshot_free(QdamoSnapshot *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamoSnapshot, qdamo_snapshot_free)

/*
 * What a query-damon entry says of its sources: "SOURCE", or
 * "SOURCE+WRITE-SOURCE" when it has a write source.  g_free() it.
 */
char *qdamo_monitor_sources(JsonObject *monitor);

/* For g_array_sort() of QdamoRegion: the most accessed first, then by address. */
gint qdamo_region_cmp_access(gconstpointer a, gconstpointer b);

/* Bytes of the regions with at least @min_nr_accesses accesses. */
uint64_t qdamo_snapshot_wss(const QdamoSnapshot *s, uint32_t min_nr_accesses);

/*
 * The written part of the working set, estimated as QEMU estimates
 * write-wss-bytes: each region with at least @min_nr_accesses accesses
 * counts its bytes times nr-writes / nr-accesses.
 */
uint64_t qdamo_snapshot_write_wss(const QdamoSnapshot *s, uint32_t min_nr_accesses);

/* A record's header fields from a query-damon entry. */
QdamoRecord *qdamo_record_new(JsonObject *monitor);
void qdamo_record_free(QdamoRecord *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamoRecord, qdamo_record_free)

QdamoRecord *qdamo_record_load(const char *path, GError **err);

/*
 * Writing: the header at open, one line per snapshot as it comes, the
 * closing brackets at close.  With a header->write_source, version 2
 * with each region's nr-writes; without, version 1.  The file is PATH.part until closed, so
 * that a run killed halfway leaves no file that looks complete.
 */
typedef struct QdamoRecordWriter QdamoRecordWriter;

QdamoRecordWriter *qdamo_record_writer_open(const char *path,
					    const QdamoRecord *header,
					    GError **err);
gboolean qdamo_record_writer_add(QdamoRecordWriter *w, const QdamoSnapshot *s,
				 GError **err);
gboolean qdamo_record_writer_close(QdamoRecordWriter *w, GError **err);

#endif
