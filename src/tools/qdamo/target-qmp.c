// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * target-qmp.c - a QMP client on a unix socket.
 *
 * QMP is one JSON object per line.  After connecting, QEMU sends a
 * greeting; the client must send qmp_capabilities before any other
 * command.  Replies carry the "id" of their request; events ("event"
 * member) may come in between, and are dropped since no qdamo command
 * waits for one.  One connection is used for the target's lifetime:
 * QEMU's QMP socket serves one client at a time.
 *
 * getfd wants its file descriptor in the same message as the command
 * (SCM_RIGHTS ancillary data), so such a command goes out with
 * g_socket_send_message() instead of the output stream; QEMU's pid,
 * for the files of the idle-page source, is the kernel's word for who
 * listens on the socket (SO_PEERCRED), not anything QEMU says.
 */
#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "error.h"
#include "jsonx.h"
#include "target.h"

typedef struct {
	GSocketConnection *conn;
	GDataInputStream *in;
	GOutputStream *out;
	guint64 next_id;
} QmpPriv;

static void qmp_close(QdamoTarget *t)
{
	QmpPriv *p = t->priv;

	if (!p)
		return;
	g_clear_object(&p->in);
	if (p->conn)
		g_io_stream_close(G_IO_STREAM(p->conn), NULL, NULL);
	g_clear_object(&p->conn);
	g_free(p);
	t->priv = NULL;
}

/* The next JSON object from QEMU. */
static JsonObject *read_message(QdamoTarget *t, GError **err)
{
	QmpPriv *p = t->priv;
	g_autoptr(GError) local = NULL;
	g_autofree char *line = NULL;
	g_autoptr(JsonNode) node = NULL;
	gsize len;

	line = g_data_input_stream_read_line(p->in, &len, NULL, &local);
	if (!line) {
		if (local && g_error_matches(local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
				    "%s did not answer in time", t->label);
		else
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
				    "%s closed the connection%s%s", t->label,
				    local ? ": " : " (did QEMU exit?)",
				    local ? local->message : "");
		return NULL;
	}
	node = qdamo_json_parse(line, (gssize)len, err);
	if (!node || !qdamo_json_check(node, JSON_NODE_OBJECT, err,
				       "%s sent something that is not a QMP message",
				       t->label))
		return NULL;
	return json_object_ref(json_node_get_object(node));
}

/*
 * Send @line; with @fd >= 0, attach it to the first bytes, as QEMU's
 * monitor takes the fd that came with a command's text.
 */
static gboolean send_line(QdamoTarget *t, const char *line, int fd, GError **err)
{
	QmpPriv *p = t->priv;
	g_autoptr(GError) local = NULL;
	size_t len = strlen(line), done = 0;

	if (fd >= 0) {
		GSocket *sock = g_socket_connection_get_socket(p->conn);
		g_autoptr(GSocketControlMessage) msg = g_unix_fd_message_new();
		GSocketControlMessage *msgs[1] = { msg };
		GOutputVector v = { line, len };
		gssize n;

		/* the message holds a dup, closed when msg goes */
		if (!g_unix_fd_message_append_fd(G_UNIX_FD_MESSAGE(msg), fd, &local))
			goto fail;
		n = g_socket_send_message(sock, NULL, &v, 1, msgs, 1,
					  G_SOCKET_MSG_NONE, NULL, &local);
		if (n < 0)
			goto fail;
		done = (size_t)n;
	}
	if (done < len && !g_output_stream_write_all(p->out, line + done, len - done,
						     NULL, NULL, &local))
		goto fail;
	return TRUE;
fail:
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
		    "cannot send to %s: %s", t->label, local->message);
	return FALSE;
}

static JsonObject *qmp_command_fd(QdamoTarget *t, const char *json, int fd,
				  GError **err)
{
	QmpPriv *p = t->priv;
	g_autofree char *line = NULL;
	guint64 id = ++p->next_id;

	/* Add our "id" to the request: it is "{...}" from qdamo_json_to_string() */
	g_assert(json[0] == '{');
	line = g_strdup_printf("{\"id\": %" G_GUINT64_FORMAT "%s%s\n", id,
			       json[1] == '}' ? "" : ", ", json + 1);
	if (!send_line(t, line, fd, err))
		return NULL;
	for (;;) {
		g_autoptr(JsonObject) msg = read_message(t, err);

		if (!msg)
			return NULL;
		if (json_object_has_member(msg, "event"))
			continue;
		if (qdamo_json_u64(msg, "id", 0) == id)
			return g_steal_pointer(&msg);
	}
}

static JsonObject *qmp_command(QdamoTarget *t, const char *json, GError **err)
{
	return qmp_command_fd(t, json, -1, err);
}

/*
 * SO_PEERCRED: the process that listens on the socket, as the kernel
 * recorded it; QEMU itself when it was started with -qmp unix:PATH,server=on.
 */
static gboolean qmp_qemu_pid(QdamoTarget *t, pid_t *pid, char **whence,
			     GError **err)
{
	QmpPriv *p = t->priv;
	GSocket *sock = g_socket_connection_get_socket(p->conn);
	g_autoptr(GError) local = NULL;
	g_autoptr(GCredentials) cred = g_socket_get_credentials(sock, &local);
	pid_t peer = cred ? g_credentials_get_unix_pid(cred, &local) : -1;

	if (peer < 0) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FAILED,
			    "cannot learn the pid of the QEMU behind %s from the "
			    "kernel (SO_PEERCRED): %s", t->label, local->message);
		return FALSE;
	}
	if (peer == 0) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FAILED,
			    "the kernel gives no pid for the QEMU behind %s "
			    "(SO_PEERCRED): QEMU runs in another pid namespace; "
			    "run qdamo in QEMU's", t->label);
		return FALSE;
	}
	*pid = peer;
	*whence = g_strdup_printf("SO_PEERCRED of %s", t->label);
	return TRUE;
}

static const QdamoTargetOps qmp_ops = {
	.command = qmp_command,
	.command_fd = qmp_command_fd,
	.qemu_pid = qmp_qemu_pid,
	.close = qmp_close,
};

static void set_connect_error(const char *path, GError *local, GError **err)
{
	if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
			    "no QMP socket at %s (no such file): start QEMU with "
			    "-qmp unix:%s,server=on,wait=off", path, path);
	else if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
			    "nothing listens on QMP socket %s (connection refused): "
			    "is QEMU still running?", path);
	else
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
			    "cannot connect to QMP socket %s: %s", path, local->message);
}

QdamoTarget *qdamo_target_qmp(const char *path, double timeout_s,
			      GError **err)
{
	g_autoptr(QdamoTarget) t = g_new0(QdamoTarget, 1);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonObject) greeting = NULL;
	g_autoptr(JsonObject) reply = NULL;
	GStatBuf st;
	QmpPriv *p;

	t->ops = &qmp_ops;
	t->name = g_strdup(path);
	t->label = g_strdup_printf("QMP socket %s", path);
	t->kind = g_strdup("qmp");
	if (g_stat(path, &st) != 0) {
		g_set_error_literal(&local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "");
		set_connect_error(path, local, err);
		return NULL;
	}
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
			    "%s is not a socket: give the path of QEMU's "
			    "-qmp unix:PATH,server=on,wait=off", path);
		return NULL;
	}
	t->priv = p = g_new0(QmpPriv, 1);
	g_socket_client_set_timeout(client, (guint)MAX(1.0, timeout_s));
	p->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr),
					  NULL, &local);
	if (!p->conn) {
		set_connect_error(path, local, err);
		return NULL;
	}
	/* the timeout bounds every read: a stuck QEMU must not hang us */
	g_socket_set_timeout(g_socket_connection_get_socket(p->conn),
			     (guint)MAX(1.0, timeout_s));
	p->in = g_data_input_stream_new(
		g_io_stream_get_input_stream(G_IO_STREAM(p->conn)));
	g_data_input_stream_set_newline_type(p->in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
	p->out = g_io_stream_get_output_stream(G_IO_STREAM(p->conn));

	greeting = read_message(t, err);
	if (!greeting)
		return NULL;
	if (!json_object_has_member(greeting, "QMP")) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "%s does not speak QMP (no greeting): is it a -qmp socket?",
			    path);
		return NULL;
	}
	reply = qmp_command(t, "{\"execute\": \"qmp_capabilities\"}", err);
	if (!reply)
		return NULL;
	if (json_object_has_member(reply, "error")) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "%s refused qmp_capabilities: %s", t->label,
			    qdamo_json_str(qdamo_json_obj(reply, "error"), "desc", "?"));
		return NULL;
	}
	return g_steal_pointer(&t);
}
