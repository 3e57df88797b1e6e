/* SPDX-License-Identifier: MIT */
/*
 * relocate/stub.S - position-independent copy-and-jump stub.
 *
 * reloc_stub_start..reloc_stub_end is copied by the loader to a control
 * page (plan->stub) and runs there after ExitBootServices. It must stay
 * free of absolute relocations (checked by relocate/module.mk).
 *
 * reloc_copy(head)      SysV-callable; walks the RELOC_IND_* list (plan.h)
 *                       and copies/zeroes. Host tests run it on an arena.
 * reloc_csum_list(head) SysV-callable; the checksum (plan.h, reloc_csum())
 *                       of every range the list names at its destination.
 * reloc_enter(ctl)      never returns: own GDT, paging mode of A (switching
 *                       LA57 through 32-bit code if needed), identity CR3,
 *                       copy, optional checksum, then A's jump-back entry
 *                       in the state of the kexec-jump notes, 1.4.
 *
 * Halts (hlt loop, IF=0) print one byte on COM1 (0x3f8) and port 0xe9:
 *   'L'  the paging mode must change but the stub, its control block,
 *        stack or page-table root is not below 4 GiB (nothing was written)
 *   'C'  RELOC_CTL_CSUM set and the checksum after the copy differs from
 *        reloc_control.csum (seen value in reloc_control.csum_seen)
 */
#define IND_DESTINATION 0x1
#define IND_INDIRECTION 0x2
#define IND_DONE        0x4
#define IND_SOURCE      0x8
#define IND_ZERO        0x10
#define IND_LENGTH      0x20
#define IND_KEEP        0x40

#define CTL_HEAD      0x00
#define CTL_PTROOT    0x08
#define CTL_ENTRY     0x10
#define CTL_STACK     0x18
#define CTL_FLAGS     0x20
#define CTL_GDTR      0x2e
#define CTL_FINAL     0x3e
#define CTL_CSUM      0x68
#define CTL_CSUM_SEEN 0x70

#define CTL_F_LA57    0x1
#define CTL_F_CSUM    0x2

#define SEL_CODE32    0x08
#define SEL_CODE64    0x10
#define SEL_DATA      0x18

#define CR0_PE        (1 << 0)
#define CR0_EM        (1 << 2)
#define CR0_TS        (1 << 3)
#define CR0_WP        (1 << 16)
#define CR0_NW        (1 << 29)
#define CR0_CD        (1 << 30)
#define CR0_PG_BIT    31
#define CR4_PAE       (1 << 5)
#define CR4_PGE       (1 << 7)
#define CR4_LA57_BIT  12
#define CR4_LA57      (1 << CR4_LA57_BIT)
#define CR4_PCIDE     (1 << 17)
#define CR4_CET       (1 << 23)
#define MSR_EFER      0xc0000080
#define EFER_LME      (1 << 8)
#define EFER_NXE      (1 << 11)

	.text
	.balign 16
	.globl reloc_stub_start
reloc_stub_start:

/*
 * reloc_copy(%rdi = physical address of the first list entry)
 *   %rbx  current list entry pointer
 *   %rdx  destination cursor
 *   %r8   pending run length in pages (1 when no LENGTH preceded)
 *   %rcx  entry word / count of 64-byte blocks;  %rsi, %rdi: copy cursors
 * Clobbers only caller-saved registers plus %rbx (saved).
 *
 * Copies and fills are plain 64-byte load/store loops, not rep movsq /
 * rep stosq: natively both are memory-bound, but emulators that run a rep
 * string instruction one element per dispatch (QEMU's TCG, where the
 * benchmarks run) take several times longer over all of RAM. Runs are
 * whole pages (LENGTH 0: nothing).
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
	shlq	$6, %rcx		/* pages -> 64-byte blocks */
	jz	3f
2:	movq	(%rsi), %rax
	movq	8(%rsi), %r9
	movq	16(%rsi), %r10
	movq	24(%rsi), %r11
	movq	%rax, (%rdi)
	movq	%r9, 8(%rdi)
	movq	%r10, 16(%rdi)
	movq	%r11, 24(%rdi)
	movq	32(%rsi), %rax
	movq	40(%rsi), %r9
	movq	48(%rsi), %r10
	movq	56(%rsi), %r11
	movq	%rax, 32(%rdi)
	movq	%r9, 40(%rdi)
	movq	%r10, 48(%rdi)
	movq	%r11, 56(%rdi)
	addq	$64, %rsi
	addq	$64, %rdi
	decq	%rcx
	jnz	2b
3:	movq	%rdi, %rdx
	movl	$1, %r8d
	jmp	.Lnext
1:	testb	$IND_ZERO, %cl
	jz	1f
	/*
	 * Zero LEN pages, page by page, writing only pages that are not
	 * zero already: the result is the same, and memory nobody wrote
	 * since power-on (a VM's untouched RAM, ECC-scrubbed DIMMs) is
	 * then only read, which in a VM does not make the host allocate
	 * it. Natively a page of garbage costs one extra line read.
	 *   %rdi page, %r8 pages left, %rcx 64-byte blocks left in it
	 */
	movq	%rdx, %rdi
	testq	%r8, %r8
	jz	5f
	xorl	%eax, %eax
2:	movl	$64, %ecx
	movq	%rdi, %rsi
3:	movq	(%rsi), %r9		/* scan: any non-zero qword? */
	orq	8(%rsi), %r9
	orq	16(%rsi), %r9
	orq	24(%rsi), %r9
	orq	32(%rsi), %r9
	orq	40(%rsi), %r9
	orq	48(%rsi), %r9
	orq	56(%rsi), %r9
	jnz	4f
	addq	$64, %rsi
	decq	%rcx
	jnz	3b
	addq	$4096, %rdi		/* already zero */
	decq	%r8
	jnz	2b
	jmp	5f
4:	movl	$64, %ecx		/* fill the whole page */
6:	movq	%rax, (%rdi)
	movq	%rax, 8(%rdi)
	movq	%rax, 16(%rdi)
	movq	%rax, 24(%rdi)
	movq	%rax, 32(%rdi)
	movq	%rax, 40(%rdi)
	movq	%rax, 48(%rdi)
	movq	%rax, 56(%rdi)
	addq	$64, %rdi
	decq	%rcx
	jnz	6b
	decq	%r8
	jnz	2b
5:	movq	%rdi, %rdx
	movl	$1, %r8d
	jmp	.Lnext
1:	testb	$IND_KEEP, %cl		/* already in place: skip LEN pages */
	jz	.Lnext			/* unknown flag: ignore, like kexec */
	shlq	$12, %r8
	addq	%r8, %rdx
	movl	$1, %r8d
	jmp	.Lnext
.Ldone:
	popq	%rbx
	ret
	.size reloc_copy, . - reloc_copy

/*
 * reloc_csum_list(%rdi = physical address of the first list entry)
 * Returns in %rax the sum, mod 2^64, of q * (a + 1) over every qword q at
 * physical address a of every SOURCE, ZERO and KEEP run (at its
 * destination), i.e. reloc_csum() of plan.c over the same bytes.
 *   %rsi  list pointer   %rdx  destination cursor   %r8  run length
 *   %r9   sum            %r10, %r11  weights a + 1, a + 9
 * Clobbers only caller-saved registers; reads memory only.
 */
	.globl reloc_csum_list
	.type reloc_csum_list, @function
reloc_csum_list:
.Lreloc_csum_list:
	movq	%rdi, %rsi
	xorl	%edx, %edx
	movl	$1, %r8d
	xorl	%r9d, %r9d
.Lcnext:
	movq	(%rsi), %rcx
	addq	$8, %rsi
	movq	%rcx, %rax
	andq	$~0xfff, %rax
	testb	$IND_DESTINATION, %cl
	jz	1f
	movq	%rax, %rdx
	jmp	.Lcnext
1:	testb	$IND_INDIRECTION, %cl
	jz	1f
	movq	%rax, %rsi
	jmp	.Lcnext
1:	testb	$IND_DONE, %cl
	jnz	.Lcdone
	testb	$IND_LENGTH, %cl
	jz	1f
	shrq	$12, %rax
	movq	%rax, %r8
	jmp	.Lcnext
1:	testb	$(IND_SOURCE | IND_ZERO | IND_KEEP), %cl
	jz	.Lcnext
	movq	%r8, %rcx
	shlq	$9, %rcx		/* qwords, a multiple of 512 */
	leaq	1(%rdx), %r10
	leaq	9(%rdx), %r11
2:	movq	(%rdx), %rax
	imulq	%r10, %rax
	movq	8(%rdx), %rdi
	imulq	%r11, %rdi
	addq	%rax, %r9
	addq	%rdi, %r9
	movq	16(%rdx), %rax
	leaq	16(%r10), %r10
	imulq	%r10, %rax
	movq	24(%rdx), %rdi
	leaq	16(%r11), %r11
	imulq	%r11, %rdi
	addq	%rax, %r9
	addq	%rdi, %r9
	addq	$16, %r10
	addq	$16, %r11
	addq	$32, %rdx
	subq	$4, %rcx
	jnz	2b
	movl	$1, %r8d
	jmp	.Lcnext
.Lcdone:
	movq	%r9, %rax
	ret
	.size reloc_csum_list, . - reloc_csum_list

/*
 * reloc_enter(%rdi = physical address of struct reloc_control)
 * Runs at its copy in a control page after ExitBootServices, firmware
 * page tables still live (identity), interrupts in any state, firmware's
 * paging mode (4- or 5-level). Registers:
 *   %r15  struct reloc_control *   (identity mapped in old and new CR3)
 *   %r14  A's entry (read before the final lgdt)
 */
	.globl reloc_enter
	.type reloc_enter, @function
reloc_enter:
	cli
	movq	%rdi, %r15
	movq	CTL_STACK(%r15), %rsp	/* our stack, a control page */
	pushq	$0
	popfq				/* IF=DF=TF=AC=NT=0 */
	pushq	$0
	pushq	$0
	lidt	(%rsp)			/* limit 0: a stray NMI/fault resets
					 * instead of running firmware code
					 * the copy may have overwritten */
	addq	$16, %rsp

	lgdt	CTL_GDTR(%r15)		/* 0x08 code32, 0x10 code64, 0x18 data */
	pushq	$SEL_CODE64		/* CS = 0x10 via far return */
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs

	/* CR4: PAE; PGE off (no stale global entries), PCIDE off (CR0.PG
	 * cannot be cleared with it, and A wants it off), CET off (our far
	 * returns would trip shadow stacks; A restores its own CR4). */
	movq	%cr4, %rax
	andq	$~(CR4_PGE | CR4_PCIDE | CR4_CET), %rax
	orq	$CR4_PAE, %rax
	movq	%rax, %cr4

	/* CR0: PE|PG|WP, caches on (CD=NW=0), no FPU traps (EM=TS=0). */
	movq	%cr0, %rax
	orq	$(CR0_PE | CR0_WP), %rax
	andq	$~(CR0_EM | CR0_TS | CR0_NW | CR0_CD), %rax
	btsq	$CR0_PG_BIT, %rax
	movq	%rax, %cr0

	movl	$MSR_EFER, %ecx		/* EFER |= NXE (and LME, kept) */
	rdmsr
	orl	$(EFER_LME | EFER_NXE), %eax
	wrmsr

	/* Does CR4.LA57 already equal A's? */
	movq	%cr4, %rax
	shrq	$CR4_LA57_BIT, %rax
	xorq	CTL_FLAGS(%r15), %rax
	testb	$CTL_F_LA57, %al
	jnz	.Lswitch
	movq	CTL_PTROOT(%r15), %rax
	movq	%rax, %cr3		/* identity map incl. >4 GiB */
	jmp	.Lpaged

	/*
	 * Switch the paging mode. CR4.LA57 can change only outside IA-32e
	 * mode: far return to 32-bit code (compatibility mode), clear
	 * CR0.PG (EFER.LMA drops to 0, LME stays 1), toggle LA57, load the
	 * new root, set CR0.PG (IA-32e again, still 32-bit CS), far return
	 * to 0x10. Everything the 32-bit part uses must be below 4 GiB: its
	 * own code, the stack, the GDT (in ctl) and the root (32-bit CR3).
	 *   %ebx  64-bit re-entry   %esi  ctl   %edi  root   %ebp  new CR4
	 */
.Lswitch:
	movq	CTL_PTROOT(%r15), %rdi
	leaq	.Lback64(%rip), %rbx
	leaq	.Lcompat32(%rip), %rcx
	movq	%r15, %rax
	orq	%rdi, %rax
	orq	%rbx, %rax
	orq	%rcx, %rax
	orq	%rsp, %rax
	shrq	$32, %rax
	jz	1f
	movb	$'L', %bl
	jmp	.Lhalt
1:	movq	%cr4, %rbp
	xorl	$CR4_LA57, %ebp
	movl	%r15d, %esi
	pushq	$SEL_CODE32
	pushq	%rcx
	lretq

	.code32
.Lcompat32:
	movl	%cr0, %eax
	btrl	$CR0_PG_BIT, %eax
	movl	%eax, %cr0		/* paging off, EFER.LMA = 0 */
	movl	%ebp, %cr4		/* LA57 toggled, PAE kept */
	movl	%edi, %cr3		/* A's-mode identity root */
	pushl	$SEL_CODE64
	pushl	%ebx
	btsl	$CR0_PG_BIT, %eax
	movl	%eax, %cr0		/* paging on, EFER.LMA = 1 */
	lret				/* to .Lback64, CS = 0x10 */
	.code64

.Lback64:
	movl	%esi, %r15d		/* upper halves are undefined here */
	movq	CTL_STACK(%r15), %rsp
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss

.Lpaged:
	movq	CTL_HEAD(%r15), %rdi
	call	.Lreloc_copy		/* local: no relocation at all */

	testb	$CTL_F_CSUM, CTL_FLAGS(%r15)
	jz	1f
	movq	CTL_HEAD(%r15), %rdi
	call	.Lreloc_csum_list
	movq	%rax, CTL_CSUM_SEEN(%r15)
	cmpq	CTL_CSUM(%r15), %rax
	je	1f
	movb	$'C', %bl
	jmp	.Lhalt

1:	leaq	.Lmsg_done(%rip), %rsi	/* a line the host can time */
	call	.Lputs
	movq	CTL_ENTRY(%r15), %r14
	movq	CTL_STACK(%r15), %rsp
	movq	$0, (%rsp)		/* zero qword at RSP (peer re-entry) */
	lgdt	CTL_FINAL(%r15)		/* last memory access via ctl */
	xorl	%eax, %eax		/* RFLAGS: IF=0, DF=0 (popfq above) */
	jmp	*%r14

/* %bl = marker byte: print it on COM1 and port 0xe9, then halt forever. */
.Lhalt:
	movzbl	%bl, %r8d
	call	.Lputc
	movl	%r8d, %eax
	outb	%al, $0xe9
3:	cli
	hlt
	jmp	3b

/* %rsi = NUL-terminated string: print it on COM1. Clobbers rax rcx rdx rsi r8. */
.Lputs:
	movzbl	(%rsi), %r8d
	testl	%r8d, %r8d
	jz	1f
	call	.Lputc
	incq	%rsi
	jmp	.Lputs
1:	ret

/* %r8b = byte: print it on COM1 after a bounded wait for THR empty (a
 * missing UART costs time, not the resume). Clobbers rax rcx rdx. */
.Lputc:
	movl	$0x100000, %ecx
	movw	$0x3fd, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jnz	2f
	pause
	loop	1b
2:	movw	$0x3f8, %dx
	movl	%r8d, %eax
	outb	%al, %dx
	ret
	.size reloc_enter, . - reloc_enter

.Lmsg_done:
	.asciz	"kjresume: memory restored and checked; entering A\r\n"

	.balign 16
	.globl reloc_stub_end
reloc_stub_end:

/*
 * reloc_fw_la57(): CR4.LA57 of the running CPU (0 or 1), for
 * reloc_plan_in.fw_la57. CPL0 only (firmware); not part of the stub.
 */
	.globl reloc_fw_la57
	.type reloc_fw_la57, @function
reloc_fw_la57:
	movq	%cr4, %rax
	shrq	$CR4_LA57_BIT, %rax
	andl	$1, %eax
	ret
	.size reloc_fw_la57, . - reloc_fw_la57

	.section .note.GNU-stack,"",@progbits
