/* SPDX-License-Identifier: MIT */
/*
 * LZ4 block format (the "block" of lz4's doc/lz4_Block_format.md, not the
 * frame): chunk method 2 of docs/FORMAT.md. Our own code, written from the
 * format description. The decoder is EFI-clean and runs in the loader; the
 * encoder is host-only (kjsave).
 */
#ifndef KJ_ELFIMG_LZ4_H
#define KJ_ELFIMG_LZ4_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * Decode @slen bytes at @src into exactly @dlen bytes at @dst. False if
 * the input is malformed, ends early, has bytes left over, or would write
 * anything else than exactly @dlen bytes; nothing beyond @dst + @dlen is
 * ever written, nothing outside @src is read.
 */
bool elfimg_lz4_decode(const uint8_t *src, size_t slen,
		       uint8_t *dst, size_t dlen);

/*
 * elfimg_lz4_decode(), and in the same pass the XXH64 (seed 0) of the
 * @len memory bytes the decoded ones make once the zero units of
 * @zero_map are put between them (the chunk check, docs/FORMAT.md 2.3):
 * @dst gets the packed bytes, as from elfimg_lz4_decode(). False as
 * elfimg_lz4_decode(), or if @dlen is not the length of @len's units
 * outside @zero_map (at most 64 units); else *@check is set.
 */
bool elfimg_lz4_decode_xxh64(const uint8_t *src, size_t slen, uint8_t *dst,
			     size_t dlen, size_t len, uint64_t zero_map,
			     uint64_t *check);

#define ELFIMG_LZ4_TABLE	4096	/* entries of the encoder's hash table */

/*
 * Encode @len bytes (at most 2^32 - 1) into at most @cap bytes. Returns
 * the encoded length, or 0 if it would not fit in @cap. @table is the
 * caller's scratch (ELFIMG_LZ4_TABLE entries; its content is irrelevant).
 */
size_t elfimg_lz4_encode(const uint8_t *src, size_t len,
			 uint8_t *dst, size_t cap, uint32_t *table);

#endif
