/* SPDX-License-Identifier: MIT */
/*
 * elfimg/xxh64.h - XXH64's steps, inline, for the reader's one-pass
 * decoders (xxh64.c, chunk.c, lz4.c): internal to elfimg, not installed.
 *
 * struct xxh64_units hashes a chunk's memory bytes (seed 0, the chunk
 * check of docs/FORMAT.md 2.3) while the chunk is being decoded: it is fed
 * the packed non-zero units in order, 32-byte stripes at a time, and
 * hashes each zero unit of the chunk's zero map where it falls, without
 * reading memory. Every stripe lies inside one unit (ELFIMG_UNIT is a
 * multiple of 32; only the chunk's last unit may be short).
 */
#ifndef KJ_ELFIMG_XXH64_H
#define KJ_ELFIMG_XXH64_H

#include <stddef.h>
#include <stdint.h>

#include "elfimg/format.h"

#define XXH_P1 0x9e3779b185ebca87ULL
#define XXH_P2 0xc2b2ae3d27d4eb4fULL
#define XXH_P3 0x165667b19e3779f9ULL
#define XXH_P4 0x85ebca77c2b2ae63ULL
#define XXH_P5 0x27d4eb2f165667c5ULL

_Static_assert(ELFIMG_UNIT % 32 == 0, "a stripe never spans two units");

static inline uint64_t xxh_rotl(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t xxh_rd64(const uint8_t *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, 8);	/* x86: little endian, unaligned ok */
	return v;
}

static inline void xxh_wr64(uint8_t *p, uint64_t v)
{
	__builtin_memcpy(p, &v, 8);
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t lane)
{
	return xxh_rotl(acc + lane * XXH_P2, 31) * XXH_P1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
	return (acc ^ xxh_round(0, v)) * XXH_P1 + XXH_P4;
}

struct xxh64_lanes {
	uint64_t v1, v2, v3, v4;
};

static inline void xxh_lanes_init(struct xxh64_lanes *l, uint64_t seed)
{
	*l = (struct xxh64_lanes){ seed + XXH_P1 + XXH_P2, seed + XXH_P2, seed,
				   seed - XXH_P1 };
}

/*
 * The stripes of @p (@n bytes, a multiple of 32) into @l; with @copy, each
 * stripe is also stored there from the registers it was hashed from (one
 * load per byte instead of two; @p and @copy may overlap only if @copy is
 * at least 32 bytes above @p). @copy is constant at each caller, so the
 * compiler specialises both forms.
 */
static inline __attribute__((always_inline)) void
xxh_stripes(struct xxh64_lanes *l, const uint8_t *p, size_t n, uint8_t *copy)
{
	uint64_t v1 = l->v1, v2 = l->v2, v3 = l->v3, v4 = l->v4;

	for (const uint8_t *end = p + n; p < end; p += 32) {
		uint64_t a = xxh_rd64(p), b = xxh_rd64(p + 8), c = xxh_rd64(p + 16),
			 d = xxh_rd64(p + 24);

		if (copy) {
			xxh_wr64(copy, a);
			xxh_wr64(copy + 8, b);
			xxh_wr64(copy + 16, c);
			xxh_wr64(copy + 24, d);
			copy += 32;
		}
		v1 = xxh_round(v1, a);
		v2 = xxh_round(v2, b);
		v3 = xxh_round(v3, c);
		v4 = xxh_round(v4, d);
	}
	*l = (struct xxh64_lanes){ v1, v2, v3, v4 };
}

/* @n bytes of zeros (a multiple of 32) into @l. */
static inline void xxh_zero_stripes(struct xxh64_lanes *l, size_t n)
{
	for (; n; n -= 32) {
		l->v1 = xxh_round(l->v1, 0);
		l->v2 = xxh_round(l->v2, 0);
		l->v3 = xxh_round(l->v3, 0);
		l->v4 = xxh_round(l->v4, 0);
	}
}

/* The hash of @len bytes whose whole stripes went into @l and whose last
 * len % 32 bytes are at @tail. */
static inline uint64_t xxh_finish(const struct xxh64_lanes *l, uint64_t seed,
				  uint64_t len, const uint8_t *tail)
{
	const uint8_t *p = tail, *end = p + len % 32;
	uint64_t h;

	if (len >= 32) {
		h = xxh_rotl(l->v1, 1) + xxh_rotl(l->v2, 7) + xxh_rotl(l->v3, 12) +
		    xxh_rotl(l->v4, 18);
		h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, l->v1), l->v2), l->v3),
			      l->v4);
	} else {
		h = seed + XXH_P5;
	}
	h += len;
	for (; end - p >= 8; p += 8)
		h = xxh_rotl(h ^ xxh_round(0, xxh_rd64(p)), 27) * XXH_P1 + XXH_P4;
	if (end - p >= 4) {
		uint32_t w;

		__builtin_memcpy(&w, p, 4);
		h = xxh_rotl(h ^ (uint64_t)w * XXH_P1, 23) * XXH_P2 + XXH_P3;
		p += 4;
	}
	for (; p < end; p++)
		h = xxh_rotl(h ^ *p * XXH_P5, 11) * XXH_P1;
	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	return h ^ h >> 32;
}

/* ---- a chunk's check, fed its packed units ---- */

struct xxh64_units {
	struct xxh64_lanes l;
	size_t done;		/* packed bytes hashed: a multiple of 32 */
	size_t unit, units;	/* the memory unit the next packed one fills */
	size_t len;		/* the chunk's memory bytes */
	uint64_t zero_map;
};

/* The bytes of a chunk of @len memory bytes (at most 64 units) that are
 * not in its @zero_map: what its stored or decoded form packs. */
static inline size_t elfimg_packed_len(size_t len, uint64_t zero_map)
{
	size_t units = (len + ELFIMG_UNIT - 1) / ELFIMG_UNIT, packed = 0;

	for (size_t u = 0; u < units; u++)
		if (!(zero_map >> u & 1))
			packed += u + 1 < units ? ELFIMG_UNIT : len - u * ELFIMG_UNIT;
	return packed;
}

static inline void xxh_units_init(struct xxh64_units *z, size_t len, uint64_t zero_map)
{
	xxh_lanes_init(&z->l, 0);
	z->done = 0;
	z->unit = 0;
	z->units = (len + ELFIMG_UNIT - 1) / ELFIMG_UNIT;
	z->len = len;
	z->zero_map = zero_map;
}

/* The zero units from z->unit up to the next non-zero one (or the end). */
static inline void xxh_units_skip_zero(struct xxh64_units *z)
{
	for (; z->unit < z->units && (z->zero_map >> z->unit & 1); z->unit++) {
		size_t at = z->unit * ELFIMG_UNIT;
		size_t ulen = z->len - at < ELFIMG_UNIT ? z->len - at : ELFIMG_UNIT;

		xxh_zero_stripes(&z->l, ulen & ~(size_t)31);
	}
}

/*
 * Hash the packed bytes of @dst up to @to (a multiple of 32, at or past
 * z->done). With @from, those bytes are copied there from @from first,
 * in the same pass (the rules of xxh_stripes()'s @copy apply).
 */
static inline __attribute__((always_inline)) void
xxh_units_feed(struct xxh64_units *z, uint8_t *dst, size_t to, const uint8_t *from)
{
	while (z->done < to) {
		size_t end = (z->done / ELFIMG_UNIT + 1) * ELFIMG_UNIT;

		if (z->done % ELFIMG_UNIT == 0) {	/* a packed unit starts */
			xxh_units_skip_zero(z);
			z->unit++;
		}
		if (end > to)
			end = to;
		if (from) {
			xxh_stripes(&z->l, from, end - z->done, dst + z->done);
			from += end - z->done;
		} else {
			xxh_stripes(&z->l, dst + z->done, end - z->done, NULL);
		}
		z->done = end;
	}
}

/* The check, once all @packed bytes are in @dst and fed up to packed & ~31. */
static inline uint64_t xxh_units_final(struct xxh64_units *z, const uint8_t *dst,
				       size_t packed)
{
	static const uint8_t zeros[32];

	if (z->done < packed) {
		/* the short last unit's tail: nothing follows it */
		if (z->done % ELFIMG_UNIT == 0) {
			xxh_units_skip_zero(z);
			z->unit++;
		}
		return xxh_finish(&z->l, 0, z->len, dst + z->done);
	}
	xxh_units_skip_zero(z);		/* the zero units at the end */
	return xxh_finish(&z->l, 0, z->len, zeros);
}

#endif
