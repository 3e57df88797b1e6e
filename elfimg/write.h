/* SPDX-License-Identifier: MIT */
/*
 * elfimg writer: host-only (malloc, pthreads, libfdt read-write API, zlib
 * deflate, elfimg/lz4enc.c). With wparams.threads > 1 it compresses that
 * many chunks at once while the caller's thread reads and writes.
 * It produces the kj form of docs/FORMAT.md through caller callbacks, so
 * the same code writes to a file, a block device or a memory buffer.
 *
 * Sequence (the saver adds fsync and FIEMAP between the steps):
 *   elfimg_writer_new()            lay out the headers
 *   elfimg_writer_write_data()     headers (state WRITING), then every chunk
 *   elfimg_writer_set_extents()    optional, after the data is on disk
 *   elfimg_writer_write_headers()  final headers, index, checksums
 *   -- caller: fsync --
 *   elfimg_writer_mark_complete()  parses its own headers with the reader,
 *                                  then rewrites the first sector: COMPLETE
 *   -- caller: fsync --
 */
#ifndef KJ_ELFIMG_WRITE_H
#define KJ_ELFIMG_WRITE_H

#include "elfimg/elfimg.h"

struct elfimg_wseg {
	uint64_t paddr, memsz;
};

struct elfimg_wparams {
	int level;			/* zlib level 0-9; 0 stores chunks raw */
	bool lz4;			/* LZ4 blocks instead of DEFLATE, whatever
					 * the level (for loaders with
					 * INCOMPAT_LZ4) */
	bool crc32;			/* chunk checks in CRC32, not XXH64 (for
					 * loaders older than INCOMPAT_XXH64) */
	uint32_t chunk_size;		/* 0: ELFIMG_DEFAULT_CHUNK */
	unsigned threads;		/* compressing threads; 0 or 1: the
					 * caller's own. The image is the same
					 * byte for byte whatever the number;
					 * the callbacks are only ever called
					 * from the caller's thread. */
	uint32_t data_align;		/* 0: 4096 */

	uint64_t entry;			/* jump-back entry, required */
	uint32_t resume_flags;
	const char *release;		/* may be NULL */
	const struct elfimg_resume_note *resume_note;	/* copied if set */
	const char *vmcoreinfo;		/* copied as a VMCOREINFO note if set */
	size_t vmcoreinfo_len;

	const struct elfimg_range *memmap;	/* sorted, disjoint */
	size_t nmemmap;
	const struct elfimg_range *scratch;	/* sorted, disjoint */
	size_t nscratch;
	size_t extents_reserve;		/* room for this many extents */
	const char *tool;		/* e.g. "kjsave 0.1" */

	/* Fill @buf with @len bytes of memory at @paddr. 0 on success. */
	int (*read_mem)(void *ctx, uint64_t paddr, void *buf, size_t len);
	/* Write @len bytes at file offset @off. 0 on success. */
	int (*write_at)(void *ctx, uint64_t off, const void *buf, size_t len);
	/* Optional: called after each chunk. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

#define ELFIMG_DEFAULT_CHUNK	(64u * 4096u)

struct elfimg_wstats {
	uint64_t mem_bytes;	/* sum of segment sizes */
	uint64_t zero_units;	/* 4 KiB units dropped as zero */
	uint64_t stored_bytes;	/* chunk payload bytes */
	uint64_t compressed_chunks, stored_chunks, empty_chunks;
	uint64_t hdr_len, data_end;
};

struct elfimg_writer;

enum elfimg_err elfimg_writer_new(const struct elfimg_wparams *p,
				  const struct elfimg_wseg *segs, size_t nsegs,
				  struct elfimg_writer **out);
enum elfimg_err elfimg_writer_write_data(struct elfimg_writer *w);
/* Identifies what extents' dev_offset is relative to (all optional). */
struct elfimg_extents_dev {
	const char *device;	/* "MAJ:MIN" of the filesystem's block device */
	uint64_t part_start;	/* its start on the disk, bytes */
	const char *partuuid;	/* GPT partition UUID, if known */
};
enum elfimg_err elfimg_writer_set_extents(struct elfimg_writer *w,
					  const struct elfimg_extent *e,
					  size_t n,
					  const struct elfimg_extents_dev *dev);
enum elfimg_err elfimg_writer_write_headers(struct elfimg_writer *w);
enum elfimg_err elfimg_writer_mark_complete(struct elfimg_writer *w);
const struct elfimg_wstats *elfimg_writer_stats(const struct elfimg_writer *w);
void elfimg_writer_free(struct elfimg_writer *w);

#endif
