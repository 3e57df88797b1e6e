/* SPDX-License-Identifier: MIT */
/*
 * relocate/selftest/entry.S - stand-in for A's jump-back entry, used by
 * relocate/selftest/efi.c under QEMU. st_blob_start..st_blob_end is part
 * of the test "image": the loader puts it at a destination, the stub
 * copies/keeps it there and jumps to st_entry. Position independent.
 *
 * At entry it checks the CPU state of shared/notes/kexec-jump-x86_64.md
 * 1.4 against the parameter block at st_blob_start + 0x800 (struct
 * st_param in efi.c), prints "KJST stage N ok la57=X" or
 * "KJST stage N bad <letter>" on COM1, then either enters the next plan's
 * stub (stage 1) or ends QEMU through isa-debug-exit (port 0xf4: 0x10 =
 * done, 0x01 = failure).
 */
#define P_STACK1  0x08
#define P_STACK2  0x10
#define P_LA57_1  0x18
#define P_LA57_2  0x20
#define P_NEXTCTL 0x28
#define P_NEXTENT 0x30
#define P_GDTR1   0x38	/* limit, base: two qwords */
#define P_GDTR2   0x48
#define P_NCHK    0x58
#define P_CHK     0x60	/* { addr, value } pairs */

	.text
	.globl st_blob_start, st_blob_end, st_entry
	.balign 16
st_blob_start:
.Lblob:
st_entry:
	movq	(%rsp), %r14		/* before anything is pushed */
	leaq	.Lblob+0x800(%rip), %rbp
	movb	$'?', %r12b
	movb	$'S', %r11b		/* RSP is neither plan's stack top */
	cmpq	P_STACK1(%rbp), %rsp
	jne	1f
	movb	$'1', %r12b
	movq	P_LA57_1(%rbp), %r13
	leaq	P_GDTR1(%rbp), %rbx
	jmp	2f
1:	cmpq	P_STACK2(%rbp), %rsp
	jne	.Lbad
	movb	$'2', %r12b
	movq	P_LA57_2(%rbp), %r13
	leaq	P_GDTR2(%rbp), %rbx
2:
	movb	$'z', %r11b		/* zero qword at RSP */
	testq	%r14, %r14
	jnz	.Lbad
	pushfq
	popq	%rax
	movb	$'i', %r11b		/* IF = 0 */
	testl	$(1 << 9), %eax
	jnz	.Lbad
	movb	$'f', %r11b		/* DF = 0 */
	testl	$(1 << 10), %eax
	jnz	.Lbad
	movb	$'c', %r11b		/* CS = 0x10 */
	movw	%cs, %ax
	cmpw	$0x10, %ax
	jne	.Lbad
	movb	$'s', %r11b		/* SS, DS, ES = 0x18 */
	movw	%ss, %ax
	cmpw	$0x18, %ax
	jne	.Lbad
	movw	%ds, %ax
	cmpw	$0x18, %ax
	jne	.Lbad
	movw	%es, %ax
	cmpw	$0x18, %ax
	jne	.Lbad
	movq	%cr0, %rax
	movb	$'w', %r11b		/* CR0.WP */
	btq	$16, %rax
	jnc	.Lbad
	movb	$'P', %r11b		/* CR0.PG, PE */
	btq	$31, %rax
	jnc	.Lbad
	btq	$0, %rax
	jnc	.Lbad
	movb	$'k', %r11b		/* caches on: CD = NW = 0 */
	testl	$0x60000000, %eax
	jnz	.Lbad
	movq	%cr4, %rax
	movb	$'g', %r11b		/* PGE = 0 */
	testl	$(1 << 7), %eax
	jnz	.Lbad
	movb	$'p', %r11b		/* PCIDE = 0 */
	testl	$(1 << 17), %eax
	jnz	.Lbad
	movb	$'a', %r11b		/* PAE */
	testl	$(1 << 5), %eax
	jz	.Lbad
	movb	$'5', %r11b		/* LA57 as A wants it */
	shrq	$12, %rax
	andl	$1, %eax
	cmpq	%r13, %rax
	jne	.Lbad
	movl	$0xc0000080, %ecx
	rdmsr
	movb	$'n', %r11b		/* EFER.NXE */
	btl	$11, %eax
	jnc	.Lbad
	movb	$'l', %r11b		/* EFER.LMA */
	btl	$10, %eax
	jnc	.Lbad
	movb	$'G', %r11b		/* GDTR = the plan's final GDTR */
	subq	$16, %rsp
	sgdt	(%rsp)
	movzwl	(%rsp), %eax
	movq	2(%rsp), %rdx
	addq	$16, %rsp
	cmpq	(%rbx), %rax
	jne	.Lbad
	cmpq	8(%rbx), %rdx
	jne	.Lbad
	movb	$'m', %r11b		/* memory: copied, zeroed, kept */
	movq	P_NCHK(%rbp), %rcx
	leaq	P_CHK(%rbp), %rsi
3:	testq	%rcx, %rcx
	jz	4f
	movq	(%rsi), %rdx
	movq	(%rdx), %rax
	cmpq	8(%rsi), %rax
	jne	.Lbad
	addq	$16, %rsi
	decq	%rcx
	jmp	3b

4:	leaq	.Lmsg_stage(%rip), %rsi
	call	.Lputs
	movzbl	%r12b, %edi
	call	.Lputc
	leaq	.Lmsg_ok(%rip), %rsi
	call	.Lputs
	leal	'0'(%r13), %edi
	call	.Lputc
	movl	$'\n', %edi
	call	.Lputc
	cmpb	$'1', %r12b
	jne	.Ldone
	movq	P_NEXTCTL(%rbp), %rdi
	testq	%rdi, %rdi
	jz	.Ldone
	movq	P_NEXTENT(%rbp), %rax
	jmp	*%rax			/* reloc_enter(next ctl) at its copy */

.Ldone:
	leaq	.Lmsg_done(%rip), %rsi
	call	.Lputs
	movb	$0x10, %al
	jmp	.Lexit

.Lbad:
	leaq	.Lmsg_stage(%rip), %rsi
	call	.Lputs
	movzbl	%r12b, %edi
	call	.Lputc
	leaq	.Lmsg_bad(%rip), %rsi
	call	.Lputs
	movzbl	%r11b, %edi
	call	.Lputc
	movl	$'\n', %edi
	call	.Lputc
	movb	$0x01, %al
.Lexit:
	outb	%al, $0xf4		/* isa-debug-exit, if present */
5:	cli
	hlt
	jmp	5b

/* %dil: byte to COM1 (polled). Clobbers %eax, %ecx, %edx. */
.Lputc:
	movl	$0x100000, %ecx
	movw	$0x3fd, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jnz	2f
	pause
	loop	1b
2:	movw	$0x3f8, %dx
	movl	%edi, %eax
	outb	%al, %dx
	ret

/* %rsi: NUL-terminated string to COM1. Clobbers %eax, %ecx, %edx, %edi. */
.Lputs:
	movzbl	(%rsi), %edi
	testl	%edi, %edi
	jz	1f
	call	.Lputc
	incq	%rsi
	jmp	.Lputs
1:	ret

.Lmsg_stage:	.asciz "KJST stage "
.Lmsg_ok:	.asciz " ok la57="
.Lmsg_bad:	.asciz " bad "
.Lmsg_done:	.asciz "KJST done\n"

	.balign 16
st_blob_end:

	.section .note.GNU-stack,"",@progbits
