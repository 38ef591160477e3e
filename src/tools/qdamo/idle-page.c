// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * idle-page.c - opening the idle-page source's host files for QEMU and
 * handing them over with getfd.
 *
 * Both files are privileged: the bitmap is root's (it shows and
 * perturbs the access state of every page of the host), and pagemap
 * gives page frame numbers only to an opener with CAP_SYS_ADMIN (a
 * Rowhammer defence), checked against the credentials saved when the
 * file was opened.  So qdamo, run as root, opens them and QEMU gets the
 * descriptors: a deliberate, narrow grant.  QEMU's pid, whose pagemap
 * it gets, is never taken from QEMU: a lying QEMU would be handed the
 * page frames of another process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "idle-page.h"

#define CAP_SYS_ADMIN_BIT 21

void qdamo_idle_files_clear(QdamoIdleFiles *f)
{
	if (f->bitmap_fd >= 0)
		close(f->bitmap_fd);
	if (f->pagemap_fd >= 0)
		close(f->pagemap_fd);
	f->bitmap_fd = f->pagemap_fd = -1;
	g_clear_pointer(&f->pagemap_path, g_free);
	g_clear_pointer(&f->whence, g_free);
}

const char *qdamo_idle_bitmap_path(void)
{
	const char *test = g_getenv(QDAMO_TEST_IDLE_BITMAP_ENV);

	if (!test || !*test)
		return QDAMO_IDLE_BITMAP;
	g_printerr("qdamo: %s is set: opening %s instead of %s (for tests only)\n",
		   QDAMO_TEST_IDLE_BITMAP_ENV, test, QDAMO_IDLE_BITMAP);
	return test;
}

/* CapEff of /proc/self/status; TRUE when it cannot be told (QEMU checks too). */
static gboolean has_cap_sys_admin(void)
{
	g_autofree char *text = NULL;
	const char *line;

	if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
		return TRUE;
	line = strstr(text, "\nCapEff:");
	if (!line)
		return TRUE;
	return (g_ascii_strtoull(line + strlen("\nCapEff:"), NULL, 16) >>
		CAP_SYS_ADMIN_BIT) & 1;
}

gboolean qdamo_idle_files_open_host(QdamoIdleFiles *f, GError **err)
{
	const char *path = qdamo_idle_bitmap_path();
	int e;

	f->bitmap_path = path;
	f->bitmap_fd = open(path, O_RDWR | O_CLOEXEC);
	e = errno;
	if (f->bitmap_fd < 0 && e == ENOENT) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "cannot open %s (no such file): the host kernel lacks "
			    "CONFIG_IDLE_PAGE_TRACKING (page_idle), which --source "
			    "idle-page needs (Debian's kernels are built without it): "
			    "boot a kernel with CONFIG_IDLE_PAGE_TRACKING=y, or choose "
			    "another --source", path);
		return FALSE;
	}
	if (f->bitmap_fd < 0 && (e == EACCES || e == EPERM)) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "cannot open %s for reading and writing (%s): only root "
			    "may: run qdamo as root", path, g_strerror(e));
		return FALSE;
	}
	if (f->bitmap_fd < 0) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "cannot open %s for reading and writing: %s", path,
			    g_strerror(e));
		return FALSE;
	}
	if (!has_cap_sys_admin()) {
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "qdamo lacks CAP_SYS_ADMIN, without which QEMU's "
			    "/proc/PID/pagemap gives page frame numbers of 0 and "
			    "idle-page sees nothing: run qdamo as root");
		return FALSE;
	}
	return TRUE;
}

gboolean qdamo_idle_files_open_pagemap(QdamoIdleFiles *f, pid_t pid,
				       const char *whence, GError **err)
{
	int e;

	g_free(f->pagemap_path);
	f->pagemap_path = g_strdup_printf("/proc/%ld/pagemap", (long)pid);
	f->pid = pid;
	g_free(f->whence);
	f->whence = g_strdup(whence);
	f->pagemap_fd = open(f->pagemap_path, O_RDONLY | O_CLOEXEC);
	if (f->pagemap_fd >= 0)
		return TRUE;
	e = errno;
	if (e == ENOENT || e == ESRCH)
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "QEMU's pid not found: no process %ld (from %s) whose %s "
			    "to open: did QEMU exit?", (long)pid, whence, f->pagemap_path);
	else if (e == EACCES || e == EPERM)
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "cannot open %s (%s): run qdamo as root", f->pagemap_path,
			    g_strerror(e));
	else
		g_set_error(err, QDAMO_ERROR, QDAMO_ERROR_FILE,
			    "cannot open %s: %s", f->pagemap_path, g_strerror(e));
	return FALSE;
}

void qdamo_idle_files_forget(QdamoTarget *t)
{
	qdamo_forget_fd(t, QDAMO_FDNAME_PAGEMAP);
	qdamo_forget_fd(t, QDAMO_FDNAME_IDLE_BITMAP);
}

gboolean qdamo_idle_files_pass(QdamoIdleFiles *f, QdamoTarget *t,
			       JsonObject *args, GError **err)
{
	g_autofree char *whence = NULL;
	gboolean ok;
	pid_t pid;

	if (!qdamo_target_qemu_pid(t, &pid, &whence, err) ||
	    !qdamo_idle_files_open_pagemap(f, pid, whence, err))
		return FALSE;
	ok = qdamo_pass_fd(t, QDAMO_FDNAME_PAGEMAP, f->pagemap_fd, err) &&
	     qdamo_pass_fd(t, QDAMO_FDNAME_IDLE_BITMAP, f->bitmap_fd, err);
	/* QEMU holds its own copies now (or none): close ours */
	close(f->pagemap_fd);
	close(f->bitmap_fd);
	f->pagemap_fd = f->bitmap_fd = -1;
	if (!ok) {
		qdamo_idle_files_forget(t);
		return FALSE;
	}
	json_object_set_string_member(args, "pagemap-fd", QDAMO_FDNAME_PAGEMAP);
	json_object_set_string_member(args, "idle-bitmap-fd", QDAMO_FDNAME_IDLE_BITMAP);
	return TRUE;
}
