// SPDX-License-Identifier: MIT
/*
 * kjsave: the saver that runs in kernel B. It reads A's memory from
 * /proc/vmcore (or any plain ELF core given with -i), drops zero pages
 * and the free pages of A's buddy allocator, compresses the rest into
 * chunks and writes a kjresume image (docs/FORMAT.md) to a file or a
 * block device:
 *
 *   0. sanitise the core (below): save A's RAM outside B's region, every
 *      byte once, each read from a place known to hold it; find A's free
 *      pages (tools/freepages.c), saved as zero units
 *   1. headers with state WRITING, then every chunk
 *   2. fsync; FIEMAP extents of the file (regular files)
 *   3. final headers (index, extents, checksums); fsync
 *   4. FIEMAP again: extents must not have moved
 *   5. state COMPLETE (one 512-byte sector); fsync
 */
#define _GNU_SOURCE	/* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "elfimg/compat.h"
#include "elfimg/write.h"
#include "tools/common.h"
#include "tools/freepages.h"

#define MAX_EXTENTS 65536

static void usage(FILE *f)
{
	fprintf(f,
"usage: kjsave [options] OUTPUT\n"
"Save A's memory as a kjresume image (docs/FORMAT.md) to OUTPUT, a file\n"
"or a block device.\n"
"  -i, --input CORE      plain ELF core to read (default /proc/vmcore)\n"
"  -l, --level N|lz4     zlib instead of LZ4, at level 1-9 (1 is twice as\n"
"                        fast as 6, 3%% larger); 0 stores chunks raw; lz4:\n"
"                        the same as --lz4\n"
"      --lz4             LZ4 blocks, the default: about zlib's size on\n"
"                        memory that compresses, written and read several\n"
"                        times faster (docs/PERFORMANCE.md); wins over -l N\n"
"  -c, --chunk-size N    bytes per chunk, 4 KiB multiple <= 256 KiB\n"
"  -j, --threads N       compress on N threads while this one reads and\n"
"                        writes (default: one per online CPU, at most 8;\n"
"                        1: all on this thread). The image is the same.\n"
"  -e, --entry ADDR      jump-back entry if the core has no LINUXKJUMP note\n"
"  -m, --memmap DIR|none A's firmware memory map, /sys/firmware/memmap layout\n"
"                        (default: /sys/firmware/memmap when reading\n"
"                        /proc/vmcore, else none)\n"
"  -s, --scratch A-B     B's scratch region (repeatable; default from\n"
"                        /proc/iomem when reading /proc/vmcore)\n"
"      --no-scratch      record no scratch region\n"
"      --no-fiemap       do not record on-disk extents\n"
"      --in-place        overwrite an existing file without truncating it, so\n"
"                        that its first block stays where the loader expects it\n"
"      --iomem FILE|none B's /proc/iomem: its top-level System RAM is B's\n"
"                        region, never saved, the default scratch\n"
"                        (default /proc/iomem when reading /proc/vmcore)\n"
"      --mem FILE|none   A's physical memory, for what the core cannot give\n"
"                        (default /dev/mem when reading /proc/vmcore)\n"
"      --vmcore-layout   the input is laid out by fs/proc/vmcore.c (default\n"
"                        for /proc/vmcore; docs/FORMAT.md section 7)\n"
"      --keep-free       save the free pages of A's buddy allocator too\n"
"                        (default: found through A's VMCOREINFO and left\n"
"                        out of the image if A's resume note says their\n"
"                        content does not matter, else saved as zero\n"
"                        pages; docs/FORMAT.md section 9)\n"
"      --zero-free       save A's free pages as zero pages even where they\n"
"                        could be left out\n"
"      --keep-swap       leave A's kexec page swap for A to undo when it\n"
"                        resumes (default: undone in the image when A's\n"
"                        kernel offers the entry that skips it, its\n"
"                        LINUXKJUMP type-2 note; docs/FORMAT.md section 9)\n"
"      --crc32           chunk checks in CRC32, for loaders older than XXH64\n"
"                        images (default XXH64: docs/FORMAT.md section 2.3)\n"
"  -v, --verbose         also list where each saved range is read from\n"
"  -q, --quiet           no progress output, no sanitising report\n");
}

/* ---- input ---- */

static struct img in;		/* the raw core: fd, size, headers */
static bool verbose;

static int out_fd = -1;
/* where the save's time goes, for the closing line (ns) */
static uint64_t ns_read, ns_write, ns_sync;

/*
 * A block device output takes the payload stream through O_DIRECT: B has
 * little RAM, and buffered writes of the whole image throttle on its
 * dirty limit and copy every byte once more. The writer emits payloads
 * at increasing data-align offsets; they are gathered in a window that
 * starts at a block-aligned offset and goes out in DIO_CAP pieces. The
 * bytes between payloads are padding (zeros here). Every other write
 * (the headers at offset 0, rewritten later) goes through out_fd after
 * the window is flushed; the kernel keeps the device's page cache
 * coherent with the direct writes.
 *
 * A full window goes out on a writer thread while the next one fills,
 * so B's CPU reads and compresses A's memory while the disk writes. At
 * most one direct write is in flight, and anything else that touches
 * the output (an out_fd write, fsync) waits for it first. A direct
 * write's error is sticky: it fails the next flush, wait or sync.
 */
#define DIO_CAP (2u << 20)
static int dio_fd = -1;
static unsigned dio_blk;		/* logical block size */
static uint8_t *dio_buf, *dio_spare;	/* filling; in flight or free */
static uint64_t dio_start, dio_fill;	/* window [start, start + fill) */
static bool dio_open;			/* a window is being filled */

static pthread_mutex_t dio_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dio_cv = PTHREAD_COND_INITIALIZER;
static bool dio_async;			/* the writer thread runs */
static struct {
	const uint8_t *buf;
	size_t len;
	uint64_t off;
	bool busy;			/* handed over, not yet written */
	int err;			/* errno of the first failed write */
} dio_job;

static void *dio_writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&dio_mu);
	for (;;) {
		while (!dio_job.busy)
			pthread_cond_wait(&dio_cv, &dio_mu);
		const uint8_t *buf = dio_job.buf;
		size_t len = dio_job.len;
		uint64_t off = dio_job.off;
		pthread_mutex_unlock(&dio_mu);
		int e = pwrite_full(dio_fd, buf, len, off) ? (errno ? errno : EIO) : 0;
		pthread_mutex_lock(&dio_mu);
		if (e && !dio_job.err)
			dio_job.err = e;
		dio_job.busy = false;
		pthread_cond_broadcast(&dio_cv);
	}
	return NULL;
}

/* Wait for the direct write in flight: -1 with errno set if any failed. */
static int dio_wait(void)
{
	if (!dio_async)
		return 0;
	pthread_mutex_lock(&dio_mu);
	while (dio_job.busy)
		pthread_cond_wait(&dio_cv, &dio_mu);
	int e = dio_job.err;
	pthread_mutex_unlock(&dio_mu);
	if (e)
		errno = e;
	return e ? -1 : 0;
}

/* Send the window on its way: -1 with errno set if a direct write failed. */
static int dio_flush(void)
{
	if (!dio_open)
		return 0;
	size_t n = (size_t)((dio_fill + dio_blk - 1) / dio_blk * dio_blk);
	memset(dio_buf + dio_fill, 0, n - dio_fill);
	dio_open = false;
	if (!n)
		return 0;
	if (!dio_async)
		return pwrite_full(dio_fd, dio_buf, n, dio_start);
	if (dio_wait())		/* dio_spare is free once it returns */
		return -1;
	pthread_mutex_lock(&dio_mu);
	dio_job.buf = dio_buf;
	dio_job.len = n;
	dio_job.off = dio_start;
	dio_job.busy = true;
	pthread_cond_broadcast(&dio_cv);
	pthread_mutex_unlock(&dio_mu);
	uint8_t *t = dio_buf;
	dio_buf = dio_spare;
	dio_spare = t;
	return 0;
}

/*
 * Take [off, off + len) into the window: false if it does not continue
 * the stream (or cannot start one: a window starts block-aligned), for
 * out_fd to write. *rc: a direct write's result.
 */
static bool dio_take(uint64_t off, const uint8_t *buf, size_t len, int *rc)
{
	*rc = 0;
	if (dio_fd < 0 || !off)
		return false;
	if (dio_open && off < dio_start + dio_fill) {
		*rc = dio_flush();
		return false;
	}
	while (len) {
		if (dio_open && off >= dio_start + DIO_CAP && (*rc = dio_flush()))
			return true;
		if (!dio_open) {
			if (off % dio_blk)
				return false;	/* nothing of it taken yet */
			dio_start = off;
			dio_fill = 0;
			dio_open = true;
		}
		uint64_t at = off - dio_start;
		if (at > dio_fill)
			memset(dio_buf + dio_fill, 0, (size_t)(at - dio_fill));
		size_t k = DIO_CAP - at < len ? (size_t)(DIO_CAP - at) : len;
		kj_copy_words(dio_buf + at, buf, k);
		dio_fill = at + k;
		off += k;
		buf += k;
		len -= k;
	}
	return true;
}

static int write_at(void *ctx, uint64_t off, const void *buf, size_t len)
{
	uint64_t t = now_ns();
	int rc = 0;

	(void)ctx;
	if (!dio_take(off, buf, len, &rc) && !rc && !(rc = dio_wait()))
		rc = pwrite_full(out_fd, buf, len, off);
	ns_write += now_ns() - t;
	if (rc) {
		fprintf(stderr, "\nkjsave: write at %" PRIu64 ": %s\n", off,
			strerror(errno));
		return -1;
	}
	return 0;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	progress("kjsave", done, total, done == total);
}

static int (*read_source)(void *ctx, uint64_t paddr, void *buf, size_t len);

static int read_timed(void *ctx, uint64_t paddr, void *buf, size_t len)
{
	uint64_t t = now_ns();
	int rc = read_source(ctx, paddr, buf, len);

	ns_read += now_ns() - t;
	return rc;
}

/* fsync of the output, timed; -1 with the message printed on failure */
static int sync_out(void)
{
	uint64_t t = now_ns();
	if (dio_flush() || dio_wait()) {
		fprintf(stderr, "kjsave: write: %s\n", strerror(errno));
		return -1;
	}
	int rc = fsync(out_fd), e = errno;

	ns_sync += now_ns() - t;
	if (rc)
		fprintf(stderr, "kjsave: fsync: %s\n", strerror(e));
	return rc;
}

/* ---- memory map and scratch ---- */

struct ranges {
	struct elfimg_range *r;
	size_t n, cap;
};

static void ranges_add(struct ranges *rs, uint64_t start, uint64_t size,
		       uint64_t type)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		if (!rs->r) {
			perror("kjsave");
			exit(1);
		}
	}
	rs->r[rs->n++] = (struct elfimg_range){ start, size, type };
}

static int cmp_range(const void *a, const void *b)
{
	const struct elfimg_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static bool ranges_disjoint(const struct ranges *rs)
{
	for (size_t i = 1; i < rs->n; i++)
		if (rs->r[i].start < rs->r[i - 1].start + rs->r[i - 1].size)
			return false;
	return true;
}

static uint64_t e820_type(const char *s)
{
	static const struct { const char *name; uint64_t type; } t[] = {
		{ "System RAM", 1 }, { "Reserved", 2 }, { "ACPI Tables", 3 },
		{ "ACPI Non-volatile Storage", 4 }, { "Unusable memory", 5 },
		{ "Persistent Memory (legacy)", 12 }, { "Persistent Memory", 7 },
		{ "Soft Reserved", 0xefffffff },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].name))
			return t[i].type;
	return 2;
}

static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* /sys/firmware/memmap/N/{start,end,type}: the map the firmware (or, in
 * B, kexec-tools on A's behalf) handed over at boot. */
static int read_memmap(const char *dir, struct ranges *rs)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		fprintf(stderr, "kjsave: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char p[4096], v[128];
		uint64_t start, end;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/start", dir, de->d_name);
		if (!read_line(p, v, sizeof(v)) || !parse_u64(v, &start))
			continue;
		snprintf(p, sizeof(p), "%s/%s/end", dir, de->d_name);
		if (!read_line(p, v, sizeof(v)) || !parse_u64(v, &end) ||
		    end < start)
			continue;
		snprintf(p, sizeof(p), "%s/%s/type", dir, de->d_name);
		if (!read_line(p, v, sizeof(v)))
			continue;
		ranges_add(rs, start, end - start + 1, e820_type(v));
	}
	closedir(d);
	qsort(rs->r, rs->n, sizeof(*rs->r), cmp_range);
	return 0;
}

/* Top-level "System RAM" of /proc/iomem: B's own memory. */
static int read_iomem_ram(const char *path, struct ranges *rs)
{
	FILE *f = fopen(path, "re");
	char line[256];

	if (!f) {
		fprintf(stderr, "kjsave: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		int n = 0;

		if (line[0] == ' ')
			continue;
		if (sscanf(line, "%llx-%llx : %n", &a, &b, &n) != 2 || !n)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line + n, "System RAM") && b >= a)
			ranges_add(rs, a, b - a + 1, 0);
	}
	fclose(f);
	qsort(rs->r, rs->n, sizeof(*rs->r), cmp_range);
	return 0;
}

/* Scratch = @ram minus every segment, page-aligned inward. */
static void subtract_segments(const struct ranges *ram, struct ranges *out)
{
	for (size_t i = 0; i < ram->n; i++) {
		uint64_t cur = (ram->r[i].start + 4095) & ~4095ull;
		uint64_t end = (ram->r[i].start + ram->r[i].size) & ~4095ull;

		for (size_t s = 0; s < in.info.nsegs && cur < end; s++) {
			uint64_t ss = in.segs[s].paddr & ~4095ull;
			uint64_t se = (in.segs[s].paddr + in.segs[s].memsz + 4095) &
				      ~4095ull;

			if (se <= cur || ss >= end)
				continue;
			if (ss > cur)
				ranges_add(out, cur, ss - cur, 0);
			cur = se > cur ? se : cur;
		}
		if (cur < end)
			ranges_add(out, cur, end - cur, 0);
	}
}

static bool memmap_covers(const struct ranges *mm)
{
	for (size_t s = 0; s < in.info.nsegs; s++) {
		uint64_t cur = in.segs[s].paddr;
		uint64_t end = cur + in.segs[s].memsz;

		for (size_t i = 0; i < mm->n && cur < end; i++)
			if (mm->r[i].start <= cur &&
			    cur - mm->r[i].start < mm->r[i].size)
				cur = mm->r[i].start + mm->r[i].size;
		if (cur < end)
			return false;
	}
	return true;
}

/* ---- the input core: sanitising policy (docs/FORMAT.md §7) ----
 *
 * The pure reader (elfimg/read.c) rejects what kexec-tools 2.0.25 writes
 * into the elfcorehdr of a preserve-context load with --mem-min=0 on OVMF,
 * and rightly so: it is not a well-formed core. kjsave does not feed the
 * core's PT_LOADs to the reader. It decides what to save from A's memory
 * map instead, and uses the PT_LOADs only as claims ("A's kernel said this
 * is RAM") and as places to read bytes from:
 *
 *  1. every PT_LOAD is classified, one log line per entry that is not
 *     taken as it is:
 *     - kernel text view (p_vaddr in __START_KERNEL_map): dropped, the
 *       same bytes are RAM listed elsewhere (or in B's region);
 *     - absurd size (p_paddr + p_memsz wraps or passes 2^52, what
 *       kexec-tools' exclude_region() makes of ranges inside
 *       [--mem-min, --mem-max]): dropped;
 *     - p_filesz > p_memsz: dropped;
 *     - the parts in B's own RAM (B's top-level "System RAM" in
 *       /proc/iomem: B runs inside memory A does not need saved): cut off;
 *  2. the image covers exactly SAVE = (A's System RAM per the firmware
 *     map, /sys/firmware/memmap, ∪ the remaining claims) − B's RAM, as
 *     sorted, disjoint, merged segments: every byte once, overlapping or
 *     duplicate claims included;
 *  3. each byte of SAVE is read from, in this order: a place in the core
 *     whose content is known (below), the zero tail of a PT_LOAD
 *     (p_filesz < p_memsz, makedumpfile), physical memory (/dev/mem,
 *     mmap'd: A's RAM outside B's region is not RAM to B). A byte with no
 *     source is an error: the image would be incomplete.
 *
 * Where the bytes are in the core. A plain file: at p_offset, for
 * p_filesz bytes, inside the file. B's /proc/vmcore (fs/proc/vmcore.c,
 * the same in 6.1 and 6.12) is not a file: for PT_LOAD i of the
 * elfcorehdr, in order, the kernel keeps m_i = { paddr = rounddown(
 * p_offset_i), size = roundup(p_offset_i + p_memsz_i) - paddr,
 * offset = sum of the sizes before it + headers }, all in wrapping 64-bit
 * arithmetic, and rewrites p_offset to offset + (p_offset_i - paddr). A
 * read at file position f is served by the FIRST m_i with
 * f < m_i.offset + m_i.size, from physical m_i.paddr + f - m_i.offset;
 * the file ends at the sum of all sizes. One entry with a wrapped size
 * therefore captures, or pushes out of reach, the entries after it. kjsave
 * rebuilds that list from /proc/vmcore's own program headers, taking the
 * elfcorehdr's p_offset to be p_paddr (what kexec-tools writes for every
 * entry but one) and checking the result against every rewritten
 * p_offset and the file size; any mismatch and nothing is read through
 * /proc/vmcore. The exception is kexec-tools' backup region, the first
 * RAM entry below 640 KiB: its p_offset is backup_start, 0 for a
 * preserve-context load, so its bytes in /proc/vmcore are physical
 * 0x0..., not p_paddr...; kjsave never reads through that entry. When
 * /dev/mem is available, the first page of every place read through
 * /proc/vmcore is compared with it, and one mismatch turns all reads to
 * /dev/mem.
 */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		perror("kjsave");
		exit(1);
	}
	return p;
}

/* span_add() or exit: kjsave has no use for a partial set */
static void span_add(struct spans *s, uint64_t start, uint64_t end)
{
	if (spans_add(s, start, end)) {
		perror("kjsave");
		exit(1);
	}
}

static void span_sub(struct spans *a, const struct spans *b)
{
	if (spans_sub(a, b)) {
		perror("kjsave");
		exit(1);
	}
}

enum src_kind { SRC_CORE, SRC_ZERO, SRC_MEM };

/* A physical range readable from the core at file offset @off. */
struct window {
	uint64_t start, end, off;
	size_t entry;			/* program header index */
	enum src_kind kind;		/* SRC_CORE or SRC_ZERO */
};

/* SAVE, cut by source. Sorted, disjoint. */
struct piece {
	uint64_t start, end, off;
	enum src_kind kind;
};

static struct piece *pieces;
static size_t npieces, pieces_cap;
static const char *mem_path;
static int mem_fd = -1;
static bool mem_is_file;

#define PHYS_LIMIT (1ull << 52)
#define KERNEL_TEXT_MAP 0xffffffff80000000ull
#define BACKUP_END 0xa0000ull	/* kexec-tools' backup region: below 640 KiB */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	fputs("kjsave: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int core_pread(void *buf, size_t len, uint64_t off)
{
	if (pread_full(in.fd, buf, len, off)) {
		fprintf(stderr, "\nkjsave: %s: read of 0x%zx bytes at offset 0x%"
			PRIx64 ": %s\n", in.path, len, off,
			errno ? strerror(errno) : "short read");
		return -1;
	}
	return 0;
}

/*
 * A mapped window of a source file, kept between reads: A's memory is
 * read through mmap in windows of up to MAP_WIN bytes, never past
 * @limit (the end of the piece: past it the file may refuse the
 * mapping, e.g. /dev/mem over B's RAM). Reading /proc/vmcore with
 * pread() costs its kernel an ioremap and iounmap per page: 1.1 GiB of
 * A's memory took B 3.8 s under TCG. Returns false if the bytes cannot
 * be mapped (the caller reads them).
 */
#define MAP_WIN (64ull << 20)
struct map_win {
	uint8_t *p;
	uint64_t base, len;
	bool sized;		/* size is known */
	uint64_t size;		/* a regular file's size; UINT64_MAX: no end */
};

static bool win_read(struct map_win *w, int fd, uint64_t off, void *buf, size_t len,
		     uint64_t limit)
{
	uint64_t base = off & ~4095ull, end = (off + len + 4095) & ~4095ull;
	uint64_t wend = (limit + 4095) & ~4095ull;
	void *p;

	if (!w->sized) {	/* a mapping past a file's end faults when read */
		struct stat st;
		w->size = fstat(fd, &st) ? 0 : S_ISREG(st.st_mode) ? (uint64_t)st.st_size : UINT64_MAX;
		w->sized = true;
	}
	if (w->size != UINT64_MAX) {
		uint64_t cap = (w->size + 4095) & ~4095ull;

		if (off + len > w->size)
			return false;	/* pread says what is wrong */
		if (wend > cap)
			wend = cap;
	}
	if (!(w->p && off >= w->base && off + len <= w->base + w->len)) {
		if (w->p)
			munmap(w->p, w->len);
		w->p = NULL;
		if (wend > base + MAP_WIN)
			wend = base + MAP_WIN;
		if (wend < end)
			wend = end;
		p = mmap(NULL, wend - base, PROT_READ, MAP_SHARED, fd, (off_t)base);
		if (p == MAP_FAILED && wend > end) {	/* the request alone, then */
			wend = end;
			p = mmap(NULL, wend - base, PROT_READ, MAP_SHARED, fd, (off_t)base);
		}
		if (p == MAP_FAILED)
			return false;
		w->p = p;
		w->base = base;
		w->len = wend - base;
	}
	kj_copy_words(buf, w->p + (off - w->base), len);
	return true;
}

static struct map_win core_win, mem_win;

/* Physical memory: a file (tests) is read, a device is mmap'd, because
 * /dev/mem's read() stops at B's high_memory. */
static int mem_read(uint64_t paddr, void *buf, size_t len, uint64_t limit)
{
	if (mem_fd < 0)
		return -1;
	if (!mem_is_file && win_read(&mem_win, mem_fd, paddr, buf, len, limit))
		return 0;
	if (pread_full(mem_fd, buf, len, paddr)) {
		fprintf(stderr, "\nkjsave: %s: cannot read 0x%zx bytes at 0x%"
			PRIx64 ": %s\n", mem_path, len, paddr,
			errno ? strerror(errno) : "short read");
		return -1;
	}
	return 0;
}

/* @paddr.. from the pieces; @quiet: a byte outside them fails silently */
static int read_pieces(uint64_t paddr, void *vbuf, size_t len, bool quiet_gap)
{
	uint8_t *buf = vbuf;

	while (len > 0) {
		size_t lo = 0, hi = npieces, n;
		const struct piece *p = NULL;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (paddr < pieces[mid].start)
				hi = mid;
			else if (paddr >= pieces[mid].end)
				lo = mid + 1;
			else {
				p = &pieces[mid];
				break;
			}
		}
		if (!p) {	/* read_mem(): segments == union of pieces */
			if (!quiet_gap)
				fprintf(stderr, "\nkjsave: no source for 0x%" PRIx64
					"\n", paddr);
			return -1;
		}
		n = p->end - paddr < len ? (size_t)(p->end - paddr) : len;
		if (p->kind == SRC_ZERO)
			memset(buf, 0, n);
		else if (p->kind == SRC_CORE) {
			uint64_t off = p->off + (paddr - p->start);
			if (!win_read(&core_win, in.fd, off, buf, n, p->off + (p->end - p->start)) &&
			    core_pread(buf, n, off))
				return -1;
		} else if (mem_read(paddr, buf, n, p->end))
			return -1;
		buf += n;
		paddr += n;
		len -= n;
	}
	return 0;
}

/*
 * Unswapped (A's kernel has the in-place entry): the image holds A's memory
 * as A's return path would leave it after swapping its kexec pages back.
 * Each destination page of A's swap list is saved with the content of its
 * source page; the source pages (whose content would then be B's) are
 * saved as zero pages (added to drop). Sorted by dest, dest != src.
 */
static struct fp_pair *moved;
static size_t nmoved;
static bool unswapped;
static struct spans unswap_src;	/* their source pages */

/* @paddr.. as the image saves it: moved pages read from their source */
static int read_mem(void *ctx, uint64_t paddr, void *vbuf, size_t len)
{
	uint8_t *buf = vbuf;
	size_t lo = 0, hi = nmoved;

	(void)ctx;
	while (lo < hi) {	/* the first moved page that ends after paddr */
		size_t mid = lo + (hi - lo) / 2;

		if (moved[mid].dest + 4096 <= paddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (len > 0) {
		size_t n;

		if (lo < nmoved && moved[lo].dest <= paddr) {
			uint64_t off = paddr - moved[lo].dest;

			n = 4096 - off < len ? (size_t)(4096 - off) : len;
			if (read_pieces(moved[lo].src + off, buf, n, false))
				return -1;
			lo++;
		} else {
			n = lo < nmoved && moved[lo].dest - paddr < len ?
			    (size_t)(moved[lo].dest - paddr) : len;
			if (read_pieces(paddr, buf, n, false))
				return -1;
		}
		buf += n;
		paddr += n;
		len -= n;
	}
	return 0;
}

/* ---- A's free pages (tools/freepages.c, docs/FORMAT.md section 9) ---- */

static struct spans drop;	/* free pages inside the image: saved as zeros */

/* A's memory for the free-page walk: what the image saves, nothing else */
static int phys_read(void *ctx, uint64_t paddr, void *buf, size_t len)
{
	(void)ctx;
	return read_pieces(paddr, buf, len, true);
}

/* read_mem() with A's free pages read as zeros (and not read at all) */
static int read_mem_filtered(void *ctx, uint64_t paddr, void *vbuf, size_t len)
{
	uint8_t *buf = vbuf;
	size_t lo = spans_at(drop.v, drop.n, paddr);	/* first ending after paddr */
	while (len > 0) {
		const struct span *d = lo < drop.n ? &drop.v[lo] : NULL;
		size_t n;

		if (d && d->start <= paddr) {
			n = d->end - paddr < len ? (size_t)(d->end - paddr) : len;
			memset(buf, 0, n);
			lo++;
		} else {
			n = d && d->start - paddr < len ?
			    (size_t)(d->start - paddr) : len;
			if (read_mem(ctx, paddr, buf, n))
				return -1;
		}
		buf += n;
		paddr += n;
		len -= n;
	}
	return 0;
}

/*
 * holes = the largest runs of drop, at most MAX_HOLES of them, left out of
 * the segments altogether. Only when A's resume note says A relies on
 * nothing in its free pages (neither init_on_free nor page poisoning): the
 * loader then leaves them as it finds them, so it neither writes nor
 * checks them. The rest of drop is saved as zero units. MAX_HOLES keeps
 * the segment count well inside what a loader accepts (4096).
 */
#define MAX_HOLES 1024
static struct spans holes;

static int cmp_span_len_desc(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	uint64_t lx = x->end - x->start, ly = y->end - y->start;

	if (lx != ly)
		return lx < ly ? 1 : -1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void make_holes(const struct spans *cand, const char *what)
{
	struct spans by_len = { 0 };
	uint64_t n = 0;

	for (size_t i = 0; i < cand->n; i++)
		span_add(&by_len, cand->v[i].start, cand->v[i].end);
	qsort(by_len.v, by_len.n, sizeof(*by_len.v), cmp_span_len_desc);
	for (size_t i = 0; i < by_len.n && i < MAX_HOLES; i++) {
		span_add(&holes, by_len.v[i].start, by_len.v[i].end);
		n += (by_len.v[i].end - by_len.v[i].start) >> 12;
	}
	spans_norm(&holes);
	say("left out %" PRIu64 " of the dropped pages (%" PRIu64 " MiB, %zu "
	    "ranges): %s", n, n >> 8, holes.n, what);
	free(by_len.v);
}

/* The image's segments: the core's, each minus the holes. */
static struct elfimg_wseg *segments_minus_holes(size_t *nws)
{
	size_t n = 0, cap = in.info.nsegs + holes.n;
	struct elfimg_wseg *ws = calloc(cap ? cap : 1, sizeof(*ws));

	if (!ws) {
		perror("kjsave");
		exit(1);
	}
	for (size_t i = 0; i < in.info.nsegs; i++) {
		struct spans seg = { 0 };

		span_add(&seg, in.segs[i].paddr,
			 in.segs[i].paddr + in.segs[i].memsz);
		span_sub(&seg, &holes);
		for (size_t k = 0; k < seg.n; k++)
			ws[n++] = (struct elfimg_wseg){ seg.v[k].start,
							seg.v[k].end - seg.v[k].start };
		free(seg.v);
	}
	*nws = n;
	return ws;
}

static struct fp_pair *swaps;	/* A's kexec swap list, from fp_find() */
static size_t nswaps;
static uint64_t swap_head;

/*
 * drop = A's free pages inside the image (@save) and A's firmware RAM
 * (@aram, if known), whole pages, if @want_drop. Any doubt: nothing is
 * dropped. Either way, A's kexec swap list if the walk checked it.
 */
static void find_free(const struct spans *aram, const struct spans *bram,
		      const struct spans *save, bool want_drop)
{
	struct spans ram = { 0 }, d = { 0 };
	struct fp_input fi = { 0 };
	struct fp_result r;
	uint64_t t0 = now_ns(), n = 0;
	char nr[64] = "";

	if (!in.info.vmcoreinfo) {
		say("free pages kept: %s has no VMCOREINFO note", in.path);
		return;
	}
	/* A's RAM: its firmware map, the core's claims (in save), B's RAM */
	for (size_t k = 0; k < aram->n; k++)
		span_add(&ram, aram->v[k].start, aram->v[k].end);
	for (size_t k = 0; k < save->n; k++)
		span_add(&ram, save->v[k].start, save->v[k].end);
	for (size_t k = 0; k < bram->n; k++)
		span_add(&ram, bram->v[k].start, bram->v[k].end);
	spans_norm(&ram);
	fi = (struct fp_input){
		.vmcoreinfo = in.info.vmcoreinfo,
		.vmcoreinfo_len = in.info.vmcoreinfo_len,
		.have_entry = in.info.have_entry,
		.entry = in.info.entry,
		.resume_flags = in.info.resume_flags,
		.ram = ram.v, .nram = ram.n, .bram = bram->v, .nbram = bram->n,
		.phys_read = phys_read,
	};
	if (fp_find(&fi, &r)) {
		say("free pages kept (none dropped): %s", r.why);
		goto out;
	}
	swaps = r.pairs;
	nswaps = r.npairs;
	swap_head = r.swap_head;
	r.pairs = NULL;
	if (!want_drop)
		goto done;
	for (size_t i = 0; i < r.nfree; i++)
		span_add(&d, r.free[i].start, r.free[i].end);
	if (aram->n) {		/* never beyond A's firmware RAM */
		struct spans out = { 0 };

		for (size_t i = 0; i < d.n; i++)
			for (size_t k = 0; k < aram->n; k++) {
				uint64_t a = d.v[i].start > aram->v[k].start ?
					     d.v[i].start : aram->v[k].start;
				uint64_t b = d.v[i].end < aram->v[k].end ?
					     d.v[i].end : aram->v[k].end;

				span_add(&out, (a + 4095) & ~4095ull, b & ~4095ull);
			}
		free(d.v);
		d = out;
	}
	for (size_t i = 0; i < d.n; i++)	/* inside the image */
		for (size_t k = 0; k < save->n; k++) {
			uint64_t a = d.v[i].start > save->v[k].start ?
				     d.v[i].start : save->v[k].start;
			uint64_t b = d.v[i].end < save->v[k].end ?
				     d.v[i].end : save->v[k].end;

			a = (a + 4095) & ~4095ull;
			b &= ~4095ull;
			if (a < b) {
				span_add(&drop, a, b);
				n += (b - a) >> 12;
			}
		}
	spans_norm(&drop);
	say("dropped %" PRIu64 " free pages (%" PRIu64 " MiB) of A's buddy "
	    "allocator", n, n >> 8);
	if (r.have_nr_free)
		snprintf(nr, sizeof(nr), " (its zones count %" PRId64 ")",
			 r.nr_free);
	say("A's buddy allocator: %" PRIu64 " free pages%s; not dropped: %"
	    PRIu64 " of A's kexec image, %" PRIu64 " in B's RAM or outside "
	    "the image; %u-level paging, %" PRIu64 " kexec swap pairs, %.1f s",
	    r.buddy_pages, nr, r.kexec_pages, r.buddy_pages - r.kexec_pages - n,
	    r.levels, r.swap_pairs, (double)(now_ns() - t0) / 1e9);
done:
	fp_result_free(&r);
out:
	free(d.v);
	free(ram.v);
}

/*
 * Undo A's kexec swap in the image (see moved): @save gains the
 * destination pages of A's swap list, drop its source pages. 0: done; -1:
 * not possible, nothing changed, A swaps its pages back itself.
 */
static int unswap(struct spans *save)
{
	struct spans dst = { 0 }, src = { 0 };

	moved = xrealloc(NULL, (nswaps ? nswaps : 1) * sizeof(*moved));
	for (size_t i = 0; i < nswaps; i++) {
		if (swaps[i].dest == swaps[i].src)
			continue;
		/* the source is read from the core: it must be in the image */
		if (spans_overlap(save, swaps[i].src, swaps[i].src + 4096) != 4096) {
			say("A's kexec swap kept: A's kexec source page 0x%" PRIx64
			    " is not in the memory saved", swaps[i].src);
			free(dst.v);
			free(src.v);
			free(moved);
			moved = NULL;
			nmoved = 0;
			return -1;
		}
		moved[nmoved++] = swaps[i];
		span_add(&dst, swaps[i].dest, swaps[i].dest + 4096);
		span_add(&src, swaps[i].src, swaps[i].src + 4096);
	}
	spans_norm(&dst);
	spans_norm(&src);
	for (size_t i = 0; i < dst.n; i++)
		span_add(save, dst.v[i].start, dst.v[i].end);
	spans_norm(save);
	span_sub(&drop, &dst);
	for (size_t i = 0; i < src.n; i++)
		span_add(&drop, src.v[i].start, src.v[i].end);
	spans_norm(&drop);
	unswap_src = src;
	say("A's kexec swap undone: %zu pages saved where A's return puts "
	    "them (%zu ranges), their source pages as pages of no particular "
	    "content; A skips its swap", nmoved, dst.n);
	free(dst.v);
	unswapped = true;
	return 0;
}

static void piece_add(uint64_t start, uint64_t end, enum src_kind kind,
		      uint64_t off)
{
	struct piece *l = npieces ? &pieces[npieces - 1] : NULL;

	if (start >= end)
		return;
	if (l && l->end == start && l->kind == kind &&
	    (kind != SRC_CORE || l->off + (l->end - l->start) == off)) {
		l->end = end;
		return;
	}
	if (npieces == pieces_cap) {
		pieces_cap = pieces_cap ? pieces_cap * 2 : 64;
		pieces = xrealloc(pieces, pieces_cap * sizeof(*pieces));
	}
	pieces[npieces++] = (struct piece){ start, end, off, kind };
}

struct wins {
	struct window *v;
	size_t n, cap;
};

static void win_add(struct wins *w, uint64_t start, uint64_t end, uint64_t off,
		    size_t entry, enum src_kind kind)
{
	if (start >= end)
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	w->v[w->n++] = (struct window){ start, end, off, entry, kind };
}

/* kexec-tools' backup region: a RAM entry that ends at or below 640 KiB */
static bool is_backup(const struct elfimg_phdr *p)
{
	return p->p_vaddr < KERNEL_TEXT_MAP && p->p_memsz <= BACKUP_END &&
	       p->p_paddr <= BACKUP_END - p->p_memsz;
}

static uint64_t rdown(uint64_t x) { return x - x % 4096; }
static uint64_t rup(uint64_t x) { return (x + 4095) / 4096 * 4096; } /* wraps like the kernel's */

/*
 * B's /proc/vmcore: rebuild fs/proc/vmcore.c's list (see above) and add a
 * window for every file range whose physical source is known. Returns
 * false (and adds nothing) if the headers do not match the model.
 */
static bool vmcore_windows(const struct elfimg_phdr *ph, const size_t *idx,
			   size_t n, uint64_t hdr_end, uint64_t vsize,
			   struct wins *w)
{
	uint64_t running, maxend = 0, base;
	struct wins tmp = { 0 };

	if (n == 0)
		return true;
	base = ph[0].p_offset - (ph[0].p_paddr - rdown(ph[0].p_paddr));
	if (base % 4096 || base < hdr_end || base > vsize) {
		say("/proc/vmcore layout: data starts at 0x%" PRIx64 ", not after "
		    "the headers (0x%" PRIx64 "): not read through it", base,
		    hdr_end);
		return false;
	}
	running = base;
	for (size_t j = 0; j < n; j++) {
		const struct elfimg_phdr *p = &ph[j];
		uint64_t start = rdown(p->p_paddr);
		uint64_t size = rup(p->p_paddr + p->p_memsz) - start;
		uint64_t end = running + size, a, b;

		if (p->p_offset != running + (p->p_paddr - start)) {
			say("/proc/vmcore layout: PT_LOAD[%zu] at offset 0x%" PRIx64
			    ", fs/proc/vmcore.c would put it at 0x%" PRIx64
			    ": nothing read through /proc/vmcore", idx[j],
			    p->p_offset, running + (p->p_paddr - start));
			free(tmp.v);
			return false;
		}
		/* positions this entry serves: first match wins */
		a = maxend > base ? maxend : base;
		b = end < vsize ? end : vsize;
		if (a < b && !is_backup(p)) {
			uint64_t pa = start + (a - running);	/* wraps */

			if (pa < PHYS_LIMIT && b - a <= PHYS_LIMIT - pa)
				win_add(&tmp, pa, pa + (b - a), a, idx[j], SRC_CORE);
		}
		if (end > maxend)
			maxend = end;
		running = end;
	}
	if (running != vsize) {
		say("/proc/vmcore layout: the entries add up to 0x%" PRIx64
		    " bytes, the file has 0x%" PRIx64 ": nothing read through "
		    "it", running, vsize);
		free(tmp.v);
		return false;
	}
	for (size_t k = 0; k < tmp.n; k++)
		win_add(w, tmp.v[k].start, tmp.v[k].end, tmp.v[k].off,
			tmp.v[k].entry, SRC_CORE);
	free(tmp.v);
	return true;
}

static void fmt_range(char *s, size_t len, uint64_t a, uint64_t b)
{
	snprintf(s, len, "0x%" PRIx64 "-0x%" PRIx64, a, b - 1);
}

struct sanitised {
	struct spans save;		/* what the image covers */
	uint64_t bytes[3];		/* per source */
};

/*
 * Decide what to save and where each byte comes from. @ram: A's System
 * RAM from the firmware map (may be empty: then the claims decide alone);
 * @bram: B's RAM (may be empty). Fills the global pieces.
 */
static int sanitise(const struct spans *ram, const struct spans *bram,
		    bool kernel_layout, struct sanitised *out)
{
	const uint8_t *hdr = in.hdr;
	struct elfimg_ehdr eh;
	uint64_t phnum;
	struct elfimg_phdr *ld = NULL;
	size_t *ldidx = NULL, nld = 0;
	struct spans claims = { 0 }, save = { 0 }, unclaimed = { 0 };
	struct wins w = { 0 };
	bool vmcore_ok = true;
	char r1[64], r2[64];
	int rc = 0;

	memcpy(&eh, hdr, sizeof(eh));
	phnum = eh.e_phnum;
	if (eh.e_phnum == ELFIMG_PN_XNUM) {
		struct elfimg_shdr sh;

		memcpy(&sh, hdr + eh.e_shoff, sizeof(sh));	/* probe checked */
		phnum = sh.sh_info;
	}
	ld = xrealloc(NULL, phnum * sizeof(*ld));
	ldidx = xrealloc(NULL, phnum * sizeof(*ldidx));
	for (uint64_t i = 0; i < phnum; i++) {
		struct elfimg_phdr p;

		memcpy(&p, hdr + eh.e_phoff + i * sizeof(p), sizeof(p));
		if (p.p_type != ELFIMG_PT_LOAD)
			continue;
		ldidx[nld] = (size_t)i;
		ld[nld++] = p;
	}
	if (kernel_layout)
		vmcore_ok = vmcore_windows(ld, ldidx, nld, in.hdr_len, in.size, &w);

	/* 1. classify */
	for (size_t j = 0; j < nld; j++) {
		const struct elfimg_phdr *p = &ld[j];
		uint64_t end = p->p_paddr + p->p_memsz, inb;
		char what[96];

		snprintf(what, sizeof(what), "PT_LOAD[%zu] paddr 0x%" PRIx64
			 " size 0x%" PRIx64, ldidx[j], p->p_paddr, p->p_memsz);
		if (p->p_memsz == 0) {
			say("%s: dropped: empty", what);
			continue;
		}
		if (p->p_vaddr >= KERNEL_TEXT_MAP) {
			say("%s vaddr 0x%" PRIx64 ": dropped: kernel text view, "
			    "a duplicate of RAM listed elsewhere", what, p->p_vaddr);
			continue;
		}
		if (p->p_memsz > PHYS_LIMIT || p->p_paddr > PHYS_LIMIT - p->p_memsz) {
			say("%s: dropped: absurd size (end %s 2^52)", what,
			    end < p->p_paddr ? "wraps past" : "beyond");
			continue;
		}
		if (p->p_filesz > p->p_memsz) {
			say("%s: dropped: p_filesz 0x%" PRIx64 " > p_memsz", what,
			    p->p_filesz);
			continue;
		}
		inb = spans_overlap(bram, p->p_paddr, end);
		if (inb == p->p_memsz)
			say("%s: dropped: B's own RAM", what);
		else if (inb)
			say("%s: 0x%" PRIx64 " bytes of it are B's own RAM: "
			    "cut off", what, inb);
		span_add(&claims, p->p_paddr, end);
		if (kernel_layout) {
			struct spans need = { 0 };
			uint64_t reach = 0, want;

			if (inb == p->p_memsz)
				continue;
			if (is_backup(p)) {
				say("%s: kexec-tools' backup region, its data in "
				    "/proc/vmcore is not from p_paddr: not read "
				    "through it", what);
				continue;
			}
			/* its own data: reachable where vmcore_windows() says */
			span_add(&need, p->p_paddr, end);
			span_sub(&need, bram);
			want = p->p_memsz - inb;
			for (size_t k = 0; k < w.n; k++)
				if (w.v[k].entry == ldidx[j])
					reach += spans_overlap(&need, w.v[k].start,
							       w.v[k].end);
			free(need.v);
			if (reach < want)
				say("%s: 0x%" PRIx64 " bytes of its data (file "
				    "offset 0x%" PRIx64 ") are out of reach in "
				    "/proc/vmcore: %s", what, want - reach,
				    p->p_offset, vmcore_ok ? "an earlier entry "
				    "serves those positions, or they lie past "
				    "its end" : "layout not understood");
			continue;
		}
		/* a plain file: data at p_offset, zeros after p_filesz */
		{
			uint64_t a = p->p_offset, b;

			b = p->p_offset > UINT64_MAX - p->p_filesz ? UINT64_MAX :
			    p->p_offset + p->p_filesz;
			if (a < in.hdr_len)
				a = in.hdr_len;
			if (b > in.size)
				b = in.size;
			if (p->p_filesz && !(a == p->p_offset && b - a == p->p_filesz))
				say("%s: file offset 0x%" PRIx64 " size 0x%"
				    PRIx64 " %s: %s", what, p->p_offset,
				    p->p_filesz, a < b ? "partly outside the file"
				    : "outside the file", a < b ?
				    "only the part inside is read from it" :
				    "not read from it");
			if (a < b)
				win_add(&w, p->p_paddr + (a - p->p_offset),
					p->p_paddr + (b - p->p_offset), a,
					ldidx[j], SRC_CORE);
			win_add(&w, p->p_paddr + p->p_filesz, end, 0, ldidx[j],
				SRC_ZERO);
		}
	}
	/* what the wrapped entries serve (a source like any other) */
	for (size_t k = 0; kernel_layout && k < w.n; k++) {
		const struct window *t = &w.v[k];
		const struct elfimg_phdr *p = NULL;

		for (size_t j = 0; j < nld; j++)
			if (ldidx[j] == t->entry)
				p = &ld[j];
		if (p->p_paddr > t->start || p->p_memsz > PHYS_LIMIT ||
		    p->p_paddr + p->p_memsz < t->end)
			say("PT_LOAD[%zu]: its list entry in /proc/vmcore serves "
			    "file offsets 0x%" PRIx64 "-0x%" PRIx64 ": physical "
			    "0x%" PRIx64 "-0x%" PRIx64 ", used as a source",
			    t->entry, t->off, t->off + (t->end - t->start) - 1,
			    t->start, t->end - 1);
	}

	/* overlapping claims: reported, the union is saved once */
	for (size_t j = 0; j < claims.n; j++)
		for (size_t k = j + 1; k < claims.n; k++) {
			uint64_t a = claims.v[j].start > claims.v[k].start ?
				     claims.v[j].start : claims.v[k].start;
			uint64_t b = claims.v[j].end < claims.v[k].end ?
				     claims.v[j].end : claims.v[k].end;

			if (a < b) {
				fmt_range(r1, sizeof(r1), a, b);
				say("PT_LOADs overlap at %s: saved once", r1);
			}
		}

	/* 2. SAVE = (firmware RAM ∪ claims) − B's RAM */
	for (size_t k = 0; k < claims.n; k++)
		span_add(&save, claims.v[k].start, claims.v[k].end);
	for (size_t k = 0; k < ram->n; k++)
		span_add(&save, ram->v[k].start, ram->v[k].end);
	spans_norm(&claims);
	spans_norm(&save);
	span_sub(&save, bram);
	unclaimed = (struct spans){ 0 };
	for (size_t k = 0; k < save.n; k++)
		span_add(&unclaimed, save.v[k].start, save.v[k].end);
	span_sub(&unclaimed, &claims);
	for (size_t k = 0; k < unclaimed.n; k++) {
		fmt_range(r1, sizeof(r1), unclaimed.v[k].start, unclaimed.v[k].end);
		say("A's RAM %s (firmware map) is in no PT_LOAD: added", r1);
	}

	/* 3. sources: core (lowest entry first), zero tail, memory */
	for (size_t s = 0; s < save.n; s++) {
		uint64_t cur = save.v[s].start, end = save.v[s].end;

		while (cur < end) {
			const struct window *best = NULL;
			uint64_t stop = end, next_core = end;

			for (size_t k = 0; k < w.n; k++) {
				const struct window *c = &w.v[k];

				if (c->start <= cur && cur < c->end) {
					if (!best || (c->kind == SRC_CORE &&
						      best->kind != SRC_CORE))
						best = c;
				} else if (c->start > cur) {
					if (c->start < stop)
						stop = c->start;
					if (c->kind == SRC_CORE && c->start < next_core)
						next_core = c->start;
				}
			}
			if (best && best->kind == SRC_CORE) {
				stop = best->end < end ? best->end : end;
				piece_add(cur, stop, SRC_CORE,
					  best->off + (cur - best->start));
			} else if (best) {
				stop = best->end < end ? best->end : end;
				if (next_core < stop)
					stop = next_core;
				piece_add(cur, stop, SRC_ZERO, 0);
			} else {
				piece_add(cur, stop, SRC_MEM, 0);
			}
			cur = stop;
		}
	}

	/* a place read through /proc/vmcore must agree with /dev/mem */
	if (kernel_layout && vmcore_ok && mem_fd >= 0) {
		static uint8_t a[4096], b[4096];

		for (size_t k = 0; k < npieces; k++) {
			size_t n = pieces[k].end - pieces[k].start < sizeof(a) ?
				   (size_t)(pieces[k].end - pieces[k].start) :
				   sizeof(a);

			if (pieces[k].kind != SRC_CORE)
				continue;
			if (core_pread(a, n, pieces[k].off) ||
			    mem_read(pieces[k].start, b, n, pieces[k].end)) {
				rc = -1;
				goto done;
			}
			if (memcmp(a, b, n)) {
				say("0x%" PRIx64 " in /proc/vmcore (offset 0x%"
				    PRIx64 ") differs from %s: the layout model "
				    "is wrong, everything is read from %s",
				    pieces[k].start, pieces[k].off, mem_path,
				    mem_path);
				for (size_t i = 0; i < npieces; i++)
					if (pieces[i].kind == SRC_CORE)
						pieces[i].kind = SRC_MEM;
				break;
			}
		}
	}

	/* report where the bytes come from; refuse gaps */
	for (size_t k = 0; k < npieces; k++) {
		const struct piece *p = &pieces[k];

		out->bytes[p->kind] += p->end - p->start;
		fmt_range(r1, sizeof(r1), p->start, p->end);
		if (p->kind == SRC_CORE)
			snprintf(r2, sizeof(r2), " (offset 0x%" PRIx64 ")", p->off);
		else
			r2[0] = '\0';
		if (p->kind == SRC_MEM && mem_fd < 0) {
			fprintf(stderr, "kjsave: %s of A's RAM is readable "
				"neither from %s nor from physical memory "
				"(--mem)\n", r1, in.path);
			rc = -1;
		} else if (verbose) {
			say("read %s from %s%s", r1, p->kind == SRC_CORE ?
			    in.path : p->kind == SRC_ZERO ? "nowhere (zero tail)"
			    : mem_path, r2);
		}
	}
	if (rc == 0)
		say("saving %zu range(s), 0x%" PRIx64 " bytes: 0x%" PRIx64 " from "
		    "%s, 0x%" PRIx64 " from %s, 0x%" PRIx64 " zero tails",
		    save.n, out->bytes[0] + out->bytes[1] + out->bytes[2],
		    out->bytes[SRC_CORE], in.path, out->bytes[SRC_MEM],
		    mem_fd >= 0 ? mem_path : "physical memory",
		    out->bytes[SRC_ZERO]);
done:
	out->save = save;
	free(claims.v);
	free(unclaimed.v);
	free(w.v);
	free(ld);
	free(ldidx);
	return rc;
}

/*
 * Let the pure reader check the notes and the entry against the sanitised
 * segments: a synthetic core with the input's notes and one PT_LOAD
 * (p_filesz 0) per range of @save. in.info and in.segs describe it.
 */
static uint8_t *synth;

static int parse_sanitised(const struct spans *save,
			   const struct elfimg_opts *opts)
{
	const uint8_t *hdr = in.hdr;
	struct elfimg_ehdr eh, ne;
	uint64_t phnum, nnotes = 0, notes_len = 0, off;
	struct elfimg_phdr p;
	size_t total;
	enum elfimg_err err;

	memcpy(&eh, hdr, sizeof(eh));
	phnum = eh.e_phnum;
	if (eh.e_phnum == ELFIMG_PN_XNUM) {
		struct elfimg_shdr sh;

		memcpy(&sh, hdr + eh.e_shoff, sizeof(sh));
		phnum = sh.sh_info;
	}
	for (uint64_t i = 0; i < phnum; i++) {
		memcpy(&p, hdr + eh.e_phoff + i * sizeof(p), sizeof(p));
		if (p.p_type == ELFIMG_PT_NOTE) {
			nnotes++;
			notes_len += (p.p_filesz + 7) & ~7ull;
		}
	}
	if (save->n == 0) {
		fprintf(stderr, "kjsave: nothing to save\n");
		return -1;
	}
	if (nnotes + save->n >= ELFIMG_PN_XNUM) {
		fprintf(stderr, "kjsave: too many ranges to save (%zu)\n",
			save->n);
		return -1;
	}
	total = sizeof(eh) + (nnotes + save->n) * sizeof(p) + notes_len;
	free(synth);
	synth = xrealloc(NULL, total);
	memset(synth, 0, total);
	ne = eh;
	ne.e_phoff = sizeof(eh);
	ne.e_phnum = (uint16_t)(nnotes + save->n);
	ne.e_shoff = 0;
	ne.e_shnum = 0;
	ne.e_shentsize = 0;
	ne.e_shstrndx = 0;
	memcpy(synth, &ne, sizeof(ne));
	off = sizeof(eh) + (nnotes + save->n) * sizeof(p);
	nnotes = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		memcpy(&p, hdr + eh.e_phoff + i * sizeof(p), sizeof(p));
		if (p.p_type != ELFIMG_PT_NOTE)
			continue;
		memcpy(synth + off, hdr + p.p_offset, p.p_filesz); /* probe: in hdr */
		p.p_offset = off;
		memcpy(synth + sizeof(eh) + nnotes++ * sizeof(p), &p, sizeof(p));
		off += (p.p_filesz + 7) & ~7ull;
	}
	for (size_t k = 0; k < save->n; k++) {
		p = (struct elfimg_phdr){ .p_type = ELFIMG_PT_LOAD, .p_flags = 7,
			.p_paddr = save->v[k].start,
			.p_memsz = save->v[k].end - save->v[k].start };
		memcpy(synth + sizeof(eh) + (nnotes + k) * sizeof(p), &p,
		       sizeof(p));
	}
	free(in.segs);
	in.segs = xrealloc(NULL, save->n * sizeof(*in.segs));
	err = elfimg_parse(synth, total, opts, &in.info, in.segs, save->n);
	if (err) {
		fprintf(stderr, "kjsave: %s: %s\n", in.path, elfimg_strerror(err));
		if (err == ELFIMG_E_ENTRY)
			fprintf(stderr, "kjsave: the jump-back entry 0x%" PRIx64
				" is not in the memory to save\n", in.info.entry);
		return -1;
	}
	return 0;
}

/* ---- FIEMAP ---- */

static int get_extents(int fd, uint64_t size, struct elfimg_extent *ext,
		       size_t *n, size_t max)
{
	size_t cap = 512;
	struct fiemap *fm = calloc(1, sizeof(*fm) +
				      cap * sizeof(struct fiemap_extent));
	uint64_t pos = 0;

	*n = 0;
	if (!fm)
		return -1;
	while (pos < size) {
		fm->fm_start = pos;
		fm->fm_length = size - pos;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = (uint32_t)cap;
		fm->fm_mapped_extents = 0;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			int e = errno;

			free(fm);
			if (e == EOPNOTSUPP || e == ENOTTY)
				return -2;	/* e.g. tmpfs */
			fprintf(stderr, "kjsave: FIEMAP: %s\n", strerror(e));
			return -1;
		}
		if (fm->fm_mapped_extents == 0)
			break;
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *fe = &fm->fm_extents[i];
			const uint32_t bad = FIEMAP_EXTENT_UNKNOWN |
				FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_ENCODED |
				FIEMAP_EXTENT_DATA_ENCRYPTED |
				FIEMAP_EXTENT_NOT_ALIGNED |
				FIEMAP_EXTENT_DATA_INLINE |
				FIEMAP_EXTENT_DATA_TAIL |
				FIEMAP_EXTENT_UNWRITTEN;

			if (fe->fe_flags & bad) {
				fprintf(stderr, "kjsave: extent at %llu has flags "
					"0x%x: the loader could not read it raw\n",
					(unsigned long long)fe->fe_logical,
					fe->fe_flags);
				goto fail;
			}
			if (fe->fe_logical != pos) {
				fprintf(stderr, "kjsave: file has a hole at %"
					PRIu64 "\n", pos);
				goto fail;
			}
			if (*n && ext[*n - 1].dev_offset + ext[*n - 1].length ==
				      fe->fe_physical) {
				ext[*n - 1].length += fe->fe_length;
			} else {
				if (*n == max) {
					fprintf(stderr, "kjsave: more than %zu "
						"extents\n", max);
					goto fail;
				}
				ext[(*n)++] = (struct elfimg_extent){
					fe->fe_logical, fe->fe_physical,
					fe->fe_length };
			}
			pos = fe->fe_logical + fe->fe_length;
		}
		if (fm->fm_extents[fm->fm_mapped_extents - 1].fe_flags &
		    FIEMAP_EXTENT_LAST)
			break;
	}
	free(fm);
	if (pos < size) {
		fprintf(stderr, "kjsave: extents end at %" PRIu64 " < %" PRIu64
			"\n", pos, size);
		return -1;
	}
	return 0;
fail:
	free(fm);
	return -1;
}

static void device_of(int fd, char *dev, size_t dlen, uint64_t *part_start)
{
	struct stat st;
	char p[128], v[64];
	uint64_t sectors;

	*part_start = 0;
	dev[0] = '\0';
	if (fstat(fd, &st))
		return;
	snprintf(dev, dlen, "%u:%u", major(st.st_dev), minor(st.st_dev));
	snprintf(p, sizeof(p), "/sys/dev/block/%s/start", dev);
	if (read_line(p, v, sizeof(v)) && parse_u64(v, &sectors))
		*part_start = sectors * 512;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "level", required_argument, NULL, 'l' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 'j' },
		{ "entry", required_argument, NULL, 'e' },
		{ "memmap", required_argument, NULL, 'm' },
		{ "scratch", required_argument, NULL, 's' },
		{ "no-scratch", no_argument, NULL, 'S' },
		{ "no-fiemap", no_argument, NULL, 'F' },
		{ "in-place", no_argument, NULL, 'P' },
		{ "iomem", required_argument, NULL, 'I' },
		{ "mem", required_argument, NULL, 'M' },
		{ "vmcore-layout", no_argument, NULL, 'L' },
		{ "keep-free", no_argument, NULL, 'K' },
		{ "zero-free", no_argument, NULL, 'Z' },
		{ "crc32", no_argument, NULL, 'C' },
		{ "keep-swap", no_argument, NULL, 'W' },
		{ "lz4", no_argument, NULL, '4' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *input = "/proc/vmcore", *memmap_dir = NULL, *output;
	const char *iomem_path = NULL;
	struct spans aram = { 0 }, bram = { 0 };
	struct sanitised san = { 0 };
	bool kernel_layout = false;
	struct elfimg_opts opts = { .allow_plain = true };
	struct elfimg_wparams p = { .level = 1 };
	bool want_lz4 = false, want_level = false;
	struct ranges mm = { 0 }, scratch = { 0 }, ram = { 0 };
	bool no_scratch = false, no_fiemap = false, scratch_given = false;
	bool keep_free = false;
	bool zero_free = false;
	bool in_place = false;
	bool keep_swap = false;
	bool is_vmcore, is_file;
	static struct elfimg_extent ext[MAX_EXTENTS], ext2[MAX_EXTENTS];
	size_t next = 0, next2 = 0;
	struct elfimg_resume_note rn;
	struct elfimg_wseg *ws;
	size_t nws = 0;
	struct elfimg_writer *w = NULL;
	const struct elfimg_wstats *st;
	enum elfimg_err err;
	struct stat ost;
	uint64_t v, t0;
	int c;

	while ((c = getopt_long(argc, argv, "i:l:c:j:e:m:s:qvh", lo, NULL)) != -1) {
		switch (c) {
		case 'i': input = optarg; break;
		case 'l':
			if (!strcmp(optarg, "lz4")) {
				want_lz4 = true;
				break;
			}
			if (!parse_u64(optarg, &v) || v > 9)
				goto bad;
			p.level = (int)v;
			want_level = true;
			break;
		case 'c':
			if (!parse_u64(optarg, &v) || v > UINT32_MAX)
				goto bad;
			p.chunk_size = (uint32_t)v;
			break;
		case 'j':
			if (!parse_u64(optarg, &v) || v < 1 || v > 64)
				goto bad;
			p.threads = (unsigned)v;
			break;
		case 'e':
			if (!parse_u64(optarg, &opts.entry))
				goto bad;
			opts.have_entry = true;
			break;
		case 'm': memmap_dir = optarg; break;
		case 'P': in_place = true; break;
		case 's': {
			char *dash = strchr(optarg, '-');
			uint64_t a, b;

			if (!dash)
				goto bad;
			*dash = '\0';
			if (!parse_u64(optarg, &a) || !parse_u64(dash + 1, &b) ||
			    b <= a)
				goto bad;
			ranges_add(&scratch, a, b - a, 0);
			scratch_given = true;
			break;
		}
		case 'S': no_scratch = true; break;
		case 'F': no_fiemap = true; break;
		case 'I': iomem_path = optarg; break;
		case 'M': mem_path = optarg; break;
		case 'L': kernel_layout = true; break;
		case 'K': keep_free = true; break;
		case 'Z': zero_free = true; break;
		case 'C': p.crc32 = true; break;
		case 'W': keep_swap = true; break;
		case '4': want_lz4 = true; break;
		case 'v': verbose = true; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		default:
bad:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	output = argv[optind];
	is_vmcore = !strcmp(input, "/proc/vmcore");
	/* LZ4 unless a zlib level is asked for (and --lz4 overrides that) */
	p.lz4 = want_lz4 || !want_level;
	if (!p.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		p.threads = n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
	}

	/* headers only: the reader would reject what kexec-tools wrote */
	if (img_open(&in, input, O_RDONLY, &opts, true))
		return 1;
	if (in.info.kind == ELFIMG_KIND_KJ) {
		fprintf(stderr, "kjsave: %s is already a kjresume image\n", input);
		return 1;
	}
	if (is_vmcore) {
		kernel_layout = true;
		if (!memmap_dir)
			memmap_dir = "/sys/firmware/memmap";
		if (!iomem_path)
			iomem_path = "/proc/iomem";
		if (!mem_path)
			mem_path = "/dev/mem";
	}
	if (in.size > INT64_MAX)	/* /proc/vmcore's size may have wrapped */
		in.size = INT64_MAX;

	/* A's memory map: its System RAM must be saved */
	if (memmap_dir && strcmp(memmap_dir, "none")) {
		if (read_memmap(memmap_dir, &mm))
			return 1;
		for (size_t i = 0; i < mm.n; i++)
			if (mm.r[i].type == 1 && mm.r[i].start < PHYS_LIMIT)
				span_add(&aram, mm.r[i].start,
					  mm.r[i].size > PHYS_LIMIT - mm.r[i].start ?
					  PHYS_LIMIT : mm.r[i].start + mm.r[i].size);
		spans_norm(&aram);
	}
	/* B's RAM: never saved, the default scratch */
	if (iomem_path && strcmp(iomem_path, "none")) {
		if (read_iomem_ram(iomem_path, &ram))
			return 1;
		for (size_t i = 0; i < ram.n; i++)
			span_add(&bram, ram.r[i].start, ram.r[i].start + ram.r[i].size);
		spans_norm(&bram);
	}
	if (mem_path && !strcmp(mem_path, "none"))
		mem_path = NULL;
	if (mem_path) {
		struct stat mst;

		mem_fd = open(mem_path, O_RDONLY | O_CLOEXEC);
		if (mem_fd < 0 || fstat(mem_fd, &mst)) {
			fprintf(stderr, "kjsave: warning: %s: %s\n", mem_path,
				strerror(errno));
			mem_fd = -1;
		} else {
			mem_is_file = S_ISREG(mst.st_mode);
		}
	}
	if (!aram.n && !quiet)
		fprintf(stderr, "kjsave: warning: no memory map of A: saving what "
			"the core's PT_LOADs list, completeness not checked\n");
	if (sanitise(&aram, &bram, kernel_layout, &san) ||
	    parse_sanitised(&san.save, &opts))
		return 1;
	if (!in.info.have_entry) {
		fprintf(stderr, "kjsave: %s has no LINUXKJUMP note; give the "
			"jump-back entry with --entry\n", input);
		return 1;
	}
	if (mm.n && (!ranges_disjoint(&mm) || !memmap_covers(&mm))) {
		fprintf(stderr, "kjsave: warning: %s does not cover every "
			"segment (or overlaps); not recorded\n", memmap_dir);
		mm.n = 0;
	}
	if (keep_free)
		say("--keep-free: A's free pages are saved too");
	/* the walk: for the free pages, or for the swap list alone */
	if (!keep_free || (in.info.have_inplace && !keep_swap))
		find_free(&aram, &bram, &san.save, !keep_free);
	/* unswap: A's kernel offers the entry, fp_find() checked its swap
	 * list, and the note and A's control page agree on where it is */
	if (in.info.have_inplace && !keep_swap) {
		if (!swaps)
			say("A's kexec swap kept: A's kexec swap list is unknown; A "
			    "swaps its pages back itself");
		else if (in.info.inplace_list != swap_head ||
			 (in.info.inplace_entry & ~4095ull) != (in.info.entry & ~4095ull))
			say("A's kexec swap kept: the in-place note (entry 0x%" PRIx64
			    ", list 0x%" PRIx64 ") does not match A's control page",
			    in.info.inplace_entry, in.info.inplace_list);
		else if (!unswap(&san.save) &&
			 parse_sanitised(&san.save, &opts))
			return 1;
	}
	/* scratch: B's RAM outside the image */
	if (no_scratch)
		scratch.n = 0;
	else if (!scratch_given)
		subtract_segments(&ram, &scratch);
	qsort(scratch.r, scratch.n, sizeof(*scratch.r), cmp_range);
	if (!ranges_disjoint(&scratch)) {
		fprintf(stderr, "kjsave: scratch ranges overlap\n");
		return 1;
	}

	/* holes: A's free pages if A needs no content in them, and the kexec
	 * source pages of an unswapped image, whose content A never reads */
	if (drop.n && !zero_free &&
	    (in.info.resume_flags & ELFIMG_RESUME_FREE_ANY))
		make_holes(&drop, unswapped ? "A's free pages and kexec source "
			   "pages need no particular content" :
			   "A's free pages need no particular content");
	else if (unswap_src.n)
		make_holes(&unswap_src, "A's kexec source pages need no "
			   "particular content");
	ws = segments_minus_holes(&nws);

	if (in.info.have_resume_note) {
		memset(&rn, 0, sizeof(rn));
		rn.version = ELFIMG_RESUME_NOTE_V1;
		rn.flags = in.info.resume_flags;
		rn.entry = in.info.entry;
		if (unswapped) {
			rn.flags |= ELFIMG_RESUME_UNSWAPPED;
			rn.entry = in.info.inplace_entry;
		}
		memcpy(rn.release, in.info.release, sizeof(rn.release));
		p.resume_note = &rn;
		p.release = in.info.release;
	}
	p.entry = unswapped ? in.info.inplace_entry : in.info.entry;
	p.resume_flags = in.info.resume_flags | (unswapped ? ELFIMG_RESUME_UNSWAPPED : 0);
	p.vmcoreinfo = in.info.vmcoreinfo;
	p.vmcoreinfo_len = in.info.vmcoreinfo_len;
	p.memmap = mm.r;
	p.nmemmap = mm.n;
	p.scratch = scratch.r;
	p.nscratch = scratch.n;
	p.tool = "kjsave";
	read_source = drop.n ? read_mem_filtered : read_mem;
	p.read_mem = read_timed;
	p.write_at = write_at;
	p.progress = on_progress;

	out_fd = open(output, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (out_fd < 0 || fstat(out_fd, &ost)) {
		fprintf(stderr, "kjsave: %s: %s\n", output, strerror(errno));
		return 1;
	}
	is_file = S_ISREG(ost.st_mode);
	if (S_ISBLK(ost.st_mode)) {
		int bs = 0;
		dio_fd = open(output, O_WRONLY | O_DIRECT | O_CLOEXEC);
		if (dio_fd >= 0 && (ioctl(dio_fd, BLKSSZGET, &bs) || bs < 512 || bs > 65536 ||
				    posix_memalign((void **)&dio_buf, 4096, DIO_CAP))) {
			close(dio_fd);	/* buffered writes, as for a file */
			dio_fd = -1;
		}
		dio_blk = (unsigned)bs;
		pthread_t thr;
		/* no second buffer or thread: direct writes, one at a time */
		dio_async = dio_fd >= 0 && !posix_memalign((void **)&dio_spare, 4096, DIO_CAP) &&
			    !pthread_create(&thr, NULL, dio_writer, NULL);
	}
	/* --in-place: a file preallocated before the hibernation (its first
	 * block's place is already in the boot loader's settings) is
	 * overwritten without truncating, so its blocks stay where they are */
	if (is_file && !in_place && ftruncate(out_fd, 0)) {
		fprintf(stderr, "kjsave: %s: %s\n", output, strerror(errno));
		return 1;
	}
	/* room for one extent per 32 MiB of memory, at least 256 */
	p.extents_reserve = 256 + (size_t)(in.info.total_bytes >> 25);
	if (p.extents_reserve > MAX_EXTENTS)
		p.extents_reserve = MAX_EXTENTS;
	if (!is_file || no_fiemap)
		p.extents_reserve = 0;

	t0 = now_ns();
	if ((err = elfimg_writer_new(&p, ws, nws, &w)) ||
	    (err = elfimg_writer_write_data(w)))
		goto werr;
	st = elfimg_writer_stats(w);
	if (is_file && !in_place && ftruncate(out_fd, (off_t)st->data_end)) {
		fprintf(stderr, "kjsave: truncate: %s\n", strerror(errno));
		return 1;
	}
	if (sync_out())
		return 1;
	if (p.extents_reserve) {
		char dev[32];
		struct elfimg_extents_dev d = { .device = dev };

		int rc = get_extents(out_fd, st->data_end, ext, &next,
				     p.extents_reserve);

		if (rc == -2) {
			fprintf(stderr, "kjsave: warning: %s: no FIEMAP on this "
				"filesystem; no extents recorded\n", output);
			p.extents_reserve = 0;
			next = 0;
		} else if (rc) {
			return 1;
		} else {
			device_of(out_fd, dev, sizeof(dev), &d.part_start);
			if ((err = elfimg_writer_set_extents(w, ext, next, &d)))
				goto werr;
		}
	}
	if ((err = elfimg_writer_write_headers(w)))
		goto werr;
	if (sync_out())
		return 1;
	if (p.extents_reserve) {
		if (get_extents(out_fd, st->data_end, ext2, &next2,
				p.extents_reserve))
			return 1;
		if (next2 != next || memcmp(ext, ext2, next * sizeof(*ext))) {
			fprintf(stderr, "kjsave: the file moved on disk while "
				"its headers were rewritten (copy-on-write "
				"filesystem?); image left incomplete\n");
			return 1;
		}
	}
	if ((err = elfimg_writer_mark_complete(w)))
		goto werr;
	if (sync_out())
		return 1;
	if (!quiet) {
		uint64_t ns = now_ns() - t0, other = ns_read + ns_write + ns_sync;

		fprintf(stderr, "kjsave: %s: %" PRIu64 " MiB of memory in %zu "
			"segments -> %" PRIu64 " MiB (%" PRIu64 " zero pages "
			"dropped, %zu extents) in %.1f s (%u compressing "
			"thread%s), state complete\n",
			output, st->mem_bytes >> 20, nws,
			st->data_end >> 20, st->zero_units, next, (double)ns / 1e9,
			p.threads, p.threads > 1 ? "s" : "");
		fprintf(stderr, "kjsave: of that: reading A's memory %.1f s, "
			"%s %.1f s, writing %.1f s, syncing %.1f s\n",
			(double)ns_read / 1e9, p.threads > 1 ?
			"waiting for the compressing threads and the rest" :
			"compressing, checking and the rest",
			(double)(ns > other ? ns - other : 0) / 1e9,
			(double)ns_write / 1e9, (double)ns_sync / 1e9);
	}
	elfimg_writer_free(w);
	close(out_fd);
	img_close(&in);
	free(ws);
	free(mm.r);
	free(scratch.r);
	free(ram.r);
	free(aram.v);
	free(bram.v);
	free(san.save.v);
	free(drop.v);
	free(holes.v);
	free(swaps);
	free(moved);
	free(unswap_src.v);
	free(pieces);
	free(synth);
	if (mem_fd >= 0)
		close(mem_fd);
	return 0;
werr:
	fprintf(stderr, "kjsave: %s\n", elfimg_strerror(err));
	elfimg_writer_free(w);
	return 1;
}
