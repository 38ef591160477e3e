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
/*
 * A QMP uint64 that may reach 2^64 - 1 (a scheme's "no limit"):
 * json-glib reads integers of 2^63 and above as negative gint64, which
 * this takes back, where qdamo_json_u64() gives 0.
 */
uint64_t qdamo_json_qmp_u64(JsonObject *o, const char *name, uint64_t dflt);
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

/*
 * The same for what goes to or came from QEMU, where every integer is
 * unsigned (qmp/damon.json has no signed member): a negative gint64 is
 * a uint64 of 2^63 or above that json-glib wrapped on reading, and is
 * written as that uint64 (-1 as 18446744073709551615).
 */
char *qdamo_json_to_qmp_string(JsonNode *node, gboolean pretty);

/* Print QEMU's reply @node on stdout, indented, as every --json does; TRUE. */
gboolean qdamo_json_print(JsonNode *node);

/* Parse JSON text; NULL with err (QDAMO_ERROR_PROTOCOL) if it is not. */
JsonNode *qdamo_json_parse(const char *text, gssize len, GError **err);

#endif
