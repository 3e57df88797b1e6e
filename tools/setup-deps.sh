#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages kjresume needs to build and test.
# Idempotent: asks apt only when something is missing.
set -euo pipefail

pkgs=(
	# build
	build-essential clang lld gnu-efi libfdt-dev zlib1g-dev
	# kernels (kernel/build.sh)
	linux-source-6.1 linux-source-6.12 bc bison flex libelf-dev libssl-dev
	cpio xz-utils
	# end-to-end tests
	qemu-system-x86 ovmf kexec-tools busybox-static mtools dosfstools
	gdisk e2fsprogs
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all ${#pkgs[@]} required Debian packages are installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
