/* SPDX-License-Identifier: MIT */
/* Shared code of the host tools kjsave and kjimage. */
#ifndef KJ_TOOLS_COMMON_H
#define KJ_TOOLS_COMMON_H

#include <stdio.h>

#include "elfimg/elfimg.h"

struct img {
	int fd;
	const char *path;
	uint64_t size;		/* file or block device size */
	uint8_t *hdr;		/* the headers region */
	uint64_t hdr_len;
	struct elfimg_info info;
	struct elfimg_segment *segs;
	enum elfimg_err err;	/* of elfimg_parse() */
};

/* Open, read the headers, parse. Returns 0, or -1 with a message printed
 * (a parse error leaves img->err set and still returns 0 if
 * @keep_parse_errors, so that "info" can show what it found). */
int img_open(struct img *img, const char *path, int flags,
	     const struct elfimg_opts *opts, bool keep_parse_errors);
void img_close(struct img *img);

/* pread() the whole range or fail. */
int pread_full(int fd, void *buf, size_t len, uint64_t off);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* Read @len bytes of memory at @paddr from the image (decoding chunks);
 * bytes outside every segment read as zero and are counted in *holes. */
int img_read_mem(struct img *img, uint64_t paddr, void *buf, size_t len,
		 uint64_t *holes, bool check_crc);

uint64_t now_ns(void);
void progress(const char *what, uint64_t done, uint64_t total, bool final);
bool parse_u64(const char *s, uint64_t *v);
const char *state_name(uint32_t state);

extern bool quiet;

#endif
