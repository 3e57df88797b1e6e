# SPDX-License-Identifier: MIT
# kjresume top-level build.
#
#   make demo         set up everything, then the hibernate/resume demo in QEMU
#   make check        set up everything, then every test (what CI runs)
#   make check-unit   host unit and property tests only (no QEMU, no kernel)
#
# Each module adds itself through its module.mk:
#   UNIT_TESTS   host test binaries (print "N passed, N failed")
#   FUZZ_TARGETS libFuzzer binaries (built with clang)
#   EFI_SRCS     sources linked into kjresume.efi
#   BENCH_TARGETS host benchmarks

B        ?= build
VERSION  := $(shell cat VERSION)
HOST_CC  ?= gcc
CLANG    ?= clang

HOST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
HOST_LDFLAGS := -fsanitize=address,undefined
BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. -march=x86-64-v2
FUZZ_CFLAGS := -std=gnu11 -O1 -g -I. -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all

# GNU-EFI, Debian 12 (gnu-efi 3.0.15). efi_main is called by gnu-efi's
# crt0 with the SysV ABI: it must not be declared EFIAPI.
EFI_INC     := /usr/include/efi
EFI_LIBDIR  := /usr/lib
EFI_CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. \
	-I$(EFI_INC) -I$(EFI_INC)/x86_64 \
	-ffreestanding -fno-stack-protector -fno-stack-check -fpic \
	-fshort-wchar -mno-red-zone -maccumulate-outgoing-args \
	-mgeneral-regs-only -fno-strict-aliasing -DGNU_EFI_USE_MS_ABI \
	-DKJ_VERSION_W='L"$(VERSION)"' -DKJ_VERSION='"$(VERSION)"'
EFI_LDFLAGS := -nostdlib -znocombreloc -shared -Bsymbolic --no-undefined \
	-T linker.ld -L$(EFI_LIBDIR) $(EFI_LIBDIR)/crt0-efi-x86_64.o

.DEFAULT_GOAL := all

UNIT_TESTS    :=
FUZZ_TARGETS  :=
BENCH_TARGETS :=
EFI_SRCS      := $(wildcard loader/*.c)

TEST_MAIN := tests/unit/test.c

-include elfimg/module.mk relocate/module.mk loader/module.mk efi/module.mk tools/module.mk

EFI_OBJS := $(patsubst %.c,$(B)/efi-obj/%.o,$(filter %.c,$(EFI_SRCS))) \
	    $(patsubst %.S,$(B)/efi-obj/%.o,$(filter %.S,$(EFI_SRCS)))

.PHONY: all efi deps kernels check check-full check-unit check-relocs \
	fuzz-smoke bench demo clean

# the benchmarks are built (not run) too, so that none rots unseen
all: efi $(UNIT_TESTS) $(BENCH_TARGETS)

efi: $(B)/kjresume.efi

# -MMD: an object is rebuilt when a header it includes changes (a stale
# struct layout in one object is a loader that misreads the image)
$(B)/efi-obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -MMD -MP -c $< -o $@

$(B)/efi-obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -MMD -MP -c $< -o $@

-include $(EFI_OBJS:.o=.d)

# EFI_LIBS: zlib and libfdt built with the EFI flags (efi/libs.mk). Rules
# that name them as prerequisites come after the modules: make expands a
# prerequisite list where it reads it.
$(B)/kjresume.so: $(EFI_OBJS) $(EFI_LIBS) linker.ld
	ld $(EFI_LDFLAGS) $(EFI_OBJS) $(EFI_LIBS) -o $@ -lgnuefi

# the chunk decode micro-benchmark (elfimg/module.mk); built by make all
# so that a change to what it calls cannot leave it broken unseen
all: $(B)/decode-efi.efi
$(B)/decode-efi.so: $(DECODE_EFI_OBJS) $(EFI_LIBS) linker.ld
	ld $(filter-out -Map=%,$(EFI_LDFLAGS)) $(DECODE_EFI_OBJS) $(EFI_LIBS) -o $@ -lgnuefi

$(B)/%.efi: $(B)/%.so
	objcopy -D -j .text -j .sdata -j .data -j .dynamic -j .dynsym \
		-j .rel -j .rela -j '.rel.*' -j '.rela.*' -j .reloc \
		--target efi-app-x86_64 --subsystem=10 $< $@

# Firmware loads the PE anywhere: only base-relative relocations may remain.
check-relocs: $(B)/kjresume.so
	@bad=$$(readelf -rW $< | awk '/R_X86_64_/ && $$3 != "R_X86_64_RELATIVE"'); \
	if [ -n "$$bad" ]; then echo "non-relative relocations in $<:"; \
		echo "$$bad"; exit 1; fi; \
	echo "check-relocs: only R_X86_64_RELATIVE in $<"

$(B)/tests/%: $(TEST_MAIN) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) $(filter %.c,$^) -o $@ $(HOST_LDFLAGS) $(LDLIBS_$*)

deps:
	tools/setup-deps.sh

check-unit: $(UNIT_TESTS)
	tests/run.sh unit $(UNIT_TESTS)

fuzz-smoke: $(FUZZ_TARGETS)
	tests/run.sh fuzz $(FUZZ_TARGETS)

bench: $(BENCH_TARGETS)
	@for b in $(BENCH_TARGETS); do echo "== $$b"; $$b || exit 1; done

kernels:
	kernel/build.sh 6.1 >/dev/null
	kernel/build.sh 6.12 >/dev/null

check: deps
	$(MAKE) all $(FUZZ_TARGETS)
	tests/run.sh all

# every QEMU combination (hours under TCG); not run by CI
check-full: deps
	$(MAKE) all $(FUZZ_TARGETS)
	tests/run.sh full

demo: deps
	$(MAKE) efi
	tests/qemu/demo.sh

clean:
	rm -rf $(B)

# tests/run.sh asks for the lists: make -s print-UNIT_TESTS
print-%:
	@echo $($*)
