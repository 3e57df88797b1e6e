# SPDX-License-Identifier: MIT
# elfimg: the image format's reader (pure, EFI-clean) and writer (host).
#
# The reader (ELFIMG_READ_SRCS) is linked into kjresume.efi (efi/libs.mk)
# with the EFI builds of libfdt and zlib; elfimg-efi-check compiles it with
# the EFI flags on its own, so that it stays EFI-clean.

ELFIMG_READ_SRCS  := elfimg/read.c elfimg/chunk.c elfimg/xxh64.c elfimg/lz4.c
ELFIMG_WRITE_SRCS := elfimg/write.c elfimg/lz4enc.c
ELFIMG_HDRS       := elfimg/elfimg.h elfimg/format.h elfimg/compat.h \
		     elfimg/write.h elfimg/lz4.h elfimg/xxh64.h

UNIT_TESTS += $(B)/tests/test-elfimg
$(B)/tests/test-elfimg: tests/unit/test-elfimg.c $(ELFIMG_READ_SRCS) \
	$(ELFIMG_WRITE_SRCS) $(ELFIMG_HDRS)
LDLIBS_test-elfimg := -lfdt -lz

# The writer's compressing threads under ThreadSanitizer (only the
# writer_threads tests: the rest gains nothing from it and runs slowly)
UNIT_TESTS += $(B)/tests/test-elfimg-tsan
$(B)/tests/test-elfimg-tsan: tests/unit/test.c tests/unit/test-elfimg.c \
	$(ELFIMG_READ_SRCS) $(ELFIMG_WRITE_SRCS) $(ELFIMG_HDRS) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(HOST_CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -fsanitize=thread \
		-DKJ_TEST_ONLY='"writer_threads"' $(filter %.c,$^) -o $@ -lfdt -lz

# the codec against the reference liblz4 (host only, never in the .efi)
UNIT_TESTS += $(B)/tests/test-lz4
$(B)/tests/test-lz4: tests/unit/test-lz4.c elfimg/lz4.c elfimg/lz4enc.c \
	elfimg/xxh64.c elfimg/lz4.h elfimg/xxh64.h
LDLIBS_test-lz4 := -llz4

FUZZ_TARGETS += $(B)/fuzz/fuzz-elfimg
$(B)/fuzz/fuzz-elfimg: tests/fuzz/fuzz-elfimg.c $(ELFIMG_READ_SRCS) $(ELFIMG_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -DELFIMG_FUZZING $(filter %.c,$^) -o $@ -lfdt -lz

FUZZ_TARGETS += $(B)/fuzz/fuzz-lz4
$(B)/fuzz/fuzz-lz4: tests/fuzz/fuzz-lz4.c elfimg/lz4.c elfimg/lz4enc.c \
	elfimg/xxh64.c elfimg/lz4.h elfimg/xxh64.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@ -llz4

BENCH_TARGETS += $(B)/bench/bench-elfimg
$(B)/bench/bench-elfimg: tests/bench/bench-elfimg.c $(ELFIMG_READ_SRCS) \
	$(ELFIMG_WRITE_SRCS) $(ELFIMG_HDRS)
	@mkdir -p $(dir $@)
	$(HOST_CC) $(BENCH_CFLAGS) $(filter %.c,$^) -o $@ -lfdt -lz -lpthread

# -DELFIMG_FUZZING: the fuzz build ignores header/index CRC mismatches so
# that mutations reach the checks behind them (never in a real build).

# The reader must build with the EFI flags (no <efi.h>, no FPU, PIC).
.PHONY: elfimg-efi-check
all: elfimg-efi-check
elfimg-efi-check: $(patsubst %.c,$(B)/efi-check/%.o,$(ELFIMG_READ_SRCS))
$(B)/efi-check/%.o: %.c $(ELFIMG_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -c $< -o $@

# The chunk decode paths under OVMF (QEMU's TCG), one CPU:
# tests/bench/decode-efi.sh (not part of make bench: needs QEMU and OVMF)
DECODE_EFI_OBJS := $(patsubst %.c,$(B)/efi-obj/%.o,tests/bench/decode-efi.c \
	$(ELFIMG_READ_SRCS) elfimg/lz4enc.c $(wildcard efi/libc/*.c))
# (linked in the top Makefile, after efi/libs.mk has named EFI_LIBS)
