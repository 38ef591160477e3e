// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * error.c - qdamo's error domain and exit statuses.
 */
#include "error.h"

G_DEFINE_QUARK(qdamo-error-quark, qdamo_error)

/*
 * 1: the command reached QEMU and failed there (or a file failed);
 * 2: the command line was wrong; 3: the target could not be reached;
 * 4: the target is not qdamon's QEMU.  A script that only wants "is
 * there a monitor to talk to" tests for 3 and 4.
 */
int qdamo_exit_status(const GError *err)
{
	if (!err || err->domain != QDAMO_ERROR)
		return 1;
	switch ((QdamoErrorCode)err->code) {
	case QDAMO_ERROR_USAGE:
		return 2;
	case QDAMO_ERROR_CONNECT:
	case QDAMO_ERROR_NO_DOMAIN:
	case QDAMO_ERROR_NOT_RUNNING:
		return 3;
	case QDAMO_ERROR_NO_DAMON:
		return 4;
	default:
		return 1;
	}
}
