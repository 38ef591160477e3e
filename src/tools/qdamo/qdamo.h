/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamo.h - the commands of qdamo, the host CLI for qdamon's DAMON
 * monitors, and the options every command shares.
 */
#ifndef QDAMO_H
#define QDAMO_H

#include <glib.h>

#include "target.h"

typedef struct QdamoCommand QdamoCommand;

struct QdamoCommand {
	const char *name;	/* "start", "report wss" */
	const char *params;	/* positional parameters for --help, or "" */
	const char *summary;	/* one line, for "qdamo --help" */
	gboolean (*run)(const QdamoCommand *cmd, int argc, char **argv,
			GError **err);
};

/* The target and monitor options, shared by every command. */
extern char *qdamo_opt_uri;	/* -c: libvirt URI */
extern char *qdamo_opt_domain;	/* -d: libvirt domain */
extern char **qdamo_opt_qmp;	/* --qmp: QMP socket paths */
extern char *qdamo_opt_id;	/* --id: monitor id */
extern double qdamo_opt_timeout;

/*
 * Parse a command's options (@entries, then the shared ones) from argv,
 * whose command words are already removed.  @description goes at the
 * end of --help.  Leaves the positional arguments in argc and argv.
 */
gboolean qdamo_parse_options(const QdamoCommand *cmd,
			     const GOptionEntry *entries,
			     const char *description, int *argc, char ***argv,
			     GError **err);

/* The target the options name: -d DOMAIN (on -c URI) or --qmp PATH. */
QdamoTarget *qdamo_open_target(GError **err);

/* --id, or "damon0". */
const char *qdamo_monitor_id(void);

/* A usage error for @cmd. */
gboolean qdamo_usage_error(GError **err, const QdamoCommand *cmd,
			   const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Set by SIGINT/SIGTERM in the commands that run until stopped. */
void qdamo_catch_signals(void);
gboolean qdamo_interrupted(void);

gboolean qdamo_cmd_start(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_stop(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_tune(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_status(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_report_wss(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_report_regions(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_report_heatmap(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_record(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_convert(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_watch(const QdamoCommand *cmd, int argc, char **argv, GError **err);
gboolean qdamo_cmd_exporter(const QdamoCommand *cmd, int argc, char **argv, GError **err);

#endif
