// SPDX-License-Identifier: MIT
/*
 * efi/entry.c - efi_main, load options, and leaving boot services.
 */
#include <efi.h>
#include <efilib.h>

#include "efi/kjefi.h"

EFI_HANDLE kjefi_image_handle;
static char load_opts[1024];

const char *kjefi_strerror(kjefi_status st)
{
	switch (st) {
	case EFI_SUCCESS: return "success";
	case EFI_LOAD_ERROR: return "load error";
	case EFI_INVALID_PARAMETER: return "invalid parameter";
	case EFI_UNSUPPORTED: return "unsupported";
	case EFI_BAD_BUFFER_SIZE: return "bad buffer size";
	case EFI_BUFFER_TOO_SMALL: return "buffer too small";
	case EFI_NOT_READY: return "not ready";
	case EFI_DEVICE_ERROR: return "device error";
	case EFI_WRITE_PROTECTED: return "write protected";
	case EFI_OUT_OF_RESOURCES: return "out of resources";
	case EFI_VOLUME_CORRUPTED: return "volume corrupted";
	case EFI_NO_MEDIA: return "no media";
	case EFI_MEDIA_CHANGED: return "media changed";
	case EFI_NOT_FOUND: return "not found";
	case EFI_ACCESS_DENIED: return "access denied";
	case EFI_ABORTED: return "aborted";
	default: return "firmware error";
	}
}

const char *kjefi_load_options(void)
{
	return load_opts;
}

static void grab_load_options(EFI_HANDLE image)
{
	EFI_LOADED_IMAGE *li;
	size_t o = 0;

	if (EFI_ERROR(BS->HandleProtocol(image, &gEfiLoadedImageProtocolGuid, (void **)&li)) ||
	    !li->LoadOptions)
		return;
	/* UCS-2 from GRUB and firmware boot entries; ASCII if it is not */
	const CHAR16 *w = li->LoadOptions;
	size_t n = li->LoadOptionsSize / 2;
	bool wide = n && ((const UINT8 *)li->LoadOptions)[1] == 0;
	if (!wide) {
		const char *a = li->LoadOptions;
		for (size_t i = 0; i < li->LoadOptionsSize && a[i] && o + 1 < sizeof(load_opts); i++)
			load_opts[o++] = a[i];
	} else {
		for (size_t i = 0; i < n && w[i] && o + 1 < sizeof(load_opts); i++)
			load_opts[o++] = w[i] < 0x80 ? (char)w[i] : '?';
	}
	load_opts[o] = 0;
}

/* Called by gnu-efi's crt0 with the SysV ABI: deliberately not EFIAPI. */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	InitializeLib(image, systab);
	kjefi_image_handle = image;
	/* the firmware's watchdog would reset us during a long read */
	BS->SetWatchdogTimer(0, 0, 0, NULL);
	grab_load_options(image);
	kjefi_time_init();
	return kj_loader_main(load_opts);
}

kjefi_status kjefi_exit_boot_services(void)
{
	UINTN size = 0, key, dsize;
	UINT32 dver;
	EFI_MEMORY_DESCRIPTOR *map;
	EFI_STATUS st;

	st = BS->GetMemoryMap(&size, NULL, &key, &dsize, &dver);
	if (st != EFI_BUFFER_TOO_SMALL)
		return st;
	size += 16 * dsize; /* room for what the allocation itself adds */
	map = kjefi_alloc(size);
	if (!map)
		return EFI_OUT_OF_RESOURCES;
	for (int tries = 0; tries < 8; tries++) {
		UINTN sz = size;
		st = BS->GetMemoryMap(&sz, map, &key, &dsize, &dver);
		if (EFI_ERROR(st))
			return st;
		st = BS->ExitBootServices(kjefi_image_handle, key);
		if (st != EFI_INVALID_PARAMETER)
			return st;
		/* the map changed under us (an event allocated): retry at once,
		 * without any other boot-services call but GetMemoryMap */
	}
	return st;
}

/* ---- platform ---- */
uint64_t kjefi_acpi_rsdp(void)
{
	static EFI_GUID acpi20 = ACPI_20_TABLE_GUID;
	for (UINTN i = 0; i < ST->NumberOfTableEntries; i++)
		if (!CompareMem(&ST->ConfigurationTable[i].VendorGuid, &acpi20, sizeof(acpi20)))
			return (uint64_t)(uintptr_t)ST->ConfigurationTable[i].VendorTable;
	return 0;
}

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

bool kjefi_cpu_has_la57(void)
{
	uint32_t r[4];
	cpuid(0, 0, r);
	if (r[0] < 7)
		return false;
	cpuid(7, 0, r);
	return r[2] & (1u << 16);
}

bool kjefi_cpu_has_gbpages(void)
{
	uint32_t r[4];
	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return false;
	cpuid(0x80000001, 0, r);
	return r[3] & (1u << 26);
}

bool kjefi_cpu_la57_active(void)
{
	uint64_t cr4;
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	return cr4 & (1ULL << 12);
}
