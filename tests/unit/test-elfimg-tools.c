// SPDX-License-Identifier: MIT
/*
 * kjsave and kjimage end to end on a synthetic /proc/vmcore-like core:
 * save (stored and zlib), info, verify, extract (byte-exact against the
 * core), mark, and the refusals (no entry, truncated image, kj input).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "elfimg/elfimg.h"

#ifndef KJ_TOOLS_DIR
#define KJ_TOOLS_DIR "build/tools"
#endif

static const char *dir;

static void setup(void)
{
	dir = test_tmpdir();
	ASSERT(dir);
}

static uint8_t data_byte(uint64_t off)
{
	uint64_t page = off >> 12;

	if (page % 3 == 0)
		return 0;			/* zero pages */
	if (page % 3 == 1)
		return (uint8_t)(off * 7 + page);	/* compressible */
	return (uint8_t)((off * 0x9E3779B97F4A7C15ull) >> 56);
}

struct seg { uint64_t paddr, memsz, filesz; };
static const struct seg core_segs[] = {
	{ 0x1000, 0x9ec00, 0x9ec00 },
	{ 0x100000, 0x600000, 0x400000 },	/* zero-filled tail */
	{ 0x2000000, 0x123000, 0x123000 },
};
#define DATA_OFF 0x1000ull

/* Offset of segment @i's data in the core file. */
static uint64_t seg_off(size_t i)
{
	uint64_t off = DATA_OFF;

	for (size_t k = 0; k < i; k++)
		off += (core_segs[k].filesz + 4095) & ~4095ull;
	return off;
}

static void write_core(const char *path, bool with_note)
{
	struct elfimg_ehdr e = { .e_type = ELFIMG_ET_CORE,
				 .e_machine = ELFIMG_EM_X86_64,
				 .e_version = 1, .e_phoff = 64, .e_ehsize = 64,
				 .e_phentsize = 56, .e_phnum = 5 };
	struct elfimg_phdr ph[5] = { 0 };
	struct elfimg_resume_note rn = { .version = 1, .flags = 3,
					 .entry = 0x1000fb };
	uint8_t notes[512] = { 0 }, *p = notes;
	struct elfimg_nhdr nh;
	const char vmci[] = "OSRELEASE=6.12.0-kj\nPAGESIZE=4096\n";
	FILE *f = fopen(path, "wb");
	uint64_t end = 0;

	ASSERT(f);
	memcpy(e.e_ident, "\177ELF\2\1\1", 7);
	strcpy(rn.release, "6.12.0-kj");
	if (with_note) {
		nh = (struct elfimg_nhdr){ 11, sizeof(rn), 1 };
		memcpy(p, &nh, 12);
		memcpy(p + 12, "LINUXKJUMP", 11);
		memcpy(p + 24, &rn, sizeof(rn));
		p += 24 + sizeof(rn);
	}
	nh = (struct elfimg_nhdr){ 11, sizeof(vmci) - 1, 0 };
	memcpy(p, &nh, 12);
	memcpy(p + 12, "VMCOREINFO", 11);
	memcpy(p + 24, vmci, sizeof(vmci) - 1);
	p += 24 + ((sizeof(vmci) - 1 + 3) & ~3u);
	ph[0] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_NOTE,
				      .p_offset = 64 + 5 * 56,
				      .p_filesz = (uint64_t)(p - notes) };
	for (size_t i = 0; i < 3; i++)
		ph[1 + i] = (struct elfimg_phdr){
			.p_type = ELFIMG_PT_LOAD, .p_paddr = core_segs[i].paddr,
			.p_vaddr = 0xffff888000000000ull + core_segs[i].paddr,
			.p_offset = seg_off(i), .p_filesz = core_segs[i].filesz,
			.p_memsz = core_segs[i].memsz };
	/* kexec-tools' kernel text view, inside segment 1 */
	ph[4] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_LOAD,
				      .p_paddr = 0x200000,
				      .p_vaddr = 0xffffffff81000000ull,
				      .p_offset = seg_off(1) + 0x100000,
				      .p_filesz = 0x10000, .p_memsz = 0x10000 };
	ASSERT(fwrite(&e, sizeof(e), 1, f) == 1);
	ASSERT(fwrite(ph, sizeof(ph), 1, f) == 1);
	ASSERT(fwrite(notes, (size_t)(p - notes), 1, f) == 1);
	for (size_t i = 0; i < 3; i++) {
		uint64_t off = seg_off(i);

		ASSERT(fseek(f, (long)off, SEEK_SET) == 0);
		for (uint64_t b = 0; b < core_segs[i].filesz; b++)
			fputc(data_byte(core_segs[i].paddr + b), f);
		end = off + core_segs[i].filesz;
	}
	(void)end;
	ASSERT(fclose(f) == 0);
}

/* What A's memory holds at @paddr according to the core. */
static uint8_t mem_at(uint64_t paddr)
{
	for (size_t i = 0; i < 3; i++) {
		uint64_t o = paddr - core_segs[i].paddr;

		if (paddr >= core_segs[i].paddr && o < core_segs[i].memsz)
			return o < core_segs[i].filesz ? data_byte(paddr) : 0;
	}
	return 0;
}

static void check_extract(const char *img, uint64_t addr, uint64_t len)
{
	char out[512];
	FILE *f;

	snprintf(out, sizeof(out), "%s/extract.bin", dir);
	ASSERT_EQ(test_sh("%s/kjimage -q extract %s 0x%llx 0x%llx %s 2>/dev/null",
		      KJ_TOOLS_DIR, img, (unsigned long long)addr,
		      (unsigned long long)len, out), 0);
	f = fopen(out, "rb");
	ASSERT(f);
	for (uint64_t i = 0; i < len; i++) {
		int c = fgetc(f);

		if (c != mem_at(addr + i)) {
			fclose(f);
			TEST_FAIL("%s: byte at 0x%llx: %d != %d", img,
				  (unsigned long long)(addr + i), c,
				  mem_at(addr + i));
		}
	}
	ASSERT(fgetc(f) == EOF);
	fclose(f);
}

TEST(tools_save_verify_extract)
{
	/* each form, and the incompat line kjimage shows for it */
	static const char *const forms[][2] = {
		{ "", "0x6 lz4 xxh64" },		/* the default */
		{ "-l 0", "0x2 xxh64" },
		{ "-l 6", "0x3 deflate xxh64" },
		{ "-l 1 --lz4", "0x6 lz4 xxh64" },
		{ "-l lz4", "0x6 lz4 xxh64" },		/* kjhibernate's B */
	};
	char core[300], img[300];

	setup();
	snprintf(core, sizeof(core), "%s/vmcore", dir);
	write_core(core, true);
	for (int k = 0; k < 5; k++) {
		snprintf(img, sizeof(img), "%s/img%d", dir, k);
		ASSERT_EQ(test_sh("%s/kjsave -q %s -i %s %s", KJ_TOOLS_DIR,
			      forms[k][0], core, img), 0);
		ASSERT_EQ(test_sh("%s/kjimage info %s | grep -qx 'incompat *%s'",
			      KJ_TOOLS_DIR, img, forms[k][1]), 0);
		ASSERT_EQ(test_sh("%s/kjimage info %s | grep -q 'state *complete'",
			      KJ_TOOLS_DIR, img), 0);
		ASSERT_EQ(test_sh("%s/kjimage info %s | grep -q 'entry *0x1000fb'",
			      KJ_TOOLS_DIR, img), 0);
		ASSERT_EQ(test_sh("%s/kjimage -q verify %s >/dev/null",
			      KJ_TOOLS_DIR, img), 0);
		/* across segment ends, a zero tail and a hole */
		check_extract(img, 0x9f000, 0x70000);
		check_extract(img, 0x4ff000, 0x102000);
		check_extract(img, 0x2000000, 0x123000);
	}
	/* any number of compressing threads writes the same file (its
	 * extents aside: where the file lies differs from file to file) */
	for (int j = 1; j <= 3; j++) {
		ASSERT_EQ(test_sh("%s/kjsave -q --no-fiemap -j %d -i %s %s/j%d", KJ_TOOLS_DIR,
			      j, core, dir, j), 0);
		if (j > 1)
			ASSERT_EQ(test_sh("cmp -s %s/j1 %s/j%d", dir, dir, j), 0);
	}
	ASSERT(test_sh("%s/kjsave -q -j 0 -i %s %s/j0 2>/dev/null", KJ_TOOLS_DIR,
		   core, dir) == 2);
	/* the plain core reads the same */
	check_extract(core, 0x4ff000, 0x102000);
	ASSERT_EQ(test_sh("%s/kjimage -q verify %s >/dev/null", KJ_TOOLS_DIR, core),
		  0);
	/* kjsave does not take its own output as input */
	ASSERT(test_sh("%s/kjsave -q -i %s %s/again 2>/dev/null", KJ_TOOLS_DIR,
		   img, dir) != 0);
	/* a core cut short: refused, not a fault in a mapped window (the
	 * shell reports a signal as 128 + its number) */
	ASSERT_EQ(test_sh("truncate -s -65536 %s", core), 0);
	int rc = test_sh("%s/kjsave -q -l 0 -i %s %s/cut 2>%s/cut.err", KJ_TOOLS_DIR, core,
			 dir, dir);
	ASSERT(rc > 0 && rc < 128);
	ASSERT_EQ(test_sh("grep -q 'is readable neither from' %s/cut.err", dir), 0);
}

TEST(tools_states_and_refusals)
{
	char core[300], img[300];

	setup();
	snprintf(core, sizeof(core), "%s/vmcore-nonote", dir);
	snprintf(img, sizeof(img), "%s/img-nonote", dir);
	write_core(core, false);
	ASSERT(test_sh("%s/kjsave -q -i %s %s 2>/dev/null", KJ_TOOLS_DIR, core,
		   img) != 0);
	ASSERT_EQ(test_sh("%s/kjsave -q -e 0x2000010 -i %s %s", KJ_TOOLS_DIR, core,
		      img), 0);
	ASSERT_EQ(test_sh("%s/kjimage info %s | grep -q 'entry *0x2000010'",
		      KJ_TOOLS_DIR, img), 0);
	/* complete -> consumed, and no way back */
	ASSERT(test_sh("%s/kjimage mark %s complete 2>/dev/null", KJ_TOOLS_DIR,
		   img) != 0);
	ASSERT_EQ(test_sh("%s/kjimage mark %s consumed", KJ_TOOLS_DIR, img), 0);
	ASSERT_EQ(test_sh("%s/kjimage info %s | grep -q 'state *consumed'",
		      KJ_TOOLS_DIR, img), 0);
	ASSERT(test_sh("%s/kjimage mark %s complete 2>/dev/null", KJ_TOOLS_DIR,
		   img) != 0);
	/* a truncated image */
	ASSERT_EQ(test_sh("truncate -s -4096 %s", img), 0);
	ASSERT(test_sh("%s/kjimage -q verify %s >/dev/null 2>&1", KJ_TOOLS_DIR,
		   img) != 0);
	ASSERT(test_sh("%s/kjimage info %s >/dev/null 2>&1", KJ_TOOLS_DIR, img) != 0);
}

static void memmap_entry(const char *mm, int i, uint64_t start, uint64_t end,
			 const char *type)
{
	ASSERT_EQ(test_sh("mkdir -p %s/%d && echo 0x%llx > %s/%d/start && "
		      "echo 0x%llx > %s/%d/end && echo '%s' > %s/%d/type",
		      mm, i, (unsigned long long)start, mm, i,
		      (unsigned long long)end, mm, i, type, mm, i), 0);
}

TEST(tools_memmap_and_scratch)
{
	char core[300], img[300], mm[300];

	setup();
	snprintf(core, sizeof(core), "%s/vmcore-mm", dir);
	snprintf(img, sizeof(img), "%s/img-mm", dir);
	snprintf(mm, sizeof(mm), "%s/memmap", dir);
	write_core(core, true);
	/* /sys/firmware/memmap layout, unsorted like readdir(); its System
	 * RAM is what the core holds (kjsave saves all of it) */
	memmap_entry(mm, 0, 0x100000, 0x6fffff, "System RAM");
	memmap_entry(mm, 1, 0x1000, 0x9fbff, "System RAM");
	memmap_entry(mm, 2, 0x9fc00, 0x9ffff, "Reserved");
	memmap_entry(mm, 3, 0x2000000, 0x2122fff, "System RAM");
	memmap_entry(mm, 4, 0xfeffc000, 0xfeffffff, "ACPI Non-volatile Storage");
	memmap_entry(mm, 5, 0x700000, 0x1ffffff, "Reserved");
	memmap_entry(mm, 6, 0x2123000, 0x3ffffff, "Reserved");
	ASSERT_EQ(test_sh("%s/kjsave -q -m %s -s 0x800000-0x1000000 -i %s %s",
		      KJ_TOOLS_DIR, mm, core, img), 0);
	ASSERT_EQ(test_sh("%s/kjimage info %s > %s/info.txt", KJ_TOOLS_DIR, img,
		      dir), 0);
	ASSERT_EQ(test_sh("grep -q 'memmap .*0x000000001000-0x00000009fbff. type 1' "
		      "%s/info.txt", dir), 0);
	ASSERT_EQ(test_sh("grep -q '0x0000feffc000-0x0000feffffff. type 4' "
		      "%s/info.txt", dir), 0);
	ASSERT_EQ(test_sh("grep -q 'scratch .*0x000000800000-0x000000ffffff' "
		      "%s/info.txt", dir), 0);
	/* a scratch range over a segment: every reader would reject the
	 * image, so the writer does not mark it complete */
	ASSERT(test_sh("%s/kjsave -q -m %s -s 0x600000-0x1000000 -i %s %s "
		   "2>/dev/null", KJ_TOOLS_DIR, mm, core, img) != 0);
	ASSERT_EQ(test_sh("%s/kjimage info %s | grep -q 'state *writing'",
		      KJ_TOOLS_DIR, img), 0);
	/* RAM in the map that the core does not hold, and nothing else to
	 * read it from: refused, the image would be incomplete */
	memmap_entry(mm, 7, 0x4000000, 0x4ffffff, "System RAM");
	ASSERT(test_sh("%s/kjsave -m %s -i %s %s 2>%s/err.txt", KJ_TOOLS_DIR, mm,
		   core, img, dir) != 0);
	ASSERT_EQ(test_sh("grep -q '0x4000000-0x4ffffff of A.s RAM is readable "
		      "neither' %s/err.txt", dir), 0);
	ASSERT_EQ(test_sh("rm -rf %s/7", mm), 0);
	/* a map that misses a segment is not recorded (warning) */
	ASSERT_EQ(test_sh("rm -rf %s/3", mm), 0);
	ASSERT_EQ(test_sh("%s/kjsave -q -m %s -i %s %s 2>/dev/null", KJ_TOOLS_DIR,
		      mm, core, img), 0);
	ASSERT(test_sh("%s/kjimage info %s | grep -q memmap", KJ_TOOLS_DIR, img)
	       != 0);
}

/*
 * B's /proc/vmcore as it really is after a preserve-context load by
 * kexec-tools 2.0.25 with --mem-min=0 (docs/FORMAT.md §7), scaled down:
 * A's map has OVMF-like ACPI NVS holes and sub-page boundaries inside
 * B's window [0x100000, 0xbfffff]; kexec-tools' exclude_region() turns
 * every range inside that window into an entry with a wrapped size and
 * moves the backup region's p_offset to 0. The core file is laid out the
 * way fs/proc/vmcore.c serves it: each file position reads physical memory
 * through the FIRST list entry whose end lies beyond it.
 */
#define H_MEM	0x2000000ull		/* A's physical address space */
#define H_BASE	0x1000ull		/* data start in the core */
#define H_ENTRY	0x1f000a0ull

struct hent { uint64_t paddr, memsz, vaddr, old_off; };
/* the elfcorehdr's PT_LOADs, in kexec-tools' order */
static const struct hent hostile[] = {
	{ 0x1000000, 0x200000, 0xffffffff81000000ull, 0x1000000 }, /* text */
	{ 0x1000, 0x9f000, 0, 0 },		/* backup region: p_offset 0 */
	{ 0xc00000, 0x800000 - 0xc00000, 0, 0xc00000 },	/* wrapped */
	{ 0x808000, 0x100000 - 0x808000, 0, 0x808000 },	/* wrapped */
	{ 0x900000, 0x100000 - 0x900000, 0, 0x900000 },	/* wrapped */
	{ 0xc00000, 0x1a89018 - 0xc00000, 0, 0xc00000 },
	{ 0x1a89018, 0x9c40, 0, 0x1a89018 },
	{ 0x1a92c58, 0x2000000 - 0x1a92c58, 0, 0x1a92c58 },
};
#define H_N (sizeof(hostile) / sizeof(hostile[0]))
/* B's RAM (memmap=exactmap inside the window) */
static const struct span64 { uint64_t s, e; } h_bram[] = {
	{ 0x1000, 0x9f000 }, { 0x100000, 0x7ff000 }, { 0x808000, 0x80a000 },
	{ 0x900000, 0xbf0000 },
};
/* what must be saved: A's System RAM minus B's RAM */
static const struct span64 h_save[] = {
	{ 0x400, 0x1000 }, { 0x9f000, 0xa0000 }, { 0x7ff000, 0x800000 },
	{ 0x80a000, 0x80b000 }, { 0xbf0000, 0x2000000 },
};

static bool in_bram(uint64_t pa)
{
	for (size_t i = 0; i < sizeof(h_bram) / sizeof(h_bram[0]); i++)
		if (pa >= h_bram[i].s && pa < h_bram[i].e)
			return true;
	return false;
}

/* physical memory while B runs: A's bytes, B's own pages */
static uint8_t phys_at(uint64_t pa)
{
	return in_bram(pa) ? 0xb5 : data_byte(pa);
}

static uint64_t ru(uint64_t x) { return (x + 4095) / 4096 * 4096; }

static void write_hostile(const char *core, const char *physmem,
			  const char *iomem, const char *mm)
{
	struct elfimg_ehdr e = { .e_type = ELFIMG_ET_CORE,
				 .e_machine = ELFIMG_EM_X86_64, .e_version = 1,
				 .e_phoff = 64, .e_ehsize = 64,
				 .e_phentsize = 56, .e_phnum = 1 + H_N };
	struct elfimg_phdr ph[1 + H_N] = { 0 };
	struct elfimg_resume_note rn = { .version = 1, .flags = 3,
					 .entry = H_ENTRY };
	struct elfimg_nhdr nh = { 11, sizeof(rn), 1 };
	uint64_t moff[H_N], mpa[H_N], msz[H_N], running = H_BASE, vsize;
	static uint8_t buf[4096];
	FILE *f;

	strcpy(rn.release, "6.12.0-kj");
	memcpy(e.e_ident, "\177ELF\2\1\1", 7);
	/* fs/proc/vmcore.c: process_ptload_program_headers_elf64() */
	for (size_t i = 0; i < H_N; i++) {
		const struct hent *h = &hostile[i];

		mpa[i] = h->old_off & ~4095ull;
		msz[i] = ru(h->old_off + h->memsz) - mpa[i];
		moff[i] = running;
		running += msz[i];
		ph[1 + i] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_LOAD,
			.p_flags = 7, .p_paddr = h->paddr,
			.p_vaddr = h->vaddr ? h->vaddr :
				   0xffff888000000000ull + h->paddr,
			.p_offset = moff[i] + (h->old_off - mpa[i]),
			.p_filesz = h->memsz, .p_memsz = h->memsz };
	}
	vsize = running;
	ASSERT(vsize > H_BASE && vsize < 0x1000000);
	ph[0] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_NOTE,
				      .p_offset = 64 + (1 + H_N) * 56,
				      .p_filesz = 24 + sizeof(rn) };
	f = fopen(core, "wb");
	ASSERT(f);
	ASSERT(fwrite(&e, sizeof(e), 1, f) == 1);
	ASSERT(fwrite(ph, sizeof(ph), 1, f) == 1);
	ASSERT(fwrite(&nh, sizeof(nh), 1, f) == 1);
	ASSERT(fwrite("LINUXKJUMP\0\0", 12, 1, f) == 1);
	ASSERT(fwrite(&rn, sizeof(rn), 1, f) == 1);
	ASSERT(ftell(f) <= (long)H_BASE);
	/* __read_vmcore(): the first entry with fpos < offset + size */
	for (uint64_t pos = H_BASE; pos < vsize; pos += sizeof(buf)) {
		size_t i;

		for (i = 0; i < H_N && !(pos < moff[i] + msz[i]); i++)
			;
		ASSERT(i < H_N);
		for (size_t b = 0; b < sizeof(buf); b++) {
			uint64_t pa = mpa[i] + (pos + b - moff[i]);

			/* B's own RAM: EFAULT in the kernel */
			buf[b] = pa < H_MEM && !in_bram(pa) ? phys_at(pa) : 0xee;
		}
		ASSERT(fseek(f, (long)pos, SEEK_SET) == 0);
		ASSERT(fwrite(buf, sizeof(buf), 1, f) == 1);
	}
	ASSERT(fclose(f) == 0);
	ASSERT(truncate(core, (off_t)vsize) == 0);

	f = fopen(physmem, "wb");
	ASSERT(f);
	for (uint64_t pa = 0; pa < H_MEM; pa += sizeof(buf)) {
		for (size_t b = 0; b < sizeof(buf); b++)
			buf[b] = phys_at(pa + b);
		ASSERT(fwrite(buf, sizeof(buf), 1, f) == 1);
	}
	ASSERT(fclose(f) == 0);

	f = fopen(iomem, "w");
	ASSERT(f);
	fprintf(f, "00000000-00000fff : Reserved\n");
	for (size_t i = 0; i < sizeof(h_bram) / sizeof(h_bram[0]); i++)
		fprintf(f, "%08llx-%08llx : System RAM\n  %08llx-%08llx : "
			"Kernel code\n", (unsigned long long)h_bram[i].s,
			(unsigned long long)h_bram[i].e - 1,
			(unsigned long long)h_bram[i].s,
			(unsigned long long)h_bram[i].s + 0xfff);
	fprintf(f, "00800000-00807fff : ACPI Non-volatile Storage\n");
	ASSERT(fclose(f) == 0);

	/* B's /sys/firmware/memmap: A's map, kexec-tools moved the first
	 * RAM range past the real-mode IVT */
	memmap_entry(mm, 0, 0x400, 0x9ffff, "System RAM");
	memmap_entry(mm, 1, 0xa0000, 0xfffff, "Reserved");
	memmap_entry(mm, 2, 0x100000, 0x7fffff, "System RAM");
	memmap_entry(mm, 3, 0x800000, 0x807fff, "ACPI Non-volatile Storage");
	memmap_entry(mm, 4, 0x808000, 0x80afff, "System RAM");
	memmap_entry(mm, 5, 0x80b000, 0x80bfff, "ACPI Non-volatile Storage");
	memmap_entry(mm, 6, 0x80c000, 0x8fffff, "Reserved");
	memmap_entry(mm, 7, 0x900000, 0x1ffffff, "System RAM");
}

/* The image holds exactly h_save, with A's bytes. */
static void check_hostile_image(const char *img)
{
	char out[300];
	static uint8_t buf[1 << 16];
	FILE *f;

	ASSERT_EQ(test_sh("%s/kjimage -q verify %s >/dev/null", KJ_TOOLS_DIR, img), 0);
	ASSERT_EQ(test_sh("%s/kjimage info %s > %s/hinfo.txt", KJ_TOOLS_DIR, img,
		      dir), 0);
	ASSERT_EQ(test_sh("grep -q 'state *complete' %s/hinfo.txt", dir), 0);
	ASSERT_EQ(test_sh("grep -q 'entry *0x%llx' %s/hinfo.txt",
		      (unsigned long long)H_ENTRY, dir), 0);
	ASSERT_EQ(test_sh("sed -n 's/^\\(segments\\)\\? *\\[0x\\([0-9a-f]*\\)"
		      "-0x\\([0-9a-f]*\\)\\] chunks.*/\\2 \\3/p' %s/hinfo.txt "
		      "> %s/segs.txt", dir, dir), 0);
	snprintf(out, sizeof(out), "%s/segs-want.txt", dir);
	f = fopen(out, "w");
	ASSERT(f);
	for (size_t i = 0; i < sizeof(h_save) / sizeof(h_save[0]); i++)
		fprintf(f, "%012llx %012llx\n", (unsigned long long)h_save[i].s,
			(unsigned long long)h_save[i].e - 1);
	ASSERT(fclose(f) == 0);
	ASSERT_EQ(test_sh("cmp -s %s/segs.txt %s", dir, out), 0);
	/* B's RAM is the scratch */
	ASSERT_EQ(test_sh("grep -q '^ *.0x000000900000-0x000000beffff.$' "
		      "%s/hinfo.txt", dir), 0);
	/* every saved byte is A's */
	snprintf(out, sizeof(out), "%s/hextract.bin", dir);
	for (size_t i = 0; i < sizeof(h_save) / sizeof(h_save[0]); i++) {
		uint64_t s = h_save[i].s, len = h_save[i].e - s;

		ASSERT_EQ(test_sh("%s/kjimage -q extract %s 0x%llx 0x%llx %s",
			      KJ_TOOLS_DIR, img, (unsigned long long)s,
			      (unsigned long long)len, out), 0);
		f = fopen(out, "rb");
		ASSERT(f);
		for (uint64_t o = 0; o < len; o += sizeof(buf)) {
			size_t n = len - o < sizeof(buf) ? len - o : sizeof(buf);

			ASSERT(fread(buf, 1, n, f) == n);
			for (size_t b = 0; b < n; b++)
				if (buf[b] != data_byte(s + o + b)) {
					fclose(f);
					TEST_FAIL("%s: 0x%llx: 0x%02x, A had 0x%02x",
						  img, (unsigned long long)(s + o + b),
						  buf[b], data_byte(s + o + b));
				}
		}
		fclose(f);
	}
}

TEST(tools_hostile_vmcore)
{
	char core[300], pm[300], io[300], mm[300], img[300], log[300];

	setup();
	snprintf(core, sizeof(core), "%s/hvmcore", dir);
	snprintf(pm, sizeof(pm), "%s/hphys", dir);
	snprintf(io, sizeof(io), "%s/hiomem", dir);
	snprintf(mm, sizeof(mm), "%s/hmemmap", dir);
	snprintf(img, sizeof(img), "%s/himg", dir);
	snprintf(log, sizeof(log), "%s/hlog.txt", dir);
	write_hostile(core, pm, io, mm);

	/* the reader rejects it, as it should */
	ASSERT(test_sh("%s/kjimage -q verify %s >/dev/null 2>&1", KJ_TOOLS_DIR,
		   core) != 0);
	ASSERT_EQ(test_sh("%s/kjsave -v --vmcore-layout -i %s -m %s --iomem %s "
		      "--mem %s %s 2>%s", KJ_TOOLS_DIR, core, mm, io, pm, img,
		      log), 0);
	check_hostile_image(img);
	/* the policy at work, one line per entry */
	ASSERT_EQ(test_sh("grep -q 'PT_LOAD.1. paddr 0x1000000 .*kernel text view' %s",
		      log), 0);
	ASSERT_EQ(test_sh("grep -q 'PT_LOAD.2. paddr 0x1000 .*B.s own RAM: cut off' %s",
		      log), 0);
	ASSERT_EQ(test_sh("grep -q 'PT_LOAD.2. .*backup region' %s", log), 0);
	ASSERT_EQ(test_sh("test $(grep -c 'absurd size' %s) = 3", log), 0);
	ASSERT_EQ(test_sh("grep -q 'PT_LOAD.6. paddr 0xc00000 size 0xe89018: "
		      "0xe89018 bytes of its data .*out of reach' %s", log), 0);
	ASSERT_EQ(test_sh("grep -q 'PT_LOAD.3.: its list entry .* file offsets "
		      "0x2a0000-0x399fff: physical 0xc00000-0xcf9fff' %s", log), 0);
	ASSERT_EQ(test_sh("grep -q 'RAM 0x400-0xfff (firmware map) is in no PT_LOAD' %s",
		      log), 0);
	/* bytes come through /proc/vmcore where the kernel's layout says so:
	 * the text view's pages, and what the first wrapped entry captures */
	ASSERT_EQ(test_sh("grep -q 'read 0xc00000-0xcf9fff from %s' %s", core, log),
		  0);
	ASSERT_EQ(test_sh("grep -q 'read 0x1000000-0x11fffff from %s' %s", core,
		      log), 0);

	/* without physical memory, the unreachable rest is an error */
	ASSERT(test_sh("%s/kjsave --vmcore-layout -i %s -m %s --iomem %s "
		   "--mem none %s 2>%s", KJ_TOOLS_DIR, core, mm, io, img,
		   log) != 0);
	ASSERT_EQ(test_sh("grep -q '0xcfa000-0xfffffff* of A.s RAM is readable "
		      "neither' %s", log), 0);

	/* a layout that does not match fs/proc/vmcore.c: all from memory */
	ASSERT_EQ(test_sh("printf '\\x10' | dd of=%s bs=1 seek=%u conv=notrunc "
		      "status=none", core, (unsigned)(64 + 56 * 3 + 8)), 0);
	ASSERT_EQ(test_sh("%s/kjsave --vmcore-layout -i %s -m %s --iomem %s "
		      "--mem %s %s 2>%s", KJ_TOOLS_DIR, core, mm, io, pm, img,
		      log), 0);
	ASSERT_EQ(test_sh("grep -q 'fs/proc/vmcore.c would put it at' %s", log), 0);
	ASSERT_EQ(test_sh("grep -q ': 0x0 from %s' %s", core, log), 0);
	check_hostile_image(img);

	/* content that disagrees with physical memory: all from memory */
	write_hostile(core, pm, io, mm);
	ASSERT_EQ(test_sh("printf 'XX' | dd of=%s bs=1 seek=%u conv=notrunc "
		      "status=none", core, 0x1000u), 0);
	ASSERT_EQ(test_sh("%s/kjsave --vmcore-layout -i %s -m %s --iomem %s "
		      "--mem %s %s 2>%s", KJ_TOOLS_DIR, core, mm, io, pm, img,
		      log), 0);
	ASSERT_EQ(test_sh("grep -q 'differs from' %s", log), 0);
	check_hostile_image(img);
}
