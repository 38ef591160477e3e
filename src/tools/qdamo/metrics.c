// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * metrics.c - DAMON monitors as Prometheus metrics.
 *
 * The text format wants every sample of a metric family in one group
 * after its HELP and TYPE lines, while the exporter walks target by
 * target; so samples are gathered per family and written at the end.
 *
 * Hot and cold bytes are split by region age, so that "how much memory
 * has been idle for over a minute" (what a balloon or a far-memory
 * tier could take) is one query: qdamon_cold_bytes{age=~"1m-10m|10m\\+"}.
 *
 * The idle-age histogram of query-damon-idle is qdamon_idle_bytes{le},
 * cumulative like a histogram's buckets so that "idle over a minute"
 * is le="+Inf" minus le="60"; a gauge, as it has no _count or _sum.
 *
 * A monitor with a write source also gets the written counterparts,
 * qdamon_write_wss_bytes and qdamon_written_bytes{age}; one without
 * gets neither, so that no series says "0 written" of a monitor that
 * cannot tell.
 *
 * Each scheme (DAMOS) of a monitor gets its statistics, labelled with
 * its index and action.  query-damon-schemes came after the other
 * commands, so a QEMU that lacks or refuses it loses only the scheme
 * series.  The skipped bytes have a series for every reason QEMU
 * knows, 0 until it happens, so that rate() sees a reason's first
 * bytes (QEMU lists only the reasons that happened).
 */
#include <stdarg.h>
#include <string.h>

#include "error.h"
#include "jsonx.h"
#include "metrics.h"
#include "record-file.h"

typedef struct {
	const char *name, *type, *help;
} Family;

static const Family families[] = {
	{ "qdamon_target_up", "gauge",
	  "1 if the VM's QEMU answered query-damon, 0 if asking it failed" },
	{ "qdamon_monitor_running", "gauge",
	  "1 if the DAMON monitor is sampling, 0 if it is stopped" },
	{ "qdamon_wss_bytes", "gauge",
	  "working-set size at the last aggregation: bytes of the regions "
	  "accessed at least once in it" },
	{ "qdamon_write_wss_bytes", "gauge",
	  "written part of the working set at the last aggregation "
	  "(write-wss-bytes); only monitors with a write source" },
	{ "qdamon_monitored_bytes", "gauge", "guest memory the monitor covers" },
	{ "qdamon_hot_bytes", "gauge",
	  "bytes of accessed regions, by how long their access rate held" },
	{ "qdamon_cold_bytes", "gauge",
	  "bytes of regions not accessed, by how long they have been idle" },
	{ "qdamon_written_bytes", "gauge",
	  "bytes of regions written at least once in the last aggregation, by "
	  "how long their access rate held; only monitors with a write source" },
	{ "qdamon_idle_bytes", "gauge",
	  "bytes idle for at most le seconds at the last aggregation, cumulative "
	  "as a histogram's buckets (accessed regions count as idle 0 s, so "
	  "le=\"+Inf\" is all monitored bytes); from query-damon-idle" },
	{ "qdamon_regions", "gauge", "regions at the last aggregation" },
	{ "qdamon_aggregations_total", "counter",
	  "aggregations since the monitor started" },
	{ "qdamon_monitor_cpu_seconds_total", "counter",
	  "host CPU time the monitor used" },
	{ "qdamon_sample_interval_seconds", "gauge", "the sampling interval" },
	{ "qdamon_aggregation_interval_seconds", "gauge",
	  "the aggregation interval" },
	{ "qdamon_scheme_active", "gauge",
	  "1 if the scheme is active, 0 while its watermarks have turned it off" },
	{ "qdamon_scheme_watermark_value", "gauge",
	  "last value of the scheme's watermark metric; only schemes with watermarks" },
	{ "qdamon_scheme_effective_quota_bytes", "gauge",
	  "bytes the scheme's current quota reset interval allows; only limited schemes" },
	{ "qdamon_scheme_tried_regions_total", "counter",
	  "regions the scheme tried: they matched, passed the address filters and "
	  "fit the quota (nr-tried)" },
	{ "qdamon_scheme_tried_bytes_total", "counter",
	  "bytes of the regions the scheme tried (sz-tried)" },
	{ "qdamon_scheme_applied_regions_total", "counter",
	  "regions the scheme's action was applied to, in whole or part (nr-applied)" },
	{ "qdamon_scheme_applied_bytes_total", "counter",
	  "bytes the scheme's action was applied to (sz-applied)" },
	{ "qdamon_scheme_quota_exceeds_total", "counter",
	  "quota reset intervals in which the scheme's quota ran out (qt-exceeds)" },
	{ "qdamon_scheme_skipped_bytes_total", "counter",
	  "bytes the scheme tried but did not act on, by reason" },
	{ "qdamon_libvirt_up", "gauge",
	  "1 if libvirt could list the running domains, 0 if not" },
	{ "qdamon_scrape_duration_seconds", "gauge",
	  "time this scrape took" },
};

/* DamonSchemeSkipReason: a series each, whether it happened or not */
static const char *const skip_reasons[] = {
	"not-ram", "hugetlbfs", "unaligned", "migration", "young", "failed",
};

/* upper bounds in seconds of the age classes, and their labels */
static const struct {
	double below_s;
	const char *label;
} age_classes[] = {
	{ 1, "0-1s" }, { 10, "1s-10s" }, { 60, "10s-1m" }, { 600, "1m-10m" },
	{ G_MAXDOUBLE, "10m+" },
};

struct QdamoMetrics {
	GString *samples[G_N_ELEMENTS(families)];
};

QdamoMetrics *qdamo_metrics_new(void)
{
	QdamoMetrics *m = g_new0(QdamoMetrics, 1);
	guint i;

	for (i = 0; i < G_N_ELEMENTS(families); i++)
		m->samples[i] = g_string_new(NULL);
	return m;
}

void qdamo_metrics_free(QdamoMetrics *m)
{
	guint i;

	if (!m)
		return;
	for (i = 0; i < G_N_ELEMENTS(families); i++)
		g_string_free(m->samples[i], TRUE);
	g_free(m);
}

/* Label values escape backslash, double quote and newline. */
static void append_escaped(GString *s, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			g_string_append_c(s, '\\');
		if (*v == '\n') {
			g_string_append(s, "\\n");
			continue;
		}
		g_string_append_c(s, *v);
	}
}

void qdamo_metrics_add(QdamoMetrics *m, const char *family, double value, ...)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];
	const char *name;
	GString *s = NULL;
	gboolean first = TRUE;
	va_list ap;
	guint i;

	for (i = 0; i < G_N_ELEMENTS(families); i++)
		if (!strcmp(families[i].name, family))
			s = m->samples[i];
	g_assert(s);
	g_string_append(s, family);
	va_start(ap, value);
	while ((name = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		g_string_append_printf(s, "%s%s=\"", first ? "{" : ",", name);
		append_escaped(s, v);
		g_string_append_c(s, '"');
		first = FALSE;
	}
	va_end(ap);
	/* byte counts print whole; %g would round them to 6 digits */
	if (value == (double)(gint64)value && value < 9007199254740992.0)
		g_ascii_formatd(buf, sizeof(buf), "%.0f", value);
	else
		g_ascii_formatd(buf, sizeof(buf), "%.9g", value);
	g_string_append_printf(s, "%s %s\n", first ? "" : "}", buf);
}

static void add_age_classes(QdamoMetrics *m, const QdamoSnapshot *s,
			    uint64_t aggr_us, const char *dom, const char *id)
{
	double hot[G_N_ELEMENTS(age_classes)] = { 0 };
	double cold[G_N_ELEMENTS(age_classes)] = { 0 };
	double written[G_N_ELEMENTS(age_classes)] = { 0 };
	guint i, c;

	for (i = 0; i < s->regions->len; i++) {
		const QdamoRegion *r = &g_array_index(s->regions, QdamoRegion, i);
		double age_s = (double)r->age * aggr_us / 1e6;

		for (c = 0; age_s >= age_classes[c].below_s; c++)
			;
		if (r->nr_accesses)
			hot[c] += (double)(r->end - r->start);
		else
			cold[c] += (double)(r->end - r->start);
		if (r->nr_writes)
			written[c] += (double)(r->end - r->start);
	}
	for (c = 0; c < G_N_ELEMENTS(age_classes); c++) {
		qdamo_metrics_add(m, "qdamon_hot_bytes", hot[c], "domain", dom,
				  "monitor", id, "age", age_classes[c].label, NULL);
		qdamo_metrics_add(m, "qdamon_cold_bytes", cold[c], "domain", dom,
				  "monitor", id, "age", age_classes[c].label, NULL);
		if (s->has_writes)
			qdamo_metrics_add(m, "qdamon_written_bytes", written[c],
					  "domain", dom, "monitor", id,
					  "age", age_classes[c].label, NULL);
	}
}

/* qdamon_monitor_running, labelled with the write source when there is one. */
static void add_running(QdamoMetrics *m, JsonObject *mon, const char *dom,
			const char *id)
{
	double running = !g_strcmp0(qdamo_json_str(mon, "state", ""), "running");
	const char *src = qdamo_json_str(mon, "source", "");
	const char *clock = qdamo_json_str(mon, "clock", "");

	if (json_object_has_member(mon, "write-source"))
		qdamo_metrics_add(m, "qdamon_monitor_running", running,
				  "domain", dom, "monitor", id, "source", src,
				  "write_source", qdamo_json_str(mon, "write-source", ""),
				  "clock", clock, NULL);
	else
		qdamo_metrics_add(m, "qdamon_monitor_running", running,
				  "domain", dom, "monitor", id, "source", src,
				  "clock", clock, NULL);
}

/* One scheme's labels: domain, monitor, scheme (its index), action. */
typedef struct {
	const char *dom, *id, *action;
	char index[16];
} SchemeLabels;

#define SCHEME_LABELS(l) "domain", (l)->dom, "monitor", (l)->id, \
	"scheme", (l)->index, "action", (l)->action

static void add_scheme_u64(QdamoMetrics *m, const char *family, JsonObject *o,
			    const char *member, const SchemeLabels *l)
{
	qdamo_metrics_add(m, family, (double)qdamo_json_qmp_u64(o, member, 0),
			  SCHEME_LABELS(l), NULL);
}

static void add_skipped(QdamoMetrics *m, JsonArray *skipped, const SchemeLabels *l)
{
	guint n = skipped ? json_array_get_length(skipped) : 0, i, k;

	for (k = 0; k < G_N_ELEMENTS(skip_reasons); k++) {
		double bytes = 0;

		for (i = 0; i < n; i++) {
			JsonObject *s = json_array_get_object_element(skipped, i);

			if (!g_strcmp0(qdamo_json_str(s, "reason", ""), skip_reasons[k]))
				bytes = (double)qdamo_json_qmp_u64(s, "bytes", 0);
		}
		qdamo_metrics_add(m, "qdamon_scheme_skipped_bytes_total", bytes,
				  SCHEME_LABELS(l), "reason", skip_reasons[k], NULL);
	}
	/* a reason of a newer QEMU is kept too */
	for (i = 0; i < n; i++) {
		JsonObject *s = json_array_get_object_element(skipped, i);
		const char *reason = qdamo_json_str(s, "reason", "?");

		for (k = 0; k < G_N_ELEMENTS(skip_reasons); k++)
			if (!strcmp(reason, skip_reasons[k]))
				break;
		if (k == G_N_ELEMENTS(skip_reasons))
			qdamo_metrics_add(m, "qdamon_scheme_skipped_bytes_total",
					  (double)qdamo_json_qmp_u64(s, "bytes", 0),
					  SCHEME_LABELS(l), "reason", reason, NULL);
	}
}

static void add_scheme(QdamoMetrics *m, JsonObject *info, const char *dom,
		       const char *id)
{
	JsonObject *stats = qdamo_json_obj(info, "stats");
	JsonNode *active = json_object_get_member(info, "active");
	SchemeLabels l = {
		.dom = dom, .id = id,
		.action = qdamo_json_str(qdamo_json_obj(info, "scheme"), "action", "?"),
	};

	g_snprintf(l.index, sizeof(l.index), "%" G_GUINT64_FORMAT,
		   qdamo_json_u64(info, "index", 0));
	qdamo_metrics_add(m, "qdamon_scheme_active", active && JSON_NODE_HOLDS_VALUE(active) &&
			  json_node_get_boolean(active), SCHEME_LABELS(&l), NULL);
	/* both absent when they do not apply: no series rather than a false 0 */
	if (json_object_has_member(info, "watermark-value"))
		add_scheme_u64(m, "qdamon_scheme_watermark_value", info, "watermark-value", &l);
	if (json_object_has_member(info, "effective-quota-bytes"))
		add_scheme_u64(m, "qdamon_scheme_effective_quota_bytes", info,
			       "effective-quota-bytes", &l);
	add_scheme_u64(m, "qdamon_scheme_tried_regions_total", stats, "nr-tried", &l);
	add_scheme_u64(m, "qdamon_scheme_tried_bytes_total", stats, "sz-tried", &l);
	add_scheme_u64(m, "qdamon_scheme_applied_regions_total", stats, "nr-applied", &l);
	add_scheme_u64(m, "qdamon_scheme_applied_bytes_total", stats, "sz-applied", &l);
	add_scheme_u64(m, "qdamon_scheme_quota_exceeds_total", stats, "qt-exceeds", &l);
	add_skipped(m, qdamo_json_array(info, "skipped"), &l);
}

/*
 * Ask @command about monitor @id, a query whose answer only adds series.
 * A QEMU without it (CommandNotFound, QDAMO_ERROR_NO_DAMON here) clears
 * *ask so that its other monitors are not asked again; one that refuses
 * it (GenericError) is passed over.  Both leave *reply NULL and keep the
 * monitor's other series.  FALSE with err only when the target stopped
 * answering.
 */
static gboolean optional_query(QdamoTarget *t, const char *command,
			       const char *id, gboolean *ask,
			       JsonObject **reply, GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(GError) local = NULL;

	*reply = NULL;
	if (!*ask)
		return TRUE;
	json_object_set_string_member(args, "id", id);
	*reply = qdamo_execute_obj(t, command, args, &local);
	if (*reply)
		return TRUE;
	if (g_error_matches(local, QDAMO_ERROR, QDAMO_ERROR_NO_DAMON))
		*ask = FALSE;
	else if (!g_error_matches(local, QDAMO_ERROR, QDAMO_ERROR_QMP)) {
		g_propagate_error(err, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;
}

/*
 * The idle-age histogram of monitor @id at QEMU's default bins, as
 * cumulative buckets in seconds (query-damon-idle).
 */
static gboolean collect_idle(QdamoMetrics *m, QdamoTarget *t, const char *id,
			     gboolean *ask, GError **err)
{
	g_autoptr(JsonObject) reply = NULL;
	JsonArray *bins;
	double sum;
	guint i;

	if (!optional_query(t, "query-damon-idle", id, ask, &reply, err))
		return FALSE;
	if (!reply)
		return TRUE;
	bins = qdamo_json_array(reply, "bins");
	sum = (double)qdamo_json_u64(reply, "accessed-bytes", 0);
	for (i = 0; bins && i < json_array_get_length(bins); i++) {
		JsonObject *b = json_array_get_object_element(bins, i);
		char le[G_ASCII_DTOSTR_BUF_SIZE];

		sum += (double)qdamo_json_u64(b, "bytes", 0);
		if (json_object_has_member(b, "max-age-ms"))
			g_ascii_formatd(le, sizeof(le), "%.9g",
					qdamo_json_u64(b, "max-age-ms", 0) / 1e3);
		else
			g_strlcpy(le, "+Inf", sizeof(le));
		qdamo_metrics_add(m, "qdamon_idle_bytes", sum, "domain", t->name,
				  "monitor", id, "le", le, NULL);
	}
	return TRUE;
}

/* The schemes of monitor @id (query-damon-schemes). */
static gboolean collect_schemes(QdamoMetrics *m, QdamoTarget *t, const char *id,
				gboolean *ask, GError **err)
{
	g_autoptr(JsonObject) reply = NULL;
	JsonArray *list;
	guint i;

	if (!optional_query(t, "query-damon-schemes", id, ask, &reply, err))
		return FALSE;
	if (!reply)
		return TRUE;
	list = qdamo_json_array(reply, "schemes");
	for (i = 0; list && i < json_array_get_length(list); i++)
		add_scheme(m, json_array_get_object_element(list, i), t->name, id);
	return TRUE;
}

/* Which of the newer commands this QEMU is still worth asking */
typedef struct {
	gboolean schemes, idle;
} Asks;

static gboolean collect_monitor(QdamoMetrics *m, QdamoTarget *t,
				JsonObject *mon, Asks *asks, GError **err)
{
	const char *dom = t->name, *id = qdamo_json_str(mon, "id", "?");
	JsonObject *attrs = qdamo_json_obj(mon, "attrs");
	uint64_t aggr_us = qdamo_json_u64(attrs, "aggr-us", 0);
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonObject) regions = NULL;
	g_autoptr(JsonObject) wss = NULL;
	g_autoptr(QdamoSnapshot) s = NULL;

	add_running(m, mon, dom, id);
	qdamo_metrics_add(m, "qdamon_monitored_bytes",
			  (double)qdamo_json_u64(mon, "monitored-bytes", 0),
			  "domain", dom, "monitor", id, NULL);
	qdamo_metrics_add(m, "qdamon_regions", (double)qdamo_json_u64(mon, "nr-regions", 0),
			  "domain", dom, "monitor", id, NULL);
	qdamo_metrics_add(m, "qdamon_aggregations_total",
			  (double)qdamo_json_u64(mon, "nr-aggregations", 0),
			  "domain", dom, "monitor", id, NULL);
	qdamo_metrics_add(m, "qdamon_monitor_cpu_seconds_total",
			  qdamo_json_u64(mon, "cpu-ns", 0) / 1e9,
			  "domain", dom, "monitor", id, NULL);
	qdamo_metrics_add(m, "qdamon_sample_interval_seconds",
			  qdamo_json_u64(attrs, "sample-us", 0) / 1e6,
			  "domain", dom, "monitor", id, NULL);
	qdamo_metrics_add(m, "qdamon_aggregation_interval_seconds", aggr_us / 1e6,
			  "domain", dom, "monitor", id, NULL);

	json_object_set_string_member(args, "id", id);
	wss = qdamo_execute_obj(t, "query-damon-wss", args, err);
	if (!wss)
		return FALSE;
	qdamo_metrics_add(m, "qdamon_wss_bytes", (double)qdamo_json_u64(wss, "wss-bytes", 0),
			  "domain", dom, "monitor", id, NULL);
	/* QEMU gives write-wss-bytes only with a write source */
	if (json_object_has_member(wss, "write-wss-bytes"))
		qdamo_metrics_add(m, "qdamon_write_wss_bytes",
				  (double)qdamo_json_u64(wss, "write-wss-bytes", 0),
				  "domain", dom, "monitor", id, NULL);
	regions = qdamo_execute_obj(t, "query-damon-regions", args, err);
	if (!regions)
		return FALSE;
	s = qdamo_snapshot_from_reply(regions, 0);
	add_age_classes(m, s, aggr_us, dom, id);
	return collect_idle(m, t, id, &asks->idle, err) &&
		collect_schemes(m, t, id, &asks->schemes, err);
}

gboolean qdamo_metrics_collect(QdamoMetrics *m, QdamoTarget *t, GError **err)
{
	g_autoptr(JsonArray) list = qdamo_execute_list(t, "query-damon", NULL, err);
	/* until this QEMU says it has no query-damon-schemes or -idle */
	Asks asks = { TRUE, TRUE };
	guint i;

	if (!list)
		return FALSE;
	for (i = 0; i < json_array_get_length(list); i++)
		if (!collect_monitor(m, t, json_array_get_object_element(list, i),
				     &asks, err))
			return FALSE;
	return TRUE;
}

char *qdamo_metrics_render(QdamoMetrics *m)
{
	GString *out = g_string_new(NULL);
	guint i;

	for (i = 0; i < G_N_ELEMENTS(families); i++) {
		if (!m->samples[i]->len)
			continue;
		g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s",
				       families[i].name, families[i].help,
				       families[i].name, families[i].type,
				       m->samples[i]->str);
	}
	return g_string_free(out, FALSE);
}
