// SPDX-License-Identifier: MIT
/*
 * elfimg reader/writer tests: hand-built hostile cores (overflowing
 * offsets, PN_XNUM, overlaps, bad notes, truncation at every byte of the
 * headers), kj images from the writer (every header byte protected, state
 * transitions, tampered metadata and index), and byte-exact round trips of
 * random sparse memory layouts through writer + reader.
 *
 * With KJ_ELFIMG_CORPUS=DIR set, the seed inputs for tests/fuzz are
 * written to DIR (test "emit_corpus").
 */
#include <pthread.h>

#include <libfdt.h>
#include <zlib.h>

#include "test.h"
#include "elfimg/elfimg.h"
#include "elfimg/lz4.h"
#include "elfimg/write.h"

#define MAX_SEGS 80000
static struct elfimg_segment segs[MAX_SEGS];

/* ------------------------------------------------------------------ */
/* plain core builder                                                  */

struct core {
	uint8_t *buf;
	size_t len, cap;
};

static void core_reserve(struct core *c, size_t len)
{
	if (len > c->cap) {
		c->cap = len * 2;
		c->buf = realloc(c->buf, c->cap);
		ASSERT(c->buf);
	}
	if (len > c->len) {
		memset(c->buf + c->len, 0, len - c->len);
		c->len = len;
	}
}

static void put(struct core *c, size_t off, const void *p, size_t n)
{
	core_reserve(c, off + n);
	memcpy(c->buf + off, p, n);
}

static struct elfimg_ehdr ehdr(uint16_t phnum)
{
	struct elfimg_ehdr e = { .e_type = ELFIMG_ET_CORE,
				 .e_machine = ELFIMG_EM_X86_64,
				 .e_version = 1, .e_phoff = 64, .e_ehsize = 64,
				 .e_phentsize = 56, .e_phnum = phnum };

	memcpy(e.e_ident, "\177ELF\2\1\1", 7);
	return e;
}

static size_t note(uint8_t *p, const char *name, uint32_t type,
		   const void *desc, uint32_t descsz)
{
	struct elfimg_nhdr nh = { (uint32_t)strlen(name) + 1, descsz, type };
	size_t o = 0;

	memcpy(p, &nh, 12);
	o = 12;
	memset(p + o, 0, (nh.n_namesz + 3) & ~3u);
	memcpy(p + o, name, nh.n_namesz);
	o += (nh.n_namesz + 3) & ~3u;
	memset(p + o, 0, (descsz + 3) & ~3u);
	memcpy(p + o, desc, descsz);
	return o + ((descsz + 3) & ~3u);
}

static struct elfimg_resume_note resume_note(uint64_t entry)
{
	struct elfimg_resume_note rn = { .version = 1, .flags = 2,
					 .entry = entry };

	strcpy(rn.release, "6.1.0-kj");
	return rn;
}

#define ENTRY 0x1000fb

/*
 * A /proc/vmcore-like core: PT_NOTE (LINUXKJUMP + VMCOREINFO) after the
 * program headers, then PT_LOADs; a kexec-tools-style kernel text view
 * (contained in RAM segment 1) first. Data bytes are not materialised
 * unless @with_data.
 */
static struct core plain_core(bool with_note, bool with_data)
{
	struct core c = { 0 };
	struct elfimg_ehdr e = ehdr(4);
	struct elfimg_phdr ph[4] = { 0 };
	struct elfimg_resume_note rn = resume_note(ENTRY);
	uint8_t notes[512];
	size_t nl = 0, data;
	const char vmci[] = "OSRELEASE=6.1.0-kj\nPAGESIZE=4096\n";

	if (with_note)
		nl += note(notes, "LINUXKJUMP", 1, &rn, sizeof(rn));
	nl += note(notes + nl, "VMCOREINFO", 0, vmci, sizeof(vmci) - 1);
	nl += note(notes + nl, "CORE", 1, "xxxx", 4);
	ph[0] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_NOTE,
				      .p_offset = 64 + 4 * 56,
				      .p_filesz = nl };
	data = 4096;
	/* kernel text: virtual address, paddr inside RAM segment 2 */
	ph[1] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_LOAD,
				      .p_vaddr = 0xffffffff81000000ull,
				      .p_paddr = 0x1000000, .p_offset = data,
				      .p_filesz = 0x2000, .p_memsz = 0x2000 };
	ph[2] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_LOAD,
				      .p_paddr = 0x1000, .p_offset = data,
				      .p_filesz = 0x9ec00, .p_memsz = 0x9ec00 };
	ph[3] = (struct elfimg_phdr){ .p_type = ELFIMG_PT_LOAD,
				      .p_paddr = 0x100000,
				      .p_offset = data + 0x9f000,
				      .p_filesz = 0x1000000,
				      .p_memsz = 0x2000000 };
	put(&c, 0, &e, sizeof(e));
	put(&c, 64, ph, sizeof(ph));
	put(&c, 64 + 4 * 56, notes, nl);
	if (with_data)
		core_reserve(&c, data + 0x9f000 + 0x1000000);
	return c;
}

static size_t plain_hdr_len(const struct core *c)
{
	struct elfimg_phdr ph;

	memcpy(&ph, c->buf + 64, sizeof(ph));
	return ph.p_offset + ph.p_filesz;
}

static void set_phdr(struct core *c, int i, const struct elfimg_phdr *ph)
{
	put(c, 64 + (size_t)i * 56, ph, sizeof(*ph));
}

static struct elfimg_phdr get_phdr(const struct core *c, int i)
{
	struct elfimg_phdr ph;

	memcpy(&ph, c->buf + 64 + (size_t)i * 56, sizeof(ph));
	return ph;
}

static enum elfimg_err parse(const struct core *c, struct elfimg_info *info)
{
	return elfimg_parse(c->buf, c->len, NULL, info, segs, MAX_SEGS);
}

#define ASSERT_ERR(expr, want)                                            \
	do {                                                              \
		enum elfimg_err _e = (expr);                              \
		if (_e != (want))                                         \
			TEST_FAIL("%s: got %d (%s), want %s", #expr, _e,  \
				  elfimg_strerror(_e), #want);            \
	} while (0)

TEST(plain_vmcore)
{
	struct core c = plain_core(true, false);
	struct elfimg_info info;

	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT_EQ(info.kind, ELFIMG_KIND_PLAIN);
	ASSERT_EQ(info.nsegs, 2);
	ASSERT_EQ(info.nignored, 1);	/* kernel text view */
	ASSERT_EQ(segs[0].paddr, 0x1000);
	ASSERT_EQ(segs[1].paddr, 0x100000);
	ASSERT_EQ(segs[1].memsz, 0x2000000);
	ASSERT_EQ(segs[1].filesz, 0x1000000);
	ASSERT(info.have_entry && info.have_resume_note);
	ASSERT_EQ(info.entry, ENTRY);
	ASSERT_EQ(info.resume_flags, 2);
	ASSERT(!strcmp(info.release, "6.1.0-kj"));
	ASSERT(info.vmcoreinfo_len > 10 &&
	       !memcmp(info.vmcoreinfo, "OSRELEASE=", 10));
	ASSERT_EQ(info.hdr_len, plain_hdr_len(&c));
	ASSERT_ERR(elfimg_check_resumable(&info, false), ELFIMG_E_PLAIN);
	ASSERT_ERR(elfimg_check_resumable(&info, true), ELFIMG_OK);
	ASSERT_ERR(elfimg_check_file_size(&info, segs, 4096 + 0x9f000 + 0x1000000),
		   ELFIMG_OK);
	ASSERT_ERR(elfimg_check_file_size(&info, segs, 4096 + 0x9f000 + 0xffffff),
		   ELFIMG_E_FILE_SIZE);
	free(c.buf);
}

TEST(plain_probe)
{
	struct core c = plain_core(true, false);
	uint64_t need;

	ASSERT_ERR(elfimg_probe(c.buf, 64, &need), ELFIMG_OK);
	ASSERT_EQ(need, 64 + 4 * 56);		/* come back with the phdrs */
	ASSERT_ERR(elfimg_probe(c.buf, need, &need), ELFIMG_OK);
	ASSERT_EQ(need, plain_hdr_len(&c));
	ASSERT_ERR(elfimg_probe(c.buf, 3, &need), ELFIMG_E_TRUNCATED);
	c.buf[1] = 'X';
	ASSERT_ERR(elfimg_probe(c.buf, c.len, &need), ELFIMG_E_NOT_ELF);
	free(c.buf);
}

TEST(plain_entry_given_separately)
{
	struct core c = plain_core(false, false);
	struct elfimg_info info;
	struct elfimg_opts o = { .allow_plain = true, .have_entry = true,
				 .entry = 0x200000 };

	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT(!info.have_entry);
	ASSERT_ERR(elfimg_check_resumable(&info, true), ELFIMG_E_NO_ENTRY);
	ASSERT_ERR(elfimg_parse(c.buf, c.len, &o, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_EQ(info.entry, 0x200000);
	ASSERT_ERR(elfimg_check_resumable(&info, true), ELFIMG_OK);
	o.entry = 0x50000000;	/* not in any segment */
	ASSERT_ERR(elfimg_parse(c.buf, c.len, &o, &info, segs, MAX_SEGS),
		   ELFIMG_E_ENTRY);
	free(c.buf);

	/* a separately given entry must agree with the note */
	c = plain_core(true, false);
	o.entry = 0x200000;
	ASSERT_ERR(elfimg_parse(c.buf, c.len, &o, &info, segs, MAX_SEGS),
		   ELFIMG_E_ENTRY);
	o.entry = ENTRY;
	ASSERT_ERR(elfimg_parse(c.buf, c.len, &o, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	free(c.buf);
}

TEST(plain_bad_ehdr)
{
	struct core c = plain_core(true, false);
	struct elfimg_info info;
	struct { size_t off; uint8_t val; enum elfimg_err want; } cases[] = {
		{ 0, 0x7e, ELFIMG_E_NOT_ELF },
		{ 4, 1, ELFIMG_E_UNSUPPORTED_ELF },	/* ELFCLASS32 */
		{ 5, 2, ELFIMG_E_UNSUPPORTED_ELF },	/* big endian */
		{ 6, 0, ELFIMG_E_UNSUPPORTED_ELF },
		{ 16, 2, ELFIMG_E_UNSUPPORTED_ELF },	/* ET_EXEC */
		{ 18, 3, ELFIMG_E_UNSUPPORTED_ELF },	/* EM_386 */
		{ 52, 63, ELFIMG_E_BAD_EHDR },		/* e_ehsize */
		{ 54, 55, ELFIMG_E_BAD_EHDR },		/* e_phentsize */
		{ 32, 8, ELFIMG_E_BAD_EHDR },		/* e_phoff in ehdr */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t save = c.buf[cases[i].off];

		c.buf[cases[i].off] = cases[i].val;
		ASSERT_ERR(parse(&c, &info), cases[i].want);
		c.buf[cases[i].off] = save;
	}
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	free(c.buf);
}

TEST(plain_overflowing_offsets)
{
	struct core c = plain_core(true, false);
	struct elfimg_info info;
	struct elfimg_phdr ph = get_phdr(&c, 3), bad;
	struct elfimg_ehdr e;

	bad = ph;
	bad.p_offset = UINT64_MAX - 0x100;	/* offset + filesz wraps */
	set_phdr(&c, 3, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_BOUNDS);

	bad = ph;
	bad.p_paddr = UINT64_MAX - 0x1000;	/* paddr + memsz wraps */
	set_phdr(&c, 3, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_BOUNDS);

	bad = ph;
	bad.p_paddr = 1ull << 52;		/* beyond x86-64 physical */
	set_phdr(&c, 3, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_BOUNDS);

	bad = ph;
	bad.p_filesz = bad.p_memsz + 1;
	set_phdr(&c, 3, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_FILESZ);

	bad = ph;
	bad.p_align = 4096;
	bad.p_offset += 8;			/* offset !~ paddr mod align */
	set_phdr(&c, 3, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_ALIGN);
	bad.p_align = 3000;			/* not a power of two */
	set_phdr(&c, 3, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_ALIGN);

	bad = ph;
	bad.p_offset = 0;			/* the low-640K quirk */
	set_phdr(&c, 3, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_HEADERS);
	set_phdr(&c, 3, &ph);

	/* PT_NOTE wrapping and outside the buffer */
	bad = get_phdr(&c, 0);
	ph = bad;
	bad.p_offset = UINT64_MAX - 4;
	set_phdr(&c, 0, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_BOUNDS);
	bad.p_offset = c.len;
	set_phdr(&c, 0, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_TRUNCATED);
	set_phdr(&c, 0, &ph);

	/* the program header table itself */
	memcpy(&e, c.buf, sizeof(e));
	e.e_phoff = UINT64_MAX - 100;
	put(&c, 0, &e, sizeof(e));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_BAD_PHDR);
	e.e_phoff = c.len - 56;
	put(&c, 0, &e, sizeof(e));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_TRUNCATED);
	free(c.buf);
}

TEST(plain_overlaps)
{
	struct core c = plain_core(true, false);
	struct elfimg_info info;
	struct elfimg_phdr ph = get_phdr(&c, 1), bad;

	/* the kernel text view is dropped wherever it points */
	bad = ph;
	bad.p_paddr = 0x100000 + 0x2000000 - 0x1000;
	set_phdr(&c, 1, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT_EQ(info.nsegs, 2);
	ASSERT_EQ(info.nignored, 1);
	/* any other segment straddling the end of a RAM segment: error */
	bad.p_vaddr = 0xffff888000000000ull + bad.p_paddr;
	set_phdr(&c, 1, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_OVERLAP);
	/* contained in another one: dropped as a duplicate view */
	bad.p_paddr = 0x200000;
	set_phdr(&c, 1, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT_EQ(info.nsegs, 2);
	ASSERT_EQ(info.nignored, 1);
	/* identical duplicate: dropped */
	bad = get_phdr(&c, 3);
	set_phdr(&c, 1, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT_EQ(info.nsegs, 2);
	ASSERT_EQ(info.nignored, 1);
	/* zero-sized PT_LOAD: ignored */
	bad.p_memsz = bad.p_filesz = 0;
	set_phdr(&c, 1, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT_EQ(info.nsegs, 2);
	ASSERT_EQ(info.nignored, 0);
	/* caller's table too small */
	set_phdr(&c, 1, &ph);
	ASSERT_ERR(elfimg_parse(c.buf, c.len, NULL, &info, segs, 1),
		   ELFIMG_E_TOO_MANY_SEGS);
	/* a kj segment type in a plain core */
	bad = ph;
	bad.p_type = ELFIMG_PT_KJ_CHUNKED;
	set_phdr(&c, 1, &bad);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_SEG_TYPE);
	free(c.buf);
}

TEST(plain_no_segments)
{
	struct core c = plain_core(true, false);
	struct elfimg_info info;
	struct elfimg_phdr ph = { .p_type = 0x70000000 };

	for (int i = 1; i < 4; i++)
		set_phdr(&c, i, &ph);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_NO_SEGS);
	free(c.buf);
}

/* Rewrite the notes of a plain core with @notes. */
static void set_notes(struct core *c, const uint8_t *notes, size_t nl)
{
	struct elfimg_phdr ph = get_phdr(c, 0);

	ph.p_filesz = nl;
	set_phdr(c, 0, &ph);
	c->len = ph.p_offset;
	put(c, ph.p_offset, notes, nl);
}

TEST(plain_bad_notes)
{
	struct core c = plain_core(true, false);
	struct elfimg_info info;
	struct elfimg_resume_note rn = resume_note(ENTRY);
	uint8_t notes[1024];
	size_t nl;
	struct elfimg_nhdr nh;

	/* duplicate resume note */
	nl = note(notes, "LINUXKJUMP", 1, &rn, sizeof(rn));
	nl += note(notes + nl, "LINUXKJUMP", 1, &rn, sizeof(rn));
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_DUP_NOTE);
	/* VMCOREINFO twice: identical copies are fine, different ones not */
	nl = note(notes, "VMCOREINFO", 0, "A=1\n", 4);
	nl += note(notes + nl, "VMCOREINFO", 0, "A=1\n", 4);
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT_EQ(info.vmcoreinfo_len, 4);
	nl = note(notes, "VMCOREINFO", 0, "A=1\n", 4);
	nl += note(notes + nl, "VMCOREINFO", 0, "A=2\n", 4);
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_DUP_NOTE);
	/* unknown version */
	rn.version = 2;
	nl = note(notes, "LINUXKJUMP", 1, &rn, sizeof(rn));
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_RESUME_NOTE);
	/* short descriptor */
	rn.version = 1;
	nl = note(notes, "LINUXKJUMP", 1, &rn, 80);
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_RESUME_NOTE);
	nl = note(notes, "LINUXKJUMP", 1, &rn, 4);
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_RESUME_NOTE);
	/* release without NUL */
	memset(rn.release, 'a', sizeof(rn.release));
	nl = note(notes, "LINUXKJUMP", 1, &rn, sizeof(rn));
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_RESUME_NOTE);
	/* another type under the same name is not the resume note */
	nl = note(notes, "LINUXKJUMP", 7, &rn, sizeof(rn));
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT(!info.have_entry);
	/* the in-place note (type 2): read; malformed or twice refused */
	{
		struct elfimg_inplace_note ip = { .version = 1, .entry = ENTRY + 0x39,
						  .swap_list = 0x6006002 };

		rn = resume_note(ENTRY);
		nl = note(notes, "LINUXKJUMP", 1, &rn, sizeof(rn));
		nl += note(notes + nl, "LINUXKJUMP", 2, &ip, sizeof(ip));
		set_notes(&c, notes, nl);
		ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
		ASSERT(info.have_inplace && info.have_resume_note);
		ASSERT_EQ(info.inplace_entry, ENTRY + 0x39);
		ASSERT_EQ(info.inplace_list, 0x6006002);
		ASSERT_EQ(info.entry, ENTRY);
		nl = note(notes, "LINUXKJUMP", 2, &ip, sizeof(ip));
		nl += note(notes + nl, "LINUXKJUMP", 2, &ip, sizeof(ip));
		set_notes(&c, notes, nl);
		ASSERT_ERR(parse(&c, &info), ELFIMG_E_DUP_NOTE);
		nl = note(notes, "LINUXKJUMP", 2, &ip, 16);
		set_notes(&c, notes, nl);
		ASSERT_ERR(parse(&c, &info), ELFIMG_E_RESUME_NOTE);
		ip.reserved = 1;
		nl = note(notes, "LINUXKJUMP", 2, &ip, sizeof(ip));
		set_notes(&c, notes, nl);
		ASSERT_ERR(parse(&c, &info), ELFIMG_E_RESUME_NOTE);
		ip.reserved = 0;
		ip.version = 2;
		nl = note(notes, "LINUXKJUMP", 2, &ip, sizeof(ip));
		set_notes(&c, notes, nl);
		ASSERT_ERR(parse(&c, &info), ELFIMG_E_RESUME_NOTE);
	}
	/* n_namesz / n_descsz overflowing the segment */
	nh = (struct elfimg_nhdr){ 0xffffffffu, 0, 1 };
	memcpy(notes, &nh, 12);
	set_notes(&c, notes, 64);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_BAD_NOTE);
	nh = (struct elfimg_nhdr){ 4, 0xfffffff0u, 1 };
	memcpy(notes, &nh, 12);
	set_notes(&c, notes, 64);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_BAD_NOTE);
	/* an empty note ends the list; trailing padding is fine */
	memset(notes, 0, 64);
	set_notes(&c, notes, 64);
	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	/* a KJRESUME note in a plain core's usual place: not a kj image */
	nl = note(notes, "KJRESUME", 1, "0123456789abcdef", 16);
	set_notes(&c, notes, nl);
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_STATE_NOTE);
	free(c.buf);
}

/* Program headers beyond 65534: PN_XNUM with the count in shdr 0. */
static struct core xnum_core(uint32_t nload)
{
	struct core c = { 0 };
	struct elfimg_ehdr e = ehdr(ELFIMG_PN_XNUM);
	struct elfimg_shdr sh = { .sh_info = nload };
	uint64_t data = 64 + 64 + (uint64_t)nload * 56;

	data = (data + 4095) & ~4095ull;
	e.e_shoff = 64;
	e.e_shentsize = 64;
	e.e_shnum = 1;
	e.e_phoff = 128;
	put(&c, 0, &e, sizeof(e));
	put(&c, 64, &sh, sizeof(sh));
	core_reserve(&c, 128 + (size_t)nload * 56);
	for (uint32_t i = 0; i < nload; i++) {
		/* reverse order: the reader sorts */
		struct elfimg_phdr ph = {
			.p_type = ELFIMG_PT_LOAD,
			.p_paddr = 0x100000 + (uint64_t)(nload - 1 - i) * 0x2000,
			.p_offset = data + (uint64_t)i * 0x1000,
			.p_filesz = 0x1000, .p_memsz = 0x1000,
		};
		memcpy(c.buf + 128 + (size_t)i * 56, &ph, sizeof(ph));
	}
	return c;
}

TEST(pn_xnum)
{
	struct core c = xnum_core(70000);
	struct elfimg_info info;
	struct elfimg_ehdr e;
	struct elfimg_shdr sh;
	uint64_t need;

	ASSERT_ERR(parse(&c, &info), ELFIMG_OK);
	ASSERT_EQ(info.nsegs, 70000);
	ASSERT_EQ(segs[0].paddr, 0x100000);
	ASSERT_EQ(segs[69999].paddr, 0x100000 + 69999ull * 0x2000);
	ASSERT_ERR(elfimg_probe(c.buf, 128, &need), ELFIMG_OK);
	ASSERT_EQ(need, 128 + 70000ull * 56);

	memcpy(&e, c.buf, sizeof(e));
	memcpy(&sh, c.buf + 64, sizeof(sh));
	sh.sh_info = 100;			/* < PN_XNUM: inconsistent */
	put(&c, 64, &sh, sizeof(sh));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_BAD_XNUM);
	sh.sh_info = 70000;
	put(&c, 64, &sh, sizeof(sh));
	e.e_shentsize = 40;
	put(&c, 0, &e, sizeof(e));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_BAD_XNUM);
	e.e_shentsize = 64;
	e.e_shoff = UINT64_MAX - 10;
	put(&c, 0, &e, sizeof(e));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_BAD_XNUM);
	e.e_shoff = c.len - 10;
	put(&c, 0, &e, sizeof(e));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_TRUNCATED);
	e.e_shoff = 0;
	put(&c, 0, &e, sizeof(e));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_BAD_XNUM);
	e.e_shoff = 64;
	put(&c, 0, &e, sizeof(e));
	sh.sh_info = 80000;			/* beyond the buffer */
	put(&c, 64, &sh, sizeof(sh));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_TRUNCATED);
	sh.sh_info = UINT32_MAX;
	put(&c, 64, &sh, sizeof(sh));
	ASSERT_ERR(parse(&c, &info), ELFIMG_E_TRUNCATED);
	free(c.buf);
}

/* Every prefix of the headers is rejected, never read past. */
static void truncate_all(const uint8_t *buf, size_t hdr_len)
{
	struct elfimg_info info;

	for (size_t l = 0; l < hdr_len; l++) {
		uint8_t *copy = malloc(l ? l : 1);	/* 16-aligned */

		memcpy(copy, buf, l);
		ASSERT(elfimg_parse(copy, l, NULL, &info, segs, MAX_SEGS) !=
		       ELFIMG_OK);
		free(copy);
	}
}

TEST(plain_truncated_everywhere)
{
	struct core c = plain_core(true, false);

	truncate_all(c.buf, plain_hdr_len(&c));
	free(c.buf);
}

/* ------------------------------------------------------------------ */
/* kj images through the writer                                        */

/* Deterministic sparse memory: each 4 KiB unit is zero, random or a
 * compressible pattern, chosen by a hash of its address. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

struct mem {
	uint64_t seed;
	unsigned zero_pct;
};

static uint8_t mem_byte(const struct mem *m, uint64_t a)
{
	uint64_t u = mix((a >> 12) ^ m->seed);

	if (u % 100 < m->zero_pct)
		return 0;
	if (u & (1ull << 40))
		return (uint8_t)(mix(a ^ m->seed) >> 17);	/* random */
	return (uint8_t)((a >> 3) ^ (a >> 11) ^ u);		/* pattern */
}

static int mem_read(void *ctx, uint64_t paddr, void *buf, size_t len)
{
	struct mem *m = ((void **)ctx)[0];
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = mem_byte(m, paddr + i);
	return 0;
}

struct sink {
	uint8_t *buf;
	size_t len, cap;
};

static int sink_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct sink *s = ((void **)ctx)[1];

	if (off + len > s->cap) {
		s->cap = (off + len) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf)
			return -1;
	}
	if (off > s->len)
		memset(s->buf + s->len, 0, off - s->len);
	memcpy(s->buf + off, buf, len);
	if (off + len > s->len)
		s->len = off + len;
	return 0;
}

struct kjopts {
	int level;
	uint32_t chunk;
	bool complete;
	const struct elfimg_range *memmap, *scratch;
	size_t nmemmap, nscratch;
	const struct elfimg_extent *ext;
	size_t next;
	bool no_note;
	bool crc32;			/* chunk checks in CRC32, not XXH64 */
	bool lz4;			/* LZ4 chunks, not DEFLATE */
	unsigned threads;		/* compressing threads */
};

static struct sink write_kj(struct mem *m, const struct elfimg_wseg *ws,
			    size_t n, const struct kjopts *o,
			    enum elfimg_err *err_out)
{
	struct sink s = { 0 };
	void *ctx[2] = { m, &s };
	struct elfimg_resume_note rn = resume_note(ws[0].paddr + 0xfb);
	struct elfimg_wparams p = {
		.level = o->level, .chunk_size = o->chunk, .crc32 = o->crc32,
		.lz4 = o->lz4, .threads = o->threads,
		.entry = rn.entry, .resume_flags = rn.flags,
		.release = rn.release, .resume_note = o->no_note ? NULL : &rn,
		.vmcoreinfo = "OSRELEASE=6.1.0-kj\n", .vmcoreinfo_len = 19,
		.memmap = o->memmap, .nmemmap = o->nmemmap,
		.scratch = o->scratch, .nscratch = o->nscratch,
		.extents_reserve = o->next, .tool = "test",
		.read_mem = mem_read, .write_at = sink_write, .ctx = ctx,
	};
	struct elfimg_writer *w;
	enum elfimg_err err;

	err = elfimg_writer_new(&p, ws, n, &w);
	if (!err) {
		err = elfimg_writer_write_data(w);
		if (!err && o->next)
			err = elfimg_writer_set_extents(w, o->ext, o->next, NULL);
		if (!err)
			err = elfimg_writer_write_headers(w);
		if (!err && o->complete)
			err = elfimg_writer_mark_complete(w);
		elfimg_writer_free(w);
	}
	if (err_out)
		*err_out = err;
	else
		ASSERT_ERR(err, ELFIMG_OK);
	return s;
}

/* Decode every chunk of every segment and compare with the source. */
static void verify_roundtrip(const struct sink *s, const struct mem *m,
			     const struct elfimg_wseg *ws, size_t n)
{
	struct elfimg_info info;
	static struct elfimg_inflater inf;
	static uint8_t out[ELFIMG_MAX_CHUNK];
	uint64_t need;

	ASSERT_ERR(elfimg_probe(s->buf, 4096 < s->len ? 4096 : s->len, &need),
		   ELFIMG_OK);
	ASSERT(need <= s->len);
	ASSERT_ERR(elfimg_parse(s->buf, need, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_EQ(info.kind, ELFIMG_KIND_KJ);
	ASSERT_EQ(info.nsegs, n);
	ASSERT_ERR(elfimg_check_file_size(&info, segs, s->len), ELFIMG_OK);
	ASSERT_ERR(elfimg_check_file_size(&info, segs, info.data_end - 1),
		   ELFIMG_E_FILE_SIZE);
	ASSERT_ERR(elfimg_inflater_init(&inf), ELFIMG_OK);
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(segs[i].paddr, ws[i].paddr);
		ASSERT_EQ(segs[i].memsz, ws[i].memsz);
		for (uint64_t k = 0; k < segs[i].nchunks; k++) {
			struct elfimg_chunk_info ci;
			uint64_t len = elfimg_chunk_len(&info, &segs[i], k);
			uint64_t base = segs[i].paddr + k * info.chunk_size;

			elfimg_chunk_get(&info, segs[i].first_chunk + k, &ci);
			ASSERT_ERR(elfimg_chunk_decode(&inf, &ci,
						       s->buf + ci.offset, out,
						       len, true), ELFIMG_OK);
			for (uint64_t b = 0; b < len; b++)
				if (out[b] != mem_byte(m, base + b))
					TEST_FAIL("byte at 0x%" PRIx64 " differs",
						  base + b);
		}
	}
	elfimg_inflater_fini(&inf);
}

static const struct elfimg_wseg basic_segs[] = {
	{ 0x1000, 0x9ec00 },		/* sub-page end, like e820's 0x9fc00 */
	{ 0x100000, 0x300000 },
	{ 0x10000000, 0x123000 },
};

TEST(kj_basic_roundtrip)
{
	struct mem m = { .seed = 1, .zero_pct = 30 };
	struct kjopts o = { .level = 6, .complete = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;

	verify_roundtrip(&s, &m, basic_segs, 3);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_EQ(info.state, ELFIMG_STATE_COMPLETE);
	ASSERT_EQ(info.entry, 0x10fb);
	ASSERT(info.have_resume_note);
	ASSERT(!strcmp(info.release, "6.1.0-kj"));
	ASSERT_EQ(info.vmcoreinfo_len, 19);
	ASSERT(info.stored_bytes < info.total_bytes / 2);
	ASSERT_ERR(elfimg_check_resumable(&info, false), ELFIMG_OK);
	free(s.buf);
}

TEST(kj_state_transitions)
{
	struct mem m = { .seed = 2, .zero_pct = 50 };
	struct kjopts o = { .level = 1, .complete = false };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	uint8_t sector[512];

	/* written, not yet marked: never resumed, not even parsed */
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_INCOMPLETE);
	ASSERT_EQ(info.state, ELFIMG_STATE_WRITING);
	/* the loader's single-sector rewrite */
	memcpy(sector, s.buf, 512);
	ASSERT_ERR(elfimg_mark(sector, 512, ELFIMG_STATE_CONSUMED),
		   ELFIMG_E_ARG);
	ASSERT_ERR(elfimg_mark(sector, 512, ELFIMG_STATE_COMPLETE), ELFIMG_OK);
	memcpy(s.buf, sector, 512);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_ERR(elfimg_check_resumable(&info, false), ELFIMG_OK);
	ASSERT_ERR(elfimg_mark(sector, 512, ELFIMG_STATE_COMPLETE),
		   ELFIMG_E_ARG);
	ASSERT_ERR(elfimg_mark(sector, 512, ELFIMG_STATE_CONSUMED), ELFIMG_OK);
	memcpy(s.buf, sector, 512);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_ERR(elfimg_check_resumable(&info, false), ELFIMG_E_CONSUMED);
	ASSERT_ERR(elfimg_mark(sector, 512, ELFIMG_STATE_COMPLETE),
		   ELFIMG_E_ARG);
	ASSERT_ERR(elfimg_mark(sector, 512, ELFIMG_STATE_WRITING),
		   ELFIMG_E_ARG);
	/* the state word is where FORMAT.md says */
	ASSERT(!memcmp(s.buf + ELFIMG_STATE_OFF, "USED", 4));
	ASSERT(!memcmp(s.buf + ELFIMG_STATE_DESC_OFF, "KJST", 4));
	/* an unknown state value */
	memcpy(s.buf + ELFIMG_STATE_OFF, "OOPS", 4);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_STATE_NOTE);
	ASSERT_ERR(elfimg_mark(s.buf, 40, ELFIMG_STATE_CONSUMED),
		   ELFIMG_E_STATE_NOTE);
	free(s.buf);
}

TEST(kj_every_header_byte_protected)
{
	struct mem m = { .seed = 3, .zero_pct = 20 };
	struct kjopts o = { .level = 6, .complete = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	uint64_t hdr_len;

	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	hdr_len = info.hdr_len;
	for (uint64_t i = 0; i < hdr_len; i++) {
		enum elfimg_err e;

		s.buf[i] ^= 0x20;
		e = elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS);
		if (e == ELFIMG_OK)
			TEST_FAIL("flipping byte 0x%" PRIx64 " went unnoticed", i);
		s.buf[i] ^= 0x20;
	}
	truncate_all(s.buf, hdr_len);
	free(s.buf);
}

/* Recompute the header CRC after a deliberate edit. */
static void fix_hdr_crc(uint8_t *buf)
{
	struct elfimg_state_desc sd;
	static const uint8_t zeros[16];
	uint32_t crc;

	memcpy(&sd, buf + ELFIMG_STATE_DESC_OFF, sizeof(sd));
	crc = (uint32_t)crc32(0, buf, ELFIMG_STATE_DESC_OFF);
	crc = (uint32_t)crc32(crc, zeros, 16);
	crc = (uint32_t)crc32(crc, buf + ELFIMG_STATE_DESC_OFF + 16,
			      sd.hdr_len - ELFIMG_STATE_DESC_OFF - 16);
	sd.hdr_crc = crc;
	memcpy(buf + ELFIMG_STATE_DESC_OFF, &sd, sizeof(sd));
}

static void fix_index_crc(uint8_t *buf, const struct elfimg_info *info)
{
	void *fdt = buf + ELFIMG_FDT_OFF;
	uint32_t crc = (uint32_t)crc32(0, (const void *)info->index,
				       (uInt)(info->nchunks * 32));

	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "index-crc", crc) == 0);
	fix_hdr_crc(buf);
}

TEST(kj_metadata_checks)
{
	struct mem m = { .seed = 4, .zero_pct = 20 };
	struct kjopts o = { .level = 6, .complete = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	void *fdt = s.buf + ELFIMG_FDT_OFF;
	uint64_t v;

	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "version", 2) == 0);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_VERSION);
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "version", 1) == 0);
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "incompat", 0x80000001) == 0);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_VERSION);
	/* without the XXH64 bit its checks' high halves are not allowed */
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "incompat",
				       ELFIMG_INCOMPAT_DEFLATE) == 0);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_INDEX);
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "incompat",
				       ELFIMG_INCOMPAT_DEFLATE |
				       ELFIMG_INCOMPAT_XXH64) == 0);
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "chunk-size", 4095) == 0);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_META);
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "chunk-size", 2 * 65536) == 0);
	fix_hdr_crc(s.buf);	/* a different chunk size: index mismatch */
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_INDEX);
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "chunk-size",
				       ELFIMG_DEFAULT_CHUNK) == 0);
	ASSERT(fdt_setprop_inplace_u64(fdt, 0, "entry", 0x10fc) == 0);
	fix_hdr_crc(s.buf);	/* disagrees with the LINUXKJUMP note */
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_META);
	ASSERT(fdt_setprop_inplace_u64(fdt, 0, "entry", 0x10fb) == 0);
	v = fdt_totalsize(fdt);
	fdt_set_totalsize(fdt, (uint32_t)v + 0x100000);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_FDT);
	fdt_set_totalsize(fdt, (uint32_t)v);
	fdt_set_magic(fdt, 0x12345678);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_FDT);
	fdt_set_magic(fdt, FDT_MAGIC);
	fix_hdr_crc(s.buf);
	{
		/* a property whose length brings libfdt's next tag back onto
		 * itself (0xfffffff4): refused, not an endless walk */
		int po = fdt_first_property_offset(fdt, 0);
		uint8_t *len, save[4];

		ASSERT(po >= 0);
		len = (uint8_t *)fdt + fdt_off_dt_struct(fdt) + po + 4;
		memcpy(save, len, 4);
		memcpy(len, "\xff\xff\xff\xf4", 4);
		fix_hdr_crc(s.buf);
		ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
			   ELFIMG_E_FDT);
		memcpy(len, save, 4);
		fix_hdr_crc(s.buf);
	}
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	free(s.buf);
}

TEST(kj_index_checks)
{
	struct mem m = { .seed = 5, .zero_pct = 10 };
	struct kjopts o = { .level = 6, .complete = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	struct elfimg_chunk *ix, save;

	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ix = (struct elfimg_chunk *)(uintptr_t)info.index;
	ASSERT(info.nchunks > 3);
	ASSERT(ix[1].stored > 0);
	save = ix[1];

#define TAMPER(stmt, want)                                                \
	do {                                                              \
		ix[1] = save;                                             \
		stmt;                                                     \
		fix_index_crc(s.buf, &info);                              \
		ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs,  \
					MAX_SEGS), want);                 \
		ix = (struct elfimg_chunk *)(uintptr_t)info.index;        \
	} while (0)

	TAMPER(ix[1].offset += 8, ELFIMG_E_INDEX);	  /* unaligned */
	TAMPER(ix[1].offset = ix[0].offset, ELFIMG_E_INDEX); /* overlap */
	TAMPER(ix[1].offset = 0, ELFIMG_E_INDEX);	  /* in the headers */
	TAMPER(ix[1].offset = UINT64_MAX & ~4095ull, ELFIMG_E_INDEX);
	TAMPER(ix[1].method = 9, ELFIMG_E_INDEX);
	/* XXH64's high half: any value parses, decoding will tell */
	TAMPER(ix[1].check_hi ^= 1, ELFIMG_OK);
	TAMPER(ix[1].stored = 0xfffffff0u, ELFIMG_E_INDEX);
	TAMPER(ix[1].method = ELFIMG_METHOD_STORED, ELFIMG_E_INDEX);
	TAMPER((void)0, ELFIMG_OK);
	/* the last chunk of segment 0 covers fewer than 64 units */
	{
		uint64_t last = segs[0].nchunks - 1;

		save = ix[1];
		ix[last].zero_map |= 1ull << 63;
		fix_index_crc(s.buf, &info);
		ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs,
					MAX_SEGS), ELFIMG_E_INDEX);
	}
	/* the index CRC itself */
	free(s.buf);
	s = write_kj(&m, basic_segs, 3, &o, NULL);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ix = (struct elfimg_chunk *)(uintptr_t)info.index;
	ix[2].crc ^= 1;
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_INDEX);
	free(s.buf);
#undef TAMPER
}

/*
 * Bytes flipped across chunk @ci's payload (every @step-th, one at a time)
 * fail its decode or its check; whole, it decodes and checks, but not into
 * a shorter output.
 */
static void assert_damage_caught(uint8_t *img, const struct elfimg_chunk_info *ci,
				 uint64_t len, uint32_t step, uint8_t flip)
{
	static struct elfimg_inflater inf;
	static uint8_t out[ELFIMG_MAX_CHUNK];

	ASSERT(ci->stored > 0);
	ASSERT_ERR(elfimg_inflater_init(&inf), ELFIMG_OK);
	for (uint32_t i = 0; i < ci->stored; i += step) {
		enum elfimg_err e;

		img[ci->offset + i] ^= flip;
		e = elfimg_chunk_decode(&inf, ci, img + ci->offset, out, len,
					true);
		img[ci->offset + i] ^= flip;
		ASSERT(e == ELFIMG_E_CHUNK_DATA || e == ELFIMG_E_CHUNK_CRC);
	}
	ASSERT_ERR(elfimg_chunk_decode(&inf, ci, img + ci->offset, out, len,
				       true), ELFIMG_OK);
	/* wrong output length */
	ASSERT(elfimg_chunk_decode(&inf, ci, img + ci->offset, out, 4096,
				   true) != ELFIMG_OK);
	elfimg_inflater_fini(&inf);
}

TEST(kj_chunk_corruption)
{
	struct mem m = { .seed = 6, .zero_pct = 10 };
	struct kjopts o = { .level = 6, .complete = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	struct elfimg_chunk_info ci;

	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	elfimg_chunk_get(&info, segs[1].first_chunk, &ci);
	ASSERT(ci.method == ELFIMG_METHOD_DEFLATE);
	assert_damage_caught(s.buf, &ci, elfimg_chunk_len(&info, &segs[1], 0),
			     97, 0x55);
	free(s.buf);
}

/*
 * LZ4 chunks (kjsave --lz4): the image says so in incompat bit 2 and not
 * bit 0, round-trips, and a reader refuses an LZ4 chunk in an image
 * without that bit; damage to the payload fails the decode or the check.
 */
TEST(kj_lz4_chunks)
{
	struct mem m = { .seed = 14, .zero_pct = 10 };
	struct kjopts o = { .level = 1, .complete = true, .lz4 = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	struct elfimg_chunk_info ci;
	void *fdt = s.buf + ELFIMG_FDT_OFF;
	uint64_t found = 0;

	verify_roundtrip(&s, &m, basic_segs, 3);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_EQ(info.incompat, ELFIMG_INCOMPAT_LZ4 | ELFIMG_INCOMPAT_XXH64);
	for (uint64_t i = 0; i < info.nchunks; i++) {
		elfimg_chunk_get(&info, i, &ci);
		ASSERT(ci.method != ELFIMG_METHOD_DEFLATE);
		found += ci.method == ELFIMG_METHOD_LZ4;
	}
	ASSERT(found > 0);
	elfimg_chunk_get(&info, segs[1].first_chunk, &ci);
	ASSERT(ci.method == ELFIMG_METHOD_LZ4);
	assert_damage_caught(s.buf, &ci, elfimg_chunk_len(&info, &segs[1], 0),
			     89, 0x21);
	/* DEFLATE's bit does not stand in for LZ4's */
	ASSERT(fdt_setprop_inplace_u32(fdt, 0, "incompat",
				       ELFIMG_INCOMPAT_DEFLATE |
				       ELFIMG_INCOMPAT_XXH64) == 0);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_INDEX);
	free(s.buf);
}

/* Values from xxhsum -H64 (Debian's xxhash): every tail path, and a
 * length of 4099 = 128 stripes + 3 words + 1 int + 3 bytes. */
TEST(xxh64_vectors)
{
	static uint8_t buf[4099];

	ASSERT_EQ(elfimg_xxh64("", 0, 0), 0xef46db3751d8e999ull);
	ASSERT_EQ(elfimg_xxh64("a", 1, 0), 0xd24ec4f1a98c6e5bull);
	ASSERT_EQ(elfimg_xxh64("abc", 3, 0), 0x44bc2cf5ad770999ull);
	ASSERT_EQ(elfimg_xxh64("123456789", 9, 0), 0x8cb841db40e6ae83ull);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ASSERT_EQ(elfimg_xxh64(buf, 32, 0), 0xcbf59c5116ff32b4ull);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	ASSERT_EQ(elfimg_xxh64(buf, 45, 0), 0xff59426b0066066bull);
	ASSERT_EQ(elfimg_xxh64(buf, sizeof(buf), 0), 0xc2c15a86d6a1985bull);
}

/*
 * The one-pass decode and check (stored and LZ4 chunks with XXH64) gives
 * the bytes and the verdict of decode-then-check, on chunks with zero
 * units anywhere (first, last, runs, all but one) and short last units,
 * and catches a damaged chunk or a wrong check.
 */
TEST(chunk_one_pass)
{
	static const size_t lens[] = { 20, 33, 4096, 3 * 4096 + 100,
				       5 * 4096 + 64, ELFIMG_MAX_CHUNK };
	static const uint64_t maps[] = { 0, 1, 2, 5, 0x6, 0x10, 0x1e,
					 0x8000000000000000ull, 0x7ffffffffffffffeull };
	static uint8_t mem[ELFIMG_MAX_CHUNK], packed[ELFIMG_MAX_CHUNK],
		src[ELFIMG_MAX_CHUNK * 2], out[ELFIMG_MAX_CHUNK + 64],
		ref[ELFIMG_MAX_CHUNK + 64];
	static uint32_t table[ELFIMG_LZ4_TABLE];
	static struct elfimg_inflater inf;
	uint64_t x = 99;

	ASSERT_ERR(elfimg_inflater_init(&inf), ELFIMG_OK);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
	for (size_t mi = 0; mi < sizeof(maps) / sizeof(maps[0]); mi++)
	for (int lz4 = 0; lz4 < 2; lz4++) {
		size_t len = lens[li], units = (len + 4095) / 4096, nz = 0;
		uint64_t map = units < 64 ? maps[mi] & ((1ull << units) - 1) : maps[mi];
		struct elfimg_chunk_info ci = { .xxh64 = true, .zero_map = map };

		if (map == (units < 64 ? (1ull << units) - 1 : ~0ull))
			continue;	/* all zero: no bytes to decode */
		for (size_t u = 0; u < units; u++) {
			size_t at = u * 4096, ulen = len - at < 4096 ? len - at : 4096;

			for (size_t i = 0; i < ulen; i++) {
				x = x * 6364136223846793005ull + 1442695040888963407ull;
				/* half random, half repeats: LZ4 finds matches */
				mem[at + i] = map >> u & 1 ? 0 :
					      i % 512 < 256 ? (uint8_t)(x >> 56) : mem[at + i - 256];
			}
			if (!(map >> u & 1)) {
				memcpy(packed + nz, mem + at, ulen);
				nz += ulen;
			}
		}
		ci.check = elfimg_xxh64(mem, len, 0);
		if (lz4) {
			ci.method = ELFIMG_METHOD_LZ4;
			ci.stored = elfimg_lz4_encode(packed, nz, src, sizeof(src), table);
			ASSERT(ci.stored > 0);
		} else {
			ci.method = ELFIMG_METHOD_STORED;
			ci.stored = nz;
			memcpy(src, packed, nz);
		}
		ASSERT(elfimg_chunk_one_pass(&ci));
		memset(out, 0xa5, sizeof(out));
		ASSERT_ERR(elfimg_chunk_decode(&inf, &ci, src, out, len, true), ELFIMG_OK);
		ASSERT(memcmp(out, mem, len) == 0);
		ASSERT_EQ(out[len], 0xa5);
		/* the two-pass form agrees */
		ASSERT_ERR(elfimg_chunk_decode(&inf, &ci, src, ref, len, false), ELFIMG_OK);
		ASSERT(memcmp(ref, mem, len) == 0);
		ASSERT_EQ(elfimg_chunk_check(&ci, ref, len), ci.check);
		/* a wrong check, a damaged byte */
		ci.check ^= 1ull << (li + mi);
		ASSERT_ERR(elfimg_chunk_decode(&inf, &ci, src, out, len, true),
			   ELFIMG_E_CHUNK_CRC);
		ci.check ^= 1ull << (li + mi);
		src[ci.stored / 2] ^= 0x10;
		ASSERT(elfimg_chunk_decode(&inf, &ci, src, out, len, true) != ELFIMG_OK);
	}
	elfimg_inflater_fini(&inf);
	/* CRC32 images and zlib chunks: decode, then check */
	struct elfimg_chunk_info ci = { .xxh64 = true, .method = ELFIMG_METHOD_DEFLATE };
	ASSERT(!elfimg_chunk_one_pass(&ci));
	ci = (struct elfimg_chunk_info){ .xxh64 = false, .method = ELFIMG_METHOD_LZ4 };
	ASSERT(!elfimg_chunk_one_pass(&ci));
	ci.method = ELFIMG_METHOD_STORED;
	ASSERT(!elfimg_chunk_one_pass(&ci));
}

/* Both chunk checks (XXH64, the default, and CRC32 for older loaders)
 * round-trip, and each catches a flipped byte of a stored chunk. */
TEST(kj_chunk_crc_kinds)
{
	for (int k = 0; k < 2; k++) {
		struct mem m = { .seed = 12, .zero_pct = 20 };
		struct kjopts o = { .level = 0, .complete = true, .crc32 = k };
		struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
		struct elfimg_info info;
		static struct elfimg_inflater inf;
		static uint8_t out[ELFIMG_MAX_CHUNK];
		struct elfimg_chunk_info ci;
		uint64_t len;

		verify_roundtrip(&s, &m, basic_segs, 3);
		ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
			   ELFIMG_OK);
		ASSERT_EQ(info.incompat, k ? 0 : ELFIMG_INCOMPAT_XXH64);
		elfimg_chunk_get(&info, segs[1].first_chunk, &ci);
		ASSERT(ci.xxh64 == !k);
		ASSERT(k ? ci.check <= UINT32_MAX : ci.check > UINT32_MAX);
		ASSERT(ci.method == ELFIMG_METHOD_STORED && ci.stored > 0);
		len = elfimg_chunk_len(&info, &segs[1], 0);
		ASSERT_ERR(elfimg_inflater_init(&inf), ELFIMG_OK);
		for (uint32_t i = 0; i < ci.stored; i += 4093) {
			s.buf[ci.offset + i] ^= 0x10;
			ASSERT_ERR(elfimg_chunk_decode(&inf, &ci, s.buf + ci.offset,
						       out, len, true),
				   ELFIMG_E_CHUNK_CRC);
			s.buf[ci.offset + i] ^= 0x10;
		}
		ASSERT_ERR(elfimg_chunk_decode(&inf, &ci, s.buf + ci.offset, out,
					       len, true), ELFIMG_OK);
		elfimg_inflater_fini(&inf);
		if (k) {	/* a CRC32 image has no high half */
			struct elfimg_chunk *ix =
				(struct elfimg_chunk *)(uintptr_t)info.index;

			ix[1].check_hi = 1;
			fix_index_crc(s.buf, &info);
			ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs,
						MAX_SEGS), ELFIMG_E_INDEX);
		}
		free(s.buf);
	}
}

/* Write an image whose completion the writer refuses with @want, then
 * mark it complete by hand, as a buggy or hostile writer would. */
static struct sink bad_kj(struct mem *m, const struct kjopts *o,
			  enum elfimg_err want)
{
	struct kjopts c = *o;
	struct sink s;
	enum elfimg_err err;

	c.complete = true;
	s = write_kj(m, basic_segs, 3, &c, &err);
	ASSERT_ERR(err, want);
	free(s.buf);
	c.complete = false;
	s = write_kj(m, basic_segs, 3, &c, NULL);
	ASSERT_ERR(elfimg_mark(s.buf, s.len, ELFIMG_STATE_COMPLETE), ELFIMG_OK);
	return s;
}

TEST(kj_memmap_scratch_extents)
{
	struct mem m = { .seed = 7, .zero_pct = 40 };
	struct elfimg_range mm[] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 }, { 0x100000, 0x7f00000, 1 },
		{ 0x8000000, 0x10000000, 1 },
	};
	struct elfimg_range scr[] = { { 0x400000, 0x100000, 0 } };
	struct elfimg_extent ext[] = { { 0, 0x100000, 0x10000 },
				       { 0x10000, 0x800000, 0x1000000 } };
	struct kjopts o = { .level = 6, .complete = true, .memmap = mm,
			    .nmemmap = 4, .scratch = scr, .nscratch = 1,
			    .ext = ext, .next = 2 };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	struct elfimg_range r;
	struct elfimg_extent e;

	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_EQ(info.nmemmap, 4);
	ASSERT(elfimg_memmap_get(&info, 1, &r));
	ASSERT_EQ(r.start, 0x9fc00);
	ASSERT_EQ(r.type, 2);
	ASSERT(!elfimg_memmap_get(&info, 4, &r));
	ASSERT_EQ(info.nscratch, 1);
	ASSERT(elfimg_scratch_get(&info, 0, &r));
	ASSERT_EQ(r.start, 0x400000);
	ASSERT_EQ(info.nextents, 2);
	ASSERT(elfimg_extent_get(&info, 1, &e));
	ASSERT_EQ(e.dev_offset, 0x800000);
	{
		uint64_t dev, contig;

		ASSERT(elfimg_extent_map(&info, 0x5c, &dev, &contig));
		ASSERT_EQ(dev, 0x10005c);	/* the state sector */
		ASSERT_EQ(contig, 0x10000 - 0x5c);
		ASSERT(elfimg_extent_map(&info, 0x10000, &dev, &contig));
		ASSERT_EQ(dev, 0x800000);
		ASSERT(elfimg_extent_map(&info, 0x1000fff, &dev, &contig));
		ASSERT_EQ(contig, 0x10000 + 0x1000000 - 0x1000fff);
		ASSERT(!elfimg_extent_map(&info, 0x1010000, &dev, &contig));
	}
	free(s.buf);

	/*
	 * Bad metadata: the writer refuses to mark such images complete
	 * (it parses its own headers first); a hostile writer would not, so
	 * mark them by hand and check that the reader rejects them.
	 */
	o.complete = false;
	mm[3].start = 0x10001000;	/* a segment outside the map */
	mm[3].size = 0x1000000;
	s = bad_kj(&m, &o, ELFIMG_E_MEMMAP);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_MEMMAP);
	free(s.buf);
	mm[3].start = 0x8000000;
	mm[3].size = 0x10000000;

	scr[0].start = 0x3ff000;	/* a segment inside the scratch region */
	s = bad_kj(&m, &o, ELFIMG_E_SCRATCH);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_SCRATCH);
	free(s.buf);
	scr[0].start = 0x400000;

	mm[0].start = 0x1000000;	/* unsorted map */
	s = bad_kj(&m, &o, ELFIMG_E_META);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_META);
	free(s.buf);
	mm[0].start = 0;
	ext[1].file_offset = 0x20000;	/* extents with a hole */
	s = bad_kj(&m, &o, ELFIMG_E_META);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_META);
	free(s.buf);
}

TEST(kj_kind_mixing)
{
	struct mem m = { .seed = 8, .zero_pct = 40 };
	struct kjopts o = { .level = 0, .complete = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	struct elfimg_ehdr e;
	struct elfimg_phdr ph;

	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	/* level 0: no DEFLATE */
	ASSERT_EQ(info.incompat, ELFIMG_INCOMPAT_XXH64);
	memcpy(&e, s.buf, sizeof(e));
	memcpy(&ph, s.buf + e.e_phoff + 56, sizeof(ph));
	ph.p_type = ELFIMG_PT_LOAD;	/* a PT_LOAD in a kj image */
	memcpy(s.buf + e.e_phoff + 56, &ph, sizeof(ph));
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_SEG_TYPE);
	ph.p_type = ELFIMG_PT_KJ_CHUNKED;
	memcpy(s.buf + e.e_phoff + 56, &ph, sizeof(ph));
	memcpy(&ph, s.buf + e.e_phoff + 2 * 56, sizeof(ph));
	ph.p_paddr = 0x2000;		/* segment 1 overlaps segment 0 */
	memcpy(s.buf + e.e_phoff + 2 * 56, &ph, sizeof(ph));
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_SEG_OVERLAP);
	free(s.buf);
}

/* Writer + reader on random sparse layouts: byte-exact. */
TEST(roundtrip_random_layouts)
{
	uint64_t rng = 0x5eed;
	static const uint32_t chunks[] = { 4096, 65536, ELFIMG_DEFAULT_CHUNK };

	for (int iter = 0; iter < 24; iter++) {
		struct elfimg_wseg ws[24];
		struct mem m = { .seed = mix(rng++) };
		struct kjopts o = { .level = iter % 4 == 0 ? 0 : 1 + iter % 9,
				    .chunk = chunks[iter % 3],
				    .complete = true, .lz4 = iter % 4 == 2 };
		size_t n = 1 + mix(rng++) % 20;
		uint64_t pa = (mix(rng++) % 64) * 4096;
		struct sink s;

		m.zero_pct = (unsigned)(mix(rng++) % 101);
		for (size_t i = 0; i < n; i++) {
			uint64_t r = mix(rng++);

			pa += (r % 4) * 4096 * (r % 7);	/* gaps, or none */
			ws[i].paddr = pa + (r & 0x100 ? (r >> 20) % 4096 : 0);
			ws[i].memsz = 1 + (r >> 32) % (600 * 1024);
			if (r & 0x200)
				ws[i].memsz = (ws[i].memsz + 4095) & ~4095ull;
			pa = ws[i].paddr + ws[i].memsz;
		}
		s = write_kj(&m, ws, n, &o, NULL);
		verify_roundtrip(&s, &m, ws, n);
		free(s.buf);
	}
}

TEST(roundtrip_xnum_writer)
{
	static struct elfimg_wseg ws[70000];
	struct mem m = { .seed = 9, .zero_pct = 95 };
	struct kjopts o = { .level = 1, .complete = true };
	struct sink s;
	struct elfimg_info info;
	struct elfimg_ehdr e;

	for (size_t i = 0; i < 70000; i++)
		ws[i] = (struct elfimg_wseg){ 0x100000 + i * 0x2000, 0x1000 };
	s = write_kj(&m, ws, 70000, &o, NULL);
	memcpy(&e, s.buf, sizeof(e));
	ASSERT_EQ(e.e_phnum, ELFIMG_PN_XNUM);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_OK);
	ASSERT_EQ(info.nsegs, 70000);
	verify_roundtrip(&s, &m, ws, 70000);
	free(s.buf);
}

TEST(writer_rejects_bad_input)
{
	struct mem m = { .seed = 1 };
	struct kjopts o = { .level = 6 };
	struct elfimg_wseg overlap[] = { { 0x1000, 0x2000 }, { 0x2000, 0x1000 } };
	struct elfimg_wseg empty[] = { { 0x1000, 0 } };
	enum elfimg_err err;
	struct sink s;

	s = write_kj(&m, overlap, 2, &o, &err);
	ASSERT_ERR(err, ELFIMG_E_ARG);
	free(s.buf);
	s = write_kj(&m, empty, 1, &o, &err);
	ASSERT_ERR(err, ELFIMG_E_ARG);
	free(s.buf);
	o.chunk = 5000;
	s = write_kj(&m, basic_segs, 3, &o, &err);
	ASSERT_ERR(err, ELFIMG_E_ARG);
	free(s.buf);
}

TEST(strerror_total)
{
	for (int e = 0; e < ELFIMG_E__MAX; e++)
		ASSERT(strcmp(elfimg_strerror(e), "unknown error") != 0);
	ASSERT(!strcmp(elfimg_strerror(ELFIMG_E__MAX), "unknown error"));
	ASSERT(!strcmp(elfimg_strerror(-1), "unknown error"));
}

/* Seeds for tests/fuzz/fuzz-elfimg (headers regions only: small). */
static void emit(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ASSERT(f);
	ASSERT(fwrite(p, 1, n, f) == n);
	fclose(f);
}

TEST(emit_corpus)
{
	const char *dir = getenv("KJ_ELFIMG_CORPUS");
	struct mem m = { .seed = 10, .zero_pct = 50 };
	struct elfimg_range mm[] = { { 0, 0x20000000, 1 } };
	struct elfimg_range scr[] = { { 0x20000000, 0x1000000, 0 } };
	struct elfimg_extent ext[] = { { 0, 0x100000, 0x10000000 } };
	struct kjopts o = { .level = 6, .complete = true, .chunk = 16384,
			    .memmap = mm, .nmemmap = 1, .scratch = scr,
			    .nscratch = 1, .ext = ext, .next = 1 };
	struct elfimg_wseg small[] = { { 0x1000, 0x5000 }, { 0x100000, 0x7c00 } };
	struct core c;
	struct sink s;

	if (!dir)
		return;
	c = plain_core(true, false);
	emit(dir, "plain-vmcore", c.buf, plain_hdr_len(&c));
	free(c.buf);
	c = plain_core(false, false);
	emit(dir, "plain-no-note", c.buf, plain_hdr_len(&c));
	free(c.buf);
	s = write_kj(&m, small, 2, &o, NULL);
	emit(dir, "kj-small", s.buf, s.len);
	free(s.buf);
	o.level = 0;
	o.next = 0;
	o.nmemmap = o.nscratch = 0;
	s = write_kj(&m, small, 2, &o, NULL);
	emit(dir, "kj-stored", s.buf, s.len);
	free(s.buf);
}

TEST(kj_fdt_version_and_alignment)
{
	struct mem m = { .seed = 11, .zero_pct = 20 };
	struct kjopts o = { .level = 6, .complete = true };
	struct sink s = write_kj(&m, basic_segs, 3, &o, NULL);
	struct elfimg_info info;
	void *fdt = s.buf + ELFIMG_FDT_OFF;
	uint8_t *odd;

	/* the buffer must be 8-byte aligned: a clear error, not a libfdt one */
	odd = malloc(s.len + 4);
	ASSERT(odd);
	memcpy(odd + 4, s.buf, s.len);
	ASSERT_ERR(elfimg_parse(odd + 4, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_ARG);
	free(odd);
	/* pre-v17 blobs: libfdt 1.6.1's fdt_check_full() is not safe on them */
	fdt_set_version(fdt, 16);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_FDT);
	fdt_set_version(fdt, 17);
	fdt_set_last_comp_version(fdt, 2);
	fix_hdr_crc(s.buf);
	ASSERT_ERR(elfimg_parse(s.buf, s.len, NULL, &info, segs, MAX_SEGS),
		   ELFIMG_E_FDT);
	free(s.buf);
}

/* Same memory in, same bytes out: images are reproducible. */
TEST(writer_deterministic)
{
	struct mem m = { .seed = 12, .zero_pct = 30 };
	struct kjopts o = { .level = 6, .complete = true };
	struct sink a = write_kj(&m, basic_segs, 3, &o, NULL);
	struct sink b = write_kj(&m, basic_segs, 3, &o, NULL);

	ASSERT_EQ(a.len, b.len);
	ASSERT(!memcmp(a.buf, b.buf, a.len));
	free(a.buf);
	free(b.buf);
}

/* Any number of compressing threads writes the same bytes. */
TEST(writer_threads_same_bytes)
{
	static const uint32_t chunks[] = { 4096, 65536, ELFIMG_DEFAULT_CHUNK };
	static const unsigned threads[] = { 1, 2, 3, 8 };
	uint64_t rng = 0x7417;

	for (int iter = 0; iter < 9; iter++) {
		struct elfimg_wseg ws[8];
		struct mem m = { .seed = mix(rng++), .zero_pct = 25 };
		struct kjopts o = { .level = iter % 3 == 1 ? 1 : 0, .lz4 = iter % 3 == 2,
				    .chunk = chunks[iter / 3], .complete = true };
		size_t n = 1 + mix(rng++) % 6;
		uint64_t pa = 0x1000;

		for (size_t i = 0; i < n; i++) {
			uint64_t r = mix(rng++);

			ws[i].paddr = pa + (r & 1 ? 4096 : 0);
			ws[i].memsz = 1 + (r >> 16) % (3 << 19);
			pa = (ws[i].paddr + ws[i].memsz + 4095) & ~4095ull;
		}
		struct sink ref = write_kj(&m, ws, n, &o, NULL);

		verify_roundtrip(&ref, &m, ws, n);
		for (size_t t = 0; t < sizeof(threads) / sizeof(*threads); t++) {
			o.threads = threads[t];
			struct sink s = write_kj(&m, ws, n, &o, NULL);

			ASSERT_EQ(s.len, ref.len);
			if (memcmp(s.buf, ref.buf, s.len))
				TEST_FAIL("iteration %d, %u threads: the image differs",
					  iter, threads[t]);
			free(s.buf);
		}
		free(ref.buf);
	}
}

/* A writer whose callbacks fail at the Nth call, and note their thread. */
struct failing {
	struct mem *m;
	struct sink s;
	int read_fail, write_fail;	/* 1-based call to fail; 0: none */
	int reads, writes;
	uint64_t last_done;
	pthread_t caller;
	bool wrong_thread, backwards;
};

static int failing_read(void *ctx, uint64_t paddr, void *buf, size_t len)
{
	struct failing *f = ctx;
	void *inner[2] = { f->m, &f->s };

	f->wrong_thread |= !pthread_equal(pthread_self(), f->caller);
	if (++f->reads == f->read_fail)
		return -1;
	return mem_read(inner, paddr, buf, len);
}

static int failing_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct failing *f = ctx;
	void *inner[2] = { f->m, &f->s };

	f->wrong_thread |= !pthread_equal(pthread_self(), f->caller);
	if (++f->writes == f->write_fail)
		return -1;
	return sink_write(inner, off, buf, len);
}

static void failing_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct failing *f = ctx;

	f->wrong_thread |= !pthread_equal(pthread_self(), f->caller);
	f->backwards |= done <= f->last_done || done > total;
	f->last_done = done;
}

/*
 * A read or write that fails mid-way fails the whole write, whatever the
 * number of threads (and does not hang); the callbacks run on the
 * caller's thread only, progress in chunk order.
 */
TEST(writer_threads_errors)
{
	static const unsigned threads[] = { 0, 2, 5 };
	struct mem m = { .seed = 99, .zero_pct = 20 };
	/* basic_segs in 64 KiB chunks: 77 reads; the headers, then up to
	 * 77 payloads and the padding */
	static const int at[] = { 0, 1, 2, 7, 30, 77, 78 };

	for (size_t t = 0; t < sizeof(threads) / sizeof(*threads); t++) {
		for (size_t k = 0; k < sizeof(at) / sizeof(*at); k++) {
			for (int side = 0; side < 2; side++) {
				struct failing f = { .m = &m, .caller = pthread_self() };
				struct elfimg_wparams p = {
					.level = 1, .lz4 = true, .chunk_size = 65536,
					.threads = threads[t], .entry = 0x1000,
					.read_mem = failing_read, .write_at = failing_write,
					.progress = failing_progress, .ctx = &f,
				};
				struct elfimg_writer *w;
				enum elfimg_err err;
				bool fails;

				if (side)
					f.write_fail = at[k] + 1;
				else
					f.read_fail = at[k];
				ASSERT_ERR(elfimg_writer_new(&p, basic_segs, 3, &w), ELFIMG_OK);
				err = elfimg_writer_write_data(w);
				fails = side ? f.write_fail <= f.writes : at[k] && at[k] <= f.reads;
				if (fails)
					ASSERT_ERR(err, ELFIMG_E_IO);
				else
					ASSERT_ERR(err, ELFIMG_OK);
				ASSERT(!f.wrong_thread);
				ASSERT(!f.backwards);
				elfimg_writer_free(w);
				free(f.s.buf);
			}
		}
	}
}
