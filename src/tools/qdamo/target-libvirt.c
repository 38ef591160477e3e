// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * target-libvirt.c - QMP through libvirt's virDomainQemuMonitorCommand.
 *
 * libvirt owns the domain's QMP socket; its QEMU-specific API passes a
 * command through and hands back QEMU's reply verbatim, error replies
 * included, which is what "virsh qemu-monitor-command" does too.
 * virDomainQemuMonitorCommandWithFiles (libvirt 8.2) passes one file
 * descriptor along with a command, as "virsh qemu-monitor-command
 * --pass-fds" does; qdamo needs it for getfd.
 *
 * QEMU's pid comes from libvirt's pid file, which libvirt writes itself
 * (virCommandSetPidFile) before QEMU runs, so QEMU cannot forge it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "error.h"
#include "jsonx.h"
#include "target.h"

#define DEFAULT_URI "qemu:///system"

typedef struct {
	virConnectPtr conn;
	virDomainPtr dom;
} LibvirtPriv;

/*
 * One connection per URI for the whole process: the exporter opens a
 * target per domain at every scrape, and a libvirt connection costs a
 * round of authentication and capability probing.
 */
static GMutex conn_lock;
static virConnectPtr shared_conn;
static char *shared_uri;

/* libvirt prints every error on stderr by default; we print our own */
static void quiet_errors(void *opaque, virErrorPtr error)
{
}

static const char *last_error(void)
{
	virErrorPtr e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

static int last_error_code(void)
{
	virErrorPtr e = virGetLastError();

	return e ? e->code : VIR_ERR_OK;
}

static virConnectPtr get_conn(const char *uri, GError **err)
{
	virConnectPtr c;

	g_mutex_lock(&conn_lock);
	virSetErrorFunc(NULL, quiet_errors);
	if (shared_conn && (g_strcmp0(shared_uri, uri) ||
			    virConnectIsAlive(shared_conn) != 1)) {
		virConnectClose(shared_conn);
		shared_conn = NULL;
		g_clear_pointer(&shared_uri, g_free);
	}
	if (!shared_conn) {
		shared_conn = virConnectOpen(uri);
		if (shared_conn)
			shared_uri = g_strdup(uri);
	}
	c = shared_conn;
	if (c)
		virConnectRef(c);
	else
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
			    "cannot connect to libvirt at %s: %s (is libvirtd running?)",
			    uri, last_error());
	g_mutex_unlock(&conn_lock);
	return c;
}

static const char *state_name(int state)
{
	switch (state) {
	case VIR_DOMAIN_SHUTOFF: return "shut off";
	case VIR_DOMAIN_SHUTDOWN: return "shutting down";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_PMSUSPENDED: return "suspended";
	case VIR_DOMAIN_RUNNING: return "running";
	default: return "no state";
	}
}

static void set_not_running(QdamoTarget *t, virDomainPtr dom, GError **err)
{
	int state = VIR_DOMAIN_NOSTATE, reason;

	if (virDomainGetState(dom, &state, &reason, 0) < 0)
		state = VIR_DOMAIN_NOSTATE;
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_NOT_RUNNING,
		    "domain '%s' is not running (%s): start it with "
		    "'virsh -c %s start %s'", t->name, state_name(state), t->uri,
		    t->name);
}

/* A command, with @fd attached unless it is -1. */
static JsonObject *libvirt_command_fd(QdamoTarget *t, const char *json, int fd,
				      GError **err)
{
	LibvirtPriv *p = t->priv;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(GError) local = NULL;
	char *result = NULL;
	int rc;

	if (fd < 0)
		rc = virDomainQemuMonitorCommand(p->dom, json, &result, 0);
	else
		rc = virDomainQemuMonitorCommandWithFiles(p->dom, json, 1, &fd,
							  NULL, NULL, &result, 0);
	if (rc < 0) {
		int code = last_error_code();

		if (code == VIR_ERR_OPERATION_INVALID && virDomainIsActive(p->dom) == 0)
			set_not_running(t, p->dom, err);
		else if (code == VIR_ERR_NO_DOMAIN)
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_NO_DOMAIN,
				    "domain '%s' is gone from %s", t->name, t->uri);
		else
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
				    "libvirt could not pass the command%s to %s: %s",
				    fd < 0 ? "" : " and its file descriptor",
				    t->label, last_error());
		return NULL;
	}
	node = qdamo_json_parse(result, -1, &local);
	free(result);
	if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "libvirt passed back no QMP reply from %s%s%s", t->label,
			    local ? ": " : "", local ? local->message : "");
		return NULL;
	}
	return json_object_ref(json_node_get_object(node));
}

static JsonObject *libvirt_command(QdamoTarget *t, const char *json,
				   GError **err)
{
	return libvirt_command_fd(t, json, -1, err);
}

char *qdamo_libvirt_pid_file(const char *uri, const char *domain, GError **err)
{
	g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_NONE, NULL);
	const char *scheme = u ? g_uri_get_scheme(u) : NULL;
	const char *host = u ? g_uri_get_host(u) : NULL;
	const char *path = u ? g_uri_get_path(u) : NULL;

	if (strchr(domain, '/') || !strcmp(domain, ".") || !strcmp(domain, "..")) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' cannot be a libvirt domain name", domain);
		return NULL;
	}
	if (!u || (g_strcmp0(scheme, "qemu") && g_strcmp0(scheme, "qemu+unix")) ||
	    (host && *host) ||
	    (g_strcmp0(path, "/system") && g_strcmp0(path, "/session"))) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "the idle-page source needs QEMU's pid, which qdamo takes from "
			    "the pid file of libvirt on this host: use -c qemu:///system "
			    "or qemu:///session and run qdamo on the VM's host (got %s)",
			    uri);
		return NULL;
	}
	if (!strcmp(path, "/system"))
		return g_strdup_printf("/run/libvirt/qemu/%s.pid", domain);
	return g_strdup_printf("%s/libvirt/qemu/run/%s.pid",
			       g_get_user_runtime_dir(), domain);
}

gboolean qdamo_read_pid_file(const char *path, int owner, pid_t *pid,
			     GError **err)
{
	char buf[32];
	struct stat st;
	guint64 v = 0;
	ssize_t n;
	int fd, e;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
				    "QEMU's pid not found: no %s, so libvirt on this host "
				    "runs no such domain: run qdamo on the VM's host, with "
				    "the -c URI the domain runs under", path);
		else if (e == EACCES || e == EPERM)
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
				    "cannot read QEMU's pid from %s (%s): run qdamo as root",
				    path, g_strerror(e));
		else
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
				    "cannot read QEMU's pid from %s: %s", path, g_strerror(e));
		return FALSE;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (owner >= 0 && st.st_uid != (uid_t)owner)) {
		close(fd);
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "%s is not a regular file owned by uid %d, as libvirt "
			    "writes its pid files: refusing to take QEMU's pid from it",
			    path, owner);
		return FALSE;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[MAX(n, 0)] = '\0';
	g_strchomp(buf);
	if (n <= 0 || !g_ascii_string_to_unsigned(buf, 10, 1, G_MAXINT32, &v, NULL)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "QEMU's pid not found: %s holds no pid", path);
		return FALSE;
	}
	*pid = (pid_t)v;
	return TRUE;
}

static gboolean libvirt_qemu_pid(QdamoTarget *t, pid_t *pid, char **whence,
				 GError **err)
{
	g_autofree char *path = qdamo_libvirt_pid_file(t->uri, t->name, err);
	/* the system daemon's files are root's; a session's, its user's */
	int owner = path && g_str_has_prefix(path, "/run/libvirt/") ? 0 : (int)getuid();

	if (!path || !qdamo_read_pid_file(path, owner, pid, err))
		return FALSE;
	*whence = g_steal_pointer(&path);
	return TRUE;
}

static void libvirt_close(QdamoTarget *t)
{
	LibvirtPriv *p = t->priv;

	if (!p)
		return;
	if (p->dom)
		virDomainFree(p->dom);
	if (p->conn)
		virConnectClose(p->conn);
	g_free(p);
	t->priv = NULL;
}

static const QdamoTargetOps libvirt_ops = {
	.command = libvirt_command,
	.command_fd = libvirt_command_fd,
	.qemu_pid = libvirt_qemu_pid,
	.close = libvirt_close,
};

QdamoTarget *qdamo_target_libvirt(const char *uri, const char *domain,
				  GError **err)
{
	g_autoptr(QdamoTarget) t = g_new0(QdamoTarget, 1);
	LibvirtPriv *p;
	int active;

	t->ops = &libvirt_ops;
	t->uri = g_strdup(uri ? uri : DEFAULT_URI);
	t->name = g_strdup(domain);
	t->label = g_strdup_printf("domain '%s'", domain);
	t->kind = g_strdup("libvirt");
	t->priv = p = g_new0(LibvirtPriv, 1);
	p->conn = get_conn(t->uri, err);
	if (!p->conn)
		return NULL;
	p->dom = virDomainLookupByName(p->conn, domain);
	if (!p->dom) {
		if (last_error_code() == VIR_ERR_NO_DOMAIN)
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_NO_DOMAIN,
				    "no domain '%s' on %s (see 'virsh -c %s list --all')",
				    domain, t->uri, t->uri);
		else
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
				    "cannot look domain '%s' up on %s: %s", domain,
				    t->uri, last_error());
		return NULL;
	}
	active = virDomainIsActive(p->dom);
	if (active == 0) {
		set_not_running(t, p->dom, err);
		return NULL;
	}
	if (active < 0) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
			    "cannot get the state of domain '%s': %s", domain,
			    last_error());
		return NULL;
	}
	return g_steal_pointer(&t);
}

GPtrArray *qdamo_libvirt_running_domains(const char *uri, GError **err)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	virConnectPtr conn = get_conn(uri ? uri : DEFAULT_URI, err);
	virDomainPtr *doms = NULL;
	int i, n;

	if (!conn)
		return NULL;
	n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
			    "cannot list the domains of %s: %s", uri ? uri : DEFAULT_URI,
			    last_error());
		virConnectClose(conn);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		g_ptr_array_add(names, g_strdup(virDomainGetName(doms[i])));
		virDomainFree(doms[i]);
	}
	free(doms);
	virConnectClose(conn);
	return g_steal_pointer(&names);
}
