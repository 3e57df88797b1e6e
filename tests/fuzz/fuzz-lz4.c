// SPDX-License-Identifier: MIT
/*
 * The LZ4 decoders on hostile blocks (exact-size heap buffers, so ASan
 * sees any access outside them): the plain and the hashing one must
 * agree, and with the reference (liblz4) wherever both accept a block;
 * and the encoder's output decoding back to its input.
 */
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "elfimg/elfimg.h"
#include "elfimg/lz4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint32_t table[ELFIMG_LZ4_TABLE];
	size_t dlen, n;
	uint8_t *src, *dst, *enc;

	if (size < 2)
		return 0;
	dlen = data[0] | (size_t)data[1] << 8;
	src = malloc(size - 2 ? size - 2 : 1);
	dst = malloc(dlen ? dlen : 1);
	memcpy(src, data + 2, size - 2);
	{
		/* the hashing decoder: the same verdict, bytes and their hash */
		uint8_t *dst2 = malloc(dlen ? dlen : 1);
		uint64_t check;
		bool ok = elfimg_lz4_decode(src, size - 2, dst, dlen);

		if (ok != elfimg_lz4_decode_xxh64(src, size - 2, dst2, dlen, dlen, 0,
						  &check) ||
		    (ok && (memcmp(dst, dst2, dlen) != 0 ||
			    check != elfimg_xxh64(dst, dlen, 0))))
			abort();
		/* liblz4 is laxer (offset 0) and stricter (the last bytes) */
		if (ok && LZ4_decompress_safe((const char *)src, (char *)dst2,
					      (int)(size - 2), (int)dlen) == (int)dlen &&
		    memcmp(dst, dst2, dlen) != 0)
			abort();
		free(dst2);
	}
	free(dst);

	/* encode what we were given, at a cap that may be too small */
	enc = malloc(size);
	n = elfimg_lz4_encode(data, size, enc, size, table);
	if (n) {
		dst = malloc(size);
		if (!elfimg_lz4_decode(enc, n, dst, size) ||
		    memcmp(dst, data, size) != 0)
			abort();
		free(dst);
	}
	free(enc);
	free(src);
	return 0;
}
