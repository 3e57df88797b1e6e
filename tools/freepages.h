/* SPDX-License-Identifier: MIT */
/*
 * Free pages of kernel A's buddy allocator, found the way makedumpfile's
 * -d 16 finds them: A's VMCOREINFO (the note in B's /proc/vmcore) says
 * where mem_section and A's page tables are and how struct page is laid
 * out; every struct page of A is read (read-only) and each PageBuddy head
 * of order n frees 2^n pages. docs/FORMAT.md section 9.
 *
 * A's memory is not all where A left it: the kexec jump swapped A's
 * pages in B's region with kexec's source pages. A's view of a physical
 * page is therefore read through A's kexec swap list, which A's
 * relocate_kernel() left in its control page (the page of the
 * LINUXKJUMP entry).
 *
 * Anything unexpected makes fp_find() fail with a reason, and then the
 * caller drops nothing.
 */
#ifndef KJ_TOOLS_FREEPAGES_H
#define KJ_TOOLS_FREEPAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/spans.h"

struct fp_input {
	const char *vmcoreinfo;		/* A's VMCOREINFO, not NUL-terminated */
	size_t vmcoreinfo_len;
	bool have_entry;		/* LINUXKJUMP: jump-back entry, flags */
	uint64_t entry;
	uint32_t resume_flags;		/* bit 0: LA57 */
	/* A's RAM (B's included): sorted, disjoint. Free pages are only
	 * reported inside it, whole pages only. */
	const struct span *ram;
	size_t nram;
	/* B's RAM: sorted, disjoint. Its current content is B's; A's is in
	 * kexec's source pages. Empty: no kexec jump (a plain core). */
	const struct span *bram;
	size_t nbram;
	/* Current physical memory, only ever asked for inside @ram and
	 * outside @bram; 0 on success, -1 (no message) otherwise. */
	int (*phys_read)(void *ctx, uint64_t paddr, void *buf, size_t len);
	void *ctx;
};

/* One entry of A's kexec swap list: on its way back from B, A exchanges
 * the two pages (src == dest: a page that is its own source). */
struct fp_pair {
	uint64_t dest, src;
};

struct fp_result {
	/* Free pages: sorted, merged, page-aligned, inside whole RAM pages,
	 * outside B's RAM and outside every page of A's kexec image. */
	struct span *free;
	size_t nfree;
	uint64_t buddy_pages;		/* all pages in A's buddy free lists */
	uint64_t kexec_pages;		/* free pages kept: kexec uses them */
	bool have_nr_free;		/* A's own count (zones' NR_FREE_PAGES) */
	int64_t nr_free;
	unsigned levels;		/* A's paging levels, 4 or 5 */
	uint64_t swap_pairs;		/* kexec swap list: (dest, src) pages */
	/* That list, checked (every dest and every src once, a src never
	 * another pair's dest), sorted by dest; and image->head, where A's
	 * control page says it starts. Only when fp_find() succeeds. */
	struct fp_pair *pairs;
	size_t npairs;
	uint64_t swap_head;
	char why[256];			/* fp_find() failed: the reason */
};

/* 0: @out filled (free with fp_result_free()); -1: out->why says why. */
int fp_find(const struct fp_input *in, struct fp_result *out);
void fp_result_free(struct fp_result *r);

#endif
