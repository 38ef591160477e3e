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

/*
 * Exception stubs (trap.c): each pushes a zero error code where the CPU
 * pushes none, then its vector, so that wl_trap() gets (vector, error,
 * eip, cs, eflags) as its arguments; after it returns, halt for good.
 */
	.macro	TRAP n, has_error
trap\n:
	.if	\has_error == 0
	pushl	$0
	.endif
	pushl	$\n
	jmp	trap_common
	.endm

	TRAP	0, 0
	TRAP	1, 0
	TRAP	2, 0
	TRAP	3, 0
	TRAP	4, 0
	TRAP	5, 0
	TRAP	6, 0
	TRAP	7, 0
	TRAP	8, 1
	TRAP	9, 0
	TRAP	10, 1
	TRAP	11, 1
	TRAP	12, 1
	TRAP	13, 1
	TRAP	14, 1
	TRAP	15, 0
	TRAP	16, 0
	TRAP	17, 1
	TRAP	18, 0
	TRAP	19, 0
	TRAP	20, 0
	TRAP	21, 1
	TRAP	22, 0
	TRAP	23, 0
	TRAP	24, 0
	TRAP	25, 0
	TRAP	26, 0
	TRAP	27, 0
	TRAP	28, 0
	TRAP	29, 1
	TRAP	30, 1
	TRAP	31, 0

trap_common:
	cld
	call	wl_trap
	jmp	wl_halt

	.section .rodata.traps, "a"
	.balign	4
	.globl	trap_stubs
trap_stubs:
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long	trap\n
	.endr

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
