// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * console.c - debug-console output of the workload guest.
 */
#include <stdarg.h>
#include <stdint.h>

#include "console.h"
#include "io.h"

void con_putc(char c)
{
	outb(CON_PORT_DEBUGCON, (uint8_t)c);
	outb(CON_PORT_SEABIOS, (uint8_t)c);
}

void con_write(const char *s, unsigned int len)
{
	while (len--)
		con_putc(*s++);
}

static void con_puts(const char *s)
{
	while (*s)
		con_putc(*s++);
}

static void con_hex(uint64_t v)
{
	int shift = 60;

	while (shift > 0 && !((v >> shift) & 0xf))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		con_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

static void con_dec(uint32_t v)
{
	char buf[10];
	int n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		con_putc(buf[--n]);
}

void con_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			con_putc(*fmt);
			continue;
		}
		switch (*++fmt) {
		case 's':
			con_puts(va_arg(ap, const char *));
			break;
		case 'c':
			con_putc((char)va_arg(ap, int));
			break;
		case 'u':
			con_dec(va_arg(ap, unsigned int));
			break;
		case 'x':
			con_hex(va_arg(ap, unsigned int));
			break;
		case 'l':
			/* only %llx */
			fmt += 2;
			con_hex(va_arg(ap, unsigned long long));
			break;
		case '%':
			con_putc('%');
			break;
		default:
			con_putc('?');
			if (!*fmt)
				fmt--;
			break;
		}
	}
	va_end(ap);
}
