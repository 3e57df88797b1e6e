// SPDX-License-Identifier: MIT
/*
 * relocate/selftest/efi.c - runs the real stub under OVMF (QEMU -cpu max,
 * which has LA57), the part the host tests cannot run: paging-mode
 * switches, CR3/GDT/segment set-up, the checksum halt, the 'L' guard.
 *
 * A small "image" (entry.S's code blob plus patterns) is planned twice
 * over the same destinations: plan 1 with A's paging mode la57_1, plan 2
 * with the other mode. After ExitBootServices it enters plan 1's stub;
 * the blob (stand-in for A) checks the CPU state, prints
 * "KJST stage 1 ok la57=X" and enters plan 2's stub from there, which
 * switches the paging mode back; the blob checks again, prints
 * "KJST stage 2 ok ...", "KJST done" and exits QEMU (isa-debug-exit).
 *
 * Mode: first byte of \kjst-mode on the boot volume:
 *   '0'  plan 1 4-level (no switch under 4-level OVMF), plan 2 5-level
 *   '1'  plan 1 5-level (4 -> 5 switch), plan 2 4-level (5 -> 4 switch)
 *   'c'  plan 1 5-level with a wrong expected checksum: stub prints 'C'
 *   'l'  plan with control pages above 4 GiB, then RELOC_CTL_LA57 forced
 *        on: the stub's guard prints 'L'
 * Both plans check the copy checksum (RELOC_CTL_CSUM) in '0' and '1'.
 * Scratch is EfiLoaderData, as the loader allocates it. Before entering
 * plan 1 it sets DF, clears CR0.WP and sets CR4.PGE, so that the stub has
 * to put them right; EFER.NXE and LA57 consistency are not perturbable
 * this way (OVMF already runs with NXE and uses NX in its tables).
 */
#include <efi.h>
#include <efilib.h>

#include "relocate/plan.h"

#define PG 4096ULL

extern const char st_blob_start[], st_blob_end[], st_entry[];

struct st_param {               /* entry.S P_* offsets */
	uint64_t magic, stack1, stack2, la57_1, la57_2, next_ctl, next_enter;
	uint64_t gdtr1[2], gdtr2[2];
	uint64_t nchk;
	uint64_t chk[32][2];
};

static uint64_t pattern(uint64_t a) { return a * 0x9e3779b97f4a7c15ULL + 0x4b4a5354; }

static EFI_STATUS alloc(EFI_ALLOCATE_TYPE how, uint64_t pages, uint64_t *a)
{
	EFI_PHYSICAL_ADDRESS p = *a;
	EFI_STATUS st = BS->AllocatePages(how, EfiLoaderData, pages, &p);
	*a = p;
	return st;
}

static void fill(uint64_t a, uint64_t bytes, uint8_t v)
{
	__builtin_memset((void *)(uintptr_t)a, v, bytes);
}

static char read_mode(EFI_HANDLE image)
{
	EFI_LOADED_IMAGE *li = NULL;
	EFI_FILE_HANDLE root, f;
	char buf[4] = { '1' };
	UINTN n = sizeof(buf);
	if (BS->HandleProtocol(image, &LoadedImageProtocol, (void **)&li) != EFI_SUCCESS)
		return '1';
	root = LibOpenRoot(li->DeviceHandle);
	if (!root || root->Open(root, &f, L"kjst-mode", EFI_FILE_MODE_READ, 0) != EFI_SUCCESS)
		return '1';
	f->Read(f, &n, buf);
	f->Close(f);
	return buf[0];
}

static int cpu_has_la57(void)
{
	uint32_t a = 7, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return (c >> 16) & 1;
}

static void sort_ranges(void *base, size_t n, size_t stride)
{
	char tmp[32], *p = base;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j && *(uint64_t *)(p + (j - 1) * stride) > *(uint64_t *)(p + j * stride); j--) {
			__builtin_memcpy(tmp, p + j * stride, stride);
			__builtin_memcpy(p + j * stride, p + (j - 1) * stride, stride);
			__builtin_memcpy(p + (j - 1) * stride, tmp, stride);
		}
}

static struct reloc_dest dest[4];
static struct reloc_mem mem[8];
static struct reloc_load load1[16], load2[16];
static size_t nd, nm;
static uint64_t d1, blob_pages = 2;
static struct st_param *param;

/* Image content of destination page pa, into buf. */
static void content(uint64_t pa, uint8_t *buf)
{
	uint64_t *q = (uint64_t *)buf;
	for (unsigned i = 0; i < PG / 8; i++)
		q[i] = pattern(pa + 8 * i);
	if (pa == d1) {
		__builtin_memcpy(buf, st_blob_start, (size_t)(st_blob_end - st_blob_start));
		__builtin_memcpy(buf + 0x800, param, sizeof(*param));
	}
}

/* The loader's part: read every load piece, sum the checksum. */
static uint64_t load_all(const struct reloc_plan *p)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < p->nload; i++)
		for (uint64_t k = 0; k < p->load[i].npages; k++) {
			uint8_t *buf = (uint8_t *)(uintptr_t)(p->load[i].buf + k * PG);
			content(p->load[i].dst + k * PG, buf);
			sum += reloc_csum(p->load[i].dst + k * PG, buf, PG);
		}
	return sum;
}

static void plan_or_die(struct reloc_plan_in *in, struct reloc_plan *p, const CHAR16 *what)
{
	enum reloc_err e = reloc_plan(in, p);
	if (e) {
		Print(L"KJST %s: reloc_plan: %a (missing %ld)\n", what, reloc_strerror(e),
		      p->missing_pages);
		__asm__ volatile("outb %%al, $0xf4" :: "a"(1));
		for (;;)
			__asm__ volatile("hlt");
	}
	Print(L"KJST %s: ctl %lx stub %lx root %lx la57 %d fw_la57 %d, %ld ctl pages, "
	      "%ld staged, %ld direct, %ld zero\n", what, p->ctl, p->stub, p->pt_root,
	      (int)in->la57, (int)in->fw_la57, p->ctl_pages, p->staged_pages,
	      p->direct_pages, p->zero_pages);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	static struct st_param prm;
	InitializeLib(image, systab);
	char mode = read_mode(image);
	int fw = reloc_fw_la57(), has = cpu_has_la57();
	Print(L"KJST mode %c: firmware CR4.LA57=%d, CPU LA57=%d\n", mode, fw, has);
	if (!has) {
		Print(L"KJST no LA57 on this CPU (use -cpu max)\n");
		return EFI_UNSUPPORTED;
	}
	param = &prm;

	/* Low: D1 (blob, direct), D2 (staged), Z (zero-filled), scratch S.
	 * High: D3 (staged), HS (scratch for mode 'l'). */
	uint64_t d2 = 0xffffffffULL, z = 0xffffffffULL, s = 0xffffffffULL;
	uint64_t d3 = 0x140000000ULL, hs = 0x150000000ULL;
	const uint64_t NS = 256;
	d1 = 0xffffffffULL;
	if (alloc(AllocateMaxAddress, blob_pages, &d1) || alloc(AllocateMaxAddress, 16, &d2) ||
	    alloc(AllocateMaxAddress, 8, &z) || alloc(AllocateMaxAddress, NS, &s)) {
		Print(L"KJST cannot allocate low memory\n");
		return EFI_OUT_OF_RESOURCES;
	}
	int high = alloc(AllocateAddress, 16, &d3) == EFI_SUCCESS;
	int highs = alloc(AllocateAddress, 64, &hs) == EFI_SUCCESS;
	Print(L"KJST D1 %lx D2 %lx Z %lx S %lx D3 %lx (%d) HS %lx (%d)\n",
	      d1, d2, z, s, d3, high, hs, highs);
	if (!high || (mode == 'l' && !highs)) {
		Print(L"KJST cannot allocate memory above 4 GiB (use -m 4G)\n");
		return EFI_OUT_OF_RESOURCES;
	}
	/* Garbage where the copy must write or zero. */
	fill(d2, 16 * PG, 0xee);
	fill(z, 8 * PG, 0xee);
	fill(d3, 16 * PG, 0xee);

	dest[nd++] = (struct reloc_dest){ d1, d1 + blob_pages * PG, 0 };
	dest[nd++] = (struct reloc_dest){ d2, d2 + 16 * PG, 0 };
	dest[nd++] = (struct reloc_dest){ z, z + 8 * PG, 1 };
	dest[nd++] = (struct reloc_dest){ d3, d3 + 16 * PG, 0 };
	mem[nm++] = (struct reloc_mem){ d1, d1 + blob_pages * PG, RELOC_MEM_FREE };
	mem[nm++] = (struct reloc_mem){ d2, d2 + 16 * PG, RELOC_MEM_BOOT };
	mem[nm++] = (struct reloc_mem){ z, z + 8 * PG, RELOC_MEM_FREE };
	mem[nm++] = (struct reloc_mem){ s, s + NS * PG, RELOC_MEM_FREE };
	mem[nm++] = (struct reloc_mem){ d3, d3 + 16 * PG, RELOC_MEM_BOOT };
	if (highs)
		mem[nm++] = (struct reloc_mem){ hs, hs + 64 * PG, RELOC_MEM_FREE };
	sort_ranges(dest, nd, sizeof(dest[0]));
	sort_ranges(mem, nm, sizeof(mem[0]));

	uint64_t stub_size = (uint64_t)(reloc_stub_end - reloc_stub_start);
	uint64_t enter_off = (uint64_t)((const char *)reloc_enter - reloc_stub_start);
	int la57_1 = mode == '0' ? 0 : 1;
	/* Plan 1 uses the low half of S (lowest-first); its tables map all
	 * of S, so plan 2's control pages in the high half are reachable
	 * when stage 1 enters plan 2's stub. */
	struct reloc_range s1 = { s, s + NS * PG }, s2 = { s + NS / 2 * PG, s + NS * PG };
	struct reloc_range sh = { hs, hs + 64 * PG };
	struct reloc_plan p1 = { .load = load1, .load_cap = 16 }, p2 = { .load = load2, .load_cap = 16 };
	struct reloc_plan_in in1 = {
		.dest = dest, .ndest = nd, .mem = mem, .nmem = nm,
		.scratch = mode == 'l' ? &sh : &s1, .nscratch = 1,
		.stub_size = stub_size, .entry = d1 + (uint64_t)(st_entry - st_blob_start),
		.la57 = mode == 'l' ? 0 : la57_1, .fw_la57 = mode == 'l' ? 0 : fw,
		.gb_pages = mode == '1', .csum = true,
		/* stage 1: the 6.1 workaround GDTR (never dereferenced) */
		.final_limit = 0x7f, .final_base = 0xfffffe0000001000ULL,
	};
	plan_or_die(&in1, &p1, L"plan 1");
	if (mode != 'c' && mode != 'l') {
		struct reloc_plan_in in2 = in1;
		in2.scratch = &s2;
		in2.la57 = !la57_1;
		in2.fw_la57 = la57_1;
		in2.gb_pages = !in1.gb_pages;
		in2.final_limit = 0;
		in2.final_base = 0;
		plan_or_die(&in2, &p2, L"plan 2");
		if (p1.ctl_pages + p1.staged_pages > NS / 2) {
			Print(L"KJST plan 1 uses plan 2's scratch\n");
			return EFI_ABORTED;
		}
	}
	struct reloc_control *c1 = (struct reloc_control *)(uintptr_t)p1.ctl;
	struct reloc_control *c2 = (struct reloc_control *)(uintptr_t)p2.ctl;
	prm.magic = 0x4b4a5354;
	prm.stack1 = c1->stack_top;
	prm.la57_1 = in1.la57;
	prm.gdtr1[0] = 0x7f;
	prm.gdtr1[1] = 0xfffffe0000001000ULL;
	if (p2.ctl) {
		prm.stack2 = c2->stack_top;
		prm.la57_2 = !la57_1;
		prm.next_ctl = p2.ctl;
		prm.next_enter = p2.stub + enter_off;
		prm.gdtr2[0] = c2->gdtr_limit;
		prm.gdtr2[1] = c2->gdtr_base;
	}
	uint64_t chk[] = { d1 + PG, d2, d2 + 16 * PG - 8, d3, d3 + 7 * PG + 80, d3 + 16 * PG - 8 };
	for (unsigned i = 0; i < sizeof(chk) / sizeof(chk[0]); i++) {
		prm.chk[prm.nchk][0] = chk[i];
		prm.chk[prm.nchk++][1] = pattern(chk[i]);
	}
	uint64_t zchk[] = { z, z + 3 * PG + 8, z + 8 * PG - 8 };
	for (unsigned i = 0; i < 3; i++) {
		prm.chk[prm.nchk][0] = zchk[i];
		prm.chk[prm.nchk++][1] = 0;
	}

	uint64_t sum1 = load_all(&p1);
	if (reloc_set_csum(&p1, 0, mode == 'c' ? sum1 + 1 : sum1)) {
		Print(L"KJST reloc_set_csum failed\n");
		return EFI_ABORTED;
	}
	if (p2.ctl) {
		uint64_t sum2 = load_all(&p2);
		if (sum2 != sum1 || reloc_set_csum(&p2, 0, sum2)) {
			Print(L"KJST plan 2 checksum %lx != %lx\n", sum2, sum1);
			return EFI_ABORTED;
		}
		__builtin_memcpy((void *)(uintptr_t)p2.stub, reloc_stub_start, stub_size);
	}
	if (mode == 'l')
		c1->flags |= RELOC_CTL_LA57 * !fw; /* force a switch it cannot do */
	Print(L"KJST checksum %lx; entering plan 1\n", sum1);
	__builtin_memcpy((void *)(uintptr_t)p1.stub, reloc_stub_start, stub_size);

	static UINT8 map[64 * 1024];
	UINTN size, key, dsize;
	UINT32 ver;
	EFI_STATUS st = EFI_ABORTED;
	for (int tries = 0; tries < 4 && st != EFI_SUCCESS; tries++) {
		size = sizeof(map);
		if (BS->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)map, &key, &dsize, &ver) == EFI_SUCCESS)
			st = BS->ExitBootServices(image, key);
	}
	if (st != EFI_SUCCESS)
		return st;
	/* Make the firmware's state worse than OVMF leaves it, so that the
	 * stub must fix it: DF=1, CR0.WP=0, CR4.PGE=1. (EFER.NXE cannot be
	 * cleared: OVMF's own tables use NX.) */
	__asm__ volatile("std\n\t"
			 "movq %%cr0, %%rax\n\tbtrq $16, %%rax\n\tmovq %%rax, %%cr0\n\t"
			 "movq %%cr4, %%rax\n\tbtsq $7, %%rax\n\tmovq %%rax, %%cr4"
			 ::: "rax", "memory", "cc");
	void (*enter)(uint64_t) = (void (*)(uint64_t))(uintptr_t)(p1.stub + enter_off);
	enter(p1.ctl);
	return EFI_ABORTED;
}
