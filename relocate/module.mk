# SPDX-License-Identifier: MIT
# relocate: conflict-free relocation planner (pure) and copy-and-jump stub.

RELOC_SRCS := relocate/plan.c relocate/stub.S
RELOC_HDRS := relocate/plan.h

EFI_SRCS += $(RELOC_SRCS)

UNIT_TESTS += $(B)/tests/test-relocate
$(B)/tests/test-relocate: tests/unit/test-relocate.c $(RELOC_SRCS) \
	$(RELOC_HDRS) $(TEST_MAIN) tests/unit/test.h | reloc-stub-check
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) $(filter %.c %.S,$^) -o $@ $(HOST_LDFLAGS)

FUZZ_TARGETS += $(B)/fuzz/fuzz-plan
$(B)/fuzz/fuzz-plan: tests/fuzz/fuzz-plan.c relocate/plan.c $(RELOC_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@

BENCH_TARGETS += $(B)/bench/bench-plan
$(B)/bench/bench-plan: tests/bench/bench-plan.c $(RELOC_SRCS) $(RELOC_HDRS)
	@mkdir -p $(dir $@)
	$(HOST_CC) $(BENCH_CFLAGS) $(filter %.c %.S,$^) -o $@

# The stub runs at a copy in a control page: no absolute relocations.
.PHONY: reloc-stub-check
all: reloc-stub-check
reloc-stub-check: $(B)/reloc-check/stub.o
	@bad=$$(objdump -r -j .text $< | grep -E 'R_X86_64_(64|32|32S)[[:space:]]'); \
	if [ -n "$$bad" ]; then echo "absolute relocations in $<:"; \
		echo "$$bad"; exit 1; fi; \
	echo "reloc-stub-check: no absolute relocations in $<"
$(B)/reloc-check/stub.o: relocate/stub.S
	@mkdir -p $(dir $@)
	$(CC) $(EFI_CFLAGS) -c $< -o $@

# The stub for real, under OVMF (QEMU TCG, -cpu max): LA57 switches both
# ways, CPU state at A's entry, checksum halt, 'L' guard. Not part of
# check-unit (needs qemu-system-x86_64 and OVMF; about a minute).
RELOC_ST_OBJS := $(B)/efi-obj/relocate/selftest/efi.o \
	$(B)/efi-obj/relocate/selftest/entry.o \
	$(B)/efi-obj/relocate/plan.o $(B)/efi-obj/relocate/stub.o
$(B)/reloc-selftest.so: $(RELOC_ST_OBJS) linker.ld
	ld $(filter-out -Map=%,$(EFI_LDFLAGS)) $(RELOC_ST_OBJS) -o $@ -lefi -lgnuefi
# $(B)/reloc-selftest.efi: the top Makefile's %.efi rule
.PHONY: reloc-qemu-selftest
reloc-qemu-selftest: $(B)/reloc-selftest.efi reloc-stub-check
	relocate/selftest/run.sh $(B)/reloc-selftest.efi $(B)/reloc-selftest
