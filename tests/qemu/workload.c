// SPDX-License-Identifier: MIT
/*
 * The state a hibernation must keep: run in kernel A before the jump.
 *
 *   kjworkload MIB STATEDIR [half]
 *
 * Fills MIB MiB of anonymous memory with a pattern derived from its own
 * addresses and a random seed, then counts: every 100 ms it writes the
 * counter to STATEDIR/counter. On SIGUSR1 it re-derives the pattern,
 * compares every byte and writes "ok SUM" or "BAD offset" to
 * STATEDIR/verify. The seed and checksum are written to STATEDIR/seed.
 * The pattern is incompressible; with "half" the second half of every
 * 4 KiB page repeats its first half (2:1 for any LZ compressor: deflate,
 * LZO and LZ4 alike).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t verify_requested;
static void on_usr1(int sig) { (void)sig; verify_requested = 1; }

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static int half;

/* qword i of the pattern */
static uint64_t value(uint64_t seed, size_t i)
{
	if (half && i % 512 >= 256)
		i -= 256;
	return mix(seed + i);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512], tmp[520];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "half"))) {
		fprintf(stderr, "usage: %s MIB STATEDIR [half]\n", argv[0]);
		return 2;
	}
	half = argc == 4;
	size_t n = (size_t)strtoul(argv[1], NULL, 0) << 17; /* qwords */
	const char *dir = argv[2];
	uint64_t *mem = mmap(NULL, n * 8, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) { perror("mmap"); return 1; }

	uint64_t seed;
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed)) seed = (uint64_t)time(NULL);
	if (fd >= 0) close(fd);

	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		mem[i] = value(seed, i);
		sum += mem[i];
	}
	char buf[128];
	snprintf(buf, sizeof(buf), "%016llx %016llx\n", (unsigned long long)seed,
		 (unsigned long long)sum);
	write_file(dir, "seed", buf);
	mlock(mem, n * 8);
	signal(SIGUSR1, on_usr1);

	for (uint64_t counter = 0;; counter++) {
		snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)counter);
		write_file(dir, "counter", buf);
		if (verify_requested) {
			verify_requested = 0;
			size_t bad = n;
			uint64_t s = 0;
			for (size_t i = 0; i < n; i++) {
				if (mem[i] != value(seed, i) && bad == n) bad = i;
				s += mem[i];
			}
			if (bad == n)
				snprintf(buf, sizeof(buf), "ok %016llx\n", (unsigned long long)s);
			else
				snprintf(buf, sizeof(buf), "BAD at byte %zu\n", bad * 8);
			write_file(dir, "verify", buf);
		}
		usleep(100000);
	}
}
