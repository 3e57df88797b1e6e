// SPDX-License-Identifier: MIT
/*
 * Host tests of the loader's pure parts: settings, the memory-map
 * comparison, destination extents of real (writer-made) images, and the
 * freestanding formatter.
 */
#include "tests/unit/test.h"

#include "elfimg/write.h"
#include "loader/fmt.h"
#include "loader/loader.h"

TEST(options_defaults_and_sources)
{
	struct kj_options o;
	char err[96];

	kj_options_default(&o);
	ASSERT_EQ(o.pause, 3);
	ASSERT(kj_options_parse(&o, "\\EFI\\kjresume\\kjresume.efi partlabel=img verbose pause=0", err, sizeof(err)));
	ASSERT(!strcmp(o.partlabel, "img") && o.verbose && o.pause == 0 && !o.dry_run);
	ASSERT(!o.check_all);
	ASSERT(kj_options_parse(&o, "check-all", err, sizeof(err)) && o.check_all);
	/* the last source wins, config file then load options */
	ASSERT(kj_options_parse(&o, "# comment image=x\nimage=/kj/hib.img\n", err, sizeof(err)));
	ASSERT(!strcmp(o.image, "/kj/hib.img") && !o.partlabel[0]);
	ASSERT(kj_options_parse(&o, "partuuid=0FC63DAF-8483-4772-8E79-3D69D8477DE4 dry-run", err, sizeof(err)));
	ASSERT(kj_options_parse(&o, "discard", err, sizeof(err)) && o.discard);
	ASSERT(!o.image[0] && o.dry_run && !strcmp(o.partuuid, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"));
}

TEST(options_reject_bad_values)
{
	struct kj_options o;
	char err[96];

	kj_options_default(&o);
	ASSERT(!kj_options_parse(&o, "bogus=1", err, sizeof(err)));
	ASSERT(strstr(err, "unknown setting: bogus=1"));
	ASSERT(!kj_options_parse(&o, "partuuid=1234", err, sizeof(err)));
	ASSERT(!kj_options_parse(&o, "pause=x", err, sizeof(err)));
	ASSERT(!kj_options_parse(&o, "offset=1000", err, sizeof(err))); /* not a sector */
	ASSERT(kj_options_parse(&o, "offset=135266304", err, sizeof(err)) && o.offset == 135266304);
	ASSERT(!kj_options_parse(&o, "image=", err, sizeof(err)));
	char longname[400];
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "image=", 6);
	longname[399] = 0;
	ASSERT(!kj_options_parse(&o, longname, err, sizeof(err)));
}

TEST(e820_merge_and_compare)
{
	/* what B reports of A's map (kexec-tools starts RAM at 0x400) */
	struct kj_e820 a[] = {
		{ 0x400, 0x1000, 1 }, { 0x1000, 0xa0000, 1 }, { 0x100000, 0x800000, 1 },
		{ 0x800000, 0x808000, 4 }, { 0x808000, 0x810000, 1 }, { 0x810000, 0x810000, 1 },
		{ 0xffc00000, 0x100000000, 2 },
	};
	/* today's firmware map, flash MMIO not in it */
	struct kj_e820 b[] = {
		{ 0, 0xa0000, 1 }, { 0x100000, 0x800000, 1 },
		{ 0x800000, 0x808000, 4 }, { 0x808000, 0x810000, 1 }, { 0xb0000000, 0xc0000000, 2 },
	};
	struct kj_e820 scratch[16];
	char msg[160];
	size_t na = kj_e820_merge(a, 7), nb = kj_e820_merge(b, 5);
	ASSERT_EQ(na, 5);
	ASSERT(kj_e820_same(a, na, b, nb, msg, sizeof(msg), scratch));
	b[2].type = 2; /* NVS became reserved */
	ASSERT(!kj_e820_same(a, na, b, nb, msg, sizeof(msg), scratch));
	ASSERT(strstr(msg, "hibernated: NVS 0x800000-0x807fff, now: no more ACPI/NVS"));
	b[2].type = 4;
	b[3].end = 0x820000; /* more RAM */
	ASSERT(!kj_e820_same(a, na, b, nb, msg, sizeof(msg), scratch));
	ASSERT(strstr(msg, "hibernated: RAM 0x808000-0x80ffff, now: RAM 0x808000-0x81ffff"));
	b[3].end = 0x810000;
	ASSERT(!kj_e820_same(a, na, b, nb - 2, msg, sizeof(msg), scratch));
	ASSERT(strstr(msg, "now: no more RAM"));
}

TEST(fmt_subset)
{
	char b[64];
	ASSERT_EQ(kj_snprintf(b, sizeof(b), "%s|%5d|%-3u|%08llx|%x|%c|%%|%zu", "ab", -42, 7u,
			      0xdeadbeefULL, 0u, 'z', (size_t)12), 30);
	ASSERT(!strcmp(b, "ab|  -42|7  |deadbeef|0|z|%|12"));
	ASSERT_EQ(kj_snprintf(b, 4, "%s", "truncated"), 9);
	ASSERT(!strcmp(b, "tru"));
}

/* ---- destination extents of writer-made images ---- */

static uint64_t zero_lo, zero_hi; /* memory reads as zero in [lo, hi) */

static int mem_read(void *ctx, uint64_t paddr, void *buf, size_t len)
{
	(void)ctx;
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		uint64_t a = paddr + i;
		p[i] = (a >= zero_lo && a < zero_hi) ? 0 : (uint8_t)(a * 2654435761u >> 13 | 1);
	}
	return 0;
}

struct sink { uint8_t *buf; size_t len; };

static int sink_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct sink *s = ctx;
	if (off + len > s->len) {
		s->buf = realloc(s->buf, off + len);
		memset(s->buf + s->len, 0, off + len - s->len);
		s->len = off + len;
	}
	memcpy(s->buf + off, buf, len);
	return 0;
}

static struct elfimg_segment segs[64];

static void check_extents(const struct elfimg_wseg *ws, size_t n)
{
	struct sink s = { 0 };
	struct elfimg_wparams p = {
		.level = 1, .chunk_size = 16 * 4096, .entry = ws[0].paddr + 0x10,
		.read_mem = mem_read, .write_at = sink_write, .ctx = &s, .tool = "test",
	};
	struct elfimg_writer *w;
	struct elfimg_info info;
	uint64_t need;
	static struct reloc_dest d[256];

	ASSERT_EQ(elfimg_writer_new(&p, ws, n, &w), ELFIMG_OK);
	ASSERT_EQ(elfimg_writer_write_data(w), ELFIMG_OK);
	ASSERT_EQ(elfimg_writer_write_headers(w), ELFIMG_OK);
	ASSERT_EQ(elfimg_writer_mark_complete(w), ELFIMG_OK);
	elfimg_writer_free(w);
	ASSERT_EQ(elfimg_probe(s.buf, 4096, &need), ELFIMG_OK);
	ASSERT_EQ(elfimg_parse(s.buf, need, NULL, &info, segs, 64), ELFIMG_OK);
	size_t nd = kj_dest_extents(&info, segs, info.nsegs, d, 256);
	ASSERT(nd != (size_t)-1 && nd > 0);
	size_t small = kj_dest_extents(&info, segs, info.nsegs, d, 1);
	ASSERT(nd == 1 ? small == 1 : small == (size_t)-1);
	nd = kj_dest_extents(&info, segs, info.nsegs, d, 256);
	if (getenv("KJ_VERBOSE"))
		for (size_t i = 0; i < nd; i++)
			fprintf(stderr, "  [%" PRIx64 "-%" PRIx64 ")%s\n", d[i].start, d[i].end, d[i].zero ? " zero" : "");
	/* sorted, disjoint, page aligned, non-empty */
	for (size_t i = 0; i < nd; i++) {
		ASSERT(d[i].start < d[i].end);
		ASSERT(!(d[i].start & 4095) && !(d[i].end & 4095));
		if (i)
			ASSERT(d[i - 1].end <= d[i].start);
	}
	/* every segment byte is in an extent; zero extents hold only zeros
	 * and only whole pages of the segments */
	for (size_t k = 0; k < n; k++)
		for (uint64_t a = ws[k].paddr; a < ws[k].paddr + ws[k].memsz; a += 512) {
			size_t i = 0;
			while (i < nd && d[i].end <= a)
				i++;
			ASSERT(i < nd && d[i].start <= a);
			if (d[i].zero) {
				uint8_t b;
				mem_read(NULL, a, &b, 1);
				ASSERT_EQ(b, 0);
			}
		}
	for (size_t i = 0; i < nd; i++) {
		if (!d[i].zero)
			continue;
		bool inside = false;
		for (size_t k = 0; k < n; k++)
			inside |= ws[k].paddr <= d[i].start && d[i].end <= ws[k].paddr + ws[k].memsz;
		ASSERT(inside);
	}
	free(s.buf);
}

TEST(dest_extents_zero_chunks_and_unaligned_segments)
{
	/* a zero run covering whole chunks in the middle of a segment */
	zero_lo = 0x140000;
	zero_hi = 0x1c0000;
	struct elfimg_wseg a[] = { { 0x100000, 0x100000 }, { 0x300000, 0x20000 } };
	check_extents(a, 2);
	/* unaligned segment boundaries, adjacent segments, a zero run */
	zero_lo = 0x1da89018;
	zero_hi = 0x1dab0000;
	struct elfimg_wseg b[] = {
		{ 0x1d000000, 0xa89018 }, { 0x1da89018, 0x9c40 }, { 0x1da92c58, 0xff73a8 },
	};
	check_extents(b, 3);
	zero_lo = zero_hi = 0;
	check_extents(b, 3);
}
