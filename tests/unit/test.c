/* SPDX-License-Identifier: MIT */
#include "test.h"

#include <stdarg.h>
#include <sys/wait.h>

#define MAX_TESTS 512

static struct { const char *name; test_fn fn; } tests[MAX_TESTS];
static int ntests;
jmp_buf test_jmp;
const char *test_current;

void test_register(const char *name, test_fn fn)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

int test_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char tmpdir[64];

static void tmpdir_remove(void)
{
	if (getenv("KJ_KEEP")) {
		fprintf(stderr, "kept %s\n", tmpdir);
		return;
	}
	if (test_sh("rm -rf %s", tmpdir) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

const char *test_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/kj-test-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			tmpdir[0] = 0;
			return NULL;
		}
		atexit(tmpdir_remove);
	}
	return tmpdir;
}

/*
 * argv[1], if given, runs only the tests whose name contains it; a build
 * with -DKJ_TEST_ONLY='"NAME"' (a sanitizer variant) runs only those by
 * default.
 */
int main(int argc, char **argv)
{
	/* volatile: live across setjmp/longjmp */
	volatile int passed = 0, failed = 0;
#ifdef KJ_TEST_ONLY
	const char *only = argc > 1 ? argv[1] : KJ_TEST_ONLY;
#else
	const char *only = argc > 1 ? argv[1] : NULL;
#endif

	for (volatile int i = 0; i < ntests; i++) {
		if (only && !strstr(tests[i].name, only))
			continue;
		test_current = tests[i].name;
		if (setjmp(test_jmp) == 0) {
			tests[i].fn();
			printf("ok   %s\n", tests[i].name);
			passed++;
		} else {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
