/* A container's root filesystem for the guest: the layers of its plan
   (rootfs_layers.h) claimed from the sandbox's layer set, their SCSI
   targets handed over once every one is attached.  */
#ifndef LCOW_UVM_CONTAINER_ROOTFS_H
#define LCOW_UVM_CONTAINER_ROOTFS_H

#include <stddef.h>
#include <stdint.h>

#include "layer_set.h"
#include "uvm/storage/rootfs_layers.h"

struct container_rootfs;

/* The layers' targets, top first, or why not.  */
typedef void (*container_rootfs_fn) (void *data, const uint32_t *targets,
                                     size_t n, const shim_error *err);

/* Mounts the snapshot first when it is not an overlay of directories,
   leaves out an empty upper layer, claims the layers.  ready is called
   once unless *out is released first: later, or before this returns (*out
   is set by then) when the VM has every layer already.  */
int container_rootfs_prepare (struct layer_set *s,
                              const struct rootfs_mount *mounts,
                              size_t nmounts, const char *rootfs_dir,
                              container_rootfs_fn ready, void *data,
                              struct container_rootfs **out, shim_error **err);
/* Lets go of the layers (and the snapshot mount); frees r.  */
void container_rootfs_release (struct container_rootfs *r);

#endif
