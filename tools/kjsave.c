// SPDX-License-Identifier: MIT
/*
 * kjsave: the saver that runs in kernel B. It reads A's memory from
 * /proc/vmcore (or any plain ELF core given with -i), drops zero pages,
 * compresses the rest into chunks and writes a kjresume image
 * (docs/FORMAT.md) to a file or a block device:
 *
 *   1. headers with state WRITING, then every chunk
 *   2. fsync; FIEMAP extents of the file (regular files)
 *   3. final headers (index, extents, checksums); fsync
 *   4. FIEMAP again: extents must not have moved
 *   5. state COMPLETE (one 512-byte sector); fsync
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "elfimg/write.h"
#include "tools/common.h"

#define MAX_EXTENTS 65536

static void usage(FILE *f)
{
	fprintf(f,
"usage: kjsave [options] OUTPUT\n"
"Save A's memory as a kjresume image (docs/FORMAT.md) to OUTPUT, a file\n"
"or a block device.\n"
"  -i, --input CORE      plain ELF core to read (default /proc/vmcore)\n"
"  -l, --level N         zlib level 0-9, 0 stores chunks raw (default 1:\n"
"                        twice as fast as 6, 3%% larger; docs/PERFORMANCE.md)\n"
"  -c, --chunk-size N    bytes per chunk, 4 KiB multiple <= 256 KiB\n"
"  -e, --entry ADDR      jump-back entry if the core has no LINUXKJUMP note\n"
"  -m, --memmap DIR|none A's firmware memory map, /sys/firmware/memmap layout\n"
"                        (default: /sys/firmware/memmap when reading\n"
"                        /proc/vmcore, else none)\n"
"  -s, --scratch A-B     B's scratch region (repeatable; default from\n"
"                        /proc/iomem when reading /proc/vmcore)\n"
"      --no-scratch      record no scratch region\n"
"      --no-fiemap       do not record on-disk extents\n"
"  -q, --quiet           no progress output\n");
}

/* ---- input ---- */

static struct img in;

static int read_mem(void *ctx, uint64_t paddr, void *buf, size_t len)
{
	(void)ctx;
	return img_read_mem(&in, paddr, buf, len, NULL, false);
}

static int out_fd = -1;

static int write_at(void *ctx, uint64_t off, const void *buf, size_t len)
{
	(void)ctx;
	if (pwrite_full(out_fd, buf, len, off)) {
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
static int read_iomem_ram(struct ranges *rs)
{
	FILE *f = fopen("/proc/iomem", "re");
	char line[256];

	if (!f)
		return -1;
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
		{ "entry", required_argument, NULL, 'e' },
		{ "memmap", required_argument, NULL, 'm' },
		{ "scratch", required_argument, NULL, 's' },
		{ "no-scratch", no_argument, NULL, 'S' },
		{ "no-fiemap", no_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *input = "/proc/vmcore", *memmap_dir = NULL, *output;
	struct elfimg_opts opts = { .allow_plain = true };
	struct elfimg_wparams p = { .level = 1 };
	struct ranges mm = { 0 }, scratch = { 0 }, ram = { 0 };
	bool no_scratch = false, no_fiemap = false, scratch_given = false;
	bool is_vmcore, is_file;
	static struct elfimg_extent ext[MAX_EXTENTS], ext2[MAX_EXTENTS];
	size_t next = 0, next2 = 0;
	struct elfimg_resume_note rn;
	struct elfimg_wseg *ws;
	struct elfimg_writer *w = NULL;
	const struct elfimg_wstats *st;
	enum elfimg_err err;
	struct stat ost;
	uint64_t v, t0;
	int c;

	while ((c = getopt_long(argc, argv, "i:l:c:e:m:s:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'i': input = optarg; break;
		case 'l':
			if (!parse_u64(optarg, &v) || v > 9)
				goto bad;
			p.level = (int)v;
			break;
		case 'c':
			if (!parse_u64(optarg, &v) || v > UINT32_MAX)
				goto bad;
			p.chunk_size = (uint32_t)v;
			break;
		case 'e':
			if (!parse_u64(optarg, &opts.entry))
				goto bad;
			opts.have_entry = true;
			break;
		case 'm': memmap_dir = optarg; break;
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

	if (img_open(&in, input, O_RDONLY, &opts, false))
		return 1;
	if (in.info.kind != ELFIMG_KIND_PLAIN) {
		fprintf(stderr, "kjsave: %s is already a kjresume image\n", input);
		return 1;
	}
	if (!in.info.have_entry) {
		fprintf(stderr, "kjsave: %s has no LINUXKJUMP note; give the "
			"jump-back entry with --entry\n", input);
		return 1;
	}
	if (elfimg_check_file_size(&in.info, in.segs, in.size) && in.size) {
		fprintf(stderr, "kjsave: %s is truncated\n", input);
		return 1;
	}

	/* memory map */
	if (!memmap_dir && is_vmcore)
		memmap_dir = "/sys/firmware/memmap";
	if (memmap_dir && strcmp(memmap_dir, "none")) {
		if (read_memmap(memmap_dir, &mm))
			return 1;
		if (!ranges_disjoint(&mm) || !memmap_covers(&mm)) {
			fprintf(stderr, "kjsave: warning: %s does not cover every "
				"segment (or overlaps); not recorded\n",
				memmap_dir);
			mm.n = 0;
		}
	}
	/* scratch */
	if (no_scratch) {
		scratch.n = 0;
	} else if (!scratch_given && is_vmcore && read_iomem_ram(&ram) == 0) {
		subtract_segments(&ram, &scratch);
	}
	qsort(scratch.r, scratch.n, sizeof(*scratch.r), cmp_range);
	if (!ranges_disjoint(&scratch)) {
		fprintf(stderr, "kjsave: scratch ranges overlap\n");
		return 1;
	}

	ws = calloc(in.info.nsegs, sizeof(*ws));
	if (!ws)
		return 1;
	for (size_t i = 0; i < in.info.nsegs; i++)
		ws[i] = (struct elfimg_wseg){ in.segs[i].paddr, in.segs[i].memsz };

	if (in.info.have_resume_note) {
		memset(&rn, 0, sizeof(rn));
		rn.version = ELFIMG_RESUME_NOTE_V1;
		rn.flags = in.info.resume_flags;
		rn.entry = in.info.entry;
		memcpy(rn.release, in.info.release, sizeof(rn.release));
		p.resume_note = &rn;
		p.release = in.info.release;
	}
	p.entry = in.info.entry;
	p.resume_flags = in.info.resume_flags;
	p.vmcoreinfo = in.info.vmcoreinfo;
	p.vmcoreinfo_len = in.info.vmcoreinfo_len;
	p.memmap = mm.r;
	p.nmemmap = mm.n;
	p.scratch = scratch.r;
	p.nscratch = scratch.n;
	p.tool = "kjsave";
	p.read_mem = read_mem;
	p.write_at = write_at;
	p.progress = on_progress;

	out_fd = open(output, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (out_fd < 0 || fstat(out_fd, &ost)) {
		fprintf(stderr, "kjsave: %s: %s\n", output, strerror(errno));
		return 1;
	}
	is_file = S_ISREG(ost.st_mode);
	if (is_file && ftruncate(out_fd, 0)) {
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
	if ((err = elfimg_writer_new(&p, ws, in.info.nsegs, &w)) ||
	    (err = elfimg_writer_write_data(w)))
		goto werr;
	st = elfimg_writer_stats(w);
	if (is_file && ftruncate(out_fd, (off_t)st->data_end)) {
		fprintf(stderr, "kjsave: truncate: %s\n", strerror(errno));
		return 1;
	}
	if (fsync(out_fd)) {
		fprintf(stderr, "kjsave: fsync: %s\n", strerror(errno));
		return 1;
	}
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
	if (fsync(out_fd)) {
		fprintf(stderr, "kjsave: fsync: %s\n", strerror(errno));
		return 1;
	}
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
	if (fsync(out_fd)) {
		fprintf(stderr, "kjsave: fsync: %s\n", strerror(errno));
		return 1;
	}
	if (!quiet) {
		double secs = (double)(now_ns() - t0) / 1e9;

		fprintf(stderr, "kjsave: %s: %" PRIu64 " MiB of memory in %zu "
			"segments -> %" PRIu64 " MiB (%" PRIu64 " zero pages "
			"dropped, %zu extents) in %.1f s, state complete\n",
			output, st->mem_bytes >> 20, in.info.nsegs,
			st->data_end >> 20, st->zero_units, next, secs);
	}
	elfimg_writer_free(w);
	close(out_fd);
	img_close(&in);
	free(ws);
	free(mm.r);
	free(scratch.r);
	free(ram.r);
	return 0;
werr:
	fprintf(stderr, "kjsave: %s\n", elfimg_strerror(err));
	elfimg_writer_free(w);
	return 1;
}
