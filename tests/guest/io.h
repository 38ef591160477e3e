/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.h - port I/O and other x86 primitives for the workload guest.
 */
#ifndef QDAMON_GUEST_IO_H
#define QDAMON_GUEST_IO_H

#include <stdint.h>

/* Port 0x80 (POST code): the low byte of the pass counter, every pass. */
#define PORT_POST	0x80

static inline void outb(uint16_t port, uint8_t val)
{
	__asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t val)
{
	__asm__ volatile("outw %0, %1" : : "a"(val), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t val)
{
	__asm__ volatile("outl %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t val;

	__asm__ volatile("inl %1, %0" : "=a"(val) : "Nd"(port));
	return val;
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t val;

	__asm__ volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
	return val;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Stop for good: interrupts off, hlt forever (entry.S). */
void wl_halt(void) __attribute__((noreturn));

/* The freestanding build has no libc; gcc may still call these. */
void *memset(void *dst, int c, unsigned int n);
void *memcpy(void *dst, const void *src, unsigned int n);
int memcmp(const void *a, const void *b, unsigned int n);

#endif /* QDAMON_GUEST_IO_H */
