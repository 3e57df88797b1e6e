/* SPDX-License-Identifier: MIT */
/*
 * elfimg: the kjresume image format (docs/FORMAT.md is normative).
 *
 * The reader half (read.c, chunk.c) is pure C: no libc beyond memcpy and
 * memset (see elfimg/compat.h), no allocation, no <efi.h>. It depends on
 * libfdt's read-only API and on zlib (crc32(), inflate*()), both through
 * their public headers. It builds with the EFI flags and on the host.
 *
 * The writer half (write.c, elfimg-write.h) is host-only.
 */
#ifndef KJ_ELFIMG_H
#define KJ_ELFIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfimg/format.h"

enum elfimg_err {
	ELFIMG_OK = 0,
	ELFIMG_E_TRUNCATED,		/* buffer ends inside a structure */
	ELFIMG_E_NOT_ELF,		/* bad magic */
	ELFIMG_E_UNSUPPORTED_ELF,	/* not ELF64 LSB x86-64 ET_CORE v1 */
	ELFIMG_E_BAD_EHDR,		/* inconsistent ELF header fields */
	ELFIMG_E_BAD_PHDR,		/* bad program header table */
	ELFIMG_E_BAD_XNUM,		/* PN_XNUM without a valid section 0 */
	ELFIMG_E_SEG_BOUNDS,		/* segment data outside the file or overflowing */
	ELFIMG_E_SEG_FILESZ,		/* p_filesz > p_memsz */
	ELFIMG_E_SEG_ALIGN,		/* p_align violated, or unaligned kj segment */
	ELFIMG_E_SEG_OVERLAP,		/* segments overlap in physical memory */
	ELFIMG_E_SEG_HEADERS,		/* segment data overlaps the headers */
	ELFIMG_E_SEG_TYPE,		/* PT_LOAD in a kj image or vice versa */
	ELFIMG_E_TOO_MANY_SEGS,		/* caller's segment table too small */
	ELFIMG_E_NO_SEGS,		/* nothing to restore */
	ELFIMG_E_BAD_NOTE,		/* malformed note list */
	ELFIMG_E_DUP_NOTE,		/* a note that must be unique is not */
	ELFIMG_E_RESUME_NOTE,		/* LINUXKJUMP note malformed or unknown version */
	ELFIMG_E_STATE_NOTE,		/* KJRESUME state note missing or misplaced */
	ELFIMG_E_HDR_CRC,		/* header checksum mismatch */
	ELFIMG_E_FDT,			/* metadata FDT fails libfdt's checks */
	ELFIMG_E_META,			/* metadata missing, malformed or inconsistent */
	ELFIMG_E_VERSION,		/* newer format version or unknown incompat bits */
	ELFIMG_E_INDEX,			/* chunk index inconsistent */
	ELFIMG_E_NO_ENTRY,		/* no jump-back entry known */
	ELFIMG_E_ENTRY,			/* entry outside every segment */
	ELFIMG_E_MEMMAP,		/* segment outside the recorded memory map */
	ELFIMG_E_SCRATCH,		/* segment overlaps the scratch region */
	ELFIMG_E_FILE_SIZE,		/* image data extends past the file */
	ELFIMG_E_INCOMPLETE,		/* image state is "being written" */
	ELFIMG_E_CONSUMED,		/* image state is "consumed" */
	ELFIMG_E_PLAIN,			/* plain core where a kj image is required */
	ELFIMG_E_CHUNK_DATA,		/* chunk fails to decompress or has wrong size */
	ELFIMG_E_CHUNK_CRC,		/* chunk check (CRC32 or XXH64) mismatch */
	ELFIMG_E_ARG,			/* invalid argument from the caller */
	ELFIMG_E_IO,			/* I/O error (tools only) */
	ELFIMG_E_NOMEM,			/* allocation failed (writer only) */
	ELFIMG_E__MAX
};

const char *elfimg_strerror(enum elfimg_err err);

enum elfimg_kind {
	ELFIMG_KIND_PLAIN = 1,	/* /proc/vmcore copy or makedumpfile -E */
	ELFIMG_KIND_KJ,		/* written by the kjresume writer */
};

/* One restorable range, sorted by paddr, disjoint. */
struct elfimg_segment {
	uint64_t paddr;		/* physical start */
	uint64_t memsz;		/* bytes restored at paddr */
	uint64_t offset;	/* plain: file offset of the data */
	uint64_t filesz;	/* plain: bytes in the file; rest is zero-filled */
	uint64_t first_chunk;	/* kj: index of its first chunk */
	uint64_t nchunks;	/* kj: number of chunks */
};

/* Parse options. Zero-initialise; unset fields mean "no". */
struct elfimg_opts {
	bool allow_plain;	/* accept a plain core (no KJRESUME notes) */
	bool have_entry;	/* entry below overrides a missing note */
	uint64_t entry;
};

struct elfimg_info {
	enum elfimg_kind kind;
	uint32_t state;			/* ELFIMG_STATE_*, 0 for plain cores */
	uint64_t hdr_len;		/* bytes of the headers region */
	size_t nsegs;			/* entries filled in the caller's table */
	size_t nignored;		/* plain: contained duplicates dropped */
	uint64_t total_bytes;		/* sum of memsz */

	bool have_entry;
	uint64_t entry;			/* jump-back entry (physical) */
	bool have_resume_note;
	uint32_t resume_flags;		/* ELFIMG_RESUME_* from LINUXKJUMP */
	char release[ELFIMG_RELEASE_LEN];	/* NUL-terminated */
	bool have_inplace;		/* LINUXKJUMP type 2 (B's core) */
	uint64_t inplace_entry;
	uint64_t inplace_list;

	const char *vmcoreinfo;		/* into buf, not NUL-terminated */
	size_t vmcoreinfo_len;

	/* kj images only */
	const void *fdt;		/* the metadata FDT, into buf */
	size_t fdt_len;
	uint32_t version;
	uint32_t incompat;
	uint32_t chunk_size;
	uint32_t data_align;
	uint64_t data_start;
	uint64_t data_end;		/* the file must be at least this long */
	const struct elfimg_chunk *index;	/* into buf; LE on disk */
	uint64_t nchunks;
	uint64_t stored_bytes;		/* sum of chunk stored sizes */
	size_t nmemmap, nscratch, nextents;
	/* private: property payloads inside fdt */
	const uint8_t *memmap_p, *scratch_p, *extents_p;
};

/*
 * elfimg_probe() - how many leading bytes of the file elfimg_parse() needs
 * @buf: the first bytes of the file (at least 4 KiB, or the whole file)
 * @len: bytes in @buf
 * @need: set to the length of the headers region
 *
 * Return: ELFIMG_OK (then read *@need bytes and call elfimg_parse()), or
 * an error if even the first bytes are not an image.
 */
enum elfimg_err elfimg_probe(const void *buf, size_t len, uint64_t *need);

/*
 * elfimg_parse() - validate the headers region and build the segment table
 * @buf:      the first bytes of the file, at least elfimg_probe()'s need;
 *            8-byte aligned (libfdt reads the metadata FDT in place)
 * @len:      bytes in @buf
 * @opts:     options, may be NULL
 * @info:     filled on success (and partially on failure)
 * @segs:     caller's table, receives the segments sorted by paddr
 * @max_segs: its capacity; plain cores need room for every PT_LOAD
 *
 * Nothing in @buf is trusted before this returns ELFIMG_OK. @info keeps
 * pointers into @buf. A kj image still being written yields
 * ELFIMG_E_INCOMPLETE (with info->state set) and nothing else is checked;
 * COMPLETE and CONSUMED images parse, and elfimg_check_resumable() tells
 * them apart. The file size is checked by elfimg_check_file_size().
 *
 * Return: ELFIMG_OK or the first problem found.
 */
enum elfimg_err elfimg_parse(const void *buf, size_t len,
			     const struct elfimg_opts *opts,
			     struct elfimg_info *info,
			     struct elfimg_segment *segs, size_t max_segs);

/* ELFIMG_OK iff the whole image fits a file of @file_size bytes. */
enum elfimg_err elfimg_check_file_size(const struct elfimg_info *info,
				       const struct elfimg_segment *segs,
				       uint64_t file_size);

/*
 * elfimg_check_resumable() - the loader's gate
 * A kj image must be COMPLETE; a plain core passes only if @allow_plain.
 */
enum elfimg_err elfimg_check_resumable(const struct elfimg_info *info,
				       bool allow_plain);

/* Read one decoded chunk index entry (host byte order). */
struct elfimg_chunk_info {
	uint64_t offset;
	uint32_t stored;
	uint64_t check;		/* CRC32, or XXH64 (ELFIMG_INCOMPAT_XXH64) */
	uint64_t zero_map;
	uint32_t method;
	bool xxh64;
};
void elfimg_chunk_get(const struct elfimg_info *info, uint64_t i,
		      struct elfimg_chunk_info *out);

/* Bytes of memory covered by chunk @k (0-based) of @seg. */
uint64_t elfimg_chunk_len(const struct elfimg_info *info,
			  const struct elfimg_segment *seg, uint64_t k);

/* Metadata arrays from the FDT (kj images). Return false if @i is out of range. */
struct elfimg_range { uint64_t start, size, type; };
struct elfimg_extent { uint64_t file_offset, dev_offset, length; };
bool elfimg_memmap_get(const struct elfimg_info *info, size_t i,
		       struct elfimg_range *out);
bool elfimg_scratch_get(const struct elfimg_info *info, size_t i,
			struct elfimg_range *out);
bool elfimg_extent_get(const struct elfimg_info *info, size_t i,
		       struct elfimg_extent *out);

/*
 * elfimg_extent_map() - file offset -> device offset through /extents
 * @contig: set to the bytes readable contiguously on the device from there
 * Return: false if the image has no extents or @file_off is past them.
 */
bool elfimg_extent_map(const struct elfimg_info *info, uint64_t file_off,
		       uint64_t *dev_off, uint64_t *contig);

/* Where the state word lives, and the bytes that mean each state. */
static inline void elfimg_state_encode(uint32_t state, uint8_t out[4])
{
	out[0] = state & 0xff;
	out[1] = (state >> 8) & 0xff;
	out[2] = (state >> 16) & 0xff;
	out[3] = state >> 24;
}

/*
 * elfimg_mark() - rewrite the state word in an in-memory copy of the
 * first sector(s); the caller writes that sector back to disk.
 * Only WRITING->COMPLETE and COMPLETE->CONSUMED are allowed.
 */
enum elfimg_err elfimg_mark(void *sector, size_t len, uint32_t new_state);

/*
 * Chunk decoding (chunk.c). The inflater keeps zlib's state in a
 * caller-provided arena: no allocation. One inflater per thread.
 */
#define ELFIMG_INFLATE_ARENA (64 * 1024)
struct elfimg_inflater {
	void *zs;			/* z_stream, inside arena */
	size_t used;
	bool ready;
	_Alignas(16) uint8_t arena[ELFIMG_INFLATE_ARENA];
};
enum elfimg_err elfimg_inflater_init(struct elfimg_inflater *inf);
void elfimg_inflater_fini(struct elfimg_inflater *inf);

/*
 * elfimg_chunk_decode() - turn stored chunk bytes into memory bytes
 * @inf:    an initialised inflater (needed for zlib chunks)
 * @ci:     the chunk's index entry
 * @src:    the @ci->stored bytes read from the file at @ci->offset
 * @dst:    receives exactly @dst_len bytes (elfimg_chunk_len())
 * @check_crc: verify the chunk's check (elfimg_chunk_check()) of the result
 */
enum elfimg_err elfimg_chunk_decode(struct elfimg_inflater *inf,
				    const struct elfimg_chunk_info *ci,
				    const void *src, void *dst, size_t dst_len,
				    bool check_crc);

/* CRC32 (zlib's) of a buffer, continuing from @crc (start with 0). */
uint32_t elfimg_crc32(uint32_t crc, const void *buf, size_t len);

/* XXH64 of a buffer (xxh64.c). */
uint64_t elfimg_xxh64(const void *buf, size_t len, uint64_t seed);

/*
 * Whether elfimg_chunk_decode() with @check_crc checks @ci's chunk in the
 * same pass as it decodes it (stored and LZ4 chunks with an XXH64 check:
 * each byte is hashed as it is written, not read again afterwards).
 */
bool elfimg_chunk_one_pass(const struct elfimg_chunk_info *ci);

/* The check a chunk's index entry holds (@ci->check), of its @len memory
 * bytes: XXH64 or CRC32 as the image says. */
uint64_t elfimg_chunk_check(const struct elfimg_chunk_info *ci,
			    const void *buf, size_t len);

#endif
