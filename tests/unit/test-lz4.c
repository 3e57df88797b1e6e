// SPDX-License-Identifier: MIT
/*
 * elfimg/lz4*.c against the reference LZ4 (Debian's liblz4, host only):
 * our blocks must decode with LZ4_decompress_safe(), the reference's
 * blocks with ours, and no input, however broken, may make the decoder
 * write outside its buffer or accept a block that does not fill it exactly.
 */
#include <lz4.h>

#include "elfimg/elfimg.h"
#include "elfimg/lz4.h"
#include "tests/unit/test.h"

#define MAXLEN	(256u * 1024u)
#define GUARD	64

static uint32_t table[ELFIMG_LZ4_TABLE];
static uint8_t in[MAXLEN], enc[MAXLEN + MAXLEN / 255 + 64];
static uint8_t out[MAXLEN + 1 + GUARD];	/* decode_both() may ask for MAXLEN + 1 */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

enum kind { ZERO, RANDOM, TEXT, HALF, PERIOD, MIXED, NKINDS };

/* Memory-like inputs, from nothing to compress to compresses 1000:1. */
static void fill(uint8_t *p, size_t len, enum kind k, unsigned arg)
{
	static const char *words[] = { "page ", "struct ", "kernel ", "0000",
				       "\n\t", "return ", "NULL", "ffff" };

	switch (k) {
	case ZERO:
		memset(p, 0, len);
		break;
	case RANDOM:
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)rnd();
		break;
	case TEXT:
		for (size_t i = 0; i < len;) {
			const char *w = words[rnd() % 8];

			for (; *w && i < len; w++)
				p[i++] = (uint8_t)*w;
		}
		break;
	case HALF:	/* each 4 KiB page's second half repeats its first */
		for (size_t i = 0; i < len; i++)
			p[i] = i % 4096 < 2048 ? (uint8_t)rnd() : p[i - 2048];
		break;
	case PERIOD:	/* overlapping matches at offset @arg */
		for (size_t i = 0; i < len; i++)
			p[i] = i < arg ? (uint8_t)rnd() : p[i - arg];
		break;
	default:	/* runs of random, zero and repeated bytes */
		for (size_t i = 0; i < len;) {
			size_t run = 1 + rnd() % 700;
			unsigned how = rnd() % 3;

			for (; run-- && i < len; i++)
				p[i] = how == 0 ? (uint8_t)rnd() :
				       how == 1 ? 0 : (i ? p[i - 1] : 7);
		}
	}
}

/*
 * Both decoders of @n bytes at @src into exactly @len bytes: the same
 * verdict, the same bytes, nothing written past them, and the hashing
 * one's check the XXH64 of what they wrote.
 */
static bool decode_both(const uint8_t *src, size_t n, size_t len)
{
	static uint8_t out2[MAXLEN + 1 + GUARD];
	uint64_t check = 0;
	bool ok, ok2;

	memset(out, 0xa5, sizeof(out));
	memset(out2, 0x5a, sizeof(out2));
	ok = elfimg_lz4_decode(src, n, out, len);
	ok2 = elfimg_lz4_decode_xxh64(src, n, out2, len, len, 0, &check);
	ASSERT_EQ(ok, ok2);
	for (size_t g = 0; g < GUARD; g++) {
		ASSERT_EQ(out[len + g], 0xa5);
		ASSERT_EQ(out2[len + g], 0x5a);
	}
	if (ok) {
		ASSERT(memcmp(out, out2, len) == 0);
		ASSERT_EQ(check, elfimg_xxh64(out, len, 0));
	}
	return ok;
}

static void roundtrip(size_t len, enum kind k, unsigned arg)
{
	size_t n;
	int r;

	fill(in, len, k, arg);
	n = elfimg_lz4_encode(in, len, enc, sizeof(enc), table);
	ASSERT(n > 0);
	/* ours -> ours */
	ASSERT(decode_both(enc, n, len));
	ASSERT(memcmp(out, in, len) == 0);
	/* ours -> reference */
	memset(out, 0, len);
	r = LZ4_decompress_safe((const char *)enc, (char *)out, (int)n, (int)len);
	ASSERT_EQ(r, len);
	ASSERT(memcmp(out, in, len) == 0);
	/* reference -> ours */
	r = LZ4_compress_default((const char *)in, (char *)enc, (int)len,
				 (int)sizeof(enc));
	ASSERT(r > 0);
	ASSERT(decode_both(enc, (size_t)r, len));
	ASSERT(memcmp(out, in, len) == 0);
	/* the exact length is required: one byte less or more is refused */
	if (len > 0)
		ASSERT(!decode_both(enc, (size_t)r, len - 1));
	ASSERT(!decode_both(enc, (size_t)r, len + 1));
}

TEST(lz4_roundtrip_with_reference)
{
	static const size_t lens[] = { 0, 1, 4, 5, 12, 13, 14, 15, 16, 19, 20,
				       31, 64, 270, 271, 4096, 65535, 65536,
				       65537, 200000, MAXLEN };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (enum kind k = ZERO; k < NKINDS; k++)
			roundtrip(lens[i], k, 1 + (unsigned)i % 40);
	for (unsigned off = 1; off <= 70; off++)
		roundtrip(4096 + off, PERIOD, off);
	roundtrip(MAXLEN, PERIOD, 65535);
	roundtrip(MAXLEN, PERIOD, 65536);	/* beyond LZ4's reach */
}

TEST(lz4_sizes)
{
	size_t n;

	fill(in, MAXLEN, HALF, 0);
	n = elfimg_lz4_encode(in, MAXLEN, enc, sizeof(enc), table);
	ASSERT(n > 0 && n < MAXLEN * 52 / 100);	/* 2:1, minus little */
	/* the writer's rule: only what is smaller than the input */
	ASSERT_EQ(elfimg_lz4_encode(in, MAXLEN, enc, n - 1, table), 0);
	ASSERT_EQ(elfimg_lz4_encode(in, MAXLEN, enc, n, table), n);
	fill(in, MAXLEN, RANDOM, 0);
	ASSERT_EQ(elfimg_lz4_encode(in, MAXLEN, enc, MAXLEN - 1, table), 0);
	fill(in, MAXLEN, ZERO, 0);
	n = elfimg_lz4_encode(in, MAXLEN, enc, sizeof(enc), table);
	ASSERT(n > 0 && n < MAXLEN / 200);
}

TEST(lz4_refuses_bad_blocks)
{
	static const uint8_t off0[] = { 0x1f, 'a', 0x00, 0x00, 0x00 };
	static const uint8_t far[] = { 0x10, 'a', 0x02, 0x00, 0x00 };
	static const uint8_t short_off[] = { 0x10, 'a', 0x01 };
	static const uint8_t lit_past[] = { 0x50, 'a', 'b' };
	static const uint8_t ext_cut[] = { 0xf0, 255, 255 };
	static const uint8_t ok[] = { 0x14, 'a', 0x01, 0x00, 0x50, 'b', 'c',
				      'd', 'e', 'f' };	/* "a"x9 + "bcdef" */

	ASSERT(elfimg_lz4_decode(ok, sizeof(ok), out, 14));
	ASSERT(memcmp(out, "aaaaaaaaabcdef", 14) == 0);
	ASSERT(!elfimg_lz4_decode(off0, sizeof(off0), out, 100));
	ASSERT(!elfimg_lz4_decode(far, sizeof(far), out, 100));
	ASSERT(!elfimg_lz4_decode(short_off, sizeof(short_off), out, 100));
	ASSERT(!elfimg_lz4_decode(lit_past, sizeof(lit_past), out, 100));
	ASSERT(!elfimg_lz4_decode(ext_cut, sizeof(ext_cut), out, 100));
	ASSERT(!elfimg_lz4_decode(ok, 0, out, 14));
	/* a match longer than the room left */
	ASSERT(!elfimg_lz4_decode(ok, sizeof(ok), out, 13));
}

/*
 * A sequence's token for @lit literals and an @ml-byte match (4 for none),
 * and @lit's extra length byte: both lengths under 270. Returns the bytes
 * written; the match's extra byte, if any, goes after the offset.
 */
static size_t put_token(uint8_t *p, size_t lit, size_t ml)
{
	size_t n = 0;

	p[n++] = (uint8_t)((lit < 15 ? lit : 15) << 4 | (ml < 19 ? ml - 4 : 15));
	if (lit >= 15)
		p[n++] = (uint8_t)(lit - 15);
	return n;
}

/* A match's 16-bit offset and the extra length byte of an @ml of 19 to
 * 273. Returns the bytes written. */
static size_t put_match(uint8_t *p, size_t off, size_t ml)
{
	size_t n = 0;

	p[n++] = (uint8_t)off;
	p[n++] = (uint8_t)(off >> 8);
	if (ml >= 19)
		p[n++] = (uint8_t)(ml - 19);
	return n;
}

/*
 * Blocks of short sequences, every literal count and match length a token
 * holds without extra bytes and matches up to 150 bytes, offsets from 1
 * to far back, the last match ending 0 to 19 bytes before the end, and
 * bad offsets in the middle of long blocks (the decoder's fast path and
 * its word copies): ours decodes them to what was encoded, never writes
 * past the end, and agrees with the reference wherever it accepts the
 * block (liblz4 wants 12 literals or more at the end).
 */
TEST(lz4_short_sequences)
{
	static uint8_t ref[MAXLEN];

	for (int round = 0; round < 400; round++) {
		size_t n = 0, len = 0, bad_at = round % 4 == 3 ? 1 + rnd() % 500 : 0;
		size_t tail = round % 20, want = round % 2 ? 60000 : 200 + rnd() % 300;
		int r;

		for (size_t seq = 0; len < want; seq++) {
			size_t lit = rnd() % 15, ml = 4 + rnd() % (rnd() % 4 ? 15 : 147);
			size_t off = rnd() % 3 ? 1 + rnd() % 40 : 1 + rnd() % 65535;

			if (seq == 0)
				lit = 14;
			if (off > len + lit)
				off = 1 + rnd() % (len + lit);
			n += put_token(enc + n, lit, ml);
			for (size_t i = 0; i < lit; i++)
				enc[n++] = in[len++] = (uint8_t)rnd();
			if (bad_at && seq == bad_at)	/* 0, or past what was written */
				off = round % 8 == 3 ? 0 :
				      len + 1 + (round % 16 == 7 ? 0 : rnd() % 100);
			n += put_match(enc + n, off, ml);
			for (size_t i = 0; i < ml; i++, len++)
				in[len] = off && off <= len ? in[len - off] : 0;
		}
		n += put_token(enc + n, tail, 4);	/* the last literals */
		for (size_t i = 0; i < tail; i++)
			enc[n++] = in[len++] = (uint8_t)rnd();
		if (bad_at) {
			ASSERT(!decode_both(enc, n, len));
			continue;
		}
		ASSERT(decode_both(enc, n, len));
		ASSERT(memcmp(out, in, len) == 0);
		r = LZ4_decompress_safe((const char *)enc, (char *)ref, (int)n, (int)len);
		if (r == (int)len)
			ASSERT(memcmp(ref, in, len) == 0);
		else
			ASSERT(tail < 12);
	}
}

/*
 * The end of a block, every way: after 104 bytes, one sequence (0-17
 * literals, a match of 4-22 bytes 1-18, 24 or 40 back) and 0-20 last
 * literals. Both decoders give what was encoded and write nothing past
 * the end, nor past a shorter output they must refuse the block for: the
 * room tests of the fast path and of the word copies meet the end of the
 * output here.
 */
TEST(lz4_block_ends)
{
	static const size_t offs[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
				       14, 15, 16, 17, 18, 24, 40 };
	uint8_t blk[256], want[256], got[256 + GUARD], got2[256 + GUARD];

	for (size_t i = 0; i < 100; i++)
		want[i] = (uint8_t)rnd();
	for (size_t lit = 0; lit < 18; lit++)
		for (size_t ml = 4; ml < 23; ml++)
			for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
				for (size_t tail = 0; tail < 21; tail++) {
		size_t n = 0, len = 104, off = offs[o];
		uint64_t check;

		n += put_token(blk, 100, 4);	/* 100 literals, 4 bytes 1 back */
		memcpy(blk + n, want, 100);
		n += 100;
		n += put_match(blk + n, 1, 4);
		memset(want + 100, want[99], 4);
		n += put_token(blk + n, lit, ml);
		for (size_t i = 0; i < lit; i++)
			blk[n++] = want[len++] = (uint8_t)rnd();
		n += put_match(blk + n, off, ml);
		for (size_t i = 0; i < ml; i++, len++)
			want[len] = want[len - off];
		n += put_token(blk + n, tail, 4);
		for (size_t i = 0; i < tail; i++)
			blk[n++] = want[len++] = (uint8_t)rnd();
		memset(got, 0xa5, sizeof(got));
		memset(got2, 0x5a, sizeof(got2));
		ASSERT(elfimg_lz4_decode(blk, n, got, len));
		ASSERT(elfimg_lz4_decode_xxh64(blk, n, got2, len, len, 0, &check));
		ASSERT(memcmp(got, want, len) == 0 && memcmp(got2, want, len) == 0);
		ASSERT_EQ(check, elfimg_xxh64(want, len, 0));
		for (size_t g = len; g < len + GUARD; g++)
			ASSERT(got[g] == 0xa5 && got2[g] == 0x5a);
		/* too little room: refused, and still nothing written past it */
		for (size_t k = 1; k <= 12; k++) {
			memset(got, 0xa5, sizeof(got));
			memset(got2, 0x5a, sizeof(got2));
			ASSERT(!elfimg_lz4_decode(blk, n, got, len - k));
			ASSERT(!elfimg_lz4_decode_xxh64(blk, n, got2, len - k, len - k, 0,
							&check));
			for (size_t g = len - k; g < len - k + GUARD; g++)
				ASSERT(got[g] == 0xa5 && got2[g] == 0x5a);
		}
	}
}

/*
 * Every truncation of a valid block is refused, and random damage never
 * writes past the output or yields something else than the reference
 * decoder when both accept it.
 */
TEST(lz4_truncated_and_damaged)
{
	static uint8_t ref[MAXLEN], dam[8192];
	size_t len = 6000, n;

	fill(in, len, MIXED, 0);
	n = elfimg_lz4_encode(in, len, enc, sizeof(enc), table);
	ASSERT(n > 0 && n < sizeof(dam));
	for (size_t cut = 0; cut < n; cut++)
		ASSERT(!decode_both(enc, cut, len));
	for (int round = 0; round < 20000; round++) {
		bool ours;
		int r;

		memcpy(dam, enc, n);
		for (int k = 1 + (int)(rnd() % 4); k > 0; k--)
			dam[rnd() % n] = (uint8_t)rnd();
		ours = decode_both(dam, n, len);
		r = LZ4_decompress_safe((const char *)dam, (char *)ref, (int)n,
					(int)len);
		if (ours && r == (int)len)
			ASSERT(memcmp(out, ref, len) == 0);
	}
}
