// SPDX-License-Identifier: MIT
/*
 * The loader's chunk decode paths where they run: under the firmware, on
 * one CPU (QEMU's TCG with OVMF for tests/bench/decode-efi.sh). Kinds
 * of memory, 64 MiB each, in 256 KiB chunks (kjsave's default):
 *   half  - the resume bench's 2:1 workload (tests/qemu/workload.c half:
 *           2 KiB of random bytes, then the same again, per page)
 *   text  - text-like memory: words, numbers, runs of zeros; LZ4's short
 *           sequences
 *   image - if the ESP has \kjbench-mem.bin: up to 64 MiB of it, e.g. a
 *           sample of a real image's memory (tests/bench/image-sample.c)
 * and per kind: copy (memcpy), XXH64 alone, and each chunk form decoded
 * then checked (two passes) against decoded and checked in one pass
 * (elfimg_chunk_decode() with its check). One line per measurement:
 *   KJBENCH kind path ms MiB/s
 * where ms is the best of three rounds. Then "KJBENCH done".
 */
#include <efi.h>
#include <efilib.h>

#include "elfimg/compat.h"
#include "elfimg/elfimg.h"
#include "elfimg/lz4.h"

#define MIB		(1024ull * 1024)
#define LEN		(64 * MIB)
#define CH		(256 * 1024)
#define NCH		(LEN / CH)
#define ROUNDS		3

static uint64_t tsc_per_us;
static struct elfimg_inflater inf;
static uint32_t table[ELFIMG_LZ4_TABLE];
static struct elfimg_chunk_info lz4ci[NCH], storedci[NCH];
static size_t nch = NCH;	/* chunks of the kind measured */

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint64_t now_us(void)
{
	return rdtsc() / tsc_per_us;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static void fill_half(uint8_t *mem)
{
	uint64_t *q = (uint64_t *)mem;

	for (size_t i = 0; i < LEN / 8; i++)
		q[i] = mix(12345 + (i % 512 >= 256 ? i - 256 : i));
}

static void fill_text(uint8_t *mem)
{
	static const char *words[] = { "the ", "kernel ", "page ", "struct ",
				       "0x0000", "ffff888", "return ", "int ",
				       "memory ", "\n\t", "NULL", "if (", ") {" };
	uint8_t *p = mem, *end = mem + LEN;
	uint64_t x = 7;

	while (p < end) {
		unsigned k = (unsigned)((x = mix(x)) % 14);
		size_t n = 8;

		if (k < 13)
			for (n = 0; words[k][n]; n++)
				;
		for (size_t i = 0; i < n && p < end; i++)
			*p++ = k < 13 ? (uint8_t)words[k][i] : 0;
		if ((x >> 20) % 5 == 0 && end - p >= 4) {	/* a number */
			uint32_t r = (uint32_t)mix(x);

			kj_memcpy(p, &r, 4);
			p += 4;
		}
	}
}

enum path { COPY, HASH, STORED2, STORED1, LZ42, LZ41, NPATHS };
static const char *const names[NPATHS] = {
	"copy", "xxh64", "stored-two-pass", "stored-one-pass",
	"lz4-two-pass", "lz4-one-pass"
};

/* One pass of @p over every chunk; false if a chunk did not verify. */
static bool run(enum path p, const uint8_t *mem, const uint8_t *enc, uint8_t *dst,
		uint64_t *sink)
{
	for (size_t k = 0; k < nch; k++) {
		const uint8_t *m = mem + k * CH;
		uint8_t *d = dst + k * CH;
		const struct elfimg_chunk_info *ci = p == LZ42 || p == LZ41 ?
						     &lz4ci[k] : &storedci[k];
		const uint8_t *src = ci->method == ELFIMG_METHOD_LZ4 ? enc + ci->offset : m;
		enum elfimg_err e = ELFIMG_OK;

		switch (p) {
		case COPY:
			kj_memcpy(d, m, CH);
			*sink += d[k];
			break;
		case HASH:
			*sink += elfimg_xxh64(m, CH, 0);
			break;
		case STORED2:
		case LZ42:
			e = elfimg_chunk_decode(&inf, ci, src, d, CH, false);
			if (!e && elfimg_chunk_check(ci, d, CH) != ci->check)
				e = ELFIMG_E_CHUNK_CRC;
			break;
		default:
			e = elfimg_chunk_decode(&inf, ci, src, d, CH, true);
			break;
		}
		if (e)
			return false;
	}
	return true;
}

static void measure(const char *kind, const uint8_t *mem, const uint8_t *enc, uint8_t *dst)
{
	for (enum path p = COPY; p < NPATHS; p++) {
		uint64_t best = ~0ull, sink = 0;

		for (int r = 0; r < ROUNDS; r++) {
			uint64_t t = now_us();

			if (!run(p, mem, enc, dst, &sink)) {
				Print(L"KJBENCH %a %a FAILED: a chunk did not verify\n", kind, names[p]);
				return;
			}
			t = now_us() - t;
			best = t < best ? t : best;
		}
		Print(L"KJBENCH %a %a %lu %lu (%lx)\n", kind, names[p], best / 1000,
		      best ? nch * CH * 1000000 / MIB / best : 0, sink & 1);
	}
}

/*
 * Memory from a real image (KJ_DECODE_MEM for decode-efi.sh): the file
 * \kjbench-mem.bin on the ESP, whole chunks of it, at most LEN bytes.
 */
static bool fill_file(EFI_HANDLE image, uint8_t *mem)
{
	EFI_LOADED_IMAGE *li = NULL;
	EFI_FILE_HANDLE root, f;
	UINTN n = LEN;

	if (uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol,
			      (void **)&li) || !li ||
	    !(root = LibOpenRoot(li->DeviceHandle)))
		return false;
	EFI_STATUS st = uefi_call_wrapper(root->Open, 5, root, &f, L"\\kjbench-mem.bin",
					  EFI_FILE_MODE_READ, 0);

	if (!st) {
		st = uefi_call_wrapper(f->Read, 3, f, &n, mem);
		uefi_call_wrapper(f->Close, 1, f);
	}
	uefi_call_wrapper(root->Close, 1, root);
	if (st || n < CH)
		return false;
	nch = n / CH;
	return true;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	EFI_PHYSICAL_ADDRESS a = 0, b = 0, c = 0;
	uint64_t t0;

	InitializeLib(image, systab);
	t0 = rdtsc();
	uefi_call_wrapper(BS->Stall, 1, 100000);
	tsc_per_us = (rdtsc() - t0) / 100000;
	/*
	 * Three regions, the destination an odd number of pages away from
	 * both sources: TCG's software TLB is indexed by the page number's
	 * low bits, and a copy between pages that share an index ran 3x
	 * slower here, which would measure where the buffers happen to lie,
	 * not the code.
	 */
	if (uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData,
			      LEN / 4096, &a) ||
	    uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData,
			      LEN / 4096 + 16, &b) ||
	    uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData,
			      LEN / 4096 + 64, &c) ||
	    elfimg_inflater_init(&inf)) {
		Print(L"KJBENCH cannot allocate (needs about 200 MiB)\n");
		return EFI_OUT_OF_RESOURCES;
	}
	c += (c - a) >> 12 & 1 ? 4096 : 0;	/* enc - mem: even pages */
	b += (b - a) >> 12 & 1 ? 0 : 4096;	/* dst - mem, dst - enc: odd */
	uint8_t *mem = (uint8_t *)(uintptr_t)a, *dst = (uint8_t *)(uintptr_t)b;
	uint8_t *enc = (uint8_t *)(uintptr_t)c;

	Print(L"KJBENCH start: %lu TSC ticks per us\n", tsc_per_us);
	for (int kind = 0; kind < 3; kind++) {
		static const char *const kinds[] = { "half", "text", "image" };
		size_t at = 0;

		if (kind == 0)
			fill_half(mem);
		else if (kind == 1)
			fill_text(mem);
		else if (!fill_file(image, mem))
			break;
		for (size_t k = 0; k < nch; k++) {
			uint64_t check = elfimg_xxh64(mem + k * CH, CH, 0);
			size_t n = elfimg_lz4_encode(mem + k * CH, CH, enc + at, CH, table);

			storedci[k] = (struct elfimg_chunk_info){
				.stored = CH, .check = check,
				.method = ELFIMG_METHOD_STORED, .xxh64 = true };
			lz4ci[k] = (struct elfimg_chunk_info){
				.offset = at, .stored = (uint32_t)n, .check = check,
				.method = ELFIMG_METHOD_LZ4, .xxh64 = true };
			if (!n) {	/* incompressible: the writer stores it */
				lz4ci[k] = storedci[k];
				continue;
			}
			at += (n + 15) & ~(size_t)15;
		}
		Print(L"KJBENCH %a lz4 %lu MiB -> %lu KiB\n", kinds[kind],
		      nch * CH / MIB, at / 1024);
		measure(kinds[kind], mem, enc, dst);
	}
	Print(L"KJBENCH done\n");
	return EFI_SUCCESS;
}
