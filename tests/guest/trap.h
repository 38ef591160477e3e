/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef QDAMON_GUEST_TRAP_H
#define QDAMON_GUEST_TRAP_H

/*
 * trap_init - load an IDT whose every exception vector prints a console
 * line ("error: CPU exception vector=N ...; halting") and halts, so that
 * a fault shows instead of resetting the guest (a triple fault).
 */
void trap_init(void);

#endif /* QDAMON_GUEST_TRAP_H */
