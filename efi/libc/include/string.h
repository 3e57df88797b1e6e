/* SPDX-License-Identifier: MIT */
/*
 * <string.h> of kjresume.efi's freestanding C library (efi/libs.mk puts
 * efi/libc/include on every EFI object's include path, with -nostdinc).
 *
 * All of it is efi/libc/string.c; memcpy and memset (rep movsb/stosb)
 * override gnu-efi's byte loops, which efi/libs.mk weakens in its copy
 * of libefi.a.
 * Only what libfdt, zlib and kjresume's own EFI code use is here.
 */
#ifndef KJ_LIBC_STRING_H
#define KJ_LIBC_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);	/* string.c: rep movsb */
void *memset(void *dst, int c, size_t n);		/* string.c: rep stosb */
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);

size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif
