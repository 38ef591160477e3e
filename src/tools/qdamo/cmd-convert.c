// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-convert.c - qdamo convert --to damo: a qdamo record file as a
 * damo record file, for "damo report heatmap/wss/access --input".
 *
 * damo's JSON record is a list of records, one per DAMON target, each
 * with its intervals and snapshots; a snapshot has start and end times
 * in nanoseconds and regions whose nr_accesses (samples, percent) and
 * age (usec, aggr_intervals) are objects.  docs/record-format.md shows
 * both layouts.  damo tells its file types apart with file(1): it takes
 * "zlib compressed data" as compressed JSON, and a plain JSON file only
 * as file(1) describes it ("JSON data"; Debian 12's file says "JSON text
 * data"), so the compressed form, damo's default, is ours too.
 */
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>

#include "error.h"
#include "jsonx.h"
#include "qdamo.h"
#include "record-file.h"

static const QdamoOptDef opts_convert[] = {
	QDAMO_ARG_RECORD_FILE,
	{ .name = "to", .type = QDAMO_OPT_STRING, .value_name = "FORMAT",
	  .help = "the format to write: damo" },
	QDAMO_OPT_OUTPUT("the file to write (default damon.data, damo's default name)"),
	{ .name = "format", .type = QDAMO_OPT_STRING, .value_name = "TYPE",
	  .help = "json_compressed (default, zlib) or json" },
	{ NULL }
};

static JsonObject *damo_region(const QdamoRecord *rec, const QdamoSnapshot *s,
			       const QdamoRegion *r)
{
	JsonObject *o = json_object_new();
	JsonObject *acc = json_object_new();
	JsonObject *age = json_object_new();

	json_object_set_int_member(o, "start", (gint64)r->start);
	json_object_set_int_member(o, "end", (gint64)r->end);
	json_object_set_int_member(acc, "samples", r->nr_accesses);
	json_object_set_double_member(acc, "percent", s->max_nr_accesses ?
		100.0 * r->nr_accesses / s->max_nr_accesses : 0.0);
	json_object_set_object_member(o, "nr_accesses", acc);
	json_object_set_int_member(age, "usec", (gint64)(r->age * rec->aggr_us));
	json_object_set_int_member(age, "aggr_intervals", r->age);
	json_object_set_object_member(o, "age", age);
	json_object_set_int_member(o, "sz_filter_passed", 0);
	return o;
}

static JsonNode *damo_records(const QdamoRecord *rec)
{
	JsonNode *root = json_node_new(JSON_NODE_ARRAY);
	JsonArray *records = json_array_new();
	JsonObject *r = json_object_new();
	JsonObject *iv = json_object_new();
	JsonArray *snaps = json_array_new();
	/* damo's times are absolute nanoseconds; ours start at the record */
	int64_t base_ns = rec->start_unix_us * 1000;
	guint i, j;

	json_object_set_int_member(r, "kdamond_idx", 0);
	json_object_set_int_member(r, "context_idx", 0);
	json_object_set_int_member(iv, "sample_us", (gint64)rec->sample_us);
	json_object_set_int_member(iv, "aggr_us", (gint64)rec->aggr_us);
	json_object_set_int_member(iv, "ops_update_us", (gint64)rec->update_us);
	json_object_set_object_member(r, "intervals", iv);
	json_object_set_null_member(r, "scheme_idx");
	/* one target: the guest's physical address space, as damo's paddr */
	json_object_set_int_member(r, "target_id", 0);
	json_object_set_array_member(r, "scheme_filters", json_array_new());
	for (i = 0; i < rec->snapshots->len; i++) {
		const QdamoSnapshot *s = g_ptr_array_index(rec->snapshots, i);
		JsonObject *so = json_object_new();
		JsonArray *regions = json_array_new();
		int64_t end_ns = base_ns + s->time_us * 1000;

		json_object_set_int_member(so, "start_time",
					   end_ns - (gint64)rec->aggr_us * 1000);
		json_object_set_int_member(so, "end_time", end_ns);
		for (j = 0; j < s->regions->len; j++)
			json_array_add_object_element(regions, damo_region(rec, s,
				&g_array_index(s->regions, QdamoRegion, j)));
		json_object_set_array_member(so, "regions", regions);
		json_object_set_int_member(so, "total_bytes", (gint64)s->total_bytes);
		json_array_add_object_element(snaps, so);
	}
	json_object_set_array_member(r, "snapshots", snaps);
	json_array_add_object_element(records, r);
	json_node_take_array(root, records);
	return root;
}

static gboolean write_file(const char *path, const char *text, gboolean zlib,
			   GError **err)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_autoptr(GFileOutputStream) fout = NULL;
	g_autoptr(GOutputStream) out = NULL;
	g_autoptr(GError) local = NULL;

	fout = g_file_replace(file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, &local);
	if (!fout)
		goto fail;
	if (zlib) {
		g_autoptr(GZlibCompressor) z =
			g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_ZLIB, -1);

		out = g_converter_output_stream_new(G_OUTPUT_STREAM(fout),
						    G_CONVERTER(z));
	} else {
		out = G_OUTPUT_STREAM(g_object_ref(fout));
	}
	if (!g_output_stream_write_all(out, text, strlen(text), NULL, NULL, &local) ||
	    !g_output_stream_close(out, NULL, &local))
		goto fail;
	return TRUE;
fail:
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "cannot write %s: %s", path,
		    local->message);
	return FALSE;
}

/* --to damo, and --format: TRUE in *zlib for json_compressed. */
static gboolean damo_format(const QdamoCmd *cmd, gboolean *zlib, GError **err)
{
	const char *format = qdamo_cmd_str(cmd, "format");

	if (g_strcmp0(qdamo_cmd_str(cmd, "to"), "damo"))
		return qdamo_usage_error(err, cmd, "--to damo is the only target format");
	if (format && strcmp(format, "json") && strcmp(format, "json_compressed"))
		return qdamo_usage_error(err, cmd, "--format must be json or json_compressed");
	*zlib = !format || !strcmp(format, "json_compressed");
	return TRUE;
}

static gboolean cmd_convert(const QdamoCmd *cmd, GError **err)
{
	const char *out = qdamo_cmd_str(cmd, "output");
	g_autoptr(QdamoRecord) rec = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;
	gboolean zlib = TRUE;

	if (!damo_format(cmd, &zlib, err))
		return FALSE;
	if (!out)
		out = "damon.data";
	rec = qdamo_record_load(qdamo_cmd_str(cmd, "FILE"), err);
	if (!rec)
		return FALSE;
	root = damo_records(rec);
	/* damo writes its JSON indented; it reads either */
	text = qdamo_json_to_string(root, TRUE);
	if (!write_file(out, text, zlib, err))
		return FALSE;
	printf("wrote %s: %u snapshots as a damo %s record\n", out,
	       rec->snapshots->len, zlib ? "json_compressed" : "json");
	return TRUE;
}

static const QdamoCmdInfo info_convert = {
	.help = "turn a record file into damo's record format",
	.desc = "Example:\n  qdamo convert --to damo -o damon.data rec.json\n"
		"  damo report heatmap --input damon.data",
};

const QdamoCmdDef qdamo_cmddef_convert = {
	.name = "convert", .info = &info_convert, .opts = opts_convert,
	.handler = cmd_convert,
};
