/* SPDX-License-Identifier: MIT */
/*
 * relocate/stub.S - position-independent copy-and-jump stub.
 *
 * reloc_stub_start..reloc_stub_end is copied by the loader to a control
 * page (plan->stub) and runs there after ExitBootServices. It must stay
 * free of absolute relocations (checked by relocate/module.mk).
 *
 * reloc_copy(head)   SysV-callable; walks the RELOC_IND_* list (plan.h)
 *                    and copies/zeroes. Host tests run it on an arena.
 * reloc_enter(ctl)   never returns: own GDT, identity CR3, stack, copy,
 *                    then enters A's jump-back entry (kexec-jump notes 1.4).
 */
#define IND_DESTINATION 0x1
#define IND_INDIRECTION 0x2
#define IND_DONE        0x4
#define IND_SOURCE      0x8
#define IND_ZERO        0x10
#define IND_LENGTH      0x20

#define CTL_HEAD   0x00
#define CTL_PTROOT 0x08
#define CTL_ENTRY  0x10
#define CTL_STACK  0x18
#define CTL_FLAGS  0x20
#define CTL_GDTR   0x2e
#define CTL_FINAL  0x3e

	.text
	.balign 16
	.globl reloc_stub_start
reloc_stub_start:

/*
 * reloc_copy(%rdi = physical address of the first list entry)
 *   %rbx  current list entry pointer
 *   %rdx  destination cursor
 *   %r8   pending run length in pages (1 when no LENGTH preceded)
 *   %rcx  entry word / rep count;  %rsi, %rdi: rep movsq operands
 * Clobbers only caller-saved registers plus %rbx (saved).
 */
	.globl reloc_copy
	.type reloc_copy, @function
reloc_copy:
.Lreloc_copy:
	pushq	%rbx
	cld
	movq	%rdi, %rbx
	xorl	%edx, %edx
	movl	$1, %r8d
.Lnext:
	movq	(%rbx), %rcx
	addq	$8, %rbx
	movq	%rcx, %rax
	andq	$~0xfff, %rax		/* address / length << 12 */
	testb	$IND_DESTINATION, %cl
	jz	1f
	movq	%rax, %rdx
	jmp	.Lnext
1:	testb	$IND_INDIRECTION, %cl
	jz	1f
	movq	%rax, %rbx
	jmp	.Lnext
1:	testb	$IND_DONE, %cl
	jnz	.Ldone
	testb	$IND_LENGTH, %cl
	jz	1f
	shrq	$12, %rax
	movq	%rax, %r8
	jmp	.Lnext
1:	testb	$IND_SOURCE, %cl
	jz	1f
	movq	%rax, %rsi
	movq	%rdx, %rdi
	movq	%r8, %rcx
	shlq	$9, %rcx		/* pages -> qwords */
	rep movsq
	movq	%rdi, %rdx
	movl	$1, %r8d
	jmp	.Lnext
1:	testb	$IND_ZERO, %cl
	jz	.Lnext			/* unknown flag: ignore, like kexec */
	movq	%rdx, %rdi
	movq	%r8, %rcx
	shlq	$9, %rcx
	xorl	%eax, %eax
	rep stosq
	movq	%rdi, %rdx
	movl	$1, %r8d
	jmp	.Lnext
.Ldone:
	popq	%rbx
	ret
	.size reloc_copy, . - reloc_copy

/*
 * reloc_enter(%rdi = physical address of struct reloc_control)
 * Runs at its copy in a control page, firmware page tables still live
 * (identity), interrupts in any state. Registers:
 *   %r15  struct reloc_control *   (identity mapped in old and new CR3)
 *   %r14  A's entry (read before the final lgdt)
 */
	.globl reloc_enter
	.type reloc_enter, @function
reloc_enter:
	cli
	cld
	movq	%rdi, %r15
	movq	CTL_STACK(%r15), %rsp	/* our stack, a control page */

	/* LA57 can only change with paging off: not supported yet, halt
	 * with 'L' on the debug port rather than run on wrong tables. */
	movq	%cr4, %rax
	shrq	$12, %rax
	andq	$1, %rax
	movq	CTL_FLAGS(%r15), %rcx
	andq	$1, %rcx
	cmpq	%rax, %rcx
	je	1f
	movb	$'L', %al
	outb	%al, $0xe9
2:	hlt
	jmp	2b
1:
	lgdt	CTL_GDTR(%r15)		/* 0x10 code64, 0x18 data */

	movq	CTL_PTROOT(%r15), %rax
	movq	%rax, %cr3		/* identity map incl. >4 GiB */

	movq	%cr4, %rax		/* PGE and PCIDE off (CR3[11:0] = 0) */
	andq	$~((1 << 7) | (1 << 17)), %rax
	orq	$(1 << 5), %rax		/* PAE */
	movq	%rax, %cr4

	movq	%cr0, %rax		/* PE|PG|WP, caches on (CD=NW=0) */
	orq	$((1 << 0) | (1 << 16)), %rax
	btsq	$31, %rax
	btrq	$30, %rax
	btrq	$29, %rax
	movq	%rax, %cr0

	movl	$0xc0000080, %ecx	/* EFER |= NXE (LME/LMA already set) */
	rdmsr
	orl	$(1 << 11), %eax
	wrmsr

	pushq	$0x10			/* CS = 0x10 via far return */
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs

	movq	CTL_HEAD(%r15), %rdi
	call	.Lreloc_copy		/* local: no relocation at all */

	movq	CTL_ENTRY(%r15), %r14
	movq	CTL_STACK(%r15), %rsp
	movq	$0, (%rsp)		/* zero qword at RSP (peer re-entry) */
	lgdt	CTL_FINAL(%r15)		/* last memory access via ctl */
	xorl	%eax, %eax		/* RFLAGS: IF=0 (cli), DF=0 (cld) */
	jmp	*%r14
	.size reloc_enter, . - reloc_enter

	.balign 16
	.globl reloc_stub_end
reloc_stub_end:

	.section .note.GNU-stack,"",@progbits
