// SPDX-License-Identifier: MIT
/*
 * kjresume.efi: resume a hibernated Linux from a fresh firmware boot.
 *
 * The flow, and the rule that orders it: nothing outside memory the loader
 * owns is written, and the image is not marked consumed, until every byte
 * of the image has been read and its checksum verified. Any refusal before
 * that point returns to the firmware or GRUB (whose fallback entry boots
 * normally) with the disk untouched.
 *
 *   settings -> open the image -> parse and validate the headers ->
 *   check the machine (CPU features, memory map, EFI runtime use) ->
 *   claim every destination page that is free now (so that no later
 *   firmware allocation can land in one) -> staging and control pages ->
 *   plan -> read, decompress and verify every chunk into its final place
 *   or its staging page -> mark the image consumed (read back) ->
 *   ExitBootServices -> ACPI mode -> copy-and-jump stub -> A.
 *
 * Error currency: enum kj_err; efi/ statuses, elfimg and relocate errors
 * are converted where they are met, with the message printed there.
 */
#include "efi/kjefi.h"
#include "elfimg/elfimg.h"
#include "loader/loader.h"
#include "relocate/plan.h"

#ifndef KJ_VERSION
#define KJ_VERSION "dev"
#endif

#define PG 4096ULL
#define MAX_SEGS 4096
#define MAX_MEM 1024
#define READ_BATCH (4u << 20)	/* bytes per firmware read */

enum kj_err {
	KJ_OK = 0,
	KJ_E_NO_IMAGE,		/* nothing to resume: boot normally, quietly */
	KJ_E_REFUSED,		/* an image exists but must not be resumed */
	KJ_E_DRY_RUN,		/* dry-run finished */
	KJ_E_DISCARDED,		/* discard: the image is now consumed */
};

struct loader {
	struct kj_options opt;
	struct kjefi_src *src;
	uint8_t *hdr;			/* headers region, 8-aligned */
	uint64_t hdr_len;
	struct elfimg_info info;
	struct elfimg_segment *segs;
	struct reloc_dest *dest;
	size_t ndest;
	struct kjefi_mem *fw;		/* firmware map when planning */
	size_t nfw;
	struct reloc_mem *mem;
	size_t nmem;
	struct reloc_range claim[2 * MAX_MEM + 2 * MAX_SEGS];
	size_t nclaim;
	struct reloc_range taken[64];	/* free in the snapshot, not at the claim */
	size_t ntaken;
	struct reloc_range scratch[4];
	size_t nscratch;
	struct reloc_plan plan;
	uint8_t *tmp;			/* scratch for the consumed mark */
	uint8_t *bufs[3];		/* read batches (NBUF) */
	struct par *par;
	uint64_t t_start, t_io, t_decode, io_bytes;
	uint64_t us_dec, us_crc, us_sum, us_place;	/* workers' CPU time, summed */
	unsigned ncpu;
	uint64_t csum;			/* reloc_csum() of every byte the stub
					 * checks (checked()) */
};

/*
 * The image's bytes: the source from byte 0, or (offset=) a file on the
 * partition's filesystem: headers read at the offset (kjsave writes them
 * to the file's first extent), everything after parsing through the
 * extent map the image records.
 */
static kjefi_status img_read(struct loader *L, uint64_t off, void *buf, size_t len,
			     bool write)
{
	while (len) {
		uint64_t dev = L->opt.offset + off, n = len;
		if (L->info.nextents) {
			uint64_t contig;
			if (!elfimg_extent_map(&L->info, off, &dev, &contig))
				return KJEFI_E_INVALID;
			if (n > contig)
				n = contig;
		}
		kjefi_status st = write ? kjefi_src_write(L->src, dev, buf, n)
					: kjefi_src_read(L->src, dev, buf, n);
		if (st)
			return st;
		buf = (uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return KJEFI_OK;
}

/* Bytes of the image file: the source's, or what its extents cover. */
static uint64_t img_size(const struct loader *L)
{
	uint64_t size = kjefi_src_size(L->src);
	if (L->info.nextents) {
		struct elfimg_extent e;
		uint64_t end = 0;
		for (size_t i = 0; elfimg_extent_get(&L->info, i, &e); i++)
			end = e.file_offset + e.length;
		return end;
	}
	return L->opt.offset < size ? size - L->opt.offset : 0;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	kjefi_printf("kjresume: ");
	va_start(ap, fmt);
	kjefi_vprintf(fmt, ap);
	va_end(ap);
}

static enum kj_err refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static enum kj_err refuse(const char *fmt, ...)
{
	va_list ap;
	kjefi_printf("kjresume: NOT RESUMING: ");
	va_start(ap, fmt);
	kjefi_vprintf(fmt, ap);
	va_end(ap);
	kjefi_printf("\n");
	return KJ_E_REFUSED;
}

static void load_settings(struct loader *L, const char *cmdline)
{
	char err[96];
	char *conf = kjefi_read_config("kjresume.conf", 4096);

	kj_options_default(&L->opt);
	if (conf && !kj_options_parse(&L->opt, conf, err, sizeof(err)))
		say("kjresume.conf: %s (ignored)\n", err);
	kjefi_free(conf);
	if (!kj_options_parse(&L->opt, cmdline, err, sizeof(err)))
		say("load options: %s (ignored)\n", err);
	if (!L->opt.image[0] && !L->opt.partuuid[0] && !L->opt.partlabel[0])
		kj_snprintf(L->opt.partlabel, sizeof(L->opt.partlabel), "kjresume");
}

static enum kj_err open_image(struct loader *L)
{
	kjefi_status st;

	if (L->opt.image[0])
		st = kjefi_open_file(L->opt.image, true, &L->src);
	else
		st = kjefi_open_partition(L->opt.partuuid[0] ? L->opt.partuuid : NULL,
					  L->opt.partlabel, &L->src);
	if (st == KJEFI_E_NOT_FOUND) {
		say("no image at %s%s%s\n", L->opt.image[0] ? L->opt.image : "partition ",
		    L->opt.partuuid, L->opt.image[0] ? "" : L->opt.partlabel);
		return KJ_E_NO_IMAGE;
	}
	if (st)
		return refuse("cannot open the image: %s", kjefi_strerror(st));
	say("image: %s, %llu MiB\n", kjefi_src_name(L->src),
	    (unsigned long long)(kjefi_src_size(L->src) >> 20));
	return KJ_OK;
}

static enum kj_err read_headers(struct loader *L)
{
	uint64_t size = img_size(L), need = 0, first = size < 4096 ? size : 4096;
	enum elfimg_err e;
	kjefi_status st;

	L->hdr = kjefi_alloc(4096);
	if (!L->hdr)
		return refuse("out of memory");
	st = img_read(L, 0, L->hdr, first, false);
	if (st)
		return refuse("cannot read the image: %s", kjefi_strerror(st));
	e = elfimg_probe(L->hdr, first, &need);
	if (e == ELFIMG_E_NOT_ELF) {
		say("%s holds no image\n", kjefi_src_name(L->src));
		return KJ_E_NO_IMAGE;
	}
	if (e)
		return refuse("not a resumable image: %s", elfimg_strerror(e));
	if (need > (64u << 20) || need > size)
		return refuse("image headers too large or truncated (%llu bytes)",
			      (unsigned long long)need);
	if (need > 4096) {
		kjefi_free(L->hdr);
		L->hdr = kjefi_alloc((need + 511) & ~511ULL);
		if (!L->hdr)
			return refuse("out of memory for %llu header bytes",
				      (unsigned long long)need);
		st = img_read(L, 0, L->hdr, need, false);
		if (st)
			return refuse("cannot read the image headers: %s", kjefi_strerror(st));
	}
	L->hdr_len = need < 512 ? 512 : need;
	L->segs = kjefi_alloc(MAX_SEGS * sizeof(*L->segs));
	if (!L->segs)
		return refuse("out of memory");
	e = elfimg_parse(L->hdr, need, NULL, &L->info, L->segs, MAX_SEGS);
	if (e == ELFIMG_E_INCOMPLETE)
		return refuse("the image was never completed (the hibernation did not finish)");
	if (e)
		return refuse("the image is damaged: %s", elfimg_strerror(e));
	if (L->opt.offset) {
		uint64_t dev, contig;
		if (!L->info.nextents)
			return refuse("offset= given, but the image records no extents");
		if (!elfimg_extent_map(&L->info, 0, &dev, &contig) || dev != L->opt.offset)
			return refuse("offset=%llu is not where the image says it starts",
				      (unsigned long long)L->opt.offset);
		if (contig < need)
			return refuse("the image's headers are not contiguous on disk");
		L->opt.offset = 0; /* from now on, the extents place every byte */
		size = img_size(L);
		say("image file: %zu extents, %llu MiB\n", L->info.nextents,
		    (unsigned long long)(size >> 20));
	} else if (L->info.nextents) {
		/* a file's extent map, but read as a partition or an ESP file:
		 * the bytes are where we read them, ignore the map */
		L->info.nextents = 0;
	}
	e = elfimg_check_file_size(&L->info, L->segs, size);
	if (e)
		return refuse("the image is truncated: %s", elfimg_strerror(e));
	e = elfimg_check_resumable(&L->info, false);
	if (e == ELFIMG_E_CONSUMED)
		return refuse("this image was already resumed once; it is never resumed twice");
	if (e)
		return refuse("%s", elfimg_strerror(e));
	say("hibernated kernel %s, %llu MiB of memory in %zu ranges, %llu MiB stored\n",
	    L->info.release, (unsigned long long)(L->info.total_bytes >> 20),
	    L->info.nsegs, (unsigned long long)(L->info.stored_bytes >> 20));
	return KJ_OK;
}

/* A's map from the image against today's, in E820 terms. */
static enum kj_err check_memmap(struct loader *L)
{
	static struct kj_e820 a[MAX_MEM], b[MAX_MEM], scratch[2 * MAX_MEM];
	size_t na = 0, nb = 0;
	struct elfimg_range r;
	char msg[160];

	if (!L->info.nmemmap)
		return refuse("the image records no memory map to check this machine against");
	for (size_t i = 0; elfimg_memmap_get(&L->info, i, &r); i++) {
		if (na == MAX_MEM)
			return refuse("the image's memory map is too long");
		a[na++] = (struct kj_e820){ r.start, r.start + r.size, (uint32_t)r.type };
	}
	for (size_t i = 0; i < L->nfw; i++) {
		uint32_t t = L->fw[i].efi_type;
		if (nb == MAX_MEM)
			return refuse("this machine's memory map is too long");
		b[nb++] = (struct kj_e820){ L->fw[i].start, L->fw[i].end,
					    kjefi_e820_type(t, L->fw[i].attr) };
	}
	na = kj_e820_merge(a, na);
	nb = kj_e820_merge(b, nb);
	if (L->opt.verbose)
		for (size_t i = 0; i < na || i < nb; i++)
			say("memmap %2zu: image %llx-%llx t%u | now %llx-%llx t%u\n", i,
			    (unsigned long long)(i < na ? a[i].start : 0),
			    (unsigned long long)(i < na ? a[i].end : 0), i < na ? a[i].type : 0,
			    (unsigned long long)(i < nb ? b[i].start : 0),
			    (unsigned long long)(i < nb ? b[i].end : 0), i < nb ? b[i].type : 0);
	if (!kj_e820_same(a, na, b, nb, msg, sizeof(msg), scratch))
		return refuse("this machine's memory map is not the one the system hibernated on\n"
			      "  (RAM size or firmware changed?): %s", msg);
	return KJ_OK;
}

static enum kj_err check_machine(struct loader *L)
{
	uint32_t f = L->info.resume_flags;

	if ((f & ELFIMG_RESUME_LA57) && !kjefi_cpu_has_la57())
		return refuse("the image uses 5-level paging, this CPU has none");
	if (f & ELFIMG_RESUME_EFI_RT)
		return refuse("the hibernated kernel used EFI runtime services;\n"
			      "  kjresume needs it booted with efi=noruntime");
	if (f & ~(ELFIMG_RESUME_LA57 | ELFIMG_RESUME_GDT | ELFIMG_RESUME_EFI_RT |
		  ELFIMG_RESUME_FREE_ANY | ELFIMG_RESUME_UNSWAPPED))
		return refuse("the image needs features this loader does not know (flags 0x%x)", f);
	return check_memmap(L);
}

/*
 * Claim [s, e), free in the snapshot. The firmware may have taken a few
 * of its pages since (its memory map's own bookkeeping allocates while we
 * claim): then claim the halves, down to single pages, and record the
 * pages it took, to be staged like its other pages (mark_taken). Starting
 * over instead would free what was claimed, which some firmware fills
 * page by page (OVMF: 1.5 s for 300 MiB under TCG).
 */
static kjefi_status claim_range(struct loader *L, uint64_t s, uint64_t e)
{
	kjefi_status st;

	if (L->nclaim == sizeof(L->claim) / sizeof(L->claim[0]))
		return KJEFI_E_BUFFER;
	st = kjefi_alloc_at(s, (e - s) / PG);
	if (!st) {
		L->claim[L->nclaim++] = (struct reloc_range){ s, e };
		return KJEFI_OK;
	}
	if (st != KJEFI_E_NOT_FOUND)
		return st;
	if (e - s == PG) {
		if (L->ntaken && L->taken[L->ntaken - 1].end == s) {
			L->taken[L->ntaken - 1].end = e;
			return KJEFI_OK;
		}
		if (L->ntaken == sizeof(L->taken) / sizeof(L->taken[0]))
			return KJEFI_E_NOT_FOUND;
		L->taken[L->ntaken++] = (struct reloc_range){ s, e };
		return KJEFI_OK;
	}
	uint64_t m = s + (e - s) / PG / 2 * PG;
	st = claim_range(L, s, m);
	return st ? st : claim_range(L, m, e);
}

/* The snapshot with the pages the firmware took (L->taken, sorted) as its
 * own: split the free ranges they lie in. */
static kjefi_status mark_taken(struct loader *L)
{
	static struct reloc_mem out[MAX_MEM];
	size_t n = 0, t = 0;

	for (size_t k = 0; k < L->nmem; k++) {
		struct reloc_mem m = L->mem[k];
		while (m.type == RELOC_MEM_FREE && t < L->ntaken && L->taken[t].start < m.end) {
			const struct reloc_range *r = &L->taken[t];
			if (r->end <= m.start) {
				t++;
				continue;
			}
			if (n + 2 > MAX_MEM)
				return KJEFI_E_BUFFER;
			if (r->start > m.start)
				out[n++] = (struct reloc_mem){ m.start, r->start, RELOC_MEM_FREE };
			uint64_t e = r->end < m.end ? r->end : m.end;
			out[n++] = (struct reloc_mem){ r->start > m.start ? r->start : m.start, e, RELOC_MEM_BOOT };
			m.start = e;
			if (r->end == e)	/* all of it */
				t++;
			if (m.start >= m.end)
				break;
		}
		if (m.start < m.end) {
			if (n == MAX_MEM)
				return KJEFI_E_BUFFER;
			out[n++] = m;
		}
	}
	for (size_t k = 0; k < n; k++)
		L->mem[k] = out[k];
	L->nmem = n;
	return KJEFI_OK;
}

/* Claim every destination page that is free in the snapshot L->mem. */
static kjefi_status claim_free_dest(struct loader *L)
{
	L->nclaim = 0;
	L->ntaken = 0;
	for (size_t d = 0, m = 0; d < L->ndest; d++) {
		while (m < L->nmem && L->mem[m].end <= L->dest[d].start)
			m++;
		for (size_t k = m; k < L->nmem && L->mem[k].start < L->dest[d].end; k++) {
			if (L->mem[k].type != RELOC_MEM_FREE)
				continue;
			uint64_t s = L->dest[d].start > L->mem[k].start ? L->dest[d].start : L->mem[k].start;
			uint64_t e = L->dest[d].end < L->mem[k].end ? L->dest[d].end : L->mem[k].end;
			kjefi_status st = claim_range(L, s, e);
			if (st)
				return st;
		}
	}
	return L->ntaken ? mark_taken(L) : KJEFI_OK;
}

static void release_memory(struct loader *L);

/*
 * Destinations, and the map the planner sees. Every destination page that
 * is free now is allocated here, before anything else: from then on no
 * allocation of ours or of the firmware can land in a destination, so the
 * staging and control pages allocated next are in none (plan invariant I1).
 */
static enum kj_err claim_memory(struct loader *L)
{
	static struct kjefi_mem fw[MAX_MEM];
	size_t cap = 2 * MAX_SEGS + 64;
	kjefi_status st;

	L->dest = kjefi_alloc(cap * sizeof(*L->dest));
	if (!L->dest)
		return refuse("out of memory");
	L->ndest = kj_dest_extents(&L->info, L->segs, L->info.nsegs, L->dest, cap);
	if (L->ndest == (size_t)-1)
		return refuse("the image is too fragmented for this loader");
	/* allocated before the snapshot: nothing of ours may take a page
	 * the snapshot calls free between it and the claims */
	L->mem = kjefi_alloc(MAX_MEM * sizeof(*L->mem));
	if (!L->mem)
		return refuse("out of memory");
	/* the firmware itself may allocate in between (a timer event):
	 * then take a new snapshot and claim again */
	for (int attempt = 0;; attempt++) {
		st = kjefi_memmap(fw, MAX_MEM, &L->nfw);
		if (st)
			return refuse("cannot read the firmware memory map: %s", kjefi_strerror(st));
		L->fw = fw;
		if (attempt == 0) {
			enum kj_err err = check_machine(L);
			if (err)
				return err;
		}
		L->nmem = 0;
		for (size_t i = 0; i < L->nfw; i++) {
			uint32_t t = fw[i].kind == KJEFI_MEM_FREE ? RELOC_MEM_FREE :
				     fw[i].kind == KJEFI_MEM_BOOT ? RELOC_MEM_BOOT : RELOC_MEM_RESERVED;
			if (L->nmem && L->mem[L->nmem - 1].type == t && L->mem[L->nmem - 1].end == fw[i].start)
				L->mem[L->nmem - 1].end = fw[i].end;
			else
				L->mem[L->nmem++] = (struct reloc_mem){ fw[i].start, fw[i].end, t };
		}
		st = claim_free_dest(L);
		if (!st)
			break;
		release_memory(L);
		if (attempt == 3)
			return refuse("cannot claim the free memory the image needs: %s",
				      kjefi_strerror(st));
	}
	return KJ_OK;
}

static void release_memory(struct loader *L)
{
	for (size_t i = 0; i < L->nclaim; i++)
		kjefi_free_pages(L->claim[i].start, (L->claim[i].end - L->claim[i].start) / PG);
	L->nclaim = 0;
	for (size_t i = 0; i < L->nscratch; i++)
		kjefi_free_pages(L->scratch[i].start, (L->scratch[i].end - L->scratch[i].start) / PG);
	L->nscratch = 0;
}

static int cmp_range(const struct reloc_range *a, const struct reloc_range *b)
{
	return a->start < b->start ? -1 : a->start > b->start;
}

static bool meets_dest(const struct loader *L, uint64_t s, uint64_t e)
{
	size_t lo = 0, hi = L->ndest;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (L->dest[mid].end <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < L->ndest && L->dest[lo].start < e;
}

static enum kj_err add_scratch(struct loader *L, uint64_t pages, uint64_t below)
{
	uint64_t a;
	/* Pages the firmware freed after the snapshot (it saw them busy, so
	 * they may be destinations) can come back here: keep such an
	 * allocation out of everyone's way and ask again. */
	for (;;) {
		kjefi_status st = kjefi_alloc_below(pages, below, &a);
		if (st)
			return KJ_E_REFUSED;
		if (!meets_dest(L, a, a + pages * PG))
			break;
		if (L->nclaim == sizeof(L->claim) / sizeof(L->claim[0])) {
			kjefi_free_pages(a, pages);
			return KJ_E_REFUSED;
		}
		L->claim[L->nclaim++] = (struct reloc_range){ a, a + pages * PG };
	}
	struct reloc_range r = { a, a + pages * PG };
	size_t i = L->nscratch++;
	while (i && cmp_range(&L->scratch[i - 1], &r) > 0) {
		L->scratch[i] = L->scratch[i - 1];
		i--;
	}
	L->scratch[i] = r;
	return KJ_OK;
}

static enum kj_err make_plan(struct loader *L)
{
	uint64_t boot_pages = 0;
	enum reloc_err re;

	for (size_t d = 0, m = 0; d < L->ndest; d++) {
		if (L->dest[d].zero)
			continue;
		while (m < L->nmem && L->mem[m].end <= L->dest[d].start)
			m++;
		for (size_t k = m; k < L->nmem && L->mem[k].start < L->dest[d].end; k++)
			if (L->mem[k].type == RELOC_MEM_BOOT) {
				uint64_t s = L->dest[d].start > L->mem[k].start ? L->dest[d].start : L->mem[k].start;
				uint64_t e = L->dest[d].end < L->mem[k].end ? L->dest[d].end : L->mem[k].end;
				boot_pages += (e - s) / PG;
			}
	}
	/* control pages low (the stub switches paging modes below 4 GiB),
	 * staging anywhere: all free non-destination memory is fine */
	if (add_scratch(L, 512, 0xffffffffULL))
		return refuse("no memory below 4 GiB for the relocation stub");
	if (boot_pages && add_scratch(L, boot_pages, 0))
		return refuse("not enough free memory to stage %llu MiB that the firmware uses now",
			      (unsigned long long)(boot_pages * PG >> 20));

	size_t cap = L->ndest + L->nmem + 64;
	L->plan.load = kjefi_alloc(cap * sizeof(*L->plan.load));
	L->plan.load_cap = cap;
	if (!L->plan.load)
		return refuse("out of memory");
	struct reloc_plan_in in = {
		.dest = L->dest, .ndest = L->ndest,
		.mem = L->mem, .nmem = L->nmem,
		.scratch = L->scratch, .nscratch = L->nscratch,
		.stub_size = (uint64_t)(reloc_stub_end - reloc_stub_start),
		.entry = L->info.entry,
		.la57 = L->info.resume_flags & ELFIMG_RESUME_LA57,
		.gb_pages = kjefi_cpu_has_gbpages(),
		/* Kernels without the GDT fix (upstream 07fa619f2a40) reload
		 * segments from whatever GDTR they find: give them A's own
		 * GDT's address (the CPU-0 entry of its GDT page mapping). */
		.final_limit = (L->info.resume_flags & ELFIMG_RESUME_GDT) ? 0 : 0x7f,
		.final_base = (L->info.resume_flags & ELFIMG_RESUME_GDT) ? 0 : 0xfffffe0000001000ULL,
		.virt_offset = 0,
		.fw_la57 = reloc_fw_la57(),
		/*
		 * The stub checks what it writes (staged copies, zero fill)
		 * after ExitBootServices; pages read in place were checked
		 * (XXH64) as they were read and nothing writes them since.
		 * check-all: it re-reads those too (one more pass over A's
		 * memory on one CPU).
		 */
		.csum = L->opt.check_all,
	};
	re = reloc_plan(&in, &L->plan);
	if (re == RELOC_E_NOSPACE && L->nscratch < 4) {
		uint64_t more = L->plan.missing_pages + 16;
		if (add_scratch(L, more, 0))
			return refuse("not enough free memory: %llu MiB short",
				      (unsigned long long)(more * PG >> 20));
		in.nscratch = L->nscratch;
		re = reloc_plan(&in, &L->plan);
	}
	if (re == RELOC_E_NOSPACE)
		return refuse("not enough free memory to stage the image: %llu MiB short",
			      (unsigned long long)(L->plan.missing_pages * PG >> 20));
	if (re == RELOC_E_NOLOWMEM)
		return refuse("no free memory below 4 GiB for the paging-mode switch");
	if (re == RELOC_E_DEST_UNUSABLE)
		return refuse("the image wants memory this firmware keeps for itself");
	if (re)
		return refuse("cannot plan the relocation: %s", reloc_strerror(re));
	say("plan: %llu MiB direct, %llu MiB staged, %llu MiB zero-filled, %llu control pages\n",
	    (unsigned long long)(L->plan.direct_pages * PG >> 20),
	    (unsigned long long)(L->plan.staged_pages * PG >> 20),
	    (unsigned long long)(L->plan.zero_pages * PG >> 20),
	    (unsigned long long)L->plan.ctl_pages);
	return KJ_OK;
}

/*
 * Put the memory bytes [dst, dst + len) where the plan reads them: into
 * the load pieces they fall in (@src NULL: zeros). Bytes in no piece are
 * in zero-filled extents, which the stub clears.
 */
static void scatter(struct loader *L, size_t *cur, uint64_t dst, const uint8_t *src, uint64_t len)
{
	const struct reloc_load *ld = L->plan.load;
	size_t i = *cur;

	while (i < L->plan.nload && ld[i].dst + ld[i].npages * PG <= dst)
		i++;
	*cur = i;
	for (; i < L->plan.nload && len; i++) {
		uint64_t s = ld[i].dst, e = s + ld[i].npages * PG;
		if (s >= dst + len)
			break;
		uint64_t a = dst > s ? dst : s, b = dst + len < e ? dst + len : e;
		uint8_t *to = (uint8_t *)(uintptr_t)(ld[i].buf + (a - s));
		if (src)
			__builtin_memcpy(to, src + (a - dst), b - a);
		else
			__builtin_memset(to, 0, b - a);
	}
}

/* Where to decode [dst, dst + len) in place, or NULL if it spans pieces. */
static uint8_t *in_place(struct loader *L, size_t *cur, uint64_t dst, uint64_t len)
{
	const struct reloc_load *ld = L->plan.load;
	size_t i = *cur;

	while (i < L->plan.nload && ld[i].dst + ld[i].npages * PG <= dst)
		i++;
	*cur = i;
	if (i < L->plan.nload && ld[i].dst <= dst && dst + len <= ld[i].dst + ld[i].npages * PG)
		return (uint8_t *)(uintptr_t)(ld[i].buf + (dst - ld[i].dst));
	return NULL;
}

/* Where the plan puts the byte destined for @addr (direct or staged). */
static uint8_t *placed(const struct loader *L, uint64_t addr)
{
	for (size_t i = 0; i < L->plan.nload; i++) {
		const struct reloc_load *ld = &L->plan.load[i];
		if (ld->dst <= addr && addr < ld->dst + ld->npages * PG)
			return (uint8_t *)(uintptr_t)(ld->buf + (addr - ld->dst));
	}
	return NULL;
}

/* The load piece that holds @dst, or the first one after it. */
static size_t find_piece(const struct loader *L, uint64_t dst)
{
	size_t lo = 0, hi = L->plan.nload;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct reloc_load *ld = &L->plan.load[mid];
		if (ld->dst + ld->npages * PG <= dst)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The copy checksum of the bytes [dst, dst + len) at @buf that the stub
 * will check: all of them with check-all, else those in staged pieces
 * (the ones it copies). Bytes in no piece are zero-filled: they add 0.
 * @from: find_piece(L, dst), which the caller has at hand.
 */
static uint64_t checked(const struct loader *L, size_t from, uint64_t dst, const uint8_t *buf,
			uint64_t len)
{
	if (L->opt.check_all)
		return reloc_csum(dst, buf, len);
	uint64_t sum = 0;
	for (size_t i = from; i < L->plan.nload; i++) {
		const struct reloc_load *ld = &L->plan.load[i];
		uint64_t s = ld->dst, e = s + ld->npages * PG;
		if (s >= dst + len)
			break;
		if (ld->buf == ld->dst)
			continue;
		uint64_t a = dst > s ? dst : s, b = dst + len < e ? dst + len : e;
		sum += reloc_csum(a, buf + (a - dst), b - a);
	}
	return sum;
}

/*
 * Pages that segments cover only in part: the bytes outside every segment
 * are not in the image. In a page read directly they stay as they are; a
 * staged page must carry them too, so snapshot them into it now (the page
 * is boot-services memory, whose content nobody needs after
 * ExitBootServices). @sum: add them to the copy checksum instead.
 */
static void partial_pages(struct loader *L, bool sum)
{
	const struct elfimg_info *I = &L->info;
	for (size_t i = 0; i < I->nsegs; i++) {
		uint64_t s = L->segs[i].paddr, e = s + L->segs[i].memsz;
		uint64_t prev = i ? L->segs[i - 1].paddr + L->segs[i - 1].memsz : 0;
		uint64_t next = i + 1 < I->nsegs ? L->segs[i + 1].paddr : ~0ULL;
		uint64_t gap[2][2] = {
			{ (s & ~(PG - 1)) > prev ? s & ~(PG - 1) : prev, s },
			{ e, ((e + PG - 1) & ~(PG - 1)) < next ? (e + PG - 1) & ~(PG - 1) : next },
		};
		for (int g = 0; g < 2; g++) {
			uint64_t a = gap[g][0], b = gap[g][1];
			uint8_t *p = a < b ? placed(L, a) : NULL;
			if (!p)
				continue;
			if (sum)
				L->csum += checked(L, find_piece(L, a), a, p, b - a);
			else if (p != (uint8_t *)(uintptr_t)a)
				__builtin_memcpy(p, (const void *)(uintptr_t)a, b - a);
		}
	}
}

static void progress(struct loader *L, uint64_t done, uint64_t total, bool last)
{
	static uint64_t t_last;
	uint64_t now = kjefi_now_us();
	if (!last && now - t_last < 250000)
		return;
	t_last = now;
	uint64_t el = now - L->t_start;
	uint64_t rate = el ? (done * 1000000 / el) >> 20 : 0;
	kjefi_printf("\rkjresume: reading image %3llu%% %6llu/%llu MiB %4llu MiB/s%s",
		     (unsigned long long)(total ? done * 100 / total : 100),
		     (unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
		     (unsigned long long)rate, last ? "\n" : "");
}

/*
 * Decoding runs on every CPU the firmware has: the BSP reads batches of
 * chunks into NBUF rotating buffers and publishes one job per chunk; the
 * APs (and the BSP between reads) take jobs in order and decode each
 * straight into its place. Jobs write disjoint bytes; a buffer is reused
 * only when all its jobs are done. An AP calls no firmware service.
 */
#define NBUF 3
#define MAX_CPUS 32
#define RING 4096		/* jobs in flight */
_Static_assert(NBUF == sizeof(((struct loader *)0)->bufs) / sizeof(uint8_t *), "NBUF");

struct job {
	struct elfimg_chunk_info ci;
	uint64_t dst, len, chunk;
	const uint8_t *src;
	unsigned buf;
};

struct worker {
	struct elfimg_inflater inf;
	uint8_t *tmp;
	uint64_t csum, stored;
	/* CPU time of this worker's jobs, us: decode (copy or inflate),
	 * chunk check, copy checksum, scatter out of its staging buffer */
	uint64_t us_dec, us_crc, us_sum, us_place;
	enum elfimg_err err;
	uint64_t err_job, err_dst, err_chunk;
};

struct par {
	struct loader *L;
	struct job *jobs;
	uint64_t njobs;			/* jobs in the image */
	uint64_t ready;			/* jobs published (release) */
	uint64_t next;			/* next job to take */
	uint64_t finished;		/* jobs done */
	uint64_t pending[NBUF];		/* jobs of each buffer not done */
	uint64_t slot_done[RING];	/* 1 + the last job done in each slot */
	unsigned nworkers, next_worker;
	bool stop;			/* an error: everyone stops */
	bool published;			/* the BSP has published every job */
	struct worker *w;
};

/* Take and do one job; false if none was available. */
static bool work_one(struct par *p, struct worker *w)
{
	uint64_t j = __atomic_load_n(&p->next, __ATOMIC_RELAXED);
	for (;;) {
		if (j >= __atomic_load_n(&p->ready, __ATOMIC_ACQUIRE))
			return false;
		if (__atomic_compare_exchange_n(&p->next, &j, j + 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			break;
	}
	struct job *jb = &p->jobs[j % RING];
	struct loader *L = p->L;
	if (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
		size_t cur = find_piece(L, jb->dst);
		uint8_t *to = in_place(L, &cur, jb->dst, jb->len);
		uint8_t *out = to ? to : w->tmp;
		uint64_t t0 = kjefi_now_us(), t1, t2, t3;
		/* stored and LZ4 chunks are checked as they are decoded: all
		 * of it counts as decode time */
		bool one_pass = elfimg_chunk_one_pass(&jb->ci);
		enum elfimg_err e = elfimg_chunk_decode(&w->inf, &jb->ci, jb->src, out,
							jb->len, one_pass);
		t1 = kjefi_now_us();
		if (!e && !one_pass && elfimg_chunk_check(&jb->ci, out, jb->len) != jb->ci.check)
			e = ELFIMG_E_CHUNK_CRC;
		t2 = kjefi_now_us();
		if (!e) {
			w->csum += checked(L, cur, jb->dst, out, jb->len);
			w->stored += jb->ci.stored;
		}
		t3 = kjefi_now_us();
		if (!e && !to)
			scatter(L, &cur, jb->dst, w->tmp, jb->len);
		w->us_dec += t1 - t0;
		w->us_crc += t2 - t1;
		w->us_sum += t3 - t2;
		w->us_place += kjefi_now_us() - t3;
		if (e && !w->err) {
			w->err = e;
			w->err_job = j;
			w->err_dst = jb->dst;
			w->err_chunk = jb->chunk;
			__atomic_store_n(&p->stop, true, __ATOMIC_RELEASE);
		}
	}
	__atomic_fetch_sub(&p->pending[jb->buf], 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&p->slot_done[j % RING], j + 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&p->finished, 1, __ATOMIC_RELEASE);
	return true;
}

/* What an AP runs: jobs until every job is published and taken. */
static void ap_worker(void *arg)
{
	struct par *p = arg;
	unsigned me = __atomic_fetch_add(&p->next_worker, 1, __ATOMIC_RELAXED);
	struct worker *w = &p->w[me < p->nworkers ? me : 0];

	if (me >= p->nworkers)
		return;
	for (;;) {
		if (work_one(p, w))
			continue;
		if (__atomic_load_n(&p->published, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&p->next, __ATOMIC_ACQUIRE) >= p->njobs)
			return;
		__asm__ volatile("pause");
	}
}

static uint64_t stored_done(const struct par *p)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < p->nworkers; i++)
		n += __atomic_load_n(&p->w[i].stored, __ATOMIC_RELAXED);
	return n;
}

/*
 * Everything the read needs, allocated before the plan so that staging
 * gets what is left (and a shortage is reported as one).
 */
static enum kj_err prepare_read(struct loader *L)
{
	const struct elfimg_info *I = &L->info;
	static struct par P;
	struct par *p = &P;

	unsigned ncpu = kjefi_mp_cpus();
	if (ncpu > MAX_CPUS)
		ncpu = MAX_CPUS;
	*p = (struct par){ .L = L, .nworkers = ncpu, .next_worker = 1 };
	L->par = p;
	p->jobs = kjefi_alloc(RING * sizeof(*p->jobs));
	p->w = kjefi_alloc(ncpu * sizeof(*p->w));
	L->tmp = kjefi_alloc(I->chunk_size > 1024 ? I->chunk_size : 1024);
	if (!p->jobs || !p->w || !L->tmp)
		return refuse("out of memory for read buffers");
	for (unsigned i = 0; i < NBUF; i++)
		if (!(L->bufs[i] = kjefi_alloc(READ_BATCH)))
			return refuse("out of memory for read buffers (%u MiB)",
				      (unsigned)(NBUF * READ_BATCH >> 20));
	for (unsigned i = 0; i < ncpu; i++) {
		p->w[i] = (struct worker){ .tmp = kjefi_alloc(I->chunk_size) };
		if (!p->w[i].tmp || elfimg_inflater_init(&p->w[i].inf))
			return refuse("out of memory for decompressors");
	}
	return KJ_OK;
}

/* Read, decompress and verify every chunk into the plan's load pieces. */
static enum kj_err read_image(struct loader *L)
{
	const struct elfimg_info *I = &L->info;
	struct par *p = L->par;
	size_t cur = 0;

	unsigned ncpu = p->nworkers;
	uint8_t **bufs = L->bufs;
	L->t_start = kjefi_now_us();
	partial_pages(L, false);

	bool aps = ncpu > 1 && !kjefi_mp_start(ap_worker, p);
	if (!aps)
		p->nworkers = 1;

	/* publish: one job per stored chunk, batch by batch */
	unsigned slot = 0;
	uint64_t bstart = 0, bend = 0;
	uint64_t t_dec0 = kjefi_now_us(), t_io = 0;
	enum kj_err err = KJ_OK;
	for (size_t s = 0; s < I->nsegs && !err; s++) {
		const struct elfimg_segment *sg = &L->segs[s];
		uint64_t dst = sg->paddr;
		for (uint64_t k = 0; k < sg->nchunks; k++) {
			struct job jb = { .dst = dst, .len = elfimg_chunk_len(I, sg, k),
					  .chunk = sg->first_chunk + k };
			elfimg_chunk_get(I, jb.chunk, &jb.ci);
			dst += jb.len;
			if (!jb.ci.stored) {
				scatter(L, &cur, jb.dst, NULL, jb.len);
				continue;
			}
			if (jb.ci.offset < bstart || jb.ci.offset + jb.ci.stored > bend) {
				uint64_t fsize = img_size(L);
				uint64_t n = fsize - jb.ci.offset < READ_BATCH ? fsize - jb.ci.offset : READ_BATCH;
				if (jb.ci.stored > n) {
					err = refuse("chunk %llu larger than the read buffer",
						     (unsigned long long)jb.chunk);
					break;
				}
				slot = (slot + 1) % NBUF;
				/* the buffer is free once all its jobs are done */
				while (__atomic_load_n(&p->pending[slot], __ATOMIC_ACQUIRE))
					if (!work_one(p, &p->w[0]))
						__asm__ volatile("pause");
				uint64_t t0 = kjefi_now_us();
				kjefi_status st = img_read(L, jb.ci.offset, bufs[slot], n, false);
				t_io += kjefi_now_us() - t0;
				if (st) {
					err = refuse("read error at byte %llu: %s",
						     (unsigned long long)jb.ci.offset, kjefi_strerror(st));
					break;
				}
				L->io_bytes += n;
				bstart = jb.ci.offset;
				bend = jb.ci.offset + n;
				progress(L, stored_done(p), I->stored_bytes, false);
			}
			if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
				break;
			jb.src = bufs[slot] + (jb.ci.offset - bstart);
			jb.buf = slot;
			uint64_t n = p->ready;
			/* the ring slot is free once the job RING before is done */
			while (n >= RING &&
			       __atomic_load_n(&p->slot_done[n % RING], __ATOMIC_ACQUIRE) != n - RING + 1)
				if (!work_one(p, &p->w[0]))
					__asm__ volatile("pause");
			p->jobs[n % RING] = jb;
			__atomic_fetch_add(&p->pending[slot], 1, __ATOMIC_ACQ_REL);
			__atomic_store_n(&p->ready, n + 1, __ATOMIC_RELEASE);
		}
		if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
			break;
	}
	p->njobs = p->ready;
	__atomic_store_n(&p->published, true, __ATOMIC_RELEASE);
	/* the BSP helps until every job is done, then the APs are released */
	while (__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) < p->njobs) {
		if (!work_one(p, &p->w[0]))
			__asm__ volatile("pause");
		progress(L, stored_done(p), I->stored_bytes, false);
	}
	if (aps)
		kjefi_mp_wait();
	L->t_io = t_io;
	L->t_decode = kjefi_now_us() - t_dec0 - t_io;
	L->ncpu = p->nworkers;
	if (err)
		return err;

	uint64_t bad = ~0ULL;
	unsigned wbad = 0;
	enum elfimg_err e = ELFIMG_OK;
	for (unsigned i = 0; i < p->nworkers; i++) {
		L->csum += p->w[i].csum;
		L->us_dec += p->w[i].us_dec;
		L->us_crc += p->w[i].us_crc;
		L->us_sum += p->w[i].us_sum;
		L->us_place += p->w[i].us_place;
		if (p->w[i].err && p->w[i].err_job < bad) {
			bad = p->w[i].err_job;
			wbad = i;
			e = p->w[i].err;
		}
		elfimg_inflater_fini(&p->w[i].inf);
	}
	if (e) {
		kjefi_printf("\n");
		return refuse("the image is damaged at memory %llx (chunk %llu): %s",
			      (unsigned long long)p->w[wbad].err_dst,
			      (unsigned long long)p->w[wbad].err_chunk, elfimg_strerror(e));
	}
	progress(L, stored_done(p), I->stored_bytes, true);

	/* the stub sums whole pages */
	partial_pages(L, true);
	enum reloc_err re = reloc_set_csum(&L->plan, 0, L->csum);
	if (re)
		return refuse("cannot arm the copy check: %s", reloc_strerror(re));
	return KJ_OK;
}

/*
 * dry-run's yardstick: the firmware reading the image's payload bytes
 * and nothing else, batch by batch into one buffer.
 */
static enum kj_err raw_read(struct loader *L)
{
	uint64_t off = L->info.data_start, end = L->info.data_end, t0 = kjefi_now_us();
	while (off < end) {
		uint64_t n = end - off < READ_BATCH ? end - off : READ_BATCH;
		kjefi_status st = img_read(L, off, L->bufs[0], n, false);
		if (st)
			return refuse("read error at byte %llu: %s", (unsigned long long)off,
				      kjefi_strerror(st));
		off += n;
	}
	uint64_t us = kjefi_now_us() - t0, b = end - L->info.data_start;
	say("dry-run: raw read of %llu MiB in %llu ms (%llu MiB/s), reading only\n",
	    (unsigned long long)(b >> 20), (unsigned long long)(us / 1000),
	    (unsigned long long)(us ? (b * 1000000 / us) >> 20 : 0));
	/* the verifying read that follows starts from a disk as rested as
	 * this one did, so that the two rates compare (a QEMU read throttle
	 * lets a tenth of a second's bytes through at once after 0.1 s idle) */
	for (uint64_t t = kjefi_now_us(); kjefi_now_us() - t < 500000;)
		__asm__ volatile("pause");
	return KJ_OK;
}

/* COMPLETE -> CONSUMED on disk, read back: never resumed twice. */
static enum kj_err mark_consumed(struct loader *L)
{
	uint8_t *sec = L->tmp, *back = L->tmp + 512;
	__builtin_memcpy(sec, L->hdr, 512);
	enum elfimg_err e = elfimg_mark(sec, 512, ELFIMG_STATE_CONSUMED);
	if (e)
		return refuse("cannot mark the image: %s", elfimg_strerror(e));
	kjefi_status st = img_read(L, 0, sec, 512, true);
	if (!st)
		st = img_read(L, 0, back, 512, false);
	if (st)
		return refuse("cannot mark the image consumed on disk: %s", kjefi_strerror(st));
	if (__builtin_memcmp(sec, back, 512))
		return refuse("the image's state did not stick on disk");
	return KJ_OK;
}

static enum kj_err mark_consumed(struct loader *L);

static enum kj_err resume(struct loader *L)
{
	enum kj_err err;

	if (L->opt.discard) {
		/* the boot menu's "boot normally" entry: whatever the image's
		 * state, it must not be resumed after this boot */
		if ((err = open_image(L)) || (err = read_headers(L)))
			return err == KJ_E_REFUSED ? KJ_E_NO_IMAGE : err;
		L->tmp = kjefi_alloc(1024);
		if (!L->tmp || (err = mark_consumed(L)))
			return refuse("could not discard the image");
		say("hibernated image discarded\n");
		return KJ_E_DISCARDED;
	}
	if ((err = open_image(L)) || (err = read_headers(L)))
		return err;
	/* the set-up's phases, timed: where a firmware's memory map costs */
	uint64_t t[4];
	t[0] = kjefi_now_us();
	if ((err = claim_memory(L)))
		return err;
	t[1] = kjefi_now_us();
	if ((err = prepare_read(L)))
		return err;
	t[2] = kjefi_now_us();
	if ((err = make_plan(L)))
		return err;
	t[3] = kjefi_now_us();
	uint64_t taken = 0;
	for (size_t i = 0; i < L->ntaken; i++)
		taken += (L->taken[i].end - L->taken[i].start) / PG;
	say("set-up in %llu ms: memory map, checks and %zu claims %llu ms (%llu pages taken "
	    "by the firmware meanwhile), buffers %llu ms, plan %llu ms\n",
	    (unsigned long long)((t[3] - t[0]) / 1000), L->nclaim,
	    (unsigned long long)((t[1] - t[0]) / 1000), (unsigned long long)taken,
	    (unsigned long long)((t[2] - t[1]) / 1000), (unsigned long long)((t[3] - t[2]) / 1000));
	if ((L->opt.dry_run && (err = raw_read(L))) || (err = read_image(L)))
		return err;
	uint64_t el = kjefi_now_us() - L->t_start;
	say("read %llu MiB in %llu ms: I/O %llu ms, decompress+verify %llu ms more on %u CPU(s)\n",
	    (unsigned long long)(L->io_bytes >> 20), (unsigned long long)(el / 1000),
	    (unsigned long long)(L->t_io / 1000), (unsigned long long)(L->t_decode / 1000),
	    L->ncpu);
	say("CPU time of the read, all CPUs: decode %llu ms, %s %llu ms, copy checksum %llu ms, placing %llu ms\n",
	    (unsigned long long)(L->us_dec / 1000),
	    L->info.incompat & ELFIMG_INCOMPAT_XXH64 ? "XXH64" : "CRC32",
	    (unsigned long long)(L->us_crc / 1000), (unsigned long long)(L->us_sum / 1000),
	    (unsigned long long)(L->us_place / 1000));
	if (L->opt.dry_run) {
		say("dry-run: every chunk verified; not resuming\n");
		return KJ_E_DRY_RUN;
	}
	if ((err = mark_consumed(L)))
		return err;
	say("image marked consumed; jumping to the hibernated kernel at %llx\n",
	    (unsigned long long)L->info.entry);

	uint64_t rsdp = kjefi_acpi_rsdp();
	__builtin_memcpy((void *)(uintptr_t)L->plan.stub, reloc_stub_start,
			 (size_t)(reloc_stub_end - reloc_stub_start));
	void (*enter)(uint64_t) = (void (*)(uint64_t))(uintptr_t)
		(L->plan.stub + (uint64_t)((const char *)reloc_enter - reloc_stub_start));
	uint64_t t0 = kjefi_now_us();
	kjefi_status st = kjefi_exit_boot_services();
	if (st) {
		/* boot services may be half gone: nothing safe is left but to
		 * report; the image is consumed, so the next boot is normal */
		kjefi_serial_printf("kjresume: ExitBootServices failed: %s\n", kjefi_strerror(st));
		return refuse("ExitBootServices failed");
	}
	__asm__ volatile("cli" ::: "memory");
	const char *acpi = kjefi_acpi_enable(rsdp);
	kjefi_serial_printf("kjresume: boot services exited in %llu us; ACPI: %s\n",
			    (unsigned long long)(kjefi_now_us() - t0), acpi);
	kjefi_serial_printf("kjresume: relocating %llu pages and entering A%s\n",
			    (unsigned long long)(L->plan.staged_pages + L->plan.zero_pages),
			    L->opt.check_all ? " (check-all: re-checking every page)" : "");
	enter(L->plan.ctl);
	__builtin_unreachable();
}

kjefi_status kj_loader_main(const char *cmdline)
{
	static struct loader L;
	enum kj_err err;

	load_settings(&L, cmdline);
	kjefi_printf("kjresume " KJ_VERSION ": resume loader for kexec-hibernated Linux\n");
	err = resume(&L);
	release_memory(&L);
	kjefi_src_close(L.src);
	switch (err) {
	case KJ_E_NO_IMAGE:
		say("nothing to resume; continuing with a normal boot\n");
		return KJEFI_E_NOT_FOUND;
	case KJ_E_DRY_RUN:
		return KJEFI_E_ABORTED;
	case KJ_E_DISCARDED:
		say("continuing with a normal boot\n");
		return KJEFI_E_NOT_FOUND;
	default:
		say("continuing with a normal boot; the image was left as it was\n");
		if (L.opt.pause)
			(void)kjefi_wait_key(L.opt.pause * 1000);
		return KJEFI_E_ABORTED;
	}
}
