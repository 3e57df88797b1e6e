// SPDX-License-Identifier: MIT
/*
 * Host tests for relocate/: the planner's invariants on random layouts,
 * executed by the real reloc_copy (stub.S) on an mmap'd arena whose
 * virtual addresses stand in for physical ones, compared page by page
 * with a brute-force model. KJ_SEED=<n> reproduces one failing case.
 */
#include <sys/mman.h>
#include "relocate/plan.h"
#include "tests/unit/test.h"

#define PG 4096ULL
#define ARENA ((uint64_t)0x200000000000ULL) /* above ASan's shadow, >4 GiB */
#define MAXP 2048

static uint8_t *arena;

static void arena_init(void)
{
	if (arena)
		return;
	void *p = mmap((void *)ARENA, MAXP * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)ARENA) {
		fprintf(stderr, "cannot map arena\n");
		exit(1);
	}
	arena = p;
}

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

/* Translate va through identity tables; returns ~0 if unmapped. */
static uint64_t walk(uint64_t root, uint64_t va, bool la57)
{
	uint64_t t = root;
	for (int l = la57 ? 4 : 3; l >= 0; l--) {
		uint64_t e = ((uint64_t *)t)[(va >> (12 + 9 * l)) & 511];
		if (!(e & 1))
			return ~0ULL;
		if (e & 0x80)
			return (e & 0x000fffffffffe000ULL & ~((1ULL << (12 + 9 * l)) - 1)) |
			       (va & ((1ULL << (12 + 9 * l)) - 1));
		t = e & 0x000ffffffffff000ULL;
	}
	return ~0ULL;
}

static int run_case(uint64_t seed, bool verbose)
{
	rng = seed * 2654435761ULL + 0x1234567;
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
		.entry = 0x1000fb, .la57 = rndn(2), .gb_pages = rndn(2),
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
	 * only to free memory, staged pieces only to scratch. */
	memset(hit, 0, n);
	for (size_t i = 0; i < plan.nload; i++) {
		for (uint64_t k = 0; k < load[i].npages; k++) {
			uint64_t d = (load[i].dst - ARENA) / PG + k, b = (load[i].buf - ARENA) / PG + k;
			if (d >= n || b >= n || !isdest[d] || zero[d] || hit[d]++)
				return 5;
			if (b == d ? type[d] != T_FREE : !scr[b])
				return 6;
			fill_at(b, d, 0x1111);
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
			for (uint64_t k = 0; k < len; k++) {
				uint64_t d = (dst - ARENA) / PG + k;
				if (d >= n || !isdest[d] || hit[d]++)
					return 10;
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
	    k->gdt[2] != 0x00af9a000000ffffULL || k->final_base != k->gdtr_base)
		return 15;
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
	printf("ok %u random layouts executed, %u correctly refused (scratch too small)\n",
	       ok, nospace);
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
	struct reloc_plan_in in = { &d, 1, m2, 2, &s, 1, 0, 0, false, false, 0, 0, 0 };
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
	struct reloc_plan_in in = { &d, 1, &m, 1, &s, 1, 0, 0, false, false, 0, 0, 0 };
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_E_SCRATCH_IS_DEST);
	s.start = 0x4000; s.end = 0x5000;
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_E_DEST_UNUSABLE);
	d.end = 0x3001;
	ASSERT_EQ(reloc_plan(&in, &p), RELOC_E_INVAL);
	ASSERT(reloc_strerror(RELOC_E_NOSPACE)[0]);
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
