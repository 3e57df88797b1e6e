// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "tools/common.h"

bool quiet;

int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void progress(const char *what, uint64_t done, uint64_t total, bool final)
{
	static uint64_t start, last;
	uint64_t t = now_ns();
	double secs;

	if (quiet)
		return;
	if (!start || done == 0)
		start = t;
	if (!final && t - last < 250000000ull)
		return;
	last = t;
	secs = (double)(t - start) / 1e9;
	fprintf(stderr, "\r%s: %" PRIu64 "/%" PRIu64 " MiB (%3u%%) %.0f MiB/s   ",
		what, done >> 20, total >> 20,
		total ? (unsigned)(done * 100 / total) : 100,
		secs > 0 ? (double)done / 1048576.0 / secs : 0.0);
	if (final)
		fputc('\n', stderr);
}

bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*v = x;
	return true;
}

const char *state_name(uint32_t state)
{
	switch (state) {
	case ELFIMG_STATE_WRITING: return "writing (incomplete)";
	case ELFIMG_STATE_COMPLETE: return "complete";
	case ELFIMG_STATE_CONSUMED: return "consumed";
	case 0: return "none (plain core)";
	default: return "invalid";
	}
}

static uint64_t fd_size(int fd)
{
	struct stat st;
	uint64_t sz = 0;

	if (fstat(fd, &st))
		return 0;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &sz))
			return 0;
		return sz;
	}
	return (uint64_t)st.st_size;
}

int img_open(struct img *img, const char *path, int flags,
	     const struct elfimg_opts *opts, bool keep_parse_errors)
{
	uint64_t need = 4096, have = 0;
	size_t max_segs;

	memset(img, 0, sizeof(*img));
	img->path = path;
	img->fd = open(path, flags | O_CLOEXEC);
	if (img->fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	img->size = fd_size(img->fd);
	/* /proc/vmcore reports its size; a pipe-like file would not */
	for (int round = 0; round < 4; round++) {
		uint64_t want = need;
		enum elfimg_err e;

		if (img->size && want > img->size)
			want = img->size;
		if (want > (1ull << 31)) {
			fprintf(stderr, "%s: headers too large\n", path);
			return -1;
		}
		if (want > have) {
			uint8_t *n = realloc(img->hdr, want);

			if (!n)
				return -1;
			img->hdr = n;
			if (pread_full(img->fd, img->hdr + have, want - have, have)) {
				fprintf(stderr, "%s: short read\n", path);
				return -1;
			}
			have = want;
		}
		e = elfimg_probe(img->hdr, have, &need);
		if (e) {
			fprintf(stderr, "%s: %s\n", path, elfimg_strerror(e));
			return -1;
		}
		if (need <= have)
			break;
	}
	img->hdr_len = have;
	/* a table large enough for every program header the buffer can hold */
	max_segs = have / sizeof(struct elfimg_phdr) + 1;
	img->segs = calloc(max_segs, sizeof(*img->segs));
	if (!img->segs)
		return -1;
	img->err = elfimg_parse(img->hdr, have, opts, &img->info, img->segs,
				max_segs);
	if (img->err && !keep_parse_errors) {
		fprintf(stderr, "%s: %s\n", path, elfimg_strerror(img->err));
		return -1;
	}
	return 0;
}

void img_close(struct img *img)
{
	if (img->fd >= 0)
		close(img->fd);
	free(img->hdr);
	free(img->segs);
	img->fd = -1;
	img->hdr = NULL;
	img->segs = NULL;
}

static int read_seg(struct img *img, const struct elfimg_segment *s,
		    uint64_t off, uint8_t *buf, size_t len, bool check_crc)
{
	static struct elfimg_inflater inf;
	static uint8_t *src, *dst;

	if (img->info.kind == ELFIMG_KIND_PLAIN) {
		size_t file_part = 0;

		if (off < s->filesz)
			file_part = s->filesz - off < len ? s->filesz - off : len;
		if (file_part && pread_full(img->fd, buf, file_part, s->offset + off))
			return -1;
		memset(buf + file_part, 0, len - file_part);
		return 0;
	}
	if (!inf.ready && elfimg_inflater_init(&inf))
		return -1;
	if (!src) {
		src = malloc(ELFIMG_MAX_CHUNK);
		dst = malloc(ELFIMG_MAX_CHUNK);
		if (!src || !dst)
			return -1;
	}
	while (len > 0) {
		uint64_t k = off / img->info.chunk_size;
		uint64_t in = off % img->info.chunk_size;
		uint64_t clen = elfimg_chunk_len(&img->info, s, k);
		size_t n = clen - in < len ? clen - in : len;
		struct elfimg_chunk_info ci;
		enum elfimg_err e;

		elfimg_chunk_get(&img->info, s->first_chunk + k, &ci);
		if (ci.stored && pread_full(img->fd, src, ci.stored, ci.offset))
			return -1;
		e = elfimg_chunk_decode(&inf, &ci, src, dst, clen, check_crc);
		if (e) {
			fprintf(stderr, "%s: chunk %" PRIu64 " (paddr 0x%" PRIx64
				"): %s\n", img->path, s->first_chunk + k,
				s->paddr + k * img->info.chunk_size,
				elfimg_strerror(e));
			return -1;
		}
		memcpy(buf, dst + in, n);
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

int img_read_mem(struct img *img, uint64_t paddr, void *vbuf, size_t len,
		 uint64_t *holes, bool check_crc)
{
	uint8_t *buf = vbuf;

	while (len > 0) {
		const struct elfimg_segment *s = NULL;
		uint64_t next = UINT64_MAX;
		size_t n, lo = 0, hi = img->info.nsegs;

		/* segments are sorted and disjoint: binary search */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const struct elfimg_segment *c = &img->segs[mid];

			if (paddr < c->paddr) {
				next = c->paddr;
				hi = mid;
			} else if (paddr - c->paddr >= c->memsz) {
				lo = mid + 1;
			} else {
				s = c;
				break;
			}
		}
		if (!s) {
			n = next - paddr < len ? next - paddr : len;
			memset(buf, 0, n);
			if (holes)
				*holes += n;
		} else {
			uint64_t off = paddr - s->paddr;

			n = s->memsz - off < len ? s->memsz - off : len;
			if (read_seg(img, s, off, buf, n, check_crc))
				return -1;
		}
		buf += n;
		paddr += n;
		len -= n;
	}
	return 0;
}
