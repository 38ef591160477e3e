/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * console.h - text output of the workload guest.
 *
 * Every byte goes to two debug-console ports: 0xe9, where QEMU's
 * "-debugcon file:X" puts its isa-debugcon, and 0x402, where SeaBIOS
 * convention puts one ("-device isa-debugcon,iobase=0x402,chardev=...").
 * A port with no device behind it ignores the write.
 */
#ifndef QDAMON_GUEST_CONSOLE_H
#define QDAMON_GUEST_CONSOLE_H

#define CON_PORT_DEBUGCON	0xe9
#define CON_PORT_SEABIOS	0x402

void con_putc(char c);
void con_write(const char *s, unsigned int len);

/*
 * con_printf - a tiny printf: %s, %c, %u and %x (32-bit), %llx (64-bit),
 * %% and nothing else.  No widths, no 64-bit decimal (that would need
 * libgcc's 64-bit division, which the -m32 freestanding build lacks).
 */
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* QDAMON_GUEST_CONSOLE_H */
