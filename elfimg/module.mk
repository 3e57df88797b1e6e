# SPDX-License-Identifier: MIT
# elfimg: the image format's reader (pure, EFI-clean) and writer (host).
#
# The reader (read.c, chunk.c) is not in EFI_SRCS yet: it needs the EFI
# builds of libfdt and zlib first. elfimg-efi-check compiles it with the
# EFI flags so that it stays EFI-clean meanwhile.

ELFIMG_READ_SRCS  := elfimg/read.c elfimg/chunk.c elfimg/xxh64.c
ELFIMG_WRITE_SRCS := elfimg/write.c
ELFIMG_HDRS       := elfimg/elfimg.h elfimg/format.h elfimg/compat.h \
		     elfimg/write.h

UNIT_TESTS += $(B)/tests/test-elfimg
$(B)/tests/test-elfimg: tests/unit/test-elfimg.c $(ELFIMG_READ_SRCS) \
	$(ELFIMG_WRITE_SRCS) $(ELFIMG_HDRS)
LDLIBS_test-elfimg := -lfdt -lz

FUZZ_TARGETS += $(B)/fuzz/fuzz-elfimg
$(B)/fuzz/fuzz-elfimg: tests/fuzz/fuzz-elfimg.c $(ELFIMG_READ_SRCS) $(ELFIMG_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -DELFIMG_FUZZING $(filter %.c,$^) -o $@ -lfdt -lz

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
