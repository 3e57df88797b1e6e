// SPDX-License-Identifier: MIT
/*
 * The string functions of kjresume.efi's freestanding C library (see
 * include/string.h). efi/libs.mk builds
 * this file with -fno-tree-loop-distribute-patterns so that GCC does not
 * turn these loops back into calls to themselves.
 */
#include <stdint.h>
#include <string.h>

#include "elfimg/compat.h"

/*
 * Every restored page goes through these. Plain 32-byte load/store loops,
 * not rep movs/stos (elfimg/compat.h, kj_copy_words(), says why;
 * relocate/stub.S does the same).
 */
void *memcpy(void *dst, const void *src, size_t n)
{
	kj_copy_words(dst, src, n);
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	uint64_t v = (uint8_t)c * 0x0101010101010101ULL;

	for (; n >= 32; n -= 32, d += 32) {
		__builtin_memcpy(d, &v, 8);
		__builtin_memcpy(d + 8, &v, 8);
		__builtin_memcpy(d + 16, &v, 8);
		__builtin_memcpy(d + 24, &v, 8);
	}
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d == s || n == 0)
		return dst;
	if ((uintptr_t)d - (uintptr_t)s >= n) {
		/* d below s, or no overlap: front to back */
		while (n--)
			*d++ = *s++;
	} else {
		/* d inside [s, s + n): back to front */
		d += n;
		s += n;
		while (n--)
			*--d = *--s;
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

void *memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (; n; n--, p++)
		if (*p == (unsigned char)c)
			return (void *)(uintptr_t)p;
	return NULL;
}

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)(uintptr_t)s;
		if (!*s)
			return NULL;
	}
}

char *strrchr(const char *s, int c)
{
	const char *last = NULL;

	for (;; s++) {
		if (*s == (char)c)
			last = s;
		if (!*s)
			return (char *)(uintptr_t)last;
	}
}

int strcmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	while (*x && *x == *y) {
		x++;
		y++;
	}
	return (*x > *y) - (*x < *y);
}

int strncmp(const char *a, const char *b, size_t n)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	for (; n; n--, x++, y++) {
		if (*x != *y)
			return (*x > *y) - (*x < *y);
		if (!*x)
			return 0;
	}
	return 0;
}
