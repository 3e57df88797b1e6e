// SPDX-License-Identifier: MIT
/*
 * efi/console.c - formatted output to ConOut (before ExitBootServices) or
 * to COM1 (after), key polling, and a TSC clock.
 */
#include <efi.h>
#include <efilib.h>

#include "efi/io.h"
#include "efi/kjefi.h"

void kjefi_vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	CHAR16 out[1030];
	size_t o = 0;

	kj_vsnprintf(buf, sizeof(buf), fmt, ap);
	for (const char *p = buf; *p; p++) {
		if (*p == '\n')
			out[o++] = L'\r';
		out[o++] = (unsigned char)*p;
	}
	out[o] = 0;
	ST->ConOut->OutputString(ST->ConOut, out);
}

void kjefi_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kjefi_vprintf(fmt, ap);
	va_end(ap);
}

bool kjefi_wait_key(unsigned ms)
{
	EFI_INPUT_KEY key;

	for (unsigned t = 0; t <= ms; t += 10) {
		if (ST->ConIn->ReadKeyStroke(ST->ConIn, &key) == EFI_SUCCESS)
			return true;
		BS->Stall(10000);
	}
	return false;
}

/* ---- time ---- */
static uint64_t tsc_per_us = 1;

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

void kjefi_time_init(void)
{
	uint64_t t0 = rdtsc();
	BS->Stall(20000);
	uint64_t d = rdtsc() - t0;
	tsc_per_us = d / 20000 ? d / 20000 : 1;
}

uint64_t kjefi_now_us(void)
{
	return rdtsc() / tsc_per_us;
}

/* ---- COM1, polled: usable after ExitBootServices ---- */
static void serial_putc(char c)
{
	/* bounded wait: a missing UART must not hang the resume */
	for (unsigned i = 0; i < 100000 && !(inb(0x3fd) & 0x20); i++)
		;
	outb(0x3f8, (uint8_t)c);
}

void kjefi_serial_puts(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			serial_putc('\r');
		serial_putc(*s);
	}
}

void kjefi_serial_printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	kj_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kjefi_serial_puts(buf);
}
