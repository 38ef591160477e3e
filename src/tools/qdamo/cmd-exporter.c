// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd-exporter.c - qdamo exporter: Prometheus metrics of every
 * monitored VM, over plain HTTP/1.0 (GET /metrics).
 *
 * Each scrape asks every running libvirt domain (or the one -d names)
 * and every --qmp socket afresh, so VMs that come and go need no
 * restart.  Connections are served on GLib's threaded socket service;
 * scrapes take a lock, since a QMP socket serves one client at a time
 * and a scrape's cost should not multiply with concurrent clients.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "error.h"
#include "metrics.h"
#include "qdamo.h"

#define DEFAULT_LISTEN "127.0.0.1:9578"
#define MAX_REQUEST_LINES 100

static const QdamoOptDef opts_exporter[] = {
	{ .name = "listen", .short_name = 'l', .type = QDAMO_OPT_STRING,
	  .value_name = "ADDR:PORT",
	  .help = "address and port to serve on (default " DEFAULT_LISTEN "; "
		  "port 0 picks a free one)" },
	{ NULL }
};

/* What every scrape asks, and the lock that lets one scrape run at a time. */
typedef struct {
	GMutex lock;
	gboolean use_libvirt;
	char *uri, *domain;	/* -c, -d */
	char **qmp;		/* --qmp */
	double timeout_s;
} Exporter;

static void collect_one(QdamoMetrics *m, QdamoTarget *t, const char *name,
			GError *open_err)
{
	g_autoptr(GError) err = NULL;

	if (!t) {
		/* a domain that stopped between list and open is just gone */
		if (!g_error_matches(open_err, QDAMO_ERROR, QDAMO_ERROR_NOT_RUNNING) &&
		    !g_error_matches(open_err, QDAMO_ERROR, QDAMO_ERROR_NO_DOMAIN)) {
			g_printerr("qdamo exporter: %s\n", open_err->message);
			qdamo_metrics_add(m, "qdamon_target_up", 0, "domain", name, NULL);
		}
		return;
	}
	if (qdamo_metrics_collect(m, t, &err)) {
		qdamo_metrics_add(m, "qdamon_target_up", 1, "domain", name, NULL);
		return;
	}
	/* a VM on a QEMU without qdamon has nothing to export */
	if (g_error_matches(err, QDAMO_ERROR, QDAMO_ERROR_NO_DAMON))
		return;
	g_printerr("qdamo exporter: %s: %s\n", t->label, err->message);
	qdamo_metrics_add(m, "qdamon_target_up", 0, "domain", name, NULL);
}

static char *scrape(Exporter *x)
{
	g_autoptr(QdamoMetrics) m = qdamo_metrics_new();
	int64_t t0 = g_get_monotonic_time();
	char **p;
	guint i;

	g_mutex_lock(&x->lock);
	if (x->use_libvirt) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GPtrArray) names = NULL;

		if (x->domain) {
			names = g_ptr_array_new_with_free_func(g_free);
			g_ptr_array_add(names, g_strdup(x->domain));
		} else {
			names = qdamo_libvirt_running_domains(x->uri, &err);
		}
		qdamo_metrics_add(m, "qdamon_libvirt_up", names ? 1 : 0, NULL);
		if (!names)
			g_printerr("qdamo exporter: %s\n", err->message);
		for (i = 0; names && i < names->len; i++) {
			const char *name = g_ptr_array_index(names, i);
			g_autoptr(GError) oerr = NULL;
			g_autoptr(QdamoTarget) t =
				qdamo_target_libvirt(x->uri, name, &oerr);

			collect_one(m, t, name, oerr);
		}
	}
	for (p = x->qmp; p && *p; p++) {
		g_autoptr(GError) oerr = NULL;
		/* short: a socket held by another client never greets us */
		g_autoptr(QdamoTarget) t =
			qdamo_target_qmp(*p, MIN(x->timeout_s, 5.0), &oerr);

		collect_one(m, t, *p, oerr);
	}
	qdamo_metrics_add(m, "qdamon_scrape_duration_seconds",
			  (g_get_monotonic_time() - t0) / 1e6, NULL);
	g_mutex_unlock(&x->lock);
	return qdamo_metrics_render(m);
}

static void respond(GOutputStream *out, const char *status, const char *type,
		    const char *body, gboolean head)
{
	g_autofree char *hdr = g_strdup_printf(
		"HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n", status, type, strlen(body));

	if (g_output_stream_write_all(out, hdr, strlen(hdr), NULL, NULL, NULL) && !head)
		g_output_stream_write_all(out, body, strlen(body), NULL, NULL, NULL);
}

static gboolean on_connection(GThreadedSocketService *service,
			      GSocketConnection *conn, GObject *source,
			      gpointer data)
{
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	g_autoptr(GDataInputStream) in = g_data_input_stream_new(
		g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	g_autofree char *request = NULL;
	g_auto(GStrv) words = NULL;
	gboolean head;
	int n;

	/* a client that sends nothing must not hold a thread forever */
	g_socket_set_timeout(g_socket_connection_get_socket(conn), 10);
	request = g_data_input_stream_read_line(in, NULL, NULL, NULL);
	if (!request)
		return TRUE;
	/* headers are read and ignored: none changes the answer */
	for (n = 0; n < MAX_REQUEST_LINES; n++) {
		g_autofree char *line = g_data_input_stream_read_line(in, NULL, NULL, NULL);

		if (!line || !*g_strstrip(line))
			break;
	}
	words = g_strsplit(g_strstrip(request), " ", 3);
	if (g_strv_length(words) < 2) {
		respond(out, "400 Bad Request", "text/plain", "bad request\n", FALSE);
		return TRUE;
	}
	head = !strcmp(words[0], "HEAD");
	if (strcmp(words[0], "GET") && !head) {
		respond(out, "405 Method Not Allowed", "text/plain",
			"only GET and HEAD\n", FALSE);
	} else if (!strcmp(words[1], "/metrics")) {
		g_autofree char *body = scrape(data);

		respond(out, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
			body, head);
	} else if (!strcmp(words[1], "/")) {
		respond(out, "200 OK", "text/html",
			"<html><head><title>qdamo exporter</title></head><body>"
			"<h1>qdamo exporter</h1><p><a href=\"/metrics\">Metrics</a>"
			"</p></body></html>\n", head);
	} else {
		respond(out, "404 Not Found", "text/plain", "try /metrics\n", head);
	}
	return TRUE;
}

static GSocketAddress *parse_listen(const char *text, GError **err)
{
	const char *colon = strrchr(text, ':');
	g_autofree char *host = NULL;
	guint64 port;
	GSocketAddress *addr;

	if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL))
		goto bad;
	host = g_strndup(text, colon - text);
	/* [::1]:9578 */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	addr = g_inet_socket_address_new_from_string(*host ? host : "0.0.0.0",
						     (guint)port);
	if (addr)
		return addr;
bad:
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
		    "--listen '%s' is not ADDR:PORT with a numeric address "
		    "(examples: 127.0.0.1:9578, [::1]:9578, :9578)", text);
	return NULL;
}

static gboolean on_signal(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

/* "127.0.0.1:9578" or "[::1]:9578": where @bound is. */
static char *address_text(GSocketAddress *bound)
{
	GInetAddress *ia = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(bound));
	g_autofree char *host = g_inet_address_to_string(ia);
	gboolean v6 = g_inet_address_get_family(ia) == G_SOCKET_FAMILY_IPV6;

	return g_strdup_printf(v6 ? "[%s]:%u" : "%s:%u", host,
			       g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
}

static gboolean cmd_exporter(const QdamoCmd *cmd, GError **err)
{
	const char *listen = qdamo_cmd_str(cmd, "listen");
	/* static and copied: a scrape may still run while qdamo exits */
	static Exporter x;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GSocketAddress) bound = NULL;
	g_autoptr(GSocketService) service = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree char *where = NULL;

	x.uri = g_strdup(qdamo_cmd_str(cmd, "connect"));
	x.domain = g_strdup(qdamo_cmd_str(cmd, "domain"));
	x.qmp = g_strdupv((char **)qdamo_cmd_strv(cmd, "qmp"));
	x.timeout_s = qdamo_timeout(cmd);
	x.use_libvirt = !x.qmp || x.uri || x.domain;
	addr = parse_listen(listen ? listen : DEFAULT_LISTEN, err);
	if (!addr)
		return FALSE;
	service = G_SOCKET_SERVICE(g_threaded_socket_service_new(4));
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(service), addr,
					   G_SOCKET_TYPE_STREAM,
					   G_SOCKET_PROTOCOL_TCP, NULL, &bound,
					   &local)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FAILED,
			    "cannot listen on %s: %s", listen ? listen : DEFAULT_LISTEN,
			    local->message);
		return FALSE;
	}
	g_signal_connect(service, "run", G_CALLBACK(on_connection), &x);
	loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGINT, on_signal, loop);
	g_unix_signal_add(SIGTERM, on_signal, loop);
	where = address_text(bound);
	g_printerr("qdamo exporter: serving http://%s/metrics (%s%s%s%s)\n", where,
		   x.use_libvirt ? "libvirt " : "",
		   x.use_libvirt ? (x.uri ? x.uri : "qemu:///system") : "",
		   x.use_libvirt && x.qmp ? ", " : "", x.qmp ? "QMP sockets" : "");
	g_socket_service_start(service);
	g_main_loop_run(loop);
	g_socket_service_stop(service);
	g_socket_listener_close(G_SOCKET_LISTENER(service));
	return TRUE;
}

static const QdamoCmdInfo info_exporter = {
	.help = "serve Prometheus metrics of every monitored VM over HTTP",
	.desc = "Targets: every running domain on -c URI (or only -d DOMAIN), "
		"unless --qmp is given;\n--qmp PATH (repeatable) adds QMP "
		"sockets, and -c with it adds libvirt back.\nThe 'domain' label "
		"is the libvirt domain name or the QMP socket path.",
};

const QdamoCmdDef qdamo_cmddef_exporter = {
	.name = "exporter", .info = &info_exporter, .opts = opts_exporter,
	.handler = cmd_exporter,
};
