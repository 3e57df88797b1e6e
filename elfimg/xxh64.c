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
#include "elfimg/xxh64.h"

uint64_t elfimg_xxh64(const void *buf, size_t len, uint64_t seed)
{
	struct xxh64_lanes l;
	size_t whole = len & ~(size_t)31;

	xxh_lanes_init(&l, seed);
	xxh_stripes(&l, buf, whole, NULL);
	return xxh_finish(&l, seed, len, (const uint8_t *)buf + whole);
}
