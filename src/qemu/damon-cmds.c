/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdamon QMP commands (schema: qmp/damon.json).
 *
 * query-damon lists the DAMON monitors of this VM.  No command creates
 * a monitor yet, so the list is always empty.  It takes no arguments
 * and never fails, so QEMU's qmp-cmd-test exercises it.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-damon.h"
#include "trace.h"

/* Return: one entry per monitor; NULL (the empty list) while there is none. */
DamonMonitorInfoList *qmp_query_damon(Error **errp)
{
    trace_damon_qmp_query_damon(0);
    return NULL;
}
