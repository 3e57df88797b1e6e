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
#define READ_BATCH (8u << 20)	/* bytes per firmware read */

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
	struct reloc_range scratch[4];
	size_t nscratch;
	struct reloc_plan plan;
	uint8_t *buf, *tmp;		/* read batch, one decoded chunk */
	struct elfimg_inflater *inf;
	uint64_t t_start, t_io, t_decode, t_sum, io_bytes;
	uint64_t csum;			/* reloc_csum() of every byte placed */
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
	if (f & ~(ELFIMG_RESUME_LA57 | ELFIMG_RESUME_GDT | ELFIMG_RESUME_EFI_RT))
		return refuse("the image needs features this loader does not know (flags 0x%x)", f);
	return check_memmap(L);
}

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
	st = kjefi_memmap(fw, MAX_MEM, &L->nfw);
	if (st)
		return refuse("cannot read the firmware memory map: %s", kjefi_strerror(st));
	L->fw = fw;
	enum kj_err err = check_machine(L);
	if (err)
		return err;

	L->mem = kjefi_alloc(L->nfw * sizeof(*L->mem));
	if (!L->mem)
		return refuse("out of memory");
	L->nmem = 0;
	for (size_t i = 0; i < L->nfw; i++) {
		uint32_t t = fw[i].kind == KJEFI_MEM_FREE ? RELOC_MEM_FREE :
			     fw[i].kind == KJEFI_MEM_BOOT ? RELOC_MEM_BOOT : RELOC_MEM_RESERVED;
		if (L->nmem && L->mem[L->nmem - 1].type == t && L->mem[L->nmem - 1].end == fw[i].start)
			L->mem[L->nmem - 1].end = fw[i].end;
		else
			L->mem[L->nmem++] = (struct reloc_mem){ fw[i].start, fw[i].end, t };
	}

	/* claim: destinations intersected with free memory */
	L->nclaim = 0;
	for (size_t d = 0, m = 0; d < L->ndest; d++) {
		while (m < L->nmem && L->mem[m].end <= L->dest[d].start)
			m++;
		for (size_t k = m; k < L->nmem && L->mem[k].start < L->dest[d].end; k++) {
			if (L->mem[k].type != RELOC_MEM_FREE)
				continue;
			uint64_t s = L->dest[d].start > L->mem[k].start ? L->dest[d].start : L->mem[k].start;
			uint64_t e = L->dest[d].end < L->mem[k].end ? L->dest[d].end : L->mem[k].end;
			if (L->nclaim == sizeof(L->claim) / sizeof(L->claim[0]))
				return refuse("too many free ranges to claim");
			st = kjefi_alloc_at(s, (e - s) / PG);
			if (st)
				return refuse("cannot claim free memory %llx-%llx: %s",
					      (unsigned long long)s, (unsigned long long)e,
					      kjefi_strerror(st));
			L->claim[L->nclaim++] = (struct reloc_range){ s, e };
		}
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

static enum kj_err add_scratch(struct loader *L, uint64_t pages, uint64_t below)
{
	uint64_t a;
	kjefi_status st = kjefi_alloc_below(pages, below, &a);
	if (st)
		return KJ_E_REFUSED;
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
		/* the stub re-checks every destination byte after its copy */
		.csum = true,
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
				L->csum += reloc_csum(a, p, b - a);
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

/* Read, decompress and verify every chunk into the plan's load pieces. */
static enum kj_err read_image(struct loader *L)
{
	const struct elfimg_info *I = &L->info;
	uint64_t total = I->stored_bytes, done = 0;
	size_t cur = 0;
	enum elfimg_err e;

	L->buf = kjefi_alloc(READ_BATCH);
	L->tmp = kjefi_alloc(I->chunk_size);
	L->inf = kjefi_alloc(sizeof(*L->inf));
	if (!L->buf || !L->tmp || !L->inf)
		return refuse("out of memory for read buffers");
	e = elfimg_inflater_init(L->inf);
	if (e)
		return refuse("decompressor: %s", elfimg_strerror(e));
	L->t_start = kjefi_now_us();
	partial_pages(L, false);

	uint64_t bstart = 0, bend = 0; /* file bytes held in L->buf */
	for (size_t s = 0; s < I->nsegs; s++) {
		const struct elfimg_segment *sg = &L->segs[s];
		uint64_t dst = sg->paddr;
		for (uint64_t k = 0; k < sg->nchunks; k++) {
			struct elfimg_chunk_info ci;
			uint64_t len = elfimg_chunk_len(I, sg, k);
			elfimg_chunk_get(I, sg->first_chunk + k, &ci);
			if (!ci.stored) {
				scatter(L, &cur, dst, NULL, len);
				dst += len;
				continue;
			}
			if (ci.offset < bstart || ci.offset + ci.stored > bend) {
				/* refill: from this chunk on, as much as fits */
				uint64_t fsize = img_size(L);
				uint64_t n = fsize - ci.offset < READ_BATCH ? fsize - ci.offset : READ_BATCH;
				if (ci.stored > n)
					return refuse("chunk %llu larger than the read buffer",
						      (unsigned long long)(sg->first_chunk + k));
				uint64_t t0 = kjefi_now_us();
				kjefi_status st = img_read(L, ci.offset, L->buf, n, false);
				L->t_io += kjefi_now_us() - t0;
				if (st)
					return refuse("read error at byte %llu: %s",
						      (unsigned long long)ci.offset, kjefi_strerror(st));
				L->io_bytes += n;
				bstart = ci.offset;
				bend = ci.offset + n;
			}
			uint64_t t0 = kjefi_now_us();
			uint8_t *to = in_place(L, &cur, dst, len);
			e = elfimg_chunk_decode(L->inf, &ci, L->buf + (ci.offset - bstart),
						to ? to : L->tmp, len, true);
			if (!e && !to)
				scatter(L, &cur, dst, L->tmp, len);
			uint64_t t1 = kjefi_now_us();
			L->t_decode += t1 - t0;
			if (!e)
				L->csum += reloc_csum(dst, to ? to : L->tmp, len);
			L->t_sum += kjefi_now_us() - t1;
			if (e) {
				kjefi_printf("\n");
				return refuse("the image is damaged at memory %llx (chunk %llu): %s",
					      (unsigned long long)dst,
					      (unsigned long long)(sg->first_chunk + k),
					      elfimg_strerror(e));
			}
			done += ci.stored;
			dst += len;
			progress(L, done, total, false);
		}
	}
	progress(L, done, total, true);

	/* the stub sums whole pages */
	partial_pages(L, true);
	enum reloc_err re = reloc_set_csum(&L->plan, 0, L->csum);
	if (re)
		return refuse("cannot arm the copy check: %s", reloc_strerror(re));
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
	if ((err = open_image(L)) || (err = read_headers(L)) ||
	    (err = claim_memory(L)) || (err = make_plan(L)) || (err = read_image(L)))
		return err;
	uint64_t el = kjefi_now_us() - L->t_start;
	say("read %llu MiB in %llu ms: I/O %llu ms, decompress+verify %llu ms, copy checksum %llu ms\n",
	    (unsigned long long)(L->io_bytes >> 20), (unsigned long long)(el / 1000),
	    (unsigned long long)(L->t_io / 1000), (unsigned long long)(L->t_decode / 1000),
	    (unsigned long long)(L->t_sum / 1000));
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
	kjefi_serial_printf("kjresume: relocating %llu pages and entering A\n",
			    (unsigned long long)(L->plan.staged_pages + L->plan.zero_pages));
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
	if (L.inf)
		elfimg_inflater_fini(L.inf);
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
