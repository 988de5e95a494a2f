/* What a container's root filesystem is made of, from the mounts containerd
   passes to Create: the read-only layers the VM gets as disks, top first.
   Pure.
   - An overlay (containerd's overlayfs snapshotter): each lowerdir entry is
     a committed snapshot, immutable, cached by the host (layer_cache.h);
     the upperdir is the container's own writable snapshot, converted (not
     cached) only when it is not empty.
   - A bind mount: its source, converted as one layer, not cached.
   - No mount (ctr run --rootfs DIR): the spec's root directory, the same.
   - Anything else: mounted on the bundle's rootfs directory first (as
     runc's shim mounts it), then converted as one layer, not cached.
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
  char *dir;
  bool cached;
  bool skip_if_empty; /* an overlay's upperdir */
};

struct rootfs_plan
{
  struct rootfs_layer *layers; /* top first */
  size_t nlayers;
  /* Mount the mounts on rootfs_dir before converting it.  */
  bool mount_first;
};

/* InvalidArgument naming what is wrong: an overlay without lowerdir, a
   relative layer path, more than ROOTFS_LAYERS_MAX layers.  */
int rootfs_layers_plan (const struct rootfs_mount *mounts, size_t nmounts,
                        const char *rootfs_dir, struct rootfs_plan *out,
                        shim_error **err);
void rootfs_plan_release (struct rootfs_plan *p);

#endif
