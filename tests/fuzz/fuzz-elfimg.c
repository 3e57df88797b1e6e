// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the elfimg reader: the input is a whole image
 * file. Probe, parse, check the file size, then decode (with CRC) every
 * chunk that the parser accepted, exactly as the loader would.
 *
 *   make build/fuzz/fuzz-elfimg
 *   build/fuzz/fuzz-elfimg -max_total_time=60 tests/fuzz/corpus-elfimg
 *
 * Seeds: tests/fuzz/corpus-elfimg/ (regenerate with
 * KJ_ELFIMG_CORPUS=tests/fuzz/corpus-elfimg build/tests/test-elfimg emit_corpus);
 * regress-* seeds are inputs that once crashed.
 *
 * `make fuzz-smoke` runs it for 15 s. Long run (on a scratch copy of the
 * corpus, so that the tree keeps only the small seeds):
 *   mkdir -p /tmp/corpus && cp -r tests/fuzz/corpus-elfimg/. /tmp/corpus/
 *   build/fuzz/fuzz-elfimg -max_total_time=3600 -print_final_stats=1 \
 *       /tmp/corpus
 *
 * The build defines ELFIMG_FUZZING: header and index CRC mismatches are
 * ignored so that mutations reach the FDT and index checks behind them.
 * Chunk CRCs are still checked.
 *
 * Results so far: 60 s runs, ~8 M execs each. The first run found a NULL
 * dereference inside libfdt 1.6.1's fdt_check_full() on an FDT claiming
 * version 9 (seed regress-fdt-v9); the reader now accepts only version-17
 * blobs. No crash since.
 */
#include <stdlib.h>
#include <string.h>

#include "elfimg/elfimg.h"

#define MAX_SEGS 4096

static struct elfimg_segment segs[MAX_SEGS];
static struct elfimg_inflater inf;
static uint8_t out[ELFIMG_MAX_CHUNK];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elfimg_opts opts = { .allow_plain = true, .have_entry = true,
				    .entry = 0x1000 };
	struct elfimg_info info;
	uint64_t need = 0;
	uint8_t *copy;

	if (elfimg_probe(data, size, &need) != ELFIMG_OK || need > size)
		need = size;
	/* an exact-size heap copy: ASan sees any read past the headers */
	copy = malloc(need ? need : 1);
	memcpy(copy, data, need);
	if (elfimg_parse(copy, need, size & 1 ? &opts : NULL, &info, segs,
			 MAX_SEGS) != ELFIMG_OK)
		goto out;
	(void)elfimg_check_resumable(&info, true);
	if (elfimg_check_file_size(&info, segs, size) != ELFIMG_OK)
		goto out;
	if (info.kind == ELFIMG_KIND_KJ) {
		if (elfimg_inflater_init(&inf) != ELFIMG_OK)
			abort();
		for (size_t s = 0; s < info.nsegs; s++) {
			for (uint64_t k = 0; k < segs[s].nchunks && k < 64; k++) {
				struct elfimg_chunk_info ci;
				uint64_t len = elfimg_chunk_len(&info, &segs[s], k);

				elfimg_chunk_get(&info, segs[s].first_chunk + k, &ci);
				if (ci.stored && ci.offset + ci.stored > size)
					abort();	/* parse promised otherwise */
				(void)elfimg_chunk_decode(&inf, &ci,
							  data + ci.offset, out,
							  len, true);
			}
		}
		elfimg_inflater_fini(&inf);
		for (uint64_t off = 0, i = 0; off < info.data_end && i < 1024;
		     off += 4096, i++) {
			uint64_t dev, contig;

			if (!elfimg_extent_map(&info, off, &dev, &contig))
				break;
			if (contig == 0)
				abort();
		}
		{
			uint8_t sector[512];

			if (need >= 512) {
				memcpy(sector, copy, 512);
				(void)elfimg_mark(sector, 512,
						  ELFIMG_STATE_CONSUMED);
			}
		}
	} else {
		for (size_t s = 0; s < info.nsegs; s++)
			if (segs[s].offset + segs[s].filesz > size)
				abort();
	}
out:
	free(copy);
	return 0;
}
