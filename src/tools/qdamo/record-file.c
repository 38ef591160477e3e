// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * record-file.c - qdamo's record files: JSON, one snapshot a line, each
 * region a [start, end, nr-accesses, age] array (and nr-writes after age,
 * in version 2, when the monitor has a write source) so that a minute of
 * 100 ms aggregations stays well under a megabyte.  docs/record-format.md
 * describes the format.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "error.h"
#include "jsonx.h"
#include "record-file.h"

QdamoSnapshot *qdamo_snapshot_from_reply(JsonObject *reply, int64_t time_us)
{
	QdamoSnapshot *s = g_new0(QdamoSnapshot, 1);
	JsonArray *list = qdamo_json_array(reply, "regions");
	guint i, n = list ? json_array_get_length(list) : 0;

	s->time_us = time_us;
	s->nr_aggregations = qdamo_json_u64(reply, "nr-aggregations", 0);
	s->max_nr_accesses = (uint32_t)qdamo_json_u64(reply, "max-nr-accesses", 0);
	s->total_bytes = qdamo_json_u64(reply, "total-bytes", 0);
	s->regions = g_array_sized_new(FALSE, FALSE, sizeof(QdamoRegion), n);
	for (i = 0; i < n; i++) {
		JsonObject *o = json_array_get_object_element(list, i);
		QdamoRegion r = {
			.start = qdamo_json_u64(o, "start", 0),
			.end = qdamo_json_u64(o, "end", 0),
			.nr_accesses = (uint32_t)qdamo_json_u64(o, "nr-accesses", 0),
			.age = (uint32_t)qdamo_json_u64(o, "age", 0),
			.nr_writes = (uint32_t)qdamo_json_u64(o, "nr-writes", 0),
		};

		/* QEMU gives every region nr-writes, or none */
		if (json_object_has_member(o, "nr-writes"))
			s->has_writes = TRUE;
		g_array_append_val(s->regions, r);
	}
	return s;
}

char *qdamo_monitor_sources(JsonObject *monitor)
{
	const char *src = qdamo_json_str(monitor, "source", "?");

	if (!json_object_has_member(monitor, "write-source"))
		return g_strdup(src);
	return g_strdup_printf("%s+%s", src,
			       qdamo_json_str(monitor, "write-source", "?"));
}

void qdamo_snapshot_free(QdamoSnapshot *s)
{
	if (!s)
		return;
	g_array_free(s->regions, TRUE);
	g_free(s);
}

gint qdamo_region_cmp_access(gconstpointer a, gconstpointer b)
{
	const QdamoRegion *x = a, *y = b;

	if (x->nr_accesses != y->nr_accesses)
		return x->nr_accesses < y->nr_accesses ? 1 : -1;
	return x->start < y->start ? -1 : 1;
}

uint64_t qdamo_snapshot_wss(const QdamoSnapshot *s, uint32_t min_nr_accesses)
{
	uint64_t wss = 0;
	guint i;

	for (i = 0; i < s->regions->len; i++) {
		const QdamoRegion *r = &g_array_index(s->regions, QdamoRegion, i);

		if (r->nr_accesses >= min_nr_accesses)
			wss += r->end - r->start;
	}
	return wss;
}

uint64_t qdamo_snapshot_write_wss(const QdamoSnapshot *s, uint32_t min_nr_accesses)
{
	double wss = 0;
	guint i;

	for (i = 0; i < s->regions->len; i++) {
		const QdamoRegion *r = &g_array_index(s->regions, QdamoRegion, i);

		if (r->nr_accesses && r->nr_accesses >= min_nr_accesses)
			wss += (double)(r->end - r->start) * r->nr_writes / r->nr_accesses;
	}
	return (uint64_t)wss;
}

static QdamoRecord *record_alloc(void)
{
	QdamoRecord *r = g_new0(QdamoRecord, 1);

	r->snapshots = g_ptr_array_new_with_free_func(
		(GDestroyNotify)qdamo_snapshot_free);
	return r;
}

/*
 * The monitor's fields from a query-damon entry, or from a record's
 * "monitor" object, which has the same layout.
 */
static void set_monitor(QdamoRecord *r, JsonObject *monitor)
{
	JsonObject *a = qdamo_json_obj(monitor, "attrs");

	r->monitor_id = g_strdup(qdamo_json_str(monitor, "id", "damon0"));
	r->source = g_strdup(qdamo_json_str(monitor, "source", ""));
	r->clock = g_strdup(qdamo_json_str(monitor, "clock", ""));
	r->write_source = g_strdup(qdamo_json_str(monitor, "write-source", NULL));
	r->sample_us = qdamo_json_u64(a, "sample-us", 0);
	r->aggr_us = qdamo_json_u64(a, "aggr-us", 0);
	r->update_us = qdamo_json_u64(a, "update-us", 0);
	r->min_nr_regions = (uint32_t)qdamo_json_u64(a, "min-nr-regions", 0);
	r->max_nr_regions = (uint32_t)qdamo_json_u64(a, "max-nr-regions", 0);
}

QdamoRecord *qdamo_record_new(JsonObject *monitor)
{
	QdamoRecord *r = record_alloc();

	set_monitor(r, monitor);
	return r;
}

void qdamo_record_free(QdamoRecord *r)
{
	if (!r)
		return;
	g_free(r->target_kind);
	g_free(r->target_name);
	g_free(r->uri);
	g_free(r->monitor_id);
	g_free(r->source);
	g_free(r->clock);
	g_free(r->write_source);
	g_ptr_array_free(r->snapshots, TRUE);
	g_free(r);
}

/* ---- reading ---- */

static gboolean bad_file(GError **err, const char *path, const char *what)
{
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
		    "%s is not a qdamo record file: %s", path, what);
	return FALSE;
}

/* One snapshot; @writes: a version 2 record, whose regions have nr-writes. */
static gboolean load_snapshot(QdamoRecord *rec, JsonNode *node, gboolean writes,
			      const char *path, GError **err)
{
	g_autoptr(QdamoSnapshot) s = g_new0(QdamoSnapshot, 1);
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
	JsonArray *list = qdamo_json_array(o, "regions");
	guint i;

	if (!o || !list)
		return bad_file(err, path, "a snapshot without \"regions\"");
	s->time_us = (int64_t)qdamo_json_u64(o, "time-us", 0);
	s->nr_aggregations = qdamo_json_u64(o, "nr-aggregations", 0);
	s->max_nr_accesses = (uint32_t)qdamo_json_u64(o, "max-nr-accesses", 0);
	s->total_bytes = qdamo_json_u64(o, "total-bytes", 0);
	s->has_writes = writes;
	s->regions = g_array_new(FALSE, FALSE, sizeof(QdamoRegion));
	for (i = 0; i < json_array_get_length(list); i++) {
		JsonNode *rn = json_array_get_element(list, i);
		JsonArray *a = JSON_NODE_HOLDS_ARRAY(rn) ? json_node_get_array(rn) : NULL;
		QdamoRegion r = { 0 };

		if (!a || json_array_get_length(a) != (writes ? 5 : 4))
			return bad_file(err, path, writes ?
					"a region that is not [start, end, nr-accesses, "
					"age, nr-writes] (version 2)" :
					"a region that is not [start, end, nr-accesses, age]");
		r.start = (uint64_t)json_array_get_int_element(a, 0);
		r.end = (uint64_t)json_array_get_int_element(a, 1);
		r.nr_accesses = (uint32_t)json_array_get_int_element(a, 2);
		r.age = (uint32_t)json_array_get_int_element(a, 3);
		if (writes)
			r.nr_writes = (uint32_t)json_array_get_int_element(a, 4);
		if (r.end <= r.start)
			return bad_file(err, path, "a region that ends before it starts");
		if (r.nr_writes > r.nr_accesses)
			return bad_file(err, path, "a region with more writes than accesses");
		g_array_append_val(s->regions, r);
	}
	g_ptr_array_add(rec->snapshots, g_steal_pointer(&s));
	return TRUE;
}

QdamoRecord *qdamo_record_load(const char *path, GError **err)
{
	g_autoptr(QdamoRecord) rec = record_alloc();
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;
	JsonObject *o, *target;
	JsonArray *snaps;
	guint64 version;
	gsize len;
	guint i;

	if (!g_file_get_contents(path, &text, &len, &local)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "%s", local->message);
		return NULL;
	}
	root = qdamo_json_parse(text, (gssize)len, &local);
	if (!root) {
		bad_file(err, path, local->message);
		return NULL;
	}
	o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	if (g_strcmp0(qdamo_json_str(o, "format", NULL), QDAMO_RECORD_FORMAT)) {
		bad_file(err, path, "no \"format\": \"" QDAMO_RECORD_FORMAT "\"");
		return NULL;
	}
	version = qdamo_json_u64(o, "version", 0);
	if (version != QDAMO_RECORD_VERSION && version != QDAMO_RECORD_VERSION_WRITES) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "%s is a version %" G_GUINT64_FORMAT " record; this qdamo "
			    "reads versions %d and %d", path, version,
			    QDAMO_RECORD_VERSION, QDAMO_RECORD_VERSION_WRITES);
		return NULL;
	}
	target = qdamo_json_obj(o, "target");
	rec->target_kind = g_strdup(qdamo_json_str(target, "kind", ""));
	rec->target_name = g_strdup(qdamo_json_str(target, "name", ""));
	rec->uri = g_strdup(qdamo_json_str(target, "uri", NULL));
	set_monitor(rec, qdamo_json_obj(o, "monitor"));
	rec->start_unix_us = (int64_t)qdamo_json_u64(o, "start-unix-us", 0);
	snaps = qdamo_json_array(o, "snapshots");
	if (!snaps) {
		bad_file(err, path, "no \"snapshots\" list");
		return NULL;
	}
	for (i = 0; i < json_array_get_length(snaps); i++)
		if (!load_snapshot(rec, json_array_get_element(snaps, i),
				   version == QDAMO_RECORD_VERSION_WRITES, path, err))
			return NULL;
	return g_steal_pointer(&rec);
}

/* ---- writing ---- */

struct QdamoRecordWriter {
	FILE *f;
	char *path, *part;
	guint count;
	gboolean writes;	/* version 2: regions carry nr-writes */
};

static char *header_text(const QdamoRecord *h)
{
	g_autoptr(JsonObject) o = json_object_new();
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	JsonObject *target = json_object_new();
	JsonObject *mon = json_object_new();
	JsonObject *attrs = json_object_new();
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(
		h->start_unix_us / G_USEC_PER_SEC);

	json_object_set_string_member(o, "format", QDAMO_RECORD_FORMAT);
	json_object_set_int_member(o, "version", h->write_source ?
				   QDAMO_RECORD_VERSION_WRITES : QDAMO_RECORD_VERSION);
	json_object_set_string_member(target, "kind", h->target_kind);
	json_object_set_string_member(target, "name", h->target_name);
	if (h->uri)
		json_object_set_string_member(target, "uri", h->uri);
	json_object_set_object_member(o, "target", target);
	json_object_set_string_member(mon, "id", h->monitor_id);
	json_object_set_string_member(mon, "source", h->source);
	if (h->write_source)
		json_object_set_string_member(mon, "write-source", h->write_source);
	json_object_set_string_member(mon, "clock", h->clock);
	json_object_set_int_member(attrs, "sample-us", (gint64)h->sample_us);
	json_object_set_int_member(attrs, "aggr-us", (gint64)h->aggr_us);
	json_object_set_int_member(attrs, "update-us", (gint64)h->update_us);
	json_object_set_int_member(attrs, "min-nr-regions", h->min_nr_regions);
	json_object_set_int_member(attrs, "max-nr-regions", h->max_nr_regions);
	json_object_set_object_member(mon, "attrs", attrs);
	json_object_set_object_member(o, "monitor", mon);
	json_object_set_int_member(o, "start-unix-us", h->start_unix_us);
	if (dt) {
		g_autofree char *iso = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");

		json_object_set_string_member(o, "start-time", iso);
	}
	json_node_set_object(root, o);
	return qdamo_json_to_string(root, FALSE);
}

static gboolean write_error(QdamoRecordWriter *w, GError **err)
{
	int e = errno;

	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "cannot write %s: %s",
		    w->part, g_strerror(e));
	return FALSE;
}

QdamoRecordWriter *qdamo_record_writer_open(const char *path,
					    const QdamoRecord *header,
					    GError **err)
{
	QdamoRecordWriter *w = g_new0(QdamoRecordWriter, 1);
	g_autofree char *head = header_text(header);

	w->path = g_strdup(path);
	w->part = g_strdup_printf("%s.part", path);
	w->writes = header->write_source != NULL;
	w->f = g_fopen(w->part, "w");
	if (!w->f) {
		int e = errno;

		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "cannot create %s: %s",
			    w->part, g_strerror(e));
		g_free(w->path);
		g_free(w->part);
		g_free(w);
		return NULL;
	}
	/* the header object, reopened to take the snapshots list */
	g_assert(head[strlen(head) - 1] == '}');
	head[strlen(head) - 1] = '\0';
	if (fprintf(w->f, "%s,\n\"snapshots\": [\n", head) < 0) {
		write_error(w, err);
		fclose(w->f);
		g_unlink(w->part);
		g_free(w->path);
		g_free(w->part);
		g_free(w);
		return NULL;
	}
	return w;
}

gboolean qdamo_record_writer_add(QdamoRecordWriter *w, const QdamoSnapshot *s,
				 GError **err)
{
	g_autoptr(GString) line = g_string_new(NULL);
	guint i;

	g_string_append_printf(line, "%s{\"time-us\": %" G_GINT64_FORMAT
			       ", \"nr-aggregations\": %" G_GUINT64_FORMAT
			       ", \"max-nr-accesses\": %u, \"total-bytes\": %"
			       G_GUINT64_FORMAT ", \"regions\": [",
			       w->count ? ",\n" : "", s->time_us, s->nr_aggregations,
			       s->max_nr_accesses, s->total_bytes);
	for (i = 0; i < s->regions->len; i++) {
		const QdamoRegion *r = &g_array_index(s->regions, QdamoRegion, i);

		g_string_append_printf(line, "%s[%" G_GUINT64_FORMAT ", %"
				       G_GUINT64_FORMAT ", %u, %u", i ? ", " : "",
				       r->start, r->end, r->nr_accesses, r->age);
		if (w->writes)
			g_string_append_printf(line, ", %u", r->nr_writes);
		g_string_append_c(line, ']');
	}
	g_string_append(line, "]}");
	if (fputs(line->str, w->f) < 0)
		return write_error(w, err);
	w->count++;
	return TRUE;
}

gboolean qdamo_record_writer_close(QdamoRecordWriter *w, GError **err)
{
	gboolean ok = TRUE;

	if (fputs("\n]}\n", w->f) < 0 || fflush(w->f) != 0)
		ok = write_error(w, err);
	if (fclose(w->f) != 0 && ok)
		ok = write_error(w, err);
	if (ok && g_rename(w->part, w->path) != 0) {
		int e = errno;

		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "cannot rename %s to %s: %s",
			    w->part, w->path, g_strerror(e));
		ok = FALSE;
	}
	g_free(w->path);
	g_free(w->part);
	g_free(w);
	return ok;
}
