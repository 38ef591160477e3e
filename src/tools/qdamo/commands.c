// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * commands.c - qdamo's command table and the options every command
 * shares: which VM (-c/-d or --qmp), which monitor (--id), how long to
 * wait (--timeout).
 */
#include <signal.h>

#include "error.h"
#include "jsonx.h"
#include "qdamo.h"

#define DEFAULT_TIMEOUT_S 30.0

const QdamoOptDef qdamo_common_opts[] = {
	{ .name = "connect", .short_name = 'c', .type = QDAMO_OPT_STRING,
	  .value_name = "URI",
	  .help = "libvirt connection URI (default qemu:///system)" },
	{ .name = "domain", .short_name = 'd', .type = QDAMO_OPT_STRING,
	  .value_name = "DOMAIN", .help = "the libvirt domain to talk to" },
	{ .name = "qmp", .type = QDAMO_OPT_FILE_LIST, .value_name = "PATH",
	  .help = "a QMP unix socket instead of libvirt "
		  "(QEMU's -qmp unix:PATH,server=on,wait=off)" },
	{ .name = "id", .short_name = 'i', .type = QDAMO_OPT_STRING,
	  .value_name = "ID", .help = "the DAMON monitor (default damon0)" },
	{ .name = "timeout", .type = QDAMO_OPT_DOUBLE, .value_name = "S",
	  .help = "seconds to wait for QEMU's answers (default 30)" },
	{ NULL }
};

static const QdamoCmdDef *const report_cmds[] = {
	&qdamo_cmddef_report_wss,
	&qdamo_cmddef_report_regions,
	&qdamo_cmddef_report_heatmap,
	&qdamo_cmddef_report_schemes,
	&qdamo_cmddef_report_idle,
	NULL
};

static const QdamoCmdDef report = { .name = "report", .subcmds = report_cmds };

const QdamoCmdDef *const qdamo_commands[] = {
	&qdamo_cmddef_start,
	&qdamo_cmddef_stop,
	&qdamo_cmddef_tune,
	&qdamo_cmddef_status,
	&report,
	&qdamo_cmddef_record,
	&qdamo_cmddef_convert,
	&qdamo_cmddef_watch,
	&qdamo_cmddef_exporter,
	NULL
};

void qdamo_print_overview(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  qdamo [-c URI] -d DOMAIN COMMAND [OPTION...]\n"
		"  qdamo --qmp PATH COMMAND [OPTION...]\n"
		"\n"
		"Control and read qdamon's DAMON monitors of a QEMU guest, through\n"
		"libvirt (virDomainQemuMonitorCommand) or a QMP socket.\n"
		"\n"
		"Commands:\n");
	qdamo_cmd_print_list(f, qdamo_commands);
	fprintf(f, "\nOptions for every command:\n");
	qdamo_cmd_print_opts(f, qdamo_common_opts);
	fprintf(f,
		"\n"
		"'qdamo COMMAND --help' describes a command; docs/qdamo.md has them all.\n"
		"Exit status: 0 ok, 1 QEMU refused or a file failed, 2 usage,\n"
		"3 target unreachable or not running, 4 QEMU without qdamon.\n");
}

double qdamo_timeout(const QdamoCmd *cmd)
{
	double s = DEFAULT_TIMEOUT_S;

	qdamo_cmd_double(cmd, "timeout", &s);
	return s;
}

gboolean qdamo_check_common_opts(const QdamoCmd *cmd, GError **err)
{
	double s = qdamo_timeout(cmd);

	if (s <= 0 || s > 3600)
		return qdamo_usage_error(err, cmd, "--timeout must be above 0 and at most 3600");
	return TRUE;
}

QdamoTarget *qdamo_open_target(const QdamoCmd *cmd, GError **err)
{
	char *const *qmp = qdamo_cmd_strv(cmd, "qmp");
	const char *domain = qdamo_cmd_str(cmd, "domain");

	if (qmp) {
		if (domain) {
			g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
				    "give either -d DOMAIN or --qmp PATH, not both");
			return NULL;
		}
		return qdamo_target_qmp(qmp[0], qdamo_timeout(cmd), err);
	}
	if (!domain) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_USAGE,
			    "which VM? give -d DOMAIN (libvirt) or --qmp PATH");
		return NULL;
	}
	return qdamo_target_libvirt(qdamo_cmd_str(cmd, "connect"), domain, err);
}

JsonNode *qdamo_query(const QdamoCmd *cmd, QdamoTarget *t, const char *command,
		      JsonObject *args, gboolean *printed, GError **err)
{
	JsonNode *ret = t ? qdamo_execute(t, command, args, err) : NULL;

	*printed = ret && qdamo_cmd_flag(cmd, "json");
	if (*printed) {
		qdamo_json_print(ret);
		g_clear_pointer(&ret, json_node_unref);
	}
	return ret;
}

const char *qdamo_monitor_id(const QdamoCmd *cmd)
{
	const char *id = qdamo_cmd_str(cmd, "id");

	return id ? id : "damon0";
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
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
	return interrupted != 0;
}
