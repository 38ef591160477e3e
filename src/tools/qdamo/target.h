/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * target.h - the VM qdamo talks to: a libvirt domain (through
 * virDomainQemuMonitorCommand) or a QMP unix socket (QMP spoken here).
 * Both carry the same QMP commands; qdamo_execute() hides which.
 */
#ifndef QDAMO_TARGET_H
#define QDAMO_TARGET_H

#include <sys/types.h>

#include <json-glib/json-glib.h>

typedef struct QdamoTarget QdamoTarget;

typedef struct {
	/*
	 * Send one QMP command (JSON text); return QEMU's whole reply,
	 * "return" or "error" member included.  NULL with err when the
	 * reply could not be had (transport, daemon, dead VM).
	 */
	JsonObject *(*command)(QdamoTarget *t, const char *json, GError **err);
	/*
	 * command() with the file descriptor @fd attached (SCM_RIGHTS), as
	 * QMP's getfd wants it; @fd stays the caller's.
	 */
	JsonObject *(*command_fd)(QdamoTarget *t, const char *json, int fd,
				  GError **err);
	/*
	 * The pid of the VM's QEMU, from what QEMU cannot forge: the kernel
	 * (SO_PEERCRED on a QMP socket) or libvirt's pid file.  *whence
	 * says where it came from, for messages (g_free() it).
	 */
	gboolean (*qemu_pid)(QdamoTarget *t, pid_t *pid, char **whence,
			     GError **err);
	void (*close)(QdamoTarget *t);
} QdamoTargetOps;

struct QdamoTarget {
	const QdamoTargetOps *ops;
	char *name;	/* the domain's name or the socket's path */
	char *label;	/* for messages: "domain 'vm1'", "QMP socket /x" */
	char *kind;	/* "libvirt" or "qmp" */
	char *uri;	/* libvirt only: the connection URI */
	void *priv;
};

/* libvirt: the running domain @domain on @uri (NULL: qemu:///system). */
QdamoTarget *qdamo_target_libvirt(const char *uri, const char *domain,
				  GError **err);

/* QMP: connect, read the greeting, leave capabilities negotiation. */
QdamoTarget *qdamo_target_qmp(const char *path, double timeout_s,
			      GError **err);

/*
 * Names of the running domains on @uri, for the exporter; NULL with err
 * when libvirt cannot be reached.
 */
GPtrArray *qdamo_libvirt_running_domains(const char *uri, GError **err);

void qdamo_target_free(QdamoTarget *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QdamoTarget, qdamo_target_free)

/*
 * Run @command with @args (NULL for none; not consumed) and return a
 * new reference to its "return" member.  An "error" reply becomes
 * QDAMO_ERROR_QMP with QEMU's text, or QDAMO_ERROR_NO_DAMON when the
 * command is one of ours and QEMU does not know it.
 */
JsonNode *qdamo_execute(QdamoTarget *t, const char *command,
			JsonObject *args, GError **err);

/* qdamo_execute() for commands whose reply is an object. */
JsonObject *qdamo_execute_obj(QdamoTarget *t, const char *command,
			      JsonObject *args, GError **err);

/* qdamo_execute() for commands whose reply is a list. */
JsonArray *qdamo_execute_list(QdamoTarget *t, const char *command,
			      JsonObject *args, GError **err);

/*
 * Hand @fd to QEMU under the name @fdname (QMP getfd, the fd attached),
 * for a later command to take by name.  @fd stays the caller's, who
 * closes it.
 */
gboolean qdamo_pass_fd(QdamoTarget *t, const char *fdname, int fd,
		       GError **err);

/*
 * closefd @fdname, ignoring errors: drop an fd that getfd left in QEMU
 * when the command meant to take it failed.
 */
void qdamo_forget_fd(QdamoTarget *t, const char *fdname);

/* The pid of @t's QEMU (see QdamoTargetOps.qemu_pid). */
gboolean qdamo_target_qemu_pid(QdamoTarget *t, pid_t *pid, char **whence,
			       GError **err);

/*
 * libvirt keeps each running domain's QEMU pid in a file it writes
 * itself before QEMU runs: STATEDIR/NAME.pid, STATEDIR being
 * /run/libvirt/qemu for qemu:///system and
 * $XDG_RUNTIME_DIR/libvirt/qemu/run for qemu:///session.  The path for
 * @domain on @uri, or NULL with err when @uri is not a local QEMU
 * driver URI (the pid would be another host's).
 */
char *qdamo_libvirt_pid_file(const char *uri, const char *domain, GError **err);

/*
 * Read a pid file: one positive decimal number.  @owner is the uid the
 * file must belong to (the daemon that wrote it), or -1 for any.
 */
gboolean qdamo_read_pid_file(const char *path, int owner, pid_t *pid,
			     GError **err);

/* query-damon's entry for @id, or NULL with err naming the ids there are. */
JsonObject *qdamo_find_monitor(QdamoTarget *t, const char *id, GError **err);

#endif
