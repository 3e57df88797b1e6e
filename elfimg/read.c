// SPDX-License-Identifier: MIT
/*
 * elfimg reader: validate the headers region of an image and build the
 * segment table. Pure C, no allocation; see elfimg.h and docs/FORMAT.md.
 *
 * Every offset/size pair from the file goes through in_range() before it
 * is used: "off <= len && size <= len - off" cannot wrap, unlike the
 * "off + size > len" form (see docs/FORMAT.md, "Validation").
 */
#include <libfdt.h>
#include <zlib.h>

#include "elfimg/compat.h"
#include "elfimg/elfimg.h"

#ifdef ELFIMG_FUZZING
#define ELFIMG_FUZZING_ON 1
#else
#define ELFIMG_FUZZING_ON 0
#endif

/* x86-64: __START_KERNEL_map, the kernel text mapping */
#define KERNEL_TEXT_MAP 0xffffffff80000000ull

/* x86-64 physical addresses have at most 52 bits */
#define PHYS_LIMIT (1ull << 52)

static inline bool in_range(uint64_t off, uint64_t size, uint64_t len)
{
	return off <= len && size <= len - off;
}

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static const char *const errstr[ELFIMG_E__MAX] = {
	[ELFIMG_OK] = "success",
	[ELFIMG_E_TRUNCATED] = "truncated: the buffer ends inside a header",
	[ELFIMG_E_NOT_ELF] = "not an ELF file",
	[ELFIMG_E_UNSUPPORTED_ELF] = "not an ELF64 little-endian x86-64 core file",
	[ELFIMG_E_BAD_EHDR] = "inconsistent ELF header",
	[ELFIMG_E_BAD_PHDR] = "bad program header table",
	[ELFIMG_E_BAD_XNUM] = "PN_XNUM without a valid section header 0",
	[ELFIMG_E_SEG_BOUNDS] = "segment out of bounds or overflowing",
	[ELFIMG_E_SEG_FILESZ] = "segment p_filesz larger than p_memsz",
	[ELFIMG_E_SEG_ALIGN] = "segment misaligned",
	[ELFIMG_E_SEG_OVERLAP] = "segments overlap in physical memory",
	[ELFIMG_E_SEG_HEADERS] = "segment data overlaps the headers",
	[ELFIMG_E_SEG_TYPE] = "segment type not allowed in this kind of image",
	[ELFIMG_E_TOO_MANY_SEGS] = "more segments than the caller's table holds",
	[ELFIMG_E_NO_SEGS] = "no memory segments",
	[ELFIMG_E_BAD_NOTE] = "malformed ELF note",
	[ELFIMG_E_DUP_NOTE] = "duplicate ELF note",
	[ELFIMG_E_RESUME_NOTE] = "bad or unsupported LINUXKJUMP resume note",
	[ELFIMG_E_STATE_NOTE] = "KJRESUME state note missing, misplaced or invalid",
	[ELFIMG_E_HDR_CRC] = "header checksum mismatch",
	[ELFIMG_E_FDT] = "metadata is not a valid flattened device tree",
	[ELFIMG_E_META] = "metadata missing, malformed or inconsistent",
	[ELFIMG_E_VERSION] = "image format version not supported",
	[ELFIMG_E_INDEX] = "chunk index inconsistent",
	[ELFIMG_E_NO_ENTRY] = "no jump-back entry (no resume note, none given)",
	[ELFIMG_E_ENTRY] = "jump-back entry outside the image or conflicting",
	[ELFIMG_E_MEMMAP] = "segment outside the recorded memory map",
	[ELFIMG_E_SCRATCH] = "segment overlaps the scratch region",
	[ELFIMG_E_FILE_SIZE] = "image data extends past the end of the file",
	[ELFIMG_E_INCOMPLETE] = "image incomplete (still being written)",
	[ELFIMG_E_CONSUMED] = "image already consumed by a resume",
	[ELFIMG_E_PLAIN] = "plain core, not a kjresume image",
	[ELFIMG_E_CHUNK_DATA] = "chunk data corrupt",
	[ELFIMG_E_CHUNK_CRC] = "chunk checksum mismatch (CRC32 or XXH64)",
	[ELFIMG_E_ARG] = "invalid argument",
	[ELFIMG_E_IO] = "I/O error",
	[ELFIMG_E_NOMEM] = "out of memory",
};

const char *elfimg_strerror(enum elfimg_err err)
{
	if ((unsigned)err >= ELFIMG_E__MAX || !errstr[err])
		return "unknown error";
	return errstr[err];
}

uint32_t elfimg_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		unsigned n = len > (1u << 30) ? (1u << 30) : (unsigned)len;

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

static bool read_ehdr(const void *buf, size_t len, struct elfimg_ehdr *eh,
		      enum elfimg_err *err)
{
	static const uint8_t magic[4] = { 0x7f, 'E', 'L', 'F' };

	if (len < 4 || !kj_memeq(buf, magic, 4)) {
		*err = len < 4 ? ELFIMG_E_TRUNCATED : ELFIMG_E_NOT_ELF;
		return false;
	}
	if (len < sizeof(*eh)) {
		*err = ELFIMG_E_TRUNCATED;
		return false;
	}
	kj_memcpy(eh, buf, sizeof(*eh));
	if (eh->e_ident[4] != ELFIMG_ELFCLASS64 ||
	    eh->e_ident[5] != ELFIMG_ELFDATA2LSB ||
	    eh->e_ident[6] != ELFIMG_EV_CURRENT ||
	    eh->e_version != ELFIMG_EV_CURRENT ||
	    eh->e_type != ELFIMG_ET_CORE ||
	    eh->e_machine != ELFIMG_EM_X86_64) {
		*err = ELFIMG_E_UNSUPPORTED_ELF;
		return false;
	}
	if (eh->e_ehsize != sizeof(struct elfimg_ehdr) ||
	    eh->e_phentsize != sizeof(struct elfimg_phdr) ||
	    eh->e_phoff < sizeof(struct elfimg_ehdr)) {
		*err = ELFIMG_E_BAD_EHDR;
		return false;
	}
	return true;
}

/*
 * The program header count, following PN_XNUM: with e_phnum == 0xffff the
 * real count is in section header 0's sh_info. *end is set to the end of
 * the structures read so far (for elfimg_probe()).
 */
static enum elfimg_err get_phnum(const uint8_t *buf, size_t len,
				 const struct elfimg_ehdr *eh,
				 uint64_t *phnum, uint64_t *end)
{
	struct elfimg_shdr sh;

	*end = sizeof(*eh);
	if (eh->e_phnum != ELFIMG_PN_XNUM) {
		*phnum = eh->e_phnum;
		return ELFIMG_OK;
	}
	if (eh->e_shoff < sizeof(*eh) || eh->e_shnum > 1 ||
	    eh->e_shentsize != sizeof(sh))
		return ELFIMG_E_BAD_XNUM;
	*end = eh->e_shoff + sizeof(sh); /* e_shoff is checked below */
	if (!in_range(eh->e_shoff, sizeof(sh), len))
		return eh->e_shoff > UINT64_MAX - sizeof(sh) ?
			ELFIMG_E_BAD_XNUM : ELFIMG_E_TRUNCATED;
	kj_memcpy(&sh, buf + eh->e_shoff, sizeof(sh));
	if (sh.sh_info < ELFIMG_PN_XNUM)
		return ELFIMG_E_BAD_XNUM;
	*phnum = sh.sh_info;
	return ELFIMG_OK;
}

static bool is_kj_state_note(const uint8_t *buf, size_t len)
{
	struct elfimg_nhdr nh;

	if (len < ELFIMG_STATE_DESC_OFF + sizeof(struct elfimg_state_desc))
		return false;
	kj_memcpy(&nh, buf + ELFIMG_NOTES_OFFSET, sizeof(nh));
	return nh.n_namesz == sizeof(ELFIMG_KJ_NOTE_NAME) &&
	       nh.n_descsz == sizeof(struct elfimg_state_desc) &&
	       nh.n_type == ELFIMG_KJ_NT_STATE &&
	       kj_memeq(buf + ELFIMG_NOTES_OFFSET + sizeof(nh),
			ELFIMG_KJ_NOTE_NAME, sizeof(ELFIMG_KJ_NOTE_NAME));
}

enum elfimg_err elfimg_probe(const void *vbuf, size_t len, uint64_t *need)
{
	const uint8_t *buf = vbuf;
	struct elfimg_ehdr eh;
	enum elfimg_err err;
	uint64_t phnum, end, phend;

	if (!buf || !need)
		return ELFIMG_E_ARG;
	if (!read_ehdr(buf, len, &eh, &err))
		return err;
	if (is_kj_state_note(buf, len)) {
		struct elfimg_state_desc sd;

		kj_memcpy(&sd, buf + ELFIMG_STATE_DESC_OFF, sizeof(sd));
		if (sd.magic != ELFIMG_STATE_MAGIC || sd.hdr_len < ELFIMG_FDT_OFF)
			return ELFIMG_E_STATE_NOTE;
		*need = sd.hdr_len;
		return ELFIMG_OK;
	}
	err = get_phnum(buf, len, &eh, &phnum, &end);
	if (err == ELFIMG_E_TRUNCATED) {
		*need = end;
		return ELFIMG_OK;
	}
	if (err)
		return err;
	if (eh.e_phoff > UINT64_MAX - phnum * sizeof(struct elfimg_phdr))
		return ELFIMG_E_BAD_PHDR;
	phend = eh.e_phoff + phnum * sizeof(struct elfimg_phdr);
	if (phend > end)
		end = phend;
	if (phend > len) {
		*need = end;	/* come back with the program headers */
		return ELFIMG_OK;
	}
	for (uint64_t i = 0; i < phnum; i++) {
		struct elfimg_phdr ph;

		kj_memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != ELFIMG_PT_NOTE)
			continue;
		if (ph.p_offset > UINT64_MAX - ph.p_filesz)
			return ELFIMG_E_SEG_BOUNDS;
		if (ph.p_offset + ph.p_filesz > end)
			end = ph.p_offset + ph.p_filesz;
	}
	*need = end;
	return ELFIMG_OK;
}

/* ---- notes ---- */

struct note_scan {
	bool have_state, have_meta, have_resume, have_inplace, have_vmcoreinfo;
	bool kj_elsewhere;
	uint64_t meta_off, meta_len;
};

static bool name_is(const uint8_t *name, uint32_t namesz, const char *want,
		    size_t wantsz)
{
	return namesz == wantsz && kj_memeq(name, want, wantsz);
}

static enum elfimg_err parse_resume_note(const uint8_t *d, uint32_t descsz,
					 struct elfimg_info *info)
{
	struct elfimg_resume_note rn;
	bool nul = false;

	if (descsz < 8)
		return ELFIMG_E_RESUME_NOTE;
	kj_memcpy(&rn.version, d, 4);
	if (rn.version != ELFIMG_RESUME_NOTE_V1 || descsz != sizeof(rn))
		return ELFIMG_E_RESUME_NOTE;
	kj_memcpy(&rn, d, sizeof(rn));
	for (size_t i = 0; i < sizeof(rn.release); i++)
		if (rn.release[i] == '\0') {
			nul = true;
			break;
		}
	if (!nul)
		return ELFIMG_E_RESUME_NOTE;
	info->have_resume_note = true;
	info->resume_flags = rn.flags;
	info->entry = rn.entry;
	info->have_entry = true;
	kj_memcpy(info->release, rn.release, sizeof(rn.release));
	return ELFIMG_OK;
}

static enum elfimg_err parse_inplace_note(const uint8_t *d, uint32_t descsz,
					  struct elfimg_info *info)
{
	struct elfimg_inplace_note n;

	if (descsz != sizeof(n))
		return ELFIMG_E_RESUME_NOTE;
	kj_memcpy(&n, d, sizeof(n));
	if (n.version != ELFIMG_INPLACE_NOTE_V1 || n.reserved)
		return ELFIMG_E_RESUME_NOTE;
	info->have_inplace = true;
	info->inplace_entry = n.entry;
	info->inplace_list = n.swap_list;
	return ELFIMG_OK;
}

/* Walk the notes of one PT_NOTE segment at [off, off + size) of buf. */
static enum elfimg_err scan_notes(const uint8_t *buf, uint64_t off,
				  uint64_t size, struct note_scan *ns,
				  struct elfimg_info *info)
{
	uint64_t pos = 0;

	while (size - pos >= sizeof(struct elfimg_nhdr)) {
		struct elfimg_nhdr nh;
		const uint8_t *name, *desc;
		uint64_t namepad, at = off + pos;
		enum elfimg_err err;

		kj_memcpy(&nh, buf + at, sizeof(nh));
		if (nh.n_namesz == 0 && nh.n_descsz == 0 && nh.n_type == 0)
			break;	/* terminating empty note; the rest is padding */
		namepad = align_up(nh.n_namesz, 4);
		pos += sizeof(nh);
		if (namepad > size - pos)
			return ELFIMG_E_BAD_NOTE;
		name = buf + off + pos;
		pos += namepad;
		if (nh.n_descsz > size - pos)
			return ELFIMG_E_BAD_NOTE;
		desc = buf + off + pos;
		pos += nh.n_descsz;
		/* the last descriptor may lack its padding */
		pos = align_up(pos, 4) < size ? align_up(pos, 4) : size;

		if (name_is(name, nh.n_namesz, ELFIMG_KJ_NOTE_NAME,
			    sizeof(ELFIMG_KJ_NOTE_NAME))) {
			if (nh.n_type == ELFIMG_KJ_NT_STATE) {
				if (ns->have_state)
					return ELFIMG_E_DUP_NOTE;
				if (at != ELFIMG_NOTES_OFFSET)
					ns->kj_elsewhere = true;
				ns->have_state = true;
			} else if (nh.n_type == ELFIMG_KJ_NT_META) {
				if (ns->have_meta)
					return ELFIMG_E_DUP_NOTE;
				if (at != ELFIMG_META_NOTE_OFF)
					ns->kj_elsewhere = true;
				ns->have_meta = true;
				ns->meta_off = (uint64_t)(desc - buf);
				ns->meta_len = nh.n_descsz;
			}
		} else if (name_is(name, nh.n_namesz, ELFIMG_RESUME_NOTE_NAME,
				   sizeof(ELFIMG_RESUME_NOTE_NAME)) &&
			   nh.n_type == ELFIMG_RESUME_NOTE_TYPE) {
			if (ns->have_resume)
				return ELFIMG_E_DUP_NOTE;
			ns->have_resume = true;
			err = parse_resume_note(desc, nh.n_descsz, info);
			if (err)
				return err;
		} else if (name_is(name, nh.n_namesz, ELFIMG_RESUME_NOTE_NAME,
				   sizeof(ELFIMG_RESUME_NOTE_NAME)) &&
			   nh.n_type == ELFIMG_INPLACE_NOTE_TYPE) {
			if (ns->have_inplace)
				return ELFIMG_E_DUP_NOTE;
			ns->have_inplace = true;
			err = parse_inplace_note(desc, nh.n_descsz, info);
			if (err)
				return err;
		} else if (name_is(name, nh.n_namesz, ELFIMG_VMCOREINFO_NAME,
				   sizeof(ELFIMG_VMCOREINFO_NAME)) &&
			   nh.n_type == 0) {
			/*
			 * A kexec-tools that stops omitting VMCOREINFO for
			 * preserve-context loads adds a second copy of the
			 * same bytes: accept that, refuse a different one.
			 */
			if (ns->have_vmcoreinfo) {
				if (nh.n_descsz != info->vmcoreinfo_len ||
				    !kj_memeq(desc, info->vmcoreinfo,
					      nh.n_descsz))
					return ELFIMG_E_DUP_NOTE;
				continue;
			}
			ns->have_vmcoreinfo = true;
			info->vmcoreinfo = (const char *)desc;
			info->vmcoreinfo_len = nh.n_descsz;
		}
	}
	return ELFIMG_OK;
}

/* ---- metadata FDT ---- */

static enum elfimg_err prop_u32(const void *fdt, int node, const char *name,
				uint32_t *v)
{
	int l;
	const void *p = fdt_getprop(fdt, node, name, &l);

	if (!p || l != 4)
		return ELFIMG_E_META;
	*v = fdt32_ld(p);
	return ELFIMG_OK;
}

static enum elfimg_err prop_u64(const void *fdt, int node, const char *name,
				uint64_t *v)
{
	int l;
	const uint8_t *p = fdt_getprop(fdt, node, name, &l);

	if (!p || l != 8)
		return ELFIMG_E_META;
	*v = (uint64_t)fdt32_ld((const fdt32_t *)p) << 32 |
	     fdt32_ld((const fdt32_t *)(p + 4));
	return ELFIMG_OK;
}

static uint64_t be64_at(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* An optional array property of @rec-byte records in an optional node. */
static enum elfimg_err prop_array(const void *fdt, const char *path,
				  const char *name, size_t rec,
				  const uint8_t **p, size_t *n)
{
	int node = fdt_path_offset(fdt, path), l;

	*p = NULL;
	*n = 0;
	if (node == -FDT_ERR_NOTFOUND)
		return ELFIMG_OK;
	if (node < 0)
		return ELFIMG_E_META;
	*p = fdt_getprop(fdt, node, name, &l);
	if (!*p)
		return ELFIMG_E_META;
	if (l <= 0 || (size_t)l % rec)
		return ELFIMG_E_META;
	*n = (size_t)l / rec;
	return ELFIMG_OK;
}

/*
 * libfdt 1.6.1's fdt_next_tag() adds a property's 32-bit length to an int
 * offset: a length of 0xfffffff4 brings the next tag back onto this one,
 * and fdt_check_full(), like every libfdt walk, then loops forever (found
 * by tests/fuzz/fuzz-elfimg). Walk the tags first: each must move on.
 * That bounds the walk (4 bytes a tag at least, inside the blob).
 */
static bool tags_move_on(const void *fdt)
{
	int off = 0, next;

	for (;;) {
		uint32_t tag = fdt_next_tag(fdt, off, &next);

		if (next < 0 || next <= off)
			return false;
		if (tag == FDT_END)
			return true;
		off = next;
	}
}

static enum elfimg_err parse_meta(const uint8_t *fdt, uint64_t fdt_len,
				  struct elfimg_info *info, uint64_t *entry,
				  uint32_t *rflags, uint64_t *index_off,
				  uint32_t *index_crc)
{
	enum elfimg_err err;
	const char *rel;
	int l;

	/*
	 * Version 17 only: libfdt 1.6.1's fdt_check_full() dereferences NULL
	 * on some pre-v16 blobs (found by tests/fuzz/fuzz-elfimg).
	 */
	if (fdt_len < sizeof(struct fdt_header) || fdt_len > INT32_MAX ||
	    fdt_check_header(fdt) != 0 || fdt_version(fdt) != 17 ||
	    fdt_last_comp_version(fdt) != 16 || fdt_totalsize(fdt) > fdt_len ||
	    !tags_move_on(fdt) || fdt_check_full(fdt, fdt_len) != 0)
		return ELFIMG_E_FDT;
	info->fdt = fdt;
	info->fdt_len = fdt_len;

	if (fdt_node_check_compatible(fdt, 0, ELFIMG_COMPATIBLE) != 0)
		return ELFIMG_E_META;
	if ((err = prop_u32(fdt, 0, "version", &info->version)) ||
	    (err = prop_u32(fdt, 0, "incompat", &info->incompat)))
		return err;
	if (info->version == 0)
		return ELFIMG_E_META;
	if (info->version > ELFIMG_FORMAT_VERSION ||
	    (info->incompat & ~ELFIMG_INCOMPAT_KNOWN))
		return ELFIMG_E_VERSION;
	if ((err = prop_u64(fdt, 0, "entry", entry)) ||
	    (err = prop_u32(fdt, 0, "resume-flags", rflags)) ||
	    (err = prop_u32(fdt, 0, "chunk-size", &info->chunk_size)) ||
	    (err = prop_u32(fdt, 0, "data-align", &info->data_align)) ||
	    (err = prop_u64(fdt, 0, "index-offset", index_off)) ||
	    (err = prop_u64(fdt, 0, "index-count", &info->nchunks)) ||
	    (err = prop_u32(fdt, 0, "index-crc", index_crc)) ||
	    (err = prop_u64(fdt, 0, "data-end", &info->data_end)))
		return err;
	rel = fdt_getprop(fdt, 0, "release", &l);
	if (rel) {
		if (l < 1 || l > ELFIMG_RELEASE_LEN || rel[l - 1] != '\0')
			return ELFIMG_E_META;
		if (info->have_resume_note) {
			if (!kj_memeq(rel, info->release, (size_t)l))
				return ELFIMG_E_META;
		} else {
			kj_memcpy(info->release, rel, (size_t)l);
		}
	}
	if (info->chunk_size < ELFIMG_UNIT ||
	    info->chunk_size > ELFIMG_MAX_CHUNK ||
	    info->chunk_size % ELFIMG_UNIT)
		return ELFIMG_E_META;
	if (!is_pow2(info->data_align) || info->data_align < 512 ||
	    info->data_align > (1u << 20))
		return ELFIMG_E_META;

	if ((err = prop_array(fdt, "/memmap", "entries", 24, &info->memmap_p,
			      &info->nmemmap)) ||
	    (err = prop_array(fdt, "/scratch", "ranges", 16, &info->scratch_p,
			      &info->nscratch)) ||
	    (err = prop_array(fdt, "/extents", "map", 24, &info->extents_p,
			      &info->nextents)))
		return err;
	return ELFIMG_OK;
}

bool elfimg_memmap_get(const struct elfimg_info *info, size_t i,
		       struct elfimg_range *out)
{
	if (i >= info->nmemmap)
		return false;
	out->start = be64_at(info->memmap_p + i * 24);
	out->size = be64_at(info->memmap_p + i * 24 + 8);
	out->type = be64_at(info->memmap_p + i * 24 + 16);
	return true;
}

bool elfimg_scratch_get(const struct elfimg_info *info, size_t i,
			struct elfimg_range *out)
{
	if (i >= info->nscratch)
		return false;
	out->start = be64_at(info->scratch_p + i * 16);
	out->size = be64_at(info->scratch_p + i * 16 + 8);
	out->type = 0;
	return true;
}

bool elfimg_extent_get(const struct elfimg_info *info, size_t i,
		       struct elfimg_extent *out)
{
	if (i >= info->nextents)
		return false;
	out->file_offset = be64_at(info->extents_p + i * 24);
	out->dev_offset = be64_at(info->extents_p + i * 24 + 8);
	out->length = be64_at(info->extents_p + i * 24 + 16);
	return true;
}

bool elfimg_extent_map(const struct elfimg_info *info, uint64_t file_off,
		       uint64_t *dev_off, uint64_t *contig)
{
	size_t lo = 0, hi = info->nextents;

	/* extents are contiguous from 0 and sorted (extents_sane()) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct elfimg_extent e;

		elfimg_extent_get(info, mid, &e);
		if (file_off < e.file_offset) {
			hi = mid;
		} else if (file_off - e.file_offset >= e.length) {
			lo = mid + 1;
		} else {
			*dev_off = e.dev_offset + (file_off - e.file_offset);
			*contig = e.length - (file_off - e.file_offset);
			return true;
		}
	}
	return false;
}

/* Sorted, non-empty, non-overlapping, non-wrapping ranges. */
static bool ranges_sane(const struct elfimg_info *info, size_t n,
			bool (*get)(const struct elfimg_info *, size_t,
				    struct elfimg_range *))
{
	uint64_t prev_end = 0;

	for (size_t i = 0; i < n; i++) {
		struct elfimg_range r;

		get(info, i, &r);
		if (r.size == 0 || r.start > UINT64_MAX - r.size ||
		    (i > 0 && r.start < prev_end))
			return false;
		prev_end = r.start + r.size;
	}
	return true;
}

static bool extents_sane(const struct elfimg_info *info)
{
	uint64_t pos = 0;

	for (size_t i = 0; i < info->nextents; i++) {
		struct elfimg_extent e;

		elfimg_extent_get(info, i, &e);
		if (e.file_offset != pos || e.length == 0 ||
		    e.length > UINT64_MAX - pos ||
		    e.dev_offset > UINT64_MAX - e.length ||
		    e.dev_offset % 512 || e.length % 512)
			return false;
		pos += e.length;
	}
	return info->nextents == 0 || pos >= info->data_end;
}

/* ---- segments ---- */

static bool seg_less(const struct elfimg_segment *a,
		     const struct elfimg_segment *b)
{
	if (a->paddr != b->paddr)
		return a->paddr < b->paddr;
	return a->memsz > b->memsz;	/* the container first */
}

static void sift_down(struct elfimg_segment *s, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		struct elfimg_segment t;

		if (child >= n)
			return;
		if (child + 1 < n && seg_less(&s[child], &s[child + 1]))
			child++;
		if (!seg_less(&s[root], &s[child]))
			return;
		t = s[root];
		s[root] = s[child];
		s[child] = t;
		root = child;
	}
}

/* Heap sort: O(n log n), no recursion, no allocation. */
static void sort_segments(struct elfimg_segment *s, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(s, i, n);
	for (size_t i = n; i-- > 1;) {
		struct elfimg_segment t = s[0];

		s[0] = s[i];
		s[i] = t;
		sift_down(s, 0, i);
	}
}

/*
 * Plain cores, sorted: drop segments contained in the previous kept one
 * (another view of the same physical bytes); any partial overlap is an
 * error. One pass: the last kept segment has the highest end so far.
 */
static enum elfimg_err dedup_segments(struct elfimg_segment *s, size_t *n,
				      size_t *nignored)
{
	size_t out = 0;

	for (size_t i = 0; i < *n; i++) {
		uint64_t end = s[i].paddr + s[i].memsz;

		if (out > 0) {
			const struct elfimg_segment *p = &s[out - 1];
			uint64_t pend = p->paddr + p->memsz;

			if (s[i].paddr < pend) {
				if (end > pend)
					return ELFIMG_E_SEG_OVERLAP;
				(*nignored)++;
				continue;
			}
		}
		s[out++] = s[i];
	}
	*n = out;
	return ELFIMG_OK;
}

static const struct elfimg_segment *
find_segment(const struct elfimg_segment *s, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < s[mid].paddr)
			hi = mid;
		else if (addr - s[mid].paddr >= s[mid].memsz)
			lo = mid + 1;
		else
			return &s[mid];
	}
	return NULL;
}

/* Every segment inside the union of the (sorted) memory map entries. */
static enum elfimg_err check_memmap(const struct elfimg_info *info,
				    const struct elfimg_segment *s, size_t n)
{
	size_t j = 0;

	if (info->nmemmap == 0)
		return ELFIMG_OK;	/* none recorded */
	for (size_t i = 0; i < n; i++) {
		uint64_t cur = s[i].paddr, end = s[i].paddr + s[i].memsz;
		struct elfimg_range r;

		while (cur < end) {
			/* skip entries that end at or before cur */
			while (j < info->nmemmap) {
				elfimg_memmap_get(info, j, &r);
				if (r.start + r.size > cur)
					break;
				j++;
			}
			if (j == info->nmemmap || r.start > cur)
				return ELFIMG_E_MEMMAP;
			cur = r.start + r.size;
		}
	}
	return ELFIMG_OK;
}

static enum elfimg_err check_scratch(const struct elfimg_info *info,
				     const struct elfimg_segment *s, size_t n)
{
	size_t i = 0;

	for (size_t j = 0; j < info->nscratch; j++) {
		struct elfimg_range r;

		elfimg_scratch_get(info, j, &r);
		while (i < n && s[i].paddr + s[i].memsz <= r.start)
			i++;
		if (i < n && s[i].paddr < r.start + r.size)
			return ELFIMG_E_SCRATCH;
	}
	return ELFIMG_OK;
}

uint64_t elfimg_chunk_len(const struct elfimg_info *info,
			  const struct elfimg_segment *seg, uint64_t k)
{
	uint64_t off = k * info->chunk_size;

	if (k >= seg->nchunks)
		return 0;
	return seg->memsz - off < info->chunk_size ? seg->memsz - off :
						     info->chunk_size;
}

void elfimg_chunk_get(const struct elfimg_info *info, uint64_t i,
		      struct elfimg_chunk_info *out)
{
	struct elfimg_chunk c;

	kj_memcpy(&c, &info->index[i], sizeof(c));
	out->offset = c.offset;
	out->stored = c.stored;
	out->xxh64 = info->incompat & ELFIMG_INCOMPAT_XXH64;
	out->check = c.crc | (out->xxh64 ? (uint64_t)c.check_hi << 32 : 0);
	out->zero_map = c.zero_map;
	out->method = c.method;
}

/* Bytes of the chunk that are stored (its non-zero 4 KiB units). */
static uint64_t nonzero_bytes(uint64_t len, uint64_t zero_map)
{
	uint64_t units = (len + ELFIMG_UNIT - 1) / ELFIMG_UNIT, total = 0;

	for (uint64_t u = 0; u < units; u++) {
		uint64_t ulen = u + 1 < units ? ELFIMG_UNIT :
						len - u * ELFIMG_UNIT;

		if (!(zero_map >> u & 1))
			total += ulen;
	}
	return total;
}

/* The incompat bit an image must set to use each chunk method. */
static const uint32_t method_needs[ELFIMG_METHOD_LZ4 + 1] = {
	[ELFIMG_METHOD_STORED] = 0,
	[ELFIMG_METHOD_DEFLATE] = ELFIMG_INCOMPAT_DEFLATE,
	[ELFIMG_METHOD_LZ4] = ELFIMG_INCOMPAT_LZ4,
};

static enum elfimg_err check_index(struct elfimg_info *info,
				   const struct elfimg_segment *s, size_t n)
{
	uint64_t next_free = info->data_start, i = 0;

	info->stored_bytes = 0;
	for (size_t si = 0; si < n; si++) {
		for (uint64_t k = 0; k < s[si].nchunks; k++, i++) {
			struct elfimg_chunk c;
			uint64_t len = elfimg_chunk_len(info, &s[si], k);
			uint64_t units = (len + ELFIMG_UNIT - 1) / ELFIMG_UNIT;
			uint64_t nz;

			kj_memcpy(&c, &info->index[i], sizeof(c));
			if ((c.check_hi && !(info->incompat & ELFIMG_INCOMPAT_XXH64)) ||
			    c.method > ELFIMG_METHOD_LZ4 ||
			    (info->incompat & method_needs[c.method]) !=
			    method_needs[c.method] ||
			    (units < 64 && c.zero_map >> units))
				return ELFIMG_E_INDEX;
			nz = nonzero_bytes(len, c.zero_map);
			if (c.method == ELFIMG_METHOD_STORED ? c.stored != nz :
			    (c.stored == 0 || c.stored > nz))
				return ELFIMG_E_INDEX;
			if (c.stored == 0) {
				if (c.offset != 0)
					return ELFIMG_E_INDEX;
				continue;
			}
			if (c.offset % info->data_align ||
			    c.offset < next_free ||
			    !in_range(c.offset, c.stored, info->data_end))
				return ELFIMG_E_INDEX;
			next_free = c.offset + c.stored;
			info->stored_bytes += c.stored;
		}
	}
	return i == info->nchunks ? ELFIMG_OK : ELFIMG_E_INDEX;
}

static enum elfimg_err check_hdr_crc(const uint8_t *buf, uint64_t hdr_len,
				     uint32_t want)
{
	static const uint8_t zeros[sizeof(struct elfimg_state_desc)];
	uint32_t crc = elfimg_crc32(0, buf, ELFIMG_STATE_DESC_OFF);

	crc = elfimg_crc32(crc, zeros, sizeof(zeros));
	crc = elfimg_crc32(crc, buf + ELFIMG_STATE_DESC_OFF + sizeof(zeros),
			   hdr_len - ELFIMG_STATE_DESC_OFF - sizeof(zeros));
#ifdef ELFIMG_FUZZING
	/* let the fuzzer reach the FDT and index checks behind the CRC */
	(void)want;
	return crc == 0x12345678u ? ELFIMG_E_HDR_CRC : ELFIMG_OK;
#else
	return crc == want ? ELFIMG_OK : ELFIMG_E_HDR_CRC;
#endif
}

/* Parse the segments out of the program header table into @segs. */
static enum elfimg_err load_segments(const uint8_t *buf,
				     const struct elfimg_ehdr *eh,
				     uint64_t phnum, uint64_t hdr_end,
				     struct elfimg_info *info,
				     struct elfimg_segment *segs,
				     size_t max_segs, size_t *nsegs)
{
	bool kj = info->kind == ELFIMG_KIND_KJ;
	uint64_t prev_end = 0, chunks = 0;
	size_t n = 0;

	for (uint64_t i = 0; i < phnum; i++) {
		struct elfimg_phdr ph;
		struct elfimg_segment *sg;

		kj_memcpy(&ph, buf + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == ELFIMG_PT_NOTE)
			continue;
		if (ph.p_type != ELFIMG_PT_LOAD &&
		    ph.p_type != ELFIMG_PT_KJ_CHUNKED)
			continue;	/* other types carry no memory */
		if (ph.p_type != (kj ? ELFIMG_PT_KJ_CHUNKED : ELFIMG_PT_LOAD))
			return ELFIMG_E_SEG_TYPE;
		if (ph.p_memsz > PHYS_LIMIT || ph.p_paddr > PHYS_LIMIT - ph.p_memsz)
			return ELFIMG_E_SEG_BOUNDS;
		if (ph.p_filesz > ph.p_memsz)
			return ELFIMG_E_SEG_FILESZ;
		if (ph.p_align > 1 && (!is_pow2(ph.p_align) ||
		    (ph.p_filesz &&
		     (ph.p_offset - ph.p_paddr) & (ph.p_align - 1))))
			return ELFIMG_E_SEG_ALIGN;
		if (kj) {
			if (ph.p_filesz || ph.p_offset)
				return ELFIMG_E_SEG_BOUNDS;
			if (ph.p_memsz == 0)
				return ELFIMG_E_SEG_BOUNDS;
			if (ph.p_paddr < prev_end)
				return ELFIMG_E_SEG_OVERLAP;
			prev_end = ph.p_paddr + ph.p_memsz;
		} else {
			if (ph.p_memsz == 0)
				continue;
			/*
			 * kexec-tools' "kernel text" PT_LOAD: A's kernel
			 * image through the kernel text map. Its bytes are
			 * in a RAM PT_LOAD already, or lie in B's region
			 * (swapped back by A's return path): never needed.
			 */
			if (ph.p_vaddr >= KERNEL_TEXT_MAP) {
				info->nignored++;
				continue;
			}
			if (ph.p_offset > UINT64_MAX - ph.p_filesz)
				return ELFIMG_E_SEG_BOUNDS;
			if (ph.p_filesz && ph.p_offset < hdr_end)
				return ELFIMG_E_SEG_HEADERS;
		}
		if (n == max_segs)
			return ELFIMG_E_TOO_MANY_SEGS;
		sg = &segs[n++];
		sg->paddr = ph.p_paddr;
		sg->memsz = ph.p_memsz;
		sg->offset = ph.p_offset;
		sg->filesz = ph.p_filesz;
		sg->first_chunk = 0;
		sg->nchunks = 0;
		if (kj) {
			uint64_t c = ph.p_memsz / info->chunk_size +
				     !!(ph.p_memsz % info->chunk_size);

			if (c > info->nchunks - chunks)
				return ELFIMG_E_INDEX;
			sg->first_chunk = chunks;
			sg->nchunks = c;
			chunks += c;
		}
	}
	if (n == 0)
		return ELFIMG_E_NO_SEGS;
	if (kj && chunks != info->nchunks)
		return ELFIMG_E_INDEX;
	*nsegs = n;
	return ELFIMG_OK;
}

enum elfimg_err elfimg_parse(const void *vbuf, size_t len,
			     const struct elfimg_opts *opts,
			     struct elfimg_info *info,
			     struct elfimg_segment *segs, size_t max_segs)
{
	static const struct elfimg_opts no_opts;
	const uint8_t *buf = vbuf;
	struct elfimg_ehdr eh;
	struct note_scan ns = { 0 };
	struct elfimg_state_desc sd;
	enum elfimg_err err;
	uint64_t phnum, hdr_end, phend, index_off = 0, meta_entry = 0;
	uint32_t index_crc = 0, meta_rflags = 0;
	size_t n = 0;

	/* libfdt wants the blob 8-aligned; 0x80 is, if buf is */
	if (!buf || !info || (!segs && max_segs) || ((uintptr_t)buf & 7))
		return ELFIMG_E_ARG;
	if (!opts)
		opts = &no_opts;
	kj_memset(info, 0, sizeof(*info));
	if (!read_ehdr(buf, len, &eh, &err))
		return err;
	if ((err = get_phnum(buf, len, &eh, &phnum, &hdr_end)))
		return err;
	if (!in_range(eh.e_phoff, phnum * sizeof(struct elfimg_phdr), len))
		return eh.e_phoff > UINT64_MAX - phnum * sizeof(struct elfimg_phdr) ?
			ELFIMG_E_BAD_PHDR : ELFIMG_E_TRUNCATED;
	phend = eh.e_phoff + phnum * sizeof(struct elfimg_phdr);
	if (phend > hdr_end)
		hdr_end = phend;
	if (eh.e_phnum == ELFIMG_PN_XNUM &&
	    eh.e_shoff < phend && eh.e_phoff < eh.e_shoff + 64)
		return ELFIMG_E_BAD_XNUM;	/* shdr 0 inside the phdrs */

	/* notes first: they decide the kind of image */
	for (uint64_t i = 0; i < phnum; i++) {
		struct elfimg_phdr ph;

		kj_memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != ELFIMG_PT_NOTE)
			continue;
		if (!in_range(ph.p_offset, ph.p_filesz, len))
			return ph.p_offset > UINT64_MAX - ph.p_filesz ?
				ELFIMG_E_SEG_BOUNDS : ELFIMG_E_TRUNCATED;
		if (ph.p_filesz && ph.p_offset < sizeof(eh))
			return ELFIMG_E_SEG_HEADERS;
		if (ph.p_offset + ph.p_filesz > hdr_end)
			hdr_end = ph.p_offset + ph.p_filesz;
		if ((err = scan_notes(buf, ph.p_offset, ph.p_filesz, &ns, info)))
			return err;
	}

	if (ns.have_state || ns.have_meta) {
		info->kind = ELFIMG_KIND_KJ;
		if (!ns.have_state || !ns.have_meta || ns.kj_elsewhere ||
		    !is_kj_state_note(buf, len))
			return ELFIMG_E_STATE_NOTE;
		kj_memcpy(&sd, buf + ELFIMG_STATE_DESC_OFF, sizeof(sd));
		if (sd.magic != ELFIMG_STATE_MAGIC ||
		    (sd.state != ELFIMG_STATE_WRITING &&
		     sd.state != ELFIMG_STATE_COMPLETE &&
		     sd.state != ELFIMG_STATE_CONSUMED))
			return ELFIMG_E_STATE_NOTE;
		info->state = sd.state;
		/* being written: nothing else in it is final, nor trusted */
		if (sd.state == ELFIMG_STATE_WRITING)
			return ELFIMG_E_INCOMPLETE;
		if (sd.hdr_len > len)
			return ELFIMG_E_TRUNCATED;
		if (sd.hdr_len < hdr_end)
			return ELFIMG_E_STATE_NOTE;
		if ((err = check_hdr_crc(buf, sd.hdr_len, sd.hdr_crc)))
			return err;
		info->state = sd.state;
		info->hdr_len = sd.hdr_len;
		if ((err = parse_meta(buf + ns.meta_off, ns.meta_len, info,
				      &meta_entry, &meta_rflags, &index_off,
				      &index_crc)))
			return err;
		if (info->have_resume_note &&
		    (info->entry != meta_entry ||
		     info->resume_flags != meta_rflags))
			return ELFIMG_E_META;
		info->entry = meta_entry;
		info->resume_flags = meta_rflags;
		info->have_entry = true;
		/* the chunk index lies inside the checksummed headers */
		if (info->nchunks > (len / sizeof(struct elfimg_chunk)) ||
		    index_off % 8 || index_off < hdr_end ||
		    !in_range(index_off, info->nchunks * sizeof(struct elfimg_chunk),
			      info->hdr_len))
			return ELFIMG_E_INDEX;
		info->index = (const struct elfimg_chunk *)(buf + index_off);
		if (elfimg_crc32(0, info->index,
				 info->nchunks * sizeof(struct elfimg_chunk)) !=
		    index_crc && !ELFIMG_FUZZING_ON)
			return ELFIMG_E_INDEX;
		info->data_start = align_up(info->hdr_len, info->data_align);
		if (info->data_end < info->data_start)
			return ELFIMG_E_META;
		if (!ranges_sane(info, info->nmemmap, elfimg_memmap_get) ||
		    !ranges_sane(info, info->nscratch, elfimg_scratch_get) ||
		    !extents_sane(info))
			return ELFIMG_E_META;
	} else {
		info->kind = ELFIMG_KIND_PLAIN;
		info->hdr_len = hdr_end;
	}

	if ((err = load_segments(buf, &eh, phnum, hdr_end, info, segs,
				 max_segs, &n)))
		return err;
	if (info->kind == ELFIMG_KIND_PLAIN) {
		sort_segments(segs, n);
		if ((err = dedup_segments(segs, &n, &info->nignored)))
			return err;
	} else {
		if ((err = check_index(info, segs, n)))
			return err;
		if ((err = check_memmap(info, segs, n)) ||
		    (err = check_scratch(info, segs, n)))
			return err;
	}
	info->nsegs = n;
	for (size_t i = 0; i < n; i++)
		info->total_bytes += segs[i].memsz;

	if (!info->have_entry && opts->have_entry) {
		info->entry = opts->entry;
		info->have_entry = true;
	} else if (info->have_entry && opts->have_entry &&
		   opts->entry != info->entry) {
		return ELFIMG_E_ENTRY;
	}
	if (info->have_entry && !find_segment(segs, n, info->entry))
		return ELFIMG_E_ENTRY;
	return ELFIMG_OK;
}

enum elfimg_err elfimg_check_file_size(const struct elfimg_info *info,
				       const struct elfimg_segment *segs,
				       uint64_t file_size)
{
	if (!info)
		return ELFIMG_E_ARG;
	if (info->hdr_len > file_size)
		return ELFIMG_E_FILE_SIZE;
	if (info->kind == ELFIMG_KIND_KJ)
		return info->data_end > file_size ? ELFIMG_E_FILE_SIZE :
						    ELFIMG_OK;
	for (size_t i = 0; i < info->nsegs; i++)
		if (!in_range(segs[i].offset, segs[i].filesz, file_size))
			return ELFIMG_E_FILE_SIZE;
	return ELFIMG_OK;
}

enum elfimg_err elfimg_check_resumable(const struct elfimg_info *info,
				       bool allow_plain)
{
	if (!info)
		return ELFIMG_E_ARG;
	if (info->kind == ELFIMG_KIND_PLAIN) {
		if (!allow_plain)
			return ELFIMG_E_PLAIN;
	} else {
		if (info->state == ELFIMG_STATE_WRITING)
			return ELFIMG_E_INCOMPLETE;
		if (info->state == ELFIMG_STATE_CONSUMED)
			return ELFIMG_E_CONSUMED;
		if (info->state != ELFIMG_STATE_COMPLETE)
			return ELFIMG_E_STATE_NOTE;
	}
	return info->have_entry ? ELFIMG_OK : ELFIMG_E_NO_ENTRY;
}

enum elfimg_err elfimg_mark(void *sector, size_t len, uint32_t new_state)
{
	struct elfimg_state_desc sd;
	uint8_t *p = sector;

	if (!p || !is_kj_state_note(p, len))
		return ELFIMG_E_STATE_NOTE;
	kj_memcpy(&sd, p + ELFIMG_STATE_DESC_OFF, sizeof(sd));
	if (sd.magic != ELFIMG_STATE_MAGIC)
		return ELFIMG_E_STATE_NOTE;
	if (!((sd.state == ELFIMG_STATE_WRITING &&
	       new_state == ELFIMG_STATE_COMPLETE) ||
	      (sd.state == ELFIMG_STATE_COMPLETE &&
	       new_state == ELFIMG_STATE_CONSUMED)))
		return ELFIMG_E_ARG;
	elfimg_state_encode(new_state, p + ELFIMG_STATE_OFF);
	return ELFIMG_OK;
}
