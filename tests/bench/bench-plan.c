// SPDX-License-Identifier: MIT
/*
 * bench-plan: planning time and plan memory for 1, 16 and 64 GiB images
 * (with and without the checksum list), reloc_copy throughput relative
 * to memcpy on the same buffers, and the copy checksum's throughput (the
 * stub's reloc_csum_list and the loader's C reloc_csum).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "relocate/plan.h"

#define PG 4096ULL
#define GiB (1ULL << 30)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Image of `gib` GiB from 4 GiB up in 2 MiB-ish extents (a fragmented
 * vmcore), every 8th 16 MiB region boot-services memory (staged), 1/32
 * of the extents zero; scratch above the image. */
static void bench_plan(unsigned gib, bool csum)
{
	uint64_t base = 4 * GiB, size = gib * GiB, ext = 2 << 20;
	size_t nd = size / ext, nm = size / (16 << 20);
	struct reloc_dest *d = malloc(nd * sizeof(*d));
	struct reloc_mem *m = malloc((nm + 1) * sizeof(*m));
	for (size_t i = 0; i < nd; i++)
		d[i] = (struct reloc_dest){ base + i * ext, base + i * ext + ext - PG, i % 32 == 5 };
	for (size_t i = 0; i < nm; i++)
		m[i] = (struct reloc_mem){ base + i * (16 << 20), base + (i + 1) * (16 << 20),
					   i % 8 == 3 ? RELOC_MEM_BOOT : RELOC_MEM_FREE };
	uint64_t sstart = base + size;
	m[nm++] = (struct reloc_mem){ sstart, sstart + size / 4, RELOC_MEM_FREE };
	struct reloc_range s = { sstart, sstart + size / 4 };
	size_t cap = nd + nm + 1;
	struct reloc_load *l = malloc(cap * sizeof(*l));
	size_t ctlbytes = 64 << 20;
	char *buf = mmap(0, ctlbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct reloc_plan_in in = {
		.dest = d, .ndest = nd, .mem = m, .nmem = nm, .scratch = &s, .nscratch = 1,
		.stub_size = 4096, .entry = 0x1000fb,
		.virt_offset = (int64_t)((uint64_t)(uintptr_t)buf - sstart), .csum = csum,
	};
	struct reloc_plan p = { .load = l, .load_cap = cap };
	double best = 1e9;
	enum reloc_err err = RELOC_OK;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		err = reloc_plan(&in, &p);
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	if (err) {
		printf("plan %u GiB: %s\n", gib, reloc_strerror(err));
		exit(1);
	}
	uint64_t mem = p.ctl_pages * PG + p.nload * sizeof(*l);
	printf("plan %2u GiB%s (%llu pages, %zu extents): %.3f ms, plan memory %llu KiB "
	       "(%.4f%% of image; %llu control pages, %zu load pieces), staged %llu pages\n",
	       gib, csum ? " +csum" : "", (unsigned long long)(size / PG), nd, best * 1e3,
	       (unsigned long long)(mem >> 10), 100.0 * mem / size,
	       (unsigned long long)p.ctl_pages, p.nload, (unsigned long long)p.staged_pages);
	munmap(buf, ctlbytes);
	free(d); free(m); free(l);
}

static void bench_copy(void)
{
	size_t n = 256 << 20;
	char *src = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *dst = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(src, 0x5a, n);
	memset(dst, 0, n);
	static uint64_t list[8] __attribute__((aligned(4096)));
	list[0] = (uint64_t)(uintptr_t)dst | RELOC_IND_DESTINATION;
	list[1] = (n / PG) << 12 | RELOC_IND_LENGTH;
	list[2] = (uint64_t)(uintptr_t)src | RELOC_IND_SOURCE;
	list[3] = RELOC_IND_DONE;
	double bm = 1e9, bc = 1e9;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		memcpy(dst, src, n);
		__asm__ volatile("" ::: "memory");
		double t1 = now();
		reloc_copy((uint64_t)(uintptr_t)list);
		double t2 = now();
		if (t1 - t0 < bm) bm = t1 - t0;
		if (t2 - t1 < bc) bc = t2 - t1;
	}
	if (memcmp(src, dst, n)) {
		printf("copy mismatch\n");
		exit(1);
	}
	printf("copy 256 MiB: memcpy %.2f GB/s, reloc_copy %.2f GB/s, ratio %.2f\n",
	       n / bm / 1e9, n / bc / 1e9, bm / bc);

	/* Checksum of the 256 MiB destination: the stub's pass over the
	 * list, and the loader's C function over the same bytes. */
	for (size_t i = 0; i < n; i += 8)
		*(uint64_t *)(dst + i) = i * 0x9e3779b97f4a7c15ULL;
	list[2] = RELOC_IND_KEEP;
	double ba = 1e9, bcc = 1e9;
	uint64_t sa = 0, sc = 0;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		sa = reloc_csum_list((uint64_t)(uintptr_t)list);
		double t1 = now();
		sc = reloc_csum((uint64_t)(uintptr_t)dst, dst, n);
		double t2 = now();
		if (t1 - t0 < ba) ba = t1 - t0;
		if (t2 - t1 < bcc) bcc = t2 - t1;
	}
	if (sa != sc) {
		printf("checksum mismatch\n");
		exit(1);
	}
	printf("checksum 256 MiB: stub (asm) %.2f GB/s = %.2f x memcpy time, loader (C) %.2f GB/s\n",
	       n / ba / 1e9, ba / bm, n / bcc / 1e9);
}

int main(void)
{
	bench_plan(1, false);
	bench_plan(16, false);
	bench_plan(64, false);
	bench_plan(64, true);
	bench_copy();
	return 0;
}
