/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jsonx.h - small json-glib helpers: members read with a default
 * instead of a critical warning when they are absent or of another
 * type, and a node turned into text.
 */
#ifndef QDAMO_JSONX_H
#define QDAMO_JSONX_H

#include <stdint.h>

#include <json-glib/json-glib.h>

uint64_t jx_u64(JsonObject *o, const char *name, uint64_t dflt);
double jx_double(JsonObject *o, const char *name, double dflt);
const char *jx_str(JsonObject *o, const char *name, const char *dflt);
JsonObject *jx_obj(JsonObject *o, const char *name);	/* or NULL */
JsonArray *jx_array(JsonObject *o, const char *name);	/* or NULL */

/* The node as JSON text; pretty adds newlines and indentation. */
char *jx_to_string(JsonNode *node, gboolean pretty);

/* Parse JSON text; NULL with err (QDAMO_ERROR_PROTOCOL) if it is not. */
JsonNode *jx_parse(const char *text, gssize len, GError **err);

#endif
