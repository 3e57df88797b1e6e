// SPDX-License-Identifier: MIT
/*
 * image-sample IMAGE OUT: writes the memory of every fifth whole chunk of a
 * kjresume image (decoded and checked), at most 64 MiB, to OUT: real
 * memory for tests/bench/decode-efi.sh (KJ_DECODE_MEM=OUT). An image to
 * sample: KJ_BENCH_KEEP_IMAGE=1 tests/bench/resume.sh keeps them.
 */
#include <fcntl.h>
#include <stdlib.h>

#include "tools/common.h"

#define CAP	(64u << 20)

int main(int argc, char **argv)
{
	struct img img;
	uint64_t k = 0;
	size_t total = 0;
	uint8_t *buf;
	FILE *out;

	if (argc != 3) {
		fprintf(stderr, "usage: image-sample IMAGE OUT\n");
		return 2;
	}
	if (img_open(&img, argv[1], O_RDONLY, NULL, false))
		return 1;
	if (!(buf = malloc(img.info.chunk_size)) || !(out = fopen(argv[2], "wb"))) {
		perror(argv[2]);
		return 1;
	}
	for (size_t s = 0; s < img.info.nsegs; s++)
		for (uint64_t c = 0; c < img.segs[s].nchunks; c++, k++) {
			uint64_t len = elfimg_chunk_len(&img.info, &img.segs[s], c);

			if (k % 5 || len != img.info.chunk_size || total + len > CAP)
				continue;
			uint64_t paddr = img.segs[s].paddr + c * len;

			if (img_read_mem(&img, paddr, buf, len, NULL, true)) {
				fprintf(stderr, "%s: memory at %#llx does not read back\n",
					argv[1], (unsigned long long)paddr);
				return 1;
			}
			if (fwrite(buf, 1, len, out) != len) {
				perror(argv[2]);
				return 1;
			}
			total += len;
		}
	if (fclose(out)) {
		perror(argv[2]);
		return 1;
	}
	printf("%s: %zu MiB of memory from %llu chunks\n", argv[2], total >> 20,
	       (unsigned long long)k);
	img_close(&img);
	return 0;
}
