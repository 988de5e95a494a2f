/* A container's root filesystem as a disk image for the UVM: the snapshot
   mounts containerd passes are mounted on <bundle>/rootfs (as runc's shim
   does), the tree is copied into a fresh ext4 image by mkfs.ext4 -d (run
   asynchronously), and the mounts are undone.  The image is what the UVM
   gets, read-only, instead of a directory share.  */
#ifndef LCOW_UVM_ROOTFS_IMAGE_H
#define LCOW_UVM_ROOTFS_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

struct rootfs_mount
{
  const char *type;
  const char *source;
  char **options;
  size_t noptions;
};

struct rootfs_image_job;

typedef void (*rootfs_image_done_fn) (void *data, const shim_error *err);

/* Image bytes for a tree holding `bytes` of data in `entries` inodes.
   Pure.  */
uint64_t rootfs_image_size (uint64_t bytes, uint64_t entries);

/* Mounts the snapshot (if any) on `dir`, then builds `image` from `dir`.
   done is called once, unless the job is cancelled first.  */
int rootfs_image_build (uv_loop_t *loop, const char *dir,
                        const struct rootfs_mount *mounts, size_t nmounts,
                        const char *image, rootfs_image_done_fn done,
                        void *data, struct rootfs_image_job **out,
                        shim_error **err);
/* Stops a running build without calling back; undoes its mounts.  */
void rootfs_image_cancel (struct rootfs_image_job *job);

#endif
