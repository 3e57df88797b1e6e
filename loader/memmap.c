// SPDX-License-Identifier: MIT
/*
 * loader/memmap.c - memory-map comparison and destination extents (pure).
 */
#include "loader/fmt.h"
#include "loader/loader.h"


#define PG 4096ULL

size_t kj_e820_merge(struct kj_e820 *r, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i].end <= r[i].start)
			continue;
		if (o && r[o - 1].type == r[i].type && r[o - 1].end == r[i].start)
			r[o - 1].end = r[i].end;
		else
			r[o++] = r[i];
	}
	return o;
}

static const char *e820_name(uint32_t t)
{
	switch (t) {
	case 1: return "RAM";
	case 2: return "reserved";
	case 3: return "ACPI";
	case 4: return "NVS";
	case 5: return "unusable";
	case 7: return "pmem";
	case 12: return "pmem(legacy)";
	default: return "other";
	}
}

static bool same_list(const struct kj_e820 *a, size_t na, const struct kj_e820 *b,
		      size_t nb, const char *what, char *msg, size_t msglen)
{
	size_t i = 0;
	for (; i < na && i < nb; i++)
		if (a[i].start != b[i].start || a[i].end != b[i].end || a[i].type != b[i].type)
			break;
	if (i == na && i == nb)
		return true;
	char x[64], y[64];
	if (i < na)
		kj_snprintf(x, sizeof(x), "%s 0x%llx-0x%llx", e820_name(a[i].type),
			    (unsigned long long)a[i].start, (unsigned long long)a[i].end - 1);
	else
		kj_snprintf(x, sizeof(x), "no more %s", what);
	if (i < nb)
		kj_snprintf(y, sizeof(y), "%s 0x%llx-0x%llx", e820_name(b[i].type),
			    (unsigned long long)b[i].start, (unsigned long long)b[i].end - 1);
	else
		kj_snprintf(y, sizeof(y), "no more %s", what);
	kj_snprintf(msg, msglen, "hibernated: %s, now: %s", x, y);
	return false;
}

/*
 * Split a merged map into RAM (page-rounded outward, so that a kexec-tools
 * quirk like RAM from 0x400 matches the firmware's RAM from 0) and the
 * firmware data A keeps pointers into (ACPI, NVS, unusable, pmem).
 * Reserved ranges are not compared: MMIO windows come and go between
 * kernel versions' E820 conversions, and any reserved range that took
 * RAM away shows up as a RAM difference.
 */
static size_t pick(const struct kj_e820 *in, size_t n, bool ram, struct kj_e820 *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t t = in[i].type;
		if (ram ? t != 1 : (t != 3 && t != 4 && t != 5 && t != 7 && t != 12))
			continue;
		struct kj_e820 r = in[i];
		if (ram) {
			r.start &= ~(PG - 1);
			r.end = (r.end + PG - 1) & ~(PG - 1);
		}
		if (o && out[o - 1].type == r.type && out[o - 1].end >= r.start) {
			if (r.end > out[o - 1].end)
				out[o - 1].end = r.end;
		} else {
			out[o++] = r;
		}
	}
	return o;
}

bool kj_e820_same(const struct kj_e820 *a, size_t na,
		  const struct kj_e820 *b, size_t nb, char *msg, size_t msglen,
		  struct kj_e820 *scratch)
{
	struct kj_e820 *x = scratch, *y = scratch + na;
	size_t nx = pick(a, na, true, x), ny = pick(b, nb, true, y);
	if (!same_list(x, nx, y, ny, "RAM", msg, msglen))
		return false;
	nx = pick(a, na, false, x);
	ny = pick(b, nb, false, y);
	return same_list(x, nx, y, ny, "ACPI/NVS", msg, msglen);
}

/* Append [s, e) to the sorted extent list; data wins over zero on a
 * shared page. */
static bool add(struct reloc_dest *out, size_t cap, size_t *n, uint64_t s,
		uint64_t e, uint32_t zero)
{
	if (s >= e)
		return true;
	if (*n) {
		struct reloc_dest *p = &out[*n - 1];
		if (s < p->end) { /* only a rounded boundary page can overlap */
			if (p->zero == zero) {
				if (e > p->end)
					p->end = e;
				return true;
			}
			if (zero) {
				s = p->end;
				if (s >= e)
					return true;
			} else {
				p->end = s;
				if (p->end <= p->start)
					(*n)--;
			}
		}
		if (*n) {
			p = &out[*n - 1];
			if (p->end == s && p->zero == zero) {
				p->end = e;
				return true;
			}
		}
	}
	if (*n >= cap)
		return false;
	out[(*n)++] = (struct reloc_dest){ s, e, zero };
	return true;
}

size_t kj_dest_extents(const struct elfimg_info *info,
		       const struct elfimg_segment *segs, size_t nsegs,
		       struct reloc_dest *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < nsegs; i++) {
		const struct elfimg_segment *sg = &segs[i];
		uint64_t nch = info->kind == ELFIMG_KIND_KJ ? sg->nchunks : 0;
		if (!nch) { /* plain core: data, then a zero tail */
			uint64_t fe = sg->paddr + sg->filesz, me = sg->paddr + sg->memsz;
			if (!add(out, cap, &n, sg->paddr & ~(PG - 1), (fe + PG - 1) & ~(PG - 1), 0) ||
			    !add(out, cap, &n, (fe + PG - 1) & ~(PG - 1), me & ~(PG - 1), 1) ||
			    !add(out, cap, &n, me & ~(PG - 1), (me + PG - 1) & ~(PG - 1), 0))
				return (size_t)-1;
			continue;
		}
		uint64_t cs = sg->paddr;
		for (uint64_t k = 0; k < nch; k++) {
			struct elfimg_chunk_info ci;
			uint64_t len = elfimg_chunk_len(info, sg, k), ce = cs + len;
			elfimg_chunk_get(info, sg->first_chunk + k, &ci);
			bool ok;
			if (ci.stored == 0 && ci.zero_map != 0) {
				/* all-zero chunk: whole pages are zero-filled,
				 * partial boundary pages are data */
				uint64_t zs = (cs + PG - 1) & ~(PG - 1), ze = ce & ~(PG - 1);
				if (zs < ze)
					ok = add(out, cap, &n, cs & ~(PG - 1), zs, 0) &&
					     add(out, cap, &n, zs, ze, 1) &&
					     add(out, cap, &n, ze, (ce + PG - 1) & ~(PG - 1), 0);
				else
					ok = add(out, cap, &n, cs & ~(PG - 1), (ce + PG - 1) & ~(PG - 1), 0);
			} else {
				ok = add(out, cap, &n, cs & ~(PG - 1), (ce + PG - 1) & ~(PG - 1), 0);
			}
			if (!ok)
				return (size_t)-1;
			cs = ce;
		}
	}
	return n;
}
