// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - qdamo's command line: find the command in the table, parse
 * its options, run it, and turn an error into one line on stderr and an
 * exit status.
 *
 *   qdamo [-c URI] -d DOMAIN COMMAND [OPTION...]
 *   qdamo --qmp PATH COMMAND [OPTION...]
 *
 * The common options may come before or after the command words, as
 * with git and virsh; everything else belongs to the command.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "qdamo.h"

static gboolean wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
		    !strcmp(argv[i], "--help-all"))
			return TRUE;
	return FALSE;
}

static int fail(const GError *err)
{
	fprintf(stderr, "qdamo: %s\n", err ? err->message : "failed");
	return qdamo_exit_status(err);
}

int main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(QdamoCmd) cmd = NULL;
	g_autofree char *name = NULL, *prgname = NULL;
	const QdamoCmdDef *def;

	setlocale(LC_ALL, "");
	/* "qdamo help [COMMAND]" is "qdamo [COMMAND] --help" */
	if (argc >= 2 && !strcmp(argv[1], "help"))
		argv[1] = (char *)"--help";
	def = qdamo_cmd_find(qdamo_commands, qdamo_common_opts, &argc, argv,
			     &name, &err);
	if (!def && wants_help(argc, argv)) {
		qdamo_print_overview(stdout);
		return 0;
	}
	if (!def && !err) {
		qdamo_print_overview(stderr);
		return 2;
	}
	if (!def)
		return fail(err);
	prgname = g_strdup_printf("qdamo %s", name);
	g_set_prgname(prgname);
	cmd = qdamo_cmd_parse(def, name, qdamo_common_opts, argc, argv, &err);
	if (!cmd || !qdamo_check_common_opts(cmd, &err) || !qdamo_cmd_run(cmd, &err))
		return fail(err);
	return 0;
}
