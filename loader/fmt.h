/* SPDX-License-Identifier: MIT */
#ifndef KJ_LOADER_FMT_H
#define KJ_LOADER_FMT_H

#include <stdarg.h>
#include <stddef.h>

int kj_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int kj_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
