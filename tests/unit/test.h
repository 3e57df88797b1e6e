/* SPDX-License-Identifier: MIT */
/*
 * Minimal host test harness: TEST(name) { ... } registers a test; the
 * ASSERT* macros end the current test on failure. Every test binary ends
 * its output with "N passed, N failed" (tests/run.sh adds these up).
 */
#ifndef KJ_TEST_H
#define KJ_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
extern jmp_buf test_jmp;
extern const char *test_current;

#define TEST(name)                                                        \
	static void test_##name(void);                                    \
	__attribute__((constructor)) static void test_reg_##name(void)    \
	{ test_register(#name, test_##name); }                            \
	static void test_##name(void)

#define TEST_FAIL(...)                                                    \
	do {                                                              \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);        \
		fprintf(stderr, __VA_ARGS__);                             \
		fputc('\n', stderr);                                      \
		longjmp(test_jmp, 1);                                     \
	} while (0)

#define ASSERT(c)                                                         \
	do { if (!(c)) TEST_FAIL("assertion failed: %s", #c); } while (0)

#define ASSERT_EQ(a, b)                                                   \
	do {                                                              \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);          \
		if (_a != _b)                                             \
			TEST_FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, \
				  #a, #b, _a, _b);                        \
	} while (0)

/* The exit status of a shell command made with printf's FMT (-1: it did
 * not exit). */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One scratch directory per test binary, made on first use, removed at
 * exit unless KJ_KEEP is set (for debugging a failure). NULL: none. */
const char *test_tmpdir(void);

#endif
