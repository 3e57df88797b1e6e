// SPDX-License-Identifier: MIT
/*
 * nzpages FILE OFFSET SIZE: how many 4 KiB pages of FILE[OFFSET, +SIZE)
 * are not all zero. tests/bench/resume.sh uses it for the size of a
 * swsusp image: the swap partition is zeros before mkswap, and swsusp
 * writes its header, metadata and (compressed) data pages into it.
 */
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: nzpages FILE OFFSET SIZE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	off_t off = strtoll(argv[2], NULL, 0);
	long long left = strtoll(argv[3], NULL, 0), nz = 0;
	static unsigned char buf[4 << 20];
	static const unsigned char zero[4096];
	while (left > 0) {
		size_t want = left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t n = pread(fd, buf, want, off);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i += 4096) {
			size_t l = n - i < 4096 ? (size_t)(n - i) : 4096;
			if (memcmp(buf + i, zero, l))
				nz++;
		}
		off += n;
		left -= n;
	}
	printf("%lld\n", nz);
	return 0;
}
