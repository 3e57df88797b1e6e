// SPDX-License-Identifier: MIT
/*
 * relocate/plan.c - conflict-free relocation planner.
 *
 * Invariants of every plan this file produces (the property tests check
 * each one on random layouts):
 *  I1 A staging page is never a destination: staging comes only from the
 *     caller's scratch ranges, which are rejected if they meet a
 *     destination (RELOC_E_SCRATCH_IS_DEST).
 *  I2 No copy reads a page an earlier copy overwrote: copies read only
 *     staging pages and write only destinations, disjoint by I1.
 *  I3 Control pages (stub, control block/GDT, stack, list, page tables)
 *     are carved from scratch too, so they are in no destination.
 *  I4 Every destination byte is written exactly once or zero-filled: the
 *     destinations are disjoint and every piece of them is either read
 *     directly (free now), staged and copied once, or zeroed once.
 *  I5 The control block (with the GDT), stack, stub and page-table root
 *     are the lowest scratch pages, in that order. When 5-level paging is
 *     involved (in->la57 or in->fw_la57, so the stub may have to switch
 *     the paging mode from 32-bit code) all four lie below 4 GiB, or the
 *     plan fails with RELOC_E_NOLOWMEM.
 *  I6 With in->csum the list names every destination page exactly once
 *     (SOURCE, ZERO or KEEP), so reloc_csum_list() covers every
 *     destination byte; RELOC_CTL_LIST_ALL records it.
 * When scratch is too small the plan fails with RELOC_E_NOSPACE and
 * missing_pages says how much is lacking; no partial plan is used.
 *
 * Cost: O(ndest + nmem + nscratch) time, no memory of its own; the list is
 * run-length so its size is proportional to the number of pieces, not
 * pages.
 */
#include "relocate/plan.h"

#define PG RELOC_PAGE_SIZE

_Static_assert(__builtin_offsetof(struct reloc_control, head) == RELOC_CTL_OFF_HEAD, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, pt_root) == RELOC_CTL_OFF_PTROOT, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, entry) == RELOC_CTL_OFF_ENTRY, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, stack_top) == RELOC_CTL_OFF_STACK, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, flags) == RELOC_CTL_OFF_FLAGS, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, gdtr_limit) == RELOC_CTL_OFF_GDTR, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, final_limit) == RELOC_CTL_OFF_FINAL, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, gdt) == RELOC_CTL_OFF_GDT, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, csum) == RELOC_CTL_OFF_CSUM, "ctl");
_Static_assert(__builtin_offsetof(struct reloc_control, csum_seen) == RELOC_CTL_OFF_CSUMSEEN, "ctl");
_Static_assert(sizeof(struct reloc_control) <= PG, "ctl");

#define LOW_LIMIT 0x100000000ULL /* 32-bit code, 32-bit CR3 */

const char *reloc_strerror(enum reloc_err err)
{
	switch (err) {
	case RELOC_OK: return "ok";
	case RELOC_E_INVAL: return "unaligned, unsorted or overlapping ranges";
	case RELOC_E_DEST_UNUSABLE: return "destination in reserved or unmapped memory";
	case RELOC_E_SCRATCH_IS_DEST: return "scratch range overlaps a destination";
	case RELOC_E_NOSPACE: return "scratch space too small";
	case RELOC_E_TOOMANY: return "too many load pieces for the caller's array";
	case RELOC_E_NOLOWMEM: return "5-level paging switch needs the stub, control block, stack and page-table root below 4 GiB: too little scratch there";
	}
	return "unknown error";
}

static inline void *va(uint64_t pa, int64_t off)
{
	return (void *)(uintptr_t)(pa + (uint64_t)off);
}

static void zero_page(uint64_t pa, int64_t off)
{
	uint64_t *p = va(pa, off);
	for (unsigned i = 0; i < PG / 8; i++)
		p[i] = 0;
}

static bool ranges_ok(const void *base, size_t n, size_t stride)
{
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		const uint64_t *r = (const uint64_t *)((const char *)base + i * stride);
		if ((r[0] | r[1]) & (PG - 1) || r[0] >= r[1] || r[0] < prev)
			return false;
		prev = r[1];
	}
	return true;
}

/* Sorted merge of two range lists; calls fn for each range in order. */
struct merge { const struct reloc_range *a, *b; size_t na, nb, i, j; };
static const struct reloc_range *merge_next(struct merge *m)
{
	if (m->i < m->na && (m->j >= m->nb || m->a[m->i].start <= m->b[m->j].start))
		return &m->a[m->i++];
	if (m->j < m->nb)
		return &m->b[m->j++];
	return 0;
}

static unsigned leaf_level(bool gb) { return gb ? 2 : 1; } /* 1: 2M, 2: 1G */
static unsigned top_level(bool la57) { return la57 ? 5 : 4; }
static unsigned shift_of(unsigned level) { return 12 + 9 * level; }

uint64_t reloc_idmap_pages(const struct reloc_range *a, size_t na,
			   const struct reloc_range *b, size_t nb,
			   bool la57, bool gb_pages)
{
	/* A table at level L (covering 1 << shift_of(L)) exists for every
	 * distinct addr >> shift_of(L); sorted input makes them monotone. */
	struct merge m = { a, b, na, nb, 0, 0 };
	uint64_t last[6], count = 1;
	const struct reloc_range *r;
	for (unsigned l = 0; l < 6; l++)
		last[l] = ~0ULL;
	while ((r = merge_next(&m))) {
		for (unsigned l = leaf_level(gb_pages) + 1; l < top_level(la57); l++) {
			uint64_t s = r->start >> shift_of(l), e = (r->end - 1) >> shift_of(l);
			count += e - s + 1 - (s == last[l]);
			last[l] = e;
		}
	}
	return count;
}

uint64_t reloc_idmap_build(const struct reloc_range *a, size_t na,
			   const struct reloc_range *b, size_t nb,
			   bool la57, bool gb_pages, uint64_t pool,
			   uint64_t npool, int64_t off)
{
	struct merge m = { a, b, na, nb, 0, 0 };
	const struct reloc_range *r;
	uint64_t used = 1, root = pool;
	unsigned leaf = leaf_level(gb_pages), top = top_level(la57);
	zero_page(root, off);
	while ((r = merge_next(&m))) {
		uint64_t step = 1ULL << shift_of(leaf);
		for (uint64_t addr = r->start & ~(step - 1); addr < r->end; addr += step) {
			uint64_t *t = va(root, off);
			for (unsigned l = top - 1; l > leaf; l--) {
				uint64_t *e = &t[(addr >> shift_of(l)) & 511];
				if (!*e) {
					if (used >= npool)
						return 0;
					uint64_t pg = pool + used++ * PG;
					zero_page(pg, off);
					*e = pg | 0x3; /* P | RW */
				}
				t = va(*e & 0x000ffffffffff000ULL, off);
			}
			t[(addr >> shift_of(leaf)) & 511] = addr | 0x83; /* P|RW|PS */
		}
	}
	return root;
}

/* Staging/control allocator: a cursor over the scratch ranges. */
struct cursor { const struct reloc_range *r; size_t n, i; uint64_t pos; };

static uint64_t cur_avail(const struct cursor *c)
{
	uint64_t n = 0;
	for (size_t i = c->i; i < c->n; i++)
		n += (c->r[i].end - (i == c->i ? c->pos : c->r[i].start)) / PG;
	return n;
}

/* Take up to want contiguous pages; returns the count taken at *pa. */
static uint64_t cur_take(struct cursor *c, uint64_t want, uint64_t *pa)
{
	while (c->i < c->n && c->pos >= c->r[c->i].end)
		if (++c->i < c->n)
			c->pos = c->r[c->i].start;
	if (c->i >= c->n)
		return 0;
	uint64_t have = (c->r[c->i].end - c->pos) / PG;
	if (want > have)
		want = have;
	*pa = c->pos;
	c->pos += want * PG;
	return want;
}

struct list { uint64_t page, idx, npages_left; struct cursor *c; int64_t off; };

static void list_put(struct list *l, uint64_t word)
{
	uint64_t *p = va(l->page, l->off);
	if (l->idx == PG / 8 - 1) { /* last slot links to the next page */
		uint64_t next = 0;
		cur_take(l->c, 1, &next); /* reserved in advance */
		p[l->idx] = next | RELOC_IND_INDIRECTION;
		l->page = next;
		l->idx = 0;
		p = va(next, l->off);
	}
	p[l->idx++] = word;
}

/* Walk destinations against the memory map; fn per (piece, type). */
static enum reloc_err sweep(const struct reloc_plan_in *in,
			    void (*fn)(void *, uint64_t, uint64_t, uint32_t, uint32_t),
			    void *ctx)
{
	size_t j = 0;
	for (size_t i = 0; i < in->ndest; i++) {
		uint64_t s = in->dest[i].start, e = in->dest[i].end;
		while (s < e) {
			while (j < in->nmem && in->mem[j].end <= s)
				j++;
			if (j >= in->nmem || in->mem[j].start > s ||
			    in->mem[j].type == RELOC_MEM_RESERVED)
				return RELOC_E_DEST_UNUSABLE;
			uint64_t pe = in->mem[j].end < e ? in->mem[j].end : e;
			fn(ctx, s, pe, in->mem[j].type, in->dest[i].zero);
			s = pe;
		}
	}
	return RELOC_OK;
}

struct count { uint64_t staged, staged_pieces, zero, zero_pieces, direct, direct_pieces; };
static void count_fn(void *ctx, uint64_t s, uint64_t e, uint32_t type, uint32_t zero)
{
	struct count *c = ctx;
	uint64_t n = (e - s) / PG;
	if (zero) { c->zero += n; c->zero_pieces++; }
	else if (type == RELOC_MEM_FREE) { c->direct += n; c->direct_pieces++; }
	else { c->staged += n; c->staged_pieces++; }
}

struct emit { struct reloc_plan *out; struct cursor *stage; struct list *list; bool overflow, keep; };
static void add_load(struct emit *em, uint64_t dst, uint64_t buf, uint64_t n)
{
	struct reloc_plan *o = em->out;
	if (o->nload && o->load[o->nload - 1].dst + o->load[o->nload - 1].npages * PG == dst &&
	    o->load[o->nload - 1].buf + o->load[o->nload - 1].npages * PG == buf) {
		o->load[o->nload - 1].npages += n;
		return;
	}
	if (o->nload >= o->load_cap) {
		em->overflow = true;
		return;
	}
	o->load[o->nload++] = (struct reloc_load){ dst, buf, n };
}

static void emit_fn(void *ctx, uint64_t s, uint64_t e, uint32_t type, uint32_t zero)
{
	struct emit *em = ctx;
	uint64_t n = (e - s) / PG;
	if (zero) {
		list_put(em->list, s | RELOC_IND_DESTINATION);
		list_put(em->list, n << 12 | RELOC_IND_LENGTH);
		list_put(em->list, RELOC_IND_ZERO);
		return;
	}
	if (type == RELOC_MEM_FREE) {
		add_load(em, s, s, n);
		if (em->keep) { /* I6: named, for the checksum only */
			list_put(em->list, s | RELOC_IND_DESTINATION);
			list_put(em->list, n << 12 | RELOC_IND_LENGTH);
			list_put(em->list, RELOC_IND_KEEP);
		}
		return;
	}
	list_put(em->list, s | RELOC_IND_DESTINATION);
	while (n) {
		uint64_t pa = 0, k = cur_take(em->stage, n, &pa);
		add_load(em, s, pa, k);
		list_put(em->list, k << 12 | RELOC_IND_LENGTH);
		list_put(em->list, pa | RELOC_IND_SOURCE);
		s += k * PG;
		n -= k;
	}
}

/**
 * reloc_plan() - plan loading and relocating an image.
 * @in:  destinations, firmware memory map, scratch ranges, stub parameters.
 * @out: caller's load[] array (load_cap entries) in, the plan out.
 *
 * Writes the copy list, identity page tables and control block into
 * scratch pages (through in->virt_offset). The caller then reads each
 * out->load[] piece, copies reloc_stub_start..end to out->stub, exits boot
 * services and calls reloc_enter(out->ctl) at its copy.
 *
 * Return: RELOC_OK, or an error; RELOC_E_NOSPACE sets out->missing_pages.
 */
enum reloc_err reloc_plan(const struct reloc_plan_in *in, struct reloc_plan *out)
{
	struct count c = { 0 };
	enum reloc_err err;

	out->nload = 0;
	out->missing_pages = 0;
	if (!ranges_ok(in->dest, in->ndest, sizeof(*in->dest)) ||
	    !ranges_ok(in->mem, in->nmem, sizeof(*in->mem)) ||
	    !ranges_ok(in->scratch, in->nscratch, sizeof(*in->scratch)))
		return RELOC_E_INVAL;
	for (size_t i = 0, j = 0; i < in->nscratch; i++) { /* I1 */
		while (j < in->ndest && in->dest[j].end <= in->scratch[i].start)
			j++;
		if (j < in->ndest && in->dest[j].start < in->scratch[i].end)
			return RELOC_E_SCRATCH_IS_DEST;
	}
	err = sweep(in, count_fn, &c);
	if (err)
		return err;

	/* Upper bound of list words: 3 per zero piece, 1 + 2 per staged run
	 * (a staged piece splits at most once per scratch range), 3 per
	 * direct piece with csum, DONE. */
	uint64_t runs = c.staged_pieces + in->nscratch;
	uint64_t words = 3 * c.zero_pieces + c.staged_pieces + 2 * runs + 1 +
			 (in->csum ? 3 * c.direct_pieces : 0);
	uint64_t list_pages = (words + PG / 8 - 2) / (PG / 8 - 1);
	uint64_t stub_pages = (in->stub_size + PG - 1) / PG;
	uint64_t pt_pages;
	uint64_t dest_pt = 0;
	{
		/* Exact count over the merged dest+scratch set. */
		uint64_t last[6];
		for (unsigned l = 0; l < 6; l++)
			last[l] = ~0ULL;
		size_t i = 0, j = 0;
		dest_pt = 1;
		while (i < in->ndest || j < in->nscratch) {
			uint64_t s, e;
			if (i < in->ndest && (j >= in->nscratch || in->dest[i].start < in->scratch[j].start)) {
				s = in->dest[i].start; e = in->dest[i].end; i++;
			} else {
				s = in->scratch[j].start; e = in->scratch[j].end; j++;
			}
			for (unsigned l = leaf_level(in->gb_pages) + 1; l < top_level(in->la57); l++) {
				uint64_t a = s >> shift_of(l), b = (e - 1) >> shift_of(l);
				dest_pt += b - a + 1 - (a == last[l]);
				last[l] = b;
			}
		}
	}
	pt_pages = dest_pt;

	out->ctl_pages = 2 + stub_pages + pt_pages + list_pages;
	struct cursor cur = { in->scratch, in->nscratch, 0, in->nscratch ? in->scratch[0].start : 0 };
	uint64_t need = out->ctl_pages + c.staged, have = cur_avail(&cur);
	out->staged_pages = c.staged;
	out->direct_pages = c.direct;
	out->zero_pages = c.zero;
	if (stub_pages > 1)
		return RELOC_E_INVAL;
	if (need > have) {
		out->missing_pages = need - have;
		return RELOC_E_NOSPACE;
	}
	/* Control pages first, one page each so no scratch is wasted (I3);
	 * page-table and list pages are reserved here and handed out later
	 * from cursor snapshots that replay the same sequence. */
	uint64_t ctl = 0, stack = 0, stub = 0, list0 = 0, pt = 0;
	cur_take(&cur, 1, &ctl);
	cur_take(&cur, 1, &stack);
	if (stub_pages)
		cur_take(&cur, 1, &stub);
	struct cursor ptcur = cur;
	for (uint64_t k = 0; k < pt_pages; k++) {
		cur_take(&cur, 1, &pt);
		if (k == 0 && (in->la57 || in->fw_la57) && /* I5 */
		    (ctl >= LOW_LIMIT || stack >= LOW_LIMIT ||
		     stub >= LOW_LIMIT || pt >= LOW_LIMIT))
			return RELOC_E_NOLOWMEM;
	}
	cur_take(&cur, 1, &list0);
	struct cursor listcur = cur;
	for (uint64_t k = 1; k < list_pages; k++)
		cur_take(&cur, 1, &pt);
	/* cur_avail() counted all of this: staging now has c.staged pages. */

	struct list l = { list0, 0, 0, &listcur, in->virt_offset };
	zero_page(list0, in->virt_offset);
	struct emit em = { out, &cur, &l, false, in->csum };
	sweep(in, emit_fn, &em);
	list_put(&l, RELOC_IND_DONE);
	if (em.overflow)
		return RELOC_E_TOOMANY;

	/* Identity map: every destination and every scratch page. */
	struct reloc_range one;
	uint64_t root = 0;
	{
		/* build over dest (as ranges) + scratch */
		cur_take(&ptcur, 1, &root);
		zero_page(root, in->virt_offset);
		uint64_t used = 1;
		size_t i = 0, j = 0;
		unsigned leaf = leaf_level(in->gb_pages), top = top_level(in->la57);
		while (i < in->ndest || j < in->nscratch) {
			if (i < in->ndest && (j >= in->nscratch || in->dest[i].start < in->scratch[j].start)) {
				one.start = in->dest[i].start; one.end = in->dest[i].end; i++;
			} else {
				one = in->scratch[j++];
			}
			uint64_t step = 1ULL << shift_of(leaf);
			for (uint64_t addr = one.start & ~(step - 1); addr < one.end; addr += step) {
				uint64_t *t = va(root, in->virt_offset);
				for (unsigned lv = top - 1; lv > leaf; lv--) {
					uint64_t *e = &t[(addr >> shift_of(lv)) & 511];
					if (!*e) {
						if (used >= pt_pages)
							return RELOC_E_NOSPACE; /* cannot happen: counted */
						uint64_t pg = 0;
						cur_take(&ptcur, 1, &pg);
						used++;
						zero_page(pg, in->virt_offset);
						*e = pg | 0x3;
					}
					t = va(*e & 0x000ffffffffff000ULL, in->virt_offset);
				}
				t[(addr >> shift_of(leaf)) & 511] = addr | 0x83;
			}
		}
	}

	struct reloc_control *k = va(ctl, in->virt_offset);
	zero_page(ctl, in->virt_offset);
	zero_page(stack, in->virt_offset);
	k->head = list0;
	k->pt_root = root;
	k->entry = in->entry;
	k->stack_top = stack + PG - 16;  /* zero qword at [rsp] */
	k->flags = (in->la57 ? RELOC_CTL_LA57 : 0) | (in->csum ? RELOC_CTL_LIST_ALL : 0);
	k->gdt[1] = 0x00cf9a000000ffffULL;  /* 0x08: 32-bit code (LA57 switch) */
	k->gdt[2] = 0x00af9a000000ffffULL;  /* 0x10: 64-bit code, DPL0 */
	k->gdt[3] = 0x00cf92000000ffffULL;  /* 0x18: data */
	k->gdtr_limit = sizeof(k->gdt) - 1;
	k->gdtr_base = ctl + RELOC_CTL_OFF_GDT;
	if (in->final_limit || in->final_base) {
		k->final_limit = in->final_limit;
		k->final_base = in->final_base;
	} else {
		k->final_limit = k->gdtr_limit;
		k->final_base = k->gdtr_base;
	}
	out->ctl = ctl;
	out->stub = stub;
	out->pt_root = root;
	out->list_head = list0;
	return RELOC_OK;
}

uint64_t reloc_csum(uint64_t dst, const void *buf, uint64_t nbytes)
{
	/* A byte b at address x is b << 8 (x % 8) of the qword at x & ~7:
	 * it adds (b << 8 (x % 8)) * ((x & ~7) + 1). Linear, so any split
	 * of the bytes gives the same total. */
	const unsigned char *p = buf;
	uint64_t sum = 0;
	for (; nbytes && (dst & 7); nbytes--, dst++, p++)
		sum += ((uint64_t)*p << (8 * (dst & 7))) * ((dst & ~7ULL) + 1);
	for (; nbytes >= 8; nbytes -= 8, dst += 8, p += 8) {
		uint64_t q;
		__builtin_memcpy(&q, p, 8); /* x86: little endian, unaligned ok */
		sum += q * (dst + 1);
	}
	for (; nbytes; nbytes--, dst++, p++)
		sum += ((uint64_t)*p << (8 * (dst & 7))) * ((dst & ~7ULL) + 1);
	return sum;
}

enum reloc_err reloc_set_csum(const struct reloc_plan *plan, int64_t virt_offset,
			      uint64_t expected)
{
	if (!plan->ctl)
		return RELOC_E_INVAL;	/* no plan */
	struct reloc_control *k = va(plan->ctl, virt_offset);
	k->csum = expected;
	k->flags |= RELOC_CTL_CSUM;
	return RELOC_OK;
}
