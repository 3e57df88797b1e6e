/* SPDX-License-Identifier: MIT */
/*
 * On-disk layout of a kjresume image: the ELF64 structures we use (defined
 * here rather than taken from <elf.h>, which a freestanding build lacks)
 * and the kjresume constants. docs/FORMAT.md is the normative text; every
 * multi-byte ELF field is little endian, every FDT value big endian.
 */
#ifndef KJ_ELFIMG_FORMAT_H
#define KJ_ELFIMG_FORMAT_H

#include <stdint.h>

/* ---- ELF64 ---- */
#define ELFIMG_EI_NIDENT	16
#define ELFIMG_ELFCLASS64	2
#define ELFIMG_ELFDATA2LSB	1
#define ELFIMG_EV_CURRENT	1
#define ELFIMG_ET_CORE		4
#define ELFIMG_EM_X86_64	62
#define ELFIMG_PT_LOAD		1
#define ELFIMG_PT_NOTE		4
#define ELFIMG_PN_XNUM		0xffff

/* kjresume's segment type: physical range whose data is in chunks */
#define ELFIMG_PT_KJ_CHUNKED	0x6b6a4300u	/* PT_LOOS range, "\0Cjk" */

struct elfimg_ehdr {
	uint8_t  e_ident[ELFIMG_EI_NIDENT];
	uint16_t e_type;
	uint16_t e_machine;
	uint32_t e_version;
	uint64_t e_entry;
	uint64_t e_phoff;
	uint64_t e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize;
	uint16_t e_phentsize;
	uint16_t e_phnum;
	uint16_t e_shentsize;
	uint16_t e_shnum;
	uint16_t e_shstrndx;
};

struct elfimg_phdr {
	uint32_t p_type;
	uint32_t p_flags;
	uint64_t p_offset;
	uint64_t p_vaddr;
	uint64_t p_paddr;
	uint64_t p_filesz;
	uint64_t p_memsz;
	uint64_t p_align;
};

struct elfimg_shdr {
	uint32_t sh_name;
	uint32_t sh_type;
	uint64_t sh_flags;
	uint64_t sh_addr;
	uint64_t sh_offset;
	uint64_t sh_size;
	uint32_t sh_link;
	uint32_t sh_info;
	uint64_t sh_addralign;
	uint64_t sh_entsize;
};

struct elfimg_nhdr {
	uint32_t n_namesz;
	uint32_t n_descsz;
	uint32_t n_type;
};

_Static_assert(sizeof(struct elfimg_ehdr) == 64, "ehdr");
_Static_assert(sizeof(struct elfimg_phdr) == 56, "phdr");
_Static_assert(sizeof(struct elfimg_shdr) == 64, "shdr");

/* ---- the kernel's resume note (kernel/patches/.../0003) ---- */
#define ELFIMG_RESUME_NOTE_NAME	"LINUXKJUMP"
#define ELFIMG_RESUME_NOTE_TYPE	1
#define ELFIMG_RESUME_NOTE_V1	1
#define ELFIMG_RESUME_LA57	(1u << 0)
#define ELFIMG_RESUME_GDT	(1u << 1)
#define ELFIMG_RESUME_EFI_RT	(1u << 2)	/* A uses EFI runtime services */
#define ELFIMG_RESUME_FREE_ANY	(1u << 3)	/* A's free pages: any content */
#define ELFIMG_RESUME_UNSWAPPED	(1u << 4)	/* A's kexec swap undone in the
						 * image; the entry skips it */
#define ELFIMG_RELEASE_LEN	72

struct elfimg_resume_note {
	uint32_t version;
	uint32_t flags;
	uint64_t entry;
	char release[ELFIMG_RELEASE_LEN];
};
_Static_assert(sizeof(struct elfimg_resume_note) == 88, "resume note");

/* the kernel's in-place note (kernel/patches/.../0005, 0006): in B's core
 * only, beside the resume note; never in an image (FORMAT.md 3.1) */
#define ELFIMG_INPLACE_NOTE_TYPE	2
#define ELFIMG_INPLACE_NOTE_V1		1
struct elfimg_inplace_note {
	uint32_t version;
	uint32_t reserved;
	uint64_t entry;		/* the jump-back entry without A's page swap */
	uint64_t swap_list;	/* A's kexec entry list (image->head) */
};
_Static_assert(sizeof(struct elfimg_inplace_note) == 24, "in-place note");

#define ELFIMG_VMCOREINFO_NAME	"VMCOREINFO"

/* ---- kjresume's own notes ---- */
#define ELFIMG_KJ_NOTE_NAME	"KJRESUME"	/* n_namesz 9 */
#define ELFIMG_KJ_NT_STATE	1
#define ELFIMG_KJ_NT_META	2

/*
 * Fixed placement: the first note of the first PT_NOTE is the state note
 * at file offset 0x40, so its descriptor is at 0x58 and the state word at
 * 0x5c, inside the first 512-byte sector. The metadata note follows at
 * 0x68 with its FDT at 0x80.
 */
#define ELFIMG_NOTES_OFFSET	0x40u
#define ELFIMG_STATE_DESC_OFF	0x58u
#define ELFIMG_STATE_OFF	0x5cu
#define ELFIMG_META_NOTE_OFF	0x68u
#define ELFIMG_FDT_OFF		0x80u

struct elfimg_state_desc {
	uint32_t magic;		/* ELFIMG_STATE_MAGIC */
	uint32_t state;		/* ELFIMG_STATE_* */
	uint32_t hdr_len;	/* bytes covered by hdr_crc, from offset 0 */
	uint32_t hdr_crc;	/* CRC32 of [0, hdr_len) with this desc as zeros */
};
_Static_assert(sizeof(struct elfimg_state_desc) == 16, "state desc");

/* Little-endian ASCII when dumped: "KJST", "WRTG", "DONE", "USED" */
#define ELFIMG_STATE_MAGIC	0x54534a4bu
#define ELFIMG_STATE_WRITING	0x47545257u
#define ELFIMG_STATE_COMPLETE	0x454e4f44u
#define ELFIMG_STATE_CONSUMED	0x44455355u

/* ---- the chunk index (little endian, 32 bytes per entry) ---- */
struct elfimg_chunk {
	uint64_t offset;	/* file offset, multiple of data-align; 0 if stored == 0 */
	uint32_t stored;	/* bytes at offset */
	uint32_t crc;		/* CRC32 of the chunk's memory bytes; with
				 * INCOMPAT_XXH64 the low half of their XXH64 */
	uint64_t zero_map;	/* bit i: 4 KiB unit i is zero, not stored */
	uint32_t method;	/* ELFIMG_METHOD_* */
	uint32_t check_hi;	/* INCOMPAT_XXH64: the high half; else 0 */
};
_Static_assert(sizeof(struct elfimg_chunk) == 32, "chunk");

#define ELFIMG_METHOD_STORED	0	/* non-zero units, verbatim */
#define ELFIMG_METHOD_DEFLATE	1	/* raw DEFLATE (RFC 1951) of the same */
#define ELFIMG_METHOD_LZ4	2	/* one LZ4 block of the same */

#define ELFIMG_UNIT		4096u	/* zero-map granularity */
#define ELFIMG_MAX_CHUNK	(64u * ELFIMG_UNIT)
#define ELFIMG_FORMAT_VERSION	1
#define ELFIMG_INCOMPAT_DEFLATE	(1u << 0)
#define ELFIMG_INCOMPAT_XXH64	(1u << 1)	/* chunk check is XXH64 */
#define ELFIMG_INCOMPAT_LZ4	(1u << 2)	/* LZ4 chunks present */
#define ELFIMG_INCOMPAT_KNOWN	(ELFIMG_INCOMPAT_DEFLATE | ELFIMG_INCOMPAT_XXH64 | \
				 ELFIMG_INCOMPAT_LZ4)
#define ELFIMG_COMPATIBLE	"kjresume,image"

#endif
