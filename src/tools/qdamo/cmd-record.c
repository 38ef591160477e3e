// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-record.c - qdamo record: take query-damon-regions at every
 * aggregation into a record file, like "damo record".
 *
 * QEMU keeps only the last aggregated snapshot, so the snapshots have
 * to be fetched as they happen.  Polling at half the aggregation
 * interval catches each one; a snapshot is kept only when its
 * nr-aggregations is new, and gaps (a slow libvirt, a loaded host)
 * show as jumps in nr-aggregations rather than as repeated data.
 */
#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "record-file.h"

static const QdamoOptDef opts_record[] = {
	QDAMO_OPT_OUTPUT("the record file to write (default qdamo-record.json)"),
	{ .name = "duration", .short_name = 't', .type = QDAMO_OPT_STRING,
	  .value_name = "TIME",
	  .help = "how long to record, e.g. 30s or 2m (default: until Ctrl-C)" },
	{ NULL }
};

typedef struct {
	gboolean tty;
	int64_t last_print_us;
} Progress;

static void progress(Progress *p, int64_t now_us, int64_t elapsed_us,
		     uint64_t duration_us, guint count, uint64_t wss)
{
	g_autofree char *w = qdamo_fmt_size(wss, FALSE);
	/* a terminal gets a live line; a log gets a line every 5 s */
	int64_t every = p->tty ? 200000 : 5000000;

	if (now_us - p->last_print_us < every)
		return;
	p->last_print_us = now_us;
	if (duration_us)
		fprintf(stderr, "%srecording: %5.1f / %.1f s, %u snapshots, wss %s%s",
			p->tty ? "\r" : "", elapsed_us / 1e6, duration_us / 1e6,
			count, w, p->tty ? "   " : "\n");
	else
		fprintf(stderr, "%srecording: %5.1f s, %u snapshots, wss %s "
			"(Ctrl-C stops)%s", p->tty ? "\r" : "", elapsed_us / 1e6,
			count, w, p->tty ? "   " : "\n");
}

/* Record until the duration is over or a signal comes. */
static gboolean record_loop(QdamoTarget *t, QdamoRecord *hdr,
			    QdamoRecordWriter *w, uint64_t duration_us,
			    guint *count, uint64_t *first, uint64_t *last,
			    GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	uint64_t poll_us = CLAMP(hdr->aggr_us / 2, 10000, 1000000);
	int64_t t0 = g_get_monotonic_time();
	Progress prog = { .tty = isatty(2) };

	json_object_set_string_member(args, "id", hdr->monitor_id);
	while (!qdamo_interrupted()) {
		int64_t now = g_get_monotonic_time();
		g_autoptr(JsonObject) reply = NULL;
		g_autoptr(QdamoSnapshot) s = NULL;
		int64_t next;

		if (duration_us && (uint64_t)(now - t0) >= duration_us)
			break;
		reply = qdamo_execute_obj(t, "query-damon-regions", args, err);
		if (!reply)
			return FALSE;
		s = qdamo_snapshot_from_reply(reply, g_get_monotonic_time() - t0);
		if (s->nr_aggregations && s->nr_aggregations != *last) {
			if (!qdamo_record_writer_add(w, s, err))
				return FALSE;
			if (!*count)
				*first = s->nr_aggregations;
			*last = s->nr_aggregations;
			(*count)++;
			progress(&prog, now, now - t0, duration_us, *count,
				 qdamo_snapshot_wss(s, 1));
		}
		next = now + (int64_t)poll_us;
		now = g_get_monotonic_time();
		if (next > now)
			g_usleep((gulong)(next - now));
	}
	if (prog.tty)
		fprintf(stderr, "\n");
	return TRUE;
}

/* The running monitor's query-damon entry, as the record's header. */
static QdamoRecord *record_header(const QdamoCmd *cmd, QdamoTarget *t,
				  GError **err)
{
	g_autoptr(JsonObject) m = qdamo_find_monitor(t, qdamo_monitor_id(cmd), err);
	QdamoRecord *hdr;

	if (!m)
		return NULL;
	if (g_strcmp0(qdamo_json_str(m, "state", ""), "running")) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_QMP,
			    "monitor '%s' of %s is %s: start it with 'qdamo start'",
			    qdamo_monitor_id(cmd), t->label,
			    qdamo_json_str(m, "state", "?"));
		return NULL;
	}
	hdr = qdamo_record_new(m);
	hdr->target_kind = g_strdup(t->kind);
	hdr->target_name = g_strdup(t->name);
	hdr->uri = g_strdup(t->uri);
	hdr->start_unix_us = g_get_real_time();
	return hdr;
}

static gboolean cmd_record(const QdamoCmd *cmd, GError **err)
{
	const char *duration = qdamo_cmd_str(cmd, "duration");
	const char *path = qdamo_cmd_str(cmd, "output");
	g_autoptr(QdamoRecord) hdr = NULL;
	g_autoptr(QdamoTarget) t = NULL;
	QdamoRecordWriter *w;
	uint64_t duration_us = 0, first = 0, last = 0;
	int64_t t0;
	guint count = 0;
	gboolean ok;

	if (duration && !qdamo_parse_duration_us(duration, &duration_us, err))
		return FALSE;
	if (duration && duration_us == 0)
		return qdamo_usage_error(err, cmd, "--duration must be above 0");
	if (!path)
		path = "qdamo-record.json";
	t = qdamo_open_target(cmd, err);
	hdr = t ? record_header(cmd, t, err) : NULL;
	if (!hdr)
		return FALSE;
	w = qdamo_record_writer_open(path, hdr, err);
	if (!w)
		return FALSE;
	qdamo_catch_signals();
	t0 = g_get_monotonic_time();
	ok = record_loop(t, hdr, w, duration_us, &count, &first, &last, err);
	/* keep what was recorded even when QEMU went away halfway */
	if (!qdamo_record_writer_close(w, ok ? err : NULL))
		return FALSE;
	if (!ok)
		return FALSE;
	if (!count) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_QMP,
			    "no aggregation happened while recording (%s written "
			    "with no snapshot): is the monitor's clock paused?", path);
		return FALSE;
	}
	fprintf(stderr, "recorded %u snapshots of %s (aggregations %" G_GUINT64_FORMAT
		"..%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " missed) in %.1f s to %s\n",
		count, t->label, first, last, last - first + 1 - count,
		(g_get_monotonic_time() - t0) / 1e6, path);
	return TRUE;
}

static const QdamoCmdInfo info_record = {
	.help = "save a snapshot every aggregation interval to a JSON file",
	.desc = "The monitor must be running ('qdamo start').  The file format is "
		"in docs/record-format.md;\n'qdamo convert --to damo' turns it "
		"into damo's.",
};

const QdamoCmdDef qdamo_cmddef_record = {
	.name = "record", .info = &info_record, .opts = opts_record, .handler = cmd_record,
};
