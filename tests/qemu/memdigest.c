// SPDX-License-Identifier: MIT
/*
 * Debug aid for the round trip: digest every page of System RAM through
 * /dev/mem, and later list the physical ranges whose content changed.
 *
 *   memdigest save FILE      write one 64-bit digest per RAM page
 *   memdigest diff FILE      print changed ranges of MINRUN+ pages
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PG 4096

static uint64_t digest(const uint64_t *p)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < PG / 8; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

int main(int argc, char **argv)
{
	if (argc < 3) return 2;
	int save = !strcmp(argv[1], "save");
	int minrun = argc > 3 ? atoi(argv[3]) : 1;
	FILE *io = fopen("/proc/iomem", "r"), *df = fopen(argv[2], save ? "w" : "r");
	int mem = open("/dev/mem", O_RDONLY);
	if (!io || !df || mem < 0) { perror("open"); return 1; }
	static uint64_t buf[PG / 8];
	char line[256];
	uint64_t run_start = 0, run_len = 0, changed = 0;
	while (fgets(line, sizeof(line), io)) {
		uint64_t s, e;
		if (line[0] == ' ' || !strstr(line, ": System RAM")) continue;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &s, &e) != 2) continue;
		for (uint64_t a = s; a + PG - 1 <= e; a += PG) {
			uint64_t d = 0, old;
			if (pread(mem, buf, PG, a) == PG) d = digest(buf);
			if (save) { fwrite(&d, 8, 1, df); continue; }
			if (fread(&old, 8, 1, df) != 1) return 1;
			if (old != d) {
				changed++;
				if (run_len && run_start + run_len * PG == a) { run_len++; continue; }
				if (run_len >= (uint64_t)minrun)
					printf("changed %#" PRIx64 "-%#" PRIx64 " (%" PRIu64 " pages)\n",
					       run_start, run_start + run_len * PG - 1, run_len);
				run_start = a; run_len = 1;
			}
		}
	}
	if (!save) {
		if (run_len >= (uint64_t)minrun)
			printf("changed %#" PRIx64 "-%#" PRIx64 " (%" PRIu64 " pages)\n",
			       run_start, run_start + run_len * PG - 1, run_len);
		printf("%" PRIu64 " pages changed\n", changed);
	}
	return 0;
}
