/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * error.h - qdamo's error domain.  Each code says who failed, so that
 * the one line qdamo prints can say what to do, and so that scripts can
 * tell the cases apart by exit status.
 */
#ifndef QDAMO_ERROR_H
#define QDAMO_ERROR_H

#include <glib.h>

#define QDAMO_ERROR (qdamo_error_quark())

typedef enum {
	QDAMO_ERROR_USAGE,	 /* bad command line */
	QDAMO_ERROR_QMP,	 /* QEMU answered a command with an error */
	QDAMO_ERROR_PROTOCOL,	 /* QEMU's or libvirt's reply made no sense */
	QDAMO_ERROR_CONNECT,	 /* no libvirt daemon, or no QMP socket */
	QDAMO_ERROR_NO_DOMAIN,	 /* libvirt has no such domain */
	QDAMO_ERROR_NOT_RUNNING, /* the domain exists but is not running */
	QDAMO_ERROR_NO_DAMON,	 /* this QEMU has no qdamon commands */
	QDAMO_ERROR_FILE,	 /* a record file could not be read or written */
	QDAMO_ERROR_FAILED,	 /* anything else (a helper program failed) */
} QdamoErrorCode;

GQuark qdamo_error_quark(void);

/* The exit status documented in docs/qdamo.md for an error. */
int qdamo_exit_status(const GError *err);

#endif
