// SPDX-License-Identifier: MIT
/*
 * Free pages of kernel A's buddy allocator (tools/freepages.h,
 * docs/FORMAT.md section 9). x86-64, SPARSEMEM_VMEMMAP, 4 KiB pages,
 * 4- or 5-level paging; Linux 6.1 and 6.12 (what VMCOREINFO holds:
 * kernel/crash_core.c and arch/x86/kernel/crash_core_64.c in 6.1,
 * kernel/vmcore_info.c and arch/x86/kernel/vmcore_info_64.c in 6.12).
 *
 *  1. VMCOREINFO: struct page layout, PAGE_BUDDY_MAPCOUNT_VALUE (6.1:
 *     ~PG_buddy = -129, a page_type bit in _mapcount; 6.12: PGTY_buddy
 *     << 24, a page type in the top byte; a free head has exactly that
 *     value in both, so it is compared whole, never hard-coded), the
 *     number of orders, mem_section, init_top_pgt, phys_base, LA57.
 *  2. A's kexec swap list. relocate_kernel() (relocate_kernel_64.S,
 *     identical in 6.1 and 6.12 there) stores at DATA(0) = control page +
 *     KEXEC_CONTROL_CODE_MAX_SIZE (2048): RSP, CR0, CR3, CR4, the
 *     identity page table, the swap page and image->head, the kexec
 *     entry list, then swaps every destination page with its source page
 *     (swap_pages). So A's content of a destination page is in its source
 *     page now; B's RAM is all destinations (B runs there), and so are
 *     other kexec segments such as the elfcorehdr. The control page is
 *     the page of the LINUXKJUMP entry (kexec_jump_back_ret, within the
 *     first 2048 bytes). Indirection and source pages are never
 *     destinations (kimage_alloc_page()), so they are read in place.
 *  3. A's page tables from init_top_pgt (its physical address is
 *     __pa_symbol(): vaddr - __START_KERNEL_map + phys_base), checked by
 *     translating init_top_pgt and _stext back; mem_section (with
 *     SPARSEMEM_EXTREME: SYMBOL(mem_section) is the root array) gives
 *     each present section's encoded mem_map, which with VMEMMAP is the
 *     same vmemmap base for all of them (and SYMBOL(vmemmap) in 6.12).
 *  4. Every struct page of every present section below the end of RAM:
 *     _mapcount == PAGE_BUDDY_MAPCOUNT_VALUE is a free head, private its
 *     order; the head must be aligned to its order, the order below
 *     LENGTH(zone.free_area), the block inside RAM, and no page of the
 *     block may be a head itself.
 *  5. Cross-checks: the sum of the zones' NR_FREE_PAGES counters (non-NUMA
 *     kernels: contig_page_data) must not be smaller than what was found
 *     (beyond per-CPU counter drift), and free pages must not hold the
 *     page-poisoning pattern (page_poison=1: A would report zeros as
 *     corruption).
 *
 * Free pages of B's RAM and every page of A's kexec image (destinations,
 * sources, indirection, control, identity table and swap pages) are not
 * reported.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/freepages.h"

#define PG		4096ull
#define PG_MASK		(~(PG - 1))
#define KERNEL_MAP	0xffffffff80000000ull	/* __START_KERNEL_map */
#define PTE_ADDR	0x000ffffffffff000ull	/* bits 12..51 */
#define PMD_ADDR	0x000fffffffe00000ull	/* 2 MiB page: bits 21..51 */
#define PUD_ADDR	0x000fffffc0000000ull	/* 1 GiB page: bits 30..51 */
#define PTE_PRESENT	0x1ull
#define PTE_PSE		0x80ull
#define CR0_PE		0x1ull
#define CR0_PG		0x80000000ull
#define CR4_PAE		0x20ull
#define CR4_LA57	0x1000ull
#define KEXEC_CODE_MAX	2048u	/* KEXEC_CONTROL_CODE_MAX_SIZE */
#define IND_DESTINATION	0x1ull
#define IND_INDIRECTION	0x2ull
#define IND_DONE	0x4ull
#define IND_SOURCE	0x8ull
#define SECTION_PRESENT	0x1ull	/* SECTION_MARKED_PRESENT */
#define SECTION_MEM_MAP	0x2ull	/* SECTION_HAS_MEM_MAP */
#define SECTION_FLAGS	0x3full	/* below SECTION_MAP_LAST_BIT, 6.1..6.12 */
#define PAGE_POISON	0xaa
#define POISON_SAMPLES	16



struct fp {
	const struct fp_input *in;
	struct fp_result *out;
	char *vi;			/* VMCOREINFO, NUL-terminated */

	uint64_t sz_page, off_mapcount, off_private, norders;
	uint64_t sec_bits, phys_bits;
	uint64_t mem_section, len_mem_section, sz_mem_section, off_smm;
	uint32_t buddy;
	uint64_t init_top_pgt, phys_base, stext, vmemmap;
	bool have_stext, have_vmemmap;
	bool l5;

	struct fp_pair *pairs;		/* sorted by dest */
	size_t npairs;
	struct spans kpages;		/* A's kexec pages */

	uint64_t root;			/* init_top_pgt, physical */
	struct { uint64_t pa; bool valid; uint64_t e[512]; } cache[5];

	struct spans blocks;		/* free blocks found */
	uint8_t *sp;			/* one section's struct pages */
	uint8_t *bad;			/* per 4 KiB of them: unreadable */
	bool *ok;			/* per pfn: struct page read */
};

static int fail(struct fp *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct fp *f, const char *fmt, ...)
{
	va_list ap;

	if (f->out->why[0])		/* keep the first reason */
		return -1;
	va_start(ap, fmt);
	vsnprintf(f->out->why, sizeof(f->out->why), fmt, ap);
	va_end(ap);
	return -1;
}

static bool in_span(const struct span *s, size_t n, uint64_t a)
{
	size_t i = spans_at(s, n, a);

	return i < n && s[i].start <= a;
}

/* [a, b) inside the union of the sorted, disjoint @s. */
static bool covered(const struct span *s, size_t n, uint64_t a, uint64_t b)
{
	size_t i = spans_at(s, n, a);

	while (a < b) {
		if (i >= n || s[i].start > a)
			return false;
		a = s[i++].end;
	}
	return true;
}

static bool overlaps(const struct span *s, size_t n, uint64_t a, uint64_t b)
{
	size_t i = spans_at(s, n, a);

	return i < n && s[i].start < b;
}

/* ---- VMCOREINFO ---- */

static bool vi_get(struct fp *f, const char *key, int base, uint64_t *v)
{
	size_t kl = strlen(key);

	for (const char *l = f->vi; *l; ) {
		const char *nl = strchr(l, '\n');

		if (!strncmp(l, key, kl) && l[kl] == '=') {
			const char *s = l + kl + 1;
			uint64_t x;
			char *end;

			errno = 0;
			if (base == 10 && *s == '-')
				x = (uint64_t)strtoll(s, &end, 10);
			else
				x = strtoull(s, &end, base);
			if (errno || end == s || (*end != '\n' && *end != '\0'))
				return false;
			*v = x;
			return true;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	return false;
}

static int vi_need(struct fp *f, const char *key, int base, uint64_t *v)
{
	if (!vi_get(f, key, base, v))
		return fail(f, "VMCOREINFO has no %s", key);
	return 0;
}

static int read_vmcoreinfo(struct fp *f)
{
	uint64_t v, l5, sme = 0, size = 1ull << 30;

	f->vi = malloc(f->in->vmcoreinfo_len + 1);
	if (!f->vi)
		return fail(f, "out of memory");
	memcpy(f->vi, f->in->vmcoreinfo, f->in->vmcoreinfo_len);
	f->vi[f->in->vmcoreinfo_len] = '\0';

	if (vi_need(f, "PAGESIZE", 10, &v))
		return -1;
	if (v != PG)
		return fail(f, "A's PAGESIZE is %llu, not 4096", (unsigned long long)v);
	if (vi_need(f, "SIZE(page)", 10, &f->sz_page) ||
	    vi_need(f, "OFFSET(page._mapcount)", 10, &f->off_mapcount) ||
	    vi_need(f, "OFFSET(page.private)", 10, &f->off_private) ||
	    vi_need(f, "LENGTH(zone.free_area)", 10, &f->norders) ||
	    vi_need(f, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", 10, &v) ||
	    vi_need(f, "SYMBOL(mem_section)", 16, &f->mem_section) ||
	    vi_need(f, "LENGTH(mem_section)", 10, &f->len_mem_section) ||
	    vi_need(f, "SIZE(mem_section)", 10, &f->sz_mem_section) ||
	    vi_need(f, "OFFSET(mem_section.section_mem_map)", 10, &f->off_smm) ||
	    vi_need(f, "NUMBER(SECTION_SIZE_BITS)", 10, &f->sec_bits) ||
	    vi_need(f, "NUMBER(MAX_PHYSMEM_BITS)", 10, &f->phys_bits) ||
	    vi_need(f, "SYMBOL(init_top_pgt)", 16, &f->init_top_pgt) ||
	    vi_need(f, "NUMBER(phys_base)", 10, &f->phys_base) ||
	    vi_need(f, "NUMBER(pgtable_l5_enabled)", 10, &l5))
		return -1;
	/* A buddy head's whole _mapcount word: a type, never a mapcount
	 * (printed as a negative int; accept its unsigned form too) */
	if (v >= 0x80000000ull && v < 0xffffffffull)
		v = (uint64_t)(int64_t)(int32_t)(uint32_t)v;
	if ((int64_t)v < INT32_MIN || (int64_t)v >= -1)
		return fail(f, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=%lld is not a "
			    "page type", (long long)v);
	f->buddy = (uint32_t)v;
	if (f->sz_page < 32 || f->sz_page > 256 || f->sz_page % 8 ||
	    f->off_mapcount > f->sz_page - 4 || f->off_private > f->sz_page - 8)
		return fail(f, "inconsistent struct page layout: SIZE %llu, "
			    "_mapcount at %llu, private at %llu",
			    (unsigned long long)f->sz_page,
			    (unsigned long long)f->off_mapcount,
			    (unsigned long long)f->off_private);
	if (f->phys_bits > 52 || f->sec_bits < 12 || f->sec_bits >= f->phys_bits ||
	    f->phys_bits - f->sec_bits > 32)
		return fail(f, "inconsistent SECTION_SIZE_BITS %llu / "
			    "MAX_PHYSMEM_BITS %llu",
			    (unsigned long long)f->sec_bits,
			    (unsigned long long)f->phys_bits);
	if (f->norders < 1 || f->norders > 20 ||
	    f->norders - 1 + 12 > f->sec_bits)
		return fail(f, "inconsistent LENGTH(zone.free_area)=%llu",
			    (unsigned long long)f->norders);
	if (f->sz_mem_section < 8 || f->sz_mem_section > PG ||
	    f->off_smm > f->sz_mem_section - 8)
		return fail(f, "inconsistent struct mem_section: SIZE %llu, "
			    "section_mem_map at %llu",
			    (unsigned long long)f->sz_mem_section,
			    (unsigned long long)f->off_smm);
	if (l5 > 1)
		return fail(f, "NUMBER(pgtable_l5_enabled)=%llu",
			    (unsigned long long)l5);
	f->l5 = l5;
	if (f->in->have_entry && (f->in->resume_flags & 1) != l5)
		return fail(f, "VMCOREINFO says %d-level paging, the resume note "
			    "says %d-level", l5 ? 5 : 4,
			    (f->in->resume_flags & 1) ? 5 : 4);
	if (vi_get(f, "NUMBER(sme_mask)", 10, &sme) && sme)
		return fail(f, "A uses memory encryption (sme_mask 0x%llx)",
			    (unsigned long long)sme);
	vi_get(f, "NUMBER(KERNEL_IMAGE_SIZE)", 10, &size);
	if (f->init_top_pgt < KERNEL_MAP || f->init_top_pgt - KERNEL_MAP >= size ||
	    f->init_top_pgt % PG)
		return fail(f, "SYMBOL(init_top_pgt)=%llx is not in the kernel "
			    "image", (unsigned long long)f->init_top_pgt);
	f->root = f->init_top_pgt - KERNEL_MAP + f->phys_base;
	if (f->root % PG || f->root >= 1ull << 52)
		return fail(f, "init_top_pgt at physical 0x%llx",
			    (unsigned long long)f->root);
	f->have_stext = vi_get(f, "SYMBOL(_stext)", 16, &f->stext);
	f->have_vmemmap = vi_get(f, "SYMBOL(vmemmap)", 16, &f->vmemmap);
	f->out->levels = l5 ? 5 : 4;
	return 0;
}

/* ---- A's physical memory ---- */

static uint64_t ram_pages(const struct fp *f)
{
	uint64_t n = 0;

	for (size_t i = 0; i < f->in->nram; i++)
		n += (f->in->ram[i].end - f->in->ram[i].start + PG - 1) / PG;
	return n;
}

/* Current physical memory: A's RAM outside B's RAM only. */
static int phys(struct fp *f, uint64_t pa, void *buf, size_t len)
{
	if (!len)
		return 0;
	if (pa + len < pa || !covered(f->in->ram, f->in->nram, pa, pa + len) ||
	    overlaps(f->in->bram, f->in->nbram, pa, pa + len))
		return -1;
	return f->in->phys_read(f->in->ctx, pa, buf, len);
}

static const struct fp_pair *pair_of(const struct fp *f, uint64_t page)
{
	size_t lo = 0, hi = f->npairs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->pairs[mid].dest < page)
			lo = mid + 1;
		else if (f->pairs[mid].dest > page)
			hi = mid;
		else
			return &f->pairs[mid];
	}
	return NULL;
}

/* The first destination page at or after @pa (UINT64_MAX: none). */
static uint64_t next_dest(const struct fp *f, uint64_t pa)
{
	size_t lo = 0, hi = f->npairs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->pairs[mid].dest < pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->npairs ? f->pairs[lo].dest : UINT64_MAX;
}

/* A's view of physical memory: a destination page through its source. */
static int av_read(struct fp *f, uint64_t pa, void *vbuf, size_t len)
{
	uint8_t *buf = vbuf;

	while (len) {
		uint64_t page = pa & PG_MASK;
		const struct fp_pair *p = pair_of(f, page);
		size_t n;

		if (p) {
			n = page + PG - pa < len ? (size_t)(page + PG - pa) : len;
			if (p->src == p->dest ||
			    phys(f, p->src + (pa - page), buf, n))
				return -1;
		} else {
			uint64_t stop = next_dest(f, pa);

			n = stop - pa < len ? (size_t)(stop - pa) : len;
			if (phys(f, pa, buf, n))	/* refuses B's RAM */
				return -1;
		}
		buf += n;
		pa += n;
		len -= n;
	}
	return 0;
}

/* ---- A's kexec swap list ---- */

static int cmp_dest(const void *a, const void *b)
{
	const struct fp_pair *x = a, *y = b;

	return x->dest < y->dest ? -1 : x->dest > y->dest;
}

static int cmp_src(const void *a, const void *b)
{
	const struct fp_pair *x = a, *y = b;

	return x->src < y->src ? -1 : x->src > y->src;
}

static bool ram_page(const struct fp *f, uint64_t pa)
{
	return pa % PG == 0 && pa && covered(f->in->ram, f->in->nram, pa, pa + PG) &&
	       !overlaps(f->in->bram, f->in->nbram, pa, pa + PG);
}

static int kexec_list(struct fp *f)
{
	const struct fp_input *in = f->in;
	uint64_t d[7], ctrl, head, e, dest = 0, max_pairs, max_ind, nind = 0;
	uint64_t *ind = NULL;
	size_t pos = 0, cap = 0;
	bool have_dest = false;
	int rc = -1;

	if (!in->have_entry) {
		if (in->nbram)
			return fail(f, "no LINUXKJUMP note: A's kexec swap list "
				    "is unknown");
		return 0;		/* a plain core: memory is A's */
	}
	ctrl = in->entry & PG_MASK;
	if ((in->entry & ~PG_MASK) >= KEXEC_CODE_MAX || !ram_page(f, ctrl))
		return fail(f, "the jump-back entry 0x%llx is not in a kexec "
			    "control page in A's RAM",
			    (unsigned long long)in->entry);
	if (phys(f, ctrl + KEXEC_CODE_MAX, d, sizeof(d)))
		return fail(f, "cannot read A's kexec control page 0x%llx",
			    (unsigned long long)ctrl);
	/* d: RSP, CR0, CR3, CR4, PA_TABLE_PAGE, PA_SWAP_PAGE, head */
	if ((d[1] & (CR0_PE | CR0_PG)) != (CR0_PE | CR0_PG) || !(d[3] & CR4_PAE) ||
	    !!(d[3] & CR4_LA57) != f->l5 || !ram_page(f, d[4]) ||
	    !ram_page(f, d[5]) || (d[6] & ~PG_MASK) != IND_INDIRECTION)
		return fail(f, "A's kexec control page 0x%llx does not hold what "
			    "relocate_kernel() saves (CR0 0x%llx CR4 0x%llx table "
			    "0x%llx swap 0x%llx head 0x%llx)",
			    (unsigned long long)ctrl, (unsigned long long)d[1],
			    (unsigned long long)d[3], (unsigned long long)d[4],
			    (unsigned long long)d[5], (unsigned long long)d[6]);
	if (spans_add(&f->kpages, ctrl, ctrl + PG) ||
	    spans_add(&f->kpages, d[4], d[4] + PG) ||
	    spans_add(&f->kpages, d[5], d[5] + PG))
		return fail(f, "out of memory");
	max_pairs = ram_pages(f);
	max_ind = max_pairs / 511 + 2;
	ind = malloc(PG);
	if (!ind)
		return fail(f, "out of memory");
	head = d[6];
	for (e = head;; e = ind[pos++]) {
		uint64_t page = e & PG_MASK, fl = e & 0xf;

		if ((e & 0xff0) || !fl || (fl & (fl - 1))) {
			fail(f, "A's kexec list: malformed entry 0x%llx",
			     (unsigned long long)e);
			goto out;
		}
		if (fl == IND_DONE)
			break;
		if (fl == IND_DESTINATION) {
			dest = page;
			have_dest = true;
		} else if (fl == IND_INDIRECTION) {
			if (++nind > max_ind || !ram_page(f, page) ||
			    phys(f, page, ind, PG)) {
				fail(f, "A's kexec list: bad indirection page "
				     "0x%llx", (unsigned long long)page);
				goto out;
			}
			if (spans_add(&f->kpages, page, page + PG)) {
				fail(f, "out of memory");
				goto out;
			}
			pos = 0;
			continue;
		} else {		/* IND_SOURCE */
			if (!have_dest || f->npairs >= max_pairs) {
				fail(f, "A's kexec list: %s",
				     have_dest ? "too many pages" :
				     "a source before any destination");
				goto out;
			}
			if (f->npairs == cap) {
				struct fp_pair *n;

				cap = cap ? cap * 2 : 1024;
				n = realloc(f->pairs, cap * sizeof(*n));
				if (!n) {
					fail(f, "out of memory");
					goto out;
				}
				f->pairs = n;
			}
			f->pairs[f->npairs++] = (struct fp_pair){ dest, page };
			dest += PG;
		}
		if (pos >= PG / 8) {
			fail(f, "A's kexec list: an indirection page ends "
			     "without a link");
			goto out;
		}
	}
	f->out->swap_pairs = f->npairs;
	f->out->swap_head = head;
	qsort(f->pairs, f->npairs, sizeof(*f->pairs), cmp_dest);
	/* so far kpages: control, table, swap and indirection pages */
	for (size_t i = 0; i < f->kpages.n; i++)
		for (uint64_t a = f->kpages.v[i].start; a < f->kpages.v[i].end;
		     a += PG)
			if (pair_of(f, a)) {
				fail(f, "A's kexec list: page 0x%llx is a "
				     "destination and a kexec page",
				     (unsigned long long)a);
				goto out;
			}
	for (size_t i = 0; i < f->npairs; i++) {
		const struct fp_pair *p = &f->pairs[i];

		if (i && p->dest == p[-1].dest) {
			fail(f, "A's kexec list: page 0x%llx is a destination "
			     "twice", (unsigned long long)p->dest);
			goto out;
		}
		if (p->src != p->dest &&
		    (!ram_page(f, p->src) || pair_of(f, p->src))) {
			fail(f, "A's kexec list: source page 0x%llx of 0x%llx "
			     "is not A's RAM outside the destinations",
			     (unsigned long long)p->src,
			     (unsigned long long)p->dest);
			goto out;
		}
		if (spans_add(&f->kpages, p->dest, p->dest + PG) ||
		    spans_add(&f->kpages, p->src, p->src + PG)) {
			fail(f, "out of memory");
			goto out;
		}
	}
	qsort(f->pairs, f->npairs, sizeof(*f->pairs), cmp_src);
	for (size_t i = 1; i < f->npairs; i++)
		if (f->pairs[i].src == f->pairs[i - 1].src) {
			fail(f, "A's kexec list: page 0x%llx is a source twice",
			     (unsigned long long)f->pairs[i].src);
			goto out;
		}
	qsort(f->pairs, f->npairs, sizeof(*f->pairs), cmp_dest);
	rc = 0;
out:
	free(ind);
	return rc;
}

/* ---- A's page tables ---- */

/* 0: mapped (*pa, *psize: the page it lies in); 1: not mapped; -1: a
 * table cannot be read or is malformed. */
static int walk(struct fp *f, uint64_t va, uint64_t *pa, uint64_t *psize)
{
	unsigned top = f->l5 ? 48 : 39, bits = top + 9;
	uint64_t table = f->root;

	if ((uint64_t)((int64_t)(va << (64 - bits)) >> (64 - bits)) != va)
		return 1;		/* not canonical */
	for (unsigned shift = top;; shift -= 9) {
		unsigned lvl = (shift - 12) / 9, idx = (va >> shift) & 511;
		uint64_t e;

		if (!f->cache[lvl].valid || f->cache[lvl].pa != table) {
			f->cache[lvl].valid = false;
			if (av_read(f, table, f->cache[lvl].e, PG))
				return -1;
			f->cache[lvl].pa = table;
			f->cache[lvl].valid = true;
		}
		e = f->cache[lvl].e[idx];
		if (!(e & PTE_PRESENT))
			return 1;
		if (shift == 12) {
			*pa = (e & PTE_ADDR) | (va & (PG - 1));
			*psize = PG;
			return 0;
		}
		if (e & PTE_PSE) {
			uint64_t mask = shift == 30 ? PUD_ADDR : PMD_ADDR;

			if (shift > 30)
				return -1;	/* reserved at this level */
			*pa = (e & mask) | (va & ((1ull << shift) - 1));
			*psize = 1ull << shift;
			return 0;
		}
		table = e & PTE_ADDR;
	}
}

static int av_read_virt(struct fp *f, uint64_t va, void *vbuf, size_t len)
{
	uint8_t *buf = vbuf;

	while (len) {
		uint64_t pa, psize, n;

		if (walk(f, va, &pa, &psize))
			return -1;
		n = psize - (va & (psize - 1));
		if (n > len)
			n = len;
		if (av_read(f, pa, buf, (size_t)n))
			return -1;
		buf += n;
		va += n;
		len -= (size_t)n;
	}
	return 0;
}

static int check_kernel_map(struct fp *f)
{
	uint64_t pa, psize;
	int r = walk(f, f->init_top_pgt, &pa, &psize);

	if (r == -1)
		return fail(f, "cannot read A's page table init_top_pgt at "
			    "0x%llx%s", (unsigned long long)f->root,
			    f->npairs ? "" : " (no kexec swap list)");
	if (r || pa != f->root)
		return fail(f, "A's page tables do not map init_top_pgt to "
			    "0x%llx: not A's page tables",
			    (unsigned long long)f->root);
	if (f->have_stext) {
		uint64_t want = f->stext - KERNEL_MAP + f->phys_base;

		if (walk(f, f->stext, &pa, &psize) || pa != want)
			return fail(f, "A's page tables do not map _stext to "
				    "0x%llx", (unsigned long long)want);
	}
	return 0;
}

/* ---- struct pages ---- */

static bool ram_pfn(const struct fp *f, uint64_t pfn)	/* any byte */
{
	return overlaps(f->in->ram, f->in->nram, pfn * PG, pfn * PG + PG);
}

/*
 * Read the struct pages of pfns [first, first + n): f->sp, f->ok.
 * Coalesced reads, then 4 KiB at a time where a read fails.
 */
static void read_struct_pages(struct fp *f, uint64_t base, uint64_t first,
			      uint64_t n)
{
	uint64_t va0 = base + first * f->sz_page, len = n * f->sz_page;
	uint64_t vstart = va0 & PG_MASK, vend = (va0 + len + PG - 1) & PG_MASK;
	uint64_t nv = (vend - vstart) / PG;

	memset(f->bad, 0, (size_t)nv);
	for (uint64_t v = vstart; v < vend; ) {
		uint64_t pa, psize, run, a, b;

		if (walk(f, v, &pa, &psize)) {
			f->bad[(v - vstart) / PG] = 1;
			v += PG;
			continue;
		}
		run = psize - (v & (psize - 1));	/* to the mapping's end */
		if (run > vend - v)
			run = vend - v;
		a = v < va0 ? va0 : v;
		b = v + run < va0 + len ? v + run : va0 + len;
		if (av_read(f, pa + (a - v), f->sp + (a - va0), (size_t)(b - a))) {
			/* page by page */
			for (uint64_t w = v; w < v + run; w += PG) {
				uint64_t x = w < va0 ? va0 : w;
				uint64_t y = w + PG < va0 + len ? w + PG : va0 + len;

				if (av_read(f, pa + (x - v), f->sp + (x - va0),
					    (size_t)(y - x)))
					f->bad[(w - vstart) / PG] = 1;
			}
		}
		v += run;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a = va0 + i * f->sz_page, b = a + f->sz_page - 1;

		f->ok[i] = !f->bad[(a - vstart) / PG] && !f->bad[(b - vstart) / PG];
	}
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int scan_section(struct fp *f, uint64_t base, uint64_t first, uint64_t n)
{
	read_struct_pages(f, base, first, n);
	for (uint64_t i = 0; i < n; ) {
		uint64_t pfn = first + i, order, cnt;
		const uint8_t *sp = f->sp + i * f->sz_page;

		if (!f->ok[i]) {
			if (ram_pfn(f, pfn))
				return fail(f, "cannot read the struct page of "
					    "A's pfn 0x%llx (vmemmap 0x%llx)",
					    (unsigned long long)pfn,
					    (unsigned long long)(base + pfn * f->sz_page));
			i++;
			continue;
		}
		if (rd32(sp + f->off_mapcount) != f->buddy) {
			i++;
			continue;
		}
		order = rd64(sp + f->off_private);
		if (order >= f->norders)
			return fail(f, "A's free page 0x%llx has order %llu "
				    "(LENGTH(zone.free_area) is %llu)",
				    (unsigned long long)(pfn * PG),
				    (unsigned long long)order,
				    (unsigned long long)f->norders);
		cnt = 1ull << order;
		if (pfn & (cnt - 1) || i + cnt > n)
			return fail(f, "A's free block at 0x%llx of order %llu "
				    "is %s", (unsigned long long)(pfn * PG),
				    (unsigned long long)order,
				    pfn & (cnt - 1) ? "not aligned" :
				    "past the end of RAM or its section");
		if (!covered(f->in->ram, f->in->nram, pfn * PG, (pfn + cnt) * PG))
			return fail(f, "A's free block 0x%llx-0x%llx is not all "
				    "RAM", (unsigned long long)(pfn * PG),
				    (unsigned long long)((pfn + cnt) * PG - 1));
		for (uint64_t t = 1; t < cnt; t++)
			if (!f->ok[i + t] ||
			    rd32(f->sp + (i + t) * f->sz_page + f->off_mapcount) ==
			    f->buddy)
				return fail(f, "A's free block 0x%llx of order "
					    "%llu holds %s at 0x%llx",
					    (unsigned long long)(pfn * PG),
					    (unsigned long long)order,
					    f->ok[i + t] ? "another free block"
					    : "an unreadable struct page",
					    (unsigned long long)((pfn + t) * PG));
		if (spans_add(&f->blocks, pfn * PG, (pfn + cnt) * PG))
			return fail(f, "out of memory");
		f->out->buddy_pages += cnt;
		i += cnt;
	}
	return 0;
}

static int scan(struct fp *f)
{
	uint64_t pps = 1ull << (f->sec_bits - 12), nsec_all, per_root, nsec;
	uint64_t max_pfn, nroots = 0, base0 = 0, *roots = NULL;
	bool extreme, have_base = false;
	int rc = -1;

	nsec_all = 1ull << (f->phys_bits - f->sec_bits);
	per_root = PG / f->sz_mem_section;
	if (per_root > 1 &&
	    f->len_mem_section == (nsec_all + per_root - 1) / per_root)
		extreme = true;
	else if (f->len_mem_section == nsec_all)
		extreme = false;
	else
		return fail(f, "LENGTH(mem_section)=%llu fits neither "
			    "SPARSEMEM_EXTREME nor a flat array",
			    (unsigned long long)f->len_mem_section);
	if (!f->in->nram)
		return fail(f, "no RAM");
	max_pfn = (f->in->ram[f->in->nram - 1].end + PG - 1) / PG;
	nsec = (max_pfn + pps - 1) / pps;
	if (nsec > nsec_all)
		return fail(f, "RAM beyond MAX_PHYSMEM_BITS");
	if (extreme) {
		nroots = (nsec + per_root - 1) / per_root;
		roots = malloc(nroots * sizeof(*roots));
		if (!roots)
			return fail(f, "out of memory");
		if (av_read_virt(f, f->mem_section, roots, nroots * sizeof(*roots))) {
			fail(f, "cannot read A's mem_section roots at 0x%llx",
			     (unsigned long long)f->mem_section);
			goto out;
		}
	}
	f->sp = malloc(pps * f->sz_page + PG);
	f->bad = malloc(pps * f->sz_page / PG + 2);
	f->ok = malloc(pps * sizeof(*f->ok));
	if (!f->sp || !f->bad || !f->ok) {
		fail(f, "out of memory");
		goto out;
	}
	for (uint64_t s = 0; s < nsec; s++) {
		uint64_t va, smm, first = s * pps, n;

		if (extreme) {
			if (!roots[s / per_root])
				continue;
			va = roots[s / per_root] + (s % per_root) * f->sz_mem_section;
		} else {
			va = f->mem_section + s * f->sz_mem_section;
		}
		if (av_read_virt(f, va + f->off_smm, &smm, sizeof(smm))) {
			fail(f, "cannot read A's mem_section %llu at 0x%llx",
			     (unsigned long long)s, (unsigned long long)va);
			goto out;
		}
		if ((smm & (SECTION_PRESENT | SECTION_MEM_MAP)) !=
		    (SECTION_PRESENT | SECTION_MEM_MAP))
			continue;
		smm &= ~SECTION_FLAGS;
		if (!have_base) {
			base0 = smm;
			have_base = true;
			if (f->have_vmemmap && base0 != f->vmemmap) {
				fail(f, "section %llu's mem_map 0x%llx is not "
				     "SYMBOL(vmemmap) 0x%llx",
				     (unsigned long long)s,
				     (unsigned long long)base0,
				     (unsigned long long)f->vmemmap);
				goto out;
			}
			if (!(base0 >> 63)) {
				fail(f, "mem_map base 0x%llx is not a kernel "
				     "address", (unsigned long long)base0);
				goto out;
			}
		} else if (smm != base0) {
			fail(f, "sections have different mem_map bases (0x%llx, "
			     "0x%llx): not SPARSEMEM_VMEMMAP",
			     (unsigned long long)base0, (unsigned long long)smm);
			goto out;
		}
		n = max_pfn - first < pps ? max_pfn - first : pps;
		if (scan_section(f, base0, first, n))
			goto out;
	}
	if (!have_base) {
		fail(f, "no present memory section");
		goto out;
	}
	rc = 0;
out:
	free(roots);
	return rc;
}

/* ---- cross-checks ---- */

/* Sum of the zones' NR_FREE_PAGES (non-NUMA: contig_page_data). */
static int check_nr_free(struct fp *f)
{
	uint64_t pgdat, zones, nrz_off, zsz, vmstat, item;
	int32_t nr_zones;
	int64_t sum = 0, slack;

	if (!vi_get(f, "SYMBOL(contig_page_data)", 16, &pgdat) ||
	    !vi_get(f, "OFFSET(pglist_data.node_zones)", 10, &zones) ||
	    !vi_get(f, "OFFSET(pglist_data.nr_zones)", 10, &nrz_off) ||
	    !vi_get(f, "SIZE(zone)", 10, &zsz) ||
	    !vi_get(f, "OFFSET(zone.vm_stat)", 10, &vmstat) ||
	    !vi_get(f, "NUMBER(NR_FREE_PAGES)", 10, &item))
		return 0;		/* NUMA: not checked */
	if (av_read_virt(f, pgdat + nrz_off, &nr_zones, sizeof(nr_zones)))
		return fail(f, "cannot read A's contig_page_data");
	if (nr_zones < 1 || nr_zones > 8 || item > 64)
		return fail(f, "A's contig_page_data.nr_zones is %d", nr_zones);
	for (int32_t z = 0; z < nr_zones; z++) {
		int64_t v;

		if (av_read_virt(f, pgdat + zones + (uint64_t)z * zsz + vmstat +
				 item * 8, &v, sizeof(v)))
			return fail(f, "cannot read A's zone %d counters", z);
		sum += v;
	}
	f->out->have_nr_free = true;
	f->out->nr_free = sum;
	/* per-CPU counter deltas not yet folded in: a few pages per CPU */
	slack = 2048 + (sum > 0 ? sum / 64 : 0);
	if ((int64_t)f->out->buddy_pages > sum + slack)
		return fail(f, "%llu pages look free, but A's zones count only "
			    "%lld", (unsigned long long)f->out->buddy_pages,
			    (long long)sum);
	return 0;
}

/* page_poison=1: free pages hold 0xaa and A checks that on allocation. */
static int check_poison(struct fp *f)
{
	static uint8_t buf[PG];
	size_t step = f->blocks.n / POISON_SAMPLES + 1, tried = 0;

	for (size_t i = 0; i < f->blocks.n && tried < POISON_SAMPLES; i += step) {
		uint64_t a = f->blocks.v[i].start;
		size_t k;

		if (in_span(f->in->bram, f->in->nbram, a) || pair_of(f, a) ||
		    av_read(f, a, buf, sizeof(buf)))
			continue;
		tried++;
		for (k = 0; k < sizeof(buf) && buf[k] == PAGE_POISON; k++)
			;
		if (k == sizeof(buf))
			return fail(f, "A's free page 0x%llx holds the page "
				    "poisoning pattern (page_poison=1?): zeros "
				    "would look like corruption to A",
				    (unsigned long long)a);
	}
	return 0;
}

/* out->free = blocks - B's RAM - kexec pages (all page-aligned). */
static int result(struct fp *f)
{
	struct spans out = { 0 }, minus = { 0 }, bram = { 0 };
	uint64_t nout = 0;

	for (size_t i = 0; i < f->in->nbram; i++)
		if (spans_add(&bram, f->in->bram[i].start & PG_MASK,
			      (f->in->bram[i].end + PG - 1) & PG_MASK) ||
		    spans_add(&minus, f->in->bram[i].start & PG_MASK,
			      (f->in->bram[i].end + PG - 1) & PG_MASK))
			goto oom;
	spans_norm(&bram);
	for (size_t i = 0; i < f->kpages.n; i++)
		if (spans_add(&minus, f->kpages.v[i].start, f->kpages.v[i].end))
			goto oom;
	spans_norm(&minus);
	spans_norm(&f->blocks);
	for (size_t i = 0; i < f->blocks.n; i++)
		if (spans_add(&out, f->blocks.v[i].start, f->blocks.v[i].end))
			goto oom;
	if (spans_sub(&out, &minus))
		goto oom;
	/* free pages neither reported nor in B's RAM are kexec's */
	for (size_t i = 0; i < out.n; i++)
		nout += (out.v[i].end - out.v[i].start) / PG;
	for (size_t i = 0; i < f->blocks.n; i++)
		nout += spans_overlap(&bram, f->blocks.v[i].start,
				      f->blocks.v[i].end) / PG;
	f->out->kexec_pages = f->out->buddy_pages - nout;
	free(minus.v);
	free(bram.v);
	f->out->free = out.v;
	f->out->nfree = out.n;
	return 0;
oom:
	free(out.v);
	free(minus.v);
	free(bram.v);
	return fail(f, "out of memory");
}

int fp_find(const struct fp_input *in, struct fp_result *out)
{
	struct fp f = { .in = in, .out = out };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!in->vmcoreinfo || !in->vmcoreinfo_len) {
		fail(&f, "no VMCOREINFO");
		return -1;
	}
	if (read_vmcoreinfo(&f) || kexec_list(&f) || check_kernel_map(&f) ||
	    scan(&f) || check_nr_free(&f) || check_poison(&f) || result(&f))
		goto done;
	out->pairs = f.pairs;
	out->npairs = f.npairs;
	f.pairs = NULL;
	rc = 0;
done:
	if (rc) {
		free(out->free);
		out->free = NULL;
		out->nfree = 0;
	}
	free(f.vi);
	free(f.pairs);
	free(f.kpages.v);
	free(f.blocks.v);
	free(f.sp);
	free(f.bad);
	free(f.ok);
	return rc;
}

void fp_result_free(struct fp_result *r)
{
	free(r->free);
	r->free = NULL;
	r->nfree = 0;
	free(r->pairs);
	r->pairs = NULL;
	r->npairs = 0;
}
