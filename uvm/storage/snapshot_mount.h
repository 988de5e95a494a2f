/* containerd's snapshot mounts, mounted on a directory (the bundle's rootfs,
   as runc's shim mounts them) for a root filesystem that is not a plain
   overlay of directories (see rootfs_layers.h).  */
#ifndef LCOW_UVM_SNAPSHOT_MOUNT_H
#define LCOW_UVM_SNAPSHOT_MOUNT_H

#include <stddef.h>

#include "proto/base/error.h"
#include "rootfs_layers.h"

int snapshot_mount (const char *dir, const struct rootfs_mount *mounts,
                    size_t nmounts, shim_error **err);
void snapshot_unmount (const char *dir);

#endif
