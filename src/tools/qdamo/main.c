// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - qdamo's command line: find the command, parse the shared
 * target options, run it, and turn an error into one line on stderr
 * and an exit status.
 *
 *   qdamo [-c URI] -d DOMAIN COMMAND [OPTION...]
 *   qdamo --qmp PATH COMMAND [OPTION...]
 *
 * The target options may come before or after the command words, as
 * with git and virsh; everything else belongs to the command.
 */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "qdamo.h"

char *qdamo_opt_uri;
char *qdamo_opt_domain;
char **qdamo_opt_qmp;
char *qdamo_opt_id;
double qdamo_opt_timeout = 30.0;

static const GOptionEntry target_entries[] = {
	{ "connect", 'c', 0, G_OPTION_ARG_STRING, &qdamo_opt_uri,
	  "libvirt connection URI (default qemu:///system)", "URI" },
	{ "domain", 'd', 0, G_OPTION_ARG_STRING, &qdamo_opt_domain,
	  "the libvirt domain to talk to", "DOMAIN" },
	{ "qmp", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &qdamo_opt_qmp,
	  "talk QMP on this unix socket instead of through libvirt "
	  "(QEMU's -qmp unix:PATH,server=on,wait=off)", "PATH" },
	{ "id", 'i', 0, G_OPTION_ARG_STRING, &qdamo_opt_id,
	  "the DAMON monitor (default damon0)", "ID" },
	{ "timeout", 0, 0, G_OPTION_ARG_DOUBLE, &qdamo_opt_timeout,
	  "seconds to wait for QEMU's answers (default 30)", "S" },
	{ NULL }
};

/* The shared options that take a value as the next word. */
static gboolean takes_value(const char *arg)
{
	static const char *const opts[] = { "-c", "--connect", "-d", "--domain",
		"--qmp", "-i", "--id", "--timeout", NULL };
	int i;

	for (i = 0; opts[i]; i++)
		if (!strcmp(arg, opts[i]))
			return TRUE;
	return FALSE;
}

static const QdamoCommand commands[] = {
	{ "start", "", "start a DAMON monitor (damon-start)", qdamo_cmd_start },
	{ "stop", "", "stop a monitor (damon-stop)", qdamo_cmd_stop },
	{ "tune", "", "change a running monitor's intervals and region "
	  "limits (damon-tune)", qdamo_cmd_tune },
	{ "status", "", "list the monitors (query-damon)", qdamo_cmd_status },
	{ "report wss", "", "working-set size distribution (query-damon-wss, "
	  "or a record file)", qdamo_cmd_report_wss },
	{ "report regions", "", "the last aggregated snapshot "
	  "(query-damon-regions, or a record file)", qdamo_cmd_report_regions },
	{ "report heatmap", "FILE", "time x address heatmap of a record file, "
	  "in the terminal or as PNG/SVG", qdamo_cmd_report_heatmap },
	{ "record", "", "save a snapshot every aggregation interval to a "
	  "JSON file", qdamo_cmd_record },
	{ "convert", "FILE", "turn a record file into damo's record format",
	  qdamo_cmd_convert },
	{ "watch", "", "live top-like view of a monitor", qdamo_cmd_watch },
	{ "exporter", "", "serve Prometheus metrics of every monitored VM over "
	  "HTTP", qdamo_cmd_exporter },
	{ NULL }
};

static void print_overview(FILE *f)
{
	const QdamoCommand *c;

	fprintf(f,
		"Usage:\n"
		"  qdamo [-c URI] -d DOMAIN COMMAND [OPTION...]\n"
		"  qdamo --qmp PATH COMMAND [OPTION...]\n"
		"\n"
		"Control and read qdamon's DAMON monitors of a QEMU guest, through\n"
		"libvirt (virDomainQemuMonitorCommand) or a QMP socket.\n"
		"\n"
		"Commands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %-16s %s\n", c->name, c->summary);
	fprintf(f,
		"\n"
		"Options for every command:\n"
		"  -c, --connect=URI   libvirt connection URI (default qemu:///system)\n"
		"  -d, --domain=DOMAIN the libvirt domain to talk to\n"
		"  --qmp=PATH          a QMP unix socket instead of libvirt\n"
		"  -i, --id=ID         the DAMON monitor (default damon0)\n"
		"  --timeout=S         seconds to wait for QEMU (default 30)\n"
		"\n"
		"'qdamo COMMAND --help' describes a command; docs/qdamo.md has them all.\n"
		"Exit status: 0 ok, 1 QEMU refused or a file failed, 2 usage,\n"
		"3 target unreachable or not running, 4 QEMU without qdamon.\n");
}

gboolean qdamo_usage_error(GError **err, const QdamoCommand *cmd,
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

gboolean qdamo_parse_options(const QdamoCommand *cmd,
			     const GOptionEntry *entries,
			     const char *description, int *argc, char ***argv,
			     GError **err)
{
	g_autofree char *params = g_strdup_printf("%s - %s", cmd->params, cmd->summary);
	g_autoptr(GOptionContext) ctx = g_option_context_new(params);
	g_autoptr(GError) local = NULL;

	/* the target options in the main group too, so that --help lists them */
	if (entries)
		g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_add_main_entries(ctx, target_entries, NULL);
	if (description)
		g_option_context_set_description(ctx, description);
	if (!g_option_context_parse(ctx, argc, argv, &local))
		return qdamo_usage_error(err, cmd, "%s", local->message);
	if (qdamo_opt_timeout <= 0 || qdamo_opt_timeout > 3600)
		return qdamo_usage_error(err, cmd, "--timeout must be above 0 and at most 3600");
	return TRUE;
}

QdamoTarget *qdamo_open_target(GError **err)
{
	if (qdamo_opt_qmp && qdamo_opt_qmp[0]) {
		if (qdamo_opt_domain) {
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
				    "give either -d DOMAIN or --qmp PATH, not both");
			return NULL;
		}
		return qdamo_target_qmp(qdamo_opt_qmp[0], qdamo_opt_timeout, err);
	}
	if (!qdamo_opt_domain) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "which VM? give -d DOMAIN (libvirt) or --qmp PATH");
		return NULL;
	}
	return qdamo_target_libvirt(qdamo_opt_uri, qdamo_opt_domain, err);
}

const char *qdamo_monitor_id(void)
{
	return qdamo_opt_id ? qdamo_opt_id : "damon0";
}

static volatile gboolean interrupted;

static void on_signal(int sig)
{
	interrupted = TRUE;
}

void qdamo_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

gboolean qdamo_interrupted(void)
{
	return interrupted;
}

/*
 * Find the command words: the first one or two positional words, not
 * counting the values of the shared options.  Removes them from argv.
 */
static const QdamoCommand *find_command(int *argc, char **argv, GError **err)
{
	int i, first = -1, second = -1;
	const QdamoCommand *c;

	for (i = 1; i < *argc; i++) {
		if (argv[i][0] == '-') {
			if (takes_value(argv[i]))
				i++;
			continue;
		}
		if (first < 0) {
			first = i;
			if (strcmp(argv[i], "report"))
				break;
		} else {
			second = i;
			break;
		}
	}
	if (first < 0)
		return NULL;
	for (c = commands; c->name; c++) {
		g_autofree char *name = second < 0 ? g_strdup(argv[first]) :
			g_strdup_printf("%s %s", argv[first], argv[second]);

		if (!strcmp(c->name, name))
			break;
	}
	if (!c->name) {
		if (!strcmp(argv[first], "report"))
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
				    "report what? 'qdamo report wss', 'report regions' "
				    "or 'report heatmap FILE'");
		else
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
				    "unknown command '%s' (see 'qdamo --help')", argv[first]);
		return NULL;
	}
	for (i = first; i + 1 < *argc; i++)
		argv[i] = argv[i + 1];
	(*argc)--;
	if (second >= 0) {
		for (i = second - 1; i + 1 < *argc; i++)
			argv[i] = argv[i + 1];
		(*argc)--;
	}
	argv[*argc] = NULL;
	return c;
}

static gboolean wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
		    !strcmp(argv[i], "--help-all"))
			return TRUE;
	return FALSE;
}

int main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *prgname = NULL;
	const QdamoCommand *cmd;

	setlocale(LC_ALL, "");
	/* "qdamo help [COMMAND]" is "qdamo [COMMAND] --help" */
	if (argc >= 2 && !strcmp(argv[1], "help"))
		argv[1] = (char *)"--help";
	if (wants_help(argc, argv)) {
		g_autofree char **copy = g_new(char *, argc + 1);
		int n = argc;

		memcpy(copy, argv, sizeof(char *) * (argc + 1));
		if (!find_command(&n, copy, NULL)) {
			print_overview(stdout);
			return 0;
		}
	}
	cmd = find_command(&argc, argv, &err);
	if (!cmd) {
		if (!err) {
			print_overview(stderr);
			return 2;
		}
		fprintf(stderr, "qdamo: %s\n", err->message);
		return qdamo_exit_status(err);
	}
	prgname = g_strdup_printf("qdamo %s", cmd->name);
	g_set_prgname(prgname);
	if (!cmd->run(cmd, argc, argv, &err)) {
		fprintf(stderr, "qdamo: %s\n", err ? err->message : "failed");
		return qdamo_exit_status(err);
	}
	return 0;
}
