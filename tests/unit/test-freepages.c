// SPDX-License-Identifier: MIT
/*
 * Free-page filtering (tools/freepages.c, docs/FORMAT.md section 9) on a
 * synthetic kernel A: 32 MiB of physical memory with A's page tables
 * (4 or 5 levels), SPARSEMEM_EXTREME mem_section, a vmemmap of struct
 * pages (6.12 layout: 64 bytes, PGTY_buddy << 24; 6.1 layout: 56 bytes,
 * ~PG_buddy), zone counters, and a kexec jump: A's kernel image and one
 * vmemmap page table lie in B's RAM and A's content of B's RAM sits in
 * kexec's source pages, found through the swap list in A's control page.
 * Then kjsave end to end on the same memory: free pages read back as
 * zeros, everything else as it was.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "elfimg/elfimg.h"
#include "tools/freepages.h"

#ifndef KJ_TOOLS_DIR
#define KJ_TOOLS_DIR "build/tools"
#endif

#define PG		4096ull
#define MEM		0x2000000ull		/* 32 MiB of physical memory */
#define RAM_START	0x100000ull		/* A's RAM: [1 MiB, 32 MiB) */
#define B_START		0x1000000ull		/* B's RAM: 1 MiB at 16 MiB */
#define B_END		0x1100000ull
#define KTEXT		0xffffffff81000000ull	/* _stext, at physical B_START */
#define TOP_PGT		0x1002000ull		/* init_top_pgt (in B's RAM) */
#define PGDAT		0x1004000ull		/* contig_page_data (B's RAM) */
#define PT_POOL_B	0x1010000ull		/* page tables in B's RAM */
#define SRC_B		0x1a00000ull		/* sources of B's RAM pages */
#define SRC_HDR		0x1b00000ull		/* sources of the "elfcorehdr" */
#define HDR		0x1ff0000ull		/* a destination outside B's RAM */
#define CTRL		0x1c00000ull		/* A's kexec control page */
#define ENTRY		(CTRL + 0xf2)
#define IND1		0x1c01000ull
#define IND2		0x1c02000ull
#define PT_POOL_A	0x1d00000ull		/* other page tables */
#define ROOTS		0x1e00000ull		/* mem_section roots */
#define SECTIONS	0x1e01000ull
#define STRUCT_PAGES	0x1800000ull
#define NPFN		(MEM / PG)
#define SEC_BITS	22			/* 4 MiB sections */
#define PHYS_BITS	34

struct world {
	uint8_t *a;		/* A's view of memory */
	uint8_t *p;		/* physical memory while B runs */
	bool l5, v61, vm2m;	/* 5-level; 6.1 struct page; 2 MiB vmemmap */
	uint64_t szp, page_offset, vmemmap, root, pool_a, pool_b;
	uint64_t last_table;	/* of the last map() */
	uint32_t buddy;
	char vi[4096];
	size_t vilen;
	bool bad_read;		/* fp_find() asked for B's RAM */
	int64_t zone_free[2];
};

static struct world w;

struct blk { uint64_t pfn, order; };
/* A's free blocks: the first five are dropped; 0x1080 is in B's RAM,
 * 0x1a05 a kexec source page, 0x1ff3 a kexec destination */
static const struct blk blocks[] = {
	{ 0x400, 9 }, { 0xc00, 10 }, { 0x1301, 0 }, { 0x1308, 3 },
	{ 0x1f00, 2 }, { 0x1080, 4 }, { 0x1a05, 0 }, { 0x1ff3, 0 },
};
static const struct span want_free[] = {
	{ 0x400000, 0x600000 }, { 0xc00000, 0x1000000 },
	{ 0x1301000, 0x1302000 }, { 0x1308000, 0x1310000 },
	{ 0x1f00000, 0x1f04000 },
};
#define WANT_PAGES 1549
#define BUDDY_PAGES 1567

static uint8_t pattern(uint64_t pa)
{
	return (uint8_t)((pa * 0x9E3779B97F4A7C15ull) >> 56) | 1;
}

static uint64_t *slot(uint8_t *m, uint64_t pa)
{
	ASSERT(pa % 8 == 0 && pa < MEM);
	return (uint64_t *)(m + pa);
}

static uint64_t alloc_pt(bool in_b)
{
	uint64_t *pool = in_b ? &w.pool_b : &w.pool_a, pa = *pool;

	*pool += PG;
	memset(w.a + pa, 0, PG);
	return pa;
}

/* Map @va to @pa with a page of @size (4 KiB, 2 MiB, 1 GiB). */
static void map(uint64_t va, uint64_t pa, uint64_t size, bool tables_in_b)
{
	uint64_t table = w.root;

	for (unsigned shift = w.l5 ? 48 : 39;; shift -= 9) {
		uint64_t *e = slot(w.a, table + ((va >> shift) & 511) * 8);

		if (1ull << shift == size) {
			*e = pa | 0x63 | (shift > 12 ? 0x80 : 0);
			w.last_table = table;
			return;
		}
		if (!(*e & 1))
			*e = alloc_pt(tables_in_b) | 0x63;
		table = *e & 0x000ffffffffff000ull;
	}
}

static uint8_t *spage(uint64_t pfn)
{
	return w.a + STRUCT_PAGES + pfn * w.szp;
}

static void set_page(uint64_t pfn, uint32_t mapcount, uint64_t priv)
{
	memcpy(spage(pfn) + 48, &mapcount, 4);
	memcpy(spage(pfn) + 40, &priv, 8);
}

static void vi_add(const char *skip, const char *fmt, ...)
{
	char line[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (skip && !strncmp(line, skip, strlen(skip)))
		return;
	w.vilen += (size_t)snprintf(w.vi + w.vilen, sizeof(w.vi) - w.vilen,
				    "%s\n", line);
}

static void build_vmcoreinfo(const char *skip, uint64_t phys_base)
{
	w.vilen = 0;
	vi_add(skip, "OSRELEASE=%s", w.v61 ? "6.1.0-kj" : "6.12.0-kj");
	vi_add(skip, "PAGESIZE=4096");
	vi_add(skip, "SYMBOL(_stext)=%llx", KTEXT);
	if (!w.v61)
		vi_add(skip, "SYMBOL(vmemmap)=%llx", (unsigned long long)w.vmemmap);
	vi_add(skip, "SYMBOL(mem_section)=%llx",
	       (unsigned long long)(w.page_offset + ROOTS));
	vi_add(skip, "LENGTH(mem_section)=%d", 1 << (PHYS_BITS - SEC_BITS - 8));
	vi_add(skip, "SIZE(mem_section)=16");
	vi_add(skip, "OFFSET(mem_section.section_mem_map)=0");
	vi_add(skip, "NUMBER(SECTION_SIZE_BITS)=%d", SEC_BITS);
	vi_add(skip, "NUMBER(MAX_PHYSMEM_BITS)=%d", PHYS_BITS);
	vi_add(skip, "SIZE(page)=%llu", (unsigned long long)w.szp);
	vi_add(skip, "SIZE(zone)=1216");
	vi_add(skip, "OFFSET(page.flags)=0");
	vi_add(skip, "OFFSET(page._mapcount)=48");
	vi_add(skip, "OFFSET(page.private)=40");
	vi_add(skip, "SYMBOL(contig_page_data)=%llx",
	       KTEXT + (PGDAT - B_START));
	vi_add(skip, "OFFSET(pglist_data.node_zones)=0");
	vi_add(skip, "OFFSET(pglist_data.nr_zones)=3712");
	vi_add(skip, "OFFSET(zone.vm_stat)=1088");
	vi_add(skip, "LENGTH(zone.free_area)=11");
	vi_add(skip, "NUMBER(NR_FREE_PAGES)=0");
	vi_add(skip, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=%d", (int32_t)w.buddy);
	vi_add(skip, "NUMBER(phys_base)=%llu", (unsigned long long)phys_base);
	vi_add(skip, "SYMBOL(init_top_pgt)=%llx", KTEXT + (TOP_PGT - B_START));
	vi_add(skip, "NUMBER(pgtable_l5_enabled)=%d", w.l5);
	vi_add(skip, "KERNELOFFSET=0");
	vi_add(skip, "NUMBER(KERNEL_IMAGE_SIZE)=536870912");
	vi_add(skip, "NUMBER(sme_mask)=0");
}

/*
 * Build A's memory, then the kexec jump: every destination page swaps
 * with its source page (relocate_kernel()'s swap_pages), B overwrites its
 * RAM. @kexec false: a plain core, memory is A's as it was.
 */
static void build(bool l5, bool v61, bool vm2m, bool kexec)
{
	uint64_t e[300], n = 0;

	if (!w.a) {
		w.a = malloc(MEM);
		w.p = malloc(MEM);
		ASSERT(w.a && w.p);
	}
	w.l5 = l5;
	w.v61 = v61;
	w.vm2m = vm2m;
	w.szp = v61 ? 56 : 64;
	w.buddy = v61 ? 0xffffff7fu : 0xf0000000u;
	w.page_offset = l5 ? 0xff11000000000000ull : 0xffff888000000000ull;
	w.vmemmap = l5 ? 0xffd4000000000000ull : 0xffffea0000000000ull;
	w.root = TOP_PGT;
	w.pool_a = PT_POOL_A;
	w.pool_b = PT_POOL_B;
	w.bad_read = false;
	for (uint64_t pa = 0; pa < MEM; pa++)
		w.a[pa] = pattern(pa);
	memset(w.a + TOP_PGT, 0, PG);

	/* page tables: kernel text (tables in B's RAM, like the kernel's
	 * own), direct map (1 GiB page), vmemmap (4 KiB pages, the PTE
	 * table in B's RAM; or one 2 MiB page) */
	map(KTEXT, B_START, 1 << 21, true);
	map(w.page_offset, 0, 1 << 30, false);
	for (uint64_t off = 0; off < NPFN * w.szp; off += PG) {
		if (vm2m) {
			map(w.vmemmap, STRUCT_PAGES, 1 << 21, false);
			break;
		}
		map(w.vmemmap + off, STRUCT_PAGES + off, PG, off == 0);
	}
	ASSERT(vm2m || (w.last_table >= B_START && w.last_table < B_END));

	/* mem_section: SPARSEMEM_EXTREME, one root, 8 present sections */
	memset(w.a + ROOTS, 0, 2 * PG);
	*slot(w.a, ROOTS) = w.page_offset + SECTIONS;
	for (uint64_t s = 0; s < MEM >> SEC_BITS; s++)
		*slot(w.a, SECTIONS + s * 16) = w.vmemmap | 0xf;

	/* struct pages: all in use but the free blocks */
	for (uint64_t pfn = 0; pfn < NPFN; pfn++) {
		memset(spage(pfn), 0, w.szp);
		set_page(pfn, 0xffffffffu, 0);
	}
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		set_page(blocks[i].pfn, w.buddy, blocks[i].order);

	/* zones: contig_page_data.nr_zones = 2, NR_FREE_PAGES of each */
	memset(w.a + PGDAT, 0, PG);
	*(int32_t *)(void *)(w.a + PGDAT + 3712) = 2;
	w.zone_free[0] = 1000;
	w.zone_free[1] = BUDDY_PAGES - 1000;
	*(int64_t *)(void *)(w.a + PGDAT + 1088) = w.zone_free[0];
	*(int64_t *)(void *)(w.a + PGDAT + 1216 + 1088) = w.zone_free[1];

	/* kexec: control page data (relocate_kernel()'s DATA(0..0x30)) */
	*slot(w.a, CTRL + 0x800) = 0xffffc90000123f00ull;	/* RSP */
	*slot(w.a, CTRL + 0x808) = 0x80050033;			/* CR0 */
	*slot(w.a, CTRL + 0x810) = 0x1d00000;			/* CR3 */
	*slot(w.a, CTRL + 0x818) = 0x3006a0 | (l5 ? 0x1000 : 0); /* CR4 */
	*slot(w.a, CTRL + 0x820) = 0x1c04000;			/* table */
	*slot(w.a, CTRL + 0x828) = 0x1c05000;			/* swap */
	*slot(w.a, CTRL + 0x830) = IND1 | 2;			/* head */
	e[n++] = B_START | 1;
	for (uint64_t i = 0; i < (B_END - B_START) / PG; i++)
		e[n++] = (SRC_B + i * PG) | 8;
	e[n++] = HDR | 1;
	for (uint64_t i = 0; i < (MEM - HDR) / PG; i++)
		e[n++] = (SRC_HDR + i * PG) | 8;
	e[n++] = 4;
	ASSERT(n < 100 + 511);
	/* the list: 100 entries in IND1, a link, the rest in IND2 */
	for (uint64_t i = 0; i < n; i++) {
		if (i < 100)
			*slot(w.a, IND1 + i * 8) = e[i];
		else
			*slot(w.a, IND2 + (i - 100) * 8) = e[i];
	}
	*slot(w.a, IND1 + 100 * 8) = IND2 | 2;

	build_vmcoreinfo(NULL, 0);

	memcpy(w.p, w.a, MEM);
	if (!kexec)
		return;
	/* segment data in the sources, then swap_pages() */
	for (uint64_t i = 0, dest = 0; i < n; i++) {
		if (e[i] & 1)
			dest = e[i] & ~0xfffull;
		if (!(e[i] & 8))
			continue;
		memset(w.a + (e[i] & ~0xfffull), 0xb5, PG);
		memcpy(w.p + (e[i] & ~0xfffull), w.a + dest, PG);
		memset(w.p + dest, 0xb5, PG);
		dest += PG;
	}
	/* B ran in its RAM */
	for (uint64_t pa = B_START; pa < B_END; pa++)
		w.p[pa] = (uint8_t)(pa >> 3);
}

static int phys_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
	(void)ctx;
	if (pa < B_END && pa + len > B_START)
		w.bad_read = true;
	if (pa >= MEM || len > MEM - pa)
		return -1;
	memcpy(buf, w.p + pa, len);
	return 0;
}

static const struct span ram[] = { { RAM_START, MEM } };
static const struct span bram[] = { { B_START, B_END } };

static int find(struct fp_result *r, bool kexec, uint32_t flags)
{
	struct fp_input in = {
		.vmcoreinfo = w.vi, .vmcoreinfo_len = w.vilen,
		.have_entry = kexec, .entry = ENTRY, .resume_flags = flags,
		.ram = ram, .nram = 1,
		.bram = kexec ? bram : NULL, .nbram = kexec ? 1 : 0,
		.phys_read = phys_read,
	};
	int rc = fp_find(&in, r);

	ASSERT(!kexec || !w.bad_read);
	return rc;
}

static void check_found(const struct fp_result *r)
{
	ASSERT_EQ(r->nfree, sizeof(want_free) / sizeof(want_free[0]));
	for (size_t i = 0; i < r->nfree; i++) {
		ASSERT_EQ(r->free[i].start, want_free[i].start);
		ASSERT_EQ(r->free[i].end, want_free[i].end);
	}
	ASSERT_EQ(r->buddy_pages, BUDDY_PAGES);
	ASSERT_EQ(r->kexec_pages, 2);
	ASSERT(r->have_nr_free);
	ASSERT_EQ(r->nr_free, BUDDY_PAGES);
	ASSERT_EQ(r->swap_pairs, (B_END - B_START + MEM - HDR) / PG);
}

TEST(fp_612_la57_4k_vmemmap)
{
	struct fp_result r;

	build(true, false, false, true);
	if (find(&r, true, 7))
		TEST_FAIL("%s", r.why);
	check_found(&r);
	ASSERT_EQ(r.levels, 5);
	fp_result_free(&r);
}

TEST(fp_61_4level_2m_vmemmap)
{
	struct fp_result r;

	build(false, true, true, true);
	if (find(&r, true, 2))
		TEST_FAIL("%s", r.why);
	check_found(&r);
	ASSERT_EQ(r.levels, 4);
	fp_result_free(&r);
}

TEST(fp_612_4level_61_la57)
{
	struct fp_result r;

	build(false, false, true, true);
	if (find(&r, true, 2))
		TEST_FAIL("%s", r.why);
	check_found(&r);
	fp_result_free(&r);
	build(true, true, false, true);
	if (find(&r, true, 3))
		TEST_FAIL("%s", r.why);
	check_found(&r);
	fp_result_free(&r);
}

/* No kexec jump (a plain core): memory is A's in place, no B's RAM. */
TEST(fp_plain_core)
{
	struct fp_result r;

	build(true, false, false, false);
	if (find(&r, false, 0))
		TEST_FAIL("%s", r.why);
	/* nothing excluded: B's RAM and kexec pages are not known */
	ASSERT_EQ(r.buddy_pages, BUDDY_PAGES);
	ASSERT_EQ(r.kexec_pages, 0);
	ASSERT_EQ(r.nfree, 8);
	fp_result_free(&r);
	/* the same memory after a kexec jump, but no swap list: B's RAM
	 * holds B's bytes, so A's kernel image is unreadable */
	build(true, false, false, true);
	ASSERT(find(&r, false, 0) != 0);
}

static void expect_fail(bool kexec, uint32_t flags, const char *why)
{
	struct fp_result r;

	if (!find(&r, kexec, flags)) {
		fp_result_free(&r);
		TEST_FAIL("fp_find() succeeded, want \"%s\"", why);
	}
	if (!strstr(r.why, why))
		TEST_FAIL("reason \"%s\", want \"%s\"", r.why, why);
	ASSERT_EQ(r.nfree, 0);
}

TEST(fp_vmcoreinfo_refusals)
{
	static const char *const need[] = {
		"PAGESIZE", "SIZE(page)", "OFFSET(page._mapcount)",
		"OFFSET(page.private)", "LENGTH(zone.free_area)",
		"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "SYMBOL(mem_section)",
		"LENGTH(mem_section)", "SIZE(mem_section)",
		"OFFSET(mem_section.section_mem_map)",
		"NUMBER(SECTION_SIZE_BITS)", "NUMBER(MAX_PHYSMEM_BITS)",
		"SYMBOL(init_top_pgt)", "NUMBER(phys_base)",
		"NUMBER(pgtable_l5_enabled)",
	};
	char key[64];

	build(true, false, false, true);
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		snprintf(key, sizeof(key), "%s=", need[i]);
		build_vmcoreinfo(key, 0);
		snprintf(key, sizeof(key), "VMCOREINFO has no %s", need[i]);
		expect_fail(true, 7, key);
	}
	/* wrong phys_base: init_top_pgt is elsewhere */
	build_vmcoreinfo(NULL, 0x200000);
	expect_fail(true, 7, "init_top_pgt");
	/* the resume note disagrees on the paging levels */
	build_vmcoreinfo(NULL, 0);
	expect_fail(true, 6, "5-level paging, the resume note says 4-level");
	/* LENGTH(mem_section) that fits no layout */
	w.vilen = 0;
	build_vmcoreinfo("LENGTH(mem_section)=", 0);
	vi_add(NULL, "LENGTH(mem_section)=17");
	expect_fail(true, 7, "LENGTH(mem_section)=17");
	/* a mapcount for a buddy value */
	build_vmcoreinfo("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=", 0);
	vi_add(NULL, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=3");
	expect_fail(true, 7, "not a page type");
}

TEST(fp_kexec_list_refusals)
{
	build(true, false, false, true);
	/* head is not an indirection entry */
	*slot(w.p, CTRL + 0x830) = IND1 | 1;
	expect_fail(true, 7, "does not hold what relocate_kernel() saves");
	/* CR4 without LA57 for a 5-level A */
	build(true, false, false, true);
	*slot(w.p, CTRL + 0x818) = 0x3006a0;
	expect_fail(true, 7, "does not hold what relocate_kernel() saves");
	/* a malformed entry */
	build(true, false, false, true);
	*slot(w.p, IND1 + 5 * 8) |= 0x10;
	expect_fail(true, 7, "malformed entry");
	/* a source page in B's RAM */
	build(true, false, false, true);
	*slot(w.p, IND1 + 5 * 8) = (B_START + 0x3000) | 8;
	expect_fail(true, 7, "is not A's RAM outside the destinations");
	/* a source twice */
	build(true, false, false, true);
	*slot(w.p, IND1 + 5 * 8) = *slot(w.p, IND1 + 6 * 8);
	expect_fail(true, 7, "a source twice");
	/* no end */
	build(true, false, false, true);
	for (uint64_t i = 0; i < 512; i++)
		*slot(w.p, IND2 + i * 8) = (SRC_HDR + PG * i) | 8;
	expect_fail(true, 7, "without a link");
	/* the entry is not in a control page */
	build(true, false, false, true);
	{
		struct fp_input in = {
			.vmcoreinfo = w.vi, .vmcoreinfo_len = w.vilen,
			.have_entry = true, .entry = CTRL + 0x900,
			.resume_flags = 7, .ram = ram, .nram = 1,
			.bram = bram, .nbram = 1, .phys_read = phys_read,
		};
		struct fp_result r;

		ASSERT(fp_find(&in, &r) != 0);
		ASSERT(strstr(r.why, "not in a kexec control page"));
		/* B's RAM but no jump-back entry */
		in.have_entry = false;
		ASSERT(fp_find(&in, &r) != 0);
		ASSERT(strstr(r.why, "no LINUXKJUMP note"));
	}
}

/* Change A's struct page of @pfn after the kexec swap (in place). */
static void poke_page(uint64_t pfn, uint32_t mapcount, uint64_t priv)
{
	uint8_t *sp = w.p + STRUCT_PAGES + pfn * w.szp;

	memcpy(sp + 48, &mapcount, 4);
	memcpy(sp + 40, &priv, 8);
}

TEST(fp_struct_page_refusals)
{
	build(true, false, false, true);
	poke_page(0x1301, w.buddy, 11);
	expect_fail(true, 7, "has order 11");
	build(true, false, false, true);
	poke_page(0x1303, w.buddy, 1);
	expect_fail(true, 7, "not aligned");
	build(true, false, false, true);
	poke_page(0x410, w.buddy, 0);
	expect_fail(true, 7, "holds another free block");
	/* a free block below A's RAM */
	build(true, false, false, true);
	poke_page(0x80, w.buddy, 7);
	expect_fail(true, 7, "is not all RAM");
	/* an unreadable struct page: its vmemmap page is not mapped (the PTE
	 * table is in B's RAM: poke A's copy, in the first source page
	 * after the kernel's own tables) */
	build(true, false, false, true);
	{
		uint64_t src = SRC_B + (w.last_table - B_START);
		uint64_t *e = slot(w.p, src + 8 * 100);	/* pfn 0x1900.. */

		ASSERT(*e & 1);
		*e = 0;
	}
	expect_fail(true, 7, "cannot read the struct page of A's pfn 0x1900");
	/* a mem_map that is not vmemmap */
	build(true, false, false, true);
	*slot(w.p, SECTIONS) += 0x40000;
	expect_fail(true, 7, "SYMBOL(vmemmap)");
	build(true, true, false, true);
	*slot(w.p, SECTIONS + 3 * 16) += 0x40000;
	expect_fail(true, 7, "not SPARSEMEM_VMEMMAP");
}

TEST(fp_cross_check_refusals)
{
	/* A's zones count fewer free pages than the struct pages say */
	build(true, false, false, true);
	*(int64_t *)(void *)(w.p + SRC_B + (PGDAT - B_START) + 1088) = -2000;
	expect_fail(true, 7, "A's zones count only");
	/* page_poison=1 */
	build(true, false, false, true);
	memset(w.p + 0x400000, 0xaa, PG);
	expect_fail(true, 7, "page poisoning");
}

/* ---- kjsave end to end ---- */

static const char *dir;

#define CORE_DATA 0x10000ull

/* the in-place note (LINUXKJUMP type 2) in the next write_core() */
static bool core_inplace;
#define ENTRY_INPLACE	(CTRL + 0x1a0)

static void write_core(const char *path, bool with_vmcoreinfo, uint32_t flags)
{
	struct elfimg_ehdr e = { .e_type = ELFIMG_ET_CORE,
				 .e_machine = ELFIMG_EM_X86_64,
				 .e_version = 1, .e_phoff = 64, .e_ehsize = 64,
				 .e_phentsize = 56, .e_phnum = 2 };
	struct elfimg_phdr ph[2] = { 0 };
	struct elfimg_resume_note rn = { .version = 1, .flags = flags,
					 .entry = ENTRY };
	static uint8_t notes[8192];
	uint8_t *p = notes;
	struct elfimg_nhdr nh;
	FILE *f = fopen(path, "wb");

	ASSERT(f);
	memcpy(e.e_ident, "\177ELF\2\1\1", 7);
	strcpy(rn.release, "6.12.0-kj");
	nh = (struct elfimg_nhdr){ 11, sizeof(rn), 1 };
	memcpy(p, &nh, 12);
	memcpy(p + 12, "LINUXKJUMP", 11);
	memcpy(p + 24, &rn, sizeof(rn));
	p += 24 + sizeof(rn);
	if (core_inplace) {
		struct elfimg_inplace_note ip = { .version = 1, .entry = ENTRY_INPLACE,
						  .swap_list = IND1 | 2 };

		nh = (struct elfimg_nhdr){ 11, sizeof(ip), 2 };
		memcpy(p, &nh, 12);
		memcpy(p + 12, "LINUXKJUMP", 11);
		memcpy(p + 24, &ip, sizeof(ip));
		p += 24 + sizeof(ip);
	}
	if (with_vmcoreinfo) {
		nh = (struct elfimg_nhdr){ 11, (uint32_t)w.vilen, 0 };
		memcpy(p, &nh, 12);
		memcpy(p + 12, "VMCOREINFO", 11);
		memcpy(p + 24, w.vi, w.vilen);
		p += 24 + ((w.vilen + 3) & ~3u);
	}
	ph[0] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_NOTE,
				      .p_offset = 64 + 2 * 56,
				      .p_filesz = (uint64_t)(p - notes) };
	ph[1] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_LOAD, .p_flags = 7,
				      .p_paddr = RAM_START,
				      .p_vaddr = w.page_offset + RAM_START,
				      .p_offset = CORE_DATA,
				      .p_filesz = MEM - RAM_START,
				      .p_memsz = MEM - RAM_START };
	ASSERT(fwrite(&e, sizeof(e), 1, f) == 1);
	ASSERT(fwrite(ph, sizeof(ph), 1, f) == 1);
	ASSERT(fwrite(notes, (size_t)(p - notes), 1, f) == 1);
	ASSERT(ftell(f) <= (long)CORE_DATA);
	ASSERT(fseek(f, (long)CORE_DATA, SEEK_SET) == 0);
	ASSERT(fwrite(w.p + RAM_START, MEM - RAM_START, 1, f) == 1);
	ASSERT(fclose(f) == 0);
}

static bool want_zero(uint64_t pa)
{
	for (size_t i = 0; i < sizeof(want_free) / sizeof(want_free[0]); i++)
		if (pa >= want_free[i].start && pa < want_free[i].end)
			return true;
	return false;
}

/* The image holds A's RAM outside B's, free pages as zeros if @dropped. */
/* Verify @img and put the memory it restores, [RAM_START, MEM), in @buf. */
static void extract_ram(const char *img, uint8_t *buf)
{
	char out[300];
	FILE *f;

	ASSERT_EQ(test_sh("%s/kjimage -q verify %s >/dev/null", KJ_TOOLS_DIR, img), 0);
	snprintf(out, sizeof(out), "%s/extract.bin", dir);
	ASSERT_EQ(test_sh("%s/kjimage -q extract %s 0x%llx 0x%llx %s 2>/dev/null", KJ_TOOLS_DIR,
		      img, RAM_START, MEM - RAM_START, out), 0);
	f = fopen(out, "rb");
	ASSERT(f);
	ASSERT(fread(buf, 1, MEM - RAM_START, f) == MEM - RAM_START);
	fclose(f);
}

static void check_image(const char *img, bool dropped)
{
	static uint8_t buf[MEM];

	extract_ram(img, buf);
	for (uint64_t pa = RAM_START; pa < MEM; pa += PG) {
		const uint8_t *got = buf + (pa - RAM_START);
		static const uint8_t zero[PG];

		if (pa >= B_START && pa < B_END) {
			if (memcmp(got, zero, PG))
				TEST_FAIL("B's RAM 0x%llx is in the image",
					  (unsigned long long)pa);
		} else if (dropped && want_zero(pa)) {
			if (memcmp(got, zero, PG))
				TEST_FAIL("free page 0x%llx was saved",
					  (unsigned long long)pa);
		} else if (memcmp(got, w.p + pa, PG)) {
			TEST_FAIL("page 0x%llx differs", (unsigned long long)pa);
		}
	}
}

/* The image holds A's memory as A's return path leaves it: every kexec
 * destination with A's own content, the sources and free pages zero. */
static void check_unswapped(const char *img)
{
	static uint8_t buf[MEM];

	extract_ram(img, buf);
	for (uint64_t pa = RAM_START; pa < MEM; pa += PG) {
		const uint8_t *got = buf + (pa - RAM_START);
		static const uint8_t zero[PG];
		bool dest = (pa >= B_START && pa < B_END) || pa >= HDR;
		bool src = (pa >= SRC_B && pa < SRC_B + (B_END - B_START)) ||
			   (pa >= SRC_HDR && pa < SRC_HDR + (MEM - HDR));

		if (dest ? memcmp(got, w.a + pa, PG) :
		    src || want_zero(pa) ? memcmp(got, zero, PG) :
		    memcmp(got, w.p + pa, PG))
			TEST_FAIL("page 0x%llx (%s) differs", (unsigned long long)pa,
				  dest ? "kexec destination" : src ? "kexec source" : "other");
	}
}

TEST(fp_kjsave_end_to_end)
{
	char core[300], img[300], io[300], mm[300], log[300];

	dir = test_tmpdir();
	ASSERT(dir);
	snprintf(core, sizeof(core), "%s/vmcore", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(io, sizeof(io), "%s/iomem", dir);
	snprintf(mm, sizeof(mm), "%s/memmap", dir);
	snprintf(log, sizeof(log), "%s/log.txt", dir);
	build(true, false, false, true);
	write_core(core, true, 7);
	ASSERT_EQ(test_sh("printf '00000000-000fffff : Reserved\\n%08llx-%08llx : "
		      "System RAM\\n' > %s", B_START, B_END - 1, io), 0);
	ASSERT_EQ(test_sh("mkdir -p %s/0 %s/1 && echo 0x0 > %s/0/start && "
		      "echo 0xfffff > %s/0/end && echo Reserved > %s/0/type && "
		      "echo 0x%llx > %s/1/start && echo 0x%llx > %s/1/end && "
		      "echo 'System RAM' > %s/1/type", mm, mm, mm, mm, mm,
		      RAM_START, mm, MEM - 1, mm, mm), 0);

	/* default: free pages dropped */
	ASSERT_EQ(test_sh("%s/kjsave -l 1 -i %s -m %s --iomem %s --mem none %s "
		      "2>%s", KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT_EQ(test_sh("grep -q '^kjsave: dropped %d free pages (6 MiB) of "
		      "A.s buddy allocator$' %s", WANT_PAGES, log), 0);
	ASSERT_EQ(test_sh("grep -q '%d free pages (its zones count %d); not "
		      "dropped: 2 of A.s kexec image, 16 in B.s RAM' %s",
		      BUDDY_PAGES, BUDDY_PAGES, log), 0);
	check_image(img, true);

	/* A says its free pages need no content: they are left out */
	write_core(core, true, 7 | ELFIMG_RESUME_FREE_ANY);
	ASSERT_EQ(test_sh("%s/kjsave -i %s -m %s --iomem %s --mem none %s 2>%s",
		      KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT_EQ(test_sh("grep -q '^kjsave: left out %d of the dropped pages (6 MiB, %zu "
		      "ranges): A.s free pages need no particular content$' %s",
		      WANT_PAGES, sizeof(want_free) / sizeof(want_free[0]), log), 0);
	ASSERT_EQ(test_sh("%s/kjimage info %s | grep -q '^resume-flags .* free-any'",
		      KJ_TOOLS_DIR, img), 0);
	/* segments: [RAM_START, B_START) and [B_END, MEM) minus the five
	 * free ranges, the second of which ends at B_START: 2 + 5 - 1 */
	ASSERT_EQ(test_sh("grep -q 'MiB of memory in 6 segments' %s", log), 0);
	check_image(img, true);
	/* --zero-free: dropped, but as zero pages */
	ASSERT_EQ(test_sh("%s/kjsave --zero-free -i %s -m %s --iomem %s --mem none "
		      "%s 2>%s", KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT(test_sh("grep -q 'left out' %s", log) != 0);
	ASSERT_EQ(test_sh("grep -q 'MiB of memory in 2 segments' %s", log), 0);
	check_image(img, true);
	write_core(core, true, 7);

	/* --keep-free: everything saved */
	ASSERT_EQ(test_sh("%s/kjsave --keep-free -i %s -m %s --iomem %s --mem none "
		      "%s 2>%s", KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT(test_sh("grep -q 'dropped .* free pages' %s", log) != 0);
	check_image(img, false);

	/* any doubt: a reason, nothing dropped, the image still made */
	build_vmcoreinfo("SIZE(page)=", 0);
	write_core(core, true, 7);
	ASSERT_EQ(test_sh("%s/kjsave -i %s -m %s --iomem %s --mem none %s 2>%s",
		      KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT_EQ(test_sh("grep -q 'free pages kept (none dropped): VMCOREINFO "
		      "has no SIZE(page)' %s", log), 0);
	check_image(img, false);

	/* A's kernel has the entry without the swap: kjsave undoes A's swap */
	build(true, false, false, true);
	core_inplace = true;
	write_core(core, true, 7);
	ASSERT_EQ(test_sh("%s/kjsave -l 1 -i %s -m %s --iomem %s --mem none %s "
		      "2>%s", KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT_EQ(test_sh("grep -q \"^kjsave: A's kexec swap undone: %llu pages\" %s",
		      (B_END - B_START + MEM - HDR) / PG, log), 0);
	/* their sources: holes, though A's free pages are saved as zeros */
	ASSERT_EQ(test_sh("grep -q \"^kjsave: left out %llu of the dropped pages .*: "
		      "A's kexec source pages need no particular content$\" %s",
		      (B_END - B_START + MEM - HDR) / PG, log), 0);
	ASSERT_EQ(test_sh("%s/kjimage info %s | grep -q '^resume-flags .* unswapped' && "
		      "%s/kjimage info %s | grep -q '^entry  *0x%llx$'", KJ_TOOLS_DIR, img,
		      KJ_TOOLS_DIR, img, ENTRY_INPLACE), 0);
	check_unswapped(img);
	/* --keep-swap: as before, A's pages stay swapped */
	ASSERT_EQ(test_sh("%s/kjsave --keep-swap -l 1 -i %s -m %s --iomem %s --mem none "
		      "%s 2>%s", KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT(test_sh("grep -q 'swap undone' %s", log) != 0);
	check_image(img, true);
	/* a note that disagrees with A's control page: the swap is kept */
	core_inplace = false;
	write_core(core, true, 7);
	ASSERT_EQ(test_sh("%s/kjsave -l 1 -i %s -m %s --iomem %s --mem none %s 2>%s",
		      KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT(test_sh("grep -q 'swap undone' %s", log) != 0);
	check_image(img, true);
	write_core(core, false, 7);
	ASSERT_EQ(test_sh("%s/kjsave -i %s -m %s --iomem %s --mem none %s 2>%s",
		      KJ_TOOLS_DIR, core, mm, io, img, log), 0);
	ASSERT_EQ(test_sh("grep -q 'free pages kept: .* has no VMCOREINFO' %s",
		      log), 0);
	check_image(img, false);
}
