# SPDX-License-Identifier: MIT
# Host tools: kjsave (the saver, runs in kernel B) and kjimage (inspector).
# They link Debian's libfdt and zlib. `make tools-static` builds static
# copies for B's busybox initramfs in $(B)/tools-static/.

TOOLS_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. -pthread
TOOLS_LIBS   := -lfdt -lz
TOOLS_COMMON := tools/common.c tools/spans.c $(ELFIMG_READ_SRCS)
TOOLS_HDRS   := tools/common.h tools/spans.h $(ELFIMG_HDRS)

TOOLS := $(B)/tools/kjsave $(B)/tools/kjimage
TOOLS_STATIC := $(B)/tools-static/kjsave $(B)/tools-static/kjimage

all: $(TOOLS)

.PHONY: tools tools-static
tools: $(TOOLS)
tools-static: $(TOOLS_STATIC)

$(B)/tools/kjsave $(B)/tools-static/kjsave: tools/kjsave.c $(ELFIMG_WRITE_SRCS) \
	tools/freepages.c tools/freepages.h $(TOOLS_COMMON) $(TOOLS_HDRS)
$(B)/tools/kjimage $(B)/tools-static/kjimage: tools/kjimage.c \
	$(TOOLS_COMMON) $(TOOLS_HDRS)

# real memory for tests/bench/decode-efi.sh (not run by make bench: needs an
# image); built by make all so that it cannot rot unseen
all: $(B)/bench/image-sample
$(B)/bench/image-sample: tests/bench/image-sample.c $(TOOLS_COMMON) $(TOOLS_HDRS)
	@mkdir -p $(dir $@)
	$(HOST_CC) $(TOOLS_CFLAGS) $(filter %.c,$^) -o $@ $(TOOLS_LIBS)

$(B)/tools/%:
	@mkdir -p $(dir $@)
	$(HOST_CC) $(TOOLS_CFLAGS) $(filter %.c,$^) -o $@ $(TOOLS_LIBS)

$(B)/tools-static/%:
	@mkdir -p $(dir $@)
	$(HOST_CC) $(TOOLS_CFLAGS) -static $(filter %.c,$^) -o $@ $(TOOLS_LIBS)

# End-to-end check of the tools on a synthetic core (no kernel, no QEMU)
UNIT_TESTS += $(B)/tests/test-elfimg-tools
$(B)/tests/test-elfimg-tools: tests/unit/test-elfimg-tools.c $(TOOLS)
LDLIBS_test-elfimg-tools :=
$(B)/tests/test-elfimg-tools: HOST_CFLAGS += \
	-DKJ_TOOLS_DIR='"$(B)/tools"'

# Free-page filtering on a synthetic kernel A, and kjsave end to end
UNIT_TESTS += $(B)/tests/test-freepages
$(B)/tests/test-freepages: tests/unit/test-freepages.c tools/freepages.c tools/spans.c \
	tools/freepages.h tools/spans.h $(TOOLS)
LDLIBS_test-freepages :=
$(B)/tests/test-freepages: HOST_CFLAGS += \
	-DKJ_TOOLS_DIR='"$(B)/tools"'
