// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-schemes.c - qdamo report schemes: a monitor's DAMON-based
 * operation schemes (query-damon-schemes) as a table, one scheme a
 * line, with what each did, like damo's "report damon --damos_stat".
 *
 * The access pattern is summed up from the scheme as QEMU runs it,
 * every default filled in, so bounds that let everything through
 * (sz-max 2^64 - 1, nr-accesses-max the most an aggregation gives,
 * age-max 2^32 - 1) are left out; what remains is what the scheme is
 * for.  Ages are shown as time, aggregation intervals times aggr-us,
 * as the other reports show them.
 */
#include <inttypes.h>
#include <stdio.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "qdamo.h"
#include "table.h"

static const QdamoOptDef opts_schemes[] = {
	{ .name = "tried-regions", .type = QDAMO_OPT_FLAG,
	  .help = "also list the regions each scheme tried at its last apply" },
	QDAMO_OPT_RAW("bare numbers: bytes, ages in aggregation intervals"),
	QDAMO_OPT_JSON("query-damon-schemes'"),
	{ NULL }
};

/* What the figures need of the monitor, from query-damon. */
typedef struct {
	uint64_t aggr_us;
	uint64_t max_nr;	/* aggr / sample: nr-accesses' most */
	gboolean raw;
} View;

typedef enum { DIM_SIZE, DIM_COUNT, DIM_AGE } DimKind;

static char *fmt_dim(const View *v, DimKind kind, uint64_t x)
{
	if (kind == DIM_SIZE)
		return qdamo_fmt_size(x, v->raw);
	if (kind == DIM_AGE && !v->raw && v->aggr_us)
		return qdamo_fmt_duration_us(x * v->aggr_us, FALSE);
	return g_strdup_printf("%" PRIu64, x);
}

/* "sz>=4.0 KiB": one bound of the pattern; nothing when it bounds nothing. */
static void append_dim(GString *s, const View *v, const char *name, DimKind kind,
		       uint64_t lo, uint64_t hi, uint64_t unbounded)
{
	g_autofree char *l = fmt_dim(v, kind, lo), *h = fmt_dim(v, kind, hi);
	gboolean open = hi >= unbounded;

	if (!lo && open)
		return;
	if (s->len)
		g_string_append(s, ", ");
	if (lo == hi)
		g_string_append_printf(s, "%s=%s", name, l);
	else if (open)
		g_string_append_printf(s, "%s>=%s", name, l);
	else if (!lo)
		g_string_append_printf(s, "%s<=%s", name, h);
	else
		g_string_append_printf(s, "%s=%s..%s", name, l, h);
}

static char *pattern_summary(JsonObject *p, const View *v)
{
	g_autoptr(GString) s = g_string_new(NULL);
	/* an unknown most leaves only 2^32 - 1 as "no bound" */
	uint64_t nr_open = v->max_nr ? v->max_nr : G_MAXUINT32;

	append_dim(s, v, "sz", DIM_SIZE, qdamo_json_qmp_u64(p, "sz-min", 0),
		   qdamo_json_qmp_u64(p, "sz-max", G_MAXUINT64), G_MAXUINT64);
	append_dim(s, v, "nr", DIM_COUNT, qdamo_json_u64(p, "nr-accesses-min", 0),
		   qdamo_json_u64(p, "nr-accesses-max", nr_open), nr_open);
	append_dim(s, v, "age", DIM_AGE, qdamo_json_u64(p, "age-min", 0),
		   qdamo_json_u64(p, "age-max", G_MAXUINT32), G_MAXUINT32);
	if (!s->len)
		g_string_append(s, "any");
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* "young 2.0 MiB, failed 4.0 KiB (Cannot allocate memory)", or "-" */
static char *skipped_summary(JsonArray *skipped, const View *v)
{
	g_autoptr(GString) s = g_string_new(NULL);
	guint i;

	for (i = 0; skipped && i < json_array_get_length(skipped); i++) {
		JsonObject *k = json_array_get_object_element(skipped, i);
		g_autofree char *bytes = qdamo_fmt_size(qdamo_json_qmp_u64(k, "bytes", 0),
							v->raw);
		const char *why = qdamo_json_str(k, "last-error", NULL);

		g_string_append_printf(s, "%s%s %s", s->len ? ", " : "",
				       qdamo_json_str(k, "reason", "?"), bytes);
		if (why)
			g_string_append_printf(s, " (%s)", why);
	}
	if (!s->len)
		g_string_append(s, "-");
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static char *count(JsonObject *o, const char *name)
{
	return g_strdup_printf("%" PRIu64, qdamo_json_qmp_u64(o, name, 0));
}

static char **scheme_row(JsonObject *info, const View *v)
{
	JsonObject *scheme = qdamo_json_obj(info, "scheme");
	JsonObject *stats = qdamo_json_obj(info, "stats");
	JsonNode *active = json_object_get_member(info, "active");
	char **row = g_new0(char *, 12);

	row[0] = count(info, "index");
	row[1] = g_strdup(qdamo_json_str(scheme, "action", "?"));
	row[2] = g_strdup(active && JSON_NODE_HOLDS_VALUE(active) &&
			  json_node_get_boolean(active) ? "yes" : "no");
	row[3] = pattern_summary(qdamo_json_obj(scheme, "access-pattern"), v);
	/* absent: the scheme is not limited */
	row[4] = json_object_has_member(info, "effective-quota-bytes") ?
		qdamo_fmt_size(qdamo_json_qmp_u64(info, "effective-quota-bytes", 0), v->raw) :
		g_strdup("-");
	row[5] = count(stats, "nr-tried");
	row[6] = qdamo_fmt_size(qdamo_json_qmp_u64(stats, "sz-tried", 0), v->raw);
	row[7] = count(stats, "nr-applied");
	row[8] = qdamo_fmt_size(qdamo_json_qmp_u64(stats, "sz-applied", 0), v->raw);
	row[9] = count(stats, "qt-exceeds");
	row[10] = skipped_summary(qdamo_json_array(info, "skipped"), v);
	return row;
}

/* One region a scheme tried: its row of the --tried-regions table. */
static char **tried_row(const char *index, JsonObject *r, const View *v)
{
	uint64_t start = qdamo_json_qmp_u64(r, "start", 0);
	uint64_t end = qdamo_json_qmp_u64(r, "end", 0);
	char **row = g_new0(char *, 7);

	row[0] = g_strdup(index);
	row[1] = v->raw ? g_strdup_printf("%" PRIu64, start) :
		 g_strdup_printf("0x%012" PRIx64, start);
	row[2] = v->raw ? g_strdup_printf("%" PRIu64, end) :
		 g_strdup_printf("0x%012" PRIx64, end);
	row[3] = qdamo_fmt_size(end > start ? end - start : 0, v->raw);
	row[4] = count(r, "nr-accesses");
	row[5] = fmt_dim(v, DIM_AGE, qdamo_json_u64(r, "age", 0));
	return row;
}

/* --tried-regions: every scheme's regions of its last apply, one table. */
static void print_tried(JsonArray *list, const View *v)
{
	static const char *const headers[] = { "SCHEME", "START", "END", "SIZE",
		"NR-ACCESSES", "AGE", NULL };
	g_autoptr(QdamoTable) tb = qdamo_table_new(headers, "rllrrr");
	guint i, k, rows = 0;

	for (i = 0; i < json_array_get_length(list); i++) {
		JsonObject *info = json_array_get_object_element(list, i);
		JsonArray *tried = qdamo_json_array(info, "tried-regions");
		g_autofree char *index = count(info, "index");

		for (k = 0; tried && k < json_array_get_length(tried); k++, rows++) {
			JsonObject *r = json_array_get_object_element(tried, k);

			qdamo_table_add_strv(tb, tried_row(index, r, v));
		}
	}
	if (!rows) {
		printf("\n# no scheme tried a region at its last apply\n");
		return;
	}
	printf("\n# the regions each scheme tried at its last apply\n");
	qdamo_table_print(tb, stdout);
}

static void print_schemes(JsonObject *reply, const View *v, const char *what,
			  gboolean tried)
{
	static const char *const headers[] = { "INDEX", "ACTION", "ACTIVE",
		"PATTERN", "QUOTA", "NR-TRIED", "SZ-TRIED", "NR-APPLIED",
		"SZ-APPLIED", "QT-EXCEEDS", "SKIPPED", NULL };
	g_autoptr(QdamoTable) tb = qdamo_table_new(headers, "rlllrrrrrrl");
	JsonArray *list = qdamo_json_array(reply, "schemes");
	guint n = list ? json_array_get_length(list) : 0, i;

	if (!n) {
		printf("# %s: no schemes (give them with 'qdamo start' or "
		       "'qdamo tune' --scheme-action)\n", what);
		return;
	}
	printf("# %s: %u scheme%s\n", what, n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		qdamo_table_add_strv(tb, scheme_row(json_array_get_object_element(list, i), v));
	qdamo_table_print(tb, stdout);
	if (tried)
		print_tried(list, v);
}

/*
 * query-damon-schemes came after the other commands: a qdamon QEMU from
 * before it answers CommandNotFound, which target.c words as a QEMU
 * without qdamon.  When query-damon works, say what is really missing.
 */
static void explain_not_found(QdamoTarget *t, GError **err)
{
	g_autoptr(JsonNode) ret = NULL;

	if (!t || !err || !g_error_matches(*err, QDAMO_ERROR, QDAMO_ERROR_NO_DAMON))
		return;
	ret = qdamo_execute(t, "query-damon", NULL, NULL);
	if (!ret)
		return;
	g_clear_error(err);
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_NO_DAMON,
		    "the QEMU of %s has DAMON monitors but no schemes (no "
		    "query-damon-schemes): run it with a qdamon QEMU of 0.3 or "
		    "later (scripts/build-qemu.sh)", t->label);
}

static gboolean cmd_schemes(const QdamoCmd *cmd, GError **err)
{
	const char *id = qdamo_monitor_id(cmd);
	gboolean tried = qdamo_cmd_flag(cmd, "tried-regions"), printed;
	g_autoptr(QdamoTarget) t = qdamo_open_target(cmd, err);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonObject) m = NULL;
	g_autoptr(JsonNode) ret = NULL;
	g_autofree char *what = NULL;
	JsonObject *attrs;
	View v = { .raw = qdamo_cmd_flag(cmd, "raw") };

	json_object_set_string_member(args, "id", id);
	if (tried)
		json_object_set_boolean_member(args, "tried-regions", TRUE);
	ret = qdamo_query(cmd, t, "query-damon-schemes", args, &printed, err);
	if (!ret) {
		if (!printed)
			explain_not_found(t, err);
		return printed;
	}
	if (!qdamo_json_check(ret, JSON_NODE_OBJECT, err,
			      "query-damon-schemes: %s returned no object", t->label))
		return FALSE;
	/* the intervals, to tell ages as time and nr-accesses' most */
	m = qdamo_find_monitor(t, id, err);
	if (!m)
		return FALSE;
	attrs = qdamo_json_obj(m, "attrs");
	v.aggr_us = qdamo_json_u64(attrs, "aggr-us", 0);
	if (qdamo_json_u64(attrs, "sample-us", 0))
		v.max_nr = v.aggr_us / qdamo_json_u64(attrs, "sample-us", 0);
	what = g_strdup_printf("%s of %s", id, t->label);
	print_schemes(json_node_get_object(ret), &v, what, tried);
	return TRUE;
}

static const QdamoCmdInfo info_schemes = {
	.help = "the monitor's schemes and what they did (query-damon-schemes)",
	.desc = "PATTERN is the regions a scheme is for (sz: region size, nr: "
		"accessed samples per\naggregation, age: how long that held), "
		"bounds that let everything through left\nout.  QUOTA is the "
		"bytes the current reset interval allows ('-': no limit).\n"
		"NR-/SZ-TRIED count the regions (and bytes) that matched and fit "
		"the quota,\nNR-/SZ-APPLIED those the action was applied to, "
		"QT-EXCEEDS the reset intervals\nin which the quota ran out, "
		"SKIPPED the bytes tried but not acted on, by reason.",
};

const QdamoCmdDef qdamo_cmddef_report_schemes = {
	.name = "schemes", .info = &info_schemes, .opts = opts_schemes,
	.handler = cmd_schemes,
};
