// SPDX-License-Identifier: MIT
/*
 * Host tests for relocate/: the planner's invariants on random layouts,
 * executed by the real reloc_copy and reloc_csum_list (stub.S) on an
 * mmap'd arena whose virtual addresses stand in for physical ones,
 * compared page by page with a brute-force model. KJ_SEED=<n> reproduces
 * one failing case.
 *
 * Two arenas: one above 4 GiB (ARENA_HI, above ASan's shadow) and one
 * below (ARENA_LO, in ASan's low application range), used when 5-level
 * paging is involved and the planner must put its control pages below
 * 4 GiB. Layouts that straddle 4 GiB cannot be mapped under ASan; those
 * are planned through virt_offset (planner and page-table checks only).
 */
#include <sys/mman.h>
#include "relocate/plan.h"
#include "tests/unit/test.h"

#define PG 4096ULL
#define ARENA_HI ((uint64_t)0x200000000000ULL) /* > 4 GiB */
#define ARENA_LO ((uint64_t)0x40000000ULL)     /* 1 GiB */
#define G4 0x100000000ULL
#define MAXP 2048

static uint8_t *arena_hi, *arena_lo;
static uint8_t *arena;   /* the one the current case uses */
static uint64_t ARENA;   /* its address */

static uint8_t *map_at(uint64_t at)
{
	void *p = mmap((void *)at, MAXP * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)at) {
		fprintf(stderr, "cannot map arena at 0x%llx\n", (unsigned long long)at);
		exit(1);
	}
	return p;
}

static void use_arena(bool low)
{
	if (!arena_hi) {
		arena_hi = map_at(ARENA_HI);
		arena_lo = map_at(ARENA_LO);
	}
	arena = low ? arena_lo : arena_hi;
	ARENA = low ? ARENA_LO : ARENA_HI;
}
static void arena_init(void) { use_arena(false); }

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
	return rng;
}
static uint64_t rndn(uint64_t n) { return rnd() % n; }

static void fill(uint64_t page, uint64_t tag)
{
	uint64_t *w = (uint64_t *)(arena + page * PG);
	uint64_t v = (page + 1) * 0x9e3779b97f4a7c15ULL ^ tag;
	for (unsigned i = 0; i < PG / 8; i++)
		w[i] = v + i;
}
static bool check(uint64_t page, uint64_t tag, int zero)
{
	uint64_t *w = (uint64_t *)(arena + page * PG);
	uint64_t v = (page + 1) * 0x9e3779b97f4a7c15ULL ^ tag;
	for (unsigned i = 0; i < PG / 8; i++)
		if (w[i] != (zero ? 0 : v + i))
			return false;
	return true;
}
/* image content of destination page p (written to a staging page) */
static void fill_at(uint64_t at, uint64_t p, uint64_t tag)
{
	uint64_t *w = (uint64_t *)(arena + at * PG);
	uint64_t v = (p + 1) * 0x9e3779b97f4a7c15ULL ^ tag;
	for (unsigned i = 0; i < PG / 8; i++)
		w[i] = v + i;
}

enum { T_FREE, T_BOOT, T_RES, T_NONE };

/* Translate va through tables whose physical address p is at pointer
 * p + off; returns ~0 if unmapped. */
static uint64_t walk_off(uint64_t root, uint64_t va, bool la57, int64_t off)
{
	uint64_t t = root;
	for (int l = la57 ? 4 : 3; l >= 0; l--) {
		uint64_t e = ((uint64_t *)(uintptr_t)(t + (uint64_t)off))[(va >> (12 + 9 * l)) & 511];
		if (!(e & 1))
			return ~0ULL;
		if (e & 0x80)
			return (e & 0x000fffffffffe000ULL & ~((1ULL << (12 + 9 * l)) - 1)) |
			       (va & ((1ULL << (12 + 9 * l)) - 1));
		t = e & 0x000ffffffffff000ULL;
	}
	return ~0ULL;
}
static uint64_t walk(uint64_t root, uint64_t va, bool la57)
{
	return walk_off(root, va, la57, 0);
}

/* n-th page (0-based) of a sorted range list; ~0 if there are fewer. */
static uint64_t nth_page(const struct reloc_range *r, size_t nr, uint64_t n)
{
	for (size_t i = 0; i < nr; i++) {
		uint64_t k = (r[i].end - r[i].start) / PG;
		if (n < k)
			return r[i].start + n * PG;
		n -= k;
	}
	return ~0ULL;
}

static int run_case(uint64_t seed, bool verbose)
{
	rng = seed * 2654435761ULL + 0x1234567;
	bool la57 = rndn(2), fw_la57 = rndn(4) == 0, csum = rndn(2);
	use_arena(la57 || fw_la57);
	unsigned n = rndn(8) == 0 ? 512 + rndn(MAXP - 512) : 8 + rndn(248);
	static uint8_t type[MAXP], isdest[MAXP], zero[MAXP], scr[MAXP], hit[MAXP];
	unsigned adv = rndn(4) == 0; /* adversarial: most memory busy */
	for (unsigned p = 0; p < n;) {
		unsigned len = 1 + rndn(16), t = rndn(10);
		t = t < (adv ? 2 : 5) ? T_FREE : t < 8 ? T_BOOT : t < 9 ? T_RES : T_NONE;
		for (unsigned k = 0; k < len && p < n; k++, p++)
			type[p] = t;
	}
	for (unsigned p = 0; p < n;) {
		unsigned len = 1 + rndn(24), d = rndn(3) != 0, z = rndn(6) == 0;
		for (unsigned k = 0; k < len && p < n; k++, p++) {
			isdest[p] = d && type[p] <= T_BOOT && (adv || type[p] != T_FREE || rndn(2));
			zero[p] = z;
			scr[p] = 0;
		}
	}
	unsigned scratch_bias = rndn(4);
	for (unsigned p = 0; p < n; p++)
		scr[p] = !isdest[p] && type[p] == T_FREE && rndn(4) <= scratch_bias;

	static struct reloc_dest dest[MAXP];
	static struct reloc_mem mem[MAXP];
	static struct reloc_range sc[MAXP];
	static struct reloc_load load[MAXP];
	size_t nd = 0, nm = 0, ns = 0;
	for (unsigned p = 0; p < n; p++) {
		uint64_t a = ARENA + p * PG;
		if (isdest[p]) {
			if (nd && dest[nd - 1].end == a && dest[nd - 1].zero == zero[p] && rndn(8))
				dest[nd - 1].end += PG;
			else
				dest[nd++] = (struct reloc_dest){ a, a + PG, zero[p] };
		}
		if (type[p] != T_NONE) {
			uint32_t t = type[p] == T_FREE ? RELOC_MEM_FREE : type[p] == T_BOOT ?
				     RELOC_MEM_BOOT : RELOC_MEM_RESERVED;
			if (nm && mem[nm - 1].end == a && mem[nm - 1].type == t)
				mem[nm - 1].end += PG;
			else
				mem[nm++] = (struct reloc_mem){ a, a + PG, t };
		}
		if (scr[p]) {
			if (ns && sc[ns - 1].end == a)
				sc[ns - 1].end += PG;
			else
				sc[ns++] = (struct reloc_range){ a, a + PG };
		}
	}
	for (unsigned p = 0; p < n; p++)
		fill(p, 0xbad);

	struct reloc_plan_in in = {
		.dest = dest, .ndest = nd, .mem = mem, .nmem = nm,
		.scratch = sc, .nscratch = ns, .stub_size = rndn(2) * 3000,
		.entry = 0x1000fb, .la57 = la57, .gb_pages = rndn(2),
		.fw_la57 = fw_la57, .csum = csum,
	};
	struct reloc_plan plan = { .load = load, .load_cap = MAXP };
	enum reloc_err err = reloc_plan(&in, &plan);
	uint64_t nscr = 0, staged = 0;
	for (unsigned p = 0; p < n; p++) {
		nscr += scr[p];
		staged += isdest[p] && !zero[p] && type[p] == T_BOOT;
	}
	if (verbose)
		fprintf(stderr, "seed %llu: n=%u nd=%zu nm=%zu ns=%zu err=%s missing=%llu\n",
			(unsigned long long)seed, n, nd, nm, ns, reloc_strerror(err),
			(unsigned long long)plan.missing_pages);
	if (err == RELOC_E_NOSPACE) {
		/* must be a true shortage: need > scratch */
		if (plan.missing_pages == 0 || plan.staged_pages != staged)
			return 1;
		if (staged + plan.ctl_pages != nscr + plan.missing_pages)
			return 2;
		return -1;
	}
	if (err)
		return 3;
	if (plan.staged_pages != staged)
		return 4;

	/* Loader: each load piece reads image pages into buf; direct pieces
	 * only to free memory, staged pieces only to scratch. It sums the
	 * checksum of what it read, at the destination addresses: all of it
	 * (csum: the stub checks every destination), or what was staged
	 * (the stub checks what it copies and zero-fills). */
	uint64_t expected = 0;
	memset(hit, 0, n);
	for (size_t i = 0; i < plan.nload; i++) {
		for (uint64_t k = 0; k < load[i].npages; k++) {
			uint64_t d = (load[i].dst - ARENA) / PG + k, b = (load[i].buf - ARENA) / PG + k;
			if (d >= n || b >= n || !isdest[d] || zero[d] || hit[d]++)
				return 5;
			if (b == d ? type[d] != T_FREE : !scr[b])
				return 6;
			fill_at(b, d, 0x1111);
			if (csum || b != d)
				expected += reloc_csum(ARENA + d * PG, arena + b * PG, PG);
		}
	}
	for (unsigned p = 0; p < n; p++)
		if (isdest[p] && !zero[p] && !hit[p])
			return 7;

	/* Control pages in scratch (I3); walk the list, brute-force model:
	 * a page read as source must never have been written (I2). */
	uint64_t ctlp[] = { plan.ctl, plan.pt_root, plan.list_head,
			    ((struct reloc_control *)plan.ctl)->stack_top & ~(PG - 1) };
	for (unsigned i = 0; i < 4; i++) {
		uint64_t p = (ctlp[i] - ARENA) / PG;
		if (p >= n || !scr[p])
			return 8;
	}
	if (in.stub_size && !scr[(plan.stub - ARENA) / PG])
		return 8;
	/* I5: ctl, stack, stub, root are the lowest scratch pages, in that
	 * order, and below 4 GiB when 5-level paging is involved. */
	{
		uint64_t want[4], k = 0, got[4] = { plan.ctl,
			((struct reloc_control *)plan.ctl)->stack_top & ~(PG - 1),
			plan.stub, plan.pt_root };
		for (unsigned i = 0; i < 4; i++)
			want[i] = i == 2 && !in.stub_size ? 0 : nth_page(sc, ns, k++);
		for (unsigned i = 0; i < 4; i++) {
			if (got[i] != want[i])
				return 16;
			if ((la57 || fw_la57) && got[i] >= G4)
				return 16;
		}
	}
	memset(hit, 0, n);
	{
		const uint64_t *e = (const uint64_t *)plan.list_head;
		uint64_t dst = 0, len = 1;
		for (;;) {
			uint64_t w = *e++, a = w & ~0xfffULL;
			if (w & RELOC_IND_DESTINATION) { dst = a; continue; }
			if (w & RELOC_IND_INDIRECTION) {
				if (!scr[(a - ARENA) / PG]) return 9;
				e = (const uint64_t *)a; continue;
			}
			if (w & RELOC_IND_DONE) break;
			if (w & RELOC_IND_LENGTH) { len = a >> 12; continue; }
			if ((w & RELOC_IND_KEEP) && !csum)
				return 17;
			for (uint64_t k = 0; k < len; k++) {
				uint64_t d = (dst - ARENA) / PG + k;
				if (d >= n || !isdest[d] || hit[d]++)
					return 10;
				/* KEEP only where the loader read in place */
				if ((w & RELOC_IND_KEEP) && (zero[d] || type[d] != T_FREE))
					return 17;
				if (w & RELOC_IND_SOURCE) {
					uint64_t s = (a - ARENA) / PG + k;
					if (s >= n || !scr[s] || isdest[s] || hit[s])
						return 11;
				}
			}
			dst += len * PG;
			len = 1;
		}
	}

	if (csum) /* I6: the list names every destination page */
		for (unsigned p = 0; p < n; p++)
			if (isdest[p] && !hit[p])
				return 18;

	reloc_copy(plan.list_head);

	for (unsigned p = 0; p < n; p++) {
		if (isdest[p]) {
			if (!check(p, 0x1111, zero[p]))
				return 12;
		} else if (!scr[p] && !check(p, 0xbad, 0)) {
			return 13; /* reserved / busy / unmapped page touched */
		}
	}
	/* Identity map covers every destination and scratch page. */
	for (unsigned p = 0; p < n; p++)
		if ((isdest[p] || scr[p]) &&
		    walk(plan.pt_root, ARENA + p * PG + 8, in.la57) != ARENA + p * PG + 8)
			return 14;
	struct reloc_control *k = (struct reloc_control *)plan.ctl;
	if (k->entry != 0x1000fb || *(uint64_t *)k->stack_top != 0 ||
	    k->gdt[1] != 0x00cf9a000000ffffULL || k->gdt[2] != 0x00af9a000000ffffULL ||
	    k->gdt[3] != 0x00cf92000000ffffULL || k->gdtr_base != plan.ctl + RELOC_CTL_OFF_GDT ||
	    k->final_base != k->gdtr_base || (k->flags & RELOC_CTL_LA57) != la57 ||
	    !!(k->flags & RELOC_CTL_LIST_ALL) != csum || (k->flags & RELOC_CTL_CSUM))
		return 15;

	/* Checksum: the stub's (asm) over the list equals what the loader
	 * summed while reading and the C function over the final memory of
	 * the pages it covers (csum: every destination; else those the stub
	 * wrote: staged and zero-filled); a one-byte change anywhere in them
	 * is caught. A page read in place is direct (type free, not zero). */
	static uint8_t covered[MAXP];
	for (unsigned p = 0; p < n; p++)
		covered[p] = isdest[p] && (csum || zero[p] || type[p] != T_FREE);
	uint64_t final = 0, got = reloc_csum_list(plan.list_head);
	for (unsigned p = 0; p < n; p++)
		if (covered[p])
			final += reloc_csum(ARENA + p * PG, arena + p * PG, PG);
	if (got != expected || final != expected)
		return 19;
	if (reloc_set_csum(&plan, 0, expected) != RELOC_OK || k->csum != expected ||
	    !(k->flags & RELOC_CTL_CSUM))
		return 19;
	unsigned ndp = 0;
	for (unsigned p = 0; p < n; p++)
		ndp += covered[p];
	if (ndp) {
		unsigned pick = rndn(ndp), p = 0;
		for (;; p++)
			if (covered[p] && pick-- == 0)
				break;
		uint8_t *b = arena + p * PG + rndn(PG), old = *b;
		*b ^= 1 + rndn(255);
		got = reloc_csum_list(plan.list_head);
		*b = old;
		if (got == expected)
			return 20;
	}
	return 0;
}

TEST(property_random_layouts)
{
	arena_init();
	const char *s = getenv("KJ_SEED");
	if (s) {
		uint64_t seed = strtoull(s, 0, 0);
		int r = run_case(seed, true);
		if (r > 0)
			TEST_FAIL("KJ_SEED=%llu fails with check %d", (unsigned long long)seed, r);
		return;
	}
	unsigned ok = 0, nospace = 0;
	for (uint64_t seed = 1; seed <= 8000; seed++) {
		int r = run_case(seed, false);
		if (r > 0)
			TEST_FAIL("KJ_SEED=%llu fails with check %d", (unsigned long long)seed, r);
		if (r < 0)
			nospace++;
		else
			ok++;
	}
	printf("ok %u random layouts executed (copy, checksum), %u correctly refused "
	       "(scratch too small)\n", ok, nospace);
	ASSERT(ok > 1000 && nospace > 100);
}

TEST(nospace_reports_missing)
{
	arena_init();
	struct reloc_dest d = { ARENA, ARENA + 64 * PG, 0 };
	struct reloc_mem m = { ARENA, ARENA + 128 * PG, RELOC_MEM_BOOT };
	struct reloc_range s = { ARENA + 64 * PG, ARENA + 74 * PG };
	struct reloc_mem m2[2] = { { ARENA, ARENA + 64 * PG, RELOC_MEM_BOOT },
				   { ARENA + 64 * PG, ARENA + 128 * PG, RELOC_MEM_FREE } };
	struct reloc_load l[8];
	struct reloc_plan_in in = { .dest = &d, .ndest = 1, .mem = m2, .nmem = 2,
				    .scratch = &s, .nscratch = 1 };
	struct reloc_plan p = { .load = l, .load_cap = 8 };
	(void)m;
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_E_NOSPACE);
	/* 64 staged + ctl, stack, 3 pt (pml4, pdpt, pd), 1 list = 70 > 10 */
	ASSERT_EQ(p.missing_pages, 70 - 10);
	s.end = ARENA + 64 * PG + 70 * PG;
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_OK);
}

TEST(reject_bad_input)
{
	struct reloc_dest d = { 0x1000, 0x3000, 0 };
	struct reloc_mem m = { 0x0, 0x10000, RELOC_MEM_RESERVED };
	struct reloc_range s = { 0x2000, 0x4000 };
	struct reloc_load l[8];
	struct reloc_plan p = { .load = l, .load_cap = 8 };
	struct reloc_plan_in in = { .dest = &d, .ndest = 1, .mem = &m, .nmem = 1,
				    .scratch = &s, .nscratch = 1 };
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_E_SCRATCH_IS_DEST);
	s.start = 0x4000; s.end = 0x5000;
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_E_DEST_UNUSABLE);
	d.end = 0x3001;
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_E_INVAL);
	ASSERT(reloc_strerror(RELOC_E_NOSPACE)[0]);
	ASSERT(reloc_strerror(RELOC_E_NOLOWMEM)[0] != 'u');
}

TEST(stub_is_small_and_pic)
{
	ASSERT((uintptr_t)reloc_stub_end > (uintptr_t)reloc_stub_start);
	ASSERT((uintptr_t)reloc_stub_end - (uintptr_t)reloc_stub_start < 4096);
}

TEST(idmap_builder_high_memory)
{
	arena_init();
	/* map a pool-backed table set for ranges up to 2^47 - 1 and check */
	struct reloc_range a[3] = { { 0, 0x200000 }, { 0x100000000ULL, 0x140000000ULL },
				    { 0x7ffff0000000ULL, 0x7ffff0200000ULL } };
	struct reloc_range b[1] = { { ARENA, ARENA + 16 * PG } };
	for (int v = 0; v < 4; v++) {
		bool la57 = v & 1, gb = v & 2;
		uint64_t need = reloc_idmap_pages(a, 3, b, 1, la57, gb);
		ASSERT(need <= 64);
		memset(arena, 0, 64 * PG);
		uint64_t root = reloc_idmap_build(a, 3, b, 1, la57, gb, ARENA, need, 0);
		ASSERT_EQ(root, ARENA);
		ASSERT_EQ(reloc_idmap_build(a, 3, b, 1, la57, gb, ARENA, need - 1, 0), 0);
		memset(arena, 0, 64 * PG);
		root = reloc_idmap_build(a, 3, b, 1, la57, gb, ARENA, need, 0);
		for (int i = 0; i < 3; i++) {
			ASSERT_EQ(walk(root, a[i].start + 8, la57), a[i].start + 8);
			ASSERT_EQ(walk(root, a[i].end - 8, la57), a[i].end - 8);
		}
		ASSERT_EQ(walk(root, ARENA + 5 * PG, la57), ARENA + 5 * PG);
		ASSERT_EQ(walk(root, 0x200000000000ULL - 0x100000000000ULL, la57), ~0ULL);
	}
}

/*
 * I5 across the 4 GiB line: physical window [4 GiB - 64 pages, 4 GiB +
 * 192 pages) planned through virt_offset onto the high arena, with k
 * scratch pages just below 4 GiB and more above. Whenever 5-level paging
 * is involved the stub, ctl, stack and root must land below 4 GiB (or the
 * plan fails with RELOC_E_NOLOWMEM exactly when they cannot), and the
 * tables must identity-map everything the stub and A touch.
 */
TEST(la57_control_pages_below_4g)
{
	arena_init();
	const uint64_t W0 = G4 - 64 * PG, NW = 256;
	const int64_t off = (int64_t)(ARENA - W0);
	struct reloc_dest d[3] = {
		{ W0, W0 + 8 * PG, 0 },                    /* low, staged */
		{ G4 + 16 * PG, G4 + 48 * PG, 0 },         /* high, staged */
		{ G4 + 48 * PG, G4 + 56 * PG, 0 },         /* high, direct */
	};
	struct reloc_mem m[4] = {
		{ W0, W0 + 8 * PG, RELOC_MEM_BOOT },
		{ W0 + 8 * PG, G4 + 16 * PG, RELOC_MEM_FREE },
		{ G4 + 16 * PG, G4 + 48 * PG, RELOC_MEM_BOOT },
		{ G4 + 48 * PG, W0 + NW * PG, RELOC_MEM_FREE },
	};
	struct reloc_load l[16];
	unsigned planned = 0, refused = 0;
	for (unsigned k = 0; k <= 6; k++)
	for (unsigned mode = 0; mode < 16; mode++) {
		bool la57 = mode & 1, fw = mode & 2, gb = mode & 4, stub = mode & 8;
		struct reloc_range s[2];
		size_t ns = 0;
		if (k)
			s[ns++] = (struct reloc_range){ G4 - k * PG, G4 };
		s[ns++] = (struct reloc_range){ G4 + 100 * PG, W0 + NW * PG };
		struct reloc_plan_in in = {
			.dest = d, .ndest = 3, .mem = m, .nmem = 4, .scratch = s,
			.nscratch = ns, .stub_size = stub ? 3000 : 0, .entry = W0 + 0xfb,
			.la57 = la57, .gb_pages = gb, .virt_offset = off, .fw_la57 = fw,
			.csum = true,
		};
		struct reloc_plan p = { .load = l, .load_cap = 16 };
		memset(arena, 0, NW * PG);
		enum reloc_err err = reloc_plan(&in, &p);
		unsigned need = stub ? 4 : 3;
		if ((la57 || fw) && k < need) {
			ASSERT_EQ(err, RELOC_E_NOLOWMEM);
			refused++;
			continue;
		}
		ASSERT_EQ(err, RELOC_OK);
		planned++;
		struct reloc_control *c = (struct reloc_control *)(uintptr_t)(p.ctl + (uint64_t)off);
		uint64_t stack = c->stack_top & ~(PG - 1);
		if (la57 || fw) {
			ASSERT(p.ctl < G4 && stack < G4 && p.pt_root < G4);
			ASSERT(c->gdtr_base + c->gdtr_limit < G4);
			if (stub)
				ASSERT(p.stub < G4);
		}
		ASSERT_EQ(c->flags & RELOC_CTL_LA57, la57);
		ASSERT_EQ(c->gdt[1], 0x00cf9a000000ffffULL);  /* 0x08 code32 */
		ASSERT_EQ(c->gdt[2], 0x00af9a000000ffffULL);  /* 0x10 code64 */
		ASSERT_EQ(c->gdt[3], 0x00cf92000000ffffULL);  /* 0x18 data */
		ASSERT_EQ(c->gdtr_limit, 31);
		/* Identity map (A's depth) of what the 32-bit part and the
		 * 64-bit part after the switch touch, and of all the rest. */
		uint64_t must[] = { p.ctl, stack, c->stack_top, p.list_head, p.pt_root,
				    stub ? p.stub : p.ctl, stub ? p.stub + PG - 8 : p.ctl,
				    in.entry };
		for (unsigned i = 0; i < sizeof(must) / sizeof(must[0]); i++)
			ASSERT_EQ(walk_off(p.pt_root, must[i], la57, off), must[i]);
		for (unsigned i = 0; i < 3; i++)
			for (uint64_t a = d[i].start; a < d[i].end; a += PG)
				ASSERT_EQ(walk_off(p.pt_root, a + 16, la57, off), a + 16);
		for (size_t i = 0; i < ns; i++)
			for (uint64_t a = s[i].start; a < s[i].end; a += PG)
				ASSERT_EQ(walk_off(p.pt_root, a + 16, la57, off), a + 16);
		/* 5-level: the walk above used 5 levels; a 4-level walk of the
		 * same root must not find them (the root really is a PML5). */
		if (la57)
			ASSERT(walk_off(p.pt_root, G4 + 16 * PG, false, off) != G4 + 16 * PG);
	}
	printf("ok %u straddling plans checked, %u correctly refused (RELOC_E_NOLOWMEM)\n",
	       planned, refused);
	ASSERT(planned > 50 && refused > 10);
}

/* The checksum's definition, pinned: B or the loader may compute it
 * elsewhere, so it must not drift. Also KEEP/ZERO/SOURCE/INDIRECTION
 * semantics of reloc_copy and reloc_csum_list on a hand-made list. */
TEST(csum_definition_and_list_kinds)
{
	arena_init();
	uint64_t *q = (uint64_t *)arena;
	for (unsigned i = 0; i < 512; i++)
		q[i] = 1;
	/* sum over i < 512 of (0x1000 + 8 i + 1) */
	ASSERT_EQ(reloc_csum(0x1000, q, PG), 512 * 0x1001ULL + 8ULL * 511 * 512 / 2);
	ASSERT_EQ(reloc_csum(0, q, 8), 1);
	q[0] = 0xffffffffffffffffULL;
	ASSERT_EQ(reloc_csum(8, q, 8), (uint64_t)-9);
	memset(arena, 0, 4 * PG);
	ASSERT_EQ(reloc_csum(0x123458, arena, 4 * PG), 0);
	/* unaligned buffer: same value */
	for (unsigned i = 0; i < PG; i++)
		arena[PG + i] = (uint8_t)(i * 7 + 3);
	memmove(arena + 2 * PG + 3, arena + PG, PG);
	ASSERT_EQ(reloc_csum(0x5000, arena + PG, PG), reloc_csum(0x5000, arena + 2 * PG + 3, PG));
	/* additive over pieces, whatever the split (odd offsets, lengths) */
	for (unsigned cut = 0; cut <= 64; cut++)
		for (unsigned cut2 = cut; cut2 <= 64; cut2 += 7)
			ASSERT_EQ(reloc_csum(0x5000, arena + PG, PG),
				  reloc_csum(0x5000, arena + PG, cut) +
				  reloc_csum(0x5000 + cut, arena + PG + cut, cut2 - cut) +
				  reloc_csum(0x5000 + cut2, arena + PG + cut2, PG - cut2));
	/* a lone byte at x counts as its qword with that byte only */
	ASSERT_EQ(reloc_csum(0x1003, "\x7f", 1), (0x7fULL << 24) * 0x1001);

	/* Pages: 0-1 source, 2 keep (content k), 3 zero, 4 untouched,
	 * 10-11 destination of source, 12 keep, 13 zero target, list at
	 * 20, second list page at 21. */
	uint64_t A = ARENA;
	memset(arena, 0x5a, 32 * PG);
	rng = 99;
	for (unsigned i = 0; i < 2 * PG; i++)
		arena[i] = (uint8_t)rnd();
	uint64_t *l1 = (uint64_t *)(arena + 20 * PG), *l2 = (uint64_t *)(arena + 21 * PG);
	l1[0] = (A + 10 * PG) | RELOC_IND_DESTINATION;
	l1[1] = 2 << 12 | RELOC_IND_LENGTH;
	l1[2] = A | RELOC_IND_SOURCE;
	l1[3] = RELOC_IND_KEEP;                     /* page 12, LEN 1 */
	l1[4] = (A + 21 * PG) | RELOC_IND_INDIRECTION;
	l2[0] = RELOC_IND_ZERO;                     /* page 13 */
	l2[1] = 0x80;                               /* unknown: ignored */
	l2[2] = RELOC_IND_DONE;
	uint64_t before12 = reloc_csum(A + 12 * PG, arena + 12 * PG, PG);
	reloc_copy(A + 20 * PG);
	ASSERT(memcmp(arena + 10 * PG, arena, 2 * PG) == 0);
	for (unsigned i = 0; i < PG; i++) {
		ASSERT_EQ(arena[12 * PG + i], 0x5a);    /* KEEP: untouched */
		ASSERT_EQ(arena[13 * PG + i], 0);
		ASSERT_EQ(arena[14 * PG + i], 0x5a);
	}
	uint64_t want = reloc_csum(A + 10 * PG, arena, 2 * PG) + before12;
	ASSERT_EQ(reloc_csum_list(A + 20 * PG), want);
	arena[13 * PG + 77] = 1;                    /* garbage in a zero page */
	ASSERT(reloc_csum_list(A + 20 * PG) != want);
	arena[13 * PG + 77] = 0;
	arena[14 * PG] = 9;                         /* outside the list */
	ASSERT_EQ(reloc_csum_list(A + 20 * PG), want);
	/* swapping the two copied pages changes it (unless their plain
	 * qword sums agree mod 2^52: the documented limit) */
	uint8_t tmp[PG];
	memcpy(tmp, arena + 10 * PG, PG);
	memcpy(arena + 10 * PG, arena + 11 * PG, PG);
	memcpy(arena + 11 * PG, tmp, PG);
	ASSERT(reloc_csum_list(A + 20 * PG) != want);

	/* ZERO over pages already zero, zero but for their last or first
	 * byte, and full of garbage (the stub writes only the non-zero
	 * ones): all zero after, the page behind the run untouched */
	memset(arena + 24 * PG, 0, 4 * PG);
	arena[25 * PG + PG - 1] = 1;
	arena[26 * PG] = 0x80;
	memset(arena + 27 * PG, 0x5a, PG);
	l1[0] = (A + 24 * PG) | RELOC_IND_DESTINATION;
	l1[1] = 4 << 12 | RELOC_IND_LENGTH;
	l1[2] = RELOC_IND_ZERO;
	l1[3] = RELOC_IND_DONE;
	reloc_copy(A + 20 * PG);
	for (unsigned i = 0; i < 4 * PG; i++)
		ASSERT_EQ(arena[24 * PG + i], 0);
	ASSERT_EQ(arena[28 * PG], 0x5a);
	ASSERT_EQ(reloc_csum_list(A + 20 * PG), 0);
}

/* The control block layout is ABI with stub.S. */
TEST(control_block_layout)
{
	ASSERT_EQ(__builtin_offsetof(struct reloc_control, csum), RELOC_CTL_OFF_CSUM);
	ASSERT_EQ(__builtin_offsetof(struct reloc_control, csum_seen), RELOC_CTL_OFF_CSUMSEEN);
	ASSERT_EQ(RELOC_CTL_OFF_CSUM, 0x68);
	ASSERT_EQ(RELOC_CTL_OFF_CSUMSEEN, 0x70);
	ASSERT_EQ(sizeof(struct reloc_control), 0x78);
}
