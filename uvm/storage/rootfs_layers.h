/* What a container's root filesystem is made of, from the mounts containerd
   passes to Create: the read-only layers the VM gets as disks, top first.
   Pure.
   - An overlay (containerd's overlayfs snapshotter, and its EROFS
     snapshotter up to 2.1): each lowerdir entry is a committed snapshot,
     immutable, cached by the host (layer_cache.h); the upperdir is the
     container's own writable snapshot, converted (not cached) only when it
     is not empty.
   - containerd 2.2+'s list (the EROFS snapshotter through the mount
     manager): "erofs" mounts of layer images, then one "overlay" whose type
     may carry the manager's steps ("format/", "mkdir/") and whose lowerdir
     names them by template: "{{ mount N }}" (mount N's mount point) or
     "{{ overlay A B }}" (mounts A to B, in that order, A > B counting down).
     Such layers are images already: attached as they are.
   - One "erofs" mount (a one-layer read-only view): the image, as it is.
   - A bind mount: its source, converted as one layer, not cached.
   - No mount (ctr run --rootfs DIR): the spec's root directory, the same.
   - Any other kernel filesystem: mounted on the bundle's rootfs directory
     first (as runc's shim mounts it), then converted as one layer, not
     cached.  A type with a mount manager's step the list above does not
     have ("mkfs/ext4": a writable layer as a disk image) is refused.
   The guest stacks the layers with overlayfs under a writable tmpfs.  */
#ifndef LCOW_UVM_ROOTFS_LAYERS_H
#define LCOW_UVM_ROOTFS_LAYERS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/base/error.h"

/* overlayfs takes more, but every layer is a disk of the VM.  */
#define ROOTFS_LAYERS_MAX 128

struct rootfs_mount
{
  const char *type;
  const char *source;
  char **options;
  size_t noptions;
};

struct rootfs_layer
{
  char *dir; /* a directory, or with image an EROFS image file */
  bool cached;
  bool skip_if_empty; /* an overlay's upperdir */
  bool image;         /* containerd's EROFS image: attached as it is */
};

struct rootfs_plan
{
  struct rootfs_layer *layers; /* top first */
  size_t nlayers;
  /* Mount the mounts on rootfs_dir before converting it.  */
  bool mount_first;
};

/* InvalidArgument naming everything wrong: an overlay without lowerdir, a
   relative layer path, a template naming no erofs mount, a type not
   understood, more than ROOTFS_LAYERS_MAX layers.  */
int rootfs_layers_plan (const struct rootfs_mount *mounts, size_t nmounts,
                        const char *rootfs_dir, struct rootfs_plan *out,
                        shim_error **err);
void rootfs_plan_release (struct rootfs_plan *p);

#endif
