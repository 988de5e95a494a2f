#!/usr/bin/env bash
# Builds the UVM boot files from the static guest programs and a kernel:
#   own     the project's kernel (kernel/build-kernel.sh): everything built
#           in, an uncompressed vmlinux booted through PVH
#   debian  Debian's cloud kernel package (downloaded and unpacked, never
#           installed), with the modules the guest needs
# Files:
#   kernel       the kernel image
#   initrd.img   cpio rootfs: /init, /bin/vsockexec, /bin/gcs (and, for
#                Debian's kernel, its virtio, SCSI, overlay, EROFS, virtio-net
#                and virtio-fs modules)
#   rootfs.vhd   the same tree as an ext4 image in a fixed VHD (read-only
#                /dev/sda)
#   loader.img   Debian's kernel only: a small initramfs for the rootfs.vhd
#                boot (that kernel builds virtio-mmio and virtio-scsi as
#                modules, so something must load them before root=/dev/sda
#                can be mounted)
# usage: build-bootfiles.sh OUT_DIR GUEST_BIN_DIR CACHE_DIR own|debian
set -euo pipefail
out=$1 guest=$2 cache=$3 kind=$4
kernel_pkg_meta=linux-image-cloud-amd64

mkdir -p "$out" "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Debian's kernel: the package unpacked under $work/pkg, its image copied.
debian_kernel() {
  resolve_pkg() {
    apt-cache depends "$kernel_pkg_meta" 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
  }
  pkg=$(resolve_pkg)
  if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(resolve_pkg)
  fi
  [ -n "$pkg" ] || { echo "bootfiles: cannot resolve $kernel_pkg_meta" >&2; exit 1; }
  debs=("$cache"/"${pkg}"_*.deb)
  deb=${debs[0]}
  [ -e "$deb" ] || deb=""
  if [ -z "$deb" ]; then
    echo "bootfiles: downloading $pkg"
    (cd "$cache" && apt-get download -qq "$pkg")
    debs=("$cache"/"${pkg}"_*.deb)
    deb=${debs[0]}
  fi
  dpkg-deb -x "$deb" "$work/pkg"
  kver=${pkg#linux-image-}
  moddir="$work/pkg/lib/modules/$kver/kernel"

  # Module load order: dependencies first (the package ships no modules.dep
  # we could use without depmod).
  virtio_mods=(drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
    drivers/virtio/virtio_mmio.ko)
  console_mods=(drivers/char/virtio_console.ko)
  scsi_mods=(drivers/scsi/scsi_common.ko drivers/scsi/scsi_mod.ko
    drivers/scsi/virtio_scsi.ko drivers/scsi/sd_mod.ko)
  # Container root filesystems: EROFS layer images stacked with overlayfs.
  overlay_mods=(fs/overlayfs/overlay.ko lib/libcrc32c.ko fs/erofs/erofs.ko)
  # The pod's NIC (virtio-net on virtio-mmio).
  net_mods=(net/core/failover.ko drivers/net/net_failover.ko
    drivers/net/virtio_net.ko)
  # The host's directory share (virtio-fs, a FUSE transport).
  share_mods=(fs/fuse/fuse.ko fs/fuse/virtiofs.ko)
  guest_mods=("${virtio_mods[@]}" "${console_mods[@]}" "${scsi_mods[@]}"
    "${overlay_mods[@]}" "${net_mods[@]}" "${share_mods[@]}")
  loader_mods=("${virtio_mods[@]}" "${scsi_mods[@]}")
  cp "$work/pkg/boot/vmlinuz-$kver" "$out/kernel.tmp" && mv "$out/kernel.tmp" "$out/kernel"
  echo "$kver" > "$out/kernel.release"
  rm -f "$out/kernel.cmdline" "$out/kernel.acpi"
}

# stage DIR MODULES... : the guest tree with the given modules
stage() {
  local dir=$1; shift
  mkdir -p "$dir"/{bin,sbin,lib/modules,proc,sys,dev,run,tmp,etc,var,newroot}
  install -m 0755 "$guest/init" "$dir/init"
  : > "$dir/lib/modules/lcow.order"
  for m in "$@"; do
    local src="$moddir/$m"
    if [ -e "$src.xz" ]; then xz -dc "$src.xz" > "$dir/lib/modules/$(basename "$m")"
    elif [ -e "$src.zst" ]; then zstd -qdc "$src.zst" > "$dir/lib/modules/$(basename "$m")"
    else cp "$src" "$dir/lib/modules/"
    fi
    basename "$m" >> "$dir/lib/modules/lcow.order"
  done
  echo "lcow-uvm" > "$dir/etc/hostname"
}
cpio_of() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$2"; }

guest_mods=() loader_mods=()
case $kind in
  own) "$(dirname "$0")"/kernel/build-kernel.sh "$out"
       rm -f "$out/loader.img" ;;
  debian) debian_kernel ;;
  *) echo "bootfiles: kernel kind must be own or debian, not '$kind'" >&2; exit 1 ;;
esac

stage "$work/initrd" "${guest_mods[@]}"
install -m 0755 "$guest/vsockexec" "$guest/gcs" "$work/initrd/bin/"
cpio_of "$work/initrd" "$out/initrd.img.tmp" && mv "$out/initrd.img.tmp" "$out/initrd.img"

if [ ${#loader_mods[@]} -gt 0 ]; then
  stage "$work/loader" "${loader_mods[@]}"
  cpio_of "$work/loader" "$out/loader.img.tmp" && mv "$out/loader.img.tmp" "$out/loader.img"
fi

stage "$work/rootfs" "${guest_mods[@]}"
install -m 0755 "$guest/vsockexec" "$guest/gcs" "$work/rootfs/bin/"
mkfs.ext4 -q -F -L lcow-rootfs -E root_owner=0:0 -d "$work/rootfs" "$work/rootfs.ext4" 32M
# Fixed: the raw disk then a footer, which QEMU opens as raw (a sandbox on
# a dynamic VHD cannot migrate: QEMU's vpc driver blocks it).
qemu-img convert -f raw -O vpc -o subformat=fixed "$work/rootfs.ext4" "$out/rootfs.vhd.tmp"
mv "$out/rootfs.vhd.tmp" "$out/rootfs.vhd"
ls -l "$out"
