// SPDX-License-Identifier: MIT
/*
 * LZ4 block encoder (host, kjsave): one greedy pass with a hash table of
 * the last position of each 4-byte prefix, skipping ahead faster the
 * longer no match turns up (random pages cost little). Output follows the
 * block format's end rules so that any LZ4 decoder takes it: the last
 * match starts at least 12 bytes before the end, the last 5 bytes are
 * literals.
 */
#include <string.h>

#include "elfimg/lz4.h"

#define MIN_MATCH	4
#define MAX_OFFSET	65535
#define MF_LIMIT	12	/* no match starts in the last 12 bytes */
#define LAST_LITERALS	5	/* no match covers the last 5 bytes */
#define SKIP_SHIFT	6	/* step grows by 1 every 64 misses */

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint32_t hash4(uint32_t v)
{
	return (v * 2654435761u) >> (32 - 12);	/* 12 bits: ELFIMG_LZ4_TABLE */
}

/* Common prefix length of @a and @b, at most @max bytes. */
static size_t common(const uint8_t *a, const uint8_t *b, size_t max)
{
	size_t n = 0;

	while (n + 8 <= max) {
		uint64_t x, y;

		memcpy(&x, a + n, 8);
		memcpy(&y, b + n, 8);
		if (x != y)
			return n + (size_t)(__builtin_ctzll(x ^ y) >> 3);
		n += 8;
	}
	while (n < max && a[n] == b[n])
		n++;
	return n;
}

static uint8_t *put_len(uint8_t *op, size_t r)
{
	for (; r >= 255; r -= 255)
		*op++ = 255;
	*op++ = (uint8_t)r;
	return op;
}

/*
 * Appends one sequence (@ml == 0: the last, literals only). NULL if it
 * would pass @end.
 */
static uint8_t *put_seq(uint8_t *op, const uint8_t *end, const uint8_t *lit,
			size_t nlit, size_t off, size_t ml)
{
	size_t need = 1 + nlit + (nlit >= 15 ? (nlit - 15) / 255 + 1 : 0);
	uint8_t *tok = op;

	if (ml)
		need += 2 + (ml - MIN_MATCH >= 15 ?
			     (ml - MIN_MATCH - 15) / 255 + 1 : 0);
	if (need > (size_t)(end - op))
		return NULL;
	op++;
	*tok = (uint8_t)((nlit < 15 ? nlit : 15) << 4);
	if (nlit >= 15)
		op = put_len(op, nlit - 15);
	memcpy(op, lit, nlit);
	op += nlit;
	if (ml == 0)
		return op;
	*op++ = (uint8_t)off;
	*op++ = (uint8_t)(off >> 8);
	ml -= MIN_MATCH;
	*tok |= (uint8_t)(ml < 15 ? ml : 15);
	if (ml >= 15)
		op = put_len(op, ml - 15);
	return op;
}

size_t elfimg_lz4_encode(const uint8_t *src, size_t len,
			 uint8_t *dst, size_t cap, uint32_t *table)
{
	uint8_t *op = dst;
	const uint8_t *end = dst + cap;
	size_t anchor = 0, ip = 0, misses = 0;

	if (!src || !dst || !table || len > UINT32_MAX)
		return 0;
	memset(table, 0, ELFIMG_LZ4_TABLE * sizeof(*table));
	while (len >= MF_LIMIT + 1 && ip < len - MF_LIMIT) {
		uint32_t v = rd32(src + ip), h = hash4(v);
		size_t cand = table[h], ml;

		table[h] = (uint32_t)ip;
		if (cand >= ip || ip - cand > MAX_OFFSET || rd32(src + cand) != v) {
			ip += 1 + (misses++ >> SKIP_SHIFT);
			continue;
		}
		misses = 0;
		while (ip > anchor && cand > 0 && src[ip - 1] == src[cand - 1]) {
			ip--;
			cand--;
		}
		ml = MIN_MATCH + common(src + ip + MIN_MATCH,
					src + cand + MIN_MATCH,
					len - LAST_LITERALS - ip - MIN_MATCH);
		op = put_seq(op, end, src + anchor, ip - anchor, ip - cand, ml);
		if (!op)
			return 0;
		ip += ml;
		anchor = ip;
		if (ip >= 2 && ip < len - MF_LIMIT)	/* seed the table */
			table[hash4(rd32(src + ip - 2))] = (uint32_t)(ip - 2);
	}
	op = put_seq(op, end, src + anchor, len - anchor, 0, 0);
	return op ? (size_t)(op - dst) : 0;
}
