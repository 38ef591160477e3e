/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * trap.c - report a CPU exception on the console instead of resetting.
 *
 * Without an IDT any exception (or an NMI) is a triple fault: the CPU
 * resets, and a test only sees QEMU's "guest-reset".  Under KVM nested in
 * TCG that happens now and then (docs/notes/nested-harness.md), so every
 * vector gets a gate whose handler prints the vector, error code and
 * where it happened, then halts: the test then fails with that line.
 */
#include <stdint.h>

#include "console.h"
#include "trap.h"

#define NR_VECTORS	32
#define CODE_SEL	0x08
#define GATE_INTR32	0x8e	/* present, DPL 0, 32-bit interrupt gate */

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t zero;
	uint8_t type;
	uint16_t offset_hi;
} __attribute__((packed));

struct idt_desc {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

/* In .bss (RAM): the ROM is read-only under KVM, and the CPU reads it only. */
static struct idt_gate idt[NR_VECTORS];

/* entry.S: one stub per vector, in vector order */
extern const uint32_t trap_stubs[NR_VECTORS];

void wl_trap(uint32_t vector, uint32_t error, uint32_t eip, uint32_t cs,
	     uint32_t eflags);

void wl_trap(uint32_t vector, uint32_t error, uint32_t eip, uint32_t cs,
	     uint32_t eflags)
{
	con_printf("qdamon-workload: error: CPU exception vector=%u error=0x%x "
		   "eip=0x%x cs=0x%x eflags=0x%x; halting\n",
		   vector, error, eip, cs, eflags);
}

void trap_init(void)
{
	struct idt_desc desc;
	unsigned int v;

	for (v = 0; v < NR_VECTORS; v++) {
		idt[v].offset_lo = (uint16_t)trap_stubs[v];
		idt[v].selector = CODE_SEL;
		idt[v].zero = 0;
		idt[v].type = GATE_INTR32;
		idt[v].offset_hi = (uint16_t)(trap_stubs[v] >> 16);
	}
	desc.limit = sizeof(idt) - 1;
	desc.base = (uint32_t)(uintptr_t)idt;
	__asm__ volatile("lidt %0" : : "m"(desc));
}
