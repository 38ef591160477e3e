// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * command.c - finding, parsing and checking qdamo's commands from their
 * tables (command.h).
 *
 * Parsing is GLib's GOptionContext, fed with entries built from the
 * option tables, so that the command line reads exactly as GLib reads
 * it (--opt=value, --opt value, -o value, grouped flags) and --help is
 * GLib's.  Every entry is a callback that stores the value in the
 * command's slot for that option and marks it given: the handlers ask
 * "was --top given?" rather than compare against a sentinel.  GOption
 * calls a callback as soon as it meets the option, so the callbacks
 * also see the options in command-line order, which ORDERED options
 * keep.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "error.h"

/* the name column of the command list */
#define LIST_WIDTH 16

typedef struct {
	const QdamoOptDef *def;	/* never an alias */
	gboolean given;
	gint64 i;		/* INT, INT64 */
	double d;		/* DOUBLE */
	char *s;		/* STRING, FILE, ARGUMENT */
	GPtrArray *list;	/* FILE_LIST, ORDERED: NULL-terminated */
} QdamoOptValue;

struct QdamoCmd {
	const QdamoCmdDef *def;
	const QdamoOptDef *common;
	char *name;
	GArray *values;		/* QdamoOptValue: def's options, then common's */
	char **words;		/* what the parser left: argv[0], then arguments */
	GArray *ordered;	/* QdamoOptUse of the ORDERED options, in order */
};

/* A command sees two option tables: its own, then the common one. */
typedef const QdamoOptDef *QdamoOptTables[2];

#define BIT(type) (1u << (type))
#define VALUE_TYPES (BIT(QDAMO_OPT_STRING) | BIT(QDAMO_OPT_FILE) | \
	BIT(QDAMO_OPT_FILE_LIST) | BIT(QDAMO_OPT_ORDERED) | BIT(QDAMO_OPT_INT) | \
	BIT(QDAMO_OPT_INT64) | BIT(QDAMO_OPT_DOUBLE))
#define LIST_TYPES (BIT(QDAMO_OPT_FILE_LIST) | BIT(QDAMO_OPT_ORDERED))

/* ---- looking options up ---- */

/* The option called @name (or -@short_name); arguments are not options. */
static const QdamoOptDef *find_opt(const QdamoOptTables tables,
				   const char *name, char short_name)
{
	const QdamoOptDef *o;
	guint t;

	if (!name && !short_name)
		return NULL;
	for (t = 0; t < 2; t++) {
		for (o = tables[t]; o && o->name; o++) {
			if (o->type == QDAMO_OPT_ARGUMENT)
				continue;
			if (name ? !strcmp(o->name, name) : o->short_name == short_name)
				return o;
		}
	}
	return NULL;
}

/* The option an alias stands for; any other option itself. */
static const QdamoOptDef *resolve(const QdamoOptTables tables,
				  const QdamoOptDef *o)
{
	if (o && o->type == QDAMO_OPT_ALIAS)
		return find_opt(tables, o->alias_of, 0);
	return o;
}

static gboolean takes_value(const QdamoOptDef *o)
{
	return o && (BIT(o->type) & VALUE_TYPES);
}

/* argv[i] is an option of @tables that takes the next word as its value. */
static gboolean takes_next_word(const QdamoOptTables tables, const char *arg)
{
	const QdamoOptDef *o = NULL;

	if (g_str_has_prefix(arg, "--"))
		o = find_opt(tables, arg + 2, 0);
	else if (arg[0] == '-' && arg[1] && !arg[2])
		o = find_opt(tables, NULL, arg[1]);
	return takes_value(resolve(tables, o));
}

/* ---- finding the command ---- */

static const QdamoCmdDef *lookup(const QdamoCmdDef *const *table,
				 const char *word)
{
	for (; *table; table++)
		if (!g_strcmp0((*table)->name, word))
			return *table;
	return NULL;
}

/* The next word from argv[i] on that is no option nor an option's value. */
static int next_word(int argc, char **argv, int i, const QdamoOptTables common)
{
	for (; i < argc; i++) {
		if (argv[i][0] != '-')
			return i;
		if (takes_next_word(common, argv[i]))
			i++;
	}
	return argc;
}

/* The usage line's arguments: "FILE", or "". */
static char *argument_names(const QdamoOptDef *opts)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (; opts && opts->name; opts++)
		if (opts->type == QDAMO_OPT_ARGUMENT)
			g_string_append_printf(s, "%s%s", s->len ? " " : "", opts->name);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* "'qdamo report wss', 'report regions' or 'report heatmap FILE'" */
static void append_choices(GString *s, const char *words,
			   const QdamoCmdDef *const *subs)
{
	guint i;

	for (i = 0; subs[i]; i++) {
		g_autofree char *args = argument_names(subs[i]->opts);

		g_string_append_printf(s, "%s'%s%s %s%s%s'",
				       !i ? "" : subs[i + 1] ? ", " : " or ",
				       !i ? "qdamo " : "", words, subs[i]->name,
				       *args ? " " : "", args);
	}
}

static void not_found(const QdamoCmdDef *group, const char *words,
		      const char *word, GError **err)
{
	g_autoptr(GString) s = g_string_new(NULL);

	if (!group) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "unknown command '%s' (see 'qdamo --help')", word);
		return;
	}
	g_string_printf(s, "%s what? ", words);
	append_choices(s, words, group->subcmds);
	g_set_error_literal(err, QDAMO_ERROR, QDAMO_ERROR_USAGE, s->str);
}

const QdamoCmdDef *qdamo_cmd_find(const QdamoCmdDef *const *table,
				  const QdamoOptDef *common, int *argc,
				  char **argv, char **name, GError **err)
{
	const QdamoOptTables tables = { common, NULL };
	g_autoptr(GString) words = g_string_new(NULL);
	g_autoptr(GArray) at = g_array_new(FALSE, FALSE, sizeof(int));
	const QdamoCmdDef *row = NULL;
	int i = 0, k, n;

	do {
		const QdamoCmdDef *next = NULL;

		i = next_word(*argc, argv, i + 1, tables);
		if (i < *argc)
			next = lookup(row ? row->subcmds : table, argv[i]);
		if (!next) {
			/* no word at all is no error: the caller shows the list */
			if (row || i < *argc)
				not_found(row, words->str, i < *argc ? argv[i] : NULL, err);
			return NULL;
		}
		row = next;
		g_string_append_printf(words, "%s%s", words->len ? " " : "", argv[i]);
		g_array_append_val(at, i);
	} while (row->subcmds);

	/* take the words out of argv, last first */
	for (k = (int)at->len - 1; k >= 0; k--) {
		for (n = g_array_index(at, int, k); n + 1 < *argc; n++)
			argv[n] = argv[n + 1];
		argv[--(*argc)] = NULL;
	}
	*name = g_strdup(words->str);
	return row;
}

/* ---- parsing the options ---- */

static const char *const number_msgs[][2] = {
	/* GLib's own messages, so that GLib's translations apply */
	{ "Cannot parse integer value “%s” for %s",
	  "Integer value “%s” for %s out of range" },
	{ "Cannot parse double value “%s” for %s",
	  "Double value “%s” for %s out of range" },
};

/* A number as GOption reads one: C syntax, base 0 for integers. */
static gboolean parse_number(QdamoOptValue *v, QdamoOptType type,
			     const char *option_name, const char *value,
			     GError **error)
{
	const char *const *msg = number_msgs[type == QDAMO_OPT_DOUBLE];
	gboolean range;
	char *end;

	errno = 0;
	if (type == QDAMO_OPT_DOUBLE) {
		v->d = g_strtod(value, &end);
		range = errno == ERANGE;
	} else if (type == QDAMO_OPT_INT) {
		long l = strtol(value, &end, 0);

		range = errno == ERANGE || l < G_MININT || l > G_MAXINT;
		v->i = l;
	} else {
		v->i = g_ascii_strtoll(value, &end, 0);
		range = errno == ERANGE;
	}
	if (!*value || *end || range) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    g_dgettext("glib20", msg[!*value || *end ? 0 : 1]),
			    value, option_name);
		return FALSE;
	}
	return TRUE;
}

static QdamoOptValue *find_value(const QdamoCmd *cmd, const char *name)
{
	guint i;

	for (i = 0; i < cmd->values->len; i++) {
		QdamoOptValue *v = &g_array_index(cmd->values, QdamoOptValue, i);

		if (!strcmp(v->def->name, name))
			return v;
	}
	return NULL;
}

/* GOption's callback for every option: the value into its slot. */
static gboolean on_option(const char *option_name, const char *value,
			  gpointer data, GError **error)
{
	QdamoCmd *cmd = data;
	const QdamoOptTables tables = { cmd->def->opts, cmd->common };
	const QdamoOptDef *o = option_name[1] == '-' ?
		find_opt(tables, option_name + 2, 0) : find_opt(tables, NULL, option_name[1]);
	QdamoOptValue *v = find_value(cmd, resolve(tables, o)->name);

	switch (v->def->type) {
	case QDAMO_OPT_STRING:
	case QDAMO_OPT_FILE:
		g_free(v->s);
		v->s = g_strdup(value);
		break;
	case QDAMO_OPT_FILE_LIST:
		g_ptr_array_insert(v->list, (int)v->list->len - 1, g_strdup(value));
		break;
	case QDAMO_OPT_ORDERED: {
		QdamoOptUse use = { .name = v->def->name, .value = g_strdup(value) };

		/* the list owns the value; the use borrows it */
		g_ptr_array_insert(v->list, (int)v->list->len - 1, (char *)use.value);
		g_array_append_val(cmd->ordered, use);
		break;
	}
	case QDAMO_OPT_INT:
	case QDAMO_OPT_INT64:
	case QDAMO_OPT_DOUBLE:
		if (!parse_number(v, v->def->type, option_name, value, error))
			return FALSE;
		break;
	default:
		break;
	}
	v->given = TRUE;
	return TRUE;
}

/* GOption's entry for @o: a callback; an alias takes its option's value. */
static GOptionEntry entry_of(const QdamoOptTables tables, const QdamoOptDef *o)
{
	const QdamoOptDef *r = resolve(tables, o);
	GOptionEntry e = {
		.long_name = o->name,
		.short_name = o->short_name,
		.arg = G_OPTION_ARG_CALLBACK,
		.arg_data = (gpointer)on_option,
		.description = o->help,
	};

	/* qdamo_cmd_check_table() refuses an alias of nothing */
	g_assert(r);
	e.arg_description = r->value_name;
	if (o->type == QDAMO_OPT_ALIAS)
		e.flags |= G_OPTION_FLAG_HIDDEN;
	if (r->type == QDAMO_OPT_FLAG)
		e.flags |= G_OPTION_FLAG_NO_ARG;
	if (r->type == QDAMO_OPT_FILE || r->type == QDAMO_OPT_FILE_LIST)
		e.flags |= G_OPTION_FLAG_FILENAME;
	return e;
}

/* A GOption context for @def, with @data passed to on_option(). */
static GOptionContext *new_context(const QdamoCmdDef *def,
				   const QdamoOptDef *common, gpointer data)
{
	const QdamoOptTables tables = { def->opts, common };
	g_autofree char *args = argument_names(def->opts);
	g_autofree char *params = g_strdup_printf("%s - %s", args, def->info->help);
	g_autoptr(GArray) entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));
	GOptionContext *ctx = g_option_context_new(params);
	GOptionGroup *group = g_option_group_new(NULL, NULL, NULL, data, NULL);
	const QdamoOptDef *o;
	guint t;

	/* the common options in the main group too, so that --help lists them */
	for (t = 0; t < 2; t++) {
		for (o = tables[t]; o && o->name; o++) {
			GOptionEntry e = entry_of(tables, o);

			if (o->type != QDAMO_OPT_ARGUMENT)
				g_array_append_val(entries, e);
		}
	}
	g_option_group_add_entries(group, (GOptionEntry *)(void *)entries->data);
	g_option_context_set_main_group(ctx, group);
	if (def->info->desc)
		g_option_context_set_description(ctx, def->info->desc);
	return ctx;
}

static QdamoCmd *cmd_new(const QdamoCmdDef *def, const char *name,
			 const QdamoOptDef *common)
{
	const QdamoOptTables tables = { def->opts, common };
	QdamoCmd *cmd = g_new0(QdamoCmd, 1);
	const QdamoOptDef *o;
	guint t;

	cmd->def = def;
	cmd->common = common;
	cmd->name = g_strdup(name);
	cmd->values = g_array_new(FALSE, TRUE, sizeof(QdamoOptValue));
	cmd->ordered = g_array_new(FALSE, TRUE, sizeof(QdamoOptUse));
	for (t = 0; t < 2; t++) {
		for (o = tables[t]; o && o->name; o++) {
			QdamoOptValue v = { .def = o };

			if (o->type == QDAMO_OPT_ALIAS)
				continue;
			if (BIT(o->type) & LIST_TYPES) {
				v.list = g_ptr_array_new_with_free_func(g_free);
				g_ptr_array_add(v.list, NULL);
			}
			g_array_append_val(cmd->values, v);
		}
	}
	return cmd;
}

void qdamo_cmd_free(QdamoCmd *cmd)
{
	guint i;

	if (!cmd)
		return;
	for (i = 0; i < cmd->values->len; i++) {
		QdamoOptValue *v = &g_array_index(cmd->values, QdamoOptValue, i);

		g_free(v->s);
		if (v->list)
			g_ptr_array_free(v->list, TRUE);
	}
	g_array_free(cmd->values, TRUE);
	g_array_free(cmd->ordered, TRUE);
	g_strfreev(cmd->words);
	g_free(cmd->name);
	g_free(cmd);
}

QdamoCmd *qdamo_cmd_parse(const QdamoCmdDef *def, const char *name,
			  const QdamoOptDef *common, int argc,
			  char *const *argv, GError **err)
{
	g_autoptr(QdamoCmd) cmd = cmd_new(def, name, common);
	g_autoptr(GOptionContext) ctx = new_context(def, common, cmd);
	g_autoptr(GError) local = NULL;
	char **words = g_new0(char *, argc + 1);
	int i;

	for (i = 0; i < argc; i++)
		words[i] = g_strdup(argv[i]);
	if (!g_option_context_parse_strv(ctx, &words, &local)) {
		g_strfreev(words);
		qdamo_usage_error(err, cmd, "%s", local->message);
		return NULL;
	}
	cmd->words = words;
	return g_steal_pointer(&cmd);
}

char *qdamo_cmd_help(const QdamoCmdDef *def, const QdamoOptDef *common)
{
	g_autoptr(GOptionContext) ctx = new_context(def, common, NULL);

	return g_option_context_get_help(ctx, TRUE, NULL);
}

gboolean qdamo_cmd_run(QdamoCmd *cmd, GError **err)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	guint n = g_strv_length(cmd->words) - 1, k;
	const QdamoOptDef *o;

	for (o = cmd->def->opts; o && o->name; o++)
		if (o->type == QDAMO_OPT_ARGUMENT)
			g_ptr_array_add(args, (gpointer)o);
	if (n != args->len && !args->len)
		return qdamo_usage_error(err, cmd, "unexpected argument '%s'", cmd->words[1]);
	if (n != args->len) {
		o = g_ptr_array_index(args, MIN(n, args->len - 1));
		return qdamo_usage_error(err, cmd, "give %s", o->help);
	}
	for (k = 0; k < n; k++) {
		QdamoOptValue *v = find_value(cmd, ((const QdamoOptDef *)args->pdata[k])->name);

		v->s = g_strdup(cmd->words[1 + k]);
		v->given = TRUE;
	}
	return cmd->def->handler(cmd, err);
}

/* ---- the getters ---- */

const char *qdamo_cmd_name(const QdamoCmd *cmd)
{
	return cmd->name;
}

static const QdamoOptValue *get(const QdamoCmd *cmd, const char *name,
				guint types)
{
	const QdamoOptValue *v = find_value(cmd, name);

	if (!v || !(BIT(v->def->type) & types))
		g_error("qdamo %s has no option '%s' of that type", cmd->name, name);
	return v;
}

gboolean qdamo_cmd_flag(const QdamoCmd *cmd, const char *name)
{
	return get(cmd, name, BIT(QDAMO_OPT_FLAG))->given;
}

const char *qdamo_cmd_str(const QdamoCmd *cmd, const char *name)
{
	const QdamoOptValue *v = get(cmd, name, BIT(QDAMO_OPT_STRING) |
				     BIT(QDAMO_OPT_FILE) | BIT(QDAMO_OPT_ARGUMENT));

	return v->given ? v->s : NULL;
}

char *const *qdamo_cmd_strv(const QdamoCmd *cmd, const char *name)
{
	const QdamoOptValue *v = get(cmd, name, LIST_TYPES);

	return v->given ? (char *const *)v->list->pdata : NULL;
}

const GArray *qdamo_cmd_ordered(const QdamoCmd *cmd)
{
	return cmd->ordered;
}

gboolean qdamo_cmd_int(const QdamoCmd *cmd, const char *name, gint64 *value)
{
	const QdamoOptValue *v = get(cmd, name, BIT(QDAMO_OPT_INT) | BIT(QDAMO_OPT_INT64));

	if (v->given)
		*value = v->i;
	return v->given;
}

gboolean qdamo_cmd_double(const QdamoCmd *cmd, const char *name, double *value)
{
	const QdamoOptValue *v = get(cmd, name, BIT(QDAMO_OPT_DOUBLE));

	if (v->given)
		*value = v->d;
	return v->given;
}

gboolean qdamo_usage_error(GError **err, const QdamoCmd *cmd,
			   const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE, "%s: %s (see 'qdamo %s --help')",
		    cmd->name, msg, cmd->name);
	return FALSE;
}

/* ---- help ---- */

static void print_level(FILE *f, const char *prefix,
			const QdamoCmdDef *const *table)
{
	for (; *table; table++) {
		g_autofree char *path = prefix ?
			g_strdup_printf("%s %s", prefix, (*table)->name) :
			g_strdup((*table)->name);

		if ((*table)->subcmds)
			print_level(f, path, (*table)->subcmds);
		else
			fprintf(f, "  %-*s %s\n", LIST_WIDTH, path, (*table)->info->help);
	}
}

void qdamo_cmd_print_list(FILE *f, const QdamoCmdDef *const *table)
{
	print_level(f, NULL, table);
}

/* "-c, --connect=URI" */
static char *opt_synopsis(const QdamoOptDef *o)
{
	GString *s = g_string_new(NULL);

	if (o->short_name)
		g_string_append_printf(s, "-%c, ", o->short_name);
	g_string_append_printf(s, "--%s", o->name);
	if (o->value_name)
		g_string_append_printf(s, "=%s", o->value_name);
	return g_string_free(s, FALSE);
}

void qdamo_cmd_print_opts(FILE *f, const QdamoOptDef *opts)
{
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
	const QdamoOptDef *o;
	int width = 0;
	guint i;

	for (o = opts; o->name; o++) {
		if (o->type == QDAMO_OPT_ALIAS || o->type == QDAMO_OPT_ARGUMENT)
			continue;
		g_ptr_array_add(lines, opt_synopsis(o));
		width = MAX(width, (int)strlen(g_ptr_array_index(lines, lines->len - 1)));
	}
	for (o = opts, i = 0; o->name; o++)
		if (o->type != QDAMO_OPT_ALIAS && o->type != QDAMO_OPT_ARGUMENT)
			fprintf(f, "  %-*s  %s\n", width,
				(char *)g_ptr_array_index(lines, i++), o->help);
}

/* ---- checking the tables (virsh's vshCmddefCheckInternals) ---- */

static void problem(GString *out, const char *where, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static void problem(GString *out, const char *where, const char *fmt, ...)
{
	va_list ap;

	g_string_append_printf(out, "%s: ", where);
	va_start(ap, fmt);
	g_string_append_vprintf(out, fmt, ap);
	va_end(ap);
	g_string_append_c(out, '\n');
}

/* A command or option name ("min-nr-regions"), or an argument's ("FILE"). */
static gboolean is_name(const char *s, gboolean upper)
{
	const char *p;

	if (!s || !*s || *s == '-')
		return FALSE;
	for (p = s; *p; p++)
		if (upper ? !g_ascii_isupper(*p) && *p != '_' :
		    !g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '-')
			return FALSE;
	return TRUE;
}

static gboolean is_line(const char *s)
{
	return s && *s && !strchr(s, '\n');
}

static void check_opt(GString *out, const char *where,
		      const QdamoOptTables tables, const QdamoOptDef *o)
{
	gboolean arg = o->type == QDAMO_OPT_ARGUMENT;
	const QdamoOptDef *r;

	if ((guint)o->type >= QDAMO_OPT_NR_TYPES) {
		problem(out, where, "option '%s' has no valid type", o->name);
		return;
	}
	if (!is_name(o->name, arg) || (!arg && g_str_has_prefix(o->name, "help")))
		problem(out, where, "'%s' is not a valid %s name", o->name,
			arg ? "argument" : "option");
	if (!is_line(o->help))
		problem(out, where, "option '%s' has no help line", o->name);
	if (o->short_name && (arg || !g_ascii_isalnum(o->short_name) || o->short_name == 'h'))
		problem(out, where, "option '%s' cannot have -%c", o->name, o->short_name);
	if (takes_value(o) && !o->value_name)
		problem(out, where, "option '%s' takes a value but has no value name", o->name);
	if (!takes_value(o) && o->value_name)
		problem(out, where, "option '%s' takes no value but has a value name", o->name);
	if ((o->type == QDAMO_OPT_ALIAS) != (o->alias_of != NULL))
		problem(out, where, "option '%s': alias_of goes with aliases only", o->name);
	r = resolve(tables, o);
	if (o->type == QDAMO_OPT_ALIAS && o->alias_of && (!r || r->type == QDAMO_OPT_ALIAS))
		problem(out, where, "alias '%s' stands for '%s', which is no option",
			o->name, o->alias_of);
}

/* Every option, common ones included, has its own long and short name. */
static void check_unique(GString *out, const char *where, const QdamoOptTables tables)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new();
	const QdamoOptDef *o;
	guint t, i, j, own = 0;

	for (t = 0; t < 2; t++)
		for (o = tables[t]; o && o->name; o++)
			g_ptr_array_add(all, (gpointer)o);
	/* two common options are the common table's own check */
	for (o = tables[0]; o && o->name; o++)
		own++;
	if (!tables[1])
		own = G_MAXUINT;
	for (i = 0; i < all->len; i++) {
		const QdamoOptDef *a = all->pdata[i];

		for (j = 0; j < MIN(i, own); j++) {
			const QdamoOptDef *b = all->pdata[j];

			if (!g_strcmp0(a->name, b->name))
				problem(out, where, "option '%s' is declared twice", a->name);
			if (a->short_name && a->short_name == b->short_name)
				problem(out, where, "options '%s' and '%s' are both -%c",
					b->name, a->name, a->short_name);
		}
	}
}

static void check_opts(GString *out, const char *where, const QdamoOptDef *opts,
		       const QdamoOptDef *common)
{
	const QdamoOptTables tables = { opts, common };
	const QdamoOptDef *o;

	for (o = opts; o && o->name; o++)
		check_opt(out, where, tables, o);
	check_unique(out, where, tables);
}

static void check_level(GString *out, const char *prefix,
			const QdamoCmdDef *const *table, const QdamoOptDef *common);

static void check_cmd(GString *out, const char *prefix, const QdamoCmdDef *row,
		      const QdamoOptDef *common)
{
	const char *name = row->name ? row->name : "(no name)";
	g_autofree char *path = prefix ? g_strdup_printf("%s %s", prefix, name) :
		g_strdup(name);

	if (!is_name(row->name, FALSE) || !strcmp(name, "help"))
		problem(out, path, "not a valid command name");
	if (row->subcmds) {
		if (row->info || row->opts || row->handler)
			problem(out, path, "a word that takes another has no info, "
				"options or handler of its own");
		check_level(out, path, row->subcmds, common);
		return;
	}
	if (!row->handler)
		problem(out, path, "no handler");
	if (!row->info || !is_line(row->info->help))
		problem(out, path, "no help line");
	if (strlen(path) > LIST_WIDTH)
		problem(out, path, "longer than the %d columns of the command list",
			LIST_WIDTH);
	check_opts(out, path, row->opts, common);
}

static void check_level(GString *out, const char *prefix,
			const QdamoCmdDef *const *table, const QdamoOptDef *common)
{
	guint i, j;

	if (!table[0])
		problem(out, prefix ? prefix : "qdamo", "no command in the table");
	for (i = 0; table[i]; i++) {
		for (j = 0; j < i; j++)
			if (table[i]->name && !g_strcmp0(table[i]->name, table[j]->name))
				problem(out, prefix ? prefix : "qdamo",
					"'%s' is in the table twice", table[i]->name);
		check_cmd(out, prefix, table[i], common);
	}
}

gboolean qdamo_cmd_check_table(const QdamoCmdDef *const *table,
			       const QdamoOptDef *common, GError **err)
{
	g_autoptr(GString) out = g_string_new(NULL);
	const QdamoOptDef *o;

	check_opts(out, "common options", common, NULL);
	for (o = common; o->name; o++)
		if (o->type == QDAMO_OPT_ARGUMENT || o->type == QDAMO_OPT_ALIAS)
			problem(out, "common options", "'%s': no arguments or "
				"aliases among them", o->name);
	check_level(out, NULL, table, common);
	if (!out->len)
		return TRUE;
	g_string_truncate(out, out->len - 1);
	g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FAILED, "%s", out->str);
	return FALSE;
}
