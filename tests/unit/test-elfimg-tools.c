// SPDX-License-Identifier: MIT
/*
 * kjsave and kjimage end to end on a synthetic /proc/vmcore-like core:
 * save (stored and zlib), info, verify, extract (byte-exact against the
 * core), mark, and the refusals (no entry, truncated image, kj input).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "elfimg/elfimg.h"

#ifndef KJ_TOOLS_DIR
#define KJ_TOOLS_DIR "build/tools"
#endif

static char dir[256];

static void cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/kj-tools-XXXXXX");
	ASSERT(mkdtemp(dir));
	atexit(cleanup);
}

static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
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
	ASSERT_EQ(run("%s/kjimage -q extract %s 0x%llx 0x%llx %s 2>/dev/null",
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
	char core[300], img[300];

	setup();
	snprintf(core, sizeof(core), "%s/vmcore", dir);
	write_core(core, true);
	for (int level = 0; level <= 6; level += 6) {
		snprintf(img, sizeof(img), "%s/img%d", dir, level);
		ASSERT_EQ(run("%s/kjsave -q -l %d -i %s %s", KJ_TOOLS_DIR,
			      level, core, img), 0);
		ASSERT_EQ(run("%s/kjimage info %s | grep -q 'state *complete'",
			      KJ_TOOLS_DIR, img), 0);
		ASSERT_EQ(run("%s/kjimage info %s | grep -q 'entry *0x1000fb'",
			      KJ_TOOLS_DIR, img), 0);
		ASSERT_EQ(run("%s/kjimage -q verify %s >/dev/null",
			      KJ_TOOLS_DIR, img), 0);
		/* across segment ends, a zero tail and a hole */
		check_extract(img, 0x9f000, 0x70000);
		check_extract(img, 0x4ff000, 0x102000);
		check_extract(img, 0x2000000, 0x123000);
	}
	/* the plain core reads the same */
	check_extract(core, 0x4ff000, 0x102000);
	ASSERT_EQ(run("%s/kjimage -q verify %s >/dev/null", KJ_TOOLS_DIR, core),
		  0);
	/* kjsave does not take its own output as input */
	ASSERT(run("%s/kjsave -q -i %s %s/again 2>/dev/null", KJ_TOOLS_DIR,
		   img, dir) != 0);
}

TEST(tools_states_and_refusals)
{
	char core[300], img[300];

	setup();
	snprintf(core, sizeof(core), "%s/vmcore-nonote", dir);
	snprintf(img, sizeof(img), "%s/img-nonote", dir);
	write_core(core, false);
	ASSERT(run("%s/kjsave -q -i %s %s 2>/dev/null", KJ_TOOLS_DIR, core,
		   img) != 0);
	ASSERT_EQ(run("%s/kjsave -q -e 0x2000010 -i %s %s", KJ_TOOLS_DIR, core,
		      img), 0);
	ASSERT_EQ(run("%s/kjimage info %s | grep -q 'entry *0x2000010'",
		      KJ_TOOLS_DIR, img), 0);
	/* complete -> consumed, and no way back */
	ASSERT(run("%s/kjimage mark %s complete 2>/dev/null", KJ_TOOLS_DIR,
		   img) != 0);
	ASSERT_EQ(run("%s/kjimage mark %s consumed", KJ_TOOLS_DIR, img), 0);
	ASSERT_EQ(run("%s/kjimage info %s | grep -q 'state *consumed'",
		      KJ_TOOLS_DIR, img), 0);
	ASSERT(run("%s/kjimage mark %s complete 2>/dev/null", KJ_TOOLS_DIR,
		   img) != 0);
	/* a truncated image */
	ASSERT_EQ(run("truncate -s -4096 %s", img), 0);
	ASSERT(run("%s/kjimage -q verify %s >/dev/null 2>&1", KJ_TOOLS_DIR,
		   img) != 0);
	ASSERT(run("%s/kjimage info %s >/dev/null 2>&1", KJ_TOOLS_DIR, img) != 0);
}

static void memmap_entry(const char *mm, int i, uint64_t start, uint64_t end,
			 const char *type)
{
	ASSERT_EQ(run("mkdir -p %s/%d && echo 0x%llx > %s/%d/start && "
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
	/* /sys/firmware/memmap layout, unsorted like readdir() */
	memmap_entry(mm, 0, 0x100000, 0x1ffffff, "System RAM");
	memmap_entry(mm, 1, 0x0, 0x9fbff, "System RAM");
	memmap_entry(mm, 2, 0x9fc00, 0x9ffff, "Reserved");
	memmap_entry(mm, 3, 0x2000000, 0x3ffffff, "System RAM");
	memmap_entry(mm, 4, 0xfeffc000, 0xfeffffff, "ACPI Non-volatile Storage");
	ASSERT_EQ(run("%s/kjsave -q -m %s -s 0x800000-0x1000000 -i %s %s",
		      KJ_TOOLS_DIR, mm, core, img), 0);
	ASSERT_EQ(run("%s/kjimage info %s > %s/info.txt", KJ_TOOLS_DIR, img,
		      dir), 0);
	ASSERT_EQ(run("grep -q 'memmap .*0x000000000000-0x00000009fbff. type 1' "
		      "%s/info.txt", dir), 0);
	ASSERT_EQ(run("grep -q '0x0000feffc000-0x0000feffffff. type 4' "
		      "%s/info.txt", dir), 0);
	ASSERT_EQ(run("grep -q 'scratch .*0x000000800000-0x000000ffffff' "
		      "%s/info.txt", dir), 0);
	/* a scratch range over a segment: every reader would reject the
	 * image, so the writer does not mark it complete */
	ASSERT(run("%s/kjsave -q -m %s -s 0x600000-0x1000000 -i %s %s "
		   "2>/dev/null", KJ_TOOLS_DIR, mm, core, img) != 0);
	ASSERT_EQ(run("%s/kjimage info %s | grep -q 'state *writing'",
		      KJ_TOOLS_DIR, img), 0);
	/* a map that misses a segment is not recorded (warning) */
	ASSERT_EQ(run("rm -rf %s/3", mm), 0);
	ASSERT_EQ(run("%s/kjsave -q -m %s -i %s %s 2>/dev/null", KJ_TOOLS_DIR,
		      mm, core, img), 0);
	ASSERT(run("%s/kjimage info %s | grep -q memmap", KJ_TOOLS_DIR, img)
	       != 0);
}
