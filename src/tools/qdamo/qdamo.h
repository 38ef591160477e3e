/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamo.h - qdamo's command table, the options every command shares,
 * and what the handlers use of them.
 *
 * Each cmd-*.c file defines, per command, an info, an option table, a
 * handler and the row (a QdamoCmdDef) that ties them; commands.c puts
 * the rows in the table.  See command.h for the machinery.
 */
#ifndef QDAMO_H
#define QDAMO_H

#include <stdio.h>

#include <glib.h>

#include "command.h"
#include "target.h"

/* The target and monitor options (-c, -d, --qmp, --id, --timeout). */
extern const QdamoOptDef qdamo_common_opts[];

/* The commands, in the order "qdamo --help" lists them. */
extern const QdamoCmdDef *const qdamo_commands[];

/* The rows, each beside its handler in cmd-*.c. */
extern const QdamoCmdDef qdamo_cmddef_start, qdamo_cmddef_stop,
	qdamo_cmddef_tune, qdamo_cmddef_status, qdamo_cmddef_report_wss,
	qdamo_cmddef_report_regions, qdamo_cmddef_report_heatmap,
	qdamo_cmddef_report_schemes, qdamo_cmddef_report_idle,
	qdamo_cmddef_record, qdamo_cmddef_convert, qdamo_cmddef_watch,
	qdamo_cmddef_exporter;

/*
 * Options several commands take, as virsh's VIRSH_COMMON_OPT_*: each
 * command words its help for what the option means there.
 */
#define QDAMO_OPT_JSON(reply) \
	{ .name = "json", .short_name = 'j', .type = QDAMO_OPT_FLAG, \
	  .help = "print " reply " reply as it came" }
#define QDAMO_OPT_RAW(what) \
	{ .name = "raw", .type = QDAMO_OPT_FLAG, .help = what }
#define QDAMO_OPT_INPUT(what) \
	{ .name = "input", .short_name = 'I', .type = QDAMO_OPT_FILE, \
	  .value_name = "FILE", .help = what }
#define QDAMO_OPT_OUTPUT(what) \
	{ .name = "output", .short_name = 'o', .type = QDAMO_OPT_FILE, \
	  .value_name = "FILE", .help = what }
#define QDAMO_ARG_RECORD_FILE \
	{ .name = "FILE", .type = QDAMO_OPT_ARGUMENT, \
	  .help = "one record file (from 'qdamo record')" }

/* "qdamo --help": usage, the commands and the common options. */
void qdamo_print_overview(FILE *f);

/* Check the common options' values (--timeout's range). */
gboolean qdamo_check_common_opts(const QdamoCmd *cmd, GError **err);

/* The target the options name: -d DOMAIN (on -c URI) or --qmp PATH. */
QdamoTarget *qdamo_open_target(const QdamoCmd *cmd, GError **err);

/*
 * Run the query @command with @args (NULL for none) on @t (NULL: the
 * target did not open, err is set).  With the command's --json, print
 * QEMU's reply as it came and set *printed.  The reply, or NULL when
 * it failed or was printed; then the command returns *printed.
 */
JsonNode *qdamo_query(const QdamoCmd *cmd, QdamoTarget *t, const char *command,
		      JsonObject *args, gboolean *printed, GError **err);

/* --id, or "damon0". */
const char *qdamo_monitor_id(const QdamoCmd *cmd);

/* --timeout, or 30 s. */
double qdamo_timeout(const QdamoCmd *cmd);

/* Set by SIGINT/SIGTERM in the commands that run until stopped. */
void qdamo_catch_signals(void);
gboolean qdamo_interrupted(void);

#endif
