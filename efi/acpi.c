// SPDX-License-Identifier: MIT
/*
 * efi/acpi.c - put the chipset into ACPI mode after ExitBootServices.
 *
 * A resumed kernel never runs its boot-time acpi_enable(): it expects the
 * SCI_EN bit it left set. Firmware that hands over in legacy mode (the
 * common case on real hardware) must be switched the way Linux does at
 * boot: write ACPI_ENABLE to SMI_CMD and wait for PM1 SCI_EN.
 */
#include <stdint.h>

#include "efi/io.h"
#include "efi/kjefi.h"

static uint32_t rd32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
static uint64_t rd64(uint64_t a) { return *(volatile uint64_t *)(uintptr_t)a; }

static bool sig_is(uint64_t a, const char *s)
{
	const char *p = (const char *)(uintptr_t)a;
	return p[0] == s[0] && p[1] == s[1] && p[2] == s[2] && p[3] == s[3];
}

static uint64_t find_fadt(uint64_t rsdp)
{
	const uint8_t *r = (const uint8_t *)(uintptr_t)rsdp;
	if (!rsdp || r[15] < 2)
		return 0;
	uint64_t xsdt = rd64(rsdp + 24);
	if (!xsdt || !sig_is(xsdt, "XSDT"))
		return 0;
	uint32_t len = rd32(xsdt + 4);
	for (uint64_t p = xsdt + 36; p + 8 <= xsdt + len; p += 8) {
		uint64_t t = rd64(p);
		if (t && sig_is(t, "FACP"))
			return t;
	}
	return 0;
}

const char *kjefi_acpi_enable(uint64_t rsdp)
{
	uint64_t fadt = find_fadt(rsdp);
	if (!fadt)
		return "no FADT";
	uint32_t smi_cmd = rd32(fadt + 48);
	uint8_t enable = *(volatile uint8_t *)(uintptr_t)(fadt + 52);
	uint32_t pm1a = rd32(fadt + 64);
	if (!pm1a)
		return "no PM1a control block (hardware-reduced ACPI)";
	if (inw((uint16_t)pm1a) & 1)
		return "already in ACPI mode";
	if (!smi_cmd || !enable)
		return "legacy mode, but no SMI_CMD to leave it";
	outb((uint16_t)smi_cmd, enable);
	for (unsigned long i = 0; i < 100000000UL; i++)
		if (inw((uint16_t)pm1a) & 1)
			return "switched to ACPI mode";
	return "ACPI_ENABLE sent, SCI_EN did not come up";
}
