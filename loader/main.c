// SPDX-License-Identifier: MIT
/*
 * kjresume.efi entry point.
 *
 * For now the loader only identifies itself and returns, so that a boot
 * manager (GRUB's chainloader, the firmware's boot menu) falls through to
 * its next entry: the normal boot.
 */
#include <efi.h>
#include <efilib.h>

/* Called by gnu-efi's crt0 with the SysV ABI: deliberately not EFIAPI. */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	InitializeLib(image, systab);
	Print(L"kjresume " KJ_VERSION_W "\n");
	return EFI_NOT_FOUND;
}
