// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-qdamo.c - unit tests of qdamo's parts that need no VM: the
 * command-line words, record files (with and without write counts),
 * the heatmap of accesses and of writes, the Prometheus text and what
 * the exporter collects (schemes too, and a QEMU without them), the QMP client against a fake QEMU on a unix
 * socket, and the idle-page source's pid files and pagemap.
 * test-idle-page.py runs "qdamo start --source idle-page" itself.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "error.h"
#include "heatmap.h"
#include "idle-page.h"
#include "jsonx.h"
#include "metrics.h"
#include "parse.h"
#include "record-file.h"
#include "target.h"

static void test_duration(void)
{
	static const struct {
		const char *text;
		uint64_t us;
	} ok[] = {
		{ "5ms", 5000 }, { "100ms", 100000 }, { "1s", 1000000 },
		{ "1.5s", 1500000 }, { "250us", 250 }, { "2m", 120000000 },
		{ "1000", 1000 }, { "1h", 3600000000ULL }, { "2000ns", 2 },
		{ "5 ms", 5000 },
	};
	static const char *const bad[] = { "", "ms", "5xs", "-1s", "1e300s", "nan" };
	guint i;

	for (i = 0; i < G_N_ELEMENTS(ok); i++) {
		uint64_t us = 0;

		g_assert_true(qdamo_parse_duration_us(ok[i].text, &us, NULL));
		g_assert_cmpuint(us, ==, ok[i].us);
	}
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;
		uint64_t us;

		g_assert_false(qdamo_parse_duration_us(bad[i], &us, &err));
		g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE);
	}
}

/* The -ms options: a bare number is milliseconds, a unit converts. */
static void test_duration_ms(void)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} ok[] = {
		{ "10", 10 }, { "0", 0 }, { "10ms", 10 }, { "1s", 1000 }, { "1.5s", 1500 },
		{ "2m", 120000 }, { "3000us", 3 },
	};
	static const char *const bad[] = { "", "1.5", "1.5ms", "10xs", "-1", "500us" };
	guint i;

	for (i = 0; i < G_N_ELEMENTS(ok); i++) {
		uint64_t ms = 0;

		g_assert_true(qdamo_parse_duration_ms(ok[i].text, &ms, NULL));
		g_assert_cmpuint(ms, ==, ok[i].ms);
	}
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;
		uint64_t ms;

		g_assert_false(qdamo_parse_duration_ms(bad[i], &ms, &err));
		g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE);
		g_assert_nonnull(strstr(err->message, "milliseconds"));
	}
}

/* QMP's uint64s of 2^63 and above, which json-glib holds as negative. */
static void test_json_u64(void)
{
	g_autoptr(JsonNode) n = qdamo_json_parse(
		"{\"max\": 18446744073709551615, \"big\": 9223372036854775808,"
		" \"s\": \"\\u0001qdamo-u64:5\", \"list\": [1, 18446744073709551614],"
		" \"small\": 4096}", -1, NULL);
	JsonObject *o = json_node_get_object(n);
	g_autofree char *text = qdamo_json_to_qmp_string(n, FALSE);
	g_autofree char *pretty = qdamo_json_to_qmp_string(n, TRUE);
	g_autoptr(JsonNode) plain = qdamo_json_parse("{\"a\": [1, 2]}", -1, NULL);
	g_autofree char *same = qdamo_json_to_qmp_string(plain, FALSE);

	g_assert_cmpuint(qdamo_json_qmp_u64(o, "max", 0), ==, G_MAXUINT64);
	g_assert_cmpuint(qdamo_json_qmp_u64(o, "big", 0), ==, G_GUINT64_CONSTANT(1) << 63);
	g_assert_cmpuint(qdamo_json_qmp_u64(o, "small", 0), ==, 4096);
	g_assert_cmpuint(qdamo_json_qmp_u64(o, "none", 7), ==, 7);
	/* the digits come back, in member order; a string that looks like a mark stays */
	g_assert_cmpstr(text, ==, "{\"max\":18446744073709551615,\"big\":9223372036854775808,"
			"\"s\":\"\\u0001qdamo-u64:5\",\"list\":[1,18446744073709551614],"
			"\"small\":4096}");
	g_assert_nonnull(strstr(pretty, "\"max\" : 18446744073709551615,\n"));
	g_assert_cmpstr(same, ==, "{\"a\":[1,2]}");
}

static void test_size_and_ranges(void)
{
	g_autoptr(GArray) r = NULL;
	g_autoptr(GError) err = NULL;
	uint64_t v, a, b;

	g_assert_true(qdamo_parse_size("4096", &v, NULL));
	g_assert_cmpuint(v, ==, 4096);
	g_assert_true(qdamo_parse_size("0x1000000", &v, NULL));
	g_assert_cmpuint(v, ==, 16 << 20);
	g_assert_true(qdamo_parse_size("16M", &v, NULL));
	g_assert_cmpuint(v, ==, 16 << 20);
	g_assert_true(qdamo_parse_size("4GiB", &v, NULL));
	g_assert_cmpuint(v, ==, 4ULL << 30);
	g_assert_false(qdamo_parse_size("M16", &v, NULL));
	g_assert_false(qdamo_parse_size("16Q", &v, NULL));
	g_assert_false(qdamo_parse_size("99999999999T", &v, NULL));

	r = qdamo_parse_ranges("16M-48M, 1G-0x80000000", NULL);
	g_assert_nonnull(r);
	g_assert_cmpuint(r->len, ==, 2);
	g_assert_cmpuint(g_array_index(r, QdamoRange, 0).start, ==, 16 << 20);
	g_assert_cmpuint(g_array_index(r, QdamoRange, 1).end, ==, 0x80000000);
	g_assert_null(qdamo_parse_ranges("48M-16M", &err));
	g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE);
	g_assert_null(qdamo_parse_ranges("16M", NULL));

	g_assert_true(qdamo_parse_pair("10,1000", &a, &b, NULL));
	g_assert_cmpuint(a, ==, 10);
	g_assert_cmpuint(b, ==, 1000);
	g_assert_false(qdamo_parse_pair("10", &a, &b, NULL));
	g_assert_false(qdamo_parse_pair("10,x", &a, &b, NULL));
}

static void test_percentiles(void)
{
	g_autoptr(GArray) p = qdamo_parse_percentiles("0, 50,100", NULL);

	g_assert_nonnull(p);
	g_assert_cmpuint(p->len, ==, 3);
	g_assert_cmpuint(g_array_index(p, guint8, 2), ==, 100);
	g_assert_null(qdamo_parse_percentiles("101", NULL));
	g_assert_null(qdamo_parse_percentiles("a", NULL));
}

static void test_format(void)
{
	static const struct {
		uint64_t us;
		const char *text;
	} d[] = {
		{ 250, "250 us" }, { 5000, "5 ms" }, { 1500, "1.5 ms" },
		{ 1000000, "1 s" }, { 1500000, "1.50 s" }, { 125000000, "2 min 5 s" },
		{ 300000000, "5 min" }, { 3600000000ULL, "1 h" },
		{ 5400000000ULL, "1 h 30 min" },
	};
	g_autofree char *s1 = qdamo_fmt_size(16 << 20, FALSE);
	g_autofree char *s2 = qdamo_fmt_size(16 << 20, TRUE);
	guint i;

	g_assert_cmpstr(s1, ==, "16.0 MiB");
	g_assert_cmpstr(s2, ==, "16777216");
	for (i = 0; i < G_N_ELEMENTS(d); i++) {
		g_autofree char *t = qdamo_fmt_duration_us(d[i].us, FALSE);

		g_assert_cmpstr(t, ==, d[i].text);
	}
}

/* A snapshot from the query-damon-regions reply @text, taken at @time_us. */
static QdamoSnapshot *snapshot_of(const char *text, int64_t time_us)
{
	g_autoptr(JsonNode) node = qdamo_json_parse(text, -1, NULL);

	g_assert_nonnull(node);
	return qdamo_snapshot_from_reply(json_node_get_object(node), time_us);
}

/*
 * A record of the monitor @monitor_json (its query-damon members) on the
 * QMP socket @target, with @n snapshots make(i * 100 ms, @arg).
 */
static QdamoRecord *record_of(const char *monitor_json, const char *target, guint n,
			      QdamoSnapshot *(*make)(int64_t, uint32_t), uint32_t arg)
{
	g_autoptr(JsonNode) node = qdamo_json_parse(monitor_json, -1, NULL);
	QdamoRecord *rec = qdamo_record_new(json_node_get_object(node));
	guint i;

	rec->target_kind = g_strdup("qmp");
	rec->target_name = g_strdup(target);
	rec->start_unix_us = 1700000000000000;
	for (i = 1; i <= n; i++)
		g_ptr_array_add(rec->snapshots, make(i * 100000, arg));
	return rec;
}

/* Three regions: cold [0, 16M), hot [16M, 32M), cold [32M, 64M). */
static QdamoSnapshot *make_snapshot(int64_t time_us, uint32_t hot)
{
	g_autofree char *text = g_strdup_printf(
		"{\"nr-aggregations\": %" G_GINT64_FORMAT ", \"max-nr-accesses\": 20,"
		" \"total-bytes\": 67108864, \"regions\": ["
		"{\"start\": 0, \"end\": 16777216, \"nr-accesses\": 0, \"age\": 5},"
		"{\"start\": 16777216, \"end\": 33554432, \"nr-accesses\": %u, \"age\": 7},"
		"{\"start\": 33554432, \"end\": 67108864, \"nr-accesses\": 0, \"age\": 700}]}",
		time_us / 100000, hot);

	return snapshot_of(text, time_us);
}

static QdamoRecord *make_record(guint n)
{
	return record_of("{\"id\": \"damon0\", \"source\": \"page-hash\","
			 " \"clock\": \"realtime\","
			 " \"attrs\": {\"sample-us\": 5000, \"aggr-us\": 100000,"
			 " \"update-us\": 1000000, \"min-nr-regions\": 10,"
			 " \"max-nr-regions\": 1000}}",
			 "/tmp/x \"quoted\".sock", n, make_snapshot, 20);
}

/*
 * Like make_snapshot() with a write source: [16M, 32M) is accessed in
 * every sample and written in @written of them; [0, 16M) is never
 * accessed, [32M, 64M) read in 10 samples and never written.
 */
static QdamoSnapshot *make_write_snapshot(int64_t time_us, uint32_t written)
{
	g_autofree char *text = g_strdup_printf(
		"{\"nr-aggregations\": %" G_GINT64_FORMAT ", \"max-nr-accesses\": 20,"
		" \"total-bytes\": 67108864, \"regions\": ["
		"{\"start\": 0, \"end\": 16777216, \"nr-accesses\": 0,"
		" \"nr-writes\": 0, \"age\": 5},"
		"{\"start\": 16777216, \"end\": 33554432, \"nr-accesses\": 20,"
		" \"nr-writes\": %u, \"age\": 7},"
		"{\"start\": 33554432, \"end\": 67108864, \"nr-accesses\": 10,"
		" \"nr-writes\": 0, \"age\": 700}]}",
		time_us / 100000, written);

	return snapshot_of(text, time_us);
}

/* A record of a monitor with a write source: [16M, 32M) written a quarter. */
static QdamoRecord *make_write_record(guint n)
{
	return record_of("{\"id\": \"rw\", \"source\": \"tcg-accessed\","
			 " \"write-source\": \"dirty-bitmap\", \"clock\": \"realtime\","
			 " \"attrs\": {\"sample-us\": 5000, \"aggr-us\": 100000,"
			 " \"update-us\": 1000000, \"min-nr-regions\": 10,"
			 " \"max-nr-regions\": 1000}}",
			 "/tmp/rw.sock", n, make_write_snapshot, 5);
}

/* Write @rec to @path through the writer, as qdamo record does. */
static void write_record(const QdamoRecord *rec, const char *path)
{
	g_autoptr(GError) err = NULL;
	QdamoRecordWriter *w = qdamo_record_writer_open(path, rec, &err);
	guint i;

	g_assert_no_error(err);
	for (i = 0; i < rec->snapshots->len; i++)
		g_assert_true(qdamo_record_writer_add(w, g_ptr_array_index(rec->snapshots, i),
						      &err));
	g_assert_true(qdamo_record_writer_close(w, &err));
	g_assert_no_error(err);
}

static void test_snapshot_wss(void)
{
	g_autoptr(QdamoSnapshot) s = make_snapshot(100000, 10);

	g_assert_cmpuint(s->regions->len, ==, 3);
	g_assert_cmpuint(qdamo_snapshot_wss(s, 1), ==, 16 << 20);
	g_assert_cmpuint(qdamo_snapshot_wss(s, 11), ==, 0);
}

/* nr-writes and write-source: present only with a write source */
static void test_snapshot_writes(void)
{
	g_autoptr(QdamoSnapshot) plain = make_snapshot(100000, 10);
	g_autoptr(QdamoSnapshot) s = NULL;
	g_autoptr(JsonNode) node = qdamo_json_parse(
		"{\"nr-aggregations\": 3, \"max-nr-accesses\": 20,"
		" \"total-bytes\": 8192, \"regions\": ["
		"{\"start\": 0, \"end\": 4096, \"nr-accesses\": 20,"
		" \"nr-writes\": 0, \"age\": 1},"
		"{\"start\": 4096, \"end\": 8192, \"nr-accesses\": 20,"
		" \"nr-writes\": 17, \"age\": 2}]}", -1, NULL);
	g_autoptr(JsonNode) m1 = qdamo_json_parse(
		"{\"id\": \"a\", \"source\": \"dirty-bitmap\"}", -1, NULL);
	g_autoptr(JsonNode) m2 = qdamo_json_parse(
		"{\"id\": \"b\", \"source\": \"tcg-accessed\","
		" \"write-source\": \"dirty-bitmap\"}", -1, NULL);
	g_autofree char *t1 = qdamo_monitor_sources(json_node_get_object(m1));
	g_autofree char *t2 = qdamo_monitor_sources(json_node_get_object(m2));

	g_assert_false(plain->has_writes);
	g_assert_cmpuint(g_array_index(plain->regions, QdamoRegion, 1).nr_writes, ==, 0);
	g_assert_nonnull(node);
	s = qdamo_snapshot_from_reply(json_node_get_object(node), 0);
	g_assert_true(s->has_writes);
	g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 0).nr_writes, ==, 0);
	g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 1).nr_writes, ==, 17);
	g_assert_cmpstr(t1, ==, "dirty-bitmap");
	g_assert_cmpstr(t2, ==, "tcg-accessed+dirty-bitmap");
}

static void test_record_roundtrip(void)
{
	g_autoptr(QdamoRecord) rec = make_record(5);
	g_autoptr(QdamoRecord) back = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "rec.json", NULL);
	g_autofree char *part = g_strdup_printf("%s.part", path);
	QdamoRecordWriter *w;
	QdamoSnapshot *s;
	guint i;

	w = qdamo_record_writer_open(path, rec, &err);
	g_assert_no_error(err);
	for (i = 0; i < rec->snapshots->len; i++) {
		g_assert_true(qdamo_record_writer_add(w, g_ptr_array_index(rec->snapshots, i),
						      &err));
		/* until closed, only the .part file exists */
		g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	}
	g_assert_true(qdamo_record_writer_close(w, &err));
	g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));

	/* no write counts: version 1, regions as an older qdamo reads them */
	{
		g_autofree char *text = NULL;

		g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
		g_assert_nonnull(strstr(text, "\"version\":1,"));
		g_assert_nonnull(strstr(text, "[16777216, 33554432, 20, 7]"));
		g_assert_null(strstr(text, "write-source"));
	}
	back = qdamo_record_load(path, &err);
	g_assert_no_error(err);
	g_assert_null(back->write_source);
	g_assert_false(((QdamoSnapshot *)g_ptr_array_index(back->snapshots, 0))->has_writes);
	g_assert_cmpstr(back->target_name, ==, rec->target_name);
	g_assert_cmpstr(back->source, ==, "page-hash");
	g_assert_cmpuint(back->aggr_us, ==, 100000);
	g_assert_cmpint(back->start_unix_us, ==, rec->start_unix_us);
	g_assert_cmpuint(back->snapshots->len, ==, 5);
	s = g_ptr_array_index(back->snapshots, 4);
	g_assert_cmpint(s->time_us, ==, 500000);
	g_assert_cmpuint(s->max_nr_accesses, ==, 20);
	g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 2).age, ==, 700);
	g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 1).start, ==, 16 << 20);
	g_unlink(path);
	g_rmdir(dir);
}

/* Write counts: version 2, a fifth member per region, read back. */
static void test_record_writes_roundtrip(void)
{
	g_autoptr(QdamoRecord) rec = make_write_record(3);
	g_autoptr(QdamoRecord) back = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "rw.json", NULL);
	g_autofree char *text = NULL;
	QdamoSnapshot *s = NULL;
	guint i;

	g_assert_cmpstr(rec->write_source, ==, "dirty-bitmap");
	write_record(rec, path);
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "\"version\":2,"));
	g_assert_nonnull(strstr(text, "\"write-source\":\"dirty-bitmap\""));
	g_assert_nonnull(strstr(text, "[16777216, 33554432, 20, 7, 5]"));

	back = qdamo_record_load(path, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(back->write_source, ==, "dirty-bitmap");
	g_assert_cmpstr(back->source, ==, "tcg-accessed");
	g_assert_cmpuint(back->snapshots->len, ==, 3);
	for (i = 0; i < back->snapshots->len; i++) {
		s = g_ptr_array_index(back->snapshots, i);
		g_assert_true(s->has_writes);
		g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 1).nr_writes, ==, 5);
		g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 1).nr_accesses, ==, 20);
		g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 2).nr_writes, ==, 0);
		g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 2).age, ==, 700);
	}
	/* the written quarter of [16M, 32M); [32M, 64M) is only read */
	g_assert_cmpuint(qdamo_snapshot_write_wss(s, 1), ==, 4 << 20);
	g_assert_cmpuint(qdamo_snapshot_wss(s, 1), ==, 48 << 20);
	g_unlink(path);
	g_rmdir(dir);
}

/* A version 1 file as an older qdamo wrote it (docs/record-format.md). */
static void test_record_old(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "old.json", NULL);
	g_autoptr(QdamoRecord) rec = NULL;
	g_autoptr(GError) err = NULL;
	QdamoSnapshot *s;

	g_assert_true(g_file_set_contents(path,
		"{\"format\":\"qdamo-record\",\"version\":1,\n"
		" \"target\":{\"kind\":\"libvirt\",\"name\":\"vm1\",\"uri\":\"qemu:///system\"},\n"
		" \"monitor\":{\"id\":\"damon0\",\"source\":\"dirty-bitmap\",\n"
		"            \"clock\":\"realtime\",\n"
		"            \"attrs\":{\"sample-us\":5000,\"aggr-us\":100000,\n"
		"                     \"update-us\":1000000,\n"
		"                     \"min-nr-regions\":10,\"max-nr-regions\":1000}},\n"
		" \"start-unix-us\":1795441988282833,\"start-time\":\"2026-11-23T13:53:08Z\",\n"
		"\"snapshots\": [\n"
		"{\"time-us\": 1143, \"nr-aggregations\": 87, \"max-nr-accesses\": 20, "
		"\"total-bytes\": 268238848, \"regions\": [[0, 786432, 0, 10], "
		"[16773120, 16781312, 4, 0]]}\n"
		"]}\n", -1, NULL));
	rec = qdamo_record_load(path, &err);
	g_assert_no_error(err);
	g_assert_null(rec->write_source);
	g_assert_cmpuint(rec->snapshots->len, ==, 1);
	s = g_ptr_array_index(rec->snapshots, 0);
	g_assert_false(s->has_writes);
	g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 1).nr_accesses, ==, 4);
	g_assert_cmpuint(g_array_index(s->regions, QdamoRegion, 1).nr_writes, ==, 0);
	g_unlink(path);
	g_rmdir(dir);
}

static void test_record_bad(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "bad.json", NULL);
	g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
	g_autoptr(GError) e6 = NULL, e7 = NULL;

	g_assert_null(qdamo_record_load(path, &e1));
	g_assert_error(e1, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_file_set_contents(path, "[1, 2]", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e2));
	g_assert_error(e2, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_file_set_contents(path, "{\"format\": \"qdamo-record\", \"version\": 1, "
			    "\"snapshots\": [{\"regions\": [[2, 1, 0, 0]]}]}", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e3));
	g_assert_nonnull(strstr(e3->message, "ends before"));
	/* version 2 regions have five members, version 1 four */
	g_file_set_contents(path, "{\"format\": \"qdamo-record\", \"version\": 2, "
			    "\"snapshots\": [{\"regions\": [[0, 1, 0, 0]]}]}", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e4));
	g_assert_nonnull(strstr(e4->message, "nr-writes] (version 2)"));
	g_file_set_contents(path, "{\"format\": \"qdamo-record\", \"version\": 1, "
			    "\"snapshots\": [{\"regions\": [[0, 1, 0, 0, 0]]}]}", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e5));
	g_assert_error(e5, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_file_set_contents(path, "{\"format\": \"qdamo-record\", \"version\": 2, "
			    "\"snapshots\": [{\"regions\": [[0, 1, 3, 0, 4]]}]}", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e6));
	g_assert_nonnull(strstr(e6->message, "more writes than accesses"));
	g_file_set_contents(path, "{\"format\": \"qdamo-record\", \"version\": 3, "
			    "\"snapshots\": []}", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e7));
	g_assert_nonnull(strstr(e7->message, "is a version 3 record; this qdamo reads "
				"versions 1 and 2"));
	g_unlink(path);
	g_rmdir(dir);
}

static void test_heatmap(void)
{
	g_autoptr(QdamoRecord) rec = make_record(10);
	g_autoptr(QdamoHeatmap) h = NULL;
	guint row, col;

	/* 4 rows of 16 MiB: row 1 is the hot region */
	h = qdamo_heatmap_build(rec, QDAMO_HEATMAP_ACCESSES, 5, 4, 0, 0, 0, 0, NULL);
	g_assert_nonnull(h);
	g_assert_cmpuint(h->addr_end, ==, 64 << 20);
	for (col = 0; col < 5; col++)
		for (row = 0; row < 4; row++)
			g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(h, row, col),
						       row == 1 ? 1.0 : 0.0, 1e-6);
	qdamo_heatmap_free(g_steal_pointer(&h));

	/* one 64 MiB row: a quarter of it hot, so a quarter of the rate */
	h = qdamo_heatmap_build(rec, QDAMO_HEATMAP_ACCESSES, 2, 1, 0, 0, 0, 0, NULL);
	g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(h, 0, 0), 0.25, 1e-6);
	qdamo_heatmap_free(g_steal_pointer(&h));

	/* more time bins than snapshots: empty bins repeat the last one */
	h = qdamo_heatmap_build(rec, QDAMO_HEATMAP_ACCESSES, 40, 4, 0, 0, 0, 0, NULL);
	for (col = 0; col < 40; col++)
		g_assert_cmpfloat(qdamo_heatmap_at(h, 1, col), >=, 0);
	qdamo_heatmap_free(g_steal_pointer(&h));

	/* an address range beyond the record: no data anywhere */
	h = qdamo_heatmap_build(rec, QDAMO_HEATMAP_ACCESSES, 2, 2, 1ULL << 30, 2ULL << 30,
				0, 0, NULL);
	g_assert_cmpfloat(qdamo_heatmap_at(h, 0, 1), <, 0);
}

/* Accesses and writes of one record: the written quarter shows faint. */
static void test_heatmap_writes(void)
{
	g_autoptr(QdamoRecord) rec = make_write_record(10);
	g_autoptr(QdamoRecord) plain = make_record(3);
	g_autoptr(QdamoHeatmap) acc = NULL, wr = NULL;
	g_autoptr(GError) err = NULL;
	guint row, col, differ = 0;

	/* 4 rows of 16 MiB: row 1 the hot, quarter-written region */
	acc = qdamo_heatmap_build(rec, QDAMO_HEATMAP_ACCESSES, 5, 4, 0, 0, 0, 0, NULL);
	wr = qdamo_heatmap_build(rec, QDAMO_HEATMAP_WRITES, 5, 4, 0, 0, 0, 0, NULL);
	g_assert_nonnull(acc);
	g_assert_nonnull(wr);
	for (col = 0; col < 5; col++) {
		g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(acc, 1, col), 1.0, 1e-6);
		g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(wr, 1, col), 0.25, 1e-6);
		g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(acc, 2, col), 0.5, 1e-6);
		g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(wr, 2, col), 0.0, 1e-6);
		g_assert_cmpint(qdamo_heatmap_shade(qdamo_heatmap_at(acc, 1, col)), ==, '@');
		g_assert_cmpint(qdamo_heatmap_shade(qdamo_heatmap_at(wr, 1, col)), ==, '-');
		for (row = 0; row < 4; row++)
			differ += qdamo_heatmap_shade(qdamo_heatmap_at(acc, row, col)) !=
				  qdamo_heatmap_shade(qdamo_heatmap_at(wr, row, col));
	}
	g_assert_cmpuint(differ, ==, 15);	/* rows 1 to 3 */

	/* a record without write counts has no write heatmap */
	g_assert_null(qdamo_heatmap_build(plain, QDAMO_HEATMAP_WRITES, 5, 4, 0, 0, 0, 0,
					  &err));
	g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_assert_nonnull(strstr(err->message, "no write counts"));
}

static void test_metrics_text(void)
{
	g_autoptr(QdamoMetrics) m = qdamo_metrics_new();
	g_autofree char *text = NULL;
	const char *a, *b, *c;

	qdamo_metrics_add(m, "qdamon_wss_bytes", 16777216, "domain", "vm\"1",
			  "monitor", "damon0", NULL);
	qdamo_metrics_add(m, "qdamon_target_up", 1, "domain", "vm\"1", NULL);
	qdamo_metrics_add(m, "qdamon_wss_bytes", 4096, "domain", "vm2",
			  "monitor", "damon0", NULL);
	text = qdamo_metrics_render(m);
	/* families grouped, in the table's order, whatever the add order */
	a = strstr(text, "# TYPE qdamon_target_up gauge");
	b = strstr(text, "qdamon_wss_bytes{domain=\"vm\\\"1\",monitor=\"damon0\"} 16777216\n");
	c = strstr(text, "qdamon_wss_bytes{domain=\"vm2\",monitor=\"damon0\"} 4096\n");
	g_assert_nonnull(a);
	g_assert_nonnull(b);
	g_assert_nonnull(c);
	g_assert_true(a < b && b < c);
	g_assert_null(strstr(text, "qdamon_regions"));
}

/* ---- what the exporter collects, from a target that answers from a table ---- */

/*
 * query-damon-schemes: "rw" has a pageout scheme with watermarks and a
 * quota that skipped bytes, and an unlimited stat scheme; "plain" has
 * none.  NULL: what the reply is when the test sets canned_schemes.
 */
static const char *const rw_schemes =
	"{\"return\": {\"id\": \"rw\", \"schemes\": ["
	"{\"index\": 0, \"active\": true, \"watermark-value\": 612,"
	" \"scheme\": {\"action\": \"pageout\", \"access-pattern\": {\"sz-min\": 4096,"
	"   \"sz-max\": 18446744073709551615}},"
	" \"effective-quota-bytes\": 268435456,"
	" \"stats\": {\"nr-tried\": 12, \"sz-tried\": 201326592, \"nr-applied\": 11,"
	"   \"sz-applied\": 188743680, \"qt-exceeds\": 3},"
	" \"skipped\": [{\"reason\": \"young\", \"bytes\": 8388608},"
	"   {\"reason\": \"failed\", \"bytes\": 4096, \"last-error\": \"EIO\"},"
	"   {\"reason\": \"x-newer\", \"bytes\": 512}]},"
	"{\"index\": 1, \"active\": false, \"scheme\": {\"action\": \"stat\"},"
	" \"stats\": {\"nr-tried\": 40, \"sz-tried\": 10995116277760, \"nr-applied\": 40,"
	"   \"sz-applied\": 10995116277760, \"qt-exceeds\": 0},"
	" \"skipped\": []}]}}";
static const char *canned_schemes;
/* query-damon-idle's reply when set; NULL: the histogram of 5 bins */
static const char *canned_idle;

/* Two monitors: "rw" has a write source, "plain" has none. */
static JsonObject *canned_command(QdamoTarget *t, const char *json, GError **err)
{
	g_autoptr(JsonNode) req = qdamo_json_parse(json, -1, NULL);
	JsonObject *o = json_node_get_object(req);
	const char *cmd = qdamo_json_str(o, "execute", "");
	const char *id = qdamo_json_str(qdamo_json_obj(o, "arguments"), "id", "");
	gboolean rw = !strcmp(id, "rw");
	g_autofree char *reply = NULL;
	g_autoptr(JsonNode) node = NULL;

	if (!strcmp(cmd, "query-damon"))
		reply = g_strdup(
			"{\"return\": [{\"id\": \"rw\", \"state\": \"running\","
			" \"source\": \"tcg-accessed\", \"write-source\": \"dirty-bitmap\","
			" \"clock\": \"realtime\", \"attrs\": {\"sample-us\": 5000,"
			" \"aggr-us\": 100000}, \"monitored-bytes\": 67108864},"
			" {\"id\": \"plain\", \"state\": \"running\","
			" \"source\": \"dirty-bitmap\", \"clock\": \"realtime\","
			" \"attrs\": {\"sample-us\": 5000, \"aggr-us\": 100000},"
			" \"monitored-bytes\": 67108864}]}");
	else if (!strcmp(cmd, "query-damon-wss"))
		reply = g_strdup_printf("{\"return\": {\"wss-bytes\": 50331648%s}}",
					rw ? ", \"write-wss-bytes\": 4194304" : "");
	else if (!strcmp(cmd, "query-damon-regions"))
		reply = g_strdup_printf(
			"{\"return\": {\"nr-aggregations\": 9, \"max-nr-accesses\": 20,"
			" \"total-bytes\": 67108864, \"regions\": ["
			"{\"start\": 0, \"end\": 16777216, \"nr-accesses\": 0, \"age\": 5%s},"
			"{\"start\": 16777216, \"end\": 33554432, \"nr-accesses\": 20,"
			" \"age\": 7%s},"
			"{\"start\": 33554432, \"end\": 67108864, \"nr-accesses\": 10,"
			" \"age\": 700%s}]}}", rw ? ", \"nr-writes\": 0" : "",
			rw ? ", \"nr-writes\": 5" : "", rw ? ", \"nr-writes\": 0" : "");
	else if (!strcmp(cmd, "query-damon-idle") && canned_idle)
		reply = g_strdup(canned_idle);
	else if (!strcmp(cmd, "query-damon-idle"))
		reply = g_strdup(
			"{\"return\": {\"id\": \"x\", \"nr-aggregations\": 9,"
			" \"accessed-bytes\": 33554432, \"total-bytes\": 67108864,"
			" \"bins\": [{\"max-age-ms\": 1000, \"bytes\": 8388608, \"nr-regions\": 1},"
			" {\"max-age-ms\": 10000, \"bytes\": 0, \"nr-regions\": 0},"
			" {\"max-age-ms\": 60000, \"bytes\": 16777216, \"nr-regions\": 2},"
			" {\"max-age-ms\": 300000, \"bytes\": 0, \"nr-regions\": 0},"
			" {\"bytes\": 8388608, \"nr-regions\": 1}]}}");
	else if (!strcmp(cmd, "query-damon-schemes") && canned_schemes)
		reply = g_strdup(canned_schemes);
	else if (!strcmp(cmd, "query-damon-schemes"))
		reply = g_strdup(rw ? rw_schemes :
				 "{\"return\": {\"id\": \"plain\", \"schemes\": []}}");
	else
		reply = g_strdup("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}}");
	node = qdamo_json_parse(reply, -1, err);
	return json_object_ref(json_node_get_object(node));
}

static const QdamoTargetOps canned_ops = { .command = canned_command };

static void test_metrics_writes(void)
{
	g_autoptr(QdamoMetrics) m = qdamo_metrics_new();
	QdamoTarget t = { .ops = &canned_ops, .name = (char *)"vm1",
			  .label = (char *)"domain 'vm1'" };
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;

	g_assert_true(qdamo_metrics_collect(m, &t, &err));
	g_assert_no_error(err);
	text = qdamo_metrics_render(m);
	g_test_message("%s", text);
	/* the written counterparts, beside the access ones, for rw only */
#define RW "{domain=\"vm1\",monitor=\"rw\""
#define PLAIN "{domain=\"vm1\",monitor=\"plain\""
	g_assert_nonnull(strstr(text, "qdamon_wss_bytes" RW "} 50331648\n"));
	g_assert_nonnull(strstr(text, "# TYPE qdamon_write_wss_bytes gauge\n"));
	g_assert_nonnull(strstr(text, "qdamon_write_wss_bytes" RW "} 4194304\n"));
	g_assert_nonnull(strstr(text, "qdamon_hot_bytes" RW ",age=\"0-1s\"} 16777216\n"));
	g_assert_nonnull(strstr(text, "qdamon_hot_bytes" RW ",age=\"1m-10m\"} 33554432\n"));
	g_assert_nonnull(strstr(text, "qdamon_written_bytes" RW ",age=\"0-1s\"} 16777216\n"));
	g_assert_nonnull(strstr(text, "qdamon_written_bytes" RW ",age=\"1m-10m\"} 0\n"));
	g_assert_nonnull(strstr(text, "qdamon_monitor_running" RW ",source=\"tcg-accessed\","
				"write_source=\"dirty-bitmap\",clock=\"realtime\"} 1\n"));
	g_assert_nonnull(strstr(text, "qdamon_monitor_running" PLAIN
				",source=\"dirty-bitmap\",clock=\"realtime\"} 1\n"));
	g_assert_nonnull(strstr(text, "qdamon_wss_bytes" PLAIN "}"));
	g_assert_null(strstr(text, "qdamon_write_wss_bytes" PLAIN "}"));
	g_assert_null(strstr(text, "qdamon_written_bytes" PLAIN));
#undef RW
#undef PLAIN
}

/* The scheme series: "rw"'s two schemes, "plain" without any. */
static void test_metrics_schemes(void)
{
	g_autoptr(QdamoMetrics) m = qdamo_metrics_new();
	QdamoTarget t = { .ops = &canned_ops, .name = (char *)"vm1",
			  .label = (char *)"domain 'vm1'" };
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;

	canned_schemes = NULL;
	g_assert_true(qdamo_metrics_collect(m, &t, &err));
	g_assert_no_error(err);
	text = qdamo_metrics_render(m);
	g_test_message("%s", text);
#define S0 "{domain=\"vm1\",monitor=\"rw\",scheme=\"0\",action=\"pageout\""
#define S1 "{domain=\"vm1\",monitor=\"rw\",scheme=\"1\",action=\"stat\""
	g_assert_nonnull(strstr(text, "# TYPE qdamon_scheme_tried_bytes_total counter\n"));
	g_assert_nonnull(strstr(text, "# TYPE qdamon_scheme_active gauge\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_active" S0 "} 1\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_active" S1 "} 0\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_watermark_value" S0 "} 612\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_effective_quota_bytes" S0 "} 268435456\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_tried_regions_total" S0 "} 12\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_tried_bytes_total" S0 "} 201326592\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_applied_regions_total" S0 "} 11\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_applied_bytes_total" S0 "} 188743680\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_quota_exceeds_total" S0 "} 3\n"));
	/* 10 TiB: whole, not rounded to 6 digits */
	g_assert_nonnull(strstr(text, "qdamon_scheme_tried_bytes_total" S1 "} 10995116277760\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_quota_exceeds_total" S1 "} 0\n"));
	/* every reason QEMU knows, 0 until it happens, and a newer one kept */
	g_assert_nonnull(strstr(text, "qdamon_scheme_skipped_bytes_total" S0
				",reason=\"young\"} 8388608\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_skipped_bytes_total" S0
				",reason=\"failed\"} 4096\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_skipped_bytes_total" S0
				",reason=\"migration\"} 0\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_skipped_bytes_total" S0
				",reason=\"x-newer\"} 512\n"));
	g_assert_nonnull(strstr(text, "qdamon_scheme_skipped_bytes_total" S1
				",reason=\"not-ram\"} 0\n"));
	/* an unlimited scheme without watermarks: no quota or watermark series */
	g_assert_null(strstr(text, "qdamon_scheme_effective_quota_bytes" S1));
	g_assert_null(strstr(text, "qdamon_scheme_watermark_value" S1));
	g_assert_null(strstr(text, "monitor=\"plain\",scheme="));
	g_assert_nonnull(strstr(text, "qdamon_wss_bytes{domain=\"vm1\",monitor=\"rw\"} 50331648\n"));
#undef S0
#undef S1
}

/*
 * The idle-age histogram as cumulative buckets in seconds: accessed
 * bytes count in every one, +Inf is all of them.
 */
static void test_metrics_idle(void)
{
	static const char *const missing[] = {
		"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
		"query-damon-idle has not been found\"}}",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"not now\"}}",
	};
	QdamoTarget t = { .ops = &canned_ops, .name = (char *)"vm1",
			  .label = (char *)"domain 'vm1'" };
	g_autoptr(QdamoMetrics) m = qdamo_metrics_new();
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;
	guint i;

	canned_idle = NULL;
	g_assert_true(qdamo_metrics_collect(m, &t, &err));
	g_assert_no_error(err);
	text = qdamo_metrics_render(m);
	g_test_message("%s", text);
#define IDLE "qdamon_idle_bytes{domain=\"vm1\",monitor=\"plain\","
	g_assert_nonnull(strstr(text, "# TYPE qdamon_idle_bytes gauge\n"));
	g_assert_nonnull(strstr(text, IDLE "le=\"1\"} 41943040\n"
				IDLE "le=\"10\"} 41943040\n"
				IDLE "le=\"60\"} 58720256\n"
				IDLE "le=\"300\"} 58720256\n"
				IDLE "le=\"+Inf\"} 67108864\n"));
	g_assert_nonnull(strstr(text, "qdamon_idle_bytes{domain=\"vm1\",monitor=\"rw\","
				"le=\"+Inf\"} 67108864\n"));
#undef IDLE
	/* a QEMU without it, or refusing it: no idle series, the others kept */
	for (i = 0; i < G_N_ELEMENTS(missing); i++) {
		g_autoptr(QdamoMetrics) m2 = qdamo_metrics_new();
		g_autofree char *text2 = NULL;

		canned_idle = missing[i];
		g_assert_true(qdamo_metrics_collect(m2, &t, &err));
		g_assert_no_error(err);
		text2 = qdamo_metrics_render(m2);
		g_assert_null(strstr(text2, "qdamon_idle_bytes"));
		g_assert_nonnull(strstr(text2, "qdamon_wss_bytes{domain=\"vm1\",monitor=\"plain\"} "));
		g_assert_nonnull(strstr(text2, "qdamon_scheme_active{domain=\"vm1\",monitor=\"rw\""));
	}
	canned_idle = NULL;
}

/*
 * A QEMU without query-damon-schemes (CommandNotFound), or one that
 * refuses it (GenericError): the monitors' other series, no scheme
 * series, no failure.
 */
static void test_metrics_schemes_missing(void)
{
	static const char *const replies[] = {
		"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
		"query-damon-schemes has not been found\"}}",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"not now\"}}",
	};
	QdamoTarget t = { .ops = &canned_ops, .name = (char *)"vm1",
			  .label = (char *)"domain 'vm1'" };
	guint i;

	for (i = 0; i < G_N_ELEMENTS(replies); i++) {
		g_autoptr(QdamoMetrics) m = qdamo_metrics_new();
		g_autoptr(GError) err = NULL;
		g_autofree char *text = NULL;

		canned_schemes = replies[i];
		g_assert_true(qdamo_metrics_collect(m, &t, &err));
		g_assert_no_error(err);
		text = qdamo_metrics_render(m);
		g_assert_null(strstr(text, "qdamon_scheme_"));
		g_assert_nonnull(strstr(text, "qdamon_wss_bytes{domain=\"vm1\",monitor=\"rw\"} "));
		g_assert_nonnull(strstr(text, "qdamon_wss_bytes{domain=\"vm1\",monitor=\"plain\"} "));
	}
	canned_schemes = NULL;
}

/* ---- idle-page: QEMU's pid from libvirt's pid file, and its pagemap ---- */

static void test_libvirt_pid_file(void)
{
	g_autofree char *sys = qdamo_libvirt_pid_file("qemu:///system", "vm1", NULL);
	g_autofree char *unx = qdamo_libvirt_pid_file("qemu+unix:///system", "vm1", NULL);
	g_autofree char *ses = qdamo_libvirt_pid_file("qemu:///session", "vm1", NULL);
	g_autofree char *want = g_build_filename(g_get_user_runtime_dir(), "libvirt",
						 "qemu", "run", "vm1.pid", NULL);
	g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;

	g_assert_cmpstr(sys, ==, "/run/libvirt/qemu/vm1.pid");
	g_assert_cmpstr(unx, ==, "/run/libvirt/qemu/vm1.pid");
	g_assert_cmpstr(ses, ==, want);
	/* another host's pid, or another hypervisor's, is no use */
	g_assert_null(qdamo_libvirt_pid_file("qemu+ssh://host/system", "vm1", &e1));
	g_assert_nonnull(strstr(e1->message, "run qdamo on the VM's host"));
	g_assert_null(qdamo_libvirt_pid_file("xen:///system", "vm1", &e2));
	g_assert_error(e2, QDAMO_ERROR, QDAMO_ERROR_USAGE);
	g_assert_null(qdamo_libvirt_pid_file("qemu:///system", "../x", &e3));
	g_assert_error(e3, QDAMO_ERROR, QDAMO_ERROR_USAGE);
}

static void test_pid_file(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "vm1.pid", NULL);
	g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
	pid_t pid = 0;

	g_assert_false(qdamo_read_pid_file(path, -1, &pid, &e1));
	g_assert_error(e1, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_assert_nonnull(strstr(e1->message, "QEMU's pid not found: no "));
	g_assert_nonnull(strstr(e1->message, path));
	g_assert_true(g_file_set_contents(path, "4242\n", -1, NULL));
	g_assert_true(qdamo_read_pid_file(path, (int)getuid(), &pid, NULL));
	g_assert_cmpint(pid, ==, 4242);
	/* a pid file someone else wrote is not libvirt's */
	g_assert_false(qdamo_read_pid_file(path, (int)getuid() + 1, &pid, &e2));
	g_assert_nonnull(strstr(e2->message, "refusing to take QEMU's pid from it"));
	g_assert_true(g_file_set_contents(path, "qemu\n", -1, NULL));
	g_assert_false(qdamo_read_pid_file(path, -1, &pid, &e3));
	g_assert_nonnull(strstr(e3->message, "holds no pid"));
	g_unlink(path);
	g_rmdir(dir);
}

static void test_idle_pagemap(void)
{
	g_auto(QdamoIdleFiles) f = QDAMO_IDLE_FILES_INIT;
	g_auto(QdamoIdleFiles) gone = QDAMO_IDLE_FILES_INIT;
	g_autoptr(GError) err = NULL;
	g_autofree char *mine = g_strdup_printf("/proc/%ld/pagemap", (long)getpid());
	pid_t child = fork();

	/* a pid that was QEMU's: a child that has exited and been reaped */
	if (!child)
		_exit(0);
	g_assert_cmpint(child, >, 0);
	g_assert_cmpint(waitpid(child, NULL, 0), ==, child);
	g_assert_true(qdamo_idle_files_open_pagemap(&f, getpid(), "a test", &err));
	g_assert_no_error(err);
	g_assert_cmpint(f.pagemap_fd, >=, 0);
	g_assert_cmpstr(f.pagemap_path, ==, mine);
	g_assert_false(qdamo_idle_files_open_pagemap(&gone, child, "the test's child", &err));
	g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_assert_nonnull(strstr(err->message, "QEMU's pid not found"));
	g_assert_nonnull(strstr(err->message, "the test's child"));
}

/* The bitmap first: this host's answer, or the test-only override's. */
static void test_idle_bitmap(void)
{
	g_auto(QdamoIdleFiles) f = QDAMO_IDLE_FILES_INIT;
	g_autoptr(GError) err = NULL;
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	g_autofree char *missing = g_build_filename(dir, "no-bitmap", NULL);

	g_setenv(QDAMO_TEST_IDLE_BITMAP_ENV, missing, TRUE);
	g_assert_cmpstr(qdamo_idle_bitmap_path(), ==, missing);
	g_assert_false(qdamo_idle_files_open_host(&f, &err));
	g_unsetenv(QDAMO_TEST_IDLE_BITMAP_ENV);
	g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_assert_nonnull(strstr(err->message, missing));
	g_assert_nonnull(strstr(err->message, "CONFIG_IDLE_PAGE_TRACKING"));
	g_assert_cmpstr(qdamo_idle_bitmap_path(), ==, QDAMO_IDLE_BITMAP);
	g_rmdir(dir);
}

/* ---- the QMP client against a fake QEMU ---- */

typedef struct {
	char *path;
	int listen_fd;
} FakeQemu;

static void fake_send(int fd, const char *text)
{
	g_assert_cmpint(write(fd, text, strlen(text)), ==, (ssize_t)strlen(text));
}

/* Answer like a QEMU without qdamon: damon-* are CommandNotFound. */
static gpointer fake_qemu_thread(gpointer data)
{
	FakeQemu *fq = data;
	int fd = accept(fq->listen_fd, NULL, NULL);
	g_autoptr(GString) buf = g_string_new(NULL);
	char chunk[512];
	ssize_t n;

	g_assert_cmpint(fd, >=, 0);
	fake_send(fd, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		char *nl;

		g_string_append_len(buf, chunk, n);
		while ((nl = strchr(buf->str, '\n'))) {
			g_autofree char *line = g_strndup(buf->str, nl - buf->str);
			g_autoptr(JsonNode) req = qdamo_json_parse(line, -1, NULL);
			JsonObject *o = json_node_get_object(req);
			const char *cmd = qdamo_json_str(o, "execute", "");
			g_autofree char *reply = NULL;

			g_string_erase(buf, 0, nl - buf->str + 1);
			/* an event first: the client must skip it */
			fake_send(fd, "{\"event\": \"RESUME\", \"timestamp\": {}}\r\n");
			if (g_str_has_prefix(cmd, "damon") || g_str_has_prefix(cmd, "query-damon"))
				reply = g_strdup_printf("{\"id\": %" G_GUINT64_FORMAT ", "
					"\"error\": {\"class\": \"CommandNotFound\", "
					"\"desc\": \"The command %s has not been found\"}}\r\n",
					qdamo_json_u64(o, "id", 0), cmd);
			else if (!strcmp(cmd, "bad"))
				reply = g_strdup_printf("{\"id\": %" G_GUINT64_FORMAT ", "
					"\"error\": {\"class\": \"GenericError\", "
					"\"desc\": \"no good\"}}\r\n",
					qdamo_json_u64(o, "id", 0));
			else
				reply = g_strdup_printf("{\"return\": {\"cmd\": \"%s\"}, "
					"\"id\": %" G_GUINT64_FORMAT "}\r\n", cmd,
					qdamo_json_u64(o, "id", 0));
			fake_send(fd, reply);
		}
	}
	close(fd);
	return NULL;
}

static void test_qmp_client(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	FakeQemu fq = { .path = g_build_filename(dir, "qmp.sock", NULL) };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_autoptr(QdamoTarget) t = NULL;
	g_autoptr(JsonObject) ret = NULL;
	g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL;
	GThread *th;

	g_strlcpy(sa.sun_path, fq.path, sizeof(sa.sun_path));
	fq.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	g_assert_cmpint(bind(fq.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(fq.listen_fd, 1), ==, 0);
	th = g_thread_new("fake-qemu", fake_qemu_thread, &fq);

	t = qdamo_target_qmp(fq.path, 5, &e1);
	g_assert_no_error(e1);
	ret = qdamo_execute_obj(t, "query-status", NULL, &e1);
	g_assert_no_error(e1);
	g_assert_cmpstr(qdamo_json_str(ret, "cmd", NULL), ==, "query-status");
	g_assert_null(qdamo_execute(t, "damon-start", NULL, &e2));
	g_assert_error(e2, QDAMO_ERROR, QDAMO_ERROR_NO_DAMON);
	g_assert_nonnull(strstr(e2->message, "has no DAMON monitor commands"));
	g_assert_null(qdamo_execute(t, "bad", NULL, &e3));
	g_assert_error(e3, QDAMO_ERROR, QDAMO_ERROR_QMP);
	g_assert_cmpstr(e3->message, ==, "bad: no good");
	qdamo_target_free(g_steal_pointer(&t));
	g_thread_join(th);
	close(fq.listen_fd);
	g_unlink(fq.path);

	/* the socket is gone now: the wrong-path message */
	g_assert_null(qdamo_target_qmp(fq.path, 1, &e4));
	g_assert_error(e4, QDAMO_ERROR, QDAMO_ERROR_CONNECT);
	g_assert_nonnull(strstr(e4->message, "no QMP socket at"));
	g_rmdir(dir);
	g_free(fq.path);
}

static const struct {
	const char *path;
	GTestFunc fn;
} tests[] = {
	{ "/qdamo/parse/duration", test_duration },
	{ "/qdamo/parse/duration-ms", test_duration_ms },
	{ "/qdamo/json/u64", test_json_u64 },
	{ "/qdamo/parse/size-ranges", test_size_and_ranges },
	{ "/qdamo/parse/percentiles", test_percentiles },
	{ "/qdamo/parse/format", test_format },
	{ "/qdamo/record/wss", test_snapshot_wss },
	{ "/qdamo/record/writes", test_snapshot_writes },
	{ "/qdamo/record/roundtrip", test_record_roundtrip },
	{ "/qdamo/record/writes-roundtrip", test_record_writes_roundtrip },
	{ "/qdamo/record/old", test_record_old },
	{ "/qdamo/record/bad", test_record_bad },
	{ "/qdamo/heatmap", test_heatmap },
	{ "/qdamo/heatmap/writes", test_heatmap_writes },
	{ "/qdamo/metrics/text", test_metrics_text },
	{ "/qdamo/metrics/writes", test_metrics_writes },
	{ "/qdamo/metrics/schemes", test_metrics_schemes },
	{ "/qdamo/metrics/schemes-missing", test_metrics_schemes_missing },
	{ "/qdamo/metrics/idle", test_metrics_idle },
	{ "/qdamo/idle-page/libvirt-pid-file", test_libvirt_pid_file },
	{ "/qdamo/idle-page/pid-file", test_pid_file },
	{ "/qdamo/idle-page/pagemap", test_idle_pagemap },
	{ "/qdamo/idle-page/bitmap", test_idle_bitmap },
	{ "/qdamo/qmp/client", test_qmp_client },
};

int main(int argc, char **argv)
{
	guint i;

	g_test_init(&argc, &argv, NULL);
	for (i = 0; i < G_N_ELEMENTS(tests); i++)
		g_test_add_func(tests[i].path, tests[i].fn);
	return g_test_run();
}
