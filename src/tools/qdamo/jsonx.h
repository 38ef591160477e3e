/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jsonx.h - small json-glib helpers: members read with a default
 * instead of a critical warning when they are absent or of another
 * type, nodes checked for the type a reply should have, and qdamo's one
 * printer of JSON (every --json).
 */
#ifndef QDAMO_JSONX_H
#define QDAMO_JSONX_H

#include <stdint.h>

#include <json-glib/json-glib.h>

uint64_t qdamo_json_u64(JsonObject *o, const char *name, uint64_t dflt);
double qdamo_json_double(JsonObject *o, const char *name, double dflt);
const char *qdamo_json_str(JsonObject *o, const char *name, const char *dflt);
JsonObject *qdamo_json_obj(JsonObject *o, const char *name);	/* or NULL */
JsonArray *qdamo_json_array(JsonObject *o, const char *name);	/* or NULL */

/*
 * TRUE if @node holds a @type (JSON_NODE_OBJECT, JSON_NODE_ARRAY);
 * otherwise FALSE with a QDAMO_ERROR_PROTOCOL error saying @fmt.
 */
gboolean qdamo_json_check(JsonNode *node, JsonNodeType type, GError **err,
			  const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* The node as JSON text; pretty adds newlines and indentation. */
char *qdamo_json_to_string(JsonNode *node, gboolean pretty);

/* Print @node on stdout, indented, as every --json does; TRUE. */
gboolean qdamo_json_print(JsonNode *node);

/* Parse JSON text; NULL with err (QDAMO_ERROR_PROTOCOL) if it is not. */
JsonNode *qdamo_json_parse(const char *text, gssize len, GError **err);

#endif
