// SPDX-License-Identifier: MIT
/*
 * kjimage: inspect kjresume images and plain cores (docs/FORMAT.md).
 *
 *   kjimage info FILE                 headers, state, metadata, segments
 *   kjimage verify FILE               decode every chunk, check every CRC32
 *   kjimage extract FILE ADDR LEN OUT physical range -> OUT (holes read 0)
 *   kjimage mark FILE complete|consumed   the one-sector state rewrite
 *
 * Common option: --entry ADDR (plain cores without a LINUXKJUMP note).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libfdt.h>

#include "tools/common.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: kjimage [--entry ADDR] [-q] info FILE\n"
"       kjimage [--entry ADDR] [-q] verify FILE\n"
"       kjimage [--entry ADDR] [-q] extract FILE ADDR LEN OUT\n"
"       kjimage mark FILE complete|consumed\n");
}

static void print_fdt_string(const struct elfimg_info *info, const char *path,
			     const char *name, const char *label)
{
	int node, l;
	const char *v;

	if (!info->fdt)
		return;
	node = fdt_path_offset(info->fdt, path);
	if (node < 0)
		return;
	v = fdt_getprop(info->fdt, node, name, &l);
	if (v && l > 0 && v[l - 1] == '\0')
		printf("%-16s %s\n", label, v);
}

static int cmd_info(struct img *img)
{
	const struct elfimg_info *i = &img->info;
	struct elfimg_range r;
	struct elfimg_extent e;
	int node, l;

	printf("%-16s %s\n", "file", img->path);
	printf("%-16s %" PRIu64 " bytes\n", "size", img->size);
	printf("%-16s %s\n", "kind", i->kind == ELFIMG_KIND_KJ ? "kjresume image" :
	       i->kind == ELFIMG_KIND_PLAIN ? "plain ELF core" : "unknown");
	printf("%-16s %s\n", "state", state_name(i->state));
	printf("%-16s %s\n", "valid", img->err ? elfimg_strerror(img->err) : "yes");
	if (img->err)
		return 1;
	if (i->have_entry)
		printf("%-16s 0x%" PRIx64 "%s\n", "entry", i->entry,
		       i->have_resume_note ? "" : " (given)");
	else
		printf("%-16s none (no LINUXKJUMP note; use --entry)\n", "entry");
	printf("%-16s 0x%x%s%s%s%s%s\n", "resume-flags", i->resume_flags,
	       i->resume_flags & ELFIMG_RESUME_LA57 ? " la57" : "",
	       i->resume_flags & ELFIMG_RESUME_GDT ? " gdt-restored" : "",
	       i->resume_flags & ELFIMG_RESUME_EFI_RT ? " efi-runtime" : "",
	       i->resume_flags & ELFIMG_RESUME_FREE_ANY ? " free-any" : "",
	       i->resume_flags & ELFIMG_RESUME_UNSWAPPED ? " unswapped" : "");
	if (i->have_inplace)
		printf("%-16s 0x%" PRIx64 " (swap list 0x%" PRIx64 ")\n",
		       "inplace-entry", i->inplace_entry, i->inplace_list);
	if (i->release[0])
		printf("%-16s %s\n", "release", i->release);
	printf("%-16s %zu bytes\n", "vmcoreinfo", i->vmcoreinfo_len);
	printf("%-16s %" PRIu64 " bytes\n", "headers", i->hdr_len);
	printf("%-16s %zu (%" PRIu64 " MiB)\n", "segments", i->nsegs,
	       i->total_bytes >> 20);
	if (i->kind == ELFIMG_KIND_PLAIN) {
		printf("%-16s %zu\n", "ignored dups", i->nignored);
	} else {
		printf("%-16s %u\n", "format", i->version);
		printf("%-16s 0x%x%s%s%s\n", "incompat", i->incompat,
		       i->incompat & ELFIMG_INCOMPAT_DEFLATE ? " deflate" : "",
		       i->incompat & ELFIMG_INCOMPAT_LZ4 ? " lz4" : "",
		       i->incompat & ELFIMG_INCOMPAT_XXH64 ? " xxh64" : "");
		printf("%-16s %u\n", "chunk-size", i->chunk_size);
		printf("%-16s %u\n", "data-align", i->data_align);
		printf("%-16s %" PRIu64 "\n", "chunks", i->nchunks);
		printf("%-16s %" PRIu64 " bytes (%.1f%% of memory)\n", "stored",
		       i->stored_bytes, i->total_bytes ?
		       100.0 * (double)i->stored_bytes / (double)i->total_bytes : 0.0);
		printf("%-16s %" PRIu64 "\n", "data-start", i->data_start);
		printf("%-16s %" PRIu64 "\n", "data-end", i->data_end);
		print_fdt_string(i, "/saver", "tool", "saver");
		for (size_t k = 0; elfimg_memmap_get(i, k, &r); k++)
			printf("%-16s [0x%012" PRIx64 "-0x%012" PRIx64 "] type %"
			       PRIu64 "\n", k ? "" : "memmap", r.start,
			       r.start + r.size - 1, r.type);
		for (size_t k = 0; elfimg_scratch_get(i, k, &r); k++)
			printf("%-16s [0x%012" PRIx64 "-0x%012" PRIx64 "]\n",
			       k ? "" : "scratch", r.start, r.start + r.size - 1);
		print_fdt_string(i, "/extents", "device", "extents-dev");
		node = i->fdt ? fdt_path_offset(i->fdt, "/extents") : -1;
		if (node >= 0 && fdt_getprop(i->fdt, node, "partition-start", &l)
		    && l == 8)
			printf("%-16s %" PRIu64 "\n", "partition-start",
			       fdt64_ld(fdt_getprop(i->fdt, node,
						    "partition-start", &l)));
		for (size_t k = 0; elfimg_extent_get(i, k, &e); k++)
			printf("%-16s file 0x%" PRIx64 " -> dev 0x%" PRIx64
			       " len 0x%" PRIx64 "\n", k ? "" : "extents",
			       e.file_offset, e.dev_offset, e.length);
	}
	for (size_t k = 0; k < i->nsegs; k++) {
		const struct elfimg_segment *s = &img->segs[k];

		printf("%-16s [0x%012" PRIx64 "-0x%012" PRIx64 "]", k ? "" : "segments",
		       s->paddr, s->paddr + s->memsz - 1);
		if (i->kind == ELFIMG_KIND_PLAIN)
			printf(" file 0x%" PRIx64 " +0x%" PRIx64 "\n", s->offset,
			       s->filesz);
		else
			printf(" chunks %" PRIu64 "+%" PRIu64 "\n",
			       s->first_chunk, s->nchunks);
	}
	if (elfimg_check_file_size(i, img->segs, img->size)) {
		printf("%-16s %s\n", "ERROR",
		       elfimg_strerror(ELFIMG_E_FILE_SIZE));
		return 1;
	}
	return 0;
}

static int cmd_verify(struct img *img)
{
	const struct elfimg_info *i = &img->info;
	uint8_t *buf = malloc(ELFIMG_MAX_CHUNK);
	uint64_t done = 0, holes = 0, t0 = now_ns();
	enum elfimg_err e;

	if (!buf)
		return 1;
	if ((e = elfimg_check_file_size(i, img->segs, img->size))) {
		fprintf(stderr, "%s: %s\n", img->path, elfimg_strerror(e));
		return 1;
	}
	for (size_t k = 0; k < i->nsegs; k++) {
		const struct elfimg_segment *s = &img->segs[k];

		for (uint64_t off = 0; off < s->memsz;) {
			size_t n = s->memsz - off < ELFIMG_MAX_CHUNK ?
				   s->memsz - off : ELFIMG_MAX_CHUNK;

			if (i->kind == ELFIMG_KIND_KJ)
				n = elfimg_chunk_len(i, s, off / i->chunk_size);
			if (img_read_mem(img, s->paddr + off, buf, n, &holes, true)) {
				free(buf);
				return 1;
			}
			off += n;
			done += n;
			progress("verify", done, i->total_bytes, false);
		}
	}
	progress("verify", done, i->total_bytes, true);
	free(buf);
	printf("%s: OK, %" PRIu64 " bytes in %zu segments%s (%.1f s)\n",
	       img->path, done, i->nsegs,
	       i->kind == ELFIMG_KIND_KJ ? ", every chunk check matches" : "",
	       (double)(now_ns() - t0) / 1e9);
	return 0;
}

static int cmd_extract(struct img *img, const char *a, const char *l,
		       const char *out)
{
	uint64_t addr, len, holes = 0;
	uint8_t *buf;
	FILE *f;

	if (!parse_u64(a, &addr) || !parse_u64(l, &len) ||
	    addr > UINT64_MAX - len) {
		usage(stderr);
		return 2;
	}
	if (elfimg_check_file_size(&img->info, img->segs, img->size)) {
		fprintf(stderr, "%s: %s\n", img->path,
			elfimg_strerror(ELFIMG_E_FILE_SIZE));
		return 1;
	}
	f = strcmp(out, "-") ? fopen(out, "wb") : stdout;
	buf = malloc(1 << 20);
	if (!f || !buf) {
		perror(out);
		return 1;
	}
	while (len > 0) {
		size_t n = len < (1 << 20) ? len : (1 << 20);

		if (img_read_mem(img, addr, buf, n, &holes, true) ||
		    fwrite(buf, 1, n, f) != n) {
			free(buf);
			return 1;
		}
		addr += n;
		len -= n;
	}
	free(buf);
	if (f != stdout && fclose(f)) {
		perror(out);
		return 1;
	}
	if (holes)
		fprintf(stderr, "kjimage: %" PRIu64 " bytes of the range are in "
			"no segment; written as zeros\n", holes);
	return 0;
}

static int cmd_mark(const char *path, const char *what)
{
	uint32_t state;
	uint8_t sector[512];
	enum elfimg_err e;
	int fd;

	if (!strcmp(what, "complete"))
		state = ELFIMG_STATE_COMPLETE;
	else if (!strcmp(what, "consumed"))
		state = ELFIMG_STATE_CONSUMED;
	else {
		usage(stderr);
		return 2;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pread_full(fd, sector, sizeof(sector), 0)) {
		perror(path);
		return 1;
	}
	e = elfimg_mark(sector, sizeof(sector), state);
	if (e) {
		fprintf(stderr, "%s: cannot mark %s: %s\n", path, what,
			e == ELFIMG_E_ARG ? "transition not allowed" :
					    elfimg_strerror(e));
		return 1;
	}
	if (pwrite_full(fd, sector, sizeof(sector), 0) || fsync(fd)) {
		perror(path);
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct elfimg_opts opts = { .allow_plain = true };
	struct img img;
	const char *cmd;
	int argi = 1, rc;

	while (argi < argc && argv[argi][0] == '-') {
		if (!strcmp(argv[argi], "--entry") && argi + 1 < argc) {
			if (!parse_u64(argv[argi + 1], &opts.entry)) {
				usage(stderr);
				return 2;
			}
			opts.have_entry = true;
			argi += 2;
		} else if (!strcmp(argv[argi], "-q")) {
			quiet = true;
			argi++;
		} else if (!strcmp(argv[argi], "-h") ||
			   !strcmp(argv[argi], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - argi < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[argi];
	if (!strcmp(cmd, "mark")) {
		if (argc - argi != 3) {
			usage(stderr);
			return 2;
		}
		return cmd_mark(argv[argi + 1], argv[argi + 2]);
	}
	if (!strcmp(cmd, "info")) {
		if (img_open(&img, argv[argi + 1], O_RDONLY, &opts, true))
			return 1;
		rc = cmd_info(&img);
	} else if (!strcmp(cmd, "verify") && argc - argi == 2) {
		if (img_open(&img, argv[argi + 1], O_RDONLY, &opts, false))
			return 1;
		rc = cmd_verify(&img);
	} else if (!strcmp(cmd, "extract") && argc - argi == 5) {
		if (img_open(&img, argv[argi + 1], O_RDONLY, &opts, false))
			return 1;
		rc = cmd_extract(&img, argv[argi + 2], argv[argi + 3],
				 argv[argi + 4]);
	} else {
		usage(stderr);
		return 2;
	}
	img_close(&img);
	return rc;
}
