// SPDX-License-Identifier: MIT
/*
 * fuzz-plan: random layouts (possibly invalid) into reloc_plan(). Ranges
 * are small page numbers scaled into a private buffer that stands in for
 * physical memory, so everything the planner writes is bounds-checked by
 * ASan. On success the plan's list is checked against I1-I4.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "relocate/plan.h"

#define PG 4096ULL
#define NPAGES 512
#define BASE 0x100000000ULL /* "physical" 4 GiB */

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
	struct reloc_plan_in in = { dest, nd, m, nm, s, ns, (hdr[3] & 1) * 100, 0x1000,
				    hdr[3] & 2, hdr[3] & 4, 0, 0,
				    (int64_t)((uint64_t)(uintptr_t)mem - BASE) };
	struct reloc_plan p = { .load = load, .load_cap = hdr[3] & 8 ? 2 : 128 };
	enum reloc_err err = reloc_plan(&in, &p);
	if (err == RELOC_E_NOSPACE && !p.missing_pages)
		abort();
	if (err)
		return 0;
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
	return 0;
}
