// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * target-libvirt.c - QMP through libvirt's virDomainQemuMonitorCommand.
 *
 * libvirt owns the domain's QMP socket; its QEMU-specific API passes a
 * command through and hands back QEMU's reply verbatim, error replies
 * included, which is what "virsh qemu-monitor-command" does too.
 */
#include <string.h>

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

static JsonObject *libvirt_command(QdamoTarget *t, const char *json,
				   GError **err)
{
	LibvirtPriv *p = t->priv;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(GError) local = NULL;
	char *result = NULL;

	if (virDomainQemuMonitorCommand(p->dom, json, &result, 0) < 0) {
		int code = last_error_code();

		if (code == VIR_ERR_OPERATION_INVALID && virDomainIsActive(p->dom) == 0)
			set_not_running(t, p->dom, err);
		else if (code == VIR_ERR_NO_DOMAIN)
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_NO_DOMAIN,
				    "domain '%s' is gone from %s", t->name, t->uri);
		else
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_CONNECT,
				    "libvirt could not pass the command to %s: %s",
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
