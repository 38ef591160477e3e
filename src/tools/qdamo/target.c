// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * target.c - running QMP commands on a target, whichever kind it is,
 * and turning QEMU's error replies into messages that say what to do.
 */
#include <string.h>

#include "error.h"
#include "jsonx.h"
#include "target.h"

void qdamo_target_free(QdamoTarget *t)
{
	if (!t)
		return;
	if (t->ops && t->ops->close)
		t->ops->close(t);
	g_free(t->name);
	g_free(t->label);
	g_free(t->kind);
	g_free(t->uri);
	g_free(t);
}

static gboolean is_qdamon_command(const char *command)
{
	return g_str_has_prefix(command, "damon-") ||
	       g_str_has_prefix(command, "query-damon");
}

static void set_qmp_error(QdamoTarget *t, const char *command,
			  JsonObject *error, GError **err)
{
	const char *cls = qdamo_json_str(error, "class", "?");
	const char *desc = qdamo_json_str(error, "desc", "(no description)");

	/*
	 * A stock QEMU answers every damon-* command with CommandNotFound:
	 * say that it is the wrong QEMU, not that the command failed.
	 */
	if (!strcmp(cls, "CommandNotFound") && is_qdamon_command(command)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_NO_DAMON,
			    "the QEMU of %s has no DAMON monitor commands (%s: %s): "
			    "run it with qdamon's QEMU (scripts/build-qemu.sh)",
			    t->label, command, desc);
		return;
	}
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_QMP, "%s: %s", command, desc);
}

/* Run @command with @args and, unless it is -1, @fd attached. */
static JsonNode *execute_fd(QdamoTarget *t, const char *command,
			    JsonObject *args, int fd, GError **err)
{
	g_autoptr(JsonObject) req = json_object_new();
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonObject) reply = NULL;
	g_autofree char *text = NULL;
	JsonNode *ret;

	json_object_set_string_member(req, "execute", command);
	if (args)
		json_object_set_object_member(req, "arguments",
					      json_object_ref(args));
	json_node_set_object(root, req);
	/* a --schemes file's 18446744073709551615 goes out as it came in */
	text = qdamo_json_to_qmp_string(root, FALSE);
	reply = fd < 0 ? t->ops->command(t, text, err) :
		t->ops->command_fd(t, text, fd, err);
	if (!reply)
		return NULL;
	if (json_object_has_member(reply, "error")) {
		set_qmp_error(t, command, qdamo_json_obj(reply, "error"), err);
		return NULL;
	}
	ret = json_object_get_member(reply, "return");
	if (!ret) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "%s: the reply of %s has neither \"return\" nor \"error\"",
			    command, t->label);
		return NULL;
	}
	return json_node_copy(ret);
}

JsonNode *qdamo_execute(QdamoTarget *t, const char *command,
			JsonObject *args, GError **err)
{
	return execute_fd(t, command, args, -1, err);
}

gboolean qdamo_pass_fd(QdamoTarget *t, const char *fdname, int fd,
		       GError **err)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonNode) ret = NULL;

	g_assert(fd >= 0);
	json_object_set_string_member(args, "fdname", fdname);
	ret = execute_fd(t, "getfd", args, fd, err);
	return ret != NULL;
}

void qdamo_forget_fd(QdamoTarget *t, const char *fdname)
{
	g_autoptr(JsonObject) args = json_object_new();
	g_autoptr(JsonNode) ret = NULL;

	json_object_set_string_member(args, "fdname", fdname);
	ret = qdamo_execute(t, "closefd", args, NULL);
}

gboolean qdamo_target_qemu_pid(QdamoTarget *t, pid_t *pid, char **whence,
			       GError **err)
{
	return t->ops->qemu_pid(t, pid, whence, err);
}

/* qdamo_execute() of a command whose reply must be a @type. */
static JsonNode *execute_as(QdamoTarget *t, const char *command,
			    JsonObject *args, JsonNodeType type, GError **err)
{
	g_autoptr(JsonNode) ret = qdamo_execute(t, command, args, err);

	if (!ret || !qdamo_json_check(ret, type, err, "%s: %s returned no %s", command,
				      t->label, type == JSON_NODE_ARRAY ? "list" : "object"))
		return NULL;
	return g_steal_pointer(&ret);
}

JsonObject *qdamo_execute_obj(QdamoTarget *t, const char *command,
			      JsonObject *args, GError **err)
{
	g_autoptr(JsonNode) ret = execute_as(t, command, args, JSON_NODE_OBJECT, err);

	return ret ? json_object_ref(json_node_get_object(ret)) : NULL;
}

JsonArray *qdamo_execute_list(QdamoTarget *t, const char *command,
			      JsonObject *args, GError **err)
{
	g_autoptr(JsonNode) ret = execute_as(t, command, args, JSON_NODE_ARRAY, err);

	return ret ? json_array_ref(json_node_get_array(ret)) : NULL;
}

JsonObject *qdamo_find_monitor(QdamoTarget *t, const char *id, GError **err)
{
	g_autoptr(JsonArray) list = qdamo_execute_list(t, "query-damon", NULL, err);
	g_autoptr(GString) ids = g_string_new(NULL);
	guint i;

	if (!list)
		return NULL;
	for (i = 0; i < json_array_get_length(list); i++) {
		JsonObject *m = json_array_get_object_element(list, i);
		const char *mid = qdamo_json_str(m, "id", "");

		if (!strcmp(mid, id))
			return json_object_ref(m);
		g_string_append_printf(ids, "%s%s", ids->len ? ", " : "", mid);
	}
	if (ids->len)
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_QMP,
			    "%s has no DAMON monitor '%s' (it has: %s)",
			    t->label, id, ids->str);
	else
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_QMP,
			    "%s has no DAMON monitor '%s'; start one with 'qdamo start'",
			    t->label, id);
	return NULL;
}
