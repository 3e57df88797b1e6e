/* SPDX-License-Identifier: MIT */
/*
 * The only C library the elfimg reader uses: memcpy and memset. On the
 * host they come from libc; in the EFI build gnu-efi's libefi.a exports
 * both. Nothing else (no memcmp/memmove/strlen: libefi lacks the first
 * two) is called from elfimg/ itself; libfdt and zlib bring their own
 * needs, which their EFI build must satisfy.
 */
#ifndef KJ_ELFIMG_COMPAT_H
#define KJ_ELFIMG_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define kj_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define kj_memset(d, c, n) __builtin_memset((d), (c), (n))

static inline bool kj_memeq(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

/* Copy @n bytes to a destination at or above the source (may overlap). */
static inline void kj_move_up(uint8_t *d, const uint8_t *s, size_t n)
{
	size_t step = (size_t)(d - s);

	if (d == s || n == 0)
		return;
	if (step >= n) {
		kj_memcpy(d, s, n);
		return;
	}
	/* back to front, in non-overlapping blocks of @step bytes */
	while (n > 0) {
		size_t k = n < step ? n : step;

		n -= k;
		kj_memcpy(d + n, s + n, k);
	}
}

/*
 * Copy @n bytes (not overlapping) with 32-byte runs of 8-byte loads and
 * stores, not rep movs: natively both are bound by memory, but emulators
 * that run a rep string instruction one element per dispatch (QEMU's TCG,
 * where the benchmarks run) copy a byte at a time, and glibc's memcpy
 * uses rep movsb for large blocks on CPUs with ERMS. The bulk copies of
 * both sides go through it: kjresume.efi's memcpy (efi/libc/string.c,
 * built so that GCC does not turn the loops back into a memcpy call) and
 * kjsave's reads of A's memory and its direct-write window.
 */
static inline void kj_copy_words(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	for (; n >= 32; n -= 32, d += 32, s += 32) {
		uint64_t a, b, c, e;

		__builtin_memcpy(&a, s, 8);
		__builtin_memcpy(&b, s + 8, 8);
		__builtin_memcpy(&c, s + 16, 8);
		__builtin_memcpy(&e, s + 24, 8);
		__builtin_memcpy(d, &a, 8);
		__builtin_memcpy(d + 8, &b, 8);
		__builtin_memcpy(d + 16, &c, 8);
		__builtin_memcpy(d + 24, &e, 8);
	}
	while (n--)
		*d++ = *s++;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "elfimg reads little-endian structures in place"
#endif

#endif
