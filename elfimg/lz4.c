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
#include "elfimg/xxh64.h"

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

static inline void copy8(uint8_t *d, const uint8_t *s)
{
	uint64_t a;

	kj_memcpy(&a, s, 8);
	kj_memcpy(d, &a, 8);
}

/*
 * Runs shorter than this are copied in 8-byte words where both buffers
 * have 7 bytes of room past them (the last word may run over; what it
 * writes there is inside dst, not hashed yet, and written again later):
 * under TCG a call to memcpy costs more than such a run's words.
 */
#define WORDS_MAX	128

/* @n bytes, @s at least 8 behind @d or apart from it, in whole words */
static inline void copy_words(uint8_t *d, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i += 8)
		copy8(d + i, s + i);
}

/*
 * A match less than 8 back: its first bytes one at a time, until a
 * whole number of periods is 8 bytes or more; from there on in words at
 * that distance. Writes at most @n + 15 bytes.
 */
static inline void copy_pattern(uint8_t *d, size_t off, size_t n)
{
	size_t far = off * ((8 + off - 1) / off);	/* 8 .. 14 */
	const uint8_t *s = d - off;	/* not d[i - off]: i - off wraps */

	for (size_t i = 0; i < far; i++)
		d[i] = s[i];
	copy_words(d + far, d, n > far ? n - far : 0);
}

/*
 * With a hash (@z): runs this long are hashed from the registers they are
 * copied through; the output of shorter ones is hashed from @dst, LAG
 * bytes or more at a time. Under TCG, hashing a stripe or two after each
 * of many short sequences costs more than a separate pass (the lanes go
 * through memory each time); in memory that compresses, long runs carry
 * most bytes.
 */
#define FUSE_MIN	256
#define LAG		1024

/*
 * The room the fast path needs: it reads a token, up to 16 literal bytes
 * (at most 14 used) and the 2-byte offset after at most 14; it writes up
 * to 16 literal bytes, then up to 24 match bytes (at most 18 used) from
 * up to 14 on.
 */
#define FAST_IN		32
#define FAST_OUT	64

/*
 * The hashing, out of line: inlined, it left the decode loop short of
 * registers, and every sequence paid for that (twice the time on
 * text-like memory under TCG).
 */
static __attribute__((noinline)) void catch_up(struct xxh64_units *z, uint8_t *dst,
					       size_t to)
{
	xxh_units_feed(z, dst, to, NULL);
}

/* Copy and hash the whole stripes of a run at @o; returns the bytes done. */
static __attribute__((noinline)) size_t fused_run(struct xxh64_units *z, uint8_t *dst,
						  size_t o, const uint8_t *s, size_t n)
{
	size_t head = (0 - o) & 31, body = (n - head) & ~(size_t)31;

	kj_memcpy(dst + o, s, head);
	xxh_units_feed(z, dst, o + head, NULL);
	xxh_units_feed(z, dst, o + head + body, s + head);
	return head + body;
}

static inline __attribute__((always_inline)) bool
decode(const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen,
       struct xxh64_units *z)
{
	size_t ip = 0, op = 0, lag_at = LAG;	/* hash the output from there */
	/* the fast path's room: ip < in_fast, op < out_fast */
	size_t in_fast = slen >= FAST_IN ? slen - FAST_IN + 1 : 0;
	size_t out_fast = dlen >= FAST_OUT ? dlen - FAST_OUT + 1 : 0;

	if (!src || !dst)
		return false;
	for (;;) {
		size_t lit, ml, off, k, lim = out_fast;
		uint8_t tok;

		if (z && op >= lag_at) {
			catch_up(z, dst, op & ~(size_t)31);
			lag_at = op + LAG;
		}
		if (z && lag_at < lim)	/* one bound in the loop for both */
			lim = lag_at;
		/*
		 * The common sequence, short literals and a short match at 8
		 * or more back, where both buffers have room for every copy
		 * it makes whatever its lengths: one test of the room for all
		 * its fields, 8-byte copies (under TCG every load and store
		 * costs a TLB lookup: most sequences in memory that compresses
		 * have no literals and a match of 4 to 8 bytes). Anything
		 * else, including an offset that is wrong, goes the careful
		 * way below from the same token.
		 */
		while (ip < in_fast && op < lim) {
			size_t o, p;
			uint16_t off16;

			tok = src[ip];
			lit = tok >> 4;
			ml = tok & 15;
			p = ip + 1 + lit;
			o = op + lit;
			kj_memcpy(&off16, src + p, 2);	/* little-endian */
			off = off16;
			if (lit == 15 || ml == 15 || off < 8 || off > o)
				break;
			copy8(dst + op, src + ip + 1);
			if (lit > 8)
				copy8(dst + op + 8, src + ip + 9);
			/* each 8 bytes' source is written before it is read */
			copy8(dst + o, dst + o - off);
			if (ml > 4) {
				copy8(dst + o + 8, dst + o + 8 - off);
				copy8(dst + o + 16, dst + o + 16 - off);
			}
			ip = p + 2;
			op = o + ml + 4;
		}
		if (z && op >= lag_at)
			continue;
		if (ip >= slen)
			return false;
		tok = src[ip++];
		lit = tok >> 4;
		if (lit == 15 && !ext_len(src, slen, &ip, &lit))
			return false;
		if (lit > slen - ip || lit > dlen - op)
			return false;
		if (z && lit >= FUSE_MIN) {
			k = fused_run(z, dst, op, src + ip, lit);
			ip += k;
			op += k;
			lit -= k;
		}
		if (lit < WORDS_MAX && slen - ip >= lit + 7 && dlen - op >= lit + 7)
			copy_words(dst + op, src + ip, lit);
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
		if (z && ml >= FUSE_MIN && off >= 32) {	/* no stripe overlaps its source */
			k = fused_run(z, dst, op, dst + op - off, ml);
			op += k;
			ml -= k;
		}
		if (ml < WORDS_MAX && dlen - op >= ml + 7 && off >= 8)
			copy_words(dst + op, dst + op - off, ml);
		else if (ml < WORDS_MAX && dlen - op >= ml + 15)
			copy_pattern(dst + op, off, ml);
		else
			copy_match(dst + op, off, ml);
		op += ml;
	}
}

bool elfimg_lz4_decode(const uint8_t *src, size_t slen,
		       uint8_t *dst, size_t dlen)
{
	return decode(src, slen, dst, dlen, NULL);
}

bool elfimg_lz4_decode_xxh64(const uint8_t *src, size_t slen, uint8_t *dst,
			     size_t dlen, size_t len, uint64_t zero_map,
			     uint64_t *check)
{
	struct xxh64_units z;

	xxh_units_init(&z, len, zero_map);
	if (z.units > 64 || !check || elfimg_packed_len(len, zero_map) != dlen)
		return false;
	if (!decode(src, slen, dst, dlen, &z))
		return false;
	xxh_units_feed(&z, dst, dlen & ~(size_t)31, NULL);
	*check = xxh_units_final(&z, dst, dlen);
	return true;
}
