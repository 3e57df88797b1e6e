# SPDX-License-Identifier: MIT
# loader/: efi_main's resume flow (in EFI_SRCS via the Makefile) and its
# pure helpers, which the host tests below cover.

LOADER_PURE := loader/options.c loader/memmap.c loader/fmt.c
LOADER_HDRS := loader/loader.h loader/fmt.h

UNIT_TESTS += $(B)/tests/test-loader
$(B)/tests/test-loader: tests/unit/test-loader.c $(LOADER_PURE) $(LOADER_HDRS) \
	$(ELFIMG_READ_SRCS) $(ELFIMG_WRITE_SRCS) $(ELFIMG_HDRS)
LDLIBS_test-loader := -lfdt -lz
