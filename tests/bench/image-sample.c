// SPDX-License-Identifier: MIT
/*
 * image-sample IMAGE OUT: writes the memory of every fifth whole chunk of a
 * kjresume image (decoded and checked), at most 64 MiB, to OUT: real
 * memory for tests/bench/decode-efi.sh (KJ_DECODE_MEM=OUT). An image to
 * sample: KJ_BENCH_KEEP_IMAGE=1 tests/bench/resume.sh keeps them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "elfimg/elfimg.h"

#define CAP	(64u << 20)
#define MAXSEGS	65536

int main(int argc, char **argv)
{
	static struct elfimg_segment segs[MAXSEGS];
	static struct elfimg_info info;
	struct elfimg_inflater inf;
	uint64_t need, k = 0;
	size_t total = 0;
	struct stat st;
	uint8_t *img, *hdr, *buf;
	enum elfimg_err e;
	FILE *out;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: image-sample IMAGE OUT\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) ||
	    (img = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		perror(argv[1]);
		return 1;
	}
	if ((e = elfimg_probe(img, st.st_size < 4096 ? st.st_size : 4096, &need)) ||
	    !(hdr = aligned_alloc(8, (need + 7) & ~7ull)) ||
	    (memcpy(hdr, img, need),
	     e = elfimg_parse(hdr, need, NULL, &info, segs, MAXSEGS)) ||
	    (e = elfimg_check_file_size(&info, segs, st.st_size)) ||
	    (e = elfimg_inflater_init(&inf))) {
		fprintf(stderr, "%s: %s\n", argv[1], elfimg_strerror(e));
		return 1;
	}
	if (!(buf = malloc(info.chunk_size)) || !(out = fopen(argv[2], "wb"))) {
		perror(argv[2]);
		return 1;
	}
	for (size_t s = 0; s < info.nsegs; s++)
		for (uint64_t c = 0; c < segs[s].nchunks; c++, k++) {
			uint64_t len = elfimg_chunk_len(&info, &segs[s], c);
			struct elfimg_chunk_info ci;

			if (k % 5 || len != info.chunk_size || total + len > CAP)
				continue;
			elfimg_chunk_get(&info, segs[s].first_chunk + c, &ci);
			if (!ci.stored)
				memset(buf, 0, len);
			else if ((e = elfimg_chunk_decode(&inf, &ci, img + ci.offset, buf,
							  len, true))) {
				fprintf(stderr, "chunk %llu: %s\n",
					(unsigned long long)(segs[s].first_chunk + c),
					elfimg_strerror(e));
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
	return 0;
}
