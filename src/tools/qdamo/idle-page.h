/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * idle-page.h - the host files of the idle-page source, opened by qdamo
 * and handed to QEMU: /proc/<QEMU's pid>/pagemap (read-only, opened
 * with CAP_SYS_ADMIN, or its page frame numbers read 0) and
 * /sys/kernel/mm/page_idle/bitmap (read-write, root only).  QEMU then
 * needs no privilege of its own (docs/notes/read-aware-sources.md 2.7).
 */
#ifndef QDAMO_IDLE_PAGE_H
#define QDAMO_IDLE_PAGE_H

#include <sys/types.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "target.h"

#define QDAMO_IDLE_BITMAP "/sys/kernel/mm/page_idle/bitmap"

/* The getfd names, and damon-start's arguments that take them. */
#define QDAMO_FDNAME_PAGEMAP "qdamo-pagemap"
#define QDAMO_FDNAME_IDLE_BITMAP "qdamo-idle-bitmap"

/*
 * For tests only: the path of a file to open instead of
 * QDAMO_IDLE_BITMAP, on hosts without page_idle.  Never set it for real
 * monitoring: QEMU would mark and read a file that is no bitmap.
 */
#define QDAMO_TEST_IDLE_BITMAP_ENV "QDAMO_TEST_IDLE_BITMAP"

/* The files, -1 when not open; close them with qdamo_idle_files_clear(). */
typedef struct {
	int bitmap_fd, pagemap_fd;
	const char *bitmap_path;
	char *pagemap_path;	/* /proc/PID/pagemap */
	pid_t pid;		/* QEMU's */
	char *whence;		/* where the pid came from */
} QdamoIdleFiles;

#define QDAMO_IDLE_FILES_INIT { .bitmap_fd = -1, .pagemap_fd = -1 }

void qdamo_idle_files_clear(QdamoIdleFiles *f);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QdamoIdleFiles, qdamo_idle_files_clear)

/* QDAMO_IDLE_BITMAP, or the test-only override (said on stderr). */
const char *qdamo_idle_bitmap_path(void);

/*
 * What can be checked before QEMU is asked anything: open the bitmap
 * read-write (ENOENT: the kernel lacks CONFIG_IDLE_PAGE_TRACKING;
 * EACCES/EPERM: not root) and check that qdamo has CAP_SYS_ADMIN.
 * QDAMO_ERROR_FILE errors that name the file and the fix.
 */
gboolean qdamo_idle_files_open_host(QdamoIdleFiles *f, GError **err);

/*
 * Open /proc/@pid/pagemap read-only; @whence says where the pid came
 * from, for the messages.
 */
gboolean qdamo_idle_files_open_pagemap(QdamoIdleFiles *f, pid_t pid,
				       const char *whence, GError **err);

/*
 * Find @t's QEMU pid (never from QEMU), open its pagemap, hand both
 * files to QEMU with getfd (closing qdamo's copies whatever happens),
 * and set damon-start's "pagemap-fd" and "idle-bitmap-fd" in @args.
 * On failure no name is left in QEMU.
 */
gboolean qdamo_idle_files_pass(QdamoIdleFiles *f, QdamoTarget *t,
			       JsonObject *args, GError **err);

/* Drop the getfd names in QEMU: damon-start failed and did not take them. */
void qdamo_idle_files_forget(QdamoTarget *t);

#endif
