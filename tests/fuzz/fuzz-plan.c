// SPDX-License-Identifier: MIT
/*
 * fuzz-plan: random layouts (possibly invalid) into reloc_plan(). Ranges
 * are small page numbers scaled into a private buffer that stands in for
 * physical memory, so everything the planner writes is bounds-checked by
 * ASan. The window straddles 4 GiB, so placement below 4 GiB (I5) is
 * exercised both ways. On success the plan's list is checked against
 * I1-I4 and I6 (with csum: every destination page named exactly once),
 * the control pages against I5 and the identity map; RELOC_E_NOLOWMEM
 * must be justified (fewer low scratch pages than control pages).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "relocate/plan.h"

#define PG 4096ULL
#define NPAGES 512
#define G4 0x100000000ULL
#define BASE (G4 - 256 * PG) /* "physical" window: 1 MiB below 4 GiB, 1 above */

static uint8_t *mem;

static size_t take(const uint8_t **d, size_t *n, void *out, size_t len)
{
	size_t k = len < *n ? len : *n;
	memset(out, 0, len);
	memcpy(out, *d, k);
	*d += k;
	*n -= k;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reloc_dest dest[32];
	struct reloc_mem m[32];
	struct reloc_range s[8];
	struct reloc_load load[128];
	uint8_t hdr[4];
	if (!mem)
		mem = aligned_alloc(PG, NPAGES * PG);
	take(&data, &size, hdr, 4);
	size_t nd = hdr[0] % 33, nm = hdr[1] % 33, ns = hdr[2] % 9;
	uint8_t raw[3];
	for (size_t i = 0; i < nd; i++) {
		take(&data, &size, raw, 3);
		dest[i] = (struct reloc_dest){ BASE + raw[0] * 2 * PG, BASE + (raw[0] * 2 + raw[1] % 16) * PG, raw[2] & 1 };
	}
	for (size_t i = 0; i < nm; i++) {
		take(&data, &size, raw, 3);
		m[i] = (struct reloc_mem){ BASE + raw[0] * 2 * PG, BASE + (raw[0] * 2 + raw[1] % 32) * PG, raw[2] % 3 };
	}
	for (size_t i = 0; i < ns; i++) {
		take(&data, &size, raw, 3);
		s[i] = (struct reloc_range){ BASE + raw[0] * 2 * PG, BASE + (raw[0] * 2 + raw[1] % 64) * PG };
		if (s[i].end > BASE + NPAGES * PG)
			s[i].end = BASE + NPAGES * PG;
	}
	struct reloc_plan_in in = {
		.dest = dest, .ndest = nd, .mem = m, .nmem = nm, .scratch = s, .nscratch = ns,
		.stub_size = (hdr[3] & 1) * 100, .entry = 0x1000, .la57 = hdr[3] & 2,
		.gb_pages = hdr[3] & 4, .virt_offset = (int64_t)((uint64_t)(uintptr_t)mem - BASE),
		.fw_la57 = hdr[3] & 16, .csum = hdr[3] & 32,
	};
	struct reloc_plan p = { .load = load, .load_cap = hdr[3] & 8 ? 2 : 128 };
	enum reloc_err err = reloc_plan(&in, &p);
	bool low = in.la57 || in.fw_la57;
	uint64_t nctl = in.stub_size ? 4 : 3, nlow = 0;
	if (err == RELOC_E_NOSPACE && !p.missing_pages)
		abort();
	if (err == RELOC_E_NOLOWMEM) {
		for (size_t i = 0; i < ns; i++)
			for (uint64_t a = s[i].start; a < s[i].end && a < G4; a += PG)
				nlow++;
		if (!low || nlow >= nctl)
			abort(); /* refused without need */
	}
	if (err)
		return 0;
	const struct reloc_control *k =
		(const void *)(uintptr_t)(p.ctl + (uint64_t)in.virt_offset);
	uint64_t ctlp[4] = { p.ctl, k->stack_top & ~(PG - 1), p.pt_root,
			     in.stub_size ? p.stub : p.ctl };
	for (unsigned i = 0; i < 4; i++) {
		if (low && ctlp[i] >= G4)
			abort(); /* I5 */
		/* identity-mapped by the plan's own tables */
		uint64_t t = p.pt_root, va = ctlp[i] + 8, pa = ~0ULL;
		for (int l = in.la57 ? 4 : 3; l >= 0; l--) {
			uint64_t e = ((const uint64_t *)(uintptr_t)(t + (uint64_t)in.virt_offset))
				[(va >> (12 + 9 * l)) & 511];
			if (!(e & 1))
				break;
			if (e & 0x80) {
				uint64_t mask = (1ULL << (12 + 9 * l)) - 1;
				pa = (e & 0x000ffffffffff000ULL & ~mask) | (va & mask);
				break;
			}
			t = e & 0x000ffffffffff000ULL;
		}
		if (pa != va)
			abort();
	}
	if (!!(k->flags & RELOC_CTL_LIST_ALL) != in.csum)
		abort();
	/* Walk the list: sources are scratch, destinations written once. */
	static uint8_t hit[1 << 10];
	memset(hit, 0, sizeof(hit));
	const uint64_t *e = (const uint64_t *)(uintptr_t)(p.list_head + (uint64_t)in.virt_offset);
	uint64_t dst = 0, len = 1;
	for (;;) {
		uint64_t w = *e++, a = w & ~0xfffULL;
		if (w & RELOC_IND_DESTINATION) { dst = a; continue; }
		if (w & RELOC_IND_INDIRECTION) { e = (const uint64_t *)(uintptr_t)(a + (uint64_t)in.virt_offset); continue; }
		if (w & RELOC_IND_DONE) break;
		if (w & RELOC_IND_LENGTH) { len = a >> 12; continue; }
		if ((w & RELOC_IND_KEEP) && !in.csum)
			abort();
		for (uint64_t k = 0; k < len; k++) {
			uint64_t d = (dst - BASE) / PG + k;
			if (d >= sizeof(hit) || hit[d]++)
				abort();
			if (w & RELOC_IND_SOURCE) {
				uint64_t sp = a + k * PG;
				for (size_t i = 0; i < nd; i++)
					if (sp >= dest[i].start && sp < dest[i].end)
						abort(); /* I1 */
			}
		}
		dst += len * PG;
		len = 1;
	}
	if (in.csum) /* I6: every destination page named */
		for (size_t i = 0; i < nd; i++)
			for (uint64_t a = dest[i].start; a < dest[i].end; a += PG)
				if (!hit[(a - BASE) / PG])
					abort();
	return 0;
}
