# SPDX-License-Identifier: MIT
# efi/: the only code that touches UEFI. Linked into kjresume.efi only.

EFI_SRCS += $(wildcard efi/*.c)

-include efi/libs.mk
