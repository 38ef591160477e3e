/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * command.h - qdamo's commands as data, in the manner of virsh's vsh.
 *
 * A command is a row (QdamoCmdDef): a name, an info (one line of help
 * and a longer description), an option table and one handler.  A word
 * that takes another word, like "report", is a row whose subcmds is a
 * table of its own.  The option tables are declared once: the parser
 * builds GLib option entries from them, so --help comes from them too,
 * and the handler reads the values back by name with the typed getters
 * below.  qdamo_cmd_check_table() checks the tables; the unit tests run
 * it on qdamo's.
 */
#ifndef QDAMO_COMMAND_H
#define QDAMO_COMMAND_H

#include <stdio.h>

#include <glib.h>

typedef enum {
	QDAMO_OPT_FLAG,		/* --raw: no value */
	QDAMO_OPT_STRING,	/* --sort KEY (converted to UTF-8) */
	QDAMO_OPT_FILE,		/* --output FILE (a file name, kept as given) */
	QDAMO_OPT_FILE_LIST,	/* --qmp PATH, repeatable */
	QDAMO_OPT_ORDERED,	/* --scheme-action ACTION: repeatable, and its
				 * place among the other ORDERED options kept */
	QDAMO_OPT_INT,		/* --top N: a C int */
	QDAMO_OPT_INT64,	/* --min-nr-regions N */
	QDAMO_OPT_DOUBLE,	/* --timeout S */
	QDAMO_OPT_ARGUMENT,	/* a positional word, always required: FILE */
	QDAMO_OPT_ALIAS,	/* another name for .alias_of, left out of --help */
	QDAMO_OPT_NR_TYPES
} QdamoOptType;

/**
 * QdamoOptDef - one option of a command.
 * @name: the long name without "--" (lower case); for an argument, its
 *	placeholder in the usage line (upper case, "FILE").
 * @short_name: the one-letter name, or 0.
 * @type: what the option takes.
 * @value_name: what --help shows after "=", e.g. "TIME"; every option
 *	that takes a value has one, flags, aliases and arguments have none.
 * @help: one line for --help; for an argument, what "give ..." asks for
 *	when it is missing ("one record file").
 * @alias_of: for QDAMO_OPT_ALIAS, the option it is another name of.
 *
 * A table ends with an entry whose name is NULL.
 */
typedef struct {
	const char *name;
	char short_name;
	QdamoOptType type;
	const char *value_name;
	const char *help;
	const char *alias_of;
} QdamoOptDef;

/**
 * QdamoCmdInfo - what help says about a command.
 * @help: one line for the command list of "qdamo --help".
 * @desc: paragraphs at the end of "qdamo COMMAND --help", or NULL.
 */
typedef struct {
	const char *help;
	const char *desc;
} QdamoCmdInfo;

typedef struct QdamoCmd QdamoCmd;
typedef struct QdamoCmdDef QdamoCmdDef;

/* A handler: FALSE with err set when the command failed. */
typedef gboolean (*QdamoCmdHandler)(const QdamoCmd *cmd, GError **err);

/**
 * QdamoCmdDef - a row of a command table.
 * @name: one word.
 * @info: the help texts (a command; a word with @subcmds has none).
 * @opts: the option table, or NULL for none.
 * @handler: runs the command.
 * @subcmds: for a word that takes another ("report"), the table of the
 *	next words, NULL-terminated; such a row has no info, opts or handler.
 */
struct QdamoCmdDef {
	const char *name;
	const QdamoCmdInfo *info;
	const QdamoOptDef *opts;
	QdamoCmdHandler handler;
	const QdamoCmdDef *const *subcmds;
};

/*
 * Find the command words in argv: the first positional words, skipping
 * the options of @common and the values of those that take one, and
 * remove them; set *name to the words ("report wss").  NULL without
 * err when argv has no word at all; NULL with a usage error when the
 * words name no command.
 */
const QdamoCmdDef *qdamo_cmd_find(const QdamoCmdDef *const *table,
				  const QdamoOptDef *common, int *argc,
				  char **argv, char **name, GError **err);

/*
 * Parse the options of @def, then those of @common, from argv (whose
 * command words are already removed).  "--help" prints the help built
 * from the tables and exits.  The words left are kept for
 * qdamo_cmd_run(), which matches them with the arguments.
 */
QdamoCmd *qdamo_cmd_parse(const QdamoCmdDef *def, const char *name,
			  const QdamoOptDef *common, int argc,
			  char *const *argv, GError **err);

/* Check the positional words against @cmd's arguments and run it. */
gboolean qdamo_cmd_run(QdamoCmd *cmd, GError **err);

void qdamo_cmd_free(QdamoCmd *cmd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamoCmd, qdamo_cmd_free)

/* "report wss": the words that named the command. */
const char *qdamo_cmd_name(const QdamoCmd *cmd);

/*
 * The typed getters, as virsh's vshCommandOpt*: each names an option of
 * the command's table or of the common one, of the getter's type (any
 * other name is a programming error and aborts).  TRUE, or the value,
 * when the option was given.
 */
gboolean qdamo_cmd_flag(const QdamoCmd *cmd, const char *name);
/* STRING, FILE, ARGUMENT: NULL when not given */
const char *qdamo_cmd_str(const QdamoCmd *cmd, const char *name);
/* FILE_LIST, ORDERED: NULL-terminated, or NULL when not given */
char *const *qdamo_cmd_strv(const QdamoCmd *cmd, const char *name);

/**
 * QdamoOptUse - one occurrence of an ORDERED option.
 * @name: the option's name (an alias's is the option it stands for).
 * @value: the value given.
 */
typedef struct {
	const char *name;
	const char *value;
} QdamoOptUse;

/*
 * Every ORDERED option given, in command-line order: a GArray of
 * QdamoOptUse, empty when none was.  Options whose meaning depends on
 * what came before them (a scheme's --scheme-* after its
 * --scheme-action) read them here.
 */
const GArray *qdamo_cmd_ordered(const QdamoCmd *cmd);
/* INT, INT64: *value set only when given */
gboolean qdamo_cmd_int(const QdamoCmd *cmd, const char *name, gint64 *value);
gboolean qdamo_cmd_double(const QdamoCmd *cmd, const char *name, double *value);

/* A usage error: "NAME: message (see 'qdamo NAME --help')". */
gboolean qdamo_usage_error(GError **err, const QdamoCmd *cmd,
			   const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/*
 * "qdamo COMMAND --help" of @def, as qdamo_cmd_parse() prints it (the
 * usage line names the program as g_get_prgname() does).
 */
char *qdamo_cmd_help(const QdamoCmdDef *def, const QdamoOptDef *common);

/* The command list of "qdamo --help": "  NAME  help" a line. */
void qdamo_cmd_print_list(FILE *f, const QdamoCmdDef *const *table);

/* The options of @opts as "  -c, --connect=URI  help" lines. */
void qdamo_cmd_print_opts(FILE *f, const QdamoOptDef *opts);

/*
 * Check the tables: names, help, value names, duplicates, aliases and
 * the shape of the rows.  FALSE with err listing every problem found.
 */
gboolean qdamo_cmd_check_table(const QdamoCmdDef *const *table,
			       const QdamoOptDef *common, GError **err);

#endif
