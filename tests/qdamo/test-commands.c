// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-commands.c - qdamo's command tables, as virsh-self-test checks
 * virsh's: the tables pass qdamo_cmd_check_table(), every check catches
 * the broken table it is for, --help comes from the tables, and the
 * command line is found and parsed as GLib's option parser would; the
 * ordered options keep their order, and the --scheme-* options of
 * start and tune make exactly the schemes JSON they should.
 */
#include <string.h>

#include "error.h"
#include "jsonx.h"
#include "qdamo.h"
#include "schemes.h"

static gboolean nop(const QdamoCmd *cmd, GError **err)
{
	return TRUE;
}

/* ---- the tables themselves ---- */

static void test_check(void)
{
	g_autoptr(GError) err = NULL;
	gboolean ok = qdamo_cmd_check_table(qdamo_commands, qdamo_common_opts, &err);

	/* the problems, one a line, when there are */
	g_assert_no_error(err);
	g_assert_true(ok);
}

static const QdamoOptDef common[] = {
	{ .name = "id", .short_name = 'i', .type = QDAMO_OPT_STRING,
	  .value_name = "ID", .help = "the monitor" },
	{ NULL }
};

static const QdamoCmdInfo info = { .help = "a command" };

/* The check of @table (with @common) fails and names @problem. */
static void assert_problem(const QdamoCmdDef *const *table,
			   const QdamoOptDef *common_opts, const char *problem)
{
	g_autoptr(GError) err = NULL;

	g_assert_false(qdamo_cmd_check_table(table, common_opts, &err));
	g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_FAILED);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, problem));
}

/* One broken option, in a command "cmd" of its own with common's --id. */
typedef struct {
	const char *path;
	QdamoOptDef opts[3];
	const char *problem;
} BrokenOpts;

static const BrokenOpts broken_opts[] = {
	{ "no-help", { { .name = "raw", .type = QDAMO_OPT_FLAG } },
	  "cmd: option 'raw' has no help line" },
	{ "help-lines", { { .name = "raw", .type = QDAMO_OPT_FLAG, .help = "a\nb" } },
	  "cmd: option 'raw' has no help line" },
	{ "no-value-name", { { .name = "top", .type = QDAMO_OPT_INT, .help = "rows" } },
	  "cmd: option 'top' takes a value but has no value name" },
	{ "flag-value-name",
	  { { .name = "raw", .type = QDAMO_OPT_FLAG, .value_name = "X", .help = "raw" } },
	  "cmd: option 'raw' takes no value but has a value name" },
	{ "twice", { { .name = "raw", .type = QDAMO_OPT_FLAG, .help = "raw" },
		     { .name = "raw", .type = QDAMO_OPT_FLAG, .help = "again" } },
	  "cmd: option 'raw' is declared twice" },
	{ "common-name", { { .name = "id", .type = QDAMO_OPT_FLAG, .help = "--id" } },
	  "cmd: option 'id' is declared twice" },
	{ "common-short",
	  { { .name = "ident", .short_name = 'i', .type = QDAMO_OPT_FLAG, .help = "-i" } },
	  "cmd: options 'ident' and 'id' are both -i" },
	{ "alias-to-nothing", { { .name = "minr", .type = QDAMO_OPT_ALIAS,
				  .alias_of = "min-nr", .help = "damo's name" } },
	  "cmd: alias 'minr' stands for 'min-nr', which is no option" },
	{ "alias-to-alias", { { .name = "a", .type = QDAMO_OPT_ALIAS, .alias_of = "b",
				.help = "a" },
			      { .name = "b", .type = QDAMO_OPT_ALIAS, .alias_of = "id",
				.help = "b" } },
	  "cmd: alias 'a' stands for 'b', which is no option" },
	{ "alias-of-not-alias", { { .name = "raw", .type = QDAMO_OPT_FLAG,
				    .alias_of = "id", .help = "raw" } },
	  "cmd: option 'raw': alias_of goes with aliases only" },
	{ "upper-case", { { .name = "Top", .type = QDAMO_OPT_FLAG, .help = "Top" } },
	  "cmd: 'Top' is not a valid option name" },
	{ "help-name", { { .name = "help", .type = QDAMO_OPT_FLAG, .help = "GLib's" } },
	  "cmd: 'help' is not a valid option name" },
	{ "short-h", { { .name = "hot", .short_name = 'h', .type = QDAMO_OPT_FLAG,
			 .help = "-h is --help" } },
	  "cmd: option 'hot' cannot have -h" },
	{ "argument-name", { { .name = "file", .type = QDAMO_OPT_ARGUMENT, .help = "a file" } },
	  "cmd: 'file' is not a valid argument name" },
	{ "argument-short", { { .name = "FILE", .short_name = 'f',
				.type = QDAMO_OPT_ARGUMENT, .help = "a file" } },
	  "cmd: option 'FILE' cannot have -f" },
	{ "no-type", { { .name = "raw", .type = QDAMO_OPT_NR_TYPES, .help = "raw" } },
	  "cmd: option 'raw' has no valid type" },
	{ "ordered-no-value-name", { { .name = "step", .type = QDAMO_OPT_ORDERED,
				       .help = "a step" } },
	  "cmd: option 'step' takes a value but has no value name" },
};

static void test_broken_opts(gconstpointer data)
{
	const BrokenOpts *c = data;
	const QdamoCmdDef row = { .name = "cmd", .info = &info, .handler = nop,
				  .opts = c->opts };

	assert_problem((const QdamoCmdDef *const[]){ &row, NULL }, common, c->problem);
}

/* One broken row, alone in the table. */
typedef struct {
	const char *path;
	QdamoCmdDef row;
	const char *problem;
} BrokenRow;

static const QdamoCmdInfo info_two_lines = { .help = "a command\nin two lines" };
static const QdamoCmdDef ok_row = { .name = "ok", .info = &info, .handler = nop };
static const QdamoCmdDef *const sub_ok[] = { &ok_row, NULL };
static const QdamoCmdDef *const sub_empty[] = { NULL };
static const QdamoCmdDef *const sub_twice[] = { &ok_row, &ok_row, NULL };

static const BrokenRow broken_rows[] = {
	{ "no-info", { .name = "noinfo", .handler = nop }, "noinfo: no help line" },
	{ "help-lines", { .name = "two", .info = &info_two_lines, .handler = nop },
	  "two: no help line" },
	{ "no-handler", { .name = "nohandler", .info = &info }, "nohandler: no handler" },
	{ "long-name", { .name = "a-very-long-command", .info = &info, .handler = nop },
	  "a-very-long-command: longer than the 16 columns of the command list" },
	{ "upper-case", { .name = "Start", .info = &info, .handler = nop },
	  "Start: not a valid command name" },
	{ "help", { .name = "help", .info = &info, .handler = nop },
	  "help: not a valid command name" },
	{ "group-handler", { .name = "report", .subcmds = sub_ok, .handler = nop },
	  "report: a word that takes another has no info, options or handler" },
	{ "group-empty", { .name = "report", .subcmds = sub_empty },
	  "report: no command in the table" },
	{ "group-twice", { .name = "report", .subcmds = sub_twice },
	  "report: 'ok' is in the table twice" },
	{ "group-row", { .name = "report", .subcmds = (const QdamoCmdDef *const[]){
			 &(const QdamoCmdDef){ .name = "wss", .handler = nop }, NULL } },
	  "report wss: no help line" },
};

static void test_broken_row(gconstpointer data)
{
	const BrokenRow *c = data;

	assert_problem((const QdamoCmdDef *const[]){ &c->row, NULL }, common, c->problem);
}

/* The table's own level and the common options. */
static void test_broken_table(void)
{
	static const QdamoOptDef common_broken[] = {
		{ .name = "id", .type = QDAMO_OPT_STRING, .value_name = "ID", .help = "one" },
		{ .name = "id", .type = QDAMO_OPT_STRING, .value_name = "ID", .help = "two" },
		{ .name = "FILE", .type = QDAMO_OPT_ARGUMENT, .help = "a file" },
		{ NULL }
	};
	const QdamoCmdDef *const twice[] = { &ok_row, &ok_row, NULL };
	const QdamoCmdDef *const empty[] = { NULL };

	assert_problem(twice, common, "qdamo: 'ok' is in the table twice");
	assert_problem(empty, common, "qdamo: no command in the table");
	assert_problem(sub_ok, common_broken, "common options: option 'id' is declared twice");
	assert_problem(sub_ok, common_broken,
		       "common options: 'FILE': no arguments or aliases among them");
}

/* Every problem is listed, not only the first. */
static void test_check_lists_all(void)
{
	const QdamoCmdDef *const table[] = { &broken_rows[0].row, &ok_row,
		&broken_rows[2].row, NULL };
	g_autoptr(GError) err = NULL;

	g_assert_false(qdamo_cmd_check_table(table, common, &err));
	g_assert_cmpstr(err->message, ==, "noinfo: no help line\nnohandler: no handler");
}

/* ---- help from the tables ---- */

typedef struct {
	const QdamoCmdDef *def;
	char *path;		/* "report wss" */
} Leaf;

static void leaf_free(gpointer data)
{
	Leaf *leaf = data;

	g_free(leaf->path);
	g_free(leaf);
}

/* Every command of @table, with its words, in the order of the list. */
static void add_leaves(GPtrArray *out, const QdamoCmdDef *const *table,
		       const char *prefix)
{
	for (; *table; table++) {
		Leaf *leaf = g_new0(Leaf, 1);

		leaf->def = *table;
		leaf->path = prefix ? g_strdup_printf("%s %s", prefix, (*table)->name) :
			g_strdup((*table)->name);
		if ((*table)->subcmds) {
			add_leaves(out, (*table)->subcmds, leaf->path);
			leaf_free(leaf);
		} else {
			g_ptr_array_add(out, leaf);
		}
	}
}

static GPtrArray *leaves(void)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(leaf_free);

	add_leaves(out, qdamo_commands, NULL);
	return out;
}

/* Each option of @opts is in @help, an alias is not. */
static void assert_opts_in(const char *help, const QdamoOptDef *opts)
{
	for (; opts && opts->name; opts++) {
		g_autofree char *word = g_strdup_printf("--%s%s%s", opts->name,
							opts->value_name ? "=" : "",
							opts->value_name ? opts->value_name : "");

		g_test_message("%s", word);
		if (opts->type == QDAMO_OPT_ALIAS)
			g_assert_null(strstr(help, word));
		else if (opts->type == QDAMO_OPT_ARGUMENT)
			g_assert_nonnull(strstr(help, opts->name));
		else
			g_assert_nonnull(strstr(help, word));
		if (opts->type != QDAMO_OPT_ARGUMENT && opts->type != QDAMO_OPT_ALIAS)
			g_assert_nonnull(strstr(help, opts->help));
	}
}

/* "qdamo COMMAND --help": the help line, the description, every option. */
static void test_command_help(gconstpointer data)
{
	const Leaf *leaf = data;
	g_autofree char *help = qdamo_cmd_help(leaf->def, qdamo_common_opts);

	g_assert_nonnull(strstr(help, leaf->def->info->help));
	if (leaf->def->info->desc)
		g_assert_nonnull(strstr(help, leaf->def->info->desc));
	assert_opts_in(help, leaf->def->opts);
	assert_opts_in(help, qdamo_common_opts);
}

/* "qdamo --help": every command with its help line, every common option. */
static void test_overview(void)
{
	g_autoptr(GPtrArray) all = leaves();
	g_autofree char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const QdamoOptDef *o;
	guint i;

	qdamo_print_overview(f);
	fclose(f);
	for (i = 0; i < all->len; i++) {
		const Leaf *leaf = all->pdata[i];
		g_autofree char *line = g_strdup_printf("\n  %-16s %s\n", leaf->path,
							leaf->def->info->help);

		g_assert_nonnull(strstr(text, line));
	}
	for (o = qdamo_common_opts; o->name; o++) {
		g_autofree char *line = g_strdup_printf("--%s=%s  ", o->name, o->value_name);

		g_assert_nonnull(strstr(text, line));
		g_assert_nonnull(strstr(text, o->help));
	}
}

/* ---- finding and parsing a command line ---- */

/* qdamo_cmd_find() on @line's words; the words it leaves in *left. */
static const QdamoCmdDef *find(const char *line, char **left, char **name,
			       GError **err)
{
	g_auto(GStrv) words = g_strsplit(line, " ", -1);
	int argc = (int)g_strv_length(words);
	g_autofree char **argv = g_new0(char *, argc + 1);
	const QdamoCmdDef *def;

	memcpy(argv, words, sizeof(char *) * argc);
	def = qdamo_cmd_find(qdamo_commands, qdamo_common_opts, &argc, argv, name, err);
	g_assert_null(argv[argc]);
	if (left)
		*left = g_strjoinv(" ", argv);
	return def;
}

/* Find and parse @line; NULL with err on a usage error. */
static QdamoCmd *parse(const char *line, GError **err)
{
	g_auto(GStrv) words = g_strsplit(line, " ", -1);
	int argc = (int)g_strv_length(words);
	g_autofree char **argv = g_new0(char *, argc + 1);
	g_autofree char *name = NULL;
	const QdamoCmdDef *def;

	memcpy(argv, words, sizeof(char *) * argc);
	def = qdamo_cmd_find(qdamo_commands, qdamo_common_opts, &argc, argv, &name, err);
	return def ? qdamo_cmd_parse(def, name, qdamo_common_opts, argc, argv, err) : NULL;
}

typedef struct {
	const char *line;
	const char *name;	/* the command found, or NULL */
	const char *left;	/* the words left, or the usage error */
} FindCase;

static const FindCase find_cases[] = {
	{ "qdamo -d vm1 report wss --raw", "report wss", "qdamo -d vm1 --raw" },
	{ "qdamo report -d vm1 regions --top 3", "report regions", "qdamo -d vm1 --top 3" },
	/* the value of a common option is no command word */
	{ "qdamo --qmp report status", "status", "qdamo --qmp report" },
	{ "qdamo -c qemu:///system -d start start -s 5ms", "start",
	  "qdamo -c qemu:///system -d start -s 5ms" },
	{ "qdamo --qmp=/x stop", "stop", "qdamo --qmp=/x" },
	{ "qdamo report heatmap rec.json", "report heatmap", "qdamo rec.json" },
	{ "qdamo report", NULL, "report what? 'qdamo report wss', 'report regions', "
	  "'report heatmap FILE', 'report schemes' or 'report idle'" },
	{ "qdamo -d vm report nope", NULL, "report what? 'qdamo report wss', "
	  "'report regions', 'report heatmap FILE', 'report schemes' or "
	  "'report idle'" },
	{ "qdamo --qmp /x report schemes --tried-regions", "report schemes",
	  "qdamo --qmp /x --tried-regions" },
	{ "qdamo bogus", NULL, "unknown command 'bogus' (see 'qdamo --help')" },
	/* no command word at all: no error, the caller prints the list */
	{ "qdamo -d vm1 --timeout 5", NULL, NULL },
};

static void test_find(gconstpointer data)
{
	const FindCase *c = data;
	g_autoptr(GError) err = NULL;
	g_autofree char *name = NULL, *left = NULL;
	const QdamoCmdDef *def = find(c->line, &left, &name, &err);

	if (c->name) {
		g_assert_no_error(err);
		g_assert_nonnull(def);
		g_assert_cmpstr(name, ==, c->name);
		g_assert_cmpstr(left, ==, c->left);
	} else if (c->left) {
		g_assert_null(def);
		g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE);
		g_assert_cmpstr(err->message, ==, c->left);
	} else {
		g_assert_null(def);
		g_assert_no_error(err);
	}
}

/* Options, common ones, aliases and repeated options, through the getters. */
static void test_parse(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(QdamoCmd) start = parse("qdamo start --updr 2s -n 5 --maxr=9 "
					  "-s 5ms -d vm1", &err);
	g_autoptr(QdamoCmd) status = NULL;
	char *const *qmp;
	gint64 v = -1;
	double d = 0;

	g_assert_no_error(err);
	g_assert_cmpstr(qdamo_cmd_name(start), ==, "start");
	/* an alias sets the option it stands for */
	g_assert_cmpstr(qdamo_cmd_str(start, "update"), ==, "2s");
	g_assert_true(qdamo_cmd_int(start, "min-nr-regions", &v));
	g_assert_cmpint(v, ==, 5);
	g_assert_true(qdamo_cmd_int(start, "max-nr-regions", &v));
	g_assert_cmpint(v, ==, 9);
	g_assert_cmpstr(qdamo_cmd_str(start, "sample"), ==, "5ms");
	g_assert_null(qdamo_cmd_str(start, "aggr"));
	g_assert_cmpstr(qdamo_cmd_str(start, "domain"), ==, "vm1");
	g_assert_null(qdamo_cmd_strv(start, "qmp"));
	g_assert_false(qdamo_cmd_double(start, "timeout", &d));
	g_assert_cmpfloat(qdamo_timeout(start), ==, 30.0);
	g_assert_cmpstr(qdamo_monitor_id(start), ==, "damon0");

	status = parse("qdamo --qmp a status --qmp b --timeout 2.5 -j -i low", &err);
	g_assert_no_error(err);
	qmp = qdamo_cmd_strv(status, "qmp");
	g_assert_cmpstr(qmp[0], ==, "a");
	g_assert_cmpstr(qmp[1], ==, "b");
	g_assert_null(qmp[2]);
	g_assert_true(qdamo_cmd_double(status, "timeout", &d));
	g_assert_cmpfloat(d, ==, 2.5);
	g_assert_true(qdamo_cmd_flag(status, "json"));
	g_assert_false(qdamo_cmd_flag(status, "raw"));
	g_assert_cmpstr(qdamo_monitor_id(status), ==, "low");

	/* C syntax, as GOption reads numbers: 0x10 is 16 */
	g_clear_pointer(&status, qdamo_cmd_free);
	status = parse("qdamo report regions --top 0x10", &err);
	g_assert_true(qdamo_cmd_int(status, "top", &v));
	g_assert_cmpint(v, ==, 16);
}

/* ORDERED options: in command-line order, among the others. */
static void test_parse_ordered(void)
{
	static const QdamoOptUse want[] = {
		{ "scheme-action", "pageout" }, { "scheme-sz-min", "4K" },
		{ "scheme-action", "stat" }, { "scheme-filter", "young" },
	};
	g_autoptr(GError) err = NULL;
	g_autoptr(QdamoCmd) start = parse("qdamo start --scheme-action pageout -s 5ms "
					  "--scheme-sz-min=4K -d vm1 --scheme-action stat "
					  "--scheme-filter young", &err);
	g_autoptr(QdamoCmd) none = NULL;
	const GArray *uses;
	char *const *actions;
	guint i;

	g_assert_no_error(err);
	uses = qdamo_cmd_ordered(start);
	g_assert_cmpuint(uses->len, ==, G_N_ELEMENTS(want));
	for (i = 0; i < uses->len; i++) {
		g_assert_cmpstr(g_array_index(uses, QdamoOptUse, i).name, ==, want[i].name);
		g_assert_cmpstr(g_array_index(uses, QdamoOptUse, i).value, ==, want[i].value);
	}
	/* each option's own values too */
	actions = qdamo_cmd_strv(start, "scheme-action");
	g_assert_cmpstr(actions[0], ==, "pageout");
	g_assert_cmpstr(actions[1], ==, "stat");
	g_assert_null(actions[2]);
	g_assert_cmpstr(qdamo_cmd_str(start, "sample"), ==, "5ms");

	none = parse("qdamo start -s 5ms", &err);
	g_assert_no_error(err);
	g_assert_cmpuint(qdamo_cmd_ordered(none)->len, ==, 0);
	g_assert_null(qdamo_cmd_strv(none, "scheme-action"));
}

/* ---- schemes from the --scheme-* options ---- */

typedef struct {
	const char *line;
	const char *schemes;	/* the "schemes" JSON wanted; NULL: none */
	const char *error;	/* or the usage error wanted */
} SchemeCase;

#define EVERY_FLAG "qdamo start --scheme-action pageout --scheme-sz-min 4K " \
	"--scheme-sz-max 1G --scheme-nr-accesses-min 0 --scheme-nr-accesses-max 0 " \
	"--scheme-age-min 50 --scheme-age-max 1000 --scheme-apply-interval-us 1s " \
	"--scheme-quota-ms 10 --scheme-quota-bytes 256M --scheme-quota-reset-ms 2s " \
	"--scheme-weights 0,1,2 --scheme-goal rss-bytes:1G " \
	"--scheme-goal user-input:100:40 --scheme-wmarks free-mem-rate:500:400:50:5s " \
	"--scheme-filter addr:0-1G:allow --scheme-filter young:reject:nomatch " \
	"--scheme-target-nid 0"

static const SchemeCase scheme_cases[] = {
	{ EVERY_FLAG,
	  "[{\"action\": \"pageout\","
	  "  \"access-pattern\": {\"sz-min\": 4096, \"sz-max\": 1073741824,"
	  "    \"nr-accesses-min\": 0, \"nr-accesses-max\": 0,"
	  "    \"age-min\": 50, \"age-max\": 1000},"
	  "  \"apply-interval-us\": 1000000,"
	  "  \"quotas\": {\"ms\": 10, \"bytes\": 268435456, \"reset-interval-ms\": 2000,"
	  "    \"weights\": {\"sz\": 0, \"nr-accesses\": 1, \"age\": 2},"
	  "    \"goals\": [{\"metric\": \"rss-bytes\", \"target-value\": 1073741824},"
	  "      {\"metric\": \"user-input\", \"target-value\": 100,"
	  "       \"current-value\": 40}]},"
	  "  \"watermarks\": {\"metric\": \"free-mem-rate\", \"high\": 500,"
	  "    \"mid\": 400, \"low\": 50, \"interval-us\": 5000000},"
	  "  \"filters\": [{\"type\": \"addr\", \"start\": 0, \"end\": 1073741824,"
	  "      \"allow\": true},"
	  "    {\"type\": \"young\", \"allow\": false, \"matching\": false}],"
	  "  \"target-nid\": 0}]", NULL },
	/* the options of one scheme end at the next --scheme-action; damo's migrate_cold */
	{ "qdamo start --scheme-action migrate_cold --scheme-target-nid 1 -s 5ms "
	  "--scheme-action stat --scheme-age-min=7 --scheme-filter young",
	  "[{\"action\": \"migrate-cold\", \"target-nid\": 1},"
	  " {\"action\": \"stat\", \"access-pattern\": {\"age-min\": 7},"
	  "  \"filters\": [{\"type\": \"young\"}]}]", NULL },
	{ "qdamo start --scheme-action cold --scheme-quota-ms 1.5s "
	  "--scheme-apply-interval-us 200000 --scheme-wmarks none:0:0:0",
	  "[{\"action\": \"cold\", \"quotas\": {\"ms\": 1500},"
	  "  \"apply-interval-us\": 200000,"
	  "  \"watermarks\": {\"metric\": \"none\", \"high\": 0, \"mid\": 0, \"low\": 0}}]", NULL },
	{ "qdamo start -s 5ms", NULL, NULL },
	{ "qdamo tune --scheme-action hugepage",
	  "[{\"action\": \"hugepage\"}]", NULL },
	/* errors */
	{ "qdamo start --scheme-sz-min 4K --scheme-action pageout", NULL,
	  "start: --scheme-sz-min comes before any --scheme-action: a scheme starts "
	  "with --scheme-action ACTION, and the --scheme-* options after it are that "
	  "scheme's (see 'qdamo start --help')" },
	{ "qdamo tune --scheme-goal rss-bytes:1G", NULL,
	  "tune: --scheme-goal comes before any --scheme-action: a scheme starts "
	  "with --scheme-action ACTION, and the --scheme-* options after it are that "
	  "scheme's (see 'qdamo tune --help')" },
	{ "qdamo start --scheme-action stat --scheme-action reclaim", NULL,
	  "scheme 1: --scheme-action: unknown scheme action 'reclaim' (give stat, "
	  "pageout, cold, willneed, hugepage, nohugepage, migrate-hot or migrate-cold)" },
	{ "qdamo start --scheme-action pageout --scheme-goal rss-bytes", NULL,
	  "scheme 0: --scheme-goal: 'rss-bytes' is not METRIC:TARGET[:CURRENT] "
	  "(examples: rss-bytes:1G, some-mem-psi-us:10000, user-input:100:40)" },
	{ "qdamo start --scheme-action pageout --scheme-goal rss-bytes:1G:2:3", NULL,
	  "scheme 0: --scheme-goal: 'rss-bytes:1G:2:3' is not METRIC:TARGET[:CURRENT] "
	  "(examples: rss-bytes:1G, some-mem-psi-us:10000, user-input:100:40)" },
	{ "qdamo start --scheme-action pageout --scheme-goal psi:10", NULL,
	  "scheme 0: --scheme-goal: unknown goal metric 'psi' (give user-input, "
	  "some-mem-psi-us or rss-bytes)" },
	{ "qdamo start --scheme-action pageout --scheme-goal rss-bytes:lots", NULL,
	  "scheme 0: --scheme-goal: 'lots' is not a size or address (examples: "
	  "4096, 0x1000000, 16M, 4G)" },
	{ "qdamo start --scheme-action pageout --scheme-wmarks free-mem-rate:500:400", NULL,
	  "scheme 0: --scheme-wmarks: 'free-mem-rate:500:400' is not "
	  "METRIC:HIGH:MID:LOW[:INTERVAL] (example: free-mem-rate:500:400:50:5s)" },
	{ "qdamo start --scheme-action pageout --scheme-filter addr", NULL,
	  "scheme 0: --scheme-filter: 'addr': an addr filter needs its range, "
	  "addr:START-END (example: addr:0-1G)" },
	{ "qdamo start --scheme-action pageout --scheme-filter young:maybe", NULL,
	  "scheme 0: --scheme-filter: 'young:maybe' is not addr:START-END or young, "
	  "then :allow or :reject, then :nomatch (examples: addr:0-1G:allow, "
	  "young:reject:nomatch)" },
	{ "qdamo start --scheme-action pageout --scheme-filter memcg:1", NULL,
	  "scheme 0: --scheme-filter: unknown filter type in 'memcg:1' (give "
	  "addr:START-END or young)" },
	{ "qdamo start --scheme-action pageout --scheme-weights 1,2", NULL,
	  "scheme 0: --scheme-weights: '1,2' is not SZ,NR,AGE (example: 0,1,1)" },
	{ "qdamo start --scheme-action pageout --scheme-age-min=-1", NULL,
	  "scheme 0: --scheme-age-min: '-1' is not a whole number from 0 to 4294967295" },
	{ "qdamo start --scheme-action stat --scheme-action pageout --scheme-sz-min 4K "
	  "--scheme-sz-min 8K", NULL,
	  "scheme 1: --scheme-sz-min: given twice (a scheme takes it once)" },
	{ "qdamo start --schemes s.json --scheme-action stat", NULL,
	  "start: give --schemes FILE or --scheme-action and its options, not both "
	  "(see 'qdamo start --help')" },
};

static void test_schemes(gconstpointer data)
{
	const SchemeCase *c = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(QdamoCmd) cmd = parse(c->line, &err);
	g_autoptr(JsonObject) args = json_object_new();
	gboolean ok;

	g_assert_no_error(err);
	ok = qdamo_scheme_args(cmd, args, &err);
	if (c->error) {
		g_assert_false(ok);
		g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE);
		g_assert_cmpstr(err->message, ==, c->error);
		return;
	}
	g_assert_no_error(err);
	g_assert_true(ok);
	if (!c->schemes) {
		g_assert_false(json_object_has_member(args, "schemes"));
	} else {
		g_autoptr(JsonNode) want = qdamo_json_parse(c->schemes, -1, NULL);
		JsonNode *got = json_object_get_member(args, "schemes");
		g_autofree char *text = got ? qdamo_json_to_string(got, FALSE) : NULL;

		g_test_message("got %s", text);
		g_assert_nonnull(want);
		g_assert_nonnull(got);
		/* every member, nothing more: member order aside, the same JSON */
		g_assert_true(json_node_equal(got, want));
	}
}

/* The describing line start and tune print. */
static void test_schemes_describe(void)
{
	g_autoptr(JsonNode) two = qdamo_json_parse("[{\"action\": \"pageout\"},"
						   " {\"action\": \"stat\"}]", -1, NULL);
	g_autoptr(JsonNode) one = qdamo_json_parse("[{\"action\": \"cold\"}]", -1, NULL);
	g_autoptr(JsonArray) none = json_array_new();
	g_autofree char *t2 = qdamo_schemes_describe(json_node_get_array(two));
	g_autofree char *t1 = qdamo_schemes_describe(json_node_get_array(one));
	g_autofree char *t0 = qdamo_schemes_describe(none);

	g_assert_cmpstr(t2, ==, "2 schemes: pageout, stat");
	g_assert_cmpstr(t1, ==, "1 scheme: cold");
	g_assert_cmpstr(t0, ==, "no schemes");
}

typedef struct {
	const char *line;
	GOptionArg arg;		/* the GOption type the option would have had */
	const char *value, *cmd, *opt;
} NumberCase;

static const NumberCase number_cases[] = {
	{ "qdamo report regions --top x", G_OPTION_ARG_INT, "x", "report regions", "--top" },
	{ "qdamo report regions -n 3x", G_OPTION_ARG_INT, "3x", "report regions", "-n" },
	{ "qdamo watch --count 99999999999", G_OPTION_ARG_INT, "99999999999", "watch",
	  "--count" },
	{ "qdamo start --min-nr-regions 99999999999999999999", G_OPTION_ARG_INT64,
	  "99999999999999999999", "start", "--min-nr-regions" },
	{ "qdamo status --timeout abc", G_OPTION_ARG_DOUBLE, "abc", "status", "--timeout" },
	{ "qdamo status --timeout 1e999", G_OPTION_ARG_DOUBLE, "1e999", "status", "--timeout" },
};

/* GLib's own message for @value of a native @arg option "--x". */
static char *glib_message(GOptionArg arg, const char *value)
{
	union {
		gint i;
		gint64 l;
		double d;
	} store;
	GOptionEntry entries[] = {
		{ "x", 0, 0, arg, &store, "x", "N" },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GError) err = NULL;
	char *argv[] = { (char *)"prog", (char *)"--x", (char *)value, NULL };
	char **args = argv;
	int argc = 3;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_assert_false(g_option_context_parse(ctx, &argc, &args, &err));
	return g_strdup(err->message);
}

/* Numbers are refused in GLib's words, as GOption's own types would be. */
static void test_number(gconstpointer data)
{
	const NumberCase *c = data;
	g_autoptr(GError) err = NULL;
	g_autofree char *glib = glib_message(c->arg, c->value);
	g_autofree char *want = NULL;
	char *at = strstr(glib, "--x");

	g_assert_nonnull(at);
	*at = '\0';
	want = g_strdup_printf("%s: %s%s%s (see 'qdamo %s --help')", c->cmd, glib,
			       c->opt, at + 3, c->cmd);
	g_assert_null(parse(c->line, &err));
	g_assert_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE);
	g_assert_cmpstr(err->message, ==, want);
}

typedef struct {
	const char *line;
	int code;
	const char *message;	/* or NULL: any */
} RunCase;

/* The words left after the options are the command's arguments. */
static const RunCase run_cases[] = {
	{ "qdamo report heatmap", QDAMO_ERROR_USAGE, "report heatmap: give one "
	  "record file (from 'qdamo record') (see 'qdamo report heatmap --help')" },
	{ "qdamo report heatmap a b --rows 3", QDAMO_ERROR_USAGE, "report heatmap: "
	  "give one record file (from 'qdamo record') (see 'qdamo report heatmap "
	  "--help')" },
	{ "qdamo status extra", QDAMO_ERROR_USAGE, "status: unexpected argument "
	  "'extra' (see 'qdamo status --help')" },
	{ "qdamo tune", QDAMO_ERROR_USAGE, "tune: nothing to change: give --sample, "
	  "--aggr, --update, region limits, --intervals-goal or schemes (see 'qdamo tune --help')" },
	{ "qdamo -d vm1 start --nr-regions 1,2 --minr 1", QDAMO_ERROR_USAGE,
	  "start: give --nr-regions or --min/max-nr-regions, not both (see "
	  "'qdamo start --help')" },
	/* the argument reaches the handler: it reads the file */
	{ "qdamo report heatmap /nonexistent/rec.json", QDAMO_ERROR_FILE, NULL },
	{ "qdamo convert --to damo /nonexistent/rec.json", QDAMO_ERROR_FILE, NULL },
};

static void test_run(gconstpointer data)
{
	const RunCase *c = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(QdamoCmd) cmd = parse(c->line, &err);

	g_assert_no_error(err);
	g_assert_false(qdamo_cmd_run(cmd, &err));
	g_assert_error(err, QDAMO_ERROR, c->code);
	if (c->message)
		g_assert_cmpstr(err->message, ==, c->message);
}

/*
 * One test path per case of @cases (@n of @size bytes): "/qdamo/commands/
 * @group/" and the case's name, when @named (the struct begins with its
 * name), or its number.
 */
static void add_cases(const char *group, const void *cases, gsize size, guint n,
		      gboolean named, GTestDataFunc fn)
{
	guint i;

	for (i = 0; i < n; i++) {
		const void *c = (const char *)cases + i * size;
		g_autofree char *path = named ?
			g_strdup_printf("/qdamo/commands/%s/%s", group, *(const char *const *)c) :
			g_strdup_printf("/qdamo/commands/%s/%u", group, i);

		g_test_add_data_func(path, c, fn);
	}
}

#define ADD_CASES(group, cases, named, fn) \
	add_cases(group, cases, sizeof(cases[0]), G_N_ELEMENTS(cases), named, fn)

int main(int argc, char **argv)
{
	g_autoptr(GPtrArray) all = leaves();
	guint i;

	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qdamo/commands/check", test_check);
	ADD_CASES("check/option", broken_opts, TRUE, test_broken_opts);
	ADD_CASES("check/row", broken_rows, TRUE, test_broken_row);
	g_test_add_func("/qdamo/commands/check/table", test_broken_table);
	g_test_add_func("/qdamo/commands/check/lists-all", test_check_lists_all);
	for (i = 0; i < all->len; i++) {
		const Leaf *leaf = all->pdata[i];
		g_autofree char *path = g_strdup_printf("/qdamo/commands/help/%s", leaf->path);

		g_strdelimit(path, " ", '-');
		g_test_add_data_func(path, leaf, test_command_help);
	}
	g_test_add_func("/qdamo/commands/help/overview", test_overview);
	ADD_CASES("find", find_cases, FALSE, test_find);
	g_test_add_func("/qdamo/commands/parse", test_parse);
	g_test_add_func("/qdamo/commands/parse/ordered", test_parse_ordered);
	ADD_CASES("schemes", scheme_cases, FALSE, test_schemes);
	g_test_add_func("/qdamo/commands/schemes/describe", test_schemes_describe);
	ADD_CASES("parse/number", number_cases, FALSE, test_number);
	ADD_CASES("run", run_cases, FALSE, test_run);
	return g_test_run();
}
