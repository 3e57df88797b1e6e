/* SPDX-License-Identifier: MIT */
/*
 * relocate/plan.h - conflict-free relocation planner (pure; no <efi.h>).
 *
 * Copy-list encoding: one 64-bit word per entry, page address | flag,
 * modelled on Linux kexec's IND_* (bits 0-3 identical), extended with a
 * run length and a zero-fill entry:
 *   RELOC_IND_DESTINATION addr|1  set the destination cursor
 *   RELOC_IND_INDIRECTION addr|2  continue reading entries at addr
 *   RELOC_IND_DONE        4       end of list
 *   RELOC_IND_SOURCE      addr|8  copy LEN pages from addr to the cursor
 *   RELOC_IND_ZERO        0x10    zero LEN pages at the cursor
 *   RELOC_IND_LENGTH      n<<12|0x20  LEN for the next SOURCE/ZERO/KEEP
 *                                 entry (LEN is 1 if no LENGTH precedes)
 *   RELOC_IND_KEEP        0x40    LEN pages at the cursor are already in
 *                                 place (read there directly): not
 *                                 touched, only checksummed
 * SOURCE, ZERO and KEEP advance the cursor by LEN pages. KEEP entries are
 * emitted only when reloc_plan_in.csum is set, so that the list then
 * names every destination page exactly once.
 *
 * Copy checksum (RELOC_CTL_CSUM): over memory, the sum mod 2^64 of
 * q * (a + 1) for every little-endian qword q at physical address a of
 * every page the list names (every destination with in->csum). Sums of
 * disjoint pieces add up, so the loader can accumulate it piece by piece
 * in any order (reloc_csum()); zero bytes
 * contribute nothing; a change of any single qword changes it (a + 1 is
 * odd, hence invertible mod 2^64); two pages swapped d pages apart go
 * unnoticed only if d * (difference of their qword sums) is 0 mod 2^52.
 * A bug and corruption detector, not cryptographic.
 */
#ifndef KJ_RELOCATE_PLAN_H
#define KJ_RELOCATE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELOC_PAGE_SIZE 4096ULL

#define RELOC_IND_DESTINATION 0x1ULL
#define RELOC_IND_INDIRECTION 0x2ULL
#define RELOC_IND_DONE        0x4ULL
#define RELOC_IND_SOURCE      0x8ULL
#define RELOC_IND_ZERO        0x10ULL
#define RELOC_IND_LENGTH      0x20ULL
#define RELOC_IND_KEEP        0x40ULL

enum reloc_err {
	RELOC_OK = 0,
	RELOC_E_INVAL,          /* unaligned, unsorted or overlapping input */
	RELOC_E_DEST_UNUSABLE,  /* a destination is reserved or not in the map */
	RELOC_E_SCRATCH_IS_DEST,/* a scratch page is a destination */
	RELOC_E_NOSPACE,        /* scratch too small: see plan->missing_pages */
	RELOC_E_TOOMANY,        /* caller's load[] array too small */
	RELOC_E_NOLOWMEM,       /* 5-level paging involved (la57/fw_la57)
				 * and the lowest scratch pages, where the
				 * stub, ctl, stack and root go, are not all
				 * below 4 GiB (plan.c I5) */
};

const char *reloc_strerror(enum reloc_err err);

enum reloc_mem_type {
	RELOC_MEM_FREE = 0,     /* free now: pages may be read straight here */
	RELOC_MEM_BOOT,         /* free only after ExitBootServices */
	RELOC_MEM_RESERVED,     /* never touched */
};

/* All ranges are [start, end), page aligned, sorted, non-overlapping. */
struct reloc_range { uint64_t start, end; };
struct reloc_mem { uint64_t start, end; uint32_t type; };
struct reloc_dest { uint64_t start, end; uint32_t zero; /* zero-fill */ };

/* Read image pages [dst, dst+npages) into buf (buf == dst: direct). */
struct reloc_load { uint64_t dst, buf, npages; };

#define RELOC_CTL_LA57     0x1ULL /* A runs with CR4.LA57 (5-level) */
#define RELOC_CTL_CSUM     0x2ULL /* check csum after the copy */
#define RELOC_CTL_LIST_ALL 0x4ULL /* list names every destination page */

/*
 * struct reloc_control - what the stub reads; shared with stub.S via the
 * RELOC_CTL_OFF_* offsets (static-asserted in plan.c).
 */
struct reloc_control {
	uint64_t head;          /* 0x00 first list entry (physical) */
	uint64_t pt_root;       /* 0x08 identity page-table root (CR3) */
	uint64_t entry;         /* 0x10 A's jump-back entry */
	uint64_t stack_top;     /* 0x18 RSP; [stack_top] is a zero qword */
	uint64_t flags;         /* 0x20 RELOC_CTL_* */
	uint16_t pad0[3];
	uint16_t gdtr_limit;    /* 0x2e own GDTR (lgdt at 0x2e) */
	uint64_t gdtr_base;     /* 0x30 */
	uint16_t pad1[3];
	uint16_t final_limit;   /* 0x3e GDTR loaded just before the jump */
	uint64_t final_base;    /* 0x40 */
	uint64_t gdt[4];        /* 0x48 null, 0x08 code32, 0x10 code64, 0x18 data */
	uint64_t csum;          /* 0x68 expected checksum (RELOC_CTL_CSUM) */
	uint64_t csum_seen;     /* 0x70 stub: checksum it computed */
};
#define RELOC_CTL_OFF_HEAD    0x00
#define RELOC_CTL_OFF_PTROOT  0x08
#define RELOC_CTL_OFF_ENTRY   0x10
#define RELOC_CTL_OFF_STACK   0x18
#define RELOC_CTL_OFF_FLAGS   0x20
#define RELOC_CTL_OFF_GDTR    0x2e
#define RELOC_CTL_OFF_FINAL   0x3e
#define RELOC_CTL_OFF_GDT     0x48
#define RELOC_CTL_OFF_CSUM    0x68
#define RELOC_CTL_OFF_CSUMSEEN 0x70

struct reloc_plan_in {
	const struct reloc_dest *dest; size_t ndest;
	const struct reloc_mem *mem; size_t nmem;     /* firmware map now */
	const struct reloc_range *scratch; size_t nscratch; /* free, no image */
	uint64_t stub_size;     /* bytes of reloc_stub_start..end */
	uint64_t entry;         /* A's jump-back entry */
	bool la57;              /* image uses 5-level paging */
	bool gb_pages;          /* CPU supports 1 GiB pages */
	uint16_t final_limit;   /* GDTR for A; 0/0 = the stub's own GDT */
	uint64_t final_base;
	int64_t virt_offset;    /* pointer = physical + virt_offset */
	bool fw_la57;           /* firmware runs 5-level (reloc_fw_la57()) */
	bool csum;              /* list every destination (KEEP entries), so
				 * that the stub's check (reloc_set_csum())
				 * covers pages read in place too; without
				 * it the check covers the pages the stub
				 * writes (copied and zero-filled) */
};

struct reloc_plan {
	struct reloc_load *load; size_t load_cap; /* caller's array */
	size_t nload;
	uint64_t ctl;           /* struct reloc_control (physical) */
	uint64_t stub;          /* copy the stub here, then call it */
	uint64_t pt_root, list_head;
	uint64_t staged_pages, direct_pages, zero_pages;
	uint64_t ctl_pages;     /* control pages incl. list and page tables */
	uint64_t missing_pages; /* on RELOC_E_NOSPACE */
};

enum reloc_err reloc_plan(const struct reloc_plan_in *in, struct reloc_plan *out);

/*
 * reloc_csum() - checksum contribution of nbytes at buf that will sit at
 * physical dst (see the top of this file). Any dst, any length: a byte b
 * at address x counts as (b << 8 (x % 8)) * ((x & ~7) + 1), so the sum is
 * the same however the bytes are split into calls. The loader adds it up
 * (mod 2^64) over every byte it reads or stages, in any order (zero
 * extents add nothing), and hands the total to reloc_set_csum().
 */
uint64_t reloc_csum(uint64_t dst, const void *buf, uint64_t nbytes);

/*
 * reloc_set_csum() - make the stub check the copy: after copying, it
 * computes the checksum of every page the list names and halts with 'C'
 * instead of entering A unless it equals expected. With in->csum
 * (RELOC_CTL_LIST_ALL) that is every destination page; without it, the
 * pages the stub writes: those it copies from staging and those it
 * zero-fills (which add nothing), so @expected is then the sum over the
 * staged bytes only.
 */
enum reloc_err reloc_set_csum(const struct reloc_plan *plan, int64_t virt_offset,
			      uint64_t expected);

/*
 * reloc_idmap_pages() / reloc_idmap_build(): identity page tables for a
 * merged sorted set of ranges (ranges a and b, each sorted; together
 * non-overlapping), 4- or 5-level, 2 MiB or 1 GiB leaves.
 */
uint64_t reloc_idmap_pages(const struct reloc_range *a, size_t na,
			   const struct reloc_range *b, size_t nb,
			   bool la57, bool gb_pages);
uint64_t reloc_idmap_build(const struct reloc_range *a, size_t na,
			   const struct reloc_range *b, size_t nb,
			   bool la57, bool gb_pages, uint64_t pool,
			   uint64_t npool, int64_t virt_offset);

/* stub.S */
void reloc_copy(uint64_t head);                    /* SysV, host-runnable */
uint64_t reloc_csum_list(uint64_t head);           /* SysV, host-runnable */
void reloc_enter(uint64_t ctl) __attribute__((noreturn));
extern const char reloc_stub_start[], reloc_stub_end[];
int reloc_fw_la57(void);                           /* CPL0 only: CR4.LA57 */

#endif
