// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * schemes.c - the "schemes" argument of damon-start and damon-tune from
 * the --scheme-* options (schemes.h) or from a JSON file.
 *
 * Each option is a QMP member of the DamonScheme being built, or of its
 * access-pattern or quotas, and its value is read with the same parsers
 * as the other options (sizes take K/M/G, times take units).  qdamo
 * checks what it must read to build the JSON (numbers, the
 * METRIC:TARGET syntax, the names of actions and metrics, which it
 * translates) and leaves the ranges and limits to QEMU, whose errors
 * name the member ('schemes[0].access-pattern.age-min').
 */
#include <string.h>

#include "error.h"
#include "jsonx.h"
#include "parse.h"
#include "schemes.h"

static const char *const actions[] = {
	"stat", "pageout", "cold", "willneed", "hugepage", "nohugepage",
	"migrate-hot", "migrate-cold", NULL
};
static const char *const goal_metrics[] = {
	"user-input", "some-mem-psi-us", "rss-bytes", NULL
};
static const char *const wmark_metrics[] = { "none", "free-mem-rate", NULL };

/* "a, b or c", for the errors that list the names there are. */
static char *choices(const char *const *names)
{
	g_autoptr(GString) s = g_string_new(NULL);
	guint i;

	for (i = 0; names[i]; i++)
		g_string_append_printf(s, "%s%s", !i ? "" : names[i + 1] ? ", " : " or ",
				       names[i]);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static gboolean known(const char *const *names, const char *name, const char *what,
		      GError **err)
{
	g_autofree char *all = NULL;

	if (g_strv_contains(names, name))
		return TRUE;
	all = choices(names);
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE, "unknown %s '%s' (give %s)",
		    what, name, all);
	return FALSE;
}

/* ---- the values: each parser makes the member's JSON node ---- */

static JsonNode *int_node(uint64_t v)
{
	JsonNode *n = json_node_new(JSON_NODE_VALUE);

	json_node_set_int(n, (gint64)v);
	return n;
}

static JsonNode *object_node(JsonObject *o)
{
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);

	json_node_take_object(n, o);
	return n;
}

static gboolean read_u32(const char *text, uint64_t *v, GError **err)
{
	if (g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT32, v, NULL))
		return TRUE;
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
		    "'%s' is not a whole number from 0 to %u", text, G_MAXUINT32);
	return FALSE;
}

static gboolean read_u64(const char *text, uint64_t *v, GError **err)
{
	/* json-glib's integers are signed */
	if (g_ascii_string_to_unsigned(text, 10, 0, G_MAXINT64, v, NULL))
		return TRUE;
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
		    "'%s' is not a whole number from 0 to %" G_GINT64_FORMAT,
		    text, G_MAXINT64);
	return FALSE;
}

/* A size as qdamo_parse_size() reads it, and small enough for JSON. */
static gboolean read_size(const char *text, uint64_t *v, GError **err)
{
	if (!qdamo_parse_size(text, v, err))
		return FALSE;
	if (*v <= G_MAXINT64)
		return TRUE;
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE, "'%s' is too large", text);
	return FALSE;
}

static JsonNode *parse_u32(const char *text, GError **err)
{
	uint64_t v;

	return read_u32(text, &v, err) ? int_node(v) : NULL;
}

static JsonNode *parse_size(const char *text, GError **err)
{
	uint64_t v;

	return read_size(text, &v, err) ? int_node(v) : NULL;
}

static JsonNode *parse_us(const char *text, GError **err)
{
	uint64_t v;

	return qdamo_parse_duration_us(text, &v, err) ? int_node(v) : NULL;
}

static JsonNode *parse_ms(const char *text, GError **err)
{
	uint64_t v;

	return qdamo_parse_duration_ms(text, &v, err) ? int_node(v) : NULL;
}

/* "SZ,NR,AGE": DamonQuotaWeights */
static JsonNode *parse_weights(const char *text, GError **err)
{
	static const char *const members[] = { "sz", "nr-accesses", "age" };
	g_auto(GStrv) parts = g_strsplit(text, ",", -1);
	g_autoptr(JsonObject) o = json_object_new();
	uint64_t v;
	guint i;

	if (g_strv_length(parts) != G_N_ELEMENTS(members)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not SZ,NR,AGE (example: 0,1,1)", text);
		return NULL;
	}
	for (i = 0; i < G_N_ELEMENTS(members); i++) {
		if (!read_u32(g_strstrip(parts[i]), &v, err))
			return NULL;
		json_object_set_int_member(o, members[i], (gint64)v);
	}
	return object_node(g_steal_pointer(&o));
}

/* "METRIC:TARGET[:CURRENT]": DamonQuotaGoal */
static JsonNode *parse_goal(const char *text, GError **err)
{
	g_auto(GStrv) parts = g_strsplit(text, ":", -1);
	g_autoptr(JsonObject) o = json_object_new();
	guint n = g_strv_length(parts);
	uint64_t target, current;

	if (n < 2 || n > 3) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not METRIC:TARGET[:CURRENT] (examples: "
			    "rss-bytes:1G, some-mem-psi-us:10000, user-input:100:40)", text);
		return NULL;
	}
	if (!known(goal_metrics, parts[0], "goal metric", err) ||
	    !read_size(parts[1], &target, err) ||
	    (n == 3 && !read_size(parts[2], &current, err)))
		return NULL;
	json_object_set_string_member(o, "metric", parts[0]);
	json_object_set_int_member(o, "target-value", (gint64)target);
	if (n == 3)
		json_object_set_int_member(o, "current-value", (gint64)current);
	return object_node(g_steal_pointer(&o));
}

/* "METRIC:HIGH:MID:LOW[:INTERVAL]": DamonWatermarks */
static JsonNode *parse_wmarks(const char *text, GError **err)
{
	static const char *const members[] = { "high", "mid", "low" };
	g_auto(GStrv) parts = g_strsplit(text, ":", -1);
	g_autoptr(JsonObject) o = json_object_new();
	guint n = g_strv_length(parts), i;
	uint64_t v;

	if (n < 4 || n > 5) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not METRIC:HIGH:MID:LOW[:INTERVAL] (example: "
			    "free-mem-rate:500:400:50:5s)", text);
		return NULL;
	}
	if (!known(wmark_metrics, parts[0], "watermark metric", err))
		return NULL;
	json_object_set_string_member(o, "metric", parts[0]);
	for (i = 0; i < G_N_ELEMENTS(members); i++) {
		if (!read_u64(parts[1 + i], &v, err))
			return NULL;
		json_object_set_int_member(o, members[i], (gint64)v);
	}
	if (n == 5) {
		if (!qdamo_parse_duration_us(parts[4], &v, err))
			return NULL;
		json_object_set_int_member(o, "interval-us", (gint64)v);
	}
	return object_node(g_steal_pointer(&o));
}

/* addr:START-END's range into @o */
static gboolean filter_range(JsonObject *o, const char *text, GError **err)
{
	g_autoptr(GArray) r = NULL;

	/* --regions' parser, which also takes lists: one range only here */
	if (strchr(text, ',')) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "'%s' is not one range START-END", text);
		return FALSE;
	}
	r = qdamo_parse_ranges(text, err);
	if (!r)
		return FALSE;
	json_object_set_int_member(o, "start", (gint64)g_array_index(r, QdamoRange, 0).start);
	json_object_set_int_member(o, "end", (gint64)g_array_index(r, QdamoRange, 0).end);
	return TRUE;
}

/* The words after the type: allow or reject, and nomatch, once each. */
static gboolean filter_words(JsonObject *o, char **words, const char *text,
			     GError **err)
{
	for (; *words; words++) {
		const char *member = !strcmp(*words, "nomatch") ? "matching" : "allow";
		gboolean known_word = !strcmp(*words, "allow") ||
			!strcmp(*words, "reject") || !strcmp(*words, "nomatch");

		if (!known_word || json_object_has_member(o, member)) {
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
				    "'%s' is not addr:START-END or young, then "
				    ":allow or :reject, then :nomatch (examples: "
				    "addr:0-1G:allow, young:reject:nomatch)", text);
			return FALSE;
		}
		json_object_set_boolean_member(o, member, !strcmp(*words, "allow"));
	}
	return TRUE;
}

/* "addr:START-END[:allow|reject][:nomatch]" or "young[:...]": DamonSchemeFilter */
static JsonNode *parse_filter(const char *text, GError **err)
{
	g_auto(GStrv) parts = g_strsplit(text, ":", -1);
	g_autoptr(JsonObject) o = json_object_new();
	gboolean addr = !g_strcmp0(parts[0], "addr");
	char **rest = parts + 1;

	if (!addr && g_strcmp0(parts[0], "young")) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "unknown filter type in '%s' (give addr:START-END or young)",
			    text);
		return NULL;
	}
	json_object_set_string_member(o, "type", parts[0]);
	if (addr) {
		if (!*rest) {
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
				    "'%s': an addr filter needs its range, "
				    "addr:START-END (example: addr:0-1G)", text);
			return NULL;
		}
		if (!filter_range(o, *rest++, err))
			return NULL;
	}
	if (!filter_words(o, rest, text, err))
		return NULL;
	return object_node(g_steal_pointer(&o));
}

/* ---- the options: which member each sets ---- */

typedef struct {
	const char *opt;
	const char *parent;	/* "access-pattern", "quotas", or NULL: the scheme */
	const char *member;
	JsonNode *(*parse)(const char *text, GError **err);
	gboolean repeatable;	/* each use adds to the list @member */
} SchemeOpt;

static const SchemeOpt scheme_opts[] = {
	{ "scheme-sz-min", "access-pattern", "sz-min", parse_size, FALSE },
	{ "scheme-sz-max", "access-pattern", "sz-max", parse_size, FALSE },
	{ "scheme-nr-accesses-min", "access-pattern", "nr-accesses-min", parse_u32, FALSE },
	{ "scheme-nr-accesses-max", "access-pattern", "nr-accesses-max", parse_u32, FALSE },
	{ "scheme-age-min", "access-pattern", "age-min", parse_u32, FALSE },
	{ "scheme-age-max", "access-pattern", "age-max", parse_u32, FALSE },
	{ "scheme-apply-interval-us", NULL, "apply-interval-us", parse_us, FALSE },
	{ "scheme-quota-ms", "quotas", "ms", parse_ms, FALSE },
	{ "scheme-quota-bytes", "quotas", "bytes", parse_size, FALSE },
	{ "scheme-quota-reset-ms", "quotas", "reset-interval-ms", parse_ms, FALSE },
	{ "scheme-weights", "quotas", "weights", parse_weights, FALSE },
	{ "scheme-goal", "quotas", "goals", parse_goal, TRUE },
	{ "scheme-wmarks", NULL, "watermarks", parse_wmarks, FALSE },
	{ "scheme-filter", NULL, "filters", parse_filter, TRUE },
	{ "scheme-target-nid", NULL, "target-nid", parse_u32, FALSE },
};

static const SchemeOpt *find_scheme_opt(const char *name)
{
	guint i;

	for (i = 0; i < G_N_ELEMENTS(scheme_opts); i++)
		if (!strcmp(scheme_opts[i].opt, name))
			return &scheme_opts[i];
	/* every ORDERED option of start and tune is in the table */
	g_error("qdamo: no scheme member for --%s", name);
	return NULL;
}

/* The object @name of @o, made when missing. */
static JsonObject *member_obj(JsonObject *o, const char *name)
{
	if (!json_object_has_member(o, name))
		json_object_set_object_member(o, name, json_object_new());
	return json_object_get_object_member(o, name);
}

static JsonArray *member_array(JsonObject *o, const char *name)
{
	if (!json_object_has_member(o, name))
		json_object_set_array_member(o, name, json_array_new());
	return json_object_get_array_member(o, name);
}

/* A new scheme for --scheme-action: damo's spelling migrate_hot is taken too. */
static JsonObject *new_scheme(const char *action, GError **err)
{
	g_autofree char *name = g_strdelimit(g_strdup(action), "_", '-');
	JsonObject *scheme;

	if (!known(actions, name, "scheme action", err))
		return NULL;
	scheme = json_object_new();
	json_object_set_string_member(scheme, "action", name);
	return scheme;
}

/* One --scheme-* option (not the action) into @scheme. */
static gboolean set_option(JsonObject *scheme, const QdamoOptUse *use, GError **err)
{
	const SchemeOpt *so = find_scheme_opt(use->name);
	JsonObject *parent = so->parent ? member_obj(scheme, so->parent) : scheme;
	JsonNode *value;

	/* given twice, one would silently win: say so instead */
	if (!so->repeatable && json_object_has_member(parent, so->member)) {
		g_set_error_literal(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
				    "given twice (a scheme takes it once)");
		return FALSE;
	}
	value = so->parse(use->value, err);
	if (!value)
		return FALSE;
	if (so->repeatable)
		json_array_add_element(member_array(parent, so->member), value);
	else
		json_object_set_member(parent, so->member, value);
	return TRUE;
}

/* The schemes of the --scheme-* options, in order; NULL with err. */
static JsonArray *schemes_of_options(const QdamoCmd *cmd, GError **err)
{
	const GArray *uses = qdamo_cmd_ordered(cmd);
	g_autoptr(JsonArray) schemes = json_array_new();
	JsonObject *scheme = NULL;
	guint i;

	for (i = 0; i < uses->len; i++) {
		const QdamoOptUse *use = &g_array_index(uses, QdamoOptUse, i);
		gboolean action = !strcmp(use->name, "scheme-action"), ok;

		if (!action && !scheme) {
			qdamo_usage_error(err, cmd, "--%s comes before any "
					  "--scheme-action: a scheme starts with "
					  "--scheme-action ACTION, and the --scheme-* "
					  "options after it are that scheme's", use->name);
			return NULL;
		}
		if (action) {
			scheme = new_scheme(use->value, err);
			ok = scheme != NULL;
			if (ok)
				json_array_add_object_element(schemes, scheme);
		} else {
			ok = set_option(scheme, use, err);
		}
		if (!ok) {
			/* which scheme and option: the parsers' errors name neither */
			g_prefix_error(err, "scheme %u: --%s: ",
				       json_array_get_length(schemes) - (action ? 0 : 1),
				       use->name);
			return NULL;
		}
	}
	return g_steal_pointer(&schemes);
}

/* --schemes FILE: QMP's JSON, as it is; only its shape is checked. */
static JsonArray *schemes_of_file(const char *path, GError **err)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;
	gsize len;
	JsonArray *list;
	guint i;

	if (!g_file_get_contents(path, &text, &len, &local)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "--schemes: %s",
			    local->message);
		return NULL;
	}
	root = qdamo_json_parse(text, (gssize)len, &local);
	if (!root) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE, "--schemes %s: %s",
			    path, local->message);
		return NULL;
	}
	list = JSON_NODE_HOLDS_ARRAY(root) ? json_node_get_array(root) : NULL;
	for (i = 0; list && i < json_array_get_length(list); i++)
		if (!JSON_NODE_HOLDS_OBJECT(json_array_get_element(list, i)))
			list = NULL;
	if (!list) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "--schemes %s: not a list of schemes (a JSON array of "
			    "DamonScheme objects, as damon-start takes them)", path);
		return NULL;
	}
	return json_array_ref(list);
}

gboolean qdamo_scheme_args(const QdamoCmd *cmd, JsonObject *args, GError **err)
{
	const char *file = qdamo_cmd_str(cmd, "schemes");
	gboolean options = qdamo_cmd_ordered(cmd)->len > 0;
	JsonArray *schemes;

	if (file && options)
		return qdamo_usage_error(err, cmd, "give --schemes FILE or "
					 "--scheme-action and its options, not both");
	if (!file && !options)
		return TRUE;
	schemes = file ? schemes_of_file(file, err) : schemes_of_options(cmd, err);
	if (!schemes)
		return FALSE;
	json_object_set_array_member(args, "schemes", schemes);
	return TRUE;
}

char *qdamo_schemes_describe(JsonArray *schemes)
{
	guint n = json_array_get_length(schemes), i;
	g_autoptr(GString) s = NULL;

	if (!n)
		return g_strdup("no schemes");
	s = g_string_new(NULL);
	g_string_printf(s, "%u scheme%s: ", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		JsonNode *e = json_array_get_element(schemes, i);
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;

		g_string_append_printf(s, "%s%s", i ? ", " : "",
				       qdamo_json_str(o, "action", "?"));
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}
