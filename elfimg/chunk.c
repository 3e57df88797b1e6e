// SPDX-License-Identifier: MIT
/*
 * Chunk decoding: stored, raw-DEFLATE or LZ4 bytes of the non-zero 4 KiB
 * units of a chunk -> the chunk's memory bytes, then the chunk check.
 * zlib's state lives in the inflater's arena (zalloc below), so nothing is
 * allocated.
 */
#include <zlib.h>

#include "elfimg/compat.h"
#include "elfimg/elfimg.h"
#include "elfimg/lz4.h"
#include "elfimg/xxh64.h"

static voidpf arena_alloc(voidpf opaque, uInt items, uInt size)
{
	struct elfimg_inflater *inf = opaque;
	uint64_t want = (uint64_t)items * size;
	size_t at = (inf->used + 15) & ~(size_t)15;

	if (want > sizeof(inf->arena) || at > sizeof(inf->arena) - want)
		return Z_NULL;
	inf->used = at + want;
	return inf->arena + at;
}

static void arena_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	(void)p;	/* the arena is reset as a whole */
}

enum elfimg_err elfimg_inflater_init(struct elfimg_inflater *inf)
{
	z_stream *zs;

	if (!inf)
		return ELFIMG_E_ARG;
	inf->used = 0;
	inf->ready = false;
	zs = arena_alloc(inf, 1, sizeof(*zs));
	if (!zs)
		return ELFIMG_E_NOMEM;
	kj_memset(zs, 0, sizeof(*zs));
	zs->zalloc = arena_alloc;
	zs->zfree = arena_free;
	zs->opaque = inf;
	if (inflateInit2(zs, -15) != Z_OK)
		return ELFIMG_E_NOMEM;
	inf->zs = zs;
	inf->ready = true;
	return ELFIMG_OK;
}

void elfimg_inflater_fini(struct elfimg_inflater *inf)
{
	if (inf && inf->ready)
		inflateEnd(inf->zs);
	if (inf) {
		inf->ready = false;
		inf->used = 0;
	}
}

static enum elfimg_err inflate_exact(struct elfimg_inflater *inf,
				     const void *src, size_t src_len,
				     void *dst, size_t dst_len)
{
	z_stream *zs = inf->zs;
	int rc;

	if (!inf->ready || src_len > UINT32_MAX || dst_len > UINT32_MAX)
		return ELFIMG_E_ARG;
	if (inflateReset(zs) != Z_OK)
		return ELFIMG_E_CHUNK_DATA;
	zs->next_in = (Bytef *)(uintptr_t)src;
	zs->avail_in = (uInt)src_len;
	zs->next_out = dst;
	zs->avail_out = (uInt)dst_len;
	rc = inflate(zs, Z_FINISH);
	if (rc != Z_STREAM_END || zs->avail_in != 0 || zs->avail_out != 0)
		return ELFIMG_E_CHUNK_DATA;
	return ELFIMG_OK;
}

/*
 * The packed non-zero units sit at the start of dst; spread them to their
 * places from the last unit down (each moves up or stays), zeroing the
 * zero units.
 */
static void expand_units(uint8_t *dst, size_t len, size_t packed,
			 uint64_t zero_map)
{
	size_t units = (len + ELFIMG_UNIT - 1) / ELFIMG_UNIT;

	for (size_t u = units; u-- > 0;) {
		size_t at = u * ELFIMG_UNIT;
		size_t ulen = u + 1 < units ? ELFIMG_UNIT : len - at;

		if (zero_map >> u & 1) {
			kj_memset(dst + at, 0, ulen);
		} else {
			packed -= ulen;
			kj_move_up(dst + at, dst + packed, ulen);
		}
	}
}

uint64_t elfimg_chunk_check(const struct elfimg_chunk_info *ci,
			    const void *buf, size_t len)
{
	return ci->xxh64 ? elfimg_xxh64(buf, len, 0) : elfimg_crc32(0, buf, len);
}

bool elfimg_chunk_one_pass(const struct elfimg_chunk_info *ci)
{
	return ci && ci->xxh64 &&
	       (ci->method == ELFIMG_METHOD_STORED || ci->method == ELFIMG_METHOD_LZ4);
}

/*
 * Stored units copied to their places and hashed from the registers they
 * pass through; zero units written and hashed without reading them. The
 * chunk's last len % 32 bytes are hashed from @dst, where they now are.
 */
static uint64_t stored_copy_xxh64(const uint8_t *src, uint8_t *dst, size_t len,
				  uint64_t zero_map)
{
	size_t units = (len + ELFIMG_UNIT - 1) / ELFIMG_UNIT;
	struct xxh64_lanes l;

	xxh_lanes_init(&l, 0);
	for (size_t u = 0; u < units; u++) {
		size_t at = u * ELFIMG_UNIT;
		size_t ulen = u + 1 < units ? ELFIMG_UNIT : len - at;
		size_t whole = ulen & ~(size_t)31;

		if (zero_map >> u & 1) {
			kj_memset(dst + at, 0, ulen);
			xxh_zero_stripes(&l, whole);
		} else {
			xxh_stripes(&l, src, whole, dst + at);
			kj_memcpy(dst + at + whole, src + whole, ulen - whole);
			src += ulen;
		}
	}
	return xxh_finish(&l, 0, len, dst + (len & ~(size_t)31));
}

enum elfimg_err elfimg_chunk_decode(struct elfimg_inflater *inf,
				    const struct elfimg_chunk_info *ci,
				    const void *src, void *dst, size_t dst_len,
				    bool check_crc)
{
	size_t units = (dst_len + ELFIMG_UNIT - 1) / ELFIMG_UNIT, nz;
	bool one_pass = check_crc && elfimg_chunk_one_pass(ci);
	uint64_t check = 0;
	enum elfimg_err err;

	if (!ci || !dst || dst_len == 0 || dst_len > ELFIMG_MAX_CHUNK ||
	    (ci->stored && !src))
		return ELFIMG_E_ARG;
	if (units < 64 && ci->zero_map >> units)
		return ELFIMG_E_CHUNK_DATA;
	nz = elfimg_packed_len(dst_len, ci->zero_map);

	switch (ci->method) {
	case ELFIMG_METHOD_STORED:
		if (ci->stored != nz)
			return ELFIMG_E_CHUNK_DATA;
		if (one_pass) {
			check = stored_copy_xxh64(src, dst, dst_len, ci->zero_map);
			break;
		}
		if (nz == dst_len) {
			kj_memcpy(dst, src, nz);
			break;
		}
		/* copy each unit straight to its place */
		for (size_t u = 0, p = 0; u < units; u++) {
			size_t at = u * ELFIMG_UNIT;
			size_t ulen = u + 1 < units ? ELFIMG_UNIT : dst_len - at;

			if (ci->zero_map >> u & 1) {
				kj_memset((uint8_t *)dst + at, 0, ulen);
			} else {
				kj_memcpy((uint8_t *)dst + at,
					  (const uint8_t *)src + p, ulen);
				p += ulen;
			}
		}
		break;
	case ELFIMG_METHOD_DEFLATE:
	case ELFIMG_METHOD_LZ4:		/* the packed units, then spread */
		if (nz == 0 || ci->stored == 0)
			return ELFIMG_E_CHUNK_DATA;
		if (ci->method == ELFIMG_METHOD_DEFLATE)
			err = inflate_exact(inf, src, ci->stored, dst, nz);
		else if (one_pass)
			err = elfimg_lz4_decode_xxh64(src, ci->stored, dst, nz, dst_len,
						      ci->zero_map, &check) ?
			      ELFIMG_OK : ELFIMG_E_CHUNK_DATA;
		else
			err = elfimg_lz4_decode(src, ci->stored, dst, nz) ?
			      ELFIMG_OK : ELFIMG_E_CHUNK_DATA;
		if (err)
			return err;
		if (nz != dst_len)
			expand_units(dst, dst_len, nz, ci->zero_map);
		break;
	default:
		return ELFIMG_E_CHUNK_DATA;
	}
	if (one_pass)
		return check == ci->check ? ELFIMG_OK : ELFIMG_E_CHUNK_CRC;
	if (check_crc && elfimg_chunk_check(ci, dst, dst_len) != ci->check)
		return ELFIMG_E_CHUNK_CRC;
	return ELFIMG_OK;
}
