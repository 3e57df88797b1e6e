// SPDX-License-Identifier: MIT
/*
 * elfimg throughput on a 1 GiB memory image (size: KJ_BENCH_MIB, default
 * 1024). The memory is a synthetic mix meant to look like a busy RAM:
 * 30% zero pages, 40% text-like pages (words from a small dictionary,
 * compressible), 30% random pages.
 *
 * For the stored (level 0), zlib (level 1, and 6 = zlib's default) and LZ4
 * (kjsave --lz4) forms:
 *   writer  - elfimg writer into a memory sink (zero detection, CRC32,
 *             deflate, index) per second of memory
 *   reader  - parse + elfimg_chunk_decode() of every chunk with its check
 *             (XXH64, kjsave's default) into the destination buffer, as
 *             the loader does
 * and the yardsticks on the same bytes:
 *   memcpy  - 1 GiB source -> destination
 *   CRC32, XXH64 - the two chunk checks alone over the same memory
 *   inflate - zlib's own raw inflate of the same compressed chunks, no
 *             CRC, no zero-page expansion
 * Reported as MiB/s of memory and as ratios. Single-threaded, plus the
 * writer with 2 compressing threads (kjsave -j 2) and the reader on 2
 * threads (chunks are independent).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "elfimg/elfimg.h"
#include "elfimg/write.h"

static uint8_t *src, *dst, *img;
static size_t mem_len, img_cap, img_len;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t xs(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void gen_memory(void)
{
	static const char *words[] = {
		"the ", "kernel ", "page ", "struct ", "0x0000", "ffff888",
		"return ", "int ", "memory ", "\n\t", "NULL", "if (", ") {",
		"unsigned long ", "/usr/lib/", ".so.6", "error", "\0\0\0\0",
	};
	for (size_t p = 0; p < mem_len; p += 4096) {
		uint64_t r = xs() % 100;
		uint8_t *pg = src + p;

		if (r < 30) {
			memset(pg, 0, 4096);
		} else if (r < 70) {
			size_t o = 0;

			while (o < 4096) {
				const char *w = words[xs() % 18];
				size_t l = strlen(w) ? strlen(w) : 4;

				for (size_t i = 0; i < l && o < 4096; i++)
					pg[o++] = (uint8_t)w[i];
			}
		} else {
			for (size_t i = 0; i < 4096; i += 8) {
				uint64_t v = xs();

				memcpy(pg + i, &v, 8);
			}
		}
	}
}

static int read_mem(void *ctx, uint64_t paddr, void *buf, size_t len)
{
	(void)ctx;
	memcpy(buf, src + (paddr - 0x100000), len);
	return 0;
}

static int write_at(void *ctx, uint64_t off, const void *buf, size_t len)
{
	(void)ctx;
	if (off + len > img_cap)
		return -1;
	memcpy(img + off, buf, len);
	if (off + len > img_len)
		img_len = off + len;
	return 0;
}

/* level -1: LZ4 (kjsave --lz4); @threads: wparams.threads */
static double write_image(int level, unsigned threads)
{
	struct elfimg_wseg seg = { 0x100000, mem_len };
	struct elfimg_wparams p = {
		.level = level < 0 ? 1 : level, .lz4 = level < 0, .entry = 0x1000fb, .read_mem = read_mem,
		.write_at = write_at, .threads = threads,
	};
	struct elfimg_writer *w;
	double t0 = now();

	img_len = 0;
	if (elfimg_writer_new(&p, &seg, 1, &w) ||
	    elfimg_writer_write_data(w) || elfimg_writer_write_headers(w) ||
	    elfimg_writer_mark_complete(w)) {
		fprintf(stderr, "writer failed\n");
		exit(1);
	}
	elfimg_writer_free(w);
	return now() - t0;
}

static struct elfimg_info info;
static struct elfimg_segment segs[4];

struct job {
	uint64_t first, last;
	bool crc, plain_inflate;
	int err;
};

/* Decode chunks [first, last) of the single segment into dst. */
static void *decode_range(void *arg)
{
	struct job *j = arg;
	static __thread struct elfimg_inflater inf;
	z_stream zs = { 0 };

	if (j->plain_inflate) {
		if (inflateInit2(&zs, -15) != Z_OK)
			abort();
	} else if (elfimg_inflater_init(&inf)) {
		abort();
	}
	for (uint64_t k = j->first; k < j->last; k++) {
		struct elfimg_chunk_info ci;
		uint64_t len = elfimg_chunk_len(&info, &segs[0], k);
		uint8_t *out = dst + k * info.chunk_size;

		elfimg_chunk_get(&info, k, &ci);
		if (j->plain_inflate) {
			/* zlib alone: the compressed chunks, nothing else */
			if (ci.method != ELFIMG_METHOD_DEFLATE)
				continue;
			inflateReset(&zs);
			zs.next_in = img + ci.offset;
			zs.avail_in = ci.stored;
			zs.next_out = out;
			zs.avail_out = (uInt)len;
			if (inflate(&zs, Z_FINISH) != Z_STREAM_END)
				j->err = 1;
			continue;
		}
		if (elfimg_chunk_decode(&inf, &ci, img + ci.offset, out, len,
					j->crc))
			j->err = 1;
	}
	if (j->plain_inflate)
		inflateEnd(&zs);
	else
		elfimg_inflater_fini(&inf);
	return NULL;
}

static double read_image(int threads, bool crc, bool plain_inflate)
{
	pthread_t t[8];
	struct job jobs[8];
	double t0 = now();
	uint64_t need;

	if (elfimg_probe(img, img_len, &need) ||
	    elfimg_parse(img, need, NULL, &info, segs, 4) ||
	    elfimg_check_file_size(&info, segs, img_len) ||
	    elfimg_check_resumable(&info, false)) {
		fprintf(stderr, "parse failed\n");
		exit(1);
	}
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){ info.nchunks * i / threads,
					info.nchunks * (i + 1) / threads, crc,
					plain_inflate, 0 };
		pthread_create(&t[i], NULL, decode_range, &jobs[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		if (jobs[i].err) {
			fprintf(stderr, "decode failed\n");
			exit(1);
		}
	}
	return now() - t0;
}

static double best(double a, double b)
{
	return a < b ? a : b;
}

int main(void)
{
	const char *env = getenv("KJ_BENCH_MIB");
	double mib, t_memcpy = 1e9;

	mem_len = (size_t)(env ? strtoul(env, NULL, 0) : 1024) << 20;
	mib = (double)(mem_len >> 20);
	src = malloc(mem_len);
	dst = malloc(mem_len);
	img_cap = mem_len + mem_len / 8 + (16u << 20);
	img = malloc(img_cap);
	if (!src || !dst || !img)
		return 1;
	gen_memory();
	memset(dst, 1, mem_len);	/* fault the pages in */
	memset(img, 0, img_cap);
	for (int r = 0; r < 3; r++) {
		double t0 = now();

		memcpy(dst, src, mem_len);
		t_memcpy = best(t_memcpy, now() - t0);
	}
	printf("elfimg bench: %.0f MiB of memory (30%% zero, 40%% text, 30%% random pages)\n", mib);
	printf("memcpy                     %8.0f MiB/s\n", mib / t_memcpy);
	{
		double tc = 1e9, tx = 1e9;
		volatile uint64_t sink = 0;

		for (int r = 0; r < 3; r++) {
			double t0 = now();

			sink += elfimg_crc32(0, src, mem_len);
			tc = best(tc, now() - t0);
			t0 = now();
			sink += elfimg_xxh64(src, mem_len, 0);
			tx = best(tx, now() - t0);
		}
		(void)sink;
		printf("check alone: CRC32 (zlib)  %8.0f MiB/s\n", mib / tc);
		printf("check alone: XXH64         %8.0f MiB/s  = %.1f x CRC32\n",
		       mib / tx, tc / tx);
	}

	static const int levels[] = { 0, 1, 6, -1 };

	for (int li = 0; li < 4; li++) {
		int level = levels[li];
		double tw, tw2, tr = 1e9, tr2 = 1e9, tnc = 1e9, tz = 1e9;

		tw2 = write_image(level, 2);
		tw = write_image(level, 1);
		for (int r = 0; r < 2; r++) {
			if (level > 0)	/* first: it leaves dst packed */
				tz = best(tz, read_image(1, false, true));
			tnc = best(tnc, read_image(1, false, false));
			tr2 = best(tr2, read_image(2, true, false));
			tr = best(tr, read_image(1, true, false));
		}
		if (memcmp(dst, src, mem_len)) {
			fprintf(stderr, "round trip mismatch\n");
			return 1;
		}
		printf("-- %s %d (%s): image %.0f MiB = %.1f%% of memory, %" PRIu64
		       " chunks of %u KiB\n", level < 0 ? "--lz4, level" : "level",
		       level < 0 ? 1 : level,
		       level < 0 ? "LZ4" : level ? "zlib" : "stored",
		       (double)img_len / 1048576.0, 100.0 * (double)img_len / (double)mem_len,
		       info.nchunks, info.chunk_size / 1024);
		printf("writer                     %8.0f MiB/s\n", mib / tw);
		printf("writer, 2 threads          %8.0f MiB/s  = %.2f x 1 thread\n",
		       mib / tw2, tw / tw2);
		printf("reader, XXH64, 1 thread    %8.0f MiB/s  = %.2f x memcpy",
		       mib / tr, t_memcpy / tr);
		if (level > 0)
			printf(", %.2f x zlib inflate", tz / tr);
		printf("\n");
		printf("reader, no check, 1 thread %8.0f MiB/s  = %.2f x memcpy",
		       mib / tnc, t_memcpy / tnc);
		if (level > 0)
			printf(", %.2f x zlib inflate", tz / tnc);
		printf("\n");
		printf("reader, XXH64, 2 threads   %8.0f MiB/s  = %.2f x memcpy\n",
		       mib / tr2, t_memcpy / tr2);
		if (level > 0)
			printf("zlib inflate alone         %8.0f MiB/s (of memory)\n",
			       mib / tz);
	}
	free(src);
	free(dst);
	free(img);
	return 0;
}
