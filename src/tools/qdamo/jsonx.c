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
#include <string.h>

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

uint64_t qdamo_json_qmp_u64(JsonObject *o, const char *name, uint64_t dflt)
{
	JsonNode *n = value_member(o, name);

	/* json-glib wrapped it: the bits are QEMU's uint64 */
	if (n && json_node_get_value_type(n) == G_TYPE_INT64)
		return (uint64_t)json_node_get_int(n);
	return qdamo_json_u64(o, name, dflt);
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

/*
 * json-glib holds integers as gint64 and has no way to write a uint64,
 * so a wrapped one goes through the generator as a string with a mark,
 * "\001" and a random nonce, which the generator escapes ("\u0001..."),
 * and the marked strings are then replaced by their digits.  The nonce
 * is new each time, so that no string of QEMU's can pass for a mark.
 */
typedef struct {
	char mark[32];		/* "\001" NONCE ":" */
	char escaped[40];	/* the mark as the generator writes it, quote first */
} U64Mark;

static gboolean has_wrapped(JsonNode *n);

static void any_wrapped_member(JsonObject *o, const char *name, JsonNode *n,
			       gpointer found)
{
	*(gboolean *)found |= has_wrapped(n);
}

static void any_wrapped_element(JsonArray *a, guint i, JsonNode *n, gpointer found)
{
	*(gboolean *)found |= has_wrapped(n);
}

static gboolean has_wrapped(JsonNode *n)
{
	gboolean found = FALSE;

	if (JSON_NODE_HOLDS_OBJECT(n))
		json_object_foreach_member(json_node_get_object(n), any_wrapped_member, &found);
	else if (JSON_NODE_HOLDS_ARRAY(n))
		json_array_foreach_element(json_node_get_array(n), any_wrapped_element, &found);
	else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64)
		found = json_node_get_int(n) < 0;
	return found;
}

static JsonNode *marked(JsonNode *n, const U64Mark *m);

typedef struct {
	gpointer copy;		/* the JsonObject or JsonArray being filled */
	const U64Mark *m;
} MarkCopy;

static void mark_member(JsonObject *o, const char *name, JsonNode *n, gpointer data)
{
	MarkCopy *c = data;

	json_object_set_member(c->copy, name, marked(n, c->m));
}

static void mark_element(JsonArray *a, guint i, JsonNode *n, gpointer data)
{
	MarkCopy *c = data;

	json_array_add_element(c->copy, marked(n, c->m));
}

/* A copy of @n, each wrapped integer a marked string (json_node_copy() is shallow). */
static JsonNode *marked(JsonNode *n, const U64Mark *m)
{
	JsonNode *out = json_node_alloc();

	if (JSON_NODE_HOLDS_OBJECT(n)) {
		MarkCopy c = { .copy = json_object_new(), .m = m };

		/* in member order, which json_object_foreach_member() keeps */
		json_object_foreach_member(json_node_get_object(n), mark_member, &c);
		json_node_init_object(out, c.copy);
		json_object_unref(c.copy);
	} else if (JSON_NODE_HOLDS_ARRAY(n)) {
		MarkCopy c = { .copy = json_array_new(), .m = m };

		json_array_foreach_element(json_node_get_array(n), mark_element, &c);
		json_node_init_array(out, c.copy);
		json_array_unref(c.copy);
	} else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64 &&
		   json_node_get_int(n) < 0) {
		g_autofree char *s = g_strdup_printf("%s%" G_GUINT64_FORMAT, m->mark,
						     (guint64)json_node_get_int(n));

		json_node_init_string(out, s);
	} else {
		json_node_free(out);
		out = json_node_copy(n);
	}
	return out;
}

char *qdamo_json_to_qmp_string(JsonNode *node, gboolean pretty)
{
	g_autoptr(JsonNode) copy = NULL;
	g_autoptr(GString) out = NULL;
	g_autofree char *text = NULL;
	const char *p, *at;
	U64Mark m;
	guint64 nonce;

	if (!has_wrapped(node))
		return qdamo_json_to_string(node, pretty);
	nonce = ((guint64)g_random_int() << 32) | g_random_int();
	g_snprintf(m.mark, sizeof(m.mark), "\001%016" G_GINT64_MODIFIER "x:", nonce);
	g_snprintf(m.escaped, sizeof(m.escaped), "\"\\u0001%016" G_GINT64_MODIFIER "x:",
		   nonce);
	copy = marked(node, &m);
	text = qdamo_json_to_string(copy, pretty);
	out = g_string_new(NULL);
	for (p = text; (at = strstr(p, m.escaped)); ) {
		const char *digits = at + strlen(m.escaped);
		size_t n = strspn(digits, "0123456789");

		/* "\u0001NONCE:DIGITS" becomes DIGITS, quotes and all */
		g_string_append_len(out, p, at - p);
		g_string_append_len(out, digits, (gssize)n);
		p = digits + n + (digits[n] == '"');
	}
	g_string_append(out, p);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

gboolean qdamo_json_print(JsonNode *node)
{
	g_autofree char *text = qdamo_json_to_qmp_string(node, TRUE);

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
