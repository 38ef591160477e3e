// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * jsonx.c - json-glib helpers.
 *
 * json-glib's json_object_get_*_member() warn on a missing member; a
 * reply from an older or newer qdamon may lack one, and a record file
 * may be hand-edited, so every read here has a default instead.
 */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"
#include "jsonx.h"

static JsonNode *value_member(JsonObject *o, const char *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;

	return n && JSON_NODE_HOLDS_VALUE(n) ? n : NULL;
}

uint64_t qdamo_json_u64(JsonObject *o, const char *name, uint64_t dflt)
{
	JsonNode *n = value_member(o, name);

	if (!n)
		return dflt;
	if (json_node_get_value_type(n) == G_TYPE_DOUBLE) {
		double d = json_node_get_double(n);

		return d > 0 ? (uint64_t)d : 0;
	}
	if (json_node_get_value_type(n) == G_TYPE_INT64) {
		gint64 v = json_node_get_int(n);

		return v > 0 ? (uint64_t)v : 0;
	}
	return dflt;
}

double qdamo_json_double(JsonObject *o, const char *name, double dflt)
{
	JsonNode *n = value_member(o, name);
	GType t = n ? json_node_get_value_type(n) : G_TYPE_INVALID;

	if (t == G_TYPE_DOUBLE)
		return json_node_get_double(n);
	if (t == G_TYPE_INT64)
		return (double)json_node_get_int(n);
	return dflt;
}

const char *qdamo_json_str(JsonObject *o, const char *name, const char *dflt)
{
	JsonNode *n = value_member(o, name);

	if (n && json_node_get_value_type(n) == G_TYPE_STRING)
		return json_node_get_string(n);
	return dflt;
}

JsonObject *qdamo_json_obj(JsonObject *o, const char *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;

	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

JsonArray *qdamo_json_array(JsonObject *o, const char *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;

	return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

gboolean qdamo_json_check(JsonNode *node, JsonNodeType type, GError **err,
			  const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	if (node && JSON_NODE_TYPE(node) == type)
		return TRUE;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL, msg);
	return FALSE;
}

char *qdamo_json_to_string(JsonNode *node, gboolean pretty)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();

	json_generator_set_pretty(gen, pretty);
	json_generator_set_indent(gen, 2);
	json_generator_set_root(gen, node);
	return json_generator_to_data(gen, NULL);
}

gboolean qdamo_json_print(JsonNode *node)
{
	g_autofree char *text = qdamo_json_to_string(node, TRUE);

	printf("%s\n", text);
	return TRUE;
}

JsonNode *qdamo_json_parse(const char *text, gssize len, GError **err)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) local = NULL;
	JsonNode *root;

	if (!json_parser_load_from_data(parser, text, len, &local)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL,
			    "not JSON: %s", local->message);
		return NULL;
	}
	/* stolen, not copied: a record file's tree can be large */
	root = json_parser_steal_root(parser);
	if (!root)
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_PROTOCOL, "empty JSON text");
	return root;
}
