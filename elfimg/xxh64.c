// SPDX-License-Identifier: MIT
/*
 * elfimg/xxh64.c - XXH64, the chunk check of images with
 * ELFIMG_INCOMPAT_XXH64 (docs/FORMAT.md 2.3), written from the algorithm's
 * published specification (also the content checksum of zstd and LZ4
 * frames).
 *
 * Why not CRC32: every byte the loader restores is checked, and zlib's
 * table-driven crc32() was most of the loader's decode time. XXH64 is
 * four independent multiply-rotate lanes in general registers (fine in
 * firmware, -mgeneral-regs-only), several times faster than table CRC32
 * natively and, unlike SSE4.2's crc32 instruction, just as fast under
 * emulators that implement crc32 bit by bit (QEMU's TCG, where the
 * benchmarks run: docs/PERFORMANCE.md). It is 64 bits wide.
 *
 * Pure: no <efi.h>, no allocation, no writable state (safe on every CPU
 * of the loader's parallel decode).
 */
#include <stddef.h>
#include <stdint.h>

#include "elfimg/elfimg.h"

#define P1 0x9e3779b185ebca87ULL
#define P2 0xc2b2ae3d27d4eb4fULL
#define P3 0x165667b19e3779f9ULL
#define P4 0x85ebca77c2b2ae63ULL
#define P5 0x27d4eb2f165667c5ULL

static inline uint64_t rotl(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, 8);	/* x86: little endian, unaligned ok */
	return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t lane)
{
	return rotl(acc + lane * P2, 31) * P1;
}

static inline uint64_t merge(uint64_t acc, uint64_t v)
{
	return (acc ^ round64(0, v)) * P1 + P4;
}

static inline void wr64(uint8_t *p, uint64_t v)
{
	__builtin_memcpy(p, &v, 8);
}

/*
 * XXH64 of @buf; with @copy, each stripe is also stored there from the
 * registers it was hashed from (one load per byte instead of two). The
 * compiler specialises both forms: @copy is constant at each caller.
 */
static inline __attribute__((always_inline)) uint64_t
xxh64(const void *buf, size_t len, uint64_t seed, uint8_t *copy)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed,
			 v4 = seed - P1;

		for (; end - p >= 32; p += 32) {
			uint64_t a = rd64(p), b = rd64(p + 8), c = rd64(p + 16), d = rd64(p + 24);

			if (copy) {
				wr64(copy, a);
				wr64(copy + 8, b);
				wr64(copy + 16, c);
				wr64(copy + 24, d);
				copy += 32;
			}
			v1 = round64(v1, a);
			v2 = round64(v2, b);
			v3 = round64(v3, c);
			v4 = round64(v4, d);
		}
		h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
		h = merge(merge(merge(merge(h, v1), v2), v3), v4);
	} else {
		h = seed + P5;
	}
	h += len;
	if (copy)
		__builtin_memcpy(copy, p, (size_t)(end - p));
	for (; end - p >= 8; p += 8)
		h = rotl(h ^ round64(0, rd64(p)), 27) * P1 + P4;
	if (end - p >= 4) {
		uint32_t w;

		__builtin_memcpy(&w, p, 4);
		h = rotl(h ^ (uint64_t)w * P1, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl(h ^ *p * P5, 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ h >> 32;
}

uint64_t elfimg_xxh64(const void *buf, size_t len, uint64_t seed)
{
	return xxh64(buf, len, seed, NULL);
}

uint64_t elfimg_xxh64_copy(void *dst, const void *src, size_t len, uint64_t seed)
{
	if (!dst)		/* the contract; lets the loop drop its test */
		__builtin_unreachable();
	return xxh64(src, len, seed, dst);
}

uint64_t elfimg_chunk_check(const struct elfimg_chunk_info *ci,
			    const void *buf, size_t len)
{
	return ci->xxh64 ? elfimg_xxh64(buf, len, 0) : elfimg_crc32(0, buf, len);
}
