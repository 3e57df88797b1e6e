# SPDX-License-Identifier: MIT
# efi/libs.mk: the libraries linked into kjresume.efi besides gnu-efi.
#
#   zlib and libfdt, compiled from Debian's sources with the EFI flags into
#   $(B)/efi-libs/libz-efi.a and libfdt-efi.a. tools/setup-deps.sh unpacks
#   the sources into $(KJ_CACHE)/src/zlib and $(KJ_CACHE)/src/dtc (and is
#   run from here when they are missing; src/dtc/SOURCE, if present, says
#   where a libfdt tree came from). Debian's host-built libz.a and
#   libfdt.a never go into the .efi: check-efi-libs proves it from the
#   link map. Host tests keep linking the host libraries (-lfdt -lz).
#
#   efi/libc/: the freestanding C library subset that libfdt, zlib and our
#   EFI code use. gnu-efi's libefi.a defines memcpy and memset too, as
#   byte loops, in the object InitializeLib lives in: the link uses a copy
#   of it with those two weakened ($(B)/efi-libs/libefi-weak.a), so that
#   efi/libc's (32-byte loops: they copy every restored page) win.
#
# Every EFI object (loader/, efi/, elfimg/ in EFI_SRCS) is compiled with
# -nostdinc: <string.h>, <stdlib.h> and <limits.h> are efi/libc/include's,
# <stddef.h>, <stdint.h>, <stdbool.h>, <stdarg.h> GCC's own, <libfdt.h>
# and <zlib.h> (with Z_SOLO: no gz*, no zcalloc) the source packages', and
# nothing comes from /usr/include but gnu-efi's <efi.h>.

KJ_CACHE     ?= /var/cache/kjresume
EFI_LIBSRC   := $(KJ_CACHE)/src
ZLIB_SRC     := $(EFI_LIBSRC)/zlib
FDT_SRC      := $(EFI_LIBSRC)/dtc/libfdt
EFI_LIBS_DIR := $(B)/efi-libs
EFI_MAP      := $(B)/kjresume.map
GCC_INC      := $(shell $(CC) -print-file-name=include)

# Only what the reader needs: raw inflate + crc32 (inflate.c also calls
# adler32 for zlib-wrapped streams), and libfdt's read-only side.
ZLIB_EFI_SRCS := inflate.c inftrees.c inffast.c crc32.c adler32.c zutil.c
FDT_EFI_SRCS  := fdt.c fdt_ro.c fdt_check.c fdt_strerror.c

EFI_LIBS_OWN := $(EFI_LIBS_DIR)/libfdt-efi.a $(EFI_LIBS_DIR)/libz-efi.a
EFI_LIBEFI   := $(EFI_LIBS_DIR)/libefi-weak.a
EFI_LIBS     := $(EFI_LIBS_OWN) $(EFI_LIBEFI)

$(EFI_LIBEFI): $(EFI_LIBDIR)/libefi.a
	@mkdir -p $(dir $@)
	objcopy --weaken-symbol=memcpy --weaken-symbol=memset $< $@

EFI_CFLAGS += -nostdinc -isystem $(GCC_INC) -Iefi/libc/include \
	-I$(FDT_SRC) -I$(ZLIB_SRC) -DZ_SOLO
EFI_LDFLAGS += -Map=$(EFI_MAP)

EFI_SRCS += $(ELFIMG_READ_SRCS) $(wildcard efi/libc/*.c)

# Our loops must not be turned back into calls to memmove/memcmp/...
$(B)/efi-obj/efi/libc/%.o: EFI_CFLAGS += -fno-tree-loop-distribute-patterns

# Third-party code: the same flags, warnings shown but not fatal.
EFI_LIB_CFLAGS = $(filter-out -Werror,$(EFI_CFLAGS))

# The source files this build reads; when one is missing, fetch them all.
EFI_LIBSRC_FILES := \
	$(addprefix $(ZLIB_SRC)/,$(ZLIB_EFI_SRCS) zlib.h zconf.h) \
	$(addprefix $(FDT_SRC)/,$(FDT_EFI_SRCS) libfdt.h libfdt_env.h fdt.h)
$(EFI_LIBSRC_FILES) &:
	tools/setup-deps.sh

# EFI objects may include <libfdt.h>/<zlib.h>: sources first.
$(patsubst %.c,$(B)/efi-obj/%.o,$(filter %.c,$(EFI_SRCS))) \
$(patsubst %.c,$(B)/efi-check/%.o,$(ELFIMG_READ_SRCS)): | $(EFI_LIBSRC_FILES)

ZLIB_EFI_OBJS := $(patsubst %.c,$(EFI_LIBS_DIR)/zlib/%.o,$(ZLIB_EFI_SRCS))
FDT_EFI_OBJS  := $(patsubst %.c,$(EFI_LIBS_DIR)/libfdt/%.o,$(FDT_EFI_SRCS))

$(ZLIB_EFI_OBJS): $(EFI_LIBS_DIR)/zlib/%.o: $(ZLIB_SRC)/%.c \
		$(ZLIB_SRC)/zlib.h $(ZLIB_SRC)/zconf.h
	@mkdir -p $(dir $@)
	$(CC) $(EFI_LIB_CFLAGS) -c $< -o $@

$(FDT_EFI_OBJS): $(EFI_LIBS_DIR)/libfdt/%.o: $(FDT_SRC)/%.c \
		$(FDT_SRC)/libfdt.h $(FDT_SRC)/libfdt_env.h $(FDT_SRC)/fdt.h
	@mkdir -p $(dir $@)
	$(CC) $(EFI_LIB_CFLAGS) -c $< -o $@

$(EFI_LIBS_DIR)/libz-efi.a: $(ZLIB_EFI_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(EFI_LIBS_DIR)/libfdt-efi.a: $(FDT_EFI_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# kjresume.so must have no undefined symbol, and its link must have read
# only kjresume's EFI objects, the two archives above and gnu-efi: no
# host libz.a/libfdt.a/libc. The zlib and libfdt code in it must come from
# our archives and carry the EFI flags (GCC records them in DWARF).
.PHONY: check-efi-libs
check-efi-libs: $(B)/kjresume.so
	@set -e; so=$<; map=$(EFI_MAP); \
	[ -f "$$map" ] && [ ! "$$map" -ot "$$so" ] || { \
		echo "check-efi-libs: $$map missing or older than $$so"; exit 1; }; \
	und=$$( { nm -u "$$so"; nm -D -u "$$so"; } | sort -u); \
	if [ -n "$$und" ]; then echo "check-efi-libs: undefined symbols in $$so:"; \
		echo "$$und"; exit 1; fi; \
	bad=$$(awk '$$1 == "LOAD" { print $$2 }' "$$map" | \
		grep -v -x -e '$(B)/efi-obj/.*\.o' \
			$(foreach l,$(EFI_LIBS_OWN),-e '$(l)') \
			-e '$(EFI_LIBDIR)/crt0-efi-x86_64.o' \
			-e '$(EFI_LIBEFI)' -e '$(EFI_LIBDIR)/libgnuefi.a' \
		|| true); \
	if [ -n "$$bad" ]; then echo "check-efi-libs: $$so linked from:"; \
		echo "$$bad"; exit 1; fi; \
	for sym in inflateInit2_ inflate inflateReset inflateEnd crc32 \
		fdt_check_header fdt_check_full fdt_getprop fdt_path_offset \
		fdt_node_check_compatible memmove memcmp memcpy memset; do \
		nm "$$so" | grep -q " [Tt] $$sym$$" || { \
			echo "check-efi-libs: $$sym not defined in $$so"; exit 1; }; \
	done; \
	for a in $(EFI_LIBS_OWN); do \
		grep -q "^$$a(" "$$map" || { \
			echo "check-efi-libs: nothing linked from $$a"; exit 1; }; \
	done; \
	cus=$$(readelf --debug-dump=info "$$so" 2>/dev/null | awk ' \
		/DW_TAG_compile_unit/ { if (name != "") print name "\t" prod; name = prod = "" } \
		/DW_AT_producer/ { prod = $$0 } \
		/DW_AT_name/ && name == "" { name = $$NF } \
		END { if (name != "") print name "\t" prod }' | sed 's/$$/ /' | \
		grep -e '^$(ZLIB_SRC)/' -e '^$(FDT_SRC)/' || true); \
	nz=$$(printf '%s\n' "$$cus" | grep -c '^$(ZLIB_SRC)/' || true); \
	nf=$$(printf '%s\n' "$$cus" | grep -c '^$(FDT_SRC)/' || true); \
	noflags=; \
	for f in -mno-red-zone -mgeneral-regs-only -fshort-wchar -ffreestanding -fpic; do \
		noflags="$$noflags$$(printf '%s\n' "$$cus" | grep . | grep -v -e " $$f " || true)"; \
	done; \
	if [ "$$nz" -eq 0 ] || [ "$$nf" -eq 0 ] || [ -n "$$noflags" ]; then \
		echo "check-efi-libs: zlib/libfdt units: $$nz zlib, $$nf libfdt; without the EFI flags:"; \
		echo "$$noflags" | cut -f1; exit 1; fi; \
	echo "check-efi-libs: $$so: no undefined symbols; zlib ($$nz units) and libfdt ($$nf) from $(EFI_LIBS_DIR), built with the EFI flags; no host libraries"
