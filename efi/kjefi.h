/* SPDX-License-Identifier: MIT */
/*
 * efi/kjefi.h - the loader's only window onto UEFI.
 *
 * Everything the resume flow needs from firmware goes through these calls:
 * console, memory map and page allocation, image sources (a file on a
 * firmware-readable filesystem, or a GPT partition through Disk I/O),
 * ExitBootServices, and the few things done after it (serial output,
 * ACPI mode). This header has no <efi.h> types, so loader/ stays free of
 * them.
 *
 * Error currency: kjefi_status, which is the firmware's EFI_STATUS value
 * (0 = success, high bit set = error); kjefi_strerror() names it. The
 * loader converts it to its own errors at the call site.
 */
#ifndef KJ_EFI_KJEFI_H
#define KJ_EFI_KJEFI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/fmt.h"

typedef uint64_t kjefi_status;
#define KJEFI_OK 0
#define KJEFI_ERR(n) ((1ULL << 63) | (n))
#define KJEFI_E_INVALID     KJEFI_ERR(2)
#define KJEFI_E_UNSUPPORTED KJEFI_ERR(3)
#define KJEFI_E_BUFFER      KJEFI_ERR(5)
#define KJEFI_E_DEVICE      KJEFI_ERR(7)
#define KJEFI_E_NOMEM       KJEFI_ERR(9)
#define KJEFI_E_NOT_FOUND   KJEFI_ERR(14)
#define KJEFI_E_ABORTED     KJEFI_ERR(21)

const char *kjefi_strerror(kjefi_status st);

/* The loader's body; efi/entry.c calls it with the parsed options. */
struct kj_options;
kjefi_status kj_loader_main(const char *options);

/* ---- console (ConOut, which OVMF mirrors to the serial port) ---- */
/* printf subset: %s %c %d %u %x %X %p %%, flags 0 and -, width, l/ll/z. */
void kjefi_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kjefi_vprintf(const char *fmt, va_list ap);
/* Wait up to @ms for a key; true if one was pressed. */
bool kjefi_wait_key(unsigned ms);

/* ---- time ---- */
/* Calibrate the TSC against the firmware's Stall(); then kjefi_now_us(). */
void kjefi_time_init(void);
uint64_t kjefi_now_us(void);

/* ---- memory ---- */
enum kjefi_mem_kind {
	KJEFI_MEM_FREE,		/* EfiConventionalMemory */
	KJEFI_MEM_BOOT,		/* boot-services or loader code/data */
	KJEFI_MEM_OTHER,	/* runtime, ACPI, reserved, MMIO, ... */
};
struct kjefi_mem {
	uint64_t start, end;	/* [start, end), page aligned */
	uint32_t efi_type;	/* EFI_MEMORY_TYPE */
	uint32_t kind;		/* enum kjefi_mem_kind */
	uint64_t attr;
};
/*
 * The current memory map, sorted by start, one entry per descriptor.
 * *@n receives the number of entries; KJEFI_E_BUFFER if @cap is too small.
 */
kjefi_status kjefi_memmap(struct kjefi_mem *out, size_t cap, size_t *n);
/* E820 type Linux's EFI stub gives an EFI memory type (1 RAM, 2 reserved...). */
uint32_t kjefi_e820_type(uint32_t efi_type, uint64_t attr);
const char *kjefi_mem_type_name(uint32_t efi_type);

/* Page allocations, as EfiLoaderData. */
kjefi_status kjefi_alloc_at(uint64_t addr, uint64_t pages);
kjefi_status kjefi_alloc_below(uint64_t pages, uint64_t max_addr, uint64_t *addr);
void kjefi_free_pages(uint64_t addr, uint64_t pages);
/* Pool allocations, 8-byte aligned. */
void *kjefi_alloc(size_t bytes);
void kjefi_free(void *p);

/* ---- image sources ---- */
struct kjefi_src;
/*
 * A file on the filesystem the loader itself was loaded from (the ESP,
 * or whatever GRUB chainloaded it from). @path uses '/' or '\'; a path
 * without a leading separator is relative to the loader's directory.
 */
kjefi_status kjefi_open_file(const char *path, bool writable,
			     struct kjefi_src **out);
/*
 * A GPT partition, as a raw byte range, found by its unique partition
 * GUID ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", case-insensitive) or, if
 * @guid is NULL, by its GPT partition name (@label, ASCII).
 */
kjefi_status kjefi_open_partition(const char *guid, const char *label,
				  struct kjefi_src **out);
uint64_t kjefi_src_size(const struct kjefi_src *s);
const char *kjefi_src_name(const struct kjefi_src *s);
kjefi_status kjefi_src_read(struct kjefi_src *s, uint64_t off, void *buf,
			    size_t len);
/* Write and flush to the medium (Disk I/O + Block I/O FlushBlocks). */
kjefi_status kjefi_src_write(struct kjefi_src *s, uint64_t off,
			     const void *buf, size_t len);
void kjefi_src_close(struct kjefi_src *s);

/* ---- the loader's own settings ---- */
/* LoadOptions as ASCII (NUL-terminated, owned by efi/); "" if none. */
const char *kjefi_load_options(void);
/* Read a small text file beside the loader; NULL if absent. */
char *kjefi_read_config(const char *name, size_t max);

/* ---- platform ---- */
/* Address of the ACPI 2.0 RSDP from the configuration table, or 0. */
uint64_t kjefi_acpi_rsdp(void);
/* CPUID: 5-level paging and 1 GiB pages available; LA57 currently on. */
bool kjefi_cpu_has_la57(void);
bool kjefi_cpu_has_gbpages(void);
bool kjefi_cpu_la57_active(void);

/*
 * The other CPUs: how many are enabled (1 if the firmware has no MP
 * services), start @fn(@arg) on every AP without waiting, wait for all of
 * them to return. @fn must call no firmware service.
 */
unsigned kjefi_mp_cpus(void);
kjefi_status kjefi_mp_start(void (*fn)(void *), void *arg);
void kjefi_mp_wait(void);

/*
 * ExitBootServices with the usual retry (the map key changes when the
 * firmware allocates during the call). After success only the functions
 * below may be used.
 */
kjefi_status kjefi_exit_boot_services(void);

/* After ExitBootServices: polled COM1 output, and ACPI mode. */
void kjefi_serial_puts(const char *s);
void kjefi_serial_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Put the chipset into ACPI mode if the firmware left it in legacy mode
 * (FADT SMI_CMD/ACPI_ENABLE, wait for PM1 SCI_EN). Returns a short
 * description of what was done, for the log.
 */
const char *kjefi_acpi_enable(uint64_t rsdp);

#endif
