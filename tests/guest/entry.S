/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * entry.S - reset vector and switch to flat 32-bit protected mode.
 *
 * The image is a 64 KiB -bios ROM mapped at 0xffff0000.  After reset the
 * CPU runs 16-bit code at 0xfffffff0 with CS.base = 0xffff0000, so every
 * 16-bit offset below is "address - ROM_BASE".  We never reload CS in
 * real mode: the reset vector jumps near to entry16, which loads the GDT
 * (through a CS override, since DS.base is 0) and far-jumps straight into
 * 32-bit code.
 *
 * Two things matter under KVM (see shared notes, nested-kvm.md point 9):
 *  - the GDT sits in ROM, which KVM maps read-only, so the descriptors
 *    carry the accessed bit already (type 0x9b code, 0x93 data): the CPU
 *    then never tries to write them when a segment register is loaded;
 *  - everything up to the far jump is assembled as .code16.
 */

#define CODE_SEL	0x08
#define DATA_SEL	0x10
#define CR0_PE		0x00000001
#define CR0_NW_CD	0x60000000

	.section .text.entry16, "ax"
	.code16
	.globl	entry16
entry16:
	cli
	cld
	/* Fast A20 gate: set bit 1 of port 0x92, never bit 0 (reset). */
	inb	$0x92, %al
	orb	$0x02, %al
	andb	$0xfe, %al
	outb	%al, $0x92

	lgdtl	%cs:gdt_desc_rom_offset

	movl	%cr0, %eax
	andl	$~CR0_NW_CD, %eax	/* caches on */
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	$CODE_SEL, $entry32	/* 16-bit code, 32-bit far pointer */

	.section .text.entry32, "ax"
	.code32
entry32:
	movw	$DATA_SEL, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movl	$__stack_top, %esp

	/* Zero .bss (in low RAM). */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	xorl	%eax, %eax
	rep stosb

	call	workload_main
	.globl	wl_halt
wl_halt:
	cli
	hlt
	jmp	wl_halt

	.section .rodata.gdt, "a"
	.balign	8
gdt:
	.quad	0			/* null */
	.quad	0x00cf9b000000ffff	/* 0x08: code, base 0, 4 GiB, 32-bit, accessed */
	.quad	0x00cf93000000ffff	/* 0x10: data, base 0, 4 GiB, accessed */
gdt_end:
	.globl	gdt_desc
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt

	/* The reset vector: 16 bytes at 0xfffffff0. */
	.section .reset, "ax"
	.code16
	.globl	reset_vector
reset_vector:
	jmp	entry16
	.fill	16 - (. - reset_vector), 1, 0xf4	/* hlt */

	.section .note.GNU-stack, "", @progbits
