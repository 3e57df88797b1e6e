// SPDX-License-Identifier: MIT
/*
 * efi/mem.c - the firmware memory map and page/pool allocations.
 */
#include <efi.h>
#include <efilib.h>

#include "efi/kjefi.h"

#define PAGE 4096ULL

const char *kjefi_mem_type_name(uint32_t t)
{
	static const char *const names[] = {
		"Reserved", "LoaderCode", "LoaderData", "BootServicesCode",
		"BootServicesData", "RuntimeServicesCode", "RuntimeServicesData",
		"Conventional", "Unusable", "ACPIReclaim", "ACPINVS", "MMIO",
		"MMIOPort", "PalCode", "Persistent", "Unaccepted",
	};
	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "Other";
}

/*
 * The E820 type Linux's x86 EFI stub (setup_e820()) reports for an EFI
 * memory type: the loader compares today's map with the one A booted with
 * in that vocabulary.
 */
uint32_t kjefi_e820_type(uint32_t t, uint64_t attr)
{
	switch (t) {
	case EfiLoaderCode: case EfiLoaderData:
	case EfiBootServicesCode: case EfiBootServicesData:
	case EfiConventionalMemory:
		if (attr & 0x40000ULL) /* EFI_MEMORY_SP: soft reserved */
			return 0xefffffff;
		return 1;
	case EfiUnusableMemory: return 5;
	case EfiACPIReclaimMemory: return 3;
	case EfiACPIMemoryNVS: return 4;
	case 14: return 7; /* EfiPersistentMemory */
	case 15: /* EfiUnacceptedMemoryType: Linux accepts it as RAM */
		return 1;
	default: return 2;
	}
}

static uint32_t kind_of(uint32_t t)
{
	switch (t) {
	case EfiConventionalMemory:
		return KJEFI_MEM_FREE;
	case EfiLoaderCode: case EfiLoaderData:
	case EfiBootServicesCode: case EfiBootServicesData:
		return KJEFI_MEM_BOOT;
	default:
		return KJEFI_MEM_OTHER;
	}
}

/*
 * The raw map lives in a static buffer, not the pool: freeing a pool
 * buffer after the snapshot would hand pages the snapshot saw as in use
 * back to the allocator, and the loader must be able to trust that every
 * page the snapshot calls busy stays out of its later allocations.
 */
static UINT8 map_buf[256 * 1024] __attribute__((aligned(8)));

kjefi_status kjefi_memmap(struct kjefi_mem *out, size_t cap, size_t *n)
{
	UINTN size = sizeof(map_buf), key, dsize;
	UINT32 dver;
	EFI_MEMORY_DESCRIPTOR *map = (EFI_MEMORY_DESCRIPTOR *)map_buf;
	EFI_STATUS st;

	*n = 0;
	st = BS->GetMemoryMap(&size, map, &key, &dsize, &dver);
	if (EFI_ERROR(st))
		return st;
	size_t cnt = size / dsize;
	if (cnt > cap) {
		*n = cnt;
		return EFI_BUFFER_TOO_SMALL;
	}
	for (size_t i = 0; i < cnt; i++) {
		EFI_MEMORY_DESCRIPTOR *d = (void *)((UINT8 *)map + i * dsize);
		struct kjefi_mem m = {
			.start = d->PhysicalStart,
			.end = d->PhysicalStart + d->NumberOfPages * PAGE,
			.efi_type = d->Type,
			.kind = kind_of(d->Type),
			.attr = d->Attribute,
		};
		/* insertion sort: firmware maps are short and nearly sorted */
		size_t j = i;
		while (j && out[j - 1].start > m.start) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = m;
	}
	*n = cnt;
	return EFI_SUCCESS;
}

kjefi_status kjefi_alloc_at(uint64_t addr, uint64_t pages)
{
	EFI_PHYSICAL_ADDRESS a = addr;
	return BS->AllocatePages(AllocateAddress, EfiLoaderData, pages, &a);
}

kjefi_status kjefi_alloc_below(uint64_t pages, uint64_t max_addr, uint64_t *addr)
{
	EFI_PHYSICAL_ADDRESS a = max_addr;
	EFI_STATUS st = BS->AllocatePages(max_addr ? AllocateMaxAddress : AllocateAnyPages,
					  EfiLoaderData, pages, &a);
	if (!EFI_ERROR(st))
		*addr = a;
	return st;
}

void kjefi_free_pages(uint64_t addr, uint64_t pages)
{
	BS->FreePages(addr, pages);
}

void *kjefi_alloc(size_t bytes)
{
	void *p = NULL;
	if (BS->AllocatePool(EfiLoaderData, bytes, &p) != EFI_SUCCESS)
		return NULL;
	return p;
}

void kjefi_free(void *p)
{
	if (p)
		BS->FreePool(p);
}
