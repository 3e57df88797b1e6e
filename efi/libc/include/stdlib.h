/* SPDX-License-Identifier: MIT */
/*
 * <stdlib.h> of kjresume.efi's freestanding C library. libfdt_env.h
 * includes it but the read-only libfdt uses nothing from it; there is no
 * malloc in the loader (zlib runs with Z_SOLO and the caller's allocator).
 */
#ifndef KJ_LIBC_STDLIB_H
#define KJ_LIBC_STDLIB_H

#include <stddef.h>

#endif
