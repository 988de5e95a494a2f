#!/usr/bin/env bash
# Builds the project's guest kernel from Debian's linux-source package and
# uvm/guest/kernel/lcow.config (and the patches beside it), once per
# machine: the result is kept in a host cache keyed by the configuration,
# the patches, this script and the source package's version, so a fresh clone pays the build (about 4 minutes on
# 2 cores) only where no earlier clone did.
#   OUT_DIR/kernel          vmlinux, uncompressed, booted through PVH
#   OUT_DIR/kernel.release  its release string (what uname -r says)
#   OUT_DIR/kernel.cmdline  its built-in command line, which the guest's
#                           /proc/cmdline shows before the shim's
# usage: build-kernel.sh OUT_DIR
# env: LCOW_KERNEL_CACHE (default /var/cache/containerd-shim-lcow-v2/kernel)
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
config="$here/lcow.config"
source_pkg=linux-source-6.1
cache_root=${LCOW_KERNEL_CACHE:-/var/cache/containerd-shim-lcow-v2/kernel}

version=$(dpkg-query -W -f='${Version}' "$source_pkg" 2>/dev/null) ||
  { echo "kernel: $source_pkg is not installed (make deps)" >&2; exit 1; }
key=$( { echo "$source_pkg $version"; cat "$config" "$0" "$here"/*.patch; } | sha256sum | cut -c1-16)
entry="$cache_root/$key"
mkdir -p "$cache_root"

# One build per key at a time; a second caller waits, then copies.
exec 9>"$cache_root/.lock-$key"
flock 9
if [ ! -e "$entry/vmlinux" ]; then
  work=$(mktemp -d "$cache_root/.build-$key.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "kernel: building $source_pkg $version with lcow.config (key $key)"
  start=$(date +%s)
  tar -xf /usr/src/"$source_pkg".tar.xz -C "$work"
  src="$work/$source_pkg"
  # The project's own changes to the source (each file says why).
  for p in "$here"/*.patch; do patch -s -p1 -d "$src" <"$p"; done
  KCONFIG_ALLCONFIG="$config" make -s --no-print-directory -C "$src" allnoconfig
  # A symbol whose dependencies are missing is dropped silently: fail.
  bad=0
  while IFS= read -r line; do
    sym=${line%%=*} value=${line#*=}
    if [ "$value" = n ]; then
      if grep -q "^$sym=" "$src/.config"; then
        echo "kernel: $sym should be off: $(grep "^$sym=" "$src/.config")" >&2
        bad=1
      fi
    elif ! grep -qxF "$line" "$src/.config"; then
      echo "kernel: $line did not come out (its dependencies?)" >&2
      bad=1
    fi
  done < <(grep -E '^CONFIG_' "$config")
  [ "$bad" = 0 ] || exit 1
  make -s --no-print-directory -C "$src" -j"$(nproc)" vmlinux
  mkdir -p "$work/entry"
  # Symbols stay (kallsyms is built in); the ELF's symbol table is not
  # needed to boot.
  strip --strip-unneeded -o "$work/entry/vmlinux" "$src/vmlinux"
  make -s --no-print-directory -C "$src" kernelrelease > "$work/entry/kernel.release"
  cp "$src/.config" "$work/entry/config"
  sed -n 's/^CONFIG_CMDLINE="\(.*\)"$/\1/p' "$src/.config" > "$work/entry/kernel.cmdline"
  # The shim gives a kernel without ACPI a VM without (uvm.h).
  if grep -qx 'CONFIG_ACPI=y' "$src/.config"; then echo on; else echo off; fi \
    > "$work/entry/kernel.acpi"
  echo "kernel: built in $(($(date +%s) - start)) s"
  rm -rf "$entry"
  mv "$work/entry" "$entry"
fi
mkdir -p "$out"
cp "$entry/vmlinux" "$out/kernel.tmp" && mv "$out/kernel.tmp" "$out/kernel"
cp "$entry/kernel.release" "$entry/kernel.cmdline" "$entry/kernel.acpi" "$out/"
