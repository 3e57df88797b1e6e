// SPDX-License-Identifier: MIT
/*
 * LZ4 block decoder. A block is a run of sequences: a token (high nibble:
 * literal count, low nibble: match length - 4; 15 means "more bytes
 * follow, each added, until one is not 255"), the literals, a 16-bit
 * little-endian match offset (1 .. bytes written so far), and the match
 * length's extra bytes. The last sequence has literals only and ends the
 * input. Every length is checked against what is left of both buffers
 * before it is used, so a hostile chunk can only be refused.
 */
#include "elfimg/compat.h"
#include "elfimg/lz4.h"

/* Reads an extended length: false if the input ends inside it. */
static bool ext_len(const uint8_t *src, size_t slen, size_t *ip, size_t *len)
{
	uint8_t b;

	do {
		if (*ip >= slen)
			return false;
		b = src[(*ip)++];
		*len += b;	/* < 255 * slen + 15: cannot wrap */
	} while (b == 255);
	return true;
}

/*
 * Copies an overlapping match in pieces that do not overlap: the bytes
 * from @d - @off on repeat with period @off, so once as many again have
 * been written the distance may double; the copies stay memcpy-sized.
 */
static void copy_match(uint8_t *d, size_t off, size_t n)
{
	size_t dist = off;

	while (n > 0) {
		size_t k = n < dist ? n : dist;

		kj_memcpy(d, d - dist, k);
		d += k;
		n -= k;
		dist += dist;
	}
}

/* 16 bytes in two fixed-size copies: inline loads and stores, no call */
static inline void copy16(uint8_t *d, const uint8_t *s)
{
	uint64_t a, b;

	kj_memcpy(&a, s, 8);
	kj_memcpy(&b, s + 8, 8);
	kj_memcpy(d, &a, 8);
	kj_memcpy(d + 8, &b, 8);
}

bool elfimg_lz4_decode(const uint8_t *src, size_t slen,
		       uint8_t *dst, size_t dlen)
{
	size_t ip = 0, op = 0;

	if (!src || !dst)
		return false;
	for (;;) {
		size_t lit, ml, off;
		uint8_t tok;

		if (ip >= slen)
			return false;
		tok = src[ip++];
		lit = tok >> 4;
		if (lit == 15 && !ext_len(src, slen, &ip, &lit))
			return false;
		if (lit > slen - ip || lit > dlen - op)
			return false;
		/*
		 * Short runs, the common case in memory that compresses: one
		 * 16-byte copy where both buffers have the room; the bytes
		 * past the run are inside dst and written again later.
		 */
		if (lit <= 16 && slen - ip >= 16 && dlen - op >= 16)
			copy16(dst + op, src + ip);
		else
			kj_memcpy(dst + op, src + ip, lit);
		ip += lit;
		op += lit;
		if (ip == slen)		/* the last sequence: literals only */
			return op == dlen;
		if (slen - ip < 2)
			return false;
		off = src[ip] | (size_t)src[ip + 1] << 8;
		ip += 2;
		if (off == 0 || off > op)
			return false;
		ml = tok & 15;
		if (ml == 15 && !ext_len(src, slen, &ip, &ml))
			return false;
		ml += 4;
		if (ml > dlen - op)
			return false;
		if (ml <= 16 && off >= 16 && dlen - op >= 16)
			copy16(dst + op, dst + op - off);
		else
			copy_match(dst + op, off, ml);
		op += ml;
	}
}
