// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-qdamo.c - unit tests of qdamo's parts that need no VM: the
 * command-line words, record files, the heatmap, the Prometheus text,
 * and the QMP client against a fake QEMU on a unix socket.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "error.h"
#include "heatmap.h"
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

/* Three regions: cold [0, 16M), hot [16M, 32M), cold [32M, 64M). */
static QdamoSnapshot *make_snapshot(int64_t time_us, uint32_t hot)
{
	g_autoptr(JsonNode) node = NULL;
	g_autofree char *text = g_strdup_printf(
		"{\"nr-aggregations\": %" G_GINT64_FORMAT ", \"max-nr-accesses\": 20,"
		" \"total-bytes\": 67108864, \"regions\": ["
		"{\"start\": 0, \"end\": 16777216, \"nr-accesses\": 0, \"age\": 5},"
		"{\"start\": 16777216, \"end\": 33554432, \"nr-accesses\": %u, \"age\": 7},"
		"{\"start\": 33554432, \"end\": 67108864, \"nr-accesses\": 0, \"age\": 700}]}",
		time_us / 100000, hot);

	node = qdamo_json_parse(text, -1, NULL);
	g_assert_nonnull(node);
	return qdamo_snapshot_from_reply(json_node_get_object(node), time_us);
}

static QdamoRecord *make_record(guint n)
{
	g_autoptr(JsonNode) node = qdamo_json_parse(
		"{\"id\": \"damon0\", \"source\": \"page-hash\", \"clock\": \"realtime\","
		" \"attrs\": {\"sample-us\": 5000, \"aggr-us\": 100000,"
		" \"update-us\": 1000000, \"min-nr-regions\": 10,"
		" \"max-nr-regions\": 1000}}", -1, NULL);
	QdamoRecord *rec = qdamo_record_new(json_node_get_object(node));
	guint i;

	rec->target_kind = g_strdup("qmp");
	rec->target_name = g_strdup("/tmp/x \"quoted\".sock");
	rec->start_unix_us = 1700000000000000;
	for (i = 1; i <= n; i++)
		g_ptr_array_add(rec->snapshots, make_snapshot(i * 100000, 20));
	return rec;
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

	back = qdamo_record_load(path, &err);
	g_assert_no_error(err);
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

static void test_record_bad(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-qdamo-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "bad.json", NULL);
	g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;

	g_assert_null(qdamo_record_load(path, &e1));
	g_assert_error(e1, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_file_set_contents(path, "[1, 2]", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e2));
	g_assert_error(e2, QDAMO_ERROR, QDAMO_ERROR_FILE);
	g_file_set_contents(path, "{\"format\": \"qdamo-record\", \"version\": 1, "
			    "\"snapshots\": [{\"regions\": [[2, 1, 0, 0]]}]}", -1, NULL);
	g_assert_null(qdamo_record_load(path, &e3));
	g_assert_nonnull(strstr(e3->message, "ends before"));
	g_unlink(path);
	g_rmdir(dir);
}

static void test_heatmap(void)
{
	g_autoptr(QdamoRecord) rec = make_record(10);
	g_autoptr(QdamoHeatmap) h = NULL;
	guint row, col;

	/* 4 rows of 16 MiB: row 1 is the hot region */
	h = qdamo_heatmap_build(rec, 5, 4, 0, 0, 0, 0, NULL);
	g_assert_nonnull(h);
	g_assert_cmpuint(h->addr_end, ==, 64 << 20);
	for (col = 0; col < 5; col++)
		for (row = 0; row < 4; row++)
			g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(h, row, col),
						       row == 1 ? 1.0 : 0.0, 1e-6);
	qdamo_heatmap_free(g_steal_pointer(&h));

	/* one 64 MiB row: a quarter of it hot, so a quarter of the rate */
	h = qdamo_heatmap_build(rec, 2, 1, 0, 0, 0, 0, NULL);
	g_assert_cmpfloat_with_epsilon(qdamo_heatmap_at(h, 0, 0), 0.25, 1e-6);
	qdamo_heatmap_free(g_steal_pointer(&h));

	/* more time bins than snapshots: empty bins repeat the last one */
	h = qdamo_heatmap_build(rec, 40, 4, 0, 0, 0, 0, NULL);
	for (col = 0; col < 40; col++)
		g_assert_cmpfloat(qdamo_heatmap_at(h, 1, col), >=, 0);
	qdamo_heatmap_free(g_steal_pointer(&h));

	/* an address range beyond the record: no data anywhere */
	h = qdamo_heatmap_build(rec, 2, 2, 1ULL << 30, 2ULL << 30, 0, 0, NULL);
	g_assert_cmpfloat(qdamo_heatmap_at(h, 0, 1), <, 0);
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
	{ "/qdamo/parse/size-ranges", test_size_and_ranges },
	{ "/qdamo/parse/percentiles", test_percentiles },
	{ "/qdamo/parse/format", test_format },
	{ "/qdamo/record/wss", test_snapshot_wss },
	{ "/qdamo/record/writes", test_snapshot_writes },
	{ "/qdamo/record/roundtrip", test_record_roundtrip },
	{ "/qdamo/record/bad", test_record_bad },
	{ "/qdamo/heatmap", test_heatmap },
	{ "/qdamo/metrics/text", test_metrics_text },
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
